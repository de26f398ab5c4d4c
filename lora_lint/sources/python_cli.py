"""Command lines in a script: ``argparse`` parsers, the namespace ``parse_args()`` returns,
``HfArgumentParser`` over dataclasses, and the reading of their flag definitions (``Flag``,
``python_flags``): ``add_argument`` calls on a parser or its groups anywhere in the file (helper
functions that are handed the parser included), dataclass fields, a ``fire.Fire`` function's
parameters.

A flag's value is its default, marked "the default of --lora_r" (a command line may change it),
unless the command line the file is read with gives it (``CommandLine``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import libcst as cst

from ..model import UNKNOWN
from .python_files import load
from .python_flags import Flag, ScriptFlags, default_value
from .python_objects import (
    ClassInfo,
    ClassRef,
    FunctionRef,
    Instance,
    TupleObj,
    _body_statements,
    _ByNode,
    external_class,
    fields_of,
)
from .python_values import NOTHING, Evaluating, Part, Traced, elements, mapping

# -- command lines ------------------------------------------------------------------------------

class ArgParser(_ByNode):
    """An ``argparse.ArgumentParser`` of the file; its flags are the ``add_argument`` calls made
    on it (or on its groups) anywhere in the file (``python_flags``)."""

    def __init__(self, node: cst.Call) -> None:
        self.node = node

    def method(self, name, call, scope, frame, ev, depth) -> Traced:
        if name in ("add_argument_group", "add_mutually_exclusive_group"):
            return Traced(ArgGroup(self))
        if name in ("parse_args", "parse_known_args", "parse_intermixed_args"):
            args = next((a for a in call.args if a.keyword is None or a.keyword.value == "args"), None)
            if args is not None and ev.trace(args.value, scope, frame, depth + 1).value is not None:
                return NOTHING  # the flags come from a list we do not see
            ns = Traced(Namespace(self))
            return Traced(TupleObj((ns, NOTHING))) if name == "parse_known_args" else ns
        return NOTHING


class ArgGroup(_ByNode):
    def __init__(self, parser: ArgParser) -> None:
        self.parser = parser
        self.node = parser.node

    def method(self, name, call, scope, frame, ev, depth) -> Traced:
        if name in ("add_argument_group", "add_mutually_exclusive_group"):
            return Traced(self)
        return NOTHING


class Namespace(_ByNode):
    """What ``parser.parse_args()`` returns: each flag's default, unless the command line gives it."""

    def __init__(self, parser: ArgParser) -> None:
        self.parser = parser
        self.node = parser.node

    def attr(self, name: str, ev: Evaluating) -> Traced:
        if ev.flow.stored(name):
            return NOTHING
        flags = argparse_flags(ev, self.parser)
        flag = flags.by_dest(name)
        if flag is None:
            return NOTHING
        given = ev.m.command_line.value_of(flag) if ev.m.command_line is not None else None
        if given is not None:
            return given
        return flag.value

    def method(self, name, call, scope, frame, ev, depth) -> Traced:
        if name == "__dict__":
            flags = argparse_flags(ev, self.parser)
            return mapping(tuple(Part(f.dest, None, self.attr(f.dest, ev)) for f in flags.flags))
        return NOTHING


