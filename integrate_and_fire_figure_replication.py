"""Figure 1: an integrate-and-fire neuron is mimicked by a single-unit temporally convolutional network.

Simulates a leaky I&F neuron under 80 excitatory and 20 inhibitory random inputs, trains a 1-filter causal
convolution (80-ms kernel) with a spike head and a soma head, evaluates it on held-out simulations with
overlapped windows, and draws the panels of Figure 1 (spec §5).

    python integrate_and_fire_figure_replication.py --preset quick --output-dir OUT/IF     # minutes on a CPU
    python integrate_and_fire_figure_replication.py --preset paper --output-dir OUT/IF     # the original sizes
    python integrate_and_fire_figure_replication.py --help                                   # every parameter

Writes into the output folder: the Figure 1 PNGs (``figure1B spike predictions``, ``figure1C voltage
predictions``, ``figure1D learned_weights``, ``figure1_full_figure_v3``), ``results.json`` and ``params.json``.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from neuron_as_deep_net.core.config import option_name, run  # noqa: E402
from neuron_as_deep_net.core.errors import UserError  # noqa: E402

# -----------------------------------------------------------------------------
# data
random_seed = 1234  # [>= 0, < 4294967296] seeds numpy's legacy RandomState; the same seed gives the original's inputs
num_exc_synapses = 80  # [>= 1] excitatory synapses, weight +1
num_inh_synapses = 20  # [>= 1] inhibitory synapses, weight -1
sim_duration_ms = 6000  # [>= 1] per simulation
num_ex_spikes_per_100ms_range = [0, 50]  # [each >= 0] total excitatory spikes [low, high] per 100 ms, whole population
num_ex_inh_spike_diff_per_100ms_range = [-50, -15]  # inhibitory minus excitatory count [low, high] per 100 ms
rate_interval_options_ms = [25, 30, 35, 40, 50, 60, 70, 80, 90, 100]  # [each >= 1] rate-block lengths
smoothing_sigma_options_ms = [40, 60, 80, 100]  # [each > 0] Gaussian smoothing of the rates
jitter_range_ms = 20  # [>= 0] +-jitter of both
num_simulations_train = 12000  # [>= 1] training simulations
num_simulations_test = 1000  # [>= 1] test simulations
# cell
v_reset_mv = -75.0  # reset potential
v_threshold_mv = -55.0  # spike threshold
current_to_voltage_mv = 2.0  # [> 0] soma voltage per unit of filtered input
tau_m_ms = 20.0  # [> 0] membrane time constant
# model
window_size_ms = 500  # [>= 1] training window
kernel_size_ms = 80  # [>= 1] temporal extent of the single filter
# training
learning_rate = 3e-4  # [> 0] Nadam
num_training_iterations = 100  # [>= 1] each: one random 500-ms slice of every training sim, one epoch
batch_size = 16  # [>= 1] windows per batch
validation_split = 0.05  # [>= 0, < 1] the last 5 % of training sims
# evaluation
test_overlap_ms = 120  # [>= 0] overlap of the stitched test windows (16 splits of 500 ms)
desired_false_positive_rate = 0.002  # [> 0, < 1] operating point for thresholds and 'TP @ FP'
selected_trace = 937  # test simulation shown in the full figure (the original's); used if it exists
inference_path = "auto"  # [auto | fast | keras] test predictions: fast = sparse first layer + FFT (the CPU's path), keras = Keras predict (a GPU's); auto: by the device
# output
output_dir = "output/integrate_and_fire"  # everything is written here
figure_formats = ["png"]  # [each png | pdf | svg] (add pdf and/or svg)
# -----------------------------------------------------------------------------

PRESETS = {
    "paper": {},
    # quick: 1/6 of the data, 1/40 of the steps; a 10x learning rate lets the soma head converge in that time
    "quick": {"num_simulations_train": 2000, "num_simulations_test": 300, "num_training_iterations": 40,
              "learning_rate": 3e-3},
    "smoke": {"num_simulations_train": 64, "num_simulations_test": 8, "num_training_iterations": 2,
              "learning_rate": 3e-3},
}


def peak_memory_mb():
    """Peak resident memory of this process in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def spike_statistics(input_spikes, output_spikes, num_exc):
    """The original's printed statistics: input rates (Hz per synapse), output rate (Hz) and ISI-CV."""
    exc_rate = float(input_spikes[:, :, :num_exc].mean(dtype=np.float64) * 1000)
    inh_rate = float(input_spikes[:, :, num_exc:].mean(dtype=np.float64) * 1000)
    output_rate = float(output_spikes.mean(dtype=np.float64) * 1000)
    sims, times = np.nonzero(output_spikes)
    same_sim = np.diff(sims) == 0
    isis = np.diff(times)[same_sim]
    isi_cv = float(isis.std() / isis.mean()) if isis.size > 1 else float("nan")
    return exc_rate, inh_rate, output_rate, isi_cv


