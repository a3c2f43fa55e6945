"""Signed Pfaffian of a sparse skew-symmetric matrix with paired rows, in double-double arithmetic.

The matrix K (M x M, M = 2n) is skew-symmetric and its rows come in pairs (2t, 2t + 1) whose 2 x 2
diagonal block [[0, K[2t, 2t+1]], [-K[2t, 2t+1], 0]] is a usable pivot (the Pfaffian paths' dart pairs,
:mod:`isingvar.exact.planar`).  Eliminating pair after pair, in a fill-reducing order of the n pairs,

    K = [[P, -F^T], [F, C]]  ->  Pf K = Pf P * Pf(C + F P^-1 F^T),   Pf P = P[0, 1]

(the skew LDL^T of Bunch, Math. Comp. 38, 475 (1982), with 2 x 2 pivots fixed in advance; Wimmer,
ACM TOMS 38, 30 (2012), eq. 7 for the Schur step), so Pf K = prod_t d_t over the pivots d_t, with its sign:
reordering whole pairs is an even permutation.  The elimination is left-looking over the symbolic
fill of the pair graph (George & Liu, *Computer Solution of Large Sparse Positive Definite Systems*,
Prentice-Hall 1981, ch. 5: the elimination tree and the column structures).

Every entry is a truncated Taylor jet x0 + x1 eps + x2 eps^2 (``order`` + 1 coefficients, order 0..2:
forward-mode differentiation in beta, Griewank & Walther, *Evaluating Derivatives*, 2nd ed., ch. 13),
and every coefficient a double-double hi + lo (about 106 bits: Dekker, Numer. Math. 18, 224 (1971),
two_sum, and two_prod by a fused multiply-add; Hida, Li & Bailey, ARITH-15 (2001), sloppy add).  The inputs are doubles;
only the elimination, whose cancellation grows like the pivot growth, runs in double-double.

Speed: the elimination is supernodal (Ng & Peyton, SIAM J. Sci. Comput. 14, 1034 (1993)): consecutive columns with
nested structures update a later column together, their products summed per entry unnormalised and the column
renormalised once (Dot2: Ogita, Rump & Oishi, SIAM J. Sci. Comput. 26, 1955 (2005)); the blocks are stored with the
structural position last, so that the loops over a column's rows run on contiguous memory, padded to whole vectors
and with uint64 indices and a fixed-stride accumulator, so that they vectorise (AVX-512: eight lanes); 1/d_k is formed
once per pivot; the dense Parlett-Reid keeps the lower triangle only, row-contiguous.  L = 64 torus interior: 0.32 s
CPU with the jets (1.0 s column by column, 2.3 s scalar), 0.064 s without (0.24 s); dense, n = 256: 2.1x the scalar
kernel; the results equal to double-double rounding.
"""

import numpy as np

from ._jit import fma, njit


@njit(inline="always")
def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(inline="always")
def _quick_two_sum(a, b):
    s = a + b
    return s, b - (s - a)


@njit(inline="always")
def _two_prod(a, b):
    p = a * b
    return p, fma(a, b, -p)


@njit(inline="always")
def _dd_add(ah, al, bh, bl):
    s, e = _two_sum(ah, bh)
    e += al + bl
    return _quick_two_sum(s, e)


@njit(inline="always")
def _dd_mul(ah, al, bh, bl):
    p, e = _two_prod(ah, bh)
    e += ah * bl + al * bh
    return _quick_two_sum(p, e)


@njit(inline="always")
def _dd_acc(sh, sl, xh, xl, yh, yl):
    """(sh + sl) + (xh + xl)(yh + yl), the sum left unnormalised (sl may grow past half an ulp of sh): a few of
    these then one :func:`_two_sum` cost about half the operations of :func:`_dd_mul` and :func:`_dd_add` each
    time, to the same precision (the compensated dot product Dot2 of Ogita, Rump & Oishi, SIAM J. Sci. Comput. 26,
    1955 (2005))."""
    p, e = _two_prod(xh, yh)
    t, f = _two_sum(sh, p)
    return t, sl + (e + xh * yl + xl * yh) + f


@njit(inline="always")
def _dd_inv(ah, al):
    q = 1.0 / ah
    # one Newton step on 1 - a q in double-double
    ph, pl = _dd_mul(ah, al, q, 0.0)
    rh, rl = _dd_add(1.0, 0.0, -ph, -pl)
    ch, cl = _dd_mul(rh, rl, q, 0.0)
    return _dd_add(q, 0.0, ch, cl)


@njit
def dd_mul(ah, al, bh, bl):
    """(ah + al) (bh + bl) in double-double.

    Parameters
    ----------
    ah, al, bh, bl : float
        The two factors' high and low parts.

    Returns
    -------
    tuple of float
        The product's (hi, lo).
    """
    return _dd_mul(ah, al, bh, bl)


