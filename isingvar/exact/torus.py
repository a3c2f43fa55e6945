"""Exact ln Z of the periodic square lattice (the torus) at zero field, by four signed Pfaffians.

One of the exact paths of :mod:`isingvar.exact` (:class:`isingvar.exact.ExactPath`).  The construction is
the planar path's (:mod:`isingvar.exact.planar`: fan-triangulated faces, a decorated graph with one node
per dart, a Kasteleyn orientation, the row-paired matrix, SuperLU with diagonal pivots, a ground-state
gauge), carried to the torus by a Schur complement on a seam strip:

1. The L x L torus (L >= 3; sites row-major, ``site = r L + c``; the *first axis* is the row index
   r = site // L) is a map with L^2 plaquettes.  Relative to a reference state, every spin state is a
   cut of the triangulation, i.e. an even subgraph of its dual of *trivial* homology; even subgraphs of
   the other three homology classes are the states of the models with the couplings across a seam
   negated: class AP (antiperiodic along the first axis) negates the bonds (L-1, c)-(0, c), PA the
   bonds (r, L-1)-(r, 0), AA both.  So the decorated graph's matchings sum, class by class, the four
   partition functions W_PP, W_AP, W_PA, W_AA (each Z = 2 exp(-beta E_ref) W).
2. The torus has four Kasteleyn orientations (every face clockwise-odd): the base one (the planar
   kernel's, which closes on the torus because E - N is even) and the ones with the dual edges of row
   0's horizontal bonds and/or column 0's vertical bonds (two non-contractible loops) reversed.  Under
   orientation k every matching of class h has one sign S[k, h] (Kasteleyn, J. Math. Phys. 4, 287
   (1963); Galluccio & Loebl, Electron. J. Combin. 6 (1999) R6; Cimasoni & Reshetikhin, Commun. Math.
   Phys. 275, 187 (2007)), so Pf K_k = sum_h S[k, h] W_h and W_h = 1/4 sum_k S[k, h] Pf K_k (S is a
   Hadamard matrix).  S is computed once per lattice as the sign of the Pfaffian term of one matching of
   each class (the permutation's parity times the entries' signs), and checked to be Hadamard.
3. Signs, by a Schur complement.  The four K_k differ only in the block of the seam strip S, the 4L
   darts of the two loops' bonds; the rest I is the decorated graph of the torus cut open along the
   loops, a planar graph whose inner faces are all clockwise-odd, so Pf K_II is a sum of positive
   terms (no cancellation) and the same for the four.  With K = [[K_II, K_IS], [-K_IS^T, K_SS]],
   Pf K_k = Pf K_II Pf C_k, C_k = K_SS^(k) + K_IS^T K_II^-1 K_IS = K_SS^(k) - T (the Pfaffian Schur
   complement; the nodes ordered I first, which changes every Pf K_k by one common sign).  Per beta:
   one SuperLU factorisation of the bordered matrix [[A_II, A_IS], [K_SI, alpha 1]] (A the row-paired
   K, diagonal pivots, I in SuperLU's MMD order, S last), from which T = K_SI A_II^-1 A_IS is read off
   the factors, T = L_SI U_IS (the interior's columns of L's S rows times U's S columns: no solves), and
   ln |Pf K_II| = ln |det A_II| / 2; then four dense signed Pfaffians of the 4L x 4L C_k, scaled by
   powers of 2 on rows and columns, by PFAPACK's Householder tridiagonalisation (Wimmer, ACM TOMS 38,
   30 (2012)).  The common sign of Pf K_II drops out: every W_h > 0.
4. Numerics and error bounds.  The reference state is a minimum over *all four* classes (PyMatching on
   the torus's frustrated plaquettes returns the lightest set of unsatisfied bonds of any class): taken
   as a state of the boundary condition h* it belongs to, every matching weighs <= 1.  Errors:
   ln |Pf K_II| within :data:`PF_EPS` x growth x pairs (the planar path's model; growth checked against
   :data:`GROWTH_LIMIT`), common to the four classes; T's rounding is *measured* by its skew defect
   |T + T^T| / 2 (T is skew in exact arithmetic, and T_ij, T_ji come from different rows of L and
   columns of U) and carried to first order, |d ln Pf C| <= 1/2 sum_ij |C^-1_ij| |dT_ji|; the dense
   Pfaffian's rounding is measured as the difference from a second elimination (Parlett-Reid with
   pivoting); both times :data:`SAFETY`.  W_h's error is then 1/4 sum_k |Pf_k| rel_k / W_h: Pf_k may
   cancel (high temperature) without harm, only a W_h much smaller than the largest class loses digits.
   A beta is computed where this bound on ln Z_PP is within :data:`RTOL` |ln Z|, or where two seam
   positions (the instance translated, so that the loops are another row and column: another interior,
   order and rounding) agree, :data:`AGREEMENT_MARGIN` times their difference plus their dense bounds
   within RTOL |ln Z| (the bound from T's defect is a forward error: it overstates, up to 1e6 times on
   glasses, what reaches ln Pf K = ln Pf K_II + ln Pf C, where the interior's errors largely cancel);
   beyond the estimated growth :data:`CROSS_CHECK_GROWTH` two positions are always required (the planar
   path's second-order check).  Up to :data:`MAX_SEAMS` positions are tried, betas in increasing order,
   best position first.  Else NaN with ``precision_lost`` / ``precision_not_confirmed``; once a beta
   failed at every position, the larger betas are not tried (``precision_lost``: C_k's condition grows
   like exp(4 beta)).  So which betas near the limit are computed can depend on the grid (never a value
   beyond its bound).

5. u, s, c (where M = 6N <= :data:`JET_MAX_SIZE`).  Each Schur step carries the jets of the entries to
   eps^2 (:func:`seam_pfaffians_paired`: the interior eliminated pair by pair in double arithmetic, jets
   riding each entry, :class:`~isingvar.exact.pfaffian.PairedPfaffian` with the double-double path's order and
   layout; :func:`seam_pfaffians` with ``order`` 2 does the same by one SuperLU factorisation of the 3M x 3M real
   embedding, 4-5 times slower at L = 32-64): its interior pivots give ln Pf K_II, d/dbeta and d^2/dbeta^2; the
   seam columns left uneliminated hold T's jet (SuperLU: L_SI U_IS); and each C_k(beta + eps)
   is eliminated as a jet matrix by Parlett-Reid with pivoting
   (:func:`~isingvar.exact.pfaffian.pfaffian_pivots`), whose pivot jets stay accurate where C_k is nearly
   singular (Pf_k near a zero crossing, e.g. at K_c on the uniform torus, where 1/2 tr(C^-1 C') lost c
   within 1e-6 of K_c).  The class sum W of the periodic model and its derivatives follow from
   W = 1/4 sum_k S[k, h] Pf_k in a centred form (:func:`class_derivatives`: Var E a sum of squares of
   differences, never E^2 - E^2), and U = E(s0) - (ln W)', S = ln 2 + ln W - beta (ln W)' (both terms >= 0),
   Var E = (ln W)''.  Rounding: where the periodic class lies far below the lightest one W is a small
   difference of the Pf_k and its derivatives lose what it loses: each of u, s, c is NaN where
   :data:`DERIVATIVE_EPS` times the scale of that combination passes :data:`RTOL` of it.  The derivatives
   also lose precision with the interior's growth far sooner than ln Z (+-J 32 x 32, beta 1.83: Var E off
   by 1.6e-3 at a position of growth 495 where three others agreed to 1e-12; at beta 2.37 the best two
   positions differed by 6e-8): beyond the estimated growth :data:`DERIVATIVE_CHECK_GROWTH` (+-J: beta >
   1.15), or where the position that gave ln Z measured more, each of u, s, c needs two seam positions that
   agree on it to :data:`RTOL` (up to :data:`MAX_SEAMS` are tried), else NaN (and, once one of them failed
   at every position, the larger betas take real steps: ln Z only); and the certificates
   c >= 0 and u >= E(s0)/N (where s0 is certainly a lightest state of all four classes) make it NaN where
   they fail beyond rounding.  Measured (tests/test_torus_derivatives.py): against enumeration (L = 3, 4;
   uniform, +-J, Gaussian; beta 0.05 .. 8), elimination (L <= 8) and Kaufman's closed form differentiated
   (L = 16, 64, K_c included) within 1e-10; computed for every beta 0.2 .. 4 on Gaussian 32 x 32 glasses,
   to beta ~ 1.8-2.6 on +-J 32 x 32 and 64 x 64 (NaN beyond; ln Z to ~ 3).  The paired step's bounds are
   estimates (T has no measured skew defect there), so every jet beta takes two seam positions, side by side,
   that must agree on ln Z, on ln(Z_PP / Z_AP) (:func:`_domain_wall`) and on each of u, s (to
   :data:`PAIRED_RTOL`) and c (to :data:`PAIRED_C_RTOL`, c then given to :data:`PAIRED_C_TOL`; else more
   positions, then double-double).  A paired jet step
   costs :data:`JET_COST` real ones (0.38-0.50 s CPU at L = 64, where SuperLU on the embedding took 1.9-2.0 s):
   beyond L = 130 the steps are the real ones and u, s, c NaN.

Measured (2-core test machine, OPENBLAS_NUM_THREADS=1; benchmarks/torus.py): against Kaufman's closed
form, the uniform torus L = 16, 64, 128 to <= 1e-15 relative at every beta in 0.01 .. 30 (the previous
construction, four full factorisations with the seam pairs eliminated last, lost beta <= 0.3 at L = 64:
its partial Pfaffians cancelled by 1e12-1e16); against elimination (L = 7, 10), +-J and Gaussian, beta
0.05 .. 3, within 1e-10 (tests/test_torus.py).  Runs on 5 translated copies of +-J glasses (L = 32, 64,
5 instances), each confirmed on its own, agree to <= 1.2e-11 relative at beta 2 .. 4.5.  The Schur
bound is 1.2 to 1e4 times the difference between seam positions (32 x 32, 8 positions, beta 1 .. 4,
before :data:`SAFETY`).  One Schur step: 0.007 s at L = 16, 0.16-0.26 s at L = 64, 1.05 s at L = 128
(reading T from the factors: 6 times cheaper than lu.solve on the 4L columns of A_IS, 6 s at L = 128).
Chosen over the planar pair-order factorisation of the four K_k (its high-temperature cancellation,
above) and over a numba Parlett-Reid sparse elimination of our own (SuperLU's supernodal BLAS for the
O(M^1.5) fronts; the dense part is O(L^3), 4 x 0.06 s at L = 128).

Limits: in double precision every beta on uniform tori; on glasses ln Z to beta ~ 3-4 and u, s, c (+-J) to
beta ~ 1.8-2.6 at L = 32-64.  Where double precision cannot confirm a beta (ln Z, u, s, c or F_dw), that beta
and the larger ones are redone in double-double (:func:`seam_pfaffians_dd`: the interior eliminated pair by
pair, each C_k by a double-double Parlett-Reid, the four class sums in double-double; two seam positions
must agree; the first two side by side on two threads where the process has two,
:func:`~isingvar.exact.planar.side_by_side`), where the jets are carried (L <= 130).  Measured: periodic 64 x 64 +-J, 4 samples, 32 betas
0.2 .. 5: ln Z, u, s, c at every beta (docs/methods.md, "Low temperature").  A class below ~1e-30 of the
lightest (the odd antiferromagnet at beta L >~ 18) stays out of reach: NaN.

Exactly: ln Z and f of the periodic model (``PP``); u, s and c (step 5); the domain-wall free energy
F_dw = F_AP - F_PP = -(ln Z_AP - ln Z_PP) / beta (total, not per spin; AP = antiperiodic along the
first axis; NaN at beta = 0 and where its bound passes :data:`DW_ATOL`: the error of ln K_II cancels in
it); m = 0 by the h = 0 symmetry; E0 where certain (:func:`_periodic_ground_energy`: the reference's energy
where it is a state of the periodic model; for +-J also where a confirmed <E> lies within 2|J| of the
lightest class's) and a ground state where the reference is one, else NaN.  <m^2>, <|m|> and chi: NaN (as
on the planar path).

Over 600 lines, a third of them docstrings: the map, the Schur step, its error bounds and the seam
positions that confirm it share the structure's layout (the seam strip, the bordered matrix's order),
and the derivatives ride the same step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from math import isqrt

import numpy as np

from .. import patterns
from ..interrupt import deferred_interrupt
from ..model import IsingModel
from ..thermo import check_betas
from .pfaffian import pfaffian_pivots

# The planar path's limits and checks, shared: MAX_BETA_J (weights overflow), GROWTH_LIMIT (the interior's
# pivot growth), CROSS_CHECK_GROWTH (beyond it a beta needs a second seam position) and
# DERIVATIVE_CHECK_GROWTH (likewise u, s, c).
from .planar import (
    CROSS_CHECK_GROWTH,
    DERIVATIVE_CHECK_GROWTH,
    EXTENDED_GROWTH_LIMIT,
    GROWTH_LIMIT,
    MAX_BETA_J,
    heap_kept,
    side_by_side,
)
from .result import PRECISION_LOST, PRECISION_NOT_CONFIRMED, ExactResult

#: Name of the path in messages, ``--dry-run`` and the file's ``exact_path``.
PATH_NAME = "torus"
#: ExactResult fields this path leaves NaN: m2, absm, chi (no derivative of the Pfaffians at h = 0), e0 (not
#: certain on the torus).
NOT_GIVEN = ("m2", "absm", "chi", "e0")
#: Given where confirmed, NaN elsewhere at a beta whose ln Z and f it gives: u, s, c where M >
#: :data:`JET_MAX_SIZE` or where they are not confirmed (module docstring, step 5).
UNCONFIRMED = ("u", "s", "c")

#: The boundary conditions, in class order h = x1 + 2 x2 (x1: antiperiodic along the first axis).
BOUNDARIES = ("PP", "AP", "PA", "AA")
#: Absolute error of ln |Pf K_II| per unit growth and per pair eliminated (the planar path's measured
#: ~1e-15 x growth relative to ln Z, as a bound per pair).
PF_EPS = 1e-16
#: Factor on the first-order bound of the Schur step's error (measured: 3 to 1000 times the error seen
#: between two seam positions, module docstring).
SAFETY = 10.0
#: ln Z is NaN where the bound on its absolute error passes RTOL |ln Z| (the planar path's accuracy).
RTOL = 1e-10
#: F_dw is NaN where the bound on the error of ln(Z_PP / Z_AP) passes this.
DW_ATOL = 1e-9
#: Relative rounding of a derivative of ln W per unit of the scale of its terms (the sum of their absolute
#: values, :func:`class_derivatives`): measured ~2e-16 where the periodic class is far below the lightest.
DERIVATIVE_EPS = 1e-15
#: A pivot p(eps) of a dense Pfaffian whose |p1| passes this times |p0| (or |p2| its square times |p0|) is kept
#: as a jet rather than a logarithm (:func:`class_derivatives`): a near zero of Pf C_k, not a legitimate
#: derivative of ln p (those stay below ~ 4 max|J| per pivot and order).
RAW_RATIO = 1e2
#: Largest matrix order M = 6N whose Schur steps carry the jets for u, s and c (beyond: ln Z only, u, s, c
#: NaN): tori to L = 130, as the planar path's open lattices.  On the supernodal paired kernels the periodic
#: 128 x 128 Gaussian sweep of 16 betas to 3 took 42 CPU s and 0.84 GB with the jets (24 s without), +-J at beta
#: 1, 2, 3 (double-double at 3) 23 s and 1.1 GB (2026-12-07); with SuperLU's jet embedding a step took 14 s and
#: 1.4 GB and the limit was L = 100.
JET_MAX_SIZE = 6 * 130**2
#: Seconds of a jet Schur step (:func:`seam_pfaffians_paired`) over a real one (:func:`seam_pfaffians`, SuperLU):
#: measured 1.4-2.2 at L = 32 and 2.0-2.6 at L = 64 (+-J, CPU seconds, load ~5; SuperLU's jet step was 6-14).
JET_COST = 2.5
#: Two seam positions confirm a beta where this multiple of their difference in ln Z_PP, plus their dense
#: Pfaffians' bounds, is within RTOL |ln Z| (runs on 5 translated copies, each confirmed on its own, then
#: spread by <= 1.2e-11 relative, +-J 32 x 32 and 64 x 64, 5 instances, beta 2 .. 4.5; with a margin of
#: 1 up to 1.5e-10).
AGREEMENT_MARGIN = 4.0
#: Seam positions tried per beta before a beta is given up.
MAX_SEAMS = 4
#: The S block's diagonal in the bordered matrix (any nonzero: the Schur complement is read off L and U
#: on the interior's columns; this only keeps SuperLU's pivots on S large and diagonal).
SEAM_DIAGONAL = 2.0**200
#: Setup (ground state, orders, sign table) in Schur steps, for the cost models.
SETUP_FACTORISATIONS = 3
#: A Schur step's seconds grow like M^TIME_EXPONENT (M = 6N darts).
TIME_EXPONENT = 1.2
_rate: list[tuple[float, int]] = []


# ---------------------------------------------------------------------------- the torus map
def _torus_side(model: IsingModel) -> int | None:
    """L >= 3 when every bond of ``model`` is a nearest-neighbour bond of the periodic L x L lattice."""
    n = model.n
    L = isqrt(n)
    if L * L != n or L < 3:
        return None
    i, j = model.edge_i, model.edge_j  # i < j
    d = j - i
    col = i % L
    horizontal = ((d == 1) & (col != L - 1)) | ((d == L - 1) & (col == 0))
    vertical = (d == L) | (d == n - L)
    return L if bool(np.all(horizontal | vertical)) else None


def _torus_map(L: int):
    """The L x L torus (row-major sites) as a map: (eu, ev, face_next), as planar's ``_square_map``.

    Bond k < N joins site k to its right neighbour, bond N + k site k to the one below (wrapped);
    dart 2k leaves eu[k], 2k + 1 leaves ev[k]; face_next[d] is the dart next clockwise after d ^ 1
    around d's head (directions 0 right, 1 down, 2 left, 3 up: clockwise with rows drawn downwards).
    """
    n = L * L
    site = np.arange(n).reshape(L, L)
    eu = np.concatenate([site.ravel(), site.ravel()])
    ev = np.concatenate([np.roll(site, -1, axis=1).ravel(), np.roll(site, -1, axis=0).ravel()])
    kh, kv = np.arange(n), n + np.arange(n)
    dart = np.empty((n, 4), dtype=np.int64)
    dart[eu[kh], 0], dart[ev[kh], 2], dart[eu[kv], 1], dart[ev[kv], 3] = 2 * kh, 2 * kh + 1, 2 * kv, 2 * kv + 1
    tail = np.empty(4 * n, dtype=np.int64)
    tail[0::2], tail[1::2] = eu, ev
    dirn = np.empty(4 * n, dtype=np.int64)
    dirn[2 * kh], dirn[2 * kh + 1], dirn[2 * kv], dirn[2 * kv + 1] = 0, 2, 1, 3
    cw = dart[tail, (dirn + 1) % 4]
    return eu, ev, cw[np.arange(4 * n) ^ 1]




def _index(model: IsingModel, L: int) -> np.ndarray:
    """int64 (2N,): the model's bond number of each torus bond, -1 where the model has none (J = 0)."""
    eu, ev, _ = _torus_map(L)
    n = model.n
    keys = np.minimum(eu, ev) * n + np.maximum(eu, ev)
    order = np.argsort(keys)
    pos = order[np.searchsorted(keys[order], model.edge_i * n + model.edge_j)]
    index = np.full(eu.size, -1, dtype=np.int64)
    index[pos] = np.arange(model.n_edges)
    return index



