"""Test set-up: make the project importable, keep TensorFlow quiet, and find the shared reference file."""
import glob
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

REFERENCE_DIR = os.path.join(ROOT, "..", "shared", "reference", "L5PC_NMDA_seed1234")


@pytest.fixture(scope="session")
def reference_path():
    """The authors' seed-1234 reference file in ../shared (skips the test when it is absent)."""
    if not os.path.isdir(os.path.join(ROOT, "..", "shared")):
        pytest.skip("../shared (reference data) is not available")
    files = glob.glob(os.path.join(REFERENCE_DIR, "*.p"))
    if len(files) != 1:
        pytest.skip("reference simulation file not found")
    return files[0]


def morphology_available():
    """True when cell1.asc can be resolved (--morphology / $L5PC_MORPHOLOGY / the default location)."""
    from neuron_as_deep_net.l5pc import cell

    try:
        cell.resolve_morphology()
        return True
    except (FileNotFoundError, ValueError):
        return False


#: skip marker for tests that build the L5PC (``from conftest import needs_morphology``)
needs_morphology = pytest.mark.skipif(not morphology_available(),
                                      reason="cell1.asc not provided (python tools/download_morphology.py)")
