"""Numba kernels: pure functions on arrays.  They import only numpy and numba.

Every kernel works on the symmetric CSR form of the couplings
(``indptr``, ``indices``, ``data``; both (i, j) and (j, i) present, no
diagonal) and the field vector ``h``; see :mod:`isingvar.model`.
"""
