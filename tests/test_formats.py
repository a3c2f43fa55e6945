"""Model-file readers and writers (isingvar.io.couplings).

The references here are computed independently of the code under test: the
file's partition function by a plain product of potentials over all
x in {0,1}^n, with the tables written out by hand next to each file; the Ising
side by brute force over s in {-1,+1}^n (tests/naive.py).
"""

import itertools
import math
import random
from pathlib import Path

import naive
import numpy as np
import pytest
from conftest import random_model

from isingvar.errors import CouplingsFileError
from isingvar.io.couplings import (
    FORMATS,
    ModelFile,
    format_of,
    read_model_file,
    read_model_file_cached,
    write_model_file,
)
from isingvar.model import IsingModel

E = math.e


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


# ---------------------------------------------------------------------------- UAI
# 6 variables (5 has no factor); scopes in both orders, two factors on the pair {1, 3}
# (one written (3, 1)), a comment line, tokens split across lines.
UAI_TEXT = """\
MARKOV
6
2 2 2 2 2 2
8
1 0
2 0 1
2 3 1
1 4
2 4 2
2 1 2
2 1 3
1 2
c a comment line (UAI 2016 format)
2
 0.7 1.9
4
 1.2 0.3
 2.5 0.8
4  0.6
 1.7 3.1 0.45
2
2.2 0.35

4
0.9 1.3 0.2 2.6
4
1.1 0.5 0.75 1.6
4
0.8 2.4 1.5 0.3
2 0.4
 1.0
"""
# the same tables by hand: (x_first, x_second) of the scope -> psi, last variable fastest
UAI_FACTORS = [
    ((0,), {(0,): 0.7, (1,): 1.9}),
    ((0, 1), {(0, 0): 1.2, (0, 1): 0.3, (1, 0): 2.5, (1, 1): 0.8}),
    ((3, 1), {(0, 0): 0.6, (0, 1): 1.7, (1, 0): 3.1, (1, 1): 0.45}),
    ((4,), {(0,): 2.2, (1,): 0.35}),
    ((4, 2), {(0, 0): 0.9, (0, 1): 1.3, (1, 0): 0.2, (1, 1): 2.6}),
    ((1, 2), {(0, 0): 1.1, (0, 1): 0.5, (1, 0): 0.75, (1, 1): 1.6}),
    ((1, 3), {(0, 0): 0.8, (0, 1): 2.4, (1, 0): 1.5, (1, 1): 0.3}),
    ((2,), {(0,): 0.4, (1,): 1.0}),
]


def test_uai_lnZ_equals_product_of_potentials(tmp_path):
    mf = read_model_file(write(tmp_path, "m.uai", UAI_TEXT))
    assert isinstance(mf, ModelFile) and mf.format == "uai"
    assert mf.model.n == 6
    # pairs {0,1}, {1,3} (two factors, one edge), {2,4}, {1,2}
    assert sorted(zip(mf.model.edge_i.tolist(), mf.model.edge_j.tolist())) == [(0, 1), (1, 2), (1, 3), (2, 4)]
    assert naive.model_lnZ(mf.model, 1.0)[0] + mf.lnZ_offset == pytest.approx(naive.factor_lnZ(6, UAI_FACTORS), abs=1e-10)


def test_uai_checked_token_by_token_reads_the_same(tmp_path):
    # "04" is a valid count that the fast path leaves to the token-by-token reader
    slow = read_model_file(write(tmp_path, "slow.uai", UAI_TEXT.replace("\n4\n 1.2", "\n04\n 1.2")))
    fast = read_model_file(write(tmp_path, "fast.uai", UAI_TEXT))
    np.testing.assert_array_equal(slow.model.couplings, fast.model.couplings)
    np.testing.assert_array_equal(slow.model.fields, fast.model.fields)
    assert slow.lnZ_offset == fast.lnZ_offset and slow.sha256 != fast.sha256


def test_uai_every_state_matches_the_product(tmp_path):
    # stronger than ln Z: sum_f ln psi_f(x) = -E(2x - 1) + lnZ_offset for every x
    mf = read_model_file(write(tmp_path, "m.uai", UAI_TEXT))
    x = naive.binary_states(6)
    lnpsi = naive.factor_log_weights(6, UAI_FACTORS)
    np.testing.assert_allclose(-mf.model.energy(2.0 * x - 1.0) + mf.lnZ_offset, lnpsi, rtol=0, atol=1e-12)


