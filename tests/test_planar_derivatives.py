"""u, s and c of the planar Pfaffian path (jets through SuperLU) against enumeration and elimination."""

import naive
import numpy as np
import pytest
from test_planar import lattice_bonds

from isingvar.exact import planar
from isingvar.exact.pfaffian import JetLU
from isingvar.families import make_instance, resolve_params
from isingvar.model import IsingModel

BETAS = np.array([0.05, 0.0, 0.3, 1.0, 2.0, 3.0, 5.0, 8.0])


def square(L, disorder, seed):
    return make_instance("square", resolve_params("square", {"L": L, "boundary": "open", "disorder": disorder}), seed, 0)


def assert_thermo(r, ref, scale, rtol=1e-10):
    """u (signed: an absolute floor of rtol x the energy scale per spin near zero), s and c (non-negative:
    relative; c below 1e-13 absolute at low temperature, where it is e^{-beta gap} small) where computed."""
    ok = r.status == 0
    assert ok.any()
    np.testing.assert_allclose(r.u[ok], ref["u"][ok], rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(r.s[ok], ref["s"][ok], rtol=rtol, atol=0)
    np.testing.assert_allclose(r.c[ok], ref["c"][ok], rtol=rtol, atol=1e-13)
    assert np.all(r.c[ok] >= 0)


def test_jets_of_a_dense_matrix_against_finite_differences():
    # A(beta) with entries exp(-beta W) off the diagonal: ln |det|, its derivative and half its second
    # against numpy's slogdet and 5-point differences (errors ~1e-9 from the differences)
    rng = np.random.default_rng(3)
    n = 9
    W = rng.standard_normal((n, n))
    pattern = (rng.random((n, n)) < 0.4) & ~np.eye(n, dtype=bool)
    D = 2.0 + rng.random(n)

    def A(b):
        return np.where(pattern, np.exp(-b * W), 0.0) + np.diag(D)

    r, c = np.nonzero(pattern | np.eye(n, dtype=bool))
    varying = pattern[r, c]
    beta, h = 0.7, 1e-3
    x0 = A(beta)[r, c]
    jet = JetLU(n, r, c, varying).log_pivots(x0, np.where(varying, -W[r, c] * x0, 0.0),
                                              np.where(varying, 0.5 * W[r, c] ** 2 * x0, 0.0)).sum(axis=0)
    f = [np.linalg.slogdet(A(beta + k * h))[1] for k in (-2, -1, 0, 1, 2)]
    d1 = (f[0] - 8 * f[1] + 8 * f[3] - f[4]) / (12 * h)
    d2 = (-f[0] + 16 * f[1] - 30 * f[2] + 16 * f[3] - f[4]) / (12 * h * h)
    np.testing.assert_allclose(jet, [f[2], d1, d2 / 2], rtol=1e-8)
    assert jet[0] == pytest.approx(f[2], rel=1e-13)


def test_jet_orders_agree_and_reject_bad_input():
    rng = np.random.default_rng(0)
    n = 6
    r, c = np.nonzero(np.ones((n, n)))
    x = [rng.standard_normal(r.size) + 5 * (r == c) for _ in range(3)]
    full = JetLU(n, r, c, np.ones(r.size, bool)).log_pivots(*x)
    first = JetLU(n, r, c, np.ones(r.size, bool), order=1).log_pivots(*x)
    real = JetLU(n, r, c, np.ones(r.size, bool), order=0).log_pivots(*x)
    np.testing.assert_allclose(first[:, :2], full[:, :2], rtol=1e-13)
    np.testing.assert_allclose(real[:, 0], full[:, 0], rtol=1e-13)
    assert np.isnan(first[:, 2]).all() and np.isnan(real[:, 1:]).all()
    with pytest.raises(ValueError, match="order"):
        JetLU(n, r, c, np.ones(r.size, bool), order=3)
    with pytest.raises(ValueError, match="outside"):
        JetLU(2, r, c, np.ones(r.size, bool))


@pytest.mark.parametrize("disorder", ["pm", "gaussian", "none"])
@pytest.mark.parametrize("L", [3, 4])
@pytest.mark.parametrize("seed", range(2))
def test_against_enumeration(disorder, L, seed):
    m = square(L, disorder, seed)
    betas = np.array([b for b in BETAS if planar.applicable(m, [b], sites=False) is None])
    r = planar.run(m, betas)
    assert_thermo(r, naive.model_thermo(m, betas), np.abs(m.couplings).sum() / m.n)


def test_random_planar_graph_against_enumeration():
    # a general embedding (networkx), uniform couplings in [-2, 2]
    rng = np.random.default_rng(5)
    i, j = lattice_bonds(4)
    keep = rng.random(i.size) < 0.8
    m = IsingModel(16, i[keep], j[keep], rng.uniform(-2.0, 2.0, int(keep.sum())))
    betas = np.array([b for b in BETAS if planar.applicable(m, [b], sites=False) is None])
    r = planar.run(m, betas)
    assert_thermo(r, naive.model_thermo(m, betas), np.abs(m.couplings).sum() / m.n)


@pytest.mark.parametrize("disorder", ["pm", "gaussian"])
def test_against_elimination(disorder):
    elimination = pytest.importorskip("isingvar.exact.elimination")
    m = square(9, disorder, 2)
    betas = np.array([0.05, 0.44, 1.0, 2.0, 3.0])
    r = planar.run(m, betas)
    ref = elimination.run(m, betas, sites=False, progress=None)
    assert_thermo(r, {q: getattr(ref, q) for q in ("u", "s", "c")}, np.abs(m.couplings).sum() / m.n)
    assert np.isfinite(r.c).all()


def test_unconfirmed_derivatives_are_nan_and_ln_z_is_kept(monkeypatch):
    # beyond DERIVATIVE_CHECK_GROWTH u, s, c are each confirmed in a second order; a disagreement in the
    # derivatives alone sends the beta to double-double (which gives the same numbers here), and where its two
    # orders disagree on them too, those are NaN and ln Z is kept (checked only from CROSS_CHECK_GROWTH)
    m = square(6, "pm", 1)
    betas = np.array([0.5, 2.0])  # +-J: u, s, c checked above beta = 1.15, ln Z above 2.30
    good = planar.run(m, betas)
    checked = planar._Structure.jet_log_pfaffian_checked
    monkeypatch.setattr(planar._Structure, "jet_log_pfaffian_checked",
                        lambda self, beta, jg: checked(self, beta, jg) + [0.0, 1e-6, 0.0])
    r = planar.run(m, betas)
    assert list(r.status) == [0, 0]
    for name in ("lnZ", "u", "s", "c"):
        np.testing.assert_allclose(getattr(r, name), getattr(good, name), rtol=1e-12)
    dd = planar._Structure.dd_jet

    def shifted(self, beta, jg, second=False):
        jet, scale, growth = dd(self, beta, jg, second)
        return jet + (np.array([0.0, 1e-6, 0.0]) if second else 0.0), scale, growth

    monkeypatch.setattr(planar._Structure, "dd_jet", shifted)
    r = planar.run(m, betas)
    assert list(r.status) == [0, 0]
    np.testing.assert_allclose(r.lnZ, good.lnZ, rtol=1e-12)
    assert r.u[0] == good.u[0] and np.isnan([r.u[1], r.s[1]]).all()
    np.testing.assert_allclose(r.c[1], good.c[1], rtol=1e-10)


def test_certificate_u_above_ground_energy(monkeypatch):
    # u >= E0/N where E0 is certain: a jet that breaks it (d ln Pf/dbeta > 0), in double and in double-double,
    # leaves u and s NaN
    m = square(4, "pm", 0)
    real, real_dd = planar._Structure.jet_log_pfaffian, planar._Structure.dd_jet

    def broken(self, beta, jg):
        jet, growth = real(self, beta, jg)
        jet = jet.copy()
        jet[0, 1] = abs(jet[0, 1]) + 1.0
        return jet, growth

    def broken_dd(self, beta, jg, second=False):
        jet, scale, growth = real_dd(self, beta, jg, second)
        return jet + [0.0, abs(jet[1]) + 1.0, 0.0], scale, growth

    monkeypatch.setattr(planar._Structure, "jet_log_pfaffian", broken)
    monkeypatch.setattr(planar._Structure, "dd_jet", broken_dd)
    r = planar.run(m, [0.5])
    assert np.isnan([r.u[0], r.s[0]]).all() and np.isfinite([r.lnZ[0], r.c[0]]).all()


def test_beyond_the_jet_size_u_s_c_are_nan(monkeypatch):
    # a real factorisation only (JET_MAX_SIZE): ln Z as before, the derivatives NaN
    m = square(5, "gaussian", 0)
    ref = planar.run(m, [0.3, 1.0])
    monkeypatch.setattr(planar, "JET_MAX_SIZE", 10)
    monkeypatch.setattr(planar.patterns, "get", lambda model, kind, build: build())  # a fresh structure
    r = planar.run(m, [0.3, 1.0])
    np.testing.assert_allclose(r.lnZ, ref.lnZ, rtol=1e-14)
    assert np.isnan(r.u).all() and np.isnan(r.s).all() and np.isnan(r.c).all()


@pytest.mark.parametrize("path", ["planar", "torus"])
def test_unconfirmed_derivatives_keep_ln_z_through_the_choice(monkeypatch, path):
    """Through the method's own entry (choice.solve), u, s, c a path cannot confirm are NaN at a beta whose
    ln Z and f it gives, which stay with exact_status 0: declared in the path's UNCONFIRMED, their NaN is no
    numerical failure (it was: every value of the beta was lost, status numerical_failure)."""
    import importlib

    from isingvar import patterns
    from isingvar.exact import choice

    module = importlib.import_module(f"isingvar.exact.{path}")
    m = make_instance("square", {"L": 12, "boundary": "open" if path == "planar" else "periodic",
                                 "disorder": "pm"}, 0, 1)
    betas = np.array([0.4, 0.8])
    monkeypatch.setattr(choice, "decide", lambda model, b, sites: (module, np.ones(len(b), bool)))
    ref = module.run(m, betas)
    monkeypatch.setattr(module, "JET_MAX_SIZE", 10)  # no jets: u, s, c unconfirmed everywhere
    patterns.CACHE.clear()  # a fresh structure, built with the patched size
    r = choice.solve(m, betas, sites=False)
    patterns.CACHE.clear()  # and none kept for later tests
    assert list(r.status) == [0, 0]
    np.testing.assert_allclose(r.lnZ, ref.lnZ, rtol=1e-12)
    assert np.isnan(r.u).all() and np.isnan(r.s).all() and np.isnan(r.c).all()


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_paired_jets_against_superlu_jets(beta):
    # the jets of ln Pf by the pairs' elimination in double (jet_log_pfaffian, both orders) against SuperLU on the
    # 3M x 3M embedding in the real factorisation's order: the same numbers, and the growth
    m = square(8, "pm", 1)
    s = planar._structure(m)
    _, jg = s.reference(m)
    jet, growth = s.jet_log_pfaffian(beta, jg)
    ref, ref_growth = s._jet_sum(s._jet_lu(np.arange(s.size)), beta, jg)
    np.testing.assert_allclose(jet[0], ref[0], rtol=1e-12)
    assert np.all(jet[1] >= np.abs(jet[0]) - 1e-12)  # the scale bounds each sum
    # the pairs' growth max(|d_k|, 1/|d_k|) never above the scalar pivots' in the same order, equal where it grows
    assert ref_growth == pytest.approx(s.log_pfaffian(beta, jg)[1], rel=1e-9)
    assert 0.4 * ref_growth <= growth <= ref_growth * (1 + 1e-9)
    if beta >= 2:
        assert growth == pytest.approx(ref_growth, rel=1e-9)
    np.testing.assert_allclose(s.jet_log_pfaffian_checked(beta, jg), ref[0], rtol=1e-12)
