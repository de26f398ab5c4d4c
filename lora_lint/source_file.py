"""One file as lora-lint reads it: ``SourceFile`` (its text, its ``Kind``, its line table, what its
bytes were) and ``decode`` (bytes -> text). The only module that knows file kinds, line breaks and
byte-order marks; readers, suppressions, fixes, reporters and the language server ask it.

Lines end at ``\\n``, ``\\r\\n`` and ``\\r`` in every kind of file: what Python (libcst, tokenize),
JSON, editors and the Language Server Protocol count. YAML also reads NEL and U+2028/U+2029 as
line breaks; its reader converts PyYAML's positions from character offsets, so such a character
inside a string does not move later findings (``YAML_ONLY_BREAKS``). ``str.splitlines`` is never
used on a file's text: it also breaks at form feeds and vertical tabs.

A reader may present a file through a text of its own (a notebook's code cells joined into one
Python text): it makes that ``SourceFile`` with ``rows``, which say where each of its lines is in
the real file (a cell and a line within it), and every position in findings refers to that text.
"""

from __future__ import annotations

import bisect
import enum
import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from .model import Span

TYPE_CHECKING = False  # typing is not imported at run time (a warm run needs none of it)
if TYPE_CHECKING:
    from typing import Any, Protocol, TypeVar

    T = TypeVar("T")


class Kind(enum.Enum):
    """What a file is, decided from its name (``kind_of``)."""

    PYTHON = "python"
    YAML = "yaml"
    JSON = "json"
    NOTEBOOK = "notebook"
    SHELL = "shell"


#: File name endings (lower case) -> kind. A kind is linted when a reader is registered for it
#: (``sources.READERS``).
SUFFIXES: dict[str, Kind] = {
    ".py": Kind.PYTHON, ".pyi": Kind.PYTHON,
    ".yaml": Kind.YAML, ".yml": Kind.YAML,
    ".json": Kind.JSON,
    ".ipynb": Kind.NOTEBOOK,
    ".sh": Kind.SHELL, ".bash": Kind.SHELL,
}


#: Files of a linted kind that hold data, never a LoRA config: a tokenizer's vocabulary, a
#: checkpoint's shard index, generation settings, a dataset's metadata, the Trainer's state. They
#: are not read at all, whatever their size (a 14 MB tokenizer.json never blocks a commit).
DATA_NAMES = frozenset({
    "tokenizer.json", "tokenizer_config.json", "vocab.json", "special_tokens_map.json", "added_tokens.json",
    "generation_config.json", "preprocessor_config.json", "processor_config.json", "chat_template.json",
    "dataset_info.json", "dataset_dict.json", "trainer_state.json",
})
DATA_SUFFIXES = (".safetensors.index.json", ".bin.index.json")


def is_data_file(path: str) -> bool:
    """A file named as a data file (``DATA_NAMES``, ``DATA_SUFFIXES``)."""
    lower = path.replace("\\", "/").lower()
    return lower.rsplit("/", 1)[-1] in DATA_NAMES or lower.endswith(DATA_SUFFIXES)


def module_file(module: str) -> str:
    """The file ``python -m a.b`` runs, relative to where it is run: ``a/b.py``."""
    return module.replace(".", "/") + ".py"


def kind_of(path: str) -> Kind | None:
    """The kind of the file named ``path``, None for a name of no kind lora-lint knows (and for a
    data file of a known kind: ``is_data_file``)."""
    lower = path.lower()
    kind = SUFFIXES.get(lower[lower.rfind("."):])  # (every suffix is one dot and a word)
    return None if kind is None or is_data_file(lower) else kind


def repository_root(start: str) -> str | None:
    """The repository holding the directory ``start``: the nearest directory at or above it with
    a ``.git``; None when there is none. The probes are recorded (``depends``): a ``.git``
    created or removed moves the repository a file belongs to."""
    from .depends import exists

    d = os.path.abspath(start)
    while True:
        if exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


@functools.cache
def shebang() -> re.Pattern:
    """``#!`` lines of the shells whose words bash's rules read (what pre-commit's ``shell`` type
    also sends for a file without a suffix); zsh, csh and tcsh split words otherwise. (Compiled
    when first asked: a walk never asks.)"""
    return re.compile(r"#![ \t]*(?:/usr)?(?:/local)?/bin/(?:env[ \t]+(?:-S[ \t]+)?)?(?:ba|da|a|k)?sh(?:\s|$)")


