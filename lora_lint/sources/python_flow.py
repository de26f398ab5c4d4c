"""Where a file uses a name, and whether a dict or list it holds is still what it was bound to.

A container bound once (``cfg = {...}``, ``cfg = yaml.safe_load(f)``) is believed at a use only
when every other use of it in the file can be followed:

* reads (``cfg["r"]``, ``cfg.get("r")``, ``LoraConfig(**cfg)``, ``print(cfg)``, a comparison...),
  and uses after the one being evaluated, count for nothing;
* a change in a straight line between the binding and the use (a statement of the same block,
  ``with`` bodies included: ``cfg["r"] = 8``, ``cfg.update(r=8)``, ``del cfg["r"]``,
  ``targets.append("v_proj")``) is applied;
* anything else before the use (a change inside an ``if`` or a loop, the container handed to a
  function that may change it, an alias ``other = cfg`` that is changed) makes it unknown.

A name handed to a function of the same file is followed into that function: only reading
its parameter there counts as a read. Also here: the return statements of a function, and every
use of a name (``loads``), which the evaluator's parameter binding asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libcst as cst

from ..model import UNKNOWN
from .python_objects import ConfigObj, FunctionRef, ImportedRef
from .python_scope import Binding, Enter, Frame, Scope, Unpack
from .python_values import NOTHING, Evaluating, Obj, Part, Traced, elements, mapping

#: Methods that read a container (or an object) without changing it.
READ_METHODS = frozenset({
    "get", "keys", "values", "items", "copy", "index", "count", "split", "strip", "lower", "upper",
    "replace", "startswith", "endswith", "format", "join", "to_dict", "to_container", "model_dump", "dict",
    "asdict", "__getitem__", "parse_args", "parse_known_args", "parse_args_into_dataclasses",
    "print_help", "format_help", "rsplit", "lstrip", "rstrip",
})
#: Methods that change a container in a way ``_apply`` replays (on the name itself, as a statement).
REPLAYED = frozenset({"update", "pop", "setdefault", "clear", "append", "extend", "insert", "remove"})
#: Calls that only read their arguments.
PURE_CALLS = frozenset({
    "print", "len", "str", "repr", "sorted", "list", "tuple", "set", "frozenset", "dict", "isinstance", "type",
    "id", "bool", "int", "float", "any", "all", "enumerate", "zip", "min", "max", "sum", "iter", "hash",
    "format", "reversed", "json.dumps", "json.dump", "pprint.pprint", "copy.deepcopy", "copy.copy",
    "yaml.dump", "yaml.safe_dump", "omegaconf.OmegaConf.to_yaml", "omegaconf.OmegaConf.save",
    "logging.info", "logging.debug", "logging.warning", "logging.error",
})
#: Methods of loggers (``logger.info(cfg)``) that only read their arguments.
LOG_METHODS = frozenset({"info", "debug", "warning", "warn", "error", "critical", "exception", "log"})
#: Libraries whose constructors and functions copy the settings they are given.
READING_LIBRARIES = ("peft.",)


@dataclass(frozen=True)
class Use:
    """How one occurrence of a name is used. ``kind``: "read", "change" (one ``_apply`` replays:
    ``node`` is its statement), or "escape" (a change or alias that cannot be followed).
    ``call``: the call it is an argument of (which runs after all its arguments are evaluated)."""

    kind: str
    node: cst.CSTNode
    call: cst.Call | None = None


class Flow:
    """The uses of names in one file."""

    def __init__(self, module: Any) -> None:
        self.m = module
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self._loads: dict[str, list[tuple[cst.Name, Scope]]] = {}
        self._stores: list[cst.CSTNode] = []  # nodes that may set attributes (``stored``)
        self._index()
        self._param_reads: dict[tuple[int, str], bool] = {}
        self._stored: set[str] | None = None
        self._following: set[tuple[int, str]] = set()

    # the index -----------------------------------------------------------------------------
    def _index(self) -> None:
        parents = self.parents
        not_loads: set[int] = set()
        loads: list[tuple[cst.Name, Scope]] = []
        stack: list[cst.CSTNode] = []
        scopes: list[Scope] = []
        scope_of = self.m.scopes.scope_of
        events = self.m.walk.events
        i, n = 0, len(events)
        name_type, marks = cst.Name, _NOT_LOADS
        stores = self._stores
        while i < n:
            node, end = events[i]
            i += 1
            if end < 0:
                stack.pop()
                if node in scope_of:
                    scopes.pop()
                continue
            if stack:
                parents[node] = stack[-1]
            stack.append(node)
            kind = type(node)
            if kind is name_type:
                if id(node) not in not_loads and scopes:
                    loads.append((node, scopes[-1]))
                continue
            scope = scope_of.get(node)
            if scope is not None:
                scopes.append(scope)
            mark = marks.get(kind)
            if mark is not None:
                mark(node, not_loads)
            if kind in _STORE_KINDS and _may_store(node):
                stores.append(node)
        for name, scope in loads:
            self._loads.setdefault(name.value, []).append((name, scope))

    def stored(self, attribute: str) -> bool:
        """The file assigns ``attribute`` on some object (``args.lora_r = 16``, ``setattr(x, "lora_r",
        v)``), or assigns attributes it does not name (``setattr(x, name, v)``, ``x.__dict__``)."""
        if self._stored is None:
            self._stored = self._attribute_stores()
        return attribute in self._stored or "*" in self._stored

    def _attribute_stores(self) -> set[str]:
        out: set[str] = set()
        for node in self._stores:
            if isinstance(node, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.Del)):
                for t in _target_list(node.target):
                    if isinstance(t, cst.Attribute):
                        out.add(t.attr.value)
            elif isinstance(node, cst.Attribute):  # ``x.__dict__``
                out.add("*")
            elif isinstance(node.func, cst.Name):  # ``setattr(x, "name", v)``
                arg = node.args[1].value if len(node.args) > 1 else None
                if isinstance(arg, cst.SimpleString) and arg.value[0] in "'\"" and arg.value[-1] == arg.value[0]:
                    out.add(arg.value.strip("'\""))
                else:
                    out.add("*")
            else:  # ``vars(x).update(...)``
                out.add("*")
        return out

    def loads(self, name: str) -> list[tuple[cst.Name, Scope]]:
        """Every read of ``name`` in the file, with the scope it is read in."""
        return self._loads.get(name, [])

    def refs(self, name: str, scope: Scope) -> list[cst.Name]:
        """The reads of ``name`` that mean the binding of ``name`` in ``scope``."""
        return [n for n, s in self.loads(name) if resolve(name, s) is scope]

    # uses ----------------------------------------------------------------------------------
    def uses(self, ev: Evaluating, name: str, scope: Scope, skip: cst.CSTNode | None = None,
             value: Traced | None = None) -> list[Use]:
        """How each read of ``name`` (bound in ``scope``) uses it, ``skip`` left out. ``value``:
        what it holds, when known: an item of it that is a number or a string may go anywhere."""
        return [self.classify(ev, ref, value) for ref in self.refs(name, scope) if ref is not skip]

    def classify(self, ev: Evaluating, ref: cst.Name, value: Traced | None = None) -> Use:
        parents = self.parents
        top: cst.CSTNode = ref
        keys: list[Any] | None = []
        while True:
            par = parents.get(top)
            if isinstance(par, cst.Attribute) and par.value is top:
                if keys is not None:
                    keys.append(par.attr.value)
            elif isinstance(par, cst.Subscript) and par.value is top:
                if keys is not None:
                    keys.append(_literal_key(par))
                    if keys[-1] is UNKNOWN:
                        keys = None
            else:
                break
            top = par
        chain = len(keys) if keys is not None else 1
        sub = _lookup(value, keys) if value is not None and keys is not None else None
        kind = self._kind(ev, top, chain, sub)
        par = parents.get(top)
        if kind == "escape" and chain and _immutable(sub) and not _is_target(par, top):
            kind = "read"  # a number or a string read out of it
        call = parents.get(par) if isinstance(par, cst.Arg) and par.value is top else None
        return Use(kind, self.statement(top), call if isinstance(call, cst.Call) else None)

    def _kind(self, ev: Evaluating, top: cst.CSTNode, chain: int, sub: Traced | None) -> str:
        parents = self.parents
        par = parents.get(top)
        if _is_target(par, top):
            if chain == 1 and isinstance(top, cst.Subscript) and isinstance(par, (cst.AssignTarget, cst.Del)) and (
                    not isinstance(par, cst.AssignTarget) or len(parents[par].targets) == 1):
                return "change"
            return "escape"
        if isinstance(par, cst.Call) and par.func is top and isinstance(top, cst.Attribute):
            method = top.attr.value
            if method in READ_METHODS:
                return "read"
            if method in REPLAYED and chain == 1 and isinstance(parents.get(par), cst.Expr):
                return "change"
            return "escape"
        if isinstance(par, cst.Arg) and par.value is top:
            return self._argument(ev, par, sub)
        if isinstance(par, (cst.Element, cst.StarredElement, cst.DictElement, cst.StarredDictElement, cst.Return,
                            cst.Yield, cst.Lambda, cst.NamedExpr)) and chain == 0:
            return "escape"
        if isinstance(par, (cst.Assign, cst.AnnAssign)) and (par.value is top):
            return self._alias(ev, par, sub)
        if isinstance(par, cst.WithItem) and par.item is top:
            return "escape"
        return "read"

    def _argument(self, ev: Evaluating, arg: cst.Arg, passed: Traced | None) -> str:
        call = self.parents.get(arg)
        if arg.star or not isinstance(call, cst.Call):
            return "read"  # ``**cfg`` and ``*items`` hand over a copy
        name = self.m.qualified(call.func)
        if name is not None:
            return "read" if name in PURE_CALLS or name.startswith(READING_LIBRARIES) else "escape"
        func = call.func
        if isinstance(func, cst.Name) and func.value in PURE_CALLS:
            return "read"
        if isinstance(func, cst.Attribute) and func.attr.value in LOG_METHODS and isinstance(func.value, cst.Name) \
                and "log" in func.value.value.lower():
            return "read"
        if isinstance(func, cst.Name):
            return self._into_function(ev, func, call, arg, passed)
        return "escape"

    def _into_function(self, ev: Evaluating, func: cst.Name, call: cst.Call, arg: cst.Arg,
                       passed: Traced | None) -> str:
        """A name handed to a function of the file: a read when the function only reads it."""
        scope = self.scope_of(func)
        target = ev.trace(func, scope)
        if not isinstance(target.value, FunctionRef):
            return "escape"
        fn, fscope = target.value.node, target.value.scope
        param = _parameter_for(fn, call, arg)
        if param is None:
            return "escape"
        key = (id(fscope), param)
        if key in self._param_reads:
            if self._param_reads[key] or passed is None or key in self._following:
                return "read" if self._param_reads[key] else "escape"
        else:
            self._param_reads[key] = True  # a recursive call reads it as the outer call does
            self._param_reads[key] = all(u.kind == "read" for u in self.uses(ev, param, fscope))
            if self._param_reads[key] or passed is None:
                return "read" if self._param_reads[key] else "escape"
        return self._only_read(ev, param, fscope, passed, key)

    def _alias(self, ev: Evaluating, assign: cst.Assign | cst.AnnAssign, sub: Traced | None) -> str:
        """``other = cfg`` or ``lora = cfg["lora"]``: a read when ``other`` is only read."""
        targets = assign.targets if isinstance(assign, cst.Assign) else [assign]
        if len(targets) != 1 or not isinstance(targets[0].target, cst.Name):
            return "escape"
        alias = targets[0].target.value
        scope = self.scope_of(targets[0].target)
        if scope is None or len(scope.assigned.get(alias, ())) != 1 or alias in scope.poisoned:
            return "escape"
        key = (id(scope), alias)
        if key in self._following:
            return "read"
        return self._only_read(ev, alias, scope, sub, key)

    def _only_read(self, ev: Evaluating, name: str, scope: Scope, value: Traced | None, key: tuple) -> str:
        """``read`` when every use of ``name`` in ``scope``, holding ``value``, only reads it; ``key``
        is followed meanwhile, so a use that comes back to it counts as a read."""
        self._following.add(key)
        try:
            ok = all(u.kind == "read" for u in self.uses(ev, name, scope, value=value))
        finally:
            self._following.discard(key)
        return "read" if ok else "escape"

    def scope_of(self, node: cst.CSTNode) -> Scope | None:
        scope_of = self.m.scopes.scope_of
        cur = self.parents.get(node)
        while cur is not None:
            s = scope_of.get(cur)
            if s is not None:
                return s
            cur = self.parents.get(cur)
        return None

    def _argument_of(self, node: cst.CSTNode, call: cst.Call) -> bool:
        """``node`` is (inside) an argument of ``call``, not inside a call nested in it."""
        cur = node
        while cur is not None and cur is not call:
            par = self.parents.get(cur)
            if isinstance(par, cst.Call) and par is not call and par.func is not cur:
                return False
            cur = par
        return cur is call

    def statement(self, node: cst.CSTNode) -> cst.CSTNode:
        """The statement ``node`` is part of (a small statement, or a compound one's header)."""
        cur = node
        while cur is not None and not isinstance(cur, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
            cur = self.parents.get(cur)
        return cur if cur is not None else node

    # positions -----------------------------------------------------------------------------
    def block_of(self, stmt: cst.CSTNode) -> cst.CSTNode | None:
        """The block a statement runs in, ``with`` and ``try`` bodies seen through."""
        cur = stmt
        while cur is not None:
            par = self.parents.get(cur)
            if isinstance(par, (cst.Module, cst.IndentedBlock)):
                grand = self.parents.get(par)
                if isinstance(grand, (cst.With, cst.Try)) and grand.body is par:
                    cur = grand
                    continue
                return par
            cur = par
        return None

    def position(self, block: cst.CSTNode, node: cst.CSTNode) -> tuple[tuple[int, ...], bool] | None:
        """Where ``node`` runs in ``block``: the order of the statement of ``block`` it is in
        (``with`` and ``try`` bodies seen through: what runs in them runs in order; a ``try``'s
        handlers and ``finally`` after its body), and whether it is that statement itself rather
        than inside a compound statement. None when it is not in ``block``."""
        path: list[int] = []
        direct = True
        cur = node
        while True:
            par = self.parents.get(cur)
            if par is None:
                return None
            if isinstance(par, cst.SimpleStatementLine):
                path.append(_index_in(par.body, cur))
            elif isinstance(par, (cst.Module, cst.IndentedBlock)):
                index = _index_in(par.body, cur)
                if par is block:
                    return (index, *reversed(path)), direct
                grand = self.parents.get(par)
                if isinstance(grand, (cst.With, cst.Try)) and grand.body is par:
                    path.append(index)
                    if isinstance(grand, cst.Try):
                        path.append(0)
                    cur = grand
                    continue
                direct, path = False, []
            elif isinstance(par, cst.Try):
                direct, path = False, [1]  # a handler, ``else`` or ``finally``: after the body
            elif isinstance(par, cst.BaseCompoundStatement) and not isinstance(par, cst.With):
                direct, path = False, []
            cur = par

    # believing a container at a use ---------------------------------------------------------
    def at_use(self, ev: Evaluating, node: cst.Name, scope: Scope, name: str, binding: Binding, value: Traced,
               frame: Frame | None, depth: int) -> Traced:
        """``value`` (what ``name`` was bound to) as it is at ``node``, or NOTHING."""
        uses = [u for u in self.uses(ev, name, scope, skip=node, value=value) if u.kind != "read"]
        if not uses:
            return value
        bound = self.statement(_binding_node(binding))
        block = self.block_of(bound)
        here = self.position(block, node) if block is not None else None
        start = self.position(block, bound) if block is not None else None
        if here is None or start is None:
            return NOTHING
        changes = []
        for u in uses:
            where = self.position(block, u.node)
            if where is None:
                return NOTHING
            pos, direct = where
            if u.call is not None and self._argument_of(node, u.call):
                continue  # handed over by the call whose arguments hold the use: after it
            if _nested(pos, here[0]):
                return NOTHING  # in the same compound statement as the use (a loop...): order unknown
            if pos > here[0]:
                continue  # runs after the use
            if u.kind != "change" or not direct or pos <= start[0]:
                return NOTHING
            changes.append((pos, u.node))
        for _, stmt in sorted(changes, key=lambda c: c[0]):
            value = _apply(ev, value, stmt, self.scope_of(stmt), frame, depth)
            if value.value is UNKNOWN:
                return NOTHING
        return value


def _nested(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """One position is the other or inside it."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _literal_key(node: cst.Subscript) -> Any:
    """The key of ``x["lora"]`` / ``x[0]`` when written as a literal."""
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return UNKNOWN
    v = node.slice[0].slice.value
    if isinstance(v, cst.SimpleString):
        import ast

        try:
            return ast.literal_eval(v.value)
        except (ValueError, SyntaxError):
            return UNKNOWN
    if isinstance(v, cst.Integer):
        return int(v.value, 0) if not v.value.startswith("0") or v.value == "0" else UNKNOWN
    return UNKNOWN


def _lookup(value: Traced, keys: list[Any]) -> Traced | None:
    """The part of ``value`` that ``keys`` (attributes or items) reach, when known."""
    for key in keys:
        v = value.value
        if isinstance(v, ImportedRef):
            return Traced(v)  # an attribute of a module or class: the same to us
        if isinstance(v, ConfigObj):
            value = v.value
            v = value.value
        if isinstance(v, dict) and value.parts is not None:
            found = next((p.value for p in value.parts if p.key == key), None)
        elif isinstance(v, list) and value.parts is not None and isinstance(key, int):
            found = value.parts[key].value if -len(value.parts) <= key < len(value.parts) else None
        else:
            found = None
        if found is None:
            return None
        value = found
    return value


def _immutable(t: Traced | None) -> bool:
    """A number, a string, or what an import names (a class, a function): nothing can change it."""
    return t is not None and (isinstance(t.value, (str, int, float, bool, type(None), ImportedRef))
                              and t.value is not UNKNOWN)


_STORE_KINDS = frozenset({cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.Del, cst.Attribute, cst.Call})


def _may_store(node: cst.CSTNode) -> bool:
    """``node`` may set an attribute: an assignment or ``del`` (of an attribute or not), ``x.__dict__``,
    ``setattr(...)``, ``vars(x).update(...)``."""
    if isinstance(node, cst.Attribute):
        return node.attr.value == "__dict__"
    if isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Name):
            return func.value == "setattr"
        return (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call)
                and isinstance(func.value.func, cst.Name) and func.value.func.value == "vars"
                and func.attr.value in REPLAYED)
    return True


def _index_in(body, node) -> int:
    for i, stmt in enumerate(body):
        if stmt is node:
            return i
    return -1


def _binding_node(b: Binding) -> cst.CSTNode:
    if isinstance(b, (Unpack, Enter)):
        return b.value
    return b


def _is_target(par: cst.CSTNode | None, node: cst.CSTNode) -> bool:
    """``node`` is assigned, augmented or deleted."""
    if isinstance(par, cst.AssignTarget):
        return par.target is node
    if isinstance(par, (cst.AugAssign, cst.AnnAssign)):
        return par.target is node
    if isinstance(par, cst.Del):
        return par.target is node
    return False


def _not_loads_of_import(node: cst.ImportAlias | cst.AsName, out: set[int]) -> None:
    for n in _names_in(node.name):
        out.add(id(n))
    if isinstance(node, cst.ImportAlias) and node.asname is not None:
        for n in _names_in(node.asname.name):
            out.add(id(n))


def _not_loads_of_target(node: cst.CSTNode, out: set[int]) -> None:
    for n in _store_names(node.target):
        out.add(id(n))


def _not_loads_of_module(node: cst.ImportFrom, out: set[int]) -> None:
    if node.module is not None:
        for n in _names_in(node.module):
            out.add(id(n))


def _not_loads_of_keyword(node: cst.Arg, out: set[int]) -> None:
    if node.keyword is not None:
        out.add(id(node.keyword))


def _not_loads_of_names(node: cst.Global | cst.Nonlocal, out: set[int]) -> None:
    for item in node.names:
        out.add(id(item.name))


#: Node type -> what marks its ``Name`` children that are not reads of a variable (an attribute's
#: name, a keyword, a parameter, an import, an assignment's target...).
_NOT_LOADS = {
    cst.Attribute: lambda node, out: out.add(id(node.attr)),
    cst.Arg: _not_loads_of_keyword,
    cst.Param: lambda node, out: out.add(id(node.name)),
    cst.FunctionDef: lambda node, out: out.add(id(node.name)),
    cst.ClassDef: lambda node, out: out.add(id(node.name)),
    cst.ImportAlias: _not_loads_of_import,
    cst.AsName: _not_loads_of_import,
    cst.ImportFrom: _not_loads_of_module,
    cst.AssignTarget: _not_loads_of_target,
    cst.For: _not_loads_of_target,
    cst.CompFor: _not_loads_of_target,
    cst.NamedExpr: _not_loads_of_target,
    cst.AnnAssign: _not_loads_of_target,
    cst.Global: _not_loads_of_names,
    cst.Nonlocal: _not_loads_of_names,
}


def _names_in(node: cst.CSTNode) -> list[cst.Name]:
    if isinstance(node, cst.Name):
        return [node]
    if isinstance(node, cst.Attribute):
        return [*_names_in(node.value), node.attr]
    return []


def _target_list(target: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [x for el in target.elements for x in _target_list(el.value)]
    if isinstance(target, cst.StarredElement):
        return _target_list(target.value)
    return [target]


def _store_names(target: cst.BaseExpression) -> list[cst.Name]:
    if isinstance(target, cst.Name):
        return [target]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for el in target.elements for n in _store_names(el.value)]
    if isinstance(target, cst.StarredElement):
        return _store_names(target.value)
    return []


def resolve(name: str, scope: Scope | None) -> Scope | None:
    """The scope whose binding of ``name`` a read in ``scope`` means."""
    start = scope
    while scope is not None:
        if scope.is_class and scope is not start:
            scope = scope.parent
            continue
        if scope.binds(name):
            return scope
        scope = scope.parent
    return None


def _parameter_for(fn: cst.FunctionDef, call: cst.Call, arg: cst.Arg) -> str | None:
    """The parameter of ``fn`` that ``arg`` of ``call`` binds."""
    if arg.keyword is not None:
        names = {p.name.value for p in (*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params)}
        return arg.keyword.value if arg.keyword.value in names else None
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if any(a.star for a in call.args[: call.args.index(arg)]):
        return None
    index = next(i for i, a in enumerate(positional) if a is arg)
    params = [*fn.params.posonly_params, *fn.params.params]
    return params[index].name.value if index < len(params) else None


def _apply(ev: Evaluating, value: Traced, stmt: cst.CSTNode, scope: Scope | None, frame: Frame | None,
           depth: int) -> Traced:
    """``value`` after the straight-line change ``stmt``."""
    if isinstance(value.value, Obj):
        return NOTHING
    if isinstance(stmt, cst.Assign) and isinstance(stmt.targets[0].target, cst.Subscript):
        target = stmt.targets[0].target
        key = _key(ev, target, scope, frame, depth)
        new = _traced_at(ev, stmt.value, scope, frame, depth)
        return _set(value, key, new)
    if isinstance(stmt, cst.Del) and isinstance(stmt.target, cst.Subscript):
        return _delete(value, _key(ev, stmt.target, scope, frame, depth))
    if isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Call):
        call = stmt.value
        method = call.func.attr.value if isinstance(call.func, cst.Attribute) else ""
        args = [a for a in call.args]
        if any(a.star and a.star != "**" for a in args):
            return NOTHING
        if isinstance(value.value, dict):
            return _dict_change(ev, value, method, args, scope, frame, depth)
        if isinstance(value.value, list):
            return _list_change(ev, value, method, args, scope, frame, depth)
    return NOTHING


def _key(ev: Evaluating, target: cst.Subscript, scope, frame, depth) -> Any:
    if len(target.slice) != 1 or not isinstance(target.slice[0].slice, cst.Index):
        return UNKNOWN
    k = ev.trace(target.slice[0].slice.value, scope, frame, depth + 1).value
    return UNKNOWN if isinstance(k, Obj) else k


def _traced_at(ev: Evaluating, node: cst.BaseExpression, scope, frame, depth) -> Traced:
    t = ev.trace(node, scope, frame, depth + 1)
    return t if t.span is not None else t.with_origin(ev.span(node))


def _set(value: Traced, key: Any, new: Traced) -> Traced:
    if key is UNKNOWN or value.parts is None:
        return NOTHING
    if isinstance(value.value, dict):
        parts = [p for p in value.parts if p.key != key]
        return mapping((*parts, Part(key, None, new)))
    if isinstance(value.value, list) and isinstance(key, int) and not isinstance(key, bool):
        parts = list(value.parts)
        if not -len(parts) <= key < len(parts):
            return NOTHING
        i = key % len(parts)
        parts[i] = Part(i, None, new)
        return _sequence(parts)
    return NOTHING


def _delete(value: Traced, key: Any) -> Traced:
    if key is UNKNOWN or value.parts is None or not isinstance(value.value, dict) or key not in value.value:
        return NOTHING
    return mapping(tuple(p for p in value.parts if p.key != key))


def _dict_change(ev: Evaluating, value: Traced, method: str, args: list[cst.Arg], scope, frame, depth) -> Traced:
    if value.parts is None:
        return NOTHING
    parts = {p.key: p for p in value.parts}
    if method == "update":
        for a in args:
            if a.keyword is not None:
                parts.pop(a.keyword.value, None)
                parts[a.keyword.value] = Part(a.keyword.value, ev.span(a.keyword),
                                              _traced_at(ev, a.value, scope, frame, depth))
                continue
            other = ev.trace(a.value, scope, frame, depth + 1)
            if other.parts is None or not isinstance(other.value, dict):
                return NOTHING
            for p in other.parts:
                parts.pop(p.key, None)
                parts[p.key] = p
        return mapping(tuple(parts.values()))
    if any(a.keyword is not None or a.star for a in args):
        return NOTHING
    if method == "clear" and not args:
        return mapping(())
    if method in ("pop", "setdefault") and 1 <= len(args) <= 2:
        key = ev.trace(args[0].value, scope, frame, depth + 1).value
        if key is UNKNOWN or isinstance(key, Obj):
            return NOTHING
        if method == "pop":
            if key not in parts and len(args) == 1:
                return NOTHING  # KeyError: the script stops here
            parts.pop(key, None)
        elif key not in parts:
            default = _traced_at(ev, args[1].value, scope, frame, depth) if len(args) == 2 else Traced(None)
            parts[key] = Part(key, None, default)
        return mapping(tuple(parts.values()))
    return NOTHING


def _list_change(ev: Evaluating, value: Traced, method: str, args: list[cst.Arg], scope, frame, depth) -> Traced:
    if value.parts is None or any(a.keyword is not None or a.star for a in args):
        return NOTHING
    items = [p.value for p in value.parts]
    if method == "append" and len(args) == 1:
        items.append(_traced_at(ev, args[0].value, scope, frame, depth))
    elif method == "extend" and len(args) == 1:
        more = elements(ev.trace(args[0].value, scope, frame, depth + 1))
        if more is None:
            return NOTHING
        items.extend(more)
    elif method == "insert" and len(args) == 2:
        index = ev.trace(args[0].value, scope, frame, depth + 1).value
        if not isinstance(index, int) or isinstance(index, bool):
            return NOTHING
        items.insert(index, _traced_at(ev, args[1].value, scope, frame, depth))
    elif method == "remove" and len(args) == 1:
        gone = ev.trace(args[0].value, scope, frame, depth + 1).value
        values = [t.value for t in items]
        if gone is UNKNOWN or any(v is UNKNOWN for v in values) or gone not in values:
            return NOTHING
        del items[values.index(gone)]
    elif method == "clear" and not args:
        items = []
    else:
        return NOTHING
    return _sequence([Part(i, None, t) for i, t in enumerate(items)])


def _sequence(parts: list[Part]) -> Traced:
    parts = [Part(i, None, p.value) for i, p in enumerate(parts)]
    return Traced([p.value.value for p in parts], parts=tuple(parts))


def returns_of(walk: Any, fn: cst.FunctionDef) -> list[cst.BaseExpression] | None:
    """The values ``fn``'s return statements return (a bare ``return``: None), not those of the
    functions nested in it; None for a generator. ``walk``: the file's ``python.Walk``."""
    found: list[cst.BaseExpression] = []
    for node in walk.subtree(fn, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
        if isinstance(node, cst.Return):
            found.append(node.value if node.value is not None else cst.Name("None"))
        elif isinstance(node, cst.Yield):
            return None
    return found


class Order:
    """Which of a module-level name's bindings can be in effect at a use in the module's own
    code. The module's statements run once, top to bottom (a script, a notebook's cells): at a use
    outside loops, the last unconditional top-level binding that ends before it and the
    conditional ones after that; a binding after the use is not in effect there. ``positions``
    gives the module's positions (computed only when a name is bound more than once)."""

    def __init__(self, module: cst.Module, positions: Any):
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
