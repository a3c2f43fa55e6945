"""Exact thermodynamics as a method of the sweep: per instance, the cheapest exact path that applies.

The paths are library modules listed in :data:`EXACT_PATHS`, each with the same three functions
(``applicable``, ``estimate_seconds``, ``run``; docs/methods.md, "Exact paths"): enumeration of all
2^N states (:mod:`isingvar.exact`), variable elimination (:mod:`isingvar.elimination`), cutset
conditioning (:mod:`isingvar.cutset`) and the planar Pfaffian (:mod:`isingvar.planar`).  Every
applicable path is estimated and the cheapest runs (the first listed on a tie).

Variables: the exact thermodynamics ``<quantity>_exact`` on the beta grid,
``E0_exact`` per instance, ``m_exact_site`` per site (``--sites``),
``exact_path`` (the path that ran) and, for a sweep of a model file,
``lnZ_model_exact`` (ln Z of the model as its file gives it, at beta = 1,
J = 1, h = 0).  A quantity a path cannot give exactly is NaN (``absm_exact`` off enumeration; on the
planar path everything but ln Z, f, m and the sites).
"""

from __future__ import annotations

import importlib
from collections import OrderedDict

import numpy as np

from ..errors import TooLargeError
from .base import Method, NoSettings, Var, model_file_lnZ, per_beta

#: The exact paths, in order of preference on equal estimates: the one place to add a path.  Imported
#: only when a sweep needs them (``isingvar --help`` loads no numba).
EXACT_PATHS = ("isingvar.exact", "isingvar.elimination", "isingvar.cutset", "isingvar.planar")
#: Codes of the paths in the file's ``exact_path`` variable (0..3: enumeration's summation paths).
PATH_CODES = {"reference": 0, "direct": 1, "chain": 2, "histogram": 3, "elimination": 4, "cutset": 5, "planar": 6}
_INF0 = "-inf at beta = 0"

VARIABLES = (
    Var("lnZ_exact", "exact", "lnZ", "nat", "log partition function ln Z (total), exact (path in exact_path)"),
    Var("f_exact", "exact", "f", "energy per spin", "free energy per spin -ln Z/(beta N), exact; -inf at beta = 0", nonfinite=_INF0),
    Var("u_exact", "exact", "u", "energy per spin", "internal energy per spin <E>/N, exact; NaN on the planar path (its Pfaffian gives ln Z only)", nonfinite="nan"),
    Var("s_exact", "exact", "s", "nat per spin", "entropy per spin (ln Z + beta U)/N, exact; NaN on the planar path (its Pfaffian gives ln Z only)", nonfinite="nan"),
    Var("c_exact", "exact", "c", "k_B per spin", "heat capacity per spin beta^2 Var(E)/N, exact; NaN on the planar path (its Pfaffian gives ln Z only)", nonfinite="nan"),
    Var("m_exact", "exact", "m", "1", "magnetisation per spin <sum_i s_i>/N, exact"),
    Var("m2_exact", "exact", "m2", "1", "second moment <m^2> of m = sum_i s_i/N, exact; NaN on the planar path (its Pfaffian gives ln Z only)", nonfinite="nan"),
    Var("absm_exact", "exact", "absm", "1", "mean absolute magnetisation <|m|>, exact; NaN off enumeration "
        "(|M| is not a sum of local terms: no elimination table carries it)", nonfinite="nan"),
    Var("chi_exact", "exact", "chi", "1/energy", "susceptibility beta N (<m^2> - <m>^2), exact; NaN on the planar path (its Pfaffian gives ln Z only)", nonfinite="nan"),
    Var("E0_exact", "exact", "E0", "energy", "ground-state energy (total), exact; on the planar path only where its reference state is certainly a ground state (no frustration, or +-J), else NaN", per="instance", nonfinite="nan"),
    Var("m_exact_site", "exact", "m", "1", "site magnetisations <s_i>, exact", per="site"),
    Var("exact_path", "diagnostic", None, "1", "exact path that ran: enumeration's summation paths 0-3, "
        "elimination, cutset conditioning or planar (see flag_meanings)",
        dtype="i1", per="instance", fill=-1,
        flags=(tuple(sorted(PATH_CODES.values())), " ".join(sorted(PATH_CODES, key=PATH_CODES.get)))),
)


def _paths() -> list:
    return [importlib.import_module(name) for name in EXACT_PATHS]


def path_name(module) -> str:
    """A path module's name in messages: its ``PATH_NAME`` or the last part of its module name."""
    return getattr(module, "PATH_NAME", module.__name__.rsplit(".", 1)[-1])


