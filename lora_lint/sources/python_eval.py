"""Static evaluation of Python expressions with libcst: what a LoRA setting's expression evaluates
to, and where its value is written.

Evaluated: literals, constants, arithmetic, comparisons and conditional expressions on known
values, the builtin calls configs write (``dict(q_proj=4)``, ``list(range(4, 8))``, ``int(x)``),
string and dict methods that compute nothing new (``"a,b".split(",")``, ``d.get("r", 16)``),
names bound once (or bound alike on every path, ``a, b = ...`` unpacking included), the functions
and classes of the same file (a call's return with its parameters bound from the call's
arguments; a parameter from the calls the file makes, else its default), and the objects a
script builds its settings from (``python_objects``: argparse and ``HfArgumentParser``
command lines, dataclass/pydantic/attrs instances, YAML/JSON/OmegaConf files of the repository).

A dict or list is believed only where the file does not change it in a way that cannot be
followed (``python_flow``): items set and ``update`` calls in a straight line before the use are
applied, anything else makes it UNKNOWN. Any other expression (another call, an attribute not
known, a value that depends on run-time data) is UNKNOWN, so no rule can fire on it.

The work is bounded, whatever the file: a name's value is computed once for each set of bindings
in effect and each call frame (memo), each file's evaluation may take ``MAX_STEPS`` steps (one
per expression node visited), and no value grows past ``MAX_STRING`` characters, ``MAX_ITEMS``
items or ``MAX_INT_BITS`` bits. Beyond a bound the value is UNKNOWN. (Twenty names each doubling
the one before took a minute without them: 2**20 evaluations of strings up to a million
characters.)
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

import libcst as cst

from ..model import UNKNOWN, Span
from .python_files import ScriptPath, open_file
from .python_flow import Flow, Order, returns_of
from .python_library import library_call
from .python_objects import ClassRef, FunctionRef, ImportedRef, TupleObj, parameter_value
from .python_scope import Binding, Enter, Frame, Scope, ScopeBuilder, Unpack, frame_for
from .python_values import MAX_ITEMS as MAX_ITEMS  # (the evaluator's size bounds, named here too)
from .python_values import MAX_STRING as MAX_STRING
from .python_values import (
    NOTHING,
    Obj,
    Part,
    Traced,
    combine_via,
    elements,
    fits,
    item,
    mapping,
    plain,
    same_key,
)

MAX_DEPTH = 64
MAX_INT_BITS = 4096
#: Expression nodes one file's evaluation may visit (the training scripts of the example and
#: real-user corpora visit at most about 500; 100,000 take under a second).
MAX_STEPS = 100_000
#: A name bound more often than this is not followed.
MAX_BINDINGS = 8
#: Builtin calls evaluated (when the name is not rebound): see ``Evaluator._builtin_call``.
_CALLS = frozenset({"dict", "list", "tuple", "range", "int", "float", "str", "bool", "open", "vars", "getattr"})
#: Methods of a known string that return a new value (``"q,v".split(",")``).
_STR_METHODS = frozenset({"split", "rsplit", "strip", "lstrip", "rstrip", "lower", "upper", "replace",
                          "startswith", "endswith", "join", "removeprefix", "removesuffix"})


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv,
    cst.Modulo: operator.mod,
    cst.Power: operator.pow,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt,
    cst.LessThanEqual: operator.le, cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
    cst.In: lambda a, b: a in b, cst.NotIn: lambda a, b: a not in b,
    cst.Is: lambda a, b: a is b, cst.IsNot: lambda a, b: a is not b,
}
#: Values ``is`` compares reliably (singletons).
_SINGLETONS = (type(None), bool)


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


def _literal(source: str):
    """``ast.literal_eval`` of a string literal, silently: an invalid escape (``"\\i"``) warns
    (a SyntaxWarning on stderr from Python 3.12) about the user's file, not lora-lint's."""
    if "\\" not in source:
        return ast.literal_eval(source)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.literal_eval(source)


def _comparable(v: Any) -> bool:
    return v is not UNKNOWN and not isinstance(v, Obj) and (
        isinstance(v, (str, int, float, bool, type(None))) or isinstance(v, (list, tuple, dict, set))
        and plain(v) == v)


class Evaluator:
    """Evaluates expressions in the scope where they appear.

    ``module`` is the file being read (``python.Extractor``): its scopes, its imports
    (``qualified``), node positions (``span``), its one recorded traversal (``walk``), and the
    reading of other files of the repository (``files``).
    """

    def __init__(self, module: Any):
        self.m = module
        self.scopes: ScopeBuilder = module.scopes
        self._active: set[tuple] = set()
        self._params: dict[tuple[int, str], Traced] = {}
        #: (scope, name, frame, the bindings in effect) -> (the frame, the bindings' value): the
        #: frame is kept so that its ``id`` is not reused while the entry lives
        self._memo: dict[tuple, tuple[Frame | None, Traced]] = {}
        self.steps = MAX_STEPS  # left for this file
        self._cut = False  # the value being computed hit MAX_DEPTH or a cycle: it depends on where it was asked
        self._flow = None
        #: the module's order of execution: a module-level name bound more than once
        self.order = Order(module.module, lambda: module.positions)

    # public --------------------------------------------------------------------------------
    def eval(self, node: cst.BaseExpression, scope: Scope | None) -> Any:
        """The value of ``node`` as rules see it (UNKNOWN where not statically known)."""
        return plain(self.trace(node, scope).value)

    @property
    def exhausted(self) -> bool:
        """The step budget ran out: every evaluation from now on is UNKNOWN."""
        return self.steps < 0

    @property
    def flow(self):
        if self._flow is None:
            self._flow = Flow(self.m)
        return self._flow

    def span(self, node: cst.CSTNode) -> Span:
        return self.m.span(node)

    def trace(self, node: cst.BaseExpression, scope: Scope | None, frame: Frame | None = None,
              depth: int = 0) -> Traced:
        """The value of ``node`` and where it is written (see ``Traced``)."""
        self.steps -= 1
        if self.steps < 0:
            return NOTHING
        if depth > MAX_DEPTH:
            self._cut = True
            return NOTHING
        kind = type(node)
        handler = _HANDLERS.get(kind)
        if handler is None:
            return NOTHING
        return handler(self, node, scope, frame, depth)

    # literals ------------------------------------------------------------------------------
    def _number_literal(self, node, scope, frame, depth) -> Traced:
        try:
            return Traced(ast.literal_eval(node.value))
        except (ValueError, SyntaxError):
            return NOTHING

    def _string(self, node, scope, frame, depth) -> Traced:
        try:
            value = _literal(node.value)
        except (ValueError, SyntaxError, MemoryError):
            return NOTHING
        return Traced(value) if isinstance(value, str) else NOTHING

    def _concat(self, node, scope, frame, depth) -> Traced:
        left = self.trace(node.left, scope, frame, depth + 1)
        right = self.trace(node.right, scope, frame, depth + 1)
        if isinstance(left.value, str) and isinstance(right.value, str) and fits(
                len(left.value) + len(right.value), left.value):
            return Traced(left.value + right.value, via=combine_via(left, right))
        return NOTHING

    def _fstring(self, node: cst.FormattedString, scope, frame, depth) -> Traced:
        out, used = [], []
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                out.append(part.value)
                continue
            if part.conversion is not None or part.format_spec is not None:
                return NOTHING
            t = self.trace(part.expression, scope, frame, depth + 1)
            if not isinstance(t.value, (str, int)) or isinstance(t.value, bool):
                return NOTHING
            out.append(str(t.value))
            used.append(t)
        if not fits(sum(map(len, out)), ""):
            return NOTHING
        text = "".join(out)
        if "{" in text or "}" in text or "\\" in text:  # doubled braces, escapes: not followed
            return NOTHING
        return Traced(text, via=combine_via(*used))

    # names ---------------------------------------------------------------------------------
    def _name(self, node: cst.Name, scope, frame, depth) -> Traced:
        name = node.value
        if name in ("True", "False", "None"):
            return Traced({"True": True, "False": False, "None": None}[name])
        start = scope
        while scope is not None:
            if scope.is_class and scope is not start:
                scope = scope.parent
                continue
            if name in scope.params:
                return self._param(scope, name, frame, depth)
            if name in scope.imported:
                qualified = self.m.imports.names.get(name) if scope.only_imported(name) else None
                return Traced(ImportedRef(qualified)) if qualified else NOTHING
            if name in scope.defs:
                return self._definition(scope, name)
            if name in scope.poisoned:
                return NOTHING
            bindings = scope.assigned.get(name)
            if bindings is not None:
                narrowed = False
                if len(bindings) > 1 and scope is self.scopes.module_scope and start is scope:
                    # a name bound again later (a notebook's later cell): the bindings in effect here
                    by_node = {id(_binding_node(b)): b for b in bindings}
                    values = [_binding_node(b) for b in bindings]
                    effect = self.order.in_effect(values, node)
                    narrowed = effect is not values
                    bindings = [by_node[id(v)] for v in effect]
                return self._bound(node, name, scope, bindings, frame, depth, narrowed)
            scope = scope.parent
        if name == "__file__":
            return Traced(ScriptPath())
        return NOTHING

    def _bound(self, node: cst.Name, name: str, scope: Scope, bindings: list[Binding], frame: Frame | None,
               depth: int, narrowed: bool = False) -> Traced:
        """The value of ``name`` at ``node`` from its ``bindings``: known when they all agree
        (at most ``MAX_BINDINGS``). ``narrowed``: they are the ones in effect at ``node``, all
        before it (``model = prepare(model)`` reads the earlier binding: no cycle)."""
        if len(bindings) > MAX_BINDINGS:
            return NOTHING
        own = frame_for(scope, frame)
        key: tuple = (id(scope), name, id(own))
        if narrowed:  # (the bindings in effect at the use: part of the key)
            key += tuple(id(_binding_node(b)) for b in bindings)
        memo = self._memo.get(key)
        if memo is not None:
            first = memo[1]
        else:
            if key in self._active:
                self._cut = True
                return NOTHING
            self._active.add(key)
            cut, self._cut = self._cut, False
            try:
                values = [self._binding(b, scope, frame, depth + 1) for b in bindings]
            finally:
                self._active.discard(key)
            first = values[0]
            if any(v != first for v in values[1:]):
                first = NOTHING
            if not self._cut:  # (a value cut by the depth bound or a cycle is not the name's own)
                self._memo[key] = (own, first)
            self._cut = self._cut or cut
        if first.value is UNKNOWN:
            return NOTHING
        if _mutable(first.value):
            if len(bindings) != 1:
                return NOTHING
            return self.flow.at_use(self, node, scope, name, bindings[0], first, frame, depth)
        return first

    def _binding(self, b: Binding, scope: Scope, frame: Frame | None, depth: int) -> Traced:
        frame = frame_for(scope, frame)
        if isinstance(b, Unpack):
            whole = self.trace(b.value, scope, frame, depth)
            items = elements(whole)
            if items is None or len(items) != b.count:
                return NOTHING
            return items[b.index]
        if isinstance(b, Enter):
            t = self.trace(b.value, scope, frame, depth)
            return t.value.enter() if isinstance(t.value, Obj) else NOTHING
        return self.trace(b, scope, frame, depth)

    def _definition(self, scope: Scope, name: str) -> Traced:
        defs = scope.defs[name]
        if len(defs) != 1 or name in scope.assigned or name in scope.poisoned or name in scope.imported:
            return NOTHING
        d = defs[0]
        inner = self.scopes.scope_of.get(d)
        if inner is None:
            return NOTHING
        if isinstance(d, cst.ClassDef):
            return Traced(ClassRef(d, inner))
        return Traced(FunctionRef(d, inner))

    # parameters ----------------------------------------------------------------------------
    def _param(self, scope: Scope, name: str, frame: Frame | None, depth: int) -> Traced:
        f = frame_for(scope, frame)
        if f is not None:
            return f.args.get(name, NOTHING)
        key = (id(scope), name)
        if key in self._params:
            return self._params[key]
        if key in self._active:
            return NOTHING
        self._active.add(key)
        try:
            value = parameter_value(self, scope, name, depth)
        finally:
            self._active.discard(key)
        self._params[key] = value
        return value

    def bind_call(self, fn: cst.FunctionDef, fscope: Scope, call: cst.Call, scope: Scope | None,
                  frame: Frame | None, depth: int, only: str | None = None) -> Frame:
        """The frame of ``fn`` called by ``call``: each parameter's argument, its default when the
        call leaves it out, NOTHING when it cannot be told (``*args``, ``**kwargs``). ``only``:
        bind that parameter alone."""
        ps = fn.params
        positional = [*ps.posonly_params, *ps.params]
        args: dict[str, Traced] = {}
        starred = any(a.star for a in call.args)
        given_positional = [a for a in call.args if a.keyword is None and not a.star]
        if len(given_positional) > len(positional) and not isinstance(ps.star_arg, cst.Param):
            return Frame(fscope, {}, frame)
        for p, a in zip(positional, given_positional, strict=False):
            if only is None or p.name.value == only:
                args[p.name.value] = self.trace(a.value, scope, frame, depth + 1)
        for a in call.args:
            if a.keyword is not None and a.keyword.value in fscope.params and (only is None or a.keyword.value == only):
                args[a.keyword.value] = self.trace(a.value, scope, frame, depth + 1)
        for p in (*positional, *ps.kwonly_params):
            n = p.name.value
            if n in args or only is not None and n != only:
                continue
            if starred or p.default is None:
                args[n] = NOTHING
            else:
                args[n] = self.trace(p.default, fscope.parent, None, depth + 1)
        return Frame(fscope, args, frame_for(fscope.parent, frame) if fscope.parent else None)

    def returns(self, fn: cst.FunctionDef, frame: Frame, depth: int) -> Traced:
        """What ``fn`` returns in ``frame``: its return statements agree, else NOTHING."""
        found = returns_of(self.m.walk, fn)
        if found is None or not found:
            return NOTHING
        values = [self.trace(r, frame.scope, frame, depth + 1) for r in found]
        first = values[0]
        return first if all(v == first for v in values[1:]) else NOTHING

    # operators -----------------------------------------------------------------------------
    def _unary(self, node: cst.UnaryOperation, scope, frame, depth) -> Traced:
        t = self.trace(node.expression, scope, frame, depth + 1)
        v = t.value
        if isinstance(node.operator, cst.Minus) and _number(v):
            return Traced(-v, via=t.via)
        if isinstance(node.operator, cst.Plus) and _number(v):
            return Traced(v, via=t.via)
        if isinstance(node.operator, cst.Not) and _comparable(v):
            return Traced(not v, via=t.via)
        return NOTHING

    def _binary(self, node: cst.BinaryOperation, scope, frame, depth) -> Traced:
        a = self.trace(node.left, scope, frame, depth + 1)
        b = self.trace(node.right, scope, frame, depth + 1)
        if isinstance(a.value, Obj) and isinstance(node.operator, cst.Divide):
            return a.value.divide(b)
        if a.value is UNKNOWN or b.value is UNKNOWN:
            return NOTHING
        value = _binop(node.operator, a.value, b.value)
        return NOTHING if value is UNKNOWN else Traced(value, via=combine_via(a, b))

    def _boolean(self, node: cst.BooleanOperation, scope, frame, depth) -> Traced:
        a = self.trace(node.left, scope, frame, depth + 1)
        if not _comparable(a.value):
            return NOTHING
        first = isinstance(node.operator, cst.Or) == bool(a.value)
        return a if first else self.trace(node.right, scope, frame, depth + 1)

    def _compare(self, node: cst.Comparison, scope, frame, depth) -> Traced:
        left = self.trace(node.left, scope, frame, depth + 1)
        used = [left]
        result = True
        for target in node.comparisons:
            right = self.trace(target.comparator, scope, frame, depth + 1)
            used.append(right)
            fn = _COMPARE.get(type(target.operator))
            if fn is None or not _comparable(left.value) or not _comparable(right.value):
                return NOTHING
            if isinstance(target.operator, (cst.Is, cst.IsNot)) and not (
                    isinstance(left.value, _SINGLETONS) and isinstance(right.value, _SINGLETONS)):
                return NOTHING
            try:
                ok = fn(left.value, right.value)
            except TypeError:
                return NOTHING
            result = result and bool(ok)
            left = right
        return Traced(result, via=combine_via(*used))

    def _ifexp(self, node: cst.IfExp, scope, frame, depth) -> Traced:
        test = self.trace(node.test, scope, frame, depth + 1)
        if not _comparable(test.value):
            return NOTHING
        chosen = self.trace(node.body if test.value else node.orelse, scope, frame, depth + 1)
        return chosen.marked(combine_via(test, chosen) if test.via else None)

    # containers ----------------------------------------------------------------------------
    def _sequence(self, node: cst.List | cst.Tuple | cst.Set, scope, frame, depth) -> Traced:
        if not fits(len(node.elements), node.elements):
            return NOTHING
        parts: list[Part] = []
        for el in node.elements:
            if isinstance(el, cst.StarredElement):
                inner = elements(self.trace(el.value, scope, frame, depth + 1))
                if inner is None or not fits(len(parts) + len(inner), parts):
                    return NOTHING
                parts.extend(Part(len(parts), None, t) for t in inner)
                continue
            t = self.trace(el.value, scope, frame, depth + 1)
            if t.span is None:
                t = t.with_origin(self.span(el.value))
            parts.append(Part(len(parts), None, t))
        items = [p.value.value for p in parts]
        if isinstance(node, cst.Tuple):
            return Traced(tuple(items), parts=tuple(parts))
        if isinstance(node, cst.Set):
            if any(plain(v) is UNKNOWN or isinstance(v, Obj) for v in items):
                return NOTHING
            try:
                return Traced(set(items), parts=tuple(parts))
            except TypeError:
                return NOTHING
        return Traced(items, parts=tuple(parts))

    def _dict(self, node: cst.Dict, scope, frame, depth) -> Traced:
        if not fits(len(node.elements), node.elements):
            return NOTHING
        entries: dict[Any, Part] = {}
        for el in node.elements:
            if isinstance(el, cst.StarredDictElement):
                inner = self.trace(el.value, scope, frame, depth + 1)
                if inner.parts is None or not isinstance(inner.value, dict):
                    return NOTHING
                for p in inner.parts:
                    entries[p.key] = p
                continue
            k = self.trace(el.key, scope, frame, depth + 1)
            if k.value is UNKNOWN or isinstance(k.value, Obj):
                return NOTHING
            v = self.trace(el.value, scope, frame, depth + 1)
            if v.span is None:
                v = v.with_origin(self.span(el.value))
            try:
                entries.pop(k.value, None)
                entries[k.value] = Part(k.value, k.span if k.span is not None else self.span(el.key), v)
            except TypeError:
                return NOTHING
        return mapping(tuple(entries.values()))

    # attributes, items ---------------------------------------------------------------------
    def _attribute(self, node: cst.Attribute, scope, frame, depth) -> Traced:
        constant = self.m.attribute_constant(node)
        if constant is not UNKNOWN:
            return Traced(constant)
        owner = self.trace(node.value, scope, frame, depth + 1)
        if isinstance(owner.value, Obj):
            return owner.value.attr(node.attr.value, self)
        return NOTHING

    def _subscript(self, node: cst.Subscript, scope, frame, depth) -> Traced:
        if len(node.slice) != 1:
            return NOTHING
        index = node.slice[0].slice
        owner = self.trace(node.value, scope, frame, depth + 1)
        if isinstance(index, cst.Slice):
            return self._slice(owner, index, scope, frame, depth)
        key = self.trace(index.value, scope, frame, depth + 1)
        return item(owner, key.value, self)

    def _slice(self, owner: Traced, index: cst.Slice, scope, frame, depth) -> Traced:
        """``x[a:b:c]`` of a known list, tuple or tuple of objects."""
        bounds = []
        for part in (index.lower, index.upper, index.step):
            v = None if part is None else self.trace(part, scope, frame, depth + 1).value
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                return NOTHING
            bounds.append(v)
        items = elements(owner)
        if items is None or bounds[2] == 0:
            return NOTHING
        chosen = items[slice(*bounds)]
        if isinstance(owner.value, Obj):
            return Traced(TupleObj(tuple(chosen)))
        values = [t.value for t in chosen]
        parts = tuple(Part(i, None, t) for i, t in enumerate(chosen))
        return Traced(tuple(values) if isinstance(owner.value, tuple) else values, parts=parts)

    # calls ---------------------------------------------------------------------------------
    def _call(self, node: cst.Call, scope, frame, depth) -> Traced:
        name = self.m.qualified(node.func)
        if name is not None:
            return library_call(name, node, scope, frame, self, depth)
        builtin = self.builtin(node.func, scope)
        if builtin is not None:
            return self._builtin_call(builtin, node, scope, frame, depth)
        if isinstance(node.func, cst.Attribute):
            return self._method(node, scope, frame, depth)
        callee = self.trace(node.func, scope, frame, depth + 1)
        if isinstance(callee.value, Obj):
            return callee.value.call(node, scope, frame, self, depth + 1)
        return NOTHING

    def _method(self, node: cst.Call, scope, frame, depth) -> Traced:
        func = node.func
        owner = self.trace(func.value, scope, frame, depth + 1)
        name = func.attr.value
        if isinstance(owner.value, Obj):
            return owner.value.method(name, node, scope, frame, self, depth + 1)
        if isinstance(owner.value, str) and name in _STR_METHODS:
            return self._str_method(owner, name, node, scope, frame, depth)
        if isinstance(owner.value, dict) and name in ("get", "copy", "keys", "values", "items"):
            return self._dict_method(owner, name, node, scope, frame, depth)
        if isinstance(owner.value, list) and name == "copy" and not node.args:
            return owner
        return NOTHING

    def _str_method(self, owner: Traced, name: str, node: cst.Call, scope, frame, depth) -> Traced:
        if any(a.keyword is not None or a.star for a in node.args) or len(node.args) > 2:
            return NOTHING
        args = [self.trace(a.value, scope, frame, depth + 1) for a in node.args]
        values = [a.value for a in args]
        if name == "join":
            if len(values) != 1 or not isinstance(values[0], (list, tuple)) or not all(
                    isinstance(v, str) for v in values[0]):
                return NOTHING
        elif not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            return NOTHING
        if not fits(_str_result_bound(owner.value, name, values), ""):
            return NOTHING  # (a join or a replace may be far longer than its parts: not computed)
        try:
            out = getattr(owner.value, name)(*values)
        except (TypeError, ValueError, OverflowError, MemoryError):
            return NOTHING
        if isinstance(out, (str, list)) and not fits(len(out), out):
            return NOTHING
        return Traced(out, via=combine_via(owner, *args))

    def _dict_method(self, owner: Traced, name: str, node: cst.Call, scope, frame, depth) -> Traced:
        if any(a.keyword is not None or a.star for a in node.args):
            return NOTHING
        if name == "get":
            if not 1 <= len(node.args) <= 2:
                return NOTHING
            key = self.trace(node.args[0].value, scope, frame, depth + 1)
            if owner.parts is None or not _comparable(key.value):
                return NOTHING
            found = next((p.value for p in owner.parts if same_key(p.key, key.value)), None)
            if found is not None:
                return found
            if len(node.args) == 2:
                return self.trace(node.args[1].value, scope, frame, depth + 1)
            return Traced(None)
        if node.args:
            return NOTHING
        if name == "copy":
            return owner
        if owner.parts is None:
            return NOTHING
        if name == "keys":
            return Traced([p.key for p in owner.parts])
        if name == "values":
            return Traced([p.value.value for p in owner.parts], parts=tuple(
                Part(i, None, p.value) for i, p in enumerate(owner.parts)))
        return NOTHING

    def builtin(self, func: cst.BaseExpression, scope: Scope | None) -> str | None:
        """The name of ``func`` when it is one of the builtins below, not rebound anywhere in sight."""
        if not isinstance(func, cst.Name) or func.value not in _CALLS:
            return None
        while scope is not None:
            if scope.binds(func.value):
                return None
            scope = scope.parent
        return func.value

    def _builtin_call(self, name: str, node: cst.Call, scope, frame, depth) -> Traced:
        """``dict(k=v, ...)``, ``range(...)`` (at most ``MAX_ITEMS`` items; peft takes a range for
        layers_to_transform as it is), ``list(...)``/``tuple(...)`` of a known sequence, ``int``/
        ``float``/``str``/``bool`` of a known value, ``open(path)``, ``vars(obj)``,
        ``getattr(obj, "name"[, default])``: the forms configs write. Any other call is UNKNOWN."""
        if name == "dict":
            return self._dict_call(node, scope, frame, depth)
        if any(a.star for a in node.args):
            return NOTHING
        if name == "range":
            return self._range(node, scope, frame, depth)
        if name == "open":
            return open_file(node, scope, frame, self, depth)
        if name == "getattr":
            return self._getattr(node, scope, frame, depth)
        if any(a.keyword is not None for a in node.args) or len(node.args) != 1:
            return NOTHING
        arg = self.trace(node.args[0].value, scope, frame, depth + 1)
        if name == "vars":
            return arg.value.method("__dict__", node, scope, frame, self, depth) if isinstance(
                arg.value, Obj) else NOTHING
        if name in ("int", "float", "str", "bool"):
            return _convert(name, arg)
        items = elements(arg)
        if items is None or any(t.value is UNKNOWN for t in items) or isinstance(arg.value, (dict, set)):
            return NOTHING
        values = [t.value for t in items]
        parts = tuple(Part(i, None, t) for i, t in enumerate(items))
        return Traced(values, parts=parts) if name == "list" else Traced(tuple(values), parts=parts)

    def _dict_call(self, node: cst.Call, scope, frame, depth) -> Traced:
        entries: dict[Any, Part] = {}
        for a in node.args:
            if a.star == "**":
                inner = self.trace(a.value, scope, frame, depth + 1)
                if inner.parts is None or not isinstance(inner.value, dict):
                    return NOTHING
                for p in inner.parts:
                    entries.pop(p.key, None)
                    entries[p.key] = p
            elif a.keyword is None or a.star:
                return NOTHING
            else:
                v = self.trace(a.value, scope, frame, depth + 1)
                if v.span is None:
                    v = v.with_origin(self.span(a.value))
                entries.pop(a.keyword.value, None)
                entries[a.keyword.value] = Part(a.keyword.value, self.span(a.keyword), v)
        return mapping(tuple(entries.values()))

    def _getattr(self, node: cst.Call, scope, frame, depth) -> Traced:
        if not 2 <= len(node.args) <= 3 or any(a.keyword is not None for a in node.args):
            return NOTHING
        owner = self.trace(node.args[0].value, scope, frame, depth + 1)
        name = self.trace(node.args[1].value, scope, frame, depth + 1)
        if not isinstance(owner.value, Obj) or not isinstance(name.value, str):
            return NOTHING
        found = owner.value.attr(name.value, self)
        if found.value is UNKNOWN and len(node.args) == 3 and owner.value.lacks(name.value):
            return self.trace(node.args[2].value, scope, frame, depth + 1)
        return found

    def _range(self, node: cst.Call, scope, frame, depth) -> Traced:
        if not 1 <= len(node.args) <= 3 or any(a.keyword is not None for a in node.args):
            return NOTHING
        bounds = [self.trace(a.value, scope, frame, depth + 1) for a in node.args]
        if not all(isinstance(b.value, int) and not isinstance(b.value, bool) for b in bounds):
            return NOTHING
        try:
            r = range(*[b.value for b in bounds])
            return Traced(r, via=combine_via(*bounds)) if fits(len(r), r) else NOTHING
        except (ValueError, OverflowError):  # a step of 0; more items than an index holds
            return NOTHING


def _str_result_bound(owner: str, name: str, args: list) -> int:
    """The most characters ``owner.name(*args)`` may return (before it is computed)."""
    if name == "join":
        return len(owner) * len(args[0]) + sum(len(v) for v in args[0])
    if name == "replace" and len(args) >= 2 and isinstance(args[1], str):
        return len(owner) + (len(owner) + 1) * len(args[1])
    return len(owner)


def _binding_node(b: Binding) -> cst.CSTNode:
    """The expression a binding evaluates (positions are the value's)."""
    return b.value if isinstance(b, (Unpack, Enter)) else b


def _mutable(value: Any) -> bool:
    return isinstance(value, (list, dict, set)) or isinstance(value, Obj) and value.mutable


def _convert(name: str, arg: Traced) -> Traced:
    """``int(x)``, ``float(x)``, ``str(x)``, ``bool(x)`` of a known value; its origin is kept."""
    v = arg.value
    if v is UNKNOWN or isinstance(v, Obj):
        return NOTHING
    try:
        if name == "int":
            if not isinstance(v, (int, float, str)):
                return NOTHING
            out: Any = int(v)
        elif name == "float":
            if not isinstance(v, (int, float, str)):
                return NOTHING
            out = float(v)
        elif name == "str":
            if not isinstance(v, (str, int, float, bool, type(None))):
                return NOTHING
            out = str(v)
        else:
            if not _comparable(v):
                return NOTHING
            out = bool(v)
    except (ValueError, OverflowError):
        return NOTHING
    return Traced(out, arg.span, arg.path, arg.via)


_HANDLERS: dict[type, Callable[..., Traced]] = {
    cst.Integer: Evaluator._number_literal,
    cst.Float: Evaluator._number_literal,
    cst.SimpleString: Evaluator._string,
    cst.ConcatenatedString: Evaluator._concat,
    cst.FormattedString: Evaluator._fstring,
    cst.Name: Evaluator._name,
    cst.UnaryOperation: Evaluator._unary,
    cst.BinaryOperation: Evaluator._binary,
    cst.BooleanOperation: Evaluator._boolean,
    cst.Comparison: Evaluator._compare,
    cst.IfExp: Evaluator._ifexp,
    cst.List: Evaluator._sequence,
    cst.Tuple: Evaluator._sequence,
    cst.Set: Evaluator._sequence,
    cst.Dict: Evaluator._dict,
    cst.Attribute: Evaluator._attribute,
    cst.Subscript: Evaluator._subscript,
    cst.Call: Evaluator._call,
}
