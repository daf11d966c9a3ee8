"""Tests of neuron_as_deep_net.core.config: a script's parameter block, presets and command-line overrides."""

import json

import numpy
import pytest

from neuron_as_deep_net.core import config

PRESETS = {
    "small": {"num_simulations_train": 64, "learning_rate": 1e-3, "sizes": [8, 4]},
    "flagless": {"use_x": False},
}


@pytest.fixture
def namespace():
    """A fake script module's globals()."""
    return {
        "num_simulations_train": 12000,
        "learning_rate": 3e-4,
        "use_x": True,
        "collect_and_save_dvts": True,
        "name": "a",
        "sizes": [54, 24, 24],
        "maybe": None,
        "SKE2_mult_factor": 1.0,
        "PRESETS": PRESETS,
        "MAX_SIZE": 5,
        "_private": 3,
        "np": numpy,
        "helper": lambda x: x,
        "table": {"not": "a parameter"},
    }


def run(namespace, argv, presets=PRESETS, aliases=None):
    return config.configure(namespace, presets, argv, aliases=aliases, verbose=False)


def test_collect_parameters_selection(namespace):
    params = config.collect_parameters(namespace)
    assert set(params) == {"num_simulations_train", "learning_rate", "use_x", "collect_and_save_dvts", "name",
                           "sizes", "maybe", "SKE2_mult_factor"}


def test_defaults_without_arguments(namespace):
    p = run(namespace, [])
    assert p.num_simulations_train == 12000 and p.learning_rate == 3e-4 and p.use_x is True
    assert p.sizes == [54, 24, 24] and p.maybe is None and p.SKE2_mult_factor == 1.0 and p.preset is None
    assert not hasattr(p, "np") and not hasattr(p, "PRESETS") and not hasattr(p, "MAX_SIZE")


def test_int_override_reaches_result_and_namespace(namespace):
    p = run(namespace, ["--num-simulations-train", "200"])
    assert p.num_simulations_train == 200 and type(p.num_simulations_train) is int
    assert namespace["num_simulations_train"] == 200  # module-level code sees the final value


def test_bad_int_is_an_error(namespace, capsys):
    for text in ("2.5e3", "many"):
        with pytest.raises(SystemExit) as exit_info:
            run(namespace, ["--num-simulations-train", text])
        assert exit_info.value.code == 2
        assert "--num-simulations-train" in capsys.readouterr().err


@pytest.mark.parametrize("text, value", [("1e-3", 1e-3), ("2", 2.0), ("-0.5", -0.5)])
def test_float_override(namespace, text, value):
    p = run(namespace, ["--learning-rate", text])
    assert p.learning_rate == value and type(p.learning_rate) is float


def test_bad_float_is_an_error(namespace):
    with pytest.raises(SystemExit):
        run(namespace, ["--learning-rate", "fast"])


@pytest.mark.parametrize("text, value", [("true", True), ("false", False), ("1", True), ("0", False),
                                         ("yes", True), ("no", False), ("False", False), ("TRUE", True)])
def test_bool_override(namespace, text, value):
    p = run(namespace, ["--use-x", text])
    assert p.use_x is value


def test_bad_bool_is_an_error(namespace):
    with pytest.raises(SystemExit):
        run(namespace, ["--use-x", "maybe"])


def test_string_override_stays_a_string(namespace):
    assert run(namespace, ["--name", "123"]).name == "123"


@pytest.mark.parametrize("text, value", [
    ("54,24,24", [54, 24, 24]),
    ("7", [7]),
    ("1.5, 2, a", [1.5, 2, "a"]),
    ("[[0, 800], [-600, 200]]", [[0, 800], [-600, 200]]),
    ("[]", []),
])
def test_list_override(namespace, text, value):
    assert run(namespace, ["--sizes", text]).sizes == value


def test_list_json_must_be_a_list(namespace):
    with pytest.raises(SystemExit):
        run(namespace, ["--sizes", "[1, 2"])


@pytest.mark.parametrize("text, value", [("5", 5), ("2.5", 2.5), ("abc", "abc"), ("[1, 2]", [1, 2]),
                                         ("null", None), ('"quoted"', "quoted")])
def test_none_default_parses_json_or_string(namespace, text, value):
    p = run(namespace, ["--maybe", text])
    assert p.maybe == value and type(p.maybe) is type(value)


def test_mixed_case_parameter_is_configurable(namespace):
    p = run(namespace, ["--SKE2-mult-factor", "0.1"])
    assert p.SKE2_mult_factor == 0.1


