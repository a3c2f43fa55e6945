"""``--bound-budget`` and the methods' ladders (:mod:`isingvar.budget`): the rung grows with the budget, the
interval never loosens as it does and stays certified (brute force, tests/naive.py), explicit settings win,
the choice is in the file and in ``--dry-run``, and bad values are one-line errors.  Costs are injected:
nothing depends on this machine's speed."""

import h5py
import naive
import numpy as np
import pytest
from isingvar_cli.main import app
from typer.testing import CliRunner

from isingvar import budget
from isingvar.errors import SettingsError
from isingvar.families import make_instance, resolve_params
from isingvar.methods import mf, smf, trw
from isingvar.sweep import make_config

runner = CliRunner()
BETAS = np.array([0.3, 1.0, 2.5])
SIDES = [(trw, "lnZ_trw_upper", 1), (mf, "lnZ_mf_lower", -1), (smf, "lnZ_smf_lower", -1)]


def instance(family, params, h, seed=1):
    return make_instance(family, resolve_params(family, params), seed, 0).scaled(1.0, h)


def rung_cost(s):
    """An injected cost: 1 s per rung of the method's ladder (its position, from the settings' choices)."""
    name = "trw" if hasattr(s, "width") else ("smf" if hasattr(s, "max_iterations") else "mf")
    picked = {k: getattr(s, k) for k in budget.ladder_fields(name)}
    return float(budget.LADDERS[name].index(picked))


def inject(monkeypatch):
    monkeypatch.setattr(trw, "cost", lambda model, betas, s, *, sites=False: rung_cost(s))
    monkeypatch.setattr(mf, "work_seconds", lambda model, betas, s: rung_cost(s))
    monkeypatch.setattr(smf, "cost", lambda model, betas, s, *, sites=False: rung_cost(s))


def test_rung_never_moves_down_as_the_budget_grows():
    costs = [0.0, 1.0, 5.0, 3.0, 9.0, 20.0]  # not monotone along the ladder on purpose
    ladder = tuple({"clamp": k} for k in range(len(costs)))
    old = budget.LADDERS["mf"]
    budget.LADDERS["mf"] = ladder
    try:
        rungs = [budget.choose_rung("mf", mf.Settings(budget=b), lambda s: costs[s.clamp])
                 for b in np.linspace(0.01, 25, 200)]
    finally:
        budget.LADDERS["mf"] = old
    assert rungs == sorted(rungs)
    assert rungs[0] == 0 and rungs[-1] == len(costs) - 1
    # the rung before the first that does not fit: 5 s at rung 2 stops a 4 s budget even though rung 3 fits
    assert budget.choose_rung("mf", mf.Settings(budget=4.0), lambda s: costs[s.clamp]) == 1


@pytest.mark.parametrize(("family", "params", "h"), [
    ("square", {"L": 3, "boundary": "open", "disorder": "gaussian"}, 0.2),
    ("sk", {"n": 8}, 0.0),
])
def test_larger_budgets_never_loosen_and_stay_certified(monkeypatch, family, params, h):
    inject(monkeypatch)
    m = instance(family, params, h)
    exact = naive.model_lnZ(m, BETAS)
    for module, name, sign in SIDES:
        prev, used = None, []
        for b in (0.5, 1.5, 2.5, 4.5, 7.5):
            out = module.METHOD.run(m, BETAS, module.Settings(budget=b), np.random.default_rng(0), sites=False)
            value = out[name]
            slack = 1e-9 * np.maximum(1.0, np.abs(exact))
            assert np.all(sign * (value - exact) >= -slack), (module.__name__, b)  # certified
            if prev is not None:  # never looser than with a smaller budget
                assert np.all(sign * (value - prev) <= 1e-7 * np.maximum(1.0, np.abs(prev))), (module.__name__, b)
            prev = value
            used.append(out[f"{module.METHOD.name}_clamp"])
        assert used == sorted(used) and used[-1] > used[0], module.__name__


