"""The planar zero-field Pfaffian path against plain-NumPy enumeration and a transfer matrix."""

from itertools import combinations

import naive
import networkx as nx
import numpy as np
import pytest

from isingvar.exact import planar
from isingvar.families import make_instance, resolve_params
from isingvar.model import IsingModel

BETAS = np.array([0.05, 0.0, 0.3, 1.0, 3.0, 10.0, 50.0])  # any order, 0 included


def accepted(model, betas):
    """The betas the planar path accepts for ``model`` (a frustrated glass: up to a limit ~ 1/|J|)."""
    ok = [b for b in betas if planar.applicable(model, [b], sites=False) is None]
    assert max(ok) >= 1.0  # the limit is never below beta = 1 here (|J| <= ~3)
    return np.array(ok)


def lattice_bonds(L):
    """Open L x L lattice bonds (i < j), row-major sites, built here independently."""
    i, j = [], []
    for r in range(L):
        for c in range(L):
            v = r * L + c
            if c + 1 < L:
                i.append(v), j.append(v + 1)
            if r + 1 < L:
                i.append(v), j.append(v + L)
    return np.array(i), np.array(j)


def lattice_model(L, J_h, J_v):
    i, j = lattice_bonds(L)
    J = np.array([J_h[a // L, a % L] if b == a + 1 else J_v[a // L, a % L] for a, b in zip(i, j)])
    return IsingModel(L * L, i, j, J)


def draw(kind, shape, rng):
    return rng.choice([-1.0, 1.0], shape) if kind == "pm" else rng.standard_normal(shape)


def assert_close(got, ref, rtol=1e-10):
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)


@pytest.mark.parametrize("kind", ["pm", "gaussian"])
@pytest.mark.parametrize("seed", range(3))
def test_open_4x4_against_enumeration(kind, seed):
    rng = np.random.default_rng(seed)
    L = 4
    J_h, J_v = draw(kind, (L, L - 1), rng), draw(kind, (L - 1, L), rng)
    m = lattice_model(L, J_h, J_v)
    betas = accepted(m, BETAS)
    r = planar.run(m, betas)
    assert r.path == "planar"
    assert_close(r.lnZ, naive.model_lnZ(m, betas))
    assert r.lnZ[1] == pytest.approx(m.n * np.log(2), rel=1e-15)
    np.testing.assert_array_equal(r.m, 0.0)
    assert np.all(np.isnan(r.m2)) and np.all(np.isnan(r.chi))  # u, s, c: tests/test_planar_derivatives.py
    e0 = naive.ground_energy(m)
    if kind == "pm" or e0 == pytest.approx(-np.abs(m.couplings).sum(), abs=1e-12):  # +-J, or no frustration
        assert r.e0 == pytest.approx(e0, abs=1e-12)
        assert m.energy(r.ground_state) == pytest.approx(e0, abs=1e-12)
    else:  # real-valued frustrated couplings: PyMatching rounds them, so no certified E0
        assert np.isnan(r.e0) and np.all(np.isnan(r.ground_state))
    np.testing.assert_allclose(r.f[r.betas > 0], -r.lnZ[r.betas > 0] / (r.betas[r.betas > 0] * m.n))


@pytest.mark.parametrize("kind", ["pm", "gaussian"])
@pytest.mark.slow
def test_open_5x5_against_enumeration(kind):
    rng = np.random.default_rng(55)
    J_h, J_v = draw(kind, (5, 4), rng), draw(kind, (4, 5), rng)
    m = lattice_model(5, J_h, J_v)
    betas = accepted(m, np.array([0.05, 0.44, 1.0, 2.0, 3.0, 4.5]))
    assert_close(planar.run(m, betas).lnZ, naive.lattice_5x5_lnZ(J_h, J_v, betas))


@pytest.mark.parametrize("kind", ["pm", "gaussian"])
@pytest.mark.parametrize("seed", [0, 2])
@pytest.mark.slow
def test_open_10x10_against_transfer_matrix(kind, seed):
    # frustrated glasses up to their accepted beta (seed 2, +-J: the growth reaches 1e4 at beta = 5,
    # where an LU with partial pivoting has long lost all precision)
    rng = np.random.default_rng(100 + seed)
    L = 10
    J_h, J_v = draw(kind, (L, L - 1), rng), draw(kind, (L - 1, L), rng)
    m = lattice_model(L, J_h, J_v)
    betas = accepted(m, np.array([0.1, 0.44, 1.0, 2.0, 3.0, 4.0, 4.5, 6.0, 10.0, 50.0]))
    assert_close(planar.run(m, betas).lnZ, naive.lattice_transfer_lnZ(L, J_h, J_v, betas))


def test_unfrustrated_glass_at_large_beta():
    # a gauge-transformed ferromagnet (a Mattis glass) has no frustration: every beta up to 50 is
    # accepted, and ln Z is the ferromagnet's (checked by the transfer matrix)
    rng = np.random.default_rng(4)
    L = 8
    tau = rng.choice([-1.0, 1.0], (L, L))
    J_h = rng.uniform(0.5, 1.5, (L, L - 1)) * tau[:, :-1] * tau[:, 1:]
    J_v = rng.uniform(0.5, 1.5, (L - 1, L)) * tau[:-1, :] * tau[1:, :]
    m = lattice_model(L, J_h, J_v)
    assert planar.applicable(m, BETAS, sites=False) is None
    assert_close(planar.run(m, BETAS).lnZ, naive.lattice_transfer_lnZ(L, np.abs(J_h), np.abs(J_v), BETAS))


def random_planar(rng, n):
    """A random planar graph on n vertices: random pairs kept while the graph stays planar."""
    g = nx.Graph()
    g.add_nodes_from(range(n))
    pairs = list(combinations(range(n), 2))
    rng.shuffle(pairs)
    for a, b in pairs[: rng.integers(1, len(pairs) + 1)]:
        g.add_edge(a, b)
        if not nx.check_planarity(g)[0]:
            g.remove_edge(a, b)
    e = np.array(sorted(g.edges()), dtype=np.int64).reshape(-1, 2)
    return e[:, 0], e[:, 1]


@pytest.mark.parametrize("seed", range(12))
def test_random_planar_graphs_against_enumeration(seed):
    # sparse ones have bridges, vertices of degree 1 and several components
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 13))
    i, j = random_planar(rng, n)
    J = draw("pm" if seed % 2 else "gaussian", i.size, rng) * 1.3
    m = IsingModel(n, i, j, J)
    betas = accepted(m, BETAS)
    assert_close(planar.run(m, betas).lnZ, naive.model_lnZ(IsingModel(n, i, j, J), betas))


