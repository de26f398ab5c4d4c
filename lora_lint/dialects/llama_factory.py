"""LLaMA-Factory (``llamafactory-cli train x.yaml``), the v0 flat format.

Replays LLaMA-Factory v0.9.5 (tag 7af909522; main at ff6d4d12e adds the ``moss_vl`` model type and
changes nothing else here). Paths are under ``src/llamafactory/``:

* Keys and defaults: ``hparams/finetuning_args.py:56-124`` (``LoraArguments``): ``finetuning_type``
  lora, ``lora_rank`` 8, ``lora_alpha`` null or 0 means 2·rank (:568), ``lora_dropout`` 0.0,
  ``lora_target`` and ``additional_target`` split on "," and stripped (:561-571). ``pissa_init``
  sets ``init_lora_weights`` to ``pissa_niter_<pissa_iter>`` (``pissa`` for -1,
  ``model/adapter.py:264-270``). Task CAUSAL_LM (:273-277), bias peft's default. Unknown keys make
  LLaMA-Factory refuse to start (``hparams/parser.py``, ``allow_extra_keys=False``).
* Targets (``model/adapter.py:204-213``): ``all`` alone is ``find_all_linear_modules``
  (``model/model_utils/misc.py:28-52``): the last name part of every module whose class name has
  "Linear" and not "Embedding", skipping names that contain ``lm_head`` (``output_layer`` for
  chatglm, ``output`` for internlm2), a composite model's projector and, while
  ``freeze_vision_tower`` (default true), its vision tower. ``use_llama_pro`` narrows them to
  the expanded blocks (:55-77). For a composite (vision- or audio-language) model type,
  ``patch_target_modules`` (``model/model_utils/visual.py:196-213``) then turns every target
  into the full names of the modules that contain it, leaving out the frozen parts
  (``freeze_vision_tower``, ``freeze_multi_modal_projector`` default true,
  ``freeze_language_model``) and the conflict keys of ``COMPOSITE`` (:216-444). So the vision
  tower is not adapted unless ``freeze_vision_tower: false``. Replayed on the base model's
  inventory by ``lf_targets``.
* ``resize_vocab`` without ``additional_target`` saves the embedding modules (adapter.py:222-231).
* A training run with ``adapter_name_or_path`` resumes that adapter and keeps its saved settings
  unless ``create_new_adapter`` (adapter.py:175-202).
* Option conflicts (``_checks``, ``_freeze_options``): ``hparams/finetuning_args.py:590-620`` and
  ``hparams/parser.py:180-415``; ``train_mm_proj_only`` was removed in v0.9.2 (v0.9.1 refused it
  with LoRA, finetuning_args.py:394-395); the freeze-tuning options only reach
  ``model/adapter.py:57-139``.
* Not replayed: the value head that stage ``rm``/``ppo`` adds after peft (trained in full, not
  counted here), ``use_unsloth`` (Unsloth's own get_peft_model) and KTransformers.
"""

from __future__ import annotations

import re

from ..model import UNKNOWN, LoraSite, Param
from ..model_dependent import ModelDependent
from ..sources import training as train
from ..sources.yaml_nodes import Doc, Map, span
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
    split_param,
    truthy,
)

NAME = "llama-factory"
KEYMAP = {
    "lora_rank": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_target": "target_modules",
    "additional_target": "modules_to_save",
    "use_rslora": "use_rslora",
    "use_dora": "use_dora",
    "pissa_init": "init_lora_weights",
}
KNOWN = {"finetuning_type", "loraplus_lr_ratio", "loraplus_lr_embedding", "pissa_iter", "pissa_convert",
         # other options of v0.9.5 whose names read like LoRA settings (KTransformers, SGLang, vLLM)
         "kt_lora_expert_intermediate_size", "kt_lora_expert_num", "kt_use_lora_experts", "sglang_lora_backend",
         "vllm_max_lora_rank"}
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()),
    defaults={"r": 8, "lora_dropout": 0.0, "bias": "none", "task_type": "CAUSAL_LM"},
)
METHODS = ("lora", "oft", "freeze", "full")
LORA_ONLY = ("loraplus_lr_ratio", "use_rslora", "use_dora", "pissa_init")
#: Pre-quantized (PTQ) checkpoints, named so by convention; DoRA cannot train on them.
PTQ = r"(?i)gptq|awq|aqlm|eetq|exl2"
ZERO3 = r"(?i)z(ero)?[_-]?3"


