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
    S = p_a S_a + p_b S_b + H2(p_a),                                     (:func:`mix`)

and independent parts (the children of a tree node, the components of the forest) add.  Summing
out a tree spin given its parent's spin is a mixture of its two states; summing over the
configurations of C is a running mixture.  All the terms of var and S are >= 0, so the heat
capacity, the susceptibility and the entropy keep their relative accuracy at large beta, where
they are exponentially small (the law of total variance and the chain rule of entropy instead of
the cancelling S2/S0 - (S1/S0)^2 of raw moments; the expectation semiring of Li & Eisner,
EMNLP 2009, in its centred form).  The minimum energy per configuration is the min-sum on the
same forest.

Layout: the cutset spins are bits 0..c-1 of the Gray code; the forest spins are numbered
0..nf-1 with the n_iso isolated spins first, then the tree nodes with every parent after its
children (roots last in each component).
"""

import numpy as np
from numba import prange

from ._jit import njit, pjit
from .blocked import _FAST, _ctz, _exp_neg
from .bp import _root_tree

#: Quantities of a mixture, in this order: ln weight, <E>, Var E, <M>, Var M, entropy.
N_QUANT = 6
# 2/(2k+1), k = 0..15: ln(1 + e) = z sum_k 2 z^2k/(2k+1), z = e/(2 + e)
_L0, _L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10, _L11, _L12, _L13, _L14, _L15 = (
    2.0 / (2 * k + 1) for k in range(16))


# ---------------------------------------------------------------------------- structure
@njit
def greedy_fvs(indptr, indices, limit):
    """A feedback vertex set by the greedy 2-core rule: prune vertices of degree <= 1, then
    repeatedly take the vertex of highest remaining degree (lowest index on ties) and prune again.

    indptr, indices : int64 (N+1,), int64 (2E,)  symmetric CSR pattern.
    limit : int  stop after limit + 1 vertices (the caller refuses then).
    Returns int64 (k,) the chosen vertices in the order taken; removing them leaves a forest
    (when k <= limit).
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

    in_forest : bool (N,).  Returns (fvert, n_iso, parent, pslot): fvert int64 (nf,) the forest
    vertices in the layout of the module docstring; parent int64 (nf,) the parent's forest index or
    -1; pslot int64 (nf,) the CSR slot (vertex -> parent vertex) or -1.
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
def mix(La, Ea, vEa, Ma, vMa, Sa, Lb, Eb, vEb, Mb, vMb, Sb):
    """Combine two disjoint parts (module docstring).  Returns (L, p_a, p_b, <E>, Var E, <M>, Var M, S).

    A part with L = -inf (nothing yet, its other entries 0) gets weight 0.
    """
    if La >= Lb:
        d = La - Lb
        top = La
    else:
        d = Lb - La
        top = Lb
    e = np.exp(-d)
    l1 = np.log1p(e)
    big = 1.0 / (1.0 + e)
    small = e * big
    if La >= Lb:
        pa = big
        pb = small
    else:
        pa = small
        pb = big
    # binary entropy -p ln p - q ln q = ln(1 + e) + p_small d, without 0 * inf
    h2 = l1 + small * d if e > 0.0 else 0.0
    pp = pa * pb
    dE = Ea - Eb
    dM = Ma - Mb
    return (top + l1, pa, pb, pa * Ea + pb * Eb, pa * vEa + pb * vEb + pp * dE * dE,
            pa * Ma + pb * Mb, pa * vMa + pb * vMb + pp * dM * dM, pa * Sa + pb * Sb + h2)


@njit
def merge_parts(acc_a, site_a, acc_b, site_b):
    """Merge mixture b into a in place: acc (nb, 6) as in :data:`N_QUANT`; site (nb or 0, N)
    per-site means, mixed with the same weights."""
    for b in range(acc_a.shape[0]):
        a = acc_a[b]
        o = acc_b[b]
        if o[0] == -np.inf:
            continue
        L, pa, pb, E, vE, M, vM, S = mix(a[0], a[1], a[2], a[3], a[4], a[5], o[0], o[1], o[2], o[3], o[4], o[5])
        a[0], a[1], a[2], a[3], a[4], a[5] = L, E, vE, M, vM, S
        if site_a.shape[0]:
            for i in range(site_a.shape[1]):
                site_a[b, i] = pa * site_a[b, i] + pb * site_b[b, i]


