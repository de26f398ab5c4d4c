"""The training settings of a Python LoRA site (``lora_lint.training``), read from the calls that
decide them: the model load the site is tied to (``from_pretrained(dtype=, quantization_config=,
device_map=)``, Unsloth's ``from_pretrained(max_seq_length=, load_in_4bit=)``, TRL's
``SFTTrainer(model="id")``), the ``BitsAndBytesConfig`` it is given, ``prepare_model_for_kbit_training``
and ``gradient_checkpointing_enable()`` on that model, and the file's one ``TrainingArguments``/TRL
config (or, without one, the defaults of its one trainer). Two configs in one file, a ``**kwargs``
or a value that is not a literal leave the settings they could set unknown.
"""

from __future__ import annotations

from typing import Any

import libcst as cst

from ..model import UNKNOWN, LoraSite, Param, Span
from . import training as T
from .python_eval import Scope

#: transformers' argument classes -> None; TRL's configs -> the objective they train.
ARGS_CLASSES: dict[str, str | None] = {"TrainingArguments": None, "Seq2SeqTrainingArguments": None,
                                       **T.TRL_CONFIGS}
#: Trainers -> the objective they train (``None``: transformers' Trainer, supervised).
TRAINERS = {"Trainer": "sft", "Seq2SeqTrainer": "sft", "SFTTrainer": "sft", "DPOTrainer": "dpo",
            "ORPOTrainer": "orpo", "KTOTrainer": "kto", "CPOTrainer": "cpo", "GRPOTrainer": "grpo",
            "RLOOTrainer": "rloo", "RewardTrainer": "reward", "BCOTrainer": "bco", "OnlineDPOTrainer": "online-dpo",
            "GKDTrainer": "gkd", "PRMTrainer": "prm", "PPOTrainer": "ppo"}


class Calls:
    """One file's calls, as the site's training needs them (built once per file)."""

    def __init__(self, ex, finder, calls: list[tuple[cst.Call, Scope]]) -> None:
        self.ex = ex
        self.finder = finder
        self.args: list[tuple[cst.Call, Scope, str]] = []  # (call, scope, class name)
        self.trainers: list[tuple[cst.Call, Scope, str]] = []
        self.prepares: list[tuple[cst.Call, Scope]] = []
        self.enables: list[tuple[cst.Call, Scope]] = []
        for call, scope in calls:
            name = ex.qualified(call.func)
            root, last = (name.split(".")[0], name.split(".")[-1]) if name else (None, None)
            if root in ("transformers", "trl") and last in ARGS_CLASSES and (root == "trl" or last not in T.TRL_CONFIGS):
                self.args.append((call, scope, last))
            elif root in ("transformers", "trl", "unsloth") and last in TRAINERS:
                self.trainers.append((call, scope, last))
            elif root == "peft" and last in ("prepare_model_for_kbit_training", "prepare_model_for_int8_training"):
                self.prepares.append((call, scope))
            elif (name is None and isinstance(call.func, cst.Attribute)
                  and call.func.attr.value == "gradient_checkpointing_enable"):
                self.enables.append((call, scope))

    # values ----------------------------------------------------------------------------------
    def value(self, node: cst.BaseExpression, scope: Scope | None, depth: int = 0) -> Any:
        """A literal, or a dotted name of torch / transformers (``torch.bfloat16``), following a
        name bound once."""
        if depth > 8:
            return UNKNOWN
        if isinstance(node, cst.Attribute):
            q = self.ex.qualified(node)
            if q is not None and q.split(".")[0] in ("torch", "transformers", "bitsandbytes"):
                return q
        if isinstance(node, cst.Name) and scope is not None:
            bound = self._bound(node.value, scope)
            if bound is not None and not isinstance(bound, (cst.SimpleString, cst.Integer, cst.Float)):
                return self.value(bound, scope, depth + 1)
        return self.ex.evaluator.eval(node, scope)

    def _bound(self, name: str, scope: Scope | None) -> cst.BaseExpression | None:
        while scope is not None:
            values = scope.assigned.get(name)
            if values:
                return values[0] if len(values) == 1 and name not in scope.poisoned else None
            if name in scope.poisoned:
                return None
            scope = scope.parent
        return None

    def call_of(self, node: cst.BaseExpression, scope: Scope | None) -> cst.Call | None:
        """The call ``node`` is, or the call the name ``node`` is bound to once."""
        for _ in range(8):
            if isinstance(node, cst.Call):
                return node
            if not isinstance(node, cst.Name):
                return None
            bound = self._bound(node.value, scope)
            if bound is None:
                return None
            node = bound
        return None

    def lookup(self, call: cst.Call, scope: Scope | None) -> tuple[T.Lookup, bool]:
        """The call's keyword arguments as a Lookup, and whether no ``**kwargs`` may add more."""
        kwargs = {a.keyword.value: a for a in call.args if a.keyword is not None}
        closed = not any(a.star == "**" for a in call.args)

        def get(key: str) -> Param | None:
            a = kwargs.get(key)
            if a is None:
                return None
            k, v = self.ex.span(a.keyword), self.ex.span(a.value)
            return Param(key, self.value(a.value, scope), Span(k.line, k.col, v.end_line, v.end_col))

        return get, closed

    def traces_to(self, node: cst.BaseExpression, scope: Scope | None, load) -> bool:
        if load is None:
            return False
        return any(found.node is load.node for found in self.finder.trace(node, scope))


