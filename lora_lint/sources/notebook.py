"""Jupyter notebooks (``.ipynb``): the Python code cells, read as one script, as ruff reads them.

``view(source)`` turns a notebook's JSON into the ``SourceFile`` the rest of lora-lint reads: the
code cells that hold Python, each followed by a line break, joined in order (a model loaded in
one cell and a config built in another are connected, as in a script). Its kind is PYTHON, so
the Python reader, the comment scanner (suppressions, the base-model comment) and the Python
fix builders read it as they read a script; IPython's own lines are masked by the Python reader
(``ipython``). Its ``rows`` are a ``Cells``, which knows

* where each line is: ``cell N`` and the line within it, N counting every cell of the notebook
  from 1 (markdown cells too), as Jupyter shows them and ruff prints them (``locate``);
* where each character is in the notebook's JSON text (``in_file``): for formats and editors
  that point into the file as it is on disk;
* how a fixed text goes back into the notebook (``file_text``): only the ``source`` of the cells
  whose text changed is rewritten, element by element, in the notebook's own JSON style (its
  indentation, its escapes); every other byte of the file stays as it was.

Left out of the script: markdown and raw cells; a cell that a cell magic hands to another
program (``%%bash``, ``%%writefile``; ``%%capture`` and ``%%time`` run Python); a cell that is not
Python even with IPython's lines masked, unless it holds a LoRA marker: Jupyter runs each cell on
its own, so a broken cell breaks only itself, and one with a LoRA config stays in so that its
syntax error is reported (LL901, at its cell); every cell of a notebook whose kernel is not
Python. A file that is not JSON, or not a notebook of format 4, is LL901 (``view`` runs only on a
file with a LoRA marker).
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field, replace
from json.decoder import JSONDecoder, scanstring
from json.scanner import make_scanner
from typing import Any

from .. import ipython
from ..model import Span
from ..source_file import LINE_BREAK, Kind, SourceFile, lines_with_breaks
from ._base import PYTHON_MARKERS, SourceError

_WS = re.compile(r"[ \t\n\r]*")
_scan_value = make_scanner(JSONDecoder())  # (value, end) of the JSON value at an index (C speed)


@dataclass(frozen=True)
class CodeCell:
    """One code cell of the script: its number in the notebook, its text, where its ``source``
    is in the JSON (the value's bounds, and each string element's), and where it starts in the
    script."""

    number: int  # 1-based, among all cells
    text: str
    value: tuple[int, int]  # offsets of the ``source`` value in the JSON text
    items: tuple[tuple[int, int], ...]  # offsets of each string token (quotes included)
    listed: bool  # ``source`` is a list of strings (else one string)
    first: int = 1  # its first line in the script
    lines: int = 1  # how many lines of the script it takes (its text and the added line break)
    stub: str | None = None  # a cell that does not parse: what it gives the script (its imports)

    @property
    def script(self) -> str:
        """What the cell gives the script."""
        return self.text if self.stub is None else self.stub


@dataclass(frozen=True)
class Cells:
    """The ``rows`` of a notebook's script (see the module's docstring)."""

    raw: str  # the notebook's JSON text
    cells: tuple[CodeCell, ...]
    ascii: bool  # the JSON escapes every non-ASCII character (``ensure_ascii``)
    problems: tuple[tuple[str, Span], ...] = ()  # cells with a LoRA config that do not parse (LL901)
    _firsts: tuple[int, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_firsts", tuple(c.first for c in self.cells))

    def _cell_at(self, line: int) -> CodeCell | None:
        if not self.cells:
            return None
        i = max(0, bisect.bisect_right(self._firsts, line) - 1)
        return self.cells[i]

    def locate(self, line: int) -> tuple[int | None, int]:
        cell = self._cell_at(line)
        if cell is None:
            return None, line
        return cell.number, min(max(1, line - cell.first + 1), cell.lines)

    # -- the script's text and the JSON --------------------------------------------------------

    def split(self, text: str) -> list[tuple[CodeCell, str]]:
        """Each cell of the script ``text`` (whose lines these rows describe) with its text."""
        starts = [0] + [m.end() for m in LINE_BREAK.finditer(text)]
        out = []
        for cell in self.cells:
            a = starts[cell.first - 1] if cell.first - 1 < len(starts) else len(text)
            end_line = cell.first - 1 + cell.lines
            b = starts[end_line] if end_line < len(starts) else len(text)
            piece = text[a:b]
            out.append((cell, piece[:-1] if piece.endswith("\n") else piece))
        return out

    def parts(self, text: str) -> list[tuple[int, str]]:
        return [(cell.number, body) for cell, body in self.split(text)]

    def edited(self, before: SourceFile, ranges: list[tuple[int, int, str]]) -> Cells:
        """The rows of ``before``'s text once ``ranges`` (``(start, end, new)`` offsets, not
        overlapping) are applied: each cell grows or shrinks by the lines its edits add or
        remove. An edit never crosses cells (each cell parses on its own)."""
        text = before.text
        bounds = [before.starts[c.first - 1] for c in self.cells] + [len(text)]
        delta = [0] * len(self.cells)
        for start, end, new in ranges:
            i = max(0, bisect.bisect_right(bounds, start) - 1)
            i = min(i, len(self.cells) - 1)
            delta[i] += len(LINE_BREAK.findall(new)) - len(LINE_BREAK.findall(text[start:end]))
        out, first = [], 1
        for cell, d in zip(self.cells, delta, strict=True):
            out.append(replace(cell, first=first, lines=cell.lines + d))
            first += cell.lines + d
        return Cells(self.raw, tuple(out), self.ascii, self.problems)

    def file_text(self, text: str) -> str:
        """The notebook's JSON with the cells' text taken from the script ``text``."""
        edits = []
        for cell, new in self.split(text):
            if new != cell.script:
                edits.append((*cell.value, self._render(cell, new)))
        out = self.raw
        for start, end, new in sorted(edits, reverse=True):
            out = out[:start] + new + out[end:]
        return out

    def _string(self, s: str) -> str:
        return json.dumps(s, ensure_ascii=self.ascii)

    def _render(self, cell: CodeCell, new: str) -> str:
        """The JSON of a cell's ``source`` holding ``new``; unchanged elements keep their bytes."""
        raw = self.raw
        if not cell.listed:
            return self._string(new)
        old = [json.loads(raw[a:b]) for a, b in cell.items]
        head = 0  # whole elements kept at the start...
        pos = 0
        while head < len(old) and new.startswith(old[head], pos) and old[head]:
            pos += len(old[head])
            head += 1
        tail = 0  # ... and at the end
        end = len(new)
        while tail < len(old) - head and old[-1 - tail] and new.endswith(old[-1 - tail], pos, end):
            end -= len(old[-1 - tail])
            tail += 1
        middle = [self._string(s) for s in lines_with_breaks(new[pos:end])]
        tokens = [raw[a:b] for a, b in cell.items[:head]] + middle + [
            raw[a:b] for a, b in cell.items[len(old) - tail:]]
        if not tokens:
            return "[]"
        opening, sep, closing = self._layout(cell)
        return "[" + opening + sep.join(tokens) + closing + "]"

    def _layout(self, cell: CodeCell) -> tuple[str, str, str]:
        """The whitespace of a cell's ``source`` list: after ``[``, between elements, before ``]``."""
        raw = self.raw
        start, end = cell.value
        if cell.items:
            opening = raw[start + 1:cell.items[0][0]]
            closing = raw[cell.items[-1][1]:end - 1]
            if len(cell.items) > 1:
                sep = raw[cell.items[0][1]:cell.items[1][0]]
            else:
                sep = "," + opening
            return opening, sep, closing
        lines = self._json()
        row = lines.position(start)[0]
        if row == 1:  # (all on one line)
            return "", ",", ""
        indent = re.match(r"[ \t]*", lines.line(row)).group()
        unit = re.match(r"[ \t]*", lines.line(2)).group() or " "
        newline = lines.newline
        return newline + indent + unit, "," + newline + indent + unit, newline + indent

    def _json(self) -> SourceFile:
        """The notebook's JSON text, for its line table."""
        return SourceFile("", self.raw, Kind.JSON)

    def in_file(self, line: int, col: int) -> tuple[int, int]:
        """Where 1-based ``line``/``col`` of the script is in the notebook's JSON text."""
        cell = self._cell_at(line)
        if cell is None:
            return 1, 1
        starts = [0] + [m.end() for m in LINE_BREAK.finditer(cell.text)]
        row = min(max(1, line - cell.first + 1), len(starts))
        offset = min(starts[row - 1] + col - 1, len(cell.text))
        return self._json().position(self._raw_offset(cell, offset))

    def _raw_offset(self, cell: CodeCell, offset: int) -> int:
        """The offset in the JSON text of character ``offset`` of a cell's text."""
        raw = self.raw
        for a, b in cell.items:
            i = a + 1  # after the opening quote
            while i < b - 1:
                if offset == 0:
                    return i
                if raw[i] == "\\":
                    if raw[i + 1] == "u":
                        code = int(raw[i + 2:i + 6], 16)
                        i += 12 if 0xD800 <= code < 0xDC00 and raw.startswith("\\u", i + 6) else 6
                    else:
                        i += 2
                else:
                    i += 1
                offset -= 1
            if offset == 0 and (a, b) == cell.items[-1]:
                return b - 1
        return cell.items[-1][1] - 1 if cell.items else cell.value[0]


