"""The grid's instances split into shards (cost-balanced, deterministic) and pool tasks; worker counts."""

from __future__ import annotations

import os
import re

import numpy as np

from ..errors import ShardError
from ..families import make_instance
from ..methods import get_method
from .config import SweepConfig
from .ranges import _short

#: Most shards of a sweep (a SLURM job array has at most 4,000,001 tasks).
MAX_SHARDS = 4_000_001


def parse_shard(spec: str | None, environ=None) -> tuple[int, int] | None:
    """``"i/n"`` or ``"slurm"`` -> (i, n) with 0 <= i < n; None -> None.

    ``slurm`` reads the job-array variables: i = (SLURM_ARRAY_TASK_ID - MIN) / STEP
    and n = SLURM_ARRAY_TASK_COUNT (or from SLURM_ARRAY_TASK_MIN/MAX), so
    ``sbatch --array=0-7`` gives shards 0/8 ... 7/8.

    Parameters
    ----------
    spec : str or None
        The ``--shard`` value: ``"i/n"``, ``"slurm"``, or None for a whole sweep.
    environ : mapping, optional
        Environment to read the SLURM variables from; default ``os.environ``.

    Returns
    -------
    tuple of (int, int) or None
        (i, n), or None when ``spec`` is None.

    Raises
    ------
    ShardError
        For a malformed spec, i outside 0..n-1, n above :data:`MAX_SHARDS`, or
        ``slurm`` outside a job array.
    """
    if spec is None:
        return None
    environ = os.environ if environ is None else environ
    spec = spec.strip()
    if spec == "slurm":
        try:
            task = int(environ["SLURM_ARRAY_TASK_ID"])
            lo = int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
            step = int(environ.get("SLURM_ARRAY_TASK_STEP", 1)) or 1
            if "SLURM_ARRAY_TASK_COUNT" in environ:
                n = int(environ["SLURM_ARRAY_TASK_COUNT"])
            else:
                n = (int(environ["SLURM_ARRAY_TASK_MAX"]) - lo) // step + 1
        except KeyError as e:
            raise ShardError(
                f"--shard slurm: {e.args[0]} is not set; run it as a job-array task (sbatch --array=0-N) or give --shard i/n"
            ) from None
        except ValueError:
            raise ShardError("--shard slurm: the SLURM_ARRAY_TASK_* variables are not integers") from None
        i = (task - lo) // step
    else:
        m = re.fullmatch(r"([0-9]+)\s*/\s*([0-9]+)", spec)
        if not m:
            raise ShardError(f"--shard {spec!r} is not valid; use i/n (0 <= i < n) or slurm")
        i, n = int(m.group(1)), int(m.group(2))
    if n > MAX_SHARDS:
        raise ShardError(f"--shard {_short(spec)}: {n} shards are more than a job array can have (at most {MAX_SHARDS})")
    if not 0 <= i < n:
        raise ShardError(f"--shard {i}/{n}: need 0 <= i < n")
    return i, n


def shard_text(shard: tuple[int, int] | None) -> str:
    """"i/n", or "" for a whole sweep (as stored in the file's ``shard`` attribute).

    Parameters
    ----------
    shard : tuple of (int, int) or None
        (i, n) as :func:`parse_shard` returns it; None for a whole sweep.

    Returns
    -------
    str
        "i/n", or "".
    """
    return "" if shard is None else f"{shard[0]}/{shard[1]}"


def shard_instances(config: SweepConfig, shard: tuple[int, int] | None) -> list[tuple[int, int, int]]:
    """The instances (k, a, b) of shard (i, n), in single-run order; every instance if ``shard`` is None.

    Instances are dealt greedily, most expensive first, to the least loaded
    shard (ties to the lowest index); an instance costs the sum of its
    methods' ``shard_weight`` on sample 0 at its (J, h) (default 1 each; exact
    enumeration counts an instance with fields as two: the h = 0 symmetry
    halves the work).  The weights are deterministic, so the assignment
    depends only on the configuration and every task of an array computes the
    same partition.

    Parameters
    ----------
    config : SweepConfig
        The sweep.
    shard : tuple of (int, int) or None
        (i, n) as :func:`parse_shard` returns it; None for a whole sweep.

    Returns
    -------
    list of tuple of (int, int, int)
        The instances (sample k, J index a, h index b) of the shard.
    """
    everything = config.instances()
    if shard is None:
        return everything
    i, n = shard
    first = make_instance(config.model, config.params, config.seed, 0)
    weights = {}
    for a in range(config.J.size):
        for b in range(config.h.size):
            model = first.scaled(config.J[a], config.h[b])
            weights[a, b] = sum(
                1.0 if get_method(name).shard_weight is None
                else float(get_method(name).shard_weight(model, config.beta, config.method_settings(name)))
                for name in config.methods
            )

    def cost(inst):
        """The shard weight of instance ``inst`` = (k, a, b): its (J, h)'s.

        Parameters
        ----------
        inst : tuple of (int, int, int)
            The instance (k, a, b).

        Returns
        -------
        float
            Its weight.
        """
        return weights[inst[1], inst[2]]

    # with n >= the instance count, instance r (by cost) goes to shard r and the rest stay empty,
    # so the loads of min(n, count) shards decide the same partition
    load = np.zeros(min(n, len(everything)))
    mine = set()
    for inst in sorted(everything, key=cost, reverse=True):  # stable: ties keep single-run order
        s = int(np.argmin(load))
        load[s] += cost(inst)
        if s == i:
            mine.add(inst)
    return [inst for inst in everything if inst in mine]


