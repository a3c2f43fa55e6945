"""Inputs refused before any work (issue 10, items 9-12): sizes, overflow, strict numbers, help and encodings.

Every size check must fail without allocating what the input asks for: the tests
assert on the error and, with tracemalloc, on the memory taken (never on time).
"""

import io
import os
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest
from isingvar_cli.main import app
from typer.testing import CliRunner

from isingvar.errors import (
    ConfigFileError,
    CouplingsFileError,
    GridError,
    ModelParameterError,
    RangeSpecError,
    ShardError,
    TooLargeError,
)
from isingvar.exact.enumeration import exact_enumeration
from isingvar.families import MAX_SEED, make_instance
from isingvar.io.couplings import read_model_file
from isingvar.meanfield import mean_field
from isingvar.model import ENERGY_LIMIT, MAX_EDGES, MAX_SPINS, check_energy_range, energy_scale
from isingvar.sweep import (
    MAX_AXIS_POINTS,
    MAX_RESULT_BYTES,
    make_config,
    parse_range,
    parse_shard,
    read_config_file,
    result_bytes,
    run_sweep,
    shard_instances,
)

runner = CliRunner()
#: What refusing an input may allocate: far below any of the sizes asked for (>= 760 MB each).
LITTLE = 20 * 2**20


def peak_bytes(func, *args, **kwargs):
    """Run ``func`` (expected to raise) and return (exception, peak bytes traced)."""
    tracemalloc.start()
    try:
        func(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the caller checks the type
        error = e
    else:
        error = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak


# ---------------------------------------------------------------------------- item 10: sizes
def test_grid_axis_is_capped_before_the_array_is_made():
    error, peak = peak_bytes(parse_range, "0:1:100000000", "beta")
    assert isinstance(error, RangeSpecError) and "100000000 values" in str(error) and "--beta" in str(error)
    assert peak < LITTLE
    # the cap counts every item of a list together
    half = MAX_AXIS_POINTS // 2 + 1
    with pytest.raises(RangeSpecError, match="a grid axis may have"):
        parse_range(f"0:1:{half},2:3:{half}", "h")
    assert parse_range(f"0:1:{MAX_AXIS_POINTS}").size == MAX_AXIS_POINTS


@pytest.mark.parametrize("model, params, what", [
    ("sk", {"n": 100_000}, "coupled pairs"),  # 9 GiB of triu_indices before the fix
    ("curie-weiss", {"n": 20_000}, "coupled pairs"),
    ("chain", {"n": 10**9}, "spins"),
    ("chain", {"n": 10**23}, "spins"),  # beyond int64: no OverflowError
    ("square", {"L": 10**12}, "spins"),
    ("cubic", {"L": 10**23}, "spins"),
    ("rrg", {"n": 100, "degree": 10**23}, "coupled pairs"),
])
def test_family_sizes_are_refused_before_building(model, params, what):
    error, peak = peak_bytes(make_config, model, params, methods=["mf"])
    assert isinstance(error, ModelParameterError), error
    assert what in str(error) and "choose a smaller --" in str(error)
    assert peak < LITTLE


def test_family_limits_are_inclusive():
    # the largest dense family allowed builds nothing here: the check is on the counts alone
    n = int((1 + (1 + 8 * MAX_EDGES) ** 0.5) / 2)
    assert n * (n - 1) // 2 <= MAX_EDGES < (n + 1) * n // 2
    from isingvar.families import resolve_params
    assert resolve_params("sk", {"n": n})["n"] == n
    with pytest.raises(ModelParameterError):
        resolve_params("sk", {"n": n + 1})
    assert resolve_params("chain", {"n": MAX_SPINS})["n"] == MAX_SPINS


@pytest.mark.parametrize("samples", [10**9, 10**30])
def test_result_file_size_is_checked_before_it_is_made(samples):
    error, peak = peak_bytes(make_config, "sk", {"n": 16}, samples=samples, methods=["mf"])
    assert isinstance(error, TooLargeError), error
    assert "GiB" in str(error) and "--samples" in str(error) and "--no-sites" in str(error)
    assert peak < LITTLE


def test_result_bytes_is_the_schema_size_of_the_written_file(tmp_path):
    import h5py

    config = make_config("chain", {"n": 5}, beta="0.5,1,2", J="1,2", h="0,0.1", samples=2, sites=True)
    run_sweep(config, tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5") as f:
        stored = sum(ds.nbytes for ds in f.values())
    assert result_bytes("chain", config.params, 5, 2, 3, 2, 2, config.methods, True) == stored
    # mean field alone: the exact variables stay unwritten and are not counted
    assert result_bytes("chain", config.params, 5, 2, 3, 2, 2, ("mf",), True) < stored
    assert MAX_RESULT_BYTES >= 2**30  # 10^5 samples of a small model fit (item 3's workload)
    assert result_bytes("sk", {"n": 8, "J0": 0.0}, 8, 10**5, 60, 1, 1, ("exact", "mf"), True) < MAX_RESULT_BYTES


# ---------------------------------------------------------------------------- item 10: model files
def test_uai_header_declaring_1e9_variables(tmp_path):
    p = tmp_path / "big.uai"
    p.write_text("MARKOV\n1000000000\n2 2 2\n0\n")  # 37 bytes; 2.4 GB before the fix
    error, peak = peak_bytes(read_model_file, p)
    assert isinstance(error, CouplingsFileError), error
    assert peak < LITTLE


def test_edge_list_naming_spin_1e12(tmp_path):
    p = tmp_path / "far.txt"
    p.write_text("0 1000000000000 1.0\n")
    error, peak = peak_bytes(read_model_file, p)
    assert isinstance(error, CouplingsFileError) and "largest spin index" in str(error), error
    assert peak < LITTLE


def _npy_header(shape, descr="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


@pytest.mark.parametrize("shape, match", [
    ((100_000, 100_000), "coupled pairs"),  # 80 GB declared by an 128-byte file
    ((3000, 3000), "holds only"),  # within the limits, but longer than the file
    ((10**10,), "square"),
])
def test_npy_header_is_checked_before_loading(tmp_path, shape, match):
    p = tmp_path / "J.npy"
    p.write_bytes(_npy_header(shape) + b"\0" * 64)
    error, peak = peak_bytes(read_model_file, p)
    assert isinstance(error, CouplingsFileError) and match in str(error), error
    assert str(error).count("not a readable") == 0  # one message, not wrapped twice
    assert peak < LITTLE


def test_npz_member_header_is_checked_before_loading(tmp_path):
    p = tmp_path / "m.npz"
    with zipfile.ZipFile(p, "w") as z:  # a compressed member can declare far more than the archive holds
        z.writestr("J.npy", _npy_header((5000, 5000)) + b"\0" * 64)
    error, peak = peak_bytes(read_model_file, p)
    assert isinstance(error, CouplingsFileError) and "holds only" in str(error), error
    assert peak < LITTLE
    with zipfile.ZipFile(p, "w") as z:
        buf = io.BytesIO()
        np.save(buf, np.zeros((3, 3)))
        z.writestr("J.npy", buf.getvalue())
        z.writestr("h.npy", _npy_header((10**9,)))
    with pytest.raises(CouplingsFileError, match=r"h must have shape \(3,\)"):
        read_model_file(p)


# ---------------------------------------------------------------------------- item 11: overflow
@pytest.mark.parametrize("grid, match", [
    ({"J": "1e300"}, "energy scale"),
    ({"h": "1e200"}, "energy scale"),
    ({"beta": "0,1e120"}, "beta must be at most"),
])
def test_overflowing_grids_are_refused_with_the_range(grid, match):
    with pytest.raises(GridError, match=match) as info:
        make_config("chain", {"n": 4}, **grid)
    assert f"{ENERGY_LIMIT:.0e}" in str(info.value)


def test_overflowing_model_file_is_refused_at_read_time(tmp_path):
    p = tmp_path / "huge.txt"
    p.write_text("0 1 1e308\n1 2 1e308\n")  # NaN u, s, c marked done before the fix
    with pytest.raises(CouplingsFileError, match="beyond float64"):
        read_model_file(p)


def test_values_at_the_energy_limit_are_finite():
    # the limit has room: at S = ENERGY_LIMIT (and beta S = ENERGY_LIMIT) every value is finite and c, kl >= 0
    base = make_instance("sk", {"n": 14, "J0": 0.0}, 0, 0)
    J = ENERGY_LIMIT / energy_scale(base)
    model = base.scaled(J, 0.0)
    betas = np.array([0.0, 1e-3, 1.0])
    check_energy_range(model, betas)
    r = exact_enumeration(model, betas)
    mf = mean_field(model, betas, rng=np.random.default_rng(0))
    for name in ("lnZ", "f", "u", "s", "c", "m2", "chi"):
        assert np.isfinite(getattr(r, name)[1:]).all(), name
    assert np.isfinite(r.c[0]) and (r.c >= 0).all()
    assert np.isfinite(mf.lnZ_lower).all() and np.isfinite(mf.f_upper[1:]).all()
    assert energy_scale(base, J=[1.0, -3.0], h=[0.0]) == pytest.approx(3 * energy_scale(base))


# ---------------------------------------------------------------------------- item 9: one-line errors
def test_seed_is_an_int64_everywhere(tmp_path):
    with pytest.raises(ModelParameterError, match=r"0\.\.2\^63-1"):
        make_config("chain", {"n": 3}, seed=2**70)
    with pytest.raises(ModelParameterError, match="--seed"):
        make_instance("sk", {"n": 4, "J0": 0.0}, 2**64, 0)
    # the largest seed is stored, read back as a config file and resumed
    config = make_config("chain", {"n": 3}, beta="1", seed=MAX_SEED, methods=["mf"])
    out = tmp_path / "s.h5"
    run_sweep(config, out)
    import h5py

    with h5py.File(out) as f:
        assert int(f.attrs["seed"]) == MAX_SEED
        (tmp_path / "again.toml").write_text(f.attrs["config_toml"])
    assert read_config_file(tmp_path / "again.toml")["seed"] == MAX_SEED
    assert run_sweep(config, out, resume=True).computed == 0


def test_huge_shard_counts():
    with pytest.raises(ShardError, match="job array"):
        parse_shard("99999999999999999999/999999999999999999999")
    config = make_config("chain", {"n": 3}, beta="1", J="1,2", samples=2, methods=["mf"])
    everything = config.instances()
    n = len(everything) + 3  # more shards than instances: one each, the rest empty
    parts = [shard_instances(config, (i, n)) for i in range(n)]
    assert sorted(x for p in parts for x in p) == sorted(everything)
    assert max(len(p) for p in parts) == 1 and parts[-1] == []


def test_config_file_not_utf8(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_bytes(b'seed = 1\nbeta = "1"\n\xff\n')
    with pytest.raises(ConfigFileError, match=r"bad.toml:3: not UTF-8"):
        read_config_file(p)
    r = runner.invoke(app, ["sweep", "--config", str(p)])
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("args", [
    ["--beta", "0:1:100000000"],
    ["sk", "--n", "100000"],
    ["chain", "--n", str(10**30)],
    ["square", "--L", str(10**30)],
    ["rrg", "--n", str(10**30)],
    ["--samples", str(10**30)],
    ["--seed", str(2**70)],
    ["--shard", "99999999999999999999/999999999999999999999"],
    ["--J", "1e300"],
])
def test_cli_gives_one_line_errors(args):
    r = runner.invoke(app, ["sweep", *args, "--dry-run"])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: ") and len(r.stderr.splitlines()) == 1, r.stderr


# ---------------------------------------------------------------------------- item 12: strict numbers
@pytest.mark.parametrize("name, text", [
    ("u.txt", "0 1 1_0\n"),  # read as 10 before the fix
    ("i.txt", "0 1_0 1.0\n"),
    ("a.txt", "0 1 \u0663\n"),  # Arabic-Indic 3: float() takes it
    ("u.uai", "MARKOV\n2\n2 2\n1\n2 0 1\n4\n1 2 3 1_0\n"),  # fast path
    ("v.uai", "MARKOV\n2\n2 2\n1\n2 0 1\n04\n1 2 3 1_0\n"),  # slow path ("04" is not the fast path's "4")
    ("n.uai", "MARKOV\n1_0\n" + "2 " * 10 + "\n0\n"),
    ("u.fg", "1\n\n1\n0\n2\n2\n0 1_0\n1 2\n"),
])
def test_underscores_and_other_digits_are_not_numbers(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    with pytest.raises(CouplingsFileError):
        read_model_file(p)


def test_grids_take_ascii_numbers_only():
    for spec in ("1_0", "\u0663", "0:1:1_0"):
        with pytest.raises(RangeSpecError):
            parse_range(spec)


# ---------------------------------------------------------------------------- item 12: help and encodings
def test_help_placeholders_are_printed_as_written():
    # markdown help ate "<model>" and "<N>": runs/<model>-n<N>-<UTC time>.h5 printed as runs/-n-.h5
    import re

    from typer.main import get_command

    group = get_command(app)
    seen = 0
    for path in (["sweep"], ["show"], ["merge"], ["plot"], ["models"], ["model", "export"]):
        command = group
        for name in path:
            command = command.commands[name]
        r = runner.invoke(app, [*path, "--help"], terminal_width=400)
        assert r.exit_code == 0, r.output
        text = " ".join(r.output.split())
        for help_text in [p.help or "" for p in command.params] + [command.help or ""]:
            printed = help_text.split("\f")[0]  # click prints the help up to a form feed (the rest: numpydoc)
            for placeholder in re.findall(r"<[A-Za-z][^<>]*>", printed.replace("`", "")):
                seen += 1
                assert placeholder in text, (path, placeholder)
    assert seen >= 3


@pytest.mark.process
@pytest.mark.slow
def test_ascii_only_stdout(tmp_path):
    # show, the sweep's table and the dry run with PYTHONIOENCODING=ascii: ASCII stand-ins, no crash
    out = tmp_path / "a.h5"
    run_sweep(make_config("sk", {"n": 6}, beta="0.5,1", samples=3, methods=["mf"]), out)
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    exe = [sys.executable, "-m", "isingvar_cli.main"]
    for args in (["show", str(out)],
                 ["sweep", "sk", "--n", "6", "--samples", "3", "--beta", "0.5,1", "--method", "mf",
                  "--out", str(tmp_path / "b.h5")],
                 ["sweep", "--method", "mf", "--dry-run"]):
        r = subprocess.run(exe + args, capture_output=True, text=True, env=env, timeout=300, check=False)
        assert r.returncode == 0, r.stderr
        assert "+/-" in r.stdout or "..." in r.stdout, r.stdout
        assert "Traceback" not in r.stderr
