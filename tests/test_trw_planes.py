"""TRW over lattice-axis components (axis planes, slabs and bars of :mod:`isingvar.trw_components`): the axes
found from the index structure, every bond covered, and the certified bound at or above ln Z from plain-numpy
references (enumeration; a layer transfer matrix for the 3-d lattices, itself checked against enumeration)."""

import naive
import numpy as np
import pytest

from isingvar import trw_components as tc
from isingvar.errors import CertificateError
from isingvar.methods import trw
from isingvar.model import IsingModel
from isingvar.trw import RESIDUAL_LIMIT

BETAS = np.array([0.1, 0.5, 1.0, 2.0])


def lattice(shape, periodic, rng, disorder, h):
    """Nearest-neighbour lattice of ``shape``, row-major sites (last axis fastest), +-J or Gaussian bonds
    (periodic sides of 2 left open)."""
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    i, j = [], []
    for a in range(len(shape)):
        nxt = np.roll(idx, -1, axis=a)
        # a periodic side of 2 would list each of its pairs twice: open there
        keep = (slice(None),) * a + (slice(None) if periodic and shape[a] > 2 else slice(0, shape[a] - 1),)
        i.append(idx[keep].ravel())
        j.append(nxt[keep].ravel())
    i, j = np.concatenate(i), np.concatenate(j)
    J = rng.normal(size=i.size) if disorder == "gaussian" else rng.choice([-1.0, 1.0], i.size)
    return IsingModel(idx.size, i, j, J, h * rng.normal(size=idx.size))


def layer_lnZ(model, b, betas):
    """ln Z by a transfer matrix over blocks of ``b`` consecutive spins (every bond inside a block or between
    cyclically adjacent ones): ln Tr prod_l diag(exp(-beta e_l)) exp(beta W_l), plain numpy, each product
    rescaled (positive matrices: no cancellation).  Without a bond from the last block to the first, W is 0
    there and the trace is the open sum."""
    D = model.n // b
    assert D * b == model.n
    S = 1 - 2 * ((np.arange(2**b)[:, None] >> np.arange(b)[None, :]) & 1)  # (2^b, b) spins
    bi, bj = model.edge_i // b, model.edge_j // b
    out = []
    for beta in np.atleast_1d(betas):
        logs = []
        for layer in range(D):
            lo = layer * b
            inner = (bi == layer) & (bj == layer)
            e = -(S[:, model.edge_i[inner] - lo] * S[:, model.edge_j[inner] - lo]) @ model.couplings[inner]
            e = e - S @ model.fields[lo:lo + b]
            W = np.zeros((2**b, 2**b))
            nxt = (layer + 1) % D
            for p, q, flip in ((bi, bj, False), (bj, bi, True)):
                sel = (p == layer) & (q == nxt) & (bi != bj)
                if flip and D == 2:
                    continue  # two blocks: each bond between them counted once
                a = (model.edge_j if flip else model.edge_i)[sel] - lo
                c = (model.edge_i if flip else model.edge_j)[sel] - nxt * b
                W += (S[:, a] * model.couplings[sel]) @ S[:, c].T
            logs.append(-beta * e[:, None] + beta * W)
        M = np.eye(2**b)
        lnz = 0.0
        for L in logs:
            top = L.max()
            M = M @ np.exp(L - top)
            s = M.max()
            M /= s
            lnz += top + np.log(s)
        out.append(lnz + np.log(np.trace(M)))
    return np.array(out)


def axis_constructions(model, width):
    return [c for c in tc.constructions(model, width) if c.name.startswith("axis")]


@pytest.mark.parametrize("shape,periodic,b", [((2, 3, 3), True, 9), ((4, 4), True, 4), ((3, 2, 3), False, 6)])
def test_layer_transfer_matches_enumeration(shape, periodic, b):
    m = lattice(shape, periodic, np.random.default_rng(3), "gaussian", 0.4)
    assert np.allclose(layer_lnZ(m, b, BETAS), naive.model_lnZ(m, BETAS), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,periodic", [((3, 3, 3), True), ((4, 3, 3), False), ((4, 3, 5), True),
                                            ((4, 5), False), ((5, 4), True), ((3, 4, 3, 3), True)])
def test_axes_found_from_the_indices(shape, periodic):
    m = lattice(shape, periodic, np.random.default_rng(0), "pm", 0.0)
    coords, periods = tc._lattice_axes(m, tc._index_layers(m))
    assert np.array_equal(coords, np.stack(np.unravel_index(np.arange(m.n), shape)))
    assert periods == ([n if periodic else 0 for n in shape])


def test_axes_of_a_lattice_cut_short():
    """The first spins of a lattice (trw_components.survey's probe of a large model): a last plane in part."""
    m = lattice((4, 3, 5), True, np.random.default_rng(0), "pm", 0.0)
    keep = (m.edge_i < 52) & (m.edge_j < 52)
    probe = IsingModel(52, m.edge_i[keep], m.edge_j[keep], m.couplings[keep])
    coords, periods = tc._lattice_axes(probe, tc._index_layers(probe))
    assert np.array_equal(coords, np.stack(np.unravel_index(np.arange(52), (4, 3, 5))))
    assert periods == [4, 3, 5]  # the wrapping bonds of the part-plane to the first are kept


