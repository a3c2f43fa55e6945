"""The best certified interval per point (issue 22, point 4): the tightest lower and upper bound on f over
the methods in the file, the method that gives each side, in ``show``'s and the sweep's table and as
``plot``'s band."""

import math

import numpy as np
import pytest
from isingvar_cli import main as cli
from matplotlib.collections import PolyCollection
from test_display_flags import make_summary
from test_output_width import figures, invoke, table_cells
from typer.testing import CliRunner

from isingvar.io.store import Variable, read_summary
from isingvar.plot import plot_result
from isingvar.report import bounds_table, interval_width, source_tally, tightest, tightest_source
from isingvar.sweep import make_config, run_sweep

GRID = ("sample", "J", "h", "beta")
BETAS = np.array([0.25, 0.5, 1.0, 2.0, 3.0])
runner = CliRunner()

#: Bound variables of the hand-built summary: name -> (kind, method).
BOUNDS = {"f_a_lower": ("lower", "a"), "f_b_lower": ("lower", "b"),
          "f_c_upper": ("upper", "c"), "f_d_upper": ("upper", "d"), "f_e_upper_prob": ("upper_prob", "e")}


def hand_summary(seed=0, samples=6):
    """Five bound variables scattered around f_exact = -1 (each sample a different order), about one
    value in five NaN (the method did not compute it there), the last sample not done."""
    rng = np.random.default_rng(seed)
    shape = (samples, 1, 1, BETAS.size)
    s = {"path": "hand.h5", "attrs": {"model_family": "sk", "n_spins": 10},
         "coords": {"sample": np.arange(samples), "J": np.array([1.0]), "h": np.array([0.0]), "beta": BETAS},
         "done": np.ones((samples, 1, 1), np.int8), "schema": {}, "var_attrs": {"f_e_upper_prob": {"delta": 0.05}}}
    s["done"][-1] = 0
    s["f_exact"] = np.full(shape, -1.0)
    s["schema"]["f_exact"] = Variable(GRID, "f8", "energy per spin", "", ("x",), kind="exact", quantity="f")
    for name, (kind, method) in BOUNDS.items():
        # a small set of values, so that ties between methods occur
        offset = rng.choice([0.1, 0.2, 0.3], size=shape) * (-1 if kind == "lower" else 1)
        values = -1.0 + offset
        values[rng.random(shape) < 0.2] = np.nan
        s[name] = values
        s["schema"][name] = Variable(GRID, "f8", "energy per spin", "", (method,), kind=kind, quantity="f")
    s["f_a_lower"][:, 0, 0, 0] = np.nan  # at beta 0.25 a is withheld everywhere: b supplies the lower side
    s["f_b_lower"][0, 0, 0, 1] = s["f_a_lower"][0, 0, 0, 1] = np.nan  # no lower bound at all there
    return s


def naive_tightest(s, names, side):
    """The tightest bound and the index of the first variable giving it, point by point (plain loops)."""
    n_samples, n_beta = s["done"].shape[0], BETAS.size
    values, source = np.full((n_samples, n_beta), np.nan), np.full((n_samples, n_beta), -1)
    for i in range(n_samples):
        for k in range(n_beta):
            there = [(m, s[name][i, 0, 0, k]) for m, name in enumerate(names) if not np.isnan(s[name][i, 0, 0, k])]
            if there:
                best = (max if side == "lower" else min)(v for _, v in there)
                values[i, k] = best
                source[i, k] = next(m for m, v in there if v == best)
    return values, source


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("side", ["lower", "upper"])
@pytest.mark.parametrize("probabilistic", [False, True])
def test_attribution_matches_a_plain_max_and_min(seed, side, probabilistic):
    s = hand_summary(seed)
    values, source, names = tightest_source(s, side, 0, 0, probabilistic)
    expected_names = {"lower": ["f_a_lower", "f_b_lower"], "upper": ["f_c_upper", "f_d_upper"]}[side]
    if side == "upper" and probabilistic:
        expected_names.append("f_e_upper_prob")
    assert names == expected_names
    want_values, want_source = naive_tightest(s, names, side)
    np.testing.assert_array_equal(values, want_values)
    np.testing.assert_array_equal(source, want_source)
    np.testing.assert_array_equal(tightest(s, side, 0, 0, probabilistic), want_values)
    # a NaN (not computed) never supplies a point
    for m, name in enumerate(names):
        assert not (np.isnan(s[name][:, 0, 0, :]) & (source == m)).any()
    if side == "lower":
        assert (source[:, 0] != 0).all()  # a withheld at beta 0.25 everywhere
        assert source[0, 1] == -1 and np.isnan(values[0, 1])


