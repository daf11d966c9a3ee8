"""Ball-and-stick datasets: creation in resumable parallel chunks, the on-disk layout, pruning, loading.

Written from /work/shared/spec/cell.md §3. Layout (readable by the tutorial and the published
Kaggle dataset alike)::

    <root>/<short_name>/{train,valid,test}/<subfolder>/sim_XXXXXXX.npy
    <root>/<short_name>/{prefix}_{short_name}__YYYY_MM_DD_HHhMMm.pkl     (the cell's constructor parameters)

with the subfolders of :data:`SUBFOLDERS`. A "repeat" (chunk of the spec) draws new input ranges and gives
24 train + 2 valid + 2 test simulations (12:1:1); simulation k of repeat r is reproducible from
(seed, r, k) alone. Creation reuses :mod:`neuron_as_deep_net.core.parallel` (worker processes that build
the cell once, chunk checkpoints, resume); files are written atomically, then every split is pruned.
"""

import datetime
import glob
import json
import os
import re
import time

import numpy as np

from ..core import coreneuron_engine, parallel
from ..core.errors import DataFileError, UserError
from ..core.files import atomic_write, save_npy, save_pickle
from . import cell
from . import inputs as input_generation

SPLITS = ("train", "valid", "test")
#: subfolder -> (shape given T ms and S segments, dtype); the spec's names, including 'intermidiate' (sic)
SUBFOLDERS = {
    "inputs": (lambda t, s: (s, t, 2), np.float16),
    "output_spikes": (lambda t, s: (t,), np.bool_),
    "output_soma_v": (lambda t, s: (t,), np.float32),
    "output_near_spikes": (lambda t, s: (t,), np.bool_),
    "output_inst_rate": (lambda t, s: (t,), np.float32),
    "intermidiate_branch_v": (lambda t, s: (s, t), np.float16),
}
SIM_DURATION_MS = 8192
TRAIN_PER_REPEAT = 24
VALID_TEST_PER_REPEAT = TRAIN_PER_REPEAT // 12  # 2 valid + 2 test
FILE_PATTERN = re.compile(r"^sim_(\d{7})\.npy$")
INFO_FILE = "dataset_info.json"

#: pruning (filter_dataset_folder): statistic -> [low, high]; a simulation outside any range is deleted
PRUNING_RANGES = {
    "firing_rate_hz": [0.4, 20.0],
    "near_spike_mean": [0.0, 0.75],
    "soma_v_mean_mV": [-85.0, -70.0],
    "soma_v_std_mV": [1.0, 12.0],
    "inst_rate_mean_hz": [0.0, 20.0],
    "inst_rate_std_hz": [1.0, 30.0],
    "branch_v_mean_mV": [-85.0, -5.0],
    "branch_v_std_mV": [1.0, 30.0],
}


# ---------------------------------------------------------------------------------------------------------
# names and the on-disk layout
# ---------------------------------------------------------------------------------------------------------

def parameters_file_prefix(cell_parameters):
    """'large|medium|small' (dendrite length) + '_regular_spiking|_slow_spiking' (SK_E2) + '_NMDA|_AMPA'."""
    length = cell_parameters["dendrite_length_um"]
    size = "large" if length >= 1024 else "medium" if length >= 256 else "small"
    spiking = "regular_spiking" if float(cell_parameters.get("ske2_factor", 0.0)) == 0.0 else "slow_spiking"
    has_nmda = cell.EXCITATORY_PRESETS[cell_parameters["excitatory_preset"]]["gmax_NMDA"] > 0
    return f"{size}_{spiking}_{'NMDA' if has_nmda else 'AMPA'}"


def dataset_folder(root, cell_parameters):
    """<root>/<short_name> of a cell."""
    return os.path.join(root, cell.cell_short_name(
        cell_parameters["dendrite_length_um"], cell_parameters["dendrite_diameter_um"],
        cell_parameters.get("num_segments", cell.NUM_SEGMENTS)))


