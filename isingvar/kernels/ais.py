"""Annealed importance sampling (AIS) from a two-body autoregressive q: batched Metropolis chains.

Neal, "Annealed importance sampling", Statistics and Computing 11, 125 (2001).  From x_0 ~ q (drawn by the
network's own sampler), chain r moves through the distributions

    pi_t(x) ∝ q(x)^{1 - g_t} exp(-beta E(x))^{g_t},   0 = g_0 < g_1 < ... < g_T < g_{T+1} = 1,

by one step t = 1..T each: an independence Metropolis-Hastings proposal from q, accepted with
min(1, (w(x')/w(x))^{g_t}), w = e^{-beta E}/q (Liu, Statistics and Computing 6, 113 (1996)), then one systematic
single-spin-flip Metropolis sweep (each move leaves pi_t invariant, so the step does).  The sweeps relax a chain
within its cluster of low-energy states; the proposals move it between clusters, which single flips cannot at
large beta, so that the chains' mass among them follows pi_t's and not q's.  Its log-weight is

    ln w = sum_{t=1}^{T+1} (g_t - g_{t-1}) f(x_{t-1}),   f = -beta E - ln q,

so E[w] = Z exactly (Neal's extended-space argument) and the weighted final states x_T give <A>_p; T = 0 is
plain importance sampling, ln w = f(x_0).  A flip whose uniform lies above e^{bound}, bound = the
acceptance's log with the children's change replaced by its largest value sum 2|w| (ln sigmoid is
1-Lipschitz), is rejected before the children are visited: the decision the full test would make, at a
fraction of the cost where most flips fail.

The q is the two-body network a_i = b_i + c_i, c_i = sum_{k in R(i)} w_k s_{cols[k]} (the sparse network
without units, or the dense depth-1 one written in the same CSR form), q(s_i | s_<i) = sigmoid(s_i a_i).  For
the symmetrised q (``mirrored``), q_sym(s) = (q(s) + q(-s))/2 with a_i(-s) = b_i - c_i.  Each chain keeps
c_i and the per-spin terms l1_i = ln sigmoid(s_i (b_i + c_i)) (of ln q(s)) and l2_i = ln sigmoid(-s_i (b_i - c_i))
(of ln q(-s)), so the flip of spin j costs its own terms (ln sigmoid(-x) = ln sigmoid(x) - x: no
transcendental), the children i (the later spins whose pair lists hold j: the transposed lists tptr, tchild,
tpair) and its couplings for Delta E.  The children's change is one log of a product of ratios of cached
1 + e^{-x_i}, each new e^{-x_i} a multiplication by e^{+-2w} (:func:`_delta_fast`), where every logit is
small enough for that to stay in range (:func:`_fast_is_safe`), else a log-sigmoid per child
(:func:`_delta`).  Every cached term and sum is recomputed from scratch every :data:`REFRESH` sweeps, so no rounding
accumulates along the chain.

Arrays: float64 and int64, C-contiguous; configurations s (B, N) of +-1.0.
"""

import math

import numpy as np
from numba import prange

from ._jit import njit, pjit
from .ar import _log_sigmoid, _sigmoid
from .energy import _energy, _local_field

_LN2 = math.log(2.0)


@njit
def _logaddexp(x, y):
    """ln(e^x + e^y) without overflow (x, y finite)."""
    if x >= y:
        return x + math.log1p(math.exp(y - x))
    return y + math.log1p(math.exp(x - y))


@njit
def _start(b, rowptr, cols, w, mirrored, sr, c, l1, l2, e1, e2, v1, v2):
    """c, l1, l2, e1 = e^{-s_i a_i(s)}, e2 = e^{s_i a_i(-s)}, v1 = 1/(1 + e1), v2 = 1/(1 + e2) from scratch.

    Returns (L1, L2) = (ln q(s), ln q(-s)) (L2 = 0 if not ``mirrored``).
    """
    n = sr.shape[0]
    L1 = 0.0
    L2 = 0.0
    for i in range(n):
        x = 0.0
        for k in range(rowptr[i], rowptr[i + 1]):
            x += w[k] * sr[cols[k]]
        c[i] = x
        x1 = sr[i] * (b[i] + x)
        l1[i] = _log_sigmoid(x1)
        e1[i] = math.exp(-x1)
        v1[i] = 1.0 / (1.0 + e1[i])
        L1 += l1[i]
        if mirrored:
            x2 = -sr[i] * (b[i] - x)
            l2[i] = _log_sigmoid(x2)
            e2[i] = math.exp(-x2)
            v2[i] = 1.0 / (1.0 + e2[i])
            L2 += l2[i]
    return L1, L2


