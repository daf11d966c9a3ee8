"""The L5PC model: geometry, biophysics, metadata, short simulations and the dataset file layout (spec §1-3)."""

import glob
import os

import numpy as np
import pytest

from neuron_as_deep_net.l5pc import cell as l5pc_cell, simulator as l5pc_simulator

pytestmark = pytest.mark.neuron

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_FILES = glob.glob(os.path.join(ROOT, "..", "shared", "reference", "L5PC_NMDA_seed1234", "*.p"))


from conftest import needs_morphology  # noqa: E402


@pytest.fixture(scope="module")
def simulator():
    return l5pc_simulator.L5PCSimulator(solver="fixed")


@pytest.fixture(scope="module")
def cell(simulator):
    return simulator.cell


@needs_morphology
def test_section_and_segment_counts(cell):
    assert len(cell.dend) == 84 and len(cell.apic) == 109
    assert sum(s.nseg for s in cell.dend) == 262 and sum(s.nseg for s in cell.apic) == 377
    assert len(cell.segments()) == l5pc_cell.NUM_SEGMENTS == 639
    assert all(s.nseg == 1 + 2 * int(s.L / 40) for s in cell.dend + cell.apic)


@needs_morphology
def test_geometry_matches_spec(cell):
    assert cell.soma[0].L == pytest.approx(23.17, abs=0.01)
    assert cell.soma[0].diam == pytest.approx(13.47, abs=0.01)
    assert sum(s.L for s in cell.dend) == pytest.approx(5133.5, abs=0.1)
    assert sum(s.L for s in cell.apic) == pytest.approx(7440.9, abs=0.1)
    assert cell.longest_apical_branch_um() == pytest.approx(1300.53, abs=0.01)
    lengths = [s.L / s.nseg for s in cell.dend + cell.apic]
    assert min(lengths) == pytest.approx(1.75, abs=0.01) and max(lengths) == pytest.approx(39.9, abs=0.05)
    assert [(a.L, a.diam, a.nseg) for a in cell.axon] == [(30.0, 1.0, 1), (30.0, 1.0, 1)]
    nexus = cell.apic[50]
    assert nexus.nseg == 3 and nexus.L == pytest.approx(61.9, abs=0.05)
    assert cell.h.distance(cell.soma[0](0.5), nexus(0.9)) == pytest.approx(678, abs=1)


@needs_morphology
def test_channel_distributions(cell):
    ih = np.array([seg.gIhbar_Ih for s in cell.apic for seg in s])
    assert ih.min() == pytest.approx(1.26e-4, rel=0.01) and ih.max() == pytest.approx(2.10e-3, rel=0.01)
    ca = np.array([seg.gCa_LVAstbar_Ca_LVAst for s in cell.apic for seg in s])
    assert set(np.round(ca, 9)) == {round(0.2271264, 9), round(0.002271264, 9)}
    assert int((ca > 0.1).sum()) == 29  # hot-zone segments
    # hoc's for (x) loop: each section's last segment keeps the value computed at the section's far end
    origin = cell.apic[0](0)
    for section in cell.apic[1:6]:
        last, middle = section(1 - 0.5 / section.nseg), section(0.5)
        assert last.gIhbar_Ih == pytest.approx(l5pc_cell.apical_ih_density(cell.h.distance(origin, section(1)),
                                                                      cell.longest_apical_branch_um()))
        if section.nseg > 1:
            assert middle.gIhbar_Ih == pytest.approx(l5pc_cell.apical_ih_density(cell.h.distance(origin, middle),
                                                                            cell.longest_apical_branch_um()))
    soma = cell.soma[0](0.5)
    assert soma.gSK_E2bar_SK_E2 == pytest.approx(0.09965) and soma.gNaTs2_tbar_NaTs2_t == pytest.approx(0.998912)
    assert cell.axon[0](0.5).gNaTa_tbar_NaTa_t == pytest.approx(3.89618)
    assert cell.dend[0](0.5).gIhbar_Ih == pytest.approx(5e-5) and cell.dend[0].cm == 2
    assert cell.apic[10](0.5).cm == 2 and cell.apic[10](0.5).g_pas == pytest.approx(6e-5)
    assert cell.soma[0](0.5).e_pas == -90 and cell.soma[0].Ra == 100
    assert cell.h.celsius == pytest.approx(6.3)  # never set, as in the original