def test_reversed_scope_is_not_the_same_factor(tmp_path):
    # guard for the test above: reading the (3, 1) table as if it were (1, 3) changes ln Z
    swapped = [(s[::-1], t) if s == (3, 1) else (s, t) for s, t in UAI_FACTORS]
    assert abs(naive.factor_lnZ(6, swapped) - naive.factor_lnZ(6, UAI_FACTORS)) > 1e-3


@pytest.mark.parametrize("suffix, text", [
    (".uai", f"MARKOV\n1\n2\n1\n1 0\n2\n1.0 {E!r}\n"),
    (".fg", f"1\n\n1\n0\n2\n2\n0 1.0\n1 {E!r}\n"),
])
def test_zero_one_states_map_to_spins_down_up(tmp_path, suffix, text):
    # psi(x=0) = 1, psi(x=1) = e: ln psi = 1/2 + s/2, so h = +1/2 (x = 1 is s = +1) and offset 1/2
    mf = read_model_file(write(tmp_path, "one" + suffix, text))
    assert mf.model.n == 1 and mf.model.n_edges == 0
    assert mf.model.fields[0] == pytest.approx(0.5, abs=1e-15)
    assert mf.lnZ_offset == pytest.approx(0.5, abs=1e-15)
    assert naive.model_lnZ(mf.model, 1.0)[0] + mf.lnZ_offset == pytest.approx(math.log(1 + E), abs=1e-14)


def test_pairwise_conversion_formulas(tmp_path):
    # one asymmetric pair factor, scope (1, 0): t_ab = ln psi(x_1 = a, x_0 = b)
    t = {(0, 0): 0.3, (0, 1): -1.1, (1, 0): 0.8, (1, 1): 2.0}
    psi = " ".join(repr(math.exp(t[k])) for k in [(0, 0), (0, 1), (1, 0), (1, 1)])
    mf = read_model_file(write(tmp_path, "p.uai", f"MARKOV\n2\n2 2\n1\n2 1 0\n4\n{psi}\n"))
    m = mf.model
    assert m.couplings[0] == pytest.approx((t[0, 0] + t[1, 1] - t[0, 1] - t[1, 0]) / 4, abs=1e-14)
    assert m.fields[1] == pytest.approx((t[1, 0] + t[1, 1] - t[0, 0] - t[0, 1]) / 4, abs=1e-14)
    assert m.fields[0] == pytest.approx((t[0, 1] + t[1, 1] - t[0, 0] - t[1, 0]) / 4, abs=1e-14)
    assert mf.lnZ_offset == pytest.approx(sum(t.values()) / 4, abs=1e-14)


def test_factors_that_cancel_keep_the_edge(tmp_path):
    # psi and 1/psi-like factors on one pair: J sums to 0, the edge stays (IsingModel accepts J = 0)
    text = "MARKOV\n2\n2 2\n2\n2 0 1\n2 1 0\n4\n2.0 1.0 1.0 2.0\n4\n0.5 1.0 1.0 0.5\n"
    m = read_model_file(write(tmp_path, "c.uai", text)).model
    assert m.n_edges == 1 and m.couplings[0] == 0.0
    assert IsingModel(2, [0], [1], [0.0]).n_edges == 1


