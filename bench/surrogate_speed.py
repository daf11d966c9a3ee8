"""How much faster is the TCN surrogate than NEURON? One 6-s L5PC simulation against the 7x128 network.

Times, for the same 6-s inputs: (a) our NEURON simulation in its faithful default (L5PCSimulator, CVODE),
(b) the dense Keras model (``model.predict`` over the whole 6 s, batched over simulations) and (c) the fast
path of ``neuron_as_deep_net.core.fast_inference`` (sparse first layer, FFT convolutions, batched), each per
simulation; prints the speed-ups and the largest output differences between (b) and (c). With
``time_overlapped`` it also times the original's overlapped-window evaluation (§7) both ways.

    python bench/surrogate_speed.py                                   # NEURON runs the full 6 s (~2 min)
    python bench/surrogate_speed.py --neuron-duration-ms 1000         # 1 s of NEURON, scaled to 6 s
    python bench/surrogate_speed.py --data-file DATA.p --model-file MODEL.h5
    python bench/surrogate_speed.py --preset smoke                    # seconds; for tests
    python bench/surrogate_speed.py --help                            # every parameter

The last line printed is ``dense_speedup=<a/b> fast_speedup=<a/c>``. Wall times are the best of
``num_repeats`` runs; the machine's load average is printed, since other processes slow the multi-threaded
network passes more than the single-threaded NEURON run.
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

# -----------------------------------------------------------------------------
# data
data_file = ""  # [file] dataset file of simulate_L5PC_and_create_dataset.py; empty = draw L5PC inputs here
random_seed = 1234  # [>= 0] numpy RandomState seed for the drawn inputs and the random weights
num_simulations = 8  # [>= 1] simulations predicted by the networks
sim_duration_ms = 6000  # [>= 1] network input per simulation
# NEURON
run_neuron = True  # time NEURON (false: use neuron_seconds_per_sim instead)
neuron_duration_ms = 6000  # [>= 1] simulated by NEURON, then scaled to sim_duration_ms (a full 6 s takes ~2 min)
neuron_solver = "cvode"  # [cvode | fixed | fast] cvode (the faithful default) | fixed (dt 0.025 ms) | fast (dt 0.05 ms)
neuron_seconds_per_sim = 0.0  # [>= 0] used when run_neuron is false: wall seconds of one sim_duration_ms simulation
morphology = ""  # [file] path of cell1.asc; empty = $L5PC_MORPHOLOGY or the default location
# model
model_file = ""  # [file] trained .keras/.h5 model; empty = build the architecture below
filter_sizes = [39, 20, 20, 20, 20, 20, 20]  # 7 layers, T = 38 + 6*19 + 1 = 153 (the paper's 7x128x153)
num_filters = 128  # [>= 1] per layer
activation = "relu"  # [relu | lrelu]
input_window_size = 400  # [>= 1] the Keras model's window (used by the overlapped evaluation)
randomize_weights = True  # O(1) random weights (untrained ones give near-constant outputs)
# timing
num_repeats = 3  # [>= 1] timed runs of each network pass; the best is reported
dense_batch_size = 4  # [>= 1] simulations per model.predict batch (dense Keras)
fast_batch_size = 8  # [>= 1] simulations per fast-path batch
fast_dense_method = "auto"  # [auto | fft | direct] the fast path's layers after the first
num_threads = 0  # [>= 0] threads of the fast path; 0 = all cores
time_overlapped = True  # also time the overlapped-window evaluation (§7), dense and fast
window_batch_size = 64  # [>= 1] windows per predict_fn call in the overlapped evaluation
# output
output_dir = ""  # if set, params.json and results.json are written here
# -----------------------------------------------------------------------------

PRESETS = {
    "paper": {},
    "quick": {"neuron_duration_ms": 1000, "num_simulations": 4, "num_repeats": 2},
    "smoke": {"num_simulations": 2, "sim_duration_ms": 500, "neuron_duration_ms": 50,
              "neuron_solver": "fixed", "filter_sizes": [9, 5, 5], "num_filters": 8, "input_window_size": 100,
              "num_repeats": 1, "window_batch_size": 16},
}


def best_time(function, repeats):
    """(best wall seconds, process CPU seconds of that run, last result) over ``repeats`` calls."""
    best = (float("inf"), 0.0)
    result = None
    for _ in range(max(1, repeats)):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if wall < best[0]:
            best = (wall, cpu)
    return best[0], best[1], result


def max_abs_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def main(argv=None):
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(globals(), PRESETS, argv, description=__doc__)
    if not p.run_neuron and p.neuron_seconds_per_sim <= 0:
        from neuron_as_deep_net.core.errors import UserError

        raise UserError("--run-neuron false needs --neuron-seconds-per-sim > 0")
    import keras

    from neuron_as_deep_net.core import fast_inference, fast_layers, model_weights, windows
    from neuron_as_deep_net.l5pc import inputs, model_files, networks
    from neuron_as_deep_net.l5pc.data_format import parse_sim_experiment_file

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
          f"(other processes compete with the timed runs)")
    rng = np.random.RandomState(p.random_seed)
    keras.utils.set_random_seed(p.random_seed)
    num_segments = networks.NUM_SEGMENTS

    # ---- inputs: from a dataset file, or drawn like simulate_L5PC_and_create_dataset.py does
    simulator = None
    if p.run_neuron or not p.data_file:
        from neuron_as_deep_net.l5pc import cell as l5pc_cell, simulator as l5pc_simulator

        if p.run_neuron:
            simulator = l5pc_simulator.L5PCSimulator(morphology_path=p.morphology or None, solver=p.neuron_solver)
            cell = simulator.cell
        else:
            cell = l5pc_cell.L5PCCell(p.morphology or None)
    if p.data_file:
        X = parse_sim_experiment_file(p.data_file)[0]
        if X.shape[0] < p.num_simulations or X.shape[1] < p.sim_duration_ms:
            from neuron_as_deep_net.core.errors import DataFileError

            raise DataFileError(p.data_file, f"it holds {X.shape[0]} simulations of {X.shape[1]} ms; "
                                             f"{p.num_simulations} of {p.sim_duration_ms} ms were asked for")
        X = np.ascontiguousarray(X[:p.num_simulations, :p.sim_duration_ms])
        num_segments = X.shape[2] // 2
        print(f"inputs: {X.shape[0]} simulations of {X.shape[1]} ms from {p.data_file}")
    else:
        metadata = cell.segment_metadata()
        X = np.zeros((p.num_simulations, p.sim_duration_ms, 2 * num_segments), bool)
        for n in range(p.num_simulations):
            ex_spikes, inh_spikes = inputs.generate_l5pc_input_spikes(
                rng, metadata["allSegmentsLength"], metadata["allSegmentsType"], p.sim_duration_ms)
            X[n, :, :num_segments] = ex_spikes.T
            X[n, :, num_segments:] = inh_spikes.T
        print(f"inputs: {X.shape[0]} simulations of {X.shape[1]} ms drawn with generate_l5pc_input_spikes")
    print(f"input density {X.mean():.4f} ({X.sum() / X.shape[0]:.0f} input spikes per simulation)")

    # ---- (a) NEURON
    if p.run_neuron:
        duration = min(p.neuron_duration_ms, p.sim_duration_ms)
        ex_spikes = X[0, :duration, :num_segments].T
        inh_spikes = X[0, :duration, num_segments:].T
        cpu = time.process_time()
        result, timings = simulator.simulate_from_binary(ex_spikes, inh_spikes, collect_dvts=True)
        l5pc_simulator.apply_original_stops([result], duration)
        neuron_cpu_seconds = (time.process_time() - cpu) * p.sim_duration_ms / duration  # incl. collection
        neuron_seconds = timings["simulation_sec"] * p.sim_duration_ms / duration
        print(f"(a) NEURON {p.neuron_solver}: {duration} ms simulated in {timings['simulation_sec']:.2f} s "
              f"(+{timings['collection_sec']:.2f} s collecting traces, not counted), "
              f"{len(result['outputSpikeTimes'])} output spikes; "
              f"{neuron_seconds:.2f} s per {p.sim_duration_ms}-ms simulation "
              f"(CPU {neuron_cpu_seconds:.2f} s)")
    else:
        neuron_seconds = neuron_cpu_seconds = p.neuron_seconds_per_sim
        print(f"(a) NEURON: {neuron_seconds:.2f} s per simulation (given, not measured)")

    # ---- model
    if p.model_file:
        model = model_files.load_model(p.model_file)
    else:
        architecture = networks.make_architecture_dict(p.filter_sizes, p.num_filters, activation=p.activation,
                                                       input_window_size=p.input_window_size)
        model = networks.build_tcn(architecture, num_segments=2 * num_segments)
        if p.randomize_weights:
            fast_inference.randomize_model_weights(model, seed=p.random_seed)
    network = fast_layers.extract_network(model)
    extent = network.temporal_extent
    print(f"model: {len(network.convs)} layers x {network.convs[0].kernel.shape[2]} filters, kernels "
          f"{[conv.kernel_size for conv in network.convs]}, T = {extent}, "
          f"{model_weights.count_parameters(model):,} parameters")
    dense_model = fast_inference.variable_length_model(model)
    fast = fast_inference.FastTCN(model, dense_method=p.fast_dense_method, num_threads=p.num_threads or None)

    # ---- (b) dense Keras, (c) fast path: warm up, then time
    X_float = X.astype(np.float32)

    def run_dense():
        return dense_model.predict(X_float, batch_size=p.dense_batch_size, verbose=0)

    def run_fast():
        return fast.predict(X, batch_size=p.fast_batch_size)

    run_dense()  # warm-up: graph tracing for these shapes, FFT plans
    run_fast()
    dense_wall, dense_cpu, dense_out = best_time(run_dense, p.num_repeats)
    fast.stage_seconds.clear()
    fast_wall, fast_cpu, fast_out = best_time(run_fast, p.num_repeats)
    num = X.shape[0]
    stages = {name: seconds / max(1, p.num_repeats) / num for name, seconds in fast.stage_seconds.items()}
    dense_seconds, fast_seconds = dense_wall / num, fast_wall / num
    diff_spikes = max_abs_diff(dense_out[0], fast_out[0])
    diff_soma = max_abs_diff(dense_out[1], fast_out[1])
    diff_dvt = max_abs_diff(dense_out[2], fast_out[2]) if len(dense_out) > 2 else 0.0
    print(f"(b) dense Keras, full length: {1000 * dense_seconds:.1f} ms per simulation "
          f"(CPU {1000 * dense_cpu / num:.1f} ms; batch {p.dense_batch_size})")
    print(f"(c) fast path, full length:   {1000 * fast_seconds:.1f} ms per simulation "
          f"(CPU {1000 * fast_cpu / num:.1f} ms; batch {p.fast_batch_size}, {fast.num_threads} threads)")
    print("    fast path per simulation: "
          + ", ".join(f"{name} {1000 * seconds:.1f} ms" for name, seconds in stages.items()))
    print(f"    largest |dense - fast|: spikes {diff_spikes:.2e}, soma {diff_soma:.2e}, "
          f"dendritic {diff_dvt:.2e}")

    results = {
        "neuron_seconds_per_sim": neuron_seconds, "neuron_cpu_seconds_per_sim": neuron_cpu_seconds,
        "fast_speedup_cpu_time": neuron_cpu_seconds / (fast_cpu / num),
        "dense_seconds_per_sim": dense_seconds,
        "fast_seconds_per_sim": fast_seconds, "dense_cpu_seconds_per_sim": dense_cpu / num,
        "fast_cpu_seconds_per_sim": fast_cpu / num, "fast_stage_seconds_per_sim": stages,
        "dense_speedup": neuron_seconds / dense_seconds, "fast_speedup": neuron_seconds / fast_seconds,
        "fast_over_dense": dense_seconds / fast_seconds, "max_abs_diff_spikes": diff_spikes,
        "max_abs_diff_soma": diff_soma, "max_abs_diff_dendritic": diff_dvt, "temporal_extent": extent,
        "load_average_1min": os.getloadavg()[0],
    }

    # ---- the original's overlapped-window evaluation (§7), dense and fast
    if p.time_overlapped:
        window = int(model.input_shape[1])
        overlap = windows.default_overlap(window, extent)
        kwargs = dict(window_size=window, overlap=overlap, batch_size=p.window_batch_size)
        dense_fn = windows.keras_predict_fn(model, batch_size=p.window_batch_size)
        fast_fn = fast_inference.fast_predict_fn(fast, batch_size=p.window_batch_size)
        overlapped_dense_wall, _, overlapped_dense = best_time(
            lambda: windows.overlapped_inference(dense_fn, X, **kwargs), 1)
        overlapped_fast_wall, _, overlapped_fast = best_time(
            lambda: windows.overlapped_inference(fast_fn, X, **kwargs), p.num_repeats)
        diff_overlapped = max_abs_diff(overlapped_dense[0], overlapped_fast[0])
        diff_full = max_abs_diff(overlapped_fast[0], fast_out[0][..., 0])
        print(f"overlapped windows (W {window}, overlap {overlap}): "
              f"dense {1000 * overlapped_dense_wall / num:.1f} ms, "
              f"fast {1000 * overlapped_fast_wall / num:.1f} ms per simulation; largest spike difference "
              f"{diff_overlapped:.2e} (fast vs dense), {diff_full:.2e} (overlapped vs full length)")
        results.update({"overlapped_dense_seconds_per_sim": overlapped_dense_wall / num,
                        "overlapped_fast_seconds_per_sim": overlapped_fast_wall / num,
                        "overlapped_max_abs_diff_spikes": diff_overlapped,
                        "overlapped_vs_full_length_max_abs_diff_spikes": diff_full})

    if p.output_dir:
        os.makedirs(p.output_dir, exist_ok=True)
        with open(os.path.join(p.output_dir, "params.json"), "w") as handle:
            json.dump(parameters_snapshot(p), handle, indent=4, sort_keys=True)
        with open(os.path.join(p.output_dir, "results.json"), "w") as handle:
            json.dump(results, handle, indent=4, sort_keys=True)

    print(f"speed-up over NEURON: dense Keras {results['dense_speedup']:.1f}x, "
          f"fast path {results['fast_speedup']:.1f}x; "
          f"fast path vs dense Keras {results['fast_over_dense']:.1f}x; "
          f"in CPU time (all cores) the fast path is {results['fast_speedup_cpu_time']:.1f}x cheaper "
          f"than NEURON")
    print(f"dense_speedup={results['dense_speedup']:.1f} fast_speedup={results['fast_speedup']:.1f}")
    return results


if __name__ == "__main__":
    from neuron_as_deep_net.core.config import run

    run(main)
