"""Blocked Gray-code enumeration: the fast exact kernel.

The spins are split into a low block of k spins (0..k-1) and a high block
(k..N-1).  The 2^k low configurations, their energies E_low[l] and their
coupling to each high spin, C[j, l] = -sum_{i<k} J_{i,k+j} s_i(l), are
tabulated once.  The high block runs in Gray-code order (one flip per step);
for each high configuration the energies of all 2^k states are

    E = E_high + E_low[l] + cross[l],   cross[l] = sum_j s_j C[j, l],

and a flip of high spin j updates cross by -2 s_j C[j, :], a loop over l that
vectorises.  The low configurations are tabulated in order of their
magnetisation, so that M = M_low + M_high is constant over each of the k + 1
groups of equal M_low: per state and beta only the energy sums are formed
(w, w y, w y^2), and each group's total weight is filed by M, from which the
magnetisation moments follow.

Work is split into chunks of the high Gray sequence; each chunk is started
from scratch (no round-off drift across chunks) and chunks are dealt
round-robin to ``n_workers`` threads, each with its own accumulators.

Three ways of summing over beta (see :func:`_accumulate`):

- ``DIRECT``: one vectorised exp per state and beta;
- ``CHAIN`` (arithmetic beta grid beta_b = beta_0 + b dbeta): two exps per
  state, then w_{b+1} = w_b exp(-dbeta y) by one multiplication, four betas
  per pass over the states;
- the integer path (:func:`_histogram_chunks`): an exact histogram of
  (energy / quantum, magnetisation) counts, independent of the betas.

Weights are exp(-beta (E - E_ref)) with E_ref the lowest energy a worker has
seen, so every weight is <= 1; sums are rescaled when E_ref drops.  The states
exactly at E_ref (weight 1 at every beta) are counted apart from the sum of the
others' weights, so that ln sum w = ln(n_ref + rest) keeps the rest where it is
far below the rounding of 1 (large beta: the entropy is that rest), and the
weights by magnetisation are returned whole, so that Var(M) is formed about its
mean instead of as <M^2> - <M>^2 (:mod:`isingvar.exact.enumeration`).
"""

import numpy as np
from numba import prange

from ._jit import FAST, bits_float, float_bits, njit, pjit
from .exact import _rescale

DIRECT = 0
CHAIN = 1

_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # Cody & Waite split of ln 2: k * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10
# 1.5 * 2^52 + 1023: for an integer k, |k| <= 1022, the low 12 bits of k + _EXP_MAGIC are k + 1023
# (AVX2 has no packed float64-to-int64 conversion, which kept the exp partly scalar)
_EXP_MAGIC = 6755399441055744.0 + 1023.0
# Taylor coefficients 1/n! of exp on |f| <= ln2 / 2: truncation error < 2e-16
_C = tuple(1.0 / float(np.prod(np.arange(1, n + 1))) for n in range(13))
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12 = _C



@njit(fastmath=FAST)
def _exp_neg(y, beta, out):
    """out[l] = exp(-beta * y[l]) for y >= 0, vectorised (no libm call).

    Range reduction x = k ln2 + f, |f| <= ln2/2 (Cody & Waite; Muller,
    *Elementary Functions*, ch. 11), the degree-12 Taylor polynomial of exp(f)
    in Estrin's scheme, and 2^k written into the exponent bits (k + 1023
    from the low bits of k + 1.5 * 2^52, shifted by 52).  Relative error
    < 5e-16 (checked against numpy on 2e6 arguments in [-707, 0]).  Estrin's
    tree instead of Horner's chain of 13 dependent FMAs: 1.14 -> 1.02 ns per
    exp; one loop with bit casts in registers instead of three through
    memory: 1.7 -> 1.14 ns.  Arguments below -707 give ~1e-307 instead of
    underflowing (negligible next to the largest weight, 1).
    """
    for l in range(y.size):
        x = max(-beta * y[l], -707.0)
        k = np.floor(x * _LOG2E + 0.5)
        f = (x - k * _LN2_HI) - k * _LN2_LO
        f2 = f * f
        f4 = f2 * f2
        r0 = (_C0 + _C1 * f) + (_C2 + _C3 * f) * f2
        r1 = (_C4 + _C5 * f) + (_C6 + _C7 * f) * f2
        r2 = (_C8 + _C9 * f) + (_C10 + _C11 * f) * f2
        p = (r0 + r1 * f4) + (r2 + _C12 * f4) * (f4 * f4)
        out[l] = p * bits_float(float_bits(k + _EXP_MAGIC) << 52)


