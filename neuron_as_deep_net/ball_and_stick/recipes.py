"""The twins' training recipes of the quick and laptop presets, written once: plain data that
``ball_and_stick_experiment.py`` and ``train_DNN_twin_of_BS_neuron.py`` (and through it
``compare_twin_architectures.py``) put in their presets. One recipe for every twin of a preset (issue 22).

No heavy imports here: the scripts read it before their parameters are parsed.
"""

#: quick (< 45 min for the whole experiment on 2 cores): every twin trains 3,000 steps of 4 x 1024 ms: AdamW peak
#: 1e-3 reached by a per-step linear warm-up from 1e-6 over 300 steps, linear decay over the last 15 of 60 epochs,
#: the tutorial's loss-weight ramp (spikes 2 -> 24, ...) over epochs 25-40 (warmup_epochs 10 places it; the rate's
#: warm-up is the per-step one), the heads' biases at the training targets' means, and each deeper conv kernel's
#: rate x min(1, 256 / fan-in) (README, ball-and-stick: how this recipe was chosen on the validation files)
QUICK_RECIPE = {"num_epochs": 60, "steps_per_epoch": 50, "batch_size": 4, "train_window_ms": 1024,
                "learning_rate": 1e-3, "warmup_epochs": 10, "cooldown_epochs": 15, "warmup_steps": 300,
                "head_bias_init": "targets", "deep_rate_fan_in": 256}

#: laptop (the assignment's dataset sizes, < 3 h): the quick recipe, loss ramp included, for 7,200 steps (144 epochs,
#: decay over the last 36); each epoch scores the first 64 validation files (all ~250 / ~450 would cost more than
#: the steps)
LAPTOP_RECIPE = dict(QUICK_RECIPE, num_epochs=144, cooldown_epochs=36, max_valid_files=64)
