"""The objects of a script's own code, as the evaluator follows them: its functions
(``FunctionRef``: a call evaluates to its return with its parameters bound) and classes
(``ClassRef``, ``Instance``: dataclass, pydantic and attrs fields with their defaults,
``field(default=8)``, ``Field(8)``, ``attr.ib(default=8)``, class attributes); a library's
dataclass whose fields are known (``ExternalClass``: TRL's ``ModelConfig``); tuples, records and
attribute-style configs (``ConfigObj``: ``OmegaConf``, ``EasyDict``). Command lines are in
``python_cli``, files in ``python_files``, the library calls that make these in ``python_library``.

A parameter of a function of the file is bound from the calls the file makes of it (when they
agree); a function the file never calls is called elsewhere with arguments we do not see: its
parameters are not known (a ``fire.Fire`` entry point takes its defaults, "the default of --r").
An attribute the file assigns anywhere (``args.lora_r = 16``, ``setattr(args, name, v)``) is not
believed from its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import libcst as cst

from ..model import UNKNOWN
from .python_scope import Scope
from .python_scope import dotted as _dotted
from .python_values import NOTHING, Evaluating, Obj, Part, Traced, item, mapping

#: Decorators that leave a function's parameters and return value as they are.
TRANSPARENT_DECORATORS = frozenset({"staticmethod", "lru_cache", "cache", "wraps", "no_grad", "inference_mode",
                                    "torch.no_grad", "functools.lru_cache", "functools.cache"})


def transparent(fn: cst.FunctionDef | cst.ClassDef) -> bool:
    """``fn``'s decorators leave its parameters and return value alone (a class's: make it a data
    class at most)."""
    known = TRANSPARENT_DECORATORS | DATACLASS_DECORATORS if isinstance(fn, cst.ClassDef) else TRANSPARENT_DECORATORS
    for d in fn.decorators:
        expr = d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator
        name = _dotted(expr)
        if name is None or (name not in known and name.split(".")[-1] not in known):
            return False
    return True


class ImportedRef(Obj):
    """What an ``import`` bound a name to (``peft.LoraConfig``), handed around as a value
    (``{"LoraConfig": LoraConfig}``): immutable, known by its qualified name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImportedRef) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def attr(self, name: str, ev: Evaluating) -> Traced:
        return Traced(ImportedRef(f"{self.name}.{name}"))


class _ByNode(Obj):
    """Objects equal when they stand for the same definition."""

    node: cst.CSTNode

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.node is self.node and self._key() == other._key()

    def __hash__(self) -> int:
        return id(self.node)

    def _key(self) -> Any:
        return None


# -- the file's functions and classes ---------------------------------------------------------

class FunctionRef(_ByNode):
    def __init__(self, node: cst.FunctionDef, scope: Scope) -> None:
        self.node, self.scope = node, scope

    def call(self, call, scope, frame, ev, depth) -> Traced:
        if not transparent(self.node) or (self.scope.parent is not None and self.scope.parent.is_class):
            return NOTHING
        f = ev.bind_call(self.node, self.scope, call, scope, frame, depth)
        return ev.returns(self.node, f, depth)


#: Decorators and bases that make a class's annotated attributes its constructor's fields.
DATACLASS_DECORATORS = frozenset({"dataclass", "dataclasses.dataclass", "pydantic.dataclasses.dataclass",
                                  "attr.s", "attr.attrs", "attrs.define", "attrs.frozen", "attrs.mutable",
                                  "attr.define", "attr.frozen", "attr.mutable", "define", "frozen", "mutable",
                                  "attrs"})
MODEL_BASES = frozenset({"pydantic.BaseModel", "pydantic.main.BaseModel", "pydantic_settings.BaseSettings",
                         "pydantic.BaseSettings", "BaseModel", "BaseSettings"})
#: Calls that give a field its default: their keyword, or their first argument.
FIELD_CALLS = {"field": "default", "Field": "default", "ib": "default", "attrib": "default"}
#: Bases that add no attributes a script reads (anything else, ``TrainingArguments`` included,
#: may hold attributes the file does not show).
EMPTY_BASES = frozenset({"object", "typing.NamedTuple", "abc.ABC", "ABC", "typing.Generic", "Generic"})


