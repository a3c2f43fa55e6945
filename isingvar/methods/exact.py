"""Exact enumeration of all 2^N states (:mod:`isingvar.exact`) as a method of the sweep.

Variables: the exact thermodynamics ``<quantity>_exact`` on the beta grid,
``E0_exact`` per instance, ``m_exact_site`` per site (``--sites``),
``exact_path`` (the summation path that ran) and, for a sweep of a model file,
``lnZ_model_exact`` (ln Z of the model as its file gives it, at beta = 1,
J = 1, h = 0).
"""

from __future__ import annotations

import numpy as np

from ..errors import TooLargeError
from .base import Method, NoSettings, Var, model_file_lnZ, per_beta

#: Codes of the exact summation paths in the file's ``exact_path`` variable.
PATH_CODES = {"reference": 0, "direct": 1, "chain": 2, "histogram": 3}
_INF0 = "-inf at beta = 0"

VARIABLES = (
    Var("lnZ_exact", "exact", "lnZ", "nat", "log partition function ln Z (total), exact enumeration"),
    Var("f_exact", "exact", "f", "energy per spin", "free energy per spin -ln Z/(beta N), exact; -inf at beta = 0", nonfinite=_INF0),
    Var("u_exact", "exact", "u", "energy per spin", "internal energy per spin <E>/N, exact"),
    Var("s_exact", "exact", "s", "nat per spin", "entropy per spin (ln Z + beta U)/N, exact"),
    Var("c_exact", "exact", "c", "k_B per spin", "heat capacity per spin beta^2 Var(E)/N, exact"),
    Var("m_exact", "exact", "m", "1", "magnetisation per spin <sum_i s_i>/N, exact"),
    Var("m2_exact", "exact", "m2", "1", "second moment <m^2> of m = sum_i s_i/N, exact"),
    Var("absm_exact", "exact", "absm", "1", "mean absolute magnetisation <|m|>, exact"),
    Var("chi_exact", "exact", "chi", "1/energy", "susceptibility beta N (<m^2> - <m>^2), exact"),
    Var("E0_exact", "exact", "E0", "energy", "ground-state energy (total), exact", per="instance"),
    Var("m_exact_site", "exact", "m", "1", "site magnetisations <s_i>, exact", per="site"),
    Var("exact_path", "diagnostic", None, "1", "summation path of the exact enumeration (see flag_meanings)",
        dtype="i1", per="instance", fill=-1,
        flags=((0, 1, 2, 3), " ".join(sorted(PATH_CODES, key=PATH_CODES.get)))),
)


def run(model, betas, settings, rng, *, sites, progress=None) -> dict:
    """Exact values of ``model`` over ``betas`` (see :func:`isingvar.exact.exact_enumeration`).

    ``progress`` receives one unit per beta, spread over the enumeration.
    """
    nb = len(betas)
    seen = 0.0

    def step(done, total):
        nonlocal seen
        if progress is not None:
            progress(nb * done / total - seen)
        seen = nb * done / total

    from ..exact import exact_enumeration

    r = exact_enumeration(model, betas, sites=sites, progress=step)
    values = {
        "lnZ_exact": r.lnZ, "f_exact": r.f, "u_exact": r.u, "s_exact": r.s, "c_exact": r.c,
        "m_exact": r.m, "m2_exact": r.m2, "absm_exact": r.absm, "chi_exact": r.chi,
        "E0_exact": r.e0, "exact_path": PATH_CODES[r.path],
    }
    if r.sites is not None:
        values["m_exact_site"] = r.sites
    return values


_MODEL_VAR, file_hook = model_file_lnZ(VARIABLES[0])  # lnZ_model_exact
VARIABLES = VARIABLES[:9] + (_MODEL_VAR,) + VARIABLES[9:]


def check(n, betas, settings) -> None:
    """Refuse N > :data:`isingvar.exact.HARD_MAX_N` (Gray indices are int64), even with ``--force``."""
    from ..exact import HARD_MAX_N

    if n > HARD_MAX_N:
        raise TooLargeError(f"exact enumeration is impossible for N = {n} (> {HARD_MAX_N}); use --method mf and --method trw (bounds from both sides)")


def cost(model, betas, settings, *, sites) -> float:
    """Seconds of one enumeration: :func:`isingvar.exact.estimate_seconds` (a timed kernel probe from
    N = :data:`isingvar.exact.ESTIMATE_FROM_N`, 0 below)."""
    from .. import exact  # through the module: tests replace exact.estimate_seconds

    check(model.n, betas, settings)
    return exact.estimate_seconds(model, betas, sites=sites)


def shard_weight(model, betas, settings) -> float:
    """1 with every field zero (the h = 0 symmetry halves the enumeration), else 2."""
    return 1.0 if not np.any(model.fields) else 2.0


METHOD = Method(
    name="exact",
    summary="exact enumeration of all 2^N states (N <= 62; minutes from N = 36)",
    settings=NoSettings,
    variables=VARIABLES,
    run=run,
    cost=cost,
    progress_units=per_beta,
    default=True,
    shard_weight=shard_weight,
    file_hook=file_hook,
    check=check,
    max_seconds=600.0,  # isingvar.exact.MAX_SECONDS (not imported here: `isingvar --help` stays fast)
)
