"""Python source: peft ``LoraConfig(...)`` calls and Unsloth ``Fast*.get_peft_model(...)`` calls.

Read with libcst, never imported. Names are resolved through the file's imports, so
``from peft import LoraConfig as LC``, ``import peft`` / ``peft.LoraConfig`` and
``from peft.tuners.lora import LoraConfig`` are all recognised, and a class of the user's own
that happens to be called ``LoraConfig`` is not.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from ..dialect import Dialect
from ..model import UNKNOWN, LoraSite, Note, Param, Span
from ..peft_facts import facts, suggest
from ..source_file import LINE_BREAK, SourceFile
from ._base import PYTHON_MARKERS as MARKERS
from ._base import SourceError
from .python_cli import all_flags
from .python_dialects import DIALECTS, PEFT, UNSLOTH, UNSLOTH_VISION
from .python_eval import Evaluator
from .python_flags import CommandLine, ScriptFlags
from .python_scope import Scope, ScopeBuilder
from .python_scope import dotted as _dotted
from .python_values import Traced, plain

try:  # (libcst's code generation state: what ``_PositionState`` extends)
    from libcst._nodes.internal import CodegenState
except ImportError:  # another libcst: positions the public way
    CodegenState = object  # type: ignore[assignment,misc]

__all__ = ["DIALECTS", "PEFT", "UNSLOTH", "UNSLOTH_VISION", "CommandLine", "Extractor", "ScriptFlags", "script_flags",
           "sites"]



def script_flags(source: SourceFile) -> ScriptFlags:
    """Every command-line flag the script defines (argparse, ``HfArgumentParser`` dataclasses,
    ``fire.Fire``) with its default. Raises ``SourceError`` when the file does not parse."""
    extractor = extractor_for(source)
    source.keep(Extractor, extractor)  # a command line's read of the file reuses its tree
    return all_flags(extractor.evaluator)


def extractor_for(source: SourceFile, command_line: CommandLine | None = None) -> Extractor:
    """The file parsed and indexed (the reader's own, when it read the file already); with
    ``command_line``, a new index of the same tree."""
    kept = source.kept(Extractor)
    if command_line is None and kept is not None:
        return kept
    return Extractor(source.path, kept.module if kept is not None else parse(source), command_line)


def tree(source: SourceFile) -> tuple[cst.Module, Any]:
    """``(module, positions)`` of ``source``: the reader's own parse when it read the file."""
    extractor = source.kept(Extractor)
    if extractor is not None:
        return extractor.module, extractor.positions
    module = parse(source)
    return module, positions_of(module)


def sites(source: SourceFile, command_line: CommandLine | None = None) -> list[LoraSite]:
    """The LoRA sites of a Python file; with ``command_line``, as that command line runs the
    script (a flag it gives replaces the flag's default)."""
    text = source.text
    if not any(marker in text for marker in MARKERS):
        return []
    extractor = extractor_for(source, command_line)
    found = extractor.sites()
    if command_line is None:
        source.keep(Extractor, extractor)  # the fix builders reuse its tree and positions
    script = _script_metadata(source) if "# /// script" in text and found else None
    if script is not None:  # PEP 723 inline metadata: the script's own pins (LL002)
        deps, first, last = script
        p = Param("dependencies", deps, Span(first, 1, last, 7))
        found = [replace(s, context={**s.context, "script_dependencies": p}) for s in found]
    return found


def _script_metadata(source: SourceFile):
    from ..pins import script_metadata

    return script_metadata(source.lines)


def parse(source: SourceFile) -> cst.Module:
    """The module of ``source``. A text that is not Python only because of IPython's own lines
    (``!pip install``, ``%%capture``, ``model?``: a notebook or its export) is parsed with them
    masked (``ipython.masked``: same length, so every position is the original's); the tree's
    ``code`` is then the masked text."""
    from .python_depth import parse_guarded

    try:
        return parse_guarded(cst.parse_module, source.text)
    except SourceError:  # too large to analyse
        raise
    except cst.ParserSyntaxError as first:
        from ..ipython import masked

        error = first
        text = masked(source.text)
        if text != source.text:
            try:
                return parse_guarded(cst.parse_module, text)
            except cst.ParserSyntaxError as again:
                error = again
            except SourceError:
                raise
            except Exception:
                pass
        message = error.message
        if source.rows is not None:  # (the parser's own "error at LINE:COL" counts the whole script)
            message = _ERROR_AT_PREFIX.sub("", message)
        raise SourceError(f"syntax error: {message}", _error_span(source, error)) from None
    except RecursionError:
        raise SourceError("file is nested too deeply to parse", Span.point(1, 1)) from None
    except Exception as e:  # libcst raises a few other kinds on odd input
        raise SourceError(f"cannot parse: {type(e).__name__}: {e}", Span.point(1, 1)) from None


_ERROR_AT = re.compile(r"error at (\d+):(\d+)")
_ERROR_AT_PREFIX = re.compile(r"error at \d+:\d+: ")


def _error_span(source: SourceFile, e: cst.ParserSyntaxError) -> Span:
    """Where a syntax error is, inside the file. libcst's ``editor_line``/``editor_column`` point
    at the start of the failing line at best, and past the end of the file on some line endings
    (``\r\r\n``); its parser's own "error at LINE:COL" (0-based column, in characters) is the
    furthest point it read. Either is kept inside the file's lines."""
    m = _ERROR_AT.search(e.message)
    line, col = (int(m[1]), int(m[2]) + 1) if m else (e.editor_line, e.editor_column)
    lines = source.lines
    line = min(max(line, 1), len(lines) + 1)
    width = len(lines[line - 1]) if line <= len(lines) else 0
    return Span.point(line, min(max(col, 1), width + 1))


class Imports(cst.CSTVisitor):
    """Maps local names to the qualified names they were imported as (``LC`` -> ``peft.LoraConfig``)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _dotted(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.names[alias.asname.name.value] = full
            else:
                root = full.split(".")[0]
                self.names[root] = root

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None:
            return
        module = _dotted(node.module)
        if module is None:
            return
        if isinstance(node.names, cst.ImportStar):
            if module.split(".")[0] in ("peft", "unsloth"):
                for name in ("LoraConfig", "TaskType", "FastLanguageModel", "FastModel", "FastVisionModel"):
                    self.names.setdefault(name, f"{module.split('.')[0]}.{name}")
            return
        for alias in node.names:
            name = _dotted(alias.name)
            if name is None:
                continue
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            self.names[local] = f"{module}.{name}"

    def visit_Assign(self, node: cst.Assign) -> None:
        """``X = import_module("unsloth").FastLanguageModel``: an import written as a call."""
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        attrs: list[str] = []
        value = node.value
        while isinstance(value, cst.Attribute):
            attrs.insert(0, value.attr.value)
            value = value.value
        if not isinstance(value, cst.Call) or len(value.args) != 1 or value.args[0].keyword or value.args[0].star:
            return
        func = _dotted(value.func)
        root, _, rest = (func or "").partition(".")
        known = self.names.get(root)
        if known is None or (f"{known}.{rest}" if rest else known) != "importlib.import_module":
            return
        arg = value.args[0].value
        if isinstance(arg, cst.SimpleString) and arg.value[:1] in "'\"" and arg.value[-1:] == arg.value[:1]:
            self.names[node.targets[0].target.value] = ".".join([arg.value[1:-1], *attrs])


class Calls(cst.CSTVisitor):
    """Collects calls, and assignments (``x = ...``, ``x: T = ...``), with the scope they appear in."""

    def __init__(self, scopes: ScopeBuilder) -> None:
        self.scopes = scopes
        self.stack: list[Scope] = []
        self.calls: list[tuple[cst.Call, Scope]] = []
        self.assignments: list[tuple[cst.Assign | cst.AnnAssign, Scope]] = []

    # the nodes ScopeBuilder opens a scope for
    def _enter(self, node: cst.CSTNode) -> None:
        scope = self.scopes.scope_of.get(node)
        if scope is not None:
            self.stack.append(scope)

    def _leave(self, original_node: cst.CSTNode) -> None:
        if original_node in self.scopes.scope_of:
            self.stack.pop()

    visit_Module = visit_FunctionDef = visit_Lambda = visit_ClassDef = _enter
    leave_Module = leave_FunctionDef = leave_Lambda = leave_ClassDef = _leave

    def visit_Call(self, node: cst.Call) -> None:
        if self.stack:
            self.calls.append((node, self.stack[-1]))

    def visit_Assign(self, node: cst.Assign) -> None:
        if self.stack:
            self.assignments.append((node, self.stack[-1]))

    visit_AnnAssign = visit_Assign


def _method(call: cst.Call) -> str | None:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


class Walk:
    """One traversal of the tree in libcst's visiting order, recorded so that visitors can replay it.

    libcst's ``visit`` rebuilds every node (and calls two attribute hooks per field). The walk
    reads each node's children from the fields libcst's visit goes through, in its order (learnt
    once per node class from libcst itself: ``visited_fields``), without rebuilding anything; a
    replay calls the same ``on_visit``/``on_leave`` methods in the same order as ``visit``, children
    skipped when ``on_visit`` says so, for a fraction of the cost. It is iterative: a deep tree
    does not recurse. ``tests/test_python_source.py`` checks the order against libcst's visit.
    """

    def __init__(self, module: cst.Module) -> None:
        self.events: list[list] = []  # [node, index of its leave event]; leave events: [node, -1]
        self._start: dict[int, int] | None = None
        events, learnt, sentinel = self.events, _VISITED, cst.MaybeSentinel
        stack: list = [module]  # nodes to enter, and (ints) the events of nodes to leave
        while stack:
            item = stack.pop()
            if type(item) is int:
                events[item][1] = len(events)
                events.append([events[item][0], -1])
                continue
            stack.append(len(events))
            events.append([item, 0])
            known = learnt.get(type(item))  # (``visited_fields`` inlined for a known class)
            below: list = []
            for name in known[0] if known is not None and not known[1] else visited_fields(item):
                value = getattr(item, name)
                kind = type(value)
                if kind is tuple or kind is list:
                    below.extend(value)
                elif value is not None and kind is not sentinel:
                    below.append(value)
            below.reverse()
            stack.extend(below)

    def subtree(self, node: cst.CSTNode, skip: tuple[type, ...] = ()):
        """The nodes under ``node`` in order (``node`` itself first), without descending into
        nodes of the types ``skip``."""
        if self._start is None:
            self._start = {id(n): i for i, (n, end) in enumerate(self.events) if end >= 0}
        i = self._start.get(id(node))
        if i is None:
            return
        stop = self.events[i][1]
        while i < stop:
            n, end = self.events[i]
            if end < 0:
                i += 1
                continue
            yield n
            i = end + 1 if skip and n is not node and isinstance(n, skip) else i + 1

    def replay(self, visitor: cst.CSTVisitor) -> None:
        """``module.visit(visitor)`` for visitors without attribute hooks (``visit_X_attr``)."""
        events, i, n = self.events, 0, len(self.events)
        cls = type(visitor)
        if cls.on_visit is cst.CSTVisitor.on_visit and cls.on_leave is cst.CSTVisitor.on_leave:
            # libcst's own dispatch (``visit_<type>``/``leave_<type>``, formatted and looked up
            # for every node), from a table by node type: only the methods the visitor defines
            hooks = _hooks(cls)
            while i < n:
                node, end = events[i]
                hook = hooks.get(type(node), _UNSEEN)
                if hook is _UNSEEN:
                    hook = hooks[type(node)] = _hook(cls, type(node))
                if hook is not None:
                    visit, leave = hook
                    if end < 0:
                        if leave is not None:
                            leave(visitor, node)
                    elif visit is not None and visit(visitor, node) is False:
                        if leave is not None:
                            leave(visitor, node)
                        i = end
                i += 1
            return
        while i < n:
            node, end = events[i]
            if end < 0:
                visitor.on_leave(node)
            elif not visitor.on_visit(node):
                visitor.on_leave(node)
                i = end
            i += 1


class _Fields(cst.CSTVisitor):
    """The fields libcst's visit of one node goes through, in order, without descending."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return False

    def on_leave(self, original_node: cst.CSTNode) -> None:
        pass

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        self.names.append(attribute)

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        pass


#: node class -> (the fields its visit goes through, in order; the other fields that held None or
#: an empty sequence when it was learnt: another node of the class may hold a node there)
_VISITED: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def visited_fields(node: cst.CSTNode) -> tuple[str, ...]:
    """The fields of ``node`` that libcst's ``visit`` goes through, in its order. Learnt from
    ``_visit_and_replace_children`` (what ``visit`` runs) once per class, and again for a node
    holding a node where the first one of its class did not (a field libcst visits only when
    it is set, such as an f-string expression's ``format_spec``)."""
    cls = type(node)
    known = _VISITED.get(cls)
    if known is not None:
        names, unset = known
        if not unset or not any(_holds_node(getattr(node, f)) for f in unset):
            return names
    recorder = _Fields()
    node._visit_and_replace_children(recorder)
    names = tuple(dict.fromkeys(recorder.names))
    if known is not None:  # what an earlier node of the class showed and this one did not
        names += tuple(f for f in known[0] if f not in names)
    unset = tuple(f.name for f in dataclasses.fields(node) if f.name not in names
                  and (getattr(node, f.name) is None or getattr(node, f.name) == ()
                       or getattr(node, f.name) == []))
    _VISITED[cls] = (names, unset)
    return names


def _holds_node(value) -> bool:
    return isinstance(value, cst.CSTNode) or (isinstance(value, (tuple, list)) and len(value) > 0)


_UNSEEN = object()
_HOOKS: dict[type, dict[type, Any]] = {}


def _hooks(cls: type) -> dict[type, Any]:
    """Node type -> ``(visit, leave)`` of the visitor class ``cls`` (None for a type it has
    neither for), filled in as node types are met."""
    return _HOOKS.setdefault(cls, {})


def _hook(cls: type, node_type: type):
    """The ``visit_<type>`` and ``leave_<type>`` functions ``cls`` defines (libcst's empty defaults
    left out: calling one does nothing), or None when it defines neither."""
    name = node_type.__name__
    visit = getattr(cls, f"visit_{name}", None)
    leave = getattr(cls, f"leave_{name}", None)
    if visit is getattr(cst.CSTVisitor, f"visit_{name}", None):
        visit = None
    if leave is getattr(cst.CSTVisitor, f"leave_{name}", None):
        leave = None
    return None if visit is None and leave is None else (visit, leave)


def positions_of(module: cst.Module) -> Positions:
    """Line and column of every node of ``module``: what libcst's ``PositionProvider`` gives
    (``tests/test_python_source.py`` compares them), from one code generation of the module that
    records plain numbers (``_PositionState``), made into ``CodeRange``s only where asked."""
    try:
        if CodegenState is object:
            raise NotImplementedError
        state = _PositionState(module.default_indent, module.default_newline)
        module._codegen(state)
        return Positions(state.computed)
    except Exception:  # another libcst: the public way
        ranges = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        return Positions({node: (r.start.line, r.start.column, r.end.line, r.end.column)
                          for node, r in ranges.items()})


class Positions(Mapping):
    """node -> ``CodeRange`` (a ``PositionProvider`` result), from ``(line, column, end line, end
    column)`` tuples; ``span`` reads them without making the range."""

    def __init__(self, raw: dict[cst.CSTNode, tuple[int, int, int, int]]) -> None:
        self._raw = raw

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        line, column, end_line, end_column = self._raw[node]
        return CodeRange(CodePosition(line, column), CodePosition(end_line, end_column))

    def __contains__(self, node: object) -> bool:
        return node in self._raw

    def __iter__(self):
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def span(self, node: cst.CSTNode) -> Span:
        line, column, end_line, end_column = self._raw[node]
        return Span(line, column + 1, end_line, end_column + 1)


class _PositionState(CodegenState):
    """libcst's ``PositionProvidingCodegenState`` (metadata/position_provider.py), recording
    ``(line, column, end line, end column)`` tuples instead of creating three frozen dataclasses
    per node, with a plain context manager instead of a generator-based one: the same positions
    (a node's syntactic range, else its whole code's) at a third of the cost."""

    def __init__(self, default_indent: str, default_newline: str) -> None:
        super().__init__(default_indent=default_indent, default_newline=default_newline)
        self.line = 1  # one-based
        self.column = 0  # zero-based
        self.starts: list[tuple[int, int]] = []
        self.computed: dict[cst.CSTNode, tuple[int, int, int, int]] = {}

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        if "\n" in value or "\r" in value:
            segments = LINE_BREAK.split(value)  # (libcst's NEWLINE_RE: the same breaks)
            self.line += len(segments) - 1
            self.column = len(segments[-1])
        else:
            self.column += len(value)

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.starts.append((self.line, self.column))

    def after_codegen(self, node: cst.CSTNode) -> None:
        line, column = self.starts.pop()
        if node not in self.computed:  # (a syntactic position recorded inside is kept)
            self.computed[node] = (line, column, self.line, self.column)

    def record_syntactic_position(self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None,
                                  end_node: cst.CSTNode | None = None) -> _Syntactic:
        return _Syntactic(self, node, start_node, end_node)


class _Syntactic:
    """``with state.record_syntactic_position(node, start_node=, end_node=)``: the node's range
    is where its own code starts and ends, or where ``start_node`` starts and ``end_node`` ends."""

    __slots__ = ("state", "node", "start_node", "end_node", "line", "column")

    def __init__(self, state: _PositionState, node: cst.CSTNode, start_node: cst.CSTNode | None,
                 end_node: cst.CSTNode | None) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node
        self.line, self.column = state.line, state.column

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        state = self.state
        computed = state.computed
        line, column = (self.line, self.column) if self.start_node is None else computed[self.start_node][:2]
        end_line, end_column = (state.line, state.column) if self.end_node is None else computed[self.end_node][2:]
        computed[self.node] = (line, column, end_line, end_column)
        return False


class Extractor:
    """One parsed Python file: its imports, scopes, calls and evaluator, and the LoRA sites in it.

    It is also what the evaluator knows of the file (``python_eval.Evaluator.m``): ``qualified``
    names, node ``span``s, the ``walk``, its ``calls``, the ``command_line`` it is read with (the
    flags a shell script gives it)."""

    def __init__(self, path: str, module: cst.Module, command_line: Any = None) -> None:
        self.path = path
        self.module = module
        self.command_line = command_line
        self._positions = None
        self._loops: set | None = None
        self.walk = Walk(module)
        self.imports = Imports()
        self.walk.replay(self.imports)
        self.scopes = ScopeBuilder()
        self.walk.replay(self.scopes)
        found = Calls(self.scopes)
        self.walk.replay(found)
        self.calls: list[tuple[cst.Call, Scope]] = found.calls
        #: ``x = ...`` and ``x: T = ...`` statements with their scopes, in the file's order
        self.assignments: list[tuple[cst.Assign | cst.AnnAssign, Scope]] = found.assignments
        self.memo: dict[Any, Any] = {}
        self.evaluator = Evaluator(self)
        self.task_types = set(facts()["task_types"])

    # name resolution ---------------------------------------------------------------------------
    def qualified(self, node: cst.BaseExpression) -> str | None:
        dotted = _dotted(node)
        if dotted is None:
            return None
        root, _, rest = dotted.partition(".")
        target = self.imports.names.get(root)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def attribute_constant(self, node: cst.BaseExpression) -> Any:
        """``TaskType.CAUSAL_LM`` (peft's enum) evaluates to the member name."""
        if isinstance(node, cst.Attribute):
            owner = self.qualified(node.value)
            if owner is not None and owner.startswith("peft") and owner.endswith(".TaskType"):
                return node.attr.value
        return UNKNOWN

    def name_of(self, func: cst.BaseExpression, scope: Scope | None) -> str | None:
        """The qualified name ``func`` stands for: through the imports, or for an imported name
        handed around as a value (``modules["LoraConfig"]``), through the evaluator."""
        name = self.qualified(func)
        if name is not None or scope is None:
            return name
        root = func.value if isinstance(func, cst.Attribute) else func
        if not isinstance(root, cst.Subscript):
            return None
        from .python_objects import ImportedRef

        value = self.evaluator.trace(func, scope).value
        return value.name if isinstance(value, ImportedRef) else None

    def kind(self, call: cst.Call, scope: Scope | None = None) -> str | None:
        name = self.name_of(call.func, scope)
        if name is None:
            return None
        parts = name.split(".")
        if parts[0] == "peft" and parts[-1] == "LoraConfig":
            return "peft"
        if parts[0] == "rapidfireai" and parts[-1] == "RFLoraConfig":
            # rapidfireai's subclass of peft's LoraConfig: a plain value goes to LoraConfig as
            # written, a ``List``/``Range`` one is a search axis (unknown here)
            return "peft"
        if parts[0] == "peft" and parts[-2:] in (["LoraConfig", "from_pretrained"], ["PeftConfig", "from_pretrained"]):
            return "pretrained"
        if parts[0] == "peft" and parts[-1] == "get_peft_config":
            return "peft-dict"
        if parts[0] == "trl" and parts[-1] == "get_peft_config":
            return "trl"
        if parts[0] == "unsloth" and parts[-1] == "get_peft_model" and len(parts) >= 3:
            cls = parts[-2]
            if cls.startswith("Fast"):
                return "unsloth-vision" if cls in ("FastModel", "FastVisionModel") else "unsloth"
        return None

    # other files ---------------------------------------------------------------------------------
    def relative(self, real: str) -> str:
        """``real`` named the way the file being read is (relative to the working directory
        when its path is relative)."""
        import os

        if os.path.isabs(self.path):
            return real
        try:
            return os.path.relpath(real)
        except ValueError:  # another drive
            return real

    # sites -------------------------------------------------------------------------------------
    def sites(self) -> list[LoraSite]:
        found = []
        for call, scope in self.calls:
            kind = self.kind(call, scope)
            if kind is None:
                continue
            site = self.site(call, scope, kind)
            if site is not None:
                found.append((call, site))
        if found:
            from .python_templates import chat_template

            template = chat_template(self, self.calls)
            if template is not None:
                found = [(c, replace(s, context={**s.context, "chat_template": template})) for c, s in found]
        if found and any(_method(c) == "resize_token_embeddings" for c, _ in self.calls):
            # the file grows the vocabulary: LL306 checks that the new rows get trained
            found = [(c, replace(s, resizes_vocab=True)) for c, s in found]
        from .python_models import attach_models

        return attach_models(self, self.calls, found)

    @property
    def positions(self) -> Positions:
        """Line and column of every node (one code-generation pass, made only when needed)."""
        if self._positions is None:
            self._positions = positions_of(self.module)
        return self._positions

    def span(self, node: cst.CSTNode) -> Span:
        return self.positions.span(node)

    def param(self, key: str, t: Traced, at: Span) -> Param:
        """The Param of a traced value: at ``at`` (the keyword written in the call) unless the value
        is written elsewhere (a default, another file)."""
        span, path = at, None
        if t.span is not None and (t.path is not None or t.via is not None):
            span, path = t.span, t.path
        value = plain(t.value)
        items: tuple[Param, ...] = ()
        if t.parts is not None and isinstance(value, (list, tuple, set, dict)):
            items = tuple(
                Param(key if not isinstance(value, dict) else str(part.key), plain(part.value.value),
                      part.value.span or span, path=part.value.path, via=part.value.via)
                for part in t.parts
            )
        return Param(key, value, span, items, path=path, via=t.via)

    def misleading(self, key: str, p: Param, node: cst.BaseExpression, call: cst.Call, scope: Scope,
                   notes: list) -> Param:
        """``p``, or what really reaches peft when the value is not what it looks like (LL013)."""
        from . import python_misleading as mis

        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            method = mis.none_result(node, self.evaluator.eval(node.func.value, scope))
            if method is not None:
                receiver = cst.Module([]).code_for_node(node.func.value)
                notes.append(Note("LL013", p, (
                    f"`{key}={receiver}.{node.func.attr.value}(...)` passes None: {method} changes {receiver} in"
                    f" place and returns None, so LoraConfig gets {key}=None"
                    f"{' (peft then uses its default targets for the model type)' if key == 'target_modules' else ''};"
                    f" call {receiver}.{node.func.attr.value}(...) first, then pass {key}={receiver}")))
                return replace(p, value=None, items=())
        if self._loops is None:
            loops = mis.Loops()
            self.walk.replay(loops)
            self._loops = loops.in_loop
        value, later = mis.later_change(key, node, call, scope, self.calls, self._loops, followed=True)
        for change in later:
            name = node.value
            notes.append(Note("LL013", p, (
                f"`{name}.{change.func.attr.value}(...)` on line {self.span(change).line} changes {name} after"
                f" LoraConfig(...) copied it into a set: peft never sees that change; make it before LoraConfig(...)")))
        return p if value is None else replace(p, value=value, items=())

    def site(self, call: cst.Call, scope: Scope, kind: str) -> LoraSite | None:
        if kind == "pretrained":
            return self._pretrained(call, scope)
        if kind == "peft-dict":
            return self._peft_dict(call, scope)
        if kind == "trl":
            return self._trl(call, scope)
        dialect = DIALECTS[kind]
        b = _Site(self, dialect, self.span(call))
        positional = 0
        for arg in call.args:
            if arg.star == "**":
                if not b.splat(self.evaluator.trace(arg.value, scope), self.span(arg.value)):
                    b.open = True
                continue
            if arg.star:  # *args: anything may be set
                b.open = True
                continue
            if arg.keyword is None:
                positional += 1
                if kind == "peft" or positional > 1:  # unsloth's first positional is the model
                    b.open = True
                continue
            k, v = self.span(arg.keyword), self.span(arg.value)
            key = arg.keyword.value
            p = self.param(key, self.evaluator.trace(arg.value, scope), Span(k.line, k.col, v.end_line, v.end_col))
            if kind == "peft" and key in dialect.keymap:
                p = self.misleading(key, p, arg.value, call, scope, b.notes)
            b.add(p)
        site = b.build()
        if kind != "peft":
            from .unsloth import redirect

            site = redirect(site)
        return site

    def _peft_dict(self, call: cst.Call, scope: Scope) -> LoraSite | None:
        """peft's ``get_peft_config(config_dict)``: the dict's ``peft_type`` picks the config class."""
        arg = next((a for a in call.args if a.keyword is None or a.keyword.value == "config_dict"), None)
        if arg is None or arg.star:
            return None
        t = self.evaluator.trace(arg.value, scope)
        if not isinstance(t.value, dict) or t.parts is None or t.value.get("peft_type") != "LORA":
            return None
        b = _Site(self, PEFT, self.span(call))
        if not b.splat(t, self.span(arg.value)):
            return None
        return b.build()

    def _pretrained(self, call: cst.Call, scope: Scope) -> LoraSite | None:
        """``LoraConfig.from_pretrained(path)`` on an adapter saved in the repository: its
        ``adapter_config.json``'s LoraConfig fields (peft drops the keys it does not know)."""
        from .python_files import PathValue, as_path, load_document

        arg = next((a for a in call.args if a.keyword is None or a.keyword.value == "pretrained_model_name_or_path"),
                   None)
        if arg is None or arg.star or any(a.keyword is not None and a.keyword.value == "subfolder" for a in call.args):
            return None
        path = as_path(self.evaluator.trace(arg.value, scope))
        if path is None:
            return None
        doc = load_document(self.evaluator, PathValue(path.base, path.rel.rstrip("/") + "/adapter_config.json"), None,
                            "json")
        if not isinstance(doc.value, dict) or doc.parts is None or doc.value.get("peft_type", "LORA") != "LORA":
            return None
        b = _Site(self, PEFT, self.span(call))
        known = [p for p in doc.parts if isinstance(p.key, str) and p.key in b.dialect.keymap]
        b.splat(Traced(doc.value, doc.span, doc.path, doc.via, tuple(known)), self.span(arg.value))
        return b.build()

    def _trl(self, call: cst.Call, scope: Scope) -> LoraSite | None:
        """TRL's ``get_peft_config(model_args)`` on its ``ModelConfig`` (``trl/trainer/utils.py``):
        the flags' LoRA settings, LoRA only with ``--use_peft``."""
        from ..dialects import trl
        from .python_objects import Instance

        arg = next((a for a in call.args if a.keyword is None or a.keyword.value == "model_args"), None)
        if arg is None or arg.star:
            return None
        t = self.evaluator.trace(arg.value, scope)
        if not isinstance(t.value, Instance) or getattr(t.value.info, "name", "") != "trl.ModelConfig":
            return None
        b = _Site(self, trl.DIALECT, self.span(call))
        at = self.span(arg.value)
        for key, field_name in trl.KEYMAP.items():
            value = t.value.attr(key, self.evaluator)
            if field_name == "target_modules" and isinstance(value.value, list) and len(value.value) == 1:
                value = Traced(value.value[0], value.span, value.path, value.via)  # TRL unwraps it
            if value.value is None and field_name in ("target_modules", "target_parameters", "modules_to_save"):
                continue
            b.add(self.param(key, value, at), field_name)
        use = t.value.attr("use_peft", self.evaluator)
        b.context["adapter"] = self.param("use_peft", use, at)
        site = b.build(defaults=True)
        if use.value is False:
            return replace(site, active=False, params={}, open=True)
        return site


class _Site:
    """A site's parameters as a call (or a dict splatted into one) writes them."""

    def __init__(self, ex: Extractor, dialect: Dialect, span: Span) -> None:
        self.ex = ex
        self.dialect = dialect
        self.span = span
        self.params: dict[str, Param] = {}
        self.context: dict[str, Param] = {}
        self.unknown: list[tuple[Param, str | None]] = []
        self.notes: list[Note] = []
        self.open = False

    def add(self, p: Param, field_name: str | None = None) -> None:
        fields = self.dialect.keymap
        if field_name is not None:
            self.params[field_name] = p
        elif p.key in fields:
            self.params[p.key] = p
        elif p.key in self.dialect.known:
            self.context[p.key] = p
        else:
            self.unknown.append((p, suggest(p.key, set(fields) | self.dialect.known)))

    def splat(self, t: Traced, at: Span) -> bool:
        """``**t`` in the call: each entry a keyword. False when the keys are not all known."""
        from .python_objects import ConfigObj

        if isinstance(t.value, ConfigObj):
            t = t.value.value
        if not isinstance(t.value, dict) or t.parts is None:
            return False
        for part in t.parts:
            if not isinstance(part.key, str):
                return False
            value = part.value
            if value.span is None:
                value = value.with_origin(part.key_span or at, t.path)
            p = self.ex.param(part.key, value, part.key_span or at)
            if part.key not in self.dialect.keymap and part.key not in self.dialect.known and part.key_span:
                p = replace(p, span=part.key_span, path=t.path)
            self.add(p)
        return True

    def build(self, defaults: bool = True) -> LoraSite:
        if not self.open and defaults:
            for key, value in self.dialect.defaults.items():
                if key not in self.params:
                    self.params[key] = Param(key, value, self.span, implicit=True)
        return LoraSite(
            path=self.ex.path,
            dialect=self.dialect,
            span=self.span,
            params=self.params,
            open=self.open,
            unknown_keys=tuple(self.unknown),
            context=self.context,
            notes=tuple(self.notes),
        )
