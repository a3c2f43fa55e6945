"""Naive mean-field kernels.

Trial distribution Q(s) = prod_i (1 + m_i s_i)/2.  Its variational free energy
(MacKay, *Information Theory, Inference, and Learning Algorithms*, eq. 33.23-33.32)

    beta F~(m) = beta U(m) - S(m),
    U(m) = -sum_{i<j} J_ij m_i m_j - sum_i h_i m_i,
    S(m) = sum_i H2((1 + m_i)/2),   H2(p) = -p ln p - (1-p) ln(1-p)  [nats]

is convex in each m_i alone, with minimiser m_i = tanh(beta g_i),
g_i = h_i + sum_j J_ij m_j.  A sequential (Gauss-Seidel) sweep of these updates
therefore never increases F~.
"""

import numpy as np
from numba import prange

from ._jit import njit, pjit
from .energy import _energy, _local_field


@njit
def _binary_entropy(m):
    """H2((1+m)/2) in nats; exact 0 at m = +-1 (0 ln 0 = 0)."""
    p = 0.5 * (1.0 + m)
    q = 0.5 * (1.0 - m)
    s = 0.0
    if p > 0.0:
        s -= p * np.log(p)
    if q > 0.0:
        s -= q * np.log(q)
    return s


@njit
def _mf_energy_entropy(indptr, indices, data, h, m):
    """(U(m), S(m), sum_i m_i) of the product distribution; see module docstring."""
    entropy = 0.0
    total = 0.0
    for i in range(m.size):
        entropy += _binary_entropy(m[i])
        total += m[i]
    return _energy(indptr, indices, data, h, m), entropy, total


@njit
def _mf_solve(indptr, indices, data, h, beta, m, max_sweeps, tol):
    """Sequential updates m_i <- tanh(beta g_i) in place until max |dm| < tol.

    Returns
    -------
    sweeps : int
        Sweeps done (each visits every site once).
    converged : bool
        Whether the last sweep changed no m_i by tol or more.
    """
    for sweep in range(1, max_sweeps + 1):
        delta = 0.0
        for i in range(m.size):
            new = np.tanh(beta * _local_field(indptr, indices, data, h, m, i))
            d = abs(new - m[i])
            if d > delta:
                delta = d
            m[i] = new
        if delta < tol:
            return sweep, True
    return max_sweeps, False


@pjit
def _mf_solve_many(indptr, indices, data, h, beta, starts, max_sweeps, tol):
    """Run :func:`_mf_solve` from every row of ``starts`` (K, N), in parallel, in place.

    Returns
    -------
    sweeps : int64 (K,)
    converged : bool (K,)
    u, s, total_m : float64 (K,)
        U(m), S(m) and sum_i m_i at each final m.
    """
    k = starts.shape[0]
    sweeps = np.empty(k, dtype=np.int64)
    converged = np.empty(k, dtype=np.bool_)
    u = np.empty(k)
    s = np.empty(k)
    total_m = np.empty(k)
    for r in prange(k):
        m = starts[r]
        sweeps[r], converged[r] = _mf_solve(indptr, indices, data, h, beta, m, max_sweeps, tol)
        u[r], s[r], total_m[r] = _mf_energy_entropy(indptr, indices, data, h, m)
    return sweeps, converged, u, s, total_m