@pytest.mark.parametrize("graph", ["tree", "isolated", "wheel"])
def test_special_graphs_against_enumeration(graph):
    rng = np.random.default_rng(7)
    if graph == "tree":  # one face, walked along both sides of every bond
        n, i, j = 9, np.array([0, 0, 1, 1, 2, 3, 3, 6]), np.array([1, 2, 3, 4, 5, 6, 7, 8])
    elif graph == "isolated":  # a triangle and two spins without bonds
        n, i, j = 5, np.array([0, 0, 1]), np.array([1, 2, 2])
    else:  # a hub of degree 8: a large face split by the fan
        n, i, j = 9, np.r_[np.zeros(8, int), np.arange(1, 8)], np.r_[np.arange(1, 9), np.arange(2, 9)]
    J = rng.standard_normal(i.size)
    m = IsingModel(n, i, j, J)
    betas = accepted(m, BETAS)
    assert_close(planar.run(m, betas).lnZ, naive.model_lnZ(IsingModel(n, i, j, J), betas))


def test_lattice_with_missing_bonds_is_the_lattice_with_zero_bonds():
    rng = np.random.default_rng(3)
    i, j = lattice_bonds(4)
    keep = rng.random(i.size) < 0.7
    J = rng.standard_normal(i.size)
    m = IsingModel(16, i[keep], j[keep], J[keep])
    assert planar._square_side(m) == 4  # recognised as the lattice, embedded directly
    betas = accepted(m, BETAS)
    assert_close(planar.run(m, betas).lnZ, naive.model_lnZ(IsingModel(16, i[keep], j[keep], J[keep]), betas))


def test_gauge_invariance():
    # J_ij -> tau_i tau_j J_ij leaves ln Z unchanged (the reference state changes with it)
    rng = np.random.default_rng(11)
    L = 12
    i, j = lattice_bonds(L)
    J = rng.standard_normal(i.size)
    tau = rng.choice([-1.0, 1.0], L * L)
    m = IsingModel(L * L, i, j, J)
    betas = accepted(m, BETAS)
    a = planar.run(m, betas).lnZ
    b = planar.run(IsingModel(L * L, i, j, J * tau[i] * tau[j]), betas).lnZ
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_family_instance_sites_and_progress():
    m = make_instance("square", resolve_params("square", {"L": 6, "boundary": "open", "disorder": "pm"}), 1, 0)
    calls = []
    betas = accepted(m, BETAS)
    r = planar.run(m, betas, sites=True, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k + 1, betas.size) for k in range(betas.size)]
    assert r.sites.shape == (betas.size, 36) and not r.sites.any()
    assert planar.estimate_seconds(m, BETAS, sites=False) > 0


