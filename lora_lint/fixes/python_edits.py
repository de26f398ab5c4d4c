"""Python edits with libcst: the call or list is rebuilt as a node and rendered in place of the
original, and the change narrowed to the characters that differ, so formatting and comments stay
as written.

Every function returns the edits, or None when the change is not certain (the node is not found,
or is not written the simple way). A node is rendered on its own with the indentation of the
block it sits in; the rendering of the original node must give back the file's text exactly, or
the whole module is rendered instead (slower, same result).
"""

from __future__ import annotations

from typing import Any

import libcst as cst

from ..model import Edit, LoraSite, Param, Span
from ..source_file import SourceFile
from . import text_edits


class PyTree:
    """A module's calls and keyword arguments by position."""

    def __init__(self, source: SourceFile):
        from ..sources.python import tree

        self.module, self.positions = tree(source)
        self.calls: dict[Span, cst.Call] = {}
        self.args: dict[tuple[int, int], tuple[cst.Call, int]] = {}
        for node in self.positions:
            if isinstance(node, cst.Call):
                self.calls[self.positions.span(node)] = node
                for i, arg in enumerate(node.args):
                    if arg.keyword is not None:
                        k = self.positions.span(arg.keyword)
                        self.args[(k.line, k.col)] = (node, i)

    def span(self, node: cst.CSTNode) -> Span:
        return self.positions.span(node)

    def arg(self, p: Param) -> tuple[cst.Call, int, cst.Arg] | None:
        """The keyword argument a Python param was read from."""
        found = self.args.get((p.span.line, p.span.col))
        if found is None or p.implicit:
            return None
        call, i = found
        arg = call.args[i]
        return (call, i, arg) if arg.keyword is not None and arg.keyword.value == p.key else None

    def keywords(self, site: LoraSite) -> set[str] | None:
        """The keywords written in the site's call; None when ``**kwargs`` could set any."""
        call = self.calls.get(site.span)
        if call is None or any(a.star == "**" for a in call.args):
            return None
        return {a.keyword.value for a in call.args if a.keyword is not None}

    def code(self, node: cst.CSTNode, indent: str = "") -> str:
        """``node`` rendered as it would be inside a block indented by ``indent``."""
        if not indent:
            return self.module.code_for_node(node)
        from libcst._nodes.internal import CodegenState

        state = CodegenState(default_indent=self.module.default_indent, default_newline=self.module.default_newline)
        state.indent_tokens = [indent]
        node._codegen(state)
        return "".join(state.tokens)

    def swap(self, doc: SourceFile, old: cst.CSTNode, new: cst.CSTNode) -> tuple[Edit, ...]:
        """The edits replacing ``old`` with ``new`` in ``doc``."""
        span = self.span(old)
        start, end = doc.bounds(span)
        original = doc.text[start:end]
        for indent in _indents(doc, span.line):
            try:
                if self.code(old, indent) == original:
                    return text_edits.replace(doc, start, end, self.code(new, indent))
            except Exception:  # libcst's renderer internals changed: render the module instead
                break
        # (against the module's own text: a text with IPython lines was parsed with them masked,
        # the same length, so its positions are the file's and the masked lines never differ)
        base = doc if self.module.code == doc.text else SourceFile(doc.path, self.module.code, doc.kind)
        return text_edits.rewrite(base, self.module.deep_replace(old, new).code)


def _indents(doc: SourceFile, line: int, lookback: int = 40) -> list[str]:
    """Candidate indentations of the block a node on ``line`` sits in: the leading whitespace of
    that line and of the lines above it (a node may start on a continuation line), then none."""
    out: dict[str, None] = {}
    for n in range(line, max(line - lookback, 0), -1):
        text = doc.line(n)
        if text.strip():
            out.setdefault(text[:len(text) - len(text.lstrip())], None)
    out.setdefault("", None)
    return list(out)


# -- values -------------------------------------------------------------------------------------

def string_parts(node: cst.BaseExpression) -> tuple[str, str] | None:
    """``(quote, value)`` of a plain string literal without escapes (``'q_proj'``, ``r"x"``)."""
    if not isinstance(node, cst.SimpleString) or node.prefix.lower() not in ("", "r", "u"):
        return None
    quote = node.quote
    inner = node.value[len(node.prefix) + len(quote):-len(quote)]
    if "\\" in inner or "\n" in inner:
        return None
    return quote[0], inner


def string_literal(quote: str, value: str) -> str:
    return f"{quote}{value}{quote}"


# -- keyword arguments --------------------------------------------------------------------------

