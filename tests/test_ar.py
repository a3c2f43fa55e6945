"""The autoregressive method (ar): exact ln q and sampling, the gradient, the certified bound, training,
the method in a sweep, and the generic pieces it added (NaN-or-(-inf) variables, <name>_se error bars).

References are independent: a plain-NumPy forward pass of the network written here from its
definition, brute-force enumeration (tests/naive.py), closed forms.
"""

import math

import naive
import numpy as np
import pytest
from isingvar_cli.main import app
from test_trw import CROSS  # the cross-method grid of models (families, boundaries, disorder)
from typer.testing import CliRunner

from isingvar import autoregressive as arl
from isingvar.errors import ModelParameterError, TooLargeError
from isingvar.families import make_instance, resolve_params
from isingvar.io import store
from isingvar.kernels import ar as ar_kernels
from isingvar.methods import Nonfinite, derived_variables, get_method, make_settings
from isingvar.model import IsingModel
from isingvar.report import bounds_table, estimate_stats, free_energy_names

ARCHS = [(1, 0), (2, 5), (3, 4)]  # (depth, hidden): VAN depth 1, MADE with one and two hidden layers


def random_model(n, rng, field=0.3):
    J = np.triu(rng.standard_normal((n, n)), 1)
    return IsingModel.from_dense(J + J.T, rng.standard_normal(n) * field)


def random_net(n, depth, hidden, rng, scale=0.7):
    net = arl.Network(n, depth, hidden, rng)
    net.theta[:] = rng.standard_normal(net.theta.size) * net.mask * scale
    return net


def numpy_lnq(net, S):
    """(ln q(s) (K,), logits a (K, N)) for every row of S, from the definition: one dense pass through
    the (masked) layers, then ln q = sum_i ln sigmoid(s_i a_i)."""
    p = net.params
    H = S
    if net.layers:
        H = np.tanh(S @ p["U"].T + p["C"][0])
        for l in range(1, net.layers):
            H = np.tanh(H @ p["Uh"][l - 1].T + p["C"][l])
        a = p["b"] + S @ p["W"].T + H @ p["V"].T
    else:
        a = p["b"] + S @ p["W"].T
    x = S * a
    return np.sum(-np.logaddexp(0.0, -x), axis=1), a


# ------------------------------------------------------------------ the family: exact ln q and sampling
@pytest.mark.parametrize("depth,hidden", ARCHS)
def test_q_sums_to_one_and_lnq_matches_a_numpy_forward_pass(depth, hidden):
    rng = np.random.default_rng(11)
    n = 12
    net = random_net(n, depth, hidden, rng)
    S = naive.all_states(n)
    lnq, a, _ = net.forward(S.copy())
    assert math.isclose(np.exp(lnq).sum(), 1.0, rel_tol=0, abs_tol=1e-12)
    ref, a_ref = numpy_lnq(net, S)
    np.testing.assert_allclose(lnq, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a, a_ref, rtol=0, atol=1e-12)
    # autoregressive: a_i does not change when s_i.. s_{N-1} do
    T = S.copy()
    T[:, 6:] = 1.0
    np.testing.assert_array_equal(numpy_lnq(net, T)[1][:, :7], a_ref[:, :7])
    # the depth-first exact sum sees the same q
    model = random_model(n, rng)
    sq, se, sl = ar_kernels.exact_elbo(*net.arrays(), net.deg, net.cnt, *model.csr, model.fields)
    q = np.exp(ref)
    E = naive.energies(model.dense(), model.fields, S)
    assert math.isclose(sq, 1.0, abs_tol=1e-12)
    assert math.isclose(se, q @ E, rel_tol=1e-11, abs_tol=1e-11)
    assert math.isclose(sl, q @ ref, rel_tol=1e-11, abs_tol=1e-11)


