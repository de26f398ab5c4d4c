"""Unsloth Studio and the ``unsloth`` CLI: sections ``model``, ``training:``, ``lora:``, ``data:``.

From ``unsloth_cli/config.py`` (pydantic, ``extra="forbid"``: an unknown key is refused):
``lora:`` defaults lora_r=64, lora_alpha=16, lora_dropout=0.0 and the seven Llama projections as
a comma string (split and stripped); ``use_loftq`` means ``init_lora_weights="loftq"``;
``training.training_type`` (lora|full) and ``training.load_in_4bit`` (default true). Studio
refuses rsLoRA, LoftQ and DoRA together, or with full fine-tuning; Unsloth refuses LoftQ on a
4-bit model.
"""

from __future__ import annotations

from ..model import LoraSite, Param
from ..sources.yaml_nodes import Doc, span
from ._base import (
    SiteBuilder,
    agree,
    apply_keymap,
    check_duplicates,
    check_unknown,
    coerce_numbers,
    dead_keys,
    framework,
    names,
    param,
    split_param,
    truthy,
)

NAME = "unsloth-studio"
KEYMAP = {
    "lora_r": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "target_modules": "target_modules",
    "use_rslora": "use_rslora",
    "use_dora": "use_dora",
    "use_loftq": "init_lora_weights",
}
KNOWN = {"vision_all_linear", "finetune_vision_layers", "finetune_language_layers",
         "finetune_attention_modules", "finetune_mlp_modules"}
LLAMA = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()) | {"loftq_config"},
    defaults={"r": 64, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": LLAMA, "bias": "none"},
)
VARIANTS = ("use_rslora", "use_loftq", "use_dora")


def detect(doc: Doc) -> bool:
    top = doc.top
    lora = top.sub("lora") if top is not None else None
    if lora is None or not any(k in lora for k in ("lora_r", "lora_alpha", "target_modules", "use_rslora")):
        return False
    return any(top.sub(k) is not None for k in ("training", "data", "logging", "inference")) or any(
        k in lora for k in ("use_loftq", "vision_all_linear", *KNOWN))


def sites(doc: Doc) -> list[LoraSite]:
    top = doc.top
    lora, training = top.sub("lora"), top.sub("training")
    kind = training.value("training_type", "lora") if training else "lora"
    b = SiteBuilder(doc, DIALECT, span(top.get("lora").key_node))
    if isinstance(top.value("model"), str):
        b.base_model = param(doc, top.get("model"))
    four_bit = training.value("load_in_4bit", True) if training else True
    if training is not None:
        for name, key in (("adapter", "training_type"), ("load_in_4bit", "load_in_4bit"),
                          ("learning_rate", "learning_rate")):
            e = training.get(key)
            if e is not None:
                b.ctx(name, param(doc, e))
    variants = [k for k in VARIANTS if truthy(lora.value(k))]
    if len(variants) > 1:
        b.note("LL009", param(doc, lora.get(variants[1])), (
            f"{names(variants)} together: Unsloth Studio refuses to start (use one of rsLoRA, LoftQ and DoRA)"))
    if isinstance(kind, str) and kind.strip().lower() == "full":
        b.deactivate()
        for k in variants:
            b.note("LL009", param(doc, lora.get(k)), (
                f"`{k}: true` with `training_type: full`: Unsloth Studio refuses to start; set training_type: lora"))
        dead = [e for e in dead_keys(lora, KEYMAP, doc) if e.key not in variants]
        if dead:
            b.note("LL010", param(doc, training.get("training_type")), (
                f"`training_type: full` fine-tunes the whole model, so the `lora:` settings {names(e.key for e in dead)} "
                f"{agree(dead, 'is', 'are')} ignored: set training_type: lora, or remove {agree(dead, 'it', 'them')}"))
    else:
        apply_keymap(b, lora, KEYMAP, skip=("target_modules", "use_loftq"))
        coerce_numbers(b, ints=("r", "lora_alpha"), floats=("lora_dropout",))
        target = lora.get("target_modules")
        if target is not None and lora.value("target_modules") is not None:
            p = split_param(doc, target)
            if p.value in (["all-linear"], "all-linear"):
                p = Param(p.key, "all-linear", p.span)
            b.set("target_modules", p)
        if truthy(lora.value("use_loftq")):
            e = lora.get("use_loftq")
            b.set("init_lora_weights", param(doc, e, "loftq"))
            b.set("loftq_config", Param("use_loftq", {"loftq_bits": 4, "loftq_iter": 1}, param(doc, e).span))
            if four_bit is True or truthy(four_bit):
                b.note("LL009", param(doc, e), (
                    "`use_loftq: true` on a 4-bit model (`load_in_4bit` defaults to true): Unsloth refuses to "
                    "start (LoftQ initialises from the full-precision weights); set training.load_in_4bit: false"))
        b.defaults()
    check_unknown(b, lora, KEYMAP, KNOWN, every_key=True)
    check_duplicates(b, lora, KEYMAP)
    return [b.build()]
