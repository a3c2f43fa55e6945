"""Message kernels shared by tree-reweighted (TRW) and ordinary belief propagation (BP).

Model: weight exp(sum_{(ij)} theta_ij s_i s_j + sum_i theta_i s_i), s_i in {-1, +1}, with
theta_ij = beta J_ij and theta_i = beta h_i (E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i).

Messages are half log-ratios: ``u[k]`` for the CSR slot k of row t pointing at s = indices[k] is
u_{t->s} = 1/2 ln(M_ts(+1) / M_ts(-1)).  ``rev[k]`` is the slot of row s pointing back at t.

TRW message passing (Wainwright, Jaakkola & Willsky, IEEE Trans. Inf. Theory 51, 2313 (2005),
eq. (35)) with edge appearance probabilities rho_st reads, for binary spins,

    H_t      = theta_t + sum_{v in N(t)} rho_vt u_{v->t}          (node belief: tau_t(s) ~ e^{H_t s})
    a_{t|s}  = H_t - u_{s->t}                                       (rho_st u + (1 - rho_st) u = u)
    u_{t->s} = 1/2 [lc(a_{t|s} + K_st) - lc(a_{t|s} - K_st)],     K_st = theta_st / rho_st,

with lc(x) = ln(2 cosh x); the pairwise belief is tau_st(x_s, x_t) ~ exp(K_st x_s x_t + a_{s|t} x_s
+ a_{t|s} x_t).  With every rho_st = 1 this is ordinary BP (Mezard & Montanari, *Information,
Physics, and Computation*, eq. 14.14) and a_{t|s} is the cavity field.
"""

import numpy as np
from numba import prange

from ._jit import njit, pjit

LN2 = np.log(2.0)


@njit
def lncosh2(x):
    """ln(2 cosh x), float64, without overflow: |x| + log1p(exp(-2|x|)).

    Parameters
    ----------
    x : float
        The argument.

    Returns
    -------
    float
        ln(2 cosh x).
    """
    a = abs(x)
    return a + np.log1p(np.exp(-2.0 * a))


@njit
def _reverse_slots(indptr, indices):
    """rev[k]: the CSR slot of the opposite direction of slot k (rows' columns sorted ascending)."""
    n = indptr.size - 1
    rev = np.empty(indices.size, dtype=np.int64)
    for t in range(n):
        for k in range(indptr[t], indptr[t + 1]):
            s = indices[k]
            lo = indptr[s]
            hi = indptr[s + 1]
            while lo < hi:  # binary search for t in row s
                mid = (lo + hi) // 2
                if indices[mid] < t:
                    lo = mid + 1
                else:
                    hi = mid
            rev[k] = lo
    return rev


@njit
def _node_fields(indptr, rev, rho, theta_h, u, H):
    """H_t = theta_t + sum_v rho_vt u_{v->t} for every t, into ``H`` (N,)."""
    for t in range(indptr.size - 1):
        acc = theta_h[t]
        for k in range(indptr[t], indptr[t + 1]):
            acc += rho[k] * u[rev[k]]
        H[t] = acc


@njit
def message_sweeps(indptr, indices, rev, kappa, rho, theta_h, u, H, damping, max_sweeps, tol):
    """Sequential (node by node) damped TRW/BP sweeps, in place.

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (N+1,) and (2E,)
        Symmetric CSR pattern of the model graph, columns sorted in each row.
    rev : ndarray of int64, shape (2E,)
        Opposite slot of each slot (:func:`_reverse_slots`).
    kappa : ndarray of float64, shape (2E,)
        K_st = theta_st / rho_st on both slots of each edge.
    rho : ndarray of float64, shape (2E,)
        Edge appearance probabilities rho_st on both slots of each edge (1 for BP).
    theta_h : ndarray of float64, shape (N,)
        theta_t = beta h_t.
    u : ndarray of float64, shape (2E,)
        Messages, updated in place (warm start).
    H : ndarray of float64, shape (N,)
        Output: node fields of the final messages.
    damping : float
        In [0, 1): u <- (1 - damping) u_new + damping u_old.
    max_sweeps : int
        Most sweeps to do.
    tol : float
        Convergence when max |delta u| over a sweep < tol.

    Returns
    -------
    sweeps : int
        Sweeps done.
    converged : bool
        Whether the last sweep changed no message by ``tol`` or more.
    """
    n = indptr.size - 1
    sweeps = 0
    converged = False
    while sweeps < max_sweeps:
        _node_fields(indptr, rev, rho, theta_h, u, H)  # fresh each sweep: no drift of the increments
        delta = 0.0
        for t in range(n):
            ht = H[t]
            for k in range(indptr[t], indptr[t + 1]):
                a = ht - u[rev[k]]
                K = kappa[k]
                new = 0.5 * (lncosh2(a + K) - lncosh2(a - K))
                new = (1.0 - damping) * new + damping * u[k]
                d = new - u[k]
                delta = max(delta, abs(d))
                u[k] = new
                H[indices[k]] += rho[k] * d
        sweeps += 1
        if delta < tol:
            converged = True
            break
    _node_fields(indptr, rev, rho, theta_h, u, H)
    return sweeps, converged


