"""Train a temporally convolutional network (TCN/FCN) to mimic the L5PC: spikes, soma voltage and DVTs (spec §6).

Reads the dataset files of a train and a validation folder (written by simulate_L5PC_and_create_dataset.py,
or the authors' published Python-2 files), fits a whitened PCA to the dendritic voltages of the first
training file, and trains on random 400-ms windows streamed with tf.data through 250 "learning schedules"
in 5 stages of learning rate and loss weights; every schedule re-compiles the model with a NEW optimizer
(the Keras 2.2 Nadam by default), so the optimizer state is reset 250 times, as in the original. After
every schedule the model is saved when the mean of the last 3 validation spike losses is below 0.03.

    python fit_CNN.py --train-dir DATA/train --valid-dir DATA/valid --models-dir models/NMDA   # original setup
    python fit_CNN.py --preset paper --train-dir ... --valid-dir ... --models-dir ...           # best NMDA net, 7x128x153
    python fit_CNN.py --preset quick --train-dir DATA/train --valid-dir DATA/valid --models-dir OUT/models  # minutes
    python fit_CNN.py --depth 7 --width 128 --filter-sizes 35,21 ...   # any architecture (last size repeated)
    python fit_CNN.py ... --resume                                      # continue an interrupted run
    python fit_CNN.py --help                                            # every parameter

Writes into ``models_dir``, each time the save criterion holds (and once at the end with
``--save-final-model true``): ``<name>.keras``, ``<name>.h5``, ``<name>.pickle`` (protocol 2: data_dict,
architecture_dict, learning_schedule_dict, training_history_dict; plus DVT_PCA_file and
fit_CNN_parameters) and ``<name>_DVT_PCA.pkl``, where ``<name>`` is
``<TYPE>_{FCN|TCN}__DxWxT_<D>x<W>x<T>__<YYYY-MM-DD__HH_MM>__samples_<n>__LogLoss_train_<a>_valid_<b>__ID_<id>``.
A checkpoint folder ``.fit_CNN_checkpoint__...`` is updated after every schedule (removed when the run
completes) and ``fit_CNN_run__....json`` holds the parameters and results of the run.

Differences from the original, all deliberate: files are taken in sorted order (the original used glob
order, which also decided the PCA file); any number of simulations and any duration T with
max(500, window) + batch_size <= T is accepted; the draws are seeded per Keras epoch (so --resume is exact);
each Keras epoch is one fit() plus one evaluate() call (what fit(validation_data=...) did); the
files-histogram entries are snapshots of the cumulative counts (the original appended the same dict);
the saved files are compiled with Keras' own Nadam (fresh state) so any Keras 3 loads them; on a CPU,
layer_1 is trained through a sparse-input implementation of the same convolution (--sparse-first-layer
false for the plain Conv1D).

Devices (README "Training on GPUs"): the devices TensorFlow sees and the one used are printed at start and
recorded in the run JSON and the model pickles (``device_report``). On a GPU the first layer is the dense
Conv1D (cuDNN) and the training step is XLA-compiled; ``--mixed-precision true`` computes in float16 (GPU
only); ``--distribute mirrored`` trains on all visible GPUs, each batch of ``--batch-size`` windows split
across them.
"""

import copy
import hashlib
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from neuron_as_deep_net.core.config import run  # noqa: E402
from neuron_as_deep_net.core.errors import UserError  # noqa: E402

