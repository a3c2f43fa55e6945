"""Exact thermodynamics by cutset conditioning: enumerate a cutset C, sum the forest left exactly.

A set C of spins whose removal leaves the coupling graph a forest (a feedback vertex set) makes
the model exact in 2^|C| forest sums: for each configuration of C the remaining spins form
trees in effective fields, summed by sum-product in O(N) (:mod:`isingvar.kernels.cutset`).
A complete bipartite graph K_{a,b} costs 2^min(a, b) sums over isolated spins (the UAI-2014
DBN instances, K20,20 .. K22,22); a tree costs one sum.

C comes from the greedy 2-core rule (highest degree first, leaves pruned), redundant members
are then returned to the forest, and forest nodes are moved into C while that lowers the cost
model (a star's centre is worth conditioning on: its leaves become isolated spins, which the
kernel sums in a vectorised loop).  The choice depends on the coupling pattern only and is
cached per pattern (every disorder sample and every J, h of a sweep share it).

Every quantity of :class:`isingvar.exact.ExactResult` is exact except ``absm``: <|M|> needs the
distribution of M, which the forest sums do not carry (they carry its first two moments), so it
is NaN.  With all fields zero, E(s) = E(-s): one cutset spin is held at +1 (half the work), m = 0
and the per-site magnetisations are 0 exactly.  This module is one path of :mod:`isingvar.exact`
(:class:`isingvar.exact.ExactPath`: :func:`applicable`, :func:`work`, :func:`estimate_seconds`,
:func:`run`); its moments go to :meth:`isingvar.exact.ExactResult.from_moments`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import patterns
from ..interrupt import deferred_interrupt
from ..model import IsingModel
from ..parallel import kernel_threads, numba_threads
from .result import ExactResult

#: Name of the path in messages, ``--dry-run`` and the file's ``exact_path``.
PATH_NAME = "cutset"
#: ExactResult fields this path leaves NaN (it cannot give them exactly; docs/methods.md).
NOT_GIVEN = ("absm",)

#: Largest cutset enumerated (2^34 forest sums take hours even on a K34,34).
MAX_CUTSET = 34
#: Cutset configurations per chunk (2^CHUNK_BITS); each chunk starts from scratch.
CHUNK_BITS = 10
#: Cost model, ns per configuration and beta on one core (measured, docs/performance.md): a fixed
#: part (flip, accumulation), per isolated spin (vectorised over the spins) and per tree node (two
#: mixtures, vectorised over the betas: ~25 ns at 64 betas, ~350 at one).  It chooses C (only the
#: ratios matter there) and sizes the calls below.
COST_FIXED, COST_ISOLATED, COST_TREE = 60.0, 3.0, 80.0
#: Modelled work per kernel call (ns): between calls progress is reported and Ctrl-C is honoured.
WORK_PER_CALL = 2e8
#: Least modelled work (ns) worth a thread of its own.
MIN_THREAD_WORK = 1e6
#: Modelled work (ns) of the probe of :func:`estimate_seconds`.
PROBE_WORK = 5e6


@dataclass(frozen=True)
class Structure:
    """The cutset and forest of one coupling pattern (edge indices refer to the model's edges).

    cut : int64 (c,) the cutset's vertices, bit b of the Gray code = cut[b].
    cc_ptr, cc_nbr, cc_edge : CSR over bits of the couplings inside C (neighbour bit, edge index).
    cf_ptr, cf_nbr, cf_edge : CSR over bits of the couplings from C to the forest (forest index, edge).
    fvert : int64 (nf,) the forest's vertices (isolated first, then tree nodes, children before parents).
    n_iso : isolated forest spins.  parent : int64 (nf,) forest index of the parent or -1.
    pedge : int64 (nf,) edge index to the parent or -1.
    too_large : the greedy cutset passed :data:`MAX_CUTSET` (the other fields are then empty).
    """

    cut: np.ndarray
    cc_ptr: np.ndarray
    cc_nbr: np.ndarray
    cc_edge: np.ndarray
    cf_ptr: np.ndarray
    cf_nbr: np.ndarray
    cf_edge: np.ndarray
    fvert: np.ndarray
    n_iso: int
    parent: np.ndarray
    pedge: np.ndarray
    too_large: bool = False

    @property
    def n_tree(self) -> int:
        """Forest spins with a tree neighbour (the forest's spins less the isolated ones).

        Returns
        -------
        int
            Their number.
        """
        return self.fvert.size - self.n_iso


def structure(model: IsingModel) -> Structure:
    """The :class:`Structure` of ``model``'s coupling pattern, kept in the pattern cache (:mod:`isingvar.patterns`).

    Parameters
    ----------
    model : IsingModel
        The instance.

    Returns
    -------
    Structure
        The cutset and forest layout (``too_large`` where the greedy cutset passes :data:`MAX_CUTSET`).
    """
    return patterns.get(model, PATH_NAME, lambda: _build(model))


def _config_ns(n_iso: int, n_tree: int) -> float:
    """Modelled ns of one configuration at one beta."""
    return COST_FIXED + COST_ISOLATED * n_iso + COST_TREE * n_tree


def _cost(c: int, n_iso: int, n_tree: int) -> float:
    """Modelled ns of all 2^c configurations at one beta."""
    return 2.0**c * _config_ns(n_iso, n_tree)


def _build(model: IsingModel) -> Structure:
    from ..kernels.cutset import forest_layout, greedy_fvs

    n = model.n
    indptr, indices, src = model.csr_pattern
    cut = list(greedy_fvs(indptr, indices, MAX_CUTSET))
    if len(cut) > MAX_CUTSET:
        e = np.empty(0, dtype=np.int64)
        return Structure(np.asarray(cut, dtype=np.int64), e, e, e, e, e, e, e, 0, e, e, too_large=True)
    in_forest = np.ones(n, dtype=bool)
    in_forest[cut] = False
    rows = np.repeat(np.arange(n), np.diff(indptr))

    # a member of C whose forest neighbours all lie in different trees can go back: still a forest
    label = _component_labels(indptr, indices, in_forest)
    for v in reversed(cut.copy()):
        nbr = indices[indptr[v]:indptr[v + 1]]
        labs = label[nbr[in_forest[nbr]]]
        if np.unique(labs).size == labs.size:
            cut.remove(v)
            in_forest[v] = True
            label[np.isin(label, labs) | (np.arange(n) == v)] = v + n  # one tree now
    # move forest nodes into C while the cost model drops (a star's centre: its leaves become isolated)
    both = in_forest[rows] & in_forest[indices]
    while len(cut) < MAX_CUTSET:
        fdeg = np.bincount(rows[both], minlength=n)
        n_iso = int(np.count_nonzero(in_forest & (fdeg == 0)))
        n_tree = int(np.count_nonzero(in_forest & (fdeg > 0)))
        leaf_nbrs = np.bincount(rows[both & (fdeg[indices] == 1)], minlength=n)  # neighbours left isolated
        cand = np.flatnonzero(in_forest & (fdeg > 0))
        if cand.size == 0:
            break
        gain = leaf_nbrs[cand]
        v = int(cand[np.argmax(gain)])
        k = int(leaf_nbrs[v])
        if _cost(len(cut) + 1, n_iso + k, n_tree - 1 - k) >= _cost(len(cut), n_iso, n_tree):
            break
        cut.append(v)
        in_forest[v] = False
        both = in_forest[rows] & in_forest[indices]

    cut = np.asarray(cut, dtype=np.int64)
    fvert, n_iso, parent, pslot = forest_layout(indptr, indices, in_forest)
    pedge = np.full(fvert.size, -1, dtype=np.int64)
    pedge[pslot >= 0] = src[pslot[pslot >= 0]]
    return Structure(cut, *conditioning_csr(model, cut, fvert), fvert, int(n_iso), parent, pedge)


def conditioning_csr(model: IsingModel, cut, rest) -> tuple:
    """The couplings of the spins ``cut`` among themselves and to the spins ``rest``, as the CSR over
    bits that :func:`isingvar.kernels.cutset.cut_state` reads to condition ``model`` on a configuration
    of ``cut`` (the rest's fields h_i + sum_{c in cut} J_ic sigma_c and the energy of the cut's own part).

    Shared by this path and by clamping (:mod:`isingvar.clamp`).

    Parameters
    ----------
    model : IsingModel
        The instance.
    cut : ndarray of int64, shape (c,)
        The conditioned spins; bit b is ``cut[b]``.
    rest : ndarray of int64, shape (nf,)
        The other spins; local index r is ``rest[r]`` (every spin in exactly one of the two).

    Returns
    -------
    cc_ptr, cc_nbr, cc_edge : ndarray of int64, shapes (c+1,), (.,), (.,)
        Couplings inside ``cut``, both directions: the neighbour's bit and the edge index.
    cf_ptr, cf_nbr, cf_edge : ndarray of int64, shapes (c+1,), (.,), (.,)
        Couplings from each bit to ``rest``: the neighbour's local index and the edge index.
    """
    indptr, indices, src = model.csr_pattern
    bit = np.full(model.n, -1, dtype=np.int64)
    bit[cut] = np.arange(len(cut))
    local = np.full(model.n, -1, dtype=np.int64)
    local[rest] = np.arange(len(rest))
    cc_nbr, cc_edge, cf_nbr, cf_edge = [], [], [], []
    cc_ptr, cf_ptr = [0], [0]
    for v in cut:
        nbr = indices[indptr[v]:indptr[v + 1]]
        slots = np.arange(indptr[v], indptr[v + 1])
        inside = bit[nbr] >= 0
        cc_nbr.append(bit[nbr[inside]])
        cc_edge.append(src[slots[inside]])
        cf_nbr.append(local[nbr[~inside]])
        cf_edge.append(src[slots[~inside]])
        cc_ptr.append(cc_ptr[-1] + int(inside.sum()))
        cf_ptr.append(cf_ptr[-1] + int((~inside).sum()))
    cat = lambda parts: np.ascontiguousarray(np.concatenate(parts) if parts else np.empty(0), dtype=np.int64)
    return (np.asarray(cc_ptr, dtype=np.int64), cat(cc_nbr), cat(cc_edge),
            np.asarray(cf_ptr, dtype=np.int64), cat(cf_nbr), cat(cf_edge))


def _component_labels(indptr, indices, in_forest):
    """Label of each forest vertex's tree (0, 1, ... in order of the trees' lowest vertex), -1 off the forest."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = indptr.size - 1
    rows = np.repeat(np.arange(n), np.diff(indptr))
    keep = in_forest[rows] & in_forest[indices]
    graph = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.int8), (rows[keep], indices[keep])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    return np.where(in_forest, label, -1).astype(np.int64)


