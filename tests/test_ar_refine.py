"""Forward-KL steps after training (``--ar-fkl-steps``, issue 23; :func:`isingvar.autoregressive.refine`): they lower
KL(p || q), computed exactly by enumeration, and the method takes them only where they are promised.

References are independent: p and q over every state by brute force (tests/naive.py), ln q from the network's
definition in plain NumPy (tests/test_ar_ais.py).
"""

import naive
import numpy as np
import pytest
from test_ar_ais import glass, numpy_lnq, random_q

from isingvar import autoregressive as arl
from isingvar.methods import get_method, make_settings
from isingvar.methods.ar import fkl_steps


def forward_kl(net, model, beta):
    """KL(p || q) = sum_s p(s) (ln p(s) - ln q(s)) over all 2^N states (nats)."""
    S = naive.all_states(model.n)
    lnp = -beta * naive.model_energies(model, S)
    lnp -= naive.logsumexp(lnp)
    return float(np.sum(np.exp(lnp) * (lnp - numpy_lnq(net, S))))


@pytest.mark.parametrize("chain_steps", [0, arl.FKL_AIS])
def test_forward_kl_steps_lower_the_exact_forward_kl(chain_steps, monkeypatch):
    # a q that is confident where p is not (random weights at scale 1.5): the steps must bring KL(p || q) down.  A
    # step along +grad raises it; without annealing (0 steps: q's own samples) the weights do all the work, so
    # weights ignored or mismatched leave it where it was (the score function has mean zero under q)
    monkeypatch.setattr(arl, "FKL_AIS", chain_steps)
    for kind, seed in (("sparse", 1), ("dense-sym", 2)):
        rng = np.random.default_rng(seed)
        model = glass(9, seed, field=0.0 if kind.endswith("sym") else 0.4)
        net, beta = random_q(model, rng, kind, scale=1.5), 1.2
        before = forward_kl(net, model, beta)
        taken = arl.refine(net, model, beta, 150, 256, 0.01, rng)
        after = forward_kl(net, model, beta)
        assert taken == 150
        assert before > 2.0 and after < 0.8 * before, (kind, before, after)  # measured 0.71 and below


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
