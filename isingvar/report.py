"""Tables of results for people: bounds against beta, averaged over samples.

Pure functions on what :func:`isingvar.io.store.read_summary` returns; the CLI
formats them and :mod:`isingvar.plot` draws them.
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

    All NaN when the file lacks the variable.
    """
    if name not in summary:
        return np.full((summary["done"].shape[0], summary["coords"]["beta"].size), np.nan)
    return np.asarray(summary[name][:, j, h, :], dtype=float)


def model_lnZ_values(summary: dict) -> dict:
    """name -> value of every ``lnZ_model_*`` variable of a file-family summary (ln Z of the file's own
    model and its bounds, at beta = 1, J = 1, h = 0; mean over the completed samples), for the
    instances where it was computed; {} when the file has none."""
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
    """name -> (kind, quantity) of the method variables in ``summary``.

    From ``summary["schema"]`` (what :func:`isingvar.io.store.read_summary`
    returns), else from the registry's declarations (:mod:`isingvar.methods`)
    for a summary built by hand.
    """
    if "schema" in summary:
        return {name: (v.kind, v.quantity) for name, v in summary["schema"].items() if v.kind is not None}
    from .methods import all_methods, derived_variables

    declared = [v for m in all_methods().values() for v in m.variables]
    declared += [v for v, _ in derived_variables(tuple(all_methods()))]
    return {v.name: (v.kind, v.quantity) for v in declared if v.name in summary}


def free_energy_names(summary: dict) -> dict:
    """The free energies per spin in ``summary`` by kind:
    ``{"exact": [...], "lower": [...], "upper": [...], "estimate": [...]}``.

    ``lower`` are lower bounds on f, ``upper`` upper bounds, ``estimate`` approximations and Monte Carlo
    estimates that bound nothing (their own standard error, where they have one: :func:`se_name`), as the
    methods declare them (kind and quantity "f"); each list in the file's order.
    """
    out = {"exact": [], "lower": [], "upper": [], "estimate": []}
    for name, (kind, quantity) in variable_kinds(summary).items():
        if quantity == "f" and kind in out and name in summary:
            out[kind].append(name)
    return out


def se_name(summary: dict, name: str) -> str | None:
    """The variable holding the Monte Carlo standard error of ``name`` (``<name>_se``, the naming
    convention of :class:`isingvar.methods.base.Var`), or None when ``summary`` has none."""
    se = f"{name}_se"
    return se if se in summary else None


def estimate_stats(summary: dict, name: str, j: int, h: int, done):
    """Mean, standard error and count of ``name`` over the completed samples at (``j``, ``h``), shape (beta,)
    each, like :func:`sample_stats`; where only one sample is counted and the file holds the value's own
    Monte Carlo standard error (:func:`se_name`), that is the standard error (with several samples the
    scatter over samples, which includes the Monte Carlo noise)."""
    mean, se, count = sample_stats(grid_values(summary, name, j, h), done)
    mc = se_name(summary, name)
    if mc is not None:
        one = sample_stats(grid_values(summary, mc, j, h), done)[0]  # the one sample's value where count == 1
        se = np.where(count == 1, one, se)
    return mean, se, count


def quantity_names(summary: dict, quantity: str) -> list:
    """Every variable in ``summary`` of the declared ``quantity`` ("u", "c", "m", "chi", ...): exact values,
    bounds and estimates of every method, in the file's order."""
    return [name for name, (_, q) in variable_kinds(summary).items() if q == quantity and name in summary]


def quantities(summary: dict) -> list:
    """The declared quantities of the (sample, J, h, beta) variables in ``summary``, sorted."""
    return sorted({q for name, (_, q) in variable_kinds(summary).items() if q and name in summary})


def kl_names(summary: dict) -> list:
    """The derived ``kl_<method>`` variables in ``summary`` (quantity "kl")."""
    return [name for name, (_, quantity) in variable_kinds(summary).items() if quantity == "kl" and name in summary]


def _nan_reduce(stack, reduce):
    """``reduce`` (np.fmin / np.fmax) over the first axis of ``stack``, ignoring NaN; NaN where all are."""
    out = np.full(stack.shape[1:], np.nan)
    for a in stack:
        out = reduce(out, a)
    return out


