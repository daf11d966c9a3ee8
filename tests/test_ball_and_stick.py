"""The ball-and-stick experiment (ball_and_stick.md): cells, synapses, inputs, dataset layout, pruning, twins."""

import gc
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from neuron_as_deep_net.ball_and_stick import dataset as bsd
from neuron_as_deep_net.ball_and_stick import inputs
from neuron_as_deep_net.ball_and_stick import cell as bs
from neuron_as_deep_net.core import parallel
from neuron_as_deep_net.core.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------------------
# geometry and names (no NEURON)
# ---------------------------------------------------------------------------------------------------------

def test_space_constants_and_sites_match_spec():
    assert bs.space_constant_um(1.0) == pytest.approx(577.35, abs=0.01)
    assert bs.space_constant_um(4.0) == pytest.approx(1154.70, abs=0.01)
    assert 2048 / bs.space_constant_um(1.0) == pytest.approx(3.547, abs=0.001)
    assert 128 / bs.space_constant_um(4.0) == pytest.approx(0.111, abs=0.001)
    assert 256 / bs.space_constant_um(1.0) == pytest.approx(0.4434, abs=1e-4)
    assert 16 / bs.space_constant_um(4.0) == pytest.approx(0.0139, abs=1e-4)
    np.testing.assert_allclose(bs.segment_centres_um(2048), np.arange(128, 2048, 256))
    np.testing.assert_allclose(bs.segment_centres_um(128), np.arange(8, 128, 16))


def test_short_names_and_presets():
    assert bs.cell_short_name(2048, 1.0) == "BallAndStickNeuron_Soma_Hay2011_Dend_Lxd_2048um_x_1_0um_8segs"
    assert bs.cell_short_name(128, 4.0) == "BallAndStickNeuron_Soma_Hay2011_Dend_Lxd_128um_x_4_0um_8segs"
    assert bs.EXCITATORY_PRESETS["NMDA_human"] == {"gmax_AMPA": 0.0004, "gmax_NMDA": 0.0008, "gamma": 0.08}
    assert bs.EXCITATORY_PRESETS["NMDA_rodent"] == {"gmax_AMPA": 0.0004, "gmax_NMDA": 0.0004, "gamma": 0.062}
    assert bs.EXCITATORY_PRESETS["AMPA"]["gmax_NMDA"] == 0.0
    assert bs.cell_parameters("NMDA_cable")["excitatory_preset"] == "NMDA_human"
    assert bs.cell_parameters("NMDA_cable", excitatory_preset="NMDA_rodent")["excitatory_preset"] == "NMDA_rodent"
    with pytest.raises(ValueError, match="unknown ball-and-stick cell"):
        bs.cell_parameters("L5PC")
    assert bsd.parameters_file_prefix(bs.cell_parameters("NMDA_cable")) == "large_regular_spiking_NMDA"
    assert bsd.parameters_file_prefix(bs.cell_parameters("AMPA_point")) == "small_regular_spiking_AMPA"


def test_saved_targets_from_traces():
    num_ms = 200
    soma = np.full(num_ms * bs.SAMPLES_PER_MS + 1, -80.0)
    soma[50 * 40 + 7] = 20.0  # a spike peak in bin 50
    soma[120 * 40] = -64.0  # above cap - 5 mV, no spike
    soma[150 * 40] = -50.0  # above the cap: saved as -62 mV
    branch = np.full((8, soma.size), 3.0)
    targets = bs.saved_targets(soma, branch, num_ms)
    assert np.flatnonzero(targets["output_spikes"]).tolist() == [50]
    near = np.flatnonzero(targets["output_near_spikes"]).tolist()
    assert near == list(range(50, 60)) + [120, 150]  # causal: the spike bin and the 9 following
    assert targets["output_soma_v"].max() == pytest.approx(-62.0) and targets["output_soma_v"].dtype == np.float32
    assert targets["intermidiate_branch_v"].max() == 0.0 and targets["intermidiate_branch_v"].dtype == np.float16
    rate = targets["output_inst_rate"]
    assert rate[:40].max() == pytest.approx(0.0, abs=1e-12)  # causal boxcar (the Gaussian reaches 10 ms back)
    assert rate.sum() == pytest.approx(1.0, abs=1e-3)  # one spike -> integral 1 (spikes/ms x ms)


# ---------------------------------------------------------------------------------------------------------
# input generator
# ---------------------------------------------------------------------------------------------------------

def test_chunk_ranges_within_spec_bounds():
    rng = np.random.default_rng(0)
    for _ in range(200):
        ranges = inputs.draw_ball_and_stick_chunk_ranges(rng)
        for name, (low, high) in inputs.BALL_AND_STICK_RANGE_BOUNDS.items():
            assert low[0] <= ranges[name][0] <= low[1] and high[0] <= ranges[name][1] <= high[1]


def test_generator_statistics():
    rng = np.random.default_rng(1)
    exc_rates, inh_rates = [], []
    for k in range(60):
        ranges = inputs.draw_ball_and_stick_chunk_ranges(rng)
        x = inputs.generate_ball_and_stick_inputs(rng, ranges)
        assert x.shape == (8, 8192, 2) and x.dtype == np.float16 and x.min() >= 0
        exc_rates.append((x[..., 0] > 0).mean() * 1000)
        inh_rates.append((x[..., 1] > 0).mean() * 1000)
    exc_rates, inh_rates = np.array(exc_rates), np.array(inh_rates)
    # spec: about 20-80 Hz excitatory and 10-70 Hz inhibitory events per segment (modulation aside)
    assert 15 < np.median(exc_rates) < 80 and 5 < np.median(inh_rates) < 70
    assert exc_rates.min() > 8 and exc_rates.max() < 120