def test_tally_counts_completed_samples_by_method():
    s = hand_summary(3)
    done = s["done"][:, 0, 0].astype(bool)
    for side, probabilistic in (("lower", False), ("upper", False), ("upper", True)):
        _, source, names = tightest_source(s, side, 0, 0, probabilistic)
        tally = source_tally(s, source, names, done)
        labels = {n: BOUNDS[n][1] + (" probabilistic" if BOUNDS[n][0].endswith("_prob") else "") for n in names}
        for k in range(BETAS.size):
            counts = {}
            for i in range(done.size - 1):  # the last sample is not done
                if source[i, k] >= 0:
                    counts[labels[names[source[i, k]]]] = counts.get(labels[names[source[i, k]]], 0) + 1
            assert dict(tally[k]) == counts
            assert [c for _, c in tally[k]] == sorted(counts.values(), reverse=True)


def test_bounds_table_gives_the_best_interval_and_its_methods():
    s = hand_summary(4)
    done = s["done"][:, 0, 0].astype(bool)
    rows = bounds_table(s)
    lower, _ = naive_tightest(s, ["f_a_lower", "f_b_lower"], "lower")
    upper, _ = naive_tightest(s, ["f_c_upper", "f_d_upper"], "upper")
    for k, r in enumerate(rows):
        assert r["best_lower"] == pytest.approx(np.nanmean(lower[done, k]))
        assert r["best_upper"] == pytest.approx(np.nanmean(upper[done, k]))
        assert sum(n for _, n in r["best_lower_by"]) == np.count_nonzero(~np.isnan(lower[done, k]))
        assert {label for label, _ in r["best_upper_by"]} <= {"c", "d"}
    # the interval's width is the best upper minus the best lower, where both sides have a value
    both = ~np.isnan(lower) & ~np.isnan(upper)
    np.testing.assert_allclose(interval_width(s, 0, 0)[both], (upper - lower)[both])


def test_width_is_zero_where_both_sides_are_exact_to_rounding_and_a_real_crossing_is_kept():
    s = hand_summary(5)
    f = -1.2345678901234567
    s["f_a_lower"][0, 0, 0, :2] = f  # both sides the exact value, computed two ways: one ulp apart
    s["f_c_upper"][0, 0, 0, :2] = np.nextafter(f, -np.inf)
    s["f_b_lower"][0, 0, 0, :2] = s["f_d_upper"][0, 0, 0, :2] = np.nan
    s["f_a_lower"][0, 0, 0, 2] = f + 1e-9  # a bound that fails: a crossing far beyond rounding
    s["f_c_upper"][0, 0, 0, 2] = f
    s["f_b_lower"][0, 0, 0, 2] = s["f_d_upper"][0, 0, 0, 2] = np.nan
    w = interval_width(s, 0, 0)[0]
    assert w[0] == 0.0 and w[1] == 0.0
    assert w[2] == pytest.approx(-1e-9, rel=1e-6)


