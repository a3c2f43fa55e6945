"""Importance-sampling diagnostics and a probabilistic lower bound on ln Z.

Every function takes the log importance weights of M samples x_k drawn i.i.d. from a proposal q,

    logw_k = -beta E(x_k) - ln q(x_k),        so that    mean_k exp(logw_k)  is an unbiased estimate of Z

when q reaches every state (and of a part of Z, never more, when it does not).  A log-weight of -inf
(a sample that q drew but that has zero weight under p) is allowed everywhere; NaN and +inf are not.

- :func:`psis`: Pareto-smoothed importance sampling (PSIS) and its tail-shape diagnostic k-hat
  (Vehtari, Simpson, Gelman, Yao & Gabry, "Pareto smoothed importance sampling", JMLR 25 (2024) 1-58),
  through ArviZ's implementation (``arviz_stats``, imported only when :func:`psis` is called);
- :func:`ess`, :func:`ess_floor`: the effective sample size (Kong 1992) and the floor below which an
  estimate is withheld (issue 19);
- :func:`markov_lower_bound`: a lower bound on ln Z that holds with probability >= 1 - delta however
  poor q is, from Markov's inequality on the raw weights (Gogate, Bidyuk & Dechter, UAI 2007).

Pure functions of numpy arrays; nothing here draws random numbers.
"""

from __future__ import annotations

import math

import numpy as np

#: PSIS's threshold on k-hat (Vehtari et al. 2024): above it the weights' variance is
#: (nearly) infinite and the estimate unreliable whatever the sample size.
KHAT_MAX = 0.7

#: Fewest finite log-weights :func:`psis` fits a tail to: PSIS takes the largest min(M/5, 3 sqrt(M))
#: of them (r_eff = 1) and needs at least 5.
PSIS_MIN_DRAWS = 25


def _as_logw(logw) -> np.ndarray:
    """``logw`` as a non-empty 1-D float64 array with no NaN and no +inf, else ValueError."""
    a = np.asarray(logw, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"logw must be a non-empty 1-D array, got shape {a.shape}")
    if np.isnan(a).any() or np.isposinf(a).any():
        raise ValueError("logw contains NaN or +inf: log-weights must be finite or -inf (a zero weight)")
    return a


def _logsumexp(a: np.ndarray) -> float:
    """ln sum exp(a) over a 1-D float array; -inf when every entry is -inf (or ``a`` is empty)."""
    if a.size == 0:
        return -math.inf
    top = float(a.max())
    if top == -math.inf:
        return -math.inf
    return top + math.log(float(np.exp(a - top).sum()))


def psis(logw) -> tuple[np.ndarray, float]:
    """Pareto-smoothed importance sampling: smoothed log-weights and the tail shape k-hat.

    PSIS fits a generalized Pareto distribution to the largest T = min(M/5, 3 sqrt(M)) weights
    (r_eff = 1: the samples are independent) and replaces them, in their order, by the fitted tail's
    quantiles at (j - 1/2)/T, j = 1..T, capped at the largest raw weight (Vehtari, Simpson, Gelman,
    Yao & Gabry, "Pareto smoothed importance sampling", JMLR 25 (2024) 1-58).  The fitted shape k-hat
    says how far the estimate can be trusted: below 0.5 the weights have a finite variance, below
    :data:`KHAT_MAX` = 0.7 the smoothed estimate is reliable, above 1 the mean itself may not exist
    (ibid.).  Computed by ArviZ (``arviz_stats.base.array_stats.psislw``,
    which negates its input because it is built for leave-one-out ratios 1/likelihood, and returns
    weights normalised to sum 1); this function undoes both, so the result is on the input's scale.

    Parameters
    ----------
    logw : array_like of float, shape (M,)
        Raw log importance weights, ln(p~(x_k)/q(x_k)) of M i.i.d. samples of q, any additive scale.
        Entries may be -inf (weight 0); NaN or +inf raise.

    Returns
    -------
    log_weights : numpy.ndarray of float64, shape (M,)
        The smoothed log-weights, unnormalised, on the same scale as ``logw``: the entries outside the
        fitted tail equal ``logw`` (to rounding), so ``logsumexp(log_weights) - ln M`` is the PSIS
        estimate of ln Z when ``logw`` = -beta E - ln q.  -inf entries stay -inf.
    khat : float
        The fitted tail shape.  NaN, with ``log_weights`` a copy of ``logw`` (nothing smoothed), when no
        tail can be fitted: fewer than :data:`PSIS_MIN_DRAWS` finite entries, every finite weight equal,
        or the T largest weights all equal (ArviZ's "All tail values are the same").  A non-finite
        k-hat from the fit itself is returned as such, with nothing smoothed.  Also NaN, nothing
        smoothed, when the fit degenerates: ties in the tail, as repeated states give (at least a
        quarter of the T largest weights equal to the largest weight below them), make ArviZ's
        estimator divide by zero.  NaN therefore means "no tail diagnosis", not "a light tail": judge
        such weights by :func:`ess` and the spread of the weights instead.

    Raises
    ------
    ValueError
        If ``logw`` is not a non-empty 1-D array, or holds NaN or +inf.

    Notes
    -----
    -inf entries are left out of the fit: the tail is fitted to the M' finite entries with T computed
    from M' (an atom at weight 0 does not change the shape of the upper tail).  With no -inf entry this
    is exactly ArviZ's PSIS of all M weights.
    """
    a = _as_logw(logw)
    out = a.copy()
    finite = np.isfinite(a)
    x = a[finite]
    if x.size < PSIS_MIN_DRAWS or x.max() == x.min():
        return out, math.nan
    from arviz_stats.base import array_stats  # heavy: only when smoothing is asked for

    try:
        # a degenerate fit divides by zero (a quarter of the tail tied with the largest weight
        # below it, as repeated states give) and would return NaN weights or a meaningless k-hat
        with np.errstate(divide="raise", invalid="raise", over="raise", under="ignore"):
            lw, khat = array_stats.psislw(-x, r_eff=1)
    except FloatingPointError:
        return out, math.nan
    except ValueError as err:
        if "All tail values are the same" in str(err):
            return out, math.nan
        raise
    lw = np.asarray(lw, dtype=np.float64)
    if not np.all(np.isfinite(lw)):
        return out, math.nan
    # ArviZ returns x - c with its tail replaced (c = max x + ln sum of the smoothed weights); the
    # smallest entry is never in the tail (T <= M'/5), so it gives c back.
    j = int(np.argmin(x))
    out[finite] = lw + (x[j] - lw[j])
    return out, float(khat)


