"""The HDF5 result file: one sweep, every variable in the root group.

Layout (schema version :data:`SCHEMA_VERSION`): coordinates ``sample``, ``J``,
``h``, ``beta``, ``site`` and ``edge`` are 1-D datasets made HDF5 dimension
scales and attached to every variable that uses them, so that
``xarray.open_dataset(path, engine="h5netcdf")`` returns labelled coordinates.
Each variable is described by :func:`schema`: :data:`VARIABLES` in every
file, and those the sweep's methods declare (:mod:`isingvar.methods`); NaN (or the ``_FillValue`` of
integer variables) marks a value not computed.  Datasets are compressed with
gzip + shuffle, which netCDF-C also reads.

Crash safety: a sweep keeps its file in memory (:func:`open_new`,
:func:`open_copy`) and :func:`commit` writes the whole image to a temporary
file, fsyncs it and renames it over the target.  The file on disk is thus
always a complete HDF5 file, either the previous commit or the new one, and a
``kill -9`` at any instant loses at most the work since the last commit.  (A
file open for writing with h5py does not survive a kill: its metadata may be
half-flushed.  SWMR would, but leaves a "file open for writing" flag that
makes HDF5 refuse to open the file normally until ``h5clear`` is run.)  The
cost is one write of the whole file per commit, which the sweep keeps to a
small fraction of its run time.

Every output (result, merged file, plot, exported model) is written by
:func:`isingvar.io.outputs.replace_atomically` while
:func:`isingvar.io.outputs.hold_output` holds an exclusive lock on a hidden
file beside it (:mod:`isingvar.io.outputs`); result files are read as
in-memory images, without HDF5's file lock.  The schema (coordinates,
variables, the non-finite values each allows) is :mod:`isingvar.io.schema`.
"""

from __future__ import annotations

import itertools
import json
import os
import stat
import time
from pathlib import Path

import numpy as np

from ..errors import NonFiniteResultError, ResultFileError

# the schema and the atomic outputs are their own modules; the names below are the store's API too
from .outputs import check_output, hold_output, replace_atomically, same_file, temp_path  # noqa: F401
from .schema import (  # noqa: F401
    _GRID,
    COORDS,
    DIMS,
    MODEL_FILE_FAMILY,
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    VARIABLES,
    Variable,
    _attr,
    _unexpected_nonfinite,
    allowed,
    file_methods,
    file_schema,
    is_model_file_sweep,
    needs_flags,
    schema,
)


def open_new(*, coords: dict, attrs: dict, methods, sites: bool, var_attrs: dict | None = None):
    """An in-memory result file with every coordinate and variable, values unset.

    The file lives in memory (HDF5 core driver) until :func:`commit` writes
    it to disk; see the module docstring for why.

    Parameters
    ----------
    coords : dict
        1-D arrays for each name in :data:`COORDS`.
    attrs : dict
        Root attributes; dicts and lists are stored as JSON text.
    methods : iterable of str
        The methods of the sweep (see :mod:`isingvar.methods`): the variables
        of :func:`schema` are created, those of other methods are not.
    sites : bool
        Create the methods' per-site variables.
    var_attrs : dict, optional
        variable name -> {attribute: value} added to those variables (settings such as ``ar``'s
        ``delta``: :attr:`isingvar.methods.base.Method.var_attrs`).

    Returns
    -------
    h5py.File
        Open for writing; the caller closes it.
    """
    import h5py

    f = h5py.File(f"isingvar-{os.getpid()}-{id(coords)}.h5", "w", driver="core", backing_store=False)
    _fill(f, coords, attrs, methods, sites)
    for name, extra in (var_attrs or {}).items():
        if name in f:
            f[name].attrs.update(extra)
    return f


