"""Autoregressive (VAN / MADE) kernels: exact sampling, exact ln q, its gradient, the exact ELBO.

The trial distribution over spins s_0..s_{N-1} (the model's order) is

    q(s) = prod_i q(s_i | s_<i),   q(s_i = +1 | s_<i) = sigmoid(a_i(s_<i)),
    so  ln q(s_i | s_<i) = ln sigmoid(s_i a_i),

    a_i = b_i + sum_{j<i} W_ij s_j + sum_k V_ik h^{L-1}_k            (no V term when L = 0)
    h^0_k = tanh(C_0k + sum_j U_kj s_j),  h^l_k = tanh(C_lk + sum_k' Uh_{l-1,kk'} h^{l-1}_k')

with L hidden layers of width H (MADE, Germain et al., ICML 2015, plus the direct connection W;
L = 0 is the fully visible sigmoid belief network, VAN's depth 1).  Hidden unit k of every layer
has the degree deg[k] in 1..N-1, non-decreasing in k; the masks (zeros kept in the weight arrays
by the caller) are: U_kj != 0 only for j < deg[k]; Uh_{l-1,kk'} only for deg[k'] <= deg[k];
V_ik only for deg[k] <= i; W_ij only for j < i.  So units k < cnt[i] (cnt[i] = #{k: deg[k] <= i})
are all that a_i sees, and they are final once s_0..s_{i-1} are: one left-to-right pass samples
a configuration and evaluates ln q at the cost of one forward pass.

Arrays: float64, C-contiguous; b (N,), W (N, N), U (H, N), C (L, H), Uh (max(L-1, 0), H, H),
V (N, H), deg int64 (H,), cnt int64 (N,); a batch of configurations s is (B, N) of +-1.0.
"""

import math

import numpy as np

from ._jit import FAST, njit
from .energy import _energy


@njit
def _log_sigmoid(x):
    """ln sigmoid(x) = -ln(1 + e^{-x}), without overflow for either sign."""
    if x >= 0.0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


@njit
def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)




@njit(fastmath=FAST)
def _dot(x, y, n):
    """sum_{k<n} x[k] y[k] over contiguous rows (reassociated, so it vectorises)."""
    t = 0.0
    for k in range(n):
        t += x[k] * y[k]
    return t


@njit
def forward(b, W, U, C, Uh, V, deg, cnt, s, u, sample, lnq, a, h):
    """One left-to-right pass over a batch: sample (``sample``) or read s, and evaluate ln q(s).

    Parameters
    ----------
    b, W, U, C, Uh, V : ndarray of float64
        The network, shapes as in the module docstring.
    deg : ndarray of int64, shape (H,)
        Degrees of the hidden units.
    cnt : ndarray of int64, shape (N,)
        cnt[i] = #{k: deg[k] <= i}.
    s : ndarray of float64, shape (B, N)
        Configurations of +-1: written when ``sample`` (s_i = +1 where u[r, i] < q(s_i = +1 | s_<i),
        else -1), read otherwise.
    u : ndarray of float64, shape (B, N)
        Uniforms in [0, 1) (unused when not sampling; pass any (B, N) array).
    sample : bool
        Sample s (True) or read it (False).
    lnq : ndarray of float64, shape (B,)
        Output: ln q(s) [nats].
    a : ndarray of float64, shape (B, N)
        Output: the logits a_i(s_<i).
    h : ndarray of float64, shape (B, L, H)
        Output: the hidden activations (for :func:`backward`).
    """
    B, N = s.shape
    L = C.shape[0]
    for r in range(B):
        sr = s[r]
        total = 0.0
        for i in range(N):
            lo = cnt[i - 1] if i > 0 else 0
            hi = cnt[i] if L > 0 else 0
            for k in range(lo, hi):  # units of degree i: their inputs s_<i are set
                h[r, 0, k] = math.tanh(C[0, k] + _dot(U[k], sr, i))
            for l in range(1, L):
                for k in range(lo, hi):
                    h[r, l, k] = math.tanh(C[l, k] + _dot(Uh[l - 1, k], h[r, l - 1], hi))
            x = b[i] + _dot(W[i], sr, i)
            if L > 0:
                x += _dot(V[i], h[r, L - 1], hi)
            a[r, i] = x
            if sample:
                sr[i] = 1.0 if u[r, i] < _sigmoid(x) else -1.0
            total += _log_sigmoid(sr[i] * x)
        lnq[r] = total


