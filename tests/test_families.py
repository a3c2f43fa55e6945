import naive
import numpy as np
import pytest

from isingvar.errors import ModelParameterError, UnknownModelError
from isingvar.exact.enumeration import exact_enumeration
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


# ------------------------------------------------------------------ cubic lattice
def cubic_bonds_by_hand(L, periodic):
    """Nearest-neighbour pairs of an L^3 lattice, written out site by site (index x*L*L + y*L + z)."""
    pairs = {}
    for x in range(L):
        for y in range(L):
            for z in range(L):
                for dx, dy, dz in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
                    u, v, w = x + dx, y + dy, z + dz
                    if max(u, v, w) >= L and not periodic:
                        continue
                    a, b = x * L * L + y * L + z, (u % L) * L * L + (v % L) * L + w % L
                    key = (min(a, b), max(a, b))
                    pairs[key] = pairs.get(key, 0) + 1  # L = 2 periodic: two bonds join the same pair
    return pairs


@pytest.mark.parametrize("L, boundary", [(3, "periodic"), (4, "open"), (2, "periodic"), (2, "open"), (1, "open")])
def test_cubic_bonds(L, boundary):
    m = build("cubic", L=L, boundary=boundary)
    expected = cubic_bonds_by_hand(L, boundary == "periodic")
    assert m.n == L**3
    assert dict(zip(zip(m.edge_i.tolist(), m.edge_j.tolist()), m.couplings.tolist())) == expected
    if boundary == "periodic":  # every site has 6 bonds; the ferromagnet's ground state satisfies all 3N
        assert m.energy(np.ones(m.n)) == -3 * m.n


def test_cubic_disorder_and_samples():
    p = resolve_params("cubic", {"L": 3, "disorder": "pm"})
    a, b = make_instance("cubic", p, 1, 0), make_instance("cubic", p, 1, 1)
    assert set(a.couplings.tolist()) == {-1.0, 1.0} and not np.array_equal(a.couplings, b.couplings)
    assert is_disordered("cubic", p) and not is_disordered("cubic", resolve_params("cubic", {"L": 3}))


def test_cubic_L2_open_is_the_cube_graph():
    # 8 spins, 12 bonds: ln Z of the ferromagnetic cube against a plain NumPy enumeration
    m = build("cubic", L=2, boundary="open")
    assert m.n_edges == 12
    res = exact_enumeration(m, [0.4])
    assert res.lnZ[0] == pytest.approx(naive.thermo(m.dense(), m.fields, [0.4])["lnZ"][0], rel=1e-13)


# ------------------------------------------------------------------ random regular graphs
@pytest.mark.parametrize("n, d", [(10, 3), (50, 4), (20, 9), (7, 6), (12, 11), (30, 17), (4, 1), (40, 7)])
def test_rrg_is_simple_and_regular(n, d):
    for seed in range(5):
        m = make_instance("rrg", resolve_params("rrg", {"n": n, "degree": d}), seed, 0)
        deg = np.bincount(np.concatenate([m.edge_i, m.edge_j]), minlength=n)
        assert (deg == d).all() and m.n_edges == n * d // 2
        assert (m.edge_i < m.edge_j).all() and np.unique(m.edge_i * n + m.edge_j).size == m.n_edges


def test_rrg_samples_reproducible_and_distinct():
    p = resolve_params("rrg", {"n": 30, "degree": 3, "disorder": "gaussian"})
    a = make_instance("rrg", p, 2, 0)
    again, other = make_instance("rrg", p, 2, 0), make_instance("rrg", p, 2, 1)
    np.testing.assert_array_equal(a.edge_i, again.edge_i)
    np.testing.assert_array_equal(a.couplings, again.couplings)
    assert not (np.array_equal(a.edge_i, other.edge_i) and np.array_equal(a.edge_j, other.edge_j))


def test_rrg_is_uniform_on_2_regular_graphs_of_6_vertices():
    # 70 labelled 2-regular graphs on 6 vertices: 60 hexagons, 10 pairs of triangles
    rng = np.random.default_rng(11)
    from isingvar.families import random_regular_graph

    triangles, draws = 0, 3000
    for _ in range(draws):
        i, j = random_regular_graph(6, 2, rng)
        neighbours = set(j[i == 0]) | set(i[j == 0])
        a, b = sorted(neighbours)
        triangles += bool(np.any((i == a) & (j == b)))  # 0's neighbours joined: a triangle
    p = 10 / 70
    assert abs(triangles / draws - p) < 5 * np.sqrt(p * (1 - p) / draws)


@pytest.mark.parametrize("params, match", [
    ({"n": 5, "degree": 3}, "n\\*d even"),
    ({"n": 4, "degree": 4}, "d < n"),
    ({"n": 4, "degree": 0}, "at least 1"),
])
def test_rrg_bad_parameters(params, match):
    with pytest.raises(ModelParameterError, match=match):
        make_instance("rrg", resolve_params("rrg", params), 0, 0)


def test_every_family_states_its_size():
    sizes = {"sk": ({"n": 9}, 9), "curie-weiss": ({"n": 9}, 9), "chain": ({"n": 9}, 9), "square": ({"L": 3}, 9),
             "cubic": ({"L": 3}, 27), "rrg": ({"n": 10}, 10)}
    for name, (params, n) in sizes.items():
        assert n_spins(name, resolve_params(name, params)) == n == make_instance(name, resolve_params(name, params), 0, 0).n
        assert FAMILIES[name].size.startswith("N")


@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_square_disorder_follows_the_documented_bond_order(boundary):
    """Sample k's J values are drawn in the bond order families documents (right-hand bonds of the
    sites in row-major order, then downward ones): files made by earlier versions stay reproducible."""
    L = 4
    m = build("square", L=L, boundary=boundary, disorder="gaussian")
    order = []
    for axis in (1, 0):
        for site in range(L * L):
            r, c = divmod(site, L)
            if boundary == "open" and (c if axis == 1 else r) == L - 1:
                continue
            nxt = r * L + (c + 1) % L if axis == 1 else ((r + 1) % L) * L + c
            order.append((min(site, nxt), max(site, nxt)))
    draws = np.random.default_rng([0, 0]).standard_normal(len(order))
    got = dict(zip(zip(m.edge_i.tolist(), m.edge_j.tolist()), m.couplings.tolist()))
    assert got == dict(zip(order, draws.tolist()))
