"""The commands that read result files: ``show`` (a summary and the bounds tables), ``merge`` (shards
into one file) and ``plot`` (figures); the numbers come from :mod:`isingvar.report`, the figures from
:mod:`isingvar.plot`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .console import _add_row, _info_grid, err, out
from .errors import _user_errors
from .options import INTERVAL_OPTION
from .tables import _bounds_tables, _column_labels, _print_failures, _print_tables


# the docstring's lone form feed ends the --help text (click); numpydoc reads it as a second blank line
def show(
    file: Path = typer.Argument(..., help="A result file written by `isingvar sweep`."),
    interval: str = INTERVAL_OPTION,
):  # numpydoc ignore=GL03
    """Summary of a result file: model, grid, methods and bounds against beta.
    \f

    Parameters
    ----------
    file : pathlib.Path
        The result file.
    interval : str
        ``--interval``: "certified" or "probabilistic", the interval on f of the best-bound and width
        columns.
    """
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


# the docstring's lone form feed ends the --help text (click); numpydoc reads it as a second blank line
def merge(
    out_file: Path = typer.Argument(..., help="Merged result file to write."),
    shards: list[Path] = typer.Argument(..., help="Shard files of one sweep (`isingvar sweep --shard i/n`)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUT_FILE."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
):  # numpydoc ignore=GL03
    """Join the shard files of one sweep into the file a single run would have written.
    \f

    Parameters
    ----------
    out_file : pathlib.Path
        The merged result file to write.
    shards : list of pathlib.Path
        The shard files of one sweep.
    overwrite : bool
        ``--overwrite``: replace an existing ``out_file``.
    as_json : bool
        ``--json``: print a JSON summary on stdout.
    """
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


def plot(
    file: Path = typer.Argument(..., help="A result file written by `isingvar sweep`."),
    out_png: Path | None = typer.Option(None, "--out", help="Image to write, in the format its suffix names: .png, .pdf, .svg, ... (default: FILE with .png)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing image (never the result file itself)."),
    var: str = typer.Option("", "--var", help="Also draw these declared quantities against beta, comma-separated (e.g. `u,c,m,chi`): every method that has one on the same axes."),
    interval: str = INTERVAL_OPTION,
):
    """Figure of the free energy (exact and bounds, their interval shaded), the bound gaps and any quantity against beta, per J and h.

    The (J, h) pairs are laid out in a grid, a few side by side and rows as needed; pairs beyond what
    one image holds go to further images beside it, FILE-2.png, FILE-3.png, ... (docs/cli.md).\f

    Parameters
    ----------
    file : pathlib.Path
        The result file.
    out_png : pathlib.Path or None
        ``--out``: the image to write; None: ``file`` with the suffix .png.
    overwrite : bool
        ``--overwrite``: replace an existing image (never the result file).
    var : str
        ``--var``: further quantities to draw against beta, comma-separated ("" for none).
    interval : str
        ``--interval``: "certified" or "probabilistic", the shaded band.
    """
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
