"""Tiny synthetic L5PC-like dataset files in the exact layout of spec §1.1 (for tests and quick training runs).

The "cell" is a toy: the soma is an exponentially filtered excitation-minus-inhibition drive, it spikes at
upward crossings of -55 mV, and each segment's DVT mixes the soma with its own filtered input. That is
enough for a TCN to learn something, and every array has the dtype and shape of the real files (float16
traces, float16 ``outputSpikeTimes``, spike dicts from :func:`data_format.binary_to_dict`, a ``Params``
dict with the morphology lists).

    python tests/synthetic_data.py --output-dir DATA/train --num-files 4 --num-sims 8 --duration-ms 2000
    python tests/synthetic_data.py --output-dir DATA/valid --num-files 2 --num-sims 8 --duration-ms 2000 --seed 100
"""

import argparse
import io
import os
import pickle
import struct
import sys

import numpy as np
from scipy import signal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from neuron_as_deep_net.core.files import save_pickle  # noqa: E402
from neuron_as_deep_net.l5pc.data_format import NUM_SEGMENTS, binary_to_dict

NUM_BASAL_SEGMENTS = 262
NUM_BASAL_SECTIONS = 84
NUM_SECTIONS = 193


def morphology_params(rng, num_segments=NUM_SEGMENTS):
    """Plausible morphology lists of ``Params`` (spec §1.1): 193 sections, ``num_segments`` segments."""
    num_basal = min(NUM_BASAL_SEGMENTS, num_segments)
    section_of_segment = np.sort(rng.randint(0, NUM_SECTIONS, size=num_segments))
    section_types = ["basal"] * NUM_BASAL_SECTIONS + ["apical"] * (NUM_SECTIONS - NUM_BASAL_SECTIONS)
    section_dist = list(rng.uniform(0, 1000, NUM_SECTIONS))
    section_length = list(rng.uniform(10, 200, NUM_SECTIONS))
    return {
        "allSectionsType": section_types,
        "allSections_DistFromSoma": section_dist,
        "allSectionsLength": section_length,
        "allSegmentsType": ["basal"] * num_basal + ["apical"] * (num_segments - num_basal),
        "allSegmentsLength": list(rng.uniform(5, 40, num_segments)),
        "allSegments_DistFromSoma": list(rng.uniform(0, 1200, num_segments)),
        "allSegments_SectionDistFromSoma": [section_dist[s] for s in section_of_segment],
        "allSegments_SectionInd": [int(s) for s in section_of_segment],
    }


def simulate_toy_cell(rng, num_time_bins, num_segments=NUM_SEGMENTS, input_probability=0.012):
    """One toy simulation: bool (T, 2*segments) inputs, soma (T,) mV, spike times (ms), DVTs (segments, T) mV."""
    # slowly modulated input rates, excitation and inhibition modulated independently
    modulation = signal.lfilter([0.02], [1, -0.98], rng.randn(2, num_time_bins) * 6.0, axis=1)
    rates = input_probability * np.exp(np.clip(modulation, -2, 2))
    inputs = np.empty((num_time_bins, 2 * num_segments), dtype=bool)
    inputs[:, :num_segments] = rng.rand(num_time_bins, num_segments) < rates[0][:, None]
    inputs[:, num_segments:] = rng.rand(num_time_bins, num_segments) < rates[1][:, None]
    drive = inputs[:, :num_segments].sum(1) - 0.9 * inputs[:, num_segments:].sum(1).astype(np.float64)
    filtered = signal.lfilter([1 - np.exp(-1 / 15.0)], [1, -np.exp(-1 / 15.0)], drive - drive.mean())
    soma = -67.0 + 1.0 * filtered
    above = soma > -55.0
    crossings = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    spike_times = crossings + 0.375  # a sub-ms offset, so float16 rounding matters late in a trace
    soma = soma.copy()
    for t in crossings:
        soma[t:t + 2] = 20.0
    local = signal.lfilter([1 - np.exp(-1 / 10.0)], [1, -np.exp(-1 / 10.0)],
                           inputs[:, :num_segments].astype(np.float64) - inputs[:, num_segments:], axis=0)
    dvts = (0.6 * soma[None, :] - 25.0 + 40.0 * local.T + rng.randn(num_segments, 1) * 2.0)
    return inputs, soma, spike_times, dvts


