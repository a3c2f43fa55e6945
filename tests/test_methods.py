"""Methods as plug-ins: the registry, a method added by its module alone, derived kl, settings, schema 2."""

import json
import sys
import textwrap

import h5py
import naive
import numpy as np
import pytest
import xarray as xr
from isingvar_cli.main import app
from typer.testing import CliRunner

from isingvar import budget, methods
from isingvar.errors import ConfigMismatchError, ModelParameterError, ResultFileError, TooLargeError
from isingvar.io import schema as io_schema
from isingvar.io import store
from isingvar.merge import merge_shards
from isingvar.methods.base import Var
from isingvar.sweep import estimate_time, make_config, run_sweep

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_registry_lists_the_methods_and_refuses_an_unknown_one():
    assert set(methods.method_names()) >= {"exact", "mf"}
    assert set(methods.default_methods()) >= {"exact", "mf"}
    for name, m in methods.all_methods().items():
        assert m.name == name
        for v in m.variables:  # the naming rule: the method's name is part of every variable's name
            assert name in v.name.split("_"), v.name
    with pytest.raises(ModelParameterError, match="unknown method 'nope'; choose from .*exact.*mf"):
        methods.get_method("nope")
    with pytest.raises(ModelParameterError, match="choose from"):
        make_config("chain", {"n": 4}, methods=["nope"])


def test_exact_time_limit_is_the_exact_module_s():
    from isingvar.exact.enumeration import MAX_SECONDS

    assert methods.get_method("exact").max_seconds == MAX_SECONDS


TOY = '''
"""A throwaway method for the registry test: ln Z >= -beta E(all up) (one term of Z)."""
from dataclasses import dataclass

import numpy as np

from isingvar.methods.base import Method, Nonfinite, Var


@dataclass(frozen=True)
class Settings:
    shift: float = 0.0  # subtracted from the bound (keeps it a bound when >= 0)


def run(model, betas, settings, rng, *, sites, progress=None):
    up = np.ones(model.n)
    e_up = float(-(model.couplings * up[model.edge_i] * up[model.edge_j]).sum() - model.fields.sum())
    lnz = -np.asarray(betas) * e_up - settings.shift
    with np.errstate(divide="ignore"):
        f = -lnz / (np.asarray(betas) * model.n)
    if progress:
        progress(float(len(betas)))
    return {"lnZ_toy_lower": lnz, "f_toy_upper": f, "toy_calls": np.ones(len(betas), dtype=np.int32)}


METHOD = Method(
    name="toy", summary="one-state lower bound", settings=Settings,
    variables=(
        Var("lnZ_toy_lower", "lower", "lnZ", "nat", "lower bound on ln Z: -beta E(all up)"),
        Var("f_toy_upper", "upper", "f", "energy per spin", "upper bound on f: E(all up)/N", nonfinite=Nonfinite.NEG_INF_AT_BETA0),
        Var("toy_calls", "diagnostic", None, "1", "calls", dtype="i4", fill=-1),
    ),
    run=run, cost=lambda model, betas, settings, *, sites: 0.0,
    progress_units=lambda n, betas, settings: float(len(betas)),
)
'''


