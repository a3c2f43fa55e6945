"""Partial results of the exact method (issue 19 item 4): a beta no path can give to its promised
accuracy is NaN with its reason in ``exact_status``, and every other beta is computed.

References are plain-NumPy sums over all 2^N states (tests/naive.py), independent of every path.
"""

import dataclasses
import types

import naive
import numpy as np
import pytest

from isingvar.errors import NonFiniteResultError, TooLargeError
from isingvar.exact import EXACT_STATUS, choice, enumeration, planar
from isingvar.methods import exact as method
from isingvar.methods.base import Nonfinite
from isingvar.model import IsingModel

STATUS = {name: code for code, name in enumerate(EXACT_STATUS)}
QUANTITIES = ("lnZ", "u", "s", "c", "m", "m2", "absm", "chi")


def sk(n=7, seed=3):
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(n, 1)
    return IsingModel(n, i, j, rng.normal(size=i.size) / np.sqrt(n), rng.normal(scale=0.3, size=n))


def fake_path(name, run, applicable=None, seconds=0.0):
    """An exact path (the protocol of isingvar.methods.exact) with the given ``run``."""
    return types.SimpleNamespace(
        __name__=f"fake.{name}", PATH_NAME=name, NOT_GIVEN=(), run=run,
        applicable=applicable or (lambda model, betas, *, sites: None),
        estimate_seconds=lambda model, betas, *, sites: seconds)


def run_method(model, betas, sites=True):
    units = []
    values = method.run(model, betas, None, None, sites=sites, progress=units.append)
    assert sum(units) == pytest.approx(len(betas)) and min(units) >= 0  # one unit per beta, once
    assert values["exact_status"].dtype == np.int8 and values["exact_status"].shape == (len(betas),)
    return values


def assert_exact_except(values, model, betas, failed: dict):
    """Every exact value equals the reference at the betas not in ``failed`` (index -> reason), and at
    those every per-beta value and site is NaN with that reason."""
    ref = naive.model_thermo(model, betas)
    want = np.zeros(len(betas), dtype=np.int8)
    for k, reason in failed.items():
        want[k] = STATUS[reason]
    np.testing.assert_array_equal(values["exact_status"], want)
    ok = want == 0
    for q in (*QUANTITIES, "f"):
        got = values[f"{q}_exact"]
        np.testing.assert_allclose(got[ok], ref[q][ok], rtol=1e-10, atol=1e-12, err_msg=q)
        assert np.isnan(got[~ok]).all(), q
    np.testing.assert_allclose(values["m_exact_site"][ok], ref["sites"][ok], rtol=1e-10, atol=1e-12)
    assert np.isnan(values["m_exact_site"][~ok]).all()
    assert values["E0_exact"] == pytest.approx(ref["e0"], rel=1e-12)


# ---------------------------------------------------------------------------- (a) a path failing at one beta
@pytest.mark.parametrize("how", ["flagged", "nan_u", "inf_lnZ", "nan_site"])
def test_a_path_failing_at_one_beta_loses_that_beta_only(monkeypatch, how):
    model, betas = sk(), np.array([0.0, 0.4, 1.0, 2.5])

    def run(model, betas, *, sites=False, progress=None):
        r = enumeration.run(model, betas, sites=sites, progress=progress)
        bad = np.asarray(betas) == 1.0
        if how == "flagged":  # the path says why (as planar does): its reason is kept
            return dataclasses.replace(r, lnZ=np.where(bad, np.nan, r.lnZ), f=np.where(bad, np.nan, r.f),
                                       status=np.where(bad, STATUS["precision_lost"], 0).astype(np.int8))
        if how == "nan_u":  # a quantity it claims to give: a numerical failure, not a value
            return dataclasses.replace(r, u=np.where(bad, np.nan, r.u))
        if how == "inf_lnZ":
            return dataclasses.replace(r, lnZ=np.where(bad, np.inf, r.lnZ))
        sites_ = r.sites.copy()
        sites_[bad, 2] = np.nan
        return dataclasses.replace(r, sites=sites_)

    monkeypatch.setattr(choice, "_paths", lambda: [fake_path("enumeration", run)])
    values = run_method(model, betas)
    assert_exact_except(values, model, betas, {2: "precision_lost" if how == "flagged" else "numerical_failure"})
    assert values["exact_path"] == method.PATH_CODES[enumeration.choose_path(model, betas, True)]


