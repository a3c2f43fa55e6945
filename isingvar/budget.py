"""Per-instance time budgets of the certified-bound methods (``--bound-budget SECONDS``, ``--<method>-budget``).

A method with construction choices lists them as a *ladder*: rungs ordered by cost and by tightness, each
at least the previous one in every choice (a wider component, more clamped spins).  A method may also have
an *exact rung* on an instance: settings under which its bound is ln Z itself (``trw``: one component, the
whole graph, where its elimination width is <= :data:`isingvar.trw.MAX_WIDTH`).  With a budget B > 0 the
method takes, on each instance (:func:`resolve`),

1. the exact rung, where the instance has one and its estimated seconds fit B;
2. else the ladder rung before the first whose estimated seconds exceed B (:func:`choose_rung`); rung 0
   (today's construction) when rung 1 does.

Costs are the method's own deterministic cost model, never a timing: the same instance picks the same rung
on every machine, in every shard and on resume.  Rule 2 alone could not reach the exact rung: on SK N = 16
the rung (width 4, clamp 2) is costed at 36 s while the whole graph (width 15, one exact component) is
costed at 0.25 s; rule 1 takes it from B = 0.25 s on.  Rule 2 stops at the first rung over B rather than
taking the highest that fits, so that the later, costlier rungs are never costed (a wide TRW survey can
take seconds).

Monotone in B.  Order the choices as rungs 0 .. R-1 of the ladder, then the exact rung.  The first ladder
rung k >= 1 with cost > B (R when none) can only move up as B grows (a cost over B1 >= ... is over every
smaller B), so rung(B) = k - 1 is non-decreasing; the exact rung's cost c_E depends on the instance, not on
B, so the set of budgets that take it, {B >= c_E}, is an up-set; below c_E the choice is a ladder rung,
above it the exact one: the choice never moves down the order as B grows.  :func:`choice_index` gives the
position, tests/test_bound_budget.py checks it with injected costs.

Why the rungs tighten:
- more clamped spins: :func:`isingvar.clamp.choose_spins` takes the k highest scores, so the spins of
  clamp k are among those of clamp k' > k, and conditioning on more spins never loosens the optimal TRW
  or mean-field bound (Weller & Jebara, NIPS 2014; Weller & Domke, AISTATS 2016); every clamped run also
  keeps the unclamped bound (the min / max of the two); clamping every spin (``mf``, ``smf`` on N <= 12:
  clamp_count = min(clamp, N)) gives ln Z;
- wider TRW components: a width-W run reports the least of the spanning-tree bound and its constructions
  (:func:`isingvar.trw._components_bound`), and thicker bands hold more of each frustrated cycle exactly;
- wider ``smf`` components: strips, slabs and bars of more layers are unions of thinner ones where their
  cuts align, so the trial family grows and the optimal bound can only rise; the block ascent finds a local
  optimum, so on a given instance this is measured (docs/methods.md, the smf section), not guaranteed;
- the exact rung: one component of weight 1 with theta_P = theta, so the bound is ln Z, below every
  certified upper bound (above every lower one).
These are the theory's optimal bounds; the solvers stop at tolerances, so a value may move by the
solvers' own precision.  docs/methods.md ("Budgets") gives the ladders, the default budget and measurements.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .clamp import MAX_CLAMP

#: Largest budget, seconds per instance (a year): a bound on the setting, not a rung.
MAX_BUDGET = 3.2e7

#: ``isingvar sweep``'s ``--bound-budget`` when none is given (seconds per instance: trw's, smf's half of it,
#: :data:`SHARE`, mf none where smf runs, :data:`LEFT_TO`; 0 turns it off; the library's
#: :func:`isingvar.sweep.make_config` keeps no budget unless given one).  Chosen on issue 22's instances with
#: the cost models as refitted on 2026-12-07 (estimate / CPU 0.84-1.51 single-threaded on the calibrate runs,
#: docs/methods.md "Budgets"): periodic 6^3 +-J takes trw width 20 (estimated 7.7 s) and smf width 16:
#: interval <= 0.28 per spin at beta 0.5, 1, 2 in 13 s CPU; open 32 x 32 Gaussian h = 0.1 takes trw width 12
#: (33 s estimated) and smf width 8: 0.013 / 0.017 / 0.017 in 46 s CPU for the whole sweep; UAI DBN_12 and
#: DBN_15 take width 16 (width 20 is costed 42 s and takes 35-42 s CPU) within the issue's gap targets in
#: ~3 s; the embedded default sweep (SK N = 16) takes the exact rung of trw and smf (the whole graph),
#: interval 0 (docs/performance.md, issue 22's section, has the times).
DEFAULT_BUDGET = 40.0

#: Ladder of ``mf``: clamp 0 .. :data:`isingvar.clamp.MAX_CLAMP` (each rung doubles the work).
CLAMP_LADDER = tuple(range(MAX_CLAMP + 1))
#: Ladder of ``trw`` and ``smf``: (width, clamp) per rung, each at least the previous in both.  The width
#: first, up to 20 (:data:`isingvar.trw.MAX_WIDTH`), where most lattices of a few hundred spins are one
#: exact component, then clamped spins: on the issue's table width 4 beats width 1 and WMB iBound 4 on every
#: UAI Grids and DBN file, width 16 the DBNs' width 4 by 5x in upper gap, and on the periodic 6^3 glass
#: width 17 takes trw from -3.0 to -2.05 per spin at beta 1 and smf 0.07 above width 1 at beta 0.5, where
#: clamping a few of 216 spins changes little (docs/methods.md, "Budgets" and the smf section).  Until
#: 2026-12-07 trw's ladder clamped 2 spins after width 4 and climbed width and clamp in turn.
WIDTH_LADDER = ((1, 0), (4, 0), (8, 0), (12, 0), (16, 0), (20, 0), (20, 2), (20, 4), (20, 6), (20, 8))
TRW_LADDER = SMF_LADDER = WIDTH_LADDER

#: A method that ``--bound-budget`` leaves without a budget where the other method named here is in the same
#: sweep: mean field's clamps buy little where ``smf`` bounds the same side, since smf starts from the mean-field
#: solution and keeps its bound, and its bands gain far more per second (periodic 6^3 +-J, beta 0.5: mf clamp
#: 6 -1.968, smf width 12 -2.007 per spin; open 32 x 32 Gaussian h = 0.1: mf clamp 4 -1.601, smf -1.822;
#: SK N = 16: smf exact).  Its own ``--mf-budget`` or ``--mf-clamp`` still applies.
LEFT_TO = {"mf": "smf"}
#: The fraction of ``--bound-budget`` a method takes (1 where not listed): ``smf`` half of ``trw``'s, so that
#: the default budget, 40 s, gives an instance 60 s in all.  Past the first bands smf gains little per second
#: where trw's wider components gain much (open 32 x 32 Gaussian h = 0.1: the lower side is the zero-field bound
#: at beta 0.5 and 1 from width 1 to 12, width 12 gains 0.002 per spin at beta 2 for 19 s CPU, while trw width 8
#: takes the upper gap from 0.07 to 0.02; periodic 6^3 +-J: smf width 20, 58 s, is above width 12, 3.5 s, at
#: beta 0.5 only, while trw needs width 20, 21 s, for an interval under 0.3).  ``mf`` (where no smf runs) a
#: tenth: each clamped spin doubles its work for little (open 32 x 32: clamp 4 lowers f_mf_upper by 0.008
#: per spin), and with 40 s it took clamp 9 on SK N = 16 (60 betas), 30 s per instance.
SHARE = {"smf": 0.5, "mf": 0.1}

#: The settings each method's ladder chooses, per rung (a dict of settings fields).
LADDERS = {
    "trw": tuple({"width": w, "clamp": c} for w, c in TRW_LADDER),
    "mf": tuple({"clamp": c} for c in CLAMP_LADDER),
    "smf": tuple({"width": w, "clamp": c} for w, c in SMF_LADDER),
}


def ladder_fields(method: str) -> tuple:
    """The settings fields that ``method``'s ladder chooses (() for a method without one).

    Parameters
    ----------
    method : str
        A method name.

    Returns
    -------
    tuple of str
        Field names, e.g. ("width", "clamp") for ``trw``.
    """
    rungs = LADDERS.get(method)
    return tuple(rungs[0]) if rungs else ()


def takes_bound_budget(method: str, methods) -> bool:
    """Whether ``--bound-budget`` sets ``method``'s budget in a sweep of ``methods``: it has a ladder and
    is not left to another method of the sweep (:data:`LEFT_TO`).

    Parameters
    ----------
    method : str
        A method name.
    methods : iterable of str
        The sweep's methods.

    Returns
    -------
    bool
        False for a method without a ladder, and for ``mf`` where ``smf`` runs.
    """
    return bool(ladder_fields(method)) and LEFT_TO.get(method) not in set(methods)


def share(method: str) -> float:
    """The fraction of ``--bound-budget`` that ``method`` takes (:data:`SHARE`; 1 where not listed).

    Parameters
    ----------
    method : str
        A method name.

    Returns
    -------
    float
        In (0, 1].
    """
    return SHARE.get(method, 1.0)


def choose_rung(method: str, settings, cost: Callable[[object], float],
                floor: Callable[[object], float] | None = None) -> int:
    """The rung of ``method``'s ladder its budget ``settings.budget`` takes (module docstring).

    Parameters
    ----------
    method : str
        A method with a ladder (:data:`LADDERS`).
    settings : dataclass instance
        The method's settings; ``budget`` seconds (> 0).
    cost : callable(settings) -> float
        Estimated seconds of a run with the given settings on this instance (the method's cost model:
        deterministic, so that the choice is).
    floor : callable(settings) -> float, optional
        A cheap lower bound on ``cost`` (never above it: the choice is then the same as from ``cost``
        alone); where it exceeds the budget ``cost`` is not called.

    Returns
    -------
    int
        The rung before the first (after rung 0) whose cost exceeds the budget; the last when none does.
    """
    rungs = LADDERS[method]
    for k in range(1, len(rungs)):
        if _over(dataclasses.replace(settings, budget=0.0, **rungs[k]), settings.budget, cost, floor):
            return k - 1
    return len(rungs) - 1


def _over(candidate, budget: float, cost: Callable, floor: Callable | None) -> bool:
    """Whether ``candidate``'s cost exceeds ``budget``: its cheap ``floor`` first, where it has one (a lower
    bound on the cost, so the answer is the cost's own; a wide TRW survey is then not built for a rung whose
    spanning trees alone are over the budget)."""
    if floor is not None and floor(candidate) > budget:
        return True
    return not cost(candidate) <= budget


def resolve(method: str, settings, cost: Callable[[object], float], exact: Callable[[], dict | None] | None = None,
            floor: Callable[[object], float] | None = None):
    """``settings`` with the choices of what the budget takes (module docstring: the exact rung where it has
    one that fits, else a ladder rung), and ``budget`` 0; unchanged where ``settings.budget`` is 0 (off).

    Parameters
    ----------
    method : str
        A method with a ladder (:data:`LADDERS`).
    settings : dataclass instance
        The method's settings.
    cost : callable(settings) -> float
        As :func:`choose_rung`.
    exact : callable() -> dict or None, optional
        The settings fields of the instance's exact rung (e.g. {"width": 15, "clamp": 0}), None where it has
        none; independent of the budget.  None (default): no exact rung.
    floor : callable(settings) -> float, optional
        As :func:`choose_rung`.

    Returns
    -------
    dataclass instance
        The settings the run uses.
    """
    if not settings.budget > 0:
        return settings
    top = exact() if exact is not None else None
    if top is not None:
        candidate = dataclasses.replace(settings, budget=0.0, **top)
        if not _over(candidate, settings.budget, cost, floor):
            return candidate
    rung = LADDERS[method][choose_rung(method, settings, cost, floor)]
    return dataclasses.replace(settings, budget=0.0, **rung)


def choice_index(method: str, settings, cost: Callable[[object], float],
                 exact: Callable[[], dict | None] | None = None) -> int:
    """Position of what :func:`resolve` takes in the order of the module docstring: the ladder rung, or
    ``len(LADDERS[method])`` for the exact rung (the quantity that never decreases as the budget grows).

    Parameters
    ----------
    method : str
        A method with a ladder (:data:`LADDERS`).
    settings : dataclass instance
        The method's settings; ``budget`` seconds (> 0).
    cost : callable(settings) -> float
        As :func:`choose_rung`.
    exact : callable() -> dict or None, optional
        As :func:`resolve`.

    Returns
    -------
    int
        0 .. len(LADDERS[method]).
    """
    used = resolve(method, settings, cost, exact)
    top = exact() if exact is not None else None
    fields = ladder_fields(method)
    picked = {k: getattr(used, k) for k in fields}
    if top is not None and picked == {k: top.get(k, getattr(used, k)) for k in fields}:
        return len(LADDERS[method])
    return LADDERS[method].index(picked)


#: Choices :func:`hooks`' ``resolved`` keeps per method (the estimate, the plan and the run of one instance
#: ask in turn; each costing may build a TRW survey of seconds).
_CHOSEN_KEEP = 16
#: Those choices: method -> {instance key: settings} (a test that injects costs clears it).
_CHOSEN: dict = {}


def _instance_key(model, betas, settings) -> tuple:
    """What a choice depends on: the model's pattern, couplings and fields, the betas and the settings.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    settings : dataclass instance
        The method's settings (frozen: hashable).

    Returns
    -------
    tuple
        Hashable.
    """
    import hashlib

    import numpy as np

    from .patterns import pattern_key

    digest = hashlib.sha1(np.ascontiguousarray(model.couplings, dtype=np.float64), usedforsecurity=False)
    digest.update(np.ascontiguousarray(model.fields, dtype=np.float64))
    digest.update(np.ascontiguousarray(betas, dtype=np.float64))
    return pattern_key(model), digest.digest(), settings


def hooks(method: str, cost: Callable, exact: Callable | None = None,
          floor: Callable | None = None) -> tuple[Callable, Callable]:
    """The ``resolved`` and ``decision`` functions of a method with a ladder (one pair of code for every such method).

    Parameters
    ----------
    method : str
        A method with a ladder (:data:`LADDERS`).
    cost : callable(model, betas, settings) -> float
        The method's deterministic cost model (seconds): no timing, so the choice is the same everywhere.
    exact : callable(model) -> dict or None, optional
        The settings fields of the instance's exact rung (:func:`resolve`); None (default): none.
    floor : callable(model, betas, settings) -> float, optional
        A cheap lower bound on ``cost`` (:func:`choose_rung`); None (default): none.

    Returns
    -------
    resolved : callable(model, betas, settings) -> settings
        The settings the run uses on this instance: with a budget, those it takes (:func:`resolve`);
        without, unchanged.
    decision : callable(model, betas, settings, *, sites) -> str
        The construction this instance takes, e.g. "width 4, clamp 2 (budget 10 s)", or
        "width 15, clamp 0 (budget 2 s; exact: the whole graph)" for the exact rung (the ``--dry-run`` plan
        and the sweep's start lines); ``sites`` unused.
    """

    chosen = _CHOSEN.setdefault(method, {})  # the choices made, by instance (asked for several times)

    def resolved(model, betas, settings):
        """The settings the run uses on ``model`` (see :func:`hooks`).

        Parameters
        ----------
        model : IsingModel
            The instance.
        betas : array_like of float, shape (nb,)
            Inverse temperatures.
        settings : dataclass instance
            The method's settings.

        Returns
        -------
        dataclass instance
            With ``budget`` 0.
        """
        if not settings.budget > 0:
            return settings
        key = _instance_key(model, betas, settings)
        if key not in chosen:
            top = (lambda: exact(model)) if exact is not None else None
            low = (lambda s: floor(model, betas, s)) if floor is not None else None
            if len(chosen) >= _CHOSEN_KEEP:
                chosen.pop(next(iter(chosen)))
            chosen[key] = resolve(method, settings, lambda s: cost(model, betas, s), top, low)
        return chosen[key]

    def decision(model, betas, settings, *, sites):
        """The construction ``model`` takes (see :func:`hooks`).

        Parameters
        ----------
        model : IsingModel
            The instance.
        betas : array_like of float, shape (nb,)
            Inverse temperatures.
        settings : dataclass instance
            The method's settings.
        sites : bool
            Unused.

        Returns
        -------
        str
            E.g. "width 4, clamp 2 (budget 10 s)".
        """
        from .clamp import clamp_count

        used = resolved(model, betas, settings)
        parts = [f"width {used.width}"] if "width" in ladder_fields(method) else []
        parts.append(f"clamp {clamp_count(model, used.clamp)}")
        text = ", ".join(parts)
        if not settings.budget > 0:
            return text
        top = exact(model) if exact is not None else None
        whole = top is not None and all(getattr(used, k) == v for k, v in top.items())
        return text + f" (budget {settings.budget:g} s" + ("; exact: the whole graph)" if whole else ")")

    return resolved, decision
