"""Fetch the Hay et al. 2011 L5PC morphology (cell1.asc, ModelDB 139653) and verify its SHA-256.

    python tools/download_morphology.py                   # into L5PC_NEURON_simulation/morphologies/
    python tools/download_morphology.py --from-file PATH  # copy a local copy instead (checked the same way)

The file is third-party data and is never committed. Sources, tried in order, each with a timeout:
  1. ModelDB's GitHub mirror of model 139653 (``morphologies/cell1.asc`` of ModelDBRepository/139653, branch master),
  2. ModelDB's own archive of the model (a zip, from which ``.../morphologies/cell1.asc`` is extracted).
The checksum is taken over the text with line endings normalised (CRLF -> LF), so the mirror's LF copy and the
archive's CRLF copy are both accepted; the file is stored exactly as it came. ``--source KIND=URL`` (repeatable,
KIND ``raw`` or ``zip``; ``file://`` URLs work) replaces the list, e.g. for a local mirror.
"""

import argparse
import io
import os
import sys
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from neuron_as_deep_net.core.files import atomic_write  # noqa: E402
from neuron_as_deep_net.l5pc.cell import DEFAULT_MORPHOLOGY, MORPHOLOGY_SHA256, text_sha256  # noqa: E402

SOURCES = [
    ("raw", "https://raw.githubusercontent.com/ModelDBRepository/139653/master/morphologies/cell1.asc"),
    ("zip", "https://modeldb.science/download/139653"),
]
SOURCE_KINDS = ("raw", "zip")
ZIP_MEMBER_SUFFIX = "morphologies/cell1.asc"
TIMEOUT_S = 60


def fetch(kind, url, timeout=TIMEOUT_S):
    """The bytes of cell1.asc from one source (a zip source is unpacked)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        payload = response.read()
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            members = [name for name in archive.namelist() if name.endswith(ZIP_MEMBER_SUFFIX)]
            if not members:
                raise ValueError(f"the archive has no {ZIP_MEMBER_SUFFIX}")
            payload = archive.read(members[0])
    return payload


def parse_source(text):
    """'raw=URL' or 'zip=URL' -> (kind, url)."""
    kind, separator, url = text.partition("=")
    if not separator or kind not in SOURCE_KINDS or not url:
        raise argparse.ArgumentTypeError(f"--source must be KIND=URL with KIND in {SOURCE_KINDS}, got {text!r}")
    return kind, url


def describe_error(error):
    """One line for a failed source."""
    reason = getattr(error, "reason", None)
    if getattr(error, "code", None) is not None:  # HTTPError
        return f"HTTP {error.code} {reason or ''}".strip()
    return f"{type(error).__name__}: {reason or error}"


def write_verified(payload, source, destination):
    """Store the payload as it came when its normalised checksum is the Hay cell's; True on success."""
    digest = text_sha256(payload)
    if digest != MORPHOLOGY_SHA256:
        print(f"  {source}: not the Hay et al. cell1.asc (SHA-256 of the LF-normalised text {digest[:12]}..., "
              f"expected {MORPHOLOGY_SHA256[:12]}...)")
        return False
    with atomic_write(destination) as handle:
        handle.write(payload)
    endings = "CRLF" if b"\r\n" in payload else "LF"
    print(f"wrote {destination} (SHA-256 verified, {endings} line endings, {len(payload):,} bytes, from {source})")
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--destination", default=DEFAULT_MORPHOLOGY, help="where to write cell1.asc")
    parser.add_argument("--from-file", default=None, help="copy this local file instead of downloading")
    parser.add_argument("--source", action="append", type=parse_source, default=None, metavar="KIND=URL",
                        help="a source to try instead of the default list (repeatable, tried in order)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per source")
    args = parser.parse_args(argv)

    if args.from_file:
        try:
            with open(args.from_file, "rb") as handle:
                payload = handle.read()
        except OSError as error:
            print(f"error: cannot read {args.from_file}: {error.strerror or error}", file=sys.stderr)
            return 2
        if write_verified(payload, args.from_file, args.destination):
            return 0
        print(f"error: {args.from_file} is not the Hay et al. 2011 cell1.asc (ModelDB 139653)", file=sys.stderr)
        return 1

    for kind, url in args.source or SOURCES:
        print(f"trying {url} ...")
        try:
            payload = fetch(kind, url, args.timeout)
        except Exception as error:  # network errors, HTTP errors, bad archives: one line, then the next source
            print(f"  failed: {describe_error(error)}")
            continue
        if write_verified(payload, url, args.destination):
            return 0
    print("error: could not obtain a verified cell1.asc from any source; download ModelDB model 139653 by hand "
          "and run `python tools/download_morphology.py --from-file PATH/TO/cell1.asc`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
