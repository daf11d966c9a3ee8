"""The ball-and-stick teaching experiment: the cells, their datasets, the twins (TCN A-E and others) and figures."""
