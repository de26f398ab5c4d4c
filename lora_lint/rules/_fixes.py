"""Helpers for the fixes rules attach: when a rename is certain (how a framework spells a
setting is its record's: ``site.dialect.spelling(field)``)."""

from __future__ import annotations

from ..dialect import Dialect
from ..model import SAFE, Edit, Fix


def distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def certain_rename(key: str, suggestion: str, dialect: Dialect) -> bool:
    """``key`` surely means ``suggestion``: the same name in another case, another framework's
    spelling of exactly that setting, or a typo (two edits at most) no other known name is as
    close to."""
    if key.lower() == suggestion.lower():
        return True
    candidates = dialect.names()
    if suggestion not in candidates:
        return False
    field = dialect.keymap.get(suggestion)
    if field is not None and dialect.means(key) == {field}:
        return True
    low = key.lower()
    d = distance(low, suggestion.lower())
    if d > 2 or d * 3 > len(suggestion):
        return False
    return not any(c != suggestion and distance(low, c.lower()) <= d for c in candidates)


def fix(message: str, edits: tuple[Edit, ...] | None, applicability: str = SAFE) -> Fix | None:
    return Fix(message, edits, applicability) if edits else None
