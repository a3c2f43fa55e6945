"""Mean field: the bound, its stationarity, and limits where it is exact."""

import math

import naive
import numpy as np
import pytest
from conftest import random_model
from hypothesis import given, settings
from hypothesis import strategies as st

from isingvar.exact.enumeration import exact_enumeration
from isingvar.families import make_instance, resolve_params
from isingvar.kernels.meanfield import _binary_entropy, _mf_energy_entropy, _mf_solve
from isingvar.meanfield import mean_field
from isingvar.model import IsingModel


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
    coupling_scale=st.floats(0.05, 3.0),
    field_scale=st.floats(0.0, 2.0),
    density=st.floats(0.2, 1.0),
    betas=st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 20.0)), min_size=1, max_size=5, unique=True),
)
def test_bound_holds_on_random_instances(n, seed, coupling_scale, field_scale, density, betas):
    rng = np.random.default_rng(seed)
    m = random_model(n, rng, coupling_scale=coupling_scale, field_scale=field_scale, density=density)
    ref = naive.thermo(m.dense(), m.fields, betas)
    mf = mean_field(m, betas, rng=rng)
    slack = 1e-10 * (1 + np.abs(ref["lnZ"]))
    assert np.all(mf.lnZ_lower <= ref["lnZ"] + slack)  # ln Z >= S - beta U: the ELBO
    pos = np.array(betas) > 0
    assert np.all(mf.f_upper[pos] >= ref["lnZ"][pos] / -(np.array(betas)[pos] * n) - slack[pos])
    # the reported bound is S - beta U at the reported m (independent evaluation)
    for k, b in enumerate(betas):
        assert mf.lnZ_lower[k] == pytest.approx(naive.mf_lnZ_lower(m.dense(), m.fields, b, mf.sites[k]), rel=1e-12, abs=1e-12)


def test_fixed_point_when_converged(rng):
    m = random_model(12, rng, coupling_scale=0.5)
    betas = np.linspace(0.1, 2.0, 7)
    mf = mean_field(m, betas, rng=rng)
    J, h = m.dense(), m.fields
    for k, b in enumerate(betas):
        assert mf.converged[k]
        np.testing.assert_allclose(mf.sites[k], np.tanh(b * (h + J @ mf.sites[k])), atol=1e-9)


def test_sequential_updates_never_increase_free_energy(rng):
    m = random_model(30, rng, coupling_scale=1.5)
    indptr, indices, data = m.csr
    beta = 1.3
    mags = rng.uniform(-1, 1, 30)
    previous = np.inf
    for _ in range(40):
        _mf_solve(indptr, indices, data, m.fields, beta, mags, 1, 0.0)
        u, s, _ = _mf_energy_entropy(indptr, indices, data, m.fields, mags)
        assert beta * u - s <= previous + 1e-12
        previous = beta * u - s


def test_independent_spins_are_exact():
    # no couplings: the product distribution is the Boltzmann distribution, KL = 0
    h = np.array([0.3, -1.2, 2.0, 0.0])
    m = IsingModel(4, [], [], [], h)
    betas = np.array([0.0, 0.5, 3.0, 40.0])
    mf = mean_field(m, betas, rng=np.random.default_rng(0))
    ref = [np.sum(np.log(2 * np.cosh(b * h))) for b in betas]
    np.testing.assert_allclose(mf.lnZ_lower, ref, rtol=1e-13)


def test_beta_zero_gives_n_ln2(rng):
    m = random_model(6, rng)
    mf = mean_field(m, [0.0], rng=rng)
    assert mf.lnZ_lower[0] == pytest.approx(6 * math.log(2), rel=1e-15)
    np.testing.assert_array_equal(mf.sites[0], 0.0)


def test_entropy_is_safe_at_saturation():
    assert _binary_entropy(1.0) == 0.0
    assert _binary_entropy(-1.0) == 0.0
    assert _binary_entropy(0.0) == pytest.approx(math.log(2))
    # very large beta saturates m_i = +-1 exactly; the bound stays finite and valid
    m = make_instance("chain", resolve_params("chain", {"n": 8}), 0, 0)
    mf = mean_field(m, [1e3], rng=np.random.default_rng(0))
    assert np.isfinite(mf.lnZ_lower).all()
    assert mf.lnZ_lower[0] <= exact_enumeration(m, [1e3]).lnZ[0]


