"""Signed Pfaffian of a sparse skew-symmetric matrix with paired rows, in double arithmetic.

The double twin of :func:`isingvar.kernels.ddpfaffian.factor`: the same left-looking supernodal elimination of the
dart pairs as 2 x 2 pivots over the symbolic fill of :func:`isingvar.kernels.ddpfaffian.symbolic` (Bunch, Math. Comp.
38, 475 (1982); Wimmer, ACM TOMS 38, 30 (2012), eq. 7 for the Schur step; George & Liu 1981, ch. 5; supernodes: Ng &
Peyton, SIAM J. Sci. Comput. 14, 1034 (1993), found by :func:`isingvar.kernels.ddpfaffian.supernodes`), the same
storage (the blocks (4, nt, nnz), the structural position last, so that the Schur update's loops over a column's rows
run on contiguous memory, padded to whole vectors (:data:`isingvar.kernels.ddpfaffian.LANES`), with uint64 indices and
a fixed-stride accumulator (:data:`isingvar.kernels.ddpfaffian.ACC_ROW`), so that they vectorise), 1/d_k formed once
per pivot, every entry a truncated Taylor jet x0 + x1 eps + x2 eps^2 (Griewank & Walther, *Evaluating Derivatives*,
2nd ed., ch. 13), each coefficient one double and the update's products ordinary (fused multiply-add) sums.  It
replaces SuperLU on the (nt M)-square real embedding of the jets (:class:`isingvar.exact.pfaffian.JetLU`) where the
pairs' own elimination is cheaper: the jets ride the pairs instead of tripling the matrix.  L = 64 torus interior:
0.08 s CPU with the jets (0.12 s column by column), 0.024 s without (0.037 s); the rest is mostly memory traffic.
"""

import numpy as np

from ._jit import FAST, njit
from .ddpfaffian import ACC_ROW, LANES, supernodes


@njit(fastmath=FAST, inline="always")
def _rows1(val, acc, wb, kk, ub, cp):
    """acc[e, y] += (F_y W)[a, b] (e = 2a + b; F_y the source block at position ``ub`` + y, W = ``wb[kk]``), y < ``cp``,
    for jets of one coefficient.  ``acc`` is :func:`factor`'s accumulator (row e ACC_ROW + y); ``ub`` and ``cp`` are
    uint64 (no wraparound of negative indices: contiguous loads), and the loop over y vectorises."""
    # W[b] multiplies F[2a], W[2 + b] multiplies F[2a + 1]
    w0, w1, w2, w3 = wb[kk, 0, 0], wb[kk, 1, 0], wb[kk, 2, 0], wb[kk, 3, 0]
    # uint64 offsets (numba types an int literal times a uint64 as int64: a signed index, with its wraparound select,
    # which turns the contiguous loads into gathers)
    o1, o2, o3 = np.uint64(ACC_ROW), np.uint64(2 * ACC_ROW), np.uint64(3 * ACC_ROW)
    for y in range(cp):
        q = ub + y
        f0, f1, f2, f3 = val[0, 0, q], val[1, 0, q], val[2, 0, q], val[3, 0, q]
        acc[y] += f0 * w0 + f1 * w2
        acc[o1 + y] += f0 * w1 + f1 * w3
        acc[o2 + y] += f2 * w0 + f3 * w2
        acc[o3 + y] += f2 * w1 + f3 * w3