def detect(doc: Doc) -> bool:
    top = doc.top
    if top is None:
        return False
    if "finetuning_type" in top or "lora_target" in top:
        return True
    if "lora_rank" in top and "template" in top:
        return True
    return "model_name_or_path" in top and "stage" in top and any(
        k in top for k in ("template", "cutoff_len", "dataset", "do_train"))


def sites(doc: Doc) -> list[LoraSite]:
    top = doc.top
    method = top.value("finetuning_type", "lora")
    explicit = dead_keys(top, [*KEYMAP, "loraplus_lr_ratio"], doc)
    training = truthy(top.value("do_train"))
    if isinstance(method, str) and method != "lora":
        return _not_lora(doc, top, method, explicit)
    if not training and not explicit:
        return []  # chat, predict, merge or export with an adapter: nothing is trained
    anchor = top.get("finetuning_type") or (explicit[0] if explicit else None) or next(
        (top.get(k) for k in ("stage", "do_train", "model_name_or_path") if k in top), next(iter(top)))
    b = SiteBuilder(doc, DIALECT, span(anchor.key_node))
    b.ctx("adapter", _ctx(doc, top, "finetuning_type"))
    for name, key in (("stage", "stage"), ("learning_rate", "learning_rate"),
                      ("resume_adapter", "adapter_name_or_path"), ("create_new_adapter", "create_new_adapter")):
        b.ctx(name, _ctx(doc, top, key))
    b.training(train.llama_factory(lookup(doc, top), b.span))
    model = top.get("model_name_or_path")
    if model is not None and isinstance(top.value("model_name_or_path"), str):
        b.base_model = param(doc, model)
    if any(truthy(top.value(k)) for k in ("resize_vocab", "new_special_tokens", "add_tokens", "add_special_tokens")):
        b.resizes_vocab = True
    resumed = top.value("adapter_name_or_path")
    if training and truthy(resumed) and not truthy(top.value("create_new_adapter")):
        b.deactivate()
        settings = [e.key for e in explicit]
        if settings:
            b.note("LL010", param(doc, top.get("adapter_name_or_path")), (
                f"LLaMA-Factory resumes training the adapter in `adapter_name_or_path` and keeps its saved "
                f"LoRA settings: {names(settings)} {agree(settings, 'is', 'are')} ignored; set "
                f"`create_new_adapter: true` to train a new adapter with {agree(settings, 'it', 'them')}, or "
                f"remove {agree(settings, 'it', 'them')}"))
    else:
        _params(b, top)
    _checks(b, top)
    check_unknown(b, top, KEYMAP, KNOWN)
    check_duplicates(b, top, KEYMAP)
    return [b.build()]


def _ctx(doc: Doc, top: Map, key: str) -> Param | None:
    e = top.get(key)
    return param(doc, e) if e is not None else None


def _params(b: SiteBuilder, top: Map) -> None:
    doc = b.doc
    apply_keymap(b, top, KEYMAP, skip=("lora_alpha", "lora_target", "additional_target", "pissa_init"))
    b.defaults("r")
    rank = b.params["r"].value
    alpha = top.get("lora_alpha")
    # 2 x rank, when the rank is a valid one (a bad rank is the finding, not its doubled alpha)
    twice = 2 * rank if isinstance(rank, int) and not isinstance(rank, bool) and rank > 0 else UNKNOWN
    if alpha is not None and top.value("lora_alpha") not in (None, 0):
        b.set("lora_alpha", param(doc, alpha))
    else:
        b.default("lora_alpha", "lora_alpha", twice)
        if alpha is not None and top.value("lora_alpha") == 0:
            b.note("LL010", param(doc, alpha), (
                f"`lora_alpha: 0` is read as unset: LLaMA-Factory uses 2 × lora_rank"
                f"{f' = {twice}' if twice is not UNKNOWN else ''} instead; write that value, or remove the key"))
    _targets(b, top)
    extra = top.get("additional_target")
    if extra is not None and top.value("additional_target") is not None:
        b.set("modules_to_save", split_param(doc, extra))
    elif truthy(top.value("resize_vocab")):  # adapter.py:222-231
        b.set("modules_to_save", Param("resize_vocab", ModelDependent(
            "resize_vocab: true", embedding_names, "LLaMA-Factory's embedding finder"),
            param(doc, top.get("resize_vocab")).span))
    pissa = top.get("pissa_init")
    if pissa is not None and truthy(top.value("pissa_init")):
        it = top.value("pissa_iter", 16)
        init = "pissa" if it == -1 else (f"pissa_niter_{it}" if isinstance(it, int) else UNKNOWN)
        b.set("init_lora_weights", param(doc, pissa, init))
    b.defaults()


