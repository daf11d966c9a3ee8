"""CoreNEURON as the engine of a fixed-step run (``--solver coreneuron``, issue 17).

NEURON builds the cell, queues the input events (``NetCon.event`` in an FInitializeHandler) and owns the
recordings; ``ParallelContext.psolve`` with ``coreneuron.enable`` hands the model, its queued events and its
per-step recordings to CoreNEURON in memory, runs it, and copies the state and the recordings back. So the
cells keep their NEURON code; only the call that advances time changes (:func:`run`). Three differences:

* **Minimum delay.** CoreNEURON refuses a model whose smallest NetCon delay is below dt ("usable mindelay
  is 0"; NEURON's rule, nrn_spike_exchange_init: the smallest delay, less dt when there are several
  threads, must be >= dt). The input NetCons get :data:`INPUT_NETCON_DELAY_STEPS` x dt instead of 0. No
  input event moves: ``NetCon.event(t)`` delivers at t whatever the delay (the delay applies only to
  spikes from a source), also in the first 0.1 ms and at t = 0 (with a plain build the L5PC traces are
  bit-identical to NEURON's, t = 0 / Dep = 0 silencing included).
* **Recording.** CoreNEURON fills only per-step recordings (``Vector.record(ref)``); a Vector recording
  every 1 ms (``record(ref, 1.0)``) stays empty. :class:`GridSampler` records per step and keeps only the
  samples on a coarse grid after each piece of the run, so the 639 L5PC DVTs do not take 600 MB per
  6-s trial: :func:`run` advances in pieces of ``chunk_ms`` (each psolve re-transfers the model, ~15 ms).
* **One mechanism library per process.** CoreNEURON loads its library once, so it is built from every .mod
  file of the project (:func:`project_mod_files`), which serves the L5PC and the ball-and-stick cells.

The library is compiled on first use (:func:`mechanisms.build_coreneuron_library`, a cache entry of its own).
"""

import os
from pathlib import Path

import numpy as np

from . import mechanisms

INPUT_NETCON_DELAY_STEPS = 2  # input NetCon delay in steps of dt: >= dt with one thread, >= 2 dt with two
CHUNK_MS = 500.0  # psolve pieces of a run with a GridSampler (the L5PC's 639 per-step DVTs: 51 MB per piece)
BALL_AND_STICK_MODS_DIR = mechanisms.PROJECT_DIR / "L5PC_NEURON_simulation" / "ball_and_stick_mods"

_library_in_use = None  # the libcorenrnmech this process has pointed CoreNEURON at


def availability():
    """(True, "") if this NEURON installation can run CoreNEURON, else (False, the reason)."""
    try:
        from neuron import coreneuron  # noqa: F401
    except ImportError as error:
        return False, f"this NEURON has no CoreNEURON ({error})"
    try:
        nrnivmodl = Path(mechanisms._find_nrnivmodl())
    except RuntimeError as error:
        return False, str(error)
    if not (nrnivmodl.parent / "nrnivmodl-core").exists():
        return False, f"this NEURON was built without CoreNEURON (no nrnivmodl-core next to {nrnivmodl})"
    return True, ""


def project_mod_files():
    """Every .mod file of the project: the L5PC's and the ball-and-stick synapses."""
    return sorted(mechanisms.MODS_DIR.glob("*.mod")) + sorted(BALL_AND_STICK_MODS_DIR.glob("*.mod"))


def prepare():
    """Build (first use) the CoreNEURON library and point CoreNEURON at it; return its path.

    Once per process: CoreNEURON loads its library at the first psolve and keeps it.
    """
    global _library_in_use
    if _library_in_use is None:
        available, reason = availability()
        if not available:
            raise mechanisms.MechanismError(f"CoreNEURON cannot run here: {reason}")
        _library_in_use = mechanisms.build_coreneuron_library(project_mod_files())
    os.environ["CORENEURONLIB"] = str(_library_in_use)
    return _library_in_use


def input_netcon_delay(dt):
    """The delay CoreNEURON accepts for a source-less input NetCon (arrival times do not depend on it)."""
    return INPUT_NETCON_DELAY_STEPS * dt


def run(h, v_init_mv, tstop_ms, chunk_ms=None, after_chunk=None):
    """``h.finitialize(v_init_mv)``, then CoreNEURON to ``tstop_ms`` in pieces that end at multiples of
    ``chunk_ms`` (one piece if None), calling ``after_chunk()`` after each. NEURON's fixed-step settings
    (h.dt, h.secondorder) apply; CVODE must be off."""
    from neuron import coreneuron

    if h.cvode.active():
        raise ValueError("CoreNEURON runs a fixed step: switch CVODE off (h.cvode.active(0)) first")
    prepare()
    h.cvode.cache_efficient(1)
    pc = h.ParallelContext()
    pc.set_maxstep(10)
    h.finitialize(v_init_mv)
    ends = [float(tstop_ms)] if not chunk_ms else \
        list(np.append(np.arange(chunk_ms, tstop_ms, chunk_ms), float(tstop_ms)))
    with coreneuron(enable=True, verbose=0):
        for end in ends:
            pc.psolve(end)
            if after_chunk is not None:
                after_chunk()


class GridSampler:
    """Per-step recordings of ``refs`` (e.g. segment._ref_v) of which only the steps on a grid of
    ``interval_ms`` (a multiple of dt) are kept: call :meth:`harvest` after each piece of a run
    (``run(..., after_chunk=sampler.harvest)``) and :meth:`samples` at the end."""

    def __init__(self, h, refs, interval_ms):
        self.h = h
        self.interval_ms = float(interval_ms)
        self.time_vector = h.Vector().record(h._ref_t)
        self.vectors = [h.Vector().record(ref) for ref in refs]
        self.reset()

    def reset(self):
        """Forget the samples kept so far (a new run)."""
        self.kept_times, self.kept = [], []
        self.next_grid_index = 0

    def harvest(self):
        """Keep the samples of the steps since the last harvest that fall on the grid; empty the vectors."""
        times = self.time_vector.as_numpy()
        dt = float(self.h.dt)
        steps_per_sample = self.interval_ms / dt
        if abs(steps_per_sample - round(steps_per_sample)) > 1e-6:
            raise ValueError(f"the sampling interval {self.interval_ms} ms is not a multiple of dt = {dt} ms")
        if times.size:
            first = self.next_grid_index
            last = int(np.floor((times[-1] + dt / 2) / self.interval_ms))
            grid = np.arange(first, last + 1) * self.interval_ms
            rows = np.rint((grid - times[0]) / dt).astype(int)
            if rows.size and (rows[0] < 0 or np.abs(times[rows] - grid).max() > dt / 4):
                raise RuntimeError("the recorded steps do not contain the sampling grid")
            self.kept_times.append(grid)
            rows_kept = [vector.as_numpy()[rows] for vector in self.vectors]
            self.kept.append(np.array(rows_kept).reshape(len(self.vectors), rows.size))
            self.next_grid_index = last + 1
        self.time_vector.resize(0)
        for vector in self.vectors:
            vector.resize(0)

    def samples(self):
        """(grid times, samples (len(refs), grid points)) kept since the last reset, float64."""
        if not self.kept:
            return np.zeros(0), np.zeros((len(self.vectors), 0))
        return np.concatenate(self.kept_times), np.concatenate(self.kept, axis=1)