def simulation_file(folder, split, subfolder, index):
    """<folder>/<split>/<subfolder>/sim_XXXXXXX.npy."""
    return os.path.join(folder, split, subfolder, f"sim_{int(index):07d}.npy")


def write_simulation(folder, split, index, arrays):
    """Write the six files of one simulation (each atomically), checking shapes and dtypes."""
    num_segments, num_ms = arrays["inputs"].shape[:2]
    for subfolder, (shape_of, dtype) in SUBFOLDERS.items():
        array = np.asarray(arrays[subfolder])
        if array.shape != shape_of(num_ms, num_segments) or array.dtype != dtype:
            raise ValueError(f"{subfolder}: expected {shape_of(num_ms, num_segments)} {np.dtype(dtype)}, "
                             f"got {array.shape} {array.dtype}")
        save_npy(simulation_file(folder, split, subfolder, index), array)


def simulation_indices(folder, split):
    """Sorted indices of the simulations whose six files all exist in one split."""
    sets = []
    for subfolder in SUBFOLDERS:
        names = os.listdir(os.path.join(folder, split, subfolder)) \
            if os.path.isdir(os.path.join(folder, split, subfolder)) else []
        sets.append({int(m.group(1)) for m in map(FILE_PATTERN.match, names) if m})
    return sorted(set.intersection(*sets)) if sets else []


def read_array(path, subfolder, num_ms=None, num_segments=None):
    """One .npy file of a simulation, checked against the layout of its subfolder (shape and dtype; ``num_ms`` and
    ``num_segments`` those of the split's first simulation); DataFileError naming the file otherwise."""
    shape_of, dtype = SUBFOLDERS[subfolder]
    if os.path.getsize(path) == 0:
        raise DataFileError(path, "the .npy file is empty (0 bytes: an interrupted write or copy?)")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        truncated = isinstance(error, EOFError) or any(word in str(error) for word in ("reshape", "read all", "EOF"))
        problem = "truncated" if truncated else "not a readable .npy file"
        raise DataFileError(path, f"{problem} ({type(error).__name__}: {str(error)[:100]})",
                            "delete the simulation's files or create the dataset again") from error
    if num_ms is None and subfolder == "inputs" and array.ndim == 3:  # the split's first simulation sets them
        num_segments, num_ms = array.shape[:2]
    expected = shape_of(num_ms, num_segments) if num_ms is not None else "(segments, ms, 2)"
    if array.dtype != dtype or array.shape != expected:
        raise DataFileError(path, f"wrong layout for {subfolder}: {array.shape} {array.dtype}, expected {expected} "
                                  f"{np.dtype(dtype)}", "is it a file of another dataset?")
    return array


def read_simulation(folder, split, index, num_ms=None, num_segments=None):
    """The six arrays of one simulation, as a dict (each file checked by :func:`read_array`)."""
    arrays = {"inputs": read_array(simulation_file(folder, split, "inputs", index), "inputs", num_ms, num_segments)}
    num_segments, num_ms = arrays["inputs"].shape[:2]
    for subfolder in list(SUBFOLDERS)[1:]:
        arrays[subfolder] = read_array(simulation_file(folder, split, subfolder, index), subfolder, num_ms,
                                       num_segments)
    return arrays


def load_split(folder, split, max_files=None):
    """Every simulation of a split stacked, time-major for the networks (spec §3 layout -> training arrays).

    Returns inputs (N, T, 2S) float16 [exc of the S segments, then inh], spikes (N, T) bool, soma_v (N, T)
    float32, near_spike (N, T) bool, inst_rate (N, T) float32, branch_v (N, T, S) float16, indices (N,).
    """
    indices = simulation_indices(folder, split)[:max_files]
    if not indices:
        raise DataFileError(os.path.join(folder, split), f"no complete simulations (expected the subfolders "
                                                          f"{list(SUBFOLDERS)} with sim_XXXXXXX.npy files)")
    loaded = [read_simulation(folder, split, indices[0])]
    num_segments, num_ms = loaded[0]["inputs"].shape[:2]
    loaded += [read_simulation(folder, split, index, num_ms, num_segments) for index in indices[1:]]
    stack = {subfolder: np.stack([sim[subfolder] for sim in loaded]) for subfolder in SUBFOLDERS}
    num_sims, num_segments, num_ms, _ = stack["inputs"].shape
    return {
        "inputs": stack["inputs"].transpose(0, 2, 3, 1).reshape(num_sims, num_ms, 2 * num_segments),
        "spikes": stack["output_spikes"],
        "soma_v": stack["output_soma_v"],
        "near_spike": stack["output_near_spikes"],
        "inst_rate": stack["output_inst_rate"],
        "branch_v": stack["intermidiate_branch_v"].transpose(0, 2, 1),
        "indices": np.asarray(indices),
    }


