"""Simulate the Hay et al. 2011 L5PC under 1278 random synapses and save a dataset file (spec §3, §1.1).

Each simulation draws random inhomogeneous-Poisson inputs for the 639 excitatory and 639 inhibitory synapses
(one of each per dendritic segment), runs NEURON, and records the soma, the nexus and every segment's
voltage. The file (a pickle of ``{'Params', 'Results'}``, named and laid out like the authors' files) is
what ``fit_CNN.py`` and the figure scripts read.

    python simulate_L5PC_and_create_dataset.py --random-seed 1234 --num-simulations 2 --output-dir OUT
    python simulate_L5PC_and_create_dataset.py --synapse-type AMPA_SK --random-seed 7 --output-dir OUT
    python simulate_L5PC_and_create_dataset.py --preset quick --solver fast --output-dir OUT   # small & fast
    python simulate_L5PC_and_create_dataset.py --preset quick --solver coreneuron --output-dir OUT   # faster
    python simulate_L5PC_and_create_dataset.py --help

The morphology (``cell1.asc``, third-party) is taken from ``--morphology PATH``, else $L5PC_MORPHOLOGY, else
``L5PC_NEURON_simulation/morphologies/cell1.asc`` (``python tools/download_morphology.py`` puts it there).
An interrupted run restarted with the same arguments resumes from its finished chunks.
"""

import glob
import math
import os
import time

import numpy as np

from neuron_as_deep_net.core.config import option_name, run

# -----------------------------------------------------------------------------
# run
random_seed = None  # [>= 0, < 4294967296] int; None draws one below 100000, like the original
num_simulations = 128  # [>= 1] trials in the file
sim_duration_sec = 6.0  # [> 0] per trial (the original: 6)
collect_and_save_dvts = True  # save the 639 dendritic voltage traces (1-ms resolution)
num_samples_per_ms_high_res = 8  # [>= 1] soma/nexus high-res sampling (the simulator records 8 per ms)
# cell and synapses
synapse_type = "NMDA"  # [NMDA | AMPA | AMPA_SK] synapse kind, input ranges and SK_E2 factor of that dataset
inhibitory_synapse_type = "GABA_A"  # [GABA_A | GABA_B]
use_active_dendrites = True  # naming only, as in the original
Ih_vshift = 0  # mV, Ih activation shift
SKE2_mult_factor = None  # [>= 0] None: 1.0, or 0.1 for AMPA_SK
morphology = None  # [file] path of cell1.asc (else $L5PC_MORPHOLOGY, else the default location)
check_morphology_checksum = True  # refuse a file that is not the Hay et al. cell1.asc
# inputs (per-100-ms total spike counts; None: the ranges of the chosen synapse type)
num_bas_ex_spikes_per_100ms_range = None  # [each >= 0] [low, high], e.g. [0, 800]
num_bas_ex_inh_spike_diff_per_100ms_range = None  # e.g. [-600, 200]: inhibitory minus excitatory count
num_apic_ex_spikes_per_100ms_range = None  # [each >= 0] [low, high], e.g. [0, 800]
num_apic_ex_inh_spike_diff_per_100ms_range = None  # e.g. [-600, 200]
inst_rate_sampling_time_interval_options_ms = [25, 30, 35, 40, 45, 55, 60, 65, 70, 75, 80, 85, 90, 100, 150, 200,
                                               300, 450]  # [each > 0] rate-block lengths
temporal_inst_rate_smoothing_sigma_options_ms = [25, 30, 35, 40, 50, 60, 80, 100, 150, 200, 300, 400, 500,
                                                 600]  # [each > 0] Gaussian smoothing sigmas
inst_rate_sampling_time_interval_jitter_range = 20  # [>= 0] ms
temporal_inst_rate_smoothing_sigma_jitter_range = 20  # [>= 0] ms
min_seg_length_um = 10.0  # [>= 0] added to every segment length when computing rates
# integration and execution
solver = "cvode"  # [cvode | fixed | fast | coreneuron] cvode (the original) | fixed (dt 0.025 ms) | fast (dt 0.05 ms, 2nd order) | coreneuron
workers = 0  # [>= 0] parallel worker processes; 0 = all cores
chunk_size = 2  # [>= 1] simulations per checkpointed chunk
dask_scheduler = ""  # address of a Dask scheduler (e.g. tcp://10.0.0.5:8786); empty = local processes
# output
output_dir = "output/data"  # the dataset folder is created inside
overwrite = False  # replace an existing dataset file with the same name
# -----------------------------------------------------------------------------

