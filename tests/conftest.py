import numpy as np
import pytest

from isingvar.model import IsingModel


def random_model(n, rng, *, field_scale=0.5, coupling_scale=1.0, density=1.0, integer=False):
    """A random dense-or-diluted model; integer=True gives +-1 couplings and integer fields."""
    i, j = np.triu_indices(n, k=1)
    keep = rng.random(i.size) < density
    if integer:
        J = rng.choice([-1.0, 1.0], i.size) * coupling_scale
        h = rng.integers(-1, 2, n).astype(float) * field_scale
    else:
        J = rng.normal(0, coupling_scale, i.size)
        h = rng.normal(0, field_scale, n)
    return IsingModel(n, i[keep], j[keep], J[keep], h)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def slow_estimate(monkeypatch):
    """Every exact path estimated at one hour per instance from N = 25 where it applies (0 below, as
    the real estimates; inf where it does not apply).

    Tests of the 10-minute limit inject the estimate instead of timing the kernels:
    on a fast machine a real N = 40 estimate can fall under the limit.
    """
    import importlib

    import isingvar.exact.enumeration
    from isingvar.methods.exact import EXACT_PATHS

    def slow(module):
        def fake(model, betas, *args, sites=False, **kwargs):
            if module.applicable(model, betas, sites=sites) is not None:
                return float("inf")
            return 3600.0 if model.n >= isingvar.exact.enumeration.ESTIMATE_FROM_N else 0.0
        return fake

    for name in EXACT_PATHS:
        module = importlib.import_module(name)
        monkeypatch.setattr(module, "estimate_seconds", slow(module))
    return slow(isingvar.exact.enumeration)