@needs_morphology
@pytest.mark.skipif(not REFERENCE_FILES, reason="../shared/reference not present")
def test_segment_metadata_equals_reference(cell):
    from neuron_as_deep_net.l5pc.data_format import load_experiment

    reference = load_experiment(REFERENCE_FILES[0])["Params"]
    ours = cell.segment_metadata()
    for key, values in ours.items():
        if isinstance(values[0], str) or isinstance(values[0], int):
            assert values == list(reference[key]), key
        else:
            np.testing.assert_allclose(values, reference[key], atol=1e-6, err_msg=key)


@needs_morphology
def test_morphology_dict_keys_and_coordinates(cell):
    morphology = cell.morphology_dict()
    expected = {"all_sections_length", "all_sections_distance_from_soma", "all_segments_length",
                "all_segments_type", "all_segments_distance_from_soma", "all_segments_section_distance_from_soma",
                "all_segments_section_index", "all_segments_segment_index_within_section_index",
                "all_basal_section_coords", "all_basal_segment_coords", "all_apical_section_coords",
                "all_apical_segment_coords"}
    assert expected <= set(morphology)
    assert len(morphology["all_basal_segment_coords"]) == 262 and len(morphology["all_apical_segment_coords"]) == 377
    assert (0, 0) in morphology["all_apical_segment_coords"]  # apical keys use global section index - 84
    coords = morphology["all_apical_segment_coords"][(50, 2)]
    assert set(coords) >= {"x", "y", "d"} and len(coords["x"]) >= 2


@needs_morphology
def test_rest_and_current_step(simulator):
    h = simulator.h
    soma = simulator.cell.soma[0]
    clamp = h.IClamp(soma(0.5))
    clamp.delay, clamp.dur, clamp.amp = 200.0, 200.0, 1.0
    try:
        result, _ = simulator.simulate({}, {}, 450, collect_dvts=False)
    finally:
        clamp.amp = 0.0
        del clamp
    soma_v = result["somaVoltageLowRes"].astype(float)
    assert -82 < soma_v[190] < -68  # settled near rest before the step
    spike_times = result["outputSpikeTimes"].astype(float)
    assert len(spike_times) >= 3 and np.all((spike_times > 200) & (spike_times < 410))


@needs_morphology
def test_input_at_time_zero_silences_synapse(simulator):
    """Spec §2.5/§15: an event at t = 0 makes Pv NaN, so that synapse never releases again."""
    segment = 300
    silent, _ = simulator.simulate({segment: [0, 50, 51, 52, 53]}, {}, 120, collect_dvts=True)
    control, _ = simulator.simulate({segment: [50, 51, 52, 53]}, {}, 120, collect_dvts=True)
    silent_dvt = silent["dendriticVoltagesLowRes"][segment].astype(float)
    control_dvt = control["dendriticVoltagesLowRes"][segment].astype(float)
    assert control_dvt[60] - control_dvt[49] > 2  # the control EPSP (four NMDA events)
    assert abs(silent_dvt[60] - silent_dvt[49]) < 0.2  # nothing after the t = 0 event


REFERENCE_PREFIX_SCRIPT = """
import glob, json, sys
import numpy as np
from neuron_as_deep_net.l5pc.data_format import load_experiment
from neuron_as_deep_net.l5pc.simulator import L5PCSimulator
duration_ms, solver = float(sys.argv[2]), sys.argv[3]
reference = load_experiment(sys.argv[1])["Results"]["listOfSingleSimulationDicts"][0]
def before(spike_times):
    return {k: [t for t in v if t < duration_ms] for k, v in spike_times.items()}
simulator = L5PCSimulator(solver=solver)
ours, _ = simulator.simulate(before(reference["exInputSpikeTimes"]), before(reference["inhInputSpikeTimes"]),
                             duration_ms)
report = {"dt": simulator.h.dt, "secondorder": simulator.h.secondorder,
          "spikes": ours["outputSpikeTimes"].astype(float).tolist(),
          "reference_spikes": [float(t) for t in reference["outputSpikeTimes"] if t < duration_ms]}
for key in ("somaVoltageHighRes", "nexusVoltageHighRes", "dendriticVoltagesLowRes"):
    expected = reference[key][..., :ours[key].shape[-1]]
    report[key] = [int((ours[key] != expected).sum()), int(expected.size)]
    clipped = [np.minimum(a.astype(float), -55) for a in (ours[key], expected)]
    report[key + "_rmse"] = float(np.sqrt(np.mean((clipped[0] - clipped[1]) ** 2)))
print(json.dumps(report))
"""


