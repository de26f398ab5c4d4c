"""YAML and JSON edits on the text itself: a key renamed, a scalar rewritten, a line inserted or
removed, list items dropped. Comments, key order, quoting and layout stay as written; the file is
never re-dumped. Each function returns the edits, or None when the text is not written in a way
the change is certain for (a comment in the way, an escape, a layout not recognised).
"""

from __future__ import annotations

import re

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..model import Edit, Param, Span
from ..model_dependent import ModelDependent
from ..source_file import YAML_BREAK, Kind, SourceFile
from ..sources.yaml_nodes import Budget, flatten, key_text
from . import text_edits
from .text_edits import structure

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_SEPARATOR = re.compile(r"\s*,\s*")
_DASH = re.compile(r"[ \t]*-[ \t]+")
_LINE_TAIL = re.compile(r"[ \t]*(?:#.*)?")


def _start(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class NodeIndex:
    """The mapping entries of a YAML/JSON text by the position of their key and of their value."""

    def __init__(self, doc: SourceFile):
        if doc.kind is Kind.JSON:
            from ..sources.json_nodes import compose
        else:
            from ..sources.yaml_nodes import compose
        self.by_key: dict[tuple[int, int], tuple[MappingNode, Node, Node]] = {}
        self.by_value: dict[tuple[int, int], tuple[MappingNode, Node, Node]] = {}
        seen: set[int] = set()
        stack: list[Node] = list(compose(doc))
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, MappingNode):
                for k, v in node.value:
                    self.by_key.setdefault(_start(k), (node, k, v))
                    self.by_value.setdefault(_start(v), (node, k, v))
                    stack += (k, v)
            elif isinstance(node, SequenceNode):
                stack += node.value

    def keys_of(self, mapping: MappingNode) -> set[str]:
        """Every key of ``mapping``, merge keys (``<<``) applied."""
        return {t for k, _ in flatten(mapping, Budget()) if (t := key_text(k)) is not None}

    def entry(self, p: Param) -> tuple[MappingNode, Node, Node] | None:
        """The entry a param points at (its value, or its key for a key param or empty value)."""
        at = (p.span.line, p.span.col)
        return self.by_value.get(at) or self.by_key.get(at)


def _offset(doc: SourceFile, node: Node, end: bool = False) -> int:
    mark = node.end_mark if end else node.start_mark
    return doc.offset(mark.line + 1, mark.column + 1)


# -- keys and scalars ---------------------------------------------------------------------------

def rename_key(doc: SourceFile, p: Param, old: str, new: str) -> tuple[Edit, ...] | None:
    """``old`` -> ``new`` at the key ``p`` points at, inside its quotes if it is quoted."""
    raw = doc.slice(p.span)
    if raw == old and doc.kind is not Kind.JSON and _PLAIN_KEY.fullmatch(new):
        return (Edit(p.span, new),)
    if len(raw) == len(old) + 2 and raw[0] in "\"'" and raw[-1] == raw[0] and raw[1:-1] == old:
        s = p.span
        if '"' in new or "'" in new or "\\" in new:
            return None
        return (Edit(Span(s.line, s.col + 1, s.end_line, s.end_col - 1), new),)
    return None


def replace_scalar(doc: SourceFile, p: Param, allowed: dict[str, str]) -> tuple[Edit, ...] | None:
    """The scalar ``p`` points at rewritten as ``allowed[raw]`` when written as one of its keys."""
    if p.span.line != p.span.end_line:
        return None
    raw = doc.slice(p.span)
    return (Edit(p.span, allowed[raw]),) if raw in allowed else None


def replace_string(doc: SourceFile, p: Param, value: str) -> tuple[Edit, ...] | None:
    """The scalar ``p`` points at rewritten as ``value``, quoted as it was (or bare)."""
    if p.span.line != p.span.end_line or not isinstance(p.value, str):
        return None
    new = quoted_like(doc.slice(p.span), p.value, value)
    return (Edit(p.span, new),) if new is not None else None


_NUMBER = re.compile(r"[0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")


def replace_number(doc: SourceFile, p: Param, value: str) -> tuple[Edit, ...] | None:
    """The scalar ``p`` points at rewritten as ``value`` when written as a plain number."""
    if p.span.line != p.span.end_line:
        return None
    return (Edit(p.span, value),) if _NUMBER.fullmatch(doc.slice(p.span)) else None


# -- inserting an entry -------------------------------------------------------------------------

def insert_entry(doc: SourceFile, anchor: Param, key: str, value: str) -> tuple[Edit, ...] | None:
    """``key: value`` added to the mapping that holds ``anchor``, right after it: a line of its
    own with the anchor's indentation in a block mapping, inline in a flow mapping or JSON."""
    index = structure(doc, NodeIndex)
    entry = index.entry(anchor) if index is not None else None
    if entry is None:
        return None
    mapping, k, v = entry
    if key in index.keys_of(mapping) or not isinstance(v, ScalarNode):
        return None
    if v.start_mark.line != v.end_mark.line or k.start_mark.line != v.start_mark.line:
        return None
    end = _offset(doc, v, end=True)
    line = k.start_mark.line + 1
    if doc.kind is Kind.JSON:
        return _insert_json(doc, k, end, f'"{key}": {value}')
    if mapping.flow_style:
        return (Edit(doc.span(end, end), f", {key}: {value}"),)
    indent = " " * k.start_mark.column
    if not _LINE_TAIL.fullmatch(doc.text[end:doc.line_end(line)]):
        return None
    if line < len(doc.starts):
        at = doc.starts[line]
        return (Edit(doc.span(at, at), f"{indent}{key}: {value}{doc.newline}"),)
    at = len(doc.text)
    return (Edit(doc.span(at, at), f"{doc.newline}{indent}{key}: {value}"),)


