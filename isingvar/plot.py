"""Figures of a result file: free energies, their bounds and gaps, and any declared quantity against beta.

Drawn with matplotlib's object API on the Agg canvas (no pyplot), so it needs
no display and touches no global figure state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import OutputPathError, ResultFileError
from .report import (
    bound_gap,
    estimate_stats,
    free_energy_names,
    grid_values,
    kl_names,
    lower_gap,
    quantities,
    quantity_names,
    sample_stats,
    se_name,
    tightest,
    variable_kinds,
)

_STYLE = {"exact": "-", "upper": "--", "lower": ":", "estimate": "-."}


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


def plot_result(summary: dict, path, *, pairs=None, variables=()) -> Path:
    """Write a figure of free energy and bound gap against beta, one column per (J, h).

    Each column has two panels, and one more per entry of ``variables``.  Top:
    the exact free energy per spin and every bound on it in the file (the
    variables the methods declare with quantity "f": exact, ``f_<method>_upper``,
    ``f_<method>_lower``; energy per spin, in units of
    J) and every Monte Carlo estimate of it with ±1 standard-error bars, with
    the interval between the tightest lower and the tightest upper
    bound shaded (sample means).  Second: the gaps of the tightest upper bound above
    the exact f and of the tightest lower bound below it (energy per spin);
    without an exact free energy, every ``kl_<method> / N`` (nats per spin);
    else a note.  With
    several completed samples the curves are the mean over them with a shaded
    band of +-1 standard error (:func:`isingvar.report.sample_stats`); with one
    sample, its curve.  Non-finite points (f = -inf at beta = 0) are skipped.

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

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ResultFileError
        If no instance of the file is complete, if ``pairs`` is empty or an
        index in it is out of range, or a quantity of ``variables`` is in no
        variable of the file (the message lists those that are).
    OutputPathError
        If the suffix of ``path`` names no image format.
    OutputBusyError, OutputWriteError
        If another process writes ``path``, or writing fails (disk full, ...).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .io.store import replace_atomically

    fmt = figure_format(path)

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
    names = [(name, kind) for kind in ("exact", "upper", "lower", "estimate") for name in f[kind]]
    for col, (j, h) in enumerate(pairs):
        _draw_column(summary, j, h, names, axes[0, col], axes[1, col])
        for row, q in enumerate(variables, start=2):
            _draw_quantity(summary, j, h, q, axes[row, col])
    replace_atomically(path, lambda tmp: fig.savefig(tmp, format=fmt))
    return Path(path)


def _draw_column(summary, j, h, names, top, bottom):
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
        _curve(top, beta, grid_values(summary, name, j, h), done, name, _STYLE[kind], summary=summary, at=(j, h))
    _interval(top, beta, summary, j, h, done)
    if top.lines:
        top.legend(fontsize="small")
    else:
        _note(top, "no free energies in this file")

    gaps = [(bound_gap(summary, j, h), "tightest upper bound − exact f"),
            (lower_gap(summary, j, h), "exact f − tightest lower bound")]
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


def _interval(ax, beta, summary, j, h, done):
    """Shade the interval on f between the tightest lower and upper bounds (means over the samples)."""
    lower = sample_stats(tightest(summary, "lower", j, h), done)[0]
    upper = sample_stats(tightest(summary, "upper", j, h), done)[0]
    band = np.isfinite(lower) & np.isfinite(upper)
    if band.any():
        ax.fill_between(beta, lower, upper, where=band, color="0.5", alpha=0.2, linewidth=0,
                        label="bounds: f lies in here")


def _draw_quantity(summary, j, h, quantity, ax):
    """Every variable of ``quantity`` at (j, h) against beta, on one axes."""
    done = summary["done"][:, j, h].astype(bool)
    beta = summary["coords"]["beta"]
    kinds = {name: kind for name, (kind, _) in variable_kinds(summary).items()}
    names = quantity_names(summary, quantity)
    for name in names:  # estimates and diagnostics dash-dotted
        _curve(ax, beta, grid_values(summary, name, j, h), done, name, _STYLE.get(kinds.get(name), "-."),
               summary=summary, at=(j, h))
    units = getattr(summary.get("schema", {}).get(names[0]), "units", "")
    ax.set_ylabel(f"{quantity} ({units})" if units else quantity)
    ax.set_xlabel("inverse temperature β (1/J)")
    if ax.lines:
        ax.legend(fontsize="small")
    else:
        _note(ax, f"no completed values of {quantity} at this (J, h)")


def _curve(ax, beta, values, done, label, style, summary=None, at=None):
    """Mean over completed samples, with a ±SE band when there are several; a Monte Carlo estimate
    (a variable with a standard error in ``summary``, :func:`isingvar.report.se_name`) gets error bars
    of ±1 standard error (:func:`isingvar.report.estimate_stats`) at (J, h) indices ``at``."""
    if summary is not None and se_name(summary, label):
        mean, se, _ = estimate_stats(summary, label, *at, done)
        mean = np.where(np.isfinite(mean), mean, np.nan)
        if np.isnan(mean).all():
            return
        ax.errorbar(beta, mean, yerr=np.where(np.isfinite(se), se, np.nan), fmt=style, capsize=2,
                    label=f"{label} ± SE")
        return
    mean, se, _ = sample_stats(values, done)
    mean = np.where(np.isfinite(mean), mean, np.nan)  # NaN breaks the line: skipped points
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
