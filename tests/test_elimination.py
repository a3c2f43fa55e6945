"""Variable elimination (isingvar.exact.elimination) against a plain-NumPy brute force, and the exact
method's choice among its paths (any set of paths: a fake one is injected)."""

import types

import naive
import numpy as np
import pytest

from isingvar.errors import TooLargeError
from isingvar.exact import ExactResult, choice, elimination
from isingvar.model import IsingModel

BETAS = np.array([0.0, 0.2, 0.7, 1.5, 4.0, 50.0])


def assert_matches(r, ref, model, rtol=1e-10):
    scale = np.abs(model.couplings).sum() + np.abs(model.fields).sum() + 1.0
    for q in ("lnZ", "u", "s", "c", "m", "m2", "chi"):
        # absolute slack only for values that are 0 or rounding (u and m at beta = 0)
        atol = 1e-13 * scale if q in ("u", "m") else 0.0
        np.testing.assert_allclose(getattr(r, q), ref[q], rtol=rtol, atol=atol, err_msg=q)
    np.testing.assert_allclose(r.sites, ref["sites"], rtol=rtol, atol=1e-13, err_msg="sites")
    assert r.e0 == pytest.approx(ref["e0"], rel=1e-12, abs=1e-12)
    assert model.energy(r.ground_state) == pytest.approx(ref["e0"], rel=1e-12, abs=1e-12)
    assert np.isnan(r.absm).all() and r.path == "elimination"


def graph(kind, rng):
    if kind == "tree":
        n = 18
        i = np.arange(1, n)
        return n, rng.integers(0, i), i
    if kind == "grid":  # 4 x 4 open lattice
        L, W = 4, 4
        idx = np.arange(L * W).reshape(L, W)
        i = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
        j = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
        return L * W, i, j
    if kind == "bipartite":  # K_6,7
        a, b = np.meshgrid(np.arange(6), np.arange(6, 13))
        return 13, a.ravel(), b.ravel()
    if kind == "dense":  # complete graph K_12
        i, j = np.triu_indices(12, k=1)
        return 12, i, j
    if kind == "forest":  # two components and an isolated spin
        return 9, np.array([0, 1, 4, 5, 5]), np.array([1, 2, 5, 6, 7])
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["tree", "grid", "bipartite", "dense", "forest"])
def test_every_observable_against_brute_force(kind):
    rng = np.random.default_rng(["tree", "grid", "bipartite", "dense", "forest"].index(kind))
    n, i, j = graph(kind, rng)
    model = IsingModel(n, i, j, rng.normal(0, 1.0, len(i)), rng.normal(0, 0.5, n))
    assert elimination.applicable(model, BETAS, sites=True) is None
    r = elimination.run(model, BETAS, sites=True)
    assert_matches(r, naive.model_thermo(model, BETAS), model)


def test_unsorted_betas_and_zero_couplings():
    rng = np.random.default_rng(7)
    n, i, j = graph("grid", rng)
    J = rng.choice([-1.0, 0.0, 1.0], len(i))  # +-J with some bonds absent in value, not in pattern
    model = IsingModel(n, i, j, J, rng.choice([-0.5, 0.5], n))
    betas = BETAS[::-1].copy()
    assert_matches(elimination.run(model, betas, sites=True), naive.model_thermo(model, betas), model)


def test_gauge_invariance():
    """s_i -> -s_i on a set G: J_ij -> -J_ij across the cut, h_i -> -h_i on G; ln Z, u, c are
    unchanged and <s_i> flips on G."""
    rng = np.random.default_rng(11)
    n, i, j = graph("bipartite", rng)
    model = IsingModel(n, i, j, rng.normal(size=len(i)), rng.normal(0, 0.3, n))
    flip = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    ei, ej = model.edge_i, model.edge_j  # the model's own (sorted) bond order
    gauged = IsingModel(n, ei, ej, model.couplings * flip[ei] * flip[ej], model.fields * flip)
    a = elimination.run(model, BETAS, sites=True)
    b = elimination.run(gauged, BETAS, sites=True)
    for q in ("lnZ", "u", "s", "c"):
        np.testing.assert_allclose(b.__dict__[q], a.__dict__[q], rtol=1e-12, atol=1e-13, err_msg=q)
    np.testing.assert_allclose(b.sites, a.sites * flip, rtol=1e-10, atol=1e-13)
    assert b.e0 == pytest.approx(a.e0, rel=1e-13)


