"""Static evaluation of Python expressions with libcst: literals, constants, simple arithmetic,
and the builtin calls configs write for literals (``dict(q_proj=4)``, ``list(range(4, 8))``).

Anything else (another call, an attribute we do not know, a function parameter, a name bound
more than once) evaluates to UNKNOWN, so no rule can fire on it.

The work is bounded, whatever the file: a name's value is computed once (memo), each file's
evaluation may take ``MAX_STEPS`` steps (one per expression node visited), and no value grows
past ``MAX_STRING`` characters, ``MAX_ITEMS`` items or ``MAX_INT_BITS`` bits. Beyond a bound
the value is UNKNOWN. (Twenty names each doubling the one before took a minute without them:
2**20 evaluations of strings up to a million characters.)
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from ..model import UNKNOWN
from ..unknown import is_known

MAX_DEPTH = 64
MAX_INT_BITS = 4096
#: Expression nodes one file's evaluation may visit (the real training scripts of the corpus
#: visit at most 30; 100,000 take under a second).
MAX_STEPS = 100_000
#: The longest string and the largest container a value may be.
MAX_STRING = 100_000
MAX_ITEMS = 10_000
#: Builtin calls evaluated (when the name is not rebound): see ``Evaluator._call``.
_CALLS = frozenset({"dict", "list", "tuple", "range"})


@dataclass
class Scope:
    node: cst.CSTNode
    parent: Scope | None
    is_class: bool = False
    assigned: dict[str, list[cst.BaseExpression]] = field(default_factory=dict)
    poisoned: set[str] = field(default_factory=set)

    def bind(self, name: str, value: cst.BaseExpression | None) -> None:
        if value is None:
            self.poisoned.add(name)
        else:
            self.assigned.setdefault(name, []).append(value)


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for el in target.elements for n in _target_names(el.value)]
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return []


class ScopeBuilder(cst.CSTVisitor):
    """Records, per scope, the simple assignments and the names bound in ways we cannot follow."""

    def __init__(self) -> None:
        self.scope_of: dict[cst.CSTNode, Scope] = {}
        self.module_scope: Scope | None = None
        self.stack: list[Scope] = []

    # scopes --------------------------------------------------------------------------------
    def _push(self, node: cst.CSTNode, is_class: bool = False) -> None:
        parent = self.stack[-1] if self.stack else None
        scope = Scope(node, parent, is_class)
        self.scope_of[node] = scope
        self.stack.append(scope)

    def visit_Module(self, node: cst.Module) -> None:
        self._push(node)
        self.module_scope = self.stack[-1]

    def leave_Module(self, node: cst.Module) -> None:
        self.stack.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.stack[-1].poisoned.add(node.name.value)
        self._push(node)
        for p in _params(node.params):
            self.stack[-1].poisoned.add(p)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.stack.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._push(node)
        for p in _params(node.params):
            self.stack[-1].poisoned.add(p)

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self.stack.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.stack[-1].poisoned.add(node.name.value)
        self._push(node, is_class=True)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.stack.pop()

    # bindings ------------------------------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        scope = self.stack[-1]
        for t in node.targets:
            if isinstance(t.target, cst.Name) and len(node.targets) == 1:
                scope.bind(t.target.value, node.value)
            else:
                for n in _target_names(t.target):
                    scope.bind(n, None)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name):
            self.stack[-1].bind(node.target.value, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        for n in _target_names(node.target):
            self.stack[-1].bind(n, None)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        for n in _target_names(node.target):
            self.stack[-1].bind(n, None)

    def visit_For(self, node: cst.For) -> None:
        for n in _target_names(node.target):
            self.stack[-1].bind(n, None)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            for n in _target_names(node.asname.name):
                self.stack[-1].bind(n, None)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            for n in _target_names(node.name.name):
                self.stack[-1].bind(n, None)

    def visit_Global(self, node: cst.Global) -> None:
        for n in node.names:
            self.stack[-1].bind(n.name.value, None)
            if self.module_scope is not None:
                self.module_scope.bind(n.name.value, None)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        for n in node.names:
            self.stack[-1].bind(n.name.value, None)

    def visit_Del(self, node: cst.Del) -> None:
        for n in _target_names(node.target):
            self.stack[-1].bind(n, None)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            name = alias.asname.name if alias.asname else alias.name
            while isinstance(name, cst.Attribute):
                name = name.value
            if isinstance(name, cst.Name):
                self.stack[-1].bind(name.value, None)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = alias.asname.name if alias.asname else alias.name
            if isinstance(name, cst.Name):
                self.stack[-1].bind(name.value, None)


def _params(params: cst.Parameters) -> list[str]:
    out = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
    if isinstance(params.star_arg, cst.Param):
        out.append(params.star_arg.name.value)
    if params.star_kwarg is not None:
        out.append(params.star_kwarg.name.value)
    return out


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv,
    cst.Modulo: operator.mod,
    cst.Power: operator.pow,
}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _binop(op: cst.BaseBinaryOp, a: Any, b: Any) -> Any:
    fn = _BINOPS.get(type(op))
    if fn is None:
        return UNKNOWN
    if _number(a) and _number(b):
        if isinstance(op, cst.Power) and (abs(b) > 64 or abs(a) > 2**64):
            return UNKNOWN
        try:
            out = fn(a, b)
        except (ArithmeticError, ValueError):
            return UNKNOWN
        if isinstance(out, int) and out.bit_length() > MAX_INT_BITS:
            return UNKNOWN
        if isinstance(out, complex):
            return UNKNOWN
        return out
    if isinstance(op, cst.Add) and type(a) is type(b) and isinstance(a, (str, list, tuple)):
        return a + b if fits(len(a) + len(b), a) else UNKNOWN
    return UNKNOWN


def fits(size: int, like: Any) -> bool:
    """A string (``like`` a str) of ``size`` characters, or a container of ``size`` items, is
    within the size budget."""
    return size <= (MAX_STRING if isinstance(like, str) else MAX_ITEMS)


def _literal(source: str):
    """``ast.literal_eval`` of a string literal, silently: an invalid escape (``"\\i"``) warns
    (a SyntaxWarning on stderr from Python 3.12) about the user's file, not lora-lint's."""
    if "\\" not in source:
        return ast.literal_eval(source)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.literal_eval(source)


class Flow:
    """Which of a module-level name's bindings can be in effect at a use in the module's own
    code. The module's statements run once, top to bottom (a script, a notebook's cells): at a use
    outside loops, the last unconditional top-level binding that ends before it and the
    conditional ones after that; a binding after the use is not in effect there. ``positions``
    gives the module's positions (computed only when a name is bound more than once)."""

    def __init__(self, module: cst.Module, positions: Callable[[], Any]):
        self.positions = positions
        #: the values bound by the module's own top-level statements (run once, in order)
        self.top_level = {id(small.value) for stmt in module.body if isinstance(stmt, cst.SimpleStatementLine)
                          for small in stmt.body
                          if isinstance(small, cst.Assign | cst.AnnAssign) and small.value is not None}
        self.module = module
        self._loops: list[cst.CSTNode] | None = None

    def in_effect(self, values: list[cst.BaseExpression], use: cst.CSTNode | None) -> list[cst.BaseExpression]:
        """Of ``values`` (a module-level name's bindings), those that can be in effect at ``use``;
        ``values`` itself when that is not known."""
        if use is None or len(values) < 2:
            return values
        positions = self.positions()
        if use not in positions or any(v not in positions for v in values):
            return values

        def start(node):
            p = positions[node].start
            return p.line, p.column

        def end(node):
            p = positions[node].end
            return p.line, p.column

        at = start(use)
        if self._loops is None:
            self._loops = [n for n in _module_code(self.module) if isinstance(n, cst.For | cst.While)]
        if any(start(loop) <= at < end(loop) for loop in self._loops):
            return values
        before = sorted((v for v in values if end(v) <= at), key=start)
        last = max((i for i, v in enumerate(before) if id(v) in self.top_level), default=None)
        return values if last is None else before[last:]