def kind_of_file(path: str, text: str) -> Kind | None:
    """The kind of a file from its name, else (a name without a known suffix) from its ``#!`` line."""
    kind = kind_of(path)
    if kind is None and text.startswith("#!") and shebang().match(text[:200]):
        return Kind.SHELL
    return kind


LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: Characters YAML (PyYAML, libyaml) also reads as line breaks; positions never count them.
YAML_ONLY_BREAKS = ("\x85", "\u2028", "\u2029")
#: The line breaks of YAML's grammar (what its parser reads, not what positions count).
YAML_BREAK = re.compile("\r\n|\r|\n|\x85|\u2028|\u2029")


def yaml_lines(text: str) -> str:
    """``text`` with every line break YAML reads turned into ``\\n`` (for a regular expression
    whose ``^`` must find the lines the YAML parser sees)."""
    if "\r" in text or any(c in text for c in YAML_ONLY_BREAKS):
        return YAML_BREAK.sub("\n", text)
    return text


def lines_with_breaks(text: str) -> list[str]:
    """The lines of ``text``, each with its line break (the last one may have none)."""
    out, start = [], 0
    for m in LINE_BREAK.finditer(text):
        out.append(text[start:m.end()])
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return out


def ends_a_line(text: str) -> bool:
    """``text`` ends with a line break."""
    return text.endswith(("\n", "\r"))


@dataclass(frozen=True)
class Stamp:
    """What a file's bytes were when they were read: a write-back can check nothing changed."""

    size: int
    mtime_ns: int
    sha256: str


if TYPE_CHECKING:  # (what a reader's rows object provides; readers are checked, not subclassed)
    class Rows(Protocol):
        """Where the lines of a reader's own text are in the real file (see the module's docstring)."""

        def locate(self, line: int) -> tuple[int | None, int]:
            """``(cell, line)``: the cell (None: the file has no cells) and the line within it or the file."""

        def in_file(self, line: int, col: int) -> tuple[int, int]:
            """Where 1-based ``line``/``col`` of the reader's text is in the real file's text."""

        def edited(self, before: SourceFile, ranges: list[tuple[int, int, str]]) -> Rows:
            """The rows of ``before``'s text once the edits ``ranges`` (``(start, end, new)``) apply."""

        def file_text(self, text: str) -> str:
            """The real file's text holding the reader's text ``text`` (a fixed version of it)."""

        def parts(self, text: str) -> list[tuple[int, str]]:
            """``(cell, its text)`` for each cell of the reader's text ``text`` (what a diff shows)."""

        @property
        def problems(self) -> tuple[tuple[str, Span], ...]:
            """``(message, span)`` of each part of the file its reader could not read (a notebook's
            cell that does not parse): LL901 each, while the rest is read."""


