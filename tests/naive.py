"""Slow, obviously correct references, independent of the code under test.

Every brute-force reference of the tests lives here (one function per idea).  Enumerations list all
2^N states in plain NumPy (no Gray code, no CSR, no incremental updates, no kernels); the energy is
``E(s) = -1/2 s.J.s - h.s`` from a dense coupling matrix or, equally, ``-sum_b J_b s_i s_j - h.s`` over
bond lists (the same number: only faster for N ~ 20).  Transfer matrices and closed forms cite their
source.
"""

import itertools
import math

import numpy as np


# ------------------------------------------------------------------ states and energies
def all_states(n):
    """All 2^n spin configurations, float64 (2^n, n), in ``itertools.product((-1, 1), repeat=n)`` order
    (spin 0 slowest, -1 first)."""
    bits = (np.arange(1 << n)[:, None] >> np.arange(n - 1, -1, -1)) & 1
    return 2.0 * bits - 1.0


def binary_states(n):
    """All 2^n configurations x in {0, 1}^n, int64 (2^n, n), in ``itertools.product((0, 1), repeat=n)`` order
    (variable 0 slowest; x = (s + 1) / 2 of :func:`all_states`)."""
    return ((all_states(n) + 1.0) / 2.0).astype(np.int64)


def energies(J, h, states):
    """E(s) = -1/2 s.J.s - h.s for every row of ``states`` (J dense, symmetric, zero diagonal)."""
    return -0.5 * np.einsum("ki,ij,kj->k", states, J, states) - states @ h


def bond_energies(i, j, J, h, states):
    """E(s) = -sum_b J_b s_{i_b} s_{j_b} - h.s for every row of ``states`` (bond lists; ``h`` may be None)."""
    E = -(states[:, np.asarray(i)] * states[:, np.asarray(j)]) @ np.asarray(J, float)
    return E if h is None else E - states @ np.asarray(h, float)


def model_energies(model, states):
    """:func:`bond_energies` of an IsingModel's bonds and fields (its raw arrays, not its code)."""
    return bond_energies(model.edge_i, model.edge_j, model.couplings, model.fields, states)


def logsumexp(a, axis=None):
    """ln sum exp(a) along ``axis`` (all elements when None), about the maximum."""
    a = np.asarray(a, float)
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.exp(a - top).sum(axis=axis))


# ------------------------------------------------------------------ thermodynamics by enumeration
def _thermo(S, E, betas):
    """Every observable from states S (2^n, n) and their energies E, each about a ground state.

    Every non-negative quantity is a sum of non-negative terms, so it keeps its relative accuracy at
    any beta (beta = 50 included): energies about the ground energy E0 (gap >= 0), magnetisations
    about a ground state's M (an integer), ln Z = -beta E0 + ln g + ln(1 + excited weight / g) with
    g the (integer) ground degeneracy, S = ln Z + beta U about E0.
    """
    n = S.shape[1]
    M = S.sum(1)
    g0 = int(np.argmin(E))
    e0 = E[g0]
    gap = E - e0
    ground = gap == 0.0
    dM = M - M[g0]
    out = {k: [] for k in ("lnZ", "f", "u", "s", "c", "m", "m2", "absm", "chi", "sites")}
    for b in np.atleast_1d(np.asarray(betas, float)):
        w = np.exp(-b * gap)
        g, rest = w[ground].sum(), w[~ground].sum()
        ln_z = np.log(g) + np.log1p(rest / g)  # ln sum exp(-b (E - E0))
        p = w / (g + rest)
        du, dm = p @ gap, p @ dM
        out["lnZ"].append(ln_z - b * e0)
        out["f"].append(-out["lnZ"][-1] / (b * n) if b > 0 else -np.inf)
        out["u"].append((e0 + du) / n)
        out["s"].append((ln_z + b * du) / n)
        out["c"].append(b * b * (p @ (gap - du) ** 2) / n)
        out["m"].append((M[g0] + dm) / n)
        out["m2"].append(p @ M**2 / n**2)
        out["absm"].append(p @ np.abs(M) / n)
        out["chi"].append(b * (p @ (dM - dm) ** 2) / n)  # beta N (<m^2> - <m>^2), centred
        out["sites"].append(p @ S)
    out = {k: np.array(v) for k, v in out.items()}
    out["e0"] = e0
    return out


