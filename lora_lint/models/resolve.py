"""From a model id or path to its ``config.json``, offline first.

Order: a local directory or ``config.json`` file (relative to the linted file's directory, then
to the working directory) -> the repository's model lock (``lockfile``) -> the Hugging Face cache
(computed path, no huggingface_hub import) -> the bundled catalog -> the Hub, only when online use is allowed (``hub.fetch_config``).
Nothing is read beyond the ``config.json`` the user's path points at; a string that is neither an
existing path nor a valid Hub repo id (``../../etc``) is not followed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from .. import depends
from ..bounded_read import FileTooLarge, NotRegularFile, read_regular_file
from . import catalog
from .config_lookup import COMMIT_HASH, MAX_CONFIG_BYTES, Resolved, Result, Unresolved, hf_cache_dir

#: A ref file in the Hugging Face cache holds a 40-character commit hash.
MAX_REF_BYTES = 4096
_REPO_PART = r"[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"^(?:{_REPO_PART}/)?{_REPO_PART}$", re.ASCII)
_REVISION = re.compile(r"^[\w.\-/]{1,200}$", re.ASCII)
_TRUE = {"1", "ON", "YES", "TRUE"}


def config_hash(config: dict) -> str:
    """sha256 of the canonical JSON (the same as ``models.build.config_sha256``)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def is_repo_id(name: str) -> bool:
    """A syntactically valid Hub repo id (``org/name`` or ``name``; no ``..`` or ``--``)."""
    return (
        bool(_REPO_ID.match(name)) and ".." not in name and "--" not in name
        and not name.endswith(".git")
    )


def env_offline() -> bool:
    return any(os.environ.get(v, "").upper() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


# -- local paths -------------------------------------------------------------------------------

def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or "\\" in name
        or name.count("/") > 1 or name.endswith(".json") or bool(re.match(r"^[A-Za-z]:[\\/]", name))
    )


def _local_candidates(name: str, base_dir: str | None) -> list[Path]:
    expanded = os.path.expanduser(name)
    if os.path.isabs(expanded):
        return [Path(expanded)]
    out = []
    for root in (base_dir, os.getcwd()):
        if root is None:
            continue
        p = Path(root) / expanded
        if p not in out:
            out.append(p)
    return out


def read_config(path: Path) -> dict | str:
    """The config dict at ``path``, or a message saying why it cannot be used. Only a regular
    file is read, never blocking, and at most ``MAX_CONFIG_BYTES`` of it."""
    try:
        data = json.loads(read_regular_file(path, MAX_CONFIG_BYTES)[0].decode("utf-8"))
    except FileTooLarge as e:
        size = f"{e.size:,} bytes" if e.size is not None else "larger than that"
        return f"{path} is {size}, too large for a config.json (the limit is {MAX_CONFIG_BYTES:,} bytes)"
    except NotRegularFile:
        return f"{path} is not a regular file (a pipe, device, socket or directory): not read"
    except BlockingIOError:
        return f"cannot read {path}: reading it would block"
    except OSError as e:
        return f"cannot read {path}: {e.strerror or e}"
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return f"{path} is not valid JSON ({type(e).__name__})"
    if not isinstance(data, dict):
        return f"{path} does not hold a JSON object"
    return data


# Probes never raise (a 300-character id: ENAMETOOLONG; a NUL byte), and are recorded: what a
# site's model resolves to depends on what is, and is not, at each path looked at (``depends``).
_is_dir = depends.is_dir
_is_file = depends.is_file
_exists = depends.exists  # something is there (symlinks followed): a file, a FIFO, a device


def _from_local(name: str, base_dir: str | None, depth: int, lock=None) -> Result | None:
    """A FIFO, a device or a procfs file under a config's name is opened only by ``read_config``,
    which refuses it (or reads a bounded amount of it) without blocking."""
    for cand in _local_candidates(name, base_dir):
        if _is_dir(cand):
            cfg_path = cand / "config.json"
            if _exists(cfg_path):
                return _loaded(name, cfg_path, "local")
            adapter = cand / "adapter_config.json"
            if _exists(adapter) and depth == 0:
                return _from_adapter_dir(name, adapter, base_dir, lock)
            return Unresolved(name, "bad-config", f"the directory {cand} has no config.json",
                              "point the model at a directory that holds the base model's config.json")
        if _exists(cand):
            if cand.suffix.lower() != ".json":
                return Unresolved(name, "bad-config", f"{cand} is not a config.json file")
            return _loaded(name, cand, "local")
    if _looks_like_path(name) or not is_repo_id(name):
        where = " or ".join(str(c) for c in _local_candidates(name, base_dir)) or name
        if not is_repo_id(name) and not _looks_like_path(name):
            return Unresolved(name, "bad-id", f"{name!r} is neither a local path nor a valid Hub model id")
        return Unresolved(name, "missing-path", f"the local path {name!r} does not exist (looked for {where})",
                          "run lora-lint where the model directory exists, or name the Hub id instead")
    return None


