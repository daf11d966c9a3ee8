"""Ball-and-stick dataset simulation: one cell per simulator run vs ``cells_per_run`` cells per run, in one run.

Both arms simulate the same dataset simulations (inputs drawn from (seed, repeat, position), as
create_dataset_BS_neuron.py does) with ``dataset.DatasetWorker``, each arm in its own fresh process, one after the
other (one core each; the datasets run one such process per core). Prints wall ms per simulation of each arm,
their ratio, and whether the saved arrays (the six files of every simulation) are identical.

    python bench/ball_and_stick_simulation.py                                   # NMDA_cable, CoreNEURON, 16 x 8.2 s
    python bench/ball_and_stick_simulation.py --engine neuron --num-simulations 8
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# -----------------------------------------------------------------------------
cell = "NMDA_cable"  # [AMPA_point | NMDA_cable]
engine = "coreneuron"  # [neuron | coreneuron]
cells_per_run = 16  # [>= 2] the batched arm
num_simulations = 16  # [>= 1] per arm (the first positions of repeat 0)
sim_duration_ms = 8192  # [>= 1] per simulation
random_seed = 0  # [>= 0] input draws
# -----------------------------------------------------------------------------

PRESETS = {"smoke": {"num_simulations": 4, "cells_per_run": 3, "sim_duration_ms": 512}}

ARM = """
import hashlib, json, sys, time
import numpy as np
from neuron_as_deep_net.ball_and_stick import cell, dataset
name, engine, cells_per_run, num_simulations, duration, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
worker = dataset.DatasetWorker(engine=engine, cells_per_run=cells_per_run, **cell.cell_parameters(name))
simulations = [(seed, 0, position % 28, duration) for position in range(num_simulations)]
worker.simulate_many(simulations[:1])  # warm-up: first run, library loading
started = time.perf_counter()
results = worker.simulate_many(simulations)
seconds = time.perf_counter() - started
digest = hashlib.sha256()
for result in results:
    for key in sorted(result):
        digest.update(np.ascontiguousarray(result[key]).tobytes())
print(json.dumps({"ms_per_simulation": 1000.0 * seconds / len(results), "digest": digest.hexdigest(),
                  "num_spikes": int(sum(r["output_spikes"].sum() for r in results))}))
"""


def run_arm(p, cells):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    completed = subprocess.run([sys.executable, "-c", ARM, p.cell, p.engine, str(cells), str(p.num_simulations),
                                str(p.sim_duration_ms), str(p.random_seed)], capture_output=True, text=True, cwd=root)
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv=None):
    from neuron_as_deep_net.core.config import configure

    p = configure(globals(), PRESETS, argv, description=__doc__)
    one, many = run_arm(p, 1), run_arm(p, p.cells_per_run)
    print(f"{p.cell}, {p.engine}, {p.num_simulations} simulations of {p.sim_duration_ms} ms "
          f"({one['num_spikes']} output spikes)")
    print(f"  one cell per run:        {one['ms_per_simulation']:8.1f} ms per simulation")
    print(f"  {p.cells_per_run:2d} cells per run:        {many['ms_per_simulation']:8.1f} ms per simulation")
    ratio = one["ms_per_simulation"] / many["ms_per_simulation"]
    same = one["digest"] == many["digest"]
    print(f"ratio={ratio:.2f} same_saved_arrays={same}")
    return {"ratio": ratio, "same_saved_arrays": same, "one": one, "many": many}


if __name__ == "__main__":
    from neuron_as_deep_net.core.config import run

    run(main)
