"""Forward-KL steps after training (``--ar-fkl-steps``, issue 23; :func:`isingvar.autoregressive.refine`): the
gradient of KL(p || q) against its value by enumeration, the steps lower KL(p || q) and keep KL(q || p), and the
method takes them only where they are promised.

References are independent: p and q over every state by brute force (tests/naive.py), ln q from the network's
definition in plain NumPy (tests/test_ar_ais.py).
"""

import naive
import numpy as np
import pytest
from test_ar_ais import KINDS, glass, numpy_lnq, random_q

from isingvar import autoregressive as arl
from isingvar.methods import get_method, make_settings
from isingvar.methods.ar import fkl_steps


def kl_both(net, model, beta):
    """(KL(p || q), KL(q || p)) over all 2^N states (nats)."""
    S = naive.all_states(model.n)
    lnp = -beta * naive.model_energies(model, S)
    lnp -= naive.logsumexp(lnp)
    lnq = numpy_lnq(net, S)
    return float(np.sum(np.exp(lnp) * (lnp - lnq))), float(np.sum(np.exp(lnq) * (lnq - lnp)))


@pytest.mark.parametrize("chain_steps", [0, arl.FKL_AIS])
@pytest.mark.parametrize("kind", ["sparse", "dense-sym"])
def test_the_forward_kl_gradient_matches_the_exact_one(kind, chain_steps):
    # -sum_s p(s) grad ln q(s) over all states against the estimate from 40,000 chains: with 0 annealing steps
    # (plain weights of q's own samples) the weights do all the work, so weights ignored, mismatched or of the
    # wrong sign miss it by the gradient's whole size
    rng = np.random.default_rng(KINDS.index(kind) + 3 * chain_steps)
    model = glass(8, 4, field=0.0 if kind.endswith("sym") else 0.4)
    net, beta, B = random_q(model, rng, kind, scale=0.6), 0.8, 40_000
    S = naive.all_states(model.n)
    lnp = -beta * naive.model_energies(model, S)
    p = np.exp(lnp - naive.logsumexp(lnp))
    _lnq, a, h = net.forward(S.copy())
    exact = net.gradient(S.copy(), a, h, -p)
    s = np.empty((B, model.n))
    net.forward(s, rng.random((B, net.uniforms)))
    estimate = arl.forward_kl_gradient(net, arl.Annealing(net, model, chain_steps), s, beta, rng)
    assert np.linalg.norm(estimate - exact) < 0.1 * np.linalg.norm(exact)


def test_refine_lowers_the_exact_forward_kl_and_keeps_the_elbo():
    # a q that is confident where p is not (random weights at scale 1.5): the steps bring KL(p || q) down and,
    # with the free-energy gradient beside the forward-KL one, leave KL(q || p) (the ELBO's gap) no higher
    for kind, seed in (("sparse", 1), ("dense-sym", 2)):
        rng = np.random.default_rng(seed)
        model = glass(9, seed, field=0.0 if kind.endswith("sym") else 0.4)
        net, beta = random_q(model, rng, kind, scale=1.5), 1.2
        before = kl_both(net, model, beta)
        assert arl.refine(net, model, beta, 150, 256, 0.01, rng) == 150
        after = kl_both(net, model, beta)
        assert before[0] > 2.0 and after[0] < 0.5 * before[0], (kind, before, after)
        assert after[1] <= before[1], (kind, before, after)


def test_the_method_takes_forward_kl_steps_only_above_24_spins_and_below_the_ess_rule():
    method = get_method("ar")
    chain = glass(26, 3, density=0.1)
    small = glass(10, 3)
    base = {"steps": 20, "samples": 300, "checkpoint": 10, "fkl_steps": 7, "ais": 2}
    assert fkl_steps(26, make_settings(method, base)) == 7
    assert fkl_steps(24, make_settings(method, base)) == 0  # the certified bound and the estimates: one q
    assert fkl_steps(26, make_settings(method, {**base, "units": 1})) == 0  # not two-body: nothing to anneal
    for model, stop_ess, expected in ((chain, 1.0, 7), (chain, 1e-9, 0), (small, 1.0, 0)):
        settings = make_settings(method, {**base, "stop_ess": stop_ess})
        units = []
        out = method.run(model, np.array([0.3, 1.0]), settings, np.random.default_rng(0), progress=units.append)
        assert np.all(out["ar_fkl_steps"] == expected), (model.n, stop_ess, out["ar_fkl_steps"])
        assert abs(sum(units) - method.progress_units(model.n, [0.3, 1.0], settings)) < 1e-9
        assert np.all(out["ar_status"] >= 0) and np.all(np.isfinite(out["lnZ_ar_is_raw"]))