def twin_splits_key(folder, max_train_files=0, max_valid_files=0):
    """What :func:`load_twin_splits` loaded: the folder and the file limits."""
    return (os.path.abspath(folder), int(max_train_files or 0), int(max_valid_files or 0))


def load_twin_splits(folder, max_train_files=0, max_valid_files=0):
    """The three splits a twin trains, selects and is tested on ({'train', 'valid', 'test', 'key'}; 0 = all files).

    Load them once per dataset when several twins train in one process (ball_and_stick_experiment.py): Keras and
    tf.data keep references to a finished twin's training arrays, so loading them again for every twin grows the
    process by a copy each (the NMDA_cable laptop data, ~2.5 GB per copy, ran the machine out of memory)."""
    return {"train": load_split(folder, "train", max_train_files or None),
            "valid": load_split(folder, "valid", max_valid_files or None),
            "test": load_split(folder, "test"), "key": twin_splits_key(folder, max_train_files, max_valid_files)}


# ---------------------------------------------------------------------------------------------------------
# pruning
# ---------------------------------------------------------------------------------------------------------

def simulation_statistics(arrays):
    """The pruning statistics of one simulation's saved (capped) arrays (rates in Hz)."""
    num_ms = arrays["output_spikes"].shape[-1]
    branch = arrays["intermidiate_branch_v"].astype(np.float64)
    rate_hz = arrays["output_inst_rate"].astype(np.float64) * 1000.0
    soma = arrays["output_soma_v"].astype(np.float64)
    return {
        "firing_rate_hz": float(arrays["output_spikes"].sum() / (num_ms / 1000.0)),
        "near_spike_mean": float(arrays["output_near_spikes"].mean()),
        "soma_v_mean_mV": float(soma.mean()), "soma_v_std_mV": float(soma.std()),
        "inst_rate_mean_hz": float(rate_hz.mean()), "inst_rate_std_hz": float(rate_hz.std()),
        "branch_v_mean_mV": float(branch.mean()), "branch_v_std_mV": float(branch.std()),
    }


def failed_statistics(statistics, ranges=PRUNING_RANGES):
    """Names of the statistics outside their pruning range."""
    return [name for name, (low, high) in ranges.items() if not low <= statistics[name] <= high]


def prune_split(folder, split, ranges=PRUNING_RANGES):
    """Delete all six files of every simulation of a split outside the ranges; return {index: failed names}."""
    removed = {}
    for index in simulation_indices(folder, split):
        failed = failed_statistics(simulation_statistics(read_simulation(folder, split, index)), ranges)
        if failed:
            for subfolder in SUBFOLDERS:
                os.remove(simulation_file(folder, split, subfolder, index))
            removed[index] = failed
    return removed


# ---------------------------------------------------------------------------------------------------------
# creation
# ---------------------------------------------------------------------------------------------------------