def _module_code(module: cst.Module):
    """The statements the module itself runs (not function or class bodies), nested ones too."""
    todo = list(module.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, cst.FunctionDef | cst.ClassDef):
            continue
        body = getattr(node, "body", None)
        if isinstance(body, cst.BaseSuite):
            todo.extend(body.body)
        for extra in ("orelse", "finalbody"):
            part = getattr(node, extra, None)
            if part is not None and isinstance(getattr(part, "body", None), cst.BaseSuite):
                todo.extend(part.body.body)
        for handler in getattr(node, "handlers", ()) or ():
            todo.extend(handler.body.body)


class Evaluator:
    """Evaluates expressions in the scope where they appear."""

    def __init__(self, scopes: ScopeBuilder, attributes: Callable[[cst.BaseExpression], Any],
                 flow: Flow | None = None):
        self.scopes = scopes
        self.attributes = attributes  # resolves known attributes (TaskType.CAUSAL_LM)
        self.flow = flow  # the module's order of execution (a name bound more than once)
        self._active: set[tuple] = set()
        self._memo: dict[tuple, Any] = {}  # (scope, name[, the bindings in effect]) -> value
        self.steps = MAX_STEPS  # left for this file
        self._cut = False  # the value being computed hit MAX_DEPTH: it depends on where it was asked

    @property
    def exhausted(self) -> bool:
        """The step budget ran out: every evaluation from now on is UNKNOWN."""
        return self.steps < 0

    def lookup(self, name: str, scope: Scope | None, depth: int, use: cst.CSTNode | None = None) -> Any:
        start = scope
        while scope is not None:
            if scope.is_class and scope is not start:
                scope = scope.parent
                continue
            if name in scope.poisoned:
                return UNKNOWN
            values = scope.assigned.get(name)
            if values is not None:
                if (self.flow is not None and len(values) > 1 and scope is self.scopes.module_scope
                        and start is scope):
                    narrowed = self.flow.in_effect(values, use)
                    if narrowed is not values:  # (they end before the use: no cycle)
                        values = narrowed
                        if len(values) == 1:
                            return self.eval(values[0], scope, depth + 1)
                key: tuple = (id(scope), name)
                if values is not scope.assigned[name]:  # (narrowed to the bindings in effect at ``use``)
                    key += tuple(id(v) for v in values)
                if key in self._memo:
                    return self._memo[key]
                if key in self._active:
                    return UNKNOWN
                self._active.add(key)
                cut, self._cut = self._cut, False
                try:
                    # a name bound more than once (a notebook that sets it again in a later cell)
                    # is known when every binding gives the same value, whichever ran last
                    found = [self.eval(v, scope, depth + 1) for v in values[:8]]
                finally:
                    self._active.discard(key)
                first = found[0]
                if len(values) > 8 or not is_known(first) or any(
                        type(v) is not type(first) or v != first for v in found[1:]):
                    value = UNKNOWN if len(values) > 1 else first
                else:
                    value = first
                if not self._cut:
                    self._memo[key] = value
                self._cut = self._cut or cut
                return value
            scope = scope.parent
        return UNKNOWN

    def eval(self, node: cst.BaseExpression, scope: Scope | None, depth: int = 0) -> Any:
        self.steps -= 1
        if self.steps < 0:
            return UNKNOWN
        if depth > MAX_DEPTH:
            self._cut = True
            return UNKNOWN
        if isinstance(node, cst.Integer | cst.Float):
            try:
                return ast.literal_eval(node.value)
            except (ValueError, SyntaxError):
                return UNKNOWN
        if isinstance(node, cst.SimpleString):
            try:
                value = _literal(node.value)
            except (ValueError, SyntaxError, MemoryError):
                return UNKNOWN
            return value if isinstance(value, str) else UNKNOWN
        if isinstance(node, cst.ConcatenatedString):
            left = self.eval(node.left, scope, depth + 1)
            right = self.eval(node.right, scope, depth + 1)
            if isinstance(left, str) and isinstance(right, str) and fits(len(left) + len(right), left):
                return left + right
            return UNKNOWN
        if isinstance(node, cst.Name):
            if node.value in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.value]
            return self.lookup(node.value, scope, depth, node)
        if isinstance(node, cst.UnaryOperation):
            v = self.eval(node.expression, scope, depth + 1)
            if isinstance(node.operator, cst.Minus) and _number(v):
                return -v
            if isinstance(node.operator, cst.Plus) and _number(v):
                return v
            if isinstance(node.operator, cst.Not) and v is not UNKNOWN:
                return not v
            return UNKNOWN
        if isinstance(node, cst.BinaryOperation):
            a = self.eval(node.left, scope, depth + 1)
            b = self.eval(node.right, scope, depth + 1)
            if a is UNKNOWN or b is UNKNOWN:
                return UNKNOWN
            return _binop(node.operator, a, b)
        if isinstance(node, cst.List | cst.Tuple | cst.Set):
            if not fits(len(node.elements), node.elements):
                return UNKNOWN
            items = []
            for el in node.elements:
                if isinstance(el, cst.StarredElement):
                    return UNKNOWN
                items.append(self.eval(el.value, scope, depth + 1))
            if isinstance(node, cst.Tuple):
                return tuple(items)
            if isinstance(node, cst.Set):
                return UNKNOWN if any(v is UNKNOWN for v in items) else _as_set(items)
            return items
        if isinstance(node, cst.Dict):
            if not fits(len(node.elements), node.elements):
                return UNKNOWN
            out: dict = {}
            for el in node.elements:
                if not isinstance(el, cst.DictElement):
                    return UNKNOWN
                k = self.eval(el.key, scope, depth + 1)
                if k is UNKNOWN:
                    return UNKNOWN
                try:
                    out[k] = self.eval(el.value, scope, depth + 1)
                except TypeError:
                    return UNKNOWN
            return out
        if isinstance(node, cst.Attribute):
            return self.attributes(node)
        if isinstance(node, cst.Call):
            return self._call(node, scope, depth)
        return UNKNOWN

    def _builtin(self, func: cst.BaseExpression, scope: Scope | None) -> str | None:
        """The name of ``func`` when it is one of the builtins below, not rebound anywhere in sight."""
        if not isinstance(func, cst.Name) or func.value not in _CALLS:
            return None
        while scope is not None:
            if func.value in scope.poisoned or func.value in scope.assigned:
                return None
            scope = scope.parent
        return func.value

    def _call(self, node: cst.Call, scope: Scope | None, depth: int) -> Any:
        """``dict(k=v, ...)``, ``range(...)`` (at most ``MAX_ITEMS`` items; peft takes a range for
        layers_to_transform as it is), ``list(...)``/``tuple(...)`` of a known sequence: the forms
        configs write for rank_pattern and layers_to_transform. Any other call is UNKNOWN."""
        name = self._builtin(node.func, scope)
        if name is None or any(a.star for a in node.args):
            return UNKNOWN
        if name == "dict":
            if any(a.keyword is None for a in node.args):
                return UNKNOWN
            return {a.keyword.value: self.eval(a.value, scope, depth + 1) for a in node.args}
        if name == "range":
            return self._range(node, scope, depth)
        if any(a.keyword is not None for a in node.args) or len(node.args) != 1:
            return UNKNOWN
        value = self.eval(node.args[0].value, scope, depth + 1)
        if not isinstance(value, (list, tuple, range)) or any(v is UNKNOWN for v in value):
            return UNKNOWN
        return list(value) if name == "list" else tuple(value)

    def _range(self, node: cst.Call, scope: Scope | None, depth: int) -> Any:
        if not 1 <= len(node.args) <= 3 or any(a.keyword is not None or a.star for a in node.args):
            return UNKNOWN
        bounds = [self.eval(a.value, scope, depth + 1) for a in node.args]
        if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
            return UNKNOWN
        try:
            r = range(*bounds)
            return r if fits(len(r), r) else UNKNOWN
        except (ValueError, OverflowError):  # a step of 0; more items than an index holds
            return UNKNOWN


def _as_set(items: list) -> Any:
    try:
        return set(items)
    except TypeError:
        return UNKNOWN