def test_no_axes_where_the_graph_is_not_a_lattice():
    rng = np.random.default_rng(1)
    m = lattice((3, 3, 3), True, rng, "pm", 0.0)
    perm = rng.permutation(m.n)
    shuffled = IsingModel(m.n, perm[m.edge_i], perm[m.edge_j], m.couplings)
    assert tc._lattice_axes(shuffled, tc._index_layers(shuffled)) is None
    # a diagonal bond: still banded by index, but it moves two coordinates
    diag = IsingModel(m.n, np.append(m.edge_i, 0), np.append(m.edge_j, 4), np.append(m.couplings, 1.0))
    assert tc._lattice_axes(diag, tc._index_layers(diag)) is None


@pytest.mark.parametrize("shape,periodic", [((3, 3, 3), True), ((4, 3, 3), False), ((4, 3, 3), True)])
def test_planes_cover_every_bond_twice(shape, periodic):
    m = lattice(shape, periodic, np.random.default_rng(2), "pm", 0.0)
    coords, _ = tc._lattice_axes(m, tc._index_layers(m))
    moved = np.argmax(coords[:, m.edge_i] != coords[:, m.edge_j], axis=0)
    (planes,) = [c for c in axis_constructions(m, 8) if c.name == "axis-planes"]
    assert planes.K == 3
    assert np.all(planes.counts == 2)
    for a, e in enumerate(planes.edges):
        # component a: the planes orthogonal to axis a, so every bond but those along a
        assert np.array_equal(np.sort(e), np.flatnonzero(moved != a))


def _models():
    rng = np.random.default_rng(7)
    out = []
    for disorder in ("pm", "gaussian"):
        for h in (0.0, 0.5):
            out += [(f"3x3x3p-{disorder}-h{h}", lattice((3, 3, 3), True, rng, disorder, h), 9),
                    (f"4x3x3o-{disorder}-h{h}", lattice((4, 3, 3), False, rng, disorder, h), 9),
                    (f"4x3x3p-{disorder}-h{h}", lattice((4, 3, 3), True, rng, disorder, h), 9),
                    (f"3x5o-{disorder}-h{h}", lattice((3, 5), False, rng, disorder, h), 0),
                    (f"4x4p-{disorder}-h{h}", lattice((4, 4), True, rng, disorder, h), 0)]
    return out


MODELS = _models()


@pytest.mark.parametrize("name,m,b", MODELS, ids=[x[0] for x in MODELS])
def test_axis_bounds_above_exact(name, m, b):
    exact = layer_lnZ(m, b, BETAS) if b else naive.model_lnZ(m, BETAS)
    tol = 1e-9 * np.maximum(1.0, np.abs(exact))
    whole = tc.Construction(m, "whole", [np.arange(m.n_edges)]).width()
    seen = set()
    for W in range(2, whole):
        for c in axis_constructions(m, W):
            if c.name in seen:
                continue
            seen.add(c.name)
            assert c.width() <= W
            assert np.all(c.counts[m.couplings != 0] >= 1)
            uniform = tc.evaluate_uniform(m, c, BETAS, RESIDUAL_LIMIT)
            assert np.all(uniform >= exact - tol), c.name
            if np.any(m.fields):
                # field shares optimised: every iterate certified, none below ln Z, none above the start
                beta = float(BETAS[2])
                best, _, _, _ = tc.optimise(m, c, beta, np.zeros((c.K, m.n)), 6, 1e-9, RESIDUAL_LIMIT)
                assert exact[2] - tol[2] <= best <= uniform[2] + 1e-12 * abs(uniform[2])
    assert seen and ("axis-planes" in seen or not b)
    # the method itself, below the graph's own width (components, not the whole graph)
    W = min(whole - 1, 8)
    out = trw.METHOD.run(m, BETAS, trw.Settings(width=W, share_iterations=4), np.random.default_rng(0))
    assert np.all(out["lnZ_trw_upper"] >= exact - tol)


def test_planes_tighter_than_trees_on_the_3d_glass():
    """Measured, not a theorem: on a periodic 4 x 3 x 3 +-J glass at beta = 1 and 2 the planes (bond share
    2/3) beat the spanning trees (1/3 at best) by a wide margin; it guards the construction being used."""
    m = lattice((4, 3, 3), True, np.random.default_rng(11), "pm", 0.0)
    betas = np.array([1.0, 2.0])
    exact = layer_lnZ(m, 9, betas)
    (planes,) = [c for c in axis_constructions(m, 5) if c.name == "axis-planes"]
    bound = tc.evaluate_uniform(m, planes, betas, RESIDUAL_LIMIT)
    trees = trw.METHOD.run(m, betas, trw.Settings(width=1), np.random.default_rng(0))["lnZ_trw_upper"]
    assert np.all(bound >= exact - 1e-9 * np.abs(exact))
    assert np.all(bound - exact < 0.5 * (trees - exact))


def test_a_tampered_construction_is_refused():
    m = lattice((3, 3, 3), True, np.random.default_rng(4), "gaussian", 0.2)
    (planes,) = [c for c in axis_constructions(m, 6) if c.name == "axis-planes"]
    edges = [e.copy() for e in planes.edges]
    edges[0] = edges[0][1:]  # a bond dropped from one plane, but the shares still split it over 2 components
    bad = tc.Construction(m, "axis-planes", edges)
    bad.counts = planes.counts
    with pytest.raises(CertificateError, match="axis-planes"):
        tc.evaluate_uniform(m, bad, BETAS, RESIDUAL_LIMIT)
