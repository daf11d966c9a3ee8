"""Plots of an L5PC dataset: dendritic voltages on the morphology, inputs and outputs, input rates (spec §4).

Reads every dataset file (``*_secDuration_*.p``, as written by simulate_L5PC_and_create_dataset.py) in
``--data-dir`` (or, if there are none there, in its sub-folders), and writes into ``--output-dir``:

* ``<T>__DVT_<dur>_ms_<rand>``: the 639 dendritic voltage traces of one simulation, coloured like the
  segments on the morphology, with the soma (black) and nexus (red) traces, one figure per time window;
* ``<T>__input_output_<rand>``: input raster, smoothed input spike counts and the soma trace of one simulation;
* ``<T>__soma_traces_<rand>``: five soma traces;
* ``<T>__inst_rates_<rand>``: input spikes per ms of the six groups (exc./inh. x basal, oblique, tuft), five sims;
* ``<T>__inout_rates_histograms_<w>_ms`` and ``<T>__inout_rates_scatter_<w>_ms`` for w = 100, 200, 1000 ms:
  input and output spike counts per w-ms window;
* ``<T>__dataset_summary.json``: the files, the chosen simulations, input/output rates and the parameters.

    python dataset_exploration.py --data-dir output/data --output-dir output/figures/NMDA
    python dataset_exploration.py --data-dir DIR --model-string AMPA_SK --figure-formats png,pdf,svg
    python dataset_exploration.py --help

``<T>`` is ``--model-string`` (NMDA, AMPA or AMPA_SK; empty: AMPA_SK if the data folder name says SKE2_mult_10,
else the files' excitatory synapse type). ``<rand>`` is a number drawn from the seeded generator, as the original
appended a random number to these names. The morphology dict is read from ``morphology_dict.pickle`` beside the
data; if there is none it is built from the L5PC model (``--morphology``, default cell1.asc) and cached there
(or in the output folder if the data folder is read-only).

Differences from the original script (spec §4, §12), all deliberate:

* Simulations: the original needed at least 1000 test simulations for the rate statistics; here
  min(``max_num_simulations``, available) are drawn without replacement. Files are read in sorted order.
* Spike counts (which simulations qualify for a figure) use the dataset labels, 1 at int(t - 0.5) (§1.3); the
  original wrote 30 mV at int(t), which can index past the end for a spike stored as the last sample.
* Smoothed input counts are drawn from ``smoothing_box_ms`` on: the original's ``plt.plot(...)[tau:]`` sliced the
  list plot() returns and dropped nothing.
* Multi-row figures label the x axis of the last row: the original's ``if k == num_plots`` was never true.
* DVT windows are defined for 6-s simulations, all centred at 3000 ms. For another duration T each window keeps
  its length, is centred at T/2 and clipped to [0, T]; windows that coincide after clipping are drawn once (for
  2-s files: 900-1100, 800-1200, 700-1300, 600-1400, 400-1600 and 0-2000 ms).
* When no simulation has the required number of spikes, any simulation is used (and a note is printed).
* The five unsaved group-rate + soma figures of the original are not drawn.
* Regions (basal, oblique, tuft) come from the morphology (neuron_as_deep_net/l5pc/morphology.py), not from the
  hard-coded ``basal_cutoff=262, tuft_cutoff=[366,559]``; for cell1.asc they are the same.
"""

import glob
import json
import os
import re
import time

import numpy as np

from neuron_as_deep_net.core.config import run
from neuron_as_deep_net.core.errors import UserError

