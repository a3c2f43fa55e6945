"""The HDF5 result file's schema: its coordinates, its variables (those of every file and those the
sweep's methods declare, :mod:`isingvar.methods`) and the non-finite values each variable may hold.

docs/schema.md describes the file; :mod:`isingvar.io.store` reads and writes it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..methods.base import Nonfinite

SCHEMA_VERSION = "4"
#: Schema versions whose files ``show``, ``plot`` and ``merge`` still read (variable names unchanged;
#: in version 2 every variable of exact and mf was created whatever the sweep's methods; version 4 added
#: the per-beta ``<method>_status`` flags, ``ar``'s PSIS diagnostics and probabilistic bounds).
READABLE_VERSIONS = ("2", "3", "4")
#: The family of a sweep of a model file: only its files hold the ``lnZ_model_*`` variables.
MODEL_FILE_FAMILY = "file"

_GRID = ("sample", "J", "h", "beta")
_INST = ("sample", "J", "h")
#: Dimensions of a method variable by its :attr:`isingvar.methods.base.Var.per`.
DIMS = {"beta": _GRID, "instance": _INST, "site": _GRID + ("site",)}


@dataclass(frozen=True)
class Variable:
    """Schema entry of one variable."""

    dims: tuple
    dtype: str
    units: str
    long_name: str
    methods: tuple = ()  # the methods that fill it (a derived variable needs several); (): always written
    fill: int | None = None  # _FillValue for integer variables
    #: the non-finite values a computed float may legitimately take (:func:`allowed`); any other NaN or
    #: inf is a numerical failure
    nonfinite: Nonfinite = Nonfinite.NEVER
    flags: tuple = ()  # ((values...), "meaning1 meaning2 ...") for flag variables
    kind: str | None = None  # of the method's Var: exact, lower, upper, estimate, diagnostic
    quantity: str | None = None  # of the method's Var: lnZ, f, u, ...

    @property
    def per_site(self) -> bool:
        """Whether the variable has a ``site`` axis.

        Returns
        -------
        bool
            True for a per-site variable.
        """
        return "site" in self.dims


#: Variables of every result file, whatever its methods; the methods' own come from their
#: declarations (:func:`schema`).
VARIABLES: dict[str, Variable] = {
    "done": Variable(_INST, "i1", "1", "instance complete: all its values are written",
                     flags=((0, 1), "pending complete")),
    "edge_i": Variable(("sample", "edge"), "i8", "1", "first spin of each coupled pair (i < j)"),
    "edge_j": Variable(("sample", "edge"), "i8", "1", "second spin of each coupled pair"),
    "couplings": Variable(("sample", "edge"), "f8", "energy", "J_ij of each pair at unit J; the instance at coordinate J has J * couplings"),
    "fields": Variable(("sample", "site"), "f8", "energy", "h_i at h = 0; the instance at coordinate h has fields + h"),
}


def _variable(var, methods) -> Variable:
    return Variable(DIMS[var.per], var.dtype, var.units, var.long_name, tuple(methods), var.fill, var.nonfinite,
                    var.flags, var.kind, var.quantity)


@functools.cache
def _schema(methods: tuple, sites: bool, model_file: bool) -> dict:
    from ..methods import derived_variables, get_method

    out = {}
    for name in methods:
        for var in get_method(name).variables:
            if (var.per != "site" or sites) and (model_file or not var.model_file):
                out[var.name] = _variable(var, (name,))
    for var, needs in derived_variables(methods):
        out[var.name] = _variable(var, needs)
    out.update(VARIABLES)
    return out


def schema(methods, sites: bool = True, model_file: bool = True) -> dict[str, Variable]:
    """Every variable of a result file of a sweep of ``methods``: name -> :class:`Variable`.

    The variables each method declares (:mod:`isingvar.methods`; per-site ones only with
    ``sites``; ``lnZ_model_*``, :attr:`isingvar.methods.base.Var.model_file`, only with ``model_file``:
    a sweep of a model file), the derived ones (:func:`isingvar.methods.derived_variables`:
    ``kl_<method>`` where an exact method ran) and :data:`VARIABLES`.

    Parameters
    ----------
    methods : iterable of str
        Method names (checked and put in canonical order, :func:`isingvar.methods.canonical`).
    sites : bool, default True
        Include the per-site variables.
    model_file : bool, default True
        Include the ``lnZ_model_*`` variables.

    Returns
    -------
    dict of str to Variable
        A new dict each call.

    Raises
    ------
    ModelParameterError
        For a method the registry does not know.
    """
    from ..methods import canonical

    return dict(_schema(canonical(methods), bool(sites), bool(model_file)))


def file_methods(f) -> tuple:
    """The methods of an open result file (its ``methods`` attribute) that this isingvar knows.

    Parameters
    ----------
    f : h5py.File
        The open result file.

    Returns
    -------
    tuple of str
        Their names, in the file's order.
    """
    from ..methods import method_names

    known = method_names()
    return tuple(m for m in str(_attr(f, "methods", "")).split(",") if m in known)


def file_schema(f) -> dict[str, Variable]:
    """:func:`schema` of an open result file's methods.

    Per-site variables included (they may be absent); ``lnZ_model_*`` only in a sweep of a model file.

    Parameters
    ----------
    f : h5py.File
        The open result file.

    Returns
    -------
    dict of str to Variable
        Name -> schema entry.
    """
    return schema(file_methods(f), sites=True, model_file=is_model_file_sweep(f))


def is_model_file_sweep(f) -> bool:
    """Whether an open result file is a sweep of a model file (its ``model_family`` attribute is "file").

    Parameters
    ----------
    f : h5py.File
        The open result file.

    Returns
    -------
    bool
        True for a sweep of a model file.
    """
    return str(_attr(f, "model_family", "")) == MODEL_FILE_FAMILY


COORDS = {
    "sample": ("i8", "1", "disorder sample index k (instance drawn from rng([seed, k]))"),
    "J": ("f8", "energy", "coupling scale: every J_ij is multiplied by J"),
    "h": ("f8", "energy", "uniform field added to every h_i"),
    "beta": ("f8", "1/energy", "inverse temperature beta = 1/T (k_B = 1)"),
    "site": ("i8", "1", "spin index i"),
    "edge": ("i8", "1", "index of a coupled pair"),
}


def _attr(f, key, default=None):
    """Root attribute ``key`` of an open HDF5 file, bytes decoded to str; ``default`` when absent."""
    value = f.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else value


# ------------------------------------------------------------------ which non-finite values a variable allows
def needs_flags(var: Variable) -> bool:
    """Whether :func:`allowed` needs the method's status flags to judge ``var``'s NaN values.

    That is, whether ``var`` allows :attr:`Nonfinite.NAN_WHERE_FLAGGED`; the flags are its
    ``<method>_status``, ``var.methods[0]`` + "_status".

    Parameters
    ----------
    var : Variable
        The variable's schema entry.

    Returns
    -------
    bool
        True where the flags are needed.
    """
    return Nonfinite.NAN_WHERE_FLAGGED in var.nonfinite


def allowed(var: Variable, value: np.ndarray, beta: np.ndarray, flagged=None) -> np.ndarray:
    """Where ``value`` is finite or a non-finite value ``var`` allows (its :class:`Nonfinite` rule).

    The one place that reads the rule: NaN anywhere with ``NAN``; NaN where ``flagged`` with
    ``NAN_WHERE_FLAGGED``; -inf where beta = 0 with ``NEG_INF_AT_BETA0`` (a variable with a beta axis);
    +inf never.

    Parameters
    ----------
    var : Variable
        The variable's schema entry.
    value : numpy.ndarray of float
        Its values: any leading axes, then the beta axis (if ``var`` has one) and, for a per-site
        variable, the site axis last.
    beta : numpy.ndarray of float64, shape (nb,)
        The file's beta coordinate (1/energy).
    flagged : array_like of bool or None
        ``value``'s shape without the site axis: the points whose method status is not 0; None (no
        status known) allows no NaN under ``NAN_WHERE_FLAGGED``.

    Returns
    -------
    numpy.ndarray of bool
        ``value``'s shape: True where the value may be stored.
    """
    site = 1 if var.per_site else 0
    rule = var.nonfinite
    ok = np.isfinite(value)
    if Nonfinite.NAN in rule:
        ok |= np.isnan(value)
    if Nonfinite.NAN_WHERE_FLAGGED in rule and flagged is not None:
        ok |= np.isnan(value) & np.asarray(flagged, dtype=bool).reshape(np.shape(flagged) + (1,) * site)
    if Nonfinite.NEG_INF_AT_BETA0 in rule and "beta" in var.dims:
        at0 = (beta == 0).reshape((-1,) + (1,) * site)
        ok |= np.isneginf(value) & at0
    return ok


def _unexpected_nonfinite(var: Variable, value: np.ndarray, beta: np.ndarray, flagged=None):
    """Index (into ``value``) of its first non-finite entry that ``var`` does not allow, else None.

    ``value`` is one instance's values: shape (beta[, site]) for grid
    variables, () otherwise; ``flagged`` bool (beta,) where the method's status
    is not 0 (for :attr:`Nonfinite.NAN_WHERE_FLAGGED`).  Integer variables are never flagged.
    """
    if value.dtype.kind != "f":
        return None
    bad = ~allowed(var, value, beta, flagged)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])
