"""Structured mean field over an induced forest (:mod:`isingvar.smf`) as a method: a lower bound on ln Z.

Variables: ``lnZ_smf_lower`` <= ln Z and ``f_smf_upper`` >= f (Gibbs variational principle with a
product of tree Ising models), the diagnostics ``smf_iterations`` and ``smf_converged``, and
``lnZ_model_smf_lower`` in sweeps of a model file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..budget import MAX_BUDGET, hooks
from ..clamp import MAX_CLAMP
from ..thermo import free_energy_per_spin
from ..trw import MAX_WIDTH
from .base import Method, Nonfinite, Var, check_settings, model_file_lnZ, per_beta, setting
from .trw import exact_settings, whole_graph


@dataclass(frozen=True)
class Settings:
    """Structured mean-field settings (``--smf-max-iterations``, ``--smf-tol``; TOML table ``[smf]``), each
    bounded (:func:`isingvar.methods.base.setting`)."""

    #: block sweeps (every colour of components once) allowed per beta (``smf_iterations`` is 32-bit)
    max_iterations: int = setting(1000, ge=0, le=10**8)
    #: largest elimination width of a component (:func:`isingvar.smf.band_partition`): 1 the induced forest of
    #: trees, W >= 2 the whole graph where its width is <= W, else slabs, bars or bands of width <= W
    width: int = setting(1, ge=1, le=MAX_WIDTH, why="a component's tables hold 2^(width + 1) entries per spin")
    #: convergence threshold on max_i |delta m_i| over one block sweep
    tol: float = setting(1e-10, gt=0, le=1, why="|delta m_i| <= 2: a threshold of 1 or more stops at once")
    #: spins clamped (:mod:`isingvar.clamp`; 0: off): the greater of the unclamped bound and the logsumexp
    #: over the 2^clamp conditioned models of the best of their structured and naive bounds and the naive
    #: descent warm-started from the unclamped naive solution is reported
    clamp: int = setting(0, ge=0, le=MAX_CLAMP, why="2^clamp conditioned models, each a full run")
    #: seconds per instance (0: off): ``width`` and ``clamp`` are the whole graph as one component where its
    #: estimated cost (:func:`cost`, deterministic) fits, else the last rung of
    #: :data:`isingvar.budget.SMF_LADDER` that fits (:mod:`isingvar.budget`; ``width`` and ``clamp`` must then
    #: be left at their defaults); ``--bound-budget`` sets it to its share (:func:`isingvar.budget.share`: half;
    #: :data:`isingvar.budget.DEFAULT_BUDGET` in ``isingvar sweep``)
    budget: float = setting(0.0, ge=0, le=MAX_BUDGET, why="seconds per instance; a year is beyond any construction")

    def __post_init__(self):
        """Check every field's type and bounds (:func:`isingvar.methods.base.check_settings`)."""
        check_settings("smf", self)


_LNZ = Var("lnZ_smf_lower", "lower", "lnZ", "nat",
           "structured mean-field lower bound on ln Z (<= lnZ_exact): S[Q] - beta <E>_Q, Q a product of "
           "exactly summed components (trees of an induced forest, bands of width <= smf width, or the whole "
           "graph; with fields also the zero-field Gibbs distribution)")
_MODEL_VAR, _file_hook = model_file_lnZ(_LNZ)  # lnZ_model_smf_lower: a lower bound on the file's ln Z

#: In the order of the file.
VARIABLES = (
    _LNZ,
    Var("f_smf_upper", "upper", "f", "energy per spin",
        "structured mean-field upper bound on the free energy per spin (>= f_exact)",
        nonfinite=Nonfinite.NEG_INF_AT_BETA0),
    Var("smf_iterations", "diagnostic", None, "1", "block sweeps of the structured mean-field ascent",
        dtype="i4", fill=-1),
    Var("smf_converged", "diagnostic", None, "1", "structured mean-field ascent converged (max |dm_i| < tol)",
        dtype="i1", fill=-1, flags=((0, 1), "not_converged converged")),
    _MODEL_VAR,
    Var("smf_width", "diagnostic", None, "1", "largest elimination width of a component (1: the induced forest); "
        "with a budget the rung of isingvar.budget.SMF_LADDER it took", dtype="i4", per="instance", fill=-1),
    Var("smf_clamp", "diagnostic", None, "1", "spins clamped (0: none; isingvar.clamp); with a budget the rung of "
        "isingvar.budget.SMF_LADDER it took", dtype="i4", per="instance", fill=-1),
    Var("smf_zero_field", "diagnostic", None, "1", "1 where the bound is also the zero-field one, ln Z(J, 0) <= "
        "ln Z (isingvar.zero_field: Q the zero-field Gibbs distribution, the whole graph one component), the "
        "greater being reported; 0 where not taken", dtype="i1", per="instance", fill=-1),
)

