"""YAML and JSON documents as PyYAML nodes: positions, values and mappings, safely and on a budget.

Documents are *composed*, never constructed: a ``!!python/object`` tag is only a tag on a node,
and its value reads as UNKNOWN. Aliases stay shared nodes (compose never copies them), and every
walk over nodes spends a per-file ``Budget``, so an alias bomb costs what its text costs.
Values are what the training frameworks get from ``yaml.safe_load`` (YAML 1.1 resolution), except
that a plain scalar such as ``2e-4`` -- a string to PyYAML that every framework coerces -- reads
as the number it means. ``${VAR}``, ``${oc.env:X}`` and ``{{ x }}`` read as UNKNOWN.
Positions are the file's (``SourceFile``): PyYAML also counts NEL and U+2028/U+2029 as line
breaks, so where the text has one, node marks are converted from their character index.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml
from yaml.constructor import SafeConstructor
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..model import UNKNOWN, Span
from ..source_file import YAML_ONLY_BREAKS, SourceFile

try:  # libyaml: fast, and it bounds nesting depth itself
    from yaml import CSafeLoader as Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as Loader

STD = "tag:yaml.org,2002:"
#: Nodes a file's documents may have: more are not composed (LL901 "too large to analyse"). Counting them
#: is PyYAML's event parser, stopped at the bound (~0.3 s); composing takes ~10 µs and ~300 bytes
#: a node (2.4 million nodes: 23 s and 700 MB, then 1.5 GB and 70 s for the whole lint).
MAX_NODES = 200_000
#: Node visits one file may cost (every walk spends one a node; an alias is visited again each
#: time it is expanded), and one value conversion at most. A file whose reading runs out of the
#: budget is LL901 (``yaml_source.sites``): a walk cut short may have missed any key.
FILE_BUDGET = 1_000_000
VALUE_BUDGET = 2_000
MAX_DEPTH = 64

PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\{\{.*?\}\}|^\?\?\?$|^\$[A-Za-z_][A-Za-z0-9_]*$", re.S)
#: A number with an exponent that YAML 1.1 leaves a string (``2e-4``, ``1.0e4``, ``1E5``).
EXP_NUMBER = re.compile(r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+")
_SAFE = SafeConstructor()


class ParseError(Exception):
    """The text is not valid YAML/JSON (``span`` is where the parser stopped)."""

    def __init__(self, message: str, span: Span):
        super().__init__(message)
        self.message = message
        self.span = span


class TooLarge(ParseError):
    """More than ``MAX_NODES`` nodes: not composed."""

    def __init__(self, what: str = "YAML") -> None:
        super().__init__(f"file is too large to analyse: more than {MAX_NODES:,} {what} nodes"
                         " (lora-lint's bound for one file); its LoRA settings are not checked",
                         Span.point(1, 1))


@dataclass
class Budget:
    """Node visits left for one file: walks stop, and values read as UNKNOWN, when it runs out."""

    limit: int = FILE_BUDGET
    used: int = 0
    values: dict[int, Any] = field(default_factory=dict)  # id(node) -> value, while the nodes live

    def spend(self, n: int = 1) -> bool:
        if self.used + n > self.limit:
            self.used = self.limit + 1  # exhausted: nothing more is visited
            return False
        self.used += n
        return True

    @property
    def exhausted(self) -> bool:
        return self.used > self.limit


# --- parsing ---------------------------------------------------------------------------------

def compose(source: SourceFile) -> list[Node]:
    """The documents of a YAML file as nodes, their marks in the file's lines. Raises
    ``ParseError`` (``TooLarge`` above ``MAX_NODES`` nodes)."""
    text = source.text
    try:
        if len(text) > MAX_NODES // 2:  # (a node takes two characters at least: "-\n", "a,")
            _count_nodes(text)
        roots = [d for d in yaml.compose_all(text, Loader=Loader) if d is not None]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = e.problem or e.context or "invalid YAML"
        if e.context and e.problem:
            what = f"{e.problem} ({e.context})"
        span = _point(source, mark) if mark else Span.point(1, 1)
        raise ParseError(f"invalid YAML: {what}", span) from None
    except yaml.reader.ReaderError as e:
        index = e.position
        if _is_libyaml(Loader):  # libyaml counts UTF-8 bytes, not characters
            index = len(text.encode("utf-8", "surrogatepass")[:index].decode("utf-8", "ignore"))
        raise ParseError(f"invalid YAML: {e.reason} (character {e.character!r})",
                         Span.point(*source.position(index))) from None
    except yaml.YAMLError as e:
        raise ParseError(f"invalid YAML: {e}", Span.point(1, 1)) from None
    except RecursionError:
        raise ParseError("file is nested too deeply to parse", Span.point(1, 1)) from None
    except UnicodeError as e:  # a lone surrogate in text handed over by an editor
        index = getattr(e, "start", 0)
        raise ParseError(f"invalid YAML: {e.reason}", Span.point(*source.position(index))) from None
    if any(c in text for c in YAML_ONLY_BREAKS):
        _remark(source, roots)
    return roots


def _point(source: SourceFile, mark: Mark) -> Span:
    if any(c in source.text for c in YAML_ONLY_BREAKS):
        return Span.point(*source.position(mark.index))
    return Span.point(mark.line + 1, mark.column + 1)


def _remark(source: SourceFile, roots: list[Node]) -> None:
    """Every node's marks recomputed from its character index in the file's lines."""
    def mark(m: Mark) -> Mark:
        line, col = source.position(m.index)
        return Mark(m.name, m.index, line - 1, col - 1, None, None)

    seen: set[int] = set()
    stack: list[Node] = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        node.start_mark, node.end_mark = mark(node.start_mark), mark(node.end_mark)
        if isinstance(node, MappingNode):
            for k, v in node.value:
                stack += (k, v)
        elif isinstance(node, SequenceNode):
            stack += node.value


_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)


def _count_nodes(text: str) -> None:
    """Raises ``TooLarge`` when the documents of ``text`` have more than ``MAX_NODES`` nodes
    (counted from parser events, without composing). A syntax error is left to the composer."""
    count = 0
    for event in yaml.parse(text, Loader=Loader):
        if isinstance(event, _NODE_EVENTS):
            count += 1
            if count > MAX_NODES:
                raise TooLarge()


def _is_libyaml(loader) -> bool:
    try:
        from yaml.cyaml import CParser
    except ImportError:  # pragma: no cover - PyYAML without libyaml
        return False
    return issubclass(loader, CParser)


# --- positions -------------------------------------------------------------------------------

def span(node: Node) -> Span:
    """Where a node is written. A block collection ends where its last value ends (PyYAML's own
    end mark is the start of the next token, often lines further down)."""
    s, last = node.start_mark, node
    for _ in range(MAX_DEPTH):
        if not isinstance(last, (SequenceNode, MappingNode)) or last.flow_style or not last.value:
            break
        child = last.value[-1]
        last = child[1] if isinstance(child, tuple) else child
    e = last.end_mark
    return Span(s.line + 1, s.column + 1, e.line + 1, e.column + 1)


def is_empty(node: Node) -> bool:
    """A value left empty (``key:`` with nothing after it)."""
    return isinstance(node, ScalarNode) and node.start_mark.index == node.end_mark.index


def value_span(key: Node, value: Node) -> Span:
    """Where a finding about a value points: the value, or the key when the value is empty."""
    return span(key) if is_empty(value) else span(value)


# --- values ----------------------------------------------------------------------------------

def scalar(node: ScalarNode) -> Any:
    """A scalar as the framework gets it from ``yaml.safe_load``; UNKNOWN for placeholders and tags."""
    tag = node.tag or ""
    if not tag.startswith(STD):
        return UNKNOWN  # !!python/..., !Ref, !custom: never constructed
    kind = tag[len(STD):]
    text = node.value
    try:
        if kind == "str":
            if PLACEHOLDER.search(text):
                return UNKNOWN
            if not node.style and EXP_NUMBER.fullmatch(text):
                return float(text.replace("_", ""))
            return text
        if kind == "int":
            return _SAFE.construct_yaml_int(node)
        if kind == "float":
            return _SAFE.construct_yaml_float(node)
        if kind == "bool":
            return _SAFE.construct_yaml_bool(node)
        if kind == "null":
            return None
        if kind == "timestamp":
            return text
    except (ValueError, OverflowError, TypeError):
        return UNKNOWN
    return UNKNOWN


def to_value(node: Node, budget: Budget, limit: int = VALUE_BUDGET) -> Any:
    """The Python value of a node, or UNKNOWN when it is (or holds) something not statically known.

    Aliases are followed without copying; a value costing more than ``limit`` node visits (an
    alias bomb) or nested deeper than MAX_DEPTH, and a recursive alias, read as UNKNOWN.
    """
    key = id(node)
    if key in budget.values:
        return budget.values[key]
    value = _convert(node, budget, [limit], set(), 0)
    budget.values[key] = value
    return value


def _convert(node: Node, budget: Budget, counter: list[int], active: set[int], depth: int) -> Any:
    counter[0] -= 1
    if counter[0] < 0 or not budget.spend() or depth > MAX_DEPTH or id(node) in active:
        return UNKNOWN
    if isinstance(node, ScalarNode):
        return scalar(node)
    if node.tag not in (STD + "seq", STD + "map"):
        return UNKNOWN
    active.add(id(node))
    try:
        if isinstance(node, SequenceNode):
            out = [_convert(item, budget, counter, active, depth + 1) for item in node.value]
            return UNKNOWN if counter[0] < 0 else out
        if isinstance(node, MappingNode):
            result: dict = {}
            for k, v in flatten(node, budget):
                key = _convert(k, budget, counter, active, depth + 1)
                try:
                    result[key] = _convert(v, budget, counter, active, depth + 1)
                except TypeError:  # an unhashable key
                    return UNKNOWN
            return UNKNOWN if counter[0] < 0 else result
    finally:
        active.discard(id(node))
    return UNKNOWN


def flatten(node: MappingNode, budget: Budget, depth: int = 0,
            seen: set[int] | None = None) -> list[tuple[Node, Node]]:
    """The key/value pairs of a mapping with ``<<`` merge keys applied (explicit keys win).

    Each mapping is merged in once, however often it is referenced (a merge-key bomb stays linear).
    """
    seen = {id(node)} if seen is None else seen
    pairs: list[tuple[Node, Node]] = []
    merged: list[tuple[Node, Node]] = []
    for k, v in node.value:
        if not budget.spend():
            break
        if isinstance(k, ScalarNode) and k.tag == STD + "merge":
            if depth >= MAX_DEPTH:
                continue
            sources = v.value if isinstance(v, SequenceNode) else [v]
            for src in sources:
                if isinstance(src, MappingNode) and id(src) not in seen:
                    seen.add(id(src))
                    merged.extend(flatten(src, budget, depth + 1, seen))
        else:
            pairs.append((k, v))
    if merged:
        explicit = {key_text(k) for k, _ in pairs}
        pairs = [(k, v) for k, v in merged if key_text(k) not in explicit] + pairs
    return pairs


def key_text(node: Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


# --- mappings --------------------------------------------------------------------------------

class Entry(NamedTuple):
    """One pair of a mapping: its key's text, and the key and value nodes."""

    key: str
    key_node: Node
    node: Node


