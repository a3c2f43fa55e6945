"""Time estimates of a sweep from its methods' costs: the one rule for refusals and ``--dry-run``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import TooLargeError
from ..families import make_instance
from ..methods import get_method

#: Most bytes one run of a method may need (its ``memory``, per instance: ``--workers k`` runs k at once).
#: Beyond it the method is refused, ``--force`` or not: the machine would swap or the run be killed.
MAX_METHOD_BYTES = 8 * 2**30

if TYPE_CHECKING:
    from .config import SweepConfig


def _probes(model, Js, hs) -> list:
    """Instances that time the methods over a (J, h) grid: (model, instances per sample) for the
    h values that leave every field zero (exact enumeration is symmetric there: half the work)
    and for the others, each at the largest |J|."""
    J = Js[np.argmax(np.abs(Js))]
    zero = [h for h in hs if not np.any(model.fields + h)]
    other = [h for h in hs if np.any(model.fields + h)]
    return [(model.scaled(J, group[0]), Js.size * len(group)) for group in (zero, other) if group]


@dataclass(frozen=True)
class TimeEstimate:
    """Estimated wall time of a sweep's instances, per method (:func:`estimate_time`)."""

    per_method: dict  #: method name -> seconds for ``instances`` instances
    instances: int
    n: int
    n_beta: int
    limits: dict = field(default_factory=dict)  #: method name -> its ``max_seconds`` (methods that have one)
    #: method name -> what it would do on sample 0 (its ``describe``: the exact method's path), per probe
    notes: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Total seconds of every method over ``instances`` instances."""
        return float(sum(self.per_method.values()))

    @property
    def over(self) -> list:
        """The methods whose estimate exceeds their ``max_seconds`` (the sweep then needs ``--force``)."""
        return [name for name, limit in self.limits.items() if self.per_method.get(name, 0.0) > limit]

    @property
    def over_limit(self) -> bool:
        """Whether a method's estimate exceeds its ``max_seconds``: the sweep is refused without ``--force``."""
        return bool(self.over)

    def refusal(self) -> str:
        """The one-line message of a refused sweep: the estimate, the limit, what to change."""
        from ..exact.enumeration import _human

        name = self.over[0]
        return (
            f"{name} on N = {self.n} spins ({self.n_beta} beta values, {self.instances} instance(s)) would take "
            f"about {_human(self.per_method[name])} here, over its {_human(self.limits[name])} limit; pass --force "
            f"to run it anyway, leave out --method {name} or shrink the grid"
        )


def estimate_time(config: SweepConfig, instances: int | None = None, *, first=None,
                  limited_only: bool = False) -> TimeEstimate:
    """Estimated wall time of ``instances`` instances of ``config`` (default: every instance).

    The one place that decides estimates and refusals (used by :func:`make_config`
    and ``--dry-run``): each method's ``cost`` (:mod:`isingvar.methods`) on
    sample 0 at the largest |J|, averaged over the grid's instances with zero
    and with non-zero fields, times ``instances``; a method with
    ``max_seconds`` (exact enumeration: :data:`isingvar.exact.enumeration.MAX_SECONDS`)
    estimated above it refuses the sweep (:attr:`TimeEstimate.over_limit`)
    unless forced.  ``limited_only`` estimates only the methods that have a
    limit (what a refusal needs; :func:`make_config`).  ``first`` is sample 0
    when the caller has it.

    Raises
    ------
    TooLargeError
        From a method that cannot run at this N at all (its ``check``).
    """
    first = make_instance(config.model, config.params, config.seed, 0) if first is None else first
    count = len(config.instances()) if instances is None else instances
    probes = _probes(first, config.J, config.h)
    per_method, limits, notes = {}, {}, {}
    for name in config.methods:
        method = get_method(name)
        if method.max_seconds is not None:
            limits[name] = float(method.max_seconds)
        elif limited_only:
            continue
        per_method[name] = _method_seconds(config, name, probes) * count
    if not limited_only:
        notes = method_plans(config, first=first, probes=probes)
    return TimeEstimate(per_method, count, config.n, config.beta.size, limits, notes)


def _method_seconds(config: SweepConfig, name: str, probes) -> float:
    """Seconds of method ``name`` on one instance of ``config``: its ``cost`` on each probe
    (:func:`_probes`), weighted by the instances the probe stands for."""
    method, settings = get_method(name), config.method_settings(name)
    per = sum(c for _, c in probes)
    return sum(method.cost(m, config.beta, settings, sites=config.sites) * c for m, c in probes) / per


