"""Naive mean field (:mod:`isingvar.meanfield`) as a method of the sweep: a lower bound on ln Z.

Variables: ``lnZ_mf_lower`` <= ln Z and ``f_mf_upper`` >= f (Gibbs-Bogoliubov-Feynman
inequality), the mean-field ``u_mf``, ``s_mf``, ``m_mf`` (not bounds), the
diagnostics ``mf_iterations`` and ``mf_converged``, and ``m_mf_site`` per site.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..budget import MAX_BUDGET, hooks
from ..clamp import MAX_CLAMP
from ..thermo import free_energy_per_spin
from .base import Method, Nonfinite, Var, check_settings, model_file_lnZ, setting


@dataclass(frozen=True)
class Settings:
    """Mean-field settings (``--mf-max-sweeps``, ``--mf-tol``; TOML table ``[mf]``), each bounded
    (:func:`isingvar.methods.base.setting`)."""

    #: sequential sweeps allowed per run (``mf_iterations`` is a 32-bit integer)
    max_sweeps: int = setting(2000, ge=1, le=10**8)
    #: convergence threshold on max_i |delta m_i| over one sweep
    tol: float = setting(1e-10, gt=0, le=1, why="|delta m_i| <= 2: a threshold of 1 or more stops at once")
    #: spins clamped (:mod:`isingvar.clamp`; 0: off): the greater of the unclamped bound and the logsumexp
    #: of the 2^clamp conditioned models' bounds is reported, each conditioned run also warm-started from
    #: the unclamped solution (u, s, m stay the unclamped product distribution's)
    clamp: int = setting(0, ge=0, le=MAX_CLAMP, why="2^clamp conditioned models, each a full mean-field run")
    #: seconds per instance (0: off): ``clamp`` is the last rung of :data:`isingvar.budget.CLAMP_LADDER` whose
    #: estimated cost (:func:`work_seconds`, deterministic) fits (:mod:`isingvar.budget`; ``clamp`` must then be
    #: left at its default; no whole-graph component: clamping every spin, N <= 12, is the exact rung);
    #: ``--bound-budget`` sets it to its share (:func:`isingvar.budget.share`: a tenth), and leaves it off where
    #: ``smf`` runs (:data:`isingvar.budget.LEFT_TO`; :data:`isingvar.budget.DEFAULT_BUDGET` in ``isingvar sweep``)
    budget: float = setting(0.0, ge=0, le=MAX_BUDGET, why="seconds per instance; a year is beyond any construction")

    def __post_init__(self):
        """Check every field's type and bounds (:func:`isingvar.methods.base.check_settings`)."""
        check_settings("mf", self)


_LNZ = Var("lnZ_mf_lower", "lower", "lnZ", "nat", "naive mean-field lower bound on ln Z (<= lnZ_exact): S[Q] - beta <E>_Q")
_MODEL_VAR, _file_hook = model_file_lnZ(_LNZ)  # lnZ_model_mf_lower: a lower bound on the file's ln Z

#: In the order of the file (a new variable is one line at its place).
VARIABLES = (
    _LNZ,
    Var("f_mf_upper", "upper", "f", "energy per spin",
        "naive mean-field upper bound on the free energy per spin (>= f_exact)", nonfinite=Nonfinite.NEG_INF_AT_BETA0),
    Var("u_mf", "estimate", "u", "energy per spin", "mean-field internal energy per spin <E>_Q/N (not a bound)"),
    Var("s_mf", "estimate", "s", "nat per spin", "entropy per spin of the mean-field distribution Q (not a bound)"),
    Var("m_mf", "estimate", "m", "1", "mean-field magnetisation per spin sum_i m_i/N (not a bound)"),
    Var("mf_iterations", "diagnostic", None, "1", "sequential sweeps of the mean-field run that gave the bound",
        dtype="i4", fill=-1),
    Var("mf_converged", "diagnostic", None, "1", "mean-field iteration converged (max |dm_i| < tol)",
        dtype="i1", fill=-1, flags=((0, 1), "not_converged converged")),
    Var("m_mf_site", "estimate", "m", "1", "mean-field site magnetisations m_i (not a bound)", per="site"),
    _MODEL_VAR,
    Var("mf_clamp", "diagnostic", None, "1", "spins clamped (0: none; isingvar.clamp); with a budget the rung of "
        "isingvar.budget.CLAMP_LADDER it took", dtype="i4", per="instance", fill=-1),
)


