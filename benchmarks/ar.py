"""The autoregressive method (ar) against exact values and mean field; its speed.  Not a test: it prints.

    python benchmarks/ar.py sk20      # SK N=20, 8 samples, beta 0.5,1,2,3: mean relative f error, ar vs mf
    python benchmarks/ar.py square    # 2D +-J glass L=16 open (exact by elimination): IS within 3 SE, f error
    python benchmarks/ar.py sk100     # SK N=100, 32 betas 0.1..2, default settings, one instance: seconds
    python benchmarks/ar.py lattice   # issue 23's table: 16x16 ferromagnetic torus at 0.3, 0.4407 and the
                                      # open 16x16 +-J seed 7 at 0.5, 1, 2, 3 against the exact 2D paths
    python benchmarks/ar.py cost      # the cost model against the CPU seconds of short runs
    python benchmarks/ar.py coverage  # issue 23: the glass's q at each beta evaluated ten times per annealing
                                      # length T (--ais-list 0,4: plain IS against AIS on the same q): mean
                                      # error, within 3 SE, k-hat, ESS, CPU s (--save/--load the trained q;
                                      # --refine R: R forward-KL steps on each q first)

Targets (issue 13): sk20 mf error / ar error >= 10 at every beta; square at beta = 1 |lnZ_ar_is - lnZ|
<= 3 SE and |f_ar_upper - f| <= 1e-3 per spin; sk100 <= 300 s on 2 cores.  Default ar settings
unless ``--steps`` etc. are given.  Issue 23 (lattice): ELBO relative error <= 5e-4 and ESS >= 5,000 on
the torus; ESS >= 1,000, IS within 3 SE and ELBO f error <= 2e-3 per spin on the glass.

``lattice`` at the defaults (2,000 steps, lr 0.01 cosine to 3e-4, stop at ESS 0.9, T = 10 annealing steps with
proposals from q, 150 forward-KL steps where the ESS rule is not met), EPYC, 15:26-15:40 UTC, 2026-12-07, CI
beside it (docs/performance.md, "Autoregressive"; CPU s of the process per beta, evaluation included; the first
row also the method's start-up: mean field, the kernels' loading):

    instance            beta   ELBO rel.err  ELBO f err/spin   ESS      IS err/SE   status   steps   CPU s
    16x16 ferro torus  0.3000      2.27e-04         5.98e-04     9880       -1.01        0     600     35.6
    16x16 ferro torus  0.4407      3.54e-04         7.49e-04     9743       -0.17        0    1500     55.3
    16x16 open +-J s7  0.5000      8.17e-05         1.50e-04     9938        0.39        0     550     24.3
    16x16 open +-J s7  1.0000      4.06e-04         5.94e-04     9551        1.19        0     900     48.8
    16x16 open +-J s7  2.0000      4.46e-04         6.14e-04     9028        0.43        0    1850     41.0
    16x16 open +-J s7  3.0000      2.57e-04         3.50e-04     8662       -0.52        0    2000     38.9
"""

import argparse
import time

import numpy as np

from isingvar import autoregressive as arl
from isingvar.exact.enumeration import exact_enumeration
from isingvar.families import make_instance, resolve_params
from isingvar.methods import get_method, make_settings
from isingvar.methods.exact import PATH_CODES
from isingvar.model import IsingModel

AR = get_method("ar")
MF = get_method("mf")
EXACT = get_method("exact")


OPTIONS = (("steps", int), ("batch", int), ("lr", float), ("depth", int), ("hidden", int), ("samples", int),
           ("arch", str), ("hops", int), ("units", int), ("checkpoint", int), ("stop_ess", float), ("decay", float),
           ("ais", int), ("fkl_steps", int))


def settings(args):
    return make_settings(AR, {k: getattr(args, k) for k, _ in OPTIONS})


def _timed_run(m, betas, s, rng):
    """AR.run with the CPU seconds of each beta (from the progress calls: AR.progress_units of one beta each)."""
    order = np.argsort(betas, kind="stable")
    marks, done = [], [0.0]
    per_beta = AR.progress_units(m.n, [1.0], s)

    def progress(k):
        done[0] += k
        if done[0] >= (len(marks) + 1) * per_beta - 1e-9:
            marks.append(time.process_time())

    t0 = time.process_time()
    r = AR.run(m, betas, s, rng, sites=False, progress=progress)
    seconds = np.empty(betas.size)
    seconds[order] = np.diff([t0, *marks])
    return r, seconds


