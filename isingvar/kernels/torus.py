"""Structure kernel of the torus Pfaffian path: the sign of one term of a Pfaffian."""

import numpy as np

from ._jit import njit


@njit
def permutation_parity(perm):
    """Parity of a permutation: 0 even, 1 odd.

    Parameters
    ----------
    perm : int64 (n,)
        A permutation of 0 .. n - 1.

    Returns
    -------
    int
        (n - number of cycles) mod 2.
    """
    n = perm.size
    seen = np.zeros(n, dtype=np.bool_)
    cycles = 0
    for s in range(n):
        if not seen[s]:
            cycles += 1
            d = s
            while not seen[d]:
                seen[d] = True
                d = perm[d]
    return (n - cycles) % 2
