"""TRW upper bound: against brute force, closed forms and an independent tree transfer matrix."""

import math

import naive
import numpy as np
import pytest
from conftest import random_model
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from isingvar import trw
from isingvar.families import make_instance, resolve_params
from isingvar.methods import trw as trw_method
from isingvar.model import IsingModel

METHOD = trw_method.METHOD


def run(model, betas, rng=None, **kw):
    rng = rng if rng is not None else np.random.default_rng(0)
    return METHOD.run(model, np.asarray(betas, float), METHOD.settings(**kw), rng, sites=False, progress=None)


def inst(name, params, seed=1):
    return make_instance(name, resolve_params(name, params), seed=seed, sample=0)


@hsettings(max_examples=25, deadline=None)
@given(n=st.integers(2, 9), seed=st.integers(0, 2**31), density=st.sampled_from([1.0, 0.5]),
       sign=st.sampled_from(["glass", "ferro", "antiferro"]), field=st.sampled_from([0.0, 0.3, 1.0]),
       beta=st.sampled_from([0.05, 0.4, 1.0, 3.0]))
@pytest.mark.slow
def test_upper_bound_holds(n, seed, density, sign, field, beta):
    rng = np.random.default_rng(seed)
    m = random_model(n, rng, density=density, field_scale=field)
    if sign != "glass":
        J = np.abs(m.couplings) * (1 if sign == "ferro" else -1)
        m = IsingModel(n, m.edge_i, m.edge_j, J, m.fields)
    betas = [0.0, beta]
    r = run(m, betas, rng)
    exact = naive.model_lnZ(m, betas)
    assert np.all(r["lnZ_trw_upper"] >= exact - 1e-9 * np.maximum(1, np.abs(exact)))
    assert r["lnZ_trw_upper"][0] == pytest.approx(n * math.log(2), rel=1e-14)


def test_exact_on_open_chain_with_fields():
    rng = np.random.default_rng(3)
    n = 60
    J = rng.normal(size=n - 1)
    h = rng.normal(size=n)
    m = IsingModel(n, np.arange(n - 1), np.arange(1, n), J, h)
    betas = np.array([0.2, 1.0, 2.5])
    r = run(m, betas)
    ref = [naive.open_chain_lnZ(J, h, b) for b in betas]
    np.testing.assert_allclose(r["lnZ_trw_upper"], ref, rtol=1e-10)
    assert np.all(r["trw_trees"] == 1)


def test_exact_on_star_and_forest_vs_brute_force():
    rng = np.random.default_rng(4)
    # star with 8 leaves plus a separate 3-chain: a forest of two components
    i = np.array([0] * 8 + [9, 10])
    j = np.array(list(range(1, 9)) + [10, 11])
    m = IsingModel(12, i, j, rng.normal(size=10), rng.normal(size=12))
    betas = np.array([0.3, 1.0, 2.0])
    np.testing.assert_allclose(run(m, betas)["lnZ_trw_upper"], naive.model_lnZ(m, betas), rtol=1e-10)


def test_families_bound_holds():
    betas = np.array([0.05, 0.5, 1.0, 3.0])
    cases = [("square", {"L": 3, "boundary": "periodic", "disorder": "pm"}),
             ("square", {"L": 3, "boundary": "open", "disorder": "gaussian"}),
             ("sk", {"n": 10}), ("rrg", {"n": 12, "degree": 3}), ("chain", {"n": 12, "boundary": "periodic"})]
    for name, params in cases:
        for h in (0.0, 0.3):
            m = inst(name, params).scaled(1.0, h)
            r = run(m, betas)
            assert np.all(r["lnZ_trw_upper"] >= naive.model_lnZ(m, betas) - 1e-9), (name, params, h)


