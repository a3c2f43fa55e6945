"""The HDF5 result file: one sweep, every variable in the root group.

Layout (schema version :data:`SCHEMA_VERSION`): coordinates ``sample``, ``J``,
``h``, ``beta``, ``site`` and ``edge`` are 1-D datasets made HDF5 dimension
scales and attached to every variable that uses them, so that
``xarray.open_dataset(path, engine="h5netcdf")`` returns labelled coordinates.
Each variable is described in :data:`VARIABLES`; NaN (or the ``_FillValue`` of
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
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OutputExistsError, ResultFileError

SCHEMA_VERSION = "2"

_GRID = ("sample", "J", "h", "beta")
_INST = ("sample", "J", "h")


@dataclass(frozen=True)
class Variable:
    """Schema entry of one variable."""

    dims: tuple
    dtype: str
    units: str
    long_name: str
    method: str | None = None  # the method that fills it; None: always written
    fill: int | None = None  # _FillValue for integer variables


VARIABLES: dict[str, Variable] = {
    "lnZ_exact": Variable(_GRID, "f8", "nat", "log partition function ln Z (total), exact enumeration", "exact"),
    "f_exact": Variable(_GRID, "f8", "energy per spin", "free energy per spin -ln Z/(beta N), exact; -inf at beta = 0", "exact"),
    "u_exact": Variable(_GRID, "f8", "energy per spin", "internal energy per spin <E>/N, exact", "exact"),
    "s_exact": Variable(_GRID, "f8", "nat per spin", "entropy per spin (ln Z + beta U)/N, exact", "exact"),
    "c_exact": Variable(_GRID, "f8", "k_B per spin", "heat capacity per spin beta^2 Var(E)/N, exact", "exact"),
    "m_exact": Variable(_GRID, "f8", "1", "magnetisation per spin <sum_i s_i>/N, exact", "exact"),
    "m2_exact": Variable(_GRID, "f8", "1", "second moment <m^2> of m = sum_i s_i/N, exact", "exact"),
    "absm_exact": Variable(_GRID, "f8", "1", "mean absolute magnetisation <|m|>, exact", "exact"),
    "chi_exact": Variable(_GRID, "f8", "1/energy", "susceptibility beta N (<m^2> - <m>^2), exact", "exact"),
    "lnZ_model_exact": Variable(_GRID, "f8", "nat", "ln Z of the model as given in its source file, lnZ_exact + lnZ_offset; only at beta = 1, J = 1, h = 0 of the file family", "exact"),
    "E0_exact": Variable(_INST, "f8", "energy", "ground-state energy (total), exact", "exact"),
    "m_exact_site": Variable(_GRID + ("site",), "f8", "1", "site magnetisations <s_i>, exact", "exact_site"),
    "exact_path": Variable(_INST, "i1", "1", "summation path of the exact enumeration (see flag_meanings)", "exact", fill=-1),
    "lnZ_mf_lower": Variable(_GRID, "f8", "nat", "naive mean-field lower bound on ln Z (<= lnZ_exact): S[Q] - beta <E>_Q", "mf"),
    "f_mf_upper": Variable(_GRID, "f8", "energy per spin", "naive mean-field upper bound on the free energy per spin (>= f_exact)", "mf"),
    "u_mf": Variable(_GRID, "f8", "energy per spin", "mean-field internal energy per spin <E>_Q/N (not a bound)", "mf"),
    "s_mf": Variable(_GRID, "f8", "nat per spin", "entropy per spin of the mean-field distribution Q (not a bound)", "mf"),
    "m_mf": Variable(_GRID, "f8", "1", "mean-field magnetisation per spin sum_i m_i/N", "mf"),
    "kl_mf": Variable(_GRID, "f8", "nat", "D_KL(Q_mf || P) = lnZ_exact - lnZ_mf_lower >= 0 (total)", "mf"),
    "mf_iterations": Variable(_GRID, "i4", "1", "sequential sweeps of the mean-field run that gave the bound", "mf", fill=-1),
    "mf_converged": Variable(_GRID, "i1", "1", "mean-field iteration converged (max |dm_i| < tol)", "mf", fill=-1),
    "m_mf_site": Variable(_GRID + ("site",), "f8", "1", "mean-field site magnetisations m_i", "mf_site"),
    "done": Variable(_INST, "i1", "1", "instance complete: all its values are written"),
    "edge_i": Variable(("sample", "edge"), "i8", "1", "first spin of each coupled pair (i < j)"),
    "edge_j": Variable(("sample", "edge"), "i8", "1", "second spin of each coupled pair"),
    "couplings": Variable(("sample", "edge"), "f8", "energy", "J_ij of each pair at unit J; the instance at coordinate J has J * couplings"),
    "fields": Variable(("sample", "site"), "f8", "energy", "h_i at h = 0; the instance at coordinate h has fields + h"),
}

COORDS = {
    "sample": ("i8", "1", "disorder sample index k (instance drawn from rng([seed, k]))"),
    "J": ("f8", "energy", "coupling scale: every J_ij is multiplied by J"),
    "h": ("f8", "energy", "uniform field added to every h_i"),
    "beta": ("f8", "1/energy", "inverse temperature beta = 1/T (k_B = 1)"),
    "site": ("i8", "1", "spin index i"),
    "edge": ("i8", "1", "index of a coupled pair"),
}


def open_new(*, coords: dict, attrs: dict, methods, sites: bool):
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
        The methods of the sweep ("exact", "mf"); variables of other methods
        are still created (all NaN) so that every file has one schema.
    sites : bool
        Create the per-site variables ``m_exact_site`` and ``m_mf_site``.

    Returns
    -------
    h5py.File
        Open for writing; the caller closes it.
    """
    import h5py

    f = h5py.File(f"isingvar-{os.getpid()}-{id(coords)}.h5", "w", driver="core", backing_store=False)
    _fill(f, coords, attrs, methods, sites)
    return f


