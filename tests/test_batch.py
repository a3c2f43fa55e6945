"""Batch jobs: kill -9 and resume, SIGTERM, shards and merge, config files, dry run, workers, plot."""

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from isingvar_cli.main import app
from typer.testing import CliRunner
from waiting import wait_for

from isingvar.errors import ConfigMismatchError, ShardError
from isingvar.merge import merge_shards
from isingvar.sweep import make_config, parse_shard, run_sweep, shard_instances

runner = CliRunner()
TESTS = str(Path(__file__).parent)

# attributes that say where and when a file was written, not what it holds
PROVENANCE = {"command_line", "created", "completed", "elapsed_s", "hostname", "merged_from", "git_commit"}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_same_results(a, b, rtol=1e-12):
    """Every dataset equal (floats to rtol: exact sums may be reordered by threads), same attributes."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert set(fa) == set(fb)
        for name in fa:
            x, y = fa[name][()], fb[name][()]
            if x.dtype.kind == "f":
                np.testing.assert_allclose(x, y, rtol=rtol, atol=0, equal_nan=True, err_msg=name)
            else:
                np.testing.assert_array_equal(x, y, err_msg=name)
        assert set(fa.attrs) - PROVENANCE == set(fb.attrs) - PROVENANCE
        for key in set(fa.attrs) - PROVENANCE:
            assert fa.attrs[key] == fb.attrs[key], key


def done_count(path):
    try:
        with h5py.File(path, "r") as f:
            return int(f["done"][()].sum())
    except (OSError, KeyError):  # not there yet
        return -1


def start_and_wait(args, path, at_least):
    """Start ``isingvar sweep`` in a subprocess; return it once ``path`` holds ``at_least`` done instances.

    The sweep then waits (tests/paused_sweep.py): it cannot finish before the test signals or kills it,
    however fast the machine, and the file holds exactly ``at_least`` done instances.
    """
    marker = Path(path).with_name(Path(path).name + ".paused")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([TESTS, *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.Popen([sys.executable, "-c", "import paused_sweep; paused_sweep.main()", str(marker),
                             str(at_least), *map(str, args)], stderr=subprocess.PIPE, text=True, env=env)
    wait_for(marker.exists, f"{path} holds {at_least} done instances", proc=proc)
    assert done_count(path) == at_least
    return proc


# N = 22 and 64 betas on the chain path: instances long enough that the sweep is mid-instance when it pauses
# (--bound-budget 1: the budget these were sized with; the default takes trw width 20 on SK N = 22, ~1 s more each)
LONG = ["sk", "--n", "22", "--beta", "0.1:3:64", "--samples", "24", "--workers", "1", "--bound-budget", "1"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run of LONG."""
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    r = run("sweep", *LONG, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.slow
@pytest.mark.process
def test_kill9_then_resume_equals_an_uninterrupted_run(tmp_path, reference):
    out = tmp_path / "a.h5"
    proc = start_and_wait([*LONG, "--out", out], out, at_least=2)
    proc.kill()
    proc.wait()
    with xr.open_dataset(out, engine="h5netcdf") as ds:  # opens normally, committed points intact
        done = ds.done.values.astype(bool)
        assert 2 <= done.sum() < done.size, "the sweep finished before the kill; make LONG longer"
        np.testing.assert_array_equal(np.isfinite(ds.lnZ_exact.values).all(axis=-1), done)
    with h5py.File(reference, "r") as ref, h5py.File(out, "r") as part:
        np.testing.assert_allclose(part["lnZ_exact"][()][done], ref["lnZ_exact"][()][done], rtol=1e-12)
    r = run("sweep", *LONG, "--out", out, "--resume", "--json")
    assert r.exit_code == 0, r.output
    assert f'"computed": {done.size - done.sum()}' in r.stdout
    assert_same_results(out, reference)


@pytest.mark.slow
@pytest.mark.process
def test_sigterm_commits_exits_75_and_resumes(tmp_path, reference):
    out = tmp_path / "t.h5"
    proc = start_and_wait([*LONG, "--out", out], out, at_least=1)
    proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 75, stderr
    assert "--resume" in stderr.splitlines()[-1]
    assert [p.name for p in tmp_path.iterdir() if p.suffix != ".paused"] == ["t.h5"]  # no temporary file left
    assert 1 <= done_count(out) < 24
    r = run("sweep", *LONG, "--out", out, "--resume", "--json")
    assert r.exit_code == 0, r.output
    assert_same_results(out, reference)


@pytest.mark.slow
@pytest.mark.process
def test_workers_give_the_same_numbers(tmp_path, reference):
    out = tmp_path / "w.h5"
    args = [a if a != "1" or LONG[i - 1] != "--workers" else "2" for i, a in enumerate(LONG)]
    r = run("sweep", *args, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    assert_same_results(out, reference)


def worker_pids(parent):
    """PIDs of the sweep's worker processes (spawned children, not multiprocessing's resource tracker)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.slow
@pytest.mark.process
def test_a_killed_worker_stops_the_sweep_resumably(tmp_path, reference):
    out = tmp_path / "k.h5"
    args = [a if a != "1" or LONG[i - 1] != "--workers" else "2" for i, a in enumerate(LONG)]
    proc = start_and_wait([*args, "--out", out], out, at_least=1)
    pids = worker_pids(proc.pid)
    assert pids, "no worker processes found"
    os.kill(pids[0], signal.SIGKILL)  # what the out-of-memory killer does
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 75, stderr
    assert "worker process was killed" in stderr and "--resume" in stderr.splitlines()[-1]
    r = run("sweep", *LONG, "--out", out, "--resume", "--json")
    assert r.exit_code == 0, r.output
    assert_same_results(out, reference)


# ------------------------------------------------------------------ shards and merge
SMALL = {"beta": "0.2:2:5", "J": "0.5,1", "h": "0,0.2", "samples": 3, "seed": 4}


def test_shards_partition_the_instances_by_cost():
    config = make_config("sk", {"n": 8}, **SMALL)
    shards = [shard_instances(config, (i, 3)) for i in range(3)]
    everything = config.instances()
    assert sorted(itertools.chain(*shards)) == sorted(everything)  # disjoint and complete
    assert sum(map(len, shards)) == len(everything)
    cost = [sum(1 + (config.h[b] != 0) for _, _, b in s) for s in shards]  # fields double the exact cost
    assert max(cost) - min(cost) <= 2
    assert shard_instances(config, (1, 3)) == shards[1]  # deterministic


def test_shards_merged_equal_a_single_run(tmp_path):
    config = make_config("sk", {"n": 8}, **SMALL)
    single = tmp_path / "single.h5"
    run_sweep(config, single)
    parts = [tmp_path / f"s{i}.h5" for i in range(3)]
    for i, p in enumerate(parts):
        run_sweep(config, p, shard=(i, 3))
        with h5py.File(p, "r") as f:
            assert f.attrs["shard"] == f"{i}/3"
            assert int(f["done"][()].sum()) == len(shard_instances(config, (i, 3)))
    merged = tmp_path / "merged.h5"
    r = run("merge", merged, *parts)
    assert r.exit_code == 0, r.output
    assert_same_results(merged, single)
    r = run("merge", merged, *parts)  # never overwritten unless asked
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_merge_reports_missing_points_and_resume_fills_them(tmp_path):
    config = make_config("chain", {"n": 6}, beta="0.5,1", h="0,0.1,0.2")
    parts = [tmp_path / f"s{i}.h5" for i in range(3)]
    for i in (0, 2):
        run_sweep(config, parts[i], shard=(i, 3))
    merged = tmp_path / "merged.h5"
    summary = merge_shards(merged, [parts[0], parts[2]])
    assert summary.missing == shard_instances(config, (1, 3)) and summary.done == 2
    r = run("merge", tmp_path / "m2.h5", parts[0], parts[2])
    assert r.exit_code == 0 and "missing" in r.output and "--resume" in r.output
    run_sweep(config, merged, resume=True)
    single = tmp_path / "single.h5"
    run_sweep(config, single)
    with h5py.File(merged, "r") as f, h5py.File(single, "r") as g:
        assert f["done"][()].all()
        np.testing.assert_allclose(f["lnZ_exact"][()], g["lnZ_exact"][()], rtol=1e-12)


def test_mismatched_merge_and_resume_are_refused(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    from isingvar.budget import DEFAULT_BUDGET  # the CLI's default --bound-budget, as its resumes below

    run_sweep(make_config("chain", {"n": 5}, beta="0.5,1", seed=1, bound_budget=DEFAULT_BUDGET), a)
    run_sweep(make_config("chain", {"n": 5}, beta="0.5,1.5", seed=1, bound_budget=DEFAULT_BUDGET), b)
    with pytest.raises(ConfigMismatchError, match="beta"):
        merge_shards(tmp_path / "m.h5", [a, b])
    assert not (tmp_path / "m.h5").exists()
    before = a.read_bytes()
    r = run("sweep", "chain", "--n", 5, "--beta", "0.5,2", "--seed", 1, "--out", a, "--resume")
    assert r.exit_code == 2 and "beta" in r.output and "different sweep" in r.output
    r = run("sweep", "chain", "--n", 5, "--beta", "0.5,1", "--seed", 1, "--out", a, "--resume", "--shard", "0/2")
    assert r.exit_code == 2 and "--shard" in r.output
    r = run("sweep", "chain", "--n", 5, "--beta", "0.5,1", "--seed", 1, "--out", a, "--resume", "--overwrite")
    assert r.exit_code == 2 and "exclude each other" in r.output
    r = run("sweep", "chain", "--n", 5, "--resume")
    assert r.exit_code == 2 and "--resume needs --out" in r.output
    assert a.read_bytes() == before


def test_parse_shard():
    assert parse_shard("2/5") == (2, 5)
    assert parse_shard(None) is None
    env = {"SLURM_ARRAY_TASK_ID": "13", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "4"}
    assert parse_shard("slurm", env) == (3, 4)
    env = {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "6", "SLURM_ARRAY_TASK_STEP": "2"}
    assert parse_shard("slurm", env) == (2, 4)
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(ShardError):
            parse_shard(bad)
    with pytest.raises(ShardError, match="SLURM_ARRAY_TASK_ID is not set"):
        parse_shard("slurm", {})


def test_shard_slurm_outside_a_job_array_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    r = run("sweep", "chain", "--n", 4, "--shard", "slurm", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "job-array" in r.output
    assert not (tmp_path / "x.h5").exists()


# ------------------------------------------------------------------ config files, dry run
def test_toml_config_equals_the_command_line(tmp_path):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text('model = "square"\nL = 3\ndisorder = "pm"\nbeta = [0.1, 0.5, 1.0]\nh = "0:0.2:2"\n'
                   'samples = 2\nseed = 7\nmethod = ["exact"]\n')
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    r = run("sweep", "--config", cfg, "--out", a)
    assert r.exit_code == 0, r.output
    r = run("sweep", "square", "--L", 3, "--disorder", "pm", "--beta", "0.1,0.5,1", "--h", "0:0.2:2",
            "--samples", 2, "--seed", 7, "--method", "exact", "--out", b)
    assert r.exit_code == 0, r.output
    assert_same_results(a, b)
    with h5py.File(a, "r") as f:
        stored = f.attrs["config_toml"]
    # the stored resolved configuration is itself a config file for the same sweep
    (tmp_path / "stored.toml").write_text(stored)
    r = run("sweep", "--config", tmp_path / "stored.toml", "--out", tmp_path / "c.h5")
    assert r.exit_code == 0, r.output
    assert_same_results(tmp_path / "c.h5", a)


def test_command_line_overrides_the_config_file(tmp_path):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text('model = "chain"\nn = 6\nbeta = 0.5\nsamples = 1\n')
    r = run("sweep", "--config", cfg, "--n", 4, "--out", tmp_path / "o.h5", "--json")
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert int(f.attrs["n_spins"]) == 4 and list(f["beta"][()]) == [0.5]


@pytest.mark.parametrize("text, message", [
    ("beta = [0.1,", "not valid TOML"),
    ("temperature = 3", "unknown option 'temperature'"),
    ("beta = {a = 1}", "beta must be"),
])
def test_bad_config_files(tmp_path, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    r = run("sweep", "--config", cfg, "--out", tmp_path / "o.h5")
    assert r.exit_code == 2 and message in r.output, r.output
    assert not (tmp_path / "o.h5").exists()


def test_dry_run_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("sweep", "sk", "--n", 12, "--samples", 3, "--h", "0,0.1", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "6, 6 to compute" in r.output and "estimate" in r.output
    assert list(tmp_path.iterdir()) == []  # not even runs/


# ------------------------------------------------------------------ looking at results
def test_plot_and_show(tmp_path):
    out = tmp_path / "p.h5"
    assert run("sweep", "sk", "--n", 8, "--samples", 3, "--beta", "0:2:9", "--out", out).exit_code == 0
    r = run("plot", out)
    assert r.exit_code == 0, r.output
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    r = run("plot", out, "--out", png)  # an existing figure is not replaced silently
    assert r.exit_code == 2 and "--overwrite" in r.output
    r = run("show", out)
    assert r.exit_code == 0 and "3 of 3 instances" in r.output and "±" in r.output


def test_show_counts_a_partial_file(tmp_path):
    out = tmp_path / "part.h5"
    config = make_config("chain", {"n": 6}, beta="0.5,1", h="0,0.1,0.2")
    run_sweep(config, out, shard=(0, 3))
    r = run("show", out)
    assert r.exit_code == 0 and "1 of 3 instances" in r.output and "shard 0/3" in r.output


def test_provenance_attributes(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    out = tmp_path / "v.h5"
    run_sweep(make_config("chain", {"n": 4}, beta="1"), out)
    with h5py.File(out, "r") as f:
        a = dict(f.attrs)
    assert a["slurm_job_id"] == "4242" and a["hostname"] == os.uname().nodename
    import numba

    assert a["numba_version"] == numba.__version__ and a["numpy_version"] == np.__version__
    assert a["completed"] >= a["created"] and len(a["config_hash"]) == 64


def test_dry_run_estimates_beyond_the_limit_instead_of_refusing(tmp_path, monkeypatch, slow_estimate):
    monkeypatch.chdir(tmp_path)  # the estimate is injected (slow_estimate): a fast machine must not turn this green
    r = run("sweep", "sk", "--n", 40, "--samples", 1, "--beta", "1", "--method", "exact", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["needs_force"] and info["estimated_s"] == 3600 and info["to_compute"] == 1
    assert list(tmp_path.iterdir()) == []
    r = run("sweep", "sk", "--n", 40, "--samples", 1, "--beta", "1", "--method", "exact")
    assert r.exit_code == 2 and "--force" in r.output


@pytest.mark.process
def test_worker_progress_reaches_the_parent(tmp_path):
    from isingvar.parallel import WorkerPool

    config = make_config("sk", {"n": 12}, beta="0.1:2:8", samples=3, methods=["exact", "mf"])
    seen = []
    with WorkerPool(2) as pool:
        summary = run_sweep(config, tmp_path / "p.h5", pool=pool, progress=lambda done, total, label: seen.append((done, total, label)))
    assert summary.computed == 3
    total = 3 * (8 + 15)  # per instance: 8 betas of exact, 2 * 8 - 1 mean-field steps
    assert seen and all(t == total for _, t, _ in seen)
    assert seen[-1][0] == pytest.approx(total)  # every unit arrived, forwarded from the workers
    assert all(label.startswith("sample ") for *_, label in seen)
