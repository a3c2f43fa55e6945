"""What a result summary holds, for the tables and figures: its variables by kind and quantity, means
and standard errors over the samples, and the tightest bounds on f with their gaps and interval width.

Pure functions on what :func:`isingvar.io.store.read_summary` returns (imported as :mod:`isingvar.report`).
"""

from __future__ import annotations

import warnings

import numpy as np


def sample_stats(a, done):
    """Mean, standard error and count over the completed samples.

    Parameters
    ----------
    a : array_like, shape (sample, ...)
        Values of each sample, e.g. shape (sample, beta) at one (J, h).  NaN
        marks a value not computed and is ignored; infinities are kept (the
        mean of an exact f at beta = 0 is -inf, its SE NaN).
    done : array_like of bool, shape (sample,) or ``a.shape[:k]``
        Completion flags; values of samples not done are ignored.

    Returns
    -------
    mean : ndarray, shape ``a.shape[1:]``
        Mean over the counted values; NaN where none is counted.
    se : ndarray, shape ``a.shape[1:]``
        Standard error of the mean, ``std(ddof=1) / sqrt(count)``; NaN where
        fewer than two values are counted (one sample gives no error estimate).
    count : ndarray of int, shape ``a.shape[1:]``
        Number of completed samples with a non-NaN value.
    """
    a = np.asarray(a, dtype=float)
    done = np.asarray(done, dtype=bool)
    a = np.where(done.reshape(done.shape + (1,) * (a.ndim - done.ndim)), a, np.nan)
    count = np.count_nonzero(~np.isnan(a), axis=0)
    # all-NaN columns, one-value std and inf - inf warn; they give NaN, as documented
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(a, axis=0)
        se = np.nanstd(a, axis=0, ddof=1) / np.sqrt(count)
    return mean, np.where(count >= 2, se, np.nan), count


def grid_values(summary: dict, name: str, j: int, h: int) -> np.ndarray:
    """Variable ``name`` at J index ``j`` and h index ``h``, shape (sample, beta).

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    name : str
        The variable.
    j, h : int
        Indices into the J and h coordinates.

    Returns
    -------
    ndarray of float64, shape (sample, beta)
        Its values; all NaN when the file lacks the variable.
    """
    if name not in summary:
        return np.full((summary["done"].shape[0], summary["coords"]["beta"].size), np.nan)
    return np.asarray(summary[name][:, j, h, :], dtype=float)


def model_lnZ_values(summary: dict) -> dict:
    """Value of every ``lnZ_model_*`` variable of a file-family summary.

    These are ln Z of the file's own model and its bounds, at beta = 1, J = 1, h = 0.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.

    Returns
    -------
    dict
        name -> value (float), the mean over the completed samples, for the instances where it was
        computed; {} when the file has none.
    """
    out = {}
    for name, (_, quantity) in variable_kinds(summary).items():
        if quantity != "lnZ_model" or name not in summary:
            continue
        values = np.asarray(summary[name], dtype=float)
        done = summary["done"].astype(bool)[..., None] & ~np.isnan(values)
        if done.any():
            out[name] = float(values[done].mean())
    return out


def variable_kinds(summary: dict) -> dict:
    """Kind and quantity of the method variables in ``summary``.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns, or built by hand.

    Returns
    -------
    dict
        name -> (kind, quantity): from ``summary["schema"]`` (what
        :func:`isingvar.io.store.read_summary` returns), else from the registry's declarations
        (:mod:`isingvar.methods`) for a summary built by hand.
    """
    if "schema" in summary:
        return {name: (v.kind, v.quantity) for name, v in summary["schema"].items() if v.kind is not None}
    from ..methods import all_methods, derived_variables

    declared = [v for m in all_methods().values() for v in m.variables]
    declared += [v for v, _ in derived_variables(tuple(all_methods()))]
    return {v.name: (v.kind, v.quantity) for v in declared if v.name in summary}


