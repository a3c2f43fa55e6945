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
        mean of ``f_exact`` at beta = 0 is -inf, its SE NaN).
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


def bound_gap(summary: dict, j: int, h: int) -> np.ndarray:
    """Per-sample gap ``f_mf_upper - f_exact`` (energy per spin), shape (sample, beta).

    NaN where either is missing or the difference is not finite (beta = 0,
    where both free energies are -inf).
    """
    with np.errstate(invalid="ignore"):
        gap = grid_values(summary, "f_mf_upper", j, h) - grid_values(summary, "f_exact", j, h)
    return np.where(np.isfinite(gap), gap, np.nan)


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
        ``f_exact``, ``f_mf_upper`` (energy per spin), ``gap`` (the per-sample
        ``f_mf_upper - f_exact`` >= 0, the looseness of the bound per spin) and
        ``kl_mf`` (nats, total); their standard errors ``f_exact_se``,
        ``f_mf_upper_se``, ``gap_se``, ``kl_mf_se`` (see :func:`sample_stats`; NaN with one
        sample); and ``n_done``, the number of completed samples at (j, h).
        Values are NaN where a method did not run.
    """
    done = summary["done"][:, j, h].astype(bool)
    beta = summary["coords"]["beta"]
    stats = {name: sample_stats(grid_values(summary, name, j, h), done) for name in ("f_exact", "f_mf_upper", "kl_mf")}
    stats["gap"] = sample_stats(bound_gap(summary, j, h), done)
    keep = np.unique(np.linspace(0, beta.size - 1, min(max_rows, beta.size)).round().astype(int))
    rows = []
    for k in keep:
        row = {"beta": float(beta[k])}
        for name in ("f_exact", "f_mf_upper", "gap", "kl_mf"):
            row[name] = float(stats[name][0][k])
        for name in ("f_exact", "f_mf_upper", "gap", "kl_mf"):
            row[f"{name}_se"] = float(stats[name][1][k])
        row["n_done"] = int(done.sum())
        rows.append(row)
    return rows
