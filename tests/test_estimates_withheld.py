"""Estimates shown only where they can be trusted (issue 19): the status flags of ar and bethe, the
certified-interval screen across methods, the probabilistic bound of ar, and the flags kept by the
file (resume, --retry-failed).

References are independent: brute-force enumeration (tests/naive.py) for exact ln Z; the bound
inequality itself; hand-built values for the screen.
"""

import naive
import numpy as np
import pytest

from isingvar.families import make_instance, resolve_params
from isingvar.io import store
from isingvar.methods import ESTIMATE_STATUS, certified_interval, get_method, make_settings, screen_estimates
from isingvar.sweep import make_config, run_sweep

CODE = {name: k for k, name in enumerate(ESTIMATE_STATUS)}


def exact_lnz(model, betas):
    return naive.thermo(model.dense(), model.fields, betas)["lnZ"]
BETAS = np.array([0.25, 0.5, 1.0, 1.5])


def ar_values(lnz_is, se, status=None):
    """Hand-built values of mf, trw and ar at four betas: mf's lower bound 10, trw's upper bound 20."""
    nb = BETAS.size
    return {
        "lnZ_mf_lower": np.full(nb, 10.0), "lnZ_trw_upper": np.full(nb, 20.0),
        "lnZ_ar_is": np.asarray(lnz_is, dtype=float), "lnZ_ar_is_se": np.asarray(se, dtype=float),
        "f_ar_is": -np.asarray(lnz_is, dtype=float) / BETAS, "u_ar": np.ones(nb), "u_ar_se": np.full(nb, 0.1),
        "lnZ_ar_is_raw": np.asarray(lnz_is, dtype=float), "lnZ_ar_lower_prob": np.full(nb, 5.0),
        "ar_status": np.zeros(nb, dtype=np.int8) if status is None else np.asarray(status, dtype=np.int8),
    }


# ------------------------------------------------------------------ the screen across methods
def test_certified_interval_takes_the_tightest_bound_of_each_side_and_ignores_probabilistic_ones():
    values = ar_values([15.0] * 4, [0.1] * 4) | {"lnZ_ar_lower": np.array([np.nan, 12.0, 9.0, np.nan])}
    lo, hi = certified_interval(("ar", "mf", "trw"), values)
    np.testing.assert_array_equal(lo, [10.0, 12.0, 10.0, 10.0])  # lnZ_ar_lower_prob (5) is not certified
    np.testing.assert_array_equal(hi, [20.0, 20.0, 20.0, 20.0])
    assert certified_interval(("ar",), {"lnZ_ar_is": np.ones(4)}) is None


def test_an_estimate_beyond_a_certified_bound_by_more_than_three_se_is_withheld_with_its_reason():
    #  beta:       inside   below by 2 SE   below by 4 SE   above by 4 SE
    values = ar_values([15.0, 9.8, 9.6, 20.4], [0.1, 0.1, 0.1, 0.1])
    out = screen_estimates(("ar", "mf", "trw"), values)
    outside = CODE["outside_certified_interval"]
    np.testing.assert_array_equal(out["ar_status"], [0, 0, outside, outside])
    for name in ("lnZ_ar_is", "lnZ_ar_is_se", "f_ar_is", "u_ar", "u_ar_se"):
        assert np.isfinite(out[name][:2]).all() and np.isnan(out[name][2:]).all(), name
    # the raw value and the bounds stay: they are diagnostics and bounds, not estimates
    np.testing.assert_array_equal(out["lnZ_ar_is_raw"], [15.0, 9.8, 9.6, 20.4])
    np.testing.assert_array_equal(out["lnZ_ar_lower_prob"], 5.0)


def test_a_status_set_by_the_method_withholds_every_estimate_and_keeps_its_reason():
    status = [CODE["khat_above_0.7"], 0, CODE["single_state"], CODE["ess_below_floor"]]
    out = screen_estimates(("ar", "mf", "trw"), ar_values([9.0, 15.0, 15.0, 15.0], [0.1] * 4, status))
    np.testing.assert_array_equal(out["ar_status"], status)  # not overwritten by "outside" at beta 0
    assert np.isnan(out["lnZ_ar_is"][[0, 2, 3]]).all() and out["lnZ_ar_is"][1] == 15.0


def test_without_bounds_in_the_file_nothing_is_outside():
    out = screen_estimates(("ar",), ar_values([-1e9, 0.0, 1e9, 3.0], [0.1] * 4))
    np.testing.assert_array_equal(out["ar_status"], 0)


# ------------------------------------------------------------------ bethe: the same rule
def test_bethe_on_a_tree_is_exact_and_stays_reliable_beside_the_bounds():
    model = make_instance("chain", resolve_params("chain", {"n": 12, "boundary": "open"}), 0, 0).scaled(1.0, 0.2)
    values = {}
    for name in ("bethe", "mf", "trw"):
        method = get_method(name)
        values |= method.run(model, BETAS, make_settings(method), np.random.default_rng(0), sites=False)
    out = screen_estimates(("bethe", "mf", "trw"), values)
    np.testing.assert_array_equal(out["bethe_status"], 0)
    exact = exact_lnz(model, BETAS)
    np.testing.assert_allclose(out["lnZ_bethe"], exact, rtol=1e-9)


