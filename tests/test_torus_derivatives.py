"""u, s and c of the torus path (jets through the Schur step, jet Pfaffians of the seam) against enumeration,
elimination and Kaufman's closed form differentiated."""

import naive
import numpy as np
import pytest
from test_torus import draw, torus_bonds

from isingvar.exact import choice, torus
from isingvar.exact.pfaffian import JetLU, pfaffian_pivots
from isingvar.families import make_instance, resolve_params
from isingvar.model import IsingModel

BETAS = np.array([0.0, 0.05, 0.3, 1.0, 2.0, 3.0, 5.0, 8.0])
KC = 0.5 * np.log(1.0 + np.sqrt(2.0))


def skew(m):
    return m - m.T


def jet_product(pivots, sign):
    """The jet sign prod_j p_j(eps) truncated at eps^2 (plain polynomial products)."""
    out = np.array([sign, 0.0, 0.0])
    for p in pivots:
        out = np.convolve(out, p)[:3]
    return out


def differences(f, x, h):
    """f(x), f'(x) and f''(x) / 2 by 5-point central differences (errors ~ h^4)."""
    y = [f(x + k * h) for k in (-2, -1, 0, 1, 2)]
    return np.array([y[2], (y[0] - 8 * y[1] + 8 * y[3] - y[4]) / (12 * h),
                     (-y[0] + 16 * y[1] - 30 * y[2] + 16 * y[3] - y[4]) / (24 * h * h)])


def pf(c):
    sign, log = torus.pfaffian_log(c)
    return sign * np.exp(log)


def test_jet_pfaffian_against_pfapack_and_differences():
    # C(beta) = A + sin(beta) B + beta^2 D (skew): the pivots' jet product is Pf C, its derivative and half its
    # second, against PFAPACK and finite differences of PFAPACK's Pfaffian
    rng = np.random.default_rng(1)
    n = 10
    A, B, D = (skew(rng.standard_normal((n, n))) for _ in range(3))
    beta = 0.3
    jets = np.stack([A + np.sin(beta) * B + beta**2 * D, np.cos(beta) * B + 2 * beta * D,
                     0.5 * (-np.sin(beta) * B + 2 * D)])
    sign, pivots = pfaffian_pivots(jets)
    ref = differences(lambda b: pf(A + np.sin(b) * B + b * b * D), beta, 1e-3)
    got = jet_product(pivots, sign)
    assert got[0] == pytest.approx(ref[0], rel=1e-13)
    np.testing.assert_allclose(got, ref, rtol=1e-8)


