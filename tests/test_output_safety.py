"""Outputs on a shared node: locks, concurrent runs, readers, links, devices, leftovers and file-system faults."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from isingvar_cli.main import app
from typer.testing import CliRunner

from isingvar.errors import (
    NonFiniteResultError,
    OutputBusyError,
    OutputPathError,
    OutputWriteError,
)
from isingvar.io import store
from isingvar.merge import merge_shards
from isingvar.sweep import make_config, run_sweep

runner = CliRunner()
SMALL = ["sk", "--n", "6", "--beta", "0,0.5:1:3", "--samples", "3", "--seed", "1"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def small_config():
    from isingvar.budget import DEFAULT_BUDGET  # SMALL's budget: the CLI's default

    return make_config("sk", {"n": 6}, beta="0,0.5:1:3", samples=3, seed=1, bound_budget=DEFAULT_BUDGET)


def one_line_error(r, code):
    """The CLI failed with ``code`` and one `error:` line, no traceback; return that line."""
    assert r.exit_code == code, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in r.output, r.output
    assert r.output.rstrip().endswith(errors[0]), r.output
    assert isinstance(r.exception, SystemExit), r.exception
    return errors[0]


@pytest.fixture
def result(tmp_path):
    """A complete result file of SMALL."""
    path = tmp_path / "r.h5"
    run_sweep(small_config(), path)
    return path


def spawn(code: str, *args):
    """A Python subprocess running ``code``; returns once it printed its first line (it then waits for stdin)."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return proc


# A real sweep process that stops inside instance 1 (after committing instance 0) until its stdin gets a line.
SLOW_SWEEP = """
    import sys
    import isingvar.sweep.run as s
    real = s.compute_instance
    def slow(config, k, *args, **kw):
        if k == 1:
            print("computing", flush=True)
            sys.stdin.readline()
        return real(config, k, *args, **kw)
    s.compute_instance = slow
    from isingvar_cli.main import app
    app(sys.argv[1:])
"""

HOLDER = """
    import sys
    from isingvar.io.store import hold_output
    with hold_output(sys.argv[1]):
        print("held", flush=True)
        sys.stdin.readline()
"""


