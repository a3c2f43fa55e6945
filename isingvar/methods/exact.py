"""Exact thermodynamics as a method of the sweep: per instance, the cheapest exact path that applies.

The paths are library modules listed in :data:`EXACT_PATHS`, each with the same three functions
(``applicable``, ``estimate_seconds``, ``run``; docs/methods.md, "Exact paths"): enumeration of all
2^N states (:mod:`isingvar.exact`), variable elimination (:mod:`isingvar.elimination`), cutset
conditioning (:mod:`isingvar.cutset`) and the planar Pfaffian (:mod:`isingvar.planar`).  Every
applicable path is estimated and the cheapest runs (the first listed on a tie).

Variables: the exact thermodynamics ``<quantity>_exact`` on the beta grid,
``E0_exact`` per instance, ``m_exact_site`` per site (``--sites``),
``exact_path`` (the path that ran), ``exact_status`` per beta (codes of
:data:`isingvar.exact_status.EXACT_STATUS`: 0 computed, else why every exact value at that beta is
NaN) and, for a sweep of a model file, ``lnZ_model_exact`` (ln Z of the model as its file gives it,
at beta = 1, J = 1, h = 0).  A quantity a path cannot give exactly is NaN (``absm_exact`` off
enumeration; on the planar path everything but ln Z, f, m and the sites).

Partial results: where no path covers the whole beta grid, the path that covers the most betas runs
on those (``beyond_path_range`` elsewhere); a beta a path cannot give to its promised accuracy, or
where it gives a non-finite value it should give, is NaN with its reason in ``exact_status``, and
every other beta is kept.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict

import numpy as np

from ..errors import NonFiniteResultError, TooLargeError
from ..exact_status import BEYOND_PATH_RANGE, EXACT_STATUS, NUMERICAL_FAILURE
from .base import Method, NoSettings, Var, model_file_lnZ, per_beta, status_var

#: The exact paths, in order of preference on equal estimates: the one place to add a path.  Imported
#: only when a sweep needs them (``isingvar --help`` loads no numba).
EXACT_PATHS = ("isingvar.exact", "isingvar.elimination", "isingvar.cutset", "isingvar.planar")
#: Codes of the paths in the file's ``exact_path`` variable (0..3: enumeration's summation paths).
PATH_CODES = {"reference": 0, "direct": 1, "chain": 2, "histogram": 3, "elimination": 4, "cutset": 5, "planar": 6,
              "none": 7}  # none: no path covers any beta of this instance (all beyond_path_range)
_NAN = "nan"
_FLAGGED = "nan where flagged"  # values every path gives: NaN only at a point exact_status flags
_FLAGGED_INF0 = "nan where flagged; -inf at beta = 0"
#: Said by every per-beta exact variable: a beta a path could not give is NaN, with its reason.
_PARTIAL = "; NaN where exact_status is not 0"
_PLANAR = "; NaN on the planar path (its Pfaffian gives ln Z only)"

VARIABLES = (
    Var("lnZ_exact", "exact", "lnZ", "nat", "log partition function ln Z (total), exact (path in exact_path)" + _PARTIAL,
        nonfinite=_FLAGGED),
    Var("f_exact", "exact", "f", "energy per spin",
        "free energy per spin -ln Z/(beta N), exact; -inf at beta = 0" + _PARTIAL, nonfinite=_FLAGGED_INF0),
    Var("u_exact", "exact", "u", "energy per spin", "internal energy per spin <E>/N, exact" + _PLANAR + _PARTIAL,
        nonfinite=_NAN),
    Var("s_exact", "exact", "s", "nat per spin", "entropy per spin (ln Z + beta U)/N, exact" + _PLANAR + _PARTIAL,
        nonfinite=_NAN),
    Var("c_exact", "exact", "c", "k_B per spin", "heat capacity per spin beta^2 Var(E)/N, exact" + _PLANAR + _PARTIAL,
        nonfinite=_NAN),
    Var("m_exact", "exact", "m", "1", "magnetisation per spin <sum_i s_i>/N, exact" + _PARTIAL, nonfinite=_FLAGGED),
    Var("m2_exact", "exact", "m2", "1", "second moment <m^2> of m = sum_i s_i/N, exact" + _PLANAR + _PARTIAL,
        nonfinite=_NAN),
    Var("absm_exact", "exact", "absm", "1", "mean absolute magnetisation <|m|>, exact; NaN off enumeration "
        "(|M| is not a sum of local terms: no elimination table carries it)" + _PARTIAL, nonfinite=_NAN),
    Var("chi_exact", "exact", "chi", "1/energy", "susceptibility beta N (<m^2> - <m>^2), exact" + _PLANAR + _PARTIAL,
        nonfinite=_NAN),
    Var("E0_exact", "exact", "E0", "energy", "ground-state energy (total), exact; on the planar path only where its reference state is certainly a ground state (no frustration, or +-J), else NaN", per="instance", nonfinite="nan"),
    Var("m_exact_site", "exact", "m", "1", "site magnetisations <s_i>, exact" + _PARTIAL, per="site", nonfinite=_FLAGGED),
    Var("exact_path", "diagnostic", None, "1", "exact path that ran: enumeration's summation paths 0-3, "
        "elimination, cutset conditioning, planar, or none (no path covers any beta of this instance: every "
        "exact_status beyond_path_range; see flag_meanings)",
        dtype="i1", per="instance", fill=-1,
        flags=(tuple(sorted(PATH_CODES.values())), " ".join(sorted(PATH_CODES, key=PATH_CODES.get)))),
    status_var("exact", EXACT_STATUS, "why the exact values at this beta are NaN (0 computed; beyond_path_range: "
               "no exact path covers this beta; precision_lost, precision_not_confirmed: the planar Pfaffian "
               "could not give it to its accuracy; numerical_failure: a path gave a non-finite value)"),
)
#: ExactResult fields of the per-beta variables.
_PER_BETA = {"lnZ_exact": "lnZ", "f_exact": "f", "u_exact": "u", "s_exact": "s", "c_exact": "c", "m_exact": "m",
             "m2_exact": "m2", "absm_exact": "absm", "chi_exact": "chi"}


def _paths() -> list:
    return [importlib.import_module(name) for name in EXACT_PATHS]


def path_name(module) -> str:
    """A path module's name in messages: its ``PATH_NAME`` or the last part of its module name."""
    return getattr(module, "PATH_NAME", module.__name__.rsplit(".", 1)[-1])


