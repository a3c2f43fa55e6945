"""Exact thermodynamics by variable elimination (a bucket / junction tree), for low treewidth.

Spins are summed out one at a time, in the cheapest of a greedy min-fill order (Kjaerulff 1990;
Koller & Friedman, *Probabilistic Graphical Models*, sec. 9.4.3), a Cuthill-McKee order, its reverse
and the spins' own order: eliminating spin v multiplies the bonds of v and the messages that mention
v into a table over v and its current neighbours S (its clique) and sums v out, leaving a message
over S; messages of one step with the same S are multiplied into one table as they are made.  The work is sum over steps of 2^(|S| + 1) per beta; the largest |S|
is the width of the order (an upper bound on the treewidth: 20 for an L = 20 open square lattice,
22 for the complete bipartite graph K_22,22 of the UAI-2014 DBN instances).

Everything that does not depend on the couplings' values (the order, the cliques, the index maps
between a clique and its children's messages, the memory plan) is built once per coupling pattern
and cached: every disorder sample and every (J, h) of a sweep shares it.  Per instance only the local
fields are tabulated; per beta one kernel pass runs (:mod:`isingvar.kernels.elimination`).

Quantities, all exact (to rounding): ln Z; <E> and Var E, <M> and Var M (M = sum_i s_i) as cumulants
carried through the tables (hence u, s, c, m, <m^2>, chi without cancellation), by a scaled pass where
it holds the beta exactly, else the log pass (:func:`_one_beta`); per-site <s_i> by a backward pass of
probabilities (which keeps each row's weights, hence its memory); E0 and a ground state by min-sum.
On a chain of wide steps (a lattice's), the scaled pass computes a step's only child inside the step,
block by block, so that message never goes to memory and back (:func:`_fusion`).  <|m|> is NaN: |M| is not a sum of local terms, so no table of the tree carries it (its
distribution P(M) would need an extra magnetisation index of N + 1 values on every table).

With every field zero, E(s) = E(-s): <m> and every <s_i> are 0 exactly, as on the enumeration path.
The moments go to :meth:`isingvar.exact.ExactResult.from_moments` (one path of
:mod:`isingvar.exact`: :class:`isingvar.exact.ExactPath`).

Over 600 lines: the structure (orders, cliques, index maps, memory plan, the scaled pass's runs and
fusion) and the run that walks it share the :class:`Structure` layout field by field; split, every
change to that layout would span two modules.
"""

from __future__ import annotations

import heapq
import mmap
import queue
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np

from .. import patterns
from ..errors import TooLargeError
from ..interrupt import deferred_interrupt
from ..model import IsingModel
from ..parallel import kernel_threads, numba_threads
from ..thermo import check_betas
from .result import ExactResult

#: Name of the path in messages, ``--dry-run`` and the file's ``exact_path``.
PATH_NAME = "elimination"
#: ExactResult fields this path leaves NaN (it cannot give them exactly; docs/methods.md).
NOT_GIVEN = ("absm",)

