"""Which base model a Python LoRA site adapts: ``*.from_pretrained(ID)`` traced to the site.

A site is tied to a model load through ``get_peft_model(model, config)`` (also ``PeftModel``,
``LoraModel``, ``inject_adapter_in_model``, ``model.add_adapter(config)``, a TRL trainer's
``model=``/``peft_config=``, Unsloth's ``FastLanguageModel.get_peft_model(model, ...)``), where
``model`` is followed through simple assignments and the usual wrappers
(``prepare_model_for_kbit_training(model)``, ``model.to(...)``). A module-level name bound more
than once (a notebook that loads the fine-tuned model again in a later cell) is followed, for a
use in the module's own code outside loops, to the bindings that can be in effect there: the last
unconditional top-level one before the use, and the conditional ones after it; later bindings
are not. Failing that, the file's single loaded model is used. The id is evaluated like any other value (constants are followed); an id
that is not statically known gives a ``base_model`` whose value is UNKNOWN, so LL902 can say why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import libcst as cst

from ..model import UNKNOWN, LoraSite, Param
from .python_eval import Scope

#: Model classes in transformers: ``AutoModel*``, ``*For<Task>``, ``*Model`` / ``*LMHeadModel``.
_MODEL_CLASS = re.compile(r"^(AutoModel\w*|\w+For[A-Z]\w*|\w+Model)$")
_NOT_MODEL = frozenset({"PreTrainedModel", "PretrainedModel"})
#: Unsloth loaders and the transformers class they stand for (None: decided by the config).
UNSLOTH_LOADERS = {"FastLanguageModel": "AutoModelForCausalLM", "FastModel": None,
                   "FastVisionModel": None}
#: TRL trainers that accept ``model=<id>`` and the class they load it with.
TRL_TRAINERS = {
    "SFTTrainer": "AutoModelForCausalLM", "DPOTrainer": "AutoModelForCausalLM",
    "ORPOTrainer": "AutoModelForCausalLM", "KTOTrainer": "AutoModelForCausalLM",
    "CPOTrainer": "AutoModelForCausalLM", "GRPOTrainer": "AutoModelForCausalLM",
    "BCOTrainer": "AutoModelForCausalLM", "OnlineDPOTrainer": "AutoModelForCausalLM",
    "RLOOTrainer": "AutoModelForCausalLM", "GKDTrainer": "AutoModelForCausalLM",
    "RewardTrainer": "AutoModelForSequenceClassification",
    "PRMTrainer": "AutoModelForTokenClassification",
}
#: Calls that return (a wrapper of) their first argument's model.
_WRAPPERS = frozenset({
    "prepare_model_for_kbit_training", "prepare_model_for_int8_training", "get_peft_model",
    "PeftModel", "PeftModelForCausalLM", "PeftModelForSeq2SeqLM",
    "PeftModelForSequenceClassification", "PeftModelForTokenClassification",
    "PeftModelForQuestionAnswering", "PeftModelForFeatureExtraction", "LoraModel", "compile",
    "for_training", "for_inference",
})
#: Methods of a model that return the model.
_SELF_METHODS = frozenset({"to", "cuda", "cpu", "half", "bfloat16", "float", "eval", "train",
                           "requires_grad_", "to_empty"})
MAX_DEPTH = 24
#: Trace steps one file may take (the corpus's scripts take a few dozen). Names bound several
#: times to each other made the tracing exponential: five bindings a name over 24 names did not
#: finish in a minute. Each name's loads are traced once (memo); past the budget a site's model is
#: not traced at all (a partial trace could name the wrong model).
MAX_TRACE_STEPS = 10_000
#: ``LoraSite.context`` key of the model revision (``from_pretrained(..., revision="v2")``).
REVISION_KEY = "base_model_revision"


@dataclass(frozen=True)
class Load:
    """One ``X.from_pretrained(ID)`` call (or a TRL ``model="ID"`` argument)."""

    node: cst.CSTNode
    model_id: Any  # a str, or UNKNOWN
    key: str
    id_node: cst.BaseExpression
    model_class: str | None
    revision: Any = None  # the ``revision=`` argument, when a known string
    origin: Any = None  # the id's ``Traced`` value: where it is written (a flag's default...)

    @property
    def identity(self) -> tuple:
        return (self.model_id if self.model_id is not UNKNOWN else id(self.node), self.model_class)


def _arg(call: cst.Call, index: int, *names: str) -> cst.Arg | None:
    for a in call.args:
        if a.keyword is not None and a.keyword.value in names:
            return a
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[index] if index < len(positional) else None


def _kwarg(call: cst.Call, name: str) -> cst.Arg | None:
    return next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)


class ModelFinder:
    """Finds model loads and the loads each site's model argument comes from."""

    def __init__(self, extractor, calls: list[tuple[cst.Call, Scope]]) -> None:
        self.ex = extractor
        self.calls = calls
        self.scope_of_call = {id(c): s for c, s in calls}
        self.loads: dict[int, Load] = {}
        for call, scope in calls:
            load = self._load(call, scope)
            if load is not None:
                self.loads[id(call)] = load
        self.bindings: dict[tuple[int, str], list[cst.BaseExpression]] = {}
        self._collect_bindings()
        self.module_scope = extractor.scopes.module_scope
        self.flow = extractor.evaluator.order
        self.steps = MAX_TRACE_STEPS
        self._memo: dict[tuple, list[Load]] = {}
        self._cut = False  # the trace being computed was cut (a cycle, MAX_DEPTH): not memoized
        #: get_peft_model-like calls by the config call they are given: (scope, model arg,
        #: default class) under ``id(config call)``
        self.ties: dict[int, list[tuple[Scope, cst.Arg | None, str | None]]] = {}
        for call, scope in calls:
            pair = self._model_and_config(call, scope)
            if pair is not None and pair[1] is not None:
                for target in self.bound_calls(pair[1].value, scope):
                    self.ties.setdefault(id(target), []).append((scope, pair[0], pair[2]))

    @property
    def exhausted(self) -> bool:
        return self.steps < 0

    # loads ---------------------------------------------------------------------------------
    def _load(self, call: cst.Call, scope: Scope) -> Load | None:
        func = call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "from_pretrained"):
            return None
        owner = self.ex.name_of(func.value, scope)
        if owner is None:
            return None
        parts = owner.split(".")
        cls = parts[-1]
        if parts[0] == "unsloth" and cls in UNSLOTH_LOADERS:
            model_class, names = UNSLOTH_LOADERS[cls], ("model_name",)
        elif parts[0] == "transformers" and _MODEL_CLASS.match(cls) and cls not in _NOT_MODEL:
            model_class, names = cls, ("pretrained_model_name_or_path",)
        else:
            return None
        arg = _arg(call, 0, *names)
        if arg is None:
            return None
        traced = self.ex.evaluator.trace(arg.value, scope)
        value = traced.value
        if value is not UNKNOWN and not isinstance(value, str):
            value = UNKNOWN
        key = arg.keyword.value if arg.keyword is not None else names[0]
        rev = _kwarg(call, "revision")
        revision = self.ex.evaluator.eval(rev.value, scope) if rev is not None else None
        return Load(call, value, key, arg.value, model_class,
                    revision if isinstance(revision, str) else None, traced)

    # bindings ------------------------------------------------------------------------------
    def _collect_bindings(self) -> None:
        for node, scope in self.ex.assignments:
            if type(node) is cst.Assign:
                for t in node.targets:
                    self._bind(scope, t.target, node.value)
            elif node.value is not None:
                self._bind(scope, node.target, node.value)

    def _bind(self, scope: Scope, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.bindings.setdefault((id(scope), target.value), []).append(value)
        elif isinstance(target, cst.Tuple | cst.List) and target.elements:
            # ``model, tokenizer = FastLanguageModel.from_pretrained(...)``
            # (and ``model, info = X.from_pretrained(..., output_loading_info=True)``)
            first = target.elements[0].value
            if isinstance(first, cst.Name) and id(value) in self.loads:
                self.bindings.setdefault((id(scope), first.value), []).append(value)

    # tracing -------------------------------------------------------------------------------
    def trace(self, node: cst.BaseExpression, scope: Scope | None, depth: int = 0,
              seen: frozenset = frozenset()) -> list[Load]:
        """The loads ``node`` may evaluate to (empty when none can be seen)."""
        self.steps -= 1
        if self.steps < 0 or scope is None:
            return []
        if depth > MAX_DEPTH:
            self._cut = True
            return []
        if isinstance(node, cst.Call):
            load = self.loads.get(id(node))
            if load is not None:
                return [load]
            func = node.func
            name = self.ex.name_of(func, scope)
            if name is not None and name.split(".")[-1] in _WRAPPERS:
                arg = _arg(node, 0, "model")
                return self.trace(arg.value, scope, depth + 1, seen) if arg else []
            if isinstance(func, cst.Attribute) and func.attr.value in _SELF_METHODS and name is None:
                return self.trace(func.value, scope, depth + 1, seen)
            return []
        if isinstance(node, cst.Name):
            return self._trace_name(node.value, scope, depth, seen, node)
        return []

    def _in_effect(self, values: list[cst.BaseExpression], use: cst.CSTNode | None) -> list[cst.BaseExpression]:
        return values if self.flow is None else self.flow.in_effect(values, use)

    def _trace_name(self, name: str, scope: Scope | None, depth: int, seen: frozenset,
                    use: cst.CSTNode | None = None) -> list[Load]:
        start = scope
        while scope is not None:
            if scope.is_class and scope is not start:
                scope = scope.parent
                continue
            key = (id(scope), name)
            values = self.bindings.get(key)
            if values:
                narrowed = values
                if scope is self.module_scope and start is self.module_scope:
                    narrowed = self._in_effect(values, use)
                if narrowed is not values:  # (the bindings in effect at the use: part of the key)
                    key = (*key, *(id(v) for v in narrowed))
                if key in self._memo:
                    return self._memo[key]
                if key in seen:
                    self._cut = True
                    return []
                # (bindings in effect at the use all end before it: following them goes back in
                # the file, so ``model = prepare(model)`` is followed without a cycle)
                cut, self._cut = self._cut, False
                found: dict[int, Load] = {}
                for v in narrowed:
                    for load in self.trace(v, scope, depth + 1, seen | {key}):
                        found.setdefault(id(load.node), load)
                out = list(found.values())
                if not self._cut:
                    self._memo[key] = out
                self._cut = self._cut or cut
                return out
            if name in scope.poisoned and name not in scope.assigned:
                return []  # a parameter, a loop variable...: not traceable
            scope = scope.parent
        return []

    def bound_calls(self, node: cst.BaseExpression, scope: Scope, depth: int = 0,
                    seen: set[int] | None = None) -> list[cst.BaseExpression]:
        """What ``node`` may be: itself, the values a name is bound to (in the nearest scope
        that binds it), or what a call of a function of the file returns (each function followed
        once)."""
        if isinstance(node, cst.Call) and depth < MAX_DEPTH:
            from .python_flow import returns_of
            from .python_objects import FunctionRef

            ref = self.ex.evaluator.trace(node.func, scope).value
            seen = set() if seen is None else seen
            if not isinstance(ref, FunctionRef) or id(ref.node) in seen:
                return [node]
            seen.add(id(ref.node))
            out = [node]
            for r in returns_of(self.ex.walk, ref.node) or ():
                out.extend(self.bound_calls(r, ref.scope, depth + 1, seen))
            return out
        if not isinstance(node, cst.Name):
            return [node]
        while scope is not None:
            values = self.bindings.get((id(scope), node.value))
            if values:
                return values
            scope = scope.parent
        return []

    # ties ----------------------------------------------------------------------------------
    def tied_loads(self, config_call: cst.Call) -> list[Load]:
        """Loads given together with ``config_call`` to get_peft_model and its relatives."""
        out: list[Load] = []
        for scope, model_arg, default_class in self.ties.get(id(config_call), ()):
            if model_arg is None:
                continue
            loads = self.trace(model_arg.value, scope)
            if not loads and default_class is not None:  # TRL: model="Qwen/Qwen2.5-0.5B"
                value = self.ex.evaluator.eval(model_arg.value, scope)
                if isinstance(value, str):
                    loads = [Load(model_arg, value, "model", model_arg.value, default_class)]
            out.extend(loads)
        return out

    def _model_and_config(self, call: cst.Call, scope: Scope):
        name = self.ex.name_of(call.func, scope)
        last = name.split(".")[-1] if name else None
        root = name.split(".")[0] if name else None
        if root == "peft" and (last in ("get_peft_model", "LoraModel") or last.startswith("PeftModel")):
            return _arg(call, 0, "model"), _arg(call, 1, "peft_config", "config"), None
        if root == "peft" and last == "inject_adapter_in_model":
            return _arg(call, 1, "model"), _arg(call, 0, "peft_config"), None
        if root == "trl" and last in TRL_TRAINERS:
            return _arg(call, 0, "model"), _kwarg(call, "peft_config"), TRL_TRAINERS[last]
        if name is None and isinstance(call.func, cst.Attribute) and call.func.attr.value == "add_adapter":
            model = cst.Arg(call.func.value)
            config = _arg(call, 0, "adapter_config", "peft_config")
            # PeftModel.add_adapter(adapter_name, peft_config): the config is second
            second = _arg(call, 1, "peft_config")
            return model, (second if second is not None and config is not None
                           and isinstance(config.value, cst.SimpleString) else config), None
        return None

    def single_model(self) -> Load | None:
        distinct = {load.identity: load for load in self.loads.values()}
        return next(iter(distinct.values())) if len(distinct) == 1 else None


def _pick(loads: list[Load]) -> Load | None:
    distinct = {load.identity: load for load in loads}
    return next(iter(distinct.values())) if len(distinct) == 1 else None


def attach_models(extractor, calls: list[tuple[cst.Call, Scope]],
                  found: list[tuple[cst.Call, LoraSite]]) -> list[LoraSite]:
    """``found`` sites with ``base_model`` and ``model_class`` set where the model is known."""
    if not found:
        return []
    finder = ModelFinder(extractor, calls)
    out = []
    for call, site in found:
        if site.dialect.name == "peft":
            load = _pick(finder.tied_loads(call))
        else:  # Unsloth: FastLanguageModel.get_peft_model(model, ...)
            arg = _arg(call, 0, "model")
            scope = finder.scope_of_call.get(id(call))
            load = _pick(finder.trace(arg.value, scope)) if arg is not None else None
        if finder.exhausted:  # the trace was cut short: it may have missed a load
            load = None
        if load is None:
            load = finder.single_model()
        if load is None:
            out.append((site, None))
            continue
        param = Param(load.key, load.model_id, extractor.span(load.id_node))
        if load.origin is not None and load.model_id is not UNKNOWN:
            param = extractor.param(load.key, load.origin, param.span)
        changes = {"base_model": param, "model_class": load.model_class}
        if load.revision is not None:
            changes["context"] = {**site.context, REVISION_KEY: Param(
                "revision", load.revision, extractor.span(load.id_node))}
        out.append((replace(site, **changes), load))
    from .python_training import attach  # the training settings that decide memory

    return attach(extractor, finder, calls, out)