def test_modulation_intervals():
    rng = np.random.default_rng(3)
    modulated = 0
    for _ in range(200):
        gains = inputs.modulation_gain(rng, 8, 8192)
        if not np.all(gains == 1):
            modulated += 1
            segments_hit = (gains != 1).any(axis=2)
            assert segments_hit.any()
    assert 0.3 < modulated / 200 < 0.5  # probability 0.4
    # a single interval: one factor from the list on a 1..7-segment subset over a 16..255-ms span
    rng = np.random.default_rng(5)
    mask = inputs.random_segment_mask(rng, 8, 1000)
    assert mask.sum(axis=1).min() >= 1 and mask.sum(axis=1).max() <= 7


# ---------------------------------------------------------------------------------------------------------
# dataset layout, pruning, plan
# ---------------------------------------------------------------------------------------------------------

def fake_simulation(rng, num_ms=300, rate_hz=5.0):
    spikes = rng.uniform(size=num_ms) < rate_hz / 1000
    soma = (-76 + 4 * rng.standard_normal(num_ms)).astype(np.float32)
    return {"inputs": rng.uniform(0, 5, (8, num_ms, 2)).astype(np.float16), "output_spikes": spikes,
            "output_soma_v": np.minimum(soma, -62).astype(np.float32),
            "output_near_spikes": bs.near_spike_indicator(spikes, soma),
            "output_inst_rate": bs.instantaneous_rate(spikes).astype(np.float32),
            "intermidiate_branch_v": (-70 + 5 * rng.standard_normal((8, num_ms))).astype(np.float16)}


def test_dataset_layout_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    sims = [fake_simulation(rng) for _ in range(3)]
    for index, sim in zip((0, 5, 7), sims):
        bsd.write_simulation(str(tmp_path), "train", index, sim)
    assert sorted(os.listdir(tmp_path / "train")) == sorted(bsd.SUBFOLDERS)
    assert (tmp_path / "train" / "inputs" / "sim_0000005.npy").is_file()
    loaded = np.load(tmp_path / "train" / "intermidiate_branch_v" / "sim_0000007.npy")
    assert loaded.shape == (8, 300) and loaded.dtype == np.float16
    arrays = bsd.load_split(str(tmp_path), "train")
    assert arrays["indices"].tolist() == [0, 5, 7]
    assert arrays["inputs"].shape == (3, 300, 16) and arrays["branch_v"].shape == (3, 300, 8)
    np.testing.assert_array_equal(arrays["inputs"][1, :, :8], sims[1]["inputs"][..., 0].T)  # exc of the 8 segments
    np.testing.assert_array_equal(arrays["inputs"][1, :, 8:], sims[1]["inputs"][..., 1].T)  # then inh
    np.testing.assert_array_equal(arrays["spikes"][2], sims[2]["output_spikes"])
    with pytest.raises(ValueError, match="expected"):
        bsd.write_simulation(str(tmp_path), "train", 9, dict(sims[0], output_soma_v=sims[0]["output_soma_v"][:10]))
    with pytest.raises(ValueError, match="no complete simulations"):
        bsd.load_split(str(tmp_path), "test")
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_pruning_removes_out_of_range_simulations(tmp_path):
    rng = np.random.default_rng(1)
    good = fake_simulation(rng, num_ms=2000, rate_hz=8.0)
    silent = dict(good, output_spikes=np.zeros(2000, bool), output_inst_rate=np.zeros(2000, np.float32))
    stats = bsd.simulation_statistics(good)
    assert bsd.failed_statistics(stats) == [], stats
    assert "firing_rate_hz" in bsd.failed_statistics(bsd.simulation_statistics(silent))
    for index, sim in enumerate((good, silent, good)):
        bsd.write_simulation(str(tmp_path), "valid", index, sim)
    removed = bsd.prune_split(str(tmp_path), "valid")
    assert list(removed) == [1] and "inst_rate_std_hz" in removed[1]
    assert bsd.simulation_indices(str(tmp_path), "valid") == [0, 2]
    assert not (tmp_path / "valid" / "output_soma_v" / "sim_0000001.npy").exists()


def test_repeat_plan_split_12_1_1():
    plan = bsd.repeat_plan(first_repeat=2, num_repeats=2)
    splits = [entry[2] for entry in plan]
    assert splits.count("train") == 48 and splits.count("valid") == 4 and splits.count("test") == 4
    train_indices = [entry[3] for entry in plan if entry[2] == "train"]
    assert train_indices == list(range(48, 96))
    assert [entry[3] for entry in plan if entry[2] == "test"] == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="at least 12"):
        bsd.repeat_plan(0, 1, train_per_repeat=6)


# ---------------------------------------------------------------------------------------------------------
# schedules and twins (Keras)
# ---------------------------------------------------------------------------------------------------------

def test_learning_rate_and_loss_weight_schedules():
    from neuron_as_deep_net.ball_and_stick import training

    factors = [training.learning_rate_factor(e, 100, 10, 25) for e in range(100)]
    assert factors[0] == pytest.approx(0.001) and factors[9] == pytest.approx(0.6)
    assert factors[10] == factors[74] == 1.0
    assert factors[75] == pytest.approx(0.5) and factors[99] == pytest.approx(0.0005)
    # spec: 0.07 at logged epoch 27, 0.47 at 33, 1.0 from 41 (indices 26, 32, 40)
    assert training.loss_weight_fraction(25, 10) == 0.0
    assert training.loss_weight_fraction(26, 10) == pytest.approx(0.067, abs=1e-3)
    assert training.loss_weight_fraction(32, 10) == pytest.approx(0.467, abs=1e-3)
    assert training.loss_weight_fraction(40, 10) == 1.0