def test_zero_field_symmetry_is_exact():
    rng = np.random.default_rng(3)
    n, i, j = graph("grid", rng)
    model = IsingModel(n, i, j, rng.normal(size=len(i)))
    r = elimination.run(model, BETAS, sites=True)
    assert np.all(r.m == 0.0) and np.all(r.sites == 0.0)
    ref = naive.model_thermo(model, BETAS)
    np.testing.assert_allclose(r.m2, ref["m2"], rtol=1e-10)
    np.testing.assert_allclose(r.chi, ref["chi"], rtol=1e-10)


def test_structure_is_shared_by_every_sample_of_a_pattern():
    rng = np.random.default_rng(5)
    n, i, j = graph("grid", rng)
    a = IsingModel(n, i, j, rng.normal(size=len(i)))
    b = IsingModel(n, i, j, rng.normal(size=len(i)), rng.normal(size=n))
    assert elimination.structure(a) is elimination.structure(b)
    assert elimination.structure(a.scaled(0.5, 0.1)) is elimination.structure(a)


def test_refuses_above_the_limits(monkeypatch):
    i, j = np.triu_indices(40, k=1)  # K_40: every order has width 39
    dense = IsingModel(40, i, j, np.ones(i.size))
    assert "width" in elimination.applicable(dense, BETAS, sites=False)
    with pytest.raises(TooLargeError, match="elimination cannot run"):
        elimination.run(dense, BETAS)
    rng = np.random.default_rng(0)
    n, gi, gj = graph("grid", rng)
    grid = IsingModel(n, gi, gj, np.ones(len(gi)), np.full(n, 0.1))
    need_no_sites = elimination.structure(grid).table_bytes(False)
    monkeypatch.setattr(elimination, "MAX_TABLE_BYTES", need_no_sites)  # enough only without sites
    assert elimination.applicable(grid, BETAS, sites=False) is None
    assert "--no-sites" in elimination.applicable(grid, BETAS, sites=True)


def test_a_lattice_far_beyond_enumeration():
    """A 3 x 30 open lattice (N = 90): against the transfer matrix of its columns."""
    L, W = 3, 30
    idx = np.arange(L * W).reshape(W, L)  # column c holds spins idx[c]
    i = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    j = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    rng = np.random.default_rng(9)
    model = IsingModel(L * W, i, j, rng.normal(size=len(i)), rng.normal(0, 0.2, L * W))
    betas = np.array([0.3, 1.0, 3.0])
    r = elimination.run(model, betas)
    cols = 1.0 - 2.0 * ((np.arange(8)[:, None] >> np.arange(3)) & 1)
    Jd = model.dense()
    for k, b in enumerate(betas):
        log_v = np.zeros(8)
        for c in range(W):
            s = idx[c]
            inner = -b * np.array([-(0.5 * x @ Jd[np.ix_(s, s)] @ x) - x @ model.fields[s] for x in cols])
            if c:
                link = -b * -(cols @ Jd[np.ix_(idx[c - 1], s)] @ cols.T)  # (prev, this)
                tot = log_v[:, None] + link
                top = tot.max(0)
                log_v = top + np.log(np.exp(tot - top).sum(0)) + inner
            else:
                log_v = inner
        top = log_v.max()
        assert r.lnZ[k] == pytest.approx(top + np.log(np.exp(log_v - top).sum()), rel=1e-12)


# ---------------------------------------------------------------------------- choosing a path
def _fake_path(name, seconds, reason=None):
    calls = []

    def run(model, betas, *, sites, progress=None):
        calls.append(name)
        nan = np.full(len(betas), np.nan)
        return ExactResult(betas, *(nan,) * 9, e0=0.0, ground_state=np.ones(model.n), path="planar")

    mod = types.SimpleNamespace(
        __name__=f"fake.{name}", applicable=lambda model, betas, *, sites: reason,
        estimate_seconds=lambda model, betas, *, sites: seconds, run=run,
        NOT_GIVEN=("u", "s", "c", "m", "m2", "absm", "chi"))  # every moment NaN, as run gives them
    return mod, calls


