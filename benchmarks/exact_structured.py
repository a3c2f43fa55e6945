"""Exact paths beyond enumeration: the UAI-2014 / libDAI model files and an L = 20 open lattice.

    python benchmarks/exact_structured.py [--files ...] [--no-peer] [--no-lattice] [--rows]

Per model file: N, the elimination width, ln Z of the file's model at beta = 1 (``lnZ_model_exact``)
and the seconds of the exact method's run as a sweep does it (the path it picks; with and without
per-site values), after one warm-up run that compiles.  Where pyGMs is installed (the ``bench``
extra), its weighted mini-bucket with iBound above the width of its min-fill order (one bucket per
variable: exact variable elimination) on the same file up to ``--peer-max-width``, its ln Z (checked
against ours to 1e-8) and the time ratio (pyGMs seconds / ours without per-site values).  Then
``square --L 20 --boundary open --disorder gaussian --h 0.1`` on 64 betas (0.05..3), every observable.
With ``--rows`` only the elimination kernels on that lattice, one thread, one beta at a time: ns per
row of a message (sum over steps of 2^k) of the scaled and the log forward passes, and seconds of the
backward (per-site) pass and of min-sum; then the scaled pass alone on L = 8..16 lattices (best of 5).
Timings on a shared machine are noisy: the load average is printed.
"""

import argparse
import glob
import math
import os
import time

import numpy as np

from isingvar.families import make_instance, resolve_params
from isingvar.io.couplings import read_model_file
from isingvar.methods import exact as method

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def pygms_exact(path):
    """(ln Z, seconds) by pyGMs' mini-bucket elimination with an iBound above the min-fill width (exact);
    None when pyGMs is missing."""
    try:
        import pygms as gm
        from pygms.wmb import WMB
    except ImportError:
        return None
    model = gm.GraphModel(gm.readUai(path))
    model.toLog()
    order, width = gm.eliminationOrder(model, "minfill")
    t = time.perf_counter()
    w = WMB(model, order, iBound=int(width) + 2)
    lnz = w.msgForward(0.0, 0.0)  # the basic forward pass: exact with one mini-bucket per bucket
    return lnz, time.perf_counter() - t


def files(args):
    if args.files:
        return args.files
    return sorted(glob.glob(os.path.join(DATA, "uai2014", "*.uai"))) + sorted(glob.glob(os.path.join(DATA, "libdai", "*")))


def lattice20():
    params = resolve_params("square", {"L": 20, "boundary": "open", "disorder": "gaussian"})
    return make_instance("square", params, 0, 0).scaled(1.0, 0.1)


def rows():
    """ns per message row of each elimination pass on the L = 20 lattice, one thread."""
    import numba

    from isingvar.exact import elimination

    numba.set_num_threads(1)
    m = lattice20()
    plan = elimination.structure(m)
    n_rows = int(np.sum(np.left_shift(1, plan.k)))
    work = elimination._Work(plan, m, sites=True)
    work.forward(1.0), work.forward_scaled(1.0), work.backward(), work.ground_state()  # compile
    print(f"L = 20 open gaussian h = 0.1: width {plan.width}, {n_rows:.3e} rows per pass; load {os.getloadavg()}")
    for beta in (0.05, 1.0, 3.0):
        (ok, *_), t_scaled = timed(lambda: work.forward_scaled(beta))
        _, t_back = timed(work.backward)
        _, t_log = timed(lambda: work.forward(beta))
        print(f"beta {beta}: scaled {t_scaled / n_rows * 1e9:.1f} ns/row ({t_scaled:.2f} s, taken: {ok == 1.0}), "
              f"log {t_log / n_rows * 1e9:.1f} ns/row ({t_log:.2f} s), backward {t_back:.2f} s", flush=True)
    _, t_min = timed(work.ground_state)
    print(f"min-sum {t_min:.2f} s; load {os.getloadavg()}")
    # small lattices: a pass takes micro- to milliseconds, so per-step and per-run overheads show
    for side in (8, 10, 12, 14, 16):
        params = resolve_params("square", {"L": side, "boundary": "open", "disorder": "gaussian"})
        small = make_instance("square", params, 0, 0).scaled(1.0, 0.1)
        splan = elimination.structure(small)
        swork = elimination._Work(splan, small, sites=False)
        swork.forward_scaled(1.0)
        reps = max(1, int(1e7 // splan.n_full))
        best = min(timed(lambda: [swork.forward_scaled(1.0) for _ in range(reps)])[1] / reps for _ in range(5))
        print(f"L = {side}: scaled {best / splan.n_full * 1e9:.1f} ns/row ({best * 1e3:.3g} ms per pass, best of 5)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--files", nargs="*")
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--peer-max-width", type=int, default=21,
                   help="run pyGMs only up to this width (at 22 its numpy buckets take many minutes here)")
    p.add_argument("--no-lattice", action="store_true")
    p.add_argument("--rows", action="store_true", help="only the per-row cost of each elimination pass")
    args = p.parse_args()
    if args.rows:
        return rows()
    print(f"load average before: {os.getloadavg()}")
    one = np.array([1.0])
    from isingvar.exact import elimination

    print(f"{'file':>18} {'N':>4} {'width':>5} {'path':>11} {'lnZ_model_exact':>17} {'s (sites)':>9} {'s':>7}"
          f" {'pyGMs lnZ':>14} {'pyGMs s':>8} {'ratio':>6}")
    for path in files(args):
        mf = read_model_file(path)
        m = mf.model
        plan = elimination.structure(m)
        width = plan.width if plan is not None else "-"
        module, _ = method.choose(m, one, sites=True)
        method.run(m, one, None, None, sites=False)  # warm-up: compiles
        with_sites, t_sites = timed(lambda: method.run(m, one, None, None, sites=True))
        _, t_plain = timed(lambda: method.run(m, one, None, None, sites=False))
        lnz = with_sites["lnZ_exact"][0] + mf.lnZ_offset
        use_peer = not args.no_peer and path.endswith(".uai") and plan is not None and plan.width <= args.peer_max_width
        peer = pygms_exact(path) if use_peer else None
        if peer:
            cells = f" {peer[0]:14.6f} {peer[1]:8.2f} {peer[1] / t_plain:6.2f}"
            assert math.isclose(peer[0], lnz, rel_tol=1e-8, abs_tol=1e-8), (peer[0], lnz)
        else:
            cells = f" {'-':>14} {'-':>8} {'-':>6}"
        print(f"{os.path.basename(path):>18} {m.n:4d} {width!s:>5} {method.path_name(module):>11} {lnz:17.9f}"
              f" {t_sites:9.2f} {t_plain:7.2f}{cells}", flush=True)
    if not args.no_lattice:
        m = lattice20()
        betas = np.linspace(0.05, 3.0, 64)
        module, est = method.choose(m, betas, sites=True)
        for sites in (False, True):
            r, t = timed(lambda: method.run(m, betas, None, None, sites=sites))
            print(f"square L=20 open gaussian h=0.1, 64 beta, sites={sites}: {method.path_name(module)}, "
                  f"{t:.1f} s (estimate with sites {est:.1f} s); f(beta=3) = {r['f_exact'][-1]:.12f}", flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
