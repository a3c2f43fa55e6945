"""Bounds from the zero-field model (isingvar.zero_field) against brute-force enumeration."""

import numpy as np
import pytest
from naive import all_states, logsumexp, model_energies, model_lnZ

from isingvar import zero_field
from isingvar.families import make_instance, resolve_params
from isingvar.model import IsingModel

BETAS = np.array([0.1, 0.5, 1.0, 2.0, 4.0])


def _square(L, boundary, disorder, h, seed):
    """An L x L square model with couplings of ``disorder`` and random fields of scale ``h``."""
    m = make_instance("square", resolve_params("square", {"L": L, "boundary": boundary, "disorder": disorder}),
                      seed, 0)
    rng = np.random.default_rng(seed)
    return IsingModel(m.n, m.edge_i, m.edge_j, m.couplings, h * rng.normal(size=m.n))


MODELS = [
    _square(3, "open", "gaussian", 0.3, 1),
    _square(4, "open", "pm", 0.1, 2),
    _square(4, "periodic", "gaussian", 1.0, 3),
]


@pytest.mark.parametrize("model", MODELS)
def test_zero_field_lnz_is_a_lower_bound(model):
    exact = model_lnZ(model, BETAS)
    lower = zero_field.zero_field_lnz(model, BETAS)
    zero = IsingModel(model.n, model.edge_i, model.edge_j, model.couplings, np.zeros(model.n))
    np.testing.assert_allclose(lower, model_lnZ(zero, BETAS), rtol=1e-10)
    assert np.all(lower <= exact + 1e-10 * np.abs(exact))
    assert np.all(exact - lower > 0)  # fields always add free energy: strictly, with non-zero fields


def test_lower_bound_gap_is_the_field_susceptibility_to_second_order():
    # ln Z(J, h) - ln Z(J, 0) = beta^2/2 h.C.h + O(h^4), C_ij = <s_i s_j>_{J,0} (brute force)
    base = _square(3, "open", "gaussian", 1.0, 4)
    h = 1e-3 * base.fields
    model = IsingModel(base.n, base.edge_i, base.edge_j, base.couplings, h)
    S = all_states(model.n)
    E0 = model_energies(IsingModel(base.n, base.edge_i, base.edge_j, base.couplings, np.zeros(base.n)), S)
    for beta in (0.3, 1.0):
        w = np.exp(-beta * E0 - logsumexp(-beta * E0))
        C = (S * w[:, None]).T @ S
        gap = model_lnZ(model, [beta])[0] - zero_field.zero_field_lnz(model, [beta])[0]
        np.testing.assert_allclose(gap, 0.5 * beta**2 * h @ C @ h, rtol=1e-4)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("eps", [0.1, 0.3, 0.5, 1.0])
def test_split_upper_with_the_exact_amplified_value_is_an_upper_bound(model, eps):
    exact = model_lnZ(model, BETAS)
    lnz0 = zero_field.zero_field_lnz(model, BETAS)
    amp = zero_field.amplified(model, eps)
    np.testing.assert_array_equal(amp.couplings, model.couplings)
    np.testing.assert_allclose(amp.fields * eps, model.fields, rtol=1e-15)
    upper = zero_field.split_upper(lnz0, model_lnZ(amp, BETAS), eps)
    assert np.all(upper >= exact - 1e-10 * np.abs(exact))
    if eps == 1.0:
        np.testing.assert_allclose(upper, exact, rtol=1e-12)


def test_split_upper_with_a_trw_bound_is_an_upper_bound():
    from isingvar import trw
    from isingvar.methods import trw as trw_method

    model = MODELS[1]
    exact = model_lnZ(model, BETAS)
    lnz0 = zero_field.zero_field_lnz(model, BETAS)
    for eps in (0.3, 0.7):
        u = trw.upper_bound(zero_field.amplified(model, eps), BETAS, trw_method.Settings(), np.random.default_rng(0))
        assert np.all(zero_field.split_upper(lnz0, u.lnZ, eps) >= exact - 1e-9 * np.abs(exact))


