"""Cutset conditioning: enumerate the spins of a cutset C, sum the remaining forest exactly.

Removing the spins of C from the coupling graph leaves a forest F.  For each configuration
sigma of C (in Gray-code order, one flip per step), the spins of F see the fields

    H_i = h_i + sum_{c in C} J_ic sigma_c,

and the forest is summed exactly by sum-product from the leaves (isolated spins: ln 2cosh).
A flip of sigma_c changes only the H_i of its neighbours and E_C(sigma) by 2 sigma_c g_c.

**Moments by mixtures.**  Every quantity is carried as a *mixture*: a log weight L and, under
the normalised distribution, the mean and variance of E and of M = sum_i s_i, and the entropy S.
Two disjoint mixtures with weights p_a + p_b = 1 combine as

    mean = p_a mu_a + p_b mu_b,   var = p_a v_a + p_b v_b + p_a p_b (mu_a - mu_b)^2,
    S = p_a S_a + p_b S_b + H2(p_a),                               (:func:`_mix_rows`)

and independent parts (the children of a tree node, the components of the forest) add.  Summing
out a tree spin given its parent's spin is a mixture of its two states; summing over the
configurations of C is a running mixture.  All the terms of var and S are >= 0, so the heat
capacity, the susceptibility and the entropy keep their relative accuracy at large beta, where
they are exponentially small (the law of total variance and the chain rule of entropy instead of
the cancelling S2/S0 - (S1/S0)^2 of raw moments; the expectation semiring of Li & Eisner,
EMNLP 2009, in its centred form).  The beta grid is the innermost loop: the mixtures of a
tree node at every beta form one vectorised pass.  The minimum energy per configuration is the
min-sum on the same forest.

Layout: the cutset spins are bits 0..c-1 of the Gray code; the forest spins are numbered
0..nf-1 with the n_iso isolated spins first, then the tree nodes with every parent after its
children (roots last in each component).
"""

import numpy as np
from numba import prange

from ._jit import FAST, njit, pjit
from .blocked import _ctz, _exp_neg
from .bp import _root_tree

#: Quantities of a mixture, in this order: ln weight, <E>, Var E, <M>, Var M, entropy.
N_QUANT = 6
# 2/(2k+1), k = 0..15: ln(1 + e) = z sum_k 2 z^2k/(2k+1), z = e/(2 + e)
_L0, _L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10, _L11, _L12, _L13, _L14, _L15 = (
    2.0 / (2 * k + 1) for k in range(16))


# ---------------------------------------------------------------------------- structure
@njit
def greedy_fvs(indptr, indices, limit):
    """A feedback vertex set by the greedy 2-core rule.

    Prune vertices of degree <= 1, then repeatedly take the vertex of highest remaining degree (lowest
    index on ties) and prune again.

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (N+1,) and (2E,)
        Symmetric CSR pattern of the coupling graph.
    limit : int
        Stop after limit + 1 vertices (the caller refuses then).

    Returns
    -------
    ndarray of int64, shape (k,)
        The chosen vertices in the order taken; removing them leaves a forest (when k <= limit).
    """
    n = indptr.size - 1
    deg = np.empty(n, dtype=np.int64)
    alive = np.ones(n, dtype=np.bool_)
    stack = np.empty(n, dtype=np.int64)
    top = 0
    for v in range(n):
        deg[v] = indptr[v + 1] - indptr[v]
        if deg[v] <= 1:
            stack[top] = v
            top += 1
            alive[v] = False
    cut = np.empty(limit + 1, dtype=np.int64)
    k = 0
    while True:
        while top > 0:  # prune leaves and isolated vertices
            top -= 1
            v = stack[top]
            for p in range(indptr[v], indptr[v + 1]):
                u = indices[p]
                if alive[u]:
                    deg[u] -= 1
                    if deg[u] <= 1:
                        alive[u] = False
                        stack[top] = u
                        top += 1
        best = -1
        for v in range(n):
            if alive[v] and (best < 0 or deg[v] > deg[best]):
                best = v
        if best < 0 or k > limit:
            break
        cut[k] = best
        k += 1
        alive[best] = False
        stack[top] = best
        top += 1
    return cut[:k]


