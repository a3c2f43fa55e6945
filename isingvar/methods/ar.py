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
- ``lnZ_ar_is`` +- ``lnZ_ar_is_se`` (and ``f_ar_is`` +- ``f_ar_is_se``): ln of the mean raw
  importance weight e^{-beta E}/q, an estimate of ln Z itself (Nicoli et al., PRE 101, 023304 (2020)),
  or with ``--ar-ais`` T > 0 of the weights of annealed importance sampling from q (T steps from each
  sample toward p, each a proposal from q and a Metropolis sweep; Neal, Statistics and Computing 11, 125
  (2001); E[w] = Z either way);
  the weights' Pareto tail shape k-hat (Vehtari et al., JMLR 25 (2024)) decides whether it is shown;
- ``u_ar``, ``s_ar``, ``m_ar`` with ``_se``: self-normalised importance-sampling estimates;
- ``ar_status``: 0 where those estimates are shown, else why they are NaN (PSIS k-hat > 0.7 or undefined, ESS
  below max(100, 1 % of the samples), every sample one state, or outside the certified interval or away
  from an exact ln Z: :func:`isingvar.methods.screen_estimates`; a q that never draws some states of p
  passes every diagnostic of its own samples, which is why ``--ar-lr`` is bounded, :data:`MAX_LR`); the
  diagnostics ``ar_khat``, ``ar_ess``, ``lnZ_ar_is_raw`` (the same raw-weight estimate, kept where
  ``lnZ_ar_is`` is withheld, for the study of failures) and ``lnZ_ar_elbo`` +- ``lnZ_ar_elbo_se`` (the Monte Carlo ELBO of q, a diagnostic of its
  training);
