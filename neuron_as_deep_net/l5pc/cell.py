"""The Hay et al. (2011) layer-5 pyramidal cell in NEURON 9, as the dataset script used it (spec §2, §3).

:class:`L5PCCell` builds the cell (Neurolucida import, nseg rule, axon replacement, biophysics "5b" with the
Ih and Ca_LVAst distributions, SK_E2 factor, Ih vshift); :mod:`.simulator` runs trials on it.

The numbers of the model live in the ``*_BIOPHYSICS`` dicts below; the distributions in
:func:`apical_ih_density` and :func:`apical_ca_lva_density`.
"""

import hashlib
import os

import numpy as np

from ..core.errors import UserError
from ..core.mechanisms import load_mechanisms


PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MORPHOLOGY = os.path.join(PROJECT_ROOT, "L5PC_NEURON_simulation", "morphologies", "cell1.asc")
MORPHOLOGY_ENV_VAR = "L5PC_MORPHOLOGY"
# SHA-256 of cell1.asc with line endings normalised to LF: ModelDB's archive has CRLF (396,544 bytes), the
# GitHub mirror and many git checkouts LF (389,908 bytes); with carriage returns stripped they are identical
# (the raw CRLF file hashes to a8afc092...7383).
MORPHOLOGY_SHA256 = "293d0aa92af8d03dbdcc40a711ba3923522615c3a65df485906538a1de986e23"
DOWNLOAD_COMMAND = "python tools/download_morphology.py"

NUM_BASAL_SEGMENTS = 262
NUM_APICAL_SEGMENTS = 377
NUM_SEGMENTS = NUM_BASAL_SEGMENTS + NUM_APICAL_SEGMENTS
NEXUS_LOCATION = (50, 0.9)  # apic[50](0.9), at the proximal edge of the Ca hot zone
V_INIT_MV = -76.0


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


class MorphologyNotFoundError(UserError, FileNotFoundError):
    """The morphology file is missing (the message says where it was looked for and how to get it)."""


class MorphologyMismatchError(UserError, ValueError):
    """The morphology file is not the Hay et al. cell1.asc, or NEURON cannot read it as a morphology."""


def text_sha256(data):
    """SHA-256 hex digest of text bytes with CRLF line endings normalised to LF (the morphology's checksum)."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def file_sha256(path):
    """:func:`text_sha256` of a file: the same for its LF and CRLF copies."""
    with open(path, "rb") as handle:
        return text_sha256(handle.read())


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
        raise MorphologyNotFoundError(
            f"L5PC morphology not found at {path} ({source}). It is third-party data (Hay et al. 2011, "
            f"ModelDB 139653) and is not in the repository: run `{DOWNLOAD_COMMAND}`, or pass "
            f"--morphology PATH, or set {MORPHOLOGY_ENV_VAR}=PATH.")
    if check_checksum:
        digest = file_sha256(path)
        if digest != MORPHOLOGY_SHA256:
            raise MorphologyMismatchError(
                f"{path} ({source}) is not the Hay et al. 2011 cell1.asc (SHA-256 of its LF-normalised text "
                f"{digest[:12]}..., expected {MORPHOLOGY_SHA256[:12]}...; LF and CRLF copies are both accepted): run `{DOWNLOAD_COMMAND}` to fetch the right file, or pass "
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
        try:
            reader.input(self.morphology_path)
            h.Import3d_GUI(reader, False).instantiate(self.hoc_cell)
        except RuntimeError as error:  # NEURON's hoc error on a file it cannot read
            raise MorphologyMismatchError(f"{self.morphology_path}: NEURON cannot read it as a Neurolucida "
                                          f"morphology ({error})") from error
        counts = [sum(1 for _ in section_list or []) for section_list in (self.hoc_cell.basal, self.hoc_cell.apical)]
        if min(counts) == 0:
            raise MorphologyMismatchError(f"{self.morphology_path}: not an L5PC morphology (NEURON read {counts[0]} "
                                          f"basal and {counts[1]} apical sections from it)")
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
