"""LoRA implementations of their own: configs whose LoRA settings provably never reach peft.

Each is recognised by keys only its framework has; its site is found (``report`` lists it, the
tests count it) but its ``Dialect`` does not ``reach_peft``, so no rule makes a claim about it and
no base model is resolved: what peft or a peft-built model would do is not what runs.

* **mistral-finetune** (``mistralai/mistral-finetune``, ``finetune/args.py`` ``TrainArgs`` and
  ``model/args.py`` ``LoraArgs``): a top-level ``lora:`` whose keys are all ``LoraArgs`` fields
  (``enable``, ``rank``, ``dropout``, ``scaling``), beside ``model_id_or_path`` and one more
  ``TrainArgs``-only key (``run_dir``, ``save_adapters``, ``num_microbatches``, ``ckpt_freq``,
  ``no_ckpt``, ``num_ckpt_keep``). Its ``LoRALinear`` is its own; ``scaling`` replaces α.
* **MindFormers** (MindSpore, ``mindformers.pet.pet_config``): a ``pet_config`` mapping with a
  ``pet_type``; ``lora_rank``, ``lora_alpha``, ``lora_dropout`` and a ``target_modules`` regex.
* **deep_training** (``deep_training.nlp.layers.petl``, a copy of peft's code with its own
  ``LoraConfig``): a ``lora:`` mapping with its ``with_lora`` switch and ``lora_type``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ..dialect import Dialect
from ..model import LoraSite
from ..sources.yaml_nodes import Doc, Map, mappings, span
from ._base import SiteBuilder, coerce_numbers, framework, param


def _record(name: str, keymap: dict[str, str], who: str) -> Dialect:
    return framework(name, keymap, reaches_peft=False, passer=None, what=f"a setting of {who}'s own LoRA")


MISTRAL = _record("mistral-finetune", {"rank": "r", "dropout": "lora_dropout"}, "mistral-finetune")
MINDFORMERS = _record("mindformers", {"lora_rank": "r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout",
                                      "target_modules": "target_modules"}, "MindFormers")
DEEP_TRAINING = _record("deep-training", {"r": "r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout",
                                          "target_modules": "target_modules"}, "deep_training")
RECORDS = (MISTRAL, MINDFORMERS, DEEP_TRAINING)
DIALECT = MISTRAL

MISTRAL_LORA = frozenset({"enable", "rank", "dropout", "scaling"})
MISTRAL_ONLY = ("run_dir", "save_adapters", "num_microbatches", "ckpt_freq", "no_ckpt", "num_ckpt_keep")


class Found(NamedTuple):
    """One block of a LoRA of its own: its record, the key holding it, and its mapping."""

    dialect: Dialect
    key_node: object
    block: Map
    switch: str | None = None


def _mistral(doc: Doc) -> list[Found]:
    top = doc.top
    lora = top.sub("lora") if top is not None else None
    if (lora is None or not lora.keys() or not set(lora.keys()) <= MISTRAL_LORA or "model_id_or_path" not in top
            or not any(k in top for k in MISTRAL_ONLY)):
        return []
    return [Found(MISTRAL, top.get("lora").key_node, lora, "enable")]


def _keyed(doc: Doc, key: str, test: Callable[[Map], bool], dialect: Dialect, switch: str | None) -> list[Found]:
    out = []
    for _path, node in mappings(doc.root, doc.budget, max_depth=8):
        m = Map.of(node, doc.budget)
        if m is None or key not in m:
            continue
        block = m.sub(key)
        if block is not None and test(block):
            out.append(Found(dialect, m.get(key).key_node, block, switch))
    return out


def _found(doc: Doc) -> list[Found]:
    if "own-lora" not in doc.memo:
        doc.memo["own-lora"] = _find(doc)
    return doc.memo["own-lora"]


def _find(doc: Doc) -> list[Found]:
    return (_mistral(doc)
            or _keyed(doc, "pet_config", lambda b: "pet_type" in b, MINDFORMERS, None)
            or _keyed(doc, "lora", lambda b: "with_lora" in b and "lora_type" in b, DEEP_TRAINING, "with_lora"))


def detect(doc: Doc) -> bool:
    return bool(_found(doc))


def sites(doc: Doc) -> list[LoraSite]:
    out = []
    for f in _found(doc):
        if f.dialect is MINDFORMERS and str(f.block.value("pet_type")).lower() != "lora":
            continue
        b = SiteBuilder(doc, f.dialect, span(f.key_node))
        for key, fieldname in f.dialect.keymap.items():
            e = f.block.get(key)
            if e is not None and f.block.value(key) is not None:
                b.set(fieldname, param(doc, e))
        coerce_numbers(b, ints=("r", "lora_alpha"), floats=("lora_dropout",))
        if f.switch is not None and f.block.value(f.switch) is False:
            b.deactivate()
        out.append(b.build())
    return out
