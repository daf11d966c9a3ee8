"""Tests of core.windows, core.metrics and l5pc.evaluation against hand-computed cases and sklearn (spec §5, §7,
§11)."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics

from neuron_as_deep_net.core import metrics as core_metrics
from neuron_as_deep_net.core import windows
from neuron_as_deep_net.l5pc import evaluation


# ---------------------------------------------------------------------------------------------------------
# windowing
# ---------------------------------------------------------------------------------------------------------

def test_temporal_extent():
    assert windows.temporal_extent([54, 24, 24]) == 100
    assert windows.temporal_extent([80]) == 80
    assert windows.temporal_extent([35] * 7) == 7 * 34 + 1


@pytest.mark.parametrize('window, extent, expected', [
    (400, 100, 150), (400, 153, 154), (400, 260, 250), (100, 10, 50), (500, 80, 150), (400, 149, 150)])
def test_default_overlap(window, extent, expected):
    assert windows.default_overlap(window, extent) == expected


def test_split_starts_if_network_gives_16_splits():
    starts = windows.split_starts(6000, 500, 120)
    assert len(starts) == 16
    assert starts == [380 * k for k in range(16)]


def test_split_starts_rejects_non_positive_stride():
    with pytest.raises(ValueError):
        windows.split_starts(6000, 400, 400)


@pytest.mark.parametrize('duration, window, overlap', [(6000, 400, 150), (6000, 500, 120), (6000, 400, 154),
                                                       (1000, 400, 150), (650, 400, 150), (300, 400, 150)])
def test_fill_ranges_tile_every_bin_exactly_once(duration, window, overlap):
    coverage = np.zeros(duration, dtype=int)
    for start, lo, hi in windows._fill_ranges(duration, window, overlap):
        assert start <= lo <= start + window and hi <= start + window
        coverage[lo:hi] += 1
    np.testing.assert_array_equal(coverage, 1)


def _identity_predict_fn(x):
    """Spikes = channel 0, soma = -channel 0, plus an ignored dendritic output."""
    return [x[..., :1], -x[..., 0], np.zeros(x.shape[:2] + (3,), np.float32)]


def test_overlapped_inference_fills_every_bin_from_the_right_window():
    num_sims, duration, window, overlap = 2, 6000, 400, 150
    assert len(windows.split_starts(duration, window, overlap)) == 24
    X = np.zeros((num_sims, duration, 2), dtype=np.float32)
    X[:, :, 0] = np.arange(1, duration + 1)[None, :] + 10000 * np.arange(num_sims)[:, None]
    spikes, soma = windows.overlapped_inference(_identity_predict_fn, X, window, overlap)
    assert spikes.dtype == np.float32 and soma.dtype == np.float32
    assert spikes.shape == soma.shape == (num_sims, duration)
    np.testing.assert_array_equal(spikes, X[:, :, 0])
    np.testing.assert_array_equal(soma, -X[:, :, 0])


def _causal_moving_sum_fn(receptive_field, calls=None):
    """Causal moving sum over receptive_field bins (zero before the window start) of the channel sum."""
    def predict_fn(x):
        if calls is not None:
            calls.append(x.copy())
        s = x.sum(axis=2, dtype=np.float64)
        c = np.cumsum(s, axis=1)
        out = c.copy()
        out[:, receptive_field:] -= c[:, :-receptive_field]
        return (out[..., None].astype(np.float32), (2.0 * out - 1.0).astype(np.float32))
    return predict_fn


@pytest.mark.parametrize('batch_size', [None, 1, 2, 5, 7])
def test_overlapped_inference_matches_full_length_pass_for_causal_fn(batch_size):
    rng = np.random.default_rng(0)
    num_sims, duration, channels, window, overlap, rf = 3, 1000, 2, 100, 30, 20
    X = rng.random((num_sims, duration, channels)) < 0.3
    full_spikes, full_soma = _causal_moving_sum_fn(rf)(X.astype(np.float32))
    calls = []
    spikes, soma = windows.overlapped_inference(_causal_moving_sum_fn(rf, calls), X, window, overlap,
                                           batch_size=batch_size)
    np.testing.assert_array_equal(spikes, full_spikes[..., 0])
    np.testing.assert_array_equal(soma, full_soma)
    # windows are batched in float32 chunks of at most batch_size windows, all windows exactly once
    num_windows = num_sims * len(windows.split_starts(duration, window, overlap))
    assert sum(len(c) for c in calls) == num_windows
    assert all(c.dtype == np.float32 and c.shape[1:] == (window, channels) for c in calls)
    if batch_size is not None:
        assert max(len(c) for c in calls) <= batch_size
    else:
        assert len(calls) == 1


def test_overlapped_inference_differs_when_receptive_field_exceeds_overlap():
    rng = np.random.default_rng(1)
    X = (rng.random((2, 600, 1)) < 0.5).astype(np.uint8)
    rf, window, overlap = 60, 100, 30
    full_spikes, _ = _causal_moving_sum_fn(rf)(X.astype(np.float32))
    spikes, _ = windows.overlapped_inference(_causal_moving_sum_fn(rf), X, window, overlap)
    np.testing.assert_array_equal(spikes[:, :window], full_spikes[:, :window, 0])   # split 0 is exact
    assert not np.array_equal(spikes, full_spikes[..., 0])


def test_overlapped_inference_zero_pads_the_last_window():
    X = np.ones((1, 650, 1), dtype=bool)
    calls = []
    windows.overlapped_inference(_causal_moving_sum_fn(5, calls), X, 400, 150, batch_size=1)
    starts = windows.split_starts(650, 400, 150)
    assert starts == [0, 250, 500]
    last = calls[-1][0, :, 0]
    np.testing.assert_array_equal(last[:150], 1.0)
    np.testing.assert_array_equal(last[150:], 0.0)


def test_keras_predict_fn_with_overlapped_inference_matches_full_pass():
    keras = pytest.importorskip('keras')
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(None, 3))
    h = keras.layers.Conv1D(4, 5, padding='causal', activation='relu')(inp)
    h = keras.layers.Conv1D(4, 3, padding='causal', activation='relu')(h)
    spikes = keras.layers.Conv1D(1, 1, activation='sigmoid', name='spikes')(h)
    soma = keras.layers.Conv1D(1, 1, name='somatic')(h)
    dend = keras.layers.Conv1D(2, 1, name='dendritic')(h)
    model = keras.Model(inp, [spikes, soma, dend])
    rng = np.random.default_rng(2)
    X = (rng.random((2, 300, 3)) < 0.3).astype(np.float32)
    predict_fn = windows.keras_predict_fn(model, batch_size=4)
    out = predict_fn(X[:, :64])
    assert isinstance(out[0], np.ndarray) and [o.shape for o in out] == [(2, 64, 1), (2, 64, 1), (2, 64, 2)]
    full = predict_fn(X)
    spk, som = windows.overlapped_inference(predict_fn, X, window_size=64, overlap=10, batch_size=5)
    np.testing.assert_allclose(spk, full[0][..., 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(som, full[1][..., 0], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# soma alignment
# ---------------------------------------------------------------------------------------------------------

def test_align_soma_hand_case():
    aligned = evaluation.align_soma(np.array([[0.0, 2.0]]), np.array([[10.0, 14.0]]))
    np.testing.assert_allclose(aligned, [[10.0, 14.0]])


def test_align_soma_matches_gt_mean_and_std():
    rng = np.random.default_rng(3)
    pred = (0.3 * rng.standard_normal((4, 500)) + 2.0).astype(np.float32)
    gt = (-70.0 + 3.0 * rng.standard_normal((4, 500))).astype(np.float32)
    aligned = evaluation.align_soma(pred, gt)
    assert aligned.dtype == np.float32 and aligned.shape == pred.shape
    assert aligned.mean(dtype=np.float64) == pytest.approx(gt.mean(dtype=np.float64), abs=1e-4)
    assert aligned.std(dtype=np.float64) == pytest.approx(gt.std(dtype=np.float64), rel=1e-5)
    # a positive affine map of the prediction
    assert np.corrcoef(aligned.ravel(), pred.ravel())[0, 1] == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------------------

def test_roc_matches_hand_case():
    fpr, tpr, thr = core_metrics.roc(np.array([[0, 0], [1, 1]]), np.array([[0.1, 0.4], [0.35, 0.8]]))
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thr[1:], [0.8, 0.4, 0.35, 0.1])


HAND_FPR = np.array([0.0, 0.0, 0.001, 0.002, 0.01, 1.0])
HAND_TPR = np.array([0.0, 0.3, 0.5, 0.6, 0.8, 1.0])
HAND_THR = np.array([np.inf, 0.9, 0.7, 0.5, 0.3, 0.0])


@pytest.mark.parametrize('desired_fp, expected_tp, expected_idx', [
    (0.0, 0.3, 1),        # nearest is index 0 -> replaced by 1
    (0.0001, 0.3, 1),     # tie 0/1 -> argmin picks 0 -> replaced by 1
    (0.0009, 0.5, 2), (0.0018, 0.6, 3), (0.05, 0.8, 4), (0.9, 1.0, 5)])
def test_tp_and_threshold_at_fp_hand_roc(desired_fp, expected_tp, expected_idx):
    assert core_metrics.tp_at_fp(HAND_FPR, HAND_TPR, desired_fp) == expected_tp
    thr, idx = core_metrics.threshold_at_fp(HAND_FPR, HAND_THR, desired_fp)
    assert idx == expected_idx and thr == HAND_THR[expected_idx]


def test_tp_at_fp_index_zero_rule_when_first_step_has_positive_fpr():
    fpr, tpr = np.array([0.0, 0.01, 0.5, 1.0]), np.array([0.0, 0.4, 0.9, 1.0])
    assert core_metrics.tp_at_fp(fpr, tpr, 0.001) == 0.4     # index 0 (tpr 0) would be nearest
    assert core_metrics.tp_at_fp(fpr, tpr, 0.3) == 0.9


def test_auc_at_fp_on_diagonal_roc():
    fpr = tpr = np.array([0.0, 1.0])
    n = core_metrics.NUM_FPR_INTERP_POINTS
    # x = 0.1 -> idx = round(0.1 * 19999) = 2000; mean of k/19999 for k < 2000
    assert core_metrics.auc_at_fp(fpr, tpr, 0.1) == pytest.approx(1999 / 2 / (n - 1), rel=1e-12)
    assert core_metrics.auc_at_fp(fpr, tpr, 0.1) == pytest.approx(0.05, abs=1e-4)
    assert core_metrics.auc_at_fp(fpr, tpr, 0.01) == pytest.approx(0.005, abs=1e-4)
    assert core_metrics.auc_at_fp(fpr, tpr, 0.0) == 0.0                                     # idx clamped to 1
    assert core_metrics.auc_at_fp(fpr, tpr, 1.0) == pytest.approx((n - 2) / 2 / (n - 1), rel=1e-12)  # clamp 19999


def test_auc_at_fp_other_shapes():
    # ROC rising as tpr = 2 fpr up to 0.5: mean of 2*FPR over [0, x) ~ x (not divided by x)
    assert core_metrics.auc_at_fp([0, 0.5, 1], [0, 1, 1], 0.02) == pytest.approx(0.02, abs=2e-4)
    # vertical first segment: interpolated TPR at FPR 0 is the upper value, so the mean is 1
    assert core_metrics.auc_at_fp([0, 0, 1], [0, 1, 1], 0.01) == 1.0


def test_d_prime():
    assert core_metrics.d_prime(0.5) == 0.0
    assert core_metrics.d_prime(stats.norm.cdf(1 / math.sqrt(2))) == pytest.approx(1.0, abs=1e-12)
    assert core_metrics.d_prime(stats.norm.cdf(-1.0)) == pytest.approx(-math.sqrt(2), abs=1e-12)


def test_metric_keys_format():
    assert core_metrics.tp_key(0.002) == 'TP @ 0.0020 FP'
    assert core_metrics.auc_key(0.1) == 'AUC @ 0.1000 FP'
    assert core_metrics.FP_LIST[4] == 0.002 and len(core_metrics.FP_LIST) == 13


def test_extract_key_results_hand_case():
    spikes_gt = np.array([[0, 0], [1, 1]], dtype=bool)
    spikes_pred = np.array([[0.1, 0.4], [0.35, 0.8]], dtype=np.float32)
    soma_gt = np.array([[1.0, 2.0], [3.0, 4.0]])
    soma_pred = np.array([[1.0, 2.0], [3.0, 5.0]])
    res = core_metrics.extract_key_results(spikes_gt, spikes_pred, soma_gt, soma_pred)
    expected_keys = {'AUC', 'soma_explained_variance_percent', 'soma_RMSE', 'soma_MAE'}
    expected_keys |= {'TP @ %.4f FP' % fp for fp in core_metrics.FP_LIST} | {'AUC @ %.4f FP' % fp for fp in core_metrics.FP_LIST}
    assert set(res) == expected_keys and len(res) == 4 + 2 * 13
    assert all(type(v) is float for v in res.values())
    assert res['AUC'] == pytest.approx(0.75)
    # ROC fpr [0,0,.5,.5,1], tpr [0,.5,.5,1,1]
    assert res['TP @ 0.0001 FP'] == 0.5 and res['TP @ 0.1000 FP'] == 0.5
    assert res['AUC @ 0.1000 FP'] == pytest.approx(0.5)
    # residual [0,0,0,-1]: var = 0.25 - 0.0625 = 0.1875; var(gt) = 1.25 -> EV = 85 %
    assert res['soma_explained_variance_percent'] == pytest.approx(85.0)
    assert res['soma_RMSE'] == pytest.approx(0.5)
    assert res['soma_MAE'] == pytest.approx(0.25)


def test_extract_key_results_against_sklearn_random():
    rng = np.random.default_rng(4)
    gt = rng.random((6, 400)) < 0.05
    pred = np.clip(0.4 * gt + 0.6 * rng.random(gt.shape), 0, 1).astype(np.float32)
    soma_gt = rng.standard_normal(gt.shape)
    soma_pred = soma_gt + 0.3 * rng.standard_normal(gt.shape) + 0.1
    res = core_metrics.extract_key_results(gt, pred, soma_gt, soma_pred)
    assert res['AUC'] == pytest.approx(metrics.roc_auc_score(gt.ravel(), pred.ravel()), rel=1e-12)
    assert res['soma_explained_variance_percent'] == pytest.approx(
        100 * metrics.explained_variance_score(soma_gt.ravel(), soma_pred.ravel()), rel=1e-12)
    resid = soma_gt - soma_pred
    assert res['soma_RMSE'] == pytest.approx(np.sqrt(np.mean(resid ** 2)), rel=1e-12)
    assert res['soma_MAE'] == pytest.approx(np.mean(np.abs(resid)), rel=1e-12)
    # TP @ FP is a TPR actually reached on the ROC near that FPR, monotone in FP
    tps = [res['TP @ %.4f FP' % fp] for fp in core_metrics.FP_LIST]
    assert np.all(np.diff(tps) >= 0)
    fpr, tpr, thr = core_metrics.roc(gt, pred)
    t, idx = core_metrics.threshold_at_fp(fpr, thr, 0.05)
    binary = pred.ravel() >= t
    assert np.mean(binary[gt.ravel()]) == pytest.approx(res['TP @ 0.0500 FP'])
    assert np.mean(binary[~gt.ravel()]) == pytest.approx(fpr[idx])


# ---------------------------------------------------------------------------------------------------------
# filters and subsets
# ---------------------------------------------------------------------------------------------------------

def test_filter_string():
    assert evaluation.filter_string(0, 24) == 'starting_at_500ms_spikes_in_[0,24]_range'
    assert [evaluation.filter_string(*r) for r in evaluation.FILTER_RANGES][1] == 'starting_at_500ms_spikes_in_[1,24]_range'
    assert evaluation.MAIN_FILTER == (0, 24)


def test_spike_counts_per_sim():
    y = np.zeros((3, 10), dtype=np.float32)
    y[0, [1, 5]] = 1
    y[2, :] = 1
    counts = evaluation.spike_counts_per_sim(y)
    np.testing.assert_array_equal(counts, [2, 0, 10])
    assert counts.dtype == np.int64


def _filter_fixture():
    """5 sims x 1000 ms; predictions are perfect only where the filter should look (t>=500, kept sims)."""
    num_sims, duration = 5, 1000
    gt = np.zeros((num_sims, duration), dtype=bool)
    gt[1, [100, 550, 600, 700, 800]] = True          # 5 spikes
    gt[2, np.arange(25) * 30 + 200] = True            # 25 spikes
    gt[3, np.arange(24) * 20 + 510] = True            # 24 spikes
    gt[4, 100] = True                                 # 1 spike, before 500 ms
    rng = np.random.default_rng(5)
    soma_gt = rng.standard_normal((num_sims, duration))
    spikes_pred = np.where(gt, 0.95, 0.05).astype(np.float32)
    soma_pred = soma_gt.copy()
    spikes_pred[:, :500] = np.where(gt[:, :500], 0.01, 0.99)   # anti-correlated before 500 ms
    soma_pred[:, :500] += 5.0
    spikes_pred[2] = np.where(gt[2], 0.01, 0.99)               # sim 2 (25 spikes) is wrong everywhere
    soma_pred[2] -= 7.0
    return gt, spikes_pred, soma_gt, soma_pred


def test_filter_keeps_right_sims_and_drops_first_500ms(capsys):
    gt, sp, sg, so = _filter_fixture()
    res = evaluation.filter_and_extract_key_results(gt, sp, sg, so, num_spikes_per_sim=(1, 24), verbose=True)
    out = capsys.readouterr().out
    assert 'starting_at_500ms_spikes_in_[1,24]_range' in out and '3 simulations' in out and '60.00%' in out
    assert res['AUC'] == 1.0
    assert res['soma_RMSE'] == 0.0 and res['soma_MAE'] == 0.0
    assert res['soma_explained_variance_percent'] == 100.0
    keep = [1, 3, 4]
    manual = core_metrics.extract_key_results(gt[keep, 500:], sp[keep, 500:], sg[keep, 500:], so[keep, 500:])
    assert res == manual
    # not dropping the first 500 ms, or keeping sim 2, would spoil the metrics
    assert core_metrics.extract_key_results(gt[keep], sp[keep], sg[keep], so[keep])['soma_RMSE'] > 1.0
    assert core_metrics.extract_key_results(gt[1:, 500:], sp[1:, 500:], sg[1:, 500:], so[1:, 500:])['AUC'] < 1.0


def test_evaluate_all_filters(capsys):
    gt, sp, sg, so = _filter_fixture()
    results = evaluation.evaluate_all_filters(gt, sp, sg, so, verbose=True)
    assert list(results) == [evaluation.filter_string(lo, hi) for lo, hi in evaluation.FILTER_RANGES]
    out = capsys.readouterr().out
    # [0,18]: sims 0,1,4; [1,24]: 1,3,4; [0,24]: 0,1,3,4; [0,30], [0,90]: all
    for lo, hi, n in [(0, 18, 3), (1, 24, 3), (0, 24, 4), (0, 30, 5), (0, 90, 5)]:
        assert '%s: %d simulations' % (evaluation.filter_string(lo, hi), n) in out
    assert results[evaluation.filter_string(0, 24)]['soma_RMSE'] == 0.0
    assert results[evaluation.filter_string(0, 30)]['soma_RMSE'] > 1.0


def test_filter_with_no_sims_gives_nan():
    gt, sp, sg, so = _filter_fixture()
    res = evaluation.filter_and_extract_key_results(gt, sp, sg, so, num_spikes_per_sim=(100, 200), verbose=False)
    assert set(res) == set(core_metrics.extract_key_results(gt, sp, sg, so)) and all(np.isnan(v) for v in res.values())


def test_random_subset_results(capsys):
    rng = np.random.default_rng(6)
    num_sims = 30
    gt = rng.random((num_sims, 800)) < 0.01
    sp = np.clip(0.3 * gt + 0.7 * rng.random(gt.shape), 0, 1)   # overlapping classes
    sg = rng.standard_normal(gt.shape)
    so = sg + rng.standard_normal(gt.shape)
    subsets = evaluation.random_subset_results(gt, sp, sg, so, num_subsets=3, rng=0, verbose=True)
    out = capsys.readouterr().out
    assert out.count('20 simulations kept') == 3                          # int(0.67 * 30) = 20, all pass
    assert len(subsets) == 3 and all(list(s) == [evaluation.filter_string(0, 24)] for s in subsets)
    aucs = [s[evaluation.filter_string(0, 24)]['AUC'] for s in subsets]
    assert len(set(aucs)) == 3                                            # different subsets
    again = evaluation.random_subset_results(gt, sp, sg, so, num_subsets=3, rng=np.random.default_rng(0),
                                     verbose=False)
    assert again == subsets
    # a subset result equals the metrics of the sims drawn, without replacement
    sel = np.random.default_rng(0).choice(num_sims, size=20, replace=False)
    assert len(set(sel)) == 20
    assert subsets[0][evaluation.filter_string(0, 24)] == evaluation.filter_and_extract_key_results(
        gt[sel], sp[sel], sg[sel], so[sel], verbose=False)


# ---------------------------------------------------------------------------------------------------------
# recall curve
# ---------------------------------------------------------------------------------------------------------

def test_spike_recall_curve_hand_case():
    duration = 300
    gt = np.zeros((2, duration), dtype=bool)
    pred = np.zeros((2, duration), dtype=bool)
    gt_times = {0: [2, 100, 200], 1: [50, 298]}
    for s, ts in gt_times.items():
        gt[s, ts] = True
        for t in ts:
            if t + 3 < duration:
                pred[s, t + 3] = True          # 4 of the 5 GT spikes get a prediction 3 ms later
    pred[0, 95] = True                        # 5 ms before GT spike at 100
    pred[1, 200] = True                        # near a GT spike of sim 0 only: must not count
    pred[1, 150] = True                        # 100 ms from any GT spike in sim 1: outside window
    time_axis, curve = core_metrics.spike_recall_curve(gt, pred, half_window_ms=50)
    np.testing.assert_array_equal(time_axis, np.arange(-50, 51))
    assert curve.shape == (101,) and curve.sum() == pytest.approx(1.0)
    assert curve[50 + 3] == pytest.approx(4 / 5) and curve[50 - 5] == pytest.approx(1 / 5)
    assert np.count_nonzero(curve) == 2
    assert int(time_axis[np.argmax(curve)]) == 3


def test_spike_recall_curve_edges_are_zero_padded():
    gt = np.zeros((1, 20), dtype=bool)
    gt[0, 1] = True
    pred = np.ones((1, 20))
    time_axis, curve = core_metrics.spike_recall_curve(gt, pred, half_window_ms=5)
    # predictions exist only at times 0..6 within +-5 of t=1, i.e. lags -1..+5
    expected = np.zeros(11)
    expected[4:] = 1 / 7
    np.testing.assert_allclose(curve, expected)


def test_smooth_recall_curve():
    curve = np.zeros(11)
    curve[5] = 1.0
    smoothed = core_metrics.smooth_recall_curve(curve)
    expected = np.zeros(11)
    expected[5], expected[6] = 0.75, 0.25
    np.testing.assert_allclose(smoothed, expected)
    flat = np.full(7, 1 / 7)
    np.testing.assert_allclose(core_metrics.smooth_recall_curve(flat)[1:], flat[1:])