def _arg(call: cst.Call, index: int, name: str) -> cst.Arg | None:
    for a in call.args:
        if a.keyword is not None and a.keyword.value == name:
            return a
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[index] if index < len(positional) else None


def _unsloth_owner(ex, load) -> bool:
    node = load.node if load is not None else None
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute):
        return False
    owner = ex.qualified(node.func.value)
    return owner is not None and owner.startswith("unsloth.")


def read(calls: Calls, site: LoraSite, load) -> T.Entries:
    """The training settings of ``site``, whose model comes from ``load`` (None: not seen)."""
    ex = calls.ex
    span = site.span
    out: T.Entries = {}
    unsloth = _unsloth_owner(ex, load) or site.dialect.name.startswith("unsloth")
    one_model = load is not None and len({x.identity for x in calls.finder.loads.values()}) <= 1

    # the training arguments: the file's one config, else its one trainer's defaults
    args = calls.args
    trainer = calls.trainers[0] if len({id(c) for c, _, _ in calls.trainers}) == 1 else None
    objective = TRAINERS.get(trainer[2]) if trainer else None
    if len(args) == 1:
        call, scope, cls = args[0]
        get, closed = calls.lookup(call, scope)
        trl = ARGS_CLASSES[cls]
        out.update(T.trainer_arguments(get, span, trl=trl, closed=closed))
        if trl is None:
            out["objective"] = Param("objective", objective or "sft", span, implicit=True)
        init = get("model_init_kwargs")
        init_kwargs = init.value if init is not None and isinstance(init.value, dict) else None
    elif not args and trainer is not None and _arg(trainer[0], 99, "args") is None:
        cls = trainer[2]
        trl = objective if cls not in ("Trainer", "Seq2SeqTrainer") else None
        out.update(T.trainer_arguments(lambda _k: None, span, trl=trl))
        if trl is None:
            out["objective"] = Param("objective", "sft", span, implicit=True)
        init_kwargs = None
    else:
        init_kwargs = None
    if trainer is not None:  # older TRL took the length on the trainer
        get, _ = calls.lookup(trainer[0], trainer[1])
        p = get("max_seq_length") or get("max_length")
        if p is not None:
            out["seq_len"] = Param(p.key, T.int_value(p.value) if p.known else UNKNOWN, p.span)

    # the model load
    if load is not None and isinstance(load.node, cst.Call):
        scope = calls.finder.scope_of_call.get(id(load.node))
        get, closed = calls.lookup(load.node, scope)
        if unsloth:
            out.update(_unsloth_load(get, span, closed, out))
        else:
            out.update(T.model_load(get, span, closed))
            q = get("quantization_config")
            if q is not None:
                out.update(_bnb(calls, load.node, scope, q, span))
            elif "quantization" not in out and closed:
                out["quantization"] = Param("quantization_config", 0, span, implicit=True)
            dm, quant = out.get("device_map"), out.get("quantization")
            if dm is not None and dm.implicit and quant is not None and quant.value:
                # bitsandbytes places a quantized model on the current GPU when no map is given
                out["device_map"] = Param(dm.key, "gpu" if quant.value is not UNKNOWN else UNKNOWN, dm.span, implicit=True)
        out.setdefault("calibrated", Param("from_pretrained", not unsloth, span, implicit=True))
    elif load is not None:  # TRL's SFTTrainer(model="id"): loaded with args.model_init_kwargs
        kw = init_kwargs or {}
        dtype = kw.get("dtype", kw.get("torch_dtype", "float32"))
        out["dtype"] = Param("model_init_kwargs", T.dtype_name(dtype) or "fp32", span, implicit=True)
        out["quantization"] = Param("model_init_kwargs", 0 if "quantization_config" not in kw else UNKNOWN,
                                    span, implicit=True)
        out["device_map"] = Param("model_init_kwargs", T.device_map_kind(kw.get("device_map")), span, implicit=True)
        out["launch_sharding"] = Param("model", True, span, implicit=True)
        out["calibrated"] = Param("model", True, span, implicit=True)

    # what is done to the model before training
    for call, scope in calls.prepares:
        model = _arg(call, 0, "model")
        if model is None or not (one_model or calls.traces_to(model.value, scope, load)):
            continue
        where = Param("prepare_model_for_kbit_training", True, ex.span(call))
        out["upcast_frozen"] = where
        gc = _arg(call, 1, "use_gradient_checkpointing")
        on = calls.value(gc.value, scope) if gc is not None else True
        if on is UNKNOWN or bool(on):
            out["gradient_checkpointing"] = Param(where.key, True if on is not UNKNOWN else UNKNOWN, where.span)
    for call, scope in calls.enables:
        owner = call.func.value if isinstance(call.func, cst.Attribute) else None
        if owner is not None and (one_model or calls.traces_to(owner, scope, load)):
            out["gradient_checkpointing"] = Param("gradient_checkpointing_enable", True, ex.span(call))
    if unsloth:
        mode = site.context.get("use_gradient_checkpointing")
        v = (mode.value if mode.known else UNKNOWN) if mode is not None else "unsloth"
        on = UNKNOWN if v is UNKNOWN else v is True or v == "unsloth" or (isinstance(v, str) and v.lower() == "true")
        where = mode or Param("use_gradient_checkpointing", None, span, implicit=True)
        out["gradient_checkpointing"] = Param(where.key, on, where.span, implicit=where.implicit)
        out["checkpoint_offload"] = Param(where.key, UNKNOWN if v is UNKNOWN else v == "unsloth", where.span,
                                          implicit=where.implicit)
        out["chunked_loss"] = Param("unsloth", True, span, implicit=True)  # Unsloth's fused cross-entropy
    return out


