"""The method plug-in interface: what one method module declares.

Each module of :mod:`isingvar.methods` exposes ``METHOD = Method(...)``; the
registry (:mod:`isingvar.methods`) finds it, and the sweep, the result file's
schema, shard balancing, the dry run, ``show``, ``plot`` and ``merge`` loop
over the registry.  docs/architecture.md ("How to add a method") walks
through writing one.
"""

from __future__ import annotations

import enum
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np

from ..errors import SettingsError

#: Kinds of a variable: lower/upper are certified bounds on the side their name says
#: (lnZ_x_lower <= ln Z, f_x_upper >= f); lower_prob/upper_prob are bounds that hold with a stated
#: probability 1 - delta (delta in the variable's attributes, :attr:`Method.var_attrs`); "estimate" is an
#: approximation, not a bound, withheld (NaN) where its method's ``<method>_status`` is not 0.
KINDS = ("exact", "lower", "upper", "lower_prob", "upper_prob", "estimate", "diagnostic")
#: How a variable is laid out: per="beta" (sample, J, h, beta); "instance" (sample, J, h);
#: "site" (sample, J, h, beta, site).
PER = ("beta", "instance", "site")


class Nonfinite(enum.Flag):
    """The non-finite values a computed float variable may legitimately hold (:attr:`Var.nonfinite`);
    any other NaN or inf is a numerical failure, never stored (:func:`isingvar.io.schema.allowed` decides).

    Members combine with ``|``: ``Nonfinite.NAN_WHERE_FLAGGED | Nonfinite.NEG_INF_AT_BETA0`` for a free
    energy that is -inf at beta = 0 and withheld where its method flags a point.
    """

    #: finite everywhere
    NEVER = 0
    #: NaN anywhere: a value not defined at every point (a bound computed only for small N, say)
    NAN = enum.auto()
    #: NaN only where the method's ``<method>_status`` (:func:`status_var`) is not 0, so that an
    #: unflagged NaN stays a numerical failure
    NAN_WHERE_FLAGGED = enum.auto()
    #: -inf at beta = 0 (f = -ln Z/(beta N) and its bounds)
    NEG_INF_AT_BETA0 = enum.auto()


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
    nonfinite: Nonfinite = Nonfinite.NEVER  #: the non-finite values it may hold (:class:`Nonfinite`)
    flags: tuple = ()  #: ((values...), "meaning1 meaning2 ...") for flag variables
    model_file: bool = False  #: only in a sweep of a model file (the ``file`` family): ``lnZ_model_*``

    def __post_init__(self):
        """Refuse a kind, layout or non-finite rule that is not one of the declared ones (ValueError; a
        non-finite rule that is no :class:`Nonfinite`: TypeError)."""
        if self.kind not in KINDS:
            raise ValueError(f"Var {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.per not in PER:
            raise ValueError(f"Var {self.name!r}: per {self.per!r} is not one of {PER}")
        if not isinstance(self.nonfinite, Nonfinite):
            raise TypeError(f"Var {self.name!r}: nonfinite must be a Nonfinite (Nonfinite.NAN, ...), "
                             f"got {self.nonfinite!r}")
        if (Nonfinite.NAN | Nonfinite.NAN_WHERE_FLAGGED) in self.nonfinite:
            raise ValueError(f"Var {self.name!r}: nonfinite {self.nonfinite}: NAN already allows NaN everywhere; "
                             "leave out NAN_WHERE_FLAGGED")
        if self.dtype != "f8" and self.fill is None:
            raise ValueError(f"Var {self.name!r}: an integer variable needs a fill value")


#: Flag meanings of an estimate's ``<method>_status`` (:func:`status_var`), in flag-value order: 0 the
#: estimates are shown; any other value says why every estimate of the method at that point is NaN.
ESTIMATE_STATUS = ("reliable", "khat_above_0.7", "ess_below_floor", "outside_certified_interval", "single_state",
                   "not_run", "khat_undefined")


def status_var(method: str, meanings: tuple, long_name: str) -> Var:
    """The per-beta flag variable ``<method>_status`` (int8, CF ``flag_values`` 0, 1, ... and
    ``flag_meanings``): 0 (``meanings[0]``) where the method's values at that point are shown, else the
    reason they are NaN (``meanings[k]``); -1 where the instance is not computed yet.

    The sweep reports the betas of each non-zero reason (:func:`isingvar.sweep.failures`), ``show``
    prints the reason in place of a withheld estimate, and ``--resume --retry-failed`` computes such
    instances again.

    Parameters
    ----------
    method : str
        The method's name (the variable's prefix).
    meanings : tuple of str
        Flag meanings in flag-value order, ``meanings[0]`` the shown state (e.g. :data:`ESTIMATE_STATUS`).
    long_name : str
        The variable's ``long_name``.

    Returns
    -------
    Var
        The diagnostic variable, per beta.
    """
    return Var(f"{method}_status", "diagnostic", "status", "1", long_name, dtype="i1", fill=-1,
               flags=(tuple(range(len(meanings))), " ".join(meanings)))


@dataclass(frozen=True)
class NoSettings:
    """Settings of a method that has none."""


# ------------------------------------------------------------------ settings: types and bounds
#: Key of a settings field's ``metadata`` that holds its :class:`Bounds` (:func:`setting`).
BOUNDS_KEY = "isingvar_bounds"

#: What each type of setting accepts, for messages.
_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


@dataclass(frozen=True)
class Bounds:
    """The values one setting accepts (declared with :func:`setting`): ``ge`` <= x <= ``le`` and
    ``gt`` < x < ``lt`` (None: no such bound).  A float setting must be finite unless ``finite`` is
    False (then +-inf passes the bounds it can; NaN never does).  ``why`` ends the message of a value
    beyond ``le``/``lt``: what goes wrong above it."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    finite: bool = True
    why: str = ""

    def problem(self, value) -> str | None:
        """What is wrong with ``value`` ("must be at least 1"), or None when it is accepted.

        Parameters
        ----------
        value : int or float
            The setting's value, already of the setting's type.

        Returns
        -------
        str or None
            The problem in words, or None.
        """
        if isinstance(value, float) and math.isnan(value):
            return "must be a number"
        if isinstance(value, float) and self.finite and not math.isfinite(value):
            return "must be a finite number"
        if self.ge is not None and not value >= self.ge:
            return f"must be at least {_number(self.ge)}"
        if self.gt is not None and not value > self.gt:
            return f"must be > {_number(self.gt)}"
        tail = f" ({self.why})" if self.why else ""
        if self.le is not None and not value <= self.le:
            return f"must be at most {_number(self.le)}{tail}"
        if self.lt is not None and not value < self.lt:
            return f"must be < {_number(self.lt)}{tail}"
        return None

    def text(self) -> str:
        """The accepted range in words, e.g. "1 .. 100000000" or "> 0, <= 10" ("" when unbounded).

        Returns
        -------
        str
            The range.
        """
        if self.ge is not None and self.le is not None:
            return f"{_number(self.ge)} .. {_number(self.le)}"
        parts = [f"{op} {_number(x)}" for op, x in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
                 if x is not None]
        return ", ".join(parts)


def _number(x) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def setting(default, *, ge=None, gt=None, le=None, lt=None, finite: bool = True, why: str = ""):
    """A field of a method's settings dataclass with the values it accepts (:class:`Bounds`).

    They are checked by :func:`check_setting` wherever settings are made
    (:func:`isingvar.methods.make_settings`, and the dataclass's ``__post_init__`` through
    :func:`check_settings`), e.g. ``steps: int = setting(200, ge=0, le=10**8)``.

    Parameters
    ----------
    default : int, float, bool or str
        The setting's default.
    ge, gt, le, lt : float or None
        Bounds: ``ge`` <= x, ``gt`` < x, x <= ``le``, x < ``lt`` (None: none on that side).
    finite : bool
        A float setting must be finite (default); False lets +-inf through.
    why : str
        What goes wrong above the upper bound, for the message.

    Returns
    -------
    dataclasses.Field
        The field, its :class:`Bounds` in ``metadata[BOUNDS_KEY]``.
    """
    return field(default=default, metadata={BOUNDS_KEY: Bounds(ge, gt, le, lt, finite, why)})


def setting_flag(method: str, name: str) -> str:
    """The command-line option of setting ``name`` of ``method``: ``--<method>-<name with dashes>``.

    Parameters
    ----------
    method : str
        The method's name.
    name : str
        The settings field's name.

    Returns
    -------
    str
        The option.
    """
    return f"--{method}-{name.replace('_', '-')}"


def type_problem(kind: type, value) -> str | None:
    """What is wrong with the type of ``value`` for a setting of type ``kind`` ("must be an integer"), or None.

    Nothing is coerced: a bool is no number, a string no number, a float with a fraction no
    integer; an integer is a number (a float setting takes it as a float).

    Parameters
    ----------
    kind : type
        The setting's type (int, float, bool, str or another class).
    value : object
        The value given.

    Returns
    -------
    str or None
        The problem in words, or None when the type is accepted.
    """
    if kind is bool:
        ok = isinstance(value, (bool, np.bool_))
    elif kind is int:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    elif kind is float:
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    else:
        ok = isinstance(value, kind)
    return None if ok else f"must be {_TYPE_WORDS.get(kind, kind.__name__)}"


def describe_value(value) -> str:
    """``value`` for a message: its repr, with its type where the repr alone would mislead ('3' (a string)).

    Parameters
    ----------
    value : object
        Any value (numpy scalars are shown as Python ones).

    Returns
    -------
    str
        The description.
    """
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, (bool, np.bool_)):
        return f"{str(bool(value)).lower()} (a boolean)"
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_setting(method: str, name: str, kind: type, value, bounds: Bounds | None = None, *,
                  label: str | None = None):
    """``value`` for setting ``name`` (of type ``kind``, accepting ``bounds``) of ``method``, checked.

    Of the right type (:func:`type_problem`) and within its bounds.

    Parameters
    ----------
    method : str
        The method's name.
    name : str
        The settings field's name.
    kind : type
        The setting's type.
    value : object
        The value given.
    bounds : Bounds or None
        The accepted values; None: any (a float must still be finite).
    label : str or None
        Names the setting in the message (default its option, :func:`setting_flag`; a config file
        gives ``FILE: [ar] lr``).

    Returns
    -------
    object
        ``value`` as ``kind`` (an integer for a float setting becomes a float).

    Raises
    ------
    SettingsError
        One line naming the option, e.g. ``--ar-lr must be at most 10 (...), got 1e+300``.
    """
    problem = type_problem(kind, value)
    if problem is None:
        if kind in (int, float, bool):
            value = kind(value)
        if bounds is None and kind is float:
            bounds = Bounds()  # floats are finite unless declared otherwise
        problem = bounds.problem(value) if bounds is not None and kind in (int, float) else None
    if problem is not None:
        raise SettingsError(f"{label or setting_flag(method, name)} {problem}, got {describe_value(value)}")
    return value


def settings_bounds(cls) -> dict[str, tuple[type, Bounds | None]]:
    """field name -> (type, its :class:`Bounds` or None) of a settings dataclass.

    Parameters
    ----------
    cls : type
        The settings dataclass.

    Returns
    -------
    dict of str to tuple of (type, Bounds or None)
        One entry per field, in field order.
    """
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f.metadata.get(BOUNDS_KEY)) for f in fields(cls)}


def check_settings(method: str, settings) -> None:
    """Every field of the settings dataclass instance ``settings`` of ``method`` checked
    (:func:`check_setting`), an integer of a float field stored as a float; a settings class calls it
    from ``__post_init__`` so that a direct construction is checked as
    :func:`isingvar.methods.make_settings` checks.

    Parameters
    ----------
    method : str
        The method's name (for the messages).
    settings : dataclass instance
        The settings, changed in place where an integer of a float field becomes a float.

    Raises
    ------
    SettingsError
        For the first field of a wrong type or out of its bounds.
    """
    for name, (kind, bounds) in settings_bounds(type(settings)).items():
        value = getattr(settings, name)
        checked = check_setting(method, name, kind, value, bounds)
        if type(checked) is not type(value):  # 1 for a float setting: 1.0, one hash for one value
            object.__setattr__(settings, name, checked)


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
    ``decision(model, betas, settings, *, sites) -> str`` (optional)
        What the method decides to do on this instance from its own values, in
        a word or a few (exact: its path, "planar"), timing nothing: the
        sweep's estimate asks it of every sample and times one instance per
        distinct decision (:mod:`isingvar.sweep.estimate`).  Without it the
        method is estimated on sample 0 alone.
    ``var_attrs(settings) -> {var name: {attribute: value}}`` (optional)
        Attributes a sweep's settings add to the method's variables in the
        result file (``ar``: ``delta`` of its probabilistic bounds).
    ``stream`` (optional)
        The name of the method whose random stream the sweep gives this one
        (its own where None): ``smf`` starts from the naive mean-field
        solution, and drawing mean field's stream makes that start the ``mf``
        method's own fixed point, so its bound is never below ``mf``'s at
        the same settings (on UAI DBN_12 at beta = 1 alone, its own stream's
        start lay 2.1 nats below).
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
    decision: Callable | None = None
    stream: str | None = None

    def var(self, name: str) -> Var:
        """The declared variable ``name``.

        Parameters
        ----------
        name : str
            The variable's name.

        Returns
        -------
        Var
            The declared variable.

        Raises
        ------
        KeyError
            If this method has none of that name.
        """
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)


def per_beta(n, betas, settings) -> float:
    """``progress_units`` of a method that reports one unit per beta of the grid.

    Parameters
    ----------
    n : int
        Number of spins (unused).
    betas : sequence of float
        The betas.
    settings : dataclass instance
        The method's settings (unused).

    Returns
    -------
    float
        ``len(betas)``.
    """
    return float(len(betas))


def model_file_lnZ(var: Var) -> tuple[Var, Callable]:
    """ln Z of a model file's own model from a method's ln Z variable ``var`` (exact or a bound).

    A sweep of the ``file`` family converts the file's potentials exactly to an
    Ising model plus a constant ``lnZ_offset`` (docs/formats.md); the file's
    model is the instance at beta = 1, J = 1, h = 0.  Returns the variable
    ``lnZ_model_<suffix>`` (``lnZ_exact`` -> ``lnZ_model_exact``,
    ``lnZ_trw_upper`` -> ``lnZ_model_trw_upper``: same kind, so a bound stays
    a bound) and the ``file_hook`` that fills it: ``var + lnZ_offset`` at that
    point, NaN elsewhere.  The variable is created only in sweeps of a model
    file (``Var.model_file``: :func:`isingvar.io.schema.schema`).

    Parameters
    ----------
    var : Var
        The method's ln Z variable, named ``lnZ_<suffix>``.

    Returns
    -------
    model_var : Var
        The variable ``lnZ_model_<suffix>``.
    file_hook : callable
        ``file_hook(values, betas, J, h, source) -> {name: array}`` that fills it.
    """
    name = "lnZ_model_" + var.name.removeprefix("lnZ_")
    model_var = Var(name, var.kind, "lnZ_model", var.units,
                    f"{var.long_name}; of the model as given in its source file (+ lnZ_offset), only at beta = 1, "
                    "J = 1, h = 0 of the file family", nonfinite=Nonfinite.NAN, model_file=True)

    def file_hook(values, betas, J, h, source) -> dict:
        """``{name: value + lnZ_offset}`` at beta = 1, J = 1, h = 0, NaN elsewhere.

        Parameters
        ----------
        values : dict
            The method's values of this instance (var name -> float64 (nb,)).
        betas : array_like of float, shape (nb,)
            The betas.
        J, h : float
            This instance's coordinates.
        source : dict
            The config's file record (its ``lnZ_offset`` is used).

        Returns
        -------
        dict
            ``{name: float64 (nb,)}``.
        """
        here = (np.asarray(betas) == 1.0) & (J == 1.0) & (h == 0.0)
        return {name: np.where(here, values[var.name] + source["lnZ_offset"], np.nan)}

    return model_var, file_hook

