"""Issue 20, settings and configuration: the defect classes found in the new features, each with tests that
failed on the code before the fix.

1. tracebacks and long messages of a refused ``--resume`` (``config_differences``);
2. the ar method's limits and memory model (``--ar-steps 3000000000`` and the like);
3. validation: every setting typed and bounded by one mechanism (``isingvar.methods.base.setting``), TOML
   values of the wrong type one-line errors, settings of methods that do not run refused, non-finite floats
   refused for every method;
4. worker processes decided from the methods' estimated cost, not from N;
5. a beta too small for float64 named as such.
"""

import dataclasses
import math
import tracemalloc

import numpy as np
import pytest
from isingvar_cli.main import app
from typer.testing import CliRunner

from isingvar.errors import ConfigFileError, GridError, ModelParameterError, SettingsError, TooLargeError
from isingvar.families import make_instance, resolve_params
from isingvar.methods import all_methods, get_method, make_settings, setting_bounds, setting_fields
from isingvar.sweep import config_differences, default_workers, make_config, read_config_file

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(r) -> str:
    """The single ``error:`` line of a refused command (exit 2, no traceback, no box)."""
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output and "╭" not in r.output, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.output
    return errors[0]


FAST_AR = ("--ar-steps", 2, "--ar-samples", 100)
ALL_FIVE = [a for m in ("exact", "mf", "trw", "bethe", "ar") for a in ("--method", m)]


