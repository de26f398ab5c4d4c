"""Files of the repository a script reads its settings from (``yaml.safe_load(open("cfg.yaml"))``).

A path the script names (a literal, a flag's default, ``os.path.join(os.path.dirname(__file__),
"cfg.yaml")``) is looked for where the script may be run from: a path built from ``__file__`` in
the script's directory; any other relative path in the script's directory and each directory
above it up to the repository's root (the nearest with ``.git``), and only when exactly one of
them has it. An absolute path, a file outside the repository, a file too big, or one that does not
parse reads as UNKNOWN.

The file is composed safely (``yaml_nodes``, ``json_nodes``), never constructed, and each value
keeps its place in that file: a finding about it points there (``Traced.path``). The file is read
through ``bounded_read``, which records it in the dependency record (``depends``): the script's
findings depend on its bytes.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any

import libcst as cst

from ..depends import is_file
from ..model import Span
from ..source_file import Kind, kind_of, repository_root
from .python_values import NOTHING, Evaluating, Obj, Part, Traced, fits

#: A settings file above this size is not read (configs are a few kilobytes).
MAX_BYTES = 1_000_000
MAX_DEPTH = 32


# -- paths ----------------------------------------------------------------------------------

class ScriptPath(Obj):
    """``__file__``: the script itself."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScriptPath)

    def __hash__(self) -> int:
        return 2


@dataclass(frozen=True)
class PathValue(Obj):
    """A path built from ``__file__`` (``base`` "script": relative to the script's directory) or
    written as text (``base`` "cwd": relative to where the script is run)."""

    base: str
    rel: str

    def attr(self, name: str, ev: Evaluating) -> Traced:
        if name == "parent":
            return dirname(self)
        return NOTHING

    def method(self, name, call, scope, frame, ev, depth) -> Traced:
        if name in ("resolve", "absolute", "expanduser") and not call.args:
            return Traced(self)
        if name == "joinpath" and all(a.keyword is None and not a.star for a in call.args):
            out: Traced = Traced(self)
            for a in call.args:
                out = out.value.divide(ev.trace(a.value, scope, frame, depth + 1)) if isinstance(out.value, Obj) else NOTHING
            return out
        if name in ("open",) and not call.args:
            return Traced(OpenFile(self))
        if name in ("read_text",) and not call.args:
            return Traced(FileText(self))
        return NOTHING

    def divide(self, other: Traced) -> Traced:
        if not isinstance(other.value, str) or not fits(len(self.rel) + len(other.value) + 1, ""):
            return NOTHING
        return Traced(PathValue(self.base, _join(self.rel, other.value)))


def _join(a: str, b: str) -> str:
    if b.startswith("/"):
        return b
    return posixpath.normpath(posixpath.join(a, b)) if a else posixpath.normpath(b)


def dirname(p: PathValue) -> Traced:
    if p.base == "script-file":
        return Traced(PathValue("script", ""))
    if p.base == "script" and p.rel in ("", "."):
        return Traced(PathValue("script", ".."))
    return Traced(PathValue(p.base, posixpath.normpath(posixpath.join(p.rel, ".."))))


def as_path(t: Traced) -> PathValue | None:
    if isinstance(t.value, PathValue):
        return t.value
    if isinstance(t.value, ScriptPath):
        return PathValue("script-file", "")
    if isinstance(t.value, str) and t.value and "\x00" not in t.value:
        return PathValue("cwd", t.value)
    return None


@dataclass(frozen=True)
class OpenFile(Obj):
    """A file opened for reading (``open(path)``, ``with open(path) as f``)."""

    path: PathValue

    def enter(self) -> Traced:
        return Traced(self)

    def method(self, name, call, scope, frame, ev, depth) -> Traced:
        if name == "read" and not call.args:
            return Traced(FileText(self.path))
        return NOTHING


@dataclass(frozen=True)
class FileText(Obj):
    """The text of a file (``f.read()``, ``Path(p).read_text()``)."""

    path: PathValue


def open_file(call: cst.Call, scope, frame, ev: Evaluating, depth: int) -> Traced:
    """``open(path[, "r"])``: a file for reading."""
    if not call.args or any(a.star for a in call.args):
        return NOTHING
    path = as_path(ev.trace(call.args[0].value, scope, frame, depth + 1))
    mode = next((a for a in call.args[1:] if a.keyword is None or a.keyword.value == "mode"), None)
    if mode is not None:
        m = ev.trace(mode.value, scope, frame, depth + 1).value
        if not isinstance(m, str) or any(c in m for c in "wax+"):
            return NOTHING
    return Traced(OpenFile(path)) if path is not None else NOTHING