@njit
def symbolic(indptr, indices, order):
    """The column structures of the pair graph's elimination in ``order`` (symbolic factorisation).

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (n + 1,), (nnz,)
        The pair graph (CSR, symmetric, self-loops ignored) in the original numbering.
    order : ndarray of int64, shape (n,)
        ``order[k]`` is the original pair eliminated k-th.

    Returns
    -------
    colptr : ndarray of int64, shape (n + 1,)
        Column k's structure is ``rows[colptr[k]:colptr[k + 1]]``.
    rows : ndarray of int64, shape (nnzL,)
        The later columns (in elimination numbering) that column k updates, ascending.
    """
    n = order.size
    inv = np.empty(n, dtype=np.int64)
    for k in range(n):
        inv[order[k]] = k
    mark = np.full(n, -1, dtype=np.int64)
    child_head = np.full(n, -1, dtype=np.int64)
    sibling = np.full(n, -1, dtype=np.int64)
    colptr = np.zeros(n + 1, dtype=np.int64)
    cap = 4 * indices.size + 16
    rows = np.empty(cap, dtype=np.int64)
    buf = np.empty(n, dtype=np.int64)
    for k in range(n):
        cnt = 0
        mark[k] = k
        v = order[k]
        for p in range(indptr[v], indptr[v + 1]):
            j = inv[indices[p]]
            if j > k and mark[j] != k:
                mark[j] = k
                buf[cnt] = j
                cnt += 1
        c = child_head[k]
        while c >= 0:
            for p in range(colptr[c], colptr[c + 1]):
                j = rows[p]
                if j > k and mark[j] != k:
                    mark[j] = k
                    buf[cnt] = j
                    cnt += 1
            c = sibling[c]
        start = colptr[k]
        if start + cnt > cap:
            while start + cnt > cap:
                cap *= 2
            grown = np.empty(cap, dtype=np.int64)
            grown[:start] = rows[:start]
            rows = grown
        srt = np.sort(buf[:cnt])
        rows[start:start + cnt] = srt
        colptr[k + 1] = start + cnt
        if cnt > 0:
            parent = srt[0]
            sibling[k] = child_head[parent]
            child_head[parent] = k
    return colptr, rows[: colptr[n]].copy()


#: Lanes of the widest vector (AVX-512: eight doubles): the Schur update's row loops run to a multiple of it, into
#: padding, so that no row falls to the scalar remainder loop (a column has ~20-40 rows at L = 64).
LANES = 8
#: Row length of the update's accumulator (one row per entry, jet coefficient and hi/lo): a constant, so that its rows
#: lie at fixed offsets from one another and the row loops need one runtime alias check against the blocks, not one
#: per row (LLVM gives up a loop beyond 8 checks); longer columns are updated ACC_ROW - LANES rows at a time.
ACC_ROW = 256


@njit(inline="always")
def _dd_fma_acc(sh, sl, xh, xl, yh, yl):
    """:func:`_dd_acc` with the product's error and its cross terms fused (a product and three fused multiply-adds
    where :func:`_dd_acc` takes three products, a fused multiply-add and two adds): the same unnormalised Dot2 step."""
    p = xh * yh
    t, f = _two_sum(sh, p)
    return t, sl + fma(xl, yh, fma(xh, yl, fma(xh, yh, -p))) + f


@njit
def supernodes(colptr, rows, stop):
    """The supernodes of the elimination's first ``stop`` columns: runs of consecutive columns with nested structures.

    Column k + 1 joins column k's supernode where rows(k) = {k + 1} + rows(k + 1) (k + 1 is then k's parent in the
    elimination tree and the two columns share their later rows: George & Liu 1981, ch. 5; Ng & Peyton, SIAM J. Sci.
    Comput. 14, 1034 (1993), section 2), so that every column of a supernode updates a later column on the same rows.
    The columns from ``stop`` on (never pivots) stand alone.  O(n) (14 us at L = 64): found per call, not kept.

    Parameters
    ----------
    colptr, rows : ndarray of int64, shapes (n + 1,), (nnzL,)
        From :func:`symbolic`.
    stop : int
        The first column not eliminated (as :func:`factor`).

    Returns
    -------
    ndarray of int64, shape (ns + 1,)
        Supernode s is columns ``first[s]`` to ``first[s + 1] - 1``; ``first[ns]`` = n.
    """
    n = colptr.size - 1
    first = np.empty(n + 1, dtype=np.int64)
    m = 0
    for k in range(n):
        if 0 < k < stop:
            c = colptr[k - 1]
            if colptr[k] - c == colptr[k + 1] - colptr[k] + 1 and rows[c] == k:
                continue
        first[m] = k
        m += 1
    first[m] = n
    return first[: m + 1].copy()


