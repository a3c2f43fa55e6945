"""Cutset conditioning (isingvar.exact.cutset) against plain enumeration, identities and closed forms."""

import signal

import naive
import numpy as np
import pytest

from isingvar.errors import TooLargeError
from isingvar.exact import cutset
from isingvar.model import IsingModel

# unsorted, with 0 and a low temperature where c, chi and s are exponentially small
BETAS = np.array([50.0, 0.0, 0.3, 1.0, 3.0, 12.0])
SIGNED = ("lnZ", "f", "u", "m")  # means: compared with an absolute floor as well
NONNEG = ("s", "c", "m2", "chi")  # sums of non-negative terms: relative accuracy at any beta


def assert_matches(res, ref, m):
    for name in SIGNED:
        scale = max(1.0, np.abs(ref[name][np.isfinite(ref[name])]).max())
        np.testing.assert_allclose(getattr(res, name), ref[name], rtol=1e-10, atol=1e-12 * scale, err_msg=name)
    for name in NONNEG:
        np.testing.assert_allclose(getattr(res, name), ref[name], rtol=1e-10, atol=0.0, err_msg=name)
    np.testing.assert_allclose(res.sites, ref["sites"], rtol=1e-10, atol=1e-12, err_msg="sites")
    assert np.all(np.isnan(res.absm))  # not exact off enumeration: NaN, never an approximation
    assert res.e0 == pytest.approx(ref["e0"], rel=1e-13, abs=1e-13)
    assert m.energy(res.ground_state) == pytest.approx(res.e0, rel=1e-13, abs=1e-13)
    assert res.path == "cutset"


# ---------------------------------------------------------------------------- graphs
def bipartite(a, b, rng, h=0.5):
    i, j = np.meshgrid(np.arange(a), a + np.arange(b), indexing="ij")
    return IsingModel(a + b, i.ravel(), j.ravel(), rng.normal(size=a * b), h * rng.normal(size=a + b))


def tree_plus(n, extra, rng, h=0.5):
    parents = [int(rng.integers(0, k)) for k in range(1, n)]
    pairs = {(p, k) for k, p in zip(range(1, n), parents)}
    while len(pairs) < n - 1 + extra:
        i, j = sorted(rng.choice(n, 2, replace=False).tolist())
        pairs.add((i, j))
    i, j = np.array(sorted(pairs)).T
    return IsingModel(n, i, j, rng.normal(size=i.size), h * rng.normal(size=n))


def grid(L1, L2, rng, h=0.5, periodic=False):
    idx = np.arange(L1 * L2).reshape(L1, L2)
    pairs = [(idx[x, y], idx[(x + 1) % L1, y]) for x in range(L1) for y in range(L2) if periodic or x + 1 < L1]
    pairs += [(idx[x, y], idx[x, (y + 1) % L2]) for x in range(L1) for y in range(L2) if periodic or y + 1 < L2]
    i, j = np.array(pairs).T
    return IsingModel(L1 * L2, i, j, rng.normal(size=i.size), h * rng.normal(size=L1 * L2))


def dense(n, rng, h=0.5):
    i, j = np.triu_indices(n, 1)
    return IsingModel(n, i, j, rng.normal(size=i.size) / np.sqrt(n), h * rng.normal(size=n))


def forest(n, rng, h=0.5):
    """Trees of several sizes and a few isolated spins: nothing to condition on."""
    pairs = [(k - 1 - int(rng.integers(0, min(k, 3))), k) for k in range(1, n) if k % 6 not in (0, 5)]
    i, j = np.array(pairs).T
    return IsingModel(n, i, j, rng.normal(size=i.size), h * rng.normal(size=n))


GRAPHS = {
    "K5,9": lambda rng, h: bipartite(5, 9, rng, h),
    "K8,8": lambda rng, h: bipartite(8, 8, rng, h),
    "tree+3": lambda rng, h: tree_plus(18, 3, rng, h),
    "grid4x4": lambda rng, h: grid(4, 4, rng, h),
    "torus3x5": lambda rng, h: grid(3, 5, rng, h, periodic=True),
    "dense12": lambda rng, h: dense(12, rng, h),
    "forest": lambda rng, h: forest(16, rng, h),
    "fields only": lambda rng, h: IsingModel(6, [], [], [], h * rng.normal(size=6) + 0.1),
}


