"""Training-framework dialects of YAML/JSON configs, one module each.

A dialect module has ``DIALECT`` (its record, ``lora_lint.dialect.Dialect``, made by
``_base.framework``: name, ``KEYMAP`` of its LoRA keys -> peft ``LoraConfig`` fields, the
framework's fixed defaults, the fields it can set, its other ``KNOWN`` keys and its traits),
``detect(doc)`` (its signature) and ``sites(doc)`` (the ``LoraSite`` records, each carrying the
record, with the framework's defaults and notes). ``ORDER`` is the detection order: the first
dialect whose signature matches a document reads it. Adding a framework is adding a module
here and listing it in ``ORDER``; no rule changes.

What a site carries besides its params (the same names in every dialect):

* ``context``: ``adapter`` (the LoRA switch as written: axolotl ``adapter``, LLaMA-Factory
  ``finetuning_type``, TRL ``use_peft``, AutoTrain ``peft``...), ``load_in_4bit``,
  ``load_in_8bit``, ``gptq``, ``quantization`` (LLaMA-Factory ``quantization_bit``, AutoTrain
  ``quantization``, torchtune ``quantize_base`` or "nf4" for a ``qlora_`` builder, ms-swift
  ``quant_bits``), ``merge``, ``resume_adapter`` (an adapter loaded to continue training),
  ``learning_rate``, ``stage``; a saved adapter has ``inference_mode``, ``revision``.
* ``active`` (False when the settings do not take effect: only notes are reported) and
  ``resizes_vocab``.
* Implicit params (``Param.implicit``) are the framework's defaults, spanning the site: the
  record's ``defaults`` (``SiteBuilder.defaults()``) and the ones that depend on the file
  (``SiteBuilder.default``), and the key that makes the file a LoRA config (``adapter:``,
  ``use_peft:``, the torchtune builder...).
"""

from __future__ import annotations

from ..dialect import Dialect
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
NAMES = tuple(d.DIALECT.name for d in ORDER)


def sites(doc: Doc) -> list[LoraSite]:
    """The LoRA sites of one document, read by the first dialect that recognises it."""
    for dialect in ORDER:
        if dialect.detect(doc):
            return dialect.sites(doc)
    return []


def named(name: str) -> Dialect:
    """The record of the dialect called ``name``, the Python ones (``peft``, ``unsloth``,
    ``unsloth-vision``) included. Raises KeyError for an unknown name."""
    for module in ORDER:
        if module.DIALECT.name == name:
            return module.DIALECT
    from ..sources.python_dialects import DIALECTS

    return DIALECTS[name]
