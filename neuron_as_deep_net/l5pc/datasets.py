"""L5PC dataset files -> training arrays for fit_CNN (spec §1.3, §6): parsing, a parse cache, targets, DVT PCA.

* :func:`parse_experiment_arrays` turns one loaded file (the authors' Python-2 pickles or ours, spec §1.1) into
  inputs ``X`` bool (sims, T, 2*segments), spike labels (int(t - 0.5) rule, §1.3), the soma trace and the DVTs
  (sims, segments, T) float16. It is vectorized over every spike of every simulation (no per-spike Python
  loop) and checks the layout, raising one clear ``ValueError``.
* :func:`load_dataset_file` adds an optional cache: the parsed arrays go to ``<sha256 of the file>.npz`` (spike
  coordinates, not the dense matrix) in a ``.parsed_cache`` folder, written atomically.
* :func:`soma_targets`, :func:`fit_dvt_pca`, :func:`dvt_targets` are the target transforms of §6.

Array convention: simulations first, then time (the original kept (channels, time, sims), §1.3).
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
import os
import warnings
from dataclasses import dataclass

import numpy as np

from ..core.errors import DataFileError, MissingFileError, UserError
from ..core.files import atomic_write
from ..core.windows import index_dtype
from .data_format import NUM_SEGMENTS, check_pickle_file, load_experiment


#: Dataset files in a train/valid/test folder. Looser than the original's '*_6_secDuration_*'
#: (data_format.FILE_GLOB): any duration and any number of simulations.
DATASET_GLOB = "*_secDuration_*.p"
PARSED_CACHE_FOLDER = ".parsed_cache"
CACHE_FORMAT_VERSION = 1

IGNORE_TIME_FROM_START_MS = 500  # window ends are drawn from [max(500, W), T) (§6)
SOMA_THRESHOLD_MV = -55.0  # soma target clipped from above here (§6 y_soma_threshold)
SOMA_BIAS_MV = -67.7  # then this is subtracted (§6 y_train_soma_bias)
DVT_CLIP_MV = 2.0  # DVTs above +2 mV are clipped before PCA (§6 "DVT PCA")
DVT_TARGET_CLIP = 3.0  # whitened DVT components are clipped to +-3 (§6 y_DTV_threshold)


def default_num_DVT_components(synapse_type):
    """20 principal components of the DVTs for NMDA, 30 otherwise (§6)."""
    return 20 if synapse_type == "NMDA" else 30


def list_dataset_files(directory, pattern=DATASET_GLOB):
    """The dataset files of a folder, sorted (the original used glob order; we sort so runs are reproducible)."""
    if not directory:
        return []
    if not os.path.isdir(directory):
        raise MissingFileError(directory, "dataset folder")
    return sorted(glob.glob(os.path.join(glob.escape(directory), pattern)))


@dataclass
class ParsedFile:
    """The arrays of one dataset file (spec §1.3, simulations first); the inputs are kept sparse.

    ``spike_index`` holds the sorted flat indices of the input spikes in the (sims, T, channels) array, so
    the bool input matrix ``X`` (a property, built on demand) costs 1 GB for a 128 x 6-s file while the
    index costs ~50 MB; windows are cut straight from the index (:func:`dense_windows`).
    """

    path: str
    shape: tuple  # (sims, T, 2*segments)
    spike_index: np.ndarray  # sorted flat indices (uint32 or int64) of the input spikes in shape
    y_spike: np.ndarray  # bool (sims, T): 1 at int(t - 0.5) for every output spike time t
    y_soma: np.ndarray  # float32 (sims, T): somaVoltageLowRes (mV; float16 in the file)
    dvts: np.ndarray | None  # float16 (sims, segments, T) or None

    @property
    def num_sims(self):
        return self.shape[0]

    @property
    def num_time_bins(self):
        return self.shape[1]

    @property
    def num_segments(self):
        return self.shape[2] // 2

    @property
    def X(self):
        """Bool inputs (sims, T, 2*segments): excitatory inputs of segments 0..n-1, then inhibitory ones."""
        X = np.zeros(self.shape, dtype=bool)
        X.reshape(-1)[self.spike_index] = True
        return X


def _int_array(make_iterable, count, what):
    """np.int64 array from ints (numpy or Python) given by ``make_iterable()``; floats are truncated like
    the original's indexing would need (it required ints)."""
    try:
        return np.fromiter(make_iterable(), dtype=np.int64, count=count)
    except (TypeError, ValueError):
        array = np.fromiter(make_iterable(), dtype=np.float64, count=count)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{what} contains non-finite values") from None
        return array.astype(np.int64)


