"""Tests of neuron_as_deep_net.l5pc.data_format and core.files: spike dicts, labels, pickles and the file layout (spec §1.1, §1.3, §12)."""

import io
import os
import pickle
import struct

import numpy as np
import pytest

from neuron_as_deep_net.core import files
from neuron_as_deep_net.l5pc import data_format



@pytest.fixture(scope="module")
def reference_experiment(reference_path):
    return data_format.load_experiment(reference_path)


# ---------------------------------------------------------------------------------------------------------
# spike dicts <-> binary matrices
# ---------------------------------------------------------------------------------------------------------

def loop_dict_to_binary(spike_dict, num_rows, num_bins):
    """The original's dict2bin, loop by loop."""
    matrix = np.zeros((num_rows, num_bins), dtype=bool)
    for row, times in spike_dict.items():
        for t in times:
            matrix[row, t] = True
    return matrix


@pytest.mark.parametrize("seed, density", [(0, 0.01), (1, 0.001), (2, 0.2)])
def test_dict_binary_round_trip(seed, density):
    rng = np.random.RandomState(seed)
    matrix = rng.rand(37, 500) < density
    matrix[5] = False  # a silent row
    spike_dict = data_format.binary_to_dict(matrix)
    assert set(spike_dict) == set(np.flatnonzero(matrix.any(axis=1)))
    assert 5 not in spike_dict
    for row, times in spike_dict.items():
        assert list(times) == sorted(times)
        np.testing.assert_array_equal(times, np.flatnonzero(matrix[row]))
    back = data_format.dict_to_binary(spike_dict, 37, 500)
    assert back.dtype == bool and back.shape == (37, 500)
    np.testing.assert_array_equal(back, matrix)
    np.testing.assert_array_equal(back, loop_dict_to_binary(spike_dict, 37, 500))


def test_dict_binary_empty_cases():
    assert data_format.binary_to_dict(np.zeros((4, 10), dtype=bool)) == {}
    empty = data_format.dict_to_binary({}, 4, 10)
    assert empty.shape == (4, 10) and empty.dtype == bool and not empty.any()
    single = data_format.dict_to_binary({2: [0, 9]}, 4, 10)
    assert single.sum() == 2 and single[2, 0] and single[2, 9]
    assert data_format.binary_to_dict(single) == {2: [0, 9]}


def test_dict_to_binary_accepts_arrays_and_python_ints():
    matrix = data_format.dict_to_binary({0: np.array([3, 1]), 3: [7]}, 5, 8)
    assert matrix[0, 1] and matrix[0, 3] and matrix[3, 7] and matrix.sum() == 3


def test_binary_to_dict_reproduces_reference_dicts(reference_experiment):
    for sim in reference_experiment["Results"]["listOfSingleSimulationDicts"]:
        for key in ("exInputSpikeTimes", "inhInputSpikeTimes"):
            reference = sim[key]
            matrix = data_format.dict_to_binary(reference, 639, 6000)
            np.testing.assert_array_equal(matrix, loop_dict_to_binary(reference, 639, 6000))
            rebuilt = data_format.binary_to_dict(matrix)
            assert list(rebuilt) == list(reference)  # same keys in the same (ascending) order
            for row in reference:
                assert [int(t) for t in rebuilt[row]] == [int(t) for t in reference[row]]
                assert isinstance(rebuilt[row], list)
                assert isinstance(rebuilt[row][0], type(reference[row][0]))


# ---------------------------------------------------------------------------------------------------------
# labels: int(t - 0.5) of float16 times (spec §1.3, §12)
# ---------------------------------------------------------------------------------------------------------

def test_spike_times_to_labels_float16_rule():
    assert np.float16(5001.375) == 5000.0  # the float16 quirk of spec §12
    times = np.array([5001.375, 146.125, 0.6], dtype=np.float16)
    labels = data_format.spike_times_to_labels(times, 6000)
    assert labels.dtype == bool and labels.shape == (6000,)
    assert set(np.flatnonzero(labels)) == {4999, 145, 0}


@pytest.mark.parametrize("t, index", [(1.0, 0), (1.5, 1), (1.49, 0), (2.875, 2), (5999.875, 5999), (100.0, 99)])
def test_spike_times_to_labels_float64(t, index):
    labels = data_format.spike_times_to_labels(np.array([t]), 6000)
    assert np.flatnonzero(labels).tolist() == [index]