@pytest.mark.parametrize("h", [0.0, 0.5])
@pytest.mark.parametrize("graph", list(GRAPHS))
def test_every_observable_matches_enumeration(graph, h):
    rng = np.random.default_rng([list(GRAPHS).index(graph), int(10 * h)])
    m = GRAPHS[graph](rng, h)
    assert cutset.applicable(m, BETAS, sites=True) is None
    assert_matches(cutset.run(m, BETAS, sites=True), naive.model_thermo(m, BETAS), m)


def test_chunks_and_threads_merge_exactly(monkeypatch):
    # chunks of 4 configurations, dealt to every thread, 2 chunks per kernel call: 2-32 calls
    monkeypatch.setattr(cutset, "CHUNK_BITS", 2)
    monkeypatch.setattr(cutset, "MIN_THREAD_WORK", 1)
    rng = np.random.default_rng(5)
    for m in (dense(9, rng), bipartite(6, 9, rng), grid(4, 4, rng)):
        monkeypatch.setattr(cutset, "WORK_PER_CALL", 2 * cutset._unit(cutset._plan(m), BETAS.size))
        assert cutset.structure(m).cut.size >= 4  # more than one call
        calls = []
        res = cutset.run(m, BETAS, sites=True, progress=lambda done, total, calls=calls: calls.append((done, total)))
        assert_matches(res, naive.model_thermo(m, BETAS), m)
        assert len(calls) > 1 and calls[-1][0] == calls[-1][1]


def test_large_fields_and_couplings_at_beta_50():
    # |beta x| up to ~1e4: weights far below exp(-707), entropies and variances ~1e-300 and less
    rng = np.random.default_rng(9)
    m = bipartite(4, 6, rng, h=0.0)
    m = IsingModel(m.n, m.edge_i, m.edge_j, 30 * m.couplings, 20 * rng.normal(size=m.n))
    betas = np.array([0.01, 1.0, 50.0])
    res, ref = cutset.run(m, betas, sites=True), naive.model_thermo(m, betas)
    np.testing.assert_allclose(res.lnZ, ref["lnZ"], rtol=1e-12)
    np.testing.assert_allclose(res.u, ref["u"], rtol=1e-12)
    np.testing.assert_allclose(res.m, ref["m"], rtol=1e-12)
    assert np.all(np.isfinite(res.c)) and np.all(res.c >= 0) and np.all(res.s >= 0)


# ---------------------------------------------------------------------------- identities
def test_gauge_invariance():
    # s_i -> g_i s_i with J_ij -> g_i g_j J_ij, h_i -> g_i h_i leaves Z and E unchanged, flips <s_i>
    rng = np.random.default_rng(21)
    for m in (tree_plus(30, 5, rng), bipartite(6, 20, rng), grid(5, 6, rng)):
        g = rng.choice([-1.0, 1.0], m.n)
        mg = IsingModel(m.n, m.edge_i, m.edge_j, g[m.edge_i] * g[m.edge_j] * m.couplings, g * m.fields)
        a, b = cutset.run(m, BETAS, sites=True), cutset.run(mg, BETAS, sites=True)
        for name in ("lnZ", "u", "s", "c"):
            np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-12, atol=1e-14, err_msg=name)
        np.testing.assert_allclose(b.sites, a.sites * g, rtol=1e-11, atol=1e-13)
        assert b.e0 == pytest.approx(a.e0, rel=1e-13)


def test_zero_field_symmetry():
    rng = np.random.default_rng(22)
    for m in (tree_plus(30, 5, rng, h=0.0), bipartite(6, 20, rng, h=0.0), grid(5, 6, rng, h=0.0)):
        res = cutset.run(m, BETAS, sites=True)
        assert np.all(res.m == 0.0) and np.all(res.sites == 0.0)  # exactly, by E(s) = E(-s)
        assert np.all(res.m2 > 0.0)
        np.testing.assert_allclose(res.chi, BETAS * m.n * res.m2, rtol=1e-13)  # chi = beta N <m^2> at <m> = 0
    # with a field: h -> -h gives the same ln Z and the opposite magnetisations
    m = grid(4, 7, rng)
    flipped = IsingModel(m.n, m.edge_i, m.edge_j, m.couplings, -m.fields)
    a, b = cutset.run(m, BETAS, sites=True), cutset.run(flipped, BETAS, sites=True)
    np.testing.assert_allclose(b.lnZ, a.lnZ, rtol=1e-13)
    np.testing.assert_allclose(b.m, -a.m, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.sites, -a.sites, rtol=1e-12, atol=1e-14)