class SourceFile:
    """A file's text as its reader sees it (no byte-order mark), with its kind and line table.

    ``encoding`` and ``bom`` say how the bytes were decoded and ``stamp`` what they were (when the
    reading loop was asked to remember it, as ``--fix`` does; None for text an editor or standard
    input handed over): what ``--fix`` needs to write back without reading the file again. Structures
    derived from the text (a reader's parse tree, the fix builders' indexes) are kept with
    ``derived`` while the file is being checked, and dropped with ``forget``; they are never
    pickled (a worker process sends results, not trees).
    """

    __slots__ = ("path", "text", "kind", "encoding", "bom", "stamp", "rows", "_starts", "_lines", "_derived")

    def __init__(self, path: str, text: str, kind: Kind | None = None, *, encoding: str = "utf-8",
                 bom: bool = False, stamp: Stamp | None = None, rows: Rows | None = None):
        self.path = path
        self.text = text
        self.kind = kind
        self.encoding = encoding
        self.bom = bom
        self.stamp = stamp
        self.rows = rows
        self._starts: list[int] | None = None
        self._lines: list[str] | None = None
        self._derived: dict[Any, Any] = {}

    @classmethod
    def of_text(cls, path: str, text: str) -> SourceFile:
        """A file's text handed over as text (an editor, a text stream, a test): a leading
        byte-order mark is dropped, as the readers drop it."""
        bom = text.startswith("\ufeff")
        text = text[1:] if bom else text
        return cls(path, text, kind_of_file(path, text), bom=bom)

    def with_text(self, text: str) -> SourceFile:
        """The same file with other text (a fixed version): kind, encoding, BOM and rows kept
        (``edited`` moves the rows with the edits)."""
        return SourceFile(self.path, text, self.kind, encoding=self.encoding, bom=self.bom, rows=self.rows)

    def edited(self, ranges: list[tuple[int, int, str]]) -> SourceFile:
        """The same file with the edits ``ranges`` (``(start, end, new)`` offsets, not
        overlapping) applied; its rows, if it has any, follow them."""
        out = self.text
        for start, end, new in sorted(ranges, key=lambda r: (r[0], r[1]), reverse=True):
            out = out[:start] + new + out[end:]
        edited = self.with_text(out)
        if self.rows is not None and ranges:
            edited.rows = self.rows.edited(self, ranges)
        return edited

    @property
    def file_text(self) -> str:
        """The text of the real file: the text itself, or for a reader's own text (a notebook's
        script), the file holding it (``Rows.file_text``)."""
        return self.text if self.rows is None else self.rows.file_text(self.text)

    @property
    def problems(self) -> tuple[tuple[str, Span], ...]:
        """What the reader could not read while it read the rest (``Rows.problems``)."""
        return () if self.rows is None else self.rows.problems

    def where(self, line: int) -> str:
        """Line ``line`` as a message names it: ``line N``, or ``cell C, line N`` in a notebook."""
        cell, within = self.locate(line)
        return f"line {within}" if cell is None else f"cell {cell}, line {within}"

    def file_position(self, line: int, col: int) -> tuple[int, int]:
        """Where 1-based ``line``/``col`` of the text is in the real file's text."""
        return (line, col) if self.rows is None else self.rows.in_file(line, col)

    def encoded(self) -> bytes:
        """The real file's bytes for its text (``file_text``: a notebook's JSON holding its
        script): in its encoding, with its BOM. Raises ``UnicodeEncodeError`` for a character the
        encoding cannot write."""
        return (UTF8_BOM if self.bom else b"") + self.file_text.encode(self.encoding)

    def __getstate__(self):
        return (self.path, self.text, self.kind, self.encoding, self.bom, self.stamp, self.rows)

    def __setstate__(self, state) -> None:
        self.path, self.text, self.kind, self.encoding, self.bom, self.stamp, self.rows = state
        self._starts = self._lines = None
        self._derived = {}

    def __repr__(self) -> str:
        return f"SourceFile({self.path!r}, {self.kind}, {len(self.text)} characters)"

    # -- derived structures -------------------------------------------------------------------

    def derived(self, key: Any, make: Callable[[], T]) -> T:
        """``make()``, computed once per file while it is being checked (see the class)."""
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = make()
            return value

    def keep(self, key: Any, value: Any) -> None:
        """Keep a structure a reader built anyway (its parse tree) for the later steps."""
        self._derived[key] = value

    def kept(self, key: Any) -> Any:
        """What was kept under ``key``, or None."""
        return self._derived.get(key)

    def forget(self) -> None:
        """Drop the derived structures: the file is done, or waits (its findings need a model)."""
        self._derived.clear()

    # -- lines and positions --------------------------------------------------------------------

    @property
    def starts(self) -> list[int]:
        """The offset where each line starts (line 1 at index 0); a final line break starts an
        empty last line."""
        if self._starts is None:
            self._starts = [0] + [m.end() for m in LINE_BREAK.finditer(self.text)]
        return self._starts

    @property
    def lines(self) -> list[str]:
        """The lines without their line breaks (no empty last line after a final break)."""
        if self._lines is None:
            lines = LINE_BREAK.split(self.text)
            if lines[-1] == "":
                lines.pop()
            self._lines = lines
        return self._lines

    @property
    def newline(self) -> str:
        """The file's line break (its first one), ``\\n`` for a one-line file."""
        m = LINE_BREAK.search(self.text)
        return m.group() if m else "\n"

    def line(self, n: int) -> str:
        """Line ``n`` (1-based) without its break; '' past the end."""
        if not 1 <= n <= len(self.starts):
            return ""
        return self.text[self.starts[n - 1]:self.line_end(n)]

    def line_end(self, n: int) -> int:
        """The offset where line ``n``'s content ends (before its line break)."""
        starts = self.starts
        if n < len(starts):
            end = starts[n]
            return end - 2 if self.text.startswith("\r\n", end - 2) else end - 1
        return len(self.text)

    def offset(self, line: int, col: int) -> int:
        """The offset of 1-based ``line``/``col``; raises ValueError outside the text."""
        if not 1 <= line <= len(self.starts) or col < 1:
            raise ValueError(f"no position {line}:{col} in {self.path}")
        start = self.starts[line - 1]
        if start + col - 1 > self.line_end(line):
            raise ValueError(f"no position {line}:{col} in {self.path}")
        return start + col - 1

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

    def locate(self, line: int) -> tuple[int | None, int]:
        """Where line ``line`` of this text is in the real file: ``(cell, line)``."""
        return (None, line) if self.rows is None else self.rows.locate(line)


