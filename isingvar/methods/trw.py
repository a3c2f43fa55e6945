"""Tree-reweighted (TRW) upper bound on ln Z, certified by an explicit tree decomposition.

For spanning trees (forests on disconnected graphs) T with weights rho_T >= 0, sum_T rho_T = 1, and
tree-structured parameters theta_T with sum_T rho_T theta_T = theta, convexity of ln Z gives
(Wainwright, Jaakkola & Willsky, IEEE Trans. Inf. Theory 51, 2313 (2005), eq. (13))

    ln Z(theta) <= sum_T rho_T ln Z(theta_T).

Here theta = (beta J_ij on the edges, beta h_i on the sites), E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i.
``lnZ_trw_upper`` is always that right-hand side for an explicit list of trees, every ln Z(theta_T)
computed by exact log-domain sum-product on its tree, after checking that the list reproduces theta to
rounding (:data:`RESIDUAL_LIMIT`, relative).  It is a valid bound at every iterate.

Tree parameters for fixed rho: TRW message passing (:mod:`isingvar.kernels.bp`) gives messages u; each
tree gets couplings K_e = theta_e / rho_e and fields g^T_i = theta_i + sum_j rho_ij u_{j->i}
- sum_{j: ij in T} u_{j->i}, the canonical parameters of the TRW pseudo-marginals restricted to T
(Wainwright et al. eq. (31)); sum_T rho_T theta_T = theta holds for any u, and at the TRW fixed
point the primal value is the optimum for these rho.  Edge appearance probabilities rho_e are then
improved by conditional gradient (Sec. VI): the maximum-weight spanning tree on the edge mutual
informations of the pseudo-marginals joins the list with step gamma (halved up to twice when the bound
does not drop), so the list grows one tree per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ConfigFileError, TooLargeError
from ..interrupt import deferred_interrupt

# The kernels (isingvar.kernels.bp, numba) are imported inside the functions that call them: the
# registry imports every method module when the CLI starts, and `isingvar --help` loads no numba.
from ..parallel import kernel_threads, numba_threads
from ..thermo import check_betas, free_energy_per_spin
from .base import Method, Var, model_file_lnZ, per_beta

#: Largest relative residual |sum_T rho_T theta_T - theta| / scale accepted (scale: the largest
#: |theta| or |rho_T theta_T| entering the sum); above it the decomposition is refused.
RESIDUAL_LIMIT = 1e-12

#: Seconds per unit of work of the cost model (one CSR slot in one message sweep, or one site of one
#: tree sum), calibrated on the development machine (2-core Xeon) with benchmarks/bounds.py speed:
#: square L = 256 and sk n = 200, 64 betas, fall within a factor 2 of the estimate.
SECONDS_PER_SLOT_SWEEP = 3e-8

#: Least work (tree sites: trees x N) worth a thread of its own in the parallel tree sums; smaller
#: calls run on one thread (a parallel region can wait a scheduler slice on a busy machine:
#: isingvar.parallel.kernel_threads).  About 5-10 ms of work at 50-100 ns per tree site.
MIN_THREAD_WORK = 1 << 17

#: Largest ``width`` setting: a component's tables hold 2^(width + 1) entries per spin.
MAX_WIDTH = 20

#: With ``width`` > 1, the constructions whose starting bound lies within this fraction of the best
#: start get their field shares optimised (a vertex-cover construction on a lattice starts ~40 % above
#: the bands and stays there: benchmarks/bounds.py uai).
LEAD_FRACTION = 0.05

#: Seconds per clique entry of one elimination pass over the components (``width`` > 1), with the
#: per-site backward pass; calibrated on the development machine with benchmarks/bounds.py uai.
SECONDS_PER_ENTRY = 2e-8
#: Seconds of one elimination call's fixed work (plan lookup, tables, ground state) and of finding the
#: constructions per spin (elimination plans in Python), same calibration.
SECONDS_PER_CALL = 5e-3
SECONDS_PER_SPIN_PLAN = 5e-3


def _tree_threads(trees) -> int:
    import numba

    return kernel_threads(len(trees) * trees.g.n, len(trees), MIN_THREAD_WORK, numba.get_num_threads())


@dataclass(frozen=True)
class Settings:
    """TRW settings.

    max_iterations : message sweeps allowed per TRW solve (one solve per tried tree list).
    tol : convergence threshold on max |delta u| over a sweep (nats).
    damping : message damping in [0, 1).
    tree_steps : conditional-gradient steps on the edge appearance probabilities per beta (0: keep
        the starting trees).
    max_trees : trees kept beyond the starting set; above it the lightest trees whose edges are
        covered by others are dropped.
    polish_iterations : L-BFGS steps on the primal over the messages when message passing did not
        converge (each step one or more passes over all trees); 0 (default) turns it off: on the
        UAI Grids/DBN files it lowered the bound by < 0.01 % (benchmarks/bounds.py, docs/methods.md).
    start_trees : least number of random spanning trees a sparse graph starts from (more are added
        until every coupled pair is covered).
    width : 1 (default): spanning trees as above.  W > 1: components of elimination width <= W (bands
        of layers, vertex-cover groups, or the whole graph where its width is <= W), each ln Z exact by
        variable elimination (:mod:`isingvar.methods._trw_components`); the least bound over the
        constructions is reported.  Work grows as 2^W per spin of each component.
    share_iterations : with width > 1, L-BFGS steps on the components' field shares per beta and
        construction (0: uniform shares).
    """

    max_iterations: int = 300
    tol: float = 1e-8
    damping: float = 0.5
    tree_steps: int = 6
    max_trees: int = 32
    start_trees: int = 2
    polish_iterations: int = 0
    width: int = 1
    share_iterations: int = 30

    def __post_init__(self):
        check_settings("trw", self)
        if not 1 <= self.width <= MAX_WIDTH:
            raise ConfigFileError(f"--trw-width (trw.width) must be in 1..{MAX_WIDTH}, got {self.width!r}")


def check_settings(method: str, s) -> None:
    """Raise ConfigFileError naming the option when a message-passing setting is out of range."""
    def bad(field, what):
        raise ConfigFileError(f"--{method}-{field.replace('_', '-')} ({method}.{field}) must be {what}, "
                              f"got {getattr(s, field)!r}")

    if s.max_iterations < 1:
        bad("max_iterations", "at least 1")
    if not s.tol > 0:
        bad("tol", "> 0")
    if not 0 <= s.damping < 1:
        bad("damping", "in [0, 1)")
    for field, least in (("tree_steps", 0), ("max_trees", 0), ("start_trees", 1), ("polish_iterations", 0),
                         ("share_iterations", 0)):
        if hasattr(s, field) and getattr(s, field) < least:
            bad(field, f">= {least}")


class Graph:
    """The CSR structure of a model and the slot/edge maps the message kernels need."""

    def __init__(self, model):
        from ..kernels import bp
        indptr, indices, src = model.csr_pattern
        self.n = model.n
        self.indptr = indptr
        self.indices = indices
        self.slot_edge = np.ascontiguousarray(src, dtype=np.int64)
        self.rev = bp._reverse_slots(indptr, indices)
        self.edge_i = model.edge_i
        self.edge_j = model.edge_j
        self.J_slot = np.ascontiguousarray(model.couplings[src])
        self.J = model.couplings
        self.h = model.fields
        E = model.n_edges
        # a slot of each edge in row edge_i
        rows = np.repeat(np.arange(self.n), np.diff(indptr))
        self.edge_slot = np.empty(E, dtype=np.int64)
        first = rows < indices
        self.edge_slot[src[first]] = np.flatnonzero(first)
        self.complete = self.n >= 3 and E == self.n * (self.n - 1) // 2
        keys = np.random.default_rng(0x7257).integers(0, 2**63, E, dtype=np.int64).astype(np.uint64)
        self.edge_keys = keys


class TreeList:
    """Explicit spanning trees/forests (rooted arrays, :func:`isingvar.kernels.bp.tree_lnz`) and weights."""

    def __init__(self, graph: Graph):
        self.g = graph
        self.orders: list[np.ndarray] = []
        self.parents: list[np.ndarray] = []
        self.pslots: list[np.ndarray] = []
        self.edges: list[np.ndarray] = []
        self.hashes: list[int] = []
        self.weights = np.zeros(0)
        self._stacked = None

    def copy(self):
        t = TreeList(self.g)
        t.orders, t.parents, t.pslots = list(self.orders), list(self.parents), list(self.pslots)
        t.edges, t.hashes = list(self.edges), list(self.hashes)
        t.weights = self.weights.copy()
        t._stacked = self._stacked
        return t

    def stacked(self):
        """(orders, parents, pslots) as int64 (K, N) arrays (cached until the list changes)."""
        if self._stacked is None:
            self._stacked = (np.stack(self.orders), np.stack(self.parents), np.stack(self.pslots))
        return self._stacked

    def __len__(self):
        return len(self.orders)

    def edges_of(self, k):
        """Edge ids (E-indexing) of tree k."""
        return self.edges[k]

    def add(self, order, parent, pslot, gamma):
        """Mix in a tree with weight gamma: rho <- (1 - gamma) rho + gamma 1_T (merged if already listed)."""
        edges = self.g.slot_edge[pslot[pslot >= 0]]
        h = int(np.sum(self.g.edge_keys[edges], dtype=np.uint64))
        self.weights = self.weights * (1.0 - gamma)
        if h in self.hashes:
            self.weights[self.hashes.index(h)] += gamma
            return
        self._stacked = None
        self.edges.append(edges)
        self.orders.append(order)
        self.parents.append(parent)
        self.pslots.append(pslot)
        self.hashes.append(h)
        self.weights = np.append(self.weights, gamma)

    def edge_rho(self):
        """rho_e = sum_{T contains e} rho_T, float64 (E,)."""
        if not self.edges:
            return np.zeros(self.g.J.size)
        sizes = [e.size for e in self.edges]
        return np.bincount(np.concatenate(self.edges), weights=np.repeat(self.weights, sizes),
                           minlength=self.g.J.size)

    def prune(self, keep: int, needed: np.ndarray):
        """Drop the lightest trees while more than ``keep`` remain, keeping every edge in ``needed``
        (bool (E,)) covered; the remaining weights are renormalised to sum 1."""
        if len(self) <= keep:
            return
        counts = np.bincount(np.concatenate(self.edges), minlength=self.g.J.size)
        drop = []
        for k in np.argsort(self.weights):
            if len(self) - len(drop) <= keep:
                break
            e = self.edges_of(k)
            if np.all(counts[e][needed[e]] >= 2):
                counts[e] -= 1
                drop.append(k)
        if not drop:
            return
        dropped = set(drop)
        keep_idx = [k for k in range(len(self)) if k not in dropped]
        self._stacked = None
        for name in ("orders", "parents", "pslots", "edges", "hashes"):
            lst = getattr(self, name)
            setattr(self, name, [lst[k] for k in keep_idx])
        w = self.weights[keep_idx]
        self.weights = w / w.sum()


def _empty_tree(n):
    return np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)


def _mst(graph: Graph, weight):
    from ..kernels import bp
    order, parent, pslot = _empty_tree(graph.n)
    bp.max_spanning_tree(graph.n, graph.edge_i, graph.edge_j, np.ascontiguousarray(weight, dtype=np.float64),
                         graph.indptr, graph.indices, order, parent, pslot)
    return order, parent, pslot


def starting_trees(graph: Graph, rng: np.random.Generator, start_trees: int) -> TreeList:
    """Star trees around every site of a complete graph (rho_e = 2/N); otherwise random spanning trees
    (forests), each preferring uncovered pairs, until every coupled pair is covered and at least
    ``start_trees`` are listed.  Uniform weights."""
    from ..kernels import bp
    trees = TreeList(graph)
    if graph.complete:
        for c in range(graph.n):
            order, parent, pslot = _empty_tree(graph.n)
            bp.star_tree(graph.indptr, graph.indices, c, order, parent, pslot)
            trees.add(order, parent, pslot, 1.0 / (len(trees) + 1))
        return trees
    needed = graph.J != 0
    covered = np.zeros(graph.J.size, dtype=bool)
    for attempt in range(graph.J.size + 4 * start_trees + 1):
        w = rng.random(graph.J.size) + np.where(covered | ~needed, 0.0, 1.0)
        order, parent, pslot = _mst(graph, w)
        trees.add(order, parent, pslot, 1.0 / (len(trees) + 1))
        p = pslot[pslot >= 0]
        covered[graph.slot_edge[p]] = True
        # a graph with few spanning trees (a tree, a cycle) may never give start_trees distinct ones
        if np.all(covered[needed]) and (len(trees) >= start_trees or attempt >= 4 * start_trees):
            return trees
    raise RuntimeError("TRW: spanning trees fail to cover the coupled pairs")  # pragma: no cover


@dataclass
class Solution:
    bound: float
    trees: TreeList
    u: np.ndarray
    H: np.ndarray
    kappa: np.ndarray
    sweeps: int
    converged: bool
    residual: float


def _slot_params(graph, trees, beta):
    """Per-slot tree couplings K_e = theta_e / rho_e (0 where rho_e = 0) and rho_e, theta_h = beta h,
    and rho_e (E,) from the explicit tree list."""
    theta_e = beta * graph.J
    rho_e = trees.edge_rho()
    kappa_e = np.divide(theta_e, rho_e, out=np.zeros_like(theta_e), where=rho_e > 0)
    return (np.ascontiguousarray(kappa_e[graph.slot_edge]), np.ascontiguousarray(rho_e[graph.slot_edge]),
            np.ascontiguousarray(beta * graph.h), rho_e)


def primal(graph: Graph, trees: TreeList, beta: float, u: np.ndarray):
    """The certified bound sum_T rho_T ln Z(theta_T) for the tree list and messages u.

    Returns (bound, K_e per CSR slot, rho_e per CSR slot, relative decomposition residual).  Raises
    RuntimeError when the trees' weights do not sum to 1 or sum_T rho_T theta_T differs from theta by
    more than :data:`RESIDUAL_LIMIT` relative.
    """
    from ..kernels import bp
    theta_e = beta * graph.J
    kappa, rho, theta_h, rho_e = _slot_params(graph, trees, beta)
    if np.any((rho_e <= 0) & (theta_e != 0)):
        raise RuntimeError("TRW: a coupled pair lies in none of the trees")
    orders, parents, pslots = trees.stacked()
    if not bp.forests_valid(graph.indptr, graph.indices, orders, parents, pslots):
        raise RuntimeError("TRW: a listed tree is not a rooted spanning forest of the model graph")
    K = len(trees)
    lnz = np.empty(K)
    fields = np.empty((K, graph.n))
    with numba_threads(_tree_threads(trees)):
        bp.trw_primal(graph.indptr, graph.rev, rho, kappa, theta_h, u, orders, parents, pslots, trees.weights, lnz,
                      fields)
    # the certificate: the explicit list reproduces theta
    coup = np.empty(graph.J.size)
    fsum = np.empty(graph.n)
    bp.decomposition_sums(graph.slot_edge, kappa, parents, pslots, trees.weights, fields, coup, fsum)
    # rounding is relative to the largest summand: |theta|, rho_T |g^T_i| or rho_T |K_e|
    scale = max(np.max(np.abs(theta_e), initial=0.0), np.max(np.abs(theta_h), initial=0.0),
                np.max(np.abs(fields) * trees.weights[:, None], initial=0.0),
                np.max(np.abs(kappa), initial=0.0) * np.max(trees.weights))
    err = max(np.max(np.abs(coup - theta_e), initial=0.0), np.max(np.abs(fsum - theta_h), initial=0.0))
    residual = err / scale if scale > 0 else err
    wsum = math.fsum(trees.weights)
    if not (residual <= RESIDUAL_LIMIT and abs(wsum - 1.0) <= RESIDUAL_LIMIT and np.all(trees.weights >= 0)):
        raise RuntimeError(f"TRW: tree decomposition does not reproduce the model (relative residual {residual:.3g}, "
                           f"weights sum to {wsum!r})")
    bound = math.fsum(trees.weights * lnz)
    return bound, kappa, rho, residual


def solve(graph, trees, beta, u, settings):
    """TRW messages for the trees' rho (warm start from u, in place) and the certified bound."""
    from ..kernels import bp
    kappa, rho, theta_h, _ = _slot_params(graph, trees, beta)
    H = np.empty(graph.n)
    sweeps, conv = bp.message_sweeps(graph.indptr, graph.indices, graph.rev, kappa, rho, theta_h, u, H,
                                     settings.damping, settings.max_iterations, settings.tol)
    if not conv and settings.polish_iterations > 0:
        u, evals = polish(graph, trees, beta, u, settings.polish_iterations, settings.tol)
        sweeps += evals
        bp._node_fields(graph.indptr, graph.rev, rho, theta_h, u, H)
    bound, kappa, rho, residual = primal(graph, trees, beta, u)
    return Solution(bound, trees, u, H, kappa, int(sweeps), bool(conv), residual)




