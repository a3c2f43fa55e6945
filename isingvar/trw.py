"""Tree-reweighted (TRW) upper bound on ln Z, certified by an explicit tree decomposition.

For spanning trees (forests on disconnected graphs) T with weights rho_T >= 0, sum_T rho_T = 1, and
tree-structured parameters theta_T with sum_T rho_T theta_T = theta, convexity of ln Z gives
(Wainwright, Jaakkola & Willsky, IEEE Trans. Inf. Theory 51, 2313 (2005), eq. (13))

    ln Z(theta) <= sum_T rho_T ln Z(theta_T).

Here theta = (beta J_ij on the edges, beta h_i on the sites), E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i.
The bound :func:`upper_bound` reports is always that right-hand side for an explicit list of trees,
every ln Z(theta_T) computed by exact log-domain sum-product on its tree, after checking that the list
reproduces theta to rounding (:data:`RESIDUAL_LIMIT`, relative; :class:`isingvar.errors.CertificateError`
otherwise).  It is a valid bound at every iterate.

Tree parameters for fixed rho: TRW message passing (:mod:`isingvar.kernels.bp`) gives messages u; each
tree gets couplings K_e = theta_e / rho_e and fields g^T_i = theta_i + sum_j rho_ij u_{j->i}
- sum_{j: ij in T} u_{j->i}, the canonical parameters of the TRW pseudo-marginals restricted to T
(Wainwright et al. eq. (31)); sum_T rho_T theta_T = theta holds for any u, and at the TRW fixed
point the primal value is the optimum for these rho.  Edge appearance probabilities rho_e are then
improved by conditional gradient (Sec. VI): the maximum-weight spanning tree on the edge mutual
informations of the pseudo-marginals joins the list with step gamma (halved up to twice when the bound
does not drop), so the list grows one tree per step.  With ``width > 1`` subgraphs of small elimination
width replace the trees (:mod:`isingvar.trw_components`).

This is the algorithm of the ``trw`` method (:mod:`isingvar.methods.trw`, its settings, variables and
cost).  ``params`` below is that plug-in's ``Settings`` (a frozen dataclass with the attributes
max_iterations, tol, damping, tree_steps, max_trees, start_trees, polish_iterations, width and
share_iterations, docs/methods.md).  The kernels (numba) are imported inside the functions that call them.

Over 600 lines, about 290 of them docstrings: the code (~400 lines) is the one algorithm above, whose
tree list, message passing and conditional-gradient steps share the pseudo-marginals' layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .bp import Graph
from .errors import CertificateError, TooLargeError
from .interrupt import deferred_interrupt
from .parallel import kernel_threads, numba_threads
from .thermo import check_betas

#: Largest relative residual |sum_T rho_T theta_T - theta| / scale accepted (scale: the largest
#: |theta| or |rho_T theta_T| entering the sum); above it the decomposition is refused.
RESIDUAL_LIMIT = 1e-12

#: Least scale the residual is taken relative to: a residual below the smallest normal float64
#: (RESIDUAL_LIMIT x SCALE_FLOOR, 2.2e-308) in every entry is accepted whatever theta is.  Where theta
#: itself is subnormal (``--J 1e-320``, ``--beta 1e-315``) K_e = theta_e / rho_e keeps a few bits and a
#: relative test cannot pass, though the decomposition is exact to within those 4.9e-324 steps.  It
#: costs nothing: ln Z changes by at most ||delta theta||_1 <= (E + N) 2.2e-308, far below the rounding of
#: any ln Z >= N ln 2 (Jensen: ln Z >= N ln 2 - beta <E>_uniform = N ln 2).
SCALE_FLOOR = float(np.finfo(np.float64).tiny) / RESIDUAL_LIMIT

#: Least work (tree sites: trees x N) worth a thread of its own in the parallel tree sums; smaller
#: calls run on one thread (a parallel region can wait a scheduler slice on a busy machine:
#: isingvar.parallel.kernel_threads).  About 5-10 ms of work at 50-100 ns per tree site.
MIN_THREAD_WORK = 1 << 17

#: Largest ``width``: a component's tables hold 2^(width + 1) entries per spin.
MAX_WIDTH = 20

#: Most random spanning trees a sparse graph starts from, and most trees kept beyond the start
#: (``start_trees``, ``max_trees``): every solve sums every listed tree (trees x N work and memory), and
#: merging a tree into the list compares it with every listed one.
MAX_TREES = 1000

def relative_residual(err: float, scale: float) -> float:
    """``err`` relative to ``scale``, never to less than :data:`SCALE_FLOOR`.

    So an error below the smallest normal float64 passes :data:`RESIDUAL_LIMIT` whatever the scale.

    Parameters
    ----------
    err : float
        Absolute error.
    scale : float
        Size of the largest summand.

    Returns
    -------
    float
        err / max(scale, :data:`SCALE_FLOOR`).
    """
    return err / max(scale, SCALE_FLOOR)


def _tree_threads(trees) -> int:
    import numba

    return kernel_threads(len(trees) * trees.g.n, len(trees), MIN_THREAD_WORK, numba.get_num_threads())


class TreeList:
    """Explicit spanning trees/forests (rooted arrays, :func:`isingvar.kernels.bp.tree_lnz`) and weights.

    Parameters
    ----------
    graph : Graph
        The model's structure (:class:`isingvar.bp.Graph`).
    """

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
        """A copy whose lists and weights can change without changing this one (the arrays are shared).

        Returns
        -------
        TreeList
            The copy.
        """
        t = TreeList(self.g)
        t.orders, t.parents, t.pslots = list(self.orders), list(self.parents), list(self.pslots)
        t.edges, t.hashes = list(self.edges), list(self.hashes)
        t.weights = self.weights.copy()
        t._stacked = self._stacked
        return t

    def stacked(self):
        """(orders, parents, pslots) as int64 (K, N) arrays (cached until the list changes).

        Returns
        -------
        orders : ndarray of int64, shape (K, N)
            Each tree's order (as :func:`isingvar.kernels.bp.tree_lnz` takes it).
        parents : ndarray of int64, shape (K, N)
            Each tree's parents.
        pslots : ndarray of int64, shape (K, N)
            Each tree's parent slots.
        """
        if self._stacked is None:
            self._stacked = (np.stack(self.orders), np.stack(self.parents), np.stack(self.pslots))
        return self._stacked

    def __len__(self):
        return len(self.orders)

    def edges_of(self, k):
        """Edge ids (E-indexing) of tree k.

        Parameters
        ----------
        k : int
            Index of the tree in the list.

        Returns
        -------
        ndarray of int
            The tree's edge ids.
        """
        return self.edges[k]

    def add(self, order, parent, pslot, gamma):
        """Mix in a tree with weight gamma: rho <- (1 - gamma) rho + gamma 1_T (merged if already listed).

        Parameters
        ----------
        order : ndarray of int64, shape (N,)
            Nodes with every parent before its children (:func:`isingvar.kernels.bp.tree_lnz`).
        parent : ndarray of int64, shape (N,)
            Parent node, -1 at roots.
        pslot : ndarray of int64, shape (N,)
            CSR slot (row c -> parent) of each node c; -1 at roots.
        gamma : float
            Weight of the new tree, in [0, 1].
        """
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
        """rho_e = sum_{T contains e} rho_T.

        Returns
        -------
        ndarray of float64, shape (E,)
            The edge appearance probabilities (zeros for an empty list).
        """
        if not self.edges:
            return np.zeros(self.g.J.size)
        sizes = [e.size for e in self.edges]
        return np.bincount(np.concatenate(self.edges), weights=np.repeat(self.weights, sizes),
                           minlength=self.g.J.size)

    def prune(self, keep: int, needed: np.ndarray):
        """Drop the lightest trees while more than ``keep`` remain, keeping every edge in ``needed`` covered.

        The remaining weights are renormalised to sum 1.

        Parameters
        ----------
        keep : int
            Most trees to keep.
        needed : ndarray of bool, shape (E,)
            Edges that must stay in some tree.
        """
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
    from .kernels import bp
    order, parent, pslot = _empty_tree(graph.n)
    bp.max_spanning_tree(graph.n, graph.edge_i, graph.edge_j, np.ascontiguousarray(weight, dtype=np.float64),
                         graph.indptr, graph.indices, order, parent, pslot)
    return order, parent, pslot


def starting_trees(graph: Graph, rng: np.random.Generator, start_trees: int) -> TreeList:
    """The tree list a run starts from.

    Parameters
    ----------
    graph : Graph
    rng : numpy.random.Generator
        Draws the random spanning trees of a sparse graph.
    start_trees : int
        Least number of trees listed on a sparse graph.

    Returns
    -------
    TreeList
        Star trees around every site of a complete graph (rho_e = 2/N); otherwise random spanning trees
        (forests), each preferring uncovered pairs, until every coupled pair is covered and at least
        ``start_trees`` are listed (a graph with few spanning trees may give fewer: at most
        4 ``start_trees`` tries).  Uniform weights.

    Raises
    ------
    CertificateError
        If the trees fail to cover the coupled pairs (never seen: every coupled pair is preferred
        until covered).
    """
    from .kernels import bp
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
    raise CertificateError("TRW certificate failed: the starting spanning trees do not cover the coupled "
                           "pairs; report it with the instance (isingvar model export)")  # pragma: no cover


@dataclass
class Solution:
    """One certified TRW solve: ``bound`` (the primal, nats), the tree list and messages u it holds for,
    node fields H, per-slot tree couplings kappa, message sweeps, convergence and the relative
    decomposition residual."""

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

    Parameters
    ----------
    graph : Graph
    trees : TreeList
    beta : float
    u : float64 (2E,)
        Messages (any u gives a valid decomposition).

    Returns
    -------
    (bound, K_e per CSR slot, rho_e per CSR slot, relative decomposition residual)

    Raises
    ------
    CertificateError
        When a coupled pair lies in no tree, a listed tree is not a rooted spanning forest of the model
        graph, the trees' weights do not sum to 1, or sum_T rho_T theta_T differs from theta by more than
        :data:`RESIDUAL_LIMIT` relative (:func:`relative_residual`).
    """
    from .kernels import bp
    theta_e = beta * graph.J
    kappa, rho, theta_h, rho_e = _slot_params(graph, trees, beta)
    advice = "no bound is reported; report it with the instance (isingvar model export)"
    if np.any((rho_e <= 0) & (theta_e != 0)):
        raise CertificateError(f"TRW certificate failed at beta = {beta:g}: a coupled pair lies in none of the "
                               f"{len(trees)} trees of the decomposition; {advice}")
    orders, parents, pslots = trees.stacked()
    if not bp.forests_valid(graph.indptr, graph.indices, orders, parents, pslots):
        raise CertificateError(f"TRW certificate failed at beta = {beta:g}: a listed tree is not a rooted "
                               f"spanning forest of the model graph; {advice}")
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
    residual = relative_residual(err, scale)
    wsum = math.fsum(trees.weights)
    if not (residual <= RESIDUAL_LIMIT and abs(wsum - 1.0) <= RESIDUAL_LIMIT and np.all(trees.weights >= 0)):
        raise CertificateError(f"TRW certificate failed at beta = {beta:g}: the tree decomposition does not "
                               f"reproduce the model (relative residual {residual:.3g}, limit {RESIDUAL_LIMIT:g}; "
                               f"weights sum to {wsum!r}); {advice}")
    bound = math.fsum(trees.weights * lnz)
    return bound, kappa, rho, residual


