"""A sweep's configuration: range syntax, :class:`SweepConfig` (hash, TOML, method settings),
:func:`make_config` (validation, defaults, size and time refusals) and ``--config`` files."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..errors import (
    ConfigFileError,
    GridError,
    ModelError,
    ModelParameterError,
    RangeSpecError,
    SettingsError,
    TooLargeError,
)
from ..families import check_seed, get_family, is_disordered, make_instance, n_spins, resolve_params
from ..methods import all_methods, canonical, get_method, make_settings, setting_bounds, setting_flag
from .estimate import _probes, check_memory, estimate_time

#: Per-site mean-field magnetisations are stored by default up to this N.
SITES_DEFAULT_MAX_N = 1024

#: The model of a sweep that names none (``isingvar sweep`` with no MODEL): (family, parameters); a
#: parameter given (not None) overrides the one here.  The CLI's help text is built from it.
DEFAULT_MODEL = ("sk", (("n", 16),))


#: Most values one grid axis (beta, J or h) may have: every value is stored as text in the
#: file's configuration attributes (~20 bytes each) and mean field runs two passes per beta.
MAX_AXIS_POINTS = 100_000


#: Largest result file a sweep may hold in memory (bytes, from the schema before it is made).
#: The sweep keeps the whole file in memory and a commit writes a second copy of it, so this
#: needs twice as much memory; beyond it, split the sweep (fewer --samples, a coarser --beta,
#: fewer J or h values, --no-sites).
MAX_RESULT_BYTES = 8 * 2**30


_NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"  # ASCII digits: no '1_0', no other scripts


def parse_range(spec: str, name: str = "value") -> np.ndarray:
    """Parse a grid specification into a float64 array.

    A comma-separated list of items, each ``a:b:n`` (n points from a to b
    inclusive, ``numpy.linspace``), ``log:a:b:n`` (n log-spaced points,
    a, b > 0) or a single number; e.g. ``0,0.1:1:10``.

    Raises
    ------
    RangeSpecError
        If an item has none of these forms (the message names ``--name``), or
        the grid would have more than :data:`MAX_AXIS_POINTS` values (checked
        before any array is made).
    """
    text = str(spec).strip()
    items = [_match_item(item.strip(), text, name) for item in text.split(",")]
    total = sum(1 if m is None else int(m.group(4)) for _, m in items)
    if total > MAX_AXIS_POINTS:
        raise RangeSpecError(
            f"--{name} {_short(text)!r} has {total} values, more than the {MAX_AXIS_POINTS} a grid axis may have; "
            "use fewer points"
        )
    return np.concatenate([_parse_item(item, m, text, name) for item, m in items])


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width] + "..."


def _match_item(item, text, name):
    """(item, None) for a single number, (item, match of a:b:n) for a range."""
    num = rf"\s*({_NUMBER})\s*"
    if re.fullmatch(num, item, re.ASCII):
        return item, None
    m = re.fullmatch(rf"(log:)?{num}:{num}:\s*([0-9]+)\s*", item, re.ASCII)
    if not m:
        raise RangeSpecError(
            f"--{name} {_short(text)!r} is not a valid range; use a:b:n (n points from a to b), "
            "log:a:b:n, a,b,c or a single number"
        )
    return item, m


def _parse_item(item, m, text, name):
    if m is None:
        return np.array([float(item)])
    a, b, n = float(m.group(2)), float(m.group(3)), int(m.group(4))
    if n < 1:
        raise RangeSpecError(f"--{name} {text!r}: the number of points must be at least 1")
    if n == 1 and a != b:
        raise RangeSpecError(f"--{name} {text!r}: one point cannot span {a:g} to {b:g}; use n >= 2 or a single number")
    if m.group(1):
        if a <= 0 or b <= 0:
            raise RangeSpecError(f"--{name} {text!r}: log ranges need a, b > 0")
        return np.geomspace(a, b, n)
    return np.linspace(a, b, n)


def _check_axis(values, name, nonnegative=False):
    if not np.all(np.isfinite(values)):
        raise GridError(f"--{name} values must be finite")
    if nonnegative and np.any(values < 0):
        raise GridError(f"--{name} values must be >= 0 (got {values.min():g}); inverse temperatures are non-negative")
    if np.unique(values).size != values.size:
        raise GridError(f"--{name} lists a value twice; give each value once")
    return values


@dataclass(frozen=True)
class SweepConfig:
    """A fully resolved sweep: what to compute, independent of where it goes.

    Build it with :func:`make_config`, which validates every field.
    """

    model: str
    params: dict
    n: int
    beta: np.ndarray
    J: np.ndarray
    h: np.ndarray
    samples: int
    seed: int
    methods: tuple
    sites: bool
    force: bool = False
    #: method name -> its settings dataclass (:attr:`isingvar.methods.base.Method.settings`), for every method of the sweep
    settings: dict = field(default_factory=dict)
    #: file family: the model file's name, SHA-256, format and lnZ_offset (part of the hash: a changed file is another sweep)
    source: dict | None = None

    @property
    def shape(self) -> tuple:
        """(samples, len(J), len(h), len(beta))."""
        return (self.samples, self.J.size, self.h.size, self.beta.size)

    def instances(self) -> list[tuple[int, int, int]]:
        """Every instance (sample k, J index a, h index b), in the order a single run computes them."""
        return [(k, a, b) for k in range(self.samples) for a in range(self.J.size) for b in range(self.h.size)]

    def to_dict(self) -> dict:
        """Everything that determines the results, JSON-serialisable (``force`` does not)."""
        d = asdict(self)
        del d["force"]
        for k in ("beta", "J", "h"):
            d[k] = d[k].tolist()
        d["methods"] = list(self.methods)
        d["settings"] = {name: asdict(self.method_settings(name)) for name in self.methods}
        if self.source is None:
            del d["source"]
        return d

    def method_settings(self, name: str):
        """The settings of method ``name`` (its defaults when the sweep was given none)."""
        if name in self.settings:
            return self.settings[name]
        return make_settings(get_method(name))

    def config_hash(self) -> str:
        """SHA-256 of :meth:`to_dict` in canonical JSON: equal exactly when two sweeps compute the same numbers."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_toml(self) -> str:
        """The resolved configuration as TOML, in the keys of ``--config`` (a valid config file itself)."""
        import tomli_w

        d = {"model": self.model, **self.params}
        d |= {"beta": self.beta.tolist(), "J": self.J.tolist(), "h": self.h.tolist()}
        d |= {"samples": self.samples, "seed": self.seed, "method": list(self.methods), "sites": self.sites}
        for name in self.methods:  # a table [<method>] of its settings
            values = asdict(self.method_settings(name))
            if values:
                d[name] = values
        return tomli_w.dumps(d)


