import numpy as np
import pytest
from conftest import random_model
from naive import all_states, energies

from isingvar.errors import ModelError
from isingvar.model import IsingModel


def test_energy_matches_dense_formula(rng):
    m = random_model(7, rng, density=0.6)
    S = all_states(7)
    np.testing.assert_allclose(m.energy(S), energies(m.dense(), m.fields, S), rtol=1e-13, atol=1e-13)


def test_energy_convention_ferromagnet_two_spins():
    # E = -J s0 s1 - h0 s0 - h1 s1 with J = 2, h = (0.5, -1)
    m = IsingModel(2, [0], [1], [2.0], [0.5, -1.0])
    assert m.energy([1, 1]) == pytest.approx(-2.0 - 0.5 + 1.0)
    assert m.energy([1, -1]) == pytest.approx(2.0 - 0.5 - 1.0)


def test_csr_is_symmetric_and_complete(rng):
    m = random_model(9, rng, density=0.5)
    indptr, indices, data = m.csr
    D = np.zeros((9, 9))
    for i in range(9):
        D[i, indices[indptr[i]:indptr[i + 1]]] = data[indptr[i]:indptr[i + 1]]
    np.testing.assert_array_equal(D, m.dense())
    assert indptr[-1] == 2 * m.n_edges


def test_csr_pattern_is_public_and_names_each_slots_edge(rng):
    # the public map the TRW and Bethe graphs read: row i, ascending columns, and the edge behind each slot
    m = random_model(9, rng, density=0.5)
    indptr, indices, slot_edge = m.csr_pattern
    assert indptr.dtype == indices.dtype == slot_edge.dtype == np.int64
    assert indptr[-1] == indices.size == slot_edge.size == 2 * m.n_edges
    for i in range(m.n):
        row = indices[indptr[i]:indptr[i + 1]]
        assert np.all(np.diff(row) > 0)
        assert set(row) == {j for j in range(m.n) if m.dense()[i, j] != 0}
        for p in range(indptr[i], indptr[i + 1]):
            k = slot_edge[p]
            assert {int(m.edge_i[k]), int(m.edge_j[k])} == {i, int(indices[p])}
    np.testing.assert_array_equal(m.csr[2], m.couplings[slot_edge])
    s = m.scaled(2.0, 0.5)
    assert s.csr_pattern[1] is indices  # scaled copies share the pattern (the sweep's J and h axes)


def test_from_dense_round_trip(rng):
    m = random_model(6, rng)
    m2 = IsingModel.from_dense(m.dense(), m.fields)
    np.testing.assert_array_equal(m2.dense(), m.dense())
    np.testing.assert_array_equal(m2.fields, m.fields)


def test_scaled_multiplies_couplings_and_adds_field(rng):
    m = random_model(5, rng)
    s = m.scaled(-2.5, 0.75)
    np.testing.assert_allclose(s.dense(), -2.5 * m.dense())
    np.testing.assert_allclose(s.fields, m.fields + 0.75)
    _ = m.csr  # shared pattern path
    np.testing.assert_allclose(m.scaled(3.0).csr[2], 3.0 * m.csr[2])


def test_reversed_pairs_are_canonicalised():
    m = IsingModel(3, [2, 1], [0, 0], [1.0, -1.0])
    assert (m.edge_i < m.edge_j).all()
    assert m.dense()[0, 2] == 1.0 and m.dense()[1, 0] == -1.0


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: IsingModel.from_dense(np.array([[0, 1], [2, 0]])), "symmetric"),
        (lambda: IsingModel.from_dense(np.ones((2, 3))), "square"),
        (lambda: IsingModel.from_dense(np.array([[1.0, 0], [0, 0]])), "diagonal"),
        (lambda: IsingModel.from_dense(np.array([[0, np.nan], [np.nan, 0]])), "not finite"),
        (lambda: IsingModel(2, [0], [1], [np.inf]), "not finite"),
        (lambda: IsingModel(2, [0], [1], [1.0], [0.0, np.nan]), "not finite"),
        (lambda: IsingModel(2, [0], [1], [1.0], [0.0]), "shape"),
        (lambda: IsingModel(2, [0], [2], [1.0]), "outside"),
        (lambda: IsingModel(2, [1], [1], [1.0]), "self-coupling"),
        (lambda: IsingModel(3, [0, 1], [1, 0], [1.0, 1.0]), "listed twice"),
        (lambda: IsingModel(0, [], [], []), "at least 1"),
    ],
)
def test_invalid_models_raise_with_cause(build, match):
    with pytest.raises(ModelError, match=match):
        build()
