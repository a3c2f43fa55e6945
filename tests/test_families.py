import naive
import numpy as np
import pytest

from isingvar.errors import ModelParameterError, UnknownModelError
from isingvar.exact import exact_enumeration
from isingvar.families import FAMILIES, is_disordered, make_instance, n_spins, resolve_params


def build(name, **params):
    return make_instance(name, resolve_params(name, params), 0, 0)


def test_samples_are_reproducible_and_distinct():
    p = resolve_params("sk", {"n": 10})
    a0, a1 = make_instance("sk", p, 5, 0), make_instance("sk", p, 5, 1)
    np.testing.assert_array_equal(a0.couplings, make_instance("sk", p, 5, 0).couplings)
    assert not np.allclose(a0.couplings, a1.couplings)
    assert not np.allclose(a0.couplings, make_instance("sk", p, 6, 0).couplings)


def test_sk_statistics():
    n = 400
    m = build("sk", n=n, J0=2.0)
    assert m.n_edges == n * (n - 1) // 2
    # J_ij = J0/N + g/sqrt(N): mean J0/N, variance 1/N (80k samples: 5 sigma bounds)
    assert m.couplings.mean() == pytest.approx(2.0 / n, abs=5 / n / np.sqrt(m.n_edges))
    assert m.couplings.var() * n == pytest.approx(1.0, abs=0.03)


def test_curie_weiss_couplings():
    m = build("curie-weiss", n=7)
    np.testing.assert_allclose(m.dense(), (np.ones((7, 7)) - np.eye(7)) / 7)


@pytest.mark.parametrize("boundary, bonds", [("periodic", 2 * 25), ("open", 2 * 5 * 4)])
def test_square_bond_count(boundary, bonds):
    m = build("square", L=5, boundary=boundary)
    assert m.n == 25 and m.n_edges == bonds
    # every site has 4 neighbours with periodic boundaries
    deg = np.bincount(np.concatenate([m.edge_i, m.edge_j]), minlength=25)
    if boundary == "periodic":
        assert (deg == 4).all()
    # ground state of the ferromagnet: all bonds satisfied
    assert m.energy(np.ones(25)) == -bonds


def test_square_L2_periodic_counts_each_bond_twice():
    # 2N = 8 bonds on 4 distinct pairs: each pair carries 2J, so E(all up) = -8
    m = build("square", L=2)
    assert m.n_edges == 4
    np.testing.assert_array_equal(m.couplings, 2.0)
    assert m.energy(np.ones(4)) == -8.0


def test_chain_two_spins_periodic_matches_transfer_matrix():
    m = build("chain", n=2)
    res = exact_enumeration(m.scaled(0.7, 0.2), [0.9])
    assert res.lnZ[0] == pytest.approx(naive.chain_lnZ(2, 0.7, 0.2, 0.9), rel=1e-13)


@pytest.mark.parametrize("disorder, values", [("pm", {-1.0, 1.0}), ("none", {1.0})])
def test_square_disorder_values(disorder, values):
    m = build("square", L=6, boundary="open", disorder=disorder)
    assert set(np.unique(m.couplings)) <= values
    assert is_disordered("square", resolve_params("square", {"L": 6, "disorder": disorder})) == (disorder != "none")


def test_gaussian_disorder():
    m = build("square", L=30, disorder="gaussian")
    assert abs(m.couplings.mean()) < 0.1 and abs(m.couplings.std() - 1) < 0.1


def test_large_lattice_is_sparse():
    m = build("square", L=300)
    assert m.n == 90_000 and m.n_edges == 180_000
    assert m.csr[1].size == 360_000


def test_every_family_lists_its_energy():
    for fam in FAMILIES.values():
        assert fam.energy and fam.summary and fam.params


@pytest.mark.parametrize(
    "name, params, error, match",
    [
        ("ising3d", {}, UnknownModelError, "choose one of"),
        ("sk", {}, ModelParameterError, "needs --n"),
        ("sk", {"n": 0}, ModelParameterError, "at least 1"),
        ("sk", {"n": -3}, ModelParameterError, "at least 1"),
        ("sk", {"n": 5, "L": 3}, ModelParameterError, "--L does not apply"),
        ("square", {"L": 3, "boundary": "helical"}, ModelParameterError, "one of periodic, open"),
        ("square", {"L": 3, "disorder": "binary"}, ModelParameterError, "one of none"),
        ("chain", {"n": 1}, ModelParameterError, None),
    ],
)
def test_bad_parameters(name, params, error, match):
    with pytest.raises(error, match=match):
        p = resolve_params(name, params)
        make_instance(name, p, 0, 0)


def test_n_spins():
    assert n_spins("square", resolve_params("square", {"L": 7})) == 49
