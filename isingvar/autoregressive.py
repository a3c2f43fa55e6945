"""Autoregressive variational free energies (VAN: Wu, Wang & Zhang, PRL 122, 080602 (2019)).

The trial distribution q(s) = prod_i q(s_i | s_<i) over the spins in the model's order
(s_0 first; :mod:`isingvar.kernels.ar` gives the network) can be sampled and evaluated exactly, so

    beta F~[q] = <beta E + ln q>_q = beta F + D_KL(q || P) >= beta F,   i.e.  ln Z >= S[q] - beta <E>_q.

Training minimises beta F~ over the network's parameters with the score-function gradient and the
batch-mean baseline, E_q[(beta E + ln q - b) grad ln q] (VAN eq. 5), by Adam, a fixed number of steps
per beta, the betas in ascending order, each warm-started from the previous one.  Every random draw
comes from the caller's numpy Generator, so a seed fixes every number.

Reported per beta (:func:`evaluate`, :func:`exact_lower_bound`):

- the certified bound S[q] - beta <E>_q summed exactly over all 2^N states (N <= :data:`EXACT_MAX_N`);
- its Monte Carlo estimate from fresh samples, with a standard error;
- the importance-sampling estimate of ln Z, ln mean(e^{-beta E}/q) (Nicoli et al., PRE 101, 023304
  (2020)), with a delta-method standard error and the effective sample size (sum w)^2 / sum w^2;
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


def train(net: Network, trainer: Trainer, model, beta: float, steps: int, batch: int, rng, check=None,
          progress=None) -> float:
    """``steps`` Adam steps on beta F~[q] with batches of ``batch`` samples.

    Parameters
    ----------
    net : Network
        The network trained, in place.
    trainer : Trainer
        Adam state of ``net``, updated in place.
    model : IsingModel
        The model whose free energy is bounded.
    beta : float
        Inverse temperature.
    steps : int
        Number of Adam steps.
    batch : int
        Samples per step.
    rng : numpy.random.Generator
        Source of every sample.
    check : callable() or None
        Called between steps (the interrupt point).
    progress : callable(k) or None
        Called with k (float) after every k steps.

    Returns
    -------
    float
        The last batch's mean of beta E + ln q (an estimate of beta F~, nats); NaN when ``steps`` is 0.
    """
    n = net.n
    s = np.empty((batch, n))
    loss = math.nan
    done = 0
    energy = energy_function(model)
    for step in range(steps):
        u = rng.random((batch, n))
        lnq, a, h = net.forward(s, u)
        x = beta * energy(s) + lnq
        loss = float(x.mean())
        # the baseline b = batch mean: unbiased up to O(1/B), and zero variance where q = P.  Taken
        # about x[0], so that equal x give exactly zero (Adam would blow rounding up to steps of lr)
        d = x - x[0]
        trainer.step(net.gradient(s, a, h, (d - d.mean()) / batch))
        if check is not None:
            check()
        done += 1
        if progress is not None and (done == 16 or step == steps - 1):
            progress(float(done))
            done = 0
    return loss


def exact_lower_bound(net: Network, model, beta: float) -> tuple[float, float, float]:
    """(ln Z lower bound, <E>_q, S[q]) summed exactly over all 2^N states (nats; energy).

    Parameters
    ----------
    net : Network
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
    indptr, indices, data = model.csr
    _sq, se, sl = ar.exact_elbo(*net.arrays(), net.deg, net.cnt, indptr, indices, data, model.fields)
    return -beta * se - sl, se, -sl


@dataclass
class Estimates:
    """Monte Carlo values at one beta from M fresh samples of q (totals, not per spin).

    The importance-sampling values use the Pareto-smoothed weights where ``khat`` <= 0.7 (or ``khat``
    is NaN: a constant tail, nothing to smooth), the raw ones otherwise (they are withheld there:
    :mod:`isingvar.methods.ar`).
    """

    elbo: float  #: mean of -beta E - ln q: estimate of the ln Z lower bound (nats)
    elbo_se: float
    lnz_is: float  #: ln mean(w) of the (smoothed) weights w = e^{-beta E}/q: estimate of ln Z (nats)
    lnz_is_se: float
    lnz_is_raw: float  #: ln mean(w) of the raw weights (nats)
    lnz_lower_prob: float  #: a lower bound on ln Z holding with probability >= 1 - delta (raw weights)
    khat: float  #: PSIS tail shape of the weights (NaN: constant tail)
    ess: float  #: (sum w)^2 / sum w^2 of the weights the estimates use, 1 .. M
    one_state: bool  #: every sample is the same state
    energy: float  #: importance-weighted <E> (energy)
    energy_se: float
    entropy: float  #: ln Z_is + beta <E>_w (nats)
    entropy_se: float
    magnetisation: float  #: importance-weighted <sum_i s_i> (total)
    magnetisation_se: float


