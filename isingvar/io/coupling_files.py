"""Model files that hold isingvar's J and h as they stand (offset 0): NumPy ``.npz`` and ``.npy``, and
the text edge list; and what the text readers share (:func:`plain_numbers`).

Read and written through :mod:`isingvar.io.couplings` (the format is chosen there); the sign
convention is isingvar's own, E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np

from ..errors import CouplingsFileError, ModelError
from ..model import IsingModel, check_size_limits

#: Convention line written at the top of edge lists and .fg files.
_CONVENTION = "E(s) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i, s_i in {-1,+1}, k_B = 1"


def plain_numbers(text: str) -> bool:
    """Whether ``text`` is ASCII without '_', so that int() and float() read its numbers strictly.

    Python's int() and float() take '1_0' as 10 and non-ASCII digits ('\u0663' as 3);
    without those they accept only what files write: optional sign, ASCII digits,
    a point and an exponent (float also inf and nan, which the readers refuse
    as not finite).  One string scan instead of a pattern per token.

    Parameters
    ----------
    text : str
        A file's text, or one token of it.

    Returns
    -------
    bool
        True where int() and float() read it strictly.
    """
    return text.isascii() and "_" not in text


def _r(x) -> str:
    return repr(float(x))  # shortest string that reads back to the same float64


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
    """Read a text edge list (any extension other than .uai, .fg, .npz and .npy).

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
