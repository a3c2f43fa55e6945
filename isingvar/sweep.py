"""The sweep: a model family over the grid sample x J x h x beta, into one HDF5 file.

For each sample k the family's instance is drawn from ``rng([seed, k])``; for
each (J, h) the instance is scaled (couplings times J, fields plus h) and every
requested method runs over the whole beta grid at once.  Results go to the
file of :mod:`isingvar.io.store`, one instance at a time, values first and the
``done`` flag after them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import ENERGY_CONVENTION, __version__
from .errors import GridError, ModelParameterError, RangeSpecError
from .families import get_family, is_disordered, make_instance, n_spins, resolve_params

METHODS = ("exact", "mf")
#: Codes of the exact summation paths in the file's ``exact_path`` variable.
PATH_CODES = {"reference": 0, "direct": 1, "chain": 2, "histogram": 3}
#: Per-site mean-field magnetisations are stored by default up to this N.
SITES_DEFAULT_MAX_N = 1024

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_range(spec: str, name: str = "value") -> np.ndarray:
    """Parse a grid specification into a float64 array.

    A comma-separated list of items, each ``a:b:n`` (n points from a to b
    inclusive, ``numpy.linspace``), ``log:a:b:n`` (n log-spaced points,
    a, b > 0) or a single number; e.g. ``0,0.1:1:10``.

    Raises
    ------
    RangeSpecError
        If an item has none of these forms (the message names ``--name``).
    """
    text = str(spec).strip()
    return np.concatenate([_parse_item(item.strip(), text, name) for item in text.split(",")])


def _parse_item(item, text, name):
    num = rf"\s*({_NUMBER})\s*"
    if re.fullmatch(num, item):
        return np.array([float(item)])
    m = re.fullmatch(rf"(log:)?{num}:{num}:\s*(\d+)\s*", item)
    if not m:
        raise RangeSpecError(
            f"--{name} {text!r} is not a valid range; use a:b:n (n points from a to b), "
            "log:a:b:n, a,b,c or a single number"
        )
    a, b, n = float(m.group(2)), float(m.group(3)), int(m.group(4))
    if n < 1:
        raise RangeSpecError(f"--{name} {text!r}: the number of points must be at least 1")
    if n == 1 and a != b:
        raise RangeSpecError(f"--{name} {text!r}: one point cannot span {a:g} to {b:g}; use n >= 2 or a single number")
    if m.group(1):
        if a <= 0 or b <= 0:
            raise RangeSpecError(f"--{name} {text!r}: log ranges need a, b > 0")
        return np.geomspace(a, b, n)
    return np.linspace(a, b, n)


def _check_axis(values, name, nonnegative=False):
    if not np.all(np.isfinite(values)):
        raise GridError(f"--{name} values must be finite")
    if nonnegative and np.any(values < 0):
        raise GridError(f"--{name} values must be >= 0 (got {values.min():g}); inverse temperatures are non-negative")
    if np.unique(values).size != values.size:
        raise GridError(f"--{name} lists a value twice; give each value once")
    return values


@dataclass(frozen=True)
class SweepConfig:
    """A fully resolved sweep: what to compute, independent of where it goes.

    Build it with :func:`make_config`, which validates every field.
    """

    model: str
    params: dict
    n: int
    beta: np.ndarray
    J: np.ndarray
    h: np.ndarray
    samples: int
    seed: int
    methods: tuple
    sites: bool
    force: bool = False
    mf_max_sweeps: int = 2000
    mf_tol: float = 1e-10

    @property
    def shape(self) -> tuple:
        """(samples, len(J), len(h), len(beta))."""
        return (self.samples, self.J.size, self.h.size, self.beta.size)

    def to_dict(self) -> dict:
        """JSON-serialisable form (stored in the file)."""
        d = asdict(self)
        for k in ("beta", "J", "h"):
            d[k] = d[k].tolist()
        d["methods"] = list(self.methods)
        return d


def make_config(
    model: str | None = None,
    params: dict | None = None,
    *,
    beta: str = "0.05:3:60",
    J: str = "1",
    h: str = "0",
    samples: int | None = None,
    seed: int = 0,
    methods=None,
    sites: bool | None = None,
    force: bool = False,
) -> SweepConfig:
    """Validate the user's choices and resolve defaults.

    With ``model=None`` the embedded default is used: a Sherrington-Kirkpatrick
    instance with N = 16 (``params`` may still override N).  ``samples``
    defaults to 4 for disordered families and 1 otherwise; ``sites`` (store
    per-site magnetisations of every method) to N <= :data:`SITES_DEFAULT_MAX_N`;
    ``methods`` to both.

    Raises
    ------
    UnknownModelError, ModelParameterError, CouplingsFileError
        From the model family.
    RangeSpecError, GridError
        For a malformed or invalid beta, J or h grid.
    TooLargeError
        If exact enumeration is requested and, timed on sample 0, would take
        more than :data:`isingvar.exact.MAX_SECONDS` in all, without ``force``.
    """
    from .exact import check_size

    params = dict(params or {})
    if model is None:
        model = "sk"
        if params.get("n") is None:
            params["n"] = 16
    params = resolve_params(model, params)
    n = n_spins(model, params)
    betas = _check_axis(parse_range(beta, "beta"), "beta", nonnegative=True)
    Js = _check_axis(parse_range(J, "J"), "J")
    hs = _check_axis(parse_range(h, "h"), "h")
    if samples is None:
        samples = 4 if is_disordered(model, params) else 1
    if samples < 1:
        raise ModelParameterError(f"--samples must be at least 1, got {samples}")
    if seed < 0:
        raise ModelParameterError(f"--seed must be >= 0, got {seed}")
    methods = check_methods(methods)
    if "exact" in methods:
        probe = make_instance(model, params, seed, 0).scaled(Js[np.argmax(np.abs(Js))], hs[0])
        check_size(probe, betas, force, instances=samples * Js.size * hs.size)
    if sites is None:
        sites = n <= SITES_DEFAULT_MAX_N
    return SweepConfig(model, params, n, betas, Js, hs, int(samples), int(seed), methods, bool(sites), force)


def check_methods(methods) -> tuple:
    """Canonical tuple of method names; :class:`ModelParameterError` for an unknown one."""
    methods = list(methods or METHODS)
    for m in methods:
        if m not in METHODS:
            raise ModelParameterError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    return tuple(m for m in METHODS if m in methods)


def default_output_path(config: SweepConfig, now: datetime | None = None) -> Path:
    """``runs/<model>-n<N>-<UTC timestamp>.h5``."""
    now = now or datetime.now(UTC)
    return Path("runs") / f"{config.model}-n{config.n}-{now.strftime('%Y%m%dT%H%M%SZ')}.h5"


@dataclass(frozen=True)
class SweepSummary:
    """What a finished sweep reports."""

    path: Path
    shape: tuple
    n: int
    methods: tuple
    elapsed: float

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "shape": dict(zip(("sample", "J", "h", "beta"), self.shape)),
            "n_spins": self.n,
            "methods": list(self.methods),
            "elapsed_s": round(self.elapsed, 3),
        }


def run_sweep(
    config: SweepConfig,
    out,
    *,
    overwrite: bool = False,
    command_line: str = "",
    progress: Callable[[int, int, str], None] | None = None,
) -> SweepSummary:
    """Run ``config`` and write the result file ``out``.

    Parameters
    ----------
    config : SweepConfig
    out : path-like
        Result file.  Written under a temporary name and renamed when
        complete; removed on any error or interrupt.
    overwrite : bool
        Replace an existing ``out``.
    command_line : str
        Stored in the file's attributes.
    progress : callable(done, total, label), optional
        Called as work completes, in units of one beta of exact enumeration or
        one mean-field continuation step; the library never prints.

    Raises
    ------
    OutputExistsError
        If ``out`` exists and ``overwrite`` is false (before any work).
    """
    from .exact import exact_enumeration
    from .io import store
    from .meanfield import mean_field

    t_start = time.perf_counter()
    created = datetime.now(UTC)
    nb = config.beta.size
    # progress units: nb per exact run, one per mean-field continuation step
    per_instance = nb * ("exact" in config.methods) + (2 * nb - 1) * ("mf" in config.methods)
    n_units = config.samples * config.J.size * config.h.size * per_instance
    units = 0

    def report(step, label):
        nonlocal units
        units += step
        if progress:
            progress(units, n_units, label)
    first = make_instance(config.model, config.params, config.seed, 0)
    coords = {
        "sample": np.arange(config.samples),
        "J": config.J,
        "h": config.h,
        "beta": config.beta,
        "site": np.arange(config.n),
        "edge": np.arange(first.n_edges),
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
        "created": created.isoformat(timespec="seconds"),
        "config": config.to_dict(),
    }
    with (
        store.atomic_output(out, overwrite) as tmp,
        store.create(tmp, coords=coords, attrs=attrs, methods=config.methods, sites=config.sites) as f,
    ):
        for k in range(config.samples):
            base = first if k == 0 else make_instance(config.model, config.params, config.seed, k)
            store.write_instance(f, k, base)
            for a, J in enumerate(config.J):
                for b, h in enumerate(config.h):
                    model = base.scaled(J, h)
                    index = (k, a, b)
                    label = f"sample {k} J={J:g} h={h:g}"
                    exact = None
                    if "exact" in config.methods:
                        seen = 0.0

                        def exact_progress(done, total, label=label):
                            nonlocal seen
                            report(nb * done / total - seen, f"{label} exact")
                            seen = nb * done / total

                        exact = exact_enumeration(model, config.beta, sites=config.sites, progress=exact_progress)
                        store.write_point(f, index, _exact_values(exact))
                    if "mf" in config.methods:
                        rng = np.random.default_rng([config.seed, k, 0x6D66, a, b])
                        mf = mean_field(
                            model, config.beta, rng=rng, keep_sites=config.sites,
                            max_sweeps=config.mf_max_sweeps, tol=config.mf_tol,
                            progress=lambda label=label: report(1, f"{label} mf"),
                        )
                        store.write_point(f, index, _mf_values(mf, exact))
                    store.mark_done(f, index)
        f.attrs["completed"] = datetime.now(UTC).isoformat(timespec="seconds")
        f.attrs["elapsed_s"] = time.perf_counter() - t_start
    return SweepSummary(Path(out), config.shape, config.n, config.methods, time.perf_counter() - t_start)


def _exact_values(r) -> dict:
    return {
        "lnZ_exact": r.lnZ, "f_exact": r.f, "u_exact": r.u, "s_exact": r.s, "c_exact": r.c,
        "m_exact": r.m, "m2_exact": r.m2, "absm_exact": r.absm, "chi_exact": r.chi,
        "E0_exact": r.e0, "exact_path": PATH_CODES[r.path],
    } | ({"m_exact_site": r.sites} if r.sites is not None else {})


def _mf_values(r, exact=None) -> dict:
    values = {
        "lnZ_mf_lower": r.lnZ_lower, "f_mf_upper": r.f_upper, "u_mf": r.u, "s_mf": r.s,
        "m_mf": r.m, "mf_iterations": r.iterations, "mf_converged": r.converged.astype(np.int8),
    }
    if exact is not None:
        values["kl_mf"] = exact.lnZ - r.lnZ_lower
    if r.sites is not None:
        values["m_mf_site"] = r.sites
    return values


__all__ = ["SweepConfig", "SweepSummary", "default_output_path", "make_config", "parse_range", "run_sweep"]
