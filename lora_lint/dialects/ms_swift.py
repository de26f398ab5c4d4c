"""ms-swift (``swift sft --config x.yaml``): flat keys, ``tuner_type`` (older ``train_type``,
``sft_type``) chooses LoRA.

Replays ms-swift v4.5.2 (tag 1613a0d41; main at 3602360a5 only bumps the version). Paths are under
``swift/``:

* ``cli/main.py:38-67``: the YAML becomes command-line arguments, so a list field given a single
  value gets one item (``target_modules: "q_proj,v_proj"`` is the one name "q_proj,v_proj").
* ``arguments/tuner_args.py:115-205``: lora_rank 8, lora_alpha 32, lora_dropout 0.05, lora_bias
  none|all, ``target_modules`` default ``[all-linear]``, ``target_regex`` (a regex string that
  replaces the list), ``modules_to_save`` default empty, ``init_weights`` "true"/"false" as bool
  or a method name; ``freeze_vit``/``freeze_aligner`` default true.
* ``pipelines/train/tuner.py:92-206`` (``get_target_modules``, ``get_modules_to_save``,
  ``prepare_adapter``): ``all-linear`` is swift's own ``find_all_linears``
  (``utils/transformers_utils.py:133-205``: modules whose class name contains "linear" outside
  ``lm_head``/``score``/``v_head``/``classifier``, named by their last name part, lengthened while
  a non-linear module's name ends with it), plus the other listed names; ``all-embedding`` is
  ``find_embedding``; Mamba models lose ``out_proj``/``conv1d``. On a multimodal model
  ``all-linear`` is a regex built from swift's own registry of the model's parts, which keeps the
  vision tower and aligner out (``freeze_vit``/``freeze_aligner``): not replayed, nothing is
  counted. Task types other than causal_lm (swift's reward/embedding heads) are not replayed.
"""

from __future__ import annotations

import re

from ..model import UNKNOWN, LoraSite, Param
from ..model_dependent import ModelDependent
from ..sources import training as train
from ..sources.yaml_nodes import Doc, span
from ._base import (
    SiteBuilder,
    agree,
    apply_keymap,
    check_duplicates,
    check_unknown,
    dead_keys,
    framework,
    lookup,
    names,
    param,
    truthy,
)

NAME = "ms-swift"
KEYMAP = {
    "lora_rank": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_dropout_p": "lora_dropout",
    "target_modules": "target_modules",
    "target_regex": "target_modules",
    "modules_to_save": "modules_to_save",
    "use_rslora": "use_rslora",
    "use_dora": "use_dora",
    "lora_bias": "bias",
    "lora_bias_trainable": "bias",
    "init_weights": "init_lora_weights",
    "init_lora_weights": "init_lora_weights",
}
KNOWN = {"train_type", "tuner_type", "sft_type", "tuner_backend", "lora_dtype", "lorap_lr_ratio", "lora_lr_ratio",
         "lora_target_modules", "quant_bits", "quant_method", "adapters", "resume_from_checkpoint"}
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()),
    defaults={"r": 8, "lora_alpha": 32, "lora_dropout": 0.05, "bias": "none"},
)
#: Other options of ms-swift v4.5.2 (``swift/arguments/``) whose names read like LoRA settings: known,
#: never "unknown" (``task_type`` picks swift's head; LoRA-GA, AdaLoRA and vLLM take the rest).
KNOWN |= {"task_type", "target_parameters", "use_swift_lora", "merge_lora", "vllm_enable_lora", "vllm_max_lora_rank",
          "lora_ga_batch_size", "lora_ga_direction", "lora_ga_iters", "lora_ga_max_length", "lora_ga_scale",
          "lora_ga_stable_gamma", "adalora_beta1", "adalora_beta2", "adalora_init_r", "adalora_orth_reg_weight",
          "adalora_target_r", "adalora_tfinal", "adalora_tinit"}
SWITCHES = ("tuner_type", "train_type", "sft_type")
INIT = {"true": True, "false": False}


