"""Parameter blocks and command-line overrides, shared by every script.

Each top-level script keeps its defaults as plain module-level variables between ``# ----`` rulers (lower-case
names holding int/float/bool/str/list/None values) and a ``PRESETS`` dict of named override sets. Its ``main``
calls :func:`configure`, which

* collects the parameters from the script's globals (names that are not UPPER_CASE, holding plain values),
* applies ``--preset NAME`` first, then every ``--parameter-name value`` override (checked against the
  parameter's type; unknown names are an error),
* prints every changed value, and returns the parameters as a :class:`types.SimpleNamespace`.

``--help`` lists every parameter with its default. Lists are given as comma-separated values
(``--filter-sizes 54,24,24``) or JSON (``--ranges "[[0, 800]]"``); booleans as true/false/1/0/yes/no.

Constraints. A parameter's inline comment may start with its allowed values in brackets, which configure()
enforces on the final values (after the preset and the overrides) before it returns::

    num_simulations = 128  # [>= 1] trials in the file
    validation_fraction = 0.5  # [> 0, <= 1] ...
    solver = "cvode"  # [cvode | fixed | fast] ...
    excitatory_preset = ""  # ["" | AMPA | NMDA_rodent] ...
    train_dir = "data/train"  # [folder] ...
    configs = ["A", "B"]  # [each A | B | C | D | E] ...

Terms, separated by commas: ``>= x``, ``> x``, ``<= x``, ``< x`` (numbers); ``a | b | c`` (choices, read as
the parameter's type; ``""`` is the empty string); ``file`` / ``folder`` (must exist; an empty value means "not
given" and is not checked). The prefix ``each`` applies the terms to every element of a list. A None value
skips every check. A violation raises :class:`~.errors.UserError` (``--num-simulations must be >= 1 (got
-2)``); an unknown term, or a default or preset that breaks its own constraint, is a programming error
(ValueError). :func:`run` is the scripts' entry point: it prints a UserError as one line and exits with 2.
"""

import argparse
import ast
import copy
import functools
import io
import json
import operator
import os
import sys
import tokenize
import types

from .errors import UserError

PLAIN_TYPES = (bool, int, float, str, list, type(None))
DEFAULTS_KEY = "_parameter_block_defaults"  # where configure() keeps a script's defaults as written


def collect_parameters(namespace):
    """The parameter block of a script: globals holding plain values, except UPPER_CASE constants and _private."""
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("_") and not name.isupper() and isinstance(value, PLAIN_TYPES)
        and not isinstance(value, types.ModuleType)
    }


def option_name(parameter_name):
    """'num_simulations_train' -> '--num-simulations-train'."""
    return "--" + parameter_name.replace("_", "-")


def parse_bool(text):
    """Parse a command-line boolean."""
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "y", "on"):
        return True
    if lowered in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), got {text!r}")