# -----------------------------------------------------------------------------
# data
synapse_type = "NMDA"  # [NMDA | AMPA | AMPA_SK] model-name prefix; 20 DVT components for NMDA, 30 otherwise
train_dir = "data/L5PC_NMDA_train"  # [folder] folder of training dataset files
valid_dir = "data/L5PC_NMDA_valid"  # [folder] folder of validation dataset files
test_dir = ""  # [folder] folder of test files: only listed in the saved data_dict, as in the original
file_pattern = "*_secDuration_*.p"  # dataset files in each folder (the original: '*_6_secDuration_*')
num_DVT_components = 0  # [>= 0] principal components of the DVTs; 0 = 20 for NMDA, 30 otherwise
use_parse_cache = True  # cache parsed files (.npz of spike coordinates and traces) keyed by the file's sha256
parse_cache_dir = ""  # "" = models_dir/.parsed_cache (entries are named by content, so one folder serves all)
memory_budget_gb = 4.0  # [>= 0] parsed files kept in memory per generator (~0.11 GB per 128 x 6-s file; the original kept 1)
# model
filter_sizes = [54, 24, 24]  # [each >= 1] kernel size per layer (ms); the original's active choice
depth = 0  # [>= 0] conv layers; 0 = len(filter_sizes), else the last filter size is repeated up to this depth
num_filters = 64  # [>= 1] filters per layer
width = 0  # [>= 0] the paper's W = filters per layer; overrides num_filters when > 0
input_window_size = 400  # [>= 1] ms
initializer_std = 0.002  # [> 0] TruncatedNormal std of the conv kernels
l2_regularization = 1e-8  # [>= 0] kernel l2 of every conv layer
activation = "relu"  # relu | lrelu | any Keras activation name
sparse_first_layer = "auto"  # [auto | true | false] layer_1 on the sparse 0/1 input (same weights and math as Conv1D, ~3x faster on a CPU); auto: sparse on a CPU, the dense Conv1D (cuDNN) on a GPU
# training
random_seed = 0  # [>= 0, < 4294967296] initial weights, file choices and window draws (the original was unseeded)
batch_size = 8  # [>= 1] windows per batch
num_schedules = 250  # [>= 1] "learning schedules" (the original's num_epochs): a fresh compile + optimizer each
num_steps_multiplier = 10  # [>= 1] Keras epochs per learning schedule
stage_first_schedules = [0, 40, 80, 120, 160]  # [each >= 0] first schedule of each stage of the table below
learning_rate_per_stage = [1e-4, 3e-5, 1e-5, 3e-6, 1e-6]  # [each > 0] Nadam learning rate per stage
loss_weights_per_stage = [[1.0, 0.02, 5e-5], [2.0, 0.01, 3e-5], [4.0, 0.01, 1e-5], [8.0, 0.01, 1e-7],
                          [9.0, 0.003, 1e-8]]  # per stage: spikes, somatic, dendritic (before DVT_loss_mult_factor)
DVT_loss_mult_factor = 0.1  # [>= 0] multiplies the dendritic loss weight
optimizer = "legacy_nadam"  # [legacy_nadam | nadam] legacy_nadam (Keras 2.2 Nadam, schedule_decay 0.004) | nadam (Keras 3 Nadam)
train_file_load = 0.2  # [> 0] fraction of a file's sims*T drawn (in windows) before switching files
valid_file_load = 0.2  # [> 0] the same for validation
train_files_per_epoch = 6  # [>= 1] files per Keras epoch (random, without replacement)
validation_fraction = 0.5  # [> 0, <= 1] validation files per epoch = max(1, int(validation_fraction * train_files_per_epoch))
ignore_time_from_start_ms = 500  # [>= 0] window ends are drawn from [max(this, window), T)
# output
models_dir = "models/NMDA"  # model files, run JSON and the checkpoint go here
save_val_spikes_loss_threshold = 0.03  # [>= 0] save when the mean of the last 3 val_spikes_loss is below this
save_final_model = False  # also save after the last schedule if the criterion did not (not in the original)
resume_from_checkpoint = False  # continue from the checkpoint of the same run (--resume)
stop_after_schedules = 0  # [>= 0] stop (as if interrupted) after this many schedules in this invocation; 0 = never
progress_bar = True  # tqdm bar per schedule (windows/s)
# devices
jit_compile = "auto"  # [auto | true | false] XLA-compile the training step; auto: on a GPU with the dense first layer and no --distribute
mixed_precision = False  # float16 compute with float32 variables, outputs and losses (GPU only; refused on a CPU)
distribute = "none"  # [none | mirrored] mirrored: tf.distribute.MirroredStrategy over all visible GPUs, each batch split across them
# -----------------------------------------------------------------------------

