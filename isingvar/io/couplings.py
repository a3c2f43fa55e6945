"""Readers for coupling files.

Formats (chosen by extension):

``.npz``
    NumPy archive with ``J``: float (N, N), symmetric, zero diagonal, and
    optionally ``h``: float (N,).  Same sign convention as isingvar:
    E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i.

anything else: a text edge list
    One entry per line, 0-based spin indices, whitespace-separated::

        i j J_ij     a coupling (each unordered pair at most once)
        i h_i        a field

    ``#`` starts a comment; blank lines are ignored.  N is the largest index + 1.
    Values are used as they are.
"""

from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import CouplingsFileError, ModelError
from ..model import IsingModel


def read_couplings(path) -> IsingModel:
    """Read an :class:`IsingModel` from ``path`` (format from the extension).

    Raises
    ------
    CouplingsFileError
        If the file is missing, unreadable or malformed, or its couplings are
        not a valid model (asymmetric, non-square, NaN/inf, ...); the message
        names the file (and the line, for text files).
    """
    path = Path(path)
    if not path.is_file():
        raise CouplingsFileError(f"couplings file {str(path)!r} does not exist; check --couplings")
    try:
        if path.suffix == ".npz":
            return _read_npz(path)
        return _read_edge_list(path)
    except ModelError as err:
        raise CouplingsFileError(f"{path}: {err}") from None
    except OSError as err:
        raise CouplingsFileError(f"{path}: cannot read: {err.strerror or err}") from None


def read_couplings_cached(path) -> IsingModel:
    """:func:`read_couplings`, read once per file version (path, size, mtime).

    A sweep asks for the file's model several times (N, time estimate, each
    sample); the model's arrays are read-only, so sharing one is safe.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return read_couplings(path)  # raises the missing-file error
    return _read_cached(path.resolve(), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=8)
def _read_cached(path, size, mtime_ns):
    return read_couplings(path)


def _read_npz(path: Path) -> IsingModel:
    try:
        with np.load(path, allow_pickle=False) as z:
            if "J" not in z.files:
                raise CouplingsFileError(f"{path}: no array 'J' in the .npz (found: {', '.join(z.files) or 'none'})")
            J = np.asarray(z["J"])
            h = np.asarray(z["h"]) if "h" in z.files else None
    except (zipfile.BadZipFile, ValueError, EOFError) as err:
        raise CouplingsFileError(f"{path}: not a readable .npz archive ({err})") from None
    if not (np.issubdtype(J.dtype, np.number) and (h is None or np.issubdtype(h.dtype, np.number))):
        raise CouplingsFileError(f"{path}: J and h must be numeric arrays")
    return IsingModel.from_dense(J, h)


def _read_edge_list(path: Path) -> IsingModel:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise CouplingsFileError(f"{path}: not a text edge list (use .npz for NumPy archives)") from None
    edges, fields = [], {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].split()
        if not line:
            continue
        where = f"{path}:{lineno}"
        if len(line) not in (2, 3):
            raise CouplingsFileError(f"{where}: expected 'i j J_ij' or 'i h_i', got {raw.strip()!r}")
        try:
            idx = [int(t) for t in line[:-1]]
            value = float(line[-1])
        except ValueError:
            raise CouplingsFileError(f"{where}: indices must be integers and values numbers: {raw.strip()!r}") from None
        if min(idx) < 0:
            raise CouplingsFileError(f"{where}: spin indices start at 0, got {min(idx)}")
        if not np.isfinite(value):
            raise CouplingsFileError(f"{where}: value {line[-1]} is not finite")
        if len(idx) == 1:
            if idx[0] in fields:
                raise CouplingsFileError(f"{where}: field of spin {idx[0]} given twice")
            fields[idx[0]] = value
        else:
            if idx[0] == idx[1]:
                raise CouplingsFileError(f"{where}: self-coupling {idx[0]} {idx[0]} is not allowed")
            edges.append((idx[0], idx[1], value, lineno))
    if not edges and not fields:
        raise CouplingsFileError(f"{path}: no couplings or fields found")
    n = 1 + max([max(e[0], e[1]) for e in edges] + list(fields))
    seen = {}
    for i, j, _, lineno in edges:
        key = (min(i, j), max(i, j))
        if key in seen:
            raise CouplingsFileError(
                f"{path}:{lineno}: pair {key[0]} {key[1]} already given on line {seen[key]}; list each pair once"
            )
        seen[key] = lineno
    h = np.zeros(n)
    for i, v in fields.items():
        h[i] = v
    e = np.array([(i, j) for i, j, _, _ in edges], dtype=np.int64).reshape(-1, 2)
    J = np.array([v for _, _, v, _ in edges], dtype=np.float64)
    return IsingModel(n, e[:, 0], e[:, 1], J, h)