def test_per_step_warmup_schedule():
    from keras import ops

    from neuron_as_deep_net.ball_and_stick import training

    # 1000 steps (20 epochs of 50), per-step warm-up over 100 steps from 0.001 x 1e-3, cool-down over the last 4 epochs
    schedule = training.EpochLearningRate(1e-3, 50, 20, 0, 4, warmup_steps=100, warmup_start_factor=0.001)
    rate = {step: float(ops.convert_to_numpy(schedule(step))) for step in (0, 1, 50, 99, 100, 500, 799, 800, 999)}
    assert rate[0] == pytest.approx(1e-6) and rate[1] == pytest.approx(1e-3 * (0.001 + 0.999 / 100))
    assert rate[50] == pytest.approx(1e-3 * (0.001 + 0.999 * 0.5)) and rate[99] < rate[100] == pytest.approx(1e-3)
    assert rate[500] == rate[799] == pytest.approx(1e-3)
    assert rate[800] == pytest.approx(5e-4) and rate[999] == pytest.approx(5e-7)
    # the per-step warm-up replaces the per-epoch one (warm-up epochs then only place the loss-weight ramp)
    with_epochs = training.EpochLearningRate(1e-3, 50, 20, 5, 4, warmup_steps=100)
    assert float(ops.convert_to_numpy(with_epochs(150))) == pytest.approx(1e-3)
    # default: unchanged per-epoch schedule
    assert float(ops.convert_to_numpy(training.EpochLearningRate(1e-3, 50, 20, 5, 4)(0))) == pytest.approx(1e-6)


def test_quick_recipe_ramps_the_loss_weights_while_the_rate_warms_up_per_step():
    from keras import ops

    from neuron_as_deep_net.ball_and_stick import networks, recipes, training

    r = recipes.QUICK_RECIPE
    model = networks.build_ball_and_stick_config("A")
    losses = training.compile_ball_and_stick_model(
        model, r["learning_rate"], steps_per_epoch=r["steps_per_epoch"], num_epochs=r["num_epochs"],
        warmup_epochs=r["warmup_epochs"], cooldown_epochs=r["cooldown_epochs"], warmup_steps=r["warmup_steps"])
    optimizer = model.optimizer

    def rate_at(step):  # the compiled optimizer's own rate at that step
        optimizer.iterations.assign(step)
        return float(ops.convert_to_numpy(optimizer.learning_rate))

    def weights(step):
        return {name: float(ops.convert_to_numpy(loss.weight_at(step))) for name, loss in losses.items()}

    # the initial weights (spec: spikes 2, soma 0.7, branch 6) through epoch 25, the final ones (24, 0.15, 0.6) from 40
    assert weights(0) == weights(25 * 50) == pytest.approx(
        {"spikes": 2.0, "soma": 0.7, "near_spike": 1.8, "inst_rate": 3.0, "branch_v": 6.0})
    assert weights(32 * 50)["spikes"] == pytest.approx(2.0 + 22.0 * 7 / 15, rel=1e-5)
    assert weights(40 * 50) == weights(2999) == pytest.approx(
        {"spikes": 24.0, "soma": 0.15, "near_spike": 0.25, "inst_rate": 3.0, "branch_v": 0.6})
    # the rate: per-step warm-up from 1e-6 over 300 steps, no per-epoch warm-up, decay over the last 15 epochs
    rate = {step: rate_at(step) for step in (0, 150, 300, 1000, 2249, 2250, 2999)}
    assert rate[0] == pytest.approx(1e-6) and rate[150] == pytest.approx(1e-3 * (0.001 + 0.999 * 0.5))
    assert rate[300] == rate[1000] == rate[2249] == pytest.approx(1e-3)
    assert rate[2250] == pytest.approx(5e-4) and rate[2999] == pytest.approx(5e-7)


def test_deep_kernel_rates_scale_with_fan_in():
    import keras

    from neuron_as_deep_net.ball_and_stick import networks, training

    model = networks.build_ball_and_stick_config("D")  # first layer 31 x 16, then 7 layers of 31 taps x 64 channels
    factors = training.deep_kernel_rate_factors(model, 256)
    assert sorted(factors) == [f"layer_{k}/kernel" for k in range(2, 9)]
    assert all(factor == pytest.approx(256 / (31 * 64)) for factor in factors.values())
    assert training.deep_kernel_rate_factors(model, 10 ** 6)["layer_2/kernel"] == 1.0  # never above the rate
    # Adam's first step moves every weight by ~ its rate: 1e-3 for layer_1 and the heads, 1e-3 x 256/1984 deeper
    training.compile_ball_and_stick_model(model, 1e-3, weight_decay=0.0, deep_rate_fan_in=256)
    before = {v.path: keras.ops.convert_to_numpy(v) for v in model.trainable_variables}
    rng = np.random.default_rng(0)
    x = (rng.random((2, 300, 16)) < 0.05).astype("float32")
    y = {"spikes": (rng.random((2, 300, 1)) < 0.02).astype("float32"), "soma": rng.normal(size=(2, 300, 1)),
         "near_spike": np.zeros((2, 300, 1), "float32"), "inst_rate": np.zeros((2, 300, 1), "float32"),
         "branch_v": rng.normal(size=(2, 300, 8))}
    model.train_on_batch(x, y)
    step = {v.path: np.median(np.abs(keras.ops.convert_to_numpy(v) - before[v.path])) for v in model.trainable_variables}
    assert step["layer_1/kernel"] == pytest.approx(1e-3, rel=0.05)
    assert step["soma/kernel"] == pytest.approx(1e-3, rel=0.05)
    assert step["layer_5/kernel"] == pytest.approx(1e-3 * 256 / 1984, rel=0.05)


