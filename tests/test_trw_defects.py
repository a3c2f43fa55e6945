"""TRW defects of issue 20, one class per test: subnormal scales, certificate failures as one-line
errors, signals inside component (``--trw-width``) evaluations, unbounded ``start_trees`` and the cost
model of both paths (its formula and monotonicity, never wall time)."""

import math
import os
import signal

import naive
import numpy as np
import pytest

from isingvar.families import make_instance, resolve_params
from isingvar.methods import get_method
from isingvar.model import IsingModel

TRW = get_method("trw")


def inst(name, params, seed=1):
    return make_instance(name, resolve_params(name, params), seed=seed, sample=0)


def run(model, betas, **kw):
    return TRW.run(model, np.asarray(betas, float), TRW.settings(**kw), np.random.default_rng(0), sites=False,
                   progress=None)


def grid(r, c, rng, h=0.0):
    idx = np.arange(r * c).reshape(r, c)
    i = np.concatenate([idx[:, :-1].ravel(), idx[:-1].ravel()])
    j = np.concatenate([idx[:, 1:].ravel(), idx[1:].ravel()])
    o = np.lexsort((j, i))
    return IsingModel(r * c, i[o], j[o], rng.normal(size=i.size), h * rng.normal(size=r * c))


# ----------------------------------------------------------------------------- subnormal scales
@pytest.mark.filterwarnings("ignore:overflow encountered")  # f = -ln Z / (beta N) at beta = 1e-315, as for mf
@pytest.mark.parametrize("width", [1, 2])
@pytest.mark.parametrize("J,betas", [(1e-320, [0.0, 0.05, 1.0, 3.0]), (1.0, [1e-315, 3e-320])],
                         ids=["J=1e-320", "beta=1e-315"])
def test_subnormal_couplings_or_beta_give_the_decoupled_bound(J, betas, width):
    """`sweep sk --n 6 --J 1e-320 --method trw` (and `--beta 1e-315`) raised RuntimeError: theta = beta J
    is subnormal, K_e = theta_e / rho_e keeps a few bits and the relative residual check failed.  The
    coupling is effectively zero: the bound is N ln 2 (+ ln 2cosh of the fields), as exact gives."""
    for m in (inst("sk", {"n": 6}).scaled(J, 0.0), inst("square", {"L": 3, "disorder": "gaussian"}).scaled(J, 0.2)):
        r = run(m, betas, width=width)
        ref = naive.thermo(m.dense(), m.fields, np.asarray(betas))["lnZ"]
        decoupled = np.array([m.n * math.log(2) + np.sum(np.logaddexp(b * m.fields, -b * m.fields) - math.log(2))
                              for b in betas])
        assert np.all(np.isfinite(r["lnZ_trw_upper"]))
        np.testing.assert_allclose(r["lnZ_trw_upper"], decoupled, rtol=1e-14)
        assert np.all(r["lnZ_trw_upper"] >= ref - 1e-13 * np.abs(ref))


def test_subnormal_couplings_sweep_writes_the_trw_bound(tmp_path):
    """The sweep itself (the issue's reproducer, one sample): a file with lnZ_trw_upper = N ln 2."""
    import xarray as xr

    from isingvar.sweep import make_config, run_sweep

    config = make_config("sk", {"n": 6}, J="1e-320", beta="0.5,2", samples=1, methods=["trw", "exact"])
    run_sweep(config, tmp_path / "t.h5")
    with xr.open_dataset(tmp_path / "t.h5", engine="h5netcdf") as ds:
        up = ds.lnZ_trw_upper.values.ravel()
        exact = ds.lnZ_exact.values.ravel()
    np.testing.assert_allclose(up, 6 * math.log(2), rtol=1e-14)
    assert np.all(up >= exact - 1e-13 * np.abs(exact))


def test_the_residual_floor_is_below_any_rounding_of_ln_z():
    """The absolute floor of the certificate (a residual below the least normal float64 passes) moves ln Z
    by at most (E + N) x 2.2e-308, below half an ulp of any ln Z >= N ln 2."""
    from isingvar.trw import RESIDUAL_LIMIT, SCALE_FLOOR, relative_residual

    assert RESIDUAL_LIMIT * SCALE_FLOOR == pytest.approx(np.finfo(np.float64).tiny)
    assert relative_residual(1e-20, 1.0) == 1e-20  # a normal scale: the relative test as before
    assert relative_residual(1e-310, 1e-300) <= RESIDUAL_LIMIT
    assert relative_residual(1e-300, 1e-300) > RESIDUAL_LIMIT  # a residual of the size of theta still fails
    assert 1e12 * np.finfo(np.float64).tiny < 0.5 * np.spacing(math.log(2))


