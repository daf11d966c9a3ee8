"""The ball-and-stick cells of the teaching experiment: the Hay et al. soma on a passive dendrite (spec §1).

Written from /work/shared/spec/ball_and_stick.md. Two named cells (:data:`CELLS`):

* ``AMPA_point``: dendrite 128 um x 4 um (0.11 lambda) with AMPA-only excitation, almost a point neuron;
* ``NMDA_cable``: dendrite 2048 um x 1 um (3.55 lambda) with "human" AMPA+NMDA synapses.

The soma carries the somatic and axonal Hay et al. (2011) conductances (SK_E2 x 0 by default); the dendrite
is passive and has ``num_segments`` compartments, each with one excitatory (``Synapse_AMPA_NMDA``) and one
inhibitory (``Synapse_GABA_A``) synapse at its centre. :class:`BallAndStickCell` builds the cell once and
runs any number of trials from (segments x ms) input-magnitude matrices; :func:`saved_targets` turns the
recorded traces into the 1-ms targets of the dataset (spikes, capped soma V, near-spike, rate, branch V).
"""

import numpy as np

from ..core import coreneuron_engine
from ..core.mechanisms import MODS_DIR, PROJECT_DIR, load_mechanisms

BALL_AND_STICK_MODS_DIR = PROJECT_DIR / "L5PC_NEURON_simulation" / "ball_and_stick_mods"

# ---- morphology and passive properties (spec §1 "Morphology", "Passive properties")
SOMA_LENGTH_UM = 25.0
SOMA_DIAMETER_UM = 25.0
NUM_SEGMENTS = 8  # dendritic compartments (= input locations) of every dataset
RA_OHM_CM = 150.0
CM_UF_CM2 = 1.0
E_PAS_MV = -85.0
DENDRITE_RM_OHM_CM2 = 20000.0  # dendrite g_pas = 1/Rm
SOMA_G_PAS_S_CM2 = 3e-5  # hard-coded, not 1/Rm

# ---- soma conductances (S/cm2), the Hay et al. somatic + axonal set in one compartment (spec §1)
SOMA_CONDUCTANCES = {
    "Im": ("gImbar_Im", 8e-6),
    "Ca_LVAst": ("gCa_LVAstbar_Ca_LVAst", 5.57e-4),
    "Ca_HVA": ("gCa_HVAbar_Ca_HVA", 6.44e-4),
    "SKv3_1": ("gSKv3_1bar_SKv3_1", 0.338029),
    "NaTs2_t": ("gNaTs2_tbar_NaTs2_t", 0.998912),
    "Ih": ("gIhbar_Ih", 7.5e-5),
    "K_Tst": ("gK_Tstbar_K_Tst", 0.077274),
    "K_Pst": ("gK_Pstbar_K_Pst", 0.188851),
    "Nap_Et2": ("gNap_Et2bar_Nap_Et2", 0.005834),
    "NaTa_t": ("gNaTa_tbar_NaTa_t", 3.89618),
}
SK_E2_S_CM2 = 0.09965  # multiplied by ske2_factor (0 in every dataset: "regular spiking")
CA_DYNAMICS = {"decay_CaDynamics_E2": 294.679571, "gamma_CaDynamics_E2": 0.000509}
EK_MV = -85.0
ENA_MV = 50.0

# ---- synapses (spec §1 "Synapses"); conductances in uS, times in ms
EXCITATORY_PRESETS = {
    "AMPA": {"gmax_AMPA": 0.0004, "gmax_NMDA": 0.0, "gamma": 0.062},
    "NMDA_rodent": {"gmax_AMPA": 0.0004, "gmax_NMDA": 0.0004, "gamma": 0.062},
    "NMDA_human": {"gmax_AMPA": 0.0004, "gmax_NMDA": 0.0008, "gamma": 0.08},
}
EXCITATORY_KINETICS = {"tau_r_AMPA": 0.3, "tau_d_AMPA": 3.0, "tau_r_NMDA": 2.0, "tau_d_NMDA": 70.0, "e": 0.0,
                       "mg": 1.0}
