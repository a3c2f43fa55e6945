"""The sweep: a model family over the grid sample x J x h x beta, into one HDF5 file.

For each sample k the family's instance is drawn from ``rng([seed, k])``; for
each (J, h) the instance is scaled (couplings times J, fields plus h) and every
requested method runs over the whole beta grid at once.  Results go to the
file of :mod:`isingvar.io.store`, one instance at a time, values first and the
``done`` flag after them, committed to disk atomically; a killed run is
continued with ``resume``.  A sweep can be split into shards (deterministic,
cost-balanced subsets of the instances) whose files :mod:`isingvar.merge` joins.

The package by concern: :mod:`.config` (range syntax, SweepConfig, make_config, config files),
:mod:`.estimate` (time estimates and refusals), :mod:`.grid` (shards, pool tasks, workers),
:mod:`.provenance` and :mod:`.run` (the run loop).
"""

from .config import (
    SITES_DEFAULT_MAX_N,
    MAX_AXIS_POINTS,
    MAX_RESULT_BYTES,
    _NUMBER,
    parse_range,
    _short,
    _match_item,
    _parse_item,
    _check_axis,
    SweepConfig,
    config_differences,
    _brief,
    make_config,
    result_bytes,
    check_result_size,
    _source,
    GRID_OPTIONS,
    read_config_file,
    check_methods,
    default_output_path,
)
from .estimate import TimeEstimate, _probes, estimate_time
from .grid import (
    MAX_SHARDS,
    parse_shard,
    shard_text,
    shard_instances,
    TASKS_PER_WORKER,
    task_groups,
    MANY_INSTANCES,
    default_workers,
    choose_workers,
)
from .provenance import _git_commit, provenance
from .run import (
    SweepSummary,
    progress_units,
    method_seed,
    compute_instance,
    _compute_task,
    COMMIT_OVERHEAD,
    PENDING_BYTES,
    INSTANCE_BLOCK_BYTES,
    _new_file,
    _samples_per_block,
    check_resumable,
    _holding_output,
    run_sweep,
)

__all__ = [
    "SweepConfig", "SweepSummary", "TimeEstimate", "compute_instance", "default_output_path", "estimate_time",
    "make_config", "parse_range", "parse_shard", "run_sweep", "shard_instances",
]
