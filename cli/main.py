"""The ``isingvar`` command line: parsing, progress and tables; no physics.

Every computation is a call into the :mod:`isingvar` library, imported inside
the command that needs it so that ``isingvar --help`` stays fast.
"""

from __future__ import annotations

import codecs
import json
import math
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from isingvar import ENERGY_CONVENTION, __version__
from isingvar.errors import IsingvarError

app = typer.Typer(
    rich_markup_mode="markdown",  # not "rich": "rng([seed, k])" would be read as a markup tag
    add_completion=False,
    no_args_is_help=False,
    help=(
        "Exact free energies and mean-field variational bounds of Ising models, swept over "
        "beta, couplings and disorder samples, written to HDF5.\n\n"
        f"Convention: {ENERGY_CONVENTION}."
    ),
)
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

EXIT_INTERRUPTED = 130


def _fail(message: str, code: int = 2):
    # one plain line: rich would wrap long messages over several
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _user_errors():
    """Turn library errors into a one-line message and a non-zero exit."""
    try:
        yield
    except IsingvarError as e:
        _fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted; no result file was written", EXIT_INTERRUPTED)


def _version(value: bool):
    if value:
        typer.echo(f"isingvar {__version__}")
        raise typer.Exit()


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    # the library's warnings (numba cannot cache, ...) as one line, without a source excerpt
    typer.echo(f"warning: {message}", err=True)


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
):
    """isingvar: exact where possible, rigorously bounded where not."""
    import warnings

    _tolerant_streams()
    warnings.showwarning = _one_line_warning


def _fmt(x: float, se: float = math.nan) -> str:
    """x to 6 digits, or x ± se both to the second significant digit of se."""
    if math.isnan(x):
        return _encodable("—")
    if not math.isfinite(se) or not math.isfinite(x) or se <= 1e-7 * abs(x):
        return f"{x:.6g}"
    d = max(0, 1 - math.floor(math.log10(se)))
    return _encodable(f"{x:.{d}f} ± {se:.{d}f}")


# ------------------------------------------------------------------ tables that read at any width
# A cell is either whole (a number, "x ± se", a name: never broken, never cut) or text that may wrap
# between words (a reason, a description).  A table whose columns do not fit the console side by side
# is split into several tables with fewer columns, each repeating the key column(s) (beta, the model,
# the method), rather than letting rich shrink a column below its longest number or word (which cuts
# it: "-13.89…").  Where even one column beside the key does not fit, that table is printed wider than
# the console: a line runs over, nothing is cut.

#: Width of a boxed rich table beyond its columns' content: one padding space each side of a cell and a
#: rule between (and around) the cells.
_CELL_EXTRA = 3


class _Column:
    """One column of :func:`_tables`: a header (wraps between words), its cells and, per cell, whether it
    is whole (never broken) or wraps between words."""

    def __init__(self, header: str, cells: list, whole, justify: str = "left"):
        self.header = _encodable(header)
        self.cells = [_encodable(c) for c in cells]
        self.whole = [whole] * len(cells) if isinstance(whole, bool) else list(whole)
        self.justify = justify

    def widths(self) -> tuple[int, int]:
        """(least, natural) content width: the least keeps every whole cell and every word on one line."""
        from rich.cells import cell_len

        least, natural = 1, 1
        for text, whole in [(self.header, False), *zip(self.cells, self.whole)]:
            lines = text.split("\n")
            natural = max(natural, *(cell_len(line) for line in lines))
            parts = lines if whole else [word for line in lines for word in line.split()]
            least = max(least, *(cell_len(p) for p in parts), 1)
        return least, natural


def _groups(least: list, key: int, width: int) -> list[list[int]]:
    """Column indices of each table: the ``key`` first columns in every one, then as many of the others
    (in order) as fit in ``width`` at their least widths; at least one each."""
    groups, current = [], list(range(key))
    for i in range(key, len(least)):
        if len(current) > key and sum(least[k] + _CELL_EXTRA for k in current + [i]) + 1 > width:
            groups.append(current)
            current = list(range(key))
        current.append(i)
    groups.append(current)
    return groups


def _fit(least: list, natural: list, width: int) -> list[int]:
    """Content widths of one table's columns: natural, the widest narrowed first (never below its least)
    until the table fits ``width``."""
    widths = list(natural)
    excess = sum(w + _CELL_EXTRA for w in widths) + 1 - width
    while excess > 0:
        i = max(range(len(widths)), key=lambda k: (widths[k] - least[k] > 0, widths[k]))
        if widths[i] <= least[i]:
            break
        widths[i] -= 1
        excess -= 1
    return widths