@njit(inline="always")
def _rows1(val, acc, wb, kk, ub, cp):
    """acc[e, y] += (F_y W)[a, b] (e = 2a + b; F_y the source block at position ``ub`` + y, W = ``wb[kk]``), y < ``cp``,
    for jets of one coefficient: Dot2 steps, unnormalised.  ``acc`` is :func:`factor`'s accumulator (row
    (2e + h) ACC_ROW + y); ``ub`` and ``cp`` are uint64 (no wraparound of negative indices: contiguous loads), and
    the loop over y vectorises."""
    # W[b] multiplies F[2a], W[2 + b] multiplies F[2a + 1]
    w0h, w0l, w1h, w1l = wb[kk, 0, 0, 0], wb[kk, 0, 0, 1], wb[kk, 1, 0, 0], wb[kk, 1, 0, 1]
    w2h, w2l, w3h, w3l = wb[kk, 2, 0, 0], wb[kk, 2, 0, 1], wb[kk, 3, 0, 0], wb[kk, 3, 0, 1]
    # uint64 offsets (numba types an int literal times a uint64 as int64: a signed index, with its wraparound select,
    # which turns the contiguous loads into gathers)
    o1, o2, o3 = np.uint64(ACC_ROW), np.uint64(2 * ACC_ROW), np.uint64(3 * ACC_ROW)
    o4, o5, o6, o7 = np.uint64(4 * ACC_ROW), np.uint64(5 * ACC_ROW), np.uint64(6 * ACC_ROW), np.uint64(7 * ACC_ROW)
    for y in range(cp):
        q = ub + y
        f0h, f0l, f1h, f1l = val[0, 0, 0, q], val[0, 0, 1, q], val[1, 0, 0, q], val[1, 0, 1, q]
        f2h, f2l, f3h, f3l = val[2, 0, 0, q], val[2, 0, 1, q], val[3, 0, 0, q], val[3, 0, 1, q]
        sh, sl = _dd_fma_acc(acc[y], acc[o1 + y], f0h, f0l, w0h, w0l)
        acc[y], acc[o1 + y] = _dd_fma_acc(sh, sl, f1h, f1l, w2h, w2l)
        sh, sl = _dd_fma_acc(acc[o2 + y], acc[o3 + y], f0h, f0l, w1h, w1l)
        acc[o2 + y], acc[o3 + y] = _dd_fma_acc(sh, sl, f1h, f1l, w3h, w3l)
        sh, sl = _dd_fma_acc(acc[o4 + y], acc[o5 + y], f2h, f2l, w0h, w0l)
        acc[o4 + y], acc[o5 + y] = _dd_fma_acc(sh, sl, f3h, f3l, w2h, w2l)
        sh, sl = _dd_fma_acc(acc[o6 + y], acc[o7 + y], f2h, f2l, w1h, w1l)
        acc[o6 + y], acc[o7 + y] = _dd_fma_acc(sh, sl, f3h, f3l, w3h, w3l)


@njit(inline="always")
def _rows3(val, acc, wb, kk, a, ub, cp):
    """:func:`_rows1` for jets of three coefficients and one row ``a`` of the blocks (uint64): coefficient t of entry
    e = 2a + b gains sum_u F[2a]_u W[b]_(t - u) + F[2a + 1]_u W[2 + b]_(t - u), 2(t + 1) Dot2 steps (``acc`` row
    (6e + 2t + h) ACC_ROW + y)."""
    ea = np.uint64(2) * a
    eb = ea + np.uint64(1)
    # the accumulator's rows of entry 2a (oa) and 2a + 1 (ob)
    oa = np.uint64(12 * ACC_ROW) * a
    ob = oa + np.uint64(6 * ACC_ROW)
    # b = 0: p = W[0] times F[2a], q = W[2] times F[2a + 1]; b = 1: r = W[1], s = W[3]
    p0h, p0l, p1h, p1l, p2h, p2l = wb[kk, 0, 0, 0], wb[kk, 0, 0, 1], wb[kk, 0, 1, 0], wb[kk, 0, 1, 1], wb[kk, 0, 2, 0], wb[kk, 0, 2, 1]
    q0h, q0l, q1h, q1l, q2h, q2l = wb[kk, 2, 0, 0], wb[kk, 2, 0, 1], wb[kk, 2, 1, 0], wb[kk, 2, 1, 1], wb[kk, 2, 2, 0], wb[kk, 2, 2, 1]
    r0h, r0l, r1h, r1l, r2h, r2l = wb[kk, 1, 0, 0], wb[kk, 1, 0, 1], wb[kk, 1, 1, 0], wb[kk, 1, 1, 1], wb[kk, 1, 2, 0], wb[kk, 1, 2, 1]
    s0h, s0l, s1h, s1l, s2h, s2l = wb[kk, 3, 0, 0], wb[kk, 3, 0, 1], wb[kk, 3, 1, 0], wb[kk, 3, 1, 1], wb[kk, 3, 2, 0], wb[kk, 3, 2, 1]
    # uint64 offsets, as in _rows1
    o1, o2, o3 = np.uint64(ACC_ROW), np.uint64(2 * ACC_ROW), np.uint64(3 * ACC_ROW)
    o4, o5 = np.uint64(4 * ACC_ROW), np.uint64(5 * ACC_ROW)
    for y in range(cp):
        q = ub + y
        a0h, a0l, a1h, a1l, a2h, a2l = val[ea, 0, 0, q], val[ea, 0, 1, q], val[ea, 1, 0, q], val[ea, 1, 1, q], val[ea, 2, 0, q], val[ea, 2, 1, q]
        b0h, b0l, b1h, b1l, b2h, b2l = val[eb, 0, 0, q], val[eb, 0, 1, q], val[eb, 1, 0, q], val[eb, 1, 1, q], val[eb, 2, 0, q], val[eb, 2, 1, q]
        i = oa + y  # entry 2a
        sh, sl = _dd_fma_acc(acc[i], acc[i + o1], a0h, a0l, p0h, p0l)
        acc[i], acc[i + o1] = _dd_fma_acc(sh, sl, b0h, b0l, q0h, q0l)
        sh, sl = _dd_fma_acc(acc[i + o2], acc[i + o3], a0h, a0l, p1h, p1l)
        sh, sl = _dd_fma_acc(sh, sl, a1h, a1l, p0h, p0l)
        sh, sl = _dd_fma_acc(sh, sl, b0h, b0l, q1h, q1l)
        acc[i + o2], acc[i + o3] = _dd_fma_acc(sh, sl, b1h, b1l, q0h, q0l)
        sh, sl = _dd_fma_acc(acc[i + o4], acc[i + o5], a0h, a0l, p2h, p2l)
        sh, sl = _dd_fma_acc(sh, sl, a1h, a1l, p1h, p1l)
        sh, sl = _dd_fma_acc(sh, sl, a2h, a2l, p0h, p0l)
        sh, sl = _dd_fma_acc(sh, sl, b0h, b0l, q2h, q2l)
        sh, sl = _dd_fma_acc(sh, sl, b1h, b1l, q1h, q1l)
        acc[i + o4], acc[i + o5] = _dd_fma_acc(sh, sl, b2h, b2l, q0h, q0l)
        i = ob + y  # entry 2a + 1
        sh, sl = _dd_fma_acc(acc[i], acc[i + o1], a0h, a0l, r0h, r0l)
        acc[i], acc[i + o1] = _dd_fma_acc(sh, sl, b0h, b0l, s0h, s0l)
        sh, sl = _dd_fma_acc(acc[i + o2], acc[i + o3], a0h, a0l, r1h, r1l)
        sh, sl = _dd_fma_acc(sh, sl, a1h, a1l, r0h, r0l)
        sh, sl = _dd_fma_acc(sh, sl, b0h, b0l, s1h, s1l)
        acc[i + o2], acc[i + o3] = _dd_fma_acc(sh, sl, b1h, b1l, s0h, s0l)
        sh, sl = _dd_fma_acc(acc[i + o4], acc[i + o5], a0h, a0l, r2h, r2l)
        sh, sl = _dd_fma_acc(sh, sl, a1h, a1l, r1h, r1l)
        sh, sl = _dd_fma_acc(sh, sl, a2h, a2l, r0h, r0l)
        sh, sl = _dd_fma_acc(sh, sl, b0h, b0l, s2h, s2l)
        sh, sl = _dd_fma_acc(sh, sl, b1h, b1l, s1h, s1l)
        acc[i + o4], acc[i + o5] = _dd_fma_acc(sh, sl, b2h, b2l, s0h, s0l)


