"""The paper's main experiment: the Hay et al. L5PC, its datasets, the TCN surrogates, their evaluation and figures."""
