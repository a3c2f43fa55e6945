"""Why an exact value is missing: the per-beta codes of ``exact_status`` (no imports).

Its own module so that :mod:`isingvar.methods.exact` can declare the flag variable at import without
loading the exact paths (``isingvar --help`` stays fast); :mod:`isingvar.exact` re-exports it for the
paths, which set :attr:`isingvar.exact.ExactResult.status`.
"""

#: Flag meanings of ``exact_status``, in flag-value order (int8 codes 0..4): 0 the point is computed;
#: any other code says why every exact value at that beta is NaN.
#:
#: ``beyond_path_range``  no exact path covers this beta (planar: beyond its accurate range);
#: ``precision_lost``     the planar Pfaffian's pivot growth passed its limit at this beta;
#: ``precision_not_confirmed``  a second elimination order disagreed with the planar Pfaffian;
#: ``numerical_failure``  the path gave a non-finite value it should give (or raised at this beta).
EXACT_STATUS = ("computed", "beyond_path_range", "precision_lost", "precision_not_confirmed", "numerical_failure")
COMPUTED, BEYOND_PATH_RANGE, PRECISION_LOST, PRECISION_NOT_CONFIRMED, NUMERICAL_FAILURE = range(len(EXACT_STATUS))