def synthetic_experiment(num_sims, duration_ms, seed, num_segments=NUM_SEGMENTS, synapse_type="NMDA",
                         include_dvts=True, extra_output_spike_times=(), input_probability=0.012):
    """The ``experimentDict`` of a synthetic file (spec §1.1). ``extra_output_spike_times`` go into sim 0."""
    rng = np.random.RandomState(seed)
    num_time_bins = int(duration_ms)
    simulations, spikes_per_sim, isis = [], [], []
    for k in range(num_sims):
        inputs, soma, spike_times, dvts = simulate_toy_cell(rng, num_time_bins, num_segments, input_probability)
        if k == 0 and len(extra_output_spike_times):
            spike_times = np.sort(np.r_[spike_times, extra_output_spike_times])
        sim = {
            "recordingTimeHighRes": (np.arange(8 * num_time_bins) / 8.0).astype(np.float32),
            "somaVoltageHighRes": np.repeat(soma, 8).astype(np.float16),
            "nexusVoltageHighRes": np.repeat(soma - 5.0, 8).astype(np.float16),
            "recordingTimeLowRes": np.arange(num_time_bins).astype(np.float32),
            "somaVoltageLowRes": soma.astype(np.float16),
            "nexusVoltageLowRes": (soma - 5.0).astype(np.float16),
            "exInputSpikeTimes": binary_to_dict(inputs[:, :num_segments].T),
            "inhInputSpikeTimes": binary_to_dict(inputs[:, num_segments:].T),
            "outputSpikeTimes": np.asarray(spike_times, dtype=np.float16),
        }
        if include_dvts:
            sim["dendriticVoltagesLowRes"] = dvts.astype(np.float16)
        simulations.append(sim)
        spikes_per_sim.append(len(spike_times))
        isis.extend(np.diff(spike_times).tolist())
    total = int(sum(spikes_per_sim))
    params = {
        "randomSeed": seed, "numSimulations": num_sims, "totalSimDurationInSec": duration_ms / 1000.0,
        "collectAndSaveDVTs": include_dvts, "numSamplesPerMS_HighRes": 8,
        "excitatorySynapseType": "NMDA" if synapse_type == "NMDA" else "AMPA", "inhibitorySynapseType": "GABA_A",
        "useActiveDendrites": True, "Ih_vshift": 0,
        "inst_rate_sampling_time_interval_options_ms": [25, 50, 100],
        "num_bas_ex_spikes_per_100ms_range": [0, 800], "num_bas_ex_inh_spike_diff_per_100ms_range": [-600, 200],
        "num_apic_ex_spikes_per_100ms_range": [0, 800], "num_apic_ex_inh_spike_diff_per_100ms_range": [-600, 200],
        **morphology_params(rng, num_segments),
        "ISICV": float(np.std(isis) / np.mean(isis)) if len(isis) > 1 else float("nan"),
        "listOfISIs": isis, "numOutputSpikesPerSim": spikes_per_sim, "totalNumOutputSpikes": total,
        "totalNumSimulationSeconds": num_sims * duration_ms / 1000.0,
        "averageOutputFrequency": total / max(num_sims * duration_ms / 1000.0, 1e-9),
        "entireExperimentDurationInMinutes": 0.0,
    }
    return {"Params": params, "Results": {"listOfSingleSimulationDicts": simulations}}


def synthetic_file_name(experiment, num_sims, duration_ms, seed, include_dvts=True):
    """The original's file-name pattern (matches '*_secDuration_*.p')."""
    duration = f"{duration_ms / 1000.0:g}"
    total = experiment["Params"]["totalNumOutputSpikes"]
    return (f"exBas_0_800_inhBasDiff_-600_200__exApic_0_800_inhApicDiff_-600_200__saved_InputSpikes_"
            f"{'DVTs' if include_dvts else ''}__{total}_outSpikes__{num_sims}_simulationRuns__{duration}_secDuration__"
            f"randomSeed_{seed}.p")


def write_synthetic_dataset(path, num_sims, duration_ms, seed, **kwargs):
    """Write one synthetic dataset file; ``path`` is a folder (file named like the original's) or a file path.

    Returns the file path. Keyword arguments go to :func:`synthetic_experiment`.
    """
    experiment = synthetic_experiment(num_sims, duration_ms, seed, **kwargs)
    if os.path.isdir(path) or not path.endswith(".p"):
        os.makedirs(path, exist_ok=True)
        path = os.path.join(path, synthetic_file_name(experiment, num_sims, duration_ms, seed,
                                                      kwargs.get("include_dvts", True)))
    save_pickle(experiment, path)
    return path


class Py2Str(bytes):
    """A Python-2 ``str`` (bytes): pickled with the SHORT_BINSTRING/BINSTRING opcodes, as Python 2 did."""


class _Py2Pickler(pickle._Pickler):
    """Pure-Python pickler that writes :class:`Py2Str` as Python 2 wrote its ``str`` values."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj):
        data = bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[Py2Str] = save_py2str


def write_train_valid_folders(root):
    """root/train (two files) and root/valid (one file) of 3 x 800-ms synthetic simulations: the small data of
    the fit_CNN tests; returns root."""
    for seed in (0, 1):
        write_synthetic_dataset(str(root / "train"), 3, 800, seed=seed)
    write_synthetic_dataset(str(root / "valid"), 3, 800, seed=10)
    return root


def write_py2_style_pickle(obj, path):
    """Pickle ``obj`` with protocol 2, ``Py2Str`` values as Python-2 strings: Python 3 needs encoding='latin1'
    for them when they hold non-ASCII bytes (like the authors' published files)."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    with open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--num-files", type=int, default=1)
    parser.add_argument("--num-sims", type=int, default=8)
    parser.add_argument("--duration-ms", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first file; the next files use seed+1, ...")
    args = parser.parse_args(argv)
    paths = [write_synthetic_dataset(args.output_dir, args.num_sims, args.duration_ms, args.seed + k)
             for k in range(args.num_files)]
    for path in paths:
        print(path)
    return paths


if __name__ == "__main__":
    main()
