"""Figure 1: the integrate-and-fire neuron, its inputs, the 1-layer network, its training and figure."""