@njit
def forest_layout(indptr, indices, in_forest):
    """Root the forest left by the cutset (breadth first, :func:`isingvar.kernels.bp._root_tree`).

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (N+1,) and (2E,)
        Symmetric CSR pattern of the coupling graph.
    in_forest : ndarray of bool, shape (N,)
        Whether each vertex is in the forest (not in the cutset).

    Returns
    -------
    fvert : ndarray of int64, shape (nf,)
        The forest vertices in the layout of the module docstring.
    n_iso : int
        Number of isolated forest spins (the first ``n_iso`` of ``fvert``).
    parent : ndarray of int64, shape (nf,)
        The parent's forest index, or -1.
    pslot : ndarray of int64, shape (nf,)
        The CSR slot (vertex -> parent vertex), or -1.
    """
    n = indptr.size - 1
    chosen = np.zeros(indices.size, dtype=np.bool_)
    fdeg = np.zeros(n, dtype=np.int64)
    for v in range(n):
        if in_forest[v]:
            for p in range(indptr[v], indptr[v + 1]):
                if in_forest[indices[p]]:
                    chosen[p] = True
                    fdeg[v] += 1
    order = np.empty(n, dtype=np.int64)
    par = np.empty(n, dtype=np.int64)
    ps = np.empty(n, dtype=np.int64)
    _root_tree(indptr, indices, chosen, order, par, ps)
    nf = 0
    n_iso = 0
    for v in range(n):
        if in_forest[v]:
            nf += 1
            if fdeg[v] == 0:
                n_iso += 1
    fvert = np.empty(nf, dtype=np.int64)
    local = np.full(n, -1, dtype=np.int64)
    q = 0
    for v in range(n):
        if in_forest[v] and fdeg[v] == 0:
            fvert[q] = v
            local[v] = q
            q += 1
    for r in range(n - 1, -1, -1):  # reversed breadth-first order: children before parents
        v = order[r]
        if in_forest[v] and fdeg[v] > 0:
            fvert[q] = v
            local[v] = q
            q += 1
    parent = np.full(nf, -1, dtype=np.int64)
    pslot = np.full(nf, -1, dtype=np.int64)
    for q in range(n_iso, nf):
        v = fvert[q]
        if par[v] >= 0:
            parent[q] = local[par[v]]
            pslot[q] = ps[v]
    return fvert, n_iso, parent, pslot


# ---------------------------------------------------------------------------- mixtures
@njit(inline="always")
def _ln1p(e):
    """ln(1 + e) for 0 <= e <= 1 as 2 atanh(z), z = e/(2 + e) <= 1/3, by its series (16 terms in
    z^2 <= 1/9, < 2e-16 relative): relative accuracy where e is tiny, and no libm call, so loops
    vectorise.  Estrin's scheme (a tree of depth 4, as the exact kernels' exp) instead of Horner's
    chain of 15 dependent FMAs."""
    z = e / (2.0 + e)
    w = z * z
    w2 = w * w
    w4 = w2 * w2
    r0 = (_L0 + _L1 * w) + (_L2 + _L3 * w) * w2
    r1 = (_L4 + _L5 * w) + (_L6 + _L7 * w) * w2
    r2 = (_L8 + _L9 * w) + (_L10 + _L11 * w) * w2
    r3 = (_L12 + _L13 * w) + (_L14 + _L15 * w) * w2
    return z * ((r0 + r1 * w4) + (r2 + r3 * w4) * (w4 * w4))


@njit(fastmath=FAST, error_model="numpy")
def _mix_rows(a, b, x, betas, d, e, out, pb_out):
    """The mixture of two disjoint parts (module docstring) at every beta, into ``out``.

    a, b, out : float64 (6, nb) rows as in :data:`N_QUANT`; L finite.  x : a parent spin's
    coupling term J s_p: a (own spin +1) is taken with L + beta x and <E> - x, b (own spin -1)
    with L - beta x and <E> + x (x = 0: plain mixture).  d, e : work (nb,).  pb_out (nb,): the
    weight of b.  One vectorised exp per beta (:func:`_exp_neg`; below e^-707 it gives ~1e-307,
    which weighs nothing) and the series :func:`_ln1p`.
    """
    nb = betas.size
    for l in range(nb):
        d[l] = abs((a[0, l] - b[0, l]) + 2.0 * betas[l] * x)
    _exp_neg(d, 1.0, e)
    for l in range(nb):
        bx = betas[l] * x
        la = a[0, l] + bx
        lb = b[0, l] - bx
        ea = a[1, l] - x
        eb = b[1, l] + x
        el = e[l]
        l1 = _ln1p(el)
        big = 1.0 / (1.0 + el)
        small = el * big
        first = la >= lb
        pa = big if first else small
        pb = small if first else big
        pp = pa * pb
        dE = ea - eb
        dM = a[3, l] - b[3, l]
        out[0, l] = (la if first else lb) + l1
        out[1, l] = pa * ea + pb * eb
        out[2, l] = pa * a[2, l] + pb * b[2, l] + pp * dE * dE
        out[3, l] = pa * a[3, l] + pb * b[3, l]
        out[4, l] = pa * a[4, l] + pb * b[4, l] + pp * dM * dM
        # binary entropy -pa ln pa - pb ln pb = ln(1 + e) + p_small d
        out[5, l] = pa * a[5, l] + pb * b[5, l] + l1 + small * d[l]
        pb_out[l] = pb