@njit
def backward(W, U, C, Uh, V, deg, cnt, s, a, h, coef, gb, gW, gU, gC, gUh, gV):
    """Add the gradient of sum_r coef[r] ln q(s_r) to (gb, gW, gU, gC, gUh, gV).

    d ln q / d a_i = s_i sigmoid(-s_i a_i); back-propagated through the masked layers (masked
    entries get no gradient).

    Parameters
    ----------
    W, U, C, Uh, V : ndarray of float64
        The network, shapes as in the module docstring.
    deg : ndarray of int64, shape (H,)
        Degrees of the hidden units.
    cnt : ndarray of int64, shape (N,)
        cnt[i] = #{k: deg[k] <= i}.
    s : ndarray of float64, shape (B, N)
        Configurations of +-1, as :func:`forward` left them.
    a : ndarray of float64, shape (B, N)
        Logits, as :func:`forward` left them.
    h : ndarray of float64, shape (B, L, H)
        Hidden activations, as :func:`forward` left them.
    coef : ndarray of float64, shape (B,)
        Weight of each row's ln q.
    gb, gW, gU, gC, gUh, gV : ndarray of float64
        Gradient accumulators shaped like b, W, U, C, Uh, V, added to in place.
    """
    B, N = s.shape
    L, H = C.shape
    da = np.empty(N)
    dh = np.empty(H)
    dz = np.empty(H)
    for r in range(B):
        sr = s[r]
        for i in range(N):
            da[i] = coef[r] * sr[i] * _sigmoid(-sr[i] * a[r, i])
            gb[i] += da[i]
            gWi = gW[i]
            for j in range(i):
                gWi[j] += da[i] * sr[j]
        if L == 0:
            continue
        dh[:] = 0.0
        hl = h[r, L - 1]
        for i in range(N):
            hi = cnt[i]
            gVi = gV[i]
            Vi = V[i]
            for k in range(hi):
                gVi[k] += da[i] * hl[k]
                dh[k] += da[i] * Vi[k]
        for l in range(L - 1, -1, -1):
            hl = h[r, l]
            for k in range(H):
                dz[k] = dh[k] * (1.0 - hl[k] * hl[k])
                gC[l, k] += dz[k]
            if l > 0:
                hp = h[r, l - 1]
                dh[:] = 0.0
                for k in range(H):
                    lim = cnt[deg[k]]  # units of degree <= deg k in the layer below
                    g = gUh[l - 1, k]
                    w = Uh[l - 1, k]
                    for m in range(lim):
                        g[m] += dz[k] * hp[m]
                        dh[m] += dz[k] * w[m]
            else:
                for k in range(H):
                    g = gU[k]
                    for j in range(deg[k]):
                        g[j] += dz[k] * sr[j]


@njit
def sparse_forward(b, rowptr, cols, w, uw, c, v, s, u, sample, lnq, a, h):
    """The sparse two-body network: a left-to-right pass that samples (``sample``) or reads s, and ln q(s).

    a_i = b_i + sum_{k in R(i)} w_k s_{cols[k]} + sum_{m<K} v_im h_im,
    h_im = tanh(c_im + sum_{k in R(i)} uw_km s_{cols[k]}),

    R(i) = rowptr[i]..rowptr[i+1] the allowed pairs of spin i (CSR, every cols[k] < i; the two-body
    form of Biazzo, Wu & Carleo, "Sparse autoregressive neural networks for classical spin systems"),
    with K tanh units per spin on the same inputs (K = 0: the two-body form alone);
    q(s_i = +1 | s_<i) = sigmoid(a_i).

    Parameters
    ----------
    b : ndarray of float64, shape (N,)
        Biases.
    rowptr : ndarray of int64, shape (N + 1,)
        Row starts of the allowed pairs.
    cols : ndarray of int64, shape (P,)
        Earlier spin of each allowed pair (cols[k] < i in row i).
    w : ndarray of float64, shape (P,)
        Weight of each allowed pair.
    uw : ndarray of float64, shape (P, K)
        Input weights of the hidden units, per allowed pair.
    c : ndarray of float64, shape (N, K)
        Biases of the hidden units.
    v : ndarray of float64, shape (N, K)
        Output weights of the hidden units.
    s : ndarray of float64, shape (B, N)
        Configurations of +-1: written when ``sample`` (s_i = +1 where u[r, i] < q(s_i = +1 | s_<i),
        else -1), read otherwise.
    u : ndarray of float64, shape (B, N)
        Uniforms in [0, 1) (unused when not sampling; pass any (B, N) array).
    sample : bool
        Sample s (True) or read it (False).
    lnq : ndarray of float64, shape (B,)
        Output: ln q(s) [nats].
    a : ndarray of float64, shape (B, N)
        Output: the logits a_i(s_<i).
    h : ndarray of float64, shape (B, N, K)
        Output: the hidden activations h_im.
    """
    B, N = s.shape
    K = c.shape[1]
    z = np.empty(K)
    for r in range(B):
        sr = s[r]
        total = 0.0
        for i in range(N):
            x = b[i]
            for m in range(K):
                z[m] = c[i, m]
            for k in range(rowptr[i], rowptr[i + 1]):
                sj = sr[cols[k]]
                x += w[k] * sj
                for m in range(K):
                    z[m] += uw[k, m] * sj
            for m in range(K):
                t = math.tanh(z[m])
                h[r, i, m] = t
                x += v[i, m] * t
            a[r, i] = x
            if sample:
                sr[i] = 1.0 if u[r, i] < _sigmoid(x) else -1.0
            total += _log_sigmoid(sr[i] * x)
        lnq[r] = total