@dataclass
class Map:
    """A mapping node by key (the last of duplicate keys wins, as with ``yaml.safe_load``)."""

    node: MappingNode
    budget: Budget
    entries: dict[str, Entry] = field(default_factory=dict)
    duplicates: list[Entry] = field(default_factory=list)

    @classmethod
    def of(cls, node: Node | None, budget: Budget) -> Map | None:
        if not isinstance(node, MappingNode) or node.tag != STD + "map":
            return None
        m = cls(node, budget)
        for k, v in flatten(node, budget):
            text = key_text(k)
            if text is None:
                continue
            if text in m.entries:
                m.duplicates.append(m.entries[text])
            m.entries[text] = Entry(text, k, v)
        return m

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    def keys(self) -> list[str]:
        return list(self.entries)

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def value(self, key: str, default: Any = None) -> Any:
        """The value at ``key`` (UNKNOWN when not statically known), ``default`` when absent."""
        e = self.entries.get(key)
        return default if e is None else to_value(e.node, self.budget)

    def text(self, key: str) -> str | None:
        """The value at ``key`` when it is a known string."""
        v = self.value(key)
        return v if isinstance(v, str) else None

    def sub(self, key: str) -> Map | None:
        e = self.entries.get(key)
        return None if e is None else Map.of(e.node, self.budget)

    @property
    def span(self) -> Span:
        return span(self.node)


