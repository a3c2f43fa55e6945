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

Speed: the Schur update's products are summed unnormalised and renormalised once per entry (Dot2: Ogita, Rump &
Oishi, SIAM J. Sci. Comput. 26, 1955 (2005)), the blocks are stored with the structural position last so that the
loops over a column's rows vectorise (AVX2: four lanes), 1/d_k is formed once per pivot, and the dense Parlett-Reid
keeps the lower triangle only, row-contiguous: 2.2x (sparse, L = 64 torus interior, 1.07 s against 2.32 s CPU) and
2.1x (dense, n = 256) the scalar kernel, the results equal to double-double rounding.
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
def _dd_add_full(ah, al, bh, bl):
    """(ah + al) + (bh + bl) renormalised by a full two_sum (cancellation may leave the low part the larger)."""
    s, e = _two_sum(ah, bh)
    e += al + bl
    return _two_sum(s, e)


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


@njit
def _jet_mul_acc(acc, ah, al, bh, bl, nt):
    """acc += a * b for jets a, b (nt coefficients, double-double each); acc float64 (nt, 2)."""
    for t in range(nt):
        for u in range(t + 1):
            ph, pl = _dd_mul(ah[u], al[u], bh[t - u], bl[t - u])
            acc[t, 0], acc[t, 1] = _dd_add(acc[t, 0], acc[t, 1], ph, pl)


@njit(inline="always")
def _dot2_start(xh, xl, yh, yl):
    """(xh + xl)(yh + yl) as an unnormalised pair, to be continued by :func:`_dd_acc`."""
    p, e = _two_prod(xh, yh)
    return p, e + xh * yl + xl * yh


@njit
def _products(soa, start, count, wh, wl, nt, out):
    """out[e, t, :, i] = (F_q W)[a, b] coefficient t (e = 2a + b, q = start + i), the jet products of :func:`factor`'s
    Schur update, each a sum of up to six double-double products accumulated unnormalised (Dot2) and renormalised
    once.  ``soa`` is :func:`factor`'s ``val`` (float64 (4, nt, 2, nnz), the row index last), so the loop over i runs
    on contiguous memory and vectorises; the adds into the target column follow."""
    for a in range(2):
        for b in range(2):
            e = 2 * a + b
            # W's two jets of this entry: W[b] multiplies F[2a], W[2 + b] multiplies F[2a + 1]
            u0h, u0l = wh[b, 0], wl[b, 0]
            v0h, v0l = wh[2 + b, 0], wl[2 + b, 0]
            for i in range(count):
                q = start + i
                sh, sl = _dot2_start(soa[2 * a, 0, 0, q], soa[2 * a, 0, 1, q], u0h, u0l)
                sh, sl = _dd_acc(sh, sl, soa[2 * a + 1, 0, 0, q], soa[2 * a + 1, 0, 1, q], v0h, v0l)
                out[e, 0, 0, i], out[e, 0, 1, i] = _two_sum(sh, sl)
            if nt > 1:
                u1h, u1l = wh[b, 1], wl[b, 1]
                v1h, v1l = wh[2 + b, 1], wl[2 + b, 1]
                for i in range(count):
                    q = start + i
                    sh, sl = _dot2_start(soa[2 * a, 0, 0, q], soa[2 * a, 0, 1, q], u1h, u1l)
                    sh, sl = _dd_acc(sh, sl, soa[2 * a, 1, 0, q], soa[2 * a, 1, 1, q], u0h, u0l)
                    sh, sl = _dd_acc(sh, sl, soa[2 * a + 1, 0, 0, q], soa[2 * a + 1, 0, 1, q], v1h, v1l)
                    sh, sl = _dd_acc(sh, sl, soa[2 * a + 1, 1, 0, q], soa[2 * a + 1, 1, 1, q], v0h, v0l)
                    out[e, 1, 0, i], out[e, 1, 1, i] = _two_sum(sh, sl)
            if nt > 2:
                u2h, u2l = wh[b, 2], wl[b, 2]
                v2h, v2l = wh[2 + b, 2], wl[2 + b, 2]
                for i in range(count):
                    q = start + i
                    sh, sl = _dot2_start(soa[2 * a, 0, 0, q], soa[2 * a, 0, 1, q], u2h, u2l)
                    sh, sl = _dd_acc(sh, sl, soa[2 * a, 1, 0, q], soa[2 * a, 1, 1, q], u1h, u1l)
                    sh, sl = _dd_acc(sh, sl, soa[2 * a, 2, 0, q], soa[2 * a, 2, 1, q], u0h, u0l)
                    sh, sl = _dd_acc(sh, sl, soa[2 * a + 1, 0, 0, q], soa[2 * a + 1, 0, 1, q], v2h, v2l)
                    sh, sl = _dd_acc(sh, sl, soa[2 * a + 1, 1, 0, q], soa[2 * a + 1, 1, 1, q], v1h, v1l)
                    sh, sl = _dd_acc(sh, sl, soa[2 * a + 1, 2, 0, q], soa[2 * a + 1, 2, 1, q], v0h, v0l)
                    out[e, 2, 0, i], out[e, 2, 1, i] = _two_sum(sh, sl)


