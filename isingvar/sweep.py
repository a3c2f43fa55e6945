"""The sweep: a model family over the grid sample x J x h x beta, into one HDF5 file.

For each sample k the family's instance is drawn from ``rng([seed, k])``; for
each (J, h) the instance is scaled (couplings times J, fields plus h) and every
requested method runs over the whole beta grid at once.  Results go to the
file of :mod:`isingvar.io.store`, one instance at a time, values first and the
``done`` flag after them, committed to disk atomically; a killed run is
continued with ``resume``.  A sweep can be split into shards (deterministic,
cost-balanced subsets of the instances) whose files :mod:`isingvar.merge` joins.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import ENERGY_CONVENTION, __version__
from .errors import (
    ConfigFileError,
    ConfigMismatchError,
    GridError,
    ModelError,
    ModelParameterError,
    RangeSpecError,
    ShardError,
    SweepInterrupted,
    TooLargeError,
    WorkerDied,
)
from .families import check_seed, get_family, is_disordered, make_instance, n_spins, resolve_params
from .methods import all_methods, canonical, derived_values, get_method, make_settings

#: Per-site mean-field magnetisations are stored by default up to this N.
SITES_DEFAULT_MAX_N = 1024
#: Most values one grid axis (beta, J or h) may have: every value is stored as text in the
#: file's configuration attributes (~20 bytes each) and mean field runs two passes per beta.
MAX_AXIS_POINTS = 100_000
#: Largest result file a sweep may hold in memory (bytes, from the schema before it is made).
#: The sweep keeps the whole file in memory and a commit writes a second copy of it, so this
#: needs twice as much memory; beyond it, split the sweep (fewer --samples, a coarser --beta,
#: fewer J or h values, --no-sites).
MAX_RESULT_BYTES = 8 * 2**30
#: Most shards of a sweep (a SLURM job array has at most 4,000,001 tasks).
MAX_SHARDS = 4_000_001

_NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"  # ASCII digits: no '1_0', no other scripts


def parse_range(spec: str, name: str = "value") -> np.ndarray:
    """Parse a grid specification into a float64 array.

    A comma-separated list of items, each ``a:b:n`` (n points from a to b
    inclusive, ``numpy.linspace``), ``log:a:b:n`` (n log-spaced points,
    a, b > 0) or a single number; e.g. ``0,0.1:1:10``.

    Raises
    ------
    RangeSpecError
        If an item has none of these forms (the message names ``--name``), or
        the grid would have more than :data:`MAX_AXIS_POINTS` values (checked
        before any array is made).
    """
    text = str(spec).strip()
    items = [_match_item(item.strip(), text, name) for item in text.split(",")]
    total = sum(1 if m is None else int(m.group(4)) for _, m in items)
    if total > MAX_AXIS_POINTS:
        raise RangeSpecError(
            f"--{name} {_short(text)!r} has {total} values, more than the {MAX_AXIS_POINTS} a grid axis may have; "
            "use fewer points"
        )
    return np.concatenate([_parse_item(item, m, text, name) for item, m in items])


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width] + "..."


def _match_item(item, text, name):
    """(item, None) for a single number, (item, match of a:b:n) for a range."""
    num = rf"\s*({_NUMBER})\s*"
    if re.fullmatch(num, item, re.ASCII):
        return item, None
    m = re.fullmatch(rf"(log:)?{num}:{num}:\s*([0-9]+)\s*", item, re.ASCII)
    if not m:
        raise RangeSpecError(
            f"--{name} {_short(text)!r} is not a valid range; use a:b:n (n points from a to b), "
            "log:a:b:n, a,b,c or a single number"
        )
    return item, m


def _parse_item(item, m, text, name):
    if m is None:
        return np.array([float(item)])
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
    #: method name -> its settings dataclass (:attr:`isingvar.methods.base.Method.settings`), for every method of the sweep
    settings: dict = field(default_factory=dict)
    #: file family: the model file's name, SHA-256, format and lnZ_offset (part of the hash: a changed file is another sweep)
    source: dict | None = None

    @property
    def shape(self) -> tuple:
        """(samples, len(J), len(h), len(beta))."""
        return (self.samples, self.J.size, self.h.size, self.beta.size)

    def instances(self) -> list[tuple[int, int, int]]:
        """Every instance (sample k, J index a, h index b), in the order a single run computes them."""
        return [(k, a, b) for k in range(self.samples) for a in range(self.J.size) for b in range(self.h.size)]

    def to_dict(self) -> dict:
        """Everything that determines the results, JSON-serialisable (``force`` does not)."""
        d = asdict(self)
        del d["force"]
        for k in ("beta", "J", "h"):
            d[k] = d[k].tolist()
        d["methods"] = list(self.methods)
        d["settings"] = {name: asdict(self.method_settings(name)) for name in self.methods}
        if self.source is None:
            del d["source"]
        return d

    def method_settings(self, name: str):
        """The settings of method ``name`` (its defaults when the sweep was given none)."""
        if name in self.settings:
            return self.settings[name]
        return make_settings(get_method(name))

    def config_hash(self) -> str:
        """SHA-256 of :meth:`to_dict` in canonical JSON: equal exactly when two sweeps compute the same numbers."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_toml(self) -> str:
        """The resolved configuration as TOML, in the keys of ``--config`` (a valid config file itself)."""
        import tomli_w

        d = {"model": self.model, **self.params}
        d |= {"beta": self.beta.tolist(), "J": self.J.tolist(), "h": self.h.tolist()}
        d |= {"samples": self.samples, "seed": self.seed, "method": list(self.methods), "sites": self.sites}
        for name in self.methods:  # a table [<method>] of its settings
            values = asdict(self.method_settings(name))
            if values:
                d[name] = values
        return tomli_w.dumps(d)


