"""The bundled catalog of base-model configs (``data/catalog``) and its prebuilt inventories.

``data/catalog/<org>--<name>.json`` is a model's published ``config.json``; ``catalog.json``
says, for each model, where that copy was found (``source``), which head classes besides the
config's own have prebuilt inventories (``classes``, transformers Auto class names), and the
other names it answers to (``aliases``: a renamed Hub repository, an instruct/chat sibling or a
mirror whose config was compared with this one, each saying how it was verified).

``lookup(name)`` finds a model id in the catalog: exactly, through an alias, then
case-insensitively. Standard library only: a lint run that resolves through the catalog imports
nothing heavy.

``python -m lora_lint.models.catalog_build`` rebuilds ``data/inventories/`` from the installed
transformers; ``--check`` compares instead of writing (see ``catalog_build``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
CATALOG = DATA / "catalog"
MANIFEST = CATALOG / "catalog.json"
#: Alias kinds, as ``catalog.json`` spells them -> how a message names them.
ALIAS_KINDS = {
    "redirect": "renamed repo",
    "variant": "same-shape sibling",
    "mirror": "same-shape mirror",
    "adapter": "adapter on this base model",
}


@dataclass(frozen=True)
class Entry:
    """A catalog hit: the catalog id whose config is used and how ``name`` led to it."""

    name: str  # as written by the user
    model_id: str  # the catalog model whose config.json is used
    path: Path
    via: tuple[str, ...] = ()  # alias kinds followed ("variant", "mirror"...)
    case_folded: bool = False

    @property
    def how(self) -> str:
        parts = []
        if self.case_folded:
            parts.append("matched ignoring case")
        if self.via:
            parts.append("alias: " + " → ".join(ALIAS_KINDS[k] for k in self.via))
        return "; ".join(parts)


def file_name(model_id: str) -> str:
    return model_id.replace("/", "--") + ".json"


@lru_cache(maxsize=1)
def manifest() -> dict:
    """``catalog.json``: ``{"models": {model id: {"source", "classes", "aliases"}}}``."""
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


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
    """Alias -> (catalog model id, kind)."""
    return {alias: (model_id, info["kind"])
            for model_id, record in manifest()["models"].items()
            for alias, info in record.get("aliases", {}).items()}


def head_classes(model_id: str) -> list[str]:
    """The Auto classes with a prebuilt inventory for ``model_id`` besides its config's own."""
    return list(manifest()["models"].get(model_id, {}).get("classes", []))


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
    via: tuple[str, ...] = ()
    if key not in ids:
        key, kind = al[key]
        via = (kind,)
    if key not in ids:
        return None
    return Entry(name, key, CATALOG / ids[key], via, folded)


def stage(name: str) -> tuple[str, str] | None:
    """``(stage, how)`` of the checkpoint ``name`` names exactly (a catalog id or alias, as
    written): ``"base"`` or ``"instruct"`` and where that is documented (``models.stages``);
    None when the catalog does not record it."""
    if not isinstance(name, str):
        return None
    record = manifest()["models"].get(name)
    if record is None and name in aliases():
        record = manifest()["models"][aliases()[name][0]]["aliases"][name]
    if record is None or "stage" not in record:
        return None
    return record["stage"], record["stage_how"]


def all_names() -> list[str]:
    """Every id and alias the catalog answers to (for messages and tests)."""
    return sorted(set(model_ids()) | set(aliases()))

