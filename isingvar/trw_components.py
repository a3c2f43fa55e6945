"""Reweighted upper bound on ln Z over components of small width (:mod:`isingvar.trw` with ``width > 1``).

For subgraphs P with weights rho_P (sum 1) and parameters theta_P supported on P with
sum_P rho_P theta_P = theta, convexity of ln Z gives ln Z(theta) <= sum_P rho_P ln Z(theta_P)
(Wainwright, Jaakkola & Willsky, IEEE Trans. Inf. Theory 51, 2313 (2005), Sec. VII, hypertrees;
Wainwright & Jordan 2008, sec. 7.2).  Each ln Z(theta_P) is over all N spins and computed exactly by
variable elimination (:mod:`isingvar.exact.elimination`) on the spins P's bonds touch; every other spin
contributes ln 2cosh of its field share.  Every component has elimination width <= the setting
``width`` (checked on the plan elimination builds, never assumed), weights are uniform, 1 / K.

Constructions (each gives a certified bound; the least is reported):
- the whole graph, where its own elimination width is <= width (then the bound is exact);
- bands of consecutive layers, for two layerings (breadth-first distance from a far vertex; blocks of
  consecutive spin indices, adjacent cyclically: the rows of a row-major lattice, open or periodic):
  component k is the union of disjoint bands of r layers starting at offset k r / K, K = 2 and 3
  offsets (each where every bond lies inside a band of some component); r is the largest whose
  components pass the width check;
- groups of ``width`` spins of a vertex cover (either side of a bipartite graph, else a greedy cover),
  each with every bond it touches (a complete bipartite graph has no thin bands); consecutive spins and
  groups of dissimilar spins (:func:`_groups`);
- on a row-major hypercubic lattice (axes found from the indices: :func:`_lattice_axes`), slabs and bars
  along each axis in turn (:func:`_axis_constructions`): the axis planes put each bond of a cubic lattice
  in 2 of 3 components (coupling shares x1.5, against ~x3 for spanning trees).
Coupling shares are uniform: theta_P,e = theta_e K / c_e over the c_e components holding e.  Field
shares start uniform (theta_i each) and are then improved by L-BFGS on the primal, the gradient being
<s_i> of each component (exact, from elimination's per-site values); every iterate is a certified
bound and the least one is reported.

Every function that runs elimination takes ``check`` (:func:`isingvar.interrupt.deferred_interrupt`'s) and
calls it after each union model: a signal waits for one elimination call, never for a whole
construction (on ``square --L 100`` with width 20 a union model's plan and pass take seconds).

(Over 600 lines, about 280 of them docstrings: finding the constructions and evaluating them share the union models, and a
split would only move :class:`Construction` between two modules that both need its internals.)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import numpy as np

from . import patterns
from .errors import CertificateError
from .exact import elimination
from .model import IsingModel


def _never() -> None:
    """The ``check`` of a caller that holds no signals."""


#: Most spins in one union model of components (elimination runs greedy min-fill up to this size).
MAX_UNION_SPINS = 4000

_ONE = np.ones(1)


class Construction:
    """K components (bond lists) with uniform weights and their union models for elimination.

    Parameters
    ----------
    model : IsingModel
    name : str
    edges : list of int64 arrays
        The bond ids of each component.

    Attributes
    ----------
    name, K : the construction's name and number of components.
    edges : list of int64 arrays (bond ids of the model); counts : int (E,) components holding each bond.
    spins : list of int64 arrays
        The spins each component's bonds touch.
    chunks : list of dict
        Union models from :meth:`_union`: components in one union model of at most
        :data:`MAX_UNION_SPINS` spins, unless one component alone is larger (then its connected pieces).
    entries : int or None
        Clique entries of one elimination pass over every union model (set by :meth:`width`).
    short_entries : int or None
        Those of wide steps whose scaled pass reads its children's messages in short runs
        (:func:`short_entries`; set by :meth:`width`), for the cost models.
    sites_fit : bool
        Whether every union model's per-site pass (the field shares' gradient) fits elimination's memory
        (set by :meth:`width`; False: the shares stay uniform).
    plan_bytes : int
        Bytes of the union models' elimination plans (:func:`isingvar.patterns.nbytes`; set by
        :meth:`width`), for the cost model's question whether the pattern cache holds them all.
    """

    def __init__(self, model: IsingModel, name: str, edges: list[np.ndarray]):
        self.name = name
        self.n = model.n
        self._edge_i, self._edge_j = model.edge_i, model.edge_j
        self.edges = [np.asarray(e, dtype=np.int64) for e in edges]
        self.K = len(self.edges)
        self.counts = np.bincount(np.concatenate(self.edges), minlength=model.n_edges) if self.edges else \
            np.zeros(model.n_edges, dtype=np.int64)
        self.spins = [np.unique(np.concatenate([model.edge_i[e], model.edge_j[e]])) for e in self.edges]
        self.entries = None
        self.short_entries = None
        self.plan_bytes = 0
        self.sites_fit = True
        self._reverse = False
        # items: a component, or its connected pieces where it is too large for one union model (a
        # component of disjoint bands on a large lattice: each band is eliminated on its own)
        items = []
        for p in range(self.K):
            if not self.edges[p].size:
                continue  # no bond: every spin contributes ln 2cosh of its field share (evaluate)
            if self.spins[p].size > MAX_UNION_SPINS:
                items += [(p, e) for e in _pieces(model, self.edges[p])]
            else:
                items.append((p, self.edges[p]))
        self.chunks = []
        cur, size = [], 0
        for p, e in items:
            k = np.unique(np.concatenate([model.edge_i[e], model.edge_j[e]])).size
            if cur and size + k > MAX_UNION_SPINS:
                self.chunks.append(self._union(cur))
                cur, size = [], 0
            cur.append((p, e))
            size += k
        if cur:
            self.chunks.append(self._union(cur))

    def _union(self, items):
        """The disjoint union of ``items`` ((component, bond ids) pairs) as one model: dict of items, comps
        (int64 (k,), the component of each item), eid (model bond of each union bond, union order), glob
        (model spin of each union spin), offsets (int64 (k + 1,), each item's first union spin) and
        pattern (IsingModel with unit couplings)."""
        ei, ej, eid, glob = [], [], [], []
        off = 0
        offsets = []
        for p, e in items:
            sp = np.unique(np.concatenate([self._edge_i[e], self._edge_j[e]]))
            offsets.append(off)
            ei.append(np.searchsorted(sp, self._edge_i[e]) + off)
            ej.append(np.searchsorted(sp, self._edge_j[e]) + off)
            eid.append(e)
            glob.append(sp)
            off += sp.size
        ei, ej, eid = np.concatenate(ei), np.concatenate(ej), np.concatenate(eid)
        order = np.argsort(ei * off + ej, kind="stable")
        pattern = IsingModel(off, ei[order], ej[order], np.ones(ei.size))
        return {"items": items, "comps": np.array([p for p, _ in items], dtype=np.int64), "eid": eid[order],
                "glob": np.concatenate(glob), "offsets": np.array(offsets + [off]), "pattern": pattern}

    def chunk_order(self) -> list[int]:
        """The union models' indices in the order of the next evaluation: alternately forward and backward.

        So where a construction has more union models than the pattern cache (:mod:`isingvar.patterns`)
        holds plans of, consecutive evaluations rebuild only the plans beyond it, not every one (the values
        do not depend on the order).

        Returns
        -------
        list of int
            Indices into :attr:`chunks`.
        """
        order = list(range(len(self.chunks)))
        self._reverse = not self._reverse
        return order[::-1] if not self._reverse else order

    def orders_fit(self, width: int, check: Callable[[], None] = _never) -> bool:
        """Whether every union model has an elimination order within ``width``.

        An order search that gives up past it; no plan built; each distinct pattern searched once.

        Parameters
        ----------
        width : int
            Largest elimination width.
        check : callable()
            Called before each search (the interrupt point).

        Returns
        -------
        bool
            True where every union model has such an order.
        """
        seen = set()
        for ch in self.chunks:
            check()
            pat = ch["pattern"]
            key = patterns.pattern_key(pat)
            if key in seen:
                continue
            if pat.n > elimination.MAX_N or elimination.elimination_order(pat.n, pat.edge_i, pat.edge_j, width) is None:
                return False
            seen.add(key)
        return True

    def width(self, check: Callable[[], None] = _never) -> int | None:
        """Largest elimination width over the union models, checked on elimination's own plans.

        A union model whose per-site pass would not fit is split into halves of its items while it has
        two or more; :attr:`sites_fit` says whether every one fits then.  Sets :attr:`entries` and
        :attr:`plan_bytes`.

        Parameters
        ----------
        check : callable()
            Called before each plan (the interrupt point).

        Returns
        -------
        int or None
            The width; None where elimination finds no plan for a union model or its tables would not
            fit (:func:`isingvar.exact.elimination.applicable`).
        """
        w, entries, short, size, a = 0, 0, 0, 0, 0
        self.sites_fit = True
        while a < len(self.chunks):
            check()
            pat = self.chunks[a]["pattern"]
            plan = elimination.structure(pat)
            if plan is None or elimination.applicable(pat, _ONE, sites=False) is not None:
                return None
            if elimination.applicable(pat, _ONE, sites=True) is not None:
                items = self.chunks[a]["items"]
                if len(items) > 1:
                    half = len(items) // 2
                    self.chunks[a:a + 1] = [self._union(items[:half]), self._union(items[half:])]
                    continue
                self.sites_fit = False
            w = max(w, plan.width)
            entries += plan.entries
            short += short_entries(plan)
            size += patterns.nbytes(plan)
            a += 1
        self.entries, self.short_entries, self.plan_bytes = entries, short, size
        return w


#: A step of a separator of at least SHORT_MIN_K spins (a table out of the first-level cache) whose
#: children's messages are read in runs of fewer than 2^SHORT_RUN_BITS consecutive rows
#: (:func:`isingvar.exact.elimination._runs`) gathers entry by entry: 55-320 ns per clique entry and beta
#: on the 3D constructions (periodic 4^3 at width 20, 6^3 at widths 12 and 20: 80-95 % of their entries),
#: against 13-17 ns on the row-major strips of an open 32 x 32 lattice at width 12 (runs of ~2^5 rows,
#: under 1 % short; CPU seconds of :func:`evaluate_uniform`, ground state included, 2-core EPYC under load,
#: 2026-12-07).  Below SHORT_MIN_K the runs are short on every graph and the tables stay in the cache.
SHORT_RUN_BITS = 3
SHORT_MIN_K = 10


def short_entries(plan) -> int:
    """Clique entries of the steps of ``plan`` with a separator of at least :data:`SHORT_MIN_K` spins whose
    scaled pass gathers its children's rows in runs of fewer than 2^:data:`SHORT_RUN_BITS` (the slow steps
    of the cost models).

    Parameters
    ----------
    plan : isingvar.exact.elimination.Structure
        An elimination plan.

    Returns
    -------
    int
        sum of 2^(k_t + 1) over those steps (at most ``plan.entries``).
    """
    rows = np.left_shift(np.int64(2), plan.k)
    return int(np.sum(rows[(plan.rb < SHORT_RUN_BITS) & (plan.k >= SHORT_MIN_K)]))


def _pieces(model: IsingModel, e: np.ndarray) -> list[np.ndarray]:
    """The bonds ``e`` split by connected piece of the graph they form
    (:func:`scipy.sparse.csgraph.connected_components`), in order of each piece's lowest spin, each in the
    order of ``e``: list of int64 arrays."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    i, j = model.edge_i[e], model.edge_j[e]
    graph = sp.csr_matrix((np.ones(e.size, dtype=np.int8), (i, j)), shape=(model.n, model.n))
    _, label = connected_components(graph, directed=False)
    root = label[i]
    order = np.argsort(root, kind="stable")
    cuts = np.flatnonzero(np.diff(root[order])) + 1
    return [e[idx] for idx in np.split(order, cuts)]