# -- reading --------------------------------------------------------------------------------------

class _Bad(Exception):
    def __init__(self, message: str, at: int):
        super().__init__(message)
        self.message = message
        self.at = at


@dataclass
class _RawCell:
    fields: dict[str, Any]
    value: tuple[int, int] | None = None
    items: tuple[tuple[int, int], ...] = ()
    listed: bool = False


class _Reader:
    """The notebook's JSON, read with the standard library's scanner (C speed for every value)
    while the ``cells`` and their ``source`` strings are located."""

    def __init__(self, text: str):
        self.text = text

    def ws(self, i: int) -> int:
        return _WS.match(self.text, i).end()

    def char(self, i: int, expected: str) -> int:
        i = self.ws(i)
        if not self.text.startswith(expected, i):
            raise _Bad(f"expected {expected!r}", i)
        return i + 1

    def value(self, i: int) -> tuple[Any, int]:
        i = self.ws(i)
        try:
            return _scan_value(self.text, i)
        except StopIteration as e:
            raise _Bad("expected a value", e.value) from None
        except json.JSONDecodeError as e:
            raise _Bad(e.msg, e.pos) from None

    def members(self, i: int, on_member) -> int:
        """Read the object at ``i``, calling ``on_member(key, at)`` (which returns where the
        member's value ends) for each member; the end of the object."""
        i = self.char(i, "{")
        i = self.ws(i)
        if self.text.startswith("}", i):
            return i + 1
        while True:
            i = self.ws(i)
            if not self.text.startswith('"', i):
                raise _Bad("expected a property name in double quotes", i)
            try:
                key, i = scanstring(self.text, i + 1)
            except json.JSONDecodeError as e:
                raise _Bad(e.msg, e.pos) from None
            i = self.char(i, ":")
            i = on_member(key, self.ws(i))
            i = self.ws(i)
            if self.text.startswith(",", i):
                i += 1
            elif self.text.startswith("}", i):
                return i + 1
            else:
                raise _Bad("expected ',' or '}'", i)

    def elements(self, i: int, on_element) -> int:
        i = self.char(i, "[")
        i = self.ws(i)
        if self.text.startswith("]", i):
            return i + 1
        while True:
            i = on_element(self.ws(i))
            i = self.ws(i)
            if self.text.startswith(",", i):
                i += 1
            elif self.text.startswith("]", i):
                return i + 1
            else:
                raise _Bad("expected ',' or ']'", i)

    def notebook(self) -> tuple[dict[str, Any], list[_RawCell] | None]:
        top: dict[str, Any] = {}
        cells: list[_RawCell] | None = None

        def member(key: str, at: int) -> int:
            nonlocal cells
            if key == "cells" and self.text.startswith("[", at):
                cells = []
                return self.elements(at, lambda i: self.cell(i, cells))
            top[key], end = self.value(at)
            return end

        i = self.ws(0)
        if not self.text.startswith("{", i):
            raise _Bad("a notebook is a JSON object", i)
        end = self.ws(self.members(i, member))
        if end != len(self.text):
            raise _Bad("extra data after the notebook", end)
        return top, cells

    def cell(self, at: int, cells: list[_RawCell]) -> int:
        if not self.text.startswith("{", at):
            _, end = self.value(at)
            cells.append(_RawCell({}))
            return end
        cell = _RawCell({})

        def member(key: str, i: int) -> int:
            if key != "source":
                cell.fields[key], end = self.value(i)
                return end
            items: list[tuple[int, int]] = []

            def element(j: int) -> int:
                value, end = self.value(j)
                if isinstance(value, str):
                    items.append((j, end))
                else:
                    cell.fields["source"] = None  # not text: the cell is refused below
                return end

            if self.text.startswith("[", i):
                end = self.elements(i, element)
                cell.listed = True
            else:
                value, end = self.value(i)
                if isinstance(value, str):
                    items.append((i, end))
            cell.value, cell.items = (i, end), tuple(items)
            cell.fields.setdefault("source", "")
            return end

        end = self.members(at, member)
        cells.append(cell)
        return end