@pytest.fixture
def toy_method(tmp_path, monkeypatch):
    """A method module in a folder added to the package's path: registered by its module alone."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "toy.py").write_text(textwrap.dedent(TOY))
    monkeypatch.setattr(methods, "__path__", [*methods.__path__, str(folder)])
    methods._discover.cache_clear()
    io_schema._schema.cache_clear()
    yield methods.get_method("toy")
    sys.modules.pop("isingvar.methods.toy", None)
    monkeypatch.undo()
    methods._discover.cache_clear()
    io_schema._schema.cache_clear()


def test_a_new_method_needs_no_edit_elsewhere(toy_method, tmp_path):
    assert "toy" in methods.method_names() and "toy" not in methods.default_methods()
    schema = store.schema(("exact", "toy"))
    assert {"lnZ_toy_lower", "f_toy_upper", "toy_calls", "kl_toy"} <= set(schema)
    assert schema["toy_calls"].dims == ("sample", "J", "h", "beta") and schema["toy_calls"].dtype == "i4"
    assert "kl_toy" not in store.schema(("toy",))  # derived only where an exact method ran

    # the sweep: values, the derived kl against an independent brute force, shards and merge
    config = make_config("chain", {"n": 5, "boundary": "open"}, beta="0.5,1", h="0,0.3", samples=1,
                         methods=["toy", "exact"], settings={"toy": {"shift": 0.25}})
    assert config.methods == ("exact", "toy")  # canonical order
    parts = [tmp_path / f"s{i}.h5" for i in range(2)]
    for i, part in enumerate(parts):
        run_sweep(config, part, shard=(i, 2))
    merged = tmp_path / "m.h5"
    merge_shards(merged, parts)
    with xr.open_dataset(merged, engine="h5netcdf") as ds:
        assert ds.done.values.all()
        assert ds.attrs["schema_version"] == store.SCHEMA_VERSION
        for b, h in enumerate([0.0, 0.3]):
            n = 5
            J = np.zeros((n, n))
            for i in range(n - 1):
                J[i, i + 1] = J[i + 1, i] = 1.0
            ref = naive.thermo(J, np.full(n, h), np.array([0.5, 1.0]))["lnZ"]
            lower = -np.array([0.5, 1.0]) * (-(n - 1) - n * h) - 0.25
            np.testing.assert_allclose(ds.lnZ_toy_lower[0, 0, b].values, lower, rtol=1e-13)
            np.testing.assert_allclose(ds.kl_toy[0, 0, b].values, ref - lower, rtol=1e-10)
            assert (ds.kl_toy[0, 0, b].values > 0).all()
            assert (ds.toy_calls.values == 1).all()

    # show's table has the new bound and its kl; plot draws it
    r = run("show", merged)
    assert r.exit_code == 0, r.output
    assert "f_toy_upper" in r.stdout and "kl_toy" in r.stdout and "f_exact" in r.stdout
    r = run("plot", merged, "--out", tmp_path / "m.png")
    assert r.exit_code == 0, r.output


def test_kl_is_derived_from_kinds_not_names():
    derived = methods.derived_variables(("exact", "mf"))
    assert [(v.name, needs) for v, needs in derived] == [("kl_mf", ("exact", "mf"))]
    assert methods.derived_variables(("mf",)) == []
    values = {"lnZ_exact": np.array([2.0, 3.0]), "lnZ_mf_lower": np.array([1.5, 1.0])}
    np.testing.assert_array_equal(methods.derived_values(("exact", "mf"), values)["kl_mf"], [0.5, 2.0])


def test_kl_in_the_file_is_exact_minus_the_lower_bound(tmp_path):
    out = tmp_path / "k.h5"
    run_sweep(make_config("sk", {"n": 6}, beta="0.3,1.2", samples=2), out)
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["kl_mf"][()], f["lnZ_exact"][()] - f["lnZ_mf_lower"][()], rtol=0, atol=1e-12)
        assert (f["kl_mf"][()] >= -1e-12).all()


# ------------------------------------------------------------------ settings
def _dry(*args):
    r = run("sweep", "chain", "--n", 6, "--beta", "0.5,1", "--dry-run", "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_settings_options_toml_and_hash_round_trip(tmp_path):
    default = _dry()
    # the CLI's default --bound-budget (isingvar.budget.DEFAULT_BUDGET) is the ladder methods' budget (smf
    # its share), but mean field's is left to smf, a default method too (isingvar.budget.LEFT_TO)
    assert default["settings"]["smf"]["budget"] == budget.DEFAULT_BUDGET * budget.share("smf")
    assert default["settings"]["mf"] == {"max_sweeps": 2000, "tol": 1e-10, "clamp": 0, "budget": 0.0}
    cli = _dry("--mf-max-sweeps", 3, "--mf-tol", "1e-6")
    assert cli["settings"]["mf"] == {"max_sweeps": 3, "tol": 1e-6, "clamp": 0, "budget": 0.0}
    assert cli["config_hash"] != default["config_hash"]  # a setting is part of the sweep
    cfg = tmp_path / "c.toml"
    cfg.write_text("[mf]\nmax_sweeps = 3\ntol = 1e-6\n")
    assert _dry("--config", cfg)["config_hash"] == cli["config_hash"]
    assert _dry("--config", cfg, "--mf-max-sweeps", 4)["settings"]["mf"]["max_sweeps"] == 4  # the command line wins

    # the setting reaches the method; the file's config_toml reproduces the sweep; a change is refused on resume
    out = tmp_path / "s.h5"
    r = run("sweep", "sk", "--n", 10, "--beta", "0.5,2", "--samples", 1, "--method", "mf", "--mf-max-sweeps", 3,
            "--out", out)
    assert r.exit_code == 0, r.output
    with h5py.File(out, "r") as f:
        assert (f["mf_iterations"][()] <= 3).all()
        toml = f.attrs["config_toml"]
        toml = toml.decode() if isinstance(toml, bytes) else toml
    assert "[mf]" in toml and "max_sweeps = 3" in toml
    again = tmp_path / "again.toml"
    again.write_text(toml)
    r = run("sweep", "--config", again, "--resume", "--out", out)
    assert r.exit_code == 0, r.output
    r = run("sweep", "--config", again, "--mf-max-sweeps", 4, "--resume", "--out", out)
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert r.exit_code == 2 and len(errors) == 1 and "settings" in errors[0] and "max_sweeps" in errors[0], r.output


def test_bad_settings_are_one_line_errors(tmp_path):
    r = run("sweep", "chain", "--n", 4, "--mf-max-sweeps", 0, "--out", tmp_path / "o.h5")
    assert r.exit_code == 2 and "--mf-max-sweeps must be at least 1" in r.output, r.output
    cfg = tmp_path / "c.toml"
    cfg.write_text("[mf]\nsweeps = 3\n")
    r = run("sweep", "--config", cfg, "--out", tmp_path / "o.h5")
    assert r.exit_code == 2 and "unknown option 'mf-sweeps'" in r.output, r.output
    cfg.write_text("[nope]\nx = 3\n")
    r = run("sweep", "--config", cfg, "--out", tmp_path / "o.h5")
    assert r.exit_code == 2 and "[nope] is not a method" in r.output, r.output
    with pytest.raises(ModelParameterError, match="no setting 'x'"):
        make_config("chain", {"n": 4}, settings={"mf": {"x": 1}})


# ------------------------------------------------------------------ one estimate for the sweep and the dry run
def test_sweep_and_dry_run_refuse_alike(slow_estimate, monkeypatch):
    dry = _dry_json("sk", "--n", 30)
    assert dry["needs_force"] and dry["estimated_s_by_method"]["exact"] == pytest.approx(3600.0 * dry["to_compute"])
    with pytest.raises(TooLargeError, match="exact .* would take about .*--force"):
        make_config("sk", {"n": 30})
    # a method without a time limit is estimated but never refused, in both
    import dataclasses

    slow = dataclasses.replace(methods.get_method("mf"), cost=lambda *a, **k: 1e6)
    monkeypatch.setitem(methods._discover(), "mf", slow)
    dry = _dry_json("sk", "--n", 30, "--method", "mf")
    assert not dry["needs_force"] and dry["estimated_s"] >= 1e6
    config = make_config("sk", {"n": 30}, methods=["mf"])
    assert not estimate_time(config).over_limit


def _dry_json(*args):
    r = run("sweep", *args, "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


# ------------------------------------------------------------------ files of schema version 2
def _as_schema_2(path):
    """Mark a file as schema version 2: with both methods its variables are those version 2 wrote."""
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = "2"


def test_schema_2_files_open_in_show_plot_and_merge_not_resume(tmp_path):
    config = make_config("sk", {"n": 6}, beta="0,0.5,1", samples=2, methods=["exact", "mf"])  # what version 2 had
    parts = [tmp_path / f"p{i}.h5" for i in range(2)]
    for i, part in enumerate(parts):
        run_sweep(config, part, shard=(i, 2))
        _as_schema_2(part)
    merged = tmp_path / "m.h5"
    summary = merge_shards(merged, parts)
    assert summary.done == 2 and not summary.missing
    with h5py.File(merged, "r") as f:
        assert f.attrs["schema_version"] == "2" and f["done"][()].all()
        assert np.isfinite(f["kl_mf"][:, :, :, 1:]).all()
    r = run("show", merged)
    assert r.exit_code == 0 and "f_mf_upper" in r.stdout and "kl_mf" in r.stdout, r.output
    r = run("plot", merged, "--out", tmp_path / "m.png")
    assert r.exit_code == 0, r.output
    with pytest.raises(ResultFileError, match="schema version 2.*new file"):
        run_sweep(config, merged, resume=True)
    # a version this isingvar does not know: one line saying so
    with h5py.File(merged, "r+") as f:
        f.attrs["schema_version"] = "1"
    r = run("show", merged)
    assert r.exit_code != 0 and "schema version 1" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    with pytest.raises(ConfigMismatchError, match="schema version"):
        _as_schema_2(parts[0])
        with h5py.File(parts[1], "r+") as f:
            f.attrs["schema_version"] = "3"
        merge_shards(tmp_path / "x.h5", parts)


def test_var_declarations_are_checked():
    with pytest.raises(ValueError, match="kind"):
        Var("a_x", "bound", "lnZ", "nat", "a")
    with pytest.raises(ValueError, match="fill"):
        Var("x_n", "diagnostic", None, "1", "n", dtype="i4")


def test_bound_table_takes_the_tightest_bounds_by_kind():
    # a hand-made summary: two upper bounds and one lower bound on f around f_exact, 2 samples, 3 betas
    from isingvar.report import bounds_table

    def var(kind, quantity):
        return store.Variable(("sample", "J", "h", "beta"), "f8", "", "", ("x",), kind=kind, quantity=quantity)

    exact = np.array([[-2.0, -1.0, -0.5], [-2.2, -1.2, -0.7]])
    values = {"f_exact": exact, "f_a_upper": exact + 0.3, "f_b_upper": exact + [0.1, 0.5, 0.2],
              "f_c_lower": exact - 0.4, "kl_c": np.full((2, 3), 0.7), "f_d": exact + 0.05}
    schema = {"f_exact": var("exact", "f"), "f_a_upper": var("upper", "f"), "f_b_upper": var("upper", "f"),
              "f_c_lower": var("lower", "f"), "kl_c": var("diagnostic", "kl"), "f_d": var("estimate", "f")}
    summary = {"coords": {"beta": np.array([0.5, 1.0, 2.0])}, "done": np.ones((2, 1, 1), np.int8), "schema": schema}
    summary |= {name: v[:, None, None, :] for name, v in values.items()}
    rows = bounds_table(summary)
    assert [k for k in rows[0] if not k.endswith("_se")] == [
        "beta", "f_exact", "f_c_lower", "f_a_upper", "f_b_upper", "f_d", "gap", "gap_lower", "width", "best_lower",
        "best_upper", "kl_c", "best_lower_by", "best_upper_by", "n_done"]
    for k, r in enumerate(rows):
        # an estimate (kind "estimate") is shown, but is neither the tightest bound nor part of the width
        assert r["f_d"] == pytest.approx([-2.0, -1.0, -0.5][k] - 0.1 + 0.05)
        tight = min(0.3, [0.1, 0.5, 0.2][k])
        assert r["gap"] == pytest.approx(tight) and r["gap_lower"] == pytest.approx(0.4)
        assert r["width"] == pytest.approx(tight + 0.4) and r["kl_c"] == pytest.approx(0.7)


def test_methods_command_and_dry_run_table_list_the_registry():
    r = runner.invoke(app, ["methods"], terminal_width=200)
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    for name, m in methods.all_methods().items():
        assert name in text
        for field, _, _ in methods.setting_fields(m):
            assert f"--{name}-{field.replace('_', '-')}" in text
        for v in m.variables:
            assert v.name in r.output, v.name
    assert "(lower)" in text and "(upper)" in text and "(diagnostic)" in text
    r = runner.invoke(app, ["sweep", "chain", "--n", "6", "--beta", "0.5,1", "--mf-tol", "1e-8", "--dry-run"],
                      terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "tol = 1e-08" in r.output and "exact 0.0 s" in r.output and "mf " in r.output