def test_the_cheapest_applicable_path_runs(monkeypatch):
    from isingvar.methods import exact as method

    cheap, cheap_calls = _fake_path("cheap", 0.5)
    dear, dear_calls = _fake_path("dear", 5.0)
    barred, barred_calls = _fake_path("barred", 0.0, reason="graph is not planar")
    monkeypatch.setattr(choice, "_paths", lambda: [dear, barred, cheap])
    model = IsingModel(4, [0, 1, 2], [1, 2, 3], [1.0, -1.0, 0.5])
    assert method.choose(model, BETAS, sites=False) == (cheap, 0.5)
    assert method.cost(model, BETAS, None, sites=False) == 0.5
    assert method.describe(model, BETAS, None, sites=False).startswith("cheap")
    values = method.run(model, BETAS, None, None, sites=False)
    assert cheap_calls == ["cheap"] and not dear_calls and not barred_calls
    assert values["exact_path"] == method.PATH_CODES["planar"]
    monkeypatch.setattr(choice, "_paths", lambda: [barred])
    with pytest.raises(TooLargeError, match="barred: graph is not planar"):
        method.check(model, BETAS, None, sites=False)


def test_a_path_too_cheap_to_time_is_taken_without_probing_the_rest(monkeypatch):
    # each estimate may be a timed kernel probe (a compile the first time): a small model that the first
    # path does in no measurable time must not pay for the others' probes
    from isingvar.methods import exact as method

    free, _ = _fake_path("free", 0.0)
    probed = []
    later, _ = _fake_path("later", 0.0)
    later.estimate_seconds = lambda model, betas, *, sites: probed.append("later") or 0.0
    monkeypatch.setattr(choice, "_paths", lambda: [free, later])
    model = IsingModel(4, [0, 1, 2], [1, 2, 3], [1.0, -1.0, 0.5])
    assert method.choose(model, BETAS, sites=False) == (free, 0.0) and not probed
    monkeypatch.setattr(choice, "_paths", lambda: [_fake_path("dear", 2.0)[0], later])
    assert method.choose(model, BETAS, sites=False) == (later, 0.0) and probed == ["later"]


def test_real_paths_pick_elimination_beyond_enumeration():
    from isingvar.methods import exact as method

    assert method.EXACT_PATHS[:2] == ("isingvar.exact.enumeration", "isingvar.exact.elimination")
    rng = np.random.default_rng(2)
    n = 80
    i = np.arange(1, n)
    tree = IsingModel(n, rng.integers(0, i), i, rng.normal(size=n - 1), rng.normal(size=n))
    module, _ = method.choose(tree, BETAS, sites=True)
    assert module is elimination
    small = IsingModel(6, [0, 1], [1, 2], [1.0, 1.0])  # both apply, both estimated 0: the first listed
    assert method.path_name(method.choose(small, BETAS, sites=False)[0]) == "enumeration"
    values = method.run(tree, BETAS, None, None, sites=False)
    assert values["exact_path"] == 4 and np.isnan(values["absm_exact"]).all()


# ---------------------------------------------------------------------------- through the command line
def test_exact_sweep_of_a_file_beyond_enumeration(tmp_path):
    """A 70-spin ladder file: --method exact is accepted (not refused for N > 62), the dry run names
    elimination, and the sweep stores it in exact_path and prints lnZ_model_exact."""
    import h5py
    from isingvar_cli.main import app
    from typer.testing import CliRunner

    rng = np.random.default_rng(4)
    lines = [f"{i} {i + 1} {rng.normal():.6f}" for i in range(69)] + [f"{i} {i + 2} 0.5" for i in range(0, 68, 2)]
    lines += [f"{i} {rng.normal(0, 0.3):.6f}" for i in range(70)]
    path = tmp_path / "ladder.txt"
    path.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    base = ["sweep", "file", "--couplings", str(path), "--beta", "0.5,1", "--method", "exact"]
    dry = runner.invoke(app, [*base, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    import json

    assert json.loads(dry.stdout)["plan_by_method"]["exact"].startswith("elimination")
    out = tmp_path / "l.h5"
    r = runner.invoke(app, [*base, "--out", str(out)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "lnZ_model_exact = " in r.stdout
    with h5py.File(out, "r") as f:
        assert f["exact_path"][()].ravel().tolist() == [4]
        assert np.isnan(f["absm_exact"][()]).all() and np.isfinite(f["lnZ_exact"][()]).all()


def test_rows_dealt_to_threads_give_the_serial_values(monkeypatch):
    rng = np.random.default_rng(8)
    n, i, j = graph("bipartite", rng)
    model = IsingModel(n, i, j, rng.normal(size=len(i)), rng.normal(0, 0.3, n))
    plan = elimination.structure(model)
    serial = elimination._Work(plan, model, sites=True, threads=1).forward(0.9)
    monkeypatch.setattr(elimination, "PARALLEL_ROWS", 2)  # every step with 2 rows or more in parallel
    par = elimination._Work(plan, model, sites=True, threads=2)
    assert par.parallel_rows == 2
    np.testing.assert_array_equal(par.forward(0.9), serial)
