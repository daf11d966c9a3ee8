"""Ball-and-stick twins by name (ball_and_stick.md §4): the TCN of :mod:`.networks` and the alternative
backbones of the bonus (ResNet-TCN, ELM cell, Transformer).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from .networks import (BALL_AND_STICK_NUM_SEGMENTS, RMS_NORM_EPSILON, ball_and_stick_heads, build_ball_and_stick_config,
                       leaky_gelu, rms_norm, torch_style_conv)


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