def mappings(node: Node, budget: Budget, max_depth: int = 6) -> Iterator[tuple[tuple[str, ...], MappingNode]]:
    """Every mapping under ``node`` (itself included) with its key path, each visited once."""
    seen: set[int] = set()
    stack: list[tuple[tuple[str, ...], Node, int]] = [((), node, 0)]
    while stack:
        path, n, depth = stack.pop()
        if id(n) in seen or depth > max_depth or not budget.spend():
            continue
        seen.add(id(n))
        if isinstance(n, MappingNode):
            yield path, n
            children = [(path + (key_text(k) or "?",), v) for k, v in n.value]
        elif isinstance(n, SequenceNode):
            children = [(path + (str(i),), v) for i, v in enumerate(n.value)]
        else:
            continue
        stack.extend((p, c, depth + 1) for p, c in reversed(children))


@dataclass
class Doc:
    """One YAML/JSON document of a file (``top`` is its root mapping, if it is one). ``memo`` keeps
    what a dialect's ``detect`` found for its ``sites`` (a walk of the whole document is paid from
    the budget once)."""

    source: SourceFile
    root: Node
    budget: Budget
    top: Map | None = field(init=False, default=None)
    memo: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.top = Map.of(self.root, self.budget)

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def text(self) -> str:
        return self.source.text

    @property
    def lines(self) -> list[str]:
        """The file's lines (without their breaks)."""
        return self.source.lines

    def line(self, n: int) -> str:
        """Line ``n`` (0-based) of the file's text, '' past the end."""
        return self.source.line(n + 1)
