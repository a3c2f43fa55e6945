"""ar's blind spot (issue 20): a q that never draws part of p's states gives importance weights that pass
every diagnostic of its own samples (k-hat, ESS) while ln Z misses that part's mass.  Large Adam steps
made such a q (``--ar-lr 1``: 0.06 to 0.56 nats low, ``ar_status`` reliable), so the learning rate is
bounded where such losses were not seen, and an estimate that an exact value in the same instance
contradicts is withheld.

References are independent: brute-force enumeration (tests/naive.py) for ln Z; an open chain's Boltzmann
distribution written as a depth-1 autoregressive q by hand (its conditionals are the chain's transfer
probabilities), so that the q missing half of p is known exactly: its ln Z estimate is ln Z - ln 2.
"""

import math

import naive
import numpy as np
import pytest
from isingvar_cli.main import app
from typer.testing import CliRunner

from isingvar import autoregressive as arl
from isingvar.errors import SettingsError
from isingvar.methods import ESTIMATE_STATUS, get_method, make_settings, screen_estimates
from isingvar.methods.ar import status
from isingvar.model import IsingModel

OUTSIDE = ESTIMATE_STATUS.index("outside_certified_interval")


def test_the_learning_rate_of_issue_20_is_refused_in_one_line():
    with pytest.raises(SettingsError, match=r"^--ar-lr must be at most 0\.05 \(.*\), got 1\.0$"):
        make_settings(get_method("ar"), {"lr": 1.0})
    res = CliRunner().invoke(app, ["sweep", "sk", "--n", "12", "--samples", "1", "--beta", "1", "--method", "exact",
                                   "--method", "ar", "--ar-lr", "1", "--out", "unused.h5", "--dry-run"])
    assert res.exit_code != 0 and "--ar-lr must be at most 0.05" in res.output, res.output


def half_chain_q(n, beta, couplings, b0):
    """Depth-1 q of the open chain E = -sum_i J_i s_i s_{i+1}: q(s_i | s_{i-1}) = p(s_i | s_{i-1}), i.e.
    a_i = 2 beta J_{i-1} s_{i-1}, and q(s_0 = +1) = sigmoid(b0) (p's is 1/2)."""
    net = arl.Network(n, 1, 0)
    net.params["b"][0] = b0
    net.params["W"][np.arange(1, n), np.arange(n - 1)] = 2.0 * beta * couplings
    return net


def test_a_q_missing_half_of_p_passes_its_own_diagnostics_and_is_withheld_beside_exact():
    rng = np.random.default_rng(7)
    n, beta, samples = 10, 1.0, 4000
    couplings = rng.uniform(0.5, 1.5, n - 1)
    model = IsingModel(n, np.arange(n - 1), np.arange(1, n), couplings, np.zeros(n))
    exact = naive.thermo(model.dense(), model.fields, [beta])["lnZ"]
    # b0 = 40: q(s_0 = -1) = 4e-18, never drawn; the mirror half of p (mass 1/2) is lost
    est = arl.evaluate(half_chain_q(n, beta, couplings, 40.0), model, beta, samples, 256, rng)
    assert est.lnz_is == pytest.approx(exact[0] - math.log(2), abs=1e-9)  # every weight Z/2, exactly
    assert est.ess == pytest.approx(samples) and not est.one_state
    assert status(est, samples) == ESTIMATE_STATUS.index("reliable")  # its own diagnostics cannot see it
    values = {"lnZ_exact": exact, "lnZ_ar_is": np.array([est.lnz_is]), "lnZ_ar_is_se": np.array([est.lnz_is_se]),
              "f_ar_is": np.array([-est.lnz_is / (beta * n)]), "ar_status": np.zeros(1, dtype=np.int8),
              "lnZ_ar_is_raw": np.array([est.lnz_is])}
    out = screen_estimates(("exact", "ar"), values)
    assert out["ar_status"][0] == OUTSIDE
    assert np.isnan(out["lnZ_ar_is"]).all() and np.isnan(out["lnZ_ar_is_se"]).all() and np.isnan(out["f_ar_is"]).all()
    assert out["lnZ_ar_is_raw"][0] == est.lnz_is  # the raw value stays, for the study of the failure

    # the q that covers p (b0 = 0) is p itself: the estimate is exact and shown beside the exact value
    est = arl.evaluate(half_chain_q(n, beta, couplings, 0.0), model, beta, samples, 256, rng)
    assert est.lnz_is == pytest.approx(exact[0], abs=1e-9)
    values = {"lnZ_exact": exact, "lnZ_ar_is": np.array([est.lnz_is]), "lnZ_ar_is_se": np.array([est.lnz_is_se]),
              "ar_status": np.zeros(1, dtype=np.int8)}
    assert screen_estimates(("exact", "ar"), values)["ar_status"][0] == 0


def test_exact_screens_only_estimates_with_a_standard_error_and_only_where_it_is_computed():
    nb = 4
    exact = np.array([10.0, 10.0, np.nan, 10.0])  # beta 2: exact_status flagged it
    #                     within 2 SE, 4 SE low, exact NaN, 4 SE high
    values = {"lnZ_exact": exact, "lnZ_ar_is": np.array([10.2, 9.6, 3.0, 10.4]), "lnZ_ar_is_se": np.full(nb, 0.1),
              "ar_status": np.zeros(nb, dtype=np.int8)}
    out = screen_estimates(("exact", "ar"), values)
    np.testing.assert_array_equal(out["ar_status"], [0, OUTSIDE, 0, OUTSIDE])
    # Bethe has no standard error: an approximation, held to the certified bounds only
    values = {"lnZ_exact": np.full(2, 10.0), "lnZ_bethe": np.array([10.5, 9.0]), "f_bethe": np.zeros(2),
              "bethe_status": np.zeros(2, dtype=np.int8)}
    np.testing.assert_array_equal(screen_estimates(("exact", "bethe"), values)["bethe_status"], [0, 0])
