"""Mean field by colour classes: a proper colouring, exact coordinate ascent, thread-independence,
agreement with the sequential sweep, and the vectorised tanh."""

from pathlib import Path

import mpmath
import naive
import numpy as np
import pytest
from conftest import random_model

import isingvar.meanfield as mf
from isingvar.families import make_instance, resolve_params
from isingvar.io.couplings import write_model_file
from isingvar.kernels import meanfield as kern

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _model(name, **params):
    return make_instance(name, resolve_params(name, params), 0, 0)


def _assert_proper(model, perm, cstart):
    colour = np.empty(model.n, dtype=np.int64)
    for c in range(cstart.size - 1):
        colour[perm[cstart[c]:cstart[c + 1]]] = c
    assert np.array_equal(np.sort(perm), np.arange(model.n))  # every site in exactly one class
    assert np.all(colour[model.edge_i] != colour[model.edge_j])  # no edge inside a class
    return cstart.size - 1


@pytest.mark.parametrize(
    "name, params, most",
    [
        ("square", {"L": 10}, 2),
        ("square", {"L": 9, "boundary": "open"}, 2),
        ("square", {"L": 9}, 5),  # odd periodic: not bipartite; first fit <= degree + 1
        ("cubic", {"L": 6}, 2),
        ("cubic", {"L": 5, "boundary": "open", "disorder": "gaussian"}, 2),
        ("rrg", {"n": 500, "degree": 3}, 4),
        ("rrg", {"n": 300, "degree": 6}, 7),
        ("chain", {"n": 7}, 3),
        ("sk", {"n": 12}, 12),
    ],
)
def test_colouring_is_proper(name, params, most):
    model = _model(name, **params)
    perm, cstart = mf.colour_classes(model)
    colours = _assert_proper(model, perm, cstart)
    assert colours <= most  # first fit uses at most max degree + 1; 2 on bipartite lattices
    if name in ("square", "cubic") and most == 2:
        assert colours == 2
    # cached per CSR pattern: a scaled copy (the sweep's J and h axes) reuses it
    assert mf.colour_classes(model.scaled(0.5, 0.3))[0] is perm


def test_colouring_of_model_files(tmp_path):
    files = sorted(DATA.glob("uai2014/Grids_1[12].uai")) + sorted(DATA.glob("libdai/*.fg"))
    rng = np.random.default_rng(3)
    path = tmp_path / "glass.npz"
    write_model_file(random_model(40, rng, density=0.15), path)
    for f in [path, *files]:
        model = _model("file", couplings=str(f))
        _assert_proper(model, *mf.colour_classes(model))


def _bound(model, beta, m):
    return naive.mf_lnZ_lower(model.dense(), model.fields, beta, m)


@pytest.mark.parametrize(
    "name, params, h",
    [("square", {"L": 6, "disorder": "gaussian"}, 0.2), ("rrg", {"n": 60, "degree": 4, "disorder": "pm"}, 0.0),
     ("cubic", {"L": 3}, -0.1)],
)
def test_colour_sweeps_never_lower_the_bound(name, params, h):
    # each class update maximises S - beta U in every coordinate of the class given the rest,
    # so the bound (evaluated independently, in numpy, in site order) never decreases
    model = _model(name, **params).scaled(1.0, h)
    sweeper = mf._Sweeps(model, coloured=True)
    assert sweeper.perm is not None
    x, e = np.empty(kern.PIECE), np.empty(2 * kern.PIECE)
    rng = np.random.default_rng(7)
    for beta in (0.3, 1.1, 2.5):
        start = rng.uniform(-1, 1, (1, model.n))
        work = sweeper.to_order(start)
        previous = _bound(model, beta, start[0])
        for _ in range(30):
            kern._colour_solve(*sweeper.csr, sweeper.h, beta, sweeper.cstart, work[0], 1, 0.0, x, e)
            site_order = np.empty_like(start)
            sweeper.from_order(work, site_order)
            now = _bound(model, beta, site_order[0])
            assert now >= previous - 1e-12 * abs(previous)
            previous = now


def test_colour_path_bound_below_exact(monkeypatch, rng):
    # every model on the colour path (classes of any size), against brute force over 2^N states
    monkeypatch.setattr(mf, "MIN_CLASS", 1)
    betas = np.array([0.0, 0.2, 0.7, 1.5, 4.0])
    for n in (5, 9, 12):
        for density in (0.3, 1.0):
            model = random_model(n, rng, coupling_scale=1.2, density=density)
            res = mf.mean_field(model, betas, rng=rng)
            ref = naive.thermo(model.dense(), model.fields, betas)["lnZ"]
            assert np.all(res.lnZ_lower <= ref + 1e-10 * (1 + np.abs(ref)))
            for k, b in enumerate(betas):  # the bound is S - beta U at the reported m
                assert res.lnZ_lower[k] == pytest.approx(_bound(model, b, res.sites[k]), rel=1e-12, abs=1e-12)
    square = _model("square", L=4)
    res = mf.mean_field(square, betas, rng=rng)
    assert np.all(res.lnZ_lower <= naive.thermo(square.dense(), square.fields, betas)["lnZ"] + 1e-9)


