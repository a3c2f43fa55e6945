"""Tables of results for people: bounds against beta, averaged over samples.

Pure functions on what :func:`isingvar.io.store.read_summary` returns; the CLI
formats them and :mod:`isingvar.plot` draws them.
"""

from __future__ import annotations

import math
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
    ``{"exact": [...], "lower": [...], "upper": [...], "lower_prob": [...], "upper_prob": [...],
    "estimate": [...]}``.

    ``lower`` are certified lower bounds on f, ``upper`` certified upper bounds, ``lower_prob`` and
    ``upper_prob`` bounds that hold with probability >= 1 - delta (:func:`bound_delta`), ``estimate``
    approximations and Monte Carlo estimates that bound nothing (their own standard error, where they have
    one: :func:`se_name`), as the methods declare them (kind and quantity "f"); each list in the file's order.
    """
    out = {"exact": [], "lower": [], "upper": [], "lower_prob": [], "upper_prob": [], "estimate": []}
    for name, (kind, quantity) in variable_kinds(summary).items():
        if quantity == "f" and kind in out and name in summary:
            out[kind].append(name)
    return out


#: The intervals on f a table or figure can show (``--interval``): the certified bounds only, or the
#: probabilistic bounds (kinds lower_prob, upper_prob) too.
INTERVALS = ("certified", "probabilistic")


def is_probabilistic(interval: str) -> bool:
    """Whether the interval named ``interval`` (one of :data:`INTERVALS`) joins the probabilistic bounds.

    Raises
    ------
    ModelParameterError
        If ``interval`` is not one of :data:`INTERVALS`.
    """
    if interval not in INTERVALS:
        from .errors import ModelParameterError

        raise ModelParameterError(f"--interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
    return interval == "probabilistic"


def bound_delta(summary: dict, name: str) -> float | None:
    """delta of the probabilistic bound ``name`` (it holds with probability >= 1 - delta), from
    ``summary["var_attrs"]``; None when the file does not say (or ``name`` is not such a bound)."""
    delta = summary.get("var_attrs", {}).get(name, {}).get("delta")
    return None if delta is None else float(delta)


def interval_delta(summary: dict, probabilistic: bool = False) -> float | None:
    """The interval on f of :func:`interval_width` holds with probability >= 1 - this: 0.0 for the
    certified interval (or when the file has no probabilistic bound on f), with ``probabilistic`` the sum
    of the deltas of the probabilistic bounds on f that join it (the union bound: every one of them holds
    with at least that probability); None when one of them has no delta in the file."""
    if not probabilistic:
        return 0.0
    f = free_energy_names(summary)
    deltas = [bound_delta(summary, name) for name in f["lower_prob"] + f["upper_prob"]]
    return None if None in deltas else float(sum(deltas))


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


def tightest(summary: dict, side: str, j: int, h: int, probabilistic: bool = False) -> np.ndarray:
    """Per sample the tightest bound on f of ``side`` ("upper": the least upper bound, "lower": the
    greatest lower bound) over the methods in ``summary``, float64 (sample, beta); NaN where none.

    Certified bounds only (kinds "lower", "upper"), unless ``probabilistic``: then the bounds that hold
    with probability >= 1 - delta (kinds "lower_prob", "upper_prob") join them, and the result holds with
    the probability :func:`interval_delta` gives.
    """
    f = free_energy_names(summary)
    names = f[side] + (f[f"{side}_prob"] if probabilistic else [])
    shape = (summary["done"].shape[0], summary["coords"]["beta"].size)
    if not names:
        return np.full(shape, np.nan)
    stack = np.stack([grid_values(summary, name, j, h) for name in names])
    return _nan_reduce(stack, np.fmin if side == "upper" else np.fmax)


def _finite(a):
    return np.where(np.isfinite(a), a, np.nan)


def bound_gap(summary: dict, j: int, h: int, probabilistic: bool = False) -> np.ndarray:
    """Per-sample gap (tightest upper bound on f) - (exact f) (energy per spin), float64 (sample, beta).

    NaN where either is missing or the difference is not finite (beta = 0,
    where both free energies are -inf).  ``probabilistic``: as in :func:`tightest`.
    """
    exact = free_energy_names(summary)["exact"]
    with np.errstate(invalid="ignore"):
        gap = tightest(summary, "upper", j, h, probabilistic) - grid_values(summary, exact[0] if exact else "", j, h)
    return _finite(gap)


def lower_gap(summary: dict, j: int, h: int, probabilistic: bool = False) -> np.ndarray:
    """Per-sample gap (exact f) - (tightest lower bound on f) (energy per spin), float64 (sample, beta);
    ``probabilistic``: as in :func:`tightest`."""
    exact = free_energy_names(summary)["exact"]
    with np.errstate(invalid="ignore"):
        gap = grid_values(summary, exact[0] if exact else "", j, h) - tightest(summary, "lower", j, h, probabilistic)
    return _finite(gap)


def interval_width(summary: dict, j: int, h: int, probabilistic: bool = False) -> np.ndarray:
    """Per-sample width of the interval on f between the tightest lower and upper bounds, float64
    (sample, beta): the certified bounds, or with ``probabilistic`` the probabilistic ones too
    (:func:`tightest`; it then holds with probability >= 1 - :func:`interval_delta`)."""
    with np.errstate(invalid="ignore"):
        width = tightest(summary, "upper", j, h, probabilistic) - tightest(summary, "lower", j, h, probabilistic)
    return _finite(width)


# ------------------------------------------------------------------ withheld and not computed values
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
    from .io.schema import schema
    from .methods import all_methods

    return schema(tuple(all_methods()), sites=False)


def status_names(summary: dict) -> dict:
    """method -> name of its per-beta ``<method>_status`` flag variable in ``summary["status"]``; {} for a
    file without them (schema 2 and 3)."""
    entries = _entries(summary)
    out = {}
    for name in summary.get("status", {}) or {}:
        var = entries.get(name)
        methods = getattr(var, "methods", ()) or (name.removesuffix("_status"),)
        out[methods[0]] = name
    return out


def status_meanings(summary: dict, status: str) -> tuple:
    """The flag meanings of the status variable ``status``, in flag-value order (``meanings[0]``: the
    values are shown), from its schema entry's ``flags``; () when it has none."""
    var = _entries(summary).get(status)
    flags = getattr(var, "flags", ()) or ()
    return tuple(flags[1].split()) if len(flags) == 2 else ()


