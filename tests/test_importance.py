"""isingvar.importance: PSIS and k-hat, the effective sample size, and the probabilistic lower bound
on ln Z (coverage against exact enumeration with poor proposals).  Every random draw is seeded."""

import math
import subprocess
import sys

import naive
import numpy as np
import pytest

from isingvar.importance import KHAT_MAX, PSIS_MIN_DRAWS, ess, ess_floor, markov_lower_bound, psis

# no RuntimeWarning from ArviZ's fit (or ours) may leak: degenerate fits are caught, not warned about
pytestmark = pytest.mark.filterwarnings("error")


def lse(a):
    a = np.asarray(a, float)
    top = a.max()
    return top + math.log(np.exp(a - top).sum())


def tail_size(m):
    """PSIS's tail length at r_eff = 1 (Vehtari et al. 2024): min(M/5, 3 sqrt(M))."""
    return math.floor(3 * math.sqrt(m)) if m > 225 else m // 5


# ---------------------------------------------------------------------------------------------- psis

SEEDS = range(8)


def khats(draw):
    return np.array([psis(draw(np.random.default_rng(seed)))[1] for seed in SEEDS])


def test_khat_small_for_light_lognormal_weights():
    # log-weights N(0, 0.5^2): every moment finite; measured khat over seeds 0..7 in [-0.02, 0.18],
    # over seeds 0..299 at most 0.25
    k = khats(lambda r: r.normal(0.0, 0.5, 10_000))
    assert np.all(k < 0.5), k


def test_khat_large_for_heavy_lognormal_weights():
    # log-weights N(0, 3^2): log-normal weights are asymptotically light-tailed, but at M = 10^4 their
    # tail looks Pareto with k > 0.7 (Vehtari et al. 2024); measured khat over seeds 0..7 in
    # [0.76, 1.14] (median 0.93), over seeds 0..299 mean 0.95, 1st percentile 0.71
    k = khats(lambda r: r.normal(0.0, 3.0, 10_000))
    assert np.median(k) > KHAT_MAX, k
    assert np.all(k > 0.5), k


@pytest.mark.parametrize("shape", [0.3, 1.0])
def test_khat_recovers_a_pareto_tail_shape(shape):
    # w = U^(-k): P(w > x) = x^(-1/k), a Pareto tail of GPD shape k.  With T = 300 tail draws the
    # estimate's spread over 300 seeds is sd 0.07 (k = 0.3) and 0.11 (k = 1.0), mean within 0.01 of k;
    # so each seed within 3.5 sd, and the mean of 8 seeds within 2.5 sd / sqrt(8).  Measured over seeds
    # 0..7: k = 0.3 in [0.17, 0.42], mean 0.29; k = 1.0 in [0.72, 1.13], mean 0.94
    sd = {0.3: 0.071, 1.0: 0.113}[shape]
    k = khats(lambda r: -shape * np.log(r.random(10_000)))
    assert np.all(np.abs(k - shape) < 3.5 * sd), k
    assert abs(k.mean() - shape) < 2.5 * sd / math.sqrt(len(k)), k


def test_psis_leaves_the_body_untouched_and_keeps_the_scale():
    rng = np.random.default_rng(1)
    M = 10_000
    logw = rng.normal(-700.0, 0.5, M)  # far from 0: the scale must come back exactly
    lw, k = psis(logw)
    assert lw.shape == logw.shape and lw.dtype == np.float64 and k < 0.5
    order = np.argsort(logw)
    body, tail = order[: M - tail_size(M)], order[M - tail_size(M):]
    np.testing.assert_allclose(lw[body], logw[body], rtol=0, atol=1e-9)
    assert np.any(np.abs(lw[tail] - logw[tail]) > 1e-6)  # the tail was smoothed
    assert lw.max() <= logw.max() + 1e-9  # PSIS caps the smoothed tail at the largest raw weight


