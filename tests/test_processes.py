"""Processes, threads, signals and the per-instance cost of a sweep (issue 10, items 1, 2, 3, 6, 8, 9, 12).

No test here times anything: estimates are injected, costs are counted.
"""

import math

import numpy as np

from isingvar.families import make_instance, resolve_params


def test_real_estimate_is_compared_with_the_limit(monkeypatch):
    # the limit tests inject the estimate (conftest.slow_estimate); this one keeps the real timing in
    # the loop, speed-independently, by moving the limit below whatever this machine measures
    import isingvar.exact as exact
    from isingvar.errors import TooLargeError

    m = make_instance("sk", resolve_params("sk", {"n": 30}), 0, 0)
    secs = exact.estimate_seconds(m, [1.0])
    assert 0 < secs < math.inf
    monkeypatch.setattr(exact, "MAX_SECONDS", secs / 4)
    try:
        exact.check_size(m, [1.0], instances=8)
    except TooLargeError as e:
        assert "--force" in str(e)
    else:
        raise AssertionError("8 instances of the estimate, 32 times the limit, were not refused")
    assert np.isnan(exact.check_size(m, [1.0], instances=8, force=True))
