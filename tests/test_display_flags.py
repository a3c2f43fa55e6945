"""How tables, figures and the CLI show withheld estimates, points not computed and probabilistic bounds
(issue 19), on hand-built summaries shaped like :func:`isingvar.io.store.read_summary`'s."""

import json
import math

import numpy as np
import pytest
from isingvar_cli.main import app
from typer.testing import CliRunner

from isingvar.io.store import Variable, schema
from isingvar.methods.base import ESTIMATE_STATUS
from isingvar.plot import plot_result
from isingvar.report import (
    bounds_table,
    computed_any,
    failures,
    free_energy_names,
    interval_width,
    reasons,
    tightest,
)

GRID = ("sample", "J", "h", "beta")
EXACT_STATUS = ("computed", "beyond_path_range", "precision_lost", "precision_not_confirmed", "numerical_failure")
BETAS = np.array([0.5, 1.0, 2.0, 3.0])
runner = CliRunner()


def _status_var(method, meanings):
    """The contract's ``<method>_status`` schema entry, written out (not taken from the registry)."""
    return Variable(GRID, "i1", "1", f"status of {method}", methods=(method,), fill=-1,
                    flags=(tuple(range(len(meanings))), " ".join(meanings)), kind="diagnostic", quantity="status")


def make_summary(samples=1, methods=("exact", "mf", "trw", "ar"), statuses=True, ar_samples=10000, delta=0.01):
    """A read_summary-like dict: N = 30 (sk), every instance done, every value finite and ordered
    f_trw_lower < f_exact < f_ar_upper_prob < f_mf_upper < f_ar_upper, the status flags all 0."""
    nb = BETAS.size
    shape = (samples, 1, 1, nb)
    s = {
        "path": "hand.h5",
        "attrs": {"model_family": "sk", "n_spins": 30, "methods": ",".join(methods),
                  "config": {"settings": {"ar": {"samples": ar_samples, "delta": delta}}}},
        "coords": {"sample": np.arange(samples), "J": np.array([1.0]), "h": np.array([0.0]), "beta": BETAS},
        "done": np.ones((samples, 1, 1), dtype=np.int8),
        "schema": {}, "status": {}, "var_attrs": {},
    }
    for name, var in schema(methods, sites=False).items():
        if var.dims == GRID and var.dtype == "f8":
            s[name] = np.zeros(shape)
            s["schema"][name] = var
    offset = np.arange(samples, dtype=float)[:, None, None, None] * 0.01
    values = {"f_exact": -1.0, "f_trw_lower": -1.2, "f_mf_upper": -0.9, "f_ar_upper": -0.8, "f_ar_upper_prob": -0.95,
              "f_ar_is": -1.01, "f_ar_is_se": 0.001, "ar_khat": 0.2, "ar_ess": 5000.0}
    for name, value in values.items():
        if name in s:
            s[name] = np.full(shape, value) + (0 if name.endswith("_se") or name.startswith("ar_") else offset)
    if "f_ar_upper_prob" in s:
        s["var_attrs"]["f_ar_upper_prob"] = {"delta": delta}
        s["var_attrs"]["lnZ_ar_lower_prob"] = {"delta": delta}
    if statuses:
        for m, meanings in (("exact", EXACT_STATUS), ("ar", ESTIMATE_STATUS), ("bethe", ESTIMATE_STATUS)):
            if m in methods:
                s["status"][f"{m}_status"] = np.zeros(shape, dtype=np.int8)
                s["schema"][f"{m}_status"] = _status_var(m, meanings)
    return s


def flag(s, method, sample, k, code, **diag):
    """Set ``<method>_status`` at (sample, beta index k) to ``code`` and withhold its governed values there
    (as the sweep does), with diagnostics ``diag`` (``khat=3.1``, ``ess=3``)."""
    s["status"][f"{method}_status"][sample, 0, 0, k] = code
    kind = "exact" if method == "exact" else "estimate"
    for name, var in s["schema"].items():
        if var.kind == kind and var.methods == (method,):
            s[name][sample, 0, 0, k] = np.nan
            if f"{name}_se" in s:
                s[f"{name}_se"][sample, 0, 0, k] = np.nan
    for d, value in diag.items():
        s[f"{method}_{d}"][sample, 0, 0, k] = value


