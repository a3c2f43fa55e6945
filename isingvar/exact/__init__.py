"""Exact thermodynamics: one result type, the exact paths beside it, and the choice among them.

Layout (docs/architecture.md; docs/methods.md, "exact: the exact paths")::

    result.py       ExactResult, EXACT_STATUS and ExactResult.from_moments: the one place f, u, s, c,
                    m, <m^2>, <|m|> and chi are formed from a path's raw moments, without cancellation
    choice.py       EXACT_PATHS, the choice of a path per instance from the instance alone (decide),
                    partial results (solve), the refusal (check), the dry run's line (describe)
    enumeration.py  all 2^N states (N <= 62): blocked Gray code, histogram / chain / direct sums
    elimination.py  variable elimination along a low-width order (width <= 26)
    cutset.py       conditioning on a cutset that leaves a forest (<= 34 spins)
    planar.py       zero field on a planar graph: ln Z by a Kasteleyn Pfaffian
    torus.py        zero field on the periodic square lattice: ln Z and F_dw by four signed Pfaffians

Each path module is an :class:`ExactPath`.  Importing this package loads neither numba nor any path
(``isingvar --help`` stays fast); the paths import their kernels when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from .result import EXACT_STATUS, ExactResult


@runtime_checkable
class ExactPath(Protocol):
    """What an exact path module provides (each of :data:`isingvar.exact.choice.EXACT_PATHS` is one).

    Attributes
    ----------
    PATH_NAME : str
        Its name in messages, ``--dry-run`` and the file's ``exact_path`` (enumeration's runs report
        their summation path instead: "histogram", "chain", "direct").
    NOT_GIVEN : tuple of str
        The :class:`ExactResult` fields it cannot give exactly and leaves NaN (elimination, cutset:
        ``("absm",)``; planar: m2, absm, chi, e0).  Any other non-finite value it returns
        is a numerical failure of that beta (``exact_status`` numerical_failure).
    UNCONFIRMED : tuple of str
        Optional (default none): the fields it gives exactly where its own checks confirm them and leaves
        NaN elsewhere, at a beta whose ln Z and f it gives (planar, torus: u, s, c, whose derivative
        checks are stricter than ln Z's).  Their NaN is no failure of the beta; the variables say so.
    """

    PATH_NAME: str
    NOT_GIVEN: tuple[str, ...]

    def applicable(self, model, betas, *, sites: bool) -> str | None:
        """None where the path computes ``model`` on the whole grid ``betas`` exactly, else the reason, one line.

        Cheap after the first call per coupling pattern (structure cached); may depend on the coupling
        values (planar: its beta range on a frustrated instance).

        Parameters
        ----------
        model : IsingModel
            The instance.
        betas : ndarray of float64, shape (nb,)
            Inverse temperatures.
        sites : bool
            Per-site magnetisations wanted.

        Returns
        -------
        str or None
            The reason, or None.
        """

    def work(self, model, betas, *, sites: bool) -> float:
        """Modelled seconds of :meth:`run` on one core of the reference machine: the path's operation
        count times constants measured once (each in its module).  Deterministic, a function of the
        instance only (no timing), so that the choice among paths (the least work) is the same in every
        process; 0 below what is worth comparing (the first listed path then wins); inf where the path
        does not apply.

        Parameters
        ----------
        model : IsingModel
            The instance.
        betas : ndarray of float64, shape (nb,)
            Inverse temperatures.
        sites : bool
            Per-site magnetisations wanted.

        Returns
        -------
        float
            Modelled seconds.
        """

    def estimate_seconds(self, model, betas, *, sites: bool) -> float:
        """Wall seconds :meth:`run` would take here (at most a short timed probe on this model).

        For the sweep's time limit, ``--dry-run`` and the progress line, never for the choice.

        Parameters
        ----------
        model : IsingModel
            The instance.
        betas : ndarray of float64, shape (nb,)
            Inverse temperatures.
        sites : bool
            Per-site magnetisations wanted.

        Returns
        -------
        float
            Estimated wall seconds.
        """

    def run(self, model, betas, *, sites: bool = False,
            progress: Callable[[float, float], None] | None = None) -> ExactResult:
        """The exact result over ``betas``, built by :meth:`ExactResult.from_moments`.

        Parameters
        ----------
        model : IsingModel
            The instance.
        betas : ndarray of float64, shape (nb,)
            Inverse temperatures: finite, >= 0, any order.
        sites : bool, default False
            Also the per-site magnetisations.
        progress : callable(done, total) or None
            Called between kernel calls, where Ctrl-C is honoured.

        Returns
        -------
        ExactResult
            The exact values at every beta.

        Raises
        ------
        isingvar.errors.TooLargeError
            Where :meth:`applicable` refuses.
        isingvar.errors.NonFiniteResultError
            For a grid it cannot give (the caller retries beta by beta).
        """


__all__ = ["EXACT_STATUS", "ExactPath", "ExactResult"]
