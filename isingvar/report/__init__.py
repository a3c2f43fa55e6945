"""Tables of results for people: bounds against beta, averaged over samples.

Pure functions on what :func:`isingvar.io.store.read_summary` returns; the CLI
formats them and :mod:`isingvar.plot` draws them.  Every name is imported from
here (``from isingvar.report import bounds_table, failures``); by concern:
:mod:`.values` (variables by kind and quantity, sample means and standard errors,
tightest bounds and the methods that give them, gaps and interval width), :mod:`.withheld` (the status flags:
what is withheld or not computed, and why) and :mod:`.table` (:func:`bounds_table`).
"""

from .table import bounds_table
from .values import (
    INTERVALS,
    bound_delta,
    bound_gap,
    estimate_stats,
    free_energy_names,
    grid_values,
    interval_delta,
    interval_width,
    is_probabilistic,
    kl_names,
    lower_gap,
    model_lnZ_values,
    quantities,
    quantity_names,
    sample_stats,
    se_name,
    source_tally,
    tightest,
    tightest_source,
    variable_kinds,
    variable_method,
)
from .withheld import (
    GOVERNED_KINDS,
    computed_any,
    ess_floor_of,
    failures,
    governed,
    reasons,
    status_meanings,
    status_names,
    withheld_mask,
    withheld_points,
    withheld_verb,
)

__all__ = [
    "GOVERNED_KINDS", "INTERVALS", "bound_delta", "bound_gap", "bounds_table", "computed_any", "ess_floor_of",
    "estimate_stats", "failures", "free_energy_names", "governed", "grid_values", "interval_delta",
    "interval_width", "is_probabilistic", "kl_names", "lower_gap", "model_lnZ_values", "quantities",
    "quantity_names", "reasons", "sample_stats", "se_name", "source_tally", "status_meanings", "status_names",
    "tightest", "tightest_source", "variable_kinds", "variable_method", "withheld_mask", "withheld_points",
    "withheld_verb",
]
