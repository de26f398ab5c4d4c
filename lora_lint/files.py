"""The one loop over files, for ``check``, ``--fix``, ``report``, standard input and the editor.

``each_file`` walks the paths (``discovery``), skips what ``exclude`` matches (a file named on the
command line only with ``--force-exclude``), reads each file without ever blocking (a FIFO, a
device or a socket under a config's name is not read) and never past ``max-file-size``, and
decodes it (``source_file.decode``). A data file (``source_file.is_data_file``: tokenizer.json...)
is never opened; one above ``max-file-size`` is reported only when its head reads like a LoRA
config of its kind. Each file comes out as a ``Read``: its ``SourceFile``, or the
LL901 finding saying why it cannot be read (LL903 when reading it hit a bug), or neither (a file
no LoRA config can be, skipped silently).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .bounded_read import FileTooLarge, NotRegularFile, read_regular_file
from .model import Finding, Span
from .settings import Settings
from .source_file import (
    SourceFile,
    Unreadable,
    decode,
    is_data_file,
    kind_of,
    kind_of_file,
    stamp_of,
)

START = Span.point(1, 1)


@dataclass(frozen=True)
class Read:
    """One file, read: ``source`` to lint, or ``problem`` to report, or neither (skipped).

    ``shown`` is what a report may quote from the file: its source, or for bytes that are not
    valid text, those bytes decoded with replacement characters."""

    path: str
    settings: Settings
    source: SourceFile | None = None
    problem: Finding | None = None
    shown: SourceFile | None = None


def each_file(paths: Iterable[str], settings_for: Callable[[str], Settings],
              force_exclude: bool = False, stamp: bool = False) -> Iterator[Read]:
    """Every file to lint under ``paths``, in discovery order, read. ``settings_for(path)`` gives
    each file its settings (its nearest config file); ``stamp``: remember what each file's bytes
    were (``SourceFile.stamp``), for a run that writes files back."""
    from .discovery import iter_files

    paths = list(paths)
    explicit = set(paths)
    for path in iter_files(paths):
        settings = settings_for(path)
        if settings.exclude and (force_exclude or path not in explicit) and settings.is_excluded(path):
            continue
        yield read_file(path, settings, stamp)


def read_file(path: str, settings: Settings, stamp: bool = False) -> Read:
    """One file from the disk; a bug while reading or decoding it is LL903 for that file."""
    try:
        return _read_file(path, settings, stamp)
    except Exception as exc:  # a bug reading one file must not take the run down
        from .rules import internal_error

        return Read(path, settings, problem=internal_error("reading the file", path, START, exc))


def _read_file(path: str, settings: Settings, stamp: bool) -> Read:
    if is_data_file(path):
        return Read(path, settings)  # a tokenizer, a shard index, a dataset's metadata: never opened
    try:
        data, st = read_regular_file(path, settings.max_file_size)
    except NotRegularFile as e:
        if e.is_dir:
            return Read(path, settings)
        return _problem(path, settings, "not a regular file (a pipe, device or socket): not read")
    except FileTooLarge as e:
        if not _head_looks_like_config(path):
            return Read(path, settings)  # a big data file: not a config, not reported
        return _too_big(path, settings, e.size)  # (no size: it grew while being read)
    except OSError as e:
        if os.path.isdir(path):
            return Read(path, settings)
        return _problem(path, settings, f"cannot read file: {e.strerror or e}")
    return _decoded(path, settings, decode(data, path, stamp_of(data, st.st_mtime_ns) if stamp else None), data)


#: How much of a file above ``max-file-size`` is read to tell whether it is a LoRA config.
HEAD_BYTES = 64 * 1024


def _head_looks_like_config(path: str) -> bool:
    """Whether the head of a file too big to read reads like a LoRA config of its kind (a YAML
    with ``lora_r:``, Python calling ``LoraConfig``): only then is it reported (LL901)."""
    from .bounded_read import read_head
    from .sources import looks_like_config

    try:
        head = read_head(path, HEAD_BYTES)
    except OSError:
        return True  # unreadable now: say so rather than stay silent
    text = head.decode("utf-8", errors="replace")
    return looks_like_config(SourceFile(path, text, kind_of_file(path, text)))


def read_stream(stream, path: str, settings: Settings) -> Read:
    """Standard input as the file ``path``: the same size limit and decoding (a BOM, UTF-16, a
    PEP 263 line, invalid UTF-8 as LL901), whatever the console's encoding."""
    if is_data_file(path):
        return Read(path, settings)  # named as a data file
    limit = settings.max_file_size
    raw = getattr(stream, "buffer", None)
    try:
        if raw is None:  # a text stream (an embedding program, tests)
            text = stream.read(limit + 1)
            if len(text) > limit:
                return _too_big(path, settings)
            return _presented(path, settings, SourceFile.of_text(path, text))
        data = raw.read(limit + 1)
    except OSError as e:
        return _problem(path, settings, f"cannot read stdin: {e.strerror or e}")
    except UnicodeDecodeError as e:
        return _problem(path, settings, f"stdin is not valid text ({e.reason})")
    if len(data) > limit:
        return _too_big(path, settings)
    return _decoded(path, settings, decode(data, path), data)


def _decoded(path: str, settings: Settings, got: SourceFile | Unreadable | None, data: bytes) -> Read:
    if got is None:
        return Read(path, settings)
    if isinstance(got, Unreadable):
        return _problem(path, settings, got.message, got.span, SourceFile(path, _replaced(data), kind_of(path)))
    return _presented(path, settings, got)


def _presented(path: str, settings: Settings, source: SourceFile) -> Read:
    """The file as its reader reads it (a notebook: its Python script), or LL901 at ``source``."""
    from .sources import SourceError, presented

    try:
        shown = presented(source)
    except SourceError as e:
        return _problem(path, settings, e.message, e.span, source)
    return Read(path, settings, shown, shown=shown)


def _replaced(data: bytes) -> str:
    """Bytes that are not valid text, as a report quotes them."""
    from .source_file import WIDE_BOMS

    for bom, encoding in WIDE_BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def _problem(path: str, settings: Settings, message: str, span: Span = START,
             shown: SourceFile | None = None) -> Read:
    from .rules import finding

    return Read(path, settings, problem=finding("LL901", message, path, span), shown=shown)


def _too_big(path: str, settings: Settings, size: int | None = None) -> Read:
    return Read(path, settings, problem=too_large(path, settings, size))


def too_large(path: str, settings: Settings, size: int | None = None) -> Finding:
    """LL901 for a file above ``max-file-size`` (``size`` bytes when known): not read. (The
    language server says the same of a document the editor sends.)"""
    from .rules import finding

    what = f"is {size:,} bytes," if size is not None else "is"
    return finding("LL901", f"file {what} above the {settings.max_file_size:,}-byte limit:"
                   " not read (raise `max-file-size` to lint it)", path, START)
