"""A sweep's configuration: :class:`SweepConfig` (hash, TOML, method settings), :func:`config_differences`
and :func:`make_config` (validation, defaults, size and time refusals).

The grid syntax is in :mod:`.ranges`, ``--config`` files in :mod:`.config_file`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..errors import GridError, ModelError, ModelParameterError, SettingsError, TooLargeError
from ..families import check_seed, get_family, is_disordered, make_instance, n_spins, resolve_params
from ..methods import canonical, get_method, make_settings, setting_flag
from .config_file import GRID_OPTIONS, option_types  # noqa: F401  (re-exported: importers of .config)
from .estimate import _probes, check_memory, estimate_time
from .ranges import _check_axis, _check_betas, _short, parse_range

#: Per-site mean-field magnetisations are stored by default up to this N.
SITES_DEFAULT_MAX_N = 1024

#: The model of a sweep that names none (``isingvar sweep`` with no MODEL): (family, parameters); a
#: parameter given (not None) overrides the one here.  The CLI's help text is built from it.
DEFAULT_MODEL = ("sk", (("n", 16),))


#: Largest result file a sweep may hold in memory (bytes, from the schema before it is made).
#: The sweep keeps the whole file in memory and a commit writes a second copy of it, so this
#: needs twice as much memory; beyond it, split the sweep (fewer --samples, a coarser --beta,
#: fewer J or h values, --no-sites).
MAX_RESULT_BYTES = 8 * 2**30


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
        """(samples, len(J), len(h), len(beta)).

        Returns
        -------
        tuple of int
            The shape of the sweep's result grid.
        """
        return (self.samples, self.J.size, self.h.size, self.beta.size)

    def instances(self) -> list[tuple[int, int, int]]:
        """Every instance (sample k, J index a, h index b), in the order a single run computes them.

        Returns
        -------
        list of tuple of (int, int, int)
            The (k, a, b) of each instance.
        """
        return [(k, a, b) for k in range(self.samples) for a in range(self.J.size) for b in range(self.h.size)]

    def to_dict(self) -> dict:
        """Everything that determines the results, JSON-serialisable (``force`` does not).

        Returns
        -------
        dict
            The fields, grids as lists, ``settings`` as method name -> {field: value} of every method;
            no ``source`` key when there is no model file.
        """
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
        """The settings of method ``name`` (its defaults when the sweep was given none).

        Parameters
        ----------
        name : str
            A method name.

        Returns
        -------
        dataclass instance
            The method's settings (:attr:`isingvar.methods.base.Method.settings`).
        """
        if name in self.settings:
            return self.settings[name]
        return make_settings(get_method(name))

    def config_hash(self) -> str:
        """SHA-256 of :meth:`to_dict` in canonical JSON: equal exactly when two sweeps compute the same numbers.

        Returns
        -------
        str
            The hash as 64 hexadecimal digits.
        """
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_toml(self) -> str:
        """The resolved configuration as TOML, in the keys of ``--config`` (a valid config file itself).

        Returns
        -------
        str
            The TOML text.
        """
        import tomli_w

        d = {"model": self.model, **self.params}
        d |= {"beta": self.beta.tolist(), "J": self.J.tolist(), "h": self.h.tolist()}
        d |= {"samples": self.samples, "seed": self.seed, "method": list(self.methods), "sites": self.sites}
        from ..budget import ladder_fields

        for name in self.methods:  # a table [<method>] of its settings
            values = asdict(self.method_settings(name))
            if values.get("budget"):  # its budget chooses these per instance: a config may not give both
                for key in ladder_fields(name):
                    values.pop(key, None)
            if values:
                d[name] = values
        return tomli_w.dumps(d)


def config_differences(stored: dict, config: SweepConfig) -> list[str]:
    """The differences between a stored :meth:`SweepConfig.to_dict` and ``config``, one short line each.

    Named as the user knows them: ``trw.width: 2 in the file, 3 in this command`` (a method's setting),
    ``n: 16 in the file, 20 in this command`` (a model parameter), ``methods: exact, mf, trw in the file,
    exact, mf in this command``, ``beta: 60 values 0.05 ... 3 in the file, 40 values 0.05 ... 3 in this
    command``.  Settings of a method that only one side runs are left out: the methods line says it.
    Any stored value (a file of another version) is described, never formatted as a number it is not.

    Parameters
    ----------
    stored : dict
        A stored :meth:`SweepConfig.to_dict` (the file's).
    config : SweepConfig
        This command's configuration.

    Returns
    -------
    list of str
        One line per difference; empty when they agree.
    """
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
    bound_budget: float | None = None,
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

    Parameters
    ----------
    model : str or None
        Family name; None: :data:`DEFAULT_MODEL`.
    params : dict or None
        The family's parameters (name -> value; None values take the defaults).
    beta : str, default "0.05:3:60"
        Inverse temperatures, in the range syntax of :func:`parse_range`.
    J : str, default "1"
        Coupling scales, in the range syntax.
    h : str, default "0"
        Field values, in the range syntax.
    samples : int or None
        Number of disorder samples (>= 1); None: the default above.
    seed : int, default 0
        Seed of the disorder samples.
    methods : iterable of str or None
        Method names; None or empty: the default methods above.
    sites : bool or None
        Store per-site magnetisations; None: the default above.
    force : bool, default False
        Skip the time-limit refusal.
    settings : dict or None
        Method name -> {field: value}.
    bound_budget : float or None
        ``--bound-budget``: seconds per instance for every method of the sweep with a ladder
        (:data:`isingvar.budget.LADDERS`), as its ``budget`` setting, except a method given its own
        ``budget`` or any setting its ladder chooses (explicit settings win); None or 0: none.

    Returns
    -------
    SweepConfig
        The validated sweep.

    Raises
    ------
    UnknownModelError, ModelParameterError, CouplingsFileError
        From the model family.
    RangeSpecError, GridError
        For a malformed or invalid beta, J or h grid, a positive beta below
        :data:`isingvar.sweep.ranges.MIN_POSITIVE_BETA`, or a grid whose energies overflow
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
        estimated (:func:`estimate_time`: the sum of each instance's own estimate) to take longer
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
    settings = _with_budget(settings, methods, bound_budget)
    chosen = {name: make_settings(get_method(name), settings.get(name)) for name in methods}
    if sites is None:
        sites = n <= SITES_DEFAULT_MAX_N
    check_result_size(model, params, n, samples, betas.size, Js.size, hs.size, methods, sites)
    # memory first, from the family's edge count: a model too large for a method is not built to find out
    methods = _applicable(methods, n, explicit, lambda name: check_memory(name, n, model_edges(model, params), betas,
                                                                          chosen[name]))
    first = make_instance(model, params, seed, 0)

    def check(name):
        """Method ``name``'s ``check`` on sample 0 at each probed (J, h) (TooLargeError where it cannot run).

        Parameters
        ----------
        name : str
            A method name.
        """
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


def _with_budget(settings: dict, methods: tuple, bound_budget) -> dict:
    """``settings`` (method -> the given {field: value}) with ``budget`` = ``bound_budget`` for each method of
    ``methods`` that has a ladder (:data:`isingvar.budget.LADDERS`), is not left to another method of the
    sweep (:func:`isingvar.budget.takes_bound_budget`: mf where smf runs) and was given neither its own
    budget nor a setting its ladder chooses (those win); times the method's share
    (:func:`isingvar.budget.share`: smf half).

    Raises
    ------
    SettingsError
        For a budget that is no finite number >= 0, and for a method given both a budget of its own and a
        setting its ladder chooses (``--trw-budget`` with ``--trw-width``).
    """
    from ..budget import MAX_BUDGET, ladder_fields, share, takes_bound_budget
    from ..methods.base import describe_value

    if bound_budget is not None and (isinstance(bound_budget, bool) or not isinstance(bound_budget, (int, float))
                                     or not 0 <= bound_budget <= MAX_BUDGET):
        raise SettingsError(f"--bound-budget must be a number of seconds from 0 (no budget) to {MAX_BUDGET:g}, "
                            f"got {describe_value(bound_budget)}")
    out = {name: dict(values) for name, values in settings.items()}
    for name, values in out.items():
        chosen = [k for k in ladder_fields(name) if values.get(k) is not None]
        if values.get("budget") and chosen:
            flags = ", ".join(setting_flag(name, k) for k in chosen)
            raise SettingsError(f"{setting_flag(name, 'budget')} chooses {flags} per instance; leave out {flags} or "
                                f"{setting_flag(name, 'budget')}")
    for name in methods:
        if not bound_budget or not takes_bound_budget(name, methods):
            continue
        values = out.setdefault(name, {})
        if values.get("budget") is None and all(values.get(k) is None for k in ladder_fields(name)):
            values["budget"] = float(bound_budget) * share(name)
    return out


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




def model_edges(model: str, params: dict) -> int:
    """Coupled pairs of the family's instances, from its parameters.

    An upper bound where a disorder draws zero couplings; a model file is read (cached).

    Parameters
    ----------
    model : str
        Family name.
    params : dict
        The family's resolved parameters.

    Returns
    -------
    int
        Number of edges E.
    """
    return get_family(model).n_edges(params) if model != "file" else make_instance(model, params, 0, 0).n_edges


def result_bytes(model: str, params: dict, n: int, samples: int, n_beta: int, n_J: int, n_h: int,
                 methods, sites: bool) -> int:
    """Bytes of the result file's data before compression, from the schema (nothing is built).

    Every variable of :func:`isingvar.io.schema.schema` of the sweep's methods,
    the coordinates and the stored instances (their edge count from the
    family's parameters, an upper bound).  Python ints: no overflow however large.

    Parameters
    ----------
    model : str
        Family name.
    params : dict
        The family's resolved parameters.
    n : int
        Number of spins N.
    samples : int
        Number of disorder samples.
    n_beta, n_J, n_h : int
        Grid sizes.
    methods : iterable of str
        The sweep's methods.
    sites : bool
        Whether per-site magnetisations are stored.

    Returns
    -------
    int
        The size in bytes.
    """
    from ..io.schema import COORDS, MODEL_FILE_FAMILY, schema

    sizes = {"sample": samples, "J": n_J, "h": n_h, "beta": n_beta, "site": n, "edge": model_edges(model, params)}
    total = sum(sizes[name] * np.dtype(dtype).itemsize for name, (dtype, _, _) in COORDS.items())
    for var in schema(methods, sites, model_file=model == MODEL_FILE_FAMILY).values():
        count = 1
        for dim in var.dims:
            count *= sizes[dim]
        total += count * np.dtype(var.dtype).itemsize
    return total


def check_result_size(model: str, params: dict, n: int, samples: int, n_beta: int, n_J: int, n_h: int,
                      methods, sites: bool) -> None:
    """Refuse a sweep whose result file (:func:`result_bytes`) exceeds :data:`MAX_RESULT_BYTES`.

    Parameters
    ----------
    model : str
        Family name.
    params : dict
        The family's resolved parameters.
    n : int
        Number of spins N.
    samples : int
        Number of disorder samples.
    n_beta, n_J, n_h : int
        Grid sizes.
    methods : iterable of str
        The sweep's methods.
    sites : bool
        Whether per-site magnetisations are stored.

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



def check_methods(methods) -> tuple:
    """Canonical tuple of method names (:func:`isingvar.methods.canonical`).

    Parameters
    ----------
    methods : iterable of str or None
        Method names.

    Returns
    -------
    tuple of str
        The names in canonical order, with the methods they need; the default methods when empty.

    Raises
    ------
    ModelParameterError
        For an unknown name.
    """
    return canonical(methods)


def default_output_path(config: SweepConfig, now: datetime | None = None) -> Path:
    """``runs/<model>-n<N>-<UTC timestamp>.h5``.

    Parameters
    ----------
    config : SweepConfig
        The sweep.
    now : datetime or None
        The timestamp; None: the current UTC time.

    Returns
    -------
    pathlib.Path
        The relative path.
    """
    now = now or datetime.now(UTC)
    return Path("runs") / f"{config.model}-n{config.n}-{now.strftime('%Y%m%dT%H%M%SZ')}.h5"
