"""Model families: generators of Ising instances from parameters and a seed.

Every family builds its couplings at unit scale; a sweep multiplies them by
the value on its J axis and adds the value on its h axis to every field
(:meth:`isingvar.model.IsingModel.scaled`).  Sample k of seed S is drawn from
``numpy.random.default_rng([S, k])``, so it is the same instance whatever the
number of samples, the grid or the order of execution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelParameterError, UnknownModelError
from .model import IsingModel


@dataclass(frozen=True)
class Param:
    """One parameter of a family, as it appears on the command line (``--name``)."""

    name: str
    kind: type
    help: str
    default: Any = None  # None: required
    choices: tuple = ()
    minimum: float | None = None


@dataclass(frozen=True)
class Family:
    """A model family: its parameters, energy and generator."""

    name: str
    summary: str
    energy: str
    params: tuple[Param, ...]
    n_spins: Callable[[dict], int]
    build: Callable[[dict, np.random.Generator], IsingModel]
    disordered: Callable[[dict], bool] = field(default=lambda p: False)


def _merge_bonds(n, i, j, J):
    """Sum bonds that join the same pair into one edge (periodic L = 2 or N = 2)."""
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    key, inverse = np.unique(lo * n + hi, return_inverse=True)
    total = np.zeros(key.size)
    np.add.at(total, inverse, J)
    return IsingModel(n, key // n, key % n, total)


def _bond_values(disorder, size, rng):
    if disorder == "gaussian":
        return rng.standard_normal(size)
    if disorder == "pm":
        return 2.0 * rng.integers(0, 2, size) - 1.0
    return np.ones(size)


def _check_periodic(boundary, length, what):
    if boundary == "periodic" and length < 2:
        raise ModelParameterError(
            f"a periodic {what} needs at least 2 sites per side (a 1-site ring couples a "
            "spin to itself); use --boundary open or a larger size"
        )


def _build_sk(p, rng):
    n = p["n"]
    i, j = np.triu_indices(n, k=1)
    J = p["J0"] / n + rng.standard_normal(i.size) / np.sqrt(n)
    return IsingModel(n, i, j, J)


def _build_curie_weiss(p, rng):
    n = p["n"]
    i, j = np.triu_indices(n, k=1)
    return IsingModel(n, i, j, np.full(i.size, 1.0 / n))


def _build_chain(p, rng):
    n = p["n"]
    _check_periodic(p["boundary"], n, "chain")
    i = np.arange(n if p["boundary"] == "periodic" else n - 1)
    return _merge_bonds(n, i, (i + 1) % n, np.ones(i.size))


def _build_square(p, rng):
    L = p["L"]
    _check_periodic(p["boundary"], L, "square lattice")
    r, c = np.divmod(np.arange(L * L), L)
    if p["boundary"] == "periodic":
        i = np.concatenate([r * L + c, r * L + c])
        j = np.concatenate([r * L + (c + 1) % L, ((r + 1) % L) * L + c])
    else:
        right = c < L - 1
        down = r < L - 1
        i = np.concatenate([(r * L + c)[right], (r * L + c)[down]])
        j = np.concatenate([(r * L + c + 1)[right], ((r + 1) * L + c)[down]])
    return _merge_bonds(L * L, i, j, _bond_values(p["disorder"], i.size, rng))


def _build_file(p, rng):
    from .io.couplings import read_couplings_cached

    return read_couplings_cached(p["couplings"])


def _file_n(p):
    return _build_file(p, None).n


_BOUNDARY = Param("boundary", str, "boundary conditions", "periodic", ("periodic", "open"))
_N = Param("n", int, "number of spins N", minimum=1)

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "sk",
            "Sherrington-Kirkpatrick spin glass (all pairs, Gaussian couplings)",
            "J_ij = J0/N + g_ij/sqrt(N), g_ij ~ N(0,1), all i<j; h_i = 0",
            (_N, Param("J0", float, "mean coupling times N, in units of the J axis", 0.0)),
            lambda p: p["n"],
            _build_sk,
            lambda p: True,
        ),
        Family(
            "curie-weiss",
            "Curie-Weiss ferromagnet (all pairs, equal couplings)",
            "J_ij = 1/N, all i<j; h_i = 0",
            (_N,),
            lambda p: p["n"],
            _build_curie_weiss,
        ),
        Family(
            "chain",
            "one-dimensional nearest-neighbour chain",
            "J_{i,i+1} = 1 (periodic: also J_{N-1,0}; for N = 2 the two bonds add to 2); h_i = 0",
            (_N, _BOUNDARY),
            lambda p: p["n"],
            _build_chain,
        ),
        Family(
            "square",
            "L x L square lattice, nearest neighbours (N = L^2)",
            "bonds to the right and below each site, each bond once, value 1, N(0,1) or +-1 "
            "(--disorder); periodic L = 2: the two bonds joining a pair add up; h_i = 0",
            (
                Param("L", int, "linear size L (N = L^2)", minimum=1),
                _BOUNDARY,
                Param("disorder", str, "bond disorder", "none", ("none", "gaussian", "pm")),
            ),
            lambda p: p["L"] ** 2,
            _build_square,
            lambda p: p["disorder"] != "none",
        ),
        Family(
            "file",
            "couplings and fields read from a file (.npz with J and h, or an edge list)",
            "as in the file; the J axis multiplies every J_ij, the h axis adds to every h_i",
            (Param("couplings", Path, "path of the couplings file"),),
            _file_n,
            _build_file,
        ),
    )
}

#: The model run by ``isingvar sweep`` with no arguments.
DEFAULT_MODEL = ("sk", {"n": 16})


def get_family(name: str) -> Family:
    """The family called ``name``; :class:`UnknownModelError` lists the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; choose one of: {', '.join(FAMILIES)}"
        ) from None


