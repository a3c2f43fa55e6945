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
    """Exact enumeration estimated at one hour per instance from N = 25 (0 below, as the real estimate).

    Tests of the 10-minute limit inject the estimate instead of timing the kernel:
    on a fast machine a real N = 40 estimate can fall under the limit.
    """
    import isingvar.exact

    def fake(model, betas, path="auto", sites=False):
        return 3600.0 if model.n >= isingvar.exact.ESTIMATE_FROM_N else 0.0

    monkeypatch.setattr(isingvar.exact, "estimate_seconds", fake)
    return fake
