"""Model families: generators of Ising instances from parameters and a seed.

Every family builds its couplings at unit scale; a sweep multiplies them by
the value on its J axis and adds the value on its h axis to every field
(:meth:`isingvar.model.IsingModel.scaled`).  Sample k of seed S is drawn from
``numpy.random.default_rng([S, k])``, so it is the same instance whatever the
number of samples, the grid or the order of execution.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError, ModelParameterError, UnknownModelError
from .model import IsingModel, check_size_limits

#: Largest seed and sample index: they are stored as int64 (file attributes, the sample
#: coordinate) and TOML integers are 64-bit, so a resumed or merged sweep reads back the same.
MAX_SEED = 2**63 - 1


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
    size: str  # N in terms of the parameters, for people ("N = L^2")
    n_spins: Callable[[dict], int]
    build: Callable[[dict, np.random.Generator], IsingModel]
    disordered: Callable[[dict], bool] = field(default=lambda p: False)
    #: upper bound on the coupled pairs of an instance, from the parameters alone (nothing built)
    n_edges: Callable[[dict], int] = field(default=lambda p: 0)


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


def _hypercubic_bonds(L, dim, boundary):
    """Nearest-neighbour bonds (i, j) of an L^dim lattice, row-major site numbering.

    For each axis, last first (so a square lattice lists right-hand bonds, then
    downward ones), the bond from every site to the next along it; periodic
    boundaries wrap, open ones drop the bonds that would leave the lattice.
    """
    shape = (L,) * dim
    grid = np.arange(L**dim).reshape(shape)
    i, j = [], []
    for axis in reversed(range(dim)):
        nxt = np.roll(grid, -1, axis=axis)  # the next site along the axis, wrapped
        if boundary != "periodic":  # drop the bonds that would leave the lattice
            inside = (slice(None),) * axis + (slice(0, L - 1),)
            i.append(np.ascontiguousarray(grid[inside]).ravel())
            j.append(np.ascontiguousarray(nxt[inside]).ravel())
        else:
            i.append(grid.ravel())
            j.append(nxt.ravel())
    return np.concatenate(i), np.concatenate(j)


def _build_lattice(dim, what):
    def build(p, rng):
        L = p["n"] if dim == 1 else p["L"]
        _check_periodic(p["boundary"], L, what)
        i, j = _hypercubic_bonds(L, dim, p["boundary"])
        J = _bond_values(p.get("disorder", "none"), i.size, rng)
        # only a periodic side of 2 lists a pair twice (both ways round): the sort of the merge costs
        # ~2 s at N = 10^6, so it runs only there
        return _merge_bonds(L**dim, i, j, J) if p["boundary"] == "periodic" and L <= 2 else IsingModel(L**dim, i, j, J)

    return build


def random_regular_graph(n: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Edges (i < j) of a random d-regular simple graph on n vertices.

    The configuration model: n d stubs paired by a random permutation
    (Bollobas, Eur. J. Combin. 1, 311 (1980)).  For d <= 4 pairings with a
    self-loop or a repeated edge are rejected and drawn again, which gives
    exactly the uniform law over simple d-regular graphs (about exp((d^2 -
    1)/4) <= 45 draws).  For larger d, or if 500 draws fail, the self-loops and
    repeats of one pairing are removed by double-edge switches with random
    other edges, which keep every degree (as in Viger & Latapy, COCOON 2005):
    simple and exactly d-regular, close to but not exactly uniform.  For
    d > (n - 1)/2 the graph is the
    complement of a random (n - 1 - d)-regular one (switches are easy in
    sparse graphs, stuck in nearly complete ones).

    Parameters
    ----------
    n : int
        Number of vertices.
    d : int
        Degree of every vertex, 0 <= d < n, with n d even.
    rng : numpy.random.Generator
        The source of randomness.

    Returns
    -------
    i : ndarray of int, shape (n d / 2,)
        First end of each edge.
    j : ndarray of int, shape (n d / 2,)
        Second end of each edge, i < j.

    Raises
    ------
    ModelParameterError
        If n d is odd or d >= n, or if no graph could be built (then another seed may succeed).
    """
    if (n * d) % 2 or not 0 <= d < n:
        raise ModelParameterError(
            f"a {d}-regular graph on {n} vertices does not exist (need n*d even and d < n); change --n or --degree"
        )
    if 2 * d > n - 1:
        i, j = random_regular_graph(n, n - 1 - d, rng) if d < n - 1 else (np.zeros(0, np.int64),) * 2
        complete = np.ones((n, n), dtype=bool)
        complete[i, j] = False
        return np.nonzero(np.triu(complete, k=1))
    for _ in range(500 if d <= 4 else 0):
        _, _, key, good = _pairing(n, d, rng)
        if good.all():
            key.sort()
            return key // n, key % n
    for _ in range(100):  # a repair can get stuck in tiny graphs: pair afresh
        key = _repaired_pairing(n, d, rng)
        if key is not None:
            key.sort()
            return key // n, key % n
    raise ModelParameterError(f"could not build a {d}-regular graph on {n} vertices; try another --seed")