def config_differences(stored: dict, config: SweepConfig) -> list[str]:
    """The differences between a stored :meth:`SweepConfig.to_dict` and ``config``, one short line each,
    named as the user knows them: ``trw.width: 2 in the file, 3 in this command`` (a method's setting),
    ``n: 16 in the file, 20 in this command`` (a model parameter), ``methods: exact, mf, trw in the file,
    exact, mf in this command``, ``beta: 60 values 0.05 ... 3 in the file, 40 values 0.05 ... 3 in this
    command``.  Settings of a method that only one side runs are left out: the methods line says it.
    Any stored value (a file of another version) is described, never formatted as a number it is not."""
    now = config.to_dict()
    out: list[str] = []
    for key in [*now, *(k for k in stored if k not in now)]:
        a, b = stored.get(key), now.get(key)
        if a == b:
            continue
        if key == "settings" and isinstance(a, dict) and isinstance(b, dict):
            for method in [m for m in b if m in a]:
                _dict_differences(a[method], b[method], f"{method}.", out)
        elif key == "params" and isinstance(a, dict) and isinstance(b, dict):
            _dict_differences(a, b, "", out)
        elif key == "n" and stored.get("params") != now.get("params"):
            continue  # the spin count follows from a parameter, already named
        else:
            out.append(_difference(key, a, b))
    return out


def _difference(name: str, a, b) -> str:
    """One line of :func:`config_differences`: ``name: a in the file, b in this command``; for two lists
    that read alike in brief (same count and ends), the first value where they differ."""
    x, y = _brief(a), _brief(b)
    i = next((i for i, (p, q) in enumerate(zip(a, b)) if p != q), None) if (
        x == y and isinstance(a, list) and isinstance(b, list) and len(a) == len(b)) else None
    if i is not None:
        return f"{name}: value {i + 1} of {len(a)} is {_brief(a[i])} in the file, {_brief(b[i])} in this command"
    return f"{name}: {x} in the file, {y} in this command"