@njit(fastmath=FAST, inline="always")
def _rows3(val, acc, wb, kk, a, ub, cp):
    """:func:`_rows1` for jets of three coefficients and one row ``a`` of the blocks (uint64): coefficient t of entry
    e = 2a + b gains sum_u F[2a]_u W[b]_(t - u) + F[2a + 1]_u W[2 + b]_(t - u) (``acc`` row (3e + t) ACC_ROW + y)."""
    ea = np.uint64(2) * a
    eb = ea + np.uint64(1)
    # the accumulator's rows of entry 2a (oa) and 2a + 1 (ob)
    oa = np.uint64(6 * ACC_ROW) * a
    ob = oa + np.uint64(3 * ACC_ROW)
    # b = 0: p = W[0] times F[2a], q = W[2] times F[2a + 1]; b = 1: r = W[1], s = W[3]
    p0, p1, p2 = wb[kk, 0, 0], wb[kk, 0, 1], wb[kk, 0, 2]
    q0, q1, q2 = wb[kk, 2, 0], wb[kk, 2, 1], wb[kk, 2, 2]
    r0, r1, r2 = wb[kk, 1, 0], wb[kk, 1, 1], wb[kk, 1, 2]
    s0, s1, s2 = wb[kk, 3, 0], wb[kk, 3, 1], wb[kk, 3, 2]
    o1, o2 = np.uint64(ACC_ROW), np.uint64(2 * ACC_ROW)  # uint64 offsets, as in _rows1
    for y in range(cp):
        q = ub + y
        a0, a1, a2 = val[ea, 0, q], val[ea, 1, q], val[ea, 2, q]
        b0, b1, b2 = val[eb, 0, q], val[eb, 1, q], val[eb, 2, q]
        i = oa + y  # entry 2a
        acc[i] += a0 * p0 + b0 * q0
        acc[i + o1] += a0 * p1 + a1 * p0 + b0 * q1 + b1 * q0
        acc[i + o2] += a0 * p2 + a1 * p1 + a2 * p0 + b0 * q2 + b1 * q1 + b2 * q0
        i = ob + y  # entry 2a + 1
        acc[i] += a0 * r0 + b0 * s0
        acc[i + o1] += a0 * r1 + a1 * r0 + b0 * s1 + b1 * s0
        acc[i + o2] += a0 * r2 + a1 * r1 + a2 * r0 + b0 * s2 + b1 * s1 + b2 * s0


@njit
def _weights(val, piv, inv, wb, colptr, j, k0, k1, c):
    """W = P^-1 G^T of each source column k0 .. k1 of one supernode for target column j, and their d_j += (G W)[0, 1].

    Row j of source column k sits at position ``colptr[k] + c - k``, G = K[pair j, pair k] its block, P^-1 =
    [[0, -r], [r, 0]], r = 1 / d_k (``inv[k]``): W = [[-g01, -g11], [g00, g10]] r (Bunch 1982; Wimmer 2012, eq. 7),
    every product a truncated jet product.

    Parameters
    ----------
    val : ndarray of float64, shape (4, nt, >= nnzL)
        :func:`factor`'s blocks (the source columns final).
    piv, inv : ndarray of float64, shape (n, nt)
        The pivots' jets (``piv[j]`` gains the update) and their inverses'.
    wb : ndarray of float64, shape (>= k1 - k0 + 1, 4, nt)
        Out: ``wb[k - k0]`` = source k's W (row-major entries, jet coefficients).
    colptr : ndarray of int64, shape (n + 1,)
        From :func:`isingvar.kernels.ddpfaffian.symbolic`.
    j, k0, k1, c : int
        The target column, the sources and the offset of their row j.
    """
    nt = piv.shape[1]
    for kk in range(k1 - k0 + 1):
        k = k0 + kk
        b = colptr[k] + c - k
        for e, src, sg in ((0, 1, -1.0), (1, 3, -1.0), (2, 0, 1.0), (3, 2, 1.0)):
            for t in range(nt):
                s = 0.0
                for u in range(t + 1):
                    s += val[src, u, b] * inv[k, t - u]
                wb[kk, e, t] = sg * s
        # d_j += (G W)[0, 1] = g00 w01 + g01 w11
        for t in range(nt):
            s = 0.0
            for u in range(t + 1):
                s += val[0, u, b] * wb[kk, 1, t - u] + val[1, u, b] * wb[kk, 3, t - u]
            piv[j, t] += s


