"""Hugging Face AutoTrain Advanced (``autotrain --config x.yml``): ``task``, ``base_model``, ``params:``.

Replays AutoTrain Advanced 0.8.37.dev0 (main at b5c98fbe3, the last commit; the project is
archived). Paths are under ``src/autotrain/``:

* ``parser.py:80-190``: ``task`` picks the trainer (``llm-sft`` -> sft, ``llm-reward`` -> reward,
  ``llm`` -> ``params.trainer``, default "default"), ``base_model`` becomes ``params.model``;
  unknown params are dropped with a warning ("Parameters supplied but not used").
* ``trainers/clm/params.py``: LoRA only with ``params.peft: true`` (default false); r=16,
  lora_alpha=32, lora_dropout=0.05, ``target_modules: all-linear``, ``quantization`` int4.
* ``trainers/clm/utils.py:150-171`` (``get_target_modules``): "all-linear" (any case) is peft's
  shorthand, another string is split on "," without stripping (``q_proj, v_proj`` asks for a
  module named " v_proj"), empty or null is the per-model table or peft's default. The
  ``LoraConfig`` (``train_clm_*.py``, ``utils.py:983-990``) has bias "none" and task CAUSAL_LM on
  ``AutoModelForCausalLM``; the reward trainer uses SEQ_CLS on
  ``AutoModelForSequenceClassification`` (``train_clm_reward.py:37-83``). Text and token
  classification have no LoRA.
* ``trainers/seq2seq/__main__.py:205-220``: the split names are stripped, SEQ_2_SEQ_LM.
* Not replayed, so not counted: ``vlm`` tasks (peft adapts the PaliGemma vision tower, then
  AutoTrain freezes it, ``trainers/vlm/utils.py:248-262``) and ``unsloth: true`` (Unsloth's own
  get_peft_model when it is installed, ``clm/utils.py:863-912``). AutoTrain resizes the
  embeddings to the tokenizer's length (``clm/utils.py:961``), which the config does not tell:
  the total (not the trainable count) can differ by that much.
"""

from __future__ import annotations

from ..model import UNKNOWN, LoraSite, Param
from ..sources import training as train
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
    lookup,
    names,
    param,
    split_param,
    truthy,
)

NAME = "autotrain"
KEYMAP = {
    "lora_r": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "target_modules": "target_modules",
}
KNOWN = {"peft", "quantization", "merge_adapter", "unsloth"}
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()),
    defaults={"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "bias": "none"},
)
#: Tasks whose trainer has LoRA, with the model class and peft task type it uses.
LORA_TASKS = {
    "llm": ("AutoModelForCausalLM", "CAUSAL_LM"),
    "seq2seq": ("AutoModelForSeq2SeqLM", "SEQ_2_SEQ_LM"),
    "vlm": ("AutoModelForImageTextToText", "CAUSAL_LM"),
}
OTHER_TASKS = {
    "text_classification": "AutoModelForSequenceClassification",
    "text-classification": "AutoModelForSequenceClassification",
    "token_classification": "AutoModelForTokenClassification",
    "token-classification": "AutoModelForTokenClassification",
}
DEAD_WITHOUT_PEFT = ("lora_r", "lora_alpha", "lora_dropout", "target_modules", "merge_adapter", "quantization")


def detect(doc: Doc) -> bool:
    top = doc.top
    return top is not None and "task" in top and top.sub("params") is not None and (
        "base_model" in top or "backend" in top or "data" in top)