def _refusal(model, reasons: list) -> TooLargeError:
    return TooLargeError(f"no exact path can compute this model (N = {model.n}): {'; '.join(reasons)}; "
                         "use --method mf and --method trw (bounds from both sides)")


def choose(model, betas, *, sites: bool):
    """(path module, estimated seconds) of the cheapest exact path that applies to ``model`` on the whole
    grid ``betas``; a path estimated at 0 (below what its estimate times) is taken at once, the later
    ones not estimated.

    Raises
    ------
    TooLargeError
        When none applies to the whole grid; the one-line message gives each path's reason.
    """
    best, reasons = None, []
    for module in _paths():
        reason = module.applicable(model, betas, sites=sites)
        if reason is not None:
            reasons.append(f"{path_name(module)}: {reason}")
            continue
        secs = module.estimate_seconds(model, betas, sites=sites)
        if best is None or secs < best[1]:
            best = (module, secs)
        if secs <= 0.0:  # too cheap to time: no later path can win (ties go to the first), none is probed
            break
    if best is None:
        raise _refusal(model, reasons)
    return best


def _coverage(module, model, b: np.ndarray, sites: bool) -> np.ndarray:
    """bool (nb,): where path ``module`` applies to ``model`` at each beta of ``b`` on its own."""
    return np.array([module.applicable(model, b[i:i + 1], sites=sites) is None for i in range(b.size)], dtype=bool)


def plan(model, betas, *, sites: bool):
    """(path module, estimated seconds, covered) of the exact path to run on ``model`` over ``betas``.

    The cheapest path that applies to the whole grid (:func:`choose`; ``covered`` all True); where none
    does (planar: a beta beyond its accurate range on a frustrated instance), the path that applies at
    the most betas, each asked about one beta alone (the cheapest estimate on its betas on a tie, the
    first listed on equal estimates), to run on those: ``covered`` bool (nb,) marks them, the others are
    beyond every path's range.

    Raises
    ------
    TooLargeError
        When no path applies at any beta; the message gives each path's reason for the whole grid.
    """
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    try:
        module, secs = choose(model, b, sites=sites)
        return module, secs, np.ones(b.size, dtype=bool)
    except TooLargeError as whole:
        refusal = whole
    cover = [(module, _coverage(module, model, b, sites)) for module in _paths()]
    most = max((int(c.sum()) for _, c in cover), default=0)
    if most == 0:
        raise refusal
    best = None
    for module, covered in cover:
        if covered.sum() < most:
            continue
        secs = module.estimate_seconds(model, b[covered], sites=sites)
        if best is None or secs < best[1]:
            best = (module, secs, covered)
        if secs <= 0.0:  # as in choose: nothing later can be cheaper
            break
    return best


_CHOICES: OrderedDict = OrderedDict()


