"""The run loop: one instance's values from every method, the result file made or resumed,
commits, interrupts."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .. import ENERGY_CONVENTION, __version__
from ..errors import ConfigMismatchError, SweepInterrupted, WorkerDied
from ..families import get_family, make_instance
from ..methods import derived_values, get_method, screen_estimates
from .config import SweepConfig, config_differences
from .grid import shard_instances, shard_text, task_groups
from .provenance import provenance


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep run reports."""

    path: Path
    shape: tuple
    n: int
    methods: tuple
    elapsed: float
    computed: int  # instances computed by this run
    done: int  # instances of this run's shard now complete in the file
    total: int  # instances of this run's shard

    def to_dict(self) -> dict:
        """The summary as JSON-ready types (``--json``).

        Returns
        -------
        dict
            ``path`` (str), ``shape`` (dict sample/J/h/beta -> length), ``n_spins``, ``methods`` (list),
            ``elapsed_s`` (seconds, rounded to ms), ``computed``, ``done`` and ``total`` (instances).
        """
        return {
            "path": str(self.path),
            "shape": dict(zip(("sample", "J", "h", "beta"), self.shape)),
            "n_spins": self.n,
            "methods": list(self.methods),
            "elapsed_s": round(self.elapsed, 3),
            "computed": self.computed,
            "done": self.done,
            "total": self.total,
        }


# ------------------------------------------------------------------ one instance
def progress_units(config: SweepConfig) -> float:
    """Progress units of one instance: the sum of its methods' ``progress_units``.

    Parameters
    ----------
    config : SweepConfig
        The sweep.

    Returns
    -------
    float
        The units of one instance.
    """
    return float(sum(get_method(name).progress_units(config.n, config.beta, config.method_settings(name))
                     for name in config.methods))


def method_seed(name: str) -> int:
    """The integer that keys method ``name``'s random stream: its name's bytes (``mf`` -> 0x6D66).

    Parameters
    ----------
    name : str
        The method's name.

    Returns
    -------
    int
        The name's UTF-8 bytes read as a big-endian integer.
    """
    return int.from_bytes(name.encode(), "big")


def compute_instance(config: SweepConfig, k: int, a: int, b: int, progress=None) -> dict:
    """Every value of instance (sample k, J index a, h index b): variable name -> array over beta or scalar.

    Every method of the sweep runs (its ``run``, :mod:`isingvar.methods`) in
    canonical order, then the derived variables
    (:func:`isingvar.methods.derived_values`) are added.  Deterministic: the
    instance is drawn from ``rng([seed, k])`` and method m's random stream is
    ``rng([seed, k, method_seed(m), a, b])`` (mean field: 0x6D66; m its
    ``stream`` where it names one: smf draws mean field's), so a single
    run, a shard, a resume and a worker process compute the same numbers.
    For a model file, a method's ``file_hook`` adds its values of the file's
    own model (the instance at beta = 1, J = 1, h = 0).  Estimates that are not
    trustworthy are withheld (NaN, the reason in ``<method>_status``:
    :func:`isingvar.methods.screen_estimates`) before the derived variables are added.

    Parameters
    ----------
    config : SweepConfig
        The sweep.
    k : int
        Sample index.
    a : int
        J index.
    b : int
        h index.
    progress : callable(step, label), optional
        Called in units of :func:`progress_units`.

    Returns
    -------
    dict
        Variable name -> array over beta or scalar.
    """
    model = make_instance(config.model, config.params, config.seed, k).scaled(config.J[a], config.h[b])
    label = f"sample {k} J={config.J[a]:g} h={config.h[b]:g}"
    values = {}
    for name in config.methods:
        method = get_method(name)
        rng = np.random.default_rng([config.seed, k, method_seed(method.stream or name), a, b])
        step = (lambda units, name=name: progress(units, f"{label} {name}")) if progress else None
        found = method.run(model, config.beta, config.method_settings(name), rng, sites=config.sites, progress=step)
        if config.source is not None and method.file_hook is not None:
            found |= method.file_hook(found, config.beta, float(config.J[a]), float(config.h[b]), config.source)
        values |= found
    values = screen_estimates(config.methods, values)
    return values | derived_values(config.methods, values)


