"""Exact thermodynamics by enumeration of all 2^N states.

Definitions (k_B = 1; Mezard & Montanari, *Information, Physics, and
Computation*, sec. 2.2)::

    Z = sum_s exp(-beta E(s)),   F = -ln Z / beta,   U = <E>,
    S = beta (U - F) = ln Z + beta U,   C = beta^2 Var(E),
    m = <sum_i s_i> / N,   chi = beta N (<m^2> - <m>^2)

f, u, s, c are per spin; lnZ is the total, in nats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import TooLargeError
from .model import IsingModel
from .thermo import free_energy_per_spin

#: Largest N enumerated without ``force=True``.
MAX_EXACT_N = 30
#: Nominal enumeration rate (state * beta / s, all cores) used for time estimates.
NOMINAL_RATE = 1.5e8
#: Largest N the kernel can represent at all (Gray indices are int64).
HARD_MAX_N = 62


@dataclass(frozen=True)
class ExactResult:
    """Exact results of one model over a beta grid.

    Attributes (arrays float64 of shape (nb,), aligned with ``betas``)
    ----------
    betas : inverse temperatures.
    lnZ : ln Z, total, nats.
    f : free energy per spin -ln Z / (beta N); -inf at beta = 0.
    u : internal energy per spin <E>/N.
    s : entropy per spin (ln Z + beta U)/N, nats.
    c : heat capacity per spin beta^2 Var(E)/N.
    m, m2, absm : <M>/N, <M^2>/N^2, <|M|>/N with M = sum_i s_i.
    chi : susceptibility beta N (<m^2> - <m>^2).
    e0 : ground-state energy (total).
    ground_state : float64 (N,) spins of one ground state.
    """

    betas: np.ndarray
    lnZ: np.ndarray
    f: np.ndarray
    u: np.ndarray
    s: np.ndarray
    c: np.ndarray
    m: np.ndarray
    m2: np.ndarray
    absm: np.ndarray
    chi: np.ndarray
    e0: float
    ground_state: np.ndarray


def estimate_seconds(n: int, n_beta: int) -> float:
    """Rough wall time of :func:`exact_enumeration` for N spins and n_beta betas."""
    return (2.0**n) * max(n_beta, 1) / NOMINAL_RATE


def check_size(n: int, n_beta: int, force: bool = False) -> None:
    """Raise :class:`TooLargeError` if N exceeds :data:`MAX_EXACT_N` and not ``force``."""
    if n > HARD_MAX_N:
        raise TooLargeError(f"exact enumeration is impossible for N = {n} (> {HARD_MAX_N}); use --method mf")
    if n > MAX_EXACT_N and not force:
        secs = estimate_seconds(n, n_beta)
        raise TooLargeError(
            f"exact enumeration of N = {n} spins ({n_beta} beta values) would take about "
            f"{_human(secs)} here; pass --force to run it anyway or use --method mf"
        )


def _human(secs: float) -> str:
    for unit, size in (("years", 3.15e7), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if secs >= size:
            return f"{secs / size:.3g} {unit}"
    return f"{secs:.2g} s"


def _chunk_bits(n: int) -> int:
    # chunks of 2^14..2^20 states: enough of them to share between threads,
    # each re-anchored from scratch so round-off cannot build up
    return n if n <= 14 else max(14, min(20, n - 8))


def exact_enumeration(model: IsingModel, betas, *, force: bool = False) -> ExactResult:
    """Enumerate all 2^N states of ``model`` once for every beta in ``betas``.

    Parameters
    ----------
    model : IsingModel
    betas : array_like of float, shape (nb,)
        Inverse temperatures, finite and >= 0.  beta = 0 gives ln Z = N ln 2.
    force : bool
        Allow N > :data:`MAX_EXACT_N`.

    Returns
    -------
    ExactResult

    Raises
    ------
    TooLargeError
        If N > MAX_EXACT_N without ``force`` (the message estimates the time).
    ValueError
        If a beta is negative or not finite.
    """
    from .kernels.exact import _enumerate_chunks, gray_spins, merge_chunks

    b = np.ascontiguousarray(betas, dtype=np.float64)
    if b.ndim != 1 or not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError("betas must be a 1-D array of finite values >= 0")
    n = model.n
    check_size(n, b.size, force)
    indptr, indices, data = model.csr
    e_lo, t_lo, acc = _enumerate_chunks(indptr, indices, data, model.fields, b, _chunk_bits(n))
    e0, tot = merge_chunks(e_lo, acc, b)
    s0, s1, s2, sm, sm2, sam = (tot[:, k] for k in range(6))
    x1 = s1 / s0
    var_e = np.maximum(s2 / s0 - x1 * x1, 0.0)
    lnZ = np.log(s0) - b * e0
    u_tot = e0 + x1
    m = sm / s0 / n
    m2 = sm2 / s0 / n**2
    return ExactResult(
        betas=b,
        lnZ=lnZ,
        f=free_energy_per_spin(lnZ, b, n),
        u=u_tot / n,
        s=(lnZ + b * u_tot) / n,
        c=b * b * var_e / n,
        m=m,
        m2=m2,
        absm=sam / s0 / n,
        chi=b * n * np.maximum(m2 - m * m, 0.0),
        e0=float(e0),
        ground_state=gray_spins(t_lo[int(np.argmin(e_lo))], n),
    )


__all__ = ["ExactResult", "exact_enumeration", "estimate_seconds", "check_size", "MAX_EXACT_N"]