def test_target_scaling_round_trip():
    from neuron_as_deep_net.ball_and_stick import training

    rng = np.random.default_rng(0)
    sim = fake_simulation(rng)
    batch = {"inputs": sim["inputs"].transpose(1, 2, 0).reshape(1, 300, 16), "spikes": sim["output_spikes"][None],
             "soma_v": sim["output_soma_v"][None], "near_spike": sim["output_near_spikes"][None],
             "inst_rate": sim["output_inst_rate"][None], "branch_v": sim["intermidiate_branch_v"].T[None]}
    x, targets = training.scale_ball_and_stick_batch(batch)
    assert x.max() <= 0.5 + 1e-3
    outputs = {name: targets[name] for name in ("soma", "inst_rate", "branch_v")}
    outputs.update(spikes=np.zeros((1, 300, 1)), near_spike=np.zeros((1, 300, 1)))
    back = training.unscale_ball_and_stick_outputs(outputs)
    np.testing.assert_allclose(back["soma"][0], np.clip(sim["output_soma_v"], -90, -57), atol=1e-4)
    np.testing.assert_allclose(back["inst_rate"][0], sim["output_inst_rate"], atol=1e-6)
    np.testing.assert_allclose(back["branch_v"][0], sim["intermidiate_branch_v"].T.astype(float), atol=1e-2)


def test_head_biases_start_at_the_training_targets_means():
    from neuron_as_deep_net.ball_and_stick import networks, training

    rng = np.random.default_rng(1)
    num_sims, num_ms = 70, 200  # more than one chunk of 64 simulations
    arrays = {"inputs": np.zeros((num_sims, num_ms, 16), np.float16),
              "spikes": rng.random((num_sims, num_ms)) < 0.01, "near_spike": rng.random((num_sims, num_ms)) < 0.1,
              "soma_v": rng.uniform(-80.0, -60.0, (num_sims, num_ms)).astype(np.float32),
              "inst_rate": rng.uniform(0.0, 0.02, (num_sims, num_ms)).astype(np.float32),
              "branch_v": rng.uniform(-80.0, -20.0, (num_sims, num_ms, 8)).astype(np.float16)}
    model = networks.build_ball_and_stick_config("A")
    assert model.get_layer("spikes").get_weights()[1][0] == pytest.approx(networks.LOGIT_HEAD_BIAS)  # the tutorial's
    biases = training.init_head_biases(model, arrays)
    rate = arrays["spikes"].mean()
    assert model.get_layer("spikes").get_weights()[1][0] == pytest.approx(np.log(rate / (1 - rate)), abs=1e-5)
    assert biases["spikes"][0] == pytest.approx(np.log(rate / (1 - rate)))
    soma = (np.clip(arrays["soma_v"], -90, -57) + 85.0) / 11.5
    assert model.get_layer("soma").get_weights()[1][0] == pytest.approx(soma.mean(), rel=1e-5)
    branch = (arrays["branch_v"].astype(np.float64) + 85.0) / 42.5
    np.testing.assert_allclose(model.get_layer("branch_v").get_weights()[1], branch.mean(axis=(0, 1)), rtol=1e-4)
    assert model.get_layer("inst_rate").get_weights()[1][0] == pytest.approx(10 * arrays["inst_rate"].mean(), rel=1e-5)


def test_xla_trains_the_same_twin_and_is_used_when_asked():
    import keras

    from neuron_as_deep_net.ball_and_stick import networks, training

    rng = np.random.default_rng(2)
    num_sims, num_ms = 6, 700
    arrays = {"inputs": (rng.random((num_sims, num_ms, 16)) < 0.05).astype(np.float16) * 10,
              "spikes": rng.random((num_sims, num_ms)) < 0.01, "near_spike": rng.random((num_sims, num_ms)) < 0.1,
              "soma_v": rng.uniform(-80.0, -60.0, (num_sims, num_ms)).astype(np.float32),
              "inst_rate": rng.uniform(0.0, 0.02, (num_sims, num_ms)).astype(np.float32),
              "branch_v": rng.uniform(-80.0, -20.0, (num_sims, num_ms, 8)).astype(np.float16)}
    histories, models = {}, {}
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        model = networks.build_ball_and_stick_config("A")
        histories[jit_compile], _ = training.train_ball_and_stick_twin(
            model, arrays, arrays, num_epochs=2, steps_per_epoch=3, batch_size=2, train_window_ms=256,
            valid_window_ms=512, learning_rate=1e-3, warmup_epochs=0, cooldown_epochs=0, verbose=False,
            jit_compile=jit_compile)
        models[jit_compile] = model
    # the flag reaches Keras: XLA compiles the train step only when asked (Keras' own "auto" is off on a CPU)
    assert models[True].jit_compile is True and models[False].jit_compile is False
    # the same seed, windows and math: XLA changes only the rounding, so six steps end at the same losses
    for without, with_xla in zip(histories[False], histories[True]):
        assert with_xla["train_loss"] == pytest.approx(without["train_loss"], rel=1e-4)
        assert with_xla["valid_spikes"] == pytest.approx(without["valid_spikes"], rel=1e-4)
    assert histories[True][-1]["valid_spikes"] != histories[True][0]["valid_spikes"]  # the twin did train


@pytest.mark.parametrize("config,params,depth,receptive_field",
                         [("A", 17612, 2, 181), ("B", 47148, 3, 181), ("C", 189644, 5, 201),
                          ("D", 922380, 8, 241), ("E", 328460, 8, 81)])
def test_tcn_configs_parameter_counts(config, params, depth, receptive_field):
    from neuron_as_deep_net.ball_and_stick import networks

    model = networks.build_ball_and_stick_config(config)
    assert model.count_params() == params
    assert model.name == f"TCN_D_{depth}_W_{networks.BALL_AND_STICK_TCN_CONFIGS[config][1]}_T_{receptive_field}"
    assert model.get_layer("layer_1").kernel.shape == (networks.BALL_AND_STICK_TCN_CONFIGS[config][2], 16,
                                                       networks.BALL_AND_STICK_TCN_CONFIGS[config][1])