def test_ring_against_transfer_matrix():
    # a periodic chain of 200 spins: one spin conditioned on, a path of 199 summed
    n, J, h = 200, 0.7, 0.2
    m = IsingModel(n, np.arange(n), (np.arange(n) + 1) % n, np.full(n, J), np.full(n, h))
    assert cutset.structure(m).cut.size == 1
    betas = np.array([0.1, 1.0, 4.0])
    res = cutset.run(m, betas)
    lnZ = []
    for b in betas:  # ln Tr T^n = n ln lam_1 + ln(1 + (lam_2/lam_1)^n), T_ss' = exp(b (J s s' + h (s + s')/2))
        lam = np.linalg.eigvalsh([[np.exp(b * (J + h)), np.exp(-b * J)], [np.exp(-b * J), np.exp(b * (J - h))]])
        lnZ.append(n * np.log(lam[1]) + np.log1p((lam[0] / lam[1]) ** n))
    np.testing.assert_allclose(res.lnZ, lnZ, rtol=1e-12)
    assert res.e0 == pytest.approx(-n * (J + h), rel=1e-13)


# ---------------------------------------------------------------------------- the cutset
def _is_forest(m, cut):
    """Union-find over the edges between spins outside ``cut``: no edge may close a cycle."""
    parent = list(range(m.n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    out = set(cut.tolist())
    for i, j in zip(m.edge_i.tolist(), m.edge_j.tolist()):
        if i in out or j in out:
            continue
        a, b = find(i), find(j)
        if a == b:
            return False
        parent[a] = b
    return True


def test_complete_bipartite_conditions_on_the_smaller_side():
    rng = np.random.default_rng(3)
    for a, b in ((3, 11), (9, 6), (8, 8)):
        m = bipartite(a, b, rng)
        st = cutset.structure(m)
        assert st.cut.size == min(a, b) and st.n_iso == max(a, b) and st.n_tree == 0
        small = np.arange(a) if a <= b else a + np.arange(b)
        if a != b:
            assert set(st.cut.tolist()) == set(small.tolist())


@pytest.mark.parametrize("seed", range(6))
def test_cutset_leaves_a_forest(seed):
    rng = np.random.default_rng(seed)
    for m in (tree_plus(40, 8, rng), grid(6, 6, rng), dense(9, rng), forest(20, rng)):
        st = cutset.structure(m)
        assert _is_forest(m, st.cut)
        assert sorted(np.r_[st.cut, st.fvert].tolist()) == list(range(m.n))  # every spin once
    assert cutset.structure(forest(20, rng)).cut.size == 0


def test_structure_is_cached_per_pattern():
    rng = np.random.default_rng(4)
    m = grid(5, 5, rng)
    st = cutset.structure(m)
    assert cutset.structure(m.scaled(2.0, 0.3)) is st  # a sweep's J and h axes
    other = IsingModel(m.n, m.edge_i, m.edge_j, rng.normal(size=m.n_edges))  # another disorder sample
    assert cutset.structure(other) is st


def test_refuses_a_graph_far_from_a_forest():
    m = dense(40, np.random.default_rng(1))  # a feedback vertex set of K40 has 38 spins
    reason = cutset.applicable(m, BETAS, sites=False)
    assert reason is not None and "cutset" in reason
    assert cutset.estimate_seconds(m, BETAS, sites=False) == np.inf
    with pytest.raises(TooLargeError):
        cutset.run(m, BETAS)


def test_estimate_is_a_finite_positive_time():
    m = bipartite(12, 14, np.random.default_rng(2))
    est = cutset.estimate_seconds(m, BETAS, sites=True)
    assert 0.0 < est < np.inf


def test_ctrl_c_between_kernel_calls_stops_the_run(monkeypatch):
    monkeypatch.setattr(cutset, "CHUNK_BITS", 2)
    monkeypatch.setattr(cutset, "WORK_PER_CALL", 1)
    m = bipartite(10, 5, np.random.default_rng(6))
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # held while the kernel runs, raised at the next check

    with pytest.raises(KeyboardInterrupt):
        cutset.run(m, BETAS, progress=interrupt)
    assert len(calls) == 1  # no further kernel call after the interrupt