def test_applies_and_bad_input():
    assert zero_field.applies(MODELS[0], BETAS)
    zero = IsingModel(4, [0, 1, 2], [1, 2, 3], [1.0, -1.0, 0.5])
    assert zero_field.zero_field_model(zero) is None
    assert not zero_field.applies(zero, BETAS)
    with pytest.raises(ValueError, match="no fields"):
        zero_field.zero_field_lnz(zero, BETAS)
    # a dense model past every exact path: its zero-field model has none either
    rng = np.random.default_rng(0)
    n = 90
    J = rng.normal(size=(n, n))
    dense = IsingModel.from_dense(np.triu(J, 1) + np.triu(J, 1).T, rng.normal(size=n))
    assert not zero_field.applies(dense, BETAS)
    for eps in (0.0, -0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            zero_field.amplified(MODELS[0], eps)
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            zero_field.split_upper(np.zeros(1), np.zeros(1), eps)


def test_cached_value_is_not_shared():
    a = zero_field.zero_field_lnz(MODELS[0], BETAS)
    a[:] = 0.0
    b = zero_field.zero_field_lnz(MODELS[0], BETAS)
    assert np.all(b > 0)


def _trw_run(model, **given):
    """The trw method's values of ``model`` over BETAS with settings ``given``."""
    from isingvar.methods import trw as trw_method

    return trw_method.run(model, BETAS, trw_method.Settings(**given), np.random.default_rng(0), sites=False)


def test_trw_method_takes_the_split_and_stays_an_upper_bound():
    from isingvar.methods import trw as trw_method

    model = _square(4, "open", "gaussian", 0.1, 5)
    exact = model_lnZ(model, BETAS)
    out = _trw_run(model)
    eps = out["trw_field_split"]
    assert eps == pytest.approx(trw_method.split_weight(model, trw_method.Settings())) and eps < 1
    assert np.all(out["lnZ_trw_upper"] >= exact - 1e-9 * np.abs(exact))
    plain = _trw_run(model, field_split=1.0)
    assert plain["trw_field_split"] == 1.0
    # the same combination by hand: (1 - eps) ln Z(J, 0) + eps U(J, h / eps)
    u = _trw_run(zero_field.amplified(model, eps), field_split=1.0)["lnZ_trw_upper"]
    np.testing.assert_allclose(out["lnZ_trw_upper"],
                               zero_field.split_upper(zero_field.zero_field_lnz(model, BETAS), u, eps), rtol=1e-12)


def test_trw_method_without_a_zero_field_value_gives_the_models_own_bound(monkeypatch):
    from isingvar import trw
    from isingvar.methods import trw as trw_method

    model = _square(4, "open", "gaussian", 0.1, 6)
    # the model's own bound at the last beta alone (a grid warm-starts each beta from the one before)
    plain = trw.upper_bound(model, BETAS[-1:], trw_method.Settings(), np.random.default_rng(0)).lnZ
    split = _trw_run(model)["lnZ_trw_upper"]
    real = zero_field.zero_field_lnz

    def unconfirmed(m, betas):
        """The zero-field ln Z with the last beta unconfirmed (NaN), as a path flags a point."""
        out = real(m, betas)
        out[-1] = np.nan
        return out

    monkeypatch.setattr(zero_field, "zero_field_lnz", unconfirmed)
    out = _trw_run(model)["lnZ_trw_upper"]
    assert np.all(out >= model_lnZ(model, BETAS) - 1e-9)
    # the model's own bound there (other random starting trees: the split drew its own first)
    assert out[-1] == pytest.approx(plain[-1], rel=1e-3)
    np.testing.assert_array_equal(out[:-1], split[:-1])  # elsewhere the split, as without the NaN
    assert out[-1] != split[-1]


@pytest.mark.parametrize("h, expected", [(0.0, 1.0), (0.1, 1.1 * np.sqrt(0.1)), (2.0, 1.0)])
def test_split_weight_rule(h, expected):
    from isingvar.methods import trw as trw_method

    m = IsingModel(3, [0, 1], [1, 2], [1.0, -1.0], np.full(3, h))
    assert trw_method.split_weight(m, trw_method.Settings()) == pytest.approx(expected)
    assert trw_method.split_weight(m, trw_method.Settings(field_split=0.25)) == 0.25


def test_trw_split_not_taken_where_the_bound_is_exact():
    from isingvar.methods import trw as trw_method

    model = _square(3, "open", "gaussian", 0.1, 7)
    trw_method._EXACT.clear()  # a rung found by another test with elimination patched out (kept by pattern)
    width = trw_method.exact_settings(model)["width"]
    out = _trw_run(model, width=width)
    assert out["trw_field_split"] == 1.0
    np.testing.assert_allclose(out["lnZ_trw_upper"], model_lnZ(model, BETAS), rtol=1e-10)


def test_smf_method_takes_the_zero_field_lower_bound(monkeypatch):
    from isingvar.methods import smf as smf_method

    model = _square(4, "open", "gaussian", 0.1, 8)
    exact = model_lnZ(model, BETAS)
    out = smf_method.run(model, BETAS, smf_method.Settings(), np.random.default_rng(0), sites=False)
    assert out["smf_zero_field"] == 1
    lower = out["lnZ_smf_lower"]
    assert np.all(lower >= zero_field.zero_field_lnz(model, BETAS))
    assert np.all(lower <= exact + 1e-10 * np.abs(exact))
    # the greater of the structured bound alone and the zero-field one, beta by beta
    with monkeypatch.context() as patch:
        patch.setattr(zero_field, "fits", lambda *args: False)
        alone = smf_method.run(model, BETAS, smf_method.Settings(), np.random.default_rng(0), sites=False)
    assert alone["smf_zero_field"] == 0
    np.testing.assert_array_equal(lower, np.maximum(alone["lnZ_smf_lower"], zero_field.zero_field_lnz(model, BETAS)))
    assert np.any(lower > alone["lnZ_smf_lower"])  # the zero-field bound is the greater at high temperature
    zero = IsingModel(model.n, model.edge_i, model.edge_j, model.couplings)
    assert smf_method.run(zero, BETAS, smf_method.Settings(), np.random.default_rng(0), sites=False)["smf_zero_field"] == 0


def test_split_and_zero_field_bounds_bracket_the_open_16x16_glass():
    """Issue 22's open 16 x 16 Gaussian glass, h = 0.1 (exact by elimination, not by the zero-field path):
    the zero-field lower bound and trw's split at width 8 (each beta's best construction's shares optimised)
    bracket ln Z, the upper side within its measured gap (docs/methods.md, "Zero-field bounds")."""
    from isingvar.exact import elimination
    from isingvar.methods import trw as trw_method

    m = make_instance("square", resolve_params("square", {"L": 16, "boundary": "open", "disorder": "gaussian"}),
                      0, 0).scaled(1.0, 0.1)
    b = np.array([0.5, 1.0, 2.0])
    exact = elimination.run(m, b).lnZ
    out = trw_method.run(m, b, trw_method.Settings(width=8), np.random.default_rng(0))
    assert out["trw_field_split"] < 1.0
    lower, upper = zero_field.zero_field_lnz(m, b), out["lnZ_trw_upper"]
    assert np.all(lower <= exact) and np.all(exact <= upper)
    assert np.all((upper - exact) / (b * m.n) < 0.0158)  # 0.0130 / 0.0154 / 0.0135 measured
