"""Which device TensorFlow computes on, and what follows from it (issue 18).

* **Install check**: :func:`check_single_tensorflow` refuses two TensorFlow wheels installed side by side
  (``tensorflow-cpu`` and ``tensorflow``, e.g. after installing requirements-gpu.txt over requirements.txt):
  they share one ``tensorflow/`` folder, so which one runs is undefined.
* **Device report**: :func:`device_report` -> ``{"visible": ["CPU 0", "GPU 0: <name>"], "used": "GPU 0: <name>"
  | "CPU (no GPU visible)", "mixed_precision": bool, "strategy": "none" | "mirrored (N replicas)"}``. Every
  script that trains or evaluates networks prints it once at start (:func:`setup_devices`) and records it in
  its JSON and pickle metadata. The device list can be injected (``devices=["CPU 0", "GPU 0: fake"]``), so
  tests declare a GPU on a CPU-only machine.
* **Right path per device**: :func:`resolve_first_layer` (the sparse first layer on a CPU, the dense Conv1D
  that cuDNN runs on a GPU), :func:`resolve_jit_compile` (XLA on the dense GPU path) and
  :func:`resolve_inference_path` (the sparse/FFT fast path on a CPU, Keras predict on a GPU); each takes
  ``auto`` or an explicit choice.
* **Mixed precision** (``--mixed-precision true``): Keras' ``mixed_float16`` policy (float16 compute, float32
  variables; the output heads are built in float32, so outputs and losses are float32). Refused on a CPU.
* **Several GPUs** (``--distribute mirrored``): ``tf.distribute.MirroredStrategy`` over all visible GPUs (over
  the logical CPU devices when there is no GPU, which is how the tests run it); each global batch is split
  across the replicas and the batch-norm statistics are synchronised (:func:`synchronized_batch_norm`), so a
  step computes what one device computes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import re

from .errors import UserError


class DeviceChoiceError(UserError, ValueError):
    """A device option that does not fit this machine or the other options (one line, exit 2)."""


class TensorFlowInstallError(UserError, RuntimeError):
    """Two TensorFlow wheels installed at once (one line, exit 2, with the fix)."""


# the wheels that each install the whole 'tensorflow' package (tensorflow-intel / -macos are parts of
# 'tensorflow' on Windows / macOS, installed with it, and are not counted)
TENSORFLOW_WHEELS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tf-nightly-cpu",
                     "tf-nightly-gpu")
NO_GPU = "CPU (no GPU visible)"
CHOICES = ("auto", "true", "false")
INFERENCE_PATHS = ("auto", "fast", "keras")
DISTRIBUTE_CHOICES = ("none", "mirrored")
_printed = set()  # report lines already printed by this process (nested scripts print them once)


# ---------------------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------------------

def _normalise(name):
    return re.sub(r"[-_.]+", "-", str(name)).lower()


def installed_tensorflow_wheels(distributions=None):
    """The TensorFlow wheels installed (sorted names), from ``importlib.metadata`` or the given names."""
    if distributions is None:
        distributions = [dist.metadata["Name"] for dist in importlib.metadata.distributions()]
    return sorted({_normalise(name) for name in distributions if name} & set(TENSORFLOW_WHEELS))


def check_single_tensorflow(distributions=None):
    """Raise RuntimeError when more than one TensorFlow wheel is installed (they overwrite each other)."""
    wheels = installed_tensorflow_wheels(distributions)
    if len(wheels) > 1:
        raise TensorFlowInstallError(
            f"{len(wheels)} TensorFlow wheels are installed ({', '.join(wheels)}); they overwrite each other's "
            f"files, so which one runs is undefined. Fix: python -m pip uninstall -y {' '.join(wheels)}, then "
            f"reinstall ONE requirements file: python -m pip install -r requirements.txt (CPU) or "
            f"python -m pip install -r requirements-gpu.txt (NVIDIA GPU, Linux x86_64)")
    return wheels


# ---------------------------------------------------------------------------------------------------------
# devices and the report
# ---------------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Device:
    kind: str  # "CPU" | "GPU"
    index: int
    name: str = ""

    @property
    def label(self):
        return f"{self.kind} {self.index}" + (f": {self.name}" if self.name else "")


def parse_device(text):
    """A :class:`Device` from 'GPU 0: NVIDIA A100', 'GPU:0', '/physical_device:GPU:1' or 'CPU 0'."""
    if isinstance(text, Device):
        return text
    match = re.fullmatch(r"\s*(?:/?[a-z_]*device:)?(CPU|GPU)[ :]?(\d+)?\s*(?::\s*(.*?))?\s*", str(text), re.I)
    if not match:
        raise DeviceChoiceError(f"not a device: {text!r} (expected e.g. 'CPU 0' or 'GPU 0: NVIDIA A100')")
    return Device(match.group(1).upper(), int(match.group(2) or 0), match.group(3) or "")


def visible_devices(devices=None):
    """The devices TensorFlow sees (CPUs first), or the injected list ``devices`` (strings or Devices)."""
    if devices is not None:
        return [parse_device(device) for device in devices]
    check_single_tensorflow()
    import tensorflow as tf

    found = []
    for kind in ("CPU", "GPU"):
        for index, physical in enumerate(tf.config.list_physical_devices(kind)):
            name = ""
            if kind == "GPU":
                try:
                    name = tf.config.experimental.get_device_details(physical).get("device_name", "")
                except (ValueError, RuntimeError):
                    name = ""
            found.append(Device(kind, index, name))
    return found


def device_report(devices=None, mixed_precision=False, num_replicas=0):
    """The device report: visible devices, the one used, mixed precision and the distribution strategy.

    ``num_replicas`` > 0 means a mirrored strategy with that many replicas.
    """
    visible = visible_devices(devices)
    gpus = [device for device in visible if device.kind == "GPU"]
    return {"visible": [device.label for device in visible], "used": gpus[0].label if gpus else NO_GPU,
            "mixed_precision": bool(mixed_precision),
            "strategy": f"mirrored ({int(num_replicas)} replicas)" if num_replicas else "none"}


def uses_gpu(report):
    """True when the report's device in use is a GPU."""
    return str(report["used"]).startswith("GPU")


