"""Exact enumeration: plain NumPy vs the reference Gray kernel vs the fast (blocked) kernel.

    OPENBLAS_NUM_THREADS=1 python benchmarks/exact.py [--n 20 24 28 32] [--threads 1 2]

For each N, coupling kind (SK: real Gaussian couplings; pmJ: the same graph with +-1 couplings,
integer energies), number of betas (1, or 64 on an arithmetic grid 0.1..3) and thread count it
prints wall time, states/s and state*beta/s, all observables on, with h = 0 (as a sweep's
default). "states" counts all 2^N states even where the h = 0 symmetry enumerates half of them.
Ratios: to the NumPy baseline (where it ran) and, per core, to the "exp limit": the rate of one
vectorised exp per state and beta on one core (the kernel's own exp, _exp_neg, over 2^10 values;
numba's math.exp calls libm and does not vectorise, its rate is printed too), measured at the start
of the run. The fast kernel beats the limit where it forms fewer exps than states x betas.

The NumPy baseline and the reference kernel run only up to --max-slow-n (default 24); beyond,
they would take minutes to hours. Every timed result is checked against the reference or NumPy
(ln Z to 1e-11) where those ran.
"""

import argparse
import math
import os
import time
from functools import partial

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numba
import numpy as np

from isingvar.exact.enumeration import exact_enumeration
from isingvar.families import make_instance, resolve_params
from isingvar.kernels.blocked import _exp_neg
from isingvar.model import IsingModel


@numba.njit(cache=False)
def _libm_exps(y, betas):
    total = 0.0
    for b in betas:
        for v in y:
            total += math.exp(-b * v)
    return total


@numba.njit(cache=False)
def _vector_exps(y, betas, out):
    total = 0.0
    for b in betas:
        _exp_neg(y, b, out)
        total += out[0]
    return total


def exp_rates() -> tuple[float, float]:
    """(vectorised, libm) exp evaluations per second on one core, over 2^10 values and 64 betas."""
    y = np.random.default_rng(0).uniform(0, 20, 1 << 10)
    betas = np.linspace(0.1, 3, 64)
    out = np.empty_like(y)
    reps = 200
    rates = []
    for run in (partial(_vector_exps, y, betas, out), partial(_libm_exps, y, betas)):
        run()
        best = min(timed(lambda run=run: [run() for _ in range(reps)])[0] for _ in range(3))
        rates.append(reps * y.size * betas.size / best)
    return rates[0], rates[1]


def numpy_lnZ(J, h, betas, block=1 << 16):
    """Brute force over blocks of states: one matrix product per block, exp over all betas."""
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


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[20, 24, 28, 32])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--betas", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--max-slow-n", type=int, default=24)
    args = ap.parse_args()
    threads = [t for t in args.threads if t <= numba.config.NUMBA_NUM_THREADS]
    numba.set_num_threads(1)
    exp_limit, libm = exp_rates()
    print(f"cores {os.cpu_count()}, numba threads available {numba.config.NUMBA_NUM_THREADS}; one core: "
          f"vectorised exp {exp_limit / 1e9:.2f} G/s (the exp limit), libm exp {libm / 1e9:.2f} G/s")
    head = f"{'N':>3} {'J':>4} {'nb':>3} {'thr':>3} {'kernel':>9} {'path':>9} {'time s':>8} {'Mstates/s':>10} {'Gst*b/s':>8} {'/core':>6} {'vs numpy':>8} {'vs exp':>6}"
    print(head)
    print("-" * len(head))
    for n in args.n:
        sk = make_instance("sk", resolve_params("sk", {"n": n}), 0, 0)
        kinds = {"SK": sk, "pmJ": IsingModel(n, sk.edge_i, sk.edge_j, np.sign(sk.couplings))}
        for kind, model in kinds.items():
            for nb in args.betas:
                betas = np.array([1.0]) if nb == 1 else np.linspace(0.1, 3.0, nb)
                rows = []
                check = None
                t_np = None
                if n <= args.max_slow_n:
                    numba.set_num_threads(1)
                    t_np, ref_np = timed(partial(numpy_lnZ, model.dense(), model.fields, betas))
                    rows.append(("numpy", "-", 1, t_np))
                    exact_enumeration(model, betas[:1], path="reference")
                    for th in threads:
                        numba.set_num_threads(th)
                        t, r = timed(partial(exact_enumeration, model, betas, path="reference"))
                        rows.append(("reference", "reference", th, t))
                    check = ref_np
                for th in threads:
                    numba.set_num_threads(th)
                    exact_enumeration(model, betas[:1])  # compile outside the timing
                    t, r = timed(partial(exact_enumeration, model, betas))
                    if check is not None:
                        assert np.allclose(r.lnZ, check, rtol=1e-11, atol=0), "fast kernel disagrees"
                    rows.append(("fast", r.path, th, t))
                for name, path, th, t in rows:
                    rate = 2.0**n / t
                    rb = rate * nb
                    vs_np = f"{t_np / t:7.1f}x" if t_np else "       -"
                    print(f"{n:>3} {kind:>4} {nb:>3} {th:>3} {name:>9} {path:>9} {t:>8.3f} {rate / 1e6:>10.0f} "
                          f"{rb / 1e9:>8.2f} {rb / th / 1e9:>6.2f} {vs_np} {rb / th / exp_limit:>5.2f}x")
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


if __name__ == "__main__":
    main()