def _spike_coordinates(spike_dicts, num_segments, num_time_bins, where):
    """(sim, time, channel) int64 arrays of every input spike; ``spike_dicts`` = [(ex_dict, inh_dict), ...]."""
    dicts, sim_of_dict, offset_of_dict = [], [], []
    for sim_index, (ex_dict, inh_dict) in enumerate(spike_dicts):
        for offset, spikes in ((0, ex_dict), (num_segments, inh_dict)):
            if not isinstance(spikes, dict):
                raise DataFileError(where, f"simulation {sim_index}: input spikes must be a dict "
                                           f"{{segment: [times]}}, got {type(spikes).__name__}")
            dicts.append(spikes)
            sim_of_dict.append(sim_index)
            offset_of_dict.append(offset)
    keys_per_dict = np.fromiter((len(d) for d in dicts), dtype=np.int64, count=len(dicts))
    keys = _int_array(lambda: itertools.chain.from_iterable(d.keys() for d in dicts), int(keys_per_dict.sum()),
                      "segment keys")
    counts = np.fromiter((len(times) for d in dicts for times in d.values()), dtype=np.int64, count=keys.size)
    total = int(counts.sum())
    times = _int_array(lambda: itertools.chain.from_iterable(itertools.chain.from_iterable(d.values() for d in dicts)),
                       total, "spike times")
    if keys.size and (keys.min() < 0 or keys.max() >= num_segments):
        raise DataFileError(where, f"input spike dict keys must be segment indices in [0, {num_segments}), "
                                   f"found {int(keys.min())}..{int(keys.max())}: written for another cell?")
    if times.size and (times.min() < 0 or times.max() >= num_time_bins):
        raise DataFileError(where, f"input spike times must lie in [0, {num_time_bins}) ms, "
                                   f"found {int(times.min())}..{int(times.max())}")
    channel_of_key = keys + np.repeat(np.asarray(offset_of_dict, dtype=np.int64), keys_per_dict)
    sim_of_key = np.repeat(np.asarray(sim_of_dict, dtype=np.int64), keys_per_dict)
    return np.repeat(sim_of_key, counts), times, np.repeat(channel_of_key, counts)


def _label_coordinates(output_spike_times, num_time_bins, where):
    """(sim, time bin) of every output spike with the original's int(t - 0.5) rule on float16 times (§1.3, §12)."""
    arrays = [np.asarray(times).reshape(-1).astype(np.float64) for times in output_spike_times]
    counts = np.array([a.size for a in arrays], dtype=np.int64)
    times = np.concatenate(arrays) if arrays else np.zeros(0)
    bins = (times - 0.5).astype(np.int64)  # int() truncates toward zero, like the original
    if bins.size and (bins.min() < 0 or bins.max() >= num_time_bins):
        raise DataFileError(where, f"output spike times must lie in [0, {num_time_bins} + 0.5) ms, "
                                   f"found {times.min()}..{times.max()}")
    return np.repeat(np.arange(len(arrays), dtype=np.int64), counts), bins


def _sorted_unique(values):
    """Sorted distinct values (in place; much faster than np.unique's hash for 32-bit ints)."""
    values.sort()
    if values.size > 1:
        repeated = values[1:] == values[:-1]
        if repeated.any():
            values = values[np.r_[True, ~repeated]]
    return values


def _flat_spike_index(sim_idx, times, channels, shape):
    """Sorted distinct flat indices ((sim * T) + time) * channels + channel of every input spike.

    The spikes come sim by sim, channel by channel (the dicts' order); a stable radix sort of each sim's
    times (16-bit, linear time) then gives time-major order whenever the channels came in ascending order,
    as in every file we know; anything else (unordered keys, repeated spikes) falls back to a full sort.
    """
    flat = ((sim_idx * shape[1] + times) * shape[2] + channels).astype(index_dtype(shape))
    if shape[1] > np.iinfo(np.int16).max or flat.size < 2:
        return _sorted_unique(flat)
    bounds = np.searchsorted(sim_idx, np.arange(shape[0] + 1))  # sims are contiguous and in order
    times16 = times.astype(np.int16)
    order = np.concatenate([start + np.argsort(times16[start:stop], kind="stable")
                            for start, stop in zip(bounds[:-1], bounds[1:])])
    flat = flat[order]
    if not np.all(flat[1:] > flat[:-1]):
        return _sorted_unique(flat)
    return flat


