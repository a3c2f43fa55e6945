"""Every exact path against plain-numpy enumeration, and every method's certified bounds around ln Z.

Parametrised from the registries (:data:`isingvar.exact.choice.EXACT_PATHS`, :func:`isingvar.methods.all_methods`
and each method's declared variables): a new path or method is crossed here without a line added.  A path
runs forced (its own ``run``) on the betas it accepts for the instance; one that accepts none is skipped
with its reason.  A method's variables of kind "exact", "lower" or "upper" on ln Z and on f = -ln Z / (beta N)
are checked; probabilistic bounds and estimates (kinds "lower_prob", "upper_prob", "estimate") are not
certified and are left out.  Hypothesis draws the instance (the sample of the family) from a fixed seed.
"""

import importlib

import naive
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from isingvar.errors import TooLargeError
from isingvar.exact.choice import EXACT_PATHS
from isingvar.families import make_instance, resolve_params
from isingvar.methods import all_methods

# small instances (N <= 12, enumeration in milliseconds); frustrated and not, planar and not, with and
# without the periodic seams
FAMILIES = {
    "sk10": ("sk", {"n": 10}),
    "square3-open-gaussian": ("square", {"L": 3, "boundary": "open", "disorder": "gaussian"}),
    "square3-periodic-pm": ("square", {"L": 3, "boundary": "periodic", "disorder": "pm"}),
    "chain12-periodic": ("chain", {"n": 12, "boundary": "periodic"}),
    "cubic2-open-gaussian": ("cubic", {"L": 2, "boundary": "open", "disorder": "gaussian"}),
}
FIELDS = (0.0, 0.4)
# 0 included (f = -inf there), and low temperatures where c, chi and s are exponentially small
BETAS = np.array([0.0, 0.3, 1.0, 3.0, 20.0])
SEED = 20
EXAMPLES = hsettings(max_examples=2, deadline=None, derandomize=True)  # the same instances on every run
SAMPLES = st.integers(0, 10**6)

SIGNED = ("lnZ", "f", "u", "m")  # compared with an absolute floor scaled by the model's energy scale
NONNEG = ("s", "c", "m2", "absm", "chi")  # sums of non-negative terms: relative accuracy at any beta
RTOL = 1e-9
#: Slack of a bound inequality: a few ulps of |ln Z| (the bound and the reference each round).
ULPS = 16 * np.finfo(float).eps


def instance(family, h, sample):
    name, params = FAMILIES[family]
    return make_instance(name, resolve_params(name, params), SEED, sample).scaled(1.0, h)


def energy_scale(model):
    return np.abs(model.couplings).sum() + np.abs(model.fields).sum() + 1.0


@pytest.mark.parametrize("h", FIELDS)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("path", EXACT_PATHS, ids=lambda name: name.rsplit(".", 1)[-1])
@EXAMPLES
@given(sample=SAMPLES)
def test_every_exact_path_agrees_with_brute_force(path, family, h, sample):
    module = importlib.import_module(path)
    model = instance(family, h, sample)
    accepted = [b for b in BETAS if module.applicable(model, np.array([b]), sites=True) is None]
    if not accepted:
        pytest.skip(f"{module.PATH_NAME} on {family}, h = {h}: {module.applicable(model, BETAS, sites=True)}")
    betas = np.array(accepted)
    r = module.run(model, betas, sites=True)
    ref = naive.model_thermo(model, betas)
    ok = np.ones(betas.size, bool) if r.status is None else r.status == 0
    assert ok.any(), f"{module.PATH_NAME} computed none of the betas it accepted: status {r.status}"
    scale = energy_scale(model)
    for q in (*SIGNED, *NONNEG):
        got, want = np.asarray(getattr(r, q))[ok], ref[q][ok]
        if q in module.NOT_GIVEN:  # NaN where not given, never a guess
            assert np.isnan(got).all(), f"{module.PATH_NAME} {q} is declared not given"
            continue
        if q in getattr(module, "UNCONFIRMED", ()):  # given where confirmed, else NaN
            got, want = got[np.isfinite(got)], want[np.isfinite(got)]
        atol = 1e-12 * scale if q in SIGNED else 0.0
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=atol, err_msg=f"{module.PATH_NAME} {q}")
    if r.sites is not None:
        np.testing.assert_allclose(r.sites[ok], ref["sites"][ok], rtol=RTOL, atol=1e-12, err_msg="sites")
    if "e0" not in module.NOT_GIVEN:
        assert r.e0 == pytest.approx(ref["e0"], rel=1e-12, abs=1e-12 * scale)


def bound_variables(method):
    """(variable, quantity, side) of every certified bound or exact value of ln Z or f the method declares."""
    return [(v.name, v.quantity, v.kind) for v in method.variables
            if v.per == "beta" and v.quantity in ("lnZ", "f") and v.kind in ("exact", "lower", "upper")]


@pytest.mark.parametrize("h", FIELDS)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", list(all_methods()))
@EXAMPLES
@given(sample=SAMPLES)
def test_every_certified_bound_holds(name, family, h, sample):
    method = all_methods()[name]
    checked = bound_variables(method)
    if not checked:
        pytest.skip(f"{name} declares no certified bound on ln Z or f")
    model = instance(family, h, sample)
    settings = method.settings()
    try:
        if method.check is not None:
            method.check(model, BETAS, settings, sites=False)
    except TooLargeError as e:
        pytest.skip(f"{name} on {family}: {e}")
    values = method.run(model, BETAS, settings, np.random.default_rng([SEED, sample]), sites=False, progress=None)
    ref = naive.model_thermo(model, BETAS)
    hot = BETAS > 0  # f = -ln Z / (beta N): not a number at beta = 0
    for var, quantity, kind in checked:
        got = np.asarray(values[var], float)
        want = ref[quantity]
        keep = np.isfinite(got) & (hot if quantity == "f" else True)
        slack = ULPS * np.maximum(np.abs(want), 1.0)
        if kind == "exact":
            np.testing.assert_allclose(got[keep], want[keep], rtol=RTOL, atol=0, err_msg=var)
        elif kind == "lower":
            assert np.all(got[keep] <= want[keep] + slack[keep]), (var, BETAS[keep], got[keep] - want[keep])
        else:
            assert np.all(got[keep] >= want[keep] - slack[keep]), (var, BETAS[keep], got[keep] - want[keep])
