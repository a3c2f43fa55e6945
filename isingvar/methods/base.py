"""Placeholder of the method plug-in interface (docs: /work/notes/plugin_api.md); the real module comes
from the plug-in branch at merge.  Kept identical to the decided specification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Var:
    name: str
    kind: str
    quantity: str | None
    units: str
    long_name: str
    dtype: str = "f8"
    per: str = "beta"
    fill: int | None = None
    nonfinite: str | None = None
    flags: tuple = ()


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    settings: type
    variables: tuple
    run: Callable
    cost: Callable
    progress_units: Callable
    default: bool = False
    needs: tuple = ()
