"""Elimination's scaled pass (no exp or log per row), its fallback to the log pass, the probability
backward pass and the betas dealt to threads (issue 12, speed).  Every observable against a brute-force
sum is in test_elimination.py, whose runs now take the scaled pass wherever it holds."""

import naive
import numpy as np
import pytest
from test_elimination import BETAS, assert_matches, graph

from isingvar.exact import elimination
from isingvar.model import IsingModel
from isingvar.parallel import numba_threads


def lattice(L, W, rng, h=0.3):
    idx = np.arange(L * W).reshape(L, W)
    i = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    j = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    return IsingModel(L * W, i, j, rng.normal(size=len(i)), rng.normal(0, h, L * W))


def log_values(work, beta):
    e0, lq, de, var_e, mean_m, var_m = work.forward(beta)
    return np.array([lq - beta * e0, e0 + de, var_e, mean_m, var_m])


def test_scaled_and_log_passes_agree_on_runs_of_rows():
    """An 8 x 8 open lattice (width 8, runs of up to 8 rows, a child read by two runs back to back):
    ln Z, U, Var E, <M>, Var M and the per-site values of the two passes agree to 1e-12."""
    model = lattice(8, 8, np.random.default_rng(4))
    plan = elimination.structure(model)
    assert plan.rb.max() >= 2 and plan.ub.max() >= 1  # the run code is exercised, not only runs of one row
    work = elimination._Work(plan, model, sites=True)
    for beta in (0.0, 0.3, 1.0, 2.5):
        ok, *scaled = work.forward_scaled(beta)
        sites_scaled = work.backward()
        ref = log_values(work, beta)
        sites_log = work.backward()
        assert ok == 1.0
        np.testing.assert_allclose(scaled, ref, rtol=1e-12, atol=1e-12 * model.n, err_msg=str(beta))
        np.testing.assert_allclose(sites_scaled, sites_log, rtol=1e-11, atol=1e-14)


def test_the_log_pass_takes_the_betas_the_scaled_one_cannot(monkeypatch):
    """K_12 at beta = 50: weights 1e-300 apart underflow the scaled tables (the kernel says so); the
    grid at beta = 50: its S = ln Z + beta U would cancel.  Those betas, and only those, run the log
    pass, and every observable still matches the brute-force sum."""
    rng = np.random.default_rng(3)
    n, i, j = graph("dense", rng)
    dense = IsingModel(n, i, j, rng.normal(0, 1.0, len(i)), rng.normal(0, 0.5, n))
    work = elimination._Work(elimination.structure(dense), dense, sites=False)
    assert work.forward_scaled(1.0)[0] == 1.0
    assert work.forward_scaled(50.0)[0] == 0.0

    logged = []
    forward = elimination._Work.forward

    def spy(self, beta):
        logged.append(beta)
        return forward(self, beta)

    monkeypatch.setattr(elimination._Work, "forward", spy)
    for kind in ("dense", "grid"):
        rng = np.random.default_rng(["tree", "grid", "bipartite", "dense", "forest"].index(kind))
        n, i, j = graph(kind, rng)
        model = IsingModel(n, i, j, rng.normal(0, 1.0, len(i)), rng.normal(0, 0.5, n))
        logged.clear()
        r = elimination.run(model, BETAS, sites=True)
        assert 50.0 in logged and 0.2 not in logged and 0.7 not in logged, (kind, logged)
        assert_matches(r, naive.model_thermo(model, BETAS), model)

    # +-J bonds, some 0, fields +-0.5 on the grid at beta = 50: the scaled tables hold (ok, and S cancels
    # only 2.6e3-fold) but Var E = 3e-22 is near their rounding floor (1e-8 off): the log pass takes it
    rng = np.random.default_rng(7)
    n, i, j = graph("grid", rng)
    model = IsingModel(n, i, j, rng.choice([-1.0, 0.0, 1.0], len(i)), rng.choice([-0.5, 0.5], n))
    work = elimination._Work(elimination.structure(model), model, sites=False)
    ok, lnz, u, *_ = work.forward_scaled(50.0)
    assert ok == 1.0 and abs(lnz) + 50.0 * abs(u) <= elimination.SCALED_CANCEL * (lnz + 50.0 * u)
    logged.clear()
    r = elimination.run(model, BETAS, sites=True)
    assert logged == [50.0]
    assert_matches(r, naive.model_thermo(model, BETAS), model)