# ---------------------------------------------------------------------------- the protocol
def applicable(model: IsingModel, betas, *, sites: bool) -> str | None:
    """None if cutset conditioning computes ``model`` exactly; else a short reason.

    Cheap after the first call per coupling pattern (:func:`structure` is cached).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (unused).
    sites : bool
        Per-site magnetisations wanted (unused).

    Returns
    -------
    str or None
        The reason, or None.
    """
    st = structure(model)
    if st.too_large:
        return (f"the greedy cutset has more than {MAX_CUTSET} spins (2^{MAX_CUTSET} forest sums); "
                "the graph is too far from a forest")
    return None


@dataclass(frozen=True)
class _Plan:
    st: Structure
    hold: bool
    n_enum: int
    chunk_bits: int
    n_chunks: int
    args: tuple  # the kernel's arrays after betas are known: see cutset_chunks


def _plan(model: IsingModel) -> _Plan:
    st = structure(model)
    if st.too_large:
        from ..errors import TooLargeError

        raise TooLargeError(f"cutset conditioning needs a cutset of at most {MAX_CUTSET} spins; "
                            "use another exact path or --method mf and --method trw")
    J, h = model.couplings, model.fields
    hold = st.cut.size > 0 and not np.any(h)
    n_enum = st.cut.size - (1 if hold else 0)
    chunk_bits = min(n_enum, CHUNK_BITS)
    take = lambda idx: np.ascontiguousarray(J[idx]) if idx.size else np.empty(0)
    Jp = np.where(st.pedge >= 0, J[np.maximum(st.pedge, 0)] if J.size else 0.0, 0.0)
    args = (n_enum, st.cc_ptr, st.cc_nbr, take(st.cc_edge), np.ascontiguousarray(h[st.cut]),
            st.cf_ptr, st.cf_nbr, take(st.cf_edge), np.ascontiguousarray(h[st.fvert]), st.n_iso,
            st.parent, np.ascontiguousarray(Jp, dtype=np.float64))
    return _Plan(st, hold, n_enum, chunk_bits, 1 << (n_enum - chunk_bits), args)


