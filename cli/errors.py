"""Bad input and interruptions on the command line: one line ``error: ...`` on stderr that says what to
change, and the exit status (docs/cli.md): 2 bad input, 75 a sweep to resume, 130 interrupted before a
commit.  The library's errors (:class:`isingvar.errors.IsingvarError`) and the parser's own (a value of
the wrong type for an option, an unknown option or command, a missing argument) read alike."""

from __future__ import annotations

from contextlib import contextmanager

import typer
from typer.core import TyperGroup

from isingvar.errors import IsingvarError

EXIT_INTERRUPTED = 130
#: EX_TEMPFAIL: SIGINT/SIGTERM after a commit, rerun with --resume (the library's errors carry it: ``exit_code``).
EXIT_RESUMABLE = 75


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


def _usage_line(e: typer.TyperException) -> str:
    """The parser's message of ``e`` on one line, with the help to read: ``Invalid value for '--samples':
    Input should be a valid integer ...; see 'isingvar sweep --help'``."""
    message = " ".join(e.format_message().split()).rstrip(".")
    ctx = getattr(e, "ctx", None)
    return f"{message}; see '{ctx.command_path} --help'" if ctx is not None else message


@contextmanager
def _one_line_usage():
    """Turn the parser's errors (click's ``UsageError``, ``BadParameter``, ...; typer's base class is
    :class:`typer.TyperException`) into :func:`_fail`'s one line and their exit status (2 for usage),
    instead of typer's usage box.  A group called without a command still prints its help."""
    try:
        yield
    except typer.TyperException as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `isingvar model`: the help is the answer
            raise
        _fail(_usage_line(e), getattr(e, "exit_code", 2))


class OneLineErrors(TyperGroup):
    """The app's command group: the parser's errors in its own arguments and in every command below it are
    one line ``error: ...`` and a non-zero exit (:func:`_one_line_usage`), as the library's are.

    Works wherever the app runs (the installed script, ``python -m isingvar_cli.main``,
    ``typer.testing.CliRunner``): the group parses its arguments in :meth:`make_context` and a command's
    (those of a sub-group too) in :meth:`invoke`.
    """

    def make_context(self, info_name, args, parent=None, **extra):
        """The group's context, a parse error in its own options as one line.

        Parameters
        ----------
        info_name : str or None
            The program name.
        args : list of str
            The command line after it.
        parent : click.Context, optional
            The parent context.
        **extra
            Passed on to the context.

        Returns
        -------
        click.Context
            The context.
        """
        with _one_line_usage():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        """Run the command the arguments name, a parse error in its options as one line.

        Parameters
        ----------
        ctx : click.Context
            The group's context.

        Returns
        -------
        object
            The command's return value.
        """
        with _one_line_usage():
            return super().invoke(ctx)