# ---------------------------------------------------------------------------- structure
class _Structure:
    """What every beta and every disorder sample of one torus size share: the triangulated map, the four
    Kasteleyn orientations, the sign table S, the interior I and seam strip S of the decorated graph, and
    the pattern of the matrix factorised per beta (module docstring, steps 2-3)."""

    def __init__(self, L: int):
        from ..kernels.planar import face_labels, fan_triangulation, kasteleyn_orientation

        n = L * L
        self.L, self.n = L, n
        eu, ev, face_next = _torus_map(L)
        self.eu, self.ev = eu, ev
        tail = np.empty(2 * eu.size, dtype=np.int64)
        tail[0::2], tail[1::2] = eu, ev
        self.tail = tail
        self.face = face_labels(face_next)  # the plaquettes, for the ground state
        tri, chord_tail = fan_triangulation(face_next, tail)
        tail_t = np.concatenate([tail, chord_tail])
        orient = kasteleyn_orientation(n, tail_t, 0)
        M = tail_t.size
        self.size = M
        self.tri = tri
        p = tri.ravel()
        q = np.roll(tri, -1, axis=1).ravel()
        self.bond_p, self.bond_q = p >> 1, q >> 1
        # seams (class representatives, lattice bonds) and the loops whose dual edges are reversed
        r = np.arange(L)
        self.seam = {1: n + (L - 1) * L + r,  # first axis: (L-1, c)-(0, c)
                     2: r * L + L - 1}  # second axis: (r, L-1)-(r, 0)
        self.loop = {1: r,  # row 0's horizontal bonds
                     2: n + r * L}  # column 0's vertical bonds
        # orientation k = a + 2b: the base one with row 0's dual edges reversed if a, column 0's if b
        self.orients = []
        for k in range(4):
            o = orient.copy()
            for bit, loop in ((1, self.loop[1]), (2, self.loop[2])):
                if k & bit:
                    o[loop] ^= 1
            self.orients.append(o)
        self.S = self._sign_table()
        self._blocks(p, q, orient)
        self._jet_lu = {}  # the bordered matrix's JetLU per order of the jets, built on first use

    def _class_set(self, h: int) -> np.ndarray:
        """bool (M/2,): an even subgraph of the triangulation's dual in class h (seam bonds, chords fixed)."""
        D = np.zeros(self.size // 2, dtype=bool)
        for bit in (1, 2):
            if h & bit:
                D[self.seam[bit]] ^= True
        odd = D[self.tri >> 1].sum(axis=1) % 2 == 1  # triangles with one seam bond: add their chord
        chords = self.tri[odd] >> 1
        fix = chords[chords >= 2 * self.n]  # the chord of each such triangle (never a lattice bond)
        D[np.unique(fix)] = True
        if np.any(D[self.tri >> 1].sum(axis=1) % 2):  # pragma: no cover - a fan chord closes each triangle
            raise ArithmeticError(f"class {h}'s seam set is not an even subgraph")
        return D

    def _sign_table(self) -> np.ndarray:
        """int (4, 4): S[k, h] the sign, under orientation k, of the Pfaffian term of a matching of class h."""
        from ..kernels.torus import permutation_parity

        S = np.empty((4, 4), dtype=np.int64)
        for h in range(4):
            D = self._class_set(h)
            free = np.flatnonzero(~D)  # bond edges (2k, 2k+1) of the bonds not cut
            inD = D[self.tri >> 1]
            first, second = [], []
            for a, b in ((0, 1), (1, 2), (2, 0)):  # the pair along the triangle's cyclic order: K > 0
                both = inD[:, a] & inD[:, b]
                first.append(self.tri[both, a])
                second.append(self.tri[both, b])
            first = np.concatenate([2 * free] + first)
            second = np.concatenate([2 * free + 1] + second)
            perm = np.empty(self.size, dtype=np.int64)
            perm[0::2], perm[1::2] = first, second
            if np.unique(perm).size != self.size:  # pragma: no cover
                raise ArithmeticError(f"class {h}'s matching is not perfect")
            parity = permutation_parity(perm)
            for k, o in enumerate(self.orients):
                negative = np.count_nonzero(o[free] == 1)  # K[2k, 2k+1] = -1 where orient = 1
                S[k, h] = -1 if (parity + negative) % 2 else 1
        if not np.array_equal(S.T @ S, 4 * np.eye(4, dtype=np.int64)):  # pragma: no cover - Kasteleyn's theorem
            raise ArithmeticError("the torus sign table is not a Hadamard matrix")
        return S

    def _blocks(self, p, q, orient):
        """The interior I and seam strip S (the darts of the loop bonds) and the pattern of the bordered
        matrix [[A_II, A_IS], [K_SI, alpha 1]] (module docstring, step 3), in I's fill-reducing order, S last."""
        import scipy.sparse as sp
        from scipy.sparse.linalg import splu

        M, T = self.size, p.size
        loops = np.concatenate([self.loop[1], self.loop[2]])
        in_s = np.zeros(M, dtype=bool)
        in_s[2 * loops], in_s[2 * loops + 1] = True, True
        self.seam_nodes = np.flatnonzero(in_s)
        inner = np.flatnonzero(~in_s)
        n_i, n_s = inner.size, self.seam_nodes.size
        self.n_i, self.n_s = n_i, n_s
        # K's entries: triangle edges K[p, q] = w_t, K[q, p] = -w_t; dual edges K[2j+1, 2j] = d_j = -K[2j, 2j+1]
        j = np.arange(M // 2)
        rows = np.concatenate([p, q, 2 * j + 1, 2 * j])
        cols = np.concatenate([q, p, 2 * j, 2 * j + 1])
        src = np.concatenate([np.arange(T), np.arange(T), np.full(M, -1)])  # which triangle weight, -1: none
        coef = np.concatenate([np.ones(T), -np.ones(T), np.ones(M // 2), -np.ones(M // 2)])
        dual = np.concatenate([np.zeros(2 * T, dtype=bool), np.ones(M, dtype=bool)])
        d = np.where(orient == 1, 1.0, -1.0)
        coef[dual] *= np.concatenate([d, d])
        # A's row a is sgn[a] K's row a ^ 1 (unit diagonal): sgn[2j] = d_j, sgn[2j + 1] = -d_j
        sgn = np.empty(M)
        sgn[0::2], sgn[1::2] = d, -d
        ii = ~in_s[rows] & True
        si = in_s[rows] & ~in_s[cols]
        ss = in_s[rows] & in_s[cols]
        # the interior's order: SuperLU's MMD on A_II + A_II^T (pattern only, diagonally dominant values)
        where = np.full(M, -1)
        where[inner] = np.arange(n_i)
        m = ii & ~in_s[cols]
        Q = sp.csc_matrix((np.ones(int(m.sum())), (where[rows[m] ^ 1], where[cols[m]])), shape=(n_i, n_i))
        Q = (abs(Q) + abs(Q.T) + sp.identity(n_i) * 100.0).tocsc()
        lu = splu(Q, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        pos = np.empty(M, dtype=np.int64)
        pos[inner[np.argsort(lu.perm_c)]] = np.arange(n_i)
        pos[self.seam_nodes] = n_i + np.arange(n_s)
        self.pos, self.dual = pos, d
        self._dd = None  # the double-double interior (built on first use)
        # bordered matrix: I rows of A, S rows of K restricted to I columns, alpha on S's diagonal
        br = np.concatenate([pos[rows[ii] ^ 1], pos[rows[si]], n_i + np.arange(n_s)])
        bc = np.concatenate([pos[cols[ii]], pos[cols[si]], n_i + np.arange(n_s)])
        self.b_src = np.concatenate([src[ii], src[si], np.full(n_s, -1)])
        self.b_coef = np.concatenate([coef[ii] * sgn[rows[ii] ^ 1], coef[si], np.full(n_s, SEAM_DIAGONAL)])
        key = bc * M + br
        uniq, self.slot = np.unique(key, return_inverse=True)
        self.indices = (uniq % M).astype(np.int32)
        self.indptr = np.zeros(M + 1, dtype=np.int32)
        np.cumsum(np.bincount(uniq // M, minlength=M), out=self.indptr[1:])
        self.nnz = uniq.size
        # K_SS under each orientation: triangle entries (weights) and dual entries (their signs)
        self.ss_r, self.ss_c = pos[rows[ss]] - n_i, pos[cols[ss]] - n_i
        self.ss_src = src[ss]
        self.ss_coef = []
        for o in self.orients:
            c = np.concatenate([np.ones(T), -np.ones(T), np.where(o == 1, 1.0, -1.0), -np.where(o == 1, 1.0, -1.0)])
            self.ss_coef.append(c[ss])

    def weights(self, beta: float, jg: np.ndarray, order: int = 0) -> np.ndarray:
        """float64 (order + 1, T): each triangle edge's weight w = exp(-beta W), W = J'_a + J'_b, for gauge
        couplings ``jg``, and its jet coefficients to eps^order: dw/dbeta = -W w, d^2w/dbeta^2 / 2 = W^2 w / 2."""
        jt = np.zeros(self.size // 2)
        jt[: jg.size] = jg
        W = jt[self.bond_p] + jt[self.bond_q]
        w = np.exp(-beta * W)
        return np.stack([w, -W * w, 0.5 * W * W * w][: order + 1])

    def _values(self, w, src, coef, j: int = 0):
        """Coefficient j of the jets of entries ``coef`` x (triangle weight ``src``, or 1 where src < 0: a
        constant, whose eps terms are 0)."""
        return coef * np.where(src >= 0, w[j][np.maximum(src, 0)], 1.0 if j == 0 else 0.0)

    def jet_lu(self, order: int):
        """The :class:`~isingvar.exact.pfaffian.JetLU` of the bordered matrix (its pattern, in its order) carrying
        jets to eps^order (0: the real factorisation), built once per order."""
        from .pfaffian import JetLU

        if order not in self._jet_lu:
            col = np.repeat(np.arange(self.size), np.diff(self.indptr))
            varying = np.bincount(self.slot, weights=(self.b_src >= 0).astype(np.float64), minlength=self.nnz) > 0
            self._jet_lu[order] = JetLU(self.size, self.indices, col, varying, order)
        return self._jet_lu[order]

    def schur(self, beta: float, jg: np.ndarray, order: int = 0):
        """(ln |Pf K_II|'s jet, its scale, the pivot growth, T's jet, the weights' jet) at ``beta``.

        One factorisation of the bordered matrix (S last) carrying the jets of its entries to eps^order
        (:class:`~isingvar.exact.pfaffian.JetLU`; order 0: the real one).  Returns float64 (3,) ln |Pf K_II|
        (up to the sign common to the four orientations), d/dbeta and half d^2/dbeta^2 (NaN beyond
        ``order``); float64 (3,) the sums of the absolute values of the pivots' terms (the scale of their
        rounding); the growth max(|p|, 1/|p|) of the interior's pivots; float64 (3, n_S, n_S) the jet of
        T = K_SI K_II^-1 K_IS, read from the factors (the S rows of L times the S columns of U on the
        interior's positions, :meth:`~isingvar.exact.pfaffian.JetLU.schur_product`); the weights' jet
        (:meth:`weights`).  Raises ArithmeticError where SuperLU left the interior's diagonal or order."""
        w = self.weights(beta, jg, order)
        jets = self.jet_lu(order)
        x = [np.bincount(self.slot, weights=self._values(w, self.b_src, self.b_coef, j), minlength=self.nnz)
             if j <= order else np.zeros(self.nnz) for j in range(3)]
        lu = jets.factor(*x, natural=self.n_i)
        if lu is None:
            raise ArithmeticError("the interior's elimination left its diagonal or its order")
        logs = jets.pivot_logs(lu, self.n_i)
        growth = float(np.exp(np.abs(logs[:, 0]).max()))
        T = jets.schur_product(lu, self.n_i)
        return 0.5 * logs.sum(axis=0), 0.5 * np.abs(logs).sum(axis=0), growth, T, w

    def dd_interior(self):
        """The :class:`~isingvar.exact.pfaffian.PairedPfaffian` of K without its seam-seam entries, the pairs in the
        bordered matrix's order (I in its fill-reducing order, the seam strip last, in seam-node order), built
        once; its entries: the triangle edges not inside the strip (weights ``self.dd_src``), then the
        interior's dual edges (K[2j+1, 2j] = ``self.dd_dual``)."""
        from .pfaffian import PairedPfaffian

        if self._dd is None:
            p, q = self.tri.ravel(), np.roll(self.tri, -1, axis=1).ravel()
            seam = np.zeros(self.size, dtype=bool)
            seam[self.seam_nodes] = True
            keep = ~(seam[p] & seam[q])
            inner = np.flatnonzero(~seam[0::2])  # pairs (bonds) off the strip
            # the bordered matrix's order (a pair goes with its first dart; the strip's pairs last in seam-node order,
            # so that the Schur complement's rows are the seam block's).  Not pfaffian.pair_order: 17 % fewer updates
            # at L = 64, but on the 64 x 64 +-J sweep (seed 0, sample 3) its two seam positions then disagreed on
            # ln Z_AP at beta 4.69-5 and F_dw was NaN there
            order = np.argsort(np.minimum(self.pos[0::2], self.pos[1::2]), kind="stable")
            self.dd_src = np.flatnonzero(keep)
            self.dd_dual = self.dual[inner]
            self._dd = PairedPfaffian(self.size, np.concatenate([p[keep], 2 * inner + 1]),
                                      np.concatenate([q[keep], 2 * inner]), order)
        return self._dd

    def paired_schur(self, w: np.ndarray, double: bool = False):
        """The interior's pair-by-pair elimination (:meth:`dd_interior`) for the weights' jet ``w``
        (:meth:`weights`): its entries' jets (the triangle edges', then the dual edges', constant), and
        :meth:`~isingvar.exact.pfaffian.PairedPfaffian.schur` up to the seam strip, in double-double or, with
        ``double``, in double; returns its (pivots, Schur complement)."""
        pf = self.dd_interior()
        values = np.zeros((self.dd_src.size + self.dd_dual.size, w.shape[0]))
        values[: self.dd_src.size] = w[:, self.dd_src].T
        values[self.dd_src.size:, 0] = self.dd_dual
        return pf.schur(values, pf.n - self.n_s // 2, double=double)

    def seam_block(self, w: np.ndarray, k: int, j: int = 0) -> np.ndarray:
        """float64 (n_S, n_S): coefficient j of the jet of K_SS under orientation k for the weights' jet ``w``
        (:meth:`weights`)."""
        out = np.zeros((self.n_s, self.n_s))
        np.add.at(out, (self.ss_r, self.ss_c), self._values(w, self.ss_src, self.ss_coef[k], j))
        return out

    def shifted(self, a: int, b: int) -> np.ndarray:
        """int64 (2N,): the torus bond that each bond becomes when row a and column b are moved to 0 (the
        gauge couplings of the shifted model are ``jg[shifted(a, b)]``)."""
        L, n = self.L, self.n
        r, c = np.divmod(np.arange(n), L)
        site = ((r + a) % L) * L + (c + b) % L
        return np.concatenate([site, n + site])


def _structure(L: int) -> _Structure:
    # the L x L torus's structure depends on L alone: one entry of the shared pattern cache per L
    return patterns.CACHE.get_key(("torus", L), "torus", lambda: _Structure(L))


def reference(model: IsingModel, s: _Structure, index: np.ndarray):
    """(h*, s0, jg): the reference state over all four boundary conditions (module docstring, step 4).

    A minimum-weight perfect matching (PyMatching) on the torus's frustrated plaquettes gives a lightest
    set of unsatisfied bonds of any homology class.

    Parameters
    ----------
    model : IsingModel
        Zero field, the bonds of the L x L periodic square lattice.
    s : _Structure
        The structure of that torus size (:func:`_structure`).
    index : numpy.ndarray
        int64 (2N,): the model's bond number of each torus bond, -1 where the model has none (:func:`_index`).

    Returns
    -------
    h : int
        The class h* (h = x1 + 2 x2, :data:`BOUNDARIES`) of a lightest set of unsatisfied bonds over all
        four boundary conditions.
    s0 : numpy.ndarray
        float64 (N,) of +-1: a ground state of the model with the seam(s) of h* negated.
    jg : numpy.ndarray
        float64 (2N,): that model's couplings in s0's gauge, per torus bond (negative exactly on the
        unsatisfied set).

    Raises
    ------
    ArithmeticError
        If the bonds' signs do not form a cut (never expected: the seams' twist removes class h*).
    """
    import pymatching
    import scipy.sparse as sp

    from ..kernels.planar import spins_from_bonds

    J = np.zeros(index.size)
    J[index >= 0] = model.couplings[index[index >= 0]]
    negative = J < 0
    flips = np.zeros(J.size, dtype=bool)
    fa, fb = s.face[0::2], s.face[1::2]
    nf = int(s.face.max()) + 1
    syndrome = (np.bincount(fa, weights=negative, minlength=nf)
                + np.bincount(fb, weights=negative, minlength=nf)).astype(np.int64) % 2
    if syndrome.any():
        cols = np.tile(np.arange(J.size), 2)
        H = sp.csc_matrix((np.ones(2 * J.size, dtype=np.uint8), (np.concatenate([fa, fb]), cols)), shape=(nf, J.size))
        matching = pymatching.Matching.from_check_matrix(H, weights=np.abs(J))
        flips = matching.decode(syndrome.astype(np.uint8)).astype(bool)
    unsat = negative != flips  # an even dual set: of some class h*
    h = int(np.count_nonzero(unsat[s.loop[2]]) % 2) + 2 * int(np.count_nonzero(unsat[s.loop[1]]) % 2)
    twist = np.ones(J.size)
    for bit in (1, 2):
        if h & bit:
            twist[s.seam[bit]] = -1.0
    sign = np.where(unsat, -1.0, 1.0) * twist  # s0_i s0_j on every bond: a cut
    s0 = spins_from_bonds(s.n, s.tail, sign, 0)
    if not np.all(s0[s.eu] * s0[s.ev] == sign):  # pragma: no cover - class h* is removed by the twist
        raise ArithmeticError("the reference bonds do not form a cut")
    return h, s0, J * twist * sign


def pfaffian_log(C: np.ndarray, method: str = "H") -> tuple[float, float]:
    """(sign, ln |Pf C|) of a dense real skew-symmetric matrix by PFAPACK (Wimmer, ACM Trans. Math. Softw.
    38, 30 (2012)) in its overflow-safe form (mantissa and decimal exponent).

    Parameters
    ----------
    C : numpy.ndarray
        float64 (n, n), n even, skew-symmetric (its lower triangle is read); not modified.
    method : {"H", "P"}, default "H"
        "H" Householder tridiagonalisation, "P" Parlett-Reid with pivoting.

    Returns
    -------
    sign : float
        +1 or -1, the sign of Pf C; 0 where Pf C = 0.
    log_abs : float
        ln |Pf C|; -inf where Pf C = 0.

    Raises
    ------
    ArithmeticError
        Where PFAPACK reports a failure.
    """
    import ctypes

    from pfapack import ctypes as pfapack_c

    a = np.array(C, dtype=np.float64, order="F")
    out = (ctypes.c_double * 2)(0.0, 0.0)
    if pfapack_c.skpf10_d(a.shape[0], a, out, b"L", method.encode()) != 0:  # pragma: no cover - only on bad arguments
        raise ArithmeticError("PFAPACK's Pfaffian failed")
    mantissa, exponent = out[0], out[1]  # Pf = mantissa 10^exponent
    if mantissa == 0.0:
        return 0.0, float("-inf")
    return float(np.sign(mantissa)), float(np.log(abs(mantissa)) + exponent * np.log(10.0))


def seam_pfaffians(s: _Structure, beta: float, jg: np.ndarray, order: int = 0):
    """The four signed Pfaffians at ``beta`` for gauge couplings ``jg``, the bounds on their errors and, with
    ``order`` 2, their first two beta-derivatives.

    One Schur step (module docstring, steps 3-5): Pf K_k = Pf K_II Pf C_k, each C_k's rows and columns
    scaled by powers of 2 (D C_k D) before its dense Pfaffian (:func:`pfaffian_log`).

    Parameters
    ----------
    s : _Structure
        The structure of the torus size (:func:`_structure`).
    beta : float
        Inverse temperature.
    jg : numpy.ndarray
        float64 (2N,): the gauge couplings of the torus bonds (the reference's, :func:`reference`, moved by
        :meth:`_Structure.shifted` to the seam position).
    order : {0, 2}, default 0
        The order of the jets carried: 0 the values alone, 2 also the first two beta-derivatives.

    Returns
    -------
    signs : numpy.ndarray
        float64 (4,): the sign of Pf K_k (up to one sign common to the four).
    logs : numpy.ndarray
        float64 (4,): ln |Pf K_k|.
    rel : numpy.ndarray
        float64 (2, 4): bounds on each Pf_k's relative error from the Schur complement (row 0: T's
        measured rounding and the dense Pfaffian's; row 1: the dense Pfaffian's alone); inf where C_k is
        singular.
    growth : float
        The interior's pivot growth max(|p|, 1/|p|).
    common : float
        The bound on the absolute error of ln |Pf K_II| (common to the four; module docstring, step 4).
    jets : tuple or None
        None for ``order`` 0 (or where a C_k is singular), else (interior, seam): ``interior`` float64
        (2, 3) ln |Pf K_II|, d/dbeta and half d^2/dbeta^2 (row 0) and the sums of its pivots' absolute
        terms (row 1, the scale of their rounding); ``seam`` per k (sign, pivots, offset) with
        Pf K_k(beta + eps) = exp(the interior's jet - ln |Pf K_II|) sign exp(offset) prod_j pivots[j](eps)
        (:func:`~isingvar.exact.pfaffian.pfaffian_pivots` of D C_k D, pivots float64 (n_S / 2, 3); module
        docstring, step 5).

    Raises
    ------
    ArithmeticError
        Where SuperLU left the interior's diagonal or order (:meth:`_Structure.schur`).
    """
    log_ii, scale_ii, growth, T, w = s.schur(beta, jg, order)
    # rounding of T, measured: T = K_SI K_II^-1 K_IS is skew in exact arithmetic, and its entries (i, j)
    # and (j, i) come from different rows of L and columns of U
    defect = 0.5 * np.abs(T[0] + T[0].T)
    return _seam_step(s, w, T, defect, log_ii, scale_ii, growth, order)


def seam_pfaffians_paired(s: _Structure, beta: float, jg: np.ndarray, order: int = 2):
    """:func:`seam_pfaffians` with the interior eliminated pair by pair in double arithmetic (the double-double
    path's structure, order and layout, :meth:`~isingvar.exact.pfaffian.PairedPfaffian.schur` with ``double``)
    instead of SuperLU on the (order + 1) M-square embedding of the jets: 4-6 times faster with the jets at L = 32-64.

    The Schur complement's lower triangle alone is formed, so T carries no measured skew defect; its rounding is
    estimated from the interior's pivot growth instead, :data:`PAIRED_EPS` x growth x |T| entrywise, carried to
    first order as in :func:`seam_pfaffians`.  That is an estimate, not a bound (the elimination's entries may
    grow beyond its pivots), so :func:`_sweep` accepts a paired beta only where two seam positions agree, on
    ln Z as it does for double-double betas, on u and s to :data:`PAIRED_RTOL` and on c to :data:`PAIRED_C_RTOL`.

    Parameters
    ----------
    s : _Structure
        The structure of the torus size.
    beta : float
        Inverse temperature.
    jg : numpy.ndarray
        float64 (2N,): the gauge couplings of the torus bonds at the seam position.
    order : {0, 2}, default 2
        The order of the jets carried.

    Returns
    -------
    tuple
        As :func:`seam_pfaffians` (``common``: :data:`PF_EPS` x growth x pairs, as there).

    Raises
    ------
    ArithmeticError
        Where the interior's elimination met a zero pivot.
    """
    w = s.weights(beta, jg, order)
    nt = order + 1
    piv, X = s.paired_schur(w, double=True)
    if not np.all(np.isfinite(piv[:, 0])):
        raise ArithmeticError("the interior's paired elimination met a zero pivot")
    from ..kernels.ddpfaffian import log_jets

    sums, scale, _, growth = log_jets(np.stack([piv, np.zeros_like(piv)], axis=-1))
    log_ii, scale_ii = np.full(3, np.nan), np.full(3, np.nan)
    log_ii[:nt], scale_ii[:nt] = sums, scale
    T = np.full((3,) + X.shape[:2], np.nan)
    T[:nt] = -np.moveaxis(X, 2, 0)  # C = K_SS + K_SI P^-1 K_IS = K_SS - T
    return _seam_step(s, w, T, PAIRED_EPS * growth * np.abs(T[0]), log_ii, scale_ii, float(growth), order)


def _seam_step(s: _Structure, w, T, defect, log_ii, scale_ii, growth: float, order: int):
    """The dense half of a Schur step shared by :func:`seam_pfaffians` and :func:`seam_pfaffians_paired`: the four
    C_k = K_SS^(k) - T (float64 (3, n_S, n_S) jets, ``defect`` the entrywise estimate of T's rounding), their scaled
    signed Pfaffians and error bounds, and with ``order`` 2 their jet pivots; returns :func:`seam_pfaffians`'s
    tuple."""
    n_s = s.n_s
    signs, logs, rel, rel_dense = np.empty(4), np.empty(4), np.empty(4), np.empty(4)
    seam = []
    for k in range(4):
        C = s.seam_block(w, k) - T[0]
        C = 0.5 * (C - C.T)
        # scale rows and columns by powers of 2 (exact) so the dense Pfaffian's rounding is relative to
        # each entry's row and column: Pf(D C D) = det(D) Pf(C)
        r = np.sqrt(np.abs(C).max(axis=1))
        e = -np.round(np.log2(np.where(r > 0, r, 1.0)))
        D = np.exp2(e)
        Cs = C * D[:, None] * D[None, :]
        signs[k], lg = pfaffian_log(Cs)
        logs[k] = log_ii[0] + lg - float(e.sum()) * np.log(2.0)
        # the dense Pfaffian's own rounding, measured: Parlett-Reid with pivoting, a second backward-stable
        # elimination of the same matrix (and n eps, where the two happen to agree)
        sign_p, lg_p = pfaffian_log(Cs, method="P")
        with np.errstate(over="ignore"):
            dense = abs(1.0 - sign_p * signs[k] * np.exp(lg_p - lg)) + n_s * np.finfo(float).eps
        # T's rounding to first order: d ln Pf C = 1/2 tr(C^-1 dC), |dC| <= the defect, entrywise
        rel_dense[k] = SAFETY * dense
        try:
            inv = np.linalg.inv(Cs)
        except np.linalg.LinAlgError:
            rel[k] = np.inf
            continue
        measured = 0.5 * float(np.sum(np.abs(inv) * (defect * D[:, None] * D[None, :]).T))
        rel[k] = SAFETY * (measured + dense)
        if order >= 2:  # the jets of D C D: the same power-of-2 scaling (constant in beta)
            cj = [s.seam_block(w, k, j) - T[j] for j in (1, 2)]
            sign_k, pivots = pfaffian_pivots(np.stack([Cs] + [0.5 * (c - c.T) * D[:, None] * D[None, :] for c in cj]))
            seam.append((sign_k, pivots, log_ii[0] - float(e.sum()) * np.log(2.0)))
    common = PF_EPS * growth * (s.n_i // 2)
    jets = None if order < 2 or len(seam) < 4 else (np.stack([log_ii, scale_ii]), seam)
    return signs, logs, np.stack([rel, rel_dense]), growth, common, jets


#: Jet orders whose double Schur steps run on the paired kernel (:func:`seam_pfaffians_paired`, two seam positions
#: each) rather than SuperLU (one, where its measured bound passes): at L = 64 a jet step took 0.45-0.55 s against
#: 1.6-2.0 s; the real step (order 0) stays on SuperLU (0.15-0.25 s with one position against 2 x ~0.13 s paired).
PAIRED_ORDERS = (2,)
#: Two paired seam positions confirm u or s where they agree to this (relative): their rounding errors are
#: correlated (+-J 64 x 64, sample 2, beta 2.83: two positions agreed on Var E to 2.2e-11 where both were 3.6e-10
#: below the double-double value), so 100 times tighter than RTOL.
PAIRED_RTOL = 1e-12
#: Two paired seam positions confirm c (Var E) where they agree to this (relative), and c is then given to
#: :data:`PAIRED_C_TOL` (the issue's allowance for c): the true error of c (against double-double) followed
#: the two positions' difference within a factor 1.3 on +-J 64 x 64 (4 samples, beta 1.6 .. 3.6), and reached
#: 16 times it once (:data:`PAIRED_RTOL`), so the tolerance is 100 times this.
PAIRED_C_RTOL = 1e-10
#: Relative tolerance of c where paired double steps confirm it (:data:`PAIRED_C_RTOL`); c from double-double
#: steps, and u and s everywhere, are confirmed to :data:`RTOL`.
PAIRED_C_TOL = 1e-8
#: Relative rounding of T per unit of the interior's pivot growth on the paired double kernel (:func:`seam_pfaffians_paired`;
#: an estimate: unit roundoff times a few).
PAIRED_EPS = 1e-15
#: Unit roundoff of double-double arithmetic (about 106 bits; :mod:`isingvar.kernels.ddpfaffian`).
DD_EPS = 2.0**-104


def seam_pfaffians_dd(s: _Structure, beta: float, jg: np.ndarray, order: int = 0):
    """:func:`seam_pfaffians` in double-double: the same Schur step, its interior eliminated pair by pair
    (:meth:`~isingvar.exact.pfaffian.PairedPfaffian.schur`) and each C_k by the double-double Parlett-Reid
    (:func:`isingvar.kernels.ddpfaffian.dense_pivots`), for the betas where double precision cannot confirm.

    Parameters
    ----------
    s : _Structure
        The structure of the torus size.
    beta : float
        Inverse temperature.
    jg : numpy.ndarray
        float64 (2N,): the gauge couplings of the torus bonds at the seam position.
    order : {0, 2}, default 0
        The order of the jets carried.

    Returns
    -------
    tuple
        As :func:`seam_pfaffians`, with ``rel`` and ``common`` at double-double rounding (n_S or the pairs times
        :data:`DD_EPS` times the growth): an estimate, not a bound (the elimination's entries may grow beyond
        its pivots), so :func:`_sweep` accepts a double-double beta only where two seam positions agree; and a
        seventh item, the class sums' (ln W_h, err_h) twice (as :func:`class_logs` for ``rel``'s two rows),
        summed in double-double (:func:`_dd_class_logs`).
    """
    from ..kernels.ddpfaffian import dense_pivots, log_jets

    w = s.weights(beta, jg, order)
    nt = order + 1
    piv, X = s.paired_schur(w)
    sums, scale, _, growth = log_jets(piv)
    log_ii = np.full(3, np.nan)
    log_ii[:nt], scale_ii = sums, np.r_[scale, np.full(3 - nt, np.nan)]
    signs, logs, seam, dense_growth = np.empty(4), np.empty(4), [], 1.0
    mant, expo = np.zeros((4, 2)), np.zeros(4, dtype=np.int64)
    for k in range(4):
        C = X.copy()
        for j in range(nt):  # C_k = K_SS^(k) + the interior's part, added in double-double (two_sum)
            C[:, :, j, 0], C[:, :, j, 1] = _dd_add_arrays(C[:, :, j, 0], C[:, :, j, 1], s.seam_block(w, k, j))
        sign, p = dense_pivots(C)
        p0h, p0l = p[:, 0, 0], p[:, 0, 1]
        if np.any(p0h == 0):
            raise ArithmeticError("a seam block is singular")
        signs[k] = sign * np.prod(np.sign(p0h))
        logs[k] = log_ii[0] + float(np.sum(np.log(np.abs(p0h)) + p0l / p0h))
        mant[k], expo[k] = _dd_product(p0h, p0l)
        mant[k] *= sign
        dense_growth = max(dense_growth, float(np.max(np.maximum(np.abs(p0h), 1.0 / np.abs(p0h)))))
        if order >= 2:
            seam.append((sign, p[:, :, 0] + p[:, :, 1], log_ii[0]))
    rel = np.full((2, 4), SAFETY * s.n_s * DD_EPS * dense_growth)
    common = DD_EPS * growth * (s.n_i // 2)
    jets = None if order < 2 else (np.stack([log_ii, scale_ii]), seam)
    return signs, logs, rel, growth, common, jets, _dd_class_logs(mant, expo, log_ii[0], rel[0], s.S)


def _dd_add_arrays(hi, lo, x):
    """(hi, lo) + x elementwise in double-double (two_sum, then renormalised), float64 arrays."""
    s = hi + x
    bb = s - hi
    e = lo + ((hi - (s - bb)) + (x - bb))
    t = s + e
    return t, e - (t - s)


def _dd_product(hi, lo) -> tuple[np.ndarray, int]:
    """(double-double mantissa float64 (2,), binary exponent) of prod_j (hi_j + lo_j), renormalised each step."""
    from ..kernels.ddpfaffian import dd_mul

    mh, ml, e = 1.0, 0.0, 0
    for a, b in zip(hi, lo):
        mh, ml = dd_mul(mh, ml, float(a), float(b))
        f, x = np.frexp(mh)
        mh, ml, e = f, float(np.ldexp(ml, -x)), e + int(x)
    return np.array([mh, ml]), e


def _dd_class_logs(mant, expo, log_ii: float, rel, S):
    """(ln W_h, err_h) pairs as :func:`class_logs` gives them, from the four Pf C_k in double-double (mantissa
    float64 (4, 2), binary exponents (4,)): the class sums W_h = Pf K_II / 4 |sum_k S[k, h] Pf C_k| taken in
    double-double, so a class far below the lightest keeps its digits (in double its sum cancels them)."""
    top = int(expo.max())
    v = mant * np.exp2(expo - top)[:, None]  # exact: powers of 2
    w = np.zeros((4, 2))
    for h in range(4):
        for k in range(4):
            w[h] = _dd_add_arrays(w[h, 0], w[h, 1], S[k, h] * v[k, 0])
            w[h, 0], w[h, 1] = _dd_add_arrays(w[h, 0], w[h, 1], S[k, h] * v[k, 1])
    lead = np.sign(w[np.argmax(np.abs(w[:, 0])), 0])
    w *= 0.25 * lead
    bound = 0.25 * float(np.sum(np.abs(v[:, 0]) * rel)) + 4 * DD_EPS * float(np.abs(v[:, 0]).sum())
    base = log_ii + top * np.log(2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = w[:, 0] > 0
        ln_w = np.where(pos, base + np.log(np.where(pos, w[:, 0], 1.0)) + w[:, 1] / np.where(pos, w[:, 0], 1.0), np.nan)
        err = np.where(pos, bound / np.where(pos, w[:, 0], 1.0), np.inf)
    return (ln_w, err), (ln_w, err)


def class_logs(signs, logs, rel, S) -> tuple[np.ndarray, np.ndarray]:
    """(ln W_h, err_h) of the four class sums W_h = 1/4 |sum_k S[k, h] Pf_k| from signed Pfaffians.

    Parameters
    ----------
    signs : numpy.ndarray
        float64 (4,): the sign of Pf_k (up to a sign common to the four).
    logs : numpy.ndarray
        float64 (4,): ln |Pf_k|.
    rel : numpy.ndarray
        float64 (4,): the bound on Pf_k's relative error.
    S : numpy.ndarray
        int (4, 4): the sign table S[k, h] (module docstring, step 2).

    Returns
    -------
    ln_w : numpy.ndarray
        float64 (4,): ln W_h; NaN where W_h does not have the sign of the largest class.
    err : numpy.ndarray
        float64 (4,): bound on the relative error of W_h, 1/4 sum_k |Pf_k| rel_k / W_h (inf where W_h does
        not have the sign of the largest class).
    """
    top = float(np.max(logs))
    pf = np.asarray(signs) * np.exp(np.asarray(logs) - top)
    w = 0.25 * (S.T @ pf)
    w = w * np.sign(w[np.argmax(np.abs(w))])  # the common sign: every W_h > 0
    bound = 0.25 * float(np.sum(np.abs(pf) * rel))
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_w = np.where(w > 0, top + np.log(np.where(w > 0, w, 1.0)), np.nan)
        err = np.where(w > 0, bound / np.where(w > 0, w, 1.0), np.inf)
    return ln_w, err


def class_derivatives(interior, seam, S, h: int) -> np.ndarray:
    """d ln W_h / dbeta and d^2 ln W_h / dbeta^2 of one class sum W_h = 1/4 |sum_k S[k, h] Pf_k|, with their scales.

    Per k the pivots p_j(eps) of Pf C_k are split: those with |p_j1| or |p_j2| far above |p_j0|
    (C_k nearly singular, Pf_k near a zero crossing: their log-derivatives would divide by an inaccurate
    p_j0) are kept as jets, normalised by their largest coefficient, R_k(eps) = sign prod p_j(eps) / s_j; the
    others as logarithms, sum_j ln p_j(eps) = lambda_k + c_k eps + q_k eps^2.  With a common centre cbar =
    sum_k v_k c_k (v_k = S[k, h] Pf_k / (4 W_h), sum 1) and delta_k = c_k - cbar,
    W_h(eps) = exp(ln Pf K_II(eps) + cbar eps) V(eps), V = 1/4 sum_k S[k, h] e^lambda_k (1, delta_k, delta_k^2 / 2 + q_k) R_k,
    so (ln W_h)' = (ln Pf K_II)' + cbar + V1 / V0 and (ln W_h)'' = (ln Pf K_II)'' + 2 V2 / V0 - (V1 / V0)^2:
    without near-singular pivots V1 = 0 and (ln W_h)'' = (ln Pf K_II)'' + sum_k v_k (b_k + (a_k - abar)^2), a
    centred sum (no E^2 - E^2 cancellation).

    Parameters
    ----------
    interior : numpy.ndarray
        float64 (2, 3): the interior's jet of :func:`seam_pfaffians` (ln |Pf K_II|, d/dbeta and half
        d^2/dbeta^2; the sums of its pivots' absolute terms).
    seam : sequence of tuple
        The four (sign, pivots, offset) of :func:`seam_pfaffians`, pivots float64 (n_S / 2, 3).
    S : numpy.ndarray
        int (4, 4): the sign table S[k, h] (module docstring, step 2).
    h : int
        The class of W_h (h = x1 + 2 x2, :data:`BOUNDARIES`).

    Returns
    -------
    numpy.ndarray
        float64 (3, 2): row 0 the two derivatives of ln W_h; row 1 the scales of the combination over k (to
        first order, the sums with every term of the four in absolute value: where W_h is a small difference
        of the Pf_k, the derivatives lose what it loses); row 2 those plus the interior's (the sums of its
        pivots' absolute terms).  NaN where W_h does not have the sign of the largest class or a C_k is
        exactly singular.
    """
    lam, c, q = (np.empty(4) for _ in range(3))
    R, Rabs = np.zeros((4, 3)), np.zeros((4, 3))
    for k, (sign, p, offset) in enumerate(seam):
        p0, p1, p2 = p.T
        raw = (np.abs(p1) > RAW_RATIO * np.abs(p0)) | (np.abs(p2) > RAW_RATIO**2 * np.abs(p0))
        scale = np.abs(p[raw]).max(axis=1)
        if np.any(scale == 0):  # a pivot jet 0: the elimination stopped (Pf C0 = 0)
            return np.full((3, 2), np.nan)
        r1, r2 = p1[~raw] / p0[~raw], p2[~raw] / p0[~raw]
        c[k], q[k] = r1.sum(), (r2 - 0.5 * r1 * r1).sum()
        lam[k] = offset + np.log(np.abs(p0[~raw])).sum() + np.log(scale).sum()
        R[k], Rabs[k] = (sign * np.prod(np.sign(p0[~raw])), 0.0, 0.0), (1.0, 0.0, 0.0)
        for x in p[raw] / scale[:, None]:
            R[k], Rabs[k] = _jet_product(R[k], x), _jet_product(Rabs[k], np.abs(x))
    top = float(np.max(lam + np.log(np.abs(R).max(axis=1))))
    u = np.exp(lam - top)[:, None] * R  # the unnormalised class weights' jets, k by k
    w = 0.25 * (S.T @ u[:, 0])
    lead = np.sign(w[np.argmax(np.abs(w))])
    if not w[h] * lead > 0:
        return np.full((3, 2), np.nan)
    v = 0.25 * S[:, h] * u[:, 0] / w[h]
    cbar = float(v @ c)
    d = c - cbar
    V = np.zeros(3)
    Vabs = np.zeros(3)
    for k in range(4):
        V += 0.25 * S[k, h] * np.exp(lam[k] - top) * _jet_product((1.0, d[k], 0.5 * d[k] ** 2 + q[k]), R[k])
        Vabs += 0.25 * np.exp(lam[k] - top) * _jet_product((1.0, abs(d[k]), 0.5 * d[k] ** 2 + abs(q[k])), Rabs[k])
    g1, g2, a1, a2 = V[1] / V[0], V[2] / V[0], Vabs[1] / abs(V[0]), Vabs[2] / abs(V[0])
    combination = np.array([float(np.abs(v) @ np.abs(c)) + a1, 2.0 * a2 + 2.0 * abs(g1) * a1])
    return np.array([[interior[0, 1] + cbar + g1, 2.0 * interior[0, 2] + 2.0 * g2 - g1 * g1],
                     combination, combination + [interior[1, 1], 2.0 * interior[1, 2]]])


def _jet_product(x, y) -> np.ndarray:
    """float64 (3,): the product of two jets x0 + x1 eps + x2 eps^2 truncated at eps^2."""
    return np.array([x[0] * y[0], x[0] * y[1] + x[1] * y[0], x[0] * y[2] + x[1] * y[1] + x[2] * y[0]])


# ---------------------------------------------------------------------------- the path protocol
def applicable(model: IsingModel, betas, *, sites: bool) -> str | None:
    """None if :func:`run` computes ``model`` exactly, else a short reason.

    Needs all fields zero, an L x L periodic square lattice (L >= 3; any of its bonds may be absent or
    J = 0, but some bond wraps around: an open lattice is the planar path's), beta max|J| <= :data:`MAX_BETA_J`, and, on a frustrated instance, beta below the estimated
    limit of the pivot growth (:data:`GROWTH_LIMIT`; as on the planar path, from the weakest bond of the
    frustrated plaquettes).

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
    L = _torus_side(model)
    if L is None:
        return "not a periodic L x L square lattice with L >= 3"
    d = model.edge_j - model.edge_i
    if not np.any((d == L - 1) | (d == model.n - L)):  # no bond wraps around: planar (its own path, u and c)
        return "an open lattice (no bond wraps around): the planar path's"
    b = np.asarray(betas, dtype=np.float64)
    beta_max = float(np.max(b, initial=0.0))
    scale = beta_max * float(np.abs(model.couplings).max(initial=0.0))
    if scale > MAX_BETA_J:
        return f"beta max|J| = {scale:.3g} exceeds {MAX_BETA_J:g} (the Pfaffian's weights would overflow)"
    frustration = _frustration(model, L)
    if 2.0 * beta_max * frustration > np.log(EXTENDED_GROWTH_LIMIT):
        return (f"beta = {beta_max:g} is beyond the torus Pfaffian's accurate range on this frustrated instance "
                f"(beta <= {np.log(EXTENDED_GROWTH_LIMIT) / (2.0 * frustration):.3g})")
    return None


def _frustration(model: IsingModel, L: int) -> float:
    """Largest, over the frustrated plaquettes, of the weakest |J| on the plaquette: 0 without frustration
    (the planar path's estimate of the pivot growth exp(2 beta |J|), :func:`isingvar.exact.planar._frustration`).
    Recomputed per call (O(N)): it depends on the values, and only structure is cached."""
    s = _structure(L)
    index = _index(model, L)
    J = np.zeros(index.size)
    J[index >= 0] = model.couplings[index[index >= 0]]
    bond = np.arange(s.face.size) >> 1
    nf = int(s.face.max()) + 1
    odd = np.bincount(s.face, weights=(J[bond] < 0), minlength=nf) % 2 == 1
    weakest = np.full(nf, np.inf)
    np.minimum.at(weakest, s.face, np.abs(J[bond]))
    return float(weakest[odd].max(initial=0.0))

def _probe_rate() -> tuple[float, int]:
    """(seconds, M) of one seam Schur step (factorisation and four Pfaffians) of a 24 x 24 torus, timed
    once per process."""
    if not _rate:
        s = _structure(24)
        jg = np.ones(s.eu.size)
        seam_pfaffians(s, 0.5, jg)
        t = time.perf_counter()
        seam_pfaffians(s, 0.5, jg)
        _rate.append((time.perf_counter() - t, s.size))
    return _rate[0]


def estimate_seconds(model: IsingModel, betas, *, sites: bool) -> float:
    """Seconds :func:`run` would take: the Schur steps of :func:`_seconds` (paired jet ones :data:`JET_COST` real
    ones), each the probe's real one (a 24 x 24 torus, timed once per process) scaled by
    (M / M_probe)^:data:`TIME_EXPONENT`, plus the setup.

    Parameters
    ----------
    model : IsingModel
        The instance (a torus :func:`applicable` accepts).
    betas : array_like of float, shape (nb,)
        Inverse temperatures (their count, and how many pass the cross-check's estimated growth).
    sites : bool
        Per-site magnetisations wanted (unused: they are 0 at h = 0).

    Returns
    -------
    float
        Estimated wall seconds.
    """
    return _seconds(model, betas, *_probe_rate())


#: One Schur step of the probe (the 24 x 24 torus, M = 3456: the bordered factorisation, T and four
#: 96 x 96 Pfaffians with their error bounds) on one core of the reference machine, for :func:`work`
#: (measured on the 2-core test machine, benchmarks/torus.py).  Only its ratio to the other paths'
#: constants matters.
PROBE_SECONDS, PROBE_SIZE = 1.6e-2, 3456


def work(model: IsingModel, betas, *, sites: bool = False) -> float:
    """Modelled seconds of :func:`run` (the :class:`isingvar.exact.ExactPath` protocol): the model of
    :func:`estimate_seconds` with the probe's time fixed at :data:`PROBE_SECONDS`.  Deterministic.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (their count, and how many pass the cross-check's estimated growth).
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


def _seconds(model: IsingModel, betas, seconds: float, size: int) -> float:
    """Schur steps of :func:`run` (with the jets: two paired ones per beta, each :data:`JET_COST` real ones; without:
    one real one per beta, a second beyond :data:`CROSS_CHECK_GROWTH`; the setup in real ones) x ``seconds`` per
    real step of a torus of ``size`` darts, scaled as M^:data:`TIME_EXPONENT`."""
    b = np.asarray(betas, dtype=np.float64)
    if _jet_order(model) in PAIRED_ORDERS:
        steps = 2.0 * JET_COST * b.size
    else:
        steps = b.size + int(np.count_nonzero(b > _cross_check_beta(model)))
    return seconds * (6.0 * model.n / size) ** TIME_EXPONENT * (steps + SETUP_FACTORISATIONS)


def _cross_check_beta(model: IsingModel, growth: float = CROSS_CHECK_GROWTH) -> float:
    """Beta above which the estimated growth exp(2 beta J*) passes ``growth`` (inf without frustration): with
    :data:`CROSS_CHECK_GROWTH`, where each ln Z is confirmed at a second seam position; with
    :data:`DERIVATIVE_CHECK_GROWTH`, where u, s and c are."""
    frustration = _frustration(model, _torus_side(model))
    return float(np.log(growth) / (2.0 * frustration)) if frustration > 0 else float("inf")


def _shifts(L: int) -> list[tuple[int, int]]:
    """The seam positions tried, in order (row and column moved to 0), distinct."""
    out = []
    for a, b in ((0, 0), (L // 2, L // 2), (L // 4, (3 * L) // 4), ((3 * L) // 4, L // 4)):
        if (a, b) not in out:
            out.append((a, b))
    return out[:MAX_SEAMS]


def boundary_log_z(model: IsingModel, betas, progress=None):
    """ln Z of the four boundary conditions of a periodic square lattice at zero field (module docstring).

    Parameters
    ----------
    model : IsingModel
        As for :func:`run` (not checked here).
    betas : numpy.ndarray
        float64 (nb,), finite, >= 0.
    progress : callable(done_betas, total_betas), optional
        Called after each beta.

    Returns
    -------
    lnz : numpy.ndarray
        float64 (nb, 4): ln Z of the models PP, AP, PA, AA (:data:`BOUNDARIES`; AP negates the bonds
        (L-1, c)-(0, c), PA the bonds (r, L-1)-(r, 0)); NaN where not a positive number.
    err : numpy.ndarray
        float64 (nb, 4): bound on the absolute error of each ln Z from the Schur step (module docstring,
        step 4; where two seam positions were computed, the larger bound or their difference); inf where
        the interior's growth passed :data:`GROWTH_LIMIT`; 0 at beta = 0.
    common : numpy.ndarray
        float64 (nb,): bound on the absolute error of ln |Pf K_II|, shared by the four ln Z (so ln Z_h is
        within ``err[:, h] + common`` and ln(Z_PP / Z_AP) within ``err[:, 0] + err[:, 1]``).
    status : numpy.ndarray
        int8 (nb,): 0, ``precision_lost`` (no seam position bounded ln Z_PP's error by :data:`RTOL`
        |ln Z_PP|) or ``precision_not_confirmed`` (beyond the estimated growth :data:`CROSS_CHECK_GROWTH`,
        no second seam position did, or the two differ by more than that).
    s0 : numpy.ndarray
        float64 (N,) the reference state.
    e0 : float
        Its energy where it is certainly a ground state of the periodic model, else NaN.
    """
    return _sweep(model, betas, progress, 0)[:6]


def _sweep(model: IsingModel, betas, progress, order: int):
    """:func:`boundary_log_z`'s six results, float64 (nb, 3) <E>, S = ln Z + beta <E> and Var E of the periodic
    model (totals; module docstring, step 5), from jets to eps^``order`` (0: all NaN), the lightest class's energy
    where certain, and float64 (nb, 2) ln Z_PP - ln Z_AP with the bound on its error (:func:`_domain_wall`).  Each is NaN where
    its certificate fails or, beyond :data:`DERIVATIVE_CHECK_GROWTH`, where no two seam positions agree on
    it to :data:`RTOL` of it (the second position computed for that where ln Z did not need it); once one of
    them failed at every position, the larger betas take real steps (ln Z only, u, s, c NaN)."""
    L = _torus_side(model)
    nb = betas.size
    lnz, err, common = np.empty((nb, 4)), np.empty((nb, 4)), np.zeros(nb)
    dw = np.full((nb, 2), [np.nan, np.inf])
    status = np.zeros(nb, dtype=np.int8)
    thermo = np.full((nb, 3), np.nan)
    check_from = _cross_check_beta(model)
    derivative_from = _cross_check_beta(model, DERIVATIVE_CHECK_GROWTH)
    with deferred_interrupt() as check, heap_kept():
        s = _structure(L)
        h_ref, s0, jg = reference(model, s, _index(model, L))
        e_ref = -float(jg.sum())  # energy of s0 in the model of boundary condition h_ref
        cls = np.arange(4) ^ h_ref  # the class of the J* model that is each boundary condition
        certain = _ground_state_is_exact(model, jg)  # s0 is a lightest state over all four classes
        check()
        # betas in increasing order: the seam positions are tried best-first by the previous beta's bounds,
        # and once a beta failed at every position the larger ones are not tried
        shifts, hopeless, lost = _shifts(L), False, False
        # double-double once double precision failed at a beta (ascending), where the jets are carried at all
        extended, dd = False, order > 0
        for done, i in enumerate(np.argsort(betas, kind="stable")):
            beta = float(betas[i])
            if beta == 0:  # every state weighs 1 (three of the four Pfaffians vanish exactly there)
                lnz[i], err[i] = model.n * np.log(2.0), 0.0
                dw[i] = 0.0, 0.0
                # independent spins: <E> = 0, S = N ln 2, Var E = sum_b J_b^2 (distinct bonds' s_i s_j are uncorrelated)
                if order:
                    thermo[i] = 0.0, model.n * np.log(2.0), float(np.sum(model.couplings**2))
                if progress:
                    progress(done + 1, nb)
                continue
            needed = 2 if beta > check_from else 1
            if hopeless:  # a smaller beta failed at every seam position: the errors grow with beta
                lnz[i], err[i], common[i], status[i] = np.nan, np.inf, np.inf, PRECISION_LOST
                if progress:
                    progress(done + 1, nb)
                continue
            step_order = 0 if lost else order
            beyond = beta > derivative_from  # u, s, c need two seam positions that agree
            if not extended:
                # the jets on the paired double kernel: its bounds are estimates, so ln Z, u, s and c each need two
                # seam positions that agree (computed side by side)
                paired = step_order in PAIRED_ORDERS
                beyond |= paired
                # u, s to PAIRED_RTOL; c to PAIRED_C_RTOL (given to PAIRED_C_TOL)
                rtol = np.array([PAIRED_RTOL, PAIRED_RTOL, PAIRED_C_RTOL]) if paired else RTOL
                need = 2 if paired else needed
                found, tries, moments, growths, accepted, bound = _positions(
                    seam_pfaffians_paired if paired else seam_pfaffians, s, beta, jg, shifts, step_order,
                    need, h_ref, cls, e_ref, certain, beyond, check, rtol)
                # double precision could not confirm ln Z, u, s, c or F_dw: this beta and the larger ones in
                # double-double
                extended = dd and (found is None or _domain_wall(tries, need)[1] > DW_ATOL
                                   or bool(step_order) and np.isnan(
                                       _confirmed_moments(moments, growths, accepted, beyond, rtol)).any())
            if extended:
                beyond, rtol, need = beta > derivative_from, RTOL, 2
                found, tries, moments, growths, accepted, bound = _positions(
                    seam_pfaffians_dd, s, beta, jg, shifts, step_order, 2, h_ref, cls, e_ref, certain, beyond, check)
            shifts = sorted(shifts, key=lambda x: bound.get(x, np.inf))  # stable: untried keep their order
            if found is not None:
                lnz[i], err[i], common[i] = found
                dw[i] = _domain_wall(tries, need)
                thermo[i] = _confirmed_moments(moments, growths, accepted, beyond, rtol)
                # a quantity no two positions confirmed: the derivatives' precision falls with beta, so the
                # larger betas take real steps (ln Z only)
                lost |= bool(step_order and len(moments) == len(shifts) and np.isnan(thermo[i]).any())
            else:
                hopeless |= len(tries) == len(shifts)
                lnz[i], err[i], common[i] = min(tries, key=lambda t: t[1][0] + t[2],
                                                default=(np.full(4, np.nan), np.full(4, np.inf), np.inf))[:3]
                status[i] = PRECISION_NOT_CONFIRMED if any(_passes(t) for t in tries) else PRECISION_LOST
            if progress:
                progress(done + 1, nb)
    lightest = e_ref if certain else float("nan")  # the least energy over the four classes, where certain
    return lnz, err, common, status, s0, (lightest if h_ref == 0 else float("nan")), thermo, lightest, dw


def _domain_wall(tries, needed: int) -> tuple[float, float]:
    """(ln Z_PP - ln Z_AP, the bound on its error) of one beta from its seam positions' attempts ``tries`` (as
    :func:`_accept` takes them), the smallest bound of: where ``needed`` is 1, each position's own (err_PP +
    err_AP); each pair's :data:`AGREEMENT_MARGIN` |difference of their ln(Z_PP / Z_AP)| plus both positions'
    dense-Pfaffian bounds on the two classes (the rule of :func:`_accept` applied to the ratio itself: within a
    position ln Pf K_II cancels in it, so two positions agree on it far closer than on each ln Z; +-J 64 x 64,
    beta 2.2: 1.8e-11 against 2.8e-9 from the two ln Z's agreements).  The value is the later position's of that
    pair.  (NaN, inf) where none."""
    best = (float("nan"), float("inf"))
    for j, (v, e, _, d) in enumerate(tries):
        ratio = float(v[0] - v[1])
        bounds = [float(e[0] + e[1])] if needed == 1 else []
        bounds += [AGREEMENT_MARGIN * abs(ratio - float(v2[0] - v2[1])) + float(d[0] + d[1] + d2[0] + d2[1])
                   for v2, _, _, d2 in tries[:j]]
        for b in bounds:
            if b < best[1]:  # False for NaN
                best = (ratio, b)
    return best


def _positions(pfaffians, s, beta, jg, shifts, order, needed, h_ref, cls, e_ref, certain, beyond, check, rtol=RTOL):
    """One beta's seam positions, best first, until ln Z is found (:func:`_accept`) and u, s, c are settled.

    ``pfaffians`` is :func:`seam_pfaffians`, :func:`seam_pfaffians_paired` or :func:`seam_pfaffians_dd`; ``beyond``:
    u, s, c need two positions that agree (:func:`_pair_needed`) to ``rtol``.  Returns (found: (ln Z, err, common) or None, the
    attempts, their moments, their growths, the index of the accepted one, each position's bound)."""
    tries, moments, growths, bound, found, accepted = [], [], [], {}, None, -1
    early = {}
    if pfaffians is not seam_pfaffians and needed >= 2:  # two positions are always computed: side by side
        s.dd_interior()  # its structure once, on this thread
        first = shifts[:2]
        done = side_by_side([lambda x=x: pfaffians(s, beta, jg[s.shifted(*x)], order) for x in first])
        early = dict(zip(first, done))
    for a, b in shifts:
        if found is not None and _derivatives_settled(moments, growths, accepted, order, beyond, rtol):
            break  # ln Z found, and its derivatives confirmed or needing no second position
        step = early.pop((a, b), None)
        if step is None:
            try:
                step = pfaffians(s, beta, jg[s.shifted(a, b)], order)
            except ArithmeticError:
                continue
        elif isinstance(step, ArithmeticError):
            continue
        signs, logs, rel, growth, c, jets, *classes = step
        check()
        value = np.log(2.0) - beta * e_ref
        # the class sums (seam_pfaffians_dd gives them, in double-double)
        (ln_w, e), (_, e_dense) = classes[0] if classes else (class_logs(signs, logs, rel[0], s.S),
                                                              class_logs(signs, logs, rel[1], s.S))
        if growth > GROWTH_LIMIT and pfaffians is not seam_pfaffians_dd:
            e = e_dense = np.full(4, np.inf)
        t = (value + ln_w[cls], e[cls], c, e_dense[cls])
        bound[(a, b)] = t[1][0] + c
        moments.append(np.full(3, np.nan) if jets is None or (growth > GROWTH_LIMIT and pfaffians is not seam_pfaffians_dd)
                       else _moments(class_derivatives(*jets, s.S, h_ref), ln_w[h_ref], e_dense[h_ref] + c, beta,
                                     e_ref, certain))
        growths.append(growth)
        if found is None:
            found = _accept(t, tries, needed)
            accepted = len(tries)
        tries.append(t)
    return found, tries, moments, growths, accepted, bound


def _pair_needed(growths, accepted: int, beyond: bool) -> bool:
    """Whether u, s, c need two seam positions that agree: beyond :data:`DERIVATIVE_CHECK_GROWTH`, estimated
    (``beyond``) or measured at the position that gave ln Z (the derivatives lose precision with the
    interior's growth far faster than ln Z: 1.6e-3 of Var E at a measured growth of 495, +-J 32 x 32,
    beta 1.83, where three other positions agreed to 1e-12)."""
    return beyond or growths[accepted] > DERIVATIVE_CHECK_GROWTH


def _pairs_agree(moments, rtol=RTOL) -> np.ndarray:
    """float64 (3,): per quantity, the value of the first two seam positions that agree on it to ``rtol`` of it (the
    one computed first), NaN where none do; ``rtol`` a float or float64 (3,), one per quantity."""
    out = np.full(3, np.nan)
    for i in range(len(moments)):
        for j in range(i + 1, len(moments)):
            with np.errstate(invalid="ignore"):
                ok = np.isnan(out) & (np.abs(moments[i] - moments[j]) <= rtol * np.abs(moments[i]))
            out[ok] = moments[i][ok]
    return out


def _derivatives_settled(moments, growths, accepted: int, order: int, beyond: bool, rtol=RTOL) -> bool:
    """Whether, with ln Z found, no further seam position is needed for u, s and c (two agreeing to ``rtol``)."""
    return not order or not _pair_needed(growths, accepted, beyond) or bool(
        np.all(np.isfinite(_pairs_agree(moments, rtol))))


def _confirmed_moments(moments, growths, accepted: int, beyond: bool, rtol=RTOL) -> np.ndarray:
    """float64 (3,): <E>, S, Var E of a beta whose ln Z came from position ``accepted``: that position's, or where
    :func:`_pair_needed`, each from two positions that agree on it to ``rtol`` (NaN where none do)."""
    if not _pair_needed(growths, accepted, beyond):
        return moments[accepted]
    return _pairs_agree(moments, rtol)


def _moments(d: np.ndarray, ln_w: float, ln_w_err: float, beta: float, e_ref: float, certain: bool) -> np.ndarray:
    """float64 (3,): <E>, S and Var E (totals) of the periodic model from the derivatives ``d`` of ln W (class
    h*, :func:`class_derivatives`), ln W with the bound ``ln_w_err`` on its error (the dense Pfaffians' and the
    interior's, :func:`class_logs`), and the reference's energy ``e_ref``.

    ln Z = ln 2 - beta e_ref + ln W, so <E> = e_ref - (ln W)', S = ln Z + beta <E> = ln 2 + ln W - beta (ln W)'
    (ln W >= 0 and (ln W)' <= 0 where s0 weighs 1 and every state at most 1: no cancellation) and
    Var E = (ln W)''.  Each is NaN where its estimated rounding (:data:`DERIVATIVE_EPS` times the scale of
    its terms; for S also ``ln_w_err``) passes :data:`RTOL` of it: W is a signed sum of the four Pfaffians,
    and where the periodic class is far below the lightest one its derivatives cancel like W itself.  The
    certificates (ln W)' <= 0 (u >= E0/N; only where s0 is ``certain``ly a lightest state of all four
    classes) and Var E >= 0 make them NaN where they fail beyond that rounding; a Var E below 0 within it
    is 0."""
    (d1, d2), (scale1, scale2), (total1, total2) = d
    mean_e, entropy, var_e = e_ref - d1, np.log(2.0) + ln_w - beta * d1, d2
    rounding = DERIVATIVE_EPS * np.array([scale1, scale1 * beta, scale2]) + np.array([0.0, ln_w_err, 0.0])
    out = np.array([mean_e, entropy, var_e])
    if certain and d1 > DERIVATIVE_EPS * total1:
        out[:2] = np.nan
    if d2 < -DERIVATIVE_EPS * total2:
        out[2] = np.nan
    elif d2 < 0:
        out[2] = 0.0
    with np.errstate(invalid="ignore"):
        out[~(rounding <= RTOL * np.abs(out))] = np.nan
    return out


def _passes(attempt) -> bool:
    """Whether one seam position's bound (T's measured rounding included) puts ln Z_PP within RTOL."""
    value, e, c, _ = attempt
    return bool(e[0] + c <= RTOL * abs(value[0]))


def _accept(t, earlier, needed):
    """(ln Z, err, common) of a beta from the new attempt ``t`` and the ``earlier`` ones, or None.

    One position suffices where ``needed`` is 1 and its bound passes (:func:`_passes`); otherwise two
    positions must agree: :data:`AGREEMENT_MARGIN` |ln Z_PP difference| plus both dense-Pfaffian bounds
    and the interior's within RTOL |ln Z_PP| (module docstring, step 4); their errors are then that
    multiple of the difference plus those bounds."""
    value, e, c, e_dense = t
    if needed == 1 and _passes(t):
        return value, e, c
    for v2, _, c2, d2 in earlier:
        diff = AGREEMENT_MARGIN * np.abs(value - v2)
        err = diff + e_dense + d2
        common = max(c, c2)
        if err[0] + common <= RTOL * abs(value[0]):
            return value, err, common
    return None


def run(model: IsingModel, betas, *, sites: bool = False,
        progress: Callable[[float, float], None] | None = None) -> ExactResult:
    """ln Z, f, u, s, c and F_dw of a periodic square lattice at zero field on every beta (module docstring).

    Parameters
    ----------
    model : IsingModel
        All fields zero, the bonds of an L x L periodic square lattice, L >= 3 (:func:`applicable`).
    betas : array_like of float, shape (nb,)
        Finite and >= 0, any order.
    sites : bool
        Also return the per-site magnetisations (all 0 at h = 0).
    progress : callable(done_betas, total_betas), optional
        Called after each beta; Ctrl-C is honoured there.

    Returns
    -------
    ExactResult
        Path "torus": lnZ and f of the periodic model; u, s and c from the jets (module docstring, step
        5; NaN where M > :data:`JET_MAX_SIZE`, and each where a certificate or, beyond
        :data:`DERIVATIVE_CHECK_GROWTH`, a second seam position does not confirm it to :data:`RTOL`; c from
        paired double steps to :data:`PAIRED_C_TOL`);
        m = 0; ``f_dw`` float64 (nb,) the domain-wall free energy F_AP - F_PP (total, in units of J; AP: the
        bonds (L-1, c)-(0, c) negated; NaN at beta = 0 and where its error bound on ln(Z_PP / Z_AP),
        :func:`_domain_wall`, passes :data:`DW_ATOL`); e0 and ground_state where the reference is certainly a ground state of the
        periodic model; m2, absm, chi NaN.  ``status`` int8 (nb,) is ``precision_lost`` where no seam
        position bounds ln Z's error by :data:`RTOL` |ln Z| and ``precision_not_confirmed`` where a second
        seam position was required (beyond the estimated growth :data:`CROSS_CHECK_GROWTH`) and did not
        confirm it; every value at those betas is NaN.

    Raises
    ------
    ValueError
        If betas are not finite and >= 0 or :func:`applicable` refuses.
    """
    b = check_betas(betas)
    reason = applicable(model, b, sites=sites)
    if reason is not None:
        raise ValueError(f"the torus path does not apply: {reason}")
    lnz4, _, _, status, s0, e0, thermo, lightest, dw = _sweep(model, b, progress, _jet_order(model))
    ground_state = s0 if np.isfinite(e0) else None
    if np.isnan(e0):
        e0 = _periodic_ground_energy(model, lightest, thermo[:, 0])
    lnz = lnz4[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        f_dw = np.where((b > 0) & (status == 0) & (dw[:, 1] <= DW_ATOL), dw[:, 0] / b, np.nan)
    r = ExactResult.from_moments(
        b, model.n, path=PATH_NAME, lnZ=lnz, mean_e=thermo[:, 0], entropy=thermo[:, 1], var_e=thermo[:, 2],
        symmetric=True, status=status, e0=e0, ground_state=ground_state,
        sites=np.zeros((b.size, model.n)) if sites else None)
    return replace(r, f_dw=f_dw)


def _periodic_ground_energy(model: IsingModel, lightest: float, mean_e: np.ndarray) -> float:
    """E0 of the periodic model where the lightest class is another (or tied with it): certain for +-J couplings.

    With every nonzero |J| equal to J0 every state of every class has E = -sum_b J_b s_i s_j on the lattice
    E* + 2 J0 Z (each bond gives +-J0), E* = ``lightest`` the least over the four classes (certain: PyMatching's
    integer weights).  E* <= E0 <= <E>(beta) at any beta, so where a confirmed <E> (``mean_e``, float64 (nb,),
    totals, NaN where not computed) lies below E* + 2 J0, E0 = E*.  Else NaN.
    """
    mags = np.abs(model.couplings[model.couplings != 0])
    if not np.isfinite(lightest) or mags.size == 0 or not np.all(mags == mags[0]):
        return float("nan")
    below = np.nanmin(mean_e, initial=np.inf) - lightest
    return lightest if below < 2.0 * mags[0] * (1.0 - 1e-9) else float("nan")


def _jet_order(model: IsingModel) -> int:
    """2 where the Schur steps carry the jets for u, s and c (M ~ 6N <= :data:`JET_MAX_SIZE`), else 0."""
    return 2 if 6 * model.n <= JET_MAX_SIZE else 0


def _ground_state_is_exact(model: IsingModel, jg: np.ndarray) -> bool:
    """Whether s0 (gauge couplings ``jg``) is certainly a ground state: no unsatisfied bond, or +-J
    couplings, where PyMatching's integer weights are exact and its matching minimal."""
    if np.all(jg >= 0):
        return True
    mags = np.abs(model.couplings[model.couplings != 0])
    return bool(mags.size == 0 or np.all(mags == mags[0]))
