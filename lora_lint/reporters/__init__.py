"""Reporters: pure functions from a list of findings to text. ``FORMATS[name](findings, info)``."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from ..model import Finding

Reporter = Callable[[list[Finding], "RunInfo"], str]


@dataclass
class RunInfo:
    """What a reporter may say besides the findings."""

    files_checked: int = 0
    versions: dict = field(default_factory=dict)  # library versions the facts came from
    color: bool = False  # ANSI colour (concise, full, grouped): a TTY and NO_COLOR unset
    summary: bool = True  # the closing "Found ..." line of the human formats (off with -q)
    sources: dict[str, str] = field(default_factory=dict)  # texts not on disk (stdin), by path
    root: str = field(default_factory=os.getcwd)  # what relative paths in SARIF/GitLab are against
    unsafe_fixes: bool = False  # unsafe fixes count as available (``--unsafe-fixes``)
    fixing: bool = False  # fixes were applied (``--fix``): the summary counts them
    fixed: int = 0  # findings whose fix was applied

    def fixable(self, f: Finding) -> bool:
        """The finding has a fix this run would apply with ``--fix`` (marked ``[*]``)."""
        return f.fix is not None and (f.fix.safe or self.unsafe_fixes)

    def mark(self, f: Finding) -> str:
        """``[*] `` for a fixable finding (ruff's convention), else ''."""
        return "[*] " if self.fixable(f) else ""

    def lines(self, path: str) -> list[str] | None:
        """The lines of ``path`` (from ``sources`` or the disk), None when unreadable."""
        if path not in self.sources:
            try:
                with open(path, encoding="utf-8-sig", errors="replace") as f:
                    self.sources[path] = f.read()
            except OSError:
                return None
        return self.sources[path].splitlines()

    def snippet(self, f: Finding) -> str:
        """The text a finding points at (its first line), '' when unknown."""
        lines = self.lines(f.path)
        if not lines or f.span.line > len(lines):
            return ""
        line = lines[f.span.line - 1]
        end = f.span.end_col - 1 if f.span.end_line == f.span.line else len(line)
        return line[f.span.col - 1 : end]

    def relpath(self, path: str, root: str | None = None) -> str | None:
        """``path`` relative to ``root`` (default ``self.root``) with '/' separators; None when
        it lies outside."""
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root or self.root))
        if rel == ".." or rel.startswith(".." + os.sep):
            return None
        return rel.replace(os.sep, "/")


class _Formats(Mapping):
    """Output format name -> reporter; a reporter's module is imported only when it is used."""

    MODULES = {
        "concise": "concise", "full": "full", "grouped": "grouped", "json": "json_format",
        "json-lines": "json_lines", "sarif": "sarif", "github": "github", "gitlab": "gitlab",
        "junit": "junit",
    }

    def __getitem__(self, name: str) -> Reporter:
        return importlib.import_module(f"{__name__}.{self.MODULES[name]}").render

    def __iter__(self) -> Iterator[str]:
        return iter(self.MODULES)

    def __len__(self) -> int:
        return len(self.MODULES)


FORMATS: Mapping[str, Reporter] = _Formats()
