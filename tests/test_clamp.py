"""Clamping (isingvar.clamp): the conditioning identity, both sides bracketing brute force, tightening
against the unclamped bounds, exactness with every spin clamped, the choice of spins and the refusals."""

import naive
import numpy as np
import pytest
from conftest import random_model

from isingvar import clamp
from isingvar.errors import CertificateError, SettingsError
from isingvar.families import make_instance, resolve_params
from isingvar.meanfield import mean_field
from isingvar.methods import make_settings, mf, smf, trw
from isingvar.model import IsingModel
from isingvar.trw import upper_bound

BETAS = np.array([0.0, 0.2, 0.7, 1.5, 3.0])
#: (plug-in module, its ln Z variable, +1 for an upper bound / -1 for a lower one)
SIDES = [(trw, "lnZ_trw_upper", 1), (mf, "lnZ_mf_lower", -1), (smf, "lnZ_smf_lower", -1)]


def instance(family, params, sign, h, seed=1):
    return make_instance(family, resolve_params(family, params), seed, 0).scaled(sign, h)


def run(module, model, betas, **kw):
    return module.METHOD.run(model, np.asarray(betas, float), module.Settings(**kw), np.random.default_rng(0),
                             sites=False, progress=None)


FAMILIES = [
    ("sk", {"n": 9}),
    ("square", {"L": 3, "boundary": "open", "disorder": "gaussian"}),
    ("square", {"L": 4, "boundary": "periodic", "disorder": "gaussian"}),
    ("square", {"L": 4}),
    ("chain", {"n": 10}),
]


# ---------------------------------------------------------------------------- the conditioning
@pytest.mark.parametrize("h", [0.0, 0.5])
def test_conditioned_models_sum_to_the_exact_lnZ(h):
    # ln Z = logsumexp_sigma [-beta E_C(sigma) + ln Z_R(sigma)] with brute-force ln Z_R: the layout, the
    # fields and E_C, and the zero-field halving (+ ln 2), checked against the enumeration of the model
    rng = np.random.default_rng(3)
    m = random_model(9, rng, density=0.6, field_scale=h)
    for spins in ([4], [0, 8, 3], [1, 2, 5, 6, 7]):
        cond = clamp.condition(m, spins)
        assert cond.mirrored == (h == 0.0)
        assert cond.energy.size == 2 ** (len(spins) - cond.mirrored)
        values = np.array([naive.model_lnZ(cm, BETAS) for cm in cond.models])
        np.testing.assert_allclose(clamp.combine(cond, BETAS, values), naive.model_lnZ(m, BETAS), rtol=1e-12)
        # every configuration once (up to the mirror), each model on the other spins with their couplings
        assert np.unique(cond.sigma, axis=0).shape[0] == cond.energy.size
        assert all(cm.n == m.n - len(spins) and cm.n_edges <= m.n_edges for cm in cond.models)


def test_clamping_every_spin_needs_no_conditioned_model():
    m = random_model(5, np.random.default_rng(1), field_scale=0.3)
    cond = clamp.condition(m, range(5))
    assert cond.models == () and cond.rest.size == 0
    np.testing.assert_allclose(clamp.combine(cond, BETAS, np.zeros((32, BETAS.size))), naive.model_lnZ(m, BETAS),
                               rtol=1e-13)


def test_a_broken_conditioning_fails_its_check(monkeypatch):
    # the energy check compares every conditioned model with the model's own energy: a layout that drops the
    # couplings from the clamped spins to the rest is refused, not summed
    from isingvar.exact import cutset

    real = cutset.conditioning_csr

    def dropped(model, cut, rest):
        cc_ptr, cc_nbr, cc_edge, cf_ptr, _, _ = real(model, cut, rest)
        e = np.empty(0, dtype=np.int64)
        return cc_ptr, cc_nbr, cc_edge, np.zeros_like(cf_ptr), e, e

    monkeypatch.setattr(cutset, "conditioning_csr", dropped)
    with pytest.raises(CertificateError, match="clamping check failed"):
        clamp.condition(instance("square", {"L": 3}, 1.0, 0.2), [4])


def test_choice_of_spins_by_degree_times_coupling_strength():
    # scores deg x sum|J|: spin 5 3 x 3 = 9, leaf 6 1 x 2 = 2, the weak star centre 0 3 x 0.3 = 0.9, then
    # 4 and 7 (0.5), the star's leaves (0.1)
    i = [0, 0, 0, 4, 5, 5]
    j = [1, 2, 3, 5, 6, 7]
    J = [0.1, -0.1, 0.1, 0.5, 2.0, -0.5]
    m = IsingModel(8, i, j, J)
    np.testing.assert_array_equal(clamp.choose_spins(m, 5), [5, 6, 0, 4, 7])
    np.testing.assert_array_equal(clamp.choose_spins(m.scaled(7.0), 3), [5, 6, 0])  # the J scale changes nothing
    assert clamp.choose_spins(m, 12).size == 8  # at most every spin
    # ties go to the lower index: an open chain's inner spins all score 2 x 2
    chain = IsingModel(5, [0, 1, 2, 3], [1, 2, 3, 4], [1.0] * 4)
    np.testing.assert_array_equal(clamp.choose_spins(chain, 2), [1, 2])
    assert clamp.runs(chain, 3) == 4 and clamp.runs(chain.scaled(1.0, 0.1), 3) == 8 and clamp.runs(chain, 0) == 0


