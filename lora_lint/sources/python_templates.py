"""The chat template a Python training script sets (for LL309): Unsloth's
``get_chat_template(tokenizer, chat_template="llama-3")`` and ``tokenizer.chat_template = "..."``.
Only a file that sets exactly one template, statically known, has one; any other way of setting
it (TRL's ``setup_chat_format``, a computed value, two different templates) leaves it unknown."""

from __future__ import annotations

import libcst as cst

from ..model import Param


def assigned(extractor) -> list[tuple[cst.Assign, object]]:
    """``<anything>.chat_template = <value>`` statements, with their scope."""
    return [(node, scope) for node, scope in extractor.assignments if type(node) is cst.Assign and any(
        isinstance(t.target, cst.Attribute) and t.target.attr.value == "chat_template" for t in node.targets)]


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
    for node, scope in assigned(extractor):
        seen.append(Param("chat_template", extractor.evaluator.eval(node.value, scope), extractor.span(node.value)))
    if unknown or not seen or len({repr(p.value) for p in seen}) != 1 or not isinstance(seen[0].value, str):
        return None
    return seen[0]