def thermo(J, h, betas):
    """Exact thermodynamics by brute force over all 2^N states, dense couplings ``J`` (N, N), fields ``h`` (N,).

    A dict of arrays over ``betas`` like the library's: lnZ (total), f, u, s, c, m, m2, absm, chi (per
    spin; f = -inf at beta = 0), sites (nb, N) the magnetisations <s_i>, and e0 the ground energy.
    """
    J = np.asarray(J, float)
    h = np.asarray(h, float)
    S = all_states(h.size)
    return _thermo(S, energies(J, h, S), betas)


def model_thermo(model, betas):
    """:func:`thermo` of an IsingModel, its energies from its bond lists (faster for N ~ 20)."""
    S = all_states(model.n)
    return _thermo(S, model_energies(model, S), betas)


def model_lnZ(model, betas):
    """ln Z of an IsingModel at each of ``betas`` (nb,), by listing all 2^N states."""
    E = model_energies(model, all_states(model.n))
    return np.array([logsumexp(-b * E) for b in np.atleast_1d(np.asarray(betas, float))])


def ground_energy(model):
    """The ground-state energy of an IsingModel, by listing all 2^N states."""
    return model_energies(model, all_states(model.n)).min()


# ------------------------------------------------------------------ factor graphs (UAI, FG files)
def factor_log_weights(n, factors):
    """ln prod_f psi_f(x_scope) for every x of :func:`binary_states` (2^n,).

    ``factors``: (scope, table) pairs; ``table`` a mapping {x_scope tuple: psi} or an array over the
    scope's states in UAI order (last scope variable fastest).
    """
    x = binary_states(n)
    log_w = np.zeros(len(x))
    for scope, table in factors:
        if isinstance(table, dict):
            table = [table[key] for key in itertools.product((0, 1), repeat=len(scope))]
        index = np.zeros(len(x), np.int64)
        for v in scope:  # UAI order: the last variable of the scope is the fastest
            index = 2 * index + x[:, v]
        log_w += np.log(np.asarray(table, float)[index])
    return log_w


def factor_lnZ(n, factors):
    """ln sum_{x in {0,1}^n} prod_f psi_f(x_scope) (see :func:`factor_log_weights`)."""
    return float(logsumexp(factor_log_weights(n, factors)))


# ------------------------------------------------------------------ transfer matrices and closed forms
def chain_lnZ(n, J, h, beta):
    """Periodic chain, ln Tr T^n with T_{ss'} = exp(beta (J s s' + h (s + s')/2)).

    Baxter, *Exactly Solved Models in Statistical Mechanics*, eq. 2.2.4-2.2.9.
    """
    T = np.array([[math.exp(beta * (J + h)), math.exp(-beta * J)],
                  [math.exp(-beta * J), math.exp(beta * (J - h))]])
    lam = np.linalg.eigvalsh(T)
    return math.log(np.sum(lam**n))  # lam may be negative (J < 0): integer power keeps its sign


def open_chain_lnZ(J, h, beta):
    """ln Z of an open chain (couplings J (n-1,), fields h (n,)) by a plain 2x2 transfer-matrix product
    (rescaled each step)."""
    s = np.array([1.0, -1.0])
    v = np.exp(beta * h[0] * s)
    lnz = 0.0
    for k in range(len(J)):
        T = np.exp(beta * (J[k] * np.outer(s, s) + h[k + 1] * s[None, :]))
        v = v @ T
        top = v.max()
        lnz += math.log(top)
        v = v / top
    return lnz + math.log(v.sum())


def lattice_transfer_lnZ(L, J_h, J_v, betas):
    """ln Z of the open L x L lattice, no field (:func:`square_transfer_thermo`, L <= 16).

    J_h (L, L-1) couples (r, c)-(r, c+1), J_v (L-1, L) couples (r, c)-(r+1, c).
    """
    pad_h, pad_v = np.zeros((L, L)), np.zeros((L, L))
    pad_h[:, :-1], pad_v[:-1] = J_h, J_v
    return square_transfer_thermo(pad_h, pad_v, betas)["lnZ"]


