"""Model files end to end through the CLI: sweeps of UAI/.fg files, lnZ_model_exact, export, models."""

import hashlib
from pathlib import Path

import h5py
import naive
import numpy as np
import pytest
from isingvar_cli.main import app
from typer.testing import CliRunner

from isingvar.families import make_instance, resolve_params
from isingvar.io.couplings import read_model_file

runner = CliRunner()
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def random_uai(n, rng):
    """A binary pairwise MARKOV network: a unary factor per variable, a ring plus random chords,
    asymmetric tables, half the scopes written (high, low). Returns (text, factors)."""
    pairs = {(i, (i + 1) % n) for i in range(n)} | {tuple(rng.choice(n, 2, replace=False)) for _ in range(n // 2)}
    pairs = sorted({p if rng.random() < 0.5 else p[::-1] for p in pairs if p[0] != p[1]}, key=lambda p: (min(p), max(p)))
    seen, scopes = set(), []
    for p in pairs:
        if (min(p), max(p)) not in seen:
            seen.add((min(p), max(p)))
            scopes.append(p)
    factors = [((i,), rng.uniform(0.2, 3.0, 2)) for i in range(n)]
    factors += [(p, rng.uniform(0.2, 3.0, 4)) for p in scopes]
    lines = ["MARKOV", str(n), " ".join(["2"] * n), str(len(factors))]
    lines += [f"{len(s)} " + " ".join(map(str, s)) for s, _ in factors]
    for _, t in factors:
        lines += ["", str(t.size), " ".join(repr(float(x)) for x in t)]
    return "\n".join(lines) + "\n", factors


@pytest.mark.slow
def test_sweep_of_a_20_variable_uai_file_gives_its_lnZ(tmp_path):
    # the done-when: lnZ_model_exact equals a plain product-of-potentials enumeration
    text, factors = random_uai(20, np.random.default_rng(5))
    path = tmp_path / "m20.uai"
    path.write_text(text)
    out = tmp_path / "m20.h5"
    r = run("sweep", "file", "--couplings", path, "--beta", "0.5,1,2", "--method", "exact", "--method", "mf", "--out", out)
    assert r.exit_code == 0, r.output
    with h5py.File(out, "r") as f:
        lnZ_model = f["lnZ_model_exact"][0, 0, 0, :]
        offset = float(f.attrs["lnZ_offset"])
        assert f.attrs["source_format"] == "uai" and f.attrs["source_file"] == "m20.uai"
        assert f.attrs["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        lnZ_mf = f["lnZ_mf_lower"][0, 0, 0, :]
    assert np.isnan(lnZ_model[[0, 2]]).all()  # only at beta = 1: elsewhere it is not the file's model
    assert lnZ_model[1] == pytest.approx(naive.factor_lnZ(20, factors), rel=1e-10, abs=1e-10)
    assert lnZ_mf[1] + offset <= lnZ_model[1]  # the bound holds for the file's model too
    r = run("show", out)
    assert r.exit_code == 0 and "m20.uai (uai, sha256" in r.output


def test_libdai_testfast_sweep_matches_the_factor_product(tmp_path):
    path = DATA / "libdai" / "testfast.fg"
    if not path.exists():
        pytest.skip("shared/data not present")
    model_file = read_model_file(path)
    out = tmp_path / "fg.h5"
    r = run("sweep", "file", "--couplings", path, "--beta", "1", "--method", "exact", "--out", out)
    assert r.exit_code == 0, r.output
    # independent: parse the .fg tables here (first variable fastest) and multiply them out
    blocks = [b.split() for b in "\n".join(l for l in path.read_text().splitlines() if not l.startswith("#")).split("\n\n") if b.strip()]
    tokens = [t for b in blocks for t in b]
    k, factors = 1, []
    for _ in range(int(tokens[0])):
        m = int(tokens[k])
        scope = tuple(int(v) for v in tokens[k + 1:k + 1 + m])
        k += 1 + 2 * m
        entries = int(tokens[k])
        table = np.zeros(2**m)
        for e in range(entries):
            table[int(tokens[k + 1 + 2 * e])] = float(tokens[k + 2 + 2 * e])
        k += 1 + 2 * entries
        if m == 2:  # to the UAI order of naive.factor_lnZ: index 2 x_first + x_second
            table = table.reshape(2, 2).T.ravel()
        factors.append((scope, table))
    with h5py.File(out, "r") as f:
        assert f["lnZ_model_exact"][0, 0, 0, 0] == pytest.approx(naive.factor_lnZ(model_file.model.n, factors), rel=1e-10)


@pytest.mark.parametrize("suffix", [".npz", ".txt", ".uai", ".fg"])
def test_export_writes_the_sweep_instance(tmp_path, suffix):
    out = tmp_path / f"inst{suffix}"
    r = run("model", "export", "rrg", "--n", 12, "--degree", 3, "--disorder", "gaussian", "--sample", 2,
            "--seed", 7, "--J", 0.5, "--h", 0.1, "--out", out)
    assert r.exit_code == 0, r.output
    want = make_instance("rrg", resolve_params("rrg", {"n": 12, "degree": 3, "disorder": "gaussian"}), 7, 2).scaled(0.5, 0.1)
    got = read_model_file(out)
    np.testing.assert_array_equal(got.model.edge_i, want.edge_i)
    np.testing.assert_array_equal(got.model.edge_j, want.edge_j)
    np.testing.assert_allclose(got.model.couplings, want.couplings, rtol=1e-14)
    np.testing.assert_allclose(got.model.fields, want.fields, rtol=1e-14)
    assert abs(got.lnZ_offset) < 1e-12
    r = run("model", "export", "rrg", "--n", 12, "--out", out)
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_exported_uai_sweeps_to_the_same_lnZ(tmp_path):
    out = tmp_path / "sk.uai"
    assert run("model", "export", "sk", "--n", 10, "--sample", 1, "--seed", 3, "--out", out).exit_code == 0
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert run("sweep", "file", "--couplings", out, "--beta", "1", "--method", "exact", "--out", a).exit_code == 0
    assert run("sweep", "sk", "--n", 10, "--samples", 2, "--seed", 3, "--beta", "1", "--method", "exact", "--out", b).exit_code == 0
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert fa["lnZ_model_exact"][0, 0, 0, 0] == pytest.approx(fb["lnZ_exact"][1, 0, 0, 0], rel=1e-13)


def test_export_errors(tmp_path):
    r = run("model", "export", "sk", "--n", 4, "--out", tmp_path / "x.uai", "--to", "xml")
    assert r.exit_code == 2 and "unknown format" in r.output
    r = run("model", "export", "sk", "--n", 4, "--sample", -1, "--out", tmp_path / "x.npz")
    assert r.exit_code == 2 and "must be in 0..2^63-1" in r.output
    r = run("model", "export", "cubic", "--n", 4, "--out", tmp_path / "x.npz")
    assert r.exit_code == 2 and "--n does not apply" in r.output
    assert list(tmp_path.iterdir()) == []


def test_resume_refuses_a_changed_model_file(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("0 1 1.0\n1 2 -0.5\n")
    out = tmp_path / "m.h5"
    assert run("sweep", "file", "--couplings", path, "--beta", "1", "--out", out).exit_code == 0
    path.write_text("0 1 1.0\n1 2 -0.25\n")
    r = run("sweep", "file", "--couplings", path, "--beta", "1", "--out", out, "--resume")
    assert r.exit_code == 2 and "source" in r.output


def test_models_lists_every_family_with_its_size():
    r = run("models")
    assert r.exit_code == 0
    for name, size in [("sk", "N = n"), ("curie-weiss", "N = n"), ("chain", "N = n"), ("square", "N = L^2"),
                       ("cubic", "N = L^3"), ("rrg", "N = n"), ("file", "N from the file")]:
        assert name in r.output and size in r.output
    assert "--degree" in r.output and "--format" in r.output


def test_a_model_file_gets_both_sides_of_its_lnZ(tmp_path):
    # lnZ_model_<method>[_side] = the method's ln Z + lnZ_offset at beta = 1, J = 1, h = 0: the file's own ln Z,
    # checked against a plain product-of-potentials enumeration of the UAI file
    rng = np.random.default_rng(21)
    n = 9
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5]
    tables = {p: rng.uniform(0.2, 3.0, 4) for p in pairs}
    unary = rng.uniform(0.2, 3.0, (n, 2))
    lines = ["MARKOV", str(n), " ".join(["2"] * n), str(n + len(pairs))]
    lines += [f"1 {i}" for i in range(n)] + [f"2 {i} {j}" for i, j in pairs]
    lines += [f"2\n{a:.17g} {b:.17g}" for a, b in unary]
    lines += [f"4\n{' '.join(f'{t:.17g}' for t in tables[p])}" for p in pairs]
    path = tmp_path / "m.uai"
    path.write_text("\n".join(lines) + "\n")
    lnZ = naive.factor_lnZ(n, [((i,), unary[i]) for i in range(n)] + [(p, tables[p]) for p in pairs])
    out = tmp_path / "r.h5"
    r = run("sweep", "file", "--couplings", path, "--beta", "0.5,1", "--method", "exact", "--method", "mf",
            "--method", "trw", "--out", out)
    assert r.exit_code == 0, r.output
    with h5py.File(out, "r") as f:
        lower, exact, upper = (f[name][0, 0, 0] for name in ("lnZ_model_mf_lower", "lnZ_model_exact", "lnZ_model_trw_upper"))
    assert np.isnan([lower[0], exact[0], upper[0]]).all()  # beta = 0.5 is not the file's model
    assert exact[1] == pytest.approx(lnZ, rel=1e-12)
    assert lower[1] <= exact[1] <= upper[1]


def test_lnZ_model_variables_only_in_model_file_sweeps_and_one_per_certified_method(tmp_path):
    """lnZ_model_* exist in a sweep of a model file only (issue 20: non-file sweeps carried all-NaN ones), one
    per method with a certified ln Z (exact, the mf, ar and trw bounds), each its method's value + lnZ_offset
    at beta = 1 and a bound on the file's own ln Z (a plain product-of-potentials enumeration)."""
    text, factors = random_uai(8, np.random.default_rng(3))
    path = tmp_path / "m8.uai"
    path.write_text(text)
    methods = ("exact", "mf", "ar", "trw")
    args = [a for m in methods for a in ("--method", m)]
    out = tmp_path / "file.h5"
    r = run("sweep", "file", "--couplings", path, "--beta", "0.5,1", "--ar-steps", "20", *args, "--out", out)
    assert r.exit_code == 0, r.output
    truth = naive.factor_lnZ(8, factors)
    with h5py.File(out, "r") as f:
        offset = float(f.attrs["lnZ_offset"])
        assert sorted(k for k in f if k.startswith("lnZ_model_")) == [
            "lnZ_model_ar_lower", "lnZ_model_exact", "lnZ_model_mf_lower", "lnZ_model_trw_upper"]
        for name, own in (("lnZ_model_ar_lower", "lnZ_ar_lower"), ("lnZ_model_mf_lower", "lnZ_mf_lower")):
            model = f[name][0, 0, 0, :]
            assert np.isnan(model[0]) and model[1] == f[own][0, 0, 0, 1] + offset
            assert model[1] <= truth + 1e-9
        assert f["lnZ_model_trw_upper"][0, 0, 0, 1] >= truth - 1e-9
    plain = tmp_path / "sk.h5"
    r = run("sweep", "sk", "--n", "6", "--samples", "1", "--beta", "1", "--ar-steps", "20", *args, "--out", plain)
    assert r.exit_code == 0, r.output
    with h5py.File(plain, "r") as f:
        assert not [k for k in f if k.startswith("lnZ_model_")]