@pytest.mark.parametrize("depth,hidden", ARCHS)
def test_sample_frequencies_match_q(depth, hidden):
    rng = np.random.default_rng(5)
    n, M = 4, 40000
    net = random_net(n, depth, hidden, rng, scale=0.5)
    s = np.empty((M, n))
    lnq, _, _ = net.forward(s, rng.random((M, n)))
    S = naive.all_states(n)
    expected = M * np.exp(numpy_lnq(net, S)[0])
    idx = ((s > 0).astype(int) * (1 << np.arange(n - 1, -1, -1))).sum(axis=1)  # all_states' row of each sample
    observed = np.bincount(idx, minlength=1 << n)
    chi2 = np.sum((observed - expected) ** 2 / expected)
    assert chi2 < 37.7  # chi-square, 15 degrees of freedom, p = 0.001 (seed fixed: passes with margin)
    np.testing.assert_allclose(lnq, numpy_lnq(net, s)[0], atol=1e-12)  # ln q of what was sampled


@pytest.mark.parametrize("depth,hidden", ARCHS)
def test_gradient_matches_finite_differences_of_the_exact_free_energy(depth, hidden):
    rng = np.random.default_rng(7)
    n, beta = 6, 0.9
    model = random_model(n, rng)
    net = random_net(n, depth, hidden, rng)
    S = naive.all_states(n)
    E = naive.energies(model.dense(), model.fields, S)

    def beta_F(theta):  # beta F~[q] = sum_s q (beta E + ln q), by enumeration with the NumPy pass
        old = net.theta.copy()
        net.theta[:] = theta
        lnq = numpy_lnq(net, S)[0]
        net.theta[:] = old
        return np.exp(lnq) @ (beta * E + lnq)

    lnq, a, h = net.forward(S.copy())
    q = np.exp(lnq)
    # grad beta F~ = sum_s q (beta E + ln q) grad ln q   (the sum of q grad ln q vanishes)
    g = net.gradient(S, a, h, q * (beta * E + lnq))
    free = np.flatnonzero(net.mask)
    assert free.size > 20
    for k in free:
        e = np.zeros_like(net.theta)
        e[k] = 1e-5
        fd = (beta_F(net.theta + e) - beta_F(net.theta - e)) / 2e-5
        assert abs(fd - g[k]) < 1e-8, (k, fd, g[k])
    assert np.all(g[net.mask == 0] == 0)


def test_depth_one_without_couplings_is_the_product_distribution_of_mean_field():
    rng = np.random.default_rng(3)
    n, beta = 8, 0.7
    model = random_model(n, rng)
    net = arl.Network(n, 1, 0)
    net.params["b"][:] = rng.standard_normal(n)
    m = np.tanh(net.params["b"] / 2)  # q(s_i = +1) = sigmoid(b_i) = (1 + m_i)/2
    lower = arl.exact_lower_bound(net, model, beta)[0]
    assert math.isclose(lower, naive.mf_lnZ_lower(model.dense(), model.fields, beta, m), rel_tol=1e-13)
    S = naive.all_states(n)
    lnq = net.forward(S.copy())[0]
    np.testing.assert_allclose(np.exp(lnq), np.prod((1 + S * m) / 2, axis=1), rtol=1e-13)


def test_energies_of_a_batch_dense_and_sparse():
    rng = np.random.default_rng(8)
    S = naive.all_states(7)
    dense = random_model(7, rng)  # all pairs: the dense-couplings kernel
    sparse = IsingModel(7, np.arange(6), np.arange(1, 7), rng.standard_normal(6), rng.standard_normal(7))  # CSR
    for model in (dense, sparse):
        np.testing.assert_allclose(arl.energies(model, S), naive.energies(model.dense(), model.fields, S),
                                   rtol=0, atol=1e-12)


# ------------------------------------------------------------------ the method
def ar_run(model, betas, seed=0, **settings):
    settings.setdefault("arch", "dense")  # this file's network (the sparse one: tests/test_ar_sparse.py)
    settings.setdefault("stop_ess", 0.0)  # every step of the budget (the stopping rule: tests/test_ar_sparse.py)
    method = get_method("ar")
    return method.run(model, np.asarray(betas, float), make_settings(method, settings),
                      np.random.default_rng(seed), sites=False)