@njit
def factor(colptr, rows, offdiag, diag, stop):
    """Pfaffian pivots of K, in double-double, with their jets; or the Schur complement of its first pairs.

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
        loops over them vectorise).
    """
    n = diag.shape[0]
    nt = diag.shape[1]
    nnz = rows.size
    val = np.zeros((4, nt, 2, nnz))
    for e in range(4):
        for t in range(nt):
            val[e, t, 0, :] = offdiag[:, e, t]
    piv = np.zeros((n, nt, 2))
    piv[:, :, 0] = diag
    pos = np.full(n, -1, dtype=np.int64)
    head = np.full(n, -1, dtype=np.int64)  # columns k waiting to update column j (linked lists)
    nxt_col = np.full(n, -1, dtype=np.int64)
    nxt = np.zeros(n, dtype=np.int64)  # next structural position of column k to use
    gh = np.empty((4, nt))
    gl = np.empty((4, nt))
    wh = np.empty((4, nt))
    wl = np.empty((4, nt))
    rh = np.empty(nt)
    rl = np.empty(nt)
    acc = np.empty((nt, 2))
    inv = np.empty((n, nt, 2))  # the jet of 1 / d_k, once per pivot
    width = 0
    for k in range(n):
        width = max(width, colptr[k + 1] - colptr[k])
    prod = np.empty((4, nt, 2, width))
    for j in range(n):
        for p in range(colptr[j], colptr[j + 1]):
            pos[rows[p]] = p
        k = head[j]
        while k >= 0:
            knext = nxt_col[k]
            p = nxt[k]
            for t in range(nt):
                rh[t], rl[t] = inv[k, t, 0], inv[k, t, 1]
            # W = P^-1 G^T = [[-g01, -g11], [g00, g10]] * r, G = K[pair j, pair k]
            for e in range(4):
                for t in range(nt):
                    gh[e, t] = val[e, t, 0, p]
                    gl[e, t] = val[e, t, 1, p]
            for e, src, sg in ((0, 1, -1.0), (1, 3, -1.0), (2, 0, 1.0), (3, 2, 1.0)):
                acc[:, :] = 0.0
                _jet_mul_acc(acc, gh[src], gl[src], rh, rl, nt)
                for t in range(nt):
                    wh[e, t] = sg * acc[t, 0]
                    wl[e, t] = sg * acc[t, 1]
            # d_j += (G W)[0, 1] = g00 w01 + g01 w11
            acc[:, :] = 0.0
            _jet_mul_acc(acc, gh[0], gl[0], wh[1], wl[1], nt)
            _jet_mul_acc(acc, gh[1], gl[1], wh[3], wl[3], nt)
            for t in range(nt):
                piv[j, t, 0], piv[j, t, 1] = _dd_add(piv[j, t, 0], piv[j, t, 1], acc[t, 0], acc[t, 1])
            # S_ij += F_ik W for the later rows i of column k: the products (vectorised over the rows), then their
            # adds into column j's positions, a run of consecutive positions at a time (vectorised too)
            count = colptr[k + 1] - p - 1
            _products(val, p + 1, count, wh, wl, nt, prod)
            i = 0
            while i < count:
                s = pos[rows[p + 1 + i]]
                run = 1
                while i + run < count and pos[rows[p + 1 + i + run]] == s + run:
                    run += 1
                for e in range(4):
                    for t in range(nt):
                        for x in range(run):
                            val[e, t, 0, s + x], val[e, t, 1, s + x] = _dd_add_full(
                                val[e, t, 0, s + x], val[e, t, 1, s + x], prod[e, t, 0, i + x], prod[e, t, 1, i + x])
                i += run
            nxt[k] = p + 1
            if p + 1 < colptr[k + 1]:
                r = rows[p + 1]
                nxt_col[k] = head[r]
                head[r] = k
            k = knext
        if j >= stop:  # the Schur complement's column: updated, never a pivot
            continue
        if piv[j, 0, 0] == 0.0:
            piv[j:, :, :] = np.nan
            return piv, val
        # r = 1 / d_j as a jet: r0 = 1 / d0, r_t = -r0 sum_{u >= 1} d_u r_(t-u)
        inv[j, 0, 0], inv[j, 0, 1] = _dd_inv(piv[j, 0, 0], piv[j, 0, 1])
        for t in range(1, nt):
            sh, sl = 0.0, 0.0
            for u in range(1, t + 1):
                ph, pl = _dd_mul(piv[j, u, 0], piv[j, u, 1], inv[j, t - u, 0], inv[j, t - u, 1])
                sh, sl = _dd_add(sh, sl, ph, pl)
            inv[j, t, 0], inv[j, t, 1] = _dd_mul(-sh, -sl, inv[j, 0, 0], inv[j, 0, 1])
        if colptr[j + 1] > colptr[j]:
            nxt[j] = colptr[j]
            r = rows[colptr[j]]
            nxt_col[j] = head[r]
            head[r] = j
    return piv, val


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
