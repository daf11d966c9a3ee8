"""The morphology set-up (tools/download_morphology.py, resolve_morphology): LF and CRLF copies of cell1.asc are
both the Hay et al. morphology, the sources are tried in order with one line per failure, no test needs the
network (a local HTTP server on 127.0.0.1 and file:// URLs stand in for GitHub and ModelDB)."""
import contextlib
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tools"))
import download_morphology as dm  # noqa: E402

from neuron_as_deep_net.l5pc import cell as l5pc  # noqa: E402

SHARED_MORPHOLOGY = os.path.join(ROOT, "..", "shared", "data", "L5PC", "cell1.asc")
CRLF_BYTES, LF_BYTES = 396_544, 389_908  # the two copies' sizes (issue 20)


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """An LF and a CRLF copy of ../shared's cell1.asc (whichever it is), and a wrong file."""
    if not os.path.isfile(SHARED_MORPHOLOGY):
        pytest.skip("../shared/data/L5PC/cell1.asc is not available")
    with open(SHARED_MORPHOLOGY, "rb") as handle:
        original = handle.read()
    lf = original.replace(b"\r\n", b"\n")
    crlf = lf.replace(b"\n", b"\r\n")
    folder = tmp_path_factory.mktemp("morphologies")
    paths = {"lf": folder / "lf" / "cell1.asc", "crlf": folder / "crlf" / "cell1.asc",
             "wrong": folder / "wrong" / "cell1.asc"}
    for key, payload in (("lf", lf), ("crlf", crlf), ("wrong", lf + b"; not the published file\n")):
        paths[key].parent.mkdir()
        paths[key].write_bytes(payload)
    return paths


def test_copies_have_the_published_sizes_and_one_checksum(copies):
    assert os.path.getsize(copies["lf"]) == LF_BYTES and os.path.getsize(copies["crlf"]) == CRLF_BYTES
    assert l5pc.file_sha256(copies["lf"]) == l5pc.file_sha256(copies["crlf"]) == l5pc.MORPHOLOGY_SHA256
    assert l5pc.file_sha256(copies["wrong"]) != l5pc.MORPHOLOGY_SHA256


def test_resolve_morphology_accepts_both_line_endings(copies):
    for key in ("lf", "crlf"):
        assert l5pc.resolve_morphology(str(copies[key])) == str(copies[key])
    with pytest.raises(ValueError, match="LF and CRLF copies are both accepted"):
        l5pc.resolve_morphology(str(copies["wrong"]))


@pytest.mark.parametrize("key", ["lf", "crlf"])
def test_from_file_accepts_both_and_stores_the_file_as_it_came(copies, tmp_path, key, capsys):
    destination = tmp_path / "out" / "cell1.asc"
    assert dm.main(["--from-file", str(copies[key]), "--destination", str(destination)]) == 0
    assert destination.read_bytes() == copies[key].read_bytes()
    assert ("CRLF" if key == "crlf" else "LF") + " line endings" in capsys.readouterr().out


def test_from_file_refuses_a_wrong_or_missing_file(copies, tmp_path, capsys):
    destination = tmp_path / "cell1.asc"
    assert dm.main(["--from-file", str(copies["wrong"]), "--destination", str(destination)]) == 1
    assert dm.main(["--from-file", str(tmp_path / "nope.asc"), "--destination", str(destination)]) == 2
    assert not destination.exists() and os.listdir(tmp_path) == []
    assert "not the Hay et al." in capsys.readouterr().out


def test_default_sources_are_the_mirror_root_then_the_modeldb_zip():
    assert dm.SOURCES == [
        ("raw", "https://raw.githubusercontent.com/ModelDBRepository/139653/master/morphologies/cell1.asc"),
        ("zip", "https://modeldb.science/download/139653")]


