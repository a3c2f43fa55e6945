"""The fast summation paths against the reference Gray-code kernel and plain NumPy."""

from fractions import Fraction
from itertools import pairwise

import mpmath
import naive
import numpy as np
import pytest
from conftest import random_model

from isingvar.exact.enumeration import choose_path, energy_quantum, exact_enumeration
from isingvar.families import make_instance, resolve_params
from isingvar.model import IsingModel

OBSERVABLES = ("lnZ", "u", "s", "c", "m", "m2", "absm", "chi")
UNIFORM = np.linspace(0.0, 4.0, 9)
# an even count: at h = 0 the chain takes betas two per pass after the first, and one is left over
UNIFORM_EVEN = np.linspace(0.05, 2.5, 10)
IRREGULAR = np.array([200.0, 0.0, 0.37, 1.1, 3.3, 12.0, 50.0])


def assert_same(a, b, rtol=1e-12):
    for name in OBSERVABLES:
        x, y = getattr(a, name), getattr(b, name)
        # values that are pure round-off (c ~ 1e-80 at beta = 200; m at h = 0, where the
        # reference kernel's s and -s differ by round-off that beta = 200 amplifies to ~1e-12)
        atol = 1e-10 if name == "m" else 1e-13 * max(1.0, np.abs(y).max())
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=name)
    assert a.e0 == pytest.approx(b.e0, rel=1e-13, abs=1e-12)


@pytest.mark.parametrize("n", [8, 13, 17, 22])
@pytest.mark.parametrize("field_scale", [0.0, 0.4])
def test_real_couplings_direct_and_chain(n, field_scale):
    rng = np.random.default_rng(1000 + n + int(field_scale * 10))
    m = random_model(n, rng, field_scale=field_scale, coupling_scale=1 / np.sqrt(n))
    for betas in (UNIFORM, UNIFORM_EVEN, IRREGULAR):
        ref = exact_enumeration(m, betas, path="reference")
        assert_same(exact_enumeration(m, betas, path="direct"), ref)
        if betas is not IRREGULAR:
            assert choose_path(m, betas) == "chain"
            assert_same(exact_enumeration(m, betas, path="chain"), ref)
        else:
            assert choose_path(m, betas) == "direct"


@pytest.mark.parametrize("n", [8, 13, 17, 22])
@pytest.mark.parametrize("field_scale", [0.0, 1.0])
def test_integer_couplings_histogram(n, field_scale):
    rng = np.random.default_rng(2000 + n + int(field_scale))
    m = random_model(n, rng, integer=True, field_scale=field_scale, density=0.5)
    assert choose_path(m, IRREGULAR) == "histogram"
    for betas in (UNIFORM, IRREGULAR):
        ref = exact_enumeration(m, betas, path="reference")
        fast = exact_enumeration(m, betas)
        assert fast.path == "histogram"
        assert_same(fast, ref)
        assert_same(exact_enumeration(m, betas, path="direct"), ref)


def test_brute_force_agrees_with_every_path():
    rng = np.random.default_rng(5)
    m = random_model(12, rng, field_scale=0.3)
    ref = naive.thermo(m.dense(), m.fields, UNIFORM)
    for path in ("direct", "chain", "reference"):
        r = exact_enumeration(m, UNIFORM, path=path)
        np.testing.assert_allclose(r.lnZ, ref["lnZ"], rtol=1e-12)
        np.testing.assert_allclose(r.c, ref["c"], rtol=1e-9, atol=1e-14)


def test_quantum_detection():
    m = IsingModel(3, [0, 1], [1, 2], [0.5, -1.5], [0.25, 0, 0])
    assert energy_quantum(m) == 0.25
    assert energy_quantum(m.scaled(0.3)) is not None
    sk = make_instance("sk", resolve_params("sk", {"n": 6}), 0, 0)
    assert energy_quantum(sk) is None
    ferro = make_instance("square", resolve_params("square", {"L": 4}), 0, 0)
    assert choose_path(ferro.scaled(0.7, 0.35), [0.1, 0.2]) == "histogram"


def test_lattice_scaled_field_histogram_matches_reference():
    m = make_instance("square", resolve_params("square", {"L": 4, "disorder": "pm"}), 3, 0).scaled(0.5, 0.25)
    ref = exact_enumeration(m, IRREGULAR, path="reference")
    assert_same(exact_enumeration(m, IRREGULAR), ref)


def _mp_heat_capacity(m, beta, digits=60):
    """C/N at beta with mpmath at high precision from the exact energy list (no cancellation issue)."""
    mpmath.mp.dps = digits
    E = naive.energies(m.dense(), m.fields, naive.all_states(m.n))
    E = [mpmath.mpf(Fraction(float(e))) for e in E]
    b = mpmath.mpf(beta)
    w = [mpmath.exp(-b * e) for e in E]
    Z = mpmath.fsum(w)
    U = mpmath.fsum(wi * e for wi, e in zip(w, E)) / Z
    V = mpmath.fsum(wi * (e - U) ** 2 for wi, e in zip(w, E)) / Z
    return float(b * b * V / m.n)


@pytest.mark.parametrize("beta", [5.0, 40.0, 150.0])
def test_heat_capacity_at_large_beta_against_mpmath(beta):
    rng = np.random.default_rng(9)
    m = random_model(10, rng, field_scale=0.2)
    expected = _mp_heat_capacity(m, beta)
    for path in ("direct", "reference"):
        c = exact_enumeration(m, [beta], path=path).c[0]
        assert c == pytest.approx(expected, rel=1e-9, abs=1e-300)