@njit(fastmath=FAST)
def _group_sums(w, r, y, lo, hi):
    """(sum w, sum w y, sum w y^2) over states lo..hi-1, then w *= r there (one beta).

    The loop runs over slices: with an offset index (lo + i) numba's
    wrap-around code for negative indices kept it scalar.
    """
    w = w[lo:hi]
    r = r[lo:hi]
    y = y[lo:hi]
    a0 = a1 = a2 = 0.0
    for l in range(w.size):
        v = w[l]
        vy = v * y[l]
        a0 += v
        a1 += vy
        a2 += vy * y[l]
        w[l] = v * r[l]
    return a0, a1, a2


@njit
def _group_sums_split(w, r, y, lo, hi):
    """:func:`_group_sums` with the states exactly at the reference energy (y == 0: weight 1 at every
    beta) counted apart: (sum of w over y > 0, sum w y, sum w y^2, states with y == 0), then w *= r.

    Scalar; taken only for a block that set a new reference (:func:`_rebase`), a few per worker and
    call, so its speed does not matter.
    """
    w = w[lo:hi]
    r = r[lo:hi]
    y = y[lo:hi]
    a0 = a1 = a2 = c = 0.0
    for l in range(w.size):
        v = w[l]
        if y[l] == 0.0:
            c += 1.0
        else:
            vy = v * y[l]
            a0 += v
            a1 += vy
            a2 += vy * y[l]
        w[l] = v * r[l]
    return a0, a1, a2, c


@njit(fastmath=FAST)
def _group_sums4(w, r, y, lo, hi, low=None, b=0):
    """:func:`_group_sums` at four consecutive betas of the chain in one pass.

    Returns (sum w, sum w y, sum w y^2) at w, w r, w r^2, w r^3 (a 12-tuple)
    and leaves w r^4.  Four betas per pass share the loads of w, r and y and
    give four independent accumulator sets, so the vector adds and FMAs do not
    wait on their own previous results; twelve accumulators still fit the 16
    vector registers of AVX2.  With ``low`` (per-site sums, see
    :func:`_add_low`; rows up to b + 3) the four weights of each state are also
    added to low[b..b+3, l].  ``low is None`` is decided when numba compiles, so
    the call without it has no trace of it in its loop (a run-time flag kept
    the loop scalar).  Fused, the per-site additions ran 1.7x faster than a
    separate pass in isolation (the same in the kernel, where the table's
    memory traffic dominates).
    """
    w = w[lo:hi]
    r = r[lo:hi]
    y = y[lo:hi]
    if low is not None:
        l0, l1, l2, l3 = low[b, lo:hi], low[b + 1, lo:hi], low[b + 2, lo:hi], low[b + 3, lo:hi]
    a0 = a1 = a2 = b0 = b1 = b2 = c0 = c1 = c2 = d0 = d1 = d2 = 0.0
    for l in range(w.size):
        q = r[l]
        yl = y[l]
        v = w[l]
        if low is not None:
            l0[l] += v
        vy = v * yl
        a0 += v
        a1 += vy
        a2 += vy * yl
        v = v * q
        if low is not None:
            l1[l] += v
        vy = v * yl
        b0 += v
        b1 += vy
        b2 += vy * yl
        v = v * q
        if low is not None:
            l2[l] += v
        vy = v * yl
        c0 += v
        c1 += vy
        c2 += vy * yl
        v = v * q
        if low is not None:
            l3[l] += v
        vy = v * yl
        d0 += v
        d1 += vy
        d2 += vy * yl
        w[l] = v * q
    return a0, a1, a2, b0, b1, b2, c0, c1, c2, d0, d1, d2