def lattice_5x5_lnZ(J_h, J_v, betas):
    """ln Z of the open 5 x 5 lattice, no field, by listing all 2^25 states, row by row (plain NumPy).

    J_h (5, 4) couples (r, c)-(r, c+1), J_v (4, 5) couples (r, c)-(r+1, c).  Each state's energy
    is the sum of its five rows' energies and the four row-pairs' energies (tables over 32 row
    states); the states are summed in 32 blocks of 32^4 with the first row fixed.
    """
    L = 5
    rows = 1 - 2 * ((np.arange(2**L)[:, None] >> np.arange(L)) & 1)  # (32, 5)
    e_row = [-(rows[:, :-1] * rows[:, 1:]) @ J_h[r] for r in range(L)]  # (32,) each
    e_pair = [-(rows[:, None, :] * rows[None, :, :]) @ J_v[r] for r in range(L - 1)]  # (32, 32)
    out = np.full(len(betas), -np.inf)
    for a in range(2**L):
        E = (e_row[0][a] + e_pair[0][a][:, None, None, None] + e_row[1][:, None, None, None]
             + e_pair[1][:, :, None, None] + e_row[2][None, :, None, None]
             + e_pair[2][None, :, :, None] + e_row[3][None, None, :, None]
             + e_pair[3][None, None, :, :] + e_row[4][None, None, None, :])
        for k, b in enumerate(betas):
            out[k] = np.logaddexp(out[k], logsumexp(-b * E.ravel()))
    return out


def square_bonds(model):
    """The couplings of an IsingModel on the L x L square lattice as two (L, L) arrays, read off its edge list.

    Sites are row-major, ``site = r L + c`` (the square family's layout, isingvar/families.py; the *first
    axis* is the row index r).  Returns ``(J_h, J_v, wraps)``: ``J_h[r, c]`` couples (r, c)-(r, (c+1) % L),
    ``J_v[r, c]`` couples (r, c)-((r+1) % L, c), float64, zero where no bond is listed (so the last column
    of J_h and the last row of J_v hold the seam bonds); ``wraps`` (bool, bool) says whether any bond
    crosses the first axis's seam (row L-1 to row 0), resp. the second's (column L-1 to column 0).  On a
    periodic L = 2 lattice the family merges the two bonds of a pair into one: that one is read as the
    inner bond (same energy; no seam left to negate).  ValueError for N not a square >= 4 or a bond that
    is not a nearest-neighbour pair.
    """
    L = math.isqrt(model.n)
    if L * L != model.n or L < 2:
        raise ValueError(f"N = {model.n} is not L^2 with L >= 2")
    ri, ci = np.divmod(np.asarray(model.edge_i), L)  # edge_i < edge_j
    rj, cj = np.divmod(np.asarray(model.edge_j), L)
    J = np.asarray(model.couplings, float)
    right = (ri == rj) & (cj == ci + 1)
    hseam = (ri == rj) & (ci == 0) & (cj == L - 1) & ~right
    down = (ci == cj) & (rj == ri + 1)
    vseam = (ci == cj) & (ri == 0) & (rj == L - 1) & ~down
    if not np.all(right | hseam | down | vseam):
        raise ValueError("a bond of the model is not a nearest-neighbour bond of the L x L square lattice")
    J_h, J_v = np.zeros((L, L)), np.zeros((L, L))
    J_h[ri[right], ci[right]] = J[right]
    J_h[ri[hseam], L - 1] = J[hseam]
    J_v[ri[down], ci[down]] = J[down]
    J_v[L - 1, ci[vseam]] = J[vseam]
    return J_h, J_v, (bool(vseam.any()), bool(hseam.any()))


