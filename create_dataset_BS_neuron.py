"""Create a ball-and-stick dataset: random weighted inputs -> NEURON -> train/valid/test files (spec §3).

Each "repeat" draws new input ranges and simulates 24 train + 2 valid + 2 test simulations of 8192 ms
(12:1:1); afterwards every split is pruned by the spec's statistics. Files are laid out as the tutorial's
(``<output_dir>/<short_name>/{train,valid,test}/<subfolder>/sim_XXXXXXX.npy``), so the published dataset can be
read by the same code. Simulations run in worker processes, are checkpointed in chunks and resume after an
interruption (re-run the same command); ``--first-repeat`` appends more repeats to an existing dataset.

    python create_dataset_BS_neuron.py --cell AMPA_point --num-repeats 110 --output-dir OUT/data   # >= 3000 train
    python create_dataset_BS_neuron.py --cell NMDA_cable --num-repeats 185 --output-dir OUT/data   # >= 5000 train
    python create_dataset_BS_neuron.py --preset quick --cell NMDA_cable --output-dir OUT/data      # minutes
    python create_dataset_BS_neuron.py --cell NMDA_cable --excitatory-preset NMDA_rodent --output-dir OUT/rodent
    python create_dataset_BS_neuron.py --help
"""

from neuron_as_deep_net.core.config import run

# -----------------------------------------------------------------------------
# cell
cell = "AMPA_point"  # [AMPA_point | NMDA_cable] AMPA_point (128x4 um, AMPA) | NMDA_cable (2048x1 um, human NMDA)
excitatory_preset = ""  # ["" | AMPA | NMDA_rodent | NMDA_human] empty: the cell's own
ske2_factor = 0.0  # [>= 0] multiplies the somatic SK_E2 conductance 0.09965 S/cm2 (0 in every tutorial dataset)
num_segments = 8  # [>= 1] dendritic compartments = input locations
# data
num_repeats = 110  # [>= 1] chunks of 24 train + 2 valid + 2 test simulations, each with new input ranges
first_repeat = 0  # [>= 0] index of the first repeat (> 0 appends to an existing dataset without name clashes)
train_per_repeat = 24  # [>= 12] training simulations per repeat (valid = test = this // 12)
sim_duration_ms = 8192  # [>= 1] per simulation
random_seed = 0  # [>= 0] simulation k of repeat r draws from (seed, r, k)
prune = True  # delete simulations whose statistics fall outside the spec's ranges
# execution
engine = "neuron"  # [neuron | coreneuron] neuron | coreneuron (the same fixed step run by CoreNEURON, ~1.7x faster; compiles on first use)
workers = 0  # [>= 0] parallel worker processes; 0 = all cores
cells_per_run = 1  # [>= 1] > 1: that many copies of the cell share one simulator run, each with its own simulation (4.5x faster at 16 with coreneuron; the same files in every check)
chunk_size = 7  # [>= 1] simulations per checkpointed chunk (rounded up to a multiple of cells_per_run)
dask_scheduler = ""  # address of a Dask scheduler; empty = local processes
# output
output_dir = "output/ball_and_stick/data"  # the dataset folder <short_name> is created inside
# -----------------------------------------------------------------------------

PRESETS = {
    "full": {},
    "quick": {"num_repeats": 5},
    "smoke": {"num_repeats": 1, "train_per_repeat": 12, "sim_duration_ms": 1024, "prune": False, "workers": 1},
}


def main(argv=None):
    from neuron_as_deep_net.core.config import configure

    p = configure(globals(), PRESETS, argv, description=__doc__)
    from neuron_as_deep_net.ball_and_stick import dataset
    from neuron_as_deep_net.core import parallel
    from neuron_as_deep_net.ball_and_stick import cell as bs_cell

    cell_parameters = bs_cell.cell_parameters(p.cell, p.num_segments, p.excitatory_preset or None,
                                                     p.ske2_factor)
    folder, run = dataset.create_dataset(
        p.output_dir, cell_parameters, p.num_repeats, seed=p.random_seed, first_repeat=p.first_repeat,
        train_per_repeat=p.train_per_repeat, sim_duration_ms=p.sim_duration_ms,
        workers=p.workers or parallel.default_num_workers(), chunk_size=p.chunk_size,
        dask_scheduler=p.dask_scheduler or None, prune=p.prune, engine=p.engine,
        cells_per_run=p.cells_per_run)
    print(f"dataset: {folder}")
    return folder


if __name__ == "__main__":
    run(main)
