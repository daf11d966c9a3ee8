"""Reading a Keras model's weights: the first layer's kernel and the number of weights."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers


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
