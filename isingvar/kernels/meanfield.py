"""Naive mean-field kernels.

Trial distribution Q(s) = prod_i (1 + m_i s_i)/2.  Its variational free energy
(MacKay, *Information Theory, Inference, and Learning Algorithms*, eq. 33.23-33.32)

    beta F~(m) = beta U(m) - S(m),
    U(m) = -sum_{i<j} J_ij m_i m_j - sum_i h_i m_i,
    S(m) = sum_i H2((1 + m_i)/2),   H2(p) = -p ln p - (1-p) ln(1-p)  [nats]

is convex in each m_i alone, with minimiser m_i = tanh(beta g_i),
g_i = h_i + sum_j J_ij m_j.  A sequential (Gauss-Seidel) sweep of these updates
therefore never increases F~.  Sites of one colour class (no coupling between them)
are updated at once, which is the same sequential sweep in the colour order
(:func:`_colour_solve`); the sites are then numbered class by class.
"""

import math

import numpy as np
from numba import prange

from ._jit import bits_float, float_bits, njit, pjit
from .blocked import _exp_neg
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


# ---------------------------------------------------------------------------- colour classes
#
# Sites of one colour class share no coupling, so the minimiser of F~ in each of them
# (m_i = tanh(beta g_i)) depends only on the other classes: updating a whole class at once
# is the same as updating its sites one after another, in any order.  A sweep over the classes
# is therefore an exact sequential (Gauss-Seidel) sweep in the colour order, F~ never rises,
# and the result does not depend on how the class is split among threads.

#: Sites per piece of a colour class: one piece is updated in three short loops whose
#: buffers stay in L1, and pieces are what the threads share.
PIECE = 1024

# tanh on |x| < 0.625: x + x^3 P(x^2) / Q(x^2), Cephes (S. L. Moshier, Cephes Math Library,
# tanh.c; the same coefficients as Go's math.Tanh), relative error ~2e-16 there
_TP0 = -9.64399179425052238628e-1
_TP1 = -9.92877231001918586564e1
_TP2 = -1.61468768441708447952e3
_TQ0 = 1.12811678491632931402e2
_TQ1 = 2.23548839060100448583e3
_TQ2 = 4.84406305325125486048e3


@njit
def _greedy_colouring(indptr, indices):
    """First-fit colouring of the graph in site order: colour int64 (N,), no edge inside a colour.

    Site i takes the smallest colour none of its already coloured neighbours has,
    so at most (max degree + 1) colours are used: 2 on a bipartite lattice whose
    site order alternates (square, cubic with even L or open boundaries), d + 1 at
    most on a d-regular graph, N on a complete graph.
    """
    n = indptr.size - 1
    colour = np.full(n, -1, dtype=np.int64)
    seen = np.full(n + 1, -1, dtype=np.int64)  # seen[c] == i: a neighbour of i has colour c
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            c = colour[indices[p]]
            if c >= 0:
                seen[c] = i
        c = 0
        while seen[c] == i:
            c += 1
        colour[i] = c
    return colour


# error_model="numpy": a float division is plain IEEE (numba's default tests for a zero divisor
# and raises, which keeps the loops scalar); no divisor below can be zero
@njit(error_model="numpy")
def _tanh_from_exp(x, e):
    """tanh(x) given e = exp(-2|x|), branch-free so that a loop over it vectorises.

    Below |x| = 0.625 Cephes' x + x^3 P(x^2)/Q(x^2); above, sign(x) (1 - e)/(1 + e)
    (no cancellation there: e < 0.29).  One division either way.
    """
    x2 = x * x
    small = abs(x) < 0.625
    num = x * x2 * ((_TP0 * x2 + _TP1) * x2 + _TP2) if small else math.copysign(1.0 - e, x)
    den = (((x2 + _TQ0) * x2 + _TQ1) * x2 + _TQ2) if small else 1.0 + e
    return (x if small else 0.0) + num / den


@njit(error_model="numpy")
def _tanh_array(x, e, out):
    """out[k] = tanh(x[k]) for float64 arrays, vectorised (no libm call): e is scratch of x's size.

    The same two steps (:func:`isingvar.kernels.blocked._exp_neg`, then :func:`_tanh_from_exp`)
    as :func:`_update_piece`, where they are fused with the local fields (one pass fewer).

    Relative error within a few 1e-16 of tanh (tested against mpmath); |x| > 354 gives +-1
    (exp(-2|x|) is then floored at ~1e-307 by :func:`isingvar.kernels.blocked._exp_neg`).
    """
    for k in range(x.size):
        e[k] = abs(x[k])
    _exp_neg(e, 2.0, out)  # out of place: LLVM's overlap check sends an in-place call to its scalar loop
    for k in range(x.size):
        out[k] = _tanh_from_exp(x[k], out[k])


