"""Structured mean field: a rigorous lower bound on ln Z from a product of exactly summed components.

The trial distribution is a product over the components C of a partition of the spins,
Q(s) = prod_C Q_C(s_C), each Q_C the Ising model *induced* on C (every coupling beta J_ij with both ends
in C) with variational fields g_i (Saul & Jordan, NIPS 8 (1996); Wiegerinck, UAI 2000; Xing, Jordan &
Russell, UAI 2003).  Every coupled pair outside the components joins two of them, so it is independent
under Q and <s_i s_j>_Q = m_i m_j exactly.  The Gibbs variational principle ln Z >= S[Q] - beta <E>_Q
(E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i) reads, with m_i = <s_i>_Q,

    ln Z >= B(g) = sum_C ln Z_C(g) + sum_i (beta h_i - g_i) m_i + beta sum_{(ij) between components} J_ij m_i m_j.

Two kinds of partition (``width``, the largest elimination width of a component):
- ``width`` 1: the components of an induced forest (:func:`induced_forest`), each summed by exact
  sum-product (:func:`isingvar.kernels.bp.tree_lnz_magnetisations`);
- ``width`` W >= 2 (:func:`band_partition`): the whole graph where its own elimination width is <= W,
  else bands: on a row-major lattice (:func:`isingvar.trw_components._lattice_axes`) slabs of r planes
  across one axis (strips of r rows in 2D) or bars of r x r cross-section along one axis; on any graph
  bands of r breadth-first layers (:func:`isingvar.trw_components._far_vertex_layers`) and blocks of
  consecutive spin indices (rows of a lattice: :func:`isingvar.trw_components._index_layers`).  Per
  shape the thickest r whose components pass an elimination order search within W; of those, the
  partition keeping the most coupling weight sum |J_ij| inside its components (ties: fewer components),
  then checked on elimination's own plans.  Each component is summed exactly by variable elimination
  (:mod:`isingvar.exact.elimination`, ln Z and the per-site <s_i>): one elimination pass over the
  disjoint union of the components of one colour (:class:`isingvar.trw_components.Construction`), so all
  the strips of one shape share one plan in the pattern cache.  Where no band partition fits, or the
  induced forest keeps at least as much weight, the forest is used.

With the other components held fixed, B as a function of one component's fields is
ln Z_C(g_C) - sum_{i in C} (g_i - phi_i) m_i + const, phi_i = beta h_i + beta sum_{j outside C} J_ij m_j,
which is -D_KL(Q_C || P_C^phi) + ln Z_C(phi) and is maximal at g_C = phi_C: the block update is exact
coordinate ascent, B never decreases (to rounding).  Components not coupled to one another (one colour
of the component graph) are updated at once.

What is guaranteed.  The start is the naive mean-field solution m_mf (:func:`isingvar.meanfield.mean_field`):
g = phi(m_mf).  The reported bound is the greatest of B over every iterate (the start included) and the
naive mean-field bound of m_mf; each of these is a lower bound on ln Z (B exact up to the rounding of
the exact component sums), so the report is one, converged or not, and it is never below the naive
bound of the same run.  (Q with component couplings fixed to beta J does not contain the product
distributions, so B itself may fall below the naive bound; the maximum cannot.)  Where one component is
the whole graph (a forest at width 1; width >= the graph's elimination width), there is no coupling
between components, g = beta h from the start and B = ln Z exactly (to rounding), with or without fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
    colour, nc = _colour_components(model, np.array([find(i) for i in range(n)], dtype=np.int64), in_forest)
    return Forest(order, parent, pslot, in_forest, colour, nc)


def _colour_components(model: IsingModel, label: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, int]:
    """First-fit colouring of the component graph (components are nodes, coupled when a bond outside them
    joins them; :func:`isingvar.kernels.meanfield._greedy_colouring` in order of label): the colour of each
    spin's component, int64 (N,), and the number of colours.  ``label`` int (N,) names each spin's
    component, ``inside`` bool (E,) marks the bonds inside one."""
    from .kernels.meanfield import _greedy_colouring

    ei, ej = model.edge_i.astype(np.int64), model.edge_j.astype(np.int64)
    _, label = np.unique(label, return_inverse=True)
    ca, cb = label[ei[~inside]], label[ej[~inside]]
    pairs = np.unique(np.concatenate([np.stack([ca, cb], 1), np.stack([cb, ca], 1)]), axis=0)
    nc = int(label.max(initial=-1)) + 1
    cptr = np.zeros(nc + 1, dtype=np.int64)
    np.cumsum(np.bincount(pairs[:, 0], minlength=nc), out=cptr[1:])
    ccol = _greedy_colouring(cptr, np.ascontiguousarray(pairs[:, 1], dtype=np.int64))
    return ccol[label], int(ccol.max(initial=-1)) + 1




def _never() -> None:
    """The ``check`` of a caller that holds no signals."""


@dataclass(frozen=True)
class Partition:
    """A partition of the spins into components of elimination width <= a bound, with its colouring and
    the union models that sum the components of each colour (:func:`band_partition`).

    Attributes
    ----------
    name : str
        The construction, e.g. ``"slabs(axis 0, r=1)"``, ``"whole"``.
    label : ndarray of int64, shape (N,)
        Component of each spin, 0 ... K - 1.
    inside : ndarray of bool, shape (E,)
        Whether each bond has both ends in one component.
    colour : ndarray of int64, shape (N,)
        Colour of each spin's component; components of one colour share no coupling.
    n_colours : int
        Number of colours.
    width : int
        Largest elimination width of the union models' plans (0 where no component has a bond).
    parts : tuple
        Per colour, the :class:`isingvar.trw_components.Construction` of its components that hold a bond
        (their union models), or None where none does.
    alone : tuple of ndarray of int64
        Per colour, its spins that no bond inside a component touches (each a component of one spin).
    entries : int
        Clique entries of one elimination pass over every union model (every colour once: one block
        sweep), for a cost estimate (:attr:`isingvar.trw_components.Construction.entries`).
    short_entries : int
        Those of steps that gather their children's rows entry by entry, the slow part of a sweep
        (:attr:`isingvar.trw_components.Construction.short_entries`).
    """

    name: str
    label: np.ndarray
    inside: np.ndarray
    colour: np.ndarray
    n_colours: int
    width: int
    parts: tuple
    alone: tuple
    entries: int
    short_entries: int = 0


def _checked(model: IsingModel, name: str, label: np.ndarray, width: int,
             check: Callable[[], None]) -> Partition | None:
    """The partition of ``label`` with its union models, where every union model's elimination plan is
    within ``width`` and its per-site pass fits (:meth:`isingvar.trw_components.Construction.width`); None
    otherwise."""
    from .trw_components import Construction

    ei, ej = model.edge_i.astype(np.int64), model.edge_j.astype(np.int64)
    _, label = np.unique(label, return_inverse=True)
    inside = label[ei] == label[ej]
    colour, nc = _colour_components(model, label, inside)
    eids = np.flatnonzero(inside)
    touched = np.zeros(model.n, dtype=bool)
    touched[ei[eids]] = touched[ej[eids]] = True
    parts, alone, w, entries, short = [], [], 0, 0, 0
    for c in range(nc):
        mine = eids[colour[ei[eids]] == c]
        comp = label[ei[mine]]
        order = np.argsort(comp, kind="stable")
        cuts = np.flatnonzero(np.diff(comp[order])) + 1
        edges = np.split(mine[order], cuts) if mine.size else []
        con = None
        if edges:
            con = Construction(model, name, edges)
            if not con.orders_fit(width, check):
                return None
            cw = con.width(check)
            if cw is None or cw > width or not con.sites_fit:
                return None
            w = max(w, cw)
            entries += con.entries
            short += con.short_entries
        parts.append(con)
        alone.append(np.flatnonzero((colour == c) & ~touched))
    return Partition(name, label, inside, colour, nc, w, tuple(parts), tuple(alone), entries, short)


def _families(model: IsingModel) -> list[tuple[str, Callable[[int], np.ndarray], list[int]]]:
    """The band shapes of ``model``: (name, r -> component label int64 (N,), the r to try in order).

    On a row-major lattice (:func:`isingvar.trw_components._lattice_axes`) per axis a: slabs, coordinate a
    in blocks of r (strips of r rows in 2D), and from 3 axes bars, every other coordinate in blocks of r
    (prisms r x r across, running along a).  On every graph: bands of r breadth-first layers from a far
    vertex, blocks of r layers of the index layering (rows of a lattice) where there is one, and blocks
    of r consecutive spins (r on a ladder growing by ~1.4 up to N)."""
    from .trw_components import _far_vertex_layers, _index_layers, _lattice_axes

    n = model.n
    out = []
    found = _index_layers(model)
    axes = _lattice_axes(model, found)
    if axes is not None:
        coords = axes[0]
        d = coords.shape[0]
        sizes = coords.max(axis=1) + 1

        def blocks(cs, r):
            """Label of each spin's block: coordinates ``cs`` (rows of ``coords``) each cut in blocks of r."""
            q = coords[cs] // r
            return np.ravel_multi_index(tuple(q), tuple(int(x) for x in q.max(axis=1) + 1))

        for a in range(d):
            others = [c for c in range(d) if c != a]
            out.append((f"slabs(axis {a})", lambda r, a=a: blocks([a], r), list(range(1, int(sizes[a])))))
            if d >= 3:
                out.append((f"bars(axis {a})", lambda r, o=others: blocks(o, r),
                            list(range(1, int(sizes[others].min())))))
    layer = _far_vertex_layers(model)
    out.append(("bfs-bands", lambda r: layer // r, list(range(1, int(layer.max(initial=0)) + 1))))
    if found is not None:
        out.append(("index-bands", lambda r: found[0] // r, list(range(1, int(found[0].max()) + 1))))
    ladder = sorted({max(2, round(1.4 ** k)) for k in range(int(np.log(max(n, 2)) / np.log(1.4)) + 1)})
    out.append(("blocks", lambda r: np.arange(n, dtype=np.int64) // r, [r for r in ladder if r < n]))
    return out


#: The last partition built (key, partition): the smf method's cost model and its run ask for the same one.
_LAST_PARTITION: dict = {}


def band_partition(model: IsingModel, width: int, check: Callable[[], None] = _never) -> Partition | None:
    """The partition of the spins into components of elimination width <= ``width`` (module docstring).

    The whole graph where its own plan is within ``width``; else, per shape of :func:`_families`, the
    thickest r (ascending, up to the first r whose densest component fails an order search within
    ``width``); the candidates in order of the coupling weight sum |J_ij| they keep inside components (ties:
    fewer components), the first whose union models pass :func:`_checked`.

    Parameters
    ----------
    model : IsingModel
        The instance.
    width : int
        Largest elimination width of a component, >= 2.
    check : callable()
        Called between order searches and plans (the interrupt point).

    Returns
    -------
    Partition or None
        None where the graph has no bond, no band partition fits, or the induced forest
        (:func:`induced_forest`) keeps at least as much weight (then the forest is the better choice).

    Raises
    ------
    ValueError
        If ``width`` < 2.
    """
    import hashlib

    from .patterns import pattern_key

    key = (pattern_key(model), hashlib.sha1(np.ascontiguousarray(model.couplings), usedforsecurity=False).digest(),
           width)
    if _LAST_PARTITION.get("key") != key:
        part = _band_partition(model, width, check)
        _LAST_PARTITION.clear()
        _LAST_PARTITION.update(key=key, part=part)
    return _LAST_PARTITION["part"]


def _band_partition(model: IsingModel, width: int, check: Callable[[], None]) -> Partition | None:
    """:func:`band_partition`, built."""
    from .exact import elimination
    from .trw_components import Construction

    if width < 2:
        raise ValueError(f"band_partition needs width >= 2 (got {width}); width 1 is the induced forest")
    n, E = model.n, model.n_edges
    if E == 0:
        return None
    ei, ej = model.edge_i.astype(np.int64), model.edge_j.astype(np.int64)
    if n <= elimination.MAX_N and elimination.elimination_order(n, ei, ej, width) is not None:
        whole = _checked(model, "whole", np.zeros(n, dtype=np.int64), width, check)
        if whole is not None:
            return whole
    weight = np.abs(model.couplings)
    cands = []
    for name, labels, rs in _families(model):
        for r in rs:
            check()
            lab = labels(r)
            inside = lab[ei] == lab[ej]
            if not inside.any():
                continue
            densest = np.argmax(np.bincount(lab[ei[inside]]))
            probe = np.flatnonzero(inside & (lab[ei] == densest))
            if not Construction(model, name, [probe]).orders_fit(width, check):
                break
            cands.append((-float(weight[inside].sum()), np.unique(lab).size, f"{name[:-1]}, r={r})"
                          if name.endswith(")") else f"{name}(r={r})", lab))
    forest_weight = float(weight[induced_forest(model).in_forest].sum())
    for neg, _, name, lab in sorted(cands, key=lambda c: (c[0], c[1])):
        if -neg <= forest_weight:
            return None
        part = _checked(model, name, lab, width, check)
        if part is not None:
            return part
    return None


def _solve_colour(part: Partition, c: int, kappa: np.ndarray, g: np.ndarray, m: np.ndarray) -> float:
    """ln Z of the components of colour ``c`` at couplings ``kappa`` (float64 (E,), beta J) and fields
    ``g`` (float64 (N,)), by elimination over its union models; writes their <s_i> into ``m``."""
    from .trw_components import _union_lnz

    lnz = 0.0
    con = part.parts[c]
    if con is not None:
        fields = np.broadcast_to(g, (con.K, g.size))
        for ch in con.chunks:
            z, s = _union_lnz(ch, kappa[ch["eid"]], fields, True)
            lnz += z
            m[ch["glob"]] = s
    a = part.alone[c]
    m[a] = np.tanh(g[a])
    return lnz + float(np.logaddexp(g[a], -g[a]).sum())


@dataclass(frozen=True)
class StructuredResult:
    """Structured mean-field results of one model over a beta grid; float64 (nb,) aligned with ``betas``
    unless noted.

    Attributes
    ----------
    betas : inverse temperatures.
    lnZ_lower : the greatest of B over the iterates and the naive bound ``lnZ_naive``: a lower bound on
        ln Z (nats, total), never below ``lnZ_naive``.
    f_upper : -lnZ_lower / (beta N), an upper bound on the free energy per spin (-inf at beta = 0).
    lnZ_start : B at the start (the fields of the naive mean-field solution).
    lnZ_naive : the naive mean-field bound on ln Z of that start (isingvar.meanfield).
    iterations : int64, block sweeps (each colour once) run.
    converged : bool, whether max_i |delta m_i| < tol over a sweep.
    inside_edges : int, bonds inside components (of the forest at width 1).
    width : int, largest elimination width of a component (1: the induced forest).
    construction : str, the partition ("induced-forest", "whole", "slabs(axis 0, r=1)", ...).
    components : int, components of the partition.
    history : tuple of float64 arrays, per beta B at the start and after every block update (empty unless
        ``record``).
    """

    betas: np.ndarray
    lnZ_lower: np.ndarray
    f_upper: np.ndarray
    lnZ_start: np.ndarray
    lnZ_naive: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    inside_edges: int
    width: int = 1
    construction: str = "induced-forest"
    components: int = 0
    history: tuple = field(default=())


def _cross_field(model, out_i, out_j, out_J, m):
    """sum_{j: (ij) between components} J_ij m_j per site, float64 (N,)."""
    return (np.bincount(out_i, out_J * m[out_j], minlength=model.n)
            + np.bincount(out_j, out_J * m[out_i], minlength=model.n))


def structured_mean_field(model: IsingModel, betas, *, rng: np.random.Generator, width: int = 1,
                          max_iterations: int = 1000, tol: float = 1e-10, mf_max_sweeps: int = 2000,
                          progress=None, record: bool = False) -> StructuredResult:
    """Maximise the structured mean-field bound B(g) (module docstring) at every beta of a grid.

    At each beta: the naive mean-field solution (:func:`isingvar.meanfield.mean_field`, from ``rng``)
    gives the start g = phi(m_mf); then block coordinate ascent, one colour of components at a time
    (g_C <- phi_C), B evaluated exactly after every block update; reported: the greatest of those B and
    the naive bound (a lower bound on ln Z, never below the naive one; module docstring).

    Parameters
    ----------
    model : IsingModel
        The instance (energy E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i).
    betas : array_like of float, shape (nb,)
        Finite, >= 0, any order.
    rng : numpy.random.Generator
        Source of the naive mean-field starts.
    width : int
        Largest elimination width of a component: 1 the induced forest (:func:`induced_forest`), >= 2 the
        partition of :func:`band_partition` (the forest where it gives none).
    max_iterations : int
        Block sweeps allowed per beta.
    tol : float
        Convergence threshold on max_i |delta m_i| over one sweep.
    mf_max_sweeps : int
        Sweeps allowed per naive mean-field run.
    progress : callable(), optional
        Called once per beta.
    record : bool
        Keep B at the start and after every block update (``history``).

    Returns
    -------
    StructuredResult

    Raises
    ------
    ValueError
        If a beta is negative or not finite, max_iterations < 0 or width < 1.
    """
    from .kernels.bp import tree_lnz_magnetisations
    from .meanfield import mean_field

    b = check_betas(betas)
    if max_iterations < 0:
        raise ValueError("max_iterations must be at least 0")
    if width < 1:
        raise ValueError(f"width must be at least 1 (got {width})")
    n, nb = model.n, b.size
    h = model.fields
    with deferred_interrupt() as check:
        part = band_partition(model, width, check) if width > 1 else None
        if part is None:
            forest = induced_forest(model)
            inside, colour, nc = forest.in_forest, forest.colour, forest.n_colours
            _, _, src = model.csr_pattern
            J_slot = np.ascontiguousarray(model.couplings[src])
            F = np.empty(n)
        else:
            inside, colour, nc = part.inside, part.colour, part.n_colours
        mf = mean_field(model, b, rng=rng, max_sweeps=mf_max_sweeps, tol=tol, keep_sites=True)
        out = ~inside
        out_i, out_j, out_J = model.edge_i[out], model.edge_j[out], model.couplings[out]
        classes = [np.flatnonzero(colour == c) for c in range(nc)]
        lnz_lower, start = np.empty(nb), np.empty(nb)
        iterations = np.zeros(nb, dtype=np.int64)
        converged = np.zeros(nb, dtype=bool)
        history = []

        def solve(beta, g, m, lnz, colours):
            """Sum the components of ``colours`` exactly at fields ``g``: their ln Z into ``lnz`` (one entry
            per colour; the forest's one entry) and their <s_i> into ``m``.

            Parameters
            ----------
            beta : float
                Inverse temperature (component couplings beta J).
            g : ndarray of float64, shape (N,)
                Component fields (dimensionless, like beta h).
            m : ndarray of float64, shape (N,)
                Magnetisations, updated in place.
            lnz : ndarray of float64, shape (n_colours,) or (1,)
                ln Z per colour, updated in place.
            colours : iterable of int
                The colours to sum (the forest sums all at once).
            """
            if part is None:
                lnz[0] = tree_lnz_magnetisations(forest.order, forest.parent, forest.pslot, beta * J_slot, g, F, m)
                return
            kappa = beta * model.couplings
            for c in colours:
                lnz[c] = _solve_colour(part, c, kappa, g, m)
                check()

        def bound(beta, g, m, lnz):
            """B(g) from the magnetisations and ln Z per colour of fields ``g``.

            Parameters
            ----------
            beta : float
                Inverse temperature.
            g : ndarray of float64, shape (N,)
                Component fields.
            m : ndarray of float64, shape (N,)
                Their magnetisations <s_i>_Q.
            lnz : ndarray of float64
                ln Z of the components, per colour.

            Returns
            -------
            float
                B (nats).
            """
            cross = _cross_field(model, out_i, out_j, out_J, m)
            return float(lnz.sum() + (beta * h - g) @ m + beta * 0.5 * (m @ cross))

        for k in range(nb):
            beta = float(b[k])
            m = np.empty(n)
            lnz = np.zeros(nc if part is not None else 1)

            g = beta * (h + _cross_field(model, out_i, out_j, out_J, mf.sites[k]))
            solve(beta, g, m, lnz, range(nc))
            best = start[k] = bound(beta, g, m, lnz)
            trace = [best]
            # no bond joins two components (the whole graph, or a forest of the model's own trees): the
            # first solve is already at g = beta h, the optimum, and B = ln Z
            for it in range(max_iterations if out_i.size else 0):
                old = m.copy()
                for c, sites in enumerate(classes):  # exact block ascent: a colour's components share no coupling
                    phi = beta * (h + _cross_field(model, out_i, out_j, out_J, m))
                    g[sites] = phi[sites]
                    solve(beta, g, m, lnz, (c,))
                    value = bound(beta, g, m, lnz)
                    trace.append(value)
                    best = max(best, value)
                iterations[k] = it + 1
                if np.max(np.abs(m - old), initial=0.0) < tol:
                    converged[k] = True
                    break
                check()
            if not out_i.size:  # the first solve was the one block sweep needed
                iterations[k], converged[k] = 1, True
            lnz_lower[k] = max(best, float(mf.lnZ_lower[k]))
            if record:
                history.append(np.array(trace))
            if progress:
                progress()
    label = part.label if part is not None else None
    return StructuredResult(
        betas=b, lnZ_lower=lnz_lower, f_upper=free_energy_per_spin(lnz_lower, b, n), lnZ_start=start,
        lnZ_naive=mf.lnZ_lower, iterations=iterations, converged=converged, inside_edges=int(inside.sum()),
        width=part.width if part is not None else 1,
        construction=part.name if part is not None else "induced-forest",
        components=int(label.max(initial=-1)) + 1 if label is not None else int(n - inside.sum()),
        history=tuple(history),
    )
