"""Exact thermodynamics by enumeration of all 2^N states.

Definitions (k_B = 1; Mezard & Montanari, *Information, Physics, and
Computation*, sec. 2.2)::

    Z = sum_s exp(-beta E(s)),   F = -ln Z / beta,   U = <E>,
    S = beta (U - F) = ln Z + beta U,   C = beta^2 Var(E),
    m = <sum_i s_i> / N,   chi = beta N (<m^2> - <m>^2)

f, u, s, c are per spin; lnZ is the total, in nats.

Four summation paths give the same numbers (to ~1e-12 relative); ``auto``
picks the cheapest that applies, and the result says which ran:

``histogram``
    Couplings and fields all integer multiples of one quantum (+-J glasses,
    ferromagnets): exact int64 counts of (energy, magnetisation); the cost
    does not depend on the number of betas.
``chain``
    An arithmetic beta grid: exp(-beta_{b+1} E) = exp(-beta_b E) exp(-dbeta E),
    two exps per state for all betas.
``direct``
    One vectorised exp per state and beta.
``reference``
    The simple Gray-code kernel of :mod:`isingvar.kernels.exact`, kept as the
    reference the fast paths are tested against.

With all fields zero, E(s) = E(-s): one spin is held at +1 and the sums
doubled, which halves the work and makes <m> = 0 exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from .errors import TooLargeError
from .exact_status import EXACT_STATUS  # noqa: F401  (re-exported: the paths' status codes)
from .interrupt import deferred_interrupt
from .model import IsingModel
from .parallel import kernel_threads, numba_threads
from .thermo import check_betas, free_energy_per_spin

#: Largest N the kernels can represent at all (Gray indices are int64).
HARD_MAX_N = 62
#: Refuse (without ``force``) exact work estimated to take longer than this.
MAX_SECONDS = 600.0
#: Below this N nothing is estimated: enumeration takes well under a second.
ESTIMATE_FROM_N = 25
#: Spins in the low (tabulated) block of the blocked kernel, by path.  The float paths gain from a
#: large block (fewer per-block costs: chain 3.7 -> 4.4 G state*beta/s from 10 to 12 spins), the
#: histogram loses 5 % (its count table leaves L1/L2).
LOW_BLOCK = {"histogram": 10, "chain": 12, "direct": 12}
#: High-block configurations per chunk (2^CHUNK_BITS); each chunk starts from scratch.
CHUNK_BITS = 10
#: States per kernel call: between calls progress is reported and Ctrl-C is honoured.
STATES_PER_CALL = 1 << 26

PATHS = ("reference", "direct", "chain", "histogram")


@dataclass(frozen=True)
class ExactResult:
    """Exact results of one model over a beta grid.

    Attributes (arrays float64 of shape (nb,), aligned with ``betas``)
    ----------
    betas : inverse temperatures.
    lnZ : ln Z, total, nats.
    f : free energy per spin -ln Z / (beta N); -inf at beta = 0.
    u : internal energy per spin <E>/N.
    s : entropy per spin (ln Z + beta U)/N, nats.
    c : heat capacity per spin beta^2 Var(E)/N.
    m, m2, absm : <M>/N, <M^2>/N^2, <|M|>/N with M = sum_i s_i.
    chi : susceptibility beta N (<m^2> - <m>^2).
    e0 : ground-state energy (total).
    ground_state : float64 (N,) spins of one ground state.
    path : the summation path that ran (one of :data:`PATHS`).
    sites : float64 (nb, N) per-site magnetisations <s_i>, or None when not asked for.
    status : int8 (nb,) indices into :data:`EXACT_STATUS`, or None (every beta computed).  Where it
        is not 0 (``computed``) the path could not give that beta to its promised accuracy, and its
        lnZ and f (and whatever else it gives there) are NaN.
    """

    betas: np.ndarray
    lnZ: np.ndarray
    f: np.ndarray
    u: np.ndarray
    s: np.ndarray
    c: np.ndarray
    m: np.ndarray
    m2: np.ndarray
    absm: np.ndarray
    chi: np.ndarray
    e0: float
    ground_state: np.ndarray
    path: str = "direct"
    sites: np.ndarray | None = None
    status: np.ndarray | None = None


# ---------------------------------------------------------------------------- planning
def energy_quantum(model: IsingModel, max_denominator: int = 64) -> float | None:
    """The largest q with every coupling and field an integer multiple of q, or None.

    Tries q = min |value| / d for d = 1..max_denominator; a ratio counts as an
    integer within 1e-12.
    """
    v = np.abs(np.concatenate([model.couplings, model.fields]))
    v = v[v > 0]
    if v.size == 0:
        return 1.0
    base = v.min()

    def whole(r):
        return np.abs(r - np.round(r)) <= 1e-12 * np.maximum(r, 1.0)

    # every denominator at once on a few values first: a Gaussian instance fails all 64 there
    # (one numpy call instead of 64 passes over every value: the sweep's per-instance cost)
    dens = np.arange(1, max_denominator + 1)
    for d in dens[whole(v[:8][None, :] / base * dens[:, None]).all(axis=1)]:
        if np.all(whole(v / base * d)):
            return base / d
    return None


def _histogram_levels(model, quantum):
    reach = int(np.ceil((np.abs(model.couplings).sum() + np.abs(model.fields).sum()) / quantum + 0.5))
    return -reach, 2 * reach + 1


def _arithmetic_step(sorted_betas) -> float | None:
    if sorted_betas.size < 3:
        return None
    step = (sorted_betas[-1] - sorted_betas[0]) / (sorted_betas.size - 1)
    grid = sorted_betas[0] + step * np.arange(sorted_betas.size)
    return step if np.all(np.abs(grid - sorted_betas) <= 1e-13 * max(sorted_betas[-1], 1.0)) else None


def choose_path(model: IsingModel, betas, sites: bool = False) -> str:
    """The path ``auto`` runs for ``model`` on ``betas`` (see the module docstring).

    The histogram has no per-site information: with ``sites`` and a non-zero
    field it is not chosen (with zero fields <s_i> = 0 by symmetry).
    """
    quantum = energy_quantum(model)
    if quantum is not None and not (sites and np.any(model.fields)):
        _, levels = _histogram_levels(model, quantum)
        if levels * (model.n + 1) <= 1 << 22:
            return "histogram"
    if _arithmetic_step(np.sort(np.asarray(betas, dtype=np.float64))) is not None:
        return "chain"
    return "direct"


@dataclass(frozen=True)
class _Plan:
    J: np.ndarray
    h: np.ndarray
    k: int
    n_enum: int
    symmetric: bool
    chunk_bits: int
    n_chunks: int
    e_low: np.ndarray
    C: np.ndarray
    m_low: np.ndarray
    s_low: np.ndarray
    gstart: np.ndarray
    mu: np.ndarray


def _plan(model: IsingModel, path: str) -> _Plan:
    """The blocked kernel's tables for ``path``: the 2^k low configurations (rows of ``s_low``)
    ordered by magnetisation, in groups gstart[g]..gstart[g+1]-1 of magnetisation mu[g]."""
    n = model.n
    J = np.ascontiguousarray(model.dense())
    h = np.ascontiguousarray(model.fields)
    symmetric = n >= 2 and not np.any(h)
    k = min(n - 1 if symmetric else n, LOW_BLOCK.get(path, LOW_BLOCK["direct"]))
    n_enum = n - k - (1 if symmetric else 0)
    chunk_bits = min(n_enum, CHUNK_BITS)
    S, m_low, mu, gstart = _low_table(k)
    e_low = -0.5 * np.einsum("li,ij,lj->l", S, J[:k, :k], S) - S @ h[:k]
    C = -(J[:k, k:].T @ S.T)
    return _Plan(J, h, k, n_enum, symmetric, chunk_bits, 1 << (n_enum - chunk_bits),
                 np.ascontiguousarray(e_low), np.ascontiguousarray(C), m_low, S, gstart, mu)


@cache
def _low_table(k: int):
    """The 2^k low configurations as rows of spins, ordered by magnetisation, their magnetisations,
    the distinct ones mu and the group starts; k <= 12, so at most 13 tables.  Shared: not to be
    written (S and m_low are read-only; mu and gstart go to the kernels, which only read them, and
    a read-only array would be another numba signature)."""
    S = 1.0 - 2.0 * ((np.arange(1 << k)[:, None] >> np.arange(k)) & 1)
    S = np.ascontiguousarray(S[np.argsort(S.sum(1), kind="stable")])
    m_low = S.sum(1)
    mu = np.unique(m_low)
    gstart = np.searchsorted(m_low, np.r_[mu, np.inf]).astype(np.int64)
    for a in (S, m_low):
        a.flags.writeable = False
    return S, m_low, mu, gstart


def _ground_spins(plan: _Plan, t, l, n):
    """Spins of the state at Gray index t of the high block and row l of the low table."""
    s = np.ones(n)
    code = int(t) ^ (int(t) >> 1)
    s[plan.k:plan.k + plan.n_enum] = 1.0 - 2.0 * ((code >> np.arange(plan.n_enum)) & 1)
    s[:plan.k] = plan.s_low[int(l)]
    return s


# ---------------------------------------------------------------------------- estimates
def estimate_seconds(model: IsingModel, betas, path: str = "auto", sites: bool = False) -> float:
    """Wall time :func:`exact_enumeration` would take, from a short timed run.

    Runs the chosen kernel (with the per-site sums if ``sites``) on a few
    chunks of this very model (after one warm-up call, so compilation is not
    counted) and extrapolates to 2^N states.  Returns 0 below N =
    :data:`ESTIMATE_FROM_N`.
    """
    if model.n < ESTIMATE_FROM_N:
        return 0.0
    b = np.ascontiguousarray(np.sort(betas), dtype=np.float64)
    path = choose_path(model, b, sites) if path == "auto" else path
    plan = _plan(model, path)
    workers = _threads(plan, b.size, path)
    runner = _runner(plan, model, b, path, sites, workers=workers)
    _compile(runner)
    with deferred_interrupt() as check, numba_threads(workers):
        runner(0, workers)  # compile / warm up
        check()
        calls = max(1, min(plan.n_chunks // workers, 4))
        t = time.perf_counter()
        runner(0, calls * workers)
        rate = calls * workers / (time.perf_counter() - t)  # chunks per second
    return plan.n_chunks / rate


def _human(secs: float) -> str:
    for unit, size in (("years", 3.15e7), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if secs >= size:
            return f"{secs / size:.3g} {unit}"
    return f"{secs:.2g} s"


#: Least work worth a thread of its own in the blocked kernel, in states x betas (the histogram counts
#: one beta): one chunk of the histogram path, about 1 ms.  Threads take whole chunks, so below N = 24
#: (one chunk) the kernel runs serially; from two chunks on, two threads pay (N = 24, one beta:
#: 14 ms against 21 ms serial; docs/performance.md).
MIN_THREAD_WORK = 1 << 20


def _threads(plan: _Plan, nb: int, path: str) -> int:
    """Threads for the blocked kernel on ``plan``: :func:`isingvar.parallel.kernel_threads` over its chunks."""
    import numba

    states = plan.n_chunks << (plan.k + plan.chunk_bits)
    work = states * (1 if path == "histogram" else nb)
    return kernel_threads(work, plan.n_chunks, MIN_THREAD_WORK, numba.get_num_threads())


# ---------------------------------------------------------------------------- running
def _runner(plan, model, betas_sorted, path, sites=False, quantum=None, workers=1):
    """A function (c_lo, c_hi) -> raw kernel output for chunk range [c_lo, c_hi), dealt to ``workers`` threads.

    ``quantum`` is :func:`energy_quantum` of the model, needed by the histogram path.
    Call :func:`_compile` on it before running it inside :func:`deferred_interrupt`.
    """
    from .kernels.blocked import CHAIN, DIRECT, _blocked_chunks, _histogram_chunks

    common = (plan.J, plan.h, plan.k, plan.n_enum, plan.chunk_bits)
    if path == "histogram":
        quantum = energy_quantum(model) if quantum is None else quantum
        q_lo, levels = _histogram_levels(model, quantum)
        # cell units (see _histogram_chunks): integers, exact in float64
        Jc, hc, Cc = (np.round(a / quantum) * (model.n + 1) for a in (plan.J, plan.h, plan.C))
        base = np.round(plan.e_low / quantum) * (model.n + 1) + 0.5 * plan.m_low
        run = lambda lo, hi: _histogram_chunks(
            Jc, hc, plan.k, plan.n_enum, plan.chunk_bits, lo, hi, workers, base, Cc, levels, q_lo)
        run.kernel = _histogram_chunks
        return run
    mode, step = DIRECT, 0.0
    if path == "chain":
        step = _arithmetic_step(betas_sorted)
        if step is None:
            raise ValueError("the chain path needs an arithmetic beta grid of at least 3 values")
        mode = CHAIN
    run = lambda lo, hi: _blocked_chunks(
        *common, lo, hi, workers, plan.e_low, plan.C, plan.gstart, plan.mu, betas_sorted, mode, step,
        sites and not plan.symmetric)
    run.kernel = _blocked_chunks
    return run


def _compile(run) -> None:
    """Compile the kernel of ``run`` (a :func:`_runner`) if this process has not: numba's first call
    compiles (up to a minute without its cache), and inside :func:`deferred_interrupt` Ctrl-C or
    SIGTERM would wait for the compiler.  An empty chunk range: no work."""
    if not run.kernel.signatures:
        run(0, 0)


def exact_enumeration(
    model: IsingModel,
    betas,
    *,
    path: str = "auto",
    sites: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ExactResult:
    """Enumerate all 2^N states of ``model`` once for every beta in ``betas``.

    Parameters
    ----------
    model : IsingModel
        N <= :data:`HARD_MAX_N` (2^N states: N = 30 takes seconds, N = 36 minutes).
    betas : array_like of float, shape (nb,)
        Inverse temperatures, finite and >= 0, any order.  beta = 0 gives
        ln Z = N ln 2.
    path : {"auto", "histogram", "chain", "direct", "reference"}
        Summation path (module docstring); "auto" picks the cheapest valid one.
    sites : bool
        Also compute the per-site magnetisations <s_i> (not on the reference
        path, nor on the histogram path with non-zero fields).
    progress : callable(done_states, total_states), optional
        Called between kernel calls (every ~2^26 states).  Ctrl-C is honoured
        there: KeyboardInterrupt propagates and nothing is returned.

    Returns
    -------
    ExactResult

    Raises
    ------
    TooLargeError
        If N > HARD_MAX_N.
    ValueError
        If a beta is negative or not finite, or ``path`` does not apply.
    """
    b = check_betas(betas)
    n = model.n
    if n > HARD_MAX_N:
        raise TooLargeError(f"exact enumeration is impossible for N = {n} (> {HARD_MAX_N}); use --method mf")
    if path == "auto":
        path = choose_path(model, b, sites)
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; choose from auto, {', '.join(PATHS)}")
    if sites and (path == "reference" or (path == "histogram" and np.any(model.fields))):
        raise ValueError(f"the {path} path cannot give per-site magnetisations; use path='auto'")
    if path == "reference":
        return _reference(model, b)
    quantum = energy_quantum(model) if path == "histogram" else None
    if path == "histogram" and quantum is None:
        raise ValueError("the histogram path needs couplings and fields that are multiples of one quantum")

    order = np.argsort(b, kind="stable")
    bs = np.ascontiguousarray(b[order])
    plan = _plan(model, path)
    workers = _threads(plan, bs.size, path)
    run = _runner(plan, model, bs, path, sites, quantum, workers)
    per_call = max(workers, STATES_PER_CALL >> (plan.k + plan.chunk_bits))
    total_states = 1 << n
    scale = 2 if plan.symmetric else 1
    states_per_chunk = scale << (plan.k + plan.chunk_bits)

    fold = _fold_histogram if path == "histogram" else _fold_sums
    folded = None
    best = (np.inf, 0, 0)
    _compile(run)
    with deferred_interrupt() as check, numba_threads(workers):
        for lo in range(0, plan.n_chunks, per_call):
            hi = min(lo + per_call, plan.n_chunks)
            e_w, ground, *part = run(lo, hi)
            check()
            w = int(np.argmin(e_w))
            if e_w[w] < best[0]:
                best = (e_w[w], *ground[w])
            folded = fold(folded, e_w, part, bs)
            if progress:
                progress(hi * states_per_chunk, total_states)
    if path == "histogram":
        q_lo, _ = _histogram_levels(model, quantum)
        hist = folded + folded[:, ::-1] if plan.symmetric else folded  # held spin at -1: M -> -M
        res = _from_histogram(hist, quantum, q_lo, bs, n)
        e0 = quantum * best[0]
        if sites:  # only reached with zero fields
            res["sites"] = np.zeros((bs.size, n))
    else:
        e0, total, site, low = folded
        res = _from_sums(e0, total, bs, n, plan.symmetric)
        if sites and plan.symmetric:
            res["sites"] = np.zeros((bs.size, n))
        elif sites:
            site[:, :plan.k] = low @ plan.s_low  # contract the low-configuration weights with s_i(l)
            res["sites"] = site / total[:, :1]
    unsort = np.empty_like(order)
    unsort[order] = np.arange(order.size)
    res = {key: val[unsort] for key, val in res.items()}
    return _result(b, res, n, float(e0), _ground_spins(plan, best[1], best[2], n), path, res.get("sites"))


def _fold_histogram(folded, e_w, part, betas):
    """Running total of the per-worker histograms of one kernel call."""
    total = part[0].sum(0)
    return total if folded is None else folded + total


def _fold_sums(folded, e_w, part, betas):
    """Running (e_ref, sums, site sums, low sums) merged with one kernel call's per-worker sums."""
    from .kernels.exact import merge_chunks

    used = np.isfinite(e_w)  # a worker without a chunk saw nothing
    e_p, acc, site, low = e_w[used], *(a[used] for a in part)
    if folded is not None:
        e_p = np.r_[folded[0], e_p]
        acc, site, low = (np.concatenate([f[None], a]) for f, a in zip(folded[1:], (acc, site, low)))
    e0, total = merge_chunks(e_p, acc, betas)
    if site.shape[1] == 0:  # no per-site sums asked for
        return e0, total, site[0], low[0]
    f = np.exp(-betas[None, :] * (e_p - e0)[:, None])[..., None]  # (parts, nb, 1)
    return e0, total, (f * site).sum(0), (f * low).sum(0)


