"""Autoregressive variational family (VAN) as a method: a certified lower bound on ln Z for N <= 24,
a lower bound that holds with probability 1 - delta at any N, and importance-sampling estimates of
ln Z, u, s, m at any N, shown only where their diagnostics pass (:mod:`isingvar.autoregressive`).

Variables (totals for ln Z, per spin for f, u, s, m; every ``X_se`` is the Monte Carlo standard
error of ``X``, a naming convention that ``show`` and ``plot`` use for error bars):

- ``lnZ_ar_lower`` <= ln Z and ``f_ar_upper`` >= f: the ELBO S[q] - beta <E>_q of the trained q,
  summed exactly over all 2^N states (certified; NaN for N > 24);
- ``lnZ_ar_lower_prob`` <= ln Z and ``f_ar_upper_prob`` >= f with probability >= 1 - delta
  (``--ar-delta``, in the variables' ``delta`` attribute): Markov's inequality on the raw importance
  weights of ``--ar-samples`` fresh samples (:func:`isingvar.importance.markov_lower_bound`);
- ``lnZ_ar_is`` +- ``lnZ_ar_is_se`` (and ``f_ar_is`` +- ``f_ar_is_se``): ln of the mean
  Pareto-smoothed importance weight e^{-beta E}/q, an estimate of ln Z itself (Nicoli et al., PRE
  101, 023304 (2020); Vehtari et al., JMLR 25 (2024));
- ``u_ar``, ``s_ar``, ``m_ar`` with ``_se``: self-normalised importance-sampling estimates;
- ``ar_status``: 0 where those estimates are shown, else why they are NaN (PSIS k-hat > 0.7, ESS
  below max(100, 1 % of the samples), every sample one state, or outside the certified interval or away
  from an exact ln Z: :func:`isingvar.methods.screen_estimates`; a q that never draws some states of p
  passes every diagnostic of its own samples, which is why ``--ar-lr`` is bounded, :data:`MAX_LR`); the
  diagnostics ``ar_khat``, ``ar_ess``, ``lnZ_ar_is_raw`` (the raw-weight estimate, kept for the study
  of failures) and ``lnZ_ar_elbo`` +- ``lnZ_ar_elbo_se`` (the Monte Carlo ELBO of q, a diagnostic of its
  training);
- ``ar_steps``: Adam steps trained at that beta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TooLargeError
from ..thermo import check_betas
from .base import ESTIMATE_STATUS, Method, Nonfinite, Var, check_settings, model_file_lnZ, setting, status_var

_NAN = Nonfinite.NAN
_INF0 = Nonfinite.NEG_INF_AT_BETA0
_FLAGGED = Nonfinite.NAN_WHERE_FLAGGED  # an estimate: NaN only where ar_status withholds it

#: Largest N the method runs on: the depth-1 network alone has N^2 parameters and every sample
#: costs O(N^2) (the sweep's check refuses above it).
MAX_N = 4096

#: Seconds per multiply-add of the cost model (forward + backward per training sample, forward per
#: evaluation sample, 2^N leaf updates of the exact sum), calibrated on the development machine
#: (2-core Xeon, shared) with benchmarks/ar.py: sk n = 20 and n = 100 fall within a factor 2.
SECONDS_PER_FLOP = 5e-10


#: Most Adam steps per beta, training and evaluation samples and hidden units: far beyond any run that
#: ends (each step draws a batch of N-spin samples), and ``ar_steps`` is stored as a 32-bit integer.
#: What fits the memory a method may use is decided with the rest of the settings by :func:`memory`.
MAX_STEPS = 10**8
MAX_DEPTH = 100
MAX_HIDDEN = 2**16
MAX_BATCH = 2**24
MAX_SAMPLES = 10**9
#: Largest Adam learning rate.  Adam moves every parameter by about lr per step, so a large rate saturates
#: conditionals of q in the first steps and q never draws the states behind them again: its importance
#: weights then look perfect (k-hat and ESS pass) while ln Z misses their mass, which no diagnostic of q's
#: own samples can see (only an exact value or a certified bound does: ``screen_estimates``).  Measured on
#: sk N = 12, seeds 0-5, beta 0.5, 1, 2 (and 3 up to lr 0.05); 200 steps, batch 256, 10^4 samples: up to
#: lr 0.05 every estimate the diagnostics pass is within 3.8 standard errors of exact ln Z; at 0.1 one is 57
#: SE low (0.04 nats), at 0.3 three (up to 160 SE), at 1 eleven of twelve (0.06 to 0.56 nats, issue 20).
MAX_LR = 0.05


@dataclass(frozen=True)
class Settings:
    """Autoregressive settings (``--ar-depth``, ``--ar-hidden``, ...; TOML table ``[ar]``), each bounded
    (:func:`isingvar.methods.base.setting`); their memory together is :func:`memory`."""

    #: 1: a_i = b_i + sum_{j<i} W_ij s_j; d >= 2: MADE with d - 1 tanh hidden layers
    depth: int = setting(1, ge=1, le=MAX_DEPTH, why="each layer adds hidden^2 parameters; deeper nets do not train")
    hidden: int = setting(32, ge=1, le=MAX_HIDDEN)  #: width of each hidden layer (depth >= 2)
    #: Adam steps per beta (warm-started from the previous beta of the grid)
    steps: int = setting(200, ge=0, le=MAX_STEPS)
    batch: int = setting(256, ge=2, le=MAX_BATCH)  #: samples per training step
    #: Adam learning rate
    lr: float = setting(0.01, gt=0, le=MAX_LR, why="larger Adam steps lose states of p that the estimates cannot "
                        "see missing")
    #: fresh samples for the Monte Carlo estimates at each beta
    samples: int = setting(10000, ge=2, le=MAX_SAMPLES)
    #: the probabilistic lower bound on ln Z fails with probability at most delta
    delta: float = setting(0.01, gt=0, lt=1)

    def __post_init__(self):
        """Check every field's type and bounds (:func:`isingvar.methods.base.check_settings`)."""
        check_settings("ar", self)