#: Assumed sweeps per beta of the cost model: naive mean-field runs plus the block ascent (a guide).
COST_SWEEPS = 200
#: With width > 1: block sweeps per beta (22-135 measured, 47 on average, on open 32 x 32 Gaussian h = 0.1
#: at widths 8 and 12 and periodic 6^3 +-J at width 12, beta 0.5, 1, 2), seconds per clique entry of a
#: sweep (CPU: 2.4e-8 at width 12 on the 32 x 32, 16 s for 141 sweeps of 4.7e6 entries, almost none of
#: them short), plus per entry of a step that gathers entry by entry
#: (:attr:`isingvar.smf.Partition.short_entries`: 1.3e-7 in all on the 6^3 planes, 2.8 s for 132 sweeps of
#: 1.6e5, about 1e-7 on its 3 x 3 bars, width 17, most of their entries short), and per colour's
#: elimination call.  Until 2026-12-07 one rate, 1e-7, for every entry: the 2D strips were costed 2-4x high
#: (open 32 x 32 width 12: 87 s against 19 s CPU).
COST_BAND_SWEEPS = 60
#: Seconds per clique entry of the whole graph as one component (one elimination per beta, no ascent: sk
#: n = 16, 60 betas, 0.57 s CPU in all with the naive starts).
SECONDS_PER_WHOLE_ENTRY = 2.5e-8
#: The naive mean-field starts' share of the width-1 estimate, kept beside the components' cost (sk n = 16,
#: 60 betas: the whole graph as one component ran in 0.86 s CPU, the forest in 0.44 s against 1.47 s
#: estimated).
NAIVE_SHARE = 0.25
SECONDS_PER_BAND_ENTRY = 2.4e-8
SECONDS_PER_BAND_SHORT_ENTRY = 8e-8
SECONDS_PER_BAND_CALL = 3e-3


def run(model, betas, settings, rng, *, sites, progress=None) -> dict:
    """Structured mean-field values of ``model`` over ``betas`` (the plug-in's entry point).

    :func:`isingvar.smf.structured_mean_field`, started at every beta from the naive mean-field solution
    (random starts from ``rng``).

    Parameters
    ----------
    model : IsingModel
        Already scaled to the sweep's J and h.
    betas : ndarray of float64, shape (nb,)
        Finite, >= 0, any order.
    settings : Settings
        The method's settings (``max_iterations``, ``tol``; with ``budget`` > 0 the clamp is the ladder's
        choice: :func:`resolved`).
    rng : numpy.random.Generator
        Draws the naive mean-field starts.
    sites : bool
        Unused (no per-site variables).
    progress : callable(step) or None
        One unit per beta.

    Returns
    -------
    dict
        lnZ_smf_lower, f_smf_upper float64 (nb,), smf_iterations int64 (nb,), smf_converged int8 (nb,),
        smf_clamp int (the spins clamped), smf_width int (the component width), smf_zero_field int (1 where the zero-field bound was taken)
        (:data:`VARIABLES`).
    """
    from ..clamp import clamp_count, clamped, split_progress, warm_mean_field
    from ..meanfield import mean_field
    from ..smf import structured_mean_field

    settings = resolved(model, betas, settings)
    progress = split_progress(progress, model, settings.clamp)

    def solve(m, prog):
        """Structured mean field of ``m`` over the grid.

        Parameters
        ----------
        m : IsingModel
            The model or a conditioned one.
        prog : callable(step) or None
            Progress.

        Returns
        -------
        StructuredResult
            :func:`isingvar.smf.structured_mean_field`'s.
        """
        return structured_mean_field(m, betas, rng=rng, width=settings.width, max_iterations=settings.max_iterations,
                                     tol=settings.tol,
                                     progress=(lambda: prog(1.0)) if prog is not None else None)

    r = solve(model, progress)
    lnZ, f = r.lnZ_lower, r.f_upper
    if settings.clamp:
        from .mf import Settings as NaiveSettings

        sweeps = NaiveSettings().max_sweeps  # as structured_mean_field's own naive runs
        naive = mean_field(model, betas, rng=rng, max_sweeps=sweeps, tol=settings.tol, keep_sites=True).sites

        def bound(cond, t, prog):
            """The best of conditioned model ``t``'s structured and naive bounds and the naive warm start.

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
                Lower bounds on the conditioned ln Z (each value is one: the greatest is).
            """
            c = solve(cond.models[t], prog)
            warm = warm_mean_field(cond, t, betas, naive, max_sweeps=sweeps, tol=settings.tol)
            return np.maximum(np.maximum(c.lnZ_lower, c.lnZ_naive), warm)

        lnZ = np.maximum(lnZ, clamped(model, betas, settings.clamp, bound, progress))
        f = free_energy_per_spin(lnZ, betas, model.n)
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    zero_field = _takes_zero_field(model, b, settings, cost(model, b, settings, sites=False))
    if zero_field:
        from ..zero_field import zero_field_lnz

        lnZ = np.fmax(lnZ, zero_field_lnz(model, b))  # NaN where the zero-field path confirms no value
        f = free_energy_per_spin(lnZ, b, model.n)
    return {"lnZ_smf_lower": lnZ, "f_smf_upper": f, "smf_iterations": r.iterations,
            "smf_zero_field": int(zero_field),
            "smf_converged": r.converged.astype(np.int8), "smf_clamp": clamp_count(model, settings.clamp),
            "smf_width": settings.width}


