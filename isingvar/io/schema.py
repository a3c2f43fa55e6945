"""The HDF5 result file's schema: its coordinates, its variables (those of every file and those the
sweep's methods declare, :mod:`isingvar.methods`) and the non-finite values each variable may hold.

docs/schema.md describes the file; :mod:`isingvar.io.store` reads and writes it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

SCHEMA_VERSION = "4"
#: Schema versions whose files ``show``, ``plot`` and ``merge`` still read (variable names unchanged;
#: in version 2 every variable of exact and mf was created whatever the sweep's methods; version 4 added
#: the per-beta ``<method>_status`` flags, ``ar``'s PSIS diagnostics and probabilistic bounds).
READABLE_VERSIONS = ("2", "3", "4")

_GRID = ("sample", "J", "h", "beta")
_INST = ("sample", "J", "h")
_INF0 = "-inf at beta = 0"
_NAN = ("nan", "nan; -inf at beta = 0")  # nonfinite values that allow NaN
_FLAGGED = ("nan where flagged", "nan where flagged; -inf at beta = 0")  # ... where <method>_status is not 0
_INF0S = (_INF0, "nan; -inf at beta = 0", "nan where flagged; -inf at beta = 0")  # ... and -inf at beta = 0
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
    #: the non-finite values a computed float may legitimately take; any other NaN or inf is a
    #: numerical failure (see :func:`check_values`): None, "nan" (not defined at every point) or
    #: "-inf at beta = 0", or "nan; -inf at beta = 0" (both)
    nonfinite: str | None = None
    flags: tuple = ()  # ((values...), "meaning1 meaning2 ...") for flag variables
    kind: str | None = None  # of the method's Var: exact, lower, upper, estimate, diagnostic
    quantity: str | None = None  # of the method's Var: lnZ, f, u, ...

    @property
    def per_site(self) -> bool:
        """Whether the variable has a ``site`` axis."""
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
def _schema(methods: tuple, sites: bool) -> dict:
    from ..methods import derived_variables, get_method

    out = {}
    for name in methods:
        for var in get_method(name).variables:
            if var.per != "site" or sites:
                out[var.name] = _variable(var, (name,))
    for var, needs in derived_variables(methods):
        out[var.name] = _variable(var, needs)
    out.update(VARIABLES)
    return out


def schema(methods, sites: bool = True) -> dict[str, Variable]:
    """Every variable of a result file of a sweep of ``methods``: name -> :class:`Variable`.

    The variables each method declares (:mod:`isingvar.methods`; per-site ones only with
    ``sites``), the derived ones (:func:`isingvar.methods.derived_variables`: ``kl_<method>``
    where an exact method ran) and :data:`VARIABLES`.

    Raises
    ------
    ModelParameterError
        For a method the registry does not know.
    """
    from ..methods import canonical

    return dict(_schema(canonical(methods), bool(sites)))


def file_methods(f) -> tuple:
    """The methods of an open result file (its ``methods`` attribute) that this isingvar knows."""
    from ..methods import method_names

    known = method_names()
    return tuple(m for m in str(_attr(f, "methods", "")).split(",") if m in known)


def file_schema(f) -> dict[str, Variable]:
    """:func:`schema` of an open result file's methods (per-site variables included; they may be absent)."""
    return schema(file_methods(f), sites=True)


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
def _allowed(var: Variable, value: np.ndarray, beta: np.ndarray, flagged=None) -> np.ndarray:
    """bool, ``value``'s shape: where ``value`` (float; the beta axis, if any, at position ``-1 - extra``
    with ``extra`` = 1 for per-site values) is finite or a non-finite value ``var`` allows; ``flagged``
    (bool, ``value``'s shape without the site axis) marks the points whose method status is not 0."""
    site = 1 if var.per_site else 0
    ok = np.isfinite(value)
    if var.nonfinite in _NAN:
        ok |= np.isnan(value)
    if var.nonfinite in _FLAGGED and flagged is not None:
        ok |= np.isnan(value) & np.asarray(flagged, dtype=bool).reshape(np.shape(flagged) + (1,) * site)
    if var.nonfinite in _INF0S and "beta" in var.dims:
        at0 = (beta == 0).reshape((-1,) + (1,) * site)
        ok |= np.isneginf(value) & at0
    return ok


def _unexpected_nonfinite(var: Variable, value: np.ndarray, beta: np.ndarray, flagged=None):
    """Index (into ``value``) of its first non-finite entry that ``var`` does not allow, else None.

    ``value`` is one instance's values: shape (beta[, site]) for grid
    variables, () otherwise; ``flagged`` bool (beta,) where the method's status
    is not 0 (for "nan where flagged").  Integer variables are never flagged.
    """
    if value.dtype.kind != "f":
        return None
    bad = ~_allowed(var, value, beta, flagged)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])