@njit
def _add_group(acc, zm, b, m_index, s0, s1, s2):
    """One magnetisation group's sums at beta b: energy sums into acc[b, :3], weight into zm[b, m_index]."""
    acc[b, 0] += s0
    acc[b, 1] += s1
    acc[b, 2] += s2
    zm[b, m_index] += s0


@njit
def _accumulate(acc, zm, y, w, r, ones, betas, mode, dbeta, gstart, mu, m_high, sites, s, k, site, low, zero, at_ref):
    """Add the weights of one high configuration's 2^k states: energy sums to acc[:, :3], weights by M to ``zm``.

    With ``zero`` (the block set the reference: its state has y == 0) the block is summed one beta at
    a time by :func:`_group_sums_split`: the states at y == 0 go to ``at_ref[0]`` (float64 (1,), a
    count: their weight is 1 at every beta) and to ``zm``, not to acc[:, 0], which holds the weight
    of the other states.

    The low states are ordered by their magnetisation ``mu[g]`` in groups
    gstart[g]..gstart[g+1]-1, so M = mu[g] + M_high is constant in a group:
    per state and beta only sum w, sum w y and sum w y^2 are formed, and each
    group's weight goes to zm[b, (M + N)/2], from which
    :func:`_magnetisation_moments` forms the magnetisation sums acc[:, 3:6] at
    the end (1.5x the speed of six sums per state and beta).  The chain
    takes four betas per pass (the last pass may compute up to three betas
    past the grid; they are dropped).  With ``sites``, also the per-site sums
    (see :func:`_add_low`); ``low`` then has rows up to nb + 3.
    """
    nb = betas.size
    n = s.size
    if mode == CHAIN:
        _exp_neg(y, betas[0], w)
        _exp_neg(y, dbeta, r)
        rr = r
    else:
        rr = ones
    step = 4 if (mode == CHAIN and not zero) else 1
    for b in range(0, nb, step):
        if mode != CHAIN:
            _exp_neg(y, betas[b], w)
        if sites and step == 1:
            _add_low(low[b], w)
        t0 = t1 = t2 = t3 = 0.0  # total weight at betas b..b+3
        for g in range(gstart.size - 1):
            m_index = np.int64(mu[g] + m_high + n) // 2
            if step == 4:
                if sites:
                    x = _group_sums4(w, rr, y, gstart[g], gstart[g + 1], low, b)
                else:
                    x = _group_sums4(w, rr, y, gstart[g], gstart[g + 1])
                for j in range(min(4, nb - b)):
                    _add_group(acc, zm, b + j, m_index, x[3 * j], x[3 * j + 1], x[3 * j + 2])
                t0 += x[0]
                t1 += x[3]
                t2 += x[6]
                t3 += x[9]
            elif zero:
                s0, s1, s2, c = _group_sums_split(w, rr, y, gstart[g], gstart[g + 1])
                _add_group(acc, zm, b, m_index, s0, s1, s2)
                zm[b, m_index] += c
                if b == 0:
                    at_ref[0] += c
                t0 += s0 + c
            else:
                s0, s1, s2 = _group_sums(w, rr, y, gstart[g], gstart[g + 1])
                _add_group(acc, zm, b, m_index, s0, s1, s2)
                t0 += s0
        if sites:
            totals = (t0, t1, t2, t3)
            for j in range(min(step, nb - b)):
                for i in range(k, n):  # a high spin is fixed within the block
                    site[b + j, i] += s[i] * totals[j]


@njit(fastmath=FAST)
def _add_low(low, w):
    """Per-site sums of the low spins without an O(N) cost per state: the weight of
    each low configuration summed over blocks in ``low[l]``; the caller contracts
    it with s_i(l) once at the end."""
    for l in range(w.size):
        low[l] += w[l]


@njit
def _rescale_rows(x, betas, d):
    """Rows of x (nb, ...) from reference E_lo to E_lo - d: row b times exp(-beta_b d)."""
    for b in range(betas.size):
        x[b] *= np.exp(-betas[b] * d)


