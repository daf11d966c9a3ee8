"""The Hay et al. (2011) layer-5 pyramidal cell in NEURON 9, as the dataset script used it (spec §2, §3).

:class:`L5PCCell` builds the cell (Neurolucida import, nseg rule, axon replacement, biophysics "5b" with the
Ih and Ca_LVAst distributions, SK_E2 factor, Ih vshift). :class:`L5PCSimulator` puts one excitatory and one
inhibitory synapse on the centre of each of the 639 dendritic segments once, and then runs any number of
trials from spike-time dicts, re-initialising state and events each time, returning the original's
per-simulation dict (spec §1.1).

The numbers of the model live in the ``*_BIOPHYSICS`` dicts below; the distributions in
:func:`apical_ih_density` and :func:`apical_ca_lva_density`.
"""

import hashlib
import os
import time

import numpy as np

from ..data_format import SIMULATION_ARRAY_DTYPES, binary_to_dict, dict_to_binary
from .mechanisms import load_mechanisms

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MORPHOLOGY = os.path.join(PROJECT_ROOT, "L5PC_NEURON_simulation", "morphologies", "cell1.asc")
MORPHOLOGY_ENV_VAR = "L5PC_MORPHOLOGY"
MORPHOLOGY_SHA256 = "a8afc0925afec1dd9241528ee6ccfdcb1c321904d876835990592c2573567383"
DOWNLOAD_COMMAND = "python tools/download_morphology.py"

NUM_BASAL_SEGMENTS = 262
NUM_APICAL_SEGMENTS = 377
NUM_SEGMENTS = NUM_BASAL_SEGMENTS + NUM_APICAL_SEGMENTS
NEXUS_LOCATION = (50, 0.9)  # apic[50](0.9), at the proximal edge of the Ca hot zone
V_INIT_MV = -76.0
CVODE_ATOL = 1e-3  # NEURON's defaults, which the original used
CVODE_RTOL = 0.0
FIXED_DT_MS = 0.025
FAST_DT_MS = 0.05  # --solver fast: twice the fixed step, with NEURON's second-order (Crank-Nicolson) method
FAST_SECONDORDER = 2  # secondorder = 2 also corrects the ionic currents; 0.1 ms and above ring at spike peaks
SOLVERS = {  # name -> description printed by the scripts
    "cvode": f"variable step, atol {CVODE_ATOL} (the original)",
    "fixed": f"fixed step dt {FIXED_DT_MS} ms, backward Euler",
    "fast": f"fixed step dt {FAST_DT_MS} ms, Crank-Nicolson (secondorder {FAST_SECONDORDER})",
}
CVODE_FIRST_PREVIOUS_DT_MS = 0.025  # h.dt (NEURON's default) when the original's process starts its first run
CVODE_TAIL_MS = 5.0  # the last steps kept so that the original's stop can be applied afterwards
SPIKE_THRESHOLD_MV = -25.0
NUM_SAMPLES_PER_MS_HIGH_RES = 8

