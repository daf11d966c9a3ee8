"""Trials on the L5PC (spec §3): the solvers, the trial runner and the original's CVode stops.

:class:`L5PCSimulator` puts one excitatory and one inhibitory synapse on the centre of each of the 639
dendritic segments once, and then runs any number of trials from spike-time dicts, re-initialising state and
events each time, returning the original's per-simulation dict (spec §1.1). :func:`apply_original_stops`
applies, afterwards, where the original's CVode runs stopped.
"""

import time

import numpy as np

from ..core import coreneuron_engine
from .cell import NEXUS_LOCATION, NUM_SEGMENTS, SYNAPSE_PARAMETERS, V_INIT_MV, L5PCCell
from .data_format import SIMULATION_ARRAY_DTYPES, binary_to_dict


CVODE_ATOL = 1e-3  # NEURON's defaults, which the original used
CVODE_RTOL = 0.0
FIXED_DT_MS = 0.025
FAST_DT_MS = 0.05  # --solver fast: twice the fixed step, with NEURON's second-order (Crank-Nicolson) method
FAST_SECONDORDER = 2  # secondorder = 2 also corrects the ionic currents; 0.1 ms and above ring at spike peaks
SOLVERS = {  # name -> description printed by the scripts
    "cvode": f"variable step, atol {CVODE_ATOL} (the original)",
    "fixed": f"fixed step dt {FIXED_DT_MS} ms, backward Euler",
    "fast": f"fixed step dt {FAST_DT_MS} ms, Crank-Nicolson (secondorder {FAST_SECONDORDER})",
    "coreneuron": f"as fast (dt {FAST_DT_MS} ms, secondorder {FAST_SECONDORDER}), run by CoreNEURON",
}
CVODE_FIRST_PREVIOUS_DT_MS = 0.025  # h.dt (NEURON's default) when the original's process starts its first run
CVODE_TAIL_MS = 5.0  # the last steps kept so that the original's stop can be applied afterwards
SPIKE_THRESHOLD_MV = -25.0
NUM_SAMPLES_PER_MS_HIGH_RES = 8


class LinearInterpolator:
    """np.interp's arithmetic for many rows sampled at the same times, the bracketing searched once.

    Reproduces np.interp bit for bit (slope * (x - x_left) + y_left; a grid point that hits a sample exactly,
    or lies outside the samples, takes that sample), so the dataset's float16 traces equal the original's.
    """

    def __init__(self, sample_times, grid):
        sample_times = np.asarray(sample_times, dtype=float)
        grid = np.asarray(grid, dtype=float)
        last = len(sample_times) - 1
        self.left = np.clip(np.searchsorted(sample_times, grid, side="right") - 1, 0, max(last - 1, 0))
        self.right = np.minimum(self.left + 1, last)
        self.offset = grid - sample_times[self.left]
        self.span = sample_times[self.right] - sample_times[self.left]
        self.exact = self.offset == 0
        self.before, self.after = grid < sample_times[0], grid >= sample_times[last]

    def __call__(self, samples):
        """Interpolate ``samples`` (..., num_samples) onto the grid."""
        left, right = samples[..., self.left], samples[..., self.right]
        with np.errstate(divide="ignore", invalid="ignore"):
            values = (right - left) / self.span * self.offset + left
        values = np.where(self.exact, left, values)
        values = np.where(self.before, samples[..., :1], values)
        return np.where(self.after, samples[..., -1:], values)


def interpolate_traces(sample_times, traces, grid):
    """Linear interpolation of every row of ``traces`` (rows, samples) onto ``grid``, equal to np.interp per row."""
    return LinearInterpolator(sample_times, grid)(np.asarray(traces, dtype=float))


def output_grids(sim_duration_ms):
    """The file's sample times: (1/8-ms high-resolution grid, 1-ms low-resolution grid) over [0, T) (spec §3)."""
    return np.arange(0, sim_duration_ms, 1.0 / NUM_SAMPLES_PER_MS_HIGH_RES), np.arange(0, sim_duration_ms)