def config_differences(stored: dict, config: SweepConfig) -> list[str]:
    """Human-readable differences between a stored :meth:`SweepConfig.to_dict` and ``config``."""
    now = config.to_dict()
    out = []
    for key in sorted(set(stored) | set(now)):
        a, b = stored.get(key), now.get(key)
        if a != b:
            out.append(f"{key} {_brief(a)} in the file, {_brief(b)} in this command")
    return out


def _brief(value) -> str:
    if isinstance(value, list) and len(value) > 4:
        return f"[{len(value)} values {value[0]:g} … {value[-1]:g}]"
    return json.dumps(value)


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
    settings: dict | None = None,
) -> SweepConfig:
    """Validate the user's choices and resolve defaults.

    With ``model=None`` the embedded default is used: a Sherrington-Kirkpatrick
    instance with N = 16 (``params`` may still override N).  ``samples``
    defaults to 4 for disordered families and 1 otherwise; ``sites`` (store
    per-site magnetisations of every method) to N <= :data:`SITES_DEFAULT_MAX_N`;
    ``methods`` to the registry's default methods (:func:`isingvar.methods.default_methods`).
    ``settings`` maps a method name to its settings (field -> value; missing
    fields take the defaults); settings of methods not in the sweep are ignored.

    Raises
    ------
    UnknownModelError, ModelParameterError, CouplingsFileError
        From the model family.
    RangeSpecError, GridError
        For a malformed or invalid beta, J or h grid, or one whose energies
        overflow (:func:`isingvar.model.check_energy_range` on sample 0).
    ModelParameterError
        For an unknown method or setting, or a setting the method refuses.
    TooLargeError
        If the result file would exceed :data:`MAX_RESULT_BYTES` (checked before
        anything is built), a method cannot run at this N at all (its
        ``check``), or, without ``force``, a method with a time limit is
        estimated (:func:`estimate_time`, timed on sample 0) to take longer
        than it (exact enumeration: :data:`isingvar.exact.MAX_SECONDS`).
    """
    from .model import check_energy_range

    params = dict(params or {})
    if model is None:
        model = "sk"
        if params.get("n") is None:
            params["n"] = 16
    params = resolve_params(model, params)  # refuses too many spins or couplings before building
    n = n_spins(model, params)
    betas = _check_axis(parse_range(beta, "beta"), "beta", nonnegative=True)
    Js = _check_axis(parse_range(J, "J"), "J")
    hs = _check_axis(parse_range(h, "h"), "h")
    if samples is None:
        samples = 4 if is_disordered(model, params) else 1
    if samples < 1:
        raise ModelParameterError(f"--samples must be at least 1, got {samples}")
    check_seed(seed)
    methods = check_methods(methods)
    settings = settings or {}
    for name in settings:
        get_method(name)  # an unknown method name: ModelParameterError listing the choices
    chosen = {name: make_settings(get_method(name), settings.get(name)) for name in methods}
    if sites is None:
        sites = n <= SITES_DEFAULT_MAX_N
    check_result_size(model, params, n, samples, betas.size, Js.size, hs.size, methods, sites)
    first = make_instance(model, params, seed, 0)
    try:
        check_energy_range(first, betas, Js, hs)
    except ModelError as e:
        raise GridError(f"{e}; use smaller --J, --h or --beta values (sample 0 of this sweep)") from None
    for name in methods:
        check = get_method(name).check
        if check is not None:
            check(n, betas, chosen[name])
    config = SweepConfig(model, params, n, betas, Js, hs, int(samples), int(seed), methods, bool(sites), force,
                         settings=chosen, source=_source(model, params))
    if not force:
        estimate = estimate_time(config, first=first, limited_only=True)
        if estimate.over_limit:
            raise TooLargeError(estimate.refusal())
    return config