# ---------------------------------------------------------------------------- libDAI .fg
# labels 2, 5, 7, 9, 12 (spins 0..4 by sorted label); scopes in both orders, entries listed out
# of index order, a factor pair on one variable pair, comments and blank lines
FG_TEXT = """\
# a hand-written factor graph
6

1
7
2
2
1 3.0
0 0.5

2
7 2
2 2
4
0 1.2
1 0.3
2 2.5
3 0.8

2
2 9
2 2
4
3 0.45
2 3.1
1 1.7
0 0.6
# comment between blocks

2
12 5
2 2
4
0 0.9
1 1.3
2 0.2
3 2.6

2
9 2
2 2
4
0 1.1
1 0.5
2 0.75
3 1.6

1
12
2
2
0 0.4
1 1.7
"""
# by hand, keyed by (x_first, x_second) of the listed scope, first variable fastest (index = x0 + 2 x1)
FG_FACTORS = [
    ((7,), {(0,): 0.5, (1,): 3.0}),
    ((7, 2), {(0, 0): 1.2, (1, 0): 0.3, (0, 1): 2.5, (1, 1): 0.8}),
    ((2, 9), {(1, 1): 0.45, (0, 1): 3.1, (1, 0): 1.7, (0, 0): 0.6}),
    ((12, 5), {(0, 0): 0.9, (1, 0): 1.3, (0, 1): 0.2, (1, 1): 2.6}),
    ((9, 2), {(0, 0): 1.1, (1, 0): 0.5, (0, 1): 0.75, (1, 1): 1.6}),
    ((12,), {(0,): 0.4, (1,): 1.7}),
]
FG_LABELS = [2, 5, 7, 9, 12]


def test_fg_lnZ_equals_product_of_potentials(tmp_path):
    mf = read_model_file(write(tmp_path, "m.fg", FG_TEXT))
    assert mf.format == "fg" and mf.model.n == 5
    spin = {label: k for k, label in enumerate(FG_LABELS)}
    factors = [(tuple(spin[v] for v in scope), t) for scope, t in FG_FACTORS]
    assert naive.model_lnZ(mf.model, 1.0)[0] + mf.lnZ_offset == pytest.approx(naive.factor_lnZ(5, factors), abs=1e-10)
    # spins numbered by sorted label: label 12 (spin 4) has the field of its unary factor and of (12, 5)
    assert sorted(zip(mf.model.edge_i.tolist(), mf.model.edge_j.tolist())) == [(0, 2), (0, 3), (1, 4)]
    x = naive.binary_states(5)
    lnpsi = naive.factor_log_weights(5, factors)
    np.testing.assert_allclose(-mf.model.energy(2.0 * x - 1.0) + mf.lnZ_offset, lnpsi, rtol=0, atol=1e-12)


def test_fg_labels_are_numbered_by_sorted_label(tmp_path):
    # a field on label 10 and none on label 3: spin 1 is label 10
    text = "2\n\n1\n10\n2\n2\n0 1.0\n1 4.0\n\n2\n10 3\n2 2\n4\n0 1\n1 1\n2 1\n3 1\n"
    m = read_model_file(write(tmp_path, "l.fg", text)).model
    assert m.n == 2
    np.testing.assert_allclose(m.fields, [0.0, math.log(4.0) / 2], atol=1e-15)


# ---------------------------------------------------------------------------- round trips
def _models(rng):
    m = random_model(7, rng, density=0.6)
    # plus: an isolated last spin with zero field and a zero coupling
    iso = IsingModel(5, [0, 1, 0], [1, 2, 3], [0.7, -1.3, 0.0], [0.2, 0.0, -0.4, 0.0, 0.0])
    return {"random": m, "isolated": iso}


