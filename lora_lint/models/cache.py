"""Inventories on disk: the user cache and the prebuilt catalog inventories.

An inventory is keyed by the config's content hash, the model class asked for, the installed
transformers version, the inventory schema version and lora-lint's version. Entries live in ``LORA_LINT_CACHE_DIR``
(else the platform's user cache directory) as ``inventories/<key[:2]>/<key>.json``, written to a
temporary file and moved into place (``os.replace``), so two processes sharing the directory never
see half a file. A truncated or corrupt entry is ignored (and rebuilt by the caller); a read-only
or missing cache directory only means nothing is saved.

Versions are read from the installed distributions' metadata without importing them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from ..bounded_read import read_regular_file
from .catalog import DATA

#: A cache entry larger than this is not read: the largest model a build allows (build.MAX_MODULES,
#: 50,000 modules) has an inventory of about 3 MB.
MAX_ENTRY_BYTES = 16 * 1024 * 1024
PREBUILT = DATA / "inventories"
PREBUILT_INDEX = PREBUILT / "index.json"
ENV = "LORA_LINT_CACHE_DIR"


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
    env = os.environ.get(ENV)
    if env:
        return Path(os.path.expanduser(env))
    import platformdirs

    return Path(platformdirs.user_cache_dir("lora-lint", appauthor=False))


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
    path = _entry(key)
    try:
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
    path = _entry(key)
    doc = {"key": key, **(meta or {}), "inventory": inventory_json}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:8]}-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, separators=(",", ":"))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache entry is not a secret
        os.replace(tmp, path)
        return True
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return False


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


# -- prebuilt catalog inventories ---------------------------------------------------------------

@lru_cache(maxsize=1)
def prebuilt_index() -> dict:
    """``{"transformers": v, "peft": v, "entries": {config_hash: file}}`` or empty."""
    try:
        return json.loads(PREBUILT_INDEX.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def prebuilt(config_hash: str, model_class: str | None, transformers_version: str | None) -> str | None:
    """The shipped inventory JSON for a catalog config, when it applies here.

    It applies when it was built for the default class (``model_class`` None) and with the
    installed transformers version, or when transformers is not installed at all (then it is the
    only source there is, and the output says which version the facts come from).
    """
    if model_class is not None:
        return None
    index = prebuilt_index()
    if index.get("schema_version") != schema_version():
        return None
    if transformers_version is not None and index.get("transformers") != transformers_version:
        return None
    name = index.get("entries", {}).get(config_hash)
    if name is None:
        return None
    try:
        with gzip.open(PREBUILT / name, "rt", encoding="utf-8") as f:
            return f.read()
    except (OSError, EOFError, ValueError):
        return None
