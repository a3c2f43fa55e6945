"""Minimising a convex primal bound with scipy's L-BFGS-B, keeping the least value it evaluated.

Both reweighted bounds (:mod:`isingvar.trw`'s messages and :mod:`isingvar.trw_components`' field
shares) minimise a convex function whose every evaluation is itself a certified upper bound on ln Z, so
the least value seen is the one to report, whether or not the optimiser converged.
"""

from __future__ import annotations

import numpy as np

#: Past corrections kept (L-BFGS memory).
MEMORY = 8


def minimise(fg, x0: np.ndarray, iterations: int, tol: float, ftol: float):
    """Minimise ``fg`` from ``x0`` by L-BFGS, keeping the least value evaluated.

    The method is Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg. 7.5 (scipy.optimize's
    L-BFGS-B without bounds).

    Parameters
    ----------
    fg : callable(x) -> (float, ndarray)
        The value and its gradient (same shape as ``x0``); every call is counted.
    x0 : float64 array, any shape
        The starting point.
    iterations : int
        Most L-BFGS iterations; 0 evaluates ``x0`` only.
    tol : float
        Converged when max |gradient| <= tol ...
    ftol : float
        ... or when an iteration lowers the value by at most ``ftol`` relative.

    Returns
    -------
    f_best : float
        The least value evaluated.
    x_best : ndarray of float64
        Its point (``x0``'s shape).
    evaluations : int
        The number of calls of ``fg``.
    converged : bool
        Whether a convergence criterion was met (never with 0 iterations).
    """
    from scipy.optimize import minimize

    shape = np.shape(x0)
    best = [np.inf, np.array(x0, dtype=np.float64)]
    evals = [0]

    def flat(x):
        """``fg`` on the flat vector scipy passes, counting calls and keeping the least value.

        Parameters
        ----------
        x : ndarray of float64, shape (size of ``x0``,)
            The point, flattened.

        Returns
        -------
        f : float
            The value at ``x``.
        g : ndarray of float64
            Its gradient, flattened.
        """
        x = x.reshape(shape)
        f, g = fg(x)
        evals[0] += 1
        if f < best[0]:
            best[0], best[1] = f, x.copy()
        return f, np.ravel(g)

    if iterations < 1:
        f, _ = flat(best[1].ravel())
        return f, best[1], 1, False
    res = minimize(flat, best[1].ravel(), jac=True, method="L-BFGS-B",
                   options={"maxiter": iterations, "maxfun": 20 * iterations + 20, "maxcor": MEMORY,
                            "gtol": tol, "ftol": ftol})
    return best[0], best[1], evals[0], bool(res.success)
