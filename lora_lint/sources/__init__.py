"""Readers turn one ``SourceFile`` into ``LoraSite`` records; one reader module per file kind.

A reader module has ``sites(source)`` (the sites, or ``SourceError`` for LL901) and keeps what it
parsed on the source (``SourceFile.keep``) for the fix builders. ``READERS`` registers it for its
kind with a cheap ``may_hold`` test (False when the file certainly holds no site, so nothing is
parsed); a kind without a reader is not looked for in directories. Reader modules are imported
when a file of their kind is parsed, so a run over YAML files never imports libcst, nor one over
Python files PyYAML.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple

from ..model import LoraSite
from ..source_file import Kind, SourceFile, kind_of
from ._base import SourceError, python_may_hold, shell_may_hold, yaml_looks_lora, yaml_may_hold

__all__ = ["READERS", "Reader", "SourceError", "is_source", "looks_like_config", "may_hold_sites", "presented",
           "sites_for"]


class Reader(NamedTuple):
    """A registered reader: ``load`` imports its module (which has ``sites(source)``), and
    ``may_hold`` is its cheap test, which imports nothing heavy: the parent process runs it on
    every file, and only what passes is parsed (maybe in a worker process). (A NamedTuple: every run
    imports this module, and a frozen dataclass takes 0.3 ms more to make.)"""

    load: Callable[[], ModuleType]
    may_hold: Callable[[SourceFile], bool]
    #: The module has ``view(source)``: the file is read through a text of its own (a
    #: notebook's Python script), which ``presented`` gives.
    presents: bool = False
    #: Whether a text (the head of a file too big to read) reads like a LoRA config of this kind,
    #: strictly: a big data file that merely mentions LoRA is not reported. None: ``may_hold``.
    looks_like_config: Callable[[SourceFile], bool] | None = None


def _python() -> ModuleType:
    from . import python

    return python


def _yaml() -> ModuleType:
    from . import yaml_source

    return yaml_source


def _yaml_looks(source: SourceFile) -> bool:
    return yaml_looks_lora(source.text)


def _shell() -> ModuleType:
    from . import shell

    return shell


def _notebook() -> ModuleType:
    from . import notebook

    return notebook


#: File kind -> its reader. A kind that is not here is not read (nor looked for in directories).
READERS: dict[Kind, Reader] = {
    Kind.PYTHON: Reader(_python, python_may_hold),
    Kind.YAML: Reader(_yaml, yaml_may_hold, looks_like_config=_yaml_looks),
    Kind.JSON: Reader(_yaml, yaml_may_hold, looks_like_config=_yaml_looks),
    Kind.SHELL: Reader(_shell, shell_may_hold),
    Kind.NOTEBOOK: Reader(_notebook, python_may_hold, presents=True),
}


def presented(source: SourceFile) -> SourceFile:
    """The text the file is read through: its reader's own (a notebook's Python script, with
    ``rows`` saying where its lines are in the file) when the reader has one and the file may
    hold a site, else the file itself. Raises ``SourceError`` (LL901) when the file cannot be
    read that way. The reading loop, ``lint_partial`` and ``--fix`` ask it; a presented text is
    returned as it is."""
    r = READERS.get(source.kind) if source.kind is not None else None
    if r is None or not r.presents or source.rows is not None or not r.may_hold(source):
        return source
    return r.load().view(source)


def is_source(path: str) -> bool:
    """A file of a kind some reader reads (what a directory walk picks up)."""
    return kind_of(path) in READERS


def may_hold_sites(source: SourceFile) -> bool:
    """False when ``sites_for`` certainly finds nothing without parsing; True means the file is
    worth parsing."""
    r = READERS.get(source.kind) if source.kind is not None else None
    return r is not None and r.may_hold(source)


def looks_like_config(source: SourceFile) -> bool:
    """Whether ``source`` (a file's head) reads like a LoRA config of its kind."""
    r = READERS.get(source.kind) if source.kind is not None else None
    if r is None:
        return False
    return (r.looks_like_config or r.may_hold)(source)


def sites_for(source: SourceFile) -> list[LoraSite]:
    """The LoRA sites of one file, with its ``# lora-lint: base-model=`` comment applied. Raises
    ``SourceError`` when the file cannot be parsed."""
    if not may_hold_sites(source):
        return []
    found = READERS[source.kind].load().sites(source)
    if not found:
        return found
    from ..directives import apply_model_directives

    return apply_model_directives(source, found)