def parse_scalar(text):
    """Best-effort parse of a list element or an untyped (None-default) value."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text


def parse_value(text, default, name):
    """Convert ``text`` to the type of ``default`` (the parameter's declared value)."""
    try:
        if isinstance(default, bool):
            return parse_bool(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, str):
            return text
        if isinstance(default, list):
            stripped = text.strip()
            if stripped.startswith("["):
                value = json.loads(stripped)
                if not isinstance(value, list):
                    raise ValueError("not a list")
                return value
            return [parse_scalar(item.strip()) for item in stripped.split(",") if item.strip()]
        return parse_scalar(text)
    except ValueError as error:
        raise ValueError(f"{option_name(name)}: cannot read {text!r} as {type(default).__name__} ({error})") from None


def check_type(name, value, default):
    """Raise ValueError when a preset value does not have the parameter's type."""
    if default is None or value is None:
        return
    if isinstance(default, bool) != isinstance(value, bool):
        raise ValueError(f"{name}: expected {type(default).__name__}, got {value!r}")
    if isinstance(default, float) and isinstance(value, (int, float)):
        return
    if not isinstance(value, type(default)):
        raise ValueError(f"{name}: expected {type(default).__name__}, got {value!r}")


# ---- constraints: the leading [...] of a parameter's inline comment --------------------------------------------

COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
PATH_KINDS = {"file": os.path.isfile, "folder": os.path.isdir}
EMPTY_CHOICES = ('""', "''")


def read_constraints(source_path):
    """{parameter name: (text inside the brackets, line)} of a script's top-level assignments whose inline
    comment (on any line of the assignment) starts with ``[``."""
    stat = os.stat(source_path)
    return dict(_read_constraints(os.path.abspath(source_path), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=64)
def _read_constraints(source_path, mtime_ns, size):
    """read_constraints, remembered per version of the file (tests and notebooks call main() many times)."""
    with open(source_path, encoding="utf-8") as handle:
        text = handle.read()
    comments = {token.start[0]: token.string[1:].strip()
                for token in tokenize.generate_tokens(io.StringIO(text).readline) if token.type == tokenize.COMMENT}
    found = {}
    for node in ast.parse(text, filename=source_path).body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        names = [target.id for target in targets if isinstance(target, ast.Name)]
        for line in range(node.lineno, node.end_lineno + 1):
            comment = comments.get(line, "")
            if comment.startswith("["):
                if "]" not in comment:
                    raise ValueError(f"{source_path}:{line}: the constraint of {names} has no closing ']'")
                found.update({name: (comment[1:comment.index("]")], line) for name in names})
                break
    return found


class Constraint:
    """The parsed constraint of one parameter (see the module docstring for the grammar)."""

    def __init__(self, name, text, default, where):
        self.name, self.text, self.where = name, text.strip(), where
        body = self.text
        self.each = body.startswith("each ")
        if self.each:
            body = body[len("each "):]
            if default is not None and not isinstance(default, list):
                raise ValueError(f"{where}: 'each' constrains a list, but {name} defaults to {default!r}")
        element = default[0] if self.each and default else (None if self.each else default)
        self.terms = [self.parse_term(term.strip(), element) for term in body.split(",")]

    def parse_term(self, term, element):
        """('compare', symbol, number text, number) | ('choice', values) | ('path', kind); ValueError if unknown."""
        for symbol in (">=", "<=", ">", "<"):
            if term.startswith(symbol):
                number = term[len(symbol):].strip()
                try:
                    return ("compare", symbol, number, float(number))
                except ValueError:
                    break
        if "|" in term:
            if isinstance(element, list):
                raise ValueError(f"{self.where}: choices constrain single values; use 'each' for the list {self.name}")
            values = []
            for choice in (choice.strip() for choice in term.split("|")):
                if choice in EMPTY_CHOICES:
                    values.append("")
                elif element is None:
                    values.append(parse_scalar(choice))
                else:
                    values.append(parse_value(choice, element, self.name))
            return ("choice", values)
        if term in PATH_KINDS:
            return ("path", term)
        raise ValueError(f"{self.where}: unknown constraint {term!r} for {self.name} (known: >= x, > x, <= x, < x, "
                         f"a | b | c, file, folder, each ...)")

    def problem(self, value, check_paths=True):
        """None if ``value`` meets the constraint, else the message (it starts with the option name)."""
        option = option_name(self.name)
        if value is None:
            return None
        if self.each and not isinstance(value, list):
            return f"{option} must be a list (got {value!r})"
        for element in (value if self.each else [value]):
            subject = f"each value of {option}" if self.each else option
            for term in self.terms:
                message = self.term_problem(term, element, subject, check_paths)
                if message:
                    return message
        return None

    @staticmethod
    def term_problem(term, value, subject, check_paths):
        if value is None:
            return None
        kind = term[0]
        if kind == "compare":
            _, symbol, text, number = term
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{subject} must be a number {symbol} {text} (got {value!r})"
            if not COMPARISONS[symbol](value, number):
                return f"{subject} must be {symbol} {text} (got {value!r})"
        elif kind == "choice":
            if value not in term[1] or isinstance(value, bool) != any(isinstance(c, bool) for c in term[1]):
                shown = ", ".join('""' if choice == "" else str(choice) for choice in term[1])
                return f"{subject} must be one of {shown} (got {value!r})"
        elif check_paths and value != "":
            path_kind = term[1]
            if not isinstance(value, str):
                return f"{subject} must be the path of a {path_kind} (got {value!r})"
            if not PATH_KINDS[path_kind](value):
                if os.path.exists(value):
                    return f"{subject}: not a {path_kind}: {value}"
                return f"{subject}: {path_kind} not found: {value}"
        return None


def parameter_constraints(namespace, defaults, explicit=None):
    """{name: Constraint} of a parameter block, from ``explicit`` ({name: text}) or the source of
    ``namespace['__file__']`` (none without it)."""
    if explicit is not None:
        raw = {name: (text.strip().removeprefix("[").removesuffix("]"), None) for name, text in explicit.items()}
        source = "constraints"
    else:
        source = namespace.get("__file__")
        if not source or not str(source).endswith(".py") or not os.path.isfile(source):
            return {}
        raw = read_constraints(source)
    return {name: Constraint(name, text, defaults[name], f"{source}:{line}" if line else source)
            for name, (text, line) in raw.items() if name in defaults}


def check_own_values(rules, defaults, presets):
    """ValueError (a programming error) when a default or a preset value breaks its own constraint (files and
    folders are left to the final check: defaults name places that exist only on the user's machine)."""
    for name, rule in rules.items():
        problem = rule.problem(defaults[name], check_paths=False)
        if problem:
            raise ValueError(f"{rule.where}: the default of {name} breaks its constraint [{rule.text}]: {problem}")
        for preset_name, preset in presets.items():
            problem = rule.problem(preset[name], check_paths=False) if name in preset else None
            if problem:
                raise ValueError(f"preset {preset_name!r} breaks the constraint [{rule.text}] of {name}: {problem}")


def check_constraints(rules, params):
    """UserError naming the first parameter whose final value breaks its constraint (values first, in the block's
    order, then the files and folders)."""
    for check_paths in (False, True):
        for name, rule in rules.items():
            problem = rule.problem(params[name], check_paths)
            if problem:
                raise UserError(problem)


def build_parser(defaults, presets, description, aliases):
    """The argparse parser listing every parameter with its default."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    if presets:
        parser.add_argument("--preset", choices=sorted(presets), help="named set of overrides (applied first)")
    group = parser.add_argument_group("parameters (defaults from the script's parameter block)")
    for name, value in defaults.items():
        shown = json.dumps(value) if isinstance(value, list) else repr(value)
        preset_note = "; ".join(f"{p}: {presets[p][name]!r}" for p in sorted(presets) if name in presets[p])
        help_text = f"default {shown}" + (f" ({preset_note})" if preset_note else "")
        group.add_argument(option_name(name), dest=name, metavar=type(value).__name__.upper()
                           if value is not None else "VALUE", default=None, help=help_text)
    for flag, (name, value) in (aliases or {}).items():
        group.add_argument(flag, dest=name, action="store_const", const=json.dumps(value),
                           help=f"same as {option_name(name)} {json.dumps(value)}")
    return parser


def configure(namespace, presets=None, argv=None, description=None, aliases=None, verbose=True, constraints=None):
    """Apply ``--preset`` and ``--name value`` overrides to a script's parameter block; return a namespace.

    ``namespace`` is the script's ``globals()``; ``aliases`` maps extra flags to fixed values, e.g.
    ``{'--no-dvts': ('collect_and_save_dvts', False)}``. Also updates ``namespace`` in place so module-level
    code sees the final values. The constraints come from the comments of the script's source
    (``namespace['__file__']``; none without it) unless ``constraints`` ({name: '[...] text'}) is given; the
    final values are checked against them (UserError) before anything is returned.
    """
    presets = presets or {}
    # the block as written, remembered on first use: a second main() call in one process (tests, notebooks)
    # starts from the script's defaults, not from the previous call's overrides written back below
    if DEFAULTS_KEY not in namespace:
        namespace[DEFAULTS_KEY] = copy.deepcopy(collect_parameters(namespace))
    defaults = copy.deepcopy(namespace[DEFAULTS_KEY])
    for preset_name, preset in presets.items():
        for name, value in preset.items():
            if name not in defaults:
                raise ValueError(f"preset {preset_name!r} sets unknown parameter {name!r}")
            check_type(f"preset {preset_name!r}: {name}", value, defaults[name])
    rules = parameter_constraints(namespace, defaults, constraints)
    check_own_values(rules, defaults, presets)
    parser = build_parser(defaults, presets, description, aliases)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    params = dict(defaults)
    changed = {}
    preset_name = getattr(args, "preset", None)
    if preset_name:
        params.update(presets[preset_name])
        changed.update(presets[preset_name])
    for name, default in defaults.items():
        text = getattr(args, name)
        if text is None:
            continue
        try:
            if default is None and name in rules and rules[name].each:
                default = []  # a list value: comma-separated or JSON, like a list default
            value = parse_value(text, default, name) if default is not None else parse_scalar(text)
        except ValueError as error:
            parser.error(str(error))  # a usage message and exit status 2, not a traceback
        params[name] = value
        changed[name] = value
    check_constraints(rules, params)
    if verbose:
        if preset_name:
            print(f"preset: {preset_name}")
        for name, value in changed.items():
            print(f"  {name} = {value!r}")
    namespace.update(params)
    result = types.SimpleNamespace(**params)
    result.preset = preset_name
    return result


def parameters_snapshot(params):
    """A JSON-serialisable dict of the parameters (for the run folder's params.json)."""
    return {name: value for name, value in vars(params).items() if isinstance(value, PLAIN_TYPES)}


# ---- the scripts' entry point -----------------------------------------------------------------------------------

DEBUG_FLAG = "--debug"
DEBUG_ENV_VAR = "NEURON_AS_DEEP_NET_DEBUG"


def run(main, argv=None):
    """Run a script's ``main(argv)`` and exit: 0 when it returns a result (not None / False), else 1.

    A :class:`~.errors.UserError` (bad parameter, bad file) becomes one line on stderr, ``error: <message>``,
    and exit status 2. ``--debug`` anywhere in argv (removed before the parser sees it) or the environment
    variable NEURON_AS_DEEP_NET_DEBUG=1 re-raises it with its traceback. Any other exception is a programming
    error and keeps its traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")
    argv = [arg for arg in argv if arg != DEBUG_FLAG]
    try:
        result = main(argv)
    except UserError as error:
        if debug:
            raise
        sys.stdout.flush()
        print(f"error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    raise SystemExit(0 if result is not None and result is not False else 1)