class HfParser(_ByNode):
    """``transformers.HfArgumentParser((A, B, ...))``: one instance per dataclass, each field a
    command-line flag."""

    def __init__(self, node: cst.Call, classes: tuple[Any, ...]) -> None:
        self.node = node
        self.classes = classes

    def _key(self) -> Any:
        return len(self.classes)

    def _instances(self, ev: Evaluating, given: Mapping[str, Traced] | None) -> tuple[Traced, ...]:
        out = []
        for c in self.classes:
            if c is None:
                out.append(NOTHING)
                continue
            if given is None:
                out.append(Traced(Instance(c, {}, flags=True, command_line=ev.m.command_line)))
            else:
                mine = {k: v for k, v in given.items() if c.lookup(k) is not None}
                out.append(Traced(Instance(c, mine)))
        return tuple(out)

    def method(self, name, call, scope, frame, ev, depth) -> Traced:
        if name == "parse_args_into_dataclasses":
            extra = any(a.keyword is not None and a.keyword.value == "return_remaining_strings"
                        and ev.trace(a.value, scope, frame, depth + 1).value is True for a in call.args)
            if any(a.keyword is None or a.keyword.value == "args" for a in call.args):
                args = next(a for a in call.args if a.keyword is None or a.keyword.value == "args")
                if ev.trace(args.value, scope, frame, depth + 1).value is not None:
                    return NOTHING
            items = self._instances(ev, None)
            return Traced(TupleObj(items + ((NOTHING,) if extra else ())))
        if name in ("parse_json_file", "parse_yaml_file"):
            if not call.args or call.args[0].star:
                return NOTHING
            source = ev.trace(call.args[0].value, scope, frame, depth + 1)
            doc = load(ev, source, "json" if name == "parse_json_file" else "yaml", paths=True)
            fields = fields_of(doc)
            return Traced(TupleObj(self._instances(ev, fields)))
        if name == "parse_dict":
            if not call.args or call.args[0].star:
                return NOTHING
            fields = fields_of(ev.trace(call.args[0].value, scope, frame, depth + 1))
            return Traced(TupleObj(self._instances(ev, fields))) if fields is not None else NOTHING
        return NOTHING


def hf_parser(call: cst.Call, scope, frame, ev: Evaluating, depth: int) -> Traced:
    arg = next((a for a in call.args if a.keyword is None or a.keyword.value == "dataclass_types"), None)
    if arg is None or arg.star:
        return NOTHING
    t = ev.trace(arg.value, scope, frame, depth + 1)
    items = elements(t) if isinstance(t.value, (list, tuple)) else (t,)
    if items is None:
        return NOTHING
    classes: list[Any] = []
    for i, node in enumerate(_class_nodes(arg.value, len(items))):
        target = items[i].value
        if isinstance(target, ClassRef):
            classes.append(target.info(ev))
            continue
        name = ev.m.qualified(node) if node is not None else None
        classes.append(external_class(name) if name else None)
    return Traced(HfParser(call, tuple(classes)))


def _class_nodes(node: cst.BaseExpression, n: int) -> list[cst.BaseExpression | None]:
    if isinstance(node, (cst.Tuple, cst.List)) and len(node.elements) == n:
        return [el.value for el in node.elements]
    return [node] if n == 1 else [None] * n


# -- reading the definitions ------------------------------------------------------------------

def argparse_flags(ev: Evaluating, parser: ArgParser) -> ScriptFlags:
    """The flags ``add_argument`` adds to ``parser`` (or to its groups) anywhere in the file."""
    memo = ev.m.memo
    key = ("argparse", id(parser.node))
    if key not in memo:
        memo[key] = _read_argparse(ev, parser)
    return memo[key]


def _read_argparse(ev: Evaluating, parser: ArgParser) -> ScriptFlags:
    flags: list[Flag] = []
    defaults: set[str] = set()
    for call, scope in ev.m.calls:
        func = call.func
        if not _is_method(func, ("add_argument", "set_defaults")):
            continue
        owner = ev.trace(func.value, scope).value
        target = owner.parser if isinstance(owner, ArgGroup) else owner
        if not isinstance(target, ArgParser) or target.node is not parser.node:
            continue
        if func.attr.value == "set_defaults":
            defaults.update(a.keyword.value for a in call.args if a.keyword is not None)
            if any(a.star for a in call.args):
                defaults.add("*")
            continue
        flag = _argument(ev, call, scope)
        if flag is not None:
            flags.append(flag)
    if defaults:
        flags = [f if f.dest not in defaults and "*" not in defaults else Flag(f.dest, f.options, NOTHING, f.action,
                                                                               f.type, f.nargs) for f in flags]
    return ScriptFlags(ev.m.path, tuple(flags))


