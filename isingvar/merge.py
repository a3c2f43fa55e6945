"""Join the shard files of one sweep into the file a single run would have written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .errors import ConfigMismatchError, ResultFileError


@dataclass(frozen=True)
class MergeSummary:
    """What :func:`merge_shards` did: ``missing`` lists the (k, a, b) instances no shard completed."""

    path: Path
    done: int
    total: int
    missing: list

    def to_dict(self) -> dict:
        """The summary as JSON-ready types (``merge --json``).

        Returns
        -------
        dict
            ``path`` (str), ``done`` and ``total`` (instances), ``missing`` (list of [k, a, b]).
        """
        return {"path": str(self.path), "done": self.done, "total": self.total,
                "missing": [list(m) for m in self.missing]}


def merge_shards(out, paths, *, overwrite: bool = False) -> MergeSummary:
    """Write ``out`` from shard files ``paths`` of one sweep.

    Every variable of the file on the (sample, J, h, ...) grid (whatever
    method wrote it, known to this isingvar or not) is taken, per instance,
    from the first shard that completed it; the coordinates, model instances
    and attributes come from the first shard, with ``shard`` cleared,
    ``elapsed_s`` summed, ``completed`` the latest shard's (only when every
    instance is done) and ``merged_from`` listing the inputs.  Instances that
    no shard completed stay not done and are returned in ``missing``; the
    merged file can be completed with ``isingvar sweep --resume``.

    An instance flagged done over NaN values (:func:`isingvar.io.store.read_done`)
    is taken as not done.  Shards of schema version 2 merge into a file of
    version 2 (the variables are the same).

    Parameters
    ----------
    out : path-like
        The merged file to write.
    paths : sequence of path-like
        The shard files, at least one, each once.
    overwrite : bool
        Replace an existing ``out``.

    Returns
    -------
    MergeSummary
        ``out``, the instances done in it and in all, and the (k, a, b) instances no shard completed.

    Raises
    ------
    OutputExistsError
        If ``out`` exists and ``overwrite`` is false.
    OutputPathError
        If ``out`` is one of the inputs (links followed) or not a regular file.
    OutputBusyError
        If another process is writing ``out`` (exit code 75).
    ResultFileError
        If no input is given, an input is given twice, or an input is missing,
        truncated or not an isingvar result file.
    ConfigMismatchError
        If the inputs were not made by one sweep configuration (their
        ``config_hash`` attributes differ).
    """
    from .io.outputs import check_output, hold_output, same_file

    out = Path(out)
    paths = [Path(p) for p in paths]
    if not paths:
        raise ResultFileError("merge needs at least one shard file")
    for k, p in enumerate(paths):
        for q in paths[:k]:
            if same_file(p, q):
                raise ResultFileError(f"{p} is given twice (also as {q}); give each shard file once")
    with hold_output(out):  # checked under the lock: no other run can create or replace it meanwhile
        check_output(out, overwrite, inputs=paths)
        return _merge(out, paths)


def _merge(out, paths) -> MergeSummary:
    from .io import store

    with store.open_copy(paths[0], any_version=True) as f:
        first = store.read_attrs(f)
        shape = f["done"].shape
        names = [name for name in f if name != "done" and name not in store.COORDS
                 and len(getattr(f[name], "shape", ())) >= 3 and f[name].shape[:3] == shape]
        done = store.read_done(f)
        elapsed, completed = float(first.get("elapsed_s", 0.0)), [first.get("completed")]
        for p in paths[1:]:
            with store.open_result(p) as g:
                attrs = store.read_attrs(g)
                if attrs.get("config_hash") != first.get("config_hash"):
                    raise ConfigMismatchError(
                        f"{p} belongs to another sweep than {paths[0]} (config_hash differs{_difference(first, attrs)}); "
                        "merge only the shards of one sweep"
                    )
                if str(attrs.get("schema_version")) != str(first.get("schema_version")):
                    raise ConfigMismatchError(f"{p} has schema version {attrs.get('schema_version')}, {paths[0]} "
                                              f"{first.get('schema_version')}; merge only the shards of one sweep")
                if g["done"].shape != done.shape:
                    raise ConfigMismatchError(f"{p} has a grid of {g['done'].shape} instances, {paths[0]} {done.shape}; "
                                              "merge only the shards of one sweep")
                take = store.read_done(g) & ~done
                for name in names:
                    if name not in g:
                        raise ResultFileError(f"{p} lacks the variable {name!r} that {paths[0]} has; "
                                              "merge only the shards of one sweep")
                    values = f[name][()]
                    values[take] = g[name][()][take]
                    f[name][...] = values
                done |= take
                elapsed += float(attrs.get("elapsed_s", 0.0))
                completed.append(attrs.get("completed"))
        f["done"][...] = done.astype(np.int8)
        f.attrs["shard"] = ""
        f.attrs["elapsed_s"] = elapsed
        f.attrs["merged_from"] = json.dumps([str(p) for p in paths])
        if done.all():
            f.attrs["completed"] = max((c for c in completed if c), default=datetime.now(UTC).isoformat(timespec="seconds"))
        elif "completed" in f.attrs:
            del f.attrs["completed"]
        store.commit(f, out)
    missing = [tuple(int(x) for x in idx) for idx in np.argwhere(~done)]
    return MergeSummary(out, int(done.sum()), done.size, missing)


def _difference(a: dict, b: dict) -> str:
    ca, cb = a.get("config") or {}, b.get("config") or {}
    keys = [k for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)]
    return f": {', '.join(keys)}" if keys else ""