# ---- biophysics (spec §2.3, "L5PCbiophys5b"); conductances in S/cm2
ALL_SECTIONS = {"cm": 1.0, "Ra": 100.0, "e_pas": -90.0}
AXON_BIOPHYSICS = {
    "ek": -85.0, "ena": 50.0, "g_pas": 3e-5, "gIhbar_Ih": 0.0001 / 2, "gImbar_Im": 0.013322,
    "decay_CaDynamics_E2": 277.300774, "gamma_CaDynamics_E2": 0.000525, "gCa_LVAstbar_Ca_LVAst": 0.000813,
    "gCa_HVAbar_Ca_HVA": 0.000222, "gSKv3_1bar_SKv3_1": 0.473799, "gSK_E2bar_SK_E2": 0.000047,
    "gK_Tstbar_K_Tst": 0.077274, "gK_Pstbar_K_Pst": 0.188851, "gNap_Et2bar_Nap_Et2": 0.005834,
    "gNaTa_tbar_NaTa_t": 3.89618,
}
SOMA_BIOPHYSICS = {
    "ek": -85.0, "ena": 50.0, "g_pas": 3e-5, "gIhbar_Ih": 0.0001 * 0.75, "gImbar_Im": 0.000008,
    "decay_CaDynamics_E2": 294.679571, "gamma_CaDynamics_E2": 0.000509, "gCa_LVAstbar_Ca_LVAst": 0.000557,
    "gCa_HVAbar_Ca_HVA": 0.000644, "gSK_E2bar_SK_E2": 0.09965, "gSKv3_1bar_SKv3_1": 0.338029,
    "gNaTs2_tbar_NaTs2_t": 0.998912,
}
APICAL_BIOPHYSICS = {
    "cm": 2.0, "g_pas": 6e-5, "ek": -85.0, "ena": 50.0, "decay_CaDynamics_E2": 35.725651,
    "gamma_CaDynamics_E2": 0.000637, "gSK_E2bar_SK_E2": 0.000002, "gCa_HVAbar_Ca_HVA": 0.000701,
    "gSKv3_1bar_SKv3_1": 0.001808, "gNaTs2_tbar_NaTs2_t": 0.021489, "gImbar_Im": 0.00099, "gIhbar_Ih": 0.00015,
}
BASAL_BIOPHYSICS = {"cm": 2.0, "g_pas": 6e-5, "gIhbar_Ih": 0.00005}
MECHANISMS = {
    "axon": ["pas", "Ca_LVAst", "Ca_HVA", "SKv3_1", "SK_E2", "K_Tst", "K_Pst", "Nap_Et2", "NaTa_t",
             "CaDynamics_E2", "Ih", "Im"],
    "soma": ["pas", "Ca_LVAst", "Ca_HVA", "SKv3_1", "SK_E2", "NaTs2_t", "CaDynamics_E2", "Ih", "Im"],
    "apic": ["pas", "CaDynamics_E2", "SK_E2", "Ca_HVA", "SKv3_1", "NaTs2_t", "Im", "Ih", "Ca_LVAst"],
    "dend": ["pas", "Ih"],
}
IH_DISTRIBUTION = {"base_S_cm2": 0.0001, "offset": -0.8696, "amplitude": 2.0870, "rate": 3.6161, "plateau": 0.65}
CA_LVA_HOT_ZONE_UM = (685.0, 885.0)
CA_LVA_HOT_ZONE_S_CM2 = 0.141954 * 1.6
CA_LVA_OUTSIDE_FACTOR = 0.01
NSEG_SECTION_LENGTH_UM = 40.0
AXON_SECTION = {"L": 30.0, "diam": 1.0, "nseg": 1}

# ---- synapses (spec §2.5); gmax in uS, times in ms
SYNAPSE_PARAMETERS = {
    "AMPA": ("ProbUDFsyn2", {"tau_r": 0.3, "tau_d": 3.0, "gmax": 0.0004, "e": 0.0, "Use": 1.0, "u0": 0.0,
                             "Dep": 0.0, "Fac": 0.0}),
    "NMDA": ("ProbAMPANMDA2", {"tau_r_AMPA": 0.3, "tau_d_AMPA": 3.0, "tau_r_NMDA": 2.0, "tau_d_NMDA": 70.0,
                               "gmax": 0.0004, "e": 0.0, "Use": 1.0, "u0": 0.0, "Dep": 0.0, "Fac": 0.0}),
    "GABA_A": ("ProbUDFsyn2", {"tau_r": 0.2, "tau_d": 8.0, "gmax": 0.001, "e": -80.0, "Use": 1.0, "u0": 0.0,
                               "Dep": 0.0, "Fac": 0.0}),
    "GABA_B": ("ProbUDFsyn2", {"tau_r": 3.5, "tau_d": 260.9, "gmax": 0.001, "e": -97.0, "Use": 1.0, "u0": 0.0,
                               "Dep": 0.0, "Fac": 0.0}),
}


# The cell lives in a hoc template object, as in the original: Import3d then builds the sections through hoc,
# which rounds the soma's 3-D points exactly as the original did (a Python object gives a soma 1.2e-7 um
# longer, enough for CVODE runs to drift apart after a second of spiking).
MORPHOLOGY_TEMPLATE = """
begintemplate L5PCMorphologyHolder
public soma, dend, apic, axon, all, somatic, basal, apical, axonal, replace_axon
create soma[1], dend[1], apic[1], axon[1]
objref all, somatic, basal, apical, axonal
proc init() {
    all = new SectionList()
    somatic = new SectionList()
    basal = new SectionList()
    apical = new SectionList()
    axonal = new SectionList()
}
proc replace_axon() {  // $1: length (um), $2: diameter (um) of each of the two stubs
    forsec axonal { delete_section() }
    create axon[2]
    axon[0] { L = $1  diam = $2  nseg = 1 }
    axon[1] { L = $1  diam = $2  nseg = 1 }
    connect axon[0](0), soma(0.5)
    connect axon[1](0), axon[0](1)
}
endtemplate L5PCMorphologyHolder
"""


