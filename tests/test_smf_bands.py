"""Structured mean field over band partitions (smf width > 1): a lower bound between naive mean field and
brute-force ln Z, exact where one component is the whole graph, monotone coordinate ascent."""

import naive
import numpy as np
import pytest

from isingvar import patterns
from isingvar.families import make_instance, resolve_params
from isingvar.meanfield import mean_field
from isingvar.methods import smf
from isingvar.model import IsingModel
from isingvar.smf import band_partition, structured_mean_field

BETAS = np.array([0.1, 0.5, 1.0, 2.0])


def instance(family, params, h, seed=1):
    return make_instance(family, resolve_params(family, params), seed, 0).scaled(1.0, h)


def exact_lnZ(m, betas):
    """Brute force: every state (N <= 16), else the plane transfer trace (3 x 3 x 3, planes of 9 spins)."""
    if m.n <= 16:
        return naive.model_lnZ(m, betas)
    return naive.layered_lnZ(m, np.arange(m.n) // 9, betas)


# (family, params, widths at which a band partition, neither the forest nor the whole graph, is used)
CASES = [
    ("cubic", {"L": 3, "disorder": "pm"}, (2, 3, 5, 8)),
    ("cubic", {"L": 3, "disorder": "gaussian"}, (5, 8)),
    ("square", {"L": 4, "boundary": "open", "disorder": "gaussian"}, (2, 3)),
    ("square", {"L": 4, "boundary": "open", "disorder": "pm"}, (2, 3)),
    ("square", {"L": 4, "boundary": "periodic", "disorder": "pm"}, (2, 3, 5)),
    ("square", {"L": 4, "boundary": "periodic", "disorder": "gaussian"}, (3, 4)),
]


@pytest.mark.parametrize("family,params,widths", CASES)
@pytest.mark.parametrize("h", [0.0, 0.3])
def test_between_naive_mean_field_and_exact(family, params, widths, h):
    m = instance(family, params, h)
    exact = exact_lnZ(m, BETAS)
    naive_mf = mean_field(m, BETAS, rng=np.random.default_rng(0), keep_sites=True).lnZ_lower
    for w in widths:
        r = structured_mean_field(m, BETAS, rng=np.random.default_rng(0), width=w, record=True)
        assert r.construction not in ("whole", "induced-forest") and 1 < r.width <= w, (w, r.construction)
        assert np.all(r.lnZ_lower <= exact + 1e-10 * np.abs(exact)), (w, exact - r.lnZ_lower)
        # the same rng gives the same naive solution: never below its bound
        np.testing.assert_array_equal(r.lnZ_naive, naive_mf)
        assert np.all(r.lnZ_lower >= naive_mf)
        # the report is the best iterate or the naive bound, and the components' correlations pay at beta 0.5
        best = np.array([t.max() for t in r.history])
        np.testing.assert_array_equal(r.lnZ_lower, np.maximum(best, naive_mf))
        assert best[1] > naive_mf[1] + 1e-6


@pytest.mark.parametrize("family,params,w", [
    ("square", {"L": 4, "boundary": "open", "disorder": "gaussian"}, 4),
    ("square", {"L": 4, "boundary": "periodic", "disorder": "pm"}, 8),
    ("cubic", {"L": 3, "disorder": "pm"}, 18),
])
@pytest.mark.parametrize("h", [0.0, 0.3])
def test_exact_where_one_component_is_the_whole_graph(family, params, w, h):
    m = instance(family, params, h)
    r = structured_mean_field(m, BETAS, rng=np.random.default_rng(0), width=w)
    assert r.construction == "whole" and r.components == 1 and r.inside_edges == m.n_edges
    np.testing.assert_allclose(r.lnZ_lower, exact_lnZ(m, BETAS), rtol=1e-11)
    # a width one short of the graph's own is not the whole graph
    if w == 4:
        assert structured_mean_field(m, [1.0], rng=np.random.default_rng(0), width=3).construction != "whole"


@pytest.mark.parametrize("family,params,w,h,beta", [
    ("cubic", {"L": 4, "disorder": "pm"}, 8, 0.0, 1.0),
    ("cubic", {"L": 3, "disorder": "gaussian"}, 5, 0.3, 2.0),
    ("square", {"L": 6, "boundary": "open", "disorder": "gaussian"}, 3, 0.1, 1.0),
    ("sk", {"n": 12}, 4, 0.2, 1.5),
])
def test_coordinate_ascent_never_decreases_the_bound(family, params, w, h, beta):
    m = instance(family, params, h)
    r = structured_mean_field(m, [beta], rng=np.random.default_rng(0), width=w, record=True)
    trace = r.history[0]
    assert trace.size > 3 and r.construction != "induced-forest"
    assert np.all(np.diff(trace) >= -1e-12 * np.abs(trace[1:])), np.diff(trace).min()
    assert r.lnZ_start[0] == trace[0]


def test_generic_graphs_use_bands_and_stay_below_exact():
    from conftest import random_model

    for seed in range(3):
        m = random_model(13, np.random.default_rng(seed), density=0.35, field_scale=0.5)
        exact = naive.model_lnZ(m, BETAS)
        for w in (2, 3):
            r = structured_mean_field(m, BETAS, rng=np.random.default_rng(0), width=w)
            assert np.all(r.lnZ_lower <= exact + 1e-10 * np.abs(exact))
            assert np.all(r.lnZ_lower >= r.lnZ_naive)
    m = instance("sk", {"n": 12}, 0.2)
    r = structured_mean_field(m, BETAS, rng=np.random.default_rng(0), width=4)
    assert r.construction.startswith("blocks") and r.width == 4  # K_5 blocks: width 4
    assert np.all(r.lnZ_lower <= naive.model_lnZ(m, BETAS) + 1e-10)


@pytest.mark.parametrize("family,params,w,shape", [
    ("cubic", {"L": 4, "disorder": "pm"}, 8, "slabs"),  # planes of a 4^3 torus: width 6
    ("cubic", {"L": 4, "disorder": "pm"}, 2, "bars"),  # rings along one axis
    ("square", {"L": 6, "boundary": "open", "disorder": "gaussian"}, 3, "slabs"),  # strips of 3 rows
])
def test_partition_is_a_coloured_partition_within_the_width(family, params, w, shape):
    m = instance(family, params, 0.0)
    p = band_partition(m, w)
    assert p.name.startswith(shape) and 1 < p.width <= w
    same = p.label[m.edge_i] == p.label[m.edge_j]
    np.testing.assert_array_equal(p.inside, same)
    assert np.all(p.colour[m.edge_i[~same]] != p.colour[m.edge_j[~same]])  # one colour: no shared coupling
    for k in np.unique(p.label):  # one colour per component
        assert np.unique(p.colour[p.label == k]).size == 1
    # every spin summed once: in one colour's union models or alone
    count = np.zeros(m.n, dtype=int)
    for con, alone in zip(p.parts, p.alone):
        count[alone] += 1
        for ch in con.chunks if con is not None else ():
            count[ch["glob"]] += 1
    np.testing.assert_array_equal(count, 1)
    # all strips of one shape share one union pattern, hence one elimination plan
    keys = {patterns.pattern_key(ch["pattern"]) for con in p.parts if con is not None for ch in con.chunks}
    assert len(keys) == 1


def test_width_setting_of_the_method():
    from isingvar.errors import SettingsError

    with pytest.raises(SettingsError, match="--smf-width"):
        smf.METHOD.settings(width=0)
    m = instance("square", {"L": 4, "boundary": "open", "disorder": "gaussian"}, 0.1)
    out = smf.METHOD.run(m, BETAS, smf.METHOD.settings(width=4), np.random.default_rng(0), sites=False, progress=None)
    np.testing.assert_allclose(out["lnZ_smf_lower"], naive.model_lnZ(m, BETAS), rtol=1e-11)
    assert structured_mean_field(m, BETAS, rng=np.random.default_rng(0)).construction == "induced-forest"
    with pytest.raises(ValueError, match="width"):
        band_partition(IsingModel(3, np.array([0]), np.array([1]), np.ones(1)), 1)
