"""The registry of methods: every module of this package that exposes ``METHOD``.

Adding a method adds one module here (plus its kernels, tests and docs); the
sweep, the result file's schema, shard balancing, the dry run, ``show``,
``plot``, ``merge`` and the CLI's options loop over :func:`all_methods`.
See :mod:`isingvar.methods.base` for the interface and docs/architecture.md
("How to add a method").

Derived variables are computed here from the declared kinds, never from
names: for every method with a ``kind="lower"``, ``quantity="lnZ"`` variable,
``kl_<method> = lnZ_exact - lnZ_<method>_lower`` (nats, total) wherever a
method with a ``kind="exact"``, ``quantity="lnZ"`` variable ran too.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import typing
from functools import cache

import numpy as np

from ..errors import ConfigFileError, ModelParameterError, SettingsError
from .base import (
    ESTIMATE_STATUS,
    Bounds,
    Method,
    Nonfinite,
    NoSettings,
    Var,
    check_setting,
    setting,
    setting_flag,
    settings_bounds,
)

#: Modules of this package that are not methods.
_NOT_METHODS = frozenset({"base"})


@cache
def _discover() -> dict[str, Method]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_METHODS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        method = getattr(module, "METHOD", None)
        if isinstance(method, Method):
            if method.name in found:
                raise RuntimeError(f"two method modules declare the method {method.name!r}")
            found[method.name] = method
    return dict(sorted(found.items()))


def all_methods() -> dict[str, Method]:
    """Every registered method, name -> :class:`Method`, in canonical (alphabetical) order.

    The order is the order of a sweep's methods, its variables in the file and its table columns.

    Returns
    -------
    dict of str to Method
        A new dict each call.
    """
    return dict(_discover())


def method_names() -> tuple[str, ...]:
    """Names of every registered method, in canonical order.

    Returns
    -------
    tuple of str
        The names.
    """
    return tuple(all_methods())


def default_methods() -> tuple[str, ...]:
    """The methods a sweep runs when none is given (those declared ``default=True``).

    Returns
    -------
    tuple of str
        Their names, in canonical order.
    """
    return tuple(name for name, m in all_methods().items() if m.default)


def get_method(name: str) -> Method:
    """The method called ``name``.

    Parameters
    ----------
    name : str
        A method name.

    Returns
    -------
    Method
        The registered method.

    Raises
    ------
    ModelParameterError
        If no method has that name; the message lists the choices.
    """
    methods = all_methods()
    if name not in methods:
        raise ModelParameterError(f"unknown method {name!r}; choose from {', '.join(methods)}")
    return methods[name]


def canonical(names) -> tuple[str, ...]:
    """``names`` checked, deduplicated and in canonical order; the default methods when empty.

    Methods named in a method's ``needs`` are added.

    Parameters
    ----------
    names : iterable of str or None
        Method names.

    Returns
    -------
    tuple of str
        The names, with the methods they need, in canonical order.

    Raises
    ------
    ModelParameterError
        For an unknown name (the message lists the choices).
    """
    names = list(names or default_methods())
    for name in names:
        get_method(name)
    wanted = set(names)
    stack = list(wanted)
    while stack:
        for need in get_method(stack.pop()).needs:
            if need not in wanted:
                wanted.add(need)
                stack.append(need)
    return tuple(name for name in all_methods() if name in wanted)


# ------------------------------------------------------------------ settings
def setting_fields(method: Method) -> list[tuple[str, type, object]]:
    """(field name, type, default) of each setting of ``method`` (its settings dataclass).

    Parameters
    ----------
    method : Method
        The method.

    Returns
    -------
    list of tuple of (str, type, object)
        One entry per field, in field order.
    """
    hints = typing.get_type_hints(method.settings)
    return [(f.name, hints[f.name], f.default) for f in dataclasses.fields(method.settings)]


def setting_bounds(method: Method) -> dict[str, Bounds | None]:
    """field name -> the :class:`Bounds` declared with :func:`base.setting` of each setting of ``method``.

    Parameters
    ----------
    method : Method
        The method.

    Returns
    -------
    dict of str to Bounds or None
        One entry per field; None: only the type is checked, and a float must be finite.
    """
    return {name: bounds for name, (_, bounds) in settings_bounds(method.settings).items()}


def make_settings(method: Method, values: dict | None = None):
    """The settings dataclass of ``method`` from ``values`` (field -> value; missing or None: default).

    Every value is checked before the dataclass is made, by one rule for every method
    (:func:`base.check_setting`): its type, without coercion (a string, a boolean or a float with a
    fraction is not an integer; an integer is a number), and its declared bounds (:func:`base.setting`;
    a float must be finite unless declared otherwise).

    Parameters
    ----------
    method : Method
        The method.
    values : dict or None
        Field -> value; missing or None: the default.

    Returns
    -------
    dataclass instance
        An instance of ``method.settings``.

    Raises
    ------
    SettingsError
        One line naming the option: a field the method does not have, a value of the wrong type or
        out of bounds, or one the settings class itself refuses (its ``__post_init__``, whatever
        error class it raises).
    """
    values = {k: v for k, v in (values or {}).items() if v is not None}
    declared = settings_bounds(method.settings)
    for key, value in values.items():
        if key not in declared:
            valid = ", ".join(setting_flag(method.name, k) for k in declared) or "none"
            raise SettingsError(f"method {method.name} has no setting {key!r}; its settings: {valid}")
        kind, bounds = declared[key]
        values[key] = check_setting(method.name, key, kind, value, bounds)
    try:
        return method.settings(**values)
    except SettingsError:
        raise
    except (ModelParameterError, ConfigFileError) as e:  # a settings class's own check, in another class
        raise SettingsError(str(e)) from None


# ------------------------------------------------------------------ derived variables
def _exact_lnz(methods) -> tuple[str, str] | None:
    """(method, variable) of the first method of ``methods`` with an exact per-beta ln Z."""
    for name in methods:
        for v in get_method(name).variables:
            if v.kind == "exact" and v.quantity == "lnZ" and v.per == "beta":
                return name, v.name
    return None


def derived_variables(methods) -> list[tuple[Var, tuple[str, ...]]]:
    """Derived variables of a sweep of ``methods``.

    ``kl_<method>`` = exact ln Z - that method's lower bound on ln Z, for each method with a lower bound,
    when one of ``methods`` gives an exact ln Z.

    Parameters
    ----------
    methods : iterable of str
        The sweep's method names.

    Returns
    -------
    list of tuple of (Var, tuple of str)
        Each derived variable and the two methods it needs (the exact one, the bounding one).
    """
    ref = _exact_lnz(methods)
    if ref is None:
        return []
    out = []
    for name in methods:
        for v in get_method(name).variables:
            if v.kind == "lower" and v.quantity == "lnZ" and v.per == "beta":
                kl = Var(
                    f"kl_{name}", "diagnostic", "kl", "nat",
                    f"{ref[1]} - {v.name} >= 0 (total): the looseness of the lower bound; for a variational "
                    f"bound the divergence D_KL(Q_{name} || P)",
                    # NaN where the bound is (a bound computed only for small N), else only where the
                    # exact value is (a point its method flags: exact_status)
                    nonfinite=Nonfinite.NAN if Nonfinite.NAN in v.nonfinite else Nonfinite.NAN_WHERE_FLAGGED,
                )
                out.append((kl, (ref[0], name)))
    return out


def derived_values(methods, values: dict) -> dict:
    """The derived variables (:func:`derived_variables`) of one instance from its ``values``.

    Parameters
    ----------
    methods : iterable of str
        The sweep's method names.
    values : dict
        The instance's values, var name -> array.

    Returns
    -------
    dict
        Derived var name -> float64 array (nb,), for those whose inputs are in ``values``.
    """
    ref = _exact_lnz(methods)
    out = {}
    for var, (_, name) in derived_variables(methods):
        lower = next(v.name for v in get_method(name).variables if v.kind == "lower" and v.quantity == "lnZ"
                     and v.per == "beta")
        if ref[1] in values and lower in values:
            out[var.name] = np.asarray(values[ref[1]], dtype=float) - np.asarray(values[lower], dtype=float)
    return out


# ------------------------------------------------------------------ withheld estimates
#: An estimate of ln Z counts as outside the certified interval when it passes a bound by more than this
#: many of its own standard errors (issue 19), plus :data:`INTERVAL_RTOL` of |ln Z| for round-off
#: (Bethe is exact on trees, where TRW's bound equals ln Z too).
INTERVAL_SE = 3.0
INTERVAL_RTOL = 1e-9


def certified_interval(methods, values: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """(greatest certified lower bound, least certified upper bound) on ln Z per beta of one instance.

    Over every per-beta variable of kind "lower" / "upper" and quantity "lnZ" of ``methods`` in ``values``.
    Probabilistic bounds (kinds lower_prob, upper_prob) and exact values are not part of it: the exact
    value screens only estimates that carry a standard error (:func:`screen_estimates`).

    Parameters
    ----------
    methods : iterable of str
        The sweep's method names.
    values : dict
        The instance's values, var name -> array.

    Returns
    -------
    tuple of ndarray or None
        (lower, upper), float64 (nb,) each (nats); -inf / +inf where no bound is finite; None when
        there is no bound at all.
    """
    lower, upper = [], []
    for name in methods:
        for v in get_method(name).variables:
            if v.per == "beta" and v.quantity == "lnZ" and v.name in values and v.kind in ("lower", "upper"):
                (lower if v.kind == "lower" else upper).append(np.asarray(values[v.name], dtype=float))
    if not lower and not upper:
        return None
    with np.errstate(invalid="ignore"):
        lo = np.nanmax(np.stack(lower), axis=0, initial=-np.inf) if lower else None
        hi = np.nanmin(np.stack(upper), axis=0, initial=np.inf) if upper else None
    nb = (lo if lo is not None else hi).shape
    return (lo if lo is not None else np.full(nb, -np.inf)), (hi if hi is not None else np.full(nb, np.inf))


def screen_estimates(methods, values: dict) -> dict:
    """Withhold the estimates of one instance that are not trustworthy, in place of ``values`` (returned).

    For every method of ``methods`` with a ``<method>_status`` variable (:func:`base.status_var`) whose flag
    meanings are :data:`base.ESTIMATE_STATUS`: where its status is 0 and one of its per-beta ln Z estimates
    lies below the greatest certified lower bound or above the least certified upper bound
    (:func:`certified_interval`) by more than :data:`INTERVAL_SE` of its standard error (``<name>_se``; 0
    where it has none), or, for an estimate with a standard error, further than that from the exact ln Z of
    the instance (:func:`_exact_lnz`, where it is finite), the status becomes ``outside_certified_interval``.
    The exact value is the one check that sees mass a Monte Carlo proposal never draws: every diagnostic of
    its own samples (k-hat, ESS) passes there.  An approximation without a standard error (Bethe) is held to
    the bounds only: it promises no distance from the exact value.  Then at every beta where the status is
    not 0, each of the method's variables of kind "estimate" (per beta or per site) and its standard error
    are set to NaN: the reason is in the status, the raw value in the method's own diagnostics
    (``lnZ_ar_is_raw``).

    Parameters
    ----------
    methods : iterable of str
        The sweep's method names.
    values : dict
        The instance's values, var name -> array; changed in place.

    Returns
    -------
    dict
        ``values``.
    """
    interval = None
    ref = _exact_lnz(methods)
    exact = np.asarray(values[ref[1]], dtype=float) if ref is not None and ref[1] in values else None
    outside = ESTIMATE_STATUS.index("outside_certified_interval")
    for name in methods:
        method = get_method(name)
        status_name = f"{name}_status"
        try:
            status_var = method.var(status_name)
        except KeyError:
            continue
        if status_var.flags[1] != " ".join(ESTIMATE_STATUS) or status_name not in values:
            continue
        status = np.asarray(values[status_name]).astype(np.int8)
        if interval is None:
            interval = certified_interval(methods, values) or (-np.inf, np.inf)
        lo, hi = interval
        estimates = [v for v in method.variables if v.kind == "estimate" and v.name in values]
        for v in estimates:
            if v.per != "beta" or v.quantity != "lnZ":
                continue
            x = np.asarray(values[v.name], dtype=float)
            has_se = f"{v.name}_se" in values
            se = np.asarray(values.get(f"{v.name}_se", 0.0), dtype=float)
            slack = INTERVAL_SE * np.nan_to_num(se) + INTERVAL_RTOL * np.abs(x)
            with np.errstate(invalid="ignore"):
                bad = (x < lo - slack) | (x > hi + slack)
                if exact is not None and has_se:
                    bad |= np.abs(x - exact) > INTERVAL_SE * np.nan_to_num(se) + INTERVAL_RTOL * np.abs(exact)
            status = np.where((status == 0) & bad, np.int8(outside), status).astype(np.int8)
        values[status_name] = status
        withheld = status != 0
        if not withheld.any():
            continue
        for v in estimates:
            for name_ in (v.name, f"{v.name}_se"):
                if name_ in values:
                    x = np.array(values[name_], dtype=float)
                    x[withheld] = np.nan  # rows of a per-site (nb, N) array
                    values[name_] = x
    return values


__all__ = [
    "Method", "NoSettings", "Nonfinite", "Var", "all_methods", "canonical", "certified_interval", "default_methods",
    "derived_values", "derived_variables", "get_method", "make_settings", "method_names", "screen_estimates",
    "setting", "setting_bounds", "setting_fields", "setting_flag",
]
