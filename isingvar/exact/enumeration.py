"""Exact thermodynamics by enumeration of all 2^N states (an exact path: :class:`isingvar.exact.ExactPath`).

The definitions of the quantities are in :mod:`isingvar.exact.result`, where
:meth:`~isingvar.exact.ExactResult.from_moments` forms them from this path's raw moments: ln sum w
about the least energy E0 with the states at E0 counted apart (ln n0 + log1p(rest/n0): the weight above
them is kept at large beta, where the entropy is that weight), <E> - E0 and Var(E) about E0, and the
magnetisation's distribution by M, whose Var(M) is formed about its mode (chi without the cancellation
of <M^2> - <M>^2).

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

Over 600 lines, about 230 of them docstrings: the code (~430 lines) is one path whose drivers, choice
of summation path and cost model share the block tables of the Gray-code kernels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..errors import TooLargeError
from ..interrupt import deferred_interrupt
from ..model import IsingModel
from ..parallel import kernel_threads, numba_threads
from ..thermo import check_betas
from .result import EXACT_STATUS, ExactResult  # noqa: F401  (EXACT_STATUS: a result's status codes, as before)

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


# ---------------------------------------------------------------------------- planning
def energy_quantum(model: IsingModel, max_denominator: int = 64) -> float | None:
    """The largest q with every coupling and field an integer multiple of q, or None.

    Tries q = min |value| / d for d = 1..max_denominator; a ratio counts as an
    integer within 1e-12.

    Parameters
    ----------
    model : IsingModel
        The instance.
    max_denominator : int, default 64
        Largest d tried.

    Returns
    -------
    float or None
        q (energy units of the couplings); 1.0 when every coupling and field is 0; None when no d works.
    """
    v = np.abs(np.concatenate([model.couplings, model.fields]))
    v = v[v > 0]
    if v.size == 0:
        return 1.0
    base = v.min()

    def whole(r):
        """Where the ratios ``r`` are integers (within 1e-12).

        Parameters
        ----------
        r : ndarray of float64
            Ratios (>= 0).

        Returns
        -------
        ndarray of bool, shaped like ``r``
            True where integer.
        """
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

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (an arithmetic grid allows the chain path).
    sites : bool, default False
        Per-site magnetisations wanted.

    Returns
    -------
    str
        "histogram", "chain" or "direct".
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
    counted) and extrapolates to 2^N states.

    Parameters
    ----------
    model : IsingModel
        The instance (N <= :data:`HARD_MAX_N`).
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    path : {"auto", "histogram", "chain", "direct"}
        Summation path; "auto": :func:`choose_path`.
    sites : bool, default False
        Include the per-site sums.

    Returns
    -------
    float
        Estimated wall seconds; 0 below N = :data:`ESTIMATE_FROM_N`.
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
    from ..kernels.blocked import CHAIN, DIRECT, _blocked_chunks, _histogram_chunks

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
        moments = _from_histogram(hist, quantum, q_lo, bs, n)
        e0 = quantum * best[0]
        site_m = np.zeros((bs.size, n)) if sites else None  # only reached with zero fields
    else:
        moments, site_m = _from_sums(folded, bs, n, plan, sites)
        e0 = folded.e0
    unsort = np.empty_like(order)
    unsort[order] = np.arange(order.size)
    moments = {key: val[unsort] for key, val in moments.items()}
    return ExactResult.from_moments(
        b, n, path=path, e0=float(e0), ground_state=_ground_spins(plan, best[1], best[2], n),
        symmetric=plan.symmetric, sites=None if site_m is None else site_m[unsort], **moments)


def _fold_histogram(folded, e_w, part, betas):
    """Running total of the per-worker histograms of one kernel call."""
    total = part[0].sum(0)
    return total if folded is None else folded + total


@dataclass(frozen=True)
class _Sums:
    """The blocked kernel's sums of the states seen so far, about their lowest energy ``e0``.

    n0: states exactly at e0 (weight 1 at every beta); rest float64 (nb,): the weight of all the others;
    s1, s2 float64 (nb,): sum w y, sum w y^2 with y = E - e0; zm float64 (nb, N + 1): the weight by
    (M + N)/2 (every state); site float64 (nb, N) and low float64 (nb, 2^k): the per-site sums (empty
    without sites; see :func:`isingvar.kernels.blocked._blocked_chunks`).
    """

    e0: float
    n0: float
    rest: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    zm: np.ndarray
    site: np.ndarray
    low: np.ndarray


def _fold_sums(folded: _Sums | None, e_w, part, betas) -> _Sums:
    """``folded`` merged with one kernel call's per-worker sums (``part``: acc, site, low, zm, at_ref),
    all moved to the lowest reference.  A part whose reference lies d above it is weighted by
    exp(-beta d), its states at its own reference joining the rest; only the parts at the lowest
    reference keep their count apart (no rounding of the rest against 1)."""
    acc, site, low, zm, at_ref = part
    used = np.isfinite(e_w)  # a worker without a chunk saw nothing
    e_p, n_p, rest_p, s1_p, s2_p = e_w[used], at_ref[used], acc[used, :, 0], acc[used, :, 1], acc[used, :, 2]
    zm_p, site_p, low_p = zm[used], site[used], low[used]
    if folded is not None:
        e_p, n_p = np.r_[folded.e0, e_p], np.r_[folded.n0, n_p]
        rest_p, s1_p, s2_p, zm_p, site_p, low_p = (
            np.concatenate([f[None], a]) for f, a in zip(
                (folded.rest, folded.s1, folded.s2, folded.zm, folded.site, folded.low),
                (rest_p, s1_p, s2_p, zm_p, site_p, low_p)))
    e0 = float(e_p.min())
    d = (e_p - e0)[:, None]  # >= 0: each part's reference lies above e0
    f = np.exp(-betas[None, :] * d)  # (parts, nb)
    top = d[:, 0] == 0
    whole = rest_p + n_p[:, None]  # each part's total weight about its own reference
    if site_p.shape[1]:  # per-site sums asked for
        site_p, low_p = f[..., None] * site_p, f[..., None] * low_p
    return _Sums(
        e0=e0, n0=float(n_p[top].sum()),
        rest=np.where(top[:, None], rest_p, f * whole).sum(0),
        s1=(f * (s1_p + d * whole)).sum(0),
        s2=(f * (s2_p + 2.0 * d * s1_p + d * d * whole)).sum(0),
        zm=(f[..., None] * zm_p).sum(0), site=site_p.sum(0), low=low_p.sum(0))


def _magnetisation(zm: np.ndarray, n: int):
    """(<M>, Var(M), <|M|>), each float64 (nb,), from the weights zm (nb, N + 1) by (M + N)/2.

    Var(M) is centred about the most probable M: <M> - M_mode is a weighted mean of exact integer
    differences and Var(M) = sum_M p(M) ((M - M_mode) - (<M> - M_mode))^2, a sum of non-negative terms,
    so it keeps its relative accuracy at large beta where <M^2> - <M>^2 would cancel to 0.
    """
    M = 2.0 * np.arange(n + 1) - n
    p = zm / zm.sum(1, keepdims=True)
    mode = M[np.argmax(zm, axis=1)]
    dM = M[None, :] - mode[:, None]
    shift = (p * dM).sum(1)
    return mode + shift, (p * (dM - shift[:, None]) ** 2).sum(1), p @ np.abs(M)


def _from_sums(sums: _Sums, betas, n: int, plan: _Plan, sites: bool):
    """(moments for :meth:`ExactResult.from_moments`, per-site <s_i> float64 (nb, N) or None) from the
    blocked kernel's folded sums.  ln sum w = ln n0 + log1p(rest / n0): the weight above the lowest
    states is kept where it is below the rounding of 1 (large beta, where the entropy is that weight)."""
    ln2 = np.log(2.0) if plan.symmetric else 0.0
    total = sums.n0 + sums.rest
    if sums.n0 > 0:
        ln_s0 = np.log(sums.n0) + np.log1p(sums.rest / sums.n0) + ln2
    else:  # pragma: no cover - the lowest state is always counted at its reference
        ln_s0 = np.log(total) + ln2
    x1 = sums.s1 / total  # <E> - e0 >= 0
    zm = sums.zm + sums.zm[:, ::-1] if plan.symmetric else sums.zm  # held spin at -1: M -> -M
    mean_m, var_m, abs_m = _magnetisation(zm, n)
    moments = {
        "lnZ": ln_s0 - betas * sums.e0, "mean_e": sums.e0 + x1,
        "entropy": ExactResult.entropy_from_excess(ln_s0, x1, betas),
        "var_e": sums.s2 / total - x1 * x1,  # about e0: <y^2> - <y>^2 with y >= 0 small at large beta
        "mean_m": mean_m, "var_m": var_m, "abs_m": abs_m,
    }
    if not sites:
        return moments, None
    if plan.symmetric:
        return moments, np.zeros((betas.size, n))
    site = sums.site.copy()
    site[:, :plan.k] = sums.low @ plan.s_low  # contract the low-configuration weights with s_i(l)
    return moments, site / total[:, None]


def _from_histogram(hist, quantum, q_lo, betas, n):
    """Moments (for :meth:`ExactResult.from_moments`) from exact counts hist[level, (M + N)/2],
    E = quantum (level + q_lo)."""
    per_level = hist.sum(1)
    levels = np.flatnonzero(per_level)
    counts = per_level[levels].astype(np.float64)
    E0 = quantum * (levels[0] + q_lo)
    dE = quantum * (levels - levels[0])  # >= 0, exact multiples of the quantum
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
    mean_m, var_m, abs_m = _magnetisation(p @ cond, n)
    return {
        "lnZ": ln_z - betas * E0, "mean_e": E0 + dU, "entropy": ExactResult.entropy_from_excess(ln_z, dU, betas),
        "var_e": (p * (dE[None, :] - dU[:, None]) ** 2).sum(1),  # centred: no cancellation
        "mean_m": mean_m, "var_m": var_m, "abs_m": abs_m,
    }


def _reference_chunk_bits(n: int) -> int:
    # chunks of 2^14..2^20 states, each re-anchored from scratch
    return n if n <= 14 else max(14, min(20, n - 8))


def _reference(model: IsingModel, b) -> ExactResult:
    """The simple Gray-code kernel (all states, no blocking, no symmetry): the kernel the fast paths are
    tested against.  Its sums are the raw ones (w, w y, w y^2 about the least energy, w M, w M^2, w |M|),
    so its Var(M) is <M^2> - <M>^2 and ln sum w rounds the weight above the ground state against 1: at
    large beta with a field its chi and s lose the accuracy the fast paths keep."""
    from ..kernels.exact import _enumerate_chunks, gray_spins, merge_chunks

    n = model.n
    indptr, indices, data = model.csr
    e_lo, t_lo, acc = _enumerate_chunks(indptr, indices, data, model.fields, b, _reference_chunk_bits(n))
    e0, tot = merge_chunks(e_lo, acc, b)
    s0, x1, mean_m = tot[:, 0], tot[:, 1] / tot[:, 0], tot[:, 3] / tot[:, 0]
    ln_s0 = np.log(s0)
    return ExactResult.from_moments(
        b, n, path="reference", e0=float(e0), ground_state=gray_spins(t_lo[int(np.argmin(e_lo))], n),
        lnZ=ln_s0 - b * e0, mean_e=e0 + x1, entropy=ExactResult.entropy_from_excess(ln_s0, x1, b),
        var_e=tot[:, 2] / s0 - x1 * x1, mean_m=mean_m, var_m=tot[:, 4] / s0 - mean_m * mean_m,
        abs_m=tot[:, 5] / s0)


# ---------------------------------------------------------------------------- the exact-path protocol
#: Name of this module's path family in messages and ``--dry-run`` (its runs report the summation path).
PATH_NAME = "enumeration"
#: ExactResult fields this path leaves NaN: none.
NOT_GIVEN: tuple[str, ...] = ()
#: Modelled ns of the blocked kernel on one core, per state (the offsets pass and, on the chain, its two
#: exps) and per state and beta, by summation path: measured with one thread on SK N = 24 (direct 1 and
#: 8 betas, chain 64, histogram; the 2-core test machine, 2026-12-06).  Only their ratios to the other
#: paths' constants matter: they decide the path, never a time limit.
NS_PER_STATE = {"histogram": 1.0, "chain": 2.5, "direct": 0.5}
NS_PER_STATE_BETA = {"histogram": 0.0, "chain": 0.35, "direct": 2.2}
#: Work of the per-site sums relative to the plain pass (+40 % at 64 betas, docs/architecture.md).
SITES_FACTOR = 1.4


def applicable(model: IsingModel, betas, *, sites: bool) -> str | None:
    """None if enumeration can run on ``model`` (N <= :data:`HARD_MAX_N`); else the reason.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (unused).
    sites : bool
        Per-site magnetisations wanted (unused).

    Returns
    -------
    str or None
        The reason, or None.
    """
    if model.n > HARD_MAX_N:
        return f"2^{model.n} states (enumeration stops at N = {HARD_MAX_N})"
    return None


def work(model: IsingModel, betas, *, sites: bool = False) -> float:
    """Modelled seconds of :func:`run` on one core (the :class:`isingvar.exact.ExactPath` protocol): the
    states enumerated (half with every field zero) times :data:`NS_PER_STATE` + :data:`NS_PER_STATE_BETA`
    x betas of the summation path :func:`choose_path` picks; 0 below N = :data:`ESTIMATE_FROM_N`
    (milliseconds: enumeration, listed first, then wins), inf beyond :data:`HARD_MAX_N`.  Deterministic.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    sites : bool, default False
        Per-site magnetisations wanted.

    Returns
    -------
    float
        Modelled seconds.
    """
    if applicable(model, betas, sites=sites) is not None:
        return float("inf")
    if model.n < ESTIMATE_FROM_N:
        return 0.0
    b = np.sort(np.asarray(betas, dtype=np.float64).reshape(-1))
    path = choose_path(model, b, sites)
    symmetric = not np.any(model.fields)
    ns = NS_PER_STATE[path] + NS_PER_STATE_BETA[path] * b.size
    if sites and not symmetric:
        ns *= SITES_FACTOR
    return 2.0 ** (model.n - (1 if symmetric else 0)) * ns * 1e-9


def run(model: IsingModel, betas, *, sites: bool = False,
        progress: Callable[[int, int], None] | None = None) -> ExactResult:
    """:func:`exact_enumeration` on the ``auto`` path (the :class:`isingvar.exact.ExactPath` protocol).

    Parameters
    ----------
    model : IsingModel
        The instance, N <= :data:`HARD_MAX_N`.
    betas : array_like of float, shape (nb,)
        Inverse temperatures, finite and >= 0, any order.
    sites : bool, default False
        Also the per-site magnetisations <s_i>.
    progress : callable(done_states, total_states) or None
        Called between kernel calls, where Ctrl-C is honoured.

    Returns
    -------
    ExactResult
        The exact values at every beta.

    Raises
    ------
    TooLargeError
        If N > :data:`HARD_MAX_N`.
    ValueError
        If a beta is negative or not finite.
    """
    return exact_enumeration(model, betas, sites=sites, progress=progress)
