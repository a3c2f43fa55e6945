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
            delta = max(delta, d)
            m[i] = new
        if delta < tol:
            return sweep, True
    return max_sweeps, False


@pjit
def _mf_solve_many(indptr, indices, data, h, beta, starts, active, max_sweeps, tol, sweeps, converged, stats):
    """Advance every active row of ``starts`` (K, N) by up to ``max_sweeps`` sweeps, in parallel.

    Rows run :func:`_mf_solve` in place; rows with ``active[r]`` false are left
    untouched, and so are their outputs.  For each active row r:

    - ``sweeps[r]`` (int64) grows by the sweeps done;
    - ``converged[r]`` (bool) tells whether max |dm_i| < tol was reached;
    - ``stats[r]`` (float64, 4) becomes (beta F~, U, S, sum_i m_i) at the new m,
      with beta F~ = beta U - S.
    """
    for r in prange(starts.shape[0]):
        if not active[r]:
            continue
        m = starts[r]
        done, conv = _mf_solve(indptr, indices, data, h, beta, m, max_sweeps, tol)
        sweeps[r] += done
        converged[r] = conv
        u, s, total = _mf_energy_entropy(indptr, indices, data, h, m)
        stats[r, 0] = beta * u - s
        stats[r, 1] = u
        stats[r, 2] = s
        stats[r, 3] = total
