"""The bundled catalog of base-model configs (``data/catalog``) and its prebuilt inventories.

``lookup(name)`` finds a model id in the catalog: exactly, through ``aliases.json`` (Hub
redirects, equal-shape instruct/chat siblings, Unsloth mirrors), then case-insensitively.
Standard library only: a lint run that resolves through the catalog imports nothing heavy.

``python -m lora_lint.models.catalog`` rebuilds ``data/inventories/`` from the installed
transformers (see ``catalog_build``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
CATALOG = DATA / "catalog"
ALIASES = CATALOG / "aliases.json"
ALIAS_KINDS = ("redirects", "variants", "mirrors")


@dataclass(frozen=True)
class Entry:
    """A catalog hit: the catalog id whose config is used and how ``name`` led to it."""

    name: str  # as written by the user
    model_id: str  # the catalog model whose config.json is used
    path: Path
    via: tuple[str, ...] = ()  # alias kinds followed, in order ("variants", "mirrors"...)
    case_folded: bool = False

    @property
    def how(self) -> str:
        parts = []
        if self.case_folded:
            parts.append("matched ignoring case")
        if self.via:
            parts.append("alias: " + " → ".join(_KIND_WORD[k] for k in self.via))
        return "; ".join(parts)


_KIND_WORD = {"redirects": "renamed repo", "variants": "same-shape sibling",
              "mirrors": "Unsloth mirror"}


def file_name(model_id: str) -> str:
    return model_id.replace("/", "--") + ".json"


@lru_cache(maxsize=1)
def model_ids() -> dict[str, str]:
    """Catalog model id -> file name."""
    out = {}
    for name in os.listdir(CATALOG):
        if name.endswith(".json") and "--" in name:
            out[name[:-5].replace("--", "/", 1)] = name
    return out


@lru_cache(maxsize=1)
def aliases() -> dict[str, tuple[str, str]]:
    """Alias -> (target, kind)."""
    data = json.loads(ALIASES.read_text(encoding="utf-8"))
    return {a: (t, kind) for kind in ALIAS_KINDS for a, t in data.get(kind, {}).items()}


@lru_cache(maxsize=1)
def _folded() -> dict[str, str]:
    out = {k.lower(): k for k in aliases()}
    out.update({k.lower(): k for k in model_ids()})
    return out


def lookup(name: str) -> Entry | None:
    """The catalog entry for ``name`` (an id, an alias, or either in another case), or None."""
    if not isinstance(name, str) or not name or len(name) > 200:
        return None
    ids, al = model_ids(), aliases()
    key, folded = name, False
    if key not in ids and key not in al:
        key = _folded().get(name.lower())
        if key is None:
            return None
        folded = True
    via: list[str] = []
    while key not in ids and len(via) < 4:
        key, kind = al[key]
        via.append(kind)
    if key not in ids:
        return None
    return Entry(name, key, CATALOG / ids[key], tuple(via), folded)


def all_names() -> list[str]:
    """Every id and alias the catalog answers to (for messages and tests)."""
    return sorted(set(model_ids()) | set(aliases()))


if __name__ == "__main__":
    import sys

    from .catalog_build import main

    sys.exit(main())