def polish(graph, trees, beta, u, iterations, tol):
    """Minimise the primal sum_T rho_T ln Z(theta_T(u)) over the messages u directly (convex in u) by
    L-BFGS (:func:`isingvar.methods._lbfgs.minimise`).

    Used where TRW message passing did not converge: any u gives a valid decomposition, and the
    minimum over u is the optimal bound for the current rho.  Returns (u of the least primal
    evaluated, evaluations).
    """
    from ..kernels import bp
    from ._lbfgs import minimise
    kappa, rho, theta_h, _ = _slot_params(graph, trees, beta)
    orders, parents, pslots = trees.stacked()
    K = len(trees)
    lnz = np.empty(K)
    mags = np.empty((K, graph.n))
    threads = _tree_threads(trees)

    def fg(x):
        g = np.empty(x.size)
        with numba_threads(threads):
            bp.trw_primal_gradient(graph.indptr, graph.rev, rho, kappa, theta_h, x, orders, parents, pslots,
                                   trees.weights, lnz, mags, g)
        return math.fsum(trees.weights * lnz), g

    _, u, evals, _ = minimise(fg, u, iterations, tol, 1e-15)
    return u, evals


def optimise_beta(graph, trees, u, beta, settings, base_count, check=lambda: None):
    """TRW at one beta: messages for the current trees, then ``tree_steps`` conditional-gradient steps
    on rho.  Returns (best Solution, total sweeps)."""
    from ..kernels import bp
    best = solve(graph, trees, beta, u.copy(), settings)
    total = best.sweeps
    needed = graph.J != 0
    mi = np.empty(graph.J.size)
    for step in range(settings.tree_steps):
        check()
        bp.edge_mutual_information(graph.indptr, graph.indices, graph.rev, best.kappa, best.u, best.H,
                                   graph.edge_slot, mi)
        order, parent, pslot = _mst(graph, mi)
        p = pslot[pslot >= 0]
        # Frank-Wolfe gap: -grad . (1_T - rho) with grad_e = -I_e (Wainwright et al., Sec. VI)
        gap = float(mi[graph.slot_edge[p]].sum() - mi @ best.trees.edge_rho())
        if gap <= 1e-9 * max(1.0, abs(best.bound)):
            break
        gamma = 2.0 / (step + 3.0)
        improved = False
        for _ in range(3):
            cand = best.trees.copy()
            cand.prune(base_count + settings.max_trees - 1, needed)
            cand.add(order, parent, pslot, gamma)
            sol = solve(graph, cand, beta, best.u.copy(), settings)
            total += sol.sweeps
            if sol.bound < best.bound:
                best = sol
                improved = True
                break
            gamma *= 0.5
        if not improved:
            break
    return best, total


