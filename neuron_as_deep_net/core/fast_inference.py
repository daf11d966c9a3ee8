"""Fast CPU inference for trained TCN/FCN models: a sparse first layer and FFT convolutions for the rest.

A dense Keras pass of the 7x128 TCN over a 6-s simulation spends most of its time in the first layer,
convolving 1278 inputs that are ~1 % active. Here the first layer is computed from the input spikes only,
and the 128-channel layers after it by overlap-save FFT convolution (or direct GEMMs for short kernels).
The outputs equal the Keras model's up to float32 rounding (tests/test_fast_inference.py checks < 1e-4).

What the network computes is §6 "Model builder" of /work/shared/spec/original_behaviour.md: a chain of
causal ``Conv1D`` layers (activation inside the conv), each optionally followed by ``BatchNormalization``,
and 1x1 heads reading the last output. The evaluation windows are §7.

* **First layer** (sparse). For input spikes (time s, channel c) of one simulation, the pre-activation is
  ``bias + sum_spikes kernel[k, c, :]`` placed at time ``s + (K-1-k)*dilation`` (causal). It is computed as
  ``sum_k shift_k(X_csr @ kernel[k])``: one compressed-sparse-row matrix of all simulations (row
  n*(T+span)+t; ``span`` empty rows after each simulation absorb the shifts), multiplied by each lag's
  (C, F) kernel slice and accumulated with the lag's row shift directly into the output (scipy's CSR x
  dense kernel, which releases the GIL; simulations, or filters for a single one, are split over threads).
  Work: spikes x K x F additions instead of T x C x K x F. The remaining layers work time-major.
* **BatchNorm folding**. Inference BN is ``a*s + o`` with ``s = gamma/sqrt(var+eps)``, ``o = beta -
  mean*s``. ``s`` is folded into the next layer's kernel rows and ``o`` into its bias; because Keras pads
  the *BN output* with zeros at the start of the sequence (causal padding), the first (K-1)*dilation time
  steps get an exact correction term. The heads (1x1) absorb the last BN the same way.
* **Remaining layers** (dense). ``fft``: overlap-save with block size B (default the power of two >=
  8*(receptive field of the layer)), real FFTs by ``scipy.fft`` (multi-threaded), and the per-frequency
  channel mixing as one batched real GEMM (complex numbers interleaved) in TensorFlow. ``direct``: one
  im2col GEMM per layer. ``auto`` uses ``fft`` for kernels of at least :data:`FFT_MIN_KERNEL_SIZE` taps.

Two entry points mirror the two ways evaluation can run:

* :func:`predict_full_length` -- the exact causal full-length pass over whole simulations (what a Keras
  model with input length ``None`` computes);
* :func:`fast_predict_fn` -- a ``predict_fn`` for :func:`neuron_as_deep_net.core.windows.overlapped_inference`,
  computing each (zero-padded) window independently, exactly like ``keras_predict_fn`` of the same model,
  so the original's overlapped evaluation (§7) is kept.

The two agree wherever the overlap is at least the receptive field minus one, which §7's rule
(overlap >= T+1) guarantees unless the 250-ms cap binds (T > 249); the first window starts at t = 0 in both.

Models: any such chain (:func:`neuron_as_deep_net.l5pc.networks.build_tcn`,
:func:`neuron_as_deep_net.integrate_and_fire.network.build_integrate_and_fire_network`), in memory or loaded
from a file (L5PC files, Keras-2 ``.h5`` included: :func:`neuron_as_deep_net.l5pc.model_files.load_model`).
The arrays and the kernels it runs are in :mod:`.fast_layers`. This module imports no experiment.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft

from .fast_layers import (FFT_BLOCK_FACTOR, FFT_MIN_BLOCK, FFT_MIN_KERNEL_SIZE, PARALLEL_MIN_ELEMENTS, CausalNetwork,
                          _apply_activation, _csr_padded_rows, _FFTPlan, _no_pool, _producer, _sparse_matmul_accumulate,
                          default_num_threads, extract_network)


class FastTCN:
    """Fast inference of a causal conv chain with 1x1 heads (see the module docstring).

    ``model`` is a Keras model, a :class:`CausalNetwork`, or a path, read with ``loader(path)`` (default
    :func:`load_keras_model`; an L5PC file that may be a legacy Keras-2 ``.h5``:
    ``loader=neuron_as_deep_net.l5pc.model_files.load_model``). ``dense_method`` is 'auto' | 'fft' |
    'direct' for the layers after the first; ``fft_block`` forces the FFT size (a power of two is fastest);
    ``num_threads`` defaults to the available cores.
    """

    def __init__(self, model, dense_method: str = "auto", fft_block: int | None = None,
                 num_threads: int | None = None, loader=None):
        if isinstance(model, (str, os.PathLike)):
            model = (loader or load_keras_model)(model)
        network = model if isinstance(model, CausalNetwork) else extract_network(model)
        if dense_method not in ("auto", "fft", "direct"):
            raise ValueError(f"dense_method must be 'auto', 'fft' or 'direct', got {dense_method!r}")
        self.network = network
        self.dense_method = dense_method
        self.fft_block = fft_block
        self.num_threads = int(num_threads or default_num_threads())
        self.output_names = [head.name for head in network.heads]
        self._fold()
        self._fft_plans: dict[tuple[int, int], _FFTPlan] = {}
        self._pool = None  # a thread pool while predict() runs
        #: wall seconds spent per stage, summed over calls (reset it to profile one call)
        self.stage_seconds: dict[str, float] = {}

    # ---- preparation
    def _fold(self) -> None:
        """Fold every BatchNormalization into the following layer (kernel rows, bias and start correction)."""
        convs = self.network.convs
        self._kernels, self._biases, self._corrections = [], [], []
        scale = offset = None
        for conv in convs:
            kernel = conv.kernel.astype(np.float64)
            bias = conv.bias.astype(np.float64)
            correction = None
            if scale is not None:
                # input z = a*scale + offset on real time steps, 0 on the causal padding
                bias = bias + np.einsum("kcf,c->f", kernel, offset)
                offset_terms = np.einsum("kcf,c->kf", kernel, offset)  # (K, F) per-lag contribution
                span, dilation, size = conv.span, conv.dilation, conv.kernel_size
                if span > 0:
                    # at output time t < span, lags with (K-1-k)*dilation > t read the padding: remove them
                    lag_delay = (size - 1 - np.arange(size)) * dilation  # (K,)
                    times = np.arange(span)
                    reads_padding = lag_delay[None, :] > times[:, None]  # (span, K)
                    correction = (reads_padding.astype(np.float64) @ offset_terms).astype(np.float32)
                kernel = kernel * scale[None, :, None]
            self._kernels.append(kernel.astype(np.float32))
            self._biases.append(bias.astype(np.float32))
            self._corrections.append(correction)
            scale, offset = conv.bn_scale, conv.bn_offset
        head_kernel = np.concatenate([head.kernel for head in self.network.heads], axis=1).astype(np.float64)
        head_bias = np.concatenate([head.bias for head in self.network.heads]).astype(np.float64)
        if scale is not None:
            head_bias = head_bias + offset @ head_kernel
            head_kernel = head_kernel * scale[:, None]
        self._head_kernel = head_kernel.astype(np.float32)
        self._head_bias = head_bias.astype(np.float32)
        self._head_splits = np.cumsum([head.kernel.shape[1] for head in self.network.heads])[:-1]

    def _method(self, index: int) -> str:
        conv = self.network.convs[index]
        if conv.kernel_size == 1:
            return "direct"
        if self.dense_method == "auto":
            return "fft" if conv.kernel_size >= FFT_MIN_KERNEL_SIZE else "direct"
        return self.dense_method

    def _block_size(self, index: int, num_times: int) -> int:
        span = self.network.convs[index].span
        if self.fft_block is not None:
            if self.fft_block <= span:
                raise ValueError(f"fft_block ({self.fft_block}) must exceed the layer's span ({span})")
            return int(self.fft_block)
        block = 1 << int(np.ceil(np.log2(max(FFT_MIN_BLOCK, FFT_BLOCK_FACTOR * (span + 1)))))
        whole = 1 << int(np.ceil(np.log2(num_times + span)))  # one block covers the whole sequence
        return max(min(block, whole), 1 << int(np.ceil(np.log2(span + 2))))

    def _fft_plan(self, index: int, block: int) -> _FFTPlan:
        key = (index, block)
        if key not in self._fft_plans:
            import tensorflow as tf

            conv = self.network.convs[index]
            kernel = self._kernels[index]
            num_in, num_out = kernel.shape[1:]
            impulse = np.zeros((block, num_in, num_out), np.float64)
            impulse[(conv.kernel_size - 1 - np.arange(conv.kernel_size)) * conv.dilation] = kernel
            spectrum = scipy.fft.rfft(impulse, axis=0)  # (bins, C_in, C_out)
            interleaved = np.empty((spectrum.shape[0], num_in, 2, num_out, 2), np.float32)
            interleaved[:, :, 0, :, 0] = spectrum.real
            interleaved[:, :, 0, :, 1] = spectrum.imag
            interleaved[:, :, 1, :, 0] = -spectrum.imag
            interleaved[:, :, 1, :, 1] = spectrum.real
            self._fft_plans[key] = _FFTPlan(
                block=block, hop=block - conv.span,
                spectrum=tf.constant(interleaved.reshape(spectrum.shape[0], 2 * num_in, 2 * num_out)))
        return self._fft_plans[key]

    def _rows_needed(self, index: int, num_times: int) -> int:
        """Rows of the zero-padded time-major input buffer that layer ``index`` reads."""
        span = self.network.convs[index].span
        if self._method(index) == "fft":
            hop = self._block_size(index, num_times) - span
            return span + -(-num_times // hop) * hop
        return span + num_times

    # ---- the layers
    def _first_layer(self, X):
        """Sparse first layer: pre-activation (bias included) as a time-major (T, N, F) view."""
        conv = self.network.convs[0]
        kernel, bias = self._kernels[0], self._biases[0]
        num_sims, num_times, num_channels = X.shape
        num_filters = kernel.shape[2]
        span = conv.span
        stride = num_times + span  # rows per simulation, the last ``span`` ones empty
        indptr, indices, data = _csr_padded_rows(X, span)
        out = np.empty((num_sims * stride + span, num_filters), np.float32)
        out[:] = bias
        lag_weights = [np.ascontiguousarray(kernel[k]) for k in range(conv.kernel_size)]

        def run(sim_lo, sim_hi, f_lo, f_hi):
            """Accumulate sims [sim_lo, sim_hi) x filters [f_lo, f_hi) into ``out`` (disjoint per task)."""
            row_lo, row_hi = sim_lo * stride, sim_hi * stride
            width = f_hi - f_lo
            target = out if width == num_filters else np.zeros((row_hi - row_lo + span, width), np.float32)
            base = 0 if width == num_filters else row_lo
            flat = target.reshape(-1)
            for k in range(conv.kernel_size):
                shift = (conv.kernel_size - 1 - k) * conv.dilation
                weights = lag_weights[k]
                if width != num_filters:
                    weights = np.ascontiguousarray(weights[:, f_lo:f_hi])
                lo = (row_lo - base + shift) * width
                _sparse_matmul_accumulate(row_hi - row_lo, num_channels, indptr[row_lo:row_hi + 1], indices,
                                          data, weights, flat[lo:lo + (row_hi - row_lo) * width])
            if width != num_filters:
                out[row_lo:row_hi, f_lo:f_hi] += target[:row_hi - row_lo]

        # split the work over threads: by simulations (no overlap: the padding rows absorb the shifts),
        # or by filters when there are fewer simulations than threads
        num_tasks = min(self.num_threads, max(num_sims, 1))
        if num_tasks >= 2:
            sim_bounds = np.linspace(0, num_sims, num_tasks + 1).astype(int)
            tasks = [(sim_bounds[j], sim_bounds[j + 1], 0, num_filters) for j in range(num_tasks)]
        elif self.num_threads >= 2 and num_filters >= 2:
            f_bounds = np.linspace(0, num_filters, min(self.num_threads, num_filters) + 1).astype(int)
            tasks = [(0, num_sims, f_bounds[j], f_bounds[j + 1]) for j in range(len(f_bounds) - 1)]
        else:
            tasks = [(0, num_sims, 0, num_filters)]
        if len(tasks) == 1:
            run(*tasks[0])
        elif self._pool is not None:
            for future in [self._pool.submit(run, *task) for task in tasks]:
                future.result()
        else:
            with ThreadPoolExecutor(len(tasks)) as pool:
                for future in [pool.submit(run, *task) for task in tasks]:
                    future.result()
        per_sim = out[:num_sims * stride].reshape(num_sims, stride, num_filters)
        return per_sim[:, :num_times].transpose(1, 0, 2)

    def _dense_layer(self, index, xp, num_times):
        """Pre-activation of layer ``index`` from its zero-padded time-major input ``xp`` (rows, N, C).

        Returns an array whose first ``num_times`` rows along time are valid, shaped (nb, L, N, F) for FFT
        (time = b*L + l) or (T, N, F) for direct.
        """
        import tensorflow as tf

        conv = self.network.convs[index]
        kernel, bias, correction = self._kernels[index], self._biases[index], self._corrections[index]
        _, num_sims, num_in = xp.shape
        num_out = kernel.shape[2]
        span = conv.span
        if self._method(index) == "direct":
            if conv.kernel_size == 1:
                columns = xp[:num_times].reshape(num_times * num_sims, num_in)
            else:
                row_stride, sim_stride, channel_stride = xp.strides
                view = np.lib.stride_tricks.as_strided(
                    xp, shape=(num_times, num_sims, conv.kernel_size, num_in),
                    strides=(row_stride, sim_stride, conv.dilation * row_stride, channel_stride),
                    writeable=False)
                columns = view.reshape(num_times * num_sims, conv.kernel_size * num_in)
            y = tf.linalg.matmul(columns, kernel.reshape(-1, num_out)).numpy()
            y = y.reshape(num_times, num_sims, num_out)
            y += bias
            if correction is not None:
                y[:span] -= correction[:, None, :]
            return y

        plan = self._fft_plan(index, self._block_size(index, num_times))
        block, hop = plan.block, plan.hop
        num_blocks = -(-num_times // hop)
        row_stride = xp.strides[0]
        # overlapping (B, nb, N, C) view: block b holds rows b*L .. b*L+B-1
        blocks = np.lib.stride_tricks.as_strided(
            xp, shape=(block, num_blocks, num_sims, num_in),
            strides=(row_stride, hop * row_stride, *xp.strides[1:]), writeable=False)
        spectrum = scipy.fft.rfft(blocks, axis=0, workers=self.num_threads)  # (bins, nb, N, C)
        num_bins = spectrum.shape[0]
        interleaved = spectrum.view(np.float32).reshape(num_bins, num_blocks * num_sims, 2 * num_in)
        mixed = tf.linalg.matmul(interleaved, plan.spectrum).numpy()
        mixed = mixed.view(np.complex64).reshape(num_bins, num_blocks, num_sims, num_out)
        mixed[0].real += np.float32(block) * bias  # the bias, added to every block's DC bin
        y = scipy.fft.irfft(mixed, n=block, axis=0, workers=self.num_threads, overwrite_x=True)[span:]
        y = y.transpose(1, 0, 2, 3)  # (nb, L, N, F): time = b*L + l
        if correction is not None:
            for b in range(-(-span // hop)):
                lo, hi = b * hop, min(span, (b + 1) * hop)
                y[b, :hi - lo] -= correction[lo:hi, None, :]
        return y

    # ---- forward pass
    def _forward(self, X):
        """Outputs of the heads for a batch X (N, T, C): list of float32 (N, T, channels)."""
        num_sims, num_times, num_channels = X.shape
        if num_channels != self.network.input_channels:
            raise ValueError(f"the model expects {self.network.input_channels} input channels, "
                             f"got {num_channels}")
        convs = self.network.convs
        num_layers = len(convs)

        def new_buffer(next_index, num_features):
            """Zeroed input buffer of layer ``next_index`` (or of the heads), and its first data row."""
            if next_index == num_layers:
                return np.zeros((num_times, num_sims, num_features), np.float32), 0
            rows = self._rows_needed(next_index, num_times)
            return np.zeros((rows, num_sims, num_features), np.float32), convs[next_index].span

        clock = time.perf_counter()
        # layer 1 (sparse) -> activation -> next buffer (time-major)
        buffer, start = new_buffer(1, self._kernels[0].shape[2])
        pre_activation = self._first_layer(X)
        clock = self._add_time("first layer (sparse)", clock)
        self._activate(convs[0], pre_activation, buffer[start:start + num_times])
        clock = self._add_time("activations", clock)

        for index in range(1, num_layers):
            y = self._dense_layer(index, buffer, num_times)
            clock = self._add_time(f"layers 2-{num_layers} ({self.dense_method})", clock)
            next_buffer, next_start = new_buffer(index + 1, self._kernels[index].shape[2])
            if y.ndim == 4:  # (nb, L, N, F)
                num_blocks, hop = y.shape[:2]
                full = num_times // hop
                if full:
                    dst = next_buffer[next_start:next_start + full * hop].reshape(full, hop, num_sims, -1)
                    self._activate(convs[index], y[:full], dst)
                rest = num_times - full * hop
                if rest:
                    self._activate(convs[index], y[full, :rest],
                                   next_buffer[next_start + full * hop:next_start + num_times])
            else:
                self._activate(convs[index], y, next_buffer[next_start:next_start + num_times])
            buffer = next_buffer
            clock = self._add_time("activations", clock)

        # heads: one GEMM for all of them
        import tensorflow as tf

        features = buffer.reshape(num_times * num_sims, -1)
        logits = tf.linalg.matmul(features, self._head_kernel).numpy() + self._head_bias
        logits = logits.reshape(num_times, num_sims, -1).transpose(1, 0, 2)
        outputs = []
        for head, part in zip(self.network.heads, np.split(logits, self._head_splits, axis=2)):
            result = np.empty(part.shape, np.float32)
            self._activate(head, part, result)
            outputs.append(result)
        self._add_time("heads", clock)
        return outputs

    def _activate(self, conv_or_head, src, dst) -> None:
        """dst[...] = activation(src), split over threads along the first axis when it is large."""
        chunks = self.num_threads if (self._pool is not None and src.shape[0] >= self.num_threads
                                      and src.size >= PARALLEL_MIN_ELEMENTS) else 1
        if chunks == 1:
            _apply_activation(conv_or_head.activation, conv_or_head.activation_fn, src, dst)
            return
        bounds = np.linspace(0, src.shape[0], chunks + 1).astype(int)
        futures = [self._pool.submit(_apply_activation, conv_or_head.activation, conv_or_head.activation_fn,
                                     src[lo:hi], dst[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
        for future in futures:
            future.result()

    def _add_time(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + now - since
        return now

    def predict(self, X, batch_size: int = 8) -> list[np.ndarray]:
        """Head outputs for X (N, T, C) (bool or float; each row an independent causal sequence starting
        from zero history), in the model's output order, each float32 (N, T, channels)."""
        X = np.asarray(X)
        if X.ndim != 3:
            raise ValueError(f"X must have shape (simulations, time, channels), got {X.shape}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        with ThreadPoolExecutor(self.num_threads) if self.num_threads > 1 else _no_pool() as pool:
            self._pool = pool
            try:
                pieces = [self._forward(X[lo:lo + batch_size]) for lo in range(0, X.shape[0], batch_size)]
            finally:
                self._pool = None
        return [np.concatenate([piece[k] for piece in pieces], axis=0)
                for k in range(len(self.network.heads))]

    def predict_fn(self, batch_size: int = 32):
        """A ``predict_fn`` for :func:`neuron_as_deep_net.core.windows.overlapped_inference`."""
        def predict_fn(x):
            return self.predict(x, batch_size=batch_size)
        return predict_fn


def load_keras_model(path):
    """``keras.models.load_model(path, compile=False)`` with the 'lrelu' activation registered."""
    import keras

    from . import activations  # noqa: F401  (registers 'lrelu')

    return keras.models.load_model(os.fspath(path), compile=False)


def _as_fast(model, **options) -> FastTCN:
    return model if isinstance(model, FastTCN) else FastTCN(model, **options)


def predict_full_length(model, X, batch_size: int = 8, **options) -> list[np.ndarray]:
    """Exact causal full-length pass of ``model`` over whole simulations X (N, T, C).

    Equals a Keras model with input length ``None`` and the same weights (see :func:`variable_length_model`).
    Not the same as the original's overlapped windows (§7), which restart every window from zero history;
    use :func:`fast_predict_fn` with ``overlapped_inference`` for that. ``options`` go to :class:`FastTCN`.
    Returns float32 (N, T, channels) arrays in the model's output order ([spikes, somatic, dendritic]).
    """
    return _as_fast(model, **options).predict(X, batch_size=batch_size)


def fast_predict_fn(model, batch_size: int = 32, **options):
    """``predict_fn`` for ``windows.overlapped_inference``: windows (n, W, C) -> [spikes, soma, ...].

    A drop-in replacement for ``windows.keras_predict_fn(model)`` with the same outputs (each window
    computed independently with zero causal padding, like the Keras model). ``options`` go to
    :class:`FastTCN`; ``model`` may be a Keras model, a path or a :class:`FastTCN`.
    """
    return _as_fast(model, **options).predict_fn(batch_size=batch_size)


# ----------------------------------------------------------------------------------------------------------
# Helpers for comparisons and benchmarks
# ----------------------------------------------------------------------------------------------------------

def variable_length_model(model):
    """The same network with input length ``None`` (any duration) and the same weights.

    This is the dense Keras reference for :func:`predict_full_length`.
    """
    import keras

    from . import activations  # noqa: F401  (registers 'lrelu')

    num_channels = model.inputs[0].shape[-1]
    inputs = keras.Input(shape=(None, num_channels), name=model.inputs[0].name.split(":")[0])
    clone = keras.models.clone_model(model, input_tensors=inputs)
    clone.set_weights(model.get_weights())
    return clone


def randomize_model_weights(model, seed: int = 0, spike_logit_mean: float = -2.0):
    """Give an (untrained) model random weights with O(1) activations, in place; returns the model.

    He-scaled kernels (std sqrt(2/(K*C_in)), with C_in counted at 1 % density for the spiking input), biases
    N(0, 0.1), random BN statistics (gamma 0.5-1.5, beta +-0.2, moving mean +-0.3, moving variance 0.5-2)
    and heads with std 1.5/sqrt(C_in), whose spike logits spread around ``spike_logit_mean``. Untrained
    §6 models (TruncatedNormal 0.002, fresh BN) give almost constant outputs, which would make an
    equality test trivial; these do not.
    """
    import keras
    from keras import layers

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.Conv1D):
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            size, num_in, num_out = kernel.shape
            if size == 1 and layer.name in ("spikes", "somatic", "dendritic", "soma"):
                std = 1.5 / np.sqrt(num_in)
                bias = np.full(num_out, spike_logit_mean if layer.name == "spikes" else 0.0)
            else:
                std = np.sqrt(2.0 / (size * num_in * max(1e-3, _input_density(layer, model))))
                bias = rng.normal(0.0, 0.1, num_out)
            new = [rng.normal(0.0, std, kernel.shape)]
            if layer.use_bias:
                new.append(bias)
            layer.set_weights([w.astype(np.float32) for w in new])
        elif isinstance(layer, layers.BatchNormalization):
            num = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, num), rng.uniform(-0.2, 0.2, num),
                               rng.uniform(-0.3, 0.3, num), rng.uniform(0.5, 2.0, num)])
    return model


def _input_density(layer, model) -> float:
    """Assumed fraction of non-zero inputs: ~1 % for the model's (spiking) input, 1 otherwise."""
    from keras import layers

    return 0.01 if isinstance(_producer(layer), layers.InputLayer) else 1.0