def _far_vertex_layers(model: IsingModel) -> np.ndarray:
    """Breadth-first distance of every spin from a far vertex of its connected component (the first of
    the deepest layer a search from its lowest spin reaches: :func:`isingvar.kernels.graph.far_vertex_order`),
    int64 (N,)."""
    from .kernels.graph import far_vertex_order

    indptr, indices, _ = model.csr_pattern
    return far_vertex_order(indptr, indices, False)[1]


def _index_layers(model: IsingModel) -> tuple[np.ndarray, int] | None:
    """Blocks of b consecutive spin indices, b the least block size with every bond inside one block or
    between adjacent blocks, adjacency taken cyclically (the last block next to the first: a periodic
    row-major lattice gives its rows).  Returns (layer int64 (N,), period: the number of blocks where a
    bond joins the last block to the first, else 0), or None when no b gives at least 3 blocks."""
    if model.n_edges == 0:
        return None
    for b in range(1, model.n // 3 + 1):
        layer = np.arange(model.n, dtype=np.int64) // b
        D = int(layer[-1]) + 1
        gap = np.abs(layer[model.edge_i] - layer[model.edge_j])
        if np.all((gap <= 1) | (gap == D - 1)):
            # cyclic only where a bond joins the last block to the first
            return layer, (D if np.any(gap == D - 1) and D > 2 else 0)
    return None


def _same_band(li: np.ndarray, lj: np.ndarray, period: int, r: int, o: int) -> np.ndarray:
    """Whether layers ``li`` and ``lj`` (int64 (E,)) fall in one band of r layers, cuts at o + m r (layers
    counted modulo ``period`` where the layering is cyclic, 0 where it is not): bool (E,)."""
    if period:
        return ((li - o) % period) // r == ((lj - o) % period) // r
    return (li - o) // r == (lj - o) // r


def _bands(model: IsingModel, layer: np.ndarray, period: int, r: int, K: int) -> list[np.ndarray]:
    """Components of bands of r layers at K offsets: component k holds a bond when both ends' layers
    fall in one band of its cut pattern (:func:`_same_band` at offset o_k = round(k r / K))."""
    li, lj = layer[model.edge_i], layer[model.edge_j]
    return [np.flatnonzero(_same_band(li, lj, period, r, round(k * r / K))) for k in range(K)]


def _lattice_axes(model: IsingModel, found: tuple[np.ndarray, int] | None) -> tuple[np.ndarray, list[int]] | None:
    """Row-major lattice coordinates of the spins, found from the index structure alone.

    The strides are the block sizes of :func:`_index_layers` applied to the model (``found``, its result)
    and then to the model induced on its first block, and so on down to single spins (a cubic lattice's xy
    planes, their rows, their sites).  Accepted only when every bond then joins two sites that differ in
    one coordinate, by 1 or cyclically (n_a - 1: a periodic axis).  Returns (coordinates int64 (d, N),
    the periods: n_a for an axis with a wrapping bond, else 0), or None (not such a lattice, d < 2)."""
    strides = []
    n = model.n
    while found is not None:
        b = int(np.count_nonzero(found[0] == 0))
        strides.append(b)
        if b == 1:
            break
        keep = (model.edge_i < b) & (model.edge_j < b)
        if not keep.any():
            return None
        sub = IsingModel(b, model.edge_i[keep], model.edge_j[keep], np.ones(int(keep.sum())))
        found = _index_layers(sub)
    if not strides or strides[-1] != 1 or len(strides) < 2:
        return None
    # a last block short of the others is kept (survey's probe: the first 10^4 spins of a lattice)
    sizes = [-(-n // strides[0])] + [strides[a - 1] // strides[a] for a in range(1, len(strides))]
    if any(strides[a - 1] % strides[a] for a in range(1, len(strides))):
        return None
    idx = np.arange(n, dtype=np.int64)
    coords = np.stack([(idx // s) % m for s, m in zip(strides, sizes)])
    diff = coords[:, model.edge_j] - coords[:, model.edge_i]
    moved = diff != 0
    if not np.all(moved.sum(axis=0) == 1):
        return None
    step = np.abs(diff.sum(axis=0))
    axis = np.argmax(moved, axis=0)
    size = np.array(sizes)[axis]
    wrap = (step == size - 1) & (size > 2)
    if not np.all((step == 1) | wrap):
        return None
    periods = [sizes[a] if np.any(wrap & (axis == a)) else 0 for a in range(len(sizes))]
    return coords, periods


def _axis_bands(model: IsingModel, coords: np.ndarray, periods: list[int], shape: str, r: int,
                K: int) -> list[np.ndarray]:
    """Components of slabs or bars r sites thick along each lattice axis in turn, at K offsets per axis.

    For axis a and offset o_k = round(k r / K), the component holds a bond when its two ends fall in one
    band (:func:`_same_band`) of the coordinates banded: a alone for ``shape`` "slabs" (r = 1: the
    disjoint planes orthogonal to a, lines on a square lattice), every coordinate but a for "bars" (prisms
    of r x r cross-section running along a).  On a square lattice the two coincide (strips)."""
    li, lj = coords[:, model.edge_i], coords[:, model.edge_j]
    d = coords.shape[0]
    comps = []
    for a in range(d):
        banded = [a] if shape == "slabs" else [c for c in range(d) if c != a]
        for k in range(K):
            o = round(k * r / K)
            inside = np.ones(model.n_edges, dtype=bool)
            for c in banded:
                inside &= _same_band(li[c], lj[c], periods[c], r, o)
            comps.append(np.flatnonzero(inside))
    return comps


def _axis_constructions(model: IsingModel, axes: tuple[np.ndarray, list[int]], width: int,
                        check: Callable[[], None]) -> list[Construction]:
    """Lattice-axis constructions within ``width`` (:func:`_axis_bands`), each covering every coupled pair
    and checked on elimination's plans.

    Per shape, the thickest r whose components (one per axis, offset 0) pass an order search, with K = 2
    and 3 offsets; the planes (slabs, r = 1, K = 1) too on a lattice of 3 or more axes.  Slabs and bars
    differ only from 3 axes on (on 2 the bars are left out).  A bond's share of the components: slabs
    (2 + (r - 1) / r) / 3 and bars (1 + 2 (r - 1) / r) / 3 on a cubic lattice, against 1/3 for spanning
    trees; measured widths on the periodic 6^3 lattice: planes 12, 2 x 2 bars 8, 3 x 3 bars 17, slabs of
    2 planes 21."""
    coords, periods = axes
    d = coords.shape[0]
    sizes = coords.max(axis=1) + 1
    out = []
    for shape in ("slabs", "bars") if d >= 3 else ("slabs",):
        fits = []
        for r in range(1 if shape == "slabs" else 2, int(sizes.min())):
            check()
            # one slab (bar) per axis, the one at the origin: the others of that axis are alike or thinner
            probe = [_pieces(model, e)[0] for e in _axis_bands(model, coords, periods, shape, r, 1) if e.size]
            if not Construction(model, shape, probe).orders_fit(width, check):
                break
            fits.append(r)
        if shape == "slabs" and fits and d >= 3:
            out += _axis_checked(model, coords, periods, shape, 1, (1,), width, check)
        # the thickest r whose union models pass elimination's own plan (one greedy order may be a little
        # wider on the union than on one component): thinner ones in turn, as for the bands
        for r in reversed([r for r in fits if r >= 2]):
            found = _axis_checked(model, coords, periods, shape, r, (2, 3), width, check)
            if found:
                out += found
                break
    return out


def _axis_checked(model: IsingModel, coords: np.ndarray, periods: list[int], shape: str, r: int, offsets: tuple,
                  width: int, check: Callable[[], None]) -> list[Construction]:
    """The constructions of :func:`_axis_bands` at each K of ``offsets`` that cover every coupled pair and
    whose union models' plans are within ``width``."""
    needed = model.couplings != 0
    out = []
    for k in offsets:
        check()
        comps = _axis_bands(model, coords, periods, shape, r, k)
        cnt = np.bincount(np.concatenate(comps), minlength=model.n_edges)
        if np.any(cnt[needed] == 0):
            continue
        c = Construction(model, "axis-planes" if r == 1 else f"axis-{shape}(r={r}, K={k})", comps)
        cw = c.width(check)
        if cw is not None and cw <= width:
            out.append(c)
    return out


def _covers(model: IsingModel) -> list[np.ndarray]:
    """Vertex covers: both colour classes of a bipartite graph (spins with a bond), else one greedy
    highest-degree cover."""
    from .kernels.graph import bfs_forest

    n = model.n
    indptr, indices, _ = model.csr_pattern
    # the two colours alternate along the breadth-first trees (rooted at each component's lowest spin);
    # the graph is bipartite when no bond joins two spins of one colour
    col = bfs_forest(indptr, indices)[1] % 2
    ok = not np.any(col[model.edge_i] == col[model.edge_j])
    if ok:
        a = np.flatnonzero(col == 0)
        b = np.flatnonzero(col == 1)
        # isolated spins carry no bond: leave them out of the cover
        deg = np.diff(indptr)
        return [side[deg[side] > 0] for side in (a, b)]
    covered = np.zeros(model.n_edges, dtype=bool)
    chosen = []
    while not covered.all():
        deg = np.bincount(model.edge_i[~covered], minlength=n) + np.bincount(model.edge_j[~covered], minlength=n)
        v = int(np.argmax(deg))
        chosen.append(v)
        covered |= (model.edge_i == v) | (model.edge_j == v)
    return [np.sort(np.array(chosen, dtype=np.int64))]


#: Largest (cover spins x N) for which groups of dissimilar spins are formed (a dense matrix of that size).
MAX_SIMILARITY_ENTRIES = 1 << 22


def _groups(model: IsingModel, cover: np.ndarray, size: int) -> list[list[np.ndarray]]:
    """Partitions of ``cover`` into ceil(|cover| / size) groups of balanced sizes: consecutive spins, and
    (where the matrix is small) greedy groups of dissimilar spins, similarity |J J^T| between the spins'
    coupling rows (the effective coupling the other side induces).  Measured on the UAI DBNs: dissimilar
    groups gave the lowest bound (DBN_12, width 4: 215.9 against 234.8 consecutive, 248.3 similar)."""
    G = -(-cover.size // size)
    out = [np.array_split(cover, G)]
    if cover.size * model.n > MAX_SIMILARITY_ENTRIES or G < 2:
        return out
    rows = np.zeros((cover.size, model.n))
    pos = np.full(model.n, -1)
    pos[cover] = np.arange(cover.size)
    for a, b, J in ((model.edge_i, model.edge_j, model.couplings), (model.edge_j, model.edge_i, model.couplings)):
        k = pos[a] >= 0
        rows[pos[a[k]], b[k]] = J[k]
    S = np.abs(rows @ rows.T)
    np.fill_diagonal(S, np.inf)
    left = np.ones(cover.size, dtype=bool)
    groups = []
    for sz in (len(x) for x in np.array_split(np.arange(cover.size), G)):
        free = np.flatnonzero(left)
        # seed: the free spin least similar to the other free spins; then add the least similar to the group
        seed = free[np.argmin(np.where(np.isinf(S[np.ix_(free, free)]), 0, S[np.ix_(free, free)]).sum(1))]
        g = [seed]
        left[seed] = False
        while len(g) < sz:
            free = np.flatnonzero(left)
            j = free[np.argmin(S[np.ix_(g, free)].sum(0))]
            g.append(j)
            left[j] = False
        groups.append(cover[np.sort(g)])
    out.append(groups)
    return out


#: The constructions built for the last model, by width: what :func:`survey` builds to cost a rung is what
#: the run's :func:`constructions` evaluates (the budget costs widths 4, 8, 12 of an instance and runs one of
#: them; the zero-field split runs the same couplings again): built once, not per question (open 32 x 32
#: Gaussian, widths 4 / 8 / 12 / 16: about 1.4 / 3.3 / 4.1 / 6.8 s CPU each time).  Keyed by :func:`_key`; those of any other
#: model (pattern or couplings) are dropped when a new one is built, so at most one model's are held.
_BUILT: dict = {}

#: Largest N whose constructions :func:`survey` builds whole; above, those of its first SURVEY_MAX_N spins
#: (the first rows of a lattice) scaled by N / SURVEY_MAX_N.  Building them for N = 10^4 (square L = 100,
#: width 20) took 23-44 s of Python.
SURVEY_MAX_N = 10_000


def _key(model: IsingModel, width: int) -> tuple:
    """What the constructions of ``model`` depend on: its pattern, its couplings (which bonds are zero, the
    similarity of :func:`_groups`) and the width."""
    values = hashlib.sha1(model.couplings, usedforsecurity=False).digest()
    return patterns.pattern_key(model), values, width, MAX_UNION_SPINS


def survey(model: IsingModel, width: int) -> tuple[float, list[Construction]]:
    """The constructions a run on ``model`` would evaluate, for a cost estimate.

    Parameters
    ----------
    model : IsingModel
        The instance.
    width : int
        Largest elimination width of a component.

    Returns
    -------
    (scale, constructions)
        The constructions of ``model`` (kept for the run's own :func:`constructions` call, :data:`_BUILT`)
        with ``scale`` 1; above :data:`SURVEY_MAX_N` spins those of the model induced on its first
        SURVEY_MAX_N spins, to be multiplied by ``scale`` = N / SURVEY_MAX_N.
    """
    probe, scale = model, 1.0
    if model.n > SURVEY_MAX_N:
        keep = (model.edge_i < SURVEY_MAX_N) & (model.edge_j < SURVEY_MAX_N)
        probe = IsingModel(SURVEY_MAX_N, model.edge_i[keep], model.edge_j[keep], model.couplings[keep],
                           model.fields[:SURVEY_MAX_N])
        scale = model.n / SURVEY_MAX_N
    if probe is not model:
        return scale, _constructions(probe, width, _never)
    return scale, _kept(model, width, _never)


def _kept(model: IsingModel, width: int, check: Callable[[], None]) -> list[Construction]:
    """The constructions of ``model`` at ``width`` from :data:`_BUILT`, built (and kept there) where absent.

    Parameters
    ----------
    model : IsingModel
        The instance.
    width : int
        Largest elimination width of a component.
    check : callable()
        The interrupt point of a build (:func:`_constructions`).

    Returns
    -------
    list of Construction
        :func:`_constructions`' list (the same objects on every call for one model and width).
    """
    key = _key(model, width)
    if key in _BUILT:
        return _BUILT[key]
    cons = _constructions(model, width, check)
    for other in [k for k in _BUILT if k[:2] != key[:2]]:
        del _BUILT[other]  # another model's: one model's constructions at most
    if cons:  # none found is the run's error, cheap to find again
        _BUILT[key] = cons
    return cons


def constructions(model: IsingModel, width: int, check: Callable[[], None] = _never) -> list[Construction]:
    """Every construction of components of elimination width <= ``width`` that covers each coupled pair.

    Parameters
    ----------
    model : IsingModel
    width : int
        Largest elimination width of a component.
    check : callable
        Called between steps (before each union model's order search and plan, each layering): raises
        KeyboardInterrupt for a held signal.

    Returns
    -------
    list of Construction
        The constructions of the module docstring, each checked on elimination's own plan; the whole
        graph alone where it passes (then nothing else is needed: the bound is exact); empty where none
        fits.  Built once per model and width (:data:`_BUILT`: those :func:`survey` built to cost the run).
    """
    return _kept(model, width, check)


def _constructions(model: IsingModel, width: int, check: Callable[[], None]) -> list[Construction]:
    """:func:`constructions`, built."""
    needed = model.couplings != 0
    if model.n_edges == 0 or not needed.any():
        return [Construction(model, "whole", [np.arange(model.n_edges)])]
    whole = Construction(model, "whole", [np.arange(model.n_edges)])
    # an order search that gives up past the width first: a wide graph is told at once
    if whole.orders_fit(width, check):
        w = whole.width(check)
        if w is not None and w <= width:
            return [whole]
    check()
    out = []
    found = _index_layers(model)
    axes = _lattice_axes(model, found)
    if axes is not None:
        out += _axis_constructions(model, axes, width, check)
    layerings = [("bfs-bands", _far_vertex_layers(model), 0)]
    if found is not None:
        layerings.append(("index-bands", found[0], found[1]))
    for name, layer, period in layerings:
        check()
        ok = []
        for r in range(2, int(layer.max()) + 1):
            # the thickest bands within the width: one component's own plan first (N spins), the union
            # of all of them (K N spins) verified at the end
            for k in (2, 3):
                comps = _bands(model, layer, period, r, k)
                cnt = np.bincount(np.concatenate(comps), minlength=model.n_edges)
                if not np.any(cnt[needed] == 0):
                    break
            else:
                continue
            # an order search that gives up past the width (no plan built): most tries fail fast
            if not Construction(model, name, comps[:1]).orders_fit(width, check):
                break
            ok.append((r, comps))
        for r, _ in reversed(ok):
            # 3 offsets cut each bond in fewer components than 2 (measured: Grids_12 width 4, 732.2 -> 723.2);
            # both are kept, the least bound is reported
            found = []
            for k in (2, 3):
                comps = _bands(model, layer, period, r, k)
                cnt = np.bincount(np.concatenate(comps), minlength=model.n_edges)
                if np.any(cnt[needed] == 0):
                    continue
                c = Construction(model, f"{name}(r={r}, K={k})", comps)
                cw = c.width(check)
                if cw is not None and cw <= width:
                    found.append(c)
            if found:
                out += found
                break
    for side, cover in enumerate(_covers(model)):
        if not cover.size:
            continue
        for kind, groups in zip(("consecutive", "dissimilar"), _groups(model, cover, width)):
            comps = [np.flatnonzero(np.isin(model.edge_i, g) | np.isin(model.edge_j, g)) for g in groups]
            c = Construction(model, f"cover{side}-{kind}(k={width})", comps)
            cw = c.width(check)
            if cw is not None and cw <= width:
                out.append(c)
    return out


def shares(model: IsingModel, c: Construction, beta: float) -> list[np.ndarray]:
    """Uniform coupling shares theta_P,e = beta J_e K / c_e of every bond in union order, per chunk.

    Parameters
    ----------
    model : IsingModel
        The instance.
    c : Construction
        Its construction (K components, c_e of them holding bond e).
    beta : float
        Inverse temperature.

    Returns
    -------
    list of ndarray of float64
        One array per union model of ``c`` (:attr:`Construction.chunks`), its bonds in union order.
    """
    theta = beta * model.couplings
    return [theta[ch["eid"]] * c.K / c.counts[ch["eid"]] for ch in c.chunks]


def _union_lnz(ch: dict, cs: np.ndarray, fields: np.ndarray, sites: bool):
    """ln Z of one union model ``ch`` of a construction with coupling shares ``cs`` (union order) and the
    field shares ``fields`` (K, N) of its components, by elimination; returns (ln Z, <s> over the union's
    spins or None)."""
    f_union = np.empty(ch["glob"].size)
    for a, p in enumerate(ch["comps"].tolist()):
        lo, hi = ch["offsets"][a], ch["offsets"][a + 1]
        f_union[lo:hi] = fields[p, ch["glob"][lo:hi]]
    pat = ch["pattern"]
    m = IsingModel(pat.n, pat.edge_i, pat.edge_j, cs, f_union)
    res = elimination.run(m, np.array([1.0]), sites=sites)
    if not sites:
        return float(res.lnZ[0]), None
    return float(res.lnZ[0]), (res.sites[0] if res.sites is not None else np.zeros(pat.n))


def _certified(model: IsingModel, c: Construction, beta: float, fields: np.ndarray, cshares: list,
               lnz_parts: list, residual_limit: float) -> tuple[float, float]:
    """The bound (1/K) sum_P ln Z(theta_P) from the union models' ln Z (``lnz_parts``, chunk order) and
    the spins outside every component, once the split (``cshares``, ``fields``) is checked to reproduce
    beta J and beta h; returns (bound, relative residual).  Raises CertificateError when it does not."""
    from .trw import relative_residual

    K, n = c.K, model.n
    coup_sum = np.zeros(model.n_edges)
    inside = np.zeros((K, n), dtype=bool)
    for ch, cs in zip(c.chunks, cshares):
        np.add.at(coup_sum, ch["eid"], cs / K)
        for a, p in enumerate(ch["comps"].tolist()):
            inside[p, ch["glob"][ch["offsets"][a]:ch["offsets"][a + 1]]] = True
    # spins outside a component: ln 2cosh of their field share
    out = np.where(inside, 0.0, np.logaddexp(fields, -fields))
    parts = list(lnz_parts) + [math.fsum(out.ravel())]
    # the certificate: sum_P rho_P theta_P = theta
    theta_e, theta_h = beta * model.couplings, beta * model.fields
    fsum = fields.sum(axis=0) / K
    scale = max(np.max(np.abs(theta_e), initial=0.0), np.max(np.abs(theta_h), initial=0.0),
                max((np.max(np.abs(cs), initial=0.0) for cs in cshares), default=0.0) / K,
                np.max(np.abs(fields), initial=0.0) / K)
    err = max(np.max(np.abs(coup_sum - theta_e), initial=0.0), np.max(np.abs(fsum - theta_h), initial=0.0))
    residual = relative_residual(err, scale)
    if not residual <= residual_limit:
        raise CertificateError(f"TRW certificate failed at beta = {beta:g}: the component decomposition {c.name} does not "
                               f"reproduce the model (relative residual {residual:.3g}, limit {residual_limit:g}); "
                               f"no bound is reported; use --trw-width 1, or report it with the instance "
                               f"(isingvar model export)")
    return math.fsum(parts) / K, residual


def evaluate(model: IsingModel, c: Construction, beta: float, fields: np.ndarray, *, sites: bool,
             residual_limit: float, check: Callable[[], None] = _never):
    """The certified bound (1/K) sum_P ln Z(theta_P) for field shares ``fields``.

    Parameters
    ----------
    model : IsingModel
    c : Construction
    beta : float
    fields : float64 (K, N)
        Each component's field shares (summing to K beta h over the components).
    sites : bool
        Also <s_i> of every component (the gradient of the bound).
    residual_limit : float
        Largest relative residual of the split accepted.
    check : callable
        Called after each union model's elimination.

    Returns
    -------
    (bound, <s_i>_P float64 (K, N) or None, relative residual)

    Raises
    ------
    CertificateError
        When the decomposition does not reproduce beta J and beta h to ``residual_limit`` (relative).
        A component's elimination width is checked by the caller (:meth:`Construction.width`).
    """
    mags = np.tanh(fields) if sites else None
    cshares = shares(model, c, beta)
    lnz_parts = [0.0] * len(c.chunks)
    for a in c.chunk_order():
        ch = c.chunks[a]
        lnz, s = _union_lnz(ch, cshares[a], fields, sites)
        lnz_parts[a] = lnz
        if sites:
            for a, p in enumerate(ch["comps"].tolist()):
                lo, hi = ch["offsets"][a], ch["offsets"][a + 1]
                mags[p, ch["glob"][lo:hi]] = s[lo:hi]
        check()
    bound, residual = _certified(model, c, beta, fields, cshares, lnz_parts, residual_limit)
    return bound, mags, residual


def evaluate_uniform(model: IsingModel, c: Construction, betas: np.ndarray, residual_limit: float,
                     check: Callable[[], None] = _never) -> np.ndarray:
    """:func:`evaluate` with the uniform field split (every component beta h) at each of ``betas``.

    The same numbers as one :func:`evaluate` per beta, computed union model by union model (each over
    all betas), so elimination builds each union model's plan once however many the construction has,
    even where the pattern cache cannot hold them all.

    Parameters
    ----------
    model : IsingModel
    c : Construction
    betas : float64 (nb,)
    residual_limit : float
    check : callable
        Called after each elimination.

    Returns
    -------
    float64 (nb,)
        The certified bounds.
    """
    K, n = c.K, model.n
    fields = [np.broadcast_to(float(beta) * model.fields, (K, n)) for beta in betas]
    cshares = [shares(model, c, float(beta)) for beta in betas]
    parts = [[] for _ in betas]
    for a, ch in enumerate(c.chunks):
        for q in range(len(betas)):
            parts[q].append(_union_lnz(ch, cshares[q][a], fields[q], False)[0])
            check()
    return np.array([_certified(model, c, float(beta), fields[q], cshares[q], parts[q], residual_limit)[0]
                     for q, beta in enumerate(betas)], dtype=np.float64)


def optimise(model: IsingModel, c: Construction, beta: float, d0: np.ndarray, iterations: int, tol: float,
             residual_limit: float, check: Callable[[], None] = _never):
    """Field shares fields = beta h + d - mean_P d minimising the primal, by L-BFGS (:func:`isingvar.lbfgs.minimise`).

    Every evaluation is a certified bound (:func:`evaluate`, ``check`` after each union model).

    Parameters
    ----------
    model : IsingModel
        The instance.
    c : Construction
        Its construction, K components.
    beta : float
        Inverse temperature.
    d0 : array_like of float, shape (K, N)
        Starting offsets.
    iterations : int
        Most L-BFGS iterations; 0 evaluates ``d0`` only.
    tol : float
        Converged when the gradient's max |.| is at most ``tol``.
    residual_limit : float
        Largest relative residual of the split accepted (:func:`evaluate`).
    check : callable()
        Called after each union model's elimination (the interrupt point).

    Returns
    -------
    bound : float
        The least bound evaluated (nats).
    d : ndarray of float64, shape (K, N)
        Its offsets, projected on sum_P d = 0.
    evaluations : int
        Bound evaluations.
    converged : bool
        Gradient max below ``tol`` or no relative progress above 1e-13.

    Raises
    ------
    CertificateError
        As :func:`evaluate`.
    """
    from .lbfgs import minimise

    theta_h = beta * model.fields
    K = c.K

    def fg(d):
        """The bound at offsets ``d`` (projected on sum_P d = 0) and its projected gradient.

        Parameters
        ----------
        d : ndarray of float64, shape (K, N)
            Offsets.

        Returns
        -------
        value : float
            The certified bound (nats).
        gradient : ndarray of float64, shape (K, N)
            Its gradient, projected on sum_P = 0 (zeros without per-site values).
        """
        d = d - d.mean(axis=0)
        val, mags, _ = evaluate(model, c, beta, theta_h + d, sites=iterations > 0, residual_limit=residual_limit,
                                check=check)
        if mags is None:
            return val, np.zeros_like(d)
        g = mags / K
        return val, g - g.mean(axis=0)

    f, x, evals, conv = minimise(fg, np.asarray(d0, dtype=np.float64), iterations, tol, 1e-13)
    return f, x - x.mean(axis=0), evals, conv
