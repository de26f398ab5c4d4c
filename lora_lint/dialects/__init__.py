"""Training-framework dialects of YAML/JSON configs, one module each.

A dialect module has ``DIALECT`` (its record, ``lora_lint.dialect.Dialect``, made by
``_base.framework``: name, ``KEYMAP`` of its LoRA keys -> peft ``LoraConfig`` fields, the
framework's fixed defaults, the fields it can set, its other ``KNOWN`` keys and its traits),
``detect(doc)`` (its signature) and ``sites(doc)`` (the ``LoraSite`` records, each carrying the
record, with the framework's defaults and notes). ``ORDER`` names the modules in detection
order: the first dialect whose signature matches a document reads it. A module is imported when
a document gets to its signature (an axolotl file never imports the home-grown reader). Adding a
framework is adding a module here and listing it in ``ORDER``; no rule changes.

A document is read in a framework's dialect only when keys that only that framework has prove it
(tested on the frameworks' own example configs, ``tests/test_corpus.py``); anything else with
LoRA settings is a home-grown block (``home_grown``), read in peft's own vocabulary. The proof of
each dialect, in ``ORDER``:

* adapter_config / saved-adapter: a top-level ``peft_type`` (only peft writes it) with a LoRA field.
* torchtune: ``model._component_`` naming a ``torchtune.`` builder.
* hydra: ``_target_: peft.LoraConfig`` (or another path of that class).
* llama-factory-v1: ``peft_config.name`` lora/freeze beside a v1-only key (``model_class``,
  ``dist_config``, ``kernel_config``, ``quant_config``, ``train_dataset``, ``sample_backend``).
* ms-swift: its tuner switch (``tuner_type``, ``train_type``, ``sft_type``) without
  LLaMA-Factory's ``finetuning_type``.
* llama-factory: ``finetuning_type`` or ``lora_target``; or ``lora_rank`` with ``template``; or
  ``stage`` with ``model_name_or_path`` and ``template``/``cutoff_len``/``dataset``/``do_train``.
* autotrain: ``task`` with a ``params:`` mapping.
* axolotl: ``base_model`` and ``adapter`` or a ``lora_``/``peft_`` key, with an axolotl-only key
  (``axolotl.MARKERS``) or its typed ``datasets:`` list.
* unsloth-studio: a ``lora:`` block beside a key only the unsloth CLI's config has
  (``unsloth_studio.EVIDENCE``), not in peft's spellings.
* alignment-handbook: TRL's proof in a recipe (its path, or ``dataset_mixer``...).
* trl: ``use_peft`` or another ``ModelConfig``-only key (``trl.EVIDENCE``).
* own_lora (mistral-finetune, mindformers, deep-training): their own keys (see the module).

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

import importlib
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..dialect import Dialect
    from ..model import LoraSite
    from ..sources.yaml_nodes import Doc

#: The dialect modules, in detection order.
ORDER = (
    "adapter_config",
    "torchtune",
    "hydra",
    "llama_factory_v1",
    "ms_swift",
    "llama_factory",
    "autotrain",
    "axolotl",
    "unsloth_studio",
    "alignment_handbook",
    "trl",
    "own_lora",
    "home_grown",
)
#: Framework dialects whose key spellings are LoRA settings somewhere (``lora_rank`` in an axolotl
#: file is worth a hint: ``lora_r``). The home-grown dialect's short spellings (``rank``, ``alpha``)
#: only help to suggest, they do not make a key look like a LoRA setting.
FRAMEWORKS = tuple(d for d in ORDER if d not in ("home_grown", "hydra", "adapter_config", "own_lora"))


def module(name: str) -> ModuleType:
    """The dialect module ``name`` (one of ``ORDER``), imported now if it was not."""
    return importlib.import_module(f"{__name__}.{name}")


@cache
def names() -> tuple[str, ...]:
    """The names of every YAML/JSON dialect's records, in detection order."""
    return tuple(r.name for d in map(module, ORDER) for r in getattr(d, "RECORDS", (d.DIALECT,)))


def spellings_text() -> str:
    """``data/spellings.json`` as the dialects' key maps make it (``lora_lint.spellings``)."""
    from .. import spellings

    return spellings.render((module(d).DIALECT.keymap for d in FRAMEWORKS), module("home_grown").DIALECT.keymap)


def sites(doc: Doc) -> list[LoraSite]:
    """The LoRA sites of one document, read by the first dialect that recognises it."""
    for name in ORDER:
        dialect = module(name)
        if dialect.detect(doc):
            return dialect.sites(doc)
    return []


def named(name: str) -> Dialect:
    """The record of the dialect called ``name``, the Python ones (``peft``, ``unsloth``,
    ``unsloth-vision``) included. Raises KeyError for an unknown name."""
    for m in map(module, ORDER):
        for record in getattr(m, "RECORDS", (m.DIALECT,)):
            if record.name == name:
                return record
    from ..sources.python_dialects import DIALECTS

    return DIALECTS[name]
