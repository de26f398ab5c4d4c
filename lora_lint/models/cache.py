"""Inventories on disk: the user cache and the prebuilt catalog inventories.

An inventory is keyed by the config's content hash, the model class asked for, the installed
transformers version, the inventory schema version and lora-lint's version. Entries live in the
cache directory (``cache_root``: ``LORA_LINT_CACHE_DIR``, else the user cache directory) as ``inventories/<key[:2]>/<key>.json``, written to a
temporary file and moved into place (``os.replace``), so two processes sharing the directory never
see half a file. A truncated or corrupt entry is ignored (and rebuilt by the caller); a read-only
or missing cache directory only means nothing is saved.

Versions are read from the installed distributions' metadata without importing them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from functools import lru_cache
from pathlib import Path

from ..bounded_read import read_regular_file
from ..cache_root import cache_root, disabled, write_atomically
from ..depends import unrecorded
from .catalog import DATA

#: A cache entry larger than this is not read: the largest model a build allows (build.MAX_MODULES,
#: 50,000 modules) has an inventory of about 3 MB.
MAX_ENTRY_BYTES = 16 * 1024 * 1024
PREBUILT = DATA / "inventories"
PREBUILT_INDEX = PREBUILT / "index.json"


@lru_cache(maxsize=8)
def dist_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (no import of it), or None."""
    prefix = name.replace("-", "_").lower() + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for n in names:
            if n.lower().startswith(prefix) and n.endswith((".dist-info", ".egg-info")):
                version = n[len(prefix):].rsplit(".", 1)[0]
                if version and version[0].isdigit():
                    return version
    try:  # editable installs and other layouts
        from importlib import metadata

        return metadata.version(name)
    except Exception:
        return None


def versions() -> dict[str, str | None]:
    return {"transformers": dist_version("transformers"), "peft": dist_version("peft")}


def cache_dir() -> Path:
    return cache_root()


def schema_version() -> int:
    from .inventory import SCHEMA_VERSION

    return SCHEMA_VERSION


def cache_key(config_hash: str, model_class: str | None, transformers_version: str | None) -> str:
    from .. import __version__

    fields = [schema_version(), __version__, config_hash, model_class or "", transformers_version or ""]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def _entry(key: str) -> Path:
    return cache_dir() / "inventories" / key[:2] / f"{key}.json"


def load(key: str) -> str | None:
    """The cached inventory JSON for ``key``, or None (missing, unreadable or corrupt). Only a
    regular file is read, never blocking, and at most ``MAX_ENTRY_BYTES`` of it: a FIFO under an
    entry's name would hang the run, a symlink to /dev/zero fill the memory."""
    if disabled():
        return None
    path = _entry(key)
    try:
        with unrecorded():  # (keyed by the config's content hash and the versions: not a dependency)
            data, _ = read_regular_file(path, MAX_ENTRY_BYTES)
        doc = json.loads(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        _discard(path)
        return None
    if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("inventory"), str):
        _discard(path)
        return None
    return doc["inventory"]


def store(key: str, inventory_json: str, meta: dict | None = None) -> bool:
    """Save an inventory atomically; False (and no error) when the cache cannot be written."""
    if disabled():
        return False
    path = _entry(key)
    doc = {"key": key, **(meta or {}), "inventory": inventory_json}
    try:
        write_atomically(path, json.dumps(doc, separators=(",", ":")).encode("utf-8"), prefix=f".{key[:8]}-")
        return True
    except OSError:
        return False


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


# -- prebuilt catalog inventories ---------------------------------------------------------------

@lru_cache(maxsize=1)
def prebuilt_index() -> dict:
    """``{"files": {file: {"architecture", "transformers"}}, "entries": {config_hash: {"model",
    "classes": {class or "": file}}}}``, or empty."""
    try:
        return json.loads(PREBUILT_INDEX.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def prebuilt_file(config_hash: str, model_class: str | None) -> str | None:
    """The prebuilt inventory file for a config and a class key (None: the config's own
    architecture; an Auto class name, or the concrete class it builds), whatever the release."""
    index = prebuilt_index()
    if index.get("schema_version") != schema_version():
        return None
    entry = index.get("entries", {}).get(config_hash)
    if not entry:
        return None
    classes = entry.get("classes", {})
    name = classes.get(model_class or "")
    if name is None and model_class:
        files = index.get("files", {})
        name = next((f for f in classes.values() if files.get(f, {}).get("architecture") == model_class),
                    None)
    return name


def same_major(a: str | None, b: str | None) -> bool:
    return bool(a and b) and a.split(".")[0] == b.split(".")[0]


def prebuilt(config_hash: str, model_class: str | None, transformers_version: str | None) -> str | None:
    """The shipped inventory JSON for a catalog config and class, when it applies here.

    A prebuilt inventory applies on every release of the transformers major version it was
    built with (the test suite and ``python -m lora_lint.models.catalog_build --check`` compare it
    with a fresh build on the installed release, and fail when the structure changed), and
    when transformers is not installed at all. The inventory records the release it was built
    with, and the output's ``facts`` say so. Another major version (transformers 4's unfused
    MoE experts, say) builds the model instead.
    """
    name = prebuilt_file(config_hash, model_class)
    if name is None:
        return None
    built = prebuilt_index().get("files", {}).get(name, {}).get("transformers")
    if transformers_version is not None and not same_major(built, transformers_version):
        return None
    try:
        return (PREBUILT / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