def test_twins_are_causal_and_shaped():
    from neuron_as_deep_net.ball_and_stick import twins

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(1, 260, 16)).astype("float32")
    x2 = x.copy()
    x2[:, 200:] += 3.0
    expected_params = {"ResNetTCN": 667836, "ELM": 19564, "Transformer": 151740}
    for model_type, config in (("TCN", "A"), ("ResNetTCN", None), ("ELM", None), ("Transformer", None)):
        model = twins.build_ball_and_stick_twin(model_type, config or "C")
        if model_type in expected_params:
            assert model.count_params() == expected_params[model_type]
        y, y2 = model(x), model(x2)
        assert {name: tuple(v.shape) for name, v in y.items()} == {
            "spikes": (1, 260, 1), "soma": (1, 260, 1), "near_spike": (1, 260, 1), "inst_rate": (1, 260, 1),
            "branch_v": (1, 260, 8)}
        for name in y:
            np.testing.assert_allclose(np.asarray(y[name])[:, :200], np.asarray(y2[name])[:, :200], atol=1e-5)
        assert np.abs(np.asarray(y["soma"])[:, 200:] - np.asarray(y2["soma"])[:, 200:]).max() > 0
        for head in ("spikes", "near_spike"):  # logit heads start at -2
            assert float(np.asarray(model.get_layer(head).bias)[0]) == -2.0
        # the other heads start as PyTorch's default, U(+-1/sqrt(fan_in)) for a 1x1 conv over the features
        limit = 1.0 / np.sqrt(model.get_layer("soma").kernel.shape[1])
        biases = np.concatenate([np.asarray(model.get_layer(head).bias) for head in ("soma", "inst_rate", "branch_v")])
        assert np.all(np.abs(biases) <= limit) and np.any(biases != 0)


# ---------------------------------------------------------------------------------------------------------
# NEURON: the cells and synapses
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.neuron
@pytest.mark.parametrize("cell_name", ["AMPA_point", "NMDA_cable"])
def test_cell_geometry_and_rest(cell_name):
    cell = bs.create_cell(cell_name)
    try:
        h = cell.h
        length, diameter = (128.0, 4.0) if cell_name == "AMPA_point" else (2048.0, 1.0)
        assert (cell.soma.L, cell.soma.diam, cell.soma.nseg) == (25.0, 25.0, 1)
        assert (cell.dend.L, cell.dend.diam, cell.dend.nseg) == (length, diameter, 8)
        assert cell.dend.parentseg().sec == cell.soma and cell.dend.parentseg().x == 1.0
        assert cell.soma.g_pas == 3e-5 and cell.dend.g_pas == pytest.approx(5e-5)
        assert cell.soma.Ra == cell.dend.Ra == 150.0 and cell.soma.e_pas == -85.0
        assert cell.soma.gSK_E2bar_SK_E2 == 0.0 and cell.soma.gNaTa_tbar_NaTa_t == pytest.approx(3.89618)
        assert cell.soma.ek == -85.0 and cell.soma.ena == 50.0
        sites = [h.distance(cell.soma(1), s.get_segment()) for s in cell.excitatory_synapses]
        np.testing.assert_allclose(sites, bs.segment_centres_um(length), atol=1e-6)
        assert [s.get_segment().x for s in cell.inhibitory_synapses] == [s.get_segment().x
                                                                          for s in cell.excitatory_synapses]
        gmax_nmda = bs.EXCITATORY_PRESETS[cell.excitatory_preset]["gmax_NMDA"]
        assert cell.excitatory_synapses[0].gmax_NMDA == gmax_nmda
        assert (cell.inhibitory_synapses[0].tau_r, cell.inhibitory_synapses[0].e) == (0.2, -85.0)
        zeros = np.zeros((8, 400))
        soma, branches = cell.simulate(zeros, zeros)
        assert soma.size == 400 * 40 + 1 and soma[0] == -85.0
        assert soma[-1] == pytest.approx(-82.7, abs=0.3)
        # one strong proximal event gives a somatic EPSP; input at t = 0 is delivered too
        exc = zeros.copy()
        exc[0, 0] = exc[0, 300] = 6.0
        soma, _ = cell.simulate(exc, zeros)
        assert soma[40 * 300: 40 * 340].max() - soma[40 * 299] > 2.0
        assert soma[:40 * 40].max() > -85.0 + 1.0
    finally:
        cell.close()
        gc.collect()