def test_psis_estimate_matches_the_raw_one_on_a_well_behaved_case():
    rng = np.random.default_rng(2)
    M = 10_000
    logw = rng.normal(3.0, 0.5, M)
    lnz_raw = lse(logw) - math.log(M)
    lw, _ = psis(logw)
    lnz_psis = lse(lw) - math.log(M)
    w = np.exp(logw - logw.max())
    se = w.std(ddof=1) / (w.mean() * math.sqrt(M))  # delta-method SE of ln mean(w)
    assert abs(lnz_psis - lnz_raw) < 3 * se, (lnz_psis, lnz_raw, se)
    assert abs(lnz_raw - (3.0 + 0.125)) < 4 * se  # E w = exp(mu + sigma^2/2)


def test_psis_is_equivariant_under_a_shift():
    logw = np.random.default_rng(3).normal(0.0, 2.0, 2000)
    lw0, k0 = psis(logw)
    lw1, k1 = psis(logw + 1234.5)
    np.testing.assert_allclose(lw1, lw0 + 1234.5, rtol=0, atol=1e-8)
    assert k1 == pytest.approx(k0, abs=1e-9)


def test_psis_equal_weights_return_the_input_and_nan():
    logw = np.full(1000, -3.25)
    lw, k = psis(logw)
    assert math.isnan(k)
    np.testing.assert_array_equal(lw, logw)
    assert lw is not logw


def test_psis_constant_tail_returns_the_input_and_nan():
    # the largest T = 94 of M = 1000 all equal: ArviZ raises "All tail values are the same"
    logw = np.random.default_rng(4).normal(0.0, 1.0, 1000)
    logw[:200] = 10.0
    lw, k = psis(logw)
    assert math.isnan(k)
    np.testing.assert_array_equal(lw, logw)


def test_psis_ties_in_the_tail_return_the_input_and_nan():
    # repeated states tie their weights: here the T = 300 largest of M = 10^4 are 150 distinct values
    # and 150 copies of the largest value below them, so ArviZ's fit divides by zero (and returned
    # NaN weights before the fit was guarded)
    rng = np.random.default_rng(8)
    logw = np.concatenate([rng.normal(-2.0, 0.3, 8850), np.full(1000, 1.0), 1.0 + rng.random(150)])
    rng.shuffle(logw)
    lw, k = psis(logw)
    assert math.isnan(k)
    np.testing.assert_array_equal(lw, logw)
    # ties below a quarter of the tail are fine: a finite fit, finite weights
    logw = np.concatenate([rng.normal(-2.0, 0.3, 9650), np.full(50, 1.0), 1.0 + rng.random(300)])
    lw, k = psis(logw)
    assert math.isfinite(k) and np.all(np.isfinite(lw))


def test_psis_too_few_draws_for_a_tail_fit():
    rng = np.random.default_rng(5)
    small = rng.normal(0.0, 1.0, PSIS_MIN_DRAWS - 1)
    lw, k = psis(small)
    assert math.isnan(k)
    np.testing.assert_array_equal(lw, small)
    lw, k = psis(rng.normal(0.0, 1.0, PSIS_MIN_DRAWS))  # the least M with a 5-draw tail
    assert math.isfinite(k) and np.all(np.isfinite(lw))
    lw, k = psis(np.array([0.5]))
    assert math.isnan(k) and lw[0] == 0.5


def test_psis_allows_zero_weights():
    rng = np.random.default_rng(6)
    finite = rng.normal(0.0, 1.0, 2000)
    logw = np.concatenate([finite[:700], np.full(50, -np.inf), finite[700:]])
    lw, k = psis(logw)
    assert np.all(np.isneginf(lw[700:750]))
    lw_f, k_f = psis(finite)  # the -inf entries are left out of the fit
    assert k == k_f
    np.testing.assert_array_equal(np.delete(lw, range(700, 750)), lw_f)
    lw, k = psis(np.full(30, -np.inf))  # every weight 0
    assert math.isnan(k) and np.all(np.isneginf(lw))
    few = np.concatenate([rng.normal(size=10), np.full(100, -np.inf)])  # 10 finite: no fit
    lw, k = psis(few)
    assert math.isnan(k)
    np.testing.assert_array_equal(lw, few)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_plus_inf_raise(bad):
    logw = np.zeros(100)
    logw[17] = bad
    for f in (psis, ess, lambda a: markov_lower_bound(a, 0.1)):
        with pytest.raises(ValueError, match="NaN or \\+inf"):
            f(logw)