def test_quantities_a_path_declares_it_cannot_give_stay_nan_without_a_flag(monkeypatch):
    model, betas = sk(), np.array([0.0, 0.5, 2.0])
    path = fake_path("enumeration", lambda model, betas, *, sites=False, progress=None: dataclasses.replace(
        enumeration.run(model, betas, sites=sites), absm=np.full(len(betas), np.nan)))
    path.NOT_GIVEN = ("absm",)
    monkeypatch.setattr(choice, "_paths", lambda: [path])
    values = run_method(model, betas, sites=False)
    assert not values["exact_status"].any() and np.isnan(values["absm_exact"]).all()
    np.testing.assert_allclose(values["lnZ_exact"], naive.model_thermo(model, betas)["lnZ"], rtol=1e-12)
    assert "m_exact_site" not in values


# ---------------------------------------------------------------------------- (b) planar beyond its range
def frustrated_pm(L=3):
    """Open L x L lattice, +-J: every bond +1 but one, so the plaquettes beside it are frustrated."""
    site = np.arange(L * L).reshape(L, L)
    i = np.concatenate([site[:, :-1].ravel(), site[:-1, :].ravel()])
    j = np.concatenate([site[:, 1:].ravel(), site[1:, :].ravel()])
    J = np.ones(i.size)
    J[0] = -1.0
    return IsingModel(L * L, i, j, J)


def test_planar_gives_the_betas_in_its_range_and_flags_the_rest(monkeypatch):
    elimination = pytest.importorskip("isingvar.exact.elimination")
    model = frustrated_pm()
    betas = np.array([0.0, 0.5, 2.0, 5.0, 11.0, 20.0])  # +-J: planar's range is beta <= 20/2 = 10
    assert "accurate range" in planar.applicable(model, betas, sites=False)
    monkeypatch.setattr(choice, "_paths", lambda: [planar])  # enumeration would take this small model
    method.check(model, betas, None, sites=True)  # some betas are covered: not refused
    text = method.describe(model, betas, None, sites=True)
    assert text.startswith("planar") and "2 of 6 betas beyond every exact path's range (beta = 11, 20)" in text
    assert method.cost(model, betas, None, sites=True) > 0

    values = run_method(model, betas)
    ok = np.arange(4)
    want = [0, 0, 0, 0, STATUS["beyond_path_range"], STATUS["beyond_path_range"]]
    np.testing.assert_array_equal(values["exact_status"], want)
    ref = naive.model_thermo(model, betas)
    elim = elimination.run(model, betas[ok], sites=False)
    for q in ("lnZ", "f"):
        np.testing.assert_allclose(values[f"{q}_exact"][ok], ref[q][ok], rtol=1e-11, err_msg=q)
        np.testing.assert_allclose(values[f"{q}_exact"][ok], getattr(elim, q), rtol=1e-11, err_msg=q)
    for q in (*QUANTITIES, "f"):
        assert np.isnan(values[f"{q}_exact"][4:]).all(), q
    np.testing.assert_array_equal(values["m_exact"][ok], 0.0)
    assert not values["m_exact_site"][ok].any() and np.isnan(values["m_exact_site"][4:]).all()
    assert values["exact_path"] == method.PATH_CODES["planar"] and values["E0_exact"] == ref["e0"]

    with pytest.raises(TooLargeError, match="planar: beta = 20 is beyond"):  # no beta covered: refused
        method.check(model, betas[4:], None, sites=False)
    # ... by the sweep's check on sample 0; a later instance no path covers is flagged whole, not a stop
    values = run_method(model, betas[4:], sites=False)
    np.testing.assert_array_equal(values["exact_status"], STATUS["beyond_path_range"])
    assert np.isnan(values["lnZ_exact"]).all() and values["exact_path"] == method.PATH_CODES["none"]


def test_a_remembered_path_is_asked_again_about_this_instance(monkeypatch):
    # the choice is remembered per coupling pattern, but planar's range depends on the values: a
    # ferromagnet of the pattern covers beta = 11, the glass does not (the planar run would refuse it)
    model = frustrated_pm()
    ferro = IsingModel(model.n, model.edge_i, model.edge_j, np.ones(model.n_edges))
    betas = np.array([0.5, 11.0])
    monkeypatch.setattr(choice, "_paths", lambda: [planar])
    assert not method.run(ferro, betas, None, None, sites=False)["exact_status"].any()
    values = method.run(model, betas, None, None, sites=False)
    np.testing.assert_array_equal(values["exact_status"], [0, STATUS["beyond_path_range"]])
    assert values["lnZ_exact"][0] == pytest.approx(naive.model_thermo(model, betas)["lnZ"][0], rel=1e-12)


