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
enumeration; on the planar path <m^2>, <|m|> and chi).
"""

from __future__ import annotations

import numpy as np

from ..errors import TooLargeError
from ..exact import choice
from ..exact.choice import EXACT_PATHS, choose, decide, path_name, plan  # noqa: F401  (the plug-in's API)
from ..exact.result import EXACT_STATUS
from .base import Method, Nonfinite, NoSettings, Var, model_file_lnZ, per_beta, status_var

#: Codes of the paths in the file's ``exact_path`` variable (0..3: enumeration's summation paths).
PATH_CODES = {"reference": 0, "direct": 1, "chain": 2, "histogram": 3, "elimination": 4, "cutset": 5, "planar": 6,
              "none": 7, "torus": 8}  # none: no path covers any beta of this instance (all beyond_path_range)
_NAN = Nonfinite.NAN
_FLAGGED = Nonfinite.NAN_WHERE_FLAGGED  # values every path gives: NaN only at a point exact_status flags
_FLAGGED_INF0 = _FLAGGED | Nonfinite.NEG_INF_AT_BETA0
#: Said by every per-beta exact variable: a beta a path could not give is NaN, with its reason.
_PARTIAL = "; NaN where exact_status is not 0"
_PLANAR = "; NaN on the planar and torus paths (their Pfaffians give ln Z only)"
#: Said by u, s and c, which the planar Pfaffian gives from its jets (isingvar.exact.pfaffian).
_TORUS = ("; NaN on the planar path beyond L = 130 (M > 6 x 130^2) and on the torus path beyond L = 130 (M > "
          "6 x 130^2), and where a second elimination order (planar) or seam position (torus), the rounding of "
          "the torus's four-Pfaffian sum or a certificate (c >= 0, u >= E0/N) does not confirm it to 1e-10")

_LNZ = Var("lnZ_exact", "exact", "lnZ", "nat",
           "log partition function ln Z (total), exact (path in exact_path)" + _PARTIAL, nonfinite=_FLAGGED)
_MODEL_VAR, file_hook = model_file_lnZ(_LNZ)  # lnZ_model_exact

#: In the order of the file (a new variable is one line at its place).
VARIABLES = (
    _LNZ,
    Var("f_exact", "exact", "f", "energy per spin",
        "free energy per spin -ln Z/(beta N), exact; -inf at beta = 0" + _PARTIAL, nonfinite=_FLAGGED_INF0),
    Var("u_exact", "exact", "u", "energy per spin", "internal energy per spin <E>/N, exact" + _TORUS + _PARTIAL,
        nonfinite=_NAN),
    Var("s_exact", "exact", "s", "nat per spin", "entropy per spin (ln Z + beta U)/N, exact" + _TORUS + _PARTIAL,
        nonfinite=_NAN),
    Var("c_exact", "exact", "c", "k_B per spin", "heat capacity per spin beta^2 Var(E)/N, exact" + _TORUS
        + " (1e-8 on the torus path where double precision gives it: two seam positions agreeing to 1e-10)"
        + _PARTIAL, nonfinite=_NAN),
    Var("m_exact", "exact", "m", "1", "magnetisation per spin <sum_i s_i>/N, exact" + _PARTIAL, nonfinite=_FLAGGED),
    Var("m2_exact", "exact", "m2", "1", "second moment <m^2> of m = sum_i s_i/N, exact" + _PLANAR + _PARTIAL,
        nonfinite=_NAN),
    Var("absm_exact", "exact", "absm", "1", "mean absolute magnetisation <|m|>, exact; NaN off enumeration "
        "(|M| is not a sum of local terms: no elimination table carries it)" + _PARTIAL, nonfinite=_NAN),
    Var("chi_exact", "exact", "chi", "1/energy", "susceptibility beta N (<m^2> - <m>^2), exact" + _PLANAR + _PARTIAL,
        nonfinite=_NAN),
    _MODEL_VAR,
    Var("E0_exact", "exact", "E0", "energy", "ground-state energy (total), exact; on the planar path only where its reference state is certainly a ground state (no frustration, or +-J), else NaN", per="instance", nonfinite=_NAN),
    Var("F_dw_exact", "exact", "F_dw", "energy",
        "domain-wall free energy F_AP - F_PP (total, not per spin): antiperiodic minus periodic boundary along the "
        "first axis (the bonds from row L-1 to row 0 negated); > 0 where a wall costs free energy; torus path only, "
        "else NaN; NaN also where the four Pfaffians cannot confirm ln(Z_PP/Z_AP) to 1e-9" + _PARTIAL,
        nonfinite=_NAN),
    Var("m_exact_site", "exact", "m", "1", "site magnetisations <s_i>, exact" + _PARTIAL, per="site", nonfinite=_FLAGGED),
    Var("exact_path", "diagnostic", None, "1", "exact path that ran: enumeration's summation paths 0-3, "
        "elimination, cutset conditioning, planar, torus, or none (no path covers any beta of this instance: every "
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

    Parameters
    ----------
    model : IsingModel
        Already scaled to the sweep's J and h.
    betas : array_like of float, shape (nb,)
        Finite, >= 0, any order.
    settings : NoSettings
        Unused (the method has no settings).
    rng : numpy.random.Generator
        Unused (every path is deterministic).
    sites : bool
        Also the per-site magnetisations ``m_exact_site``.
    progress : callable(units) or None
        Receives one unit per beta, nb in all.

    Returns
    -------
    dict
        The per-beta variables float64 (nb,), ``exact_status`` int8 (nb,) (codes of
        :data:`isingvar.exact.EXACT_STATUS`), ``E0_exact`` (float, NaN where no run gave it),
        ``exact_path`` (int: :data:`PATH_CODES` of the path that computed the most betas, "none" where no
        path covers any beta of this instance) and with ``sites`` ``m_exact_site`` float64 (nb, N).
    """
    r = choice.solve(model, betas, sites=sites, progress=progress)
    values = {name: getattr(r, field) for name, field in _PER_BETA.items()}
    values.update({"E0_exact": float(r.e0), "exact_path": PATH_CODES.get(r.path, -1), "exact_status": r.status})
    values["F_dw_exact"] = r.f_dw if r.f_dw is not None else np.full(len(r.betas), np.nan)
    if sites:
        values["m_exact_site"] = r.sites
    return values