@njit
def _log_pair(K, a, b, out):
    """ln of the unnormalised pair weights exp(K x y + a x + b y), x, y = +-1, into out[4]
    ordered (++, +-, -+, --); returns their log-sum-exp."""
    out[0] = K + a + b
    out[1] = -K + a - b
    out[2] = -K - a + b
    out[3] = K - a - b
    top = max(max(out[0], out[1]), max(out[2], out[3]))
    acc = 0.0
    for q in range(4):
        acc += np.exp(out[q] - top)
    return top + np.log(acc)


@njit
def edge_mutual_information(indptr, indices, rev, kappa, u, H, edge_slot, mi):
    """Mutual information (nats) of each edge's pairwise belief, into mi (E,).

    The belief is tau_ts(x, y) ~ exp(K x y + a_{t|s} x + a_{s|t} y) (module docstring); its
    marginals are used for I = sum tau ln(tau / (tau_t tau_s)) (Wainwright et al. 2005, Sec. VI).

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (N+1,) and (2E,)
        Symmetric CSR pattern of the model graph, columns sorted in each row.
    rev : ndarray of int64, shape (2E,)
        Opposite slot of each slot (:func:`_reverse_slots`).
    kappa : ndarray of float64, shape (2E,)
        K_st = theta_st / rho_st on both slots of each edge.
    u : ndarray of float64, shape (2E,)
        Messages u_{t->s} = 1/2 ln(M_ts(+1) / M_ts(-1)), one per slot (module docstring).
    H : ndarray of float64, shape (N,)
        Node fields H_t = theta_t + sum_v rho_vt u_{v->t} of the messages ``u``.
    edge_slot : ndarray of int64, shape (E,)
        A slot (row t, column s) of each edge.
    mi : ndarray of float64, shape (E,)
        Output: the mutual information of each edge, >= 0.
    """
    lw = np.empty(4)
    for e in range(edge_slot.size):
        k = edge_slot[e]
        t = indices[rev[k]]  # the row of slot k
        s = indices[k]
        a = H[t] - u[rev[k]]
        b = H[s] - u[k]
        lz = _log_pair(kappa[k], a, b, lw)
        p0 = np.exp(lw[0] - lz)
        p1 = np.exp(lw[1] - lz)
        p2 = np.exp(lw[2] - lz)
        p3 = np.exp(lw[3] - lz)
        pt = p0 + p1  # x = +1
        ps = p0 + p2  # y = +1
        acc = 0.0
        marg = (pt * ps, pt * (1.0 - ps), (1.0 - pt) * ps, (1.0 - pt) * (1.0 - ps))
        probs = (p0, p1, p2, p3)
        for q in range(4):
            if probs[q] > 0.0 and marg[q] > 0.0:
                acc += probs[q] * (np.log(probs[q]) - np.log(marg[q]))
        mi[e] = max(acc, 0.0)


