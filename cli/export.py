"""``isingvar model export``: write the instance a sweep would use, for other tools
(:func:`isingvar.export.export_instance`)."""

from __future__ import annotations

from pathlib import Path

import typer

from .console import out
from .errors import _user_errors
from .options import (
    BOUNDARY_OPTION,
    COUPLINGS_OPTION,
    DEGREE_OPTION,
    DISORDER_OPTION,
    FORMAT_OPTION,
    J0_OPTION,
    L_OPTION,
    N_OPTION,
    _model_params,
)


# the docstring's lone form feed ends the --help text (click); numpydoc reads it as a second blank line
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
):  # numpydoc ignore=GL03
    """Write instance k of a family (at coupling scale J and field h) as .npz, an edge list, UAI or libDAI .fg.
    \f

    Parameters
    ----------
    model : str
        The model family.
    n, L, J0, boundary, disorder, degree, couplings, file_format : object or None
        The family's parameters (``--n``, ``--L``, ``--J0``, ``--boundary``, ``--disorder``, ``--degree``,
        ``--couplings``, ``--format``); None: the family's default.
    sample : int
        ``--sample``: the disorder sample k.
    seed : int
        ``--seed``: sample k is drawn from rng([seed, k]).
    J : float
        ``--J``: the coupling scale.
    h : float
        ``--h``: the uniform field added to every h_i.
    out_path : pathlib.Path
        ``--out``: the file to write.
    to : str or None
        ``--to``: npz, edges, uai or fg; None: from the extension of ``out_path``.
    overwrite : bool
        ``--overwrite``: replace an existing file.
    """
    with _user_errors():
        from isingvar.export import export_instance

        params = _model_params(n, L, J0, boundary, disorder, degree, couplings, file_format)
        summary = export_instance(model, params, seed=seed, sample=sample, J=J, h=h,
                                  out=out_path, format=to, overwrite=overwrite)
        out.print(f"wrote {summary.path} ({summary.format}: N = {summary.n}, {summary.n_edges} couplings, "
                  f"{summary.n_fields} nonzero fields)", highlight=False)