#: Pool tasks per worker when instances are grouped (see :func:`task_groups`).
TASKS_PER_WORKER = 16

#: From this estimated time per instance (:func:`isingvar.sweep.estimate.instance_seconds`) each instance is
#: a pool task of its own: a task costs the pool about a millisecond, 2 % of it.
TASK_SECONDS = 0.05

#: Seconds the sweep spends on an instance besides its methods' estimated cost (building and scaling it,
#: the values into the file): sk N = 8, exact and mean field, 1,000 samples took 1.7 s in one process.
INSTANCE_OVERHEAD = 1e-3

#: Worker processes are started when the sweep's estimated work (instances x (their methods' cost +
#: :data:`INSTANCE_OVERHEAD`)) is at least this: starting them (spawn, imports, the compiled kernels) costs
#: ~0.7 s, won back with two workers from ~1.4 s of work.
WORKERS_FROM_SECONDS = 1.5


def task_groups(todo: list, workers: int, config: SweepConfig) -> list[list]:
    """``todo`` split into consecutive groups, one pool task each.

    One instance per task where an instance of ``config`` is estimated at
    :data:`TASK_SECONDS` or more (:func:`isingvar.sweep.estimate.instance_seconds`,
    its methods' costs): a task's cost does not count there and the finest
    grain balances best.  Below, about :data:`TASKS_PER_WORKER` tasks per
    worker: a task costs the pool about a millisecond (the config pickled, two
    pipes, a future), more than a small instance takes, so one task per
    instance made 20,000 samples of N = 8 slower on two workers (44 s) than in
    one process (13 s).

    Parameters
    ----------
    todo : list
        The instances to compute, in order.
    workers : int
        Worker processes.
    config : SweepConfig
        The sweep.

    Returns
    -------
    list of list
        Consecutive groups of ``todo``, together all of it.
    """
    from .estimate import instance_seconds

    long = len(todo) <= 1 or instance_seconds(config) >= TASK_SECONDS
    size = 1 if long else -(-len(todo) // (TASKS_PER_WORKER * max(1, workers)))
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def default_workers(config: SweepConfig, cores: int) -> int:
    """Worker processes when ``--workers`` is not given, from the estimated work of the methods.

    Never from N: ar on N = 20 takes seconds per instance, mean field on N = 1600 milliseconds.
    The work is the instance count times (:func:`isingvar.sweep.estimate.instance_seconds`, the
    methods' ``cost`` on sample 0, + :data:`INSTANCE_OVERHEAD`).  Below :data:`WORKERS_FROM_SECONDS`
    one process: starting workers (spawn, imports, loading the compiled kernels: ~0.7 s) is not won
    back (N = 24, 8 samples, exact and mean field: 0.89 s with one worker, 1.29 s with two,
    docs/batch.md; sk N = 8, exact and mean field, 1,000 samples 1.7 s and 1.6 s, 3,000 samples 4.1 s
    and 2.8 s, docs/performance.md).  Above it ``cores``, but no more than the instances: a worker
    without an instance would only take threads from the others.  The methods are not estimated where
    the instance count alone decides (one instance; so many that their overhead alone passes the mark).

    Parameters
    ----------
    config : SweepConfig
        The sweep.
    cores : int
        Cores this process may use.

    Returns
    -------
    int
        Worker processes, >= 1.
    """
    from .estimate import instance_seconds

    count = len(config.instances())
    if count <= 1:  # one instance never goes to a pool
        return 1
    if count * INSTANCE_OVERHEAD < WORKERS_FROM_SECONDS:  # else enough work without timing the methods
        work = count * (instance_seconds(config) + INSTANCE_OVERHEAD)
        if not work >= WORKERS_FROM_SECONDS:
            return 1
    return max(1, min(cores, count))


def choose_workers(requested: int | None, config: SweepConfig, cores: int) -> tuple[int, str | None]:
    """Worker processes for a sweep on ``cores`` cores, and a one-line note when a request was reduced.

    More workers than cores only share the cores (each process also loads the kernels and holds its
    own instance), so a larger request is capped at ``cores``; the note says so (the CLI prints it as a
    warning).

    Parameters
    ----------
    requested : int or None
        ``--workers``; None: :func:`default_workers`.
    config : SweepConfig
        The sweep.
    cores : int
        Cores this process may use.

    Returns
    -------
    workers : int
        Worker processes.
    note : str or None
        The note, or None when the request stands.
    """
    if requested is None:
        return default_workers(config, cores), None
    if requested > cores:
        return cores, f"--workers {requested} is more than the {cores} core(s) this process may use; running {cores}"
    return requested, None