def _dict_differences(a, b, prefix: str, out: list) -> None:
    """Lines ``<prefix><key>: x in the file, y in this command`` for the keys where dicts ``a`` and ``b`` differ."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        out.append(_difference(prefix.rstrip("."), a, b))
        return
    for key in [*b, *(k for k in a if k not in b)]:
        if a.get(key, _MISSING) != b.get(key, _MISSING):
            out.append(_difference(f"{prefix}{key}", a.get(key, _MISSING), b.get(key, _MISSING)))


_MISSING = object()


def _brief(value) -> str:
    """``value`` of a configuration in a few words: a number as given, a list of method names joined, a
    long list of numbers as its count and ends, anything else as short JSON."""
    if value is _MISSING:
        return "not set"
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return ", ".join(value) if value else "none"
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if numbers and len(value) > 4:
            return f"{len(value)} values {value[0]:g} … {value[-1]:g}"
        if numbers:
            return ", ".join(f"{v:g}" for v in value)
    if isinstance(value, float):
        return f"{value:.10g}"
    text = json.dumps(value, default=str)
    return _short(text, 60)


def make_config(
    model: str | None = None,
    params: dict | None = None,
    *,
    beta: str = "0.05:3:60",
    J: str = "1",
    h: str = "0",
    samples: int | None = None,
    seed: int = 0,
    methods=None,
    sites: bool | None = None,
    force: bool = False,
    settings: dict | None = None,
) -> SweepConfig:
    """Validate the user's choices and resolve defaults.

    With ``model=None`` the embedded default :data:`DEFAULT_MODEL` is used (``params`` may still
    override its parameters).  ``samples``
    defaults to 4 for disordered families and 1 otherwise; ``sites`` (store
    per-site magnetisations of every method) to N <= :data:`SITES_DEFAULT_MAX_N`;
    ``methods`` to the registry's default methods (:func:`isingvar.methods.default_methods`) that can
    run on sample 0 (exact: where one of its paths applies).
    ``settings`` maps a method name to its settings (field -> value; missing
    or None fields take the defaults); settings given for a method the sweep does not run are refused,
    and a method given settings is refused, not left out, where it cannot run (as one named in
    ``methods``).

    Raises
    ------
    UnknownModelError, ModelParameterError, CouplingsFileError
        From the model family.
    RangeSpecError, GridError
        For a malformed or invalid beta, J or h grid, a positive beta below
        :data:`MIN_POSITIVE_BETA`, or a grid whose energies overflow
        (:func:`isingvar.model.check_energy_range` on sample 0).
    ModelParameterError
        For an unknown method.
    SettingsError
        For an unknown setting, one of the wrong type or out of its bounds
        (:func:`isingvar.methods.make_settings`), or settings of a method the
        sweep does not run.
    TooLargeError
        If the result file would exceed :data:`MAX_RESULT_BYTES` (checked before
        anything is built), a method cannot run at this N at all (its
        ``check``), or, without ``force``, a method with a time limit is
        estimated (:func:`estimate_time`, timed on sample 0) to take longer
        than it (exact enumeration: :data:`isingvar.exact.enumeration.MAX_SECONDS`).
    """
    from ..model import check_energy_range

    params = dict(params or {})
    if model is None:
        model, defaults = DEFAULT_MODEL
        params.update({key: value for key, value in defaults if params.get(key) is None})
    params = resolve_params(model, params)  # refuses too many spins or couplings before building
    n = n_spins(model, params)
    betas = _check_betas(_check_axis(parse_range(beta, "beta"), "beta", nonnegative=True))
    Js = _check_axis(parse_range(J, "J"), "J")
    hs = _check_axis(parse_range(h, "h"), "h")
    if samples is None:
        samples = 4 if is_disordered(model, params) else 1
    if samples < 1:
        raise ModelParameterError(f"--samples must be at least 1, got {samples}")
    check_seed(seed)
    settings = {name: values for name, values in (settings or {}).items() if any(
        v is not None for v in (values or {}).values())}
    for name in settings:
        get_method(name)  # an unknown method name: ModelParameterError listing the choices
    # a method the user named, or whose settings they gave, is refused rather than left out
    explicit = set(methods or ()) or set(settings)
    methods = check_methods(methods)
    _check_settings_run(settings, methods)
    chosen = {name: make_settings(get_method(name), settings.get(name)) for name in methods}
    if sites is None:
        sites = n <= SITES_DEFAULT_MAX_N
    check_result_size(model, params, n, samples, betas.size, Js.size, hs.size, methods, sites)
    # memory first, from the family's edge count: a model too large for a method is not built to find out
    methods = _applicable(methods, n, explicit, lambda name: check_memory(name, n, model_edges(model, params), betas,
                                                                          chosen[name]))
    first = make_instance(model, params, seed, 0)

    def check(name):
        """Method ``name``'s ``check`` on sample 0 at each probed (J, h) (TooLargeError where it cannot run)."""
        check = get_method(name).check
        if check is not None:
            for probe, _ in _probes(first, Js, hs):
                check(probe, betas, chosen[name], sites=sites)

    methods = _applicable(methods, n, explicit, check)
    chosen = {name: chosen[name] for name in methods}
    try:
        check_energy_range(first, betas, Js, hs)
    except ModelError as e:
        raise GridError(f"{e}; use smaller --J, --h or --beta values (sample 0 of this sweep)") from None
    config = SweepConfig(model, params, n, betas, Js, hs, int(samples), int(seed), methods, bool(sites), force,
                         settings=chosen, source=_source(model, params))
    if not force:
        estimate = estimate_time(config, first=first, limited_only=True)
        if estimate.over_limit:
            raise TooLargeError(estimate.refusal())
    return config