def insert_keyword(t: PyTree, doc, site: LoraSite, key: str, value_code: str,
                   after: Param | None = None) -> tuple[Edit, ...] | None:
    """The text with ``key=value_code`` added to the site's call, after ``after`` (or the last
    keyword argument), laid out like its neighbours: on a line of its own in a one-per-line call."""
    call = t.calls.get(site.span)
    if call is None or any(a.keyword is not None and a.keyword.value == key for a in call.args):
        return None
    args = list(call.args)
    index = None
    if after is not None:
        found = t.arg(after)
        if found is not None and found[0] is call:
            index = found[1]
    if index is None:
        keyed = [i for i, a in enumerate(args) if a.keyword is not None]
        if not keyed:
            return None
        index = keyed[-1]
    anchor = args[index]
    new = cst.Arg(value=cst.parse_expression(value_code), keyword=cst.Name(key), equal=anchor.equal)
    if isinstance(anchor.comma, cst.Comma):
        ws = anchor.comma.whitespace_after
        if isinstance(ws, cst.ParenthesizedWhitespace):  # one argument per line
            new = new.with_changes(comma=anchor.comma.with_changes(
                whitespace_after=ws.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=())))
        else:
            gap = ws if isinstance(ws, cst.SimpleWhitespace) and ws.value else cst.SimpleWhitespace(" ")
            new = new.with_changes(comma=anchor.comma)
            anchor = anchor.with_changes(comma=anchor.comma.with_changes(whitespace_after=gap))
    else:  # the last argument, no trailing comma
        after_ws = anchor.whitespace_after_arg
        if isinstance(after_ws, cst.ParenthesizedWhitespace):
            lead = _leading_whitespace(call, index)
            if lead is None:
                return None
            anchor = anchor.with_changes(
                comma=cst.Comma(whitespace_after=lead.with_changes(first_line=after_ws.first_line, empty_lines=())),
                whitespace_after_arg=cst.SimpleWhitespace(""))
            new = new.with_changes(whitespace_after_arg=after_ws.with_changes(first_line=cst.TrailingWhitespace()))
        else:
            anchor = anchor.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
                                         whitespace_after_arg=cst.SimpleWhitespace(""))
            new = new.with_changes(whitespace_after_arg=after_ws)
    args[index] = anchor
    args.insert(index + 1, new)
    return t.swap(doc, call, call.with_changes(args=args))


def _leading_whitespace(call: cst.Call, index: int) -> cst.ParenthesizedWhitespace | None:
    """The line break and indentation that lead to argument ``index``'s line."""
    if index > 0:
        prev = call.args[index - 1].comma
        ws = prev.whitespace_after if isinstance(prev, cst.Comma) else None
    else:
        ws = call.whitespace_before_args
    return ws if isinstance(ws, cst.ParenthesizedWhitespace) else None


def replace_value(t: PyTree, doc, p: Param, value_code: str,
                  literal: tuple[str, ...] | None = None) -> tuple[Edit, ...] | None:
    """The text with the value of keyword ``p`` replaced; when ``literal`` is given, only if the
    value is written as one of those names (``True``/``False``), not computed."""
    found = t.arg(p)
    if found is None:
        return None
    call, _, arg = found
    if literal is not None and not (isinstance(arg.value, cst.Name) and arg.value.value in literal):
        return None
    return t.swap(doc, arg.value, cst.parse_expression(value_code))


def replace_string(t: PyTree, doc, p: Param, value: str) -> tuple[Edit, ...] | None:
    """The value of keyword ``p`` replaced when it is a plain string literal, in its quotes."""
    found = t.arg(p)
    parts = string_parts(found[2].value) if found is not None else None
    if parts is None or parts[1] != p.value:
        return None
    return t.swap(doc, found[2].value, cst.SimpleString(string_literal(parts[0], value)))


def replace_number(t: PyTree, doc, p: Param, value_code: str) -> tuple[Edit, ...] | None:
    """The value of keyword ``p`` replaced when it is written as a number literal."""
    found = t.arg(p)
    if found is None or not isinstance(found[2].value, (cst.Integer, cst.Float)):
        return None
    return t.swap(doc, found[2].value, cst.parse_expression(value_code))


# -- lists --------------------------------------------------------------------------------------

SEQUENCES = (cst.List, cst.Tuple, cst.Set)


def sequence(t: PyTree, p: Param) -> cst.List | cst.Tuple | cst.Set | None:
    found = t.arg(p)
    if found is None:
        return None
    value = found[2].value
    if not isinstance(value, SEQUENCES) or not all(isinstance(e, cst.Element) for e in value.elements):
        return None
    return value


