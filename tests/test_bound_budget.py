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


#: The injected cost of an exact rung (trw's whole graph): above every budget of the tests that inject it.
EXACT_COST = 100.0


def rung_cost(s):
    """An injected cost: 1 s per rung of the method's ladder (its position, from the settings' choices);
    :data:`EXACT_COST` for settings off the ladder (the exact rung)."""
    name = {trw.Settings: "trw", smf.Settings: "smf", mf.Settings: "mf"}[type(s)]
    picked = {k: getattr(s, k) for k in budget.ladder_fields(name)}
    ladder = budget.LADDERS[name]
    return float(ladder.index(picked)) if picked in ladder else EXACT_COST


@pytest.fixture(autouse=True)
def _fresh_choices():
    """Each test's choices from its own costs (injected or not): none kept from another test's."""
    budget._CHOSEN.clear()
    yield
    budget._CHOSEN.clear()


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


def test_the_exact_rung_is_taken_where_it_fits_and_the_choice_never_moves_down():
    # the SK N = 16 case: rung 2 costed far above the whole graph, which the ladder alone never reaches
    ladder = budget.LADDERS["trw"]
    costs = dict(zip(budget.TRW_LADDER, [0.2, 1.0, 36.0, 34.8, 50.0, 60.0, 70.0, 80.0, 90.0, 99.0]))
    top = {"width": 15, "clamp": 0}

    def cost(s):
        return 0.7 if (s.width, s.clamp) == (15, 0) else costs[(s.width, s.clamp)]

    def taken(b, exact=lambda: dict(top)):
        return budget.choice_index("trw", trw.Settings(budget=b), cost, exact)

    grid = np.concatenate([np.linspace(0.01, 1.5, 150), [30.0, 40.0, 1e3]])
    got = [taken(b) for b in grid]
    assert got == sorted(got)  # monotone in the budget
    assert got[0] == 0 and got[-1] == len(ladder)  # rung 0 at the least budget, the exact rung at the largest
    assert [g == len(ladder) for g in got] == [b >= 0.7 for b in grid]  # exact exactly where its cost fits
    assert budget.resolve("trw", trw.Settings(budget=30.0), cost, lambda: dict(top)).width == 15
    # without an exact rung (a graph wider than MAX_WIDTH) the ladder's rule alone: (4, 0) under 36 s
    assert taken(30.0, exact=lambda: None) == 1
    # random costs, the exact rung anywhere among them: still never down
    rng = np.random.default_rng(3)
    for _ in range(20):
        drawn = dict(zip(budget.TRW_LADDER, rng.uniform(0, 10, len(ladder))))
        drawn[(15, 0)] = float(rng.uniform(0, 12))

        def random_cost(s, drawn=drawn):
            return drawn[(s.width, s.clamp)]

        seq = [budget.choice_index("trw", trw.Settings(budget=b), random_cost, lambda: dict(top))
               for b in np.linspace(0.01, 12, 120)]
        assert seq == sorted(seq)


@pytest.mark.parametrize(("family", "params", "h"), [
    ("sk", {"n": 8}, 0.0),
    ("sk", {"n": 7}, 0.3),
    ("square", {"L": 3, "boundary": "open", "disorder": "gaussian"}, 0.2),
])
def test_a_budget_covering_the_exact_cost_closes_trw_on_ln_z(family, params, h):
    m = instance(family, params, h)
    top = trw.exact_settings(m)
    assert top is not None and 2 <= top["width"] < m.n and top["clamp"] == 0
    # the model's own cost of the exact rung, and a budget that covers just it (deterministic: no clock)
    c = trw.cost(m, BETAS, trw.Settings(**top))
    used = trw.resolved(m, BETAS, trw.Settings(budget=c))
    assert (used.width, used.clamp) == (top["width"], 0)
    assert "exact: the whole graph" in trw.decision(m, BETAS, trw.Settings(budget=c), sites=False)
    out = trw.METHOD.run(m, BETAS, trw.Settings(budget=c), np.random.default_rng(0), sites=False)
    np.testing.assert_allclose(out["lnZ_trw_upper"], naive.model_lnZ(m, BETAS), rtol=1e-12, atol=1e-12)
    assert out["trw_width"] == top["width"] and out["trw_clamp"] == 0