def open_copy(path):
    """An in-memory, writable copy of the result file ``path`` (the file itself is not touched).

    Raises
    ------
    ResultFileError
        If ``path`` is missing, not HDF5, not an isingvar result file, or of
        another schema version.
    """
    import h5py

    _check_result_file(path)
    f = h5py.File(path, "r+", driver="core", backing_store=False)
    version = _attr(f, "schema_version")
    if version != SCHEMA_VERSION:
        f.close()
        raise ResultFileError(
            f"{path} has schema version {version}; this isingvar ({SCHEMA_VERSION}) cannot continue it, "
            "run the sweep again into a new file"
        )
    return f


def commit(f, path) -> float:
    """Write the in-memory file ``f`` to ``path`` atomically; return the seconds it took.

    The image goes to a temporary file beside ``path``, is flushed to disk
    (fsync) and renamed over ``path``, so ``path`` is at every instant either
    the previous commit or this one, each a complete HDF5 file.  SIGINT and
    SIGTERM are held until the commit is done.
    """
    from ..interrupt import deferred_interrupt

    t = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with deferred_interrupt():
        f.flush()
        try:
            with open(tmp, "wb") as out:
                out.write(f.id.get_file_image())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        _fsync_dir(path.parent)
    return time.perf_counter() - t


def _fsync_dir(folder):
    # make the rename itself durable; not every platform allows opening a folder
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_output(path, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` if ``path`` exists and may not be replaced."""
    path = Path(path)
    if path.is_dir():
        raise OutputExistsError(f"output {str(path)!r} is a directory; give a file name ending in .h5")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"output file {str(path)!r} exists; pass --overwrite to replace it or choose another --out")


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
    for name, var in VARIABLES.items():
        if var.method in ("mf_site", "exact_site") and not sites:
            continue
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
        if name == "done":
            ds.attrs["flag_values"] = np.array([0, 1], dtype="i1")
            ds.attrs["flag_meanings"] = "pending complete"
        elif name == "exact_path":
            ds.attrs["flag_values"] = np.array([0, 1, 2, 3], dtype="i1")
            ds.attrs["flag_meanings"] = "reference direct chain histogram"
        elif name == "mf_converged":
            ds.attrs["flag_values"] = np.array([0, 1], dtype="i1")
            ds.attrs["flag_meanings"] = "not_converged converged"
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


def write_instance(f, sample: int, model) -> None:
    """Store the couplings and fields of sample ``sample`` (unit J scale, h = 0)."""
    write_instances(f, sample, [model])


def write_instances(f, start: int, models) -> None:
    """Store the couplings and fields of samples ``start``, ``start + 1``, ... (``models``, unit J, h = 0)
    in one write per dataset: a write into a compressed dataset recompresses every chunk it touches,
    so sample-by-sample writes cost O(samples) each (a sweep of 20,000 samples spent minutes here)."""
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
    """Write many instances: ``items`` is a list of (index, values) as for :func:`write_point`; then
    set their ``done`` flags, after every value.

    One read and one write per variable of the samples the items span (a
    compressed chunk is recompressed once per call, not once per instance).
    """
    if not items:
        return
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


def write_point(f, index: tuple, values: dict) -> None:
    """Write ``values`` (variable name -> array over beta, or scalar) at ``index``
    = (sample, J index, h index)."""
    for name, value in values.items():
        f[name][index] = value


def mark_done(f, index: tuple) -> None:
    """Set the completion flag of instance ``index`` (written after its values)."""
    f["done"][index] = 1


def _attr(f, key, default=None):
    value = f.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else value


def read_summary(path) -> dict:
    """Read what ``isingvar show`` needs from a result file.

    Returns
    -------
    dict
        ``path``, ``attrs`` (root attributes, JSON decoded where possible), ``coords``
        (1-D arrays), ``done`` (sample, J, h) and, for each float variable on
        the (sample, J, h, beta) grid, its array.

    Raises
    ------
    ResultFileError
        If the file is missing or not an isingvar result file.
    """
    import h5py

    _check_result_file(path)
    with h5py.File(path, "r") as f:
        out = {
            "path": str(path),
            "attrs": read_attrs(f),
            "coords": {name: f[name][()] for name in COORDS if name in f},
            "done": f["done"][()],
        }
        for name, var in VARIABLES.items():
            if var.dims == _GRID and var.dtype == "f8" and name in f:
                out[name] = f[name][()]
        return out


def read_attrs(f) -> dict:
    """Root attributes of an open result file, JSON text decoded, numpy scalars as Python ones."""
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


def _check_result_file(path) -> None:
    """Raise :class:`ResultFileError` unless ``path`` is an isingvar result file."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"result file {str(path)!r} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise ResultFileError(f"{path} is not an HDF5 file (or is damaged)") from None
    with f:
        if "schema_version" not in f.attrs or "done" not in f:
            raise ResultFileError(f"{path} is an HDF5 file but not an isingvar result file")
