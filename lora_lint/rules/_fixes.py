"""Helpers for the fixes rules attach: how a framework spells a setting, when a rename is certain."""

from __future__ import annotations

from functools import lru_cache

from ..model import SAFE, Edit, Fix

PYTHON_DIALECTS = ("peft", "unsloth", "unsloth-vision")


@lru_cache(maxsize=32)
def keymap(dialect: str) -> dict[str, str]:
    """The dialect's setting names -> LoraConfig fields (Python: the fields themselves)."""
    from ..peft_facts import lora_fields

    if dialect in PYTHON_DIALECTS:
        return {f: f for f in lora_fields()}
    module = _module(dialect)
    return dict(getattr(module, "KEYMAP", {})) if module is not None else {}


@lru_cache(maxsize=32)
def candidates(dialect: str) -> tuple[str, ...]:
    """Every name the dialect knows at a site (settings and the framework's other keys)."""
    names = set(keymap(dialect))
    if dialect in PYTHON_DIALECTS[1:]:
        from ..sources.python import UNSLOTH_KWARGS

        names |= UNSLOTH_KWARGS
    module = _module(dialect)
    names |= set(getattr(module, "KNOWN", ()) or ())
    return tuple(sorted(names))


def _module(dialect: str):
    from .. import dialects

    for module in dialects.ORDER:
        if module.NAME == dialect:
            return module
    return None


def spelling(dialect: str, field: str) -> str | None:
    """How the dialect writes LoraConfig field ``field`` (its preferred spelling), if it can."""
    return next((key for key, f in keymap(dialect).items() if f == field), None)


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


def certain_rename(key: str, suggestion: str, dialect: str) -> bool:
    """``key`` surely means ``suggestion``: the same name in another case, another framework's
    spelling of exactly that setting, or a typo (two edits at most) no other known name is as
    close to."""
    if key.lower() == suggestion.lower():
        return True
    if suggestion not in candidates(dialect):
        return False
    field = keymap(dialect).get(suggestion)
    if field is not None and dialect in PYTHON_DIALECTS:
        from ..peft_facts import ALIASES

        if ALIASES.get(key.lower()) == suggestion:
            return True
    elif field is not None:
        from ..dialects._base import LORA_FIELDS, aliases

        meant = set(aliases(with_generic=True).get(key, ())) | ({key} & LORA_FIELDS)
        if meant == {field}:
            return True
    low = key.lower()
    d = distance(low, suggestion.lower())
    if d > 2 or d * 3 > len(suggestion):
        return False
    return not any(c != suggestion and distance(low, c.lower()) <= d for c in candidates(dialect))


def fix(message: str, edits: tuple[Edit, ...] | None, applicability: str = SAFE) -> Fix | None:
    return Fix(message, edits, applicability) if edits else None