# ------------------------------------------------------------------ item 4: two runs on one file
@pytest.mark.process
def test_a_second_run_on_an_output_being_written_is_refused_and_nothing_is_lost(tmp_path):
    out = tmp_path / "r.h5"
    first = spawn(SLOW_SWEEP, "sweep", *SMALL, "--out", out, "--resume", "--json")
    try:
        for args in (("sweep", *SMALL, "--out", out, "--resume"),
                     ("sweep", *SMALL, "--out", out, "--overwrite"),
                     ("merge", out, tmp_path / "other.h5", "--overwrite")):
            line = one_line_error(run(*args), 75)
            assert "being written by another isingvar process" in line and str(first.pid) in line
        _, stderr = first.communicate("go\n", timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    with h5py.File(out, "r") as f:
        assert f["done"][()].all()  # the first run's work is all there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]  # no lock or temporary file left


@pytest.mark.process
def test_a_lock_of_a_killed_run_blocks_nothing_and_is_cleaned(tmp_path, result):
    holder = spawn(HOLDER, result)
    assert (tmp_path / ".r.h5.lock").exists()
    with pytest.raises(OutputBusyError):
        run_sweep(small_config(), result, resume=True)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    run_sweep(small_config(), result, resume=True)  # the kernel released the lock
    assert not (tmp_path / ".r.h5.lock").exists()


def test_the_same_output_twice_in_one_process_is_refused(tmp_path):
    with store.hold_output(tmp_path / "r.h5"), pytest.raises(OutputBusyError, match="this process"):
        run_sweep(small_config(), tmp_path / "r.h5")


# ------------------------------------------------------------------ item 5: readers never block writers
READER = """
    import sys
    import h5py
    import xarray as xr
    f = h5py.File(sys.argv[1], "r")
    ds = xr.open_dataset(sys.argv[2], engine="h5netcdf")
    ds.load()
    print("open", flush=True)
    sys.stdin.readline()
"""


@pytest.mark.process
def test_resume_and_merge_while_readers_hold_the_files(tmp_path, result):
    with h5py.File(result, "r+") as f:
        f["done"][1] = 0  # one instance to compute
    merged = tmp_path / "merged.h5"
    merge_shards(merged, [result])
    reader = spawn(READER, result, merged)
    try:
        with h5py.File(result, "r") as mine, h5py.File(merged, "r"):  # readers in this process too
            summary = run_sweep(small_config(), result, resume=True)
            assert summary.computed == 1
            assert mine["done"][()].sum() == 2  # the open reader keeps its version
            merge_shards(merged, [result], overwrite=True)
        r = run("sweep", *SMALL, "--out", result, "--resume")
        assert r.exit_code == 0, r.output
    finally:
        reader.communicate("done\n", timeout=60)
    with h5py.File(merged, "r") as f:
        assert f["done"][()].all()


# ------------------------------------------------------------------ item 7: only regular files, never an input
def test_plot_never_replaces_its_input(result):
    before = result.read_bytes()
    line = one_line_error(run("plot", result, "--out", result, "--overwrite"), 2)
    assert "is the input" in line
    assert result.read_bytes() == before


def test_a_sweep_never_replaces_its_model_file(tmp_path):
    model = tmp_path / "m.npz"
    r = run("model", "export", "sk", "--n", "4", "--out", model)
    assert r.exit_code == 0, r.output
    before = model.read_bytes()
    line = one_line_error(run("sweep", "file", "--couplings", model, "--out", model, "--overwrite"), 2)
    assert "is the input" in line
    assert model.read_bytes() == before


def test_devices_fifos_and_directories_are_refused_as_outputs(tmp_path, result):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    targets = [fifo] + [Path(p) for p in ("/dev/full", "/dev/null") if os.path.exists(p)]
    for target in targets:
        for args in (("sweep", *SMALL, "--out", target, "--overwrite"), ("merge", target, result, "--overwrite"),
                     ("plot", result, "--out", target, "--overwrite"),
                     ("model", "export", "sk", "--n", "4", "--out", target, "--to", "npz", "--overwrite")):
            assert "not a regular file" in one_line_error(run(*args), 2), args
    assert "is a directory" in one_line_error(run("merge", tmp_path, result, "--overwrite"), 2)
    (tmp_path / "d").mkdir()
    assert "is a directory" in one_line_error(run("sweep", *SMALL, "--out", tmp_path / "d", "--resume"), 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "fifo", "r.h5"]  # no lock file made for it


def test_a_symlinked_output_is_followed_and_stays_a_link(tmp_path, result):
    link = tmp_path / "link.h5"
    target = tmp_path / "data" / "target.h5"
    target.parent.mkdir()
    link.symlink_to(target)  # dangling: the first write creates the target
    r = run("sweep", *SMALL, "--out", link)
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and target.is_file()
    with h5py.File(target, "r+") as f:
        f["done"][2] = 0
    r = run("sweep", *SMALL, "--out", link, "--resume")
    assert r.exit_code == 0, r.output
    assert link.is_symlink()
    with h5py.File(target, "r") as f:
        assert f["done"][()].all()
    # a merge whose output is a link to one of its inputs
    line = one_line_error(run("merge", link, target, "--overwrite"), 2)
    assert "is the input" in line


# ------------------------------------------------------------------ item 8: leftovers
def test_stale_temporary_files_of_the_output_are_removed(tmp_path, result):
    stale = [tmp_path / ".r.h5.99999.tmp", tmp_path / f".r.h5.{os.getpid() + 1}.tmp.h5", tmp_path / ".r.h5.lock"]
    other = tmp_path / ".other.h5.12.tmp"
    for p in stale + [other]:
        p.write_bytes(b"half")
    r = run("sweep", *SMALL, "--out", result, "--resume")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.h5.12.tmp", "r.h5"]


KILLED_IN_COMMIT = """
    import os
    import sys
    def stuck(src, dst):  # the temporary file is written and flushed; the rename never comes
        print("in commit", flush=True)
        sys.stdin.readline()
    os.replace = stuck
    from isingvar_cli.main import app
    app(sys.argv[1:])
"""


@pytest.mark.process
def test_the_temporary_file_of_a_commit_killed_by_sigkill_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "r.h5"
    proc = spawn(KILLED_IN_COMMIT, "sweep", *SMALL, "--out", out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".r.h5.{proc.pid}.tmp.h5", ".r.h5.lock"]
    r = run("sweep", *SMALL, "--out", out, "--resume")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]