def _insert_json(doc: SourceFile, k: Node, end: int, entry: str) -> tuple[Edit, ...]:
    line = k.start_mark.line + 1
    own_line = not doc.line(line)[:k.start_mark.column].strip()
    rest = doc.text[end:doc.line_end(line)]
    indent = doc.line(line)[:k.start_mark.column]
    if own_line and rest.strip() == "," and line < len(doc.starts):
        at = doc.starts[line]
        return (Edit(doc.span(at, at), f"{indent}{entry},{doc.newline}"),)
    if own_line and not rest.strip() and doc.text[end:].lstrip().startswith("}"):
        return (Edit(doc.span(end, end), f",{doc.newline}{indent}{entry}"),)
    return (Edit(doc.span(end, end), f", {entry}"),)


# -- lists --------------------------------------------------------------------------------------

def list_to_scalar(doc: SourceFile, p: Param) -> tuple[Edit, ...] | None:
    """A one-item list written as that item (``[all-linear]`` -> ``all-linear``)."""
    index = structure(doc, NodeIndex)
    entry = index.entry(p) if index is not None else None
    if entry is None:
        return None
    _, k, seq = entry
    if not isinstance(seq, SequenceNode) or len(seq.value) != 1 or not isinstance(seq.value[0], ScalarNode):
        return None
    item = seq.value[0]
    start, end = _offset(doc, item), _offset(doc, item, end=True)
    raw = doc.text[start:end]
    if seq.flow_style:
        s, e = _offset(doc, seq), _offset(doc, seq, end=True)
        inside = doc.text[s + 1:start] + doc.text[end:e - 1]
        if inside.strip() not in ("", ","):
            return None
        return text_edits.replace(doc, s, e, raw)
    key_end = _offset(doc, k, end=True)
    between = doc.text[key_end:start]
    if not re.fullmatch(rf"[ \t]*:[ \t]*(?:{YAML_BREAK.pattern})\s*-[ \t]+", between):
        return None
    return text_edits.replace(doc, key_end, end, f": {raw}")


def quoted_like(raw: str, value: str, name: str) -> str | None:
    """``name`` written the way ``raw`` (the text of ``value``) is: plain or in the same quotes."""
    if raw == value:
        return name
    if len(raw) >= 2 and raw[0] in "\"'" and raw[-1] == raw[0] and raw[1:-1] == value:
        return raw[0] + name + raw[0]
    return None


def edit_items(doc: SourceFile, p: Param, replace: dict[int, tuple[str, ...]],
               drop: set[int]) -> tuple[Edit, ...] | None:
    """List ``p``'s items replaced (index -> one or more names, quoted like the item) and dropped.

    A block sequence loses the dropped items' lines and gets a line of its own, with the item's
    indentation and dash, for each further name; a flow list, JSON array or comma-joined string
    is rewritten between its first and last item with its own separator."""
    items = p.items
    written = p.value.listed if isinstance(p.value, ModelDependent) else p.value  # the names as written
    if not items or not isinstance(written, (list, tuple)) or len(items) != len(written):
        return None
    keep = [i for i in range(len(items)) if i not in drop]
    if not keep:
        return None
    bounds = [doc.bounds(it.span) for it in items]
    raws = [doc.text[s:e] for s, e in bounds]
    new_raw = list(raws)
    quoted: dict[int, list[str]] = {}
    for i, names in replace.items():
        if not isinstance(items[i].value, str) or not names:
            return None
        quoted[i] = [quoted_like(raws[i], items[i].value, name) for name in names]
        if None in quoted[i]:
            return None
    block = doc.kind is Kind.YAML and all(_own_line(doc, it.span) for it in items)
    seps = {doc.text[bounds[i][1]:bounds[i + 1][0]] for i in range(len(items) - 1)}
    if not block and (len(seps) > 1 or not all(_SEPARATOR.fullmatch(s) for s in seps)):
        return None
    sep = seps.pop() if seps and not block else ", "
    for i, names in quoted.items():
        if block:  # each further name on a line of its own, after the item's own dash
            prefix = doc.line(items[i].span.line)[:items[i].span.col - 1]
            new_raw[i] = ("\n" + prefix).join(names)
        else:
            new_raw[i] = sep.join(names)
    if block:
        edits = [Edit(items[i].span, new_raw[i]) for i in replace if i not in drop]
        for i in sorted(drop):
            line = items[i].span.line
            start = doc.starts[line - 1]
            end = doc.starts[line] if line < len(doc.starts) else len(doc.text)
            if line == len(doc.starts) and line > 1:  # the last line of the file: take the break before it
                start = doc.line_end(line - 1)
            edits.append(Edit(doc.span(start, end), ""))
        return tuple(sorted(edits, key=lambda e: (e.span.line, e.span.col)))
    return text_edits.replace(doc, bounds[0][0], bounds[-1][1], sep.join(new_raw[i] for i in keep))


def _own_line(doc: SourceFile, span: Span) -> bool:
    """An item alone on its line after ``- `` (a block sequence item)."""
    if span.line != span.end_line:
        return False
    text = doc.line(span.line)
    return bool(_DASH.fullmatch(text[:span.col - 1]) and _LINE_TAIL.fullmatch(text[span.end_col - 1:]))
