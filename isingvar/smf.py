"""Structured mean field over an induced forest: a rigorous lower bound on ln Z.

The trial distribution is a product over the components T of a forest F of the coupling graph,
Q(s) = prod_T Q_T(s_T), each Q_T a tree Ising model with the tree's own couplings beta J_e (e in T)
and variational fields g_i (Saul & Jordan, NIPS 8 (1996); Wiegerinck, UAI 2000; Xing, Jordan &
Russell, UAI 2003).  The Gibbs variational principle ln Z >= S[Q] - beta <E>_Q (E = -sum_{i<j} J_ij
s_i s_j - sum_i h_i s_i) reads, with m_i = <s_i>_Q,

    ln Z >= B(g) = sum_T ln Z_T(g) + sum_i (beta h_i - g_i) m_i + beta sum_{(ij) not in F} J_ij <s_i s_j>_Q.

The forest is chosen so that every component is an *induced* tree (:func:`induced_forest`): no
coupled pair outside F has both ends in one component, so every such pair is independent under Q and
<s_i s_j>_Q = m_i m_j exactly.  ln Z_T and m_i come from exact sum-product on the trees
(:func:`isingvar.kernels.bp.tree_lnz_magnetisations`), so B is evaluated exactly at every iterate.

With the other components held fixed, B as a function of one component's fields is
ln Z_T(g_T) - sum_{i in T} (g_i - phi_i) m_i + const, phi_i = beta h_i + beta sum_{(ij) not in F} J_ij m_j,
which is -D_KL(Q_T || P_T^phi) + ln Z_T(phi) and is maximal at g_T = phi_T: the block update is exact
coordinate ascent, B never decreases.  Components not coupled to one another (one colour of the
component graph) are updated at once.  The start is the naive mean-field solution
(:func:`isingvar.meanfield.mean_field`): g = phi(m_mf).  Q with tree couplings fixed to beta J_e
does not contain the product distributions, so B >= the naive bound is not guaranteed; it holds in
practice on the instances of tests/test_smf.py.  The best B over the iterates is reported, so the
bound holds converged or not.  On a forest (an open chain) F is the whole graph and B = ln Z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .interrupt import deferred_interrupt
from .model import IsingModel
from .thermo import check_betas, free_energy_per_spin


@dataclass(frozen=True)
class Forest:
    """An induced forest of a model's coupling graph, rooted, with the colouring of its components.

    Attributes
    ----------
    order, parent, pslot : ndarray of int64, shape (N,)
        The forest as :func:`isingvar.kernels.bp.tree_lnz` reads it (parents before children, -1 at roots;
        ``pslot`` the CSR slot of ``model.csr_pattern`` from a node to its parent).
    in_forest : ndarray of bool, shape (E,)
        Whether each edge of the model is a forest edge.
    colour : ndarray of int64, shape (N,)
        Colour of each site's component; components of one colour share no coupling.
    n_colours : int
        Number of colours.
    """

    order: np.ndarray
    parent: np.ndarray
    pslot: np.ndarray
    in_forest: np.ndarray
    colour: np.ndarray
    n_colours: int


def induced_forest(model: IsingModel) -> Forest:
    """A maximal forest whose components are induced trees, grown greedily on |J_ij|.

    Kruskal's order (largest |J_ij| first, ties by edge index): edge (ij) joins the components of i and
    j when they differ and it is the only coupling between them, so that every component stays an
    induced subgraph that is a tree and every coupled pair outside the forest lies in two components.
    An open chain or any forest is taken whole; a complete graph gives a matching.

    Parameters
    ----------
    model : IsingModel
        The instance.

    Returns
    -------
    Forest
        The forest and the colouring of its component graph.
    """
    from .kernels.bp import _root_tree, _slot
    from .kernels.meanfield import _greedy_colouring

    n, E = model.n, model.n_edges
    ei, ej = model.edge_i.astype(np.int64), model.edge_j.astype(np.int64)
    root = np.arange(n)

    def find(x):
        """The root of ``x`` in the union-find (path halving).

        Parameters
        ----------
        x : int
            A site.

        Returns
        -------
        int
            Its component's root.
        """
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    # between[a]: component -> number of couplings between component a and it
    between = [{} for _ in range(n)]
    for e in range(E):
        a, b = int(ei[e]), int(ej[e])
        between[a][b] = between[a].get(b, 0) + 1
        between[b][a] = between[b].get(a, 0) + 1
    in_forest = np.zeros(E, dtype=bool)
    for e in np.argsort(-np.abs(model.couplings), kind="stable"):
        a, b = find(int(ei[e])), find(int(ej[e]))
        if a == b or between[a].get(b, 0) != 1:
            continue
        in_forest[e] = True
        if len(between[a]) < len(between[b]):
            a, b = b, a
        root[b] = a  # b into a: move b's neighbour counts to a
        del between[a][b]
        for c, k in between[b].items():
            if c == a:
                continue
            between[a][c] = between[a].get(c, 0) + k
            del between[c][b]
            between[c][a] = between[c].get(a, 0) + k
        between[b] = {}
    indptr, indices, _ = model.csr_pattern
    chosen = np.zeros(indices.size, dtype=np.bool_)
    for e in np.flatnonzero(in_forest):
        chosen[_slot(indptr, indices, ei[e], ej[e])] = True
        chosen[_slot(indptr, indices, ej[e], ei[e])] = True
    order, parent, pslot = (np.empty(n, dtype=np.int64) for _ in range(3))
    _root_tree(indptr, indices, chosen, order, parent, pslot)
    # colour the component graph: components are nodes, coupled when an edge outside F joins them
    comp = np.array([find(i) for i in range(n)], dtype=np.int64)
    _, label = np.unique(comp, return_inverse=True)
    ca, cb = label[ei[~in_forest]], label[ej[~in_forest]]
    pairs = np.unique(np.concatenate([np.stack([ca, cb], 1), np.stack([cb, ca], 1)]), axis=0)
    nc = int(label.max(initial=-1)) + 1
    cptr = np.zeros(nc + 1, dtype=np.int64)
    np.cumsum(np.bincount(pairs[:, 0], minlength=nc), out=cptr[1:])
    ccol = _greedy_colouring(cptr, np.ascontiguousarray(pairs[:, 1], dtype=np.int64))
    colour = ccol[label]
    return Forest(order, parent, pslot, in_forest, colour, int(ccol.max(initial=-1)) + 1)


@dataclass(frozen=True)
class StructuredResult:
    """Structured mean-field results of one model over a beta grid; float64 (nb,) aligned with ``betas``
    unless noted.

    Attributes
    ----------
    betas : inverse temperatures.
    lnZ_lower : the best bound B over the iterates: a lower bound on ln Z (nats, total).
    f_upper : -lnZ_lower / (beta N), an upper bound on the free energy per spin (-inf at beta = 0).
    lnZ_start : B at the start (the fields of the naive mean-field solution).
    lnZ_naive : the naive mean-field bound on ln Z of that start (isingvar.meanfield).
    iterations : int64, block sweeps (each colour once) run.
    converged : bool, whether max_i |delta m_i| < tol over a sweep.
    forest_edges : int, edges of the forest.
    """

    betas: np.ndarray
    lnZ_lower: np.ndarray
    f_upper: np.ndarray
    lnZ_start: np.ndarray
    lnZ_naive: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    forest_edges: int


def _cross_field(model, out_i, out_j, out_J, m):
    """sum_{j: (ij) not in F} J_ij m_j per site, float64 (N,)."""
    return (np.bincount(out_i, out_J * m[out_j], minlength=model.n)
            + np.bincount(out_j, out_J * m[out_i], minlength=model.n))


def structured_mean_field(model: IsingModel, betas, *, rng: np.random.Generator, max_iterations: int = 1000,
                          tol: float = 1e-10, mf_max_sweeps: int = 2000, progress=None) -> StructuredResult:
    """Maximise the structured mean-field bound B(g) (module docstring) at every beta of a grid.

    At each beta: the naive mean-field solution (:func:`isingvar.meanfield.mean_field`, from ``rng``)
    gives the start g = phi(m_mf); then block coordinate ascent, one colour of components at a time
    (g_T <- phi_T), B evaluated exactly after every sweep, the best kept.

    Parameters
    ----------
    model : IsingModel
        The instance (energy E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i).
    betas : array_like of float, shape (nb,)
        Finite, >= 0, any order.
    rng : numpy.random.Generator
        Source of the naive mean-field starts.
    max_iterations : int
        Block sweeps allowed per beta.
    tol : float
        Convergence threshold on max_i |delta m_i| over one sweep.
    mf_max_sweeps : int
        Sweeps allowed per naive mean-field run.
    progress : callable(), optional
        Called once per beta.

    Returns
    -------
    StructuredResult

    Raises
    ------
    ValueError
        If a beta is negative or not finite, or max_iterations < 0.
    """
    from .kernels.bp import tree_lnz_magnetisations
    from .meanfield import mean_field

    b = check_betas(betas)
    if max_iterations < 0:
        raise ValueError("max_iterations must be at least 0")
    n, nb = model.n, b.size
    forest = induced_forest(model)
    mf = mean_field(model, b, rng=rng, max_sweeps=mf_max_sweeps, tol=tol, keep_sites=True)
    _, _, src = model.csr_pattern
    J_slot = np.ascontiguousarray(model.couplings[src])
    out = ~forest.in_forest
    out_i, out_j, out_J = model.edge_i[out], model.edge_j[out], model.couplings[out]
    h = model.fields
    classes = [np.flatnonzero(forest.colour == c) for c in range(forest.n_colours)]
    F = np.empty(n)
    lnz_lower = np.empty(nb)
    start = np.empty(nb)
    iterations = np.zeros(nb, dtype=np.int64)
    converged = np.zeros(nb, dtype=bool)

    def evaluate(beta, kappa, g):
        """The bound B and the magnetisations at fields ``g``: exact tree sums, cross pairs independent.

        Parameters
        ----------
        beta : float
            Inverse temperature.
        kappa : ndarray of float64, shape (2E,)
            Tree couplings beta J per CSR slot.
        g : ndarray of float64, shape (N,)
            Tree fields (dimensionless, like beta h).

        Returns
        -------
        bound : float
            B(g) (nats).
        m : ndarray of float64, shape (N,)
            <s_i>_Q.
        """
        m = np.empty(n)
        lnz = tree_lnz_magnetisations(forest.order, forest.parent, forest.pslot, kappa, g, F, m)
        bound = lnz + (beta * h - g) @ m + beta * 0.5 * (m @ _cross_field(model, out_i, out_j, out_J, m))
        return bound, m

    with deferred_interrupt() as check:
        for k in range(nb):
            beta = float(b[k])
            kappa = beta * J_slot
            g = beta * (h + _cross_field(model, out_i, out_j, out_J, mf.sites[k]))
            best, m = evaluate(beta, kappa, g)
            start[k] = best
            for it in range(max_iterations):
                old = m.copy()
                for sites in classes:  # exact block ascent: a colour's components share no coupling
                    phi = beta * (h + _cross_field(model, out_i, out_j, out_J, m))
                    g[sites] = phi[sites]
                    bound, m = evaluate(beta, kappa, g)
                best = max(best, bound)
                iterations[k] = it + 1
                if np.max(np.abs(m - old), initial=0.0) < tol:
                    converged[k] = True
                    break
                check()
            lnz_lower[k] = best
            if progress:
                progress()
    return StructuredResult(
        betas=b, lnZ_lower=lnz_lower, f_upper=free_energy_per_spin(lnz_lower, b, n), lnZ_start=start,
        lnZ_naive=mf.lnZ_lower, iterations=iterations, converged=converged,
        forest_edges=int(forest.in_forest.sum()),
    )
