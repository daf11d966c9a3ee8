"""Cell models: the L5PC (NEURON), the integrate-and-fire point neuron, the ball-and-stick cells."""
