"""Signed Pfaffian of a sparse skew-symmetric matrix with paired rows, in double arithmetic.

The double twin of :func:`isingvar.kernels.ddpfaffian.factor`: the same left-looking elimination of the dart pairs
as 2 x 2 pivots over the symbolic fill of :func:`isingvar.kernels.ddpfaffian.symbolic` (Bunch, Math. Comp. 38, 475
(1982); Wimmer, ACM TOMS 38, 30 (2012), eq. 7 for the Schur step; George & Liu 1981, ch. 5), the same storage
(the blocks (4, nt, nnz), the structural position last, so that the Schur update's loops over a column's rows
vectorise), 1/d_k formed once per pivot, every entry a truncated Taylor jet x0 + x1 eps + x2 eps^2 (Griewank &
Walther, *Evaluating Derivatives*, 2nd ed., ch. 13), each coefficient one double.  It replaces SuperLU on the
(nt M)-square real embedding of the jets (:class:`isingvar.exact.pfaffian.JetLU`) where the pairs' own
elimination is cheaper: the jets ride the pairs instead of tripling the matrix.
"""

import numpy as np

from ._jit import FAST, njit


@njit(fastmath=FAST)
def _update(val, q, s, run, w, nt):
    """val[e, t, s + x] += coefficient t of (F_(q + x) W)[a, b] (e = 2a + b), x < ``run``: :func:`factor`'s Schur update
    of a run of consecutive target positions from consecutive source positions (``val`` float64 (4, nt, nnz), the
    structural position last).  One pass per run: each source block's 4 nt coefficients are read once and the
    4 nt products added in place; the loop over x reads and writes contiguous memory and vectorises (the jet
    orders 0 and 2 written out; reassociation only inside one entry's sum)."""
    if nt == 1:
        w0, w1, w2, w3 = w[0, 0], w[1, 0], w[2, 0], w[3, 0]
        for x in range(run):
            f0, f1, f2, f3 = val[0, 0, q + x], val[1, 0, q + x], val[2, 0, q + x], val[3, 0, q + x]
            # W[b] multiplies F[2a], W[2 + b] multiplies F[2a + 1]
            val[0, 0, s + x] += f0 * w0 + f1 * w2
            val[1, 0, s + x] += f0 * w1 + f1 * w3
            val[2, 0, s + x] += f2 * w0 + f3 * w2
            val[3, 0, s + x] += f2 * w1 + f3 * w3
        return
    if nt == 3:
        w00, w01, w02 = w[0, 0], w[0, 1], w[0, 2]
        w10, w11, w12 = w[1, 0], w[1, 1], w[1, 2]
        w20, w21, w22 = w[2, 0], w[2, 1], w[2, 2]
        w30, w31, w32 = w[3, 0], w[3, 1], w[3, 2]
        for x in range(run):
            for a in range(2):  # F's row a: entries 2a (times W[b]) and 2a + 1 (times W[2 + b])
                f0, f1, f2 = val[2 * a, 0, q + x], val[2 * a, 1, q + x], val[2 * a, 2, q + x]
                g0, g1, g2 = val[2 * a + 1, 0, q + x], val[2 * a + 1, 1, q + x], val[2 * a + 1, 2, q + x]
                e = 2 * a
                val[e, 0, s + x] += f0 * w00 + g0 * w20
                val[e, 1, s + x] += f0 * w01 + f1 * w00 + g0 * w21 + g1 * w20
                val[e, 2, s + x] += f0 * w02 + f1 * w01 + f2 * w00 + g0 * w22 + g1 * w21 + g2 * w20
                val[e + 1, 0, s + x] += f0 * w10 + g0 * w30
                val[e + 1, 1, s + x] += f0 * w11 + f1 * w10 + g0 * w31 + g1 * w30
                val[e + 1, 2, s + x] += f0 * w12 + f1 * w11 + f2 * w10 + g0 * w32 + g1 * w31 + g2 * w30
        return
    for x in range(run):  # other orders (nt = 2): the same sums, not written out
        for a in range(2):
            for b in range(2):
                for t in range(nt):
                    acc = 0.0
                    for u in range(t + 1):
                        acc += val[2 * a, u, q + x] * w[b, t - u] + val[2 * a + 1, u, q + x] * w[2 + b, t - u]
                    val[2 * a + b, t, s + x] += acc


@njit
def factor(colptr, rows, offdiag, diag, stop):
    """Pfaffian pivots of K, in double, with their jets; or the Schur complement of its first pairs.

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
        coefficient first, the structural position last.
    """
    n = diag.shape[0]
    nt = diag.shape[1]
    nnz = rows.size
    val = np.empty((4, nt, nnz))
    for e in range(4):
        for t in range(nt):
            val[e, t, :] = offdiag[:, e, t]
    piv = diag.copy()
    pos = np.full(n, -1, dtype=np.int64)
    head = np.full(n, -1, dtype=np.int64)  # columns k waiting to update column j (linked lists)
    nxt_col = np.full(n, -1, dtype=np.int64)
    nxt = np.zeros(n, dtype=np.int64)  # next structural position of column k to use
    g = np.empty((4, nt))
    w = np.empty((4, nt))
    inv = np.empty((n, nt))  # the jet of 1 / d_k, once per pivot
    for j in range(n):
        for p in range(colptr[j], colptr[j + 1]):
            pos[rows[p]] = p
        k = head[j]
        while k >= 0:
            knext = nxt_col[k]
            p = nxt[k]
            for e in range(4):
                for t in range(nt):
                    g[e, t] = val[e, t, p]
            # W = P^-1 G^T = [[-g01, -g11], [g00, g10]] * r, G = K[pair j, pair k]
            for e, src, sg in ((0, 1, -1.0), (1, 3, -1.0), (2, 0, 1.0), (3, 2, 1.0)):
                for t in range(nt):
                    acc = 0.0
                    for u in range(t + 1):
                        acc += g[src, u] * inv[k, t - u]
                    w[e, t] = sg * acc
            # d_j += (G W)[0, 1] = g00 w01 + g01 w11
            for t in range(nt):
                acc = 0.0
                for u in range(t + 1):
                    acc += g[0, u] * w[1, t - u] + g[1, u] * w[3, t - u]
                piv[j, t] += acc
            # S_ij += F_ik W for the later rows i of column k, a run of consecutive target positions at a time
            count = colptr[k + 1] - p - 1
            i = 0
            while i < count:
                s = pos[rows[p + 1 + i]]
                run = 1
                while i + run < count and pos[rows[p + 1 + i + run]] == s + run:
                    run += 1
                _update(val, p + 1 + i, s, run, w, nt)
                i += run
            nxt[k] = p + 1
            if p + 1 < colptr[k + 1]:
                r = rows[p + 1]
                nxt_col[k] = head[r]
                head[r] = k
            k = knext
        if j >= stop:  # the Schur complement's column: updated, never a pivot
            continue
        if piv[j, 0] == 0.0:
            piv[j:, :] = np.nan
            return piv, val
        # r = 1 / d_j as a jet: r0 = 1 / d0, r_t = -r0 sum_{u >= 1} d_u r_(t-u)
        inv[j, 0] = 1.0 / piv[j, 0]
        for t in range(1, nt):
            acc = 0.0
            for u in range(1, t + 1):
                acc += piv[j, u] * inv[j, t - u]
            inv[j, t] = -acc * inv[j, 0]
        if colptr[j + 1] > colptr[j]:
            nxt[j] = colptr[j]
            r = rows[colptr[j]]
            nxt_col[j] = head[r]
            head[r] = j
    return piv, val


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