@njit
def _lnq(L1, L2, mirrored):
    """ln q (or ln q_sym = ln((q(s) + q(-s))/2)) from L1 = ln q(s), L2 = ln q(-s)."""
    if mirrored:
        return _logaddexp(L1, L2) - _LN2
    return L1


@njit
def _draw(b, rowptr, cols, w, mirrored, ur, sp):
    """One sample of q into sp from the uniforms ur (N + 1: one per spin, then the mirror's); (ln q(s), ln q(-s)).

    q(s_i | s_<i) = sigmoid(s_i a_i) with a_i = b_i + c_i in q's order; the symmetrised q negates the whole
    sample with probability 1/2 (q_sym(s) = (q(s) + q(-s))/2), which swaps the two logs.
    """
    n = sp.shape[0]
    L1 = 0.0
    L2 = 0.0
    for i in range(n):
        x = 0.0
        for k in range(rowptr[i], rowptr[i + 1]):
            x += w[k] * sp[cols[k]]
        a = b[i] + x
        si = 1.0 if ur[i] < _sigmoid(a) else -1.0
        sp[i] = si
        L1 += _log_sigmoid(si * a)
        if mirrored:
            L2 += _log_sigmoid(-si * (b[i] - x))
    if mirrored and ur[n] < 0.5:
        for i in range(n):
            sp[i] = -sp[i]
        return L2, L1
    return L1, L2


@njit
def _delta(j, b, w, tptr, tchild, tpair, mirrored, sr, c, l1, l2, n1, n2):
    """(Delta ln q(s), Delta ln q(-s)) of flipping spin j; the children's new terms into n1, n2 (by position)."""
    sj = sr[j]
    d1 = -sj * (b[j] + c[j])  # own term: ln sigmoid(-x) - ln sigmoid(x) = -x
    d2 = sj * (b[j] - c[j]) if mirrored else 0.0
    for p in range(tptr[j], tptr[j + 1]):
        i = tchild[p]
        x = c[i] - 2.0 * w[tpair[p]] * sj
        t = _log_sigmoid(sr[i] * (b[i] + x))
        n1[p - tptr[j]] = t
        d1 += t - l1[i]
        if mirrored:
            t = _log_sigmoid(-sr[i] * (b[i] - x))
            n2[p - tptr[j]] = t
            d2 += t - l2[i]
    return d1, d2


@njit
def _apply(j, b, w, tptr, tchild, tpair, mirrored, sr, c, l1, l2, n1, n2):
    """Flip spin j, with the children's new terms n1, n2 from :func:`_delta`."""
    sj = sr[j]
    l1[j] -= sj * (b[j] + c[j])
    if mirrored:
        l2[j] += sj * (b[j] - c[j])
    for p in range(tptr[j], tptr[j + 1]):
        i = tchild[p]
        c[i] -= 2.0 * w[tpair[p]] * sj
        l1[i] = n1[p - tptr[j]]
        if mirrored:
            l2[i] = n2[p - tptr[j]]
    sr[j] = -sj


@njit
def _delta_fast(j, b, w, ep, em, tptr, tchild, tpair, mirrored, sr, c, e1, e2, v1, v2, n1, n2):
    """:func:`_delta` without a transcendental per child: ln sigmoid(x) = -ln(1 + e^{-x}).

    A flip of j moves x_i = s_i a_i of each child by -2 w s_i s_j (at s and at -s alike), so e^{-x_i} is
    multiplied by e^{2 w s_i s_j} (``ep`` = e^{2w}, ``em`` = e^{-2w}), and the children's change is minus the
    log of one product of ratios (1 + e^{-x_i'})/(1 + e^{-x_i}) (the inverses v cached: no division).  The new
    e^{-x_i'} go into n1, n2.  Needs
    every |a_i| and every flip's sum of 2|w| well inside the exponent range (:func:`_fast_is_safe`).
    """
    sj = sr[j]
    p1 = 1.0
    p2 = 1.0
    t0 = tptr[j]
    for p in range(t0, tptr[j + 1]):
        i = tchild[p]
        f = ep[tpair[p]] if sr[i] * sj > 0.0 else em[tpair[p]]
        x = e1[i] * f
        n1[p - t0] = x
        p1 *= (1.0 + x) * v1[i]
        if mirrored:
            x = e2[i] * f
            n2[p - t0] = x
            p2 *= (1.0 + x) * v2[i]
    d1 = -sj * (b[j] + c[j]) - math.log(p1)
    d2 = sj * (b[j] - c[j]) - math.log(p2) if mirrored else 0.0
    return d1, d2