@pytest.mark.parametrize("family", ["sk", "pm-square", "ferro-field"])
def test_certified_bound_is_below_exact_lnz(family):
    rng = np.random.default_rng({"sk": 1, "pm-square": 2, "ferro-field": 3}[family])
    if family == "sk":
        model = random_model(9, rng, field=0.0)
    elif family == "pm-square":  # 3x3 open +-J lattice
        i = np.array([0, 1, 3, 4, 6, 7, 0, 1, 2, 3, 4, 5])
        j = np.array([1, 2, 4, 5, 7, 8, 3, 4, 5, 6, 7, 8])
        model = IsingModel(9, i, j, rng.choice([-1.0, 1.0], i.size))
    else:
        model = IsingModel.from_dense(np.ones((8, 8)) - np.eye(8), np.full(8, 0.2))
    betas = [0.0, 0.4, 1.0, 2.0]
    r = ar_run(model, betas, steps=60, depth=2, hidden=6)
    ref = naive.thermo(model.dense(), model.fields, betas)
    assert np.all(r["lnZ_ar_lower"] <= ref["lnZ"] + 1e-12 * np.abs(ref["lnZ"]))
    assert r["lnZ_ar_lower"][0] == pytest.approx(model.n * math.log(2), rel=1e-14)  # beta = 0: q uniform
    assert r["f_ar_upper"][0] == -np.inf
    assert np.all(r["f_ar_upper"][1:] >= -ref["lnZ"][1:] / (np.array(betas[1:]) * model.n) - 1e-13)
    # the estimates are near the exact values (loose: 60 steps) and the IS estimate within 5 SE
    assert np.all(np.abs(r["lnZ_ar_is"] - ref["lnZ"]) <= 5 * r["lnZ_ar_is_se"] + 1e-9)
    np.testing.assert_allclose(r["u_ar"], ref["u"], atol=5 * r["u_ar_se"].max() + 1e-9)
    assert np.all((r["ar_ess"] > 1) & (r["ar_ess"] <= 10000))
    assert np.all((r["ar_steps"] >= 0) & (r["ar_steps"] <= 60))  # the best checkpoint's steps


@pytest.mark.parametrize("name,params", CROSS, ids=[f"{n}-{'-'.join(map(str, p.values()))}" for n, p in CROSS])
def test_cross_method_grid_certified_bound_below_exact(name, params):
    """lnZ_ar_lower <= lnZ_exact (brute force) on the cross-method grid of tests/test_trw.py: ferro-,
    antiferromagnetic and glassy couplings, h in {0, 0.3}, beta 0.05..3 (short training: the bound
    holds whatever q is)."""
    base = make_instance(name, resolve_params(name, params), seed=1, sample=0)
    betas = np.array([0.05, 0.3, 1.0, 3.0])
    for J, h, depth in ((1.0, 0.0, 1), (-1.0, 0.3, 2)):
        m = base.scaled(J, h)
        exact = naive.thermo(m.dense(), m.fields, betas)["lnZ"]
        lower = ar_run(m, betas, steps=20, depth=depth, hidden=8, samples=100)["lnZ_ar_lower"]
        assert np.all(lower <= exact + 1e-12 * np.abs(exact)), (J, h, lower - exact)


def test_training_on_a_chain_in_its_natural_order_reaches_exact_lnz():
    # an open chain's Boltzmann distribution is itself depth-1 autoregressive in the chain's order:
    # q(s_i | s_<i) = sigmoid(b_i + W_{i,i-1} s_{i-1}); the baseline makes the gradient noise vanish there
    rng = np.random.default_rng(3)
    n = 8
    model = IsingModel(n, np.arange(n - 1), np.arange(1, n), rng.uniform(0.5, 1.5, n - 1), rng.uniform(-0.3, 0.3, n))
    betas = [0.5, 1.0]
    r = ar_run(model, betas, seed=1, steps=1500)
    ref = naive.thermo(model.dense(), model.fields, betas)["lnZ"]
    assert np.all(np.abs(r["lnZ_ar_lower"] - ref) < 1e-6), r["lnZ_ar_lower"] - ref
    assert np.all(r["lnZ_ar_is_se"] < 1e-5) and np.all(np.abs(r["lnZ_ar_is"] - ref) < 1e-5)


