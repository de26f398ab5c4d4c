"""Unsloth Studio's config files, run by the ``unsloth`` CLI (``unsloth train --config x.yaml``):
sections ``model``, ``training:``, ``lora:``, ``data:``, ``logging:``.

Replays unsloth v0.1.801-beta (tag f3a66cd18; main at 015bdef0d is the same in these files):

* ``unsloth_cli/config.py:11-146``: pydantic models with pydantic's default ``extra``, so a key
  they do not know is dropped silently; ``lora:`` defaults lora_r=64, lora_alpha=16,
  lora_dropout=0.0 and ``target_modules`` a comma string (a ``str`` field: a YAML list is
  refused) of the seven Llama projections; ``training.training_type`` lora|full,
  ``training.load_in_4bit`` default true. ``model_kwargs`` (:80-105) splits and strips the
  string for a text model; for a vision model it passes "all-linear" (``vision_all_linear``) or
  None.
* ``studio/backend/core/training/trainer.py:1264-1474`` (``prepare_model_for_training``):
  ``["all-linear"]`` becomes the string, "all-linear" is dropped from a longer list, an empty list
  becomes the seven projections; ``use_loftq`` only passes ``loftq_config`` (init_lora_weights
  stays True, so peft ignores it with a warning); bias "none"; the vision path is taken for a
  vision model with an image dataset (:905-930), which the config alone does not tell.
* ``unsloth/models/loader.py:826-930``: llama, mistral, gemma, gemma2, qwen2 and qwen3 models get
  Unsloth's own ``FastLlamaModel.get_peft_model`` (``unsloth/models/llama.py:3061-3470``):
  ``embed_tokens`` in the targets is moved to ``modules_to_save``, task CAUSAL_LM. Other model
  types, vision models and the "all-linear" string go through Unsloth's generic path
  (``unsloth_zoo``'s target regex), which is not replayed: nothing is counted for them.
"""

from __future__ import annotations

from yaml.nodes import SequenceNode

from ..model import UNKNOWN, LoraSite, Param
from ..model_dependent import ModelDependent
from ..sources.yaml_nodes import Doc, span
from ._base import (
    SiteBuilder,
    agree,
    apply_keymap,
    check_duplicates,
    check_unknown,
    coerce_numbers,
    dead_keys,
    framework,
    names,
    param,
    split_param,
    truthy,
)

NAME = "unsloth-studio"
KEYMAP = {
    "lora_r": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "target_modules": "target_modules",
    "use_rslora": "use_rslora",
    "use_dora": "use_dora",
    "use_loftq": "loftq_config",
}
KNOWN = {"vision_all_linear", "finetune_vision_layers", "finetune_language_layers",
         "finetune_attention_modules", "finetune_mlp_modules"}
LLAMA = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()) | {"loftq_config"},
    defaults={"r": 64, "lora_alpha": 16, "lora_dropout": 0.0, "bias": "none", "task_type": "CAUSAL_LM"},
)

#: Keys only the unsloth CLI's config has (unsloth_cli/config.py:11-65), by section. Its
#: ``lora_r`` is not one: a project's own ``lora:`` block spells the rank that way too.
EVIDENCE = {
    "lora": {"vision_all_linear", "use_loftq", "finetune_vision_layers", "finetune_language_layers",
             "finetune_attention_modules", "finetune_mlp_modules"},
    "training": {"training_type", "train_on_completions"},
    "data": {"format_type", "local_dataset"},
    "logging": {"enable_wandb", "enable_tensorboard", "tensorboard_dir"},
}
#: peft's own spellings: a ``lora:`` block that uses them is a project's own config, not Unsloth's.
PEFT_SPELLINGS = {"r", "rank", "alpha", "dropout", "task_type", "bias"}


def detect(doc: Doc) -> bool:
    """A ``lora:`` block next to Unsloth's sections, proven by a key only the unsloth CLI's config
    has, and not written in peft's own spellings (a home-grown config's reader is unknown)."""
    top = doc.top
    lora = top.sub("lora") if top is not None else None
    if lora is None or any(k in lora for k in PEFT_SPELLINGS):
        return False
    for section, keys in EVIDENCE.items():
        block = top.sub(section)
        if block is not None and any(k in block for k in keys):
            return True
    return False


