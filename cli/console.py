"""The consoles of the ``isingvar`` command line and text they can write: stdout and stderr that never fail
on a character they cannot encode (ASCII stand-ins), plain-text table rows and number formatting."""

from __future__ import annotations

import codecs
import math
import sys

from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)

#: ASCII stand-ins for the non-ASCII characters isingvar prints, for a stdout/stderr that cannot
#: encode them (PYTHONIOENCODING=ascii, LANG=C on an old system); anything else becomes "?".
ASCII_FALLBACK = {"±": "+/-", "…": "...", "—": "-", "–": "-", "×": "x", "−": "-", "≤": "<=", "≥": ">=", "β": "beta",
                  "\u0302": "hat"}  # k̂ (k and a combining circumflex) becomes khat


def _ascii_fallback(error):
    """Codec error handler: :data:`ASCII_FALLBACK` for what the stream cannot encode."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start:error.end]
    return "".join(ASCII_FALLBACK.get(c, "?") for c in bad), error.end


codecs.register_error("isingvar-ascii", _ascii_fallback)


def _encodable(text: str, console: Console | None = None) -> str:
    """``text`` as the console's stream can write it: non-encodable characters replaced as in
    :data:`ASCII_FALLBACK`.  Table cells go through this, so that rich measures the text it writes."""
    encoding = (console or out).encoding
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        return text.encode(encoding, errors="isingvar-ascii").decode(encoding, errors="replace")


def _add_row(table: Table, *cells: str) -> None:
    """``table.add_row`` with every cell :func:`_encodable`, as plain text (never read as rich markup:
    ``[periodic|open]`` stays)."""
    from rich.text import Text

    table.add_row(*(Text(_encodable(c)) for c in cells))


def _info_grid() -> Table:
    """A two-column grid of name and value (``show``, ``--dry-run``): the value wraps between words and
    breaks a word longer than the line (a path) rather than cut it."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    return grid


def _tolerant_streams():
    """Let stdout and stderr write any text: what they cannot encode is replaced, never an error."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and stream.errors == "strict":
            try:
                "±…—×".encode(stream.encoding or "ascii")
            except UnicodeEncodeError:
                stream.reconfigure(errors="isingvar-ascii")
            except LookupError:
                pass


def _fmt(x: float, se: float = math.nan) -> str:
    """x to 6 digits, or x ± se both to the second significant digit of se."""
    if math.isnan(x):
        return _encodable("—")
    if not math.isfinite(se) or not math.isfinite(x) or se <= 1e-7 * abs(x):
        return f"{x:.6g}"
    d = max(0, 1 - math.floor(math.log10(se)))
    return _encodable(f"{x:.{d}f} ± {se:.{d}f}")


def _duration(secs: float) -> str:
    if secs < 60:
        return f"{secs:.1f} s"
    if secs < 3600:
        return f"{secs / 60:.1f} min"
    return f"{secs / 3600:.1f} h"