def _compute_task(task, progress=None):
    """Pool entry point: (config, instances) -> [(instance, values), ...]."""
    config, instances = task
    return [(inst, compute_instance(config, *inst, progress=progress)) for inst in instances]


# ------------------------------------------------------------------ the run
#: A commit (one write of the whole file) may cost at most this fraction of the compute time since the last.
COMMIT_OVERHEAD = 0.05


#: Finished values held in memory before they are written and committed, whatever the time.
PENDING_BYTES = 64 << 20


#: Bytes of instances (couplings, fields) built before they are written to a new file in one block.
INSTANCE_BLOCK_BYTES = 32 << 20


def _new_file(config: SweepConfig, shard, command_line: str, check: Callable[[], None] = lambda: None):
    """The in-memory result file of a new sweep, every sample's instance stored.

    ``check()`` is called after each instance is built (it raises
    KeyboardInterrupt for a held signal); the file is closed if anything raises.
    """
    from ..io import store

    first = make_instance(config.model, config.params, config.seed, 0)
    coords = {
        "sample": np.arange(config.samples), "J": config.J, "h": config.h, "beta": config.beta,
        "site": np.arange(config.n), "edge": np.arange(first.n_edges),
    }
    attrs = {
        "title": f"isingvar sweep of {config.model} (N = {config.n})",
        "isingvar_version": __version__,
        "command_line": command_line,
        "model_family": config.model,
        "model_params": config.params,
        "model_energy": get_family(config.model).energy,
        "n_spins": config.n,
        "seed": config.seed,
        "energy_convention": ENERGY_CONVENTION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "config_toml": config.to_toml(),
        "config_hash": config.config_hash(),
        "shard": shard_text(shard),
        "elapsed_s": 0.0,
    }
    if config.source is not None:
        attrs |= {f"source_{k}": v for k, v in config.source.items() if k != "lnZ_offset"}
        attrs["lnZ_offset"] = config.source["lnZ_offset"]
    var_attrs = {}
    for name in config.methods:
        method = get_method(name)
        if method.var_attrs is not None:
            var_attrs |= method.var_attrs(config.method_settings(name))
    f = store.open_new(coords=coords, attrs=attrs, methods=config.methods, sites=config.sites, var_attrs=var_attrs)
    try:
        # every instance up front (shards and resumes store the same ones), written in blocks of samples
        block = _samples_per_block(f["edge_i"].chunks, 24 * first.n_edges + 8 * config.n, config.samples)
        models = []
        for k in range(config.samples):
            models.append(first if k == 0 else make_instance(config.model, config.params, config.seed, k))
            check()
            if len(models) == block or k == config.samples - 1:
                store.write_instances(f, k + 1 - len(models), models)
                models = []
    except BaseException:
        f.close()
        raise
    return f