def test_refusals():
    m = random_model(14, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at most 12"):
        clamp.condition(m, range(13))
    with pytest.raises(ValueError, match="distinct spins"):
        clamp.condition(m, [1, 1])
    with pytest.raises(ValueError, match="distinct spins"):
        clamp.condition(m, [14])
    for name in ("trw", "mf", "smf"):
        from isingvar.methods import get_method

        with pytest.raises(SettingsError, match=rf"^--{name}-clamp must be at most 12 \(2\^clamp .*\), got 13$"):
            make_settings(get_method(name), {"clamp": 13})


# ---------------------------------------------------------------------------- the bounds
@pytest.mark.parametrize("family,params", FAMILIES)
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("h", [0.0, 0.4])
def test_clamped_bounds_bracket_the_exact_value(family, params, sign, h):
    m = instance(family, params, sign, h)
    exact = naive.model_lnZ(m, BETAS)
    tol = 1e-10 * np.abs(exact)
    for module, var, side in SIDES:
        plain = run(module, m, BETAS)[var]
        clamped = run(module, m, BETAS, clamp=3)[var]
        assert np.all(side * (clamped - exact) >= -tol), (module.__name__, clamped - exact)
        assert np.all(side * (plain - clamped) >= -tol), (module.__name__, plain - clamped)  # never looser
        assert clamped[0] == pytest.approx(m.n * np.log(2), rel=1e-13)  # beta = 0: exact on both sides


def test_clamped_bounds_on_random_dilute_models():
    for seed in range(3):
        m = random_model(11, np.random.default_rng(seed), density=0.5, field_scale=0.6)
        exact = naive.model_lnZ(m, BETAS)
        for module, var, side in SIDES:
            clamped = run(module, m, BETAS, clamp=4)[var]
            assert np.all(side * (clamped - exact) >= -1e-10 * np.abs(exact)), (module.__name__, seed)


@pytest.mark.parametrize("family,params,h", [("sk", {"n": 9}, 0.3), ("square", {"L": 3}, 0.0),
                                              ("square", {"L": 3, "boundary": "open", "disorder": "gaussian"}, 0.2)])
def test_clamping_every_spin_is_exact(family, params, h):
    m = instance(family, params, 1.0, h)
    exact = naive.model_lnZ(m, BETAS)
    for module, var, _ in SIDES:
        values = run(module, m, BETAS, clamp=m.n)[var]
        np.testing.assert_allclose(values, exact, rtol=0, atol=1e-10)


def test_random_clamped_sets_tighten_before_the_min_and_max():
    # The raw clamped values, before the min / max with the unclamped bound that the plug-ins take: the
    # warm-started mean field is never below the unclamped naive bound (the chain rule of entropy,
    # isingvar.clamp), and TRW clamped on any spins never above the unclamped TRW bound (Weller & Domke,
    # AISTATS 2016; with each conditioned model's own trees here, checked rather than proved).
    settings = trw.Settings()
    cases = [instance("sk", {"n": 10}, 1.0, 0.3), instance("sk", {"n": 8}, -1.0, 0.0),
             instance("square", {"L": 4, "boundary": "periodic", "disorder": "gaussian"}, 1.0, 0.4),
             instance("square", {"L": 4}, -1.0, 0.0)]
    for c, m in enumerate(cases):
        upper = upper_bound(m, BETAS, settings, np.random.default_rng(0)).lnZ
        naive_mf = mean_field(m, BETAS, rng=np.random.default_rng(0), keep_sites=True)
        rng = np.random.default_rng(c)
        for k in (1, 2, 3):
            spins = rng.choice(m.n, k, replace=False)
            up = clamp.clamped(m, BETAS, k, lambda cond, t, p: upper_bound(cond.models[t], BETAS, settings,
                                                                           np.random.default_rng(1)).lnZ,
                               spins=spins)
            lo = clamp.clamped(m, BETAS, k, lambda cond, t, p, start=naive_mf.sites: clamp.warm_mean_field(
                cond, t, BETAS, start, max_sweeps=2000, tol=1e-10), spins=spins)
            scale = 1e-12 * np.abs(upper)
            assert np.all(up <= upper + scale), (c, spins, up - upper)
            assert np.all(lo >= naive_mf.lnZ_lower - scale), (c, spins, naive_mf.lnZ_lower - lo)
            exact = naive.model_lnZ(m, BETAS)
            assert np.all(lo <= exact + scale) and np.all(up >= exact - scale)


def test_progress_reports_the_methods_total_once():
    m = instance("square", {"L": 3, "boundary": "open", "disorder": "gaussian"}, 1.0, 0.2)
    for module, _, _ in SIDES:
        steps = []
        module.METHOD.run(m, BETAS, module.Settings(clamp=2), np.random.default_rng(0), sites=False,
                          progress=steps.append)
        total = module.METHOD.progress_units(m.n, BETAS, module.Settings(clamp=2))
        assert sum(steps) == pytest.approx(total, rel=1e-12), module.__name__


def test_cost_grows_with_the_conditioned_models():
    m = instance("square", {"L": 4}, 1.0, 0.2)
    for module in (trw, smf):
        base = module.METHOD.cost(m, BETAS, module.Settings(), sites=False)
        assert module.METHOD.cost(m, BETAS, module.Settings(clamp=3), sites=False) == pytest.approx(9 * base)