def solve(graph, trees, beta, u, params):
    """TRW messages for the trees' rho (warm start from ``u``, in place) and the certified bound.

    Parameters
    ----------
    graph : Graph
    trees : TreeList
    beta : float
    u : float64 (2E,)
        Starting messages, updated in place.
    params : the trw plug-in's Settings (damping, max_iterations, tol, polish_iterations)

    Returns
    -------
    Solution
    """
    from .kernels import bp
    kappa, rho, theta_h, _ = _slot_params(graph, trees, beta)
    H = np.empty(graph.n)
    sweeps, conv = bp.message_sweeps(graph.indptr, graph.indices, graph.rev, kappa, rho, theta_h, u, H,
                                     params.damping, params.max_iterations, params.tol)
    if not conv and params.polish_iterations > 0:
        u, evals = polish(graph, trees, beta, u, params.polish_iterations, params.tol)
        sweeps += evals
        bp._node_fields(graph.indptr, graph.rev, rho, theta_h, u, H)
    bound, kappa, rho, residual = primal(graph, trees, beta, u)
    return Solution(bound, trees, u, H, kappa, int(sweeps), bool(conv), residual)


def polish(graph, trees, beta, u, iterations, tol):
    """Minimise the primal sum_T rho_T ln Z(theta_T(u)) over the messages u directly (convex in u) by
    L-BFGS (:func:`isingvar.lbfgs.minimise`).

    Used where TRW message passing did not converge: any u gives a valid decomposition, and the
    minimum over u is the optimal bound for the current rho.

    Parameters
    ----------
    graph : Graph
    trees : TreeList
    beta : float
    u : float64 (2E,)
        Starting messages.
    iterations : int
        Most L-BFGS iterations.
    tol : float
        Gradient threshold.

    Returns
    -------
    (u of the least primal evaluated, evaluations)
    """
    from .kernels import bp
    from .lbfgs import minimise
    kappa, rho, theta_h, _ = _slot_params(graph, trees, beta)
    orders, parents, pslots = trees.stacked()
    K = len(trees)
    lnz = np.empty(K)
    mags = np.empty((K, graph.n))
    threads = _tree_threads(trees)

    def fg(x):
        """The primal at messages ``x`` and its gradient.

        Parameters
        ----------
        x : ndarray of float64, shape (2E,)
            Messages.

        Returns
        -------
        value : float
            The primal sum_T rho_T ln Z_T (nats).
        gradient : ndarray of float64, shape (2E,)
            Its gradient in ``x``.
        """
        g = np.empty(x.size)
        with numba_threads(threads):
            bp.trw_primal_gradient(graph.indptr, graph.rev, rho, kappa, theta_h, x, orders, parents, pslots,
                                   trees.weights, lnz, mags, g)
        return math.fsum(trees.weights * lnz), g

    _, u, evals, _ = minimise(fg, u, iterations, tol, 1e-15)
    return u, evals


