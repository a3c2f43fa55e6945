"""The ``trw`` method: the tree-reweighted upper bound on ln Z (a lower bound on f), certified by an
explicit tree decomposition.

A plug-in over :func:`isingvar.trw.upper_bound` (the algorithm: trees, messages, conditional gradient and
the certificate, docs/methods.md), :mod:`isingvar.trw_components` (``width > 1``) and the message kernels
of :mod:`isingvar.kernels.bp`: its settings, variables, cost and memory models and the adapter from the
algorithm's result to the variables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..bp import MAX_SWEEPS, SECONDS_PER_SLOT_SWEEP
from ..budget import MAX_BUDGET, hooks
from ..clamp import MAX_CLAMP
from ..thermo import check_betas, free_energy_per_spin
from ..trw import MAX_TREES, MAX_WIDTH
from .base import Method, Nonfinite, Var, check_settings, model_file_lnZ, per_beta, setting

#: Most conditional-gradient steps per beta, L-BFGS steps of the polish and of the field shares: each is
#: one or more solves (passes over every tree or component) at every beta, and the iteration counts are
#: stored as 32-bit integers.
MAX_STEPS = 10**4


@dataclass(frozen=True)
class Settings:
    """TRW settings (``--trw-<name>``, TOML table ``[trw]``), each bounded
    (:func:`isingvar.methods.base.setting`).

    Attributes
    ----------
    max_iterations : int
        Message sweeps allowed per TRW solve (one solve per tried tree list).
    tol : float
        Convergence threshold on max |delta u| over a sweep (nats).
    damping : float
        Message damping in [0, 1).
    tree_steps : int
        Conditional-gradient steps on the edge appearance probabilities per beta (0: keep the starting
        trees).
    max_trees : int
        Trees kept beyond the starting set; above it the lightest trees whose edges are covered by others
        are dropped.
    start_trees : int
        Least number of random spanning trees a sparse graph starts from (more are added until every
        coupled pair is covered).
    polish_iterations : int
        L-BFGS steps on the primal over the messages when message passing did not converge (each step one
        or more passes over all trees); 0 (default) turns it off: on the UAI Grids/DBN files it lowered the
        bound by < 0.01 % (benchmarks/bounds.py, docs/methods.md).
    width : int
        1 (default): spanning trees as above.  W > 1: components of elimination width <= W (bands of
        layers, vertex-cover groups, or the whole graph where its width is <= W), each ln Z exact by
        variable elimination (:mod:`isingvar.trw_components`); the least bound over the constructions is
        reported.  Work grows as 2^W per spin of each component.
    share_iterations : int
        With width > 1, L-BFGS steps on the components' field shares per beta, of the construction whose
        uniform split is the least at that beta (0: uniform shares).
    clamp : int
        0 (default): off.  k > 0: also the bound clamped on k spins (:mod:`isingvar.clamp`), the
        logsumexp of the bounds of the 2^k conditioned models; the lesser of it and the unclamped bound
        is reported (both certified; the diagnostics are the unclamped run's).
    budget : float
        0: off.  B > 0 seconds: per instance, ``width`` and ``clamp`` are the whole graph as one exact
        component where its estimated cost (:func:`cost`) fits B (:func:`exact_settings`), else the rung
        of the ladder :data:`isingvar.budget.TRW_LADDER` before the first whose cost exceeds B
        (:mod:`isingvar.budget`); they must then be left at their defaults.  ``--bound-budget`` sets it
        (default :data:`isingvar.budget.DEFAULT_BUDGET` in a sweep).
    field_split : float
        Weight eps of the zero-field split (:mod:`isingvar.zero_field`) on a model with fields whose
        zero-field model has an exact path (planar, torus): the bound reported is
        (1 - eps) ln Z(J, 0) + eps U(J, h / eps), U this method's bound of the model with fields amplified
        by 1/eps.  0 (default): eps = min(1, :data:`SPLIT_SCALE` sqrt(h_rms / J_rms)) (:func:`split_weight`);
        1: off (U of the model itself).  Not used where the run's bound is already exact (the whole graph
        as one component) or where the zero-field path's modelled cost exceeds the run's own.
    """

    max_iterations: int = setting(300, ge=1, le=MAX_SWEEPS, why="each sweep passes over every bond")
    tol: float = setting(1e-8, gt=0)
    damping: float = setting(0.5, ge=0, lt=1)
    tree_steps: int = setting(6, ge=0, le=MAX_STEPS, why="each step is a solve at every beta")
    max_trees: int = setting(32, ge=0, le=MAX_TREES, why="every solve sums every tree")
    start_trees: int = setting(2, ge=1, le=MAX_TREES, why="every solve sums every tree")
    polish_iterations: int = setting(0, ge=0, le=MAX_STEPS, why="each step passes over every tree")
    width: int = setting(1, ge=1, le=MAX_WIDTH, why="a component's tables hold 2^(width + 1) entries per spin")
    share_iterations: int = setting(30, ge=0, le=MAX_STEPS, why="each step eliminates every component")
    clamp: int = setting(0, ge=0, le=MAX_CLAMP, why="2^clamp conditioned models, each bounded by a full run")
    budget: float = setting(0.0, ge=0, le=MAX_BUDGET, why="seconds per instance; a year is beyond any construction")
    field_split: float = setting(0.0, ge=0, le=1, why="a weight above 1 makes no convex combination")

    def __post_init__(self):
        """Check every field's type and bounds (:func:`isingvar.methods.base.check_settings`)."""
        check_settings("trw", self)


