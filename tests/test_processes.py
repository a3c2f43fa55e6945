"""Processes, threads, signals and the per-instance cost of a sweep (issue 10, items 1, 2, 3, 6, 8, 9, 12).

No test here times anything: estimates are injected, costs are counted.
"""

import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from waiting import wait_for

from isingvar.families import make_instance, resolve_params


def test_real_estimate_is_compared_with_the_limit():
    # the limit tests inject the estimate (conftest.slow_estimate); this one keeps the real timing in
    # the loop, speed-independently, by moving the limit below whatever this machine measures
    import dataclasses

    from isingvar.exact import enumeration as exact
    from isingvar.sweep import estimate_time, make_config

    config = make_config("sk", {"n": 30}, beta="1", samples=8, methods=["exact"], force=True)
    estimate = estimate_time(config, limited_only=True)
    secs = estimate.per_method["exact"]
    assert 0 < secs < math.inf and estimate.limits == {"exact": exact.MAX_SECONDS}
    moved = dataclasses.replace(estimate, limits={"exact": secs / 4})  # 8 instances: 32 times over
    assert moved.over == ["exact"] and moved.over_limit
    assert "--force" in moved.refusal() and "8 instance(s)" in moved.refusal()


# ------------------------------------------------------------------ item 2: small work runs serially
def test_kernel_threads_decision():
    from isingvar.parallel import kernel_threads

    assert kernel_threads(work=1e3, parts=8, min_work=1e6, available=16) == 1  # tiny: serial
    assert kernel_threads(work=1e9, parts=1, min_work=1e6, available=16) == 1  # one chunk: nothing to share
    assert kernel_threads(work=1e9, parts=8, min_work=1e6, available=16) == 8  # no more threads than parts
    assert kernel_threads(work=3e6, parts=8, min_work=1e6, available=16) == 3  # each thread >= min_work
    assert kernel_threads(work=1e9, parts=64, min_work=1e6, available=2) == 2  # no more than there are


def test_small_instances_run_serially_large_ones_in_parallel(monkeypatch):
    import isingvar.meanfield as mf
    from isingvar.exact import enumeration as exact

    def model(n):
        return make_instance("sk", resolve_params("sk", {"n": n}), 0, 0)

    monkeypatch.setattr("numba.get_num_threads", lambda: 16)
    assert exact._threads(exact._plan(model(16), "chain"), 60, "chain") == 1  # the default sweep's instances
    assert exact._threads(exact._plan(model(8), "direct"), 1, "direct") == 1
    plan = exact._plan(model(28), "chain")  # 2^(27 - 22) = 32 chunks of 2^22 states
    assert exact._threads(plan, 60, "chain") == 16
    assert exact._threads(exact._plan(model(24), "direct"), 1, "direct") == 2  # two chunks: two threads pay
    assert mf._threads(model(20).csr, 5, 10) == 1  # sk N = 20: a block of sweeps is microseconds
    assert mf._threads(model(400).csr, 5, 10) == 5


def test_exact_enumeration_sets_the_chosen_threads(monkeypatch):
    from isingvar.exact import enumeration as exact
    from isingvar.parallel import numba_threads

    seen = []

    def spy(threads):
        seen.append(threads)
        return numba_threads(threads)

    monkeypatch.setattr(exact, "numba_threads", spy)
    exact.exact_enumeration(make_instance("sk", resolve_params("sk", {"n": 16}), 0, 0), np.linspace(0.1, 3, 60))
    assert seen == [1]


# ------------------------------------------------------------------ item 3: constant cost per instance
def _count_writes(monkeypatch, samples, tmp_path):
    """(h5py dataset writes, commits) of a sweep of ``samples`` tiny instances, committed only at its ends."""
    import h5py

    from isingvar import sweep
    from isingvar.io import store

    counts = {"writes": 0, "commits": 0}
    setitem, commit = h5py.Dataset.__setitem__, store.commit

    def counting_setitem(self, key, value):
        counts["writes"] += 1
        return setitem(self, key, value)

    def counting_commit(f, path):
        counts["commits"] += 1
        return commit(f, path)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", counting_setitem)
    monkeypatch.setattr(store, "commit", counting_commit)
    monkeypatch.setattr(sweep.run, "COMMIT_OVERHEAD", 1e-12)  # no commit by time: the count does not depend on speed
    config = sweep.make_config("sk", {"n": 6}, beta="0.5,1", samples=samples, methods=["exact", "mf"])
    sweep.run_sweep(config, tmp_path / f"w{samples}.h5")
    return counts["writes"], counts["commits"]