def open_copy(path, *, any_version: bool = False):
    """An in-memory, writable copy of the result file ``path`` (the file itself is not touched).

    The file is read as bytes and opened as an HDF5 file image, so no HDF5
    file lock is requested: a reader holding ``path`` open (h5py, xarray) in
    this or another process never blocks a resume or a merge.

    With ``any_version`` (merge) a file of any of :data:`READABLE_VERSIONS` is
    opened; else (resume) only this version.

    Parameters
    ----------
    path : str or os.PathLike
        The result file.
    any_version : bool, default False
        Accept any readable schema version (merge), not only this one (resume).

    Returns
    -------
    h5py.File
        The writable in-memory copy; the caller closes it.

    Raises
    ------
    ResultFileError
        If ``path`` is missing, not a regular file, not HDF5, not an isingvar
        result file, of another schema version, or lacks a variable or has one
        of the wrong shape or type (the message names it).
    """
    f = _open_result(path, writable=True)
    try:
        version = _attr(f, "schema_version")
        if any_version:
            _check_version(f, path)
        elif version != SCHEMA_VERSION:
            raise ResultFileError(
                f"{path} has schema version {version}; this isingvar ({SCHEMA_VERSION}) cannot continue it, "
                "run the sweep again into a new file"
            )
        _check_layout(f, path, complete=True)
    except BaseException:
        f.close()
        raise
    return f


def open_result(path):
    """The result file ``path`` opened read-only from an in-memory image (no HDF5 file lock).

    Parameters
    ----------
    path : str or os.PathLike
        The result file.

    Returns
    -------
    h5py.File
        The read-only in-memory file; the caller closes it.

    Raises
    ------
    ResultFileError
        As :func:`open_copy` (a file of any of :data:`READABLE_VERSIONS`).
    """
    f = _open_result(path, writable=False)
    try:
        _check_version(f, path)
        _check_layout(f, path, complete=False)
    except BaseException:
        f.close()
        raise
    return f


_IMAGES = itertools.count()


def _open_result(path, writable: bool):
    import h5py

    path = Path(path)
    data = _read_bytes(path)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fapl_core(backing_store=False)
    fapl.set_file_image(data)
    # a name no real file has: HDF5 would take an open file of the same name for this one
    name = f"isingvar-image-{os.getpid()}-{next(_IMAGES)}".encode()
    try:
        fid = h5py.h5f.open(name, h5py.h5f.ACC_RDWR if writable else h5py.h5f.ACC_RDONLY, fapl=fapl)
    except (OSError, ValueError):
        raise ResultFileError(f"{path} is not an HDF5 file (or is truncated or damaged)") from None
    f = h5py.File(fid)
    if "schema_version" not in f.attrs or "done" not in f:
        f.close()
        raise ResultFileError(f"{path} is an HDF5 file but not an isingvar result file")
    return f


