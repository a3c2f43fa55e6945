"""One decorator factory for every kernel.

``ISINGVAR_NUMBA_CACHE=0`` turns the on-disk cache off (e.g. read-only installs).
No ``fastmath``: log-sum-exp and entropy code need NaN/inf and strict rounding.
"""

import os
from functools import partial

import numba

_CACHE = os.environ.get("ISINGVAR_NUMBA_CACHE", "1") != "0"

njit = partial(numba.njit, cache=_CACHE, nogil=True)
pjit = partial(numba.njit, cache=_CACHE, nogil=True, parallel=True)