@njit
def _weights(val, piv, inv, wb, colptr, j, k0, k1, c):
    """W = P^-1 G^T of each source column k0 .. k1 of one supernode for target column j, and their d_j += (G W)[0, 1].

    Row j of source column k sits at position ``colptr[k] + c - k``, G = K[pair j, pair k] its block, P^-1 =
    [[0, -r], [r, 0]], r = 1 / d_k (``inv[k]``): W = [[-g01, -g11], [g00, g10]] r (Bunch 1982; Wimmer 2012, eq. 7),
    each jet coefficient a normalised double-double product sum; the pivot's update summed unnormalised (Dot2) into
    ``piv[j]``, which :func:`factor` renormalises once all of column j's updates are in.

    Parameters
    ----------
    val : ndarray of float64, shape (4, nt, 2, >= nnzL)
        :func:`factor`'s blocks (the source columns final).
    piv, inv : ndarray of float64, shape (n, nt, 2)
        The pivots' jets (``piv[j]`` gains the update) and their inverses'.
    wb : ndarray of float64, shape (>= k1 - k0 + 1, 4, nt, 2)
        Out: ``wb[k - k0]`` = source k's W (row-major entries, jet coefficients, hi/lo).
    colptr : ndarray of int64, shape (n + 1,)
        From :func:`symbolic`.
    j, k0, k1, c : int
        The target column, the sources and the offset of their row j.
    """
    nt = piv.shape[1]
    for kk in range(k1 - k0 + 1):
        k = k0 + kk
        b = colptr[k] + c - k
        for e, src, sg in ((0, 1, -1.0), (1, 3, -1.0), (2, 0, 1.0), (3, 2, 1.0)):
            for t in range(nt):
                sh, sl = 0.0, 0.0
                for u in range(t + 1):
                    sh, sl = _dd_fma_acc(sh, sl, val[src, u, 0, b], val[src, u, 1, b], inv[k, t - u, 0], inv[k, t - u, 1])
                sh, sl = _two_sum(sh, sl)
                wb[kk, e, t, 0], wb[kk, e, t, 1] = sg * sh, sg * sl
        # d_j += (G W)[0, 1] = g00 w01 + g01 w11
        for t in range(nt):
            sh, sl = piv[j, t, 0], piv[j, t, 1]
            for u in range(t + 1):
                sh, sl = _dd_fma_acc(sh, sl, val[0, u, 0, b], val[0, u, 1, b], wb[kk, 1, t - u, 0], wb[kk, 1, t - u, 1])
                sh, sl = _dd_fma_acc(sh, sl, val[1, u, 0, b], val[1, u, 1, b], wb[kk, 3, t - u, 0], wb[kk, 3, t - u, 1])
            piv[j, t, 0], piv[j, t, 1] = sh, sl