def test_a_budget_that_covers_the_whole_graph_gives_ln_z(monkeypatch):
    inject(monkeypatch)
    m = instance("square", {"L": 3, "boundary": "open", "disorder": "gaussian"}, 0.2)
    out = trw.METHOD.run(m, BETAS, trw.Settings(budget=1.5), np.random.default_rng(0), sites=False)
    assert out["trw_width"] == 4 and out["trw_clamp"] == 0
    # width 4 holds the 3 x 3 lattice (width 3) in one component: the bound is ln Z itself
    np.testing.assert_allclose(out["lnZ_trw_upper"], naive.model_lnZ(m, BETAS), rtol=1e-10)


def test_bound_budget_reaches_the_methods_and_explicit_settings_win():
    c = make_config("sk", {"n": 8}, beta="0.5,1", methods=["mf", "trw", "smf"], bound_budget=2.0,
                    settings={"trw": {"width": 4}, "smf": {"budget": 0.5}})
    assert c.method_settings("mf").budget == 2.0
    assert c.method_settings("trw").budget == 0.0 and c.method_settings("trw").width == 4
    assert c.method_settings("smf").budget == 0.5
    assert make_config("sk", {"n": 8}, beta="0.5", methods=["mf"]).method_settings("mf").budget == 0.0
    with pytest.raises(SettingsError, match="--trw-budget chooses --trw-width"):
        make_config("sk", {"n": 8}, beta="0.5", methods=["trw"], settings={"trw": {"width": 1, "budget": 1.0}})


def test_cost_follows_the_rung_the_budget_takes():
    m = instance("square", {"L": 4, "boundary": "open", "disorder": "gaussian"}, 0.1)
    s = trw.Settings(budget=1e6)
    used = trw.resolved(m, BETAS, s)
    assert (used.width, used.clamp) == budget.TRW_LADDER[-1]
    assert trw.cost(m, BETAS, s) == trw.cost(m, BETAS, used)
    # an unclamped run at h = 0 is one sweep per solve; its conditioned models have fields
    z = instance("square", {"L": 4, "boundary": "open", "disorder": "gaussian"}, 0.0)
    assert trw.cost(z, BETAS, trw.Settings(clamp=1)) > 2 * trw.cost(z, BETAS, trw.Settings())


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "1e9"])
def test_bad_bound_budget_is_one_line(value):
    r = runner.invoke(app, ["sweep", "sk", "--n", "6", "--bound-budget", value, "--dry-run"])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--bound-budget" in lines[0], r.output


def test_choice_is_in_the_dry_run_and_in_the_file(tmp_path):
    args = ["sweep", "square", "--L", "3", "--boundary", "open", "--disorder", "gaussian", "--h", "0.2",
            "--samples", "1", "--beta", "0.5,1", "--method", "mf,trw", "--bound-budget", "1"]
    m = make_instance("square", resolve_params("square", {"L": 3, "boundary": "open", "disorder": "gaussian"}),
                      0, 0).scaled(1.0, 0.2)
    betas = np.array([0.5, 1.0])
    t = trw.resolved(m, betas, trw.Settings(budget=1.0))
    k = min(mf.resolved(m, betas, mf.Settings(budget=1.0)).clamp, m.n)  # clamp_count: at most N spins
    assert t.width > 1 and k > 0  # the budget does choose (deterministic cost models)
    r = runner.invoke(app, [*args, "--dry-run"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert f"width {t.width}, clamp {t.clamp} (budget 1 s)" in text and f"clamp {k} (budget 1 s)" in text, r.output
    out = tmp_path / "b.h5"
    r = runner.invoke(app, [*args, "--out", str(out), "--workers", "1"])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        assert f["trw_width"][()].ravel().tolist() == [t.width] and f["trw_clamp"][()].ravel().tolist() == [t.clamp]
        assert f["mf_clamp"][()].ravel().tolist() == [k]