@pytest.mark.parametrize("fmt", ["npz", "edges", "uai", "fg"])
@pytest.mark.parametrize("which", ["random", "isolated"])
def test_round_trip(tmp_path, rng, fmt, which):
    m = _models(rng)[which]
    suffix = {"edges": ".txt"}.get(fmt, "." + fmt)
    p = tmp_path / ("m" + suffix)
    assert write_model_file(m, p) == fmt
    mf = read_model_file(p)
    r = mf.model
    assert mf.format == fmt and r.n == m.n
    if fmt == "npz":  # a dense matrix cannot hold an edge with J = 0
        np.testing.assert_array_equal(r.dense(), m.dense())
    else:
        np.testing.assert_array_equal(r.edge_i, m.edge_i)
        np.testing.assert_array_equal(r.edge_j, m.edge_j)
    if fmt in ("npz", "edges"):
        np.testing.assert_array_equal(r.couplings if fmt == "edges" else r.dense(),
                                      m.couplings if fmt == "edges" else m.dense())
        np.testing.assert_array_equal(r.fields, m.fields)
        assert mf.lnZ_offset == 0.0
    else:
        np.testing.assert_allclose(r.couplings, m.couplings, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(r.fields, m.fields, rtol=1e-12, atol=1e-15)
        assert abs(mf.lnZ_offset) < 1e-14
        assert naive.model_lnZ(r, 1.0)[0] + mf.lnZ_offset == pytest.approx(naive.model_lnZ(m, 1.0)[0], abs=1e-12)


def test_uai_export_is_exp_J_s_s(tmp_path):
    # the written tables are psi = exp(J s_i s_j), last variable fastest, and exp(h s)
    m = IsingModel(2, [0], [1], [0.5], [0.0, -0.25])
    write_model_file(m, tmp_path / "m.uai")
    tokens = (tmp_path / "m.uai").read_text().split()
    assert tokens[:9] == ["MARKOV", "2", "2", "2", "2", "1", "1", "2", "0"] and tokens[9] == "1"
    h_table = [float(t) for t in tokens[11:13]]
    assert tokens[10] == "2" and h_table == [math.exp(0.25), math.exp(-0.25)]
    assert tokens[13] == "4" and [float(t) for t in tokens[14:]] == [math.exp(0.5), math.exp(-0.5),
                                                                        math.exp(-0.5), math.exp(0.5)]


def test_npy_round_trip_and_fields_refused(tmp_path, rng):
    m = random_model(6, rng, field_scale=0.0)
    assert write_model_file(m, tmp_path / "m.npy") == "npy"
    r = read_model_file(tmp_path / "m.npy")
    assert r.format == "npy" and r.lnZ_offset == 0.0
    np.testing.assert_array_equal(r.model.dense(), m.dense())
    with pytest.raises(CouplingsFileError, match="no fields"):
        write_model_file(random_model(6, rng), tmp_path / "f.npy")
    with pytest.raises(CouplingsFileError, match="f2.npy"):
        write_model_file(random_model(6, rng), tmp_path / "f2.npy", "npy")


def test_writer_honours_explicit_format_and_exact_name(tmp_path, rng):
    m = random_model(4, rng)
    assert write_model_file(m, tmp_path / "m.dat", "npz") == "npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dat"]  # no .npz appended
    np.testing.assert_array_equal(read_model_file(tmp_path / "m.dat", "npz").model.dense(), m.dense())
    assert write_model_file(m, tmp_path / "m.model", "uai") == "uai"
    assert read_model_file(tmp_path / "m.model", "uai").model.n == 4


def test_writer_refuses_potentials_that_overflow(tmp_path):
    m = IsingModel(2, [0], [1], [800.0])
    with pytest.raises(CouplingsFileError, match="too large"):
        write_model_file(m, tmp_path / "m.uai")
    assert write_model_file(m, tmp_path / "m.txt") == "edges"


# ---------------------------------------------------------------------------- dispatch, hash, cache
def test_format_of():
    assert FORMATS == ("uai", "fg", "npz", "npy", "edges")
    assert [format_of(f"m{s}") for s in (".uai", ".fg", ".npz", ".npy", ".txt", "", ".UAI")] == [
        "uai", "fg", "npz", "npy", "edges", "edges", "uai"]
    assert format_of("m.uai", "auto") == "uai" and format_of("m.uai", None) == "uai"
    assert format_of("m.txt", "fg") == "fg"
    with pytest.raises(CouplingsFileError, match=r"m\.txt: unknown format 'xml'.*auto, uai, fg, npz, npy, edges"):
        format_of("m.txt", "xml")


def test_sha256_path_and_cache(tmp_path):
    import hashlib
    import os

    p = write(tmp_path, "m.uai", UAI_TEXT)
    mf = read_model_file(p)
    assert mf.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert mf.path == str(p.resolve())
    a = read_model_file_cached(p)
    assert read_model_file_cached(p) is a and read_model_file_cached(p, "uai") is a
    assert a.lnZ_offset == mf.lnZ_offset
    p.write_text(UAI_TEXT.replace("0.7 1.9", "0.7 2.9"))
    os.utime(p, ns=(1, 1))  # a new version even on a coarse clock
    b = read_model_file_cached(p)
    assert b is not a and b.sha256 != a.sha256


# ---------------------------------------------------------------------------- malformed files
HEAD2 = "MARKOV\n2\n2 2\n"

