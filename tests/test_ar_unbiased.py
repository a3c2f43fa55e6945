"""The importance-sampling estimate of ln Z is ln mean of the RAW weights e^{-beta E}/q, whose mean is
unbiased for Z (E_q[e^{-beta E}/q] = Z for a q that reaches every state); Pareto smoothing gives only the
tail diagnostic k-hat (issue 23: at k-hat 0.5-0.7 the smoothed weights put ln Z several of their own
standard errors low on the 16 x 16 glass at beta = 3, docs/performance.md).

References are independent: the q is an open chain's Boltzmann conditionals with the couplings scaled
by tau (too narrow for tau > 1: heavy-tailed weights), sampled and evaluated here in numpy from the
kernel's documented rule (s_i = +1 where u_i < q(s_i = +1 | s_<i)); Z and E_q[w^2] by brute-force
enumeration (tests/naive.py, a plain sum over the 2^N states).
"""

import math

import naive
import numpy as np

from isingvar import autoregressive as arl
from isingvar.importance import psis
from isingvar.model import IsingModel

N, BETA = 12, 1.0


def chain(seed=3):
    rng = np.random.default_rng(seed)
    J = rng.uniform(0.5, 1.5, N - 1)
    return J, IsingModel(N, np.arange(N - 1), np.arange(1, N), J, np.zeros(N))


def narrow_chain_q(J, tau):
    """Depth-1 q with a_0 = 0 and a_i = tau 2 beta J_{i-1} s_{i-1}: the chain's p at tau = 1."""
    net = arl.Network(N, 1, 0)
    net.params["W"][np.arange(1, N), np.arange(N - 1)] = 2.0 * BETA * J * tau
    return net


def numpy_draw(J, tau, u):
    """Samples of narrow_chain_q from the uniforms u (M, N) and their ln q, in numpy."""
    s = np.empty_like(u)
    lnq = np.zeros(u.shape[0])
    for i in range(N):
        a = 0.0 if i == 0 else tau * 2.0 * BETA * J[i - 1] * s[:, i - 1]
        p_up = 1.0 / (1.0 + np.exp(-a))
        s[:, i] = np.where(u[:, i] < p_up, 1.0, -1.0)
        lnq += np.log(np.where(s[:, i] > 0, p_up, 1.0 - p_up))
    return s, lnq


def test_lnz_is_is_ln_mean_of_the_raw_weights_where_smoothing_would_change_it():
    J, model = chain()
    tau, M, seed = 1.8, 1000, 5
    est = arl.evaluate(narrow_chain_q(J, tau), model, BETA, M, M, np.random.default_rng(seed))
    s, lnq = numpy_draw(J, tau, np.random.default_rng(seed).random((M, N)))
    logw = BETA * np.sum(J * s[:, :-1] * s[:, 1:], axis=1) - lnq
    top = logw.max()
    w = np.exp(logw - top)
    expected = top + math.log(w.mean())
    assert abs(est.lnz_is - expected) < 1e-10
    assert abs(est.ess - w.sum()**2 / (w @ w)) < 1e-8 * M
    # the teeth: a tail PSIS would smooth (k-hat <= 0.7), and the smoothed mean differs
    smoothed, khat = psis(logw)
    assert 0.5 < est.khat <= 0.7 and abs(est.khat - khat) < 1e-9
    top_s = smoothed.max()
    assert abs(top_s + math.log(np.mean(np.exp(smoothed - top_s))) - expected) > 0.1  # 0.21 nats here


def test_the_estimate_of_z_is_unbiased_on_a_chain_with_heavy_tailed_weights():
    J, model = chain()
    tau, M, R = 1.5, 200, 300
    S = naive.all_states(N)
    lnz = naive.model_lnZ(model, [BETA])[0]
    _s, lnq = numpy_draw(J, tau, np.where(S > 0, 0.0, 1.0 - 1e-15))  # u = 0 draws +1, u ~ 1 draws -1: q(S) itself
    assert abs(math.log(np.exp(lnq).sum())) < 1e-12  # q is normalised
    lp = -BETA * naive.model_energies(model, S) - lnz
    sd_w = math.sqrt(np.sum(np.exp(2.0 * lp - lnq)) - 1.0)  # sd of w/Z under q, exact
    net, rng = narrow_chain_q(J, tau), np.random.default_rng(11)
    ratios = np.array([math.exp(arl.evaluate(net, model, BETA, M, M, rng).lnz_is - lnz) for _ in range(R)])
    assert abs(ratios.mean() - 1.0) <= 4.0 * sd_w / math.sqrt(M * R)
