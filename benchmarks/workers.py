"""Speed-up of a many-instance sweep with 1 and 2 worker processes (``--workers``).

    python benchmarks/workers.py [--workers 1 2]

Each case is a whole ``run_sweep`` into a fresh file (worker start-up, pickling and
the commits included), timed after a warm-up sweep that compiles the kernels.  With
W workers each gets cores // W numba threads, so "1 worker" is the kernel's own
thread parallelism and the ratio shows what instance-level parallelism adds.
"""

import argparse
import tempfile
import time
from pathlib import Path

from isingvar.parallel import WorkerPool, available_cores
from isingvar.sweep import make_config, run_sweep

CASES = {
    # many small exact enumerations: per-instance overhead and short parallel loops dominate
    "sk N=18, 32 samples, 60 beta, exact+mf": ("sk", {"n": 18}, {"samples": 32, "beta": "0.05:3:60"}),
    # exact at a size where the kernel's threads already keep both cores busy
    "sk N=24, 8 samples, 64 beta, exact": ("sk", {"n": 24}, {"samples": 8, "beta": "0.1:3:64", "methods": ["exact"]}),
    # mean field only: the sweep over beta is mostly serial per instance
    "sk N=200, 16 samples, 60 beta, mf": ("sk", {"n": 200}, {"samples": 16, "beta": "0.05:3:60", "methods": ["mf"]}),
}


def timed(config, workers, folder):
    out = Path(folder) / f"w{workers}-{time.monotonic_ns()}.h5"
    with WorkerPool(workers) as pool:
        t = time.perf_counter()
        run_sweep(config, out, pool=pool if workers > 1 else None)
        return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    print(f"cores available: {available_cores()}")
    print(f"{'case':<42} {'workers':>7} {'time s':>8} {'speed-up':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for name, (model, params, grid) in CASES.items():
            config = make_config(model, params, **grid)
            timed(make_config(model, params, **{**grid, "samples": 1}), 1, folder)  # compile
            base = None
            for w in args.workers:
                secs = timed(config, w, folder)
                base = base or secs
                print(f"{name:<42} {w:>7} {secs:>8.2f} {base / secs:>7.2f}x")


if __name__ == "__main__":
    main()
