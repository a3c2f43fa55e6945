"""Low temperature: the planar and torus paths against a transfer matrix (tests/naive.py), and their cheap
certificates (ln Z convex in beta, c >= 0, u >= E0/N, ln Z >= -beta E0 + ln 2) over a beta grid to 8."""

import naive
import numpy as np
import pytest

from isingvar.exact import EXACT_STATUS, planar, torus
from isingvar.exact.result import BEYOND_PATH_RANGE
from isingvar.families import make_instance, resolve_params
from isingvar.model import IsingModel

BETAS = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0])  # increasing (the certificates)
#: The reasons a path may give for a NaN beta.
FLAGGED = {"beyond_path_range", "precision_lost", "precision_not_confirmed"}
RTOL = 1e-10  # the paths' promise on ln Z, u, s and c (docs/methods.md)
SEAMS = [(a, b) for a in (0, 1, -1) for b in (0, 1, -1)]


def square(L, boundary, disorder, seed=1):
    return make_instance("square", resolve_params("square", {"L": L, "boundary": boundary, "disorder": disorder}),
                         seed, 0)


# ------------------------------------------------------------------ the transfer matrix itself
def lattice_couplings(J_h, J_v, seams):
    """Dense (N, N) couplings of the L x L lattice, built here bond by bond: J_h[r, c] on (r, c)-(r, c+1),
    J_v[r, c] on (r, c)-(r+1, c), the seam bonds (last column of J_h, last row of J_v) times seams[1], resp.
    seams[0] (0: left out).  On L = 2 a seam bond joins the pair its inner bond joins: the two add."""
    L = J_h.shape[0]
    J = np.zeros((L * L, L * L))
    for r in range(L):
        for c in range(L):
            for (r2, c2), value, seam in (((r, (c + 1) % L), J_h[r, c], seams[1] if c == L - 1 else 1),
                                          (((r + 1) % L, c), J_v[r, c], seams[0] if r == L - 1 else 1)):
                a, b = r * L + c, r2 * L + c2
                J[a, b] += value * seam
                J[b, a] += value * seam
    return J


CASES = [(L, kind, field) for L in (2, 3) for kind in ("pm", "gaussian") for field in ("none", "uniform", "site")]


# L = 4: two cases (each enumeration of 2^16 states, nine boundaries, takes ~8 s)
@pytest.mark.parametrize(("L", "kind", "field"), CASES + [(4, "pm", "none"), (4, "gaussian", "site")])
def test_transfer_matrix_against_enumeration(L, kind, field):
    # every boundary: open, periodic, antiperiodic along each axis (the trace, the transposed transfer); beta
    # to 10, where c ~ e^{-beta gap} is far below <E>^2: the moments are carried centred, not differenced
    rng = np.random.default_rng(7 * L + len(kind) + len(field))
    betas = np.array([0.0, 0.1, 0.5, 1.0, 3.0, 10.0])
    draw = (lambda shape: rng.choice([-1.0, 1.0], shape)) if kind == "pm" else rng.standard_normal
    J_h, J_v = draw((L, L)), draw((L, L))
    h = {"none": 0.0, "uniform": 0.3, "site": rng.standard_normal((L, L))}[field]
    for seams in SEAMS:
        ref = naive.thermo(lattice_couplings(J_h, J_v, seams), np.broadcast_to(h, (L, L)).ravel(), betas)
        got = naive.square_transfer_thermo(J_h, J_v, betas, h, seams)
        scale = (np.abs(J_h).sum() + np.abs(J_v).sum() + np.abs(h).sum()) / L**2
        np.testing.assert_allclose(got["lnZ"], ref["lnZ"], rtol=1e-12, atol=0, err_msg=str(seams))
        np.testing.assert_allclose(got["f"], ref["f"], rtol=1e-12, atol=0, err_msg=str(seams))
        np.testing.assert_allclose(got["u"], ref["u"], rtol=1e-12, atol=1e-12 * scale, err_msg=str(seams))
        np.testing.assert_allclose(got["c"], ref["c"], rtol=1e-12, atol=0, err_msg=str(seams))
        # S = ln Z + beta U: its absolute error is rounding of beta U (documented)
        s_tol = 1e-12 * np.maximum(np.abs(ref["s"]), betas * np.abs(ref["u"]))
        assert np.all(np.abs(got["s"] - ref["s"]) <= s_tol), seams