def test_show_names_the_method_beside_each_best_bound(monkeypatch):
    s = make_summary(samples=2)  # f_trw_lower < f_exact < f_ar_upper_prob < f_mf_upper < f_ar_upper
    s["f_mf_upper"][1, 0, 0, 2] = 5.0  # at beta 2 sample 1 the ar bound is the tighter: a mixed point
    stdout = invoke(monkeypatch, 250, ["show", "hand.h5"], summary=s)
    cells = table_cells(stdout)
    header = next(line for line in stdout.splitlines() if "beta" in line and "f_trw_lower" in line)
    assert "best lower (method)" in header and "best upper (method)" in header
    rows = bounds_table(s)
    for k, r in enumerate(rows):
        lower = cli._fmt(r["best_lower"], r["best_lower_se"])
        assert f"{lower} (trw)" in cells
        upper = cli._fmt(r["best_upper"], r["best_upper_se"])
        if k == 2:  # each further method on a line of its own
            assert cells[cells.index(f"{upper} (mf 1/2,") + len(header.split("┃")) - 2] == "ar 1/2)"
        else:
            assert f"{upper} (mf)" in cells
    # with the probabilistic bounds the upper side is ar's, and the header says with what probability
    stdout = invoke(monkeypatch, 250, ["show", "hand.h5", "--interval", "probabilistic"], summary=s)
    assert "best upper (method; p ≥ 0.99)" in stdout
    r = bounds_table(s, probabilistic=True)[0]
    assert f"{cli._fmt(r['best_upper'], r['best_upper_se'])} (ar probabilistic)" in table_cells(stdout)


@pytest.mark.parametrize("width", [60, 80])
def test_best_cells_stay_whole_when_narrow(monkeypatch, width):
    s = make_summary(samples=2)
    s["f_mf_upper"][1, 0, 0, 2] = 5.0
    stdout = invoke(monkeypatch, width, ["show", "hand.h5"], summary=s)
    r = bounds_table(s)[2]
    cells = table_cells(stdout)
    assert f"{cli._fmt(r['best_upper'], r['best_upper_se'])} (mf 1/2," in cells and "ar 1/2)" in cells
    assert all(len(line) <= width for line in stdout.splitlines())


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    path = tmp_path_factory.mktemp("best") / "sk.h5"
    run_sweep(make_config("sk", {"n": 8}, beta="0.5,1,2", samples=2, methods=["mf", "trw", "exact"]), path)
    return path


def test_real_sweep_attributes_each_side(small_sweep, monkeypatch):
    summary = read_summary(small_sweep)
    rows = bounds_table(summary)
    for k, r in enumerate(rows):
        # one method per side: its own mean is the best bound's
        assert r["best_lower_by"] == (("trw", 2),) and r["best_upper_by"] == (("mf", 2),)
        assert r["best_lower"] == pytest.approx(r["f_trw_lower"]) and r["best_upper"] == pytest.approx(r["f_mf_upper"])
        assert r["best_lower"] <= r["f_exact"] <= r["best_upper"]
    stdout = invoke(monkeypatch, 200, ["show", small_sweep])
    cells = table_cells(stdout)
    for r in rows:
        assert f"{cli._fmt(r['best_lower'], r['best_lower_se'])} (trw)" in cells
        assert f"{cli._fmt(r['best_upper'], r['best_upper_se'])} (mf)" in cells


def test_plot_draws_the_certified_interval_as_a_band(small_sweep, tmp_path, monkeypatch):
    summary = read_summary(small_sweep)
    saved = figures(monkeypatch)
    plot_result(summary, tmp_path / "b.png")
    top = saved[0].axes[0]
    bands = [c for c in top.collections if c.get_label().startswith("certified interval")]
    assert len(bands) == 1 and isinstance(bands[0], PolyCollection)
    assert "lower: trw" in bands[0].get_label() and "upper: mf" in bands[0].get_label()
    done = summary["done"][:, 0, 0].astype(bool)
    lower = tightest(summary, "lower", 0, 0)[done].mean(axis=0)
    upper = tightest(summary, "upper", 0, 0)[done].mean(axis=0)
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(lower.min()) and ys.max() == pytest.approx(upper.max())
    assert "certified interval" in [t.get_text().split(":")[0] for t in top.get_legend().get_texts()]
    # with the probabilistic bounds joining, the band says with what probability f lies in it
    s = make_summary()
    saved.clear()
    plot_result(s, tmp_path / "p.png", interval="probabilistic")
    labels = [c.get_label() for c in saved[0].axes[0].collections]
    assert any(label.startswith("interval with probability ≥ 0.99") and "upper: ar probabilistic" in label
               for label in labels), labels
    assert not math.isnan(bounds_table(s, probabilistic=True)[0]["best_upper"])
