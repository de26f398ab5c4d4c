"""Python source: peft ``LoraConfig(...)`` calls and Unsloth ``Fast*.get_peft_model(...)`` calls.

Read with libcst, never imported. Names are resolved through the file's imports, so
``from peft import LoraConfig as LC``, ``import peft`` / ``peft.LoraConfig`` and
``from peft.tuners.lora import LoraConfig`` are all recognised, and a class of the user's own
that happens to be called ``LoraConfig`` is not.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from ..dialect import Dialect
from ..model import UNKNOWN, LoraSite, Note, Param, Span
from ..peft_facts import facts, lora_fields, suggest
from ..source_file import SourceFile
from ._base import PYTHON_MARKERS as MARKERS
from ._base import SourceError
from .python_eval import Evaluator, Flow, Scope, ScopeBuilder

#: Keyword arguments of Unsloth's get_peft_model that are not LoraConfig fields.
UNSLOTH_KWARGS = frozenset({
    "model", "use_gradient_checkpointing", "random_state", "max_seq_length", "temporary_location",
    "finetune_last_n_layers", "qat_scheme", "finetune_vision_layers", "finetune_language_layers",
    "finetune_attention_modules", "finetune_mlp_modules", "finetune_audio_layers",
})
#: Unsloth's own defaults (unsloth/models/llama.py get_peft_model).
UNSLOTH_DEFAULTS: dict[str, Any] = {
    "r": 16,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "bias": "none",
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}
UNSLOTH_VISION_DEFAULTS: dict[str, Any] = {"r": 16, "lora_alpha": 16, "lora_dropout": 0.0, "bias": "none"}
_FIELDS = {f: f for f in lora_fields()}
_UNSLOTH_WHAT = "a field of peft's LoraConfig or an argument of Unsloth's get_peft_model"

#: ``LoraConfig(...)``: values reach peft exactly as written, a string target_modules included.
PEFT = Dialect(
    name="peft", keymap=_FIELDS, what="a field of peft's LoraConfig", as_written=True, python=True,
    string_targets=True, peft_keys=True, passer=None,
)
#: ``FastLanguageModel.get_peft_model(...)``: Unsloth's defaults; it walks target names itself.
UNSLOTH = Dialect(
    name="unsloth", keymap=_FIELDS, what=_UNSLOTH_WHAT, defaults=UNSLOTH_DEFAULTS, known=UNSLOTH_KWARGS,
    as_written=True, python=True, peft_keys=True, passer="Unsloth",
)
#: ``FastModel``/``FastVisionModel.get_peft_model(...)``: a string target_modules reaches peft.
UNSLOTH_VISION = Dialect(
    name="unsloth-vision", keymap=_FIELDS, what=_UNSLOTH_WHAT, defaults=UNSLOTH_VISION_DEFAULTS,
    known=UNSLOTH_KWARGS, as_written=True, python=True, string_targets=True, peft_keys=True, passer="Unsloth",
)
DIALECTS = {d.name: d for d in (PEFT, UNSLOTH, UNSLOTH_VISION)}


def tree(source: SourceFile) -> tuple[cst.Module, Any]:
    """``(module, positions)`` of ``source``: the reader's own parse when it read the file."""
    extractor = source.kept(Extractor)
    if extractor is not None:
        return extractor.module, extractor.positions
    module = parse(source)
    return module, positions_of(module)


def sites(source: SourceFile) -> list[LoraSite]:
    text = source.text
    if not any(marker in text for marker in MARKERS):
        return []
    module = parse(source)
    extractor = Extractor(source.path, module)
    found = extractor.sites()
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


def span_of(rng: CodeRange) -> Span:
    return Span(rng.start.line, rng.start.column + 1, rng.end.line, rng.end.column + 1)


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


def _dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        left = _dotted(node.value)
        return None if left is None else f"{left}.{node.attr.value}"
    return None


