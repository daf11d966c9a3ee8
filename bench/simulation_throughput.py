"""Simulation throughput of the L5PC dataset generation: the original's approach vs ours, in one run.

Same short inputs for all four, measured as simulated seconds per wall second:
  (a) the original's approach: one process, CVODE, the cell and its synapses rebuilt for every simulation,
      events pushed from Python at initialisation, each run stopped by ``continuerun`` as the process's
      history says (the last step of the previous run, see L5PCSimulator.simulate);
  (b) our faithful default: CVODE, all workers, each worker builds the cell once and reuses it;
  (c) our fast mode (--solver fast): fixed step dt = 0.05 ms with Crank-Nicolson (secondorder 2),
      cache_efficient, all workers; ``--fast-solver fixed`` measures dt = 0.025 ms backward Euler instead;
  (d) the fast mode run by CoreNEURON (--solver coreneuron), all workers (skipped, ratio nan, where this
      NEURON has no CoreNEURON; ``--coreneuron false`` skips it too).
Prints the ratios b/a, c/a and d/a, checks that (b) equals (a) array for array, and the fidelity of (c) and
(d) against (b).

    python bench/simulation_throughput.py                       # 4 simulations of 1 s
    python bench/simulation_throughput.py --num-simulations 8 --sim-duration-sec 6
"""

import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# -----------------------------------------------------------------------------
random_seed = 1234  # [>= 0] input draws (the original's generator)
num_simulations = 4  # [>= 1] per approach
sim_duration_sec = 1.0  # [> 0] per simulation
workers = 0  # [>= 0] for (b) and (c); 0 = all cores
fast_solver = "fast"  # [fast | fixed] (c): fast (dt 0.05 ms, Crank-Nicolson) | fixed (dt 0.025 ms, backward Euler)
coreneuron = True  # measure (d), the fast mode run by CoreNEURON
morphology = None  # [file] path of cell1.asc (else $L5PC_MORPHOLOGY, else the default location)
# -----------------------------------------------------------------------------

PRESETS = {"smoke": {"num_simulations": 2, "sim_duration_sec": 0.2}}


def run_original_approach(simulation_inputs, morphology_path):
    """(a): one process, a fresh cell + synapses per simulation, CVODE."""
    from neuron_as_deep_net.l5pc.simulator import L5PCSimulator

    results = []
    for ex, inh, duration_ms in simulation_inputs:
        simulator = L5PCSimulator(morphology_path, solver="cvode", stop_like_this_process=True)
        results.append(simulator.simulate(ex, inh, duration_ms)[0])
        simulator.close()
    return results


def run_ours(simulation_inputs, morphology_path, solver, workers):
    """(b)/(c): our runner, with its workers, one cell per worker."""
    from neuron_as_deep_net.core import parallel
    from neuron_as_deep_net.l5pc.simulator import L5PCSimulator, apply_original_stops

    config = dict(morphology_path=morphology_path, solver=solver)
    with tempfile.TemporaryDirectory() as folder:
        checkpoints = parallel.ChunkCheckpoints(os.path.join(folder, "chunks"), {"bench": solver})
        outputs = parallel.run_simulations(simulation_inputs, L5PCSimulator, config, {}, checkpoints,
                                                  chunk_size=1, workers=workers, description=f"ours ({solver})")
    parallel.release_simulators()  # with 1 worker the cell lives here: the next approach must not run it too
    return apply_original_stops([result for result, _ in outputs], simulation_inputs[0][2])


def differences(first, second):
    """The entries in which two lists of simulation dicts differ: [(simulation, key, how)] (empty = identical)."""
    found = []
    for index, (a, b) in enumerate(zip(first, second)):
        for key in a:
            if isinstance(a[key], np.ndarray):
                if a[key].shape != b[key].shape:
                    found.append((index, key, f"shape {a[key].shape} vs {b[key].shape}"))
                elif not np.array_equal(a[key], b[key]):
                    unequal = a[key] != b[key]
                    largest = np.abs(a[key].astype(np.float64) - b[key].astype(np.float64)).max()
                    found.append((index, key, f"{int(unequal.sum())} of {a[key].size} values, largest {largest:.3g}"))
            elif a[key] != b[key]:
                found.append((index, key, "differs"))
    return found


def fidelity(reference, candidate):
    """Fraction of reference spikes with a candidate spike within 2 ms; soma RMSE after clipping at -55 mV."""
    matched, total, squared, count = 0, 0, 0.0, 0
    for r, c in zip(reference, candidate):
        spikes_r = r["unroundedOutputSpikeTimes"]
        spikes_c = c["unroundedOutputSpikeTimes"]
        total += len(spikes_r)
        if len(spikes_r) and len(spikes_c):
            matched += int((np.abs(spikes_r[:, None] - spikes_c[None, :]).min(axis=1) <= 2.0).sum())
        soma_r = np.minimum(r["somaVoltageLowRes"].astype(float), -55)
        soma_c = np.minimum(c["somaVoltageLowRes"].astype(float), -55)
        squared += float(((soma_r - soma_c) ** 2).sum())
        count += soma_r.size
    return (matched / total if total else 1.0), float(np.sqrt(squared / count))


