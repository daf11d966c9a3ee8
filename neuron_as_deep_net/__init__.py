"""Shared code of the neuron_as_deep_net reproduction: one module per concern (see README, Layout)."""
