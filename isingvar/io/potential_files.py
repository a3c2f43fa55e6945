"""Model files of potentials: UAI ``.uai`` and libDAI ``.fg`` factor graphs over binary variables,
converted to isingvar's J, h and an ``lnZ_offset`` at beta = 1 (the conversion: :mod:`isingvar.io.couplings`),
and written back as potentials exp(J_ij s_i s_j) and exp(h_i s_i).

Read and written through :mod:`isingvar.io.couplings` (the format is chosen there).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..errors import CouplingsFileError, ModelError
from ..model import IsingModel, check_size_limits
from .coupling_files import _CONVENTION, _r, plain_numbers

#: Largest |J| or |h| the uai and fg writers accept: exp(+-700) is a normal float64.
_MAX_EXPONENT = 700.0


#: A UAI comment line (UAI 2016 and later): its first token is "c".
_UAI_COMMENT = re.compile(r"^[^\S\n]*c(?=\s|$)[^\n]*", re.MULTILINE)
#: libDAI: '#' starts a comment ('#' never occurs in data, so cut from it to the end of the line).
_FG_COMMENT = re.compile(r"#[^\n]*")
_TOKEN = re.compile(r"\S+")

_HARD = (
    "potentials must be > 0; hard constraints (zero potentials) and negative values cannot be converted "
    "to an Ising model, whose weights exp(-E) are positive"
)


class _Tokens:
    """Whitespace-separated tokens of a text format, comments removed.

    Line numbers are found only for an error (by rescanning the text), so
    reading a well-formed file costs one ``str.split``.
    """

    def __init__(self, path: Path, data: bytes, comment: re.Pattern):
        self.path = path
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CouplingsFileError(f"{path}: not a UTF-8 text file; check --format") from None
        self.text = comment.sub("", text)  # keeps every newline, so line numbers stay right
        self.toks = self.text.split()
        self.pos = 0
        if not plain_numbers(self.text):  # every token is a number or a keyword: find the culprit
            k = next(k for k, t in enumerate(self.toks) if not plain_numbers(t))
            raise self.error(f"{self.toks[k]!r} is not a number: write ASCII digits, without '_'", k)

    def line_of(self, k) -> int:
        if not self.toks:
            return 1
        k = min(max(k, 0), len(self.toks) - 1)
        for count, match in enumerate(_TOKEN.finditer(self.text)):
            if count == k:
                return self.text.count("\n", 0, match.start()) + 1
        return self.text.count("\n") + 1  # pragma: no cover - split() and \S+ agree

    def error(self, message, k=None) -> CouplingsFileError:
        """An error at token ``k`` (default: the last token read)."""
        line = self.line_of(self.pos - 1 if k is None else k)
        return CouplingsFileError(f"{self.path}:{line}: {message}")

    def next(self, what) -> str:
        if self.pos >= len(self.toks):
            raise self.error(f"the file ends early: expected {what}", len(self.toks) - 1)
        self.pos += 1
        return self.toks[self.pos - 1]

    def int(self, what, lo=0, hi=None) -> int:
        tok = self.next(what)
        try:
            value = int(tok)
        except ValueError:
            raise self.error(f"expected {what} (an integer), got {tok!r}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise self.error(f"{what} must be {bound}, got {value}")
        return value

    def potential(self, what) -> float:
        tok = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            raise self.error(f"expected {what} (a number), got {tok!r}") from None
        if not math.isfinite(value):
            raise self.error(f"{what} is {tok}: potentials must be finite")
        if value <= 0:
            raise self.error(f"{what} is {tok}: {_HARD}")
        return value

    def end(self):
        if self.pos < len(self.toks):
            raise self.error(f"unexpected content after the last factor: {self.toks[self.pos]!r}", self.pos)


# ---------------------------------------------------------------------------- factors -> Ising
class _Factors:
    """Unary and pairwise potential tables, converted to J, h and an offset.

    A table is the list of psi over the states of its scope, LAST variable
    fastest: ``[psi(0), psi(1)]`` or ``[psi(0,0), psi(0,1), psi(1,0), psi(1,1)]``
    with (x_first, x_second).
    """

    def __init__(self, n):
        self.n = n
        self.scopes: list[list[int]] = []
        self.tables: list[list[float]] = []

    def add(self, scope, table):
        self.scopes.append(scope)
        self.tables.append(table)

    def _group(self, order):
        idx = [f for f, s in enumerate(self.scopes) if len(s) == order]
        v = np.array([self.scopes[f] for f in idx], dtype=np.int64).reshape(len(idx), order)
        t = np.log(np.array([self.tables[f] for f in idx], dtype=np.float64).reshape(len(idx), 2**order))
        return v, t

    def model(self) -> tuple[IsingModel, float]:
        n = self.n
        h = np.zeros(n)
        _, t = self._group(0)
        offset = [t.sum()]
        v, t = self._group(1)
        np.add.at(h, v[:, 0], (t[:, 1] - t[:, 0]) / 2)
        offset.extend((t[:, 0] + t[:, 1]) / 2)
        v, t = self._group(2)
        t00, t01, t10, t11 = t.T
        np.add.at(h, v[:, 0], (t10 + t11 - t00 - t01) / 4)
        np.add.at(h, v[:, 1], (t01 + t11 - t00 - t10) / 4)
        offset.extend((t00 + t01 + t10 + t11) / 4)
        key = np.minimum(v[:, 0], v[:, 1]) * n + np.maximum(v[:, 0], v[:, 1])
        keys, inverse = np.unique(key, return_inverse=True)  # factors on one pair multiply: J adds up
        J = np.bincount(inverse, weights=(t00 + t11 - t01 - t10) / 4, minlength=keys.size)
        return IsingModel(n, keys // n, keys % n, J, h), math.fsum(offset)


def _read_scope(tok: _Tokens, k, f, what_var, check_var):
    """Read ``k`` variables of factor ``f``; reject orders > 2 and repeats."""
    if k > 2:
        raise tok.error(
            f"factor {f} has order {k} (a scope of {k} variables); only unary and pairwise factors can be "
            "converted to an Ising model"
        )
    scope = []
    for _ in range(k):
        v = check_var(tok.int(what_var))
        if v in scope:
            raise tok.error(f"factor {f} lists variable {v} twice in its scope")
        scope.append(v)
    return scope


def _positive(values) -> bool:
    """All finite and > 0 (the fast paths check this and leave the messages to the slow ones)."""
    a = np.asarray(values, dtype=np.float64)
    return bool(np.all(np.isfinite(a) & (a > 0)))


# ---------------------------------------------------------------------------- readers
def _read_uai(path: Path, data: bytes):
    """Read a UAI MARKOV network (``.uai``).

    Source: the UAI inference-competition model format (UAI 2008-2022, e.g.
    https://www.cs.huji.ac.il/project/PASCAL/fileFormat.php and the UAI 2014
    evaluation's "uaiformat" page).  Whitespace-separated tokens, in order:
    ``MARKOV``; the number of variables N; their N cardinalities (all must be
    2 here); the number of factors; each factor's scope (its size, then the
    0-based variable indices); then for each factor the number of table
    entries followed by the entries.  Entries are potentials psi > 0 over the
    0/1 states of the scope, the LAST variable of the scope changing fastest:
    for scope (a, b) the entries are psi(0,0), psi(0,1), psi(1,0), psi(1,1)
    with (x_a, x_b).  Lines whose first token is ``c`` are comments (UAI 2016+).

    Sign convention: Z_file = sum_x prod psi(x); spin s_i = 2 x_i - 1 of
    variable i (same numbering); converted as in :mod:`isingvar.io.couplings`, so
    ln Z_file = lnZ_ising(beta = 1) + lnZ_offset.  Only unary and pairwise
    factors (order 0 is a constant) and positive potentials can be converted.
    """
    tok = _Tokens(path, data, _UAI_COMMENT)
    kind = tok.next("the network type MARKOV")
    if kind.upper() == "BAYES":
        raise tok.error("only MARKOV networks are supported, this file is a BAYES network")
    if kind.upper() != "MARKOV":
        raise tok.error(f"expected the network type MARKOV on the first line, got {kind!r}")
    n = tok.int("the number of variables", lo=1)
    # the usual case without a check per token; but nothing of size n before the file has shown
    # n cardinalities: a 37-byte header declaring 10^9 variables reaches "ends early" token by token
    if n <= len(tok.toks) - tok.pos and tok.toks[tok.pos:tok.pos + n] == ["2"] * n:
        tok.pos += n
    else:
        for v in range(n):
            card = tok.int(f"the cardinality of variable {v}")
            if card != 2:
                raise tok.error(
                    f"variable {v} has cardinality {card}; only binary (cardinality 2) variables can be "
                    "converted to Ising spins"
                )
    try:
        check_size_limits(n, 0)
    except ModelError as err:
        raise tok.error(str(err)) from None
    m = tok.int("the number of factors")

    def check_var(v):
        if v >= n:
            raise tok.error(f"variable index {v} is outside 0..{n - 1}")
        return v

    scopes = []
    for f in range(m):
        k = tok.int(f"the scope size of factor {f}")
        scopes.append(_read_scope(tok, k, f, f"a variable index in the scope of factor {f}", check_var))
    factors = _Factors(n)
    tables = _uai_tables_fast(tok, scopes)
    if tables is None:  # something is wrong: read token by token for the message
        tables = []
        for f, scope in enumerate(scopes):
            size = 2 ** len(scope)
            count = tok.int(f"the number of table entries of factor {f}")
            if count != size:
                raise tok.error(
                    f"factor {f} has {count} table entries; a factor over {len(scope)} binary variables has {size}"
                )
            tables.append([tok.potential(f"entry {e} of factor {f}") for e in range(count)])
        tok.end()
    for scope, table in zip(scopes, tables, strict=True):
        factors.add(scope, table)  # UAI order is already last variable fastest
    return factors.model()


def _uai_tables_fast(tok: _Tokens, scopes):
    """The function tables of a well-formed file, or None (the caller then finds the error)."""
    rest, p, tables = tok.toks[tok.pos:], 0, []
    for scope in scopes:
        size = 2 ** len(scope)
        if p + size >= len(rest) or rest[p] != str(size):
            return None
        tables.append(rest[p + 1:p + 1 + size])
        p += 1 + size
    if p != len(rest):
        return None
    try:
        tables = [list(map(float, t)) for t in tables]
    except ValueError:
        return None
    if not _positive([x for t in tables for x in t]):
        return None
    return tables


def _read_fg(path: Path, data: bytes):
    """Read a libDAI factor graph (``.fg``).

    Source: libDAI documentation, "libDAI file formats", section "Factor graph
    (.fg) file format" (http://www.libdai.org, ``doc.h``).  In order: the
    number of factors; then per factor (blocks separated by blank lines) the
    number of variables, their labels (non-negative integers), their
    cardinalities (all must be 2 here), the number of nonzero entries and that
    many lines ``index value`` (in any order).  The linear index runs over the
    states of the variables in the order listed, the FIRST variable changing
    fastest: for labels (a, b), index = x_a + 2 x_b.  Entries not listed are
    zero.  ``#`` starts a comment.

    Spins are numbered by sorted label: the smallest label is spin 0 (the
    identity when the labels are 0..N-1); N is the number of distinct labels.

    Sign convention: Z_file = sum_x prod psi(x), s = 2x - 1, converted as in
    :mod:`isingvar.io.couplings`: ln Z_file = lnZ_ising(beta = 1) + lnZ_offset.  A
    factor with an entry missing (zero) is a hard constraint and cannot be
    converted; only unary and pairwise factors (order 0 is a constant) can.
    """
    tok = _Tokens(path, data, _FG_COMMENT)
    m = tok.int("the number of factors")
    blocks = []
    for f in range(m):
        k = tok.int(f"the number of variables of factor {f}")
        scope = _read_scope(tok, k, f, f"a variable label of factor {f}", lambda v: v)
        for label in scope:
            card = tok.int(f"the cardinality of variable {label} in factor {f}")
            if card != 2:
                raise tok.error(
                    f"variable {label} has cardinality {card} in factor {f}; only binary (cardinality 2) "
                    "variables can be converted to Ising spins"
                )
        size = 2**k
        count = tok.int(f"the number of nonzero entries of factor {f}", hi=size)
        count_at = tok.pos - 1
        psi = [None] * size
        for _ in range(count):
            index = tok.int(f"a table index of factor {f}", hi=size - 1)
            if psi[index] is not None:
                raise tok.error(f"factor {f} lists table index {index} twice")
            psi[index] = tok.potential(f"entry {index} of factor {f}")
        if count < size:
            missing = psi.index(None)
            raise tok.error(
                f"factor {f} lists {count} of its {size} entries; a missing entry (index {missing}) is a zero "
                "potential, and hard constraints (zero potentials) cannot be converted to an Ising model",
                count_at,
            )
        if k == 2:  # first variable fastest -> last variable fastest
            psi = [psi[0], psi[2], psi[1], psi[3]]
        blocks.append((scope, psi))
    tok.end()
    labels = sorted({v for scope, _ in blocks for v in scope})
    if not labels:
        raise CouplingsFileError(f"{path}: the factor graph has no variables")
    check_size_limits(len(labels), len(blocks))
    spin = {label: s for s, label in enumerate(labels)}
    factors = _Factors(len(labels))
    for scope, psi in blocks:
        factors.add([spin[v] for v in scope], psi)
    return factors.model()


# ---------------------------------------------------------------------------- writers
def _check_exponents(model: IsingModel, path):
    for name, values in (("coupling", model.couplings), ("field", model.fields)):
        big = np.abs(values) > _MAX_EXPONENT
        if big.any():
            k = int(np.argmax(big))
            what = f"J[{model.edge_i[k]},{model.edge_j[k]}]" if name == "coupling" else f"h[{k}]"
            raise CouplingsFileError(
                f"{path}: {name} {what} = {values[k]} is too large to write as a potential exp(+-{values[k]:g}) "
                f"(limit |value| <= {_MAX_EXPONENT:g}); write npz or edges instead"
            )


def _unary_factors(model: IsingModel, all_isolated: bool):
    """Spins that get a unary factor: nonzero field (and, if asked, no coupling)."""
    need = model.fields != 0
    if all_isolated:
        touched = np.zeros(model.n, dtype=bool)
        touched[model.edge_i] = touched[model.edge_j] = True
        need |= ~touched
    return np.flatnonzero(need)


def _pair_table(J):
    # psi(x_i, x_j) = exp(J s_i s_j): equal on the diagonal, so the same in either index order
    return _r(math.exp(J)), _r(math.exp(-J))


def _uai_text(model: IsingModel) -> str:
    unary = _unary_factors(model, all_isolated=False)
    E = model.n_edges
    out = ["MARKOV", str(model.n), " ".join(["2"] * model.n), str(unary.size + E)]
    out.extend(f"1 {i}" for i in unary.tolist())
    out.extend(f"2 {i} {j}" for i, j in zip(model.edge_i.tolist(), model.edge_j.tolist(), strict=True))
    for i in unary.tolist():
        h = float(model.fields[i])
        out.append(f"\n2\n{_r(math.exp(-h))} {_r(math.exp(h))}")  # psi(x=0), psi(x=1) = exp(-h), exp(h)
    for J in model.couplings.tolist():
        same, diff = _pair_table(J)  # last variable fastest: (0,0) (0,1) (1,0) (1,1)
        out.append(f"\n4\n{same} {diff}\n{diff} {same}")
    return "\n".join(out) + "\n"


def _fg_text(model: IsingModel) -> str:
    unary = _unary_factors(model, all_isolated=True)  # every spin appears, so N and the labels survive
    out = [
        "# isingvar model as a libDAI factor graph: variable label k is spin k, s = 2x - 1",
        f"# psi = exp(J_ij s_i s_j) per coupling, exp(h_i s_i) per field, beta = 1; {_CONVENTION}",
        str(unary.size + model.n_edges),
    ]
    for i in unary.tolist():
        h = float(model.fields[i])
        out.append(f"\n1\n{i}\n2\n2\n0 {_r(math.exp(-h))}\n1 {_r(math.exp(h))}")
    for i, j, J in zip(model.edge_i.tolist(), model.edge_j.tolist(), model.couplings.tolist(), strict=True):
        same, diff = _pair_table(J)  # first variable fastest: index = x_i + 2 x_j
        out.append(f"\n2\n{i} {j}\n2 2\n4\n0 {same}\n1 {diff}\n2 {diff}\n3 {same}")
    return "\n".join(out) + "\n"