def main(argv=None):
    from neuron_as_deep_net.core import coreneuron_engine, parallel
    from neuron_as_deep_net.l5pc import inputs
    from neuron_as_deep_net.l5pc.cell import L5PCCell, resolve_morphology
    from neuron_as_deep_net.l5pc.simulator import SOLVERS
    from neuron_as_deep_net.core.config import configure
    from neuron_as_deep_net.l5pc.data_format import binary_to_dict

    p = configure(globals(), PRESETS, argv, description=__doc__)
    num_workers = p.workers or parallel.default_num_workers()
    morphology_path = resolve_morphology(p.morphology)
    duration_ms = int(round(1000 * p.sim_duration_sec))
    rng = np.random.RandomState(p.random_seed)
    cell = L5PCCell(morphology_path)
    meta = cell.segment_metadata()
    cell.close()
    simulation_inputs = []
    for _ in range(p.num_simulations):
        ex, inh = inputs.generate_l5pc_input_spikes(rng, meta["allSegmentsLength"], meta["allSegmentsType"], duration_ms)
        simulation_inputs.append((binary_to_dict(ex), binary_to_dict(inh), duration_ms))
    simulated_seconds = p.num_simulations * p.sim_duration_sec

    timings = {}
    started = time.time()
    original = run_original_approach(simulation_inputs, morphology_path)
    timings["a"] = time.time() - started
    started = time.time()
    faithful = run_ours(simulation_inputs, morphology_path, "cvode", num_workers)
    timings["b"] = time.time() - started
    started = time.time()
    fast = run_ours(simulation_inputs, morphology_path, p.fast_solver, num_workers)
    timings["c"] = time.time() - started
    available, reason = coreneuron_engine.availability()
    run_d = p.coreneuron and available
    if run_d:
        started = time.time()
        cored = run_ours(simulation_inputs, morphology_path, "coreneuron", num_workers)
        timings["d"] = time.time() - started

    rates = {key: simulated_seconds / value for key, value in timings.items()}
    differing = differences(original, faithful)
    same = not differing
    spike_match, soma_rmse = fidelity(faithful, fast)
    core_match, core_rmse = fidelity(faithful, cored) if run_d else (float("nan"), float("nan"))
    rates["d"] = rates.get("d", float("nan"))
    print(f"{p.num_simulations} simulations x {p.sim_duration_sec:g} s, {num_workers} workers")
    print(f"(a) original approach (1 process, rebuild per sim, CVODE): {timings['a']:.1f} s, {rates['a']:.4f} sim-s/wall-s")
    print(f"(b) ours, faithful (CVODE, {num_workers} workers):            {timings['b']:.1f} s, {rates['b']:.4f} sim-s/wall-s")
    print(f"(c) ours, {p.fast_solver} ({SOLVERS[p.fast_solver]}, {num_workers} workers): "
          f"{timings['c']:.1f} s, {rates['c']:.4f} sim-s/wall-s")
    if run_d:
        print(f"(d) ours, coreneuron ({SOLVERS['coreneuron']}, {num_workers} workers): "
              f"{timings['d']:.1f} s, {rates['d']:.4f} sim-s/wall-s")
    else:
        print(f"(d) ours, coreneuron: skipped ({reason or 'coreneuron = False'})")
    print(f"b/a = {rates['b'] / rates['a']:.2f}x, c/a = {rates['c'] / rates['a']:.2f}x, "
          f"d/a = {rates['d'] / rates['a']:.2f}x, d/c = {rates['d'] / rates['c']:.2f}x; (b) identical to (a): {same}")
    for index, key, how in differing:
        print(f"  (b) vs (a), simulation {index}, {key}: {how}")
    print(f"fidelity of (c) vs (b): {100 * spike_match:.1f}% of spikes within +-2 ms, clipped soma RMSE {soma_rmse:.3f} mV")
    print(f"fidelity of (d) vs (b): {100 * core_match:.1f}% of spikes within +-2 ms, clipped soma RMSE {core_rmse:.3f} mV")
    print(f"faithful_ratio={rates['b'] / rates['a']:.2f} fast_ratio={rates['c'] / rates['a']:.2f} "
          f"fast_spike_match={spike_match:.3f} fast_soma_rmse_mV={soma_rmse:.3f} "
          f"coreneuron_ratio={rates['d'] / rates['a']:.2f} coreneuron_spike_match={core_match:.3f} "
          f"coreneuron_soma_rmse_mV={core_rmse:.3f}")
    return rates


if __name__ == "__main__":
    from neuron_as_deep_net.core.config import run

    run(main)
