"""The CoreNEURON engine (issue 17): --solver coreneuron for the L5PC, --engine coreneuron for the ball-and-stick.

Each check runs in a fresh process: CoreNEURON takes every cell of the process (a cell left by another test,
with its zero-delay NetCons, would be run too, or refused). The first run in a checkout also compiles the
CoreNEURON library (1-3 min). Skipped where this NEURON has no CoreNEURON.
"""

import json
import os
import subprocess
import sys

import pytest

from neuron_as_deep_net.core import coreneuron_engine

from conftest import needs_morphology  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AVAILABLE, REASON = coreneuron_engine.availability()
pytestmark = [pytest.mark.neuron, pytest.mark.skipif(not AVAILABLE, reason=f"no CoreNEURON: {REASON}")]

# the fast mode's tolerances (bench/simulation_throughput.py, issue 17)
MIN_SPIKE_MATCH = 0.85
MAX_CLIPPED_SOMA_RMSE_MV = 1.0

L5PC_TRIAL_SCRIPT = """
import json, sys
import numpy as np
from neuron_as_deep_net.l5pc import inputs
from neuron_as_deep_net.l5pc.simulator import L5PCSimulator
from neuron_as_deep_net.l5pc.data_format import binary_to_dict
synapse_type, seed, duration_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
results, report = {}, {}
for solver in ("fast", "coreneuron"):
    simulator = L5PCSimulator(excitatory_synapse_type=synapse_type, solver=solver)
    meta = simulator.cell.segment_metadata()
    ranges = inputs.L5PC_INPUT_RANGES[synapse_type]
    ex, inh = inputs.generate_l5pc_input_spikes(
        np.random.RandomState(seed), meta["allSegmentsLength"], meta["allSegmentsType"], duration_ms,
        ranges["bas_ex"], ranges["bas_inh_diff"], ranges["apic_ex"], ranges["apic_inh_diff"])
    results[solver], _ = simulator.simulate(binary_to_dict(ex), binary_to_dict(inh), duration_ms)
    # an event at t = 0 silences its NetCon (spec section 15): it must still arrive at exactly t = 0
    silent, _ = simulator.simulate({300: [0, 50, 51, 52, 53]}, {}, 70)
    control, _ = simulator.simulate({300: [50, 51, 52, 53]}, {}, 70)
    dvts = [r["dendriticVoltagesLowRes"][300].astype(float) for r in (silent, control)]
    report[solver + "_epsp_mV"] = [float(dvt[60] - dvt[49]) for dvt in dvts]
    report[solver + "_delay"] = simulator.excitatory_netcons[0].delay
    simulator.close()
fast, core = results["fast"], results["coreneuron"]
report["layout"] = {key: [str(np.asarray(value).dtype), list(np.shape(value))] for key, value in fast.items()
                    if isinstance(value, np.ndarray)}
report["same_layout"] = sorted(fast) == sorted(core) and all(
    fast[key].dtype == core[key].dtype and fast[key].shape == core[key].shape
    for key in fast if isinstance(fast[key], np.ndarray))
report["same_inputs"] = fast["exInputSpikeTimes"] == core["exInputSpikeTimes"]
report["spikes"] = {name: r["unroundedOutputSpikeTimes"].tolist() for name, r in results.items()}
clipped = [np.minimum(r["somaVoltageLowRes"].astype(float), -55) for r in (fast, core)]
report["soma_rmse_mV"] = float(np.sqrt(np.mean((clipped[0] - clipped[1]) ** 2)))
report["dvt_max_abs_mV"] = float(np.abs(fast["dendriticVoltagesLowRes"].astype(float)
                                        - core["dendriticVoltagesLowRes"].astype(float)).max())
print(json.dumps(report))
"""


def run_json(script, *args):
    """Run a Python snippet in a fresh process from the project folder; the JSON of its last line."""
    completed = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                               cwd=ROOT, timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def spike_match(reference, candidate, tolerance_ms=2.0):
    """Fraction of reference spikes with a candidate spike within tolerance_ms (1.0 without reference spikes)."""
    if not reference:
        return 1.0
    return sum(any(abs(r - c) <= tolerance_ms for c in candidate) for r in reference) / len(reference)


@needs_morphology
@pytest.mark.parametrize("synapse_type", ["NMDA", "AMPA"])
def test_coreneuron_matches_fast_on_a_300_ms_trial(synapse_type):
    """Same keys, dtypes and shapes as --solver fast, and its output within the fast mode's tolerances.

    Seed 1233 gives 4 (NMDA) and 6 (AMPA) spikes in 300 ms. Measured: the same spikes and a clipped soma
    RMSE of 0 mV (the vector exp changes the last bits only).
    """
    report = run_json(L5PC_TRIAL_SCRIPT, synapse_type, 1233, 300)
    assert report["same_layout"] and report["same_inputs"]
    assert report["layout"]["dendriticVoltagesLowRes"] == ["float16", [639, 300]]
    assert report["layout"]["somaVoltageHighRes"] == ["float16", [2400]]
    fast_spikes, core_spikes = report["spikes"]["fast"], report["spikes"]["coreneuron"]
    assert len(fast_spikes) >= 3
    assert spike_match(fast_spikes, core_spikes) >= MIN_SPIKE_MATCH
    assert report["soma_rmse_mV"] < MAX_CLIPPED_SOMA_RMSE_MV
    assert report["dvt_max_abs_mV"] < 5.0
    # NetCon delay: 0 in NEURON, 2 dt under CoreNEURON, and the t = 0 event still silences its synapse
    assert report["fast_delay"] == 0 and report["coreneuron_delay"] == pytest.approx(0.1)
    for solver in ("fast", "coreneuron"):
        silent, control = report[solver + "_epsp_mV"]
        assert control > 2 and abs(silent) < 0.2, solver