#: Most bytes of tables one elimination run may hold (messages, moment tables, min-sum choices;
#: with per-site values every message is kept for the backward pass).  Above it the path refuses.
MAX_TABLE_BYTES = 4 * 2**30
#: Orders are abandoned once a clique passes this many spins besides the eliminated one:
#: a single message of 2^27 entries x 6 float64 tables is already over :data:`MAX_TABLE_BYTES`.
MAX_WIDTH = 26
#: Greedy min-fill is tried up to this many spins: it gives up only once its width passes MAX_WIDTH, which
#: on a large lattice takes thousands of steps (an L = 128 lattice: 20 s in Python); the other orders
#: give up within O(N + E).
MIN_FILL_MAX_N = 4000
#: Beyond this many spins elimination is not tried: building the orders and maps in Python costs about
#: 0.5 ms per spin (a 10^4-spin chain: 4 s on a loaded 2-core machine, once per coupling pattern).
MAX_N = 10_000
#: Steps with this many message rows or more are dealt to numba's threads (each row ~20 ns: 2^16 rows
#: are ~1 ms, far above a parallel region's wake-up; below, the steps of a tree or a chain stay serial).
PARALLEL_ROWS = 1 << 16
#: Below this many table entries (over all betas) nothing is timed: the run takes milliseconds.
ESTIMATE_FROM_ENTRIES = 1 << 22
#: Work of the backward (per-site) pass relative to the scaled forward pass (a scatter of probabilities
#: per child, run by run: 0.2 s against 1.0 s on an L = 20 open lattice, docs/performance.md).
BACKWARD_FACTOR = 0.2
#: Work of min-sum (E0 and a ground state, once per run, beside the betas) relative to one scaled forward pass.
MIN_SUM_FACTOR = 1.0
#: The scaled pass's entropy S = ln Z + beta U is taken when |ln Z| + beta |U| <= this times S (at most
#: 4 of 16 digits cancel: its error was 2-5e-16 times that ratio on the UAI grids and the test graphs,
#: so <= ~1e-11 relative); above, at large beta, the log pass (whose S is a sum of non-negative terms).
#: The UAI 20 x 20 grid Grids_18 at beta = 1 has the ratio 1367 (S = 6.6, ln Z = 4520).
SCALED_CANCEL = 1e4
#: ... and its variances when at least this times their rounding floor (:func:`_one_beta`).
SCALED_VAR = 1e12
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Structure:
    """The elimination plan of one coupling pattern (every array int64 unless said).

    var (T,): spin eliminated at step t; k (T,): separator size; a (T,): low bits of the clique index;
    scope_ptr/scope_vars: the separator's spins, bit j + 1 of the clique is scope_vars[scope_ptr[t] + j];
    child_ptr/child_ids: steps whose message step t consumes, one per separator: the other steps with that
    separator (grp_ptr/grp_ids per child slot, the first one included) add their message into its slot
    (acc (T,) bool); lo_off/hi_off (per child slot) into maps;
    edge_ptr/edge_bit/edge_id: bonds of step t's spin to its separator (bit in the clique, bond index);
    phi_lo/phi_hi (T,) and n_phi: local-field table offsets; lp_full/lp_reuse: message offsets keeping every
    message / reusing consumed slots, with arena sizes n_full/n_reuse; bit_off, n_bits: min-sum choices;
    rb/ub (T,): the scaled pass's runs (:func:`_runs`); fused (T,): the child each step's scaled pass computes
    inside its own (:func:`_fusion`), lp_fused/n_fused: that pass's message offsets and arena size (with a
    fused child's block per thread's part at its end).
    """

    n: int
    var: np.ndarray
    k: np.ndarray
    a: np.ndarray
    scope_ptr: np.ndarray
    scope_vars: np.ndarray
    child_ptr: np.ndarray
    child_ids: np.ndarray
    grp_ptr: np.ndarray
    grp_ids: np.ndarray
    acc: np.ndarray
    lo_off: np.ndarray
    hi_off: np.ndarray
    maps: np.ndarray
    edge_ptr: np.ndarray
    edge_bit: np.ndarray
    edge_id: np.ndarray
    phi_lo: np.ndarray
    phi_hi: np.ndarray
    n_phi: int
    lp_full: np.ndarray
    n_full: int
    lp_reuse: np.ndarray
    n_reuse: int
    bit_off: np.ndarray
    n_bits: int
    rb: np.ndarray
    ub: np.ndarray
    fused: np.ndarray
    lp_fused: np.ndarray
    n_fused: int

    @property
    def width(self) -> int:
        """Largest separator size (the clique has one more spin).

        Returns
        -------
        int
            max_t k_t (0 without steps).
        """
        return int(self.k.max(initial=0))

    @property
    def entries(self) -> int:
        """Clique entries visited by one forward pass: sum_t 2^(k_t + 1).

        Returns
        -------
        int
            The entry count.
        """
        return int(np.sum(np.left_shift(np.int64(2), self.k)))

    def table_bytes(self, sites: bool) -> int:
        """Bytes of tables a run holds at once (messages, 4 moment tables, min-sum, scratch).

        Parameters
        ----------
        sites : bool
            Per-site values wanted: every message is kept.

        Returns
        -------
        int
            The size in bytes.
        """
        scratch = 3 << (self.width + 1)
        kept = self.n_full if sites else 0
        return 8 * (kept + 6 * max(self.n_reuse, self.n_fused) + scratch) + self.n_bits // 8 + self.maps.nbytes


# ---------------------------------------------------------------------------- structure
def _adjacency(n: int, edge_i, edge_j) -> list:
    adj = [set() for _ in range(n)]
    for i, j in zip(edge_i.tolist(), edge_j.tolist()):
        adj[i].add(j)
        adj[j].add(i)
    return adj


def _min_fill_order(n: int, edge_i, edge_j, max_width: int):
    """Greedy min-fill elimination order (ties: fewer neighbours, then the lower index), or None as
    soon as a separator would exceed ``max_width``."""
    adj = _adjacency(n, edge_i, edge_j)

    def fill(w):
        nb = adj[w]
        d = len(nb)
        return (d * (d - 1) - sum(len(adj[u] & nb) for u in nb)) // 2

    score = [fill(w) for w in range(n)]
    heap = [(score[w], len(adj[w]), w) for w in range(n)]
    heapq.heapify(heap)
    gone = [False] * n
    order = []
    while heap:
        f, d, v = heapq.heappop(heap)
        if gone[v] or f != score[v] or d != len(adj[v]):
            continue  # a stale entry
        if len(adj[v]) > max_width:
            return None
        gone[v] = True
        order.append(v)
        members = list(adj[v])
        changed = set(members)
        for u in members:
            adj[u].discard(v)
        for x in range(len(members)):
            a = members[x]
            for y in range(x + 1, len(members)):
                b = members[y]
                if b not in adj[a]:
                    # a new bond a-b: every common neighbour w loses one missing pair
                    for w in adj[a] & adj[b]:
                        if w not in changed:
                            score[w] -= 1
                            heapq.heappush(heap, (score[w], len(adj[w]), w))
                    adj[a].add(b)
                    adj[b].add(a)
        for u in members:
            score[u] = fill(u)
            heapq.heappush(heap, (score[u], len(adj[u]), u))
    return order


