"""What a result summary withholds or could not compute, and why: the ``<method>_status`` flags, the
variables they govern, the reason text of a table cell, and the per-method failure counts.

Pure functions on what :func:`isingvar.io.store.read_summary` returns (imported as :mod:`isingvar.report`).
"""

from __future__ import annotations

import numpy as np

from .values import grid_values, variable_kinds

#: Kinds of the variables a ``<method>_status`` flag governs: where it is not 0 they are NaN in the file.
GOVERNED_KINDS = ("exact", "estimate")

#: What a status meaning says in a table cell: (head, detail) where detail is None (nothing more to say)
#: or "khat" / "ess" (the value of the method's ``<method>_khat`` / ``<method>_ess``).  Meanings not
#: listed read "not computed (<meaning>)" for exact values and "withheld (<meaning>)" for others.
_PHRASES = {
    "khat_above_0.7": ("unreliable", "khat"),
    "ess_below_floor": ("unreliable", "ess"),
    "outside_certified_interval": ("outside certified interval", None),
    "single_state": ("one state sampled", None),
    "not_run": ("not run", None),
}


def _entries(summary: dict) -> dict:
    """name -> schema entry (kind, quantity, methods, flags) of the variables of ``summary``: its
    ``schema``, else the registry's declarations (:func:`isingvar.io.schema.schema`) for a hand-built one."""
    if "schema" in summary:
        return summary["schema"]
    from ..io.schema import schema
    from ..methods import all_methods

    return schema(tuple(all_methods()), sites=False)


def status_names(summary: dict) -> dict:
    """Method -> name of its per-beta ``<method>_status`` flag variable in ``summary["status"]``.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.

    Returns
    -------
    dict
        method -> status variable name; {} for a file without them (schema 2 and 3).
    """
    entries = _entries(summary)
    out = {}
    for name in summary.get("status", {}) or {}:
        var = entries.get(name)
        methods = getattr(var, "methods", ()) or (name.removesuffix("_status"),)
        out[methods[0]] = name
    return out


def status_meanings(summary: dict, status: str) -> tuple:
    """The flag meanings of the status variable ``status``, in flag-value order.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    status : str
        A ``<method>_status`` variable (:func:`status_names`).

    Returns
    -------
    tuple of str
        The meanings (``meanings[0]``: the values are shown), from its schema entry's ``flags``; ()
        when it has none.
    """
    var = _entries(summary).get(status)
    flags = getattr(var, "flags", ()) or ()
    return tuple(flags[1].split()) if len(flags) == 2 else ()


def governed(summary: dict) -> dict:
    """Variable name -> the status variable that governs it.

    Every variable of ``summary`` of a kind in :data:`GOVERNED_KINDS` filled by one method alone
    (schema ``methods == (m,)``) that has a ``<m>_status`` (:func:`status_names`).  Where that status
    is not 0, the variable is NaN in the file.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.

    Returns
    -------
    dict
        variable name -> status variable name.
    """
    statuses = status_names(summary)
    out = {}
    for name, var in _entries(summary).items():
        methods = tuple(getattr(var, "methods", ()) or ())
        if name in summary and var.kind in GOVERNED_KINDS and len(methods) == 1 and methods[0] in statuses:
            out[name] = statuses[methods[0]]
    return out


def withheld_verb(summary: dict, method: str) -> str:
    """How to say that ``method``'s values at a flagged point are missing.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    method : str
        The method's name.

    Returns
    -------
    str
        "not computed" when it governs exact values (they could not be computed), else "withheld"
        (computed, and not shown: an estimate that failed its checks).
    """
    statuses = status_names(summary)
    kinds = {_entries(summary)[name].kind for name, status in governed(summary).items()
             if status == statuses.get(method)}
    return "not computed" if "exact" in kinds else "withheld"


def _meaning(meanings: tuple, code: int) -> str:
    return meanings[code] if 0 <= code < len(meanings) else f"code_{code}"


def _status_at(summary: dict, status: str, j: int, h: int) -> np.ndarray:
    """int (sample, beta) of the status variable ``status`` at (``j``, ``h``)."""
    return np.asarray(summary["status"][status][:, j, h, :]).astype(int)