def test_unknown_option_is_an_argparse_error(namespace, capsys):
    with pytest.raises(SystemExit) as error:
        run(namespace, ["--num-simulations-tests", "3"])
    assert error.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_no_abbreviations(namespace):
    with pytest.raises(SystemExit):
        run(namespace, ["--num-sim", "3"])


@pytest.mark.parametrize("argv", [["--np", "1"], ["--max-size", "1"], ["--presets", "1"], ["--private", "1"]])
def test_non_parameters_have_no_option(namespace, argv):
    with pytest.raises(SystemExit):
        run(namespace, argv)


def test_preset_applied_then_explicit_overrides_win(namespace):
    p = run(namespace, ["--preset", "small"])
    assert (p.num_simulations_train, p.learning_rate, p.sizes, p.preset) == (64, 1e-3, [8, 4], "small")
    assert p.use_x is True  # untouched by the preset
    for argv in (["--preset", "small", "--num-simulations-train", "10"],
                 ["--num-simulations-train", "10", "--preset", "small"]):
        p = run(dict(namespace), argv)
        assert p.num_simulations_train == 10 and p.learning_rate == 1e-3


def test_unknown_preset_name_is_an_argparse_error(namespace):
    with pytest.raises(SystemExit):
        run(namespace, ["--preset", "huge"])


def test_preset_with_unknown_key_is_rejected(namespace):
    with pytest.raises(ValueError, match="not_a_parameter"):
        run(namespace, [], presets={"bad": {"not_a_parameter": 1}})


@pytest.mark.parametrize("preset", [{"num_simulations_train": "many"}, {"use_x": 1}, {"num_simulations_train": True},
                                    {"sizes": "1,2"}])
def test_preset_with_wrong_type_is_rejected(namespace, preset):
    with pytest.raises(ValueError):
        run(namespace, [], presets={"bad": preset})


def test_preset_int_for_float_parameter_is_accepted(namespace):
    assert run(namespace, ["--preset", "p"], presets={"p": {"learning_rate": 1}}).learning_rate == 1


def test_aliases(namespace):
    aliases = {"--no-dvts": ("collect_and_save_dvts", False)}
    assert run(dict(namespace), [], aliases=aliases).collect_and_save_dvts is True
    assert run(dict(namespace), ["--no-dvts"], aliases=aliases).collect_and_save_dvts is False
    assert run(dict(namespace), ["--collect-and-save-dvts", "false"], aliases=aliases).collect_and_save_dvts is False


def test_help_lists_every_parameter_with_its_default(namespace, capsys):
    with pytest.raises(SystemExit) as error:
        run(namespace, ["--help"])
    assert error.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    expected = {
        "--num-simulations-train": "default 12000",
        "--learning-rate": "default 0.0003",
        "--use-x": "default True",
        "--collect-and-save-dvts": "default True",
        "--name": "default 'a'",
        "--sizes": "default [54, 24, 24]",
        "--maybe": "default None",
        "--SKE2-mult-factor": "default 1.0",
    }
    for option, default in expected.items():
        assert option in text
        assert default in text, default
    assert "--preset" in text and "small" in text
    assert "--np" not in text and "--max-size" not in text and "MAX_SIZE" not in text


def test_verbose_prints_changed_values(namespace, capsys):
    config.configure(namespace, PRESETS, ["--preset", "small", "--use-x", "false"], verbose=True)
    out = capsys.readouterr().out
    assert "preset: small" in out and "use_x = False" in out and "num_simulations_train = 64" in out
    assert "learning_rate" in out and "name =" not in out


def test_parameters_snapshot_is_json_serialisable(namespace):
    p = run(namespace, ["--preset", "small"])
    snapshot = config.parameters_snapshot(p)
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot["num_simulations_train"] == 64 and snapshot["preset"] == "small"
    assert "np" not in snapshot


def test_option_name():
    assert config.option_name("num_simulations_train") == "--num-simulations-train"
    assert config.option_name("SKE2_mult_factor") == "--SKE2-mult-factor"


def test_repeated_configure_starts_from_the_written_defaults():
    """Overrides are written back into the script's globals, but a second call starts from the defaults."""
    from neuron_as_deep_net.core.config import configure

    namespace = {"num_simulations": 4, "names": ["a"]}
    first = configure(namespace, {}, ["--num-simulations", "9", "--names", "b,c"], verbose=False)
    assert first.num_simulations == 9 and namespace["num_simulations"] == 9  # module-level code sees it
    second = configure(namespace, {}, [], verbose=False)
    assert second.num_simulations == 4 and second.names == ["a"]