def test_betas_dealt_to_threads_give_the_serial_values(monkeypatch):
    """Two threads taking betas as they come free give the very values of one (each beta's pass is
    chosen by that beta alone), in the order of the betas given."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here")
    model = lattice(4, 5, np.random.default_rng(6))
    betas = np.array([3.0, 0.1, 50.0, 0.7, 1.3, 0.0, 2.0])
    with numba_threads(1):
        serial = elimination.run(model, betas, sites=True)
    monkeypatch.setattr(elimination, "PARALLEL_ROWS", 1)  # a tiny model worth threads
    with numba_threads(2):
        assert elimination._threads(elimination.structure(model), betas.size, True) == (2, 1)
        par = elimination.run(model, betas, sites=True)
    for q in ("lnZ", "u", "s", "c", "m", "m2", "chi", "sites"):
        np.testing.assert_array_equal(getattr(par, q), getattr(serial, q), err_msg=q)
    assert_matches(par, naive.model_thermo(model, betas), model)


def test_estimate_counts_the_passes_and_the_beta_threads(monkeypatch):
    """With the timed rate injected: one thread does every beta's passes and min-sum; two share them;
    per-site values add the backward pass's share."""
    monkeypatch.setattr(elimination, "_seconds_per_entry", lambda workers=1: 1e-9)
    monkeypatch.setattr(elimination, "ESTIMATE_FROM_ENTRIES", 0)
    model = lattice(6, 6, np.random.default_rng(1))
    entries = elimination.structure(model).entries
    betas = np.linspace(0.1, 2.0, 64)
    with numba_threads(1):
        one = elimination.estimate_seconds(model, betas, sites=False)
        one_sites = elimination.estimate_seconds(model, betas, sites=True)
    assert one == pytest.approx(entries * 1e-9 * (64 + elimination.MIN_SUM_FACTOR))
    assert one_sites == pytest.approx(entries * 1e-9 * (64 * (1 + elimination.BACKWARD_FACTOR)
                                                        + elimination.MIN_SUM_FACTOR))
    import numba

    if numba.config.NUMBA_NUM_THREADS >= 2:
        monkeypatch.setattr(elimination, "PARALLEL_ROWS", 1)
        with numba_threads(2):
            assert elimination.estimate_seconds(model, betas, sites=False) == pytest.approx(one / 2)


def test_tables_are_plain_pages_of_zeros():
    """The large tables come from anonymous mmap (no transparent-huge-page advice: on a machine without
    free huge pages their first touch cost as much as a pass), zeroed, writable, of the asked type."""
    import mmap

    a = elimination._table(5)
    b = elimination._table(0, np.uint8)
    assert a.dtype == np.float64 and a.shape == (5,) and not a.any() and isinstance(a.base.obj, mmap.mmap)
    assert b.dtype == np.uint8 and b.shape == (1,)
    a[:] = 2.0
    assert a.sum() == 10.0
    work = elimination._Work(elimination.structure(lattice(3, 3, np.random.default_rng(0))),
                             lattice(3, 3, np.random.default_rng(0)), sites=True)
    assert all(isinstance(t.base.obj, mmap.mmap) for t in (work.lp, *work.mo))


def test_scaled_rows_dealt_to_numba_threads_give_the_serial_values(monkeypatch):
    """A single beta: the scaled pass deals a large step's runs to numba's threads; same values as one thread."""
    model = lattice(6, 6, np.random.default_rng(2))
    plan = elimination.structure(model)
    serial = elimination._Work(plan, model, sites=True, threads=1)
    want = serial.forward_scaled(0.8)
    monkeypatch.setattr(elimination, "PARALLEL_ROWS", 2)
    par = elimination._Work(plan, model, sites=True, threads=2)
    assert par.parallel_rows == 2
    with numba_threads(2):
        got = par.forward_scaled(0.8)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(par.backward(), serial.backward())


