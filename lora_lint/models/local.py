"""Minimal model resolution: a local directory with ``config.json`` or a ``config.json`` path.

The full resolver (HF cache, bundled catalog, hub, on-disk inventory cache) replaces this; the
entry points stay ``directives(text)`` and ``local_inventory(ref, model_class, base_dir)``.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache

from .inventory import Inventory

#: ``# lora-lint: base-model=tests/fixtures/models/tiny-llama model-class=SequenceClassification``
_DIRECTIVE = re.compile(r"#\s*lora-lint:\s*(?P<body>[^\n]*)")
_PAIR = re.compile(r"(base-model|model-class)=(\S+)")


def directives(text: str) -> dict[str, tuple[str, int, int]]:
    """``base-model`` / ``model-class`` directives in comments: name -> (value, line, col)."""
    out: dict[str, tuple[str, int, int]] = {}
    for line_no, line in enumerate(text.splitlines(), 1):
        if "lora-lint:" not in line:
            continue
        m = _DIRECTIVE.search(line)
        if not m:
            continue
        for pair in _PAIR.finditer(m.group("body")):
            out.setdefault(pair.group(1), (pair.group(2), line_no, m.start("body") + pair.start(2) + 1))
    return out


_LOAD = re.compile(r"\b(?P<cls>\w+)\.from_pretrained\(\s*(?P<q>['\"])(?P<id>[^'\"\n]+)(?P=q)")


def single_load(text: str) -> tuple[str, str | None, int, int] | None:
    """The file's one ``X.from_pretrained("ID")`` as (id, model class, line, col): a stand-in
    for the Python source's model tracking."""
    if "from_pretrained" not in text:
        return None
    found = {}
    for line_no, line in enumerate(text.splitlines(), 1):
        for m in _LOAD.finditer(line):
            if m.group("cls").startswith("AutoModel") or "For" in m.group("cls") or m.group("cls").endswith("Model"):
                found.setdefault((m.group("id"), m.group("cls")), (line_no, m.start("id") + 1))
    if len(found) != 1:
        return None
    (model_id, cls), (line, col) = next(iter(found.items()))
    return model_id, cls, line, col


def config_path(ref: str, base_dirs: list[str]) -> str | None:
    """The ``config.json`` that ``ref`` names locally, if any."""
    candidates = [ref] if os.path.isabs(ref) else [os.path.join(d, ref) for d in base_dirs]
    for c in candidates:
        if os.path.isdir(c) and os.path.isfile(os.path.join(c, "config.json")):
            return os.path.abspath(os.path.join(c, "config.json"))
        if os.path.isfile(c) and c.endswith(".json"):
            return os.path.abspath(c)
    return None


def local_inventory(path: str, model_class: str | None) -> Inventory:
    """Build (once per process per file version) the inventory of a local ``config.json``."""
    st = os.stat(path)
    return _cached(path, st.st_mtime_ns, st.st_size, model_class)


@lru_cache(maxsize=32)
def _cached(path: str, mtime: int, size: int, model_class: str | None) -> Inventory:
    from .build import build_inventory  # the only torch import, and only here

    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if not isinstance(config, dict):
        from .build import ModelBuildError

        raise ModelBuildError(f"{path} does not hold a JSON object")
    return build_inventory(config, model_class)