def governed(summary: dict) -> dict:
    """variable name -> the status variable that governs it: every variable of ``summary`` of a kind in
    :data:`GOVERNED_KINDS` filled by one method alone (schema ``methods == (m,)``) that has a
    ``<m>_status`` (:func:`status_names`).  Where that status is not 0, the variable is NaN in the file."""
    statuses = status_names(summary)
    out = {}
    for name, var in _entries(summary).items():
        methods = tuple(getattr(var, "methods", ()) or ())
        if name in summary and var.kind in GOVERNED_KINDS and len(methods) == 1 and methods[0] in statuses:
            out[name] = statuses[methods[0]]
    return out


def withheld_verb(summary: dict, method: str) -> str:
    """How to say that ``method``'s values at a flagged point are missing: "not computed" when it governs
    exact values (they could not be computed), else "withheld" (computed, and not shown: an estimate
    that failed its checks)."""
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
    """The least effective sample size ``method``'s estimates need, max(100, 1 % of its Monte Carlo
    samples, the ``samples`` setting in the file's ``config``); None when the file does not say."""
    try:
        samples = summary["attrs"]["config"]["settings"][method]["samples"]
    except (KeyError, TypeError):
        return None
    from .importance import ess_floor

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
    """bool (beta,): where a completed sample (``done``, bool (sample,)) at (``j``, ``h``) has ``name``
    withheld or not computed (its status flag above 0, :func:`governed`); all False for a variable without
    a status.  There a mean over the other samples would be one over the reliable ones only."""
    status = governed(summary).get(name)
    if status is None:
        return np.zeros(summary["coords"]["beta"].size, dtype=bool)
    done = np.asarray(done, dtype=bool)
    return (done[:, None] & (_status_at(summary, status, j, h) > 0)).any(axis=0)


def withheld_points(summary: dict, name: str, pairs=None) -> dict:
    """meaning -> number of (sample, J, h, beta) points of completed instances where ``name`` is withheld or
    not computed for that reason (its status flag, :func:`governed`), at the (J index, h index) ``pairs``
    (default all); {} when none is, or ``name`` has no status."""
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
    """Whether some completed instance of ``summary`` has a value of some method at some beta: a value
    (not NaN) of a method variable on the (sample, J, h, beta) grid that is not a diagnostic, where it has a
    status flag (:func:`governed`) with the flag 0.  False when no instance is complete."""
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
        ``gap``, ``gap_lower`` and ``width`` from the certified bounds and the probabilistic ones
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
        lower: the interval that holds f, known without the exact f), and every
        ``kl_<method>`` (nats, total); the standard error of each as
        ``<name>_se`` (see :func:`sample_stats`; NaN with one sample); for
        every free-energy column a status flag governs (:func:`governed`: the exact f and the
        estimates of a file of schema 4; none in older files) ``<name>_reason``: None, or (str,
        :func:`reasons`) why it is withheld or not computed in a completed sample at that beta,
        and then its mean and standard error are NaN (a mean over the other samples would be one
        over the reliable ones only); and ``n_done`` (int), the number of completed samples at
        (j, h).  Values are NaN where a method did not run.
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
        row["n_done"] = int(done.sum())
        rows.append(row)
    return rows
