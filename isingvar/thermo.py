"""Thermodynamic relations shared by every method."""

import numpy as np


def free_energy_per_spin(lnZ, betas, n):
    """f = F/N = -ln Z / (beta N), float64 array shaped like ``lnZ``.

    At beta = 0 (infinite temperature) F = -T ln Z diverges; f is -inf there.

    Parameters
    ----------
    lnZ : array_like of float
        ln Z at each beta.
    betas : array_like of float
        Inverse temperatures, broadcastable to the shape of ``lnZ``.
    n : int
        Number of spins N.

    Returns
    -------
    ndarray of float64, shaped like ``lnZ``
        f, in the energy units of the couplings; -inf where beta = 0.
    """
    lnZ = np.asarray(lnZ, dtype=np.float64)
    b = np.broadcast_to(np.asarray(betas, dtype=np.float64), lnZ.shape)
    f = np.full(lnZ.shape, -np.inf)
    pos = b > 0
    f[pos] = -lnZ[pos] / (b[pos] * n)
    return f


def check_betas(betas) -> np.ndarray:
    """``betas`` as a contiguous float64 (nb,) array.

    Any order, 0 allowed (infinite temperature).

    Parameters
    ----------
    betas : array_like of float
        Inverse temperatures.

    Returns
    -------
    ndarray of float64, shape (nb,)
        The betas, contiguous.

    Raises
    ------
    ValueError
        Unless 1-D, finite and >= 0.
    """
    b = np.ascontiguousarray(betas, dtype=np.float64)
    if b.ndim != 1 or not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError("betas must be a 1-D array of finite values >= 0")
    return b