#: ``finetuning_args.py`` switches read by the target functions, with their defaults (:527-538, :85).
SWITCHES = {"freeze_vision_tower": True, "freeze_multi_modal_projector": True, "freeze_language_model": False,
            "use_llama_pro": False, "freeze_trainable_layers": 2}


def _targets(b: SiteBuilder, top: Map) -> None:
    """``lora_target`` (default ``all``, split on "," and stripped, finetuning_args.py:81-90,
    561-569) as ``_setup_lora_tuning`` turns it into peft's target list (adapter.py:204-213)."""
    entry = top.get("lora_target")
    if entry is not None and top.value("lora_target") is not None:
        p = split_param(b.doc, entry)
    else:
        p = Param("lora_target", ["all"], b.span, implicit=True)
    options = tuple((k, top.value(k, d)) for k, d in SWITCHES.items())
    chosen = {"vision", "audio"} if top.value("freeze_vision_tower", True) is False else set()
    if top.value("freeze_multi_modal_projector", True) is False:
        chosen.add("projector")
    options += (("towers_chosen", tuple(sorted(chosen))),  # unfrozen on purpose: no LL207
                ("all_linear", p.value == ["all"]))
    if not isinstance(p.value, list) or not all(isinstance(v, str) for v in p.value) or any(
            v is UNKNOWN for _, v in options):
        b.set("target_modules", Param(p.key, UNKNOWN, p.span, p.items, p.implicit))
        return
    setting = f"lora_target: {','.join(p.value)}"
    finder = "LLaMA-Factory's linear-layer finder" if p.value == ["all"] else "LLaMA-Factory's target filter"
    value = ModelDependent(setting, lf_targets, finder, listed=tuple(p.value), options=options)
    b.set("target_modules", Param(p.key, value, p.span, p.items, p.implicit))


def lf_targets(inv, t: ModelDependent):
    """``_setup_lora_tuning`` (model/adapter.py:204-213): ``all`` is ``find_all_linear_modules``,
    LLaMA Pro narrows to the expanded blocks, and a composite (vision/audio-language) model's
    targets become the full names outside its frozen parts (``patch_target_modules``)."""
    targets = list(t.listed)
    if len(targets) == 1 and targets[0] == "all":
        targets = _all_linear(inv, t.option("freeze_vision_tower"))
    if t.option("use_llama_pro"):
        targets = _expanded(inv, targets, t.option("freeze_trainable_layers"))
        if targets is UNKNOWN:
            return UNKNOWN
    composite = COMPOSITE.get(inv.model_type)
    if composite is None:
        return targets
    projector, vision, language, conflict = composite
    forbidden = set(conflict)  # model_utils/visual.py:173-211
    if t.option("freeze_vision_tower"):
        forbidden.update(vision)
    if t.option("freeze_multi_modal_projector"):
        forbidden.update(projector)
    if t.option("freeze_language_model"):
        forbidden.update(language)
    return [m.name for m in inv.modules
            if any(x in m.name for x in targets) and not any(f in m.name for f in forbidden)]


def _all_linear(inv, freeze_vision_tower) -> list[str]:
    """``find_all_linear_modules`` (model/model_utils/misc.py:28-52): the last name part of every
    module whose class name has "Linear" and not "Embedding", skipping names that contain the
    output layer, a composite model's projector and (when frozen) its vision tower."""
    forbidden = {"lm_head"}
    if inv.model_type == "chatglm":
        forbidden.add("output_layer")
    elif inv.model_type == "internlm2":
        forbidden.add("output")
    composite = COMPOSITE.get(inv.model_type)
    if composite is not None:
        forbidden.update(composite[0])
        if freeze_vision_tower:
            forbidden.update(composite[1])
    names = {m.name.split(".")[-1] for m in inv.modules
             if not any(f in m.name for f in forbidden) and "Linear" in m.cls and "Embedding" not in m.cls}
    return sorted(names)


def _expanded(inv, targets: list[str], trainable: int):
    """``find_expanded_modules`` (misc.py:55-77): the listed modules of every stride-th block."""
    layers = inv.num_layers
    if not layers or not isinstance(trainable, int) or trainable <= 0 or layers % trainable:
        return UNKNOWN  # LLaMA-Factory raises ValueError
    stride = layers // trainable
    marks = [f".{i:d}." for i in range(stride - 1, layers + stride - 1, stride)]
    return [m.name for m in inv.modules if any(x in m.name for x in targets) and any(k in m.name for k in marks)]


def embedding_names(inv, t: ModelDependent) -> list[str]:
    """adapter.py:222-231: with ``resize_vocab`` and no ``additional_target``, the last name part
    of the input and output embedding modules become ``modules_to_save``."""
    names = {n for n in (inv.input_embeddings, inv.output_embeddings) if n is not None}
    return sorted(n.split(".")[-1] for n in names)


#: ``_register_composite_model`` calls (model/model_utils/visual.py:68-91, 216-444): model type ->
#: (projector keys, vision model keys, language model keys, lora conflict keys), with the defaults
#: multi_modal_projector / vision_tower / language_model, lm_head / none.
_DEFAULT = (("multi_modal_projector",), ("vision_tower",), ("language_model", "lm_head"), ())
_QWEN_VL = (("visual.merger",), ("visual.patch_embed", "visual.blocks"), ("language_model", "lm_head"),
            ("patch_embed",))
_QWEN3_VL = (("visual.merger",), ("visual.pos_embed", "visual.patch_embed", "visual.blocks",
                                   "visual.deepstack_merger_list"), ("language_model", "lm_head"), ("patch_embed",))
COMPOSITE = {
    "dots_ocr": (("vision_tower.merger",), ("vision_tower",), ("model", "lm_head"), ("merger",)),
    "gemma3": _DEFAULT,
    "gemma3n": (("multi_modal_projector",), ("vision_tower", "audio_tower"), ("language_model", "lm_head"),
                ("timm_model", "subsample_conv_projection")),
    "gemma4": (("model.embed_vision", "model.embed_audio"), ("vision_tower", "audio_tower"),
               ("language_model", "lm_head"), ("per_layer_projection_norm",)),
    "glm4v": _QWEN_VL,
    "glm4v_moe": _QWEN_VL,
    "glm_ocr": _QWEN_VL,
    "internvl": _DEFAULT,
    "interns1": _DEFAULT,
    "Keye": (("mlp_AR",), ("visual.vision_model.patch_embedding", "visual.vision_model.encoder"),
             ("model", "lm_head"), ("patch_embedding",)),
    "kimi_vl": _DEFAULT,
    "llama4": (("multi_modal_projector",), ("vision_model",), ("language_model", "lm_head"), ()),
    "llava": _DEFAULT,
    "llava_next": _DEFAULT,
    "llava_next_video": _DEFAULT,
    "minicpmv": (("resampler",), ("vpm",), ("llm",), ()),
    "minicpmv4_6": (("model.merger",), ("model.vision_tower",), ("model.language_model", "lm_head"), ()),
    "minicpmo": (("resampler",), ("vpm", "apm", "audio_avg_pooler", "audio_projection_layer", "tts"), ("llm",),
                 ("audio_projection_layer",)),
    "mistral3": (("model.multi_modal_projector",), ("vision_tower",), ("language_model", "lm_head"), ()),
    "mllama": (("multi_modal_projector",), ("vision_model",), ("language_model", "lm_head"), ()),
    "paligemma": _DEFAULT,
    "qwen2_audio": (("multi_modal_projector",), ("audio_tower",), ("language_model", "lm_head"), ()),
    "qwen2_5_omni_thinker": (("visual.merger", "audio_tower.proj"), ("visual.patch_embed", "visual.blocks",
                                                                       "audio_tower"), ("model", "lm_head"),
                             ("patch_embed",)),
    "qwen2_vl": _QWEN_VL,
    "qwen2_5_vl": _QWEN_VL,
    "qwen3_vl": _QWEN3_VL,
    "qwen3_vl_moe": _QWEN3_VL,
    "qwen3_omni_moe_thinker": (("visual.merger", "audio_tower.proj"), (
        "visual.pos_embed", "visual.patch_embed", "visual.blocks", "visual.deepstack_merger_list", "audio_tower"),
        ("language_model", "lm_head"), ("patch_embed",)),
    "qwen3_5": (("model.visual.merger",), ("visual.pos_embed", "visual.patch_embed", "visual.blocks"),
                ("language_model", "lm_head"), ("patch_embed",)),
    "qwen3_5_moe": (("model.visual.merger",), ("visual.pos_embed", "visual.patch_embed", "visual.blocks"),
                    ("language_model", "lm_head"), ("patch_embed",)),
    "video_llava": _DEFAULT,
}


def _checks(b: SiteBuilder, top: Map) -> None:
    doc, val = b.doc, top.value
    _freeze_options(b, top)
    for key in ("use_galore", "use_apollo", "use_badam"):
        if truthy(val(key)):
            b.note("LL009", param(doc, top.get(key)), (
                f"`{key}: true` with LoRA: LLaMA-Factory refuses to start (\"Cannot use LoRA with GaLore, "
                "APOLLO or BAdam together\"); use finetuning_type: full for it, or turn it off"))
    if truthy(val("pissa_init")):
        stage = val("stage", "sft")
        ref = stage == "dpo" and val("pref_loss", "sigmoid") not in ("orpo", "simpo")
        if stage in ("ppo", "kto") or ref:
            b.note("LL009", param(doc, top.get("pissa_init")), (
                f"`pissa_init` with stage {stage}: LLaMA-Factory refuses to start (\"Cannot use PiSSA for "
                "current training stage\"); remove pissa_init"))
    model, speed = val("model_name_or_path"), val("deepspeed")
    ptq = re.search(PTQ, model) if isinstance(model, str) else None
    if truthy(val("use_dora")) and ptq:
        b.note("LL009", param(doc, top.get("use_dora")), (
            f"`use_dora: true` on a {ptq.group(0).upper()} checkpoint: LLaMA-Factory refuses to start (DoRA is "
            "not compatible with PTQ-quantized models); use plain LoRA, or a bitsandbytes quantization_bit"))
    if truthy(val("pissa_init")) and isinstance(speed, str) and re.search(ZERO3, speed):
        b.note("LL009", param(doc, top.get("pissa_init")), (
            "`pissa_init` with DeepSpeed ZeRO-3: LLaMA-Factory refuses to start (\"PiSSA is incompatible with "
            "DeepSpeed ZeRO-3\"); use ZeRO-2, or initialise PiSSA first"))
    bits = val("quantization_bit")
    if bits is None or bits is UNKNOWN:
        return
    adapters = val("adapter_name_or_path")
    count = len([a for a in adapters.split(",") if a.strip()]) if isinstance(adapters, str) else (
        len(adapters) if isinstance(adapters, list) else 0)
    checks = (
        ("pissa_init", truthy(val("pissa_init")), "PiSSA cannot be initialised on a quantized model "
         "(use scripts/pissa_init.py first)"),
        ("resize_vocab", truthy(val("resize_vocab")), "cannot resize the embeddings of a quantized model"),
        ("create_new_adapter", truthy(val("create_new_adapter")) and count > 0,
         "cannot create a new adapter upon a quantized model"),
        ("adapter_name_or_path", count > 1, "a quantized model only accepts a single adapter: merge them first"),
    )
    for key, bad, why in checks:
        if bad:
            b.note("LL009", param(doc, top.get(key)), (
                f"`{key}` with `quantization_bit: {bits}`: LLaMA-Factory refuses to start ({why})"))


#: Freeze-tuning options LoRA never reads (model/adapter.py:57-139, ``_setup_freeze_tuning``);
#: ``freeze_trainable_layers`` only picks the expanded blocks with ``use_llama_pro`` (:205-211).
FREEZE_ONLY = ("freeze_trainable_modules", "freeze_extra_modules", "freeze_trainable_layers")


def _freeze_options(b: SiteBuilder, top: Map) -> None:
    """Options of other fine-tuning methods in a LoRA run (v0.9.5 and v0.9.1, cited per note)."""
    doc, val = b.doc, top.value
    if truthy(val("train_mm_proj_only")):
        b.note("LL009", param(doc, top.get("train_mm_proj_only")), (
            "`train_mm_proj_only` with LoRA: LLaMA-Factory refuses to start (v0.9.2 and later have no such"
            " setting: \"Some keys are not used by the HfArgumentParser\", hparams/parser.py:102-107; up to v0.9.1"
            " \"`train_mm_proj_only` is only valid for full training\", hparams/finetuning_args.py:394-395); to"
            " train only the projector use finetuning_type: full with freeze_language_model: true and"
            " freeze_multi_modal_projector: false"))
    llama_pro = truthy(val("use_llama_pro"))
    for key in FREEZE_ONLY:
        if top.get(key) is None or (key == "freeze_trainable_layers" and llama_pro):
            continue
        b.note("LL010", param(doc, top.get(key)), (
            f"`{key}` with finetuning_type: lora is ignored: only freeze tuning reads it"
            f" (model/adapter.py:57-139){' unless use_llama_pro: true' if key == 'freeze_trainable_layers' else ''};"
            f" remove it, or set finetuning_type: freeze"))
    speed = val("deepspeed")
    if truthy(val("use_unsloth")) and isinstance(speed, str) and re.search(ZERO3, speed):
        b.note("LL009", param(doc, top.get("use_unsloth")), (
            "`use_unsloth: true` with DeepSpeed ZeRO-3: LLaMA-Factory refuses to start (\"Unsloth is incompatible"
            " with DeepSpeed ZeRO-3\", hparams/parser.py:409-410); use ZeRO-2, or turn Unsloth off"))
    if truthy(val("use_unsloth")) and val("stage") == "ppo" and val("reward_model_type", "lora") == "lora":
        b.note("LL009", param(doc, top.get("use_unsloth")), (
            "`use_unsloth: true` in PPO with a LoRA reward model (reward_model_type: lora, the default):"
            " LLaMA-Factory refuses to start (\"Unsloth does not support lora reward model\","
            " hparams/parser.py:342-343); turn Unsloth off, or use reward_model_type: full or api"))


def _not_lora(doc: Doc, top: Map, method: str, explicit) -> list[LoraSite]:
    if not explicit and "lora" not in method.lower():
        return []
    entry = top.get("finetuning_type")
    b = SiteBuilder(doc, DIALECT, span(entry.key_node))
    b.deactivate()
    if method not in METHODS:
        b.note("LL009", param(doc, entry), (
            f"`finetuning_type: {method}` is not a LLaMA-Factory method (lora, oft, freeze or full): it refuses "
            "to start (\"Invalid fine-tuning method\")" + ("; write `lora`" if "lora" in method.lower() else "")))
    else:
        for e in explicit:
            if e.key in LORA_ONLY:
                b.note("LL009", param(doc, e), (
                    f"`{e.key}` with `finetuning_type: {method}`: LLaMA-Factory refuses to start (\"`{e.key}` is "
                    "only valid for LoRA training\"); remove it, or set finetuning_type: lora"))
        ignored = [e.key for e in explicit if e.key not in LORA_ONLY]
        if ignored:
            b.note("LL010", param(doc, entry), (
                f"`finetuning_type: {method}` trains without LoRA, so {names(ignored)} "
                f"{agree(ignored, 'is', 'are')} ignored: set finetuning_type: lora, or remove "
                f"{agree(ignored, 'it', 'them')}"))
    check_unknown(b, top, KEYMAP, KNOWN)
    return [b.build()]