def result_bytes(model: str, params: dict, n: int, samples: int, n_beta: int, n_J: int, n_h: int,
                 methods, sites: bool) -> int:
    """Bytes of the result file's data before compression, from the schema (nothing is built).

    Every variable of :func:`isingvar.io.store.schema` of the sweep's methods,
    the coordinates and the stored instances (their edge count from the
    family's parameters, an upper bound).  Python ints: no overflow however large.
    """
    from .io.store import COORDS, schema

    fam = get_family(model)
    edges = fam.n_edges(params) if model != "file" else make_instance(model, params, 0, 0).n_edges
    sizes = {"sample": samples, "J": n_J, "h": n_h, "beta": n_beta, "site": n, "edge": edges}
    total = sum(sizes[name] * np.dtype(dtype).itemsize for name, (dtype, _, _) in COORDS.items())
    for var in schema(methods, sites).values():
        count = 1
        for dim in var.dims:
            count *= sizes[dim]
        total += count * np.dtype(var.dtype).itemsize
    return total


def check_result_size(model: str, params: dict, n: int, samples: int, n_beta: int, n_J: int, n_h: int,
                      methods, sites: bool) -> None:
    """Refuse a sweep whose result file (:func:`result_bytes`) exceeds :data:`MAX_RESULT_BYTES`.

    Raises
    ------
    TooLargeError
        Naming the size, the grid and the options that shrink it.
    """
    size = result_bytes(model, params, n, samples, n_beta, n_J, n_h, methods, sites)
    if size > MAX_RESULT_BYTES:
        grid = f"{samples} sample(s) x {n_J} J x {n_h} h x {n_beta} beta" + (f" x {n} sites" if sites else "")
        hint = ", --no-sites" if sites else ""
        raise TooLargeError(
            f"the result file would hold {size / 2**30:.3g} GiB ({grid}), more than the {MAX_RESULT_BYTES / 2**30:g} GiB "
            f"a sweep keeps in memory; use fewer --samples, --beta, --J or --h values{hint}, or split the sweep"
        )