def evaluate(net: Network, model, beta: float, samples: int, batch: int, rng, delta: float = 0.01) -> Estimates:
    """Estimates from ``samples`` fresh samples of q drawn in batches of ``batch``.

    Weights: w_k = e^{-beta E_k}/q(s_k), smoothed by PSIS (:func:`isingvar.importance.psis`; Vehtari et
    al., JMLR 25 (2024)) where its tail shape k-hat <= 0.7.  Standard errors: of the ELBO,
    std/sqrt(M); of the importance-sampling values, the delta method with normalised weights rho_k:
    ln Z_is has influence rho_k - 1/M, a weighted mean <A> has rho_k (A_k - <A>), the entropy the sum
    beta times the energy's plus ln Z's (all totals).  ``lnz_lower_prob`` is
    :func:`isingvar.importance.markov_lower_bound` of the raw weights at ``delta``.

    Parameters
    ----------
    net : Network
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

    Returns
    -------
    Estimates
        The Monte Carlo values at ``beta``.
    """
    from .importance import KHAT_MAX, markov_lower_bound, psis

    n = net.n
    energy = energy_function(model)
    E, lnq, M = np.empty(samples), np.empty(samples), np.empty(samples)
    one_state = True
    first = None
    for start in range(0, samples, batch):
        stop = min(start + batch, samples)
        s = np.empty((stop - start, n))
        lnq[start:stop] = net.forward(s, rng.random((stop - start, n)))[0]
        E[start:stop] = energy(s)
        M[start:stop] = s.sum(axis=1)
        first = s[0].copy() if first is None else first
        one_state = one_state and bool(np.all(s == first))
    logw = -beta * E - lnq
    lnz_raw = _log_mean_exp(logw)
    smoothed, khat = psis(logw)
    lw = smoothed if not khat > KHAT_MAX else logw
    top = lw.max()
    w = np.exp(lw - top)
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
        elbo=float(logw.mean()), elbo_se=float(logw.std(ddof=1) / math.sqrt(samples)) if samples > 1 else math.nan,
        lnz_is=lnz, lnz_is_se=se(dlnz), lnz_is_raw=lnz_raw, lnz_lower_prob=markov_lower_bound(logw, delta),
        khat=float(khat), ess=float(1.0 / np.sum(rho * rho)), one_state=one_state,
        energy=U, energy_se=se(dU), entropy=lnz + beta * U, entropy_se=se(dlnz + beta * dU),
        magnetisation=Mbar, magnetisation_se=se(rho * (M - Mbar)),
    )


def _log_mean_exp(x: np.ndarray) -> float:
    top = float(x.max())
    return top + math.log(float(np.mean(np.exp(x - top))))


def compile_kernels(model) -> None:
    """Compile every kernel (empty or tiny calls) so that no later call waits on the compiler.

    Parameters
    ----------
    model : IsingModel
        Sizes the networks of the warm-up calls.
    """
    from .kernels import ar

    for depth in (1, 2):
        net = Network(max(model.n, 1), depth, 1)
        s = np.empty((0, net.n))
        _lnq, a, h = net.forward(s, np.empty((0, net.n)))
        net.gradient(s, a, h, np.empty(0))
    ar.dense_energies(np.zeros((1, 1)), np.zeros(1), np.zeros((0, 1)), np.empty(0))
    ar.energies(np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int64), np.empty(0), np.zeros(1), np.zeros((0, 1)),
                np.empty(0))
    small = Network(1, 1, 0)
    ar.exact_elbo(*small.arrays(), small.deg, small.cnt, np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int64),
                  np.empty(0), np.zeros(1))