PRESETS = {
    "paper": {},
    "quick": {"num_simulations": 8, "sim_duration_sec": 2.0, "solver": "fast"},
    "smoke": {"num_simulations": 2, "sim_duration_sec": 0.3, "solver": "fast", "workers": 1},
}
ALIASES = {"--no-dvts": ("collect_and_save_dvts", False)}
SYNAPSE_VARIANTS = {  # synapse_type -> (excitatory mechanism, SK_E2 factor)
    "NMDA": ("NMDA", 1.0),
    "AMPA": ("AMPA", 1.0),
    "AMPA_SK": ("AMPA", 0.1),
}


def dataset_folder_name(p, excitatory_synapse_type, ske2_factor):
    """'L5PC__activeDendrites_Ih_vshift_0_SKE2_mult_100__NMDA_GABA_A' (spec §3 "Output path")."""
    dendrites = "activeDendrites" if p.use_active_dendrites else "passiveDendrites"
    return (f"L5PC__{dendrites}_Ih_vshift_{int(p.Ih_vshift)}_SKE2_mult_{int(round(100 * ske2_factor))}"
            f"__{excitatory_synapse_type}_{p.inhibitory_synapse_type}")


def format_duration(duration_sec):
    """6.0 -> '6', 0.3 -> '0.3' (the original wrote an integer)."""
    return str(int(duration_sec)) if float(duration_sec).is_integer() else f"{duration_sec:g}"


def dataset_file_name(ranges, collect_dvts, num_output_spikes, num_sims, duration_sec, seed):
    """The original's file name; ``num_output_spikes='*'`` gives the glob of any spike count."""
    def pair(values):
        return f"{int(values[0])}_{int(values[1])}"

    return (f"exBas_{pair(ranges['bas_ex'])}_inhBasDiff_{pair(ranges['bas_inh_diff'])}__exApic_{pair(ranges['apic_ex'])}"
            f"_inhApicDiff_{pair(ranges['apic_inh_diff'])}__saved_InputSpikes_{'DVTs' if collect_dvts else ''}__"
            f"{num_output_spikes}_outSpikes__{num_sims}_simulationRuns__{format_duration(duration_sec)}_secDuration__"
            f"randomSeed_{seed}.p")


def run_statistics(unrounded_spike_times, duration_sec):
    """The original's end-of-run statistics: ISIs pooled over sims, ISI-CV, counts and mean rate."""
    spikes_per_sim = [int(len(times)) for times in unrounded_spike_times]
    isis = [isi for times in unrounded_spike_times for isi in np.diff(np.asarray(times, dtype=np.float64))]
    isi_cv = np.std(isis) / np.mean(isis) if len(isis) > 1 else np.float64("nan")
    total = int(sum(spikes_per_sim))
    duration = int(duration_sec) if float(duration_sec).is_integer() else float(duration_sec)
    return {"ISICV": np.float64(isi_cv), "listOfISIs": isis, "numOutputSpikesPerSim": spikes_per_sim,
            "totalNumOutputSpikes": total, "totalNumSimulationSeconds": duration * len(spikes_per_sim),
            "averageOutputFrequency": float(total / (duration_sec * len(spikes_per_sim)))}


RANGE_PARAMETERS = (("bas_ex", "num_bas_ex_spikes_per_100ms_range"),
                    ("bas_inh_diff", "num_bas_ex_inh_spike_diff_per_100ms_range"),
                    ("apic_ex", "num_apic_ex_spikes_per_100ms_range"),
                    ("apic_inh_diff", "num_apic_ex_inh_spike_diff_per_100ms_range"))


def check_parameters(p, ranges, high_res_samples_per_ms):
    """The checks across parameters (UserError): durations, ranges, jitters against their options."""
    from neuron_as_deep_net.core.errors import UserError

    if int(round(1000 * p.sim_duration_sec)) < 1:
        raise UserError(f"--sim-duration-sec must be at least 0.001 (1 ms), got {p.sim_duration_sec}")
    if p.num_samples_per_ms_high_res != high_res_samples_per_ms:
        raise UserError(f"--num-samples-per-ms-high-res: the simulator records {high_res_samples_per_ms} samples "
                        f"per ms; other values are not supported (got {p.num_samples_per_ms_high_res})")
    for key, name in RANGE_PARAMETERS:
        value = ranges[key]
        if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) \
                or value[0] > value[1]:
            raise UserError(f"{option_name(name)} must be two numbers [low, high] with low <= high (got {value!r})")
    for tree in ("bas", "apic"):
        if ranges[f"{tree}_ex"][0] + ranges[f"{tree}_inh_diff"][1] < 0:
            raise UserError(f"{option_name(f'num_{tree}_ex_inh_spike_diff_per_100ms_range')}: its high end "
                            f"({ranges[f'{tree}_inh_diff'][1]}) plus the lowest excitatory count "
                            f"({ranges[f'{tree}_ex'][0]}) is negative: inhibitory counts would be negative")
    for options, jitter in (("inst_rate_sampling_time_interval_options_ms",
                             "inst_rate_sampling_time_interval_jitter_range"),
                            ("temporal_inst_rate_smoothing_sigma_options_ms",
                             "temporal_inst_rate_smoothing_sigma_jitter_range")):
        values, spread = getattr(p, options), getattr(p, jitter)
        if not values:
            raise UserError(f"{option_name(options)} needs at least one value")
        if min(values) <= spread:
            raise UserError(f"{option_name(options)}: every option must exceed {option_name(jitter)} ({spread}), so a "
                            f"jittered value stays positive (got {min(values)})")


