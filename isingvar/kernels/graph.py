"""Breadth-first search on a graph in CSR form: the one implementation behind every traversal.

A graph is ``(indptr, indices)``: the neighbours of vertex v are ``indices[indptr[v]:indptr[v + 1]]``
(both directions of an undirected edge present), visited in the order stored, so a caller chooses the
order by the order of each row (ascending for the model's :attr:`isingvar.model.IsingModel.csr_pattern`;
fewer neighbours first for a Cuthill-McKee order).  A search visits the vertices of one front in the
order they were reached (first in, first out), so the orders, depths and trees here are those of the
textbook breadth-first search (Cormen et al., *Introduction to Algorithms*, sec. 22.2).

Connected components outside numba come from :func:`scipy.sparse.csgraph.connected_components`.
"""

import numpy as np

from ._jit import njit


@njit
def breadth_first(indptr, indices, root, seen, order, depth, pslot):
    """Breadth-first search from ``root`` through the vertices not yet ``seen``.

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (N + 1,) and (S,)
        The graph (module docstring).
    root : int
        The start; must not be seen.
    seen : ndarray of bool, shape (N,)
        Vertices not to enter; those reached are set True.
    order : ndarray of int64, shape (N,)
        Output: ``order[:size]`` the vertices reached, in the order reached (``root`` first).
    depth : ndarray of int64, shape (N,)
        Output: edges from ``root`` to each vertex reached (others untouched).
    pslot : ndarray of int64, shape (N,)
        Output: the slot p of the parent's row with ``indices[p]`` the vertex (the tree edge), -1 at
        ``root`` (others untouched).

    Returns
    -------
    int
        ``size``, the number of vertices reached.
    """
    seen[root] = True
    order[0] = root
    depth[root] = 0
    pslot[root] = -1
    head = 0
    size = 1
    while head < size:
        v = order[head]
        head += 1
        for p in range(indptr[v], indptr[v + 1]):
            w = indices[p]
            if not seen[w]:
                seen[w] = True
                depth[w] = depth[v] + 1
                pslot[w] = p
                order[size] = w
                size += 1
    return size


@njit
def bfs_forest(indptr, indices):
    """Breadth-first trees of every connected component, each rooted at its lowest vertex.

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (N + 1,) and (S,)
        The graph.

    Returns
    -------
    order : ndarray of int64, shape (N,)
        Every vertex, component by component (in order of their lowest vertex), each in the order
        reached from its root.
    depth : ndarray of int64, shape (N,)
        Edges from the component's root.
    pslot : ndarray of int64, shape (N,)
        The tree edge's slot in the parent's row, -1 at the roots.
    """
    n = indptr.size - 1
    seen = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    pslot = np.full(n, -1, dtype=np.int64)
    done = 0
    for r in range(n):
        if not seen[r]:
            done += breadth_first(indptr, indices, r, seen, order[done:], depth, pslot)
    return order, depth, pslot


@njit
def far_vertex_order(indptr, indices, last):
    """Breadth-first order of every connected component from a far (pseudo-peripheral) vertex.

    Component by component in order of their lowest vertex r: a search from r, then one from a
    vertex it reached last (the last one reached if ``last``, else the first of the deepest layer),
    whose order and depths are kept (the start of a Cuthill-McKee order; layers of bands).

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (N + 1,) and (S,)
        The graph.
    last : bool
        Which vertex of the first search's deepest layer starts the second.

    Returns
    -------
    order : ndarray of int64, shape (N,)
        Every vertex, component by component, in the order the second search reached it.
    depth : ndarray of int64, shape (N,)
        Edges from the far vertex of its component.
    """
    n = indptr.size - 1
    seen = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    pslot = np.empty(n, dtype=np.int64)
    done = 0
    for r in range(n):
        if seen[r]:
            continue
        part = order[done:]
        size = breadth_first(indptr, indices, r, seen, part, depth, pslot)
        far = part[size - 1]
        if not last:
            for q in range(size):  # depths grow along the order: the first at the last one's depth
                if depth[part[q]] == depth[far]:
                    far = part[q]
                    break
        for q in range(size):
            seen[part[q]] = False
        breadth_first(indptr, indices, far, seen, part, depth, pslot)
        done += size
    return order, depth
