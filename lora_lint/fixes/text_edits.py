"""Edits on a file's text, narrowed to the characters that differ (what ``python_edits`` and
``yaml_edits`` return once they know the new text of a region), and the structures they build
from a file, kept with it while it is checked."""

from __future__ import annotations

from typing import TypeVar

from ..model import Edit
from ..source_file import SourceFile

T = TypeVar("T")


def structure(source: SourceFile, kind: type[T]) -> T | None:
    """``kind(source)`` (a ``PyTree``, a ``NodeIndex``), built once while the file is checked;
    None when the text does not parse."""
    def make() -> T | None:
        try:
            return kind(source)
        except Exception:
            return None

    return source.derived(kind, make)


def replace(source: SourceFile, start: int, end: int, new: str) -> tuple[Edit, ...]:
    """The edit turning ``text[start:end]`` into ``new``, narrowed to what differs."""
    text = source.text
    old = text[start:end]
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
        a, inserted = _line_start_insertion(source, a, inserted)
        b = a
    return (Edit(source.span(a, b), inserted),)


def _line_start_insertion(source: SourceFile, at: int, inserted: str) -> tuple[int, str]:
    """An insertion can often slide left (``ab|b`` + ``b`` = ``a|b`` + ``b``...); where it can
    start a line, it does: whole added lines read best in a diff and an editor."""
    text = source.text
    pos, new = at, inserted
    while pos > 0 and new and text[pos - 1] == new[-1]:
        pos, new = pos - 1, text[pos - 1] + new[:-1]
        if source.position(pos)[1] == 1:
            return pos, new
    return at, inserted


def rewrite(source: SourceFile, new_text: str) -> tuple[Edit, ...]:
    """The edit turning the whole text into ``new_text``, narrowed to what differs."""
    return replace(source, 0, len(source.text), new_text)