def one_sample_flagged():
    s = make_summary()
    flag(s, "ar", 0, 1, 1, khat=3.14)
    flag(s, "ar", 0, 2, 2, ess=3.0)
    flag(s, "ar", 0, 3, 3)
    flag(s, "exact", 0, 3, 3)
    return s


def show(monkeypatch, summary, *args):
    """``isingvar show`` of ``summary`` (read_summary patched to return it), tables 250 columns wide."""
    import isingvar_cli.main

    import isingvar.io.store

    monkeypatch.setattr(isingvar.io.store, "read_summary", lambda path: summary)
    monkeypatch.setattr(isingvar_cli.main.out, "width", 250)
    return runner.invoke(app, ["show", "hand.h5", *args], terminal_width=250)


def header(result):
    return next(line for line in result.stdout.splitlines() if "beta" in line and "f_trw_lower" in line)


def test_reason_replaces_the_number_with_one_sample(monkeypatch):
    s = one_sample_flagged()
    rows = bounds_table(s)
    assert [r["f_ar_is_reason"] for r in rows] == [
        None, "unreliable (k̂ 3.1)", "unreliable (ESS 3 < 100)", "outside certified interval"]
    assert [r["f_exact_reason"] for r in rows] == [None, None, None, "not computed (precision_not_confirmed)"]
    assert rows[0]["f_ar_is"] == pytest.approx(-1.01) and rows[0]["f_ar_is_se"] == pytest.approx(0.001)
    assert math.isnan(rows[1]["f_ar_is"]) and math.isnan(rows[1]["f_ar_is_se"])
    assert all("f_mf_upper_reason" not in r and "f_ar_upper_prob_reason" not in r for r in rows)  # bounds stay
    # the ESS floor is 1 % of the samples above 10,000
    s = make_summary(ar_samples=50000)
    flag(s, "ar", 0, 0, 2, ess=12.5)
    flag(s, "ar", 0, 1, 4)
    flag(s, "ar", 0, 2, 5)
    assert reasons(s, "f_ar_is", 0, 0, [True])[:3] == ["unreliable (ESS 12.5 < 500)", "one state sampled", "not run"]

    r = show(monkeypatch, one_sample_flagged())
    assert r.exit_code == 0, r.output
    for text in ("unreliable (k̂ 3.1)", "unreliable (ESS 3 < 100)", "outside certified interval",
                 "not computed (precision_not_confirmed)"):
        assert text in r.stdout
    assert "-1.01" in r.stdout  # the reliable point keeps its number


def test_reason_with_several_samples_says_how_many():
    s = make_summary(samples=4)
    for sample, khat in ((0, 3.1), (1, 1.2), (2, 0.9)):
        flag(s, "ar", sample, 1, 1, khat=khat)
    flag(s, "ar", 0, 2, 1, khat=0.8)
    flag(s, "ar", 1, 2, 4)
    flag(s, "exact", 2, 3, 3)
    flag(s, "ar", 3, 3, 2, ess=7.0)
    rows = bounds_table(s)
    assert [r["f_ar_is_reason"] for r in rows] == [
        None,
        "unreliable in 3 of 4 samples (k̂ up to 3.1)",
        "withheld in 2 of 4 samples (khat_above_0.7: 1, single_state: 1; k̂ up to 0.8)",
        "unreliable in 1 of 4 samples (ESS down to 7 < 100)",
    ]
    assert rows[3]["f_exact_reason"] == "not computed in 1 of 4 samples (precision_not_confirmed)"
    assert math.isnan(rows[1]["f_ar_is"]) and math.isnan(rows[3]["f_exact"])  # no mean over the reliable subset
    assert rows[0]["f_ar_is"] == pytest.approx(-1.01 + 0.015)
    # a sample not done does not count, flagged or not
    s["done"][3] = 0
    assert bounds_table(s)[3]["f_ar_is_reason"] is None
    assert bounds_table(s)[1]["f_ar_is_reason"] == "unreliable in 3 of 3 samples (k̂ up to 3.1)"