def _unit(plan: _Plan, nb: int) -> float:
    """Modelled ns of one chunk at ``nb`` betas."""
    return _config_ns(plan.st.n_iso, plan.st.n_tree) * max(nb, 1) * (1 << plan.chunk_bits)


def _workers(plan: _Plan, nb: int) -> int:
    import numba

    return kernel_threads(_unit(plan, nb) * plan.n_chunks, plan.n_chunks, MIN_THREAD_WORK, numba.get_num_threads())


def _call(plan: _Plan, lo: int, hi: int, workers: int, betas, sites: bool, chunk_bits=None):
    from ..kernels.cutset import cutset_chunks

    bits = plan.chunk_bits if chunk_bits is None else chunk_bits
    n_enum, *rest = plan.args
    return cutset_chunks(lo, hi, workers, bits, n_enum, *rest, betas, sites)


def _compile(plan: _Plan, betas, sites: bool) -> None:
    """Compile the kernel outside :func:`deferred_interrupt` (an empty range: no work)."""
    from ..kernels.cutset import cutset_chunks

    if not cutset_chunks.signatures:
        _call(plan, 0, 0, 1, betas, sites)


def work(model: IsingModel, betas, *, sites: bool = False) -> float:
    """Modelled seconds of :func:`run` on one core (the :class:`isingvar.exact.ExactPath` protocol): the
    2^|C| cutset configurations (half with every field zero) x betas x the cost model
    (:data:`COST_FIXED`, :data:`COST_ISOLATED`, :data:`COST_TREE` ns); inf where :func:`applicable`
    refuses.  Deterministic: the structure of the coupling pattern and whether the fields are zero.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (their count matters).
    sites : bool, default False
        Per-site magnetisations wanted (unused by the model).

    Returns
    -------
    float
        Modelled seconds.
    """
    if applicable(model, betas, sites=sites) is not None:
        return float("inf")
    st = structure(model)
    n_enum = st.cut.size - (1 if st.cut.size > 0 and not np.any(model.fields) else 0)
    nb = max(1, len(np.atleast_1d(betas)))
    return 2.0 ** n_enum * nb * _config_ns(st.n_iso, st.n_tree) * 1e-9


