"""The one pattern cache (isingvar.patterns) and the graph searches (isingvar.kernels.graph).

The cache: LRU order and bounds, one key per coupling pattern, structure shared across values, thread
safety, and the exact path's decision never cached.  The searches: the orders, layers, trees and
components the modules now take from isingvar.kernels.graph and scipy.sparse.csgraph equal those of the
plain-Python searches they replace (kept below as the specification).
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np
import pytest

from isingvar import patterns
from isingvar.exact import choice, cutset, elimination, planar
from isingvar.families import make_instance, resolve_params
from isingvar.meanfield import colour_classes
from isingvar.model import IsingModel
from isingvar.patterns import PatternCache, pattern_key


@pytest.fixture
def cache(monkeypatch):
    """A fresh process cache, so that build counts start at zero."""
    fresh = PatternCache()
    monkeypatch.setattr(patterns, "CACHE", fresh)
    return fresh


def _chain(n, couplings=None, fields=None):
    i = np.arange(n - 1)
    return IsingModel(n, i, i + 1, np.ones(n - 1) if couplings is None else couplings, fields)


def _lattice(L, rng=None, couplings=None, fields=None):
    site = np.arange(L * L).reshape(L, L)
    i = np.concatenate([site[:, :-1].ravel(), site[:-1, :].ravel()])
    j = np.concatenate([site[:, 1:].ravel(), site[1:, :].ravel()])
    J = rng.normal(size=i.size) if couplings is None else np.broadcast_to(couplings, i.shape)
    return IsingModel(L * L, i, j, J, fields)


def _random_graph(n, p, rng):
    i, j = np.triu_indices(n, k=1)
    keep = rng.random(i.size) < p
    return IsingModel(n, i[keep], j[keep], rng.normal(size=int(keep.sum())))


# ---------------------------------------------------------------------------- the key
def test_one_key_for_one_pattern_whatever_the_values_and_the_order_given():
    rng = np.random.default_rng(0)
    a = _lattice(4, rng)
    perm = rng.permutation(a.n_edges)
    # the same pairs listed in another order and the other way round, other couplings and fields
    b = IsingModel(a.n, a.edge_j[perm], a.edge_i[perm], rng.normal(size=a.n_edges), rng.normal(size=a.n))
    assert pattern_key(a) == pattern_key(b)
    assert pattern_key(a.scaled(3.0, 0.5)) is pattern_key(a)  # a sweep's J and h axes: not hashed again
    # another N with the same pairs, one pair less, one pair moved: other keys
    assert pattern_key(IsingModel(a.n + 1, a.edge_i, a.edge_j, a.couplings)) != pattern_key(a)
    assert pattern_key(IsingModel(a.n, a.edge_i[1:], a.edge_j[1:], a.couplings[1:])) != pattern_key(a)
    i, j = a.edge_i.copy(), a.edge_j.copy()
    i[-1], j[-1] = 0, a.n - 1  # not a lattice bond
    assert pattern_key(IsingModel(a.n, i, j, a.couplings)) != pattern_key(a)


# ---------------------------------------------------------------------------- the store
def test_least_recently_used_entry_goes_first(cache):
    small = PatternCache(max_entries=2)
    a, b, c = _chain(3), _chain(4), _chain(5)
    built = []

    def get(model):
        return small.get(model, "kind", lambda: built.append(model.n) or model.n)

    assert [get(a), get(b), get(a)] == [3, 4, 3]
    assert built == [3, 4]
    get(c)  # three patterns in two places: b, used longest ago, goes
    assert built == [3, 4, 5] and len(small) == 2
    get(a)
    get(c)
    assert built == [3, 4, 5]
    get(b)  # rebuilt; a, now the least recent, goes
    assert built == [3, 4, 5, 4]
    get(c)
    get(a)
    assert built == [3, 4, 5, 4, 3]
    assert small.builds["kind"] == 5 and small.hits["kind"] == 4


def test_kinds_are_separate_entries_of_one_pattern():
    store = PatternCache()
    m = _chain(4)
    assert store.get(m, "one", lambda: 1) == 1
    assert store.get(m, ("two", 2), lambda: 2) == 2
    assert store.get(m, "one", lambda: 3) == 1
    assert len(store) == 2


def test_bytes_bound_and_the_newest_entry_stays():
    size = 8 * 1000
    store = PatternCache(max_entries=100, max_bytes=int(2.5 * size) + 3 * 1024)
    models = [_chain(n) for n in range(3, 8)]
    for m in models[:3]:
        store.get(m, "a", lambda: np.zeros(1000))
    assert len(store) == 2  # the third array passes the bound: the oldest goes
    assert store.stored_bytes <= store.max_bytes
    store.get(models[3], "a", lambda: np.zeros(100_000))  # larger than the bound alone: kept, alone
    assert len(store) == 1 and store.stored_bytes > store.max_bytes
    calls = []
    store.get(models[3], "a", lambda: calls.append(1))
    assert not calls


def test_none_is_stored_and_a_failed_build_stores_nothing():
    store = PatternCache()
    m = _chain(3)
    calls = []
    assert store.get(m, "k", lambda: calls.append(1)) is None
    assert store.get(m, "k", lambda: calls.append(1)) is None
    assert calls == [1]

    def fail():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.get(m, "other", fail)
    assert store.get(m, "other", lambda: 7) == 7


def test_room_counts_entries_by_both_bounds():
    store = PatternCache(max_entries=10, max_bytes=1000)
    assert store.room(5, 100) == 5
    assert store.room(20, 10) == 10
    assert store.room(20, 300) == 3
    assert store.room(3, 10**6) == 1  # the newest entry always stays
    assert store.room(0, 10) == 0


def test_nbytes_counts_arrays_once_through_containers():
    a = np.zeros(100)
    value = {"x": (a, a), "y": [np.ones(10, dtype=np.int32)]}
    assert 800 + 40 <= patterns.nbytes(value) <= 800 + 40 + 10 * 1024


def test_threads_share_one_build_and_the_bounds_hold():
    store = PatternCache(max_entries=5)
    models = [_chain(n) for n in range(3, 23)]
    calls = {m.n: 0 for m in models}
    lock = threading.Lock()
    start = threading.Barrier(8)
    errors = []

    def build(model):
        with lock:
            calls[model.n] += 1
        return np.full(model.n, float(model.n))

    def work(seed):
        rng = np.random.default_rng(seed)
        start.wait()
        for _ in range(300):  # an exception here ends the thread early: the count of lookups shows it
            m = models[int(rng.integers(len(models)))] if seed else models[0]
            got = store.get(m, "k", lambda m=m: build(m))
            if got.size != m.n or got[0] != m.n:
                errors.append((m.n, got))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store) <= 5
    assert sum(store.builds.values()) == sum(calls.values())
    assert sum(store.builds.values()) + sum(store.hits.values()) == 8 * 300
    assert store.stored_bytes == sum(size for _, size in list(store._items.values()))  # the threads are done


def test_threads_missing_one_entry_build_it_once():
    store = PatternCache()
    m = _chain(10)
    calls = []
    gate = threading.Event()

    def build():
        calls.append(1)
        gate.wait(60)  # the other threads ask meanwhile; they must wait for this build
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(store.get(m, "k", build))) for _ in range(6)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(got) == 6 and all(g is got[0] for g in got)


# ---------------------------------------------------------------------------- the users share it
def test_every_structure_is_built_once_per_pattern(cache):
    rng = np.random.default_rng(1)
    a = _lattice(5, rng)
    b = _lattice(5, rng, fields=rng.normal(size=25))  # another sample: other values, one pattern
    assert elimination.structure(a) is elimination.structure(b) is elimination.structure(a.scaled(0.5, 0.1))
    assert cutset.structure(a) is cutset.structure(b)
    assert colour_classes(a)[0] is colour_classes(b.scaled(2.0, 0.3))[0]
    c = _lattice(5, rng)
    assert planar._structure(a) is planar._structure(c)
    assert planar._embedding(a) is planar._embedding(c)
    assert cache.builds[elimination.PATH_NAME] == 1
    assert cache.builds[cutset.PATH_NAME] == 1
    assert cache.builds["meanfield colouring"] == 1
    assert cache.builds[(planar.PATH_NAME, "structure")] == 1
    assert cache.builds[(planar.PATH_NAME, "embedding")] == 1


def test_frustration_follows_the_values_of_one_pattern(cache):
    rng = np.random.default_rng(2)
    ferro = _lattice(6, couplings=1.0)
    glass = _lattice(6, couplings=np.where(rng.random(60) < 0.5, -1.0, 1.0))
    emb = planar._embedding(ferro)
    assert planar._frustration(ferro, emb) == 0.0
    assert planar._frustration(glass, emb) == 1.0  # +-J with a frustrated face
    assert planar._frustration(ferro, emb) == 0.0
    # the reference: faces walked one by one (face_next), the weakest |J| of each frustrated face
    J = np.zeros(emb[0].size)
    J[emb[3] >= 0] = glass.couplings[emb[3][emb[3] >= 0]]
    face_next = emb[2]
    seen, worst = np.zeros(face_next.size, dtype=bool), 0.0
    for d0 in range(face_next.size):
        if seen[d0]:
            continue
        d, bonds = d0, []
        while not seen[d]:
            seen[d] = True
            bonds.append(J[d >> 1])
            d = face_next[d]
        if sum(x < 0 for x in bonds) % 2:
            worst = max(worst, min(abs(x) for x in bonds))
    assert planar._frustration(glass, emb) == worst


def test_the_exact_path_is_decided_per_instance_not_per_pattern(cache):
    rng = np.random.default_rng(3)
    # L = 20: elimination's modelled work (width 20) is ~40 times planar's, so planar wins where it applies
    L, betas = 20, np.array([0.5, 12.0])
    ferro = _lattice(L, couplings=1.0)
    glass = _lattice(L, couplings=np.where(rng.random(2 * L * (L - 1)) < 0.5, -1.0, 1.0))
    field = _lattice(L, couplings=1.0, fields=np.full(L * L, 0.1))
    assert pattern_key(ferro) == pattern_key(glass) == pattern_key(field)
    # planar covers the ferromagnet; beta = 12 is beyond its range on the +-J glass (10), and no field is allowed
    assert planar.applicable(ferro, betas, sites=False) is None
    assert planar.applicable(glass, betas, sites=False) is not None
    assert planar.applicable(field, betas, sites=False) is not None
    first = [choice.decide(m, betas, sites=False)[0].PATH_NAME for m in (ferro, glass, field, ferro)]
    assert first == ["planar", "elimination", "elimination", "planar"]
    again = [choice.decide(m, betas, sites=False)[0].PATH_NAME for m in (glass, ferro, field)]
    assert again == ["elimination", "planar", "elimination"]
    # the structure was built once per pattern all along
    assert cache.builds[elimination.PATH_NAME] == 1
    assert cache.builds[(planar.PATH_NAME, "embedding")] == 1


def test_trw_constructions_build_each_plan_once(cache):
    from isingvar import trw_components as tc

    rng = np.random.default_rng(4)
    m = _lattice(10, rng, fields=0.1 * rng.normal(size=100))
    cons = tc.constructions(m, 3)
    assert cons
    built = cache.builds[elimination.PATH_NAME]
    plans = {pattern_key(ch["pattern"]) for c in cons for ch in c.chunks}
    assert built >= len(plans)
    for c in cons:
        tc.evaluate_uniform(m, c, np.array([0.5, 1.0]), 1e-12)
        tc.optimise(m, c, 1.0, np.zeros((c.K, m.n)), 3, 1e-9, 1e-12)
        assert c.plan_bytes > 0
    assert cache.builds[elimination.PATH_NAME] == built  # the evaluations built no plan again


# ---------------------------------------------------------------------------- the searches
def _reference_cuthill_mckee(n, edge_i, edge_j):
    """The order elimination took before isingvar.kernels.graph: fronts of sets, neighbours by degree."""
    adj = [set() for _ in range(n)]
    for i, j in zip(edge_i.tolist(), edge_j.tolist()):
        adj[i].add(j)
        adj[j].add(i)
    adj = [sorted(s) for s in adj]
    deg = [len(s) for s in adj]
    seen, order = [False] * n, []

    def sweep(start):
        out, front, mark = [start], [start], {start}
        while front:
            nxt = []
            for v in front:
                for u in sorted(adj[v], key=deg.__getitem__):
                    if u not in mark:
                        mark.add(u)
                        nxt.append(u)
            out += nxt
            front = nxt
        return out

    for s0 in range(n):
        if not seen[s0]:
            comp = sweep(sweep(s0)[-1])
            for v in comp:
                seen[v] = True
            order += comp
    return order


def _reference_layers(model):
    """trw_components' far-vertex layers before isingvar.kernels.graph (a dict per search)."""
    indptr, indices, _ = model.csr_pattern
    layer = np.full(model.n, -1, dtype=np.int64)

    def bfs(s):
        dist, front = {s: 0}, [s]
        while front:
            nxt = []
            for v in front:
                for u in indices[indptr[v]:indptr[v + 1]].tolist():
                    if u not in dist:
                        dist[u] = dist[v] + 1
                        nxt.append(u)
            front = nxt
        return dist

    for s in range(model.n):
        if layer[s] < 0:
            d = bfs(s)
            for v, k in bfs(max(d, key=d.get)).items():
                layer[v] = k
    return layer


