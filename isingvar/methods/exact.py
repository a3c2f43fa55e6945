"""Exact thermodynamics as a method of the sweep: the plug-in over :mod:`isingvar.exact`.

The algorithm lives in the package :mod:`isingvar.exact`: the paths (enumeration of all 2^N states,
variable elimination, cutset conditioning, the planar Pfaffian; each an
:class:`isingvar.exact.ExactPath`), the choice of one per instance from the instance alone and the
partial results (:mod:`isingvar.exact.choice`; docs/methods.md, "exact: the exact paths").  This
module declares the variables and maps an :class:`isingvar.exact.ExactResult` onto them.

Variables: the exact thermodynamics ``<quantity>_exact`` on the beta grid,
``E0_exact`` per instance, ``m_exact_site`` per site (``--sites``),
``exact_path`` (the path that ran), ``exact_status`` per beta (codes of
:data:`isingvar.exact.EXACT_STATUS`: 0 computed, else why every exact value at that beta is
NaN) and, for a sweep of a model file, ``lnZ_model_exact`` (ln Z of the model as its file gives it,
at beta = 1, J = 1, h = 0).  A quantity a path cannot give exactly is NaN (``absm_exact`` off
enumeration; on the planar path everything but ln Z, f, m and the sites).
"""

from __future__ import annotations

import numpy as np

from ..exact import choice
from ..exact.choice import EXACT_PATHS, choose, decide, path_name, plan  # noqa: F401  (the plug-in's API)
from ..exact.result import EXACT_STATUS
from .base import Method, NoSettings, Var, model_file_lnZ, per_beta, status_var

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


def run(model, betas, settings, rng, *, sites, progress=None) -> dict:
    """Exact values of ``model`` over ``betas`` (:func:`isingvar.exact.choice.solve`: the path decided from
    this instance alone, partial results where a path cannot give a beta).

    Returns
    -------
    dict
        The per-beta variables float64 (nb,), ``exact_status`` int8 (nb,) (codes of
        :data:`isingvar.exact.EXACT_STATUS`), ``E0_exact`` (float, NaN where no run gave it),
        ``exact_path`` (int: :data:`PATH_CODES` of the path that computed the most betas, "none" where no
        path covers any beta of this instance) and with ``sites`` ``m_exact_site`` float64 (nb, N).
        ``progress`` receives one unit per beta, nb in all.
    """
    r = choice.solve(model, betas, sites=sites, progress=progress)
    values = {name: getattr(r, field) for name, field in _PER_BETA.items()}
    values.update({"E0_exact": float(r.e0), "exact_path": PATH_CODES.get(r.path, -1), "exact_status": r.status})
    if sites:
        values["m_exact_site"] = r.sites
    return values


_MODEL_VAR, file_hook = model_file_lnZ(VARIABLES[0])  # lnZ_model_exact
VARIABLES = VARIABLES[:9] + (_MODEL_VAR,) + VARIABLES[9:]


def check(model, betas, settings, *, sites) -> None:
    """Refuse a model no exact path can compute at any beta, even with ``--force``
    (:func:`isingvar.exact.choice.check`; the message gives each path's reason).  Times nothing.

    Raises
    ------
    TooLargeError
        When no path applies at any beta of ``betas``.
    """
    choice.check(model, betas, sites=sites)


def cost(model, betas, settings, *, sites) -> float:
    """Seconds of the path :func:`isingvar.exact.choice.decide` picks, on the betas it covers (that path's
    ``estimate_seconds``: a short timed probe at most; enumeration's is 0 below N =
    :data:`isingvar.exact.enumeration.ESTIMATE_FROM_N`).

    Raises
    ------
    TooLargeError
        When no path applies at any beta.
    """
    return plan(model, betas, sites=sites)[1]


def describe(model, betas, settings, *, sites) -> str:
    """The path an instance takes and its estimate, for ``--dry-run`` (:func:`isingvar.exact.choice.describe`).

    Raises
    ------
    TooLargeError
        When no path applies at any beta.
    """
    return choice.describe(model, betas, sites=sites)


def shard_weight(model, betas, settings) -> float:
    """1 with every field zero (the h = 0 symmetry halves the enumeration), else 2."""
    return 1.0 if not np.any(model.fields) else 2.0


METHOD = Method(
    name="exact",
    summary="exact: per instance the cheapest of enumeration of all 2^N states (N <= 62; minutes from N = 36), "
            "variable elimination (width <= 26), cutset conditioning and, at zero field on a planar graph, a Pfaffian",
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
    max_seconds=600.0,  # isingvar.exact.enumeration.MAX_SECONDS (not imported here: `isingvar --help` stays fast)
)