def lattice(args):
    s = settings(args)
    print(f"{s}")
    print(" instance            beta   ELBO rel.err  ELBO f err/spin   ESS      IS err/SE   status   steps   CPU s")
    cases = (("16x16 ferro torus", {"L": 16, "boundary": "periodic", "disorder": "none"}, 0, [0.3, 0.4407]),
             ("16x16 open +-J s7", {"L": 16, "boundary": "open", "disorder": "pm"}, 7, [0.5, 1.0, 2.0, 3.0]))
    for name, params, seed, betas in cases:
        betas = np.array(betas)
        m = make_instance("square", resolve_params("square", params), seed, 0)
        lnz = EXACT.run(m, betas, EXACT.settings(), np.random.default_rng(0), sites=False)["lnZ_exact"]
        r, sec = _timed_run(m, betas, s, np.random.default_rng(0))
        for k, b in enumerate(betas):
            gap = lnz[k] - r["lnZ_ar_elbo"][k]
            z = (r["lnZ_ar_is"][k] - lnz[k]) / r["lnZ_ar_is_se"][k]  # not screened here: ar_status says
            print(f" {name}  {b:6.4f}   {gap / abs(lnz[k]):11.2e}   {gap / (b * m.n):14.2e}   {r['ar_ess'][k]:6.0f}   "
                  f"{z:9.2f}   {r['ar_status'][k]:6d}   {r['ar_steps'][k]:5d}   {sec[k]:6.1f}", flush=True)


def _trained_glass(args, betas):
    """The open 16 x 16 +-J seed 7 trained once up ``betas`` (AIS off): {beta: (net, theta, model)}, ln Z, model.

    ``--save PATH`` keeps the trained parameters (npz), ``--load PATH`` reads them instead of training."""
    s = make_settings(AR, {**{k: getattr(args, k) for k, _ in OPTIONS}, "ais": 0})  # training never anneals
    m = make_instance("square", resolve_params("square", {"L": 16, "boundary": "open", "disorder": "pm"}), 7, 0)
    lnz = EXACT.run(m, betas, EXACT.settings(), np.random.default_rng(0), sites=False)["lnZ_exact"]
    kept, evaluate = {}, arl.evaluate

    def keep(net, model, beta, *a, **k):
        kept[beta] = (net, net.theta.copy(), model)
        return evaluate(net, model, beta, *a, **k)

    if args.load:
        from isingvar.methods.ar import make_network

        net, model, _order = make_network(m, s, np.random.default_rng(0))
        saved = np.load(args.load)
        kept = {float(b): (net, saved[f"{b:g}"], model) for b in betas}
        print(f"{s}: loaded {args.load}")
        return kept, lnz, m
    arl.evaluate = keep  # the method calls it once per beta, after training
    try:
        t = time.process_time()
        AR.run(m, betas, s, np.random.default_rng(0), sites=False)
        print(f"{s}: trained in {time.process_time() - t:.0f} CPU s")
    finally:
        arl.evaluate = evaluate
    if args.save:
        np.savez(args.save, **{f"{b:g}": kept[b][1] for b in betas})
    return kept, lnz, m