def format_report(report):
    """One line: 'devices: CPU 0, GPU 0: X visible; using GPU 0: X; mixed precision off; strategy none'."""
    return (f"devices: {', '.join(report['visible']) or 'none'} visible; using {report['used']}; mixed precision "
            f"{'on' if report['mixed_precision'] else 'off'}; strategy {report['strategy']}")


# ---------------------------------------------------------------------------------------------------------
# choices per device
# ---------------------------------------------------------------------------------------------------------

def parse_choice(value, name):
    """'auto' | True | False from a parameter value ('auto', 'true'/'false', or a bool)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise DeviceChoiceError(f"{name} must be one of {' | '.join(CHOICES)}, got {value!r}")


def resolve_first_layer(sparse_first_layer, report):
    """True for the sparse first layer: 'auto' = on a CPU (~3x faster there), the dense Conv1D on a GPU."""
    choice = parse_choice(sparse_first_layer, "sparse_first_layer")
    return (not uses_gpu(report)) if choice == "auto" else choice


def resolve_jit_compile(jit_compile, report, sparse_first_layer, distributed=False):
    """XLA for the training step: 'auto' = on a GPU with the dense first layer and no distribution strategy.

    The sparse first layer has data-dependent shapes XLA cannot compile; Keras itself turns XLA off under a
    tf.distribute strategy.
    """
    choice = parse_choice(jit_compile, "jit_compile")
    if choice == "auto":
        return uses_gpu(report) and not sparse_first_layer and not distributed
    if choice and sparse_first_layer:
        raise DeviceChoiceError("jit_compile true needs the dense first layer (--sparse-first-layer false): XLA cannot "
                         "compile the sparse layer's data-dependent shapes")
    return choice


def resolve_inference_path(inference_path, report, mixed_precision=False):
    """'fast' (the sparse/FFT path of core.fast_inference) or 'keras' (Keras predict, dense).

    'auto' = 'keras' on a GPU, 'fast' on a CPU. Mixed precision applies to Keras predict only.
    """
    path = str(inference_path).strip().lower()
    if path not in INFERENCE_PATHS:
        raise DeviceChoiceError(f"inference_path must be one of {' | '.join(INFERENCE_PATHS)}, got {inference_path!r}")
    if path == "auto":
        path = "keras" if uses_gpu(report) else "fast"
    if mixed_precision and path == "fast":
        raise DeviceChoiceError("mixed precision applies to Keras predict: use --inference-path keras (or auto on a GPU)")
    return path


def inference_predict_fn(model, path, batch_size=64, mixed_precision=False):
    """A ``predict_fn`` for windows.overlapped_inference on the chosen path ('fast' or 'keras')."""
    from . import fast_inference, windows

    if path == "fast":
        return fast_inference.fast_predict_fn(model, batch_size=batch_size)
    if path != "keras":
        raise DeviceChoiceError(f"inference path must be 'fast' or 'keras', got {path!r}")
    return windows.keras_predict_fn(mixed_precision_clone(model) if mixed_precision else model, batch_size)


# ---------------------------------------------------------------------------------------------------------
# mixed precision
# ---------------------------------------------------------------------------------------------------------

def check_mixed_precision(mixed_precision, report):
    """Raise ValueError for mixed precision without a GPU (float16 on a CPU is slower, not what it is for)."""
    if mixed_precision and not uses_gpu(report):
        raise DeviceChoiceError(f"--mixed-precision true needs a GPU, and none is visible ({', '.join(report['visible'])}"
                         f"): float16 compute on a CPU is slower than float32; drop the flag")


def set_mixed_precision(enabled):
    """Set Keras' global dtype policy: 'mixed_float16' when enabled, else 'float32'."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")