INHIBITORY_PARAMETERS = {"tau_r": 0.2, "tau_d": 8.0, "e": -85.0, "gmax": 0.001}

# ---- the two cells of the experiment
CELLS = {
    "AMPA_point": {"dendrite_length_um": 128.0, "dendrite_diameter_um": 4.0, "excitatory_preset": "AMPA"},
    "NMDA_cable": {"dendrite_length_um": 2048.0, "dendrite_diameter_um": 1.0, "excitatory_preset": "NMDA_human"},
}

# ---- integration, recording and targets (spec §1 "Integration and recording", "Saved targets")
DT_MS = 0.025
SAMPLES_PER_MS = 40
V_INIT_MV = -85.0
SPIKE_PEAK_HEIGHT_MV = 0.0
SOMA_V_CAP_MV = -62.0
BRANCH_V_CAP_MV = 0.0
NEAR_SPIKE_BINS = 10  # the current and 9 previous 1-ms bins
NEAR_SPIKE_MARGIN_MV = 5.0  # uncapped soma V above cap - 5 mV counts as near a spike
RATE_BOXCAR_MS = 50
RATE_GAUSSIAN_STD_MS = 2.5
ENGINES = ("neuron", "coreneuron")  # what advances time: NEURON, or CoreNEURON (same dt and method, ~1.7x faster)


def space_constant_um(diameter_um, rm_ohm_cm2=DENDRITE_RM_OHM_CM2, ra_ohm_cm=RA_OHM_CM):
    """lambda = 100 * sqrt(d * Rm / (4 Ra)) in um (d in um, Rm in ohm cm2, Ra in ohm cm)."""
    return 100.0 * np.sqrt(diameter_um * rm_ohm_cm2 / (4.0 * ra_ohm_cm))


def segment_centres_um(dendrite_length_um, num_segments=NUM_SEGMENTS):
    """Distances from the soma of the synapse sites, the segment centres (i + 0.5) / nseg."""
    return (np.arange(num_segments) + 0.5) / num_segments * dendrite_length_um


def cell_short_name(dendrite_length_um, dendrite_diameter_um, num_segments=NUM_SEGMENTS):
    """'BallAndStickNeuron_Soma_Hay2011_Dend_Lxd_2048um_x_1_0um_8segs' (spec §1 "Naming")."""
    name = (f"BallAndStickNeuron_Soma_Hay2011_Dend_Lxd_{int(round(dendrite_length_um))}um_x_"
            f"{dendrite_diameter_um:.1f}um_{int(num_segments)}segs")
    return name.replace(".", "_")


def cell_parameters(cell_name, num_segments=NUM_SEGMENTS, excitatory_preset=None, ske2_factor=0.0):
    """Constructor keyword arguments of :class:`BallAndStickCell` for a named cell (optionally overridden)."""
    if cell_name not in CELLS:
        raise ValueError(f"unknown ball-and-stick cell {cell_name!r}; choose from {sorted(CELLS)}")
    parameters = dict(CELLS[cell_name], num_segments=int(num_segments), ske2_factor=float(ske2_factor))
    if excitatory_preset:
        parameters["excitatory_preset"] = excitatory_preset
    return parameters


def load_ball_and_stick_mechanisms():
    """Compile (first use) and load the Hay et al. mechanisms plus the two ball-and-stick synapses."""
    extra = sorted(str(path) for path in BALL_AND_STICK_MODS_DIR.glob("*.mod"))
    load_mechanisms(MODS_DIR, extra)