def _curie_weiss_mf_optimum(n, h, beta):
    """max over uniform m of S(m) - beta <E>_Q(m) for J_ij = 1/N: N H(m) + beta ((N-1) m^2/2 + N h m).

    An independent 1-D maximisation (dense grid, then golden section): for Curie-Weiss the
    mean-field optimum is uniform, so this is the best lower bound the method can report.
    """
    def g(m):
        p, q = (1 + m) / 2, (1 - m) / 2
        return -n * (p * np.log(p) + q * np.log(q)) + beta * ((n - 1) * m * m / 2 + n * h * m)

    grid = np.linspace(-1 + 1e-12, 1 - 1e-12, 200001)
    k = int(np.argmax(g(grid)))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    r = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        c, d = b - r * (b - a), a + r * (b - a)
        a, b = (a, d) if g(c) > g(d) else (c, b)
    return float(g((a + b) / 2))


def test_curie_weiss_large_n_bound_and_limit():
    # N = 100 is out of reach of enumeration; the binomial sum is exact.  Mean field must reach
    # its own optimum (an independent 1-D maximisation, the global one, not a metastable branch:
    # h = 0.1 at beta = 1.2 and 2 has two), and that optimum lies below ln Z by the O(1) Gaussian
    # fluctuation correction only (e.g. -beta/2 - ln(1 - beta)/2 = 0.028 nats at beta = 0.3).
    n = 100
    base = make_instance("curie-weiss", resolve_params("curie-weiss", {"n": n}), 0, 0)
    betas = np.array([0.3, 0.9, 1.2, 2.0])
    for h in (0.0, 0.1):
        mf = mean_field(base.scaled(1.0, h), betas, rng=np.random.default_rng(1))
        ref = np.array([naive.curie_weiss_lnZ(n, 1.0, h, b) for b in betas])
        best = np.array([_curie_weiss_mf_optimum(n, h, b) for b in betas])
        np.testing.assert_allclose(mf.lnZ_lower, best, rtol=0, atol=1e-9)
        assert np.all(mf.lnZ_lower <= ref + 1e-10)
        assert np.all(ref - mf.lnZ_lower < 1.5), ref - mf.lnZ_lower  # O(1) total, i.e. < 0.015 per spin
    # paramagnet: the gap is the Gaussian correction, -beta/2 - ln(1 - beta)/2 + O(1/N)
    beta = 0.3
    gap = naive.curie_weiss_lnZ(n, 1.0, 0.0, beta) - mean_field(base, [beta], rng=np.random.default_rng(1)).lnZ_lower[0]
    assert gap == pytest.approx(-beta / 2 - math.log(1 - beta) / 2, abs=2 / n)


def test_ferromagnet_below_critical_temperature_orders(rng):
    # square lattice, mean-field critical point beta_c = 1/z = 1/4
    m = make_instance("square", resolve_params("square", {"L": 8}), 0, 0)
    mf = mean_field(m, [0.2, 0.5], rng=rng)
    assert abs(mf.m[0]) < 1e-6
    assert abs(mf.m[1]) > 0.9


def test_no_sites_kept_gives_same_bound(rng):
    m = random_model(10, rng)
    betas = np.linspace(0, 2, 5)
    a = mean_field(m, betas, rng=np.random.default_rng(4))
    b = mean_field(m, betas, rng=np.random.default_rng(4), keep_sites=False)
    assert b.sites is None
    np.testing.assert_array_equal(a.lnZ_lower, b.lnZ_lower)


def test_kl_is_nonnegative_on_sk():
    base = make_instance("sk", resolve_params("sk", {"n": 12}), 3, 0)
    betas = np.linspace(0.0, 3.0, 13)
    for h in (0.0, 0.5):
        model = base.scaled(1.0, h)
        kl = exact_enumeration(model, betas).lnZ - mean_field(model, betas, rng=np.random.default_rng(0)).lnZ_lower
        assert np.all(kl >= -1e-12)


# ---------------------------------------------------------------- runs whose outcome is known

def _spy_runs(monkeypatch):
    """Record (beta, start rows, in sweep order) of every mean-field descent."""
    import isingvar.meanfield as mfmod

    calls = []
    real = mfmod._descend

    def spy(sweeper, beta, starts, max_sweeps, tol):
        calls.append((beta, starts.copy()))
        return real(sweeper, beta, starts, max_sweeps, tol)

    monkeypatch.setattr(mfmod, "_descend", spy)
    return calls