class DatasetWorker:
    """What a worker process runs: the cell (``cells_per_run`` copies of it), built once, simulating dataset
    simulations: one per NEURON run by default, or ``cells_per_run`` at a time (:func:`cell.simulate_together`)."""

    def __init__(self, engine="neuron", cells_per_run=1, **cell_parameters):
        if int(cells_per_run) < 1:
            raise ValueError(f"cells_per_run must be at least 1, got {cells_per_run}")
        self.cells = [cell.BallAndStickCell(**cell_parameters, engine=engine) for _ in range(int(cells_per_run))]
        self.cell = self.cells[0]

    def close(self):
        for each in self.cells:
            each.close()

    def inputs(self, seed, repeat, position, sim_duration_ms):
        """The (segments, ms, 2) input magnitudes of simulation ``position`` of ``repeat``, drawn from (seed, repeat,
        position) alone."""
        ranges = input_generation.draw_ball_and_stick_chunk_ranges(np.random.default_rng([seed, repeat]))
        rng = np.random.default_rng([seed, repeat, position])
        return input_generation.generate_ball_and_stick_inputs(rng, ranges, self.cell.num_segments, sim_duration_ms)

    def simulate(self, seed, repeat, position, sim_duration_ms):
        """One simulation: its inputs, then the cell's saved targets (a dict of the six arrays)."""
        return self.simulate_many([(seed, repeat, position, sim_duration_ms)])[0]

    def simulate_many(self, simulations):
        """A list of (seed, repeat, position, sim_duration_ms) simulated ``cells_per_run`` at a time; list of dicts."""
        results = []
        for start in range(0, len(simulations), len(self.cells)):
            group = simulations[start:start + len(self.cells)]
            xs = [self.inputs(*simulation) for simulation in group]
            traces = cell.simulate_together(self.cells, [(x[..., 0], x[..., 1]) for x in xs])
            results += [{"inputs": x, **cell.saved_targets(soma_v, branch_v, simulation[3])}
                        for x, (soma_v, branch_v), simulation in zip(xs, traces, group)]
        return results