def _unsloth_load(get: T.Lookup, span: Span, closed: bool, args: T.Entries) -> T.Entries:
    """``FastLanguageModel.from_pretrained`` (unsloth main at 015bdef0d, models/loader.py:
    ``max_seq_length=2048, dtype=None`` (bf16, or fp16 without it: 16 bits), ``load_in_4bit=True``
    (nf4, double quantization), ``load_in_8bit``, ``load_in_16bit``, ``full_finetuning``,
    ``device_map="sequential"``)."""
    r = T.Reading(get, span, closed)
    r.read("dtype", "dtype", lambda v: T.dtype_name(v) or "bf16", "bf16")
    four, eight = r.value("load_in_4bit", default=True), r.value("load_in_8bit", default=False)
    sixteen, full = r.value("load_in_16bit", default=False), r.value("full_finetuning", default=False)
    where = r.first("load_in_4bit", "load_in_8bit", "load_in_16bit", "full_finetuning")
    if UNKNOWN in (four, eight, sixteen, full):
        bits: Any = UNKNOWN
    else:
        bits = 0 if (sixteen or full) else 8 if eight else 4 if four else 0
    if where is not None:
        r.put("quantization", where, bits)
    else:
        r.default("quantization", "load_in_4bit", bits)
    if bits == 4:
        dtype = r.out["dtype"].value
        r.out.update({"quant_type": Param("load_in_4bit", "nf4", span, implicit=True),
                      "double_quant": Param("load_in_4bit", True, span, implicit=True),
                      "compute_dtype": Param("dtype", dtype, span, implicit=True)})
    seq = r.first("max_seq_length")
    if "seq_len" not in args or args["seq_len"].implicit:
        if seq is not None:
            r.put("seq_len", seq, T.int_value(seq.value) if seq.known else UNKNOWN)
        else:
            r.default("seq_len", "max_seq_length", 2048)
    r.read("device_map", "device_map", T.device_map_kind, "split")  # "sequential"
    r.default("launch_sharding", "device_map", False)  # Unsloth shards nothing
    return r.out


def _bnb(calls: Calls, load_call: cst.Call, scope: Scope | None, q: Param, span: Span) -> T.Entries:
    """``quantization_config=BitsAndBytesConfig(...)`` (or a name bound to one)."""
    arg = next(a for a in load_call.args if a.keyword is not None and a.keyword.value == "quantization_config")
    call = calls.call_of(arg.value, scope)
    name = calls.ex.qualified(call.func) if call is not None else None
    if call is None or name is None or name.split(".")[-1] != "BitsAndBytesConfig":
        if q.value is None:
            return {"quantization": Param(q.key, 0, q.span)}
        return {"quantization": Param(q.key, UNKNOWN, q.span)}
    cscope = calls.finder.scope_of_call.get(id(call), scope)
    get, closed = calls.lookup(call, cscope)
    out = T.bits_and_bytes(get, span, closed)
    p = out.get("quantization")
    if p is not None and p.implicit:
        out["quantization"] = Param(q.key, p.value, q.span)
    return out


def attach(ex, finder, calls: list[tuple[cst.Call, Scope]], pairs: list[tuple[LoraSite, Any]]) -> list[LoraSite]:
    """``(site, load)`` pairs -> the sites with their training settings in ``context``."""
    from dataclasses import replace

    if not pairs:
        return []
    found = Calls(ex, finder, calls)
    out = []
    for site, load in pairs:
        entries = read(found, site, load)
        out.append(replace(site, context={**site.context, **entries}) if entries else site)
    return out