def _from_sums(e_ref, tot, betas, n, symmetric):
    """Thermodynamics from sums about e_ref (rows: w, w y, w y^2, w M, w M^2, w |M|)."""
    s0, s1, s2, sm, sm2, sam = (tot[:, i] for i in range(6))
    x1 = s1 / s0
    ln_s0 = np.log(s0) + (np.log(2.0) if symmetric else 0.0)
    return {
        "lnZ": ln_s0 - betas * e_ref,
        "U": e_ref + x1,
        "S": ln_s0 + betas * x1,  # = lnZ + beta U without the cancellation of beta e_ref
        "var": np.maximum(s2 / s0 - x1 * x1, 0.0),
        "m": np.zeros_like(s0) if symmetric else sm / s0 / n,
        "m2": sm2 / s0 / n**2,
        "absm": sam / s0 / n,
    }


def _from_histogram(hist, quantum, q_lo, betas, n):
    """Thermodynamics from exact counts hist[level, (M + N)/2], E = quantum (level + q_lo)."""
    per_level = hist.sum(1)
    levels = np.flatnonzero(per_level)
    counts = per_level[levels].astype(np.float64)
    E0 = quantum * (levels[0] + q_lo)
    dE = quantum * (levels - levels[0])  # >= 0, exact multiples of the quantum
    M = 2.0 * np.arange(n + 1) - n
    cond = hist[levels].astype(np.float64) / counts[:, None]  # P(M | E)
    logw = np.log(counts)[None, :] - betas[:, None] * dE[None, :]
    top = logw.max(1, keepdims=True)
    rest = np.exp(logw - top)
    rest[np.arange(rest.shape[0]), logw.argmax(1)] = 0.0  # the top level's term, exactly 1
    # ln of sum_E g(E) exp(-beta (E - E0)); log1p keeps the rest where it is below rounding of 1: with one
    # ground state at large beta ln Z - beta E0 and S are that rest alone (log lost them: S 1.5 % off at 1e-28)
    ln_z = top[:, 0] + np.log1p(rest.sum(1))
    p = np.exp(logw - ln_z[:, None])
    dU = p @ dE
    var = (p * (dE[None, :] - dU[:, None]) ** 2).sum(1)  # centred: no cancellation
    return {
        "lnZ": ln_z - betas * E0, "U": E0 + dU, "S": ln_z + betas * dU, "var": var,
        "m": p @ (cond @ M) / n, "m2": p @ (cond @ M**2) / n**2, "absm": p @ (cond @ np.abs(M)) / n,
    }