@njit
def bethe_lnz(indptr, indices, rev, kappa, theta_h, u, H):
    """Bethe ln Z at BP messages (all rho = 1): sum_i ln Z_i - sum_(ij) ln Z_ij.

    ln Z_i = ln sum_{x} exp(theta_i x + sum_{j in N(i)} lc(K_ij x + c_{j|i})),
    ln Z_ij = ln sum_{x,y} exp(K_ij x y + c_{i|j} x + c_{j|i} y), with cavity fields
    c_{j|i} = H_j - u_{i->j} (Mezard & Montanari, eq. 14.27-14.28, pairwise form).  Exact on a tree
    at the fixed point; elsewhere an approximation, not a bound.

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (N+1,) and (2E,)
        Symmetric CSR pattern of the model graph, columns sorted in each row.
    rev : ndarray of int64, shape (2E,)
        Opposite slot of each slot (:func:`_reverse_slots`).
    kappa : ndarray of float64, shape (2E,)
        K_ij = theta_ij = beta J_ij on both slots of each edge.
    theta_h : ndarray of float64, shape (N,)
        theta_t = beta h_t.
    u : ndarray of float64, shape (2E,)
        BP messages, one per slot (module docstring).
    H : ndarray of float64, shape (N,)
        Node fields H_j = theta_j + sum_v u_{v->j} of the messages ``u``.

    Returns
    -------
    float
        The Bethe ln Z.
    """
    n = indptr.size - 1
    lw = np.empty(4)
    total = 0.0
    for i in range(n):
        lp = theta_h[i]
        lm = -theta_h[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            c = H[j] - u[k]  # cavity field of j without i
            K = kappa[k]
            lp += lncosh2(K + c)
            lm += lncosh2(-K + c)
            if i < j:
                total -= _log_pair(K, H[i] - u[rev[k]], c, lw)
        top = max(lp, lm)
        total += top + np.log1p(np.exp(min(lp, lm) - top))
    return total


@njit
def tree_lnz(order, parent, pslot, kappa, g, F):
    """ln Z of one spanning tree (or forest) with couplings kappa on its edges and fields g.

    Exact log-domain sum-product from the leaves: summing out s_c gives
    lc(F_c + K s_p) = 1/2[lc(F_c+K) + lc(F_c-K)] + s_p 1/2[lc(F_c+K) - lc(F_c-K)], lc = ln 2cosh.

    Parameters
    ----------
    order : ndarray of int64, shape (N,)
        Nodes with every parent before its children (roots first in each component).
    parent : ndarray of int64, shape (N,)
        Parent node, -1 at roots.
    pslot : ndarray of int64, shape (N,)
        CSR slot (row c -> parent) of each node c; -1 at roots.
    kappa : ndarray of float64, shape (2E,)
        Tree coupling per slot.
    g : ndarray of float64, shape (N,)
        Tree fields.
    F : ndarray of float64, shape (N,)
        Work space; on return F_c is the field of c from its subtree.

    Returns
    -------
    float
        ln Z of the tree.
    """
    n = order.size
    for q in range(n):
        F[q] = g[q]
    lnz = 0.0
    for q in range(n - 1, -1, -1):
        c = order[q]
        p = parent[c]
        if p < 0:
            lnz += lncosh2(F[c])
        else:
            K = kappa[pslot[c]]
            plus = lncosh2(F[c] + K)
            minus = lncosh2(F[c] - K)
            lnz += 0.5 * (plus + minus)
            F[p] += 0.5 * (plus - minus)
    return lnz


@njit
def _mean_fields(indptr, rev, rho, theta_h, u, hbar):
    """hbar_i = theta_i + sum_j rho_ij u_{j->i}, into hbar (N,): the fields shared by every tree."""
    _node_fields(indptr, rev, rho, theta_h, u, hbar)


@njit
def _tree_fields(hbar, rev, u, parent, pslot, g):
    """TRW tree fields g^T_i = hbar_i - sum_{j: (ij) in T} u_{j->i}, into g (N,), with
    hbar_i = theta_i + sum_j rho_ij u_{j->i} (:func:`_mean_fields`).

    With K^T_e = theta_e / rho_e these parameters are the canonical parameters of the pseudo-marginals
    restricted to T (Wainwright et al. 2005, eq. (31)), and sum_T rho_T g^T = theta_h exactly
    because sum_{T contains e} rho_T = rho_e.
    """
    n = hbar.size
    for i in range(n):
        g[i] = hbar[i]
    for c in range(n):
        p = parent[c]
        if p >= 0:
            k = pslot[c]  # slot c -> p: u[k] is c->p, u[rev[k]] is p->c
            g[c] -= u[rev[k]]
            g[p] -= u[k]


@pjit
def trw_primal(indptr, rev, rho, kappa, theta_h, u, orders, parents, pslots, weights, lnz_trees, fields_out):
    """ln Z(theta_T) of every tree of the list, and the tree fields used, in parallel over trees.

    The bound is sum_T rho_T lnz_trees[T] (checked by the caller).

    Parameters
    ----------
    indptr : ndarray of int64, shape (N+1,)
        CSR row pointers of the model graph.
    rev : ndarray of int64, shape (2E,)
        Opposite slot of each slot (:func:`_reverse_slots`).
    rho : ndarray of float64, shape (2E,)
        Edge appearance probabilities rho_st on both slots of each edge (1 for BP).
    kappa : ndarray of float64, shape (2E,)
        K_st = theta_st / rho_st on both slots of each edge.
    theta_h : ndarray of float64, shape (N,)
        theta_t = beta h_t.
    u : ndarray of float64, shape (2E,)
        Messages u_{t->s} = 1/2 ln(M_ts(+1) / M_ts(-1)), one per slot (module docstring).
    orders, parents, pslots : ndarray of int64, shape (K, N)
        One rooted tree per row, each as ``order``, ``parent``, ``pslot`` of :func:`tree_lnz`.
    weights : ndarray of float64, shape (K,)
        rho_T of each tree (not read here: the caller weights ``lnz_trees``).
    lnz_trees : ndarray of float64, shape (K,)
        Output: ln Z(theta_T) of each tree.
    fields_out : ndarray of float64, shape (K, N)
        Output: the tree fields g^T (:func:`_tree_fields`).
    """
    K = orders.shape[0]
    n = orders.shape[1]
    hbar = np.empty(n)
    _mean_fields(indptr, rev, rho, theta_h, u, hbar)
    for T in prange(K):
        F = np.empty(n)
        _tree_fields(hbar, rev, u, parents[T], pslots[T], fields_out[T])
        lnz_trees[T] = tree_lnz(orders[T], parents[T], pslots[T], kappa, fields_out[T], F)


@njit
def decomposition_sums(slot_edge, kappa, parents, pslots, weights, fields, coup_sum, field_sum):
    """sum_T rho_T theta_T over the explicit tree list, for the decomposition check.

    Parameters
    ----------
    slot_edge : ndarray of int64, shape (2E,)
        Edge number of each CSR slot.
    kappa : ndarray of float64, shape (2E,)
        K^T_e = theta_e / rho_e on both slots of each edge.
    parents, pslots : ndarray of int64, shape (K, N)
        Parent and parent slot of each node in each tree, as :func:`tree_lnz` reads them.
    weights : ndarray of float64, shape (K,)
        rho_T of each tree.
    fields : ndarray of float64, shape (K, N)
        Tree fields g^T (``fields_out`` of :func:`trw_primal`).
    coup_sum : ndarray of float64, shape (E,)
        Output, zeroed here: += rho_T K^T_e on each tree edge.
    field_sum : ndarray of float64, shape (N,)
        Output, zeroed here: += rho_T g^T_i.
    """
    coup_sum[:] = 0.0
    field_sum[:] = 0.0
    K = parents.shape[0]
    n = parents.shape[1]
    for T in range(K):
        w = weights[T]
        for c in range(n):
            field_sum[c] += w * fields[T, c]
            if parents[T, c] >= 0:
                k = pslots[T, c]
                coup_sum[slot_edge[k]] += w * kappa[k]


@njit
def _find(uf, x):
    while uf[x] != x:
        uf[x] = uf[uf[x]]
        x = uf[x]
    return x


@njit
def max_spanning_tree(n, edge_i, edge_j, weight, indptr, indices, order_out, parent_out, pslot_out):
    """Maximum-weight spanning tree (forest on a disconnected graph) by Kruskal, as rooted arrays.

    Parameters
    ----------
    n : int
        Number of nodes N.
    edge_i, edge_j : ndarray of int64, shape (E,)
        End points of each edge.
    weight : ndarray of float64, shape (E,)
        Weight of each edge.
    indptr, indices : ndarray of int64, shapes (N+1,) and (2E,)
        Symmetric CSR pattern of the model graph, columns sorted in each row.
    order_out, parent_out, pslot_out : ndarray of int64, shape (N,)
        Output: the tree as ``order``, ``parent``, ``pslot`` of :func:`tree_lnz`.

    Returns
    -------
    int
        The number of tree edges.
    """
    E = edge_i.size
    idx = np.argsort(-weight, kind="mergesort")
    uf = np.arange(n)
    # tree adjacency as a mask over CSR slots
    chosen = np.zeros(indices.size, dtype=np.bool_)
    m = 0
    for q in range(E):
        e = idx[q]
        a = _find(uf, edge_i[e])
        b = _find(uf, edge_j[e])
        if a != b:
            uf[a] = b
            m += 1
            i = edge_i[e]
            j = edge_j[e]
            chosen[_slot(indptr, indices, i, j)] = True
            chosen[_slot(indptr, indices, j, i)] = True
            if m == n - 1:
                break
    _root_tree(indptr, indices, chosen, order_out, parent_out, pslot_out)
    return m


@njit
def _slot(indptr, indices, i, j):
    """CSR slot of (row i, column j) by binary search; -1 if absent."""
    lo = indptr[i]
    hi = indptr[i + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if indices[mid] < j:
            lo = mid + 1
        else:
            hi = mid
    if lo < indptr[i + 1] and indices[lo] == j:
        return lo
    return -1


@njit
def _root_tree(indptr, indices, chosen, order, parent, pslot):
    """Breadth-first rooting of the forest given by the slot mask ``chosen``."""
    n = indptr.size - 1
    seen = np.zeros(n, dtype=np.bool_)
    head = 0
    tail = 0
    for r in range(n):
        if seen[r]:
            continue
        seen[r] = True
        parent[r] = -1
        pslot[r] = -1
        order[tail] = r
        tail += 1
        while head < tail:
            t = order[head]
            head += 1
            for k in range(indptr[t], indptr[t + 1]):
                if chosen[k]:
                    s = indices[k]
                    if not seen[s]:
                        seen[s] = True
                        parent[s] = t
                        pslot[s] = _slot(indptr, indices, s, t)
                        order[tail] = s
                        tail += 1


@njit
def star_tree(indptr, indices, center, order, parent, pslot):
    """The star around ``center`` of a complete graph, as rooted arrays.

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (N+1,) and (2E,)
        Symmetric CSR pattern of the model graph, columns sorted in each row.
    center : int
        The root node.
    order : ndarray of int64, shape (N,)
        Output: nodes with every parent before its children (roots first in each component).
    parent : ndarray of int64, shape (N,)
        Output: parent node, -1 at roots.
    pslot : ndarray of int64, shape (N,)
        Output: CSR slot (row c -> parent) of each node c; -1 at roots.

    Returns
    -------
    bool
        False if some node is not adjacent to ``center`` (the outputs are then partial), else True.
    """
    n = indptr.size - 1
    order[0] = center
    parent[center] = -1
    pslot[center] = -1
    q = 1
    for i in range(n):
        if i == center:
            continue
        k = _slot(indptr, indices, i, center)
        if k < 0:
            return False
        order[q] = i
        parent[i] = center
        pslot[i] = k
        q += 1
    return True


@njit
def tree_lnz_magnetisations(order, parent, pslot, kappa, g, F, mag):
    """:func:`tree_lnz` plus the exact tree magnetisations <s_i>_T into mag (N,) (downward pass).

    After the upward pass F_c is the field of c from its subtree; going down, parents first, the
    message p -> c is 1/2[lc(x + K) - lc(x - K)] with x the full field of p less the upward message of
    c, itself recomputed from F_c (sum-product on a tree; Mezard & Montanari eq. 14.2-14.4).

    Parameters
    ----------
    order : ndarray of int64, shape (N,)
        Nodes with every parent before its children (roots first in each component).
    parent : ndarray of int64, shape (N,)
        Parent node, -1 at roots.
    pslot : ndarray of int64, shape (N,)
        CSR slot (row c -> parent) of each node c; -1 at roots.
    kappa : ndarray of float64, shape (2E,)
        Tree coupling per slot.
    g : ndarray of float64, shape (N,)
        Tree fields.
    F : ndarray of float64, shape (N,)
        Work space; on return the full field of each node.
    mag : ndarray of float64, shape (N,)
        Output: <s_i>_T = tanh(F_i).

    Returns
    -------
    float
        ln Z of the tree.
    """
    lnz = tree_lnz(order, parent, pslot, kappa, g, F)
    for q in range(order.size):  # parents before children: F becomes the full field
        c = order[q]
        p = parent[c]
        if p >= 0:
            K = kappa[pslot[c]]
            x = F[p] - 0.5 * (lncosh2(F[c] + K) - lncosh2(F[c] - K))
            F[c] += 0.5 * (lncosh2(x + K) - lncosh2(x - K))
        mag[c] = np.tanh(F[c])
    return lnz


@pjit
def trw_primal_gradient(indptr, rev, rho, kappa, theta_h, u, orders, parents, pslots, weights, lnz_trees, mags,
                        grad):
    """Tree ln Z values and the gradient of sum_T rho_T ln Z(theta_T(u)) with respect to the messages u.

    theta_T(u) as in :func:`_tree_fields` is affine in u, so the primal is convex in u; with
    d g^T_j / d u_{i->j} = rho_ij - [ij in T] the gradient on slot k = (i -> j) is
    rho_ij sum_T rho_T m^T_j - sum_{T contains ij} rho_T m^T_j.

    Parameters
    ----------
    indptr : ndarray of int64, shape (N+1,)
        CSR row pointers of the model graph.
    rev : ndarray of int64, shape (2E,)
        Opposite slot of each slot (:func:`_reverse_slots`).
    rho : ndarray of float64, shape (2E,)
        Edge appearance probabilities rho_st on both slots of each edge (1 for BP).
    kappa : ndarray of float64, shape (2E,)
        K_st = theta_st / rho_st on both slots of each edge.
    theta_h : ndarray of float64, shape (N,)
        theta_t = beta h_t.
    u : ndarray of float64, shape (2E,)
        Messages u_{t->s} = 1/2 ln(M_ts(+1) / M_ts(-1)), one per slot (module docstring).
    orders, parents, pslots : ndarray of int64, shape (K, N)
        One rooted tree per row, each as ``order``, ``parent``, ``pslot`` of :func:`tree_lnz`.
    weights : ndarray of float64, shape (K,)
        rho_T of each tree.
    lnz_trees : ndarray of float64, shape (K,)
        Output: ln Z(theta_T) of each tree.
    mags : ndarray of float64, shape (K, N)
        Output: tree magnetisations m^T_i (:func:`tree_lnz_magnetisations`).
    grad : ndarray of float64, shape (2E,)
        Output: the gradient, one entry per message slot.
    """
    K = orders.shape[0]
    n = orders.shape[1]
    hbar = np.empty(n)
    _mean_fields(indptr, rev, rho, theta_h, u, hbar)
    for T in prange(K):
        g = np.empty(n)
        F = np.empty(n)
        _tree_fields(hbar, rev, u, parents[T], pslots[T], g)
        lnz_trees[T] = tree_lnz_magnetisations(orders[T], parents[T], pslots[T], kappa, g, F, mags[T])
    mbar = np.zeros(n)
    for T in range(K):
        for i in range(n):
            mbar[i] += weights[T] * mags[T, i]
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            grad[rev[k]] = rho[k] * mbar[i]  # slot rev[k] carries u_{j->i}, which enters g_i
    for T in range(K):
        w = weights[T]
        for c in range(n):
            p = parents[T, c]
            if p >= 0:
                k = pslots[T, c]  # u[k] = u_{c->p} enters g_p; u[rev[k]] = u_{p->c} enters g_c
                grad[k] -= w * mags[T, p]
                grad[rev[k]] -= w * mags[T, c]


@njit
def forests_valid(indptr, indices, orders, parents, pslots):
    """Whether every listed tree is a rooted spanning forest of the model graph as :func:`tree_lnz` reads it.

    That is ``order`` a permutation with each parent before its children, and ``pslot[c]`` the CSR
    slot of row c whose column is ``parent[c]`` (so the coupling summed in the decomposition check is
    the one on the tree's edge).

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (N+1,) and (2E,)
        Symmetric CSR pattern of the model graph, columns sorted in each row.
    orders, parents, pslots : ndarray of int64, shape (K, N)
        One rooted tree per row, each as ``order``, ``parent``, ``pslot`` of :func:`tree_lnz`.

    Returns
    -------
    bool
        True when every tree is valid.
    """
    K = orders.shape[0]
    n = orders.shape[1]
    pos = np.empty(n, dtype=np.int64)
    for T in range(K):
        pos[:] = -1
        for q in range(n):
            c = orders[T, q]
            if c < 0 or c >= n or pos[c] >= 0:
                return False
            pos[c] = q
        for c in range(n):
            p = parents[T, c]
            if p < 0:
                continue
            k = pslots[T, c]
            if p >= n or pos[p] >= pos[c] or k < indptr[c] or k >= indptr[c + 1] or indices[k] != p:
                return False
    return True