def _from_adapter_dir(name: str, adapter: Path, base_dir: str | None, lock=None) -> Result:
    data = read_config(adapter)
    if isinstance(data, str):
        return Unresolved(name, "bad-config", data)
    base = data.get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        return Unresolved(name, "bad-config", f"{adapter.parent} is a peft adapter that names no base model")
    found = resolve_offline(base, base_dir, depth=1, lock=lock)
    if isinstance(found, Resolved):
        return Resolved(name, found.config, found.config_hash, found.source,
                        f"{found.detail} (base model of the adapter in {adapter.parent})", found.model_id)
    return found


def _loaded(name: str, path: Path, source: str, model_id: str | None = None, detail: str = "") -> Result:
    data = read_config(path)
    if isinstance(data, str):
        return Unresolved(name, "bad-config", data)
    return Resolved(name, data, config_hash(data), source, detail or str(path), model_id)


# -- the Hugging Face cache --------------------------------------------------------------------

def from_hf_cache(repo_id: str, revision: str | None = None) -> Path | None:
    """The cached ``config.json`` of ``repo_id`` at ``revision`` (default main), or None.

    What ``huggingface_hub.try_to_load_from_cache`` does, without importing it: refs/<rev> gives
    the commit, snapshots/<commit>/config.json the file. When the repo was cached under another
    case, or only for one other revision, that single snapshot is used.
    """
    revision = revision or "main"
    if not is_repo_id(repo_id) or not _REVISION.match(revision) or ".." in revision:
        return None
    cache = hf_cache_dir()
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    if not _is_dir(folder):
        folder = _case_folded(cache, folder.name)
        if folder is None:
            return None
    commit = revision if COMMIT_HASH.match(revision) else None
    if commit is None:
        try:
            commit = read_regular_file(folder / "refs" / revision, MAX_REF_BYTES)[0].decode("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            commit = None
    if commit is not None and COMMIT_HASH.match(commit):
        path = folder / "snapshots" / commit / "config.json"
        if _is_file(path):
            return path
    if revision == "main":
        try:
            snaps = [folder / "snapshots" / n for n in depends.listing(folder / "snapshots")
                     if _is_file(folder / "snapshots" / n / "config.json")]
        except OSError:
            return None
        if len(snaps) == 1:
            return snaps[0] / "config.json"
    return None


def _case_folded(cache: Path, wanted: str) -> Path | None:
    try:
        hits = depends.listing(cache, "(?i)" + re.escape(wanted))
    except OSError:
        return None
    return cache / hits[0] if len(hits) == 1 else None


# -- the ladder --------------------------------------------------------------------------------

def resolve_offline(name: str, base_dir: str | None = None, revision: str | None = None,
                    depth: int = 0, lock=None) -> Result:
    """Local path -> the model lock (``lockfile.Lock``, when given) -> HF cache -> catalog. An
    Unresolved with reason ``not-found`` means the Hub is the only place left to look."""
    if not isinstance(name, str) or not name.strip():
        return Unresolved(None, "not-named", "no base model is named")
    name = name.strip()
    local = _from_local(name, base_dir, depth, lock)
    if isinstance(local, Resolved):
        return local
    if lock is not None:
        pinned = lock.resolve(name, base_dir, revision)
        if pinned is not None:
            return pinned
    if local is not None:
        return local
    cached = from_hf_cache(name, revision)
    if cached is not None:
        return _loaded(name, cached, "hf-cache", name)
    entry = catalog.lookup(name)  # any revision: a pinned revision keeps the architecture
    if entry is not None:
        detail = f"bundled catalog: {entry.model_id}" + (f" ({entry.how})" if entry.how else "")
        return _loaded(name, entry.path, "catalog", entry.model_id, detail)
    return Unresolved(name, "not-found", f"{name!r} is not a local path, not in the Hugging Face cache"
                      f" ({hf_cache_dir()}) and not in lora-lint's bundled catalog")


def resolve(name: str, base_dir: str | None = None, *, online: bool = False, timeout: float = 5.0,
            revision: str | None = None, lock=None) -> Result:
    """The whole ladder: offline first (the model lock, when given, right after a local path),
    then the Hub when ``online``."""
    found = resolve_offline(name, base_dir, revision, lock=lock)
    if not isinstance(found, Unresolved) or found.reason != "not-found":
        return found
    if not online:
        return Unresolved(found.name, "not-found", found.why + "; online lookups are off", offline=True)
    depends.volatile()  # what the Hub answers is no file's: a finding that asked it is not cached
    from .hub import fetch_config

    path, problem = fetch_config(found.name, revision, timeout)
    if path is None:
        return problem
    return _loaded(found.name, Path(path), "hub", found.name)
