"""The planar zero-field Pfaffian path (isingvar.exact.planar) on open square lattices.

    OPENBLAS_NUM_THREADS=1 python benchmarks/planar.py [--L 64 128 256 512] [--betas 32] [--beta-max 2]
                                                       [--disorder pm]
    python benchmarks/planar.py --ground-state [--samples 3] --L 128 256 512
    python benchmarks/planar.py --orders --L 256 --beta-max 3 [--betas 6] [--seed 1]

For each L: the coupling-pattern structure (embedding, triangulation, Kasteleyn orientation; once per
pattern, shared by every disorder sample), the reference ground state (PyMatching, once per
instance), the first beta (which also computes the fill-reducing order) and the remaining betas
(factorisations with the order reused), and the total for the beta grid 0.1..BETA_MAX (default 2,
the issue's 0.1:2), lnZ and f, the factorisations run as planar.run runs them (in heap_kept).
Where --check-enumeration N allows (L*L <= N), ln Z is checked against exact enumeration.
With --ground-state: only the reference ground state (PyMatching), per L and disorder sample, and the
number of frustrated faces and of bonds the ground state leaves unsatisfied.
With --orders: per beta, ln |Pf K| by the path's order (MMD on A^T A + A) and by SuperLU's MMD on A^T A
and COLAMD (diagonal pivots each), the path's pivot growth and the largest relative spread of the three:
a consistency check of the precision where no exact reference exists.
"""

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from isingvar.exact import planar
from isingvar.families import make_instance, resolve_params


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--betas", type=int, default=32)
    ap.add_argument("--beta-max", type=float, default=2.0, help="the grid is 0.1..BETA_MAX (the issue's 0.1:2)")
    ap.add_argument("--disorder", default="pm", choices=("pm", "gaussian", "none"))
    ap.add_argument("--check-enumeration", type=int, default=25)
    ap.add_argument("--ground-state", action="store_true", help="time the ground state alone")
    ap.add_argument("--samples", type=int, default=1, help="disorder samples (with --ground-state)")
    ap.add_argument("--orders", action="store_true", help="ln Pf by three fill-reducing orders per beta")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.ground_state:
        return ground_states(a)
    if a.orders:
        return orders(a)
    betas = np.linspace(0.1, a.beta_max, a.betas)
    print(f"load {load()}; {a.betas} betas 0.1..{a.beta_max:g}, disorder {a.disorder}")
    print(f"{'L':>5} {'N':>8} {'M':>8} {'struct s':>9} {'gs s':>7} {'beta1 s':>8} {'per beta s':>10} "
          f"{'total s':>8}")
    for L in a.L:
        model = make_instance("square", resolve_params("square", {"L": L, "boundary": "open",
                                                                  "disorder": a.disorder}), 1, 0)
        planar._structures.clear()
        with planar.heap_kept():  # as planar.run does
            row(a, L, model, betas)
    print(f"load {load()}")


def row(a, L, model, betas):
    t0 = time.perf_counter()
    assert planar.applicable(model, betas, sites=False) is None
    s = planar._structure(model)
    t1 = time.perf_counter()
    _, jg = s.reference(model)
    t2 = time.perf_counter()
    s.log_pfaffian(float(betas[0]), jg)
    t3 = time.perf_counter()
    for b in betas[1:]:
        s.log_pfaffian(float(b), jg)
    t4 = time.perf_counter()
    total = t4 - t0
    per = (t4 - t3) / max(1, betas.size - 1)
    print(f"{L:>5} {L * L:>8} {s.size:>8} {t1 - t0:>9.2f} {t2 - t1:>7.2f} {t3 - t2:>8.2f} {per:>10.3f} "
          f"{total:>8.1f}", flush=True)
    if L * L <= a.check_enumeration:
        from isingvar.exact.enumeration import exact_enumeration

        ref = exact_enumeration(model, betas).lnZ
        got = planar.run(model, betas).lnZ
        print(f"      ln Z against enumeration: max relative difference {np.max(np.abs(got / ref - 1)):.1e}")


def orders(a):
    from scipy.sparse.linalg import splu

    betas = np.linspace(0.1, a.beta_max, a.betas)
    print(f"load {load()}; ln |Pf K| by three orders, disorder {a.disorder}, seed {a.seed}")
    print(f"{'L':>5} {'beta':>6} {'growth':>9} {'ln Pf (path)':>20} {'MMD_ATA - path':>15} {'COLAMD - path':>15} "
          f"{'rel spread':>10}")
    for L in a.L:
        params = resolve_params("square", {"L": L, "boundary": "open", "disorder": a.disorder})
        model = make_instance("square", params, a.seed, 0)
        s = planar._structure(model)
        _, jg = s.reference(model)
        with planar.heap_kept():
            for b in betas:
                lp, growth = s.log_pfaffian(float(b), jg)
                other = []
                for spec in ("MMD_ATA", "COLAMD"):
                    lu = splu(s.matrix(float(b), jg), permc_spec=spec, diag_pivot_thresh=0.0,
                              options={"SymmetricMode": True})
                    other.append(0.5 * float(np.log(np.abs(lu.U.diagonal())).sum()) - lp)
                spread = (max(0.0, *other) - min(0.0, *other)) / abs(lp)
                print(f"{L:>5} {b:>6.3f} {growth:>9.3g} {lp:>20.10f} {other[0]:>15.2e} {other[1]:>15.2e} "
                      f"{spread:>10.1e}", flush=True)
    print(f"load {load()}")


def ground_states(a):
    print(f"load {load()}; ground state alone, disorder {a.disorder}")
    print(f"{'L':>5} {'sample':>6} {'frustrated':>10} {'unsatisfied':>11} {'gs s':>7}")
    for L in a.L:
        params = resolve_params("square", {"L": L, "boundary": "open", "disorder": a.disorder})
        for k in range(a.samples):
            model = make_instance("square", params, 1, k)
            s = planar._structure(model)
            t = time.perf_counter()
            _, jg = s.reference(model)
            dt = time.perf_counter() - t
            bond = np.arange(s.face.size) >> 1
            J = np.zeros(s.eu.size)
            J[s.index >= 0] = model.couplings[s.index[s.index >= 0]]
            odd = np.bincount(s.face, weights=J[bond] < 0) % 2 == 1
            print(f"{L:>5} {k:>6} {int(odd.sum()):>10} {int((jg < 0).sum()):>11} {dt:>7.2f}", flush=True)
    print(f"load {load()}")


if __name__ == "__main__":
    main()
