"""The model lock: the base models a repository's configs name, pinned in the repository.

``lora-lint lock`` (``lora_lint.lock``) writes ``.lora-lint/models/`` at the repository root::

    lock.json                        the index: one line per model reference, one per config
    <model>/config.json              the model's config.json, when the repository does not hold it
    <model>/inventory.json           its module inventory (``Inventory.to_json``)
    <model>/inventory.<Class>.json   the inventory of a head class (``AutoModelForSequenceClassification``)

``models`` maps each reference a config makes (a Hub id, ``id@revision``, or a local path relative
to the lock's directory, as written when absolute) to what it resolved to when it was locked: a
config's content hash and where it came from, or why it resolved to nothing (a model that needs
remote code, a path that does not exist). ``configs`` maps each content hash to its stored files,
and to the failures a build gave (remote code, too large) for a class.

Every run (``check``, ``report``, the language server; any environment, with or without torch)
uses the nearest lock above the linted file first: a Hub id in the lock resolves to the locked
config, offline; a local path resolves to the file on disk (the truth), and the locked inventory
serves it while the file's content hash is the locked one. ``issue`` says what the lock lacks for
a site (rule LL905 reports it); ``lockable`` says which failures to resolve a model a lock made
elsewhere would have avoided.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import depends
from ..bounded_read import read_regular_file
from .config_lookup import Resolved, Unresolved
from .resolve import config_hash, is_repo_id

DIR = os.path.join(".lora-lint", "models")
INDEX = "lock.json"
VERSION = 1
#: lock.json and its files are read at most this large (a lock of a hundred models is about 2 MB).
MAX_INDEX_BYTES = 16 * 1024 * 1024
MAX_FILE_BYTES = 16 * 1024 * 1024
ABOUT = ("lora-lint's model lock, written by `lora-lint lock`: every base model the configs name"
         " (models: reference -> config sha256 and source, or why it does not resolve) and the"
         " module inventories built for them on the meta device (configs: sha256 -> files;"
         " the transformers and peft versions are in each inventory). Commit it; do not edit it.")

#: Failures that say something about this environment, not about the model: a lock made where the
#: model resolves and builds (torch and transformers installed, the Hub reachable) avoids them.
ENVIRONMENT = frozenset({"no-transformers", "hub-error", "hub-timeout", "gated"})
#: Failures of a local reference: recomputed from the file system on every run, never replayed.
LOCAL = frozenset({"missing-path", "bad-config", "bad-id"})


def lockable(problem: Unresolved | None) -> bool:
    """A failure that a lock made where the model resolves would have avoided."""
    return problem is not None and (problem.reason in ENVIRONMENT or problem.offline)


def class_file(model_class: str) -> str:
    """The inventory file of a class key ('' for the config's own architecture)."""
    if not model_class:
        return "inventory.json"
    return f"inventory.{re.sub(r'[^A-Za-z0-9_.-]', '_', model_class)}.json"


def slug(key: str) -> str:
    """A directory name for a reference: ``Qwen/Qwen2.5-0.5B`` -> ``Qwen--Qwen2.5-0.5B``."""
    text = re.sub(r"[^A-Za-z0-9._@-]", "-", key.replace("\\", "/").replace("/", "--"))
    text = text.strip(".-~")[:100]
    return text or "model"


def _posix(path: str) -> str:
    return path.replace(os.sep, "/") if os.sep != "/" else path


def reference_keys(name: str, base_dir: str | None, revision: str | None, root: str) -> list[str]:
    """The keys a reference may have in a lock at ``root``, most specific first: a local path
    (relative to the linted file's directory, then to the working directory) relative to
    ``root``; an absolute or ``~`` path as written; a Hub id (with ``@revision`` when pinned)."""
    name = name.strip()
    expanded = os.path.expanduser(name)
    out: list[str] = []
    if os.path.isabs(expanded) or re.match(r"^[A-Za-z]:[\\/]", name):
        out.append(_posix(name))
    else:
        for base in (base_dir, os.getcwd()):
            if base is None:
                continue
            key = _posix(os.path.relpath(os.path.normpath(os.path.join(base, expanded)), root))
            if key not in out:
                out.append(key)
    if is_repo_id(name):
        hub = name + (f"@{revision}" if revision else "")
        if hub not in out:
            out.append(hub)
    return out


def local_exists(name: str, base_dir: str | None) -> str | None:
    """The first local candidate of ``name`` that exists (what resolution reads), else None."""
    expanded = os.path.expanduser(name.strip())
    bases = [None] if os.path.isabs(expanded) else [base_dir, os.getcwd()]
    for base in bases:
        if base is None and not os.path.isabs(expanded):
            continue
        p = expanded if base is None else os.path.join(base, expanded)
        if not depends.exists(p):  # (recorded: a directory appearing there changes what resolves)
            continue
        return p
    return None


@dataclass
class Lock:
    """A model lock as read from disk (``find``)."""

    path: Path  # .../.lora-lint/models/lock.json
    models: dict[str, dict]
    configs: dict[str, dict]
    _inventories: dict = field(default_factory=dict, repr=False)
    _configs: dict = field(default_factory=dict, repr=False)

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def root(self) -> str:
        """The directory whose configs the lock covers (the one holding ``.lora-lint``)."""
        return str(self.path.parent.parent.parent)

    def shown(self) -> str:
        """The index's path as messages show it: relative to the working directory when below it."""
        try:
            rel = os.path.relpath(self.path)
        except ValueError:
            return str(self.path)
        return str(self.path) if rel.startswith("..") else _posix(rel)

    def entry(self, name: str, base_dir: str | None, revision: str | None) -> tuple[str, dict] | None:
        """(key, record) of the reference ``name`` makes from ``base_dir``, or None."""
        for key in reference_keys(name, base_dir, revision, self.root):
            record = self.models.get(key)
            if isinstance(record, dict):
                return key, record
        return None

    def resolve(self, name: str, base_dir: str | None, revision: str | None) -> Resolved | Unresolved | None:
        """What the lock pins ``name`` to: the locked config (a catalog config by its id), the
        recorded failure of a Hub id, or None (not locked, or a local failure: recomputed)."""
        hit = self.entry(name, base_dir, revision)
        if hit is None:
            return None
        key, record = hit
        if "unresolved" in record:
            reason = record.get("unresolved")
            if reason in LOCAL or not isinstance(record.get("why"), str):
                return None
            return Unresolved(name, reason, record["why"], record.get("fix") or "")
        sha = record.get("config")
        if not isinstance(sha, str):
            return None
        if record.get("source") == "catalog":
            from . import catalog

            found = catalog.lookup(record.get("catalog") or name)
            if found is None:
                return None
            data = self.read_config(found.path)
            if data is None or config_hash(data) != sha:
                return None
            return Resolved(name, data, sha, "catalog", f"bundled catalog: {found.model_id} (pinned by"
                            f" the model lock {self.shown()})", found.model_id)
        data = self.config(sha)
        if data is None:
            return None
        model_id = key if is_repo_id(key.split("@")[0]) and record.get("source") in ("hub", "hf-cache") else None
        return Resolved(name, data, sha, "lock", f"model lock {self.shown()}: {key}"
                        f" ({record.get('source', '?')} when locked)", model_id)

    def read_config(self, path: Path) -> dict | None:
        try:
            data = json.loads(read_regular_file(path, MAX_FILE_BYTES)[0])
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def config(self, sha: str) -> dict | None:
        """The stored config.json of ``sha`` (checked against its hash), or None."""
        return depends.remembered(self._configs, sha, lambda: self._config(sha))

    def _config(self, sha: str) -> dict | None:
        record = self.configs.get(sha)
        data = None
        if isinstance(record, dict) and record.get("config") and isinstance(record.get("dir"), str):
            data = self.read_config(self._file(record["dir"], "config.json"))
            if data is not None and config_hash(data) != sha:
                data = None  # edited by hand, or half written: not what was locked
        return data

    def _file(self, directory: str, name: str) -> Path:
        return self.directory / directory / name

    def has(self, sha: str, model_class: str | None) -> bool:
        """The lock records an inventory, or a build failure, for this config and class key."""
        record = self.configs.get(sha)
        if not isinstance(record, dict):
            return False
        cls = model_class or ""
        return cls in (record.get("inventories") or {}) or cls in (record.get("failures") or {})

    def inventory(self, name: str, sha: str, model_class: str | None):
        """The locked Inventory of (config, class key), the recorded build failure (Unresolved),
        or None (not locked, or its file cannot be read)."""
        return depends.remembered(self._inventories, (sha, model_class or ""),
                                  lambda: self._inventory(name, sha, model_class))

    def _inventory(self, name: str, sha: str, model_class: str | None):
        record = self.configs.get(sha)
        result = None
        if isinstance(record, dict):
            failure = (record.get("failures") or {}).get(model_class or "")
            files = record.get("inventories") or {}
            if isinstance(failure, dict) and isinstance(failure.get("reason"), str):
                result = Unresolved(name, failure["reason"], str(failure.get("why", "")), str(failure.get("fix", "")))
            elif isinstance(_file_of(files.get(model_class or "")), str) and isinstance(record.get("dir"), str):
                from .inventory import Inventory

                try:
                    text = read_regular_file(self._file(record["dir"], _file_of(files[model_class or ""])),
                                             MAX_FILE_BYTES)[0]
                    inv = Inventory.from_json(text)
                    result = inv if inv.config_sha256 in (None, sha) else None
                except Exception:  # missing, corrupt or of another schema: as if not locked
                    result = None
        return result


def _file_of(entry) -> str | None:
    """An inventory entry of the index: ``{"file": ..., "transformers": ..., "peft": ...}``."""
    return entry.get("file") if isinstance(entry, dict) else None


# -- finding the lock ----------------------------------------------------------------------------

#: directory -> (the lock.json covering it, when looked, what looking depended on)
_where: dict[str, tuple[Path | None, float, depends.Record]] = {}
#: lock.json -> (its stat, the Lock, what reading it depended on)
_loaded: dict[Path, tuple[tuple, Lock | None, depends.Record]] = {}
#: A directory found to have no lock is looked at again after this many seconds (a long-lived
#: language server sees a lock written after it started).
RECHECK_SECONDS = 2.0


def index_path(root: str | os.PathLike) -> Path:
    return Path(root) / DIR / INDEX


def find(path: str) -> Lock | None:
    """The lock covering the file ``path``: the nearest ``.lora-lint/models/lock.json`` in its
    directory or above, up to the repository root (a directory holding ``.git``)."""
    start = os.path.dirname(os.path.abspath(path))
    index = _find_index(start)
    return load(index) if index is not None else None


def _find_index(start: str) -> Path | None:
    now = time.monotonic()
    hit = _where.get(start)
    if hit is not None and (hit[0] is not None or now - hit[1] < RECHECK_SECONDS):
        depends.replay(hit[2])
        return hit[0]
    d, seen = start, []
    found: Path | None = None
    with depends.captured() as record:  # (a lock created or removed on the way changes the findings)
        while True:
            seen.append(d)
            candidate = index_path(d)
            if depends.is_file(candidate):
                found = candidate
                break
            parent = os.path.dirname(d)
            if parent == d or depends.exists(os.path.join(d, ".git")):
                break
            d = parent
    for s in seen:
        _where[s] = (found, now, record)
    return found


def load(index: Path) -> Lock | None:
    """The lock whose index is ``index`` (re-read when the file changes), or None when it cannot
    be read or is not a lock."""
    try:
        st = index.stat()
    except OSError:
        return None
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _loaded.get(index)
    if cached is not None and cached[0] == stamp:
        depends.replay(cached[2])
        return cached[1]
    lock = None
    with depends.captured() as record:
        try:
            doc = json.loads(read_regular_file(index, MAX_INDEX_BYTES)[0])
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            doc = None
    if isinstance(doc, dict) and doc.get("version") == VERSION:
        models, configs = doc.get("models"), doc.get("configs")
        lock = Lock(index, models if isinstance(models, dict) else {},
                    configs if isinstance(configs, dict) else {})
    _loaded[index] = (stamp, lock, record)
    return lock


def forget() -> None:
    """Forget where locks are and what they hold (tests; the language server on a change)."""
    _where.clear()
    _loaded.clear()


# -- what a site's lock lacks (LL905) --------------------------------------------------------------

@dataclass(frozen=True)
class Issue:
    """What the lock says about a site's model: ``kind`` missing (no entry), stale (the entry
    no longer matches what resolves: the local config.json changed), class (no inventory of
    the class the site loads), none (no lock at all)."""

    kind: str
    lock: Lock | None
    key: str | None = None
    model_class: str | None = None

    def describe(self, name: str) -> str:
        where = self.lock.shown() if self.lock is not None else DIR
        if self.kind == "missing":
            return f"base model {name!r} is not in the model lock ({where})"
        if self.kind == "stale":
            return (f"the model lock's entry for {name!r} ({where}) is stale: the model it names"
                    " changed since it was locked")
        if self.kind == "class":
            return f"the model lock ({where}) has no {self.model_class} inventory of {name!r}"
        return f"there is no model lock ({DIR}/{INDEX})"


def issue(lock: Lock | None, name: str, base_dir: str | None, revision: str | None,
          found: Resolved | Unresolved, model_class: str | None) -> Issue | None:
    """What ``lock`` lacks for a site naming ``name`` that resolved to ``found`` (None: nothing).
    ``model_class`` is the class key built for it (``context.class_key``)."""
    if lock is None:
        return None
    hit = lock.entry(name, base_dir, revision)
    if hit is None:
        return Issue("missing", lock)
    key, record = hit
    if isinstance(found, Unresolved):
        return None if record.get("unresolved") == found.reason else Issue("stale", lock, key)
    if record.get("config") != found.config_hash:
        return Issue("stale", lock, key)
    if lock.has(found.config_hash, model_class):
        return None
    from .cache import prebuilt_file

    if prebuilt_file(found.config_hash, model_class) is not None:
        return None
    archs = found.config.get("architectures")
    own = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else "model"
    return Issue("class", lock, key, model_class or own)
