"""The torus path (isingvar.exact.torus, four signed Pfaffians) on periodic square lattices.

    OPENBLAS_NUM_THREADS=1 python benchmarks/torus.py [--L 8 16 32 64 128] [--betas 8] [--beta-max 3]
                                                      [--disorder pm] [--elimination-max 12] [--no-jets]
    OPENBLAS_NUM_THREADS=1 python benchmarks/torus.py --interior [--L 64]

For each L: the structure (map, triangulation, four orientations, sign table, the interior's fill-reducing
order; once per size), seconds per beta of the whole run (the reference state by PyMatching over all four
boundary conditions included; one Schur step per beta, two beyond the cross-check growth), the betas
computed (the others NaN with precision_lost / precision_not_confirmed) and those with c computed, the
seconds of one real Schur step (the bordered factorisation, T and the four dense Pfaffians: what
:func:`isingvar.exact.torus.work` models), of one carrying the jets for u, s, c through SuperLU's embedding
(timed at every L, also beyond :data:`isingvar.exact.torus.JET_MAX_SIZE`, where runs take the real steps) and of
one carrying them on the paired double kernel (:func:`isingvar.exact.torus.seam_pfaffians_paired`, what runs take
below that size, two per beta) with its ratio to the real step (:data:`isingvar.exact.torus.JET_COST`), the seconds of one double-double step with the jets (the low-temperature
route, :func:`isingvar.exact.torus.seam_pfaffians_dd`) and its ratio to the real step, and, where L <=
--elimination-max, the elimination path's seconds per beta on the same instance and the ratio.

With --interior: per L, the CPU seconds (``time.process_time``, min of 3) of one double-double elimination of the
interior (:meth:`isingvar.exact.torus._Structure.paired_schur`: the supernodal kernel
:func:`isingvar.kernels.ddpfaffian.factor`) with the jets (nt = 3) and without (nt = 1), and of one in double (its
supernodal twin :func:`isingvar.kernels.pairedpfaffian.factor`, what :func:`isingvar.exact.torus.seam_pfaffians_paired`
runs), on a +-J sample's reference gauge at beta 3, and its supernodes (count, columns, largest).
"""

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from isingvar.exact import torus
from isingvar.families import make_instance, resolve_params


def interior(sizes) -> None:
    """Print one line per L: CPU seconds of one interior elimination in double-double and in double, nt = 3 and 1,
    and its supernodes.

    Parameters
    ----------
    sizes : list of int
        The torus sizes L.
    """
    from isingvar.kernels.ddpfaffian import supernodes

    print(f"{'L':>5} {'pairs':>7} {'supernodes':>10} {'largest':>8} {'nt=3 s':>8} {'nt=1 s':>8} {'double nt=3 s':>14} "
          f"{'double nt=1 s':>14}")
    for L in sizes:
        m = make_instance("square", resolve_params("square", {"L": L, "disorder": "pm"}), 1, 0)
        s = torus._structure(L)
        _, _, jg = torus.reference(m, s, torus._index(m, L))
        pf = s.dd_interior()
        first = supernodes(pf.colptr, pf.rows, pf.n - s.n_s // 2)
        cpu = []
        for double in (False, True):
            for order in (2, 0):
                w = s.weights(3.0, jg, order)
                s.paired_schur(w, double)  # compilation and the structure, outside the timing
                best = np.inf
                for _ in range(3):
                    t = time.process_time()
                    s.paired_schur(w, double)
                    best = min(best, time.process_time() - t)
                cpu.append(best)
        print(f"{L:>5} {pf.n:>7} {first.size - 1:>10} {np.diff(first).max():>8} {cpu[0]:>8.3g} {cpu[1]:>8.3g} "
              f"{cpu[2]:>14.3g} {cpu[3]:>14.3g}")


def main() -> None:
    """Print one line per L (seconds, betas computed, ratio to elimination)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    ap.add_argument("--betas", type=int, default=8)
    ap.add_argument("--beta-max", type=float, default=3.0)
    ap.add_argument("--disorder", default="pm", choices=["none", "pm", "gaussian"])
    ap.add_argument("--elimination-max", type=int, default=12)
    ap.add_argument("--no-jets", action="store_true", help="runs without u, s, c (real Schur steps only)")
    ap.add_argument("--interior", action="store_true",
                    help="time the interior elimination only (double-double and double)")
    args = ap.parse_args()
    if args.interior:
        interior(args.L)
        return
    if args.no_jets:
        torus.JET_MAX_SIZE = 0
    betas = np.linspace(0.2, args.beta_max, args.betas)
    print(f"{'L':>5} {'structure s':>12} {'s/beta':>9} {'computed':>9} {'c':>5} {'s/step':>9} {'jet s/step':>11} "
          f"{'paired s':>9} {'paired/real':>11} {'dd s/step':>10} {'dd/real':>8} {'elim s/beta':>12} {'ratio':>7}")
    for L in args.L:
        m = make_instance("square", resolve_params("square", {"L": L, "disorder": args.disorder}), 1, 0)
        t = time.perf_counter()
        torus._structure(L)
        t_struct = time.perf_counter() - t
        b = np.array([x for x in betas if torus.applicable(m, [x], sites=False) is None])
        t = time.perf_counter()
        r = torus.run(m, b)
        per_beta = (time.perf_counter() - t) / max(b.size, 1)
        s = torus._structure(L)
        jg = np.ones(s.eu.size)
        t = time.perf_counter()
        torus.seam_pfaffians(s, 0.5, jg)
        step = time.perf_counter() - t
        torus.seam_pfaffians(s, 0.5, jg, 2)  # the jets' pattern, outside the timing
        t = time.perf_counter()
        torus.seam_pfaffians(s, 0.5, jg, 2)
        jet_step = time.perf_counter() - t
        torus.seam_pfaffians_paired(s, 0.5, jg, 2)  # its structure and compilation, outside the timing
        t = time.perf_counter()
        torus.seam_pfaffians_paired(s, 0.5, jg, 2)
        paired_step = time.perf_counter() - t
        torus.seam_pfaffians_dd(s, 0.5, jg, 2)
        t = time.perf_counter()
        torus.seam_pfaffians_dd(s, 0.5, jg, 2)
        dd_step = time.perf_counter() - t
        elim, ratio = float("nan"), float("nan")
        if L <= args.elimination_max:
            from isingvar.exact import elimination

            if elimination.applicable(m, b, sites=False) is None:
                elimination.run(m, b[:1], sites=False, progress=None)  # compile and order outside the timing
                t = time.perf_counter()
                elimination.run(m, b, sites=False, progress=None)
                elim = (time.perf_counter() - t) / b.size
                ratio = per_beta / elim
        done = int(np.count_nonzero(r.status == 0))
        with_c = int(np.count_nonzero(np.isfinite(r.c)))
        print(f"{L:>5} {t_struct:>12.3g} {per_beta:>9.3g} {done:>4}/{b.size:<4} {with_c:>5} {step:>9.3g} {jet_step:>11.3g} "
              f"{paired_step:>9.3g} {paired_step / step:>11.3g} {dd_step:>10.3g} {dd_step / step:>8.3g} {elim:>12.3g} {ratio:>7.3g}")


if __name__ == "__main__":
    main()