def run_reference_prefix(duration_ms, solver):
    """Simulate the first ``duration_ms`` of reference simulation 0 in a fresh process; compare with it.

    A fresh process, so that CVODE integrates this one cell alone (its error norm spans all cells present).
    """
    import json
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, "-c", REFERENCE_PREFIX_SCRIPT, REFERENCE_FILES[0], str(duration_ms),
                                solver], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@needs_morphology
@pytest.mark.skipif(not REFERENCE_FILES, reason="../shared/reference not present")
def test_cvode_run_is_bit_identical_to_reference():
    """The first 60 ms of reference simulation 0, default CVODE: every float16 sample equals the original's.

    Any difference in geometry, distributions or mechanisms shows up here as float16 mismatches.
    """
    report = run_reference_prefix(60, "cvode")
    assert report["dendriticVoltagesLowRes"] == [0, 639 * 60]
    assert report["somaVoltageHighRes"] == [0, 480] and report["nexusVoltageHighRes"] == [0, 480]


@needs_morphology
@pytest.mark.skipif(not REFERENCE_FILES, reason="../shared/reference not present")
def test_fast_solver_follows_reference_through_first_spike():
    """--solver fast (dt 0.05 ms, Crank-Nicolson): the first 200 ms of reference simulation 0, spike included.

    Over the whole 2 x 6 s reference it matched 35 of 37 spikes within 2 ms with a clipped soma RMSE of 0.24 mV
    (README); here the first spike (146.1 ms) and the subthreshold traces are checked.
    """
    report = run_reference_prefix(200, "fast")
    assert report["dt"] == l5pc_simulator.FAST_DT_MS == 0.05 and report["secondorder"] == 2
    assert report["reference_spikes"] == [pytest.approx(146.1, abs=0.1)]
    assert len(report["spikes"]) == 1 and report["spikes"][0] == pytest.approx(146.1, abs=0.2)
    assert report["somaVoltageHighRes_rmse"] < 0.15  # measured 0.078 mV (fixed dt 0.025 ms: 0.116)
    assert report["dendriticVoltagesLowRes_rmse"] < 0.1  # measured 0.052 mV (fixed: 0.066)
    assert report["somaVoltageHighRes"][0] > 0  # not the CVODE trace: a different integrator ran


def _deferred_result(step_times, soma, duration_ms):
    """A result as a deferred-stop CVODE run gives it: traces from every step before T, plus the tail."""
    grids = {"high": np.arange(0, duration_ms, 0.125), "low": np.arange(0, duration_ms)}
    recorded = step_times < duration_ms
    full = {name: np.interp(grid, step_times[recorded], soma[recorded]) for name, grid in grids.items()}
    tail = step_times[recorded] >= duration_ms - l5pc_simulator.CVODE_TAIL_MS
    spikes = grids["high"][l5pc_simulator.detect_spikes(full["high"])]
    result = {"somaVoltageHighRes": full["high"].astype(np.float16), "somaVoltageLowRes": full["low"].astype(np.float16),
              "unroundedOutputSpikeTimes": spikes, "outputSpikeTimes": spikes.astype(np.float16),
              "cvodeTail": {"stepTimes": step_times[recorded][tail], "soma": soma[recorded][tail],
                            "nexus": soma[recorded][tail],
                            "stepSizes": np.diff(step_times, prepend=0.0)[recorded][tail],
                            "finalStepSize": float(np.diff(step_times)[recorded.sum() - 1])}}
    return result, grids


