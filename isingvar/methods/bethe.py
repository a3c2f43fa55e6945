"""Bethe approximation by damped loopy belief propagation (an approximation of ln Z, not a bound).

BP is the TRW message update of :mod:`isingvar.kernels.bp` with every edge appearance probability
rho_e = 1 (Wainwright, Jaakkola & Willsky 2005, Sec. IV; Mezard & Montanari, *Information, Physics,
and Computation*, ch. 14).  At the final messages, converged or not, ``lnZ_bethe`` is the Bethe
ln Z = sum_i ln Z_i - sum_(ij) ln Z_ij (Mezard & Montanari eq. 14.27-14.28) and ``m_bethe_site`` the
BP beliefs tanh(H_i).  On a tree at the fixed point both are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..interrupt import deferred_interrupt
from ..thermo import check_betas, free_energy_per_spin
from .base import ESTIMATE_STATUS, Method, Var, per_beta, status_var
from .trw import SECONDS_PER_SLOT_SWEEP, Graph, check_settings


@dataclass(frozen=True)
class Settings:
    """Bethe (loopy BP) settings.

    max_iterations : sequential message sweeps allowed per beta.
    tol : convergence threshold on max |delta u| over a sweep (nats).
    damping : message damping in [0, 1): u <- (1 - damping) u_new + damping u_old.
    """

    max_iterations: int = 1000
    tol: float = 1e-9
    damping: float = 0.5

    def __post_init__(self):
        check_settings("bethe", self)


def run(model, betas, settings, rng, *, sites=False, progress=None):
    """Loopy BP and the Bethe ln Z at every beta of a grid (method plug-in entry point).

    Parameters
    ----------
    model : IsingModel (already scaled).  betas : float64 (nb,), finite, >= 0, any order.
    settings : :class:`Settings`.  rng : unused (both starts are deterministic).
    sites : also return m_bethe_site (nb, N).  progress : callable(step) or None; one unit per beta.

    Returns
    -------
    dict: lnZ_bethe float64 (nb,) [nat], f_bethe float64 (nb,) [energy per spin, -inf at beta = 0],
    m_bethe float64 (nb,) mean of tanh(H_i), bethe_iterations int32 (nb,), bethe_converged int8 (nb,),
    m_bethe_site float64 (nb, N) when ``sites``, and bethe_status int8 (nb,) all 0 (reliable): the
    sweep withholds a value outside the certified interval (:func:`isingvar.methods.screen_estimates`).  Betas run in ascending order; at each, BP runs
    from the last converged messages, from u = 0 and from polarised ones (u = K), and the
    converged run with the largest lnZ_bethe is kept (bethe_iterations: its sweeps); when neither
    converged, the one with the larger lnZ_bethe is reported with bethe_converged = 0.
    """
    from ..kernels import bp
    b = check_betas(betas)
    nb, n = b.size, model.n
    g = Graph(model)
    rho = np.ones(g.indices.size)
    u = np.zeros(g.indices.size)
    H = np.empty(n)
    out = {
        "lnZ_bethe": np.full(nb, np.nan),
        "m_bethe": np.full(nb, np.nan),
        "bethe_iterations": np.full(nb, -1, dtype=np.int32),
        "bethe_converged": np.full(nb, -1, dtype=np.int8),
        "bethe_status": np.zeros(nb, dtype=np.int8),
    }
    if sites:
        out["m_bethe_site"] = np.full((nb, n), np.nan)
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
            # converged fixed point of least Bethe free energy, i.e. largest lnZ_bethe (Yedidia, Freeman &
            # Weiss, IEEE Trans. Inf. Theory 51, 2282 (2005))
            starts = (u, kappa) if not u.any() else (u, np.zeros_like(u), kappa)
            for start in starts:
                v = start.copy()
                sweeps, conv = bp.message_sweeps(g.indptr, g.indices, g.rev, kappa, rho, theta_h, v, H,
                                                 settings.damping, settings.max_iterations, settings.tol)
                lnz = bp.bethe_lnz(g.indptr, g.indices, g.rev, kappa, theta_h, v, H)
                key = (bool(conv), lnz)
                if best is None or key > best[0]:
                    best = (key, v, H.copy(), int(sweeps))
            (conv, lnz), v, Hb, sweeps = best
            if conv:  # continue from converged messages only; else from the last converged ones (or u = 0)
                u = v
            out["lnZ_bethe"][q] = lnz
            m = np.tanh(Hb)
            out["m_bethe"][q] = m.mean()
            if sites:
                out["m_bethe_site"][q] = m
            out["bethe_iterations"][q] = sweeps
            out["bethe_converged"][q] = int(conv)
            check()
            if progress is not None:
                progress(1.0)
    out["f_bethe"] = free_energy_per_spin(out["lnZ_bethe"], b, n)
    return out


def cost(model, betas, settings, *, sites=False):
    """Estimated seconds: 3 starts x 2E slots x about 100 sweeps per beta (capped by max_iterations) x
    :data:`isingvar.methods.trw.SECONDS_PER_SLOT_SWEEP`."""
    sweeps = min(settings.max_iterations, 100)
    return 3 * np.asarray(betas).size * (2 * model.n_edges + model.n) * sweeps * SECONDS_PER_SLOT_SWEEP


METHOD = Method(
    name="bethe",
    summary="Bethe approximation by damped loopy belief propagation (approximation of ln Z, not a bound)",
    settings=Settings,
    variables=(
        Var("lnZ_bethe", "estimate", "lnZ", "nat",
            "Bethe approximation of ln Z at the final BP messages (approximation, not a bound; exact on trees; "
            "NaN where bethe_status is not 0)", nonfinite="nan where flagged"),
        Var("f_bethe", "estimate", "f", "energy per spin",
            "Bethe approximation of the free energy per spin -lnZ_bethe/(beta N) (approximation, not a bound; "
            "NaN where bethe_status is not 0)", nonfinite="nan where flagged; -inf at beta = 0"),
        Var("m_bethe", "estimate", "m", "1",
            "BP magnetisation per spin sum_i tanh(H_i)/N (approximation, not a bound; NaN where bethe_status "
            "is not 0)", nonfinite="nan where flagged"),
        status_var("bethe", ESTIMATE_STATUS,
                   "whether the Bethe values at this point are shown (reliable) or why they are NaN "
                   "(outside_certified_interval: beyond a certified bound on ln Z of the file's methods)"),
        Var("bethe_iterations", "diagnostic", None, "1", "BP message sweeps at this beta", dtype="i4", fill=-1),
        Var("bethe_converged", "diagnostic", None, "1", "BP converged (max |delta u| < tol)",
            dtype="i1", fill=-1, flags=((0, 1), "not_converged converged")),
        Var("m_bethe_site", "estimate", "m", "1", "BP site magnetisations tanh(H_i) (approximation, not a bound)", per="site", nonfinite="nan where flagged"),
    ),
    run=run,
    cost=cost,
    progress_units=per_beta,
)
