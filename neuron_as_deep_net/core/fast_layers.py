"""The pieces of the fast inference path (:mod:`.fast_inference`): a causal conv network as plain arrays,
its element-wise activations and the sparse-matrix kernel of the first layer.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np
import scipy.special


#: Kernels with at least this many taps use FFT convolution under ``dense_method='auto'``.
FFT_MIN_KERNEL_SIZE = 8
#: The FFT block is at least this many times the layer's receptive field (rounded up to a power of two).
FFT_BLOCK_FACTOR = 8
#: Smallest FFT block.
FFT_MIN_BLOCK = 64
#: Element-wise work on arrays at least this large is split over threads.
PARALLEL_MIN_ELEMENTS = 1 << 16
#: Activations computed here with numpy; any other Keras activation is called through ``keras.ops``.
NUMPY_ACTIVATIONS = ("linear", "relu", "lrelu", "leaky_relu", "sigmoid", "tanh", "elu", "softplus",
                     "exponential")


@contextlib.contextmanager
def _no_pool():
    yield None


def default_num_threads() -> int:
    """CPU cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ----------------------------------------------------------------------------------------------------------
# The network as plain arrays
# ----------------------------------------------------------------------------------------------------------

@dataclass
class CausalConv:
    """One causal conv layer (stride 1) with its activation and the BatchNormalization after it (if any)."""

    kernel: np.ndarray  # (K, C_in, C_out), Keras layout: kernel[K-1] multiplies the current time step
    bias: np.ndarray  # (C_out,)
    dilation: int = 1
    activation: str = "linear"
    activation_fn: object = None  # the Keras callable, used for activations not in NUMPY_ACTIVATIONS
    bn_scale: np.ndarray | None = None  # gamma / sqrt(moving_variance + eps)
    bn_offset: np.ndarray | None = None  # beta - moving_mean * bn_scale

    @property
    def kernel_size(self) -> int:
        return int(self.kernel.shape[0])

    @property
    def span(self) -> int:
        """How far back the layer reads: (K-1)*dilation time steps."""
        return (self.kernel_size - 1) * self.dilation


@dataclass
class Head:
    """A 1x1 output conv (``spikes``, ``somatic``, ``dendritic``, ...)."""

    name: str
    kernel: np.ndarray  # (C_in, C_out)
    bias: np.ndarray  # (C_out,)
    activation: str = "linear"
    activation_fn: object = None


@dataclass
class CausalNetwork:
    """Chain of causal convs followed by 1x1 heads, in the model's output order."""

    convs: list[CausalConv]
    heads: list[Head]
    input_channels: int = field(init=False)

    def __post_init__(self):
        if not self.convs:
            raise ValueError("the network has no convolution layer")
        self.input_channels = int(self.convs[0].kernel.shape[1])

    @property
    def temporal_extent(self) -> int:
        """Receptive field in time steps: sum((K-1)*dilation) + 1 (§7 step 1)."""
        return int(sum(conv.span for conv in self.convs) + 1)


def _activation_name(fn) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return "lrelu" if name in ("<lambda>", "LeakyReLU") else name


def _bn_affine(layer):
    """(scale, offset) of an inference-mode Keras BatchNormalization layer on the last axis."""
    import keras

    axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
    if axis not in (-1, 2):
        raise ValueError(f"{layer.name}: only BatchNormalization over the channel axis is supported")
    mean = keras.ops.convert_to_numpy(layer.moving_mean).astype(np.float64)
    var = keras.ops.convert_to_numpy(layer.moving_variance).astype(np.float64)
    gamma = keras.ops.convert_to_numpy(layer.gamma).astype(np.float64) if layer.scale else np.ones_like(mean)
    beta = keras.ops.convert_to_numpy(layer.beta).astype(np.float64) if layer.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + float(layer.epsilon))
    return scale, beta - mean * scale


def _conv_arrays(layer):
    import keras

    kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float32)
    if layer.use_bias:
        bias = keras.ops.convert_to_numpy(layer.bias).astype(np.float32)
    else:
        bias = np.zeros(kernel.shape[-1], np.float32)
    return kernel, bias


def _producer(layer):
    """The layer whose output ``layer`` reads (single-input layers only)."""
    tensor = layer.input
    if isinstance(tensor, (list, tuple)):
        raise ValueError(f"{layer.name}: layers with several inputs are not supported")
    return tensor._keras_history[0]


