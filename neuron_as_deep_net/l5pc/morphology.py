"""The L5PC morphology of the figure scripts: the ``morphology_dict`` (spec §4), its topology and its regions.

The authors' figure scripts read a ``morphology_dict.pickle`` that no script of theirs writes; here
:meth:`neuron_as_deep_net.l5pc.cell.L5PCCell.morphology_dict` builds it and the dataset script saves it beside
each dataset. :func:`load_morphology_dict` finds it (or builds and caches it).

Plotting regions (spec §1.2). The original hard-coded ``basal_cutoff = 262`` and ``tuft_cutoff = [366, 559]``
for cell1.asc. Here the regions are derived from the geometry alone, by a rule that reproduces those constants
for cell1.asc (checked in tests/test_figures.py):

* basal: the segments of basal type;
* tuft: follow the apical trunk from the apical root, at every branch point into the child with the largest
  subtree (total dendritic length), until the first branch point whose second-largest child subtree is at least
  ``MAIN_BIFURCATION_MIN_RATIO`` (0.25) of the largest one: the main bifurcation (the nexus). The tuft is the
  trunk section that ends there (the distal trunk from the last oblique branch point up to the nexus) and
  everything beyond it. For cell1.asc that is apic[36]..apic[78] (the trunk's branch points before the nexus
  have ratios <= 0.144, the nexus 0.398);
* oblique: every other apical segment.

Topology comes from the section coordinates: a child section's first 3-D point is its parent's last point
(NEURON's Import3d copies it), so no parent list is needed in the dict.
"""

import os

import numpy as np

from ..core.errors import DataFileError
from ..core.files import load_pickle, save_pickle

MORPHOLOGY_DICT_NAME = "morphology_dict.pickle"
#: The original's hard-coded region boundaries for cell1.asc (spec §1.2); used only to check the rule.
ORIGINAL_BASAL_CUTOFF = 262
ORIGINAL_TUFT_CUTOFF = (366, 559)
#: Smallest ratio (second-largest / largest child subtree length) that makes a trunk branch point the main
#: bifurcation.
MAIN_BIFURCATION_MIN_RATIO = 0.25
#: Where a child's first point may lie from its parent's last point (um).
CONNECTION_TOLERANCE_UM = 1e-3
#: The original's soma position (spec §4) when the dict has no soma coordinates.
DEFAULT_SOMA_XY = (45.5, 19.8)
#: The original's axis limits (spec §4, §11), used when the whole cell fits inside them.
ORIGINAL_LIMITS = ((-180.0, 235.0), (-210.0, 1200.0))
REGIONS = ("basal", "oblique", "tuft")
#: keys the figure code reads from a morphology dict
REQUIRED_KEYS = ("all_basal_section_coords", "all_apical_section_coords", "all_basal_segment_coords",
                 "all_apical_segment_coords", "all_sections_length", "all_segments_type", "all_segments_section_index",
                 "all_segments_segment_index_within_section_index", "all_segments_section_distance_from_soma")


# ---- loading -------------------------------------------------------------------------------------------------

def build_morphology_dict(morphology_path=None):
    """Build the morphology dict from the L5PC model (NEURON; well under a second)."""
    from .cell import L5PCCell, resolve_morphology

    cell = L5PCCell(resolve_morphology(morphology_path))
    try:
        return cell.morphology_dict()
    finally:
        cell.close()


def folder_is_writable(folder):
    """True if we may write into ``folder``: allowed for this user AND not marked read-only by its mode bits.

    The mode check matters when running as root, which may write into a folder marked read-only (e.g. a shared,
    read-only copy of the data) that should be left untouched.
    """
    try:
        mode = os.stat(folder).st_mode
    except OSError:
        return False
    return os.access(folder, os.W_OK) and bool(mode & 0o222)


def read_morphology_dict(path):
    """A ``morphology_dict.pickle``; DataFileError naming the file if it is unreadable or not such a dict."""
    morph = load_pickle(path, what="morphology dict")
    missing = [key for key in REQUIRED_KEYS if key not in morph] if isinstance(morph, dict) else ["(not a dict)"]
    if missing:
        raise DataFileError(path, f"not a morphology dict (missing {missing[:3]})",
                            "delete it to rebuild it from the L5PC model")
    return morph


