"""The commands that list what the library offers: ``models`` (the families) and ``methods`` (the
registry's methods, their settings and variables), as tables that read at any width."""

from __future__ import annotations

from .tables import _Column, _print_tables, _tables


def models():
    """The model families, their parameters and energies."""
    from isingvar.families import FAMILIES

    rows = []
    for fam in FAMILIES.values():
        params = "\n".join(
            f"--{p.name} {p.kind.__name__.upper()}" + (f": {', '.join(p.choices)}" if p.choices else "")
            + (" (required)" if p.default is None else f" (default {p.default})")
            for p in fam.params
        )
        rows.append((fam.name, fam.size, params, f"{fam.summary}\n{fam.energy}"))
    # names and sizes whole; parameters and couplings wrap between words (a narrow console: split, model repeated)
    columns = [_Column(header, [r[k] for r in rows], k < 2) for k, header in enumerate(("model", "N", "parameters", "couplings"))]
    _print_tables(_tables("Model families (energy E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i)", columns, show_lines=True))


def methods():
    """The methods a sweep can run: settings (options `--<method>-<setting>`) and variables."""
    from isingvar.methods import all_methods, setting_bounds, setting_fields

    def accepted(bounds) -> str:
        """"; <range>" of a setting's :class:`isingvar.methods.base.Bounds`, "" where unbounded.

        Parameters
        ----------
        bounds : isingvar.methods.base.Bounds or None
            The setting's bounds.

        Returns
        -------
        str
            The text to append.
        """
        text = bounds.text() if bounds is not None else ""
        return f"; {text}" if text else ""

    rows = []
    for name, m in all_methods().items():
        bounds = setting_bounds(m)
        settings = "\n".join(f"--{name}-{f.replace('_', '-')} (default {d!r}{accepted(bounds.get(f))})"
                             for f, _, d in setting_fields(m)) or "—"
        variables = ", ".join(f"{v.name} ({v.kind})" for v in m.variables)
        rows.append((name + (" *" if m.default else ""), settings, f"{m.summary}\n{variables}"))
    columns = [_Column(header, [r[k] for r in rows], k == 0) for k, header in enumerate(("method", "settings", "variables"))]
    _print_tables(_tables("Methods (isingvar sweep --method NAME; default ones marked *)", columns, show_lines=True))
