"""Exact enumeration against references computed independently of it."""

import math

import naive
import numpy as np
import pytest
from conftest import random_model

from isingvar.errors import TooLargeError
from isingvar.exact.enumeration import exact_enumeration
from isingvar.families import make_instance, resolve_params
from isingvar.model import IsingModel

BETAS = np.array([0.0, 0.05, 0.3, 1.0, 2.5, 10.0, 50.0, 200.0])


def _compare(res, ref, n):
    np.testing.assert_allclose(res.lnZ, ref["lnZ"], rtol=1e-12, atol=1e-12)
    scale = max(1.0, abs(ref["e0"]) / n)
    np.testing.assert_allclose(res.u, ref["u"], rtol=1e-11, atol=1e-11 * scale)
    np.testing.assert_allclose(res.s, ref["s"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.c, ref["c"], rtol=1e-8, atol=1e-10)
    for k in ("m", "m2", "absm"):
        np.testing.assert_allclose(getattr(res, k), ref[k], rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(res.chi, ref["chi"], rtol=1e-8, atol=1e-9)
    assert res.e0 == pytest.approx(ref["e0"], rel=1e-13, abs=1e-13)


@pytest.mark.parametrize("n", [1, 2, 5, 9, 14])
@pytest.mark.parametrize("field_scale", [0.0, 0.7])
@pytest.mark.parametrize("integer", [False, True])
def test_matches_brute_force(n, field_scale, integer):
    rng = np.random.default_rng(n * 100 + int(10 * field_scale) + integer)
    m = random_model(n, rng, field_scale=field_scale, integer=integer)
    res = exact_enumeration(m, BETAS)
    _compare(res, naive.thermo(m.dense(), m.fields, BETAS), n)
    # the returned ground state has the ground-state energy
    assert m.energy(res.ground_state) == pytest.approx(res.e0, abs=1e-12)


def test_chunked_path_matches_brute_force():
    # N = 16 > 14 splits the enumeration into re-anchored chunks run in threads
    rng = np.random.default_rng(7)
    m = random_model(16, rng, density=0.4)
    betas = np.array([0.0, 0.4, 1.7, 30.0])
    _compare(exact_enumeration(m, betas), naive.thermo(m.dense(), m.fields, betas), 16)


def test_irregular_unsorted_beta_grid():
    rng = np.random.default_rng(3)
    m = random_model(8, rng)
    betas = np.array([3.0, 0.1, 120.0, 0.7])
    _compare(exact_enumeration(m, betas), naive.thermo(m.dense(), m.fields, betas), 8)


def test_beta_zero_is_infinite_temperature(rng):
    m = random_model(10, rng)
    res = exact_enumeration(m, [0.0])
    assert res.lnZ[0] == pytest.approx(10 * math.log(2), rel=1e-15)
    assert res.s[0] == pytest.approx(math.log(2), rel=1e-15)
    assert res.c[0] == 0.0
    assert res.f[0] == -np.inf


@pytest.mark.parametrize("n", [2, 3, 8, 13])
@pytest.mark.parametrize("J, h", [(1.0, 0.0), (-0.8, 0.3), (0.5, -1.1)])
def test_periodic_chain_transfer_matrix(n, J, h):
    betas = np.array([0.1, 0.6, 2.0])
    base = make_instance("chain", resolve_params("chain", {"n": n}), 0, 0)
    res = exact_enumeration(base.scaled(J, h), betas)
    ref = [naive.chain_lnZ(n, J, h, b) for b in betas]
    np.testing.assert_allclose(res.lnZ, ref, rtol=1e-12)


@pytest.mark.parametrize("n", [3, 10, 20])
@pytest.mark.parametrize("h", [0.0, 0.2])
def test_curie_weiss_binomial_sum(n, h):
    betas = np.array([0.2, 1.0, 1.5, 4.0])
    base = make_instance("curie-weiss", resolve_params("curie-weiss", {"n": n}), 0, 0)
    res = exact_enumeration(base.scaled(1.0, h), betas)
    ref = [naive.curie_weiss_lnZ(n, 1.0, h, b) for b in betas]
    np.testing.assert_allclose(res.lnZ, ref, rtol=1e-12)


def test_thermodynamic_identities_by_finite_differences():
    # U = -d lnZ/d beta and C = beta^2 d^2 lnZ/d beta^2 (Mezard & Montanari eq. 2.11-2.12)
    rng = np.random.default_rng(11)
    m = random_model(10, rng, field_scale=0.3)
    b0 = np.array([0.3, 0.9, 2.0])
    d = 1e-4
    res = exact_enumeration(m, np.concatenate([b0 - d, b0, b0 + d]))
    lm, l0, lp = np.split(res.lnZ, 3)
    u0 = np.split(res.u, 3)[1]
    c0 = np.split(res.c, 3)[1]
    np.testing.assert_allclose(-(lp - lm) / (2 * d) / 10, u0, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(b0**2 * (lp - 2 * l0 + lm) / d**2 / 10, c0, rtol=1e-4, atol=1e-6)


def test_gauge_invariance():
    # s_i -> tau_i s_i with J_ij -> tau_i tau_j J_ij, h_i -> tau_i h_i leaves Z unchanged
    rng = np.random.default_rng(5)
    m = random_model(11, rng)
    tau = rng.choice([-1.0, 1.0], 11)
    g = IsingModel.from_dense(np.outer(tau, tau) * m.dense(), tau * m.fields)
    betas = np.array([0.2, 1.0, 5.0])
    a, b = exact_enumeration(m, betas), exact_enumeration(g, betas)
    np.testing.assert_allclose(a.lnZ, b.lnZ, rtol=1e-13)
    np.testing.assert_allclose(a.c, b.c, rtol=1e-10)
    assert a.e0 == pytest.approx(b.e0, abs=1e-12)


def test_zero_field_has_zero_magnetisation(rng):
    m = random_model(12, rng, field_scale=0.0)
    res = exact_enumeration(m, BETAS)
    # s and -s have equal energies up to the round-off of the incremental update,
    # which exp(-beta dE) at beta = 200 turns into ~1e-13
    np.testing.assert_allclose(res.m, 0.0, atol=1e-11)
    np.testing.assert_allclose(res.m[:4], 0.0, atol=1e-14)


def test_large_beta_reaches_ground_state():
    # integer couplings: ground level E0 with its degeneracy g, gap >= 2; lnZ -> -beta E0 + ln g
    rng = np.random.default_rng(2)
    m = random_model(10, rng, integer=True, field_scale=0.0)
    ref = naive.thermo(m.dense(), m.fields, [1.0])
    S = naive.all_states(10)
    E = naive.energies(m.dense(), m.fields, S)
    g = np.isclose(E, E.min()).sum()
    res = exact_enumeration(m, [200.0])
    assert res.lnZ[0] == pytest.approx(-200.0 * ref["e0"] + math.log(g), rel=1e-14)
    assert res.c[0] < 1e-100


def test_refuses_by_time_estimate_without_force(slow_estimate):
    from isingvar.sweep import make_config

    with pytest.raises(TooLargeError, match="would take about .* --force"):
        make_config("sk", {"n": 40}, beta="0.1:3:64", methods=["exact"])
    assert make_config("sk", {"n": 40}, beta="1", methods=["exact"], force=True).methods == ("exact",)
    with pytest.raises(TooLargeError, match="impossible"):
        exact_enumeration(IsingModel(63, [], [], []), [1.0])


def test_rejects_negative_beta(rng):
    with pytest.raises(ValueError, match=">= 0"):
        exact_enumeration(random_model(3, rng), [-1.0])


@pytest.mark.parametrize("beta", [20.0, 50.0])
def test_entropy_of_a_unique_ground_state_keeps_its_relative_accuracy(beta):
    """With one ground state, S is the tiny thermal rest (1e-28 per spin at beta = 20, 1e-69 at 50): it must
    keep ~1e-10 relative accuracy, not only absolute (reference: 200-digit sums over all states)."""
    import mpmath

    m = make_instance("chain", resolve_params("chain", {"n": 10}), 0, 0).scaled(1.0, 0.3)
    r = exact_enumeration(m, [beta])
    assert r.path == "histogram"
    states = naive.all_states(m.n)
    J = np.zeros((m.n, m.n))
    J[m.edge_i, m.edge_j] = J[m.edge_j, m.edge_i] = m.couplings
    E = naive.energies(J, m.fields, states)
    tenths = np.round(E * 10).astype(int)  # energies are multiples of 0.1 (J = 1, h = 0.3) up to rounding
    assert np.allclose(tenths / 10, E, atol=1e-12)
    with mpmath.workdps(200):
        b = mpmath.mpf(beta)
        dE = [mpmath.mpf(int(t - tenths.min())) / 10 for t in tenths]  # E - E0, exactly
        w = [mpmath.exp(-b * d) for d in dE]
        z = mpmath.fsum(w)
        u = mpmath.fsum(wi * d for wi, d in zip(w, dE)) / z
        s_ref = float((mpmath.log(z) + b * u) / m.n)  # S = ln Z + beta U, both about E0
    assert 0 < s_ref < 1e-20
    assert r.s[0] == pytest.approx(s_ref, rel=1e-10, abs=0)
