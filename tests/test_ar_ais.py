"""Annealed importance sampling from the two-body autoregressive q (``--ar-ais``, issue 23; Neal, Statistics and
Computing 11, 125 (2001)): the kernel's incremental ln q and energy, the invariance of each step (a proposal from q
and a Metropolis sweep) and its acceptance rates, the weights' formula, E[w] = Z, the proposals' moves between
modes, and T = 0 as plain importance sampling.

References are independent: ln q from its definition in plain NumPy (dense W, sum of log-sigmoids; the
symmetrised q as ln((q(s) + q(-s))/2)), energies, Z and pi_t by brute-force enumeration (tests/naive.py).
"""

import math

import naive
import numpy as np
import pytest

from isingvar import autoregressive as arl
from isingvar.kernels import ais
from isingvar.methods import get_method, make_settings
from isingvar.model import IsingModel


def glass(n, seed, field=0.0, density=0.6):
    """A random +-J graph on n spins (Gaussian fields of width ``field``)."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(n, 1)
    keep = rng.random(i.size) < density
    J = rng.choice([-1.0, 1.0], keep.sum()) * rng.uniform(0.5, 1.5, keep.sum())
    return IsingModel(n, i[keep], j[keep], J, field * rng.standard_normal(n))


def random_q(model, rng, kind="sparse", scale=0.8):
    """A two-body q with random parameters: ``sparse`` (2 hops), ``dense`` (depth 1), either ``-sym``metrised."""
    base = kind.removesuffix("-sym")
    net = arl.SparseNetwork(model, 2) if base == "sparse" else arl.Network(model.n, 1, 0)
    net.theta[:] = scale * rng.standard_normal(net.theta.size) * net.mask
    return arl.Symmetrised(net) if kind.endswith("-sym") else net


def numpy_lnq(net, S):
    """ln q (ln q_sym for a symmetrised q) of the rows of S from the definition, dense W, plain NumPy."""
    base = net.net if isinstance(net, arl.Symmetrised) else net
    if isinstance(base, arl.SparseNetwork):
        b, w = base.split()
        W = np.zeros((base.n, base.n))
        W[np.repeat(np.arange(base.n), np.diff(base.rowptr)), base.cols] = w
    else:
        b, W = base.params["b"], np.tril(base.params["W"], -1)

    def one(X):
        x = X * (b + X @ W.T)
        return np.sum(-np.logaddexp(0.0, -x), axis=1)

    if isinstance(net, arl.Symmetrised):
        return np.logaddexp(one(S), one(-S)) - math.log(2.0)
    return one(S)


def kernel_args(net, model):
    ann = arl.Annealing(net, model, 0)
    b, rowptr, cols, w, mirrored = arl.two_body(net)
    return (b, rowptr, cols, np.ascontiguousarray(w), ann.tptr, ann.tchild, ann.tpair, *model.csr, ann.fields,
            mirrored)


KINDS = ["sparse", "sparse-sym", "dense", "dense-sym"]


@pytest.mark.parametrize("exact_terms", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_incremental_lnq_and_energy_follow_a_random_flip_sequence(kind, exact_terms):
    rng = np.random.default_rng(KINDS.index(kind))
    model = glass(9, 1, field=0.0 if kind.endswith("sym") else 0.7)
    net = random_q(model, rng, kind)
    s = np.where(rng.random(model.n) < 0.5, 1.0, -1.0)
    flips = rng.integers(0, model.n, 200)
    lnq, dE = np.empty(flips.size + 1), np.empty(flips.size)
    ais.flip_sequence(*kernel_args(net, model), s.copy(), flips, lnq, dE, exact_terms)
    S = np.repeat(s[None], flips.size + 1, axis=0)
    for k, j in enumerate(flips):
        S[k + 1:, j] *= -1.0
    assert np.abs(lnq - numpy_lnq(net, S)).max() < 1e-10
    assert np.abs(lnq - net.forward(S.copy())[0]).max() < 1e-10
    assert np.abs(dE - np.diff(naive.model_energies(model, S))).max() < 1e-12


@pytest.mark.parametrize("kind,exact_terms", [("sparse", False), ("dense-sym", False), ("sparse-sym", True)])
def test_a_step_leaves_pi_t_invariant_and_accepts_at_the_metropolis_rates(kind, exact_terms):
    # chains started exactly from pi_g (drawn from the enumeration) must still follow pi_g after a step at g (a
    # proposal from q, then a sweep); the accepted proposals must match sum_x pi(x) sum_y q(y) min(1, (w(y)/w(x))^g)
    # and the accepted flips sum_j sum_s pi(s) min(1, pi(s^j)/pi(s)) (the proposal leaves pi_g invariant, so the
    # sweep starts from pi_g too; a step that never moved would leave every distribution invariant)
    rng = np.random.default_rng(5)
    model = glass(5, 3, field=0.0 if kind.endswith("sym") else 0.5)
    net, beta, g, B = random_q(model, rng, kind), 1.3, 0.4, 100_000
    S = naive.all_states(model.n)
    logpi = (1 - g) * numpy_lnq(net, S) - g * beta * naive.model_energies(model, S)
    pi = np.exp(logpi - naive.logsumexp(logpi))
    index = rng.choice(S.shape[0], size=B, p=pi)
    s = S[index].copy()
    sched = np.array([0.0, g, 1.0])
    logw, energy = np.empty(B), np.empty(B)
    accepted, jumps = np.zeros(B, dtype=np.int64), np.zeros(B, dtype=np.int64)
    args = kernel_args(net, model)
    ais.anneal(*args[:11], beta, sched, args[11], s, rng.random((B, 1, 2 * model.n + 2)), logw, energy, accepted,
               jumps, exact_terms)
    code = ((s + 1) / 2) @ (1 << np.arange(model.n - 1, -1, -1))  # naive.all_states order
    counts = np.bincount(code.astype(np.int64), minlength=S.shape[0])
    chi2 = np.sum((counts - B * pi) ** 2 / (B * pi))
    assert chi2 < 32 + 5 * math.sqrt(2 * 31)  # 31 degrees of freedom: mean 31, sd 7.9
    expected = 0.0
    for j in range(model.n):
        flipped = S.copy()
        flipped[:, j] *= -1.0
        code_j = ((flipped + 1) / 2) @ (1 << np.arange(model.n - 1, -1, -1))
        expected += np.sum(pi * np.minimum(1.0, pi[code_j.astype(np.int64)] / pi))
    assert abs(accepted.mean() - expected) < 5 * accepted.std() / math.sqrt(B)
    assert expected > 0.5  # the test has teeth: flips are accepted
    lnq = numpy_lnq(net, S)
    lnw = -beta * naive.model_energies(model, S) - lnq
    rate = np.sum(pi[:, None] * np.exp(lnq)[None, :] * np.minimum(1.0, np.exp(g * (lnw[None, :] - lnw[:, None]))))
    assert abs(jumps.mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / B)
    assert 0.1 < rate < 0.9  # proposals are accepted and rejected
    assert np.abs(energy - naive.model_energies(model, s)).max() < 1e-12


def test_the_weight_of_one_step_is_g_f_before_plus_one_minus_g_f_after():
    rng = np.random.default_rng(7)
    model = glass(8, 2)
    net, beta, g = random_q(model, rng, "sparse-sym"), 0.9, 0.3
    s0 = np.empty((500, model.n))
    net.forward(s0, rng.random((500, net.uniforms)))
    s = s0.copy()
    ann = arl.Annealing(net, model, 1)
    ann.g[:] = [0.0, g, 1.0]
    logw, energy, accepted, jumps = ann.run(s, beta, rng.random((500, 1, 2 * model.n + 2)))

    def f(X):
        return -beta * naive.model_energies(model, X) - numpy_lnq(net, X)

    assert np.abs(logw - (g * f(s0) + (1 - g) * f(s))).max() < 1e-10
    assert np.abs(energy - naive.model_energies(model, s)).max() < 1e-12 and accepted.sum() > 0 and np.any(s != s0)
    assert jumps.sum() > 0


@pytest.mark.parametrize("kind", ["sparse", "sparse-sym"])
def test_mean_annealed_weight_is_z_and_the_weighted_final_states_give_the_energy(kind):
    rng = np.random.default_rng(11)
    model = glass(8, 4, field=0.0 if kind.endswith("sym") else 0.4)
    net, beta, M, T = random_q(model, rng, kind, scale=0.3), 0.5, 40_000, 8
    S = naive.all_states(model.n)
    E_all = naive.model_energies(model, S)
    lnz = naive.logsumexp(-beta * E_all)
    U = np.sum(np.exp(-beta * E_all - lnz) * E_all)
    sd_plain = math.sqrt(np.sum(np.exp(2.0 * (-beta * E_all - lnz) - numpy_lnq(net, S))) - 1.0)  # of w/Z under q
    s = np.empty((M, model.n))
    net.forward(s, rng.random((M, net.uniforms)))
    logw, energy, _acc, _jumps = arl.Annealing(net, model, T).run(s, beta, rng.random((M, T, 2 * model.n + 2)))
    r = np.exp(logw - lnz)  # w / Z
    assert abs(r.mean() - 1.0) < 4.0 * r.std() / math.sqrt(M)
    assert r.std() < min(1.5, sd_plain / 3)  # annealing lightens the weights (plain: sd 4.0-5.3), so the check is sharp
    rho = r / r.sum()
    assert abs(rho @ energy - U) < 4.0 * math.sqrt(np.sum(rho**2 * (energy - rho @ energy) ** 2))


@pytest.mark.parametrize("kind", ["sparse", "dense-sym"])
def test_the_proposals_are_draws_of_q_with_their_own_log_probabilities(kind):
    rng = np.random.default_rng(19)
    model = glass(5, 8, field=0.0 if kind.endswith("sym") else 0.5)
    net, B = random_q(model, rng, kind), 100_000
    b, rowptr, cols, w, mirrored = arl.two_body(net)
    base = net.net if mirrored else net
    u = rng.random((B, model.n + 1))
    S, L = np.empty((B, model.n)), np.empty((B, 2))
    for r in range(B):
        L[r] = ais._draw(b, rowptr, cols, np.ascontiguousarray(w), mirrored, u[r], S[r])
    assert np.abs(L[:, 0] - numpy_lnq(base, S)).max() < 1e-10  # (ln q(s), ln q(-s)) of the network itself
    if mirrored:
        assert np.abs(L[:, 1] - numpy_lnq(base, -S)).max() < 1e-10
    states = naive.all_states(model.n)
    q = np.exp(numpy_lnq(net, states))
    code = ((S + 1) / 2) @ (1 << np.arange(model.n - 1, -1, -1))
    counts = np.bincount(code.astype(np.int64), minlength=states.shape[0])
    assert abs(q.sum() - 1.0) < 1e-12
    assert np.sum((counts - B * q) ** 2 / (B * q)) < 32 + 5 * math.sqrt(2 * 31)  # the frequencies are q's


def test_proposals_from_q_move_the_mass_between_modes_that_single_flips_cannot_cross():
    # a ferromagnet on K8 at beta = 2: its two ground states hold half of p each, and a single flip out of either
    # costs 14, so a chain of single flips ends in the mode it started in.  q puts 0.9 of its mass on all-up;
    # chains that kept q's allocation would have weights with E[w | mode m] = Z p(m)/q(m), so sd(w/Z) at least
    # sqrt(sum_m p(m)^2/q(m) - 1) (1.3 here); the proposals must bring it well below that, with E[w] = Z
    rng = np.random.default_rng(17)
    n, beta, M, T = 8, 2.0, 20_000, 8
    i, j = np.triu_indices(n, 1)
    model = IsingModel(n, i, j, np.ones(i.size), np.zeros(n))
    net = arl.Network(n, 1, 0)
    net.params["b"][:] = [math.log(9.0)] + [0.0] * (n - 1)  # q(s_0 = +1) = 0.9
    net.params["W"][1:, 0] = 6.0  # every later spin follows s_0 (probability sigmoid(6) = 0.9975)
    S = naive.all_states(n)
    E_all = naive.model_energies(model, S)
    lnz = naive.logsumexp(-beta * E_all)
    p, q = np.exp(-beta * E_all - lnz), np.exp(numpy_lnq(net, S))
    up = S.sum(axis=1) > 0
    mass_p, mass_q = np.array([p[up].sum(), p[~up].sum()]), np.array([q[up].sum(), q[~up].sum()])
    floor = math.sqrt(np.sum(mass_p**2 / mass_q) - 1.0)
    assert abs(mass_p[0] - 0.5) < 0.01 and abs(mass_q[0] - 0.9) < 0.02 and floor > 1.2
    s = np.empty((M, n))
    net.forward(s, rng.random((M, net.uniforms)))
    logw, _energy, _acc, jumps = arl.Annealing(net, model, T).run(s, beta, rng.random((M, T, 2 * n + 2)))
    r = np.exp(logw - lnz)
    assert abs(r.mean() - 1.0) < 4.0 * r.std() / math.sqrt(M)
    assert r.std() < floor / 1.5 and jumps.mean() > 1.0  # measured 0.77
    final_up = s.sum(axis=1) > 0
    assert np.mean(final_up) < 0.75  # the chains left q's split (0.9; measured 0.64) for pi_T's (0.53)
    rho = r / r.sum()
    assert abs(rho @ final_up - 0.5) < 4.0 * math.sqrt(np.sum(rho**2 * (final_up - rho @ final_up) ** 2))


def test_the_chains_give_the_same_numbers_on_one_thread_and_on_several():
    # each chain reads only its own rows of s and u and writes its own outputs: the threads change nothing
    import numba

    rng = np.random.default_rng(23)
    model = glass(12, 9)
    net, beta, B, T = random_q(model, rng, "sparse-sym"), 1.4, 257, 3
    s0 = np.empty((B, model.n))
    net.forward(s0, rng.random((B, net.uniforms)))
    u = rng.random((B, T, 2 * model.n + 2))
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            s = s0.copy()
            runs.append((*arl.Annealing(net, model, T).run(s, beta, u), s))
    finally:
        numba.set_num_threads(before)
    for got in runs[1:]:
        for x, y in zip(runs[0], got):
            assert np.array_equal(x, y)
    assert runs[0][2].sum() > 0 and runs[0][3].sum() > 0  # flips and proposals were accepted


def test_no_annealing_is_plain_importance_sampling_on_the_same_random_stream():
    rng = np.random.default_rng(13)
    model = glass(8, 5)
    net, beta = random_q(model, rng, "sparse-sym"), 1.1
    s = np.empty((300, model.n))
    lnq = net.forward(s, rng.random((300, net.uniforms)))[0]
    s0 = s.copy()
    logw, _energy, accepted, jumps = arl.Annealing(net, model, 0).run(s, beta, np.empty((300, 0, 2 * model.n + 2)))
    assert np.abs(logw - (-beta * naive.model_energies(model, s0) - lnq)).max() < 1e-10
    assert np.all(s == s0) and accepted.sum() == 0 and jumps.sum() == 0
    plain = arl.evaluate(net, model, beta, 1000, 256, np.random.default_rng(3))
    zero = arl.evaluate(net, model, beta, 1000, 256, np.random.default_rng(3), ais=0)
    assert plain == zero
    one, annealed = (arl.evaluate(net, model, beta, 1000, 1000, np.random.default_rng(3), ais=T) for T in (0, 2))
    assert annealed.elbo == one.elbo and annealed.lnz_is != one.lnz_is  # one batch: the ELBO stays q's own


def test_only_the_two_body_q_anneals_and_the_file_says_which_weights_it_holds():
    method = get_method("ar")
    from isingvar.methods.ar import ais_steps

    assert ais_steps(make_settings(method, {"ais": 3})) == 3
    assert ais_steps(make_settings(method, {"ais": 3, "arch": "dense"})) == 3  # depth 1: two-body
    for extra in ({"units": 2}, {"arch": "dense", "depth": 2}):
        settings = make_settings(method, {"ais": 3, **extra})
        assert ais_steps(settings) == 0
        assert method.var_attrs(settings)["lnZ_ar_is"]["ais_steps"] == 0
    attrs = method.var_attrs(make_settings(method, {"ais": 3, "delta": 0.05}))
    assert attrs["lnZ_ar_is"] == {"ais_steps": 3} and attrs["lnZ_ar_lower_prob"] == {"ais_steps": 3, "delta": 0.05}
    model = glass(6, 0)
    with pytest.raises(ValueError, match="two-body"):
        arl.Annealing(arl.SparseNetwork(model, 2, units=1), model, 2)
    with pytest.raises(ValueError, match="two-body"):
        arl.Annealing(arl.Network(6, 2, 3), model, 2)


def test_the_method_reports_annealed_estimates_within_their_error_of_exact():
    model = glass(10, 6)
    betas = np.array([0.5, 1.5])
    settings = make_settings(get_method("ar"), {"steps": 30, "samples": 4000, "ais": 4})
    out = get_method("ar").run(model, betas, settings, np.random.default_rng(0))
    lnz = naive.model_lnZ(model, betas)
    assert np.all(np.abs(out["lnZ_ar_is"] - lnz) < 4 * out["lnZ_ar_is_se"])
    assert np.all(out["lnZ_ar_lower"] <= lnz + 1e-9)
