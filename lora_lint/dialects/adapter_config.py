"""peft's own JSON config: ``adapter_config.json`` as ``LoraConfig.to_dict()`` / ``save_pretrained`` write it.

Every key is a ``LoraConfig`` field under its own name, and peft itself reads the file
(``PeftConfig.from_pretrained``). Proof: a top-level ``peft_type`` (only peft writes it) with a
LoRA field. Two records, told apart by the file's own evidence:

* ``saved-adapter``: ``inference_mode: true``, which ``PeftModel.save_pretrained`` writes into
  every adapter it saves at the end of a run. The weights exist: nothing is renamed or switched
  by a fix, and no advice is given (``Dialect.saved``). ``inference_mode`` is context, not a
  training setting.
* ``adapter_config``: ``inference_mode`` false or absent: a config written for training (peft's
  ``method_comparison`` experiments, a project's ``lora_config.json`` read with
  ``LoraConfig.from_pretrained``).

A null value whose peft default is None is the default (``"target_modules": null`` = peft's
per-model default). peft drops a key it does not know with a warning; LL001 reports one only
when it is a near miss of a real field (an unknown key may be a field of a newer peft: LL002's
business). A field peft removed (``merge_weights``, ``enable_lora``) is kept as context for
LL002, which says whether the project's peft can load it.
"""

from __future__ import annotations

import dataclasses

from ..model import LoraSite
from ..peft_facts import lora_fields
from ..peft_history import REMOVED
from ..sources.yaml_nodes import Doc, span
from ._base import LORA_FIELDS, METADATA, SiteBuilder, framework, key_param, param, suggestion

NAME = "adapter_config"
KEYMAP = {f: f for f in sorted(LORA_FIELDS - METADATA)}
#: Values reach LoraConfig as written; a field left out gets peft's default when loading.
DIALECT = framework(NAME, KEYMAP, what="a field of peft's LoraConfig", as_written=True, peft_loads=True,
                    peft_keys=True, decided=frozenset())
#: The same layout saved at the end of a run (``inference_mode: true``).
SAVED = dataclasses.replace(DIALECT, name="saved-adapter", saved=True)
RECORDS = (DIALECT, SAVED)


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
    b = SiteBuilder(doc, SAVED if top.value("inference_mode") is True else DIALECT, span(entry.key_node))
    defaults = lora_fields()
    for e in top:
        if e.key in METADATA:
            continue
        if e.key in REMOVED:  # LL002 says which peft versions cannot load it
            b.ctx(e.key, param(doc, e))
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
