"""Upper and lower bounds on ln Z side by side: TRW (this package), mean field, exact where small,
and pyGMs' weighted mini-bucket (iBound 2 and 4) where ``pip install pyGMs`` worked.

    python benchmarks/bounds.py speed            # TRW on square L=256 and sk n=200, 64 betas each
    python benchmarks/bounds.py uai [FILES...]   # the shared UAI-2014 Grids_* and DBN_* files
                                                 # (--widths 1,2,4: TRW at each trw.width)

UAI files: ln Z_file = ln Z(beta = 1) + lnZ_offset (isingvar.io.couplings.read_model_file).  Values are
printed as ln Z_file and as the relative distance (value - ref)/|ref| from the best reference known
here (exact for N <= 24 by enumeration, else by elimination up to width 22).
"""

import argparse
import glob
import math
import os
import time

import numpy as np

from isingvar.exact.enumeration import exact_enumeration
from isingvar.families import make_instance, resolve_params
from isingvar.io.couplings import read_model_file
from isingvar.meanfield import mean_field
from isingvar.methods import bethe, trw

UAI = "/work/shared/data/uai2014"


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def speed(args):
    betas = np.linspace(0.05, 1.0, 64)
    s = trw.Settings()
    for name, params in (("square", {"L": args.L}), ("sk", {"n": args.n})):
        m = make_instance(name, resolve_params(name, params), 0, 0)
        trw.METHOD.run(m, betas[:2], s, np.random.default_rng(0))  # compile
        r, dt = timed(lambda: trw.METHOD.run(m, betas, s, np.random.default_rng(0)))
        print(f"trw {name} {params} N={m.n} E={m.n_edges}: 64 betas in {dt:.1f} s "
              f"(target 60 s: ratio {dt / 60:.2f}); sweeps {int(r['trw_iterations'].sum())}, "
              f"trees at the last beta {int(r['trw_trees'][-1])}, converged {int(r['trw_converged'].sum())}/64, "
              f"estimate {trw.METHOD.cost(m, betas, s):.1f} s")
        sb = bethe.Settings()
        bethe.METHOD.run(m, betas[:2], sb, np.random.default_rng(0))
        r, dt = timed(lambda: bethe.METHOD.run(m, betas, sb, np.random.default_rng(0)))
        print(f"bethe {name} {params}: 64 betas in {dt:.1f} s, converged {int(r['bethe_converged'].sum())}/64, "
              f"estimate {bethe.METHOD.cost(m, betas, sb):.1f} s")


def wmb(path, ibound, passes=10):
    """pyGMs weighted mini-bucket upper bound on ln Z_file (natural log) and its seconds; None when
    pyGMs is missing.  minfill order, ``passes`` forward (reparameterising, step 0.5, weight step 0.1)
    and backward passes; the least forward bound is kept (each one is a valid bound)."""
    try:
        import pygms as gm
        from pygms.wmb import WMB
    except ImportError:
        return None
    model = gm.GraphModel(gm.readUai(path))
    model.toLog()
    order = gm.eliminationOrder(model, "minfill")[0]
    t = time.perf_counter()
    w = WMB(model, order, iBound=ibound)
    best = math.inf
    for _ in range(passes):
        best = min(best, w.msgForward(0.5, 0.1))
        w.msgBackward()
    return best, time.perf_counter() - t


def uai(args):
    """Per file: TRW at each ``--widths`` (1: spanning trees; W > 1: components of elimination width <= W),
    mean field, exact (enumeration up to 24 spins, elimination up to width 22) and WMB iBound 2 and 4."""
    from dataclasses import replace

    from isingvar.exact import elimination

    files = args.files or sorted(glob.glob(os.path.join(UAI, "Grids_*.uai")) + glob.glob(os.path.join(UAI, "DBN_*.uai")))
    s = trw.Settings(tree_steps=args.tree_steps, max_iterations=args.max_iterations)
    widths = [int(w) for w in args.widths.split(",")]
    print(f"{'file':>12} {'N':>5} " + " ".join(f"{'trw W=' + str(w):>11} {'s':>5}" for w in widths)
          + f" {'mf lower':>11} {'s':>5} {'exact':>11}  wmb(iB2)  wmb(iB4)")
    for path in files:
        mf_ = read_model_file(path)
        m, off = mf_.model, mf_.lnZ_offset
        one = np.array([1.0])
        ups = []
        for w in widths:
            r, t_trw = timed(lambda: trw.METHOD.run(m, one, replace(s, width=w), np.random.default_rng(0)))
            ups.append((r["lnZ_trw_upper"][0] + off, t_trw))
        res, t_mf = timed(lambda: mean_field(m, one, rng=np.random.default_rng(0), keep_sites=False))
        lo = res.lnZ_lower[0] + off
        exact = "-"
        if m.n <= 24:
            exact = f"{exact_enumeration(m, one).lnZ[0] + off:11.4f}"
        else:
            plan = elimination.structure(m)
            if plan is not None and plan.width <= 22:
                exact = f"{elimination.run(m, one).lnZ[0] + off:11.4f}"
        peers = []
        for ib in (2, 4):
            try:
                w = wmb(path, ib)
            except Exception as exc:  # noqa: BLE001 - a peer's failure is reported, not fatal
                w = None
                peers.append(f"error {type(exc).__name__}")
                continue
            peers.append("n/a" if w is None else f"{w[0]:.4f} ({w[1]:.1f} s, trw W={widths[-1]} {ups[-1][0] - w[0]:+.2f})")
        print(f"{os.path.basename(path):>12} {m.n:5d} " + " ".join(f"{u:11.4f} {t:5.1f}" for u, t in ups)
              + f" {lo:11.4f} {t_mf:5.1f} {exact:>11}  " + "  ".join(peers), flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--L", type=int, default=256)
    sp.add_argument("--n", type=int, default=200)
    up = sub.add_parser("uai")
    up.add_argument("files", nargs="*")
    up.add_argument("--tree-steps", type=int, default=trw.Settings().tree_steps)
    up.add_argument("--max-iterations", type=int, default=trw.Settings().max_iterations)
    up.add_argument("--widths", default="1,2,4", help="trw.width values to compare (comma-separated)")
    args = ap.parse_args()
    speed(args) if args.what == "speed" else uai(args)


if __name__ == "__main__":
    main()