# ---------------------------------------------------------------------------- the forest
@njit(fastmath=_FAST, error_model="numpy")
def _isolated_sums(y, sg, e):
    """Sums over isolated spins with y = 2|H|, e = exp(-beta y) (vectorised; no libm call).

    Returns (sum ln(1 + e), sum <E>, sum Var E, sum <M>, sum Var M, sum y e / (1 + e)).  Per spin:
    <s> = sign(H) t, t = (1 - e)/(1 + e); Var s = sech^2 = 4 e / (1 + e)^2; <E> = -|H| t.
    ln(1 + e) = 2 atanh(z), z = e/(2 + e) <= 1/3, by its series (16 terms: < 1e-16 relative):
    relative accuracy when e is tiny (the entropy at low temperature; a logarithm of the product
    of the (1 + e) had only absolute accuracy), and it vectorises.
    """
    l1 = mE = vE = mM = vM = sx = 0.0
    for i in range(y.size):
        ei = e[i]
        yi = y[i]
        r = 1.0 / (1.0 + ei)
        t = (1.0 - ei) * r
        sech2 = 4.0 * ei * r * r
        z = ei / (2.0 + ei)
        w = z * z
        p = _L15
        p = p * w + _L14
        p = p * w + _L13
        p = p * w + _L12
        p = p * w + _L11
        p = p * w + _L10
        p = p * w + _L9
        p = p * w + _L8
        p = p * w + _L7
        p = p * w + _L6
        p = p * w + _L5
        p = p * w + _L4
        p = p * w + _L3
        p = p * w + _L2
        p = p * w + _L1
        p = p * w + _L0
        l1 += z * p
        mE -= 0.5 * yi * t
        vE += 0.25 * yi * yi * sech2
        mM += sg[i] * t
        vM += sech2
        sx += yi * ei * r
    return l1, mE, vE, mM, vM, sx


@njit(fastmath=_FAST, error_model="numpy")
def _isolated_sites(sg, e, out):
    """out[i] = <s_i> = sign(H_i) (1 - e_i)/(1 + e_i) for isolated spins."""
    for i in range(e.size):
        out[i] = sg[i] * (1.0 - e[i]) / (1.0 + e[i])


@njit
def _isolated(y, sg, e, ysum, beta, fm, sites):
    """The mixture (L, <E>, Var E, <M>, Var M, S) of the isolated spins at ``beta``; <s_i> into fm."""
    _exp_neg(y, beta, e)
    l1, mE, vE, mM, vM, sx = _isolated_sums(y, sg, e)
    if sites:
        _isolated_sites(sg, e, fm[:y.size])
    # ln 2cosh(x) = |x| + ln(1 + e^-2|x|);  entropy ln(1 + e) + 2|x| e/(1 + e) >= 0
    return 0.5 * beta * ysum + l1, mE, vE, mM, vM, l1 + beta * sx


@njit
def _trees(beta, H, n_iso, parent, Jp, slot, cm, fm, sites):
    """The mixture of the tree nodes at ``beta`` by sum-product from the leaves; <s_i> into fm.

    slot : float64 (nf, 2, 6) work: per node and own spin (+1, -1), the mixture of its subtree.
    cm : float64 (nf, 2) work: <s_q | s_parent = +1, -1> (roots: <s_q> in column 0).
    """
    nf = H.size
    for q in range(n_iso, nf):
        x = H[q]
        for k in range(2):
            s = 1.0 - 2.0 * k
            slot[q, k, 0] = beta * x * s
            slot[q, k, 1] = -x * s
            slot[q, k, 2] = 0.0
            slot[q, k, 3] = s
            slot[q, k, 4] = 0.0
            slot[q, k, 5] = 0.0
    tL = tE = tvE = tM = tvM = tS = 0.0
    for q in range(n_iso, nf):
        a = slot[q, 0]
        b = slot[q, 1]
        p = parent[q]
        if p < 0:
            L, pa, pb, E, vE, M, vM, S = mix(a[0], a[1], a[2], a[3], a[4], a[5], b[0], b[1], b[2], b[3], b[4], b[5])
            tL += L
            tE += E
            tvE += vE
            tM += M
            tvM += vM
            tS += S
            cm[q, 0] = pa - pb
        else:
            J = Jp[q]
            for k in range(2):
                sp = 1.0 - 2.0 * k  # the parent's spin; the edge adds -J s_q s_p to E
                L, pa, pb, E, vE, M, vM, S = mix(a[0] + beta * J * sp, a[1] - J * sp, a[2], a[3], a[4], a[5],
                                                 b[0] - beta * J * sp, b[1] + J * sp, b[2], b[3], b[4], b[5])
                t = slot[p, k]
                t[0] += L
                t[1] += E
                t[2] += vE
                t[3] += M
                t[4] += vM
                t[5] += S
                cm[q, k] = pa - pb
    if sites:  # parents first: <s_q> = sum over s_p of P(s_p) <s_q | s_p>
        for q in range(nf - 1, n_iso - 1, -1):
            p = parent[q]
            if p < 0:
                fm[q] = cm[q, 0]
            else:
                fm[q] = 0.5 * ((1.0 + fm[p]) * cm[q, 0] + (1.0 - fm[p]) * cm[q, 1])
    return tL, tE, tvE, tM, tvM, tS


