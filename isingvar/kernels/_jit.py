"""One decorator factory for every kernel, and the two bit casts the vectorised exp needs.

``ISINGVAR_NUMBA_CACHE=0`` turns the on-disk cache off.  Where numba can
write no cache (a read-only install with a read-only HOME and no
``NUMBA_CACHE_DIR``: numba raises at import), the kernels are cached in a
per-user directory under the temporary directory, or, failing that, compiled
without a cache; a ``RuntimeWarning`` says which and names ``NUMBA_CACHE_DIR``.
The one fastmath policy is :data:`FAST`: reassociation and contraction only, for the kernels whose sums
must vectorise; never ``nnan``/``ninf``/``afn`` (no blanket ``fastmath=True``): log-sum-exp and entropy code
need NaN/inf to keep their meaning.
"""

import os
import tempfile
import warnings
from functools import partial
from pathlib import Path

import numba
from numba.core import types
from numba.extending import intrinsic


def _probe():  # pragma: no cover - never called: decorated to see whether numba can cache here
    pass


def _can_cache() -> bool:
    # numba looks for a cache place when a function is decorated, not when it compiles: try it
    try:
        numba.njit(cache=True)(_probe)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return False
    return True


def _cache_setting() -> bool:
    """Whether the kernels are cached on disk; moves the cache to a temporary directory if it must."""
    if os.environ.get("ISINGVAR_NUMBA_CACHE", "1") == "0":
        return False
    if _can_cache():
        return True
    fallback = Path(tempfile.gettempdir()) / f"isingvar-numba-{os.getuid() if hasattr(os, 'getuid') else 0}"
    try:
        fallback.mkdir(mode=0o700, exist_ok=True)
        numba.config.CACHE_DIR = str(fallback)
        if _can_cache():
            os.environ["NUMBA_CACHE_DIR"] = str(fallback)  # worker processes: the same place, no second warning
            warnings.warn(f"numba cannot write its cache beside isingvar or in the home directory; compiled kernels "
                          f"are cached in {fallback} (set NUMBA_CACHE_DIR to a writable directory to choose)",
                          RuntimeWarning, stacklevel=2)
            return True
    except OSError:
        pass
    numba.config.CACHE_DIR = ""
    warnings.warn("numba can write its cache nowhere here, so every process compiles the kernels (about a minute); "
                  "set NUMBA_CACHE_DIR to a writable directory", RuntimeWarning, stacklevel=2)
    return False


_CACHE = _cache_setting()

#: The fastmath flags a kernel may use (``@njit(fastmath=FAST)``): reassociation lets sum and dot-product loops
#: vectorise (a strict left-to-right sum cannot), contraction allows fused multiply-adds; no nnan/ninf/afn.
FAST = {"reassoc", "contract"}  # a set: numba takes a bool, dict or set (no frozenset)

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


def _fma_typer(typingctx, a, b, c):
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return types.float64(types.float64, types.float64, types.float64), codegen


_fma_typer.__name__ = _fma_typer.__qualname__ = "fma"
_fma_typer.__doc__ = ("a * b + c rounded once (LLVM's llvm.fma.f64: the CPU's fused multiply-add, else libm's "
                      "exact emulation), float64: the error-free product of double-double arithmetic.")
fma = intrinsic(_fma_typer)