@njit
def _magnetisation_moments(acc, zm):
    """acc[b, 3:6] = sums of w M, w M^2, w |M| from the weights zm[b, (M + N)/2]."""
    n = zm.shape[1] - 1
    for b in range(acc.shape[0]):
        for i in range(n + 1):
            m = 2.0 * i - n
            acc[b, 3] += m * zm[b, i]
            acc[b, 4] += m * m * zm[b, i]
            acc[b, 5] += abs(m) * zm[b, i]


@njit
def _start_chunk(t0, J, h, k, n_enum, s, g, cross, C, e_low):
    """Set the high spins of Gray index t0 and their fields; return (E_high, M_high)."""
    n = h.size
    code = t0 ^ (t0 >> 1)
    for j in range(k, n):
        s[j] = 1.0
    for b in range(n_enum):
        s[k + b] = 1.0 - 2.0 * ((code >> b) & 1)
    e_high = 0.0
    m_high = 0.0
    for j in range(k, n):
        gj = h[j]
        for jj in range(k, n):
            gj += J[j, jj] * s[jj]
        g[j] = gj
        e_high -= 0.5 * s[j] * (gj + h[j])
        m_high += s[j]
    for l in range(e_low.size):
        cross[l] = 0.0
    for j in range(k, n):
        cj = C[j - k]
        sj = s[j]
        for l in range(e_low.size):
            cross[l] += sj * cj[l]
    return e_high, m_high


@njit
def _flip_fields(j, J, k, s, g):
    """Flip high spin j and update the fields of the high spins; return the change of E_high and of M_high."""
    n = s.size
    sj = s[j]
    de = 2.0 * sj * g[j]
    for jj in range(k, n):
        g[jj] -= 2.0 * J[jj, j] * sj
    s[j] = -sj
    return de, -2.0 * sj


@njit
def _next_high(local, J, k, s, g, C, none, e_high, m_high):
    """Move the high block to Gray index ``local`` of its chunk: flip bit ctz(local) (none at 0).

    Returns (f, row, E_high, M_high): the cross term changes by f * row (f = 0
    and row = ``none``, any array of the block's size, at local = 0).
    """
    if local == 0:
        return 0.0, none, e_high, m_high
    j = k + _ctz(local)
    f, row = -2.0 * s[j], C[j - k]
    de, dm = _flip_fields(j, J, k, s, g)
    return f, row, e_high + de, m_high + dm


@njit
def _ctz(t):
    c = 0
    while (t & 1) == 0:
        t >>= 1
        c += 1
    return c


@njit(fastmath=FAST)
def _flip_offsets(e_low, cross, row, f, e_high, eref, y):
    """cross += f row (a high spin's flip; f = 0: none) and y[l] = E_l - eref in one pass.

    Returns whether some y[l] < 0 (a state below eref: the caller rebases).
    One pass instead of three (flip, energies, offsets).  A flag rather than
    the minimum: a floating-point minimum kept this loop scalar, the flag
    (an OR of comparisons) vectorises.
    """
    below = False
    for l in range(y.size):
        c = cross[l] + f * row[l]
        cross[l] = c
        d = e_low[l] + c + e_high - eref
        y[l] = d
        below |= d < 0.0
    return below


@njit
def _rebase(e_low, cross, e_high, y, eref):
    """y[l] = E_l - min(min E, eref); returns (min E, the first l where it is reached)."""
    best, where = np.inf, 0
    for l in range(y.size):
        e = e_low[l] + cross[l] + e_high
        y[l] = e
        if e < best:
            best, where = e, l
    ref = min(best, eref)
    for l in range(y.size):
        y[l] -= ref
    return best, where