def test_writes_and_commits_do_not_grow_with_the_samples(monkeypatch, tmp_path):
    # a write into a compressed dataset recompresses the chunks it touches: one write per instance and
    # variable made the cost per instance grow with the sweep (2,000 samples of N = 8: 85 s)
    small = _count_writes(monkeypatch, 10, tmp_path)
    large = _count_writes(monkeypatch, 400, tmp_path)
    assert large == small
    assert small[1] == 2  # created, finished


def test_a_sweep_builds_each_instance_once(monkeypatch, tmp_path):
    # built when the file is created and again when computed: 35 % of the time per small instance
    from isingvar import families, sweep

    built = []
    real = families.sample_rng
    monkeypatch.setattr(families, "sample_rng", lambda seed, k: built.append(k) or real(seed, k))
    config = sweep.make_config("sk", {"n": 6}, beta="0.5", h="0,0.1", samples=300, seed=987654, methods=["exact"])
    sweep.run_sweep(config, tmp_path / "r.h5")
    assert sorted(built) == list(range(300))


class _CountingPool:
    """A pool in this process that counts its tasks (the sweep sees only imap_unordered)."""

    def __init__(self, workers):
        self.workers, self.tasks = workers, 0

    def imap_unordered(self, func, iterable, progress=None):
        for item in iterable:
            self.tasks += 1
            yield func(item, progress)


@pytest.mark.parametrize("samples", [40, pytest.param(4000, marks=pytest.mark.slow)])
def test_pool_tasks_do_not_grow_with_the_samples(tmp_path, samples):
    # a pool task costs ~1 ms (the config pickled, two pipes, a future): one per instance made
    # 20,000 samples of N = 8 take 44 s on two workers against 13 s in one process
    from isingvar import sweep

    pool = _CountingPool(2)
    config = sweep.make_config("sk", {"n": 6}, beta="0.5", samples=samples, methods=["exact"])
    summary = sweep.run_sweep(config, tmp_path / "r.h5", pool=pool)
    assert summary.computed == samples
    assert pool.tasks <= 2 * sweep.TASKS_PER_WORKER
    reference = sweep.run_sweep(config, tmp_path / "s.h5")  # in one process, instance by instance
    import h5py

    with h5py.File(tmp_path / "r.h5") as a, h5py.File(tmp_path / "s.h5") as b:
        for name in ("lnZ_exact", "c_exact", "done", "couplings"):
            np.testing.assert_array_equal(a[name][()], b[name][()])
    assert reference.computed == samples


def test_task_groups(monkeypatch):
    from isingvar import sweep
    from isingvar.sweep import estimate

    config = sweep.make_config("sk", {"n": 8}, beta="0.5", samples=2)
    todo = [(k, 0, 0) for k in range(1001)]
    monkeypatch.setattr(estimate, "instance_seconds", lambda config, **kw: 1e-3)  # short instances: grouped
    groups = sweep.task_groups(todo, 2, config)
    assert [inst for g in groups for inst in g] == todo  # every instance once, in order
    assert len(groups) <= 2 * sweep.TASKS_PER_WORKER
    assert sweep.task_groups(todo[:5], 2, config) == [[t] for t in todo[:5]]
    monkeypatch.setattr(estimate, "instance_seconds", lambda config, **kw: sweep.TASK_SECONDS)
    assert sweep.task_groups(todo, 2, config) == [[t] for t in todo]  # long instances: one per task


# ------------------------------------------------------------------ item 6: signals during the setup
# Runs the real CLI in a real process, with one setup phase made slow and marked: `phase` "probe" stretches
# make_config's time probe, "instances" the storing of every sample's instance.  There the time goes into
# a finaliser, as it does in h5py (object ids are closed from __del__ and weakref callbacks): a
# KeyboardInterrupt raised there by a signal handler is printed as "Exception ignored in ..." and lost,
# which is how SIGTERM and SIGINT were swallowed while a many-sample file was created.
SLOW_SETUP = r"""
import pathlib, sys, time
import isingvar.exact.enumeration, isingvar.sweep
from isingvar.families import make_instance

marker, phase, *argv = sys.argv[1:]
marker = pathlib.Path(marker)

def slow_probe(*args, **kwargs):
    marker.touch()
    time.sleep(120)

class Finaliser:
    def __del__(self):
        time.sleep(0.01)

def slow_instance(name, params, seed, sample):
    if sample >= 3:
        marker.touch()
        Finaliser()
    return make_instance(name, params, seed, sample)

if phase == "probe":
    isingvar.exact.enumeration.estimate_seconds = slow_probe  # the exact method's cost: the time probe
else:
    isingvar.sweep.run.make_instance = slow_instance  # where the run loop builds the instances
from isingvar_cli.main import app
sys.argv = ["isingvar", *argv]
app()
"""


