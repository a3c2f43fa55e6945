"""Tables of results for people: bounds against beta, averaged over samples.

Pure functions on what :func:`isingvar.io.store.read_summary` returns; the CLI
formats them.
"""

from __future__ import annotations

import warnings

import numpy as np


def _sample_mean(a, done):
    """Mean over samples of the completed instances; NaN where none is complete."""
    a = np.where(done[..., None], a, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN
        return np.nanmean(a, axis=0)


def bounds_table(summary: dict, j: int = 0, h: int = 0, max_rows: int = 12) -> list[dict]:
    """Rows (beta, f_exact, f_mf_upper, gap, kl_mf) at J index j and h index h.

    Values are means over the completed samples (NaN where a method did not
    run).  ``gap`` = f_mf_upper - f_exact >= 0 is the looseness of the bound
    per spin.  At most ``max_rows`` betas, evenly spaced and including both ends.
    """
    done = summary["done"][:, j, h].astype(bool)
    beta = summary["coords"]["beta"]
    cols = {name: _sample_mean(summary[name][:, j, h, :], done) for name in ("f_exact", "f_mf_upper", "kl_mf")}
    keep = np.unique(np.linspace(0, beta.size - 1, min(max_rows, beta.size)).round().astype(int))
    rows = []
    for k in keep:
        fe, fm = cols["f_exact"][k], cols["f_mf_upper"][k]
        rows.append({
            "beta": float(beta[k]), "f_exact": float(fe), "f_mf_upper": float(fm),
            "gap": float(fm - fe) if np.isfinite(fm - fe) else float("nan"), "kl_mf": float(cols["kl_mf"][k]),
        })
    return rows