def run(model, betas, settings, rng, *, sites=False, progress=None):
    """The TRW upper bound on ln Z at every beta of a grid (the plug-in's entry point).

    Parameters
    ----------
    model : IsingModel
        Already scaled to the sweep's J and h.
    betas : float64 (nb,)
        Finite, >= 0, any order.
    settings : Settings
        With ``budget`` > 0 the width and clamp are the ladder's choice for this instance
        (:func:`resolved`).
    rng : numpy.random.Generator
        Draws the random starting trees of sparse graphs.
    sites : bool
        Unused (TRW has no per-site variables).
    progress : callable(step) or None
        One unit per beta.

    Returns
    -------
    dict
        lnZ_trw_upper float64 (nb,) [nat, total], f_trw_lower float64 (nb,) [energy per spin; -inf at
        beta = 0], trw_iterations int32 (nb,) message sweeps at that beta, trw_converged int8 (nb,) last
        accepted TRW solve converged, trw_trees int32 (nb,) trees in the list of the reported bound
        (:func:`isingvar.trw.upper_bound`); trw_width, trw_clamp int (scalars) the construction used.

    Raises
    ------
    CertificateError
        If a decomposition fails its check (never seen outside deliberately broken tests).
    TooLargeError
        With ``settings.width > 1``, when no construction of components of that width covers the graph.
    """
    from ..clamp import clamp_count, clamped, split_progress
    from ..trw import upper_bound

    b = check_betas(betas)
    settings = _one_component(model, resolved(model, b, settings))
    progress = split_progress(progress, model, settings.clamp)
    eps = _split(model, b, settings)
    if eps < 1.0:
        from ..zero_field import amplified, split_upper, zero_field_lnz

        lnz0 = zero_field_lnz(model, b)
        res = upper_bound(amplified(model, eps), b, settings, rng, progress)
        lnZ = split_upper(lnz0, res.lnZ, eps)
        missing = np.isnan(lnz0)  # betas where the zero-field path confirms no value: the model's own bound
        if missing.any():
            lnZ[missing] = upper_bound(model, b[missing], settings, rng).lnZ
    else:
        res = upper_bound(model, b, settings, rng, progress)
        lnZ = res.lnZ
    if settings.clamp:
        lnZ = np.minimum(lnZ, clamped(model, b, settings.clamp,
                                      lambda c, t, p: upper_bound(c.models[t], b, settings, rng, p).lnZ, progress))
    return {
        "lnZ_trw_upper": lnZ,
        "trw_iterations": res.iterations,
        "trw_converged": res.converged,
        "trw_trees": res.trees,
        "f_trw_lower": free_energy_per_spin(lnZ, b, model.n),
        "trw_width": settings.width,
        "trw_clamp": clamp_count(model, settings.clamp),
        "trw_field_split": eps,
    }


