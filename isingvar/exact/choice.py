"""Which exact path runs on an instance, and running it with partial results.

The paths are the modules named in :data:`EXACT_PATHS`, each an :class:`isingvar.exact.ExactPath`.
**The choice is a function of the instance alone** (its couplings and fields, the betas, ``sites``):
among the paths that apply, the one with the least modelled cost ``work`` (a deterministic count of
the path's operations times constants measured once; the first listed on a tie, so that a model all
paths do in no measurable time keeps enumeration and its <|m|>).  Nothing about a previous instance
enters it: a single run, shards merged, a resumed run and worker processes each decide the same for
every instance, and so write the same file.  What may be cached is structure that depends on the
coupling pattern only (an elimination order, a cutset, a planar embedding), and each path keeps its
own; the decision itself is never cached.  A path's timed ``estimate_seconds`` (a short probe of its
kernel on this very model) only says how long the chosen path will take: the sweep's time limit,
``--dry-run`` and the progress line use it, never the choice.

Partial results (:func:`solve`): where no path covers the whole beta grid, the path that covers the
most betas runs on those (``beyond_path_range`` elsewhere); a beta a path cannot give to its promised
accuracy, or where it gives a non-finite value it should give, is NaN with its reason in the result's
``status``, and every other beta is kept.

Nothing here imports numba: the path modules are imported when a decision is asked for.
"""

from __future__ import annotations

import importlib

import numpy as np

from ..errors import NonFiniteResultError, TooLargeError
from .result import BEYOND_PATH_RANGE, EXACT_STATUS, NUMERICAL_FAILURE, ExactResult

#: The exact paths, in order of preference on equal costs: the one place to add a path.
EXACT_PATHS = ("isingvar.exact.enumeration", "isingvar.exact.elimination", "isingvar.exact.cutset",
               "isingvar.exact.planar", "isingvar.exact.torus")
#: ExactResult fields of the per-beta values a run collects.
QUANTITIES = ("lnZ", "f", "u", "s", "c", "m", "m2", "absm", "chi")


def _paths() -> list:
    return [importlib.import_module(name) for name in EXACT_PATHS]


def path_name(module) -> str:
    """A path module's name in messages: its ``PATH_NAME`` or the last part of its module name.

    Parameters
    ----------
    module : module
        An exact path module (:class:`isingvar.exact.ExactPath`).

    Returns
    -------
    str
        The name.
    """
    return getattr(module, "PATH_NAME", module.__name__.rsplit(".", 1)[-1])


def _refusal(model, reasons: list) -> TooLargeError:
    return TooLargeError(f"no exact path can compute this model (N = {model.n}): {'; '.join(reasons)}; "
                         "use --method mf and --method trw (bounds from both sides)")


def _rank(module, model, b: np.ndarray, sites: bool) -> tuple[float, bool]:
    """(cost, timed) by which path ``module`` is compared: its deterministic ``work``, or, for a path
    without one, its ``estimate_seconds`` (which must then be deterministic itself; ``timed`` says the
    number is that estimate, so that it is not asked twice)."""
    work = getattr(module, "work", None)
    if work is not None:
        return float(work(model, b, sites=sites)), False
    return float(module.estimate_seconds(model, b, sites=sites)), True


def _cheapest(model, b: np.ndarray, sites: bool):
    """((module, cost, timed) of the least ``_rank`` among the paths that apply to the whole grid ``b``, in
    :data:`EXACT_PATHS` order, the first on a tie; or None) and the other paths' reasons.  A cost of 0
    (below what the path models: milliseconds) is taken at once and the later paths are not asked at all
    (a small model's decision then builds no other path's structure)."""
    best, reasons = None, []
    for module in _paths():
        reason = module.applicable(model, b, sites=sites)
        if reason is not None:
            reasons.append(f"{path_name(module)}: {reason}")
            continue
        cost, timed = _rank(module, model, b, sites)
        if best is None or cost < best[1]:
            best = (module, cost, timed)
        if cost <= 0.0:
            break
    return best, reasons


def _coverage(module, model, b: np.ndarray, sites: bool) -> np.ndarray:
    """bool (nb,): where path ``module`` applies to ``model`` at each beta of ``b`` on its own."""
    return np.array([module.applicable(model, b[i:i + 1], sites=sites) is None for i in range(b.size)], dtype=bool)


