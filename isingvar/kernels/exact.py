"""Exact enumeration of all 2^N states in Gray-code order.

Spin i of state t is ``s_i = 1 - 2 * bit_i(gray(t))`` with
``gray(t) = t ^ (t >> 1)``, so consecutive states differ by one flip, of spin
``ctz(t)`` (Knuth, TAOCP vol. 4A, sec. 7.2.1.1).  The energy is updated in
O(degree) per flip through the local fields g_i = h_i + sum_j J_ij s_j:
flipping s_k changes E by 2 s_k g_k (Newman & Barkema, *Monte Carlo Methods in
Statistical Physics*, eq. 3.10).

The 2^N states are cut into 2^(N-b) chunks of 2^b consecutive Gray indices.
Each chunk starts from a state computed from scratch (bounding round-off
drift of the incremental energy) and runs in its own thread.

Every beta of the grid is accumulated in the same pass.  Weights are taken
relative to the lowest energy seen so far, w = exp(-beta (E - E_lo)) <= 1, and
the sums are rescaled when a lower energy appears, so nothing overflows or
underflows at any beta * N.  Energy moments are kept about E_lo, which keeps
Var(E) accurate at large beta where the raw second moment would cancel.
"""

import numpy as np
from numba import prange

from ._jit import njit, pjit

#: Accumulator rows: sum w, sum w x, sum w x^2, sum w M, sum w M^2, sum w |M|
#: with x = E - E_lo and M = sum_i s_i.
N_MOMENTS = 6


@njit
def _rescale(acc, betas, d):
    """Move the sums in ``acc`` (nb, 6) from reference energy E_lo to E_lo - d, d > 0."""
    for b in range(betas.size):
        f = np.exp(-betas[b] * d)
        s0, s1, s2 = acc[b, 0], acc[b, 1], acc[b, 2]
        acc[b, 0] = s0 * f
        acc[b, 1] = (s1 + d * s0) * f
        acc[b, 2] = (s2 + 2.0 * d * s1 + d * d * s0) * f
        acc[b, 3] *= f
        acc[b, 4] *= f
        acc[b, 5] *= f


@pjit
def _enumerate_chunks(indptr, indices, data, h, betas, chunk_bits):
    """Accumulate Boltzmann sums over all 2^N states for every beta.

    Parameters
    ----------
    indptr, indices, data : int64 (N+1,), int64 (2E,), float64 (2E,)
        Symmetric CSR couplings (see :mod:`isingvar.kernels`).
    h : float64 (N,)
        Fields.
    betas : float64 (nb,)
        Inverse temperatures, >= 0.
    chunk_bits : int
        log2 of the states per chunk, 0 <= chunk_bits <= N.

    Returns
    -------
    e_lo : float64 (n_chunks,)
        Lowest energy of each chunk.
    t_lo : int64 (n_chunks,)
        Gray index t of a state with that energy.
    acc : float64 (n_chunks, nb, 6)
        Sums about e_lo of each chunk; rows as in :data:`N_MOMENTS`.
    """
    n = h.size
    nb = betas.size
    size = np.int64(1) << chunk_bits
    n_chunks = np.int64(1) << (n - chunk_bits)
    e_lo = np.empty(n_chunks)
    t_lo = np.empty(n_chunks, dtype=np.int64)
    acc = np.zeros((n_chunks, nb, N_MOMENTS))
    for c in prange(n_chunks):
        s = np.empty(n)
        g = np.empty(n)
        t0 = c * size
        code = t0 ^ (t0 >> 1)
        for i in range(n):
            s[i] = 1.0 - 2.0 * ((code >> i) & 1)
        energy = 0.0
        mag = 0.0
        for i in range(n):
            gi = h[i]
            for p in range(indptr[i], indptr[i + 1]):
                gi += data[p] * s[indices[p]]
            g[i] = gi
            energy -= 0.5 * s[i] * (gi + h[i])
            mag += s[i]
        elo = energy
        tlo = t0
        a = acc[c]
        for local in range(size):
            if local > 0:
                # the Gray code flips bit ctz(t) on the step t-1 -> t
                k = 0
                rest = local
                while (rest & 1) == 0:
                    rest >>= 1
                    k += 1
                sk = s[k]
                energy += 2.0 * sk * g[k]
                s[k] = -sk
                mag -= 2.0 * sk
                for p in range(indptr[k], indptr[k + 1]):
                    g[indices[p]] -= 2.0 * data[p] * sk
            x = energy - elo
            if x < 0.0:
                _rescale(a, betas, -x)
                elo = energy
                tlo = t0 + local
                x = 0.0
            absmag = abs(mag)
            for b in range(nb):
                w = np.exp(-betas[b] * x)
                wx = w * x
                wm = w * mag
                a[b, 0] += w
                a[b, 1] += wx
                a[b, 2] += wx * x
                a[b, 3] += wm
                a[b, 4] += wm * mag
                a[b, 5] += w * absmag
        e_lo[c] = elo
        t_lo[c] = tlo
    return e_lo, t_lo, acc


def merge_chunks(e_lo, acc, betas):
    """Combine per-chunk sums into one set about the global lowest energy.

    Parameters
    ----------
    e_lo : float64 (n_chunks,)
    acc : float64 (n_chunks, nb, 6)
    betas : float64 (nb,)

    Returns
    -------
    e0 : float
        The lowest energy over all chunks (the ground-state energy).
    total : float64 (nb, 6)
        Sums about e0.
    """
    e0 = e_lo.min()
    d = (e_lo - e0)[:, None]  # >= 0: each chunk's reference lies above e0
    f = np.exp(-betas[None, :] * d)
    s0, s1, s2 = acc[..., 0], acc[..., 1], acc[..., 2]
    total = np.empty(acc.shape[1:])
    total[:, 0] = (f * s0).sum(0)
    total[:, 1] = (f * (s1 + d * s0)).sum(0)
    total[:, 2] = (f * (s2 + 2.0 * d * s1 + d * d * s0)).sum(0)
    total[:, 3:] = (f[..., None] * acc[..., 3:]).sum(0)
    return e0, total


def gray_spins(t, n):
    """Spins (float64, shape (n,)) of Gray index t, in the kernel's convention.

    Parameters
    ----------
    t : int
        Gray index, 0 <= t < 2^n.
    n : int
        Number of spins.

    Returns
    -------
    ndarray of float64, shape (n,)
        s_i = 1 - 2 * bit_i(gray(t)), gray(t) = t ^ (t >> 1) (module docstring): entries +-1.
    """
    code = int(t) ^ (int(t) >> 1)
    return 1.0 - 2.0 * ((code >> np.arange(n)) & 1).astype(np.float64)
