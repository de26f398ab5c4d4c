"""TRL's CLI configs (``trl sft|dpo|grpo --config x.yaml``): ``ModelConfig`` keys.

From ``trl/trainer/model_config.py`` and ``trainer/utils.py`` (``get_peft_config``): LoRA only
with ``use_peft: true`` (default false); defaults r=16, lora_alpha=32, lora_dropout=0.05,
task CAUSAL_LM, bias "none"; a one-element ``lora_target_modules`` list is passed to peft as a
plain string, i.e. a regex that must match a whole module path. ``load_in_4bit`` with
``load_in_8bit`` is refused. Unknown keys make the TRL parser refuse to start.
"""

from __future__ import annotations

from ..dialect import Dialect
from ..model import LoraSite, Param
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
    truthy,
)

NAME = "trl"
KEYMAP = {
    "lora_r": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_target_modules": "target_modules",
    "lora_target_parameters": "target_parameters",
    "lora_modules_to_save": "modules_to_save",
    "lora_task_type": "task_type",
    "use_rslora": "use_rslora",
    "use_dora": "use_dora",
}
KNOWN = {"use_peft", "load_in_4bit", "load_in_8bit", "bnb_4bit_quant_type", "use_bnb_nested_quant",
         "bnb_4bit_quant_storage", "use_peft_lora"}
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()),
    defaults={"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "task_type": "CAUSAL_LM", "bias": "none"},
)


def detect(doc: Doc) -> bool:
    top = doc.top
    if top is None:
        return False
    if "use_peft" in top:
        return True
    return "model_name_or_path" in top and ("lora_r" in top or "lora_target_modules" in top)


def sites(doc: Doc, dialect: Dialect = DIALECT) -> list[LoraSite]:
    top = doc.top
    switch = top.get("use_peft")
    on = top.value("use_peft", False)
    if on is False or on is None:
        dead = dead_keys(top, KEYMAP, doc)
        return [_peft_off(doc, top, dialect, switch, dead)] if dead else []
    b = SiteBuilder(doc, dialect, span(switch.key_node))
    apply_keymap(b, top, KEYMAP, skip=("lora_target_modules",))
    targets = top.get("lora_target_modules")
    if targets is not None:
        p = param(doc, targets)
        if isinstance(p.value, list) and len(p.value) == 1 and isinstance(p.value[0], str):
            p = Param(p.key, p.value[0], p.items[0].span if p.items else p.span)  # TRL unwraps it
        if p.value is not None:
            b.set("target_modules", p)
    b.defaults()
    model = top.get("model_name_or_path")
    if model is not None and isinstance(top.value("model_name_or_path"), str):
        b.base_model = param(doc, model)
    for name, key in (("adapter", "use_peft"), ("load_in_4bit", "load_in_4bit"), ("load_in_8bit", "load_in_8bit"),
                      ("learning_rate", "learning_rate")):
        e = top.get(key)
        if e is not None:
            b.ctx(name, param(doc, e))
    _both_bits(b, top)
    check_unknown(b, top, KEYMAP, KNOWN)
    check_duplicates(b, top, KEYMAP)
    return [b.build()]


def _both_bits(b: SiteBuilder, top: Map) -> None:
    if truthy(top.value("load_in_4bit")) and truthy(top.value("load_in_8bit")):
        b.note("LL009", param(b.doc, top.get("load_in_8bit")), (
            "`load_in_8bit: true` with `load_in_4bit: true`: TRL refuses to start (\"You can't use 8 bit and 4 "
            "bit precision at the same time\"); keep one"))


def _peft_off(doc: Doc, top: Map, dialect: Dialect, switch, dead) -> LoraSite:
    where = switch if switch is not None else dead[0]
    b = SiteBuilder(doc, dialect, span(where.key_node))
    b.deactivate()
    keys = [e.key for e in dead]
    state = "`use_peft: false`" if switch is not None else "without `use_peft: true` (TRL's default is false)"
    b.note("LL010", param(doc, where), (
        f"{names(keys)} {agree(keys, 'is', 'are')} ignored: {state} trains the whole model; set "
        f"`use_peft: true` for LoRA, or remove {agree(keys, 'it', 'them')}"))
    for key in ("load_in_4bit", "load_in_8bit"):
        if truthy(top.value(key)):
            b.note("LL009", param(doc, top.get(key)), (
                f"`{key}: true` without `use_peft: true`: a quantized model cannot be fully fine-tuned "
                "(transformers' Trainer refuses it); set use_peft: true"))
            break
    _both_bits(b, top)
    check_unknown(b, top, KEYMAP, KNOWN)
    return b.build()
