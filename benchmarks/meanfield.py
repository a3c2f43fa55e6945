"""Time the mean-field sweeps: NumPy baseline, the sequential kernel, colour-class sweeps; print ratios.

    python benchmarks/meanfield.py [--L 300 1000] [--full]

Per sweep (one run, beta = 0.3, from a random m):

- numpy: the sequential (Gauss-Seidel) update written with NumPy on the CSR arrays, one site at a
  time (what a NumPy user writes for a sequential update), timed on 20,000 sites and extrapolated;
- sequential: :func:`isingvar.kernels.meanfield._mf_solve`, the kernel before colour classes
  (still the path for dense models);
- colour, 1 thread / all threads: :func:`isingvar.kernels.meanfield._colour_solve_wide` on the
  lattice renumbered class by class (two classes on the square lattice), plus one evaluation of
  (U, S) per 10 sweeps as :func:`isingvar.meanfield.mean_field` does.

``--full`` then times ``mean_field`` over 64 betas in 0.05..1 on the largest L, sequential path
(forced through ``MIN_CLASS``) against colour classes, and prints the bounds' largest difference.
The CLI figure of docs/performance.md is ``time isingvar sweep square --L 1000 --beta 0.05:1:64
--method mf``; ``--cli`` runs it and prints wall and CPU time beside main's figure (MAIN_WALL_S,
MAIN_CPU_S: commit 226d88d on the shared machine, docs/performance.md) and the load average.

``--compare DIR`` checks that a change of the solver never lowers the bound: DIR holds another
version of the package (``git archive main | tar -x -C DIR``); both compute ``lnZ_mf_lower`` with
fixed seeds on every family of the tests (h = 0 and 0.3), square L = 64 +-J and SK n = 64 over 40
betas in 0.05..3, and count the run-sweeps (sweeps x runs) of square L = 300 over 64 betas in 0.05..1;
it prints per case the largest (DIR's - this) / max(1, |DIR's|) (> 0: this version is lower there).
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

import isingvar.meanfield as mf
from isingvar.families import make_instance, resolve_params
from isingvar.kernels import meanfield as kern


def numpy_sweep(indptr, indices, data, h, beta, m, max_sites):
    for i in range(max_sites):
        a, b = indptr[i], indptr[i + 1]
        m[i] = np.tanh(beta * (h[i] + data[a:b] @ m[indices[a:b]]))


def best_of(f, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


#: `time isingvar sweep square --L 1000 --beta 0.05:1:64 --method mf` at commit 226d88d (docs/performance.md)
MAIN_WALL_S = 168.0
MAIN_CPU_S = 131.0
CLI = ["sweep", "square", "--L", "1000", "--beta", "0.05:1:64", "--method", "mf"]

#: (family, parameters) of the bound comparison: the test families, square L = 64 +-J and SK n = 64
CASES = [
    ("square", {"L": 64, "disorder": "pm"}), ("sk", {"n": 64}), ("square", {"L": 9}),
    ("square", {"L": 8, "boundary": "open", "disorder": "gaussian"}), ("cubic", {"L": 4, "disorder": "pm"}),
    ("rrg", {"n": 40, "disorder": "gaussian"}), ("chain", {"n": 12}), ("curie-weiss", {"n": 30}),
    ("sk", {"n": 20, "J0": 1.0}),
]


def dump(path):
    """Bounds of every case (3 samples, h = 0 and 0.3, fixed seeds) and run-sweeps of square L = 300, to ``path``."""
    betas = np.linspace(0.05, 3.0, 40)
    out = {}
    for name, params in CASES:
        for sample in range(3):
            model = make_instance(name, resolve_params(name, params), 0, sample)
            for h in (0.0, 0.3):
                r = mf.mean_field(model.scaled(1.0, h), betas, rng=np.random.default_rng([sample, int(h * 10)]),
                                  keep_sites=False)
                out[f"{name} {params} sample {sample} h {h}"] = r.lnZ_lower
    counted = [0]
    advance = mf._Sweeps.advance

    def counting(self, beta, starts, active, step, tol, sweeps, *rest):
        before = int(sweeps.sum())
        advance(self, beta, starts, active, step, tol, sweeps, *rest)
        counted[0] += int(sweeps.sum()) - before

    mf._Sweeps.advance = counting
    model = make_instance("square", resolve_params("square", {"L": 300}), 0, 0)
    t = time.process_time()
    mf.mean_field(model, np.linspace(0.05, 1.0, 64), rng=np.random.default_rng(0), keep_sites=False)
    out["run-sweeps square L=300"] = np.array([counted[0], time.process_time() - t])
    np.savez(path, **out)


def compare(baseline):
    with tempfile.TemporaryDirectory() as tmp:
        res = {}
        for label, pythonpath in (("baseline", baseline), ("this", None)):
            env = dict(os.environ)
            if pythonpath:
                env["PYTHONPATH"] = str(Path(pythonpath).resolve())
            path = Path(tmp) / f"{label}.npz"
            subprocess.run([sys.executable, __file__, "--dump", str(path)], env=env, check=True, cwd=tmp)
            res[label] = dict(np.load(path))
    a, b = res["baseline"], res["this"]
    key = "run-sweeps square L=300"
    print(f"run-sweeps, square L = 300, 64 betas: baseline {int(a[key][0])} ({a[key][1]:.1f} s CPU), "
          f"this {int(b[key][0])} ({b[key][1]:.1f} s CPU): {a[key][0] / b[key][0]:.2f}x fewer")
    worst = -np.inf
    for case in a:
        if case == key:
            continue
        d = (a[case] - b[case]) / np.maximum(1.0, np.abs(a[case]))
        worst = max(worst, d.max())
        print(f"{case:70s} largest (baseline - this)/|baseline| {d.max():+.2e}, smallest {d.min():+.2e}")
    print(f"worst over all cases and betas: {worst:+.2e} (> 1e-12 would mean a lower bound than the baseline)")


def cli():
    exe = Path(sys.executable).with_name("isingvar")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([str(exe), *CLI, "--out", str(Path(tmp) / "l1000.h5")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # no progress lines
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    load_after = os.getloadavg()
    print(f"isingvar {' '.join(CLI)}: wall {wall:.1f} s ({MAIN_WALL_S / wall:.2f}x main's {MAIN_WALL_S:g} s), "
          f"CPU {cpu:.1f} s ({MAIN_CPU_S / cpu:.2f}x main's {MAIN_CPU_S:g} s); load average before {load[0]:.2f}, "
          f"after {load_after[0]:.2f} on {os.cpu_count()} cores")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--full", action="store_true", help="also time mean_field over 64 betas on the largest L")
    ap.add_argument("--cli", action="store_true", help="time the whole CLI command on square L = 1000 (only that)")
    ap.add_argument("--compare", metavar="DIR", help="compare bounds and run-sweeps with the package in DIR (only that)")
    ap.add_argument("--dump", metavar="NPZ", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dump:
        return dump(args.dump)
    if args.compare:
        return compare(args.compare)
    if args.cli:
        return cli()
    threads = numba.get_num_threads()
    print(f"ms per sweep of one run, beta = 0.3; colour columns include (U, S) every 10 sweeps; {threads} threads")
    print(f"{'L':>5} {'N':>8} {'numpy':>9} {'sequential':>11} {'colour 1 th':>12} {f'colour {threads} th':>12}"
          f" {'seq/col1':>9} {f'seq/col{threads}':>9}")
    for L in args.L:
        model = make_instance("square", resolve_params("square", {"L": L}), 0, 0)
        indptr, indices, data = model.csr
        h = model.fields
        m = np.random.default_rng(0).uniform(-1, 1, model.n)
        sites = min(model.n, 20_000)
        t = time.perf_counter()
        numpy_sweep(indptr, indices, data, h, 0.3, m.copy(), sites)
        t_np = (time.perf_counter() - t) * model.n / sites
        reps = 10
        kern._mf_solve(indptr, indices, data, h, 0.3, m.copy(), 1, 0.0)
        t_seq = best_of(lambda: kern._mf_solve(indptr, indices, data, h, 0.3, m.copy(), reps, 0.0)) / reps
        sw = mf._Sweeps(model, coloured=True)
        w = sw.to_order(m[None, :])[0]

        def colour():
            x = w.copy()
            kern._colour_solve_wide(*sw.csr, sw.h, 0.3, sw.cstart, x, reps, 0.0)
            kern._mf_stats_wide(*sw.csr, sw.h, x)

        t_col = {}
        for th in (1, threads):
            with mf.numba_threads(th):
                colour()
                t_col[th] = best_of(colour) / reps
        print(f"{L:>5} {model.n:>8} {t_np * 1e3:>9.1f} {t_seq * 1e3:>11.2f} {t_col[1] * 1e3:>12.2f} "
              f"{t_col[threads] * 1e3:>12.2f} {t_seq / t_col[1]:>8.1f}x {t_seq / t_col[threads]:>8.1f}x")
    if args.full:
        L = max(args.L)
        model = make_instance("square", resolve_params("square", {"L": L}), 0, 0)
        betas = np.linspace(0.05, 1.0, 64)
        out = {}
        for label, min_class in (("sequential", 10**18), ("colour classes", mf.MIN_CLASS)):
            saved, mf.MIN_CLASS = mf.MIN_CLASS, min_class
            try:
                mf.mean_field(model, betas[:1], rng=np.random.default_rng(0), keep_sites=False)  # compile
                t = time.perf_counter()
                res = mf.mean_field(model, betas, rng=np.random.default_rng(0), keep_sites=False)
                dt = time.perf_counter() - t
            finally:
                mf.MIN_CLASS = saved
            out[label] = res
            print(f"mean_field square L={L}, 64 betas, {label}: {dt:.1f} s, converged at {res.converged.sum()}/64 "
                  f"betas, sweeps of the winners {res.iterations.sum()}")
        a, b = out["sequential"].lnZ_lower, out["colour classes"].lnZ_lower
        print(f"largest relative difference of lnZ_lower: {np.max(np.abs(a - b) / np.abs(a)):.2e}; "
              f"colour classes lower at {int(np.sum(b < a))} betas")


if __name__ == "__main__":
    main()
