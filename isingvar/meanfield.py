"""Naive mean field: a rigorous lower bound on ln Z.

For the product distribution Q(s) = prod_i (1 + m_i s_i)/2 the Gibbs
variational principle (Gibbs-Bogoliubov inequality; MacKay, *Information
Theory, Inference, and Learning Algorithms*, ch. 33; Wainwright & Jordan 2008,
sec. 5) gives

    beta F~(m) = beta U(m) - S(m) = beta F + D_KL(Q || P) >= beta F = -ln Z,

so ``lnZ_lower = S(m) - beta U(m) <= ln Z`` for *every* m in [-1, 1]^N.  The
bound is evaluated at the final m whether or not the iteration converged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .interrupt import deferred_interrupt
from .model import IsingModel
from .parallel import kernel_threads, numba_threads
from .thermo import free_energy_per_spin

#: Names of the fresh starting points tried at every beta, in order.
STARTS = ("paramagnetic", "up", "down", "random")


@dataclass(frozen=True)
class MeanFieldResult:
    """Mean-field results of one model over a beta grid.

    Attributes (float64 arrays of shape (nb,) aligned with ``betas`` unless noted)
    ----------
    betas : inverse temperatures.
    lnZ_lower : S - beta U at the chosen m; a lower bound on ln Z (nats, total).
    f_upper : -lnZ_lower / (beta N); an upper bound on the free energy per spin
        (-inf at beta = 0).
    u : U(m)/N, mean-field internal energy per spin.
    s : S(m)/N, entropy of Q per spin (nats).
    m : mean magnetisation sum_i m_i / N.
    iterations : int64, sweeps of the run that produced the chosen m.
    converged : bool, whether that run reached max |dm| < tol.
    sites : float64 (nb, N) per-site m_i, or None when not kept.
    """

    betas: np.ndarray
    lnZ_lower: np.ndarray
    f_upper: np.ndarray
    u: np.ndarray
    s: np.ndarray
    m: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    sites: np.ndarray | None


def _fresh_starts(rng, n):
    return np.stack(
        [
            rng.uniform(-1e-3, 1e-3, n),  # paramagnetic, slightly broken symmetry
            np.ones(n),
            -np.ones(n),
            rng.uniform(-1.0, 1.0, n),
        ]
    )


#: Sweeps between checks of the candidates' progress.
BLOCK = 10
#: Safety factor on the extrapolated remaining decrease of beta F~ before a run is dropped.
PRUNE_MARGIN = 2.0
#: Blocks over which a decrease that does not shrink is extrapolated linearly.
PRUNE_HORIZON = 10


def _descend(csr, h, beta, starts, max_sweeps, tol):
    """Minimise F~ from every row of ``starts`` (K, N), in place.

    The runs advance together, BLOCK sweeps at a time, in parallel.  A run that
    cannot plausibly reach the best run's current F~ is stopped early: its
    remaining decrease of beta F~ is extrapolated from its last two blocks
    (geometrically when the decrease shrinks, else linearly over at most
    PRUNE_HORIZON blocks), and the run stops when its gap to the best exceeds
    PRUNE_MARGIN times that.  Any m is a valid bound, so pruning only decides which local
    minimum is reported, never whether the bound holds.

    Returns
    -------
    sweeps : int64 (K,), converged : bool (K,), stats : float64 (K, 4)
        As filled by :func:`isingvar.kernels.meanfield._mf_solve_many`.
    """
    k = starts.shape[0]
    active = np.ones(k, dtype=bool)
    sweeps = np.zeros(k, dtype=np.int64)
    converged = np.zeros(k, dtype=bool)
    stats = np.full((k, 4), np.inf)
    last_drop = np.full(k, np.nan)
    from .kernels.meanfield import _mf_solve_many

    if not _mf_solve_many.signatures:  # compile with signals live (inside the block they wait for the compiler)
        _mf_solve_many(*csr, h, beta, starts, np.zeros(k, dtype=bool), 0, tol, sweeps, converged, stats)
    with deferred_interrupt() as check:
        while active.any():
            _block(csr, h, beta, starts, active, sweeps, converged, stats, last_drop, max_sweeps, tol)
            check()
    return sweeps, converged, stats


#: Least work worth a thread of its own in a block of mean-field sweeps, in coupling visits
#: (sweeps x (2 edges + N)); measured in docs/performance.md.
MIN_THREAD_WORK = 1 << 18


def _threads(csr, runs: int, sweeps: int) -> int:
    """Threads for a block of ``sweeps`` sweeps of ``runs`` runs: :func:`isingvar.parallel.kernel_threads`."""
    import numba

    indptr = csr[0]
    work = runs * sweeps * (int(indptr[-1]) + indptr.size - 1)
    return kernel_threads(work, runs, MIN_THREAD_WORK, numba.get_num_threads())


def _block(csr, h, beta, starts, active, sweeps, converged, stats, last_drop, max_sweeps, tol):
    """Advance the active runs by one block and stop those that are done or hopeless."""
    from .kernels.meanfield import _mf_solve_many

    before = stats[:, 0].copy()
    step = int(min(BLOCK, max_sweeps - sweeps[active].min()))
    with numba_threads(_threads(csr, int(active.sum()), step)):
        _mf_solve_many(*csr, h, beta, starts, active, step, tol, sweeps, converged, stats)
    drop = before - stats[:, 0]  # >= 0 up to round-off: sequential updates never raise F~
    best = stats[:, 0].min()
    for r in np.flatnonzero(active):
        if converged[r] or sweeps[r] >= max_sweeps:
            active[r] = False
            continue
        gap = stats[r, 0] - best
        if gap <= 0 or not np.isfinite(drop[r]):
            continue
        left = min((max_sweeps - sweeps[r]) / BLOCK, PRUNE_HORIZON)
        # the first finite drop has no predecessor: extrapolate linearly (ratio = inf)
        ratio = drop[r] / last_drop[r] if 0 < last_drop[r] < np.inf else np.inf
        gain = drop[r] * left if ratio >= 1 else min(drop[r] * ratio / (1 - ratio), drop[r] * left)
        if gap > PRUNE_MARGIN * gain:
            active[r] = False
    last_drop[:] = drop


def mean_field(
    model: IsingModel,
    betas,
    *,
    rng: np.random.Generator,
    max_sweeps: int = 2000,
    tol: float = 1e-10,
    keep_sites: bool = True,
    progress=None,
) -> MeanFieldResult:
    """Minimise the naive mean-field free energy at every beta of a grid.

    At each beta the sequential fixed-point iteration m_i <- tanh(beta g_i)
    runs from the fresh :data:`STARTS` and from the solution at the previous
    beta (continuation upward in beta); a second pass continues downward from
    the highest beta.  The m with the lowest F~ is kept.

    Parameters
    ----------
    model : IsingModel
    betas : array_like of float, shape (nb,)
        Finite, >= 0, any order.
    rng : numpy.random.Generator
        Source of the random starts (results are reproducible given its state).
    max_sweeps : int
        Sweeps allowed per run.
    tol : float
        Convergence threshold on max_i |delta m_i| over one sweep.
    keep_sites : bool
        Return the per-site m_i at every beta (memory nb * N * 8 bytes).
    progress : callable(), optional
        Called after each of the 2 nb - 1 continuation steps (for progress bars).

    Returns
    -------
    MeanFieldResult

    Raises
    ------
    ValueError
        If a beta is negative or not finite, or max_sweeps < 1.
    """
    b = np.ascontiguousarray(betas, dtype=np.float64)
    if b.ndim != 1 or not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError("betas must be a 1-D array of finite values >= 0")
    if max_sweeps < 1:
        raise ValueError("max_sweeps must be at least 1")
    n, nb = model.n, b.size
    csr = model.csr

    beta_f = np.full(nb, np.inf)  # beta F~ of the best m so far
    u = np.empty(nb)
    s = np.empty(nb)
    mag = np.empty(nb)
    iterations = np.zeros(nb, dtype=np.int64)
    converged = np.zeros(nb, dtype=bool)
    sites = np.empty((nb, n)) if keep_sites else None

    def solve(k, starts):
        """Run from every row of ``starts``; keep the best if it beats the record at k."""
        sw, conv, stats = _descend(csr, model.fields, b[k], starts, max_sweeps, tol)
        r = int(np.argmin(stats[:, 0]))
        if stats[r, 0] < beta_f[k]:
            beta_f[k], u[k], s[k], mag[k] = stats[r]
            iterations[k], converged[k] = sw[r], conv[r]
            if sites is not None:
                sites[k] = starts[r]
        return starts[r]

    order = np.argsort(b, kind="stable")
    carry = None
    for k in order:  # upward in beta: fresh starts plus continuation
        starts = _fresh_starts(rng, n)
        if carry is not None:
            starts = np.vstack([starts, carry[None, :]])
        carry = solve(k, starts).copy()
        if progress:
            progress()
    for k in order[-2::-1]:  # downward in beta from the highest
        carry = solve(k, carry[None, :].copy())
        if progress:
            progress()

    lnZ_lower = -beta_f
    return MeanFieldResult(
        betas=b,
        lnZ_lower=lnZ_lower,
        f_upper=free_energy_per_spin(lnZ_lower, b, n),
        u=u / n,
        s=s / n,
        m=mag / n,
        iterations=iterations,
        converged=converged,
        sites=sites,
    )
