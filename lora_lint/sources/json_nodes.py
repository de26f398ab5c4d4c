"""JSON text -> PyYAML nodes with exact positions.

JSON is read with JSON's own rules (``\\/`` escapes, tabs, ``1e-4`` as a number), which PyYAML's
YAML 1.1 reader does not all accept, and produces the same node types as ``yaml_nodes.compose``
so every dialect reads both. Nesting deeper than ``MAX_NESTING`` is refused (no recursion limit
can be hit).
"""

from __future__ import annotations

import json
import re

from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..model import Span
from ..source_file import SourceFile
from .yaml_nodes import MAX_NODES, STD, ParseError, TooLarge

MAX_NESTING = 200
_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WORDS = (("true", "bool", "true"), ("false", "bool", "false"), ("null", "null", "null"),
          ("NaN", "float", ".nan"), ("Infinity", "float", ".inf"), ("-Infinity", "float", "-.inf"))
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')


class _Parser:
    def __init__(self, source: SourceFile):
        self.source = source
        self.text = source.text
        self.i = 0
        self.nodes = 0

    def mark(self, index: int) -> Mark:
        line, col = self.source.position(index)
        return Mark("<json>", index, line - 1, col - 1, None, None)

    def fail(self, message: str, index: int | None = None):
        m = self.mark(self.i if index is None else index)
        raise ParseError(f"invalid JSON: {message}", Span.point(m.line + 1, m.column + 1))

    def ws(self) -> None:
        self.i = _WS.match(self.text, self.i).end()

    def parse(self) -> Node:
        self.ws()
        node = self.value(0)
        self.ws()
        if self.i != len(self.text):
            self.fail("extra data after the document")
        return node

    def value(self, depth: int) -> Node:
        if depth > MAX_NESTING:
            self.fail("nested too deeply")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise TooLarge("JSON")
        t, i = self.text, self.i
        c = t[i : i + 1]
        if c == "{":
            return self.obj(depth)
        if c == "[":
            return self.arr(depth)
        if c == '"':
            return self.string()
        for word, tag, value in _WORDS:  # JSON's, and the NaN/Infinity Python's json reads and writes
            if t.startswith(word, i):
                self.i = i + len(word)
                return ScalarNode(STD + tag, value, self.mark(i), self.mark(self.i), None)
        m = _NUMBER.match(t, i)
        if m and m.end() > i:
            self.i = m.end()
            tag = "float" if (m.group(1) or m.group(2)) else "int"
            return ScalarNode(STD + tag, m.group(0), self.mark(i), self.mark(self.i), None)
        self.fail("expected a value" if c else "unexpected end of file")

    def string(self) -> ScalarNode:
        i = self.i
        m = _STRING.match(self.text, i)
        if not m:
            self.fail("bad string")
        self.i = m.end()
        try:
            value = json.loads(m.group(0))
        except ValueError:
            self.fail("bad string", i)
        return ScalarNode(STD + "str", value, self.mark(i), self.mark(self.i), '"')

    def obj(self, depth: int) -> MappingNode:
        start = self.i
        self.i += 1
        pairs: list[tuple[Node, Node]] = []
        self.ws()
        if self.text.startswith("}", self.i):
            self.i += 1
            return MappingNode(STD + "map", pairs, self.mark(start), self.mark(self.i), True)
        while True:
            self.ws()
            if not self.text.startswith('"', self.i):
                self.fail("expected a string key")
            key = self.string()
            self.ws()
            if not self.text.startswith(":", self.i):
                self.fail("expected ':'")
            self.i += 1
            self.ws()
            pairs.append((key, self.value(depth + 1)))
            self.ws()
            c = self.text[self.i : self.i + 1]
            self.i += 1
            if c == "}":
                return MappingNode(STD + "map", pairs, self.mark(start), self.mark(self.i), True)
            if c != ",":
                self.fail("expected ',' or '}'", self.i - 1)

    def arr(self, depth: int) -> SequenceNode:
        start = self.i
        self.i += 1
        items: list[Node] = []
        self.ws()
        if self.text.startswith("]", self.i):
            self.i += 1
            return SequenceNode(STD + "seq", items, self.mark(start), self.mark(self.i), True)
        while True:
            self.ws()
            items.append(self.value(depth + 1))
            self.ws()
            c = self.text[self.i : self.i + 1]
            self.i += 1
            if c == "]":
                return SequenceNode(STD + "seq", items, self.mark(start), self.mark(self.i), True)
            if c != ",":
                self.fail("expected ',' or ']'", self.i - 1)


def compose(source: SourceFile) -> list[Node]:
    """A JSON file as one document node. Raises ``ParseError``."""
    if not source.text.strip():
        return []
    return [_Parser(source).parse()]