class ClassInfo:
    """What a class of the file says about its instances' attributes."""

    def __init__(self, ref: ClassRef, ev: Evaluating) -> None:
        self.ref = ref
        node = ref.node
        self.name = node.name.value
        names = [n for n in (_decorator_name(d) for d in node.decorators) if n]
        self.data = any(n in DATACLASS_DECORATORS or n.split(".")[-1] in ("dataclass", "define", "frozen")
                        for n in names)
        self.fields: dict[str, tuple[cst.CSTNode, cst.BaseExpression | None]] = {}
        self.bases: list[ClassInfo] = []
        self.open = False  # an attribute not listed may exist (a base of another library)
        for base in node.bases:
            if base.keyword is not None:
                continue
            target = ev.trace(base.value, ref.scope.parent)
            if isinstance(target.value, ClassRef) and target.value.node is not node:
                info = target.value.info(ev)
                self.bases.append(info)
                self.data = self.data or info.data
                self.open = self.open or info.open
                continue
            qualified = ev.m.qualified(base.value) or _dotted(base.value)
            if qualified in MODEL_BASES:
                self.data = True
            elif qualified not in EMPTY_BASES:
                self.open = True
        for stmt in _body_statements(node):
            if isinstance(stmt, cst.AnnAssign) and isinstance(stmt.target, cst.Name):
                self.fields[stmt.target.value] = (stmt.target, stmt.value)
            elif isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0].target, cst.Name):
                self.fields[stmt.targets[0].target.value] = (stmt.targets[0].target, stmt.value)
        self.methods_set = _self_assigned(ev.m.walk, node)

    def lookup(self, name: str) -> tuple[ClassInfo, cst.CSTNode, cst.BaseExpression | None] | None:
        if name in self.fields:
            return (self, *self.fields[name])
        for base in reversed(self.bases):
            found = base.lookup(name)
            if found is not None:
                return found
        return None

    def field_names(self) -> list[str]:
        out: dict[str, None] = {}
        for base in self.bases:
            out.update(dict.fromkeys(base.field_names()))
        out.update(dict.fromkeys(self.fields))
        return list(out)

    def assigned_in_methods(self, name: str) -> bool:
        return name in self.methods_set or any(b.assigned_in_methods(name) for b in self.bases)

    def default(self, name: str, ev: Evaluating) -> Traced | None:
        """The value the class gives ``name`` (a field's default, a class attribute), traced;
        None when it has none (a required field), NOTHING when it cannot be told."""
        found = self.lookup(name)
        if found is None:
            return NOTHING if self.open else None
        info, _, value = found
        if value is None:
            return None
        return _field_default(value, info.ref.scope, ev)

    def via(self, name: str) -> str:
        return f"the default of --{name}"


def _decorator_name(d: cst.Decorator) -> str | None:
    expr = d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator
    return _dotted(expr)


def _body_statements(node: cst.ClassDef) -> list[cst.BaseSmallStatement]:
    out = []
    body = node.body
    stmts = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for s in stmts:
        if isinstance(s, cst.SimpleStatementLine):
            out.extend(s.body)
        elif isinstance(s, cst.SimpleStatementSuite):
            out.extend(s.body)
    return out


def _self_assigned(walk: Any, node: cst.ClassDef) -> set[str]:
    """Attributes the class's methods assign on ``self`` (``self.r = ...``, in ``__post_init__`` too)."""
    found: set[str] = set()
    for n in walk.subtree(node):
        if isinstance(n, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign)):
            for t in _targets(n.target):
                if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                    found.add(t.attr.value)
    return found