# ------------------------------------------------------------------ 1. resume: tracebacks and long messages
def test_resume_with_other_methods_names_them_in_one_line(tmp_path):
    out = tmp_path / "five.h5"
    r = run("sweep", "chain", "--n", 4, "--beta", "0.5", *ALL_FIVE, *FAST_AR, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    # was: ValueError: Unknown format code 'g' for object of type 'str' (five method names, a "long list")
    line = one_line_error(run("sweep", "chain", "--n", 4, "--beta", "0.5", "--method", "exact", "--method", "mf",
                              "--out", out, "--resume"))
    assert "methods: ar, bethe, exact, mf, trw in the file, exact, mf in this command" in line, line
    # a changed setting: one short line, not every setting of every method (was ~800 characters)
    line = one_line_error(run("sweep", "chain", "--n", 4, "--beta", "0.5", *ALL_FIVE, "--ar-steps", 3,
                              "--ar-samples", 100, "--out", out, "--resume"))
    assert "ar.steps: 2 in the file, 3 in this command" in line, line
    assert len(line) < 300, line


def test_config_differences_are_short_and_named_as_the_user_knows_them():
    base = make_config("chain", {"n": 4}, beta="0.1:1:5", methods=["trw"], settings={"trw": {"width": 2}})
    stored = base.to_dict()
    other = make_config("chain", {"n": 4}, beta="0.1:1:5", methods=["trw"], settings={"trw": {"width": 3}})
    assert config_differences(stored, other) == ["trw.width: 2 in the file, 3 in this command"]
    # a model parameter by its option's name (the spin count follows from it)
    bigger = make_config("chain", {"n": 5}, beta="0.1:1:5", methods=["trw"], settings={"trw": {"width": 2}})
    assert config_differences(stored, bigger) == ["n: 4 in the file, 5 in this command"]
    # grids that read alike in brief (count and ends): the first value that differs
    shifted = make_config("chain", {"n": 4}, beta="0.1,0.3,0.55,0.775,1", methods=["trw"],
                          settings={"trw": {"width": 2}})
    assert config_differences(stored, shifted) == ["beta: value 2 of 5 is 0.325 in the file, 0.3 in this command"]
    # whatever a file of another version stored is described, never formatted as a number it is not
    odd = {**stored, "methods": ["a", "b", "c", "d", "e", "f"], "beta": ["x"] * 9, "extra": {"k": [1, 2]}}
    lines = config_differences(odd, base)
    assert any(line.startswith("methods: a, b, c, d, e, f in the file, trw in this command") for line in lines)
    assert any(line.startswith("extra: ") for line in lines)


# ------------------------------------------------------------------ 2. ar: limits and a memory model
@pytest.mark.parametrize("args, option", [
    (("--ar-steps", 3000000000), "--ar-steps"),            # was OverflowError (ar_steps is int32)
    (("--ar-batch", 100000000000), "--ar-batch"),          # was MemoryError
    (("--ar-hidden", 1000000000, "--ar-depth", 2), "--ar-hidden"),  # was MemoryError
    (("--ar-depth", 1000000000), "--ar-depth"),            # was MemoryError
    (("--ar-samples", 10000000000), "--ar-samples"),       # was MemoryError
    (("--ar-hidden", 60000, "--ar-depth", 50, "--ar-arch", "dense"), "--ar-depth"),  # each within its bounds, together too large
    (("--ar-samples", 1000000000), "--ar-samples"),        # within its bound, beyond the memory a method may use
    (("--ar-lr", 1e300), "--ar-lr"),                       # was: q on one state
])
def test_ar_settings_beyond_their_limits_are_one_line_errors(tmp_path, args, option):
    # --dry-run: refused before anything is built (the code before the fix ran these, or failed running them)
    line = one_line_error(run("sweep", "chain", "--n", 4, "--beta", "0.5", "--method", "ar", *args, "--dry-run",
                              "--out", tmp_path / "x.h5"))
    assert option in line, line


def test_ar_has_a_memory_model_that_names_the_settings():
    from isingvar.sweep.estimate import MAX_METHOD_BYTES, check_memory

    method = get_method("ar")
    assert method.memory is not None
    betas = np.array([1.0])
    assert method.memory(4, 4, betas, method.settings()) < 2**26  # the defaults: a few MiB
    big = make_settings(method, {"samples": 10**9})
    assert method.memory(4, 4, betas, big) > MAX_METHOD_BYTES
    with pytest.raises(TooLargeError, match=r"with --ar-samples 1000000000 .* lower --ar-samples \(the defaults fit\)"):
        check_memory("ar", 4, 4, betas, big)
    # a model too large at the defaults: the model is named, not a setting
    with pytest.raises(TooLargeError, match="leave out --method ar or use a smaller model"):
        check_memory("ar", 40000, 40000 * 39999 // 2, betas, method.settings())


@pytest.mark.slow
@pytest.mark.parametrize("family, params, values", [
    ("sk", {"n": 30}, {"arch": "dense", "depth": 3, "hidden": 64}),
    ("chain", {"n": 30}, {"samples": 200000, "ais": 1}),  # one annealing step: its memory, a tenth of the time
    ("sk", {"n": 12}, {"arch": "dense", "depth": 2, "hidden": 1000, "samples": 100}),
    ("sk", {"n": 20}, {}),  # sparse, symmetrised: the exact sum by blocks of states
    ("square", {"L": 16, "boundary": "open", "disorder": "pm"}, {"batch": 1024, "hops": 6}),
])
def test_ar_memory_model_covers_the_measured_peak(family, params, values):
    method = get_method("ar")
    model = make_instance(family, resolve_params(family, params), 0, 0)
    settings = make_settings(method, {"steps": 3, "fkl_steps": 2, **values})  # the forward-KL phase runs, briefly
    betas = np.array([0.5, 1.0])
    method.run(model, betas, settings, np.random.default_rng(0))  # compiled before measuring
    tracemalloc.start()
    try:
        method.run(model, betas, settings, np.random.default_rng(0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = method.memory(model.n, model.n_edges, betas, settings)
    assert peak <= estimate <= 4 * peak + 2**21, (peak, estimate)


def test_ar_learning_rate_is_bounded_and_the_bound_says_why():
    from isingvar.methods.ar import MAX_LR

    method = get_method("ar")
    assert make_settings(method, {"lr": MAX_LR}).lr == MAX_LR
    with pytest.raises(SettingsError, match=r"^--ar-lr must be at most 0.05 \(larger Adam steps .*\), got 1e\+300$"):
        make_settings(method, {"lr": 1e300})


def test_a_collapsed_q_is_flagged_single_state():
    # far beyond the bound (a settings object made around the check): every sample one state, flagged so
    # (no checkpoints: the best-checkpoint rule would keep the start's q; the chain has no fields, so q is
    # symmetrised and a collapsed one draws one state and its mirror image)
    from isingvar.methods.ar import run

    settings = make_settings(get_method("ar"), {"steps": 30, "samples": 300, "checkpoint": 0})
    object.__setattr__(settings, "lr", 1e300)
    model = make_instance("chain", resolve_params("chain", {"n": 6}), 0, 0)
    out = run(model, np.array([0.5, 2.0]), settings, np.random.default_rng(0))
    from isingvar.methods.base import ESTIMATE_STATUS

    assert (out["ar_status"] == ESTIMATE_STATUS.index("single_state")).all(), out["ar_status"]


# ------------------------------------------------------------------ 3. validation: typed, bounded, one class
@pytest.mark.parametrize("toml, words", [
    ('[trw]\nwidth = "3"\n', "[trw] width must be an integer, got '3' (a string)"),
    ('[ar]\nlr = "0.1"\n', "[ar] lr must be a number, got '0.1' (a string)"),
    ('[ar]\nsteps = true\n', "[ar] steps must be an integer, got true (a boolean)"),
    ('[trw]\nwidth = 2.5\n', "[trw] width must be an integer, got 2.5"),
    ('method = "trw"\n', 'method must be an array of strings such as ["trw"]'),
    ('samples = "3"\n', "samples must be an integer"),
    ('sites = "yes"\n', "sites must be true or false"),
    ('seed = 1.0\n', "seed must be an integer"),
    ('[ar]\nlr = 1e300\n', "[ar] lr must be at most 0.05"),
    ('[mf]\ntol = inf\n', "[mf] tol must be a finite number, got inf"),
])
def test_toml_values_of_the_wrong_type_are_one_line_errors(tmp_path, toml, words):
    cfg = tmp_path / "c.toml"
    methods = "" if toml.startswith("method") else 'method = ["exact", "mf", "trw", "ar"]\n'
    cfg.write_text(f'model = "chain"\nn = 4\nbeta = "0.5"\n{methods}{toml}')
    line = one_line_error(run("sweep", "--config", cfg, "--dry-run"))
    assert words in line and str(cfg) in line, line


def test_read_config_file_coerces_nothing(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[trw]\nwidth = "3"\n')
    with pytest.raises(SettingsError) as e:
        read_config_file(cfg)
    assert isinstance(e.value, ConfigFileError) and isinstance(e.value, ModelParameterError)  # one class, both kinds
    cfg.write_text('[ar]\nlr = 0.05\nsteps = 10\n[mf]\ntol = 1\n')  # an integer is a number
    assert read_config_file(cfg) == {"ar-lr": 0.05, "ar-steps": 10, "mf-tol": 1.0}


def test_every_sweep_option_has_a_toml_type():
    # the types read_config_file checks cover every option of `isingvar sweep`
    import typer.main

    from isingvar.sweep.config import GRID_OPTIONS, option_types

    command = typer.main.get_command(app).commands["sweep"]
    keys = {p.name if p.param_type_name == "argument" else p.opts[0].lstrip("-") for p in command.params}
    settings = {f"{name}-{field.replace('_', '-')}" for name, m in all_methods().items()
                for field, _, _ in setting_fields(m)}
    missing = keys - set(option_types()) - set(GRID_OPTIONS) - settings - {"config", "dry-run"}
    assert not missing, missing


def test_every_setting_is_typed_and_bounded():
    # one mechanism for every method: bounds declared beside each field (isingvar.methods.base.setting)
    for name, method in all_methods().items():
        for field, kind, default in setting_fields(method):
            assert kind in (int, float, bool, str), (name, field, kind)
            if kind in (int, float):
                bounds = setting_bounds(method)[field]
                assert bounds is not None, f"{name}.{field} declares no bounds"
                assert (bounds.ge, bounds.gt) != (None, None), f"{name}.{field} has no lower bound"
                if kind is int:  # a float is finite unless declared otherwise: bounded either way
                    assert (bounds.le, bounds.lt) != (None, None), f"{name}.{field} has no upper bound"
                assert bounds.problem(default) is None, (name, field, default)


@pytest.mark.parametrize("name", sorted(all_methods()))
def test_every_float_setting_refuses_non_finite_values(name):
    # was: --trw-tol inf accepted where --ar-lr inf was refused
    method = get_method(name)
    for field, kind, _ in setting_fields(method):
        if kind is not float or not setting_bounds(method)[field].finite:
            continue
        for bad in (math.inf, -math.inf, math.nan):
            with pytest.raises(SettingsError, match=f"^--{name}-{field.replace('_', '-')} must be"):
                make_settings(method, {field: bad})


@pytest.mark.parametrize("name", sorted(all_methods()))
def test_every_setting_refusal_is_one_settings_error(name):
    method = get_method(name)
    with pytest.raises(SettingsError, match="no setting"):
        make_settings(method, {"no_such_setting": 1})
    for field, kind, _ in setting_fields(method):
        bounds = setting_bounds(method)[field]
        wrong = "1" if kind is not str else 1
        with pytest.raises(SettingsError, match=f"--{name}-{field.replace('_', '-')}"):
            make_settings(method, {field: wrong})
        high = None if bounds is None else bounds.le if bounds.le is not None else bounds.lt
        if kind in (int, float) and high is not None:
            beyond = high + 1 if kind is int else high * 2 + 1
            with pytest.raises(SettingsError) as e:
                make_settings(method, {field: beyond})
            assert "\n" not in str(e.value)
        if kind is int:
            with pytest.raises(SettingsError, match="must be an integer"):
                make_settings(method, {field: True})


def test_direct_construction_is_checked_alike():
    from isingvar.methods import ar, mf

    with pytest.raises(SettingsError, match="--ar-steps must be at most"):
        ar.Settings(steps=3_000_000_000)
    with pytest.raises(SettingsError, match="--mf-tol must be a finite number"):
        mf.Settings(tol=math.inf)
    assert isinstance(mf.Settings(tol=1).tol, float)  # one value, one hash: 1 and 1.0 are the same setting
    assert make_config("chain", {"n": 4}, methods=["mf"], settings={"mf": {"tol": 1}}).config_hash() == \
        make_config("chain", {"n": 4}, methods=["mf"], settings={"mf": {"tol": 1.0}}).config_hash()


def test_settings_of_a_method_that_does_not_run_are_refused(tmp_path):
    line = one_line_error(run("sweep", "chain", "--n", 4, "--method", "ar", "--trw-tol", "1e-3",
                              "--out", tmp_path / "x.h5"))
    assert "--trw-tol is a setting of method trw" in line and "add --method trw" in line, line
    cfg = tmp_path / "c.toml"
    cfg.write_text('model = "chain"\nn = 4\n[ar]\nsteps = 10\n')  # the default methods: no ar
    line = one_line_error(run("sweep", "--config", cfg, "--out", tmp_path / "x.h5"))
    assert "--ar-steps is a setting of method ar" in line and "add --method ar" in line, line
    with pytest.raises(SettingsError, match="add --method trw"):
        make_config("chain", {"n": 4}, methods=["mf"], settings={"trw": {"width": 2}})
    # None is "not given" (the CLI's unset options): nothing to refuse
    make_config("chain", {"n": 4}, methods=["mf"], settings={"trw": {"width": None}})


def test_a_default_method_given_settings_is_refused_not_left_out(monkeypatch):
    # without --method a default method that cannot run is left out; one the user gave settings to is not
    from isingvar.sweep import estimate

    monkeypatch.setattr(estimate, "MAX_METHOD_BYTES", 0)  # every method with a memory model "too large"
    with pytest.raises(TooLargeError, match="trw"):
        make_config("chain", {"n": 4}, settings={"trw": {"width": 2}})
    assert "trw" not in make_config("chain", {"n": 4}).methods


# ------------------------------------------------------------------ 4. worker processes from the methods' cost
def test_workers_follow_the_methods_estimate_not_n():
    # was: one process below N = 25 (exact enumeration's constant) however long the methods take
    ar = make_config("sk", {"n": 20}, samples=64, methods=["ar"])  # seconds per instance (ar's cost formula)
    assert default_workers(ar, cores=8) == 8
    mf = make_config("sk", {"n": 26}, methods=["mf"])  # milliseconds per instance: not worth a process
    assert default_workers(mf, cores=8) == 1
    few = make_config("sk", {"n": 20}, samples=3, methods=["ar"])  # no more workers than instances
    assert default_workers(few, cores=8) == 3


def test_pool_tasks_follow_the_methods_estimate():
    from isingvar.sweep import task_groups

    ar = make_config("sk", {"n": 20}, samples=64, methods=["ar"])
    todo = ar.instances()
    assert task_groups(todo, 2, ar) == [[t] for t in todo]  # long instances: one per task, at N = 20


# ------------------------------------------------------------------ 5. a beta too small for float64
def test_a_subnormal_beta_is_named_as_the_cause(tmp_path):
    line = one_line_error(run("sweep", "chain", "--n", 4, "--beta", "1e-310", "--method", "mf",
                              "--out", tmp_path / "x.h5"))
    assert "--beta 1e-310" in line and "couplings" not in line, line  # was: "couplings or fields too large"
    with pytest.raises(GridError, match="--beta"):
        make_config("chain", {"n": 4}, beta="0,1e-310,1")
    # zero (infinite temperature) and the smallest normal float64 remain
    make_config("chain", {"n": 4}, beta=f"0,{float(np.finfo(float).tiny)!r}")


def test_settings_error_is_one_class():
    assert issubclass(SettingsError, ModelParameterError) and issubclass(SettingsError, ConfigFileError)
    assert dataclasses.is_dataclass(get_method("ar").settings)
