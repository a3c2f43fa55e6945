"""Exact ln Z of a planar Ising model at zero field, in polynomial time, by a Pfaffian.

One of the exact paths of :mod:`isingvar.exact` (:class:`isingvar.exact.ExactPath`: :func:`applicable`,
:func:`work`, :func:`estimate_seconds`, :func:`run`).  At h = 0 on a planar graph the spin configurations, up to
the global flip, are in one-to-one correspondence with the cuts of the graph, i.e. with the even
subgraphs of its dual, and those with the perfect matchings of a decorated dual graph whose
Pfaffian, with a Kasteleyn orientation, sums them all with one sign (Kasteleyn, J. Math. Phys. 4,
287 (1963); Fisher, J. Math. Phys. 7, 1776 (1966); Schraudolph & Kamenetsky, NIPS 2008; Thomas &
Middleton, PRE 80, 046708 (2009)).  Steps (docs/methods.md, "Planar zero-field Pfaffian"):

1. A planar embedding: built directly for an open L x L lattice (any subset of its bonds), from
   networkx's planarity test for any other graph (components joined by J = 0 bonds).
2. Every face is cut into triangles by J = 0 chords; the dual of the triangulation is 3-regular and
   each dual node becomes a small triangle of the decorated graph, whose nodes are the darts
   (half-edges) of the triangulation; the two darts of a bond are joined by a "dual" edge.
3. Relative to a reference state s0, a matching holds the dual edge of every bond that is not cut;
   in the gauge J'_ij = J_ij s0_i s0_j the triangle edge joining the darts of bonds a and b weighs
   exp(-beta (J'_a + J'_b)) and every dual edge weighs 1, so that
   ln Z = ln 2 - beta E(s0) + ln Pf(K).
4. Numerics.  s0 is a ground state (a minimum-weight perfect matching of the frustrated faces,
   PyMatching), so every matching weighs exp(-beta (E(s) - E0)) <= 1 and Pf(K) >= 1.  The rows of K
   are paired with their dual-edge partners (row a takes row a ^ 1 of K, signed so the diagonal is
   1) and the sparse LU (SuperLU) runs with diagonal pivots only, in a fill-reducing order
   computed once per coupling pattern.  Where no bond is frustrated this is exact to rounding at
   any beta; on a frustrated glass the partial sums of the elimination grow like
   exp(2 beta |J|) of the bonds the ground state must leave unsatisfied, and so does the error
   (measured: relative error ~1e-15 times the pivot growth max(|p|, 1/|p|)).  So :func:`run` checks
   the actual growth at every beta against :data:`GROWTH_LIMIT` and does not take a double-precision
   value beyond it.  The growth is not a proof: on large glasses at beta ~ 3 orders disagreed by up
   to 1e-6 inside the limit, so beyond an estimated growth of :data:`CROSS_CHECK_GROWTH` (+-J:
   beta > 2.3) each beta is factorised in a second order too and the two must agree.  (With an
   arbitrary reference state or with partial pivoting, ln Z is lost already at beta ~ 1-3 on a 5 x 5
   glass.)  Where double precision cannot confirm a beta (ln Z, or u, s, c), that beta and the larger
   ones are eliminated again, pair by pair in double-double (:class:`isingvar.exact.pfaffian.PairedPfaffian`:
   with the jets where M <= :data:`JET_MAX_SIZE`, ln Z alone up to :data:`DD_MAX_SIZE`, open L = 260; the two
   orders side by side on two threads), in two orders that must agree as above; where they do not, the beta
   is NaN (``precision_not_confirmed``) and the larger ones are not attempted (``precision_lost``).
   :func:`applicable` refuses only beyond an estimated growth of :data:`EXTENDED_GROWTH_LIMIT` (+-J:
   beta > 10).  Measured: open 32 x 32 +-J (seed 0) ln Z confirmed to beta = 6 (double: 2.5), u and s
   to 5, c to 4 (docs/methods.md, "Low temperature").

5. u, s, c.  Each beta's elimination carries the jets of K(beta + eps) to eps^2 (the dart pairs eliminated in
   double with the jets riding each entry, :class:`isingvar.exact.pfaffian.PairedPfaffian`, in the real
   factorisation's order, its growth that factorisation's where it matters (:meth:`_Structure.jet_log_pfaffian`):
   2.5-6 times the real one at
   L = 32-128, where SuperLU on the 3M x 3M real embedding measured 6-11 and a complex step 9-18 for u alone;
   the embedding stays for the second order beyond the jets' size), which give ln Pf, d ln Pf/dbeta
   and d^2 ln Pf/dbeta^2 to rounding, so U = E(s0) - d ln Pf/dbeta, S = ln 2 + ln Pf - beta d ln Pf/dbeta
   (ln Pf >= 0 and -d ln Pf/dbeta >= 0 in the ground-state gauge: no cancellation between the
   terms) and Var E = d^2 ln Pf/dbeta^2.  They lose precision before ln Z does (measured on open
   glasses, two orders: L = 64 +-J, beta = 3: ln Z agreed to 2e-14, U - E0 to 1e-4; the elimination's
   entries reach 1e7 where its pivots stay below 15), so beyond an estimated growth of
   :data:`DERIVATIVE_CHECK_GROWTH` (+-J: beta > 1.15) the second order carries the jets too and each of
   u, s, c is NaN where the two differ by more than :data:`CROSS_CHECK_RTOL` of it; and the cheap
   certificates c >= 0 and u >= E0/N (where E0 is certain) make it NaN where they fail beyond rounding.
   Where M > :data:`JET_MAX_SIZE` (open lattices beyond L = 130) the factorisation is the real one
   and u, s, c are NaN.

Exactly: ln Z and f; u, s and c (above); m = 0 and <s_i> = 0 by the h = 0 symmetry; E0 and a ground
state where s0 is certainly one (no frustrated face, or +-J couplings: PyMatching's matching is exact on
its integer weights), else NaN (it rounds real-valued weights, so s0 is then a reference, not a
certified ground state).  <m^2>, <|m|> and chi are no derivative of the Pfaffian at h = 0: NaN.

Over 600 lines, about 210 of them docstrings: the embedding, the structure and the checked, jet-carrying
factorisation share the decorated graph's layout (the torus path reuses its kernels).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from math import isqrt

import numpy as np

from .. import patterns
from ..interrupt import deferred_interrupt
from ..model import IsingModel
from ..thermo import check_betas
from .result import PRECISION_LOST, PRECISION_NOT_CONFIRMED, ExactResult

#: Name of the path in messages, ``--dry-run`` and the file's ``exact_path``.
PATH_NAME = "planar"
#: ExactResult fields this path leaves NaN (it cannot give them exactly; docs/methods.md).
NOT_GIVEN = ("m2", "absm", "chi", "e0")
#: Given where confirmed, NaN elsewhere at a beta whose ln Z and f it gives: u, s, c beyond
#: :data:`JET_MAX_SIZE` or where the second order or a certificate does not confirm them (step 5).
UNCONFIRMED = ("u", "s", "c")

#: Refuse beta max|J| beyond this: matrix entries reach exp(2 beta max|J|) (float64 ends at e^709).
MAX_BETA_J = 300.0
#: Largest pivot growth max(|p|, 1/|p|) accepted: ln Z's relative error measured ~1e-15 times it.
GROWTH_LIMIT = 1e5
#: Where the estimated growth exp(2 beta J*) (see :func:`_frustration`) passes this, every beta is also
#: factorised in a second order and the two ln Pf must agree to :data:`CROSS_CHECK_RTOL` of ln Z: on
#: L >= 128 +-J glasses the pivot growth stayed inside its limit at beta = 3 where orders spread ln Pf by up to
#: 1.3e-6 (docs/methods.md); up to beta = 2.42 (below: exp(2 beta) = 100 at beta = 2.3) they agreed to ~1e-12.
CROSS_CHECK_GROWTH = 1e2
CROSS_CHECK_RTOL = 1e-10
#: Refuse a frustrated instance's beta where the estimated growth exp(2 beta J*) passes this (+-J: beta > 10).
#: Below it :func:`run` tries: in double precision, then (M <= :data:`JET_MAX_SIZE`) in double-double, two
#: orders that must agree; measured on open +-J glasses (seed 0): L = 64 confirmed to beta = 5 (the two
#: orders agreed to the last digit), L = 32 to beta = 5 for ln Z (u, s, c to beta 4), not at beta = 6.
EXTENDED_GROWTH_LIMIT = float(np.exp(20.0))
#: The derivatives lose precision before ln Z does (measured, two orders on open glasses: at L = 32, +-J,
#: beta = 2 they differed by 5e-6 of d^2 ln Z while ln Z agreed to 1e-12): beyond this estimated growth
#: (+-J: beta > 1.15) u, s and c are each confirmed in the second order to CROSS_CHECK_RTOL, else NaN.
DERIVATIVE_CHECK_GROWTH = 1e1
#: Largest matrix order M (~6N) whose factorisation carries the jets for u, s and c: the jets cost
#: JET_COST times the real factorisation in time (with their second order from beta ~ 1.15 on +-J: a
#: 32-beta sweep of an open L = 256 glass would pass the exact method's 10-minute limit) and ~6 times in
#: memory (L = 512: ~6 GB); beyond it ln Z and f only (u, s, c NaN).  6 x 130^2: open lattices to L = 130.
JET_MAX_SIZE = 6 * 130**2
#: Seconds of a jet elimination (the dart pairs in double, :meth:`_Structure.jet_log_pfaffian`) over a real SuperLU
#: factorisation: measured 2.5-3 at L = 32, 3.5-4 at L = 64, 5-6 at L = 128 (open +-J, CPU seconds, 2 shared cores;
#: SuperLU on the jets' embedding measured 6-11).
JET_COST = 4.0
#: Seconds of a double-double jet factorisation (:class:`isingvar.exact.pfaffian.PairedPfaffian`) over a real
#: SuperLU one (measured 21 at L = 32 and 38 at L = 64 on open +-J lattices, 2 shared cores, before the kernel's
#: vectorised update, which halved it).
DD_COST = 15.0
#: Largest matrix order M whose betas beyond double precision's reach are redone in double-double: with the jets
#: where M <= :data:`JET_MAX_SIZE`, else ln Z alone (one coefficient per entry, DD_VALUE_COST real factorisations);
#: 6 x 260^2: open lattices to L = 260 (an L = 256 elimination holds ~1 GB).
DD_MAX_SIZE = 6 * 260**2
#: Seconds of a double-double factorisation without the jets over a real SuperLU one (measured 3 at L = 64, 6 at
#: L = 128, 12 at L = 256: 22-24 s CPU per order, open +-J, 2 shared cores).
DD_VALUE_COST = 12.0
#: The ground state and the first beta's fill-reducing order, in factorisations, for :func:`estimate_seconds`.
SETUP_FACTORISATIONS = 3
#: A factorisation's seconds grow like M^TIME_EXPONENT (measured 1.15-1.35 on open lattices, L = 24..512).
TIME_EXPONENT = 1.2
#: (seconds, M) of one factorisation of the probe's decorated graph (set once per process).
_rate: list[tuple[float, int]] = []


# ---------------------------------------------------------------------------- embeddings
def _square_side(model: IsingModel) -> int | None:
    """L when every bond of ``model`` is a nearest-neighbour bond of the open L x L lattice."""
    n = model.n
    L = isqrt(n)
    if L * L != n or L < 2:
        return None
    d = model.edge_j - model.edge_i  # edge_i < edge_j
    ok = ((d == 1) & (model.edge_i % L != L - 1)) | (d == L)
    return L if bool(np.all(ok)) else None


def _square_map(L: int):
    """The open L x L lattice (row-major sites) as a planar map.

    Returns (eu, ev, face_next): int64 (E,) bond ends, eu < ev, and the face permutation of the
    darts (dart 2k = eu -> ev, 2k + 1 = ev -> eu): face_next[d] follows d around the face on d's
    left, i.e. the dart next clockwise after d ^ 1 around d's head.
    """
    n = L * L
    site = np.arange(n).reshape(L, L)
    hu, hv = site[:, :-1].ravel(), site[:, 1:].ravel()
    vu, vv = site[:-1, :].ravel(), site[1:, :].ravel()
    eu = np.concatenate([hu, vu])
    ev = np.concatenate([hv, vv])
    kh = np.arange(hu.size)
    kv = hu.size + np.arange(vu.size)
    # directions 0 right, 1 down, 2 left, 3 up: clockwise in a drawing with the rows downwards
    dart = np.full((n, 4), -1, dtype=np.int64)
    dart[hu, 0], dart[hv, 2], dart[vu, 1], dart[vv, 3] = 2 * kh, 2 * kh + 1, 2 * kv, 2 * kv + 1
    tail = np.empty(2 * eu.size, dtype=np.int64)
    tail[0::2], tail[1::2] = eu, ev
    dirn = np.empty(2 * eu.size, dtype=np.int64)
    dirn[2 * kh], dirn[2 * kh + 1], dirn[2 * kv], dirn[2 * kv + 1] = 0, 2, 1, 3
    cw = np.full(2 * eu.size, -1, dtype=np.int64)
    for step in (3, 2, 1):  # the nearest existing direction clockwise is written last
        cand = dart[tail, (dirn + step) % 4]
        cw = np.where(cand >= 0, cand, cw)
    return eu, ev, cw[np.arange(2 * eu.size) ^ 1]


def _graph(model: IsingModel):
    """networkx graph of the model's bonds with its components joined by extra bonds.

    Returns (graph, extra) with extra a list of the added (u, v) pairs (J = 0).
    """
    import networkx as nx
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    g = nx.Graph()
    g.add_nodes_from(range(model.n))
    g.add_edges_from(zip(model.edge_i.tolist(), model.edge_j.tolist()))
    indptr, indices, _ = model.csr_pattern
    _, label = connected_components(sp.csr_matrix((np.ones(indices.size, dtype=np.int8), indices, indptr),
                                                  shape=(model.n, model.n)), directed=False)
    reps = np.unique(label, return_index=True)[1].tolist()  # each component's lowest spin, in order
    extra = [(reps[0], r) for r in reps[1:]]  # bridges between components keep the graph planar
    g.add_edges_from(extra)
    return g, extra


def _embedded_map(model: IsingModel):
    """(eu, ev, face_next, J-index) of a planar model through networkx, or a reason it has none.

    ``J-index`` maps each map bond to the model's bond number, -1 for the added J = 0 bonds.
    """
    import networkx as nx

    g, extra = _graph(model)
    planar, emb = nx.check_planarity(g)
    if not planar:
        return "the coupling graph is not planar"
    eu = np.concatenate([model.edge_i, np.array([min(e) for e in extra], dtype=np.int64)])
    ev = np.concatenate([model.edge_j, np.array([max(e) for e in extra], dtype=np.int64)])
    index = np.concatenate([np.arange(model.n_edges), np.full(len(extra), -1)])
    E = eu.size
    dart_of = {}
    for k in range(E):
        dart_of[(int(eu[k]), int(ev[k]))] = 2 * k
        dart_of[(int(ev[k]), int(eu[k]))] = 2 * k + 1
    cw = np.empty(2 * E, dtype=np.int64)
    for v in range(model.n):
        order = [dart_of[(v, w)] for w in emb.neighbors_cw_order(v)]
        for a, b in zip(order, order[1:] + order[:1]):
            cw[a] = b
    return eu, ev, cw[np.arange(2 * E) ^ 1], index


# ---------------------------------------------------------------------------- structure
class _Structure:
    """What every beta and every disorder sample of one coupling pattern share.

    The triangulated map, the Kasteleyn orientation, the sparsity pattern of the row-paired
    matrix A (M x M, M = number of darts of the triangulation, about 6N) and its fill-reducing
    column order.
    """

    def __init__(self, n, eu, ev, face_next, index):
        from ..kernels.planar import face_labels, fan_triangulation, kasteleyn_orientation

        self.n = n
        self.eu, self.ev = eu, ev
        self.index = index  # model bond of each map bond (-1: J = 0)
        self.face = face_labels(face_next)
        tail = np.empty(2 * eu.size, dtype=np.int64)
        tail[0::2], tail[1::2] = eu, ev
        self.tail = tail
        tri, chord_tail = fan_triangulation(face_next, tail)
        tail_t = np.concatenate([tail, chord_tail])
        orient = kasteleyn_orientation(n, tail_t, 0)
        M = tail_t.size
        self.size = M
        # K: triangle edges p -> q (cyclic order, weight w_t) and dual edges (weight 1), skew.
        p = tri.ravel()
        q = np.roll(tri, -1, axis=1).ravel()
        self.bond_p, self.bond_q = p >> 1, q >> 1  # bond (map bonds first, then chords) of each end
        self.tri_p, self.tri_q = p, q  # K[p, q] = w, K[q, p] = -w
        k = np.arange(M // 2)
        # K[2k+1, 2k] = +1 if orient[k] else -1; K[2k, 2k+1] = -K[2k+1, 2k]
        dual_even = np.where(orient == 1, 1.0, -1.0)  # K[2k+1, 2k]
        self.dual_even = dual_even
        sgn = np.empty(M)
        sgn[2 * k] = dual_even  # 1 / K[a ^ 1, a] for a = 2k
        sgn[2 * k + 1] = -dual_even
        # A[a, :] = sgn[a] * K[a ^ 1, :]: K[p, q] = w lands in row p ^ 1, K[q, p] = -w in row q ^ 1
        rows = np.concatenate([p ^ 1, q ^ 1, np.arange(M)])
        cols = np.concatenate([q, p, np.arange(M)])
        self.sign = np.concatenate([sgn[p ^ 1], -sgn[q ^ 1], np.ones(M)])
        self.n_tri = p.size
        self._pattern(rows, cols)

    def _pattern(self, rows, cols):
        """CSC pattern of A, permuted by its fill-reducing order (computed on the first factorisation)."""
        self.rows, self.cols = rows, cols
        self.perm = None
        self.jets = self.jets2 = None  # the jet factorisations in the first and the second order (built once)
        self.perm2 = None  # the second order's position of each stored row (built once)
        self.dd = [None, None]  # the double-double Pfaffians in the two orders (built once)
        self._csc(np.arange(self.size))

    def _csc(self, perm):
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.size)
        r, c = inv[self.rows], inv[self.cols]
        # a dart and its reverse in one triangle (a vertex of degree 1, a loop chord) give two
        # entries at one place: parallel edges of the decorated graph, whose weights add
        key = c.astype(np.int64) * self.size + r
        uniq, self.slot = np.unique(key, return_inverse=True)
        self.indices = (uniq % self.size).astype(np.int32)
        self.indptr = np.zeros(self.size + 1, dtype=np.int32)
        np.cumsum(np.bincount(uniq // self.size, minlength=self.size), out=self.indptr[1:])
        self.nnz = uniq.size

    def reference(self, model: IsingModel):
        """(s0, J') for ``model``: a ground state and the couplings of the map bonds in its gauge."""
        J = np.zeros(self.eu.size)
        real = self.index >= 0
        J[real] = model.couplings[self.index[real]]
        s0 = ground_state(self.n, self.tail, self.face, J)
        return s0, J * s0[self.eu] * s0[self.ev]

    def matrix(self, beta: float, jg: np.ndarray):
        """The row-paired matrix A (scipy CSC, float64 (M, M), in the stored order) at ``beta`` for gauge
        couplings ``jg`` (float64 (E,) of the map bonds); ln |Pf K| = ln |det A| / 2."""
        import scipy.sparse as sp

        data = self.entries(beta, jg, 0)[0]
        return sp.csc_matrix((data, self.indices, self.indptr), shape=(self.size, self.size))

    def entries(self, beta: float, jg: np.ndarray, order: int) -> list[np.ndarray]:
        """The stored nonzeros of A(beta + eps) (float64 (nnz,) each, CSC order) to ``order`` (0..2) in eps:
        A, dA/dbeta and d^2A/dbeta^2 / 2.  A triangle entry exp(-beta W) (W = J'_a + J'_b) has the jet
        exp(-beta W) (1 - W eps + W^2 eps^2 / 2); the dual edges (the diagonal) are constants."""
        jt = np.zeros(self.size // 2)
        jt[: jg.size] = jg
        W = jt[self.bond_p] + jt[self.bond_q]
        w = np.exp(-beta * W)
        out = []
        for k, x in enumerate((w, -W * w, 0.5 * W * W * w)[: order + 1]):
            vals = np.concatenate([x, x, np.full(self.size, 1.0 if k == 0 else 0.0)]) * self.sign
            out.append(np.bincount(self.slot, weights=vals, minlength=self.nnz))
        return out

    def log_pfaffian(self, beta: float, jg: np.ndarray) -> tuple[float, float]:
        """(ln |Pf K|, pivot growth) at ``beta`` for gauge couplings ``jg`` (float64 (E,) of the map bonds).

        The growth max_k max(|p_k|, 1/|p_k|) of the LU pivots p_k measures the cancellation the
        elimination went through (1 for a matrix with no frustration-forced unsatisfied bond).
        """
        from scipy.sparse.linalg import splu

        A = self.matrix(beta, jg)
        # diagonal pivots only (diag_pivot_thresh = 0): the elimination that stays accurate
        spec = "MMD_AT_PLUS_A" if self.perm is None else "NATURAL"
        lu = splu(A, permc_spec=spec, diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        if self.perm is None:  # keep the order for every later beta and sample
            self.perm = np.argsort(lu.perm_c)
            self._csc(self.perm)
        pivots = np.abs(lu.U.diagonal())
        return 0.5 * float(np.log(pivots).sum()), float(max(pivots.max(), 1.0 / pivots.min()))

    def jet_log_pfaffian(self, beta: float, jg: np.ndarray) -> tuple[np.ndarray, float]:
        """(jet, pivot growth) at ``beta`` for gauge couplings ``jg`` (float64 (E,) of the map bonds).

        ``jet`` float64 (2, 3): row 0 ln |Pf K|, d ln |Pf K| / dbeta and (1/2) d^2 ln |Pf K| / dbeta^2, row 1 the
        sums of the absolute values of the pivots' terms (the scale of the rounding).  Where M <=
        :data:`JET_MAX_SIZE`, from the elimination of the dart pairs in double arithmetic with the jets
        (:class:`isingvar.exact.pfaffian.PairedPfaffian`) in the dart-level order of :meth:`log_pfaffian` (which a
        first call runs once to compute it): its growth max(|d_k|, 1/|d_k|) over the pairs' pivots is measured equal
        to that factorisation's from beta ~ 2 (+-J, Gaussian, L = 8, 32) and up to 2 times below it at beta 0.2-1,
        where both stay below 15; 2.4-3.3 times faster than SuperLU on the jets' 3M x 3M embedding at L = 32-128.
        Beyond, one real
        factorisation (:class:`isingvar.exact.pfaffian.JetLU`, order 0) and the derivatives NaN.
        """
        if self.perm is None:
            self.log_pfaffian(beta, jg)
        if self.size <= JET_MAX_SIZE:
            jet, scale, growth = self._paired_jet(beta, jg, 1, 2, True)
            return np.stack([jet, scale]), growth
        if self.jets is None:
            self.jets = self._jet_lu(np.arange(self.size))
        return self._jet_sum(self.jets, beta, jg)

    def jet_log_pfaffian_checked(self, beta: float, jg: np.ndarray) -> np.ndarray:
        """The jet of :meth:`jet_log_pfaffian`, but in a second fill-reducing order (where M <=
        :data:`JET_MAX_SIZE` the pair graph's own minimum degree order, :func:`isingvar.exact.pfaffian.pair_order`,
        in double; beyond, SuperLU's MMD on AᵀA, computed by a real factorisation on the first call and kept): a
        different rounding path for the same three numbers."""

        if self.perm is None:
            self.log_pfaffian(beta, jg)
        if self.size <= JET_MAX_SIZE:
            return self._paired_jet(beta, jg, 0, 2, True)[0]
        if self.jets2 is None:
            self.jets2 = self._jet_lu(self._second_position(beta, jg))
        return self._jet_sum(self.jets2, beta, jg)[0][0]

    def _second_position(self, beta: float, jg: np.ndarray) -> np.ndarray:
        """The second order (SuperLU's MMD on AᵀA): the elimination position of each stored row, int (M,)."""
        from scipy.sparse.linalg import splu

        if self.perm2 is None:
            lu = splu(self.matrix(beta, jg), permc_spec="MMD_ATA", diag_pivot_thresh=0.0,
                      options={"SymmetricMode": True})
            self.perm2 = lu.perm_c
        return self.perm2

    def dd_jet(self, beta: float, jg: np.ndarray, second: bool = False,
               order: int = 2) -> tuple[np.ndarray, np.ndarray, float]:
        """ln |Pf K| and its derivatives by the double-double elimination of the dart pairs
        (:class:`isingvar.exact.pfaffian.PairedPfaffian`), in the first or the ``second`` order.

        Parameters
        ----------
        beta : float
            Inverse temperature.
        jg : numpy.ndarray
            float64 (E,): the gauge couplings of the map bonds.
        second : bool, default False
            Eliminate the pairs in the second order (the path's dart-level order, each pair with its first dart;
            the first is the pair graph's own minimum degree order, :func:`isingvar.exact.pfaffian.pair_order`):
            a different rounding path.
        order : {2, 0}, default 2
            The jets carried: 2 the first two derivatives, 0 ln |Pf K| alone (a third of the memory, ~6 times
            fewer operations; the derivatives NaN).

        Returns
        -------
        jet : numpy.ndarray
            float64 (3,): ln |Pf K|, d ln |Pf K|/dbeta, (1/2) d^2 ln |Pf K|/dbeta^2 (NaN beyond ``order``).
        scale : numpy.ndarray
            float64 (3,): the sums of the pivots' terms' absolute values (NaN beyond ``order``).
        growth : float
            The pairs' pivot growth max_k max(|d_k|, 1/|d_k|).
        """
        return self._paired_jet(beta, jg, int(second), order, False)

    def _paired_jet(self, beta: float, jg: np.ndarray, k: int, order: int, double: bool):
        """:meth:`dd_jet`'s (jet, scale, growth) in order ``k`` (0 the pair graph's, 1 the dart-level one), in
        double-double or, with ``double``, in double (:meth:`jet_log_pfaffian`)."""
        if self.perm is None:
            self.log_pfaffian(beta, jg)
        pf = self._dd_structure(k)
        jt = np.zeros(self.size // 2)
        jt[: jg.size] = jg
        W = jt[self.bond_p] + jt[self.bond_q]
        w = np.exp(-beta * W)
        nt = order + 1
        values = np.zeros((self.tri_p.size + self.size // 2, nt))
        values[: w.size] = np.column_stack([w, -W * w, 0.5 * W * W * w])[:, :nt]
        values[w.size:, 0] = self.dual_even
        jet, scale, _, growth = pf.log_pfaffian(values, double=double)
        pad = np.full(3 - nt, np.nan)
        return np.r_[jet, pad], np.r_[scale, pad], growth

    def _dd_structure(self, k: int):
        """The :class:`~isingvar.exact.pfaffian.PairedPfaffian` of the first (k = 0) or second order, built once."""
        from .pfaffian import PairedPfaffian, pair_order

        if self.dd[k] is None:
            pairs = np.arange(self.size // 2)
            p, q = np.concatenate([self.tri_p, 2 * pairs + 1]), np.concatenate([self.tri_q, 2 * pairs])
            if k:  # the path's dart order, a pair going with its first dart
                position = np.argsort(self.perm)
                order = np.argsort(np.minimum(position[0::2], position[1::2]), kind="stable")
            else:  # minimum degree on the pair graph itself: 40 % fewer updates at L = 64
                order = pair_order(self.size, p, q)
            self.dd[k] = PairedPfaffian(self.size, p, q, order)
        return self.dd[k]

    def dd_jets(self, beta: float, jg: np.ndarray, order: int = 2):
        """:meth:`dd_jet` in both orders, (first, second), run side by side (:func:`side_by_side`).

        Parameters
        ----------
        beta : float
            Inverse temperature.
        jg : numpy.ndarray
            float64 (E,): the gauge couplings of the map bonds.
        order : {2, 0}, default 2
            As :meth:`dd_jet`.

        Returns
        -------
        tuple
            The two results of :meth:`dd_jet`.
        """
        if self.perm is None:
            self.log_pfaffian(beta, jg)
        for k in (0, 1):  # the structures once, on this thread
            self._dd_structure(k)

        def one(second: bool):
            return self.dd_jet(beta, jg, second=second, **({} if order == 2 else {"order": order}))

        first, second = side_by_side([lambda: one(False), lambda: one(True)])
        for r in (first, second):
            if isinstance(r, ArithmeticError):
                raise r
        return first, second

    def _jet_lu(self, position: np.ndarray):
        """The :class:`~isingvar.exact.pfaffian.JetLU` of A with stored row/column j eliminated
        ``position[j]``-th; the triangle entries vary with beta, the dual edges (the diagonal) do not."""
        from .pfaffian import JetLU

        col = np.repeat(np.arange(self.size), np.diff(self.indptr))
        varying = np.bincount(self.slot[: 2 * self.n_tri], minlength=self.nnz) > 0
        order = 2 if self.size <= JET_MAX_SIZE else 0
        return JetLU(self.size, position[self.indices], position[col], varying, order)

    def _jet_sum(self, lu, beta: float, jg: np.ndarray) -> tuple[np.ndarray, float]:
        """(ln |Pf K| jet and its scale, pivot growth) from the jet factorisation ``lu``: half the sum of the
        pivots' jet logarithms (ln |Pf K| = ln |det A| / 2) and of their absolute values, float64 (2, 3);
        the growth max(|p0|, 1/|p0|), NaN at a zero pivot."""
        logs = lu.log_pivots(*self.entries(beta, jg, 2))
        sums = 0.5 * np.stack([logs.sum(axis=0), np.abs(logs).sum(axis=0)])
        return sums, float(np.exp(np.abs(logs[:, 0]).max()))


def side_by_side(calls) -> list:
    """Each of ``calls`` (callables without arguments) run, two at a time on two threads where this process's numba
    thread count is 2 or more (a sweep's worker with one core runs them in turn): the double-double kernels release
    the GIL, so the two orders of a planar beta, or two seam positions of a torus beta, take one elimination's time.

    Parameters
    ----------
    calls : sequence of callable
        The work, independent of each other.

    Returns
    -------
    list
        Each call's result, or the ArithmeticError it raised (returned, not raised), in order.
    """
    import numba

    if len(calls) < 2 or numba.get_num_threads() < 2:
        return [_guarded(f) for f in calls]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        later = [pool.submit(_guarded, f) for f in calls[1:]]
        return [_guarded(calls[0])] + [x.result() for x in later]


def _guarded(f):
    """f(), or the ArithmeticError it raised (a singular step: the caller decides; other errors propagate)."""
    try:
        return f()
    except ArithmeticError as exc:
        return exc


def ground_state(n: int, tail: np.ndarray, face: np.ndarray, J: np.ndarray) -> np.ndarray:
    """A ground state of a planar zero-field model, float64 (n,) of +-1.

    The bonds a ground state leaves unsatisfied form a minimum-|J| set whose boundary (faces with
    an odd number of its bonds) is the set of frustrated faces (an odd number of J < 0 bonds): a
    minimum-weight perfect matching on the dual graph (PyMatching's sparse blossom; weights are
    rounded to integers there, so with real-valued couplings the state may miss the ground-state
    energy by rounding, which leaves the Pfaffian's accuracy unchanged; where every nonzero |J| is
    the same, as on a +-J glass, the rounding changes nothing and the state is an exact ground
    state).  The largest face (the outer face of a lattice) is PyMatching's boundary rather than a
    detector: its parity follows from the others' (every bond lies on two faces), and as a detector
    of degree ~4L it made the decoder's time erratic on dense +-J syndromes (L = 300: 78 s against
    0.8 s; benchmarks/planar.py --ground-state).

    Parameters
    ----------
    n : int
        Number of spins.
    tail : numpy.ndarray
        int64 (2E,): dart tails of a connected planar map (darts 2k and 2k + 1: bond k's two ends).
    face : numpy.ndarray
        int64 (2E,): face of each dart.
    J : numpy.ndarray
        float64 (E,): bond couplings.

    Returns
    -------
    numpy.ndarray
        float64 (n,) of +-1: the state (exact up to PyMatching's rounding of real-valued weights, above).

    Raises
    ------
    ArithmeticError
        If the matched bonds' signs do not form a cut (never expected: a matching is a cut).
    """
    import pymatching
    import scipy.sparse as sp

    from ..kernels.planar import spins_from_bonds

    E = J.size
    fa, fb = face[0::2], face[1::2]
    negative = J < 0
    if not negative.any():
        return np.ones(n)
    nf = int(face.max()) + 1
    outer = int(np.argmax(np.bincount(face, minlength=nf)))  # the boundary: no detector
    row = np.arange(nf) - (np.arange(nf) > outer)  # detector of each other face
    k = np.flatnonzero(fa != fb)  # a bridge lies on one face: it never changes a face's parity
    cols = np.tile(np.arange(k.size), 2)
    ends = np.concatenate([fa[k], fb[k]])
    inner = ends != outer  # a bond of the outer face has one detector: a boundary edge
    H = sp.csc_matrix((np.ones(int(inner.sum()), dtype=np.uint8), (row[ends[inner]], cols[inner])),
                      shape=(nf - 1, k.size))  # faces but the outer one x bonds
    syndrome = (np.bincount(fa, weights=negative, minlength=nf) + np.bincount(fb, weights=negative, minlength=nf)).astype(np.int64) % 2
    syndrome = np.delete(syndrome, outer)
    flips = np.zeros(E, dtype=bool)
    if syndrome.any():
        matching = pymatching.Matching.from_check_matrix(H, weights=np.abs(J[k]))
        flips[k] = matching.decode(syndrome.astype(np.uint8)).astype(bool)
    sign = np.where(negative != flips, -1.0, 1.0)  # s_i s_j of the ground state on each bond
    s = spins_from_bonds(n, tail, sign, 0)
    if not np.all(s[tail[0::2]] * s[tail[1::2]] == sign):  # pragma: no cover - a matching is a cut
        raise ArithmeticError("the ground-state bonds do not form a cut")
    return s


#: glibc's mallopt parameters (malloc.h) and their documented defaults (man 3 mallopt).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MALLOC_DEFAULTS = ((_M_TRIM_THRESHOLD, 128 * 1024), (_M_TOP_PAD, 128 * 1024), (_M_MMAP_THRESHOLD, 128 * 1024))


@contextmanager
def heap_kept():
    """Let freed memory stay in the process's heap for the block (glibc), and hand it back after.

    Every factorisation allocates and frees the same large arrays (L and U: ~1 GB at L = 512);
    glibc serves blocks above its mmap threshold by fresh mappings and unmaps them at free, so
    each beta faulted all of them in anew: system time matched user time at L = 512.  In the
    block, blocks come from the heap and freed ones are kept for the next beta; on exit the
    thresholds go back to glibc's defaults (their dynamic adjustment stays off) and malloc_trim
    returns the kept memory.  Does nothing where the C library has no mallopt/malloc_trim.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        yield
        return
    big = 2**31 - 1  # mallopt takes a C int
    for param, value in ((_M_MMAP_THRESHOLD, big), (_M_TRIM_THRESHOLD, big), (_M_TOP_PAD, 2**28)):
        mallopt(param, value)
    try:
        yield
    finally:
        for param, value in _MALLOC_DEFAULTS:
            mallopt(param, value)
        trim(0)


def _embedding(model: IsingModel):
    """(eu, ev, face_next, index) of the model's planar map, or the reason it has none (kept in the pattern
    cache, :mod:`isingvar.patterns`).

    ``index`` int64 (E,) is the model's bond number of each map bond, -1 for added J = 0 bonds.
    """

    def build():
        L = _square_side(model)
        if L is not None:
            eu, ev, face_next = _square_map(L)
            keys = eu * model.n + ev  # horizontal bonds first: not sorted
            order = np.argsort(keys)
            pos = order[np.searchsorted(keys[order], model.edge_i * model.n + model.edge_j)]
            index = np.full(eu.size, -1, dtype=np.int64)  # bonds absent from the model: J = 0
            index[pos] = np.arange(model.n_edges)
            return eu, ev, face_next, index
        if model.n < 3:
            return "fewer than 3 spins"
        return _embedded_map(model)

    return patterns.get(model, (PATH_NAME, "embedding"), build)


def _structure(model: IsingModel) -> _Structure:
    """The :class:`_Structure` of the model's coupling pattern (the model must be planar), kept in the pattern
    cache."""
    return patterns.get(model, (PATH_NAME, "structure"), lambda: _Structure(model.n, *_embedding(model)))


# ---------------------------------------------------------------------------- the path protocol
def applicable(model: IsingModel, betas, *, sites: bool) -> str | None:
    """None if :func:`run` computes ``model`` exactly, else a short reason.

    Needs all fields zero, a planar coupling graph (an open square lattice is recognised from its
    bonds in O(E); other graphs go through networkx's planarity test, once per coupling pattern),
    beta max|J| <= :data:`MAX_BETA_J`, and, on a frustrated instance, beta below the limit where
    the elimination's pivot growth would pass :data:`GROWTH_LIMIT` (see :func:`_frustration`).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (the largest sets the limits).
    sites : bool
        Per-site magnetisations wanted (unused: they are 0 at h = 0).

    Returns
    -------
    str or None
        The reason, or None.
    """
    if np.any(model.fields):
        return "fields are nonzero"
    b = np.asarray(betas, dtype=np.float64)
    scale = float(np.max(b, initial=0.0)) * float(np.abs(model.couplings).max(initial=0.0))
    if scale > MAX_BETA_J:
        return f"beta max|J| = {scale:.3g} exceeds {MAX_BETA_J:g} (the Pfaffian's weights would overflow)"
    emb = _embedding(model)
    if isinstance(emb, str):
        return emb
    beta_max = float(np.max(b, initial=0.0))
    frustration = _frustration(model, emb)
    if 2.0 * beta_max * frustration > np.log(EXTENDED_GROWTH_LIMIT):
        return (f"beta = {beta_max:g} is beyond the planar Pfaffian's accurate range on this frustrated instance "
                f"(beta <= {np.log(EXTENDED_GROWTH_LIMIT) / (2.0 * frustration):.3g})")
    return None


def _frustration(model: IsingModel, emb) -> float:
    """Largest, over the frustrated faces, of the weakest |J| on the face: 0 without frustration.

    A ground state leaves at least that bond unsatisfied, and the elimination's pivot growth is
    about exp(2 beta |J|) of such bonds (measured on +-J and Gaussian glasses): the cheap test
    behind :func:`applicable`'s beta limit; :func:`run` checks the actual growth.
    """
    bond, starts = _faces(model, emb)
    J = np.zeros(bond.size)  # the coupling of each face's darts in turn
    real = bond >= 0
    J[real] = model.couplings[bond[real]]
    odd = np.add.reduceat((J < 0).astype(np.int64), starts) % 2 == 1
    weakest = np.minimum.reduceat(np.abs(J), starts)
    return float(weakest[odd].max(initial=0.0))


def _faces(model: IsingModel, emb) -> tuple[np.ndarray, np.ndarray]:
    """The darts of the planar map ``emb`` face by face: (the model bond of each, -1 for an added J = 0 bond;
    the first position of each face), int64 (2E,) and (F,), kept in the pattern cache."""

    def build():
        from ..kernels.planar import face_labels

        _, _, face_next, index = emb
        face = face_labels(face_next)
        order = np.argsort(face, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(face[order]) != 0])
        return np.ascontiguousarray(index[order >> 1]), starts

    return patterns.get(model, (PATH_NAME, "faces"), build)


def _probe_rate() -> tuple[float, int]:
    """(seconds, M) of one factorisation of a 24 x 24 lattice, timed once per process."""
    if not _rate:
        L = 24
        eu, ev, fn = _square_map(L)
        s = _Structure(L * L, eu, ev, fn, np.arange(eu.size))
        jg = np.ones(eu.size)
        s.log_pfaffian(0.5, jg)  # computes the order
        t = time.perf_counter()
        s.log_pfaffian(0.5, jg)
        _rate.append((time.perf_counter() - t, s.size))
    return _rate[0]


def estimate_seconds(model: IsingModel, betas, *, sites: bool) -> float:
    """Seconds :func:`run` would take: per-beta factorisations extrapolated from a probe.

    M ~ 6N is the decorated graph's size; a factorisation's time is the probe's (one factorisation
    of a 24 x 24 lattice, timed once per process) times (M / M_probe)^:data:`TIME_EXPONENT`
    (nested dissection's M^1.5 flops are not reached below L = 512: SuperLU's time grew like
    M^1.15-1.35 there, benchmarks/planar.py).  The ground state and the first beta's ordering add
    :data:`SETUP_FACTORISATIONS` (measured 1-3 on +-J lattices of L = 256..512).  For the issue's
    32-beta +-J sweeps: 40 s and 214 s estimated, 39 s and 246 s measured at L = 256 and 512
    (docs/performance.md); the M^1.5 model it replaces said 261 s and 1450 s.

    Parameters
    ----------
    model : IsingModel
        The instance (a planar one :func:`applicable` accepts).
    betas : array_like of float, shape (nb,)
        Inverse temperatures (their count, and how many are factorised twice).
    sites : bool
        Per-site magnetisations wanted (unused: they are 0 at h = 0).

    Returns
    -------
    float
        Estimated wall seconds.
    """
    from ..parallel import available_cores

    return _seconds(model, betas, *_probe_rate(), threads=min(2, available_cores()))


#: One factorisation of the probe's decorated graph (the 24 x 24 lattice, M = 3444) on one core of the
#: reference machine, for :func:`work` (8.3 ms measured on the 2-core test machine, 2026-12-06).  Only its
#: ratio to the other paths' constants matters: it decides the path, never a time limit.
PROBE_SECONDS, PROBE_SIZE = 8.3e-3, 3444


def work(model: IsingModel, betas, *, sites: bool = False) -> float:
    """Modelled seconds of :func:`run` (the :class:`isingvar.exact.ExactPath` protocol): the model of
    :func:`estimate_seconds` with the probe's time fixed at :data:`PROBE_SECONDS` instead of timed.
    Deterministic: the size, the frustration (which sets the betas that are factorised twice) and the
    betas.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (their count, and how many are factorised twice).
    sites : bool, default False
        Per-site magnetisations wanted (unused: they are 0 at h = 0).

    Returns
    -------
    float
        Modelled seconds; inf where :func:`applicable` refuses.
    """
    if applicable(model, betas, sites=sites) is not None:
        return float("inf")
    return _seconds(model, betas, PROBE_SECONDS, PROBE_SIZE)


def _seconds(model: IsingModel, betas, seconds: float, size: int, threads: int = 1) -> float:
    """Factorisations of :func:`run` (one per beta, a second for the betas cross-checked: jet ones, each
    :data:`JET_COST` real ones, where M ~ 6N <= :data:`JET_MAX_SIZE`; beyond the estimated growth
    :data:`CROSS_CHECK_GROWTH`, where double precision is expected to fail, two double-double ones of
    :data:`DD_COST` each instead (:data:`DD_VALUE_COST` without the jets, up to :data:`DD_MAX_SIZE`); the setup and the second order's own ordering: real ones) x ``seconds`` per
    real factorisation of a decorated graph of ``size`` scaled as M^:data:`TIME_EXPONENT`; the two double-double
    orders run side by side on ``threads`` (1 or 2) threads (:meth:`_Structure.dd_jets`)."""
    b = np.asarray(betas, dtype=np.float64)
    jets = 6.0 * model.n <= JET_MAX_SIZE
    dd = int(np.count_nonzero(b > _cross_check_beta(model))) if 6.0 * model.n <= DD_MAX_SIZE else 0
    checked = int(np.count_nonzero(b > _second_order_beta(model, jets))) - dd
    per_beta = JET_COST if jets else 1.0
    extra = SETUP_FACTORISATIONS + (1 if checked or dd else 0)
    steps = per_beta * (b.size - dd + max(checked, 0)) + 2.0 / threads * (DD_COST if jets else DD_VALUE_COST) * dd + extra
    return seconds * (6.0 * model.n / size) ** TIME_EXPONENT * steps


def _cross_check_beta(model: IsingModel, growth: float = CROSS_CHECK_GROWTH) -> float:
    """Beta above which the estimated pivot growth exp(2 beta J*) passes ``growth`` (inf without frustration):
    with :data:`CROSS_CHECK_GROWTH`, where :func:`run` confirms each ln Pf in a second order; with
    :data:`DERIVATIVE_CHECK_GROWTH`, where it confirms u, s and c."""
    frustration = _frustration(model, _embedding(model))
    return float(np.log(growth) / (2.0 * frustration)) if frustration > 0 else float("inf")


def _second_order_beta(model: IsingModel, jets: bool) -> float:
    """Beta above which :func:`run` factorises in a second order: from :data:`DERIVATIVE_CHECK_GROWTH` where
    it carries the jets (``jets``), else from :data:`CROSS_CHECK_GROWTH` (ln Z alone)."""
    return _cross_check_beta(model, DERIVATIVE_CHECK_GROWTH if jets else CROSS_CHECK_GROWTH)


def run(model: IsingModel, betas, *, sites: bool = False,
        progress: Callable[[float, float], None] | None = None) -> ExactResult:
    """ln Z, f, u, s and c of a planar zero-field model on every beta, exactly (module docstring).

    Parameters
    ----------
    model : IsingModel with all fields zero and a planar coupling graph (see :func:`applicable`).
    betas : array_like of float, shape (nb,), finite and >= 0, any order.
    sites : also return the per-site magnetisations (all 0 at h = 0).
    progress : callable(done_betas, total_betas), called after each beta; Ctrl-C is honoured there.

    Returns
    -------
    ExactResult with path "planar": lnZ, f, u, s, c exact (u, s, c NaN where M > :data:`JET_MAX_SIZE`, and
    each where a second order or a certificate does not confirm it: module docstring, step 5); m = 0;
    e0 and ground_state where the reference is certainly a ground state (no frustration, or +-J
    couplings), else NaN; m2, absm and chi NaN.  ``status`` (int8 (nb,), codes of
    :data:`isingvar.exact.EXACT_STATUS`) is ``precision_lost`` where the pivot growth passed
    :data:`GROWTH_LIMIT` (ln Z would lose more than ~1e-10 relative) and ``precision_not_confirmed``
    where, beyond the estimated growth :data:`CROSS_CHECK_GROWTH`, a second elimination order
    disagreed by more than :data:`CROSS_CHECK_RTOL` of ln Z; every value is NaN at those betas and
    every other beta is computed.

    Raises
    ------
    ValueError
        If betas are not finite and >= 0 or the model is not covered (the reason of
        :func:`applicable`; a beta beyond the accurate range is refused here: the caller runs the
        betas that are covered).
    """
    b = check_betas(betas)
    reason = applicable(model, b, sites=sites)
    if reason is not None:
        raise ValueError(f"the planar path does not apply: {reason}")
    lnz, mean_e, entropy, var_e = (np.full(b.size, np.nan) for _ in range(4))
    status = np.zeros(b.size, dtype=np.int8)
    with deferred_interrupt() as check, heap_kept():  # the structure kernels are numba: a signal is held there too
        s = _structure(model)
        s0, jg = s.reference(model)
        e_ref = -float(jg.sum())  # E(s0)
        certain = _ground_state_is_exact(model, jg)
        check_from = _cross_check_beta(model)
        jets = s.size <= JET_MAX_SIZE
        extended = s.size <= DD_MAX_SIZE  # double-double where double precision fails (ln Z alone beyond the jets)
        second_from = _second_order_beta(model, jets)
        check()
        double = True  # until the double-precision elimination first fails (ascending beta): then double-double
        lost = False  # once the double-double one cannot confirm ln Z, the larger betas are not attempted
        for done, i in enumerate(np.argsort(b, kind="stable")):
            beta = float(b[i])
            if lost:
                status[i] = PRECISION_LOST
            elif double:
                jet, growth = s.jet_log_pfaffian(beta, jg)
                check()
                spread = None
                if growth <= GROWTH_LIMIT and beta > second_from:  # the same numbers along a second rounding path
                    spread = np.abs(s.jet_log_pfaffian_checked(beta, jg) - jet[0])
                    check()
                status[i] = _moments(i, beta, e_ref, jet, growth <= GROWTH_LIMIT, spread, beta > check_from,
                                     certain, lnz, mean_e, entropy, var_e)
                double = not extended or (status[i] == 0 and (not jets or np.isfinite([mean_e[i], entropy[i],
                                                                                       var_e[i]]).all()))
                lost = not extended and status[i] != 0
            if not double and not lost:
                (jet1, scale, _), (jet2, _, _) = s.dd_jets(beta, jg, 2 if jets else 0)
                check()
                status[i] = _moments(i, beta, e_ref, np.stack([jet1, scale]), True, np.abs(jet1 - jet2), True,
                                     certain, lnz, mean_e, entropy, var_e)
                lost = status[i] != 0
            if progress:
                progress(done + 1, b.size)
    # m = 0 and <s_i> = 0 by the h = 0 symmetry; everything NaN where status flags a beta
    return ExactResult.from_moments(
        b, model.n, path="planar", lnZ=lnz, mean_e=mean_e, entropy=entropy, var_e=var_e, symmetric=True,
        status=status, e0=e_ref if certain else float("nan"), ground_state=s0 if certain else None,
        sites=np.zeros((b.size, model.n)) if sites else None)


def _moments(i: int, beta: float, e_ref: float, jet: np.ndarray, accurate: bool, spread, required: bool,
             certain: bool, lnz: np.ndarray, mean_e: np.ndarray, entropy: np.ndarray, var_e: np.ndarray) -> int:
    """Fill beta ``i``'s ln Z, U, S and Var E from a factorisation's ``jet`` (float64 (2, 3): ln Pf and its
    derivatives, their scales); return its status code (0, ``precision_lost`` where not ``accurate``, or
    ``precision_not_confirmed`` where a second order was ``required`` for ln Z and its ``spread`` (float64 (3,)
    or None: not computed) passes :data:`CROSS_CHECK_RTOL`).  U, S, Var E are each NaN where the spread does
    not confirm them or a cheap certificate fails (u >= E0/N where s0 is ``certain``ly a ground state, c >= 0)."""
    (log_pf, d1, d2), scale = jet
    lnz[i] = np.log(2.0) - beta * e_ref + log_pf
    if not accurate:  # a value off by more than ~1e-10 (NaN: a zero pivot): none
        lnz[i] = np.nan
        return PRECISION_LOST
    # U = E(s0) - d ln Pf/dbeta; S = ln Z + beta U; Var E = d^2 ln Pf/dbeta^2
    mean_e[i], entropy[i], var_e[i] = e_ref - d1, np.log(2.0) + log_pf - beta * d1, 2.0 * d2
    code = 0
    if spread is not None:
        if required and not spread[0] <= CROSS_CHECK_RTOL * abs(lnz[i]):
            code = PRECISION_NOT_CONFIRMED
        mean_e[i] = _confirmed(mean_e[i], spread[1], mean_e[i])
        entropy[i] = _confirmed(entropy[i], spread[0] + beta * spread[1], entropy[i])
        var_e[i] = _confirmed(var_e[i], 2.0 * spread[2], var_e[i])
    if certain and d1 > CROSS_CHECK_RTOL * scale[1]:
        mean_e[i] = entropy[i] = np.nan
    if d2 < -CROSS_CHECK_RTOL * scale[2]:
        var_e[i] = np.nan
    return code


def _confirmed(value: float, spread: float, scale: float) -> float:
    """``value`` where two elimination orders agree on it (``spread``) to :data:`CROSS_CHECK_RTOL` of |``scale``|,
    else NaN (also where either is NaN)."""
    return value if spread <= CROSS_CHECK_RTOL * abs(scale) else float("nan")


def _ground_state_is_exact(model: IsingModel, jg: np.ndarray) -> bool:
    """Whether the reference s0 (gauge couplings ``jg``, float64 (E,) of the map bonds) is certainly a
    ground state: every bond satisfied (no frustration: E(s0) = -sum |J|, the least any state can
    have), or every non-zero |J| equal (+-J), where PyMatching's integer weights are exact and its
    matching is a minimum one (sparse blossom: Higgott & Gidney, arXiv:2303.15933)."""
    if np.all(jg >= 0):
        return True
    mags = np.abs(model.couplings[model.couplings != 0])
    return bool(mags.size == 0 or np.all(mags == mags[0]))
