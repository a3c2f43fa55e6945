"""``--config`` files: a TOML file of the sweep's options read into option name -> value, every value
checked against its option's type (nothing is coerced) and method settings against their bounds."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigFileError
from ..methods import all_methods, get_method, setting_bounds

#: Options whose value is a grid (a range string, a number or a list of numbers in a config file).
GRID_OPTIONS = ("beta", "J", "h")

#: TOML types of the sweep's own options in a ``--config`` file (keys as the command line's options, without
#: ``--``; ``list`` is an array of strings).  The other keys take their types from where they are declared:
#: model parameters from their family (:class:`isingvar.families.Param`), method settings from their settings
#: dataclass, grids as :data:`GRID_OPTIONS`.  tests/test_settings_defects.py checks that every option of
#: ``isingvar sweep`` has a type here or there.
OPTION_TYPES = {"model": str, "samples": int, "seed": int, "method": list, "sites": bool, "force": bool, "out": str,
                "overwrite": bool, "resume": bool, "retry-failed": bool, "interval": str, "json": bool, "shard": str,
                "workers": int, "bound-budget": float}


def option_types() -> dict[str, type]:
    """Every ``--config`` key with a declared type (:data:`OPTION_TYPES`, the families' parameters).

    Method settings and grids are checked where they are read (:func:`read_config_file`).

    Returns
    -------
    dict of str to type
        Key -> its Python type (``list``: an array of strings; a path parameter: ``str``).
    """
    from ..families import FAMILIES

    types = {p.name: (str if p.kind is Path else p.kind) for family in FAMILIES.values() for p in family.params}
    return {**types, **OPTION_TYPES}


def _check_option_type(path, key: str, value, kind: type) -> None:
    """Refuse a ``--config`` value of another TOML type than its option's (nothing is coerced).

    Raises
    ------
    ConfigFileError
        One line: the file, the key, what it takes and what it got.
    """
    from ..methods.base import describe_value, type_problem

    if kind is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return
        example = f"[{json.dumps(value)}]" if isinstance(value, str) else '["exact", "mf"]'
        raise ConfigFileError(f"{path}: {key} must be an array of strings such as {example}, got {describe_value(value)}")
    problem = type_problem(kind, value)
    if problem is not None:
        raise ConfigFileError(f"{path}: {key} {problem}, got {describe_value(value)}")


def read_config_file(path) -> dict:
    """Read a ``--config`` TOML file: option name (as on the command line, without ``--``) -> value.

    Grid options (``beta``, ``J``, ``h``) may be a range string, a number or an
    array of numbers; they are returned as the range string the command line
    takes.  A table ``[<method>]`` holds that method's settings; its keys are
    returned as ``<method>-<setting>`` (``[mf] max_sweeps = 50`` ->
    ``mf-max-sweeps``), the command line's ``--mf-max-sweeps``.  Every value
    must have its option's TOML type, nothing is coerced (``width = "3"`` and
    ``steps = true`` are not integers, ``method = "trw"`` is not an array), and
    a method setting must lie within its bounds (:func:`isingvar.methods.base.check_setting`).
    Which other keys are valid is up to the caller (the CLI knows its options).

    Parameters
    ----------
    path : str or os.PathLike
        The TOML file.

    Returns
    -------
    dict
        Option name -> value.

    Raises
    ------
    ConfigFileError
        If the file is missing, not UTF-8 text, not valid TOML (the message gives
        the line), a table is not a method's, or a value has another type than its
        option's.
    SettingsError
        (a ConfigFileError too) For a method setting the method does not have, of
        another type or out of its bounds: ``FILE: [trw] width must be an integer,
        got '3' (a string)``.
    """
    import tomllib

    from ..methods import setting_fields
    from ..methods.base import check_setting

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigFileError(f"config file {str(path)!r} does not exist") from None
    except OSError as e:
        raise ConfigFileError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigFileError(f"{path} is not valid TOML: {e}") from None
    except UnicodeDecodeError as e:  # TOML is UTF-8; tomllib decodes before it parses
        line = e.object[:e.start].count(b"\n") + 1
        raise ConfigFileError(f"{path}:{line}: not UTF-8 text (byte 0x{e.object[e.start]:02x}); a config file is TOML, saved as UTF-8") from None
    types = option_types()
    for key, value in list(values.items()):
        if key in types and not isinstance(value, dict):
            _check_option_type(path, key, value, types[key])
    for key in [k for k, v in values.items() if isinstance(v, dict) and k not in GRID_OPTIONS]:
        if key not in all_methods():
            raise ConfigFileError(f"{path}: table [{key}] is not a method; tables are method settings: "
                                  f"{', '.join(f'[{m}]' for m in all_methods())}")
        method = get_method(key)
        declared = {name: kind for name, kind, _ in setting_fields(method)}
        bounds = setting_bounds(method)
        for name, value in values.pop(key).items():
            if name in declared:  # an unknown one: the CLI names the option it does not have
                value = check_setting(key, name, declared[name], value, bounds[name], label=f"{path}: [{key}] {name}")
            values[f"{key}-{name.replace('_', '-')}"] = value
    for key in GRID_OPTIONS:
        if key not in values:
            continue
        value = values[key]
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in items):
            raise ConfigFileError(f"{path}: {key} must be a range string such as \"0.1:3:60\", a number or an array of numbers")
        values[key] = ",".join(repr(v) if isinstance(v, float) else str(v) for v in items)
    return values