def _as_list(b: SiteBuilder, entry) -> Param:
    """A YAML value as swift's argv turns it into a ``List[str]`` field (cli/main.py:38-67): a list
    gives its items, anything else one item (``"q_proj,v_proj"`` stays one name)."""
    p = param(b.doc, entry)
    if isinstance(p.value, list):
        return p
    if p.value is UNKNOWN:
        return p
    return Param(p.key, [str(p.value)], p.span, (Param(p.key, str(p.value), p.span),))


def _targets(b: SiteBuilder, top) -> None:
    entry = top.get("target_modules")
    p = _as_list(b, entry) if entry is not None else Param("target_modules", ["all-linear"], b.span, implicit=True)
    if not isinstance(p.value, list) or not all(isinstance(v, str) for v in p.value):
        b.set("target_modules", Param(p.key, UNKNOWN, p.span, p.items, p.implicit))
        return
    if "all-linear" in p.value or "all-embedding" in p.value:
        value = ModelDependent(f"target_modules: {' '.join(p.value)}", swift_targets, "ms-swift's find_all_linears",
                               listed=tuple(p.value), options=(("all_linear", "all-linear" in p.value),))
        b.set("target_modules", Param(p.key, value, p.span, p.items, p.implicit))
    else:
        b.set("target_modules", p)


def _saved(b: SiteBuilder, top) -> None:
    """``get_modules_to_save`` (pipelines/train/tuner.py:141-151)."""
    p = _as_list(b, top.get("modules_to_save"))
    if not isinstance(p.value, list) or "all-norm" in p.value:  # find_norm is not replayed
        b.set("modules_to_save", Param(p.key, UNKNOWN, p.span, p.items))
    elif "all-embedding" in p.value:
        b.set("modules_to_save", Param(p.key, ModelDependent(
            f"modules_to_save: {' '.join(p.value)}", swift_saved, "ms-swift's find_embedding", listed=tuple(p.value)),
            p.span, p.items))
    else:
        b.set("modules_to_save", p)


#: ``_MAMBA_MODEL_TYPES`` (pipelines/train/tuner.py:117-118): out_proj/conv1d are dropped from the list.
MAMBA = {"falcon_h1", "mamba", "mamba2", "falcon_mamba", "nemotron_h"}


def swift_targets(inv, t: ModelDependent):
    """``get_target_modules`` (pipelines/train/tuner.py:92-112): on a multimodal model ``all-linear``
    is a regex over swift's own registry of the model's parts (not replayed: UNKNOWN); else it is
    ``find_all_linears`` and ``all-embedding`` ``find_embedding`` (utils/transformers_utils.py)."""
    targets = list(t.listed)
    if "all-linear" in targets:
        if inv.towers:
            return UNKNOWN
        targets.remove("all-linear")
        targets += _find_layers(inv, _is_linear)
    if "all-embedding" in targets:
        targets.remove("all-embedding")
        targets += _find_layers(inv, lambda name, m: m.kind == "embedding")
    if inv.model_type in MAMBA:
        targets = [x for x in targets if x not in ("out_proj", "conv1d")]
    return targets


def swift_saved(inv, t: ModelDependent):
    saved = [x for x in t.listed if x != "all-embedding"]
    return saved + _find_layers(inv, lambda name, m: m.kind == "embedding")


_IGNORED = ("lm_head", "score", "v_head", "classifier", "lora_A", "lora_B", "base_layer")


def _is_linear(name: str, m) -> bool:
    """``find_all_linears``' condition (utils/transformers_utils.py:178-205), with the lm_head of
    swift's registry taken to be ``lm_head`` (what it is for the text models swift registers)."""
    cls = m.cls.lower()
    return ("linear" in cls and "glulinear" not in cls and "gemma4clippablelinear" not in cls
            and all(x not in name for x in _IGNORED))


def _find_layers(inv, cond) -> list[str]:
    """``find_layers`` (utils/transformers_utils.py:133-164): the last name part of each module
    ``cond`` accepts, lengthened by its parents while a rejected module's name (layer numbers
    written {}) ends with it."""
    def generic(name: str) -> str:
        return re.sub(r"\d+\.", "{}.", name)

    inner = sorted({generic(m.name) for m in inv.modules if not cond(generic(m.name), m)})
    found = set()
    for m in inv.modules:
        if not cond(m.name, m):
            continue
        parts = m.name.split(".")
        leaf = parts.pop()
        for node in inner:
            while parts and node.endswith(generic(leaf)):
                leaf = f"{parts.pop()}.{leaf}"
        found.add(leaf)
    return sorted(found)


def detect(doc: Doc) -> bool:
    top = doc.top
    return top is not None and "finetuning_type" not in top and any(k in top for k in SWITCHES) and (
        any(k in top for k in ("lora_rank", "target_modules", "lora_alpha", "model", "model_type", "dataset")))


def sites(doc: Doc) -> list[LoraSite]:
    top = doc.top
    switch = next(top.get(k) for k in SWITCHES if k in top)
    kind = top.value(switch.key)
    if isinstance(kind, str) and kind.lower() == "lora_llm":
        return [_lora_llm(doc, top, switch)]
    if isinstance(kind, str) and kind.lower() not in ("lora", "qlora", "longlora"):
        dead = dead_keys(top, [k for k in KEYMAP if k.startswith("lora")], doc)
        if not dead:
            return []
        b = SiteBuilder(doc, DIALECT, span(switch.key_node))
        b.deactivate()
        b.note("LL010", param(doc, switch), (
            f"`{switch.key}: {kind}` trains without LoRA, so {names(e.key for e in dead)} "
            f"{agree(dead, 'is', 'are')} ignored: set {switch.key}: lora, or remove {agree(dead, 'it', 'them')}"))
        return [b.build()]
    b = SiteBuilder(doc, DIALECT, span(switch.key_node))
    apply_keymap(b, top, KEYMAP, skip=("target_modules", "init_weights", "init_lora_weights"))
    if not truthy(top.value("target_regex")):
        b.params.pop("target_modules", None)
        _targets(b, top)
    if truthy(top.value("modules_to_save")):
        _saved(b, top)
    for key in ("init_weights", "init_lora_weights"):
        e = top.get(key)
        if e is not None:
            p = param(doc, e)
            v = INIT.get(p.value.lower(), p.value) if isinstance(p.value, str) else p.value
            if v == "lora-ga":  # swift's own LoRA-GA (pipelines/train/tuner.py:207-229), not peft's
                v = UNKNOWN
            b.set("init_lora_weights", Param(p.key, v, p.span))
    b.defaults()
    task = top.value("task_type", "causal_lm")
    if isinstance(task, str) and task.lower() != "causal_lm" or task is UNKNOWN:
        b.set("task_type", Param("task_type", UNKNOWN, b.span))  # swift's other heads are not replayed
    else:
        b.default("task_type", "task_type", "CAUSAL_LM")
    _model_and_run(b, doc, top, switch)
    check_unknown(b, top, KEYMAP, KNOWN)
    check_duplicates(b, top, KEYMAP)
    return [b.build()]


def _model_and_run(b: SiteBuilder, doc: Doc, top, switch) -> None:
    """What every swift LoRA site carries: the base model (``model``, or the older
    ``model_id_or_path``), the tuner switch, and the training settings."""
    for key in ("model", "model_id_or_path"):
        if isinstance(top.value(key), str):
            b.base_model = param(doc, top.get(key))
            break
    b.ctx("adapter", param(doc, switch))
    b.training(train.ms_swift(lookup(doc, top), b.span))


def _lora_llm(doc: Doc, top, switch) -> LoraSite:
    """``tuner_type: lora_llm`` (``tuner_plugin/lora_llm.py:71-80``): peft LoRA with only the rank
    and α of the settings, on the language model's linears (a regex from swift's registry of the
    model's parts, not replayed), the vision tower and aligner trained in full. The other LoRA
    settings are not passed: the site is open and its targets unknown."""
    b = SiteBuilder(doc, DIALECT, span(switch.key_node))
    apply_keymap(b, top, {k: v for k, v in KEYMAP.items() if v in ("r", "lora_alpha")})
    b.defaults("r", "lora_alpha")
    b.set("target_modules", Param(switch.key, UNKNOWN, b.span))
    b.open = True
    _model_and_run(b, doc, top, switch)
    check_unknown(b, top, KEYMAP, KNOWN)
    return b.build()
