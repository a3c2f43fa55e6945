"""Per-instance time budgets of the certified-bound methods (``--bound-budget SECONDS``, ``--<method>-budget``).

A method with construction choices lists them as a *ladder*: rungs ordered by cost and by tightness, each
at least the previous one in every choice (a wider component, more clamped spins).  With a budget B > 0 the
method takes, on each instance, the rung before the first whose estimated seconds (the method's own
deterministic cost model, never a timing: the same instance picks the same rung on every machine, in every
shard and on resume) exceed B; rung 0 (today's default) when rung 1 does.  The first rung over B can only
move up the ladder as B grows, so the rung taken never moves down (and the later, costlier rungs are never
costed: a wide TRW survey can take seconds).

Why the rungs tighten:
- more clamped spins: :func:`isingvar.clamp.choose_spins` takes the k highest scores, so the spins of
  clamp k are among those of clamp k' > k, and conditioning on more spins never loosens the optimal TRW
  or mean-field bound (Weller & Jebara, NIPS 2014; Weller & Domke, AISTATS 2016); every clamped run also
  keeps the unclamped bound (the min / max of the two);
- wider TRW components: a width-W run reports the least of the spanning-tree bound and its constructions
  (:func:`isingvar.trw._components_bound`), and thicker bands hold more of each frustrated cycle exactly;
  from the graph's own elimination width on, the one component is the whole graph and the bound is ln Z.
These are the theory's optimal bounds; the solvers stop at tolerances, so a value may move by the
solvers' own precision.  docs/methods.md ("Budgets") gives the ladders and a measurement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .clamp import MAX_CLAMP

#: Largest budget, seconds per instance (a year): a bound on the setting, not a rung.
MAX_BUDGET = 3.2e7

#: Ladder of the ``trw`` method: (width, clamp) per rung.  Width 4 first (the issue's table: it beats
#: width 1 and WMB iBound 4 on every UAI Grids and DBN file), then 2 clamped spins (4 conditioned models),
#: then width and clamp in turn, each rung at least the previous in both; widths up to 20
#: (:data:`isingvar.trw.MAX_WIDTH`), where most lattices of a few hundred spins are one exact component.
TRW_LADDER = ((1, 0), (4, 0), (4, 2), (8, 2), (8, 4), (12, 4), (16, 4), (20, 4), (20, 6), (20, 8))
#: Ladder of ``mf`` and ``smf``: clamp 0 .. :data:`isingvar.clamp.MAX_CLAMP` (each rung doubles the work).
CLAMP_LADDER = tuple(range(MAX_CLAMP + 1))

#: The settings each method's ladder chooses, per rung (a dict of settings fields).
LADDERS = {
    "trw": tuple({"width": w, "clamp": c} for w, c in TRW_LADDER),
    "mf": tuple({"clamp": c} for c in CLAMP_LADDER),
    "smf": tuple({"clamp": c} for c in CLAMP_LADDER),
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


def choose_rung(method: str, settings, cost: Callable[[object], float]) -> int:
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

    Returns
    -------
    int
        The rung before the first (after rung 0) whose cost exceeds the budget; the last when none does.
    """
    rungs = LADDERS[method]
    for k in range(1, len(rungs)):
        if not cost(dataclasses.replace(settings, budget=0.0, **rungs[k])) <= settings.budget:
            return k - 1
    return len(rungs) - 1


def resolve(method: str, settings, cost: Callable[[object], float]):
    """``settings`` with the ladder's choices of the rung the budget takes, and ``budget`` 0; unchanged
    where ``settings.budget`` is 0 (off).

    Parameters
    ----------
    method : str
        A method with a ladder (:data:`LADDERS`).
    settings : dataclass instance
        The method's settings.
    cost : callable(settings) -> float
        As :func:`choose_rung`.

    Returns
    -------
    dataclass instance
        The settings the run uses.
    """
    if not settings.budget > 0:
        return settings
    rung = LADDERS[method][choose_rung(method, settings, cost)]
    return dataclasses.replace(settings, budget=0.0, **rung)


def hooks(method: str, cost: Callable) -> tuple[Callable, Callable]:
    """The ``resolved`` and ``decision`` functions of a method with a ladder (one pair of code for every such method).

    Parameters
    ----------
    method : str
        A method with a ladder (:data:`LADDERS`).
    cost : callable(model, betas, settings) -> float
        The method's deterministic cost model (seconds): no timing, so the choice is the same everywhere.

    Returns
    -------
    resolved : callable(model, betas, settings) -> settings
        The settings the run uses on this instance: with a budget, those of the rung it takes (:func:`resolve`);
        without, unchanged.
    decision : callable(model, betas, settings, *, sites) -> str
        The construction this instance takes, e.g. "width 4, clamp 2 (budget 10 s)" (the ``--dry-run`` plan and
        the sweep's start lines); ``sites`` unused.
    """

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
        return resolve(method, settings, lambda s: cost(model, betas, s))

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
        return ", ".join(parts) + (f" (budget {settings.budget:g} s)" if settings.budget > 0 else "")

    return resolved, decision