def run(model, betas, settings, rng, *, sites, progress=None) -> dict:
    """Mean-field values of ``model`` over ``betas`` (the plug-in's entry point).

    :func:`isingvar.meanfield.mean_field`, continuation up and down the grid from ``rng``'s random starts.

    Parameters
    ----------
    model : IsingModel
        Already scaled to the sweep's J and h.
    betas : ndarray of float64, shape (nb,)
        Finite, >= 0, any order.
    settings : Settings
        The method's settings (``max_sweeps``, ``tol``; with ``budget`` > 0 the clamp is the ladder's
        choice: :func:`resolved`).
    rng : numpy.random.Generator
        Draws the random starts.
    sites : bool
        Also the per-site magnetisations ``m_mf_site``, float64 (nb, N).
    progress : callable(step) or None
        One unit per continuation step.

    Returns
    -------
    dict
        lnZ_mf_lower, f_mf_upper, u_mf, s_mf, m_mf float64 (nb,), mf_iterations (nb,), mf_converged
        int8 (nb,), mf_clamp int (the spins clamped) (:data:`VARIABLES`), and ``m_mf_site`` with ``sites``.
    """
    from ..clamp import clamp_count, clamped, split_progress, warm_mean_field
    from ..meanfield import mean_field

    settings = resolved(model, betas, settings)
    progress = split_progress(progress, model, settings.clamp)

    def solve(m, keep, prog):
        """Mean field of ``m`` over the grid.

        Parameters
        ----------
        m : IsingModel
            The model or a conditioned one.
        keep : bool
            Keep the per-site magnetisations.
        prog : callable(step) or None
            Progress.

        Returns
        -------
        MeanFieldResult
            :func:`isingvar.meanfield.mean_field`'s.
        """
        return mean_field(m, betas, rng=rng, keep_sites=keep, max_sweeps=settings.max_sweeps, tol=settings.tol,
                          progress=(lambda: prog(1.0)) if prog is not None else None)

    r = solve(model, sites or settings.clamp > 0, progress)
    lnZ, f = r.lnZ_lower, r.f_upper
    if settings.clamp:
        def bound(cond, t, prog):
            """The better of conditioned model ``t``'s own run and the warm start: lower bounds, (nb,).

            Parameters
            ----------
            cond : isingvar.clamp.Conditioning
                The conditioning.
            t : int
                The configuration.
            prog : callable(step) or None
                Progress.

            Returns
            -------
            ndarray of float64, shape (nb,)
                Lower bounds on the conditioned ln Z.
            """
            warm = warm_mean_field(cond, t, betas, r.sites, max_sweeps=settings.max_sweeps, tol=settings.tol)
            return np.maximum(solve(cond.models[t], False, prog).lnZ_lower, warm)

        lnZ = np.maximum(lnZ, clamped(model, betas, settings.clamp, bound, progress))
        f = free_energy_per_spin(lnZ, betas, model.n)
    values = {
        "lnZ_mf_lower": lnZ, "f_mf_upper": f, "u_mf": r.u, "s_mf": r.s, "m_mf": r.m,
        "mf_iterations": r.iterations, "mf_converged": r.converged.astype(np.int8),
        "mf_clamp": clamp_count(model, settings.clamp),
    }
    if sites:
        values["m_mf_site"] = r.sites
    return values