def run(model, betas, settings, rng, *, sites=False, progress=None):
    """TRW upper bound on ln Z at every beta of a grid (method plug-in entry point).

    Parameters
    ----------
    model : IsingModel  (already scaled to the sweep's J and h).
    betas : float64 (nb,), finite, >= 0, any order.
    settings : :class:`Settings`.  rng : numpy Generator (random starting trees of sparse graphs).
    sites : unused (TRW has no per-site variables).  progress : callable(step) or None; one unit per beta.

    Returns
    -------
    dict: lnZ_trw_upper float64 (nb,) [nat, total], f_trw_lower float64 (nb,) [energy per spin; -inf at
    beta = 0], trw_iterations int32 (nb,) message sweeps at that beta, trw_converged int8 (nb,) last
    accepted TRW solve converged, trw_trees int32 (nb,) trees in the list of the reported bound.
    With ``settings.width > 1``: :func:`run_components`; raises TooLargeError when no construction of
    components of that width covers the graph.
    Betas are processed in ascending order, each warm-started from the previous one (messages and
    tree list).
    """
    b = check_betas(betas)
    if settings.width > 1:
        return run_components(model, b, settings, rng, progress)
    nb = b.size
    graph = Graph(model)
    trees = starting_trees(graph, rng, settings.start_trees)
    base_count = len(trees)
    u = np.zeros(graph.indices.size)
    out = {
        "lnZ_trw_upper": np.full(nb, np.nan),
        "trw_iterations": np.full(nb, -1, dtype=np.int32),
        "trw_converged": np.full(nb, -1, dtype=np.int8),
        "trw_trees": np.full(nb, -1, dtype=np.int32),
    }
    _compile(graph, trees, settings)
    with deferred_interrupt() as check:
        for q in np.argsort(b, kind="stable"):
            best, total = optimise_beta(graph, trees, u, float(b[q]), settings, base_count, check)
            trees, u = best.trees, best.u
            out["lnZ_trw_upper"][q] = best.bound
            out["trw_iterations"][q] = total
            out["trw_converged"][q] = int(best.converged)
            out["trw_trees"][q] = len(best.trees)
            check()
            if progress is not None:
                progress(1.0)
    out["f_trw_lower"] = free_energy_per_spin(out["lnZ_trw_upper"], b, model.n)
    return out