def _signal_during_setup(tmp_path, phase, signum):
    marker, out = tmp_path / "marker", tmp_path / "r.h5"
    marker.unlink(missing_ok=True)
    args = ["sweep", "sk", "--n", "4", "--samples", "20000", "--workers", "1", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SETUP, str(marker), phase, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        wait_for(marker.exists, f"the {phase} phase began", proc=proc)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=20)  # the setup alone would take minutes
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, stderr, out


@pytest.mark.process
def test_sigterm_during_the_time_probe_stops_cleanly(tmp_path):
    code, stderr, out = _signal_during_setup(tmp_path, "probe", signal.SIGTERM)
    assert code == 130, stderr  # not killed by the signal's default action
    assert stderr.strip().splitlines() == ["error: interrupted; no result file was written"]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".r.h5")]


@pytest.mark.process
def test_signals_while_instances_are_stored_stop_the_run(tmp_path):
    for signum in (signal.SIGTERM, signal.SIGINT):
        code, stderr, out = _signal_during_setup(tmp_path, "instances", signum)
        assert code == 130, stderr
        assert "Exception ignored" not in stderr and "Traceback" not in stderr, stderr
        assert stderr.strip().splitlines()[-1] == "error: interrupted; no result file was written", stderr
        assert not out.exists()


# ------------------------------------------------------------------ item 8: workers die with their parent
def _children(pid):
    """Pids of the live (not zombie) processes whose parent is ``pid``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def _cmdline(pid) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
@pytest.mark.process
def test_workers_die_when_their_parent_is_killed(tmp_path):
    from isingvar.parallel import PARENT_POLL

    isingvar = os.path.join(os.path.dirname(sys.executable), "isingvar")
    proc = subprocess.Popen([isingvar, "sweep", "sk", "--n", "22", "--samples", "200", "--workers", "2",
                             "--out", str(tmp_path / "w.h5"), "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers = []

        def started():  # the pool's workers (the resource tracker is a child too, without a worker's args)
            workers[:] = [c for c in _children(proc.pid)
                          if b"spawn_main" in (cmd := _cmdline(c)) and b"resource_tracker" not in cmd]
            return len(workers) >= 2

        wait_for(started, "the sweep started its two workers", proc=proc)
        proc.kill()
        proc.wait()
        wait_for(lambda: not any(_alive(w) for w in workers), "the workers ended after their parent",
                 interval=PARENT_POLL / 10)
    finally:
        for w in workers if "workers" in locals() else []:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
        proc.kill()


# ------------------------------------------------------------------ item 12: more workers than cores
def test_workers_are_capped_at_the_cores():
    from isingvar.sweep import choose_workers, make_config

    config = make_config("sk", {"n": 20}, methods=["ar"], samples=8)  # seconds per instance (its cost formula)
    assert choose_workers(None, config, 8) == (8, None)
    assert choose_workers(2, config, 8) == (2, None)
    workers, note = choose_workers(16, config, 2)
    assert workers == 2 and "--workers 16" in note and "2 core" in note


def test_cli_warns_when_it_caps_the_workers(tmp_path, monkeypatch):
    from isingvar_cli.main import app
    from typer.testing import CliRunner

    monkeypatch.setattr("isingvar.parallel.available_cores", lambda: 2)
    r = CliRunner().invoke(app, ["sweep", "sk", "--n", "4", "--samples", "1", "--workers", "16",
                                 "--out", str(tmp_path / "r.h5"), "--json"])
    assert r.exit_code == 0, r.output
    assert r.stderr.strip().splitlines() == [
        "warning: --workers 16 is more than the 2 core(s) this process may use; running 2"]


# ------------------------------------------------------------------ item 9: numba can cache nowhere
NO_CACHE_PLACE = r"""
import warnings
warnings.simplefilter("always")
import numpy as np
from isingvar.kernels.energy import _energy
from isingvar.model import IsingModel