def test_original_stop_cuts_where_continuerun_would_have():
    """apply_original_stop: samples before T - previous_dt / 2 only (np.interp's clamp after), the size of the
    step that ended the original's run returned, and a spike peak that only the longer run saw removed."""
    duration_ms = 50
    step_times = np.r_[np.arange(0.0, 48.9, 0.3), 49.0, 49.2, 49.55, 49.9, 50.3]
    soma = -70 + 0.01 * step_times
    soma[step_times == 49.55] = 10.0  # a peak the original sees only if it stops after 49.55
    # previous_dt 0.5 keeps the peak's step as the last: the grid after it is clamped flat, so no peak either
    for previous_dt, last_kept, expected_dt, expect_spike in [(0.025, 49.9, 0.4, True), (0.5, 49.55, 0.35, False),
                                                              (1.0, 49.2, 0.35, False)]:
        result, grids = _deferred_result(step_times, soma, duration_ms)
        assert len(result["unroundedOutputSpikeTimes"]) == 1  # the uncut run sees the peak
        final_dt = l5pc_simulator.apply_original_stop(result, previous_dt, duration_ms)
        assert final_dt == pytest.approx(expected_dt) and "cvodeTail" not in result
        kept = step_times <= last_kept
        for name, key in (("high", "somaVoltageHighRes"), ("low", "somaVoltageLowRes")):
            expected = np.interp(grids[name], step_times[kept], soma[kept]).astype(np.float16)
            np.testing.assert_array_equal(result[key], expected)
        assert (len(result["outputSpikeTimes"]) == 1) == expect_spike
    result, _ = _deferred_result(step_times, soma, duration_ms)
    with pytest.raises(ValueError, match="CVODE_TAIL_MS"):
        l5pc_simulator.apply_original_stop(result, 2 * l5pc_simulator.CVODE_TAIL_MS + 2, duration_ms)


CHAIN_SCRIPT = """
import json, sys
import numpy as np
from neuron_as_deep_net.l5pc import inputs
from neuron_as_deep_net.l5pc import cell as l5pc_cell, simulator as l5pc_simulator
from neuron_as_deep_net.l5pc.data_format import binary_to_dict
duration_ms, num_sims = 150, 3
rng = np.random.RandomState(1234)
cell = l5pc_cell.L5PCCell(); meta = cell.segment_metadata(); cell.close()
drawn = [inputs.generate_l5pc_input_spikes(rng, meta["allSegmentsLength"], meta["allSegmentsType"], duration_ms)
         for _ in range(num_sims)]
drawn = [(binary_to_dict(ex), binary_to_dict(inh)) for ex, inh in drawn]
original, original_dts = [], []
for ex, inh in drawn:  # the original: one process, a new cell per simulation, continuerun's own stop
    simulator = l5pc_simulator.L5PCSimulator(stop_like_this_process=True)
    original.append(simulator.simulate(ex, inh, duration_ms)[0])
    original_dts.append(simulator.h.dt)
    simulator.close()
simulator = l5pc_simulator.L5PCSimulator()  # ours: one reused cell, simulations in reverse order (another history)
ours = [simulator.simulate(ex, inh, duration_ms)[0] for ex, inh in drawn[::-1]][::-1]
our_dts, previous = [], l5pc_simulator.CVODE_FIRST_PREVIOUS_DT_MS
for result in ours:
    previous = l5pc_simulator.apply_original_stop(result, previous, duration_ms)
    our_dts.append(previous)
different = [k for a, b in zip(original, ours) for k in a if isinstance(a[k], np.ndarray) and not np.array_equal(a[k], b[k])]
print(json.dumps({"original_dts": original_dts, "our_dts": our_dts, "different": different}))
"""


@needs_morphology
def test_deferred_cvode_stop_equals_the_original_process():
    """Three 150-ms CVODE simulations: the original's single process (each run stopped by continuerun, after
    the previous run's last step) vs one reused cell run in reverse order and cut afterwards in file order.
    Every last step size is the same double and every array the same."""
    import json
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, "-c", CHAIN_SCRIPT], capture_output=True, text=True, cwd=ROOT,
                               timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["our_dts"] == report["original_dts"]
    assert len(set(report["original_dts"])) == 3  # a history that changes from run to run
    assert report["different"] == []


