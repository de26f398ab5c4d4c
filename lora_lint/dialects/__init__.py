"""Training-framework dialects of YAML/JSON configs, one module each.

A dialect module has ``NAME``, ``KEYMAP`` (its LoRA keys -> peft ``LoraConfig`` fields),
``detect(doc)`` (its signature) and ``sites(doc)`` (the ``LoraSite`` records, with the
framework's own defaults and notes). ``ORDER`` is the detection order: the first dialect whose
signature matches a document reads it. Adding a framework is adding a module here.
"""

from __future__ import annotations

from ..model import LoraSite
from ..sources.yaml_nodes import Doc
from . import (
    adapter_config,
    alignment_handbook,
    autotrain,
    axolotl,
    generic,
    hydra,
    llama_factory,
    llama_factory_v1,
    ms_swift,
    torchtune,
    trl,
    unsloth_studio,
)

ORDER = (
    adapter_config,
    torchtune,
    hydra,
    llama_factory_v1,
    ms_swift,
    llama_factory,
    autotrain,
    axolotl,
    unsloth_studio,
    alignment_handbook,
    trl,
    generic,
)
#: Framework dialects whose key spellings are LoRA settings somewhere (``lora_rank`` in an axolotl
#: file is worth a hint: ``lora_r``). The generic dialect's short spellings (``rank``, ``targets``)
#: only help to suggest, they do not make a key look like a LoRA setting.
FRAMEWORKS = tuple(d for d in ORDER if d not in (generic, hydra, adapter_config))
NAMES = tuple(d.NAME for d in ORDER) + (trl.NAME,)


def sites(doc: Doc) -> list[LoraSite]:
    """The LoRA sites of one document, read by the first dialect that recognises it."""
    for dialect in ORDER:
        if dialect.detect(doc):
            return dialect.sites(doc)
    return []