def run_components(model, b, settings, rng, progress=None):
    """:func:`run` with ``settings.width > 1``: the least certified bound over the spanning-tree bound
    (width 1, same settings) and the constructions of :func:`isingvar.methods._trw_components.constructions`.
    Field shares by L-BFGS (``share_iterations``) for the constructions whose uniform split is within
    :data:`LEAD_FRACTION` of the best bound so far (trees included) at the largest beta, warm-started along the ascending betas (offsets
    scaled by the beta ratio).  trw_iterations counts message sweeps plus elimination passes, trw_trees the
    components of the reported decomposition, trw_converged whether its optimisation converged.
    Same returns as :func:`run`."""
    from . import _trw_components as tc

    if b.size == 0:
        return run(model, b, replace(settings, width=1), rng)
    cons = tc.constructions(model, settings.width)
    if not cons:
        raise TooLargeError(f"--trw-width {settings.width} finds no components of elimination width <= "
                            f"{settings.width} covering the bonds of these N = {model.n} spins; use --trw-width 1 "
                            f"(spanning trees) or a larger width")
    exact = len(cons) == 1 and cons[0].K == 1
    # a min of certified bounds is certified: the spanning trees join unless one component is the graph
    out = None if exact else run(model, b, replace(settings, width=1), rng)
    if out is None:
        out = {
            "lnZ_trw_upper": np.full(b.size, np.inf),
            "trw_iterations": np.zeros(b.size, dtype=np.int32),
            "trw_converged": np.full(b.size, -1, dtype=np.int8),
            "trw_trees": np.full(b.size, -1, dtype=np.int32),
        }
    order = np.argsort(b, kind="stable")
    nc = len(cons)
    # construction by construction, not beta by beta: elimination caches the plans of a few coupling
    # patterns only, and every construction is one or more patterns (rebuilt on each visit otherwise)
    top = order[-1]  # the constructions differ most at the largest beta (at beta = 0 all equal N ln 2)
    lead = out["lnZ_trw_upper"][top]
    with deferred_interrupt() as check:
        # the last constructions built are the ones still in elimination's plan cache
        for c in reversed(cons):
            # the uniform split at every beta (each value certified) ...
            starts = np.empty(b.size)
            for q in order:
                beta = float(b[q])
                starts[q] = tc.evaluate(model, c, beta, np.broadcast_to(beta * model.fields, (c.K, model.n)),
                                        sites=False, residual_limit=RESIDUAL_LIMIT)[0]
                out["trw_iterations"][q] += 1
                check()
            lead = min(lead, starts[top])
            vals, conv = starts, np.zeros(b.size, dtype=bool)
            # ... then its field shares where it is within LEAD_FRACTION of the best bound so far
            if settings.share_iterations > 0 and starts[top] <= lead + LEAD_FRACTION * abs(lead):
                vals, offsets, prev = starts.copy(), np.zeros((c.K, model.n)), 0.0
                for q in order:
                    beta = float(b[q])
                    if prev > 0:
                        offsets *= beta / prev
                    vals[q], offsets, evals, conv[q] = tc.optimise(model, c, beta, offsets, settings.share_iterations,
                                                                   settings.tol, RESIDUAL_LIMIT)
                    vals[q] = min(vals[q], starts[q])
                    out["trw_iterations"][q] += evals
                    prev = beta
                    check()
                    if progress is not None:
                        progress(1.0 / nc)
                lead = min(lead, vals[top])
            elif progress is not None:
                progress(b.size / nc)
            better = vals < out["lnZ_trw_upper"]
            out["lnZ_trw_upper"][better] = vals[better]
            out["trw_converged"][better] = conv[better]
            out["trw_trees"][better] = c.K
    out["f_trw_lower"] = free_energy_per_spin(out["lnZ_trw_upper"], b, model.n)
    return out