# -----------------------------------------------------------------------------
# data
data_dir = "output/data"  # [folder] folder with the dataset .p files (or with dataset folders one level down)
morphology = ""  # [file] cell1.asc, to build the morphology dict when none is beside the data ('' = default location)
model_string = ""  # ["" | NMDA | AMPA | AMPA_SK] the figure-name prefix; '' = from the data
max_num_simulations = 1000  # [>= 1] simulations drawn for the rate statistics (the original: exactly 1000)
# figures
dvt_windows_ms = [[2900, 3100], [2800, 3200], [2700, 3300], [2600, 3400], [2400, 3600], [500, 5500]]  # windows [start, end] for 6-s sims
dvt_spike_range = [4, 30]  # output spikes [low, high] of the DVT simulation (from the first file)
input_output_spike_range = [3, 30]  # output spikes [low, high] of the input/output simulation
num_example_sims = 5  # [>= 1] soma traces and instantaneous-rate panels
smoothing_box_ms = 18  # [>= 1] box filter of the input spike counts
rate_windows_ms = [100, 200, 1000]  # [each >= 1] windows of the input/output count statistics
random_seed = 1234  # [>= 0] all random choices
# output
output_dir = "output/figures/dataset_exploration"  # figures and the summary json
figure_formats = ["png"]  # [each png | pdf | svg] (pdf and svg are written to pdf/ and svg/ sub-folders)
# -----------------------------------------------------------------------------

PRESETS = {
    "paper": {},
    "smoke": {"max_num_simulations": 50, "rate_windows_ms": [100, 200]},
}
DATASET_GLOB = "*_secDuration_*.p"
REFERENCE_DURATION_MS = 6000
GROUP_LABELS = [("exc", "basal"), ("exc", "oblique"), ("exc", "tuft"), ("inh", "basal"), ("inh", "oblique"),
                ("inh", "tuft")]


def find_dataset_files(folder):
    """Dataset files in ``folder``, else in its sub-folders; sorted (the original used glob order)."""
    files = sorted(glob.glob(os.path.join(glob.escape(folder), DATASET_GLOB)))
    if not files:
        files = sorted(glob.glob(os.path.join(glob.escape(folder), "*", DATASET_GLOB)))
    if not files:
        raise UserError(f"no dataset files ({DATASET_GLOB}) in {folder} or its sub-folders; make some with "
                        f"simulate_L5PC_and_create_dataset.py")
    return files


def infer_model_string(path, params):
    """'AMPA_SK' if the dataset folder is the SK-attenuated one, else the excitatory synapse type of the file."""
    if "SKE2_mult_10_" in os.path.basename(os.path.dirname(os.path.abspath(path))):
        return "AMPA_SK"
    return str(params.get("excitatorySynapseType", "NMDA"))


def short_file_label(name):
    """'seed 1234' for the dataset files' names (which end in randomSeed_<seed>.p), else the name itself."""
    match = re.search(r"randomSeed_(\w+?)\.p$", name)
    return f"seed {match.group(1)}" if match else name


def fit_windows(windows_ms, duration_ms, reference_ms=REFERENCE_DURATION_MS):
    """The DVT windows for ``duration_ms``-long sims: same length, centred at duration/2, clipped (docstring)."""
    shift = (duration_ms - reference_ms) / 2.0
    fitted = []
    for start, end in windows_ms:
        window = (int(round(max(0.0, start + shift))), int(round(min(float(duration_ms), end + shift))))
        if window[1] - window[0] >= 2 and window not in fitted:
            fitted.append(window)
    return fitted


def spike_times_dict_to_arrays(spike_times):
    """(rows, times) int64 arrays from a {segment: [times]} dict."""
    if not spike_times:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    counts = [len(times) for times in spike_times.values()]
    rows = np.repeat(np.fromiter(spike_times.keys(), dtype=np.int64, count=len(counts)), counts)
    times = np.concatenate([np.asarray(t, dtype=np.float64).reshape(-1) for t in spike_times.values()])
    return rows, times.astype(np.int64)


def group_counts(sim, region_ids, num_regions, duration):
    """Input spikes per ms of the six groups (exc. then inh. x regions), int32 (6, T)."""
    counts = []
    for key in ("exInputSpikeTimes", "inhInputSpikeTimes"):
        rows, times = spike_times_dict_to_arrays(sim[key])
        keep = (times >= 0) & (times < duration)
        flat = region_ids[rows[keep]] * duration + times[keep]
        counts.append(np.bincount(flat, minlength=num_regions * duration).reshape(num_regions, duration))
    return np.vstack(counts).astype(np.int32)


