"""The ``bethe`` method: the Bethe approximation of ln Z by damped loopy belief propagation (an
approximation, not a bound).

A plug-in over :func:`isingvar.bp.loopy_bp` (the algorithm, docs/methods.md) and the message kernels
of :mod:`isingvar.kernels.bp`: its settings, variables, cost and the adapter from the algorithm's result
to the variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bp import MAX_SWEEPS, SECONDS_PER_SLOT_SWEEP
from ..thermo import check_betas, free_energy_per_spin
from .base import ESTIMATE_STATUS, Method, Nonfinite, Var, check_settings, per_beta, setting, status_var

_FLAGGED = Nonfinite.NAN_WHERE_FLAGGED  # an estimate: NaN only where bethe_status withholds it


@dataclass(frozen=True)
class Settings:
    """Bethe (loopy BP) settings (``--bethe-<name>``, TOML table ``[bethe]``), each bounded
    (:func:`isingvar.methods.base.setting`).

    Attributes
    ----------
    max_iterations : int
        Sequential message sweeps allowed per start and beta.
    tol : float
        Convergence threshold on max |delta u| over a sweep (nats).
    damping : float
        Message damping in [0, 1): u <- (1 - damping) u_new + damping u_old.
    """

    max_iterations: int = setting(1000, ge=1, le=MAX_SWEEPS, why="each sweep passes over every bond")
    tol: float = setting(1e-9, gt=0)
    damping: float = setting(0.5, ge=0, lt=1)

    def __post_init__(self):
        """Check every field's type and bounds (:func:`isingvar.methods.base.check_settings`)."""
        check_settings("bethe", self)


def run(model, betas, settings, rng, *, sites=False, progress=None):
    """Loopy BP and the Bethe ln Z at every beta of a grid (the plug-in's entry point).

    Parameters
    ----------
    model : IsingModel
        Already scaled to the sweep's J and h.
    betas : float64 (nb,)
        Finite, >= 0, any order.
    settings : Settings
    rng : numpy.random.Generator
        Unused (every start is deterministic).
    sites : bool
        Also return ``m_bethe_site`` (nb, N).
    progress : callable(step) or None
        One unit per beta.

    Returns
    -------
    dict
        lnZ_bethe float64 (nb,) [nat], f_bethe float64 (nb,) [energy per spin, -inf at beta = 0],
        m_bethe float64 (nb,) mean of tanh(H_i), bethe_iterations int32 (nb,), bethe_converged int8
        (nb,), m_bethe_site float64 (nb, N) when ``sites``, and bethe_status int8 (nb,) all 0 (reliable):
        the sweep withholds a value outside the certified interval
        (:func:`isingvar.methods.screen_estimates`).  The starts and the kept run:
        :func:`isingvar.bp.loopy_bp`.
    """
    from ..bp import loopy_bp

    b = check_betas(betas)
    res = loopy_bp(model, b, max_iterations=settings.max_iterations, tol=settings.tol,
                   damping=settings.damping, sites=sites, progress=progress)
    out = {
        "lnZ_bethe": res.lnZ,
        "m_bethe": res.m,
        "bethe_iterations": res.iterations,
        "bethe_converged": res.converged,
        "bethe_status": np.zeros(res.lnZ.size, dtype=np.int8),
    }
    if sites:
        out["m_bethe_site"] = res.sites
    out["f_bethe"] = free_energy_per_spin(res.lnZ, b, model.n)
    return out


def cost(model, betas, settings, *, sites=False):
    """Estimated seconds of :func:`run`: 3 starts x (2E slots + N) x about 100 sweeps per beta (capped by
    ``max_iterations``) x :data:`isingvar.bp.SECONDS_PER_SLOT_SWEEP`.

    Parameters
    ----------
    model : IsingModel
    betas : array_like (nb,)
    settings : Settings
    sites : bool
        Unused (the beliefs cost nothing extra).

    Returns
    -------
    float
        Seconds.
    """
    sweeps = min(settings.max_iterations, 100)
    return 3 * np.asarray(betas).size * (2 * model.n_edges + model.n) * sweeps * SECONDS_PER_SLOT_SWEEP


METHOD = Method(
    name="bethe",
    summary="Bethe approximation by damped loopy belief propagation (approximation of ln Z, not a bound)",
    settings=Settings,
    variables=(
        Var("lnZ_bethe", "estimate", "lnZ", "nat",
            "Bethe approximation of ln Z at the final BP messages (approximation, not a bound; exact on trees; "
            "NaN where bethe_status is not 0)", nonfinite=_FLAGGED),
        Var("f_bethe", "estimate", "f", "energy per spin",
            "Bethe approximation of the free energy per spin -lnZ_bethe/(beta N) (approximation, not a bound; "
            "NaN where bethe_status is not 0)", nonfinite=_FLAGGED | Nonfinite.NEG_INF_AT_BETA0),
        Var("m_bethe", "estimate", "m", "1",
            "BP magnetisation per spin sum_i tanh(H_i)/N (approximation, not a bound; NaN where bethe_status "
            "is not 0)", nonfinite=_FLAGGED),
        status_var("bethe", ESTIMATE_STATUS,
                   "whether the Bethe values at this point are shown (reliable) or why they are NaN "
                   "(outside_certified_interval: beyond a certified bound on ln Z of the file's methods)"),
        Var("bethe_iterations", "diagnostic", None, "1", "BP message sweeps at this beta", dtype="i4", fill=-1),
        Var("bethe_converged", "diagnostic", None, "1", "BP converged (max |delta u| < tol)",
            dtype="i1", fill=-1, flags=((0, 1), "not_converged converged")),
        Var("m_bethe_site", "estimate", "m", "1", "BP site magnetisations tanh(H_i) (approximation, not a bound)", per="site", nonfinite=_FLAGGED),
    ),
    run=run,
    cost=cost,
    progress_units=per_beta,
)