def define_morphology_template(h):
    """Define the hoc template once per process."""
    if not hasattr(h, "L5PCMorphologyHolder"):
        h(MORPHOLOGY_TEMPLATE)


def file_sha256(path):
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_morphology(path=None, check_checksum=True):
    """The morphology file: ``path``, else $L5PC_MORPHOLOGY, else L5PC_NEURON_simulation/morphologies/cell1.asc.

    Raises FileNotFoundError / ValueError with the fix when it is missing or is not the Hay et al. cell1.asc.
    """
    source = "--morphology" if path else None
    if not path and os.environ.get(MORPHOLOGY_ENV_VAR):
        path, source = os.environ[MORPHOLOGY_ENV_VAR], f"${MORPHOLOGY_ENV_VAR}"
    if not path:
        path, source = DEFAULT_MORPHOLOGY, "the default location"
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"L5PC morphology not found at {path} ({source}). It is third-party data (Hay et al. 2011, "
            f"ModelDB 139653) and is not in the repository: run `{DOWNLOAD_COMMAND}`, or pass "
            f"--morphology PATH, or set {MORPHOLOGY_ENV_VAR}=PATH.")
    if check_checksum:
        digest = file_sha256(path)
        if digest != MORPHOLOGY_SHA256:
            raise ValueError(
                f"{path} ({source}) is not the Hay et al. 2011 cell1.asc (SHA-256 {digest[:12]}..., expected "
                f"{MORPHOLOGY_SHA256[:12]}...): run `{DOWNLOAD_COMMAND}` to fetch the right file, or pass "
                f"--check-morphology-checksum false to use another morphology on purpose.")
    return path


def apical_ih_density(distance_um, max_length_um):
    """Apical Ih (S/cm2): exponential in relative distance, constant beyond 0.65 (distribution type 4)."""
    d = np.minimum(np.asarray(distance_um) / max_length_um, IH_DISTRIBUTION["plateau"])
    return IH_DISTRIBUTION["base_S_cm2"] * (IH_DISTRIBUTION["offset"]
                                            + IH_DISTRIBUTION["amplitude"] * np.exp(IH_DISTRIBUTION["rate"] * d))


def apical_ca_lva_density(distance_um):
    """Apical Ca_LVAst (S/cm2): 0.2271264 in the 685-885 um hot zone, 1 % of that elsewhere (type 3)."""
    distance_um = np.asarray(distance_um)
    in_zone = (distance_um > CA_LVA_HOT_ZONE_UM[0]) & (distance_um < CA_LVA_HOT_ZONE_UM[1])
    return np.where(in_zone, CA_LVA_HOT_ZONE_S_CM2, CA_LVA_HOT_ZONE_S_CM2 * CA_LVA_OUTSIDE_FACTOR)


def set_section_values(section, values):
    """Assign range variables and section properties from a dict (e.g. {'gIhbar_Ih': 5e-5, 'cm': 2})."""
    for name, value in values.items():
        if name in ("Ra", "nseg", "L"):
            setattr(section, name, value)
        else:
            for segment in section:
                setattr(segment, name, value)