def cost(model, betas, settings, *, sites) -> float:
    """Seconds of one run, from a work model without timing (a guide only).

    :data:`COST_SWEEPS` sweeps per beta, each one tree pass and one pass over the couplings per colour
    of the component graph, the colours taken as min(N, mean degree + 1), at
    :data:`isingvar.bp.SECONDS_PER_SLOT_SWEEP` per unit of work; with ``clamp`` > 0, times 1 + the
    conditioned models (:func:`isingvar.clamp.runs`); with ``budget`` > 0 the clamp it takes (:func:`resolved`).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    settings : Settings
        The method's settings (``clamp``).
    sites : bool
        Unused.

    Returns
    -------
    float
        Estimated seconds.
    """
    from ..bp import SECONDS_PER_SLOT_SWEEP
    from ..clamp import runs

    settings = resolved(model, betas, settings)
    n, e = model.n, model.n_edges
    nb = len(betas)
    colours = min(n, 1.0 + 2.0 * e / max(n, 1))
    parts = 1 + runs(model, settings.clamp)
    seconds = nb * COST_SWEEPS * colours * (n + 2 * e) * SECONDS_PER_SLOT_SWEEP
    if settings.width > 1:
        from ..smf import band_partition

        part = band_partition(model, settings.width)
        if part is not None:
            # the components replace the forest: of its cost only the naive mean-field starts remain
            if part.name == "whole":  # one exact component: one elimination per beta
                per_beta = part.entries * SECONDS_PER_WHOLE_ENTRY + SECONDS_PER_BAND_CALL
            else:
                per_beta = COST_BAND_SWEEPS * (part.entries * SECONDS_PER_BAND_ENTRY
                                               + part.short_entries * SECONDS_PER_BAND_SHORT_ENTRY
                                               + part.n_colours * SECONDS_PER_BAND_CALL)
            seconds = NAIVE_SHARE * seconds + nb * per_beta
    total = parts * seconds
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    if _takes_zero_field(model, b, settings, total):
        from ..zero_field import path_work

        total += path_work(model, b)
    return total


def _takes_zero_field(model, b, settings, own_seconds) -> bool:
    """Whether the run also takes the zero-field bound ln Z(J, 0) (:mod:`isingvar.zero_field`): the model has
    fields, its bound is not already exact (the whole graph one component), and the zero-field path's
    modelled work fits beside ``own_seconds`` (:func:`isingvar.zero_field.fits`)."""
    from ..zero_field import fits

    if not np.any(model.fields):
        return False
    if whole_graph(model, settings):
        return False
    return fits(model, b, own_seconds)


#: ``resolved(model, betas, settings)``: the settings a budget takes on this instance; ``decision``: the
#: construction shown in ``--dry-run`` (:func:`isingvar.budget.hooks`).
resolved, decision = hooks("smf", lambda model, betas, s: cost(model, betas, s, sites=False), exact_settings)


METHOD = Method(
    name="smf",
    summary="structured mean field over exactly summed components: lower bound on ln Z, upper bound on f",
    settings=Settings,
    variables=VARIABLES,
    run=run,
    cost=cost,
    progress_units=per_beta,
    default=True,
    file_hook=_file_hook,
    decision=decision,
    # mean field's random stream: the naive start is then the mf method's own fixed point (Method.stream)
    stream="mf",
)