def view(source: SourceFile) -> SourceFile:
    """The notebook's Python script (see the module's docstring). Raises ``SourceError`` (LL901)
    for a file that is not a notebook lora-lint can read."""
    if source.rows is not None:
        return source
    text = source.text
    try:
        top, raw_cells = _Reader(text).notebook()
    except _Bad as e:
        raise SourceError(f"notebook is not valid JSON ({e.message})", Span.point(*source.position(e.at))) from None
    except RecursionError:
        raise SourceError("notebook is nested too deeply to read", Span.point(1, 1)) from None
    fmt = top.get("nbformat")
    if fmt is not None and fmt != 4:
        raise SourceError(f"notebook format {fmt!r} is not read: lora-lint reads nbformat 4, what Jupyter"
                          " has written since 2015 (open and save the notebook in Jupyter to convert it)",
                          Span.point(1, 1))
    if raw_cells is None or fmt is None:
        raise SourceError("not a Jupyter notebook: no `cells` list or `nbformat`", Span.point(1, 1))
    code: list[CodeCell] = []
    if _is_python(top.get("metadata")):
        for number, raw in enumerate(raw_cells, 1):
            if raw.fields.get("cell_type") != "code" or raw.value is None:
                continue
            if raw.fields.get("source") is None:
                raise SourceError(f"cell {number}: its `source` is not text",
                                  Span.point(*source.position(raw.value[0])))
            body = "".join(json.loads(text[a:b]) for a, b in raw.items)
            code.append(CodeCell(number, body, raw.value, raw.items, raw.listed))
    return script(source, code, text)


