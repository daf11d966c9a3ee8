"""Running many independent simulations: worker processes, Dask, chunk checkpoints and resume.

The parent draws every input first (in the original's random order), cuts the simulations into chunks of a
fixed size, and hands chunks to workers. Each worker process builds its simulator (cell + synapses) once and
reuses it for every chunk it receives. Finished chunks are written atomically to a checkpoint folder, so a
restarted run with the same arguments skips them; results do not depend on the number of workers because a
simulation depends only on its own inputs (what depended on the order of runs in the original's single
process, the end of a CVODE run, is applied afterwards in file order:
``neuron_as_deep_net.l5pc.simulator.apply_original_stops``).

Backends: ``workers == 1`` runs in this process; ``workers > 1`` uses a spawn-context process pool;
``dask_scheduler`` sends the chunks to a Dask distributed cluster (any machine that can import this package).
"""

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from .errors import DataFileError
from .files import atomic_write, load_pickle, save_pickle

_WORKER_SIMULATORS = {}  # per process: (factory, config) -> simulator, built on first use


def factory_key(factory, config):
    """Hashable identity of a simulator configuration."""
    return f"{factory.__module__}.{factory.__qualname__}:{json.dumps(config, sort_keys=True, default=str)}"


def worker_simulator(factory, config):
    """The simulator of this process for ``config``, built once and then reused."""
    key = factory_key(factory, config)
    if key not in _WORKER_SIMULATORS:
        _WORKER_SIMULATORS[key] = factory(**config)
    return _WORKER_SIMULATORS[key]


def register_simulator(factory, config, simulator):
    """Make an already built simulator the one this process uses for ``config``."""
    _WORKER_SIMULATORS[factory_key(factory, config)] = simulator


def release_simulators():
    """Close (if they can) and forget this process's simulators, e.g. before building a different cell here."""
    for simulator in _WORKER_SIMULATORS.values():
        if hasattr(simulator, "close"):
            simulator.close()
    _WORKER_SIMULATORS.clear()


def run_chunk(factory, config, chunk_inputs, run_kwargs):
    """Simulate a list of per-simulation input tuples with this process's simulator; list of results."""
    simulator = worker_simulator(factory, config)
    started = time.time()
    if hasattr(simulator, "simulate_many"):  # a simulator that runs several simulations at once
        results = simulator.simulate_many(chunk_inputs, **run_kwargs)
    else:
        results = [simulator.simulate(*inputs, **run_kwargs) for inputs in chunk_inputs]
    return results, time.time() - started, os.getpid()


class ChunkCheckpoints:
    """A folder of finished chunks, ``chunk_<k>.pkl``, tagged with the run's identity."""

    def __init__(self, folder, run_identity):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        identity_path = os.path.join(folder, "run_identity.json")
        if os.path.exists(identity_path):
            try:
                with open(identity_path) as handle:
                    stored = json.load(handle)
            except ValueError as error:
                raise DataFileError(identity_path, "an unreadable checkpoint record",
                                    f"remove the folder {folder} to start again") from error
            if stored != run_identity:
                raise DataFileError(folder, "the checkpoint folder belongs to a run with other arguments",
                                    "remove it or use the same arguments to resume")
        else:
            with atomic_write(identity_path, "w") as handle:
                json.dump(run_identity, handle, indent=4, sort_keys=True)

    def path(self, chunk_index):
        """File of one chunk."""
        return os.path.join(self.folder, f"chunk_{chunk_index:05d}.pkl")

    def done(self, chunk_index):
        """Whether a chunk is already finished."""
        return os.path.exists(self.path(chunk_index))

    def save(self, chunk_index, results):
        """Write a finished chunk atomically."""
        save_pickle(results, self.path(chunk_index), protocol=4)

    def load(self, chunk_index):
        """Read a finished chunk."""
        return load_pickle(self.path(chunk_index))

    def remove(self):
        """Delete the folder once the final file is written."""
        shutil.rmtree(self.folder, ignore_errors=True)


def default_num_workers():
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_simulations(inputs, factory, config, run_kwargs, checkpoints, chunk_size=4, workers=None,
                    dask_scheduler=None, sim_seconds_each=None, description="simulations", local_simulator=None,
                    collect=True):
    """Simulate every element of ``inputs`` (a list of argument tuples); return the results in input order.

    Chunks already in ``checkpoints`` are loaded, not recomputed. Shows a progress bar with simulations done,
    simulated seconds per wall second and the ETA. ``collect=False`` returns the number of chunks instead of
    the results (read them one chunk at a time with ``checkpoints.load(k)`` when they do not fit in memory).
    """
    from tqdm import tqdm

    workers = workers or default_num_workers()
    chunks = [list(range(start, min(start + chunk_size, len(inputs)))) for start in range(0, len(inputs), chunk_size)]
    todo = [k for k in range(len(chunks)) if not checkpoints.done(k)]
    skipped = len(chunks) - len(todo)
    if skipped:
        print(f"resuming: {skipped} of {len(chunks)} chunks already finished in {checkpoints.folder}")
    progress = tqdm(total=len(inputs), initial=sum(len(chunks[k]) for k in range(len(chunks)) if k not in todo),
                    desc=description, unit="sim", smoothing=0.1, mininterval=1.0)
    started = time.time()
    simulated_seconds = 0.0

    def finished(chunk_index, chunk_results):
        nonlocal simulated_seconds
        checkpoints.save(chunk_index, chunk_results)
        progress.update(len(chunk_results))
        if sim_seconds_each:
            simulated_seconds += sim_seconds_each * len(chunk_results)
            progress.set_postfix_str(f"{simulated_seconds / max(time.time() - started, 1e-9):.3f} sim-s/wall-s")

    def task_inputs(chunk_index):
        return [inputs[i] for i in chunks[chunk_index]]

    if dask_scheduler:
        from dask.distributed import Client, as_completed as dask_as_completed

        with Client(dask_scheduler) as client:
            futures = {client.submit(run_chunk, factory, config, task_inputs(k), run_kwargs, pure=False): k
                       for k in todo}
            for future in dask_as_completed(futures):
                finished(futures[future], future.result()[0])
    elif not todo:
        pass
    elif workers == 1:
        if local_simulator is not None:
            register_simulator(factory, config, local_simulator)
        for k in todo:
            finished(k, run_chunk(factory, config, task_inputs(k), run_kwargs)[0])
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context) as pool:
            futures = {pool.submit(run_chunk, factory, config, task_inputs(k), run_kwargs): k for k in todo}
            for future in as_completed(futures):
                finished(futures[future], future.result()[0])
    progress.close()
    if not collect:
        return len(chunks)
    results = []
    for k in range(len(chunks)):
        results.extend(checkpoints.load(k))
    return results
