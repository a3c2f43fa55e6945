"""One decorator factory for every kernel, and the two bit casts the vectorised exp needs.

``ISINGVAR_NUMBA_CACHE=0`` turns the on-disk cache off (e.g. read-only installs).
No ``fastmath``: log-sum-exp and entropy code need NaN/inf and strict rounding.
"""

import os
from functools import partial

import numba
from numba.core import types
from numba.extending import intrinsic

_CACHE = os.environ.get("ISINGVAR_NUMBA_CACHE", "1") != "0"

njit = partial(numba.njit, cache=_CACHE, nogil=True)
pjit = partial(numba.njit, cache=_CACHE, nogil=True, parallel=True)


@intrinsic
def float_bits(typingctx, x):
    """The bits of a float64 as an int64 (an LLVM bitcast: free, and it vectorises)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def bits_float(typingctx, x):
    """The float64 whose bits are the int64 ``x`` (the inverse of :func:`float_bits`)."""
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen
