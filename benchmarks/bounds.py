"""Upper and lower bounds on ln Z side by side: TRW (this package), mean field, exact where small,
and pyGMs' weighted mini-bucket (iBound 2 and 4) where ``pip install pyGMs`` worked.

    python benchmarks/bounds.py speed            # TRW on square L=256 and sk n=200, 64 betas each
    python benchmarks/bounds.py uai [FILES...]   # the shared UAI-2014 Grids_* and DBN_* files
                                                 # (--widths 1,2,4: TRW at each trw.width)
    python benchmarks/bounds.py calibrate [--runs ROW:METHOD:WIDTH:CLAMP,...]
                                                 # the budget's cost models against CPU seconds: per
                                                 # run (a fresh process each) the estimate (the method's
                                                 # cost, mf's work_seconds) and the CPU seconds of the
                                                 # costing and the run together, as a sweep does them
    python benchmarks/bounds.py issue22 [--rows ROWS] [--budget 40] [--limit 60]
                                                 # issue 22's table: the certified interval at the old
                                                 # defaults (budget 0: trw width 1 upper, mf lower), the
                                                 # new (the sweep's --bound-budget: trw upper, smf lower
                                                 # at its share) and the widest trw width whose estimated
                                                 # cost fits --limit s, beside WMB iBound 4 (and 12)

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

from isingvar import budget
from isingvar.exact.enumeration import exact_enumeration
from isingvar.families import make_instance, resolve_params
from isingvar.io.couplings import read_model_file
from isingvar.meanfield import mean_field
from isingvar.methods import bethe, mf, smf, trw
from isingvar.model import IsingModel

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


#: issue 22's lattice rows: (label, family, params, field h, betas, explicit trw widths to try, WMB iBounds).
#: Exact ln Z (nats, seed 0 sample 0, field h added to every spin) by variable elimination
#: (isingvar.exact.elimination.run; ``issue22 --exact`` computes them again: the 4^3 glass takes minutes).
ISSUE22_ROWS = {
    "sq16": ("open 16x16 Gaussian, h = 0.1", "square", {"L": 16, "boundary": "open", "disorder": "gaussian"},
             0.1, (0.5, 1.0, 2.0), (4, 8, 12), (4,)),  # width 16 is the whole graph: the new default's rung
    "sq32": ("open 32x32 Gaussian, h = 0.1", "square", {"L": 32, "boundary": "open", "disorder": "gaussian"},
             0.1, (0.5, 1.0, 2.0), (4, 8, 12), (4,)),
    "cub4": ("periodic 4x4x4 +-J", "cubic", {"L": 4, "disorder": "pm"}, 0.0, (0.5, 1.0), (4, 8, 12, 16, 20), (4, 12)),
    "cub6": ("periodic 6x6x6 +-J", "cubic", {"L": 6, "disorder": "pm"}, 0.0, (0.5, 1.0, 2.0), (4, 8, 12, 16, 17, 20),
             (4,)),
}
ISSUE22_EXACT = {
    "sq16": (233.12649436549074, 357.9199698748967, 661.1002402973552),
    "cub4": (67.22411819951692, 116.80285812233976),  # 43 s at load 3
    "sq32": None,  # no exact path with a field (elimination width 32)
    "cub6": None,  # no exact path (elimination width beyond reach)
}
#: issue 22's UAI rows (relative ln Z gaps; exact by elimination, seconds on these files): every Grids, DBN and
#: Segmentation file of shared/data/uai2014, as the issue's target names them.
ISSUE22_UAI = tuple(f"DBN_{k}" for k in range(11, 17)) + tuple(f"Grids_{k}" for k in range(11, 19)) + (
    "Segmentation_11", "Segmentation_12")


def _bounds(m, betas, st, lower):
    """(trw upper, lower bound, trw width, trw clamp, the lower side's construction, seconds) on ``m`` at
    ``betas``; ``lower`` is (method module ``mf`` or ``smf``, its settings)."""
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    up = trw.METHOD.run(m, betas, st, rng)
    method, sl = lower
    name = method.METHOD.name
    lo = method.METHOD.run(m, betas, sl, rng, sites=False)
    built = f"{name} c={int(lo[name + '_clamp'])}" + (f" w={int(lo['smf_width'])}" if name == "smf" else "")
    return (np.asarray(up["lnZ_trw_upper"]), np.asarray(lo[f"lnZ_{name}_lower"]), int(up["trw_width"]),
            int(up["trw_clamp"]), built, time.perf_counter() - t)


def _widest(m, betas, widths, limit):
    """The widest of ``widths`` whose trw cost estimate (isingvar.methods.trw.cost) is <= ``limit`` s, or None."""
    best = None
    for w in widths:
        try:
            c = trw.METHOD.cost(m, betas, trw.Settings(width=w))
        except Exception:  # noqa: BLE001 - a width the library refuses is skipped
            c = math.inf
        if c <= limit:
            best = w
    return best


def _wmb_model(m, beta, ibound, tmp):
    """WMB iBound ``ibound`` upper bound on ln Z of ``m`` at ``beta`` (the model written as UAI at beta)."""
    from isingvar.io.couplings import write_model_file

    scaled = IsingModel(m.n, m.edge_i, m.edge_j, np.asarray(m.couplings) * beta, np.asarray(m.fields) * beta)
    path = os.path.join(tmp, f"m{m.n}_{beta}.uai")
    write_model_file(scaled, path)
    return wmb(path, ibound)


def issue22(args):
    """Issue 22's table: per instance and beta, the certified interval at the old defaults (``--bound-budget
    0``: trw width 1 upper, mf unclamped lower), the new (``--budget`` s as the sweep shares it: trw all,
    smf the lower side at :func:`isingvar.budget.share`) and trw at the widest width whose estimated cost fits ``--limit`` s (mf at the new default), and
    pyGMs WMB's upper bound (its gap to ln Z; with no exact value its interval with the new lower bound).
    Lattices: f per spin (width = (U - L)/(beta N); up = (U - ln Z)/(beta N),
    lo = (ln Z - L)/(beta N)); UAI files (beta = 1): relative gaps (U - ln Z)/|ln Z| etc."""
    import tempfile

    from isingvar.exact import elimination

    rows = args.rows.split(",")
    unknown = [k for k in rows if k not in ISSUE22_ROWS and k not in ISSUE22_UAI]
    if unknown:
        raise SystemExit(f"unknown row {unknown[0]!r}: use {', '.join(list(ISSUE22_ROWS) + list(ISSUE22_UAI))}")
    old = (trw.Settings(), (mf, mf.Settings()))
    new = (trw.Settings(budget=args.budget), (smf, smf.Settings(budget=args.budget * budget.share("smf"))))
    print(f"# issue 22 table: budget {args.budget} s, explicit width within {args.limit} s (trw cost estimate); "
          f"seconds per instance (all betas); load {os.getloadavg()[0]:.1f}", flush=True)
    print("| instance | beta | old: width | up | lo | s | new: width | up | lo | construction | s "
          "| trw W: width | up | s | WMB up (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def gap(x, ref, scale):
        return "-" if ref is None else f"{(x - ref) / scale:.4f}"

    tmp = tempfile.mkdtemp(prefix="bounds22_")
    for key in rows:
        if key in ISSUE22_ROWS:
            label, fam, params, h, betas, widths, ibounds = ISSUE22_ROWS[key]
            m = make_instance(fam, resolve_params(fam, params), 0, 0).scaled(1.0, h)
            b = np.array(betas)
            exact = ISSUE22_EXACT.get(key)
            if args.exact and key != "cub6":
                exact, t_ex = timed(lambda: tuple(elimination.run(m, b).lnZ))
                print(f"# {key} exact {exact!r} ({t_ex:.0f} s)", flush=True)
            scales = [beta * m.n for beta in betas]
            W = _widest(m, b, widths, args.limit)
            ibs = ibounds
        elif key in ISSUE22_UAI:
            label = key
            path = os.path.join(UAI, key + ".uai")
            f = read_model_file(path)
            m, off = f.model, f.lnZ_offset
            b = np.array([1.0])
            exact = (elimination.run(m, b).lnZ[0],)
            scales = [abs(exact[0] + off)]
            W = _widest(m, b, (4, 8, 12, 16), args.limit)
            ibs = (4,)
        else:  # checked above
            continue
        uo, lo_, *_, t_old = _bounds(m, b, *old)
        un, ln, wn, cn, mcn, t_new = _bounds(m, b, *new)
        if W is not None:
            uw, _, *_, t_w = _bounds(m, b, trw.Settings(width=W), new[1])
        for k, beta in enumerate(b):
            ref = None if exact is None else exact[k]
            sc = scales[k]
            peers = []
            for ib in ibs:
                try:
                    w = (wmb(path, ib) if key in ISSUE22_UAI else _wmb_model(m, beta, ib, tmp))
                except Exception as exc:  # noqa: BLE001 - a peer's failure is reported, not fatal
                    peers.append(f"iB{ib} error {type(exc).__name__}")
                    continue
                if w is None:
                    peers.append("n/a")
                    continue
                val = w[0] - (off if key in ISSUE22_UAI else 0.0)
                # no exact value: WMB's interval with the new lower bound, comparable to the width columns
                text = gap(val, ref, sc) if ref is not None else f"width {(val - ln[k]) / sc:.4f}"
                peers.append(f"iB{ib} {text} ({w[1]:.0f})")
            wcol = (f"W={W}: {(uw[k] - ln[k]) / sc:.4f} | {gap(uw[k], ref, sc)} | {t_w:.0f}" if W is not None
                    else "- | - | -")
            print(f"| {label} | {beta:g} | {(uo[k] - lo_[k]) / sc:.4f} | {gap(uo[k], ref, sc)} | "
                  f"{gap(ref, lo_[k], sc) if ref is not None else '-'} | {t_old:.0f} | {(un[k] - ln[k]) / sc:.4f} | "
                  f"{gap(un[k], ref, sc)} | {gap(ref, ln[k], sc) if ref is not None else '-'} | "
                  f"trw W={wn} c={cn}, {mcn} | {t_new:.0f} | {wcol} | {'; '.join(peers)} |", flush=True)


#: calibrate's instances (seed 0, sample 0): issue 22's and the embedded default sweep's (SK N = 16, 60 betas).
CALIBRATE_ROWS = {
    "sq16": ("square", {"L": 16, "boundary": "open", "disorder": "gaussian"}, 0.1, (0.5, 1.0, 2.0)),
    "sq32": ("square", {"L": 32, "boundary": "open", "disorder": "gaussian"}, 0.1, (0.5, 1.0, 2.0)),
    "cub4": ("cubic", {"L": 4, "disorder": "pm"}, 0.0, (0.5, 1.0, 2.0)),
    "cub6": ("cubic", {"L": 6, "disorder": "pm"}, 0.0, (0.5, 1.0, 2.0)),
    "sk16": ("sk", {"n": 16}, 0.0, tuple(np.linspace(0.05, 3.0, 60))),
    # UAI-2014 DBN files (K20,20 .. K22,22 with fields) at beta = 1, the file's own model: family "uai"
    "dbn12": ("uai", {"path": os.path.join(UAI, "DBN_12.uai")}, 0.0, (1.0,)),
    "dbn13": ("uai", {"path": os.path.join(UAI, "DBN_13.uai")}, 0.0, (1.0,)),
    "dbn15": ("uai", {"path": os.path.join(UAI, "DBN_15.uai")}, 0.0, (1.0,)),
}
#: The runs measured for docs/methods.md ("Budgets", 2026-12-07).
CALIBRATE_RUNS = ("sq16:trw:4:0,sq16:trw:8:0,sq16:trw:12:0,sq16:smf:12:0,sq32:trw:1:0,sq32:trw:4:0,sq32:trw:8:0,"
                  "sq32:trw:12:0,sq32:smf:1:0,sq32:smf:8:0,sq32:smf:12:0,sq32:mf:0:4,cub4:trw:12:0,cub4:trw:20:0,"
                  "cub4:smf:12:0,cub6:trw:12:0,cub6:trw:16:0,cub6:trw:20:0,cub6:smf:8:0,cub6:smf:12:0,"
                  "cub6:smf:20:0,cub6:mf:0:6,sk16:trw:15:0,sk16:smf:15:0,sk16:mf:0:3,dbn12:trw:20:0,dbn12:trw:16:0,"
                  "dbn12:smf:16:0,dbn13:trw:20:4,dbn13:smf:20:0")


def calibrate_one(row, method, width, clamp):
    """One calibration run in this process: (estimate, CPU seconds of costing and run, f per spin)."""
    from isingvar.methods import smf

    fam, params, h, betas = CALIBRATE_ROWS[row]
    if fam == "uai":
        m = read_model_file(params["path"]).model
    else:
        m = make_instance(fam, resolve_params(fam, params), 0, 0).scaled(1.0, h)
    b = np.array(betas, dtype=np.float64)
    mod = {"trw": trw, "smf": smf, "mf": mf}[method]
    s = mf.Settings(clamp=clamp) if method == "mf" else mod.Settings(width=width, clamp=clamp)
    small = make_instance("square", resolve_params("square", {"L": 4, "boundary": "open", "disorder": "gaussian"}),
                          0, 0).scaled(1.0, 0.1)  # compiles (or loads) the kernels outside the timing
    if method != "mf":
        mod.METHOD.run(small, b[:2], mod.Settings(width=4, clamp=min(clamp, 1)), np.random.default_rng(0), sites=False)
    mod.METHOD.run(small, b[:2], mod.Settings(), np.random.default_rng(0), sites=False)
    t = time.process_time()
    est = mf.work_seconds(m, b, s) if method == "mf" else mod.METHOD.cost(m, b, s, sites=False)
    out = mod.METHOD.run(m, b, s, np.random.default_rng(0), sites=False)
    cpu = time.process_time() - t
    lnz = np.asarray(out[f"lnZ_{method}_{'upper' if method == 'trw' else 'lower'}"])
    return est, cpu, -lnz / (b * m.n)


def calibrate(args):
    """The cost models against CPU seconds, one fresh process per run (no plan cached from another run)."""
    import json
    import subprocess
    import sys

    print(f"# cost model calibration; load {os.getloadavg()[0]:.1f}; CPU seconds of the costing and the run; "
          f"numba threads {os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    print("| row | method | width | clamp | estimate s | CPU s | CPU / estimate | f per spin (first betas) |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs.split(","):
        row, method, width, clamp = run.split(":")
        code = ("import json, sys; sys.path.insert(0, 'benchmarks'); import bounds; "
                f"e, c, f = bounds.calibrate_one({row!r}, {method!r}, {int(width)}, {int(clamp)}); "
                "print(json.dumps([e, c, [float(x) for x in f[:3]]]))")
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        res = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env)
        if res.returncode:
            print(f"| {row} | {method} | {width} | {clamp} | failed: {res.stderr.strip().splitlines()[-1]} |")
            continue
        e, c, f = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"| {row} | {method} | {width} | {clamp} | {e:.2f} | {c:.2f} | {c / max(e, 1e-9):.2f} | "
              f"{' / '.join(f'{x:.4f}' for x in f)} |", flush=True)


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
    cp = sub.add_parser("calibrate")
    cp.add_argument("--runs", default=CALIBRATE_RUNS, help="ROW:METHOD:WIDTH:CLAMP,... (rows: "
                    + ", ".join(CALIBRATE_ROWS) + ")")
    ip = sub.add_parser("issue22")
    ip.add_argument("--rows", default=",".join(list(ISSUE22_ROWS) + list(ISSUE22_UAI)))
    ip.add_argument("--budget", type=float, default=budget.DEFAULT_BUDGET,
                    help="the new default --bound-budget (s per instance, trw's; smf takes its share)")
    ip.add_argument("--limit", type=float, default=60.0, help="seconds the explicit trw width may take (estimate)")
    ip.add_argument("--exact", action="store_true", help="compute the lattices' exact ln Z again (minutes)")
    args = ap.parse_args()
    {"speed": speed, "uai": uai, "issue22": issue22, "calibrate": calibrate}[args.what](args)


if __name__ == "__main__":
    main()