@njit
def _apply_fast(j, w, tptr, tchild, tpair, mirrored, sr, c, e1, e2, v1, v2, n1, n2):
    """Flip spin j, with the children's new e^{-x_i} n1, n2 from :func:`_delta_fast` (l1, l2 left stale)."""
    sj = sr[j]
    e1[j] = 1.0 / e1[j]  # x_j -> -x_j
    v1[j] = 1.0 / (1.0 + e1[j])
    if mirrored:
        e2[j] = 1.0 / e2[j]
        v2[j] = 1.0 / (1.0 + e2[j])
    t0 = tptr[j]
    for p in range(t0, tptr[j + 1]):
        i = tchild[p]
        c[i] -= 2.0 * w[tpair[p]] * sj
        e1[i] = n1[p - t0]
        v1[i] = 1.0 / (1.0 + e1[i])
        if mirrored:
            e2[i] = n2[p - t0]
            v2[i] = 1.0 / (1.0 + e2[i])
    sr[j] = -sj


#: Largest |x| = |s_i a_i| and largest sum over a flip's children of 2|w| for :func:`_delta_fast`: e^{300}
#: (1e130) and its square stay far inside float64's range (1e308), so no product over- or underflows.
FAST_MAX = 300.0


@njit
def _fast_is_safe(b, rowptr, w, tptr, tpair):
    """Whether every logit |a_i| <= |b_i| + sum |w| and every flip's sum of 2|w| over its children are <= FAST_MAX."""
    n = b.shape[0]
    for i in range(n):
        r = abs(b[i])
        for k in range(rowptr[i], rowptr[i + 1]):
            r += abs(w[k])
        if r > FAST_MAX:
            return False
    for j in range(n):
        r = 0.0
        for p in range(tptr[j], tptr[j + 1]):
            r += 2.0 * abs(w[tpair[p]])
        if r > FAST_MAX:
            return False
    return True


#: Sweeps between recomputations of a chain's sums and cached terms from scratch (and after the last): each costs
#: a quarter of a sweep, and the incremental updates drift by ~1e-16 relative per accepted flip.
REFRESH = 8


@njit
def _widest(tptr):
    """Most children of one spin."""
    m = 0
    for j in range(tptr.shape[0] - 1):
        m = max(m, tptr[j + 1] - tptr[j])
    return m


@njit
def _buffers(n, width):
    """One chain's work arrays for :func:`_start`, :func:`_flip` and :func:`_draw`.

    Parameters
    ----------
    n : int
        Spins N.
    width : int
        The most children of one spin (:func:`_widest`).

    Returns
    -------
    tuple of ndarray of float64
        c, l1, l2, e1, e2, v1, v2 (N,) each (l2 zeros, e2 and v2 ones: the mirror terms of a q that is not
        symmetrised), n1, n2 (width,) and a proposal's spins (N,).
    """
    return (np.empty(n), np.empty(n), np.zeros(n), np.empty(n), np.ones(n), np.empty(n), np.ones(n),
            np.empty(width), np.empty(width), np.empty(n))


@njit
def _flip(j, fast, b, w, ep, em, tptr, tchild, tpair, mirrored, sr, c, l1, l2, e1, e2, v1, v2, n1, n2, apply):
    """(Delta ln q(s), Delta ln q(-s)) of flipping spin j, and the flip itself where ``apply``."""
    if fast:
        d1, d2 = _delta_fast(j, b, w, ep, em, tptr, tchild, tpair, mirrored, sr, c, e1, e2, v1, v2, n1, n2)
        if apply:
            _apply_fast(j, w, tptr, tchild, tpair, mirrored, sr, c, e1, e2, v1, v2, n1, n2)
    else:
        d1, d2 = _delta(j, b, w, tptr, tchild, tpair, mirrored, sr, c, l1, l2, n1, n2)
        if apply:
            _apply(j, b, w, tptr, tchild, tpair, mirrored, sr, c, l1, l2, n1, n2)
    return d1, d2