PRESETS = {
    # the paper's best NMDA model NMDA_TCN__DxWxT_7x128x153; its kernel sizes are not known, we use the
    # first-layer 35 of the original's 7x35 option and six kernels of 20-21 so that sum(k - 1) + 1 = 153
    "paper": {"filter_sizes": [35, 21, 21, 21, 21, 20, 20], "num_filters": 128},
    # a small TCN in minutes on 2 CPU cores: 10 schedules in the same 5 stages, learning rates x10
    "quick": {"filter_sizes": [21, 11], "num_filters": 16, "num_schedules": 10,
              "stage_first_schedules": [0, 4, 6, 8, 9], "learning_rate_per_stage": [1e-3, 3e-4, 1e-4, 3e-5, 1e-5],
              "train_file_load": 1.0, "valid_file_load": 0.5, "save_final_model": True},
    "smoke": {"filter_sizes": [5, 3], "num_filters": 4, "input_window_size": 64, "batch_size": 4,
              "num_DVT_components": 4, "num_schedules": 2, "num_steps_multiplier": 2,
              "stage_first_schedules": [0, 1, 2, 3, 4], "learning_rate_per_stage": [1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
              "train_file_load": 0.5, "valid_file_load": 0.5,
              "train_files_per_epoch": 2, "save_final_model": True, "progress_bar": False},
}
ALIASES = {"--resume": ("resume_from_checkpoint", True)}
# the parameter block as written, so repeated main() calls in one process (tests) never inherit overrides
_DEFAULTS = {name: copy.deepcopy(value) for name, value in dict(globals()).items()
             if not name.startswith("_") and isinstance(value, (bool, int, float, str, list, type(None)))}
# parameters that do not change the training trajectory (left out of the checkpoint's identity)
NOT_IN_RUN_IDENTITY = ("resume_from_checkpoint", "stop_after_schedules", "progress_bar", "models_dir",
                       "use_parse_cache", "parse_cache_dir", "memory_budget_gb", "save_final_model",
                       "save_val_spikes_loss_threshold", "test_dir", "preset", "sparse_first_layer", "jit_compile")


def resolve_architecture(p):
    """The architecture_dict of §6 from the model parameters (--depth, --width/--num-filters, --filter-sizes)."""
    from neuron_as_deep_net.l5pc import networks

    sizes = [int(k) for k in p.filter_sizes]
    if not sizes:
        raise UserError("--filter-sizes needs at least one kernel size")
    if p.depth:
        if p.depth < len(sizes):
            raise UserError(f"--depth {p.depth} is smaller than the {len(sizes)} filter sizes given")
        sizes = sizes + [sizes[-1]] * (p.depth - len(sizes))
    if p.input_window_size <= sum(sizes):
        raise UserError(f"--input-window-size ({p.input_window_size} ms) must be longer than the sum of the filter "
                        f"sizes ({sum(sizes)} ms, the receptive field)")
    filters = p.width if p.width > 0 else p.num_filters
    return networks.make_architecture_dict(sizes, filters, input_window_size=p.input_window_size,
                                           initializer=p.initializer_std, l2_regularization=p.l2_regularization,
                                           activation=p.activation)


def check_parameters(p):
    """The checks across parameters (UserError): the stage table, the activation, the number of components."""
    import keras

    from neuron_as_deep_net.l5pc.data_format import NUM_SEGMENTS

    stages = (p.stage_first_schedules, p.learning_rate_per_stage, p.loss_weights_per_stage)
    if len({len(values) for values in stages}) != 1:
        raise UserError(f"--stage-first-schedules, --learning-rate-per-stage and --loss-weights-per-stage need one "
                        f"entry per stage (got {', '.join(str(len(values)) for values in stages)})")
    if not p.stage_first_schedules or p.stage_first_schedules[0] != 0 or \
            sorted(p.stage_first_schedules) != list(p.stage_first_schedules):
        raise UserError(f"--stage-first-schedules must start at 0 and increase (got {p.stage_first_schedules})")
    for weights in p.loss_weights_per_stage:
        if not (isinstance(weights, list) and len(weights) == 3 and all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in weights)):
            raise UserError(f"--loss-weights-per-stage: each stage needs [spikes, somatic, dendritic] weights >= 0 "
                            f"(got {weights!r})")
    if p.num_DVT_components > NUM_SEGMENTS:
        raise UserError(f"--num-DVT-components must be at most the {NUM_SEGMENTS} dendritic segments "
                        f"(got {p.num_DVT_components})")
    if p.activation != "lrelu":
        try:
            keras.activations.get(p.activation)
        except (ValueError, TypeError):
            raise UserError(f"--activation: unknown activation {p.activation!r} (relu, lrelu, or a Keras "
                            f"activation name such as elu, tanh, gelu)") from None