# -- bytes -> text -------------------------------------------------------------------------------

#: Bytes that a file holding a LoRA config contains; an undecodable file without them is skipped.
LORA_MARKERS = (b"lora", b"LoRA", b"Lora", b"LORA", b"peft", b"get_peft_model")
UTF8_BOM = b"\xef\xbb\xbf"
#: Byte-order marks of the encodings no training framework reads a config in (UTF-32 first:
#: its little-endian mark starts with UTF-16's).
WIDE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
             (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


@dataclass(frozen=True)
class Unreadable:
    """Bytes that are not a text lora-lint reads: reported as LL901 at ``span``."""

    message: str
    span: Span


def stamp_of(data: bytes, mtime_ns: int) -> Stamp:
    import hashlib  # (only a run that writes files back asks: hashlib loads OpenSSL)

    return Stamp(len(data), mtime_ns, hashlib.sha256(data).hexdigest())


def decode(data: bytes, path: str, stamp: Stamp | None = None) -> SourceFile | Unreadable | None:
    """The ``SourceFile`` of a file's bytes: UTF-8 (a BOM is dropped and remembered), or the
    encoding a Python file declares (PEP 263). Undecodable bytes are ``Unreadable`` when the file
    looks like a LoRA config, and None (skipped silently) otherwise; so is UTF-16/32, which the
    frameworks cannot read."""
    kind = kind_of(path)
    for bom, encoding in WIDE_BOMS:
        if data.startswith(bom):
            try:
                wide = data.decode(encoding)
            except UnicodeDecodeError:
                return None
            if not any(m.decode() in wide for m in LORA_MARKERS):
                return None
            return Unreadable(f"file is {encoding.upper()} (it starts with a {encoding.upper()}"
                              " byte-order mark): training frameworks read configs as UTF-8; save it"
                              " as UTF-8", Span.point(1, 1))
    bom = data.startswith(UTF8_BOM)
    if bom:
        data = data[3:]
    elif kind is Kind.PYTHON:  # as Python reads it: in the encoding it declares, when it declares one
        declared = _declared(data)
        if declared is not None:
            encoding, text = declared
            return SourceFile(path, text, kind, encoding=encoding, bom=bom, stamp=stamp)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if not any(m in data for m in LORA_MARKERS):
            return None
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return Unreadable(f"file is not valid UTF-8 ({e.reason} at byte {e.start})", Span.point(line, col))
    if "\x00" in text and not any(m in data for m in LORA_MARKERS):
        return None
    return SourceFile(path, text, kind or kind_of_file(path, text), bom=bom, stamp=stamp)


def _declared(data: bytes) -> tuple[str, str] | None:
    """``(encoding, text)`` of Python source in the encoding its ``# -*- coding: ... -*-`` line
    declares (Python's own detection, on the first two lines, ending at ``\n``, ``\r\n`` or
    ``\r`` as Python reads a file), when that is not UTF-8 and the bytes decode in it; else None.
    A declaration Python refuses (an unknown codec, UTF-16) is ignored: the file is read as UTF-8."""
    if data.find(b"coding", 0, _second_line_end(data)) < 0:
        return None  # the common case: no tokenize import, no work
    import codecs
    import tokenize

    lines = [line + b"\n" for line in re.split(rb"\r\n|\r|\n", data, maxsplit=2)[:2]]
    try:
        name = tokenize.detect_encoding(iter(lines).__next__)[0]
        if codecs.lookup(name).name in ("utf-8", "utf-8-sig") or "# coding\n".encode(name) != b"# coding\n":
            return None  # (UTF-16 and the like: Python refuses them)
        return name, data.decode(name)
    except (SyntaxError, LookupError, UnicodeError, ValueError):
        return None


def _second_line_end(data: bytes) -> int:
    """Where the second line ends (any line break), or the end of ``data``."""
    end = 0
    for _ in range(2):
        found = [i for i in (data.find(b"\n", end), data.find(b"\r", end)) if i >= 0]
        if not found:
            return len(data)
        end = min(found) + 1
    return end
