"""Certified bounds on ln Z of a model with fields from the exact ln Z of its zero-field model.

The planar and torus paths sum a zero-field model exactly at any size, and fields put a lattice beyond
them (the field is an apex spin joined to every spin).  Where the fields are small next to the couplings,
the zero-field model with the same couplings J brackets the model with fields (J, h) tightly:

**Lower bound** (the Gibbs variational principle with the zero-field Gibbs distribution P_{J,0} as the
trial distribution: structured mean field whose one component is the whole graph; Jensen's inequality)::

    Z(J, h) = Z(J, 0) <exp(beta sum_i h_i s_i)>_{J,0} >= Z(J, 0) exp(beta sum_i h_i <s_i>_{J,0}) = Z(J, 0),

since <s_i>_{J,0} = 0 by the global spin flip.  Its gap is the field's own free energy,
ln Z(J, h) - ln Z(J, 0) = (beta^2 / 2) sum_ij h_i h_j <s_i s_j>_{J,0} + O(h^4).

**Upper bound** (ln Z is convex in the natural parameters (beta J, beta h): Wainwright, Jaakkola & Willsky,
IEEE Trans. Inf. Theory 51, 2313 (2005), eq. (15); the zero-field component is a planar subgraph of the
convex combination as in Globerson & Jaakkola, NIPS 2006).  For 0 < eps <= 1,
(J, h) = (1 - eps) (J, 0) + eps (J, h / eps), so::

    ln Z(J, h) <= (1 - eps) ln Z(J, 0) + eps ln Z(J, h / eps) <= (1 - eps) ln Z(J, 0) + eps U(J, h / eps)

for every certified upper bound U of the model with fields amplified by 1/eps (:func:`split_upper`).  Its
gap is the convexity gap, about (beta^2 / 2)(1/eps - 1) h^T chi h, plus eps times U's own gap; U is
tighter for the stronger fields.  docs/methods.md ("Zero-field bounds") gives the measurements that
chose the eps of the trw method.

Both are as accurate as the exact path's ln Z (1e-10 relative, its promise); a beta where that path
does not confirm its value gives NaN, never a bound it cannot certify.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .model import IsingModel
from .patterns import pattern_key

#: The last zero-field ln Z computed (key, ln Z): the trw and smf methods of one sweep both ask for it on
#: the same instance and grid, and it is an exact run.
_LAST: dict = {}


def zero_field_model(model: IsingModel) -> IsingModel | None:
    """``model`` with every field set to zero, or None where its fields are all zero already.

    Parameters
    ----------
    model : IsingModel
        The instance (any scaling).

    Returns
    -------
    IsingModel or None
        The same spins, pairs and couplings with h = 0.
    """
    if not np.any(model.fields):
        return None
    return IsingModel(model.n, model.edge_i, model.edge_j, model.couplings, np.zeros(model.n))


def amplified(model: IsingModel, eps: float) -> IsingModel:
    """``model`` with its fields divided by ``eps`` (the second point of :func:`split_upper`'s combination).

    Parameters
    ----------
    model : IsingModel
        The instance.
    eps : float
        Weight of the amplified model, 0 < eps <= 1.

    Returns
    -------
    IsingModel
        The same couplings, fields h / eps.

    Raises
    ------
    ValueError
        If eps is not in (0, 1].
    """
    if not 0.0 < eps <= 1.0:
        raise ValueError(f"the weight of the field-amplified model must be in (0, 1], got {eps!r}")
    return IsingModel(model.n, model.edge_i, model.edge_j, model.couplings, model.fields / eps)


def applies(model: IsingModel, betas) -> bool:
    """Whether ``model`` has fields and its zero-field model an exact path at some beta of ``betas``.

    Times nothing (:func:`isingvar.exact.choice.decide`, a function of the instance alone).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.

    Returns
    -------
    bool
        False where the fields are all zero (the model is its own zero-field model) or no exact path
        covers any beta of its zero-field model.
    """
    return path_work(model, betas) is not None


def path_work(model: IsingModel, betas) -> float | None:
    """The modelled work (seconds, deterministic: no timing) of the exact path of ``model``'s zero-field model
    over the betas it covers, or None where nothing applies (:func:`applies`).

    A method takes a zero-field bound only where this fits beside its own cost.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.

    Returns
    -------
    float or None
        The path's ``work`` (:func:`isingvar.exact.choice.decide`'s path), None where the fields are all
        zero or no exact path covers any beta of the zero-field model.
    """
    from .errors import TooLargeError
    from .exact.choice import decide

    zero = zero_field_model(model)
    if zero is None:
        return None
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    try:
        module, covered = decide(zero, b, sites=False)
    except TooLargeError:
        return None
    if not covered.any():
        return None
    return float(module.work(zero, b[covered]))


#: A method takes a zero-field bound where the zero-field path's modelled work is within the method's own
#: modelled cost, or within this many seconds where the method is cheaper (a planar 32 x 32 at 3 betas:
#: well under a second).
MIN_SECONDS = 2.0


def fits(model: IsingModel, betas, own_seconds: float) -> bool:
    """Whether a method whose own run is modelled at ``own_seconds`` takes the zero-field bound on ``model``.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    own_seconds : float
        The method's modelled cost on this instance (its ``cost``).

    Returns
    -------
    bool
        :func:`path_work` is not None and at most max(``own_seconds``, :data:`MIN_SECONDS`).
    """
    work = path_work(model, betas)
    return work is not None and work <= max(own_seconds, MIN_SECONDS)


def _key(model: IsingModel, betas: np.ndarray) -> tuple:
    """What the zero-field ln Z of ``model`` over ``betas`` depends on: its pattern, couplings and betas."""
    values = hashlib.sha1(np.ascontiguousarray(model.couplings), usedforsecurity=False).digest()
    return pattern_key(model), values, betas.tobytes()


def zero_field_lnz(model: IsingModel, betas) -> np.ndarray:
    """ln Z(J, 0) of ``model``'s zero-field model over ``betas``, by its exact path: a lower bound on ln Z.

    Parameters
    ----------
    model : IsingModel
        The instance with fields (:func:`applies`), already scaled to the sweep's J and h.
    betas : array_like of float, shape (nb,)
        Finite, >= 0, any order.

    Returns
    -------
    ndarray of float64, shape (nb,)
        ln Z(J, 0), nats, total; <= ln Z(J, h) (module docstring).  NaN at a beta no exact path covers
        or confirms (:func:`isingvar.exact.choice.solve`'s status).

    Raises
    ------
    ValueError
        If the model has no fields (:func:`applies` is false: nothing to bound).
    """
    from .exact.choice import solve

    zero = zero_field_model(model)
    if zero is None:
        raise ValueError("the model has no fields: it is its own zero-field model")
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    key = _key(model, b)
    if _LAST.get("key") != key:
        lnz = solve(zero, b).lnZ.copy()  # NaN wherever the path's status is not "computed"
        lnz.setflags(write=False)
        _LAST.clear()
        _LAST.update(key=key, lnz=lnz)
    return _LAST["lnz"].copy()


def split_upper(lnz_zero: np.ndarray, upper_amplified: np.ndarray, eps: float) -> np.ndarray:
    """The convex-combination upper bound (1 - eps) ln Z(J, 0) + eps U(J, h / eps) (module docstring).

    Parameters
    ----------
    lnz_zero : ndarray of float64, shape (nb,)
        Exact ln Z of the zero-field model (:func:`zero_field_lnz`), nats.
    upper_amplified : ndarray of float64, shape (nb,)
        A certified upper bound on ln Z of :func:`amplified` (``model``, ``eps``) at the same betas, nats.
    eps : float
        The weight, 0 < eps <= 1.

    Returns
    -------
    ndarray of float64, shape (nb,)
        An upper bound on ln Z(J, h), nats; NaN where either input is.

    Raises
    ------
    ValueError
        If eps is not in (0, 1].
    """
    if not 0.0 < eps <= 1.0:
        raise ValueError(f"the weight of the field-amplified model must be in (0, 1], got {eps!r}")
    if eps == 1.0:  # the zero-field term carries no weight, and may be NaN
        return np.asarray(upper_amplified, dtype=np.float64).copy()
    return (1.0 - eps) * np.asarray(lnz_zero, dtype=np.float64) + eps * np.asarray(upper_amplified, dtype=np.float64)