def run_identity(p, files):
    """A short hash of everything that defines the training trajectory (names the checkpoint folder)."""
    from neuron_as_deep_net.core.config import parameters_snapshot

    identity = {k: v for k, v in parameters_snapshot(p).items() if k not in NOT_IN_RUN_IDENTITY}
    identity["files"] = {k: [os.path.abspath(f) for f in v] for k, v in files.items() if k != "test_files"}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def device_plan(p, report, distributed=False):
    """(sparse first layer, XLA) for the parameters on the device of ``report`` (core.devices' rules)."""
    from neuron_as_deep_net.core import devices as core_devices

    sparse_first_layer = core_devices.resolve_first_layer(p.sparse_first_layer, report)
    return sparse_first_layer, core_devices.resolve_jit_compile(p.jit_compile, report, sparse_first_layer,
                                                                distributed=distributed)


def main(argv=None, devices=None):
    """Run fit_CNN with ``argv`` (default: the command line); ``devices`` injects the device list (tests)."""
    from neuron_as_deep_net.core import devices as core_devices
    from neuron_as_deep_net.core.config import configure

    p = configure(dict(copy.deepcopy(_DEFAULTS), __file__=__file__), PRESETS, argv, description=__doc__,
                  aliases=ALIASES)
    start_time = time.time()
    setup = core_devices.setup_devices(devices, mixed_precision=p.mixed_precision, distribute=p.distribute)
    try:
        return train(p, setup, start_time)
    finally:
        core_devices.set_mixed_precision(False)  # the process's next model is float32 again