def resolve(script: str, path: PathValue) -> str | None:
    """The repository file ``path`` names for the script at ``script``, or None."""
    rel = path.rel
    if not script or path.base == "script-file" or not rel or os.path.isabs(rel) or "\x00" in rel:
        return None
    if kind_of(rel) not in (Kind.YAML, Kind.JSON):
        return None
    try:
        here = os.path.dirname(os.path.abspath(script))
    except (OSError, ValueError):
        return None
    if not is_file(script):
        return None
    root = repository_root(here) or here
    if path.base == "script":
        bases = [here]
    else:
        bases, d = [], here
        while True:
            bases.append(d)
            if d == root or os.path.dirname(d) == d:
                break
            d = os.path.dirname(d)
    found: dict[str, str] = {}
    for base in bases:
        candidate = os.path.normpath(os.path.join(base, rel))
        if os.path.commonpath([root, candidate]) == root and is_file(candidate):
            found.setdefault(os.path.realpath(candidate), candidate)
    if len(found) != 1:
        return None
    return next(iter(found.values()))


def load(ev: Evaluating, source: Traced, syntax: str, paths: bool = False) -> Traced:
    """What ``yaml.safe_load``/``json.load`` (``syntax`` "yaml" or "json": how the loader parses)
    read from ``source``: an open file, its text, or (with ``paths``: ``OmegaConf.load``,
    ``from_json_file``) a path."""
    v = source.value
    if isinstance(v, (OpenFile, FileText)):
        path: PathValue | None = v.path
    elif paths:
        path = as_path(source)
    else:
        return NOTHING
    if path is None:
        return NOTHING
    return load_document(ev, path, source.via, syntax)


def load_document(ev: Evaluating, path: PathValue, via: str | None, syntax: str) -> Traced:
    """The document of the repository file ``path`` names, read as ``syntax`` ("yaml": one
    document, as ``yaml.safe_load`` wants; "json"), as traced values."""
    real = resolve(ev.m.path, path)
    if real is None:
        return NOTHING
    memo = ev.m.memo
    key = ("file", real, syntax)
    if key not in memo:
        memo[key] = _read(ev, real, syntax)
    doc = memo[key]
    if via is not None and doc.value is not None:
        return _marked(doc, f"read from the file named by {via}")
    return doc


def _marked(t: Traced, via: str) -> Traced:
    parts = None if t.parts is None else tuple(Part(p.key, p.key_span, _marked(p.value, via)) for p in t.parts)
    return Traced(t.value, t.span, t.path, via, parts)


def _read(ev: Evaluating, real: str, syntax: str) -> Traced:
    from ..bounded_read import read_regular_file

    try:
        data, _ = read_regular_file(real, MAX_BYTES)
    except OSError:
        return NOTHING
    from ..source_file import SourceFile, decode
    from .yaml_nodes import Budget, ParseError

    source = decode(data, ev.m.relative(real))
    if not isinstance(source, SourceFile):
        return NOTHING
    try:
        if syntax == "json":
            from .json_nodes import compose
        else:
            from .yaml_nodes import compose
        roots = compose(source)
    except (ParseError, RecursionError):
        return NOTHING
    if len(roots) > 1:
        return NOTHING  # yaml.safe_load refuses a stream of several documents
    if not roots:
        return Traced(None)
    return _traced(roots[0], Budget(), ev.m.relative(real), 0)


def _traced(node: Any, budget: Any, path: str, depth: int) -> Traced:
    from yaml.nodes import MappingNode, SequenceNode

    from .yaml_nodes import flatten, key_text, span, to_value

    if depth > MAX_DEPTH or not budget.spend():
        return NOTHING
    value = to_value(node, budget)
    where: Span = span(node)
    if isinstance(node, MappingNode) and isinstance(value, dict):
        parts = []
        for k, v in flatten(node, budget):
            key = key_text(k)
            if key is None or key not in value:
                continue
            parts = [p for p in parts if p.key != key]
            parts.append(Part(key, span(k), _traced(v, budget, path, depth + 1)))
        return Traced(value, where, path, None, tuple(parts))
    if isinstance(node, SequenceNode) and isinstance(value, list):
        parts = [Part(i, None, _traced(v, budget, path, depth + 1)) for i, v in enumerate(node.value)]
        return Traced(value, where, path, None, tuple(parts))
    return Traced(value, where, path)