def test_missing_and_wrong_morphology_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_morphology"):
        l5pc_cell.resolve_morphology(str(tmp_path / "nope.asc"))
    wrong = tmp_path / "cell1.asc"
    wrong.write_text("; not the Hay cell\n")
    with pytest.raises(ValueError, match="not the Hay et al. 2011 cell1.asc"):
        l5pc_cell.resolve_morphology(str(wrong))
    assert l5pc_cell.resolve_morphology(str(wrong), check_checksum=False) == str(wrong)


def test_spike_detection_and_interpolation():
    v = np.array([-70, -20, -10, -30, -60, -24, -24.5, -80, 0.0])
    assert list(l5pc_simulator.detect_spikes(v)) == [2, 5]  # the last sample is never a peak; -24.5 < -24
    t = np.array([0.0, 0.3, 0.3, 1.0, 2.5])
    traces = np.array([[0.0, 3.0, 3.0, 10.0, 25.0], [1.0, 1.0, 5.0, 5.0, 2.0]])
    grid = np.arange(0, 2.5, 0.125)
    expected = np.vstack([np.interp(grid, t, row) for row in traces])
    np.testing.assert_allclose(l5pc_simulator.interpolate_traces(t, traces, grid), expected)


@needs_morphology
def test_short_dataset_file_layout(tmp_path):
    """A 300-ms end-to-end run writes a file whose layout matches §1.1 key for key and dtype for dtype."""
    import subprocess
    import sys

    from neuron_as_deep_net.l5pc.data_format import load_experiment

    # a fresh process, from the command line (this test process already holds a cell)
    completed = subprocess.run([sys.executable, os.path.join(ROOT, "simulate_L5PC_and_create_dataset.py"),
                                "--preset", "smoke", "--random-seed", "1234", "--output-dir", str(tmp_path)],
                               capture_output=True, text=True, cwd=str(tmp_path), timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    path = completed.stdout.strip().splitlines()[-1].removeprefix("saved ")
    assert os.path.basename(os.path.dirname(path)) == "L5PC__activeDendrites_Ih_vshift_0_SKE2_mult_100__NMDA_GABA_A"
    assert os.path.basename(path).startswith("exBas_0_800_inhBasDiff_-600_200__exApic_0_800_inhApicDiff_-600_200"
                                              "__saved_InputSpikes_DVTs__")
    assert path.endswith("_outSpikes__2_simulationRuns__0.3_secDuration__randomSeed_1234.p")
    ours = load_experiment(path)
    sims = ours["Results"]["listOfSingleSimulationDicts"]
    assert len(sims) == 2 and len(ours["Params"]) == 29
    assert sims[0]["recordingTimeHighRes"].shape == (2400,) and sims[0]["dendriticVoltagesLowRes"].shape == (639, 300)
    if REFERENCE_FILES:
        reference = load_experiment(REFERENCE_FILES[0])
        assert set(ours["Params"]) == set(reference["Params"])
        reference_sim = reference["Results"]["listOfSingleSimulationDicts"][0]
        assert set(sims[0]) == set(reference_sim)
        for key, value in reference_sim.items():
            if isinstance(value, np.ndarray):
                assert sims[0][key].dtype == value.dtype, key
            else:
                assert type(sims[0][key]) is type(value), key
                first_key = next(iter(value))
                assert type(next(iter(sims[0][key]))) is type(first_key)
                assert type(sims[0][key][next(iter(sims[0][key]))][0]) is type(value[first_key][0])
        for key, value in reference["Params"].items():
            if key in ("totalSimDurationInSec", "totalNumSimulationSeconds"):
                continue  # 0.3 s here is a float; 6 s is an int as in the reference (checked below)
            assert type(ours["Params"][key]) is type(value), key
            if isinstance(value, list) and value and ours["Params"][key]:
                assert type(ours["Params"][key][0]) is type(value[0]), key