def _check_layout(experiment, num_segments, where):
    """Number of simulations and time bins of a loaded file; ValueError if it cannot feed the model."""
    params = experiment.get("Params", {}) or {}
    sims = experiment["Results"]["listOfSingleSimulationDicts"]
    if "allSegmentsType" in params:
        file_segments = len(params["allSegmentsType"])
        if file_segments != num_segments:
            raise DataFileError(where, f"wrong number of segments (expected {num_segments}, got {file_segments}): "
                                       f"simulated with {file_segments} dendritic segments but the model expects "
                                       f"{num_segments} ({2 * num_segments} input channels)",
                                "use files of the same cell")
    lengths = {len(sim["somaVoltageLowRes"]) for sim in sims}
    if len(lengths) != 1:
        raise DataFileError(where, f"simulations have different durations {sorted(lengths)} (somaVoltageLowRes)")
    return len(sims), lengths.pop()


def parse_experiment_arrays(experiment, num_segments=NUM_SEGMENTS, include_dvts=True, path=""):
    """Arrays of one loaded file (spec §1.3): input spikes, labels, soma, DVTs; vectorized over all spikes.

    A spike listed twice in a dict (impossible in real files) counts once, as in the original's matrix.
    """
    where = path or "dataset file"
    num_sims, num_time_bins = _check_layout(experiment, num_segments, where)
    sims = experiment["Results"]["listOfSingleSimulationDicts"]
    sim_idx, times, channels = _spike_coordinates(
        [(sim["exInputSpikeTimes"], sim["inhInputSpikeTimes"]) for sim in sims], num_segments, num_time_bins, where)
    shape = (num_sims, num_time_bins, 2 * num_segments)
    spike_index = _flat_spike_index(sim_idx, times, channels, shape)
    label_sims, label_bins = _label_coordinates([sim["outputSpikeTimes"] for sim in sims], num_time_bins, where)
    y_spike = np.zeros((num_sims, num_time_bins), dtype=bool)
    y_spike[label_sims, label_bins] = True
    y_soma = np.stack([np.asarray(sim["somaVoltageLowRes"]) for sim in sims]).astype(np.float32)
    dvts = None
    if include_dvts:
        if any("dendriticVoltagesLowRes" not in sim for sim in sims):
            raise DataFileError(where, "saved without DVTs (collectAndSaveDVTs=False); fit_CNN needs them",
                                "simulate it again without --no-dvts")
        dvts = np.stack([np.asarray(sim["dendriticVoltagesLowRes"], dtype=np.float16) for sim in sims])
        if dvts.shape[1:] != (num_segments, num_time_bins):
            raise DataFileError(where, f"dendriticVoltagesLowRes has shape {dvts.shape[1:]}, expected "
                                       f"({num_segments}, {num_time_bins})")
    return ParsedFile(path, shape, spike_index, y_spike, y_soma, dvts)


# ---------------------------------------------------------------------------------------------------------
# parse cache: <cache dir>/<sha256>.v1.npz with the spike coordinates (compact) and the other arrays
# ---------------------------------------------------------------------------------------------------------

_SHA256_MEMO = {}


def _sidecar_path(path, cache_dir):
    path_tag = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:8]  # same name in other folders
    return os.path.join(cache_dir, f"{os.path.basename(path)}.{path_tag}.sha256.json")


def _save_sidecar(path, cache_dir, value, stat):
    """Remember a file's sha256 in ``cache_dir`` (only if that folder exists: nothing is created here)."""
    if not cache_dir or not os.path.isdir(cache_dir):
        return
    try:
        with atomic_write(_sidecar_path(path, cache_dir), "w") as handle:
            json.dump({"sha256": value, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}, handle)
    except OSError:
        pass