def square_transfer_thermo(J_h, J_v, betas, h=0.0, seams=(0, 0)):
    """ln Z, f, u, s, c of the L x L square lattice by a row-to-row transfer matrix, bond by bond (plain NumPy).

    E(s) = -sum J_h[r, c] s(r, c) s(r, c+1) - sum J_v[r, c] s(r, c) s(r+1, c) - sum h[r, c] s(r, c), with the
    seam bonds (the last column of ``J_h``, (r, L-1)-(r, 0); the last row of ``J_v``, (L-1, c)-(0, c)) times
    ``seams[1]``, resp. ``seams[0]``: 0 open (the seam bonds left out), 1 periodic, -1 antiperiodic.

    The transfer runs along the first axis over the 2^L states of a row (Baxter, *Exactly Solved Models
    in Statistical Mechanics*, sec. 7.1); the vertical bonds between two rows are applied one column at a
    time (a 2 x 2 matrix on one spin of the row vector, O(L 2^L) per row, no 2^L x 2^L matrix), the
    horizontal bonds and fields as a diagonal weight per row.  Each row state carries the weight of the
    partial configurations ending in it (scaled: every factor <= 1, the row vector divided by its maximum
    after each row, the logarithms of the scales summed; a state below ~1e-300 of the largest is dropped,
    which no moment can notice), and their conditional mean energy and conditional variance; two
    branches merge by the law of total variance, Var = p0 v0 + p1 v1 + p0 p1 (a0 - a1)^2, a sum of
    non-negative terms, so U = <E> and C = beta^2 Var E are exact to rounding at any beta (no finite
    differences, no <E^2> - <E>^2).  S = ln Z + beta U loses ~1e-16 beta |U| / S of its relative accuracy.

    Periodic along the first axis (``seams[0] != 0``) is a trace: the row-0 state is held fixed, one
    batch entry per start state (half of them at h = 0, by the global flip), and the seam bonds bring the
    last row back onto it; that costs 4^L: L <= 10 only.  Periodic along the second axis only is
    transposed first (then the transfer runs along the open axis).

    Parameters: J_h, J_v float (L, L); betas (nb,) >= 0; h a scalar or float (L, L); seams (first, second),
    each 0, 1 or -1.  Returns a dict of float64 (nb,) arrays as :func:`thermo`'s: lnZ (total), f, u, s, c
    (per spin; f = -inf at beta = 0).  ValueError for L > 16, or a trace with L > 10.
    """
    J_h, J_v = np.array(J_h, float), np.array(J_v, float)
    L = J_h.shape[0]
    h = np.broadcast_to(np.asarray(h, float), (L, L))
    first, second = (float(x) for x in seams)
    if first and not second:  # transpose: transfer along the open axis
        J_h, J_v, h, first, second = J_v.T.copy(), J_h.T.copy(), h.T, second, first
    if L > 16 or (first and L > 10):
        raise ValueError(f"L = {L}: the transfer matrix takes L <= 16 (L <= 10 periodic along both axes)")
    J_h[:, L - 1] *= second
    J_v[L - 1, :] *= first
    betas = np.atleast_1d(np.asarray(betas, float))
    spins = 1 - 2 * ((np.arange(2**L)[:, None] >> np.arange(L)) & 1)  # (2^L, L): column c is bit c, bit 0 -> +1
    e_row = -(spins * np.roll(spins, -1, axis=1)) @ J_h.T - spins @ h.T  # (2^L, L): row r's energy, column r
    # the trace's start states: all of them, or those with s_{L-1} = +1 at h = 0 (the flip gives the others)
    symmetric = bool(first) and not h.any()
    starts = np.arange(2 ** (L - 1) if symmetric else 2**L) if first else None
    # blocks of start states and of betas whose row vectors stay within ~2^16 entries (in cache: twice as fast)
    blocks = [None] if starts is None else np.array_split(starts, max(1, starts.size * 2**L // 2**16))
    chunk = max(1, 2**16 // (2**L * (1 if starts is None else blocks[0].size)))
    parts = []
    for k in range(0, betas.size, chunk):
        sums = [_transfer_moments(J_v, e_row, betas[k:k + chunk], block) for block in blocks]
        parts.append(_pool(*(np.stack(x, axis=1) for x in zip(*sums))))
    lnz, mean, var = (np.concatenate(x) for x in zip(*parts))
    lnz = lnz + (math.log(2.0) if symmetric else 0.0)
    n = L * L
    with np.errstate(divide="ignore"):
        f = np.where(betas > 0, -lnz / (betas * n), -np.inf)
    return {"lnZ": lnz, "f": f, "u": mean / n, "s": (lnz + betas * mean) / n, "c": betas**2 * var / n}


def _transfer_moments(J_v, e_row, betas, starts):
    """ln Z (or ln of the trace over ``starts``), <E> and Var E (totals, (nb,)) of
    :func:`square_transfer_thermo`'s transfer; ``starts`` None (open along the first axis) or the row-0
    states held fixed (int (S,)), closed by the seam bonds J_v[L-1].

    Row vectors are (nb, S, 2^L): weight w, conditional mean energy m, conditional variance v; the
    state's bit c is column c's spin (0: +1).  Between two rows the columns are replaced from the top bit
    down, each new spin moved to the bottom (so both halves of every step are contiguous, and after L
    steps the bits are back in place).
    """
    L, nb = e_row.shape[1], betas.size
    half = 2 ** (L - 1)
    lo0 = e_row[:, 0].min()
    if starts is None:
        w = np.exp(-betas[:, None, None] * (e_row[:, 0] - lo0))
    else:
        w = np.zeros((nb, starts.size, 2**L))
        w[:, np.arange(starts.size), starts] = np.exp(-betas[:, None] * (e_row[starts, 0] - lo0))
    m = np.broadcast_to(e_row[:, 0], w.shape).copy()
    v = np.zeros(w.shape)
    log_scale = -betas * lo0
    shape = (nb, w.shape[1], 2, half)
    spare = [np.empty((nb, w.shape[1], half, 2)) for _ in range(3)]  # the next row vector (no allocation per step:
    n0, n1, inv, p0, p1, d, dm, tmp = np.empty((8, nb, w.shape[1], half))  # a 2x difference in system time)
    for r in range(L if starts is not None else L - 1):
        for c in range(L - 1, -1, -1):  # the bond (r, c)-(r+1, c): column c's spin goes from row r to row r+1
            J = J_v[r, c]
            w4, m4, v4 = w.reshape(shape), m.reshape(shape), v.reshape(shape)
            out = [x.reshape(nb, w.shape[1], half, 2) for x in spare]
            np.subtract(m4[:, :, 0], m4[:, :, 1], out=dm)
            for tb, t in ((0, 1.0), (1, -1.0)):
                # from s = +1, -1 to t: factor exp(beta (J s t - |J|)) <= 1, energy -J s t
                np.multiply(w4[:, :, 0], np.exp(betas * (J * t - abs(J)))[:, None, None], out=n0)
                np.multiply(w4[:, :, 1], np.exp(betas * (-J * t - abs(J)))[:, None, None], out=n1)
                np.add(n0, n1, out=out[0][..., tb])
                np.maximum(out[0][..., tb], 1e-300, out=inv)  # both shares 0 where the weight is 0
                np.reciprocal(inv, out=inv)
                np.multiply(n0, inv, out=p0)  # both divided out: 1 - p0 would lose a share below 1e-16
                np.multiply(n1, inv, out=p1)
                np.subtract(dm, 2.0 * J * t, out=d)  # a0 - a1 = (m0 - J t) - (m1 + J t)
                np.multiply(p0, d, out=tmp)  # m' = a1 + p0 (a0 - a1)
                tmp += m4[:, :, 1]
                np.add(tmp, J * t, out=out[1][..., tb])
                d *= d  # v' = p0 v0 + p1 v1 + p0 p1 (a0 - a1)^2
                d *= p0
                d *= p1
                np.multiply(p0, v4[:, :, 0], out=tmp)
                tmp += d
                p1 *= v4[:, :, 1]
                np.add(tmp, p1, out=out[2][..., tb])
            (w, m, v), spare = (x.reshape(w.shape) for x in out), [w, m, v]
            log_scale = log_scale + betas * abs(J)
        if r + 1 < L:  # row r + 1's own bonds and fields
            lo = e_row[:, r + 1].min()
            w *= np.exp(-betas[:, None, None] * (e_row[:, r + 1] - lo))
            m += e_row[:, r + 1]
            log_scale = log_scale - betas * lo
        top = w.max(axis=(1, 2))
        w /= top[:, None, None]
        log_scale = log_scale + np.log(top)
    if starts is not None:  # the trace: the seam brought the last row back onto row 0's state
        pick = (slice(None), np.arange(starts.size), starts)
        w, m, v = w[pick], m[pick], v[pick]
    with np.errstate(divide="ignore"):
        return _pool(np.log(w.reshape(nb, -1)) + log_scale[:, None], m.reshape(nb, -1), v.reshape(nb, -1))


def _pool(log_w, mean, var):
    """ln sum_k W_k, the mean and the variance of the union of parts k (arrays (nb, K): ln W_k, their
    means and variances) by the law of total variance, sum_k p_k (v_k + (m_k - m)^2): non-negative terms.

    The mean is taken about the heaviest part's (m's rounding, squared, is the floor of the variance:
    ~(1e-16 |E|)^2 from a mean of all of E, far below it from its spread about the heaviest part)."""
    total = logsumexp(log_w, axis=1)
    p = np.exp(log_w - total[:, None])
    p /= p.sum(axis=1, keepdims=True)
    ref = np.take_along_axis(mean, np.argmax(log_w, axis=1)[:, None], axis=1)
    dm = mean - ref
    m = (p * dm).sum(axis=1)
    return total, ref[:, 0] + m, (p * (var + (dm - m[:, None]) ** 2)).sum(axis=1)


def square_model_thermo(model, betas, antiperiodic=(False, False)):
    """:func:`square_transfer_thermo` of an IsingModel on the L x L square lattice (:func:`square_bonds`;
    its fields as h): open along an axis no bond wraps, else periodic, or antiperiodic (the seam bonds
    negated) where ``antiperiodic`` says so (first axis: the bonds (L-1, c)-(0, c)).  ValueError for an
    antiperiodic axis that does not wrap."""
    J_h, J_v, wraps = square_bonds(model)
    if any(a and not w for a, w in zip(antiperiodic, wraps)):
        raise ValueError("antiperiodic along an axis that no bond wraps around")
    seams = tuple((-1 if a else 1) if w else 0 for a, w in zip(antiperiodic, wraps))
    L = J_h.shape[0]
    return square_transfer_thermo(J_h, J_v, betas, np.asarray(model.fields).reshape(L, L), seams)


def layered_lnZ(model, layer, betas):
    """ln Z of an IsingModel by a transfer-matrix trace over layers of spins (each enumerated whole).

    ``layer`` int (N,), layers 0 .. D-1 (D >= 2); every bond lies inside a layer or joins layers d and
    d + 1 mod D.  T_d[a, b] = exp(-beta (E_d(a) + E_{d,d+1}(a, b))) over the 2^n_d states a of layer d
    (its bonds and fields) and b of layer d + 1 mod D, Z = Tr(T_0 ... T_{D-1}) (each T scaled by its
    largest entry, the scale added back); a periodic cubic lattice of 3^3 spins in its 9-spin planes."""
    layer = np.asarray(layer)
    D = int(layer.max()) + 1
    i, j, J, h = model.edge_i, model.edge_j, np.asarray(model.couplings, float), np.asarray(model.fields, float)
    li, lj = layer[i], layer[j]
    to_next = (lj - li) % D == 1
    from_next = ~to_next & ((li - lj) % D == 1)
    assert D >= 2 and np.all((li == lj) | to_next | from_next)
    tail = np.where(from_next, j, i)  # bond (tail, head): tail in layer d, head in d + 1 mod D
    head = np.where(from_next, i, j)
    full = []
    for d in range(D):
        s = np.zeros((1 << int(np.sum(layer == d)), model.n))
        s[:, layer == d] = all_states(int(np.sum(layer == d)))
        full.append(s)
    out = []
    for beta in np.atleast_1d(betas):
        total, M = 0.0, None
        for d in range(D):
            a, b = full[d], full[(d + 1) % D]
            inner = (li == d) & (lj == d)
            e_in = bond_energies(i[inner], j[inner], J[inner], h * (layer == d), a)
            link = (li != lj) & (layer[tail] == d)
            e_link = -(a[:, tail[link]] * J[link]) @ b[:, head[link]].T
            logT = -beta * (e_in[:, None] + e_link)
            top = logT.max()
            total += top
            T = np.exp(logT - top)
            M = T if M is None else M @ T
        out.append(total + math.log(np.trace(M)))
    return np.array(out)


def curie_weiss_lnZ(n, J, h, beta):
    """Curie-Weiss, J_ij = J/N: a sum over M = 2k - N with binomial weights.

    sum_{i<j} s_i s_j = (M^2 - N)/2, so E = -J (M^2 - N)/(2N) - h M.
    """
    terms = []
    for k in range(n + 1):
        M = 2 * k - n
        log_binom = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        E = -J * (M * M - n) / (2 * n) - h * M
        terms.append(log_binom - beta * E)
    return logsumexp(np.array(terms))


def mf_lnZ_lower(J, h, beta, m):
    """S(m) - beta U(m) of the product distribution with magnetisations m."""
    m = np.asarray(m, float)
    p = (1 + m) / 2
    q = (1 - m) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        S = -np.sum(np.where(p > 0, p * np.log(p), 0.0) + np.where(q > 0, q * np.log(q), 0.0))
    U = -0.5 * m @ J @ m - h @ m
    return S - beta * U