def detect_spikes(voltage, threshold_mv=SPIKE_THRESHOLD_MV):
    """Indices of local maxima above threshold: v[i] > v[i-1] and v[i] > v[i+1] (ends count as not) (§3)."""
    voltage = np.asarray(voltage)
    rising = np.r_[False, voltage[1:] > voltage[:-1]]
    falling = np.r_[voltage[:-1] > voltage[1:], False]
    return np.flatnonzero(rising & falling & (voltage > threshold_mv))


class L5PCSimulator:
    """One cell with its 2 x 639 synapses, reused for every trial (spec §2.5, §2.6, §3)."""

    def __init__(self, morphology_path=None, excitatory_synapse_type="NMDA", inhibitory_synapse_type="GABA_A",
                 SKE2_mult_factor=1.0, Ih_vshift=0.0, solver="cvode", check_morphology_checksum=True,
                 stop_like_this_process=False):
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {solver!r}")
        self.cell = L5PCCell(morphology_path, SKE2_mult_factor, Ih_vshift, check_morphology_checksum)
        self.h = h = self.cell.h
        self.solver = solver
        self.stop_like_this_process = stop_like_this_process  # see simulate()
        self.segments = self.cell.segments()
        if len(self.segments) != NUM_SEGMENTS:
            raise ValueError(f"the morphology gives {len(self.segments)} dendritic segments, the model expects "
                             f"{NUM_SEGMENTS} (is it cell1.asc?)")
        self.excitatory_synapses = [self.make_synapse(segment, excitatory_synapse_type) for segment in self.segments]
        self.inhibitory_synapses = [self.make_synapse(segment, inhibitory_synapse_type) for segment in self.segments]
        self.excitatory_netcons = [self.make_netcon(synapse) for synapse in self.excitatory_synapses]
        self.inhibitory_netcons = [self.make_netcon(synapse) for synapse in self.inhibitory_synapses]
        self.pending_events = ([], [])
        self.event_handler = h.FInitializeHandler(self.queue_events)
        self.dvt_sampler = None
        if solver == "coreneuron":
            coreneuron_engine.prepare()  # compile on first use, before any trial is timed
            for netcon in self.excitatory_netcons + self.inhibitory_netcons:
                netcon.delay = coreneuron_engine.input_netcon_delay(FAST_DT_MS)

        self.step_vector = None
        soma_segment = self.cell.soma[0](0.5)
        nexus_section, nexus_x = NEXUS_LOCATION
        nexus_segment = self.cell.apic[nexus_section](nexus_x)
        if solver == "fixed":
            # the output grids fall on steps, so record only there (the same values, far less memory)
            high_res_dt = 1.0 / NUM_SAMPLES_PER_MS_HIGH_RES
            self.time_vector = h.Vector().record(h._ref_t, high_res_dt)
            self.soma_vector = h.Vector().record(soma_segment._ref_v, high_res_dt)
            self.nexus_vector = h.Vector().record(nexus_segment._ref_v, high_res_dt)
        else:
            # the original: record every step, interpolate afterwards (spec §3); for "fast" the 1/8-ms grid
            # falls between the 0.05-ms steps, so it is interpolated like CVODE's
            self.time_vector = h.Vector().record(h._ref_t)
            self.soma_vector = h.Vector().record(soma_segment._ref_v)
            self.nexus_vector = h.Vector().record(nexus_segment._ref_v)
        if solver == "cvode":
            self.step_vector = h.Vector().record(h._ref_dt)  # each recorded step's size (apply_original_stop)
            self.dvt_time_vector = self.time_vector
            self.dendrite_vectors = [h.Vector().record(segment._ref_v) for segment in self.segments]
        elif solver == "coreneuron":  # CoreNEURON fills only per-step recordings: keep the steps on the 1-ms grid
            self.dvt_sampler = coreneuron_engine.GridSampler(h, [segment._ref_v for segment in self.segments], 1.0)
            self.dvt_time_vector = self.dendrite_vectors = None
        else:  # the 1-ms grid falls on fixed steps
            self.dvt_time_vector = h.Vector().record(h._ref_t, 1.0)
            self.dendrite_vectors = [h.Vector().record(segment._ref_v, 1.0) for segment in self.segments]
        self.configure_solver()

    def close(self):
        """Free the cell, synapses, events and recordings (so another cell can be built in this process)."""
        import gc

        self.event_handler = self.dvt_sampler = None
        self.excitatory_netcons = self.inhibitory_netcons = None
        self.excitatory_synapses = self.inhibitory_synapses = None
        self.time_vector = self.dvt_time_vector = self.soma_vector = self.nexus_vector = self.step_vector = None
        self.dendrite_vectors = None
        self.segments = None
        if self.cell is not None:
            self.cell.close()
        self.cell = None
        gc.collect()

    def make_synapse(self, segment, synapse_type):
        """A point process of the given kind at the centre of ``segment`` (spec §2.5 parameters)."""
        if synapse_type not in SYNAPSE_PARAMETERS:
            raise ValueError(f"unknown synapse type {synapse_type!r}; choose from {sorted(SYNAPSE_PARAMETERS)}")
        mechanism, parameters = SYNAPSE_PARAMETERS[synapse_type]
        synapse = getattr(self.h, mechanism)(segment)
        for name, value in parameters.items():
            setattr(synapse, name, value)
        return synapse

    def make_netcon(self, synapse):
        """An input NetCon with no source, delay 0 and weight 1."""
        netcon = self.h.NetCon(None, synapse)
        netcon.delay = 0
        netcon.weight[0] = 1
        return netcon

    def configure_solver(self):
        """CVODE with NEURON's default tolerances (the original), or a fixed step (see ``SOLVERS``)."""
        h = self.h
        if self.solver == "cvode":
            h.cvode.active(1)
            h.cvode.atol(CVODE_ATOL)
            h.cvode.rtol(CVODE_RTOL)
            h.secondorder = 0
        else:
            h.cvode.active(0)
            h.dt = FIXED_DT_MS if self.solver == "fixed" else FAST_DT_MS
            h.secondorder = 0 if self.solver == "fixed" else FAST_SECONDORDER
            h.cvode.cache_efficient(1)

    def queue_events(self):
        """FInitializeHandler: deliver this trial's input spikes as NetCon events (after the state reset)."""
        for netcons, spike_times in zip((self.excitatory_netcons, self.inhibitory_netcons), self.pending_events):
            for segment_index, times in spike_times:
                netcon = netcons[segment_index]
                for spike_time in times:
                    netcon.event(spike_time)

    def simulate(self, ex_spike_times, inh_spike_times, sim_duration_ms, collect_dvts=True):
        """Run one trial from {segment: [times]} dicts; return the original's per-simulation dict (§1.1).

        Where a CVODE run stops depends on the process's history: ``h.continuerun(T)`` (stdrun, with
        stdrun's own ``using_cvode_`` left at 0 as in the original) steps while ``t < T - h.dt / 2``, and under
        CVODE ``h.dt`` is the last step of the *previous* run (0.025 ms before the first). The original ran its
        simulations one after another in one process, so simulation k stops where simulation k-1's last step
        says. With ``stop_like_this_process`` we do exactly that (the in-process emulation of the original).
        By default a CVODE run goes on to T and keeps its last ``CVODE_TAIL_MS`` of steps in
        ``result["cvodeTail"]``; :func:`apply_original_stops` then cuts every simulation of a file where the
        original would have, in file order, so the output does not depend on which worker ran what.
        """
        h = self.h
        self.pending_events = tuple([(int(k), [float(t) for t in v]) for k, v in d.items()]
                                    for d in (ex_spike_times, inh_spike_times))
        timings = {}
        t0 = time.time()
        if self.solver == "coreneuron":
            self.dvt_sampler.reset()
            coreneuron_engine.run(h, V_INIT_MV, sim_duration_ms, coreneuron_engine.CHUNK_MS, self.dvt_sampler.harvest)
        else:
            h.finitialize(V_INIT_MV)
            h.continuerun(sim_duration_ms)
        deferred_stop = self.solver == "cvode" and not self.stop_like_this_process
        if deferred_stop:
            while h.t < sim_duration_ms:  # on to T (a step or two); apply_original_stop cuts where the original did
                h.fadvance()
        timings["simulation_sec"] = time.time() - t0
        t0 = time.time()
        result = self.collect(ex_spike_times, inh_spike_times, sim_duration_ms, collect_dvts)
        if deferred_stop:
            result["cvodeTail"] = self.cvode_tail(sim_duration_ms, collect_dvts)
        timings["collection_sec"] = time.time() - t0
        self.pending_events = ([], [])
        return result, timings

    def cvode_tail(self, sim_duration_ms, collect_dvts):
        """The recorded steps of the last ``CVODE_TAIL_MS``: times, sizes and voltages, and the size of the step
        that ended the run, which recorded no sample (see :func:`apply_original_stop`)."""
        times = self.time_vector.as_numpy()
        first = int(np.searchsorted(times, sim_duration_ms - CVODE_TAIL_MS, side="left"))
        tail = {"stepTimes": times[first:].copy(),
                "stepSizes": self.step_vector.as_numpy()[first:].copy(), "finalStepSize": float(self.h.dt),
                "soma": self.soma_vector.as_numpy()[first:].copy(),
                "nexus": self.nexus_vector.as_numpy()[first:].copy()}
        if collect_dvts:
            tail["dendrites"] = np.array([vector.as_numpy()[first:] for vector in self.dendrite_vectors])
        return tail

    def collect(self, ex_spike_times, inh_spike_times, sim_duration_ms, collect_dvts):
        """Interpolate the recorded traces onto the 1/8-ms and 1-ms grids; detect spikes; cast (spec §3)."""
        sample_times = self.time_vector.as_numpy().copy()
        high_res_grid, low_res_grid = output_grids(sim_duration_ms)
        soma_nexus = np.vstack((self.soma_vector.as_numpy(), self.nexus_vector.as_numpy()))
        soma_high, nexus_high = interpolate_traces(sample_times, soma_nexus, high_res_grid)
        soma_low, nexus_low = interpolate_traces(sample_times, soma_nexus, low_res_grid)
        output_spike_times = high_res_grid[detect_spikes(soma_high)]
        result = {
            "exInputSpikeTimes": ex_spike_times,
            "inhInputSpikeTimes": inh_spike_times,
            "recordingTimeHighRes": high_res_grid,
            "somaVoltageHighRes": soma_high,
            "nexusVoltageHighRes": nexus_high,
            "recordingTimeLowRes": low_res_grid,
            "somaVoltageLowRes": soma_low,
            "nexusVoltageLowRes": nexus_low,
            "outputSpikeTimes": output_spike_times,
        }
        for key, dtype in SIMULATION_ARRAY_DTYPES.items():
            result[key] = np.asarray(result[key]).astype(dtype)
        result["unroundedOutputSpikeTimes"] = output_spike_times  # used for the run statistics, then dropped
        if collect_dvts:
            dvt_times, dvt_rows = self.dvt_samples()
            interpolate = LinearInterpolator(dvt_times, low_res_grid)
            dvts = np.empty((len(self.segments), low_res_grid.size), dtype=np.float16)
            for k, samples in enumerate(dvt_rows):  # rows one by one: no (639 x steps) copy
                dvts[k] = interpolate(samples)
            result["dendriticVoltagesLowRes"] = dvts
        return result

    def dvt_samples(self):
        """(sample times, the 639 rows of samples) of the dendritic voltages recorded in the last run."""
        if self.dvt_sampler is not None:
            return self.dvt_sampler.samples()
        return self.dvt_time_vector.as_numpy().copy(), (vector.as_numpy() for vector in self.dendrite_vectors)

    def simulate_from_binary(self, ex_spikes, inh_spikes, collect_dvts=True):
        """Run one trial from bool (639, T) input matrices (see :meth:`simulate`)."""
        return self.simulate(binary_to_dict(ex_spikes), binary_to_dict(inh_spikes), ex_spikes.shape[1], collect_dvts)