@pytest.mark.slow
def test_no_drift_on_a_long_run():
    # 2^26 states through many chunks: lnZ matches the reference kernel, and the
    # ground state found has the energy reported (recomputed from scratch)
    m = make_instance("sk", resolve_params("sk", {"n": 26}), 4, 0).scaled(1.0, 0.05)
    betas = np.array([0.5, 3.0, 30.0])
    fast = exact_enumeration(m, betas, path="direct")
    ref = exact_enumeration(m, betas, path="reference")
    np.testing.assert_allclose(fast.lnZ, ref.lnZ, rtol=1e-12)
    assert m.energy(fast.ground_state) == pytest.approx(fast.e0, abs=1e-10)


def test_progress_and_symmetry():
    m = make_instance("sk", resolve_params("sk", {"n": 24}), 0, 0)
    calls = []
    r = exact_enumeration(m, UNIFORM, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (2**24, 2**24)
    assert all(a[0] < b[0] for a, b in pairwise(calls))
    np.testing.assert_array_equal(r.m, 0.0)  # h = 0: exact by symmetry


@pytest.mark.parametrize("n", [5, 13, 17])
@pytest.mark.parametrize("field_scale", [0.0, 0.4])
@pytest.mark.parametrize("integer", [False, True])
def test_site_magnetisations(n, field_scale, integer):
    rng = np.random.default_rng(3000 + n)
    m = random_model(n, rng, field_scale=field_scale, integer=integer)
    S = naive.all_states(n)
    E = naive.energies(m.dense(), m.fields, S)
    for betas in (UNIFORM, IRREGULAR):
        r = exact_enumeration(m, betas, sites=True)
        expected = []
        for b in betas:
            a = -b * E
            expected.append(np.exp(a - naive.logsumexp(a)) @ S)
        np.testing.assert_allclose(r.sites, expected, atol=1e-10)
        np.testing.assert_allclose(r.sites.mean(1), r.m, atol=1e-12)  # sum of <s_i> is <M>
        if field_scale == 0.0:
            np.testing.assert_array_equal(r.sites, 0.0)


def test_sites_refused_where_a_path_cannot_give_them():
    m = IsingModel(3, [0, 1], [1, 2], [1.0, -1.0], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="per-site"):
        exact_enumeration(m, [1.0], path="histogram", sites=True)
    assert exact_enumeration(m, [1.0], sites=True).path != "histogram"


def test_vectorised_exp_against_mpmath():
    from isingvar.kernels.blocked import _exp_neg

    rng = np.random.default_rng(11)
    y = np.concatenate([[0.0, 1e-300, 0.5 * np.log(2), 706.0], rng.uniform(0, 1, 500), rng.uniform(0, 706, 500)])
    out = np.empty_like(y)
    _exp_neg(y, 1.0, out)
    ref = np.array([float(mpmath.exp(-mpmath.mpf(float(v)))) for v in y])
    assert out[0] == 1.0
    np.testing.assert_allclose(out, ref, rtol=6e-16, atol=0)
    _exp_neg(np.array([800.0, 1e6]), 1.0, out[:2])  # clamped at exp(-707): tiny, positive, finite
    assert np.all((out[:2] > 0) & (out[:2] < 1e-306))


@pytest.mark.parametrize("field_scale", [0.0, 0.4])
@pytest.mark.parametrize("path", ["direct", "chain", "histogram"])
def test_many_chunks_and_calls_merge_every_observable(monkeypatch, path, field_scale):
    # Tiny blocks and calls, so that N = 16 runs through 2^6 re-anchored chunks per worker and
    # 2^5 kernel calls whose per-worker sums (and per-site sums) are folded one into the other:
    # every observable, the ground state and <s_i> must come out as from one plain enumeration.
    from isingvar.exact import enumeration as exact

    monkeypatch.setattr(exact, "LOW_BLOCK", {"histogram": 4, "chain": 4, "direct": 4})
    monkeypatch.setattr(exact, "CHUNK_BITS", 2)
    monkeypatch.setattr(exact, "STATES_PER_CALL", 1 << 9)
    n = 16
    rng = np.random.default_rng(4000 + int(10 * field_scale))
    integer = path == "histogram"
    m = random_model(n, rng, field_scale=field_scale, coupling_scale=1.0 if integer else 1 / np.sqrt(n),
                     integer=integer)
    betas = UNIFORM if path == "chain" else IRREGULAR
    plan = exact._plan(m, path)
    assert plan.n_chunks >= 16 and plan.n_chunks * (1 << (plan.k + plan.chunk_bits)) > exact.STATES_PER_CALL
    sites = not (integer and field_scale)  # the histogram path gives <s_i> only at zero field
    fast = exact_enumeration(m, betas, path=path, sites=sites)
    ref = naive.thermo(m.dense(), m.fields, betas)  # plain numpy (the reference kernel drifts 5e-12 at beta = 50)
    for name in OBSERVABLES:
        scale = max(1.0, np.abs(ref[name]).max())
        np.testing.assert_allclose(getattr(fast, name), ref[name], rtol=1e-11, atol=1e-13 * scale, err_msg=name)
    assert fast.e0 == pytest.approx(ref["e0"], abs=1e-12)
    assert m.energy(fast.ground_state) == pytest.approx(ref["e0"], abs=1e-12)
    if sites:
        S = naive.all_states(n)
        E = naive.energies(m.dense(), m.fields, S)
        for k, b in enumerate(betas):
            np.testing.assert_allclose(fast.sites[k], np.exp(-b * E - naive.logsumexp(-b * E)) @ S, atol=1e-10)