@njit
def sparse_backward(rowptr, cols, v, s, a, h, coef, gb, gw, guw, gc, gv):
    """Add the gradient of sum_r coef[r] ln q(s_r) of the sparse network to (gb, gw, guw, gc, gv).

    d ln q / d a_i = s_i sigmoid(-s_i a_i) =: d_i; d a_i / d b_i = 1, d a_i / d w_k = s_{cols[k]},
    d a_i / d v_im = h_im; through the unit, d_im = d_i v_im (1 - h_im^2) to c_im (1) and uw_km (s_{cols[k]}).

    Parameters
    ----------
    rowptr : ndarray of int64, shape (N + 1,)
        Row starts of the allowed pairs.
    cols : ndarray of int64, shape (P,)
        Earlier spin of each allowed pair.
    v : ndarray of float64, shape (N, K)
        Output weights of the hidden units.
    s : ndarray of float64, shape (B, N)
        Configurations of +-1, as :func:`sparse_forward` left them.
    a : ndarray of float64, shape (B, N)
        Logits, as :func:`sparse_forward` left them.
    h : ndarray of float64, shape (B, N, K)
        Hidden activations, as :func:`sparse_forward` left them.
    coef : ndarray of float64, shape (B,)
        Weight of each row's ln q.
    gb : ndarray of float64, shape (N,)
        Gradient of the biases, added to in place.
    gw : ndarray of float64, shape (P,)
        Gradient of the pair weights, added to in place.
    guw, gc, gv : ndarray of float64, shapes (P, K), (N, K), (N, K)
        Gradients of the hidden units' weights, added to in place.
    """
    B, N = s.shape
    K = v.shape[1]
    dz = np.empty(K)
    for r in range(B):
        sr = s[r]
        cr = coef[r]
        if cr == 0.0:
            continue
        for i in range(N):
            d = cr * sr[i] * _sigmoid(-sr[i] * a[r, i])
            gb[i] += d
            for m in range(K):
                t = h[r, i, m]
                gv[i, m] += d * t
                dz[m] = d * v[i, m] * (1.0 - t * t)
                gc[i, m] += dz[m]
            for k in range(rowptr[i], rowptr[i + 1]):
                sj = sr[cols[k]]
                gw[k] += d * sj
                for m in range(K):
                    guw[k, m] += dz[m] * sj


@njit
def energies(indptr, indices, data, hfield, s, out):
    """E(s_r) for every row of s into out, from the symmetric CSR couplings.

    Parameters
    ----------
    indptr, indices, data : ndarray
        The symmetric CSR couplings (int64, int64, float64).
    hfield : ndarray of float64, shape (N,)
        Fields h_i.
    s : ndarray of float64, shape (B, N)
        Configurations of +-1.
    out : ndarray of float64, shape (B,)
        Output: the energies.
    """
    for r in range(s.shape[0]):
        out[r] = _energy(indptr, indices, data, hfield, s[r])


@njit
def dense_energies(J, hfield, s, out):
    """E(s_r) = -sum_i s_i (h_i + sum_{j<i} J_ij s_j) for every row of s into out, from dense couplings.

    Only j < i is read: half the work of the CSR gather, vectorised.

    Parameters
    ----------
    J : ndarray of float64, shape (N, N)
        The dense symmetric couplings.
    hfield : ndarray of float64, shape (N,)
        Fields h_i.
    s : ndarray of float64, shape (B, N)
        Configurations of +-1.
    out : ndarray of float64, shape (B,)
        Output: the energies.
    """
    N = s.shape[1]
    for r in range(s.shape[0]):
        sr = s[r]
        e = 0.0
        for i in range(N):
            e -= sr[i] * (hfield[i] + _dot(J[i], sr, i))
        out[r] = e


