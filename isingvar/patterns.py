"""One cache of structure by coupling pattern, shared by every exact path and method.

Structure is whatever depends on a model's coupling *pattern* alone (N and the coupled pairs
``edge_i``, ``edge_j``), never on the coupling or field values: an elimination plan, a cutset and its
forest, a planar embedding and its Pfaffian pattern, a colouring.  Every disorder sample and every
(J, h) of a sweep shares it, so it is built once per pattern and kept here, under one key
(:func:`pattern_key`) and a ``kind`` per sort of structure::

    plan = patterns.get(model, "elimination", lambda: build(model))

:data:`CACHE` is one least-recently-used store bounded by :data:`MAX_ENTRIES` entries and
:data:`MAX_BYTES` bytes of numpy arrays (the newest entry is kept even when alone it is larger).  It
is safe to share between threads: a lookup takes a lock, and two threads that miss one entry at once
build it once (the second waits for the first).

Which exact path runs on an instance is never cached here, only the structure that decision reads: the
choice depends on the values too (:mod:`isingvar.exact.choice`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

#: Most entries kept.  A TRW run of width > 1 evaluates the union models of every construction (up to
#: 4000 spins each) at every beta and share iteration, so all of them should stay: square L = 100 at
#: width 20 has about 50 (a band construction K N / 4000, a cover construction about as many), plus the
#: patterns tried while finding them; elimination's old cache of 4 rebuilt plans on every evaluation there.
MAX_ENTRIES = 256
#: Most bytes of arrays kept (measured by :func:`nbytes` when an entry is stored).  Measured: an elimination
#: plan 2.9 MB for an open L = 20 lattice (width 20), 0.9 MB for the largest union model of square L = 24
#: at TRW width 8; a planar structure ~0.9 kB per spin (240 MB at L = 512), its embedding 80 bytes per spin.
MAX_BYTES = 1 << 30

#: Bytes counted for an entry besides its arrays (the Python objects around them).
_OVERHEAD = 1024


def pattern_key(model) -> tuple:
    """The key of ``model``'s coupling pattern: (N, E, SHA-1 of N, edge_i and edge_j's bytes).

    Equal for every model with the same spins and coupled pairs whatever its values (the edges are
    stored sorted, :class:`isingvar.model.IsingModel`), different otherwise (up to a SHA-1 collision
    between patterns of one N and E).  Computed once per model object (O(E)) and kept on it.

    Parameters
    ----------
    model : IsingModel
        The model.

    Returns
    -------
    tuple
        (int N, int E, bytes digest), hashable.
    """
    key = model.__dict__.get("_pattern_key")
    if key is None:
        digest = hashlib.sha1(np.int64(model.n).tobytes(), usedforsecurity=False)
        digest.update(np.ascontiguousarray(model.edge_i, dtype=np.int64))
        digest.update(np.ascontiguousarray(model.edge_j, dtype=np.int64))
        key = model.__dict__["_pattern_key"] = (int(model.n), int(model.edge_i.size), digest.digest())
    return key


def nbytes(value: Any) -> int:
    """Bytes of the numpy arrays in ``value`` (through tuples, lists, dicts, dataclasses and objects'
    attributes; each array once) plus a small constant per object: what an entry keeps alive.

    Parameters
    ----------
    value : object
        An entry.

    Returns
    -------
    int
        Bytes.
    """
    seen: set[int] = set()

    def size(x) -> int:
        """Bytes of ``x`` not yet counted.

        Parameters
        ----------
        x : object
            A value or a part of one.

        Returns
        -------
        int
            Bytes.
        """
        if id(x) in seen:
            return 0
        seen.add(id(x))
        if isinstance(x, np.ndarray):
            return int(x.nbytes) if x.base is None or id(x.base) not in seen else 0
        if isinstance(x, (tuple, list)):
            return _OVERHEAD + sum(size(v) for v in x)
        if isinstance(x, dict):
            return _OVERHEAD + sum(size(v) for v in x.values())
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return _OVERHEAD + sum(size(getattr(x, f.name)) for f in dataclasses.fields(x))
        if hasattr(x, "__dict__") and not isinstance(x, type):
            return _OVERHEAD + sum(size(v) for v in vars(x).values())
        return 64

    return size(value)


_MISSING = object()


class PatternCache:
    """A thread-safe least-recently-used store of structure, by (:func:`pattern_key`, kind).

    Parameters
    ----------
    max_entries : int
        Most entries kept (>= 1).
    max_bytes : int
        Most bytes kept (:func:`nbytes` of each entry when stored); the newest entry stays even when
        alone it is larger.

    Attributes
    ----------
    builds : collections.Counter
        Structures built, per kind (since the process started or :meth:`clear`).
    hits : collections.Counter
        Lookups answered from the store, per kind.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES):
        if max_entries < 1 or max_bytes < 0:
            raise ValueError(f"a pattern cache needs max_entries >= 1 and max_bytes >= 0, "
                             f"got {max_entries} and {max_bytes}")
        self.max_entries, self.max_bytes = int(max_entries), int(max_bytes)
        self._items: OrderedDict = OrderedDict()  # (key, kind) -> (value, bytes), least recent first
        self._bytes = 0
        self._lock = threading.Lock()
        self._building: dict = {}  # (key, kind) -> a lock its builder holds
        self.builds: Counter = Counter()
        self.hits: Counter = Counter()

    def get(self, model, kind: Hashable, build: Callable[[], Any]) -> Any:
        """The structure ``kind`` of ``model``'s coupling pattern, from the store or ``build()``.

        Parameters
        ----------
        model : IsingModel
            Any model of the pattern (its values are not read).
        kind : hashable
            Which structure ("elimination", ("planar", "embedding"), ...): one per sort of value.
        build : callable
            ``build()`` returns the structure (any object, None included); it must depend on the pattern
            only.  Called at most once at a time per entry; an exception leaves nothing stored.  It may ask
            for other kinds (the planar structure asks for the embedding), never for one that asks for it.

        Returns
        -------
        object
            The stored or built structure (the same object for every model of the pattern while kept).
        """
        return self.get_key(pattern_key(model), kind, build)

    def get_key(self, key: Hashable, kind: Hashable, build: Callable[[], Any]) -> Any:
        """:meth:`get` for a key already known (:func:`pattern_key` of a model).

        Parameters
        ----------
        key : hashable
            :func:`pattern_key` of the model.
        kind : hashable
            Which structure, as in :meth:`get`.
        build : callable
            ``build()`` returns the structure, as in :meth:`get`.

        Returns
        -------
        object
            The stored or built structure.
        """
        item = (key, kind)
        while True:
            with self._lock:
                hit = self._items.get(item, _MISSING)
                if hit is not _MISSING:
                    self._items.move_to_end(item)
                    self.hits[kind] += 1
                    return hit[0]
                waiting = self._building.get(item)
                if waiting is None:
                    mine = self._building[item] = threading.Lock()
                    mine.acquire()
                    break
            with waiting:  # another thread builds it: wait, then look again
                pass
        try:
            value = build()
            size = nbytes(value)
            with self._lock:
                self.builds[kind] += 1
                self._items[item] = (value, size)
                self._bytes += size
                self._evict()
        finally:
            with self._lock:
                del self._building[item]
            mine.release()
        return value

    def _evict(self) -> None:
        """Drop the least recent entries beyond the bounds (the newest stays); the lock is held."""
        while len(self._items) > 1 and (len(self._items) > self.max_entries or self._bytes > self.max_bytes):
            _, (_, size) = self._items.popitem(last=False)
            self._bytes -= size

    def room(self, entries: int, size: int) -> int:
        """How many of ``entries`` structures of ``size`` bytes each the store holds at once (for cost
        models: what a cyclic pass over more than that rebuilds).

        Parameters
        ----------
        entries : int
            Structures wanted.
        size : int
            Bytes of each (mean).

        Returns
        -------
        int
            Between min(entries, 1) and ``entries``.
        """
        fit = self.max_entries if size <= 0 else min(self.max_entries, self.max_bytes // int(size))
        return max(min(int(entries), int(fit)), min(int(entries), 1))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def stored_bytes(self) -> int:
        """Bytes of the entries kept (as measured when each was stored).

        Returns
        -------
        int
            Bytes.
        """
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        """Drop every entry and reset :attr:`builds` and :attr:`hits`."""
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.builds.clear()
            self.hits.clear()


#: The process's one pattern cache.
CACHE = PatternCache()


def get(model, kind: Hashable, build: Callable[[], Any]) -> Any:
    """``CACHE.get(model, kind, build)``: the structure ``kind`` of ``model``'s coupling pattern
    (:meth:`PatternCache.get`).

    Parameters
    ----------
    model : IsingModel
        Any model of the pattern.
    kind : hashable
        Which structure.
    build : callable
        Builds it from the pattern alone.

    Returns
    -------
    object
        The structure.
    """
    return CACHE.get(model, kind, build)