BAD_FILES = [
    # (file name, text, expected in message, line or None)
    ("bayes.uai", "BAYES\n1\n2\n1\n1 0\n2\n0.5 0.5\n", "only MARKOV networks are supported", 1),
    ("kind.uai", "MRF\n1\n2\n0\n", "expected the network type MARKOV", 1),
    ("card.uai", "MARKOV\n3\n2 3 2\n0\n", "variable 1 has cardinality 3", 3),
    ("order3.uai", "MARKOV\n3\n2 2 2\n1\n3 0 1 2\n8\n1 1 1 1 1 1 1 1\n", "factor 0 has order 3", 5),
    ("zero.uai", HEAD2 + "1\n2 0 1\n4\n1.0 2.0\n0 1.0\n", "hard constraints (zero potentials)", 8),
    ("negative.uai", HEAD2 + "1\n1 0\n2\n1.0 -2.0\n", "must be > 0", 7),
    ("count.uai", HEAD2 + "1\n2 0 1\n3\n1.0 2.0 3.0\n", "factor 0 has 3 table entries", 6),
    ("truncated.uai", HEAD2 + "2\n1 0\n2 0 1\n2\n1.0 2.0\n4\n1.0 2.0\n", "the file ends early", 10),
    ("truncated2.uai", "MARKOV\n2\n2", "the file ends early: expected the cardinality of variable 1", 3),
    ("empty.uai", "", "the file ends early", 1),
    ("token.uai", HEAD2 + "1\n1 0\n2\n1.0 abc\n", "expected entry 1 of factor 0 (a number), got 'abc'", 7),
    ("intok.uai", "MARKOV\n2.5\n", "expected the number of variables (an integer)", 2),
    ("repeat.uai", HEAD2 + "1\n2 1 1\n4\n1 1 1 1\n", "factor 0 lists variable 1 twice", 5),
    ("range.uai", HEAD2 + "1\n2 0 2\n4\n1 1 1 1\n", "variable index 2 is outside 0..1", 5),
    ("nan.uai", HEAD2 + "1\n1 0\n2\n1.0 nan\n", "must be finite", 7),
    ("trailing.uai", HEAD2 + "1\n1 0\n2\n1.0 2.0\n\n7\n", "unexpected content after the last factor", 9),
    ("missing.fg", "1\n\n2\n0 1\n2 2\n3\n0 1.0\n1 2.0\n3 0.5\n", "lists 3 of its 4 entries", 6),
    ("zero.fg", "1\n\n1\n0\n2\n2\n0 1.0\n1 0.0\n", "hard constraints (zero potentials)", 8),
    ("card.fg", "1\n\n2\n0 1\n2 3\n6\n", "variable 1 has cardinality 3", 5),
    ("order3.fg", "1\n\n3\n0 1 2\n2 2 2\n8\n", "factor 0 has order 3", 3),
    ("index.fg", "1\n\n1\n0\n2\n2\n0 1.0\n2 1.0\n", "a table index of factor 0 must be in 0..1", 8),
    ("twice.fg", "1\n\n1\n0\n2\n2\n0 1.0\n0 1.0\n", "lists table index 0 twice", 8),
    ("repeat.fg", "1\n\n2\n4 4\n2 2\n4\n", "lists variable 4 twice", 4),
    ("truncated.fg", "2\n\n1\n0\n2\n2\n0 1.0\n1 2.0\n\n", "the file ends early", 8),
    ("label.fg", "1\n\n1\n-1\n2\n", "must be >= 0, got -1", 4),
    ("empty.fg", "0\n", "no variables", None),
]