class BallAndStickCell:
    """One ball-and-stick cell with its 2 x num_segments synapses, reused for every trial (spec §1)."""

    def __init__(self, dendrite_length_um, dendrite_diameter_um, excitatory_preset="AMPA",
                 num_segments=NUM_SEGMENTS, ske2_factor=0.0, engine="neuron"):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if excitatory_preset not in EXCITATORY_PRESETS:
            raise ValueError(f"unknown excitatory preset {excitatory_preset!r}; choose from "
                             f"{sorted(EXCITATORY_PRESETS)}")
        if dendrite_length_um <= 0 or dendrite_diameter_um <= 0 or int(num_segments) < 1:
            raise ValueError("the dendrite needs a positive length, diameter and number of segments, got "
                             f"{dendrite_length_um} um, {dendrite_diameter_um} um, {num_segments} segments")
        load_ball_and_stick_mechanisms()
        from neuron import h

        h.load_file("stdrun.hoc")
        self.h = h
        self.engine = engine
        if engine == "coreneuron":
            coreneuron_engine.prepare()  # compile on first use
        self.num_segments = int(num_segments)
        self.dendrite_length_um = float(dendrite_length_um)
        self.dendrite_diameter_um = float(dendrite_diameter_um)
        self.excitatory_preset = excitatory_preset
        self.short_name = cell_short_name(dendrite_length_um, dendrite_diameter_um, num_segments)

        self.soma = h.Section(name="soma", cell=self)
        self.soma.L, self.soma.diam, self.soma.nseg = SOMA_LENGTH_UM, SOMA_DIAMETER_UM, 1
        self.dend = h.Section(name="dend", cell=self)
        self.dend.L, self.dend.diam, self.dend.nseg = dendrite_length_um, dendrite_diameter_um, self.num_segments
        self.dend.connect(self.soma(1))
        for section in (self.soma, self.dend):
            section.Ra, section.cm = RA_OHM_CM, CM_UF_CM2
            section.insert("pas")
            section.e_pas = E_PAS_MV
        self.dend.g_pas = 1.0 / DENDRITE_RM_OHM_CM2
        self.soma.g_pas = SOMA_G_PAS_S_CM2
        for mechanism, (name, value) in SOMA_CONDUCTANCES.items():
            self.soma.insert(mechanism)
            setattr(self.soma, name, value)
        self.soma.insert("SK_E2")
        self.soma.gSK_E2bar_SK_E2 = SK_E2_S_CM2 * float(ske2_factor)
        self.soma.insert("CaDynamics_E2")
        for name, value in CA_DYNAMICS.items():
            setattr(self.soma, name, value)
        self.soma.ek, self.soma.ena = EK_MV, ENA_MV

        centres = (np.arange(self.num_segments) + 0.5) / self.num_segments
        self.excitatory_synapses, self.inhibitory_synapses = [], []
        for x in centres:
            synapse = h.Synapse_AMPA_NMDA(self.dend(x))
            for name, value in {**EXCITATORY_KINETICS, **EXCITATORY_PRESETS[excitatory_preset]}.items():
                setattr(synapse, name, value)
            self.excitatory_synapses.append(synapse)
            synapse = h.Synapse_GABA_A(self.dend(x))
            for name, value in INHIBITORY_PARAMETERS.items():
                setattr(synapse, name, value)
            self.inhibitory_synapses.append(synapse)
        # one NetCon per input event (weight = the bin's magnitude); the pools grow as needed and are reused
        self.netcon_pools = {id(s): [] for s in self.excitatory_synapses + self.inhibitory_synapses}
        self.pending_events = []
        self.event_handler = h.FInitializeHandler(self._queue_events)

        self.time_vector = h.Vector().record(h._ref_t)
        self.soma_vector = h.Vector().record(self.soma(0.5)._ref_v)
        self.branch_vectors = [h.Vector().record(self.dend(x)._ref_v) for x in centres]

    def close(self):
        """Free sections, synapses and recordings (so another cell can be built in this process)."""
        self.event_handler = None
        self.netcon_pools = self.excitatory_synapses = self.inhibitory_synapses = None
        self.time_vector = self.soma_vector = self.branch_vectors = None
        self.soma = self.dend = None

    def _netcons(self, synapse, count):
        pool = self.netcon_pools[id(synapse)]
        while len(pool) < count:
            netcon = self.h.NetCon(None, synapse)
            netcon.delay = 0 if self.engine == "neuron" else coreneuron_engine.input_netcon_delay(DT_MS)
            pool.append(netcon)
        return pool[:count]

    def _queue_events(self):
        """FInitializeHandler: this trial's events, one NetCon each, delivered at the bin's start time."""
        for synapse, times_ms, weights in self.pending_events:
            for netcon, time_ms, weight in zip(self._netcons(synapse, len(times_ms)), times_ms, weights):
                netcon.weight[0] = weight
                netcon.event(time_ms)

    def queue_trial(self, excitatory_input, inhibitory_input):
        """Check a trial's (num_segments, T) magnitude matrices and queue their events for the next run; return T."""
        excitatory_input = np.asarray(excitatory_input, dtype=np.float64)
        inhibitory_input = np.asarray(inhibitory_input, dtype=np.float64)
        if excitatory_input.shape != inhibitory_input.shape or excitatory_input.ndim != 2 \
                or excitatory_input.shape[0] != self.num_segments:
            raise ValueError(f"inputs must be two ({self.num_segments}, T) arrays, got {excitatory_input.shape} and "
                             f"{inhibitory_input.shape}")
        self.pending_events = []
        for synapses, matrix in ((self.excitatory_synapses, excitatory_input),
                                 (self.inhibitory_synapses, inhibitory_input)):
            for synapse, row in zip(synapses, matrix):
                times = np.flatnonzero(row)
                self.pending_events.append((synapse, times.astype(np.float64).tolist(), row[times].tolist()))
        return excitatory_input.shape[1]

    def recorded_traces(self, num_ms):
        """The last run's step-resolution traces: soma V (T*40+1,) and branch V (num_segments, T*40+1), float64."""
        num_samples = num_ms * SAMPLES_PER_MS + 1
        soma = self.soma_vector.as_numpy()[:num_samples].copy()
        branches = np.vstack([vector.as_numpy()[:num_samples] for vector in self.branch_vectors])
        if soma.size != num_samples:
            raise RuntimeError(f"recorded {soma.size} samples, expected {num_samples}")
        return soma, branches

    def simulate(self, excitatory_input, inhibitory_input):
        """Run one trial from (num_segments, T) magnitude matrices (1-ms bins, event at each nonzero bin's start).

        Returns the step-resolution traces: soma V (T*40+1,) and branch V (num_segments, T*40+1), float64.
        """
        return simulate_together([self], [(excitatory_input, inhibitory_input)])[0]


