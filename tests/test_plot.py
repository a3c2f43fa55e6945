import shutil

import h5py
import numpy as np
import pytest
from matplotlib.image import imread

from isingvar.errors import ResultFileError
from isingvar.io.store import read_summary
from isingvar.plot import plot_result
from isingvar.report import bounds_table, sample_stats
from isingvar.sweep import make_config, run_sweep

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Result files: sk N = 8 with 3 samples at one and at two J values, chain with 1 sample."""
    folder = tmp_path_factory.mktemp("plot")
    specs = {
        "sk": ("sk", {"n": 8}, {"samples": 3}),
        "sk2": ("sk", {"n": 8}, {"samples": 3, "J": "0.5,1"}),
        "chain": ("chain", {"n": 6}, {"samples": 1}),
    }
    paths = {}
    for key, (model, params, kw) in specs.items():
        paths[key] = folder / f"{key}.h5"
        run_sweep(make_config(model, params, beta="0:2:9", **kw), paths[key])
    return paths


def _plot(summary, path, **kwargs):
    """``plot_result`` into ``path``; returns ``path``."""
    plot_result(summary, path, **kwargs)
    return path


def _image(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = imread(path)
    assert img.std() > 0  # not blank
    return img


@pytest.mark.parametrize("key", ["sk", "chain"])
def test_plot_writes_png(results, tmp_path, key):
    out = tmp_path / "f.png"
    assert plot_result(read_summary(results[key]), out) == {}  # nothing withheld: no point left out
    height, width = _image(out).shape[:2]
    assert 300 <= width <= 1000 and 400 <= height <= 1200


def test_one_column_per_pair(results, tmp_path):
    one = _image(_plot(read_summary(results["sk"]), tmp_path / "one.png"))
    both = _image(_plot(read_summary(results["sk2"]), tmp_path / "both.png"))
    first = _image(_plot(read_summary(results["sk2"]), tmp_path / "first.png", pairs=[(1, 0)]))
    assert both.shape[0] == one.shape[0] and both.shape[1] == 2 * one.shape[1]
    assert first.shape == one.shape


def test_plot_errors(results, tmp_path):
    summary = read_summary(results["sk2"])
    with pytest.raises(ResultFileError, match="out of range"):
        plot_result(summary, tmp_path / "x.png", pairs=[(2, 0)])
    with pytest.raises(ResultFileError, match="h indices 0..0"):
        plot_result(summary, tmp_path / "x.png", pairs=[(0, -1)])
    pending = tmp_path / "pending.h5"
    shutil.copy(results["sk"], pending)
    with h5py.File(pending, "r+") as f:
        f["done"][...] = 0
    with pytest.raises(ResultFileError, match="no completed instances"):
        plot_result(read_summary(pending), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_sample_stats():
    # 4 samples x 2 x 3 values; sample 2 not done; NaNs leave 0, 1, 2 or 3 values per column
    a = np.arange(24, dtype=float).reshape(4, 2, 3) ** 1.5
    a[0, 0, 0] = a[1, 0, 0] = a[3, 0, 0] = np.nan
    a[0, 0, 1] = a[1, 0, 1] = np.nan
    a[1, 1, 2] = np.nan
    done = np.array([1, 1, 0, 1], dtype=np.int8)
    mean, se, count = sample_stats(a, done)
    assert mean.shape == se.shape == count.shape == (2, 3)
    for idx in np.ndindex(2, 3):
        values = [a[(k,) + idx] for k in range(4) if done[k] and not np.isnan(a[(k,) + idx])]
        assert count[idx] == len(values)
        if not values:
            assert np.isnan(mean[idx])
        else:
            assert mean[idx] == pytest.approx(np.mean(values))
        if len(values) < 2:
            assert np.isnan(se[idx])  # one sample: no error estimate
        else:
            assert se[idx] == pytest.approx(np.std(values, ddof=1) / np.sqrt(len(values)))
    assert count.tolist() == [[0, 1, 3], [3, 3, 2]]


def test_bounds_table_errors(results):
    summary = read_summary(results["sk"])
    rows = bounds_table(summary)
    assert [r["beta"] for r in rows] == pytest.approx(np.linspace(0, 2, 9))
    with np.errstate(invalid="ignore"):  # -inf - -inf at beta = 0
        # the gap of the tightest upper bound on f (mean field or structured mean field, both default)
        upper = np.fmin(summary["f_mf_upper"], summary["f_smf_upper"])[:, 0, 0]
        gap = upper - summary["f_exact"][:, 0, 0]
    for k, r in enumerate(rows):
        assert r["n_done"] == 3
        assert list(r)[:6] == ["beta", "f_exact", "f_trw_lower", "f_mf_upper", "f_smf_upper", "gap"]
        if k == 0:  # beta = 0: f = -inf, the gap is undefined
            assert r["f_exact"] == -np.inf and np.isnan(r["gap"]) and np.isnan(r["gap_se"])
            continue
        assert r["gap"] == pytest.approx(gap[:, k].mean()) and r["gap"] >= 0
        assert r["gap_se"] == pytest.approx(gap[:, k].std(ddof=1) / np.sqrt(3))
        assert r["f_exact_se"] == pytest.approx(summary["f_exact"][:, 0, 0, k].std(ddof=1) / np.sqrt(3))
        # where F~ is convex (small beta) every sample's bound is -ln 2 / beta exactly (m = 0): SE 0
        f_mf = summary["f_mf_upper"][:, 0, 0, k]
        assert r["f_mf_upper_se"] == pytest.approx(f_mf.std(ddof=1) / np.sqrt(3), abs=1e-15)
    one = bounds_table(read_summary(results["chain"]))
    assert one[-1]["n_done"] == 1 and np.isnan(one[-1]["gap_se"]) and np.isfinite(one[-1]["gap"])


def test_plot_partly_done(results, tmp_path):
    # a (J, h) pair with no completed sample gets a note, not an error
    summary = read_summary(results["sk2"])
    summary["done"][:, 1, 0] = 0
    summary["done"][1:, 0, 0] = 0
    _image(_plot(summary, tmp_path / "partial.png"))


def test_plot_draws_declared_quantities_below(results, tmp_path):
    from isingvar_cli.main import app
    from typer.testing import CliRunner

    from isingvar.report import quantities, quantity_names

    summary = read_summary(results["sk"])
    assert {"u", "c", "m", "chi"} <= set(quantities(summary))
    assert set(quantity_names(summary, "u")) == {"u_exact", "u_mf"}  # every method with the quantity
    two = _image(_plot(summary, tmp_path / "two.png"))
    four = _image(_plot(summary, tmp_path / "four.png", variables=("u", "c")))
    assert four.shape[0] == 2 * two.shape[0] and four.shape[1] == two.shape[1]  # one row per quantity
    with pytest.raises(ResultFileError, match="no variable of quantity 'heat'.*choose from .*chi"):
        plot_result(summary, tmp_path / "x.png", variables=("heat",))
    r = CliRunner().invoke(app, ["plot", str(results["sk"]), "--out", str(tmp_path / "v.png"), "--var", "u,c,m,chi"])
    assert r.exit_code == 0, r.output
    assert _image(tmp_path / "v.png").shape[0] == 3 * two.shape[0]