def _read_bytes(path: Path) -> bytes:
    """The bytes of the result file ``path``, or a one-line ResultFileError saying why not."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ResultFileError(f"result file {str(path)!r} does not exist") from None
    except OSError as e:
        raise ResultFileError(f"cannot read result file {str(path)!r}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ResultFileError(f"{str(path)!r} is a directory, not a result file; give the .h5 file in it")
    if not stat.S_ISREG(st.st_mode):  # a fifo would block the read
        raise ResultFileError(f"{str(path)!r} is not a regular file (a device, fifo or socket); give a result file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise ResultFileError(f"cannot read result file {str(path)!r}: {e.strerror}") from None


def _check_version(f, path) -> None:
    version = str(_attr(f, "schema_version"))
    if version not in READABLE_VERSIONS:
        raise ResultFileError(
            f"{path} has schema version {version}; this isingvar reads versions {', '.join(READABLE_VERSIONS)}: "
            "open it with the isingvar that wrote it"
        )


def _check_layout(f, path, complete: bool) -> None:
    """Raise ResultFileError naming the first coordinate or variable that is missing or malformed.

    Every coordinate must be 1-D, ``done`` integer of shape (sample, J, h), and
    each variable of :func:`file_schema` in the file of its schema shape and
    kind; with ``complete`` every variable the sweep writes must be present.
    """
    sizes = {}
    for name in COORDS:
        if name not in f or not hasattr(f[name], "shape"):
            raise ResultFileError(f"{path} lacks the coordinate {name!r}; it is damaged or was edited: run the sweep again")
        if len(f[name].shape) != 1:
            raise ResultFileError(f"{path}: coordinate {name!r} has shape {f[name].shape}, expected 1-D")
        sizes[name] = f[name].shape[0]
    for name, var in file_schema(f).items():
        if name not in f or not hasattr(f[name], "shape"):
            if name == "done" or (complete and not var.per_site):  # --no-sites
                raise ResultFileError(f"{path} lacks the variable {name!r}; it is damaged or was edited: run the sweep again")
            continue
        ds = f[name]
        shape = tuple(sizes[d] for d in var.dims)
        if ds.shape != shape:
            raise ResultFileError(
                f"{path}: variable {name!r} has shape {ds.shape}, expected {shape} ({', '.join(var.dims)}); "
                "the file is damaged or was edited"
            )
        if ds.dtype.kind not in ("f" if var.dtype == "f8" else "iub"):
            raise ResultFileError(
                f"{path}: variable {name!r} has type {ds.dtype}, expected {np.dtype(var.dtype)}; "
                "the file is damaged or was edited"
            )


def commit(f, path) -> float:
    """Write the in-memory file ``f`` to ``path`` atomically; return the seconds it took.

    The image goes to a temporary file beside ``path``, is flushed to disk
    (fsync) and renamed over ``path``, so ``path`` is at every instant either
    the previous commit or this one, each a complete HDF5 file.  SIGINT and
    SIGTERM are held until the commit is done.  See :func:`replace_atomically`
    (locking, symbolic links, errors).

    Parameters
    ----------
    f : h5py.File
        The in-memory result file.
    path : str or os.PathLike
        Where it goes.

    Returns
    -------
    float
        Wall seconds of the commit.

    Raises
    ------
    OutputWriteError
        If the write fails (disk full, read-only or vanished file system); the
        previous commit is kept.
    OutputBusyError
        If another process holds ``path`` (see :func:`hold_output`).
    """
    from ..interrupt import deferred_interrupt

    t = time.perf_counter()
    with deferred_interrupt():
        f.flush()
        image = f.id.get_file_image()
        replace_atomically(path, lambda tmp: tmp.write_bytes(image))
    return time.perf_counter() - t


def _fill(f, coords, attrs, methods, sites):
    for key, value in attrs.items():
        f.attrs[key] = json.dumps(value) if isinstance(value, (dict, list, tuple)) else value
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["methods"] = ",".join(methods)
    for name, (dtype, units, long_name) in COORDS.items():
        ds = f.create_dataset(name, data=np.asarray(coords[name], dtype=dtype))
        ds.attrs["units"] = units
        ds.attrs["long_name"] = long_name
        ds.make_scale(name)
    sizes = {name: len(coords[name]) for name in COORDS}
    model_file = attrs.get("model_family") == MODEL_FILE_FAMILY
    for name, var in schema(methods, sites, model_file).items():
        shape = tuple(sizes[d] for d in var.dims)
        fill = var.fill if var.fill is not None else (np.nan if var.dtype == "f8" else 0)
        chunks = _chunks(shape, var.dtype)
        ds = f.create_dataset(
            name, shape=shape, dtype=var.dtype, fillvalue=fill,
            chunks=chunks, compression="gzip" if chunks else None, shuffle=bool(chunks),
        )
        ds.attrs["units"] = var.units
        ds.attrs["long_name"] = var.long_name
        if var.fill is not None or var.dtype == "f8":
            ds.attrs["_FillValue"] = np.array(fill, dtype=var.dtype)
        if var.flags:
            ds.attrs["flag_values"] = np.array(var.flags[0], dtype=var.dtype)
            ds.attrs["flag_meanings"] = var.flags[1]
        for k, dim in enumerate(var.dims):
            ds.dims[k].attach_scale(f[dim])


def _chunks(shape, dtype):
    """Chunk shape of about 1 MiB along the trailing axes; None for tiny datasets."""
    if int(np.prod(shape)) * np.dtype(dtype).itemsize < 64 * 1024:
        return None
    chunks = list(shape)
    budget = (1 << 20) // np.dtype(dtype).itemsize
    for k in range(len(chunks)):
        rest = int(np.prod(chunks[k + 1:])) if k + 1 < len(chunks) else 1
        if rest >= budget:
            chunks[k] = 1
        else:
            chunks[k] = max(1, min(chunks[k], budget // rest))
            break
    return tuple(max(1, c) for c in chunks)


def write_instances(f, start: int, models) -> None:
    """Store the couplings and fields of samples ``start``, ``start + 1``, ... in one write per dataset.

    A write into a compressed dataset recompresses every chunk it touches, so sample-by-sample writes
    cost O(samples) each (a sweep of 20,000 samples spent minutes here).

    Parameters
    ----------
    f : h5py.File
        The open, writable result file.
    start : int
        Sample index of ``models[0]``.
    models : sequence of IsingModel
        The samples at unit J, h = 0, each with the file's edge count.

    Raises
    ------
    ValueError
        If a sample's edge count differs from the file's.
    """
    if not models:
        return
    n_edges = f["edge"].shape[0]
    for k, model in enumerate(models):
        if model.n_edges != n_edges:
            raise ValueError(f"sample {start + k} has {model.n_edges} edges, the file {n_edges}")
    rows = slice(start, start + len(models))
    for name in ("edge_i", "edge_j", "couplings", "fields"):  # the model's attributes of those names
        f[name][rows] = np.stack([getattr(m, name) for m in models])


def write_points(f, items) -> None:
    """Write finished instances, then set their ``done`` flags, after every value.

    ``items`` is a list of (index, values): index = (sample, J index, h index),
    values = variable name -> array over beta (or scalar).  Every item is
    checked with :func:`check_values` before anything is written.  One read and
    one write per variable of the samples the items span: a write into a
    compressed dataset recompresses every chunk it touches, so instance-by-
    instance writes cost O(samples) each.

    Parameters
    ----------
    f : h5py.File
        The open, writable result file.
    items : list of tuple of (tuple of int, dict)
        The (index, values) of each finished instance.

    Raises
    ------
    NonFiniteResultError
        As :func:`check_values`; nothing is written.
    """
    if not items:
        return
    for index, values in items:
        check_values(f, index, values)
    ks = [index[0] for index, _ in items]
    rows = slice(min(ks), max(ks) + 1)
    for name in dict.fromkeys(name for _, values in items for name in values):
        block = f[name][rows]
        for (k, a, b), values in items:
            if name in values:
                block[k - rows.start, a, b] = values[name]
        f[name][rows] = block
    done = f["done"][rows]
    for (k, a, b), _ in items:
        done[k - rows.start, a, b] = 1
    f["done"][rows] = done


def check_values(f, index: tuple, values: dict) -> None:
    """Refuse a NaN or infinity in ``values`` of instance ``index`` where the file's schema does not allow it.

    ``values`` is variable name -> array over beta (or scalar) of instance
    ``index`` = (sample, J index, h index) of the open result file ``f``.  So a
    numerical failure is never stored, let alone marked done (:func:`allowed` decides).  A variable
    allowing ``Nonfinite.NAN_WHERE_FLAGGED`` may be NaN only where its method's
    ``<method>_status`` (in ``values``, else in the file) is not 0.

    Parameters
    ----------
    f : h5py.File
        The open result file.
    index : tuple of int
        (sample, J index, h index).
    values : dict
        Variable name -> array over beta (or scalar).

    Raises
    ------
    NonFiniteResultError
        Naming the variable, the instance and the first bad beta.
    """
    beta = None
    variables = None
    for name, value in values.items():
        value = np.asarray(value)
        if value.dtype.kind != "f" or np.isfinite(value).all():  # the usual case, checked fast
            continue
        beta = f["beta"][()] if beta is None else beta
        variables = file_schema(f) if variables is None else variables
        var = variables[name]
        flagged = None
        if needs_flags(var):
            status = f"{var.methods[0]}_status"
            if status in values or status in f:
                flagged = np.asarray(values[status] if status in values else f[status][index]) > 0
        bad = _unexpected_nonfinite(var, value, beta, flagged)
        if bad is not None:
            k, a, b = index
            at = f", beta = {f['beta'][bad[0]]:g}" if var.dims[:4] == _GRID and bad else ""
            raise NonFiniteResultError(
                f"numerical failure: {name} is {np.asarray(value)[bad]} at sample {k}, J = {f['J'][a]:g}, "
                f"h = {f['h'][b]:g}{at}; it was not stored (couplings or fields too large for float64?)"
            )


def read_done(f) -> np.ndarray:
    """The completion flags of an open result file as bool (sample, J, h), trusting only what is whole.

    An instance counts as done only if its ``done`` flag is set and every value
    the file's methods write there is stored: finite (or non-finite where
    the schema allows it) and, for integer variables, not the fill value.
    A file edited to mark NaN values done therefore has them recomputed by a
    resume, not reported as results.

    Parameters
    ----------
    f : h5py.File
        The open result file.

    Returns
    -------
    ndarray of bool, shape (sample, J, h)
        True where the instance is done.
    """
    done = f["done"][()].astype(bool)
    beta = f["beta"][()]
    for name, var in file_schema(f).items():
        if not done.any():
            break
        if not var.methods or name not in f:
            continue
        values = f[name][()]
        if var.dtype == "f8":
            status = f"{var.methods[0]}_status"
            flagged = f[status][()] > 0 if needs_flags(var) and status in f else None
            ok = allowed(var, values, beta, flagged)
        else:
            ok = values != var.fill
        done &= ok.reshape(done.shape + (-1,)).all(axis=-1)
    return done


def read_flagged(f) -> np.ndarray:
    """The instances of an open result file with a point some method flagged as not computed or withheld.

    Flagged: a ``<method>_status`` flag variable (:func:`isingvar.methods.base.status_var`) above 0.

    Parameters
    ----------
    f : h5py.File
        The open result file.

    Returns
    -------
    ndarray of bool, shape (sample, J, h)
        True where some point of the instance is flagged.
    """
    flagged = np.zeros(f["done"].shape, dtype=bool)
    for name, var in file_schema(f).items():
        if var.quantity == "status" and var.dtype != "f8" and name in f:
            values = f[name][()]
            flagged |= (values > 0).reshape(flagged.shape + (-1,)).any(axis=-1)
    return flagged



def read_summary(path) -> dict:
    """Read what ``isingvar show`` needs from a result file.

    Parameters
    ----------
    path : str or os.PathLike
        The result file.

    Returns
    -------
    dict
        ``path``, ``attrs`` (root attributes, JSON decoded where possible), ``coords``
        (1-D arrays), ``done`` (sample, J, h), for each float variable of the
        file's methods on the (sample, J, h, beta) grid its array, and
        ``schema``: those variables' :class:`Variable` entries (kind, quantity,
        units, ...); ``status``: name -> int8 array (sample, J, h, beta) of each
        ``<method>_status`` flag variable in the file, and ``var_attrs``: name ->
        the extra attributes of each variable that has them (``delta`` of a
        probabilistic bound).  A file of schema version 2 or 3 reads the same
        way (without ``status``).

    ``done`` is :func:`read_done`: an instance flagged done over missing or
    NaN values counts as not done.

    Raises
    ------
    ResultFileError
        If the file is missing or not an isingvar result file (see :func:`open_result`).
    """
    with open_result(path) as f:
        out = {
            "path": str(path),
            "attrs": read_attrs(f),
            "coords": {name: f[name][()] for name in COORDS if name in f},
            "done": read_done(f).astype(np.int8),
        }
        out["schema"], out["status"], out["var_attrs"] = {}, {}, {}
        for name, var in file_schema(f).items():
            if var.dims != _GRID or name not in f:
                continue
            if var.dtype == "f8":
                out[name] = f[name][()]
                out["schema"][name] = var
                if "delta" in f[name].attrs:
                    out["var_attrs"][name] = {"delta": float(f[name].attrs["delta"])}
            elif var.quantity == "status":
                out["status"][name] = f[name][()]
                out["schema"][name] = var
        return out


def read_attrs(f) -> dict:
    """Root attributes of an open result file, JSON text decoded, numpy scalars as Python ones.

    Parameters
    ----------
    f : h5py.File
        The open result file.

    Returns
    -------
    dict
        Attribute name -> value.
    """
    attrs = {}
    for key in f.attrs:
        value = _attr(f, key)
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        attrs[key] = value.item() if isinstance(value, np.generic) else value
    return attrs