@njit
def forest_min(H, n_iso, parent, Jp, best, spins):
    """Minimum forest energy given the fields H (min-sum from the leaves); with ``spins`` (a float64
    (nf,) array, or size 0 for none) also a minimising configuration.  best : float64 (nf, 2) work."""
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

    sigma, gC : float64 (c,) cutset spins and their fields h_c + sum_{c' in C} J_cc' sigma_c'.
    H : float64 (nf,) forest fields.  Returns (E_C, M_C): the energy of the cutset's own couplings
    and fields, and its magnetisation.
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


@njit(fastmath=_FAST)
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
    acc : float64 (n_workers, nb, 6)
        Each worker's mixture (L, <E>, Var E, <M>, Var M, S); L = -inf for a worker without a chunk.
    site : float64 (n_workers, nb or 0, c + nf)
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
    acc = np.zeros((n_workers, nb, N_QUANT))
    acc[:, :, 0] = -np.inf
    site = np.zeros((n_workers, nb if sites else 0, c + nf))
    e_min = np.full(n_workers, np.inf)
    t_min = np.zeros(n_workers, dtype=np.int64)
    for wk in prange(n_workers):
        sigma = np.empty(c)
        gC = np.empty(c)
        H = np.empty(nf)
        y = np.empty(n_iso)
        sg = np.empty(n_iso)
        e = np.empty(n_iso)
        fm = np.zeros(nf)
        slot = np.empty((nf, 2, N_QUANT))
        cm = np.empty((nf, 2))
        best = np.empty((nf, 2))
        none = np.empty(0)
        # this worker's own accumulators, copied out at the end: rows of the shared arrays
        # written per configuration share cache lines between threads (2 threads ran 3x slower)
        a = np.zeros((nb, N_QUANT))
        a[:, 0] = -np.inf
        sw = np.zeros((nb if sites else 0, c + nf))
        emin = np.inf
        tmin = 0
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
                for b in range(nb):
                    beta = betas[b]
                    L1, E1, vE1, M1, vM1, S1 = _isolated(y, sg, e, ysum, beta, fm, sites)
                    L2, E2, vE2, M2, vM2, S2 = _trees(beta, H, n_iso, parent, Jp, slot, cm, fm, sites)
                    o = a[b]
                    L, pa, pb, E, vE, M, vM, S = mix(o[0], o[1], o[2], o[3], o[4], o[5],
                                                     L1 + L2 - beta * eC, E1 + E2 + eC, vE1 + vE2,
                                                     M1 + M2 + mC, vM1 + vM2, S1 + S2)
                    o[0], o[1], o[2], o[3], o[4], o[5] = L, E, vE, M, vM, S
                    if sites:
                        w = sw[b]
                        for i in range(c):
                            w[i] = pa * w[i] + pb * sigma[i]
                        for i in range(nf):
                            w[c + i] = pa * w[c + i] + pb * fm[i]
        acc[wk] = a
        site[wk] = sw
        e_min[wk] = emin
        t_min[wk] = tmin
    return acc, site, e_min, t_min
