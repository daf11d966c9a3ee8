"""Network builders: the TCN/FCN of ``fit_CNN.py`` and the 1-layer network of the I&F figure.

Written from ``/work/shared/spec/original_behaviour.md``:

* §6 "Architecture parameters" -> :func:`make_architecture_dict`, :func:`default_architecture_dict`,
  :data:`ARCHITECTURE_OPTIONS`.
* §6 "Model builder" -> :func:`build_tcn`.
* §6 "Model saving" (name parts) -> :func:`network_type_prefix`, :func:`architecture_string`.
* §5 "Network" -> :func:`build_integrate_and_fire_network`.

Keras 3 notes (relative to the original Keras 2.2 code):

* ``Nadam(lr=...)`` is ``Nadam(learning_rate=...)``; beta_1 0.9, beta_2 0.999 and epsilon 1e-7 match
  Keras 2.2. NOT identical: Keras 2.2 Nadam had ``schedule_decay=0.004`` and used the momentum schedule
  mu_t = beta_1 * (1 - 0.5 * 0.96 ** (0.004 * t)), whereas Keras 3 Nadam has no such argument and uses
  0.96 ** t, so its effective momentum rises to 0.9 within ~100 steps while in Keras 2.2 it stays near
  0.45-0.62 over a 2880-step schedule (the optimizer is re-created every schedule, §6). This module
  follows the brief and uses ``keras.optimizers.Nadam``; the callers recompile per schedule anyway.
* The 'lrelu' activation (Keras 2.2 ``LeakyReLU(alpha=0.25)`` passed as the conv activation) is the
  module-level function :func:`lrelu` registered as a Keras serialisable object, so models that use it
  can be saved and re-loaded (``keras.models.load_model``) once this module has been imported.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

# temporal_extent (Σ(k − 1) + 1) is defined once, in evaluation.py (§7 step 1); re-exported here.
from neuron_as_deep_net.evaluation import temporal_extent

__all__ = [
    "NUM_SEGMENTS",
    "NUM_INPUT_CHANNELS",
    "ARCHITECTURE_KEYS",
    "ARCHITECTURE_OPTIONS",
    "LRELU_NEGATIVE_SLOPE",
    "lrelu",
    "temporal_extent",
    "make_architecture_dict",
    "default_architecture_dict",
    "build_tcn",
    "network_type_prefix",
    "architecture_string",
    "build_integrate_and_fire_network",
    "first_layer_weights",
    "count_parameters",
]

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

#: Negative slope of the 'lrelu' activation (Keras 2.2 ``LeakyReLU(alpha=0.25)``).
LRELU_NEGATIVE_SLOPE = 0.25


@keras.saving.register_keras_serializable(package="neuron_as_deep_net")
def lrelu(x):
    """Leaky ReLU with negative slope 0.25: the 'lrelu' activation of §6, applied inside the conv."""
    return keras.ops.leaky_relu(x, negative_slope=LRELU_NEGATIVE_SLOPE)


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
    loop recompiles for every learning schedule.
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

    spikes = layers.Conv1D(
        1, 1, padding="causal", activation="sigmoid",
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.001),
        bias_initializer=keras.initializers.Constant(-2.0),
        kernel_regularizer=keras.regularizers.l2(1e-8), name="spikes",
    )(x)
    somatic = layers.Conv1D(
        1, 1, padding="causal", activation="linear",
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.03),
        kernel_regularizer=keras.regularizers.l2(1e-8), name="somatic",
    )(x)
    dendritic = layers.Conv1D(
        int(num_DVT_components), 1, padding="causal", activation="linear",
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


def build_integrate_and_fire_network(
    window_size: int | None = 500,
    num_synapses: int = 100,
    kernel_size: int = 80,
    learning_rate: float = 3e-4,
    jit_compile: bool | str = True,
) -> keras.Model:
    """The 1-layer network of integrate_and_fire_figure_replication.py (§5 "Network").

    ``jit_compile`` (XLA) changes only the speed of training: the 80-tap convolution trains about 1.7x
    faster on a CPU with it.

    One causal ``Conv1D`` ``layer_1`` (1 filter, kernel 80, linear, TruncatedNormal(0.25), bias 0.1,
    l2 1e-8, no batch norm), heads ``spikes`` (sigmoid, bias −2.5) and ``soma`` (linear), compiled with
    Nadam(3e-4), losses [BCE, MSE], loss weights [1.0, 0.003].

    ``window_size=None`` gives a variable-length input, so the same weights predict any duration.
    """
    inputs = keras.Input(shape=(window_size, num_synapses), name="input_layer")
    x = layers.Conv1D(
        1, kernel_size, padding="causal", activation="linear",
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.25),
        bias_initializer=keras.initializers.Constant(0.1),
        kernel_regularizer=keras.regularizers.l2(1e-8), name="layer_1",
    )(inputs)
    spikes = layers.Conv1D(
        1, 1, padding="causal", activation="sigmoid",
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.05),
        bias_initializer=keras.initializers.Constant(-2.5),
        kernel_regularizer=keras.regularizers.l2(1e-8), name="spikes",
    )(x)
    soma = layers.Conv1D(
        1, 1, padding="causal", activation="linear",
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.05),
        kernel_regularizer=keras.regularizers.l2(1e-8), name="soma",
    )(x)
    model = keras.Model(inputs=inputs, outputs=[spikes, soma])
    model.compile(
        optimizer=keras.optimizers.Nadam(learning_rate=learning_rate),
        loss=["binary_crossentropy", "mean_squared_error"],
        loss_weights=[1.0, 0.003],
        jit_compile=jit_compile,
    )
    return model


def first_layer_weights(model: keras.Model) -> np.ndarray:
    """First-layer conv kernel as an array of shape (num_filters, num_input_channels, kernel_size).

    Keras stores a ``Conv1D`` kernel as (kernel_size, in_channels, filters); this returns its
    transpose ``(2, 1, 0)``. With causal padding, kernel index ``kernel_size − 1`` multiplies the
    current time step and index 0 the input ``kernel_size − 1`` steps in the past (the figures flip
    the last axis to plot "time before prediction"). For the I&F network, ``first_layer_weights(m)[0]``
    is the (100, 80) synapse × kernel-index matrix of §5.
    """
    try:
        layer = model.get_layer("layer_1")
    except ValueError:
        layer = next(lay for lay in model.layers if isinstance(lay, layers.Conv1D))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    return np.transpose(kernel, (2, 1, 0))


def count_parameters(model: keras.Model) -> int:
    """Total number of weights, trainable and non-trainable (BN moving mean/variance included)."""
    return int(sum(int(np.prod(w.shape)) for w in model.weights))


# =========================================================================================================
# Ball-and-stick twins (ball_and_stick.md §4): the D/W/T TCN of configs A-E, its five heads, and the
# alternative backbones of the bonus (ResNet-TCN, ELM, Transformer). Input (batch, time, 16): the
# excitatory inputs of the 8 segments, then the inhibitory ones (already divided by 10).
# =========================================================================================================

BALL_AND_STICK_NUM_SEGMENTS = 8
BALL_AND_STICK_NUM_INPUTS = 2 * BALL_AND_STICK_NUM_SEGMENTS
#: config -> (D causal layers after the first, W features, T kernel) (§6 of the spec: the assignment table)
BALL_AND_STICK_TCN_CONFIGS = {"A": (1, 8, 91), "B": (2, 16, 61), "C": (4, 32, 41), "D": (7, 64, 31),
                              "E": (7, 64, 11)}
#: head name -> number of channels; spike and near-spike heads are logits with bias -2
BALL_AND_STICK_HEADS = {"spikes": 1, "soma": 1, "near_spike": 1, "inst_rate": 1, "branch_v": 8}
LOGIT_HEAD_BIAS = -2.0
LEAKY_GELU_SLOPE = 0.15
RMS_NORM_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="neuron_as_deep_net")
def leaky_gelu(x, slope=LEAKY_GELU_SLOPE):
    """LeakyGELU(x) = 0.5 GELU(x) + 0.5 LeakyReLU(x, 2*slope) (exact GELU)."""
    return 0.5 * keras.ops.gelu(x, approximate=False) + 0.5 * keras.ops.leaky_relu(x, negative_slope=2 * slope)


def rms_norm(name):
    """RMS normalisation over channels, learnable scale, no bias, eps 1e-5."""
    return layers.RMSNormalization(axis=-1, epsilon=RMS_NORM_EPSILON, name=name)


def tcn_receptive_field(depth, kernel_size, first_kernel_size=None):
    """T_first + D (T - 1) ms."""
    return (first_kernel_size or kernel_size) + depth * (kernel_size - 1)


def ball_and_stick_tcn_name(depth, width, kernel_size, first_kernel_size=None):
    """The twin TCN's model name, TCN_D_<D+1>_W_<W>_T_<receptive field> (the tutorial's naming)."""
    return f"TCN_D_{depth + 1}_W_{width}_T_{tcn_receptive_field(depth, kernel_size, first_kernel_size)}"


def torch_style_conv(filters, kernel_size, in_channels, bias=None, **kwargs):
    """A Conv1D initialised like PyTorch's default (the tutorial's twins are PyTorch modules): kernel and bias
    ~ U(+-1/sqrt(fan_in)), fan_in = kernel_size x in_channels (bias: a constant when given)."""
    limit = 1.0 / np.sqrt(kernel_size * in_channels)
    bias_initializer = (keras.initializers.Constant(bias) if bias is not None
                        else keras.initializers.RandomUniform(-limit, limit))
    return layers.Conv1D(filters, kernel_size, kernel_initializer=keras.initializers.VarianceScaling(
        1.0 / 3.0, mode="fan_in", distribution="uniform"), bias_initializer=bias_initializer, **kwargs)


def ball_and_stick_heads(x, num_segments=BALL_AND_STICK_NUM_SEGMENTS):
    """The five 1x1 heads on (batch, time, features): a dict of outputs (logits for spikes / near_spike)."""
    outputs = {}
    for name, channels in BALL_AND_STICK_HEADS.items():
        channels = num_segments if name == "branch_v" else channels
        bias = LOGIT_HEAD_BIAS if name in ("spikes", "near_spike") else None
        outputs[name] = torch_style_conv(channels, 1, x.shape[-1], bias=bias, name=name)(x)
    return outputs


def build_ball_and_stick_tcn(depth, width, kernel_size, first_kernel_size=None,
                             num_segments=BALL_AND_STICK_NUM_SEGMENTS, name=None) -> keras.Model:
    """The twin TCN (spec §4): a first causal conv spanning all segments (kernel T_first, 2*segments -> W),
    then D causal convs (kernel T, W -> W), each followed by RMSNorm and LeakyGELU; no residuals; five heads.

    The first layer is a Conv1D over the 2*segments flattened input channels, which has the same weights as
    the tutorial's (segments x T) 'valid' Conv2D (kernel (T, 2*segments, W) = (T, [exc|inh], segment, W)).
    Variable time length, so one model trains on windows and predicts whole simulations. Kernels and biases
    start as PyTorch's defaults (:func:`torch_style_conv`), as in the tutorial.
    """
    if min(depth, width, kernel_size) < 1 or depth < 0:
        raise ValueError(f"depth, width and kernel size must be positive, got D={depth} W={width} T={kernel_size}")
    first_kernel_size = int(first_kernel_size or kernel_size)
    inputs = keras.Input(shape=(None, 2 * num_segments), name="inputs")
    x = torch_style_conv(width, first_kernel_size, 2 * num_segments, padding="causal", name="layer_1")(inputs)
    x = layers.Activation(leaky_gelu, name="layer_1_act")(rms_norm("layer_1_norm")(x))
    for k in range(2, depth + 2):
        x = torch_style_conv(width, kernel_size, width, padding="causal", name=f"layer_{k}")(x)
        x = layers.Activation(leaky_gelu, name=f"layer_{k}_act")(rms_norm(f"layer_{k}_norm")(x))
    name = name or ball_and_stick_tcn_name(depth, width, kernel_size, first_kernel_size)
    return keras.Model(inputs, ball_and_stick_heads(x, num_segments), name=name)


def build_ball_and_stick_config(config, num_segments=BALL_AND_STICK_NUM_SEGMENTS) -> keras.Model:
    """The TCN of assignment config 'A'..'E' (T_first = T)."""
    if config not in BALL_AND_STICK_TCN_CONFIGS:
        raise ValueError(f"unknown TCN config {config!r}; choose from {sorted(BALL_AND_STICK_TCN_CONFIGS)}")
    depth, width, kernel_size = BALL_AND_STICK_TCN_CONFIGS[config]
    return build_ball_and_stick_tcn(depth, width, kernel_size, num_segments=num_segments)


def build_ball_and_stick_twin(model_type, config="C", num_segments=BALL_AND_STICK_NUM_SEGMENTS) -> keras.Model:
    """A twin by name: 'TCN' (config A-E), 'ResNetTCN', 'ELM' or 'Transformer' (spec §4 script defaults)."""
    builders = {"TCN": lambda: build_ball_and_stick_config(config, num_segments)}
    builders.update(ALTERNATIVE_TWIN_BUILDERS)
    if model_type not in builders:
        raise ValueError(f"unknown twin model type {model_type!r}; choose from {sorted(builders)}")
    if model_type == "TCN":
        return builders["TCN"]()
    return builders[model_type](num_segments=num_segments)


def twin_run_name(model_name, model_type, config=None):
    """The run folder of a trained twin: <model name>__TCN_<config>, or <model name>__<type>_<type> for the others."""
    return f"{model_name}__{model_type}_{config if model_type == 'TCN' else model_type}"


ALTERNATIVE_TWIN_BUILDERS = {}  # filled below: 'ResNetTCN', 'ELM', 'Transformer'


# ---- alternative twins (bonus b; spec §4 "Other twin backbones", script defaults)

def build_ball_and_stick_resnet_tcn(num_segments=BALL_AND_STICK_NUM_SEGMENTS, width=48, first_kernel_size=9,
                                    kernel_size=9, num_blocks=15, name="ResNetTCN_D_31_W_48_T_249") -> keras.Model:
    """The TCN first layer, then residual mini-blocks of two causal convs (each RMSNorm + LeakyGELU) whose
    output is added to a 1x1-conv shortcut of the block input. Depth 1 + 2*blocks; receptive field 249 ms."""
    inputs = keras.Input(shape=(None, 2 * num_segments), name="inputs")
    x = torch_style_conv(width, first_kernel_size, 2 * num_segments, padding="causal", name="layer_1")(inputs)
    x = layers.Activation(leaky_gelu, name="layer_1_act")(rms_norm("layer_1_norm")(x))
    for block in range(num_blocks):
        y = x
        for k in range(2):
            y = torch_style_conv(width, kernel_size, width, padding="causal", name=f"block_{block}_conv_{k}")(y)
            y = layers.Activation(leaky_gelu, name=f"block_{block}_act_{k}")(rms_norm(f"block_{block}_norm_{k}")(y))
        x = layers.Add(name=f"block_{block}_add")([y, torch_style_conv(width, 1, width,
                                                                       name=f"block_{block}_shortcut")(x)])
    return keras.Model(inputs, ball_and_stick_heads(x, num_segments), name=name)


@keras.saving.register_keras_serializable(package="neuron_as_deep_net")
class ELMCell(layers.Layer):
    """One step of the Expressive Leaky Memory neuron (Spieler et al. 2023) as the spec describes it.

    s_t = exp(-1/3) s_{t-1} + w_s * x_t;  kappa = exp(-1 / tau_m), tau_m = 2 + 38 * sigmoid(p) ms (initialised
    log-spaced over 2..40 ms); delta = LeakyTanh(MLP(RMSNorm([s_t, kappa m_{t-1}])));
    m_t = kappa m_{t-1} + 2 (1 - kappa) delta. LeakyTanh(x) = tanh(x) + 0.2 x (our reading of "LeakyTanh(0.2)").
    """

    def __init__(self, num_inputs=16, num_memory=64, num_hidden=128, trace_tau_ms=3.0, tau_range_ms=(2.0, 40.0),
                 slope=0.2, **kwargs):
        super().__init__(**kwargs)
        self.num_inputs, self.num_memory, self.num_hidden = num_inputs, num_memory, num_hidden
        self.trace_tau_ms, self.tau_range_ms, self.slope = trace_tau_ms, tuple(tau_range_ms), slope
        self.state_size = [num_inputs, num_memory]
        self.output_size = num_memory

    def build(self, input_shape):
        init = keras.initializers.RandomNormal(stddev=0.02)
        low, high = self.tau_range_ms
        taus = np.clip(np.geomspace(low, high, self.num_memory), low + 1e-3 * (high - low), high - 1e-3 * (high - low))
        fraction = (taus - low) / (high - low)
        self.trace_weight = self.add_weight(shape=(self.num_inputs,), initializer=keras.initializers.Constant(0.5),
                                            name="trace_weight")
        self.tau_logit = self.add_weight(shape=(self.num_memory,), name="tau_logit",
                                         initializer=keras.initializers.Constant(np.log(fraction / (1 - fraction))))
        self.norm_scale = self.add_weight(shape=(self.num_inputs + self.num_memory,), initializer="ones",
                                          name="norm_scale")
        self.hidden_kernel = self.add_weight(shape=(self.num_inputs + self.num_memory, self.num_hidden),
                                             initializer=init, name="hidden_kernel")
        self.hidden_bias = self.add_weight(shape=(self.num_hidden,), initializer="zeros", name="hidden_bias")
        self.out_kernel = self.add_weight(shape=(self.num_hidden, self.num_memory), initializer=init, name="out_kernel")
        self.out_bias = self.add_weight(shape=(self.num_memory,), initializer="zeros", name="out_bias")

    def call(self, x, states):
        ops = keras.ops
        traces, memory = states[0], states[1]
        traces = float(np.exp(-1.0 / self.trace_tau_ms)) * traces + self.trace_weight * x
        low, high = self.tau_range_ms
        kappa = ops.exp(-1.0 / (low + (high - low) * ops.sigmoid(self.tau_logit)))
        features = ops.concatenate([traces, kappa * memory], axis=-1)
        features = features * ops.rsqrt(ops.mean(features * features, axis=-1, keepdims=True) + RMS_NORM_EPSILON)
        hidden = leaky_gelu(ops.matmul(features * self.norm_scale, self.hidden_kernel) + self.hidden_bias, self.slope)
        delta = ops.matmul(hidden, self.out_kernel) + self.out_bias
        delta = ops.tanh(delta) + self.slope * delta
        memory = kappa * memory + 2.0 * (1.0 - kappa) * delta
        return memory, [traces, memory]

    def get_config(self):
        return {**super().get_config(), "num_inputs": self.num_inputs, "num_memory": self.num_memory,
                "num_hidden": self.num_hidden, "trace_tau_ms": self.trace_tau_ms, "tau_range_ms": self.tau_range_ms,
                "slope": self.slope}


def build_ball_and_stick_elm(num_segments=BALL_AND_STICK_NUM_SEGMENTS, num_memory=64, num_hidden=128,
                             name="ELM_M_64_H_128") -> keras.Model:
    """The ELM twin: an ELM recurrence over the 16 inputs (1 ms steps), the five heads on its memory units."""
    inputs = keras.Input(shape=(None, 2 * num_segments), name="inputs")
    cell = ELMCell(2 * num_segments, num_memory, num_hidden, name="elm_cell")
    memory = layers.RNN(cell, return_sequences=True, name="elm")(inputs)
    return keras.Model(inputs, ball_and_stick_heads(memory, num_segments), name=name)


@keras.saving.register_keras_serializable(package="neuron_as_deep_net")
class SlidingWindowAttention(layers.Layer):
    """Causal multi-head self-attention over the last ``window`` steps (the current one included), with RoPE
    and bias-free Q/K/V/O projections, computed in blocks of ``block`` steps: each block of queries attends to
    its own and the previous block's keys, masked to the window (needs window <= block)."""

    def __init__(self, num_heads=6, head_dim=8, window=48, block=64, rope_base=10000.0, **kwargs):
        super().__init__(**kwargs)
        if window > block:
            raise ValueError(f"the attention window ({window}) must not exceed the block size ({block})")
        self.num_heads, self.head_dim, self.window, self.block, self.rope_base = num_heads, head_dim, window, block, rope_base

    def build(self, input_shape):
        init = keras.initializers.RandomNormal(stddev=0.02)
        features = int(input_shape[-1])
        inner = self.num_heads * self.head_dim
        self.qkv = self.add_weight(shape=(features, 3 * inner), initializer=init, name="qkv")
        self.out = self.add_weight(shape=(inner, features), initializer=init, name="out")
        query = np.arange(self.block)[:, None] + self.block  # positions within [previous block | this block]
        key = np.arange(2 * self.block)[None, :]
        self.band = ((query - key >= 0) & (query - key < self.window)).astype("float32")  # (block, 2 block)

    def rope(self, x, positions):
        ops = keras.ops
        half = self.head_dim // 2
        inverse_frequency = 1.0 / (self.rope_base ** (np.arange(half, dtype="float32") / half))
        angles = ops.cast(positions, "float32")[:, None] * inverse_frequency[None, :]  # (T, half)
        cos, sin = ops.cos(angles)[None, :, None, :], ops.sin(angles)[None, :, None, :]
        x1, x2 = x[..., :half], x[..., half:]
        return ops.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)

    def call(self, x):
        ops = keras.ops
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        num_blocks = (length + self.block - 1) // self.block
        padded = num_blocks * self.block
        x = ops.pad(x, [[0, 0], [0, padded - length], [0, 0]])
        q, k, v = ops.split(ops.matmul(x, self.qkv), 3, axis=-1)
        heads = lambda t: ops.reshape(t, (batch, padded, self.num_heads, self.head_dim))  # noqa: E731
        positions = ops.arange(padded)
        q, k, v = self.rope(heads(q), positions), self.rope(heads(k), positions), heads(v)
        blocks = lambda t: ops.reshape(t, (batch, num_blocks, self.block, self.num_heads, self.head_dim))  # noqa: E731
        q, k, v = blocks(q), blocks(k), blocks(v)
        previous = lambda t: ops.pad(t, [[0, 0], [1, 0], [0, 0], [0, 0], [0, 0]])[:, :-1]  # noqa: E731
        k2 = ops.concatenate([previous(k), k], axis=2)  # (B, nb, 2 block, H, d)
        v2 = ops.concatenate([previous(v), v], axis=2)
        scores = ops.einsum("bnqhd,bnkhd->bnhqk", q, k2) / float(np.sqrt(self.head_dim))
        # keys of the block before block 0 do not exist; the band masks the rest
        first_block = ops.cast(ops.arange(num_blocks) == 0, "float32")[:, None, None, None]
        exists = 1.0 - first_block * ops.cast(ops.arange(2 * self.block) < self.block, "float32")[None, None, None, :]
        mask = ops.convert_to_tensor(self.band)[None, None, None] * exists[None]
        scores = ops.where(mask > 0, scores, -1e9)
        attention = ops.softmax(scores, axis=-1)
        y = ops.einsum("bnhqk,bnkhd->bnqhd", attention, v2)
        y = ops.reshape(y, (batch, padded, self.num_heads * self.head_dim))[:, :length]
        return ops.matmul(y, self.out)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "head_dim": self.head_dim, "window": self.window,
                "block": self.block, "rope_base": self.rope_base}


