"""Writing a fixed file: atomically, and only over the very file that was read.

The new content goes to a temporary file in the same directory (``.NAME.lora-lint-PID-XXXX.tmp``),
is flushed and fsynced, gets the original's permission bits, owner and group, and replaces the
original with ``os.replace`` (atomic on POSIX and Windows): a crash or a kill mid-write leaves
the original as it was. A symlink is followed: its target is rewritten. A temporary file left
behind by a killed run (its process is gone) is removed by the next write next to it.

A file is not replaced (``NotWritten``, reported as LL901; its findings stay reported, unfixed):

* when it changed since it was read: its size, modification time (ns) and a hash of its bytes
  (``SourceFile.stamp``) are compared again just before the rename; an edit saved while
  ``--fix`` ran is kept.
* when it is read-only by its mode bits. Decided from the mode, not ``os.access``: for root
  ``os.access`` says yes to everything, so root fixes a file that has some write bit (and keeps
  its owner and group); any other user needs the write bit of their class (owner, group, other).
* when it belongs to another user (not root's run), or its owner or group cannot be kept: the
  replacement would change who owns it.
* when it has more than one hard link: a new file under one name would leave the other names
  with the old text, and writing into the shared inode in place is not atomic (a kill
  mid-copy would tear the file). It is refused; ``--diff`` shows the fix to apply by hand.

Without a stamp (lora-lint's own files: the model lock) a file is simply replaced, or created
with mode 0o644.

``LORA_LINT_TEST_PAUSE_IN_WRITE=1`` is a test hook: halfway through writing the temporary file
the writer says so on stderr and waits for a line on stdin, so a test can kill it mid-write, or
change the file under it.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import tempfile

from ..source_file import Stamp, stamp_of

_MARK = ".lora-lint-"


class NotWritten(Exception):
    """The fixed text was not written; the message says why (the LL901 finding's text)."""


CHANGED = "file changed on disk while it was being fixed: not written (run `--fix` again)"


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


def refusal(st: os.stat_result) -> str | None:
    """Why a file with status ``st`` must not be replaced by its fixed text, or None."""
    mode = st.st_mode
    if not stat.S_ISREG(mode):
        return "not a regular file: not fixed"
    if st.st_nlink > 1:
        return (f"file has {st.st_nlink} hard links: a fixed copy would leave the other names with"
                " the old text: not fixed (apply the fix by hand; `--diff` shows it)")
    if os.name != "posix":
        return None if mode & stat.S_IWRITE else "file is read-only: not fixed"
    euid = os.geteuid()
    if euid == 0:
        may = mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    elif st.st_uid != euid:
        return (f"file belongs to another user (uid {st.st_uid}; this is uid {euid}): the fixed"
                " copy would change its owner: not fixed")
    else:
        may = mode & stat.S_IWUSR
    if not may:
        return f"file is read-only (mode {stat.S_IMODE(mode):04o}): not fixed (make it writable to fix it)"
    return None


def write_atomic(path: str, data: bytes, stamp: Stamp | None = None) -> None:
    """Replace ``path``'s content with ``data`` atomically, keeping its permission bits, owner and
    group (a new file gets 0o644). With ``stamp`` (a user's file being fixed: what its bytes were
    when read), only if the file is still those bytes and ``refusal`` has no objection, and only
    if its owner and group can be kept; else ``NotWritten``. Raises ``OSError`` when writing
    fails. Either way the original is untouched."""
    target = os.path.realpath(path)
    directory, name = os.path.split(target)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    if stamp is not None:
        if info is None or (info.st_size, info.st_mtime_ns) != (stamp.size, stamp.mtime_ns):
            raise NotWritten(CHANGED)  # (None: removed or renamed away while it was being fixed)
        why = refusal(info)
        if why is not None:
            raise NotWritten(why)
    clean_stale(directory, name)
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
        if info is not None:
            _keep_owner(tmp, info, strict=stamp is not None)
        if stamp is not None and not _unchanged(target, stamp):
            raise NotWritten(CHANGED)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(directory)


def _keep_owner(tmp: str, info: os.stat_result, strict: bool) -> None:
    """Give the temporary file the original's owner and group; ``strict`` (a user's file being
    fixed): refuse to go on when they cannot be kept."""
    if not hasattr(os, "chown"):
        return
    st = os.stat(tmp)
    if (st.st_uid, st.st_gid) == (info.st_uid, info.st_gid):
        return
    with contextlib.suppress(OSError):
        os.chown(tmp, info.st_uid, info.st_gid)
    st = os.stat(tmp)
    if not strict:
        return
    if st.st_uid != info.st_uid:
        raise NotWritten(f"the fixed copy cannot keep the file's owner (uid {info.st_uid}): not fixed")
    if st.st_gid != info.st_gid:
        raise NotWritten(f"the fixed copy cannot keep the file's group (gid {info.st_gid}): not fixed")
    if stat.S_IMODE(st.st_mode) != stat.S_IMODE(info.st_mode):  # chown clears set-id bits
        os.chmod(tmp, stat.S_IMODE(info.st_mode))


def _unchanged(target: str, stamp: Stamp) -> bool:
    """The file at ``target`` is still, byte for byte, the one ``stamp`` recorded."""
    from ..bounded_read import read_regular_file

    try:
        data, st = read_regular_file(target, stamp.size)
    except OSError:  # gone, replaced by a FIFO, grown past what was read...
        return False
    return stamp_of(data, st.st_mtime_ns) == stamp


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
