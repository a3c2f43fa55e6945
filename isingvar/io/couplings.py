"""Model files: read an Ising model from, and write one to, files other tools use.

isingvar's convention (see :mod:`isingvar.model`): spins s_i in {-1, +1},

    E(s) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i,      k_B = 1,

so an instance's weight at inverse temperature beta is exp(-beta E(s)).

Formats (:data:`FORMATS`; chosen by extension unless given explicitly):

``uai`` (``.uai``)
    UAI inference-competition MARKOV network: potentials psi >= 0 over 0/1
    variables, last variable of a factor's scope changes fastest.
``fg`` (``.fg``)
    libDAI factor graph: potentials over 0/1 variables, first variable of a
    factor changes fastest, only the nonzero entries listed.
``npz`` (``.npz``)
    NumPy archive with ``J`` (N x N, symmetric, zero diagonal) and optional ``h`` (N,).
``npy`` (``.npy``)
    A single N x N symmetric coupling matrix, no fields.
``edges`` (any other extension)
    Text edge list, ``i j J_ij`` and ``i h_i`` lines.

The couplings and fields of ``npz``, ``npy`` and ``edges`` files are isingvar's
J_ij and h_i as they stand.  ``uai`` and ``fg`` files hold potentials; they are
converted at beta = 1 with s = 2x - 1, which leaves an additive constant:

    ln Z_file = ln sum_x prod_factors psi(x) = ln Z_ising(beta = 1) + lnZ_offset.

For a pairwise factor with t_ab = ln psi(x_i = a, x_j = b) (exact, by
substituting x = (1 + s)/2 and comparing the four states)::

    J_ij  += (t00 + t11 - t01 - t10) / 4
    h_i   += (t10 + t11 - t00 - t01) / 4
    h_j   += (t01 + t11 - t00 - t10) / 4
    offset += (t00 + t01 + t10 + t11) / 4

and for a unary factor with t_a = ln psi(x_i = a): h_i += (t1 - t0)/2, offset
+= (t0 + t1)/2.  Several factors on one pair (or one spin) multiply, so their
terms add up; a pair's J is kept even where it sums to 0, so the model has one
edge per pair the file couples.  A factor of order 0 (a constant) only adds its
log to the offset.

The writers (:func:`write_model_file`) do the inverse at beta = 1 with no
constant: psi(x_i, x_j) = exp(J_ij s_i s_j) per coupling and psi(x_i) =
exp(h_i s_i) per nonzero field, so reading a written file back gives the same
J and h and an ``lnZ_offset`` of 0 up to rounding.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CouplingsFileError, ModelError
from ..model import IsingModel, check_energy_range, check_size_limits

#: The formats :func:`read_model_file` and :func:`write_model_file` know.
FORMATS = ("uai", "fg", "npz", "npy", "edges")

_EXTENSIONS = {".uai": "uai", ".fg": "fg", ".npz": "npz", ".npy": "npy"}

#: Largest |J| or |h| the uai and fg writers accept: exp(+-700) is a normal float64.
_MAX_EXPONENT = 700.0

#: Convention line written at the top of edge lists and .fg files.
_CONVENTION = "E(s) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i, s_i in {-1,+1}, k_B = 1"


@dataclass(frozen=True)
class ModelFile:
    """A model read from a file, with what a result needs to cite it.

    Attributes
    ----------
    model : IsingModel
        The Ising model (isingvar's convention, beta = 1 for potential formats).
    lnZ_offset : float
        ``ln Z_file = lnZ_ising(beta = 1) + lnZ_offset`` where Z_file is the
        file's own partition function (sum over states of the product of its
        potentials).  0.0 for npz, npy and edges files.
    format : str
        One of :data:`FORMATS`.
    sha256 : str
        Hex SHA-256 of the file's bytes (the bytes that were parsed).
    path : str
        The file's absolute path.
    """

    model: IsingModel
    lnZ_offset: float
    format: str
    sha256: str
    path: str


# ---------------------------------------------------------------------------- dispatch
def format_of(path, format: str | None = None) -> str:
    """The format of ``path``: ``format`` if given, else from the extension.

    ``None`` or ``"auto"`` choose by extension: ``.uai``, ``.fg``, ``.npz``,
    ``.npy`` (case-insensitive), anything else ``"edges"``.

    Raises
    ------
    CouplingsFileError
        If ``format`` is not ``"auto"`` or one of :data:`FORMATS`.
    """
    if format is None or format == "auto":
        return _EXTENSIONS.get(Path(path).suffix.lower(), "edges")
    if format in FORMATS:
        return format
    raise CouplingsFileError(
        f"{path}: unknown format {format!r}; choose one of auto, {', '.join(FORMATS)}"
    )


def read_model_file(path, format: str | None = None) -> ModelFile:
    """Read a model file; ``format`` as in :func:`format_of`.

    Raises
    ------
    CouplingsFileError
        If the format is unknown, the file is missing, unreadable or malformed,
        declares more spins or couplings than :func:`isingvar.model.check_size_limits`
        allows or than it holds (checked before the arrays are made), or its
        couplings are not a valid model or too large
        (:func:`isingvar.model.check_energy_range` at beta = 1).  The message is
        one line naming the file, and ``file:line:`` where a line applies.
    """
    fmt = format_of(path, format)
    path = Path(path)
    if not path.is_file():
        raise CouplingsFileError(f"couplings file {str(path)!r} does not exist; check --couplings")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CouplingsFileError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        model, offset = _READERS[fmt](path, data)
        check_energy_range(model)
    except ModelError as err:
        raise CouplingsFileError(f"{path}: {err}") from None
    return ModelFile(model, float(offset), fmt, hashlib.sha256(data).hexdigest(), str(path.resolve()))


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def read_model_file_cached(path, format: str | None = None) -> ModelFile:
    """:func:`read_model_file`, read once per file version.

    Keyed by the resolved path, size, modification time (ns) and format; the
    last 8 files are kept.  A sweep asks for the file's model several times (N,
    time estimate, each sample); the model's arrays are read-only, so sharing
    one is safe.
    """
    fmt = format_of(path, format)
    try:
        st = os.stat(path)
        key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, fmt)
    except OSError:
        return read_model_file(path, fmt)  # raises the missing-file error
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    result = read_model_file(path, fmt)
    try:
        st2 = os.stat(path)
    except OSError:
        return result
    if (st2.st_size, st2.st_mtime_ns) == key[1:3]:  # not changed while reading
        with _CACHE_LOCK:
            _CACHE[key] = result
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return result


def write_model_file(model: IsingModel, path, format: str | None = None) -> str:
    """Write ``model`` to ``path``; returns the format written.

    ``format`` as in :func:`format_of`.  ``npz``: ``J`` (N x N) and ``h``;
    ``npy``: J only, so only for a model without fields; ``edges``: text with a
    header stating the convention, values written with ``repr`` (reading back is
    exact); ``uai`` and ``fg``: psi(x_i, x_j) = exp(J_ij s_i s_j) per coupling
    and psi(x_i) = exp(h_i s_i) per nonzero field, s = 2x - 1, so the file's
    ln Z is the model's ln Z at beta = 1.  The file is written in place (write
    to a temporary name and rename for atomicity).

    Raises
    ------
    CouplingsFileError
        For an unknown format, fields in ``npy``, a model too large for a dense
        matrix (npz, npy), or |J| or |h| above 700 in uai or fg (exp would not
        be a normal float64).
    """
    fmt = format_of(path, format)
    path = Path(path)
    if fmt in ("npz", "npy"):
        if fmt == "npy" and np.any(model.fields != 0):
            raise CouplingsFileError(
                f"{path}: an .npy file holds only the coupling matrix J, no fields, and this model has "
                "nonzero fields; write npz, edges, uai or fg instead"
            )
        try:
            J = model.dense()
        except ModelError as err:
            raise CouplingsFileError(f"{path}: {err}; write edges, uai or fg instead") from None
        with open(path, "wb") as fh:  # a file object: np.savez would append .npz to a name
            if fmt == "npz":
                np.savez(fh, J=J, h=np.asarray(model.fields))
            else:
                np.save(fh, J)
        return fmt
    if fmt in ("uai", "fg"):
        _check_exponents(model, path)
    text = {"edges": _edge_list_text, "uai": _uai_text, "fg": _fg_text}[fmt](model)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return fmt


# ---------------------------------------------------------------------------- tokens
def plain_numbers(text: str) -> bool:
    """Whether ``text`` is ASCII without '_', so that int() and float() read its numbers strictly.

    Python's int() and float() take '1_0' as 10 and non-ASCII digits ('\u0663' as 3);
    without those they accept only what files write: optional sign, ASCII digits,
    a point and an exponent (float also inf and nan, which the readers refuse
    as not finite).  One string scan instead of a pattern per token.
    """
    return text.isascii() and "_" not in text


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
    variable i (same numbering); converted as in the module docstring, so
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
    the module docstring: ln Z_file = lnZ_ising(beta = 1) + lnZ_offset.  A
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


def _read_npz(path: Path, data: bytes):
    """Read a NumPy ``.npz`` archive.

    Source: NumPy's ``.npz`` format (``numpy.savez``).  ``J``: float (N, N),
    symmetric, zero diagonal; optional ``h``: float (N,); row/column k is spin
    k.  Sign convention: isingvar's own, E = -sum_{i<j} J_ij s_i s_j -
    sum_i h_i s_i; the values are used as they stand (offset 0).
    """
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise CouplingsFileError(f"{path}: this is an .npy array, not an .npz archive; use --format npy")
        with z:
            if "J" not in z.files:
                raise CouplingsFileError(f"{path}: no array 'J' in the .npz (found: {', '.join(z.files) or 'none'})")
            n = _check_npy_header(path, z.zip, "J")
            if "h" in z.files:
                _check_npy_header(path, z.zip, "h", n)
            J = np.asarray(z["J"])
            h = np.asarray(z["h"]) if "h" in z.files else None
    except CouplingsFileError:
        raise
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as err:
        raise CouplingsFileError(f"{path}: not a readable .npz archive ({err})") from None
    if not (_numeric(J) and (h is None or _numeric(h))):
        raise CouplingsFileError(f"{path}: J and h must be real numeric arrays")
    return IsingModel.from_dense(J, h), 0.0


def _read_npy(path: Path, data: bytes):
    """Read a NumPy ``.npy`` array: the N x N coupling matrix J, no fields.

    Source: NumPy's ``.npy`` format (``numpy.save``).  Symmetric, zero
    diagonal; row/column k is spin k.  Sign convention: isingvar's own,
    E = -sum_{i<j} J_ij s_i s_j; the values are used as they stand (offset 0).
    """
    try:
        if data[:6] == np.lib.format.MAGIC_PREFIX:
            _check_npy_header(path, None, "J", data=data)
        J = np.load(io.BytesIO(data), allow_pickle=False)
    except CouplingsFileError:
        raise
    except (ValueError, EOFError, OSError) as err:
        raise CouplingsFileError(f"{path}: not a readable .npy array ({err})") from None
    if isinstance(J, np.lib.npyio.NpzFile):
        J.close()
        raise CouplingsFileError(f"{path}: this is an .npz archive, not an .npy array; use --format npz")
    if not _numeric(J):
        raise CouplingsFileError(f"{path}: J must be a real numeric array, got dtype {J.dtype}")
    return IsingModel.from_dense(J), 0.0


def _check_npy_header(path, archive, name, n=None, data=None) -> int:
    """Check the shape an .npy header declares before the array is made; return N.

    ``J`` must be N x N within :func:`isingvar.model.check_size_limits` (N(N-1)/2
    possible pairs), ``h`` of shape (``n``,); and the data the header declares
    must fit in the bytes that follow it (an 80-byte header can declare
    10^10 values).  ``archive`` is the .npz's ZipFile (member ``name.npy``) or
    None with ``data``, the bytes of an .npy file.

    Raises
    ------
    CouplingsFileError
        For a shape that is wrong, too large, or larger than the file.
    ValueError
        For a header numpy cannot read (the caller reports it).
    """
    fmt = np.lib.format
    if archive is None:
        fh, size = io.BytesIO(data), len(data)
    else:
        info = archive.getinfo(f"{name}.npy" if f"{name}.npy" in archive.namelist() else name)
        fh, size = archive.open(info), info.file_size
    with fh:
        version = fmt.read_magic(fh)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(fh)
        header = fh.tell()
    values = math.prod(shape)
    if name == "J":
        if len(shape) != 2 or shape[0] != shape[1]:
            raise CouplingsFileError(f"{path}: the coupling matrix must be square N x N, got shape {shape}")
        try:
            check_size_limits(shape[0], shape[0] * (shape[0] - 1) // 2)
        except ModelError as err:
            raise CouplingsFileError(f"{path}: a {shape[0]} x {shape[0]} coupling matrix: {err}") from None
    elif shape != (n,):
        raise CouplingsFileError(f"{path}: h must have shape ({n},) to match J, got {shape}")
    if values * dtype.itemsize > size - header:
        raise CouplingsFileError(
            f"{path}: {name} declares shape {shape} ({values * dtype.itemsize} bytes of {dtype}) but the file holds "
            f"only {size - header} bytes of data; it is truncated or damaged"
        )
    return shape[0]


def _numeric(a):
    return np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating) or a.dtype == np.bool_


def _read_edge_list(path: Path, data: bytes):
    """Read a text edge list (any extension other than the formats above).

    isingvar's own format.  One entry per line, 0-based spin indices,
    whitespace-separated::

        i j J_ij     a coupling (each unordered pair at most once)
        i h_i        a field

    ``#`` starts a comment; blank lines are ignored.  N is the largest index +
    1.  Sign convention: isingvar's own, E = -sum_{i<j} J_ij s_i s_j - sum_i
    h_i s_i; the values are used as they stand (offset 0).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CouplingsFileError(f"{path}: not a text edge list (use .npz for NumPy archives)") from None
    edges, fields = [], {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        entry = raw.split("#", 1)[0]
        line = entry.split()
        if not line:
            continue
        where = f"{path}:{lineno}"
        if len(line) not in (2, 3):
            raise CouplingsFileError(f"{where}: expected 'i j J_ij' or 'i h_i', got {raw.strip()!r}")
        try:
            if not plain_numbers(entry):
                raise ValueError
            idx = [int(t) for t in line[:-1]]
            value = float(line[-1])
        except ValueError:
            raise CouplingsFileError(
                f"{where}: indices must be integers and values numbers (ASCII digits, no '_'): {raw.strip()!r}"
            ) from None
        if min(idx) < 0:
            raise CouplingsFileError(f"{where}: spin indices start at 0, got {min(idx)}")
        if not np.isfinite(value):
            raise CouplingsFileError(f"{where}: value {line[-1]} is not finite")
        if len(idx) == 1:
            if idx[0] in fields:
                raise CouplingsFileError(
                    f"{where}: field of spin {idx[0]} given twice (first on line {fields[idx[0]][1]})"
                )
            fields[idx[0]] = (value, lineno)
        else:
            if idx[0] == idx[1]:
                raise CouplingsFileError(f"{where}: self-coupling {idx[0]} {idx[0]} is not allowed")
            edges.append((idx[0], idx[1], value, lineno))
    if not edges and not fields:
        raise CouplingsFileError(f"{path}: no couplings or fields found")
    n = 1 + max([max(e[0], e[1]) for e in edges] + list(fields))
    try:  # N is the largest index + 1: one line can name spin 10^12
        check_size_limits(n, len(edges))
    except ModelError as err:
        raise CouplingsFileError(f"{path}: {err}; N is the largest spin index + 1") from None
    seen = {}
    for i, j, _, lineno in edges:
        key = (min(i, j), max(i, j))
        if key in seen:
            raise CouplingsFileError(
                f"{path}:{lineno}: pair {key[0]} {key[1]} already given on line {seen[key]}; list each pair once"
            )
        seen[key] = lineno
    h = np.zeros(n)
    for i, (v, _) in fields.items():
        h[i] = v
    e = np.array([(i, j) for i, j, _, _ in edges], dtype=np.int64).reshape(-1, 2)
    J = np.array([v for _, _, v, _ in edges], dtype=np.float64)
    return IsingModel(n, e[:, 0], e[:, 1], J, h), 0.0


_READERS = {"uai": _read_uai, "fg": _read_fg, "npz": _read_npz, "npy": _read_npy, "edges": _read_edge_list}


# ---------------------------------------------------------------------------- writers
def _r(x) -> str:
    return repr(float(x))  # shortest string that reads back to the same float64


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


def _edge_list_text(model: IsingModel) -> str:
    fields = set(np.flatnonzero(model.fields != 0).tolist())
    if model.n - 1 not in fields and not (model.n_edges and model.edge_j.max() == model.n - 1):
        fields.add(model.n - 1)  # so that reading back gives the same N
    out = [
        f"# isingvar edge list: N = {model.n}, {model.n_edges} couplings, {len(fields)} field lines",
        f"# {_CONVENTION}",
        "# 'i j J_ij' is a coupling, 'i h_i' a field; spins are numbered 0..N-1",
    ]
    out.extend(f"{i} {j} {_r(J)}" for i, j, J in zip(model.edge_i.tolist(), model.edge_j.tolist(),
                                                     model.couplings.tolist(), strict=True))
    out.extend(f"{i} {_r(model.fields[i])}" for i in sorted(fields))
    return "\n".join(out) + "\n"


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
