"""ln |det| of a sparse real matrix with its first two derivatives, by jets through SuperLU.

A matrix A(beta) whose entries are smooth in beta is carried as its truncated Taylor jet
A(beta + eps) = X0 + X1 eps + X2 eps^2 (eps^3 = 0).  Each jet x0 + x1 eps + x2 eps^2 is written as
the 3 x 3 upper-triangular Toeplitz block::

    [[x0, x1, x2],
     [ 0, x0, x1],
     [ 0,  0, x0]]

an algebra homomorphism from R[eps]/(eps^3) into 3 x 3 real matrices, so the 3n x 3n real matrix
B of these blocks multiplies, adds and divides as A(beta + eps) does.  Its LU factorisation with
diagonal pivots, in an order that keeps each node's three rows together, is the block LU of B
(the scalar LU is unique and the block one is already scalar-triangular, its diagonal blocks
being upper triangular): the U's diagonal blocks are the jets p0 + p1 eps + p2 eps^2 of the pivots
of A(beta + eps), and

    ln |det A(beta + eps)| = sum_k ln |p_k(eps)|,
    ln p(eps) = ln |p0| + (p1/p0) eps + (p2/p0 - (p1/p0)^2 / 2) eps^2,

give ln |det A|, d ln |det A| / d beta and (1/2) d^2 ln |det A| / d beta^2 exactly up to rounding
(forward-mode automatic differentiation, Griewank & Walther, *Evaluating Derivatives*, 2nd ed.,
SIAM 2008, ch. 13: univariate Taylor propagation; the matrix form of the truncated polynomial
algebra is its standard representation).  The x0 parts are computed from x0 parts alone, so p0
are the pivots the real factorisation in the same order gives.

One factorisation gives all three: on open +-J lattices it took 6-11 times the real factorisation
(L = 16..128, 2 shared cores; a complex step through SuperLU took 9-18 times for the first derivative
alone), and ~6 times its memory.  The Pfaffian paths use it through ln |Pf K| = ln |det A| / 2 of their row-paired
matrix A (:mod:`isingvar.exact.planar`; :mod:`isingvar.exact.torus` for its interior, where the same factors
also give the jet of a Schur product, :meth:`JetLU.schur_product`).  :func:`pfaffian_pivots` carries jets
through a dense Parlett-Reid Pfaffian (the torus's seam blocks); :class:`PairedPfaffian` eliminates a paired skew
matrix pair by pair, jets included, in double-double or in double (the torus's Schur steps with the jets: 4-5 times
faster than :class:`JetLU` on the embedding at L = 64).  No import at module level loads numba.
"""

from __future__ import annotations

import numpy as np


