"""Time estimates of a sweep from its methods' costs: the one rule for refusals and ``--dry-run``.

A method's cost is timed on one instance per distinct *decision*: where a method decides per instance
what to do from the instance's own values (its ``decision`` hook: the exact method's path), every
sample's decision is asked (cheap: nothing timed, the structure is cached per coupling pattern) and the
instances are grouped by it, so that an estimate sums each instance's own path; a method without one
is timed on sample 0.  Within a sample the instances are probed at the largest |J|, once for the h
values that leave every field zero (exact enumeration is symmetric there: half the work) and once for
the others.
"""

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

#: Most disorder samples whose own decisions an estimate asks (each is built: a few milliseconds for
#: hundreds of spins); the instances of later samples are estimated at the mean of these.
MAX_DECIDED_SAMPLES = 128

#: Most spins and coupled pairs, summed over those samples, that an estimate builds to ask their decisions
#: (fewer samples of a large model; sample 0 always).
MAX_DECIDED_SIZE = 2 * 10**7

if TYPE_CHECKING:
    from .config import SweepConfig


def _field_groups(model, hs) -> list[np.ndarray]:
    """int (k,) indices into ``hs``: of the h values that leave every field of ``model`` zero, then of the
    others (the non-empty groups only)."""
    zero = np.array([not np.any(model.fields + h) for h in hs], dtype=bool)
    return [idx for idx in (np.flatnonzero(zero), np.flatnonzero(~zero)) if idx.size]


def _probes(model, Js, hs) -> list:
    """Instances that time the methods over a (J, h) grid: (model, instances per sample) for the
    h values that leave every field zero (exact enumeration is symmetric there: half the work)
    and for the others, each at the largest |J|."""
    J = Js[np.argmax(np.abs(Js))]
    return [(model.scaled(J, hs[g[0]]), Js.size * g.size) for g in _field_groups(model, hs)]


