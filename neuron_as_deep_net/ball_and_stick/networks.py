"""The ball-and-stick twin TCN (ball_and_stick.md §4): configs A-E, its five heads and the pieces the other twins
(:mod:`.twins`) reuse.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers


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
