"""What a file's findings depend on besides its own bytes: the dependency record.

A file's findings can depend on other files: the peft pin in a ``requirements.txt`` up the tree,
the ``config.json`` of a local base model, the repository's model lock, a YAML file a script
loads. The results cache (``result_cache``) replays a file's findings only while every one of
these is as it was, so whatever reads or looks for another file while a file is linted says so,
in one call:

* ``bounded_read.read_regular_file`` (the one way to read a file) records what it read, or that
  there was no regular file to read, by itself: reading another file that way needs no call.
* ``is_file(path)``, ``is_dir(path)``, ``exists(path)``, ``stat(path)``: a probe (``.git``, a
  candidate path), recorded: the findings depend on what is at ``path`` (nothing, a file, a
  directory), not on its bytes.
* ``listing(directory, pattern)``: the names in ``directory`` that fully match the regular
  expression ``pattern`` (the ``requirements*.txt`` files of a directory), recorded.
* ``volatile()``: the findings depend on something no file holds (an answer from the Hugging Face
  Hub): the file is linted again on every run.
* ``@memo`` (``functools.lru_cache`` for a function that reads files), ``remembered`` (a memo
  of one's own, a dict) and ``captured`` / ``replay`` (for anything else): an answer from a memo
  records again what computing it depended on, so every file that used the answer depends on it.

Outside of a ``recording`` (the language server, ``report``, ``--fix``, tests) every call costs a
context-variable lookup beyond its own work. What is recorded is a ``Record``: dependency key ->
what it was when read, plain data that travels from worker processes. ``result_cache`` checks
them. Nothing here imports the rest of lora-lint, and ``hashlib`` only when a read is recorded.
"""

from __future__ import annotations

import os
import stat as _stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

TYPE_CHECKING = False  # typing is not imported at run time (a warm run needs none of it)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])
    T = TypeVar("T")

__all__ = ["Record", "captured", "exists", "is_dir", "is_file", "listing", "memo", "note_read",
           "recording", "remembered", "replay", "shape", "stat", "trusted_mtime", "unrecorded", "volatile"]

#: A mtime this close to the moment it is recorded (or later) is not trusted: a file written again
#: within the same clock tick keeps its mtime, so such a file is compared by its hash.
RACY_NS = 2_000_000_000

# A dependency is a key and the value it had:
#   ("file", path)               -> ("file", size, mtime_ns | None, sha256) ('' for a file too
#                                   large to read: compared by its stat only), or the shape found
#                                   instead of a regular file: ("missing",), ("dir",), ("other",)
#   ("stat", path)               -> its shape: ("missing",), ("file",), ("dir",), ("other",)
#   ("list", directory, pattern) -> (mtime_ns | None, the matching names, sorted), or ("missing",)
# Paths are absolute; a mtime is None when it was too recent to trust (``trusted_mtime``).
Key = tuple[str, ...]
Value = tuple


class Record:
    """What one file's findings depend on (``deps``: key -> value), and whether they depend on
    something no file holds (``volatile``)."""

    __slots__ = ("deps", "volatile")

    def __init__(self) -> None:
        self.deps: dict[Key, Value] = {}
        self.volatile = False

    def add(self, other: Record) -> None:
        self.deps.update(other.deps)
        self.volatile = self.volatile or other.volatile

    def __getstate__(self):
        return self.deps, self.volatile

    def __setstate__(self, state) -> None:
        self.deps, self.volatile = state

    def __repr__(self) -> str:
        return f"Record({len(self.deps)} dependencies{', volatile' if self.volatile else ''})"


_current: ContextVar[Record | None] = ContextVar("lora_lint_depends", default=None)


@contextmanager
def recording(record: Record | None = None) -> Iterator[Record]:
    """Record into ``record`` (a new one by default) what the code in the block depends on."""
    record = Record() if record is None else record
    token = _current.set(record)
    try:
        yield record
    finally:
        _current.reset(token)


def active() -> bool:
    return _current.get() is not None


