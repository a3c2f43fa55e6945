"""Structure kernels of the planar Pfaffian path: faces, fan triangulation, Kasteleyn orientation.

A planar map is given by its darts (half-edges): edge k has darts 2k (tail -> head) and 2k + 1
(the reverse), ``tail[d]`` is the vertex dart d leaves, and ``face_next[d]`` the dart that follows d
along the face on d's left (a permutation whose cycles are the faces).
"""

import numpy as np

from ._jit import njit
from .graph import breadth_first


@njit
def darts_by_tail(n, tail):
    """The darts grouped by tail vertex (CSR).

    Parameters
    ----------
    n : int
        Number of vertices.
    tail : ndarray of int64, shape (D,)
        Tail vertex of each dart.

    Returns
    -------
    start : ndarray of int64, shape (n + 1,)
        Row starts.
    darts : ndarray of int64, shape (D,)
        The darts of vertex v are ``darts[start[v]:start[v + 1]]``, in increasing order.
    """
    D = tail.size
    start = np.zeros(n + 1, dtype=np.int64)
    for d in range(D):
        start[tail[d] + 1] += 1
    for v in range(n):
        start[v + 1] += start[v]
    fill = start[:-1].copy()
    out = np.empty(D, dtype=np.int64)
    for d in range(D):
        out[fill[tail[d]]] = d
        fill[tail[d]] += 1
    return start, out


@njit
def fan_triangulation(face_next, tail):
    """Cut every face of a planar map into triangles by chords fanned from one corner.

    A face with darts d_0 .. d_{k-1} (k >= 3; v_m = tail[d_m]) gets the chords (v_0, v_r),
    r = 2 .. k-2, and the triangles (d_0, d_1, v_2->v_0), (v_0->v_r, d_r, v_{r+1}->v_0), ...,
    (v_0->v_{k-2}, d_{k-2}, d_{k-1}), each listed in the face's own cyclic order.  Chord c gets
    darts D + 2c (v_{r} -> v_0) and D + 2c + 1 (v_0 -> v_r), D = len(tail).

    Parameters
    ----------
    face_next : int64 (D,)   the face permutation.
    tail : int64 (D,)        tail vertex of each dart.

    Returns
    -------
    tri : int64 (F, 3)       darts of each triangle, in cyclic (face) order.
    chord_tail : int64 (2C,) tail vertex of each chord dart (dart id D + index).
    Returns ``tri`` with F = 0 if some face has fewer than 3 darts (a one-edge component).
    """
    D = face_next.size
    seen = np.zeros(D, dtype=np.bool_)
    # F = sum (k - 2) = D - 2 (faces); chords = sum (k - 3) = D - 3 (faces)
    n_faces = 0
    for s in range(D):
        if not seen[s]:
            n_faces += 1
            d = s
            while not seen[d]:
                seen[d] = True
                d = face_next[d]
    tri = np.empty((D - 2 * n_faces, 3), dtype=np.int64)
    chord_tail = np.empty(2 * (D - 3 * n_faces) if D >= 3 * n_faces else 0, dtype=np.int64)
    seen[:] = False
    walk = np.empty(D, dtype=np.int64)
    t = 0
    c = 0
    for s in range(D):
        if seen[s]:
            continue
        k = 0
        d = s
        while not seen[d]:
            seen[d] = True
            walk[k] = d
            k += 1
            d = face_next[d]
        if k < 3:
            return np.empty((0, 3), dtype=np.int64), chord_tail[:0]
        if k == 3:
            tri[t, 0], tri[t, 1], tri[t, 2] = walk[0], walk[1], walk[2]
            t += 1
            continue
        v0 = tail[walk[0]]
        prev = -1  # dart v_0 -> v_r of the previous chord
        for r in range(1, k - 1):
            if r == 1:
                a, b = walk[0], walk[1]
            else:
                a, b = prev, walk[r]
            if r == k - 2:
                last = walk[k - 1]
            else:
                last = D + 2 * c  # v_{r+1} -> v_0
                chord_tail[2 * c] = tail[walk[r + 1]]
                chord_tail[2 * c + 1] = v0
                prev = D + 2 * c + 1
                c += 1
            tri[t, 0], tri[t, 1], tri[t, 2] = a, b, last
            t += 1
    return tri, chord_tail