# ----------------------------------------------------------------------------- certificate failures
def test_certificate_failures_are_one_line_certificate_errors():
    from isingvar import trw
    from isingvar.errors import CertificateError, IsingvarError

    rng = np.random.default_rng(5)
    m = IsingModel(6, *np.triu_indices(6, k=1), rng.normal(size=15), rng.normal(size=6))
    g = trw.Graph(m)
    trees = trw.starting_trees(g, rng, 3)
    bad = trees.copy()
    bad.weights = bad.weights * 0.9
    with pytest.raises(CertificateError) as e:
        trw.primal(g, bad, 1.3, np.zeros(g.indices.size))
    assert isinstance(e.value, IsingvarError) and e.value.exit_code == 2
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("TRW certificate failed at beta = 1.3") and "isingvar model export" in msg


def test_component_certificate_failure_names_trw_width_one(monkeypatch):
    from isingvar import trw_components as tc
    from isingvar.errors import CertificateError

    real = tc.shares
    monkeypatch.setattr(tc, "shares", lambda model, c, beta: [s * (1 + 1e-9) for s in real(model, c, beta)])
    with pytest.raises(CertificateError) as e:
        run(grid(4, 5, np.random.default_rng(3), 0.3), [1.0], width=2)
    msg = str(e.value)
    assert "\n" not in msg and "does not reproduce the model" in msg and "--trw-width 1" in msg


# ----------------------------------------------------------------------------- signals
@pytest.mark.slow
def test_a_signal_is_honoured_after_one_union_model(monkeypatch):
    """A construction of several union models (components too large for one) was evaluated whole, every
    union model eliminated, before a held SIGINT was looked at (16-35 s on square L = 100, width 20);
    now after the elimination in progress."""
    from isingvar.exact import elimination

    m = inst("square", {"L": 50})  # two bands of 2,500 spins: two union models per construction
    calls = []
    real = elimination.run

    def run_and_signal(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # held by TRW's deferred_interrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(elimination, "run", run_and_signal)
    with pytest.raises(KeyboardInterrupt):
        run(m, [0.5, 1.0], width=2, tree_steps=0)
    assert len(calls) == 1


def test_constructions_call_check_between_steps():
    from isingvar import trw_components as tc

    steps = []
    tc.constructions(grid(6, 6, np.random.default_rng(0)), 3, lambda: steps.append(1))
    assert len(steps) >= 3


# ----------------------------------------------------------------------------- start_trees and cost
def test_start_trees_is_bounded_and_counted():
    """``--trw-start-trees 100000`` was accepted (quadratic in the list: every tree merged is compared with
    every listed one, every solve sums them all) and estimated as 3 trees."""
    from isingvar.errors import IsingvarError

    with pytest.raises(IsingvarError, match="--trw-start-trees must be at most"):
        TRW.settings(start_trees=100_000)
    with pytest.raises(IsingvarError, match="--trw-max-trees must be at most"):
        TRW.settings(max_trees=100_000)
    from isingvar.trw import MAX_TREES

    m = inst("square", {"L": 16})
    betas = np.linspace(0.1, 1, 8)
    costs = [TRW.cost(m, betas, TRW.settings(start_trees=k), sites=False) for k in (2, 10, 100, MAX_TREES)]
    assert costs == sorted(costs) and costs[-1] > 20 * costs[0]
    mems = [TRW.memory(m.n, m.n_edges, betas, TRW.settings(start_trees=k)) for k in (2, MAX_TREES)]
    assert mems[1] > 10 * mems[0]
    # on a complete graph the start is the N star trees whatever start_trees says
    sk = inst("sk", {"n": 20})
    assert TRW.cost(sk, betas, TRW.settings(start_trees=500), sites=False) == \
        TRW.cost(sk, betas, TRW.settings(start_trees=2), sites=False)


def test_component_cost_counts_the_components_not_2_to_the_width():
    """The width > 1 estimate counted 6 N 2^(W + 1) clique entries per pass: sk --n 30 --trw-width 20 was
    estimated at hours for seconds.  It now counts the plans' own entries, so a width beyond what the
    constructions need costs no more, and more betas or share iterations never cost less."""
    m = inst("sk", {"n": 30})
    betas = np.linspace(0.05, 3, 60)
    w15, w20 = (TRW.cost(m, betas, TRW.settings(width=w), sites=False) for w in (15, 20))
    assert w20 == pytest.approx(w15, rel=1e-12)
    trees = TRW.cost(m, betas, TRW.settings(), sites=False)
    assert trees < w20 < 1e4 * trees
    assert TRW.cost(m, betas[:10], TRW.settings(width=20), sites=False) < w20
    field = m.scaled(1.0, 0.3)
    c0, c30 = (TRW.cost(field, betas, TRW.settings(width=20, share_iterations=k), sites=False) for k in (0, 30))
    assert c0 < c30
    # with every field zero the shares' gradient is 0: one evaluation per beta, whatever share_iterations
    assert TRW.cost(m, betas, TRW.settings(width=20, share_iterations=30), sites=False) < c30