def _compile(graph, trees, settings):
    """Compile the kernels before signals are held (a zero-sweep solve at beta = 0)."""
    from ..kernels import bp
    solve(graph, trees, 0.0, np.zeros(graph.indices.size), Settings(max_iterations=1))
    mi = np.empty(graph.J.size)
    bp.edge_mutual_information(graph.indptr, graph.indices, graph.rev, np.zeros(graph.indices.size),
                               np.zeros(graph.indices.size), np.zeros(graph.n), graph.edge_slot, mi)
    _mst(graph, mi)


def _tree_count(n, n_edges, settings, steps=None) -> int:
    """Trees a run lists: N stars on a complete graph (:func:`starting_trees`), about 3 random spanning
    trees otherwise, plus one per conditional-gradient step (``steps``, default one beta's), at most
    ``max_trees`` of them."""
    complete = n >= 3 and n_edges == n * (n - 1) // 2
    return (n if complete else 3) + min(settings.tree_steps if steps is None else steps, settings.max_trees)


def cost(model, betas, settings, *, sites=False):
    """Estimated seconds of :func:`run`: (slots x sweeps + 2 x trees x N) x solves x betas x
    :data:`SECONDS_PER_SLOT_SWEEP`, with about 10 sweeps per solve after the warm start (measured:
    4-5 on square and sk grids of 64 betas) and 1 + tree_steps solves per beta."""
    nb = np.asarray(betas).size
    if settings.width > 1:
        # the spanning-tree bound (width 1) joins the min; the constructions are found once (Python,
        # a few elimination plans per layering: SECONDS_PER_SPIN_PLAN per spin); per beta each of about 3
        # constructions (about 2 N spins of components each) runs 1 + 1.5 share_iterations elimination
        # passes (forward + backward about 3 x 2^(width + 1) entries per spin, plus a call's overhead)
        trees = cost(model, betas, replace(settings, width=1), sites=sites)
        passes = 3 * (1 + 1.5 * settings.share_iterations)
        per_pass = SECONDS_PER_CALL + 2 * model.n * 3 * 2.0 ** (settings.width + 1) * SECONDS_PER_ENTRY
        return trees + model.n * SECONDS_PER_SPIN_PLAN + nb * passes * per_pass
    solves = 1 + settings.tree_steps
    sweeps = min(settings.max_iterations, 10)
    n_trees = _tree_count(model.n, model.n_edges, settings)
    work = solves * nb * (2 * model.n_edges * sweeps + 2 * n_trees * model.n)
    return work * SECONDS_PER_SLOT_SWEEP