def coverage(args):
    """One trained q of the glass per beta, evaluated ten times (seeds 500-509) per annealing length T (``--ais-list``).

    Raw weights (the estimate), k-hat, ESS and the CPU seconds of an evaluation; T = 0 is plain importance
    sampling of the same q.
    """
    from isingvar.importance import ess_floor

    betas = np.array([float(b) for b in args.betas.split(",")])
    kept, lnz, _m = _trained_glass(args, betas)
    if args.power != 1.0:  # a trial schedule g_t = (t/(T+1))^power in place of the linear one
        linear = arl.ais_schedule
        arl.ais_schedule = lambda steps: linear(steps) ** args.power
        print(f"schedule g_t = (t/(T+1))^{args.power}")
    samples = args.samples or 10000
    print(" beta     T   mean error   sd       within 3 SE   shown (k-hat, ESS)          shown and within 3 SE   "
          "ESS (min-max)     CPU s / eval")
    for k, beta in enumerate(betas):
        if args.evaluate and beta not in [float(b) for b in args.evaluate.split(",")]:
            continue
        net, theta, model = kept[beta]
        net.theta[:] = theta
        if args.refine:  # forward-KL steps on the loaded q (a trained one has had its --fkl-steps already)
            t = time.process_time()
            s = settings(args)
            arl.refine(net, model, beta, args.refine, s.batch, arl.FKL_LR_FRACTION * s.lr, np.random.default_rng(1))
            print(f" beta {beta}: {args.refine} forward-KL steps in {time.process_time() - t:.1f} CPU s")
        for T in (int(x) for x in args.ais_list.split(",")):
            rows = []
            t = time.process_time()
            for r in range(args.repeats):
                est = arl.evaluate(net, model, beta, samples, 256, np.random.default_rng(500 + r), ais=T)
                rows.append([est.lnz_is, est.lnz_is_se, est.khat, est.ess])
            sec = (time.process_time() - t) / args.repeats
            a = np.array(rows)
            e = a[:, 0] - lnz[k]
            ok = np.abs(e) <= 3 * a[:, 1]
            shown = (a[:, 2] <= 0.7) & (a[:, 3] >= ess_floor(samples))
            print(f" {beta:4.1f}  {T:4d}   {e.mean():+10.4f}   {e.std():.4f}   {ok.sum():5d} / {args.repeats}   "
                  f"{shown.sum():5d} (k-hat {a[:, 2].min():.2f}-{a[:, 2].max():.2f})   "
                  f"{(ok & shown).sum():5d} / {shown.sum():<5d}           {a[:, 3].min():6.0f}-{a[:, 3].max():<6.0f}"
                  f"   {sec:8.2f}", flush=True)


def cost(args):
    s = settings(args)
    for fam, params, h in (("square", {"L": 16, "boundary": "open", "disorder": "pm"}, 0.0),
                           ("square", {"L": 16, "boundary": "open", "disorder": "pm"}, 0.2),
                           ("sk", {"n": 20}, 0.0), ("sk", {"n": 100}, 0.0),
                           ("cubic", {"L": 6, "boundary": "periodic", "disorder": "pm"}, 0.0)):
        m = make_instance(fam, resolve_params(fam, params), 0, 0)
        if h:
            m = IsingModel(m.n, m.edge_i, m.edge_j, m.couplings, np.full(m.n, h))
        betas = np.array([0.5, 1.0])
        ss = make_settings(AR, {**{k: getattr(s, k) for k, _ in OPTIONS}, "stop_ess": 0.0})  # the full budget
        AR.run(m, betas[:1], make_settings(AR, {"steps": 1, "samples": 2}), np.random.default_rng(0), sites=False)
        t = time.process_time()
        AR.run(m, betas, ss, np.random.default_rng(0), sites=False)
        dt = time.process_time() - t
        est = AR.cost(m, betas, ss, sites=False)
        print(f"{fam} {params} h={h}: CPU {dt:.2f} s, cost model {est:.2f} s (ratio {est / dt:.2f})", flush=True)


def sk20(args):
    betas = np.array([0.5, 1.0, 2.0, 3.0])
    s = settings(args)
    err_ar, err_mf, err_is = [], [], []
    t = time.perf_counter()
    for k in range(8):
        m = make_instance("sk", resolve_params("sk", {"n": 20}), 0, k)
        f = -exact_enumeration(m, betas).lnZ / (betas * m.n)
        r = AR.run(m, betas, s, np.random.default_rng([0, k]), sites=False)
        mf = MF.run(m, betas, MF.settings(), np.random.default_rng([0, k]), sites=False)
        assert np.all(r["f_ar_upper"] >= f - 1e-12) and np.all(r["f_ar_upper"] <= mf["f_mf_upper"])
        err_ar.append((r["f_ar_upper"] - f) / np.abs(f))
        err_mf.append((mf["f_mf_upper"] - f) / np.abs(f))
        err_is.append(np.abs(r["f_ar_is"] - f) / np.abs(f))
    dt = time.perf_counter() - t
    ar, mf, is_ = (np.mean(e, axis=0) for e in (err_ar, err_mf, err_is))
    print(f"sk N=20, 8 samples, {s}: {dt:.1f} s")
    print(" beta   rel.err f_ar_upper   rel.err f_mf_upper   ratio mf/ar   |rel.err| f_ar_is")
    for b, a, m_, i in zip(betas, ar, mf, is_):
        print(f" {b:4.1f}   {a:18.2e}   {m_:18.2e}   {m_ / a:11.1f}   {i:16.2e}")
    print(f"target ratio >= 10 at every beta: {'met' if np.all(mf / ar >= 10) else 'NOT met'}")