def main(argv=None):
    from neuron_as_deep_net.core.config import configure

    p = configure(globals(), PRESETS, argv, description=__doc__, aliases=ALIASES)
    from neuron_as_deep_net.core import parallel
    from neuron_as_deep_net.l5pc import inputs
    from neuron_as_deep_net.l5pc import cell as l5pc_cell, simulator
    from neuron_as_deep_net.core.files import save_pickle
    from neuron_as_deep_net.l5pc.data_format import binary_to_dict

    excitatory_synapse_type, ske2_factor = SYNAPSE_VARIANTS[p.synapse_type]
    if p.SKE2_mult_factor is not None:
        ske2_factor = float(p.SKE2_mult_factor)
    variant_ranges = inputs.L5PC_INPUT_RANGES[p.synapse_type]
    ranges = {key: list(getattr(p, name) if getattr(p, name) is not None else variant_ranges[key])
              for key, name in RANGE_PARAMETERS}
    check_parameters(p, ranges, simulator.NUM_SAMPLES_PER_MS_HIGH_RES)
    morphology_path = l5pc_cell.resolve_morphology(p.morphology, p.check_morphology_checksum)
    seed = p.random_seed if p.random_seed is not None else int(np.random.randint(100000))
    print(f"random seed: {seed}" + ("" if p.random_seed is not None else " (drawn)"))
    sim_duration_ms = int(round(1000 * p.sim_duration_sec))
    workers = p.workers or parallel.default_num_workers()

    folder = os.path.join(p.output_dir, dataset_folder_name(p, excitatory_synapse_type, ske2_factor))
    pattern = dataset_file_name(ranges, p.collect_and_save_dvts, "*", p.num_simulations, p.sim_duration_sec, seed)
    existing = sorted(glob.glob(os.path.join(glob.escape(folder), pattern)))
    if existing and not p.overwrite:
        print(f"the dataset file already exists: {existing[0]}\nnothing to do (pass --overwrite true to redo it)")
        return existing[0]

    experiment_start = time.time()
    simulator_config = dict(morphology_path=morphology_path, excitatory_synapse_type=excitatory_synapse_type,
                            inhibitory_synapse_type=p.inhibitory_synapse_type, SKE2_mult_factor=ske2_factor,
                            Ih_vshift=p.Ih_vshift, solver=p.solver,
                            check_morphology_checksum=p.check_morphology_checksum)
    if p.solver == "coreneuron":  # compile the CoreNEURON library once, here, rather than in a worker
        from neuron_as_deep_net.core import coreneuron_engine

        coreneuron_engine.prepare()
    local_simulator = None
    if workers == 1 and not p.dask_scheduler:
        local_simulator = simulator.L5PCSimulator(**simulator_config)
        cell = local_simulator.cell
    else:
        cell = l5pc_cell.L5PCCell(morphology_path, ske2_factor, p.Ih_vshift, p.check_morphology_checksum)
    from neuron import h

    print(f"temperature is {h.celsius:.2f} degrees celsius (NEURON's default; the channels fix 34 C kinetics)")
    print(f"solver: {p.solver} ({simulator.SOLVERS[p.solver]})")
    metadata = cell.segment_metadata()
    morphology_dict_path = os.path.join(folder, "morphology_dict.pickle")
    if not os.path.exists(morphology_dict_path):
        save_pickle(cell.morphology_dict(), morphology_dict_path)

    # ---- inputs for every simulation, drawn here in the original's order (so workers never draw)
    rng = np.random.RandomState(seed)
    t0 = time.time()
    simulation_inputs = []
    for _ in range(p.num_simulations):
        ex_spikes, inh_spikes = inputs.generate_l5pc_input_spikes(
            rng, metadata["allSegmentsLength"], metadata["allSegmentsType"], sim_duration_ms,
            ranges["bas_ex"], ranges["bas_inh_diff"], ranges["apic_ex"], ranges["apic_inh_diff"],
            p.inst_rate_sampling_time_interval_options_ms, p.temporal_inst_rate_smoothing_sigma_options_ms,
            p.inst_rate_sampling_time_interval_jitter_range, p.temporal_inst_rate_smoothing_sigma_jitter_range,
            p.min_seg_length_um)
        simulation_inputs.append((binary_to_dict(ex_spikes), binary_to_dict(inh_spikes), sim_duration_ms))
    print(f"inputs of {p.num_simulations} simulations drawn in {time.time() - t0:.1f} s")

    # ---- simulate (resumable chunks)
    identity = {"seed": seed, "num_simulations": p.num_simulations, "sim_duration_ms": sim_duration_ms,
                "ranges": ranges, "collect_dvts": p.collect_and_save_dvts, "chunk_size": p.chunk_size,
                "simulator": {k: v for k, v in simulator_config.items() if k != "morphology_path"}}
    checkpoints = parallel.ChunkCheckpoints(
        os.path.join(folder, f".partial__randomSeed_{seed}__{p.num_simulations}_sims__"
                             f"{format_duration(p.sim_duration_sec)}_sec"), identity)
    outputs = parallel.run_simulations(
        simulation_inputs, simulator.L5PCSimulator, simulator_config, {"collect_dvts": p.collect_and_save_dvts},
        checkpoints, chunk_size=p.chunk_size, workers=workers, dask_scheduler=p.dask_scheduler or None,
        sim_seconds_each=p.sim_duration_sec, description="simulating L5PC", local_simulator=local_simulator)

    # CVODE: cut each simulation where the original's single process would have stopped it (in file order)
    simulator.apply_original_stops([result for result, _ in outputs], sim_duration_ms)
    simulations, unrounded_spike_times = [], []
    for k, (result, timings) in enumerate(outputs):
        unrounded_spike_times.append(result.pop("unroundedOutputSpikeTimes"))
        simulations.append(result)
    statistics = run_statistics(unrounded_spike_times, p.sim_duration_sec)
    params = {
        "randomSeed": seed, "numSimulations": p.num_simulations,
        "totalSimDurationInSec": int(p.sim_duration_sec) if float(p.sim_duration_sec).is_integer()
        else p.sim_duration_sec,
        "collectAndSaveDVTs": p.collect_and_save_dvts, "numSamplesPerMS_HighRes": p.num_samples_per_ms_high_res,
        "excitatorySynapseType": excitatory_synapse_type, "inhibitorySynapseType": p.inhibitory_synapse_type,
        "useActiveDendrites": p.use_active_dendrites, "Ih_vshift": p.Ih_vshift,
        "inst_rate_sampling_time_interval_options_ms": list(p.inst_rate_sampling_time_interval_options_ms),
        "num_bas_ex_spikes_per_100ms_range": ranges["bas_ex"],
        "num_bas_ex_inh_spike_diff_per_100ms_range": ranges["bas_inh_diff"],
        "num_apic_ex_spikes_per_100ms_range": ranges["apic_ex"],
        "num_apic_ex_inh_spike_diff_per_100ms_range": ranges["apic_inh_diff"],
        **metadata,
        "ISICV": statistics["ISICV"], "listOfISIs": statistics["listOfISIs"],
        "numOutputSpikesPerSim": statistics["numOutputSpikesPerSim"],
        "totalNumOutputSpikes": statistics["totalNumOutputSpikes"],
        "totalNumSimulationSeconds": statistics["totalNumSimulationSeconds"],
        "averageOutputFrequency": statistics["averageOutputFrequency"],
        "entireExperimentDurationInMinutes": (time.time() - experiment_start) / 60,
    }
    experiment = {"Params": params, "Results": {"listOfSingleSimulationDicts": simulations}}
    file_name = dataset_file_name(ranges, p.collect_and_save_dvts, statistics["totalNumOutputSpikes"],
                                  p.num_simulations, p.sim_duration_sec, seed)
    path = os.path.join(folder, file_name)
    for stale in existing:  # only reached with --overwrite
        os.remove(stale)
    save_pickle(experiment, path)
    checkpoints.remove()

    minutes = params["entireExperimentDurationInMinutes"]
    total = statistics["totalNumOutputSpikes"]
    print(f"finished {p.num_simulations} simulations in {minutes:.2f} min: {total} output spikes, mean rate "
          f"{statistics['averageOutputFrequency']:.3f} Hz, {total / max(statistics['totalNumSimulationSeconds'] / 60, 1e-9):.1f}"
          f" spikes per simulated minute, ISI-CV {statistics['ISICV']:.3f}, "
          f"{statistics['totalNumSimulationSeconds'] / max(60 * minutes, 1e-9):.4f} simulated s per wall s")
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    run(main)