@pytest.mark.parametrize("name, text, match, line", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_malformed_files_name_the_file_and_line(tmp_path, name, text, match, line):
    p = write(tmp_path, name, text)
    with pytest.raises(CouplingsFileError) as info:
        read_model_file(p)
    message = str(info.value)
    assert match in message
    assert "\n" not in message
    assert name in message
    if line is not None:
        assert f"{name}:{line}: " in message


def test_unknown_format_names_the_file(tmp_path):
    p = write(tmp_path, "m.uai", UAI_TEXT)
    with pytest.raises(CouplingsFileError, match=r"m\.uai: unknown format 'bif'") as info:
        read_model_file(p, "bif")
    assert "\n" not in str(info.value)
    with pytest.raises(CouplingsFileError, match="unknown format"):
        read_model_file_cached(p, "bif")


@pytest.mark.parametrize("fmt, match", [
    ("npz", "not a readable .npz archive"),
    ("npy", "not a readable .npy array"),
    ("fg", r"m\.uai:1: expected the number of factors \(an integer\), got 'MARKOV'"),
])
def test_wrong_explicit_format(tmp_path, fmt, match):
    p = write(tmp_path, "m.uai", UAI_TEXT)
    with pytest.raises(CouplingsFileError, match=match) as info:
        read_model_file(p, fmt)
    assert "m.uai" in str(info.value)


def test_npz_and_npy_mixed_up(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 2)))
    with pytest.raises(CouplingsFileError, match="use --format npy"):
        read_model_file(tmp_path / "a.npy", "npz")
    np.savez(tmp_path / "b.npz", J=np.zeros((2, 2)))
    with pytest.raises(CouplingsFileError, match="use --format npz"):
        read_model_file(tmp_path / "b.npz", "npy")
    np.save(tmp_path / "c.npy", np.zeros((2, 3)))
    with pytest.raises(CouplingsFileError, match="c.npy.*square"):
        read_model_file(tmp_path / "c.npy")


# ---------------------------------------------------------------------------- edge lists and npz
def test_edge_list_reader(tmp_path):
    p = tmp_path / "m.txt"
    p.write_text("# a 3-spin model\n0 1 1.5\n2 1 -0.5   # reversed order is fine\n\n1 0.25\n")
    mf = read_model_file(p)
    assert mf.format == "edges" and mf.lnZ_offset == 0.0
    J = np.zeros((3, 3))
    J[0, 1] = J[1, 0] = 1.5
    J[1, 2] = J[2, 1] = -0.5
    np.testing.assert_array_equal(mf.model.dense(), J)
    np.testing.assert_array_equal(mf.model.fields, [0, 0.25, 0])


def test_npz_reader(tmp_path, rng):
    J = rng.normal(size=(5, 5))
    J = np.triu(J, 1) + np.triu(J, 1).T
    h = rng.normal(size=5)
    np.savez(tmp_path / "m.npz", J=J, h=h)
    mf = read_model_file(tmp_path / "m.npz")
    assert mf.format == "npz" and mf.lnZ_offset == 0.0
    np.testing.assert_array_equal(mf.model.dense(), J)
    np.testing.assert_array_equal(mf.model.fields, h)


@pytest.mark.parametrize(
    "text, match",
    [
        ("0 1\n0 1 2 3\n", ":2: expected"),
        ("0 x 1.0\n", ":1: indices must be integers"),
        ("0 1 1.0\n1 0 2.0\n", ":2: pair 0 1 already given on line 1"),
        ("0 0 1.0\n", ":1: self-coupling"),
        ("0 1 nan\n", ":1: value nan is not finite"),
        ("-1 1 1.0\n", ":1: spin indices start at 0"),
        ("# nothing\n", "no couplings"),
        ("0 1.0\n0 2.0\n", ":2: field of spin 0 given twice"),
    ],
)
def test_edge_list_errors_name_file_and_line(tmp_path, text, match):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(CouplingsFileError, match=match) as info:
        read_model_file(p)
    assert "bad.txt" in str(info.value)


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"J": np.array([[0.0, 1.0], [2.0, 0.0]])}, "symmetric"),
        ({"J": np.zeros((2, 3))}, "square"),
        ({"J": np.array([[0.0, np.inf], [np.inf, 0.0]])}, "not finite"),
        ({"K": np.zeros((2, 2))}, "no array 'J'"),
        ({"J": np.zeros((2, 2)), "h": np.zeros(3)}, "shape"),
    ],
)
def test_npz_errors(tmp_path, arrays, match):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(CouplingsFileError, match=match) as info:
        read_model_file(p)
    assert "bad.npz" in str(info.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(CouplingsFileError, match="does not exist"):
        read_model_file(tmp_path / "nope.npz")
    with pytest.raises(CouplingsFileError, match="does not exist"):
        read_model_file_cached(tmp_path / "nope.uai")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CouplingsFileError, match="not a readable"):
        read_model_file(tmp_path / "junk.npz")
    for name in ("bin.txt", "bin.uai", "bin.fg"):
        (tmp_path / name).write_bytes(b"\xff\xfe\x00\x81")
        with pytest.raises(CouplingsFileError, match=name):
            read_model_file(tmp_path / name)