def test_periodic_chain_against_closed_form():
    n = 14
    for J, h in ((1.0, 0.0), (-1.0, 0.3), (0.7, -0.5)):
        m = IsingModel(n, np.arange(n), (np.arange(n) + 1) % n, np.full(n, J), np.full(n, h))
        betas = np.array([0.1, 0.6, 2.0])
        r = run(m, betas)
        exact = np.array([naive.chain_lnZ(n, J, h, b) for b in betas])
        assert np.all(r["lnZ_trw_upper"] >= exact - 1e-10)
        # a cycle: two trees suffice, and the bound is within the cycle's weight of exact
        assert np.all(r["lnZ_trw_upper"] - exact < 2 * betas * abs(J) + 1e-9)


def test_curie_weiss_against_binomial_sum():
    n = 12
    m = inst("curie-weiss", {"n": n}, 0).scaled(1.0, 0.3)
    betas = np.array([0.5, 1.0, 2.0])
    r = run(m, betas)
    exact = np.array([naive.curie_weiss_lnZ(n, 1.0, 0.3, b) for b in betas])
    assert np.all(r["lnZ_trw_upper"] >= exact)


def test_decomposition_residual_and_refusal():
    rng = np.random.default_rng(5)
    m = random_model(9, rng, density=0.6, field_scale=0.7)
    g = trw.Graph(m)
    trees = trw.starting_trees(g, rng, 3)
    u = rng.normal(size=g.indices.size)  # any messages give a valid decomposition
    bound, _, _, residual = trw.primal(g, trees, 1.3, u)
    assert residual < 1e-12
    assert bound >= naive.model_lnZ(m, [1.3])[0]
    bad = trees.copy()
    bad.weights = bad.weights * 0.9  # weights no longer sum to 1
    with pytest.raises(RuntimeError, match="decomposition"):
        trw.primal(g, bad, 1.3, u)
    # a tree whose edge slot does not join the site to its parent is refused (the coupling checked
    # would not be the one on the tree's edge)
    broken = trees.copy()
    pslot = broken.pslots[0].copy()
    c = next(c for c in range(m.n) if broken.parents[0][c] >= 0 and g.indptr[c + 1] - g.indptr[c] >= 2)
    pslot[c] = next(k for k in range(g.indptr[c], g.indptr[c + 1]) if g.indices[k] != broken.parents[0][c])
    broken.pslots[0] = pslot
    broken._stacked = None
    with pytest.raises(RuntimeError, match="forest"):
        trw.primal(g, broken, 1.3, u)


def test_converged_messages_minimise_the_primal():
    """At the TRW fixed point the primal is minimal over the tree parameters for fixed rho (convexity):
    perturbing the messages (hence the tree fields) never lowers it."""
    rng = np.random.default_rng(6)
    m = inst("square", {"L": 4, "boundary": "periodic", "disorder": "gaussian"}, 2)
    m = m.scaled(1.0, 0.4)
    g = trw.Graph(m)
    trees = trw.starting_trees(g, rng, 2)
    sol = trw.solve(g, trees, 0.5, np.zeros(g.indices.size), trw_method.Settings(max_iterations=5000, tol=1e-13))
    assert sol.converged
    for _ in range(5):
        bound, *_ = trw.primal(g, trees, 0.5, sol.u + 1e-3 * rng.normal(size=sol.u.size))
        assert bound >= sol.bound - 1e-12


def test_rho_steps_tighten_and_variables():
    m = inst("square", {"L": 4, "boundary": "periodic", "disorder": "gaussian"}, 3)
    betas = np.array([1.0, 0.0, 0.5])  # unsorted, with beta = 0
    fixed = run(m, betas, tree_steps=0)
    opt = run(m, betas)
    assert np.all(opt["lnZ_trw_upper"] <= fixed["lnZ_trw_upper"] + 1e-12)
    assert opt["lnZ_trw_upper"][0] < fixed["lnZ_trw_upper"][0]
    assert np.all(opt["lnZ_trw_upper"] >= naive.model_lnZ(m, betas) - 1e-10)
    f = opt["f_trw_lower"]
    assert f[1] == -np.inf
    np.testing.assert_allclose(f[[0, 2]], -opt["lnZ_trw_upper"][[0, 2]] / (betas[[0, 2]] * m.n))
    assert {v.name for v in METHOD.variables} == set(opt) | {"lnZ_model_trw_upper"}  # that one: model files only (file_hook)
    assert opt["trw_iterations"].dtype == np.int32 and opt["trw_converged"].dtype == np.int8


