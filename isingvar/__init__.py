"""isingvar: exact free energies and variational bounds for Ising models.

Energy convention (used everywhere in the package)::

    E(s) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i,    s_i in {-1, +1}

J_ij > 0 is ferromagnetic, k_B = 1, beta = 1/T in units of the coupling scale,
ln Z and entropies in nats.  This module imports nothing heavy so that
``isingvar --help`` stays fast; the numba kernels load on first use.
"""

__version__ = "0.1.0"

ENERGY_CONVENTION = (
    "E(s) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i, s_i in {-1,+1}; "
    "J_ij > 0 ferromagnetic; k_B = 1; beta = 1/T in units of the coupling scale; "
    "lnZ and entropies in nats"
)
