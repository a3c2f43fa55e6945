"""Tables that read at any width (the bounds table of ``sweep`` and ``show``, ``models``, ``methods``) and
the per-method failure lines; values come from :mod:`isingvar.report`, nothing is computed here."""

from __future__ import annotations

import math

import typer
from rich.table import Table

from .console import _encodable, _fmt, err, out

# ------------------------------------------------------------------ tables that read at any width
# A cell is either whole (a number, "x ± se", a name: never broken, never cut) or text that may wrap
# between words (a reason, a description).  A table whose columns do not fit the console side by side
# is split into several tables with fewer columns, each repeating the key column(s) (beta, the model,
# the method), rather than letting rich shrink a column below its longest number or word (which cuts
# it: "-13.89…").  Where even one column beside the key does not fit, that table is printed wider than
# the console: a line runs over, nothing is cut.

#: Width of a boxed rich table beyond its columns' content: one padding space each side of a cell and a
#: rule between (and around) the cells.
_CELL_EXTRA = 3


class _Column:
    """One column of :func:`_tables`: a header (wraps between words), its cells and, per cell, whether it
    is whole (never broken) or wraps between words."""

    def __init__(self, header: str, cells: list, whole, justify: str = "left"):
        self.header = _encodable(header)
        self.cells = [_encodable(c) for c in cells]
        self.whole = [whole] * len(cells) if isinstance(whole, bool) else list(whole)
        self.justify = justify

    def widths(self) -> tuple[int, int]:
        """(least, natural) content width: the least keeps every whole cell and every word on one line."""
        from rich.cells import cell_len

        least, natural = 1, 1
        for text, whole in [(self.header, False), *zip(self.cells, self.whole)]:
            lines = text.split("\n")
            natural = max(natural, *(cell_len(line) for line in lines))
            parts = lines if whole else [word for line in lines for word in line.split()]
            least = max(least, *(cell_len(p) for p in parts), 1)
        return least, natural


def _groups(least: list, key: int, width: int) -> list[list[int]]:
    """Column indices of each table: the ``key`` first columns in every one, then as many of the others
    (in order) as fit in ``width`` at their least widths; at least one each."""
    groups, current = [], list(range(key))
    for i in range(key, len(least)):
        if len(current) > key and sum(least[k] + _CELL_EXTRA for k in current + [i]) + 1 > width:
            groups.append(current)
            current = list(range(key))
        current.append(i)
    groups.append(current)
    return groups


def _fit(least: list, natural: list, width: int) -> list[int]:
    """Content widths of one table's columns: natural, the widest narrowed first (never below its least)
    until the table fits ``width``."""
    widths = list(natural)
    excess = sum(w + _CELL_EXTRA for w in widths) + 1 - width
    while excess > 0:
        i = max(range(len(widths)), key=lambda k: (widths[k] - least[k] > 0, widths[k]))
        if widths[i] <= least[i]:
            break
        widths[i] -= 1
        excess -= 1
    return widths


def _tables(title: str, columns: list, *, key: int = 1, width: int | None = None, **table_options) -> list:
    """``columns`` (:class:`_Column`) as one rich Table, or as several with fewer columns (the ``key`` first
    columns repeated in each) where they do not fit ``width`` (default the console's) side by side; the
    title says "(part i of n)".  No number or word is ever cut: every column is at least as wide as its
    widest whole cell and its longest word."""
    from rich.text import Text

    width = width or out.width
    measured = [c.widths() for c in columns]
    least, natural = [m[0] for m in measured], [m[1] for m in measured]
    groups = _groups(least, key, width)
    tables = []
    for n, group in enumerate(groups, start=1):
        part = f" (part {n} of {len(groups)})" if len(groups) > 1 else ""
        table = Table(title=_encodable(title + part), title_justify="left", **table_options)
        for col, w in zip(group, _fit([least[i] for i in group], [natural[i] for i in group], width)):
            c = columns[col]
            table.add_column(Text(c.header), justify=c.justify, width=w, overflow="fold")
        for r in range(len(columns[0].cells)):
            table.add_row(*(Text(columns[col].cells[r]) for col in group))
        tables.append(table)
    return tables


def _print_tables(tables: list) -> None:
    """Print each table at the console's width, or wider where its columns need more (never cut)."""
    from rich.segment import Segments

    for table in tables:
        needed = sum(c.width + _CELL_EXTRA for c in table.columns) + 1
        if needed <= out.width:
            out.print(table)
        else:
            out.print(Segments(out.render(table, out.options.update_width(needed))), crop=False)


