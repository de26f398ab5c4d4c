"""Home-grown configs: a nested ``lora:``/``peft:``/``peft_config:`` block read by the user's own code.

A block counts as LoRA only when it holds a rank (``r``, ``rank``, ``lora_r``, ``lora_rank``)
together with an alpha or the target modules -- a CI workflow with an ``r:`` key is not one --
and its ``type``/``method`` (if any) says lora. The root mapping counts when it is a flat
LoraConfig dump (``lora_alpha`` with ``r`` or ``target_modules``). Values are taken as written
(peft's own defaults apply to what is missing, except r, α and the init, which the reading code
may well set itself: those are unknown); since the reading code is unknown, LL001 only reports a
near miss of a LoraConfig field.
"""

from __future__ import annotations

from ..model import LoraSite
from ..peft_facts import suggest
from ..sources.yaml_nodes import Doc, Map, mappings, span
from ._base import LORA_FIELDS, METADATA, SiteBuilder, check_duplicates, framework, key_param, param

NAME = "generic"
KEYMAP = {
    "r": "r", "rank": "r", "lora_r": "r", "lora_rank": "r",
    "lora_alpha": "lora_alpha", "alpha": "lora_alpha",
    "lora_dropout": "lora_dropout", "dropout": "lora_dropout",
    "target_modules": "target_modules", "lora_target_modules": "target_modules", "targets": "target_modules",
    "modules_to_save": "modules_to_save", "lora_modules_to_save": "modules_to_save",
    **{f: f for f in sorted(LORA_FIELDS - METADATA)},
}
BLOCKS = {"lora", "peft", "peft_config", "lora_config", "lora_args", "peft_args", "lora_params", "peft_params",
          "lora_parameters", "lora_kwargs", "peft_kwargs", "adapter_config"}
RANKS = ("r", "rank", "lora_r", "lora_rank")
OTHERS = ("lora_alpha", "alpha", "target_modules", "lora_target_modules", "targets")
KINDS = ("type", "method", "peft_type", "adapter_type", "name", "tuner")
MODEL_KEYS = ("base_model", "model_name_or_path", "pretrained_model_name_or_path", "model_id", "base_model_name_or_path")
MODEL_SUBKEYS = ("name_or_path", "pretrained_model_name_or_path", "name", "path", "id", "base", "model_id")
#: A block read by the user's own code: nothing is known about its defaults or targets.
DIALECT = framework(NAME, KEYMAP)


def _is_lora(m: Map) -> bool:
    if not (any(k in m for k in RANKS) and any(k in m for k in OTHERS)):
        return False
    for key in KINDS:
        kind = m.value(key)
        if isinstance(kind, str) and "lora" not in kind.lower():
            return False
    return True


def _blocks(doc: Doc) -> list[tuple[str, Map]]:
    out = []
    top = doc.top
    if top is not None and "lora_alpha" in top and ("r" in top or "target_modules" in top) and _is_lora(top):
        return [("", top)]
    for path, node in mappings(doc.root, doc.budget):
        if path and path[-1] in BLOCKS:
            m = Map.of(node, doc.budget)
            if m is not None and _is_lora(m):
                out.append((path[-1], m))
    return out


def detect(doc: Doc) -> bool:
    return bool(_blocks(doc))


def sites(doc: Doc) -> list[LoraSite]:
    out = []
    base = _base_model(doc)
    for _name, block in _blocks(doc):
        if block is doc.top:
            first = next(iter(block))
            where = span(first.key_node)
        else:
            where = _key_span(doc, block)
        b = SiteBuilder(doc, DIALECT, where)
        for key, fieldname in KEYMAP.items():
            e = block.get(key)
            if e is not None and fieldname not in b.params:
                p = param(doc, e)
                if p.value is not None:
                    b.set(fieldname, p)
        for e in block:
            if e.key in KEYMAP or e.key in KINDS or e.key.startswith("_"):
                continue
            hint = suggest(e.key, sorted(LORA_FIELDS - METADATA))
            if hint is not None:
                b.unknown(key_param(doc, e), hint)
        b.base_model = base
        check_duplicates(b, block, KEYMAP)
        out.append(b.build())
    return out


def _key_span(doc: Doc, block: Map):
    """The span of the key that holds ``block`` (``lora:``), found in its parent mapping."""
    for _path, node in mappings(doc.root, doc.budget):
        for k, v in node.value:
            if v is block.node:
                return span(k)
    return block.span


def _base_model(doc: Doc):
    top = doc.top
    if top is None:
        return None
    for key in MODEL_KEYS:
        if isinstance(top.value(key), str):
            return param(doc, top.get(key))
    if isinstance(top.value("model"), str):
        return param(doc, top.get("model"))
    model = top.sub("model")
    if model is not None:
        for key in MODEL_SUBKEYS:
            if isinstance(model.value(key), str):
                return param(doc, model.get(key))
    return None