def apply_original_stop(result, previous_final_dt, sim_duration_ms):
    """Cut a deferred-stop CVODE result where the original's ``continuerun`` would have; return its last step.

    The original recorded the steps with ``t < T - previous_final_dt / 2`` and then took one more (h.dt after
    the run = the size of that step, as NEURON holds it). Grid points after the last kept step take its value
    (np.interp's rule), so only the last samples of each trace can change, and with them a spike peak at the
    very end. ``result`` is updated in place (its ``cvodeTail`` removed); the return value is the
    ``previous_final_dt`` of the next simulation.
    """
    tail = result.pop("cvodeTail")
    times = tail["stepTimes"]
    stop = sim_duration_ms - previous_final_dt / 2
    kept = int(np.searchsorted(times, stop, side="left"))  # steps with t < stop
    grids = dict(zip(("high", "low"), output_grids(sim_duration_ms)))
    high_res_grid = grids["high"]
    tail_grid = np.flatnonzero(high_res_grid >= times[0]) if times.size else np.zeros(0, dtype=int)
    if kept < 2 or tail_grid.size < 2 or times[kept - 1] <= high_res_grid[tail_grid[1]]:
        raise ValueError(f"the previous simulation's last CVODE step ({previous_final_dt:.3g} ms) reaches before "
                         f"the kept tail of {CVODE_TAIL_MS} ms; raise l5pc.CVODE_TAIL_MS")
    final_dt = float(np.append(tail["stepSizes"], tail["finalStepSize"])[kept])  # h.dt after the original's run
    times = times[:kept]
    for key, trace, grid_name in (("somaVoltageHighRes", "soma", "high"), ("nexusVoltageHighRes", "nexus", "high"),
                                  ("somaVoltageLowRes", "soma", "low"), ("nexusVoltageLowRes", "nexus", "low"),
                                  ("dendriticVoltagesLowRes", "dendrites", "low")):
        if key not in result:
            continue
        grid = grids[grid_name]
        affected = np.flatnonzero(grid >= times[0])
        values = LinearInterpolator(times, grid[affected])(tail[trace][..., :kept])
        result[key][..., affected] = values.astype(result[key].dtype)
    # spikes: peaks at tail-grid points after the first one are detected again on the cut soma trace
    soma_tail = LinearInterpolator(times, high_res_grid[tail_grid])(tail["soma"][:kept])
    first_time = high_res_grid[tail_grid[1]]
    spikes = np.asarray(result["unroundedOutputSpikeTimes"])
    tail_peaks = tail_grid[detect_spikes(soma_tail)]  # never its first point, whose neighbour is not in the tail
    spikes = np.concatenate([spikes[spikes < first_time], high_res_grid[tail_peaks]])
    result["unroundedOutputSpikeTimes"] = spikes
    result["outputSpikeTimes"] = spikes.astype(SIMULATION_ARRAY_DTYPES["outputSpikeTimes"])
    return final_dt


def apply_original_stops(results, sim_duration_ms, first_previous_dt=CVODE_FIRST_PREVIOUS_DT_MS):
    """:func:`apply_original_stop` along a file's simulations in order, as the original's process ran them.

    Results without a ``cvodeTail`` (fixed-step solvers, whose stop does not depend on history) are left as they are.
    """
    previous_final_dt = first_previous_dt
    for result in results:
        if "cvodeTail" in result:
            previous_final_dt = apply_original_stop(result, previous_final_dt, sim_duration_ms)
    return results