def run_trial(h, engine, num_ms):
    """Advance every cell of this process through one trial of num_ms with the dataset's fixed step."""
    h.cvode.active(0)
    h.dt = DT_MS
    h.steps_per_ms = SAMPLES_PER_MS
    if engine == "coreneuron":
        coreneuron_engine.run(h, V_INIT_MV, num_ms)
    else:
        h.finitialize(V_INIT_MV)
        h.continuerun(num_ms)


def simulate_together(cells, trials):
    """Simulate trial k on cells[k], all in one NEURON run (``len(trials) <= len(cells)``; spare cells get no
    input). The cells are independent, so this is the same model as one run per trial, with the per-step and
    per-run overhead shared (bench/ball_and_stick_simulation.py: 4.5x with 16 cells under CoreNEURON). The saved
    targets were identical to one run per trial in every check (the bench, the tests), but that is not shown for
    every input, so the dataset scripts do this only when asked (``cells_per_run`` > 1). Returns [(soma V, branch
    V)] as :meth:`simulate`.
    """
    if not trials or len(trials) > len(cells):
        raise ValueError(f"need 1 to {len(cells)} trials for {len(cells)} cells, got {len(trials)}")
    if len({c.engine for c in cells}) != 1:
        raise ValueError("the cells of one run must use the same engine")
    durations = {c.queue_trial(*trial) for c, trial in zip(cells, trials)}
    if len(durations) != 1:
        raise ValueError(f"the trials of one run must have the same duration, got {sorted(durations)} ms")
    num_ms = durations.pop()
    for spare in cells[len(trials):]:
        spare.pending_events = []
    try:
        run_trial(cells[0].h, cells[0].engine, num_ms)
    finally:
        for c in cells:
            c.pending_events = []
    return [c.recorded_traces(num_ms) for c in cells[:len(trials)]]


