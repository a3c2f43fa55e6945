"""The ``isingvar`` command line: parsing, progress and tables; no physics.

Every computation is a call into the :mod:`isingvar` library, imported inside
the command that needs it so that ``isingvar --help`` stays fast.  This module
assembles the Typer app from the commands' modules: :mod:`.sweep`,
:mod:`.results` (show, merge, plot), :mod:`.catalog` (models, methods) and
:mod:`.export` (model export); :mod:`.errors` makes every bad input, the
parser's included, one line.
"""

from __future__ import annotations

import typer

from isingvar import ENERGY_CONVENTION, __version__

from .catalog import methods, models
from .console import ASCII_FALLBACK, _encodable, _fmt, _tolerant_streams, err, out  # noqa: F401  (re-exported)
from .errors import EXIT_INTERRUPTED, EXIT_RESUMABLE, OneLineErrors, _fail, _user_errors  # noqa: F401
from .export import model_export
from .results import merge, plot, show
from .sweep import sweep

app = typer.Typer(
    cls=OneLineErrors,  # the parser's errors as one line, as the library's
    rich_markup_mode="markdown",  # not "rich": "rng([seed, k])" would be read as a markup tag
    add_completion=False,
    no_args_is_help=False,
    help=(
        "Exact free energies where a path applies, certified bounds from both sides (mean field, TRW) and "
        "estimates with their diagnostics (Bethe, autoregressive) of Ising models, swept over "
        "beta, couplings and disorder samples, written to HDF5.\n\n"
        f"Convention: {ENERGY_CONVENTION}."
    ),
)


def _version(value: bool):
    if value:
        typer.echo(f"isingvar {__version__}")
        raise typer.Exit()


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    # the library's warnings (numba cannot cache, ...) as one line, without a source excerpt
    typer.echo(f"warning: {message}", err=True)


# the docstring's lone form feed ends the --help text (click); numpydoc reads it as a second blank line
@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
):  # numpydoc ignore=GL03
    """isingvar: exact where possible, rigorously bounded where not.
    \f

    Parameters
    ----------
    version : bool
        ``--version``: print the version and exit (handled by its eager callback).
    """
    import warnings

    _tolerant_streams()
    warnings.showwarning = _one_line_warning


for _command in (sweep, show, merge, plot, models, methods):
    app.command()(_command)

model_app = typer.Typer(help="Model instances: write the instance a sweep would use, for other tools.")
app.add_typer(model_app, name="model")
model_app.command("export")(model_export)


if __name__ == "__main__":  # pragma: no cover
    app()