def ess_floor_of(summary: dict, method: str) -> float | None:
    """The least effective sample size ``method``'s estimates need.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    method : str
        The method's name.

    Returns
    -------
    float or None
        max(100, 1 % of its Monte Carlo samples), the samples being the ``samples`` setting in the
        file's ``config`` (:func:`isingvar.importance.ess_floor`); None when the file does not say.
    """
    try:
        samples = summary["attrs"]["config"]["settings"][method]["samples"]
    except (KeyError, TypeError):
        return None
    from ..importance import ess_floor

    return float(ess_floor(int(samples)))


def _khat_text(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.2g}"


def _detail(summary, method, detail, values, several: bool) -> str | None:
    """k-hat or ESS of the flagged samples (``values``: their ``<method>_khat`` or ``<method>_ess``, NaN
    where the file has none) for a reason text."""
    values = values[np.isfinite(values)]
    if detail == "khat":
        if not values.size:
            return "k̂ > 0.7"
        return f"k̂ {'up to ' if several else ''}{_khat_text(float(values.max()))}"
    floor = ess_floor_of(summary, method)
    if not values.size:
        return None if floor is None else f"ESS < {floor:g}"
    text = f"ESS {'down to ' if several else ''}{float(values.min()):.3g}"
    return text if floor is None else f"{text} < {floor:g}"


def reasons(summary: dict, name: str, j: int, h: int, done) -> list:
    """Why ``name`` has no value to show at each beta at (``j``, ``h``), over the completed samples.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    name : str
        A variable of ``summary``; only those :func:`governed` by a status flag have reasons.
    j, h : int
        Indices into the J and h coordinates.
    done : array_like of bool, shape (sample,)
        The completed samples at (j, h); only they count.

    Returns
    -------
    list of (str or None), length beta
        None where no completed sample is flagged (status 0, or -1: not computed yet), else the reason:
        with one completed sample ``"unreliable (k̂ 3.1)"``, ``"unreliable (ESS 3 < 100)"``,
        ``"outside certified interval"``, ``"one state sampled"``, ``"not run"``,
        ``"not computed (precision_not_confirmed)"`` (an exact value) or ``"withheld (<meaning>)"``;
        with several, how many of them are flagged: ``"unreliable in 3 of 4 samples (k̂ up to 3.1)"``,
        ``"not computed in 1 of 4 samples (precision_not_confirmed)"``, and for several reasons at once
        ``"withheld in 3 of 4 samples (khat_above_0.7: 2, single_state: 1; k̂ up to 3.1)"``.  k̂ is the
        largest ``<method>_khat`` and ESS the least ``<method>_ess`` of the flagged samples, where the file
        has them; the ESS floor is :func:`ess_floor_of`.
    """
    nb = summary["coords"]["beta"].size
    status = governed(summary).get(name)
    if status is None:
        return [None] * nb
    done = np.asarray(done, dtype=bool)
    method = next(m for m, s in status_names(summary).items() if s == status)
    meanings = status_meanings(summary, status)
    kind = _entries(summary)[name].kind
    st = _status_at(summary, status, j, h)
    diag = {d: grid_values(summary, f"{method}_{d}", j, h) for d in ("khat", "ess")}
    n_done = int(done.sum())
    several = n_done > 1
    out = []
    for k in range(nb):
        flagged = done & (st[:, k] > 0)
        if not flagged.any():
            out.append(None)
            continue
        codes = sorted(set(st[flagged, k].tolist()))
        parts = []  # (head, detail) per code
        for code in codes:
            meaning = _meaning(meanings, code)
            head, detail = _PHRASES.get(meaning, ("not computed" if kind == "exact" else "withheld", meaning))
            if detail in diag:
                detail = _detail(summary, method, detail, diag[detail][flagged & (st[:, k] == code), k], several)
            parts.append((head, detail))
        details = [d for _, d in parts if d]
        if len(codes) == 1:
            head, detail = parts[0]
            where = f" in {int(flagged.sum())} of {n_done} samples" if several else ""
            out.append(f"{head}{where}" + (f" ({detail})" if detail else ""))
            continue
        verb = "not computed" if kind == "exact" else "withheld"
        counts = ", ".join(f"{_meaning(meanings, c)}: {int((st[flagged, k] == c).sum())}" for c in codes)
        extra = "; ".join(d for d in details if d not in {_meaning(meanings, c) for c in codes})
        where = f" in {int(flagged.sum())} of {n_done} samples" if several else ""
        out.append(f"{verb}{where} ({counts}" + (f"; {extra}" if extra else "") + ")")
    return out