def test_a_250_character_output_name_works(tmp_path):
    out = tmp_path / ("a" * 247 + ".h5")
    r = run("sweep", *SMALL, "--out", out)
    assert r.exit_code == 0, r.output
    assert len(store.temp_path(out).name.encode()) < 255
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


# ------------------------------------------------------------------ item 9: one-line errors for file-system faults
def _refuse(monkeypatch, function, err, when=lambda *a: True):
    """Make ``os.<function>`` raise OSError(err) when ``when(*args)``."""
    real = getattr(os, function)

    def fake(*args, **kwargs):
        if when(*args):
            raise OSError(err, os.strerror(err))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, function, fake)


def test_a_read_only_folder_is_a_one_line_error(tmp_path, monkeypatch):
    _refuse(monkeypatch, "open", errno.EACCES, lambda p, *a: str(p).endswith(".lock"))
    line = one_line_error(run("sweep", *SMALL, "--out", tmp_path / "r.h5"), 2)
    assert "cannot write in the folder" in line and "--out" in line


def test_default_output_from_a_read_only_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _refuse(monkeypatch, "mkdir", errno.EROFS)
    line = one_line_error(run("sweep", *SMALL), 2)
    assert "cannot create the folder 'runs'" in line and "give --out in a writable folder" in line


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS])
def test_disk_full_or_read_only_at_a_commit_keeps_the_previous_file(tmp_path, result, monkeypatch, err):
    with h5py.File(result, "r+") as f:
        f["done"][1:] = 0
    before = result.read_bytes()
    _refuse(monkeypatch, "replace", err, lambda src, dst: Path(dst) == result)
    line = one_line_error(run("sweep", *SMALL, "--out", result, "--resume"), 75)
    assert f"cannot write {result}" in line and errno.errorcode[err] in line
    assert result.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]


