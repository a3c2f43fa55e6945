"""Time exact enumeration against a plain NumPy brute force; print states/s and ratios.

    OPENBLAS_NUM_THREADS=1 python benchmarks/exact.py [--n 16 18 20 22] [--betas 1 64]

The NumPy baseline evaluates E for blocks of 2^16 states with one matrix product per block (the
fastest straightforward NumPy), then one exp per state and beta. Both compute ln Z for the same SK
instance; the script checks that they agree before it reports a time.
"""

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numba
import numpy as np

from isingvar.exact import exact_enumeration
from isingvar.families import make_instance, resolve_params


def numpy_lnZ(J, h, betas, block=1 << 16):
    n = h.size
    shift = None
    acc = np.zeros(betas.size)
    idx = np.arange(block)
    for start in range(0, 1 << n, block):
        t = idx[: min(block, (1 << n) - start)] + start
        s = 1.0 - 2.0 * ((t[:, None] >> np.arange(n)) & 1)
        E = -0.5 * np.einsum("ki,ki->k", s @ J, s) - s @ h
        a = -betas[:, None] * E[None, :]
        top = a.max(1)
        if shift is None:
            shift = top
        new = np.maximum(shift, top)
        acc = acc * np.exp(shift - new) + np.exp(a - new[:, None]).sum(1)
        shift = new
    return np.log(acc) + shift


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[16, 18, 20, 22])
    ap.add_argument("--betas", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"numba threads: {numba.get_num_threads()}, cores: {os.cpu_count()}")
    print(f"{'N':>3} {'nbeta':>5} {'numpy s':>9} {'isingvar s':>10} {'isingvar Mstate/s':>17} {'Mstate*beta/s':>13} {'speed-up':>8}")
    for n in args.n:
        model = make_instance("sk", resolve_params("sk", {"n": n}), 0, 0).scaled(1.0, 0.1)
        J, h = model.dense(), model.fields
        for nb in args.betas:
            betas = np.linspace(0.1, 3.0, nb)
            exact_enumeration(model, betas[:1])  # compile
            t_fast, res = best_of(lambda: exact_enumeration(model, betas), args.repeat)
            t_np, ref = best_of(lambda: numpy_lnZ(J, h, betas), 1)
            assert np.allclose(res.lnZ, ref, rtol=1e-11), "isingvar and numpy disagree"
            states = 2.0**n
            print(f"{n:>3} {nb:>5} {t_np:>9.3f} {t_fast:>10.3f} {states / t_fast / 1e6:>17.1f} "
                  f"{states * nb / t_fast / 1e6:>13.1f} {t_np / t_fast:>7.1f}x")


if __name__ == "__main__":
    main()