@contextlib.contextmanager
def local_server(folder):
    """An HTTP server on 127.0.0.1 serving ``folder`` (unknown paths: 404)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_sources_are_tried_in_order_with_one_line_per_failure(copies, tmp_path, capsys):
    served = tmp_path / "served"
    served.mkdir()
    (served / "cell1.asc").write_bytes(copies["lf"].read_bytes())
    (served / "other.asc").write_bytes(copies["wrong"].read_bytes())
    destination = tmp_path / "out" / "cell1.asc"
    with local_server(served) as url:
        code = dm.main(["--destination", str(destination), "--timeout", "10",
                        "--source", f"raw={url}/missing/cell1.asc", "--source", f"raw={url}/other.asc",
                        "--source", f"raw={url}/cell1.asc", "--source", "raw=http://127.0.0.1:9/never-tried"])
    out = capsys.readouterr().out
    assert code == 0 and destination.read_bytes() == copies["lf"].read_bytes()
    lines = out.splitlines()
    assert lines[0].startswith("trying ") and lines[0].endswith("/missing/cell1.asc ...")
    assert lines[1] == "  failed: HTTP 404 File not found"
    assert "/other.asc: not the Hay et al. cell1.asc" in lines[3]
    assert lines[-1].startswith(f"wrote {destination}") and "LF line endings, 389,908 bytes" in lines[-1]
    assert "never-tried" not in out


def test_a_zip_source_and_total_failure(copies, tmp_path, capsys):
    archive = tmp_path / "139653.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("L5bPCmodelsEH/morphologies/cell1.asc", copies["crlf"].read_bytes())
    destination = tmp_path / "out" / "cell1.asc"
    assert dm.main(["--destination", str(destination), "--source", f"zip={archive.as_uri()}"]) == 0
    assert destination.read_bytes() == copies["crlf"].read_bytes()
    destination.unlink()
    code = dm.main(["--destination", str(destination), "--source", f"raw={(tmp_path / 'absent.asc').as_uri()}",
                    "--source", f"zip={copies['lf'].as_uri()}"])  # not a zip
    captured = capsys.readouterr()
    assert code == 1 and not destination.exists()
    assert captured.out.count("  failed: ") == 2 and "could not obtain a verified cell1.asc" in captured.err


GEOMETRY_AND_TRACE_SCRIPT = r"""
import json, sys
import numpy as np
from neuron_as_deep_net.l5pc.cell import NUM_SEGMENTS
from neuron_as_deep_net.l5pc.simulator import L5PCSimulator
out = {}
for key, path in (("lf", sys.argv[1]), ("crlf", sys.argv[2])):
    simulator = L5PCSimulator(morphology_path=path, solver="fast")
    cell = simulator.cell
    sections = cell.all_sections()
    geometry = [(s.name(), s.L, s.diam, s.nseg) for s in sections]
    ex = (np.random.RandomState(1).rand(NUM_SEGMENTS, 50) < 0.01)
    inh = (np.random.RandomState(2).rand(NUM_SEGMENTS, 50) < 0.01)
    result, _ = simulator.simulate_from_binary(ex, inh, collect_dvts=True)
    out[key] = {"geometry": geometry, "soma": result["somaVoltageHighRes"].tolist(),
                "dvt_sum": float(np.asarray(result["dendriticVoltagesLowRes"], dtype=np.float64).sum())}
    simulator.close()
print(json.dumps(out))
"""


@pytest.mark.neuron
def test_lf_and_crlf_copies_build_the_same_cell_and_traces(copies):
    completed = subprocess.run([sys.executable, "-c", GEOMETRY_AND_TRACE_SCRIPT, str(copies["lf"]),
                                str(copies["crlf"])], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    out = json.loads(completed.stdout.strip().splitlines()[-1])
    assert len(out["lf"]["geometry"]) == 84 + 109 + 1 + 2  # dend, apic, soma, the replaced axon
    assert out["lf"]["geometry"] == out["crlf"]["geometry"]  # section lengths, diameters, segment counts
    assert sum(row[3] for row in out["lf"]["geometry"]) > 639
    assert np.array_equal(out["lf"]["soma"], out["crlf"]["soma"]) and len(out["lf"]["soma"]) == 50 * 8
    assert out["lf"]["dvt_sum"] == out["crlf"]["dvt_sum"]