@needs_morphology
def test_coreneuron_dataset_file_has_the_fast_layout(tmp_path):
    """simulate_L5PC_and_create_dataset.py --solver coreneuron writes the file --solver fast writes."""
    from neuron_as_deep_net.l5pc.data_format import load_experiment

    files = {}
    for solver in ("fast", "coreneuron"):
        completed = subprocess.run(
            [sys.executable, os.path.join(ROOT, "simulate_L5PC_and_create_dataset.py"), "--preset", "smoke",
             "--num-simulations", "1", "--sim-duration-sec", "0.1", "--random-seed", "1233", "--solver", solver,
             "--output-dir", str(tmp_path / solver)], capture_output=True, text=True, cwd=str(tmp_path), timeout=900)
        assert completed.returncode == 0, completed.stderr[-3000:]
        files[solver] = completed.stdout.strip().splitlines()[-1].removeprefix("saved ")
    assert os.path.relpath(files["fast"], tmp_path / "fast") == os.path.relpath(files["coreneuron"],
                                                                                tmp_path / "coreneuron")
    fast, core = (load_experiment(files[solver]) for solver in ("fast", "coreneuron"))
    assert sorted(fast["Params"]) == sorted(core["Params"])
    for key, value in fast["Params"].items():
        assert type(core["Params"][key]) is type(value), key
        if key != "entireExperimentDurationInMinutes":
            assert str(core["Params"][key]) == str(value), key
    fast_sim, core_sim = (f["Results"]["listOfSingleSimulationDicts"][0] for f in (fast, core))
    assert sorted(fast_sim) == sorted(core_sim)
    for key, value in fast_sim.items():
        assert type(core_sim[key]) is type(value), key
        if hasattr(value, "dtype"):
            assert (core_sim[key].dtype, core_sim[key].shape) == (value.dtype, value.shape), key


BALL_AND_STICK_SCRIPT = """
import json, sys
import numpy as np
from neuron_as_deep_net.ball_and_stick import cell as ball_and_stick
from neuron_as_deep_net.ball_and_stick import inputs
num_ms = int(sys.argv[1])
targets = {}
for engine in ("neuron", "coreneuron"):
    cell = ball_and_stick.BallAndStickCell(**ball_and_stick.cell_parameters("NMDA_cable"), engine=engine)
    ranges = inputs.draw_ball_and_stick_chunk_ranges(np.random.default_rng([0, 0]))
    x = inputs.generate_ball_and_stick_inputs(np.random.default_rng([0, 0, 1]), ranges, cell.num_segments, num_ms)
    soma, branches = cell.simulate(x[..., 0], x[..., 1])
    targets[engine] = ball_and_stick.saved_targets(soma, branches, num_ms)
    cell.close()
report = {}
for key, value in targets["neuron"].items():
    other = targets["coreneuron"][key]
    report[key] = [str(value.dtype) == str(other.dtype) and value.shape == other.shape,
                   float(np.abs(value.astype(float) - other.astype(float)).max())]
report["num_spikes"] = int(targets["neuron"]["output_spikes"].sum())
print(json.dumps(report))
"""


def test_ball_and_stick_coreneuron_engine_gives_the_same_targets():
    """The NMDA_cable cell over 1024 ms: the saved targets of both engines (measured: all identical)."""
    report = run_json(BALL_AND_STICK_SCRIPT, 1024)
    assert report.pop("num_spikes") >= 3
    for key, (same_layout, largest_difference) in report.items():
        assert same_layout, key
        assert largest_difference < (1e-3 if key != "output_inst_rate" else 1e-6), key
    assert report["output_spikes"][1] == 0 and report["output_near_spikes"][1] == 0


BATCHED_SCRIPT = """
import json, sys
import numpy as np
from neuron_as_deep_net.ball_and_stick import cell as ball_and_stick
from neuron_as_deep_net.ball_and_stick import dataset
cells_per_run = int(sys.argv[1])
worker = dataset.DatasetWorker(engine="coreneuron", cells_per_run=cells_per_run,
                               **ball_and_stick.cell_parameters("NMDA_cable"))
results = worker.simulate_many([(0, 0, position, 1024) for position in range(4)])
print(json.dumps([{key: np.asarray(value, dtype=float).ravel().tolist() for key, value in result.items()
                   if key != "inputs"} for result in results]))
"""


def test_ball_and_stick_cells_per_run_gives_the_same_targets_under_coreneuron():
    """Four NMDA_cable simulations of 1024 ms, one cell per CoreNEURON run in one process, three cells per run (the
    second run with two spare cells) in another: the saved targets are identical (measured: also over 8 x 8192 ms)."""
    single, batched = run_json(BATCHED_SCRIPT, 1), run_json(BATCHED_SCRIPT, 3)
    assert len(single) == len(batched) == 4
    assert sum(sum(result["output_spikes"]) for result in single) >= 3
    for one, many in zip(single, batched):
        for key in one:
            assert one[key] == many[key], key