def test_a_seed_gives_the_same_numbers_and_large_n_has_no_certified_bound():
    rng = np.random.default_rng(2)
    model = random_model(26, rng)
    a = ar_run(model, [0.5, 0.2], seed=4, steps=5, samples=500)
    b = ar_run(model, [0.5, 0.2], seed=4, steps=5, samples=500)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert np.isnan(a["lnZ_ar_lower"]).all() and np.isnan(a["f_ar_upper"]).all()
    assert np.isfinite(a["lnZ_ar_is"]).all() and np.isfinite(a["f_ar_is_se"]).all()


def test_settings_are_validated_with_one_line_messages_and_large_n_refused():
    method = get_method("ar")
    for key, value, text in (("steps", -1, "--ar-steps must be at least 0"), ("lr", 0.0, "--ar-lr must be"),
                             ("batch", 1, "--ar-batch must be at least 2"), ("depth", 0, "--ar-depth")):
        with pytest.raises(ModelParameterError, match=text) as e:
            make_settings(method, {key: value})
        assert "\n" not in str(e.value)
    with pytest.raises(TooLargeError, match="at most N = 4096"):
        method.check(IsingModel(5000, np.array([0]), np.array([1]), np.array([1.0]), np.zeros(5000)), [1.0],
                     method.settings(), sites=False)
    assert not method.default
    s = method.settings()
    assert method.progress_units(10, [0.1, 0.2], s) == 2 * (s.steps + 1)
    assert method.cost(random_model(10, np.random.default_rng(0)), [0.1, 0.2], s, sites=False) > 0


# ------------------------------------------------------------------ generic pieces, through a sweep
def test_nan_or_minus_inf_at_beta_zero_is_accepted_and_kl_of_a_nan_bound_may_be_nan():
    var = store.Variable(("sample", "J", "h", "beta"), "f8", "", "", nonfinite=Nonfinite.NAN | Nonfinite.NEG_INF_AT_BETA0)
    beta = np.array([0.0, 1.0, 2.0])
    assert store._unexpected_nonfinite(var, np.array([-np.inf, np.nan, 1.0]), beta) is None
    assert store._unexpected_nonfinite(var, np.array([0.0, -np.inf, 1.0]), beta) == (1,)
    assert store._unexpected_nonfinite(var, np.array([np.inf, 1.0, 1.0]), beta) == (0,)
    kl = {v.name: v for v, _ in derived_variables(("ar", "exact", "mf"))}
    # kl_mf may be NaN only where exact_status flags the exact value
    assert kl["kl_ar"].nonfinite == Nonfinite.NAN and kl["kl_mf"].nonfinite == Nonfinite.NAN_WHERE_FLAGGED


def test_sweep_show_and_plot_carry_the_bound_and_the_estimate_with_its_error(tmp_path):
    runner = CliRunner()
    out = tmp_path / "r.h5"
    res = runner.invoke(app, ["sweep", "sk", "--n", "8", "--samples", "1", "--beta", "0,0.5,1.5", "--method", "exact",
                              "--method", "mf", "--method", "ar", "--ar-steps", "40", "--ar-samples", "400",
                              "--bound-budget", "0", "--out", str(out)])  # mean field unclamped: 40 steps beat it
    assert res.exit_code == 0, res.output
    from isingvar.io.store import read_summary

    summary = read_summary(out)
    f = free_energy_names(summary)
    assert "f_ar_upper" in f["upper"] and f["estimate"] == ["f_ar_is"]
    rows = bounds_table(summary)
    done = summary["done"][:, 0, 0].astype(bool)
    _mean, se, count = estimate_stats(summary, "f_ar_is", 0, 0, done)
    assert count[-1] == 1 and se[-1] == summary["f_ar_is_se"][0, 0, 0, -1] > 0  # one sample: its MC error
    assert rows[-1]["f_ar_is_se"] == se[-1]
    assert rows[-1]["f_exact"] <= rows[-1]["f_ar_upper"] <= rows[-1]["f_mf_upper"]
    shown = runner.invoke(app, ["show", str(out)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "f_ar_upper" in shown.output and "f_ar_is" in shown.output
    assert "±" in shown.output.split("f_ar_is")[-1]  # the estimate is printed with its error
    png = tmp_path / "r.png"
    plotted = runner.invoke(app, ["plot", str(out), "--out", str(png), "--var", "u"])
    assert plotted.exit_code == 0, plotted.output
    assert png.stat().st_size > 0
