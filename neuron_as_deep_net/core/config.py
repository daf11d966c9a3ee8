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
"""

import argparse
import copy
import json
import sys
import types

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


def configure(namespace, presets=None, argv=None, description=None, aliases=None, verbose=True):
    """Apply ``--preset`` and ``--name value`` overrides to a script's parameter block; return a namespace.

    ``namespace`` is the script's ``globals()``; ``aliases`` maps extra flags to fixed values, e.g.
    ``{'--no-dvts': ('collect_and_save_dvts', False)}``. Also updates ``namespace`` in place so module-level
    code sees the final values.
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
            value = parse_value(text, default, name) if default is not None else parse_scalar(text)
        except ValueError as error:
            parser.error(str(error))  # a usage message and exit status 2, not a traceback
        params[name] = value
        changed[name] = value
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
