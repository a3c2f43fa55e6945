"""The method plug-in interface: what one method module declares.

Each module of :mod:`isingvar.methods` exposes ``METHOD = Method(...)``; the
registry (:mod:`isingvar.methods`) finds it, and the sweep, the result file's
schema, shard balancing, the dry run, ``show``, ``plot`` and ``merge`` loop
over the registry.  docs/architecture.md ("How to add a method") walks
through writing one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Kinds of a variable: lower/upper are certified bounds on the side their name says
#: (lnZ_x_lower <= ln Z, f_x_upper >= f); lower_prob/upper_prob are bounds that hold with a stated
#: probability 1 - delta (delta in the variable's attributes, :attr:`Method.var_attrs`); "estimate" is an
#: approximation, not a bound, withheld (NaN) where its method's ``<method>_status`` is not 0.
KINDS = ("exact", "lower", "upper", "lower_prob", "upper_prob", "estimate", "diagnostic")
#: How a variable is laid out: per="beta" (sample, J, h, beta); "instance" (sample, J, h);
#: "site" (sample, J, h, beta, site).
PER = ("beta", "instance", "site")
#: Non-finite values a computed float may legitimately take (see :attr:`Var.nonfinite`): "nan where
#: flagged" allows NaN only at the betas where the method's ``<method>_status`` (:func:`status_var`) is
#: not 0, so an unflagged NaN stays a numerical failure.
NONFINITE = (None, "nan", "-inf at beta = 0", "nan; -inf at beta = 0", "nan where flagged",
             "nan where flagged; -inf at beta = 0")


@dataclass(frozen=True)
class Var:
    """One variable a method writes into the result file.

    Naming rule: ``<quantity>_<method>[_lower|_upper]`` (``lnZ_mf_lower``,
    ``f_mf_upper``, ``u_mf``), diagnostics ``<method>_<diagnostic>``
    (``mf_iterations``); per-site variables end in ``_site``.  A variable named ``<name>_se``
    (kind "diagnostic", quantity None) is the standard error of the Monte Carlo estimate
    ``<name>``: ``show`` prints it as ``<name>`` +- and ``plot`` draws it as an error bar.
    """

    name: str  #: full variable name
    kind: str  #: one of :data:`KINDS`
    quantity: str | None  #: "lnZ", "f", "u", "s", "c", "m", "m2", "absm", "chi", "E0", ...; None for diagnostics
    units: str
    long_name: str  #: says "bound" only for rigorous bounds; approximations say "approximation, not a bound"
    dtype: str = "f8"  #: "f8", "i4" or "i1"
    per: str = "beta"  #: one of :data:`PER`
    fill: int | None = None  #: _FillValue of integer variables
    nonfinite: str | None = None  #: one of :data:`NONFINITE`
    flags: tuple = ()  #: ((values...), "meaning1 meaning2 ...") for flag variables

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Var {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.per not in PER:
            raise ValueError(f"Var {self.name!r}: per {self.per!r} is not one of {PER}")
        if self.nonfinite not in NONFINITE:
            raise ValueError(f"Var {self.name!r}: nonfinite {self.nonfinite!r} is not one of {NONFINITE}")
        if self.dtype != "f8" and self.fill is None:
            raise ValueError(f"Var {self.name!r}: an integer variable needs a fill value")


#: Flag meanings of an estimate's ``<method>_status`` (:func:`status_var`), in flag-value order: 0 the
#: estimates are shown; any other value says why every estimate of the method at that point is NaN.
ESTIMATE_STATUS = ("reliable", "khat_above_0.7", "ess_below_floor", "outside_certified_interval", "single_state",
                   "not_run")


def status_var(method: str, meanings: tuple, long_name: str) -> Var:
    """The per-beta flag variable ``<method>_status`` (int8, CF ``flag_values`` 0, 1, ... and
    ``flag_meanings``): 0 (``meanings[0]``) where the method's values at that point are shown, else the
    reason they are NaN (``meanings[k]``); -1 where the instance is not computed yet.

    The sweep reports the betas of each non-zero reason (:func:`isingvar.sweep.failures`), ``show``
    prints the reason in place of a withheld estimate, and ``--resume --retry-failed`` computes such
    instances again.
    """
    return Var(f"{method}_status", "diagnostic", "status", "1", long_name, dtype="i1", fill=-1,
               flags=(tuple(range(len(meanings))), " ".join(meanings)))


@dataclass(frozen=True)
class NoSettings:
    """Settings of a method that has none."""


@dataclass(frozen=True)
class Method:
    """A method: its name, settings, variables, how to run it and what it costs.

    ``run(model, betas, settings, rng, *, sites, progress) -> {var name: array}``
        ``model`` an :class:`isingvar.model.IsingModel` already scaled to
        (J, h); ``betas`` float64 (nb,) as given (any order, may contain 0);
        ``rng`` a numpy Generator seeded per instance and method by the sweep;
        ``sites``: also return the per-site variables (per="site");
        ``progress`` callable(step: float) or None, in progress units.
        Returns arrays shaped (nb,) for per="beta", scalars for
        per="instance", (nb, N) for per="site".  Kernel loops run under
        :func:`isingvar.interrupt.deferred_interrupt`.
    ``cost(model, betas, settings, *, sites) -> float``
        Estimated seconds of ``run`` on this instance (cheap: a short timed
        probe at most).  May raise :class:`isingvar.errors.TooLargeError` when
        the method cannot run at all (exact: no path applies).
    ``progress_units(model_n, betas, settings) -> float``
        Total progress units ``run`` reports.
    ``shard_weight(model, betas, settings) -> float`` (optional)
        Relative cost of one instance for shard balancing: deterministic (no
        timing), since every task of a job array must compute the same
        partition.  Default 1.
    ``file_hook(values, betas, J, h, source) -> {var name: array}`` (optional)
        Extra values for a sweep of a model file (``source`` is the config's
        file record: name, sha256, format, lnZ_offset); ``J`` and ``h`` are
        this instance's coordinates.  The exact method puts ``lnZ_model_exact``
        here.
    ``max_seconds`` (optional)
        The sweep refuses (without ``--force``) when this method's estimated
        time over all its instances exceeds it; None: never refused for time.
    ``check(model, betas, settings, *, sites)`` (optional)
        Raise :class:`isingvar.errors.TooLargeError` when the method cannot run
        at all on this instance (sample 0, at the (J, h) the estimate times),
        ``--force`` or not (cheap: no timing; the structure may be examined).
    ``memory(n, n_edges, betas, settings) -> float`` (optional)
        Estimated peak bytes of one ``run`` on N spins and E coupled pairs
        (cheap: no timing, nothing built).  Above
        :data:`isingvar.sweep.estimate.MAX_METHOD_BYTES` the method is refused
        (``--force`` or not), or left out when it was a default.
    ``describe(model, betas, settings, *, sites) -> str`` (optional)
        What the method would do on this instance, for ``--dry-run`` (the exact
        method: the path it picks and its estimate).
    ``var_attrs(settings) -> {var name: {attribute: value}}`` (optional)
        Attributes a sweep's settings add to the method's variables in the
        result file (``ar``: ``delta`` of its probabilistic bounds).
    """

    name: str
    summary: str
    settings: type
    variables: tuple
    run: Callable
    cost: Callable
    progress_units: Callable
    default: bool = False
    needs: tuple = ()
    shard_weight: Callable | None = None
    file_hook: Callable | None = None
    check: Callable | None = None
    max_seconds: float | None = None
    memory: Callable | None = None
    describe: Callable | None = None
    var_attrs: Callable | None = None

    def var(self, name: str) -> Var:
        """The declared variable ``name`` (KeyError if this method has none of that name)."""
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)


def per_beta(n, betas, settings) -> float:
    """``progress_units`` of a method that reports one unit per beta of the grid."""
    return float(len(betas))


def model_file_lnZ(var: Var) -> tuple[Var, Callable]:
    """ln Z of a model file's own model from a method's ln Z variable ``var`` (exact or a bound).

    A sweep of the ``file`` family converts the file's potentials exactly to an
    Ising model plus a constant ``lnZ_offset`` (docs/formats.md); the file's
    model is the instance at beta = 1, J = 1, h = 0.  Returns the variable
    ``lnZ_model_<suffix>`` (``lnZ_exact`` -> ``lnZ_model_exact``,
    ``lnZ_trw_upper`` -> ``lnZ_model_trw_upper``: same kind, so a bound stays
    a bound) and the ``file_hook`` that fills it: ``var + lnZ_offset`` at that
    point, NaN elsewhere.
    """
    name = "lnZ_model_" + var.name.removeprefix("lnZ_")
    model_var = Var(name, var.kind, "lnZ_model", var.units,
                    f"{var.long_name}; of the model as given in its source file (+ lnZ_offset), only at beta = 1, "
                    "J = 1, h = 0 of the file family", nonfinite="nan")

    def file_hook(values, betas, J, h, source) -> dict:
        here = (np.asarray(betas) == 1.0) & (J == 1.0) & (h == 0.0)
        return {name: np.where(here, values[var.name] + source["lnZ_offset"], np.nan)}

    return model_var, file_hook

