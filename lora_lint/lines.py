"""A file's lines as its reader counts them, so that a finding's line, a suppression comment's
line and a report's snippet agree.

``str.splitlines`` also breaks at form feeds, vertical tabs, ``\\x1c``-``\\x1e``, NEL and the Unicode
line separators; Python (libcst, tokenize) breaks only at ``\\n``, ``\\r\\n`` and ``\\r``, JSON the
same, and YAML (PyYAML) at those and NEL, U+2028 and U+2029. A form feed in a Python comment must
not shift every line below it.
"""

from __future__ import annotations

import re

from .sources import PYTHON_SUFFIXES

PYTHON_BREAK = re.compile(r"\r\n|\r|\n")
YAML_BREAK = re.compile("\r\n|\r|\n|\x85|\u2028|\u2029")


def line_break(path: str) -> re.Pattern:
    lower = path.lower()
    if lower.endswith(PYTHON_SUFFIXES) or lower.endswith(".json"):
        return PYTHON_BREAK
    return YAML_BREAK


def split_lines(path: str, text: str) -> list[str]:
    """The lines of ``text`` without their line breaks (no empty last line after a final break,
    as ``str.splitlines``)."""
    lines = line_break(path).split(text)
    if lines[-1] == "":
        lines.pop()
    return lines
