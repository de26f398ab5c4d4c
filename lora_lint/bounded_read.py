"""Read a regular file without ever blocking and without reading more than a limit.

``open()`` of a FIFO blocks until a writer comes, ``/dev/zero`` never ends, and a procfs file
reports size 0 whatever it holds (``/proc/kmsg`` blocks when read, as root). So the file is
opened non-blocking, checked on the open descriptor (no race with a rename in between), and read
at most ``limit + 1`` bytes, so a file that grows while it is read is cut off too.
"""

from __future__ import annotations

import os
import stat

_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
          | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))


class NotRegularFile(OSError):
    """A FIFO, a device, a socket or a directory (``is_dir``) under a file's name: not read."""

    def __init__(self, message: str, is_dir: bool = False):
        super().__init__(message)
        self.is_dir = is_dir


class FileTooLarge(OSError):
    """More than the limit, by its size or by what reading it gave."""

    def __init__(self, path: str, limit: int, size: int | None = None):
        self.limit, self.size = limit, size
        what = f"{size:,} bytes" if size is not None else "more than that"
        super().__init__(f"{path} is {what}; the limit is {limit:,} bytes")


def read_regular_file(path: str | os.PathLike, limit: int) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file at ``path`` (symlinks followed), at most ``limit`` of them,
    and its ``fstat`` (taken on the descriptor read).

    Raises ``NotRegularFile``, ``FileTooLarge``, or the ``OSError`` of opening or reading it (a read
    that would block is ``BlockingIOError``)."""
    fd = os.open(path, _FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            is_dir = stat.S_ISDIR(st.st_mode)
            kind = "a directory" if is_dir else "not a regular file (a pipe, device or socket)"
            raise NotRegularFile(f"{os.fspath(path)} is {kind}", is_dir)
        if st.st_size > limit:
            raise FileTooLarge(os.fspath(path), limit, st.st_size)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileTooLarge(os.fspath(path), limit)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def read_head(path: str | os.PathLike, size: int) -> bytes:
    """The first ``size`` bytes of the regular file at ``path`` (the same non-blocking open and
    checks as ``read_regular_file``): enough to tell what a file too big to read is."""
    fd = os.open(path, _FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(f"{os.fspath(path)} is not a regular file")
        chunks, got = [], 0
        while got < size:
            chunk = os.read(fd, size - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
