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
--method mf``.
"""

import argparse
import time

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--full", action="store_true", help="also time mean_field over 64 betas on the largest L")
    args = ap.parse_args()
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