def withheld_mask(summary: dict, name: str, j: int, h: int, done) -> np.ndarray:
    """Where a completed sample at (``j``, ``h``) has ``name`` withheld or not computed.

    There a mean over the other samples would be one over the reliable ones only.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    name : str
        A variable of ``summary``.
    j, h : int
        Indices into the J and h coordinates.
    done : array_like of bool, shape (sample,)
        The completed samples at (j, h).

    Returns
    -------
    ndarray of bool, shape (beta,)
        True where some completed sample has the status flag of ``name`` above 0 (:func:`governed`);
        all False for a variable without a status.
    """
    status = governed(summary).get(name)
    if status is None:
        return np.zeros(summary["coords"]["beta"].size, dtype=bool)
    done = np.asarray(done, dtype=bool)
    return (done[:, None] & (_status_at(summary, status, j, h) > 0)).any(axis=0)


def withheld_points(summary: dict, name: str, pairs=None) -> dict:
    """Count, per reason, the points where ``name`` is withheld or not computed.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.
    name : str
        A variable of ``summary``.
    pairs : iterable of (int, int), optional
        The (J index, h index) pairs to count at; default all.

    Returns
    -------
    dict
        meaning -> number of (sample, J, h, beta) points of completed instances where ``name`` is
        withheld or not computed for that reason (its status flag, :func:`governed`); {} when none is,
        or ``name`` has no status.
    """
    status = governed(summary).get(name)
    if status is None:
        return {}
    st = np.asarray(summary["status"][status]).astype(int)
    flagged = summary["done"].astype(bool)[..., None] & (st > 0)
    if pairs is not None:
        keep = np.zeros(flagged.shape[1:3], dtype=bool)
        for j, h in pairs:
            keep[j, h] = True
        flagged &= keep[None, :, :, None]
    meanings = status_meanings(summary, status)
    codes, counts = np.unique(st[flagged], return_counts=True)
    return {_meaning(meanings, int(c)): int(n) for c, n in zip(codes, counts)}


def failures(summary: dict) -> dict:
    """What each method could not compute, or withheld, over the completed instances of ``summary``.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.

    Returns
    -------
    dict
        method -> list of (reason, betas, instances), one per non-zero status value found, in flag-value
        order: ``reason`` the flag meaning (str, e.g. "khat_above_0.7", "precision_not_confirmed"),
        ``betas`` the sorted beta values (list of float) where some completed instance has it, and
        ``instances`` the number of completed (sample, J, h) instances with it at some beta (int).  Only
        methods with such points; {} for a file without status flags (schema 2 and 3).
    """
    done = summary["done"].astype(bool)
    beta = np.asarray(summary["coords"]["beta"], dtype=float)
    out = {}
    for method, status in status_names(summary).items():
        st = np.asarray(summary["status"][status]).astype(int)
        meanings = status_meanings(summary, status)
        items = []
        for code in np.unique(st[done]) if done.any() else ():
            if code <= 0:
                continue
            mask = done[..., None] & (st == code)
            betas = sorted(float(b) for b in beta[mask.any(axis=(0, 1, 2))])
            items.append((_meaning(meanings, int(code)), betas, int(mask.any(axis=-1).sum())))
        if items:
            out[method] = items
    return out


def computed_any(summary: dict) -> bool:
    """Whether some completed instance of ``summary`` has a value of some method at some beta.

    Parameters
    ----------
    summary : dict
        As :func:`isingvar.io.store.read_summary` returns.

    Returns
    -------
    bool
        True when a method variable on the (sample, J, h, beta) grid that is not a diagnostic has a
        value (not NaN) at a completed instance, where it has a status flag (:func:`governed`) with the
        flag 0.  False when no instance is complete.
    """
    done = summary["done"].astype(bool)
    if not done.any():
        return False
    gov = governed(summary)
    for name, (kind, _) in variable_kinds(summary).items():
        if kind == "diagnostic" or name not in summary:
            continue
        values = np.asarray(summary[name], dtype=float)
        if values.ndim != 4:
            continue
        ok = ~np.isnan(values)
        if name in gov:
            ok &= np.asarray(summary["status"][gov[name]]) == 0
        if ok[done].any():
            return True
    return False