- ``ar_steps``: Adam steps at that beta of the q reported (its best checkpoint; a beta stops early where
  ``--ar-stop-ess`` is met); ``ar_fkl_steps``: the forward-KL steps that followed (N > 24, where the
  held-out ESS stayed below ``--ar-stop-ess``: :func:`isingvar.autoregressive.refine`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SettingsError, TooLargeError
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
#: The architectures of ``--ar-arch`` (:class:`isingvar.autoregressive.SparseNetwork`, :class:`isingvar.autoregressive.Network`).
ARCHS = ("sparse", "dense")
MAX_HOPS = 64
#: Most annealing steps (``--ar-ais``): each is a proposal and a sweep over every spin of every evaluation sample.
MAX_AIS = 10**5
MAX_UNITS = 64
#: Fresh samples of each checkpoint's held-out score, in batches of ``--ar-batch``.
HOLDOUT_BATCHES = 4
#: Each beta anneals over 1/RAMP_FRACTION of its steps from the one before it, the lowest from beta = 0 (:func:`run`).
RAMP_FRACTION = 4


@dataclass(frozen=True)
class Settings:
    """Autoregressive settings (``--ar-depth``, ``--ar-hidden``, ...; TOML table ``[ar]``), each bounded
    (:func:`isingvar.methods.base.setting`); their memory together is :func:`memory`."""

    #: 1: a_i = b_i + sum_{j<i} W_ij s_j; d >= 2: MADE with d - 1 tanh hidden layers
    depth: int = setting(1, ge=1, le=MAX_DEPTH, why="each layer adds hidden^2 parameters; deeper nets do not train")
    hidden: int = setting(32, ge=1, le=MAX_HIDDEN)  #: width of each hidden layer (depth >= 2)
    #: the conditionals: "sparse" (two-body over the couplings' few-hop neighbourhood) or "dense" (depth/hidden)
    arch: str = setting("sparse")
    #: sparse: the earlier spins within this many bonds of spin i enter its conditional (8 with ``frontier``:
    #: on the open 16 x 16 +-J within one of 16's ten evaluations within 3 SE at beta 2 and 3; on the periodic
    #: 32 x 32, 19 pairs per spin against 16's 46, ESS 9,039 at beta 0.5 in 181 CPU s where 16 gave 2,983 in
    #: 335; docs/performance.md)
    hops: int = setting(8, ge=1, le=MAX_HOPS, why="the neighbourhood grows like hops^d on a lattice: the network "
                        "approaches the dense one")
    #: sparse: keep only the pairs whose earlier spin is still coupled to one not yet placed (the only spins the
    #: Boltzmann conditional depends on)
    frontier: bool = setting(True)
    #: sparse: tanh units per spin on the same inputs as its pairs (0: the two-body form alone)
    units: int = setting(0, ge=0, le=MAX_UNITS, why="each unit adds a weight per pair and a pass over them")
    #: most Adam steps per beta (warm-started from the previous beta of the grid; fewer where ``stop_ess``
    #: is met): 2,000 reaches the issue 23 targets on the 16 x 16 torus (benchmarks/ar.py lattice)
    steps: int = setting(2000, ge=0, le=MAX_STEPS)
    batch: int = setting(256, ge=2, le=MAX_BATCH)  #: samples per training step
    #: Adam learning rate
    lr: float = setting(0.01, gt=0, le=MAX_LR, why="larger Adam steps lose states of p that the estimates cannot "
                        "see missing")
    #: fresh samples for the Monte Carlo estimates at each beta
    samples: int = setting(10000, ge=2, le=MAX_SAMPLES)
    #: the probabilistic lower bound on ln Z fails with probability at most delta
    delta: float = setting(0.01, gt=0, lt=1)

    #: steps between held-out scores of q; the best-scoring q of each beta is the one reported (0: the last)
    checkpoint: int = setting(50, ge=0, le=MAX_STEPS)
    #: for N > 24, a beta's training stops at the first checkpoint (or the start) whose effective sample size
    #: is at least this fraction of its samples (0, and N <= 24 where the certified bound takes every step:
    #: always the full ``steps``)
    stop_ess: float = setting(0.9, ge=0, le=1)
    #: the learning rate falls from ``lr`` to ``decay`` x ``lr`` over each beta's steps (cosine; 1: constant)
    decay: float = setting(0.03, gt=0, le=1)
    #: annealing steps T of annealed importance sampling from q, each a proposal from q and a Metropolis sweep (0:
    #: the raw importance weights of q's own samples); the two-body q only (sparse without units, or dense of depth
    #: 1: any other q uses T = 0, :func:`ais_steps`, written in the estimates' ``ais_steps`` attribute).  10: on the
    #: open 16 x 16 +-J seed 7 at beta 2, ten evaluations of one q shown and within 3 SE 10 / 10 (plain: 1 / 5),
    #: ~8 CPU s per beta (docs/performance.md, "Autoregressive")
    ais: int = setting(10, ge=0, le=MAX_AIS, why="each step is a sweep over every spin of every evaluation sample")
    #: for N > 24 and the two-body q, Adam steps on beta F~ + KL(p || q) after training, the forward KL from
    #: samples of p that short annealing chains give (:func:`isingvar.autoregressive.refine`), at each beta whose
    #: held-out ESS is below ``stop_ess``: q learns the states of p its training let it under-weight (0: none).  150: on
    #: the open 16 x 16 +-J seed 7 at beta 3, k-hat 0.35-0.66 over ten evaluations of one q (without: 0.54-0.86),
    #: ~12 CPU s per beta (docs/performance.md, "Autoregressive")
    fkl_steps: int = setting(150, ge=0, le=MAX_STEPS)

    def __post_init__(self):
        """Check every field's type and bounds (:func:`isingvar.methods.base.check_settings`) and the
        architecture's name.

        Raises
        ------
        SettingsError
            For a field of a wrong type or out of its bounds, or an unknown ``arch``.
        """
        check_settings("ar", self)
        if self.arch not in ARCHS:
            raise SettingsError(f"--ar-arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")


def two_body(settings) -> bool:
    """Whether the settings give a two-body q (sparse without units, or dense of depth 1): the q that anneals.

    Parameters
    ----------
    settings : Settings
        The method's settings.

    Returns
    -------
    bool
        True for the q of :func:`isingvar.autoregressive.two_body`.
    """
    return settings.units == 0 if settings.arch == "sparse" else settings.depth == 1


def fkl_steps(n, settings) -> int:
    """The forward-KL steps a beta may take after training: ``fkl_steps`` for the two-body q at N > 24, else 0.

    Parameters
    ----------
    n : int
        Number of spins.
    settings : Settings
        The method's settings.

    Returns
    -------
    int
        Steps >= 0 (a beta whose held-out ESS meets ``stop_ess`` takes none).
    """
    from ..autoregressive import EXACT_MAX_N

    return settings.fkl_steps if n > EXACT_MAX_N and two_body(settings) else 0


def ais_steps(settings) -> int:
    """The annealing steps T the estimates use: ``ais`` for the two-body q, 0 for a q with units or hidden layers.

    The annealing kernel updates a flip's effect on q through the pair weights alone
    (:class:`isingvar.autoregressive.Annealing`); a q with tanh units (``units`` > 0) or MADE hidden layers
    (dense, ``depth`` > 1) keeps the raw importance weights of its own samples.  Written in the ``ais_steps``
    attribute of the estimates (:data:`METHOD`'s ``var_attrs``), so a file says which weights it holds.

    Parameters
    ----------
    settings : Settings
        The method's settings.

    Returns
    -------
    int
        T >= 0.
    """
    return settings.ais if two_body(settings) else 0


#: The variables whose values come from the (annealed) importance weights: they carry ``ais_steps``.
_WEIGHTED = ("lnZ_ar_is", "f_ar_is", "u_ar", "s_ar", "m_ar", "lnZ_ar_is_raw", "lnZ_ar_lower_prob", "f_ar_upper_prob",
             "ar_ess", "ar_khat")


def _var_attrs(settings) -> dict:
    """The attributes of ar's variables: ``delta`` of the probabilistic bounds, ``ais_steps`` of the weights' users.

    Parameters
    ----------
    settings : Settings
        The method's settings.

    Returns
    -------
    dict
        variable name -> {attribute: value}.
    """
    out = {name: {"ais_steps": ais_steps(settings)} for name in _WEIGHTED}
    for name in ("lnZ_ar_lower_prob", "f_ar_upper_prob"):
        out[name]["delta"] = settings.delta
    return out


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
        f"importance-sampling estimate of ln Z itself, ln mean(w), the raw importance weights of annealed "
        f"importance sampling from q, T steps (attribute ais_steps: --ar-ais for the two-body q, else 0; T = 0: "
        f"w = exp(-beta E)/q of q's own samples) ({_MC}; "
        f"approximation, not a bound; {_WITHHELD})", nonfinite=_FLAGGED),
    Var("lnZ_ar_is_se", "diagnostic", None, "nat", f"standard error of lnZ_ar_is (delta method); {_WITHHELD}",
        nonfinite=_NAN),
    Var("f_ar_is", "estimate", "f", "energy per spin",
        "importance-sampling estimate of the free energy per spin, -lnZ_ar_is/(beta N) (approximation, not a "
        f"bound; {_WITHHELD})", nonfinite=_FLAGGED | _INF0),
    Var("f_ar_is_se", "diagnostic", None, "energy per spin", f"standard error of f_ar_is; NaN at beta = 0; {_WITHHELD}",
        nonfinite=_NAN),
    Var("u_ar", "estimate", "u", "energy per spin",
        f"importance-weighted internal energy per spin, of the annealing chains' final states where ais_steps > 0 "
        f"({_MC}; approximation, not a bound; {_WITHHELD})", nonfinite=_FLAGGED),
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
               "errors, every sample one state, or k-hat undefined (no tail fit: ties among the largest weights)"),
    Var("ar_khat", "diagnostic", "khat", "1",
        "Pareto-smoothed importance sampling tail shape k-hat of the weights (Vehtari et al., JMLR 25 (2024)); "
        "the estimates are withheld above 0.7; NaN where the largest weights are all equal (nothing to fit)",
        nonfinite=_NAN),
    Var("ar_ess", "diagnostic", "ess", "1",
        "effective sample size (sum w)^2/sum w^2 of the raw importance weights the estimates use, "
        "1 .. --ar-samples"),
    Var("lnZ_ar_is_raw", "diagnostic", None, "nat",
        "ln of the mean raw importance weight, kept where lnZ_ar_is is withheld, for the study of failures "
        "(not an estimate to use: see ar_status)"),
    Var("lnZ_ar_elbo", "diagnostic", "elbo", "nat",
        f"Monte Carlo estimate of the ELBO S[q] - beta <E>_q of the trained q ({_MC}): how well q is trained; "
        "an estimate of a lower bound, neither a bound nor an estimate of ln Z"),
    Var("lnZ_ar_elbo_se", "diagnostic", None, "nat", "standard error of lnZ_ar_elbo"),
    Var("ar_steps", "diagnostic", None, "1",
        "Adam steps at this beta of the q reported (the best-scoring checkpoint, --ar-checkpoint)", dtype="i4",
        fill=-1),
    Var("ar_fkl_steps", "diagnostic", None, "1",
        "Adam steps on beta F~ + KL(p || q) at this beta after training (--ar-fkl-steps; 0 where the held-out "
        "ESS met --ar-stop-ess, for N <= 24 and for a q that is not two-body)", dtype="i4", fill=-1),
    _MODEL_VAR,
)
_STATUS = {name: code for code, name in enumerate(ESTIMATE_STATUS)}