def test_settings_refused():
    from isingvar.errors import IsingvarError

    with pytest.raises(IsingvarError, match="--trw-damping"):
        trw_method.Settings(damping=1.0)


def test_cost_and_progress():
    m = inst("square", {"L": 8}, 0)
    s = trw_method.Settings()
    assert METHOD.cost(m, np.linspace(0.1, 1, 8), s, sites=False) > 0
    assert METHOD.progress_units(m.n, np.linspace(0.1, 1, 8), s) == 8
    steps = []
    run_ = METHOD.run(m, np.linspace(0.1, 1, 3), s, np.random.default_rng(0), sites=False, progress=steps.append)
    assert sum(steps) == 3 and run_["lnZ_trw_upper"].shape == (3,)


def test_polish_lowers_the_primal_and_reaches_the_message_fixed_point():
    """Direct L-BFGS on the primal over the messages from u = 0 reaches the converged TRW value (both
    are the minimum for fixed rho) and never raises the bound."""
    m = inst("square", {"L": 4, "boundary": "periodic", "disorder": "gaussian"}, 4).scaled(1.0, 0.3)
    g = trw.Graph(m)
    trees = trw.starting_trees(g, np.random.default_rng(1), 2)
    sol = trw.solve(g, trees, 0.7, np.zeros(g.indices.size), trw_method.Settings(max_iterations=5000, tol=1e-13))
    assert sol.converged
    start, *_ = trw.primal(g, trees, 0.7, np.zeros(g.indices.size))
    u, _ = trw.polish(g, trees, 0.7, np.zeros(g.indices.size), 500, 1e-10)
    bound, *_ = trw.primal(g, trees, 0.7, u)
    assert bound <= start
    assert bound == pytest.approx(sol.bound, abs=1e-8)


@pytest.mark.slow
def test_polish_setting_keeps_the_bound_valid():
    rng = np.random.default_rng(9)
    m = random_model(9, rng, coupling_scale=2.0)
    betas = np.array([1.0, 2.0])
    r = run(m, betas, polish_iterations=50, max_iterations=3)
    assert np.all(r["lnZ_trw_upper"] >= naive.model_lnZ(m, betas))


def test_disconnected_loopy_graph_isolated_spin_and_zero_coupling():
    """Two triangles, an isolated spin and a listed pair with J = 0: spanning forests cover it."""
    i = np.array([0, 1, 0, 3, 4, 3, 2])
    j = np.array([1, 2, 2, 4, 5, 5, 6])
    J = np.array([1.0, -1.5, 0.7, 2.0, 1.0, -0.5, 0.0])
    m = IsingModel(8, i, j, J, np.linspace(-0.5, 0.5, 8))
    betas = np.array([0.0, 0.5, 2.0])
    r = run(m, betas)
    exact = naive.model_lnZ(m, betas)
    assert np.all(r["lnZ_trw_upper"] >= exact - 1e-12)
    assert r["lnZ_trw_upper"][0] == pytest.approx(8 * math.log(2), rel=1e-14)
    single = run(IsingModel(1, [], [], [], [0.4]), [0.0, 1.0])
    np.testing.assert_allclose(single["lnZ_trw_upper"], [math.log(2), math.log(2 * math.cosh(0.4))], rtol=1e-14)


def test_tree_cap_prunes_and_stays_valid():
    """With max_trees = 1 the lightest trees are dropped (keeping every pair covered) and the bound holds."""
    rng = np.random.default_rng(11)
    m = random_model(9, rng, density=0.5)
    betas = np.linspace(0.2, 2.0, 5)
    r = run(m, betas, max_trees=1, tree_steps=4)
    assert np.all(r["lnZ_trw_upper"] >= naive.model_lnZ(m, betas) - 1e-10)
    start = len(trw.starting_trees(trw.Graph(m), np.random.default_rng(0), 2))  # run()'s own start
    assert r["trw_trees"].max() <= start + 1


