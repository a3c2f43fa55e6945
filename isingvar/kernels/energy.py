"""Energy and local fields on the symmetric CSR form of the couplings."""

from ._jit import njit


@njit
def _local_field(indptr, indices, data, h, s, i):
    """h_i + sum_j J_ij s_j for one site i (s may be spins or magnetisations)."""
    g = h[i]
    for p in range(indptr[i], indptr[i + 1]):
        g += data[p] * s[indices[p]]
    return g


@njit
def _energy(indptr, indices, data, h, s):
    """E(s) = -1/2 sum_{i,j} J_ij s_i s_j - sum_i h_i s_i (each pair once).

    Parameters
    ----------
    indptr : int64 (N+1,); indices : int64 (2E,); data : float64 (2E,)
        Symmetric CSR couplings, no diagonal.
    h : float64 (N,)
    s : float64 (N,)
        Spins +-1, or magnetisations in [-1, 1] (then the value is the
        mean-field internal energy <E>_Q of the product distribution).

    Returns
    -------
    float
    """
    e = 0.0
    for i in range(h.size):
        g = _local_field(indptr, indices, data, h, s, i)
        # g - h_i counts each pair from both ends, hence the 1/2
        e -= s[i] * (0.5 * (g - h[i]) + h[i])
    return e