def test_a_bethe_value_beyond_a_certified_bound_is_withheld():
    values = {"lnZ_bethe": np.array([15.0, 25.0]), "f_bethe": np.array([-1.0, -2.0]), "m_bethe": np.zeros(2),
              "bethe_status": np.zeros(2, dtype=np.int8), "lnZ_trw_upper": np.array([20.0, 20.0])}
    out = screen_estimates(("bethe", "trw"), values)
    np.testing.assert_array_equal(out["bethe_status"], [0, CODE["outside_certified_interval"]])
    assert np.isnan(out["f_bethe"][1]) and np.isnan(out["m_bethe"][1]) and out["f_bethe"][0] == -1.0


# ------------------------------------------------------------------ ar on SK N = 16
def sk16():
    return make_instance("sk", resolve_params("sk", {"n": 16}), 3, 0).scaled(1.0, 0.0)


def run_ar(model, betas, **settings):
    method = get_method("ar")
    values = method.run(model, betas, make_settings(method, settings), np.random.default_rng(1), sites=False)
    values |= get_method("mf").run(model, betas, make_settings(get_method("mf")), np.random.default_rng(2),
                                   sites=False)
    return screen_estimates(("ar", "mf"), values)


def test_an_undertrained_q_gives_no_estimate_and_says_why():
    model = sk16()
    betas = np.array([1.0, 2.0, 3.0])
    # plain importance weights (--ar-ais 0): annealing from q (the default) repairs even this q on N = 16
    out = run_ar(model, betas, steps=1, samples=2000, ais=0)
    assert (out["ar_status"] != 0).all(), out["ar_status"]
    for name in ("lnZ_ar_is", "f_ar_is", "u_ar", "s_ar", "m_ar", "lnZ_ar_is_se"):
        assert np.isnan(out[name]).all(), name
    assert np.isfinite(out["lnZ_ar_is_raw"]).all() and np.isfinite(out["lnZ_ar_lower_prob"]).all()
    exact = exact_lnz(model, betas)
    assert (out["lnZ_ar_lower_prob"] <= exact).all()  # at delta = 0.01 a violation here would be a 1 % event


@pytest.mark.slow
def test_a_well_trained_q_gives_reliable_estimates_within_four_se_of_exact():
    model = sk16()
    betas = np.linspace(0.1, 1.5, 8)
    out = run_ar(model, betas, depth=1, steps=600, lr=0.003, batch=512, samples=4000)
    exact = exact_lnz(model, betas)
    reliable = out["ar_status"] == 0
    within = np.abs(out["lnZ_ar_is"] - exact) <= 4 * out["lnZ_ar_is_se"]
    assert reliable.sum() >= 0.95 * betas.size, out["ar_status"]
    assert within[reliable].sum() >= 0.95 * reliable.sum(), (out["lnZ_ar_is"] - exact) / out["lnZ_ar_is_se"]
    assert (out["lnZ_ar_lower_prob"] <= exact).all() and (out["lnZ_ar_lower_prob"] > exact - 6).all()
    np.testing.assert_array_equal(out["f_ar_upper_prob"], -out["lnZ_ar_lower_prob"] / (betas * model.n))


# ------------------------------------------------------------------ in the file
def test_the_file_carries_status_khat_and_delta_and_resume_keeps_flagged_points(tmp_path):
    path = tmp_path / "ar.h5"
    config = make_config("sk", {"n": 10}, beta="0.5,2", samples=2, methods=["ar", "mf"],
                         settings={"ar": {"steps": 1, "samples": 500, "delta": 0.05}})
    run_sweep(config, path)
    with store.open_result(path) as f:
        status = f["ar_status"][()]
        assert f["ar_status"].attrs["flag_meanings"] == " ".join(ESTIMATE_STATUS)
        assert f["lnZ_ar_lower_prob"].attrs["delta"] == 0.05 and f["f_ar_upper_prob"].attrs["delta"] == 0.05
        assert np.isfinite(f["ar_khat"][()]).any() and np.isfinite(f["lnZ_ar_is_raw"][()]).all()
        assert (np.isnan(f["lnZ_ar_is"][()]) == (status != 0)).all()
        assert store.read_flagged(f).any() and store.read_done(f).all()  # flagged points are final: done
    assert (status != 0).any()
    flagged = int((status != 0).reshape(status.shape[:3] + (-1,)).any(axis=-1).sum())
    summary = run_sweep(config, path, resume=True)
    assert summary.computed == 0  # resume does not retry them: done keeps its meaning
    summary = run_sweep(config, path, resume=True, retry_failed=True)
    assert summary.computed == flagged
    with store.open_result(path) as f:
        np.testing.assert_array_equal(f["ar_status"][()], status)  # the same seed: the same numbers again


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.1, 2.0])
def test_delta_outside_zero_one_is_refused(delta):
    from isingvar.errors import ModelParameterError

    with pytest.raises(ModelParameterError, match="--ar-delta"):
        make_settings(get_method("ar"), {"delta": delta})