@njit
def exact_elbo(b, W, U, C, Uh, V, deg, cnt, indptr, indices, data, hfield):
    """sum_s q(s), <E>_q and <ln q>_q by visiting all 2^N configurations depth first.

    Leaves in binary order with s_0 the most significant bit (bit set: +1); from one leaf to the
    next only the spins below the lowest changed depth are redone, about one inner node per leaf,
    each an O(N + L H) update of the prefix sums (logits, local fields, first-layer
    pre-activations), so the cost is O(2^N (N + L H)), not a forward pass per state.  Sums are compensated (Kahan).

    Parameters
    ----------
    b, W, U, C, Uh, V : ndarray of float64
        The network, shapes as in the module docstring; N <= 62.
    deg : ndarray of int64, shape (H,)
        Degrees of the hidden units.
    cnt : ndarray of int64, shape (N,)
        cnt[i] = #{k: deg[k] <= i}.
    indptr, indices, data : ndarray
        The symmetric CSR couplings (int64, int64, float64).
    hfield : ndarray of float64, shape (N,)
        Fields h_i.

    Returns
    -------
    sum_q : float
        sum_s q(s) (1 up to rounding).
    sum_q_E : float
        <E>_q.
    sum_q_lnq : float
        <ln q>_q (nats).
    """
    N = b.shape[0]
    L, H = C.shape
    acc = np.zeros((N + 1, N))  # b + sum_{j<d} W[:, j] s_j at depth d (entries >= d)
    loc = np.zeros((N + 1, N))  # h + sum_{j<d} J[:, j] s_j (entries >= d)
    z0 = np.zeros((N + 1, H))  # C_0 + sum_{j<d} U[:, j] s_j
    hid = np.zeros((N + 1, max(L, 1), H))
    E = np.empty(N + 1)
    lq = np.empty(N + 1)
    ad = np.empty(N + 1)  # a_d at the node of depth d
    s = np.empty(N)
    acc[0] = b
    loc[0] = hfield
    if L > 0:
        z0[0] = C[0]
    E[0] = 0.0
    lq[0] = 0.0
    sq = 0.0
    cq = 0.0
    se = 0.0
    ce = 0.0
    sl = 0.0
    cl = 0.0
    # node 0
    ad[0] = acc[0, 0]
    total = np.int64(1) << np.int64(N)
    start = 0
    for t in range(total):
        if t > 0:
            tz = 0  # trailing zeros of t: spins N-1-tz .. N-1 change
            x = t
            while (x & 1) == 0:
                x >>= 1
                tz += 1
            start = N - 1 - tz
        for d in range(start, N):
            sd = 1.0 if (t >> (N - 1 - d)) & 1 else -1.0
            s[d] = sd
            # child d + 1 of node d
            e = d + 1
            E[e] = E[d] - sd * loc[d, d]
            lq[e] = lq[d] + _log_sigmoid(sd * ad[d])
            if e < N:  # an inner node (half of all visits are leaves, which need no prefix sums)
                for i in range(e, N):  # only entries >= e are read below depth e
                    acc[e, i] = acc[d, i] + W[i, d] * sd
                    loc[e, i] = loc[d, i]
                for k in range(indptr[d], indptr[d + 1]):
                    loc[e, indices[k]] += data[k] * sd
                x = acc[e, e]
                if L > 0:
                    for k in range(H):
                        z0[e, k] = z0[d, k] + U[k, d] * sd
                    for l in range(L):
                        for k in range(H):
                            hid[e, l, k] = hid[d, l, k]
                    lo = cnt[e - 1]
                    hi = cnt[e]
                    for k in range(lo, hi):
                        hid[e, 0, k] = math.tanh(z0[e, k])
                    for l in range(1, L):
                        for k in range(lo, hi):
                            hid[e, l, k] = math.tanh(C[l, k] + _dot(Uh[l - 1, k], hid[e, l - 1], hi))
                    x += _dot(V[e], hid[e, L - 1], hi)
                ad[e] = x
        q = math.exp(lq[N])
        # Kahan sums of q, q E, q ln q
        y = q - cq
        tt = sq + y
        cq = (tt - sq) - y
        sq = tt
        y = q * E[N] - ce
        tt = se + y
        ce = (tt - se) - y
        se = tt
        y = q * lq[N] - cl
        tt = sl + y
        cl = (tt - sl) - y
        sl = tt
    return sq, se, sl
