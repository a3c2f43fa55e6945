"""Figures of a result file: free energies, their bounds and gaps, and any declared quantity against beta.

Drawn with matplotlib's object API on the Agg canvas (no pyplot), so it needs
no display and touches no global figure state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import OutputPathError, ResultFileError
from .report import (
    bound_delta,
    bound_gap,
    estimate_stats,
    free_energy_names,
    grid_values,
    interval_delta,
    is_probabilistic,
    kl_names,
    lower_gap,
    quantities,
    quantity_names,
    sample_stats,
    se_name,
    tightest,
    variable_kinds,
    withheld_mask,
    withheld_points,
)

#: Line style per kind; probabilistic bounds (kinds lower_prob, upper_prob) get markers too, so that they
#: never pass for the certified bounds.
_STYLE = {"exact": "-", "upper": "--", "lower": ":", "upper_prob": "v--", "lower_prob": "^:", "estimate": "-."}


def figure_format(path) -> str:
    """The image format matplotlib writes for ``path``, from its suffix (``.png``, ``.pdf``, ``.svg``, ...).

    Raises
    ------
    OutputPathError
        If the suffix is missing or names no format matplotlib writes (the
        message lists those it does).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    formats = FigureCanvasAgg(Figure()).get_supported_filetypes()
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in formats:
        raise OutputPathError(
            f"cannot tell the image format of {str(path)!r} from its suffix; end the name in one of "
            f"{', '.join('.' + k for k in sorted(formats))}"
        )
    return fmt


