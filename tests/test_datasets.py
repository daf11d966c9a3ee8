"""Tests of neuron_as_deep_net.l5pc.datasets: parsing (spec §1.1, §1.3, §12), the parse cache, targets and PCA (§6)."""

import os
import pickle

import numpy as np
import pytest
from synthetic_data import Py2Str, synthetic_experiment, write_py2_style_pickle, write_synthetic_dataset

from neuron_as_deep_net.core import windows as core_windows
from neuron_as_deep_net.l5pc import datasets
from neuron_as_deep_net.core.files import load_pickle, save_pickle
from neuron_as_deep_net.l5pc.data_format import NUM_SEGMENTS, parse_sim_experiment_file


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("datasets")
    paths = {
        "small": write_synthetic_dataset(str(folder / "small"), 3, 800, seed=1),
        # 5.1-s sims with output spikes at 5001.375 (float16 -> 5000.0) and 1001.375 (-> 1001.5)
        "long": write_synthetic_dataset(str(folder / "long"), 1, 5100, seed=2,
                                        extra_output_spike_times=[1001.375, 5001.375]),
        "no_dvts": write_synthetic_dataset(str(folder / "no_dvts"), 1, 700, seed=3, include_dvts=False),
        "segments": write_synthetic_dataset(str(folder / "segments"), 1, 700, seed=4, num_segments=20),
    }
    return folder, paths


# ---------------------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------------------

def test_file_names_match_the_glob(data_dir):
    folder, paths = data_dir
    assert datasets.list_dataset_files(str(folder / "small")) == [paths["small"]]
    assert datasets.list_dataset_files("") == []
    with pytest.raises(FileNotFoundError):
        datasets.list_dataset_files(str(folder / "missing"))


def test_parse_equals_the_reference_parser(data_dir):
    _, paths = data_dir
    parsed = datasets.load_dataset_file(paths["small"])
    X, y_spike, y_soma, dvts = parse_sim_experiment_file(paths["small"], include_dvts=True)
    assert parsed.shape == (3, 800, 2 * NUM_SEGMENTS)
    assert parsed.X.dtype == bool and np.array_equal(parsed.X, X)
    assert np.array_equal(parsed.y_spike, y_spike) and parsed.y_spike.dtype == bool
    assert np.array_equal(parsed.y_soma, y_soma) and parsed.y_soma.dtype == np.float32
    assert parsed.dvts.dtype == np.float16 and parsed.dvts.shape == (3, NUM_SEGMENTS, 800)
    assert np.array_equal(parsed.dvts, dvts)
    assert np.all(np.diff(parsed.spike_index.astype(np.int64)) > 0)  # sorted, distinct


def test_parse_of_unordered_keys_and_repeated_spikes_equals_the_loop(data_dir):
    """The linear-time path needs the dicts' channels in ascending order; descending keys, unsorted times and a
    spike listed twice take the full sort and still give the original's matrix (a repeat counts once)."""
    _, paths = data_dir
    experiment = load_pickle(paths["small"])
    sims = experiment["Results"]["listOfSingleSimulationDicts"]
    for sim in sims:
        for key in ("exInputSpikeTimes", "inhInputSpikeTimes"):
            sim[key] = {segment: list(times)[::-1] for segment, times in reversed(list(sim[key].items()))}
    first = next(segment for segment, times in sims[1]["exInputSpikeTimes"].items() if len(times))
    sims[1]["exInputSpikeTimes"][first].append(sims[1]["exInputSpikeTimes"][first][0])
    expected = np.zeros((3, 800, 2 * NUM_SEGMENTS), dtype=bool)
    for k, sim in enumerate(sims):  # the original's per-spike loop
        for offset, key in ((0, "exInputSpikeTimes"), (NUM_SEGMENTS, "inhInputSpikeTimes")):
            for segment, times in sim[key].items():
                for t in times:
                    expected[k, t, offset + segment] = True
    parsed = datasets.parse_experiment_arrays(experiment, NUM_SEGMENTS, include_dvts=False)
    assert np.array_equal(parsed.X, expected)
    assert np.all(np.diff(parsed.spike_index.astype(np.int64)) > 0)
    assert parsed.spike_index.size == int(expected.sum())


def test_label_rule_on_float16_spike_times(data_dir):
    _, paths = data_dir
    parsed = datasets.load_dataset_file(paths["long"], include_dvts=False)
    stored = load_pickle(paths["long"])["Results"]["listOfSingleSimulationDicts"][0]["outputSpikeTimes"]
    assert stored.dtype == np.float16
    assert 5000.0 in stored.astype(np.float64) and 1001.5 in stored.astype(np.float64)
    expected = np.zeros(5100, dtype=bool)
    for t in stored:
        expected[int(float(t) - 0.5)] = True
    assert np.array_equal(parsed.y_spike[0], expected)
    assert parsed.y_spike[0, 4999] and parsed.y_spike[0, 1001]  # int(5000.0 - 0.5), int(1001.5 - 0.5)
    assert parsed.dvts is None


def test_layout_errors(data_dir):
    _, paths = data_dir
    with pytest.raises(ValueError, match="20 dendritic segments but the model expects 639"):
        datasets.load_dataset_file(paths["segments"])
    with pytest.raises(ValueError, match="without DVTs"):
        datasets.load_dataset_file(paths["no_dvts"], include_dvts=True)
    assert datasets.load_dataset_file(paths["segments"], num_segments=20).shape == (1, 700, 40)