@pytest.mark.parametrize("L", [3, 4])
@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_transfer_matrix_reads_the_family_layout(L, boundary):
    m = square(L, boundary, "gaussian")
    betas = np.array([0.2, 1.0, 4.0])
    ref = naive.model_thermo(m, betas)
    got = naive.square_model_thermo(m, betas)
    for q in ("lnZ", "u", "s", "c"):
        np.testing.assert_allclose(got[q], ref[q], rtol=1e-12, err_msg=q)
    if boundary == "open":
        with pytest.raises(ValueError, match="antiperiodic"):
            naive.square_model_thermo(m, betas, antiperiodic=(True, False))
        return
    # antiperiodic along each axis: the model with the seam bonds negated, enumerated
    ri, rj, ci, cj = m.edge_i // L, m.edge_j // L, m.edge_i % L, m.edge_j % L
    first = (ci == cj) & (rj - ri == L - 1)  # (L-1, c)-(0, c), listed as (0, c) < (L-1, c)
    second = (ri == rj) & (cj - ci == L - 1)
    assert first.sum() == L and second.sum() == L
    for anti, negate in (((True, False), first), ((False, True), second), ((True, True), first | second)):
        flipped = IsingModel(m.n, m.edge_i, m.edge_j, np.where(negate, -m.couplings, m.couplings))
        np.testing.assert_allclose(naive.square_model_thermo(m, betas, antiperiodic=anti)["lnZ"],
                                   naive.model_lnZ(flipped, betas), rtol=1e-12)


def test_transfer_matrix_refuses():
    with pytest.raises(ValueError, match="L <= 10"):
        naive.square_transfer_thermo(np.ones((11, 11)), np.ones((11, 11)), [1.0], seams=(1, 1))
    with pytest.raises(ValueError, match="nearest-neighbour"):
        naive.square_bonds(IsingModel(9, [0], [4], [1.0]))


# ------------------------------------------------------------------ the paths against it
def run_path(module, m, betas):
    """``module``'s run over ``betas`` as the sweep runs it (choice.solve, with this path forced): the betas
    its ``applicable`` refuses one by one are ``beyond_path_range``.  Returns (status int8 (nb,), values:
    dict of float64 (nb,) lnZ, f, u, s, c, result)."""
    covered = np.array([module.applicable(m, [b], sites=False) is None for b in betas])
    assert covered.any()
    r = module.run(m, betas[covered])
    status = np.full(betas.size, BEYOND_PATH_RANGE, dtype=np.int8)
    status[covered] = r.status
    values = {}
    for q in ("lnZ", "f", "u", "s", "c"):
        values[q] = np.full(betas.size, np.nan)
        values[q][covered] = getattr(r, q)
    return status, values, r


def assert_matches(module, status, values, ref, scale):
    """Where the path gives a value, the transfer matrix's to RTOL (u: with a floor of RTOL x the energy scale
    per spin; c: 1e-13 absolute, where it is e^{-beta gap} small); where it gives NaN, a reason."""
    ok = status == 0
    assert ok[BETAS <= 2.0].all()  # high temperature is never refused: the comparison is not empty
    assert {EXACT_STATUS[k] for k in status[~ok]} <= FLAGGED
    for q in values:
        assert np.isnan(values[q][~ok]).all()
    np.testing.assert_allclose(values["lnZ"][ok], ref["lnZ"][ok], rtol=RTOL, atol=0)
    np.testing.assert_allclose(values["f"][ok], ref["f"][ok], rtol=RTOL, atol=0)
    for q, atol in (("u", RTOL * scale), ("s", 0.0), ("c", 1e-13)):
        given = ok & np.isfinite(values[q])
        # a NaN u, s or c at a computed beta: one the path declares it may leave unconfirmed
        assert given[ok].all() or q in module.UNCONFIRMED
        np.testing.assert_allclose(values[q][given], ref[q][given], rtol=RTOL, atol=atol, err_msg=q)


def assert_certificates(values, status, e0, n):
    """The cheap certificates over the computed betas of BETAS (increasing): ln Z convex in beta, its chords'
    slopes between -U at their ends (U = -d ln Z/dbeta), c >= 0; where E0 is given, u >= E0/N and
    ln Z >= -beta E0 + ln 2 (the ground state and its flip).  Tolerances: the paths' RTOL."""
    ok = status == 0
    b, lnz, u, c = BETAS[ok], values["lnZ"][ok], values["u"][ok] * n, values["c"][ok]
    slope = np.diff(lnz) / np.diff(b)
    slope_tol = 2 * RTOL * (np.abs(lnz[1:]) + np.abs(lnz[:-1])) / np.diff(b)
    assert np.all(np.diff(slope) >= -(slope_tol[1:] + slope_tol[:-1]))
    below, above = -u[:-1], -u[1:]  # convexity: -U(b_k) <= chord slope <= -U(b_k+1)
    fin = np.isfinite(below)
    assert np.all(below[fin] <= slope[fin] + slope_tol[fin] + RTOL * np.abs(below[fin]))
    fin = np.isfinite(above)
    assert np.all(slope[fin] <= above[fin] + slope_tol[fin] + RTOL * np.abs(above[fin]))
    assert np.all(c[np.isfinite(c)] >= 0)
    if np.isfinite(e0):
        fin = np.isfinite(u)
        assert np.all(u[fin] >= e0 - RTOL * abs(e0))
        assert np.all(lnz >= -b * e0 + np.log(2) - RTOL * np.abs(lnz))