def script(source: SourceFile, code: list[CodeCell], raw: str = "") -> SourceFile:
    """The script of a notebook's code ``cells`` (in order; ``first``, ``lines`` and ``stub`` are
    set here), as the file ``source``; ``raw``: the notebook's JSON (empty for an editor's
    notebook document, whose cells are documents of their own)."""
    from .python_depth import MAX_TOKENS, measure

    cells: list[CodeCell] = []
    problems: list[tuple[str, Span]] = []
    first = 1
    # each cell's syntax check parses it: together they parse at most MAX_TOKENS tokens (a 3 MB
    # cell took 740 MB); past that the script is past the bound its own parse screens for (LL901)
    budget = MAX_TOKENS
    for cell in code:
        body = cell.text
        if not ipython.python_cell(body):
            continue
        if budget >= 0:
            budget -= measure(body, budget)[1]
        error = _syntax_error(body) if budget >= 0 else None
        stub = None
        if error is not None:
            if not any(m in body for m in PYTHON_MARKERS):
                continue
            # (a LoRA cell that cannot run: LL901 at it; its imports stay, so the rest of the
            # notebook reads as it will once the cell is fixed)
            message, line, col = error
            problems.append((f"syntax error in cell {cell.number}: {message} (Jupyter runs nothing of"
                             " this cell)", Span.point(first + line - 1, col)))
            stub = _imports_only(body)
        lines = len(LINE_BREAK.findall(body)) + 1
        cells.append(replace(cell, first=first, lines=lines, stub=stub))
        first += lines
    text = "".join(c.script + "\n" for c in cells)
    rows = Cells(raw, tuple(cells), _escapes_non_ascii(raw), tuple(problems))
    return SourceFile(source.path, text, Kind.PYTHON, encoding=source.encoding, bom=source.bom,
                      stamp=source.stamp, rows=rows)