def _pairing(n, d, rng):
    """A random pairing of n d stubs: (lo, hi, key = lo * n + hi, good), good false on
    self-loops and on repeats of an earlier edge."""
    pairs = rng.permutation(np.repeat(np.arange(n), d)).reshape(-1, 2)
    lo, hi = pairs.min(axis=1), pairs.max(axis=1)
    key = lo * n + hi
    _, first = np.unique(key, return_index=True)
    good = np.zeros(key.size, dtype=bool)
    good[first] = True
    good &= lo != hi
    return lo, hi, key, good


def _repaired_pairing(n, d, rng):
    """Keys i * n + j (i < j) of a random pairing with self-loops and repeats
    switched away; None if the switches get stuck."""
    lo, hi, key, good = _pairing(n, d, rng)
    seen = set(key[good].tolist())
    bad = np.flatnonzero(~good).tolist()
    for _ in range(100 * (len(bad) + 1)):
        if not bad:
            return key
        k = bad[-1]
        m = int(rng.integers(key.size))
        a, b = int(lo[k]), int(hi[k])
        c, e = (int(lo[m]), int(hi[m])) if rng.random() < 0.5 else (int(hi[m]), int(lo[m]))
        k1, k2 = min(a, c) * n + max(a, c), min(b, e) * n + max(b, e)
        if a == c or b == e or k1 == k2 or k1 in seen or k2 in seen or m in bad:
            continue
        seen.discard(int(key[m]))
        seen.update((k1, k2))
        key[k], key[m] = k1, k2
        lo[k], hi[k], lo[m], hi[m] = k1 // n, k1 % n, k2 // n, k2 % n
        bad.pop()
    return None


def _build_rrg(p, rng):
    i, j = random_regular_graph(p["n"], p["degree"], rng)
    return IsingModel(p["n"], i, j, _bond_values(p["disorder"], i.size, rng))


def _build_file(p, rng):
    from .io.couplings import read_model_file_cached

    return read_model_file_cached(p["couplings"], p["format"]).model


def _file_n(p):
    return _build_file(p, None).n


def _all_pairs(p):
    return p["n"] * (p["n"] - 1) // 2


_BOUNDARY = Param("boundary", str, "boundary conditions", "periodic", ("periodic", "open"))
_N = Param("n", int, "number of spins N", minimum=1)
_DISORDER = Param("disorder", str, "bond disorder: 1, N(0,1) or +-1", "none", ("none", "gaussian", "pm"))
_FORMATS = ("auto", "uai", "fg", "npz", "npy", "edges")