#: Peak bytes of :func:`run` per CSR slot (messages, reverse slots, per-slot couplings and weights, the
#: model's CSR) and per tree site (each listed tree's order, parent and slot arrays, their stacked copies
#: while a candidate list is tried, the trees' fields); tracemalloc peaks of 4-beta runs: sk n = 300
#: (300 star trees, 264 bytes per N^2), square L = 100 and 200 (9 trees, 1860 bytes per site), fitted
#: (104 and 160 bytes) and rounded up by 8-10 %.
BYTES_PER_SLOT = 112
BYTES_PER_TREE_SITE = 176
#: What a run holds whatever its size (scratch, Python objects of the tree lists): the peaks of sk n = 60, 120.
BASE_BYTES = 2**20


def memory(n, n_edges, betas, settings) -> float:
    """Estimated peak bytes of :func:`run` on N spins and E coupled pairs: 2E x :data:`BYTES_PER_SLOT` +
    trees x N x :data:`BYTES_PER_TREE_SITE` + :data:`BASE_BYTES`, with the trees the list can reach over
    the grid.  On a complete graph the N star trees make it ~288 N^2 (7.2 GB at N = 5,000); square
    L = 1000 with 64 betas (35 trees) about 6.6 GB."""
    trees = _tree_count(n, n_edges, settings, settings.tree_steps * np.asarray(betas).size)  # the list grows along the grid
    return float(BYTES_PER_SLOT * 2 * n_edges + BYTES_PER_TREE_SITE * trees * n + BASE_BYTES)