def free_energy_names(summary: dict) -> dict:
    """The free energies per spin in ``summary`` by kind.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.

    Returns
    -------
    dict
        ``{"exact": [...], "lower": [...], "upper": [...], "lower_prob": [...], "upper_prob": [...],
        "estimate": [...]}``, each list of variable names in the file's order.  ``lower`` are certified
        lower bounds on f, ``upper`` certified upper bounds, ``lower_prob`` and ``upper_prob`` bounds that
        hold with probability >= 1 - delta (:func:`bound_delta`), ``estimate`` approximations and Monte
        Carlo estimates that bound nothing (their own standard error, where they have one:
        :func:`se_name`), as the methods declare them (kind and quantity "f").
    """
    out = {"exact": [], "lower": [], "upper": [], "lower_prob": [], "upper_prob": [], "estimate": []}
    for name, (kind, quantity) in variable_kinds(summary).items():
        if quantity == "f" and kind in out and name in summary:
            out[kind].append(name)
    return out


#: The intervals on f a table or figure can show (``--interval``): the certified bounds only, or the
#: probabilistic bounds (kinds lower_prob, upper_prob) too.
INTERVALS = ("certified", "probabilistic")


def is_probabilistic(interval: str) -> bool:
    """Whether the interval named ``interval`` (one of :data:`INTERVALS`) joins the probabilistic bounds.

    Parameters
    ----------
    interval : str
        One of :data:`INTERVALS` (``--interval``): "certified" or "probabilistic".

    Returns
    -------
    bool
        True for "probabilistic".

    Raises
    ------
    ModelParameterError
        If ``interval`` is not one of :data:`INTERVALS`.
    """
    if interval not in INTERVALS:
        from ..errors import ModelParameterError

        raise ModelParameterError(f"--interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
    return interval == "probabilistic"


def bound_delta(summary: dict, name: str) -> float | None:
    """The delta of the probabilistic bound ``name`` (it holds with probability >= 1 - delta).

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    name : str
        The bound's variable.

    Returns
    -------
    float or None
        delta, from ``summary["var_attrs"]``; None when the file does not say (or ``name`` is not such
        a bound).
    """
    delta = summary.get("var_attrs", {}).get(name, {}).get("delta")
    return None if delta is None else float(delta)


def interval_delta(summary: dict, probabilistic: bool = False) -> float | None:
    """The probability of failure of the interval on f of :func:`interval_width`.

    The interval holds with probability >= 1 - this value.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    probabilistic : bool
        Whether the probabilistic bounds on f join the certified ones in the interval.

    Returns
    -------
    float or None
        0.0 for the certified interval (or when the file has no probabilistic bound on f); with
        ``probabilistic`` the sum of the deltas of the probabilistic bounds on f that join it (the union
        bound: every one of them holds with at least that probability); None when one of them has no
        delta in the file.
    """
    if not probabilistic:
        return 0.0
    f = free_energy_names(summary)
    deltas = [bound_delta(summary, name) for name in f["lower_prob"] + f["upper_prob"]]
    return None if None in deltas else float(sum(deltas))


def se_name(summary: dict, name: str) -> str | None:
    """The variable holding the Monte Carlo standard error of ``name``.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    name : str
        The estimate's variable.

    Returns
    -------
    str or None
        ``<name>_se`` (the naming convention of :class:`isingvar.methods.base.Var`), or None when
        ``summary`` has none.
    """
    se = f"{name}_se"
    return se if se in summary else None


def estimate_stats(summary: dict, name: str, j: int, h: int, done):
    """Mean, standard error and count of ``name`` over the completed samples at (``j``, ``h``).

    Like :func:`sample_stats`; where only one sample is counted and the file holds the value's own
    Monte Carlo standard error (:func:`se_name`), that is the standard error (with several samples the
    scatter over samples, which includes the Monte Carlo noise).

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    name : str
        The estimate's variable.
    j, h : int
        Indices into the J and h coordinates.
    done : array_like of bool, shape (sample,)
        The completed samples at (j, h); only they count.

    Returns
    -------
    mean : ndarray, shape (beta,)
        Mean over the counted values; NaN where none is counted.
    se : ndarray, shape (beta,)
        Standard error of the mean, as above; NaN where it cannot be estimated.
    count : ndarray of int, shape (beta,)
        Number of completed samples with a non-NaN value.
    """
    mean, se, count = sample_stats(grid_values(summary, name, j, h), done)
    mc = se_name(summary, name)
    if mc is not None:
        one = sample_stats(grid_values(summary, mc, j, h), done)[0]  # the one sample's value where count == 1
        se = np.where(count == 1, one, se)
    return mean, se, count


def quantity_names(summary: dict, quantity: str) -> list:
    """Every variable in ``summary`` of the declared ``quantity``.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    quantity : str
        A declared quantity: "u", "c", "m", "chi", ...

    Returns
    -------
    list of str
        Exact values, bounds and estimates of every method, in the file's order.
    """
    return [name for name, (_, q) in variable_kinds(summary).items() if q == quantity and name in summary]


def quantities(summary: dict) -> list:
    """The declared quantities of the (sample, J, h, beta) variables in ``summary``, sorted.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.

    Returns
    -------
    list of str
        The quantities, sorted.
    """
    return sorted({q for name, (_, q) in variable_kinds(summary).items() if q and name in summary})


def kl_names(summary: dict) -> list:
    """The derived ``kl_<method>`` variables in ``summary`` (quantity "kl").

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.

    Returns
    -------
    list of str
        Their names, in the file's order.
    """
    return [name for name, (_, quantity) in variable_kinds(summary).items() if quantity == "kl" and name in summary]


def _nan_reduce(stack, reduce):
    """``reduce`` (np.fmin / np.fmax) over the first axis of ``stack``, ignoring NaN; NaN where all are."""
    out = np.full(stack.shape[1:], np.nan)
    for a in stack:
        out = reduce(out, a)
    return out


def variable_method(summary: dict, name: str) -> str | None:
    """The method a variable of ``summary`` belongs to.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns, or built by hand.
    name : str
        The variable.

    Returns
    -------
    str or None
        The last method of its schema entry (``kl_mf``: mf), else the registry's declarations (a summary
        built by hand); None when neither knows it.
    """
    entry = summary.get("schema", {}).get(name)
    methods = tuple(getattr(entry, "methods", ()) or ())
    if methods:
        return methods[-1]
    from ..methods import all_methods, derived_variables

    for method in all_methods().values():
        if any(v.name == name for v in method.variables):
            return method.name
    for var, needs in derived_variables(tuple(all_methods())):
        if var.name == name:
            return needs[-1]
    return None


def tightest_source(summary: dict, side: str, j: int, h: int,
                    probabilistic: bool = False) -> tuple[np.ndarray, np.ndarray, list]:
    """Per sample the tightest bound on f of ``side`` and the variable that gives it.

    The bounds that join are those of :func:`tightest`.  A variable that is NaN at a point (not
    computed there) does not supply it; where several give the same tightest value the first in the
    file's order is named; where the tightest value is not finite (beta = 0, where every bound on f is
    -inf) none is.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    side : {"upper", "lower"}
        "upper": the least upper bound, "lower": the greatest lower bound.
    j, h : int
        Indices into the J and h coordinates.
    probabilistic : bool
        Whether the probabilistic bounds join the certified ones.

    Returns
    -------
    values : ndarray of float64, shape (sample, beta)
        The tightest bound (energy per spin); NaN where none.
    source : ndarray of int64, shape (sample, beta)
        Index into ``names`` of the variable that gives it; -1 where none is named.
    names : list of str
        The bound variables that joined, in the file's order.
    """
    f = free_energy_names(summary)
    names = f[side] + (f[f"{side}_prob"] if probabilistic else [])
    shape = (summary["done"].shape[0], summary["coords"]["beta"].size)
    if not names:
        return np.full(shape, np.nan), np.full(shape, -1, dtype=np.int64), []
    stack = np.stack([grid_values(summary, name, j, h) for name in names])
    values = _nan_reduce(stack, np.fmin if side == "upper" else np.fmax)
    # the first variable that attains the tightest value; NaN never equals it
    hit = stack == values[None]
    source = np.where(hit.any(axis=0) & np.isfinite(values), hit.argmax(axis=0), -1).astype(np.int64)
    return values, source, names


def source_tally(summary: dict, source: np.ndarray, names: list, done) -> list:
    """Per beta, how many completed samples each method supplies the tightest bound in.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    source : ndarray of int, shape (sample, beta)
        Index into ``names`` of the variable giving the tightest bound, -1 for none
        (:func:`tightest_source`).
    names : list of str
        The bound variables, as :func:`tightest_source` returns them.
    done : array_like of bool, shape (sample,)
        The completed samples; only they count.

    Returns
    -------
    list of tuple
        One entry per beta: ``((label, count), ...)``, most samples first (ties in the file's order);
        ``label`` the variable's method (:func:`variable_method`), with " probabilistic" after it for a
        bound of kind lower_prob or upper_prob; () where no sample names one.
    """
    kinds = variable_kinds(summary)
    labels = []
    for name in names:
        label = variable_method(summary, name) or name
        labels.append(label + (" probabilistic" if kinds.get(name, ("", ""))[0].endswith("_prob") else ""))
    source = np.asarray(source)[np.asarray(done, dtype=bool)]
    out = []
    for column in source.T:
        counts: dict = {}
        for k in column[column >= 0]:
            counts[labels[k]] = counts.get(labels[k], 0) + 1
        order = sorted(counts, key=lambda label: -counts[label])  # stable: file order among equal counts
        out.append(tuple((label, counts[label]) for label in order))
    return out


def tightest(summary: dict, side: str, j: int, h: int, probabilistic: bool = False) -> np.ndarray:
    """Per sample the tightest bound on f of ``side`` over the methods in ``summary``.

    Certified bounds only (kinds "lower", "upper"), unless ``probabilistic``: then the bounds that hold
    with probability >= 1 - delta (kinds "lower_prob", "upper_prob") join them, and the result holds with
    the probability :func:`interval_delta` gives.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    side : {"upper", "lower"}
        "upper": the least upper bound, "lower": the greatest lower bound.
    j, h : int
        Indices into the J and h coordinates.
    probabilistic : bool
        Whether the probabilistic bounds join the certified ones.

    Returns
    -------
    ndarray of float64, shape (sample, beta)
        The tightest bound (energy per spin); NaN where none.
    """
    return tightest_source(summary, side, j, h, probabilistic)[0]


def _finite(a):
    return np.where(np.isfinite(a), a, np.nan)


def bound_gap(summary: dict, j: int, h: int, probabilistic: bool = False) -> np.ndarray:
    """Per-sample gap (tightest upper bound on f) - (exact f) (energy per spin).

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    j, h : int
        Indices into the J and h coordinates.
    probabilistic : bool
        As in :func:`tightest`.

    Returns
    -------
    ndarray of float64, shape (sample, beta)
        The gap; NaN where either is missing or the difference is not finite (beta = 0, where both
        free energies are -inf).
    """
    exact = free_energy_names(summary)["exact"]
    with np.errstate(invalid="ignore"):
        gap = tightest(summary, "upper", j, h, probabilistic) - grid_values(summary, exact[0] if exact else "", j, h)
    return _finite(gap)


def lower_gap(summary: dict, j: int, h: int, probabilistic: bool = False) -> np.ndarray:
    """Per-sample gap (exact f) - (tightest lower bound on f) (energy per spin).

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    j, h : int
        Indices into the J and h coordinates.
    probabilistic : bool
        As in :func:`tightest`.

    Returns
    -------
    ndarray of float64, shape (sample, beta)
        The gap; NaN where either is missing or the difference is not finite.
    """
    exact = free_energy_names(summary)["exact"]
    with np.errstate(invalid="ignore"):
        gap = grid_values(summary, exact[0] if exact else "", j, h) - tightest(summary, "lower", j, h, probabilistic)
    return _finite(gap)


def interval_width(summary: dict, j: int, h: int, probabilistic: bool = False) -> np.ndarray:
    """Per-sample width of the interval on f between the tightest lower and upper bounds.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    j, h : int
        Indices into the J and h coordinates.
    probabilistic : bool
        The certified bounds (False), or the probabilistic ones too (:func:`tightest`; the interval
        then holds with probability >= 1 - :func:`interval_delta`).

    Returns
    -------
    ndarray of float64, shape (sample, beta)
        The width (energy per spin); NaN where a side is missing or the difference is not finite; 0 where
        the two sides cross by no more than their rounding (both exact, say: a TRW bound from the whole
        graph as one component and a mean-field bound clamped on every spin), a larger crossing kept as it
        is (a bound that fails).
    """
    upper = tightest(summary, "upper", j, h, probabilistic)
    lower = tightest(summary, "lower", j, h, probabilistic)
    with np.errstate(invalid="ignore"):
        width = upper - lower
        rounding = 64 * np.finfo(np.float64).eps * np.maximum(np.abs(upper), np.abs(lower))
        width = np.where((width < 0) & (width >= -rounding), 0.0, width)
    return _finite(width)