#: eps = SPLIT_SCALE sqrt(h_rms / J_rms) (at most 1) where ``field_split`` is 0: the least interval width
#: measured on open 16 x 16 and 32 x 32 Gaussian glasses, beta 0.5, 1, 2, width 1, 4 and 8, was at eps
#: 0.3-0.5 for h = 0.1 and 0.7 for h = 0.3 (docs/methods.md, "Zero-field bounds").  Any eps gives a
#: certified bound: the rule only chooses a tight one.
SPLIT_SCALE = 1.1


def split_weight(model, settings) -> float:
    """The weight eps of the zero-field split on ``model`` (``settings.field_split``, or the rule when 0).

    Parameters
    ----------
    model : IsingModel
        The instance (scaled to the sweep's J and h).
    settings : Settings
        The method's settings.

    Returns
    -------
    float
        eps in (0, 1]; 1 (no split) on a model without fields or without couplings.
    """
    if settings.field_split > 0:
        return float(settings.field_split)
    h = math.sqrt(float(np.mean(np.square(model.fields)))) if model.n else 0.0
    J = math.sqrt(float(np.mean(np.square(model.couplings)))) if model.n_edges else 0.0
    if h == 0.0 or J == 0.0:
        return 1.0
    return min(1.0, SPLIT_SCALE * math.sqrt(h / J))


def _split(model, b, settings) -> float:
    """eps of the run (:func:`split_weight`), 1 where the split does not apply: no fields, the run's bound
    already exact (the whole graph one component), no exact path for the zero-field model, or that path's
    modelled work above the run's own cost (:func:`isingvar.zero_field.fits`)."""
    eps = split_weight(model, settings)
    if eps >= 1.0:
        return 1.0
    if whole_graph(model, settings):
        return 1.0
    from ..zero_field import fits

    return eps if fits(model, b, _run_seconds(model, b.size, settings, True)) else 1.0


# ----------------------------------------------------------------------------- cost model
# Refitted 2026-12-07 on the development machine (2 shared cores, loaded: CPU seconds of process_time) after
# the old model put one run on square --L 16 --boundary open --disorder gaussian --h 0.1 at 0.009 s for
# ~0.5-1 s (it assumed ~10 message sweeps per solve: with any field a solve runs 180-280 of its 300).
# Probes (docs/methods.md, "Budgets"): width 1 on square L = 16 and 32 (open Gaussian, ferromagnet; h = 0
# and 0.1), cubic 4^3 +-J, rrg n = 100, sk n = 16 and 30, with 3 and 20 betas; width 4 and 8 on square
# L = 8, 16, 24 and sk n = 16, 24 (every construction, its uniform evaluation, its share optimisation).
# Each run within a factor ~2 of the estimate.

#: Message passing, seconds per CSR slot per sweep (5-6e-8 measured on the square and sk probes with fields).
SECONDS_PER_MESSAGE_SLOT = 5e-8
#: What a solve costs besides its sweeps: a fixed part and one per tree site (the primal's tree sums, the
#: mutual informations and the spanning tree of a step): 0.3-0.7 ms per solve with every field zero.
SECONDS_PER_SOLVE = 2.5e-4
SECONDS_PER_TREE_SITE = 1e-7
#: Solves per beta, per conditional-gradient step allowed (a step tries up to 3 candidate lists; most
#: stop early on a close grid): 7-14 per beta measured on 3 betas, 4-7 on 20 and 60 (tree_steps = 6):
#: 10 per beta, up to 2x high on fine grids, where a run is cheap per beta.
SOLVES_PER_STEP = 1.5