def mixed_precision_clone(model):
    """The same functional model computing in float16 (variables float32, output layers float32), same weights."""
    import keras

    output_layers = set(model.output_names)

    def clone_layer(layer):
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        config = dict(layer.get_config(), dtype="float32" if layer.name in output_layers else "mixed_float16")
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=clone_layer)
    clone.set_weights(model.get_weights())
    return clone


# ---------------------------------------------------------------------------------------------------------
# several devices
# ---------------------------------------------------------------------------------------------------------

def make_strategy(distribute):
    """None for 'none'; for 'mirrored' a MirroredStrategy over the logical GPUs (the logical CPUs if none)."""
    kind = str(distribute).strip().lower()
    if kind not in DISTRIBUTE_CHOICES:
        raise DeviceChoiceError(f"distribute must be one of {' | '.join(DISTRIBUTE_CHOICES)}, got {distribute!r}")
    if kind == "none":
        return None
    import tensorflow as tf

    logical = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in logical])


def check_batch_split(batch_size, num_replicas):
    """Raise ValueError unless the global batch splits evenly across the replicas (same loss as one device)."""
    if num_replicas and int(batch_size) % int(num_replicas):
        raise DeviceChoiceError(f"batch_size {batch_size} does not split evenly across {num_replicas} replicas; choose a "
                         f"multiple of {num_replicas}")


@contextlib.contextmanager
def synchronized_batch_norm(model, enabled=True):
    """Within the block, the model's BatchNormalization layers use the global batch's statistics across
    replicas (as one device would); restored afterwards, so saved files keep Keras' default."""
    import keras

    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    previous = [layer.synchronized for layer in layers]
    try:
        for layer in layers:
            layer.synchronized = bool(enabled) or layer.synchronized
        yield model
    finally:
        for layer, value in zip(layers, previous):
            layer.synchronized = value


# ---------------------------------------------------------------------------------------------------------
# one call per script
# ---------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class DeviceSetup:
    """The report, and the strategy (None without ``--distribute``)."""

    report: dict
    strategy: object = None

    @property
    def gpu(self):
        return uses_gpu(self.report)

    @property
    def num_replicas(self):
        return int(self.strategy.num_replicas_in_sync) if self.strategy is not None else 1

    def scope(self):
        """The strategy's scope (build and compile models inside it), or a no-op."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def setup_devices(devices=None, mixed_precision=False, distribute="none", set_policy=True, log=print):
    """Check the install, find the devices, apply mixed precision and the strategy, print the report once.

    ``devices``: an injected device list (None: ask TensorFlow). ``mixed_precision`` is refused on a CPU;
    with ``set_policy`` it sets Keras' global dtype policy (mixed_float16 or float32) for the models built
    next (training); evaluation scripts pass False and clone the loaded models instead
    (:func:`inference_predict_fn`), scripts without the option leave it alone. Returns a :class:`DeviceSetup`.
    """
    check_single_tensorflow()
    report = device_report(devices, mixed_precision=bool(mixed_precision))
    check_mixed_precision(mixed_precision, report)
    if set_policy:
        set_mixed_precision(mixed_precision)
    strategy = make_strategy(distribute)
    if strategy is not None:
        report["strategy"] = f"mirrored ({int(strategy.num_replicas_in_sync)} replicas)"
    line = format_report(report)
    if log is not None and line not in _printed:
        _printed.add(line)
        log(line)
    return DeviceSetup(report, strategy)


def setup_inference(devices=None, inference_path="auto", mixed_precision=False):
    """(DeviceSetup, 'fast' | 'keras') for a script that evaluates saved networks: :func:`setup_devices` without
    touching Keras' global policy, then :func:`resolve_inference_path` on its device."""
    setup = setup_devices(devices, mixed_precision=mixed_precision, set_policy=False)
    return setup, resolve_inference_path(inference_path, setup.report, mixed_precision)
