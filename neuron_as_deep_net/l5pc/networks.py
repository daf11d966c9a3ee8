"""Network builders of ``fit_CNN.py``: the TCN/FCN, its architecture dict and its name parts.

Written from ``/work/shared/spec/original_behaviour.md``:

* §6 "Architecture parameters" -> :func:`make_architecture_dict`, :func:`default_architecture_dict`,
  :data:`ARCHITECTURE_OPTIONS`.
* §6 "Model builder" -> :func:`build_tcn`.
* §6 "Model saving" (name parts) -> :func:`network_type_prefix`, :func:`architecture_string`.

Keras 3 notes (relative to the original Keras 2.2 code):

* ``Nadam(lr=...)`` is ``Nadam(learning_rate=...)``; beta_1 0.9, beta_2 0.999 and epsilon 1e-7 match
  Keras 2.2. NOT identical: Keras 2.2 Nadam had ``schedule_decay=0.004`` and used the momentum schedule
  mu_t = beta_1 * (1 - 0.5 * 0.96 ** (0.004 * t)), whereas Keras 3 Nadam has no such argument and uses
  0.96 ** t, so its effective momentum rises to 0.9 within ~100 steps while in Keras 2.2 it stays near
  0.45-0.62 over a 2880-step schedule (the optimizer is re-created every schedule, §6). This module
  follows the brief and uses ``keras.optimizers.Nadam``; the callers recompile per schedule anyway
  (fit_CNN uses :class:`neuron_as_deep_net.l5pc.schedule.LegacyNadam`).
* The 'lrelu' activation is :func:`neuron_as_deep_net.core.activations.lrelu`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from ..core.activations import lrelu
from ..core.windows import temporal_extent


#: Number of dendritic segments of the L5PC model (§1.2).
NUM_SEGMENTS = 639
#: Network input channels: excitatory inputs of the 639 segments followed by inhibitory ones (§1.2).
NUM_INPUT_CHANNELS = 2 * NUM_SEGMENTS  # 1278

#: Keys of ``architecture_dict`` (§6), in the original order.
ARCHITECTURE_KEYS = (
    "network_depth",
    "input_window_size",
    "num_filters_per_layer",
    "initializer_per_layer",
    "filter_sizes_per_layer",
    "l2_regularization_per_layer",
    "activation_function_per_layer",
    "strides_per_layer",
    "dilation_rates_per_layer",
)

#: Architectures of fit_CNN.py (§6): the active choice first, then the commented-out options,
#: each as (filter_sizes_per_layer, num_filters_per_layer).
ARCHITECTURE_OPTIONS = {
    "active": ([54, 24, 24], 64),
    "FCN_1x110x128": ([110], 128),
    "FCN_45_1x128": ([45, 1], 128),
    "FCN_25_1_1x256": ([25, 1, 1], 256),
    "TCN_2x40x8": ([40] * 2, 8),
    "TCN_3x20x8": ([20] * 3, 8),
    "TCN_4x16x128": ([16] * 4, 128),
    "TCN_5x10x256": ([10] * 5, 256),
    "TCN_6x13x128": ([13] * 6, 128),
    "TCN_7x35x128": ([35] * 7, 128),
    "TCN_8x33x256": ([33] * 8, 256),
    "TCN_54_12x6x256": ([54, 12, 12, 12, 12, 12, 12], 256),
}


def _per_layer(value, depth: int, name: str) -> list:
    """Broadcast a scalar (number or string) to ``depth`` entries, or check a per-layer sequence."""
    if isinstance(value, (str, numbers.Number)):
        return [value] * depth
    values = list(value)
    if len(values) != depth:
        raise ValueError(f"{name} has {len(values)} entries but the network has {depth} layers")
    return values


def make_architecture_dict(
    filter_sizes_per_layer: Sequence[int],
    num_filters_per_layer: int | Sequence[int],
    input_window_size: int = 400,
    initializer: float | str | Sequence = 0.002,
    l2_regularization: float | Sequence[float] = 1e-8,
    activation: str | Sequence[str] = "relu",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> dict:
    """Build an ``architecture_dict`` with the §6 keys; scalars are broadcast to every layer.

    ``initializer`` is a TruncatedNormal std when numeric, otherwise a Keras initializer name.
    ``activation`` is any Keras activation name, or 'lrelu' (leaky ReLU with slope 0.25).
    """
    filter_sizes = [int(k) for k in filter_sizes_per_layer]
    depth = len(filter_sizes)
    if depth < 1:
        raise ValueError("filter_sizes_per_layer must contain at least one layer")
    if any(k < 1 for k in filter_sizes):
        raise ValueError(f"filter sizes must be positive, got {filter_sizes}")
    return {
        "network_depth": depth,
        "input_window_size": int(input_window_size),
        "num_filters_per_layer": [int(f) for f in _per_layer(num_filters_per_layer, depth, "num_filters")],
        "initializer_per_layer": _per_layer(initializer, depth, "initializer"),
        "filter_sizes_per_layer": filter_sizes,
        "l2_regularization_per_layer": [float(r) for r in _per_layer(l2_regularization, depth, "l2")],
        "activation_function_per_layer": _per_layer(activation, depth, "activation"),
        "strides_per_layer": [int(s) for s in _per_layer(stride, depth, "stride")],
        "dilation_rates_per_layer": [int(d) for d in _per_layer(dilation, depth, "dilation")],
    }


def default_architecture_dict() -> dict:
    """The active architecture of fit_CNN.py (§6): depth 3, filter sizes [54, 24, 24], 64 filters,
    window 400, TruncatedNormal(0.002), relu, l2 1e-8, strides 1, dilations 1."""
    filter_sizes, num_filters = ARCHITECTURE_OPTIONS["active"]
    return make_architecture_dict(list(filter_sizes), num_filters)


def _check_architecture_dict(architecture_dict: dict) -> int:
    missing = [key for key in ARCHITECTURE_KEYS if key not in architecture_dict]
    if missing:
        raise ValueError(f"architecture_dict is missing keys {missing}")
    depth = int(architecture_dict["network_depth"])
    for key in ARCHITECTURE_KEYS[2:]:
        if len(architecture_dict[key]) != depth:
            raise ValueError(
                f"architecture_dict['{key}'] has {len(architecture_dict[key])} entries, "
                f"network_depth is {depth}"
            )
    return depth


def _kernel_initializer(initializer):
    """TruncatedNormal(stddev=initializer) if numeric, else the named Keras initializer."""
    if isinstance(initializer, numbers.Number) and not isinstance(initializer, bool):
        return keras.initializers.TruncatedNormal(stddev=float(initializer))
    return initializer


def _activation(activation):
    return lrelu if activation == "lrelu" else activation


def build_tcn(
    architecture_dict: dict,
    num_segments: int = NUM_INPUT_CHANNELS,
    num_DVT_components: int = 20,
) -> keras.Model:
    """The TCN/FCN of fit_CNN.py (§6 "Model builder").

    Input ``input_layer`` of shape (W, num_segments); per layer k = 1..D a causal ``Conv1D`` named
    ``layer_k`` (activation inside the conv, TruncatedNormal kernel init, l2 kernel regulariser, zero
    bias) followed by ``BatchNormalization`` named ``layer_k_BN`` (Keras defaults); three 1×1 causal
    conv heads on the last BN output, returned in the order [``spikes``, ``somatic``, ``dendritic``].
    Compiled with Nadam(1e-4), losses [BCE, MSE, MSE], loss weights [1.0, 0.006, 0.002]; the training
    loop recompiles for every learning schedule. Under a mixed-precision Keras policy the heads are float32
    (float32 outputs and losses).
    """
    depth = _check_architecture_dict(architecture_dict)
    input_window_size = int(architecture_dict["input_window_size"])
    filter_sizes = [int(k) for k in architecture_dict["filter_sizes_per_layer"]]
    if not input_window_size > sum(filter_sizes):
        raise ValueError(
            f"input_window_size ({input_window_size}) must be larger than the sum of the filter sizes "
            f"({sum(filter_sizes)})"
        )

    inputs = keras.Input(shape=(input_window_size, num_segments), name="input_layer")
    x = inputs
    for k in range(depth):
        x = layers.Conv1D(
            filters=int(architecture_dict["num_filters_per_layer"][k]),
            kernel_size=filter_sizes[k],
            padding="causal",
            activation=_activation(architecture_dict["activation_function_per_layer"][k]),
            kernel_initializer=_kernel_initializer(architecture_dict["initializer_per_layer"][k]),
            kernel_regularizer=keras.regularizers.l2(
                float(architecture_dict["l2_regularization_per_layer"][k])),
            strides=int(architecture_dict["strides_per_layer"][k]),
            dilation_rate=int(architecture_dict["dilation_rates_per_layer"][k]),
            name=f"layer_{k + 1}",
        )(x)
        x = layers.BatchNormalization(name=f"layer_{k + 1}_BN")(x)

    head_dtype = "float32" if keras.mixed_precision.global_policy().name.startswith("mixed") else None
    spikes = layers.Conv1D(
        1, 1, padding="causal", activation="sigmoid", dtype=head_dtype,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.001),
        bias_initializer=keras.initializers.Constant(-2.0),
        kernel_regularizer=keras.regularizers.l2(1e-8), name="spikes",
    )(x)
    somatic = layers.Conv1D(
        1, 1, padding="causal", activation="linear", dtype=head_dtype,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.03),
        kernel_regularizer=keras.regularizers.l2(1e-8), name="somatic",
    )(x)
    dendritic = layers.Conv1D(
        int(num_DVT_components), 1, padding="causal", activation="linear", dtype=head_dtype,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.05),
        kernel_regularizer=keras.regularizers.l2(1e-8), name="dendritic",
    )(x)

    model = keras.Model(inputs=inputs, outputs=[spikes, somatic, dendritic])
    model.compile(
        optimizer=keras.optimizers.Nadam(learning_rate=1e-4),
        loss=["binary_crossentropy", "mean_squared_error", "mean_squared_error"],
        loss_weights=[1.0, 0.006, 0.002],
    )
    return model


def network_type_prefix(synapse_type: str, architecture_dict: dict) -> str:
    """``'<T>_FCN'`` if depth is 1 or every layer after the first has kernel 1, else ``'<T>_TCN'``."""
    filter_sizes = [int(k) for k in architecture_dict["filter_sizes_per_layer"]]
    depth = int(architecture_dict["network_depth"])
    is_fcn = depth == 1 or all(k == 1 for k in filter_sizes[1:])
    return f"{synapse_type}_{'FCN' if is_fcn else 'TCN'}"


def architecture_string(architecture_dict: dict) -> str:
    """``'DxWxT_<D>x<W>x<T>'`` with W = int(mean number of filters) and T = Σ(kernel − 1) + 1."""
    depth = int(architecture_dict["network_depth"])
    width = int(np.mean(architecture_dict["num_filters_per_layer"]))
    extent = temporal_extent(architecture_dict["filter_sizes_per_layer"])
    return f"DxWxT_{depth}x{width}x{extent}"
