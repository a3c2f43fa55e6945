"""The exact paths as one package (issue 20, item 1): one ExactResult built by one from_moments (chi and s
without cancellation, the same on every path), the ExactPath protocol, and a path chosen per instance
from the instance alone, so that a single, a sharded-and-merged and an interrupted-then-resumed sweep
write the same file.

References: tests/naive.py (plain NumPy over all 2^N states) and closed forms.
"""

import os
import subprocess
import sys
import textwrap

import h5py
import naive
import numpy as np
import pytest

from isingvar.exact import EXACT_STATUS, ExactPath, ExactResult, choice, cutset, elimination, enumeration, planar
from isingvar.methods import exact as method
from isingvar.model import IsingModel

#: Up to beta = 2000: with a field, s and chi there are exponentially small and every path must keep them.
BETAS = np.array([0.0, 0.3, 1.0, 5.0, 50.0, 2000.0])
QUANTITIES = ("lnZ", "f", "u", "s", "c", "m", "m2", "chi")


def _sk(n, h, seed):
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(n, 1)
    return IsingModel(n, i, j, 0.4 * rng.normal(size=i.size), h + 0.01 * rng.normal(size=n))


def _pm(n=8, seed=4):
    """+-J/2 on all pairs with a uniform field 0.05: integer multiples of one quantum (the histogram path)."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(n, 1)
    return IsingModel(n, i, j, 0.5 * rng.choice([-1.0, 1.0], size=i.size), np.full(n, 0.05))


def _ring(n=9, seed=5):
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    j = (i + 1) % n
    return IsingModel(n, np.minimum(i, j), np.maximum(i, j), rng.normal(size=n), np.full(n, 0.1))


INSTANCES = {"sk7_weak_field": lambda: _sk(7, 0.02, 1), "sk9_field": lambda: _sk(9, 0.3, 2),
             "sk10_negative_field": lambda: _sk(10, -0.05, 3), "pm8_histogram": _pm, "ring9": _ring}


# ---------------------------------------------------------------------------- one from_moments, every path
@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_every_path_forms_the_same_quantities_and_none_cancels(name):
    model = INSTANCES[name]()
    runs = {"enumeration": enumeration.run(model, BETAS),
            "enumeration direct": enumeration.exact_enumeration(model, BETAS, path="direct", sites=True),
            "elimination": elimination.run(model, BETAS, sites=True), "cutset": cutset.run(model, BETAS, sites=True)}
    if name == "pm8_histogram":
        assert runs["enumeration"].path == "histogram"
    ref = naive.thermo(model.dense(), model.fields, BETAS)
    base = runs["cutset"]
    for path, r in runs.items():
        assert isinstance(r, ExactResult) and r.betas.shape == BETAS.shape, path
        for q in QUANTITIES:
            got, want = getattr(r, q), getattr(base, q)
            # below ~1e-250 the kernels' exp floor (1e-307) and underflow differ by design: not compared
            keep = np.abs(want) > 1e-250
            np.testing.assert_allclose(got[keep], want[keep], rtol=1e-10, atol=1e-12 if q in ("u", "m") else 0,
                                       err_msg=f"{path} {q}")
        for q in ("s", "chi"):  # nothing cancels to 0.0 where the value is positive (naive: centred sums)
            got = getattr(r, q)
            assert np.all(got[ref[q] > 0] > 0), (path, q, got, ref[q])
        if r.sites is not None:
            np.testing.assert_allclose(r.sites, base.sites, rtol=1e-9, atol=1e-12, err_msg=path)
    # and against the brute force, where its own sums keep their digits (beta <= 5)
    low = BETAS <= 5
    for q in ("lnZ", "u", "s", "c", "m", "m2", "chi"):
        np.testing.assert_allclose(base.__getattribute__(q)[low], ref[q][low], rtol=1e-10, atol=1e-12, err_msg=q)


def test_enumeration_keeps_s_and_chi_of_one_spin_in_a_field():
    # the issue's `printf "0 0.3\n"`: s = 2.90077e-12 for the closed form's 2.90086e-12 at beta = 50; one spin in a
    # field h: S = log1p(e) + 2x e/(1 + e), chi = 4 beta e/(1 + e)^2 with x = beta h, e = exp(-2x)
    model = IsingModel(1, [], [], [], [0.3])
    betas = np.array([5.0, 20.0, 50.0, 200.0])
    x = 0.3 * betas
    e = np.exp(-2.0 * x)
    s, chi = np.log1p(e) + 2.0 * x * e / (1.0 + e), 4.0 * betas * e / (1.0 + e) ** 2
    for path in ("auto", "direct", "chain", "histogram"):
        b = np.array([5.0, 20.0, 35.0, 50.0]) if path == "chain" else betas  # the chain needs an arithmetic grid
        xb = 0.3 * b
        eb = np.exp(-2.0 * xb)
        r = enumeration.exact_enumeration(model, b, path=path)
        np.testing.assert_allclose(r.s, np.log1p(eb) + 2.0 * xb * eb / (1.0 + eb), rtol=1e-12, err_msg=path)
        np.testing.assert_allclose(r.chi, 4.0 * b * eb / (1.0 + eb) ** 2, rtol=1e-12, err_msg=path)
    for module in (elimination, cutset):
        r = module.run(model, betas)
        np.testing.assert_allclose(r.s, s, rtol=1e-12, err_msg=module.PATH_NAME)
        np.testing.assert_allclose(r.chi, chi, rtol=1e-12, err_msg=module.PATH_NAME)


def test_enumeration_is_the_same_on_every_thread_count_and_summation_path():
    import numba

    from isingvar.parallel import numba_threads

    model = _sk(14, 0.1, 7)
    betas = np.linspace(0.0, 2000.0, 5)  # arithmetic: the chain applies
    results = []
    for path in ("direct", "chain"):
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            with numba_threads(threads):
                results.append(enumeration.exact_enumeration(model, betas, path=path, sites=True))
    for r in results[1:]:
        for q in QUANTITIES:
            keep = np.abs(getattr(results[0], q)) > 1e-250
            np.testing.assert_allclose(getattr(r, q)[keep], getattr(results[0], q)[keep], rtol=1e-10, atol=1e-12,
                                       err_msg=f"{r.path} {q}")


def test_from_moments_forms_each_quantity_once():
    b = np.array([0.0, 1.0, 2.0])
    r = ExactResult.from_moments(
        b, 4, lnZ=[4 * np.log(2), 3.0, 5.0], path="x", e0=-2.0, ground_state=np.ones(4),
        entropy=[4 * np.log(2), 1.0, 0.5], mean_e=[0.0, -1.0, -1.5], var_e=[1.0, 0.5, 0.25],
        mean_m=[0.0, 1.0, 2.0], var_m=[4.0, 2.0, 1.0], abs_m=[1.5, 1.8, 2.1])
    np.testing.assert_array_equal(r.f, [-np.inf, -3.0 / 4, -5.0 / 8])
    np.testing.assert_allclose(r.u, [0.0, -0.25, -0.375])
    np.testing.assert_allclose(r.s, [np.log(2), 0.25, 0.125])
    np.testing.assert_allclose(r.c, [0.0, 0.5 / 4, 4 * 0.25 / 4])
    np.testing.assert_allclose(r.m, [0.0, 0.25, 0.5])
    np.testing.assert_allclose(r.m2, [4.0 / 16, 3.0 / 16, 5.0 / 16])  # (Var M + <M>^2)/N^2
    np.testing.assert_allclose(r.chi, [0.0, 2.0 / 4, 2.0 / 4])  # beta Var(M)/N = beta N Var(m)
    np.testing.assert_allclose(r.absm, [1.5 / 4, 1.8 / 4, 2.1 / 4])
    assert r.path == "x" and r.e0 == -2.0 and r.status is None


def test_from_moments_nan_where_not_given_or_flagged():
    b = np.array([0.5, 1.0, 1.5])
    status = np.array([0, EXACT_STATUS.index("precision_lost"), 0], dtype=np.int8)
    r = ExactResult.from_moments(b, 3, lnZ=[3.0, 4.0, 5.0], path="planar", symmetric=True, status=status,
                                 sites=np.zeros((3, 3)))
    for q in ("u", "s", "c", "m2", "absm", "chi"):  # not given: NaN
        assert np.isnan(getattr(r, q)).all(), q
    np.testing.assert_array_equal(r.m, [0.0, np.nan, 0.0])  # symmetric: 0 exactly, NaN where flagged
    assert np.isnan(r.lnZ[1]) and np.isnan(r.f[1]) and np.isfinite(r.lnZ[[0, 2]]).all()
    assert np.isnan(r.sites[1]).all() and not r.sites[[0, 2]].any()
    assert np.isnan(r.e0) and np.isnan(r.ground_state).all()
    with pytest.raises(ValueError, match="2 values for 3 betas"):
        ExactResult.from_moments(b, 3, lnZ=[1.0, 2.0], path="x")
    with pytest.raises(ValueError, match="sites has shape"):
        ExactResult.from_moments(b, 3, lnZ=[1.0, 2.0, 3.0], path="x", sites=np.zeros((3, 2)))


# ---------------------------------------------------------------------------- the package and the protocol
@pytest.mark.process
def test_every_path_is_an_exact_path_and_the_package_loads_no_numba():
    for name in choice.EXACT_PATHS:
        module = __import__(name, fromlist=["_"])
        assert isinstance(module, ExactPath), name
        assert module.PATH_NAME in method.PATH_CODES or module is enumeration
    assert method.EXACT_PATHS == choice.EXACT_PATHS
    code = ("import sys, isingvar.exact, isingvar.exact.choice, isingvar_cli.main; "
            "assert 'numba' not in sys.modules, 'numba'; "
            "assert not any(m in sys.modules for m in ('isingvar.exact.enumeration', 'isingvar.exact.planar'))")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- the choice is the instance's
def _open_lattice(L, J):
    site = np.arange(L * L).reshape(L, L)
    i = np.concatenate([site[:, :-1].ravel(), site[:-1, :].ravel()])
    j = np.concatenate([site[:, 1:].ravel(), site[1:, :].ravel()])
    return IsingModel(L * L, i, j, J(i.size))


def test_the_choice_is_a_function_of_the_instance(monkeypatch):
    # one coupling pattern, two instances: the ferromagnet is planar's at beta = 12; the +-J glass is not (its
    # range ends at beta = 20/2 = 10), so elimination takes it.  Asked in any order, each keeps its path.
    ferro = _open_lattice(16, np.ones)
    glass = _open_lattice(16, lambda e: np.where(np.arange(e) % 7 == 0, -1.0, 1.0))
    betas = np.array([0.5, 12.0])
    assert planar.applicable(ferro, betas, sites=False) is None
    assert "accurate range" in planar.applicable(glass, betas, sites=False)

    def estimate(*args, **kwargs):
        raise AssertionError("the decision timed a path")

    for module in (enumeration, elimination, cutset, planar):  # no timing enters the decision
        monkeypatch.setattr(module, "estimate_seconds", estimate)
    first = [choice.decide(m, betas, sites=False)[0] for m in (ferro, glass, ferro)]
    second = [choice.decide(m, betas, sites=False)[0] for m in (glass, ferro, glass)]
    assert first == [planar, elimination, planar] and second == [elimination, planar, elimination]
    monkeypatch.undo()
    assert method.run(ferro, betas, None, None, sites=False)["exact_path"] == method.PATH_CODES["planar"]


# ---------------------------------------------------------------------------- single == shards merged == resumed
#: The issue's done-when command at L = 16 (seconds), at beta 0.5 and 8.5: seed 8 puts sample 0 on elimination
#: (planar's range ends at beta = 8.33 on it) and sample 1 on planar (8.72), which a choice remembered per coupling pattern gave elimination in
#: a single run and planar in a shard run alone.
def _config():
    from isingvar.sweep import make_config

    return make_config("square", {"L": 16, "boundary": "open", "disorder": "gaussian"}, beta="0.5,8.5", samples=2,
                       seed=8, methods=["exact"])


RUN_IN_A_PROCESS = textwrap.dedent("""
    import sys
    from isingvar.sweep import make_config, run_sweep
    out, shard, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "resume"
    config = make_config("square", {"L": 16, "boundary": "open", "disorder": "gaussian"}, beta="0.5,8.5", samples=2,
                         seed=8, methods=["exact"])  # as _config()
    run_sweep(config, out, shard=None if shard == "-" else (int(shard), 2), resume=resume)