def _targets(t: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(t, (cst.Tuple, cst.List)):
        return [x for el in t.elements for x in _targets(el.value)]
    return [t]


def _field_default(value: cst.BaseExpression, scope: Scope, ev: Evaluating) -> Traced | None:
    """A field's default as written: ``8``, ``field(default=8)``, ``Field(8)``,
    ``field(default_factory=lambda: [...])``, ``attr.ib(factory=list)``; None for a required one."""
    if isinstance(value, cst.Call):
        name = _dotted(value.func) or ""
        last = name.split(".")[-1]
        if last in FIELD_CALLS:
            return _field_call(value, last, scope, ev)
    t = ev.trace(value, scope)
    return t if t.span is not None else t.with_origin(ev.span(value))


def _field_call(call: cst.Call, last: str, scope: Scope, ev: Evaluating) -> Traced | None:
    for a in call.args:
        if a.star:
            return NOTHING
        key = a.keyword.value if a.keyword is not None else None
        if key == "default" or (key is None and a is call.args[0] and last in ("Field", "ib", "attrib")):
            if isinstance(a.value, cst.Ellipsis):  # pydantic: Field(...) is required
                return None
            t = ev.trace(a.value, scope)
            return t if t.span is not None else t.with_origin(ev.span(a.value))
        if key in ("default_factory", "factory"):
            return _factory(a.value, scope, ev)
    return None


def _factory(value: cst.BaseExpression, scope: Scope, ev: Evaluating) -> Traced:
    if isinstance(value, cst.Lambda) and not value.params.params:
        inner = ev.scopes.scope_of.get(value, scope)
        t = ev.trace(value.body, inner)
        return t if t.span is not None else t.with_origin(ev.span(value.body))
    if isinstance(value, cst.Name) and value.value in ("list", "dict") and ev.builtin(value, scope):
        return Traced([] if value.value == "list" else {}, ev.span(value))
    if isinstance(value, cst.Call) and _dotted(value.func) in ("Factory", "attr.Factory", "attrs.Factory"):
        return _factory(value.args[0].value, scope, ev) if value.args else NOTHING
    return NOTHING


class ClassRef(_ByNode):
    def __init__(self, node: cst.ClassDef, scope: Scope) -> None:
        self.node, self.scope = node, scope
        self._info: ClassInfo | None = None

    def info(self, ev: Evaluating) -> ClassInfo:
        """What the class says about its instances (one record per class of the file)."""
        if self._info is None:
            key = ("class", id(self.node))
            if key not in ev.m.memo:
                ev.m.memo[key] = ClassInfo(self, ev)
            self._info = ev.m.memo[key]
        return self._info

    def attr(self, name: str, ev: Evaluating) -> Traced:
        if ev.flow.stored(name) or not transparent(self.node):
            return NOTHING
        found = self.info(ev).lookup(name)
        if found is None or found[2] is None:
            return NOTHING
        return _field_default(found[2], found[0].ref.scope, ev) or NOTHING

    def call(self, call, scope, frame, ev, depth) -> Traced:
        info = self.info(ev)
        if not transparent(self.node):
            return NOTHING
        if not info.data:
            return Traced(Instance(info, {}, plain_class=True))
        if "__init__" in self.scope.defs:
            return NOTHING
        given = constructor_values(info, call, scope, frame, ev, depth)
        return NOTHING if given is None else Traced(Instance(info, given))


def constructor_values(info: ClassInfo, call: cst.Call, scope, frame, ev: Evaluating,
                       depth: int) -> dict[str, Traced] | None:
    """The fields a constructor call of a data class sets; None when a ``**`` cannot be read."""
    names = info.field_names()
    given: dict[str, Traced] = {}
    positional = [a for a in call.args if a.keyword is None and not a.star]
    for n, a in zip(names, positional, strict=False):
        given[n] = ev.trace(a.value, scope, frame, depth + 1)
    for a in call.args:
        if a.star == "**":
            t = ev.trace(a.value, scope, frame, depth + 1)
            if isinstance(t.value, Obj) and t.value.fields_of() is not None:
                given.update(t.value.fields_of())
                continue
            if t.parts is None or not isinstance(t.value, dict):
                return None
            for p in t.parts:
                if isinstance(p.key, str):
                    given[p.key] = p.value
        elif a.star:
            return None
        elif a.keyword is not None:
            given[a.keyword.value] = ev.trace(a.value, scope, frame, depth + 1)
    return given


class Instance(Obj):
    """An instance of a class of the file (or of a library's dataclass, ``ExternalClass``).

    ``given``: the fields its construction sets (a constructor's arguments, a file's entries);
    ``flags``: its other fields are command-line flags (``HfArgumentParser``), so a default is
    marked "the default of --name"; ``plain_class``: a class that is not a data class, whose
    attributes are its class attributes."""

    def __init__(self, info: ClassInfo | ExternalClass, given: Mapping[str, Traced], flags: bool = False,
                 plain_class: bool = False, command_line: Any = None) -> None:
        self.info = info
        self.given = dict(given)
        self.flags = flags
        self.plain_class = plain_class
        self.command_line = command_line

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Instance) and other.info is self.info and other.flags == self.flags
                and other.given == self.given and other.plain_class == self.plain_class)

    def __hash__(self) -> int:
        return id(self.info)

    def attr(self, name: str, ev: Evaluating) -> Traced:
        if ev.flow.stored(name) or self.info.assigned_in_methods(name):
            return NOTHING
        if name in self.given:
            return self.given[name]
        if self.flags and self.command_line is not None:
            given = self.command_line.value_of(name)
            if given is not None:
                return given
        default = self.info.default(name, ev)
        if default is None:
            return NOTHING
        if self.flags:
            if default.value is None and isinstance(self.info, ClassInfo):
                return NOTHING  # a flag whose default is None: not given (the script checks or needs it)
            return default.marked(self.info.via(name))
        return default

    def method(self, name, call, scope, frame, ev, depth) -> Traced:
        if name == "__dict__" or name in ("model_dump", "dict", "to_dict") and not call.args:
            return self._mapping(ev)
        return NOTHING

    def _mapping(self, ev: Evaluating) -> Traced:
        if self.info.open or self.plain_class:
            return Traced(Fields(self))
        parts = []
        for n in self.info.field_names():
            t = self.attr(n, ev)
            parts.append(Part(n, None, t))
        return mapping(tuple(parts))

    def lacks(self, name: str) -> bool:
        return isinstance(self.info, ClassInfo) and not self.info.open and self.info.lookup(name) is None


