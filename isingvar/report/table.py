"""The bounds table: bounds on f against beta at one (J, h), averaged over the samples, with the reason
where a value is withheld (imported as :mod:`isingvar.report`)."""

from __future__ import annotations

import math

import numpy as np

from .values import (
    bound_gap,
    estimate_stats,
    free_energy_names,
    grid_values,
    interval_width,
    kl_names,
    lower_gap,
    sample_stats,
    source_tally,
    tightest_source,
)
from .withheld import governed, reasons


def bounds_table(summary: dict, j: int = 0, h: int = 0, max_rows: int = 12, *,
                 probabilistic: bool = False) -> list[dict]:
    """Rows of bounds against beta at J index ``j`` and h index ``h``.

    Parameters
    ----------
    summary : dict
        As returned by :func:`isingvar.io.store.read_summary`.
    j, h : int
        Indices into the J and h coordinates.
    max_rows : int
        At most this many betas, evenly spaced and including both ends.
    probabilistic : bool
        ``best_lower``, ``best_upper``, ``gap``, ``gap_lower`` and ``width`` from the certified bounds
        and the probabilistic ones
        (:func:`tightest`); default the certified bounds alone.

    Returns
    -------
    list of dict
        One row per beta with ``beta`` (float); means over the completed samples (float) of
        the exact free energy (when the file has one), every bound
        on f in the file (``f_<method>_lower``, then ``f_<method>_upper``;
        energy per spin), every probabilistic bound on f (kinds "lower_prob", "upper_prob":
        ``f_<method>_upper_prob``; :func:`bound_delta`), every estimate of f (kind "estimate": an
        approximation, not a bound; standard error: :func:`estimate_stats`),
        ``gap`` (the per-sample tightest upper bound minus
        the exact f, >= 0: the looseness of the upper side per spin), when the
        file has lower bounds on f ``gap_lower`` (the exact f minus the
        tightest lower bound) and ``width`` (tightest upper minus tightest
        lower: the interval that holds f, known without the exact f), ``best_lower`` and ``best_upper``
        where the file has bounds of that side (the per-sample tightest lower and upper bound on f over
        its methods: the best interval, :func:`tightest_source`), and every
        ``kl_<method>`` (nats, total); the standard error of each as
        ``<name>_se`` (see :func:`sample_stats`; NaN with one sample); for
        every free-energy column a status flag governs (:func:`governed`: the exact f and the
        estimates of a file of schema 4; none in older files) ``<name>_reason``: None, or (str,
        :func:`reasons`) why it is withheld or not computed in a completed sample at that beta,
        and then its mean and standard error are NaN (a mean over the other samples would be one
        over the reliable ones only); with ``best_lower``, ``best_upper`` the method that gives each
        as ``best_lower_by``, ``best_upper_by`` (tuple of (method, number of completed samples)
        pairs, most first: :func:`source_tally`; () where none is named); and ``n_done`` (int), the
        number of completed samples at (j, h).  Values are NaN where a method did not run.
    """
    done = summary["done"][:, j, h].astype(bool)
    beta = summary["coords"]["beta"]
    f = free_energy_names(summary)
    f_names = f["exact"][:1] + f["lower"] + f["upper"] + f["lower_prob"] + f["upper_prob"] + f["estimate"]
    columns = {name: grid_values(summary, name, j, h) for name in f_names}
    columns["gap"] = bound_gap(summary, j, h, probabilistic)
    if f["lower"] or (probabilistic and f["lower_prob"]):
        columns["gap_lower"] = lower_gap(summary, j, h, probabilistic)
        columns["width"] = interval_width(summary, j, h, probabilistic)
    by = {}
    for side in ("lower", "upper"):
        values, source, names = tightest_source(summary, side, j, h, probabilistic)
        if names:
            columns[f"best_{side}"] = values
            by[f"best_{side}_by"] = source_tally(summary, source, names, done)
    columns |= {name: grid_values(summary, name, j, h) for name in kl_names(summary)}
    stats = {name: sample_stats(values, done) for name, values in columns.items()}
    stats |= {name: estimate_stats(summary, name, j, h, done) for name in f["estimate"]}
    gov = governed(summary)
    why = {name: reasons(summary, name, j, h, done) for name in f_names if name in gov}
    keep = np.unique(np.linspace(0, beta.size - 1, min(max_rows, beta.size)).round().astype(int))
    rows = []
    for k in keep:
        row = {"beta": float(beta[k])}
        withheld = {name for name in why if why[name][k]}
        for name in stats:
            row[name] = math.nan if name in withheld else float(stats[name][0][k])
        for name in stats:
            row[f"{name}_se"] = math.nan if name in withheld else float(stats[name][1][k])
        for name in why:
            row[f"{name}_reason"] = why[name][k]
        for name in by:
            row[name] = by[name][k]
        row["n_done"] = int(done.sum())
        rows.append(row)
    return rows
