"""Clamping: bounds on ln Z as sums over the configurations of a few conditioned spins.

For a set C of k spins, every configuration sigma of C leaves a conditioned Ising model on the other
spins R: the couplings inside R unchanged, the fields H_i(sigma) = h_i + sum_{c in C} J_ic sigma_c,
and the constant energy E_C(sigma) = -sum_{c<c' in C} J_cc' sigma_c sigma_c' - sum_{c in C} h_c sigma_c
of the clamped part.  Summing over x_R first,

    ln Z(beta) = logsumexp_sigma [ -beta E_C(sigma) + ln Z_R(beta | sigma) ],

and logsumexp is increasing in each argument: the same sum of certified upper (lower) bounds of the
2^k conditioned models is a certified upper (lower) bound on ln Z (Weller & Jebara, NIPS 2014;
Weller & Domke, AISTATS 2016).  With every field zero E(s) = E(-s), so ln Z_R(sigma) = ln Z_R(-sigma):
only the configurations with the last clamped spin at +1 are bounded, and ln 2 is added.  Clamping
every spin gives ln Z exactly (ln Z_R = 0 for an empty R).

The conditioning itself is the cutset path's (:func:`isingvar.exact.cutset.conditioning_csr` and the
kernel :func:`isingvar.kernels.cutset.cut_state`); each conditioned model is an
:class:`isingvar.model.IsingModel`, and the energy of every conditioned model plus E_C is checked
against the model's own energy on two configurations (:class:`isingvar.errors.CertificateError`
otherwise), the analogue of TRW's decomposition check.

Clamped spins (:func:`choose_spins`): the k largest scores deg_i x sum_j |J_ij| (ties to the lower
index), a cheap stand-in for "high degree, strong couplings" (Weller & Jebara's high-degree and
frustrated-cycle heuristics); it depends on the coupling pattern and magnitudes only, so every J
scale of a sweep clamps the same spins.

Mean-field lower bounds are warm-started (:func:`warm_mean_field`): each conditioned model descends
from the unclamped solution m restricted to R.  Taking Q_C(sigma) = prod_c (1 + m_c sigma_c)/2 as the
weights, the chain rule of entropy gives sum_sigma Q_C(sigma) [G_sigma(m_R) - beta E_C(sigma)] + H(Q_C)
= S(m) - beta U(m), the unclamped bound, and logsumexp_sigma a_sigma >= sum_sigma w_sigma a_sigma + H(w)
for every distribution w: so the clamped bound from conditioned values at least G_sigma(m_R) is never
below the unclamped one.  With the zero-field halving, each kept configuration also descends from
-m_R (the mirror configuration's start) and keeps the better of the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import CertificateError
from .model import IsingModel, energy_scale

#: Most clamped spins: 2^12 = 4096 conditioned models, each a full run of the bounding method.
MAX_CLAMP = 12
#: Relative tolerance (of the energy scale sum|J| + sum|h|) of the conditioning check.
CHECK_RTOL = 1e-9


@dataclass(frozen=True)
class Conditioning:
    """The conditioned models of one model on every configuration of its clamped spins.

    Attributes
    ----------
    spins : ndarray of int64, shape (k,)
        The clamped spins, in bit order.
    rest : ndarray of int64, shape (N - k,)
        The other spins, ascending: spin ``rest[r]`` is spin r of every conditioned model.
    sigma : ndarray of float64, shape (M, k)
        The configurations of the clamped spins (+-1); M = 2^k, or 2^(k-1) when ``mirrored``.
    energy : ndarray of float64, shape (M,)
        E_C(sigma): the clamped part's own couplings and fields.
    models : tuple of IsingModel
        The M conditioned models on N - k spins (empty when every spin is clamped).
    mirrored : bool
        Every field is zero: only the configurations with the last clamped spin at +1 are listed, and
        the sums add ln 2.
    """

    spins: np.ndarray
    rest: np.ndarray
    sigma: np.ndarray
    energy: np.ndarray
    models: tuple
    mirrored: bool


def clamp_count(model: IsingModel, clamp: int) -> int:
    """Spins clamped for the setting ``clamp``: min(clamp, N).

    Parameters
    ----------
    model : IsingModel
        The instance.
    clamp : int
        The setting, 0 .. :data:`MAX_CLAMP`.

    Returns
    -------
    int
        The number k of clamped spins.
    """
    return min(int(clamp), model.n)


def runs(model: IsingModel, clamp: int) -> int:
    """Conditioned models bounded for the setting ``clamp`` (0 when it is 0; for the cost models).

    Parameters
    ----------
    model : IsingModel
        The instance.
    clamp : int
        The setting.

    Returns
    -------
    int
        2^k, or 2^(k-1) with every field zero (k = :func:`clamp_count`); 0 for k = 0.
    """
    k = clamp_count(model, clamp)
    if k == 0:
        return 0
    return 1 << (k - 1 if not np.any(model.fields) else k)


def choose_spins(model: IsingModel, clamp: int) -> np.ndarray:
    """The spins to clamp: the k = min(clamp, N) largest scores deg_i x sum_j |J_ij| (module docstring).

    Parameters
    ----------
    model : IsingModel
        The instance.
    clamp : int
        How many, 0 .. :data:`MAX_CLAMP`.

    Returns
    -------
    ndarray of int64, shape (k,)
        The spins, highest score first (ties: lower index first).

    Raises
    ------
    ValueError
        If ``clamp`` is negative or above :data:`MAX_CLAMP`.
    """
    if not 0 <= clamp <= MAX_CLAMP:
        raise ValueError(f"clamp must be 0 .. {MAX_CLAMP} (2^clamp conditioned models), got {clamp}")
    indptr, _, data = model.csr
    rows = np.repeat(np.arange(model.n), np.diff(indptr))
    score = np.diff(indptr) * np.bincount(rows, weights=np.abs(data), minlength=model.n)
    return np.argsort(-score, kind="stable")[:clamp_count(model, clamp)].astype(np.int64)


def condition(model: IsingModel, spins) -> Conditioning:
    """The conditioned models of ``model`` on every configuration of ``spins`` (module docstring).

    Parameters
    ----------
    model : IsingModel
        The instance (E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i).
    spins : array_like of int, shape (k,)
        Distinct spins to clamp, 0 <= k <= :data:`MAX_CLAMP`.

    Returns
    -------
    Conditioning
        The configurations, their energies E_C and the conditioned models.

    Raises
    ------
    ValueError
        For more than :data:`MAX_CLAMP` spins, a repeated spin or one outside 0 .. N-1.
    CertificateError
        If a conditioned model's energy plus E_C differs from the model's energy on a test configuration
        (never seen: it guards the layout).
    """
    from .exact.cutset import conditioning_csr
    from .kernels.cutset import cut_state

    spins = np.asarray(spins, dtype=np.int64).ravel()
    k, n = spins.size, model.n
    if k > MAX_CLAMP:
        raise ValueError(f"at most {MAX_CLAMP} spins can be clamped (2^k conditioned models), got {k}")
    if np.unique(spins).size != k or np.any((spins < 0) | (spins >= n)):
        raise ValueError(f"the clamped spins must be distinct spins 0 .. {n - 1}, got {spins.tolist()}")
    rest = np.setdiff1d(np.arange(n), spins).astype(np.int64)
    J, h = model.couplings, model.fields
    cc_ptr, cc_nbr, cc_edge, cf_ptr, cf_nbr, cf_edge = conditioning_csr(model, spins, rest)
    mirrored = k > 0 and not np.any(h)
    n_enum = k - 1 if mirrored else k
    M = 1 << n_enum
    local = np.full(n, -1, dtype=np.int64)
    local[rest] = np.arange(rest.size)
    inside = (local[model.edge_i] >= 0) & (local[model.edge_j] >= 0)
    ei, ej, Jr = local[model.edge_i[inside]], local[model.edge_j[inside]], J[inside]
    hC, hF = np.ascontiguousarray(h[spins]), np.ascontiguousarray(h[rest])
    ccJ, cfJ = np.ascontiguousarray(J[cc_edge]), np.ascontiguousarray(J[cf_edge])
    sigma, energy, models = np.empty((M, k)), np.empty(M), []
    gC, H = np.empty(k), np.empty(rest.size)
    # two test configurations of R for the check: all +1 and alternating signs
    tests = np.stack([np.ones(rest.size), 1.0 - 2.0 * (np.arange(rest.size) % 2)])
    full = np.empty((2, n))
    full[:, rest] = tests
    tol = CHECK_RTOL * max(energy_scale(model), 1.0)
    for t in range(M):
        energy[t], _ = cut_state(t, n_enum, sigma[t], gC, H, hC, hF, cc_ptr, cc_nbr, ccJ, cf_ptr, cf_nbr, cfJ)
        full[:, spins] = sigma[t]
        if rest.size:
            cm = IsingModel(rest.size, ei, ej, Jr, H.copy())
            models.append(cm)
            mine = energy[t] + cm.energy(tests)
        else:
            mine = np.full(2, energy[t])
        if np.max(np.abs(mine - model.energy(full))) > tol:
            raise CertificateError(f"clamping check failed: the conditioned model of configuration {t} of the "
                                   f"clamped spins {spins.tolist()} does not reproduce the model's energy")
    return Conditioning(spins, rest, sigma, energy, tuple(models), bool(mirrored))


def combine(cond: Conditioning, betas, values) -> np.ndarray:
    """logsumexp_sigma [ -beta E_C(sigma) + values[sigma] ] (+ ln 2 when mirrored): a bound on ln Z on
    the side of the conditioned bounds ``values``.

    Parameters
    ----------
    cond : Conditioning
        The conditioning.
    betas : array_like of float, shape (nb,)
        Inverse temperatures, >= 0.
    values : array_like of float, shape (M, nb)
        Bounds on ln Z of each conditioned model at each beta (0 when every spin is clamped).

    Returns
    -------
    ndarray of float64, shape (nb,)
        The bound on ln Z (nats, total).
    """
    from scipy.special import logsumexp

    b = np.asarray(betas, dtype=np.float64)
    terms = np.asarray(values, dtype=np.float64) - cond.energy[:, None] * b[None, :]
    return logsumexp(terms, axis=0) + (np.log(2.0) if cond.mirrored else 0.0)


def split_progress(progress: Callable[[float], None] | None, model: IsingModel, clamp: int):
    """``progress`` scaled by 1 / (1 + :func:`runs`): each of the unclamped and conditioned runs of a method
    reports its full count of units, and together they report the method's total once.

    Parameters
    ----------
    progress : callable(step) or None
        The method's progress callback.
    model : IsingModel
        The instance.
    clamp : int
        The setting.

    Returns
    -------
    callable(step) or None
        The scaled callback (``progress`` itself when nothing is clamped).
    """
    parts = 1 + runs(model, clamp)
    if progress is None or parts == 1:
        return progress
    return lambda step=1.0: progress(step / parts)


def clamped(model: IsingModel, betas, clamp: int, bound: Callable, progress=None, spins=None) -> np.ndarray:
    """The clamped bound: :func:`combine` of ``bound`` over the conditioned models of :func:`choose_spins`.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures, >= 0.
    clamp : int
        How many spins to clamp, 1 .. :data:`MAX_CLAMP` (min(clamp, N) are).
    bound : callable(cond, index, progress) -> array of float, shape (nb,)
        A certified bound on ln Z of the conditioned model ``cond.models[index]`` (:class:`Conditioning`)
        at every beta; ``progress`` is the callback for that run (or None).
    progress : callable(step) or None
        Already scaled (:func:`split_progress`); each conditioned run gets it.
    spins : array_like of int or None
        The clamped spins (default :func:`choose_spins`).

    Returns
    -------
    ndarray of float64, shape (nb,)
        The bound on ln Z on the side of ``bound``'s.

    Raises
    ------
    CertificateError
        From :func:`condition`.
    """
    cond = condition(model, choose_spins(model, clamp) if spins is None else spins)
    b = np.asarray(betas, dtype=np.float64)
    values = np.zeros((cond.energy.size, b.size))
    for t in range(len(cond.models)):
        values[t] = bound(cond, t, progress)
    return combine(cond, b, values)


def warm_mean_field(cond: Conditioning, index: int, betas, sites, *, max_sweeps: int, tol: float) -> np.ndarray:
    """Naive mean-field lower bounds on ln Z of conditioned model ``index`` from the unclamped solution
    (module docstring): sequential coordinate descent from m_R (and from -m_R when mirrored), which never
    raises the mean-field free energy, so each value is at least the bound at the start.

    Parameters
    ----------
    cond : Conditioning
        The conditioning.
    index : int
        The configuration, 0 .. M-1.
    betas : array_like of float, shape (nb,)
        Inverse temperatures, >= 0.
    sites : ndarray of float64, shape (nb, N)
        The unclamped mean-field magnetisations at each beta.
    max_sweeps : int
        Sweeps allowed per descent.
    tol : float
        Convergence threshold on max_i |delta m_i| over a sweep.

    Returns
    -------
    ndarray of float64, shape (nb,)
        S(m) - beta U(m) at the end of the better descent, per beta (nats).
    """
    from .kernels.meanfield import _mf_energy_entropy, _mf_solve

    cm = cond.models[index]
    indptr, indices, data = cm.csr
    out = np.empty(len(betas))
    for q, beta in enumerate(np.asarray(betas, dtype=np.float64)):
        best = -np.inf
        for sign in ((1.0, -1.0) if cond.mirrored else (1.0,)):
            m = np.ascontiguousarray(sign * sites[q, cond.rest])
            _mf_solve(indptr, indices, data, cm.fields, beta, m, max_sweeps, tol)
            u, s, _ = _mf_energy_entropy(indptr, indices, data, cm.fields, m)
            best = max(best, s - beta * u)
        out[q] = best
    return out
