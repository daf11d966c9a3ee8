"""Ball-and-stick twins on a CPU: training step and inference without vs with XLA (``--jit-compile true``), in one run.

For every twin it trains the same network (the quick recipe's optimizer and losses, batches of ``batch_size`` x
``train_window_ms`` random windows of a synthetic dataset) twice from the same seed, once with Keras' default on a
CPU (no XLA) and once XLA-compiled, and times one forward pass over one ``inference_window_ms`` simulation (batch 1)
both ways. Each arm of a twin runs in its own fresh process. Prints ms per step and per simulation of each arm and
their ratios; the last line is ``ratio=<geometric mean of the training ratios>``.

    python bench/ball_and_stick_xla.py                                   # every twin; ~8 min on 2 cores
    python bench/ball_and_stick_xla.py --twins TCN:C,ELM --timed-steps 20
"""

import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import compare_twin_architectures  # noqa: E402  (its parsing of twin names, split_model)

# -----------------------------------------------------------------------------
twins = ["TCN:A", "TCN:B", "TCN:C", "TCN:D", "TCN:E", "ResNetTCN", "ELM", "Transformer"]  # TCN:<config> | type
batch_size = 4  # [>= 1] windows per step (the quick and laptop presets' 4)
train_window_ms = 1024  # [>= 256] training window (the presets' 1024)
inference_window_ms = 8128  # [>= 256] one test simulation
warmup_steps = 20  # [>= 1] untimed steps first (tracing, XLA compilation)
timed_steps = 150  # [>= 1] timed training steps per arm
inference_repeats = 5  # [>= 1] median of this many forward passes after a warm-up pass
random_seed = 0  # [>= 0] synthetic data and weights
# -----------------------------------------------------------------------------

PRESETS = {"smoke": {"twins": ["TCN:A", "ELM"], "train_window_ms": 256, "inference_window_ms": 512,
                     "warmup_steps": 1, "timed_steps": 2, "inference_repeats": 1}}

ARM = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import numpy as np
from neuron_as_deep_net.ball_and_stick import recipes, training, twins
model_type, config, xla = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
batch, window, inference_window, warmup, timed, repeats, seed = map(int, sys.argv[4:])
rng = np.random.default_rng(seed)
num_sims, num_ms = 16, max(window, inference_window) + 64
arrays = {"inputs": (rng.random((num_sims, num_ms, 16)) < 0.01).astype(np.float16) * 10,
          "spikes": rng.random((num_sims, num_ms)) < 0.007, "near_spike": rng.random((num_sims, num_ms)) < 0.05,
          "soma_v": rng.normal(-72.0, 5.0, (num_sims, num_ms)).astype(np.float16),
          "inst_rate": rng.uniform(0.0, 0.02, (num_sims, num_ms)).astype(np.float16),
          "branch_v": rng.normal(-70.0, 8.0, (num_sims, num_ms, 8)).astype(np.float16)}
keras.utils.set_random_seed(seed)
model = twins.build_ball_and_stick_twin(model_type, config, 8)
r = recipes.QUICK_RECIPE
training.compile_ball_and_stick_model(model, r["learning_rate"], steps_per_epoch=r["steps_per_epoch"],
                                      num_epochs=r["num_epochs"], warmup_epochs=r["warmup_epochs"],
                                      cooldown_epochs=r["cooldown_epochs"], warmup_steps=r["warmup_steps"],
                                      deep_rate_fan_in=r["deep_rate_fan_in"], jit_compile=xla)
class StepClock(keras.callbacks.Callback):
    # the time from the end of the last untimed step to the end of the last step (the losses read, so the steps
    # are done): no start-up of fit or of the window stream is counted
    marks = {}
    def on_train_batch_end(self, batch, logs=None):
        if batch in (warmup - 1, warmup + timed - 1):
            float(logs["loss"])
            self.marks[batch] = time.perf_counter()
stream = training.ball_and_stick_window_dataset(arrays, batch, window, seed)
clock = StepClock()
model.fit(stream, epochs=1, steps_per_epoch=warmup + timed, verbose=0, callbacks=[clock])
step_ms = 1000.0 * (clock.marks[warmup + timed - 1] - clock.marks[warmup - 1]) / timed
x, _ = training.scale_ball_and_stick_batch(training.random_windows(arrays, rng, 1, inference_window))
model.predict_on_batch(x)
times = []
for _ in range(repeats):
    started = time.perf_counter()
    model.predict_on_batch(x)
    times.append(time.perf_counter() - started)
print(json.dumps({"step_ms": step_ms, "inference_ms": 1000.0 * float(np.median(times)), "xla": bool(model.jit_compile)}))
"""


def run_arm(p, spec, xla, root):
    """One twin, one mode, in a fresh process: {'step_ms', 'inference_ms', 'xla'}."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    model_type, config = compare_twin_architectures.split_model(spec)  # the comparison's own parsing and checks
    arguments = [model_type, config or "C", "true" if xla else "false"] + [str(int(value)) for value in (
        p.batch_size, p.train_window_ms, p.inference_window_ms, p.warmup_steps, p.timed_steps, p.inference_repeats,
        p.random_seed)]
    completed = subprocess.run([sys.executable, "-c", ARM, *arguments], capture_output=True, text=True, env=env)
    if completed.returncode != 0:
        raise RuntimeError(f"{spec} ({'XLA' if xla else 'no XLA'}) failed: {completed.stderr.strip()[-800:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv=None):
    from neuron_as_deep_net.core.config import configure

    p = configure(globals(), PRESETS, argv, description=__doc__)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(f"{os.cpu_count()} logical cores; batch {p.batch_size} x {p.train_window_ms} ms, inference 1 x "
          f"{p.inference_window_ms} ms")
    print(f"{'twin':12s} {'step ms':>9s} {'XLA':>7s} {'ratio':>6s}   {'infer ms':>9s} {'XLA':>7s} {'ratio':>6s}")
    training_ratios = []
    for spec in p.twins:
        without, with_xla = run_arm(p, spec, False, root), run_arm(p, spec, True, root)
        if without["xla"] or not with_xla["xla"]:
            raise RuntimeError(f"{spec}: the arms did not run in the modes asked for ({without}, {with_xla})")
        step_ratio = without["step_ms"] / with_xla["step_ms"]
        inference_ratio = without["inference_ms"] / with_xla["inference_ms"]
        training_ratios.append(step_ratio)
        print(f"{spec:12s} {without['step_ms']:9.1f} {with_xla['step_ms']:7.1f} {step_ratio:5.2f}x   "
              f"{without['inference_ms']:9.1f} {with_xla['inference_ms']:7.1f} {inference_ratio:5.2f}x", flush=True)
    geometric_mean = math.exp(sum(math.log(ratio) for ratio in training_ratios) / len(training_ratios))
    print(f"ratio={geometric_mean:.2f}")


if __name__ == "__main__":
    from neuron_as_deep_net.core.config import run

    run(main)
