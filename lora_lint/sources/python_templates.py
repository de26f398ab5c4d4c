"""The chat template a Python training script sets (for LL309): Unsloth's
``get_chat_template(tokenizer, chat_template="llama-3")`` and ``tokenizer.chat_template = "..."``.
Only a file that sets exactly one template, statically known, has one; any other way of setting
it (TRL's ``setup_chat_format``, a computed value, two different templates) leaves it unknown."""

from __future__ import annotations

import libcst as cst

from ..model import Param


class Assigned(cst.CSTVisitor):
    """``<anything>.chat_template = <value>`` statements, with their scope."""

    def __init__(self, scopes) -> None:
        self.scopes = scopes
        self.stack: list = []
        self.found: list[tuple[cst.Assign, object]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        scope = self.scopes.scope_of.get(node)
        if scope is not None:
            self.stack.append(scope)
        if isinstance(node, cst.Assign) and self.stack and any(
                isinstance(t.target, cst.Attribute) and t.target.attr.value == "chat_template" for t in node.targets):
            self.found.append((node, self.stack[-1]))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if original_node in self.scopes.scope_of:
            self.stack.pop()


def chat_template(extractor, calls) -> Param | None:
    """The one chat template the file sets, as a ``chat_template`` context Param, or None."""
    seen: list[Param] = []
    unknown = False
    for call, scope in calls:
        func = call.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
        if name == "setup_chat_format":
            unknown = True
        if name != "get_chat_template":
            continue
        arg = next((a for a in call.args if a.keyword is not None and a.keyword.value == "chat_template"), None)
        if arg is None:
            positional = [a for a in call.args if a.keyword is None and not a.star]
            arg = positional[1] if len(positional) > 1 else None
        if arg is None:  # Unsloth's default is "chatml"
            seen.append(Param("chat_template", "chatml", extractor.span(call)))
            continue
        seen.append(Param("chat_template", extractor.evaluator.eval(arg.value, scope), extractor.span(arg.value)))
    visitor = Assigned(extractor.scopes)
    extractor.walk.replay(visitor)
    for node, scope in visitor.found:
        seen.append(Param("chat_template", extractor.evaluator.eval(node.value, scope), extractor.span(node.value)))
    if unknown or not seen or len({repr(p.value) for p in seen}) != 1 or not isinstance(seen[0].value, str):
        return None
    return seen[0]
