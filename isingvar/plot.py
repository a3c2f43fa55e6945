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
    interval_width,
    is_probabilistic,
    kl_names,
    lower_gap,
    quantities,
    quantity_names,
    sample_stats,
    se_name,
    source_tally,
    tightest_source,
    variable_kinds,
    variable_method,
    withheld_mask,
    withheld_points,
)

#: Line style per kind; probabilistic bounds (kinds lower_prob, upper_prob) get markers too, so that they
#: never pass for the certified bounds.
_STYLE = {"exact": "-", "upper": "--", "lower": ":", "upper_prob": "v--", "lower_prob": "^:", "estimate": "-."}

#: At most this many (J, h) pairs side by side; more pairs go on further rows of pairs.
MAX_PAIR_COLUMNS = 4
#: At most this many rows of panels in one image (a pair takes 2 + one per ``variables`` entry); the pairs
#: beyond go to further images (:func:`image_paths`), so that no image exceeds about 1800 x 4200 px.
MAX_PANEL_ROWS = 12
#: Width and height of one panel, inches (100 dpi).
PANEL_INCHES = (4.5, 3.5)
#: Colour of the curves that belong to no method (the gaps of the tightest bounds, the interval's width)
#: and of the shaded interval: greys, which no method has (:func:`method_colours`).
_NEUTRAL = "0.3"


