"""The grid syntax of ``--beta``, ``--J`` and ``--h`` (:func:`parse_range`: ``a:b:n``, ``log:a:b:n``, lists)
and the checks of a grid axis's values (finite, distinct, beta >= 0 and not subnormal)."""

from __future__ import annotations

import re

import numpy as np

from ..errors import GridError, RangeSpecError

#: Most values one grid axis (beta, J or h) may have: every value is stored as text in the
#: file's configuration attributes (~20 bytes each) and mean field runs two passes per beta.
MAX_AXIS_POINTS = 100_000


_NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"  # ASCII digits: no '1_0', no other scripts


def parse_range(spec: str, name: str = "value") -> np.ndarray:
    """Parse a grid specification into a float64 array.

    A comma-separated list of items, each ``a:b:n`` (n points from a to b
    inclusive, ``numpy.linspace``), ``log:a:b:n`` (n log-spaced points,
    a, b > 0) or a single number; e.g. ``0,0.1:1:10``.

    Parameters
    ----------
    spec : str
        The specification (anything else is converted with ``str``).
    name : str, default "value"
        The option's name, for the error messages (``--name``).

    Returns
    -------
    ndarray of float64, shape (count,)
        The grid values in the order given.

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


#: Least positive beta: the smallest normal float64.  Below it f = -ln Z/(beta N) overflows (ln Z >= N ln 2
#: at beta -> 0), and beta J_ij, beta h_i lose their precision (subnormal).
MIN_POSITIVE_BETA = float(np.finfo(np.float64).tiny)


def _check_betas(betas: np.ndarray) -> np.ndarray:
    """Refuse a positive beta below :data:`MIN_POSITIVE_BETA` (0 itself is allowed: infinite temperature).

    Raises
    ------
    GridError
        Naming ``--beta``, the value and the least positive beta.
    """
    tiny = betas[(betas > 0) & (betas < MIN_POSITIVE_BETA)]
    if tiny.size:
        raise GridError(
            f"--beta {tiny.min():g} is positive but below {MIN_POSITIVE_BETA:.3g}, the smallest normal float64: "
            f"f = -ln Z/(beta N) overflows there; use 0 (infinite temperature) or a beta >= {MIN_POSITIVE_BETA:.3g}"
        )
    return betas
