"""Autoregressive variational free energies (VAN: Wu, Wang & Zhang, PRL 122, 080602 (2019)).

The trial distribution q(s) = prod_i q(s_i | s_<i) over the spins in the model's order
(s_0 first; :mod:`isingvar.kernels.ar` gives the network) can be sampled and evaluated exactly, so

    beta F~[q] = <beta E + ln q>_q = beta F + D_KL(q || P) >= beta F,   i.e.  ln Z >= S[q] - beta <E>_q.

Training minimises beta F~ over the network's parameters with the score-function gradient and the
batch-mean baseline, E_q[(beta E + ln q - b) grad ln q] (VAN eq. 5), by Adam with a cosine-decayed
learning rate, up to a step budget per beta (:func:`train`: best checkpoint, a stopping rule on the
effective sample size), the betas in ascending order, each warm-started from the previous one.  Every random draw
comes from the caller's numpy Generator, so a seed fixes every number.

Reported per beta (:func:`evaluate`, :func:`exact_lower_bound`):

- the certified bound S[q] - beta <E>_q summed exactly over all 2^N states (N <= :data:`EXACT_MAX_N`);
- its Monte Carlo estimate from fresh samples, with a standard error;
- the importance-sampling estimate of ln Z, ln mean(e^{-beta E}/q) (Nicoli et al., PRE 101, 023304
  (2020)), or of the weights of annealed importance sampling from q (:class:`Annealing`), with a
  delta-method standard error and the effective sample size (sum w)^2 / sum w^2;
- self-normalised importance-sampling estimates of u, s, m with delta-method standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Largest N for which the ELBO is summed exactly over all 2^N states (the certified bound).
EXACT_MAX_N = 24

#: Adam's constants (Kingma & Ba, ICLR 2015, the defaults there).
ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-8


def degrees(n: int, hidden: int) -> np.ndarray:
    """MADE degrees of the ``hidden`` units of a layer.

    Every layer uses the same degrees.

    Parameters
    ----------
    n : int
        Number of spins N.
    hidden : int
        Number of hidden units per layer.

    Returns
    -------
    ndarray of int64, shape (hidden,)
        Degrees in 1 .. N-1, non-decreasing, as evenly spread as ``hidden`` allows.
    """
    k = np.arange(hidden, dtype=np.int64)
    return 1 + (k * (n - 1)) // hidden


class Network:
    """The parameters of q and their masks, in one flat float64 vector (views per array).

    ``depth`` 1: a_i = b_i + sum_{j<i} W_ij s_j.  ``depth`` >= 2: plus depth - 1 tanh layers of width
    ``hidden`` (MADE).  N = 1 has no hidden layers (nothing to condition on).  The initial q is
    uniform (b = W = V = 0); the hidden weights start random (from ``rng``), N(0, 1/fan-in) within
    their masks, so that their gradients are not all zero.

    Parameters
    ----------
    n : int
        Number of spins N.
    depth : int, default 1
        1: the fully visible network; >= 2: plus ``depth`` - 1 hidden tanh layers.
    hidden : int, default 0
        Width H of the hidden layers (0: none, whatever ``depth``).
    rng : numpy.random.Generator or None
        Source of the initial hidden weights; None: ``default_rng(0)``.
    """

    def __init__(self, n: int, depth: int = 1, hidden: int = 0, rng: np.random.Generator | None = None):
        L = depth - 1 if n >= 2 and hidden > 0 else 0
        H = hidden if L > 0 else 0
        self.n, self.layers, self.hidden = n, L, H
        self.uniforms = n  # per sample, for forward
        self.deg = degrees(n, H) if H else np.zeros(0, dtype=np.int64)
        self.cnt = np.searchsorted(self.deg, np.arange(n), side="right").astype(np.int64)
        shapes = {"b": (n,), "W": (n, n), "U": (H, n), "C": (L, H), "Uh": (max(L - 1, 0), H, H), "V": (n, H)}
        sizes = [int(np.prod(s)) for s in shapes.values()]
        self.theta = np.zeros(sum(sizes))
        self.mask = np.zeros(sum(sizes))
        self._shapes = shapes
        self.params = self._views(self.theta)
        m = self._views(self.mask)
        m["b"][:] = 1.0
        m["W"][:] = np.tril(np.ones((n, n)), -1)
        if H:
            m["U"][:] = np.arange(n)[None, :] < self.deg[:, None]
            m["C"][:] = 1.0
            m["Uh"][:] = self.deg[None, :] <= self.deg[:, None]
            m["V"][:] = self.deg[None, :] <= np.arange(n)[:, None]
            rng = np.random.default_rng(0) if rng is None else rng
            p = self.params
            p["U"][:] = rng.standard_normal((H, n)) * m["U"] / np.sqrt(np.maximum(self.deg, 1))[:, None]
            fan = m["Uh"].sum(axis=-1, keepdims=True) if L > 1 else 1.0
            p["Uh"][:] = rng.standard_normal(p["Uh"].shape) * m["Uh"] / np.sqrt(np.maximum(fan, 1.0))

    def _views(self, flat):
        out, k = {}, 0
        for name, shape in self._shapes.items():
            size = int(np.prod(shape))
            out[name] = flat[k:k + size].reshape(shape)
            k += size
        return out

    def arrays(self, flat=None):
        """(b, W, U, C, Uh, V) views of ``flat`` (default the parameters), the kernels' argument order.

        Parameters
        ----------
        flat : ndarray of float64, shaped like ``theta``, optional
            A flat parameter vector; None: the network's own ``theta``.

        Returns
        -------
        tuple of ndarray
            Views b (N,), W (N, N), U (H, N), C (L, H), Uh (max(L-1, 0), H, H), V (N, H) of ``flat``.
        """
        v = self.params if flat is None else self._views(flat)
        return v["b"], v["W"], v["U"], v["C"], v["Uh"], v["V"]

    def set_mean_field(self, m):
        """q = the product distribution prod_i (1 + m_i s_i)/2: b = :func:`mean_field_biases` (m), W = V = 0.

        The hidden weights are kept (with V = 0 they do not reach q, and they are not all zero, so that
        their gradients are not either once V moves).

        Parameters
        ----------
        m : array_like of float, shape (N,)
            Magnetisations in [-1, 1].
        """
        self.params["b"][:] = mean_field_biases(m)
        self.params["W"][:] = 0.0
        self.params["V"][:] = 0.0

    def forward(self, s, u=None):
        """ln q of the configurations s, or, with uniforms u, fresh samples written into s.

        Parameters
        ----------
        s : ndarray of float64, shape (B, N)
            Configurations of +-1: read, or overwritten with the samples when ``u`` is given.
        u : ndarray of float64, shape (B, N), optional
            Uniforms in [0, 1) that drive the sampling; None: evaluate ``s`` as given.

        Returns
        -------
        lnq : ndarray of float64, shape (B,)
            ln q(s_r) (nats).
        a : ndarray of float64, shape (B, N)
            The logits a_i(s_<i), for :meth:`gradient`.
        h : ndarray of float64, shape (B, L, H)
            The hidden activations, for :meth:`gradient`.
        """
        from .kernels import ar

        B = s.shape[0]
        lnq, a = np.empty(B), np.empty((B, self.n))
        h = np.zeros((B, self.layers, self.hidden))
        ar.forward(*self.arrays(), self.deg, self.cnt, s, s if u is None else u, u is not None, lnq, a, h)
        return lnq, a, h

    def gradient(self, s, a, h, coef):
        """Gradient (flat, like ``theta``) of sum_r coef[r] ln q(s_r); (s, a, h) from :meth:`forward`.

        Parameters
        ----------
        s : ndarray of float64, shape (B, N)
            The configurations (+-1).
        a : ndarray of float64, shape (B, N)
            Their logits, from :meth:`forward`.
        h : ndarray of float64, shape (B, L, H)
            Their hidden activations, from :meth:`forward`.
        coef : array_like of float, shape (B,)
            Weight of each row's ln q.

        Returns
        -------
        ndarray of float64, shaped like ``theta``
            The gradient, zero on masked entries.
        """
        from .kernels import ar

        g = np.zeros_like(self.theta)
        _b, W, U, C, Uh, V = self.arrays()
        ar.backward(W, U, C, Uh, V, self.deg, self.cnt, s, a, h, np.ascontiguousarray(coef, dtype=np.float64),
                    *self.arrays(g))
        g *= self.mask
        return g


#: Largest |b_i| of the mean-field initialisation: a saturated m_i = +-1 (tanh rounds to 1 at large
#: beta g_i) would need an infinite bias; at 30, q(s_i = -m_i) = e^-30 ~ 1e-13, so the ELBO differs from the
#: mean-field bound by ~3e-12 nats per such spin, and the gradient of that bias does not vanish to rounding.
MF_BIAS_MAX = 30.0


def spin_order(model) -> np.ndarray:
    """The order in which q places the spins: site order[t] is the t-th spin of q (docs/methods.md, "ar").

    - the square lattice (open, or periodic with L >= 3; recognised from its bonds by the exact planar
      and torus paths' own tests): the snake order, rows top to bottom, every other row right to left,
      so that consecutive spins are always lattice neighbours;
    - any other graph: reverse Cuthill-McKee (scipy.sparse.csgraph), a bandwidth-reducing order, so that
      the spins coupled to spin i that are already placed are among the last few placed; the model's own
      order where its bandwidth is no larger (a chain keeps its natural order, in which an open chain's
      Boltzmann distribution is itself two-body autoregressive).

    Parameters
    ----------
    model : IsingModel
        The instance.

    Returns
    -------
    ndarray of int64, shape (N,)
        A permutation of the sites.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    from .exact.planar import _square_side
    from .exact.torus import _torus_side

    n = model.n
    L = _square_side(model) or _torus_side(model)
    if L:
        grid = np.arange(n, dtype=np.int64).reshape(L, L)
        grid[1::2] = grid[1::2, ::-1]
        return grid.ravel()
    identity = np.arange(n, dtype=np.int64)
    if model.n_edges == 0:
        return identity
    indptr, indices, _ = model.csr_pattern
    graph = csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, n))
    rcm = np.asarray(reverse_cuthill_mckee(graph, symmetric_mode=True), dtype=np.int64)
    return rcm if _bandwidth(model, rcm) < _bandwidth(model, identity) else identity