@pytest.mark.parametrize("bad", [np.zeros(0), np.zeros((10, 10))])
def test_shapes_other_than_a_non_empty_vector_raise(bad):
    for f in (psis, ess, lambda a: markov_lower_bound(a, 0.1)):
        with pytest.raises(ValueError, match="1-D"):
            f(bad)


@pytest.mark.process
def test_import_is_light():
    code = "import sys, isingvar.importance; assert 'arviz_stats' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------- ess, floor

def test_ess_hand_computed():
    assert ess(np.zeros(7)) == pytest.approx(7.0)
    assert ess(np.array([0.0, -np.inf, -np.inf])) == pytest.approx(1.0)
    # w = (1, 2, 3, 4): 10^2 / 30
    assert ess(np.log([1.0, 2.0, 3.0, 4.0])) == pytest.approx(100.0 / 30.0)
    assert ess(np.log([1.0, 2.0, 3.0, 4.0]) - 1e4) == pytest.approx(100.0 / 30.0)  # scale-free
    assert ess(np.array([1000.0, 0.0])) == pytest.approx(1.0)  # one weight dominates, no overflow
    assert ess(np.full(5, -np.inf)) == 0.0
    assert isinstance(ess(np.zeros(3)), float)


def test_ess_floor():
    assert ess_floor(0) == 100.0
    assert ess_floor(1000) == 100.0
    assert ess_floor(10_000) == 100.0
    assert ess_floor(25_000) == 250.0
    assert ess_floor(10**6) == 10_000.0
    assert isinstance(ess_floor(5), float)
    with pytest.raises(ValueError):
        ess_floor(-1)


# --------------------------------------------------------------------------- markov_lower_bound


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.5, 1.5, math.nan])
def test_delta_outside_the_open_unit_interval_raises(delta):
    with pytest.raises(ValueError, match="delta"):
        markov_lower_bound(np.zeros(10), delta)


def test_bound_single_sample_and_zero_weights():
    assert markov_lower_bound(np.array([2.0]), 0.1) == pytest.approx(2.0 + math.log(0.1))
    assert markov_lower_bound(np.full(50, -np.inf), 0.1) == -math.inf
    logw = np.zeros(64)
    logw[::2] = -np.inf  # half the weights 0: still a finite, valid bound below ln mean(w) = ln 1/2
    b = markov_lower_bound(logw, 0.1)
    assert -math.log(2) - math.log(20) <= b < -math.log(2)


@pytest.mark.parametrize("M", [2, 3, 100, 1000, 4097])
def test_bound_dominates_the_union_of_mean_and_product_bounds(M):
    # the mixture's root is at least each of its terms alone at delta pi_b (importance.py docstring)
    rng = np.random.default_rng(M)
    delta = 0.05
    K = math.floor(math.log2(M))
    for sigma in (0.1, 1.0, 4.0):
        logw = rng.normal(0.0, sigma, M)
        b = markov_lower_bound(logw, delta)
        assert b >= lse(logw) - math.log(M) - math.log(2 / delta) - 1e-12
        assert b >= logw.mean() - math.log(2 * K / delta) / M - 1e-12
        for size in (1 << j for j in range(K)):
            n = M // size
            starts = (np.arange(n) * M) // n
            A = np.mean([lse(c) - math.log(c.size) for c in np.split(logw, starts[1:])])
            assert b >= A - math.log(2 * K / delta) / n - 1e-12


def test_bound_is_not_vacuous_when_q_is_p():
    # q = p exactly: every weight is Z, the bound is ln Z - ln(2K/delta)/M
    rng = np.random.default_rng(7)
    n = 6
    J = np.triu(rng.normal(0, 1, (n, n)), 1)
    J = J + J.T
    h = rng.normal(0, 0.3, n)
    S = naive.all_states(n)
    a = -1.3 * naive.energies(J, h, S)
    lnZ = naive.logsumexp(a)
    M = 300
    K = math.floor(math.log2(M))
    x = rng.choice(S.shape[0], size=M, p=np.exp(a - lnZ))
    logw = a[x] - (a[x] - lnZ)  # -beta E - ln p = ln Z, to rounding
    for delta in (0.01, 0.1):
        b = markov_lower_bound(logw, delta)
        assert b <= lnZ
        assert lnZ - b <= math.log(2 * K / delta) / M + 1e-9
        assert lnZ - b <= math.log(2 / delta)