#: Model types the unsloth CLI's text path gives Unsloth's own get_peft_model (loader.py:826-890).
CLASSIC = {"llama", "mistral", "gemma", "gemma2", "qwen2", "qwen3"}


def _targets(b: SiteBuilder, lora) -> None:
    """``model_kwargs`` (config.py:80-105) and ``prepare_model_for_training`` (trainer.py:1296-1310)."""
    target = lora.get("target_modules")
    if target is None or lora.value("target_modules") is None:
        p = Param("target_modules", ",".join(LLAMA), b.span, implicit=True)
        names_ = list(LLAMA)
    else:
        p = split_param(b.doc, target)
        if isinstance(target.node, SequenceNode):
            b.note("LL009", p, (
                "`target_modules` is a list: the unsloth CLI's config takes a comma-separated string "
                "(a pydantic str field) and refuses to start; write it as \"q_proj,k_proj,...\""))
            b.set("target_modules", Param(p.key, UNKNOWN, p.span, p.items))
            return
        names_ = [n for n in p.value if n] if isinstance(p.value, list) else UNKNOWN
    if names_ is UNKNOWN or not all(isinstance(n, str) for n in names_):
        b.set("target_modules", Param(p.key, UNKNOWN, p.span, p.items, p.implicit))
        return
    if "all-linear" in names_:
        names_ = "all-linear" if len(names_) == 1 else [n for n in names_ if n != "all-linear"]
    elif not names_:
        names_ = list(LLAMA)
    if isinstance(names_, list) and "embed_tokens" in names_:  # llama.py:3330-3345
        names_ = [n for n in names_ if n != "embed_tokens"]
        b.set("modules_to_save", Param(p.key, ["embed_tokens"], p.span))
    value = ModelDependent(f"target_modules: {p.value if isinstance(p.value, str) else ','.join(p.value)}",
                           unsloth_targets, "the unsloth CLI's text path",
                           listed=tuple(names_) if isinstance(names_, list) else (names_,))
    b.set("target_modules", Param(p.key, value, p.span, p.items, p.implicit))


def unsloth_targets(inv, t: ModelDependent):
    """The list FastLlamaModel.get_peft_model hands peft, for the model types that take that path
    and have no vision tower; UNKNOWN otherwise (Unsloth's generic path is not replayed)."""
    if inv.model_type not in CLASSIC or inv.towers or t.listed == ("all-linear",):
        return UNKNOWN
    return list(t.listed)


def sites(doc: Doc) -> list[LoraSite]:
    top = doc.top
    lora, training = top.sub("lora"), top.sub("training")
    kind = training.value("training_type", "lora") if training else "lora"
    b = SiteBuilder(doc, DIALECT, span(top.get("lora").key_node))
    if isinstance(top.value("model"), str):
        b.base_model = param(doc, top.get("model"))
    if training is not None:
        for name, key in (("adapter", "training_type"), ("load_in_4bit", "load_in_4bit"),
                          ("learning_rate", "learning_rate")):
            e = training.get(key)
            if e is not None:
                b.ctx(name, param(doc, e))
    if isinstance(kind, str) and kind.strip().lower() == "full":
        b.deactivate()
        dead = dead_keys(lora, KEYMAP, doc)
        if dead:
            b.note("LL010", param(doc, training.get("training_type")), (
                f"`training_type: full` fine-tunes the whole model, so the `lora:` settings {names(e.key for e in dead)} "
                f"{agree(dead, 'is', 'are')} ignored: set training_type: lora, or remove {agree(dead, 'it', 'them')}"))
    else:
        apply_keymap(b, lora, KEYMAP, skip=("target_modules", "use_loftq"))
        coerce_numbers(b, ints=("r", "lora_alpha"), floats=("lora_dropout",))
        _targets(b, lora)
        if truthy(lora.value("use_loftq")):
            b.note("LL010", param(doc, lora.get("use_loftq")), (
                "`use_loftq: true` has no effect: the unsloth CLI passes a loftq_config but leaves "
                "init_lora_weights at True, and peft ignores a loftq_config without init_lora_weights='loftq' "
                "(with a warning); remove it"))
        b.defaults()
    check_unknown(b, lora, KEYMAP, KNOWN, every_key=True)
    check_duplicates(b, lora, KEYMAP)
    return [b.build()]
