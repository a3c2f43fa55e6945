"""Output that reads at any width (issue 20): tables never cut a number or a word, figures lay out many
(J, h) pairs in a grid with one colour per method and one unit convention, and the CLI's help and
defaults come from the registry."""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from isingvar_cli import main as cli
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.image import imread
from rich.cells import cell_len
from test_display_flags import flag, make_summary
from typer.testing import CliRunner

from isingvar.io.store import read_summary
from isingvar.methods import all_methods, default_methods, setting_fields
from isingvar.plot import MAX_PAIR_COLUMNS, PANEL_INCHES, image_paths, method_colours, pairs_per_image, plot_result
from isingvar.report import bounds_table, free_energy_names
from isingvar.sweep import make_config, run_sweep

runner = CliRunner()
WIDTHS = (60, 80, 200)
NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|inf)(?: ± \d+\.?\d*)?$")


@pytest.fixture(scope="module")
def five_methods(tmp_path_factory):
    """sk N = 12, 2 samples, beta 0.5, 1, 2, every method (ar kept short): ± in most cells."""
    path = tmp_path_factory.mktemp("width") / "five.h5"
    config = make_config("sk", {"n": 12}, beta="0.5,1,2", samples=2, methods=["exact", "mf", "trw", "bethe", "ar"],
                         settings={"ar": {"steps": 40, "samples": 2000}})
    run_sweep(config, path)
    return path