def test_probabilistic_bounds_are_columns_and_join_the_interval_only_when_asked(monkeypatch):
    s = make_summary()
    f = free_energy_names(s)
    assert f["upper_prob"] == ["f_ar_upper_prob"] and f["upper"] == ["f_ar_upper", "f_mf_upper"]
    assert f["lower_prob"] == [] and f["estimate"] == ["f_ar_is"]
    assert tightest(s, "upper", 0, 0)[0, 1] == pytest.approx(-0.9)
    assert tightest(s, "upper", 0, 0, probabilistic=True)[0, 1] == pytest.approx(-0.95)
    assert interval_width(s, 0, 0)[0, 1] == pytest.approx(0.3)
    assert interval_width(s, 0, 0, probabilistic=True)[0, 1] == pytest.approx(0.25)
    assert bounds_table(s)[1]["width"] == pytest.approx(0.3)
    assert bounds_table(s, probabilistic=True)[1]["width"] == pytest.approx(0.25)
    assert bounds_table(s)[1]["f_ar_upper_prob"] == pytest.approx(-0.95)

    r = show(monkeypatch, s)
    assert r.exit_code == 0, r.output
    line = header(r)
    assert "f_ar_upper_prob (p ≥ 0.99)" in line and "width" in line and "width (" not in line
    names = [w for w in line.split() if w.startswith("f_") or w == "width"]
    assert names == ["f_trw_lower", "f_exact", "f_ar_is", "f_ar_upper_prob", "f_ar_upper", "f_mf_upper", "width"]
    assert "0.3" in r.stdout and "0.25" not in r.stdout
    r = show(monkeypatch, s, "--interval", "probabilistic")
    assert r.exit_code == 0, r.output
    assert "width (p ≥ 0.99)" in header(r) and "0.25" in r.stdout
    r = show(monkeypatch, s, "--interval", "both")
    assert r.exit_code != 0 and r.stderr.strip().startswith("error: --interval must be one of certified, probabilistic")


def test_failures_and_computed_any(monkeypatch):
    s = one_sample_flagged()
    assert failures(s) == {
        "exact": [("precision_not_confirmed", [3.0], 1)],
        "ar": [("khat_above_0.7", [1.0], 1), ("ess_below_floor", [2.0], 1), ("outside_certified_interval", [3.0], 1)],
    }
    assert computed_any(s)
    r = show(monkeypatch, s)
    lines = r.stderr.strip().splitlines()
    assert "exact: not computed at beta = 3 (precision_not_confirmed; 1 instance)" in lines
    assert ("ar: withheld at beta = 1 (khat_above_0.7; 1 instance), at beta = 2 (ess_below_floor; 1 instance), "
            "at beta = 3 (outside_certified_interval; 1 instance)") in lines

    # instances not done are not counted; two instances at two betas
    s = make_summary(samples=3)
    flag(s, "exact", 0, 2, 1)
    flag(s, "exact", 1, 2, 1)
    flag(s, "exact", 1, 3, 1)
    flag(s, "exact", 2, 0, 2)
    s["done"][2] = 0
    assert failures(s) == {"exact": [("beyond_path_range", [2.0, 3.0], 2)]}

    # exact alone, not computed anywhere: nothing computed
    s = make_summary(methods=("exact",))
    for k in range(BETAS.size):
        flag(s, "exact", 0, k, 4)
    assert not computed_any(s)
    assert failures(s) == {"exact": [("numerical_failure", BETAS.tolist(), 1)]}
    # ar's estimates all withheld, its certified bound still there: computed
    s = make_summary(methods=("ar",))
    for k in range(BETAS.size):
        flag(s, "ar", 0, k, 1, khat=2.0)
    assert computed_any(s)
    s["done"][...] = 0
    assert not computed_any(s) and failures(s) == {}