#: One elimination call of a union model (:func:`isingvar.trw_components.evaluate`): a fixed part (the
#: Python set-up of the model, its plan from the pattern cache and the certificate), a part per union spin
#: and a part per clique entry, without and with the per-site pass and fields (the shares' gradient).
#: Fitted values, refitted 2026-12-07 (issue 22, single-threaded, load 1-2) on the uniform evaluations and
#: share optimisations of every construction of sq32 (widths 8, 12), cub4 (20), cub6 (12, 16, 20) and
#: dbn12 (20) of ``benchmarks/bounds.py calibrate``: 1.3-6 ms for 63-600 union spins, 6-12 ms for 2048-3072
#: with few entries, 18-24 ms for 4096-6144; 7.5-10 ns per entry, 12-14 ns with the per-site pass (DBN_12
#: width 20: 0.70 s uniform, 1.12 s per share evaluation on 92.3M entries).  Before, 3 ms, 8 us, 7 and
#: 11.5 ns: the fixed part 2-3x high on the lattices.
SECONDS_PER_CALL = 1.5e-3
SECONDS_PER_UNION_SPIN = 3e-6
SECONDS_PER_ENTRY = 7e-9
SECONDS_PER_ENTRY_SITES = 1.2e-8
#: Added per clique entry of a step that gathers its children's rows entry by entry
#: (:attr:`isingvar.trw_components.Construction.short_entries`: most entries of a 3D construction, almost
#: none of a 2D strip's).  Fitted value: 42-58 ns per entry and evaluation on every construction of periodic
#: 4^3 and 6^3 at width 20 (uniform evaluations, single-threaded, refitted 2026-12-07 for issue 22); the
#: first fit, 130 ns (55-320 ns, 2026-12-07, docs/methods.md "Budgets"), put 6^3 width 20 at 29.5 s against
#: 9 s CPU.  The per-site pass in the ratio of :data:`SECONDS_PER_ENTRY_SITES` to :data:`SECONDS_PER_ENTRY`.
SECONDS_PER_SHORT_ENTRY = 5e-8
SECONDS_PER_SHORT_ENTRY_SITES = SECONDS_PER_SHORT_ENTRY * SECONDS_PER_ENTRY_SITES / SECONDS_PER_ENTRY
#: An evaluation inside the shares' L-BFGS beyond the elimination (the optimiser's step over K x N shares,
#: the projection, the gradient).  Fitted values (2026-12-07, issue 22, single-threaded): a share
#: evaluation's time less its elimination's is 1-3 ms on the bands of sq32 and DBN_12 and ~2-4 ms on the
#: vertex covers of sq32 width 8 (K N = 65,536: 9-14 ms per evaluation in all); the earlier 1.5 us per
#: share put those covers at 120 ms per evaluation, and since the run may optimise any construction
#: (:func:`_component_seconds`) made them the costliest of sq32 width 8.
SECONDS_PER_SHARE_EVAL = 1.5e-3
SECONDS_PER_SHARE = 3e-8
#: Building a union model's elimination plan (Python), per spin and per spin of its mean separator
#: (log2(entries / spins) - 1): 23 us per spin at width 1 to 240 us at width 16.
SECONDS_PER_PLAN_SPIN = 2e-5
SECONDS_PER_PLAN_SEPARATOR_SPIN = 1.4e-5
#: Finding the constructions (order searches and plans of every layering, cover and band thickness
#: tried) relative to the modelled cost of the plans of those kept.  Fitted value (2026-12-07, issue 22,
#: single-threaded, :func:`isingvar.trw_components.survey`'s CPU seconds): 1.65x on sq32 width 8 (3.9 s),
#: 1.3x width 12 (4.9 s), 1.1x on dbn12 width 20 (0.11 s), 0.7x on cub6 width 20 (0.75 s).  Before, 3
#: (0.7-1.7 s on square L = 16, width 4, against 0.25 s of plans; 2.4-4 s against 2.7 s on L = 40,
#: width 10): 1.5-4x high on the calibrate runs.
CONSTRUCTION_FACTOR = 1.2
#: Evaluations of the field shares' L-BFGS per share iteration where some field is non-zero (measured
#: 0.8 on sk n = 30, 1.3 on square L = 40, 1.1 on square L = 16, 1.0-1.1 on sq32 widths 8 and 12); with
#: every field zero the run does not optimise (the uniform split is optimal).
SHARE_EVALS_PER_ITERATION = 1.2
#: Trying a starting spanning tree (a maximum spanning tree on random weights), per CSR slot, in units of
#: SECONDS_PER_SLOT_SWEEP: 3.4 s for 1000 trees on square L = 100.
START_TREE_SLOT_SWEEPS = 3.0


def _tree_count(n, n_edges, settings, steps=None) -> int:
    """Trees a run lists: N stars on a complete graph (:func:`isingvar.trw.starting_trees`), else at
    least ``start_trees`` (about 3 cover a lattice's pairs), plus one per conditional-gradient step
    (``steps``, default one beta's), at most ``max_trees`` of them."""
    complete = n >= 3 and n_edges == n * (n - 1) // 2
    start = n if complete else max(3, settings.start_trees)
    return start + min(settings.tree_steps if steps is None else steps, settings.max_trees)


