"""The Ising model: N spins, pair couplings and fields.

Energy convention (Mezard & Montanari, *Information, Physics, and Computation*,
eq. 2.1, with the sum over unordered pairs)::

    E(s) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i,    s_i in {-1, +1}

which equals ``-1/2 sum_{i,j} J_ij s_i s_j - sum_i h_i s_i`` for a symmetric
J with zero diagonal.  J_ij > 0 is ferromagnetic.  Energies are in units of the
coupling scale, k_B = 1.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .errors import ModelError

#: Largest N for which :meth:`IsingModel.dense` builds an N x N matrix (~3.2 GB).
DENSE_LIMIT = 20_000

#: Most spins a model may have.  Mean field costs O(N) per sweep, so 10^7 spins
#: (square L <= 3162, cubic L <= 215) is far beyond what a sweep finishes in hours.
MAX_SPINS = 10_000_000
#: Most coupled pairs a model may have: SK and Curie-Weiss N <= 10,000 (N(N-1)/2 pairs).
#: An instance takes 100-160 bytes per pair at its peak while built and used (measured with
#: tracemalloc on sk, square and rrg: edge list, symmetric CSR form, generator temporaries),
#: so 5e7 pairs need 5-8 GB.
MAX_EDGES = 50_000_000
#: Largest energy scale sum|J_ij| + sum|h_i| (a bound on |E(s)|), and largest beta times it,
#: that isingvar computes with.  The kernels sum (E - E0)^2 over up to 2^62 states and form
#: beta^2 Var(E): c becomes NaN at beta = 0 from an energy scale of ~1e153 and inf from beta times
#: it of ~1e155, and the exp kernel's floor of exp(-707) adds ~2^N e^-707 (beta (E - E0))^2 to c,
#: visible from ~1e145 (measured, docs/formats.md).  At 1e100 both are harmless by many orders.
ENERGY_LIMIT = 1e100


class IsingModel:
    """An Ising model stored as an edge list (one entry per unordered pair).

    One sparse representation serves every family: a lattice keeps O(N)
    edges, a dense family (Sherrington-Kirkpatrick, Curie-Weiss) keeps all
    N(N-1)/2 pairs.  Kernels read the symmetric CSR form from :attr:`csr`.

    Parameters
    ----------
    n : int
        Number of spins N >= 1.
    edge_i, edge_j : array_like of int, shape (E,)
        The two ends of every coupled pair, 0 <= i, j < N, i != j.  Stored
        with ``edge_i < edge_j`` (pairs given the other way round are swapped).
    couplings : array_like of float, shape (E,)
        J_ij for each pair, finite.  J > 0 is ferromagnetic.
    fields : array_like of float, shape (N,), optional
        h_i, finite; zeros when omitted.

    Raises
    ------
    ModelError
        For N < 1, mismatched shapes, indices out of range, self-couplings,
        a pair listed twice, or non-finite values; the message names the
        first offending entry.
    """

    def __init__(self, n, edge_i, edge_j, couplings, fields=None):
        n = int(n)
        if n < 1:
            raise ModelError(f"the number of spins must be at least 1, got N = {n}")
        i = np.asarray(edge_i)
        j = np.asarray(edge_j)
        J = np.asarray(couplings, dtype=np.float64)
        if not (i.ndim == j.ndim == J.ndim == 1 and i.shape == j.shape == J.shape):
            raise ModelError(
                "edge_i, edge_j and couplings must be 1-D arrays of one length, "
                f"got shapes {i.shape}, {j.shape}, {J.shape}"
            )
        if i.size and not (np.issubdtype(i.dtype, np.integer) and np.issubdtype(j.dtype, np.integer)):
            raise ModelError("edge indices must be integers")
        i = i.astype(np.int64)
        j = j.astype(np.int64)
        bad = (i < 0) | (i >= n) | (j < 0) | (j >= n)
        if bad.any():
            k = int(np.argmax(bad))
            raise ModelError(f"edge ({i[k]}, {j[k]}) has a spin index outside 0..{n - 1}")
        loop = i == j
        if loop.any():
            k = int(np.argmax(loop))
            raise ModelError(
                f"self-coupling J[{i[k]},{i[k]}] is not allowed: s_i^2 = 1 only shifts "
                "the energy by a constant; remove the diagonal"
            )
        nonfinite = ~np.isfinite(J)
        if nonfinite.any():
            k = int(np.argmax(nonfinite))
            raise ModelError(f"coupling J[{i[k]},{j[k]}] = {J[k]} is not finite")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        key = lo * n + hi
        order = np.argsort(key, kind="stable")
        dup = np.flatnonzero(np.diff(key[order]) == 0)
        if dup.size:
            k = order[dup[0]]
            raise ModelError(
                f"the pair ({lo[k]}, {hi[k]}) is listed twice; give each pair once"
            )
        if fields is None:
            h = np.zeros(n)
        else:
            h = np.asarray(fields, dtype=np.float64)
            if h.shape != (n,):
                raise ModelError(f"fields must have shape ({n},), got {h.shape}")
            nonfinite = ~np.isfinite(h)
            if nonfinite.any():
                k = int(np.argmax(nonfinite))
                raise ModelError(f"field h[{k}] = {h[k]} is not finite")
        self._set(n, lo[order], hi[order], J[order], h)

    def _set(self, n, i, j, J, h):
        self.n = n
        self.edge_i = np.ascontiguousarray(i, dtype=np.int64)
        self.edge_j = np.ascontiguousarray(j, dtype=np.int64)
        self.couplings = np.ascontiguousarray(J, dtype=np.float64)
        self.fields = np.ascontiguousarray(h, dtype=np.float64)
        for a in (self.edge_i, self.edge_j, self.couplings, self.fields):
            a.flags.writeable = False

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dense(cls, couplings, fields=None, *, rtol=1e-12):
        """Build a model from an N x N coupling matrix.

        Parameters
        ----------
        couplings : array_like of float, shape (N, N)
            Symmetric (to ``rtol`` times the largest |J_ij|), zero diagonal, finite.
            Only the pairs i < j with J_ij != 0 are kept.
        fields : array_like of float, shape (N,), optional
            h_i, finite; zeros when omitted.
        rtol : float
            Relative tolerance of the symmetry check.

        Returns
        -------
        IsingModel
            The model.

        Raises
        ------
        ModelError
            If the matrix is not square, not finite, not symmetric or has a
            non-zero diagonal.
        """
        J = np.asarray(couplings, dtype=np.float64)
        if J.ndim != 2 or J.shape[0] != J.shape[1]:
            raise ModelError(f"the coupling matrix must be square N x N, got shape {J.shape}")
        nonfinite = ~np.isfinite(J)
        if nonfinite.any():
            a, b = np.unravel_index(np.argmax(nonfinite), J.shape)
            raise ModelError(f"coupling J[{a},{b}] = {J[a, b]} is not finite")
        diag = np.flatnonzero(np.diag(J))
        if diag.size:
            k = diag[0]
            raise ModelError(
                f"the diagonal must be zero, J[{k},{k}] = {J[k, k]}: s_i^2 = 1 only "
                "shifts the energy by a constant; set the diagonal to 0"
            )
        asym = np.abs(J - J.T) > rtol * max(np.abs(J).max(initial=0.0), 1e-300)
        if asym.any():
            a, b = np.unravel_index(np.argmax(asym), J.shape)
            raise ModelError(
                f"the coupling matrix must be symmetric: J[{a},{b}] = {J[a, b]} but "
                f"J[{b},{a}] = {J[b, a]}"
            )
        i, j = np.triu_indices(J.shape[0], k=1)
        keep = J[i, j] != 0
        return cls(J.shape[0], i[keep], j[keep], J[i, j][keep], fields)

    def scaled(self, J=1.0, h=0.0):
        """The model with every coupling times ``J`` and ``h`` added to every field.

        This is how a sweep moves along its J and h axes.  The CSR pattern is
        shared with ``self``, so scaling a 10^6-spin lattice costs O(E).

        Parameters
        ----------
        J : float
            Factor of every coupling.
        h : float
            Added to every field.

        Returns
        -------
        IsingModel
            The new model (J J_ij, h_i + h).
        """
        new = object.__new__(IsingModel)
        new._set(self.n, self.edge_i, self.edge_j, self.couplings * float(J), self.fields + float(h))
        for name in ("csr_pattern", "_pattern_key"):  # the pattern and its key (isingvar.patterns) are the same
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name]
        return new

    # ------------------------------------------------------------------ views
    @property
    def n_edges(self) -> int:
        """Number of coupled pairs E.

        Returns
        -------
        int
            E.
        """
        return self.couplings.size

    @cached_property
    def csr_pattern(self):
        """The coupling graph's symmetric CSR structure and the edge behind each slot.

        Depends only on the edges: :meth:`scaled` copies share it (the same
        arrays), and kernels that keep per-pattern data may key on it.

        Returns
        -------
        indptr : ndarray of int64, shape (N+1,)
            Row pointers, as in :attr:`csr`.
        indices : ndarray of int64, shape (2E,)
            Row i lists every j coupled to i, in ascending order.
        slot_edge : ndarray of int64, shape (2E,)
            The edge number k (into ``edge_i``, ``edge_j``, ``couplings``) that joins i and
            ``indices[p]`` at slot p, so ``couplings[slot_edge]`` is the CSR data.
        """
        n, E = self.n, self.n_edges
        rows = np.concatenate([self.edge_i, self.edge_j])
        cols = np.concatenate([self.edge_j, self.edge_i])
        order = np.lexsort((cols, rows))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        src = np.where(order < E, order, order - E)  # edge feeding each CSR slot
        return indptr, np.ascontiguousarray(cols[order]), src

    @cached_property
    def csr(self):
        """Symmetric CSR form ``(indptr, indices, data)``.

        Row i holds every j coupled to i with J_ij, so the local field is
        ``h_i + sum(data[indptr[i]:indptr[i+1]] * s[indices[...]])``.

        Returns
        -------
        indptr : ndarray of int64, shape (N+1,)
            Row pointers.
        indices : ndarray of int64, shape (2E,)
            Column of each slot: the spins coupled to row i, ascending.
        data : ndarray of float64, shape (2E,)
            J_ij of each slot.
        """
        indptr, indices, src = self.csr_pattern
        return indptr, indices, np.ascontiguousarray(self.couplings[src])

    def dense(self):
        """The N x N symmetric coupling matrix (float64, zero diagonal).

        Returns
        -------
        ndarray of float64, shape (N, N)
            J_ij at [i, j] and [j, i], 0 for uncoupled pairs and on the diagonal.

        Raises
        ------
        ModelError
            If N exceeds :data:`DENSE_LIMIT`.
        """
        if self.n > DENSE_LIMIT:
            raise ModelError(f"N = {self.n} is too large for a dense matrix (limit {DENSE_LIMIT})")
        J = np.zeros((self.n, self.n))
        J[self.edge_i, self.edge_j] = self.couplings
        J[self.edge_j, self.edge_i] = self.couplings
        return J

    def energy(self, spins):
        """E(s) for one configuration or a batch.

        E(s) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i.

        Parameters
        ----------
        spins : array_like of +-1, shape (N,) or (K, N)
            One configuration, or K of them.

        Returns
        -------
        float or ndarray of shape (K,)
            The energy of each configuration.
        """
        s = np.asarray(spins, dtype=np.float64)
        pair = s[..., self.edge_i] * s[..., self.edge_j]
        return -(pair @ self.couplings) - s @ self.fields

    def __repr__(self):
        return f"IsingModel(n={self.n}, n_edges={self.n_edges})"


def check_size_limits(n: int, n_edges: int) -> None:
    """Refuse a model of more than :data:`MAX_SPINS` spins or :data:`MAX_EDGES` coupled pairs.

    Called with counts known before anything is built (a family's parameters,
    a file's header), so that a too large model fails at once, without
    allocating.

    Parameters
    ----------
    n : int
        Number of spins, a Python int of any size.
    n_edges : int
        Number of coupled pairs, a Python int of any size.

    Raises
    ------
    ModelError
        Naming the count and the limit; callers add which option to change.
    """
    if n > MAX_SPINS:
        raise ModelError(f"N = {n} spins is more than isingvar handles (at most {MAX_SPINS:.0e})")
    if n_edges > MAX_EDGES:
        raise ModelError(f"{n_edges} coupled pairs is more than isingvar handles (at most {MAX_EDGES:.0e})")


def energy_scale(model: IsingModel, J=(1.0,), h=(0.0,)) -> float:
    """Largest sum|J J_ij| + sum|h_i + h| over the coupling scales ``J`` and fields ``h``.

    The sum over fields is convex in h, so only the extreme values of ``h`` are tried.

    Parameters
    ----------
    model : IsingModel
        The instance at unit scale.
    J : array_like of float
        The coupling scales of the sweep (its J axis).
    h : array_like of float
        The fields added (its h axis).

    Returns
    -------
    float
        A bound on |E(s)| of every instance ``model.scaled(J, h)`` of a sweep (same
        energy units as the couplings); inf if it overflows.
    """
    J = np.asarray(J, dtype=np.float64).ravel()
    h = np.asarray(h, dtype=np.float64).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        pairs = float(np.abs(J).max(initial=0.0)) * float(np.abs(model.couplings).sum())
        fields = max((float(np.abs(model.fields + x).sum()) for x in (h.min(initial=0.0), h.max(initial=0.0))),
                     default=0.0)
        total = pairs + fields
    return total if np.isfinite(total) else np.inf


def check_energy_range(model: IsingModel, betas=(0.0,), J=(1.0,), h=(0.0,)) -> None:
    """Refuse energies (or beta times them) that float64 arithmetic would overflow.

    With S = :func:`energy_scale` (model, J, h) and beta_max the largest of
    ``betas``, requires S <= :data:`ENERGY_LIMIT` and beta_max S <= ENERGY_LIMIT.
    One rule for every caller: the sweep's grid, model files at read time (S of
    the file alone) and exports.

    Parameters
    ----------
    model : IsingModel
        The instance at unit scale.
    betas : array_like of float
        The inverse temperatures.
    J : array_like of float
        The coupling scales.
    h : array_like of float
        The fields added.

    Raises
    ------
    ModelError
        Stating S or beta_max S and the limit; callers add which option to change.
    """
    scale = energy_scale(model, J, h)
    if not scale <= ENERGY_LIMIT:
        shown = "beyond float64" if scale == np.inf else f"{scale:.3g}"
        raise ModelError(
            f"the energy scale sum|J_ij| + sum|h_i| is {shown}, more than the {ENERGY_LIMIT:.0e} isingvar "
            "computes with (beta^2 Var(E) would overflow)"
        )
    beta_max = float(np.max(betas, initial=0.0))
    if beta_max * scale > ENERGY_LIMIT:
        raise ModelError(
            f"beta = {beta_max:g} times the energy scale sum|J_ij| + sum|h_i| = {scale:.3g} is "
            f"{beta_max * scale:.3g}, more than the {ENERGY_LIMIT:.0e} isingvar computes with (beta must be at most "
            f"{ENERGY_LIMIT / scale:.3g} here)"
        )
