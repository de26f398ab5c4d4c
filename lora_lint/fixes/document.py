"""One file's text for fix builders: positions <-> offsets, its line breaks, its parsed structure.

Line breaks are counted the way the file's parser counts them, so a ``Span`` from a source maps
to the same characters here: ``\\r\\n``, ``\\r`` and ``\\n`` for Python and JSON, and YAML's
``\\x85``/``\\u2028``/``\\u2029`` as well. Nothing is parsed until a builder asks.
"""

from __future__ import annotations

import bisect
import re
from functools import cached_property

from ..model import Edit, Span
from ..sources import PYTHON_SUFFIXES

PY_BREAK = re.compile(r"\r\n|\r|\n")
#: YAML's line breaks (as ``sources.yaml_nodes.LINE_BREAK``; not imported, so Python-only runs
#: never load PyYAML).
YAML_BREAK = re.compile(r"\r\n|\r|\n|\x85|\u2028|\u2029")


class Document:
    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        lower = path.lower()
        self.kind = ("python" if lower.endswith(PYTHON_SUFFIXES)
                     else "json" if lower.endswith(".json") else "yaml")

    # -- positions --------------------------------------------------------------------------------

    @cached_property
    def _breaks(self) -> list[re.Match]:
        pattern = YAML_BREAK if self.kind == "yaml" else PY_BREAK
        return list(pattern.finditer(self.text))

    @cached_property
    def starts(self) -> list[int]:
        """The offset where each line starts (line 1 at index 0)."""
        return [0] + [m.end() for m in self._breaks]

    @cached_property
    def newline(self) -> str:
        """The file's line break (its first one), ``\\n`` for a one-line file."""
        first = self._breaks[0].group() if self._breaks else "\n"
        return first if first in ("\n", "\r\n", "\r") else "\n"

    def offset(self, line: int, col: int) -> int:
        """The offset of 1-based ``line``/``col``; raises ValueError outside the text."""
        if not 1 <= line <= len(self.starts) or col < 1:
            raise ValueError(f"no position {line}:{col} in {self.path}")
        start = self.starts[line - 1]
        end = self.line_end(line)
        if start + col - 1 > end:
            raise ValueError(f"no position {line}:{col} in {self.path}")
        return start + col - 1

    def line_end(self, line: int) -> int:
        """The offset where ``line``'s content ends (before its line break)."""
        return self._breaks[line - 1].start() if line - 1 < len(self._breaks) else len(self.text)

    def position(self, offset: int) -> tuple[int, int]:
        """1-based ``(line, col)`` of ``offset``."""
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def span(self, start: int, end: int) -> Span:
        return Span(*self.position(start), *self.position(end))

    def bounds(self, span: Span) -> tuple[int, int]:
        return self.offset(span.line, span.col), self.offset(span.end_line, span.end_col)

    def slice(self, span: Span) -> str:
        start, end = self.bounds(span)
        return self.text[start:end]

    def line(self, n: int) -> str:
        """Line ``n`` (1-based) without its break; '' past the end."""
        if not 1 <= n <= len(self.starts):
            return ""
        return self.text[self.starts[n - 1]:self.line_end(n)]

    # -- edits ------------------------------------------------------------------------------------

    def replace(self, start: int, end: int, new: str) -> tuple[Edit, ...]:
        """The edit turning ``text[start:end]`` into ``new``, narrowed to what differs."""
        old = self.text[start:end]
        if old == new:
            return ()
        head = 0
        limit = min(len(old), len(new))
        while head < limit and old[head] == new[head]:
            head += 1
        tail = 0
        while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
            tail += 1
        a, b, inserted = start + head, end - tail, new[head:len(new) - tail]
        if a == b:
            a, inserted = self._line_start_insertion(a, inserted)
            b = a
        return (Edit(self.span(a, b), inserted),)

    def _line_start_insertion(self, at: int, inserted: str) -> tuple[int, str]:
        """An insertion can often slide left (``ab|b`` + ``b`` = ``a|b`` + ``b``...); where it can
        start a line, it does: whole added lines read best in a diff and an editor."""
        pos, text = at, inserted
        while pos > 0 and text and self.text[pos - 1] == text[-1]:
            pos, text = pos - 1, self.text[pos - 1] + text[:-1]
            before, after = self.text[pos - 1:pos], self.text[pos:pos + 1]
            if pos == 0 or before == "\n" or (before == "\r" and after != "\n"):
                return pos, text
        return at, inserted

    def rewrite(self, new_text: str) -> tuple[Edit, ...]:
        """The edit turning the whole text into ``new_text``, narrowed to what differs."""
        return self.replace(0, len(self.text), new_text)

    # -- structure --------------------------------------------------------------------------------

    @cached_property
    def python(self):
        """The file's ``PyTree`` (libcst), or None when it does not parse."""
        from .python_edits import PyTree

        try:
            return PyTree(self.text)
        except Exception:
            return None

    @cached_property
    def nodes(self):
        """The file's ``NodeIndex`` (YAML/JSON nodes by position), or None when it does not parse."""
        from .yaml_edits import NodeIndex

        try:
            return NodeIndex(self)
        except Exception:
            return None