def windowed_counts(per_ms, window_ms):
    """Counts in a ``window_ms`` box ('same') sampled every window/2 from window/2 (spec §4), per sim, concatenated."""
    per_ms = np.atleast_2d(per_ms).astype(float)
    half = max(1, window_ms // 2)
    box = np.ones(window_ms)
    samples = np.arange(half, per_ms.shape[1], half)
    return np.concatenate([np.convolve(row, box, mode="same")[samples] for row in per_ms])


def main(argv=None):
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(globals(), PRESETS, argv, description=__doc__)
    start_time = time.time()
    from neuron_as_deep_net.l5pc import morphology as morph_tools
    from neuron_as_deep_net.core import plotting
    from neuron_as_deep_net.l5pc import evaluation, figures_dataset
    from neuron_as_deep_net.core.files import atomic_write
    from neuron_as_deep_net.l5pc.data_format import (check_pickle_file, dict_to_binary, load_experiment,
                                                     spike_times_to_labels)

    for option, spike_range in (("--dvt-spike-range", p.dvt_spike_range),
                                ("--input-output-spike-range", p.input_output_spike_range)):
        evaluation.check_spike_range(spike_range, option)
    for window in p.dvt_windows_ms:
        if not (isinstance(window, list) and len(window) == 2 and all(isinstance(v, (int, float)) for v in window)
                and 0 <= window[0] < window[1]):
            raise UserError(f"--dvt-windows-ms: each window is [start, end] with 0 <= start < end (got {window!r})")
    rng = np.random.default_rng(p.random_seed)
    files = find_dataset_files(p.data_dir)
    for path in files:
        check_pickle_file(path)  # cheap: an empty or truncated file stops the run before anything is written
    print(f"{len(files)} dataset file(s) in {p.data_dir}")

    # ---- data: one file at a time; keep compact per-sim summaries and the few sims the figures need
    region_ids = None
    summaries = {"counts": [], "soma": [], "spikes": []}
    sim_sources = []
    dvt_sim = input_output_candidate = None
    num_io_eligible = 0
    model_label = p.model_string
    morph = None
    duration = None
    for file_index, path in enumerate(files):
        t0 = time.time()
        experiment = load_experiment(path)
        params = experiment["Params"]
        sims = experiment["Results"]["listOfSingleSimulationDicts"]
        file_duration = len(sims[0]["somaVoltageLowRes"])
        if duration is None:
            duration = file_duration
            model_label = model_label or infer_model_string(path, params)
            num_segments = len(params.get("allSegmentsType", [])) or len(sims[0].get("dendriticVoltagesLowRes", []))
            morph, morph_path = morph_tools.load_morphology_dict(
                [os.path.dirname(path)], p.morphology or None, fallback_cache_dir=p.output_dir,
                num_segments=num_segments or None)
            regions = morph_tools.segment_regions(morph)
            region_ids = np.array([figures_dataset.REGION_ORDER.index(r) for r in regions])
            print("regions: " + ", ".join(f"{r} {np.sum(regions == r)}" for r in figures_dataset.REGION_ORDER)
                  + " segments")
        elif file_duration != duration:
            print(f"skipping {os.path.basename(path)}: {file_duration} ms simulations, the first file has {duration}")
            continue
        spike_labels = np.array([spike_times_to_labels(sim["outputSpikeTimes"], duration) for sim in sims])
        spike_counts = spike_labels.sum(axis=1)
        for sim_index, sim in enumerate(sims):
            summaries["counts"].append(group_counts(sim, region_ids, len(figures_dataset.REGION_ORDER), duration))
            summaries["soma"].append(np.asarray(sim["somaVoltageLowRes"], dtype=np.float32))
            summaries["spikes"].append(spike_labels[sim_index])
            sim_sources.append((os.path.basename(path), sim_index))
            lo, hi = p.input_output_spike_range
            if lo <= spike_counts[sim_index] <= hi:  # reservoir sampling: a uniform choice in one pass
                num_io_eligible += 1
                if rng.random() < 1.0 / num_io_eligible:
                    input_output_candidate = (len(sim_sources) - 1, sim["exInputSpikeTimes"], sim["inhInputSpikeTimes"])
        if file_index == 0:
            chosen = int(evaluation.choose_sims_in_spike_range(rng, spike_counts, p.dvt_spike_range, 1, "DVT figure")[0])
            sim = sims[chosen]
            if "dendriticVoltagesLowRes" in sim:
                high_res_time = sim.get("recordingTimeHighRes")
                dvt_sim = {"index": chosen, "file": os.path.basename(path), "num_spikes": int(spike_counts[chosen]),
                           "dvts": np.asarray(sim["dendriticVoltagesLowRes"]),
                           "high_res_time": np.asarray(high_res_time if high_res_time is not None
                                                       else np.arange(duration), dtype=float),
                           "soma_high": np.asarray(sim.get("somaVoltageHighRes", sim["somaVoltageLowRes"])),
                           "nexus_high": np.asarray(sim.get("nexusVoltageHighRes", sim["somaVoltageLowRes"]))}
            else:
                print("the first file has no DVTs (saved with --no-dvts): no DVT figures")
        del experiment, sims
        print(f"  {os.path.basename(path)}: {len(spike_counts)} sims of {duration} ms, "
              f"{int(spike_counts.sum())} output spikes ({time.time() - t0:.1f} s)")

    counts = np.stack(summaries["counts"])  # (sims, 6, T)
    soma = np.stack(summaries["soma"])
    spikes = np.stack(summaries["spikes"])
    num_sims = len(sim_sources)
    spike_counts = spikes.sum(axis=1)
    time_ms = np.arange(duration, dtype=float)
    prefix = model_label
    save = lambda fig, name: plotting.save_figure(fig, p.output_dir, f"{prefix}__{name}", p.figure_formats)  # noqa
    polylines = morph_tools.segment_polylines(morph)
    soma_xy = morph_tools.soma_xy(morph)
    limits = morph_tools.drawing_limits(morph)
    written = []

    # ---- 1. DVTs on the morphology
    if dvt_sim is not None:
        suffix = int(rng.integers(100000))
        color_values = morph_tools.segment_color_values(morph)
        for start, end in fit_windows(p.dvt_windows_ms, duration):
            fig = figures_dataset.plot_dvt_figure(polylines, color_values, soma_xy, limits, time_ms, dvt_sim["dvts"],
                                           dvt_sim["high_res_time"], dvt_sim["soma_high"], dvt_sim["nexus_high"],
                                           (start, end))
            written += save(fig, f"DVT_{end - start}_ms_{suffix}")
        print(f"DVT figures: sim {dvt_sim['index']} of {dvt_sim['file']} ({dvt_sim['num_spikes']} spikes)")

    # ---- 2. inputs and output of one simulation
    if input_output_candidate is None:
        print(f"note: no simulation has {p.input_output_spike_range[0]}-{p.input_output_spike_range[1]} output "
              f"spikes; the input/output figure uses the first one")
        experiment = load_experiment(files[0])
        first = experiment["Results"]["listOfSingleSimulationDicts"][0]
        input_output_candidate = (0, first["exInputSpikeTimes"], first["inhInputSpikeTimes"])
        del experiment
    io_index, ex_times, inh_times = input_output_candidate
    num_segments = len(region_ids)
    fig = figures_dataset.plot_input_output(dict_to_binary(ex_times, num_segments, duration),
                                     dict_to_binary(inh_times, num_segments, duration), soma[io_index],
                                     box_ms=p.smoothing_box_ms)
    written += save(fig, f"input_output_{int(rng.integers(100000))}")
    print(f"input/output figure: sim {sim_sources[io_index]} ({int(spike_counts[io_index])} spikes)")

    # ---- 3. soma traces and 4. input rates per region
    examples = rng.choice(num_sims, size=min(p.num_example_sims, num_sims), replace=False)
    labels = [f"{short_file_label(sim_sources[k][0])}, sim {sim_sources[k][1]} ({int(spike_counts[k])} spikes)"
              for k in examples]
    written += save(figures_dataset.plot_soma_traces(time_ms, soma[examples], labels),
                    f"soma_traces_{int(rng.integers(100000))}")
    examples = rng.choice(num_sims, size=min(p.num_example_sims, num_sims), replace=False)
    labels = [f"{short_file_label(sim_sources[k][0])}, sim {sim_sources[k][1]}" for k in examples]
    written += save(figures_dataset.plot_inst_rates(time_ms, counts[examples], GROUP_LABELS, labels, p.smoothing_box_ms),
                    f"inst_rates_{int(rng.integers(100000))}")

    # ---- 5. input/output counts per window
    num_stat_sims = min(p.max_num_simulations, num_sims)
    stat_sims = rng.choice(num_sims, size=num_stat_sims, replace=False)
    print(f"rate statistics over {num_stat_sims} of {num_sims} simulations")
    exc_per_ms = counts[stat_sims, :3].sum(axis=1)
    inh_per_ms = counts[stat_sims, 3:].sum(axis=1)
    out_per_ms = spikes[stat_sims].astype(float)
    for window in p.rate_windows_ms:
        window = int(window)
        if window // 2 >= duration:
            print(f"skipping the {window}-ms window statistics: the simulations last {duration} ms")
            continue
        exc, inh, out = (windowed_counts(x, window) for x in (exc_per_ms, inh_per_ms, out_per_ms))
        written += save(figures_dataset.plot_inout_rate_histograms(exc, inh, out, window),
                        f"inout_rates_histograms_{window}_ms")
        written += save(figures_dataset.plot_inout_rate_scatter(exc, inh, out, window), f"inout_rates_scatter_{window}_ms")

    # ---- summary
    segments_per_group = np.array([np.sum(region_ids == r) for r in range(3)] * 2, dtype=float)
    group_rates_hz = counts.sum(axis=(0, 2)) / (segments_per_group * num_sims * duration / 1000.0)
    summary = {
        "files": [os.path.basename(f) for f in files], "num_simulations": num_sims, "duration_ms": int(duration),
        "model_string": model_label, "morphology_dict": morph_path,
        "input_rate_hz_per_synapse": {f"{kind} {region}": float(rate)
                                      for (kind, region), rate in zip(GROUP_LABELS, group_rates_hz)},
        "output_rate_hz": float(spike_counts.sum() / (num_sims * duration / 1000.0)),
        "num_simulations_for_rate_statistics": int(num_stat_sims),
        "dvt_simulation": None if dvt_sim is None else [dvt_sim["file"], dvt_sim["index"]],
        "input_output_simulation": list(sim_sources[io_index]),
        "figures": [os.path.relpath(path, p.output_dir) for path in written],
        "params": parameters_snapshot(p), "runtime_sec": time.time() - start_time,
    }
    for name, rate in summary["input_rate_hz_per_synapse"].items():
        print(f"  {name}: {rate:.3f} Hz per synapse")
    print(f"  output: {summary['output_rate_hz']:.3f} Hz")
    with atomic_write(os.path.join(p.output_dir, f"{prefix}__dataset_summary.json"), "w") as handle:
        json.dump(summary, handle, indent=4, sort_keys=True)
    print(f"{len(written)} figure files written to {p.output_dir} in {time.time() - start_time:.1f} s")
    return summary


if __name__ == "__main__":
    run(main)