def decided_samples(config: SweepConfig, first=None) -> int:
    """How many samples (0, 1, ...) an estimate of ``config`` asks the methods' decisions on: every one up
    to :data:`MAX_DECIDED_SAMPLES`, fewer where their instances would exceed :data:`MAX_DECIDED_SIZE`
    spins and coupled pairs in all; at least sample 0.

    Parameters
    ----------
    config : SweepConfig
        The sweep.
    first : IsingModel, optional
        Its sample 0, when the caller has it.

    Returns
    -------
    int
        The count, in 1..``config.samples``.
    """
    first = make_instance(config.model, config.params, config.seed, 0) if first is None else first
    size = max(1, first.n + first.n_edges)
    return int(max(1, min(config.samples, MAX_DECIDED_SAMPLES, MAX_DECIDED_SIZE // size)))


class _Plan:
    """What one method does on a sweep's instances, grouped by decision, and its cost on one of each.

    ``groups[g]`` is (decision or None, probe model, sample); ``key`` int (samples asked, len(h)) gives the
    group of each (sample, h index) (the J index does not matter: every J is probed at the largest |J|).
    """

    def __init__(self, config: SweepConfig, name: str, models: list):
        self.config = config
        self.method, self.settings = get_method(name), config.method_settings(name)
        decide = self.method.decision
        models = models if decide is not None else models[:1]  # without decisions: sample 0 stands for all
        J = config.J[np.argmax(np.abs(config.J))]
        self.key = np.zeros((len(models), config.h.size), dtype=np.int64)
        self.groups: list[tuple] = []
        index: dict = {}
        for k, model in enumerate(models):
            for g in _field_groups(model, config.h):
                probe = model.scaled(J, config.h[g[0]])
                said = None if decide is None else str(decide(probe, config.beta, self.settings, sites=config.sites))
                key = (bool(np.any(probe.fields)), said)
                if key not in index:
                    index[key] = len(self.groups)
                    self.groups.append((said, probe, k))
                self.key[k, g] = index[key]

    def seconds(self) -> np.ndarray:
        """float64 (groups,): the method's ``cost`` on each group's probe.  A group without sample 0 whose
        probe the method cannot run at all costs 0 (the sweep stores NaN there; :meth:`note` says why).

        Raises
        ------
        TooLargeError
            From the method's ``cost`` on sample 0.
        """
        out = np.zeros(len(self.groups))
        for g, (_, probe, k) in enumerate(self.groups):
            try:
                out[g] = self.method.cost(probe, self.config.beta, self.settings, sites=self.config.sites)
            except TooLargeError:
                if k == 0:
                    raise
        return out

    def per_instance(self, seconds: np.ndarray, ks: np.ndarray, bs: np.ndarray) -> np.ndarray:
        """float64 (m,): the seconds of instances (``ks``, ``bs``: int (m,) sample and h indices) from the
        groups' ``seconds``: its group's for a sample asked, else the mean over the samples asked at its h."""
        table = seconds[self.key]  # (samples asked, nh)
        asked = ks < table.shape[0]
        out = table.mean(axis=0)[bs]
        out[asked] = table[ks[asked], bs[asked]]
        return out

    def asked(self, ks: np.ndarray) -> np.ndarray:
        """bool (m,): which of the instances of samples ``ks`` have their own group: those of the samples
        asked; every one for a method without decisions (sample 0's stand for all)."""
        return ks < self.key.shape[0] if self.method.decision is not None else np.ones(ks.size, dtype=bool)

    def counts(self, ks: np.ndarray, bs: np.ndarray) -> dict[int, int]:
        """Group -> how many of the instances (``ks``, ``bs``) with a group of their own fall in it."""
        asked = self.asked(ks)
        rows = np.minimum(ks[asked], self.key.shape[0] - 1)  # a method without decisions: row 0
        groups, n = np.unique(self.key[rows, bs[asked]], return_counts=True)
        return dict(zip(groups.tolist(), n.tolist()))

    def note(self, ks: np.ndarray, bs: np.ndarray) -> tuple[str | None, dict]:
        """(text, {decision: instances}) of what the method does on the instances (``ks``, ``bs``): per
        decision its ``describe`` (or the decision itself) and, where they differ, on how many instances;
        (None, {}) for a method with neither ``describe`` nor ``decision``.

        Raises
        ------
        TooLargeError
            From the method's ``describe`` on sample 0.
        """
        describe = self.method.describe
        if describe is None and self.method.decision is None:
            return None, {}
        texts: dict[str, int] = {}
        decided: dict[str, int] = {}
        for g, n in self.counts(ks, bs).items():
            said, probe, k = self.groups[g]
            text = said
            if describe is not None:
                try:
                    text = describe(probe, self.config.beta, self.settings, sites=self.config.sites)
                except TooLargeError as e:
                    if k == 0:
                        raise
                    text = f"{said}: {e}"
            texts[text] = texts.get(text, 0) + n
            if said is not None:
                decided[said] = decided.get(said, 0) + n
        asked = int(np.count_nonzero(self.asked(ks)))
        if not texts:
            return "no instance to compute", decided
        if len(texts) == 1 and asked == ks.size:
            return next(iter(texts)), decided
        parts = "; ".join(f"{text} on {n} of {asked} instances" for text, n in texts.items())
        if asked < ks.size:
            parts += (f" (decided on the first {self.key.shape[0]} of {self.config.samples} samples; "
                      f"the other {ks.size - asked} instances estimated at their mean)")
        return parts, decided


def _sample_models(config: SweepConfig, names, first=None) -> list:
    """Samples 0, 1, ... (:func:`decided_samples` of them) where a method among ``names`` decides per
    instance; [sample 0] otherwise."""
    first = make_instance(config.model, config.params, config.seed, 0) if first is None else first
    if not any(get_method(name).decision is not None for name in names):
        return [first]
    count = decided_samples(config, first)
    return [first, *(make_instance(config.model, config.params, config.seed, k) for k in range(1, count))]


def _instance_indices(config: SweepConfig, instances) -> tuple[np.ndarray, np.ndarray, float]:
    """(ks, bs, scale): sample and h indices int (m,) of the instances estimated and the factor that takes
    their sum to the estimate: ``instances`` a list of (k, a, b) (scale 1), None (every instance of
    ``config``, scale 1) or a count (every instance, scale count / their number: an average instance)."""
    if instances is not None and not isinstance(instances, (int, np.integer)):
        arr = np.asarray(list(instances), dtype=np.int64).reshape(-1, 3)
        return arr[:, 0], arr[:, 2], 1.0
    nj, nh = config.J.size, config.h.size  # config.instances()'s order, without a list of tuples
    ks = np.repeat(np.arange(config.samples, dtype=np.int64), nj * nh)
    bs = np.tile(np.arange(nh, dtype=np.int64), config.samples * nj)
    return ks, bs, 1.0 if instances is None else float(instances) / max(1, ks.size)


@dataclass(frozen=True)
class TimeEstimate:
    """Estimated wall time of a sweep's instances, per method (:func:`estimate_time`)."""

    per_method: dict  #: method name -> seconds for ``instances`` instances
    instances: int
    n: int
    n_beta: int
    limits: dict = field(default_factory=dict)  #: method name -> its ``max_seconds`` (methods that have one)
    #: method name -> what it does on the instances (its ``describe`` per decision: the exact method's
    #: paths, each with on how many instances where they differ)
    notes: dict = field(default_factory=dict)
    #: method name -> {decision: instances} for the methods that decide per instance (exact: path -> count)
    decisions: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Total seconds of every method over ``instances`` instances.

        Returns
        -------
        float
            The sum of :attr:`per_method`.
        """
        return float(sum(self.per_method.values()))

    @property
    def over(self) -> list:
        """The methods whose estimate exceeds their ``max_seconds`` (the sweep then needs ``--force``).

        Returns
        -------
        list of str
            Their names.
        """
        return [name for name, limit in self.limits.items() if self.per_method.get(name, 0.0) > limit]

    @property
    def over_limit(self) -> bool:
        """Whether a method's estimate exceeds its ``max_seconds``: the sweep is refused without ``--force``.

        Returns
        -------
        bool
            True where :attr:`over` is not empty.
        """
        return bool(self.over)

    def refusal(self) -> str:
        """The one-line message of a refused sweep: the estimate, the limit, what to change.

        Returns
        -------
        str
            The message, about the first method of :attr:`over` (which must not be empty).
        """
        from ..exact.enumeration import _human

        name = self.over[0]
        return (
            f"{name} on N = {self.n} spins ({self.n_beta} beta values, {self.instances} instance(s)) would take "
            f"about {_human(self.per_method[name])} here, over its {_human(self.limits[name])} limit; pass --force "
            f"to run it anyway, leave out --method {name} or shrink the grid"
        )


def estimate_time(config: SweepConfig, instances=None, *, first=None, limited_only: bool = False) -> TimeEstimate:
    """Estimated wall time of ``config``'s instances: the sum of each instance's own estimate.

    The one place that decides estimates and refusals (used by :func:`make_config` and ``--dry-run``).
    Each method's ``cost`` (:mod:`isingvar.methods`) is timed on one probe per distinct decision (module
    docstring): a method with a ``decision`` is asked it on every sample up to :func:`decided_samples`
    (the instances of later samples take the mean of those), one without on sample 0.  A method with
    ``max_seconds`` (exact: :data:`isingvar.exact.enumeration.MAX_SECONDS`) estimated above it refuses the
    sweep (:attr:`TimeEstimate.over_limit`) unless forced.

    Parameters
    ----------
    config : SweepConfig
        The sweep.
    instances : list of tuple of (int, int, int), int or None
        The instances (sample k, J index a, h index b) to estimate (a shard's, those a resume has left);
        a count: that many average instances; None: every instance of ``config``.
    first : IsingModel, optional
        Sample 0, when the caller has it.
    limited_only : bool
        Estimate only the methods that have a limit (what a refusal needs; :func:`make_config`), without
        notes.

    Returns
    -------
    TimeEstimate
        Seconds per method, its limits and, unless ``limited_only``, what each method that has a
        ``describe`` or a ``decision`` does and on how many instances.

    Raises
    ------
    TooLargeError
        From a method that cannot run on sample 0 at all (its ``cost``).
    """
    ks, bs, scale = _instance_indices(config, instances)
    names = [name for name in config.methods if not limited_only or get_method(name).max_seconds is not None]
    models = _sample_models(config, names, first)
    per_method, limits, notes, decisions = {}, {}, {}, {}
    for name in names:
        method = get_method(name)
        if method.max_seconds is not None:
            limits[name] = float(method.max_seconds)
        plan = _Plan(config, name, models)
        per_method[name] = float(plan.per_instance(plan.seconds(), ks, bs).sum()) * scale
        if not limited_only:
            text, decided = plan.note(ks, bs)
            if text is not None:
                notes[name] = text
            if decided:
                decisions[name] = decided
    count = round(ks.size * scale)
    return TimeEstimate(per_method, count, config.n, config.beta.size, limits, notes, decisions)


#: Per-instance estimates of :func:`instance_seconds`, by configuration hash (the last few configurations).
_INSTANCE_SECONDS: dict[str, float] = {}


def instance_seconds(config: SweepConfig, *, first=None) -> float:
    """Estimated seconds of an average instance of ``config``: :func:`estimate_time` of every instance, averaged.

    What worker processes and pool tasks are decided from (:func:`isingvar.sweep.grid.default_workers`,
    :func:`isingvar.sweep.grid.task_groups`).  Remembered per configuration hash for this process: the
    sweep's worker count and its pool tasks ask for one configuration twice, and a method's cost may be
    a timed probe.

    Parameters
    ----------
    config : SweepConfig
        The sweep.
    first : IsingModel, optional
        Sample 0, when the caller has it.

    Returns
    -------
    float
        Seconds.

    Raises
    ------
    TooLargeError
        From a method that cannot run on sample 0 at all (its ``cost``).
    """
    key = config.config_hash()
    if key not in _INSTANCE_SECONDS:
        ks, bs, _ = _instance_indices(config, None)
        models = _sample_models(config, config.methods, first)
        total = 0.0
        for name in config.methods:
            plan = _Plan(config, name, models)
            total += float(plan.per_instance(plan.seconds(), ks, bs).sum())
        if len(_INSTANCE_SECONDS) >= 8:
            _INSTANCE_SECONDS.pop(next(iter(_INSTANCE_SECONDS)))
        _INSTANCE_SECONDS[key] = total / max(1, ks.size)
    return _INSTANCE_SECONDS[key]


def method_plans(config: SweepConfig, *, first=None) -> dict:
    """What each method that has a ``describe`` or a ``decision`` does on the instances of ``config``.

    One line per method (the exact method: its path per decision and on how many instances;
    :func:`estimate_time`'s notes).  Times no method's ``cost``: the sweep's first lines print it.

    Parameters
    ----------
    config : SweepConfig
        The sweep.
    first : IsingModel, optional
        Sample 0, when the caller has it.

    Returns
    -------
    dict of str to str
        Method name -> its line.

    Raises
    ------
    TooLargeError
        From a method's ``describe`` on sample 0.
    """
    ks, bs, _ = _instance_indices(config, None)
    models = _sample_models(config, config.methods, first)
    notes = {}
    for name in config.methods:
        text, _ = _Plan(config, name, models).note(ks, bs)
        if text is not None:
            notes[name] = text
    return notes


def check_memory(name: str, n: int, n_edges: int, betas, settings) -> None:
    """Refuse method ``name`` when its ``memory`` estimate for N = ``n`` spins and ``n_edges`` coupled
    pairs exceeds :data:`MAX_METHOD_BYTES` (nothing is built or timed).

    Where the method's default settings would fit, the message names the settings that do not: each
    non-default one that alone, set back to its default, brings the estimate under the limit (or all
    the non-default ones, when none does alone).

    Parameters
    ----------
    name : str
        The method's name.
    n : int
        Number of spins N.
    n_edges : int
        Number of coupled pairs E.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    settings : dataclass instance
        The method's settings.

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
