"""``lora-lint check --watch``: lint, then lint again whenever a linted file or a config file
changes, as ruff's ``--watch`` does, until interrupted (Ctrl-C).

Changes are found by polling (every ``LORA_LINT_WATCH_INTERVAL`` seconds, 0.5 by default): the
size and modification time of every file the walk finds and of every config file that could
apply to them (in their directories and above), so no file-system notification library is
needed. Each run is a fresh ``check`` (a changed config applies at once); an error in one run
(a broken config) is printed and the watch goes on.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from .config import CONFIG_NAMES
from .settings import UsageError


def _stat(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino


def snapshot(paths: list[str], config_files: list[str]) -> dict[str, tuple[int, int, int, int] | None]:
    """What the files look like now: the walked files, the config files that may apply."""
    from .discovery import iter_files

    state: dict[str, tuple[int, int, int, int] | None] = {}
    dirs: set[str] = set()
    for path in iter_files(paths):
        state[path] = _stat(path)
        dirs.add(os.path.dirname(os.path.abspath(path)))
    for top in paths:
        dirs.add(os.path.abspath(top if os.path.isdir(top) else os.path.dirname(top) or "."))
    for d in list(dirs):
        while True:
            for name in CONFIG_NAMES:
                config = os.path.join(d, name)
                if config not in state:
                    state[config] = _stat(config)
            parent = os.path.dirname(d)
            if parent == d or parent in dirs and d != parent:
                break
            d = parent
    for config in config_files:
        state[config] = _stat(config)
    return state


def watch(args, once: Callable[..., int], out=None) -> int:
    out = out or sys.stderr
    interval = float(os.environ.get("LORA_LINT_WATCH_INTERVAL", "0.5"))
    paths = list(args.paths)
    if "-" in paths:
        raise UsageError("--watch lints files: it cannot read stdin ('-')")
    config_files = [c for c in args.config or () if os.path.isfile(c)]
    print("Watching for file changes (Ctrl-C to stop).", file=out, flush=True)
    seen = None
    while True:
        now = snapshot(paths, config_files)
        if now != seen:
            if seen is not None:
                print("File change detected...", file=out, flush=True)
            try:
                once(args)
            except UsageError as e:
                print(f"lora-lint: error: {e}", file=sys.stderr, flush=True)
            sys.stdout.flush()
            # what the run itself wrote (--fix) is not a change; else the state it linted is
            seen = snapshot(paths, config_files) if args.fix else now
        time.sleep(interval)