def decide(model, betas, *, sites: bool):
    """(path module, covered) of the exact path for ``model`` over ``betas``: a function of the instance alone.

    See the module docstring; times nothing.  The cheapest path (least ``work``) that applies to the
    whole grid, ``covered`` all True; where none does (planar: a beta beyond its accurate range on a
    frustrated instance), the path that applies at the most betas, each asked about one beta alone (the
    cheapest on its betas on a tie, the first listed on equal costs), to run on those: ``covered`` marks
    them, the others are beyond every path's range.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    sites : bool
        Per-site magnetisations wanted.

    Returns
    -------
    module : module
        The chosen path module.
    covered : ndarray of bool, shape (nb,)
        The betas it runs on.

    Raises
    ------
    TooLargeError
        When no path applies at any beta; the one-line message gives each path's reason for the grid.
    """
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    best, reasons = _cheapest(model, b, sites)
    if best is not None:
        return best[0], np.ones(b.size, dtype=bool)
    paths = _paths()
    cover = [(module, _coverage(module, model, b, sites)) for module in paths]
    most = max((int(c.sum()) for _, c in cover), default=0)
    if most == 0:
        raise _refusal(model, reasons)
    best = None
    for module, covered in cover:
        if covered.sum() == most:
            cost, _ = _rank(module, model, b[covered], sites)
            if best is None or cost < best[1]:
                best = (module, cost, covered)
            if cost <= 0.0:
                break
    return best[0], best[2]


def choose(model, betas, *, sites: bool):
    """(path module, estimated seconds) of the exact path for ``model`` on the whole grid ``betas``.

    :func:`decide`'s path and its ``estimate_seconds`` (a timed probe at most).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    sites : bool
        Per-site magnetisations wanted.

    Returns
    -------
    module : module
        The chosen path module.
    seconds : float
        Its estimated wall seconds.

    Raises
    ------
    TooLargeError
        When no path applies to the whole grid; the one-line message gives each path's reason.
    """
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    best, reasons = _cheapest(model, b, sites)
    if best is None:
        raise _refusal(model, reasons)
    module, cost, timed = best
    return module, cost if timed else float(module.estimate_seconds(model, b, sites=sites))


def plan(model, betas, *, sites: bool):
    """(path module, estimated seconds, covered) of the exact path for ``model`` over ``betas``.

    :func:`decide`, and the chosen path's ``estimate_seconds`` on the betas it covers.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    sites : bool
        Per-site magnetisations wanted.

    Returns
    -------
    module : module
        The chosen path module.
    seconds : float
        Its estimated wall seconds on the covered betas.
    covered : ndarray of bool, shape (nb,)
        The betas it runs on.

    Raises
    ------
    TooLargeError
        When no path applies at any beta (:func:`decide`).
    """
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    module, covered = decide(model, b, sites=sites)
    return module, float(module.estimate_seconds(model, b[covered], sites=sites)), covered


def check(model, betas, *, sites: bool) -> None:
    """Refuse a model no exact path can compute at any beta (its structure: N > 62 and no low-width
    elimination order, ...); a path that covers only some betas passes.  Times nothing.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    sites : bool
        Per-site magnetisations wanted.

    Raises
    ------
    TooLargeError
        When no path applies at any beta of ``betas``; the message gives each path's reason.
    """
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    reasons = []
    for module in _paths():
        reason = module.applicable(model, b, sites=sites)
        if reason is None:
            return
        reasons.append(f"{path_name(module)}: {reason}")
    for module in _paths():
        if _coverage(module, model, b, sites).any():
            return
    raise _refusal(model, reasons)


def _betas_text(b: np.ndarray) -> str:
    b = np.sort(b)
    if b.size <= 4:
        return "beta = " + ", ".join(f"{x:g}" for x in b)
    return f"beta = {b[0]:g} .. {b[-1]:g}"