def file_sha256(path, cache_dir=None):
    """sha256 of a file; memoized per (path, size, mtime) in-process and in ``cache_dir`` (a small JSON)."""
    stat = os.stat(path)
    identity = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if identity in _SHA256_MEMO:
        return _SHA256_MEMO[identity]
    sidecar = _sidecar_path(path, cache_dir) if cache_dir else None
    if sidecar and os.path.exists(sidecar):
        try:
            with open(sidecar) as handle:
                saved = json.load(handle)
            if saved.get("size") == stat.st_size and saved.get("mtime_ns") == stat.st_mtime_ns:
                _SHA256_MEMO[identity] = saved["sha256"]
                return saved["sha256"]
        except (OSError, ValueError, KeyError, AttributeError, TypeError):
            pass  # an unreadable memo is simply recomputed (and rewritten)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    value = digest.hexdigest()
    _SHA256_MEMO[identity] = value
    _save_sidecar(path, cache_dir, value, stat)
    return value


def cache_folder_for(path, cache_dir=""):
    """Where the parsed copy of ``path`` is cached: ``cache_dir`` or a .parsed_cache folder beside the file."""
    return cache_dir or os.path.join(os.path.dirname(os.path.abspath(path)), PARSED_CACHE_FOLDER)


def _save_parsed(parsed, cache_path):
    label_sims, label_bins = np.nonzero(parsed.y_spike)
    soma16 = parsed.y_soma.astype(np.float16)
    arrays = {
        "format_version": np.array(CACHE_FORMAT_VERSION),
        "shape": np.array(parsed.shape, dtype=np.int64),
        "spike_index": parsed.spike_index,
        "label_sims": label_sims.astype(np.int32),
        "label_bins": label_bins.astype(np.int32),
        # the file's traces are float16, so this is lossless for them
        "y_soma": soma16 if np.array_equal(soma16.astype(np.float32), parsed.y_soma) else parsed.y_soma,
    }
    if parsed.dvts is not None:
        arrays["dvts"] = parsed.dvts
    with atomic_write(cache_path) as handle:
        np.savez(handle, **arrays)


def _load_parsed(cache_path, path, num_segments, include_dvts):
    """The cached arrays, or None when the cache entry is unusable (old format or no DVTs: silently; corrupt:
    with a warning); the caller then parses the file again and rewrites the entry."""
    try:
        with np.load(cache_path) as data:
            if int(data["format_version"]) != CACHE_FORMAT_VERSION or (include_dvts and "dvts" not in data.files):
                return None
            shape = tuple(int(v) for v in data["shape"])
            if len(shape) != 3:
                raise ValueError(f"shape {shape}")
            if shape[2] != 2 * num_segments:
                raise DataFileError(path, f"wrong number of segments (expected {num_segments}, got {shape[2] // 2}):"
                                          f" the model expects {2 * num_segments} input channels",
                                    "use files of the same cell")
            spike_index = data["spike_index"]
            y_spike = np.zeros(shape[:2], dtype=bool)
            y_spike[data["label_sims"], data["label_bins"]] = True
            y_soma = data["y_soma"].astype(np.float32)
            dvts = data["dvts"] if include_dvts else None
    except DataFileError:
        raise
    except Exception as error:  # noqa: BLE001 - any damage to a cache entry means: parse the file again
        warnings.warn(f"the parse cache entry {cache_path} of {path} is unreadable ({type(error).__name__}: "
                      f"{str(error)[:120]}); rebuilding it from the file", stacklevel=3)
        return None
    return ParsedFile(path, shape, spike_index, y_spike, y_soma, dvts)


def load_dataset_file(path, num_segments=NUM_SEGMENTS, include_dvts=True, use_cache=False, cache_dir=""):
    """Parse one dataset file (see :func:`parse_experiment_arrays`), through the sha256-keyed cache if asked.

    The cache entry is ``<cache_dir, or .parsed_cache beside the file>/<sha256>.v1.npz``; it always holds the
    DVTs when the file has them. A folder that cannot be written only disables caching (with a warning); a
    corrupt entry is rebuilt (with a warning). Nothing is written for a file that cannot be parsed; a bad file
    raises DataFileError naming it.
    """
    check_pickle_file(path)
    cache_path = folder = None
    if use_cache:
        folder = cache_folder_for(path, cache_dir)
        try:
            cache_path = os.path.join(folder, f"{file_sha256(path, folder)}.v{CACHE_FORMAT_VERSION}.npz")
        except OSError as error:
            warnings.warn(f"parse cache disabled for {path}: {error}", stacklevel=2)
            cache_path = None
        if cache_path and os.path.exists(cache_path):
            parsed = _load_parsed(cache_path, path, num_segments, include_dvts)
            if parsed is not None:
                return parsed
    experiment = load_experiment(path)
    sims = experiment["Results"]["listOfSingleSimulationDicts"]
    file_has_dvts = all("dendriticVoltagesLowRes" in sim for sim in sims)
    parsed = parse_experiment_arrays(experiment, num_segments, include_dvts=include_dvts or
                                     (cache_path is not None and file_has_dvts), path=path)
    del experiment, sims
    if cache_path:
        try:
            _save_parsed(parsed, cache_path)
            _save_sidecar(path, folder, file_sha256(path), os.stat(path))
        except OSError as error:
            warnings.warn(f"could not write the parse cache {cache_path}: {error}", stacklevel=2)
    if not include_dvts:
        parsed.dvts = None
    return parsed