@njit
def merge_parts(acc_a, site_a, acc_b, site_b, betas):
    """Merge mixture b into a in place; a with L = -inf (nothing yet) becomes b.

    A part b with L = -inf (a worker without a chunk) is skipped.

    Parameters
    ----------
    acc_a : ndarray of float64, shape (6, nb)
        Mixture a, rows as in :data:`N_QUANT`; updated in place.
    site_a : ndarray of float64, shape (N, nb or 0)
        Per-site means of a, mixed with the same weights; updated in place.
    acc_b : ndarray of float64, shape (6, nb)
        Mixture b.
    site_b : ndarray of float64, shape (N, nb or 0)
        Per-site means of b.
    betas : ndarray of float64, shape (nb,)
        Inverse temperatures.
    """
    if acc_b[0, 0] == -np.inf:
        return
    if acc_a[0, 0] == -np.inf:
        acc_a[:] = acc_b
        site_a[:] = site_b
        return
    nb = betas.size
    out = np.empty_like(acc_a)
    d = np.empty(nb)
    e = np.empty(nb)
    pb = np.empty(nb)
    _mix_rows(acc_a, acc_b, 0.0, betas, d, e, out, pb)
    acc_a[:] = out
    _mix_sites(site_a, site_b, pb)


@njit(fastmath=FAST)
def _mix_sites(site, new, pb):
    """site[i, b] = (1 - pb[b]) site[i, b] + pb[b] new[i, b] (absolute accuracy is what sites need)."""
    for i in range(site.shape[0]):
        row = site[i]
        nrow = new[i]
        for b in range(row.size):
            row[b] += pb[b] * (nrow[b] - row[b])


# ---------------------------------------------------------------------------- the forest
@njit(fastmath=FAST, error_model="numpy")
def _isolated_sums(y, sg, e):
    """Sums over isolated spins with y = 2|H|, e = exp(-beta y) (vectorised; no libm call).

    Returns (sum ln(1 + e), sum <E>, sum Var E, sum <M>, sum Var M, sum y e / (1 + e)).  Per spin:
    <s> = sign(H) t, t = (1 - e)/(1 + e); Var s = sech^2 = 4 e / (1 + e)^2; <E> = -|H| t.
    ln(1 + e) by :func:`_ln1p`: the entropy keeps its relative accuracy where every e is tiny (the
    logarithm of a product of the (1 + e) had only absolute accuracy).
    """
    l1 = mE = vE = mM = vM = sx = 0.0
    for i in range(y.size):
        ei = e[i]
        yi = y[i]
        r = 1.0 / (1.0 + ei)
        t = (1.0 - ei) * r
        sech2 = 4.0 * ei * r * r
        l1 += _ln1p(ei)
        mE -= 0.5 * yi * t
        vE += 0.25 * yi * yi * sech2
        mM += sg[i] * t
        vM += sech2
        sx += yi * ei * r
    return l1, mE, vE, mM, vM, sx


@njit(fastmath=FAST, error_model="numpy")
def _isolated_sites(sg, e, fm, b):
    """fm[i, b] = <s_i> = sign(H_i) (1 - e_i)/(1 + e_i) for the isolated spins."""
    for i in range(e.size):
        fm[i, b] = sg[i] * (1.0 - e[i]) / (1.0 + e[i])


@njit
def _isolated(y, sg, e, ysum, betas, cfg, fm, sites):
    """The mixture of the isolated spins at every beta into cfg (6, nb); <s_i> into fm[i, :]."""
    for b in range(betas.size):
        beta = betas[b]
        _exp_neg(y, beta, e)
        l1, mE, vE, mM, vM, sx = _isolated_sums(y, sg, e)
        if sites:
            _isolated_sites(sg, e, fm, b)
        # ln 2cosh(x) = |x| + ln(1 + e^-2|x|);  entropy ln(1 + e) + 2|x| e/(1 + e) >= 0
        cfg[0, b] = 0.5 * beta * ysum + l1
        cfg[1, b] = mE
        cfg[2, b] = vE
        cfg[3, b] = mM
        cfg[4, b] = vM
        cfg[5, b] = l1 + beta * sx