@pytest.mark.parametrize("module", [mf, smf])
def test_mean_field_closes_on_ln_z_where_the_budget_clamps_every_spin(module):
    # naive mean field has no whole-graph component: its exact rung is clamping all N <= MAX_CLAMP spins;
    # structured mean field's is the whole graph as its one component (trw's exact rung), unclamped
    m = instance("sk", {"n": 6}, 0.3)
    s = module.Settings(budget=budget.MAX_BUDGET)
    chosen = module.resolved(m, BETAS, s)
    if module.METHOD.name == "smf":
        assert (chosen.width, chosen.clamp) == (trw.exact_settings(m)["width"], 0)
    else:
        assert chosen.clamp == budget.CLAMP_LADDER[-1] >= m.n
    out = module.METHOD.run(m, BETAS, s, np.random.default_rng(0), sites=False)
    np.testing.assert_allclose(out[f"lnZ_{module.METHOD.name}_lower"], naive.model_lnZ(m, BETAS), rtol=1e-12)
    assert out[f"{module.METHOD.name}_clamp"] == (0 if module.METHOD.name == "smf" else m.n)


def test_no_exact_rung_where_the_graph_is_too_wide():
    assert trw.exact_settings(instance("cubic", {"L": 4, "disorder": "pm"}, 0.0)) is None  # width ~32 > 20
    assert trw.exact_settings(instance("sk", {"n": 24}, 0.0)) is None  # width 23 > 20
    assert trw.exact_settings(instance("sk", {"n": 21}, 0.0)) == {"width": 20, "clamp": 0}


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
    assert c.method_settings("mf").budget == 0.0  # left to smf (budget.LEFT_TO)
    assert c.method_settings("trw").budget == 0.0 and c.method_settings("trw").width == 4
    assert c.method_settings("smf").budget == 0.5
    assert make_config("sk", {"n": 8}, beta="0.5", methods=["mf"]).method_settings("mf").budget == 0.0
    with pytest.raises(SettingsError, match="--trw-budget chooses --trw-width"):
        make_config("sk", {"n": 8}, beta="0.5", methods=["trw"], settings={"trw": {"width": 1, "budget": 1.0}})


def test_mf_budget_is_left_to_smf_where_it_runs_and_smf_takes_its_share():
    def budgets(methods, **kw):
        c = make_config("sk", {"n": 8}, beta="0.5,1", methods=methods, bound_budget=2.0, **kw)
        return {name: c.method_settings(name).budget for name in methods}

    assert budgets(["mf", "trw"]) == {"mf": 2.0 * budget.share("mf"), "trw": 2.0}
    assert budgets(["mf", "smf", "trw"]) == {"mf": 0.0, "smf": 2.0 * budget.share("smf"), "trw": 2.0}
    assert budget.share("smf") == 0.5 and budget.share("mf") == 0.1 and budget.share("trw") == 1.0
    assert budgets(["mf", "smf"], settings={"mf": {"budget": 0.5}})["mf"] == 0.5  # its own budget still applies
    assert budget.takes_bound_budget("trw", ["smf"]) and not budget.takes_bound_budget("bethe", ["trw"])