_L = Param("L", int, "linear size L", minimum=1)

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "sk",
            "Sherrington-Kirkpatrick spin glass (all pairs, Gaussian couplings)",
            "J_ij = J0/N + g_ij/sqrt(N), g_ij ~ N(0,1), all i<j; h_i = 0",
            (_N, Param("J0", float, "mean coupling times N, in units of the J axis", 0.0)),
            "N = n",
            lambda p: p["n"],
            _build_sk,
            lambda p: True,
            _all_pairs,
        ),
        Family(
            "curie-weiss",
            "Curie-Weiss ferromagnet (all pairs, equal couplings)",
            "J_ij = 1/N, all i<j; h_i = 0",
            (_N,),
            "N = n",
            lambda p: p["n"],
            _build_curie_weiss,
            n_edges=_all_pairs,
        ),
        Family(
            "chain",
            "one-dimensional nearest-neighbour chain",
            "J_{i,i+1} = 1 (periodic: also J_{N-1,0}; for N = 2 the two bonds add to 2); h_i = 0",
            (_N, _BOUNDARY),
            "N = n",
            lambda p: p["n"],
            _build_lattice(1, "chain"),
            n_edges=lambda p: p["n"],
        ),
        Family(
            "square",
            "L x L square lattice, nearest neighbours",
            "J_ij on the bonds to the right and below each site, each bond once: 1, N(0,1) or +-1 "
            "(--disorder); periodic L = 2: the two bonds joining a pair add up; h_i = 0",
            (_L, _BOUNDARY, _DISORDER),
            "N = L^2",
            lambda p: p["L"] ** 2,
            _build_lattice(2, "square lattice"),
            lambda p: p["disorder"] != "none",
            lambda p: 2 * p["L"] ** 2,
        ),
        Family(
            "cubic",
            "L x L x L simple cubic lattice, nearest neighbours (3-d Edwards-Anderson with disorder)",
            "J_ij on the bonds along +x, +y, +z from each site, each bond once: 1, N(0,1) or +-1 "
            "(--disorder); periodic L = 2: the two bonds joining a pair add up; h_i = 0",
            (_L, _BOUNDARY, _DISORDER),
            "N = L^3",
            lambda p: p["L"] ** 3,
            _build_lattice(3, "cubic lattice"),
            lambda p: p["disorder"] != "none",
            lambda p: 3 * p["L"] ** 3,
        ),
        Family(
            "rrg",
            "random regular graph of degree d (Viana-Bray-type spin glass with disorder)",
            "J_ij on the N d/2 edges of a random d-regular simple graph: 1, N(0,1) or +-1 (--disorder); h_i = 0",
            (_N, Param("degree", int, "degree d of every vertex", 3, minimum=1), _DISORDER),
            "N = n",
            lambda p: p["n"],
            _build_rrg,
            lambda p: True,
            lambda p: p["n"] * p["degree"] // 2,
        ),
        Family(
            "file",
            "couplings and fields read from a file: UAI, libDAI .fg, .npz, .npy or an edge list",
            "as in the file (UAI/.fg potentials converted at beta = 1 with s = 2x - 1, ln Z of the file = "
            "ln Z + lnZ_offset); the J axis multiplies every J_ij, the h axis adds to every h_i",
            (
                Param("couplings", Path, "path of the model file"),
                Param("format", str, "file format (auto: from the extension)", "auto", _FORMATS),
            ),
            "N from the file",
            _file_n,
            _build_file,
        ),
    )
}

def get_family(name: str) -> Family:
    """The family called ``name``; :class:`UnknownModelError` lists the known ones.

    Parameters
    ----------
    name : str
        Family name, a key of :data:`FAMILIES`.

    Returns
    -------
    Family
        The family.

    Raises
    ------
    UnknownModelError
        If there is no family ``name``; its message lists the known ones.
    """
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
        n_spins(name, out)  # read the file now so that a bad one fails before any work (the reader checks its size)
    else:
        try:  # from the parameters alone, before anything is built
            check_size_limits(fam.n_spins(out), fam.n_edges(out))
        except ModelError as e:
            sizes = ", ".join(f"--{p.name}" for p in fam.params if p.kind is int)
            raise ModelParameterError(f"model {name!r}: {e}; choose a smaller {sizes}") from None
    return out