def test_the_path_covering_most_betas_runs_there(monkeypatch):
    model, betas = sk(), np.array([0.2, 1.0, 3.0, 6.0])
    runs = []

    def limited(name, top, seconds):
        def run(model, betas, *, sites=False, progress=None):
            runs.append((name, list(betas)))
            return enumeration.run(model, betas, sites=sites, progress=progress)
        return fake_path(name, run, seconds=seconds,
                         applicable=lambda model, betas, *, sites: None if max(betas) <= top else "beta too large")

    few, most, dear = limited("few", 1.0, 0.0), limited("most", 3.0, 2.0), limited("dear", 3.0, 5.0)
    monkeypatch.setattr(choice, "_paths", lambda: [few, dear, most])
    assert method.plan(model, betas, sites=False)[:2] == (most, 2.0)  # 3 betas; cheaper than dear on a tie
    values = run_method(model, betas, sites=False)
    assert runs == [("most", [0.2, 1.0, 3.0])]
    np.testing.assert_array_equal(values["exact_status"], [0, 0, 0, STATUS["beyond_path_range"]])
    np.testing.assert_allclose(values["lnZ_exact"][:3], naive.model_thermo(model, betas)["lnZ"][:3], rtol=1e-12)


# ---------------------------------------------------------------------------- (c) retried beta by beta
def test_a_path_raising_for_the_grid_is_retried_beta_by_beta(monkeypatch):
    model, betas = sk(), np.array([0.3, 2.0, 0.0, 1.2])
    calls = []

    def run(model, betas, *, sites=False, progress=None):
        calls.append(list(betas))
        if 2.0 in betas:
            if progress:
                progress(1, len(betas))  # some progress before it fails: not counted twice
            raise NonFiniteResultError("lost at beta = 2")
        return enumeration.run(model, betas, sites=sites, progress=progress)

    monkeypatch.setattr(choice, "_paths", lambda: [fake_path("enumeration", run)])
    values = run_method(model, betas)
    assert calls == [list(betas), [0.3], [2.0], [0.0], [1.2]]
    assert_exact_except(values, model, betas, {1: "numerical_failure"})
    assert values["exact_path"] == method.PATH_CODES[enumeration.choose_path(model, betas[:1], True)]


def test_every_beta_failing_still_returns_flags(monkeypatch):
    model, betas = sk(), np.array([0.5, 1.0])

    def run(model, betas, *, sites=False, progress=None):
        raise NonFiniteResultError("never")

    path = fake_path("planar", run)
    monkeypatch.setattr(choice, "_paths", lambda: [path])
    values = run_method(model, betas)
    np.testing.assert_array_equal(values["exact_status"], [STATUS["numerical_failure"]] * 2)
    assert np.isnan(values["lnZ_exact"]).all() and np.isnan(values["E0_exact"])
    assert values["exact_path"] == method.PATH_CODES["planar"]


def test_exact_status_is_declared_as_a_flag_variable():
    var = method.METHOD.var("exact_status")
    assert var.dtype == "i1" and var.fill == -1 and var.flags == (tuple(range(5)), " ".join(EXACT_STATUS))
    assert EXACT_STATUS == ("computed", "beyond_path_range", "precision_lost", "precision_not_confirmed",
                            "numerical_failure")
    for v in method.VARIABLES:
        if v.per in ("beta", "site") and v.dtype == "f8" and v.name != "lnZ_model_exact":
            assert v.nonfinite & (Nonfinite.NAN | Nonfinite.NAN_WHERE_FLAGGED) and "exact_status" in v.long_name, v.name
    # the values every path gives may be NaN only where exact_status flags the point
    assert {v.name for v in method.VARIABLES if Nonfinite.NAN_WHERE_FLAGGED in v.nonfinite} == {
        "lnZ_exact", "f_exact", "m_exact", "m_exact_site"}


def test_betas_a_path_takes_one_by_one_but_not_together_run_one_by_one(monkeypatch):
    # each beta alone is within the path's range, the grid is not (a limit on the betas' count, say)
    model, betas = sk(), np.array([0.5, 1.0, 1.5])
    calls = []

    def run(model, betas, *, sites=False, progress=None):
        calls.append(list(betas))
        return enumeration.run(model, betas, sites=sites, progress=progress)

    path = fake_path("enumeration", run, applicable=lambda model, betas, *, sites: None if len(betas) == 1 else "one")
    monkeypatch.setattr(choice, "_paths", lambda: [path])
    values = run_method(model, betas)
    assert calls == [[0.5], [1.0], [1.5]]
    assert_exact_except(values, model, betas, {})


