"""Parallel runs: worker-count independence, resume after an interruption, atomic writes, the Dask path."""

import os
import pickle

import numpy as np
import pytest

from neuron_as_deep_net.core import parallel
from neuron_as_deep_net.core.files import atomic_write


class FakeSimulator:
    """A deterministic stand-in for a cell: output depends only on the inputs; logs every computed trial."""

    builds = 0

    def __init__(self, log_dir, fail_on=None):
        self.log_dir = log_dir
        self.fail_on = fail_on
        FakeSimulator.builds += 1

    def simulate(self, index, values):
        if self.fail_on is not None and index == self.fail_on:
            raise KeyboardInterrupt("simulated interruption")
        with open(os.path.join(self.log_dir, f"computed_{index}_{os.getpid()}_{np.random.randint(1 << 30)}"), "w"):
            pass
        return {"index": index, "total": float(np.sum(values)), "trace": np.cumsum(values)}, {"seconds": 0.0}


def make_inputs(count):
    rng = np.random.RandomState(0)
    return [(k, rng.rand(5)) for k in range(count)]


def computed_indices(log_dir):
    return sorted(int(name.split("_")[1]) for name in os.listdir(log_dir) if name.startswith("computed_"))


def run(tmp_path, name, workers, inputs, log_dir, chunk_size=2, fail_on=None, dask_scheduler=None):
    checkpoints = parallel.ChunkCheckpoints(str(tmp_path / name), {"run": name})
    return parallel.run_simulations(inputs, FakeSimulator, {"log_dir": str(log_dir), "fail_on": fail_on}, {},
                                           checkpoints, chunk_size=chunk_size, workers=workers,
                                           dask_scheduler=dask_scheduler)


def assert_same_results(first, second):
    assert len(first) == len(second)
    for (a, _), (b, _) in zip(first, second):
        assert a["index"] == b["index"] and a["total"] == b["total"]
        np.testing.assert_array_equal(a["trace"], b["trace"])


def test_results_do_not_depend_on_worker_count(tmp_path):
    inputs = make_inputs(7)
    (tmp_path / "log1").mkdir()
    (tmp_path / "log2").mkdir()
    one = run(tmp_path, "one", 1, inputs, tmp_path / "log1")
    two = run(tmp_path, "two", 2, inputs, tmp_path / "log2")
    assert_same_results(one, two)
    assert [r["index"] for r, _ in one] == list(range(7))  # input order, not completion order
    assert computed_indices(tmp_path / "log2") == list(range(7))  # every trial exactly once


def test_each_worker_builds_its_simulator_once(tmp_path):
    FakeSimulator.builds = 0
    (tmp_path / "log").mkdir()
    parallel._WORKER_SIMULATORS.clear()
    run(tmp_path, "reuse", 1, make_inputs(6), tmp_path / "log", chunk_size=1)
    assert FakeSimulator.builds == 1


def test_resume_skips_finished_chunks_and_equals_uninterrupted_run(tmp_path):
    inputs = make_inputs(8)
    log = tmp_path / "log"
    log.mkdir()
    parallel._WORKER_SIMULATORS.clear()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "resumed", 1, inputs, log, chunk_size=2, fail_on=5)  # dies inside chunk 2 (sims 4, 5)
    assert computed_indices(log) == [0, 1, 2, 3, 4]
    parallel._WORKER_SIMULATORS.clear()
    resumed = run(tmp_path, "resumed", 1, inputs, log, chunk_size=2)
    # sims 0-3 were checkpointed and not recomputed; only the interrupted chunk (4, 5) is repeated
    assert computed_indices(log) == [0, 1, 2, 3, 4, 4, 5, 6, 7]
    (tmp_path / "log_full").mkdir()
    parallel._WORKER_SIMULATORS.clear()
    assert_same_results(resumed, run(tmp_path, "full", 1, inputs, tmp_path / "log_full", chunk_size=2))


def test_checkpoint_folder_of_other_run_is_refused(tmp_path):
    parallel.ChunkCheckpoints(str(tmp_path / "c"), {"seed": 1})
    with pytest.raises(ValueError, match="other arguments"):
        parallel.ChunkCheckpoints(str(tmp_path / "c"), {"seed": 2})


def test_atomic_write_never_leaves_partial_files(tmp_path):
    target = tmp_path / "data.p"
    with atomic_write(str(target)) as handle:
        pickle.dump({"a": 1}, handle)
    with pytest.raises(RuntimeError):
        with atomic_write(str(target)) as handle:
            handle.write(b"half a pickle")
            raise RuntimeError("killed mid-write")
    with open(target, "rb") as handle:
        assert pickle.load(handle) == {"a": 1}  # the old content survives
    assert os.listdir(tmp_path) == ["data.p"]  # and no temp file is left


@pytest.mark.slow
def test_dask_path_on_a_local_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    inputs = make_inputs(5)
    (tmp_path / "log_local").mkdir()
    (tmp_path / "log_dask").mkdir()
    parallel._WORKER_SIMULATORS.clear()
    local = run(tmp_path, "local", 1, inputs, tmp_path / "log_local")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = run(tmp_path, "dask", 1, inputs, tmp_path / "log_dask", dask_scheduler=cluster.scheduler_address)
    assert_same_results(local, remote)
    assert computed_indices(tmp_path / "log_dask") == list(range(5))
