"""Parsing one dataset file: our vectorized parser (and its cache) vs the original's per-spike Python loop.

The original (spec §1.3) filled a (segments, T) bool matrix per simulation with one Python assignment per
input spike (``for seg in dict: for t in dict[seg]: matrix[seg, t] = 1``), stacked excitatory over
inhibitory and the simulations with np.dstack, and set each output-spike label in a Python loop
(``y[int(t - 0.5)] = 1``). Ours (neuron_as_deep_net.l5pc.datasets) converts every spike of the file at once.
Both start from the same loaded pickle and produce the same inputs and labels (checked).

    python bench/data_loading.py                              # synthetic file: 16 x 6-s simulations
    python bench/data_loading.py --dataset-file PATH.p        # any dataset file (ours or the authors')

Prints the times, the parse ratio, the floor (the time to merely read the file's spike objects, which bounds
any parser of this format) and the end-to-end ratio with the .npz parse cache; the last line is
``ratio=<loop parse time / vectorized parse time>``.
"""

import itertools
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

# -----------------------------------------------------------------------------
# data
dataset_file = ""  # [file] a dataset file to parse; "" = write a synthetic one (below) into a temp folder
num_sims = 16  # [>= 1] synthetic file: simulations
sim_duration_ms = 6000  # [>= 1] synthetic file: duration of each
input_probability = 0.012  # [>= 0, <= 1] synthetic file: input spikes per channel per ms (the L5PC files: ~0.012)
# measurement
repeats = 3  # [>= 1] best of this many runs of each method
# -----------------------------------------------------------------------------

PRESETS = {"paper": {}, "quick": {"num_sims": 8, "repeats": 2},
           "smoke": {"num_sims": 2, "sim_duration_ms": 1000, "repeats": 1}}


def original_loop_parse(experiment, num_segments):
    """The original's method (§1.3): per-spike Python loops; X (2*segments, T, sims), y_spike (T, sims)."""
    sims = experiment["Results"]["listOfSingleSimulationDicts"]
    num_time_bins = len(sims[0]["somaVoltageLowRes"])
    X_list, y_list = [], []
    for sim in sims:
        matrices = []
        for spikes in (sim["exInputSpikeTimes"], sim["inhInputSpikeTimes"]):
            matrix = np.zeros((num_segments, num_time_bins), dtype=bool)
            for segment in spikes.keys():
                for spike_time in spikes[segment]:
                    matrix[segment, spike_time] = 1.0
            matrices.append(matrix)
        X_list.append(np.vstack(matrices))
        y_spike = np.zeros(num_time_bins)
        for spike_time in sim["outputSpikeTimes"]:
            y_spike[int(float(spike_time) - 0.5)] = 1.0
        y_list.append(y_spike[:, np.newaxis])
    return np.dstack(X_list), np.hstack(y_list)


def read_spike_objects(experiment):
    """The least any parser of this format must do: turn every stored spike time (a Python/numpy scalar in a
    list, as the original wrote them) into a machine integer, here with one np.fromiter over all of them."""
    lists = [times for sim in experiment["Results"]["listOfSingleSimulationDicts"]
             for key in ("exInputSpikeTimes", "inhInputSpikeTimes") for times in sim[key].values()]
    return np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=sum(map(len, lists)))


def best_time(function, repeats):
    """(smallest wall time over ``repeats`` calls, last result)."""
    times, result = [], None
    for _ in range(repeats):
        result = None
        t0 = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main(argv=None):
    from neuron_as_deep_net.core.config import configure

    p = configure(globals(), PRESETS, argv, description=__doc__)
    from neuron_as_deep_net.l5pc import datasets
    from neuron_as_deep_net.l5pc.data_format import load_experiment, num_segments_of

    temp_dir = tempfile.mkdtemp(prefix="bench_data_loading_")
    try:
        path = p.dataset_file
        if not path:
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
            from synthetic_data import write_synthetic_dataset

            path = write_synthetic_dataset(temp_dir, p.num_sims, p.sim_duration_ms, seed=0,
                                           input_probability=p.input_probability)
        load_time, experiment = best_time(lambda: load_experiment(path), p.repeats)
        num_segments = num_segments_of(experiment)
        sims = experiment["Results"]["listOfSingleSimulationDicts"]
        num_spikes = sum(len(times) for sim in sims for key in ("exInputSpikeTimes", "inhInputSpikeTimes")
                         for times in sim[key].values())
        print(f"file: {os.path.basename(path)} ({os.path.getsize(path) / 2**20:.0f} MB, {len(sims)} simulations, "
              f"{num_spikes:,} input spikes)")
        print(f"pickle load (both methods): {load_time:.3f} s")

        loop_time, (X_loop, y_loop) = best_time(lambda: original_loop_parse(experiment, num_segments), p.repeats)
        ours_time, parsed = best_time(
            lambda: datasets.parse_experiment_arrays(experiment, num_segments, include_dvts=False), p.repeats)
        identical = (np.array_equal(parsed.X, np.transpose(X_loop, (2, 1, 0)))
                     and np.array_equal(parsed.y_spike, y_loop.T.astype(bool)))
        del X_loop
        print(f"parse, per-spike Python loop (original): {loop_time:.3f} s")
        print(f"parse, vectorized (ours):                {ours_time:.3f} s   (same arrays: {identical})")
        floor_time, _ = best_time(lambda: read_spike_objects(experiment), p.repeats)
        print(f"floor: only reading the spike objects:   {floor_time:.3f} s   (no parser of this format can beat "
              f"{loop_time / floor_time:.1f}x the loop)")

        cache_dir = os.path.join(temp_dir, "cache")
        datasets.load_dataset_file(path, num_segments, include_dvts=False, use_cache=True, cache_dir=cache_dir)
        cached_time, _ = best_time(lambda: datasets.load_dataset_file(
            path, num_segments, include_dvts=False, use_cache=True, cache_dir=cache_dir), p.repeats)
        print(f"load + parse, original (pickle + loop):  {load_time + loop_time:.3f} s")
        print(f"load, ours from the .npz parse cache:    {cached_time:.3f} s")
        print(f"end to end with the cache: {(load_time + loop_time) / cached_time:.1f}x; "
              f"cold (pickle + vectorized parse): {(load_time + loop_time) / (load_time + ours_time):.1f}x")
        ratio = loop_time / ours_time
        print(f"parse: {ratio:.1f}x")
        print(f"ratio={ratio:.1f}")
        return {"ratio": ratio, "identical": identical}
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


if __name__ == "__main__":
    from neuron_as_deep_net.core.config import run

    run(main)