# ---------------------------------------------------------------------------- through the sweep and the CLI
def test_a_sweep_keeps_every_computable_beta_flags_the_failed_one_and_resume_and_merge_keep_it(
        tmp_path, monkeypatch):
    import h5py
    from isingvar_cli.main import app
    from typer.testing import CliRunner

    def run(model, betas, *, sites, progress=None):  # enumeration, but beta = 1 "cannot be confirmed"
        r = enumeration.run(model, betas, sites=sites)
        bad = np.asarray(betas) == 1.0
        status = np.where(bad, STATUS["precision_not_confirmed"], 0).astype(np.int8)
        nan = {q: np.where(bad, np.nan, getattr(r, q)) for q in (*QUANTITIES, "f")}
        return dataclasses.replace(r, **nan, sites=np.where(bad[:, None], np.nan, r.sites), status=status)

    monkeypatch.setattr(choice, "_paths", lambda: [fake_path("enumeration", run)])
    runner = CliRunner()
    common = ["sweep", "sk", "--n", "6", "--beta", "0.5,1,1.5", "--samples", "3", "--seed", "2",
              "--method", "exact", "--method", "mf", "--workers", "1"]
    one = tmp_path / "one.h5"
    r = runner.invoke(app, [*common, "--out", str(one)])
    assert r.exit_code == 0, r.output
    assert "exact: not computed at beta = 1 (precision_not_confirmed; 3 instances)" in r.output
    betas = np.array([0.5, 1.0, 1.5])
    with h5py.File(one, "r") as f:
        assert f["done"][()].all()
        np.testing.assert_array_equal(f["exact_status"][:, 0, 0], [[0, STATUS["precision_not_confirmed"], 0]] * 3)
        assert np.isnan(f["f_exact"][:, 0, 0, 1]).all() and np.isnan(f["kl_mf"][:, 0, 0, 1]).all()
        assert np.isfinite(f["lnZ_mf_lower"][()]).all()  # the other method is untouched
        for k in range(3):
            model = method_instance(k)
            ref = naive.model_thermo(model, betas)
            np.testing.assert_allclose(f["lnZ_exact"][k, 0, 0, [0, 2]], ref["lnZ"][[0, 2]], rtol=1e-12)
        flags = f["exact_status"][()]
    r = runner.invoke(app, [*common, "--out", str(one), "--resume"])
    assert r.exit_code == 0 and "0 instance(s) computed" in r.output, r.output
    for i in range(2):
        r = runner.invoke(app, [*common, "--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}.h5")])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["merge", str(tmp_path / "m.h5"), str(tmp_path / "s0.h5"), str(tmp_path / "s1.h5")])
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "m.h5", "r") as f, h5py.File(one, "r") as g:
        np.testing.assert_array_equal(f["exact_status"][()], flags)
        np.testing.assert_array_equal(f["lnZ_exact"][()], g["lnZ_exact"][()])


def method_instance(k):
    from isingvar.families import make_instance, resolve_params

    return make_instance("sk", resolve_params("sk", {"n": 6}), 2, k)


def test_a_sweep_in_which_no_point_could_be_computed_exits_non_zero_with_the_file_written(tmp_path, monkeypatch):
    from isingvar_cli.main import app
    from typer.testing import CliRunner

    def run(model, betas, *, sites, progress=None):
        r = enumeration.run(model, betas, sites=sites)
        nan = {q: np.full(len(betas), np.nan) for q in (*QUANTITIES, "f")}
        return dataclasses.replace(r, **nan, sites=None, status=np.full(len(betas), STATUS["precision_lost"], np.int8))

    monkeypatch.setattr(choice, "_paths", lambda: [fake_path("enumeration", run)])
    out = tmp_path / "none.h5"
    r = CliRunner().invoke(app, ["sweep", "sk", "--n", "5", "--beta", "0.5,1", "--method", "exact", "--no-sites",
                                 "--out", str(out)])
    assert r.exit_code == 1 and out.exists(), r.output
    assert "exact: not computed at beta = 0.5, 1 (precision_lost; 4 instances)" in r.output