def cost(model, betas, settings, *, sites) -> float:
    """Seconds of one run: a timed run over at most 3 of the betas (after a compiling call), scaled to the grid.

    Its cost varies with beta, so this is a guide only.  With ``clamp`` = k > 0, times 1 + 2 (N - k) / N per
    conditioned model (:func:`isingvar.clamp.runs`: its own run and the warm start, on N - k spins); with
    ``budget`` > 0 the clamp it takes (:func:`resolved`).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    settings : Settings
        The method's settings.
    sites : bool
        Unused (the timed run keeps no per-site values).

    Returns
    -------
    float
        Estimated seconds.
    """
    from ..meanfield import mean_field

    settings = resolved(model, betas, settings)
    betas = np.asarray(betas, dtype=float)
    few = betas[np.unique(np.linspace(0, betas.size - 1, 3).round().astype(int))]
    mean_field(model, few[:1], rng=np.random.default_rng(0), max_sweeps=2)  # compile outside the timing
    t = time.perf_counter()
    mean_field(model, few, rng=np.random.default_rng(0), keep_sites=False,
               max_sweeps=settings.max_sweeps, tol=settings.tol)
    from ..clamp import clamp_count, runs

    # each conditioned model is bounded twice (its own run and the warm start) on the N - k spins left:
    # clamping every spin leaves nothing to run (SK N = 6, clamp 6: 32 empty models, not 32 runs)
    left = (model.n - clamp_count(model, settings.clamp)) / max(model.n, 1)
    return (time.perf_counter() - t) * betas.size / few.size * (1 + 2 * runs(model, settings.clamp) * left)


#: Sequential sweeps per beta and continuation pass assumed by :func:`work_seconds` (a converged run takes
#: tens near beta = 0 and hundreds near a transition; the sweep runs the grid up and down).  50 since
#: 2026-12-07: with 100 the clamped runs measured 0.43-0.62 of the estimate (CPU: open 32 x 32 Gaussian
#: h = 0.1 clamp 4, 1.3 s against 3.0; periodic 6^3 +-J clamp 6, 1.1 against 1.8; SK N = 16, 60 betas,
#: clamp 3, 0.37 against 0.83).
WORK_SWEEPS = 50


def work_seconds(model, betas, settings) -> float:
    """Seconds of :func:`run` from a work model, without timing: what a budget compares (a choice that
    depends on no clock is the same on every machine, shard and resume).

    2 passes x nb betas x :data:`WORK_SWEEPS` sweeps over N + 2E sites and CSR slots at
    :data:`isingvar.bp.SECONDS_PER_SLOT_SWEEP`; with ``clamp`` > 0 plus two runs (its own and the warm
    start) per conditioned model (:func:`isingvar.clamp.runs`).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    settings : Settings
        The method's settings (``clamp``).

    Returns
    -------
    float
        Estimated seconds.
    """
    from ..bp import SECONDS_PER_SLOT_SWEEP
    from ..clamp import runs

    one = 2 * np.asarray(betas).size * WORK_SWEEPS * (model.n + 2 * model.n_edges) * SECONDS_PER_SLOT_SWEEP
    return one * (1 + 2 * runs(model, settings.clamp))


def progress_units(n, betas, settings) -> float:
    """2 nb - 1 continuation steps (up the grid, then down).

    Parameters
    ----------
    n : int
        Number of spins (unused).
    betas : sequence of float
        Inverse temperatures.
    settings : Settings
        The method's settings (unused).

    Returns
    -------
    float
        Total progress units of :func:`run`.
    """
    return float(2 * len(betas) - 1)


#: ``resolved(model, betas, settings)``: the settings a budget takes on this instance; ``decision``: the
#: construction shown in ``--dry-run`` (:func:`isingvar.budget.hooks`).
resolved, decision = hooks("mf", lambda model, betas, s: work_seconds(model, betas, s))


METHOD = Method(
    name="mf",
    summary="naive mean field: lower bound on ln Z, upper bound on f",
    settings=Settings,
    variables=VARIABLES,
    run=run,
    cost=cost,
    progress_units=progress_units,
    default=True,
    file_hook=_file_hook,
    decision=decision,
)
