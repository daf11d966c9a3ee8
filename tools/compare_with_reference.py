"""Compare one of our L5PC dataset files with a reference file of the authors' code (same seed).

    python tools/compare_with_reference.py OURS.p ../shared/reference/L5PC_NMDA_seed1234/*.p

Prints, per simulation and overall: whether the input spike dicts are identical, the fraction of reference
output spikes with one of ours within +-2 ms (and the reverse), the soma RMSE after clipping both traces at
-55 mV, and the DVT RMSE; then checks the acceptance thresholds of the L5PC issue (inputs identical, >= 95 %
spike match, soma RMSE < 0.3 mV, DVT RMSE < 1 mV) and exits 1 if one fails.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from neuron_as_deep_net.l5pc.data_format import load_experiment  # noqa: E402

SPIKE_TOLERANCE_MS = 2.0
SOMA_CLIP_MV = -55.0
THRESHOLDS = {"spike_match": 0.95, "soma_rmse_mV": 0.3, "dvt_rmse_mV": 1.0}


def spike_dicts_equal(ours, reference):
    """Same segments and, for each, the same spike times."""
    if set(map(int, ours)) != set(map(int, reference)):
        return False
    ours = {int(k): v for k, v in ours.items()}
    return all(np.array_equal(np.asarray(ours[int(k)]), np.asarray(v)) for k, v in reference.items())


def matched_fraction(spikes, candidates, tolerance_ms=SPIKE_TOLERANCE_MS):
    """Fraction of ``spikes`` with a spike of ``candidates`` within the tolerance (vectorized)."""
    spikes = np.asarray(spikes, dtype=float)
    candidates = np.asarray(candidates, dtype=float)
    if spikes.size == 0:
        return 1.0, 0
    if candidates.size == 0:
        return 0.0, 0
    distance = np.abs(spikes[:, None] - candidates[None, :]).min(axis=1)
    matched = int((distance <= tolerance_ms).sum())
    return matched / spikes.size, matched


def compare_simulations(ours, reference):
    """Per-simulation comparison numbers."""
    row = {
        "inputs_identical": spike_dicts_equal(ours["exInputSpikeTimes"], reference["exInputSpikeTimes"])
        and spike_dicts_equal(ours["inhInputSpikeTimes"], reference["inhInputSpikeTimes"]),
        "reference_spikes": int(len(reference["outputSpikeTimes"])),
        "our_spikes": int(len(ours["outputSpikeTimes"])),
    }
    _, row["matched_reference_spikes"] = matched_fraction(reference["outputSpikeTimes"], ours["outputSpikeTimes"])
    _, row["matched_our_spikes"] = matched_fraction(ours["outputSpikeTimes"], reference["outputSpikeTimes"])
    soma_ours = np.minimum(ours["somaVoltageLowRes"].astype(float), SOMA_CLIP_MV)
    soma_reference = np.minimum(reference["somaVoltageLowRes"].astype(float), SOMA_CLIP_MV)
    row["soma_sq_err_sum"] = float(((soma_ours - soma_reference) ** 2).sum())
    row["soma_count"] = soma_ours.size
    row["soma_rmse_mV"] = float(np.sqrt(row["soma_sq_err_sum"] / row["soma_count"]))
    if "dendriticVoltagesLowRes" in ours and "dendriticVoltagesLowRes" in reference:
        difference = ours["dendriticVoltagesLowRes"].astype(float) - reference["dendriticVoltagesLowRes"].astype(float)
        row["dvt_sq_err_sum"] = float((difference ** 2).sum())
        row["dvt_count"] = difference.size
        row["dvt_rmse_mV"] = float(np.sqrt(row["dvt_sq_err_sum"] / row["dvt_count"]))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ours", help="our dataset file")
    parser.add_argument("reference", help="the reference file of the authors' code")
    args = parser.parse_args(argv)
    ours = load_experiment(args.ours)["Results"]["listOfSingleSimulationDicts"]
    reference = load_experiment(args.reference)["Results"]["listOfSingleSimulationDicts"]
    if len(ours) != len(reference):
        raise SystemExit(f"the files hold {len(ours)} and {len(reference)} simulations")
    rows = [compare_simulations(a, b) for a, b in zip(ours, reference)]
    for k, row in enumerate(rows):
        print(f"simulation {k}: inputs identical {row['inputs_identical']}; output spikes ours {row['our_spikes']}, "
              f"reference {row['reference_spikes']}, reference spikes matched within +-2 ms "
              f"{row['matched_reference_spikes']}/{row['reference_spikes']}; soma RMSE (clipped at -55 mV) "
              f"{row['soma_rmse_mV']:.4f} mV" + (f"; DVT RMSE {row['dvt_rmse_mV']:.4f} mV" if "dvt_rmse_mV" in row else ""))
    total_reference = sum(row["reference_spikes"] for row in rows)
    summary = {
        "inputs_identical": all(row["inputs_identical"] for row in rows),
        "spike_match": sum(row["matched_reference_spikes"] for row in rows) / max(total_reference, 1),
        "reverse_spike_match": sum(row["matched_our_spikes"] for row in rows) / max(sum(r["our_spikes"] for r in rows), 1),
        "soma_rmse_mV": float(np.sqrt(sum(r["soma_sq_err_sum"] for r in rows) / sum(r["soma_count"] for r in rows))),
    }
    if all("dvt_rmse_mV" in row for row in rows):
        summary["dvt_rmse_mV"] = float(np.sqrt(sum(r["dvt_sq_err_sum"] for r in rows) / sum(r["dvt_count"] for r in rows)))
    checks = {
        "inputs identical": summary["inputs_identical"],
        f"spike match >= {THRESHOLDS['spike_match']}": summary["spike_match"] >= THRESHOLDS["spike_match"],
        f"soma RMSE < {THRESHOLDS['soma_rmse_mV']} mV": summary["soma_rmse_mV"] < THRESHOLDS["soma_rmse_mV"],
    }
    if "dvt_rmse_mV" in summary:
        checks[f"DVT RMSE < {THRESHOLDS['dvt_rmse_mV']} mV"] = summary["dvt_rmse_mV"] < THRESHOLDS["dvt_rmse_mV"]
    print("overall: " + ", ".join(f"{k} = {v:.4f}" if isinstance(v, float) else f"{k} = {v}" for k, v in summary.items()))
    for name, passed in checks.items():
        print(f"  [{'pass' if passed else 'FAIL'}] {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
