"""The sweep: a model family over the grid sample x J x h x beta, into one HDF5 file.

For each sample k the family's instance is drawn from ``rng([seed, k])``; for
each (J, h) the instance is scaled (couplings times J, fields plus h) and every
requested method runs over the whole beta grid at once.  Results go to the
file of :mod:`isingvar.io.store`, one instance at a time, values first and the
``done`` flag after them, committed to disk atomically; a killed run is
continued with ``resume``.  A sweep can be split into shards (deterministic,
cost-balanced subsets of the instances) whose files :mod:`isingvar.merge` joins.

The package by concern: :mod:`.ranges` (range syntax, grid axis checks), :mod:`.config` (SweepConfig,
make_config), :mod:`.config_file` (``--config`` files), :mod:`.estimate` (time estimates and refusals),
:mod:`.grid` (shards, pool tasks, workers), :mod:`.provenance` and :mod:`.run` (the run loop).
"""

from .config import (
    MAX_RESULT_BYTES,
    SITES_DEFAULT_MAX_N,
    SweepConfig,
    _brief,
    _source,
    check_methods,
    check_result_size,
    config_differences,
    default_output_path,
    make_config,
    result_bytes,
)
from .config_file import GRID_OPTIONS, read_config_file
from .estimate import TimeEstimate, _probes, estimate_time, instance_seconds, method_plans
from .grid import (
    INSTANCE_OVERHEAD,
    MAX_SHARDS,
    TASK_SECONDS,
    TASKS_PER_WORKER,
    WORKERS_FROM_SECONDS,
    choose_workers,
    default_workers,
    parse_shard,
    shard_instances,
    shard_text,
    task_groups,
)
from .provenance import _git_commit, provenance
from .ranges import _NUMBER, MAX_AXIS_POINTS, _check_axis, _match_item, _parse_item, _short, parse_range
from .run import (
    COMMIT_OVERHEAD,
    INSTANCE_BLOCK_BYTES,
    PENDING_BYTES,
    SweepSummary,
    _compute_task,
    _holding_output,
    _new_file,
    _samples_per_block,
    check_resumable,
    compute_instance,
    method_seed,
    progress_units,
    run_sweep,
)

__all__ = [
    "SweepConfig", "SweepSummary", "TimeEstimate", "compute_instance", "default_output_path", "estimate_time",
    "make_config", "method_plans", "parse_range", "parse_shard", "run_sweep", "shard_instances",
]