def _reference_sides(model):
    """Two-colouring by depth-first search from each component's lowest spin, or None if not bipartite."""
    indptr, indices, _ = model.csr_pattern
    col = np.full(model.n, -1)
    for s in range(model.n):
        if col[s] >= 0:
            continue
        col[s] = 0
        stack = [s]
        while stack:
            v = stack.pop()
            for u in indices[indptr[v]:indptr[v + 1]].tolist():
                if col[u] < 0:
                    col[u] = 1 - col[v]
                    stack.append(u)
                elif col[u] == col[v]:
                    return None
    return col


def _reference_components(n, edge_i, edge_j):
    """Component of each vertex as its lowest vertex (label propagation with pointer jumping)."""
    lab = np.arange(n)
    while True:
        m = np.minimum(lab[edge_i], lab[edge_j])
        new = lab.copy()
        np.minimum.at(new, edge_i, m)
        np.minimum.at(new, edge_j, m)
        new = new[new]
        if np.array_equal(new, lab):
            return lab
        lab = new


def _graphs():
    rng = np.random.default_rng(6)
    out = [_chain(1), _chain(2), _chain(7), _lattice(6, rng), _lattice(1, rng), IsingModel(5, [], [], [])]
    for n, p in ((12, 0.1), (30, 0.08), (40, 0.2), (25, 0.5), (60, 0.03)):
        out.append(_random_graph(n, p, rng))
    out.append(make_instance("square", resolve_params("square", {"L": 7, "boundary": "periodic"}), 1, 0))
    out.append(make_instance("rrg", resolve_params("rrg", {"n": 40, "degree": 3}), 1, 0))
    out.append(make_instance("cubic", resolve_params("cubic", {"L": 3, "boundary": "open"}), 1, 0))
    return out


