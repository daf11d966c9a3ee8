"""The best soma explained variance any single causal linear filter can reach on the Figure-1 I&F cell.

The Figure-1 network predicts the soma as one linear causal filter of the inputs (80-ms kernel). The I&F
cell resets after each output spike, which no linear filter of the inputs can follow, so its explained
variance has a ceiling. This fits the least-squares optimal filter (80 lags, separately for the summed
excitatory and inhibitory inputs, which is optimal here because all synapses of a kind share one weight)
on training simulations and reports its explained variance on held-out ones.

    python tools/integrate_and_fire_linear_ceiling.py                  # 150 simulations, seed 7
    python tools/integrate_and_fire_linear_ceiling.py --num-simulations 300 --random-seed 1
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from neuron_as_deep_net.integrate_and_fire import inputs  # noqa: E402
from neuron_as_deep_net.integrate_and_fire import cell as iaf  # noqa: E402


def lagged(signal_2d, num_lags):
    """(sims, T) -> (sims*T, num_lags) design matrix of causal lags."""
    padded = np.pad(signal_2d, ((0, 0), (num_lags - 1, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, num_lags, axis=1)[:, :, ::-1]
    return windows.reshape(-1, num_lags)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-simulations", type=int, default=150)
    parser.add_argument("--random-seed", type=int, default=7)
    parser.add_argument("--kernel-size-ms", type=int, default=80)
    args = parser.parse_args(argv)
    from sklearn.metrics import explained_variance_score

    rng = np.random.RandomState(args.random_seed)
    X = inputs.generate_multiple_integrate_and_fire_simulations(rng, args.num_simulations)
    soma, spikes = iaf.simulate_integrate_and_fire(X, np.r_[np.ones(80), -np.ones(20)])
    excitatory = X[..., :80].sum(-1).astype(float)
    inhibitory = X[..., 80:].sum(-1).astype(float)
    design = np.hstack([lagged(excitatory, args.kernel_size_ms), lagged(inhibitory, args.kernel_size_ms),
                        np.ones((excitatory.size, 1))])
    split = (args.num_simulations * 2 // 3) * soma.shape[1]
    target = soma.ravel().astype(float)
    coefficients = np.linalg.lstsq(design[:split], target[:split], rcond=None)[0]
    ceiling = explained_variance_score(target[split:], design[split:] @ coefficients)
    print(f"{args.num_simulations} simulations, output rate {spikes.mean() * 1000:.2f} Hz")
    print(f"best linear {args.kernel_size_ms}-ms filter: soma explained variance {100 * ceiling:.2f} % (held out)")
    return ceiling


if __name__ == "__main__":
    main()
