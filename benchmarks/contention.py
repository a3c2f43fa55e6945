"""Sweeps on a machine where another process keeps one core busy (a shared cluster node).

    python benchmarks/contention.py [--repeat 5] [--core 0]

Each case is a whole ``isingvar sweep`` command in a fresh process (start-up,
imports, loading the cached kernels and the commits included), timed by wall
clock, first on the machine as it is ("idle") and then with a ``while True``
Python loop pinned to one core (``taskset -c CORE``).  Each time is the minimum
of ``--repeat`` runs: on a machine shared with other people the minimum is the
run least disturbed by them.  The ratio busy / idle is what a shared node costs;
the target is at most 2 for the default sweep.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ISINGVAR = [str(Path(sys.executable).parent / "isingvar")]

CASES = {
    "default sweep (sk N=16, 4 samples, 60 beta, exact+mf)": [],
    "sk N=20, 24 samples, mf, 1 process": ["sk", "--n", "20", "--samples", "24", "--method", "mf", "--workers", "1"],
    "sk N=20, 24 samples, mf, 2 workers": ["sk", "--n", "20", "--samples", "24", "--method", "mf", "--workers", "2"],
    "sk N=8, 1000 samples, 1 beta, exact": ["sk", "--n", "8", "--samples", "1000", "--beta", "0.5", "--method", "exact"],
    # large enough for the kernel's threads: with a core taken, a thread's chunks wait for it
    "sk N=27, 1 sample, 60 beta, exact (2 threads)": ["sk", "--n", "27", "--samples", "1", "--method", "exact"],
}


def run(args, folder) -> float:
    out = Path(folder) / f"c{time.monotonic_ns()}.h5"
    t = time.perf_counter()
    subprocess.run([*ISINGVAR, "sweep", *args, "--out", str(out), "--json"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def busy(core: int):
    """A Python busy loop pinned to ``core``."""
    cmd = [sys.executable, "-c", "while True: pass"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core), *cmd]
    return subprocess.Popen(cmd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--core", type=int, default=0)
    args = ap.parse_args()
    import numba

    from isingvar.parallel import available_cores

    print(f"cores available: {available_cores()}, numba {numba.__version__}, "
          f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        run([], folder)  # compile / fill the cache
        times = {}
        for state in ("idle", "busy"):
            hog = busy(args.core) if state == "busy" else None
            try:
                for name, case in CASES.items():
                    times[name, state] = min(run(case, folder) for _ in range(args.repeat))
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    print(f"{'case':<56} {'idle s':>7} {'busy s':>7} {'ratio':>6}")
    for name in CASES:
        idle, loaded = times[name, "idle"], times[name, "busy"]
        print(f"{name:<56} {idle:>7.2f} {loaded:>7.2f} {loaded / idle:>6.2f}")


if __name__ == "__main__":
    main()
