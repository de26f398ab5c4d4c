"""Training-framework dialects of YAML/JSON configs, one module each.

A dialect module has ``NAME``, ``KEYMAP`` (its LoRA keys -> peft ``LoraConfig`` fields),
``detect(doc)`` (its signature) and ``sites(doc)`` (the ``LoraSite`` records, with the
framework's own defaults and notes). ``ORDER`` is the detection order: the first dialect whose
signature matches a document reads it. Adding a framework is adding a module here.

What a site carries besides its params (the same names in every dialect):

* ``context``: ``adapter`` (the LoRA switch as written: axolotl ``adapter``, LLaMA-Factory
  ``finetuning_type``, TRL ``use_peft``, AutoTrain ``peft``...), ``load_in_4bit``,
  ``load_in_8bit``, ``gptq``, ``quantization`` (LLaMA-Factory ``quantization_bit``, AutoTrain
  ``quantization``, torchtune ``quantize_base`` or "nf4" for a ``qlora_`` builder, ms-swift
  ``quant_bits``), ``merge``, ``resume_adapter`` (an adapter loaded to continue training),
  ``learning_rate``, ``stage``; a saved adapter has ``inference_mode``, ``revision``.
* ``features``: ``no:<field>`` for every LoraConfig field the framework cannot set,
  ``resizes-vocab``, ``inactive`` (settings that do not take effect: only notes are
  reported), ``saved-adapter``.
* Implicit params (``Param.implicit``) are the framework's defaults, spanning the site: the key
  that makes the file a LoRA config (``adapter:``, ``use_peft:``, the torchtune builder...).
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