def n_spins(name: str, params: dict) -> int:
    """Number of spins N of family ``name`` with resolved ``params``.

    Parameters
    ----------
    name : str
        Family name.
    params : dict
        Parameters as :func:`resolve_params` returns them.

    Returns
    -------
    int
        N.
    """
    return get_family(name).n_spins(params)


def is_disordered(name: str, params: dict) -> bool:
    """Whether instances differ between samples (so several samples make sense).

    Parameters
    ----------
    name : str
        Family name.
    params : dict
        Parameters as :func:`resolve_params` returns them.

    Returns
    -------
    bool
        True when instances differ between samples.
    """
    return get_family(name).disordered(params)


def check_seed(seed: int, sample: int = 0) -> None:
    """Refuse a seed or sample index outside 0..:data:`MAX_SEED` (:class:`ModelParameterError`).

    Parameters
    ----------
    seed : int
        The seed.
    sample : int
        The sample index.

    Raises
    ------
    ModelParameterError
        If ``seed`` or ``sample`` is outside 0..:data:`MAX_SEED`.
    """
    for name, value in (("--seed", seed), ("--sample", sample)):
        if not 0 <= value <= MAX_SEED:
            raise ModelParameterError(f"{name} must be in 0..2^63-1 ({MAX_SEED}), got {value}")


def sample_rng(seed: int, sample: int) -> np.random.Generator:
    """The generator of sample ``sample`` of seed ``seed`` (both in 0..:data:`MAX_SEED`).

    Parameters
    ----------
    seed : int
        The seed, in 0..:data:`MAX_SEED`.
    sample : int
        The sample index, in 0..:data:`MAX_SEED`.

    Returns
    -------
    numpy.random.Generator
        ``numpy.random.default_rng([seed, sample])``.
    """
    return np.random.default_rng([int(seed), int(sample)])


def make_instance(name: str, params: dict, seed: int, sample: int) -> IsingModel:
    """Instance ``sample`` of family ``name`` (unit couplings scale, fields as built).

    The same (name, params, seed, sample) always gives the same instance.  The
    last two built are kept, and more up to :data:`INSTANCE_CACHE_BYTES` (their
    arrays are read-only): a sweep asks for a sample when it creates its file
    and once per (J, h) point, for sample 0 several times, and a random
    regular graph of 10^6 spins takes seconds to build.  (The file
    family has its own cache, keyed by the file's size and mtime.)

    Parameters
    ----------
    name : str
        Family name.
    params : dict
        Parameters as :func:`resolve_params` returns them.
    seed : int
        The seed, in 0..:data:`MAX_SEED`.
    sample : int
        The sample index, in 0..:data:`MAX_SEED`.

    Returns
    -------
    IsingModel
        The instance.

    Raises
    ------
    ModelParameterError
        For a seed or sample outside 0..:data:`MAX_SEED`.
    """
    check_seed(seed, sample)
    if name == "file":
        return get_family(name).build(params, sample_rng(seed, sample))
    return _instance(name, json.dumps(params, sort_keys=True, default=str), int(seed), int(sample))


#: Bytes of instances :func:`make_instance` keeps (besides the last two, whatever their size): a
#: sweep builds every sample when it creates its file and again when it computes it, so a disorder
#: average over 20,000 samples of N = 8 (~2 kB each) is built once, not twice.
INSTANCE_CACHE_BYTES = 64 * 2**20
_CACHE: OrderedDict = OrderedDict()  # key -> (model, bytes), least recently used first
_CACHED_BYTES = [0]


def _instance(name, params_json, seed, sample):
    key = (name, params_json, seed, sample)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key][0]
    model = get_family(name).build(json.loads(params_json), sample_rng(seed, sample))
    size = sum(a.nbytes for a in vars(model).values() if isinstance(a, np.ndarray))
    _CACHE[key] = (model, size)
    _CACHED_BYTES[0] += size
    while len(_CACHE) > 2 and _CACHED_BYTES[0] > INSTANCE_CACHE_BYTES:
        _CACHED_BYTES[0] -= _CACHE.popitem(last=False)[1][1]
    return model