@pjit
def anneal(b, rowptr, cols, w, tptr, tchild, tpair, indptr, indices, data, hfield, beta, g, mirrored, s, u,
           logw, energy, accepted, jumps, exact_terms=False):
    """AIS log-weights of B chains started at the samples s of q; s ends as the chains' final states.

    Step t (1..T) at g_t: one independence proposal from q (:func:`_draw`), then one systematic sweep of
    single-spin flips; both leave pi_t invariant.

    Parameters
    ----------
    b : ndarray of float64, shape (N,)
        Biases of q.
    rowptr : ndarray of int64, shape (N + 1,)
        Row starts of the pairs (CSR rows i).
    cols : ndarray of int64, shape (P,)
        Earlier spin of each pair (cols[k] < i in row i).
    w : ndarray of float64, shape (P,)
        Weight of each pair.
    tptr : ndarray of int64, shape (N + 1,)
        Row starts of the transposed pairs (rows j: the pairs whose earlier spin is j).
    tchild : ndarray of int64, shape (P,)
        Later spin i of each transposed pair.
    tpair : ndarray of int64, shape (P,)
        Index k (into ``w``) of each transposed pair.
    indptr, indices, data : ndarray
        The symmetric CSR couplings (int64, int64, float64).
    hfield : ndarray of float64, shape (N,)
        Fields h_i.
    beta : float
        Inverse temperature.
    g : ndarray of float64, shape (T + 2,)
        The schedule: g[0] = 0, increasing, g[T + 1] = 1; sweep t (1..T) is at g[t].
    mirrored : bool
        q is the symmetrised (q(s) + q(-s))/2 of the network.
    s : ndarray of float64, shape (B, N)
        Samples of q (+-1); overwritten with the chains' final states x_T.
    u : ndarray of float64, shape (B, T, 2 N + 2)
        Uniforms in [0, 1) of step t of chain r, u[r, t - 1]: [:N] the flips of the sweep (spin j: entry j),
        [N:2 N + 1] the draw of the proposal (its spins, then the mirror's), [2 N + 1] its acceptance.
    logw : ndarray of float64, shape (B,)
        Output: ln w of each chain (nats).
    energy : ndarray of float64, shape (B,)
        Output: E(x_T) (energy units of the couplings).
    accepted : ndarray of int64, shape (B,)
        Output: accepted flips of each chain.
    jumps : ndarray of int64, shape (B,)
        Output: accepted proposals from q of each chain.
    exact_terms : bool, default False
        Evaluate each child's log-sigmoid (:func:`_delta`) even where the product form (:func:`_delta_fast`,
        about 4 times faster) is safe; for tests.
    """
    B, n = s.shape
    ep, em = np.exp(2.0 * w), np.exp(-2.0 * w)
    width = _widest(tptr)
    fast = not exact_terms and _fast_is_safe(b, rowptr, w, tptr, tpair)
    reach = np.zeros(n)  # sum over the children of spin j of 2|w|: the most a flip of j moves their terms
    for j in range(n):
        for p in range(tptr[j], tptr[j + 1]):
            reach[j] += 2.0 * abs(w[tpair[p]])
    for r in prange(B):  # the chains are independent: each its own arrays, its own rows of s and u
        logw[r], energy[r], accepted[r], jumps[r] = _chain(b, rowptr, cols, w, ep, em, reach, fast, tptr, tchild, tpair,
                                                           indptr, indices, data, hfield, beta, g, mirrored, s[r], u[r],
                                                           _buffers(n, width))