def check(model, betas, settings, *, sites) -> None:
    """Refuse a model no exact path can compute at any beta, even with ``--force``
    (:func:`isingvar.exact.choice.check`; the message gives each path's reason).  Times nothing.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    settings : NoSettings
        Unused (the method has no settings).
    sites : bool
        Per-site magnetisations wanted.

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

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    settings : NoSettings
        Unused (the method has no settings).
    sites : bool
        Per-site magnetisations wanted (passed to the path's estimate).

    Returns
    -------
    float
        Estimated wall seconds.

    Raises
    ------
    TooLargeError
        When no path applies at any beta.
    """
    return plan(model, betas, sites=sites)[1]


def decision(model, betas, settings, *, sites) -> str:
    """The path :func:`isingvar.exact.choice.decide` picks for this instance, by name ("planar"; "planar on
    4 of 6 betas" where it covers only some; "none" where no path applies at any beta), timing nothing:
    the sweep's estimate times one instance per decision (:mod:`isingvar.sweep.estimate`).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    settings : NoSettings
        Unused (the method has no settings).
    sites : bool
        Per-site magnetisations wanted.

    Returns
    -------
    str
        The path's name, with the betas it covers where it covers only some; "none".
    """
    try:
        module, covered = decide(model, betas, sites=sites)
    except TooLargeError:
        return "none"
    name = path_name(module)
    return name if covered.all() else f"{name} on {int(covered.sum())} of {covered.size} betas"


def describe(model, betas, settings, *, sites) -> str:
    """The path an instance takes and its estimate, for ``--dry-run`` (:func:`isingvar.exact.choice.describe`).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    settings : NoSettings
        Unused (the method has no settings).
    sites : bool
        Per-site magnetisations wanted.

    Returns
    -------
    str
        One line.

    Raises
    ------
    TooLargeError
        When no path applies at any beta.
    """
    return choice.describe(model, betas, sites=sites)


def shard_weight(model, betas, settings) -> float:
    """1 with every field zero (the h = 0 symmetry halves the enumeration), else 2.

    Parameters
    ----------
    model : IsingModel
        The instance (its fields matter).
    betas : array_like of float, shape (nb,)
        Inverse temperatures (unused).
    settings : NoSettings
        Unused (the method has no settings).

    Returns
    -------
    float
        Relative cost of one instance for shard balancing (deterministic).
    """
    return 1.0 if not np.any(model.fields) else 2.0


METHOD = Method(
    name="exact",
    summary="exact: per instance the least modelled work of enumeration of all 2^N states (N <= 62; minutes from N = 36), "
            "variable elimination (width <= 26), cutset conditioning and, at zero field, a Pfaffian on a planar graph "
            "or four on the periodic square lattice (torus)",
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
    decision=decision,
    max_seconds=600.0,  # isingvar.exact.enumeration.MAX_SECONDS (not imported here: `isingvar --help` stays fast)
)