@njit
def _bfs_tree(n, tail, root):
    """Breadth-first spanning tree of the map from ``root`` (:func:`isingvar.kernels.graph.breadth_first` over
    the darts by tail): (parent_edge int64 (n,), the edge k to each vertex's parent, -1 at the root and
    unreached vertices; order int64 (n,), the vertices reached, in visiting order, parents first; size, how
    many were reached)."""
    start, out = darts_by_tail(n, tail)
    head = np.empty(out.size, dtype=np.int64)
    for p in range(out.size):
        head[p] = tail[out[p] ^ 1]
    order = np.empty(n, dtype=np.int64)
    depth = np.empty(n, dtype=np.int64)
    pslot = np.full(n, -1, dtype=np.int64)
    size = breadth_first(start, head, root, np.zeros(n, dtype=np.bool_), order, depth, pslot)
    parent_edge = np.full(n, -1, dtype=np.int64)
    for q in range(1, size):
        w = order[q]
        parent_edge[w] = out[pslot[w]] >> 1
    return parent_edge, order, size


@njit
def kasteleyn_orientation(n, tail, root):
    """Orientation of the dual edges that makes the decorated graph Kasteleyn-flat.

    The decorated graph has one node per dart of a triangulated planar map; each triangle's nodes
    are joined in the triangle's cyclic order (oriented along it), and the two darts of each edge
    by a dual edge.  Its faces are the small triangles (three edges along them: odd) and one face
    around each vertex v, on which the triangle edges run against the walk around v and the dual
    edge of dart pair (d, d^1) with tail(d) = v runs along it iff it points d^1 -> d.  Kasteleyn's
    condition (an odd number of edges along every face but one) then asks, for every vertex but
    ``root``, an odd number of its darts d with the dual edge pointing d^1 -> d.  Fixed along a
    breadth-first spanning tree from the leaves up (Kasteleyn, J. Math. Phys. 4, 287 (1963)).

    Parameters
    ----------
    n : int            vertices (all in one connected component).
    tail : int64 (D,)  tail vertex of each dart, D even (dart d and d ^ 1 form one edge).
    root : int         the vertex whose face is left unconstrained.

    Returns
    -------
    int8 (D // 2,)  1 where edge k's dual edge points 2k+1 -> 2k (along tail[2k]), 0 for 2k -> 2k+1.
    """
    E = tail.size // 2
    parent_edge, order, size = _bfs_tree(n, tail, root)
    orient = np.ones(E, dtype=np.int8)  # non-tree edges: along tail[2k]
    along = np.zeros(n, dtype=np.int64)  # darts of v whose dual edge points along v, fixed so far
    is_tree = np.zeros(E, dtype=np.bool_)
    for v in range(n):
        if parent_edge[v] >= 0:
            is_tree[parent_edge[v]] = True
    for k in range(E):
        if not is_tree[k]:
            along[tail[2 * k]] += 1  # orient[k] = 1: along tail(2k), against tail(2k+1)
    for q in range(size - 1, 0, -1):  # leaves first: every other edge of v is fixed by now
        v = order[q]
        k = parent_edge[v]
        mine = 2 * k if tail[2 * k] == v else 2 * k + 1
        if along[v] % 2 == 1:  # already odd: the parent edge must run against v
            orient[k] = 0 if mine == 2 * k else 1
            along[tail[mine ^ 1]] += 1
        else:
            orient[k] = 1 if mine == 2 * k else 0
            along[v] += 1
    return orient


@njit
def face_labels(face_next):
    """Label of the face (cycle of ``face_next``) of every dart, faces numbered 0, 1, ...

    Parameters
    ----------
    face_next : ndarray of int64, shape (D,)
        The next dart around the face of each dart (a permutation).

    Returns
    -------
    ndarray of int64, shape (D,)
        The face of each dart.
    """
    D = face_next.size
    label = np.full(D, -1, dtype=np.int64)
    f = 0
    for s in range(D):
        if label[s] < 0:
            d = s
            while label[d] < 0:
                label[d] = f
                d = face_next[d]
            f += 1
    return label


@njit
def spins_from_bonds(n, tail, sign, root):
    """Spins with s_tail(2k) s_tail(2k+1) = sign[k] along a breadth-first tree from ``root``.

    Consistent on every edge when ``sign`` is a cut pattern (its product around every cycle is +1);
    the caller checks that.

    Parameters
    ----------
    n : int
        Number of vertices (one connected component).
    tail : ndarray of int64, shape (2E,)
        Tail vertex of each dart; darts 2k and 2k + 1 are the two ends of edge k.
    sign : ndarray of float64, shape (E,)
        The wanted product s_i s_j of each edge, +-1.
    root : int
        The root of the tree.

    Returns
    -------
    ndarray of float64, shape (n,)
        Spins of +-1, s_root = +1.
    """
    parent_edge, order, size = _bfs_tree(n, tail, root)
    s = np.zeros(n)
    s[root] = 1.0
    for q in range(1, size):  # parents before children
        v = order[q]
        k = parent_edge[v]
        u = tail[2 * k] if tail[2 * k + 1] == v else tail[2 * k + 1]
        s[v] = s[u] * sign[k]
    return s