def plot_result(summary: dict, path, *, pairs=None, variables=(), interval: str = "certified") -> dict:
    """Write a figure of free energy and bound gap against beta, one column per (J, h).

    Each column has two panels, and one more per entry of ``variables``.  Top:
    the exact free energy per spin and every bound on it in the file (the
    variables the methods declare with quantity "f": exact, ``f_<method>_upper``,
    ``f_<method>_lower``; energy per spin, in units of
    J), every bound that holds with probability >= 1 - delta (kinds
    ``lower_prob``/``upper_prob``, with markers, labelled "probabilistic, p ≥
    0.99") and every Monte Carlo estimate of it with ±1 standard-error bars, with
    the interval between the tightest lower and the tightest upper
    bound shaded (sample means; certified bounds, or with ``interval``
    "probabilistic" the probabilistic ones too).  Second: the gaps of the tightest upper bound above
    the exact f and of the tightest lower bound below it (energy per spin);
    without an exact free energy, every ``kl_<method> / N`` (nats per spin);
    else a note.  With
    several completed samples the curves are the mean over them with a shaded
    band of +-1 standard error (:func:`isingvar.report.sample_stats`); with one
    sample, its curve.  Non-finite points (f = -inf at beta = 0) are skipped,
    and so are the points where a value is withheld or not computed (NaN in
    the file, the reason in its method's ``<method>_status``): with several
    samples, a point where any completed sample has it withheld (the mean
    of the others would be one over the reliable samples only).

    Parameters
    ----------
    summary : dict
        As returned by :func:`isingvar.io.store.read_summary`: variables shaped
        (sample, J, h, beta), ``done`` shaped (sample, J, h), ``coords`` and
        ``attrs`` (``model_family`` and ``n_spins`` go in the title).  An
        optional ``path`` entry names the file in error messages.
    path : path-like
        Image to write, in the format its suffix names (:func:`figure_format`:
        PNG, PDF, SVG, ...); replaced if it exists, atomically
        (:func:`isingvar.io.store.replace_atomically`); its folder is created.
    pairs : sequence of (int, int), optional
        (J index, h index) of the columns, in order; default every pair, J
        major.  The figure is about 4.5 inches (450 px) wide per column.
    variables : sequence of str
        Declared quantities ("u", "c", "m", "chi", "s", ...) drawn below, one
        panel each: every variable of that quantity in the file (exact values,
        bounds, estimates of every method) on the same axes.
    interval : {"certified", "probabilistic"}
        The shaded interval and the gaps: the certified bounds only (default),
        or the probabilistic bounds too (it holds with probability >= 1 - the
        sum of their deltas, :func:`isingvar.report.interval_delta`).

    Returns
    -------
    dict
        variable name -> {reason: count}: of each variable drawn, the
        (sample, J, h, beta) points of completed instances at ``pairs`` that
        are withheld or not computed, by the flag meaning of its status
        (``{"f_ar_is": {"khat_above_0.7": 4, "ess_below_floor": 1}}``); only
        variables with such points.  The figure is written to ``path``.

    Raises
    ------
    ResultFileError
        If no instance of the file is complete, if ``pairs`` is empty or an
        index in it is out of range, or a quantity of ``variables`` is in no
        variable of the file (the message lists those that are).
    ModelParameterError
        If ``interval`` is not one of :data:`isingvar.report.INTERVALS`.
    OutputPathError
        If the suffix of ``path`` names no image format.
    OutputBusyError, OutputWriteError
        If another process writes ``path``, or writing fails (disk full, ...).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .io.store import replace_atomically

    fmt = figure_format(path)
    probabilistic = is_probabilistic(interval)

    coords, done = summary["coords"], summary["done"].astype(bool)
    n_j, n_h = coords["J"].size, coords["h"].size
    if not done.any():
        where = summary.get("path", "the result file")
        raise ResultFileError(f"no completed instances in {where}; nothing to plot (run the sweep to completion first)")
    pairs = [(j, h) for j in range(n_j) for h in range(n_h)] if pairs is None else [tuple(p) for p in pairs]
    if not pairs:
        raise ResultFileError("pairs is empty; give at least one (J index, h index) or None for all")
    for j, h in pairs:
        if not (0 <= j < n_j and 0 <= h < n_h):
            raise ResultFileError(
                f"pair (J index {j}, h index {h}) is out of range; the file has J indices 0..{n_j - 1} "
                f"and h indices 0..{n_h - 1}"
            )

    available = quantities(summary)
    for q in variables:
        if q not in available:
            raise ResultFileError(f"no variable of quantity {q!r} in the file; choose from {', '.join(available)}")

    attrs = summary["attrs"]
    rows = 2 + len(variables)
    fig = Figure(figsize=(4.5 * len(pairs), 3.5 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, len(pairs), sharex="col", squeeze=False)
    title = f"{attrs.get('model_family', '?')}, N = {attrs.get('n_spins', '?')}"
    if done.sum(axis=0).max() > 1:
        title += "\nmean ± 1 standard error over completed samples"
    fig.suptitle(title, fontsize="medium")
    f = free_energy_names(summary)
    names = [(name, kind) for kind in ("exact", "upper", "upper_prob", "lower", "lower_prob", "estimate")
             for name in f[kind]]
    for col, (j, h) in enumerate(pairs):
        _draw_column(summary, j, h, names, axes[0, col], axes[1, col], probabilistic)
        for row, q in enumerate(variables, start=2):
            _draw_quantity(summary, j, h, q, axes[row, col])
    replace_atomically(path, lambda tmp: fig.savefig(tmp, format=fmt))
    drawn = [name for name, _ in names] + [name for q in variables for name in quantity_names(summary, q)]
    left_out = {name: withheld_points(summary, name, pairs) for name in dict.fromkeys(drawn)}
    return {name: counts for name, counts in left_out.items() if counts}


def _label(summary, name, kind) -> str:
    """Legend entry of ``name``: a probabilistic bound says so, with its probability."""
    if kind not in ("lower_prob", "upper_prob"):
        return name
    delta = bound_delta(summary, name)
    return f"{name} (probabilistic" + ("" if delta is None else f", p ≥ {1 - delta:g}") + ")"


def _draw_column(summary, j, h, names, top, bottom, probabilistic=False):
    coords = summary["coords"]
    beta = coords["beta"]
    done = summary["done"][:, j, h].astype(bool)
    n_done = int(done.sum())
    top.set_title(f"J = {coords['J'][j]:g}, h = {coords['h'][h]:g}  ({n_done} sample{'s' * (n_done != 1)})")
    top.set_ylabel("free energy per spin f (J)")
    bottom.set_xlabel("inverse temperature β (1/J)")
    if n_done == 0:
        for ax in (top, bottom):
            _note(ax, "no completed samples at this (J, h)")
        return
    for name, kind in names:
        _curve(top, beta, grid_values(summary, name, j, h), done, _label(summary, name, kind), _STYLE[kind],
               summary=summary, at=(j, h), name=name)
    _interval(top, beta, summary, j, h, done, probabilistic)
    if top.lines:
        top.legend(fontsize="small")
    else:
        _note(top, "no free energies in this file")

    note = " (probabilistic bounds too)" if interval_delta(summary, probabilistic) != 0 else ""
    gaps = [(bound_gap(summary, j, h, probabilistic), f"tightest upper bound − exact f{note}"),
            (lower_gap(summary, j, h, probabilistic), f"exact f − tightest lower bound{note}")]
    gaps = [(gap, label) for gap, label in gaps if np.isfinite(gap[done]).any()]
    kls = [name for name in kl_names(summary) if np.isfinite(grid_values(summary, name, j, h)[done]).any()]
    if gaps:
        for gap, label in gaps:
            _curve(bottom, beta, gap, done, label, "-")
        bottom.set_ylabel("bound gap (J per spin)")
        bottom.legend(fontsize="small")
    elif kls:
        # without both free energies the gap in ln Z (the KL divergence of a variational bound)
        for name in kls:
            _curve(bottom, beta, grid_values(summary, name, j, h) / summary["attrs"]["n_spins"], done, f"{name} / N", "-")
        bottom.set_ylabel("exact ln Z − lower bound, per spin (nats)")
        bottom.legend(fontsize="small")
    else:
        _note(bottom, "no bound gap: needs an exact method\nand a bound")
        return
    bottom.axhline(0.0, color="0.6", linewidth=0.8)  # the gap is >= 0: the bound holds


def _interval(ax, beta, summary, j, h, done, probabilistic=False):
    """Shade the interval on f between the tightest lower and upper bounds (means over the samples):
    the certified bounds, or with ``probabilistic`` the probabilistic ones too."""
    lower = sample_stats(tightest(summary, "lower", j, h, probabilistic), done)[0]
    upper = sample_stats(tightest(summary, "upper", j, h, probabilistic), done)[0]
    band = np.isfinite(lower) & np.isfinite(upper)
    if band.any():
        delta = interval_delta(summary, probabilistic)
        label = ("bounds: f lies in here" if delta == 0 else "bounds: f lies in here with probability"
                 + ("" if delta is None else f" ≥ {1 - delta:g}"))
        ax.fill_between(beta, lower, upper, where=band, color="0.5", alpha=0.2, linewidth=0, label=label)


def _draw_quantity(summary, j, h, quantity, ax):
    """Every variable of ``quantity`` at (j, h) against beta, on one axes."""
    done = summary["done"][:, j, h].astype(bool)
    beta = summary["coords"]["beta"]
    kinds = {name: kind for name, (kind, _) in variable_kinds(summary).items()}
    names = quantity_names(summary, quantity)
    for name in names:  # estimates and diagnostics dash-dotted
        _curve(ax, beta, grid_values(summary, name, j, h), done, _label(summary, name, kinds.get(name)),
               _STYLE.get(kinds.get(name), "-."), summary=summary, at=(j, h), name=name)
    units = getattr(summary.get("schema", {}).get(names[0]), "units", "")
    ax.set_ylabel(f"{quantity} ({units})" if units else quantity)
    ax.set_xlabel("inverse temperature β (1/J)")
    if ax.lines:
        ax.legend(fontsize="small")
    else:
        _note(ax, f"no completed values of {quantity} at this (J, h)")


def _curve(ax, beta, values, done, label, style, summary=None, at=None, name=None):
    """Mean over completed samples, with a ±SE band when there are several; a Monte Carlo estimate
    (a variable with a standard error in ``summary``, :func:`isingvar.report.se_name`) gets error bars
    of ±1 standard error (:func:`isingvar.report.estimate_stats`) at (J, h) indices ``at``.  The
    variable ``name`` (default ``label``) of ``summary`` is left out where a completed sample has it
    withheld (:func:`isingvar.report.withheld_mask`)."""
    name = label if name is None else name
    withheld = (withheld_mask(summary, name, *at, done) if summary is not None and at is not None
                else np.zeros(beta.size, dtype=bool))
    if summary is not None and se_name(summary, name):
        mean, se, _ = estimate_stats(summary, name, *at, done)
        mean = np.where(np.isfinite(mean) & ~withheld, mean, np.nan)
        if np.isnan(mean).all():
            return
        ax.errorbar(beta, mean, yerr=np.where(np.isfinite(se), se, np.nan), fmt=style, capsize=2,
                    label=f"{label} ± SE")
        return
    mean, se, _ = sample_stats(values, done)
    mean = np.where(np.isfinite(mean) & ~withheld, mean, np.nan)  # NaN breaks the line: skipped points
    if np.isnan(mean).all():
        return
    (line,) = ax.plot(beta, mean, style, label=label)
    band = np.isfinite(mean) & np.isfinite(se)
    if band.any():
        ax.fill_between(beta, mean - se, mean + se, where=band, color=line.get_color(), alpha=0.25, linewidth=0)


def _note(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_yticks([])


__all__ = ["plot_result"]
