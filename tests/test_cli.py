"""The command line, through Typer's CliRunner (and one real subprocess)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from isingvar_cli.main import app
from typer.testing import CliRunner

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_default_sweep_runs_sk16(tmp_path):
    out = tmp_path / "default.h5"
    r = run("sweep", "--out", out)
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.stdout
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.attrs["model_family"] == "sk" and int(ds.attrs["n_spins"]) == 16
        assert ds.beta.size == 60 and ds.sample.size == 4
        assert float(ds.beta[0]) == 0.05 and float(ds.beta[-1]) == 3.0
        assert (ds.f_mf_upper >= ds.f_exact).all()


def test_done_when_example(tmp_path):
    # the acceptance command
    out = tmp_path / "t.h5"
    r = run("sweep", "square", "--L", 4, "--beta", "0.2:1:9", "--out", out)
    assert r.exit_code == 0, r.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        np.testing.assert_allclose(ds.beta.values, np.linspace(0.2, 1, 9))
        assert (ds.f_mf_upper >= ds.f_exact).all()
        assert ds.sample.size == 1


def test_json_summary(tmp_path):
    out = tmp_path / "c.h5"
    r = run("sweep", "chain", "--n", 6, "--beta", "0.5,1", "--J", "1,2", "--h", "0:0.2:3", "--json", "--out", out)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["path"] == str(out)
    assert summary["shape"] == {"sample": 1, "J": 2, "h": 3, "beta": 2}
    assert summary["elapsed_s"] >= 0


def test_table_shows_estimates_of_f_beside_the_bounds(tmp_path):
    # a method's estimate of f (kind "estimate", e.g. the Bethe approximation) is a column of the sweep's
    # table and of `show`, between the exact f and the upper bounds
    out = tmp_path / "e.h5"
    args = ["sweep", "chain", "--n", "6", "--beta", "0.5,1", "--out", str(out)]
    for m in ("exact", "mf", "trw", "bethe"):
        args += ["--method", m]
    for r in (runner.invoke(app, args, terminal_width=250), runner.invoke(app, ["show", str(out)], terminal_width=250)):
        assert r.exit_code == 0, r.output
        # the best-interval columns may push width into a second part of the table: every part's header
        header = " ".join(line for line in r.stdout.splitlines() if line.startswith("┃") and "beta" in line).split()
        names = [w for w in header if w.startswith("f_") or w == "width"]
        assert names == ["f_trw_lower", "f_exact", "f_bethe", "f_mf_upper", "width"], header


def test_show_and_models(tmp_path):
    out = tmp_path / "s.h5"
    assert run("sweep", "curie-weiss", "--n", 8, "--beta", "0.5:1.5:3", "--out", out).exit_code == 0
    r = run("show", out)
    assert r.exit_code == 0, r.output
    assert "curie-weiss" in r.stdout and "f_mf_upper" in r.stdout and "1 of 1" in r.stdout
    r = run("models")
    assert r.exit_code == 0
    for name in ("sk", "curie-weiss", "chain", "square", "file"):
        assert name in r.stdout


def test_file_model_from_edge_list(tmp_path):
    src = tmp_path / "tri.txt"
    src.write_text("0 1 1\n1 2 1\n0 2 -1\n0 0.5\n")
    out = tmp_path / "f.h5"
    r = run("sweep", "file", "--couplings", src, "--beta", "1", "--out", out)
    assert r.exit_code == 0, r.output
    # frustrated triangle: enumerate the 8 states by hand
    states = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)])
    E = -(states[:, 0] * states[:, 1] + states[:, 1] * states[:, 2] - states[:, 0] * states[:, 2]) - 0.5 * states[:, 0]
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert float(ds.lnZ_exact.squeeze()) == pytest.approx(np.log(np.exp(-E).sum()), rel=1e-13)


def _bad(tmp_path, *args):
    out = tmp_path / "out" / "r.h5"
    r = run(*args, "--out", out)
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    return lines[0]


@pytest.mark.parametrize(
    "args, words",
    [
        (("sweep", "ising3d", "--n", 4), "unknown model"),
        (("sweep", "sk"), "needs --n"),
        (("sweep", "sk", "--n", 0), "at least 1"),
        (("sweep", "sk", "--n", -4), "at least 1"),
        (("sweep", "square"), "needs --L"),
        (("sweep", "sk", "--n", 4, "--L", 3), "does not apply"),
        (("sweep", "sk", "--n", 4, "--beta", "0.1:3"), "not a valid range"),
        (("sweep", "sk", "--n", 4, "--beta", "a:b:c"), "not a valid range"),
        (("sweep", "sk", "--n", 4, "--beta", "-1:1:3"), ">= 0"),
        (("sweep", "sk", "--n", 4, "--J", "1,1"), "twice"),
        (("sweep", "sk", "--n", 4, "--method", "bogus"), "unknown method"),
        (("sweep", "sk", "--n", 40, "--method", "exact"), "--force"),
        (("sweep", "file", "--couplings", "/nonexistent/x.npz"), "does not exist"),
        (("sweep", "sk", "--n", 4, "--samples", 0), "--samples"),
    ],
)
def test_bad_input_one_line_and_nothing_written(tmp_path, args, words, slow_estimate):
    assert words in _bad(tmp_path, *args)


@pytest.mark.parametrize(
    "arrays, words",
    [
        ({"J": np.array([[0.0, 1.0], [3.0, 0.0]])}, "symmetric"),
        ({"J": np.zeros((3, 2))}, "square"),
        ({"J": np.array([[0.0, np.nan], [np.nan, 0.0]])}, "not finite"),
    ],
)
def test_bad_couplings_files(tmp_path, arrays, words):
    src = tmp_path / "bad.npz"
    np.savez(src, **arrays)
    msg = _bad(tmp_path, "sweep", "file", "--couplings", src)
    assert words in msg and "bad.npz" in msg


def test_unreadable_couplings_file(tmp_path):
    src = tmp_path / "bad.npz"
    src.write_bytes(b"\x00garbage")
    assert "bad.npz" in _bad(tmp_path, "sweep", "file", "--couplings", src)


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    out = tmp_path / "keep.h5"
    out.write_bytes(b"precious")
    r = run("sweep", "chain", "--n", 4, "--beta", "1", "--out", out)
    assert r.exit_code != 0 and "--overwrite" in r.stderr
    assert out.read_bytes() == b"precious"
    r = run("sweep", "chain", "--n", 4, "--beta", "1", "--out", out, "--overwrite")
    assert r.exit_code == 0, r.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.done.all()
    assert [p.name for p in tmp_path.iterdir()] == ["keep.h5"]  # no temporary left behind


def test_show_rejects_non_result_file(tmp_path):
    p = tmp_path / "x.h5"
    p.write_bytes(b"nope")
    r = run("show", p)
    assert r.exit_code != 0 and r.stderr.startswith("error: ")


@pytest.mark.process
def test_help_does_not_import_numba():
    code = "import sys; from isingvar_cli.main import app; assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.process
def test_console_script_installed():
    script = Path(sys.executable).parent / "isingvar"
    r = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.startswith("isingvar ")


@pytest.mark.slow
@pytest.mark.process
def test_ctrl_c_commits_and_exits_75(tmp_path):
    # a sweep long enough to interrupt (N = 30 exact, ~7 s); SIGINT once enumeration reports progress
    import signal

    out = tmp_path / "int.h5"
    script = Path(sys.executable).parent / "isingvar"
    proc = subprocess.Popen([str(script), "sweep", "sk", "--n", "30", "--samples", "1", "--beta", "0.1:3:64",
                             "--method", "exact", "--out", str(out)], stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "%" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest, = proc.communicate(timeout=120)[1:]
    stderr = "".join(lines) + rest
    assert proc.returncode == 75, stderr
    last = stderr.splitlines()[-1]
    assert "interrupted; 0 of 1 instances are saved" in last and "--resume" in last
    assert [p.name for p in tmp_path.iterdir()] == ["int.h5"]  # resumable, no temporary left
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert int(ds.done.sum()) == 0 and bool(ds.lnZ_exact.isnull().all())


def test_help_text_is_not_eaten_by_markup():
    # rich markup would drop "[seed, k]" and turn ":b:" into an emoji
    r = run("sweep", "--help")
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    assert "rng([seed, k])" in text and "start:stop:n" in text and "J_ij" in text


def test_sweep_header_does_not_time_the_methods(tmp_path, monkeypatch):
    """The sweep's first lines name each method's plan without running the methods' timed cost
    probes (mean field's cost is a timed run: it ran 3 extra times, seconds at N = 10^6)."""
    from isingvar import meanfield

    calls = []
    real = meanfield.mean_field
    monkeypatch.setattr(meanfield, "mean_field", lambda *a, **k: calls.append(1) or real(*a, **k))
    r = run("sweep", "square", "--L", 4, "--beta", "0.2:1:3", "--method", "mf", "--method", "exact",
            "--bound-budget", 0, "--out", tmp_path / "t.h5")  # no budget: no clamped runs of mean field
    assert r.exit_code == 0, r.output
    assert "exact: enumeration" in r.output
    assert len(calls) == 1  # the run itself


def test_methods_lists_each_setting_with_its_default_and_accepted_range(monkeypatch):
    """`isingvar methods` shows, from the registry, each setting's default and the range it accepts."""
    from isingvar_cli import console

    from isingvar.methods import all_methods, setting_bounds, setting_fields

    monkeypatch.setattr(console.out, "width", 400)  # the one stdout console: no setting wrapped
    r = CliRunner().invoke(app, ["methods"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "--ar-lr (default 0.01; > 0, <= 0.05)" in text  # one spelled out: the cap of issue 20
    for name, m in all_methods().items():
        bounds = setting_bounds(m)
        for f, _, d in setting_fields(m):
            b = bounds.get(f)
            shown = f"--{name}-{f.replace('_', '-')} (default {d!r}" + (f"; {b.text()}" if b and b.text() else "") + ")"
            assert shown in text, shown