#: Where k-hat is undefined (no tail fit: ties among the largest weights), the estimate is shown only if the
#: weights are nearly flat, ESS >= this fraction of the samples (measured: SK N = 16 after one training step,
#: beta = 1: ESS 12 % and the estimate 5.9 SE below exact, k-hat undefined; well-trained q: ESS > 50 %).
UNDIAGNOSED_ESS = 0.5
#: Weights this flat (ESS >= FLAT_ESS of the samples: coefficient of variation <= 0.1) need no tail diagnosis: their
#: k-hat is a fit to rounding-level noise (SK N = 16, beta = 0.1, a well-trained q: ESS 3999.9994 of 4000, k-hat 1.11).
FLAT_ESS = 0.99


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
        state (of a symmetrised q: one state or its mirror image), khat_above_0.7 (unless the weights are nearly
        flat, ESS >= :data:`FLAT_ESS` of the samples), khat_undefined (no tail could be
        fitted: ties among the largest weights, as repeated states give, and ESS below :data:`UNDIAGNOSED_ESS` of
        the samples), ess_below_floor
        (:func:`isingvar.importance.ess_floor`), else reliable.
    """
    from ..importance import KHAT_MAX, ess_floor

    if est.one_state:
        return _STATUS["single_state"]
    if est.khat > KHAT_MAX and est.ess < FLAT_ESS * samples:  # nearly flat weights: k-hat fits rounding noise
        return _STATUS["khat_above_0.7"]
    if not np.isfinite(est.khat) and est.ess < UNDIAGNOSED_ESS * samples:
        # no tail diagnosis (ties among the largest weights, as repeated states give): only nearly flat weights
        return _STATUS["khat_undefined"]
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
    from ..autoregressive import (
        EXACT_MAX_N,
        FKL_LR_FRACTION,
        Trainer,
        compile_kernels,
        energy_function,
        evaluate,
        exact_lower_bound,
        heldout_score,
        refine,
        train,
    )
    from ..interrupt import deferred_interrupt
    from ..meanfield import mean_field
    from ..thermo import free_energy_per_spin

    b = check_betas(betas)
    n, nb = model.n, b.size
    names = [v.name for v in VARIABLES if v.dtype == "f8" and not v.model_file]  # the file_hook fills those
    out = {name: np.full(nb, np.nan) for name in names}
    out["ar_steps"] = np.full(nb, settings.steps, dtype=np.int32)
    out["ar_fkl_steps"] = np.zeros(nb, dtype=np.int32)
    fkl = fkl_steps(n, settings)
    out["ar_status"] = np.zeros(nb, dtype=np.int8)
    compile_kernels(model)
    net, qmodel, order = make_network(model, settings, rng)
    mf = mean_field(model, b, rng=rng, keep_sites=True)
    holdout = HOLDOUT_BATCHES * settings.batch
    energy = energy_function(qmodel)
    trainer = None
    # the stopping rule serves the estimates, which need the ESS; where the certified bound is summed (N <= 24)
    # every step can tighten it, and steps are cheap (measured: sk N = 20 with the rule at 0.9, 8 samples,
    # the bound 29, 115, 33, 22 times tighter than mean field at beta 0.5, 1, 2, 3; 3,178, 210, 31, 26 at
    # 200 steps without it)
    stop_ess = settings.stop_ess if settings.stop_ess > 0 and n > EXACT_MAX_N else math.inf
    previous = 0.0  # the beta q was last trained at
    with deferred_interrupt() as check:
        for q in np.argsort(b, kind="stable"):
            beta = float(b[q])
            # the lowest beta starts from the mean-field q there, each later one from the previous beta's q:
            # a mean-field start at a higher beta is near-frozen, and the states it does not draw are lost
            # to the estimates (measured: 3 x 3 +-J at beta 2, 0.4 nats low, 43 SE);
            # for N > 24 (as the stopping rule) every beta anneals from the one q was trained at over a quarter of
            # its budget (measured: open 16 x 16 +-J seed 7, frontier pairs within 16 hops, at beta = 2: ESS
            # 3,623 of 10,000 with the ramp, 1,551 and k-hat 0.75 without); below, the certified bound takes
            # every step at the beta itself (sk N = 8, 40 steps, beta 0.5 then 1.5: with the ramp the bound
            # fell below mean field's)
            first = trainer is None
            ramp, start_theta = (settings.steps // RAMP_FRACTION if first or n > EXACT_MAX_N else 0), None
            if first:
                net.set_mean_field(mf.sites[q, order])
                trainer = Trainer(net, settings.lr)
            start, ess = heldout_score(net, energy, beta, holdout, rng)
            if first and not ess >= stop_ess:
                # train from the uniform q annealed up from beta = 0 over a quarter of the budget, the mean-field
                # q kept as the start to beat: a magnetised mean field at a beta where P is paramagnetic (a
                # glass) is a basin that training leaves slowly (measured: open 16 x 16 +-J at beta 0.5,
                # ESS 17 of 10,000 from mean field after 2,000 steps)
                start_theta = net.theta.copy()
                net.set_mean_field(np.zeros(n))
            if ess >= stop_ess:  # q is already good enough here
                out["ar_steps"][q] = 0
                if progress is not None:
                    progress(float(settings.steps))
            else:
                out["ar_steps"][q] = train(net, trainer, qmodel, beta, settings.steps, settings.batch, rng, check,
                                           progress, settings.checkpoint, holdout, start, stop_ess=stop_ess,
                                           decay=settings.decay, ramp=ramp, ramp_from=previous,
                                           start_theta=start_theta)[1]
            previous = beta
            if fkl:
                # q trained on KL(q || p) under-weights states of p (mode seeking); where its held-out weights show
                # it, steps on KL(p || q) from annealed samples (measured: docs/performance.md, "Autoregressive")
                if heldout_score(net, energy, beta, holdout, rng)[1] < stop_ess:
                    out["ar_fkl_steps"][q] = refine(net, qmodel, beta, fkl, settings.batch,
                                                    FKL_LR_FRACTION * settings.lr, rng, check, progress)
                elif progress is not None:
                    progress(float(fkl))
            est = evaluate(net, qmodel, beta, settings.samples, settings.batch, rng, settings.delta,
                           ais_steps(settings))
            if n <= EXACT_MAX_N:
                out["lnZ_ar_lower"][q] = exact_lower_bound(net, qmodel, beta)[0]
            out["lnZ_ar_elbo"][q], out["lnZ_ar_elbo_se"][q] = est.elbo, est.elbo_se
            out["lnZ_ar_is"][q], out["lnZ_ar_is_se"][q] = est.lnz_is, est.lnz_is_se
            out["u_ar"][q], out["u_ar_se"][q] = est.energy / n, est.energy_se / n
            out["s_ar"][q], out["s_ar_se"][q] = est.entropy / n, est.entropy_se / n
            out["m_ar"][q], out["m_ar_se"][q] = est.magnetisation / n, est.magnetisation_se / n
            out["ar_ess"][q], out["ar_khat"][q], out["lnZ_ar_is_raw"][q] = est.ess, est.khat, est.lnz_is
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


def make_network(model, settings, rng):
    """The network of ``settings`` for ``model``, the model in its order, and that order.

    ``sparse``: :class:`isingvar.autoregressive.SparseNetwork` over the model renumbered in
    :func:`isingvar.autoregressive.spin_order`; ``dense``: :class:`isingvar.autoregressive.Network` in the
    model's own order (hidden weights drawn from ``rng``).  Without fields (P(s) = P(-s)) either is
    :class:`isingvar.autoregressive.Symmetrised`.

    Parameters
    ----------
    model : IsingModel
        The instance.
    settings : Settings
        The method's settings.
    rng : numpy.random.Generator
        Source of the dense network's initial hidden weights.

    Returns
    -------
    net : Network, SparseNetwork or Symmetrised
        The uniform q.
    qmodel : IsingModel
        ``model`` with its sites in q's order (every total unchanged).
    order : ndarray of int64, shape (N,)
        Site of the model placed t-th by q.
    """
    from ..autoregressive import Network, SparseNetwork, Symmetrised, reorder, spin_order

    if settings.arch == "dense":
        net, qmodel, order = Network(model.n, settings.depth, settings.hidden, rng), model, np.arange(model.n)
    else:
        order = spin_order(model)
        qmodel = reorder(model, order)
        net = SparseNetwork(qmodel, settings.hops, settings.units, rng, settings.frontier)
    return (net if np.any(model.fields) else Symmetrised(net)), qmodel, order


#: Multiply-add equivalents (of :data:`SECONDS_PER_FLOP`) per spin of a forward pass (the sigmoid and
#: log-sigmoid of each conditional, the draw) and of a backward one; per pair weight of the sparse network
#: (an indexed gather: 1.6 ns forward, 1.1 ns backward); per coupled pair of an energy; per uniform drawn.
#: Measured with benchmarks/ar.py's ``cost`` on the development machine (16 x 16 open lattice, hops 2 to 8).
SPIN_FLOPS, SPIN_BACK_FLOPS, PAIR_FLOPS, PAIR_BACK_FLOPS, EDGE_FLOPS, UNIFORM_FLOPS = 100, 45, 3, 2, 2, 6
#: Per tanh unit of the sparse network (``--ar-units``), forward or backward: the tanh and its bookkeeping.
UNIT_FLOPS = 40
#: Per spin of an annealing sweep (``--ar-ais``: the proposal, Delta E, the bound that rejects most flips early)
#: and per pair weight of q (the children's terms, once at s and once at -s for a symmetrised q; the recomputation
#: every few sweeps).  Measured on the open 16 x 16 +-J seed 7 at beta 3 (benchmarks/ar.py coverage; 59 us per
#: chain and sweep, 11.3 pairs per spin, symmetrised).
AIS_SPIN_FLOPS, AIS_PAIR_FLOPS = 100, 16


def _net_sizes(n, settings, pairs):
    """(parameters, values per sample of one forward pass: logits and hidden layers) of the network."""
    if settings.arch == "sparse":
        k = settings.units
        return n + pairs * (1 + k) + 2 * n * k, n * (1 + k)
    L = settings.depth - 1 if n >= 2 else 0
    H = settings.hidden if L else 0
    return n + n * n + 2 * H * n + L * H + max(L - 1, 0) * H * H, n + L * H


def _flops(n, n_edges, settings, pairs, mirrored):
    """(multiply-adds per training sample, per fresh sample scored or evaluated, per state of the exact sum)."""
    hidden = 0
    if settings.arch == "sparse":
        k = settings.units
        forward = PAIR_FLOPS * pairs * (1 + k) + (SPIN_FLOPS + UNIT_FLOPS * k) * n
        backward = PAIR_BACK_FLOPS * pairs * (1 + k) + (SPIN_BACK_FLOPS + UNIT_FLOPS * k) * n
    else:
        L = settings.depth - 1 if n >= 2 else 0
        H = settings.hidden if L else 0
        hidden = L * H
        weights = n * n / 2 + (n * H + (L - 1) * H * H / 2 if L else 0)
        forward, backward = weights + SPIN_FLOPS * n, 2 * weights + SPIN_BACK_FLOPS * n
    energy = EDGE_FLOPS * 2 * n_edges
    if mirrored:  # a symmetrised q (no fields): the sampling pass and q at the mirror states, both back-propagated,
        # and the batch's flips, stacks and copies
        sample = 2 * forward + energy + UNIFORM_FLOPS * n + 10 * n
        return sample + 2 * backward, sample, 2 * forward + energy + 250 * n  # the exact sum: by NumPy blocks
    sample = forward + energy + UNIFORM_FLOPS * n
    # a leaf of the exact kernel: about one inner-node update (prefix sums, copies of the hidden layers) plus
    # exp, log-sigmoid and the compensated sums (measured: ~200 ns at N = 22, depth 1)
    return sample + forward + backward, sample, 4 * (60 + 2 * n + 2 * n_edges / max(n, 1)) + 14 * hidden


def cost(model, betas, settings, *, sites=False) -> float:
    """Estimated seconds of :func:`run` (a formula, no timing): an upper value, every beta taking its step budget.

    Multiply-adds per beta of training (``steps`` x ``batch`` samples, forward and backward passes), the
    checkpoints' held-out scores (:data:`HOLDOUT_BATCHES` x ``batch`` fresh samples each), evaluation
    (``samples``, each with ``ais`` annealing steps, a fresh sample and a sweep: :data:`AIS_SPIN_FLOPS`,
    :data:`AIS_PAIR_FLOPS`), for N > 24 the forward-KL steps (:func:`fkl_steps`; ``batch`` chains of
    :data:`isingvar.autoregressive.FKL_AIS` annealing steps each, a training pass over their final states) and, for
    N <= 24, the exact sum over 2^N states, times :data:`SECONDS_PER_FLOP`.  One
    forward pass: the P pair weights of the sparse network (:func:`isingvar.autoregressive.pair_count`)
    or the N^2/2 weights and hidden layers of the dense one, plus the per-spin work (:data:`SPIN_FLOPS`);
    a symmetrised q (a model without fields) takes two passes per sample (the sampling one and the mirror states) and two backward ones.

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
    from ..autoregressive import EXACT_MAX_N, FKL_AIS, pair_count

    nb = np.asarray(betas).size
    n = model.n
    pairs = pair_count(model, settings.hops, settings.frontier) if settings.arch == "sparse" else 0
    train_f, sample_f, leaf_f = _flops(n, model.n_edges, settings, pairs, not np.any(model.fields))
    checkpoints = 1 + (settings.steps // settings.checkpoint + 1 if settings.checkpoint else 0)
    work = (settings.steps * settings.batch * train_f
            + (checkpoints * HOLDOUT_BATCHES * settings.batch + settings.samples) * sample_f)
    mirrored = 2 if not np.any(model.fields) else 1
    pairs_q = pairs if settings.arch == "sparse" else n * (n - 1) // 2
    # an annealing step of one chain: a proposal (a fresh sample) and a sweep
    step = sample_f + AIS_SPIN_FLOPS * n + AIS_PAIR_FLOPS * mirrored * pairs_q + EDGE_FLOPS * 2 * model.n_edges
    work += settings.samples * ais_steps(settings) * step  # the annealing of every evaluation sample
    # forward-KL steps (an upper value: every beta takes them, after a held-out score): per chain a training
    # sample's passes (its draw, the score of its final state, the gradient) and its annealing
    fkl = fkl_steps(n, settings)
    if fkl:
        work += HOLDOUT_BATCHES * settings.batch * sample_f + fkl * settings.batch * (train_f + FKL_AIS * step)
    if n <= EXACT_MAX_N:
        work += 2.0**n * leaf_f
    return nb * work * SECONDS_PER_FLOP


def pair_bound(n, n_edges, hops) -> float:
    """Pairs P of the sparse network estimated from N, E and ``hops`` alone (:func:`memory` has no graph).

    The tree count of a graph of mean degree d = 2E/N: N/2 sum_{l=1..hops} d max(d - 1, 1)^(l-1), at most
    N(N-1)/2.  Exact on a chain and on a random regular graph below its girth, about 4 times P on a square
    lattice and 7 times on a cubic one at 4 hops (loops close the balls); a graph with hubs (a ``file``
    model) can exceed it.

    Parameters
    ----------
    n : int
        Number of spins N.
    n_edges : int
        Number of coupled pairs E.
    hops : int
        Largest graph distance of a pair.

    Returns
    -------
    float
        The estimate of P.
    """
    d = 2.0 * n_edges / max(n, 1)
    ball = sum(d * max(d - 1.0, 1.0) ** (k - 1) for k in range(1, hops + 1))
    return min(n * (n - 1) / 2.0, n * ball / 2.0)


def memory(n, n_edges, betas, settings) -> float:
    """Estimated peak bytes of :func:`run` on N spins and E coupled pairs (a formula: nothing built).

    float64 everywhere; the model's fields are not known here, so q is taken symmetrised (the larger).
    Held throughout: the P parameters (:func:`pair_bound` for the sparse network), their mask, Adam's two
    moments, the two gradients of a symmetrised q and their sum, the best checkpoint and the update's
    temporaries (12 vectors of P); the dense couplings of a dense model.  Then the largest of the phases,
    with F = 5N + 1 + 2X values per sample of a symmetrised forward pass (the samples, their uniforms
    and a copy, the mirror states, the logits and hidden layers X of q at s and at -s, their stack):
    a checkpoint's :data:`HOLDOUT_BATCHES` x B fresh samples; the evaluation's batch plus its 18 values
    per sample (energies, ln q, magnetisations, weights, their smoothing and influence functions); for
    N <= 24 the exact sum, :data:`isingvar.autoregressive.ENUM_BLOCK` states at a time (F + 4N values
    each) and the exact kernel's tree of partial states, with the dense copy of a sparse q's weights.
    With ``ais`` > 0 or forward-KL steps (:func:`fkl_steps`), the annealing also holds 8 values per pair of q (both
    orientations, the weights, e^{+-2w}, the dense network's lower triangle) and at most
    :data:`isingvar.autoregressive.AIS_UNIFORMS` uniforms.
    1 MiB besides.  Against tracemalloc's peak of one run (tests/test_settings_defects.py): from 1.0 to
    2.5 times it, N = 12 to 1024, both architectures, hidden to 1000, batch to 2048, 2 x 10^5 samples.

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
    from ..autoregressive import AIS_UNIFORMS, ENUM_BLOCK, EXACT_MAX_N, FKL_AIS

    pairs = pair_bound(n, n_edges, settings.hops) if settings.arch == "sparse" else 0
    params, x = _net_sizes(n, settings, pairs)
    L = settings.depth - 1 if n >= 2 and settings.arch == "dense" else 0
    H = settings.hidden if L else 0
    per_sample = 5 * n + 1 + 2 * x
    phase = max(HOLDOUT_BATCHES * settings.batch * per_sample, settings.batch * per_sample + 18 * settings.samples)
    if n <= EXACT_MAX_N:
        tree = (n + 1) * (3 * n + H + max(L, 1) * H + 4) + (2 * (n + n * n) if settings.arch == "sparse" else 0)
        phase = max(phase, min(2**n, ENUM_BLOCK) * (per_sample + 4 * n) + tree)
    steps = max(ais_steps(settings), FKL_AIS if fkl_steps(n, settings) else 0)
    if steps:  # annealing (the evaluation's, the forward-KL steps'): q's pairs in both orientations with their
        # weights, e^{+-2w}, and the uniforms
        all_pairs = pairs if settings.arch == "sparse" else n * (n - 1) / 2
        phase = max(phase, settings.batch * per_sample + 18 * settings.samples + 8 * all_pairs
                    + min(AIS_UNIFORMS, settings.batch * steps * (2 * n + 2)) + 13 * n)
    values = 12 * params + phase
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
    """steps + F + 1 units per beta: one per training step, per forward-KL step (F, :func:`fkl_steps`), the evaluation.

    Parameters
    ----------
    n : int
        Number of spins.
    betas : sequence of float
        Inverse temperatures.
    settings : Settings
        The method's settings.

    Returns
    -------
    float
        Total progress units of :func:`run`.
    """
    return float(len(betas) * (settings.steps + fkl_steps(n, settings) + 1))


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
    var_attrs=_var_attrs,
)