m = IsingModel(3, [0, 1], [1, 2], [1.0, -2.0], [0.5, 0.0, 0.0])
print(_energy(*m.csr, m.fields, np.ones(3)))
"""


def _import_kernels_without_a_cache_place(tmp_path):
    # a read-only install with a read-only HOME, injected (chmod does not bind root): numba may only use
    # NUMBA_CACHE_DIR, and that is under a regular file
    (tmp_path / "file").touch()
    env = dict(os.environ, NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator",
               NUMBA_CACHE_DIR=str(tmp_path / "file" / "cache"), TMPDIR=str(tmp_path))
    env.pop("ISINGVAR_NUMBA_CACHE", None)
    return subprocess.run([sys.executable, "-c", NO_CACHE_PLACE], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, check=False)


@pytest.mark.process
def test_kernels_are_cached_in_a_temporary_directory_when_nowhere_else(tmp_path):
    r = _import_kernels_without_a_cache_place(tmp_path)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == -1.0 + 2.0 - 0.5  # E = -J01 s0 s1 - J12 s1 s2 - h0 s0 at all spins up
    place = tmp_path / f"isingvar-numba-{os.getuid()}"
    assert f"cached in {place}" in r.stderr and "NUMBA_CACHE_DIR" in r.stderr
    assert list(place.rglob("*.nbi"))  # the kernel is cached there


@pytest.mark.process
def test_kernels_compile_uncached_when_no_directory_is_writable(tmp_path):
    (tmp_path / f"isingvar-numba-{os.getuid()}").touch()  # the temporary place is taken by a file
    r = _import_kernels_without_a_cache_place(tmp_path)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == 0.5
    assert "every process compiles the kernels" in r.stderr and "NUMBA_CACHE_DIR" in r.stderr


# The portable fallback alone (no prctl): a "parent" process starts a child that watches it.  The watch's
# first sleep writes the marker: by then it has looked at its parent once and found it alive.
WATCHED_CHILD = r"""
import os, pathlib, subprocess, sys, time, types
script, role, marker, *rest = sys.argv
if role == "parent":
    child = subprocess.Popen([sys.executable, "-c", rest[0], "child", marker, str(os.getpid())])
    print(child.pid, flush=True)
    time.sleep(600)
else:
    import isingvar.parallel

    def sleep(seconds):
        pathlib.Path(marker).touch()
        time.sleep(seconds)

    isingvar.parallel.time = types.SimpleNamespace(sleep=sleep)
    isingvar.parallel._die_with_parent(int(rest[0]), kernel_signal=False)
    time.sleep(600)
"""


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
@pytest.mark.process
def test_watchdog_ends_a_worker_whose_parent_died(tmp_path):
    from isingvar.parallel import PARENT_POLL

    marker = tmp_path / "watching"
    parent = subprocess.Popen([sys.executable, "-c", WATCHED_CHILD, "parent", str(marker), WATCHED_CHILD],
                              stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        wait_for(lambda: marker.exists() or not _alive(child), "the child's watch looked at its parent")
        assert _alive(child)  # it must not exit while the parent lives
        parent.kill()
        parent.wait()
        wait_for(lambda: not _alive(child), "the child ended after its parent", interval=PARENT_POLL / 10)
    finally:
        parent.kill()
        if _alive(child):
            os.kill(child, signal.SIGKILL)


# numba's compiler, entered once the result file exists (committed when created, before the first
# instance): it writes the marker and takes 120 s more, so a Ctrl-C held until it returns shows as a
# timeout whatever the machine's speed
SLOW_COMPILE = r"""
import pathlib, sys, time
from numba.core.dispatcher import Dispatcher

marker, out, *argv = sys.argv[1:]
compile_for_args = Dispatcher._compile_for_args

def slow_compile(self, *args, **kwargs):
    if pathlib.Path(out).exists():
        pathlib.Path(marker).touch()
        time.sleep(120)
    return compile_for_args(self, *args, **kwargs)

Dispatcher._compile_for_args = slow_compile
from isingvar_cli.main import app
sys.argv = ["isingvar", *argv]
app()
"""


@pytest.mark.process
def test_ctrl_c_while_the_kernels_compile(tmp_path):
    # without numba's cache the first kernel call compiles for seconds (12 s here); that used to happen
    # with signals held, so Ctrl-C waited for the compiler; now the compiler runs with them live
    out, marker = tmp_path / "c.h5", tmp_path / "compiling"
    env = dict(os.environ, ISINGVAR_NUMBA_CACHE="0")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_COMPILE, str(marker), str(out), "sweep", "sk", "--n", "12",
                             "--samples", "2", "--beta", "1", "--method", "exact", "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(marker.exists, "a kernel began to compile after the file was created", proc=proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)  # held for the compile: 120 s
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 75, stderr
    assert "0 of 2 instances are saved" in stderr