def test_jet_pfaffian_through_a_zero_crossing():
    # Pf C(beta) = (beta - b0) Pf(A) exactly for C = A with one 2 x 2 block scaled: at beta = b0 + 1e-12 the
    # inverse's 1/2 tr(C^-1 C') would divide by ~1e-12; the pivots give Pf' = Pf(A) and Pf'' = 0 to rounding
    rng = np.random.default_rng(2)
    n = 8
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    blocks = np.zeros((n, n))
    for k, x in enumerate(rng.uniform(0.5, 2.0, n // 2)):
        blocks[2 * k, 2 * k + 1], blocks[2 * k + 1, 2 * k] = x, -x
    b0, beta = 0.7, 0.7 + 1e-12
    scale0, scale1 = np.ones((n, n)), np.zeros((n, n))
    scale0[0, 1], scale0[1, 0], scale1[0, 1], scale1[1, 0] = beta - b0, beta - b0, 1.0, 1.0
    jets = np.stack([Q @ (blocks * scale0) @ Q.T, Q @ (blocks * scale1) @ Q.T, np.zeros((n, n))])
    sign, pivots = pfaffian_pivots(jets)
    slope = pf(Q @ blocks @ Q.T)  # d Pf / dbeta (Pf is linear in the scaled block)
    got = jet_product(pivots, sign)
    assert got[1] == pytest.approx(slope, rel=1e-12)
    assert abs(got[0] - slope * (beta - b0)) <= 1e-12 * abs(slope) and abs(got[2]) <= 1e-12 * abs(slope)


def test_jet_pfaffian_rejects_bad_shapes():
    with pytest.raises(ValueError, match="n even"):
        pfaffian_pivots(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="n even"):
        pfaffian_pivots(np.zeros((2, 4, 4)))


def test_schur_product_of_jets_against_dense():
    # A(beta) = A0 + beta A1 + beta^2 A2 (diagonally dominant, first block F of 5 nodes): the factors give the
    # jet of A_SF A_FF^-1 A_FS, against numpy's solve and finite differences
    rng = np.random.default_rng(4)
    n, f = 9, 5
    A0 = rng.standard_normal((n, n)) + 6 * np.eye(n)
    A1, A2 = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    r, c = np.nonzero(np.ones((n, n)))
    jets = JetLU(n, r, c, np.ones(r.size, dtype=bool))
    beta = 0.4

    def A(b):
        return A0 + b * A1 + b * b * A2

    lu = jets.factor(A(beta)[r, c], (A1 + 2 * beta * A2)[r, c], A2[r, c], natural=f)
    got = jets.schur_product(lu, f)

    def product(b):
        a = A(b)
        return a[f:, :f] @ np.linalg.solve(a[:f, :f], a[:f, f:])

    ref = differences(product, beta, 1e-3)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got[1:], ref[1:], rtol=1e-7, atol=1e-7)
    # the first pivots' jets are the leading block's: ln |det A_FF| and its derivatives
    logs = jets.pivot_logs(lu, f).sum(axis=0)
    ref_det = differences(lambda b: np.linalg.slogdet(A(b)[:f, :f])[1], beta, 1e-3)
    np.testing.assert_allclose(logs, ref_det, rtol=1e-7)
    # a zero pivot leaves the diagonal, a zero row is singular: no factors
    zero = A(beta).copy()
    zero[0, 0] = 0.0
    assert jets.factor(zero[r, c], np.zeros(r.size), np.zeros(r.size)) is None
    zero[0, :] = 0.0
    assert jets.factor(zero[r, c], np.zeros(r.size), np.zeros(r.size)) is None


def assert_thermo(r, ref, scale, rtol=1e-10, atol_c=1e-13):
    """u (an absolute floor of rtol x the energy scale per spin near zero), s and c (non-negative: relative;
    c below atol_c absolute) where computed; every beta <= 1 computed."""
    ok = np.isfinite(r.u) | np.isfinite(r.s) | np.isfinite(r.c)
    assert ok[np.asarray(r.betas) <= 1.0].all()
    for q, tol in (("u", rtol * scale), ("s", 0.0), ("c", atol_c)):
        x, y = getattr(r, q), np.asarray(ref[q])
        given = np.isfinite(x)
        assert given[np.asarray(r.betas) <= 1.0].all(), q
        np.testing.assert_allclose(x[given], y[given], rtol=rtol, atol=tol, err_msg=q)
    assert np.all(r.c[np.isfinite(r.c)] >= 0)


@pytest.mark.parametrize("L", [3, 4])
@pytest.mark.parametrize("kind", ["uniform", "pm", "gaussian"])
@pytest.mark.parametrize("seed", range(2))
def test_against_enumeration(L, kind, seed):
    rng = np.random.default_rng(100 * L + 10 * seed + len(kind))
    i, j = torus_bonds(L)
    J = draw(kind, i.size, rng)
    m = IsingModel(L * L, i, j, J)
    betas = np.array([b for b in BETAS if torus.applicable(m, [b], sites=False) is None])
    assert betas.max() >= 5.0
    r = torus.run(m, betas)
    # beyond beta ~ 1 u, s, c may be NaN: on +-J tori the periodic class can lie several J above the lightest,
    # W_PP a small difference of the four Pfaffians (3 x 3: e^-9 of the largest class at beta = 2)
    assert_thermo(r, naive.model_thermo(m, betas), np.abs(m.couplings).sum() / m.n)


@pytest.mark.parametrize("L, kind", [(5, "pm"), (6, "gaussian"), (8, "pm"), (8, "gaussian")])
def test_against_elimination(L, kind):
    elimination = pytest.importorskip("isingvar.exact.elimination")
    m = make_instance("square", resolve_params("square", {"L": L, "disorder": kind}), 1, 1)
    betas = np.array([0.05, 0.3, 0.6, 1.0, 1.5, 2.0, 2.5, 3.0])
    r = torus.run(m, betas)
    assert (r.status == 0).all()
    ref = elimination.run(m, betas, sites=False, progress=None)
    assert_thermo(r, {q: getattr(ref, q) for q in ("u", "s", "c")}, np.abs(m.couplings).sum() / m.n)


def kaufman_derivatives(L, betas):
    """(u, s, c) per spin of the isotropic L x L torus ferromagnet (J = 1) from Kaufman's closed form for ln Z
    (the formula of tests/test_torus.py's kaufman_lnz, here in 60-digit arithmetic), differentiated numerically
    by mpmath at that precision."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 60

    def lnz(K):
        def gamma(l):
            if l == 0:
                return 2 * K + mp.log(mp.tanh(K))
            return mp.acosh(mp.cosh(2 * K) / mp.tanh(2 * K) - mp.cos(mp.pi * l / L))

        g = [gamma(l) for l in range(2 * L)]
        odd, even = [L * g[2 * r + 1] / 2 for r in range(L)], [L * g[2 * r] / 2 for r in range(L)]
        total = sum(mp.fprod(f(x) for x in part) for part in (odd, even)
                    for f in (lambda x: 2 * mp.cosh(x), lambda x: 2 * mp.sinh(x)))
        return -mp.log(2) + mp.mpf(L * L) / 2 * mp.log(2 * mp.sinh(2 * K)) + mp.log(total)

    out = []
    for b in betas:
        K = mp.mpf(b)
        d1, d2 = mp.diff(lnz, K, 1), mp.diff(lnz, K, 2)
        out.append([float(-d1 / L**2), float((lnz(K) - K * d1) / L**2), float(K * K * d2 / L**2)])
    return np.array(out).T


@pytest.mark.parametrize("L", [16, 64])
def test_uniform_against_kaufman(L):
    m = make_instance("square", resolve_params("square", {"L": L}), 1, 0)
    betas = np.array([0.01, 0.1, 0.3, 0.4406868, KC, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0])
    r = torus.run(m, betas)
    u, s, c = kaufman_derivatives(L, betas)
    # every temperature, the critical point (where one Pf_k changes sign) included
    assert np.isfinite(r.u).all() and np.isfinite(r.s).all() and np.isfinite(r.c).all()
    np.testing.assert_allclose(r.u, u, rtol=1e-10)
    np.testing.assert_allclose(r.s, s, rtol=1e-10)
    np.testing.assert_allclose(r.c, c, rtol=1e-10, atol=1e-13)


def test_translated_glass_gives_the_same_derivatives():
    # another seam position, order, ground state and gauge: u, s, c agree where both are given
    from test_torus import shifted

    L = 24
    m = make_instance("square", resolve_params("square", {"L": L, "disorder": "pm"}), 1, 2)
    betas = np.linspace(0.2, 2.2, 6)
    a, b = torus.run(m, betas), torus.run(shifted(m, L, 7, 13), betas)
    for q in ("u", "s", "c"):
        x, y = getattr(a, q), getattr(b, q)
        both = np.isfinite(x) & np.isfinite(y)
        assert both[betas <= 1.0].all()
        np.testing.assert_allclose(x[both], y[both], rtol=3e-10)


def test_unconfirmed_derivatives_are_nan_and_ln_z_is_kept(monkeypatch):
    # beyond DERIVATIVE_CHECK_GROWTH two seam positions must agree on each of u, s, c: positions that disagree
    # in the derivatives alone leave those NaN, and ln Z (and the exact method's result) as it was
    m = make_instance("square", resolve_params("square", {"L": 6, "disorder": "pm"}), 1, 0)
    betas = np.array([0.5, 2.0])  # +-J: u, s, c checked above beta = 1.15, ln Z above 2.30
    good = torus.run(m, betas)
    real = torus.class_derivatives
    calls = []

    def spread(*args):  # each position's derivatives off by a different 1e-6
        calls.append(1)
        d = real(*args).copy()
        d[0, 0] += 1e-6 * len(calls)
        return d

    monkeypatch.setattr(torus, "class_derivatives", spread)
    r = torus.run(m, betas)
    assert list(r.status) == [0, 0]
    np.testing.assert_array_equal(r.lnZ, good.lnZ)
    assert np.isnan([r.u[1], r.s[1]]).all() and r.c[1] == pytest.approx(good.c[1], rel=1e-10)
    assert r.u[0] == pytest.approx(good.u[0], abs=1e-6)  # one position below the check: taken as it is
    # the exact method keeps such a beta (u, s, c are in NOT_GIVEN): not a numerical failure
    assert not choice._failed(torus, r, False).any()


def test_certificate_u_above_ground_energy(monkeypatch):
    # d ln W / dbeta <= 0 where the reference is certainly a lightest state: a derivative that breaks it
    # leaves u and s NaN (c, ln Z kept)
    m = make_instance("square", resolve_params("square", {"L": 4, "disorder": "pm"}), 1, 0)
    real = torus.class_derivatives

    def broken(*args):
        d = real(*args).copy()
        d[0, 0] = abs(d[0, 0]) + 1.0
        return d

    monkeypatch.setattr(torus, "class_derivatives", broken)
    r = torus.run(m, [0.5])
    assert np.isnan([r.u[0], r.s[0]]).all() and np.isfinite([r.lnZ[0], r.c[0]]).all()


def test_beyond_the_jet_size_u_s_c_are_nan(monkeypatch):
    # real Schur steps only (JET_MAX_SIZE): ln Z as before, the derivatives NaN; the cost model drops the jets
    m = make_instance("square", resolve_params("square", {"L": 5, "disorder": "gaussian"}), 1, 0)
    betas = [0.1, 0.2]
    assert torus._cross_check_beta(m, torus.DERIVATIVE_CHECK_GROWTH) > 0.2  # one Schur step per beta
    ref = torus.run(m, betas)
    with_jets = torus.work(m, betas)
    monkeypatch.setattr(torus, "JET_MAX_SIZE", 10)
    r = torus.run(m, betas)
    np.testing.assert_allclose(r.lnZ, ref.lnZ, rtol=1e-13)
    assert np.isnan(r.u).all() and np.isnan(r.s).all() and np.isnan(r.c).all()
    assert np.isfinite(ref.c).all()
    # two betas below any cross-check: (2 paired jet steps of JET_COST each per beta + setup) against (2 + setup)
    # real steps
    steps = torus.SETUP_FACTORISATIONS
    assert with_jets / torus.work(m, betas) == pytest.approx((2 * 2 * torus.JET_COST + steps) / (2 + steps))


@pytest.mark.parametrize("kind, beta", [("pm", 0.3), ("pm", 1.5), ("gaussian", 1.0)])
def test_paired_step_against_superlu_step(kind, beta):
    # the jet Schur step with the interior on the paired double kernel against SuperLU on the jets' embedding: the
    # same four signed Pfaffians and class derivatives (two eliminations in different orders and codes)
    L = 8
    m = make_instance("square", resolve_params("square", {"L": L, "disorder": kind}), 1, 2)
    s = torus._structure(L)
    h, _, jg = torus.reference(m, s, torus._index(m, L))
    ref = torus.seam_pfaffians(s, beta, jg, 2)
    got = torus.seam_pfaffians_paired(s, beta, jg, 2)
    assert got[0][0] * ref[0][0] * got[0] @ ref[0] == 4  # the signs, up to the common one
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-13)
    assert got[3] == pytest.approx(ref[3], rel=0.5)  # the growth: same interior, another order
    np.testing.assert_allclose(torus.class_derivatives(*got[5], s.S, h)[0], torus.class_derivatives(*ref[5], s.S, h)[0],
                               rtol=1e-11)
    assert np.all(got[2] > 0) and np.all(got[2] < 1e-9)


def test_paired_steps_give_u_s_c_in_double(monkeypatch):
    # where double precision suffices every jet beta is two paired steps that agree, none in double-double
    L = 8
    m = make_instance("square", resolve_params("square", {"L": L, "disorder": "gaussian"}), 1, 3)
    betas = np.array([0.1, 0.5, 1.0])
    calls = []
    paired = torus.seam_pfaffians_paired

    def counted(*args, **kwargs):
        calls.append(args[1])
        return paired(*args, **kwargs)

    def refused(*args, **kwargs):
        raise AssertionError("a double-double step")

    monkeypatch.setattr(torus, "seam_pfaffians_paired", counted)
    monkeypatch.setattr(torus, "seam_pfaffians_dd", refused)
    r = torus.run(m, betas)
    assert sorted(set(calls)) == list(betas) and all(calls.count(b) >= 2 for b in betas)
    elimination = pytest.importorskip("isingvar.exact.elimination")
    ref = elimination.run(m, betas, sites=False, progress=None)
    assert_thermo(r, {q: getattr(ref, q) for q in ("u", "s", "c")}, np.abs(m.couplings).sum() / m.n)


def test_one_paired_position_is_never_enough(monkeypatch):
    # each paired step off by its own 1e-6 in ln Pf K_II and its derivative (an error no estimate sees): no two
    # positions agree, so every beta goes to double-double, and the values are the undisturbed run's
    L = 8
    m = make_instance("square", resolve_params("square", {"L": L, "disorder": "gaussian"}), 1, 3)
    betas = np.array([0.1, 0.5, 1.0])
    clean = torus.run(m, betas)
    paired, dd = torus.seam_pfaffians_paired, torus.seam_pfaffians_dd
    shifts, dd_betas = iter(np.random.default_rng(0).uniform(1e-6, 2e-6, 1000)), []

    def noisy(*args, **kwargs):
        signs, logs, rel, growth, common, jets = paired(*args, **kwargs)
        d = next(shifts)
        interior = jets[0].copy()
        interior[0, :2] += d
        return signs, logs + d, rel, growth, common, (interior, [(a, b, c + d) for a, b, c in jets[1]])

    def counted(*args, **kwargs):
        dd_betas.append(args[1])
        return dd(*args, **kwargs)

    monkeypatch.setattr(torus, "seam_pfaffians_paired", noisy)
    monkeypatch.setattr(torus, "seam_pfaffians_dd", counted)
    r = torus.run(m, betas)
    assert sorted(set(dd_betas)) == list(betas)
    for q in ("lnZ", "u", "s", "c"):
        np.testing.assert_allclose(getattr(r, q), getattr(clean, q), rtol=1e-10, err_msg=q)


def _var_e_shifted(monkeypatch, rel, m, betas, clean):
    """Run ``m`` with each paired step's Var E moved by its own multiple (call k: (k + 1) / 2) of ``rel`` |Var E|
    (the interior's half second derivative, which nothing but Var E reads); returns the run and the betas of the
    double-double steps taken."""
    var_e = dict(zip(betas, clean.c * m.n / betas**2))
    paired, dd = torus.seam_pfaffians_paired, torus.seam_pfaffians_dd
    calls, dd_betas = iter(range(1000)), []

    def shifted(*args, **kwargs):
        signs, logs, rel_b, growth, common, jets = paired(*args, **kwargs)
        interior = jets[0].copy()
        interior[0, 2] += 0.5 * rel * var_e[args[1]] * (next(calls) + 1) / 2  # (ln W)'' = 2 interior[0, 2] + ...
        return signs, logs, rel_b, growth, common, (interior, jets[1])

    def counted(*args, **kwargs):
        dd_betas.append(args[1])
        return dd(*args, **kwargs)

    monkeypatch.setattr(torus, "seam_pfaffians_paired", shifted)
    monkeypatch.setattr(torus, "seam_pfaffians_dd", counted)
    return torus.run(m, betas), dd_betas


def test_paired_c_confirmed_at_its_own_tolerance(monkeypatch):
    # two paired positions that differ on Var E by 5e-12 .. 1e-11 of it (beyond PAIRED_RTOL, within PAIRED_C_RTOL):
    # c is given from double, within PAIRED_C_TOL of the undisturbed run, and no double-double step is taken
    L = 8
    m = make_instance("square", resolve_params("square", {"L": L, "disorder": "gaussian"}), 1, 3)
    betas = np.array([0.1, 0.5, 1.0])
    clean = torus.run(m, betas)
    r, dd_betas = _var_e_shifted(monkeypatch, 1e-11, m, betas, clean)
    assert dd_betas == []
    assert np.all(np.abs(r.c - clean.c) <= torus.PAIRED_C_TOL * np.abs(clean.c))
    for q in ("lnZ", "u", "s", "f_dw"):
        np.testing.assert_allclose(getattr(r, q), getattr(clean, q), rtol=1e-12, err_msg=q)


def test_paired_c_disagreeing_goes_to_double_double(monkeypatch):
    # positions that differ on Var E by >= 5e-7 of it agree on nothing about c: every beta is redone in
    # double-double, and c is the undisturbed run's (to RTOL), never a paired value off by 1e-6
    L = 8
    m = make_instance("square", resolve_params("square", {"L": L, "disorder": "gaussian"}), 1, 3)
    betas = np.array([0.1, 0.5, 1.0])
    clean = torus.run(m, betas)
    r, dd_betas = _var_e_shifted(monkeypatch, 1e-6, m, betas, clean)
    assert sorted(set(dd_betas)) == list(betas)
    np.testing.assert_allclose(r.c, clean.c, rtol=torus.RTOL)


def _attempt(ln_z, dense):
    """One seam position's attempt as :func:`torus._positions` records it: (ln Z of the four classes, their error
    estimates (not used by pairs), the interior's bound, the dense-Pfaffian bounds)."""
    return np.asarray(ln_z, float), np.full(4, 1.0), 0.0, np.full(4, dense)


def test_domain_wall_from_the_ratio_itself():
    # ln Z_PP - ln Z_AP = 3 exactly; each position's interior off by its own 1e-7 (common to its four classes:
    # ln Z disagrees by 2e-7, far beyond DW_ATOL from each ln Z's agreement) and its AP class by +-2e-11
    truth = np.array([1000.0, 997.0, 996.0, 995.0])
    a = _attempt(truth + 1e-7 + np.array([0, 2e-11, 0, 0]), 1e-12)
    b = _attempt(truth - 1e-7 - np.array([0, 2e-11, 0, 0]), 1e-12)
    value, bound = torus._domain_wall([a, b], 2)
    assert abs(value - 3.0) <= bound <= torus.DW_ATOL
    assert bound == pytest.approx(torus.AGREEMENT_MARGIN * 4e-11 + 4e-12, rel=1e-3)
    # one position alone confirms nothing where two are needed; where one suffices, its own bounds do
    assert np.isinf(torus._domain_wall([a], 2)[1])
    assert torus._domain_wall([a], 1) == (pytest.approx(3.0 - 2e-11), 2.0)
    # positions disagreeing on the ratio by 1e-9: not confirmed (the bound passes DW_ATOL); a third that agrees
    # with the first is taken
    c = _attempt(truth + np.array([0, 1e-9, 0, 0]), 1e-12)
    assert torus._domain_wall([a, c], 2)[1] > torus.DW_ATOL
    value, bound = torus._domain_wall([a, c, b], 2)
    assert abs(value - 3.0) <= bound <= torus.DW_ATOL
    # a class that is NaN (W_AP not positive) confirms nothing
    assert np.isinf(torus._domain_wall([_attempt([1.0, np.nan, 0, 0], 0.0)] * 2, 2)[1])