@pytest.mark.neuron
@pytest.mark.parametrize("preset", ["AMPA", "NMDA_rodent", "NMDA_human"])
def test_synapse_peak_is_weight_times_gmax(preset):
    bs.load_ball_and_stick_mechanisms()
    from neuron import h

    section = h.Section(name="synapse_test")
    section.L = section.diam = 10.0
    clamp = h.SEClamp(section(0.5))
    clamp.dur1, clamp.amp1, clamp.rs = 1e9, -60.0, 1e-6
    synapse = h.Synapse_AMPA_NMDA(section(0.5))
    for name, value in {**bs.EXCITATORY_KINETICS, **bs.EXCITATORY_PRESETS[preset]}.items():
        setattr(synapse, name, value)
    gaba = h.Synapse_GABA_A(section(0.5))
    for name, value in bs.INHIBITORY_PARAMETERS.items():
        setattr(gaba, name, value)
    weight = 3.5
    netcons = [h.NetCon(None, target) for target in (synapse, gaba)]
    for netcon in netcons:
        netcon.weight[0] = weight
    records = {name: h.Vector().record(ref) for name, ref in (("ampa", synapse._ref_g_AMPA),
                                                              ("nmda", synapse._ref_g_NMDA), ("gaba", gaba._ref_g),
                                                              ("v", section(0.5)._ref_v))}
    handler = h.FInitializeHandler(lambda: [netcon.event(1.0) for netcon in netcons])  # noqa: F841
    h.dt = 0.0025
    h.cvode.active(0)
    h.finitialize(-60.0)
    h.continuerun(300.0)
    g = {name: vector.as_numpy().copy() for name, vector in records.items()}
    assert g["v"][10:].min() == pytest.approx(-60.0, abs=1e-3)
    parameters = bs.EXCITATORY_PRESETS[preset]
    assert g["ampa"].max() == pytest.approx(weight * parameters["gmax_AMPA"], rel=2e-4)
    mg_gate = 1.0 / (1.0 + (1.0 / 3.57) * np.exp(-parameters["gamma"] * -60.0))
    assert g["nmda"].max() == pytest.approx(weight * parameters["gmax_NMDA"] * mg_gate, rel=2e-4, abs=1e-12)
    assert g["gaba"].max() == pytest.approx(weight * 0.001, rel=2e-4)
    # kinetics: times of the peaks (1 ms + tp of each double exponential)
    t_peak = lambda tau_r, tau_d: tau_r * tau_d / (tau_d - tau_r) * np.log(tau_d / tau_r)  # noqa: E731
    assert np.argmax(g["ampa"]) * h.dt - 1.0 == pytest.approx(t_peak(0.3, 3.0), abs=0.01)
    assert np.argmax(g["gaba"]) * h.dt - 1.0 == pytest.approx(t_peak(0.2, 8.0), abs=0.01)
    if parameters["gmax_NMDA"]:
        assert np.argmax(g["nmda"]) * h.dt - 1.0 == pytest.approx(t_peak(2.0, 70.0), abs=0.01)
    del handler, netcons, records, clamp, synapse, gaba, section
    gc.collect()


@pytest.mark.neuron
def test_cells_per_run_writes_the_same_dataset(tmp_path):
    """Three copies of the cell per NEURON run (the last run with two spare cells) write the same files as one cell
    per run; the chunk size is rounded up to a multiple of cells_per_run, which the dataset record keeps."""
    parameters = bs.cell_parameters("NMDA_cable")
    common = {"seed": 3, "train_per_repeat": 12, "sim_duration_ms": 300, "workers": 1, "prune": False,
              "verbose": False, "chunk_size": 5}
    one, run_one = bsd.create_dataset(str(tmp_path / "one"), parameters, 1, **common)
    many, run_many = bsd.create_dataset(str(tmp_path / "many"), parameters, 1, cells_per_run=3, **common)
    assert run_one["identity"]["chunk_size"] == 5 and "cells_per_run" not in run_one["identity"]
    assert run_many["identity"]["chunk_size"] == 6 and run_many["identity"]["cells_per_run"] == 3
    num_spikes = 0
    for split, count in (("train", 12), ("valid", 1), ("test", 1)):
        indices = bsd.simulation_indices(one, split)
        assert indices == bsd.simulation_indices(many, split) and len(indices) == count
        for index in indices:
            single, batched = bsd.read_simulation(one, split, index), bsd.read_simulation(many, split, index)
            for subfolder in bsd.SUBFOLDERS:
                np.testing.assert_array_equal(single[subfolder], batched[subfolder], err_msg=subfolder)
            num_spikes += int(single["output_spikes"].sum())
    assert num_spikes > 0
    worker = parallel.worker_simulator(bsd.DatasetWorker, dict(parameters, engine="neuron", cells_per_run=3))
    with pytest.raises(ValueError, match="1 to 3 trials"):
        bs.simulate_together(worker.cells, [(np.zeros((8, 10)), np.zeros((8, 10)))] * 4)


# ---------------------------------------------------------------------------------------------------------
# scripts (smoke)
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.neuron
@pytest.mark.slow
def test_experiment_script_smoke(tmp_path, monkeypatch):
    from test_scripts import load_script

    script = load_script("ball_and_stick_experiment.py")
    out = tmp_path / "bs"
    loads = []  # the experiment loads a cell's splits once for all its twins (a copy per twin ran out of memory)
    real_load = bsd.load_twin_splits
    monkeypatch.setattr(bsd, "load_twin_splits", lambda *args, **kwargs: loads.append(args) or real_load(*args, **kwargs))
    summary = script.main(["--preset", "smoke", "--cells", "AMPA_point", "--num-repeats-per-cell", "1",
                           "--configs", "A,B", "--output-dir", str(out)])
    assert [row["config"] for row in summary["rows"]] == ["A", "B"]
    assert len(loads) == 1
    assert [row["num_train_steps"] for row in summary["rows"]] == [4, 4]  # one recipe: 2 epochs x 2 steps each
    assert "CPU 0" in summary["device_report"]["visible"]  # the report, in the experiment's and each twin's JSON
    assert all(row["device_report"] == summary["device_report"] for row in summary["rows"])
    assert script.auc_plot_title(summary["rows"]) == "test spike AUC of the TCN twins"
    params = [json.loads((out / "models" / "AMPA_point" / f"{name}__TCN_{config}" / "params.json").read_text())
              for name, config in (("TCN_D_2_W_8_T_181", "A"), ("TCN_D_3_W_16_T_181", "B"))]
    recipe = lambda q: {k: v for k, v in q.items() if k not in ("config", "output_dir", "run_name")}  # noqa: E731
    assert recipe(params[0]) == recipe(params[1])  # every twin of a cell trains with the same recipe
    with open(out / "results.csv") as handle:
        lines = handle.read().splitlines()
    assert lines[0].startswith("cell,config,model_name,num_params,AUC") and len(lines) == 3
    assert lines[1].startswith("AMPA_point,A,TCN_D_2_W_8_T_181,17612,")
    assert (out / "ball_and_stick_AUC_per_config.png").stat().st_size > 10000
    assert (out / "first_layer_weights_A_B.png").stat().st_size > 10000
    assert (out / "ball_and_stick_learning_curves.png").stat().st_size > 10000
    history = json.loads((out / "models" / "AMPA_point" / "TCN_D_2_W_8_T_181__TCN_A" / "history.json").read_text())
    assert [entry["step"] for entry in history] == [2, 4]  # the learning curve's x: optimizer steps
    for row in summary["rows"]:  # the constant-output level: the spike BCE of the mean rate (0.69 at most)
        assert 0.0 < row["constant_output_valid_spike_loss"] < np.log(2)
    folder = out / "data" / bs.cell_short_name(128, 4.0)
    assert len(list((folder / "train" / "inputs").glob("sim_*.npy"))) == 24
    assert json.loads((folder / bsd.INFO_FILE).read_text())["runs"][0]["counts_after_pruning"]["test"] == 2
    assert list(folder.glob("small_regular_spiking_AMPA_" + folder.name + "__*.pkl"))
    assert not list(folder.glob(".partial__*"))
    # a second run reuses the dataset and the trained twins
    again = script.main(["--preset", "smoke", "--cells", "AMPA_point", "--num-repeats-per-cell", "1",
                         "--configs", "A,B", "--output-dir", str(out)])
    assert [row["AUC"] for row in again["rows"]] == [row["AUC"] for row in summary["rows"]]
    # a resumed run still reports each stage's time as recorded when it ran, not this part's ~0 s
    assert again["recorded_stage_sec"] == summary["recorded_stage_sec"]
    assert set(summary["recorded_stage_sec"]) == {"dataset_AMPA_point_sec", "train_AMPA_point_A_sec",
                                                  "train_AMPA_point_B_sec"}
    assert summary["recorded_stage_sec"]["train_AMPA_point_A_sec"] > 10 * again["timings_sec"]["train_AMPA_point_A_sec"]


