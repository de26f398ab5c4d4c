"""Hydra / OmegaConf configs that instantiate peft directly: ``_target_: peft.LoraConfig``.

``hydra.utils.instantiate`` calls the target with the block's keys, so the block is peft's own
``LoraConfig`` (peft 0.21.2 semantics throughout: no framework defaults) and any other key is a
TypeError when Hydra instantiates it. Hydra's default ``_convert_: none`` hands lists over as
OmegaConf ``ListConfig``, which peft iterates like a list when matching. ``${...}``
interpolations and ``???`` are not statically known; ``_args_`` (positional arguments) and a
``defaults:`` list (other config files composed in) leave the site open. The base model is the
user's own code's business: the usual model keys nearby name it.
"""

from __future__ import annotations

from ..model import LoraSite
from ..sources.yaml_nodes import Doc, Map, mappings, span
from ._base import LORA_FIELDS, SiteBuilder, check_duplicates, check_unknown, framework, param

NAME = "hydra"
KEYMAP = {f: f for f in sorted(LORA_FIELDS)}
#: Hydra instantiates LoraConfig with the block's values: a string target_modules is peft's.
DIALECT = framework(NAME, KEYMAP, string_targets=True, decided=frozenset())  # peft fills in what is left out
TARGETS = {"peft.LoraConfig", "peft.tuners.lora.LoraConfig", "peft.tuners.lora.config.LoraConfig",
           "peft.tuners.LoraConfig"}
MODEL_KEYS = ("pretrained_model_name_or_path", "model_name_or_path", "base_model", "model_id", "model_name")


def _blocks(doc: Doc) -> list[tuple[tuple[str, ...], Map]]:
    out = []
    for path, node in mappings(doc.root, doc.budget):
        m = Map.of(node, doc.budget)
        if m is not None and m.text("_target_") in TARGETS:
            out.append((path, m))
    return out


def detect(doc: Doc) -> bool:
    return bool(_blocks(doc))


def sites(doc: Doc) -> list[LoraSite]:
    out = []
    base = _base_model(doc)
    for _path, block in _blocks(doc):
        b = SiteBuilder(doc, DIALECT, span(block.get("_target_").node))
        for e in block:
            if e.key in LORA_FIELDS:
                p = param(doc, e)
                if p.value is not None:
                    b.set(e.key, p)
        # positional arguments, or a defaults list composing other files into this one (by Hydra's
        # own rules): what the block leaves out may be set elsewhere
        b.open = "_args_" in block or (doc.top is not None and isinstance(doc.top.value("defaults"), list))
        b.base_model = base
        check_unknown(b, block, KEYMAP, every_key=True)
        check_duplicates(b, block, KEYMAP)
        out.append(b.build())
    return out


def _base_model(doc: Doc):
    for _path, node in mappings(doc.root, doc.budget, max_depth=3):
        m = Map.of(node, doc.budget)
        for key in MODEL_KEYS:
            if m is not None and isinstance(m.value(key), str):
                return param(doc, m.get(key))
    return None
