"""Which peft version a project uses: its pin, or failing that the installed peft (for LL002).

The pin is searched from the linted file's directory upward, stopping at the repository root
(a directory holding ``.git``) or the filesystem root. The first directory whose
``requirements*.txt``, ``pyproject.toml`` (PEP 621 dependencies and optional dependencies, PEP 735
dependency groups, Poetry dependencies), ``setup.cfg`` (``install_requires``, ``extras_require``)
or ``environment.yml`` mentions peft decides. A PEP 723 ``# /// script`` block in the file itself
comes first. The result is the *newest* version the pin allows: ``peft==0.13.2`` -> 0.13.2,
``peft<0.14`` -> anything below 0.14, ``peft>=0.10`` -> no upper bound. When several files or
dependency groups in the directory mention peft, the loosest wins, so a rule never fires on a
version the project may in fact run. Nothing here imports peft.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from . import depends
from .bounded_read import read_regular_file
from .peft_history import parse
from .pins import (
    MAX_FILE,
    Bound,
    combine,
    file_groups,
    loosest,
    requirement_bound,
    script_metadata,
    strings,
)

__all__ = ["Bound", "PeftVersion", "peft_version", "script_metadata", "clear_cache"]


class PeftVersion(NamedTuple):
    """The newest peft a project may run: ``bound`` None means no upper bound."""

    bound: Bound | None
    spec: str  # as written: "peft==0.13.2", or the installed version
    source: str | None  # the file that pins it; None for the installed peft

    def allows(self, since: str) -> bool:
        v = parse(since)
        return self.bound is None or v is None or self.bound.allows(v)

    def older_than(self, version: str) -> bool:
        """True when every version the project may run is older than ``version``."""
        return not self.allows(version)

    def describe(self) -> str:
        if self.source is None:
            return f"the installed peft is {self.spec} (no peft pin found in the project)"
        where = _display(self.source) if os.path.isabs(self.source) else self.source
        return f"your project pins {self.spec} ({where})"


def _display(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


#: The files of a directory that may pin peft.
PIN_FILES = r"pyproject\.toml|setup\.cfg|environment\.ya?ml|requirements.*\.txt"


def _candidates(directory: Path) -> list[Path]:
    try:
        names = depends.listing(directory, PIN_FILES)
    except OSError:
        return []
    return [directory / n for n in names]


def _read(path: Path) -> str | None:
    """A pin file's text: a regular file only, never blocking, at most ``pins.MAX_FILE`` bytes,
    and recorded (``depends``): the findings of a file whose pin it is depend on it."""
    try:
        data, _ = read_regular_file(path, MAX_FILE)
    except OSError:
        return None
    return data.decode("utf-8", errors="replace")


@depends.memo(maxsize=1024)
def directory_pin(directory: str) -> PeftVersion | None:
    """The peft pin of the files in ``directory`` itself (not its parents), or None."""
    found: list[tuple[Bound | None, str, str]] = []
    for path in _candidates(Path(directory)):
        for mentioned, bound in file_groups(path, _read):
            if mentioned:
                found.append((bound, str(path), _spec_text(bound)))
    if not found:
        return None
    loose = loosest(b for b, _, _ in found)
    for bound, source, spec in found:
        if bound == loose:
            return PeftVersion(bound, spec, source)
    return None  # pragma: no cover


def _spec_text(bound: Bound | None) -> str:
    if bound is None:
        return "peft (no upper bound)"
    return f"peft=={bound}" if bound.inclusive else f"peft{bound}"


@depends.memo(maxsize=1024)
def find_pin(directory: str) -> PeftVersion | None:
    """The nearest peft pin from ``directory`` up to the repository root."""
    d = Path(directory)
    while True:
        pin = directory_pin(str(d))
        if pin is not None:
            return pin
        if depends.exists(d / ".git") or d.parent == d:
            return None
        d = d.parent


@lru_cache(maxsize=1)
def installed() -> PeftVersion | None:
    """The installed peft's version, read from its metadata (peft is never imported)."""
    from .models.cache import dist_version  # the dist-info name, without importlib.metadata

    version = dist_version("peft")
    if version is None:
        return None
    v = parse(version)
    return PeftVersion(Bound(v, True), version, None) if v else None


def script_bound(dependencies) -> PeftVersion | None:
    """The pin in a PEP 723 ``dependencies`` list, if it mentions peft."""
    if not isinstance(dependencies, (list, tuple)):
        return None
    found = [b for m, b in map(requirement_bound, strings(dependencies)) if m]
    mentioned, bound = combine(found)
    if not mentioned:
        return None
    return PeftVersion(bound, _spec_text(bound), "the script's `# /// script` block")


def peft_version(path: str, script_dependencies=None) -> PeftVersion | None:
    """The newest peft the project of ``path`` may run: its pin, else the installed one."""
    pin = script_bound(script_dependencies)
    if pin is not None:
        return pin
    directory = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    return find_pin(directory) or installed()


def clear_cache() -> None:
    directory_pin.cache_clear()
    find_pin.cache_clear()
    installed.cache_clear()
