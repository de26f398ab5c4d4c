"""LLaMA-Factory v1 (the new engine, ``examples/v1``): a ``peft_config:`` block named ``lora``.

Replays LLaMA-Factory v0.9.5 (tag 7af909522), ``src/llamafactory/v1/plugins/model_plugins/peft.py``
(``get_lora_model``, :151-187): keys are LoraConfig's own (string values converted by
``config/arg_utils.py:61-81``); defaults r=8, lora_alpha=16, lora_dropout=0.05, task CAUSAL_LM.
``target_modules: all`` (the default) is v1's own finder (:80-91): the last name part of every
module whose class name has "Linear" and not "Embedding", skipping names that contain
``lm_head``, ``output_layer`` or ``output`` (so BERT-style ``attention.output.dense`` is not
found) and not sparing vision towers; another single string is one module name; null is peft's
per-model default. ``model_class: cls`` loads AutoModelForTokenClassification, ``other``
AutoModel (``v1/core/model_engine.py:136-157``). With ``adapter_name_or_path`` a training run
resumes that adapter and ignores the block's settings (:106-148). (main at ff6d4d12e also skips
``score``/``classifier`` and infers the task type from the class; not replayed.)
"""

from __future__ import annotations

from ..model import LoraSite, Param
from ..model_dependent import ModelDependent
from ..sources.yaml_nodes import Doc, span
from ._base import (
    SiteBuilder,
    agree,
    apply_keymap,
    check_duplicates,
    check_unknown,
    coerce_numbers,
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


#: ``model_class`` -> the Auto class ``ModelEngine._init_model`` loads (v1/core/model_engine.py:136-157);
#: ``llm`` is the class the checkpoint's config names (causal LM or image-text-to-text).
MODEL_CLASS = {"cls": "AutoModelForTokenClassification", "other": "AutoModel"}


def v1_linear_targets(inv, t: ModelDependent) -> list[str]:
    """``_find_all_linear_modules`` (v1/plugins/model_plugins/peft.py:80-91): the last name part of
    every module whose class name has "Linear" and not "Embedding", skipping any module whose name
    contains ``lm_head``, ``output_layer`` or ``output``."""
    forbidden = ("lm_head", "output_layer", "output")
    return sorted({m.name.split(".")[-1] for m in inv.modules
                   if not any(f in m.name for f in forbidden) and "Linear" in m.cls and "Embedding" not in m.cls})


def detect(doc: Doc) -> bool:
    top = doc.top
    block = top.sub("peft_config") if top is not None else None
    return block is not None and block.value("name") in ("lora", "freeze") and any(k in top for k in V1_KEYS)


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
        coerce_numbers(b, ints=("r", "lora_alpha"), floats=("lora_dropout",))
        target = block.get("target_modules")
        value = block.value("target_modules", "all")
        if target is None or value == "all":
            b.set("target_modules", Param("target_modules", ModelDependent(
                "target_modules: all", v1_linear_targets, "LLaMA-Factory v1's linear-layer finder",
                options=(("all_linear", True),)),
                span(target.node) if target is not None else b.span, implicit=target is None))
        elif isinstance(value, str):
            p = param(doc, target)
            b.set("target_modules", Param(p.key, [value], p.span, (Param(p.key, value, p.span),)))
        else:
            b.set("target_modules", param(doc, target))
        b.defaults()
        model_class = top.value("model_class", "llm")
        b.model_class = MODEL_CLASS.get(model_class) if isinstance(model_class, str) else None
        if b.model_class is not None and top.get("model_class") is not None:
            b.note("LL009", param(doc, top.get("model_class")), (
                f"`model_class: {top.value('model_class')}` with LoRA: LLaMA-Factory passes task_type CAUSAL_LM "
                f"and peft's causal-LM wrapper fails on a "
                f"{b.model_class.removeprefix('AutoModelFor').removeprefix('AutoModel') or 'base'} model "
                "(AttributeError: no attribute 'prepare_inputs_for_generation'); use model_class: llm"))
    check_unknown(b, block, KEYMAP, KNOWN, every_key=True)
    check_duplicates(b, block, KEYMAP)
    return [b.build()]
