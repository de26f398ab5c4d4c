"""TRL's CLI configs (``trl sft|dpo|grpo --config x.yaml``): ``ModelConfig`` keys.

Replays TRL v1.9.0 (tag a785283c0; main at f2cd57710 has the same code here):

* ``trl/scripts/utils.py:303-386`` (``TrlParser``): the YAML values become argparse defaults, so a
  string is converted by the field's type (``lora_r: "16"`` is 16, ``use_peft: "false"`` is
  False) and any other value is used as it is; an unknown key makes the parser refuse to start.
* ``trl/trainer/model_config.py:81-178`` (``ModelConfig``): LoRA only with ``use_peft: true``
  (default false); defaults r=16, lora_alpha=32, lora_dropout=0.05, task CAUSAL_LM; a
  ``lora_target_modules`` of length one is unwrapped (:177-178), so ``[q_proj]`` reaches peft as
  the regex ``"q_proj"``, which must match a whole module path; ``load_in_4bit`` with
  ``load_in_8bit`` is refused (:174-175).
* ``trl/trainer/utils.py:254-277`` (``get_peft_config``): bias "none", target_parameters,
  modules_to_save, rsLoRA and DoRA as written, peft's defaults for everything else.
* ``trl/trainer/utils.py:1123-1170`` (``create_model_from_path``): the model is built from the
  class the checkpoint's config names (as lora-lint does). ``sft_trainer.py:1004-1076``: a
  ``chat_template_path`` that is not a Jinja file may add tokens, which TRL then trains
  (``trainable_token_indices``, ``lm_head`` in ``modules_to_save``): how many is not known
  statically, so nothing is counted then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..dialect import Dialect
from ..model import UNKNOWN, LoraSite, Param
from ..sources import training as train
from ._base import (
    SiteBuilder,
    agree,
    apply_keymap,
    check_duplicates,
    check_unknown,
    coerce_numbers,
    dead_keys,
    framework,
    lookup,
    names,
    param,
    truthy,
)

if TYPE_CHECKING:  # (the Python reader uses this module's record without reading YAML)
    from ..sources.yaml_nodes import Doc, Map

NAME = "trl"
KEYMAP = {
    "lora_r": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_target_modules": "target_modules",
    "lora_target_parameters": "target_parameters",
    "lora_modules_to_save": "modules_to_save",
    "lora_task_type": "task_type",
    "use_rslora": "use_rslora",
    "use_dora": "use_dora",
}
KNOWN = {"use_peft", "load_in_4bit", "load_in_8bit", "bnb_4bit_quant_type", "use_bnb_nested_quant",
         "bnb_4bit_quant_storage", "use_peft_lora"}
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()),
    defaults={"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "task_type": "CAUSAL_LM", "bias": "none"},
)


#: Keys only TRL's ``ModelConfig`` has: ``use_peft`` (its LoRA switch), and spellings no other
#: framework uses. ``model_name_or_path`` with ``lora_r`` proves nothing: every HfArgumentParser
#: script of a project's own has them.
EVIDENCE = ("use_peft", "lora_target_parameters", "lora_task_type", "use_bnb_nested_quant")


def detect(doc: Doc) -> bool:
    top = doc.top
    return top is not None and any(k in top for k in EVIDENCE)


def sites(doc: Doc, dialect: Dialect = DIALECT) -> list[LoraSite]:
    from ..sources.yaml_nodes import span

    top = doc.top
    switch = top.get("use_peft")
    on = top.value("use_peft", False)
    if isinstance(on, str):  # transformers' string_to_bool, the bool fields' argparse type
        on = on.lower() in ("yes", "true", "t", "y", "1")
    if on is False or on is None:
        dead = dead_keys(top, KEYMAP, doc)
        return [_peft_off(doc, top, dialect, switch, dead)] if dead else []
    b = SiteBuilder(doc, dialect, span(switch.key_node))
    apply_keymap(b, top, KEYMAP, skip=("lora_target_modules",))
    coerce_numbers(b, ints=("r", "lora_alpha"), floats=("lora_dropout",))
    targets = top.get("lora_target_modules")
    if targets is not None:
        p = param(doc, targets)
        if isinstance(p.value, list) and len(p.value) == 1 and isinstance(p.value[0], str):
            p = Param(p.key, p.value[0], p.items[0].span if p.items else p.span)  # TRL unwraps it
        if p.value is not None:
            b.set("target_modules", p)
    b.defaults()
    model = top.get("model_name_or_path")
    if model is not None and isinstance(top.value("model_name_or_path"), str):
        b.base_model = param(doc, model)
    template = top.value("chat_template_path")
    if template is not None and not (isinstance(template, str) and template.endswith((".jinja", ".j2"))):
        at = param(doc, top.get("chat_template_path"))
        b.set("trainable_token_indices", Param(at.key, UNKNOWN, at.span))
    for name, key in (("adapter", "use_peft"), ("learning_rate", "learning_rate")):
        e = top.get(key)
        if e is not None:
            b.ctx(name, param(doc, e))
    b.training(train.trl_cli(lookup(doc, top), b.span))
    _both_bits(b, top)
    check_unknown(b, top, KEYMAP, KNOWN)
    check_duplicates(b, top, KEYMAP)
    return [b.build()]


def _both_bits(b: SiteBuilder, top: Map) -> None:
    if truthy(top.value("load_in_4bit")) and truthy(top.value("load_in_8bit")):
        b.note("LL009", param(b.doc, top.get("load_in_8bit")), (
            "`load_in_8bit: true` with `load_in_4bit: true`: TRL refuses to start (\"You can't use 8 bit and 4 "
            "bit precision at the same time\"); keep one"))


def _peft_off(doc: Doc, top: Map, dialect: Dialect, switch, dead) -> LoraSite:
    from ..sources.yaml_nodes import span

    where = switch if switch is not None else dead[0]
    b = SiteBuilder(doc, dialect, span(where.key_node))
    b.deactivate()
    keys = [e.key for e in dead]
    state = "`use_peft: false`" if switch is not None else "without `use_peft: true` (TRL's default is false)"
    b.note("LL010", param(doc, where), (
        f"{names(keys)} {agree(keys, 'is', 'are')} ignored: {state} trains the whole model; set "
        f"`use_peft: true` for LoRA, or remove {agree(keys, 'it', 'them')}"))
    for key in ("load_in_4bit", "load_in_8bit"):
        if truthy(top.value(key)):
            b.note("LL009", param(doc, top.get(key)), (
                f"`{key}: true` without `use_peft: true`: a quantized model cannot be fully fine-tuned "
                "(transformers' Trainer refuses it); set use_peft: true"))
            break
    _both_bits(b, top)
    check_unknown(b, top, KEYMAP, KNOWN)
    return b.build()