def sites(doc: Doc) -> list[LoraSite]:
    top = doc.top
    params = top.sub("params")
    task = top.value("task")
    family = task.split(":")[0].split("-")[0] if isinstance(task, str) else None
    peft_entry = params.get("peft")
    peft_on = params.value("peft", False)
    dead = dead_keys(params, DEAD_WITHOUT_PEFT + ("peft",), doc)
    if isinstance(task, str) and family not in LORA_TASKS:
        lora = [e for e in dead if e.key != "quantization"]
        if not lora:
            return []
        b = SiteBuilder(doc, DIALECT, span(lora[0].key_node))
        b.deactivate()
        b.model_class = OTHER_TASKS.get(task)
        b.note("LL010", param(doc, lora[0]), (
            f"AutoTrain's `{task}` trainer has no LoRA: {names(e.key for e in lora)} "
            f"{agree(lora, 'is', 'are')} ignored (\"Parameters supplied but not used\"); remove "
            f"{agree(lora, 'it', 'them')}"))
        return [b.build()]
    if peft_on is False or peft_on is None:
        dead = [e for e in dead if e.key != "peft"]
        if not dead:
            return []
        where = peft_entry if peft_entry is not None else dead[0]
        b = SiteBuilder(doc, DIALECT, span(where.key_node))
        b.deactivate()
        state = "`peft: false`" if peft_entry is not None else "without `peft: true` (AutoTrain's default is false)"
        b.note("LL010", param(doc, where), (
            f"{names(e.key for e in dead)} {'does' if len(dead) == 1 else 'do'} nothing {state}: the whole "
            f"model is fine-tuned (and there is no adapter to merge); set `peft: true` for LoRA, or remove "
            f"{agree(dead, 'it', 'them')}"))
        check_unknown(b, params, KEYMAP, KNOWN)
        return [b.build()]
    b = SiteBuilder(doc, DIALECT, span(peft_entry.key_node))
    apply_keymap(b, params, KEYMAP, skip=("target_modules",))
    coerce_numbers(b, ints=("r", "lora_alpha"), floats=("lora_dropout",))
    _targets(b, params, strips=family == "seq2seq")
    model_class, task_type = LORA_TASKS.get(family, (None, "CAUSAL_LM"))
    trainer = task.split("-", 1)[1] if isinstance(task, str) and "-" in task else params.value("trainer", "default")
    if family == "llm" and trainer == "reward":  # trainers/clm/train_clm_reward.py:37-83
        model_class, task_type = "AutoModelForSequenceClassification", "SEQ_CLS"
    t = b.params.get("target_modules")
    if t is not None and (family == "vlm" or truthy(params.value("unsloth"))):
        # vlm: peft adapts the tower, then AutoTrain freezes it (vlm/utils.py:248-262); unsloth:
        # Unsloth's own get_peft_model when installed (clm/utils.py:863-912). Neither is replayed.
        b.set("target_modules", Param(t.key, UNKNOWN, t.span, t.items, t.implicit))
    b.model_class = model_class
    b.defaults()
    b.default("task_type", "task", task_type)
    model = top.get("base_model")
    if model is not None and isinstance(top.value("base_model"), str):
        b.base_model = param(doc, model)
    b.ctx("adapter", param(doc, peft_entry))
    quant = params.get("quantization")
    quant = param(doc, quant) if quant is not None else Param(
        "quantization", "int8" if family == "seq2seq" else "int4", b.span, implicit=True)
    if family == "llm":  # the training settings of the LLM trainers (the others' are not read)
        b.training(train.autotrain(lookup(doc, params), b.span, quant, trainer))
    for name, key in (("merge", "merge_adapter"), ("unsloth", "unsloth"), ("learning_rate", "lr")):
        e = params.get(key)
        if e is not None:
            b.ctx(name, param(doc, e))
    check_unknown(b, params, KEYMAP, KNOWN)
    check_duplicates(b, params, KEYMAP)
    return [b.build()]


def _targets(b: SiteBuilder, params, strips: bool) -> None:
    e = params.get("target_modules")
    value = params.value("target_modules", "all-linear")
    if e is None:
        b.default("target_modules", "target_modules", "all-linear")
        return
    if value is None or (isinstance(value, str) and not value.strip()):
        return  # AutoTrain's per-model table or peft's default
    if isinstance(value, str) and value.strip().lower() == "all-linear":
        b.set("target_modules", Param("target_modules", "all-linear", param(b.doc, e).span))
        return
    raw = split_param(b.doc, e, strip=False)
    p = split_param(b.doc, e)
    b.set("target_modules", p if strips else raw)
    spaced = [i for i in raw.items if isinstance(i.value, str) and i.value.strip() and i.value != i.value.strip()]
    if spaced and not strips:
        b.note("LL010", spaced[0], (
            f"AutoTrain splits `target_modules` on \",\" without removing spaces, so {names(i.value for i in spaced)} "
            f"name{'s' if len(spaced) == 1 else ''} no module and {'is' if len(spaced) == 1 else 'are'} skipped: "
            f"write {','.join(p.value)}"))