def optimise_beta(graph, trees, u, beta, params, base_count, check=lambda: None):
    """TRW at one beta: messages for the current trees, then conditional-gradient steps on rho.

    Parameters
    ----------
    graph : Graph
        The model's structure.
    trees : TreeList
        The starting tree list.
    u : ndarray of float64, shape (2E,)
        Starting messages (copied, not changed).
    beta : float
        Inverse temperature.
    params : Settings
        The trw method's settings; ``params.tree_steps`` steps on rho at most.
    base_count : int
        Trees of the start; a step prunes the list to ``base_count + params.max_trees - 1`` first.
    check : callable()
        Called between steps (the interrupt point).

    Returns
    -------
    best : Solution
        The least certified bound found.
    sweeps : int
        Total message sweeps of every solve.
    """
    from .kernels import bp
    best = solve(graph, trees, beta, u.copy(), params)
    total = best.sweeps
    needed = graph.J != 0
    mi = np.empty(graph.J.size)
    for step in range(params.tree_steps):
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
            cand.prune(base_count + params.max_trees - 1, needed)
            cand.add(order, parent, pslot, gamma)
            sol = solve(graph, cand, beta, best.u.copy(), params)
            total += sol.sweeps
            if sol.bound < best.bound:
                best = sol
                improved = True
                break
            gamma *= 0.5
        if not improved:
            break
    return best, total


