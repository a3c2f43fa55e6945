"""Options shared by the commands and generated from the library: the model options of ``sweep`` and
``model export``, ``--interval``, one ``--<method>-<setting>`` per method setting of the registry, the help
text that names the registry's methods and defaults, and ``--config`` (its file's values become the
defaults).  Nothing here imports numba: ``isingvar --help`` stays fast."""

from __future__ import annotations

from pathlib import Path

import typer

from .errors import _fail

INTERVAL_OPTION = typer.Option(
    "certified", "--interval",
    help="Interval on f of the width column and the shaded band: certified (the certified bounds; default) or "
         "probabilistic (also the bounds that hold with probability >= 1 - delta).", rich_help_panel="Output")


# Help text from the registry and the sweep's defaults, built when the CLI is imported (no numba).
def _default_model_text() -> str:
    """The default model of ``isingvar sweep`` as options, e.g. ``sk --n 16`` (from :data:`isingvar.sweep.config.DEFAULT_MODEL`)."""
    from isingvar.sweep.config import DEFAULT_MODEL

    family, params = DEFAULT_MODEL
    return " ".join([family, *(f"--{key} {value}" for key, value in params)])


def _method_help() -> str:
    """Help of ``--method``, from the registry: the methods and the default ones."""
    from isingvar.methods import all_methods, default_methods

    return (f"A method to run (repeat the option, or list them: --method mf,trw): {', '.join(all_methods())}; `isingvar methods` describes them. "
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