def _applicable(methods: tuple, n: int, explicit, check) -> tuple:
    """``methods`` without the default ones that ``check(name)`` refuses (TooLargeError): those that need
    too much memory (:func:`check_memory`) or cannot run on this model at all (their ``check`` on sample 0
    at the instances :func:`estimate_time` times: the exact method beyond N = 62 where no structured
    exact path applies), so that a sweep of a large model with no ``--method`` gives its bounds; a method
    in ``explicit`` (a set of names: those named with ``--method``, or given settings; True: every one)
    is refused instead, as is a sweep left with none."""
    kept = []
    for name in methods:
        try:
            check(name)
        except TooLargeError:
            if explicit is True or (explicit is not False and name in explicit):
                raise
            continue
        kept.append(name)
    if not kept:
        raise TooLargeError(f"no default method can run at N = {n}; choose one with --method (isingvar methods lists them)")
    return tuple(kept)


def _check_settings_run(settings: dict, methods: tuple) -> None:
    """Refuse settings (``settings``: method -> {field: value}, the given ones) of a method that is not
    among ``methods``: they would change nothing, and the user asked for something that would not happen.

    Raises
    ------
    SettingsError
        One line naming the method, its options that were given and the ``--method`` to add.
    """
    for name, values in settings.items():
        if name not in methods:
            given = ", ".join(setting_flag(name, k) for k, v in values.items() if v is not None)
            raise SettingsError(
                f"{given} {'is a setting' if ',' not in given else 'are settings'} of method {name}, which this sweep "
                f"does not run (methods: {', '.join(methods)}); add --method {name} (with the others you want), "
                f"or leave {'it' if ',' not in given else 'them'} out"
            )


#: Least positive beta: the smallest normal float64.  Below it f = -ln Z/(beta N) overflows (ln Z >= N ln 2
#: at beta -> 0), and beta J_ij, beta h_i lose their precision (subnormal).
MIN_POSITIVE_BETA = float(np.finfo(np.float64).tiny)


def _check_betas(betas: np.ndarray) -> np.ndarray:
    """Refuse a positive beta below :data:`MIN_POSITIVE_BETA` (0 itself is allowed: infinite temperature).

    Raises
    ------
    GridError
        Naming ``--beta``, the value and the least positive beta.
    """
    tiny = betas[(betas > 0) & (betas < MIN_POSITIVE_BETA)]
    if tiny.size:
        raise GridError(
            f"--beta {tiny.min():g} is positive but below {MIN_POSITIVE_BETA:.3g}, the smallest normal float64: "
            f"f = -ln Z/(beta N) overflows there; use 0 (infinite temperature) or a beta >= {MIN_POSITIVE_BETA:.3g}"
        )
    return betas


