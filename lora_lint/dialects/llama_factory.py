"""LLaMA-Factory (``llamafactory-cli train x.yaml``), the v0 flat format.

From ``hparams/finetuning_args.py`` (``LoraArguments``, ``FinetuningArguments.__post_init__``),
``hparams/parser.py`` and ``model/adapter.py``: ``finetuning_type`` defaults to lora;
``lora_rank`` 8; ``lora_alpha`` null or 0 means 2·rank; ``lora_target`` is a comma list
(stripped) whose default ``all`` means every linear layer but the head; ``additional_target``
is ``modules_to_save``; ``pissa_init`` sets ``init_lora_weights`` to ``pissa_niter_<pissa_iter>``
(``pissa`` for -1). A training run with ``adapter_name_or_path`` resumes that adapter and keeps
its saved settings unless ``create_new_adapter``. Unknown keys make LLaMA-Factory refuse to start.
"""

from __future__ import annotations

import re

from ..model import UNKNOWN, LoraSite, Param
from ..sources.yaml_nodes import Doc, Map, span
from ._base import (
    SiteBuilder,
    agree,
    apply_keymap,
    check_duplicates,
    check_unknown,
    dead_keys,
    framework,
    names,
    param,
    split_param,
    truthy,
)

NAME = "llama-factory"
KEYMAP = {
    "lora_rank": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_target": "target_modules",
    "additional_target": "modules_to_save",
    "use_rslora": "use_rslora",
    "use_dora": "use_dora",
    "pissa_init": "init_lora_weights",
}
KNOWN = {"finetuning_type", "loraplus_lr_ratio", "loraplus_lr_embedding", "pissa_iter", "pissa_convert"}
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()),
    defaults={"r": 8, "target_modules": "all-linear", "lora_dropout": 0.0, "bias": "none", "task_type": "CAUSAL_LM"},
)
METHODS = ("lora", "oft", "freeze", "full")
LORA_ONLY = ("loraplus_lr_ratio", "use_rslora", "use_dora", "pissa_init")
#: Pre-quantized (PTQ) checkpoints, named so by convention; DoRA cannot train on them.
PTQ = re.compile(r"gptq|awq|aqlm|eetq|exl2", re.I)
ZERO3 = re.compile(r"z(ero)?[_-]?3", re.I)


def detect(doc: Doc) -> bool:
    top = doc.top
    if top is None:
        return False
    if "finetuning_type" in top or "lora_target" in top:
        return True
    if "lora_rank" in top and "template" in top:
        return True
    return "model_name_or_path" in top and "stage" in top and any(
        k in top for k in ("template", "cutoff_len", "dataset", "do_train"))


def sites(doc: Doc) -> list[LoraSite]:
    top = doc.top
    method = top.value("finetuning_type", "lora")
    explicit = dead_keys(top, [*KEYMAP, "loraplus_lr_ratio"], doc)
    training = truthy(top.value("do_train"))
    if isinstance(method, str) and method != "lora":
        return _not_lora(doc, top, method, explicit)
    if not training and not explicit:
        return []  # chat, predict, merge or export with an adapter: nothing is trained
    anchor = top.get("finetuning_type") or (explicit[0] if explicit else None) or next(
        (top.get(k) for k in ("stage", "do_train", "model_name_or_path") if k in top), next(iter(top)))
    b = SiteBuilder(doc, DIALECT, span(anchor.key_node))
    b.ctx("adapter", _ctx(doc, top, "finetuning_type"))
    for name, key in (("quantization", "quantization_bit"), ("stage", "stage"), ("learning_rate", "learning_rate"),
                      ("resume_adapter", "adapter_name_or_path"), ("create_new_adapter", "create_new_adapter")):
        b.ctx(name, _ctx(doc, top, key))
    model = top.get("model_name_or_path")
    if model is not None and isinstance(top.value("model_name_or_path"), str):
        b.base_model = param(doc, model)
    if any(truthy(top.value(k)) for k in ("resize_vocab", "new_special_tokens", "add_tokens", "add_special_tokens")):
        b.resizes_vocab = True
    resumed = top.value("adapter_name_or_path")
    if training and truthy(resumed) and not truthy(top.value("create_new_adapter")):
        b.deactivate()
        settings = [e.key for e in explicit]
        if settings:
            b.note("LL010", param(doc, top.get("adapter_name_or_path")), (
                f"LLaMA-Factory resumes training the adapter in `adapter_name_or_path` and keeps its saved "
                f"LoRA settings: {names(settings)} {agree(settings, 'is', 'are')} ignored; set "
                f"`create_new_adapter: true` to train a new adapter with {agree(settings, 'it', 'them')}, or "
                f"remove {agree(settings, 'it', 'them')}"))
    else:
        _params(b, top)
    _checks(b, top)
    check_unknown(b, top, KEYMAP, KNOWN)
    check_duplicates(b, top, KEYMAP)
    return [b.build()]


def _ctx(doc: Doc, top: Map, key: str) -> Param | None:
    e = top.get(key)
    return param(doc, e) if e is not None else None