def _bounds_tables(rows, title: str, free_energies: dict, labels: dict | None = None, width: int | None = None) -> list:
    """Sample means (± standard error with several samples) against beta, from
    :func:`isingvar.report.bounds_table`: each lower bound on f (certified, then probabilistic), the exact
    f, each estimate of f (an approximation or a Monte Carlo estimate, ± its standard error; not a bound),
    each upper bound (probabilistic, then certified), the best interval (the tightest lower and upper
    bound, each with the method that gives it: :func:`_by_text`), then the width of the interval the bounds give;
    without a lower bound, the gap of the upper bound above the exact f and each kl_<method> instead.
    Where a value is withheld or not computed its cell holds the reason (``<name>_reason``) in place of
    the number.  ``free_energies`` is :func:`isingvar.report.free_energy_names`; ``labels`` column name ->
    header (:func:`_column_labels`: a probabilistic bound says its probability).

    One table, or where the columns do not fit ``width`` (default: the console's) several with beta
    repeated in each (:func:`_tables`): a number (``x ± se`` included) is never cut or broken over lines;
    a reason and a header wrap between words."""
    f = free_energies
    lower = [*f["lower"], *f.get("lower_prob", ())]
    names = ["beta", *lower, *f["exact"][:1], *f.get("estimate", ()), *f.get("upper_prob", ()), *f["upper"]]
    names += ["best_lower", "best_upper"]
    names += ["width"] if "width" in rows[0] else ["gap", *(k for k in rows[0] if k.startswith("kl_") and not k.endswith("_se"))]
    # columns of a method that did not run would only hold dashes
    names = [k for k in names if k in rows[0] and any(not math.isnan(r[k]) or r.get(f"{k}_reason") for r in rows)]
    columns = []
    for name in names:
        reasons = [r.get(f"{name}_reason") for r in rows]
        cells = [why or _fmt(r[name], r.get(f"{name}_se", math.nan)) for r, why in zip(rows, reasons)]
        if f"{name}_by" in rows[0]:
            cells = [cell + _by_text(r[f"{name}_by"]) for cell, r in zip(cells, rows)]
        header = (labels or {}).get(name, _BEST_HEADERS.get(name, name))
        columns.append(_Column(header, cells, [not why for why in reasons], justify="right"))
    return _tables(title, columns, key=1, width=width)


#: Headers of the best-interval columns of the bounds table (``best_lower``, ``best_upper``).
_BEST_HEADERS = {"best_lower": "best lower (method)", "best_upper": "best upper (method)"}


def _by_text(tally) -> str:
    """`` (trw)`` after a best bound that one method gives in every counted sample; ``(trw 3/4, mf 1/4)``
    where the methods differ between samples (``tally``: :func:`isingvar.report.source_tally`), each
    method after the first on a line of its own (the column stays as narrow as a one-method cell); ""
    for none."""
    if not tally:
        return ""
    if len(tally) == 1:
        return f" ({tally[0][0]})"
    n = sum(count for _, count in tally)
    return " (" + ",\n".join(f"{label} {count}/{n}" for label, count in tally) + ")"


def _column_labels(result: dict, probabilistic: bool) -> dict:
    """Headers of the bounds table that differ from the column's name: each probabilistic bound on f and,
    when the interval joins them, ``width`` and the best bounds (:data:`_BEST_HEADERS`) say with what
    probability they hold, e.g.
    ``f_ar_upper_prob (p ≥ 0.99)`` (``(probabilistic)`` where the file gives no delta)."""
    from isingvar.report import bound_delta, free_energy_names, interval_delta

    def p(delta):
        return "probabilistic" if delta is None else f"p ≥ {1 - delta:g}"

    f = free_energy_names(result)
    labels = {name: f"{name} ({p(bound_delta(result, name))})" for name in f["lower_prob"] + f["upper_prob"]}
    delta = interval_delta(result, probabilistic)
    if delta != 0:
        labels["width"] = f"width ({p(delta)})"
        labels |= {name: f"{header[:-1]}; {p(delta)})" for name, header in _BEST_HEADERS.items()}
    return labels


def _betas_text(betas) -> str:
    """Beta values for a message: all of them up to 8, else the first four, the last two and how many."""
    text = [f"{b:g}" for b in betas]
    if len(text) <= 8:
        return ", ".join(text)
    return ", ".join(text[:4]) + ", …, " + ", ".join(text[-2:]) + f" ({len(text)} values)"


def _failure_lines(result: dict) -> list[str]:
    """One line per method with points it could not compute or withheld
    (:func:`isingvar.report.failures`), e.g. ``exact: not computed at beta = 3, 3.5
    (precision_not_confirmed; 1 instance)``; several reasons are joined by ``, at beta = ...``."""
    from isingvar.report import failures, withheld_verb

    lines = []
    for method, items in failures(result).items():
        parts = [f"at beta = {_betas_text(betas)} ({reason}; {n} instance{'s' * (n != 1)})" for reason, betas, n in items]
        lines.append(f"{method}: {withheld_verb(result, method)} " + ", ".join(parts))
    return lines


def _print_failures(result: dict) -> None:
    """:func:`_failure_lines` on stderr, one plain line each."""
    for line in _failure_lines(result):
        typer.echo(_encodable(line, err), err=True)
