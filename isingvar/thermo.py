"""Thermodynamic relations shared by every method."""

import numpy as np


def free_energy_per_spin(lnZ, betas, n):
    """f = F/N = -ln Z / (beta N), float64 array shaped like ``lnZ``.

    At beta = 0 (infinite temperature) F = -T ln Z diverges; f is -inf there.
    """
    lnZ = np.asarray(lnZ, dtype=np.float64)
    b = np.broadcast_to(np.asarray(betas, dtype=np.float64), lnZ.shape)
    f = np.full(lnZ.shape, -np.inf)
    pos = b > 0
    f[pos] = -lnZ[pos] / (b[pos] * n)
    return f


def check_betas(betas) -> np.ndarray:
    """``betas`` as a contiguous float64 (nb,) array; ValueError unless 1-D, finite and >= 0 (any order,
    0 allowed: infinite temperature)."""
    b = np.ascontiguousarray(betas, dtype=np.float64)
    if b.ndim != 1 or not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError("betas must be a 1-D array of finite values >= 0")
    return b