def sites(source: SourceFile) -> list:
    """The sites of the notebook's script (``sources.sites_for`` reads the presented script)."""
    from . import python

    return python.sites(view(source))


def _is_python(metadata: Any) -> bool:
    """The notebook's kernel runs Python (or does not say)."""
    if not isinstance(metadata, dict):
        return True
    for key, name in (("kernelspec", "language"), ("language_info", "name")):
        info = metadata.get(key)
        if isinstance(info, dict) and isinstance(info.get(name), str):
            return info[name].lower() == "python"
    return True


def _syntax_error(body: str) -> tuple[str, int, int] | None:
    """``(message, line, col)`` of the syntax error of a cell with IPython's lines masked (what
    Python's own parser says), None when it parses."""
    error = _error(body)
    if error is None:
        return None
    masked = ipython.masked(body)
    return error if masked == body else _error(masked)


def _error(text: str) -> tuple[str, int, int] | None:
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (odd escapes in the user's strings)
            ast.parse(text)
    except SyntaxError as e:
        return e.msg, max(1, e.lineno or 1), max(1, e.offset or 1)
    except (ValueError, MemoryError) as e:
        return str(e), 1, 1
    except RecursionError:
        return None  # (deep, but Python: the reader says how deep)
    return None


_IMPORT = re.compile(r"(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]")


def _imports_only(body: str) -> str:
    """The cell with only its top-level import statements, every other line emptied (its line
    breaks kept, so lines stay where they were)."""
    lines = lines_with_breaks(body)
    keep = [False] * len(lines)
    i = 0
    while i < len(lines):
        if _IMPORT.match(lines[i]):
            for j in range(i, min(i + 50, len(lines))):
                if _error("".join(lines[i:j + 1])) is None:
                    keep[i:j + 1] = [True] * (j + 1 - i)
                    i = j
                    break
        i += 1
    return "".join(line if k else line[len(line.rstrip("\r\n")):] for line, k in zip(lines, keep, strict=True))


def _escapes_non_ascii(raw: str) -> bool:
    """The JSON was written with ``ensure_ascii``: no character above ASCII, and ``\\u`` escapes
    of such characters (a file without either is written as Jupyter writes: characters as they are)."""
    return raw.isascii() and re.search(r"\\u(?!00[0-7])[0-9a-fA-F]{4}", raw) is not None