@dataclass
class TrwResult:
    """The TRW bound over a beta grid (:func:`upper_bound`), every array in the grid's order.

    Attributes
    ----------
    lnZ : float64 (nb,)
        The certified upper bound on ln Z (nats).
    iterations : int32 (nb,)
        Message sweeps at that beta, all solves (plus primal evaluations of the polish and, with
        ``width > 1``, elimination passes over the components).
    converged : int8 (nb,)
        1 where the last accepted solve converged, 0 where not (the bound holds either way).
    trees : int32 (nb,)
        Trees (with ``width > 1``: components) of the decomposition of the reported bound.
    """

    lnZ: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    trees: np.ndarray


def _empty_result(nb: int, lnz: float) -> TrwResult:
    return TrwResult(np.full(nb, lnz), np.full(nb, -1, dtype=np.int32), np.full(nb, -1, dtype=np.int8),
                     np.full(nb, -1, dtype=np.int32))


def upper_bound(model, betas, params, rng, progress: Callable[[float], None] | None = None) -> TrwResult:
    """The TRW upper bound on ln Z at every beta of a grid.

    Parameters
    ----------
    model : IsingModel
        Already scaled to the sweep's J and h.
    betas : array_like of float, shape (nb,)
        Finite, >= 0, any order.
    params : the trw plug-in's Settings (module docstring)
    rng : numpy.random.Generator
        Draws the starting trees of a sparse graph.
    progress : callable(step) or None
        Called with one unit per beta in all; Ctrl-C is honoured between solves.

    Returns
    -------
    TrwResult
        Betas are processed in ascending order, each warm-started from the previous one (messages and
        tree list).  With ``params.width > 1``: :func:`_components_bound`.

    Raises
    ------
    CertificateError
        If a decomposition fails its check (:func:`primal`).
    TooLargeError
        With ``width > 1``, when no construction of components of that width covers the graph.
    """
    b = check_betas(betas)
    if params.width > 1:
        return _components_bound(model, b, params, rng, progress)
    graph = Graph(model)
    trees = starting_trees(graph, rng, params.start_trees)
    base_count = len(trees)
    u = np.zeros(graph.indices.size)
    out = _empty_result(b.size, np.nan)
    _compile(graph, trees, params)
    with deferred_interrupt() as check:
        for q in np.argsort(b, kind="stable"):
            best, total = optimise_beta(graph, trees, u, float(b[q]), params, base_count, check)
            trees, u = best.trees, best.u
            out.lnZ[q] = best.bound
            out.iterations[q] = total
            out.converged[q] = int(best.converged)
            out.trees[q] = len(best.trees)
            check()
            if progress is not None:
                progress(1.0)
    return out


