"""Slow, obviously correct references, independent of the code under test.

Everything here uses a dense coupling matrix and plain NumPy over all 2^N
states (no Gray code, no CSR, no incremental updates, no kernels).
"""

import itertools
import math

import numpy as np


def all_states(n):
    """All 2^n spin configurations, float64 (2^n, n)."""
    return np.array(list(itertools.product((-1.0, 1.0), repeat=n)))


def energies(J, h, states):
    """E(s) = -1/2 s.J.s - h.s for every row of ``states``."""
    return -0.5 * np.einsum("ki,ij,kj->k", states, J, states) - states @ h


def logsumexp(a):
    top = a.max()
    return top + np.log(np.exp(a - top).sum())


def thermo(J, h, betas):
    """Exact thermodynamics by brute force; dict of arrays over betas (per spin
    like the library: f, u, s, c per spin; lnZ total)."""
    J = np.asarray(J, float)
    h = np.asarray(h, float)
    n = h.size
    S = all_states(n)
    E = energies(J, h, S)
    M = S.sum(1)
    out = {k: [] for k in ("lnZ", "u", "c", "s", "m", "m2", "absm", "chi")}
    for b in betas:
        a = -b * E
        lnZ = logsumexp(a)
        p = np.exp(a - lnZ)
        U = p @ E
        var = p @ (E - U) ** 2  # centred: no cancellation
        m = p @ M / n
        m2 = p @ M**2 / n**2
        out["lnZ"].append(lnZ)
        out["u"].append(U / n)
        out["c"].append(b * b * var / n)
        # S = ln Z + beta U about the ground state: (ln Z + beta E0) + beta (U - E0), no cancellation at large beta
        out["s"].append((logsumexp(a + b * E.min()) + b * (p @ (E - E.min()))) / n)
        out["m"].append(m)
        out["m2"].append(m2)
        out["absm"].append(p @ np.abs(M) / n)
        out["chi"].append(b * n * (p @ (M / n - m) ** 2))  # centred: no cancellation
    out = {k: np.array(v) for k, v in out.items()}
    out["e0"] = E.min()
    return out


def chain_lnZ(n, J, h, beta):
    """Periodic chain, ln Tr T^n with T_{ss'} = exp(beta (J s s' + h (s + s')/2)).

    Baxter, *Exactly Solved Models in Statistical Mechanics*, eq. 2.2.4-2.2.9.
    """
    T = np.array([[math.exp(beta * (J + h)), math.exp(-beta * J)],
                  [math.exp(-beta * J), math.exp(beta * (J - h))]])
    lam = np.linalg.eigvalsh(T)
    return math.log(np.sum(lam**n))  # lam may be negative (J < 0): integer power keeps its sign


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