class Calls(cst.CSTVisitor):
    """Collects calls with the scope they appear in."""

    def __init__(self, scopes: ScopeBuilder) -> None:
        self.scopes = scopes
        self.stack: list[Scope] = []
        self.calls: list[tuple[cst.Call, Scope]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        scope = self.scopes.scope_of.get(node)
        if scope is not None:
            self.stack.append(scope)
        if isinstance(node, cst.Call) and self.stack:
            self.calls.append((node, self.stack[-1]))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if original_node in self.scopes.scope_of:
            self.stack.pop()


def _method(call: cst.Call) -> str | None:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


class Walk(cst.CSTVisitor):
    """One libcst traversal, recorded so that more visitors can replay it.

    libcst rebuilds every node on every ``visit`` (and calls two attribute hooks per field);
    replaying the recorded order calls the same ``on_visit``/``on_leave`` methods in the same
    order, children skipped when ``on_visit`` says so, for a fraction of the cost.
    """

    def __init__(self, module: cst.Module) -> None:
        self.events: list[list] = []  # [node, index of its leave event]; leave events: [node, -1]
        self._open: list[int] = []
        module.visit(self)

    def on_visit(self, node: cst.CSTNode) -> bool:
        self._open.append(len(self.events))
        self.events.append([node, 0])
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.events[self._open.pop()][1] = len(self.events)
        self.events.append([original_node, -1])

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        pass

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        pass

    def replay(self, visitor: cst.CSTVisitor) -> None:
        """``module.visit(visitor)`` for visitors without attribute hooks (``visit_X_attr``)."""
        events, i, n = self.events, 0, len(self.events)
        while i < n:
            node, end = events[i]
            if end < 0:
                visitor.on_leave(node)
            elif not visitor.on_visit(node):
                visitor.on_leave(node)
                i = end
            i += 1


def positions_of(module: cst.Module):
    """``MetadataWrapper(module).resolve(PositionProvider)`` without the empty batched visit of
    the whole tree that ``resolve`` also makes."""
    try:
        provider = PositionProvider()
        provider._gen_impl(module)
        return provider._computed
    except Exception:  # another libcst: the public way
        return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


class Extractor:
    def __init__(self, path: str, module: cst.Module) -> None:
        self.path = path
        self.module = module
        self._positions = None
        self._calls: list = []
        self._loops: set | None = None
        self.walk = Walk(module)
        self.imports = Imports()
        self.walk.replay(self.imports)
        self.scopes = ScopeBuilder()
        self.walk.replay(self.scopes)
        self.evaluator = Evaluator(self.scopes, self._attribute, Flow(module, lambda: self.positions))
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

    def _attribute(self, node: cst.BaseExpression) -> Any:
        """``TaskType.CAUSAL_LM`` (peft's enum) evaluates to the member name."""
        if isinstance(node, cst.Attribute):
            owner = self.qualified(node.value)
            if owner is not None and owner.startswith("peft") and owner.endswith(".TaskType"):
                return node.attr.value
        return UNKNOWN

    def kind(self, call: cst.Call) -> str | None:
        name = self.qualified(call.func)
        if name is None:
            return None
        parts = name.split(".")
        if parts[0] == "peft" and parts[-1] == "LoraConfig":
            return "peft"
        if parts[0] == "rapidfireai" and parts[-1] == "RFLoraConfig":
            # rapidfireai's subclass of peft's LoraConfig: a plain value goes to LoraConfig as
            # written, a ``List``/``Range`` one is a search axis (unknown here)
            return "peft"
        if parts[0] == "unsloth" and parts[-1] == "get_peft_model" and len(parts) >= 3:
            cls = parts[-2]
            if cls.startswith("Fast"):
                return "unsloth-vision" if cls in ("FastModel", "FastVisionModel") else "unsloth"
        return None

    # sites -------------------------------------------------------------------------------------
    def sites(self) -> list[LoraSite]:
        calls = Calls(self.scopes)
        self.walk.replay(calls)
        self._calls = calls.calls
        found = []
        for call, scope in calls.calls:
            kind = self.kind(call)
            if kind is not None:
                found.append((call, self.site(call, scope, kind)))
        if found:
            from .python_templates import chat_template

            template = chat_template(self, calls.calls)
            if template is not None:
                found = [(c, replace(s, context={**s.context, "chat_template": template})) for c, s in found]
        if found and any(_method(c) == "resize_token_embeddings" for c, _ in calls.calls):
            # the file grows the vocabulary: LL306 checks that the new rows get trained
            found = [(c, replace(s, resizes_vocab=True)) for c, s in found]
        from .python_models import attach_models

        return attach_models(self, calls.calls, found)

    @property
    def positions(self):
        """Line and column of every node (one code-generation pass, made only when needed)."""
        if self._positions is None:
            self._positions = positions_of(self.module)
        return self._positions

    def span(self, node: cst.CSTNode) -> Span:
        return span_of(self.positions[node])

    def param(self, key: str, node: cst.BaseExpression, scope: Scope, span: Span) -> Param:
        value = self.evaluator.eval(node, scope)
        items: tuple[Param, ...] = ()
        if isinstance(node, cst.List | cst.Tuple | cst.Set) and isinstance(value, list | tuple | set):
            items = tuple(
                Param(key, self.evaluator.eval(el.value, scope), self.span(el.value))
                for el in node.elements
            )
        elif isinstance(node, cst.Dict) and isinstance(value, dict):
            items = tuple(
                Param(str(self.evaluator.eval(el.key, scope)), self.evaluator.eval(el.value, scope),
                      self.span(el.value))
                for el in node.elements
                if isinstance(el, cst.DictElement)
            )
        return Param(key, value, span, items)

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
                return Param(p.key, None, p.span)
        if self._loops is None:
            loops = mis.Loops()
            self.walk.replay(loops)
            self._loops = loops.in_loop
        value, later = mis.later_change(key, node, call, scope, self._calls, self._loops)
        for change in later:
            name = node.value
            notes.append(Note("LL013", p, (
                f"`{name}.{change.func.attr.value}(...)` on line {self.span(change).line} changes {name} after"
                f" LoraConfig(...) copied it into a set: peft never sees that change; make it before LoraConfig(...)")))
        return p if value is None else Param(p.key, value, p.span)

    def site(self, call: cst.Call, scope: Scope, kind: str) -> LoraSite:
        dialect = DIALECTS[kind]
        fields = dialect.keymap
        site_span = self.span(call)
        params: dict[str, Param] = {}
        context: dict[str, Param] = {}
        unknown: list[tuple[Param, str | None]] = []
        notes: list[Note] = []
        is_open = False
        positional = 0
        for arg in call.args:
            if arg.star:  # *args or **kwargs: anything may be set
                is_open = True
                continue
            if arg.keyword is None:
                positional += 1
                if kind == "peft" or positional > 1:  # unsloth's first positional is the model
                    is_open = True
                continue
            key = arg.keyword.value
            k, v = self.span(arg.keyword), self.span(arg.value)
            span = Span(k.line, k.col, v.end_line, v.end_col)
            p = self.param(key, arg.value, scope, span)
            if key in fields and kind == "peft":
                p = self.misleading(key, p, arg.value, call, scope, notes)
            if key in fields:
                params[key] = p
            elif key in dialect.known:
                context[key] = p
            else:
                unknown.append((p, suggest(key, set(fields) | dialect.known)))
        if not is_open:
            for key, value in dialect.defaults.items():
                if key not in params:
                    params[key] = Param(key, value, site_span, implicit=True)
        site = LoraSite(
            path=self.path,
            dialect=dialect,
            span=site_span,
            params=params,
            open=is_open,
            unknown_keys=tuple(unknown),
            context=context,
            notes=tuple(notes),
        )
        if kind != "peft":
            from .unsloth import redirect

            site = redirect(site)
        return site