def invoke(monkeypatch, width, args, summary=None):
    """``isingvar ARGS`` with stdout a non-terminal console ``width`` columns wide (``read_summary``
    patched to return ``summary`` where given)."""
    monkeypatch.setattr(cli.out, "width", width)  # the one stdout console of every command module
    if summary is not None:
        import isingvar.io.store

        monkeypatch.setattr(isingvar.io.store, "read_summary", lambda path: summary)
    r = runner.invoke(cli.app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.stdout


def shown(summary, j=0, h=0):
    """(cells, labels) the bounds table of ``summary`` at (j, h) must show: the formatting of every value
    (``x ± se`` from :func:`isingvar_cli.main._fmt`) or its reason, and the column names."""
    rows = bounds_table(summary, j, h)
    f = free_energy_names(summary)
    names = [*f["lower"], *f["lower_prob"], *f["exact"][:1], *f["estimate"], *f["upper_prob"], *f["upper"]]
    names += ["width"] if "width" in rows[0] else ["gap", *(k for k in rows[0] if k.startswith("kl_") and not k.endswith("_se"))]
    names = [k for k in names if any(not math.isnan(r[k]) or r.get(f"{k}_reason") for r in rows)]
    cells = {"numbers": set(), "reasons": set()}
    for r in rows:
        cells["numbers"].add(cli._fmt(r["beta"]))
        for k in names:
            if r.get(f"{k}_reason"):
                cells["reasons"].add(r[f"{k}_reason"])
            else:
                cells["numbers"].add(cli._fmt(r[k], r.get(f"{k}_se", math.nan)))
    return cells, names


def table_cells(stdout):
    """Every cell of the body rows of the tables in ``stdout`` (one per line of a wrapped cell)."""
    return [cell.strip() for line in stdout.splitlines() if line.startswith("│")
            for cell in line.strip("│").split("│")]


def assert_readable(stdout, summary, width, j=0, h=0):
    """Every number of the bounds table printed whole (its unrounded formatting, ``x ± se`` on one line),
    every header and reason word whole, beta in every part, and no line wider than ``width``."""
    cells, names = shown(summary, j, h)
    printed = [c for c in table_cells(stdout) if c]
    assert not [line for line in stdout.splitlines() if line[:1] in "│┃" and "…" in line]  # nothing cut
    numbers = [c for c in printed if NUMBER.match(c) or c == "—"]
    assert set(numbers) <= cells["numbers"] | {"—"}, set(numbers) - cells["numbers"]  # nothing cut or split
    assert cells["numbers"] - {"—"} <= set(numbers)  # everything there
    words = {w for c in printed for w in c.split()}
    for reason in cells["reasons"]:
        assert set(reason.split()) <= words, reason  # wraps between words only
    headers = [line for line in stdout.splitlines() if line.startswith("┃")]
    header_words = {w for line in headers for w in line.strip("┃").replace("┃", " ").split()}
    for name in names:
        assert name in header_words, name
    tops = sum(line.startswith("┏") for line in stdout.splitlines())
    assert sum("beta" in line for line in headers) == tops >= 1  # beta repeated in every part
    assert all(cell_len(line) <= width for line in stdout.splitlines()), max(stdout.splitlines(), key=cell_len)
    return tops


@pytest.mark.parametrize("width", WIDTHS)
def test_show_prints_every_number_whole_at_any_width(five_methods, monkeypatch, width):
    summary = read_summary(five_methods)
    stdout = invoke(monkeypatch, width, ["show", five_methods])
    tables = assert_readable(stdout, summary, width)
    assert any("±" in c for c in table_cells(stdout))
    if width == 200:
        assert tables == 1  # wide: one table, as before
    if width == 60:
        assert tables >= 3 and "(part 1 of" in stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_reasons_wrap_between_words_and_numbers_stay_whole(monkeypatch, width):
    s = make_summary(samples=3)
    flag(s, "ar", 0, 1, 1, khat=3.14)
    flag(s, "ar", 1, 2, 2, ess=3.0)
    flag(s, "exact", 0, 3, 3)
    stdout = invoke(monkeypatch, width, ["show", "hand.h5"], summary=s)
    assert bounds_table(s)[1]["f_ar_is_reason"] == "unreliable in 1 of 3 samples (k̂ up to 3.1)"
    assert_readable(stdout, s, width)


def test_sweep_table_at_80_columns(tmp_path, monkeypatch):
    out = tmp_path / "s.h5"
    args = ["sweep", "sk", "--n", 8, "--samples", 2, "--beta", "0.5,1,2", "--out", out]
    for m in ("exact", "mf", "trw", "bethe"):
        args += ["--method", m]
    stdout = invoke(monkeypatch, 80, args)
    assert_readable(stdout, read_summary(out), 80)
    assert re.search(r"\d ± \d", stdout)  # "x ± se" on one line


@pytest.mark.process
def test_show_through_a_pipe_at_80_columns(five_methods):
    # the real command, stdout not a terminal, COLUMNS=80: what `isingvar show FILE | cat` prints
    env = {**os.environ, "COLUMNS": "80"}
    r = subprocess.run([sys.executable, "-m", "isingvar_cli.main", "show", str(five_methods)], check=False, capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert_readable(r.stdout, read_summary(five_methods), 80)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", ["models", "methods"])
def test_models_and_methods_break_no_word(monkeypatch, width, command):
    stdout = invoke(monkeypatch, width, [command])
    printed = {w.rstrip(",;:") for c in table_cells(stdout) for w in c.split()}
    if command == "methods":
        expected = [f"--{n}-{f.replace('_', '-')}" for n, m in all_methods().items() for f, _, _ in setting_fields(m)]
        expected += [v.name for m in all_methods().values() for v in m.variables]
        expected += [w for m in all_methods().values() for w in m.summary.split()]
    else:
        from isingvar.families import FAMILIES

        expected = [w for fam in FAMILIES.values() for w in f"{fam.summary} {fam.energy}".split()]
        expected += [c for fam in FAMILIES.values() for p in fam.params for c in (p.choices or ())]
    missing = {w for w in expected if w.rstrip(",;:") not in printed}
    assert not missing
    assert all(cell_len(line) <= width for line in stdout.splitlines())


def test_an_unfittable_column_runs_over_rather_than_cut(monkeypatch):
    s = make_summary()
    stdout = invoke(monkeypatch, 20, ["show", "hand.h5"], summary=s)
    cells, _ = shown(s)
    assert cells["numbers"] - {"—"} <= set(table_cells(stdout))


# ------------------------------------------------------------------ figures
@pytest.fixture(scope="module")
def grid_file(tmp_path_factory):
    """6 J x 6 h pairs, mf and trw only (no exact: the gap panel shows the interval width)."""
    path = tmp_path_factory.mktemp("grid") / "grid.h5"
    run_sweep(make_config("sk", {"n": 6}, beta="0.5:2:4", J="0.5:1.5:6", h="0:0.5:6", samples=1,
                          methods=["mf", "trw"]), path)
    return path


def figures(monkeypatch):
    """The figures plot_result saves, captured as they are written."""
    saved = []
    original = Figure.savefig

    def capture(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    return saved


@pytest.mark.slow
def test_many_pairs_go_in_a_grid_of_readable_images(grid_file, tmp_path, monkeypatch):
    summary = read_summary(grid_file)
    out = tmp_path / "g.png"
    paths = image_paths(summary, out)
    per = pairs_per_image()
    assert len(paths) == -(-36 // per) == 2 and paths[1] == tmp_path / "g-2.png"
    saved = figures(monkeypatch)
    plot_result(summary, out)
    for path, fig in zip(paths, saved):
        height, width = imread(path).shape[:2]
        assert width == 100 * PANEL_INCHES[0] * MAX_PAIR_COLUMNS and height <= 4200  # not 16,200 px wide
        assert "(image" in fig._suptitle.get_text()
    visible = [ax for ax in saved[1].axes if ax.get_visible()]
    assert len(visible) == 2 * (36 - per)  # the last row's empty places hidden
    # no exact f: the second panel of every pair shows the interval's width, not an empty note
    width_axes = [ax for fig in saved for ax in fig.axes if ax.get_ylabel() == "interval width [energy per spin]"]
    assert len(width_axes) == 36 and all(ax.lines for ax in width_axes)


def test_one_colour_per_method_and_one_unit_convention(tmp_path, monkeypatch):
    path = tmp_path / "c.h5"
    run_sweep(make_config("sk", {"n": 8}, beta="0.5:2:4", J="0.5,1", samples=2,
                          methods=["exact", "mf", "trw", "bethe"]), path)
    saved = figures(monkeypatch)
    plot_result(read_summary(path), tmp_path / "c.png", variables=("u", "m"))
    colours = method_colours()
    assert len(set(colours.values())) == len(colours)
    seen = {}
    for ax in saved[0].axes:
        for line in ax.lines:
            parts = line.get_label().split()[0].split("_")  # a variable's curve: f_mf_upper, u_exact, kl_mf / N
            method = next((m for m in colours if m in parts[1:]), None)
            if method:
                seen.setdefault(method, set()).add(to_rgba(line.get_color()))
        assert re.fullmatch(r".+ \[.+\]", ax.get_ylabel()), ax.get_ylabel()
        assert ax.get_xlabel() in ("", "inverse temperature β [1/energy]")
    assert {"exact", "mf", "trw"} <= set(seen)
    for method, found in seen.items():
        assert found == {to_rgba(colours[method])}, method  # the same colour in every panel
    labels = {ax.get_ylabel() for ax in saved[0].axes}
    assert {"f [energy per spin]", "u [energy per spin]", "m [1]", "bound gap [energy per spin]"} <= labels


def test_planar_chi_says_the_exact_path_gives_none(tmp_path, monkeypatch):
    # the planar path gives u, s, c (jets) but no chi at h = 0: its panel says so instead of "no values"
    path = tmp_path / "p.h5"
    config = make_config("square", {"L": 30, "boundary": "open"}, beta="0.2:1:3", methods=["exact", "mf"])
    run_sweep(config, path)
    summary = read_summary(path)
    assert np.isnan(summary["chi_exact"]).all() and np.isfinite(summary["u_exact"]).all()
    saved = figures(monkeypatch)
    plot_result(summary, tmp_path / "p.png", variables=("chi", "u"))
    texts = [t.get_text() for ax in saved[0].axes for t in ax.texts]
    chi_note = next(t for t in texts if "chi_exact" in t)
    assert "planar exact path gives no chi" in chi_note and "no completed values" not in chi_note
    u_ax = next(ax for ax in saved[0].axes if ax.get_ylabel().startswith("u ["))
    assert {line.get_label() for line in u_ax.lines} == {"u_exact", "u_mf"}


def test_plot_refuses_to_replace_a_further_image(tmp_path, monkeypatch):
    import isingvar.plot

    monkeypatch.setattr(isingvar.plot, "MAX_PANEL_ROWS", 2)  # 4 pairs an image: the 6 pairs here make two
    src = tmp_path / "six.h5"
    run_sweep(make_config("chain", {"n": 4}, beta="0.5,1", J="1,2", h="0,0.1,0.2", methods=["mf"]), src)
    out = tmp_path / "g.png"
    (tmp_path / "g-2.png").write_bytes(b"old")
    r = runner.invoke(cli.app, ["plot", str(src), "--out", str(out)])
    assert r.exit_code == 2 and "g-2.png" in r.stderr and not out.exists()
    r = runner.invoke(cli.app, ["plot", str(src), "--out", str(out), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert "g-2.png" in r.stdout and (tmp_path / "g-2.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "g-3.png").exists()


# ------------------------------------------------------------------ help and defaults from the registry
@pytest.mark.process
def test_help_and_defaults_come_from_the_registry(monkeypatch):
    from isingvar.sweep.config import DEFAULT_MODEL

    params = {p.name: p for p in cli.sweep.__signature__.parameters.values()}
    method_help = params["method"].default.help
    assert f"Default: {', '.join(default_methods())}" in method_help
    assert all(name in method_help for name in all_methods())
    force_help = params["force"].default.help
    for name, m in all_methods().items():
        assert not m.max_seconds or f"{name} {m.max_seconds / 60:g} min" in force_help
    family, defaults = DEFAULT_MODEL
    model_help = params["model"].default.help
    assert f"{family} " + " ".join(f"--{k} {v}" for k, v in defaults) in model_help
    code = "import sys, isingvar_cli.main; assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_default_model_and_dry_run_grid(monkeypatch):
    from isingvar.sweep.config import DEFAULT_MODEL

    r = runner.invoke(cli.app, ["sweep", "--beta", "0.1,0.4:1:3", "--method", "mf", "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["beta"] == [0.1, 0.4, 0.7, 1.0]  # the grid itself, reusable as --beta
    family, defaults = DEFAULT_MODEL
    assert info["model"] == family and all(info["params"][k] == v for k, v in defaults)