class L5PCCell:
    """The Hay et al. 2011 L5PC, geometry and biophysics as in the original template (spec §2.2-2.4)."""

    def __init__(self, morphology_path=None, SKE2_mult_factor=1.0, Ih_vshift=0.0, check_morphology_checksum=True):
        from neuron import h

        load_mechanisms()
        h.load_file("stdrun.hoc")
        h.load_file("import3d.hoc")
        self.h = h
        self.morphology_path = resolve_morphology(morphology_path, check_morphology_checksum)
        self.SKE2_mult_factor = SKE2_mult_factor
        self.Ih_vshift = Ih_vshift

        define_morphology_template(h)
        self.hoc_cell = h.L5PCMorphologyHolder()
        reader = h.Import3d_Neurolucida3()
        reader.quiet = 1
        reader.input(self.morphology_path)
        h.Import3d_GUI(reader, False).instantiate(self.hoc_cell)
        self.soma = list(self.hoc_cell.soma)
        self.dend = list(self.hoc_cell.dend)
        self.apic = list(self.hoc_cell.apic)
        self.axon = list(self.hoc_cell.axon)
        for section in self.all_sections():
            section.nseg = 1 + 2 * int(section.L / NSEG_SECTION_LENGTH_UM)
        self.replace_axon()
        self.insert_biophysics()
        for section in self.all_sections():
            if section.diam == 0:  # never true for cell1.asc; the original fixed it the same way
                print(f"error: {section.name()} has diameter 0; set to 1 um")
                section.diam = 1.0
        for section in self.dend + self.apic + self.soma:
            for segment in section:
                segment.vshift_Ih = Ih_vshift
        for section in self.soma + self.axon + self.apic:
            for segment in section:
                segment.gSK_E2bar_SK_E2 *= SKE2_mult_factor

    def __str__(self):
        return "L5PC"

    def close(self):
        """Drop every reference to the hoc cell so NEURON deletes its sections."""
        self.soma = self.dend = self.apic = self.axon = []
        self.hoc_cell = None

    def all_sections(self):
        """Soma, basal, apical and axonal sections."""
        return self.soma + self.dend + self.apic + self.axon

    def replace_axon(self):
        """Delete the reconstructed axon and attach two 30-um, 1-um-thick stubs to soma(0.5) (spec §2.2 step 3)."""
        self.hoc_cell.replace_axon(AXON_SECTION["L"], AXON_SECTION["diam"])
        self.axon = list(self.hoc_cell.axon)

    def distance_from_soma(self, location):
        """Path distance (um) from soma(0): the reference of the ``Params`` morphology entries (spec §1.1)."""
        return self.h.distance(self.soma[0](0), location)

    def distance_from_apical_root(self, location):
        """Path distance (um) from apic[0](0), i.e. from soma(0.5), where the apical trunk attaches.

        The original template measures the longest apical branch after making apic[0](0) the distance
        origin and never resets it, so both apical distributions (Ih and Ca_LVAst) are measured from here.
        """
        return self.h.distance(self.apic[0](0), location)

    @staticmethod
    def hoc_for_x_locations(section):
        """Where hoc's ``for (x)`` loop assigns a range variable, in its order, as (segment, x) pairs.

        ``for (x)`` visits 0, every segment centre, then 1; an assignment at x = 0 or 1 lands on the first or
        last segment. The first segment's x = 0 value is overwritten by its centre, but the last segment keeps
        the value computed at the section's far end (x = 1). The original's distributions rely on this.
        """
        centres = [(segment, segment.x) for segment in section]
        last_segment = centres[-1][0]
        return centres[:-1] + [(last_segment, 1.0)]

    def longest_apical_branch_um(self):
        """Largest distance from apic[0](0) to the far end of an apical section (1300.53 um for cell1)."""
        return max(self.distance_from_apical_root(section(1)) for section in self.apic)

    def insert_biophysics(self):
        """Insert mechanisms and set the region conductances and the apical distributions (spec §2.3)."""
        regions = {"axon": self.axon, "soma": self.soma, "apic": self.apic, "dend": self.dend}
        values = {"axon": AXON_BIOPHYSICS, "soma": SOMA_BIOPHYSICS, "apic": APICAL_BIOPHYSICS, "dend": BASAL_BIOPHYSICS}
        for region, sections in regions.items():
            for section in sections:
                for mechanism in MECHANISMS[region]:
                    section.insert(mechanism)
                set_section_values(section, ALL_SECTIONS)
                set_section_values(section, values[region])
        max_length = self.longest_apical_branch_um()
        self.max_apical_length_um = max_length
        for section in self.apic:
            for segment, x in self.hoc_for_x_locations(section):
                distance_um = self.distance_from_apical_root(section(x))
                segment.gIhbar_Ih = float(apical_ih_density(distance_um, max_length))
                segment.gCa_LVAstbar_Ca_LVAst = float(apical_ca_lva_density(distance_um))

    # ---- segments in the original order and their metadata (spec §1.1, §1.2)
    def dendritic_sections(self):
        """Basal sections dend[0..83] then apical apic[0..108]: the original's section order."""
        return self.dend + self.apic

    def segments(self):
        """The 639 dendritic segments (basal then apical, increasing x within a section)."""
        return [segment for section in self.dendritic_sections() for segment in section]

    def segment_metadata(self):
        """The morphology entries of the original's ``Params`` dict (Python lists, spec §1.1)."""
        sections = self.dendritic_sections()
        num_basal = len(self.dend)
        meta = {"allSectionsType": [], "allSections_DistFromSoma": [], "allSectionsLength": [],
                "allSegmentsType": [], "allSegmentsLength": [], "allSegments_DistFromSoma": [],
                "allSegments_SectionDistFromSoma": [], "allSegments_SectionInd": []}
        for index, section in enumerate(sections):
            kind = "basal" if index < num_basal else "apical"
            start = self.distance_from_soma(section(0))
            meta["allSectionsType"].append(kind)
            meta["allSections_DistFromSoma"].append(start)
            meta["allSectionsLength"].append(section.L)
            for segment in section:
                meta["allSegmentsType"].append(kind)
                meta["allSegmentsLength"].append(section.L / section.nseg)
                meta["allSegments_DistFromSoma"].append(start + section.L * segment.x)
                meta["allSegments_SectionDistFromSoma"].append(start)
                meta["allSegments_SectionInd"].append(index)
        return meta

    def morphology_dict(self):
        """The ``morphology_dict`` the authors' figure scripts read (spec §4), with 3-D coordinates."""
        meta = self.segment_metadata()
        sections = self.dendritic_sections()
        num_basal = len(self.dend)
        segment_index_within_section = []
        section_coords = [{}, {}]
        segment_coords = [{}, {}]
        for index, section in enumerate(sections):
            tree = 0 if index < num_basal else 1
            key = index if tree == 0 else index - num_basal
            points = np.array([[section.x3d(i), section.y3d(i), section.z3d(i), section.arc3d(i), section.diam3d(i)]
                               for i in range(section.n3d())])
            section_coords[tree][key] = {"x": list(points[:, 0]), "y": list(points[:, 1]), "z": list(points[:, 2]),
                                         "d": list(points[:, 4])}
            arc = points[:, 3] / max(points[-1, 3], 1e-12)
            for k in range(section.nseg):
                segment_index_within_section.append(k)
                lo, hi = k / section.nseg, (k + 1) / section.nseg
                inside = (arc > lo) & (arc < hi)
                grid = np.r_[lo, arc[inside], hi]
                coords = {axis: list(np.interp(grid, arc, points[:, column]))
                          for axis, column in (("x", 0), ("y", 1), ("z", 2), ("d", 4))}
                segment_coords[tree][(key, k)] = coords
        return {
            "all_sections_length": meta["allSectionsLength"],
            "all_sections_distance_from_soma": meta["allSections_DistFromSoma"],
            "all_segments_length": meta["allSegmentsLength"],
            "all_segments_type": meta["allSegmentsType"],
            "all_segments_distance_from_soma": meta["allSegments_DistFromSoma"],
            "all_segments_section_distance_from_soma": meta["allSegments_SectionDistFromSoma"],
            "all_segments_section_index": meta["allSegments_SectionInd"],
            "all_segments_segment_index_within_section_index": segment_index_within_section,
            "all_basal_section_coords": section_coords[0],
            "all_basal_segment_coords": segment_coords[0],
            "all_apical_section_coords": section_coords[1],
            "all_apical_segment_coords": segment_coords[1],
            "soma_coords": {"x": [self.soma[0].x3d(i) for i in range(self.soma[0].n3d())],
                            "y": [self.soma[0].y3d(i) for i in range(self.soma[0].n3d())]},
        }


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
        else:  # the 1-ms grid falls on fixed steps
            self.dvt_time_vector = h.Vector().record(h._ref_t, 1.0)
            self.dendrite_vectors = [h.Vector().record(segment._ref_v, 1.0) for segment in self.segments]
        self.configure_solver()

    def close(self):
        """Free the cell, synapses, events and recordings (so another cell can be built in this process)."""
        import gc

        self.event_handler = None
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
            interpolate = LinearInterpolator(self.dvt_time_vector.as_numpy().copy(), low_res_grid)
            dvts = np.empty((len(self.dendrite_vectors), low_res_grid.size), dtype=np.float16)
            for k, vector in enumerate(self.dendrite_vectors):  # rows one by one: no (639 x steps) copy
                samples = vector.as_numpy()
                dvts[k] = interpolate(samples)
            result["dendriticVoltagesLowRes"] = dvts
        return result

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


__all__ = ["L5PCCell", "L5PCSimulator", "apply_original_stop", "apply_original_stops", "resolve_morphology",
           "interpolate_traces", "output_grids", "detect_spikes", "dict_to_binary", "binary_to_dict",
           "apical_ih_density", "apical_ca_lva_density"]