def square(L, boundary, h=0.0):
    m = make_instance("square", resolve_params("square", {"L": L, "boundary": boundary, "disorder": "gaussian"}), 1, 0)
    return m.scaled(1.0, h)


def test_refusals():
    assert planar.applicable(square(8, "open"), [0.5, 1.0], sites=False) is None
    assert "fields" in planar.applicable(square(8, "open", h=0.1), BETAS, sites=False)
    assert "not planar" in planar.applicable(square(4, "periodic"), BETAS, sites=False)
    i, j = np.triu_indices(5, 1)  # K5
    assert "not planar" in planar.applicable(IsingModel(5, i, j, np.ones(i.size)), BETAS, sites=False)
    assert "overflow" in planar.applicable(square(4, "open"), [1e4], sites=False)
    pm = make_instance("square", resolve_params("square", {"L": 6, "boundary": "open", "disorder": "pm"}), 1, 0)
    assert "accurate range" in planar.applicable(pm, [50.0], sites=False)
    ferro = make_instance("square", resolve_params("square", {"L": 6, "boundary": "open"}), 1, 0)
    assert planar.applicable(ferro, [50.0], sites=False) is None
    with pytest.raises(ValueError, match="fields are nonzero"):
        planar.run(square(4, "open", h=0.1), BETAS)


def test_growth_beyond_the_limit_goes_to_double_double(monkeypatch):
    # the run checks the double elimination's actual pivot growth at every beta, whatever applicable()
    # estimated: past the limit that beta (and every larger one) is factorised in double-double, in two
    # orders, and gives the same numbers as an accurate double run
    from isingvar.exact import EXACT_STATUS

    pm = make_instance("square", resolve_params("square", {"L": 6, "boundary": "open", "disorder": "pm"}), 1, 0)
    assert planar.applicable(pm, [3.0], sites=False) is None
    betas = [0.5, 3.0, 4.0]
    good = planar.run(pm, betas, sites=True)
    real = planar._Structure.jet_log_pfaffian
    calls = []

    def grown_at_3(self, beta, jg):
        calls.append(beta)
        log_pf, growth = real(self, beta, jg)
        return log_pf, (10 * planar.GROWTH_LIMIT if beta == 3.0 else growth)

    monkeypatch.setattr(planar._Structure, "jet_log_pfaffian", grown_at_3)
    r = planar.run(pm, betas[::-1], sites=True)  # any order: the betas run ascending
    assert calls == [0.5, 3.0]  # beta = 4 goes straight to double-double
    assert [EXACT_STATUS[k] for k in r.status] == ["computed"] * 3
    for name in ("lnZ", "u", "s", "c"):
        np.testing.assert_allclose(getattr(r, name)[::-1], getattr(good, name), rtol=1e-12, atol=1e-12)


def test_double_double_orders_that_disagree_give_nan_and_stop(monkeypatch):
    # where the two double-double orders disagree on ln Pf the beta is NaN (precision_not_confirmed) and
    # the larger betas are not attempted (precision_lost); the smaller ones are kept
    from isingvar.exact import EXACT_STATUS

    pm = make_instance("square", resolve_params("square", {"L": 6, "boundary": "open", "disorder": "pm"}), 1, 0)
    real_jet, real_dd = planar._Structure.jet_log_pfaffian, planar._Structure.dd_jet

    def grown(self, beta, jg):
        log_pf, growth = real_jet(self, beta, jg)
        return log_pf, (10 * planar.GROWTH_LIMIT if beta >= 3.0 else growth)

    def shifted(self, beta, jg, second=False):
        jet, scale, growth = real_dd(self, beta, jg, second)
        return jet + (1e-6 if second else 0.0), scale, growth

    monkeypatch.setattr(planar._Structure, "jet_log_pfaffian", grown)
    monkeypatch.setattr(planar._Structure, "dd_jet", shifted)
    r = planar.run(pm, [0.5, 3.0, 4.0], sites=True)
    assert [EXACT_STATUS[k] for k in r.status] == ["computed", "precision_not_confirmed", "precision_lost"]
    assert np.isfinite(r.lnZ[0]) and np.isnan(r.lnZ[1:]).all() and np.isnan(r.c[1:]).all()


@pytest.mark.parametrize("L", [12, 16])
def test_against_elimination(L):
    elimination = pytest.importorskip("isingvar.exact.elimination")
    rng = np.random.default_rng(L)
    i, j = lattice_bonds(L)
    m = IsingModel(L * L, i, j, rng.standard_normal(i.size))
    betas = np.array([0.1, 0.44, 1.0, 3.0])
    assert_close(planar.run(m, betas).lnZ, elimination.run(m, betas, sites=False, progress=None).lnZ)
