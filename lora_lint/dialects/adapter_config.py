"""A saved peft adapter: ``adapter_config.json`` as written by ``save_pretrained``.

Every key is a ``LoraConfig`` field under its own name. It describes an adapter that exists, so
``inference_mode: true`` (how peft saves it) is context, not a training setting. A null value
whose peft default is None is the default (``"target_modules": null`` = peft's per-model default).
peft drops a key it does not know with a warning; LL001 reports one only when it is a near miss
of a real field (an unknown key may be a field of a newer peft: LL002's business).
"""

from __future__ import annotations

from ..model import LoraSite
from ..peft_facts import lora_fields
from ..sources.yaml_nodes import Doc, span
from ._base import LORA_FIELDS, METADATA, SiteBuilder, framework, key_param, param, suggestion

NAME = "adapter_config"
KEYMAP = {f: f for f in sorted(LORA_FIELDS - METADATA)}
#: Values reach LoraConfig as saved; a field left out gets peft's default when loading.
DIALECT = framework(NAME, KEYMAP, what="a field of peft's LoraConfig", as_written=True, saved=True,
                    peft_keys=True, decided=frozenset())


def detect(doc: Doc) -> bool:
    top = doc.top
    return top is not None and "peft_type" in top and ("r" in top or "lora_alpha" in top
                                                       or "base_model_name_or_path" in top
                                                       or "target_modules" in top)


def sites(doc: Doc) -> list[LoraSite]:
    top = doc.top
    peft_type = top.value("peft_type")
    if not isinstance(peft_type, str) or peft_type.upper() != "LORA":
        return []  # another peft method (IA3, ADALORA...) or unreadable: not a LoRA adapter
    entry = top.get("peft_type")
    b = SiteBuilder(doc, DIALECT, span(entry.key_node))
    defaults = lora_fields()
    for e in top:
        if e.key in METADATA:
            continue
        if e.key not in LORA_FIELDS:
            hint = suggestion(e.key, KEYMAP)
            if hint is not None:
                b.unknown(key_param(doc, e), hint)
            continue
        p = param(doc, e)
        if p.value is None and defaults.get(e.key) is None:
            continue
        b.set(e.key, p)
    model = top.get("base_model_name_or_path")
    if model is not None:
        p = param(doc, model)
        if isinstance(p.value, str) and p.value:
            b.base_model = p
    for name in ("inference_mode", "revision", "peft_version"):
        e = top.get(name)
        if e is not None:
            b.ctx(name, param(doc, e))
    return [b.build()]