@njit(fastmath=FAST)
def _add_rows(target, rows):
    for k in range(rows.shape[0]):
        t = target[k]
        r = rows[k]
        for l in range(r.size):
            t[l] += r[l]


@njit
def _trees(betas, H, n_iso, parent, Jp, slot, cm, tmp, d, e, pb, cfg, fm, sites):
    """Add the mixture of the tree nodes at every beta to cfg (6, nb) by sum-product from the
    leaves, vectorised over beta; <s_i> into fm[i, :].

    slot : float64 (nf, 2, 6, nb) work: per node and own spin (+1, -1), the mixture of its subtree.
    cm : float64 (nf, 2, nb) work: <s_q | s_parent = +1, -1> (roots: <s_q> in column 0).
    tmp : float64 (6, nb), d, e, pb : float64 (nb,) work.
    """
    nf = H.size
    nb = betas.size
    for q in range(n_iso, nf):
        x = H[q]
        for k in range(2):
            s = 1.0 - 2.0 * k
            row = slot[q, k]
            for l in range(nb):
                row[0, l] = betas[l] * x * s
                row[1, l] = -x * s
                row[2, l] = 0.0
                row[3, l] = s
                row[4, l] = 0.0
                row[5, l] = 0.0
    for q in range(n_iso, nf):
        # few array views per node: each costs a reference count, more than a mixture at one beta
        a = slot[q, 0]
        b = slot[q, 1]
        p = parent[q]
        if p < 0:
            _mix_rows(a, b, 0.0, betas, d, e, tmp, pb)
            _add_rows(cfg, tmp)
            for l in range(nb):
                cm[q, 0, l] = 1.0 - 2.0 * pb[l]
        else:
            up = slot[p]
            for k in range(2):  # the parent's spin; the edge adds -J s_q s_p to E
                _mix_rows(a, b, Jp[q] * (1.0 - 2.0 * k), betas, d, e, tmp, pb)
                for j in range(N_QUANT):
                    for l in range(nb):
                        up[k, j, l] += tmp[j, l]
                for l in range(nb):
                    cm[q, k, l] = 1.0 - 2.0 * pb[l]
    if sites:  # parents first: <s_q> = sum over s_p of P(s_p) <s_q | s_p>
        for q in range(nf - 1, n_iso - 1, -1):
            p = parent[q]
            for l in range(nb):
                if p < 0:
                    fm[q, l] = cm[q, 0, l]
                else:
                    fm[q, l] = 0.5 * ((1.0 + fm[p, l]) * cm[q, 0, l] + (1.0 - fm[p, l]) * cm[q, 1, l])


@njit
def forest_min(H, n_iso, parent, Jp, best, spins):
    """Minimum forest energy given the fields H (min-sum from the leaves).

    Parameters
    ----------
    H : ndarray of float64, shape (nf,)
        Forest fields.
    n_iso : int
        Isolated forest spins (0..n_iso-1).
    parent : ndarray of int64, shape (nf,)
        Forest parent (-1 for roots and isolated spins).
    Jp : ndarray of float64, shape (nf,)
        The coupling to the parent.
    best : ndarray of float64, shape (nf, 2)
        Work space.
    spins : ndarray of float64, shape (nf,) or (0,)
        Output: a minimising configuration (entries +-1); size 0 for none.

    Returns
    -------
    float
        The minimum forest energy.
    """
    nf = H.size
    e = 0.0
    for i in range(n_iso):
        e -= abs(H[i])
        if spins.size:
            spins[i] = 1.0 if H[i] >= 0.0 else -1.0
    for q in range(n_iso, nf):
        best[q, 0] = -H[q]
        best[q, 1] = H[q]
    for q in range(n_iso, nf):
        p = parent[q]
        if p < 0:
            e += min(best[q, 0], best[q, 1])
        else:
            J = Jp[q]
            for k in range(2):
                sp = 1.0 - 2.0 * k
                best[p, k] += min(best[q, 0] - J * sp, best[q, 1] + J * sp)
    if spins.size:
        for q in range(nf - 1, n_iso - 1, -1):
            p = parent[q]
            if p < 0:
                spins[q] = 1.0 if best[q, 0] <= best[q, 1] else -1.0
            else:
                sp = spins[p]
                spins[q] = 1.0 if best[q, 0] - Jp[q] * sp <= best[q, 1] + Jp[q] * sp else -1.0
    return e