def repeat_plan(first_repeat, num_repeats, train_per_repeat=TRAIN_PER_REPEAT):
    """[(repeat, position, split, file index)] of every simulation: per repeat train, then valid, then test."""
    per_split = {"train": train_per_repeat, "valid": train_per_repeat // 12, "test": train_per_repeat // 12}
    if per_split["valid"] < 1:
        raise ValueError(f"train_per_repeat must be at least 12 (valid = test = train // 12), got {train_per_repeat}")
    plan = []
    for repeat in range(first_repeat, first_repeat + num_repeats):
        position = 0
        for split in SPLITS:
            for k in range(per_split[split]):
                plan.append((repeat, position, split, repeat * per_split[split] + k))
                position += 1
    return plan


def create_dataset(root, cell_parameters, num_repeats, seed=0, first_repeat=0, train_per_repeat=TRAIN_PER_REPEAT,
                   sim_duration_ms=SIM_DURATION_MS, workers=None, chunk_size=7, dask_scheduler=None, prune=True,
                   verbose=True, engine="neuron", cells_per_run=1):
    """Simulate repeats [first_repeat, first_repeat + num_repeats) of a cell into <root>/<short_name>.

    ``engine="coreneuron"`` runs the same fixed step under CoreNEURON (see ``ball_and_stick.ENGINES``).
    ``cells_per_run`` > 1 simulates that many copies of the cell in one run, each with its own simulation (faster
    by sharing the per-step overhead; the same saved files in every check, opt-in: ``cell.simulate_together``); the
    chunk size is then rounded up to a multiple of it.

    Resumable: simulations are checkpointed in chunks; a finished run (same arguments) is detected from its
    record in dataset_info.json and skipped. Returns the dataset folder and that record.
    """
    if num_repeats < 1:
        raise ValueError(f"num_repeats must be at least 1, got {num_repeats}")
    if int(cells_per_run) < 1:
        raise ValueError(f"cells_per_run must be at least 1, got {cells_per_run}")
    cells_per_run = int(cells_per_run)
    chunk_size = -(-int(chunk_size) // cells_per_run) * cells_per_run
    folder = dataset_folder(root, cell_parameters)
    os.makedirs(folder, exist_ok=True)
    identity = {"cell": dict(cell_parameters), "seed": int(seed), "first_repeat": int(first_repeat),
                "num_repeats": int(num_repeats), "train_per_repeat": int(train_per_repeat),
                "sim_duration_ms": int(sim_duration_ms), "prune": bool(prune), "chunk_size": int(chunk_size)}
    if engine != "neuron":  # (default runs keep the identity they always had)
        identity["engine"] = engine
    if cells_per_run != 1:
        identity["cells_per_run"] = cells_per_run
    info_path = os.path.join(folder, INFO_FILE)
    info = {"runs": []}
    if os.path.exists(info_path):
        try:
            with open(info_path) as handle:
                info = json.load(handle)
        except ValueError:
            info = None
        if not (isinstance(info, dict) and isinstance(info.get("runs"), list)):
            raise DataFileError(info_path, "not a readable dataset record (JSON with a list 'runs')",
                                "delete it (the finished simulations stay) and run the same command again")
    for run in info["runs"]:
        if run["identity"] == identity:
            if verbose:
                print(f"dataset already created: {folder} ({run['counts_after_pruning']})")
            return folder, run

    if engine == "coreneuron":  # compile the CoreNEURON library once, here, rather than in a worker
        coreneuron_engine.prepare()
    started = time.time()
    plan = repeat_plan(first_repeat, num_repeats, train_per_repeat)
    checkpoints = parallel.ChunkCheckpoints(
        os.path.join(folder, f".partial__seed_{seed}__repeats_{first_repeat}_{first_repeat + num_repeats}"), identity)
    num_chunks = parallel.run_simulations(
        [(int(seed), repeat, position, int(sim_duration_ms)) for repeat, position, _, _ in plan],
        DatasetWorker, dict(cell_parameters, engine=engine, **({"cells_per_run": cells_per_run} if cells_per_run != 1
                                                               else {})), {}, checkpoints, chunk_size=chunk_size, workers=workers,
        dask_scheduler=dask_scheduler, sim_seconds_each=sim_duration_ms / 1000.0,
        description=f"simulating {cell.cell_short_name(cell_parameters['dendrite_length_um'], cell_parameters['dendrite_diameter_um'])}",
        collect=False)
    simulation_seconds = time.time() - started
    for k in range(num_chunks):  # one chunk in memory at a time
        for (repeat, position, split, index), arrays in zip(plan[k * chunk_size:(k + 1) * chunk_size],
                                                            checkpoints.load(k)):
            write_simulation(folder, split, index, arrays)
    counts_before = {split: sum(1 for entry in plan if entry[2] == split) for split in SPLITS}
    removed = {split: (prune_split(folder, split) if prune else {}) for split in SPLITS}
    stamp = datetime.datetime.now().strftime("%Y_%m_%d_%Hh%Mm")
    short_name = os.path.basename(folder)
    save_pickle(dict(cell_parameters), os.path.join(folder, f"{parameters_file_prefix(cell_parameters)}_{short_name}__"
                                                            f"{stamp}.pkl"), protocol=4)
    run = {"identity": identity, "counts_before_pruning": counts_before,
           "num_pruned": {split: len(removed[split]) for split in SPLITS},
           "pruned_reasons": {split: {str(k): v for k, v in removed[split].items()} for split in SPLITS},
           "counts_after_pruning": {split: len(simulation_indices(folder, split)) for split in SPLITS},
           "simulation_wall_sec": simulation_seconds, "total_wall_sec": time.time() - started}
    info["runs"].append(run)
    with atomic_write(info_path, "w") as handle:
        json.dump(info, handle, indent=4, sort_keys=True)
    checkpoints.remove()
    if verbose:
        print(f"{short_name}: {counts_before} simulated, pruned {run['num_pruned']}, "
              f"now {run['counts_after_pruning']} ({simulation_seconds / 60:.1f} min of simulation)")
    return folder, run


def find_dataset_folder(root, cell_name):
    """The dataset folder of a named cell under root (its short name), or a ValueError saying how to make it."""
    folder = dataset_folder(root, cell.cell_parameters(cell_name))
    if not glob.glob(os.path.join(folder, "train", "inputs", "sim_*.npy")):
        raise UserError(f"no {cell_name} dataset in {folder}; create it with "
                        f"python create_dataset_BS_neuron.py --cell {cell_name} --output-dir {root}")
    return folder
