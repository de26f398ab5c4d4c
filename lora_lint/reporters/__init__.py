"""Reporters: pure functions from a list of findings to text. ``FORMATS[name](findings, info)``.

What a report quotes from a file (a code frame, a fingerprint) comes from ``RunInfo.sources``: the
``SourceFile`` of each file with findings, handed over by the run; files are never read again."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from ..model import Finding, Span
from ..source_file import SourceFile

Reporter = Callable[[list[Finding], "RunInfo"], str]


@dataclass
class RunInfo:
    """What a reporter may say besides the findings."""

    files_checked: int = 0
    versions: dict = field(default_factory=dict)  # library versions the facts came from
    color: bool = False  # ANSI colour (concise, full, grouped): a TTY and NO_COLOR unset
    summary: bool = True  # the closing "Found ..." line of the human formats (off with -q)
    sources: dict[str, SourceFile] = field(default_factory=dict)  # the files with findings, by path
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
        """The lines of ``path``, None when the run has no text for it."""
        source = self.sources.get(path)
        return None if source is None else source.lines

    def at(self, f: Finding) -> str:
        """Where a finding is, as its user finds it: ``LINE:COL``, or ``cell N:LINE:COL`` in a
        file whose reader maps its lines to cells (``SourceFile.locate``)."""
        source = self.sources.get(f.path)
        cell, line = (None, f.span.line) if source is None else source.locate(f.span.line)
        return f"{line}:{f.span.col}" if cell is None else f"cell {cell}:{line}:{f.span.col}"

    def cell(self, f: Finding) -> int | None:
        """The notebook cell a finding is in, None in a file without cells."""
        source = self.sources.get(f.path)
        return None if source is None or source.rows is None else source.locate(f.span.line)[0]

    def in_cell(self, span: Span, path: str) -> Span:
        """``span`` with its lines counted within its cell (ruff's JSON for notebooks)."""
        source = self.sources.get(path)
        if source is None or source.rows is None:
            return span
        return Span(source.locate(span.line)[1], span.col, source.locate(span.end_line)[1], span.end_col)

    def in_file(self, span: Span, path: str) -> Span:
        """``span`` in the file's own text: a notebook's JSON, where a consumer that shows the
        file (a code-scanning view, a merge request) finds its lines."""
        source = self.sources.get(path)
        if source is None or source.rows is None:
            return span
        return Span(*source.file_position(span.line, span.col), *source.file_position(span.end_line, span.end_col))

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


def _json_escape(err: UnicodeError) -> tuple[str, int]:
    out = []
    for c in err.object[err.start:err.end]:
        o = ord(c)
        if o > 0xFFFF:  # a surrogate pair, as JSON spells it
            o -= 0x10000
            out.append(f"\\u{0xD800 + (o >> 10):04x}\\u{0xDC00 + (o & 0x3FF):04x}")
        else:
            out.append(f"\\u{o:04x}")
    return "".join(out), err.end


def _xml_escape(err: UnicodeError) -> tuple[str, int]:
    chunk = err.object[err.start:err.end]
    return "".join(f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else f"&#{ord(c)};" for c in chunk), err.end


def output_errors(fmt: str) -> str:
    """The codec error handler for writing ``fmt`` where a character cannot be encoded (an
    ASCII console; a file name's undecodable bytes): the format's own escape, so JSON stays JSON
    and XML stays XML; a backslash escape in the human formats."""
    import codecs

    if fmt in ("json", "json-lines", "sarif", "gitlab"):
        codecs.register_error("lora-lint-json", _json_escape)
        return "lora-lint-json"
    if fmt == "junit":
        codecs.register_error("lora-lint-xml", _xml_escape)
        return "lora-lint-xml"
    return "backslashreplace"


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