def _tables(title: str, columns: list, *, key: int = 1, width: int | None = None, **table_options) -> list:
    """``columns`` (:class:`_Column`) as one rich Table, or as several with fewer columns (the ``key`` first
    columns repeated in each) where they do not fit ``width`` (default the console's) side by side; the
    title says "(part i of n)".  No number or word is ever cut: every column is at least as wide as its
    widest whole cell and its longest word."""
    from rich.text import Text

    width = width or out.width
    measured = [c.widths() for c in columns]
    least, natural = [m[0] for m in measured], [m[1] for m in measured]
    groups = _groups(least, key, width)
    tables = []
    for n, group in enumerate(groups, start=1):
        part = f" (part {n} of {len(groups)})" if len(groups) > 1 else ""
        table = Table(title=_encodable(title + part), title_justify="left", **table_options)
        for col, w in zip(group, _fit([least[i] for i in group], [natural[i] for i in group], width)):
            c = columns[col]
            table.add_column(Text(c.header), justify=c.justify, width=w, overflow="fold")
        for r in range(len(columns[0].cells)):
            table.add_row(*(Text(columns[col].cells[r]) for col in group))
        tables.append(table)
    return tables


def _print_tables(tables: list) -> None:
    """Print each table at the console's width, or wider where its columns need more (never cut)."""
    from rich.segment import Segments

    for table in tables:
        needed = sum(c.width + _CELL_EXTRA for c in table.columns) + 1
        if needed <= out.width:
            out.print(table)
        else:
            out.print(Segments(out.render(table, out.options.update_width(needed))), crop=False)


def _bounds_tables(rows, title: str, free_energies: dict, labels: dict | None = None, width: int | None = None) -> list:
    """Sample means (± standard error with several samples) against beta, from
    :func:`isingvar.report.bounds_table`: each lower bound on f (certified, then probabilistic), the exact
    f, each estimate of f (an approximation or a Monte Carlo estimate, ± its standard error; not a bound),
    each upper bound (probabilistic, then certified), then the width of the interval the bounds give;
    without a lower bound, the gap of the upper bound above the exact f and each kl_<method> instead.
    Where a value is withheld or not computed its cell holds the reason (``<name>_reason``) in place of
    the number.  ``free_energies`` is :func:`isingvar.report.free_energy_names`; ``labels`` column name ->
    header (:func:`_column_labels`: a probabilistic bound says its probability).

    One table, or where the columns do not fit ``width`` (default: the console's) several with beta
    repeated in each (:func:`_tables`): a number (``x ± se`` included) is never cut or broken over lines;
    a reason and a header wrap between words."""
    f = free_energies
    lower = [*f["lower"], *f.get("lower_prob", ())]
    names = ["beta", *lower, *f["exact"][:1], *f.get("estimate", ()), *f.get("upper_prob", ()), *f["upper"]]
    names += ["width"] if "width" in rows[0] else ["gap", *(k for k in rows[0] if k.startswith("kl_") and not k.endswith("_se"))]
    # columns of a method that did not run would only hold dashes
    names = [k for k in names if k in rows[0] and any(not math.isnan(r[k]) or r.get(f"{k}_reason") for r in rows)]
    columns = []
    for name in names:
        reasons = [r.get(f"{name}_reason") for r in rows]
        cells = [why or _fmt(r[name], r.get(f"{name}_se", math.nan)) for r, why in zip(rows, reasons)]
        columns.append(_Column((labels or {}).get(name, name), cells, [not why for why in reasons], justify="right"))
    return _tables(title, columns, key=1, width=width)


def _column_labels(result: dict, probabilistic: bool) -> dict:
    """Headers of the bounds table that differ from the column's name: each probabilistic bound on f and,
    when the interval joins them, ``width`` say with what probability they hold, e.g.
    ``f_ar_upper_prob (p ≥ 0.99)`` (``(probabilistic)`` where the file gives no delta)."""
    from isingvar.report import bound_delta, free_energy_names, interval_delta

    def p(delta):
        return "probabilistic" if delta is None else f"p ≥ {1 - delta:g}"

    f = free_energy_names(result)
    labels = {name: f"{name} ({p(bound_delta(result, name))})" for name in f["lower_prob"] + f["upper_prob"]}
    delta = interval_delta(result, probabilistic)
    if delta != 0:
        labels["width"] = f"width ({p(delta)})"
    return labels


def _betas_text(betas) -> str:
    """Beta values for a message: all of them up to 8, else the first four, the last two and how many."""
    text = [f"{b:g}" for b in betas]
    if len(text) <= 8:
        return ", ".join(text)
    return ", ".join(text[:4]) + ", …, " + ", ".join(text[-2:]) + f" ({len(text)} values)"