CROSS = [("chain", {"n": 10, "boundary": b}) for b in ("open", "periodic")]
CROSS += [("square", {"L": 3, "boundary": b, "disorder": d}) for b in ("open", "periodic") for d in ("none", "gaussian")]
CROSS += [("cubic", {"L": 2, "boundary": "open", "disorder": "pm"}), ("curie-weiss", {"n": 10}),
          ("sk", {"n": 10}), ("sk", {"n": 9, "J0": 2.0}), ("rrg", {"n": 10, "degree": 3, "disorder": "gaussian"})]


@pytest.mark.parametrize("name,params", CROSS, ids=[f"{n}-{'-'.join(map(str, p.values()))}" for n, p in CROSS])
def test_cross_method_mf_exact_trw(name, params):
    """lnZ_mf_lower <= lnZ_exact <= lnZ_trw_upper for ferro-, antiferromagnetic and glassy couplings
    (J = +-1 scales the instance), h in {0, 0.3}, beta 0.05..3."""
    from isingvar.meanfield import mean_field

    base = inst(name, params)
    betas = np.array([0.05, 0.3, 1.0, 3.0])
    for J in (1.0, -1.0):
        for h in (0.0, 0.3):
            m = base.scaled(J, h)
            exact = naive.model_lnZ(m, betas)
            up = run(m, betas)["lnZ_trw_upper"]
            lo = mean_field(m, betas, rng=np.random.default_rng(0), keep_sites=False).lnZ_lower
            tol = 1e-9 * np.maximum(1.0, np.abs(exact))
            assert np.all(lo <= exact + tol) and np.all(exact <= up + tol), (J, h, lo, exact, up)


def test_memory_model_and_refusal_of_star_trees():
    import tracemalloc

    from isingvar.errors import TooLargeError
    from isingvar.sweep import make_config
    from isingvar.sweep.config import _applicable
    from isingvar.sweep.estimate import MAX_METHOD_BYTES, check_memory

    s = trw_method.Settings()
    betas = np.array([0.5, 1.0])
    # the estimate covers what a run holds at its peak (star trees on a complete graph: O(N^2))
    m = inst("sk", {"n": 120}, 0)
    _ = m.csr
    METHOD.run(inst("sk", {"n": 6}, 0), betas, s, np.random.default_rng(0), sites=False)  # compile outside
    tracemalloc.start()
    try:
        METHOD.run(m, betas, s, np.random.default_rng(0), sites=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = METHOD.memory(m.n, m.n_edges, betas, s)
    assert peak <= estimate <= 2 * peak
    # a lattice stays linear in N; a complete graph of 6,000 spins is over the limit
    assert METHOD.memory(10**6, 2 * 10**6, np.linspace(0.1, 1, 64), s) < MAX_METHOD_BYTES
    n = 6000
    assert METHOD.memory(n, n * (n - 1) // 2, betas, s) > MAX_METHOD_BYTES
    # named: refused in one line, --force or not (nothing is built: the family gives E)
    for force in (False, True):
        with pytest.raises(TooLargeError) as e:
            make_config("sk", {"n": n}, beta="1", methods=["mf", "trw"], force=force)
        msg = str(e.value)
        assert "\n" not in msg and msg.startswith("trw on N = 6000") and "GiB" in msg and "--method trw" in msg
    # a default: left out, the other defaults run
    chosen = {name: make_settings_for(name) for name in ("exact", "mf", "trw")}
    fits = lambda name: check_memory(name, n, n * (n - 1) // 2, betas, chosen[name])
    assert _applicable(("exact", "mf", "trw"), n, False, fits) == ("exact", "mf")


def make_settings_for(name):
    from isingvar.methods import get_method, make_settings

    return make_settings(get_method(name), None)