class JetLU:
    """Factorises an n x n sparse real matrix of jets (fixed pattern, fixed order) with diagonal pivots.

    The pattern and the elimination order are set once; :meth:`log_pivots` then factorises the
    matrix for any values of its jets (one SuperLU factorisation of the (order + 1) n square real
    embedding, module docstring) and returns the jet logarithm of every pivot.

    Parameters
    ----------
    n : int
        Order of the matrix.
    rows, cols : array_like of int, shape (nnz,)
        The nonzero positions, each once, already in elimination order (row/column k is eliminated
        k-th; pass the matrix permuted by its fill-reducing order).
    varying : array_like of bool, shape (nnz,)
        Whether an entry may have nonzero x1 or x2; the others are constants (their x1, x2 are ignored
        and not stored: a constant entry adds 3 nonzeros to the embedding, a varying one 6).
    order : int
        Highest power of eps kept: 2 (the default), 1, or 0 (the plain real factorisation; the
        derivatives are then NaN).

    Raises
    ------
    ValueError
        If the shapes disagree, a position is out of range or ``order`` is not 0, 1 or 2.
    """

    def __init__(self, n: int, rows, cols, varying, order: int = 2):
        import scipy.sparse as sp

        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        cols = np.asarray(cols, dtype=np.int64).reshape(-1)
        varying = np.asarray(varying, dtype=bool).reshape(-1)
        if not rows.shape == cols.shape == varying.shape:
            raise ValueError(f"rows, cols and varying have {rows.size}, {cols.size} and {varying.size} entries")
        if rows.size and (min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= n):
            raise ValueError(f"a nonzero position lies outside the {n} x {n} matrix")
        if order not in (0, 1, 2):
            raise ValueError(f"order is {order}; use 0, 1 or 2")
        self.n, self.order = int(n), int(order)
        b = order + 1  # block size
        r, c, src = [], [], []
        for i in range(b):
            for j in range(i, b):  # block entry (i, j) holds x_{j - i}
                k = np.arange(rows.size) if j == i else np.flatnonzero(varying)
                r.append(b * rows[k] + i)
                c.append(b * cols[k] + j)
                src.append((j - i) * rows.size + k)  # index into the stacked (x0, x1, x2)
        # the CSC pattern of B and, for each of its entries, the jet coefficient it takes
        src = np.concatenate(src)
        B = sp.csc_matrix((src + 1.0, (np.concatenate(r), np.concatenate(c))), shape=(b * n, b * n))
        B.sort_indices()
        self.indptr, self.indices = B.indptr, B.indices
        self.source = (B.data - 1.0).astype(np.int64)  # exact: indices below 2^53
        self.nnz = rows.size

    def factor(self, x0, x1, x2, natural: int | None = None):
        """The SuperLU factorisation of the real embedding of the matrix with entries x0 + x1 eps + x2 eps^2.

        Parameters
        ----------
        x0, x1, x2 : array_like of float, shape (nnz,)
            The jet coefficients of each nonzero, as for :meth:`log_pivots`.
        natural : int, optional
            How many leading nodes must be eliminated in place (all by default): beyond them a node may
            leave the diagonal (the block of a Schur complement only read through
            :meth:`schur_product`).

        Returns
        -------
        scipy.sparse.linalg.SuperLU or None
            The factors of the ((order + 1) n)-square embedding (module docstring), in the given order with
            diagonal pivots; None where SuperLU left the diagonal among the first ``natural`` nodes (a zero
            pivot: the blocks would no longer hold the jets) or found the matrix exactly singular.

        Raises
        ------
        ValueError
            If the jets do not have 3 coefficients per nonzero.
        """
        import scipy.sparse as sp
        from scipy.sparse.linalg import splu

        x = np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in (x0, x1, x2)])
        if x.size != 3 * self.nnz:
            raise ValueError(f"jets have {x.size} coefficients for {self.nnz} nonzeros (3 each)")
        b = self.order + 1
        m = b * self.n
        B = sp.csc_matrix((x[self.source], self.indices, self.indptr), shape=(m, m))
        # diagonal pivots only, in the given order: the factorisation stays the jets' block LU
        try:
            lu = splu(B, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        except RuntimeError:  # "Factor is exactly singular"
            return None
        k = m if natural is None else b * int(natural)
        natural_order = np.arange(k)
        if not (np.array_equal(lu.perm_r[:k], natural_order) and np.array_equal(lu.perm_c[:k], natural_order)
                and np.all(lu.perm_c[k:] >= k)):
            return None
        return lu

    def log_pivots(self, x0, x1, x2, count: int | None = None) -> np.ndarray:
        """The jet logarithms of the pivots of the matrix with entries x0 + x1 eps + x2 eps^2.

        Parameters
        ----------
        x0, x1, x2 : array_like of float, shape (nnz,)
            The jet coefficients of each nonzero, aligned with the constructor's ``rows``: the value,
            its beta-derivative and half its second beta-derivative.
        count : int, optional
            Only the first ``count`` pivots (all by default): the leading block's determinant.

        Returns
        -------
        numpy.ndarray
            float64 (count, 3): per pivot p(eps) = p0 + p1 eps + p2 eps^2, the coefficients of ln |p(eps)|:
            ln |p0|, p1/p0 and p2/p0 - (p1/p0)^2 / 2 (module docstring).  Summed over the pivots: ln |det|,
            its first derivative and half its second.  The columns beyond ``order`` are NaN; every column
            is NaN when a pivot is zero (SuperLU then leaves the diagonal, and the blocks no longer hold
            the jets).
        """
        n = self.n if count is None else int(count)
        return self.pivot_logs(self.factor(x0, x1, x2, n), n)

    def pivot_logs(self, lu, count: int | None = None) -> np.ndarray:
        """The jet logarithms of the first ``count`` pivots (all by default) of a :meth:`factor` result.

        Parameters
        ----------
        lu : scipy.sparse.linalg.SuperLU or None
            From :meth:`factor` with ``natural`` >= ``count`` (None: every entry NaN).
        count : int, optional
            How many leading pivots.

        Returns
        -------
        numpy.ndarray
            float64 (count, 3), as :meth:`log_pivots`.
        """
        n = self.n if count is None else int(count)
        if lu is None:
            return np.full((n, 3), np.nan)
        b = self.order + 1
        U = lu.U
        k = b * np.arange(n)
        p0 = U.diagonal()[0:b * n:b]
        p1, p2 = (_row_entries(U[:, j:b * n:b], k) if j < b else np.full(n, np.nan) for j in (1, 2))  # U[bk, bk + j]
        with np.errstate(divide="ignore", invalid="ignore"):
            q1, q2 = p1 / p0, p2 / p0
            return np.column_stack([np.log(np.abs(p0)), q1, q2 - 0.5 * q1 * q1])

    def schur_product(self, lu, first: int) -> np.ndarray:
        """The jets of A_SF A_FF^-1 A_FS from the factors (F the first ``first`` nodes, S the others).

        Where the first ``first`` nodes are eliminated in place with diagonal pivots, the trailing block
        of the LU factors holds A_SS - L_SF U_FS, so L_SF U_FS = A_SF A_FF^-1 A_FS (no solves); in the
        embedding each of its (order + 1)-blocks is the upper-triangular Toeplitz block of that product's
        jet (module docstring), whose first row is read.

        Parameters
        ----------
        lu : scipy.sparse.linalg.SuperLU
            From :meth:`factor` with ``natural`` >= ``first``.
        first : int
            Number of leading nodes F.

        Returns
        -------
        numpy.ndarray
            float64 (3, n - first, n - first): the coefficients of eps^0, eps^1 and eps^2 (NaN beyond
            ``order``).
        """
        b = self.order + 1
        f = b * int(first)
        # row i of A is row perm_r[i] of L U, column j column perm_c[j]: the S part may have left its order
        lower = lu.L.tocsr()[lu.perm_r[f::b]][:, :f]  # the first row of each S block of L's S rows
        upper = lu.U.tocsc()[:, lu.perm_c[f:]][:f]
        prod = (lower @ upper).toarray()
        out = np.full((3, self.n - first, self.n - first), np.nan)
        for j in range(b):
            out[j] = prod[:, j::b]
        return out


def _row_entries(U, rows) -> np.ndarray:
    """float64 (ncols,): entry ``rows[j]`` of each column j of the CSC matrix ``U`` (0 where not stored)."""
    coo = U.tocoo()
    hit = coo.row == rows[coo.col]
    out = np.zeros(U.shape[1])
    out[coo.col[hit]] = coo.data[hit]  # SuperLU stores each position once
    return out


def pfaffian_pivots(C) -> tuple[float, np.ndarray]:
    """The Pfaffian of a dense skew matrix of jets as a signed product of jet pivots (Parlett-Reid with pivoting).

    C(beta + eps) = C0 + C1 eps + C2 eps^2 (each skew).  The Parlett-Reid elimination (Parlett & Reid, BIT 10,
    386 (1970); for Pfaffians Wimmer, ACM TOMS 38, 30 (2012), alg. 1) eliminates two rows and columns per
    step, with the pivot chosen on C0 (the largest |C0[j, k]| below the diagonal of column k, swapped into
    row k + 1), and every update carried out in the truncated polynomial algebra R[eps]/(eps^3)
    (forward-mode differentiation, as :class:`JetLU`): Pf C(eps) = sign prod_j p_j(eps), each p_j =
    C[k, k + 1] of the step's trailing matrix, so the x0 parts are the real elimination's pivots.  Unlike
    C^-1 (in d ln Pf C = 1/2 tr(C^-1 C')), the pivots carry a nearly singular C (one pivot near 0)
    without dividing by it: Pf C(eps) stays a product of accurately computed jets.  The elimination is the numba
    kernel :func:`isingvar.kernels.pairedpfaffian.dense_pivots` (0.016 s at n = 256, 3.5 times the NumPy loop it
    replaced).

    Parameters
    ----------
    C : array_like of float, shape (3, n, n)
        The jet coefficients C0, C1, C2 (n even; each skew-symmetric, only their lower triangles are read).

    Returns
    -------
    sign : float
        +1 or -1: the parity of the row swaps.
    pivots : numpy.ndarray
        float64 (n / 2, 3): p_j(eps) = p_j0 + p_j1 eps + p_j2 eps^2.  Where a column of C0 is zero below its
        diagonal the Pfaffian is 0: that pivot and the later ones are 0 (not eliminated).

    Raises
    ------
    ValueError
        If C is not (3, n, n) with n even.
    """
    from ..kernels.pairedpfaffian import dense_pivots

    A = np.ascontiguousarray(C, dtype=np.float64)
    if A.ndim != 3 or A.shape[0] != 3 or A.shape[1] != A.shape[2] or A.shape[1] % 2:
        raise ValueError(f"C has shape {A.shape}; give (3, n, n) with n even")
    sign, pivots = dense_pivots(A)
    return float(sign), pivots


def pair_order(size: int, p, q, last=None) -> np.ndarray:
    """A fill-reducing elimination order of the dart pairs of a paired skew matrix: SuperLU's minimum degree on the
    pair graph (MMD on A + A^T of a diagonally dominant matrix of its pattern).

    Parameters
    ----------
    size : int
        M, even: the pairs are (2t, 2t + 1), t < M/2.
    p, q : array_like of int, shape (E,)
        The matrix's entries; pairs t, u are adjacent where an entry joins their darts.
    last : array_like of int, optional
        Pairs to eliminate last, in the given order (a Schur complement's); the others are ordered among
        themselves.

    Returns
    -------
    numpy.ndarray
        int64 (M/2,): ``order[k]`` is the pair eliminated k-th.  On the open 64 x 64 lattice's decorated graph
        it leaves 4.9e6 block updates where the dart-level order (each pair with its first dart) leaves 8.3e6.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    n = size // 2
    a = np.asarray(p, dtype=np.int64).reshape(-1) >> 1
    b = np.asarray(q, dtype=np.int64).reshape(-1) >> 1
    tail = np.zeros(0, dtype=np.int64) if last is None else np.asarray(last, dtype=np.int64).reshape(-1)
    keep = np.ones(n, dtype=bool)
    keep[tail] = False
    inner = np.flatnonzero(keep)
    where = np.full(n, -1)
    where[inner] = np.arange(inner.size)
    e = (a != b) & keep[a] & keep[b]
    m = inner.size
    G = sp.csc_matrix((np.ones(2 * int(e.sum())), (np.r_[where[a[e]], where[b[e]]], np.r_[where[b[e]], where[a[e]]])),
                      shape=(m, m))
    G = (abs(G) + sp.identity(m) * 100.0).tocsc()
    lu = splu(G, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    return np.concatenate([inner[np.argsort(lu.perm_c)], tail])


class PairedPfaffian:
    """Signed Pf K of a sparse skew matrix with paired rows, in double-double (:mod:`isingvar.kernels.ddpfaffian`) or
    in double (:mod:`isingvar.kernels.pairedpfaffian`: the same structure, order and layout).

    K (M x M, M even) is given by its entries K[p, q] = x (and K[q, p] = -x implied), the pairs being
    (2t, 2t + 1), each eliminated as one 2 x 2 pivot in ``order``.  The structure (the symbolic fill and
    where each entry lands) is built once; :meth:`log_pfaffian` then runs for any values of the entries'
    jets.  Accurate where the double-precision elimination's pivot growth has eaten the digits: the
    elimination's rounding is about 1e-32 times the growth instead of 1e-16 times it.

    Parameters
    ----------
    size : int
        M, even.
    p, q : array_like of int, shape (E,)
        The entries' positions (each unordered position may appear several times: the values add).
    order : array_like of int, shape (M / 2,)
        ``order[k]`` is the pair eliminated k-th (a permutation of 0 .. M/2 - 1).

    Raises
    ------
    ValueError
        If M is odd, a position is out of range or ``order`` is not a permutation of the pairs.
    """

    def __init__(self, size: int, p, q, order):
        from ..kernels.ddpfaffian import symbolic

        p = np.asarray(p, dtype=np.int64).reshape(-1)
        q = np.asarray(q, dtype=np.int64).reshape(-1)
        order = np.asarray(order, dtype=np.int64).reshape(-1)
        if size % 2 or p.shape != q.shape:
            raise ValueError(f"size {size} must be even and p, q ({p.size}, {q.size} entries) of one length")
        n = size // 2
        if p.size and (min(p.min(), q.min()) < 0 or max(p.max(), q.max()) >= size):
            raise ValueError(f"an entry lies outside the {size} x {size} matrix")
        if not np.array_equal(np.sort(order), np.arange(n)):
            raise ValueError(f"order is not a permutation of the {n} pairs")
        self.n = n
        inv = np.empty(n, dtype=np.int64)
        inv[order] = np.arange(n)
        i, j = inv[p >> 1], inv[q >> 1]
        same = i == j
        # the lower block (later pair first): K[q, p] = -x where q's pair comes later
        swap = i < j
        row = np.where(swap, j, i)
        col = np.where(swap, i, j)
        e = np.where(swap, 2 * (q & 1) + (p & 1), 2 * (p & 1) + (q & 1))
        self.sign = np.where(swap, -1.0, 1.0)
        # an entry inside a pair: K[2t, 2t + 1] (+x) or K[2t + 1, 2t] (-x) adds to the pivot
        self.sign[same] = np.where((p[same] & 1) == 0, 1.0, -1.0)
        off = ~same
        graph_r = np.concatenate([p[off] >> 1, q[off] >> 1])
        graph_c = np.concatenate([q[off] >> 1, p[off] >> 1])
        import scipy.sparse as sp

        G = sp.csr_matrix((np.ones(graph_r.size), (graph_r, graph_c)), shape=(n, n))
        self.colptr, self.rows = symbolic(G.indptr.astype(np.int64), G.indices.astype(np.int64), order)
        cols = np.repeat(np.arange(n), np.diff(self.colptr))
        keys = cols * n + self.rows
        slot = np.searchsorted(keys, col[off] * n + row[off])
        self.target = np.empty(p.size, dtype=np.int64)  # flat index into offdiag (nnzL * 4) or n*4*nnzL + pivot
        self.target[off] = 4 * slot + e[off]
        self.target[same] = 4 * keys.size + i[same]
        self.nnz = keys.size

    def _blocks(self, values) -> tuple[np.ndarray, np.ndarray]:
        """The entries' jets ``values`` (E, nt) summed into the kernel's blocks (nnzL, 4, nt) and pivots (n, nt)."""
        x = np.asarray(values, dtype=np.float64)
        x = x.reshape(x.shape[0], -1)
        nt = x.shape[1]
        flat = np.zeros((4 * self.nnz + self.n, nt))
        for t in range(nt):
            flat[:, t] = np.bincount(self.target, weights=self.sign * x[:, t], minlength=flat.shape[0])
        return np.ascontiguousarray(flat[: 4 * self.nnz].reshape(self.nnz, 4, nt)), np.ascontiguousarray(flat[4 * self.nnz:])

    def _factor(self, values, stop: int, double: bool):
        """The kernel's (pivots, blocks) for the entries' jets ``values``: :func:`isingvar.kernels.ddpfaffian.factor`,
        or with ``double`` its double twin :func:`isingvar.kernels.pairedpfaffian.factor` (no (hi, lo) axis)."""
        if double:
            from ..kernels.pairedpfaffian import factor
        else:
            from ..kernels.ddpfaffian import factor
        return factor(self.colptr, self.rows, *self._blocks(values), stop)

    def pivots(self, values, double: bool = False) -> np.ndarray:
        """The pivots' jets in double-double (or in double).

        Parameters
        ----------
        values : array_like of float, shape (E, nt)
            Each entry's jet coefficients (nt = 1, 2 or 3: the value, its beta-derivative, half its second).
        double : bool, default False
            Eliminate in double arithmetic (:mod:`isingvar.kernels.pairedpfaffian`): the same order and layout,
            about 1e-16 instead of 1e-32 times the growth, several times faster.

        Returns
        -------
        numpy.ndarray
            float64 (M/2, nt, 2): the jets of the pivots d_k (Pf K = prod_k d_k), each coefficient (hi, lo); with
            ``double`` float64 (M/2, nt), one double per coefficient.
        """
        return self._factor(values, self.n, double)[0]

    def schur(self, values, stop: int, double: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The pivots of the first ``stop`` pairs and the Pfaffian Schur complement of the rest, in double-double
        (or in double).

        Parameters
        ----------
        values : array_like of float, shape (E, nt)
            As :meth:`pivots`.
        stop : int
            How many pairs (the first in the order) to eliminate.
        double : bool, default False
            As :meth:`pivots`.

        Returns
        -------
        pivots : numpy.ndarray
            float64 (stop, nt, 2): their jets (Pf K = prod pivots * Pf C); with ``double`` (stop, nt).
        C : numpy.ndarray
            float64 (2m, 2m, nt, 2), m = M/2 - ``stop``: the Schur complement C = K_SS + K_SI P^-1 K_IS of the
            later pairs (pair ``stop + t`` on rows 2t, 2t + 1), skew, both triangles; with ``double`` (2m, 2m, nt).
        """
        piv, val = self._factor(values, stop, double)
        m = self.n - stop
        C = np.zeros((2 * m, 2 * m) + piv.shape[1:])
        j = np.arange(m)
        C[2 * j, 2 * j + 1] = piv[stop:]
        cols = np.repeat(np.arange(self.n), np.diff(self.colptr))
        s = cols >= stop
        r, c = self.rows[s] - stop, cols[s] - stop
        for e in range(4):
            C[2 * r + (e >> 1), 2 * c + (e & 1)] = np.moveaxis(val[e][..., s], -1, 0)
        C -= np.swapaxes(C, 0, 1)
        return piv[:stop], C

    def log_pfaffian(self, values, double: bool = False) -> tuple[np.ndarray, np.ndarray, float, float]:
        """ln |Pf K| and its derivatives, with the sign and the pivot growth.

        Parameters
        ----------
        values : array_like of float, shape (E, nt)
            As :meth:`pivots`.
        double : bool, default False
            As :meth:`pivots` (the pivots' logarithms are still summed in double-double).

        Returns
        -------
        jet : numpy.ndarray
            float64 (nt,): ln |Pf K|, d ln |Pf K|/dbeta, (1/2) d^2 ln |Pf K|/dbeta^2 (the first nt); NaN at
            a zero pivot.
        scale : numpy.ndarray
            float64 (nt,): the sums of the pivots' terms' absolute values (the scale of the rounding).
        sign : float
            The sign of Pf K.
        growth : float
            max_k max(|d_k|, 1/|d_k|).
        """
        from ..kernels.ddpfaffian import log_jets

        piv = self.pivots(values, double)
        if double:  # the pivots as double-doubles with a zero low part: one summation for both
            piv = np.stack([piv, np.zeros_like(piv)], axis=-1)
        sums, scale, sign, growth = log_jets(piv)
        return sums, scale, float(sign), float(growth)
