"""Cost per instance of a sweep over many small instances (disorder averages), and the fixed cost.

    python benchmarks/many_instances.py [--samples 250 1000 4000 20000] [--workers W]

Each case is a whole ``isingvar sweep sk --n 8 --beta 0.5 --method exact
--samples S`` in a fresh process; "elapsed" is the file's ``elapsed_s`` (the
run from the creation of the file to the last commit), "wall" the command's
wall-clock time (interpreter start, imports and the time probe included).  The
seconds per instance must not grow with S.  The last line is the fixed cost:
``isingvar sweep sk --n 20 --beta 1 --method exact`` (4 instances of 2^19
states).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ISINGVAR = str(Path(sys.executable).parent / "isingvar")


def sweep(args, folder):
    out = Path(folder) / f"m{time.monotonic_ns()}.h5"
    t = time.perf_counter()
    r = subprocess.run([ISINGVAR, "sweep", *args, "--out", str(out), "--json"], check=True,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    out.unlink()
    return wall, json.loads(r.stdout)["elapsed_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, nargs="+", default=[250, 1000, 4000, 20000])
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    workers = [] if args.workers is None else ["--workers", str(args.workers)]
    print(f"{'samples':>8} {'wall s':>8} {'elapsed s':>10} {'ms/instance':>12}")
    with tempfile.TemporaryDirectory() as folder:
        sweep(["sk", "--n", "8", "--samples", "2", "--beta", "0.5", "--method", "exact"], folder)  # compile
        for s in args.samples:
            wall, elapsed = sweep(["sk", "--n", "8", "--samples", str(s), "--beta", "0.5", "--method", "exact", *workers],
                                  folder)
            print(f"{s:>8} {wall:>8.2f} {elapsed:>10.2f} {1e3 * elapsed / s:>12.3f}", flush=True)
        wall, elapsed = min(sweep(["sk", "--n", "20", "--beta", "1", "--method", "exact"], folder) for _ in range(3))
        print(f"fixed cost, sk N=20, 4 samples, 1 beta, exact: wall {wall:.2f} s, elapsed_s {elapsed:.3f} s")


if __name__ == "__main__":
    main()