def test_spike_times_to_labels_empty_and_merging():
    assert not data_format.spike_times_to_labels(np.array([], dtype=np.float16), 100).any()
    # two spikes that land in the same bin merge into one label
    labels = data_format.spike_times_to_labels(np.array([10.6, 10.9]), 100)
    assert np.flatnonzero(labels).tolist() == [10]


# ---------------------------------------------------------------------------------------------------------
# atomic writes and pickles
# ---------------------------------------------------------------------------------------------------------

def test_atomic_write_success_leaves_no_temp_file(tmp_path):
    path = tmp_path / "out.bin"
    with files.atomic_write(str(path)) as handle:
        handle.write(b"hello")
    assert path.read_bytes() == b"hello"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]
    with files.atomic_write(str(path), "w") as handle:
        handle.write("text")
    assert path.read_text() == "text"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]


def test_atomic_write_failure_keeps_old_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old content")
    with pytest.raises(RuntimeError, match="boom"):
        with files.atomic_write(str(path)) as handle:
            handle.write(b"partial new content")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old content"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]


def test_atomic_write_failure_without_old_file(tmp_path):
    path = tmp_path / "sub" / "new.bin"
    with pytest.raises(KeyError):
        with files.atomic_write(str(path)) as handle:
            handle.write(b"x")
            raise KeyError("x")
    assert not path.exists()
    assert os.listdir(tmp_path / "sub") == []


def test_save_and_load_pickle_round_trip(tmp_path):
    obj = {"a": np.arange(5, dtype=np.float16), "b": [1, 2.5, "s"], np.int64(3): {"nested": None}}
    path = str(tmp_path / "x.p")
    files.save_pickle(obj, path)
    with open(path, "rb") as handle:
        assert handle.read(2) == b"\x80\x02"  # protocol 2 by default, like the original files
    loaded = files.load_pickle(path)
    assert set(loaded) == set(obj)
    np.testing.assert_array_equal(loaded["a"], obj["a"])
    assert loaded["a"].dtype == np.float16
    assert loaded["b"] == obj["b"] and loaded[3] == {"nested": None}


class Py2StylePickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes (SHORT_BINSTRING / BINSTRING), like the authors' files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_style_dumps(obj):
    buffer = io.BytesIO()
    Py2StylePickler(buffer, protocol=2).dump(obj)
    # Python 2 numpy named its reconstructor numpy.core.multiarray
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def test_load_pickle_falls_back_to_latin1(tmp_path):
    # {'a': '\xe9'} as Python 2 writes it: PROTO 2, EMPTY_DICT, BINPUT, SHORT_BINSTRING x2, SETITEM, STOP
    data = b"\x80\x02}q\x00U\x01aq\x01U\x01\xe9q\x02s."
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(data)
    assert pickle.loads(data, encoding="latin1") == {"a": "\xe9"}
    path = tmp_path / "py2.p"
    path.write_bytes(data)
    assert files.load_pickle(str(path)) == {"a": "\xe9"}


def test_load_pickle_reads_python2_numpy_arrays(tmp_path):
    soma = np.array([-75.0, -54.9, 20.125, 1.5e3], dtype=np.float16)
    times = np.arange(0, 300, 0.125, dtype=np.float32)  # raw bytes with non-ASCII values
    data = py2_style_dumps({"somaVoltageLowRes": soma, "recordingTimeHighRes": times, "label": b"caf\xe9"})
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(data)
    path = tmp_path / "py2_arrays.p"
    path.write_bytes(data)
    loaded = files.load_pickle(str(path))
    assert loaded["label"] == "caf\xe9"
    assert loaded["somaVoltageLowRes"].dtype == np.float16
    np.testing.assert_array_equal(loaded["somaVoltageLowRes"], soma)
    assert loaded["recordingTimeHighRes"].dtype == np.float32
    np.testing.assert_array_equal(loaded["recordingTimeHighRes"], times)


# ---------------------------------------------------------------------------------------------------------
# load_experiment / parse_sim_experiment_file
# ---------------------------------------------------------------------------------------------------------

def tiny_experiment(num_segments=3, num_bins=20, output_times=(5.125, 12.875)):
    sim = {
        "exInputSpikeTimes": {0: [1, 4], 2: [7]},
        "inhInputSpikeTimes": {1: [3]},
        "outputSpikeTimes": np.array(output_times, dtype=np.float16),
        "somaVoltageLowRes": np.linspace(-80, -60, num_bins).astype(np.float16),
        "dendriticVoltagesLowRes": np.full((num_segments, num_bins), -70, dtype=np.float16),
    }
    return {"Params": {"allSegmentsType": ["basal"] * num_segments},
            "Results": {"listOfSingleSimulationDicts": [sim]}}