# ---- constraints: the leading [...] of a parameter's inline comment ----------------------------------------------

SCRIPT_SOURCE = '''\
"""A fake script."""
num_simulations = 128  # [>= 1] trials
fraction = 0.5  # [> 0, <= 1] of the files
solver = "cvode"  # [cvode | fixed | fast] the solver
excitatory_preset = ""  # ["" | AMPA | NMDA_rodent] empty: the cell's own
configs = ["A", "B"]  # [each A | B | C]
repeats = [3,
           4]  # [each >= 1] per cell (the comment of a multi-line assignment)
train_dir = ""  # [folder] data
morphology = None  # [file] cell1.asc
seed = None  # [>= 0] None draws one
ranges = None  # [each >= 0] e.g. [0, 800]
threshold = -55.0  # mV, [not a constraint]: the comment does not start with a bracket
plain = 3  # no constraint
PRESETS = {"quick": {"num_simulations": 8}}
'''


@pytest.fixture
def script(tmp_path):
    """A fake script file and its globals (with __file__, as configure() gets them from a real script)."""
    path = tmp_path / "fake_script.py"
    path.write_text(SCRIPT_SOURCE)
    namespace = {"__file__": str(path)}
    exec(compile(SCRIPT_SOURCE, str(path), "exec"), namespace)
    return namespace


def test_read_constraints_from_the_source(script):
    found = config.read_constraints(script["__file__"])
    assert {name: text for name, (text, _) in found.items()} == {
        "num_simulations": ">= 1", "fraction": "> 0, <= 1", "solver": "cvode | fixed | fast",
        "excitatory_preset": '"" | AMPA | NMDA_rodent', "configs": "each A | B | C", "repeats": "each >= 1",
        "train_dir": "folder", "morphology": "file", "seed": ">= 0", "ranges": "each >= 0"}
    assert found["repeats"][1] == 8  # the line of the comment


def test_valid_values_pass(script, tmp_path):
    p = run(script, ["--num-simulations", "1", "--fraction", "1", "--solver", "fast", "--excitatory-preset", "AMPA",
                     "--configs", "C,A", "--repeats", "1,9", "--train-dir", str(tmp_path),
                     "--morphology", script["__file__"], "--seed", "0", "--ranges", "0,800"], presets={})
    assert (p.num_simulations, p.fraction, p.configs, p.ranges, p.seed) == (1, 1.0, ["C", "A"], [0, 800], 0)


@pytest.mark.parametrize("argv, message", [
    (["--num-simulations", "-2"], "--num-simulations must be >= 1 (got -2)"),
    (["--num-simulations", "0"], "--num-simulations must be >= 1 (got 0)"),
    (["--fraction", "0"], "--fraction must be > 0 (got 0.0)"),
    (["--fraction", "1.5"], "--fraction must be <= 1 (got 1.5)"),
    (["--solver", "foo"], "--solver must be one of cvode, fixed, fast (got 'foo')"),
    (["--excitatory-preset", "NMDA"], '--excitatory-preset must be one of "", AMPA, NMDA_rodent (got \'NMDA\')'),
    (["--configs", "A,F"], "each value of --configs must be one of A, B, C (got 'F')"),
    (["--repeats", "2,0"], "each value of --repeats must be >= 1 (got 0)"),
    (["--train-dir", "/no/such/folder"], "--train-dir: folder not found: /no/such/folder"),
    (["--morphology", "/no/such/cell1.asc"], "--morphology: file not found: /no/such/cell1.asc"),
    (["--seed", "-1"], "--seed must be >= 0 (got -1)"),
    (["--seed", "abc"], "--seed must be a number >= 0 (got 'abc')"),
    (["--ranges", "0,-5"], "each value of --ranges must be >= 0 (got -5)"),
])
def test_violations_are_user_errors(script, argv, message):
    with pytest.raises(config.UserError) as error:
        run(script, argv, presets={})
    assert str(error.value) == message


def test_path_of_the_wrong_kind(script, tmp_path):
    with pytest.raises(config.UserError, match="--train-dir: not a folder: "):
        run(script, ["--train-dir", script["__file__"]], presets={})
    with pytest.raises(config.UserError, match="--morphology: not a file: "):
        run(script, ["--morphology", str(tmp_path)], presets={})


def test_none_and_empty_skip_every_check(script):
    p = run(script, ["--seed", "null"], presets={})
    assert p.seed is None and p.train_dir == "" and p.morphology is None