def _bfs_order(n: int, edge_i, edge_j) -> list:
    """Cuthill-McKee order (breadth first, fewer neighbours first, then the lower index) from a far vertex
    of each component (the last one a search from its lowest spin reaches:
    :func:`isingvar.kernels.graph.far_vertex_order`): its width is at most the bandwidth it finds (a
    lattice's side), where greedy min-fill can do worse (an L = 20 open lattice: min-fill passes width
    26, row by row is 20)."""
    from ..kernels.graph import far_vertex_order

    i, j = np.asarray(edge_i, dtype=np.int64), np.asarray(edge_j, dtype=np.int64)
    pair = np.unique(np.minimum(i, j) * n + np.maximum(i, j))  # each pair once
    rows = np.concatenate([pair // n, pair % n])
    cols = np.concatenate([pair % n, pair // n])
    deg = np.bincount(rows, minlength=n)
    slot = np.lexsort((cols, deg[cols], rows))  # each row's neighbours by (degree, index)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    order, _ = far_vertex_order(indptr, np.ascontiguousarray(cols[slot]), True)
    return order.tolist()


def _symbolic(n: int, edge_i, edge_j, order, max_width: int, bound: float):
    """Separators of eliminating in ``order`` and the work sum_t 2^(k_t + 1); None once a separator
    passes ``max_width`` or the work passes ``bound``."""
    adj = _adjacency(n, edge_i, edge_j)
    seps, work = [], 0
    for v in order:
        sep = adj[v]
        if len(sep) > max_width:
            return None
        work += 2 << len(sep)
        if work > bound:
            return None
        seps.append(frozenset(sep))
        members = list(sep)
        for u in members:
            adj[u].discard(v)
            adj[u].update(sep)
            adj[u].discard(u)
    return seps, work


def elimination_order(n: int, edge_i, edge_j, max_width: int = MAX_WIDTH):
    """The cheapest of several elimination orders, by the work sum_t 2^(k_t + 1) of their cliques.

    The candidates: greedy min-fill (up to :data:`MIN_FILL_MAX_N` spins), Cuthill-McKee, its reverse
    (leaves first on a tree) and the spins' own order.

    Parameters
    ----------
    n : int
        Number of spins N.
    edge_i, edge_j : ndarray of int, shape (E,)
        The bonds edge_i[e]-edge_j[e].
    max_width : int, default :data:`MAX_WIDTH`
        Largest separator size allowed.

    Returns
    -------
    tuple of (list of int, list of frozenset) or None
        (order, separators): the spins in elimination order and the separator of each; None when
        each candidate passes ``max_width``.
    """
    best = None
    bfs = _bfs_order(n, edge_i, edge_j)
    candidates = [bfs, bfs[::-1], list(range(n))]  # cheap, and they give up at once on a wide graph
    if n <= MIN_FILL_MAX_N:
        candidates.insert(0, _min_fill_order(n, edge_i, edge_j, max_width))
    for order in candidates:
        if order is None:
            continue
        got = _symbolic(n, edge_i, edge_j, order, max_width, np.inf if best is None else best[2])
        if got is not None:
            best = (order, got[0], got[1])
    return None if best is None else best[:2]


def _allocate(sizes, parent) -> tuple[np.ndarray, int]:
    """Offsets of each step's message in one arena, a slot reused once the parent has consumed it
    (first fit).  Returns (offsets int64 (T,), arena size)."""
    free = []  # sorted (start, length)
    top = 0
    offsets = np.zeros(len(sizes), dtype=np.int64)
    waiting = {}
    for t, size in enumerate(sizes):
        for s, (start, length) in enumerate(free):
            if length >= size:
                offsets[t] = start
                if length > size:
                    free[s] = (start + size, length - size)
                else:
                    del free[s]
                break
        else:
            offsets[t] = top
            top += size
        for c in waiting.pop(t, ()):  # the children are consumed: their slots are free
            free.append((int(offsets[c]), sizes[c]))
        free.sort()
        merged = []
        for start, length in free:
            if merged and merged[-1][0] + merged[-1][1] == start:
                merged[-1] = (merged[-1][0], merged[-1][1] + length)
            else:
                merged.append((start, length))
        free = merged
        if parent[t] >= 0:
            waiting.setdefault(int(parent[t]), []).append(t)
    return offsets, top


def build_structure(n: int, edge_i, edge_j, max_width: int = MAX_WIDTH) -> Structure | None:
    """The elimination plan of the graph in the order of :func:`elimination_order`.

    Parameters
    ----------
    n : int
        Number of spins N.
    edge_i, edge_j : array_like of int, shape (E,)
        The bonds edge_i[e]-edge_j[e].
    max_width : int, default :data:`MAX_WIDTH`
        Largest separator size allowed.

    Returns
    -------
    Structure or None
        The plan, or None when no order stays within ``max_width``.
    """
    found = elimination_order(n, np.asarray(edge_i), np.asarray(edge_j), max_width)
    if found is None:
        return None
    order, seps = found
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    T = n
    k = np.array([len(s) for s in seps], dtype=np.int64)
    a = np.maximum(1, (k + 1) // 2)
    scopes = [sorted(s, key=pos.__getitem__) for s in seps]
    parent = np.array([pos[s[0]] if s else -1 for s in scopes], dtype=np.int64)
    scope_ptr = np.zeros(T + 1, dtype=np.int64)
    np.cumsum(k, out=scope_ptr[1:])
    scope_vars = np.array([u for s in scopes for u in s], dtype=np.int64)
    # children of one step with the same separator share a slot: their messages multiply into it at
    # once (K_n,n: n messages over one side would otherwise all be held, and all be read per entry)
    groups = [{} for _ in range(T)]
    for t in range(T):
        if parent[t] >= 0:
            groups[parent[t]].setdefault(tuple(scopes[t]), []).append(t)
    children = [[g[0] for g in groups[t].values()] for t in range(T)]
    members = [g for t in range(T) for g in groups[t].values()]
    owner = np.arange(T)
    acc = np.zeros(T, dtype=np.bool_)
    for g in members:
        owner[g[1:]] = g[0]
        acc[g[1:]] = True
    child_ptr = np.zeros(T + 1, dtype=np.int64)
    np.cumsum([len(c) for c in children], out=child_ptr[1:])
    child_ids = np.array([c for cs in children for c in cs], dtype=np.int64)
    grp_ptr = np.zeros(len(members) + 1, dtype=np.int64)
    np.cumsum([len(g) for g in members], out=grp_ptr[1:])
    grp_ids = np.array([t for g in members for t in g], dtype=np.int64)
    maps, lo_off, hi_off, top = [], [], [], 0
    for t in range(T):
        bit = {order[t]: 0} | {u: j + 1 for j, u in enumerate(scopes[t])}
        at, K = int(a[t]), int(k[t]) + 1
        lo_x = np.arange(1 << at, dtype=np.int64)
        hi_x = np.arange(1 << (K - at), dtype=np.int64)
        for c in children[t]:
            lo = np.zeros_like(lo_x)
            hi = np.zeros_like(hi_x)
            for j, u in enumerate(scopes[c]):
                bp = bit[u]
                if bp < at:
                    lo |= ((lo_x >> bp) & 1) << j
                else:
                    hi |= ((hi_x >> (bp - at)) & 1) << j
            lo_off.append(top)
            hi_off.append(top + lo.size)
            top += lo.size + hi.size
            maps += [lo, hi]
    # bonds: each handled by its first-eliminated end
    ei, ej = np.asarray(edge_i, dtype=np.int64), np.asarray(edge_j, dtype=np.int64)
    first = np.where(pos[ei] < pos[ej], ei, ej)
    other = np.where(pos[ei] < pos[ej], ej, ei)
    by_step = np.argsort(pos[first], kind="stable")
    edge_ptr = np.zeros(T + 1, dtype=np.int64)
    np.cumsum(np.bincount(pos[first], minlength=T), out=edge_ptr[1:])
    edge_bit = np.empty(ei.size, dtype=np.int64)
    for slot, e in enumerate(by_step.tolist()):
        t = int(pos[first[e]])
        edge_bit[slot] = 1 + scopes[t].index(int(other[e]))
    sizes_lo = np.left_shift(1, a)
    sizes_hi = np.left_shift(1, k + 1 - a)
    phi_lo = np.zeros(T, dtype=np.int64)
    phi_lo[1:] = np.cumsum(sizes_lo + sizes_hi)[:-1]
    phi_hi = phi_lo + sizes_lo
    msg = np.left_shift(1, k).tolist()
    lp_full = np.zeros(T, dtype=np.int64)
    lp_full[1:] = np.cumsum(msg)[:-1]
    lp_reuse, n_reuse = _allocate([0 if acc[t] else msg[t] for t in range(T)], parent)
    lp_reuse = lp_reuse[owner]
    runs = _runs(k, a, child_ptr, lo_off, hi_off, np.concatenate(maps) if maps else np.zeros(1, np.int64))
    fused = _fusion(k, runs["rb"], child_ptr, child_ids, grp_ptr, grp_ids)
    # the fused pass's slots: a child computed inside its parent has none, and its children are read
    # until the parent's step (the parent must not be given their space)
    inner = np.zeros(T, dtype=np.bool_)
    inner[fused[fused >= 0]] = True
    lifetime = parent.copy()
    for t in np.flatnonzero(fused >= 0).tolist():
        lifetime[parent == fused[t]] = t
    lp_fused, n_fused = _allocate([0 if acc[t] or inner[t] else msg[t] for t in range(T)], lifetime)
    lp_fused = lp_fused[owner]
    from ..kernels.elimination import MAX_CHUNKS

    n_fused += MAX_CHUNKS << (int(runs["rb"].max()) + 1)  # a fused child's block per thread's part, at the end
    bit_off = lp_full.copy()
    i64 = lambda x: np.ascontiguousarray(x, dtype=np.int64)
    return Structure(
        n=n, var=i64(order), k=k, a=i64(a), scope_ptr=scope_ptr, scope_vars=i64(scope_vars),
        child_ptr=child_ptr, child_ids=i64(child_ids), grp_ptr=grp_ptr, grp_ids=i64(grp_ids), acc=acc, lo_off=i64(lo_off), hi_off=i64(hi_off),
        maps=i64(np.concatenate(maps) if maps else np.zeros(1)), edge_ptr=edge_ptr, edge_bit=edge_bit,
        edge_id=i64(by_step), phi_lo=phi_lo, phi_hi=i64(phi_hi), n_phi=int((sizes_lo + sizes_hi).sum()),
        lp_full=lp_full, n_full=int(sum(msg)), lp_reuse=lp_reuse, n_reuse=int(n_reuse),
        bit_off=bit_off, n_bits=int(sum(msg)) + 8, fused=fused, lp_fused=lp_fused, n_fused=int(n_fused), **runs,
    )


#: Longest run of the scaled pass, 2^RUN_BITS rows: its buffers (five of 2^(RUN_BITS + 1) entries, 20 KB,
#: and a fused child's block of as many in the tables) stay in L1.
RUN_BITS = 8


def _runs(k, a, child_ptr, lo_off, hi_off, maps) -> dict:
    """Runs of :func:`isingvar.kernels.elimination._scaled_runs`: rb[t], the most low bits of a row (up to
    :data:`RUN_BITS`) that every child's message has as its own bits 1.. (so a run of 2^rb rows reads
    consecutive entries) and that stay in the low local-field index; ub[t], the lowest run-index bit
    that the first child lacks (its entries are read by two runs: the run order puts them together)."""
    T = k.size
    rb = np.zeros(T, dtype=np.int64)
    ub = np.zeros(T, dtype=np.int64)
    for t in range(T):
        at, K = int(a[t]), int(k[t]) + 1
        bit = lambda q, b, at=at: maps[lo_off[q] + (1 << b)] if b < at else maps[hi_off[q] + (1 << (b - at))]
        r = min(max(0, at - 1), RUN_BITS)
        for q in range(child_ptr[t], child_ptr[t + 1]):
            b = 1
            while b <= r and bit(q, b) == 1 << b:
                b += 1
            r = b - 1
        rb[t] = r
        if child_ptr[t] < child_ptr[t + 1]:
            ub[t] = next((b - 1 - r for b in range(r + 1, K) if bit(child_ptr[t], b) == 0), 0)
    return {"rb": rb, "ub": ub}


#: Steps of at least this many rows take in their only child's rows (:func:`_fusion`): below, both
#: messages stay in the caches anyway.
FUSE_ROWS = 1 << 14


def _fusion(k, rb, child_ptr, child_ids, grp_ptr, grp_ids) -> np.ndarray:
    """fused[t]: the child c = t - 1 whose rows the scaled pass computes inside step t's runs, block by
    block (:func:`isingvar.kernels.elimination._scaled_runs`), or -1.  Its message then never goes to
    memory and back: on a wide lattice's chain of steps that is half the pass's memory traffic, which
    limits it where two betas share the memory (docs/performance.md).  Taken where c is t's only child, alone in its slot, itself
    takes in no child (pairs, not chains: the block of c a run reads then needs c's runs only), lacks at
    most one of t's clique bits (each block is read by at most two runs, one after the other: computed
    once) and its runs tile the block (rb[c] <= rb[t] + 1), on steps of at least :data:`FUSE_ROWS` rows."""
    T = k.size
    alone = np.zeros(T, dtype=np.bool_)
    alone[grp_ids[grp_ptr[:-1]][np.diff(grp_ptr) == 1]] = True
    fused = np.full(T, -1, dtype=np.int64)
    for t in range(1, T):
        c = t - 1
        if (child_ptr[t + 1] - child_ptr[t] == 1 and child_ids[child_ptr[t]] == c and alone[c] and fused[c] < 0
                and k[c] >= k[t] and rb[c] <= rb[t] + 1 and (1 << int(k[t])) >= FUSE_ROWS):
            fused[t] = c
    return fused


def structure(model: IsingModel) -> Structure | None:
    """:func:`build_structure` of ``model``'s coupling pattern, kept in the pattern cache.

    The cache is :mod:`isingvar.patterns`: every disorder sample and every (J, h) of a sweep shares it.

    Parameters
    ----------
    model : IsingModel
        The instance.

    Returns
    -------
    Structure or None
        The plan; None beyond :data:`MAX_N` spins or where no order stays within :data:`MAX_WIDTH`.
    """
    return patterns.get(model, PATH_NAME, lambda: None if model.n > MAX_N else
                        build_structure(model.n, model.edge_i, model.edge_j))


# ---------------------------------------------------------------------------- the path protocol
def _gib(x: float) -> str:
    return f"{x / 2**30:.3g} GiB"


def applicable(model: IsingModel, betas, *, sites: bool) -> str | None:
    """None if elimination can run on ``model`` within :data:`MAX_TABLE_BYTES`; else the reason (one line).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (unused: the answer depends on the structure alone).
    sites : bool
        Per-site values wanted (every message is kept).

    Returns
    -------
    str or None
        The reason, or None.
    """
    if model.n > MAX_N:
        return f"N = {model.n} is beyond the {MAX_N} spins elimination tries"
    plan = structure(model)
    if plan is None:
        return f"no elimination order found stays within width {MAX_WIDTH} (tables of 2^{MAX_WIDTH + 1} entries)"
    need = plan.table_bytes(sites)
    if need > MAX_TABLE_BYTES:
        hint = " (per-site values keep every message: --no-sites needs " + _gib(plan.table_bytes(False)) + ")" \
            if sites else ""
        return (f"elimination at width {plan.width} needs {_gib(need)} of tables, over its "
                f"{_gib(MAX_TABLE_BYTES)} limit{hint}")
    return None


_RATE: dict = {}  # seconds per clique entry of the scaled forward pass, per number of concurrent passes


def _seconds_per_entry(workers: int = 1) -> float:
    """Seconds per clique entry of :func:`isingvar.kernels.elimination.forward_scaled` (with moments) while
    ``workers`` such passes run at once on threads, as :func:`run` deals betas (so a core another process
    holds shows), from a timed run on a fixed random graph after a warm-up that compiles; once per process."""
    if workers not in _RATE:
        # the complete graph K_19: tables up to 2^19 entries x 5 (20 MB), out of the caches as a wide
        # model's are (a K_14 probe, all in L2, was 2.7 times too fast for an L = 20 lattice)
        rng = np.random.default_rng(0)
        i, j = np.triu_indices(19, k=1)
        probe = IsingModel(19, i, j, rng.normal(size=i.size), rng.normal(size=19))
        plan = build_structure(probe.n, probe.edge_i, probe.edge_j)
        works = [_Work(plan, probe, sites=False) for _ in range(workers)]
        reps = 3

        def passes(work):
            for _ in range(reps):
                work.forward_scaled(1.0)

        for work in works:  # compiles, and touches every table's fresh pages once
            work.forward_scaled(1.0)
        t = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(passes, works))
        _RATE[workers] = (time.perf_counter() - t) / (reps * plan.entries)  # each thread did reps passes
    return _RATE[workers]


def _threads(plan: Structure, nb: int, sites: bool) -> tuple[int, int]:
    """(workers, threads) for :func:`run`: betas dealt to ``workers`` threads of their own (no barrier per
    step, so a thread on a core another process holds only does fewer betas) where there are at least as
    many betas as threads and memory for a set of tables each; else one pass at a time whose large steps'
    rows go to ``threads`` numba threads."""
    import numba

    available = numba.get_num_threads()
    workers = kernel_threads(plan.entries * nb, nb, PARALLEL_ROWS, available) if nb >= available else 1
    workers = max(1, min(workers, MAX_TABLE_BYTES // max(plan.table_bytes(sites), 1)))
    threads = 1 if workers > 1 else kernel_threads(plan.entries, 64, PARALLEL_ROWS, available)
    return workers, threads


#: Modelled ns per clique entry of a pass on one core, for :func:`work`: the scaled pass on an L = 16 open
#: lattice's tables measured 8-11 ns (one thread, under load; the 2-core test machine, 2026-12-06).  Only its
#: ratio to the other paths' constants matters: it decides the path, never a time limit.
NS_PER_ENTRY = 10.0


def work(model: IsingModel, betas, *, sites: bool = False) -> float:
    """Modelled seconds of :func:`run` on one core (the :class:`isingvar.exact.ExactPath` protocol): clique
    entries x passes (one per beta, the per-site backward pass at :data:`BACKWARD_FACTOR`, min-sum at
    :data:`MIN_SUM_FACTOR`) x :data:`NS_PER_ENTRY`; 0 below :data:`ESTIMATE_FROM_ENTRIES` entries in all,
    inf where :func:`applicable` refuses.  Deterministic: the structure of the coupling pattern only.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (their count matters).
    sites : bool, default False
        Per-site values wanted (adds the backward passes).

    Returns
    -------
    float
        Modelled seconds.
    """
    if applicable(model, betas, sites=sites) is not None:
        return float("inf")
    entries = structure(model).entries
    passes = max(1, len(np.atleast_1d(betas))) * (1.0 + (BACKWARD_FACTOR if sites else 0.0)) + MIN_SUM_FACTOR
    if entries * passes < ESTIMATE_FROM_ENTRIES:
        return 0.0
    return entries * passes * NS_PER_ENTRY * 1e-9


def estimate_seconds(model: IsingModel, betas, *, sites: bool = False) -> float:
    """Seconds :func:`run` would take: clique entries x passes x a timed rate.

    0 below :data:`ESTIMATE_FROM_ENTRIES` entries in all; inf where :func:`applicable` refuses.  Every beta is
    counted at the scaled pass's rate (a beta it cannot take costs about 3 times as much: the log pass).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (their count matters).
    sites : bool, default False
        Per-site values wanted (adds the backward passes).

    Returns
    -------
    float
        Estimated wall seconds.
    """
    if applicable(model, betas, sites=sites) is not None:
        return float("inf")
    plan = structure(model)
    nb = max(1, len(np.atleast_1d(betas)))
    workers, _ = _threads(plan, nb, sites)
    per_beta = 1.0 + (BACKWARD_FACTOR if sites else 0.0)
    # the passes (min-sum beside the betas) shared by the threads, a beta being one thread's
    work = plan.entries * max(per_beta, (nb * per_beta + MIN_SUM_FACTOR) / workers)
    if plan.entries * (nb * per_beta + MIN_SUM_FACTOR) < ESTIMATE_FROM_ENTRIES:
        return 0.0
    return work * _seconds_per_entry(workers)


def _table(n: int, dtype=np.float64) -> np.ndarray:
    """An array of ``n`` zeros (at least one) in anonymous mmap memory, for tables of tens of MB and more.

    numpy asks the kernel for transparent huge pages on its large arrays (madvise); where the kernel
    has none free, every first touch of a 2 MB region tries to compact memory: on the 2-vCPU test
    machine 608 MB took 1.8-5.1 s to fill that way and 0.27 s in plain pages (docs/performance.md),
    as long as a forward pass.  Freed (unmapped) with the array.
    """
    size = max(int(n), 1) * np.dtype(dtype).itemsize
    return np.frombuffer(mmap.mmap(-1, size), dtype=dtype)


class _Work:
    """The per-instance tables of one run: local fields, arenas, scratch."""

    def __init__(self, plan: Structure, model: IsingModel, sites: bool, threads: int = 1):
        from ..kernels.elimination import fill_phi

        self.plan, self.sites = plan, sites
        # steps of at least PARALLEL_ROWS rows run on the threads; with one thread none does
        self.parallel_rows = PARALLEL_ROWS if threads > 1 else 1 << 62
        self.phi = np.zeros(max(plan.n_phi, 1))
        fill_phi(plan.k, plan.a, plan.var, plan.edge_ptr, plan.edge_bit, plan.edge_id,
                 np.ascontiguousarray(model.couplings), np.ascontiguousarray(model.fields),
                 plan.phi_lo, plan.phi_hi, self.phi)
        self.e_abs = float(np.abs(model.couplings).sum() + np.abs(model.fields).sum())  # |E| at most
        self.lp = _table(plan.n_full if sites else 1)  # each row's weights of s_v (backward)
        self.mo = [_table(max(plan.n_reuse, plan.n_fused)) for _ in range(6)]
        # the scaled pass: the step whose slot each step's message is in (siblings of one separator share it)
        self.own = np.arange(plan.k.size, dtype=np.int64)
        for q in range(plan.grp_ptr.size - 1):
            self.own[plan.grp_ids[plan.grp_ptr[q]:plan.grp_ptr[q + 1]]] = plan.grp_ids[plan.grp_ptr[q]]
        self.bz = np.empty(2 * self.phi.size)
        self.steps = [np.empty(plan.k.size) for _ in range(3)]  # shift, lsc, cinv

    def _common(self):
        p = self.plan
        return (p.k, p.a, p.child_ptr, p.child_ids, p.lo_off, p.hi_off, p.maps, p.phi_lo, p.phi_hi, self.phi)

    def forward(self, beta: float) -> np.ndarray:
        from ..kernels.elimination import forward

        p = self.plan
        return forward(beta, *self._common(), p.lp_reuse, p.acc, *self.mo, p.lp_full, self.lp, self.sites,
                       self.parallel_rows)

    def forward_scaled(self, beta: float) -> np.ndarray:
        """float64 (6,): ok, ln Z, <E>, Var E, <M>, Var M (:func:`isingvar.kernels.elimination.forward_scaled`:
        ok 0 where the scaled domain cannot hold this beta's tables exactly)."""
        from ..kernels.elimination import forward_scaled

        p = self.plan
        return forward_scaled(beta, p.rb, p.ub, *self._common(), p.lp_fused, self.own, self.bz, *self.steps, *self.mo[1:],
                              p.lp_full, self.lp, self.sites, self.parallel_rows, p.fused)

    def backward(self) -> np.ndarray:
        """Per-site <s_i>, float64 (N,), from the weights the last forward pass (either) kept."""
        from ..kernels.elimination import backward

        p = self.plan
        sites = np.zeros(p.n)
        backward(p.rb, p.ub, p.var, p.k, p.a, p.child_ptr, p.child_ids, p.lo_off, p.hi_off, p.maps, p.lp_full, self.lp,
                 p.lp_reuse, self.mo[0], sites)  # the log pass's emin arena as scratch: the scaled one leaves it
        return sites

    def ground_state(self) -> tuple[float, np.ndarray]:
        from ..kernels.elimination import backtrack, min_sum

        p = self.plan
        arena = _table(p.n_reuse)
        bits = _table((p.n_bits + 7) // 8, np.uint8)
        min_sum(*self._common(), p.lp_reuse, p.acc, arena, p.bit_off, bits)
        spins = np.zeros(p.n)
        backtrack(p.var, p.k, p.scope_ptr, p.scope_vars, p.bit_off, bits, spins)
        return spins


def _compile() -> None:
    """Compile (or load from numba's cache) the kernels on a 2-spin model before a run enters
    :func:`deferred_interrupt`, where Ctrl-C would wait for the compiler."""
    from ..kernels.elimination import forward

    if not forward.signatures:
        tiny = IsingModel(2, [0], [1], [1.0], [0.1, 0.0])
        w = _Work(build_structure(2, tiny.edge_i, tiny.edge_j), tiny, sites=True)
        w.forward(1.0)
        w.forward_scaled(1.0)
        w.backward()
        w.ground_state()


def run(model: IsingModel, betas, *, sites: bool = False,
        progress: Callable[[float, float], None] | None = None) -> ExactResult:
    """Exact thermodynamics of ``model`` over ``betas`` by variable elimination.

    Parameters
    ----------
    model : IsingModel
    betas : array_like of float, shape (nb,); finite, >= 0, any order.
    sites : bool
        Also the per-site <s_i> (float64 (nb, N)); keeps each row's weights (more memory).
    progress : callable(done, total), optional
        Called after each beta; Ctrl-C is honoured there.

    Returns
    -------
    ExactResult with ``path = "elimination"``; ``absm`` NaN (module docstring).

    Raises
    ------
    TooLargeError
        If :func:`applicable` refuses (width or memory over the limits).
    ValueError
        If a beta is negative or not finite.
    """
    b = check_betas(betas)
    reason = applicable(model, b, sites=sites)
    if reason is not None:
        raise TooLargeError(f"exact elimination cannot run: {reason}; use --method mf and --method trw")
    plan = structure(model)
    n = model.n
    symmetric = not np.any(model.fields)
    nb = b.size
    workers, threads = _threads(plan, nb, sites)
    works = queue.SimpleQueue()
    for _ in range(workers):
        works.put(first := _Work(plan, model, sites, threads))
    _compile()

    def one(beta):
        """The moments at ``beta`` on a set of tables of the pool's (one per thread).

        Parameters
        ----------
        beta : float
            Inverse temperature.

        Returns
        -------
        tuple
            (ln Z, U, S, Var E, <M>, Var M, per-site <s_i> or None), as :func:`_one_beta`.
        """
        work = works.get()
        try:
            return _one_beta(work, beta, sites and not symmetric)
        finally:
            works.put(work)

    r = {key: np.empty(nb) for key in ("lnZ", "mean_e", "entropy", "var_e", "mean_m", "var_m")}
    site_m = np.zeros((nb, n)) if sites else None
    blist = b.tolist()
    pool = ThreadPoolExecutor(workers) if workers > 1 else None  # none for one: run() is called per component by TRW
    pending = {}
    with deferred_interrupt() as check, numba_threads(threads):
        try:
            if pool is None:
                gs = first.ground_state()
                check()
                stream = ((i, lambda beta=beta: one(beta)) for i, beta in enumerate(blist))
            else:
                ground = pool.submit(first.ground_state)  # min-sum reads only the plan and the fields: beside the betas
                pending = {pool.submit(one, beta): i for i, beta in enumerate(blist)}
                stream = ((pending[fut], fut.result) for fut in as_completed(pending))
            for done, (i, get) in enumerate(stream):
                got = get()
                for key, value in zip(r, got[:6]):
                    r[key][i] = value
                if got[6] is not None:
                    site_m[i] = got[6]
                check()
                if progress:
                    progress(done + 1, nb)
            if pool is not None:
                gs = ground.result()
        finally:
            if pool is not None:
                for fut in pending:
                    fut.cancel()  # after Ctrl-C: the betas not started are dropped, the running ones finish
                pool.shutdown(wait=True)
    # the tables carry cumulants: Var(E) and Var(M) come centred; with zero fields <M> = 0 exactly (not to
    # rounding) and the variance about the computed ~0 mean is <M^2>
    return ExactResult.from_moments(b, n, path="elimination", e0=float(model.energy(gs)), ground_state=gs,
                                    symmetric=symmetric, sites=site_m, **r)


def _one_beta(work: _Work, beta: float, sites: bool):
    """(ln Z, U, S, Var E, <M>, Var M, per-site <s_i> or None) at ``beta``: the scaled pass, or the log
    pass where the scaled one cannot hold the tables, its S = ln Z + beta U would cancel, or a variance
    is near its rounding floor (the choice depends on beta alone, not on the other betas of the run or
    their order)."""
    ok, lnz, mean_e, var_e, mean_m, var_m = work.forward_scaled(beta)
    s = lnz + beta * mean_e
    # S = ln Z + beta U cancels where few states carry the weight: trusted to SCALED_CANCEL (NaN: not).
    # The scaled tables hold conditional means of E and M themselves, each to ~eps of its size, so a
    # near-degenerate row adds ~(eps E)^2 to a variance: trusted where the variance is 1e12 times that
    # (N eps |E|max)^2 (a 4 x 4 +-J grid at beta = 50: Var E = 3e-22, off by 1e-8 relative in this pass)
    floor_e, floor_m = (SCALED_VAR * (work.plan.n * _EPS * x) ** 2 for x in (work.e_abs, work.plan.n))
    if not (ok and abs(lnz) + beta * abs(mean_e) <= SCALED_CANCEL * s and var_e >= floor_e and var_m >= floor_m):
        e0, lq, de, var_e, mean_m, var_m = work.forward(beta)
        lnz = lq - beta * e0
        mean_e = e0 + de
        s = float(ExactResult.entropy_from_excess(lq, de, beta))  # both terms >= 0
    return lnz, mean_e, s, var_e, mean_m, var_m, work.backward() if sites else None