def build_ball_and_stick_transformer(num_segments=BALL_AND_STICK_NUM_SEGMENTS, width=48, num_blocks=5, num_heads=6,
                                     window=48, ffn_hidden=144, name="Transformer_L_5_W_48_T_235") -> keras.Model:
    """16 -> 48 (kernel 1) + RMSNorm + LeakyGELU(0.2); pre-norm blocks of sliding-window attention and a SwiGLU
    feed-forward (bias-free, N(0, 0.02) init); final RMSNorm; the five heads. Receptive field 1 + 5 x 47 ms."""
    init = keras.initializers.RandomNormal(stddev=0.02)
    inputs = keras.Input(shape=(None, 2 * num_segments), name="inputs")
    x = layers.Conv1D(width, 1, kernel_initializer=init, name="layer_1")(inputs)
    x = layers.Activation(lambda t: leaky_gelu(t, 0.2), name="layer_1_act")(rms_norm("layer_1_norm")(x))
    for block in range(num_blocks):
        y = SlidingWindowAttention(num_heads, width // num_heads, window, name=f"block_{block}_attention")(
            rms_norm(f"block_{block}_norm_attention")(x))
        x = layers.Add(name=f"block_{block}_add_attention")([x, y])
        y = rms_norm(f"block_{block}_norm_ffn")(x)
        gate = layers.Dense(ffn_hidden, use_bias=False, kernel_initializer=init, name=f"block_{block}_ffn_gate")(y)
        up = layers.Dense(ffn_hidden, use_bias=False, kernel_initializer=init, name=f"block_{block}_ffn_up")(y)
        y = layers.Dense(width, use_bias=False, kernel_initializer=init, name=f"block_{block}_ffn_down")(
            layers.Multiply(name=f"block_{block}_swiglu")([layers.Activation("silu")(gate), up]))
        x = layers.Add(name=f"block_{block}_add_ffn")([x, y])
    x = rms_norm("final_norm")(x)
    return keras.Model(inputs, ball_and_stick_heads(x, num_segments), name=name)


ALTERNATIVE_TWIN_BUILDERS.update({"ResNetTCN": build_ball_and_stick_resnet_tcn, "ELM": build_ball_and_stick_elm,
                                  "Transformer": build_ball_and_stick_transformer})