VARIABLES = (
    Var("lnZ_trw_upper", "upper", "lnZ", "nat",
        "tree-reweighted upper bound on ln Z (>= lnZ_exact): sum_T rho_T ln Z(theta_T) over an explicit tree list"),
    Var("f_trw_lower", "lower", "f", "energy per spin",
        "tree-reweighted lower bound on the free energy per spin (<= f_exact), -lnZ_trw_upper/(beta N)",
        nonfinite="-inf at beta = 0"),
    Var("trw_iterations", "diagnostic", None, "1", "TRW message sweeps at this beta, all solves (plus primal evaluations where polish_iterations > 0); with width > 1 plus the elimination passes over the components",
        dtype="i4", fill=-1),
    Var("trw_converged", "diagnostic", None, "1",
        "last accepted TRW message solve converged (max |delta u| < tol); the bound is valid either way",
        dtype="i1", fill=-1, flags=((0, 1), "not_converged converged")),
    Var("trw_trees", "diagnostic", None, "1", "components of the decomposition of the bound: spanning trees (forests), or with width > 1 subgraphs of elimination width <= width where they gave the least bound",
        dtype="i4", fill=-1),
)
_MODEL_VAR, _file_hook = model_file_lnZ(VARIABLES[0])  # lnZ_model_trw_upper: an upper bound on the file's ln Z
VARIABLES += (_MODEL_VAR,)


METHOD = Method(
    name="trw",
    summary="tree-reweighted upper bound on ln Z (lower bound on f), certified by an explicit tree decomposition",
    settings=Settings,
    variables=VARIABLES,
    run=run,
    cost=cost,
    progress_units=per_beta,
    default=True,
    file_hook=_file_hook,
    memory=memory,
)
