"""LLaMA-Factory v1 (the new engine, ``examples/v1``): a ``peft_config:`` block named ``lora``.

From ``v1/plugins/model_plugins/peft.py`` (``get_lora_model``): keys are LoraConfig's own;
defaults r=8, lora_alpha=16, lora_dropout=0.05; ``target_modules: all`` (the default) means
every linear layer but the heads; another single string is one module name. With
``adapter_name_or_path`` a training run resumes that adapter and ignores the block's settings.
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
    framework,
    names,
    param,
    truthy,
)

NAME = "llama-factory-v1"
KEYMAP = {
    "r": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "target_modules": "target_modules",
    "use_rslora": "use_rslora",
    "use_dora": "use_dora",
    "modules_to_save": "modules_to_save",
}
KNOWN = {"name", "adapter_name_or_path", "export_dir", "export_size", "export_hub_model_id", "infer_dtype",
         "export_legacy_format"}
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()),
    defaults={"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "task_type": "CAUSAL_LM"},
)
V1_KEYS = ("model_class", "dist_config", "kernel_config", "quant_config", "train_dataset", "sample_backend")


def detect(doc: Doc) -> bool:
    top = doc.top
    block = top.sub("peft_config") if top is not None else None
    return block is not None and block.value("name") in ("lora", "freeze") and (
        any(k in top for k in V1_KEYS) or isinstance(top.value("model"), str))


def sites(doc: Doc) -> list[LoraSite]:
    top = doc.top
    block = top.sub("peft_config")
    name = block.value("name")
    if name != "lora":
        return []
    b = SiteBuilder(doc, DIALECT, span(top.get("peft_config").key_node))
    if isinstance(top.value("model"), str):
        b.base_model = param(doc, top.get("model"))
    quant = top.sub("quant_config")
    if quant is not None and "quantization_bit" in quant:
        b.ctx("quantization", param(doc, quant.get("quantization_bit")))
    b.ctx("adapter", param(doc, block.get("name")))
    explicit = [k for k in KEYMAP if k in block and block.value(k) is not None]
    if truthy(block.value("adapter_name_or_path")):
        b.ctx("resume_adapter", param(doc, block.get("adapter_name_or_path")))
        b.deactivate()
        if explicit:
            b.note("LL010", param(doc, block.get("adapter_name_or_path")), (
                f"LLaMA-Factory resumes training the adapter in `adapter_name_or_path` and loads its saved "
                f"settings: {names(explicit)} {agree(explicit, 'is', 'are')} ignored; merge the adapter first "
                f"to train a new one, or remove {agree(explicit, 'it', 'them')}"))
    else:
        apply_keymap(b, block, KEYMAP, skip=("target_modules",))
        target = block.get("target_modules")
        value = block.value("target_modules", "all")
        if target is None or value == "all":
            b.set("target_modules", Param("target_modules", "all-linear",
                                          span(target.node) if target is not None else b.span,
                                          implicit=target is None))
        elif isinstance(value, str):
            p = param(doc, target)
            b.set("target_modules", Param(p.key, [value], p.span, (Param(p.key, value, p.span),)))
        else:
            b.set("target_modules", param(doc, target))
        b.defaults()
    check_unknown(b, block, KEYMAP, KNOWN, every_key=True)
    check_duplicates(b, block, KEYMAP)
    return [b.build()]