def load_morphology_dict(data_dirs, morphology_path=None, fallback_cache_dir=None, num_segments=None):
    """The morphology dict: ``morphology_dict.pickle`` from the first data folder holding one (then from
    ``fallback_cache_dir``), else built from the L5PC model.

    A built dict is cached beside the data (the first of ``data_dirs``), or in ``fallback_cache_dir`` when that
    folder is read-only. Returns ``(morphology_dict, path it was read from or written to, or None)``.
    Raises ValueError if ``num_segments`` is given and the dict describes another number of segments.
    """
    data_dirs = [d for d in data_dirs if d]
    morph, path = None, None
    for folder in data_dirs + ([fallback_cache_dir] if fallback_cache_dir else []):
        candidate = os.path.join(folder, MORPHOLOGY_DICT_NAME)
        if os.path.isfile(candidate):
            morph, path = read_morphology_dict(candidate), candidate
            print(f"morphology dict read from {candidate}")
            break
    if morph is None:
        print("no morphology_dict.pickle beside the data: building it from the L5PC model")
        morph = build_morphology_dict(morphology_path)
        for folder in data_dirs[:1] + ([fallback_cache_dir] if fallback_cache_dir else []):
            candidate = os.path.join(folder, MORPHOLOGY_DICT_NAME)
            os.makedirs(folder, exist_ok=True)
            if not folder_is_writable(folder):
                print(f"not caching the morphology dict in the read-only folder {folder}")
                continue
            try:
                save_pickle(morph, candidate)
            except OSError as error:
                print(f"could not cache the morphology dict in {folder} ({error.strerror})")
                continue
            path = candidate
            print(f"morphology dict cached in {candidate}")
            break
    if num_segments is not None and len(morph["all_segments_type"]) != num_segments:
        raise DataFileError(path or "the built morphology dict", f"wrong number of segments (expected "
                            f"{num_segments} as in the data, got {len(morph['all_segments_type'])}): a morphology "
                            f"dict of another cell", "delete it to rebuild it from the L5PC model")
    return morph, path


# ---- topology and regions --------------------------------------------------------------------------------------

def num_basal_sections(morph):
    """Number of basal sections (the apical section keys are global index minus this)."""
    return len(morph["all_basal_section_coords"])


def section_coords(morph):
    """Coordinates dict of every dendritic section, in global order (basal then apical)."""
    basal, apical = morph["all_basal_section_coords"], morph["all_apical_section_coords"]
    return [basal[k] for k in range(len(basal))] + [apical[k] for k in range(len(apical))]


def section_types(morph):
    """'basal' / 'apical' per global section (from the segments' types)."""
    types = ["basal"] * num_basal_sections(morph) + ["apical"] * len(morph["all_apical_section_coords"])
    for section, kind in zip(morph["all_segments_section_index"], morph["all_segments_type"]):
        types[section] = kind
    return types


def section_parents(morph, tolerance_um=CONNECTION_TOLERANCE_UM):
    """Parent (global index) of every section, -1 for the roots: the section whose last point is its first."""
    coords = section_coords(morph)
    types = section_types(morph)
    ends = np.array([[c["x"][-1], c["y"][-1], c["z"][-1]] for c in coords], dtype=float)
    parents = np.full(len(coords), -1, dtype=int)
    for index, c in enumerate(coords):
        start = np.array([c["x"][0], c["y"][0], c["z"][0]], dtype=float)
        distance = np.linalg.norm(ends - start, axis=1)
        distance[index] = np.inf
        distance[[k for k, kind in enumerate(types) if kind != types[index]]] = np.inf
        candidate = int(np.argmin(distance))
        if distance[candidate] <= tolerance_um:
            parents[index] = candidate
    return parents


def subtree_lengths(parents, section_lengths):
    """Total length of every section's subtree (itself and all descendants)."""
    totals = np.array(section_lengths, dtype=float)
    order = np.argsort(depths(parents))[::-1]
    for index in order:
        if parents[index] >= 0:
            totals[parents[index]] += totals[index]
    return totals


def depths(parents):
    """Number of ancestors of every section."""
    result = np.zeros(len(parents), dtype=int)
    for index in range(len(parents)):
        node = parents[index]
        while node >= 0:
            result[index] += 1
            node = parents[node]
    return result


def children_of(parents):
    """{section: [children]} in index order."""
    children = {index: [] for index in range(len(parents))}
    for index, parent in enumerate(parents):
        if parent >= 0:
            children[int(parent)].append(index)
    return children


