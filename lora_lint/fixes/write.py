"""Atomic file writes: a crash or kill mid-write leaves the original file as it was.

The new content goes to a temporary file in the same directory (``.NAME.lora-lint-PID-XXXX.tmp``),
is flushed and fsynced, gets the original's permission bits, and replaces the original with
``os.replace`` (atomic on POSIX and Windows). A symlink is followed: its target is rewritten. A
temporary file left behind by a killed run (its process is gone) is removed by the next write
next to it.

``LORA_LINT_TEST_PAUSE_IN_WRITE=1`` is a test hook: halfway through writing the temporary file
the writer says so on stderr and waits for a line on stdin, so a test can kill it mid-write.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import tempfile

_MARK = ".lora-lint-"


def _temp_pattern(name: str) -> re.Pattern:
    return re.compile(rf"\.{re.escape(name)}{re.escape(_MARK)}(\d+)-[A-Za-z0-9_]+\.tmp")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # not ours to signal: it exists
        return True
    return True


def clean_stale(directory: str, name: str) -> list[str]:
    """Remove the temporary files of ``name`` left in ``directory`` by runs that were killed."""
    if os.name != "posix":  # os.kill(pid, 0) is no liveness probe elsewhere
        return []
    pattern = _temp_pattern(name)
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    for entry in entries:
        m = pattern.fullmatch(entry)
        if m and not _alive(int(m[1])):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, entry))
                removed.append(entry)
    return removed


def write_atomic(path: str, data: bytes) -> None:
    """Replace ``path``'s content with ``data`` atomically, keeping its permission bits (a new
    file gets 0o644)."""
    target = os.path.realpath(path)
    directory, name = os.path.split(target)
    clean_stale(directory, name)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    fd, tmp = tempfile.mkstemp(prefix=f".{name}{_MARK}{os.getpid()}-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            if os.environ.get("LORA_LINT_TEST_PAUSE_IN_WRITE"):
                f.flush()
                sys.stderr.write(f"lora-lint: paused writing {tmp}\n")
                sys.stderr.flush()
                sys.stdin.readline()
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, stat.S_IMODE(info.st_mode) if info is not None else 0o644)
        if info is not None and hasattr(os, "chown"):
            with contextlib.suppress(OSError):
                os.chown(tmp, info.st_uid, info.st_gid)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); best effort."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