# ---------------------------------------------------------------------------------------------------------
# targets (§6)
# ---------------------------------------------------------------------------------------------------------

def soma_targets(y_soma, threshold_mV=SOMA_THRESHOLD_MV, bias_mV=SOMA_BIAS_MV):
    """Soma target of §6: clipped at -55 mV from above, then -67.7 subtracted (so about -20..+12.7); float32."""
    return (np.minimum(np.asarray(y_soma, dtype=np.float32), np.float32(threshold_mV)) - np.float32(bias_mV))


def fit_dvt_pca(dvts, num_components, clip_mV=DVT_CLIP_MV, random_state=0):
    """sklearn PCA(num_components, whiten=True) on the (sims*T, segments) DVTs clipped at +2 mV (§6 "DVT PCA").

    ``dvts`` is (sims, segments, T). The solver is sklearn's default ('auto'); ``random_state`` fixes its
    randomized SVD so a rerun gives the same components.
    """
    from sklearn.decomposition import PCA

    dvts = np.asarray(dvts)
    samples = np.transpose(dvts, (0, 2, 1)).reshape(-1, dvts.shape[1]).astype(np.float32)
    np.minimum(samples, np.float32(clip_mV), out=samples)
    if num_components > min(samples.shape):
        raise UserError(f"cannot fit {num_components} DVT components to {samples.shape[0]} samples of "
                        f"{samples.shape[1]} segments (lower --num-DVT-components)")
    pca = PCA(n_components=num_components, whiten=True, random_state=random_state)
    pca.fit(samples)
    return pca


def dvt_targets(pca, dvts, clip_mV=DVT_CLIP_MV, target_clip=DVT_TARGET_CLIP, sims_per_chunk=8):
    """(sims, T, components) float32: DVTs (sims, segments, T) clipped at +2 mV, whitened PCA, clipped to +-3."""
    num_sims, _, num_time_bins = dvts.shape
    out = np.empty((num_sims, num_time_bins, pca.n_components_), dtype=np.float32)
    for start in range(0, num_sims, sims_per_chunk):
        chunk = np.asarray(dvts[start:start + sims_per_chunk])
        samples = np.transpose(chunk, (0, 2, 1)).reshape(-1, chunk.shape[1]).astype(np.float32)
        np.minimum(samples, np.float32(clip_mV), out=samples)
        projected = pca.transform(samples).astype(np.float32, copy=False)
        out[start:start + len(chunk)] = np.clip(projected, -target_clip, target_clip).reshape(
            len(chunk), num_time_bins, -1)
    return out


def training_arrays(parsed, pca, soma_threshold_mV=SOMA_THRESHOLD_MV, soma_bias_mV=SOMA_BIAS_MV,
                    dvt_clip_mV=DVT_CLIP_MV, dvt_target_clip=DVT_TARGET_CLIP):
    """What the window sampler draws from (§6): the sparse inputs (``shape``, ``spike_index``), y_spike bool
    (sims, T), and the float32 targets y_soma (sims, T) and y_DVT (sims, T, components)."""
    return {
        "shape": tuple(parsed.shape),
        "spike_index": parsed.spike_index,
        "y_spike": parsed.y_spike,
        "y_soma": soma_targets(parsed.y_soma, soma_threshold_mV, soma_bias_mV),
        "y_DVT": dvt_targets(pca, parsed.dvts, dvt_clip_mV, dvt_target_clip),
    }