@njit(fastmath=FAST)
def _schur_rows(val, acc, wb, colptr, k0, k1, c, count):
    """S_ij += sum_k F_ik W_k over the source columns k0 .. k1 of one supernode, for ``count`` consecutive later rows.

    Source column k's rows start at position ``colptr[k] + c - k`` of ``val``; target row y's entries are in ``acc``
    (row (nt e + t) ACC_ROW + y), gathered by :func:`_update`.  The row loops run to ``count`` rounded up to LANES
    (past the column: padding, their sums never read); reassociation and contraction only inside one entry's sum.

    Parameters
    ----------
    val : ndarray of float64, shape (4, nt, nnzL + LANES)
        :func:`factor`'s blocks (the source columns final), padded.
    acc : ndarray of float64, shape (4 nt ACC_ROW,)
        The target entries, updated in place.
    wb : ndarray of float64, shape (>= k1 - k0 + 1, 4, nt)
        The sources' W (:func:`_weights`).
    colptr : ndarray of int64, shape (n + 1,)
        From :func:`isingvar.kernels.ddpfaffian.symbolic`.
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
                            s = 0.0
                            for u in range(t + 1):
                                s += (val[2 * a, u, q0 + y] * wb[kk, bb, t - u]
                                      + val[2 * a + 1, u, q0 + y] * wb[kk, 2 + bb, t - u])
                            acc[(nt * (2 * a + bb) + t) * ACC_ROW + y] += s


@njit
def _update(val, piv, inv, wb, acc, tpos, colptr, pos, rows, j, k0, k1, c, count, target):
    """Column j's update from the source columns k0 .. k1 of one supernode (:func:`_weights`, :func:`_schur_rows`).

    Row j of source column k is at position ``colptr[k] + c - k`` and ``count`` later rows follow.  Their targets in
    column j: with ``target`` >= 0, positions ``target`` + y (the supernode's own columns); else ``pos[rows[t]]``
    for the source's rows t (from the first source's position after row j on).  Each chunk of at most
    ACC_ROW - LANES rows is gathered into ``acc``, updated and written back, one entry and coefficient at a time
    through the chunk's target positions listed once (a quarter less time than finding them per row, nt = 1).

    Parameters
    ----------
    val, piv, inv, wb, acc, colptr : ndarray
        As :func:`_weights` and :func:`_schur_rows`.
    tpos : ndarray of int64, shape (ACC_ROW,)
        Scratch: the chunk's target positions in ``val``.
    pos : ndarray of int64, shape (n,)
        The position of each row in column j (where ``target`` < 0).
    rows : ndarray of int64, shape (nnzL,)
        From :func:`isingvar.kernels.ddpfaffian.symbolic`.
    j, k0, k1, c, count, target : int
        As above.
    """
    nt = piv.shape[1]
    _weights(val, piv, inv, wb, colptr, j, k0, k1, c)
    first_row = colptr[k0] + c - k0 + 1  # the first source's position of the row after j
    chunk = ACC_ROW - LANES
    for y0 in range(0, count, chunk):
        m = min(chunk, count - y0)
        if target >= 0:
            for y in range(m):
                tpos[y] = target + y0 + y
        else:
            for y in range(m):
                tpos[y] = pos[rows[first_row + y0 + y]]
        for e in range(4):
            for t in range(nt):
                o = (nt * e + t) * ACC_ROW
                for y in range(m):
                    acc[o + y] = val[e, t, tpos[y]]
        _schur_rows(val, acc, wb, colptr, k0, k1, c + 1 + y0, m)
        for e in range(4):
            for t in range(nt):
                o = (nt * e + t) * ACC_ROW
                for y in range(m):
                    val[e, t, tpos[y]] = acc[o + y]


@njit
def factor(colptr, rows, offdiag, diag, stop):
    """Pfaffian pivots of K, in double, with their jets; or the Schur complement of its first pairs.

    Left-looking and supernodal (Ng & Peyton, SIAM J. Sci. Comput. 14, 1034 (1993)), as
    :func:`isingvar.kernels.ddpfaffian.factor`: column j takes the update of every earlier supernode
    (:func:`isingvar.kernels.ddpfaffian.supernodes`) whose columns reach row j, all of a supernode's columns at once,
    then that of the earlier columns of its own supernode (:func:`_update`).

    Parameters
    ----------
    colptr, rows : ndarray of int64
        From :func:`isingvar.kernels.ddpfaffian.symbolic`.
    offdiag : ndarray of float64, shape (nnzL, 4, nt)
        The 2 x 2 blocks K[pair i, pair k] (row-major: [2i, 2k], [2i, 2k+1], [2i+1, 2k], [2i+1, 2k+1]) of
        every structural position (i = ``rows[p]`` for column k), jet coefficients last; zero at fill.
    diag : ndarray of float64, shape (n, nt)
        K[2k, 2k + 1] of every pair k (elimination numbering), jet coefficients last.
    stop : int
        Eliminate the pairs before ``stop`` only (``n``: all); the later columns then hold the Pfaffian Schur
        complement C + F P^-1 F^T of the eliminated block: its 2 x 2 blocks below the diagonal in ``val``, its
        K[2k, 2k + 1] entries in ``piv``.

    Returns
    -------
    piv : ndarray of float64, shape (n, nt)
        The jets of the pivots d_k (Pf K = prod_k d_k; for k >= ``stop``, the Schur complement's K[2k, 2k + 1]).
        A zero pivot stops the elimination: its entry and all later ones are NaN.
    val : ndarray of float64, shape (4, nt, nnzL)
        The blocks at elimination time (for columns >= ``stop``: the Schur complement's), entry and jet
        coefficient first, the structural position last.  A view of a buffer padded by LANES positions.
    """
    n = diag.shape[0]
    nt = diag.shape[1]
    nnz = rows.size
    val = np.zeros((4, nt, nnz + LANES))  # padding: the row loops read up to LANES - 1 positions past a column
    for e in range(4):
        for t in range(nt):
            val[e, t, :nnz] = offdiag[:, e, t]
    piv = diag.copy()
    first = supernodes(colptr, rows, stop)
    ns = first.size - 1
    big = 1
    for s in range(ns):
        big = max(big, first[s + 1] - first[s])
    acc = np.zeros(4 * nt * ACC_ROW)
    tpos = np.empty(ACC_ROW, dtype=np.int64)
    wb = np.empty((big, 4, nt))
    inv = np.empty((n, nt))  # the jet of 1 / d_k, once per pivot
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
                _update(val, piv, inv, wb, acc, tpos, colptr, pos, rows, j, k0, k1, k1 + x, count, -1)
                if count > 0:
                    nxt[sup] = x + 1
                    r = rows[t0 + 1]
                    link[sup] = head[r]
                    head[r] = sup
                sup = following
            if j > c0:  # the supernode's earlier columns: their rows after j are column j's, in order
                _update(val, piv, inv, wb, acc, tpos, colptr, pos, rows, j, c0, j - 1, j - 1, cnt, cj)
            if j >= stop:  # the Schur complement's column: updated, never a pivot
                continue
            if piv[j, 0] == 0.0:
                piv[j:, :] = np.nan
                return piv, val[:, :, :nnz]
            # r = 1 / d_j as a jet: r0 = 1 / d0, r_t = -r0 sum_{u >= 1} d_u r_(t-u)
            inv[j, 0] = 1.0 / piv[j, 0]
            for t in range(1, nt):
                a = 0.0
                for u in range(1, t + 1):
                    a += piv[j, u] * inv[j, t - u]
                inv[j, t] = -a * inv[j, 0]
        last = c1 - 1
        if c0 < stop and colptr[last + 1] > colptr[last]:  # an eliminated supernode with later rows: it waits for them
            nxt[s] = 0
            r = rows[colptr[last]]
            link[s] = head[r]
            head[r] = s
    return piv, val[:, :, :nnz]


@njit(fastmath=FAST)
def _rank2_row(A, t, i, lo, hi, x, y):
    """Row i of the lower triangle, columns lo..hi - 1, coefficient t: A[t, i, j] += sum_u y_i[u] x_j[t - u] -
    x_i[u] y_j[t - u] (the jets' rank-2 update); the loop over j reads contiguous memory and vectorises."""
    for u in range(t + 1):
        a, b = -x[u, i], y[u, i]
        for j in range(lo, hi):
            A[t, i, j] += a * y[t - u, j] + b * x[t - u, j]


@njit
def dense_pivots(C):
    """Pf C of a dense skew matrix of jets, in double, by Parlett-Reid with pivoting: the double twin of
    :func:`isingvar.kernels.ddpfaffian.dense_pivots`.

    Parlett & Reid, BIT 10, 386 (1970); for Pfaffians Wimmer, ACM TOMS 38, 30 (2012), alg. 1: two rows and
    columns per step, the pivot the largest |C0[j, k]| below the diagonal of column k, swapped into row
    k + 1 (a sign change); the trailing block -= (x y^T - y x^T) / a, x, y columns k and k + 1, every product
    one of truncated jets.  Only the lower triangle is kept (a copy with the coefficient first, rows contiguous).

    Parameters
    ----------
    C : ndarray of float64, shape (nt, n, n)
        The jet coefficients (n even; each skew-symmetric, only the lower triangles are read).  Not modified.

    Returns
    -------
    sign : float
        +1 or -1: the parity of the swaps.
    pivots : ndarray of float64, shape (n / 2, nt)
        Pf C = sign prod_j pivots[j]; a zero column stops the elimination (that pivot and the later ones 0).
    """
    nt, n = C.shape[0], C.shape[1]
    A = np.zeros((nt, n, n))
    for t in range(nt):
        for i in range(n):
            for j in range(i):
                A[t, i, j] = C[t, i, j]
    pivots = np.zeros((n // 2, nt))
    sign = 1.0
    r = np.empty(nt)
    x = np.zeros((nt, n))
    y = np.zeros((nt, n))
    for k in range(0, n, 2):
        p = k + 1
        best = abs(A[0, k + 1, k])
        for i in range(k + 2, n):
            if abs(A[0, i, k]) > best:
                best = abs(A[0, i, k])
                p = i
        if best == 0.0:
            break
        if p != k + 1:  # swap rows and columns a = k + 1 and p in the lower triangle (indices >= k)
            a = k + 1
            for t in range(nt):
                for j in range(k, a):
                    A[t, a, j], A[t, p, j] = A[t, p, j], A[t, a, j]
                for j in range(a + 1, p):
                    A[t, j, a], A[t, p, j] = -A[t, p, j], -A[t, j, a]
                for j in range(p + 1, n):
                    A[t, j, a], A[t, j, p] = A[t, j, p], A[t, j, a]
                A[t, p, a] = -A[t, p, a]
            sign = -sign
        for t in range(nt):  # the pivot C[k, k + 1] = -C[k + 1, k]
            pivots[k // 2, t] = -A[t, k + 1, k]
        if k + 2 == n:
            break
        # r = 1 / a as a jet: r0 = 1 / a0, r_t = -r0 sum_{u >= 1} a_u r_(t-u)
        r[0] = 1.0 / pivots[k // 2, 0]
        for t in range(1, nt):
            acc = 0.0
            for u in range(1, t + 1):
                acc += pivots[k // 2, u] * r[t - u]
            r[t] = -acc * r[0]
        # x = column k / a, y = column k + 1 (rows below k + 1)
        for i in range(k + 2, n):
            for t in range(nt):
                acc = 0.0
                for u in range(t + 1):
                    acc += A[u, i, k] * r[t - u]
                x[t, i] = acc
                y[t, i] = A[t, i, k + 1]
        for i in range(k + 3, n):
            for t in range(nt):
                _rank2_row(A, t, i, k + 2, i, x, y)
    return sign, pivots