def test_quick_and_laptop_presets_are_one_recipe_written_once():
    import ball_and_stick_experiment as experiment
    import train_DNN_twin_of_BS_neuron as train_script
    from neuron_as_deep_net.ball_and_stick import recipes

    def recipe_of(preset):  # the training entries of one of the experiment's presets
        return {key: value for key, value in preset.items() if key in experiment.TRAIN_PARAMETERS}

    quick, laptop = experiment.PRESETS["quick"], experiment.PRESETS["laptop"]
    # one recipe for every twin: no per-cell or per-config training entries; the experiment and the train script
    # both take it from recipes.py
    for preset in (quick, laptop):
        assert not any(key.startswith("long_run") for key in preset)
    assert recipe_of(quick) == recipes.QUICK_RECIPE and train_script.PRESETS["quick"] is recipes.QUICK_RECIPE
    assert recipe_of(laptop) == recipes.LAPTOP_RECIPE and train_script.PRESETS["laptop"] is recipes.LAPTOP_RECIPE
    # the numbers the README measured: quick 3,000 steps, the loss ramp over epochs 25-40, per-step rate warm-up
    r = recipes.QUICK_RECIPE
    assert r["num_epochs"] * r["steps_per_epoch"] == 3000 and r["deep_rate_fan_in"] == 256
    assert r["warmup_epochs"] == 10 and r["warmup_steps"] == 300 and r["cooldown_epochs"] == 15
    assert quick["cells_per_run"] == 16 and quick["num_repeats_per_cell"] == [16, 16]
    # laptop: the same recipe, loss ramp included, for 7,200 steps (decay over the last 36 epochs), 64 valid files
    assert recipes.LAPTOP_RECIPE == dict(r, num_epochs=144, cooldown_epochs=36, max_valid_files=64)
    assert laptop["cells_per_run"] == 16 and laptop["num_repeats_per_cell"] == [155, 280]
    # importing the recipes does not load TensorFlow (the scripts read them before parsing their parameters)
    probe = ("import sys; import neuron_as_deep_net.ball_and_stick.recipes; "
             "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.split() == ["False", "False"]


def test_comparison_names_the_smallest_network_that_beats_the_reference():
    import compare_twin_architectures as compare

    rows = [{"model": "TCN:D", "AUC": 0.97, "num_params": 922380, "inference_ms_per_simulation": 90.0,
             "inference_memory_mb": 90.0},
            {"model": "ELM", "AUC": 0.975, "num_params": 19564, "inference_ms_per_simulation": 400.0,
             "inference_memory_mb": 80.0},
            {"model": "TCN:C", "AUC": 0.98, "num_params": 189644, "inference_ms_per_simulation": 30.0,
             "inference_memory_mb": 85.0},
            {"model": "TCN:A", "AUC": 0.90, "num_params": 17612, "inference_ms_per_simulation": 5.0,
             "inference_memory_mb": 70.0}]
    winners = compare.smallest_beating(rows, 0.97)
    # TCN:A is smaller and faster than everything but does not beat the reference; D does not beat itself
    assert {measure: row["model"] for measure, row in winners.items()} == {
        "parameters": "ELM", "inference time": "TCN:C", "inference memory": "ELM"}
    assert all(row is None for row in compare.smallest_beating(rows, 0.99).values())
    assert compare.split_model("TCN:C") == ("TCN", "C") and compare.split_model("ELM") == ("ELM", None)
    with pytest.raises(ValueError, match="needs its config"):
        compare.split_model("TCN")


def test_inference_cost_is_measured_per_twin_in_a_fresh_process(tmp_path):
    import compare_twin_architectures as compare
    from neuron_as_deep_net.ball_and_stick import twins

    rng = np.random.default_rng(0)
    for index in range(2):
        bsd.write_simulation(str(tmp_path / "data"), "test", index, fake_simulation(rng, num_ms=700))
    test = bsd.load_split(str(tmp_path / "data"), "test")
    costs = {}
    for config in ("A", "D"):
        run_dir = tmp_path / config
        run_dir.mkdir()
        twins.build_ball_and_stick_twin("TCN", config).save_weights(str(run_dir / "best.weights.h5"))
        (run_dir / "model.json").write_text(json.dumps({"model_type": "TCN", "config": config, "num_segments": 8,
                                                        "weights": "best.weights.h5"}))
        costs[config] = compare.inference_cost(str(run_dir), test, 512, 2, str(tmp_path / "scratch"))
    # D (922,380 parameters, 8 layers of 64 channels) costs more to run on the same window than A (17,612, 2 x 8);
    # the memory is what the twin added to a process that already held Keras and the window
    assert costs["D"]["inference_memory_mb"] > costs["A"]["inference_memory_mb"] > 0
    assert costs["D"]["inference_ms_per_simulation"] > costs["A"]["inference_ms_per_simulation"] > 0
    assert all(cost["baseline_memory_mb"] > 100 for cost in costs.values())  # Keras was imported first
    assert not list((tmp_path / "scratch").iterdir())  # the window file is removed
    # both modes (XLA off / on), each in its own process: for time and for memory the better mode counts, and
    # every mode's values are kept
    both = compare.inference_cost(str(tmp_path / "D"), test, 512, 2, str(tmp_path / "scratch"), modes=(False, True))
    times = {False: both["inference_ms_without_xla"], True: both["inference_ms_with_xla"]}
    memory = {False: both["inference_memory_mb_without_xla"], True: both["inference_memory_mb_with_xla"]}
    assert both["inference_ms_xla"] == min(times, key=times.get)
    assert both["inference_ms_per_simulation"] == min(times.values()) > 0
    assert both["inference_memory_xla"] == min(memory, key=memory.get)
    assert both["inference_memory_mb"] == min(memory.values()) > 0
    assert costs["D"]["inference_ms_xla"] is False and "inference_ms_with_xla" not in costs["D"]  # one mode: off
    row = {"inference_ms_per_simulation": 15.5, "inference_ms_xla": True, "inference_ms_without_xla": 227.2,
           "inference_ms_with_xla": 15.5, "inference_memory_mb": 34.2, "inference_memory_xla": False,
           "inference_memory_mb_without_xla": 34.2, "inference_memory_mb_with_xla": 119.0}
    assert compare.inference_text(row, "ms") == "15.5 ms (XLA; 227.2 ms without)"
    assert compare.inference_text(row, "memory") == "34 MB (no XLA; 119 MB with)"
    assert compare.inference_text({"inference_memory_mb": None}, "memory") == "n/a"
    # the memory is counted from the process's state before loading, not from an earlier, higher peak
    from neuron_as_deep_net.ball_and_stick import evaluation

    earlier_peak = np.ones(80_000_000)  # 640 MB, freed before the measurement
    del earlier_peak
    x = np.zeros((1, 2048, 16), dtype=np.float32)
    assert evaluation.inference_cost(str(tmp_path / "A"), x, repeats=1)["inference_memory_mb"] > 0
    rows = [{"model": "TCN:D", "AUC": 0.9, "num_params": 9, "inference_ms_per_simulation": 9.0,
             "inference_memory_mb": None}, {"model": "ELM", "AUC": 0.95, "num_params": 1,
                                           "inference_ms_per_simulation": 1.0, "inference_memory_mb": None}]
    assert compare.smallest_beating(rows, 0.9)["inference memory"] is None  # not measured (not Linux)
    assert compare.megabytes(None) == "n/a" and compare.megabytes(794.4) == "794 MB"


def test_validation_scores_tool_scores_each_twin_on_its_cells_validation_files(tmp_path):
    import importlib.util

    from neuron_as_deep_net.ball_and_stick import evaluation, training, twins

    spec = importlib.util.spec_from_file_location(
        "scores", os.path.join(ROOT, "tools", "ball_and_stick_validation_scores.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rng = np.random.default_rng(1)
    folder = bsd.dataset_folder(str(tmp_path / "data"), bs.cell_parameters("NMDA_cable"))
    bsd.write_simulation(folder, "train", 0, fake_simulation(rng, num_ms=700))
    for index in range(3):  # 3 validation files with spikes, 2 test files without
        bsd.write_simulation(folder, "valid", index, fake_simulation(rng, num_ms=700, rate_hz=20.0))
    for index in range(2):
        bsd.write_simulation(folder, "test", index, fake_simulation(rng, num_ms=700, rate_hz=0.0))
    run_dir = tmp_path / "models" / "NMDA_cable" / "TCN_A"
    run_dir.mkdir(parents=True)
    twins.build_ball_and_stick_twin("TCN", "A").save_weights(str(run_dir / "best.weights.h5"))
    (run_dir / "model.json").write_text(json.dumps({"model_type": "TCN", "config": "A", "num_segments": 8,
                                                    "weights": "best.weights.h5"}))
    (run_dir / "history.json").write_text(json.dumps([{"valid_spikes": 0.05}, {"valid_spikes": 0.04},
                                                      {"valid_spikes": 0.045}]))
    rows = tool.main([str(run_dir), "--data-dir", str(tmp_path / "data"), "--output-csv", str(tmp_path / "s.csv")])
    expected, _ = evaluation.evaluate_ball_and_stick_twin(training.load_ball_and_stick_twin(str(run_dir)),
                                                          bsd.load_split(folder, "valid"))
    assert len(rows) == 1 and rows[0]["cell"] == "NMDA_cable" and rows[0]["config"] == "A"
    assert rows[0]["num_valid_files"] == 3 and rows[0]["valid_AUC"] == pytest.approx(expected["AUC"])
    assert rows[0]["best_valid_spike_loss"] == 0.04
    assert (tmp_path / "s.csv").read_text().splitlines()[0].startswith("run,cell,config,valid_AUC")