def train(p, setup, start_time):
    """The training run of main() with its parameters ``p`` and DeviceSetup ``setup``."""
    from neuron_as_deep_net.core import devices as core_devices
    from neuron_as_deep_net.core.config import parameters_snapshot

    sparse_first_layer, jit_compile = device_plan(p, setup.report, distributed=setup.strategy is not None)
    if setup.strategy is not None:
        core_devices.check_batch_split(p.batch_size, setup.num_replicas)
    from neuron_as_deep_net.l5pc import datasets
    from neuron_as_deep_net.l5pc.data_format import NUM_SEGMENTS, check_pickle_file

    # ---- data files (sorted; the original used glob order), checked cheaply before TensorFlow loads
    data_dict = {"train_files": datasets.list_dataset_files(p.train_dir, p.file_pattern),
                 "valid_files": datasets.list_dataset_files(p.valid_dir, p.file_pattern),
                 "test_files": datasets.list_dataset_files(p.test_dir, p.file_pattern) if p.test_dir else []}
    for key in ("train_files", "valid_files"):
        if not data_dict[key]:
            raise UserError(f"no dataset files matching {p.file_pattern!r} in "
                            f"{p.train_dir if key == 'train_files' else p.valid_dir}")
    for path in data_dict["train_files"] + data_dict["valid_files"]:
        check_pickle_file(path)  # empty or truncated files are found before anything is written

    import keras

    from neuron_as_deep_net.core import files as core_files, model_weights
    from neuron_as_deep_net.core.files import load_pickle, save_pickle
    from neuron_as_deep_net.l5pc import model_files, networks, training, window_sampler
    from neuron_as_deep_net.l5pc import schedule as l5pc_schedule
    from neuron_as_deep_net.l5pc import sparse_conv

    check_parameters(p)
    num_components = p.num_DVT_components or datasets.default_num_DVT_components(p.synapse_type)
    valid_files_per_epoch = max(1, int(p.validation_fraction * p.train_files_per_epoch))
    architecture_dict = resolve_architecture(p)
    prefix = networks.network_type_prefix(p.synapse_type, architecture_dict)
    arch_string = networks.architecture_string(architecture_dict)
    print(f"L2 regularization = {p.l2_regularization}, activation = {p.activation}, optimizer = {p.optimizer}")
    print(f"{len(data_dict['train_files'])} train, {len(data_dict['valid_files'])} valid and "
          f"{len(data_dict['test_files'])} test files")
    print(f"model: {prefix}__{arch_string}, filter sizes {architecture_dict['filter_sizes_per_layer']}, "
          f"{num_components} DVT components")

    # ---- checkpoint of this run (resume) or a fresh start
    run_key = run_identity(p, data_dict)
    checkpoint_dir = os.path.join(p.models_dir, f".fit_CNN_checkpoint__{prefix}__{arch_string}__{run_key}")
    state = training.load_checkpoint_state(checkpoint_dir) if p.resume_from_checkpoint else None
    if p.resume_from_checkpoint and state is None:
        print(f"no checkpoint in {checkpoint_dir}; starting from scratch")
    discard_checkpoint = state is None and training.load_checkpoint_state(checkpoint_dir) is not None
    keras.utils.set_random_seed(p.random_seed)

    # ---- DVT PCA on the first training file (§6)
    cache_dir = p.parse_cache_dir or os.path.join(p.models_dir, datasets.PARSED_CACHE_FOLDER)
    pca_path = os.path.join(checkpoint_dir, "DVT_PCA.pkl")
    if state is not None:
        pca = load_pickle(pca_path)
        print(f"resuming after learning schedule {state['next_schedule']} of {p.num_schedules} ({checkpoint_dir})")
    else:
        t0 = time.time()
        first = datasets.load_dataset_file(data_dict["train_files"][0], NUM_SEGMENTS, include_dvts=True,
                                           use_cache=p.use_parse_cache, cache_dir=cache_dir)
        pca = datasets.fit_dvt_pca(first.dvts, num_components, random_state=p.random_seed)
        del first
        print(f"DVT PCA ({num_components} components) fitted on {os.path.basename(data_dict['train_files'][0])} "
              f"in {time.time() - t0:.1f} s: total explained variance "
              f"{100 * pca.explained_variance_ratio_.sum():.2f} %")

    def load_arrays(path):
        parsed = datasets.load_dataset_file(path, NUM_SEGMENTS, include_dvts=True, use_cache=p.use_parse_cache,
                                            cache_dir=cache_dir)
        return datasets.training_arrays(parsed, pca)

    sampler_args = dict(batch_size=p.batch_size, window_size=p.input_window_size,
                        ignore_time_from_start=p.ignore_time_from_start_ms, seed=p.random_seed,
                        memory_budget_gb=p.memory_budget_gb)
    train_sampler = window_sampler.WindowSampler(data_dict["train_files"], load_arrays, file_load=p.train_file_load,
                                           num_files_per_epoch=p.train_files_per_epoch, shuffle=True, stream=0,
                                           name="train", **sampler_args)
    valid_sampler = window_sampler.WindowSampler(data_dict["valid_files"], load_arrays, file_load=p.valid_file_load,
                                           num_files_per_epoch=valid_files_per_epoch, shuffle=False, stream=1,
                                           name="valid", **sampler_args)
    print(f"generators: train {len(train_sampler)} batches per epoch ({train_sampler.batches_per_file} per file), "
          f"valid {len(valid_sampler)} ({valid_sampler.batches_per_file} per file)")

    # ---- model (saved as plain Conv1D layers) and its training twin (sparse layer_1, shared weights); under a
    # strategy the variables are created in its scope, with the initial weights one device would draw
    def build_model():
        return networks.build_tcn(architecture_dict, num_segments=2 * NUM_SEGMENTS,
                                  num_DVT_components=num_components)

    initial_weights = build_model().get_weights() if setup.strategy is not None else None
    with setup.scope():
        model = build_model()
        if initial_weights is not None:
            model.set_weights(initial_weights)
        trained = sparse_conv.training_model(model, sparse_first_layer=sparse_first_layer)
    first_layer = "on sparse inputs" if trained is not model else "dense Conv1D"
    print(f"{model_weights.count_parameters(model):,} weights; layer_1 {first_layer}; "
          f"XLA {'on' if jit_compile else 'off'}")
    device_choices = {"first_layer": first_layer, "jit_compile": bool(jit_compile)}
    learning_schedule_dict = l5pc_schedule.make_learning_schedule_dict(
        p.num_schedules, p.batch_size, p.stage_first_schedules, p.learning_rate_per_stage, p.loss_weights_per_stage,
        p.DVT_loss_mult_factor, p.train_file_load, p.valid_file_load, p.validation_fraction, p.num_steps_multiplier)

    # ---- every input is read and checked: from here on files are written
    if discard_checkpoint:
        print(f"an earlier checkpoint of this run exists ({checkpoint_dir}); it is discarded and training starts "
              f"from scratch (pass --resume to continue it)")
        training.remove_checkpoint(checkpoint_dir)
    if state is None:
        save_pickle(pca, pca_path)
    if state is not None:
        model.load_weights(os.path.join(checkpoint_dir, state["weights_file"]))
        history = state["training_history_dict"]
        train_sampler.files_histogram = dict(state["train_files_histogram"])
        valid_sampler.files_histogram = dict(state["valid_files_histogram"])
        saved_models = list(state["saved_models"])
        first_schedule = int(state["next_schedule"])
    else:
        history = training.empty_training_history()
        saved_models, first_schedule = [], 0

    def training_dict():
        return {"data_dict": data_dict, "architecture_dict": architecture_dict,
                "learning_schedule_dict": learning_schedule_dict, "training_history_dict": history,
                "fit_CNN_parameters": parameters_snapshot(p), "device_report": setup.report}

    def save_model(schedule, reason):
        # compiled as in this schedule, but with Keras' own Nadam (fresh state, built): any Keras 3 loads the
        # files with load_model() without importing this project (the optimizer state is discarded at every
        # schedule anyway); the optimizer actually used is recorded in fit_CNN_parameters. With mixed precision
        # or a strategy, a float32 single-device copy of the model is saved
        saved = model
        if p.mixed_precision or setup.strategy is not None:
            core_devices.set_mixed_precision(False)
            saved = build_model()
            saved.set_weights(model.get_weights())
            core_devices.set_mixed_precision(p.mixed_precision)
        portable = keras.optimizers.Nadam(learning_rate=learning_schedule_dict["learning_rate_per_epoch"][schedule])
        saved.compile(optimizer=portable, loss=l5pc_schedule.LOSSES,
                      loss_weights=learning_schedule_dict["loss_weights_per_epoch"][schedule])
        portable.build(saved.trainable_variables)
        stem = model_files.model_file_stem(p.synapse_type, architecture_dict, history,
                                        model_id=np.random.default_rng().integers(100000))
        model_files.save_trained_model(saved, p.models_dir, stem, training_dict(), pca)
        saved_models.append(stem)
        print(f"saved ({reason}): {os.path.join(p.models_dir, stem)}.{{keras,h5,pickle}}")

    # ---- the learning schedules (§6 "Training loop")
    steps = len(train_sampler)
    epochs = p.num_steps_multiplier
    epoch_seconds = []  # wall time of every Keras epoch of this invocation (fit + evaluate)
    for schedule in range(first_schedule, p.num_schedules):
        if p.stop_after_schedules and schedule - first_schedule >= p.stop_after_schedules:
            break
        learning_rate = learning_schedule_dict["learning_rate_per_epoch"][schedule]
        loss_weights = learning_schedule_dict["loss_weights_per_epoch"][schedule]
        print(f"learning schedule {schedule + 1}/{p.num_schedules}: loss weights {loss_weights}, "
              f"learning rate {learning_rate}, batch size {p.batch_size}", flush=True)
        with setup.scope():  # a NEW optimizer: its state is reset, as in the original
            trained.compile(optimizer=l5pc_schedule.make_optimizer(p.optimizer, learning_rate),
                            loss=l5pc_schedule.LOSSES, loss_weights=loss_weights, jit_compile=jit_compile)
        t0 = time.time()
        with training.WindowsProgressBar(steps * epochs, p.batch_size, f"schedule {schedule + 1}",
                                         enabled=p.progress_bar) as progress, \
                core_devices.synchronized_batch_norm(trained, enabled=setup.strategy is not None):
            fit_history = training.fit_epochs(trained, train_sampler, valid_sampler, schedule * epochs, epochs,
                                              progress, cast_on_device=setup.gpu, epoch_seconds=epoch_seconds)
        training.append_schedule_history(history, fit_history, schedule, p.batch_size, learning_rate, loss_weights,
                                         steps, train_sampler.files_histogram, valid_sampler.files_histogram)
        elapsed = time.time() - t0
        print(f"  {elapsed:.1f} s ({steps * epochs * p.batch_size / elapsed:.1f} windows/s): loss "
              f"{history['loss'][-1]:.4f}, spikes {history['spikes_loss'][-1]:.4f}, val spikes "
              f"{history['val_spikes_loss'][-1]:.4f}, val somatic {history['val_somatic_loss'][-1]:.4f}", flush=True)
        if training.should_save(history, p.save_val_spikes_loss_threshold):
            save_model(schedule, f"mean of the last 3 val_spikes_loss < {p.save_val_spikes_loss_threshold}")
        elif p.save_final_model and schedule == p.num_schedules - 1:
            save_model(schedule, "final model")
        training.save_checkpoint(checkpoint_dir, model, {
            "next_schedule": schedule + 1, "training_history_dict": history, "run_key": run_key,
            "train_files_histogram": train_sampler.files_histogram,
            "valid_files_histogram": valid_sampler.files_histogram, "saved_models": saved_models})

    completed = len(history["learning_schedule"]) // max(epochs, 1)
    finished = completed >= p.num_schedules
    results = {
        "finished": finished, "completed_schedules": completed, "history_length": len(history["loss"]),
        "saved_models": saved_models, "models_dir": p.models_dir, "run_key": run_key,
        **{f"{end}_{key}": (history[key][0 if end == "first" else -1] if history[key] else None)
           for key in ("loss", "spikes_loss", "somatic_loss", "dendritic_loss", "val_spikes_loss",
                       "val_somatic_loss") for end in ("first", "last")},
        "num_train_windows": int(sum(history["num_train_samples"])),
        "DVT_PCA_explained_variance_percent": float(100 * pca.explained_variance_ratio_.sum()),
        "runtime_sec": time.time() - start_time, "device_report": setup.report, **device_choices,
        "epoch_seconds": epoch_seconds, "train_windows_per_epoch": steps * p.batch_size,
        "valid_windows_per_epoch": len(valid_sampler) * p.batch_size,
    }
    core_files.write_json(os.path.join(p.models_dir, f"fit_CNN_run__{prefix}__{arch_string}__{run_key}.json"),
                        {"parameters": parameters_snapshot(p), "results": results})
    if finished:
        training.remove_checkpoint(checkpoint_dir)
        if not saved_models:
            print("no model met the save criterion; pass --save-final-model true to save the last one")
    else:
        print(f"stopped after learning schedule {completed} of {p.num_schedules}; continue with --resume "
              f"(checkpoint: {checkpoint_dir})")
    if history["loss"]:
        print("first -> last Keras epoch: " + ", ".join(
            f"{key} {results['first_' + key]:.4f} -> {results['last_' + key]:.4f}"
            for key in ("loss", "spikes_loss", "somatic_loss", "val_spikes_loss", "val_somatic_loss")))
    print(f"total runtime {results['runtime_sec']:.1f} s")
    return results


if __name__ == "__main__":
    run(main)