def test_bad_spike_times_are_reported(tmp_path):
    experiment = synthetic_experiment(1, 600, seed=5)
    experiment["Results"]["listOfSingleSimulationDicts"][0]["exInputSpikeTimes"][3] = [10, 600]
    with pytest.raises(ValueError, match=r"input spike times must lie in \[0, 600\)"):
        datasets.parse_experiment_arrays(experiment)
    with pytest.raises(ValueError, match="not a simulation file"):
        save_pickle({"a": 1}, str(tmp_path / "x_1_secDuration_.p"))
        datasets.load_dataset_file(str(tmp_path / "x_1_secDuration_.p"))


def test_python2_pickle_needs_latin1_and_is_read(tmp_path):
    experiment = synthetic_experiment(2, 700, seed=6)
    experiment["Params"]["excitatorySynapseType"] = Py2Str(b"NMDA")
    experiment["Params"]["comment"] = Py2Str(b"caf\xe9 \xb5m")  # non-ASCII Python-2 str
    path = write_py2_style_pickle(experiment, str(tmp_path / "py2_6_secDuration_.p"))
    with open(path, "rb") as handle:
        raw = handle.read()
    assert pickle.SHORT_BINSTRING in raw
    with open(path, "rb") as handle, pytest.raises(UnicodeDecodeError):
        pickle.load(handle)
    parsed = datasets.load_dataset_file(path)
    reference = datasets.parse_experiment_arrays(experiment)
    assert np.array_equal(parsed.spike_index, reference.spike_index)
    assert np.array_equal(parsed.y_spike, reference.y_spike)
    assert load_pickle(path)["Params"]["comment"] == "caf\xe9 \xb5m"


def test_parse_cache(data_dir, tmp_path):
    _, paths = data_dir
    cache_dir = str(tmp_path / "cache")
    first = datasets.load_dataset_file(paths["small"], use_cache=True, cache_dir=cache_dir)
    sha = datasets.file_sha256(paths["small"])
    assert os.path.exists(os.path.join(cache_dir, f"{sha}.v{datasets.CACHE_FORMAT_VERSION}.npz"))
    again = datasets.load_dataset_file(paths["small"], use_cache=True, cache_dir=cache_dir)
    for name in ("spike_index", "y_spike", "y_soma", "dvts"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert again.shape == first.shape
    assert datasets.load_dataset_file(paths["small"], include_dvts=False, use_cache=True,
                                      cache_dir=cache_dir).dvts is None
    # default location: .parsed_cache beside the file; a file without DVTs is cached too
    datasets.load_dataset_file(paths["no_dvts"], include_dvts=False, use_cache=True)
    assert any(name.endswith(".npz") for name in os.listdir(os.path.join(os.path.dirname(paths["no_dvts"]),
                                                                         datasets.PARSED_CACHE_FOLDER)))


def test_dense_windows(data_dir):
    _, paths = data_dir
    parsed = datasets.load_dataset_file(paths["small"], include_dvts=False)
    X = parsed.X
    sims, ends = np.array([0, 2, 2, 1]), np.array([64, 800, 500, 333])
    windows = core_windows.dense_windows(parsed.spike_index, parsed.shape, sims, ends, 64)
    assert windows.shape == (4, 64, 2 * NUM_SEGMENTS) and windows.dtype == bool
    for k in range(4):
        assert np.array_equal(windows[k], X[sims[k], ends[k] - 64:ends[k]])


# ---------------------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------------------

def test_soma_targets_clip_then_shift():
    y = np.array([[-80.0, -67.7, -55.0, -40.0, 30.0]], dtype=np.float16)
    targets = datasets.soma_targets(y)
    assert targets.dtype == np.float32
    expected = np.minimum(y.astype(np.float32), -55.0) + 67.7
    assert np.allclose(targets, expected, atol=1e-4)
    assert np.isclose(targets.max(), 12.7, atol=1e-4) and np.isclose(targets[0, 1], 0.0, atol=0.05)


def test_dvt_pca_whitened_and_targets_clipped(data_dir):
    _, paths = data_dir
    dvts = datasets.load_dataset_file(paths["small"]).dvts
    pca = datasets.fit_dvt_pca(dvts, 6)
    assert pca.n_components_ == 6 and pca.whiten
    assert pca.components_.shape == (6, NUM_SEGMENTS)
    samples = np.minimum(np.transpose(dvts, (0, 2, 1)).reshape(-1, NUM_SEGMENTS).astype(np.float32), 2.0)
    projected = pca.transform(samples)
    assert np.allclose(projected.std(axis=0, ddof=1), 1.0, atol=1e-3)  # whitened: unit variance
    targets = datasets.dvt_targets(pca, dvts)
    assert targets.shape == (3, 800, 6) and targets.dtype == np.float32
    assert targets.max() <= 3.0 and targets.min() >= -3.0
    assert np.allclose(targets.reshape(-1, 6), np.clip(projected, -3, 3), atol=1e-4)
    # values above +2 mV are clipped before the projection
    raised = dvts.copy()
    raised[raised > 2.0] = 0  # no-op unless there are such values; now add some
    raised[0, :5, 100:110] = np.float16(40.0)
    clipped = raised.copy()
    clipped[0, :5, 100:110] = np.float16(2.0)
    assert np.array_equal(datasets.dvt_targets(pca, raised), datasets.dvt_targets(pca, clipped))


def test_default_num_DVT_components():
    assert datasets.default_num_DVT_components("NMDA") == 20
    assert datasets.default_num_DVT_components("AMPA") == 30
    assert datasets.default_num_DVT_components("AMPA_SK") == 30
