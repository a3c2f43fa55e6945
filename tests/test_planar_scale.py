"""The planar path's reference ground state and what keeps large lattices tractable (small L only)."""

import naive
import networkx as nx
import numpy as np
import pymatching
import pytest
from test_planar import lattice_bonds

from isingvar.exact import planar
from isingvar.exact.enumeration import MAX_SECONDS
from isingvar.families import make_instance, resolve_params
from isingvar.model import IsingModel


def reference_energy(m):
    s0, jg = planar._structure(m).reference(m)
    assert np.all(np.abs(s0) == 1.0)
    assert m.energy(s0) == pytest.approx(-jg.sum(), abs=1e-12)  # J' is J in the gauge of s0
    return m.energy(s0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("values", [(-1.0, 1.0), (-3.0, -1.0, 2.0), (-1.0, 0.0, 1.0)])
def test_reference_is_a_ground_state_of_integer_lattices(seed, values):
    # integer couplings: PyMatching's matching is exact, so s0 is a ground state; frustrated
    # plaquettes on the rim (matched to the outer face, PyMatching's boundary) included
    rng = np.random.default_rng(seed)
    i, j = lattice_bonds(4)
    m = IsingModel(16, i, j, rng.choice(values, i.size))
    assert reference_energy(m) == pytest.approx(naive.ground_energy(m), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_reference_is_a_ground_state_of_random_planar_graphs(seed):
    # a general embedding (networkx), whose largest face is the boundary wherever it lies
    rng = np.random.default_rng(seed)
    pts = rng.random((12, 2))
    g = nx.Graph([tuple(sorted(e)) for e in _delaunay_edges(pts)])
    g.remove_edges_from([e for e in list(g.edges) if rng.random() < 0.3])
    i, j = np.array(sorted(g.edges)).T
    m = IsingModel(12, i, j, rng.choice([-2.0, -1.0, 1.0], i.size))
    assert reference_energy(m) == pytest.approx(naive.ground_energy(m), abs=1e-12)


def _delaunay_edges(pts):
    from scipy.spatial import Delaunay

    for a, b, c in Delaunay(pts).simplices:
        yield from ((a, b), (b, c), (a, c))


def test_outer_face_is_the_matchings_boundary(monkeypatch):
    # The outer face of an open L x L lattice as a detector (degree 4(L - 1)) made PyMatching's
    # decode erratic on dense +-J syndromes (L = 512 did not finish); it must be the boundary.
    seen = []
    decode = pymatching.Matching.decode

    def spy(self, syndrome, *args, **kwargs):
        detectors = sorted(set(range(self.num_nodes)) - self.boundary)
        degree = dict.fromkeys(detectors, 0)
        for u, v, _ in self.edges():
            for node in (u, v):
                if node in degree:
                    degree[node] += 1
        seen.append((len(detectors), max(degree.values())))
        return decode(self, syndrome, *args, **kwargs)

    monkeypatch.setattr(pymatching.Matching, "decode", spy)
    L = 9
    i, j = lattice_bonds(L)
    m = IsingModel(L * L, i, j, np.random.default_rng(5).choice([-1.0, 1.0], i.size))
    planar._structure(m).reference(m)
    assert seen == [((L - 1) ** 2, 4)]  # one detector per plaquette, each of degree 4


def _mallinfo2():
    """glibc's mallinfo2() as a dict (None without it)."""
    import ctypes

    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2") or not hasattr(libc, "mallopt"):
        return None
    names = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")

    class Info(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in names]

    libc.mallinfo2.restype = Info
    info = libc.mallinfo2()
    return {name: getattr(info, name) for name in names}


def test_heap_kept_keeps_large_blocks_in_the_heap():
    # Each beta's factorisation frees and reallocates ~1 GB at L = 512; glibc served it by fresh
    # mappings unmapped at free, so every beta faulted its pages in anew (system time ~ user time).
    # In the block a large block comes from the heap and stays there, free, for the next beta.
    if _mallinfo2() is None:
        pytest.skip("not glibc >= 2.33")
    size = 64 << 20
    with planar.heap_kept():
        before = _mallinfo2()
        a = np.ones(size // 8)
        during = _mallinfo2()
        del a
        after = _mallinfo2()
    assert during["hblkhd"] == before["hblkhd"]  # not a mapping of its own
    assert after["fordblks"] >= size  # freed, kept for reuse
    # handed back on exit: the heap's free bytes are where they were before the block (not + size and the top
    # pad); measured against that start, since earlier allocations of the process may leave free chunks below
    # the top that no trim can return (81 MB in one CI run, where an absolute bound of 64 MB failed)
    assert _mallinfo2()["fordblks"] < before["fordblks"] + size // 2


def test_estimate_lets_the_issues_l512_sweep_run(monkeypatch):
    # The M^1.5 extrapolation from the 24 x 24 probe said 24 min for the issue's L = 512 sweep (32
    # beta), over the exact method's 10-minute limit, where it ran in 4 min: so the command was
    # refused without --force.  The probe's time is injected (a clock stepping 5.7 ms per reading,
    # the probe's time on the 2-vCPU machine of docs/performance.md), so no real speed matters.
    clock = iter(np.arange(1, 1000) * 0.0057)
    monkeypatch.setattr(planar, "_rate", [])
    with monkeypatch.context() as m:
        m.setattr(planar.time, "perf_counter", lambda: float(next(clock)))
        planar._probe_rate()
    betas = np.linspace(0.1, 2.0, 32)
    params = {"boundary": "open", "disorder": "pm"}
    est = {L: planar.estimate_seconds(make_instance("square", resolve_params("square", {"L": L, **params}), 1, 0),
                                      betas, sites=False) for L in (256, 512)}
    assert est[512] < MAX_SECONDS
    assert 4 * est[256] < est[512]  # still more than linear in N


def pm_lattice(L, seed=1):
    return make_instance("square", resolve_params("square", {"L": L, "boundary": "open", "disorder": "pm"}), seed, 0)


def test_high_beta_is_confirmed_in_a_second_order(monkeypatch):
    # Pivot growth inside its limit did not mean precision: at beta = 3 on an L = 256 +-J glass three
    # orders gave ln Pf 1.3e-6 apart.  Beyond the estimated growth CROSS_CHECK_GROWTH each beta is
    # factorised in a second order as well, and a disagreement is NaN with its reason, not a value.
    from isingvar.exact import EXACT_STATUS

    m = pm_lattice(6)
    betas = np.array([0.5, 2.0, 2.5, 3.0])  # +-J: checked above beta = ln(100) / 2 = 2.30
    calls = []
    checked = planar._Structure.jet_log_pfaffian_checked

    def spy(self, beta, jg):
        calls.append(beta)
        return checked(self, beta, jg)

    monkeypatch.setattr(planar._Structure, "jet_log_pfaffian_checked", spy)
    r = planar.run(m, betas)
    assert calls == [2.0, 2.5, 3.0]  # u, s, c are confirmed from beta = ln(10) / 2 = 1.15
    ref = planar.run(m, betas[:2])  # below the threshold: the same numbers, unchecked
    np.testing.assert_array_equal(r.lnZ[:2], ref.lnZ)
    # a disagreement sends that beta and the larger ones to double-double (two orders of their own), not to NaN
    monkeypatch.setattr(planar._Structure, "jet_log_pfaffian_checked", lambda self, beta, jg: spy(self, beta, jg) + 1e-6)
    calls.clear()
    bad = planar.run(m, betas)
    assert [EXACT_STATUS[k] for k in bad.status] == ["computed"] * 4
    assert calls == [2.0]  # the double's second order is not tried again after it failed at 2.0
    np.testing.assert_array_equal(bad.lnZ[0], ref.lnZ[0])
    for name in ("lnZ", "u", "s", "c"):
        np.testing.assert_allclose(getattr(bad, name), getattr(r, name), rtol=1e-12)


def test_second_order_gives_the_same_ln_pfaffian():
    # the check's own factorisation is a valid one: equal to the path's to rounding on a small glass
    m = pm_lattice(12)
    s = planar._structure(m)
    _, jg = s.reference(m)
    for beta in (0.3, 1.0, 3.0):
        first = s.jet_log_pfaffian_checked(beta, jg)[0]  # computes the order on the first call
        again = s.jet_log_pfaffian_checked(beta, jg)[0]  # reuses it
        assert first == pytest.approx(s.log_pfaffian(beta, jg)[0], rel=1e-13)
        assert again == pytest.approx(first, rel=1e-13)


def test_e0_is_reported_exactly_where_the_reference_is_certain():
    """E0 on the planar path: a Mattis glass (real |J|, no frustration) gives -sum |J| and its own ground
    state; +-J gives the brute-force E0; a frustrated Gaussian glass gives NaN (no certified state)."""
    rng = np.random.default_rng(7)
    i, j = lattice_bonds(4)
    tau = rng.choice([-1.0, 1.0], 16)
    mattis = IsingModel(16, i, j, rng.uniform(0.5, 2.0, i.size) * tau[i] * tau[j])
    r = planar.run(mattis, [1.0])
    assert r.e0 == pytest.approx(-np.abs(mattis.couplings).sum(), abs=1e-12)
    assert r.e0 == pytest.approx(naive.ground_energy(mattis), abs=1e-12)
    assert abs(r.ground_state @ tau) == 16  # tau or its mirror image
    pm = IsingModel(16, i, j, rng.choice([-1.0, 1.0], i.size))
    r = planar.run(pm, [1.0])
    assert naive.ground_energy(pm) > -np.abs(pm.couplings).sum()  # frustrated
    assert r.e0 == pytest.approx(naive.ground_energy(pm), abs=1e-12)
    glass = IsingModel(16, i, j, rng.standard_normal(i.size))
    assert naive.ground_energy(glass) > -np.abs(glass.couplings).sum() + 1e-9  # frustrated
    assert np.isnan(planar.run(glass, [1.0]).e0)