# ---------------------------------------------------------------------------- the cutset
@njit
def cut_state(t, n_enum, sigma, gC, H, hC, hF, cc_ptr, cc_nbr, cc_J, cf_ptr, cf_nbr, cf_J):
    """Set the cutset to Gray index t (bits >= n_enum held at +1) and the fields from scratch.

    Parameters
    ----------
    t : int
        Gray index.
    n_enum : int
        Cutset bits enumerated; bits n_enum..c-1 are held at +1.
    sigma : ndarray of float64, shape (c,)
        Output: the cutset spins.
    gC : ndarray of float64, shape (c,)
        Output: their fields h_c + sum_{c' in C} J_cc' sigma_c'.
    H : ndarray of float64, shape (nf,)
        Output: the forest fields H_i = h_i + sum_{c in C} J_ic sigma_c.
    hC : ndarray of float64, shape (c,)
        Fields of the cutset spins.
    hF : ndarray of float64, shape (nf,)
        Fields of the forest spins.
    cc_ptr, cc_nbr, cc_J : ndarray, int64 (c+1,), int64 (.,), float64 (.,)
        Couplings inside the cutset, both directions (CSR over bits).
    cf_ptr, cf_nbr, cf_J : ndarray, int64 (c+1,), int64 (.,), float64 (.,)
        Couplings from each cutset bit to forest spins.

    Returns
    -------
    E_C : float
        The energy of the cutset's own couplings and fields.
    M_C : float
        The cutset's magnetisation.
    """
    c = sigma.size
    code = t ^ (t >> 1)
    for b in range(c):
        sigma[b] = 1.0 - 2.0 * ((code >> b) & 1) if b < n_enum else 1.0
    for i in range(H.size):
        H[i] = hF[i]
    e = 0.0
    m = 0.0
    for b in range(c):
        g = hC[b]
        for p in range(cc_ptr[b], cc_ptr[b + 1]):
            g += cc_J[p] * sigma[cc_nbr[p]]
        gC[b] = g
        e -= 0.5 * sigma[b] * (g + hC[b])
        m += sigma[b]
        for p in range(cf_ptr[b], cf_ptr[b + 1]):
            H[cf_nbr[p]] += cf_J[p] * sigma[b]
    return e, m


@njit
def _flip(b, sigma, gC, H, cc_ptr, cc_nbr, cc_J, cf_ptr, cf_nbr, cf_J):
    """Flip cutset spin b; returns the changes of E_C and M_C."""
    s = sigma[b]
    de = 2.0 * s * gC[b]
    for p in range(cc_ptr[b], cc_ptr[b + 1]):
        gC[cc_nbr[p]] -= 2.0 * cc_J[p] * s
    for p in range(cf_ptr[b], cf_ptr[b + 1]):
        H[cf_nbr[p]] -= 2.0 * cf_J[p] * s
    sigma[b] = -s
    return de, -2.0 * s


@njit(fastmath=FAST)
def _abs_fields(H, y, sg):
    """y = 2|H|, sg = sign(H) (+1 at 0) over the isolated spins; returns sum y."""
    total = 0.0
    for i in range(y.size):
        x = H[i]
        a = abs(x)
        y[i] = 2.0 * a
        sg[i] = 1.0 if x >= 0.0 else -1.0
        total += 2.0 * a
    return total


