"""Fetch the Hay et al. 2011 L5PC morphology (cell1.asc, ModelDB 139653) and verify its SHA-256.

    python tools/download_morphology.py                   # into L5PC_NEURON_simulation/morphologies/
    python tools/download_morphology.py --from-file PATH  # copy a local copy instead (checked the same way)

The file is third-party data and is never committed. Sources tried in order: ModelDB's GitHub mirror of
model 139653, then ModelDB's own archive of the model (a zip, from which cell1.asc is extracted).
"""

import argparse
import io
import os
import sys
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from neuron_as_deep_net.l5pc.cell import DEFAULT_MORPHOLOGY, MORPHOLOGY_SHA256  # noqa: E402
from neuron_as_deep_net.core.files import atomic_write  # noqa: E402

SOURCES = [
    ("raw", "https://raw.githubusercontent.com/ModelDBRepository/139653/master/L5bPCmodelsEH/morphologies/cell1.asc"),
    ("zip", "https://modeldb.science/download/139653"),
]
ZIP_MEMBER_SUFFIX = "morphologies/cell1.asc"


def sha256_bytes(data):
    """Hex SHA-256 of bytes."""
    import hashlib

    return hashlib.sha256(data).hexdigest()


def fetch(kind, url, timeout=60):
    """The bytes of cell1.asc from one source."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        payload = response.read()
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            member = next(name for name in archive.namelist() if name.endswith(ZIP_MEMBER_SUFFIX))
            payload = archive.read(member)
    return payload


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--destination", default=DEFAULT_MORPHOLOGY, help="where to write cell1.asc")
    parser.add_argument("--from-file", default=None, help="copy this local file instead of downloading")
    args = parser.parse_args(argv)

    if args.from_file:
        with open(args.from_file, "rb") as handle:
            candidates = [("local file", handle.read())]
    else:
        candidates = []
        for kind, url in SOURCES:
            try:
                print(f"downloading {url} ...")
                candidates.append((url, fetch(kind, url)))
                if sha256_bytes(candidates[-1][1]) == MORPHOLOGY_SHA256:
                    break
            except Exception as error:  # network errors, missing member: try the next source
                print(f"  failed: {error}")
    for source, payload in candidates:
        digest = sha256_bytes(payload)
        if digest == MORPHOLOGY_SHA256:
            with atomic_write(args.destination) as handle:
                handle.write(payload)
            print(f"wrote {args.destination} (SHA-256 verified, from {source})")
            return 0
        print(f"  {source}: SHA-256 {digest} does not match {MORPHOLOGY_SHA256}")
    print("could not obtain a verified cell1.asc; download ModelDB model 139653 by hand and run "
          "`python tools/download_morphology.py --from-file PATH/TO/cell1.asc`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
