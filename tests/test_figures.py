"""The figure scripts (dataset_exploration.py, main_figure_replication.py), the region rule and the weight
preprocessing, on a tiny synthetic dataset in the layout of spec §1.1 and a tiny saved TCN."""

import importlib.util
import os
import re

import numpy as np
import pytest

from neuron_as_deep_net.l5pc import morphology as morph_tools
from neuron_as_deep_net.l5pc import figures, figures_dataset
from neuron_as_deep_net.core.files import save_pickle
from neuron_as_deep_net.l5pc.data_format import NUM_SEGMENTS, binary_to_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNTHETIC_DURATION_MS = 1200
SYNTHETIC_NUM_SIMS = 4


def load_script(name):
    """Import a top-level script as a fresh module (configure() writes into the module's globals)."""
    spec = importlib.util.spec_from_file_location(name.replace(".py", "") + "_figures_test", os.path.join(ROOT, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def real_cell_morphology():
    """(segment metadata, morphology dict) of the L5PC model, or skip the test if the morphology is unavailable."""
    from neuron_as_deep_net.l5pc import cell as l5pc_cell

    try:
        path = l5pc_cell.resolve_morphology()
    except (FileNotFoundError, ValueError) as error:
        pytest.skip(f"L5PC morphology not available: {error}")
    cell = l5pc_cell.L5PCCell(path)
    try:
        return cell.segment_metadata(), cell.morphology_dict()
    finally:
        cell.close()


def write_synthetic_dataset(folder, metadata, num_sims=SYNTHETIC_NUM_SIMS, duration_ms=SYNTHETIC_DURATION_MS,
                            seed=0):
    """A dataset file in the exact layout of spec §1.1 with random inputs and a few output spikes per sim."""
    rng = np.random.default_rng(seed)
    high_res_time = np.arange(0, duration_ms, 1 / 8).astype(np.float32)
    sims, spikes_per_sim = [], []
    for _ in range(num_sims):
        exc = rng.random((NUM_SEGMENTS, duration_ms)) < 0.003
        inh = rng.random((NUM_SEGMENTS, duration_ms)) < 0.003
        num_spikes = int(rng.integers(3, 9))
        spike_steps = np.sort(rng.choice(np.arange(100 * 8, (duration_ms - 10) * 8, 80), num_spikes, replace=False))
        spike_times = high_res_time[spike_steps]
        soma = -70 + 3 * np.sin(np.arange(duration_ms) / 150.0) + rng.normal(0, 0.5, duration_ms)
        soma[(spike_times - 0.5).astype(int)] = 30.0
        soma_high = np.repeat(soma, 8)
        dvts = -70 + np.cumsum(rng.normal(0, 0.3, (NUM_SEGMENTS, duration_ms)), axis=1)
        sims.append({
            "recordingTimeHighRes": high_res_time, "somaVoltageHighRes": soma_high.astype(np.float16),
            "nexusVoltageHighRes": (soma_high + 2).astype(np.float16),
            "recordingTimeLowRes": np.arange(duration_ms, dtype=np.float32),
            "somaVoltageLowRes": soma.astype(np.float16), "nexusVoltageLowRes": (soma + 2).astype(np.float16),
            "exInputSpikeTimes": binary_to_dict(exc), "inhInputSpikeTimes": binary_to_dict(inh),
            "outputSpikeTimes": spike_times.astype(np.float16),
            "dendriticVoltagesLowRes": dvts.astype(np.float16),
        })
        spikes_per_sim.append(num_spikes)
    params = {
        "randomSeed": seed, "numSimulations": num_sims, "totalSimDurationInSec": duration_ms / 1000.0,
        "collectAndSaveDVTs": True, "numSamplesPerMS_HighRes": 8, "excitatorySynapseType": "NMDA",
        "inhibitorySynapseType": "GABA_A", "useActiveDendrites": True, "Ih_vshift": 0,
        "numOutputSpikesPerSim": spikes_per_sim, "totalNumOutputSpikes": int(sum(spikes_per_sim)),
        **metadata,
    }
    name = (f"exBas_0_800_inhBasDiff_-600_200__exApic_0_800_inhApicDiff_-600_200__saved_InputSpikes_DVTs__"
            f"{sum(spikes_per_sim)}_outSpikes__{num_sims}_simulationRuns__{duration_ms / 1000.0:g}_secDuration__"
            f"randomSeed_{seed}.p")
    path = os.path.join(folder, name)
    save_pickle({"Params": params, "Results": {"listOfSingleSimulationDicts": sims}}, path)
    return path


@pytest.fixture(scope="module")
def l5pc_morphology():
    return real_cell_morphology()


@pytest.fixture(scope="module")
def synthetic_dataset(tmp_path_factory, l5pc_morphology):
    metadata, morph = l5pc_morphology
    folder = tmp_path_factory.mktemp("data")
    write_synthetic_dataset(str(folder), metadata)
    save_pickle(morph, str(folder / morph_tools.MORPHOLOGY_DICT_NAME))
    return folder


def files_matching(folder, pattern):
    return [name for name in os.listdir(folder) if re.fullmatch(pattern, name)]


# ---- regions ------------------------------------------------------------------------------------------------

@pytest.mark.neuron
def test_region_rule_reproduces_the_original_cutoffs(l5pc_morphology):
    _, morph = l5pc_morphology
    assert morph_tools.region_cutoffs(morph) == (morph_tools.ORIGINAL_BASAL_CUTOFF, morph_tools.ORIGINAL_TUFT_CUTOFF)
    assert morph_tools.region_cutoffs(morph) == (262, (366, 559))
    num_basal = morph_tools.num_basal_sections(morph)
    assert morph_tools.main_bifurcation_section(morph) - num_basal == 36  # apic[36]
    tuft = morph_tools.tuft_sections(morph)
    assert [k - num_basal for k in (tuft[0], tuft[-1])] == [36, 78] and len(tuft) == 43
    counts = {region: len(idx) for region, idx in morph_tools.region_segment_indices(morph).items()}
    assert counts == {"basal": 262, "oblique": 184, "tuft": 193}


def toy_morphology():
    """A soma with one basal section and an apical trunk: 2 short obliques, then a bifurcation into 2 branches."""
    def line(start, end, n=3):
        return {axis: list(np.linspace(start[i], end[i], n)) for i, axis in enumerate("xyz")} | {"d": [1.0] * n}

    basal = {0: line((0, 0, 0), (0, -50, 0))}
    apical = {0: line((0, 0, 0), (0, 100, 0)), 1: line((0, 100, 0), (20, 110, 0)),  # trunk, oblique
              2: line((0, 100, 0), (0, 200, 0)), 3: line((0, 200, 0), (-20, 205, 0)),  # trunk, oblique
              4: line((0, 200, 0), (0, 300, 0)),  # distal trunk, ends at the main bifurcation
              5: line((0, 300, 0), (-80, 400, 0)), 6: line((0, 300, 0), (80, 400, 0))}  # tuft branches
    sections = [basal[0]] + [apical[k] for k in range(7)]
    lengths = [float(np.linalg.norm(np.diff(np.c_[s["x"], s["y"], s["z"]], axis=0), axis=1).sum()) for s in sections]
    segment_sections = list(range(8))
    return {
        "all_sections_length": lengths,
        "all_segments_type": ["basal"] + ["apical"] * 7,
        "all_segments_section_index": segment_sections,
        "all_segments_segment_index_within_section_index": [0] * 8,
        "all_segments_section_distance_from_soma": [0.0] * 8,
        "all_basal_section_coords": basal, "all_apical_section_coords": apical,
        "all_basal_segment_coords": {(0, 0): basal[0]},
        "all_apical_segment_coords": {(k, 0): apical[k] for k in range(7)},
    }


def test_region_rule_on_a_toy_tree():
    morph = toy_morphology()
    assert list(morph_tools.section_parents(morph)) == [-1, -1, 1, 1, 3, 3, 5, 5]
    assert morph_tools.main_bifurcation_section(morph) == 5
    assert list(morph_tools.segment_regions(morph)) == ["basal", "oblique", "oblique", "oblique", "oblique", "tuft",
                                                        "tuft", "tuft"]
    assert morph_tools.region_cutoffs(morph) == (1, (5, 8))


# ---- small pure helpers -------------------------------------------------------------------------------------

def test_dvt_windows_fit_the_simulation_duration():
    script = load_script("dataset_exploration.py")
    windows = script.dvt_windows_ms
    assert script.fit_windows(windows, 6000) == [tuple(w) for w in windows]
    assert script.fit_windows(windows, 2000) == [(900, 1100), (800, 1200), (700, 1300), (600, 1400), (400, 1600),
                                                 (0, 2000)]
    assert script.fit_windows(windows, 300) == [(50, 250), (0, 300)]


def test_windowed_counts_sample_every_half_window():
    script = load_script("dataset_exploration.py")
    per_ms = np.zeros((1, 1000))
    per_ms[0, [100, 120, 700]] = 1
    counts = script.windowed_counts(per_ms, 200)  # samples at 100, 200, ..., 900, each summing [t - 100, t + 99]
    assert counts.tolist() == [2, 2, 0, 0, 0, 0, 1, 1, 0]


def test_first_layer_filter_preprocessing():
    num_exc, kernel_size = 3, 50
    kernel = np.zeros((2 * num_exc, kernel_size))
    kernel[:num_exc, -1] = -1.0  # the current time step (causal conv: last kernel index), excitatory, negative
    weights = figures.preprocess_first_layer_filter(kernel, num_exc, num_lags=40, sign_lags=12)
    assert weights.shape == (2 * num_exc, 40)  # 2-tap 'valid' smoothing gives 49 lags, cropped to 40
    # flipped (lag 0 = most recent), halved by the smoothing, negated since exc - inh over 12 lags was < 0
    assert np.allclose(weights[:num_exc, 0], 0.5) and np.allclose(weights[:num_exc, 1:], 0)
    assert np.allclose(weights[num_exc:], 0)


def test_nice_scale_bars():
    assert figures_dataset.scaled_time_bar(6000, 600) == 600
    assert figures_dataset.scaled_time_bar(1200, 600) == 100
    assert figures_dataset.scaled_time_bar(2000, 60) == 20
    assert figures_dataset.nice_length(7.5) == 5.0


# ---- the scripts end to end ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_dataset_exploration_writes_every_figure(synthetic_dataset, tmp_path):
    script = load_script("dataset_exploration.py")
    out = tmp_path / "exploration"
    summary = script.main(["--data-dir", str(synthetic_dataset), "--output-dir", str(out), "--random-seed", "3"])
    assert summary["num_simulations"] == SYNTHETIC_NUM_SIMS and summary["model_string"] == "NMDA"
    durations = sorted(end - start for start, end in script.fit_windows(script.dvt_windows_ms, SYNTHETIC_DURATION_MS))
    assert durations == [200, 400, 600, 800, 1200]
    for duration in durations:
        assert len(files_matching(out, rf"NMDA__DVT_{duration}_ms_\d+\.png")) == 1, duration
    for name in ("input_output", "soma_traces", "inst_rates"):
        assert len(files_matching(out, rf"NMDA__{name}_\d+\.png")) == 1, name
    for window in (100, 200, 1000):
        for kind in ("histograms", "scatter"):
            assert (out / f"NMDA__inout_rates_{kind}_{window}_ms.png").is_file()
    assert (out / "NMDA__dataset_summary.json").is_file()
    assert len(summary["figures"]) == len(durations) + 3 + 6


@pytest.mark.slow
def test_main_figure_replication_writes_every_figure(synthetic_dataset, tmp_path):
    from neuron_as_deep_net.l5pc import networks

    models = tmp_path / "models"
    models.mkdir()
    architecture = networks.make_architecture_dict([5, 3], 4, input_window_size=100)
    model = networks.build_tcn(architecture)
    spikes_head = model.get_layer("spikes")  # an untrained head outputs ~sigmoid(-2) everywhere: spread it out
    kernel, bias = spikes_head.get_weights()
    spikes_head.set_weights([np.random.default_rng(1).normal(0, 1, kernel.shape).astype(kernel.dtype), bias])
    base = "NMDA_TCN__DxWxT_2x4x7__test"
    model.save(str(models / f"{base}.keras"))
    save_pickle({"architecture_dict": architecture, "data_dict": {}}, str(models / f"{base}.pickle"))

    script = load_script("main_figure_replication.py")
    out = tmp_path / "figures"
    summary = script.main(["--model", str(models / f"{base}.keras"), "--data-dir", str(synthetic_dataset),
                           "--output-dir", str(out), "--figure-formats", "png,svg", "--num-scatter-points", "3000",
                           "--num-filter-figures", "2"])
    assert summary["window_size"] == 100 and summary["temporal_extent"] == 7 and summary["overlap"] == 50
    assert set(summary["evaluations_results_dict"]) == {
        f"starting_at_500ms_spikes_in_[{lo},{hi}]_range" for lo, hi in ((0, 18), (0, 24), (0, 30))}
    # every synthetic sim has 3-8 spikes, so every one gets a single-trace figure
    assert sorted(summary["single_trace_sims"]) == list(range(SYNTHETIC_NUM_SIMS))
    expected = [f"{base}__morphology", f"{base}__model_evaluation"]
    expected += [f"{base}__single_prediction_trace_{k}" for k in range(SYNTHETIC_NUM_SIMS)]
    expected += [f"{base}__first_layer_weights_filter_ind_{k}" for k in summary["filters_by_norm"][:2]]
    assert len(files_matching(out, rf"{base}__first_layer_weights_filter_ind_\d+\.png")) == 2
    for name in expected:
        assert (out / f"{name}.png").is_file(), name
        assert (out / "svg" / f"{name}.svg").is_file(), name
    for pattern in ("multiple_prediction_traces", "full_combined_figure_v2", "full_combined_figure_v3"):
        assert len(files_matching(out, rf"{base}__{pattern}_\d+\.png")) == 1, pattern
    assert (out / f"{base}__main_results.json").is_file()
    assert 0.0 <= summary["threshold_fpr"] <= 0.01
    assert "CPU 0" in summary["device_report"]["visible"] and summary["inference_path"] in ("fast", "keras")