@njit(error_model="numpy")
def _update_piece(indptr, indices, data, h, beta, m, lo, hi, x, e, tol):
    """m_i <- tanh(beta g_i) for the sites lo..hi-1 of one colour class (no two of them coupled).

    ``x`` is scratch of at least hi - lo, ``e`` of at least 2 (hi - lo).  Returns how many m_i moved
    by tol or more.
    """
    k = hi - lo
    x = x[:k]
    a = e[:k]  # |beta g_i|
    w = e[k:2 * k]  # exp(-2 |beta g_i|): apart from a, since LLVM's overlap check sends an in-place
    for q in range(k):  # exp to its scalar loop (4.8 against 1.3 ns per exp)
        i = lo + q
        g = h[i]
        for p in range(indptr[i], indptr[i + 1]):
            g += data[p] * m[indices[p]]
        x[q] = beta * g
        a[q] = abs(x[q])
    _exp_neg(a, 2.0, w)
    mm = m[lo:hi]
    moved = 0
    for q in range(k):
        new = _tanh_from_exp(x[q], w[q])
        moved += abs(new - mm[q]) >= tol
        mm[q] = new
    return moved


@njit
def _colour_solve(indptr, indices, data, h, beta, cstart, m, max_sweeps, tol, x, e):
    """Sweeps over the colour classes cstart[c]..cstart[c+1]-1, in place, on this thread alone.

    The same contract as :func:`_mf_solve` (until every |dm_i| < tol); ``x``, ``e``: scratch of PIECE
    and 2 PIECE.
    """
    for sweep in range(1, max_sweeps + 1):
        moved = 0
        for c in range(cstart.size - 1):
            for lo in range(cstart[c], cstart[c + 1], PIECE):
                hi = min(lo + PIECE, cstart[c + 1])
                moved += _update_piece(indptr, indices, data, h, beta, m, lo, hi, x, e, tol)
        if moved == 0:
            return sweep, True
    return max_sweeps, False