def test_cost_follows_the_rung_the_budget_takes():
    m = instance("square", {"L": 4, "boundary": "open", "disorder": "gaussian"}, 0.1)
    s = trw.Settings(budget=1e6)
    used = trw.resolved(m, BETAS, s)
    assert {"width": used.width, "clamp": used.clamp} == trw.exact_settings(m) == {"width": 4, "clamp": 0}
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
            "--samples", "1", "--beta", "0.5,1", "--method", "mf,trw", "--bound-budget", "10"]
    m = make_instance("square", resolve_params("square", {"L": 3, "boundary": "open", "disorder": "gaussian"}),
                      0, 0).scaled(1.0, 0.2)
    betas = np.array([0.5, 1.0])
    t = trw.resolved(m, betas, trw.Settings(budget=10.0))
    mine = 10.0 * budget.share("mf")  # mean field's share of --bound-budget: 1 s
    k = min(mf.resolved(m, betas, mf.Settings(budget=mine)).clamp, m.n)  # clamp_count: at most N spins
    assert t.width > 1 and k > 0  # the budget does choose (deterministic cost models)
    r = runner.invoke(app, [*args, "--dry-run"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    # the 3 x 3 lattice is one exact component of width 3 (its cost fits 10 s)
    assert (t.width, t.clamp) == (3, 0)
    assert "width 3, clamp 0 (budget 10 s; exact: the whole graph)" in text and f"clamp {k} (budget {mine:g} s)" in text, r.output
    out = tmp_path / "b.h5"
    r = runner.invoke(app, [*args, "--out", str(out), "--workers", "1"])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        assert f["trw_width"][()].ravel().tolist() == [t.width] and f["trw_clamp"][()].ravel().tolist() == [t.clamp]
        assert f["mf_clamp"][()].ravel().tolist() == [k]


# ------------------------------------------------------------------ the default budget
def test_the_cli_default_budget_is_the_constant_and_0_turns_it_off():
    r = runner.invoke(app, ["sweep", "sk", "--n", "8", "--beta", "0.5,1", "--dry-run"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert f"(budget {budget.DEFAULT_BUDGET:g} s; exact: the whole graph)" in text, r.output
    r = runner.invoke(app, ["sweep", "sk", "--n", "8", "--beta", "0.5,1", "--dry-run", "--bound-budget", "0"])
    assert r.exit_code == 0, r.output
    assert "budget" not in " ".join(r.output.split()).split("instances")[1], r.output  # width 1, clamp 0
    r = runner.invoke(app, ["sweep", "--help"])
    assert f"Default: {budget.DEFAULT_BUDGET:g}" in " ".join(r.output.replace("│", " ").split()), r.output


def test_the_embedded_default_sweep_interval_closes_on_ln_z():
    """The issue's target on the embedded default sweep (SK N = 16, 4 samples, 60 betas): the constructions
    the default budget takes on the full grid (deterministic cost models), run on a reduced grid that holds
    naive mean field's worst betas (0.6-0.9); both sides take their exact rung (the whole graph as one
    component), so the interval between the best bounds of the default methods closes on ln Z."""
    from isingvar.methods import smf

    c = make_config(None, {}, bound_budget=budget.DEFAULT_BUDGET)
    assert c.model == "sk" and c.n == 16 and c.beta.size == 60
    assert {"mf", "smf", "trw"} <= set(c.methods)
    few = np.array([0.05, 0.3, 0.6, 0.7, 0.8, 0.9, 1.1, 2.0, 3.0])
    for k in range(c.samples):
        m = make_instance(c.model, c.params, c.seed, k).scaled(1.0, 0.0)
        t = trw.resolved(m, c.beta, c.method_settings("trw"))
        s = smf.resolved(m, c.beta, c.method_settings("smf"))
        q = mf.resolved(m, c.beta, c.method_settings("mf"))
        assert {"width": t.width, "clamp": t.clamp} == {"width": s.width, "clamp": s.clamp} == trw.exact_settings(m)
        upper = trw.METHOD.run(m, few, t, np.random.default_rng(k), sites=False)
        lower = smf.METHOD.run(m, few, s, np.random.default_rng(k), sites=False)
        naive_lower = mf.METHOD.run(m, few, q, np.random.default_rng(k), sites=False)
        exact = naive.model_lnZ(m, few)
        np.testing.assert_allclose(upper["lnZ_trw_upper"], exact, rtol=1e-12)
        np.testing.assert_allclose(lower["lnZ_smf_lower"], exact, rtol=1e-12)
        assert np.all(naive_lower["lnZ_mf_lower"] <= exact + 1e-9)
        best = np.minimum(lower["f_smf_upper"], naive_lower["f_mf_upper"])
        width = best - upper["f_trw_lower"]
        assert np.all(np.abs(width) <= 1e-10), (k, width)


@pytest.mark.parametrize(("family", "params", "h"), [
    ("square", {"L": 6, "boundary": "open", "disorder": "gaussian"}, 0.1),
    ("square", {"L": 6, "boundary": "periodic", "disorder": "pm"}, 0.0),
    ("sk", {"n": 8}, 0.0),
])
def test_the_cost_floor_is_below_the_cost_on_every_rung(family, params, h):
    # the floor only spares surveys: where it is over a budget the cost must be too (the same choice)
    m = instance(family, params, h)
    top = trw.exact_settings(m)
    for rung in (*budget.LADDERS["trw"][:6], top or {}):
        s = trw.Settings(**rung)
        assert trw.cost_floor(m, BETAS, s) <= trw.cost(m, BETAS, s), rung
    assert trw.cost_floor(m, BETAS, trw.Settings()) == trw.cost(m, BETAS, trw.Settings())  # width 1: the trees


def test_the_config_toml_of_a_budgeted_sweep_is_a_valid_config(tmp_path):
    # the budget chooses width and clamp per instance: the file's TOML leaves them out, so that it reads
    # back (a config giving both is refused) as the same sweep
    import json

    c = make_config("sk", {"n": 6}, beta="0.5", methods=["mf", "trw"], bound_budget=3.0)
    toml = c.to_toml()
    assert "budget = 3.0" in toml and "clamp" not in toml and "width" not in toml, toml
    f = tmp_path / "c.toml"
    f.write_text(toml)
    r = runner.invoke(app, ["sweep", "--config", str(f), "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["config_hash"] == c.config_hash()


# ------------------------------------------------------------------ the cost models' slow steps
def test_cost_models_count_the_3d_constructions_gathers_and_not_the_2d_strips(monkeypatch):
    """A wide step that reads its children in short runs gathers entry by entry (10x slower per entry,
    measured on the 3D constructions): the models count such entries apart; a row-major 2D strip has none.
    Structural only (elimination's own plans): no timing."""
    from isingvar import trw_components as tc

    cube = instance("cubic", {"L": 4, "disorder": "pm"}, 0.0)
    strips = instance("square", {"L": 12, "boundary": "open", "disorder": "gaussian"}, 0.0)
    for m, w, lo, hi in ((cube, 12, 0.5, 1.0), (strips, 10, 0.0, 0.0)):
        _, cons = tc.survey(m, w)
        total, short = sum(c.entries for c in cons), sum(c.short_entries for c in cons)
        assert lo * total <= short <= hi * total, (m.n, short, total)
        part = smf_module().band_partition(m, w)
        assert 0 <= part.short_entries <= part.entries and (part.short_entries > 0) == (lo > 0)
    # the entries counted apart are what raises the 3D estimate; the 2D one does not move
    b = np.array([0.5, 1.0])
    costs = {id(m): (trw.cost(m, b, trw.Settings(width=w)), smf.cost(m, b, smf.Settings(width=w), sites=False))
             for m, w in ((cube, 12), (strips, 10))}
    monkeypatch.setattr(trw, "SECONDS_PER_SHORT_ENTRY", 0.0)
    monkeypatch.setattr(trw, "SECONDS_PER_SHORT_ENTRY_SITES", 0.0)
    monkeypatch.setattr(smf, "SECONDS_PER_BAND_SHORT_ENTRY", 0.0)
    for m, w in ((cube, 12), (strips, 10)):
        new = (trw.cost(m, b, trw.Settings(width=w)), smf.cost(m, b, smf.Settings(width=w), sites=False))
        if m is cube:
            # trw 0.80: one construction's per-site passes are counted per beta now, not half of them (isingvar.trw._components_bound)
            assert new[0] < 0.85 * costs[id(m)][0] and new[1] < 0.8 * costs[id(m)][1]
        else:
            assert new == costs[id(m)]


def smf_module():
    """The algorithm module :mod:`isingvar.smf` (the plug-in is imported as ``smf`` here)."""
    import isingvar.smf

    return isingvar.smf


# ------------------------------------------------------------------ trw width > 1: built once, shares per beta
def test_the_constructions_costed_are_the_ones_the_run_evaluates(monkeypatch):
    """Costing a rung builds its constructions (:func:`isingvar.trw_components.survey`); the costing of every
    width, the split's check and the run that follows share them: one build per width, none in the run."""
    from isingvar import trw_components as tc

    built = []
    real = tc._constructions
    monkeypatch.setattr(tc, "_constructions", lambda m, w, check: built.append(w) or real(m, w, check))
    tc._BUILT.clear()
    m = instance("square", {"L": 6, "boundary": "open", "disorder": "gaussian"}, 0.2)
    for w in (2, 3):
        trw.cost(m, BETAS, trw.Settings(width=w))
        trw.cost(m, BETAS, trw.Settings(width=w))
    out = trw.METHOD.run(m, BETAS, trw.Settings(width=3), np.random.default_rng(0), sites=False)
    assert built == [2, 3]
    assert out["trw_field_split"] < 1.0  # the split ran the field-amplified model: the same couplings
    # another model's constructions replace the first's (one model's held at most)
    other = instance("square", {"L": 6, "boundary": "open", "disorder": "gaussian"}, 0.2, seed=2)
    trw.cost(other, BETAS, trw.Settings(width=2))
    assert built == [2, 3, 2] and {k[1] for k in tc._BUILT} == {tc._key(other, 2)[1]}


def test_trw_optimises_the_best_start_at_each_beta_and_stays_certified(monkeypatch):
    """Field shares are optimised, at each beta, for the one construction whose uniform split is the least
    there; the bound is at most that start and at least ln Z (brute force)."""
    from isingvar import trw as algorithm
    from isingvar import trw_components as tc

    m = instance("square", {"L": 4, "boundary": "open", "disorder": "gaussian"}, 0.3)
    s = trw.Settings(width=2, field_split=1.0)
    cons = tc.constructions(m, 2)
    assert len(cons) >= 3
    starts = np.array([tc.evaluate_uniform(m, c, BETAS, algorithm.RESIDUAL_LIMIT) for c in cons])
    assert len(set(np.argmin(starts, axis=0).tolist())) == 2  # two constructions lead, at different betas
    calls = []
    real = tc.optimise
    monkeypatch.setattr(tc, "optimise", lambda model, c, beta, *a: calls.append((cons.index(c), beta)) or
                        real(model, c, beta, *a))
    out = trw.METHOD.run(m, BETAS, s, np.random.default_rng(0), sites=False)["lnZ_trw_upper"]
    assert sorted(calls, key=lambda kb: kb[1]) == [(int(np.argmin(starts[:, q])), float(beta))
                                                  for q, beta in enumerate(BETAS)]
    exact = naive.model_lnZ(m, BETAS)
    assert np.all(out <= starts.min(axis=0) + 1e-12 * np.abs(exact))
    assert np.all(out >= exact - 1e-10 * np.abs(exact))


def test_trw_cost_counts_the_construction_the_run_optimises(monkeypatch):
    """The cost counts the share optimisation of the construction :func:`isingvar.trw_components.optimise`
    is called on.  On K6,6 (Gaussian couplings sigma 1, fields sigma 0.5) at width 5 the best start at
    every beta is bfs-bands K = 3 (918 clique entries), outside the half with the fewest components that
    the cost counted until 2026-12-07 (its costliest: bfs-bands K = 2, 472 entries).  Deterministic: the
    cost's slope in :data:`isingvar.methods.trw.SECONDS_PER_ENTRY_SITES` is nb x evaluations x entries."""
    from isingvar import trw_components as tc
    from isingvar.model import IsingModel

    rng = np.random.default_rng(1)
    i, j = np.meshgrid(np.arange(6), np.arange(6, 12), indexing="ij")
    m = IsingModel(12, i.ravel(), j.ravel(), rng.normal(0.0, 1.0, 36), rng.normal(0.0, 0.5, 12))
    s = trw.Settings(width=5, field_split=1.0)
    cons = tc.constructions(m, 5)
    fewest = sorted(cons, key=lambda c: c.K)[:(len(cons) + 1) // 2]
    calls = []
    real = tc.optimise
    monkeypatch.setattr(tc, "optimise", lambda model, c, beta, *a: calls.append(c) or real(model, c, beta, *a))
    trw.METHOD.run(m, BETAS, s, np.random.default_rng(0), sites=False)
    assert len(calls) == BETAS.size and len({id(c) for c in calls}) == 1
    optimised = calls[0]
    assert all(c is not optimised for c in fewest)  # the case the old rule missed
    assert optimised.entries > max(c.entries for c in fewest)
    base = trw.cost(m, BETAS, s)
    step = 1e-9
    monkeypatch.setattr(trw, "SECONDS_PER_ENTRY_SITES", trw.SECONDS_PER_ENTRY_SITES + step)
    evals = 1.0 + trw.SHARE_EVALS_PER_ITERATION * s.share_iterations
    slope = (trw.cost(m, BETAS, s) - base) / step
    assert slope == pytest.approx(BETAS.size * evals * optimised.entries, rel=1e-6)