def pairs_per_image(n_variables: int = 0) -> int:
    """How many (J, h) pairs one image holds with ``n_variables`` quantity panels per pair.

    Parameters
    ----------
    n_variables : int
        Quantity panels per pair (the entries of ``variables`` of :func:`plot_result`).

    Returns
    -------
    int
        :data:`MAX_PAIR_COLUMNS` side by side, in as many rows as :data:`MAX_PANEL_ROWS` allows (at
        least one).
    """
    return MAX_PAIR_COLUMNS * max(1, MAX_PANEL_ROWS // (2 + n_variables))


def image_paths(summary: dict, path, *, pairs=None, variables=()) -> list[Path]:
    """The images :func:`plot_result` writes for these arguments.

    Check them before drawing: the CLI refuses to replace any without ``--overwrite``.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    path : path-like
        The image named on the command line.
    pairs : sequence of (int, int), optional
        As in :func:`plot_result`; default every pair.
    variables : sequence of str
        As in :func:`plot_result`.

    Returns
    -------
    list of Path
        ``path`` itself, and where the pairs are more than :func:`pairs_per_image`, one more image per
        further group of pairs, ``<stem>-2<suffix>``, ``<stem>-3<suffix>``, ... beside it.
    """
    coords = summary["coords"]
    n_pairs = coords["J"].size * coords["h"].size if pairs is None else len(pairs)
    path = Path(path)
    n_images = max(1, -(-n_pairs // pairs_per_image(len(variables))))
    return [path] + [path.with_name(f"{path.stem}-{k}{path.suffix}") for k in range(2, n_images + 1)]


def method_colours() -> dict:
    """Method name -> matplotlib colour, the same in every panel and every figure.

    Returns
    -------
    dict
        method name -> colour: black for a method with exact values (the reference), the others the
        tab10 colours (grey left out: it marks what is no method's) in the registry's order.
    """
    from .methods import all_methods

    palette = [f"C{k}" for k in range(10) if k != 7]
    out, k = {}, 0
    for name, method in all_methods().items():
        if any(v.kind == "exact" for v in method.variables):
            out[name] = "black"
        else:
            out[name] = palette[k % len(palette)]
            k += 1
    return out


def _colour(summary: dict, name: str):
    """The colour of variable ``name``: its method's (:func:`method_colours`); None (matplotlib's next) when
    it has none."""
    return method_colours().get(variable_method(summary, name))


def _units(summary: dict, name: str | None, default: str) -> str:
    """The declared ``units`` of variable ``name`` (its schema entry, else the registry's declaration)."""
    entry = summary.get("schema", {}).get(name) if name else None
    if entry is None and name:
        from .methods import all_methods

        entry = next((v for m in all_methods().values() for v in m.variables if v.name == name), None)
    return getattr(entry, "units", None) or default


def _axis_label(symbol: str, units: str) -> str:
    """One convention for every axis: ``symbol [units]``, the units as the variables declare them."""
    return f"{symbol} [{units}]"


#: x axis of every panel; beta is in inverse units of the energies (J_ij, h_i), as chi ("1/energy").
_BETA_LABEL = _axis_label("inverse temperature β", "1/energy")


def figure_format(path) -> str:
    """The image format matplotlib writes for ``path``, from its suffix (``.png``, ``.pdf``, ``.svg``, ...).

    Parameters
    ----------
    path : path-like
        The image to write.

    Returns
    -------
    str
        The format, the suffix lower-cased without its dot.

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
    """Write a figure of free energy and bound gap against beta, a block of panels per (J, h).

    Layout: the (J, h) pairs in a grid of at most :data:`MAX_PAIR_COLUMNS` side by side, in rows as
    needed, each panel :data:`PANEL_INCHES` (450 x 350 px); where the pairs need more than
    :data:`MAX_PANEL_ROWS` rows of panels, the further pairs go to further images beside ``path``
    (:func:`image_paths`: ``<stem>-2<suffix>``, ...), :func:`pairs_per_image` each.  A method has one
    colour in every panel and every figure (:func:`method_colours`; a kind has one line style), the
    curves that belong to no method are grey, and every axis reads ``symbol [units]`` with the units
    the variables declare (``f [energy per spin]``, ``m [1]``, ``β [1/energy]``).

    Each pair has two panels, and one more per entry of ``variables``.  Top:
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
    without them, every ``kl_<method> / N`` (nats per spin); without an exact free energy, the width
    of the interval (tightest upper minus tightest lower bound); else a note.  With
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
        (:func:`isingvar.io.outputs.replace_atomically`); its folder is created.
    pairs : sequence of (int, int), optional
        (J index, h index) of the pairs, in order (row by row of the grid);
        default every pair, J major.
    variables : sequence of str
        Declared quantities ("u", "c", "m", "chi", "s", ...) drawn below, one
        panel each: every variable of that quantity in the file (exact values,
        bounds, estimates of every method) on the same axes.  A variable with
        no value at a pair where its method computed others (``chi_exact`` where
        the planar exact path ran: it gives no chi) gets a note saying so and
        what that method gave there.
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
        variables with such points.  The figure is written to ``path`` (and
        the further images of :func:`image_paths`).

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
    from .io.outputs import replace_atomically

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

    f = free_energy_names(summary)
    names = [(name, kind) for kind in ("exact", "upper", "upper_prob", "lower", "lower_prob", "estimate")
             for name in f[kind]]
    per_image = pairs_per_image(len(variables))
    paths = image_paths(summary, path, pairs=pairs, variables=variables)
    for k, image in enumerate(paths):
        fig = _figure(summary, pairs[k * per_image:(k + 1) * per_image], names, variables, probabilistic,
                      part=(k + 1, len(paths), k * per_image, len(pairs)))
        replace_atomically(image, lambda tmp, fig=fig: fig.savefig(tmp, format=fmt))
    drawn = [name for name, _ in names] + [name for q in variables for name in quantity_names(summary, q)]
    left_out = {name: withheld_points(summary, name, pairs) for name in dict.fromkeys(drawn)}
    return {name: counts for name, counts in left_out.items() if counts}


def _figure(summary, pairs, names, variables, probabilistic, part):
    """One image: ``pairs`` in a grid of at most :data:`MAX_PAIR_COLUMNS` pairs side by side, rows as needed,
    each pair a block of 2 + len(``variables``) panels one above the other.  ``part`` (image number, images,
    index of its first pair, pairs in all) goes in the title where the pairs span several images."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    block = 2 + len(variables)
    n_cols = min(MAX_PAIR_COLUMNS, len(pairs))
    n_rows = -(-len(pairs) // n_cols)
    fig = Figure(figsize=(PANEL_INCHES[0] * n_cols, PANEL_INCHES[1] * block * n_rows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(block * n_rows, n_cols, squeeze=False)
    attrs, done = summary["attrs"], summary["done"].astype(bool)
    title = f"{attrs.get('model_family', '?')}, N = {attrs.get('n_spins', '?')}"
    number, images, first, total = part
    if images > 1:
        title += f" (image {number} of {images}: (J, h) pairs {first + 1} to {first + len(pairs)} of {total})"
    if done.sum(axis=0).max() > 1:
        title += "\nmean ± 1 standard error over completed samples"
    fig.suptitle(title, fontsize="medium")
    for k, (j, h) in enumerate(pairs):
        row, col = block * (k // n_cols), k % n_cols
        column = axes[row:row + block, col]
        _draw_column(summary, j, h, names, column[0], column[1], probabilistic)
        for ax, q in zip(column[2:], variables):
            _draw_quantity(summary, j, h, q, ax)
        for ax in column[:-1]:
            ax.set_xlabel("")  # the pair's bottom panel names the x axis
    for k in range(len(pairs), n_rows * n_cols):  # the empty places of the last row
        for ax in axes[block * (k // n_cols):block * (k // n_cols + 1), k % n_cols]:
            ax.set_visible(False)
    return fig


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
    f_units = _units(summary, next((name for name, _ in names), None), "energy per spin")
    top.set_ylabel(_axis_label("f", f_units))
    bottom.set_xlabel(_BETA_LABEL)
    if n_done == 0:
        for ax in (top, bottom):
            _note(ax, "no completed samples at this (J, h)")
        return
    for name, kind in names:
        _curve(top, beta, grid_values(summary, name, j, h), done, _label(summary, name, kind), _STYLE[kind],
               summary=summary, at=(j, h), name=name, color=_colour(summary, name))
    _interval(top, beta, summary, j, h, done, probabilistic)
    if top.lines:
        top.legend(fontsize="small")
    else:
        _note(top, "no free energies in this file")

    note = " (probabilistic bounds too)" if interval_delta(summary, probabilistic) != 0 else ""
    gaps = [(bound_gap(summary, j, h, probabilistic), f"tightest upper bound − exact f{note}", "-"),
            (lower_gap(summary, j, h, probabilistic), f"exact f − tightest lower bound{note}", "--")]
    gaps = [gap for gap in gaps if np.isfinite(gap[0][done]).any()]
    kls = [name for name in kl_names(summary) if np.isfinite(grid_values(summary, name, j, h)[done]).any()]
    width = interval_width(summary, j, h, probabilistic)
    if gaps:
        for gap, label, style in gaps:
            _curve(bottom, beta, gap, done, label, style, color=_NEUTRAL)
        bottom.set_ylabel(_axis_label("bound gap", f_units))
    elif kls:
        # without both free energies the gap in ln Z (the KL divergence of a variational bound)
        for name in kls:
            _curve(bottom, beta, grid_values(summary, name, j, h) / summary["attrs"]["n_spins"], done, f"{name} / N",
                   "-", color=_colour(summary, name))
        bottom.set_ylabel(_axis_label("exact ln Z − lower bound, per spin", _units(summary, kls[0], "nat") + " per spin"))
    elif np.isfinite(width[done]).any():
        # without an exact f: how far apart the bounds are, the most the exact f can be from either
        _curve(bottom, beta, width, done, f"tightest upper − tightest lower bound{note}", "-", color=_NEUTRAL)
        bottom.set_ylabel(_axis_label("interval width", f_units))
    else:
        _note(bottom, "no bound gap: needs a bound on each side,\nor an exact method and a bound")
        return
    bottom.legend(fontsize="small")
    bottom.axhline(0.0, color="0.6", linewidth=0.8)  # the gap is >= 0: the bound holds


def _interval(ax, beta, summary, j, h, done, probabilistic=False):
    """Shade the interval on f between the tightest lower and upper bounds (means over the samples):
    the certified bounds, or with ``probabilistic`` the probabilistic ones too.  The legend names it
    ("certified interval") and the methods that give each side somewhere in the panel, most points
    first (:func:`isingvar.report.source_tally`)."""
    sides = {}
    for side in ("lower", "upper"):
        values, source, names = tightest_source(summary, side, j, h, probabilistic)
        totals = {}
        for label, n in (pair for point in source_tally(summary, source, names, done) for pair in point):
            totals[label] = totals.get(label, 0) + n
        sides[side] = (sample_stats(values, done)[0], sorted(totals, key=lambda label: -totals[label]))
    (lower, by_lower), (upper, by_upper) = sides["lower"], sides["upper"]
    band = np.isfinite(lower) & np.isfinite(upper)
    if band.any():
        delta = interval_delta(summary, probabilistic)
        label = ("certified interval" if delta == 0 else "interval with probability"
                 + ("" if delta is None else f" ≥ {1 - delta:g}"))
        label += f": f lies in here\n(lower: {', '.join(by_lower) or '—'}; upper: {', '.join(by_upper) or '—'})"
        ax.fill_between(beta, lower, upper, where=band, color="0.5", alpha=0.2, linewidth=0, label=label)


def _draw_quantity(summary, j, h, quantity, ax):
    """Every variable of ``quantity`` at (j, h) against beta, on one axes."""
    done = summary["done"][:, j, h].astype(bool)
    beta = summary["coords"]["beta"]
    kinds = {name: kind for name, (kind, _) in variable_kinds(summary).items()}
    names = quantity_names(summary, quantity)
    for name in names:  # estimates and diagnostics dash-dotted
        _curve(ax, beta, grid_values(summary, name, j, h), done, _label(summary, name, kinds.get(name)),
               _STYLE.get(kinds.get(name), "-."), summary=summary, at=(j, h), name=name, color=_colour(summary, name))
    ax.set_ylabel(_axis_label(quantity, _units(summary, names[0], "1")))
    ax.set_xlabel(_BETA_LABEL)
    notes = [text for name in names if (text := _absent_note(summary, name, j, h, done))]
    if ax.lines:  # a note on what is missing heads the legend, which keeps off the curves
        ax.legend(fontsize="small", title="\n".join(notes) or None, title_fontsize="x-small")
    else:
        _note(ax, "\n".join(notes) or f"no completed values of {quantity} at this (J, h)")


def _absent_note(summary, name, j, h, done) -> str | None:
    """Why variable ``name`` has no value at any completed sample of (j, h) although its method computed
    others there (it gives no such quantity on the path it took: ``chi_exact`` on the planar exact path),
    e.g. "no chi_exact: the planar exact path gives no chi (it gave lnZ, f, u, s, c, m here)"; None where it has a
    value, or its method gave nothing there (withheld or not run: :func:`isingvar.report.withheld_points`
    counts those)."""
    if not done.any() or np.isfinite(grid_values(summary, name, j, h)[done]).any():
        return None
    method = variable_method(summary, name)
    kinds = variable_kinds(summary)
    given = [quantity for other, (kind, quantity) in kinds.items()
             if other != name and quantity and kind != "diagnostic" and other in summary
             and variable_method(summary, other) == method and np.isfinite(grid_values(summary, other, j, h)[done]).any()]
    if method is None or not given:
        return None
    paths = _paths_taken(summary, method, j, h, done)
    by = f"the {' and '.join(paths)} {method} path" if paths else f"the {method} method"
    return f"no {name}: {by} gives no {kinds[name][1]}\n(it gave {', '.join(dict.fromkeys(given))} here)"


def _paths_taken(summary, method, j, h, done) -> list:
    """Names of the paths ``method`` took at the completed samples of (j, h), from its per-instance flag
    variable ``<method>_path`` in the result file (``summary["path"]``; the exact method's ``exact_path``);
    [] where there is none to read."""
    where = summary.get("path")
    if not where:
        return []
    try:
        import h5py

        with h5py.File(where, "r", locking=False) as f:
            if f"{method}_path" not in f:
                return []
            var = f[f"{method}_path"]
            codes = np.asarray(var[:, j, h])[np.asarray(done, dtype=bool)]
            values = [int(v) for v in var.attrs["flag_values"]]
            meanings = var.attrs["flag_meanings"]
    except (OSError, KeyError, ValueError, TypeError):
        return []
    meanings = (meanings.decode() if isinstance(meanings, bytes) else str(meanings)).split()
    return [meanings[values.index(c)] for c in sorted(set(codes.tolist())) if c in values and values.index(c) < len(meanings)]


def _curve(ax, beta, values, done, label, style, summary=None, at=None, name=None, color=None):
    """Mean over completed samples, with a ±SE band when there are several; a Monte Carlo estimate
    (a variable with a standard error in ``summary``, :func:`isingvar.report.se_name`) gets error bars
    of ±1 standard error (:func:`isingvar.report.estimate_stats`) at (J, h) indices ``at``.  The
    variable ``name`` (default ``label``) of ``summary`` is left out where a completed sample has it
    withheld (:func:`isingvar.report.withheld_mask`).  ``color``: the curve's (its method's), None for
    matplotlib's next."""
    name = label if name is None else name
    withheld = (withheld_mask(summary, name, *at, done) if summary is not None and at is not None
                else np.zeros(beta.size, dtype=bool))
    if summary is not None and se_name(summary, name):
        mean, se, _ = estimate_stats(summary, name, *at, done)
        mean = np.where(np.isfinite(mean) & ~withheld, mean, np.nan)
        if np.isnan(mean).all():
            return
        ax.errorbar(beta, mean, yerr=np.where(np.isfinite(se), se, np.nan), fmt=style, capsize=2, color=color,
                    label=f"{label} ± SE")
        return
    mean, se, _ = sample_stats(values, done)
    mean = np.where(np.isfinite(mean) & ~withheld, mean, np.nan)  # NaN breaks the line: skipped points
    if np.isnan(mean).all():
        return
    (line,) = ax.plot(beta, mean, style, label=label, color=color)
    band = np.isfinite(mean) & np.isfinite(se)
    if band.any():
        ax.fill_between(beta, mean - se, mean + se, where=band, color=line.get_color(), alpha=0.25, linewidth=0)


def _note(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_yticks([])


__all__ = ["figure_format", "image_paths", "method_colours", "pairs_per_image", "plot_result"]