def _bandwidth(model, order):
    """max |pos(i) - pos(j)| over the bonds, with pos the inverse of ``order``."""
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    return int(np.abs(pos[model.edge_i] - pos[model.edge_j]).max(initial=0))


def reorder(model, order):
    """``model`` with its sites renumbered: new site t is old site ``order[t]`` (same couplings, fields).

    Parameters
    ----------
    model : IsingModel
        The instance.
    order : ndarray of int64, shape (N,)
        A permutation of the sites (:func:`spin_order`).

    Returns
    -------
    IsingModel
        The renumbered model: every energy, ln Z and total magnetisation is unchanged.
    """
    from .model import IsingModel

    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    i, j = pos[model.edge_i], pos[model.edge_j]
    return IsingModel(model.n, np.minimum(i, j), np.maximum(i, j), model.couplings, model.fields[order])


def allowed_pairs(model, hops: int, frontier: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (i, j), j < i, of spins at most ``hops`` bonds apart, as CSR rows i (in the model's order).

    With ``frontier``, only the pairs whose j is coupled to some spin l >= i: the Boltzmann conditional
    P(s_i | s_<i) depends on s_<i only through those (the energy terms among placed spins cancel between
    numerator and denominator), so the others are parameters spent on nothing it needs.

    Parameters
    ----------
    model : IsingModel
        The instance, in the order of q (:func:`reorder`).
    hops : int
        Largest graph distance of a pair (>= 1).
    frontier : bool, default False
        Keep only the frontier pairs.

    Returns
    -------
    rowptr : ndarray of int64, shape (N + 1,)
        Row starts.
    cols : ndarray of int64, shape (P,)
        The earlier spins j of each row, ascending.
    """
    from scipy.sparse import tril

    low = tril(_reach(model, hops), k=-1, format="csr")
    if frontier:
        last = np.arange(model.n)  # the last-placed neighbour of each spin (itself where it has none later)
        np.maximum.at(last, model.edge_i, model.edge_j)
        np.maximum.at(last, model.edge_j, model.edge_i)
        low = low.tocoo()
        keep = last[low.col] >= low.row
        low = type(low)((low.data[keep], (low.row[keep], low.col[keep])), shape=low.shape).tocsr()
    low.sort_indices()
    return low.indptr.astype(np.int64), low.indices.astype(np.int64)


def _reach(model, hops, limit=None):
    """The pattern (CSR, 1.0 entries, diagonal included) of the pairs at most ``hops`` bonds apart; None
    once it holds more than ``limit`` entries (the product is then not built any further)."""
    from scipy.sparse import csr_matrix, identity

    n = model.n
    indptr, indices, _ = model.csr_pattern
    adj = csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, n)) + identity(n, format="csr")
    reach = adj
    for _ in range(hops - 1):
        if limit is not None and reach.nnz > limit:
            return None
        reach = reach @ adj
        reach.data[:] = 1.0  # only the pattern matters; keeps the entries small
    return None if limit is not None and reach.nnz > limit else reach


def pair_count(model, hops: int, frontier: bool = False) -> int:
    """Number P of pairs of :func:`allowed_pairs` (the pair weights of :class:`SparseNetwork`), for cost models.

    Exact while the pairs within ``hops`` bonds are at most a quarter of all N^2 (their pattern is built
    by sparse products, as :func:`allowed_pairs` does); above that, the bound N(N-1)/2, which a dense
    graph (SK) reaches at one hop, is returned without building anything of size N^2, or with
    ``frontier`` the number of frontier pairs at any distance, sum_j (last_j - j) with last_j the
    last-placed neighbour of j in the order of :func:`spin_order` (whichever is smaller).

    Parameters
    ----------
    model : IsingModel
        The instance (any order: P does not depend on it, the frontier pairs being counted in
        :func:`spin_order`'s).
    hops : int
        Largest graph distance of a pair (>= 1).
    frontier : bool, default False
        Count the frontier pairs only (:func:`allowed_pairs`).

    Returns
    -------
    int
        P, or an upper bound on it where the pattern would be dense.
    """
    n = model.n
    everything = n * (n - 1) // 2
    if frontier:
        q = reorder(model, spin_order(model))
        if _reach(q, hops, limit=n * n / 4) is not None:
            return int(allowed_pairs(q, hops, True)[1].size)
        last = np.arange(n)
        np.maximum.at(last, q.edge_i, q.edge_j)
        return min(everything, int(np.sum(last - np.arange(n))))
    if 2 * model.n_edges >= n * n / 4:
        return everything if hops >= 2 else int(model.n_edges)
    reach = _reach(model, hops, limit=n * n / 4)
    return everything if reach is None else (int(reach.nnz) - n) // 2


class SparseNetwork:
    """The sparse two-body q, with ``units`` tanh units per spin on the same inputs.

    a_i = b_i + sum_{j in P(i)} W_ij s_j + sum_{m<K} V_im tanh(C_im + sum_{j in P(i)} U_ijm s_j), P(i) the
    earlier spins within ``hops`` (:func:`allowed_pairs`; with ``frontier``, only those still coupled to a
    spin not yet placed, the only ones the exact conditional depends on).  Biazzo, Wu & Carleo, "Sparse
    autoregressive neural networks for classical spin systems" (cqsl/sparse-twobody-arnn): the conditional
    of spin i sees the spins already placed only through the couplings' neighbourhood; the K units are the
    small nonlinearity of issue 23 (K = 0: the two-body form alone).  Parameters: b (N), the pair weights w
    (P), then U (P, K), C (N, K), V (N, K), in one flat vector (``theta``), every entry free (``mask`` all
    ones).  The initial q is uniform (V = 0; U random, N(0, 1/|P(i)|), so that the gradient of V is not
    zero); :meth:`set_mean_field` makes it the mean-field product distribution.

    Parameters
    ----------
    model : IsingModel
        The instance in the order of q (:func:`reorder`).
    hops : int, default 2
        Largest graph distance of a pair (>= 1).
    units : int, default 0
        Tanh units K per spin.
    rng : numpy.random.Generator or None
        Source of the initial U; None: ``default_rng(0)``.
    frontier : bool, default False
        Keep only the pairs (i, j) whose j is coupled to a spin placed at or after i.
    """

    def __init__(self, model, hops: int = 2, units: int = 0, rng=None, frontier: bool = False):
        self.n = self.uniforms = model.n
        self.units = units
        self.rowptr, self.cols = allowed_pairs(model, hops, frontier)
        n, p = self.n, self.cols.size
        self.theta = np.zeros(n + p + p * units + 2 * n * units)
        self.mask = np.ones_like(self.theta)
        if units:
            rng = np.random.default_rng(0) if rng is None else rng
            fan = np.repeat(np.maximum(np.diff(self.rowptr), 1), np.diff(self.rowptr)).astype(np.float64)
            self.arrays()[2][:] = rng.standard_normal((p, units)) / np.sqrt(fan)[:, None]

    def split(self, flat=None):
        """(b, w) views of ``flat`` (default the parameters).

        Parameters
        ----------
        flat : ndarray of float64, shaped like ``theta``, optional
            A flat parameter vector; None: the network's own ``theta``.

        Returns
        -------
        tuple of ndarray
            b (N,) and w (P,), views of ``flat``.
        """
        return self.arrays(flat)[:2]

    def arrays(self, flat=None):
        """(b, w, U, C, V) views of ``flat`` (default the parameters), the kernels' argument order.

        Parameters
        ----------
        flat : ndarray of float64, shaped like ``theta``, optional
            A flat parameter vector; None: the network's own ``theta``.

        Returns
        -------
        tuple of ndarray
            b (N,), w (P,), U (P, K), C (N, K), V (N, K), views of ``flat``.
        """
        flat = self.theta if flat is None else flat
        n, p, k = self.n, self.cols.size, self.units
        ends = np.cumsum([n, p, p * k, n * k, n * k])
        return (flat[:ends[0]], flat[ends[0]:ends[1]], flat[ends[1]:ends[2]].reshape(p, k),
                flat[ends[2]:ends[3]].reshape(n, k), flat[ends[3]:ends[4]].reshape(n, k))

    def set_mean_field(self, m):
        """q = the product distribution prod_i (1 + m_i s_i)/2: w = V = 0, b = :func:`mean_field_biases` (m).

        U and C are kept (with V = 0 they do not reach q, and U is not zero, so that the gradient of V is not).

        Parameters
        ----------
        m : array_like of float, shape (N,)
            Magnetisations in [-1, 1], in the order of q.
        """
        b, w, _u, _c, v = self.arrays()
        b[:] = mean_field_biases(m)
        w[:] = 0.0
        v[:] = 0.0

    def forward(self, s, u=None):
        """ln q of the configurations s, or, with uniforms u, fresh samples written into s.

        Parameters
        ----------
        s : ndarray of float64, shape (B, N)
            Configurations of +-1: read, or overwritten with the samples when ``u`` is given.
        u : ndarray of float64, shape (B, N), optional
            Uniforms in [0, 1) that drive the sampling; None: evaluate ``s`` as given.

        Returns
        -------
        lnq : ndarray of float64, shape (B,)
            ln q(s_r) (nats).
        a : ndarray of float64, shape (B, N)
            The logits a_i(s_<i), for :meth:`gradient`.
        h : ndarray of float64, shape (B, N, K)
            The units' activations, for :meth:`gradient`.
        """
        from .kernels import ar

        B = s.shape[0]
        lnq, a, h = np.empty(B), np.empty((B, self.n)), np.empty((B, self.n, self.units))
        b, w, uw, c, v = self.arrays()
        ar.sparse_forward(b, self.rowptr, self.cols, w, uw, c, v, s, s if u is None else u, u is not None, lnq, a, h)
        return lnq, a, h

    def gradient(self, s, a, h, coef):
        """Gradient (flat, like ``theta``) of sum_r coef[r] ln q(s_r); (s, a, h) from :meth:`forward`.

        Parameters
        ----------
        s : ndarray of float64, shape (B, N)
            The configurations (+-1).
        a : ndarray of float64, shape (B, N)
            Their logits, from :meth:`forward`.
        h : ndarray of float64, shape (B, N, K)
            The units' activations, from :meth:`forward`.
        coef : array_like of float, shape (B,)
            Weight of each row's ln q.

        Returns
        -------
        ndarray of float64, shaped like ``theta``
            The gradient.
        """
        from .kernels import ar

        g = np.zeros_like(self.theta)
        _gb, _gw, guw, gc, gv = self.arrays(g)
        ar.sparse_backward(self.rowptr, self.cols, self.arrays()[4], s, a, h,
                           np.ascontiguousarray(coef, dtype=np.float64), _gb, _gw, guw, gc, gv)
        return g

    def dense(self):
        """The same q as a depth-1 :class:`Network` (W dense, zero off the allowed pairs): for the exact sums.

        Returns
        -------
        Network
            A depth-1 network with q's b and W.

        Raises
        ------
        ValueError
            With units (K > 0: not a depth-1 network).
        """
        if self.units:
            raise ValueError("a sparse network with units is not a depth-1 network")
        net = Network(self.n, 1, 0)
        b, w = self.split()
        net.params["b"][:] = b
        rows = np.repeat(np.arange(self.n), np.diff(self.rowptr))
        net.params["W"][rows, self.cols] = w
        return net


def mean_field_biases(m) -> np.ndarray:
    """The biases of the product q(s) = prod_i (1 + m_i s_i)/2: b_i = 2 artanh(m_i) = ln((1 + m_i)/(1 - m_i)).

    q(s_i = +1) = sigmoid(b_i) = (1 + m_i)/2.  Clipped to |b_i| <= :data:`MF_BIAS_MAX` (a saturated m_i = +-1).

    Parameters
    ----------
    m : array_like of float, shape (N,)
        Magnetisations in [-1, 1].

    Returns
    -------
    ndarray of float64, shape (N,)
        The biases.
    """
    m = np.asarray(m, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.clip(np.log1p(m) - np.log1p(-m), -MF_BIAS_MAX, MF_BIAS_MAX)


class Symmetrised:
    """q_sym(s) = (q(s) + q(-s))/2 of a network q: for a model without fields, whose P(s) = P(-s).

    Every state and its mirror image get the same probability, so a q trained in one of the two
    ordered phases (a magnetised mean-field start, or a glass's frozen state) still covers the other,
    whose mass its importance weights would otherwise miss: ln 2 at low temperature (VAN's Z2
    symmetrisation, Wu, Wang & Zhang, PRL 122, 080602 (2019)).  For such a P, D_KL is convex in q and
    the same for q and its mirror image, so D_KL(q_sym || P) <= D_KL(q || P): it never lowers the bound.
    Sampling: a sample of q, flipped as a whole where the extra uniform u[:, N] < 1/2.

    Parameters
    ----------
    net : Network or SparseNetwork
        The network q (its parameters are the ones trained).
    """

    def __init__(self, net):
        self.net = net
        self.n = net.n
        self.uniforms = net.n + 1
        self.theta, self.mask = net.theta, net.mask

    def set_mean_field(self, m):
        """q = the product distribution of the magnetisations ``m``, q_sym its symmetrisation.

        Parameters
        ----------
        m : array_like of float, shape (N,)
            Magnetisations in [-1, 1].
        """
        self.net.set_mean_field(m)

    def forward(self, s, u=None):
        """ln q_sym of the configurations s, or, with uniforms u, fresh samples of q_sym written into s.

        Parameters
        ----------
        s : ndarray of float64, shape (B, N)
            Configurations of +-1: read, or overwritten with the samples when ``u`` is given.
        u : ndarray of float64, shape (B, N + 1), optional
            Uniforms in [0, 1): the first N drive q's sampling, the last the flip; None: evaluate ``s``.

        Returns
        -------
        lnq : ndarray of float64, shape (B,)
            ln q_sym(s_r) = ln((q(s_r) + q(-s_r))/2) (nats).
        a : ndarray of float64, shape (2, B, N)
            q's logits at s and at -s, for :meth:`gradient`.
        h : tuple
            q's hidden activations at s and at -s, and rho = q(s)/(q(s) + q(-s)) float64 (B,).
        """
        if u is None:
            lnq1, a1, h1 = self.net.forward(s)
            lnq2, a2, h2 = self.net.forward(-s)
        else:  # the sampling pass already gives q at the drawn state: one more pass, at its mirror image
            lnq1, a1, h1 = self.net.forward(s, np.ascontiguousarray(u[:, :self.n]))
            lnq2, a2, h2 = self.net.forward(-s)
            flip = u[:, self.n] < 0.5
            s[flip] *= -1.0
            for x, y in ((lnq1, lnq2), (a1, a2), (h1, h2)):  # in place: the hidden layers can be large
                x[flip], y[flip] = y[flip], x[flip]
        both = np.logaddexp(lnq1, lnq2)
        rho = np.exp(lnq1 - both)  # q(s)/(q(s) + q(-s)) without overflow where q(-s) << q(s)
        return both - math.log(2.0), np.stack([a1, a2]), (h1, h2, rho)

    def gradient(self, s, a, h, coef):
        """Gradient (flat, like ``theta``) of sum_r coef[r] ln q_sym(s_r): rho grad ln q(s) + (1 - rho) grad ln q(-s).

        Parameters
        ----------
        s : ndarray of float64, shape (B, N)
            The configurations (+-1).
        a : ndarray of float64, shape (2, B, N)
            From :meth:`forward`.
        h : tuple
            From :meth:`forward`.
        coef : array_like of float, shape (B,)
            Weight of each row's ln q_sym.

        Returns
        -------
        ndarray of float64, shaped like ``theta``
            The gradient.
        """
        h1, h2, rho = h
        coef = np.asarray(coef, dtype=np.float64)
        return self.net.gradient(s, a[0], h1, coef * rho) + self.net.gradient(-s, a[1], h2, coef * (1.0 - rho))


#: States per block of the enumeration of a symmetrised q or one with units (:func:`exact_lower_bound`).
ENUM_BLOCK = 1 << 14


def _enumerated_exact(net, model):
    """(sum q_sym, <E>_q_sym, <ln q_sym>_q_sym) by blocks of all 2^N states (compensated by math.fsum)."""
    sq, se, sl = [], [], []
    energy = energy_function(model)
    for start in range(0, 1 << net.n, ENUM_BLOCK):
        S = all_states(net.n, start, min(start + ENUM_BLOCK, 1 << net.n))
        lnq = net.forward(S)[0]
        q = np.exp(lnq)
        sq.append(q.sum())
        se.append(q @ energy(S))
        sl.append(q @ lnq)
    return math.fsum(sq), math.fsum(se), math.fsum(sl)


def all_states(n: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """States start..stop-1 of the 2^n configurations, s_0 the most significant bit (bit set: +1).

    Parameters
    ----------
    n : int
        Number of spins.
    start : int, default 0
        Index of the first state.
    stop : int or None
        One past the index of the last state; None: 2^n.

    Returns
    -------
    ndarray of float64, shape (stop - start, n)
        The states, entries +-1.
    """
    stop = (1 << n) if stop is None else stop
    t = np.arange(start, stop, dtype=np.int64)
    bits = (t[:, None] >> np.arange(n - 1, -1, -1, dtype=np.int64)[None, :]) & 1
    return (2.0 * bits - 1.0).astype(np.float64)


@dataclass
class Trainer:
    """Adam on the network's flat parameters; the moments carry over from one beta to the next."""

    net: Network
    lr: float
    m: np.ndarray = field(init=False)
    v: np.ndarray = field(init=False)
    t: int = 0

    def __post_init__(self):
        """Zero Adam moments shaped like the network's parameters."""
        self.m = np.zeros_like(self.net.theta)
        self.v = np.zeros_like(self.net.theta)

    def step(self, g):
        """One Adam step along the gradient ``g``, in place.

        Parameters
        ----------
        g : ndarray of float64, shaped like the network's ``theta``
            Gradient of the loss.
        """
        self.t += 1
        self.m *= ADAM_BETA1
        self.m += (1 - ADAM_BETA1) * g
        self.v *= ADAM_BETA2
        self.v += (1 - ADAM_BETA2) * g * g
        mhat = self.m / (1 - ADAM_BETA1**self.t)
        vhat = self.v / (1 - ADAM_BETA2**self.t)
        self.net.theta -= self.lr * self.net.mask * mhat / (np.sqrt(vhat) + ADAM_EPS)


def energy_function(model):
    """A function s (float64 (B, N) of +-1) -> E(s_r) float64 (B,) for ``model``.

    A dense model (2E >= N^2/4: SK, Curie-Weiss) goes through the dense couplings (N^2/2 vectorised
    multiply-adds per state; the CSR gather costs several times more there; no BLAS, whose threads
    collapse on a shared machine), a sparse one through the CSR kernel.

    Parameters
    ----------
    model : IsingModel
        The model whose energy is evaluated.

    Returns
    -------
    callable
        ``f(s)`` with s float64 (B, N) of +-1, returning E(s_r) as float64 (B,).
    """
    from .kernels import ar

    if 2 * model.n_edges >= model.n * model.n / 4 and model.n <= 4096:
        J = model.dense()
        h = np.ascontiguousarray(model.fields, dtype=np.float64)

        def dense(s):
            out = np.empty(s.shape[0])
            ar.dense_energies(J, h, s, out)
            return out

        return dense
    indptr, indices, data = model.csr

    def sparse(s):
        """Energies of the K rows of ``s`` from the CSR couplings.

        Parameters
        ----------
        s : ndarray of float64, shape (K, N)
            Configurations of +-1.

        Returns
        -------
        ndarray of float64, shape (K,)
            E(s_r).
        """
        out = np.empty(s.shape[0])
        ar.energies(indptr, indices, data, model.fields, s, out)
        return out

    return sparse


def energies(model, s) -> np.ndarray:
    """E(s_r) of every row of s (:func:`energy_function`).

    Parameters
    ----------
    model : IsingModel
        The model whose energy is evaluated.
    s : ndarray of float64, shape (B, N)
        Configurations of +-1.

    Returns
    -------
    ndarray of float64, shape (B,)
        The energies.
    """
    return energy_function(model)(s)


#: Standard errors subtracted from a held-out ELBO estimate to score a checkpoint (:func:`train`): of two
#: q with equal ELBO the one with less spread of ln w (the better importance sampler) wins, and a lucky
#: estimate of a noisy q rarely beats a well-trained one.
SCORE_SE = 2.0


def heldout_score(net, energy, beta: float, samples: int, rng) -> tuple[float, float]:
    """Score of q and its effective sample size fraction, from ``samples`` fresh samples of q.

    Parameters
    ----------
    net : Network or SparseNetwork
        The network (q).
    energy : callable
        s float64 (B, N) -> E float64 (B,) (:func:`energy_function`).
    beta : float
        Inverse temperature.
    samples : int
        Number M of fresh samples (>= 2).
    rng : numpy.random.Generator
        Source of the samples.

    Returns
    -------
    score : float
        mean - :data:`SCORE_SE` x SE of -beta E - ln q (nats): a lower confidence value of the ELBO.
    ess : float
        (sum w)^2 / (M sum w^2) of the raw weights w = e^{-beta E}/q, in [1/M, 1]: the effective
        sample size as a fraction of M (Kong's, as in Nicoli et al., PRE 101, 023304 (2020)).
    """
    s = np.empty((samples, net.n))
    lnq = net.forward(s, rng.random((samples, net.uniforms)))[0]
    x = -beta * energy(s) - lnq
    w = np.exp(x - x.max())
    return float(x.mean() - SCORE_SE * x.std(ddof=1) / math.sqrt(samples)), float(w.sum()**2 / (samples * (w @ w)))


def learning_rate(lr: float, decay: float, step: int, steps: int) -> float:
    """The learning rate of step ``step`` (0-based) of ``steps``: cosine from ``lr`` down to ``decay`` x ``lr``.

    lr_t = lr (decay + (1 - decay)(1 + cos(pi t / steps))/2) (Loshchilov & Hutter, ICLR 2017, without
    restarts within a beta; each beta of the grid starts again from ``lr``).

    Parameters
    ----------
    lr : float
        Initial learning rate.
    decay : float
        Final rate as a fraction of ``lr`` (1: constant).
    step : int
        Index of the step.
    steps : int
        The beta's step budget.

    Returns
    -------
    float
        The learning rate.
    """
    if decay == 1.0 or steps <= 0:
        return lr
    return lr * (decay + (1.0 - decay) * 0.5 * (1.0 + math.cos(math.pi * step / steps)))


def free_energy_gradient(net, s, a, h, x) -> np.ndarray:
    """The score-function estimate of grad beta F~[q] = grad E_q[beta E + ln q] from q's own samples.

    sum_r (x_r - b) grad ln q(s_r) / B with the baseline b = the batch mean of x = beta E + ln q (Williams,
    Machine Learning 8, 229 (1992); as in VAN, Wu, Wang & Zhang, PRL 122, 080602 (2019)): unbiased up to O(1/B),
    and zero variance where q = P.

    Parameters
    ----------
    net : Network, SparseNetwork or Symmetrised
        The network (q).
    s : ndarray of float64, shape (B, N)
        Samples of q (+-1).
    a, h : ndarray
        Their logits and hidden layers from ``net.forward``.
    x : ndarray of float64, shape (B,)
        beta E(s) + ln q(s) (nats).

    Returns
    -------
    ndarray of float64, shaped like ``net.theta``
        The gradient.
    """
    d = x - x[0]  # about x[0], so that equal x give exactly zero (Adam would blow rounding up to steps of lr)
    return net.gradient(s, a, h, (d - d.mean()) / x.size)


def train(net, trainer: Trainer, model, beta: float, steps: int, batch: int, rng, check=None,
          progress=None, every: int = 0, holdout: int = 0, start_score: float = -math.inf, *,
          stop_ess: float = 0.0, decay: float = 1.0, ramp: int = 0, ramp_from: float = 0.0,
          start_theta=None) -> tuple[float, int, int]:
    """Up to ``steps`` Adam steps on beta F~[q] with batches of ``batch`` samples, keeping the best checkpoint.

    With ``every`` > 0, q is scored (:func:`heldout_score`, ``holdout`` fresh samples) after every
    ``every`` steps and after the last; the parameters with the highest score, the starting ones
    (``start_score``) included, are the ones left in ``net``: more steps never leave a q that scored
    worse than one already seen (a learning rate too large for the late steps cannot undo the early ones).
    With ``stop_ess`` > 0, training stops at the first checkpoint whose effective sample size is at
    least ``stop_ess`` of its samples (an easy beta ends early; the estimates keep their own diagnostics).
    The learning rate follows :func:`learning_rate` over the ``steps`` (``decay`` 1: constant).  With
    ``ramp`` > 0 the first ``ramp`` steps anneal: step t trains at b0 + (beta - b0) min(1, (t + 1)/ramp),
    b0 = ``ramp_from`` (VAN's annealing, from beta = 0 where a uniform q is exact, or from the beta that q
    was trained at); the checkpoints always score q at ``beta``.

    Parameters
    ----------
    net : Network or SparseNetwork
        The network trained, in place.
    trainer : Trainer
        Adam state of ``net``, updated in place (its ``lr`` is the initial rate, restored on return).
    model : IsingModel
        The model whose free energy is bounded.
    beta : float
        Inverse temperature.
    steps : int
        Most Adam steps.
    batch : int
        Samples per step.
    rng : numpy.random.Generator
        Source of every sample.
    check : callable() or None
        Called between steps (the interrupt point).
    progress : callable(k) or None
        Called with k (float) after every k steps; ``steps`` units in all, whenever training stops.
    every : int, default 0
        Steps between checkpoints; 0: none (the last parameters are kept).
    holdout : int, default 0
        Fresh samples per checkpoint score (>= 2 when ``every`` > 0).
    start_score : float, default -inf
        Score of the starting parameters (-inf: any checkpoint replaces them).
    stop_ess : float, default 0
        Effective sample size fraction in (0, 1] at which a checkpoint ends training; 0: never.
    decay : float, default 1
        Final learning rate as a fraction of the initial one (cosine schedule).
    ramp : int, default 0
        Steps of the annealing from ``ramp_from`` (0: none).
    ramp_from : float, default 0
        Inverse temperature the annealing starts from.
    start_theta : ndarray of float64, shaped like ``theta``, optional
        The parameters that ``start_score`` belongs to, where training starts from others; None: ``net``'s.

    Returns
    -------
    loss : float
        The last batch's mean of beta E + ln q (an estimate of beta F~, nats); NaN when no step was taken.
    best_step : int
        Steps taken by the parameters left in ``net`` (the steps taken without checkpoints).
    taken : int
        Steps taken.
    """
    n = net.n
    s = np.empty((batch, n))
    loss = math.nan
    done = 0
    energy = energy_function(model)
    best, best_step = start_score, 0
    best_theta = (net.theta if start_theta is None else start_theta).copy()
    lr = trainer.lr
    taken = 0
    try:
        for step in range(steps):
            trainer.lr = learning_rate(lr, decay, step, steps)
            u = rng.random((batch, net.uniforms))
            lnq, a, h = net.forward(s, u)
            bt = ramp_from + (beta - ramp_from) * min(1.0, (step + 1) / ramp) if step < ramp else beta
            x = bt * energy(s) + lnq
            loss = float(x.mean())
            trainer.step(free_energy_gradient(net, s, a, h, x))
            taken = step + 1
            stop = False
            if every and (taken % every == 0 or taken == steps):
                score, ess = heldout_score(net, energy, beta, holdout, rng)
                if score >= best:  # ties to the later q
                    best, best_step = score, taken
                    best_theta[:] = net.theta
                stop = stop_ess > 0 and ess >= stop_ess
            if check is not None:
                check()
            done += 1
            if progress is not None and (done == 16 or taken == steps or stop):
                progress(float(done + (steps - taken if stop else 0)))
                done = 0
            if stop:
                break
    finally:
        trainer.lr = lr
    if not every:
        return loss, taken, taken
    net.theta[:] = best_theta
    return loss, best_step, taken


#: Annealing steps of the chains that give :func:`refine` its samples of p: fewer than the evaluation's, since a
#: gradient needs only their direction (measured: open 16 x 16 +-J seed 7 at beta 3, 150 steps of 256 chains,
#: 3 steps each: 10.7 CPU s, k-hat 0.40-0.54 over six evaluations; 5 steps each, 200 steps: 21.5 s, 0.41-0.59;
#: the forward KL alone, a prototype of :func:`refine`).
FKL_AIS = 3
#: :func:`refine`'s Adam rate as a fraction of ``--ar-lr`` (3e-3 at the default 0.01: the rate measured; 1e-3
#: moved k-hat less in 100 steps of 512 chains, open 16 x 16 +-J seed 7 at beta 3, docs/performance.md).
FKL_LR_FRACTION = 0.3


def forward_kl_gradient(net, annealing, s, beta: float, rng) -> np.ndarray:
    """A self-normalised estimate of grad KL(p || q) = -E_p[grad ln q] from annealing chains started at s.

    The samples s of q are annealed :attr:`Annealing.steps` steps toward p (weighted final states x_r, weights
    w_r, E[w] = Z) and the gradient is that of -sum_r rho_r ln q(x_r), rho = w / sum w: maximum likelihood on
    p's samples, the reweighted wake-sleep update of Bornschein & Bengio, ICLR 2015, with annealed weights
    (0 steps: plain importance weights of s).  Biased by O(1/B) through the normalisation, like any
    self-normalised estimate.

    Parameters
    ----------
    net : SparseNetwork, Network or Symmetrised
        The two-body q.
    annealing : Annealing
        Its annealing (of ``net`` and the model in q's order).
    s : ndarray of float64, shape (B, N)
        Samples of q (+-1); left unchanged.
    beta : float
        Inverse temperature of p.
    rng : numpy.random.Generator
        Source of the annealing's uniforms.

    Returns
    -------
    ndarray of float64, shaped like ``net.theta``
        The gradient.
    """
    x = s.copy()
    logw = annealing.run(x, beta, annealing.uniforms(x.shape[0], rng))[0]
    rho = np.exp(logw - logw.max())
    _lnq, a, h = net.forward(x)
    return net.gradient(x, a, h, -rho / rho.sum())


def refine(net, model, beta: float, steps: int, batch: int, lr: float, rng, check=None, progress=None) -> int:
    """Adam steps on beta F~[q] + KL(p || q): training that also covers the states of p that q under-weights.

    Training on beta F~[q] alone (:func:`train`) minimises KL(q || p), which lets q give some states of p far
    less mass than p does (mode seeking): at low temperature on a glass, spins whose local field vanishes
    in p's ground states but that q has made near-certain; the importance weights then have a heavy tail
    (k-hat > 0.7) even where they are unbiased.  Each step draws ``batch`` samples of q and adds to their
    :func:`free_energy_gradient` (which keeps the ELBO where training left it) the :func:`forward_kl_gradient`
    of the same samples annealed :data:`FKL_AIS` steps toward p.  A fresh Adam state, so the training's
    moments stay those of beta F~.

    Parameters
    ----------
    net : SparseNetwork, Network or Symmetrised
        The two-body q (:func:`two_body`), trained in place.
    model : IsingModel
        The model, in q's order.
    beta : float
        Inverse temperature of p.
    steps : int
        Adam steps.
    batch : int
        Chains per step.
    lr : float
        Adam learning rate.
    rng : numpy.random.Generator
        Source of every sample and uniform.
    check : callable() or None
        Called between steps (the interrupt point).
    progress : callable(k) or None
        Called with k (float) after every k steps; ``steps`` units in all.

    Returns
    -------
    int
        Steps taken (``steps``).

    Raises
    ------
    ValueError
        For a q that is not two-body (:func:`two_body`).
    """
    annealing = Annealing(net, model, FKL_AIS)
    energy = energy_function(model)
    trainer = Trainer(net, lr)
    s = np.empty((batch, net.n))
    done = 0
    for step in range(steps):
        lnq, a, h = net.forward(s, rng.random((batch, net.uniforms)))
        g = free_energy_gradient(net, s, a, h, beta * energy(s) + lnq)
        trainer.step(g + forward_kl_gradient(net, annealing, s, beta, rng))
        if check is not None:
            check()
        done += 1
        if progress is not None and (done == 16 or step == steps - 1):
            progress(float(done))
            done = 0
    return steps


def exact_lower_bound(net, model, beta: float) -> tuple[float, float, float]:
    """(ln Z lower bound, <E>_q, S[q]) summed exactly over all 2^N states (nats; energy).

    Parameters
    ----------
    net : Network or SparseNetwork
        The trained network (q).
    model : IsingModel
        The model.
    beta : float
        Inverse temperature.

    Returns
    -------
    lnz_lower : float
        The certified bound S[q] - beta <E>_q on ln Z (nats).
    energy : float
        <E>_q (energy units of the couplings).
    entropy : float
        S[q] = -<ln q>_q (nats).

    Raises
    ------
    ValueError
        For N > :data:`EXACT_MAX_N` (the caller reports NaN there).
    """
    from .kernels import ar

    if net.n > EXACT_MAX_N:
        raise ValueError(f"exact ELBO only for N <= {EXACT_MAX_N}")
    if isinstance(net, Symmetrised) or (isinstance(net, SparseNetwork) and net.units):
        _sq, se, sl = _enumerated_exact(net, model)
        return -beta * se - sl, se, -sl
    if isinstance(net, SparseNetwork):
        net = net.dense()
    indptr, indices, data = model.csr
    _sq, se, sl = ar.exact_elbo(*net.arrays(), net.deg, net.cnt, indptr, indices, data, model.fields)
    return -beta * se - sl, se, -sl


#: Most uniforms of the annealing steps drawn at once by :func:`evaluate` (2^22: 32 MiB).
AIS_UNIFORMS = 1 << 22


def ais_schedule(steps: int) -> np.ndarray:
    """The annealing schedule g_0 = 0 < g_1 < ... < g_T < g_{T+1} = 1 of ``steps`` = T steps (:class:`Annealing`).

    g_t = sqrt(t/(T + 1)): more of the steps near p, where the chains reach the states q under-weights (measured
    with sweeps alone against t/(T + 1) and its powers 2 and 3 on the open 16 x 16 +-J at beta 2 and 3, T = 10: the
    lightest tails and the fewest CPU s, the later sweeps rejecting most flips early; docs/performance.md; with the
    proposals, before the forward-KL steps, linear gave k-hat 0.62-0.64 at beta 3 over four draws and sqrt
    0.54-0.86 over ten: not told apart).

    Parameters
    ----------
    steps : int
        Number T of annealing steps (>= 0).

    Returns
    -------
    ndarray of float64, shape (T + 2,)
        The schedule, g[0] = 0 and g[T + 1] = 1 exactly.
    """
    g = np.sqrt(np.arange(steps + 2, dtype=np.float64) / (steps + 1))
    g[-1] = 1.0
    return g


def two_body(net):
    """q's two-body form a_i = b_i + sum_k w_k s_{cols[k]} over CSR rows i, and whether q is symmetrised.

    Parameters
    ----------
    net : SparseNetwork, Network or Symmetrised
        A sparse network without units, a depth-1 dense network (no hidden layers), or either symmetrised.

    Returns
    -------
    b : ndarray of float64, shape (N,)
        The biases (a view of the parameters).
    rowptr : ndarray of int64, shape (N + 1,)
        Row starts.
    cols : ndarray of int64, shape (P,)
        Earlier spin of each pair.
    w : ndarray of float64, shape (P,)
        Weight of each pair (the sparse network's own view; a copy of the dense W's lower triangle).
    mirrored : bool
        q is :class:`Symmetrised`.

    Raises
    ------
    ValueError
        For a network with tanh units or hidden layers (not two-body).
    """
    mirrored = isinstance(net, Symmetrised)
    base = net.net if mirrored else net
    if isinstance(base, SparseNetwork):
        if base.units:
            raise ValueError("annealed importance sampling needs the two-body q: a sparse network without units")
        b, w = base.split()
        return b, base.rowptr, base.cols, w, mirrored
    if base.layers:
        raise ValueError("annealed importance sampling needs the two-body q: a dense network of depth 1")
    n = base.n
    rows, cols = np.tril_indices(n, -1)
    rowptr = np.zeros(n + 1, dtype=np.int64)
    rowptr[1:] = np.cumsum(np.arange(n))
    return base.params["b"], rowptr, cols.astype(np.int64), base.params["W"][rows, cols], mirrored


def transposed_pairs(rowptr, cols) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of CSR rows i (later spin) regrouped by their earlier spin j: whose conditionals a flip of j moves.

    Parameters
    ----------
    rowptr : ndarray of int64, shape (N + 1,)
        Row starts of the pairs.
    cols : ndarray of int64, shape (P,)
        Earlier spin of each pair.

    Returns
    -------
    tptr : ndarray of int64, shape (N + 1,)
        Row starts by earlier spin j.
    tchild : ndarray of int64, shape (P,)
        Later spin i of each pair, ascending within a row.
    tpair : ndarray of int64, shape (P,)
        Index of each pair in ``cols`` (and in the pair weights).
    """
    n = rowptr.size - 1
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(rowptr))
    tpair = np.argsort(cols, kind="stable").astype(np.int64)
    tptr = np.zeros(n + 1, dtype=np.int64)
    tptr[1:] = np.cumsum(np.bincount(cols, minlength=n))
    return tptr, rows[tpair], tpair


class Annealing:
    """Annealed importance sampling from the two-body q (Neal, Statistics and Computing 11, 125 (2001)).

    From samples x_0 of q, ``steps`` = T steps through pi_t ∝ q^{1 - g_t} e^{-beta E g_t} (:func:`ais_schedule`),
    each an independence proposal from q and a Metropolis sweep of single flips, and
    ln w = sum_{t=1}^{T+1} (g_t - g_{t-1}) (-beta E - ln q)(x_{t-1}): E[w] = Z exactly, as for the raw
    importance weights (T = 0), and the weighted final states give <A>_p
    (:func:`isingvar.kernels.ais.anneal`).  The pair lists are built once; the weights are read at each call.

    Parameters
    ----------
    net : SparseNetwork, Network or Symmetrised
        The q (:func:`two_body`).
    model : IsingModel
        The model, in q's order.
    steps : int
        Number T of annealing steps (a proposal from q and a sweep each).

    Raises
    ------
    ValueError
        For a q that is not two-body (:func:`two_body`).
    """

    def __init__(self, net, model, steps: int):
        self.net, self.steps = net, steps
        b, rowptr, cols, _w, self.mirrored = two_body(net)
        self.n = b.size
        self.rowptr, self.cols = rowptr, cols
        self.tptr, self.tchild, self.tpair = transposed_pairs(rowptr, cols)
        self.csr = model.csr
        self.fields = np.ascontiguousarray(model.fields, dtype=np.float64)
        self.g = ais_schedule(steps)

    def uniforms(self, rows: int, rng) -> np.ndarray:
        """The uniforms :meth:`run` takes for ``rows`` chains, in the kernel's layout (one call of ``rng.random``).

        Parameters
        ----------
        rows : int
            Number B of chains.
        rng : numpy.random.Generator
            Source of the uniforms.

        Returns
        -------
        ndarray of float64, shape (B, T, 2 N + 2)
            Per chain and step: its sweep's flips, the proposal's draw and its acceptance.
        """
        return rng.random((rows, self.steps, 2 * self.n + 2))

    def run(self, s, beta: float, u) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Anneal chains from the samples ``s`` of q; ``s`` ends as their final states.

        Parameters
        ----------
        s : ndarray of float64, shape (B, N)
            Samples of q (+-1), overwritten with the chains' final states.
        beta : float
            Inverse temperature of p.
        u : ndarray of float64, shape (B, T, 2 N + 2)
            Uniforms in [0, 1) of each step: its sweep's flips, the proposal's draw and its acceptance (the layout
            of :func:`isingvar.kernels.ais.anneal`).

        Returns
        -------
        logw : ndarray of float64, shape (B,)
            ln w of each chain (nats).
        energy : ndarray of float64, shape (B,)
            E of the final states.
        accepted : ndarray of int64, shape (B,)
            Accepted flips of each chain.
        jumps : ndarray of int64, shape (B,)
            Accepted proposals from q of each chain.
        """
        from .kernels import ais

        b, _rowptr, _cols, w, _m = two_body(self.net)
        B = s.shape[0]
        logw, energy = np.empty(B), np.empty(B)
        accepted, jumps = np.zeros(B, dtype=np.int64), np.zeros(B, dtype=np.int64)
        ais.anneal(b, self.rowptr, self.cols, np.ascontiguousarray(w), self.tptr, self.tchild, self.tpair,
                   *self.csr, self.fields, float(beta), self.g, self.mirrored, s, u, logw, energy, accepted, jumps)
        return logw, energy, accepted, jumps


@dataclass
class Estimates:
    """Monte Carlo values at one beta from M fresh samples of q (totals, not per spin).

    The importance-sampling values use the raw weights (mean(w) is an unbiased estimate of Z); PSIS
    gives only the tail diagnostic ``khat`` (the estimates are withheld above 0.7: :mod:`isingvar.methods.ar`).
    """

    elbo: float  #: mean of -beta E - ln q: estimate of the ln Z lower bound (nats)
    elbo_se: float
    #: ln mean(w) of the raw weights (e^{-beta E}/q, or annealed: :class:`Annealing`): estimate of ln Z (nats); also
    #: the file's ``lnZ_ar_is_raw``, kept where ``lnZ_ar_is`` is withheld
    lnz_is: float
    lnz_is_se: float
    lnz_lower_prob: float  #: a lower bound on ln Z holding with probability >= 1 - delta (raw weights)
    khat: float  #: PSIS tail shape of the weights (NaN: constant tail)
    ess: float  #: (sum w)^2 / sum w^2 of the raw weights, 1 .. M
    one_state: bool  #: every sample is the same state (for a :class:`Symmetrised` q: or its mirror image)
    energy: float  #: importance-weighted <E> (energy)
    energy_se: float
    entropy: float  #: ln Z_is + beta <E>_w (nats)
    entropy_se: float
    magnetisation: float  #: importance-weighted <sum_i s_i> (total)
    magnetisation_se: float


def evaluate(net, model, beta: float, samples: int, batch: int, rng, delta: float = 0.01, ais: int = 0) -> Estimates:
    """Estimates from ``samples`` fresh samples of q drawn in batches of ``batch``.

    Weights: w_k = e^{-beta E_k}/q(s_k), raw: E_q[w] = Z exactly, so mean(w) is unbiased for Z (Nicoli et
    al., PRE 101, 023304 (2020)); with ``ais`` = T > 0, the annealed importance weights of :class:`Annealing`
    (T steps from each sample of q; E[w] = Z exactly too) and the weighted final states for <E>, <m>; the
    ELBO stays that of q's own samples.  Their tail shape k-hat comes from PSIS (:func:`isingvar.importance.psis`;
    Vehtari et al., JMLR 25 (2024)), a diagnostic only: the smoothed weights would bias ln Z low by more
    than their own standard error where k-hat is 0.5-0.7 (measured: docs/performance.md, "Autoregressive").
    Standard errors: of the ELBO,
    std/sqrt(M); of the importance-sampling values, the delta method with normalised weights rho_k:
    ln Z_is has influence rho_k - 1/M, a weighted mean <A> has rho_k (A_k - <A>), the entropy the sum
    beta times the energy's plus ln Z's (all totals).  ``lnz_lower_prob`` is
    :func:`isingvar.importance.markov_lower_bound` of the raw weights at ``delta``.

    Parameters
    ----------
    net : Network or SparseNetwork
        The trained network (q).
    model : IsingModel
        The model.
    beta : float
        Inverse temperature.
    samples : int
        Number M of fresh samples.
    batch : int
        Samples drawn per batch.
    rng : numpy.random.Generator
        Source of every sample.
    delta : float, default 0.01
        Failure probability of ``lnz_lower_prob``.
    ais : int, default 0
        Annealing steps T (0: plain importance sampling, the same random stream as before AIS existed).

    Returns
    -------
    Estimates
        The Monte Carlo values at ``beta``.

    Raises
    ------
    ValueError
        For ``ais`` > 0 and a q that is not two-body (:func:`two_body`).
    """
    from .importance import markov_lower_bound, psis

    n = net.n
    energy = energy_function(model)
    E, lnq, M = np.empty(samples), np.empty(samples), np.empty(samples)
    f, logw = np.empty(samples), np.empty(samples)  # -beta E - ln q of q's samples (the ELBO's terms); ln w
    one_state, mirrored = True, isinstance(net, Symmetrised)
    first = None
    annealing = Annealing(net, model, ais) if ais else None
    for start in range(0, samples, batch):
        stop = min(start + batch, samples)
        s = np.empty((stop - start, n))
        lnq[start:stop] = net.forward(s, rng.random((stop - start, net.uniforms)))[0]
        E[start:stop] = energy(s)
        first = s[0].copy() if first is None else first
        same = np.all(s == first, axis=1)
        if mirrored:  # a collapsed symmetrised q draws one state and its mirror image: as blind as one state
            same |= np.all(s == -first, axis=1)
        one_state = one_state and bool(np.all(same))  # of q's own draws: what q has seen, not the chains
        f[start:stop] = -beta * E[start:stop] - lnq[start:stop]
        # chains from q's samples: their weights, and E and m at their final states; the uniforms in chunks of at
        # most AIS_UNIFORMS (Generator.random fills in order, so the chunks draw the same numbers as one call)
        rows = max(1, AIS_UNIFORMS // max(ais * (2 * n + 2), 1))
        for lo in range(start, stop, rows) if annealing is not None else ():
            hi = min(lo + rows, stop)
            u = annealing.uniforms(hi - lo, rng)
            logw[lo:hi], E[lo:hi], _acc, _jumps = annealing.run(s[lo - start:hi - start], beta, u)
        M[start:stop] = s.sum(axis=1)
    if annealing is None:
        logw = f
    # PSIS is the tail diagnostic only: its smoothed weights shrink the largest ones, which biases ln Z low
    # by more than the standard error they give (measured: open 16 x 16 +-J seed 7, one trained q, ten
    # evaluations of 10^4 samples at beta = 3, k-hat 0.33-0.75: smoothed 0.03 nats low on average and within
    # 3 SE in 3 of 10; raw 0.017 low and within 3 SE in 8 of 10; docs/performance.md)
    khat = psis(logw)[1]
    top = logw.max()
    w = np.exp(logw - top)
    rho = w / w.sum()
    lnz = top + math.log(w.mean())
    U = float(rho @ E)
    Mbar = float(rho @ M)
    dlnz = rho - 1.0 / samples
    dU = rho * (E - U)

    def se(infl):
        """Delta-method standard error: the root sum of squares of the influences ``infl``.

        Parameters
        ----------
        infl : ndarray of float64, shape (M,)
            Influence of each sample.

        Returns
        -------
        float
            The standard error.
        """
        return float(np.sqrt(np.sum(infl * infl)))

    return Estimates(
        elbo=float(f.mean()), elbo_se=float(f.std(ddof=1) / math.sqrt(samples)) if samples > 1 else math.nan,
        lnz_is=lnz, lnz_is_se=se(dlnz), lnz_lower_prob=markov_lower_bound(logw, delta),
        khat=float(khat), ess=float(1.0 / np.sum(rho * rho)), one_state=one_state,
        energy=U, energy_se=se(dU), entropy=lnz + beta * U, entropy_se=se(dlnz + beta * dU),
        magnetisation=Mbar, magnetisation_se=se(rho * (M - Mbar)),
    )


def compile_kernels(model) -> None:
    """Compile every kernel (empty or tiny calls) so that no later call waits on the compiler.

    Parameters
    ----------
    model : IsingModel
        Sizes the networks of the warm-up calls.
    """
    from .kernels import ais, ar

    for depth in (1, 2):
        net = Network(max(model.n, 1), depth, 1)
        s = np.empty((0, net.n))
        _lnq, a, h = net.forward(s, np.empty((0, net.n)))
        net.gradient(s, a, h, np.empty(0))
    e = np.zeros(2, dtype=np.int64)
    k = np.zeros((1, 1))
    ar.sparse_forward(np.zeros(1), e, e[:0], np.empty(0), np.zeros((0, 1)), k, k, np.zeros((0, 1)), np.zeros((0, 1)),
                      True, np.empty(0), np.zeros((0, 1)), np.zeros((0, 1, 1)))
    ar.sparse_backward(e, e[:0], k, np.zeros((0, 1)), np.zeros((0, 1)), np.zeros((0, 1, 1)), np.empty(0), np.zeros(1),
                       np.empty(0), np.zeros((0, 1)), k, k)
    ar.dense_energies(np.zeros((1, 1)), np.zeros(1), np.zeros((0, 1)), np.empty(0))
    ar.energies(np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int64), np.empty(0), np.zeros(1), np.zeros((0, 1)),
                np.empty(0))
    z = np.zeros(2, dtype=np.int64)
    for mirrored in (False, True):  # the annealing kernel (--ar-ais), both forms of q
        ais.anneal(np.zeros(1), z, z[:0], np.empty(0), z, z[:0], z[:0], z, z[:0], np.empty(0), np.zeros(1), 1.0,
                   np.array([0.0, 1.0]), mirrored, np.zeros((0, 1)), np.zeros((0, 0, 4)), np.empty(0), np.empty(0),
                   np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    small = Network(1, 1, 0)
    ar.exact_elbo(*small.arrays(), small.deg, small.cnt, np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int64),
                  np.empty(0), np.zeros(1))