def choose(model, betas, *, sites: bool):
    """(path module, estimated seconds) of the cheapest exact path that applies to ``model``; a path
    estimated at 0 (below what its estimate times) is taken at once, the later ones not estimated.

    Raises
    ------
    TooLargeError
        When none applies; the one-line message gives each path's reason.
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
        raise TooLargeError(f"no exact path can compute this model (N = {model.n}): {'; '.join(reasons)}; "
                            "use --method mf and --method trw (bounds from both sides)")
    return best


_CHOICES: OrderedDict = OrderedDict()


def _chosen(model, betas, sites: bool):
    """:func:`choose`'s module, remembered per (paths, coupling pattern, fields zero or not, betas, sites):
    the instances of a sweep share them, and an estimate may be a timed probe (enumeration's, from
    N = 25, costs about as much as a small enumeration itself)."""
    import hashlib

    paths = tuple(m.__name__ for m in _paths())
    pattern = hashlib.sha1(np.int64(model.n).tobytes() + model.edge_i.tobytes() + model.edge_j.tobytes()).digest()
    key = (paths, pattern, bool(np.any(model.fields)), np.asarray(betas, dtype=float).tobytes(), bool(sites))
    if key not in _CHOICES:
        _CHOICES[key] = choose(model, betas, sites=sites)[0].__name__
        while len(_CHOICES) > 64:
            _CHOICES.popitem(last=False)
    return next(m for m in _paths() if m.__name__ == _CHOICES[key])


def describe(model, betas, settings, *, sites) -> str:
    """The path an instance would take and its estimate, for ``--dry-run`` ("elimination, 3.2 s")."""
    module, secs = choose(model, betas, sites=sites)
    return f"{path_name(module)} ({secs:.3g} s per instance)"


def run(model, betas, settings, rng, *, sites, progress=None) -> dict:
    """Exact values of ``model`` over ``betas`` by the cheapest path (:func:`choose`).

    ``progress`` receives one unit per beta, spread over the run.
    """
    nb = len(betas)
    seen = 0.0

    def step(done, total):
        nonlocal seen
        if progress is not None:
            progress(nb * done / total - seen)
        seen = nb * done / total

    module = _chosen(model, betas, sites)
    r = module.run(model, betas, sites=sites, progress=step)
    _check_given(module, r)
    values = {
        "lnZ_exact": r.lnZ, "f_exact": r.f, "u_exact": r.u, "s_exact": r.s, "c_exact": r.c,
        "m_exact": r.m, "m2_exact": r.m2, "absm_exact": r.absm, "chi_exact": r.chi,
        "E0_exact": r.e0, "exact_path": PATH_CODES[r.path],
    }
    if r.sites is not None:
        values["m_exact_site"] = r.sites
    return values


def _check_given(module, r) -> None:
    """Raise NonFiniteResultError where path ``module`` left NaN a quantity it does not declare in its
    ``NOT_GIVEN`` (ExactResult field names; default none): the variables allow NaN for the paths
    that cannot give them, so the file's own check would let such a failure through."""
    from ..errors import NonFiniteResultError

    allowed = set(getattr(module, "NOT_GIVEN", ()))
    for field in ("u", "s", "c", "m", "m2", "absm", "chi", "e0"):
        if field not in allowed and np.isnan(getattr(r, field)).any():
            raise NonFiniteResultError(f"numerical failure: the {path_name(module)} path gave {field} = NaN "
                                       "(couplings or fields too large for float64?)")


_MODEL_VAR, file_hook = model_file_lnZ(VARIABLES[0])  # lnZ_model_exact
VARIABLES = VARIABLES[:9] + (_MODEL_VAR,) + VARIABLES[9:]


def check(model, betas, settings, *, sites) -> None:
    """Refuse a model no exact path can compute (its structure: N > 62 and no low-width elimination
    order, ...), even with ``--force``; the message gives each path's reason.  Times nothing."""
    reasons = []
    for module in _paths():
        reason = module.applicable(model, betas, sites=sites)
        if reason is None:
            return
        reasons.append(f"{path_name(module)}: {reason}")
    raise TooLargeError(f"no exact path can compute this model (N = {model.n}): {'; '.join(reasons)}; "
                        "use --method mf and --method trw (bounds from both sides)")


def cost(model, betas, settings, *, sites) -> float:
    """Seconds of the cheapest applicable path (:func:`choose`: each path's ``estimate_seconds``, a short
    timed probe at most; enumeration's is 0 below N = :data:`isingvar.exact.ESTIMATE_FROM_N`)."""
    return choose(model, betas, sites=sites)[1]


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
