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

This module chooses the format and caches what was read; the readers and writers are
:mod:`isingvar.io.potential_files` (``uai``, ``fg``: potentials, converted) and
:mod:`isingvar.io.coupling_files` (``npz``, ``npy``, ``edges``: J and h as they stand).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CouplingsFileError, ModelError
from ..model import IsingModel, check_energy_range
from .coupling_files import _edge_list_text, _read_edge_list, _read_npy, _read_npz, plain_numbers
from .potential_files import _check_exponents, _fg_text, _read_fg, _read_uai, _uai_text

#: The formats :func:`read_model_file` and :func:`write_model_file` know.
FORMATS = ("uai", "fg", "npz", "npy", "edges")

_EXTENSIONS = {".uai": "uai", ".fg": "fg", ".npz": "npz", ".npy": "npy"}

_READERS = {"uai": _read_uai, "fg": _read_fg, "npz": _read_npz, "npy": _read_npy, "edges": _read_edge_list}

__all__ = ["FORMATS", "ModelFile", "format_of", "plain_numbers", "read_model_file", "read_model_file_cached",
           "write_model_file"]


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

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    format : str or None
        ``"auto"``, one of :data:`FORMATS`, or None (``"auto"``).

    Returns
    -------
    str
        One of :data:`FORMATS`.

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

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    format : str or None
        As in :func:`format_of`.

    Returns
    -------
    ModelFile
        The model, its ``lnZ_offset``, format, SHA-256 and resolved path.

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

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    format : str or None
        As in :func:`format_of`.

    Returns
    -------
    ModelFile
        Shared with other callers: not to be changed.

    Raises
    ------
    CouplingsFileError
        As :func:`read_model_file`.
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

    Parameters
    ----------
    model : IsingModel
        The model.
    path : str or os.PathLike
        The file to write.
    format : str or None
        As in :func:`format_of`.

    Returns
    -------
    str
        The format written.

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
