"""Which files to lint: walk directories, honour ``.gitignore`` files, skip the usual noise."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .globs import Glob
from .source_file import repository_root
from .sources import is_source

GITIGNORE_MAX_BYTES = 1024 * 1024

#: Directories never walked into (ruff's defaults, trimmed to what can hold configs).
DEFAULT_EXCLUDE = frozenset({
    ".git", ".hg", ".svn", ".bzr", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", "__pycache__", "node_modules", "site-packages", ".eggs", "build", "dist",
    "__pypackages__", ".ipynb_checkpoints", ".lora-lint",
})


@dataclass(frozen=True)
class IgnoreRule:
    glob: Glob
    negate: bool
    dir_only: bool


def parse_gitignore(text: str) -> list[IgnoreRule]:
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        try:  # matched in bounded time, however many wildcards (globs.py)
            glob = Glob.compile(("" if anchored else "**/") + line.lstrip("/"))
        except re.error:
            continue  # '[z-a]': git's wildmatch matches nothing with it either
        rules.append(IgnoreRule(glob, negate, dir_only))
    return rules


class Ignorer:
    """Stack of .gitignore files met while walking down from a root."""

    def __init__(self) -> None:
        self.cache: dict[str, list[IgnoreRule]] = {}

    def rules_in(self, directory: str) -> list[IgnoreRule]:
        if directory not in self.cache:
            path = os.path.join(directory, ".gitignore")
            # a regular file only (a FIFO would block the run), and not a huge one
            if os.path.isfile(path) and os.path.getsize(path) <= GITIGNORE_MAX_BYTES:
                try:
                    with open(path, encoding="utf-8", errors="replace") as f:
                        self.cache[directory] = parse_gitignore(f.read(GITIGNORE_MAX_BYTES))
                except OSError:
                    self.cache[directory] = []
            else:
                self.cache[directory] = []
        return self.cache[directory]

    def ignored(self, path: str, is_dir: bool, bases: list[str]) -> bool:
        result = False
        for base in bases:
            rules = self.rules_in(base)
            if not rules:
                continue
            rel = os.path.relpath(path, base).replace(os.sep, "/")
            if rel.startswith(".."):
                continue
            for r in rules:
                if r.dir_only and not is_dir:
                    continue
                if r.glob.match(rel):
                    result = not r.negate
        return result


def iter_files(paths: Iterable[str], exclude: Iterable[str] = (),
               gitignore: Callable[[str], bool] | None = None) -> Iterator[str]:
    """Files to lint. A file named explicitly is always linted; directories are walked, skipping
    what .gitignore files ignore unless ``gitignore(directory)`` says not to
    (``--no-respect-gitignore``, ``respect-gitignore = false``)."""
    honoured = Ignorer()
    excluded = set(DEFAULT_EXCLUDE) | set(exclude)
    seen: set[str] = set()
    for top in paths:
        if not os.path.isdir(top):
            if top not in seen:
                seen.add(top)
                yield top
            continue
        ignorer = honoured if gitignore is None or gitignore(top) else None
        root = repository_root(top)
        top_abs = os.path.abspath(top)
        # .gitignore files from the repository root down to `top` apply too.
        chain = []
        if root is not None:
            d = top_abs
            while True:
                chain.append(d)
                if d == root:
                    break
                d = os.path.dirname(d)
            chain.reverse()
        else:
            chain = [top_abs]
        yield from _walk(top, top_abs, os.path.realpath(top_abs), chain, ignorer, excluded, seen, set())


def _walk(rel_dir, abs_dir, real_dir, bases, ignorer, excluded, seen, visited) -> Iterator[str]:
    """The files under ``abs_dir`` (named below ``rel_dir``), in name order. ``real_dir`` is
    ``abs_dir`` with its symbolic links resolved: it is worked out again (``realpath``) only below a
    link, and a directory met again inside itself (a link loop) is not walked twice."""
    if real_dir in visited:  # symlink loop
        return
    visited = visited | {real_dir}
    try:
        with os.scandir(abs_dir) as it:
            entries = {entry.name: entry for entry in it}
    except OSError:
        return
    prefix = "" if rel_dir in ("", ".") else os.path.join(rel_dir, "")
    # what matches names here: the .gitignore files of this directory and above it (most often none)
    matcher = ignorer if ignorer is not None and any(ignorer.rules_in(base) for base in bases) else None
    for name in sorted(entries):
        entry = entries[name]
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            if name in excluded or (matcher is not None and matcher.ignored(entry.path, True, bases)):
                continue
            real = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real_dir, name)
            yield from _walk(prefix + name, entry.path, real, [*bases, entry.path], ignorer, excluded, seen,
                             visited)
        elif is_source(name) and name not in excluded and not (
                matcher is not None and matcher.ignored(entry.path, False, bases)):
            rel_path = prefix + name
            if rel_path not in seen:
                seen.add(rel_path)
                yield rel_path