def test_mirror_and_convex_runs_are_skipped(monkeypatch):
    # square L = 8 ferromagnet: max row sum 4, so F~ is strictly convex for beta < 1/4
    calls = _spy_runs(monkeypatch)
    model = make_instance("square", resolve_params("square", {"L": 8}), 0, 0)
    betas = np.array([0.1, 0.2, 0.5, 0.8])
    mean_field(model, betas, rng=np.random.default_rng(0))
    assert calls
    # h = 0: the run from all -1 is the mirror image of the one from all +1, never run
    assert not any(np.any(np.all(rows == -1.0, axis=1)) for _, rows in calls)
    assert any(np.any(np.all(rows == 1.0, axis=1)) for _, rows in calls)
    # convex: one run per beta, up the grid only (the downward run would find the same minimum)
    assert [rows.shape[0] for b, rows in calls if b < 0.25] == [1, 1]
    # with a field the mirror symmetry is gone: the run from all -1 is made again
    calls.clear()
    mean_field(model.scaled(1.0, 0.1), betas, rng=np.random.default_rng(0))
    assert any(np.any(np.all(rows == -1.0, axis=1)) for b, rows in calls if b > 0.25)


def _naive_descent(J, h, beta, m, order):
    """Plain sequential updates in ``order`` until max |dm| < 1e-13: independent of the kernels."""
    for _ in range(20000):
        old = m.copy()
        for i in order:
            m[i] = np.tanh(beta * (h[i] + J[i] @ m))
        if np.max(np.abs(m - old)) < 1e-13:
            break
    return m


@pytest.mark.parametrize("name, params, h", [
    ("square", {"L": 6, "disorder": "pm"}, 0.0),
    ("square", {"L": 6}, 0.3),
    ("sk", {"n": 12}, 0.0),
    ("rrg", {"n": 16, "disorder": "gaussian"}, 0.3),
])
def test_one_run_reaches_the_minimum_where_free_energy_is_convex(name, params, h):
    # below beta = 1 / max_i sum_j |J_ij| only one run is made; the bound must still be the best of
    # the fresh starts (all +1, all -1, a small kick) run directly in plain numpy to convergence,
    # in site order and in the reverse order
    model = make_instance(name, resolve_params(name, params), 0, 0).scaled(1.0, h)
    J, fields = model.dense(), model.fields
    lam = np.abs(J).sum(axis=1).max()
    betas = np.array([0.1, 0.5, 0.9, 0.99]) / lam
    got = mean_field(model, betas, rng=np.random.default_rng(0)).lnZ_lower
    kick = np.random.default_rng(1).uniform(-1e-3, 1e-3, model.n)
    for k, b in enumerate(betas):
        best = -np.inf
        for start in (np.ones(model.n), -np.ones(model.n), kick):
            for order in (range(model.n), range(model.n - 1, -1, -1)):
                m = _naive_descent(J, fields, b, start.copy(), order)
                best = max(best, naive.mf_lnZ_lower(J, fields, b, m))
        assert got[k] >= best - 1e-12 * max(1.0, abs(best)), (b, got[k], best)


@pytest.mark.parametrize("name, params", [("square", {"L": 16, "disorder": "pm"}), ("sk", {"n": 20}), ("cubic", {"L": 4})])
def test_run_from_all_down_mirrors_all_up_without_fields(name, params):
    # why "down" is not run at h = 0: its sweeps are the negated sweeps of "up", bit for bit,
    # with the same F~ after every block (both the colour-class and the sequential kernels)
    import isingvar.meanfield as mfmod

    model = make_instance(name, resolve_params(name, params), 0, 0)
    sweeper = mfmod._Sweeps(model)
    starts = sweeper.to_order(np.stack([np.ones(model.n), -np.ones(model.n)]))
    active = np.ones(2, dtype=bool)
    sweeps, conv, stats = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=bool), np.full((2, 4), np.inf)
    for beta in (0.3, 1.0):
        for _ in range(3):
            sweeper.advance(beta, starts, active, 3, 0.0, sweeps, conv, stats)
            np.testing.assert_array_equal(starts[1], -starts[0])
            np.testing.assert_array_equal(stats[1, :3], stats[0, :3])
            assert stats[1, 3] == -stats[0, 3]