def test_load_experiment_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        data_format.load_experiment(str(tmp_path / "nope.p"))


@pytest.mark.parametrize("bad", [
    [1, 2, 3],
    {"Params": {}},
    {"Params": {}, "Results": {}},
    {"Params": {}, "Results": {"listOfSingleSimulationDicts": []}},
    {"Params": {}, "Results": {"listOfSingleSimulationDicts": [{"exInputSpikeTimes": {}}]}},
])
def test_load_experiment_rejects_wrong_layout(tmp_path, bad):
    path = str(tmp_path / "bad.p")
    files.save_pickle(bad, path)
    with pytest.raises(ValueError, match="bad.p"):
        data_format.load_experiment(path)


def test_parse_tiny_experiment(tmp_path):
    path = str(tmp_path / "tiny.p")
    files.save_pickle(tiny_experiment(), path)
    X, y_spike, y_soma, dvts = data_format.parse_sim_experiment_file(path, num_segments=3, include_dvts=True)
    assert X.shape == (1, 20, 6) and X.dtype == bool
    assert sorted(zip(*np.nonzero(X[0]))) == [(1, 0), (3, 4), (4, 0), (7, 2)]  # (t, channel), inh at 3 + seg
    assert np.flatnonzero(y_spike[0]).tolist() == [4, 12]
    assert y_soma.dtype == np.float32 and dvts.dtype == np.float16 and dvts.shape == (1, 3, 20)
    with pytest.raises(ValueError):
        data_format.parse_sim_experiment_file(path, num_segments=4)


def test_parse_without_dvts_in_file_raises_when_asked(tmp_path):
    experiment = tiny_experiment()
    del experiment["Results"]["listOfSingleSimulationDicts"][0]["dendriticVoltagesLowRes"]
    path = str(tmp_path / "nodvt.p")
    files.save_pickle(experiment, path)
    assert len(data_format.parse_sim_experiment_file(path)) == 3
    with pytest.raises(ValueError, match="DVT"):
        data_format.parse_sim_experiment_file(path, include_dvts=True)


def test_parse_reference_file(reference_path, reference_experiment):
    X, y_spike, y_soma = data_format.parse_sim_experiment_file(reference_path, num_segments=639)
    sims = reference_experiment["Results"]["listOfSingleSimulationDicts"]
    assert X.shape == (2, 6000, 1278) and X.dtype == bool
    assert y_spike.shape == (2, 6000) and y_spike.dtype == bool
    assert y_soma.shape == (2, 6000) and y_soma.dtype == np.float32
    for k, sim in enumerate(sims):
        np.testing.assert_array_equal(X[k, :, :639].T, data_format.dict_to_binary(sim["exInputSpikeTimes"], 639, 6000))
        np.testing.assert_array_equal(X[k, :, 639:].T, data_format.dict_to_binary(sim["inhInputSpikeTimes"], 639, 6000))
        expected = sorted({int(float(t) - 0.5) for t in sim["outputSpikeTimes"]})
        assert np.flatnonzero(y_spike[k]).tolist() == expected
        np.testing.assert_array_equal(y_soma[k], sim["somaVoltageLowRes"].astype(np.float32))
    # README: 13 and 24 output spikes
    assert [len(s["outputSpikeTimes"]) for s in sims] == [13, 24]
    assert y_spike[0].sum() == 13 and y_spike[1].sum() == 24
    assert np.flatnonzero(y_spike[0])[0] == 145  # 146.125 ms -> bin 145
    # the first segment's first excitatory spike (108 ms) is an excitatory channel, not an inhibitory one
    assert X[0, 108, 0]


def test_parse_reference_rejects_other_segment_count(reference_path):
    with pytest.raises(ValueError, match="639"):
        data_format.parse_sim_experiment_file(reference_path, num_segments=100)


def test_parse_reference_dvts(reference_experiment):
    X, y_spike, y_soma, dvts = data_format.parse_experiment(reference_experiment, include_dvts=True)
    assert dvts.shape == (2, 639, 6000) and dvts.dtype == np.float16
    for k, sim in enumerate(reference_experiment["Results"]["listOfSingleSimulationDicts"]):
        np.testing.assert_array_equal(dvts[k], sim["dendriticVoltagesLowRes"])