def square(args):
    betas = np.array([0.25, 0.5, 0.75, 1.0])
    s = settings(args)
    L = args.L
    m = make_instance("square", resolve_params("square", {"L": L, "boundary": "open", "disorder": "pm"}), 0, 0)
    exact = EXACT.run(m, betas, EXACT.settings(), np.random.default_rng(0), sites=False)  # the cheapest exact path
    lnz, path = exact["lnZ_exact"], {v: k for k, v in PATH_CODES.items()}[int(exact["exact_path"])]
    t = time.perf_counter()
    r = AR.run(m, betas, s, np.random.default_rng(0), sites=False)
    dt = time.perf_counter() - t
    print(f"square L={L} open +-J (N={m.n}, exact by the {path} path), {s}: {dt:.1f} s")
    print(" beta   lnZ_exact     lnZ_ar_is ± SE          (IS-exact)/SE   f_ar_is - f (per spin)   ESS")
    for k, b in enumerate(betas):
        z = (r["lnZ_ar_is"][k] - lnz[k]) / r["lnZ_ar_is_se"][k]
        df = -(r["lnZ_ar_is"][k] - lnz[k]) / (b * m.n)
        print(f" {b:4.2f}   {lnz[k]:10.5f}   {r['lnZ_ar_is'][k]:10.5f} ± {r['lnZ_ar_is_se'][k]:.1e}   {z:13.2f}   "
              f"{df:22.2e}   {r['ar_ess'][k]:.0f}")
    k = 3
    elbo = -(r["lnZ_ar_elbo"][k] - lnz[k]) / (betas[k] * m.n)  # MC estimate of the bound's gap (N > 24)
    print(f"beta = 1: |IS - exact| / SE = {abs(r['lnZ_ar_is'][k] - lnz[k]) / r['lnZ_ar_is_se'][k]:.2f} (target <= 3); "
          f"f error of the ELBO estimate {elbo:.2e} per spin (target <= 1e-3; N > 24 has no certified bound)")


def sk100(args):
    betas = np.linspace(0.1, 2.0, 32)
    s = settings(args)
    m = make_instance("sk", resolve_params("sk", {"n": 100}), 0, 0)
    AR.run(m, betas[:1], make_settings(AR, {"steps": 1, "samples": 2}), np.random.default_rng(0), sites=False)
    t = time.perf_counter()
    r = AR.run(m, betas, s, np.random.default_rng(0), sites=False)
    dt = time.perf_counter() - t
    mf = MF.run(m, betas, MF.settings(), np.random.default_rng(0), sites=False)
    print(f"sk N=100, 32 betas 0.1..2, {s}: {dt:.1f} s (target 300 s: ratio {dt / 300:.2f}); "
          f"cost model {AR.cost(m, betas, s, sites=False):.1f} s")
    print(" beta   f_ar_is ± SE              f_mf_upper   ESS")
    for k in range(0, 32, 5):
        print(f" {betas[k]:4.2f}   {r['f_ar_is'][k]:.6f} ± {r['f_ar_is_se'][k]:.1e}   {mf['f_mf_upper'][k]:.6f}   "
              f"{r['ar_ess'][k]:.0f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["sk20", "square", "sk100", "lattice", "cost", "coverage"])
    ap.add_argument("--L", type=int, default=16, help="side of the square glass (exact by a structured path)")
    for name, kind in OPTIONS:
        ap.add_argument(f"--{name.replace('_', '-')}", type=kind)
    ap.add_argument("--betas", default="0.5,1,2,3", help="coverage: the betas trained (ascending) and evaluated")
    ap.add_argument("--ais-list", default="0,4", help="coverage: the annealing lengths T compared on the same q")
    ap.add_argument("--power", type=float, default=1.0, help="coverage: a trial schedule (t/(T+1))^power")
    ap.add_argument("--evaluate", help="coverage: evaluate only these of the betas (default all)")
    ap.add_argument("--repeats", type=int, default=10, help="coverage: evaluations per (beta, T)")
    ap.add_argument("--save", help="coverage: keep the trained parameters in this .npz")
    ap.add_argument("--load", help="coverage: the trained parameters from this .npz instead of training")
    ap.add_argument("--refine", type=int, default=0, help="coverage: forward-KL steps on each q before evaluating")
    args = ap.parse_args()
    {"sk20": sk20, "square": square, "sk100": sk100, "lattice": lattice, "cost": cost,
     "coverage": coverage}[args.what](args)


if __name__ == "__main__":
    main()