def test_a_short_write_on_a_full_disk_keeps_the_previous_file(tmp_path, result, monkeypatch):
    before = result.read_bytes()
    out = result.with_name("m.h5")
    out.write_bytes(b"old")

    def full(self, data):
        with open(self, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    line = one_line_error(run("merge", out, result, "--overwrite"), 75)
    assert "No space left on device" in line and ".tmp" not in line
    assert out.read_bytes() == b"old" and result.read_bytes() == before
    assert sorted(p.name for p in result.parent.iterdir()) == ["m.h5", "r.h5"]


def test_plot_creates_the_folder_of_its_output(tmp_path, result):
    r = run("plot", result, "--out", tmp_path / "no" / "dir" / "p.png")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "no" / "dir" / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_merge_with_a_bad_second_input_is_a_one_line_error(tmp_path, result):
    truncated, junk = tmp_path / "trunc.h5", tmp_path / "junk.h5"
    truncated.write_bytes(result.read_bytes()[:2000])
    junk.write_bytes(b"not hdf5 at all\n" * 100)
    link = tmp_path / "link.h5"
    link.symlink_to(result)
    out = tmp_path / "m.h5"
    cases = {truncated: "not an HDF5 file", junk: "not an HDF5 file", tmp_path / "missing.h5": "does not exist",
             result: "given twice", link: "given twice"}
    for second, message in cases.items():
        assert message in one_line_error(run("merge", out, result, second), 2), second
    assert not out.exists()


def _edit(path, edit):
    with h5py.File(path, "r+") as f:
        edit(f)


@pytest.mark.parametrize("edit, message", [
    (lambda f: (f.__delitem__("done"), f.create_dataset("done", data=np.zeros(7, "i1"))), "variable 'done' has shape"),
    (lambda f: (f.__delitem__("done"), f.create_dataset("done", data=np.full((3, 1, 1), "x", "S1"))), "variable 'done' has type"),
    (lambda f: f.__delitem__("beta"), "lacks the coordinate 'beta'"),
    (lambda f: f.__delitem__("u_exact"), "lacks the variable 'u_exact'"),
])
def test_damaged_result_files_are_named_errors(tmp_path, result, edit, message):
    _edit(result, edit)
    for args in (("show", result), ("plot", result, "--out", tmp_path / "p.png"),
                 ("merge", tmp_path / "m.h5", result), ("sweep", *SMALL, "--out", result, "--resume")):
        if "u_exact" in message and args[0] in ("show", "plot"):
            continue  # readers need only what they show
        assert message in one_line_error(run(*args), 2), args


def test_show_of_a_directory_says_so(tmp_path):
    assert "is a directory" in one_line_error(run("show", tmp_path), 2)


# ------------------------------------------------------------------ item 11: done never marks NaN
def test_write_points_refuses_nan_and_allows_the_declared_non_finite_values(tmp_path, result):
    with store.open_copy(result) as f:
        nb = f["beta"].shape[0]
        ok = {"f_exact": np.r_[-np.inf, np.ones(nb - 1)], "c_exact": np.full(nb, np.nan),
              "u_exact": np.zeros(nb)}
        store.write_points(f, [((0, 0, 0), ok)])
        bad = np.zeros(nb)
        bad[2] = np.nan
        # (u_exact, c_exact, E0_exact may be NaN: the planar path cannot give them; m_exact may not)
        for name, values in {"m_exact": bad, "f_exact": np.r_[1.0, -np.inf, np.ones(nb - 2)]}.items():
            before, other = f[name][0, 0, 0], f["u_exact"][1, 0, 0]
            with pytest.raises(NonFiniteResultError, match=f"{name} is .* at sample 0"):
                store.write_points(f, [((1, 0, 0), {"u_exact": np.zeros(nb)}),
                                       ((0, 0, 0), {"u_exact": np.full(nb, 7.0), name: values})])
            np.testing.assert_array_equal(f[name][0, 0, 0], before)
            assert (f["u_exact"][0, 0, 0] == 0).all()  # nothing of the refused block was written
            np.testing.assert_array_equal(f["u_exact"][1, 0, 0], other)  # nor the good item beside it


def test_a_nan_result_stops_the_sweep_without_marking_it_done(tmp_path, monkeypatch):
    from isingvar import sweep

    real = sweep.compute_instance

    def nan_in_sample_1(config, k, *args, **kw):
        values = real(config, k, *args, **kw)
        if k == 1:
            values["m_exact"] = values["m_exact"] * np.nan
        return values

    monkeypatch.setattr(sweep.run, "compute_instance", nan_in_sample_1)
    out = tmp_path / "r.h5"
    r = run("sweep", *SMALL, "--out", out)
    assert "numerical failure: m_exact is nan at sample 1" in one_line_error(r, 2)
    with h5py.File(out, "r") as f:
        assert list(f["done"][:, 0, 0]) == [1, 0, 0]
        assert np.isnan(f["m_exact"][1]).all()


def test_an_exact_path_leaving_nan_it_does_not_declare_is_a_numerical_failure(monkeypatch):
    # the exact variables allow NaN for the paths that cannot give a quantity (planar: u, c, ...), so
    # the method itself holds every path to its NOT_GIVEN list
    import dataclasses

    from isingvar.exact import enumeration
    from isingvar.families import make_instance, resolve_params
    from isingvar.methods import exact as exact_method
    from isingvar.methods.base import NoSettings

    real = enumeration.run

    def nan_u(model, betas, **kw):
        r = real(model, betas, **kw)
        return dataclasses.replace(r, u=r.u * np.nan)

    monkeypatch.setattr(enumeration, "run", nan_u)
    model, betas = make_instance("sk", resolve_params("sk", {"n": 6}), 0, 0), np.array([0.5, 1.0])
    values = exact_method.run(model, betas, NoSettings(), np.random.default_rng(0), sites=False)
    # every value of such a beta is withheld, with its reason (issue 19 item 4: no longer an error)
    assert (values["exact_status"] == enumeration.EXACT_STATUS.index("numerical_failure")).all()
    assert np.isnan(values["lnZ_exact"]).all() and np.isnan(values["c_exact"]).all()
    monkeypatch.setattr(enumeration, "NOT_GIVEN", ("u",), raising=False)
    values = exact_method.run(model, betas, NoSettings(), np.random.default_rng(0), sites=False)
    assert np.isnan(values["u_exact"]).all() and np.isfinite(values["c_exact"]).all()
    assert not values["exact_status"].any()


def test_done_over_nan_is_recomputed_on_resume(tmp_path, result):
    with h5py.File(result, "r") as f:
        good = f["m_mf"][1][()]
    _edit(result, lambda f: f["m_mf"].__setitem__((1, 0, 0, 2), np.nan))
    assert store.read_summary(result)["done"].sum() == 2  # show counts it as not done
    summary = run_sweep(small_config(), result, resume=True)
    assert summary.computed == 1
    with h5py.File(result, "r") as f:
        np.testing.assert_array_equal(f["m_mf"][1], good)


@pytest.mark.parametrize("J", ["nan", "inf", "-inf"])
def test_export_refuses_non_finite_couplings(tmp_path, J):
    out = tmp_path / "m.npz"
    line = one_line_error(run("model", "export", "sk", "--n", "4", "--J", J, "--out", out), 2)
    assert "--J" in line
    assert not out.exists()


def test_export_error_names_the_users_path(tmp_path):
    out = tmp_path / "m.npy"
    line = one_line_error(run("model", "export", "sk", "--n", "4", "--h", "0.5", "--out", out), 2)
    assert str(out) in line and ".tmp" not in line
    assert sorted(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ item 12: formats and moved folders
def test_plot_writes_the_format_its_suffix_names(tmp_path, result):
    for name, magic in {"p.pdf": b"%PDF", "p.svg": b"<?xml", "p.PNG": b"\x89PNG"}.items():
        r = run("plot", result, "--out", tmp_path / name)
        assert r.exit_code == 0, r.output
        assert (tmp_path / name).read_bytes().startswith(magic), name
    line = one_line_error(run("plot", result, "--out", tmp_path / "p.xyz"), 2)
    assert ".pdf" in line and ".png" in line
    assert not (tmp_path / "p.xyz").exists()


def test_a_commit_into_a_replaced_folder_stops(tmp_path):
    folder = tmp_path / "mnt" / "runs"
    out = folder / "r.h5"
    coords = {"sample": np.arange(1), "J": [1.0], "h": [0.0], "beta": [1.0], "site": np.arange(2), "edge": np.arange(1)}
    with store.open_new(coords=coords, attrs={}, methods=("exact",), sites=False) as f, store.hold_output(out):
        store.commit(f, out)
        folder.rename(tmp_path / "unmounted")  # the file system goes away ...
        with pytest.raises(OutputWriteError, match="no longer the one the run started in"):
            store.commit(f, out)
        folder.mkdir()  # ... and its mount point is an empty folder of the same name
        with pytest.raises(OutputWriteError, match="no longer the one"):
            store.commit(f, out)
    assert list(folder.iterdir()) == []
    assert (tmp_path / "unmounted" / "r.h5").is_file()


def test_an_output_is_the_input_also_by_another_spelling(tmp_path):
    (tmp_path / "r.h5").write_bytes(b"x")
    with pytest.raises(OutputPathError, match="is the input"):
        store.check_output(tmp_path / "a" / ".." / "r.h5", True, inputs=[tmp_path / "r.h5"])
