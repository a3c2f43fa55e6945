"""Write the instance a sweep would use to a file other tools read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError, ModelParameterError


@dataclass(frozen=True)
class ExportSummary:
    """What ``model export`` wrote: the file and the instance it holds."""
    path: Path
    format: str
    n: int
    n_edges: int
    n_fields: int


def export_instance(model: str, params: dict, *, seed: int = 0, sample: int = 0, J: float = 1.0, h: float = 0.0,
                    out, format: str | None = None, overwrite: bool = False) -> ExportSummary:
    """Write sample ``sample`` of family ``model`` (seed ``seed``), scaled to (J, h), to ``out``.

    The instance is :func:`isingvar.families.make_instance` followed by
    :meth:`isingvar.model.IsingModel.scaled`, exactly as ``isingvar sweep``
    builds the instance at coordinates (sample, J, h).  UAI and .fg files hold
    potentials at beta = 1: psi = exp(J_ij s_i s_j) per coupling and exp(h_i s_i)
    per field (s = 2x - 1), so their ln Z is the Ising ln Z at beta = 1 (an
    ``lnZ_offset`` of a model read from such a file is not carried over).
    The file is written under a temporary name and renamed
    (:func:`isingvar.io.outputs.replace_atomically`: a symbolic link is followed,
    only a regular file is replaced, its folder is created).

    Parameters
    ----------
    model : str
        Family name (:mod:`isingvar.families`).
    params : dict
        The family's parameters as the user gave them (defaults filled in and checked here,
        :func:`isingvar.families.resolve_params`).
    seed : int
        The seed, in 0..2^63-1.
    sample : int
        The sample index, in 0..2^63-1.
    J : float
        Factor of every coupling, finite.
    h : float
        Added to every field, finite.
    out : path-like
        The file to write.
    format : str, optional
        The file format, as in :func:`isingvar.io.couplings.format_of`; None or "auto": from the
        extension of ``out``.
    overwrite : bool
        Replace an existing ``out``.

    Returns
    -------
    ExportSummary
        ``out``, the format written, N, the number of coupled pairs and the number of non-zero fields.

    Raises
    ------
    UnknownModelError, ModelParameterError, CouplingsFileError
        For bad model parameters, a sample or seed outside 0..2^63-1, a J or h that is not finite,
        or an unknown format.
    ModelError
        If J or h scale the instance beyond the energy range the sweep accepts
        (:func:`isingvar.model.check_energy_range`).
    OutputExistsError
        If ``out`` exists and ``overwrite`` is false.
    OutputPathError, OutputBusyError, OutputWriteError
        As :func:`isingvar.io.outputs.check_output` and :func:`isingvar.io.outputs.replace_atomically`.
    """
    from .families import check_seed, make_instance, resolve_params
    from .io.couplings import format_of, write_model_file
    from .io.outputs import check_output, hold_output, replace_atomically
    from .model import check_energy_range

    check_seed(seed, sample)
    if not (math.isfinite(J) and math.isfinite(h)):
        raise ModelParameterError(f"--J and --h must be finite numbers, got {J} and {h}")
    out = Path(out)
    fmt = format_of(out, format)
    check_output(out, overwrite)
    instance = make_instance(model, resolve_params(model, params), seed, sample).scaled(J, h)
    try:  # the sweep's rule: a file it would refuse (energies that overflow) is not written
        check_energy_range(instance)
    except ModelError as e:
        raise ModelError(f"--J {J:g} and --h {h:g}: {e}; use smaller values") from None
    with hold_output(out):
        check_output(out, overwrite)  # again under the lock: no other run wrote it meanwhile
        replace_atomically(out, lambda tmp: write_model_file(instance, tmp, fmt))
    return ExportSummary(out, fmt, instance.n, instance.n_edges, int(np.count_nonzero(instance.fields)))