@pytest.mark.parametrize("model", _graphs(), ids=repr)
def test_searches_equal_the_plain_python_ones(model):
    from isingvar import trw_components as tc

    assert elimination._bfs_order(model.n, model.edge_i, model.edge_j) == \
        _reference_cuthill_mckee(model.n, model.edge_i, model.edge_j)
    np.testing.assert_array_equal(tc._far_vertex_layers(model), _reference_layers(model))
    sides = _reference_sides(model)
    deg = np.diff(model.csr_pattern[0])
    covers = tc._covers(model)
    if sides is None:
        assert len(covers) == 1  # the greedy cover
    else:
        expect = [np.flatnonzero((sides == c) & (deg > 0)) for c in (0, 1)]
        assert len(covers) == 2
        for got, want in zip(covers, expect):
            np.testing.assert_array_equal(got, want)
    # pieces: by component in order of the lowest spin, each in the order given
    e = np.arange(model.n_edges)[::2]
    root = _reference_components(model.n, model.edge_i[e], model.edge_j[e])[model.edge_i[e]]
    want = [e[root == r] for r in np.unique(root)]
    got = tc._pieces(model, e) if e.size else []
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("model", _graphs(), ids=repr)
def test_cutset_tree_labels_group_as_the_forest_does(model):
    indptr, indices, _ = model.csr_pattern
    rng = np.random.default_rng(model.n)
    in_forest = rng.random(model.n) < 0.6
    label = cutset._component_labels(indptr, indices, in_forest)
    keep = in_forest[model.edge_i] & in_forest[model.edge_j]
    ref = _reference_components(model.n, model.edge_i[keep], model.edge_j[keep])
    assert np.all(label[~in_forest] == -1)
    f = np.flatnonzero(in_forest)
    # the same partition of the forest's vertices
    np.testing.assert_array_equal(label[f][:, None] == label[f][None, :], ref[f][:, None] == ref[f][None, :])