def _components_bound(model, b, params, rng, progress=None) -> TrwResult:
    """:func:`upper_bound` with ``params.width > 1``: the least certified bound over the spanning-tree
    bound (width 1, same settings) and the constructions of :func:`isingvar.trw_components.constructions`.

    Every construction's uniform split first; then, at each beta, field shares by L-BFGS
    (``share_iterations``; where some field is nonzero) for the construction whose uniform split is the
    least there, warm-started along its ascending betas (offsets scaled by the beta ratio): one
    construction's optimisation per beta.  Until 2026-12-07 every construction whose start at the largest
    beta was within 5 % of the best was optimised at every beta (every band construction of a lattice:
    open 32 x 32 Gaussian h = 0.1, width 12, 6 of them, ~100 s CPU, for the bound one gives at each beta;
    an optimised construction's gain, up to 0.0035 per spin there, exceeds the gaps between the bands'
    starts, so the best start stays best but for <= 2e-4 per spin on the open 16 x 16, widths 8 and 12).  ``iterations`` counts message sweeps
    plus elimination passes, ``trees`` the components of the reported decomposition, ``converged``
    whether its optimisation converged.  Ctrl-C is honoured between the steps of the constructions and
    between the union models of every evaluation.
    """
    from . import trw_components as tc

    if b.size == 0:
        return upper_bound(model, b, replace(params, width=1), rng)
    with deferred_interrupt() as check:
        cons = tc.constructions(model, params.width, check)
    if not cons:
        raise TooLargeError(f"--trw-width {params.width} finds no components of elimination width <= "
                            f"{params.width} covering the bonds of these N = {model.n} spins; use --trw-width 1 "
                            f"(spanning trees) or a larger width")
    exact = len(cons) == 1 and cons[0].K == 1
    # a min of certified bounds is certified: the spanning trees join unless one component is the graph
    if exact:
        out = _empty_result(b.size, np.inf)
        out.iterations[:] = 0
    else:
        out = upper_bound(model, b, replace(params, width=1), rng)
    order = np.argsort(b, kind="stable")
    nc = len(cons)
    with deferred_interrupt() as check:
        # the uniform split of each at every beta (each value certified), union model by union model; the
        # last constructions built are the ones surely still in the pattern cache (isingvar.patterns)
        starts = [None] * nc
        for k in reversed(range(nc)):
            starts[k] = tc.evaluate_uniform(model, cons[k], b[order], RESIDUAL_LIMIT, check)[np.argsort(order)]
        # ... then, at each beta, the field shares of the construction with the best start there (where its
        # per-site pass fits elimination's memory: the gradient needs it); without fields every component is
        # spin-flip symmetric, <s_i> = 0: the uniform split is already optimal
        best = np.argmin(np.array(starts), axis=0)  # per beta; the first on a tie
        for k, c in enumerate(cons):
            out.iterations += 1
            vals, conv = starts[k].copy(), np.zeros(b.size, dtype=bool)
            mine = [q for q in order if best[q] == k]
            if params.share_iterations > 0 and c.sites_fit and np.any(model.fields) and mine:
                offsets, prev = np.zeros((c.K, model.n)), 0.0
                for q in mine:  # ascending betas, warm-started
                    beta = float(b[q])
                    if prev > 0:
                        offsets *= beta / prev
                    vals[q], offsets, evals, conv[q] = tc.optimise(model, c, beta, offsets, params.share_iterations,
                                                                   params.tol, RESIDUAL_LIMIT, check)
                    vals[q] = min(vals[q], starts[k][q])
                    out.iterations[q] += evals
                    prev = beta
                    check()
            if progress is not None:
                progress(b.size / nc)
            better = vals < out.lnZ
            out.lnZ[better] = vals[better]
            out.converged[better] = conv[better]
            out.trees[better] = c.K
    return out


def _compile(graph, trees, params):
    """Compile the kernels before signals are held (a zero-sweep solve at beta = 0)."""
    from .kernels import bp
    solve(graph, trees, 0.0, np.zeros(graph.indices.size), replace(params, max_iterations=1, polish_iterations=0))
    mi = np.empty(graph.J.size)
    bp.edge_mutual_information(graph.indptr, graph.indices, graph.rev, np.zeros(graph.indices.size),
                               np.zeros(graph.indices.size), np.zeros(graph.n), graph.edge_slot, mi)
    _mst(graph, mi)