def _tree_seconds(n, n_edges, nb, settings, fields: bool) -> float:
    """Estimated seconds of the spanning-tree bound: the starting trees (each a maximum spanning tree,
    :data:`START_TREE_SLOT_SWEEPS`) and nb x (1 + :data:`SOLVES_PER_STEP` x tree_steps) solves, each
    :data:`SECONDS_PER_SOLVE`, the trees' sites and its message sweeps over the 2E slots: with every
    field zero the messages start at their fixed point (one sweep, measured on every probe), else
    ``max_iterations`` (180-281 of 300 measured: a damped solve rarely reaches tol = 1e-8)."""
    complete = n >= 3 and n_edges == n * (n - 1) // 2
    start = 0 if complete else max(3, settings.start_trees) * START_TREE_SLOT_SWEEPS * (2 * n_edges + n)
    solves = nb * (1 + SOLVES_PER_STEP * settings.tree_steps)
    sweeps = settings.max_iterations if fields else 1
    per_solve = (SECONDS_PER_SOLVE + SECONDS_PER_TREE_SITE * _tree_count(n, n_edges, settings) * n
                 + SECONDS_PER_MESSAGE_SLOT * 2 * n_edges * sweeps)
    return start * SECONDS_PER_SLOT_SWEEP + solves * per_solve