def _result(b, r, n, e0, ground_state, path, sites=None) -> ExactResult:
    m, m2 = r["m"], r["m2"]
    return ExactResult(
        betas=b,
        lnZ=r["lnZ"],
        f=free_energy_per_spin(r["lnZ"], b, n),
        u=r["U"] / n,
        s=r["S"] / n,
        c=b * b * r["var"] / n,
        m=m,
        m2=m2,
        absm=r["absm"],
        chi=b * n * np.maximum(m2 - m * m, 0.0),
        e0=e0,
        ground_state=ground_state,
        path=path,
        sites=sites,
    )


def _reference_chunk_bits(n: int) -> int:
    # chunks of 2^14..2^20 states, each re-anchored from scratch
    return n if n <= 14 else max(14, min(20, n - 8))


def _reference(model: IsingModel, b) -> ExactResult:
    """The simple Gray-code kernel (all states, no blocking, no symmetry)."""
    from .kernels.exact import _enumerate_chunks, gray_spins, merge_chunks

    n = model.n
    indptr, indices, data = model.csr
    e_lo, t_lo, acc = _enumerate_chunks(indptr, indices, data, model.fields, b, _reference_chunk_bits(n))
    e0, tot = merge_chunks(e_lo, acc, b)
    res = _from_sums(e0, tot, b, n, symmetric=False)
    return _result(b, res, n, float(e0), gray_spins(t_lo[int(np.argmin(e_lo))], n), "reference")


# ---------------------------------------------------------------------------- the exact-path protocol
#: Name of this module's path family in messages and ``--dry-run`` (its runs report the summation path).
PATH_NAME = "enumeration"


def applicable(model: IsingModel, betas, *, sites: bool) -> str | None:
    """None if enumeration can run on ``model`` (N <= :data:`HARD_MAX_N`); else the reason."""
    if model.n > HARD_MAX_N:
        return f"2^{model.n} states (enumeration stops at N = {HARD_MAX_N})"
    return None


def run(model: IsingModel, betas, *, sites: bool = False,
        progress: Callable[[int, int], None] | None = None) -> ExactResult:
    """:func:`exact_enumeration` on the ``auto`` path (the exact-path protocol of :mod:`isingvar.methods.exact`)."""
    return exact_enumeration(model, betas, sites=sites, progress=progress)