""")


def _datasets(path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _assert_same_file(a, b):
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db)
    for name, x in da.items():
        y = db[name]
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            assert x.shape == y.shape and np.array_equal(x, y, equal_nan=True), name  # NaN positions included
        else:
            assert np.array_equal(np.asarray(x), np.asarray(y)), name


def _in_a_process(out, shard="-", resume=False):
    return subprocess.Popen([sys.executable, "-c", RUN_IN_A_PROCESS, str(out), shard, "resume" if resume else "new"],
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


@pytest.mark.process
def test_single_sharded_merged_and_resumed_sweeps_write_the_same_file(tmp_path, monkeypatch):
    from isingvar.errors import SweepInterrupted
    from isingvar.merge import merge_shards
    from isingvar.sweep import run_sweep

    shards = [_in_a_process(tmp_path / f"s{i}.h5", str(i)) for i in range(2)]  # array tasks: fresh processes
    config = _config()
    run_sweep(config, tmp_path / "single.h5")
    assert [p.wait() for p in shards] == [0, 0]
    merge_shards(tmp_path / "merged.h5", [tmp_path / "s0.h5", tmp_path / "s1.h5"])

    real, calls = choice.solve, []

    def interrupted(*args, **kwargs):  # Ctrl-C during the second instance
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(choice, "solve", interrupted)
    with pytest.raises(SweepInterrupted):
        run_sweep(config, tmp_path / "resumed.h5")
    monkeypatch.undo()
    assert _in_a_process(tmp_path / "resumed.h5", resume=True).wait() == 0  # resumed in a new process

    with h5py.File(tmp_path / "single.h5", "r") as f:
        codes = f["exact_path"][()].ravel()
        assert list(codes) == [method.PATH_CODES["elimination"], method.PATH_CODES["planar"]]
        assert not f["exact_status"][()].any()
    _assert_same_file(tmp_path / "single.h5", tmp_path / "merged.h5")
    _assert_same_file(tmp_path / "single.h5", tmp_path / "resumed.h5")
