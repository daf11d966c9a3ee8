"""Score trained ball-and-stick twins on the validation files, to compare training recipes without the test files.

For each twin run folder (``<models>/<cell>/<run name>/``, as train_DNN_twin_of_BS_neuron.py writes it) it loads
the best checkpoint and scores it on its cell's validation split the way the test is scored (one 8128-ms window
per file, evaluation.evaluate_ball_and_stick_twin): spike AUC and soma explained variance, next to the best
validation spike loss of its history.json. This is how the quick preset's recipe was chosen (README,
ball-and-stick); the test AUCs the training script also prints are not meant for that.

    python tools/ball_and_stick_validation_scores.py --data-dir OUT/data OUT/models/NMDA_cable/*
    python tools/ball_and_stick_validation_scores.py --data-dir OUT/data --output-csv scores.csv RUN_A RUN_D
"""

import argparse
import csv
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

COLUMNS = ["run", "cell", "config", "valid_AUC", "valid_soma_explained_variance_percent", "best_valid_spike_loss",
           "num_valid_files"]


def run_cell(run_dir):
    """The cell a twin was trained on: its results.json / params.json, else the parent folder's name."""
    for name in ("results.json", "params.json"):
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            with open(path) as handle:
                cell = json.load(handle).get("cell")
            if cell:
                return cell
    return os.path.basename(os.path.dirname(os.path.abspath(run_dir)))


def validation_scores(run_dirs, data_dir):
    """One row per run folder (COLUMNS); each cell's validation split is loaded once."""
    from neuron_as_deep_net.ball_and_stick import dataset, evaluation, training

    splits, rows = {}, []
    for run_dir in run_dirs:
        cell = run_cell(run_dir)
        if cell not in splits:
            splits[cell] = dataset.load_split(dataset.find_dataset_folder(data_dir, cell), "valid")
        model = training.load_ball_and_stick_twin(run_dir)
        results, _ = evaluation.evaluate_ball_and_stick_twin(model, splits[cell])
        history_path = os.path.join(run_dir, "history.json")
        history = []
        if os.path.isfile(history_path):  # written by the training; a twin saved by other means may lack it
            with open(history_path) as handle:
                history = json.load(handle)
        with open(os.path.join(run_dir, "model.json")) as handle:
            config = json.load(handle).get("config", "")
        rows.append({"run": run_dir, "cell": cell, "config": config, "valid_AUC": results["AUC"],
                     "valid_soma_explained_variance_percent": results["soma_explained_variance_percent"],
                     "best_valid_spike_loss": min((entry["valid_spikes"] for entry in history),
                                                  default=float("nan")),
                     "num_valid_files": results["num_test_files"]})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="twin run folders (<models>/<cell>/<run name>)")
    parser.add_argument("--data-dir", required=True, help="root of the datasets (<short name>/{train,valid,test})")
    parser.add_argument("--output-csv", default="", help="also write the rows here")
    args = parser.parse_args(argv)
    from neuron_as_deep_net.core.errors import UserError

    try:
        rows = validation_scores(args.runs, args.data_dir)
    except UserError as error:
        raise SystemExit(f"error: {error}")
    for row in rows:
        print(f"{row['run']}: {row['cell']} {row['config']}: valid AUC {row['valid_AUC']:.4f}, soma explained "
              f"variance {row['valid_soma_explained_variance_percent']:.1f} %, best valid spike loss "
              f"{row['best_valid_spike_loss']:.5f} ({row['num_valid_files']} validation files)")
    if args.output_csv:
        from neuron_as_deep_net.core.files import atomic_write

        with atomic_write(args.output_csv, "w") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return rows


if __name__ == "__main__":
    main()
