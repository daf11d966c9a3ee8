"""Why the deep ball-and-stick TCNs sit on a constant-output plateau: what the first training steps do.

For each causal conv layer of a twin it prints, on one fixed batch of training windows, the mean over time
of the pre-normalisation activations (averaged in magnitude over batch and channels) and their standard
deviation over time, once at initialisation and once after a few training steps (the quick preset's
optimiser and loss weights). On the quick AMPA data, config C after 5 steps at 2e-3: the time-mean of
layers 2-5 grows from about 0.2 to 2.2-2.9 while their deviation over time stays about 0.3, so after RMS
normalisation the last features are nearly constant in time (temporal std 0.49 -> 0.014), and so is every
head's output (README, ball-and-stick).

    python tools/ball_and_stick_plateau_probe.py --data-dir OUT/data --cell AMPA_point --config C --steps 5
    python tools/ball_and_stick_plateau_probe.py --data-dir OUT/data --config C --steps 5,50,200 --warmup-steps 200

--steps takes a comma list of step counts (statistics after each); --warmup-steps N adds the per-step linear
warm-up from --warmup-start-factor x the rate (issue 22).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def layer_statistics(model, x):
    """[(layer, |time-mean|, temporal std)] of every conv layer's pre-norm output, and the last features' std."""
    import keras

    conv_layers = [layer.name for layer in model.layers if layer.name.startswith("layer_") and
                   layer.name.split("_")[-1].isdigit()]
    outputs = keras.Model(model.inputs, [model.get_layer(name).output for name in conv_layers] +
                          [model.get_layer(f"{conv_layers[-1]}_act").output])(x)
    rows = [(name, float(np.abs(np.mean(z, axis=1)).mean()), float(np.std(z, axis=1).mean()))
            for name, z in zip(conv_layers, map(np.asarray, outputs[:-1]))]
    return rows, float(np.std(np.asarray(outputs[-1]), axis=1).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="the experiment's dataset root (OUT/data)")
    parser.add_argument("--cell", default="AMPA_point")
    parser.add_argument("--config", default="C")
    parser.add_argument("--steps", default="5", help="step counts to report after, comma-separated")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--warmup-steps", type=int, default=0)
    parser.add_argument("--warmup-start-factor", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--window-ms", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import keras

    from neuron_as_deep_net.ball_and_stick import dataset as bs_dataset, networks, training

    keras.utils.set_random_seed(args.seed)
    train = bs_dataset.load_split(bs_dataset.find_dataset_folder(args.data_dir, args.cell),
                                              "train")
    model = networks.build_ball_and_stick_config(args.config)
    checkpoints = sorted(int(n) for n in str(args.steps).split(","))
    training.compile_ball_and_stick_model(model, args.learning_rate, steps_per_epoch=checkpoints[-1],
                                          warmup_steps=args.warmup_steps, warmup_start_factor=args.warmup_start_factor)
    x, _ = training.scale_ball_and_stick_batch(
        training.random_windows(train, np.random.default_rng(args.seed + 1), args.batch_size, args.window_ms))
    before, features_before = layer_statistics(model, x)
    dataset = training.ball_and_stick_window_dataset(train, args.batch_size, args.window_ms, args.seed,
                                                     train["branch_v"].shape[-1])
    snapshots = {}

    class Snapshot(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 in checkpoints:
                snapshots[batch + 1] = layer_statistics(self.model, x)

    model.fit(dataset, epochs=1, steps_per_epoch=checkpoints[-1], verbose=0, callbacks=[Snapshot()])
    warmup = f", warm-up {args.warmup_steps} steps from x{args.warmup_start_factor:g}" if args.warmup_steps else ""
    for steps in checkpoints:
        after, features_after = snapshots[steps]
        print(f"{args.cell} config {args.config}: pre-norm activations at init -> after {steps} steps "
              f"(learning rate {args.learning_rate:g}{warmup})")
        print(f"{'layer':>9} {'|time-mean|':>22} {'temporal std':>22}")
        for (name, mean_0, std_0), (_, mean_1, std_1) in zip(before, after):
            print(f"{name:>9} {mean_0:9.3f} -> {mean_1:8.3f} {std_0:9.3f} -> {std_1:8.3f}")
        print(f"last normalised features, temporal std: {features_before:.3f} -> {features_after:.3f}")
    return before, after


if __name__ == "__main__":
    main()