def tightest(summary: dict, side: str, j: int, h: int) -> np.ndarray:
    """Per sample the tightest bound on f of ``side`` ("upper": the least upper bound, "lower": the
    greatest lower bound) over the methods in ``summary``, shape (sample, beta); NaN where none."""
    names = free_energy_names(summary)[side]
    shape = (summary["done"].shape[0], summary["coords"]["beta"].size)
    if not names:
        return np.full(shape, np.nan)
    stack = np.stack([grid_values(summary, name, j, h) for name in names])
    return _nan_reduce(stack, np.fmin if side == "upper" else np.fmax)


def _finite(a):
    return np.where(np.isfinite(a), a, np.nan)


def bound_gap(summary: dict, j: int, h: int) -> np.ndarray:
    """Per-sample gap (tightest upper bound on f) - (exact f) (energy per spin) of the tightest upper bound on f, shape (sample, beta).

    NaN where either is missing or the difference is not finite (beta = 0,
    where both free energies are -inf).
    """
    exact = free_energy_names(summary)["exact"]
    with np.errstate(invalid="ignore"):
        gap = tightest(summary, "upper", j, h) - grid_values(summary, exact[0] if exact else "", j, h)
    return _finite(gap)


def lower_gap(summary: dict, j: int, h: int) -> np.ndarray:
    """Per-sample gap (exact f) - (tightest lower bound on f) (energy per spin) of the tightest lower bound on f, shape (sample, beta)."""
    exact = free_energy_names(summary)["exact"]
    with np.errstate(invalid="ignore"):
        gap = grid_values(summary, exact[0] if exact else "", j, h) - tightest(summary, "lower", j, h)
    return _finite(gap)


def interval_width(summary: dict, j: int, h: int) -> np.ndarray:
    """Per-sample width of the interval on f between the tightest lower and upper bounds, shape (sample, beta)."""
    with np.errstate(invalid="ignore"):
        width = tightest(summary, "upper", j, h) - tightest(summary, "lower", j, h)
    return _finite(width)


def bounds_table(summary: dict, j: int = 0, h: int = 0, max_rows: int = 12) -> list[dict]:
    """Rows of bounds against beta at J index ``j`` and h index ``h``.

    Parameters
    ----------
    summary : dict
        As returned by :func:`isingvar.io.store.read_summary`.
    j, h : int
        Indices into the J and h coordinates.
    max_rows : int
        At most this many betas, evenly spaced and including both ends.

    Returns
    -------
    list of dict
        One row per beta with ``beta``; means over the completed samples of
        the exact free energy (when the file has one), every bound
        on f in the file (``f_<method>_lower``, then ``f_<method>_upper``;
        energy per spin), every estimate of f (kind "estimate": an
        approximation, not a bound; standard error: :func:`estimate_stats`),
        ``gap`` (the per-sample tightest upper bound minus
        the exact f, >= 0: the looseness of the upper side per spin), when the
        file has lower bounds on f ``gap_lower`` (the exact f minus the
        tightest lower bound) and ``width`` (tightest upper minus tightest
        lower: the interval that holds f, known without the exact f), and every
        ``kl_<method>`` (nats, total); the standard error of each as
        ``<name>_se`` (see :func:`sample_stats`; NaN with one sample); and
        ``n_done``, the number of completed samples at (j, h).  Values are NaN
        where a method did not run.
    """
    done = summary["done"][:, j, h].astype(bool)
    beta = summary["coords"]["beta"]
    f = free_energy_names(summary)
    columns = {name: grid_values(summary, name, j, h) for name in f["exact"][:1]}
    columns |= {name: grid_values(summary, name, j, h) for name in f["lower"] + f["upper"] + f["estimate"]}
    columns["gap"] = bound_gap(summary, j, h)
    if f["lower"]:
        columns["gap_lower"] = lower_gap(summary, j, h)
        columns["width"] = interval_width(summary, j, h)
    columns |= {name: grid_values(summary, name, j, h) for name in kl_names(summary)}
    stats = {name: sample_stats(values, done) for name, values in columns.items()}
    stats |= {name: estimate_stats(summary, name, j, h, done) for name in f["estimate"]}
    keep = np.unique(np.linspace(0, beta.size - 1, min(max_rows, beta.size)).round().astype(int))
    rows = []
    for k in keep:
        row = {"beta": float(beta[k])}
        for name in stats:
            row[name] = float(stats[name][0][k])
        for name in stats:
            row[f"{name}_se"] = float(stats[name][1][k])
        row["n_done"] = int(done.sum())
        rows.append(row)
    return rows