def _failure_lines(result: dict) -> list[str]:
    """One line per method with points it could not compute or withheld
    (:func:`isingvar.report.failures`), e.g. ``exact: not computed at beta = 3, 3.5
    (precision_not_confirmed; 1 instance)``; several reasons are joined by ``, at beta = ...``."""
    from isingvar.report import failures, withheld_verb

    lines = []
    for method, items in failures(result).items():
        parts = [f"at beta = {_betas_text(betas)} ({reason}; {n} instance{'s' * (n != 1)})" for reason, betas, n in items]
        lines.append(f"{method}: {withheld_verb(result, method)} " + ", ".join(parts))
    return lines


def _print_failures(result: dict) -> None:
    """:func:`_failure_lines` on stderr, one plain line each."""
    for line in _failure_lines(result):
        typer.echo(_encodable(line, err), err=True)


INTERVAL_OPTION = typer.Option(
    "certified", "--interval",
    help="Interval on f of the width column and the shaded band: certified (the certified bounds; default) or "
         "probabilistic (also the bounds that hold with probability >= 1 - delta).", rich_help_panel="Output")


class _Progress:
    """A rich progress bar on a terminal, plain lines every few seconds otherwise."""

    def __init__(self, enabled: bool, interval: float = 5.0):
        self.enabled = enabled
        self.interval = interval
        self.bar = None
        self.last = 0.0

    def __enter__(self):
        if self.enabled and err.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("sweep", total=None)
        self.start = time.monotonic()
        return self

    def __call__(self, done: int, total: int, label: str):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, description=label)
            return
        now = time.monotonic()
        if now - self.last >= self.interval or done >= total:
            self.last = now
            elapsed = now - self.start
            eta = f"  ETA {elapsed * (total - done) / done:6.0f} s" if 0 < done < total else ""
            typer.echo(f"[{elapsed:7.1f} s] {100 * done / total:5.1f}%{eta}  {label}", err=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


# Help text from the registry and the sweep's defaults, built when the CLI is imported (no numba).
def _default_model_text() -> str:
    """The default model of ``isingvar sweep`` as options, e.g. ``sk --n 16`` (from :data:`isingvar.sweep.config.DEFAULT_MODEL`)."""
    from isingvar.sweep.config import DEFAULT_MODEL

    family, params = DEFAULT_MODEL
    return " ".join([family, *(f"--{key} {value}" for key, value in params)])


def _method_help() -> str:
    """Help of ``--method``, from the registry: the methods and the default ones."""
    from isingvar.methods import all_methods, default_methods

    return (f"A method to run (repeat the option): {', '.join(all_methods())}; `isingvar methods` describes them. "
            f"Default: {', '.join(default_methods())}; a default method that cannot run on the model, or would need "
            "more memory than allowed, is left out.")


def _force_help() -> str:
    """Help of ``--force``, from the registry: the methods with a time limit (``max_seconds``) and the limits."""
    from isingvar.methods import all_methods

    limits = ", ".join(f"{name} {m.max_seconds / 60:g} min" for name, m in all_methods().items() if m.max_seconds)
    return ("Run a method that has a time limit even when it is estimated to take longer (the refusal gives the "
            f"estimate). Limits: {limits or 'none'}.")


# Model options, shared by `sweep` and `model export` (defined once; None means the family's default).
MODEL_ARGUMENT = typer.Argument(None, help=f"Model family (see `isingvar models`). Default: `{_default_model_text()}`.")
N_OPTION = typer.Option(None, "--n", help="Number of spins N (sk, curie-weiss, chain, rrg).", rich_help_panel="Model")
L_OPTION = typer.Option(None, "--L", help="Linear size L (square: N = L^2, cubic: N = L^3).", rich_help_panel="Model")
J0_OPTION = typer.Option(None, "--J0", help="sk: mean coupling times N, in units of the J axis (default 0).", rich_help_panel="Model")
BOUNDARY_OPTION = typer.Option(None, "--boundary", help="chain, square, cubic: periodic (default) or open.", rich_help_panel="Model")
DISORDER_OPTION = typer.Option(None, "--disorder", help="square, cubic, rrg: none (default), gaussian or pm bonds.", rich_help_panel="Model")
DEGREE_OPTION = typer.Option(None, "--degree", help="rrg: degree d of every vertex (default 3).", rich_help_panel="Model")
COUPLINGS_OPTION = typer.Option(None, "--couplings", help="file: a UAI (.uai), libDAI (.fg), .npz (J, h), .npy (J) or edge-list ('i j J_ij' / 'i h_i') file.", rich_help_panel="Model")
FORMAT_OPTION = typer.Option(None, "--format", help="file: uai, fg, npz, npy or edges (default: from the extension).", rich_help_panel="Model")


def _model_params(n, L, J0, boundary, disorder, degree, couplings, file_format) -> dict:
    """The family parameters from the model options (None: the family's default)."""
    return {"n": n, "L": L, "J0": J0, "boundary": boundary, "disorder": disorder, "degree": degree,
            "couplings": couplings, "format": file_format}


EXIT_RESUMABLE = 75  # EX_TEMPFAIL: SIGINT/SIGTERM after a commit; rerun with --resume

#: Prefix of the Python parameter names of method settings (``setting__mf__max_sweeps`` is ``--mf-max-sweeps``).
_SETTING = "setting__"


def _setting_options():
    """(parameter name, type, typer.Option) of every method's settings: ``--<method>-<field>``."""
    import inspect

    from isingvar.methods import all_methods, setting_fields

    out = []
    for name, method in all_methods().items():
        for field, kind, default in setting_fields(method):
            flag = f"--{name}-{field.replace('_', '-')}"
            decl = f"{flag}/--no-{flag[2:]}" if kind is bool else flag
            option = typer.Option(None, decl, help=f"{method.name}: {field.replace('_', ' ')} (default {default!r}).",
                                  rich_help_panel="Method settings")
            out.append(inspect.Parameter(f"{_SETTING}{name}__{field}", inspect.Parameter.KEYWORD_ONLY,
                                         default=option, annotation=kind | None))
    return out


def _with_method_settings(func):
    """Give ``func`` (whose last parameter is ``**settings``) one option per method setting, generated
    from the registry: adding a method adds its options here without an edit."""
    import inspect

    sig = inspect.signature(func)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    extra = _setting_options()
    func.__signature__ = sig.replace(parameters=params + extra)
    func.__annotations__ = {**func.__annotations__, **{p.name: p.annotation for p in extra}}
    return func


def _method_settings(values: dict) -> dict:
    """{method: {field: value}} from the ``setting__<method>__<field>`` parameters that were given."""
    out = {}
    for key, value in values.items():
        if key.startswith(_SETTING) and value is not None:
            method, field = key[len(_SETTING):].split("__", 1)
            out.setdefault(method, {})[field] = value
    return out


def _load_config(ctx: typer.Context, value: Path | None):
    """--config: the file's options become the defaults (click's default_map), so the command line overrides them."""
    if value is None:
        return value
    from isingvar.errors import IsingvarError
    from isingvar.sweep import read_config_file

    names = {}
    for p in ctx.command.params:
        key = p.name if p.param_type_name == "argument" else p.opts[0].lstrip("-")
        if key not in ("config", "dry-run"):
            names[key] = p.name
    try:
        values = read_config_file(value)
    except IsingvarError as e:
        _fail(str(e), e.exit_code)
    unknown = sorted(set(values) - set(names))
    if unknown:
        _fail(f"{value}: unknown option {unknown[0]!r}; valid keys: {', '.join(names)}")
    ctx.default_map = {**(ctx.default_map or {}), **{names[k]: v for k, v in values.items()}}
    return value


def _resume_command(out_path: Path) -> str:
    """This command line with --resume and --out, without --overwrite."""
    args = [a for a in sys.argv[1:] if a != "--overwrite"]
    if "--resume" not in args:
        args.append("--resume")
    if not any(a == "--out" or a.startswith("--out=") for a in args):
        args += ["--out", str(out_path)]
    return "isingvar " + shlex.join(args)


@app.command()
@_with_method_settings
def sweep(
    ctx: typer.Context,
    model: str | None = MODEL_ARGUMENT,
    n: int | None = N_OPTION,
    L: int | None = L_OPTION,
    J0: float | None = J0_OPTION,
    boundary: str | None = BOUNDARY_OPTION,
    disorder: str | None = DISORDER_OPTION,
    degree: int | None = DEGREE_OPTION,
    couplings: Path | None = COUPLINGS_OPTION,
    file_format: str | None = FORMAT_OPTION,
    beta: str = typer.Option("0.05:3:60", "--beta", help="Inverse temperatures: start:stop:n, log:start:stop:n, a,b,c or a number (>= 0).", rich_help_panel="Grid"),
    J: str = typer.Option("1", "--J", help="Coupling scale(s): every J_ij is multiplied by J.", rich_help_panel="Grid"),
    h: str = typer.Option("0", "--h", help="Uniform field(s) added to every h_i.", rich_help_panel="Grid"),
    samples: int | None = typer.Option(None, "--samples", help="Disorder samples (default 4 for disordered families, else 1).", rich_help_panel="Grid"),
    seed: int = typer.Option(0, "--seed", help="Seed; sample k is drawn from rng([seed, k]).", rich_help_panel="Grid"),
    method: list[str] | None = typer.Option(None, "--method", help=_method_help(), rich_help_panel="Methods"),
    force: bool = typer.Option(False, "--force", help=_force_help(), rich_help_panel="Methods"),
    sites: bool | None = typer.Option(None, "--sites/--no-sites", help="Store the methods' per-site variables, e.g. exact <s_i> and mean-field m_i (default: when N <= 1024).", rich_help_panel="Output"),
    out_path: Path | None = typer.Option(None, "--out", help="Result file (default `runs/<model>-n<N>-<UTC time>.h5`).", rich_help_panel="Output"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file.", rich_help_panel="Output"),
    resume: bool = typer.Option(False, "--resume", help="Continue --out: compute only the instances not done (starts it if missing); refused if it was made by other options.", rich_help_panel="Output"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="With --resume, also compute again the instances whose points were flagged as not computed/withheld.", rich_help_panel="Output"),
    interval: str = INTERVAL_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout instead of tables.", rich_help_panel="Output"),
    shard: str | None = typer.Option(None, "--shard", help="Run shard i/n (0 <= i < n) of the instances, or 'slurm' for the job-array task; join the files with `isingvar merge`.", rich_help_panel="Batch"),
    workers: int | None = typer.Option(None, "--workers", help="Processes computing instances in parallel (default: the number of cores, no more than the instances; 1 where the methods' estimated work for the sweep is under 1.5 s, where starting them costs more than they save).", rich_help_panel="Batch"),
    config_file: Path | None = typer.Option(None, "--config", is_eager=True, callback=_load_config, help="TOML file of sweep options (keys as the option names, e.g. beta = \"0.1:3:60\"); command-line options override it.", rich_help_panel="Batch"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved grid, instance count and a time estimate; compute and write nothing.", rich_help_panel="Batch"),
    **settings,
):
    """Sweep beta x J x h x samples: exact ln Z and bounds on it, into one HDF5 file.

    Each method's settings are options named after it, e.g. --mf-max-sweeps (a table [mf] in --config).

    The file is committed after finished instances, so a killed run keeps its
    work: rerun the same command with --resume.  SIGINT and SIGTERM commit and
    exit with status 75.
    """
    from isingvar.interrupt import terminate_as_interrupt

    # SIGTERM stops every phase like Ctrl-C (before the first commit: no file, exit 130)
    with _user_errors(), terminate_as_interrupt():
        from isingvar.errors import ModelParameterError, OutputWriteError, SweepInterrupted
        from isingvar.io.outputs import check_output
        from isingvar.io.store import read_summary
        from isingvar.parallel import WorkerPool, available_cores
        from isingvar.report import (
            bounds_table,
            computed_any,
            failures,
            free_energy_names,
            is_probabilistic,
            model_lnZ_values,
        )
        from isingvar.sweep import (
            choose_workers,
            default_output_path,
            make_config,
            method_plans,
            parse_shard,
            run_sweep,
        )

        if resume and overwrite:
            raise ModelParameterError("--resume and --overwrite exclude each other; choose one")
        if resume and out_path is None:
            raise ModelParameterError("--resume needs --out FILE: the file to continue")
        if retry_failed and not resume:
            raise ModelParameterError("--retry-failed needs --resume: it computes again flagged instances of an existing --out file")
        probabilistic = is_probabilistic(interval)
        if workers is not None and workers < 1:
            raise ModelParameterError(f"--workers must be at least 1, got {workers}")
        shard_spec = parse_shard(shard)
        params = _model_params(n, L, J0, boundary, disorder, degree, couplings, file_format)
        config = make_config(
            model, params, beta=beta, J=J, h=h, samples=samples, seed=seed,
            methods=method, sites=sites, force=force or dry_run,  # a dry run estimates, never refuses
            settings=_method_settings(settings),
        )
        path = out_path or default_output_path(config)
        if dry_run:
            _dry_run(config, shard_spec, path, resume, as_json, force)
            return
        if not resume:
            check_output(path, overwrite, inputs=[couplings] if couplings else [])
        command_line = "isingvar " + shlex.join(sys.argv[1:]) if sys.argv else "isingvar sweep"
        if not as_json:
            err.print(_encodable(f"sweep {config.model} N={config.n}: grid sample×J×h×beta = {'×'.join(map(str, config.shape))}, "
                                 f"methods {', '.join(config.methods)}", err), highlight=False)
            for name, plan in method_plans(config).items():  # e.g. the exact path sample 0 takes
                err.print(_encodable(f"  {name}: {plan}", err), highlight=False)
        n_workers, note = choose_workers(workers, config, available_cores())
        if note:
            typer.echo(f"warning: {note}", err=True)
        pool = WorkerPool(n_workers)
        try:
            with pool, _Progress(enabled=not as_json) as progress:
                summary = run_sweep(
                    config, path, overwrite=overwrite, resume=resume, retry_failed=retry_failed, shard=shard_spec,
                    pool=pool if pool.workers > 1 else None, command_line=command_line, progress=progress,
                )
        except (SweepInterrupted, OutputWriteError) as e:
            _fail(f"{e}; resume with: {_resume_command(path)}", e.exit_code)
        result = read_summary(path)
        # an empty shard computes nothing and fails nothing
        nothing = summary.done > 0 and not computed_any(result)
        if as_json:
            info = summary.to_dict()
            info["failures"] = {m: [{"reason": r, "beta": b, "instances": n} for r, b, n in items]
                                for m, items in failures(result).items()}
            info["computed_any"] = computed_any(result)
            typer.echo(json.dumps(info))
            _print_failures(result)
        else:
            rows = bounds_table(result, probabilistic=probabilistic)
            title = f"mean over {rows[0]['n_done']} sample(s) at J={config.J[0]:g}, h={config.h[0]:g}"
            _print_tables(_bounds_tables(rows, title, free_energy_names(result), _column_labels(result, probabilistic)))
            for name, value in model_lnZ_values(result).items():
                out.print(f"{name} = {value:.12g}  (the file's own model, at beta = 1)", highlight=False)
            _print_failures(result)
            what = f"shard {shard_spec[0]}/{shard_spec[1]}: " if shard_spec else ""
            out.print(f"wrote {path} in {summary.elapsed:.2f} s ({what}{summary.computed} instance(s) computed, "
                      f"{summary.done} of {summary.total} done)", highlight=False)
        if nothing:
            _fail(f"no method computed a value at any point of the sweep (see the lines above); {path} is written", 1)


def _dry_run(config, shard_spec, path: Path, resume: bool, as_json: bool, force: bool):
    """What a sweep would do, from the resolved configuration; writes nothing."""
    from isingvar.io.store import open_copy, read_attrs, read_done
    from isingvar.sweep import check_resumable, estimate_time, shard_instances

    mine = shard_instances(config, shard_spec)
    todo = len(mine)
    if resume and path.exists():
        with open_copy(path) as f:
            check_resumable(read_attrs(f), config, shard_spec, path)
            done = read_done(f)
        todo = sum(not done[i] for i in mine)
    estimate = estimate_time(config, todo)  # the estimate and refusal rule of the sweep itself
    secs = estimate.seconds
    refused = estimate.over_limit and not force
    info = {
        "model": config.model, "params": config.params, "n_spins": config.n,
        "beta": config.beta.tolist(),  # the grid itself: reusable as --beta (comma-joined) or in --config
        "J": config.J.tolist(), "h": config.h.tolist(), "samples": config.samples, "seed": config.seed,
        "methods": list(config.methods), "instances": len(config.instances()), "in_shard": len(mine),
        "to_compute": todo, "estimated_s": round(secs, 1),
        "estimated_s_by_method": {k: round(v, 1) for k, v in estimate.per_method.items()},
        "plan_by_method": estimate.notes,
        "settings": config.to_dict()["settings"], "needs_force": refused, "out": str(path),
        "config_hash": config.config_hash(),
    }
    if as_json:
        typer.echo(json.dumps(info))
        return
    table = _info_grid()
    _add_row(table, "model", f"{config.model} {json.dumps(config.params)}  (N = {config.n})")
    _add_row(table, "beta", f"{config.beta.size} value(s), {config.beta.min():g} … {config.beta.max():g}")
    _add_row(table, "J", ", ".join(f"{x:g}" for x in config.J))
    _add_row(table, "h", ", ".join(f"{x:g}" for x in config.h))
    _add_row(table, "samples", f"{config.samples} (seed {config.seed})")
    _add_row(table, "methods", ", ".join(config.methods))
    for name, values in config.to_dict()["settings"].items():
        if values:
            _add_row(table, f"  {name}", ", ".join(f"{k} = {v!r}" for k, v in values.items()))
    shard_note = f" (shard {shard_spec[0]}/{shard_spec[1]}: {len(mine)})" if shard_spec else ""
    _add_row(table, "instances", f"{len(config.instances())}{shard_note}, {todo} to compute")
    limit = f"; {estimate.refusal()}" if refused else ""
    by_method = ", ".join(f"{k} {_duration(v)}" for k, v in estimate.per_method.items())
    _add_row(table, "estimate", f"about {_duration(secs)} ({by_method}; timed on sample 0){limit}")
    for name, note in estimate.notes.items():
        _add_row(table, f"  {name}", note)
    exists = " (exists: needs --resume or --overwrite)" if path.exists() and not resume else ""
    _add_row(table, "output", f"{path}{exists} (not written: dry run)")
    out.print(table)


def _duration(secs: float) -> str:
    if secs < 60:
        return f"{secs:.1f} s"
    if secs < 3600:
        return f"{secs / 60:.1f} min"
    return f"{secs / 3600:.1f} h"


@app.command()
def show(
    file: Path = typer.Argument(..., help="A result file written by `isingvar sweep`."),
    interval: str = INTERVAL_OPTION,
):
    """Summary of a result file: model, grid, methods and bounds against beta."""
    with _user_errors():
        from isingvar.io.store import read_summary
        from isingvar.report import bounds_table, free_energy_names, is_probabilistic

        probabilistic = is_probabilistic(interval)
        result = read_summary(file)
        a, c = result["attrs"], result["coords"]
        done = result["done"]
        info = _info_grid()
        _add_row(info, "model", f"{a.get('model_family')} {json.dumps(a.get('model_params'))}")
        _add_row(info, "spins N", str(a.get("n_spins")))
        if a.get("source_file"):
            _add_row(info, "source", f"{a['source_file']} ({a.get('source_format')}, sha256 {str(a.get('source_sha256'))[:12]}…, "
                                   f"lnZ_offset {a.get('lnZ_offset'):.12g})")
        for name in ("beta", "J", "h"):
            v = c[name]
            _add_row(info, name, f"{v.size} value(s), {v.min():g} … {v.max():g}")
        _add_row(info, "samples", f"{c['sample'].size} (seed {a.get('seed')})")
        _add_row(info, "methods", str(a.get("methods")))
        shard = f" (shard {a['shard']} of the sweep)" if a.get("shard") else ""
        _add_row(info, "complete", f"{int(done.sum())} of {done.size} instances{shard}")
        _add_row(info, "written", f"{a.get('created')} by isingvar {a.get('isingvar_version')}")
        _add_row(info, "command", str(a.get("command_line")))
        out.print(info)
        pairs = [(j, k) for j in range(c["J"].size) for k in range(c["h"].size)]
        labels = _column_labels(result, probabilistic)
        for j, k in pairs[:4]:
            rows = bounds_table(result, j, k, probabilistic=probabilistic)
            title = f"mean ± standard error over {rows[0]['n_done']} completed sample(s) at J={c['J'][j]:g}, h={c['h'][k]:g}"
            _print_tables(_bounds_tables(rows, title, free_energy_names(result), labels))
        if len(pairs) > 4:
            out.print(f"({len(pairs) - 4} more (J, h) pairs in the file)")
        _print_failures(result)


@app.command()
def merge(
    out_file: Path = typer.Argument(..., help="Merged result file to write."),
    shards: list[Path] = typer.Argument(..., help="Shard files of one sweep (`isingvar sweep --shard i/n`)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUT_FILE."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
):
    """Join the shard files of one sweep into the file a single run would have written."""
    with _user_errors():
        from isingvar.merge import merge_shards

        summary = merge_shards(out_file, shards, overwrite=overwrite)
        if as_json:
            typer.echo(json.dumps(summary.to_dict()))
        else:
            out.print(f"wrote {out_file}: {summary.done} of {summary.total} instances from {len(shards)} file(s)", highlight=False)
        if summary.missing:
            listed = ", ".join(f"(sample {k}, J[{a}], h[{b}])" for k, a, b in summary.missing[:5])
            more = f" and {len(summary.missing) - 5} more" if len(summary.missing) > 5 else ""
            err.print(f"warning: {len(summary.missing)} instance(s) missing: {listed}{more}; a shard did not finish. "
                      f"Rerun it, or complete the merged file with `isingvar sweep ... --resume --out {out_file}` "
                      "(the options of its config_toml attribute)", highlight=False, markup=False)


@app.command()
def plot(
    file: Path = typer.Argument(..., help="A result file written by `isingvar sweep`."),
    out_png: Path | None = typer.Option(None, "--out", help="Image to write, in the format its suffix names: .png, .pdf, .svg, ... (default: FILE with .png)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing image (never the result file itself)."),
    var: str = typer.Option("", "--var", help="Also draw these declared quantities against beta, comma-separated (e.g. `u,c,m,chi`): every method that has one on the same axes."),
    interval: str = INTERVAL_OPTION,
):
    """Figure of the free energy (exact and bounds, their interval shaded), the bound gaps and any quantity against beta, per J and h.

    The (J, h) pairs are laid out in a grid, a few side by side and rows as needed; pairs beyond what
    one image holds go to further images beside it, FILE-2.png, FILE-3.png, ... (docs/cli.md)."""
    with _user_errors():
        from isingvar.io.outputs import check_output
        from isingvar.io.store import read_summary
        from isingvar.plot import figure_format, image_paths, plot_result
        from isingvar.report import is_probabilistic

        is_probabilistic(interval)
        png = out_png or file.with_suffix(".png")
        check_output(png, overwrite, inputs=[file])
        figure_format(png)
        summary = read_summary(file)
        variables = [q.strip() for q in var.split(",") if q.strip()]
        images = image_paths(summary, png, variables=variables)  # many (J, h) pairs: more than one image
        for image in images[1:]:
            check_output(image, overwrite, inputs=[file])
        left_out = plot_result(summary, png, variables=variables, interval=interval)
        for name, counts in left_out.items():
            total = sum(counts.values())
            reasons = ", ".join(f"{reason}: {n}" for reason, n in counts.items())
            typer.echo(f"left out {total} point{'s' * (total != 1)} of {name} ({reasons})", err=True)
        more = f" ({len(images)} images: the (J, h) pairs in order)" if len(images) > 1 else ""
        out.print(f"wrote {', '.join(map(str, images))}{more}", highlight=False)


@app.command()
def models():
    """The model families, their parameters and energies."""
    from isingvar.families import FAMILIES

    rows = []
    for fam in FAMILIES.values():
        params = "\n".join(
            f"--{p.name} {p.kind.__name__.upper()}" + (f": {', '.join(p.choices)}" if p.choices else "")
            + (" (required)" if p.default is None else f" (default {p.default})")
            for p in fam.params
        )
        rows.append((fam.name, fam.size, params, f"{fam.summary}\n{fam.energy}"))
    # names and sizes whole; parameters and couplings wrap between words (a narrow console: split, model repeated)
    columns = [_Column(header, [r[k] for r in rows], k < 2) for k, header in enumerate(("model", "N", "parameters", "couplings"))]
    _print_tables(_tables("Model families (energy E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i)", columns, show_lines=True))


@app.command()
def methods():
    """The methods a sweep can run: settings (options --<method>-<setting>) and variables."""
    from isingvar.methods import all_methods, setting_fields

    rows = []
    for name, m in all_methods().items():
        settings = "\n".join(f"--{name}-{f.replace('_', '-')} (default {d!r})" for f, _, d in setting_fields(m)) or "—"
        variables = ", ".join(f"{v.name} ({v.kind})" for v in m.variables)
        rows.append((name + (" *" if m.default else ""), settings, f"{m.summary}\n{variables}"))
    columns = [_Column(header, [r[k] for r in rows], k == 0) for k, header in enumerate(("method", "settings", "variables"))]
    _print_tables(_tables("Methods (isingvar sweep --method NAME; default ones marked *)", columns, show_lines=True))


model_app = typer.Typer(help="Model instances: write the instance a sweep would use, for other tools.")
app.add_typer(model_app, name="model")


@model_app.command("export")
def model_export(
    model: str = typer.Argument(..., help="Model family (see `isingvar models`)."),
    n: int | None = N_OPTION,
    L: int | None = L_OPTION,
    J0: float | None = J0_OPTION,
    boundary: str | None = BOUNDARY_OPTION,
    disorder: str | None = DISORDER_OPTION,
    degree: int | None = DEGREE_OPTION,
    couplings: Path | None = COUPLINGS_OPTION,
    file_format: str | None = FORMAT_OPTION,
    sample: int = typer.Option(0, "--sample", help="Disorder sample k."),
    seed: int = typer.Option(0, "--seed", help="Seed S; sample k is drawn from rng([S, k]) as in `isingvar sweep`."),
    J: float = typer.Option(1.0, "--J", help="Coupling scale: every J_ij is multiplied by it."),
    h: float = typer.Option(0.0, "--h", help="Uniform field added to every h_i."),
    out_path: Path = typer.Option(..., "--out", help="File to write: .npz, .uai, .fg or an edge list (any other extension)."),
    to: str | None = typer.Option(None, "--to", help="Output format: npz, edges, uai or fg (default: from the --out extension)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
):
    """Write instance k of a family (at coupling scale J and field h) as .npz, an edge list, UAI or libDAI .fg."""
    with _user_errors():
        from isingvar.export import export_instance

        params = _model_params(n, L, J0, boundary, disorder, degree, couplings, file_format)
        summary = export_instance(model, params, seed=seed, sample=sample, J=J, h=h,
                                  out=out_path, format=to, overwrite=overwrite)
        out.print(f"wrote {summary.path} ({summary.format}: N = {summary.n}, {summary.n_edges} couplings, "
                  f"{summary.n_fields} nonzero fields)", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