def _samples_per_block(chunks, bytes_per_sample: int, samples: int) -> int:
    """Samples built per block write: at most :data:`INSTANCE_BLOCK_BYTES`, a multiple of the chunk rows when one fits."""
    block = max(1, min(samples, INSTANCE_BLOCK_BYTES // max(1, bytes_per_sample)))
    rows = chunks[0] if chunks else 1
    return block - block % rows if block >= rows else block


def check_resumable(attrs: dict, config: SweepConfig, shard, path) -> None:
    """Raise :class:`ConfigMismatchError` unless the file with root ``attrs`` is this sweep (and shard).

    Parameters
    ----------
    attrs : dict
        The file's root attributes.
    config : SweepConfig
        The sweep to resume.
    shard : tuple of (int, int) or None
        Its shard (i, n), None for the whole sweep.
    path : path-like
        The file, for the message.

    Raises
    ------
    ConfigMismatchError
        If the file was made by another configuration (by its ``config_hash``) or another shard.
    """
    if attrs.get("config_hash") != config.config_hash():
        diffs = config_differences(attrs.get("config") or {}, config)
        raise ConfigMismatchError(
            f"--resume: {path} was made by a different sweep ({'; '.join(diffs[:3]) or 'configuration hash differs'}); "
            "give the options it was made with (its config_toml attribute works as --config) or choose another --out"
        )
    if attrs.get("shard", "") != shard_text(shard):
        raise ConfigMismatchError(
            f"--resume: {path} is shard {attrs.get('shard') or 'none (the whole sweep)'}, this command runs "
            f"{shard_text(shard) or 'the whole sweep'}; give the same --shard"
        )


def _holding_output(run):
    """Run ``run(config, out, ...)`` holding ``out`` (:func:`isingvar.io.outputs.hold_output`) from the first read to the last commit."""
    import functools

    @functools.wraps(run)
    def holding(config, out, **kwargs):
        from ..io.outputs import hold_output

        with hold_output(out):
            return run(config, out, **kwargs)

    return holding


@_holding_output
def run_sweep(
    config: SweepConfig,
    out,
    *,
    overwrite: bool = False,
    resume: bool = False,
    retry_failed: bool = False,
    shard: tuple[int, int] | None = None,
    pool=None,
    command_line: str = "",
    progress: Callable[[int, int, str], None] | None = None,
) -> SweepSummary:
    """Run ``config`` (or shard ``shard`` of it) into the result file ``out``.

    The file is committed (see :mod:`isingvar.io.store`) when created and then
    after finished instances, at most :data:`COMMIT_OVERHEAD` of the run time
    apart, and at the end; each instance's values are written before its
    ``done`` flag, so a killed run leaves a readable file that ``resume``
    continues.  Finished instances are held in memory (at most
    :data:`PENDING_BYTES`) and written into the file in one block per
    variable at each commit, so that the cost per instance does not grow with
    the number of samples.

    Parameters
    ----------
    config : SweepConfig
        The sweep.
    out : path-like
        Result file.
    overwrite : bool
        Replace an existing ``out`` (at the first commit).
    resume : bool
        Continue ``out``: compute only the instances not done.  A missing
        ``out`` is started afresh, so one command serves a job and its requeue.
    retry_failed : bool
        With ``resume``, also compute again the done instances with a point
        flagged as not computed or withheld (a non-zero ``<method>_status``);
        without it such points are final, as ``done`` says.
    shard : (i, n), optional
        Compute only :func:`shard_instances` of shard i of n.
    pool : optional
        Runs instances in other processes: an object with
        ``imap_unordered(func, iterable, progress)`` such as :class:`isingvar.parallel.WorkerPool`;
        used when more than one instance is to be computed.  The file has one
        writer, this process.
    command_line : str
        Stored in the file's attributes.
    progress : callable(done, total, label), optional
        Called as work completes (units of :func:`progress_units`); the library never prints.

    Returns
    -------
    SweepSummary
        The file, the grid's shape, N, the methods, the elapsed seconds, and the instances this run
        computed, those of its shard now complete in the file, and those of its shard.

    Raises
    ------
    OutputExistsError
        If ``out`` exists and neither ``overwrite`` nor ``resume`` is set (before any work).
    OutputBusyError
        If another process is writing ``out`` (exit code 75); ``out`` is held
        from before it is read until the last commit.
    OutputPathError, OutputWriteError
        If ``out`` cannot be written (see :func:`isingvar.io.outputs.replace_atomically`).
    NonFiniteResultError
        If a method returns NaN where a number is expected (after committing
        the instances finished before).
    ConfigMismatchError
        If resuming a file made by another configuration or shard.
    SweepInterrupted
        On SIGINT (or SIGTERM, see :func:`isingvar.interrupt.terminate_as_interrupt`),
        after committing every finished instance.
    KeyboardInterrupt
        On SIGINT (or SIGTERM as above) while a new file is being set up, before
        its first commit: nothing is written.  Signals are held during every
        h5py call and honoured between steps (between samples while the
        instances are stored), so a signal stops the run within a step.
    """
    from ..interrupt import deferred_interrupt
    from ..io import store
    from ..io.outputs import check_output

    t_start = time.perf_counter()
    out = Path(out)
    resume = resume and out.exists()
    f = None
    try:
        # held during the setup too: a KeyboardInterrupt raised inside an h5py call is swallowed
        # ("Exception ignored in ...") and the run went on; here it is raised between steps
        with deferred_interrupt() as check:
            if resume:
                f = store.open_copy(out)
                check_resumable(store.read_attrs(f), config, shard, out)
            else:
                check_output(out, overwrite)
                f = _new_file(config, shard, command_line, check)
            check()
            f.attrs.update(provenance())
            mine = shard_instances(config, shard)
            done = store.read_done(f)  # an instance flagged done over NaN values is computed again
            if retry_failed:
                done &= ~store.read_flagged(f)
            todo = [inst for inst in mine if not done[inst]]
    except BaseException:
        if f is not None:
            f.close()
        raise
    with f:
        per_instance = progress_units(config)
        units = 0.0
        computed = 0
        committed = resume  # whether `out` holds this sweep's file (an interrupt then commits: exit 75)
        pending = []  # finished instances not yet in f: written in blocks, at commits
        pending_bytes = 0

        def save():
            """Pending instances into f (values before flags), then f to disk; returns the seconds it took."""
            nonlocal committed
            t = time.perf_counter()
            with deferred_interrupt():
                store.write_points(f, pending)
                pending.clear()
                store.commit(f, out)
                committed = True
            return time.perf_counter() - t

        def report(step, label):
            nonlocal units
            units += step
            if progress:
                progress(units, len(todo) * per_instance, label)

        try:
            commit_cost = save()
            last_commit = time.perf_counter()
            if pool is not None and len(todo) > 1:
                tasks = [(config, group) for group in task_groups(todo, getattr(pool, "workers", 1), config)]
                results = itertools.chain.from_iterable(pool.imap_unordered(_compute_task, tasks, progress=report))
            else:
                results = ((inst, compute_instance(config, *inst, progress=report)) for inst in todo)
            for inst, values in results:
                store.check_values(f, inst, values)  # a numerical failure stops the run, never marked done
                pending.append((inst, values))
                pending_bytes += sum(np.asarray(v).nbytes for v in values.values())
                computed += 1
                # a commit may cost COMMIT_OVERHEAD of the time since the last (its cost grows with the
                # file, so commits space out); pending values are bounded in memory too
                if (time.perf_counter() - last_commit >= commit_cost / COMMIT_OVERHEAD
                        or pending_bytes > PENDING_BYTES):
                    commit_cost = save()
                    pending_bytes = 0
                    last_commit = time.perf_counter()
        except BaseException as e:  # keep every finished instance, whatever stopped the run
            if not committed:
                raise  # nothing on disk yet, and nothing computed
            with deferred_interrupt():
                f.attrs["elapsed_s"] = float(f.attrs["elapsed_s"]) + time.perf_counter() - t_start
            try:
                save()
            except KeyboardInterrupt:
                pass  # a second signal during this commit: the commit is done, stop as for the first
            saved = len(mine) - len(todo) + computed
            if isinstance(e, KeyboardInterrupt):
                raise SweepInterrupted(out, saved, len(mine)) from None
            if isinstance(e, WorkerDied):
                raise SweepInterrupted(out, saved, len(mine), str(e)) from None
            raise
        try:
            with deferred_interrupt():
                store.write_points(f, pending)
                pending.clear()
                done = f["done"][()].astype(bool)
                if all(done[inst] for inst in mine):
                    f.attrs["completed"] = datetime.now(UTC).isoformat(timespec="seconds")
                elapsed = time.perf_counter() - t_start
                f.attrs["elapsed_s"] = float(f.attrs["elapsed_s"]) + elapsed
                store.commit(f, out)
        except KeyboardInterrupt:
            pass  # arrived while the finished sweep was being saved: it is saved
    return SweepSummary(out, config.shape, config.n, config.methods, elapsed, computed,
                        len(mine) - len(todo) + computed, len(mine))