@pytest.mark.parametrize("L", [8, 12, pytest.param(16, marks=pytest.mark.slow)])
@pytest.mark.parametrize("disorder", ["pm", "gaussian"])
def test_planar_against_transfer_matrix(L, disorder):
    m = square(L, "open", disorder)
    status, values, r = run_path(planar, m, BETAS)
    assert r.path == "planar"
    ref = naive.square_model_thermo(m, BETAS)
    assert_matches(planar, status, values, ref, np.abs(m.couplings).sum() / m.n)
    assert_certificates(values, status, r.e0, m.n)
    if disorder == "pm":  # +-J: the reference state is certainly a ground state
        assert np.isfinite(r.e0)


@pytest.mark.parametrize("L", [6, 8, pytest.param(10, marks=pytest.mark.slow)])
@pytest.mark.parametrize("disorder", ["pm", "gaussian"])
def test_torus_against_transfer_matrix(L, disorder):
    m = square(L, "periodic", disorder)
    status, values, r = run_path(torus, m, BETAS)
    assert r.path == "torus"
    ref = {bc: naive.square_model_thermo(m, BETAS, antiperiodic=anti)
           for bc, anti in zip(torus.BOUNDARIES, ((False, False), (True, False), (False, True), (True, True)))}
    assert_matches(torus, status, values, ref["PP"], np.abs(m.couplings).sum() / m.n)
    assert_certificates(values, status, r.e0, m.n)
    # F_dw = F_AP - F_PP, total (docs/schema.md), where given (NaN where its bound on ln(Z_PP / Z_AP) fails)
    covered = status != BEYOND_PATH_RANGE
    f_dw = np.full(BETAS.size, np.nan)
    f_dw[covered] = r.f_dw
    dw = np.isfinite(f_dw)
    assert dw[BETAS <= 1.0].all() and not dw[status != 0].any()
    np.testing.assert_allclose(f_dw[dw], -(ref["AP"]["lnZ"][dw] - ref["PP"]["lnZ"][dw]) / BETAS[dw], rtol=0,
                               atol=1e-8)
    # all four boundary conditions, each where its own error bound is within RTOL (boundary_log_z is the
    # double-precision sweep: run may confirm more betas than it does, never fewer)
    lnz4, err4, common, status4, _, _ = torus.boundary_log_z(m, BETAS[covered])
    assert {EXACT_STATUS[k] for k in status4[status4 != 0]} <= FLAGGED and not np.any(status[covered][status4 == 0])
    for col, bc in enumerate(torus.BOUNDARIES):
        want = ref[bc]["lnZ"][covered]
        sure = (status4 == 0) & (err4[:, col] + common <= RTOL * np.abs(want))
        assert sure[BETAS[covered] <= 1.0].all()
        np.testing.assert_allclose(lnz4[sure, col], want[sure], rtol=RTOL, atol=0, err_msg=bc)


@pytest.mark.parametrize("disorder", ["pm", "gaussian"])
def test_planar_double_double_without_the_jets(disorder, monkeypatch):
    # beyond the jets' size (JET_MAX_SIZE, made small here) the betas double precision loses (made to lose from
    # beta = 3 on: its real factorisation alone holds ln Z to beta = 8 at L = 12) are redone in double-double
    # without the jets: ln Z and f against the transfer matrix, u, s, c NaN; without it (DD_MAX_SIZE small
    # too) those betas are precision_lost
    m = square(12, "open", disorder)
    ref = naive.square_model_thermo(m, BETAS)
    real_jet = planar._Structure.jet_log_pfaffian

    def grown(self, beta, jg):
        jet, growth = real_jet(self, beta, jg)
        return jet, (10 * planar.GROWTH_LIMIT if beta >= 3.0 else growth)

    monkeypatch.setattr(planar._Structure, "jet_log_pfaffian", grown)
    monkeypatch.setattr(planar, "JET_MAX_SIZE", 10)
    status, values, _ = run_path(planar, m, BETAS)
    monkeypatch.setattr(planar, "DD_MAX_SIZE", 10)
    status_double, _, _ = run_path(planar, m, BETAS)
    assert (status[BETAS >= 3.0] == 0).all() and (status_double[BETAS >= 3.0] != 0).all()
    assert (status_double[BETAS < 3.0] == 0).all()
    ok = status == 0
    np.testing.assert_allclose(values["lnZ"][ok], ref["lnZ"][ok], rtol=RTOL, atol=0)
    np.testing.assert_allclose(values["f"][ok], ref["f"][ok], rtol=RTOL, atol=0)
    assert all(np.isnan(values[q][BETAS >= 3.0]).all() for q in ("u", "s", "c"))  # the double-double betas
    assert {EXACT_STATUS[k] for k in status[~ok]} <= FLAGGED
