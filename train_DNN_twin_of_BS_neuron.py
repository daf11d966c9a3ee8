"""Train a deep-network twin of a ball-and-stick cell and evaluate it on the test split (spec §4).

The twin (a causal TCN of config A-E, or a ResNet-TCN / ELM / Transformer alternative) predicts the somatic
spikes, the soma voltage, a near-spike indicator, the instantaneous rate and the 8 branch voltages from the
8 x (exc, inh) inputs. Training: random windows streamed with tf.data, AdamW with warm-up and cool-down,
loss weights ramped from their initial to their final values, the checkpoint with the lowest validation spike
loss kept and restored. Evaluation: one 8128-ms window per test file; AUC, TP @ 0.2 % FP, soma explained
variance and RMSE.

    python train_DNN_twin_of_BS_neuron.py --cell AMPA_point --config C --data-dir OUT/data --output-dir OUT/models
    python train_DNN_twin_of_BS_neuron.py --preset quick --cell NMDA_cable --config D --data-dir OUT/data --output-dir OUT/models
    python train_DNN_twin_of_BS_neuron.py --model-type ELM --cell NMDA_cable --data-dir OUT/data --output-dir OUT/models
    python train_DNN_twin_of_BS_neuron.py --help

Writes ``<output_dir>/<cell>/<run name>/``: ``best.weights.h5``, ``model.json`` (how to rebuild it),
``history.json``, ``results.json`` and ``params.json``.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from neuron_as_deep_net.ball_and_stick.recipes import LAPTOP_RECIPE, QUICK_RECIPE  # noqa: E402
from neuron_as_deep_net.core.config import run  # noqa: E402

# -----------------------------------------------------------------------------
# data
data_dir = "output/ball_and_stick/data"  # root holding <short_name>/{train,valid,test}
cell = "AMPA_point"  # [AMPA_point | NMDA_cable] selects the dataset folder by its short name
dataset_folder = ""  # [folder] explicit dataset folder (overrides data_dir + cell), e.g. a downloaded one
max_train_files = 0  # [>= 0] 0 = all
max_valid_files = 0  # [>= 0] validation files scored after every epoch (the first ones by index); 0 = all, as the tutorial
# model
model_type = "TCN"  # [TCN | ResNetTCN | ELM | Transformer]
config = "C"  # [A | B | C | D | E] TCN config (spec table; ignored by the other model types)
# training
num_epochs = 100  # [>= 1] epochs of steps_per_epoch steps
steps_per_epoch = 0  # [>= 0] 0 = ceil(train files / batch size), the tutorial's epoch
batch_size = 16  # [>= 1] training windows per step
train_window_ms = 0  # [>= 0] 0 = the model type's (TCN/ResNetTCN 2048, ELM 1024, Transformer 1280)
valid_window_ms = 0  # [>= 0] 0 = the model type's (TCN/ResNetTCN/Transformer 4096, ELM 2048)
learning_rate = 3e-4  # [> 0] AdamW peak learning rate
weight_decay = 1e-3  # [>= 0] AdamW decoupled weight decay
clip_norm = 25.0  # [> 0] global gradient-norm clip
warmup_epochs = 10  # [>= 0] learning-rate warm-up; the loss weights ramp from 2.5x to 4x this epoch (0: no schedule)
cooldown_epochs = 25  # [>= 0] final epochs of linear learning-rate decay
warmup_steps = 0  # [>= 0] > 0: per-step linear rate warm-up over these steps instead of the per-epoch one (issue 22)
warmup_start_factor = 0.001  # [> 0, <= 1] the per-step warm-up's first rate, as a fraction of learning_rate
deep_rate_fan_in = 0  # [>= 0] > 0: each conv kernel after the first layer learns at rate x min(1, this / its fan-in) (issue 22); 0 = one rate, as the tutorial
head_bias_init = "tutorial"  # [tutorial | targets] heads' initial biases: the tutorial's (-2 for the spike logits), or the training targets' means (issue 22)
random_seed = 0  # [>= 0, < 4294967296] seeds Keras (weights) and the window sampler
jit_compile = "auto"  # [auto | true | false] XLA-compile the train step and predictions; auto: on a GPU only (Keras' own choice); true on a CPU: faster for most twins, same math (bench/ball_and_stick_xla.py)
# evaluation
test_window_ms = 8128  # [>= 1] one window per test file
# output
output_dir = "output/ball_and_stick/models"  # <cell>/<run name>/ is created inside
run_name = ""  # empty: <model name>__<model type>_<config>
verbose = True  # print one line per epoch
# -----------------------------------------------------------------------------

PRESETS = {
    "full": {},
    # quick and laptop: the one recipe of ball_and_stick_experiment.py's presets, written once in
    # neuron_as_deep_net/ball_and_stick/recipes.py (quick: 3,000 steps of 4 x 1024 ms, AdamW peak 1e-3 after a
    # 300-step warm-up, the tutorial's loss-weight ramp, deeper kernels' rates x 256 / fan-in; laptop: the same for
    # 7,200 steps, 64 validation files per epoch)
    "quick": QUICK_RECIPE,
    "laptop": LAPTOP_RECIPE,
    "smoke": {"num_epochs": 2, "steps_per_epoch": 2, "batch_size": 2, "train_window_ms": 256,
              "valid_window_ms": 512, "learning_rate": 1e-3, "warmup_epochs": 1, "cooldown_epochs": 1},
}
DEFAULT_WINDOWS_MS = {"TCN": (2048, 4096), "ResNetTCN": (2048, 4096), "ELM": (1024, 2048),
                      "Transformer": (1280, 2048)}


def main(argv=None, devices=None, loaded_splits=None):
    """Run the script with ``argv`` (default: the command line); ``devices`` injects the device list (tests).
    ``loaded_splits``: dataset.load_twin_splits of this dataset, when the caller trains several twins on it in one
    process (used if its key matches, else the splits are loaded here)."""
    from neuron_as_deep_net.core import devices as core_devices
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(globals(), PRESETS, argv, description=__doc__)
    started = time.time()
    setup = core_devices.setup_devices(devices, set_policy=False)
    import math
    import resource

    import keras
    import numpy as np

    from neuron_as_deep_net.ball_and_stick import dataset, training, twins
    from neuron_as_deep_net.core import files
    from neuron_as_deep_net.ball_and_stick.evaluation import evaluate_ball_and_stick_twin

    training.check_twin_parameters([p.config] if p.model_type == "TCN" else [], p.num_epochs, p.warmup_epochs,
                                   p.cooldown_epochs, {"--train-window-ms": p.train_window_ms,
                                                       "--valid-window-ms": p.valid_window_ms,
                                                       "--test-window-ms": p.test_window_ms})
    keras.utils.set_random_seed(p.random_seed)
    folder = p.dataset_folder or dataset.find_dataset_folder(p.data_dir, p.cell)
    key = dataset.twin_splits_key(folder, p.max_train_files, p.max_valid_files)
    if not (loaded_splits and loaded_splits.get("key") == key):
        loaded_splits = dataset.load_twin_splits(folder, p.max_train_files, p.max_valid_files)
    train, valid, test = loaded_splits["train"], loaded_splits["valid"], loaded_splits["test"]
    num_segments = train["branch_v"].shape[-1]
    print(f"{os.path.basename(folder)}: {len(train['indices'])} train / {len(valid['indices'])} valid / "
          f"{len(test['indices'])} test simulations of {train['spikes'].shape[1]} ms")

    model = twins.build_ball_and_stick_twin(p.model_type, p.config, num_segments)
    num_params = int(model.count_params())
    tag = p.config if p.model_type == "TCN" else p.model_type
    run_dir = os.path.join(p.output_dir, p.cell, p.run_name or twins.twin_run_name(model.name, p.model_type, p.config))
    os.makedirs(run_dir, exist_ok=True)
    print(f"model {model.name} ({p.model_type} {tag}): {num_params:,} parameters -> {run_dir}")

    if p.head_bias_init == "targets":
        biases = training.init_head_biases(model, train)
        print(f"head biases at the training targets' means: spikes {biases['spikes'][0]:.2f}, soma "
              f"{biases['soma'][0]:.3f}, near_spike {biases['near_spike'][0]:.2f}")
    jit_compile = core_devices.resolve_jit_compile(p.jit_compile, setup.report, sparse_first_layer=False)
    print(f"XLA {'on' if jit_compile else 'off'} (--jit-compile {p.jit_compile})")
    default_train_window, default_valid_window = DEFAULT_WINDOWS_MS[p.model_type]
    steps_per_epoch = p.steps_per_epoch or math.ceil(len(train["indices"]) / p.batch_size)
    train_started = time.time()
    history, best = training.train_ball_and_stick_twin(
        model, train, valid, p.num_epochs, steps_per_epoch, p.batch_size, p.train_window_ms or default_train_window,
        p.valid_window_ms or default_valid_window, p.learning_rate, p.weight_decay, p.clip_norm, p.warmup_epochs,
        p.cooldown_epochs, seed=p.random_seed, checkpoint_path=os.path.join(run_dir, "best.weights.h5"),
        verbose=p.verbose, warmup_steps=p.warmup_steps, warmup_start_factor=p.warmup_start_factor,
        deep_rate_fan_in=p.deep_rate_fan_in, jit_compile=jit_compile)
    training_sec = time.time() - train_started

    results, _ = evaluate_ball_and_stick_twin(model, test, p.test_window_ms, seed=p.random_seed)
    results.update({"cell": p.cell, "model_type": p.model_type, "config": tag, "model_name": model.name,
                    "num_params": num_params, "best_epoch": best["epoch"], "best_valid_losses": best["valid_losses"],
                    "constant_output_valid_spike_loss": best["constant_output_valid_spike_loss"],
                    "num_train_files": int(len(train["indices"])),
                    "num_valid_files": int(len(valid["indices"])), "num_train_steps": p.num_epochs * steps_per_epoch,
                    "training_sec": training_sec, "jit_compile": bool(jit_compile), "runtime_sec": time.time() - started, "device_report": setup.report,
                    "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0})
    model_description = {"model_type": p.model_type, "config": p.config, "num_segments": int(num_segments),
                         "name": model.name, "weights": "best.weights.h5"}
    files.write_json(os.path.join(run_dir, "model.json"), model_description)
    files.write_json(os.path.join(run_dir, "history.json"), history)
    files.write_json(os.path.join(run_dir, "params.json"), parameters_snapshot(p))
    files.write_json(os.path.join(run_dir, "results.json"), results)
    print(f"{p.cell} {p.model_type} {tag}: test AUC {results['AUC']:.5f}, TP @ 0.2% FP "
          f"{results['TP @ 0.0020 FP']:.3f}, soma explained variance {results['soma_explained_variance_percent']:.1f} %,"
          f" soma RMSE {results['soma_RMSE']:.2f} mV (best epoch {best['epoch']}, {training_sec / 60:.1f} min)")
    return results


if __name__ == "__main__":
    run(main)
