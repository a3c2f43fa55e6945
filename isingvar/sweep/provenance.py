"""Where and with what a result file was written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def provenance(environ=None) -> dict:
    """Where and with what a file was written: versions, host, git commit when known, SLURM ids.

    Parameters
    ----------
    environ : mapping, optional
        Environment to read the SLURM ids from; default ``os.environ``.

    Returns
    -------
    dict
        ``hostname``, ``python_version``, ``numpy_version``, ``numba_version``, ``h5py_version``;
        ``git_commit`` when running from a git checkout (``-dirty`` marks local changes), and
        ``slurm_job_id``, ``slurm_array_job_id``, ``slurm_array_task_id`` where set (str).
    """
    import platform
    import socket

    import h5py
    import numba

    environ = os.environ if environ is None else environ
    d = {
        "hostname": socket.gethostname(),
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "numba_version": numba.__version__,
        "h5py_version": h5py.__version__,
    }
    commit = _git_commit()
    if commit:
        d["git_commit"] = commit
    for var in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        if var in environ:
            d[var.lower()] = environ[var]
    return d


def _git_commit() -> str | None:
    # known only when running from a git checkout (editable install); "-dirty" marks local changes
    import subprocess

    root = Path(__file__).resolve().parents[2]  # the checkout: isingvar/sweep/provenance.py
    if not (root / ".git").exists():
        return None
    try:
        r = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40"],
                           capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return r.stdout.strip() or None