@pjit
def cutset_chunks(c_lo, c_hi, n_workers, chunk_bits, n_enum, cc_ptr, cc_nbr, cc_J, hC, cf_ptr, cf_nbr, cf_J,
                  hF, n_iso, parent, Jp, betas, sites):
    """Mixtures over the cutset configurations of chunks c_lo..c_hi-1 of its Gray sequence.

    Parameters
    ----------
    c_lo, c_hi : int
        Chunk range; chunk ch holds Gray indices ch 2^chunk_bits .. (ch + 1) 2^chunk_bits - 1 and
        goes to worker (ch - c_lo) % n_workers; each chunk starts from scratch (no drift).
    n_workers : int
    chunk_bits : int
    n_enum : int
        Cutset bits enumerated; bits n_enum..c-1 are held at +1 (the h = 0 symmetry).
    cc_ptr, cc_nbr, cc_J : int64 (c+1,), int64 (.,), float64 (.,)
        Couplings inside the cutset, both directions (CSR over bits).
    hC : float64 (c,)
        Fields of the cutset spins.
    cf_ptr, cf_nbr, cf_J : int64 (c+1,), int64 (.,), float64 (.,)
        Couplings from each cutset bit to forest spins.
    hF : float64 (nf,)
        Fields of the forest spins.
    n_iso : int
        Isolated forest spins (0..n_iso-1).
    parent, Jp : int64 (nf,), float64 (nf,)
        Forest parent (-1 for roots and isolated spins) and the coupling to it.
    betas : float64 (nb,)
    sites : bool
        Also the per-site means.

    Returns
    -------
    acc : float64 (n_workers, 6, nb)
        Each worker's mixture (L, <E>, Var E, <M>, Var M, S) per beta; L = -inf for a worker
        without a chunk.
    site : float64 (n_workers, c + nf, nb or 0)
        Per-site means <s>: cutset bits, then forest spins.
    e_min : float64 (n_workers,)
        Lowest energy seen (inf without a chunk).
    t_min : int64 (n_workers,)
        Gray index of a cutset configuration that reaches it.
    """
    c = hC.size
    nf = hF.size
    nb = betas.size
    size = np.int64(1) << chunk_bits
    acc = np.zeros((n_workers, N_QUANT, nb))
    acc[:, 0, :] = -np.inf
    site = np.zeros((n_workers, c + nf, nb if sites else 0))
    e_min = np.full(n_workers, np.inf)
    t_min = np.zeros(n_workers, dtype=np.int64)
    for wk in prange(n_workers):
        sigma = np.empty(c)
        gC = np.empty(c)
        H = np.empty(nf)
        y = np.empty(n_iso)
        sg = np.empty(n_iso)
        e = np.empty(n_iso)
        fm = np.zeros((nf, nb))
        slot = np.empty((nf, 2, N_QUANT, nb))
        cm = np.empty((nf, 2, nb))
        best = np.empty((nf, 2))
        cfg = np.empty((N_QUANT, nb))
        tmp = np.empty((N_QUANT, nb))
        d = np.empty(nb)
        eb = np.empty(nb)
        pb = np.empty(nb)
        none = np.empty(0)
        # this worker's own accumulators, copied out at the end: rows of the shared arrays
        # written per configuration share cache lines between threads (2 threads ran 3x slower)
        a = np.empty((N_QUANT, nb))
        sw = np.zeros((c + nf, nb if sites else 0))
        emin = np.inf
        tmin = 0
        first = True
        for ch in range(c_lo + wk, c_hi, n_workers):
            t0 = ch * size
            eC, mC = cut_state(t0, n_enum, sigma, gC, H, hC, hF, cc_ptr, cc_nbr, cc_J, cf_ptr, cf_nbr, cf_J)
            for local in range(size):
                if local > 0:
                    de, dm = _flip(_ctz(local), sigma, gC, H, cc_ptr, cc_nbr, cc_J, cf_ptr, cf_nbr, cf_J)
                    eC += de
                    mC += dm
                ysum = _abs_fields(H, y, sg)
                etot = eC + forest_min(H, n_iso, parent, Jp, best, none) if nf > n_iso else eC - 0.5 * ysum
                if etot < emin:
                    emin = etot
                    tmin = t0 + local
                _isolated(y, sg, e, ysum, betas, cfg, fm, sites)
                if nf > n_iso:
                    _trees(betas, H, n_iso, parent, Jp, slot, cm, tmp, d, eb, pb, cfg, fm, sites)
                for l in range(nb):  # the cutset's own energy and magnetisation
                    cfg[0, l] -= betas[l] * eC
                    cfg[1, l] += eC
                    cfg[3, l] += mC
                if first:
                    a[:] = cfg
                    for l in range(nb):
                        pb[l] = 1.0
                    first = False
                else:
                    _mix_rows(a, cfg, 0.0, betas, d, eb, tmp, pb)
                    a[:] = tmp
                if sites:
                    for i in range(c):
                        row = sw[i]
                        for l in range(nb):
                            row[l] += pb[l] * (sigma[i] - row[l])
                    _mix_sites(sw[c:], fm, pb)
        if not first:
            acc[wk] = a
            site[wk] = sw
        e_min[wk] = emin
        t_min[wk] = tmin
    return acc, site, e_min, t_min
