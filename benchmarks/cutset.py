"""Cutset conditioning on the UAI-2014 DBN instances (complete bipartite K20,20 .. K22,22) at beta = 1.

For each file: ln Z of the file's model (ln Z + lnZ_offset, the value a sweep of the ``file``
family stores at beta = 1), the path's estimate and its wall time, and, as an independent check,
the same ln Z from a plain NumPy sum conditioned on the *other* side of the graph (all 2^b
configurations of side B in blocks, ln 2cosh of the fields they put on side A).

    python benchmarks/cutset.py [--threads T] [FILES...]      (default: ../shared/data/uai2014/DBN_*.uai)
"""

import argparse
import glob
import os
import time
from pathlib import Path

import numpy as np

from isingvar.exact import cutset
from isingvar.io.couplings import read_model_file
from isingvar.parallel import numba_threads

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "uai2014"


def numpy_other_side(model, side_b, block=1 << 14):
    """ln Z at beta = 1 by summing over side B's configurations in plain NumPy (needs a bipartite model)."""
    n = model.n
    J = model.dense()
    side_a = np.setdiff1d(np.arange(n), side_b)
    Jab = J[np.ix_(side_a, side_b)]
    if np.any(J[np.ix_(side_a, side_a)]) or np.any(J[np.ix_(side_b, side_b)]):
        raise ValueError("not bipartite between the two sides")
    ha, hb = model.fields[side_a], model.fields[side_b]
    nb = side_b.size
    parts = []
    for lo in range(0, 1 << nb, block):
        t = np.arange(lo, min(lo + block, 1 << nb))
        s = 1.0 - 2.0 * ((t[:, None] >> np.arange(nb)) & 1)  # (block, nb)
        x = ha[None, :] + s @ Jab.T  # fields on side A
        a = np.abs(x)
        parts.append(s @ hb + (a + np.log1p(np.exp(-2 * a))).sum(1))  # ln 2cosh x = |x| + ln(1 + e^-2|x|)
    v = np.concatenate(parts)
    top = v.max()
    return top + np.log(np.exp(v - top).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--threads", type=int, default=0, help="numba threads (default: all)")
    ap.add_argument("--no-check", action="store_true", help="skip the NumPy cross-check")
    args = ap.parse_args()
    files = args.files or sorted(glob.glob(str(DATA / "DBN_*.uai")))
    betas = np.array([1.0])
    print(f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    print(f"{'file':<12} {'N':>3} {'|C|':>4} {'ln Z of file':>20} {'estimate s':>10} {'run s':>7} "
          f"{'numpy s':>8} {'|diff|':>8}")
    for f in files:
        mf = read_model_file(f)
        m = mf.model
        st = cutset.structure(m)
        with numba_threads(args.threads or os.cpu_count()):
            est = cutset.estimate_seconds(m, betas, sites=False)
            t = time.perf_counter()
            r = cutset.run(m, betas)
            secs = time.perf_counter() - t
        line = (f"{Path(f).name:<12} {m.n:>3} {st.cut.size:>4} {r.lnZ[0] + mf.lnZ_offset:>20.12f} {est:>10.2f} "
                f"{secs:>7.2f}")
        if not args.no_check and st.n_tree == 0:
            t = time.perf_counter()
            ref = numpy_other_side(m, st.fvert)  # the side the cutset path does not enumerate
            line += f" {time.perf_counter() - t:>8.2f} {abs(ref - r.lnZ[0]):>8.1e}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