def resolve_params(name: str, given: dict) -> dict:
    """Fill in defaults and check the parameters of family ``name``.

    Parameters
    ----------
    name : str
        Family name.
    given : dict
        Parameters the user set (values of None are treated as unset).

    Returns
    -------
    dict
        Every parameter of the family, JSON-serialisable (paths as str).

    Raises
    ------
    UnknownModelError, ModelParameterError
        For an unknown family, a parameter that does not belong to it, a
        missing required one, a value out of range or not among the choices.
    """
    fam = get_family(name)
    given = {k: v for k, v in given.items() if v is not None}
    known = {p.name for p in fam.params}
    extra = sorted(set(given) - known)
    if extra:
        allowed = ", ".join(f"--{p.name}" for p in fam.params)
        raise ModelParameterError(
            f"--{extra[0]} does not apply to model {name!r}; its parameters are: {allowed}"
        )
    out = {}
    for p in fam.params:
        value = given.get(p.name, p.default)
        if value is None:
            raise ModelParameterError(f"model {name!r} needs --{p.name} ({p.help})")
        try:
            value = p.kind(value)
        except (TypeError, ValueError):
            raise ModelParameterError(f"--{p.name} must be a {p.kind.__name__}, got {value!r}") from None
        if p.choices and value not in p.choices:
            raise ModelParameterError(f"--{p.name} must be one of {', '.join(p.choices)}; got {value!r}")
        if p.minimum is not None and value < p.minimum:
            raise ModelParameterError(f"--{p.name} must be at least {p.minimum}, got {value}")
        out[p.name] = str(value) if isinstance(value, Path) else value
    if name == "file":
        n_spins(name, out)  # read the file now so that a bad one fails before any work
    return out


def n_spins(name: str, params: dict) -> int:
    """Number of spins N of family ``name`` with resolved ``params``."""
    return get_family(name).n_spins(params)


def is_disordered(name: str, params: dict) -> bool:
    """Whether instances differ between samples (so several samples make sense)."""
    return get_family(name).disordered(params)


def sample_rng(seed: int, sample: int) -> np.random.Generator:
    """The generator of sample ``sample`` of seed ``seed`` (both >= 0)."""
    return np.random.default_rng([int(seed), int(sample)])


def make_instance(name: str, params: dict, seed: int, sample: int) -> IsingModel:
    """Instance ``sample`` of family ``name`` (unit couplings scale, fields as built).

    The same (name, params, seed, sample) always gives the same instance.
    """
    return get_family(name).build(params, sample_rng(seed, sample))