def edit_elements(t: PyTree, doc, p: Param, replace: dict[int, tuple[str, ...]],
                  drop: set[int]) -> tuple[Edit, ...] | None:
    """The text with list ``p``'s string elements replaced (index -> one or more names, in the
    element's own quotes; several go one after the other, on lines of their own in a list written
    one element a line) and dropped; never empties the list. Commas and each kept line's comment
    stay (a comment stays after the last of the names that replace its element)."""
    seq = sequence(t, p)
    if seq is None:
        return None
    elements = list(seq.elements)
    keep = [i for i in range(len(elements)) if i not in drop]
    if not keep or any(not 0 <= i < len(elements) for i in (*replace, *drop)):
        return None
    groups: dict[int, list] = {}
    for i, names in replace.items():
        parts = string_parts(elements[i].value)
        if parts is None or not names:
            return None
        values = [cst.SimpleString(string_literal(parts[0], name)) for name in names]
        sep = _separator(elements, i)
        groups[i] = [elements[i].with_changes(value=v, comma=sep) for v in values[:-1]]
        groups[i].append(elements[i].with_changes(value=values[-1]))
        elements[i] = groups[i][-1]
    out = []
    for i in keep:
        out.extend(groups[i][:-1] if i in groups else ())
        out.append(elements[i])
    rbracket: Any = _closing(seq)
    if keep[-1] != len(elements) - 1:  # the old last element is gone: the new last one takes its ending
        last, old_last = elements[keep[-1]], elements[-1]
        own = last.comma.whitespace_after if isinstance(last.comma, cst.Comma) else None
        comment = own.first_line if isinstance(own, cst.ParenthesizedWhitespace) else None
        if isinstance(old_last.comma, cst.Comma):
            ending = old_last.comma
            if comment is not None and isinstance(ending.whitespace_after, cst.ParenthesizedWhitespace):
                ending = ending.with_changes(whitespace_after=ending.whitespace_after.with_changes(first_line=comment))
            out[-1] = last.with_changes(comma=ending)
        else:
            out[-1] = last.with_changes(comma=cst.MaybeSentinel.DEFAULT)
            if comment is not None and comment.comment is not None and rbracket is not None:
                before = rbracket.whitespace_before
                if isinstance(before, cst.ParenthesizedWhitespace):
                    rbracket = rbracket.with_changes(whitespace_before=before.with_changes(first_line=comment))
                else:
                    rbracket = rbracket.with_changes(whitespace_before=cst.ParenthesizedWhitespace(
                        first_line=comment, indent=True, last_line=cst.SimpleWhitespace("")))
    changes: dict[str, Any] = {"elements": out}
    if rbracket is not None:
        changes[_CLOSING[type(seq)]] = rbracket
    return t.swap(doc, seq, seq.with_changes(**changes))


def _separator(elements: list, i: int) -> cst.Comma:
    """The comma to put after a name inserted before element ``i``: the list's own (a line
    break and its indentation in a list written one element a line), without a comment."""
    for e in (elements[i], *elements[:i][::-1], *elements[i + 1:]):
        comma = e.comma
        if isinstance(comma, cst.Comma):
            after = comma.whitespace_after
            if isinstance(after, cst.ParenthesizedWhitespace):
                after = after.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=())
            return comma.with_changes(whitespace_after=after)
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


_CLOSING = {cst.List: "rbracket", cst.Set: "rbrace", cst.Tuple: "rpar"}


def _closing(seq):
    closing = getattr(seq, _CLOSING[type(seq)])
    if isinstance(closing, list | tuple):  # a tuple's parentheses
        return None
    return closing


def list_to_string(t: PyTree, doc, p: Param) -> tuple[Edit, ...] | None:
    """``["all-linear"]`` -> ``"all-linear"`` (the element's own literal), unless the list holds
    a comment that would be lost."""
    seq = sequence(t, p)
    if seq is None or len(seq.elements) != 1 or isinstance(seq, cst.Set):
        return None
    value = seq.elements[0].value
    if string_parts(value) is None or "#" in t.code(seq).replace(t.code(value), ""):
        return None
    return t.swap(doc, seq, value)


def string_to_list(t: PyTree, doc, p: Param, names: list[str]) -> tuple[Edit, ...] | None:
    """A string literal ``"q_proj,v_proj"`` -> ``["q_proj", "v_proj"]`` in the literal's quotes."""
    found = t.arg(p)
    if found is None:
        return None
    parts = string_parts(found[2].value)
    if parts is None:
        return None
    quote = parts[0]
    return t.swap(doc, found[2].value, cst.parse_expression("[" + ", ".join(string_literal(quote, n) for n in names) + "]"))