def ess(logw) -> float:
    """Effective sample size of importance weights, (sum_k w_k)^2 / sum_k w_k^2.

    Kong, "A note on importance sampling using standardized weights", Tech. Rep. 348, Dept. of
    Statistics, U. Chicago (1992); Owen, *Monte Carlo theory, methods and examples* (2013), ch. 9.
    Computed from w_k / max_k w_k = exp(logw_k - max logw), so any additive scale of ``logw`` works.

    Parameters
    ----------
    logw : array_like of float, shape (M,)
        Log importance weights (-inf allowed: weight 0).

    Returns
    -------
    float
        The ESS, in [1, M] when some weight is positive (M when all are equal, 1 when one dominates);
        0.0 when every weight is 0 (every entry -inf).

    Raises
    ------
    ValueError
        If ``logw`` is not a non-empty 1-D array, or holds NaN or +inf.
    """
    a = _as_logw(logw)
    top = float(a.max())
    if top == -math.inf:
        return 0.0
    w = np.exp(a - top)  # in [0, 1], the largest exactly 1: no overflow, no total underflow
    return float(w.sum() ** 2 / (w * w).sum())


def ess_floor(m: int) -> float:
    """The least effective sample size an importance-sampling estimate from ``m`` samples needs:
    max(100, 0.01 m) (issue 19; below it the estimate is withheld).

    Parameters
    ----------
    m : int
        The number of samples drawn, >= 0.

    Returns
    -------
    float
        max(100, 0.01 m).

    Raises
    ------
    ValueError
        If ``m`` is negative or not a finite number.
    """
    m = float(m)
    if not math.isfinite(m) or m < 0:
        raise ValueError(f"ess_floor: the number of samples must be finite and >= 0, got {m}")
    return max(100.0, 0.01 * m)


def _batch_log_means(a: np.ndarray, n: int) -> np.ndarray:
    """ln mean(w) over each of ``n`` contiguous batches of ``a`` (sizes floor or ceil of M/n), (n,)."""
    M = a.size
    starts = (np.arange(n, dtype=np.int64) * M) // n
    sizes = np.diff(np.append(starts, M))
    top = np.maximum.reduceat(a, starts)
    shift = np.where(np.isfinite(top), top, 0.0)
    sums = np.add.reduceat(np.exp(a - np.repeat(shift, sizes)), starts)
    with np.errstate(divide="ignore"):
        return shift + np.log(sums) - np.log(sizes)


