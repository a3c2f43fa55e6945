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
    """ln Z of the open L x L lattice, no field, by a column transfer matrix in log space (L <= 11).

    J_h (L, L-1) couples (r, c)-(r, c+1), J_v (L-1, L) couples (r, c)-(r+1, c).
    """
    cols = 1 - 2 * ((np.arange(2**L)[:, None] >> np.arange(L)) & 1)
    inner = [-(cols[:, :-1] * cols[:, 1:]) @ J_v[:, c] for c in range(L)]  # energy inside column c
    across = [-(cols[:, None, :] * cols[None, :, :]) @ J_h[:, c] for c in range(L - 1)]  # (from, to)
    out = []
    for b in betas:
        v = -b * inner[0]
        for c in range(1, L):
            v = logsumexp(v[:, None] - b * across[c - 1], axis=0) - b * inner[c]
        out.append(logsumexp(v))
    return np.array(out)


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