@pjit
def _colour_solve_wide(indptr, indices, data, h, beta, cstart, m, max_sweeps, tol):
    """:func:`_colour_solve` with each class's pieces shared among the threads (one large run).

    The pieces of a class are independent (no coupling inside a class), so the
    result is the same on any number of threads.
    """
    n_pieces = 0
    for c in range(cstart.size - 1):
        n_pieces = max(n_pieces, (cstart[c + 1] - cstart[c] + PIECE - 1) // PIECE)
    moved = np.zeros(n_pieces, dtype=np.int64)
    for sweep in range(1, max_sweeps + 1):
        total = 0
        for c in range(cstart.size - 1):
            a, b = cstart[c], cstart[c + 1]
            pieces = (b - a + PIECE - 1) // PIECE
            for q in prange(pieces):
                x = np.empty(PIECE)
                e = np.empty(2 * PIECE)
                lo = a + q * PIECE
                moved[q] = _update_piece(indptr, indices, data, h, beta, m, lo, min(lo + PIECE, b), x, e, tol)
            total += moved[:pieces].sum()
        if total == 0:
            return sweep, True
    return max_sweeps, False


@pjit
def _mf_colour_many(indptr, indices, data, h, beta, cstart, starts, active, max_sweeps, tol, sweeps, converged,
                    stats):
    """:func:`_mf_solve_many` with colour-class sweeps (:func:`_colour_solve`), one run per thread.

    Gives the same numbers as :func:`_colour_solve_wide` and :func:`_mf_stats_wide` run by run.
    """
    for r in prange(starts.shape[0]):
        if not active[r]:
            continue
        m = starts[r]
        x = np.empty(PIECE)
        e = np.empty(2 * PIECE)
        done, conv = _colour_solve(indptr, indices, data, h, beta, cstart, m, max_sweeps, tol, x, e)
        sweeps[r] += done
        converged[r] = conv
        u, s, total = _mf_stats_pieces(indptr, indices, data, h, m)
        stats[r, 0] = beta * u - s
        stats[r, 1] = u
        stats[r, 2] = s
        stats[r, 3] = total


_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts (Cody-Waite; fdlibm's e_log.c): k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
_TWO52 = 4503599627370496.0
_TWO52_BITS = 0x4330000000000000  # the bits of 2^52: (bits | e) - 2^52 is the integer e as a float
# 1 / (2j + 1): the series 2 atanh(z) = 2 z sum_j z^(2j) / (2j + 1)
_A1, _A2, _A3, _A4, _A5, _A6, _A7, _A8, _A9, _A10, _A11 = (1.0 / (2 * j + 1) for j in range(1, 12))


@njit(error_model="numpy")
def _ln(y):
    """ln y for a normal float64 y > 0, branch-free so that a loop over it vectorises (no libm call).

    y = 2^k f with f in [sqrt(1/2), sqrt(2)); ln f = 2 atanh(z), z = (f - 1)/(f + 1), |z| <= 0.172, by
    its series to z^23 (next term < 1e-18 relative); ln y = k ln 2 + ln f with ln 2 in two parts.
    Within a few 1e-16 relative of ln (tested against mpmath).  Zero, subnormal, negative or non-finite y:
    undefined (the callers never pass them).
    """
    b = float_bits(y)
    e = b >> 52
    f = bits_float((b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = f > _SQRT2
    f = f * 0.5 if big else f
    e = e + 1 if big else e
    k = bits_float(e | _TWO52_BITS) - (_TWO52 + 1023.0)
    z = (f - 1.0) / (f + 1.0)
    w = z * z
    s = w * _A11 + _A10
    s = s * w + _A9
    s = s * w + _A8
    s = s * w + _A7
    s = s * w + _A6
    s = s * w + _A5
    s = s * w + _A4
    s = s * w + _A3
    s = s * w + _A2
    s = s * w + _A1
    s = s * w + 1.0
    return k * _LN2_HI + (2.0 * z * s + k * _LN2_LO)


@njit(error_model="numpy")
def _entropy_sum(m, buf):
    """sum_i H2((1 + m_i)/2) in nats for m_i in [-1, 1] (0 ln 0 = 0): :func:`_binary_entropy` term by term,
    with :func:`_ln` (agrees to a few 1e-16), formed in one vectorised pass into ``buf`` (len(m) at
    least) and added in order (a float sum would keep the loop scalar).  Written out in the loop: called
    through a helper function, the loop stayed scalar (4x slower)."""
    k = m.size
    for i in range(k):
        p = 0.5 * (1.0 + m[i])
        q = 0.5 * (1.0 - m[i])
        # p, q are 0 or >= 2^-54 for m in [-1, 1]: never subnormal
        buf[i] = -(p * _ln(p if p > 0.0 else 1.0) + q * _ln(q if q > 0.0 else 1.0))
    s = 0.0
    for i in range(k):
        s += buf[i]
    return s


@njit
def _stats_piece(indptr, indices, data, h, m, q, part):
    """part[q] = (U, S, sum m_i) over the sites of piece q (PIECE sites from q * PIECE)."""
    e = 0.0
    t = 0.0
    lo, hi = q * PIECE, min((q + 1) * PIECE, m.size)
    for i in range(lo, hi):
        g = _local_field(indptr, indices, data, h, m, i)
        e -= m[i] * (0.5 * (g - h[i]) + h[i])  # as in _energy
        t += m[i]
    part[q, 0] = e
    part[q, 1] = _entropy_sum(m[lo:hi], np.empty(hi - lo))
    part[q, 2] = t


@njit
def _sum_pieces(part):
    e = 0.0
    s = 0.0
    t = 0.0
    for q in range(part.shape[0]):
        e += part[q, 0]
        s += part[q, 1]
        t += part[q, 2]
    return e, s, t


@njit
def _mf_stats_pieces(indptr, indices, data, h, m):
    """:func:`_mf_energy_entropy` summed piece by piece (the same numbers as :func:`_mf_stats_wide`)."""
    part = np.empty(((m.size + PIECE - 1) // PIECE, 3))
    for q in range(part.shape[0]):
        _stats_piece(indptr, indices, data, h, m, q, part)
    return _sum_pieces(part)


@pjit
def _mf_stats_wide(indptr, indices, data, h, m):
    """:func:`_mf_stats_pieces` with the pieces shared among the threads.

    The pieces' partial sums are added in piece order, so the result is the same on any
    number of threads, and the same as :func:`_mf_stats_pieces`.
    """
    part = np.empty(((m.size + PIECE - 1) // PIECE, 3))
    for q in prange(part.shape[0]):
        _stats_piece(indptr, indices, data, h, m, q, part)
    return _sum_pieces(part)