@contextmanager
def unrecorded() -> Iterator[None]:
    """Nothing in the block is a dependency (a content-addressed cache of lora-lint's own)."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


def _note(key: Key, value: Value) -> None:
    record = _current.get()
    if record is not None:
        record.deps[key] = value


def volatile() -> None:
    """The findings depend on something no file holds: never replay them."""
    record = _current.get()
    if record is not None:
        record.volatile = True


def replay(record: Record) -> None:
    """What a memoised answer depended on (``captured``), recorded again for this file."""
    outer = _current.get()
    if outer is not None:
        outer.add(record)


@contextmanager
def captured() -> Iterator[Record]:
    """Record what the block depends on apart (for a memo to ``replay`` with each answer), and
    for the file being linted as well."""
    outer = _current.get()
    with recording() as record:
        yield record
    if outer is not None:
        outer.add(record)


# -- shapes and stamps -----------------------------------------------------------------------

def shape(st: os.stat_result | None) -> Value:
    """What a ``stat`` found: ``("missing",)``, ``("file",)``, ``("dir",)`` or ``("other",)``."""
    if st is None:
        return ("missing",)
    if _stat.S_ISREG(st.st_mode):
        return ("file",)
    if _stat.S_ISDIR(st.st_mode):
        return ("dir",)
    return ("other",)


def stat_or_none(path: str | os.PathLike) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def trusted_mtime(mtime_ns: int, now_ns: int | None = None) -> int | None:
    """``mtime_ns``, or None when it is too recent to tell a later write in the same tick apart."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    return mtime_ns if now_ns - mtime_ns >= RACY_NS else None


def sha256(data: bytes) -> str:
    import hashlib  # (loads OpenSSL: only when something is hashed)

    return hashlib.sha256(data).hexdigest()


def content(st: os.stat_result, data: bytes) -> Value:
    """The ``file`` value of ``data``, read from a regular file whose stat is ``st``."""
    return ("file", st.st_size, trusted_mtime(st.st_mtime_ns), sha256(data))


# -- recording ---------------------------------------------------------------------------------

def _key_path(path: str | os.PathLike) -> str:
    return os.path.abspath(os.fspath(path))


def note_read(path: str | os.PathLike, st: os.stat_result | None = None, data: bytes | None = None,
              too_large: bool = False) -> None:
    """``read_regular_file`` read ``data`` from the regular file ``path`` (whose fstat is ``st``),
    or (no ``data``) found no regular file to read there, or one above its limit (``too_large``:
    recorded with no hash, so any change of its size or mtime counts as a change)."""
    if _current.get() is None:
        return
    p = _key_path(path)
    if st is not None and data is not None and _stat.S_ISREG(st.st_mode):
        _note(("file", p), content(st, data))
        return
    now = stat_or_none(p)
    if too_large and now is not None and _stat.S_ISREG(now.st_mode):
        _note(("file", p), ("file", now.st_size, trusted_mtime(now.st_mtime_ns), ""))
    else:
        _note(("file", p), shape(now))


def stat(path: str | os.PathLike) -> os.stat_result | None:
    """``os.stat(path)``, None when there is nothing there (or it cannot be asked), recorded: the
    findings depend on what is at ``path``."""
    st = stat_or_none(path)
    if _current.get() is not None:
        _note(("stat", _key_path(path)), shape(st))
    return st


def exists(path: str | os.PathLike) -> bool:
    return stat(path) is not None


def is_file(path: str | os.PathLike) -> bool:
    st = stat(path)
    return st is not None and _stat.S_ISREG(st.st_mode)


def is_dir(path: str | os.PathLike) -> bool:
    st = stat(path)
    return st is not None and _stat.S_ISDIR(st.st_mode)


def listing(directory: str | os.PathLike, pattern: str = ".*") -> list[str]:
    """The names in ``directory`` that fully match the regular expression ``pattern``, sorted
    (``OSError`` when it cannot be listed, as ``os.listdir``), recorded."""
    st = stat_or_none(directory)
    try:
        names = matching(directory, pattern)
    except OSError:
        _note(("list", _key_path(directory), pattern), ("missing",))
        raise
    if _current.get() is not None:
        mtime = trusted_mtime(st.st_mtime_ns) if st is not None else None
        _note(("list", _key_path(directory), pattern), (mtime, tuple(names)))
    return names


def matching(directory: str | os.PathLike, pattern: str) -> list[str]:
    import re

    regex = re.compile(pattern)
    return sorted(n for n in os.listdir(directory) if regex.fullmatch(n))


def remembered(table: dict, key: Any, make: Callable[[], T]) -> T:
    """``make()``, kept in ``table`` under ``key`` with what making it depended on, which every
    later answer records again."""
    hit = table.get(key)
    if hit is not None:
        replay(hit[1])
        return hit[0]
    with captured() as record:
        value = make()
    table[key] = (value, record)
    return value


def memo(maxsize: int = 1024) -> Callable[[F], F]:
    """``functools.lru_cache`` (positional, hashable arguments; emptied when full) for a function
    that reads files: an answer from the memo records again what computing it depended on."""

    def decorate(fn: F) -> F:
        table: dict[tuple, tuple[Any, Record]] = {}

        @wraps(fn)
        def wrapper(*args):
            hit = table.get(args)
            if hit is not None:
                replay(hit[1])
                return hit[0]
            with captured() as record:
                result = fn(*args)
            if len(table) >= maxsize:
                table.clear()
            table[args] = (result, record)
            return result

        wrapper.cache_clear = table.clear  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