def spike_bins(soma_v_high_res, num_ms):
    """1-ms bool spike train: peaks of the step-resolution soma V at >= 0 mV, bin floor(index / 40)."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(soma_v_high_res, height=SPIKE_PEAK_HEIGHT_MV)
    spikes = np.zeros(num_ms, dtype=bool)
    bins = peaks // SAMPLES_PER_MS
    spikes[bins[bins < num_ms]] = True
    return spikes


def near_spike_indicator(spikes, soma_v_uncapped, soma_cap_mv=SOMA_V_CAP_MV):
    """Spike in the current or 9 previous bins (causal), or uncapped soma V above cap - 5 mV."""
    recent = np.convolve(spikes.astype(np.float64), np.ones(NEAR_SPIKE_BINS))[:spikes.size] > 0.5
    return recent | (soma_v_uncapped > soma_cap_mv - NEAR_SPIKE_MARGIN_MV)


def instantaneous_rate(spikes, boxcar_ms=RATE_BOXCAR_MS, gaussian_std_ms=RATE_GAUSSIAN_STD_MS):
    """Spikes/ms: causal boxcar mean over boxcar_ms bins, then a centred normalised Gaussian ('same')."""
    causal = np.convolve(spikes.astype(np.float64), np.ones(boxcar_ms) / boxcar_ms)[:spikes.size]
    half_width = int(4 * gaussian_std_ms)
    offsets = np.arange(-half_width, half_width + 1)
    kernel = np.exp(-0.5 * (offsets / gaussian_std_ms) ** 2)
    return np.convolve(causal, kernel / kernel.sum(), mode="same")


def saved_targets(soma_v_high_res, branch_v_high_res, num_ms, soma_cap_mv=SOMA_V_CAP_MV):
    """The 1-ms targets of one simulation (spec §1 "Saved targets"; dtypes of spec §3 "On-disk format").

    Downsampling is point sampling (every 40th step, the first num_ms kept).
    """
    soma_1ms = np.asarray(soma_v_high_res)[::SAMPLES_PER_MS][:num_ms]
    branch_1ms = np.asarray(branch_v_high_res)[:, ::SAMPLES_PER_MS][:, :num_ms]
    spikes = spike_bins(soma_v_high_res, num_ms)
    return {
        "output_spikes": spikes,
        "output_soma_v": np.minimum(soma_1ms, soma_cap_mv).astype(np.float32),
        "output_near_spikes": near_spike_indicator(spikes, soma_1ms, soma_cap_mv),
        "output_inst_rate": instantaneous_rate(spikes).astype(np.float32),
        "intermidiate_branch_v": np.minimum(branch_1ms, BRANCH_V_CAP_MV).astype(np.float16),
    }


def create_cell(cell_name, **overrides):
    """The named cell ('AMPA_point' or 'NMDA_cable'); keyword overrides as in :func:`cell_parameters`."""
    return BallAndStickCell(**cell_parameters(cell_name, **overrides))


__all__ = ["BallAndStickCell", "CELLS", "create_cell", "simulate_together", "cell_parameters", "cell_short_name",
           "saved_targets", "space_constant_um", "segment_centres_um", "load_ball_and_stick_mechanisms", "NUM_SEGMENTS"]