def _params(b: SiteBuilder, top: Map) -> None:
    doc = b.doc
    apply_keymap(b, top, KEYMAP, skip=("lora_alpha", "lora_target", "additional_target", "pissa_init"))
    b.defaults("r")
    rank = b.params["r"].value
    alpha = top.get("lora_alpha")
    # 2 x rank, when the rank is a valid one (a bad rank is the finding, not its doubled alpha)
    twice = 2 * rank if isinstance(rank, int) and not isinstance(rank, bool) and rank > 0 else UNKNOWN
    if alpha is not None and top.value("lora_alpha") not in (None, 0):
        b.set("lora_alpha", param(doc, alpha))
    else:
        b.default("lora_alpha", "lora_alpha", twice)
        if alpha is not None and top.value("lora_alpha") == 0:
            b.note("LL010", param(doc, alpha), (
                f"`lora_alpha: 0` is read as unset: LLaMA-Factory uses 2 × lora_rank"
                f"{f' = {twice}' if twice is not UNKNOWN else ''} instead; write that value, or remove the key"))
    target = top.get("lora_target")
    if target is not None and top.value("lora_target") is not None:
        p = split_param(doc, target)
        if p.value == ["all"]:
            p = Param(p.key, "all-linear", p.span)
        b.set("target_modules", p)
    b.defaults("target_modules")
    extra = top.get("additional_target")
    if extra is not None and top.value("additional_target") is not None:
        b.set("modules_to_save", split_param(doc, extra))
    pissa = top.get("pissa_init")
    if pissa is not None and truthy(top.value("pissa_init")):
        it = top.value("pissa_iter", 16)
        init = "pissa" if it == -1 else (f"pissa_niter_{it}" if isinstance(it, int) else UNKNOWN)
        b.set("init_lora_weights", param(doc, pissa, init))
    b.defaults()


def _checks(b: SiteBuilder, top: Map) -> None:
    doc, val = b.doc, top.value
    for key in ("use_galore", "use_apollo", "use_badam"):
        if truthy(val(key)):
            b.note("LL009", param(doc, top.get(key)), (
                f"`{key}: true` with LoRA: LLaMA-Factory refuses to start (\"Cannot use LoRA with GaLore, "
                "APOLLO or BAdam together\"); use finetuning_type: full for it, or turn it off"))
    if truthy(val("pissa_init")):
        stage = val("stage", "sft")
        ref = stage == "dpo" and val("pref_loss", "sigmoid") not in ("orpo", "simpo")
        if stage in ("ppo", "kto") or ref:
            b.note("LL009", param(doc, top.get("pissa_init")), (
                f"`pissa_init` with stage {stage}: LLaMA-Factory refuses to start (\"Cannot use PiSSA for "
                "current training stage\"); remove pissa_init"))
    model, speed = val("model_name_or_path"), val("deepspeed")
    ptq = PTQ.search(model) if isinstance(model, str) else None
    if truthy(val("use_dora")) and ptq:
        b.note("LL009", param(doc, top.get("use_dora")), (
            f"`use_dora: true` on a {ptq.group(0).upper()} checkpoint: LLaMA-Factory refuses to start (DoRA is "
            "not compatible with PTQ-quantized models); use plain LoRA, or a bitsandbytes quantization_bit"))
    if truthy(val("pissa_init")) and isinstance(speed, str) and ZERO3.search(speed):
        b.note("LL009", param(doc, top.get("pissa_init")), (
            "`pissa_init` with DeepSpeed ZeRO-3: LLaMA-Factory refuses to start (\"PiSSA is incompatible with "
            "DeepSpeed ZeRO-3\"); use ZeRO-2, or initialise PiSSA first"))
    bits = val("quantization_bit")
    if bits is None or bits is UNKNOWN:
        return
    adapters = val("adapter_name_or_path")
    count = len([a for a in adapters.split(",") if a.strip()]) if isinstance(adapters, str) else (
        len(adapters) if isinstance(adapters, list) else 0)
    checks = (
        ("pissa_init", truthy(val("pissa_init")), "PiSSA cannot be initialised on a quantized model "
         "(use scripts/pissa_init.py first)"),
        ("resize_vocab", truthy(val("resize_vocab")), "cannot resize the embeddings of a quantized model"),
        ("create_new_adapter", truthy(val("create_new_adapter")) and count > 0,
         "cannot create a new adapter upon a quantized model"),
        ("adapter_name_or_path", count > 1, "a quantized model only accepts a single adapter: merge them first"),
    )
    for key, bad, why in checks:
        if bad:
            b.note("LL009", param(doc, top.get(key)), (
                f"`{key}` with `quantization_bit: {bits}`: LLaMA-Factory refuses to start ({why})"))


def _not_lora(doc: Doc, top: Map, method: str, explicit) -> list[LoraSite]:
    if not explicit and "lora" not in method.lower():
        return []
    entry = top.get("finetuning_type")
    b = SiteBuilder(doc, DIALECT, span(entry.key_node))
    b.deactivate()
    if method not in METHODS:
        b.note("LL009", param(doc, entry), (
            f"`finetuning_type: {method}` is not a LLaMA-Factory method (lora, oft, freeze or full): it refuses "
            "to start (\"Invalid fine-tuning method\")" + ("; write `lora`" if "lora" in method.lower() else "")))
    else:
        for e in explicit:
            if e.key in LORA_ONLY:
                b.note("LL009", param(doc, e), (
                    f"`{e.key}` with `finetuning_type: {method}`: LLaMA-Factory refuses to start (\"`{e.key}` is "
                    "only valid for LoRA training\"); remove it, or set finetuning_type: lora"))
        ignored = [e.key for e in explicit if e.key not in LORA_ONLY]
        if ignored:
            b.note("LL010", param(doc, entry), (
                f"`finetuning_type: {method}` trains without LoRA, so {names(ignored)} "
                f"{agree(ignored, 'is', 'are')} ignored: set finetuning_type: lora, or remove "
                f"{agree(ignored, 'it', 'them')}"))
    check_unknown(b, top, KEYMAP, KNOWN)
    return [b.build()]