def check_parameters(p):
    """The checks across parameters (UserError): ranges, jitter against its options, cell, windows."""
    for name in ("num_ex_spikes_per_100ms_range", "num_ex_inh_spike_diff_per_100ms_range"):
        value = getattr(p, name)
        if len(value) != 2 or not all(isinstance(v, (int, float)) for v in value) or value[0] > value[1]:
            raise UserError(f"{option_name(name)} must be two numbers [low, high] with low <= high (got {value!r})")
    for name in ("rate_interval_options_ms", "smoothing_sigma_options_ms"):
        if not getattr(p, name):
            raise UserError(f"{option_name(name)} needs at least one value")
        if min(getattr(p, name)) <= p.jitter_range_ms:
            raise UserError(f"{option_name(name)}: every option must exceed --jitter-range-ms ({p.jitter_range_ms}) "
                            f"so a jittered value stays positive (got {min(getattr(p, name))})")
    if p.v_reset_mv >= p.v_threshold_mv:
        raise UserError(f"--v-reset-mv ({p.v_reset_mv}) must be below --v-threshold-mv ({p.v_threshold_mv})")
    if p.kernel_size_ms > p.window_size_ms:
        raise UserError(f"--window-size-ms ({p.window_size_ms}) must be at least --kernel-size-ms "
                        f"({p.kernel_size_ms}), the filter's receptive field")
    if p.sim_duration_ms < p.window_size_ms + 2:
        raise UserError(f"--sim-duration-ms ({p.sim_duration_ms}) must exceed --window-size-ms ({p.window_size_ms}) "
                        f"by at least 2 ms (training draws a window start in [0, T - window - 1))")
    if p.test_overlap_ms >= p.window_size_ms:
        raise UserError(f"--test-overlap-ms ({p.test_overlap_ms}) must be smaller than --window-size-ms "
                        f"({p.window_size_ms})")


