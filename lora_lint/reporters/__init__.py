"""Reporters: pure functions from a list of findings to text. ``FORMATS[name](findings, info)``."""

from __future__ import annotations

import os
from collections.abc import Callable
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


def _formats() -> dict[str, Reporter]:
    from . import concise, full, github, gitlab, grouped, json_format, json_lines, junit, sarif

    return {
        "concise": concise.render,
        "full": full.render,
        "grouped": grouped.render,
        "json": json_format.render,
        "json-lines": json_lines.render,
        "sarif": sarif.render,
        "github": github.render,
        "gitlab": gitlab.render,
        "junit": junit.render,
    }


FORMATS: dict[str, Reporter] = _formats()