def _chosen(model, betas, sites: bool):
    """(path module, covered) of :func:`plan` for ``model``, a whole-grid choice remembered per (paths,
    coupling pattern, fields zero or not, betas, sites): the instances of a sweep share them, and an
    estimate may be a timed probe (enumeration's, from N = 25, costs about as much as a small
    enumeration itself).  ``covered`` bool (nb,).

    Whether a path applies may depend on the coupling values, not only on the pattern (planar: the
    frustration sets its beta range), so a remembered path is asked again about this instance and, where
    it does not apply to it, the choice is made afresh for this instance (and not remembered).
    """
    import hashlib

    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    paths = _paths()
    pattern = hashlib.sha1(np.int64(model.n).tobytes() + model.edge_i.tobytes() + model.edge_j.tobytes()).digest()
    key = (tuple(m.__name__ for m in paths), pattern, bool(np.any(model.fields)), b.tobytes(), bool(sites))
    name = _CHOICES.get(key)
    if name is not None:
        module = next(m for m in paths if m.__name__ == name)
        if module.applicable(model, b, sites=sites) is None:
            return module, np.ones(b.size, dtype=bool)
    module, _, covered = plan(model, b, sites=sites)
    if name is None and covered.all():
        _CHOICES[key] = module.__name__
        while len(_CHOICES) > 64:
            _CHOICES.popitem(last=False)
    return module, covered


def _betas_text(b: np.ndarray) -> str:
    b = np.sort(b)
    if b.size <= 4:
        return "beta = " + ", ".join(f"{x:g}" for x in b)
    return f"beta = {b[0]:g} .. {b[-1]:g}"


def describe(model, betas, settings, *, sites) -> str:
    """The path an instance would take and its estimate, for ``--dry-run`` ("elimination (3.2 s per
    instance)"), and the betas no path covers ("...; 2 of 7 betas beyond every exact path's range
    (beta = 6.5, 7): NaN there, exact_status beyond_path_range").

    Raises
    ------
    TooLargeError
        When no path applies at any beta (:func:`plan`).
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


class _Collected:
    """The method's values of one instance, filled by one or more path runs (NaN until computed)."""

    def __init__(self, n: int, nb: int, sites: bool):
        self.per_beta = {name: np.full(nb, np.nan) for name in _PER_BETA}
        self.sites = np.full((nb, n), np.nan) if sites else None
        self.status = np.zeros(nb, dtype=np.int8)
        self.e0 = float("nan")
        self.paths: dict = {}  # path name -> betas it computed, in order of the runs

    def take(self, module, idx: np.ndarray, r) -> None:
        """Store result ``r`` of path ``module`` for the betas at positions ``idx`` (int (k,)), NaN where the
        path flagged a beta (``r.status``) or gave a non-finite value it should give (numerical_failure)."""
        status = np.zeros(idx.size, dtype=np.int8) if r.status is None else np.asarray(r.status, dtype=np.int8).copy()
        status[(status == 0) & _failed(module, r, self.sites is not None)] = NUMERICAL_FAILURE
        for name, field in _PER_BETA.items():
            self.per_beta[name][idx] = getattr(r, field)
        if self.sites is not None and r.sites is not None:
            self.sites[idx] = r.sites
        self.fail(idx[status != 0], status[status != 0])
        if np.isnan(self.e0) and np.isfinite(r.e0):  # E0 does not depend on beta: any run's will do
            self.e0 = float(r.e0)
        self.paths[r.path] = self.paths.get(r.path, 0) + int(np.count_nonzero(status == 0))

    def fail(self, idx: np.ndarray, status=NUMERICAL_FAILURE) -> None:
        """NaN every value at the betas at positions ``idx``, with reason ``status`` (code or int8 (k,))."""
        self.status[idx] = status
        for values in self.per_beta.values():
            values[idx] = np.nan
        if self.sites is not None:
            self.sites[idx] = np.nan


def _failed(module, r, sites: bool) -> np.ndarray:
    """bool (nb,) of result ``r``: where path ``module`` gave a non-finite lnZ, f (but f = -inf at beta =
    0), per-site value or quantity it does not declare in its ``NOT_GIVEN`` (ExactResult field names;
    default none).  The variables allow NaN (for the paths that cannot give a quantity, and for the
    betas flagged in exact_status), so the file's own check would let such a failure through."""
    allowed = set(getattr(module, "NOT_GIVEN", ()))
    at0 = np.asarray(r.betas, dtype=np.float64) == 0
    bad = ~np.isfinite(r.lnZ) | ~(np.isfinite(r.f) | (np.isneginf(r.f) & at0))
    for field in ("u", "s", "c", "m", "m2", "absm", "chi"):
        if field not in allowed:
            bad |= ~np.isfinite(getattr(r, field))
    if sites:
        bad |= True if r.sites is None else ~np.isfinite(r.sites).all(axis=1)
    return bad


def _path_code(module, model, b, sites) -> int:
    """``exact_path`` of path ``module`` where none of its runs returned (enumeration: its summation path)."""
    name = path_name(module)
    if name in PATH_CODES:
        return PATH_CODES[name]
    return PATH_CODES[module.choose_path(model, b, sites)] if hasattr(module, "choose_path") else -1