def model_edges(model: str, params: dict) -> int:
    """Coupled pairs of the family's instances, from its parameters (an upper bound where a disorder
    draws zero couplings); a model file is read (cached)."""
    return get_family(model).n_edges(params) if model != "file" else make_instance(model, params, 0, 0).n_edges


def result_bytes(model: str, params: dict, n: int, samples: int, n_beta: int, n_J: int, n_h: int,
                 methods, sites: bool) -> int:
    """Bytes of the result file's data before compression, from the schema (nothing is built).

    Every variable of :func:`isingvar.io.schema.schema` of the sweep's methods,
    the coordinates and the stored instances (their edge count from the
    family's parameters, an upper bound).  Python ints: no overflow however large.
    """
    from ..io.schema import COORDS, schema

    sizes = {"sample": samples, "J": n_J, "h": n_h, "beta": n_beta, "site": n, "edge": model_edges(model, params)}
    total = sum(sizes[name] * np.dtype(dtype).itemsize for name, (dtype, _, _) in COORDS.items())
    for var in schema(methods, sites).values():
        count = 1
        for dim in var.dims:
            count *= sizes[dim]
        total += count * np.dtype(var.dtype).itemsize
    return total


def check_result_size(model: str, params: dict, n: int, samples: int, n_beta: int, n_J: int, n_h: int,
                      methods, sites: bool) -> None:
    """Refuse a sweep whose result file (:func:`result_bytes`) exceeds :data:`MAX_RESULT_BYTES`.

    Raises
    ------
    TooLargeError
        Naming the size, the grid and the options that shrink it.
    """
    size = result_bytes(model, params, n, samples, n_beta, n_J, n_h, methods, sites)
    if size > MAX_RESULT_BYTES:
        grid = f"{samples} sample(s) x {n_J} J x {n_h} h x {n_beta} beta" + (f" x {n} sites" if sites else "")
        hint = ", --no-sites" if sites else ""
        raise TooLargeError(
            f"the result file would hold {size / 2**30:.3g} GiB ({grid}), more than the {MAX_RESULT_BYTES / 2**30:g} GiB "
            f"a sweep keeps in memory; use fewer --samples, --beta, --J or --h values{hint}, or split the sweep"
        )


def _source(model: str, params: dict) -> dict | None:
    """What a sweep records of its model file (file family only)."""
    if model != "file":
        return None
    from ..io.couplings import read_model_file_cached

    f = read_model_file_cached(params["couplings"], params["format"])
    return {"file": Path(f.path).name, "sha256": f.sha256, "format": f.format, "lnZ_offset": f.lnZ_offset}


#: Options whose value is a grid (a range string, a number or a list of numbers in a config file).
GRID_OPTIONS = ("beta", "J", "h")

#: TOML types of the sweep's own options in a ``--config`` file (keys as the command line's options, without
#: ``--``; ``list`` is an array of strings).  The other keys take their types from where they are declared:
#: model parameters from their family (:class:`isingvar.families.Param`), method settings from their settings
#: dataclass, grids as :data:`GRID_OPTIONS`.  tests/test_settings_defects.py checks that every option of
#: ``isingvar sweep`` has a type here or there.
OPTION_TYPES = {"model": str, "samples": int, "seed": int, "method": list, "sites": bool, "force": bool, "out": str,
                "overwrite": bool, "resume": bool, "retry-failed": bool, "interval": str, "json": bool, "shard": str,
                "workers": int}


def option_types() -> dict[str, type]:
    """Every ``--config`` key with a declared type (:data:`OPTION_TYPES`, the families' parameters);
    method settings and grids are checked where they are read (:func:`read_config_file`)."""
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


def check_methods(methods) -> tuple:
    """Canonical tuple of method names (:func:`isingvar.methods.canonical`); the default methods when
    empty; :class:`ModelParameterError` for an unknown one."""
    return canonical(methods)


def default_output_path(config: SweepConfig, now: datetime | None = None) -> Path:
    """``runs/<model>-n<N>-<UTC timestamp>.h5``."""
    now = now or datetime.now(UTC)
    return Path("runs") / f"{config.model}-n{config.n}-{now.strftime('%Y%m%dT%H%M%SZ')}.h5"