_MC = "Monte Carlo estimate from --ar-samples fresh samples of q"
_WITHHELD = "NaN where ar_status is not 0"
_LNZ = Var("lnZ_ar_lower", "lower", "lnZ", "nat",
           "autoregressive variational lower bound on ln Z (<= lnZ_exact), certified: S[q] - beta <E>_q summed "
           "exactly over all 2^N states; NaN for N > 24", nonfinite=_NAN)
_MODEL_VAR, _file_hook = model_file_lnZ(_LNZ)  # lnZ_model_ar_lower: a lower bound on the file's ln Z

#: In the order of the file (a new variable is one line at its place).
VARIABLES = (
    _LNZ,
    Var("f_ar_upper", "upper", "f", "energy per spin",
        "autoregressive variational upper bound on the free energy per spin (>= f_exact), certified, "
        "-lnZ_ar_lower/(beta N); NaN for N > 24", nonfinite=_NAN | _INF0),
    Var("lnZ_ar_lower_prob", "lower_prob", "lnZ", "nat",
        "lower bound on ln Z that holds with probability >= 1 - delta (attribute delta, --ar-delta): Markov's "
        "inequality on the raw importance weights of --ar-samples fresh samples of q; a bound, not certified"),
    Var("f_ar_upper_prob", "upper_prob", "f", "energy per spin",
        "upper bound on the free energy per spin, -lnZ_ar_lower_prob/(beta N), that holds with probability "
        ">= 1 - delta (attribute delta); a bound, not certified", nonfinite=_INF0),
    Var("lnZ_ar_is", "estimate", "lnZ", "nat",
        f"importance-sampling estimate of ln Z itself, ln mean(exp(-beta E)/q), Pareto-smoothed weights ({_MC}; "
        f"approximation, not a bound; {_WITHHELD})", nonfinite=_FLAGGED),
    Var("lnZ_ar_is_se", "diagnostic", None, "nat", f"standard error of lnZ_ar_is (delta method); {_WITHHELD}",
        nonfinite=_NAN),
    Var("f_ar_is", "estimate", "f", "energy per spin",
        "importance-sampling estimate of the free energy per spin, -lnZ_ar_is/(beta N) (approximation, not a "
        f"bound; {_WITHHELD})", nonfinite=_FLAGGED | _INF0),
    Var("f_ar_is_se", "diagnostic", None, "energy per spin", f"standard error of f_ar_is; NaN at beta = 0; {_WITHHELD}",
        nonfinite=_NAN),
    Var("u_ar", "estimate", "u", "energy per spin",
        f"importance-weighted internal energy per spin ({_MC}; approximation, not a bound; {_WITHHELD})",
        nonfinite=_FLAGGED),
    Var("u_ar_se", "diagnostic", None, "energy per spin", f"standard error of u_ar (delta method); {_WITHHELD}",
        nonfinite=_NAN),
    Var("s_ar", "estimate", "s", "nat per spin",
        f"importance-sampling entropy per spin (lnZ_ar_is + beta N u_ar)/N ({_MC}; approximation, not a bound; "
        f"{_WITHHELD})", nonfinite=_FLAGGED),
    Var("s_ar_se", "diagnostic", None, "nat per spin", f"standard error of s_ar (delta method); {_WITHHELD}",
        nonfinite=_NAN),
    Var("m_ar", "estimate", "m", "1",
        f"importance-weighted magnetisation per spin ({_MC}; approximation, not a bound; {_WITHHELD})",
        nonfinite=_FLAGGED),
    Var("m_ar_se", "diagnostic", None, "1", f"standard error of m_ar (delta method); {_WITHHELD}", nonfinite=_NAN),
    status_var("ar", ESTIMATE_STATUS,
               "whether the importance-sampling estimates at this point are shown (reliable) or why they are NaN: "
               "PSIS tail shape k-hat > 0.7, effective sample size below max(100, 1 % of --ar-samples), outside "
               "the certified interval of the file's bounds, or away from its exact ln Z, by more than 3 standard "
               "errors, or every sample one state"),
    Var("ar_khat", "diagnostic", "khat", "1",
        "Pareto-smoothed importance sampling tail shape k-hat of the weights (Vehtari et al., JMLR 25 (2024)); "
        "the estimates are withheld above 0.7; NaN where the largest weights are all equal (nothing to fit)",
        nonfinite=_NAN),
    Var("ar_ess", "diagnostic", "ess", "1",
        "effective sample size (sum w)^2/sum w^2 of the importance weights the estimates use (smoothed where "
        "k-hat <= 0.7), 1 .. --ar-samples"),
    Var("lnZ_ar_is_raw", "diagnostic", None, "nat",
        "ln of the mean raw importance weight, kept where lnZ_ar_is is withheld, for the study of failures "
        "(not an estimate to use: see ar_status)"),
    Var("lnZ_ar_elbo", "diagnostic", "elbo", "nat",
        f"Monte Carlo estimate of the ELBO S[q] - beta <E>_q of the trained q ({_MC}): how well q is trained; "
        "an estimate of a lower bound, neither a bound nor an estimate of ln Z"),
    Var("lnZ_ar_elbo_se", "diagnostic", None, "nat", "standard error of lnZ_ar_elbo"),
    Var("ar_steps", "diagnostic", None, "1", "Adam steps trained at this beta", dtype="i4", fill=-1),
    _MODEL_VAR,
)
_STATUS = {name: code for code, name in enumerate(ESTIMATE_STATUS)}


