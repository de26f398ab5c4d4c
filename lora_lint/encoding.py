"""A file's encoding: how its bytes became the text lora-lint reads, and how a fixed text becomes
bytes again.

Configs are UTF-8, with or without a byte-order mark (kept apart from the text and written back).
A Python file may declare another encoding on its first two lines (PEP 263,
``# -*- coding: latin-1 -*-``): Python reads it in that encoding, so lora-lint does too when the
bytes decode in it, and ``--fix`` writes the fixed text back in it. One ``Encoding`` decides both
ways, so a file read and written again keeps every byte the fixes did not change.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Encoding:
    codec: str  # Python's codec name ("utf-8", "iso8859-1", "cp1252")
    bom: bool = False  # a UTF-8 byte-order mark precedes the text
    declared: bool = False  # named by a PEP 263 line

    def decode(self, data: bytes) -> str:
        """The text of ``data`` (its BOM dropped). Raises ``UnicodeDecodeError``; positions in the
        error count from after the BOM."""
        return (data[len(UTF8_BOM):] if self.bom else data).decode(self.codec)

    def encode(self, text: str) -> bytes:
        """``text`` as the file's bytes (with its BOM). Raises ``UnicodeEncodeError``."""
        return (UTF8_BOM if self.bom else b"") + text.encode(self.codec)

    def unencodable(self, text: str) -> str | None:
        """The first character of ``text`` this encoding cannot write, or None."""
        try:
            text.encode(self.codec)
        except UnicodeEncodeError as e:
            return e.object[e.start:e.end][:1]
        return None

    def __str__(self) -> str:
        return self.codec + (" with a byte-order mark" if self.bom else "")


UTF8 = Encoding("utf-8")


def detect(data: bytes, python: bool) -> Encoding:
    """The encoding ``data`` is read in: UTF-8 (a leading BOM noted), or for a Python file
    (``python``) the encoding its PEP 263 line declares, when the bytes decode in it. A declaration
    Python would refuse (an unknown codec) is ignored, as before: the file is read as UTF-8."""
    if data.startswith(UTF8_BOM):
        return Encoding("utf-8", bom=True)
    if python:
        declared = _declared(data)
        if declared is not None and declared != "utf-8":
            try:
                data.decode(declared)
            except (UnicodeDecodeError, LookupError):
                return UTF8
            return Encoding(declared, declared=True)
    return UTF8


def _declared(data: bytes) -> str | None:
    """The codec a PEP 263 line on the first two lines names (Python's own detection), or None.
    Lines end at ``\n``, ``\r\n`` or ``\r``, as Python reads a source file."""
    if data.find(b"coding", 0, _second_line_end(data)) < 0:
        return None  # the common case: no tokenize import, no work
    import re
    import tokenize

    lines = [line + b"\n" for line in re.split(rb"\r\n|\r|\n", data, maxsplit=2)[:2]]
    try:
        name = codecs.lookup(tokenize.detect_encoding(iter(lines).__next__)[0]).name
        if "# coding\n".encode(name) != b"# coding\n":  # UTF-16 and the like: Python refuses them
            return None
    except (SyntaxError, LookupError, ValueError, UnicodeError):
        return None
    return "utf-8" if name == "utf-8-sig" else name


def _second_line_end(data: bytes) -> int:
    """Where the second line ends (any line break), or the end of ``data``."""
    end = 0
    for _ in range(2):
        n, r = data.find(b"\n", end), data.find(b"\r", end)
        found = [i for i in (n, r) if i >= 0]
        if not found:
            return len(data)
        end = min(found) + 1
    return end