def main_bifurcation_section(morph, min_ratio=MAIN_BIFURCATION_MIN_RATIO):
    """Global index of the apical trunk section that ends at the main bifurcation (see the module docstring)."""
    parents = section_parents(morph)
    types = section_types(morph)
    totals = subtree_lengths(parents, morph["all_sections_length"])
    children = children_of(parents)
    apical_roots = [k for k in range(len(parents)) if parents[k] < 0 and types[k] == "apical"]
    if not apical_roots:
        raise ValueError("the morphology has no apical section")
    current = max(apical_roots, key=lambda k: totals[k])
    while children[current]:
        ranked = sorted(children[current], key=lambda k: totals[k], reverse=True)
        if len(ranked) > 1 and totals[ranked[1]] >= min_ratio * totals[ranked[0]]:
            return current
        current = ranked[0]
    return current


def tuft_sections(morph, min_ratio=MAIN_BIFURCATION_MIN_RATIO):
    """Global indices of the tuft sections: the main-bifurcation trunk section and all its descendants."""
    parents = section_parents(morph)
    children = children_of(parents)
    root = main_bifurcation_section(morph, min_ratio)
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(children[node])
    return sorted(found)


def segment_regions(morph, min_ratio=MAIN_BIFURCATION_MIN_RATIO):
    """Region ('basal' / 'oblique' / 'tuft') of every dendritic segment, as an array of strings."""
    tuft = set(tuft_sections(morph, min_ratio))
    regions = []
    for section, kind in zip(morph["all_segments_section_index"], morph["all_segments_type"]):
        regions.append("basal" if kind == "basal" else ("tuft" if section in tuft else "oblique"))
    return np.array(regions)


def region_segment_indices(morph, min_ratio=MAIN_BIFURCATION_MIN_RATIO):
    """{region: sorted segment indices} for basal, oblique, tuft."""
    regions = segment_regions(morph, min_ratio)
    return {region: np.flatnonzero(regions == region) for region in REGIONS}


def region_cutoffs(morph, min_ratio=MAIN_BIFURCATION_MIN_RATIO):
    """``(basal_cutoff, (tuft_start, tuft_end))`` as the original's constants (basal and tuft contiguous).

    Raises ValueError if the regions are not contiguous index ranges (another morphology).
    """
    indices = region_segment_indices(morph, min_ratio)
    basal, tuft = indices["basal"], indices["tuft"]
    if basal.size == 0 or basal[0] != 0 or basal[-1] != basal.size - 1:
        raise ValueError("the basal segments are not the first block of segments")
    if tuft.size == 0 or tuft[-1] - tuft[0] + 1 != tuft.size:
        raise ValueError("the tuft segments are not one contiguous block")
    return int(basal.size), (int(tuft[0]), int(tuft[-1]) + 1)


# ---- drawing helpers -----------------------------------------------------------------------------------------

def segment_polylines(morph):
    """(x, y, mean diameter) of every segment in global segment order (for a LineCollection)."""
    num_basal = num_basal_sections(morph)
    basal, apical = morph["all_basal_segment_coords"], morph["all_apical_segment_coords"]
    lines = []
    for section, within in zip(morph["all_segments_section_index"],
                               morph["all_segments_segment_index_within_section_index"]):
        coords = basal[(section, within)] if section < num_basal else apical[(section - num_basal, within)]
        lines.append((np.asarray(coords["x"], dtype=float), np.asarray(coords["y"], dtype=float),
                      float(np.mean(coords["d"]))))
    return lines


def soma_xy(morph):
    """Centre of the soma in the drawing plane (the mean of its 3-D points; the original's value if absent)."""
    coords = morph.get("soma_coords")
    if not coords or not len(coords.get("x", [])):
        return DEFAULT_SOMA_XY
    return float(np.mean(coords["x"])), float(np.mean(coords["y"]))


def drawing_limits(morph, margin_um=20.0):
    """The original's x/y limits if the cell fits inside them, else the cell's bounding box plus a margin."""
    xs = np.concatenate([line[0] for line in segment_polylines(morph)])
    ys = np.concatenate([line[1] for line in segment_polylines(morph)])
    (x_lo, x_hi), (y_lo, y_hi) = ORIGINAL_LIMITS
    if xs.min() >= x_lo and xs.max() <= x_hi and ys.min() >= y_lo and ys.max() <= y_hi:
        return ORIGINAL_LIMITS
    return ((xs.min() - margin_um, xs.max() + margin_um), (ys.min() - margin_um, ys.max() + margin_um))


def segment_color_values(morph):
    """The DVT figure's colour key per segment: section index * 20 + section distance from soma (spec §4)."""
    return (20.0 * np.asarray(morph["all_segments_section_index"], dtype=float)
            + np.asarray(morph["all_segments_section_distance_from_soma"], dtype=float))
