"""Every framework's spelling of a LoRA setting -> the ``LoraConfig`` fields it means.

A snapshot of the dialects' key maps (``lora_lint/data/spellings.json``), so that a dialect can
say "did you mean `lora_r`?" across frameworks, and tell whether a rename is certain, without
importing the other dialects (each of which imports the shared dialect code). Each key map stays
beside its reader; ``python -m lora_lint.docs`` writes this snapshot from them
(``dialects.spellings_text``) and ``tests/test_docs.py`` fails when it is stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "spellings.json"
#: The two tables: the framework dialects' spellings, and the same with the home-grown dialect's
#: short spellings (``rank``, ``alpha``), which help to suggest but do not make a key look LoRA.
TABLES = ("frameworks", "with_home_grown")


@lru_cache(maxsize=2)
def aliases(with_home_grown: bool = False) -> dict[str, frozenset[str]]:
    doc = json.loads(DATA.read_text(encoding="utf-8"))
    table = doc[TABLES[1] if with_home_grown else TABLES[0]]
    return {key: frozenset(fields) for key, fields in table.items()}


def render(frameworks: Iterable[dict[str, str]], home_grown: dict[str, str]) -> str:
    """The snapshot for these key maps (spelling -> field), one spelling per line."""
    frameworks = list(frameworks)

    def table(maps: list[dict[str, str]]) -> dict[str, list[str]]:
        out: dict[str, set[str]] = {}
        for keymap in maps:
            for key, field in keymap.items():
                out.setdefault(key, set()).add(field)
        return {k: sorted(v) for k, v in sorted(out.items())}

    parts = []
    for name, maps in ((TABLES[0], frameworks), (TABLES[1], [*frameworks, home_grown])):
        rows = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in table(maps).items())
        parts.append(f"  {json.dumps(name)}: {{\n{rows}\n  }}")
    return "{\n" + ",\n".join(parts) + "\n}\n"