@njit
def _schur_rows(val, acc, wb, colptr, k0, k1, c, count):
    """S_ij += sum_k F_ik W_k over the source columns k0 .. k1 of one supernode, for ``count`` consecutive later rows.

    Source column k's rows start at position ``colptr[k] + c - k`` of ``val``; target row y's entries are in ``acc``
    (row (2 (nt e + t) + h) ACC_ROW + y), gathered by :func:`factor`.  The products of all the sources are summed per
    entry unnormalised (Dot2: Ogita, Rump & Oishi 2005), the caller renormalising once per column; the row loops run
    to ``count`` rounded up to LANES (past the column: padding, their sums never read).

    Parameters
    ----------
    val : ndarray of float64, shape (4, nt, 2, nnzL + LANES)
        :func:`factor`'s blocks (the source columns final), padded.
    acc : ndarray of float64, shape (8 nt ACC_ROW,)
        The target entries, updated in place.
    wb : ndarray of float64, shape (>= k1 - k0 + 1, 4, nt, 2)
        The sources' W (:func:`_weights`).
    colptr : ndarray of int64, shape (n + 1,)
        From :func:`symbolic`.
    k0, k1, c, count : int
        The sources, the offset of their first row and the number of rows (at most ACC_ROW - LANES).
    """
    nt = wb.shape[2]
    cp = np.uint64((count + LANES - 1) // LANES * LANES)
    if nt == 3:
        for kk in range(k1 - k0 + 1):
            ub = np.uint64(colptr[k0 + kk] + c - k0 - kk)
            _rows3(val, acc, wb, kk, np.uint64(0), ub, cp)
            _rows3(val, acc, wb, kk, np.uint64(1), ub, cp)
    elif nt == 1:
        for kk in range(k1 - k0 + 1):
            _rows1(val, acc, wb, kk, np.uint64(colptr[k0 + kk] + c - k0 - kk), cp)
    else:  # nt = 2: the same sums, not written out (not vectorised)
        for kk in range(k1 - k0 + 1):
            q0 = colptr[k0 + kk] + c - k0 - kk
            for y in range(count):
                for a in range(2):
                    for bb in range(2):
                        for t in range(nt):
                            i = (2 * (nt * (2 * a + bb) + t)) * ACC_ROW + y
                            sh, sl = acc[i], acc[i + ACC_ROW]
                            for u in range(t + 1):
                                sh, sl = _dd_fma_acc(sh, sl, val[2 * a, u, 0, q0 + y], val[2 * a, u, 1, q0 + y],
                                                     wb[kk, bb, t - u, 0], wb[kk, bb, t - u, 1])
                                sh, sl = _dd_fma_acc(sh, sl, val[2 * a + 1, u, 0, q0 + y], val[2 * a + 1, u, 1, q0 + y],
                                                     wb[kk, 2 + bb, t - u, 0], wb[kk, 2 + bb, t - u, 1])
                            acc[i], acc[i + ACC_ROW] = sh, sl


@njit
def _update(val, piv, inv, wb, acc, colptr, pos, rows, j, k0, k1, c, count, target):
    """Column j's update from the source columns k0 .. k1 of one supernode (:func:`_weights`, :func:`_schur_rows`).

    Row j of source column k is at position ``colptr[k] + c - k`` and ``count`` later rows follow.  Their targets in
    column j: with ``target`` >= 0, positions ``target`` + y (the supernode's own columns); else ``pos[rows[t]]``
    for the source's rows t (from the first source's position after row j on).  Each chunk of at most
    ACC_ROW - LANES rows is gathered into ``acc``, updated and written back unnormalised.

    Parameters
    ----------
    val, piv, inv, wb, acc, colptr : ndarray
        As :func:`_weights` and :func:`_schur_rows`.
    pos : ndarray of int64, shape (n,)
        The position of each row in column j (where ``target`` < 0).
    rows : ndarray of int64, shape (nnzL,)
        From :func:`symbolic`.
    j, k0, k1, c, count, target : int
        As above.
    """
    nt = piv.shape[1]
    _weights(val, piv, inv, wb, colptr, j, k0, k1, c)
    first_row = colptr[k0] + c - k0 + 1  # the first source's position of the row after j
    chunk = ACC_ROW - LANES
    for y0 in range(0, count, chunk):
        m = min(chunk, count - y0)
        for y in range(m):
            tp = target + y0 + y if target >= 0 else pos[rows[first_row + y0 + y]]
            for r in range(4 * nt):
                acc[2 * r * ACC_ROW + y] = val[r // nt, r % nt, 0, tp]
                acc[(2 * r + 1) * ACC_ROW + y] = val[r // nt, r % nt, 1, tp]
        _schur_rows(val, acc, wb, colptr, k0, k1, c + 1 + y0, m)
        for y in range(m):
            tp = target + y0 + y if target >= 0 else pos[rows[first_row + y0 + y]]
            for r in range(4 * nt):
                val[r // nt, r % nt, 0, tp] = acc[2 * r * ACC_ROW + y]
                val[r // nt, r % nt, 1, tp] = acc[(2 * r + 1) * ACC_ROW + y]


@njit
def factor(colptr, rows, offdiag, diag, stop):
    """Pfaffian pivots of K, in double-double, with their jets; or the Schur complement of its first pairs.

    Left-looking and supernodal (Ng & Peyton, SIAM J. Sci. Comput. 14, 1034 (1993)): column j takes the update of
    every earlier supernode (:func:`supernodes`) whose columns reach row j, all of a supernode's columns at once, then
    that of the earlier columns of its own supernode (:func:`_update`: the products summed per entry unnormalised,
    Dot2), and is renormalised once.

    Parameters
    ----------
    colptr, rows : ndarray of int64
        From :func:`symbolic`.
    offdiag : ndarray of float64, shape (nnzL, 4, nt)
        The 2 x 2 blocks K[pair i, pair k] (row-major: [2i, 2k], [2i, 2k+1], [2i+1, 2k], [2i+1, 2k+1]) of
        every structural position (i = ``rows[p]`` for column k), jet coefficients last; zero at fill.
    diag : ndarray of float64, shape (n, nt)
        K[2k, 2k + 1] of every pair k (elimination numbering), jet coefficients last.
    stop : int
        Eliminate the pairs before ``stop`` only (``n``: all).  The later columns then hold the Pfaffian
        Schur complement C + F P^-1 F^T of the eliminated block: its 2 x 2 blocks below the diagonal in
        ``val``, its K[2k, 2k + 1] entries in ``piv``.

    Returns
    -------
    piv : ndarray of float64, shape (n, nt, 2)
        The jets of the pivots d_k (Pf K = prod_k d_k; for k >= ``stop``, the Schur complement's
        K[2k, 2k + 1]), each coefficient as a double-double (hi, lo).  A zero pivot stops the elimination:
        its entry and all later ones are NaN.
    val : ndarray of float64, shape (4, nt, 2, nnzL)
        The blocks at elimination time (for columns >= ``stop``: the Schur complement's), entry, jet coefficient and
        (hi, lo) first: the structural position last, so that a column's rows lie contiguous (the Schur update's
        loops over them vectorise).  A view of a buffer padded by LANES positions.
    """
    n = diag.shape[0]
    nt = diag.shape[1]
    nnz = rows.size
    val = np.zeros((4, nt, 2, nnz + LANES))  # padding: the row loops read up to LANES - 1 positions past a column
    for e in range(4):
        for t in range(nt):
            val[e, t, 0, :nnz] = offdiag[:, e, t]
    piv = np.zeros((n, nt, 2))
    piv[:, :, 0] = diag
    first = supernodes(colptr, rows, stop)
    ns = first.size - 1
    big = 1
    for s in range(ns):
        big = max(big, first[s + 1] - first[s])
    acc = np.zeros(8 * nt * ACC_ROW)
    wb = np.empty((big, 4, nt, 2))
    inv = np.empty((n, nt, 2))  # the jet of 1 / d_k, once per pivot
    pos = np.zeros(n, dtype=np.int64)
    head = np.full(n, -1, dtype=np.int64)  # supernodes waiting to update column j (linked lists)
    link = np.full(ns, -1, dtype=np.int64)
    nxt = np.zeros(ns, dtype=np.int64)  # supernode s's next row to update: an index into its last column's rows
    for s in range(ns):
        c0, c1 = first[s], first[s + 1]
        for j in range(c0, c1):
            cj = colptr[j]
            cnt = colptr[j + 1] - cj
            sup = head[j]
            if sup >= 0:
                for p in range(cj, cj + cnt):
                    pos[rows[p]] = p
            while sup >= 0:  # the earlier supernodes: their rows after j lie among column j's (found by pos)
                following = link[sup]
                k0, k1 = first[sup], first[sup + 1] - 1
                x = nxt[sup]
                t0 = colptr[k1] + x  # row j in the supernode's last column
                count = colptr[k1 + 1] - t0 - 1
                _update(val, piv, inv, wb, acc, colptr, pos, rows, j, k0, k1, k1 + x, count, -1)
                if count > 0:
                    nxt[sup] = x + 1
                    r = rows[t0 + 1]
                    link[sup] = head[r]
                    head[r] = sup
                sup = following
            if j > c0:  # the supernode's earlier columns: their rows after j are column j's, in order
                _update(val, piv, inv, wb, acc, colptr, pos, rows, j, c0, j - 1, j - 1, cnt, cj)
            # every update in: the sums renormalised (a full two_sum: cancellation may leave the low part the larger)
            for e in range(4):
                for t in range(nt):
                    for p in range(cj, cj + cnt):
                        val[e, t, 0, p], val[e, t, 1, p] = _two_sum(val[e, t, 0, p], val[e, t, 1, p])
            for t in range(nt):
                piv[j, t, 0], piv[j, t, 1] = _two_sum(piv[j, t, 0], piv[j, t, 1])
            if j >= stop:  # the Schur complement's column: updated, never a pivot
                continue
            if piv[j, 0, 0] == 0.0:
                piv[j:, :, :] = np.nan
                return piv, val[:, :, :, :nnz]
            # r = 1 / d_j as a jet: r0 = 1 / d0, r_t = -r0 sum_{u >= 1} d_u r_(t-u)
            inv[j, 0, 0], inv[j, 0, 1] = _dd_inv(piv[j, 0, 0], piv[j, 0, 1])
            for t in range(1, nt):
                sh, sl = 0.0, 0.0
                for u in range(1, t + 1):
                    ph, pl = _dd_mul(piv[j, u, 0], piv[j, u, 1], inv[j, t - u, 0], inv[j, t - u, 1])
                    sh, sl = _dd_add(sh, sl, ph, pl)
                inv[j, t, 0], inv[j, t, 1] = _dd_mul(-sh, -sl, inv[j, 0, 0], inv[j, 0, 1])
        last = c1 - 1
        if c0 < stop and colptr[last + 1] > colptr[last]:  # an eliminated supernode with later rows: it waits for them
            nxt[s] = 0
            r = rows[colptr[last]]
            link[s] = head[r]
            head[r] = s
    return piv, val[:, :, :, :nnz]


@njit(inline="always")
def _rank2_row(A, t, i, lo, hi, xi, yi, x, y):
    """Row i of the lower triangle, columns lo..hi - 1, coefficient t: A[i, j] += y_i x_j - x_i y_j (jets), the
    2(t + 1) double-double products of each entry accumulated unnormalised (Dot2), renormalised once; the loop
    over j reads contiguous memory and vectorises."""
    a0h, a0l, b0h, b0l = -xi[0, 0], -xi[0, 1], yi[0, 0], yi[0, 1]
    if t == 0:
        for j in range(lo, hi):
            sh, sl = _dd_acc(A[0, 0, i, j], A[0, 1, i, j], a0h, a0l, y[0, 0, j], y[0, 1, j])
            sh, sl = _dd_acc(sh, sl, b0h, b0l, x[0, 0, j], x[0, 1, j])
            A[0, 0, i, j], A[0, 1, i, j] = _two_sum(sh, sl)
        return
    a1h, a1l, b1h, b1l = -xi[1, 0], -xi[1, 1], yi[1, 0], yi[1, 1]
    if t == 1:
        for j in range(lo, hi):
            sh, sl = _dd_acc(A[1, 0, i, j], A[1, 1, i, j], a0h, a0l, y[1, 0, j], y[1, 1, j])
            sh, sl = _dd_acc(sh, sl, a1h, a1l, y[0, 0, j], y[0, 1, j])
            sh, sl = _dd_acc(sh, sl, b0h, b0l, x[1, 0, j], x[1, 1, j])
            sh, sl = _dd_acc(sh, sl, b1h, b1l, x[0, 0, j], x[0, 1, j])
            A[1, 0, i, j], A[1, 1, i, j] = _two_sum(sh, sl)
        return
    a2h, a2l, b2h, b2l = -xi[2, 0], -xi[2, 1], yi[2, 0], yi[2, 1]
    for j in range(lo, hi):
        sh, sl = _dd_acc(A[2, 0, i, j], A[2, 1, i, j], a0h, a0l, y[2, 0, j], y[2, 1, j])
        sh, sl = _dd_acc(sh, sl, a1h, a1l, y[1, 0, j], y[1, 1, j])
        sh, sl = _dd_acc(sh, sl, a2h, a2l, y[0, 0, j], y[0, 1, j])
        sh, sl = _dd_acc(sh, sl, b0h, b0l, x[2, 0, j], x[2, 1, j])
        sh, sl = _dd_acc(sh, sl, b1h, b1l, x[1, 0, j], x[1, 1, j])
        sh, sl = _dd_acc(sh, sl, b2h, b2l, x[0, 0, j], x[0, 1, j])
        A[2, 0, i, j], A[2, 1, i, j] = _two_sum(sh, sl)


@njit
def dense_pivots(C):
    """Pf C of a dense skew matrix of jets, in double-double, by Parlett-Reid with pivoting.

    Parlett & Reid, BIT 10, 386 (1970); for Pfaffians Wimmer, ACM TOMS 38, 30 (2012), alg. 1: two rows and
    columns per step, the pivot the largest |C0[j, k]| below the diagonal of column k, swapped into row
    k + 1 (a sign change); the trailing block -= (x y^T - y x^T) / a, x, y columns k and k + 1.  Only the lower
    triangle is kept (a copy with the coefficient and (hi, lo) first, so the update's rows vectorise); a swap
    moves the entries between the triangles with their sign (C[j, i] = -C[i, j]).

    Parameters
    ----------
    C : ndarray of float64, shape (n, n, nt, 2)
        Skew-symmetric, n even (only the lower triangle is read); jet coefficients, then (hi, lo).  Not modified.

    Returns
    -------
    sign : float
        +1 or -1: the parity of the swaps.
    pivots : ndarray of float64, shape (n / 2, nt, 2)
        Pf C = sign prod_j pivots[j]; a zero column stops the elimination (that pivot and the later ones 0).
    """
    n, nt = C.shape[0], C.shape[2]
    A = np.zeros((nt, 2, n, n))
    for i in range(n):
        for j in range(i):
            for t in range(nt):
                A[t, 0, i, j] = C[i, j, t, 0]
                A[t, 1, i, j] = C[i, j, t, 1]
    pivots = np.zeros((n // 2, nt, 2))
    sign = 1.0
    rh = np.empty(nt)
    rl = np.empty(nt)
    x = np.zeros((nt, 2, n))
    y = np.zeros((nt, 2, n))
    xi = np.empty((nt, 2))
    yi = np.empty((nt, 2))
    for k in range(0, n, 2):
        p = k + 1
        best = abs(A[0, 0, k + 1, k])
        for i in range(k + 2, n):
            if abs(A[0, 0, i, k]) > best:
                best = abs(A[0, 0, i, k])
                p = i
        if best == 0.0:
            break
        if p != k + 1:  # swap rows and columns a = k + 1 and p in the lower triangle (indices >= k)
            a = k + 1
            for t in range(nt):
                for c in range(2):
                    for j in range(k, a):
                        A[t, c, a, j], A[t, c, p, j] = A[t, c, p, j], A[t, c, a, j]
                    for j in range(a + 1, p):
                        A[t, c, j, a], A[t, c, p, j] = -A[t, c, p, j], -A[t, c, j, a]
                    for j in range(p + 1, n):
                        A[t, c, j, a], A[t, c, j, p] = A[t, c, j, p], A[t, c, j, a]
                    A[t, c, p, a] = -A[t, c, p, a]
            sign = -sign
        for t in range(nt):  # the pivot C[k, k + 1] = -C[k + 1, k]
            pivots[k // 2, t, 0] = -A[t, 0, k + 1, k]
            pivots[k // 2, t, 1] = -A[t, 1, k + 1, k]
        if k + 2 == n:
            break
        # r = 1 / a as a jet
        rh[0], rl[0] = _dd_inv(pivots[k // 2, 0, 0], pivots[k // 2, 0, 1])
        for t in range(1, nt):
            sh, sl = 0.0, 0.0
            for u in range(1, t + 1):
                ph, pl = _dd_mul(pivots[k // 2, u, 0], pivots[k // 2, u, 1], rh[t - u], rl[t - u])
                sh, sl = _dd_add(sh, sl, ph, pl)
            rh[t], rl[t] = _dd_mul(-sh, -sl, rh[0], rl[0])
        # x = column k / a, y = column k + 1 (rows below k + 1)
        for i in range(k + 2, n):
            for t in range(nt):
                sh, sl = 0.0, 0.0
                for u in range(t + 1):
                    ph, pl = _dd_mul(A[u, 0, i, k], A[u, 1, i, k], rh[t - u], rl[t - u])
                    sh, sl = _dd_add(sh, sl, ph, pl)
                x[t, 0, i], x[t, 1, i] = sh, sl
                y[t, 0, i], y[t, 1, i] = A[t, 0, i, k + 1], A[t, 1, i, k + 1]
        for i in range(k + 3, n):
            for t in range(nt):
                xi[t, 0], xi[t, 1] = x[t, 0, i], x[t, 1, i]
                yi[t, 0], yi[t, 1] = y[t, 0, i], y[t, 1, i]
            for t in range(nt):
                _rank2_row(A, t, i, k + 2, i, xi, yi, x, y)
    return sign, pivots

@njit
def log_jets(piv):
    """ln |Pf K| and its derivatives from the pivots' jets, summed in double-double.

    Parameters
    ----------
    piv : ndarray of float64, shape (n, nt, 2)
        From :func:`factor`.

    Returns
    -------
    sums : ndarray of float64, shape (nt,)
        ln |Pf K|, d ln |Pf K| / d eps and (1/2) d^2 ln |Pf K| / d eps^2 (the first ``nt``), where
        ln p(eps) = ln |p0| + (p1/p0) eps + (p2/p0 - (p1/p0)^2 / 2) eps^2.
    scale : ndarray of float64, shape (nt,)
        The sums of the terms' absolute values (the scale of the rounding).
    sign : float
        The sign of Pf K (the product of the pivots' signs).
    growth : float
        max_k max(|p0_k|, 1 / |p0_k|).
    """
    n, nt = piv.shape[0], piv.shape[1]
    sums = np.zeros((nt, 2))
    scale = np.zeros(nt)
    sign = 1.0
    growth = 1.0
    for k in range(n):
        ph, pl = piv[k, 0, 0], piv[k, 0, 1]
        if ph < 0:
            sign = -sign
        a = abs(ph)
        growth = max(growth, a, 1.0 / a)
        # ln of a double-double: ln(ph) + pl / ph (first order is exact to double-double rounding)
        lg = np.log(a) + pl / ph
        sums[0, 0], sums[0, 1] = _dd_add(sums[0, 0], sums[0, 1], lg, 0.0)
        scale[0] += abs(lg)
        if nt > 1:
            rh, rl = _dd_inv(ph, pl)
            q1h, q1l = _dd_mul(piv[k, 1, 0], piv[k, 1, 1], rh, rl)
            sums[1, 0], sums[1, 1] = _dd_add(sums[1, 0], sums[1, 1], q1h, q1l)
            scale[1] += abs(q1h)
            if nt > 2:
                q2h, q2l = _dd_mul(piv[k, 2, 0], piv[k, 2, 1], rh, rl)
                sq, sql = _dd_mul(q1h, q1l, q1h, q1l)
                th, tl = _dd_add(q2h, q2l, -0.5 * sq, -0.5 * sql)
                sums[2, 0], sums[2, 1] = _dd_add(sums[2, 0], sums[2, 1], th, tl)
                scale[2] += abs(th)
    return sums[:, 0] + sums[:, 1], scale, sign, growth
