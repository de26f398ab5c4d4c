"""Reporters: pure functions from a list of findings to text. ``FORMATS[name](findings, info)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..model import Finding
from . import concise, json_format

Reporter = Callable[[list[Finding], "RunInfo"], str]


@dataclass
class RunInfo:
    """What a reporter may say besides the findings."""

    files_checked: int = 0
    versions: dict = field(default_factory=dict)  # library versions the facts came from


FORMATS: dict[str, Reporter] = {
    "concise": concise.render,
    "json": json_format.render,
}