def estimate_seconds(model: IsingModel, betas, *, sites: bool) -> float:
    """Seconds :func:`run` would take, from a short timed run of the kernel on this model.

    Times one (possibly shortened) chunk on one thread after a warm-up call (on a forest too large
    for that, one configuration at a few betas) and extrapolates to all 2^|C| configurations and
    betas on the threads :func:`run` would use (perfect scaling assumed).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures.
    sites : bool
        Include the per-site sums.

    Returns
    -------
    float
        Estimated wall seconds; inf if not :func:`applicable`.
    """
    if applicable(model, betas, sites=sites) is not None:
        return float("inf")
    b = np.ascontiguousarray(np.sort(np.asarray(betas, dtype=np.float64)))
    plan = _plan(model)
    workers = _workers(plan, b.size)
    # one probe chunk of ~PROBE_WORK units (milliseconds) on one thread: a parallel region's wake-up
    # on a busy machine can cost a scheduler time slice, more than the probe (estimates 100x off).
    # A forest too large for that is probed on one configuration and fewer betas (the cost per beta
    # is the same at every beta).  The fastest of three calls, shared among run()'s threads.
    per_beta = _config_ns(plan.st.n_iso, plan.st.n_tree)  # one configuration at one beta
    nbp = int(min(b.size, max(1, PROBE_WORK // per_beta)))
    bp = np.ascontiguousarray(b[:nbp])
    bits = int(min(plan.chunk_bits, max(0, np.floor(np.log2(max(1.0, PROBE_WORK / (per_beta * nbp)))))))
    _compile(plan, bp, sites)
    secs = np.inf
    with deferred_interrupt() as check, numba_threads(1):
        _call(plan, 0, 1, 1, bp, sites, bits)  # warm-up
        check()
        for _ in range(3):
            t = time.perf_counter()
            _call(plan, 0, 1, 1, bp, sites, bits)
            secs = min(secs, time.perf_counter() - t)
            check()
    return secs * (b.size / nbp) * (1 << (plan.n_enum - bits)) / workers


def run(model: IsingModel, betas, *, sites: bool = False,
        progress: Callable[[int, int], None] | None = None) -> ExactResult:
    """Exact thermodynamics of ``model`` over ``betas`` by cutset conditioning.

    Parameters
    ----------
    model : IsingModel
        Any model :func:`applicable` accepts.
    betas : array_like of float, shape (nb,)
        Finite, >= 0, any order.
    sites : bool
        Also the per-site magnetisations <s_i> (``ExactResult.sites``, (nb, N)).
    progress : callable(done, total), optional
        Called between kernel calls with cutset configurations done and in all; Ctrl-C is
        honoured there (KeyboardInterrupt propagates, nothing is returned).

    Returns
    -------
    ExactResult
        path = "cutset"; ``absm`` is NaN (module docstring).

    Raises
    ------
    TooLargeError
        If the cutset is larger than :data:`MAX_CUTSET`.
    ValueError
        If ``betas`` is empty or a beta is negative or not finite.
    """
    from ..kernels.cutset import cut_state, forest_min, merge_parts

    b = np.ascontiguousarray(betas, dtype=np.float64)
    if b.ndim != 1 or b.size == 0 or not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError("betas must be a non-empty 1-D array of finite values >= 0")
    n = model.n
    order = np.argsort(b, kind="stable")
    bs = np.ascontiguousarray(b[order])
    plan = _plan(model)
    st = plan.st
    workers = _workers(plan, bs.size)
    per_call = max(workers, int(WORK_PER_CALL // _unit(plan, bs.size)))
    total = 1 << plan.n_enum
    size = 1 << plan.chunk_bits
    acc = np.zeros((6, bs.size))
    acc[0] = -np.inf
    site = np.zeros((n, bs.size if sites else 0))
    best = (np.inf, 0)
    _compile(plan, bs, sites)
    with deferred_interrupt() as check, numba_threads(workers):
        for lo in range(0, plan.n_chunks, per_call):
            hi = min(lo + per_call, plan.n_chunks)
            a_w, s_w, e_w, t_w = _call(plan, lo, hi, workers, bs, sites)
            check()
            for w in range(a_w.shape[0]):
                merge_parts(acc, site, a_w[w], s_w[w], bs)
                if e_w[w] < best[0]:
                    best = (float(e_w[w]), int(t_w[w]))
            if progress:
                progress(hi * size, total)

    # the ground state: the best cutset configuration and the forest's min-sum given it
    c, nf = st.cut.size, st.fvert.size
    n_enum, cc_ptr, cc_nbr, cc_J, hC, cf_ptr, cf_nbr, cf_J, hF, n_iso, parent, Jp = plan.args
    sigma, gC, H, fspins = np.empty(c), np.empty(c), np.empty(nf), np.empty(nf)
    cut_state(best[1], n_enum, sigma, gC, H, hC, hF, cc_ptr, cc_nbr, cc_J, cf_ptr, cf_nbr, cf_J)
    forest_min(H, n_iso, parent, Jp, np.empty((nf, 2)), fspins)
    ground = np.empty(n)
    ground[st.cut] = sigma
    ground[st.fvert] = fspins

    L, U, varE, mM, varM, S = acc
    symmetric = not np.any(model.fields)
    if plan.hold:  # the mirrored half: twice the weight, one more bit of entropy
        L = L + np.log(2.0)
        S = S + np.log(2.0)
    if symmetric:  # <M> = 0 exactly; the half's second moment about 0 is the whole's variance
        varM = varM + mM * mM
    sites_out = None
    if sites:
        sites_out = np.zeros((bs.size, n))
        if not symmetric:
            sites_out[:, np.concatenate([st.cut, st.fvert])] = site.T
    unsort = np.empty_like(order)
    unsort[order] = np.arange(order.size)
    L, U, varE, mM, varM, S = (x[unsort] for x in (L, U, varE, mM, varM, S))
    # mixtures carry centred moments and the entropy by the chain rule: every term >= 0 (module docstring)
    return ExactResult.from_moments(
        b, n, path="cutset", e0=best[0], ground_state=ground, lnZ=L, entropy=S, mean_e=U, var_e=varE,
        mean_m=mM, var_m=varM, symmetric=symmetric, sites=None if sites_out is None else sites_out[unsort])
