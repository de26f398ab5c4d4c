"""Every rule's code, name and options, without importing a rule module.

Configuration files and ``--select``-style flags are checked against these (a run whose files are
all in the results cache then loads no rule at all). They come from ``data/rules.json``, which
``python -m lora_lint.docs`` writes from the registry with the rule pages; ``tests/test_docs.py``
fails when it differs from the registry.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

TYPE_CHECKING = False  # typing is not imported at run time (a warm run needs none of it)
if TYPE_CHECKING:
    from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "rules.json"


class Entry:
    """A rule as configuration sees it: its ``name`` and its ``options`` (name -> default)."""

    __slots__ = ("name", "options")

    def __init__(self, name: str, options: dict[str, Any]):
        self.name, self.options = name, options

    def __repr__(self) -> str:
        return f"Entry({self.name!r}, {self.options!r})"


@lru_cache(maxsize=1)
def rules() -> dict[str, Entry]:
    """Rule code -> its ``Entry``, in code order."""
    doc = json.loads(DATA.read_text(encoding="utf-8"))
    return {code: Entry(r["name"], r["options"]) for code, r in doc.items()}


def render(registry: dict) -> str:
    """``data/rules.json`` for the rules of ``registry`` (code -> ``Rule``): one rule per line."""
    rows = [f"{json.dumps(code)}: {json.dumps({'name': r.name, 'options': dict(r.options)})}"
            for code, r in sorted(registry.items())]
    return "{\n" + ",\n".join(rows) + "\n}\n"