class Fields(Obj):
    """``vars(x)`` of an instance whose fields are not all known: a key is read where it is."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fields) and other.instance == self.instance

    def __hash__(self) -> int:
        return hash(self.instance)

    def has(self, name: str) -> bool:
        info = self.instance.info
        return isinstance(info, ClassInfo) and info.lookup(name) is not None or name in self.instance.given

    def item(self, key: Any, ev: Evaluating) -> Traced:
        return self.instance.attr(key, ev) if isinstance(key, str) and self.has(key) else NOTHING


@dataclass(eq=False)
class ExternalClass:
    """A library's dataclass whose fields lora-lint knows (TRL's ``ModelConfig``)."""

    name: str
    defaults: Mapping[str, Any]
    label: str  # for messages: "TRL's default of --lora_r"
    open: bool = False

    def lookup(self, name: str):
        return (self, None, None) if name in self.defaults else None

    def field_names(self) -> list[str]:
        return list(self.defaults)

    def assigned_in_methods(self, name: str) -> bool:
        return False

    def default(self, name: str, ev: Evaluating) -> Traced | None:
        if name not in self.defaults:
            return NOTHING
        return Traced(self.defaults[name])

    def via(self, name: str) -> str:
        return f"{self.label} default of --{name}"


def _trl_model_config() -> ExternalClass:
    """``trl.ModelConfig`` (``trl/trainer/model_config.py``): its LoRA fields and defaults, the
    same table the TRL dialect replays."""
    from ..dialects import trl

    inverse = {field_name: key for key, field_name in trl.KEYMAP.items()}
    defaults = {inverse[f]: v for f, v in trl.DIALECT.defaults.items() if f in inverse}
    defaults.update({
        "lora_target_modules": None, "lora_target_parameters": None, "lora_modules_to_save": None,
        "use_rslora": False, "use_dora": False, "use_peft": False, "model_name_or_path": None,
        "load_in_4bit": False, "load_in_8bit": False,
    })
    return ExternalClass("trl.ModelConfig", defaults, "TRL's", open=True)


_EXTERNAL: dict[str, ExternalClass] = {}


def external_class(name: str) -> ExternalClass | None:
    """The library dataclasses lora-lint knows the fields of, by qualified name."""
    if name in ("trl.ModelConfig", "trl.trainer.ModelConfig", "trl.trainer.model_config.ModelConfig"):
        if "trl" not in _EXTERNAL:
            _EXTERNAL["trl"] = _trl_model_config()
        return _EXTERNAL["trl"]
    return None


# -- tuples, records, configs -------------------------------------------------------------------

class TupleObj(Obj):
    """A tuple of objects (what ``parse_args_into_dataclasses`` returns)."""

    def __init__(self, items: tuple[Traced, ...]) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TupleObj) and other.items == self.items

    def __hash__(self) -> int:
        return len(self.items)

    def elements(self) -> tuple[Traced, ...]:
        return self.items

    def item(self, key: Any, ev: Evaluating) -> Traced:
        if isinstance(key, int) and not isinstance(key, bool) and -len(self.items) <= key < len(self.items):
            return self.items[key]
        return NOTHING


class Record(Obj):
    """An object whose attributes are a known mapping's entries (``SimpleNamespace(**d)``,
    ``argparse.Namespace(**vars(a), **vars(b))``); ``sources`` are ``Fields`` read in order."""

    mutable = False

    def __init__(self, parts: tuple[Part, ...], sources: tuple[Fields, ...] = ()) -> None:
        self.parts = parts
        self.sources = sources

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and other.parts == self.parts and other.sources == self.sources

    def __hash__(self) -> int:
        return len(self.parts)

    def attr(self, name: str, ev: Evaluating) -> Traced:
        if ev.flow.stored(name):
            return NOTHING
        for p in self.parts:
            if p.key == name:
                return p.value
        for s in self.sources:
            if s.has(name):
                return s.instance.attr(name, ev)
        return NOTHING


class ConfigObj(Obj):
    """A nested config read with attribute access (``OmegaConf.load``, ``EasyDict``, ``Box``):
    ``cfg.lora.r`` and ``cfg["lora"]["r"]`` are the same entry."""

    mutable = True

    def __init__(self, value: Traced) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigObj) and other.value == self.value

    def __hash__(self) -> int:
        return 1

    def _child(self, t: Traced) -> Traced:
        if isinstance(t.value, dict) and t.parts is not None:
            return Traced(ConfigObj(t), t.span, t.path, t.via)
        return t

    def attr(self, name: str, ev: Evaluating) -> Traced:
        return self.item(name, ev)

    def item(self, key: Any, ev: Evaluating) -> Traced:
        return self._child(item(self.value, key, ev))

    def method(self, name, call, scope, frame, ev, depth) -> Traced:
        if name == "get" and 1 <= len(call.args) <= 2 and not any(a.keyword or a.star for a in call.args):
            key = ev.trace(call.args[0].value, scope, frame, depth + 1).value
            if self.value.parts is None or key is UNKNOWN:
                return NOTHING
            for p in self.value.parts:
                if p.key == key:
                    return self._child(p.value)
            return ev.trace(call.args[1].value, scope, frame, depth + 1) if len(call.args) == 2 else Traced(None)
        if name in ("to_dict", "to_container", "copy"):
            return self.value
        return NOTHING

    def fields_of(self) -> dict[str, Traced] | None:
        if self.value.parts is None:
            return None
        return {p.key: p.value for p in self.value.parts if isinstance(p.key, str)}


def fields_of(t: Traced) -> dict[str, Traced] | None:
    if isinstance(t.value, Obj):
        return t.value.fields_of()
    if t.parts is not None and isinstance(t.value, dict):
        return {p.key: p.value for p in t.parts if isinstance(p.key, str)}
    return None


# -- parameters ---------------------------------------------------------------------------------

def parameter_value(ev: Evaluating, scope: Scope, name: str, depth: int) -> Traced:
    """A parameter of a function of the file, outside any call being evaluated: what the file's
    calls of the function pass (when they agree), the default of its flag when ``fire.Fire`` runs
    it; nothing when the file never calls it (another module does, with arguments we do not see)."""
    fn = scope.node
    outer = scope.parent
    if not isinstance(fn, cst.FunctionDef) or outer is None or outer.is_class or not transparent(fn):
        return NOTHING
    fname = fn.name.value
    if len(outer.defs.get(fname, ())) != 1 or fname in outer.assigned or fname in outer.poisoned:
        return NOTHING
    calls: list[cst.Call] = []
    fire = False
    parents = ev.flow.parents
    for ref in ev.flow.refs(fname, outer):
        par = parents.get(ref)
        if isinstance(par, cst.Call) and par.func is ref:
            calls.append(par)
            continue
        arg_of = parents.get(par) if isinstance(par, cst.Arg) else None
        if isinstance(arg_of, cst.Call) and ev.m.qualified(arg_of.func) == "fire.Fire" and arg_of.args[0] is par:
            fire = True
            continue
        return NOTHING  # handed over: called in ways we do not see
    param = scope.params[name]
    if not fire and not calls:  # imported and called elsewhere, with arguments we do not see
        return NOTHING
    if fire:
        if calls or param.default is None or param.star:
            return NOTHING
        default = ev.trace(param.default, outer, None, depth + 1)
        if default.span is None:
            default = default.with_origin(ev.span(param.default))
        command = ev.m.command_line.value_of(name) if ev.m.command_line is not None else None
        return command if command is not None else NOTHING if default.value is None else default.marked(
            f"the default of --{name}")
    values = []
    for c in calls:
        cscope = ev.flow.scope_of(c)
        values.append(ev.bind_call(fn, scope, c, cscope, None, depth, only=name).args.get(name, NOTHING))
    first = values[0]
    return first if all(v == first for v in values[1:]) else NOTHING