def describe(model, betas, *, sites: bool) -> str:
    """The path an instance takes and its estimate, for ``--dry-run``, and the betas no path covers.

    E.g. "elimination (3.2 s per instance)", and "...; 2 of 7 betas beyond every exact path's range
    (beta = 6.5, 7): NaN there, exact_status beyond_path_range".

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    sites : bool
        Per-site magnetisations wanted.

    Returns
    -------
    str
        One line.

    Raises
    ------
    TooLargeError
        When no path applies at any beta (:func:`decide`).
    """
    module, secs, covered = plan(model, betas, sites=sites)
    text = f"{path_name(module)} ({secs:.3g} s per instance)"
    if not covered.all():
        out = np.asarray(betas, dtype=np.float64).reshape(-1)[~covered]
        text += (f"; {out.size} of {covered.size} betas beyond every exact path's range ({_betas_text(out)}): "
                 f"NaN there, exact_status {EXACT_STATUS[BEYOND_PATH_RANGE]}")
    return text


class _Progress:
    """Progress units (one per beta) of a run made of several path runs, reported once each: a run
    retried beta by beta reports only beyond what the failed attempt already did."""

    def __init__(self, progress, nb: int):
        self.progress, self.nb, self.seen = progress, nb, 0.0

    def to(self, units: float) -> None:
        if units > self.seen:
            if self.progress is not None:
                self.progress(units - self.seen)
            self.seen = units

    def part(self, start: int, size: int):
        """A path's ``progress(done, total)`` for the betas start..start + size - 1 of the run's order."""
        return lambda done, total: self.to(start + (size * done / total if total else size))


def _failed(module, r: ExactResult, sites: bool) -> np.ndarray:
    """bool (nb,) of result ``r``: where path ``module`` gave a non-finite lnZ, f (but f = -inf at beta =
    0), per-site value or quantity it does not declare in its ``NOT_GIVEN`` or ``UNCONFIRMED``
    (ExactResult field names; default none).  The file's variables allow NaN (for the paths that cannot give a quantity, and for
    the betas flagged in exact_status), so the file's own check would let such a failure through."""
    allowed = set(getattr(module, "NOT_GIVEN", ())) | set(getattr(module, "UNCONFIRMED", ()))
    at0 = np.asarray(r.betas, dtype=np.float64) == 0
    bad = ~np.isfinite(r.lnZ) | ~(np.isfinite(r.f) | (np.isneginf(r.f) & at0))
    for field in ("u", "s", "c", "m", "m2", "absm", "chi"):
        if field not in allowed:
            bad |= ~np.isfinite(getattr(r, field))
    if sites:
        bad |= True if r.sites is None else ~np.isfinite(r.sites).all(axis=1)
    return bad


class _Collected:
    """The values of one instance, filled by one or more path runs (NaN until computed)."""

    def __init__(self, n: int, nb: int, sites: bool):
        self.n = n
        self.values = {q: np.full(nb, np.nan) for q in QUANTITIES}
        self.sites = np.full((nb, n), np.nan) if sites else None
        self.status = np.zeros(nb, dtype=np.int8)
        self.e0, self.ground_state = float("nan"), None
        self.f_dw = None  # float64 (nb,) once a path gives the domain-wall free energy (torus)
        self.paths: dict = {}  # path name -> betas it computed, in order of the runs

    def take(self, module, idx: np.ndarray, r: ExactResult) -> None:
        """Store result ``r`` of path ``module`` for the betas at positions ``idx`` (int (k,)), NaN where the
        path flagged a beta (``r.status``) or gave a non-finite value it should give (numerical_failure)."""
        status = np.zeros(idx.size, dtype=np.int8) if r.status is None else np.asarray(r.status, dtype=np.int8).copy()
        status[(status == 0) & _failed(module, r, self.sites is not None)] = NUMERICAL_FAILURE
        for q in QUANTITIES:
            self.values[q][idx] = getattr(r, q)
        if self.sites is not None and r.sites is not None:
            self.sites[idx] = r.sites
        if r.f_dw is not None:
            if self.f_dw is None:
                self.f_dw = np.full(self.status.size, np.nan)
            self.f_dw[idx] = r.f_dw
        self.fail(idx[status != 0], status[status != 0])
        if np.isnan(self.e0) and np.isfinite(r.e0):  # E0 does not depend on beta: any run's will do
            self.e0, self.ground_state = float(r.e0), r.ground_state
        self.paths[r.path] = self.paths.get(r.path, 0) + int(np.count_nonzero(status == 0))

    def fail(self, idx: np.ndarray, status=NUMERICAL_FAILURE) -> None:
        """NaN every value at the betas at positions ``idx``, with reason ``status`` (code or int8 (k,))."""
        self.status[idx] = status
        for values in self.values.values():
            values[idx] = np.nan
        if self.sites is not None:
            self.sites[idx] = np.nan
        if self.f_dw is not None:
            self.f_dw[idx] = np.nan

    def result(self, b: np.ndarray, path: str) -> ExactResult:
        gs = np.full(self.n, np.nan) if self.ground_state is None else self.ground_state
        return ExactResult(betas=b, e0=self.e0, ground_state=gs, path=path, sites=self.sites, status=self.status,
                           f_dw=self.f_dw, **self.values)


