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
    val : ndarray of float64, shape (nnzL, 4, nt, 2)
        The blocks at elimination time (for columns >= ``stop``: the Schur complement's).
    """
    n = diag.shape[0]
    nt = diag.shape[1]
    nnz = rows.size
    val = np.zeros((nnz, 4, nt, 2))
    val[:, :, :, 0] = offdiag
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
    for j in range(n):
        for p in range(colptr[j], colptr[j + 1]):
            pos[rows[p]] = p
        k = head[j]
        while k >= 0:
            knext = nxt_col[k]
            p = nxt[k]
            # r = 1 / d_k as a jet
            d0h, d0l = piv[k, 0, 0], piv[k, 0, 1]
            rh[0], rl[0] = _dd_inv(d0h, d0l)
            for t in range(1, nt):
                acc[:, :] = 0.0
                for u in range(1, t + 1):
                    ph, pl = _dd_mul(piv[k, u, 0], piv[k, u, 1], rh[t - u], rl[t - u])
                    acc[0, 0], acc[0, 1] = _dd_add(acc[0, 0], acc[0, 1], ph, pl)
                rh[t], rl[t] = _dd_mul(-acc[0, 0], -acc[0, 1], rh[0], rl[0])
            # W = P^-1 G^T = [[-g01, -g11], [g00, g10]] * r, G = K[pair j, pair k]
            for e in range(4):
                for t in range(nt):
                    gh[e, t] = val[p, e, t, 0]
                    gl[e, t] = val[p, e, t, 1]
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
            # S_ij += F_ik W for the later rows i of column k (scalar code: no slices in the hot loop)
            for q in range(p + 1, colptr[k + 1]):
                s = pos[rows[q]]
                for a in range(2):
                    for b in range(2):
                        for t in range(nt):
                            sh = val[s, 2 * a + b, t, 0]
                            sl = val[s, 2 * a + b, t, 1]
                            for u in range(t + 1):
                                ph, pl = _dd_mul(val[q, 2 * a, u, 0], val[q, 2 * a, u, 1], wh[b, t - u], wl[b, t - u])
                                sh, sl = _dd_add(sh, sl, ph, pl)
                                ph, pl = _dd_mul(val[q, 2 * a + 1, u, 0], val[q, 2 * a + 1, u, 1],
                                                 wh[2 + b, t - u], wl[2 + b, t - u])
                                sh, sl = _dd_add(sh, sl, ph, pl)
                            val[s, 2 * a + b, t, 0] = sh
                            val[s, 2 * a + b, t, 1] = sl
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
        if colptr[j + 1] > colptr[j]:
            nxt[j] = colptr[j]
            r = rows[colptr[j]]
            nxt_col[j] = head[r]
            head[r] = j
    return piv, val


@njit
def dense_pivots(C):
    """Pf C of a dense skew matrix of jets, in double-double, by Parlett-Reid with pivoting.

    Parlett & Reid, BIT 10, 386 (1970); for Pfaffians Wimmer, ACM TOMS 38, 30 (2012), alg. 1: two rows and
    columns per step, the pivot the largest |C0[j, k]| below the diagonal of column k, swapped into row
    k + 1 (a sign change); the trailing block -= (x y^T - y x^T) / a, x, y columns k and k + 1.

    Parameters
    ----------
    C : ndarray of float64, shape (n, n, nt, 2)
        Skew-symmetric (both triangles stored), n even; jet coefficients, then (hi, lo).  Overwritten.

    Returns
    -------
    sign : float
        +1 or -1: the parity of the swaps.
    pivots : ndarray of float64, shape (n / 2, nt, 2)
        Pf C = sign prod_j pivots[j]; a zero column stops the elimination (that pivot and the later ones 0).
    """
    n, nt = C.shape[0], C.shape[2]
    pivots = np.zeros((n // 2, nt, 2))
    sign = 1.0
    rh = np.empty(nt)
    rl = np.empty(nt)
    xh = np.empty((n, nt))
    xl = np.empty((n, nt))
    yh = np.empty((n, nt))
    yl = np.empty((n, nt))
    acc = np.empty((nt, 2))
    for k in range(0, n, 2):
        p = k + 1
        best = abs(C[k + 1, k, 0, 0])
        for i in range(k + 2, n):
            if abs(C[i, k, 0, 0]) > best:
                best = abs(C[i, k, 0, 0])
                p = i
        if best == 0.0:
            break
        if p != k + 1:
            for j in range(n):
                for t in range(nt):
                    for c in range(2):
                        C[k + 1, j, t, c], C[p, j, t, c] = C[p, j, t, c], C[k + 1, j, t, c]
            for i in range(n):
                for t in range(nt):
                    for c in range(2):
                        C[i, k + 1, t, c], C[i, p, t, c] = C[i, p, t, c], C[i, k + 1, t, c]
            sign = -sign
        for t in range(nt):
            pivots[k // 2, t, 0] = C[k, k + 1, t, 0]
            pivots[k // 2, t, 1] = C[k, k + 1, t, 1]
        if k + 2 == n:
            break
        # r = 1 / a as a jet
        rh[0], rl[0] = _dd_inv(C[k, k + 1, 0, 0], C[k, k + 1, 0, 1])
        for t in range(1, nt):
            acc[:, :] = 0.0
            for u in range(1, t + 1):
                ph, pl = _dd_mul(C[k, k + 1, u, 0], C[k, k + 1, u, 1], rh[t - u], rl[t - u])
                acc[0, 0], acc[0, 1] = _dd_add(acc[0, 0], acc[0, 1], ph, pl)
            rh[t], rl[t] = _dd_mul(-acc[0, 0], -acc[0, 1], rh[0], rl[0])
        # x = column k / a, y = column k + 1
        for i in range(k + 2, n):
            for t in range(nt):
                sh, sl = 0.0, 0.0
                for u in range(t + 1):
                    ph, pl = _dd_mul(C[i, k, u, 0], C[i, k, u, 1], rh[t - u], rl[t - u])
                    sh, sl = _dd_add(sh, sl, ph, pl)
                xh[i, t], xl[i, t] = sh, sl
                yh[i, t], yl[i, t] = C[i, k + 1, t, 0], C[i, k + 1, t, 1]
        for i in range(k + 2, n):
            for j in range(k + 2, i):
                for t in range(nt):
                    sh, sl = C[i, j, t, 0], C[i, j, t, 1]
                    for u in range(t + 1):
                        ph, pl = _dd_mul(xh[i, u], xl[i, u], yh[j, t - u], yl[j, t - u])
                        sh, sl = _dd_add(sh, sl, -ph, -pl)
                        ph, pl = _dd_mul(yh[i, u], yl[i, u], xh[j, t - u], xl[j, t - u])
                        sh, sl = _dd_add(sh, sl, ph, pl)
                    C[i, j, t, 0], C[i, j, t, 1] = sh, sl
                    C[j, i, t, 0], C[j, i, t, 1] = -sh, -sl
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