@njit
def _chain(b, rowptr, cols, w, ep, em, reach, fast, tptr, tchild, tpair, indptr, indices, data, hfield, beta, g,
           mirrored, sr, ur, work):
    """One chain of :func:`anneal` from its start sr (overwritten with x_T), uniforms ur (T, 2N + 2) and work
    arrays (:func:`_buffers`): (ln w, E(x_T), accepted flips, accepted proposals)."""
    c, l1, l2, e1, e2, v1, v2, n1, n2, sp = work
    n = sr.shape[0]
    T = g.shape[0] - 2
    L1, L2 = _start(b, rowptr, cols, w, mirrored, sr, c, l1, l2, e1, e2, v1, v2)
    E = _energy(indptr, indices, data, hfield, sr)
    lq = _lnq(L1, L2, mirrored)
    lw = 0.0
    acc = 0
    jmp = 0
    for t in range(1, T + 1):
        lw += (g[t] - g[t - 1]) * (-beta * E - lq)
        gt = g[t]
        # an independence proposal x' ~ q, accepted with min(1, (w(x')/w(x))^g_t), w = e^{-beta E}/q (Liu,
        # Statistics and Computing 6, 113 (1996)): the move between the clusters of low-energy states that
        # single flips cannot leave at large beta, so that the chains' mass follows pi_t's, not q's
        P1, P2 = _draw(b, rowptr, cols, w, mirrored, ur[t - 1, n:2 * n + 1], sp)
        Ep = _energy(indptr, indices, data, hfield, sp)
        lqp = _lnq(P1, P2, mirrored)
        loga = gt * ((-beta * Ep - lqp) - (-beta * E - lq))
        if loga >= 0.0 or ur[t - 1, 2 * n + 1] < math.exp(loga):
            sr[:] = sp
            L1, L2 = _start(b, rowptr, cols, w, mirrored, sr, c, l1, l2, e1, e2, v1, v2)
            E = Ep
            lq = _lnq(L1, L2, mirrored)
            jmp += 1
        for j in range(n):
            sj = sr[j]
            dE = 2.0 * sj * _local_field(indptr, indices, data, hfield, sr, j)
            # Delta ln q <= max of the own terms + sum 2|w| over the children (ln sigmoid is 1-Lipschitz), so
            # a uniform above e^{that bound} rejects without the children: the same decision, cheaper
            own = -sj * (b[j] + c[j])
            if mirrored:
                own = max(own, sj * (b[j] - c[j]))
            bound = (1.0 - gt) * (own + reach[j]) - gt * beta * dE
            if bound < 0.0 and ur[t - 1, j] >= math.exp(bound):
                continue
            d1, d2 = _flip(j, fast, b, w, ep, em, tptr, tchild, tpair, mirrored, sr, c, l1, l2, e1, e2, v1, v2,
                           n1, n2, False)
            dlq = _lnq(L1 + d1, L2 + d2, mirrored) - lq
            loga = (1.0 - gt) * dlq - gt * beta * dE
            if loga >= 0.0 or ur[t - 1, j] < math.exp(loga):
                _flip(j, fast, b, w, ep, em, tptr, tchild, tpair, mirrored, sr, c, l1, l2, e1, e2, v1, v2, n1, n2,
                      True)
                L1 += d1
                L2 += d2
                E += dE
                lq = _lnq(L1, L2, mirrored)
                acc += 1
        if t % REFRESH == 0 or t == T:  # every sum and cached term afresh: no rounding carried along the chain
            L1, L2 = _start(b, rowptr, cols, w, mirrored, sr, c, l1, l2, e1, e2, v1, v2)
            E = _energy(indptr, indices, data, hfield, sr)
            lq = _lnq(L1, L2, mirrored)
    lw += (g[T + 1] - g[T]) * (-beta * E - lq)
    return lw, E, acc, jmp


@njit
def flip_sequence(b, rowptr, cols, w, tptr, tchild, tpair, indptr, indices, data, hfield, mirrored, s, flips,
                  lnq, dE, exact_terms):
    """Flip the spins ``flips`` of one configuration in turn with the incremental updates of :func:`anneal`.

    A check of the kernel's bookkeeping against recomputation from scratch (tests).

    Parameters
    ----------
    b, rowptr, cols, w, tptr, tchild, tpair, indptr, indices, data, hfield : ndarray
        q's pairs and weights, their transposed lists and the couplings, as in :func:`anneal`.
    mirrored : bool
        q is symmetrised.
    s : ndarray of float64, shape (N,)
        The configuration (+-1), flipped in place.
    flips : ndarray of int64, shape (F,)
        The spins flipped, in order.
    lnq : ndarray of float64, shape (F + 1,)
        Output: ln q (ln q_sym where ``mirrored``) before the first flip and after each, incrementally.
    dE : ndarray of float64, shape (F,)
        Output: the energy change of each flip, from the couplings of the flipped spin.
    exact_terms : bool
        The log-sigmoid path (True) or the product form (False; as :func:`anneal` where it is safe).
    """
    c, l1, l2, e1, e2, v1, v2, n1, n2, _sp = _buffers(s.shape[0], _widest(tptr))
    ep, em = np.exp(2.0 * w), np.exp(-2.0 * w)
    L1, L2 = _start(b, rowptr, cols, w, mirrored, s, c, l1, l2, e1, e2, v1, v2)
    lnq[0] = _lnq(L1, L2, mirrored)
    for f in range(flips.shape[0]):
        j = flips[f]
        dE[f] = 2.0 * s[j] * _local_field(indptr, indices, data, hfield, s, j)
        d1, d2 = _flip(j, not exact_terms, b, w, ep, em, tptr, tchild, tpair, mirrored, s, c, l1, l2, e1, e2, v1, v2,
                       n1, n2, True)
        L1 += d1
        L2 += d2
        lnq[f + 1] = _lnq(L1, L2, mirrored)
