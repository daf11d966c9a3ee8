"""reproduce.py: stage order, resume, first-failure stop, the report (issue: one-command reproduction)."""

import base64
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import reproduce  # noqa: E402
from neuron_as_deep_net.core import report  # noqa: E402
from neuron_as_deep_net.core.errors import UserError  # noqa: E402
from conftest import needs_morphology  # noqa: E402

# a 1x1 PNG
PNG_BYTES = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def fake_stage(name, exit_code=0, metric=1.0):
    """A stage whose command appends its name to OUT/order.txt and writes a PNG and a metric."""

    def build(p, folder):
        code = (f"import os, sys; open(os.path.join({p.output_dir!r}, 'order.txt'), 'a').write({name!r} + '\\n'); "
                f"open(os.path.join({folder!r}, 'plot.png'), 'wb').write({PNG_BYTES!r}); sys.exit({exit_code})")
        return {"title": f"stage {name}", "description": f"what {name} shows",
                "commands": [[reproduce.PYTHON, "-c", code]],
                "collect": lambda: {"metrics": {"AUC": metric, "count": 3}}}

    return build


@pytest.fixture
def fake_stages(monkeypatch):
    stages = {"integrate_and_fire": fake_stage("integrate_and_fire", metric=0.998),
              "second": fake_stage("second"), "third": fake_stage("third")}
    monkeypatch.setattr(reproduce, "STAGES", stages)
    return stages


def order(out):
    with open(os.path.join(out, "order.txt")) as handle:
        return handle.read().split()


def test_stages_run_in_order_and_report_is_written(tmp_path, fake_stages):
    out = str(tmp_path)
    records = reproduce.main(["--stages", "integrate_and_fire,second,third", "--output-dir", out])
    assert [r["status"] for r in records] == ["done"] * 3
    assert order(out) == ["integrate_and_fire", "second", "third"]
    markdown = open(os.path.join(out, "REPORT.md")).read()
    # measured metric beside the published one, the exact command, the figure
    assert "| AUC | 0.998 | about 0.997 |" in markdown
    assert "python -c" in markdown and "](integrate_and_fire/plot.png)" in markdown
    assert "logical cores" in markdown  # the machine
    html_text = open(os.path.join(out, "REPORT.html")).read()
    assert html_text.count("data:image/png;base64,") == 3  # every figure embedded
    record = json.load(open(os.path.join(out, "second", reproduce.RECORD_NAME)))
    assert record["metrics"] == {"AUC": 1.0, "count": 3} and record["figures"] == ["second/plot.png"]


def test_finished_stages_are_skipped_and_failure_stops(tmp_path, fake_stages, monkeypatch, capsys):
    out = str(tmp_path)
    reproduce.main(["--stages", "integrate_and_fire", "--output-dir", out])
    monkeypatch.setitem(reproduce.STAGES, "second", fake_stage("second", exit_code=3))
    result = reproduce.main(["--stages", "integrate_and_fire,second,third", "--output-dir", out])
    assert result is None
    assert order(out) == ["integrate_and_fire", "second"]  # the first was skipped, the third never ran
    error = capsys.readouterr().err
    assert "stage 'second' failed (exit code 3)" in error and os.path.join(out, "second", "log.txt") in error
    markdown = open(os.path.join(out, "REPORT.md")).read()
    assert "| stage second | failed |" in markdown and "| third | not run |" in markdown
    # after the fix, the same command resumes at the failed stage
    monkeypatch.setitem(reproduce.STAGES, "second", fake_stage("second"))
    records = reproduce.main(["--stages", "integrate_and_fire,second,third", "--output-dir", out])
    assert [r["status"] for r in records] == ["done"] * 3
    assert order(out) == ["integrate_and_fire", "second", "second", "third"]


def test_l5pc_stages_stop_clearly_without_morphology(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("L5PC_MORPHOLOGY", str(tmp_path / "missing.asc"))
    monkeypatch.setattr(reproduce, "STAGES", {"integrate_and_fire": fake_stage("integrate_and_fire"),
                                              "l5pc_dataset": fake_stage("l5pc_dataset")})
    out = str(tmp_path / "out")
    assert reproduce.main(["--stages", "integrate_and_fire,l5pc_dataset", "--output-dir", out]) is None
    assert order(out) == ["integrate_and_fire"]  # the stage without the morphology still ran
    error = capsys.readouterr().err
    assert "needs the L5PC morphology" in error and "download_morphology" in error


def test_unknown_stage_is_an_error(tmp_path):
    with pytest.raises(UserError, match="unknown stage"):
        reproduce.main(["--stages", "integrate_and_fire,nonsense", "--output-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_report_formatting():
    assert report.format_duration(3725) == "1 h 02 min" and report.format_duration(65) == "1 min 05 s"
    assert report.format_command(["python", "a b.py", "--x", 1]) == "python 'a b.py' --x 1"
    stage = {"key": "ball_and_stick", "metrics": {"NMDA_cable AUC": 0.97123}}
    assert report.metric_rows(stage) == [("NMDA_cable AUC", "0.9712", "0.97555 (config C)", "tutorial, config C")]


@pytest.mark.slow
@pytest.mark.neuron
@needs_morphology
def test_smoke_preset_runs_every_stage_end_to_end(tmp_path):
    """The CI version of the one-command reproduction: every real stage at the smoke scale, as a user runs it."""
    out = tmp_path / "out"
    completed = subprocess.run([sys.executable, "reproduce.py", "--preset", "smoke", "--output-dir", str(out)],
                               cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    every_stage = ["integrate_and_fire", "ball_and_stick", "l5pc_dataset", "l5pc_training", "l5pc_evaluation",
                   "l5pc_figures"]
    for stage in every_stage:
        record = json.load(open(out / stage / reproduce.RECORD_NAME))
        assert record["status"] == "done", stage
        if stage not in ("l5pc_dataset", "l5pc_training"):  # the two stages that make data, not figures
            assert record["figures"], f"stage {stage} produced no figure"
    markdown = (out / "REPORT.md").read_text()
    # every stage's metrics are measured numbers (none missing), beside the published ones
    assert "| AMPA_point AUC | " in markdown and "0.99904 (config C)" in markdown
    assert "| None |" not in markdown and "| nan |" not in markdown
    ball_and_stick = json.load(open(out / "ball_and_stick" / reproduce.RECORD_NAME))["metrics"]
    assert 0.0 <= ball_and_stick["AMPA_point AUC"] <= 1.0 and "A " in ball_and_stick["AMPA_point AUC per config"]
    html_text = (out / "REPORT.html").read_text()
    assert html_text.count("data:image/png;base64,") >= len(every_stage) - 2
