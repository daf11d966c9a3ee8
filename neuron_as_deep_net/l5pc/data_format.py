"""The L5PC dataset file format of the original code (spec §1.1, §1.3): spike dicts, binary matrices, labels.

A simulation file is a pickle of ``experimentDict = {'Params': {...}, 'Results': {'listOfSingleSimulationDicts':
[...]}}``. The authors' files were written by Python 2 (protocol 2) and need ``encoding='latin1'`` on Python 3;
:func:`load_experiment` handles both (through :func:`neuron_as_deep_net.core.files.load_pickle`). Dataset
pickles hold plain dicts and arrays only.
"""

import os

import numpy as np

from ..core.errors import DataFileError, MissingFileError
from ..core.files import load_pickle


NUM_SEGMENTS = 639
NUM_INPUT_CHANNELS = 2 * NUM_SEGMENTS
FILE_GLOB = "*_6_secDuration_*"  # the original glob, without the 128-simulation requirement

# keys of one per-simulation dict (spec §1.1), with the dtype each array carries
SIMULATION_ARRAY_DTYPES = {
    "recordingTimeHighRes": np.float32,
    "somaVoltageHighRes": np.float16,
    "nexusVoltageHighRes": np.float16,
    "recordingTimeLowRes": np.float32,
    "somaVoltageLowRes": np.float16,
    "nexusVoltageLowRes": np.float16,
    "outputSpikeTimes": np.float16,
}


def dict_to_binary(spike_times_dict, num_rows, num_time_bins):
    """Bool (num_rows, num_time_bins) matrix from {row index: [spike times in ms]}; vectorized."""
    matrix = np.zeros((num_rows, num_time_bins), dtype=bool)
    if not spike_times_dict:
        return matrix
    counts = [len(times) for times in spike_times_dict.values()]
    rows = np.repeat(np.fromiter(spike_times_dict.keys(), dtype=np.int64, count=len(counts)), counts)
    times = np.concatenate([np.asarray(times, dtype=np.float64).reshape(-1) for times in spike_times_dict.values()])
    matrix[rows, times.astype(np.int64)] = True
    return matrix


def binary_to_dict(spike_matrix):
    """{row index (numpy int64): [spike times (numpy int64)]} for the rows that spike, like the original."""
    rows, times = np.nonzero(spike_matrix)
    if rows.size == 0:
        return {}
    split_points = np.flatnonzero(np.diff(rows)) + 1
    unique_rows = rows[np.r_[0, split_points]]
    return {row: list(chunk) for row, chunk in zip(unique_rows, np.split(times, split_points))}


def spike_times_to_labels(output_spike_times, num_time_bins):
    """Bool spike label of length num_time_bins: 1 at int(t - 0.5) for each spike time t (spec §1.3).

    The stored times are float16 (spec §12); they are converted to float64 first, exactly as the original.
    """
    labels = np.zeros(num_time_bins, dtype=bool)
    times = np.asarray(output_spike_times).astype(np.float64)
    if times.size:
        labels[(times - 0.5).astype(np.int64)] = True
    return labels


SIMULATION_FILE_HINT = "expected a dataset file written by simulate_L5PC_and_create_dataset.py (or the authors' files)"


def check_pickle_file(path, what="dataset file"):
    """Cheap checks of a pickle file without reading it all: it exists, is not empty and ends with the pickle
    STOP opcode (a truncated copy almost never does); raises DataFileError naming the file."""
    if not os.path.isfile(path):
        raise MissingFileError(path, what)
    size = os.path.getsize(path)
    if size == 0:
        raise DataFileError(path, f"the {what} is empty (0 bytes: an interrupted write or copy?)")
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        if handle.read(1) != b".":
            raise DataFileError(path, f"the {what} is truncated or not a pickle (it does not end like one)",
                                "copy or create it again")


def load_experiment(path):
    """Load a simulation file and check its layout (spec §1.1); DataFileError (naming the file) if it is wrong."""
    check_pickle_file(path)
    experiment = load_pickle(path, what="dataset file")
    if not isinstance(experiment, dict) or "Params" not in experiment or "Results" not in experiment:
        raise DataFileError(path, "not a simulation file: expected a dict with 'Params' and 'Results'",
                            SIMULATION_FILE_HINT)
    results = experiment["Results"]
    sims = results.get("listOfSingleSimulationDicts") if isinstance(results, dict) else None
    if not sims or not isinstance(sims, (list, tuple)) or not all(isinstance(sim, dict) for sim in sims):
        raise DataFileError(path, "not a simulation file: 'Results' holds no list 'listOfSingleSimulationDicts' "
                                  "of simulation dicts", SIMULATION_FILE_HINT)
    missing = {"exInputSpikeTimes", "inhInputSpikeTimes", "outputSpikeTimes", "somaVoltageLowRes"} - set(sims[0])
    if missing:
        raise DataFileError(path, f"not a simulation file: its simulation dicts lack the keys {sorted(missing)}",
                            SIMULATION_FILE_HINT)
    if not isinstance(experiment["Params"], dict):
        raise DataFileError(path, "not a simulation file: 'Params' is not a dict", SIMULATION_FILE_HINT)
    return experiment


def num_segments_of(experiment):
    """Number of dendritic segments a file was simulated with (from its Params, else 639)."""
    return len(experiment["Params"].get("allSegmentsType", [None] * NUM_SEGMENTS))


def parse_experiment(experiment, num_segments=None, include_dvts=False, path=""):
    """Arrays of one file: X bool (sims, T, 2*segments), y_spike bool (sims, T), y_soma float32 (sims, T)[, DVTs].

    Spec §1.3 with the axes reordered sims-first. DVTs (if asked) are float16 (sims, segments, T).
    """
    file_segments = num_segments_of(experiment)
    if num_segments is not None and num_segments != file_segments:
        raise DataFileError(path or "dataset file", f"wrong number of segments (expected {num_segments}, got "
                                                    f"{file_segments}): it was simulated for another cell")
    sims = experiment["Results"]["listOfSingleSimulationDicts"]
    num_time_bins = len(sims[0]["somaVoltageLowRes"])
    num_sims = len(sims)
    X = np.zeros((num_sims, num_time_bins, 2 * file_segments), dtype=bool)
    y_spike = np.zeros((num_sims, num_time_bins), dtype=bool)
    y_soma = np.zeros((num_sims, num_time_bins), dtype=np.float32)
    dvts = np.zeros((num_sims, file_segments, num_time_bins), dtype=np.float16) if include_dvts else None
    for k, sim in enumerate(sims):
        X[k, :, :file_segments] = dict_to_binary(sim["exInputSpikeTimes"], file_segments, num_time_bins).T
        X[k, :, file_segments:] = dict_to_binary(sim["inhInputSpikeTimes"], file_segments, num_time_bins).T
        y_spike[k] = spike_times_to_labels(sim["outputSpikeTimes"], num_time_bins)
        y_soma[k] = sim["somaVoltageLowRes"]
        if include_dvts:
            if "dendriticVoltagesLowRes" not in sim:
                raise DataFileError(path or "dataset file", "saved without DVTs (collectAndSaveDVTs=False)",
                                    "simulate it again without --no-dvts")
            dvts[k] = sim["dendriticVoltagesLowRes"]
    if include_dvts:
        return X, y_spike, y_soma, dvts
    return X, y_spike, y_soma


def parse_sim_experiment_file(path, num_segments=None, include_dvts=False):
    """Load and parse one dataset file (see :func:`parse_experiment`)."""
    return parse_experiment(load_experiment(path), num_segments=num_segments, include_dvts=include_dvts, path=path)