#: Per-instance estimates of :func:`instance_seconds`, by configuration hash (the last few configurations).
_INSTANCE_SECONDS: dict[str, float] = {}


def instance_seconds(config: SweepConfig, *, first=None) -> float:
    """Estimated seconds of one instance of ``config``: the sum over the methods it runs of their ``cost``
    on sample 0 (:func:`estimate_time`'s figure for one instance).  What worker processes and pool tasks
    are decided from (:func:`isingvar.sweep.grid.default_workers`, :func:`isingvar.sweep.grid.task_groups`).

    Remembered per configuration hash for this process: the sweep's worker count and its pool tasks ask
    for one configuration twice, and a method's cost may be a timed probe.

    Raises
    ------
    TooLargeError
        From a method that cannot run at all (its ``cost``).
    """
    key = config.config_hash()
    if key not in _INSTANCE_SECONDS:
        first = make_instance(config.model, config.params, config.seed, 0) if first is None else first
        probes = _probes(first, config.J, config.h)
        if len(_INSTANCE_SECONDS) >= 8:
            _INSTANCE_SECONDS.pop(next(iter(_INSTANCE_SECONDS)))
        _INSTANCE_SECONDS[key] = float(sum(_method_seconds(config, name, probes) for name in config.methods))
    return _INSTANCE_SECONDS[key]


def method_plans(config: SweepConfig, *, first=None, probes=None) -> dict:
    """What each method that has a ``describe`` would do on sample 0 (the exact method's path), one
    line per method: {name: text}.  Costs nothing else: the sweep's first lines print it without
    timing the methods (:func:`estimate_time` does that)."""
    if probes is None:
        first = make_instance(config.model, config.params, config.seed, 0) if first is None else first
        probes = _probes(first, config.J, config.h)
    notes = {}
    for name in config.methods:
        method, settings = get_method(name), config.method_settings(name)
        if method.describe is not None:
            said = [method.describe(m, config.beta, settings, sites=config.sites) for m, _ in probes]
            notes[name] = " / ".join(dict.fromkeys(said))
    return notes


def check_memory(name: str, n: int, n_edges: int, betas, settings) -> None:
    """Refuse method ``name`` when its ``memory`` estimate for N = ``n`` spins and ``n_edges`` coupled
    pairs exceeds :data:`MAX_METHOD_BYTES` (nothing is built or timed).

    Where the method's default settings would fit, the message names the settings that do not: each
    non-default one that alone, set back to its default, brings the estimate under the limit (or all
    the non-default ones, when none does alone).

    Raises
    ------
    TooLargeError
        One line: the method, N, the estimate, the limit and what to change.
    """
    method = get_method(name)
    if method.memory is None:
        return
    need = float(method.memory(n, n_edges, betas, settings))
    if need <= MAX_METHOD_BYTES:
        return
    what = f"{name} on N = {n} spins ({n_edges} coupled pairs)"
    limit = f"more than the {MAX_METHOD_BYTES / 2**30:g} GiB a method may use"
    culprits = _memory_settings(method, n, n_edges, betas, settings)
    if culprits:
        given = ", ".join(f"{flag} {value!r}" for flag, value in culprits)
        raise TooLargeError(
            f"{what} with {given} would need about {need / 2**30:.3g} GiB for one instance, {limit}; "
            f"lower {' or '.join(flag for flag, _ in culprits)} (the defaults fit)"
        )
    raise TooLargeError(
        f"{what} would need about {need / 2**30:.3g} GiB for one instance, {limit}; leave out --method {name} "
        f"or use a smaller model"
    )


def _memory_settings(method, n, n_edges, betas, settings) -> list[tuple[str, object]]:
    """(option, value) of the non-default settings that make ``method`` need more than
    :data:`MAX_METHOD_BYTES` where its defaults fit; [] where the defaults do not fit either."""
    import dataclasses

    from ..methods import setting_flag

    defaults = method.settings()
    if method.memory(n, n_edges, betas, defaults) > MAX_METHOD_BYTES:
        return []
    changed = [f.name for f in dataclasses.fields(settings) if getattr(settings, f.name) != getattr(defaults, f.name)]
    alone = [k for k in changed
             if method.memory(n, n_edges, betas, dataclasses.replace(settings, **{k: getattr(defaults, k)}))
             <= MAX_METHOD_BYTES]
    return [(setting_flag(method.name, k), getattr(settings, k)) for k in (alone or changed)]