def test_a_chosen_preset_is_checked_like_an_override(script):
    assert run(script, ["--preset", "ok"], presets={"ok": {"num_simulations": 8}}).num_simulations == 8
    with pytest.raises(config.UserError, match="--solver must be one of"):
        run(script, ["--solver", "x", "--preset", "ok"], presets={"ok": {"num_simulations": 8}})


def test_a_preset_or_default_breaking_its_constraint_is_a_programming_error(script):
    broken_default = dict(script, num_simulations=0)
    with pytest.raises(ValueError, match="preset 'bad' breaks the constraint \\[>= 1\\] of num_simulations"):
        run(script, [], presets={"bad": {"num_simulations": 0}})  # even when not chosen
    with pytest.raises(ValueError, match="the default of num_simulations breaks its constraint"):
        run(broken_default, [], presets={})


@pytest.mark.parametrize("comment", ["[positive]", "[>= one]", "[each]", "[file?]"])
def test_unknown_constraint_word_names_script_and_line(tmp_path, comment):
    path = tmp_path / "bad_script.py"
    path.write_text(f"x = 1\nnum_things = 3  # {comment} things\n")
    namespace = {"__file__": str(path), "x": 1, "num_things": 3}
    with pytest.raises(ValueError, match="bad_script.py:2: unknown constraint"):
        run(namespace, [], presets={})


def test_unclosed_bracket_is_a_programming_error(tmp_path):
    path = tmp_path / "bad_script.py"
    path.write_text("num_things = 3  # [>= 1 things\n")
    with pytest.raises(ValueError, match="no closing"):
        run({"__file__": str(path), "num_things": 3}, [], presets={})


def test_each_on_a_scalar_and_choices_on_a_list_are_programming_errors():
    with pytest.raises(ValueError, match="'each' constrains a list"):
        config.configure({"n": 3}, {}, [], verbose=False, constraints={"n": "each >= 1"})
    with pytest.raises(ValueError, match="use 'each'"):
        config.configure({"n": ["a"]}, {}, [], verbose=False, constraints={"n": "a | b"})


def test_explicit_constraints_and_a_namespace_without_file():
    assert config.configure({"n": -3}, {}, [], verbose=False).n == -3  # no __file__: no constraints
    with pytest.raises(config.UserError, match="--n must be < 10 \\(got 12\\)"):
        config.configure({"n": 3}, {}, ["--n", "12"], verbose=False, constraints={"n": "[> 0, < 10]"})


def test_choices_are_read_as_the_parameter_type():
    namespace = {"window": 64}
    assert config.configure(namespace, {}, ["--window", "128"], verbose=False,
                            constraints={"window": "64 | 128"}).window == 128
    with pytest.raises(config.UserError, match="must be one of 64, 128 \\(got 100\\)"):
        config.configure(namespace, {}, ["--window", "100"], verbose=False, constraints={"window": "64 | 128"})


def test_violations_leave_the_namespace_untouched(script):
    with pytest.raises(config.UserError):
        run(script, ["--num-simulations", "-2", "--solver", "fast"], presets={})
    assert script["num_simulations"] == 128 and script["solver"] == "cvode"


# ---- run(): one line and exit status 2 for a user error, the traceback for anything else -------------------------

def test_run_turns_a_user_error_into_one_line(capsys, monkeypatch):
    monkeypatch.delenv(config.DEBUG_ENV_VAR, raising=False)

    def main(argv):
        raise config.UserError("--num-simulations must be >= 1 (got -2)")

    with pytest.raises(SystemExit) as exit_info:
        config.run(main, ["--num-simulations", "-2"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: --num-simulations must be >= 1 (got -2)\n"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_run_debug_shows_the_traceback(monkeypatch, how):
    seen = []

    def main(argv):
        seen.append(argv)
        raise config.UserError("bad")

    monkeypatch.delenv(config.DEBUG_ENV_VAR, raising=False)
    argv = ["--a", "1", "--debug"] if how == "flag" else ["--a", "1"]
    if how == "env":
        monkeypatch.setenv(config.DEBUG_ENV_VAR, "1")
    with pytest.raises(config.UserError, match="bad"):
        config.run(main, argv)
    assert seen == [["--a", "1"]]  # --debug never reaches the parser


def test_run_keeps_programming_errors_and_exit_codes(monkeypatch):
    monkeypatch.delenv(config.DEBUG_ENV_VAR, raising=False)

    def broken(argv):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        config.run(broken, [])
    for result, code in ((None, 1), (False, 1), ({"AUC": 0.9}, 0), ([], 0)):
        with pytest.raises(SystemExit) as exit_info:
            config.run(lambda argv, result=result: result, [])
        assert exit_info.value.code == code
