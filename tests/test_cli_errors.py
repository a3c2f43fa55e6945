"""Every bad input on the command line is one line ``error: ...`` that says what to change, with the exit
status of bad input (2, docs/cli.md): the parser's own errors (a value of the wrong type for an option, an
unknown option or command, a missing argument or value) read like the library's, never typer's usage box."""

import pytest
from isingvar_cli.main import app
from typer.testing import CliRunner

runner = CliRunner()


def one_line(args) -> str:
    """The single line of a refused command: exit 2, nothing but ``error: ...``, no box, no traceback."""
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert "Usage:" not in r.output and "╭" not in r.output and "Traceback" not in r.output, r.output
    return lines[0]


@pytest.mark.parametrize(("args", "names"), [
    (["sweep", "sk", "--samples", "2.5"], ["--samples", "integer", "sweep --help"]),
    (["sweep", "sk", "--n", "x"], ["--n", "integer"]),
    (["sweep", "sk", "--seed", "1e3"], ["--seed", "integer"]),
    (["sweep", "sk", "--workers", "two"], ["--workers", "integer"]),
    (["sweep", "sk", "--n", "8", "--mf-max-sweeps", "2.5"], ["--mf-max-sweeps", "integer"]),
    (["sweep", "sk", "--J0", "abc"], ["--J0"]),
    (["model", "export", "sk", "--n", "4", "--sample", "0.5", "--out", "x.npz"], ["--sample", "integer"]),
])
def test_a_value_of_the_wrong_type_is_one_line_naming_the_option(args, names):
    line = one_line(args)
    assert all(name in line for name in names), line


@pytest.mark.parametrize(("args", "names"), [
    (["sweep", "--smaples", "3"], ["--smaples"]),  # an unknown option
    (["bogus"], ["bogus", "--help"]),  # an unknown command
    (["model", "bogus"], ["bogus"]),
    (["show"], ["file", "show --help"]),  # a missing argument
    (["model", "export"], ["model"]),
    (["sweep", "sk", "--n"], ["--n", "argument"]),  # an option without its value
    (["model"], ["command", "model --help"]),  # a group without its command
    (["--bogus"], ["--bogus"]),  # an unknown option of the app itself
])
def test_usage_errors_are_one_line(args, names):
    line = one_line(args)
    assert all(name in line for name in names), line


def test_help_and_version_still_exit_0():
    assert runner.invoke(app, ["--version"]).exit_code == 0
    r = runner.invoke(app, ["sweep", "--help"])
    assert r.exit_code == 0 and "--samples" in r.output


def test_library_errors_are_unchanged():
    line = one_line(["sweep", "sk", "--n", "8", "--samples", "0"])
    assert "--samples" in line


def test_method_accepts_a_comma_separated_list():
    """`--method mf,trw` is `--method mf --method trw` (as the grid options take lists); a bad name in it is
    still a one-line error naming the choices."""
    from isingvar_cli.main import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["sweep", "chain", "--n", "4", "--beta", "1", "--method", "mf, trw", "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    import json

    assert json.loads(r.stdout)["methods"] == ["mf", "trw"]
    r = CliRunner().invoke(app, ["sweep", "chain", "--n", "4", "--method", "mf,nope", "--dry-run"])
    assert r.exit_code != 0 and "unknown method 'nope'" in r.output
