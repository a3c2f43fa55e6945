"""The result of every exact path, its per-beta status codes, and the one place its quantities are formed.

Every exact path (:mod:`isingvar.exact.enumeration`, :mod:`~isingvar.exact.elimination`,
:mod:`~isingvar.exact.cutset`, :mod:`~isingvar.exact.planar`) returns an :class:`ExactResult` built by
:meth:`ExactResult.from_moments` from the raw moments it computes, so that f, u, s, c, m, <m^2> and chi
are one formula each, whatever the path (docs/methods.md, "exact: the exact paths").

Definitions (k_B = 1; Mezard & Montanari, *Information, Physics, and Computation*, sec. 2.2), with
M = sum_i s_i::

    Z = sum_s exp(-beta E(s)),   F = -ln Z / beta,   U = <E>,
    S = beta (U - F) = ln Z + beta U,   C = beta^2 Var(E),
    m = <M> / N,   <m^2> = <M^2> / N^2,   chi = beta N Var(m) = beta Var(M) / N

f, u, s, c are per spin; ln Z is the total, in nats.  No import here loads numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..thermo import free_energy_per_spin

#: Flag meanings of ``exact_status``, in flag-value order (int8 codes 0..4): 0 the point is computed;
#: any other code says why every exact value at that beta is NaN.
#:
#: ``beyond_path_range``  no exact path covers this beta (planar: beyond its accurate range);
#: ``precision_lost``     the planar Pfaffian's pivot growth passed its limit at this beta;
#: ``precision_not_confirmed``  a second elimination order disagreed with the planar Pfaffian;
#: ``numerical_failure``  the path gave a non-finite value it should give (or raised at this beta).
EXACT_STATUS = ("computed", "beyond_path_range", "precision_lost", "precision_not_confirmed", "numerical_failure")
COMPUTED, BEYOND_PATH_RANGE, PRECISION_LOST, PRECISION_NOT_CONFIRMED, NUMERICAL_FAILURE = range(len(EXACT_STATUS))


@dataclass(frozen=True)
class ExactResult:
    """Exact results of one model over a beta grid.

    Build one with :meth:`from_moments` (the paths do), not field by field.  Every per-beta array is
    float64 of shape (nb,), aligned with ``betas``.

    Attributes
    ----------
    betas : numpy.ndarray
        Inverse temperatures.
    lnZ : numpy.ndarray
        ln Z, total, nats.
    f : numpy.ndarray
        Free energy per spin -ln Z / (beta N); -inf at beta = 0.
    u : numpy.ndarray
        Internal energy per spin <E>/N.
    s : numpy.ndarray
        Entropy per spin (ln Z + beta U)/N, nats.
    c : numpy.ndarray
        Heat capacity per spin beta^2 Var(E)/N.
    m, m2, absm : numpy.ndarray
        <M>/N, <M^2>/N^2, <|M|>/N with M = sum_i s_i.
    chi : numpy.ndarray
        Susceptibility beta N Var(m) = beta Var(M)/N.
    e0 : float
        Ground-state energy (total); NaN where the path cannot certify it.
    ground_state : numpy.ndarray
        float64 (N,) spins of one ground state (NaN where ``e0`` is).
    path : str
        The path that ran (enumeration: its summation path, e.g. "chain"; else the path's name).
    sites : numpy.ndarray or None
        float64 (nb, N) per-site magnetisations <s_i>, or None when not asked for.
    status : numpy.ndarray or None
        int8 (nb,) indices into :data:`EXACT_STATUS`, or None (every beta computed).  Where it is not 0
        (``computed``) the path could not give that beta to its promised accuracy, and every value at
        that beta is NaN.
    f_dw : numpy.ndarray or None
        float64 (nb,) domain-wall free energy F_AP - F_PP = -(ln Z_AP - ln Z_PP) / beta of a periodic
        lattice (total, not per spin, units of J; AP: the bonds across the first axis's seam negated, for
        the square family those joining row L - 1 to row 0, sites (L - 1) L + c and c), NaN where it
        cannot be confirmed and at beta = 0; None where the path does not give it (every path but torus).
    """

    betas: np.ndarray
    lnZ: np.ndarray
    f: np.ndarray
    u: np.ndarray
    s: np.ndarray
    c: np.ndarray
    m: np.ndarray
    m2: np.ndarray
    absm: np.ndarray
    chi: np.ndarray
    e0: float
    ground_state: np.ndarray
    path: str = "direct"
    sites: np.ndarray | None = None
    status: np.ndarray | None = None
    f_dw: np.ndarray | None = None

    @classmethod
    def from_moments(cls, betas, n: int, *, lnZ, path: str, e0: float = float("nan"), ground_state=None,
                     entropy=None, mean_e=None, var_e=None, mean_m=None, var_m=None, abs_m=None,
                     symmetric: bool = False, sites=None, status=None) -> ExactResult:
        """The result of one path from its raw moments: the one place f, u, s, c, m, <m^2>, <|m|> and chi
        are formed.

        Every moment is a total over the N spins (not per spin), float64 (nb,) aligned with ``betas``,
        or None where the path cannot give it exactly (the quantities made from it are then NaN: the
        path lists them in its ``NOT_GIVEN``).  No formula here subtracts two large numbers: the
        variances come in centred (each a sum of non-negative terms, as every path forms them:
        about a reference state for enumeration's histogram, about the mode of M for its
        (beta, M) table, by Chan's pairwise update for elimination, by the law of total variance for
        cutset) and the entropy as the path's sum of non-negative terms (:meth:`entropy_from_excess`).

        Parameters
        ----------
        betas : array_like of float, shape (nb,)
            Inverse temperatures, >= 0.
        n : int
            Number of spins N.
        lnZ : array_like, shape (nb,)
            ln Z (total, nats).
        path : str
            The path that ran (``ExactResult.path``).
        e0 : float
            Ground-state energy (total); NaN where the path cannot certify it.
        ground_state : array_like, shape (N,), optional
            Spins of a ground state; NaN (N,) when None.
        entropy : array_like, shape (nb,), optional
            S = ln Z + beta <E> (total, nats) as the path forms it without cancellation.
        mean_e, var_e : array_like, shape (nb,), optional
            <E> and the centred Var(E) = <(E - <E>)^2> (totals).
        mean_m, var_m : array_like, shape (nb,), optional
            <M> and the centred Var(M) = <(M - <M>)^2>, M = sum_i s_i.
        abs_m : array_like, shape (nb,), optional
            <|M|>.
        symmetric : bool
            Every field is zero, so E(s) = E(-s): <M> is 0 exactly (``mean_m`` is then ignored, and
            ``var_m``, if given, must be <M^2>).
        sites : array_like, shape (nb, N), optional
            Per-site magnetisations <s_i>.
        status : array_like of int8, shape (nb,), optional
            Codes of :data:`EXACT_STATUS`; where not 0 every value at that beta is set to NaN.

        Returns
        -------
        ExactResult
            f = -ln Z/(beta N) (-inf at beta = 0), u = <E>/N, s = S/N, c = beta^2 Var(E)/N,
            m = <M>/N, m2 = (Var(M) + <M>^2)/N^2 (a sum of non-negative terms), absm = <|M|>/N and
            chi = beta N Var(m) = beta Var(M)/N (Mezard & Montanari 2009, sec. 2.2; the module
            docstring).

        Raises
        ------
        ValueError
            If a moment's shape is not (nb,) (``sites``: (nb, N)).
        """
        b = np.asarray(betas, dtype=np.float64).reshape(-1)
        nb = b.size

        def per_beta(x, name):
            """Moment ``x`` as float64 (nb,) (a copy; NaN where None).

            Parameters
            ----------
            x : array_like of float, scalar or None
                The moment; a scalar is repeated at every beta.
            name : str
                Its name, for the message.

            Returns
            -------
            ndarray of float64, shape (nb,)
                The moment per beta.

            Raises
            ------
            ValueError
                If ``x`` does not hold nb values.
            """
            if x is None:
                return np.full(nb, np.nan)
            x = np.array(x, dtype=np.float64).reshape(-1) if np.ndim(x) else np.full(nb, float(x))
            if x.shape != (nb,):
                raise ValueError(f"{name} has {x.size} values for {nb} betas")
            return x

        lnz = per_beta(lnZ, "lnZ")
        mean_e, entropy, abs_m = per_beta(mean_e, "mean_e"), per_beta(entropy, "entropy"), per_beta(abs_m, "abs_m")
        var_e = np.maximum(per_beta(var_e, "var_e"), 0.0)  # centred: >= 0 up to rounding (NaN stays NaN)
        var_m = np.maximum(per_beta(var_m, "var_m"), 0.0)
        mean_m = np.zeros(nb) if symmetric else per_beta(mean_m, "mean_m")
        if sites is not None:
            sites = np.array(sites, dtype=np.float64)
            if sites.shape != (nb, n):
                raise ValueError(f"sites has shape {sites.shape}, not ({nb}, {n})")
        values = {
            "lnZ": lnz,
            "f": free_energy_per_spin(lnz, b, n),
            "u": mean_e / n,
            "s": entropy / n,
            "c": b * b * var_e / n,
            "m": mean_m / n,
            "m2": (var_m + mean_m * mean_m) / (float(n) * n),
            "absm": abs_m / n,
            "chi": b * var_m / n,
        }
        if status is not None:
            status = np.asarray(status, dtype=np.int8).reshape(-1)
            lost = status != COMPUTED
            for x in values.values():
                x[lost] = np.nan
            if sites is not None:
                sites[lost] = np.nan
        gs = np.full(n, np.nan) if ground_state is None else np.asarray(ground_state, dtype=np.float64)
        return cls(betas=b, e0=float(e0), ground_state=gs, path=path, sites=sites, status=status, **values)

    @staticmethod
    def entropy_from_excess(lnz_excess, mean_excess, betas) -> np.ndarray:
        """S = ln Z + beta <E> as (ln Z + beta E_ref) + beta (<E> - E_ref): two non-negative terms where
        E_ref is the least energy (the paths' form at large beta, where ln Z and beta <E> nearly cancel).

        Parameters
        ----------
        lnz_excess : array_like, shape (nb,)
            ln sum_s exp(-beta (E(s) - E_ref)) >= 0 (formed with log1p of the weight above the
            reference states where that is small).
        mean_excess : array_like, shape (nb,)
            <E> - E_ref >= 0, as a weighted mean of non-negative differences.
        betas : array_like, shape (nb,)

        Returns
        -------
        numpy.ndarray
            float64 (nb,) S (total, nats).
        """
        return np.asarray(lnz_excess, dtype=np.float64) + np.asarray(betas, dtype=np.float64) * np.asarray(
            mean_excess, dtype=np.float64)