def _is_method(func: cst.BaseExpression, names: tuple[str, ...]) -> bool:
    return isinstance(func, cst.Attribute) and func.attr.value in names


_ACTIONS = {"store": "store", "store_true": "store_true", "store_false": "store_false",
            "store_const": "store_const", "append": "append", "count": "count"}


def _argument(ev: Evaluating, call: cst.Call, scope) -> Flag | None:
    options: list[str] = []
    kw: dict[str, cst.Arg] = {}
    for a in call.args:
        if a.star:
            return None
        if a.keyword is None:
            v = ev.trace(a.value, scope).value
            if not isinstance(v, str):
                return None
            options.append(v)
        else:
            kw[a.keyword.value] = a
    if not options:
        return None
    optional = all(o.startswith("-") for o in options)

    def const(name: str) -> Any:
        return ev.trace(kw[name].value, scope).value if name in kw else None

    dest = const("dest")
    if not isinstance(dest, str):
        if not optional:
            dest = options[0]
        else:
            longs = [o for o in options if o.startswith("--")]
            dest = (longs or options)[0].lstrip("-").replace("-", "_")
    action = "store"
    if "action" in kw:
        a = ev.trace(kw["action"].value, scope).value
        qualified = ev.m.qualified(kw["action"].value) or ""
        if isinstance(a, str):
            action = _ACTIONS.get(a, "unknown")
        elif qualified.endswith("BooleanOptionalAction"):
            action = "boolean_optional"
        else:
            action = "unknown"
    kind = _type(ev, kw.get("type"), scope)
    nargs = const("nargs") if "nargs" in kw else None
    if "nargs" in kw and not isinstance(nargs, (str, int)):
        nargs = UNKNOWN
    value = _default(ev, call, kw, action, kind, scope, optional)
    flag = Flag(dest, tuple(options) if optional else (), NOTHING, action, kind, nargs, const("const"))
    return Flag(flag.dest, flag.options, value.marked(f"the default of {flag.option}") if value.known else value,
                action, kind, nargs, flag.const)


def _type(ev: Evaluating, arg: cst.Arg | None, scope) -> str | None:
    if arg is None:
        return None
    if isinstance(arg.value, cst.Name) and arg.value.value in ("int", "float", "str", "bool") and ev.builtin(
            arg.value, scope):
        return arg.value.value
    return "custom"


def _default(ev: Evaluating, call: cst.Call, kw: dict[str, cst.Arg], action: str, kind: str | None, scope,
             optional: bool) -> Traced:
    if "required" in kw and ev.trace(kw["required"].value, scope).value is not False:
        return NOTHING
    if "default" not in kw:
        if action == "store_true":
            return Traced(False, ev.span(call))
        if action == "store_false":
            return Traced(True, ev.span(call))
        return NOTHING  # None unless given: the script means it to be given
    node = kw["default"].value
    t = ev.trace(node, scope)
    if t.span is None:
        t = t.with_origin(ev.span(node))
    converted = default_value(kind, t.value)
    if converted is UNKNOWN or converted is None:
        return NOTHING  # ``default=None``: not given, as without a default (the script checks or needs it)
    return Traced(converted, t.span, t.path, t.via, t.parts if converted is t.value else None)


def dataclass_flags(ev: Evaluating, info: Any) -> list[Flag]:
    """``HfArgumentParser``'s flags for one dataclass: ``--name`` (and ``--name-with-dashes``)."""
    out = []
    for name in info.field_names():
        default = info.default(name, ev)
        none = default is None or default.value is None and isinstance(info, ClassInfo)
        value = NOTHING if none else default.marked(info.via(name))
        options = (f"--{name}",) + ((f"--{name.replace('_', '-')}",) if "_" in name else ())
        kind = _annotation_type(info, name) if isinstance(info, ClassInfo) else None
        if kind == "bool":  # transformers: ``--flag`` alone is True (nargs="?", const=True)
            out.append(Flag(name, options, value, "store", kind, "?", True))
            continue
        out.append(Flag(name, options, value, "store", kind, _annotation_nargs(info, name)))
    return out