def _component_seconds(model, nb, settings, cons, scale, fields: bool) -> float:
    """Estimated seconds of finding the constructions ``cons`` and of the evaluations over them (times
    ``scale``, where they are a part of the model's: :func:`isingvar.trw_components.survey`).

    Per construction: its plans (:data:`CONSTRUCTION_FACTOR` times their cost for finding them, once more
    in the run where the pattern cache, :data:`isingvar.patterns.CACHE`, cannot hold every construction's
    plans) and nb uniform evaluations; for the one whose shares are optimised at each beta (the best start
    there, :func:`isingvar.trw._components_bound`, which may be any whose per-site pass fits: counted as
    the costliest of those) nb x the share iterations' evaluations with the per-site pass and the
    optimiser's step (:data:`SECONDS_PER_SHARE_EVAL`), plus the plans rebuilt per evaluation beyond what
    the cache holds of the construction's; none without fields (the run optimises nothing there).  Until
    2026-12-07 the costliest of the half with the fewest components (the thick bands), which missed the
    bfs-bands K = 3 that DBN_12 width 20 optimises (92.3M clique entries, costed as K = 2's 46.1M), and
    before that the whole half, all of which the run optimised then.  An evaluation costs
    per clique entry :data:`SECONDS_PER_ENTRY`, plus :data:`SECONDS_PER_SHORT_ENTRY` for the entries of
    steps that gather entry by entry (:attr:`isingvar.trw_components.Construction.short_entries`).
    """
    from ..patterns import CACHE

    if settings.share_iterations == 0 or not fields:
        evals = 0.0  # without fields the run optimises nothing: the uniform split is optimal
    else:
        evals = 1.0 + SHARE_EVALS_PER_ITERATION * settings.share_iterations
    total, optimised = 0.0, []
    n_plans = sum(len(c.chunks) for c in cons)
    again = 0.0 if CACHE.room(n_plans, sum(c.plan_bytes for c in cons) // max(n_plans, 1)) == n_plans else 1.0
    for c in cons:
        spins = sum(ch["pattern"].n for ch in c.chunks)
        chunks = len(c.chunks)
        fixed = chunks * SECONDS_PER_CALL + spins * SECONDS_PER_UNION_SPIN
        separator = max(0.0, math.log2(max(c.entries, 1) / max(spins, 1)) - 1.0)
        plans = spins * (SECONDS_PER_PLAN_SPIN + SECONDS_PER_PLAN_SEPARATOR_SPIN * separator)
        short = c.short_entries or 0
        uniform = c.entries * SECONDS_PER_ENTRY + short * SECONDS_PER_SHORT_ENTRY
        total += (CONSTRUCTION_FACTOR + again) * plans + nb * (fixed + uniform)
        if c.sites_fit:
            rebuilt = plans * (chunks - CACHE.room(chunks, c.plan_bytes // max(chunks, 1))) / max(chunks, 1)
            step = SECONDS_PER_SHARE_EVAL + SECONDS_PER_SHARE * c.K * model.n
            sites = c.entries * SECONDS_PER_ENTRY_SITES + short * SECONDS_PER_SHORT_ENTRY_SITES
            optimised.append(nb * evals * (fixed + sites + rebuilt + step))
    # the run optimises, at each beta, the construction with the best start there (isingvar.trw.
    # _components_bound), which any optimisable one may be (bfs-bands K = 3 on DBN_12, axis-slabs K = 6
    # on the open 32 x 32 at beta 0.5): the costliest is counted at every beta
    lead = max(optimised, default=0.0)
    return scale * (total + lead)


def _run_seconds(model, nb, settings, fields: bool) -> float:
    """Estimated seconds of one unclamped run (:func:`cost`), with or without non-zero fields."""
    trees = _tree_seconds(model.n, model.n_edges, nb, settings, fields)
    if settings.width == 1 or nb == 0:
        return trees
    from ..trw_components import survey

    scale, cons = survey(model, settings.width)
    if len(cons) == 1 and cons[0].K == 1 and scale == 1.0:
        trees = 0.0  # the whole graph fits: its ln Z is the bound, no trees join
    return trees + _component_seconds(model, nb, settings, cons, scale, fields)


def cost(model, betas, settings, *, sites=False):
    """Estimated seconds of :func:`run`.

    Width 1: the spanning-tree bound (:func:`_tree_seconds`).  Width > 1: the constructions are built
    (:func:`isingvar.trw_components.survey`; the run that follows reuses them; above 10^4 spins those of
    the first 10^4, scaled), then the tree bound (unless the whole graph fits) and the constructions and
    evaluations from the union models' spins and their plans' clique entries (:func:`_component_seconds`),
    never from 2^width: the plans decide.  With ``clamp`` > 0, plus one run per conditioned model
    (:func:`isingvar.clamp.runs`; each a little smaller than the model, and with fields: the clamped
    spins' couplings become fields).  With ``budget`` > 0 the cost of the construction it takes
    (:func:`resolved`).  With the zero-field split (:func:`_split`), plus its exact path's modelled work.
    Deterministic: no timing.

    Parameters
    ----------
    model : IsingModel
    betas : array_like (nb,)
    settings : Settings
    sites : bool
        Unused (TRW has no per-site variables).

    Returns
    -------
    float
        Seconds.
    """
    from ..clamp import runs

    if settings.budget > 0:
        settings = resolved(model, betas, settings)
    settings = _one_component(model, settings)
    nb = np.asarray(betas).size
    fields = bool(np.any(model.fields))
    total = _run_seconds(model, nb, settings, fields)
    parts = runs(model, settings.clamp)
    if parts:
        total += parts * (total if fields else _run_seconds(model, nb, settings, True))
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    if fields and _split(model, b, settings) < 1.0:
        from ..zero_field import path_work

        total += path_work(model, b)
    return total


#: Peak bytes of :func:`run` per CSR slot (messages, reverse slots, per-slot couplings and weights, the
#: model's CSR) and per tree site (each listed tree's order, parent and slot arrays, their stacked copies
#: while a candidate list is tried, the trees' fields); tracemalloc peaks of 4-beta runs: sk n = 300
#: (300 star trees, 264 bytes per N^2), square L = 100 and 200 (9 trees, 1860 bytes per site), fitted
#: (104 and 160 bytes) and rounded up by 8-10 %.
BYTES_PER_SLOT = 112
BYTES_PER_TREE_SITE = 176
#: What a run holds whatever its size (scratch, Python objects of the tree lists): the peaks of sk n = 60, 120.
BASE_BYTES = 2**20


#: With width > 1, the bytes of elimination tables per union spin and clique entry of the widest step
#: (messages kept for the per-site pass, the moment tables: :meth:`isingvar.exact.elimination.Structure.table_bytes`).
BYTES_PER_UNION_ENTRY = 56


def memory(n, n_edges, betas, settings) -> float:
    """Estimated peak bytes of :func:`run` on N spins and E coupled pairs.

    2E x :data:`BYTES_PER_SLOT` + trees x N x :data:`BYTES_PER_TREE_SITE` + :data:`BASE_BYTES`, with the
    trees the list can reach over the grid; on a complete graph the N star trees make it ~288 N^2 (7.2 GB
    at N = 5,000); square L = 1000 with 64 betas (35 trees) about 6.6 GB.  With width > 1 plus one union
    model's elimination tables, at most min(spins, 4000) x 2^(width + 1) x :data:`BYTES_PER_UNION_ENTRY`
    and never above elimination's own limit (a union model over it is split or left unoptimised).

    Parameters
    ----------
    n, n_edges : int
        Spins and coupled pairs.
    betas : array_like (nb,)
    settings : Settings

    Returns
    -------
    float
        Bytes.
    """
    trees = _tree_count(n, n_edges, settings, settings.tree_steps * np.asarray(betas).size)  # the list grows along the grid
    total = float(BYTES_PER_SLOT * 2 * n_edges + BYTES_PER_TREE_SITE * trees * n + BASE_BYTES)
    if settings.width > 1:
        from ..exact.elimination import MAX_TABLE_BYTES
        from ..trw_components import MAX_UNION_SPINS

        total += min(float(MAX_TABLE_BYTES), min(n, MAX_UNION_SPINS) * 2.0 ** (settings.width + 1) * BYTES_PER_UNION_ENTRY)
    return total


_LNZ = Var("lnZ_trw_upper", "upper", "lnZ", "nat",
           "tree-reweighted upper bound on ln Z (>= lnZ_exact): sum_T rho_T ln Z(theta_T) over an explicit tree list")
_MODEL_VAR, _file_hook = model_file_lnZ(_LNZ)  # lnZ_model_trw_upper: an upper bound on the file's ln Z

#: In the order of the file (a new variable is one line at its place).
VARIABLES = (
    _LNZ,
    Var("f_trw_lower", "lower", "f", "energy per spin",
        "tree-reweighted lower bound on the free energy per spin (<= f_exact), -lnZ_trw_upper/(beta N)",
        nonfinite=Nonfinite.NEG_INF_AT_BETA0),
    Var("trw_iterations", "diagnostic", None, "1", "TRW message sweeps at this beta, all solves (plus primal evaluations where polish_iterations > 0); with width > 1 plus the elimination passes over the components",
        dtype="i4", fill=-1),
    Var("trw_converged", "diagnostic", None, "1",
        "last accepted TRW message solve converged (max |delta u| < tol); the bound is valid either way",
        dtype="i1", fill=-1, flags=((0, 1), "not_converged converged")),
    Var("trw_trees", "diagnostic", None, "1", "components of the decomposition of the bound: spanning trees (forests), or with width > 1 subgraphs of elimination width <= width where they gave the least bound",
        dtype="i4", fill=-1),
    _MODEL_VAR,
    Var("trw_width", "diagnostic", None, "1", "component width of the construction used (1: spanning trees); "
        "with a budget the rung of isingvar.budget.TRW_LADDER it took", dtype="i4", per="instance", fill=-1),
    Var("trw_clamp", "diagnostic", None, "1", "spins clamped (0: none; isingvar.clamp); with a budget the rung "
        "of isingvar.budget.TRW_LADDER it took", dtype="i4", per="instance", fill=-1),
    Var("trw_field_split", "diagnostic", None, "1", "weight eps of the zero-field split (isingvar.zero_field): the "
        "bound is (1 - eps) ln Z(J, 0) + eps U(J, h / eps); 1: none (no fields, no exact zero-field path, or "
        "the bound already exact)", dtype="f8", per="instance", fill=float("nan")),
)


#: Exact rungs found (:func:`exact_settings`), by coupling pattern; cleared past :data:`_EXACT_KEEP` patterns.
_EXACT: dict = {}
_EXACT_KEEP = 64


def exact_settings(model) -> dict | None:
    """The budget's exact rung on ``model`` (:mod:`isingvar.budget`): the width at which the whole coupling
    graph is one component, so the bound is ln Z.

    Checked on the whole graph's union model as :func:`isingvar.trw_components.constructions` checks it:
    an order search that gives up past :data:`isingvar.trw.MAX_WIDTH` (fast on a wide graph), then
    elimination's own plan (:func:`isingvar.exact.elimination.structure`, shared through the pattern
    cache), whose width W is the rung's (at least 2: width 1 means spanning trees); a run at width W then
    takes the whole graph alone.  Depends on the coupling pattern only (kept per pattern).

    Parameters
    ----------
    model : IsingModel
        The instance.

    Returns
    -------
    dict or None
        {"width": W, "clamp": 0} with 2 <= W <= MAX_WIDTH; None where the graph has no bond (width 1 is
        already exact) or no plan within MAX_WIDTH is found.
    """
    from .. import patterns
    from ..trw_components import Construction

    if model.n_edges == 0:
        return None
    key = patterns.pattern_key(model)
    if key not in _EXACT:
        if len(_EXACT) >= _EXACT_KEEP:
            _EXACT.clear()
        found = None
        whole = Construction(model, "whole", [np.arange(model.n_edges)])
        if whole.orders_fit(MAX_WIDTH):
            got = whole.width()
            if got is not None and got <= MAX_WIDTH and whole.orders_fit(max(2, got)):
                found = {"width": max(2, got), "clamp": 0}
        _EXACT[key] = found
    return None if _EXACT[key] is None else dict(_EXACT[key])


def cost_floor(model, betas, settings) -> float:
    """A lower bound on :func:`cost` without building any construction: what the budget asks first
    (:func:`isingvar.budget.choose_rung`), so that a rung whose spanning trees alone are over the budget
    never has its components surveyed (seconds on a large lattice).

    The spanning-tree part of :func:`cost`'s formula (:func:`_tree_seconds`), which every run with
    ``width`` > 1 includes unless the whole graph fits the width (:func:`exact_settings`; then 0), with
    ``clamp`` > 0 once more per conditioned model with fields, as :func:`cost` counts them.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    settings : Settings
        With ``budget`` 0 (a candidate rung).

    Returns
    -------
    float
        Seconds, at most :func:`cost`'s.
    """
    from ..clamp import runs

    top = exact_settings(model) if settings.width > 1 else None
    if top is not None and settings.width >= top["width"]:
        return 0.0
    nb = np.asarray(betas).size
    fields = bool(np.any(model.fields))
    trees = _tree_seconds(model.n, model.n_edges, nb, settings, fields)
    with_fields = trees if fields else _tree_seconds(model.n, model.n_edges, nb, settings, True)
    return trees + runs(model, settings.clamp) * with_fields


def _one_component(model, settings):
    """``settings`` with no field-share iterations where the run's unclamped bound is one component, the
    whole graph (width at least :func:`exact_settings`'s, clamp 0): a component of weight 1 carries theta
    itself, its shares have no freedom, and the L-BFGS over them would only repeat the uniform evaluation
    at every beta (half the run on SK N = 16).  Unchanged otherwise (width 1 never searches)."""
    from dataclasses import replace

    if settings.share_iterations and whole_graph(model, settings):
        return replace(settings, share_iterations=0)
    return settings


def whole_graph(model, settings) -> bool:
    """Whether a run with ``settings`` (its ``width`` and ``clamp``) takes the whole graph as its one
    component, so that its bound is ln Z: width at least :func:`exact_settings`'s, nothing clamped.

    Parameters
    ----------
    model : IsingModel
        The instance.
    settings : dataclass instance
        Settings of ``trw`` or ``smf`` (both have ``width`` and ``clamp``).

    Returns
    -------
    bool
        False at width 1 (never searched) and where the graph has no exact rung.
    """
    if settings.width < 2 or settings.clamp:
        return False
    top = exact_settings(model)
    return top is not None and settings.width >= top["width"]


#: ``resolved(model, betas, settings)``: the settings a budget takes on this instance; ``decision``: the
#: construction shown in ``--dry-run`` (:func:`isingvar.budget.hooks`): the exact rung
#: (:func:`exact_settings`) where its cost fits, else a rung of :data:`isingvar.budget.TRW_LADDER`.
resolved, decision = hooks("trw", lambda model, betas, s: cost(model, betas, s), exact_settings, cost_floor)


METHOD = Method(
    name="trw",
    summary="tree-reweighted upper bound on ln Z (lower bound on f), certified by an explicit tree decomposition",
    settings=Settings,
    variables=VARIABLES,
    run=run,
    cost=cost,
    progress_units=per_beta,
    default=True,
    file_hook=_file_hook,
    memory=memory,
    decision=decision,
)
