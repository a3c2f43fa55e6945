"""Time the mean-field kernel against a plain NumPy baseline; print sweeps/s and ratios.

    python benchmarks/meanfield.py [--L 100 300 1000]

Baseline: the same sequential (Gauss-Seidel) update written with NumPy on a scipy-free CSR
(one site at a time: what a NumPy user writes for a sequential update), timed on a few sweeps
and extrapolated per sweep. Then the full ``mean_field`` over 64 betas on the largest lattice.
"""

import argparse
import time

import numpy as np

from isingvar.families import make_instance, resolve_params
from isingvar.kernels.meanfield import _mf_solve
from isingvar.meanfield import mean_field


def numpy_sweep(indptr, indices, data, h, beta, m, max_sites):
    for i in range(max_sites):
        a, b = indptr[i], indptr[i + 1]
        m[i] = np.tanh(beta * (h[i] + data[a:b] @ m[indices[a:b]]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--full", action="store_true", help="also time mean_field over 64 betas on the largest L")
    args = ap.parse_args()
    print(f"{'L':>5} {'N':>8} {'numpy ms/sweep':>15} {'numba ms/sweep':>15} {'ns/site':>8} {'speed-up':>8}")
    for L in args.L:
        model = make_instance("square", resolve_params("square", {"L": L}), 0, 0)
        indptr, indices, data = model.csr
        h = model.fields
        m = np.random.default_rng(0).uniform(-1, 1, model.n)
        _mf_solve(indptr, indices, data, h, 0.3, m.copy(), 1, 0.0)
        sites = min(model.n, 20_000)
        t = time.perf_counter()
        numpy_sweep(indptr, indices, data, h, 0.3, m.copy(), sites)
        t_np = (time.perf_counter() - t) * model.n / sites
        reps = 10
        t = time.perf_counter()
        _mf_solve(indptr, indices, data, h, 0.3, m.copy(), reps, 0.0)
        t_nb = (time.perf_counter() - t) / reps
        print(f"{L:>5} {model.n:>8} {t_np * 1e3:>15.1f} {t_nb * 1e3:>15.2f} {t_nb / model.n * 1e9:>8.1f} {t_np / t_nb:>7.0f}x")
    if args.full:
        L = max(args.L)
        model = make_instance("square", resolve_params("square", {"L": L}), 0, 0)
        betas = np.linspace(0.05, 1.0, 64)
        t = time.perf_counter()
        res = mean_field(model, betas, rng=np.random.default_rng(0), keep_sites=False)
        print(f"mean_field square L={L}, 64 betas: {time.perf_counter() - t:.1f} s, "
              f"converged at {res.converged.sum()}/64 betas, total sweeps of the winners {res.iterations.sum()}")


if __name__ == "__main__":
    main()