@pytest.mark.parametrize("without", ["empty", "missing"])
def test_files_without_status_flags(monkeypatch, without):
    # schema 2/3 files: no status variables
    s = make_summary(statuses=False)
    if without == "missing":
        del s["status"], s["var_attrs"]
    assert failures(s) == {} and computed_any(s)
    rows = bounds_table(s)
    assert all(r.get("f_ar_is_reason") is None for r in rows) and rows[1]["f_ar_is"] == pytest.approx(-1.01)
    r = show(monkeypatch, s)
    assert r.exit_code == 0 and r.stderr == ""
    label = "f_ar_upper_prob (probabilistic)" if without == "missing" else "f_ar_upper_prob (p ≥ 0.99)"
    assert label in header(r)


def test_plot_counts_the_points_it_leaves_out(tmp_path, monkeypatch):
    s = make_summary(samples=2)
    flag(s, "ar", 0, 1, 1, khat=3.0)
    flag(s, "ar", 1, 1, 1, khat=2.0)
    flag(s, "ar", 0, 2, 1, khat=0.9)
    flag(s, "ar", 1, 3, 2, ess=4.0)
    flag(s, "exact", 0, 3, 2)
    left_out = plot_result(s, tmp_path / "a.png", variables=("u",))
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert left_out == {"f_exact": {"precision_lost": 1}, "f_ar_is": {"khat_above_0.7": 3, "ess_below_floor": 1},
                        "u_exact": {"precision_lost": 1}, "u_ar": {"khat_above_0.7": 3, "ess_below_floor": 1}}
    assert plot_result(s, tmp_path / "b.png", interval="probabilistic")["f_ar_is"] == {"khat_above_0.7": 3,
                                                                                        "ess_below_floor": 1}
    assert plot_result(make_summary(), tmp_path / "c.png") == {}

    import isingvar.io.store

    monkeypatch.setattr(isingvar.io.store, "read_summary", lambda path: s)
    src = tmp_path / "hand.h5"
    src.write_bytes(b"")
    r = runner.invoke(app, ["plot", str(src), "--out", str(tmp_path / "d.png"), "--interval", "probabilistic"])
    assert r.exit_code == 0, r.output
    assert "left out 4 points of f_ar_is (khat_above_0.7: 3, ess_below_floor: 1)" in r.stderr
    assert "left out 1 point of f_exact (precision_lost: 1)" in r.stderr


def test_sweep_options_and_json_failures(tmp_path, monkeypatch):
    out = tmp_path / "c.h5"
    base = ["sweep", "chain", "--n", "4", "--beta", "0.5,1", "--out", str(out)]
    r = runner.invoke(app, [*base, "--retry-failed"])
    assert r.exit_code != 0 and not out.exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --retry-failed needs --resume"), r.stderr
    r = runner.invoke(app, [*base, "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["failures"] == {} and info["computed_any"] is True
    r = runner.invoke(app, [*base, "--resume", "--retry-failed", "--interval", "probabilistic"])
    assert r.exit_code == 0, r.output

    # nothing computed anywhere: exit 1 with one line, the file written
    import isingvar.report

    monkeypatch.setattr(isingvar.report, "computed_any", lambda summary: False)
    monkeypatch.setattr(isingvar.report, "failures", lambda summary: {"exact": [("numerical_failure", [0.5, 1.0], 1)]})
    out2 = tmp_path / "none.h5"
    r = runner.invoke(app, ["sweep", "chain", "--n", "4", "--beta", "0.5,1", "--out", str(out2), "--json"])
    assert r.exit_code == 1 and out2.exists()
    assert json.loads(r.stdout)["failures"] == {"exact": [{"reason": "numerical_failure", "beta": [0.5, 1.0],
                                                           "instances": 1}]}
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no method computed a value") and str(out2) in last