def _reference_bfs_tree(n, tail, root):
    """Breadth-first tree of a planar map's darts (a deque; darts of each vertex in increasing order)."""
    darts = [[] for _ in range(n)]
    for d in range(tail.size):
        darts[tail[d]].append(d)
    parent_edge = np.full(n, -1, dtype=np.int64)
    order, seen, queue = [root], {root}, deque([root])
    while queue:
        v = queue.popleft()
        for d in darts[v]:
            w = int(tail[d ^ 1])
            if w not in seen:
                seen.add(w)
                parent_edge[w] = d >> 1
                order.append(w)
                queue.append(w)
    return parent_edge, order


@pytest.mark.parametrize("seed", range(4))
def test_planar_map_tree_equals_a_plain_breadth_first_search(seed):
    from isingvar.kernels.planar import _bfs_tree

    rng = np.random.default_rng(seed)
    model = _lattice(5, rng) if seed % 2 else _random_graph(15, 0.25, rng)
    tail = np.empty(2 * model.n_edges, dtype=np.int64)
    tail[0::2], tail[1::2] = model.edge_i, model.edge_j
    root = int(rng.integers(model.n))
    parent_edge, order, size = _bfs_tree(model.n, tail, root)
    ref_parent, ref_order = _reference_bfs_tree(model.n, tail, root)
    assert order[:size].tolist() == ref_order
    np.testing.assert_array_equal(parent_edge, ref_parent)


def test_planar_components_are_joined_at_their_lowest_spins():
    # two triangles and an isolated spin: joined by J = 0 bonds from spin 0 to each other component's lowest
    model = IsingModel(7, [0, 1, 0, 4, 5, 4], [1, 2, 2, 5, 6, 6], np.ones(6))
    _, extra = planar._graph(model)
    assert extra == [(0, 3), (0, 4)]