def extract_network(model) -> CausalNetwork:
    """Read the conv/BN chain and the 1x1 heads of a functional Keras model (§6 layout) into arrays.

    Supported: a chain of ``Conv1D`` (stride 1, causal padding unless the kernel is 1, any dilation, any
    activation) each optionally followed by ``BatchNormalization``, and ``Conv1D`` heads with kernel 1 on
    the chain's last output. Anything else raises ``ValueError``.
    """
    from keras import layers

    output_layers = [tensor._keras_history[0] for tensor in model.outputs]
    chain = [layer for layer in model.layers
             if not isinstance(layer, layers.InputLayer) and not any(layer is head for head in output_layers)]
    convs: list[CausalConv] = []
    previous = None
    for layer in chain:
        source = _producer(layer)
        if previous is not None and source is not previous:
            raise ValueError(f"{layer.name} does not read the previous layer's output: only plain chains "
                             f"of Conv1D/BatchNormalization are supported")
        if previous is None and not isinstance(source, layers.InputLayer):
            raise ValueError(f"{layer.name} is the first layer but does not read the model input")
        if isinstance(layer, layers.Conv1D):
            if tuple(layer.strides) != (1,):
                raise ValueError(f"{layer.name}: strides {layer.strides} are not supported (only 1)")
            if getattr(layer, "groups", 1) != 1:
                raise ValueError(f"{layer.name}: grouped convolutions are not supported")
            if layer.padding != "causal" and layer.kernel_size[0] != 1:
                raise ValueError(f"{layer.name}: padding {layer.padding!r} is not causal")
            kernel, bias = _conv_arrays(layer)
            convs.append(CausalConv(kernel=kernel, bias=bias, dilation=int(layer.dilation_rate[0]),
                                    activation=_activation_name(layer.activation),
                                    activation_fn=layer.activation))
        elif isinstance(layer, layers.BatchNormalization):
            if not isinstance(previous, layers.Conv1D):
                raise ValueError(f"{layer.name}: BatchNormalization must directly follow a Conv1D layer")
            convs[-1].bn_scale, convs[-1].bn_offset = _bn_affine(layer)
        else:
            raise ValueError(f"{layer.name}: layer type {type(layer).__name__} is not supported")
        previous = layer

    heads = []
    for layer in output_layers:
        if not isinstance(layer, layers.Conv1D) or layer.kernel_size[0] != 1:
            raise ValueError(f"output {layer.name}: heads must be Conv1D layers with kernel size 1")
        if _producer(layer) is not previous:
            raise ValueError(f"output {layer.name} does not read the last layer of the conv chain")
        kernel, bias = _conv_arrays(layer)
        heads.append(Head(name=layer.name, kernel=kernel[0], bias=bias,
                          activation=_activation_name(layer.activation), activation_fn=layer.activation))
    return CausalNetwork(convs=convs, heads=heads)


# ----------------------------------------------------------------------------------------------------------
# Element-wise activations
# ----------------------------------------------------------------------------------------------------------

def _apply_activation(name, fn, src, dst) -> None:
    """dst[...] = activation(src); ``dst`` may be a strided view and may be ``src`` itself."""
    if name == "linear":
        if src is not dst:
            np.copyto(dst, src)
    elif name == "relu":
        np.maximum(src, 0.0, out=dst)
    elif name in ("lrelu", "leaky_relu"):
        from .activations import LRELU_NEGATIVE_SLOPE

        slope = LRELU_NEGATIVE_SLOPE if name == "lrelu" else 0.2  # keras.activations.leaky_relu default
        if src is dst:
            np.maximum(src, src * np.float32(slope), out=dst)
        else:
            np.multiply(src, np.float32(slope), out=dst)
            np.maximum(dst, src, out=dst)
    elif name == "sigmoid":
        scipy.special.expit(src, out=dst)
    elif name == "tanh":
        np.tanh(src, out=dst)
    elif name == "elu":
        dst[...] = np.where(src > 0, src, np.expm1(np.minimum(src, 0)))
    elif name == "softplus":
        np.logaddexp(src, np.float32(0.0), out=dst)
    elif name == "exponential":
        np.exp(src, out=dst)
    else:
        import keras

        if fn is None:
            raise ValueError(f"activation {name!r} has no numpy implementation and no Keras callable")
        dst[...] = keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(np.ascontiguousarray(src))))


# ----------------------------------------------------------------------------------------------------------
# Layer implementations
# ----------------------------------------------------------------------------------------------------------

def _csr_padded_rows(X, pad_rows: int):
    """CSR arrays of X (N, T, C) as a (N*(T+pad_rows), C) matrix: sim n, time t is row n*(T+pad_rows)+t.

    The ``pad_rows`` empty rows after every simulation absorb the causal shifts of the first layer, so
    shifted accumulation never crosses into the next simulation. Returns (indptr, indices, data) with
    int32 indices when they fit (int64 otherwise) and float32 data.
    """
    num_sims, num_times, num_channels = X.shape
    flat = np.flatnonzero(X)
    data = np.ones(flat.size, np.float32) if X.dtype == np.bool_ else X.reshape(-1)[flat].astype(np.float32)
    rows, cols = np.divmod(flat, num_channels)
    rows += (rows // num_times) * pad_rows
    num_rows = num_sims * (num_times + pad_rows)
    index_dtype = np.int32 if max(num_rows, num_channels, cols.size) < 2**31 - 1 else np.int64
    indptr = np.zeros(num_rows + 1, index_dtype)
    np.cumsum(np.bincount(rows, minlength=num_rows), out=indptr[1:])
    return indptr, cols.astype(index_dtype), data


try:  # the CSR x dense kernel that accumulates into its output (releases the GIL)
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - scipy moved it; fall back to the public product
    _csr_matvecs = None


def _sparse_matmul_accumulate(num_rows, num_cols, indptr, indices, data, dense, out_flat_view) -> None:
    """out += CSR(num_rows x num_cols) @ dense (num_cols x F); ``out_flat_view`` is a 1-D view of length
    num_rows*F."""
    num_vecs = dense.shape[1]
    if _csr_matvecs is not None:
        _csr_matvecs(num_rows, num_cols, num_vecs, indptr, indices, data, dense.reshape(-1), out_flat_view)
    else:  # pragma: no cover
        import scipy.sparse

        matrix = scipy.sparse.csr_matrix((data, indices, indptr), shape=(num_rows, num_cols))
        out_flat_view += np.asarray(matrix @ dense).reshape(-1)


@dataclass
class _FFTPlan:
    block: int  # FFT size B
    hop: int  # outputs per block L = B - span
    spectrum: object  # TF tensor (B/2+1, 2*C_in, 2*C_out): the folded kernel's spectrum, complex interleaved