def _sk(rng, n, scale):
    J = np.triu(rng.normal(0, scale / math.sqrt(n), (n, n)), 1)
    return J + J.T, rng.normal(0, 0.3, n)


def _product_q_draws(rng, p_up, M):
    """M draws of independent spins with P(s_i = +1) = p_up[i], and their ln q."""
    up = rng.random((M, p_up.size)) < p_up
    S = np.where(up, 1.0, -1.0)
    with np.errstate(divide="ignore"):
        lnq = np.where(up, np.log(p_up), np.log1p(-p_up)).sum(axis=1)
    return S, lnq


def _case(kind, rng, M):
    """One repeat: (logw of M draws of q, exact ln Z) for a fresh instance and a poor q."""
    if kind == "wrong-biases":  # SK glass, q = independent spins with random biases
        n, beta = 10, 1.5
        J, h = _sk(rng, n, 1.0)
        S, lnq = _product_q_draws(rng, rng.uniform(0.05, 0.95, n), M)
    elif kind == "uniform-cold":  # ferromagnet at large beta, q uniform: p lives on 2 of 4096 states
        n, beta = 12, 2.0
        J = (1 + 0.2 * rng.random()) / n * (np.ones((n, n)) - np.eye(n))
        h = np.zeros(n)
        S = np.where(rng.random((M, n)) < 0.5, 1.0, -1.0)
        lnq = np.full(M, -n * math.log(2))
    elif kind == "missing-support":  # q never draws s_0 = -1: E_q[w] < Z, the bound must still hold
        n, beta = 10, 1.0
        J, h = _sk(rng, n, 1.0)
        p_up = rng.uniform(0.2, 0.8, n)
        p_up[0] = 1.0
        S, lnq = _product_q_draws(rng, p_up, M)
    elif kind == "near-p":  # q = exact p at 0.7 beta: a decent q, so the bound is close to ln Z
        n, beta = 10, 1.5
        J, h = _sk(rng, n, 1.0)
        states = naive.all_states(n)
        aq = -0.7 * beta * naive.energies(J, h, states)
        lnq_all = aq - naive.logsumexp(aq)
        x = rng.choice(states.shape[0], size=M, p=np.exp(lnq_all))
        S, lnq = states[x], lnq_all[x]
    else:
        raise AssertionError(kind)
    lnZ = naive.logsumexp(-beta * naive.energies(J, h, naive.all_states(n)))
    return -beta * naive.energies(J, h, S) - lnq, lnZ


@pytest.mark.parametrize("kind", ["wrong-biases", "uniform-cold", "missing-support", "near-p"])
def test_bound_coverage_with_poor_proposals(kind):
    rng = np.random.default_rng({"wrong-biases": 19, "uniform-cold": 23, "missing-support": 29, "near-p": 31}[kind])
    repeats, M = 400, 300
    deltas = (0.01, 0.1)
    over = dict.fromkeys(deltas, 0)
    gaps = []
    for _ in range(repeats):
        logw, lnZ = _case(kind, rng, M)
        for d in deltas:
            b = markov_lower_bound(logw, d)
            over[d] += b > lnZ
            if d == 0.1:
                gaps.append(lnZ - b)
    for d in deltas:
        allowed = d + 3 * math.sqrt(d * (1 - d) / repeats)
        assert over[d] / repeats <= allowed, (kind, d, over[d])
    if kind == "near-p":  # not vacuous: a decent q gives a bound within a fraction of a nat
        assert np.median(gaps) < 0.5, np.median(gaps)


def test_coverage_check_has_teeth():
    # the same check catches a "bound" without its Markov penalty: ln mean(w) exceeds ln Z far more
    # often than delta = 0.1 + 3 SE with a decent q
    rng = np.random.default_rng(31)
    repeats = 400
    over = 0
    for _ in range(repeats):
        logw, lnZ = _case("near-p", rng, 300)
        over += lse(logw) - math.log(logw.size) > lnZ
    assert over / repeats > 0.1 + 3 * math.sqrt(0.1 * 0.9 / repeats), over