def _probes(model, Js, hs) -> list:
    """Instances that time the methods over a (J, h) grid: (model, instances per sample) for the
    h values that leave every field zero (exact enumeration is symmetric there: half the work)
    and for the others, each at the largest |J|."""
    J = Js[np.argmax(np.abs(Js))]
    zero = [h for h in hs if not np.any(model.fields + h)]
    other = [h for h in hs if np.any(model.fields + h)]
    return [(model.scaled(J, group[0]), Js.size * len(group)) for group in (zero, other) if group]


@dataclass(frozen=True)
class TimeEstimate:
    """Estimated wall time of a sweep's instances, per method (:func:`estimate_time`)."""

    per_method: dict  #: method name -> seconds for ``instances`` instances
    instances: int
    n: int
    n_beta: int
    limits: dict = field(default_factory=dict)  #: method name -> its ``max_seconds`` (methods that have one)

    @property
    def seconds(self) -> float:
        """Total seconds of every method over ``instances`` instances."""
        return float(sum(self.per_method.values()))

    @property
    def over(self) -> list:
        """The methods whose estimate exceeds their ``max_seconds`` (the sweep then needs ``--force``)."""
        return [name for name, limit in self.limits.items() if self.per_method.get(name, 0.0) > limit]

    @property
    def over_limit(self) -> bool:
        """Whether a method's estimate exceeds its ``max_seconds``: the sweep is refused without ``--force``."""
        return bool(self.over)

    def refusal(self) -> str:
        """The one-line message of a refused sweep: the estimate, the limit, what to change."""
        from .exact import _human

        name = self.over[0]
        return (
            f"{name} on N = {self.n} spins ({self.n_beta} beta values, {self.instances} instance(s)) would take "
            f"about {_human(self.per_method[name])} here, over its {_human(self.limits[name])} limit; pass --force "
            f"to run it anyway, leave out --method {name} or shrink the grid"
        )


def estimate_time(config: SweepConfig, instances: int | None = None, *, first=None,
                  limited_only: bool = False) -> TimeEstimate:
    """Estimated wall time of ``instances`` instances of ``config`` (default: every instance).

    The one place that decides estimates and refusals (used by :func:`make_config`
    and ``--dry-run``): each method's ``cost`` (:mod:`isingvar.methods`) on
    sample 0 at the largest |J|, averaged over the grid's instances with zero
    and with non-zero fields, times ``instances``; a method with
    ``max_seconds`` (exact enumeration: :data:`isingvar.exact.MAX_SECONDS`)
    estimated above it refuses the sweep (:attr:`TimeEstimate.over_limit`)
    unless forced.  ``limited_only`` estimates only the methods that have a
    limit (what a refusal needs; :func:`make_config`).  ``first`` is sample 0
    when the caller has it.

    Raises
    ------
    TooLargeError
        From a method that cannot run at this N at all (its ``check``).
    """
    first = make_instance(config.model, config.params, config.seed, 0) if first is None else first
    count = len(config.instances()) if instances is None else instances
    probes = _probes(first, config.J, config.h)
    per = sum(c for _, c in probes)
    per_method, limits = {}, {}
    for name in config.methods:
        method, settings = get_method(name), config.method_settings(name)
        if method.max_seconds is not None:
            limits[name] = float(method.max_seconds)
        elif limited_only:
            continue
        secs = sum(method.cost(m, config.beta, settings, sites=config.sites) * c for m, c in probes) / per
        per_method[name] = secs * count
    return TimeEstimate(per_method, count, config.n, config.beta.size, limits)


def _source(model: str, params: dict) -> dict | None:
    """What a sweep records of its model file (file family only)."""
    if model != "file":
        return None
    from .io.couplings import read_model_file_cached

    f = read_model_file_cached(params["couplings"], params["format"])
    return {"file": Path(f.path).name, "sha256": f.sha256, "format": f.format, "lnZ_offset": f.lnZ_offset}