def _annotation(info: Any, name: str) -> cst.BaseExpression | None:
    found = info.lookup(name)
    if found is None or not hasattr(found[0], "ref"):
        return None
    node = found[1]
    for stmt in _class_statements(found[0].ref.node):
        if isinstance(stmt, cst.AnnAssign) and stmt.target is node:
            return stmt.annotation.annotation
    return None


def _class_statements(node):
    return _body_statements(node)


def _bare_type(ann: Any) -> str | None:
    """``int``, ``Optional[int]``, ``int | None`` -> "int"; lists -> their item type."""
    if isinstance(ann, cst.Name):
        return ann.value
    if isinstance(ann, cst.Subscript) and isinstance(ann.value, (cst.Name, cst.Attribute)):
        head = ann.value.value if isinstance(ann.value, cst.Name) else ann.value.attr.value
        inner = ann.slice[0].slice.value if ann.slice and isinstance(ann.slice[0].slice, cst.Index) else None
        if head in ("Optional", "List", "list") and inner is not None:
            return _bare_type(inner)
    if isinstance(ann, cst.BinaryOperation) and isinstance(ann.right, cst.Name) and ann.right.value == "None":
        return _bare_type(ann.left)
    return None


def _annotation_type(info: Any, name: str) -> str | None:
    t = _bare_type(_annotation(info, name))
    return {"int": "int", "float": "float", "str": "str", "bool": "bool"}.get(t or "", "custom")


def _annotation_nargs(info: Any, name: str) -> str | None:
    ann = _annotation(info, name)
    while isinstance(ann, cst.Subscript) and isinstance(ann.value, cst.Name) and ann.value.value == "Optional":
        ann = ann.slice[0].slice.value if isinstance(ann.slice[0].slice, cst.Index) else None
    if isinstance(ann, cst.Subscript) and isinstance(ann.value, cst.Name) and ann.value.value in ("List", "list"):
        return "+"
    return None


def fire_flags(ev: Evaluating, fn: cst.FunctionDef, scope) -> list[Flag]:
    """The flags of a function run by ``fire.Fire``: its parameters, ``--name`` and ``--name-with-dashes``."""
    out = []
    fscope = ev.scopes.scope_of.get(fn)
    for p in (*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params):
        name = p.name.value
        value = ev.trace(p.name, fscope) if fscope is not None else NOTHING
        options = (f"--{name}",) + ((f"--{name.replace('_', '-')}",) if "_" in name else ())
        out.append(Flag(name, options, value, "store", "literal"))
    return out


def all_flags(ev: Evaluating) -> ScriptFlags:
    """Every flag the file defines (argparse, ``HfArgumentParser`` dataclasses, ``fire.Fire``)."""
    ex = ev.m
    flags: list[Flag] = []
    seen: set[int] = set()
    for call, scope in ex.calls:
        name = ex.qualified(call.func)
        if name is None:
            continue
        value = ev.trace(call, scope).value if name in (
            "argparse.ArgumentParser", "transformers.HfArgumentParser", "transformers.hf_argparser.HfArgumentParser",
            "trl.TrlParser") else None
        if isinstance(value, ArgParser) and id(value.node) not in seen:
            seen.add(id(value.node))
            flags.extend(argparse_flags(ev, value).flags)
        elif isinstance(value, HfParser) and id(value.node) not in seen:
            seen.add(id(value.node))
            for info in value.classes:
                if info is not None:
                    flags.extend(dataclass_flags(ev, info))
        elif name == "fire.Fire" and call.args:
            target = ev.trace(call.args[0].value, scope).value
            if isinstance(target, FunctionRef):
                flags.extend(fire_flags(ev, target.node, scope))
    return ScriptFlags(ex.path, tuple(flags))