@pytest.mark.parametrize("name, params, betas", [
    ("square", {"L": 12, "disorder": "gaussian"}, [0.05, 0.1, 0.12]),  # max row sum of |J|: 7.5
    ("square", {"L": 12}, [0.05, 0.15, 0.2, 2.0]),
    ("rrg", {"n": 200}, [0.05, 0.15, 0.2, 2.0]),
    ("cubic", {"L": 4, "boundary": "open"}, [0.05, 0.1, 0.15, 2.0]),
])
def test_colour_path_agrees_with_sequential_where_the_optimum_is_unique(monkeypatch, name, params, betas):
    # high temperature (beta times the largest row sum of |J| below 1: F~ strictly convex, one fixed
    # point), or a ferromagnet in a field at low temperature (the aligned state is the lowest F~):
    # the two sweep orders reach the same minimum of F~
    model = _model(name, **params).scaled(1.0, 0.3)
    betas = np.array(betas)
    results = {}
    for min_class in (1, 10**9):
        monkeypatch.setattr(mf, "MIN_CLASS", min_class)
        results[min_class] = mf.mean_field(model, betas, rng=np.random.default_rng(1), keep_sites=True)
    a, b = results[1], results[10**9]
    np.testing.assert_allclose(a.lnZ_lower, b.lnZ_lower, rtol=1e-11)
    np.testing.assert_allclose(a.sites, b.sites, atol=1e-8)


def test_same_numbers_on_one_and_two_threads(monkeypatch):
    # large enough that one run's classes are shared among threads (WIDE_MIN), and several runs
    # go one per thread; both must give the same numbers bit for bit
    monkeypatch.setattr(mf, "MIN_THREAD_WORK", 1)
    monkeypatch.setattr(mf, "WIDE_MIN", 1000)
    model = _model("square", L=40, disorder="gaussian").scaled(1.0, 0.1)
    betas = np.array([0.3, 0.9, 2.0])
    out = []
    for threads in (1, 2):
        with mf.numba_threads(threads):
            out.append(mf.mean_field(model, betas, rng=np.random.default_rng(5)))
    for field in ("lnZ_lower", "u", "s", "m", "iterations", "converged", "sites"):
        np.testing.assert_array_equal(getattr(out[0], field), getattr(out[1], field))
    # the wide kernels are the per-thread kernels, split differently
    sweeper = mf._Sweeps(model)
    assert sweeper.wide
    m0 = sweeper.to_order(np.random.default_rng(2).uniform(-1, 1, (1, model.n)))[0]
    a, b = m0.copy(), m0.copy()
    with mf.numba_threads(2):
        done_a = kern._colour_solve_wide(*sweeper.csr, sweeper.h, 0.8, sweeper.cstart, a, 7, 1e-10)
        stats_a = kern._mf_stats_wide(*sweeper.csr, sweeper.h, a)
    done_b = kern._colour_solve(*sweeper.csr, sweeper.h, 0.8, sweeper.cstart, b, 7, 1e-10,
                                np.empty(kern.PIECE), np.empty(2 * kern.PIECE))
    assert done_a == done_b
    np.testing.assert_array_equal(a, b)
    assert stats_a == kern._mf_stats_pieces(*sweeper.csr, sweeper.h, b)


def test_vectorised_tanh_accuracy():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.uniform(-1, 1, 2000), rng.uniform(-25, 25, 2000), [0.625, -0.625, np.nextafter(0.625, 0)],
        np.geomspace(1e-300, 0.7, 300), -np.geomspace(1e-12, 30, 300), [0.0, 19.0, 40.0, -400.0, 1e300],
    ])
    out, scratch = np.empty_like(x), np.empty_like(x)
    kern._tanh_array(x, scratch, out)
    mpmath.mp.dps = 40
    ref = np.array([float(mpmath.tanh(mpmath.mpf(float(v)))) for v in x])
    rel = np.abs(out - ref) / np.maximum(np.abs(ref), np.finfo(float).tiny)
    assert rel.max() < 6e-16, (rel.max(), x[np.argmax(rel)])
    assert np.all(np.abs(out) <= 1.0)  # a magnetisation never leaves [-1, 1]


def test_vectorised_log_and_entropy_accuracy():
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.uniform(0, 2, 2000), 10.0 ** rng.uniform(-300, 300, 1000), 1 + rng.uniform(-1e-9, 1e-9, 200),
                        [2.0**-54, 1.0, 2.0, 0.5, np.sqrt(2), np.nextafter(np.sqrt(2), 2), np.finfo(float).tiny]])
    mpmath.mp.dps = 40
    got = np.array([kern._ln(v) for v in y])
    ref = np.array([float(mpmath.log(mpmath.mpf(float(v)))) for v in y])
    assert got[np.flatnonzero(y == 1.0)[0]] == 0.0
    ok = ref != 0
    rel = np.abs(got[ok] - ref[ok]) / np.abs(ref[ok])
    assert rel.max() < 6e-16, (rel.max(), y[ok][np.argmax(rel)])
    # the entropy sum of the colour path: every m in [-1, 1], saturated ones give 0 ln 0 = 0
    m = np.concatenate([rng.uniform(-1, 1, 3000), np.tanh(rng.uniform(-40, 40, 1000)),
                        [1.0, -1.0, 0.0, 1 - 2.0**-53, -1 + 2.0**-53]])
    terms = [mpmath.mpf(0) if abs(v) == 1 else
             -((1 + mpmath.mpf(float(v))) / 2 * mpmath.log((1 + mpmath.mpf(float(v))) / 2)
               + (1 - mpmath.mpf(float(v))) / 2 * mpmath.log((1 - mpmath.mpf(float(v))) / 2)) for v in m]
    total = float(mpmath.fsum(terms))
    assert kern._entropy_sum(m, np.empty(m.size)) == pytest.approx(total, rel=1e-14)
    assert kern._entropy_sum(np.array([1.0, -1.0]), np.empty(2)) == 0.0
