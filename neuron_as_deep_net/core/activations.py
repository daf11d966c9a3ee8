"""The 'lrelu' activation of §6 (Keras 2.2 ``LeakyReLU(alpha=0.25)`` passed as the conv activation).

:func:`lrelu` is registered as a Keras serialisable object, so models that use it can be saved and re-loaded
(``keras.models.load_model``) once this module has been imported.
"""

from __future__ import annotations

import keras


#: Negative slope of the 'lrelu' activation (Keras 2.2 ``LeakyReLU(alpha=0.25)``).
LRELU_NEGATIVE_SLOPE = 0.25


@keras.saving.register_keras_serializable(package="neuron_as_deep_net")
def lrelu(x):
    """Leaky ReLU with negative slope 0.25: the 'lrelu' activation of §6, applied inside the conv."""
    return keras.ops.leaky_relu(x, negative_slope=LRELU_NEGATIVE_SLOPE)
