"""ms-swift (``swift sft --config x.yaml``): flat keys, ``train_type`` (older ``sft_type``,
newer ``tuner_type``) chooses LoRA.

From ``swift/llm/argument/tuner_args.py``: lora_rank 8, lora_alpha 32, lora_dropout 0.05,
``target_modules`` default ``all-linear`` (expanded by swift itself, union with any other names),
``target_regex`` a regex string, ``lora_bias`` none|all, ``init_weights``/``init_lora_weights``.
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
    dead_keys,
    framework,
    names,
    param,
)

NAME = "ms-swift"
KEYMAP = {
    "lora_rank": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_dropout_p": "lora_dropout",
    "target_modules": "target_modules",
    "target_regex": "target_modules",
    "modules_to_save": "modules_to_save",
    "use_rslora": "use_rslora",
    "use_dora": "use_dora",
    "lora_bias": "bias",
    "lora_bias_trainable": "bias",
    "init_weights": "init_lora_weights",
    "init_lora_weights": "init_lora_weights",
}
KNOWN = {"train_type", "tuner_type", "sft_type", "tuner_backend", "lora_dtype", "lorap_lr_ratio", "lora_lr_ratio",
         "lora_target_modules", "quant_bits", "quant_method", "adapters", "resume_from_checkpoint"}
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()),
    defaults={"r": 8, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear", "bias": "none"},
)
SWITCHES = ("tuner_type", "train_type", "sft_type")
INIT = {"true": True, "false": False}


def detect(doc: Doc) -> bool:
    top = doc.top
    return top is not None and "finetuning_type" not in top and any(k in top for k in SWITCHES) and (
        any(k in top for k in ("lora_rank", "target_modules", "lora_alpha", "model", "model_type", "dataset")))


def sites(doc: Doc) -> list[LoraSite]:
    top = doc.top
    switch = next(top.get(k) for k in SWITCHES if k in top)
    kind = top.value(switch.key)
    if isinstance(kind, str) and kind.lower() not in ("lora", "qlora", "longlora"):
        dead = dead_keys(top, [k for k in KEYMAP if k.startswith("lora")], doc)
        if not dead:
            return []
        b = SiteBuilder(doc, DIALECT, span(switch.key_node))
        b.deactivate()
        b.note("LL010", param(doc, switch), (
            f"`{switch.key}: {kind}` trains without LoRA, so {names(e.key for e in dead)} "
            f"{agree(dead, 'is', 'are')} ignored: set {switch.key}: lora, or remove {agree(dead, 'it', 'them')}"))
        return [b.build()]
    b = SiteBuilder(doc, DIALECT, span(switch.key_node))
    apply_keymap(b, top, KEYMAP, skip=("target_modules", "init_weights", "init_lora_weights"))
    targets = top.get("target_modules")
    if targets is not None and "target_regex" not in top:
        p = param(doc, targets)
        if p.value == "all-linear" or (isinstance(p.value, list) and "all-linear" in p.value):
            p = Param(p.key, "all-linear", p.span)
        b.set("target_modules", p)
    for key in ("init_weights", "init_lora_weights"):
        e = top.get(key)
        if e is not None:
            p = param(doc, e)
            v = INIT.get(p.value.lower(), p.value) if isinstance(p.value, str) else p.value
            b.set("init_lora_weights", Param(p.key, v, p.span))
    b.defaults()
    for key in ("model", "model_id_or_path"):
        if isinstance(top.value(key), str):
            b.base_model = param(doc, top.get(key))
            break
    b.ctx("adapter", param(doc, switch))
    if "quant_bits" in top:
        b.ctx("quantization", param(doc, top.get("quant_bits")))
    check_unknown(b, top, KEYMAP, KNOWN)
    check_duplicates(b, top, KEYMAP)
    return [b.build()]