def fused_plan(model, monkeypatch):
    """The plan of ``model`` with every step that can take in its only child's rows doing so (the size
    threshold lowered to one row: on the full-size lattices it applies to, no brute force can check it)."""
    monkeypatch.setattr(elimination, "FUSE_ROWS", 1)
    plan = elimination.build_structure(model.n, model.edge_i, model.edge_j)
    fused = plan.fused[plan.fused >= 0]
    assert fused.size >= 3 and np.all(fused == np.flatnonzero(plan.fused >= 0) - 1)  # taken, on pairs t - 1, t
    return plan


def test_fused_children_against_brute_force(monkeypatch):
    """A 4 x 5 open lattice, fields on, with fused steps: every observable and the per-site values against
    the brute-force sum to 1e-10, at every beta of test_elimination (beta = 50 takes the log pass)."""
    model = lattice(4, 5, np.random.default_rng(11))
    plan = fused_plan(model, monkeypatch)
    monkeypatch.setattr(elimination, "structure", lambda m: plan)
    assert_matches(elimination.run(model, BETAS, sites=True), naive.model_thermo(model, BETAS), model)


def test_fused_children_agree_with_the_log_pass_serial_and_on_threads(monkeypatch):
    """An 8 x 8 lattice with fused steps, some of whose children lack a clique bit (each block of the
    child is read by two runs): the scaled pass agrees with the log pass (which never fuses) to 1e-12,
    per-site values included; runs dealt to two threads give the one-thread values bit for bit."""
    model = lattice(8, 8, np.random.default_rng(12))
    plan = fused_plan(model, monkeypatch)
    t = np.flatnonzero(plan.fused >= 0)
    assert np.any(plan.k[plan.fused[t]] == plan.k[t])  # a child lacking one of t's clique bits
    work = elimination._Work(plan, model, sites=True)
    for beta in (0.0, 0.4, 1.3, 3.0):
        ok, *scaled = work.forward_scaled(beta)
        sites_scaled = work.backward()
        ref = log_values(work, beta)
        assert ok == 1.0
        np.testing.assert_allclose(scaled, ref, rtol=1e-12, atol=1e-12 * model.n, err_msg=str(beta))
        np.testing.assert_allclose(sites_scaled, work.backward(), rtol=1e-11, atol=1e-14)
    want = work.forward_scaled(0.9)
    monkeypatch.setattr(elimination, "PARALLEL_ROWS", 2)
    par = elimination._Work(plan, model, sites=True, threads=2)
    with numba_threads(2):
        got = par.forward_scaled(0.9)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(par.backward(), work.backward())


def test_a_fused_childs_slot_is_not_given_away_while_its_children_are_read(monkeypatch):
    """The fused pass's arena: a fused child has no slot, and the slots of its own children stay out of
    every message written until the parent's step is done (the parent reads them through the child)."""
    plan = fused_plan(lattice(8, 8, np.random.default_rng(13)), monkeypatch)
    size = np.left_shift(1, plan.k)
    own = np.arange(plan.k.size)
    for q in range(plan.grp_ptr.size - 1):
        own[plan.grp_ids[plan.grp_ptr[q]:plan.grp_ptr[q + 1]]] = plan.grp_ids[plan.grp_ptr[q]]
    parent = {int(c): t for t in range(plan.k.size) for c in plan.child_ids[plan.child_ptr[t]:plan.child_ptr[t + 1]]}
    for t in np.flatnonzero(plan.fused >= 0).tolist():
        c = int(plan.fused[t])
        for g in (g for g, p in parent.items() if p == c):  # read at step t: no message written up to t overlaps
            lo, hi = plan.lp_fused[g], plan.lp_fused[g] + size[g]
            for s in range(g + 1, t + 1):
                if own[s] == s and plan.fused[min(s + 1, plan.k.size - 1)] != s:  # a step with a slot written
                    assert plan.lp_fused[s] + size[s] <= lo or plan.lp_fused[s] >= hi, (t, c, g, s)
