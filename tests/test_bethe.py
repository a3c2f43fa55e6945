"""Bethe / loopy BP: exact on trees (brute force), sane on loops, plug-in contract."""

import naive
import numpy as np
import pytest
from conftest import random_model

from isingvar.families import make_instance, resolve_params
from isingvar.methods import bethe
from isingvar.model import IsingModel

METHOD = bethe.METHOD


def run(model, betas, sites=True, **kw):
    return METHOD.run(model, np.asarray(betas, float), METHOD.settings(**kw), np.random.default_rng(0),
                      sites=sites, progress=None)


def random_tree(n, rng):
    """A random labelled tree (each node joins an earlier one) with Gaussian couplings and fields."""
    j = np.arange(1, n)
    i = np.array([rng.integers(0, k) for k in j])
    return IsingModel(n, i, j, rng.normal(size=n - 1), rng.normal(size=n))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_on_trees(seed):
    rng = np.random.default_rng(seed)
    m = random_tree(11, rng)
    betas = np.array([2.0, 0.0, 0.4, 1.0])
    r = run(m, betas)
    ref = naive.thermo(m.dense(), m.fields, betas)
    np.testing.assert_allclose(r["lnZ_bethe"], ref["lnZ"], rtol=1e-10)
    np.testing.assert_allclose(r["m_bethe"], ref["m"], atol=1e-9)
    assert np.all(r["bethe_converged"] == 1)
    # site magnetisations against brute force
    S = naive.all_states(m.n)
    for q, b in enumerate(betas):
        a = -b * naive.energies(m.dense(), m.fields, S)
        p = np.exp(a - naive.logsumexp(a))
        np.testing.assert_allclose(r["m_bethe_site"][q], p @ S, atol=1e-9)
    assert r["f_bethe"][1] == -np.inf
    np.testing.assert_allclose(r["f_bethe"][0], -r["lnZ_bethe"][0] / (2.0 * m.n))


def test_high_temperature_accuracy_on_loops():
    """At small beta the Bethe ln Z agrees with exact to O(beta^3) corrections from loops (here < 1e-3)."""
    rng = np.random.default_rng(7)
    m = random_model(10, rng, density=0.5, field_scale=0.3)
    betas = np.array([0.05])
    r = run(m, betas)
    exact = naive.thermo(m.dense(), m.fields, betas)["lnZ"]
    assert r["bethe_converged"][0] == 1
    assert abs(r["lnZ_bethe"][0] - exact[0]) < 1e-3


def test_periodic_chain_close_to_closed_form():
    """On a long ring BP is exact up to the loop correction, which vanishes as tanh(beta J)^N."""
    n = 40
    m = IsingModel(n, np.arange(n), (np.arange(n) + 1) % n, np.full(n, 1.0), np.full(n, 0.2))
    r = run(m, [0.5])
    assert abs(r["lnZ_bethe"][0] - naive.chain_lnZ(n, 1.0, 0.2, 0.5)) < 1e-8


def test_variables_and_sites_flag():
    m = make_instance("square", resolve_params("square", {"L": 4}), seed=0, sample=0)
    r = run(m, [0.3, 0.6], sites=False)
    names = {v.name for v in METHOD.variables}
    assert set(r) == names - {"m_bethe_site"}
    assert run(m, [0.3], sites=True)["m_bethe_site"].shape == (1, 16)
    assert all("not a bound" in v.long_name for v in METHOD.variables if v.kind == "estimate")
    assert METHOD.cost(m, np.ones(4), METHOD.settings(), sites=False) > 0


def test_symmetry_broken_below_the_bethe_transition():
    """Zero-field ferromagnet: u = 0 is a BP fixed point at every beta; below the Bethe critical
    temperature (tanh beta_c = 1/(z-1), z = 4: beta_c = 0.347) the ordered fixed point has the larger
    lnZ_bethe and is the one kept."""
    m = make_instance("square", resolve_params("square", {"L": 8}), seed=0, sample=0)
    r = run(m, [0.2, 1.0], sites=False)
    para = m.n * np.log(2) + m.n_edges * np.log(np.cosh(1.0))  # Bethe lnZ at u = 0
    assert abs(r["m_bethe"][0]) < 1e-6
    assert r["lnZ_bethe"][1] > para + 1.0
    assert abs(r["m_bethe"][1]) > 0.99