def run(model, betas, settings, rng, *, sites, progress=None) -> dict:
    """Exact values of ``model`` over ``betas`` by the path :func:`plan` picks, beta by beta where needed.

    Betas the path does not cover are ``beyond_path_range``; a beta the path flags (planar:
    ``precision_lost``, ``precision_not_confirmed``) or where it gives a non-finite value it should give
    is NaN with that reason (``numerical_failure``); where the path raises
    :class:`isingvar.errors.NonFiniteResultError` for the grid, each of its betas is run alone (a path
    chosen per beta), and a beta that still fails is ``numerical_failure``.  Every value of a beta whose
    ``exact_status`` is not 0 is NaN (its sites too).

    Returns
    -------
    dict
        The per-beta variables float64 (nb,), ``exact_status`` int8 (nb,) (codes of
        :data:`isingvar.exact_status.EXACT_STATUS`), ``E0_exact`` (float, NaN where no run gave it),
        ``exact_path`` (int, the path that computed the most betas) and with ``sites``
        ``m_exact_site`` float64 (nb, N).  ``progress`` receives one unit per beta, nb in all.

    Where no path applies to this instance at any beta (a later sample whose values put it beyond every
    path, while the sweep's :func:`check` passed on sample 0), every beta is ``beyond_path_range`` and
    ``exact_path`` is "none".
    """
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    nb = b.size
    done = _Progress(progress, nb)
    try:
        module, covered = _chosen(model, b, sites)
    except TooLargeError:  # on this instance's values no path covers any beta (the sweep's check passed on sample 0)
        module, covered = None, np.zeros(nb, dtype=bool)
    out = _Collected(model.n, nb, sites)
    out.fail(np.flatnonzero(~covered), BEYOND_PATH_RANGE)
    idx = np.flatnonzero(covered)
    first = None  # the path of the first run that returned: exact_path where no beta was computed
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
                single, _ = _chosen(model, b[one], sites)  # covers it: the grid's path applies there
                r = single.run(model, b[one], sites=sites, progress=done.part(j, 1))
            except NonFiniteResultError:
                out.fail(one)
                continue
            out.take(single, one, r)
            first = first or r.path
    done.to(nb)
    computed = {name: count for name, count in out.paths.items() if count}
    if computed:
        code = PATH_CODES[max(computed, key=computed.get)]  # the first of equal counts
    elif module is None:
        code = PATH_CODES["none"]
    else:
        code = PATH_CODES[first] if first is not None else _path_code(module, model, b, sites)
    values = dict(out.per_beta)
    values.update({"E0_exact": out.e0, "exact_path": code, "exact_status": out.status})
    if out.sites is not None:
        values["m_exact_site"] = out.sites
    return values


_MODEL_VAR, file_hook = model_file_lnZ(VARIABLES[0])  # lnZ_model_exact
VARIABLES = VARIABLES[:9] + (_MODEL_VAR,) + VARIABLES[9:]


def check(model, betas, settings, *, sites) -> None:
    """Refuse a model no exact path can compute at any beta (its structure: N > 62 and no low-width
    elimination order, ...), even with ``--force``; the message gives each path's reason.  A path that
    covers only some betas passes: the others are NaN, ``beyond_path_range``.  Times nothing.

    Raises
    ------
    TooLargeError
        When no path applies at any beta of ``betas``.
    """
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    reasons = []
    for module in _paths():
        reason = module.applicable(model, b, sites=sites)
        if reason is None:
            return
        reasons.append(f"{path_name(module)}: {reason}")
    for module in _paths():
        if any(module.applicable(model, b[i:i + 1], sites=sites) is None for i in range(b.size)):
            return
    raise _refusal(model, reasons)


def cost(model, betas, settings, *, sites) -> float:
    """Seconds of the path :func:`plan` picks, on the betas it covers (each path's ``estimate_seconds``: a
    short timed probe at most; enumeration's is 0 below N = :data:`isingvar.exact.ESTIMATE_FROM_N`).

    Raises
    ------
    TooLargeError
        When no path applies at any beta.
    """
    return plan(model, betas, sites=sites)[1]


def shard_weight(model, betas, settings) -> float:
    """1 with every field zero (the h = 0 symmetry halves the enumeration), else 2."""
    return 1.0 if not np.any(model.fields) else 2.0


METHOD = Method(
    name="exact",
    summary="exact: enumeration of all 2^N states (N <= 62; minutes from N = 36) or variable elimination (width <= 26)",
    settings=NoSettings,
    variables=VARIABLES,
    run=run,
    cost=cost,
    progress_units=per_beta,
    default=True,
    shard_weight=shard_weight,
    file_hook=file_hook,
    check=check,
    describe=describe,
    max_seconds=600.0,  # isingvar.exact.MAX_SECONDS (not imported here: `isingvar --help` stays fast)
)
