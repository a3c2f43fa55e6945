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

from . import patterns
from .interrupt import deferred_interrupt
from .model import IsingModel
from .parallel import kernel_threads, numba_threads
from .thermo import check_betas, free_energy_per_spin

#: Names of the fresh starting points tried at every beta, in order.
STARTS = ("paramagnetic", "up", "down", "random")


@dataclass(frozen=True)
class MeanFieldResult:
    """Mean-field results of one model over a beta grid.

    The arrays are float64 of shape (nb,), aligned with ``betas``, unless noted.

    Attributes
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


def _draw_starts(rng, n):
    """The fresh :data:`STARTS` by name: the random rows, float64 (N,) in site order (paramagnetic, with
    slightly broken symmetry, then uniform random: drawn in that order at every beta), and the constant
    ones as scalars (up 1.0, down -1.0)."""
    return {"paramagnetic": rng.uniform(-1e-3, 1e-3, n), "up": 1.0, "down": -1.0, "random": rng.uniform(-1.0, 1.0, n)}


def _fresh_starts(drawn, names, perm, spare):
    """Rows of the starts ``names`` (from :func:`_draw_starts`) in sweep order (``perm``: the sweep's
    renumbering or None), plus ``spare`` uninitialised rows at the end: float64 (len(names) + spare, N)."""
    n = drawn["random"].size
    out = np.empty((len(names) + spare, n))
    for q, name in enumerate(names):
        value = drawn[name]
        out[q] = value[perm] if perm is not None and np.ndim(value) else value
    return out


#: Sweeps between checks of the candidates' progress.
BLOCK = 10
#: Safety factor on the extrapolated remaining decrease of beta F~ before a run is dropped.
PRUNE_MARGIN = 2.0
#: Blocks over which a decrease that does not shrink is extrapolated linearly.
PRUNE_HORIZON = 10


#: Least mean number of sites per colour class for the colour-class sweeps; below it (dense
#: couplings: SK and Curie-Weiss need N colours) the plain sequential sweep runs.
MIN_CLASS = 16
#: Fewest spins for which a lone run's colour classes are shared among the threads
#: (:func:`isingvar.kernels.meanfield._colour_solve_wide`: two parallel regions per sweep on a
#: bipartite lattice); several runs always go one per thread.  With the second core busy, each
#: region waited for a scheduler time slice: a sweep of square L = 1000 took 42 ms on 2 threads
#: against 25 ms on one, L = 300 48 ms against 3 (docs/performance.md), so only beyond 4 * 10^6 spins.
WIDE_MIN = 1 << 22

def colour_classes(model: IsingModel):
    """A proper colouring of the coupling graph, grouped: (perm, cstart), kept in the pattern cache
    (:mod:`isingvar.patterns`: a sweep's samples and its J and h axes colour once).

    ``perm`` int64 (N,) lists the sites class by class (ascending within a class) and
    class c is ``perm[cstart[c]:cstart[c + 1]]`` (``cstart`` int64 (C + 1,)).  No two
    sites of one class are coupled.  First-fit in site order
    (:func:`isingvar.kernels.meanfield._greedy_colouring`): 2 classes on square and
    cubic lattices with even L or open boundaries, at most d + 1 on a d-regular graph,
    N on a dense model.

    Parameters
    ----------
    model : IsingModel
        The instance.

    Returns
    -------
    perm : ndarray of int64, shape (N,)
        The sites class by class.
    cstart : ndarray of int64, shape (C + 1,)
        Start of each class in ``perm``.
    """

    def build():
        """(perm, cstart) of the model's pattern.

        Returns
        -------
        perm : ndarray of int64, shape (N,)
            The sites class by class.
        cstart : ndarray of int64, shape (C + 1,)
            Start of each class in ``perm``.
        """
        from .kernels.meanfield import _greedy_colouring

        indptr, indices, _ = model.csr_pattern
        colour = _greedy_colouring(indptr, indices)
        perm = np.argsort(colour, kind="stable")
        cstart = np.zeros(int(colour.max(initial=-1)) + 2, dtype=np.int64)
        np.cumsum(np.bincount(colour, minlength=cstart.size - 1), out=cstart[1:])
        return perm, cstart

    return patterns.get(model, "meanfield colouring", build)


def gershgorin_bound(model: IsingModel) -> float:
    """max_i sum_j |J_ij|, an upper bound on the largest eigenvalue of the coupling matrix (Gershgorin).

    Below beta = 1 / this value the mean-field free energy F~ is strictly convex on [-1, 1]^N
    (its Hessian diag(1 / (1 - m_i^2)) - beta J >= I - beta J is positive definite), so it has
    a single minimum.  0.0 for a model without couplings.  Units: energy (those of J).

    Parameters
    ----------
    model : IsingModel
        The instance.

    Returns
    -------
    float
        The bound (energy).
    """
    indptr, _, data = model.csr
    if data.size == 0:
        return 0.0
    rows = np.repeat(np.arange(model.n), np.diff(indptr))
    return float(np.bincount(rows, weights=np.abs(data), minlength=model.n).max())


class _Sweeps:
    """The couplings in the order the sweeps visit the sites, and the kernel that sweeps them.

    With colour classes (mean class size >= MIN_CLASS, or ``coloured=True``) the
    sites are renumbered class by class, so each class is a contiguous range that
    :func:`isingvar.kernels.meanfield._colour_solve` updates at once (vectorised
    tanh, threads within a class for N >= WIDE_MIN); otherwise the sequential sweep
    in site order.  Both are exact coordinate descent on F~.  The choice depends on
    the model alone, never on the thread count, so results do not either.
    """

    def __init__(self, model: IsingModel, coloured: bool | None = None):
        self.perm = self.cstart = None
        indptr, indices, data = model.csr
        h = model.fields
        if coloured is not False:
            perm, cstart = colour_classes(model)
            if coloured or model.n >= MIN_CLASS * (cstart.size - 1):
                inv = np.empty_like(perm)
                inv[perm] = np.arange(perm.size)
                deg = np.diff(indptr)[perm]
                new_ptr = np.zeros_like(indptr)
                np.cumsum(deg, out=new_ptr[1:])
                # CSR slots of the renumbered rows, row by row in the new order
                src = np.repeat(indptr[perm] - new_ptr[:-1], deg) + np.arange(new_ptr[-1])
                # uint32 columns (N <= MAX_SPINS < 2^32): numba emits no negative-index wrap-around for
                # unsigned indices, and the gather ran 10.5 -> 8.8 ms per L = 1000 sweep (performance.md)
                indices = inv.astype(np.uint32)[indices[src]]
                indptr, data = new_ptr, np.ascontiguousarray(data[src])
                h = np.ascontiguousarray(h[perm])
                self.perm, self.cstart = perm, cstart
        self.csr = (indptr, indices, data)
        self.h = h
        self.wide = self.perm is not None and model.n >= WIDE_MIN

    def to_order(self, starts):
        """Rows of ``starts`` (K, N) in sweep order (a copy when renumbered)."""
        return starts if self.perm is None else np.ascontiguousarray(starts[:, self.perm])

    def from_order(self, work, starts):
        """Write ``work`` (K, N) (sweep order) into ``starts`` (K, N) (site order)."""
        if self.perm is not None:
            starts[:, self.perm] = work
        elif starts is not work:
            starts[...] = work

    def compile(self, beta, starts, tol):
        """Compile the kernels with signals live (inside the block they wait for the compiler)."""
        k = starts.shape[0]
        none = np.zeros(k, dtype=bool)
        args = (np.zeros(k, dtype=np.int64), np.zeros(k, dtype=bool), np.full((k, 4), np.inf))
        from .kernels import meanfield as kern

        if self.perm is None:
            if not kern._mf_solve_many.signatures:
                kern._mf_solve_many(*self.csr, self.h, beta, starts, none, 0, tol, *args)
            return
        if not kern._mf_colour_many.signatures:
            kern._mf_colour_many(*self.csr, self.h, beta, self.cstart, starts, none, 0, tol, *args)
        if self.wide and not kern._colour_solve_wide.signatures:
            kern._colour_solve_wide(*self.csr, self.h, beta, self.cstart, starts[0].copy(), 0, tol)
            kern._mf_stats_wide(*self.csr, self.h, starts[0])

    def advance(self, beta, starts, active, step, tol, sweeps, converged, stats):
        """Up to ``step`` sweeps of every active run, with the contract of
        :func:`isingvar.kernels.meanfield._mf_solve_many` (``starts`` in sweep order).

        Several runs: one per thread.  One run of a large model (``wide``): its
        classes shared among the threads.  Either gives the same numbers.
        """
        from .kernels import meanfield as kern

        runs = int(active.sum())
        if self.perm is None:
            with numba_threads(_threads(self.csr, runs, step)):
                kern._mf_solve_many(*self.csr, self.h, beta, starts, active, step, tol, sweeps, converged, stats)
        elif runs > 1 or not self.wide:
            with numba_threads(_threads(self.csr, runs, step)):
                kern._mf_colour_many(*self.csr, self.h, beta, self.cstart, starts, active, step, tol, sweeps,
                                     converged, stats)
        else:
            import numba

            r = int(np.flatnonzero(active)[0])
            pieces = int(np.diff(self.cstart).max()) // kern.PIECE + 1
            work = step * (int(self.csr[0][-1]) + self.perm.size)
            with numba_threads(kernel_threads(work, pieces, MIN_THREAD_WORK, numba.get_num_threads())):
                done, conv = kern._colour_solve_wide(*self.csr, self.h, beta, self.cstart, starts[r], step, tol)
                u, s, total = kern._mf_stats_wide(*self.csr, self.h, starts[r])
            sweeps[r] += done
            converged[r] = conv
            stats[r] = beta * u - s, u, s, total


def _descend(sweeper, beta, starts, max_sweeps, tol):
    """Minimise F~ from every row of ``starts`` (K, N), in sweep order (:meth:`_Sweeps.to_order`), in place.

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
    sweeper.compile(beta, starts, tol)
    with deferred_interrupt() as check:
        while active.any():
            _block(sweeper, beta, starts, active, sweeps, converged, stats, last_drop, max_sweeps, tol)
            check()
    return sweeps, converged, stats


#: Least work worth a thread of its own in a block of mean-field sweeps, in coupling visits
#: (sweeps x (2 edges + N)); measured in docs/performance.md.
MIN_THREAD_WORK = 1 << 18


def _threads(csr, runs: int, sweeps: int) -> int:
    """Threads for a block of ``sweeps`` sweeps of ``runs`` runs (or pieces of one run's classes):
    :func:`isingvar.parallel.kernel_threads`."""
    import numba

    indptr = csr[0]
    work = runs * sweeps * (int(indptr[-1]) + indptr.size - 1)
    return kernel_threads(work, runs, MIN_THREAD_WORK, numba.get_num_threads())


def _block(sweeper, beta, starts, active, sweeps, converged, stats, last_drop, max_sweeps, tol):
    """Advance the active runs by one block and stop those that are done or hopeless."""
    before = stats[:, 0].copy()
    step = int(min(BLOCK, max_sweeps - sweeps[active].min()))
    sweeper.advance(beta, starts, active, step, tol, sweeps, converged, stats)
    drop = before - stats[:, 0]  # >= 0 up to round-off: coordinate-descent sweeps never raise F~
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
    the highest beta.  The m with the lowest F~ is kept.  Runs whose outcome is
    known are skipped: "down" when every field is zero (the mirror image of
    "up"), and every run but one where F~ is strictly convex
    (beta * :func:`gershgorin_bound` < 1) once that one has converged.

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
    b = check_betas(betas)
    if max_sweeps < 1:
        raise ValueError("max_sweeps must be at least 1")
    n, nb = model.n, b.size
    sweeper = _Sweeps(model)

    beta_f = np.full(nb, np.inf)  # beta F~ of the best m so far
    u = np.empty(nb)
    s = np.empty(nb)
    mag = np.empty(nb)
    iterations = np.zeros(nb, dtype=np.int64)
    converged = np.zeros(nb, dtype=bool)
    sites = np.empty((nb, n)) if keep_sites else None

    def solve(k, starts):
        """Run from every row of ``starts`` (sweep order); keep the best if it beats the record at k.

        Parameters
        ----------
        k : int
            Beta index.
        starts : ndarray of float64, shape (R, N)
            Starting magnetisations, in sweep order.

        Returns
        -------
        ndarray of float64, shape (N,)
            The best run's row (a view into ``starts``).
        """
        sw, conv, stats = _descend(sweeper, b[k], starts, max_sweeps, tol)
        r = int(np.argmin(stats[:, 0]))
        if stats[r, 0] < beta_f[k]:
            beta_f[k], u[k], s[k], mag[k] = stats[r]
            iterations[k], converged[k] = sw[r], conv[r]
            if sites is not None:
                sweeper.from_order(starts[r:r + 1], sites[k:k + 1])
        return starts[r]

    # Runs whose end is already known are not run (docs/architecture.md, "Mean field"):
    # - with every field zero, F~(m) = F~(-m) and the sweeps are odd in m bit for bit (tanh and the
    #   local fields are), so the run from all -1 is the mirror image of the run from all +1, with the
    #   same F~; "up" wins the tie, so "down" is never run;
    # - below beta_convex = 1 / max_i sum_j |J_ij| (Gershgorin: beta lambda_max(J) < 1) the Hessian
    #   diag(1 / (1 - m_i^2)) - beta J of beta F~ is positive definite on the whole cube, so F~ has one
    #   minimum and every run converges to it: one run (the continuation, else the paramagnetic start)
    #   is enough once it has converged; the others run only when it has not.
    lam = gershgorin_bound(model)
    names = [name for name in STARTS if not (name == "down" and not np.any(model.fields))]

    def convex(k):
        """Whether the step at beta index ``k`` keeps the update a contraction (beta lam < 1).

        Parameters
        ----------
        k : int
            Beta index.

        Returns
        -------
        bool
            True below the Gershgorin threshold.
        """
        return b[k] * lam < 1.0

    # the runs live in the sweep's order (the carry too); only the random rows are renumbered, and only
    # the best run of a beta goes back to site order (when the sites are kept)
    order = np.argsort(b, kind="stable")
    carry = None
    for k in order:  # upward in beta: fresh starts plus continuation
        drawn = _draw_starts(rng, n)  # at every beta, so the random starts never depend on the rules
        if convex(k):
            first = _fresh_starts(drawn, names[:1], sweeper.perm, 0) if carry is None else carry[None, :].copy()
            carry = solve(k, first).copy()
        if not (convex(k) and converged[k]):
            starts = _fresh_starts(drawn, names, sweeper.perm, int(carry is not None))
            if carry is not None:
                starts[-1] = carry
            carry = solve(k, starts).copy()
        if progress:
            progress()
    for k in order[-2::-1]:  # downward in beta from the highest
        if not (convex(k) and converged[k]):  # a converged run found the one minimum there
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
