"""Where lora-lint keeps what it caches (the models' inventories, the results of each file).

``LORA_LINT_CACHE_DIR`` (``--cache-dir`` sets it for a run), else the user cache directory:
``$XDG_CACHE_HOME/lora-lint`` (when absolute), else ``~/.cache/lora-lint`` (``~/Library/Caches/lora-lint`` on macOS),
as platformdirs says; on Windows platformdirs is asked (elsewhere it is not imported: a run that
only reads its cache would spend more on that import than on its work).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "LORA_LINT_CACHE_DIR"
#: Set (``--no-cache``): no cache is read or written (the prebuilt inventories still are read).
NO_CACHE_ENV = "LORA_LINT_NO_CACHE"
APP = "lora-lint"


def cache_root() -> Path:
    env = os.environ.get(ENV)
    if env:
        return Path(os.path.expanduser(env))
    if sys.platform.startswith("win"):
        import platformdirs

        return Path(platformdirs.user_cache_dir(APP, appauthor=False))
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # (a relative one is ignored, as the XDG specification says)
        return Path(xdg) / APP
    base = "~/Library/Caches" if sys.platform == "darwin" else "~/.cache"
    return Path(os.path.expanduser(base)) / APP


def disabled() -> bool:
    """``--no-cache`` (or ``LORA_LINT_NO_CACHE`` set): use no cache."""
    return bool(os.environ.get(NO_CACHE_ENV))


def write_atomically(path: Path, data: bytes, prefix: str, mode: int | None = 0o644) -> None:
    """Write a cache file whole or not at all: a temporary file beside it (``prefix``), then a
    rename, so a reader never sees half of it. ``mode``: mkstemp makes the file private; a cache
    entry that is not a secret gets 0o644 (None keeps it private). Raises OSError; no temporary
    file is left behind."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
