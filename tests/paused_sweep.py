"""``isingvar sweep`` that pauses, with a marker, once AT_LEAST instances are committed to its file.

Run as ``python -c "import paused_sweep; paused_sweep.main()" MARKER AT_LEAST SWEEP-ARGS...`` with this
directory on PYTHONPATH (spawned workers import this module too).  Every finished instance is committed
at once (COMMIT_OVERHEAD infinite); after the commit that brings the file to AT_LEAST done instances the
marker is written, and from then on no instance starts: the process (or each worker) waits, where a
signal or a kill from the test finds it, mid-sweep whatever the machine's speed.
"""

import math
import os
import pathlib
import sys
import time

_MARKER = "PAUSED_SWEEP_MARKER"  # the environment carries the marker to spawned workers


def _pause_if_marked():
    """Wait forever once the marker exists (a signal or a kill ends the wait)."""
    marker = pathlib.Path(os.environ[_MARKER])
    while marker.exists():
        time.sleep(0.01)


def compute_task(task, progress=None):
    """The pool's entry point (``isingvar.sweep.run._compute_task``), pausing before each instance."""
    from isingvar.sweep import run

    config, instances = task
    out = []
    for inst in instances:
        _pause_if_marked()
        out.append((inst, run.compute_instance(config, *inst, progress=progress)))
    return out


def main():
    marker, at_least, *argv = sys.argv[1:]
    os.environ[_MARKER] = marker
    marker, at_least = pathlib.Path(marker), int(at_least)

    from isingvar.io import store
    from isingvar.sweep import run

    written = 0
    write_points, commit, compute_instance = store.write_points, store.commit, run.compute_instance

    def counting_write_points(f, items):
        nonlocal written
        written += len(items)
        return write_points(f, items)

    def marking_commit(f, path):
        cost = commit(f, path)
        if written >= at_least:
            marker.touch()
        return cost

    def pausing_compute_instance(*args, **kwargs):
        _pause_if_marked()
        return compute_instance(*args, **kwargs)

    store.write_points, store.commit = counting_write_points, marking_commit
    run.COMMIT_OVERHEAD = math.inf  # a commit after every finished instance
    run.compute_instance = pausing_compute_instance  # in this process (--workers 1)
    run._compute_task = compute_task  # in worker processes

    from isingvar_cli.main import app

    sys.argv = ["isingvar", "sweep", *argv]
    app()