#: Options whose value is a grid (a range string, a number or a list of numbers in a config file).
GRID_OPTIONS = ("beta", "J", "h")


def read_config_file(path) -> dict:
    """Read a ``--config`` TOML file: option name (as on the command line, without ``--``) -> value.

    Grid options (``beta``, ``J``, ``h``) may be a range string, a number or an
    array of numbers; they are returned as the range string the command line
    takes.  A table ``[<method>]`` holds that method's settings; its keys are
    returned as ``<method>-<setting>`` (``[mf] max_sweeps = 50`` ->
    ``mf-max-sweeps``), the command line's ``--mf-max-sweeps``.  Which keys are
    valid is up to the caller (the CLI knows its options).

    Raises
    ------
    ConfigFileError
        If the file is missing, not UTF-8 text, not valid TOML (the message gives
        the line), a grid value has another type, or a table is not a method's.
    """
    import tomllib

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigFileError(f"config file {str(path)!r} does not exist") from None
    except OSError as e:
        raise ConfigFileError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigFileError(f"{path} is not valid TOML: {e}") from None
    except UnicodeDecodeError as e:  # TOML is UTF-8; tomllib decodes before it parses
        line = e.object[:e.start].count(b"\n") + 1
        raise ConfigFileError(f"{path}:{line}: not UTF-8 text (byte 0x{e.object[e.start]:02x}); a config file is TOML, saved as UTF-8") from None
    for key in [k for k, v in values.items() if isinstance(v, dict) and k not in GRID_OPTIONS]:
        if key not in all_methods():
            raise ConfigFileError(f"{path}: table [{key}] is not a method; tables are method settings: "
                                  f"{', '.join(f'[{m}]' for m in all_methods())}")
        for name, value in values.pop(key).items():
            values[f"{key}-{name.replace('_', '-')}"] = value
    for key in GRID_OPTIONS:
        if key not in values:
            continue
        value = values[key]
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in items):
            raise ConfigFileError(f"{path}: {key} must be a range string such as \"0.1:3:60\", a number or an array of numbers")
        values[key] = ",".join(repr(v) if isinstance(v, float) else str(v) for v in items)
    return values


def check_methods(methods) -> tuple:
    """Canonical tuple of method names (:func:`isingvar.methods.canonical`); the default methods when
    empty; :class:`ModelParameterError` for an unknown one."""
    return canonical(methods)


def default_output_path(config: SweepConfig, now: datetime | None = None) -> Path:
    """``runs/<model>-n<N>-<UTC timestamp>.h5``."""
    now = now or datetime.now(UTC)
    return Path("runs") / f"{config.model}-n{config.n}-{now.strftime('%Y%m%dT%H%M%SZ')}.h5"


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


