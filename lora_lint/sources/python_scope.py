"""Scopes of a Python file as the evaluator sees them: what each name is bound to, which names are
bound in ways that cannot be followed, the functions and classes defined, and a call's frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst


@dataclass(frozen=True)
class Unpack:
    """``a, b = value``: ``a`` is element ``index`` of ``count``."""

    value: cst.BaseExpression
    index: int
    count: int


@dataclass(frozen=True)
class Enter:
    """``with value as name``."""

    value: cst.BaseExpression


Binding = cst.BaseExpression | Unpack | Enter


@dataclass(eq=False)
class Scope:
    """One scope (the module, a function, a class, a lambda) and its bindings."""

    node: cst.CSTNode
    parent: Scope | None
    is_class: bool = False
    assigned: dict[str, list[Binding]] = field(default_factory=dict)
    poisoned: set[str] = field(default_factory=set)
    #: A function's parameters (also poisoned: their values come from the caller).
    params: dict[str, cst.Param] = field(default_factory=dict)
    #: Functions and classes defined here, by name.
    defs: dict[str, list[cst.FunctionDef | cst.ClassDef]] = field(default_factory=dict)
    #: Names bound by ``import`` statements here, and how many times.
    imported: dict[str, int] = field(default_factory=dict)

    def bind(self, name: str, value: Binding | None) -> None:
        if value is None:
            self.poisoned.add(name)
        else:
            self.assigned.setdefault(name, []).append(value)

    def binds(self, name: str) -> bool:
        return (name in self.assigned or name in self.poisoned or name in self.defs or name in self.params
                or name in self.imported)

    def only_imported(self, name: str) -> bool:
        """``name`` is bound here by one import and nothing else."""
        return (self.imported.get(name) == 1 and name not in self.assigned and name not in self.poisoned
                and name not in self.defs and name not in self.params)


def dotted(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a name or an attribute chain of names, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        left = dotted(node.value)
        return None if left is None else f"{left}.{node.attr.value}"
    return None


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
        self.stack[-1].defs.setdefault(node.name.value, []).append(node)
        self._push(node)
        scope = self.stack[-1]
        ps = node.params
        for p in (*ps.posonly_params, *ps.params, *ps.kwonly_params):
            scope.params[p.name.value] = p
        for p in _params(ps):
            scope.poisoned.add(p)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.stack.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._push(node)
        for p in _params(node.params):
            self.stack[-1].poisoned.add(p)

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self.stack.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.stack[-1].defs.setdefault(node.name.value, []).append(node)
        self._push(node, is_class=True)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.stack.pop()

    # bindings ------------------------------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        scope = self.stack[-1]
        if len(node.targets) == 1:
            target = node.targets[0].target
            if isinstance(target, cst.Name):
                scope.bind(target.value, node.value)
                return
            names = _unpack_names(target)
            if names is not None:
                for i, n in enumerate(names):
                    scope.bind(n, Unpack(node.value, i, len(names)))
                return
        for t in node.targets:
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

    def visit_CompFor(self, node: cst.CompFor) -> None:
        for n in _target_names(node.target):
            self.stack[-1].bind(n, None)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is None:
            return
        target = node.asname.name
        if isinstance(target, cst.Name):
            self.stack[-1].bind(target.value, Enter(node.item))
            return
        for n in _target_names(target):
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
                self.stack[-1].imported[name.value] = self.stack[-1].imported.get(name.value, 0) + 1

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = alias.asname.name if alias.asname else alias.name
            if isinstance(name, cst.Name):
                self.stack[-1].imported[name.value] = self.stack[-1].imported.get(name.value, 0) + 1


def _unpack_names(target: cst.BaseExpression) -> list[str] | None:
    """``a, b`` / ``(a, b)`` / ``[a, b]`` as names; None for anything else (``*rest``, ``x.y``)."""
    if not isinstance(target, (cst.Tuple, cst.List)) or not target.elements:
        return None
    names = []
    for el in target.elements:
        if isinstance(el, cst.StarredElement) or not isinstance(el.value, cst.Name):
            return None
        names.append(el.value.value)
    return names


def _params(params: cst.Parameters) -> list[str]:
    out = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
    if isinstance(params.star_arg, cst.Param):
        out.append(params.star_arg.name.value)
    if params.star_kwarg is not None:
        out.append(params.star_kwarg.name.value)
    return out


@dataclass(eq=False)
class Frame:
    """One call of a function of the file: its parameters bound from the call's arguments."""

    scope: Scope
    args: dict[str, Any]  # parameter -> its ``python_values.Traced`` value
    parent: Frame | None = None


def frame_for(scope: Scope | None, frame: Frame | None) -> Frame | None:
    while frame is not None and frame.scope is not scope:
        frame = frame.parent
    return frame
