"""Message passing on the couplings graph: the structure TRW and BP share, and loopy BP (Bethe).

The message kernels (:mod:`isingvar.kernels.bp`) read a model through :class:`Graph`: its symmetric
CSR pattern, the reverse slot of every slot and the per-slot couplings.  The tree-reweighted bound
(:mod:`isingvar.trw`) runs them with edge appearance probabilities rho_e of a tree list; ordinary loopy
belief propagation is the same update with every rho_e = 1 (Wainwright, Jaakkola & Willsky, IEEE
Trans. Inf. Theory 51, 2313 (2005), Sec. IV; Mezard & Montanari, *Information, Physics, and
Computation*, ch. 14), and :func:`loopy_bp` is the ``bethe`` method's algorithm: at the final messages,
converged or not, the Bethe ln Z = sum_i ln Z_i - sum_(ij) ln Z_ij (Mezard & Montanari eq. 14.27-14.28)
and the beliefs tanh(H_i).  On a tree at the fixed point both are exact; elsewhere an approximation of
ln Z, neither an upper nor a lower bound.

The kernels (numba) are imported inside the functions that call them: the method registry imports the
plug-ins, and they this module, when the CLI starts, and ``isingvar --help`` loads no numba.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .interrupt import deferred_interrupt
from .thermo import check_betas

#: Seconds per unit of work of the message-passing cost models (one CSR slot in one message sweep, or
#: one site of one tree sum), calibrated on the development machine (2-core Xeon) with
#: benchmarks/bounds.py speed: square L = 256 and sk n = 200, 64 betas, fall within a factor 2 of the
#: estimate (the ``trw`` and ``bethe`` plug-ins' ``cost``).
SECONDS_PER_SLOT_SWEEP = 3e-8

#: Most message sweeps a solve may be allowed (the ``max_iterations`` settings of ``trw`` and ``bethe``):
#: a sweep of a 10^6-spin lattice takes ~0.1 s, so this is days per beta; iteration counts are stored
#: as 32-bit integers.
MAX_SWEEPS = 10**6


class Graph:
    """The CSR structure of a model and the slot/edge maps the message kernels need.

    Parameters
    ----------
    model : IsingModel

    Attributes
    ----------
    n : int
        Spins.
    indptr, indices : int64 (N + 1,), (2E,)
        The symmetric CSR pattern (columns sorted in each row).
    slot_edge : int64 (2E,)
        The edge (index into ``model.couplings``) of every CSR slot.
    rev : int64 (2E,)
        The slot of the opposite direction of every slot.
    edge_i, edge_j, J, h : the model's edge list, couplings (E,) and fields (N,).
    J_slot : float64 (2E,)
        The coupling of every slot.
    edge_slot : int64 (E,)
        A slot of each edge, in row ``edge_i``.
    complete : bool
        Whether every pair of N >= 3 spins is coupled (TRW then starts from the N star trees).
    edge_keys : uint64 (E,)
        Fixed random keys whose sum over a tree's edges identifies the tree.
    """

    def __init__(self, model):
        from .kernels import bp
        indptr, indices, src = model.csr_pattern
        self.n = model.n
        self.indptr = indptr
        self.indices = indices
        self.slot_edge = np.ascontiguousarray(src, dtype=np.int64)
        self.rev = bp._reverse_slots(indptr, indices)
        self.edge_i = model.edge_i
        self.edge_j = model.edge_j
        self.J_slot = np.ascontiguousarray(model.couplings[src])
        self.J = model.couplings
        self.h = model.fields
        E = model.n_edges
        # a slot of each edge in row edge_i
        rows = np.repeat(np.arange(self.n), np.diff(indptr))
        self.edge_slot = np.empty(E, dtype=np.int64)
        first = rows < indices
        self.edge_slot[src[first]] = np.flatnonzero(first)
        self.complete = self.n >= 3 and E == self.n * (self.n - 1) // 2
        keys = np.random.default_rng(0x7257).integers(0, 2**63, E, dtype=np.int64).astype(np.uint64)
        self.edge_keys = keys


@dataclass
class BetheResult:
    """Loopy BP over a beta grid (:func:`loopy_bp`), every array in the grid's order.

    Attributes
    ----------
    lnZ : float64 (nb,)
        The Bethe ln Z at the kept messages (nats; an approximation, not a bound).
    m : float64 (nb,)
        The mean of the beliefs tanh(H_i).
    iterations : int32 (nb,)
        Message sweeps of the kept run.
    converged : int8 (nb,)
        1 where the kept run converged (max |delta u| < tol), else 0.
    sites : float64 (nb, N) or None
        The beliefs tanh(H_i) (only when asked for).
    """

    lnZ: np.ndarray
    m: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    sites: np.ndarray | None


def loopy_bp(model, betas, *, max_iterations: int, tol: float, damping: float, sites: bool = False,
             progress: Callable[[float], None] | None = None) -> BetheResult:
    """Damped loopy BP and the Bethe ln Z at every beta of a grid.

    Parameters
    ----------
    model : IsingModel
        Already scaled to the sweep's J and h.
    betas : array_like of float, shape (nb,)
        Finite, >= 0, any order.
    max_iterations : int
        Sequential message sweeps allowed per start and beta.
    tol : float
        Convergence threshold on max |delta u| over a sweep (nats).
    damping : float
        In [0, 1): u <- (1 - damping) u_new + damping u_old.
    sites : bool
        Also the per-site beliefs (``BetheResult.sites``).
    progress : callable(step) or None
        Called with 1.0 after each beta; Ctrl-C is honoured there.

    Returns
    -------
    BetheResult
        Betas run in ascending order; at each, BP runs from the last converged messages, from u = 0 and
        from polarised ones (u = K), and the converged run with the largest Bethe ln Z is kept (the least
        Bethe free energy: Yedidia, Freeman & Weiss, IEEE Trans. Inf. Theory 51, 2282 (2005)); when none
        converged, the one with the largest ln Z, with ``converged`` 0.
    """
    from .kernels import bp
    b = check_betas(betas)
    nb, n = b.size, model.n
    g = Graph(model)
    rho = np.ones(g.indices.size)
    u = np.zeros(g.indices.size)
    H = np.empty(n)
    res = BetheResult(np.full(nb, np.nan), np.full(nb, np.nan), np.full(nb, -1, dtype=np.int32),
                      np.full(nb, -1, dtype=np.int8), np.full((nb, n), np.nan) if sites else None)
    # compile with signals live
    bp.message_sweeps(g.indptr, g.indices, g.rev, rho, rho, np.zeros(n), np.zeros(g.indices.size), H, 0.0, 0, 1.0)
    bp.bethe_lnz(g.indptr, g.indices, g.rev, rho, np.zeros(n), np.zeros(g.indices.size), np.zeros(n))
    with deferred_interrupt() as check:
        for q in np.argsort(b, kind="stable"):
            beta = float(b[q])
            kappa = np.ascontiguousarray(beta * g.J_slot)
            theta_h = np.ascontiguousarray(beta * g.h)
            best = None
            # starts: the previous beta's messages, u = 0 (the paramagnetic fixed point of a zero-field
            # model), and polarised ones, u_{t->s} = K_ts (the message of a
            # fully magnetised sender; breaks the symmetry: u = 0 is a fixed point of every zero-field
            # model, and random messages form domains that converge slowly on large lattices); keep the
            # converged fixed point of least Bethe free energy, i.e. largest lnZ_bethe
            starts = (u, kappa) if not u.any() else (u, np.zeros_like(u), kappa)
            for start in starts:
                v = start.copy()
                sweeps, conv = bp.message_sweeps(g.indptr, g.indices, g.rev, kappa, rho, theta_h, v, H,
                                                 damping, max_iterations, tol)
                lnz = bp.bethe_lnz(g.indptr, g.indices, g.rev, kappa, theta_h, v, H)
                key = (bool(conv), lnz)
                if best is None or key > best[0]:
                    best = (key, v, H.copy(), int(sweeps))
            (conv, lnz), v, Hb, sweeps = best
            if conv:  # continue from converged messages only; else from the last converged ones (or u = 0)
                u = v
            res.lnZ[q] = lnz
            m = np.tanh(Hb)
            res.m[q] = m.mean()
            if sites:
                res.sites[q] = m
            res.iterations[q] = sweeps
            res.converged[q] = int(conv)
            check()
            if progress is not None:
                progress(1.0)
    return res