def main(argv=None, devices=None):
    """Run the script with ``argv`` (default: the command line); ``devices`` injects the device list (tests)."""
    from neuron_as_deep_net.core import devices as core_devices
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(globals(), PRESETS, argv, description=__doc__)
    start_time = time.time()
    check_parameters(p)
    setup, inference_path = core_devices.setup_inference(devices, p.inference_path)
    os.makedirs(p.output_dir, exist_ok=True)

    import keras
    from tqdm import tqdm

    from neuron_as_deep_net.core import metrics, model_weights, plotting, windows
    from neuron_as_deep_net.integrate_and_fire import figures, inputs, network
    from neuron_as_deep_net.integrate_and_fire import cell as iaf
    from neuron_as_deep_net.core.files import atomic_write
    from neuron_as_deep_net.integrate_and_fire.training import train_integrate_and_fire_network

    # ---- data: the original's global RandomState; the first generator call only probes the shape
    rng = np.random.RandomState(p.random_seed)
    keras.utils.set_random_seed(p.random_seed)
    generator_kwargs = dict(
        num_exc_synapses=p.num_exc_synapses, num_inh_synapses=p.num_inh_synapses,
        sim_duration_ms=p.sim_duration_ms, num_ex_spikes_per_100ms_range=p.num_ex_spikes_per_100ms_range,
        num_ex_inh_spike_diff_per_100ms_range=p.num_ex_inh_spike_diff_per_100ms_range,
        rate_interval_options_ms=p.rate_interval_options_ms, smoothing_sigma_options_ms=p.smoothing_sigma_options_ms,
        rate_interval_jitter_range_ms=p.jitter_range_ms, smoothing_sigma_jitter_range_ms=p.jitter_range_ms)
    weights = np.r_[np.ones(p.num_exc_synapses), -np.ones(p.num_inh_synapses)]
    cell_kwargs = dict(v_reset=p.v_reset_mv, v_threshold=p.v_threshold_mv,
                       current_to_voltage_mv=p.current_to_voltage_mv, tau_m_ms=p.tau_m_ms)

    def make_dataset(num_simulations, name):
        t0 = time.time()
        X = inputs.generate_multiple_integrate_and_fire_simulations(
            rng, num_simulations, progress=lambda it: tqdm(it, desc=f"generating {name} inputs", unit="sim",
                                                           mininterval=2), **generator_kwargs)
        y_soma, y_spike = iaf.simulate_integrate_and_fire(X, weights, **cell_kwargs)
        print(f"{name}: {num_simulations} simulations generated in {time.time() - t0:.1f} s")
        return X, y_spike, y_soma

    X_train, y_spike_train, y_soma_train = make_dataset(p.num_simulations_train, "train")
    X_test, y_spike_test, y_soma_test = make_dataset(p.num_simulations_test, "test")

    train_exc_rate, train_inh_rate, train_output_rate, train_isi_cv = spike_statistics(
        X_train, y_spike_train, p.num_exc_synapses)
    test_output_rate = spike_statistics(X_test, y_spike_test, p.num_exc_synapses)[2]
    print(f"training input rates: excitatory {train_exc_rate:.2f} Hz, inhibitory {train_inh_rate:.2f} Hz")
    print(f"output rates: train {train_output_rate:.3f} Hz, test {test_output_rate:.3f} Hz; "
          f"train ISI-CV {train_isi_cv:.3f}")

    # ---- model and training (soma target is centred on the training mean)
    soma_bias = float(y_soma_train.mean(dtype=np.float64))
    model = network.build_integrate_and_fire_network(window_size=p.window_size_ms,
                                                      num_synapses=p.num_exc_synapses + p.num_inh_synapses,
                                                      kernel_size=p.kernel_size_ms, learning_rate=p.learning_rate)
    model.summary(print_fn=lambda line, **kwargs: print(line))
    t0 = time.time()
    history = train_integrate_and_fire_network(
        model, X_train, y_spike_train, y_soma_train - soma_bias, p.num_training_iterations, p.window_size_ms,
        p.batch_size, p.validation_split, rng)
    training_time = time.time() - t0
    print(f"training took {training_time:.1f} s")
    del X_train

    # ---- overlapped test inference and evaluation
    t0 = time.time()
    spikes_pred, soma_pred = windows.overlapped_inference(
        core_devices.inference_predict_fn(model, inference_path, batch_size=256), X_test, p.window_size_ms,
        p.test_overlap_ms)
    print(f"predicting {p.num_simulations_test} test simulations ({inference_path} path) took "
          f"{time.time() - t0:.1f} s")
    soma_pred = soma_pred + soma_bias
    results = metrics.extract_key_results(y_spike_test, spikes_pred, y_soma_test, soma_pred)
    fpr, tpr, thresholds = metrics.roc(y_spike_test, spikes_pred)
    threshold, threshold_index = metrics.threshold_at_fp(fpr, thresholds, p.desired_false_positive_rate)
    print(f"AUC = {results['AUC']:.5f}; at {fpr[threshold_index]:.4f} FP rate, TP = {tpr[threshold_index]:.4f}")
    print(f"soma: explained variance {results['soma_explained_variance_percent']:.2f} %, "
          f"RMSE {results['soma_RMSE']:.3f} mV")
    recall_time_ms, recall_curve = metrics.spike_recall_curve(y_spike_test, spikes_pred > threshold)

    # ---- figures
    fig_rng = np.random.RandomState(p.random_seed)
    suffix = int(fig_rng.randint(100000))
    kernel = model_weights.first_layer_weights(model)[0]
    save = lambda fig, name: plotting.save_figure(fig, p.output_dir, name, p.figure_formats)  # noqa: E731
    save(figures.plot_learned_weights(kernel, p.num_exc_synapses), f"figure1D learned_weights {suffix}")
    save(figures.plot_spike_predictions(y_spike_test, spikes_pred, fpr, tpr, results["AUC"], threshold_index,
                                         p.desired_false_positive_rate, recall_time_ms, recall_curve),
         f"figure1B spike predictions {suffix}")
    save(figures.plot_voltage_predictions(y_soma_test, soma_pred, fig_rng), f"figure1C voltage predictions {suffix}")
    trace = choose_trace(p.selected_trace, y_spike_test)
    print(f"selected trace: {trace}")
    chosen = fig_rng.choice(y_soma_test.size, size=min(20000, y_soma_test.size), replace=False)
    scatter = (y_soma_test.ravel()[chosen] + 0.02 * fig_rng.randn(chosen.size), soma_pred.ravel()[chosen])
    save(figures.plot_if_full_figure(X_test[trace], y_soma_test[trace], y_spike_test[trace], soma_pred[trace],
                                      spikes_pred[trace] > threshold, (0.295, 0.53), fpr, tpr, results["AUC"],
                                      threshold_index, recall_time_ms, recall_curve, kernel, p.num_exc_synapses,
                                      scatter),
         f"figure1_full_figure_v3_{suffix}")

    # ---- results
    results.update({
        "train_exc_input_rate_hz": train_exc_rate, "train_inh_input_rate_hz": train_inh_rate,
        "train_output_rate_hz": train_output_rate, "test_output_rate_hz": test_output_rate,
        "train_ISI_CV": train_isi_cv, "num_simulations_train": p.num_simulations_train,
        "num_simulations_test": p.num_simulations_test, "random_seed": p.random_seed,
        "threshold_at_desired_fp": float(threshold), "training_time_sec": training_time,
        "final_train_spikes_loss": history["spikes_loss"][-1], "selected_trace": int(trace),
        "peak_memory_MB": peak_memory_mb(), "runtime_sec": time.time() - start_time,
        "device_report": setup.report, "inference_path": inference_path,
    })
    for name, payload in (("results.json", results), ("params.json", parameters_snapshot(p))):
        with atomic_write(os.path.join(p.output_dir, name), "w") as handle:
            json.dump(payload, handle, indent=4, sort_keys=True)
    print(f"peak memory {results['peak_memory_MB']:.0f} MB; total runtime {results['runtime_sec']:.1f} s; "
          f"results in {os.path.join(p.output_dir, 'results.json')}")
    return results


def choose_trace(preferred_index, y_spikes):
    """The original's hard-coded trace if it exists, else the test sim whose spike count is the median one."""
    if 0 <= preferred_index < len(y_spikes):
        return preferred_index
    counts = y_spikes.sum(axis=1)
    return int(np.argsort(counts, kind="stable")[len(counts) // 2])


if __name__ == "__main__":
    run(main)
