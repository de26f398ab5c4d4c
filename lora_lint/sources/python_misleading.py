"""Python values that are not what they look like (LL013's notes).

* A keyword given the result of a method that changes a container in place and returns None
  (``target_modules=names.append("v_proj")``): peft receives None. Only where the receiver is
  certainly a list, dict or set (its one binding is a literal or a ``list``/``dict`` call).
* A list changed after ``LoraConfig(...)`` took it: ``LoraConfig.__post_init__`` turns a list
  ``target_modules``/``exclude_modules`` into a set (tuners/lora/config.py), so a later
  ``targets.append("v_proj")`` is never seen by peft. Only where the change is a call on the name
  in the same scope, after the ``LoraConfig`` call, and the call is not in a loop. Other fields
  (``modules_to_save``) keep the list itself: a change before ``get_peft_model`` does take
  effect, so their value is unknown.
"""

from __future__ import annotations

from typing import Any

import libcst as cst

from ..model import UNKNOWN

#: Methods that change the container in place and return None, by container type.
NONE_METHODS: dict[type, frozenset[str]] = {
    list: frozenset({"append", "extend", "insert", "remove", "sort", "reverse", "clear"}),
    dict: frozenset({"update", "clear"}),
    set: frozenset({"add", "discard", "update", "remove", "clear", "difference_update",
                    "intersection_update", "symmetric_difference_update"}),
}
#: Methods that change a list, dict or set (the receiver of a later call).
CHANGES = frozenset().union(*NONE_METHODS.values(), {"pop", "setdefault", "popitem"})
#: LoraConfig fields whose list ``__post_init__`` copies into a set.
COPIED = frozenset({"target_modules", "exclude_modules"})


def none_result(node: cst.BaseExpression, receiver: Any) -> str | None:
    """``"list.append"`` when ``node`` calls an in-place method on ``receiver`` (the value its
    receiver evaluates to) that returns None, else None."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
        return None
    method = node.func.attr.value
    kind = type(receiver)
    if kind in NONE_METHODS and method in NONE_METHODS[kind]:
        return f"{kind.__name__}.{method}"
    return None


class Loops(cst.CSTVisitor):
    """The calls that run inside a loop of their own function (or of the module)."""

    def __init__(self) -> None:
        self.depth = [0]
        self.in_loop: set[cst.Call] = set()

    def _frame(self, node: cst.CSTNode) -> None:
        self.depth.append(0)

    def _frame_done(self, original_node: cst.CSTNode) -> None:
        self.depth.pop()

    def _loop(self, node: cst.CSTNode) -> None:
        self.depth[-1] += 1

    def _loop_done(self, original_node: cst.CSTNode) -> None:
        self.depth[-1] -= 1

    visit_FunctionDef = visit_Lambda = visit_ClassDef = _frame
    leave_FunctionDef = leave_Lambda = leave_ClassDef = _frame_done
    visit_For = visit_While = _loop
    leave_For = leave_While = _loop_done

    def visit_Call(self, node: cst.Call) -> None:
        if self.depth[-1]:
            self.in_loop.add(node)


def changes_of(name: str, scope, calls) -> list[tuple[int, cst.Call]]:
    """``(index in calls, call)`` of each ``name.<change>(...)`` in ``scope``."""
    return [(i, c) for i, (c, s) in enumerate(calls)
            if s is scope and isinstance(c.func, cst.Attribute) and isinstance(c.func.value, cst.Name)
            and c.func.value.value == name and c.func.attr.value in CHANGES]


def later_change(key: str, node: cst.BaseExpression, call: cst.Call, scope, calls, loops: set,
                 followed: bool = False) -> tuple[Any, list]:
    """``(value override or None, later changes)`` for keyword ``key`` given the bare name
    ``node``: UNKNOWN when a change of the list may reach peft, the changes peft never sees when
    ``LoraConfig`` copied it first. ``followed``: the value given already follows the changes
    made before the call (the reader's flow), so only those after it count."""
    if not isinstance(node, cst.Name):
        return None, []
    found = changes_of(node.value, scope, calls)
    at = next((i for i, (c, _) in enumerate(calls) if c is call), None)
    if followed and at is not None:
        found = [(i, c) for i, c in found if i > at]
    if not found:
        return None, []
    if at is None or call in loops or any(i < at for i, _ in found) or key not in COPIED:
        return UNKNOWN, []
    return None, [c for _, c in found]