# ------------------------------------------------------------------ shards
def parse_shard(spec: str | None, environ=None) -> tuple[int, int] | None:
    """``"i/n"`` or ``"slurm"`` -> (i, n) with 0 <= i < n; None -> None.

    ``slurm`` reads the job-array variables: i = (SLURM_ARRAY_TASK_ID - MIN) / STEP
    and n = SLURM_ARRAY_TASK_COUNT (or from SLURM_ARRAY_TASK_MIN/MAX), so
    ``sbatch --array=0-7`` gives shards 0/8 ... 7/8.

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
    """"i/n", or "" for a whole sweep (as stored in the file's ``shard`` attribute)."""
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


# ------------------------------------------------------------------ one instance
def progress_units(config: SweepConfig) -> float:
    """Progress units of one instance: the sum of its methods' ``progress_units``."""
    return float(sum(get_method(name).progress_units(config.n, config.beta, config.method_settings(name))
                     for name in config.methods))


def method_seed(name: str) -> int:
    """The integer that keys method ``name``'s random stream: its name's bytes (``mf`` -> 0x6D66)."""
    return int.from_bytes(name.encode(), "big")


def compute_instance(config: SweepConfig, k: int, a: int, b: int, progress=None) -> dict:
    """Every value of instance (sample k, J index a, h index b): variable name -> array over beta or scalar.

    Every method of the sweep runs (its ``run``, :mod:`isingvar.methods`) in
    canonical order, then the derived variables
    (:func:`isingvar.methods.derived_values`) are added.  Deterministic: the
    instance is drawn from ``rng([seed, k])`` and method m's random stream is
    ``rng([seed, k, method_seed(m), a, b])`` (mean field: 0x6D66), so a single
    run, a shard, a resume and a worker process compute the same numbers.
    ``progress(step, label)`` is called in units of :func:`progress_units`.
    For a model file, a method's ``file_hook`` adds its values of the file's
    own model (the instance at beta = 1, J = 1, h = 0).
    """
    model = make_instance(config.model, config.params, config.seed, k).scaled(config.J[a], config.h[b])
    label = f"sample {k} J={config.J[a]:g} h={config.h[b]:g}"
    values = {}
    for name in config.methods:
        method = get_method(name)
        rng = np.random.default_rng([config.seed, k, method_seed(name), a, b])
        step = (lambda units, name=name: progress(units, f"{label} {name}")) if progress else None
        found = method.run(model, config.beta, config.method_settings(name), rng, sites=config.sites, progress=step)
        if config.source is not None and method.file_hook is not None:
            found |= method.file_hook(found, config.beta, float(config.J[a]), float(config.h[b]), config.source)
        values |= found
    return values | derived_values(config.methods, values)


def _compute_task(task, progress=None):
    """Pool entry point: (config, instances) -> [(instance, values), ...]."""
    config, instances = task
    return [(inst, compute_instance(config, *inst, progress=progress)) for inst in instances]


#: Pool tasks per worker when instances are grouped (see :func:`task_groups`).
TASKS_PER_WORKER = 16


def task_groups(todo: list, workers: int, n: int) -> list[list]:
    """``todo`` split into consecutive groups, one pool task each.

    One instance per task from N = :data:`isingvar.exact.ESTIMATE_FROM_N`,
    where an instance takes long enough that a task's cost does not count and
    the finest grain balances best.  Below, about :data:`TASKS_PER_WORKER`
    tasks per worker: a task costs the pool about a millisecond (the config
    pickled, two pipes, a future), more than a small instance takes, so one
    task per instance made 20,000 samples of N = 8 slower on two workers
    (44 s) than in one process (13 s).
    """
    from .exact import ESTIMATE_FROM_N

    size = 1 if n >= ESTIMATE_FROM_N else -(-len(todo) // (TASKS_PER_WORKER * max(1, workers)))
    return [todo[i:i + size] for i in range(0, len(todo), size)]


#: From this many instances a sweep of small ones (N < 25) runs in worker processes by default.
MANY_INSTANCES = 2000


def default_workers(config: SweepConfig, cores: int) -> int:
    """Worker processes when ``--workers`` is not given: ``cores``, or 1 for a few small instances.

    Below N = 25 every method takes milliseconds per instance and the exact
    kernel already uses every core within an instance, so starting worker
    processes (spawn, imports, loading the compiled kernels: ~0.7 s) is won
    back only over many instances: N = 24, 8 samples, 0.89 s with one worker,
    1.29 s with two (docs/batch.md); sk N = 8, exact and mean field, 1,000
    samples 1.7 s and 1.6 s, 3,000 samples 4.1 s and 2.8 s (docs/performance.md).
    So one process below N = 25 unless the sweep has :data:`MANY_INSTANCES`.
    """
    from .exact import ESTIMATE_FROM_N

    small = config.n < ESTIMATE_FROM_N and len(config.instances()) < MANY_INSTANCES
    return 1 if small else cores


def choose_workers(requested: int | None, config: SweepConfig, cores: int) -> tuple[int, str | None]:
    """Worker processes for a sweep on ``cores`` cores, and a one-line note when a request was reduced.

    ``requested`` None: :func:`default_workers`.  More workers than cores only
    share the cores (each process also loads the kernels and holds its own
    instance), so a larger request is capped at ``cores``; the note says so (the
    CLI prints it as a warning).
    """
    if requested is None:
        return default_workers(config, cores), None
    if requested > cores:
        return cores, f"--workers {requested} is more than the {cores} core(s) this process may use; running {cores}"
    return requested, None


# ------------------------------------------------------------------ the run
#: A commit (one write of the whole file) may cost at most this fraction of the compute time since the last.
COMMIT_OVERHEAD = 0.05
#: Finished values held in memory before they are written and committed, whatever the time.
PENDING_BYTES = 64 << 20


def provenance(environ=None) -> dict:
    """Where and with what a file was written: versions, host, git commit when known, SLURM ids."""
    import platform
    import socket

    import h5py
    import numba

    environ = os.environ if environ is None else environ
    d = {
        "hostname": socket.gethostname(),
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "numba_version": numba.__version__,
        "h5py_version": h5py.__version__,
    }
    commit = _git_commit()
    if commit:
        d["git_commit"] = commit
    for var in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        if var in environ:
            d[var.lower()] = environ[var]
    return d


def _git_commit() -> str | None:
    # known only when running from a git checkout (editable install); "-dirty" marks local changes
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        r = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40"],
                           capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return r.stdout.strip() or None


#: Bytes of instances (couplings, fields) built before they are written to a new file in one block.
INSTANCE_BLOCK_BYTES = 32 << 20


def _new_file(config: SweepConfig, shard, command_line: str, check: Callable[[], None] = lambda: None):
    """The in-memory result file of a new sweep, every sample's instance stored.

    ``check()`` is called after each instance is built (it raises
    KeyboardInterrupt for a held signal); the file is closed if anything raises.
    """
    from .io import store

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
    f = store.open_new(coords=coords, attrs=attrs, methods=config.methods, sites=config.sites)
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
    """Raise :class:`ConfigMismatchError` unless the file with root ``attrs`` is this sweep (and shard)."""
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
    """Run ``run(config, out, ...)`` holding ``out`` (:func:`isingvar.io.store.hold_output`) from the first read to the last commit."""
    import functools

    @functools.wraps(run)
    def holding(config, out, **kwargs):
        from .io import store

        with store.hold_output(out):
            return run(config, out, **kwargs)

    return holding


@_holding_output
def run_sweep(
    config: SweepConfig,
    out,
    *,
    overwrite: bool = False,
    resume: bool = False,
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
    out : path-like
        Result file.
    overwrite : bool
        Replace an existing ``out`` (at the first commit).
    resume : bool
        Continue ``out``: compute only the instances not done.  A missing
        ``out`` is started afresh, so one command serves a job and its requeue.
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

    Raises
    ------
    OutputExistsError
        If ``out`` exists and neither ``overwrite`` nor ``resume`` is set (before any work).
    OutputBusyError
        If another process is writing ``out`` (exit code 75); ``out`` is held
        from before it is read until the last commit.
    OutputPathError, OutputWriteError
        If ``out`` cannot be written (see :func:`isingvar.io.store.replace_atomically`).
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
    from .interrupt import deferred_interrupt
    from .io import store

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
                store.check_output(out, overwrite)
                f = _new_file(config, shard, command_line, check)
            check()
            f.attrs.update(provenance())
            mine = shard_instances(config, shard)
            done = store.read_done(f)  # an instance flagged done over NaN values is computed again
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
                tasks = [(config, group) for group in task_groups(todo, getattr(pool, "workers", 1), config.n)]
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


__all__ = [
    "SweepConfig", "SweepSummary", "TimeEstimate", "compute_instance", "default_output_path", "estimate_time",
    "make_config", "parse_range", "parse_shard", "run_sweep", "shard_instances",
]