def markov_lower_bound(logw, delta: float) -> float:
    """A lower bound on ln Z that holds with probability >= 1 - delta over the draw of the samples.

    From the RAW weights w_k = exp(logw_k) (never smoothed ones: smoothing biases them), of M samples
    drawn i.i.d. from a q that was fixed before they were drawn, in the order drawn.  Nothing is assumed
    about how good q is: it holds for an untrained, heavy-tailed or mode-missing q alike.

    The bound.  Each w_k >= 0 has E_q[w] = sum_{x: q(x) > 0} exp(-beta E(x)) <= Z (equal when q reaches
    every state; smaller, which only helps, when q misses part of p's support).  For a batch size b,
    split the samples, in their order, into n_b = floor(M/b) contiguous batches (sizes floor or ceil of
    M/n_b) and let A_b = (1/n_b) sum_j ln mean(w over batch j).  The batches are independent, so
    E[prod_j mean_j(w)] <= Z^{n_b}: every Y_b = exp(n_b (A_b - ln Z)) is >= 0 with E[Y_b] <= 1.  With
    weights pi_b summing to 1, G(t) = sum_b pi_b exp(n_b (A_b - t)) is decreasing in t and
    E[G(ln Z)] <= 1, so by Markov's inequality P(G(ln Z) >= 1/delta) <= delta; the returned value is
    the root t* of G(t*) = 1/delta, and ln Z > t* whenever G(ln Z) < 1/delta.  The batch sizes are
    b = M (one batch: A_M = ln mean(w), pi = 1/2, the bound of Gogate, Bidyuk & Dechter, "Studies in
    lower bounding probability of evidence using the Markov inequality", UAI 2007) and b = 1, 2, 4, ...
    <= M/2 sharing the other 1/2 equally (b = 1: A_1 = mean(ln w), Markov on the product of the M
    weights, E[prod w_k] <= Z^M).  Since G(t*) = 1/delta >= pi_b exp(n_b (A_b - t*)) for each b, t* is
    at least every single term's bound at delta pi_b:

        t* >= max( ln mean(w) - ln(2/delta),   max_b A_b - ln(2 K / delta) / n_b ),

    K = floor(log2 M) the number of batch sizes below M, so it is never worse than the union of the
    mean bound and the product bound at delta/2 each, short of ln(K)/M on the latter, and much better
    in between (a batch of b samples averages out most of the spread of ln w, at a cost
    ln(2 K/delta)/n_b).  Batches of an ordering chosen without looking at the weights would do as
    well; an order that depends on the weights (sorting, say) voids the guarantee.

    Parameters
    ----------
    logw : array_like of float, shape (M,)
        Raw log importance weights, -beta E(x_k) - ln q(x_k), in the order drawn.  -inf allowed (weight
        0: a sample q drew that p weights 0); NaN or +inf raise.
    delta : float
        The allowed failure probability, in (0, 1), fixed before the samples were drawn.

    Returns
    -------
    float
        t* (nats): P(t* >= ln Z) <= delta.  -inf when every weight is 0.

    Raises
    ------
    ValueError
        If ``delta`` is not in (0, 1), or ``logw`` is not a non-empty 1-D array, or holds NaN or +inf.
    """
    d = float(delta)
    if not 0.0 < d < 1.0:  # False for NaN too
        raise ValueError(f"markov_lower_bound: delta must lie in (0, 1), got {delta!r}")
    a = _as_logw(logw)
    M = a.size
    lme = _logsumexp(a) - math.log(M)
    if lme == -math.inf:
        return -math.inf
    sizes = [1 << j for j in range(max(M.bit_length(), 1)) if (1 << j) <= M // 2]
    logc = [math.log(0.5 if sizes else 1.0)]
    n = [1.0]
    A = [lme]
    for b in sizes:
        nb = M // b
        Ab = float(_batch_log_means(a, nb).mean())
        if Ab > -math.inf:  # a batch of zero weights: the term is 0, whatever t
            logc.append(math.log(0.5 / len(sizes)))
            n.append(float(nb))
            A.append(Ab)
    logc, n, A = np.array(logc), np.array(n), np.array(A)
    ln_inv_delta = -math.log(d)

    def excess(t: float) -> float:
        """ln G(t) - ln(1/delta): decreasing in t, zero at the bound.

        Parameters
        ----------
        t : float
            A candidate bound (nats).

        Returns
        -------
        float
            The excess.
        """
        return _logsumexp(logc + n * (A - t)) - ln_inv_delta

    # lo: one term alone reaches 1/delta, so G(lo) >= 1/delta; hi: every term <= 1/(delta #terms).
    lo = float(np.max(A + (logc - ln_inv_delta) / n))
    hi = float(np.max(A + (logc - ln_inv_delta + math.log(A.size)) / n))
    for _ in range(200):  # bisection keeping G(lo) >= 1/delta: the bound errs low, never high
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        if excess(mid) >= 0.0:
            lo = mid
        else:
            hi = mid
    return lo
