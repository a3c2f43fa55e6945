"""The ``isingvar`` command line: parsing, progress and tables; no physics.

Every computation is a call into the :mod:`isingvar` library, imported inside
the command that needs it so that ``isingvar --help`` stays fast.
"""

from __future__ import annotations

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


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
):
    """isingvar: exact where possible, rigorously bounded where not."""


def _fmt(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.6g}"


def _bounds_table(rows, title: str) -> Table:
    # columns of a method that did not run would only hold dashes
    names = [k for k in ("beta", "f_exact", "f_mf_upper", "gap", "kl_mf")
             if any(not math.isnan(r[k]) for r in rows)]
    table = Table(title=title, title_justify="left")
    for name in names:
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(*(_fmt(r[k]) for k in names))
    return table


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


@app.command()
def sweep(
    model: str | None = typer.Argument(None, help="Model family (see `isingvar models`). Default: an SK instance with N = 16."),
    n: int | None = typer.Option(None, "--n", help="Number of spins N (sk, curie-weiss, chain).", rich_help_panel="Model"),
    L: int | None = typer.Option(None, "--L", help="Linear size L of the square lattice (N = L^2).", rich_help_panel="Model"),
    J0: float | None = typer.Option(None, "--J0", help="sk: mean coupling times N, in units of the J axis (default 0).", rich_help_panel="Model"),
    boundary: str | None = typer.Option(None, "--boundary", help="chain, square: periodic (default) or open.", rich_help_panel="Model"),
    disorder: str | None = typer.Option(None, "--disorder", help="square: none (default), gaussian or pm bonds.", rich_help_panel="Model"),
    couplings: Path | None = typer.Option(None, "--couplings", help="file: .npz with J (and h), or an edge list 'i j J_ij' / 'i h_i'.", rich_help_panel="Model"),
    beta: str = typer.Option("0.05:3:60", "--beta", help="Inverse temperatures: a:b:n, log:a:b:n, a,b,c or a number (>= 0).", rich_help_panel="Grid"),
    J: str = typer.Option("1", "--J", help="Coupling scale(s): every J_ij is multiplied by J.", rich_help_panel="Grid"),
    h: str = typer.Option("0", "--h", help="Uniform field(s) added to every h_i.", rich_help_panel="Grid"),
    samples: int | None = typer.Option(None, "--samples", help="Disorder samples (default 4 for disordered families, else 1).", rich_help_panel="Grid"),
    seed: int = typer.Option(0, "--seed", help="Seed; sample k is drawn from rng([seed, k]).", rich_help_panel="Grid"),
    method: list[str] | None = typer.Option(None, "--method", help="exact and/or mf (repeat the option); default both.", rich_help_panel="Methods"),
    force: bool = typer.Option(False, "--force", help="Run exact enumeration even when it is estimated to take more than 10 minutes.", rich_help_panel="Methods"),
    sites: bool | None = typer.Option(None, "--sites/--no-sites", help="Store per-site magnetisations, exact <s_i> and mean-field m_i (default: when N <= 1024).", rich_help_panel="Output"),
    out_path: Path | None = typer.Option(None, "--out", help="Result file (default runs/<model>-n<N>-<UTC time>.h5).", rich_help_panel="Output"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file.", rich_help_panel="Output"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout instead of tables.", rich_help_panel="Output"),
):
    """Sweep beta x J x h x samples: exact ln Z and mean-field bounds, into one HDF5 file."""
    with _user_errors():
        from isingvar.io.store import check_output, read_summary
        from isingvar.report import bounds_table
        from isingvar.sweep import default_output_path, make_config, run_sweep

        params = {"n": n, "L": L, "J0": J0, "boundary": boundary, "disorder": disorder, "couplings": couplings}
        config = make_config(
            model, params, beta=beta, J=J, h=h, samples=samples, seed=seed,
            methods=method, sites=sites, force=force,
        )
        path = out_path or default_output_path(config)
        check_output(path, overwrite)
        command_line = "isingvar " + shlex.join(sys.argv[1:]) if sys.argv else "isingvar sweep"
        if not as_json:
            err.print(f"sweep {config.model} N={config.n}: grid sample×J×h×beta = {'×'.join(map(str, config.shape))}, methods {', '.join(config.methods)}", highlight=False)
        with _Progress(enabled=not as_json) as progress:
            summary = run_sweep(config, path, overwrite=overwrite, command_line=command_line, progress=progress)
        if as_json:
            typer.echo(json.dumps(summary.to_dict()))
            return
        result = read_summary(path)
        title = f"mean over {config.samples} sample(s) at J={config.J[0]:g}, h={config.h[0]:g}"
        out.print(_bounds_table(bounds_table(result), title))
        out.print(f"wrote {path} in {summary.elapsed:.2f} s", highlight=False)


@app.command()
def show(file: Path = typer.Argument(..., help="A result file written by `isingvar sweep`.")):
    """Summary of a result file: model, grid, methods and bounds against beta."""
    with _user_errors():
        from isingvar.io.store import read_summary
        from isingvar.report import bounds_table

        result = read_summary(file)
        a, c = result["attrs"], result["coords"]
        done = result["done"]
        info = Table.grid(padding=(0, 2))
        info.add_row("model", f"{a.get('model_family')} {json.dumps(a.get('model_params'))}")
        info.add_row("spins N", str(a.get("n_spins")))
        for name in ("beta", "J", "h"):
            v = c[name]
            info.add_row(name, f"{v.size} value(s), {v.min():g} … {v.max():g}")
        info.add_row("samples", f"{c['sample'].size} (seed {a.get('seed')})")
        info.add_row("methods", str(a.get("methods")))
        info.add_row("complete", f"{int(done.sum())} of {done.size} instances")
        info.add_row("written", f"{a.get('created')} by isingvar {a.get('isingvar_version')}")
        info.add_row("command", str(a.get("command_line")))
        out.print(info)
        pairs = [(j, k) for j in range(c["J"].size) for k in range(c["h"].size)]
        for j, k in pairs[:4]:
            title = f"mean over samples at J={c['J'][j]:g}, h={c['h'][k]:g}"
            out.print(_bounds_table(bounds_table(result, j, k), title))
        if len(pairs) > 4:
            out.print(f"({len(pairs) - 4} more (J, h) pairs in the file)")


@app.command()
def models():
    """The model families, their parameters and energies."""
    from isingvar.families import FAMILIES

    table = Table(title="Model families (energy E = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i)", show_lines=True)
    table.add_column("model")
    table.add_column("parameters")
    table.add_column("couplings")
    for fam in FAMILIES.values():
        params = "\n".join(
            f"--{p.name} {p.kind.__name__.upper()}" + (f" [{'|'.join(p.choices)}]" if p.choices else "")
            + (" (required)" if p.default is None else f" (default {p.default})")
            for p in fam.params
        )
        table.add_row(fam.name, params, f"{fam.summary}\n{fam.energy}")
    out.print(table)


if __name__ == "__main__":  # pragma: no cover
    app()