def status(est, samples: int) -> int:
    """The ``ar_status`` code of one beta's :class:`isingvar.autoregressive.Estimates` from its own diagnostics.

    The certified-interval test comes later, across methods.

    Parameters
    ----------
    est : isingvar.autoregressive.Estimates
        One beta's estimates.
    samples : int
        Number M of samples they come from.

    Returns
    -------
    int
        Index into :data:`isingvar.methods.base.ESTIMATE_STATUS`: single_state where every sample was one
        state, khat_above_0.7, ess_below_floor (:func:`isingvar.importance.ess_floor`), else reliable.
    """
    from ..importance import KHAT_MAX, ess_floor

    if est.one_state:
        return _STATUS["single_state"]
    if est.khat > KHAT_MAX:
        return _STATUS["khat_above_0.7"]
    if est.ess < ess_floor(samples):
        return _STATUS["ess_below_floor"]
    return _STATUS["reliable"]


def run(model, betas, settings, rng, *, sites=False, progress=None) -> dict:
    """Train q up the beta grid and report its bound and estimates (method plug-in entry point).

    Parameters
    ----------
    model : IsingModel
        Already scaled to the sweep's J and h; N <= :data:`MAX_N`.
    betas : ndarray of float64, shape (nb,)
        Finite, >= 0, any order; processed in ascending order, each beta's training warm-started from
        the previous one.
    settings : Settings
        The method's settings.
    rng : numpy.random.Generator
        Every random draw (hidden-layer initialisation, training and evaluation samples) comes from it.
    sites : bool, default False
        Unused.
    progress : callable(step) or None
        ``steps + 1`` units per beta.

    Returns
    -------
    dict of float64 (nb,) arrays (see the module docstring and :data:`VARIABLES`), ``ar_steps`` int32,
    ``ar_status`` int8 (from the estimates' own diagnostics, :func:`status`; the estimates themselves are
    withheld by :func:`isingvar.methods.screen_estimates`).
    """
    from ..autoregressive import EXACT_MAX_N, Network, Trainer, compile_kernels, evaluate, exact_lower_bound, train
    from ..interrupt import deferred_interrupt
    from ..thermo import free_energy_per_spin

    b = check_betas(betas)
    n, nb = model.n, b.size
    names = [v.name for v in VARIABLES if v.dtype == "f8" and not v.model_file]  # the file_hook fills those
    out = {name: np.full(nb, np.nan) for name in names}
    out["ar_steps"] = np.full(nb, settings.steps, dtype=np.int32)
    out["ar_status"] = np.zeros(nb, dtype=np.int8)
    compile_kernels(model)
    net = Network(n, settings.depth, settings.hidden, rng)
    trainer = Trainer(net, settings.lr)
    with deferred_interrupt() as check:
        for q in np.argsort(b, kind="stable"):
            beta = float(b[q])
            train(net, trainer, model, beta, settings.steps, settings.batch, rng, check, progress)
            est = evaluate(net, model, beta, settings.samples, settings.batch, rng, settings.delta)
            if n <= EXACT_MAX_N:
                out["lnZ_ar_lower"][q] = exact_lower_bound(net, model, beta)[0]
            out["lnZ_ar_elbo"][q], out["lnZ_ar_elbo_se"][q] = est.elbo, est.elbo_se
            out["lnZ_ar_is"][q], out["lnZ_ar_is_se"][q] = est.lnz_is, est.lnz_is_se
            out["u_ar"][q], out["u_ar_se"][q] = est.energy / n, est.energy_se / n
            out["s_ar"][q], out["s_ar_se"][q] = est.entropy / n, est.entropy_se / n
            out["m_ar"][q], out["m_ar_se"][q] = est.magnetisation / n, est.magnetisation_se / n
            out["ar_ess"][q], out["ar_khat"][q], out["lnZ_ar_is_raw"][q] = est.ess, est.khat, est.lnz_is_raw
            out["lnZ_ar_lower_prob"][q] = est.lnz_lower_prob
            out["ar_status"][q] = status(est, settings.samples)
            check()
            if progress is not None:
                progress(1.0)
    out["f_ar_upper"] = free_energy_per_spin(out["lnZ_ar_lower"], b, n)
    out["f_ar_upper"][np.isnan(out["lnZ_ar_lower"])] = np.nan
    out["f_ar_upper_prob"] = free_energy_per_spin(out["lnZ_ar_lower_prob"], b, n)
    out["f_ar_is"] = free_energy_per_spin(out["lnZ_ar_is"], b, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["f_ar_is_se"] = np.where(b > 0, out["lnZ_ar_is_se"] / (b * n), np.nan)
    return out


def _flops(n, n_edges, settings):
    """(multiply-adds per training sample, per evaluation sample, per leaf of the exact sum)."""
    L = settings.depth - 1 if n >= 2 else 0
    H = settings.hidden if L else 0
    forward = n * n / 2 + (n * H / 2 + n * H / 2 + (L - 1) * H * H / 2 if L else 0) + 2 * n_edges
    # a leaf of the exact sum: about one inner-node update (prefix sums, copies of the hidden layers)
    # plus exp, log-sigmoid and the compensated sums (measured: ~200 ns at N = 22, depth 1)
    return 3 * forward, forward, 4 * (60 + 2 * n + 2 * n_edges / max(n, 1)) + 14 * L * H


def cost(model, betas, settings, *, sites=False) -> float:
    """Estimated seconds of :func:`run` (a formula, no timing).

    Multiply-adds of training (steps x batch samples), evaluation (samples) and, for N <= 24, the exact
    sum over 2^N states, per beta, times :data:`SECONDS_PER_FLOP`.

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (their count matters).
    settings : Settings
        The method's settings.
    sites : bool, default False
        Unused.

    Returns
    -------
    float
        Estimated seconds.
    """
    from ..autoregressive import EXACT_MAX_N

    nb = np.asarray(betas).size
    train_f, eval_f, leaf_f = _flops(model.n, model.n_edges, settings)
    work = settings.steps * settings.batch * train_f + settings.samples * eval_f
    if model.n <= EXACT_MAX_N:
        work += 2.0**model.n * leaf_f
    return nb * work * SECONDS_PER_FLOP


def memory(n, n_edges, betas, settings) -> float:
    """Estimated peak bytes of :func:`run` on N spins and E coupled pairs (a formula: nothing built).

    float64 everywhere: the parameters and their masks, Adam's two moments, the gradient and the
    update's temporaries (10 vectors of the P parameters); a batch of B samples (samples, uniforms,
    activations and hidden layers, their gradients: B (3N + 3LH + 8) values); the evaluation's 18 values per sample
    (energies, ln q, magnetisations, weights, their smoothing and influence functions); the exact
    sum's tree of partial states for N <= 24; the dense couplings of a dense model; 1 MiB besides.
    Against tracemalloc's peak of one run (tests/test_settings_defects.py): from 1.0 to 2.5 times it,
    from N = 12 to 1500, hidden 2048 to 4096, batch 2^19 and 10^7 samples.

    Parameters
    ----------
    n : int
        Number of spins N.
    n_edges : int
        Number of coupled pairs E.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (unused).
    settings : Settings
        The method's settings.

    Returns
    -------
    float
        Estimated peak bytes.
    """
    from ..autoregressive import EXACT_MAX_N

    L = settings.depth - 1 if n >= 2 else 0
    H = settings.hidden if L else 0
    params = n + n * n + 2 * H * n + L * H + max(L - 1, 0) * H * H
    values = 10 * params + settings.batch * (3 * n + 3 * L * H + 8) + 18 * settings.samples
    if n <= EXACT_MAX_N:
        values += (n + 1) * (3 * n + H + max(L, 1) * H + 4)
    if 2 * n_edges >= n * n / 4:  # the dense energy function (autoregressive.energy_function)
        values += n * n
    return 8.0 * values + 2**20


def check(model, betas, settings, *, sites) -> None:
    """Refuse N > :data:`MAX_N` (the network alone would hold N^2 parameters).

    Parameters
    ----------
    model : IsingModel
        The instance.
    betas : array_like of float, shape (nb,)
        Inverse temperatures (unused).
    settings : Settings
        The method's settings (unused).
    sites : bool
        Unused.

    Raises
    ------
    TooLargeError
        For N > :data:`MAX_N`.
    """
    n = model.n
    if n > MAX_N:
        raise TooLargeError(f"method ar runs on at most N = {MAX_N} spins (its network has N^2 parameters), "
                            f"got N = {n}; leave out --method ar or use a smaller model")


def progress_units(n, betas, settings) -> float:
    """steps + 1 units per beta: one per training step, one for the evaluation.

    Parameters
    ----------
    n : int
        Number of spins (unused).
    betas : sequence of float
        Inverse temperatures.
    settings : Settings
        The method's settings.

    Returns
    -------
    float
        Total progress units of :func:`run`.
    """
    return float(len(betas) * (settings.steps + 1))


METHOD = Method(
    name="ar",
    summary="autoregressive variational family (VAN): certified lower bound on ln Z for N <= 24, "
            "importance-sampling estimate of ln Z",
    settings=Settings,
    variables=VARIABLES,
    run=run,
    cost=cost,
    progress_units=progress_units,
    check=check,
    memory=memory,
    file_hook=_file_hook,
    var_attrs=lambda settings: {name: {"delta": settings.delta} for name in ("lnZ_ar_lower_prob", "f_ar_upper_prob")},
)
