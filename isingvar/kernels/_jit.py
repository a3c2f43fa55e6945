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


def _bitcast(name, src, dst, doc):
    """An intrinsic that reinterprets the bits of a ``src`` value as ``dst`` (an LLVM bitcast:
    free, and it vectorises)."""

    def typer(typingctx, x):
        if x != src:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(dst))

        return dst(src), codegen

    typer.__name__ = typer.__qualname__ = name  # numba names the intrinsic after its typing function
    typer.__doc__ = doc
    return intrinsic(typer)


float_bits = _bitcast("float_bits", types.float64, types.int64, "The bits of a float64 as an int64.")
bits_float = _bitcast("bits_float", types.int64, types.float64, "The float64 whose bits are the int64 x.")