@pjit
def _blocked_chunks(J, h, k, n_enum, chunk_bits, c_lo, c_hi, n_workers, e_low, C, gstart, mu,
                    betas, mode, dbeta, sites):
    """Accumulate Boltzmann sums over chunks c_lo..c_hi-1 of the high Gray sequence.

    Parameters
    ----------
    J : float64 (N, N)
        Symmetric couplings, zero diagonal.
    h : float64 (N,)
        Fields.
    k : int
        Spins in the low block (0..k-1).
    n_enum : int
        High spins enumerated (k..k+n_enum-1); any further high spin is held at +1.
    chunk_bits : int
        log2 of the high configurations per chunk.
    c_lo, c_hi : int
        Chunk range of this call.
    n_workers : int
        Threads; chunk c goes to worker (c - c_lo) % n_workers.
    e_low : float64 (2^k,)
        Low-block energies, the low configurations ordered by their magnetisation.
    C : float64 (N - k, 2^k)
        C[j, l] = -sum_{i<k} J[i, k+j] s_i(l), columns in the order of e_low.
    gstart : int64 (G + 1,)
        Low configurations gstart[g]..gstart[g+1]-1 have magnetisation mu[g].
    mu : float64 (G,)
    betas : float64 (nb,)
    mode : int
        DIRECT or CHAIN (then betas[b] = betas[0] + b * dbeta).
    dbeta : float
    sites : bool
        Also accumulate the per-site sums ``site`` and ``low``.

    Returns
    -------
    e_ref : float64 (n_workers,)
        Lowest energy seen by each worker (inf if it had no chunk).
    ground : int64 (n_workers, 2)
        (Gray index of the high block, low index) of a state at e_ref.
    acc : float64 (n_workers, nb, 6)
        Sums about e_ref: w, w y, w y^2, w M, w M^2, w |M| with y = E - e_ref; the first over the
        states above e_ref only (see ``at_ref``).
    site : float64 (n_workers, nb, N)
        sum w s_j for the high spins j >= k (columns < k unused); empty without ``sites``.
    low : float64 (n_workers, nb, 2^k)
        sum of w over the blocks for each low configuration; empty without ``sites``.
    zm : float64 (n_workers, nb, N + 1)
        sum of w by total magnetisation, column (M + N)/2 (every state, those at e_ref included).
    at_ref : float64 (n_workers,)
        States exactly at e_ref in the blocks that set it (weight 1 at every beta), which
        acc[:, :, 0] leaves out: the total weight is at_ref + acc[:, :, 0] (rows 1, 2 are
        unaffected: those states have y = 0).
    """
    n = h.size
    nl = e_low.size
    nb = betas.size
    size = np.int64(1) << chunk_bits
    e_ref = np.full(n_workers, np.inf)
    ground = np.zeros((n_workers, 2), dtype=np.int64)
    acc = np.zeros((n_workers, nb, 6))
    nbs = nb if sites else 0
    site = np.zeros((n_workers, nbs, n))
    low = np.zeros((n_workers, (nb + 3) if sites else 0, nl))  # rows past nb: the chain's last pass
    zms = np.zeros((n_workers, nb, n + 1))  # weights by total magnetisation (M + N)/2
    at_ref = np.zeros(n_workers)
    for wk in prange(n_workers):
        s = np.empty(n)
        g = np.empty(n)
        cross = np.empty(nl)
        y = np.empty(nl)
        w = np.empty(nl)
        r = np.empty(nl)
        ones = np.ones(nl)
        zm = zms[wk]
        count = at_ref[wk:wk + 1]
        a = acc[wk]
        eref = np.inf
        for c in range(c_lo + wk, c_hi, n_workers):
            t0 = c * size
            e_high, m_high = _start_chunk(t0, J, h, k, n_enum, s, g, cross, C, e_low)
            for local in range(size):
                f, row, e_high, m_high = _next_high(local, J, k, s, g, C, e_low, e_high, m_high)
                # a block that rebases holds the state at the new reference (y == 0): its weight, 1 at every
                # beta, is counted apart (another state that happens to lie exactly at eref, in a later block,
                # joins the rest: then the rest is >= 1 and ln(n0 + rest) loses nothing)
                zero = _flip_offsets(e_low, cross, row, f, e_high, eref, y)
                if zero:
                    xmin, where = _rebase(e_low, cross, e_high, y, eref)
                    if xmin < eref:  # a new lowest energy
                        if eref < np.inf:
                            for b in range(nb):  # the states at the old reference now lie above the new one
                                a[b, 0] += count[0]
                            count[0] = 0.0
                            _rescale(a, betas, eref - xmin)
                            _rescale_rows(zm, betas, eref - xmin)
                            if sites:
                                _rescale_rows(site[wk], betas, eref - xmin)
                                _rescale_rows(low[wk], betas, eref - xmin)
                        eref = xmin
                        ground[wk, 0] = t0 + local
                        ground[wk, 1] = where
                _accumulate(a, zm, y, w, r, ones, betas, mode, dbeta, gstart, mu, m_high, sites, s, k,
                            site[wk], low[wk], zero, count)
        _magnetisation_moments(a, zm)
        e_ref[wk] = eref
    return e_ref, ground, acc, site, low[:, :nbs], zms, at_ref


@njit(fastmath=FAST)
def _flip_cells(base, cross, row, f, const, cells):
    """cross += f row (a high spin's flip; f = 0: none), then each state's cell
    cells[l] = base[l] + cross[l] + const (an exact integer in float64, stored as int32).

    No minimum and no count in this loop, so that it vectorises (packed
    float-to-int conversion): with either, it ran scalar.
    """
    for l in range(base.size):
        x = cross[l] + f * row[l]
        cross[l] = x
        cells[l] = np.int32(base[l] + x + const)


@njit
def _count(cells, hist):
    """hist[c] += 1 for every cell c; returns the lowest cell (a vectorised integer minimum).

    The indices are unsigned: no wrap-around code per state.  The separate
    passes ran 1.4x faster than one fused scalar loop.
    """
    for l in range(cells.size):
        hist[np.uint32(cells[l])] += 1
    low = cells[0]
    for l in range(cells.size):
        low = min(low, cells[l])
    return low


@pjit
def _histogram_chunks(J, h, k, n_enum, chunk_bits, c_lo, c_hi, n_workers, base, C, n_levels, q_lo):
    """Count states by (energy level, magnetisation) over chunks c_lo..c_hi-1.

    For couplings and fields that are integer multiples of a quantum q, the
    arguments are in cell units: ``J``, ``h`` and ``C`` are the couplings,
    fields and low-high couplings times (N + 1)/q, integers held exactly in
    float64, and ``base[l]`` = E_low(l) (N + 1)/q + M_low(l)/2.  A state's
    cell (E/q - q_lo) (N + 1) + (M + N)/2 is then a sum of three exact
    integers, with no rounding or multiplication per state; cells order like
    energies.  Counts are exact (int64).  Other arguments as in
    :func:`_blocked_chunks`.

    Returns
    -------
    e_min : float64 (n_workers,)
        Lowest energy each worker saw, in units of q (inf if it had no chunk).
    ground : int64 (n_workers, 2)
        Where, as in :func:`_blocked_chunks`.
    hist : int64 (n_workers, n_levels, N + 1)
    """
    n = h.size
    nl = base.size
    size = np.int64(1) << chunk_bits
    hist = np.zeros((n_workers, n_levels, n + 1), dtype=np.int64)
    e_min = np.full(n_workers, np.inf)
    ground = np.zeros((n_workers, 2), dtype=np.int64)
    shift = 0.5 * n - q_lo * (n + 1.0)
    for wk in prange(n_workers):
        s = np.empty(n)
        g = np.empty(n)
        cross = np.empty(nl)
        cells = np.empty(nl, dtype=np.int32)
        hw = hist[wk].ravel()
        cmin = np.inf
        for c in range(c_lo + wk, c_hi, n_workers):
            t0 = c * size
            e_high, m_high = _start_chunk(t0, J, h, k, n_enum, s, g, cross, C, base)
            for local in range(size):
                f, row, e_high, m_high = _next_high(local, J, k, s, g, C, base, e_high, m_high)
                const = e_high + 0.5 * m_high + shift
                _flip_cells(base, cross, row, f, const, cells)
                low = _count(cells, hw)
                if low < cmin:
                    cmin = low
                    ground[wk, 0] = t0 + local
                    for l in range(nl):
                        if cells[l] == low:
                            ground[wk, 1] = l
                            break
        if cmin < np.inf:
            e_min[wk] = np.floor(cmin / (n + 1)) + q_lo
    return e_min, ground, hist