# ---------------------------------------------------------------------------- public benchmark files
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA_FILES = sorted(DATA.glob("uai2014/*.uai")) + sorted(DATA.glob("libdai/*.fg"))
needs_data = pytest.mark.skipif(not DATA_FILES, reason=f"no benchmark files under {DATA}")


def _plain_factors(path):
    """An independent, no-checks parse: n, [(scope, {x tuple: psi})] in file variable numbering."""
    if path.suffix == ".uai":
        t = path.read_text().split()
        n, p = int(t[1]), 2 + int(t[1])
        m, p = int(t[p]), p + 1
        scopes = []
        for _ in range(m):
            k = int(t[p])
            scopes.append(tuple(int(v) for v in t[p + 1:p + 1 + k]))
            p += 1 + k
        factors = []
        for scope in scopes:
            count, p = int(t[p]), p + 1
            states = list(itertools.product((0, 1), repeat=len(scope)))  # last variable fastest
            factors.append((scope, {x: float(v) for x, v in zip(states, t[p:p + count], strict=True)}))
            p += count
        return n, factors
    t = [w for line in path.read_text().splitlines() if not line.startswith("#") for w in line.split()]
    m, p, factors = int(t[0]), 1, []
    for _ in range(m):
        k = int(t[p])
        scope = tuple(int(v) for v in t[p + 1:p + 1 + k])
        p += 1 + 2 * k
        count, p = int(t[p]), p + 1
        table = {}
        for _ in range(count):
            idx, val = int(t[p]), float(t[p + 1])
            table[tuple((idx >> b) & 1 for b in range(k))] = val  # first variable fastest
            p += 2
        factors.append((scope, table))
    labels = sorted({v for s, _ in factors for v in s})
    spin = {label: k for k, label in enumerate(labels)}
    return len(labels), [(tuple(spin[v] for v in s), tab) for s, tab in factors]


@needs_data
@pytest.mark.parametrize("path", DATA_FILES or [None], ids=[p.name for p in DATA_FILES] or ["none"])
def test_benchmark_files_parse_and_match_their_potentials(path):
    mf = read_model_file(path)
    n, factors = _plain_factors(path)
    assert mf.model.n == n
    assert mf.format == path.suffix[1:]
    if path.suffix == ".uai":
        assert n == int(path.read_text().split()[1])  # N from the header
    # sum_f ln psi_f(x) = -E(2x - 1) + lnZ_offset on random states (these models are too large to enumerate)
    rnd = random.Random(path.name)
    for _ in range(50):
        x = [rnd.randint(0, 1) for _ in range(n)]
        lnpsi = math.fsum(math.log(t[tuple(x[v] for v in s)]) for s, t in factors)
        ising = -mf.model.energy(2 * np.array(x, float) - 1) + mf.lnZ_offset
        assert ising == pytest.approx(lnpsi, rel=1e-12, abs=1e-9)


@needs_data
def test_twofactors_fg_lnZ():
    path = DATA / "libdai" / "twofactors.fg"
    if not path.is_file():
        pytest.skip("twofactors.fg missing")
    mf = read_model_file(path)
    # the file's two tables, by hand (first variable fastest)
    factors = [
        ((0, 1), {(0, 0): 0.570273, (1, 0): 0.702232, (0, 1): 0.774333, (1, 1): 3.41627}),
        ((2, 3), {(0, 0): 1.51657, (1, 0): 0.920425, (0, 1): 0.254792, (1, 1): 1.50469}),
    ]
    assert mf.model.n == 4 and mf.model.n_edges == 2
    assert naive.model_lnZ(mf.model, 1.0)[0] + mf.lnZ_offset == pytest.approx(naive.factor_lnZ(4, factors), abs=1e-10)