def _first_path(module, model, b: np.ndarray, sites: bool) -> str:
    """The path name of ``module`` where none of its runs returned (enumeration: its summation path)."""
    if hasattr(module, "choose_path"):
        return module.choose_path(model, b, sites)
    return path_name(module)


def solve(model, betas, *, sites: bool = False, progress=None) -> ExactResult:
    """Exact values of ``model`` over ``betas`` by the path :func:`decide` picks, beta by beta where needed.

    Parameters
    ----------
    model : IsingModel
    betas : array_like of float, shape (nb,); finite, >= 0, any order.
    sites : bool
        Also the per-site <s_i> (``ExactResult.sites``, float64 (nb, N)).
    progress : callable(units), optional
        Receives one unit per beta, nb in all (fractions between).

    Returns
    -------
    ExactResult
        ``status`` int8 (nb,) always set (codes of :data:`isingvar.exact.EXACT_STATUS`): betas the path
        does not cover are ``beyond_path_range``; a beta the path flags (planar: ``precision_lost``,
        ``precision_not_confirmed``) or where it gives a non-finite value it should give is NaN with
        that reason (``numerical_failure``); where the path raises
        :class:`isingvar.errors.NonFiniteResultError` for the grid, each of its betas is run alone (a
        path decided per beta), and a beta that still fails is ``numerical_failure``.  Every value of a
        beta whose status is not 0 is NaN (its sites too).  ``path``: the path that computed the most
        betas (the first of equal counts), else the path of the first run that returned, else the
        decided one's; "none" where no path applies to this instance at any beta (a later sample whose
        values put it beyond every path, while the sweep's :func:`check` passed on sample 0: every beta
        ``beyond_path_range``).  ``e0`` NaN where no run gave it.
    """
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    nb = b.size
    done = _Progress(progress, nb)
    try:
        module, covered = decide(model, b, sites=sites)
    except TooLargeError:  # on this instance's values no path covers any beta
        module, covered = None, np.zeros(nb, dtype=bool)
    out = _Collected(model.n, nb, sites)
    out.fail(np.flatnonzero(~covered), BEYOND_PATH_RANGE)
    idx = np.flatnonzero(covered)
    first = None  # the path of the first run that returned: the path where no beta was computed
    # covered may have been asked beta by beta: a path may still refuse those betas together (then: one by one)
    retry = module is not None and module.applicable(model, b[idx], sites=sites) is not None
    if module is not None and not retry:
        try:
            r = module.run(model, b[idx], sites=sites, progress=done.part(0, idx.size))
        except NonFiniteResultError:
            retry = True
        else:
            out.take(module, idx, r)
            first = r.path
    if retry:  # one beta the path cannot do stopped the grid: run beta by beta and keep those that compute
        for j, i in enumerate(idx):
            one = np.arange(i, i + 1)
            try:
                single, _ = decide(model, b[one], sites=sites)  # covers it: the grid's path applies there
                r = single.run(model, b[one], sites=sites, progress=done.part(j, 1))
            except NonFiniteResultError:
                out.fail(one)
                continue
            out.take(single, one, r)
            first = first or r.path
    done.to(nb)
    computed = {name: count for name, count in out.paths.items() if count}
    if computed:
        name = max(computed, key=computed.get)  # the first of equal counts
    elif module is None:
        name = "none"
    else:
        name = first if first is not None else _first_path(module, model, b, sites)
    return out.result(b, name)
