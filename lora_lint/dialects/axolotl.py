"""axolotl (``axolotl train config.yml``): flat keys, LoRA switched on by ``adapter: lora|qlora``.

Replays axolotl v0.18.0 (tag 2f5cb9da6; main at 067b021c8 has the same code in these files).
Paths are under ``src/axolotl/``:

* Keys and defaults: ``utils/schemas/peft.py:28-251`` (``LoraConfig``). ``lora_r`` and
  ``lora_alpha`` have no default (:53-54): unset, axolotl passes None and get_peft_model raises
  TypeError; ``lora_dropout`` becomes 0.0 when an adapter is set (:233-238). The whole config is
  ``model_dump``-ed after validation (``utils/config/__init__.py:439-500``), so a key the schema
  does not know is dropped silently: ``lora_exclude_modules``, read with ``getattr`` in the
  loader, never reaches it.
* Targets: ``loaders/adapter.py:167-202`` (``_build_peft_lora_config``) passes
  ``lora_target_modules or []``; with ``lora_target_linear: true`` the list (a str becomes a
  one-item list) is united with ``find_all_linear_names`` (:54-71): the last name part of every
  module that is a ``torch.nn.Linear`` (or bnb Linear) or whose class name contains "Linear",
  minus the output layer named by ``get_linear_embedding_layers`` (``loaders/utils.py:231-239``:
  ``embed_out`` for gpt_neox, else ``lm_head``). So a listed ``lm_head``/``embed_tokens`` is
  kept, GPT-2's ``Conv1D`` layers are not found, a fused-MoE model's experts are only adapted
  when an expert projection name is in the list, and GPT-NeoX's head, ``lm_head`` in
  transformers 5, is adapted (axolotl drops ``embed_out``). With neither setting peft gets an empty
  list and raises NoMatchingPeftModuleError. The finder is replayed on the base model's
  inventory (``linear_targets``).
* ``target_parameters`` is ``lora_target_parameters or []`` (:172). When peft converts a
  fused-MoE model's expert targets into target_parameters itself, axolotl gives peft's
  ParamWrapper a copy of the config with ``lora_dropout=0`` (:205-297, 343-355).
* ``bias="none"``, ``modules_to_save`` is ``lora_modules_to_save or None``, the task type comes
  from the model class (:131-137): SEQ_CLS/TOKEN_CLS for ``*SequenceClassification`` /
  ``*TokenClassification`` (``type_of_model``/``model_type``, or ``reward_model`` /
  ``process_reward_model``, ``utils/schemas/validation.py:256-270``), else CAUSAL_LM. The model is
  loaded with AutoModelForCausalLM, or AutoModelForImageTextToText for a multimodal model type
  (``loaders/model.py:559-573``, ``loaders/constants.py:8``), which for the checkpoints in use is
  the class their config names.
* Checks replayed as notes: the qlora and adapter validators (``schemas/peft.py:177-251``),
  ``schemas/validation.py`` (``LoRAValidationMixin``) and ``schemas/config.py:1876-1892``.
"""

from __future__ import annotations

import re

from ..model import UNKNOWN, LoraSite, Param
from ..model_dependent import ModelDependent
from ..sources import training as train
from ..sources.yaml_nodes import Doc, Map, span, value_span
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

NAME = "axolotl"
KEYMAP = {
    "lora_r": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_target_modules": "target_modules",
    "lora_target_linear": "target_modules",
    "lora_target_parameters": "target_parameters",
    "lora_modules_to_save": "modules_to_save",
    "lora_fan_in_fan_out": "fan_in_fan_out",
    "peft_layers_to_transform": "layers_to_transform",
    "peft_layers_pattern": "layers_pattern",
    "peft_layer_replication": "layer_replication",
    "peft_use_rslora": "use_rslora",
    "peft_use_dora": "use_dora",
    "peft_init_lora_weights": "init_lora_weights",
    "lora_rank_pattern": "rank_pattern",
    "lora_alpha_pattern": "alpha_pattern",
    "peft_trainable_token_indices": "trainable_token_indices",
    "peft_ensure_weight_tying": "ensure_weight_tying",
}
KNOWN = {
    "adapter", "lora_model_dir", "lora_on_cpu", "lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel",
    "lora_embedding_kernel", "loraplus_lr_ratio", "loraplus_lr_embedding", "merge_lora", "merge_method",
    "qlora_sharded_model_loading", "peft", "peft_autocast_adapter_dtype", "load_in_4bit", "load_in_8bit", "gptq",
}
#: A bare string lora_target_modules reaches peft as it is (a regex, or "all-linear").
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()) | {"loftq_config", "init_lora_weights"},
    defaults={"lora_dropout": 0.0, "bias": "none"}, string_targets=True,
)
BUILT_IN = ("lora", "qlora", "llama-adapter")
#: Keys only axolotl's config has (its pydantic schema, ``utils/schemas/config.py``); the names it
#: shares with alpaca-lora's and other projects' argument lists (``micro_batch_size``,
#: ``val_set_size``, ``num_epochs``, ``wandb_project``, ``special_tokens``) prove nothing.
MARKERS = {
    "adapter", "sequence_len", "sample_packing", "lora_target_linear", "dataset_prepared_path",
    "lora_model_dir", "pad_to_sequence_len", "lora_fan_in_fan_out", "eval_sample_packing",
}
KERNELS = ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel")
#: Characters that make a ``lora_target_modules`` string a regex rather than a module name.
META = re.compile(r"[*+?|()\[\]{}^$\\]")


def detect(doc: Doc) -> bool:
    top = doc.top
    if top is None or "base_model" not in top:
        return False
    if "task" in top and top.sub("params") is not None:
        return False  # AutoTrain
    lora = "adapter" in top or any(k.startswith(("lora_", "peft_")) for k in top.keys())
    return lora and (any(k in top for k in MARKERS) or _typed_datasets(top))


def _typed_datasets(top) -> bool:
    """``datasets:`` as axolotl writes it: a list of ``{path: ..., type: ...}`` entries."""
    e = top.get("datasets")
    items = getattr(e.node, "value", None) if e is not None else None
    if not isinstance(items, list) or not items:
        return False
    first = Map.of(items[0], top.budget)
    return first is not None and "path" in first and "type" in first


def sites(doc: Doc) -> list[LoraSite]:
    top = doc.top
    adapter_entry = top.get("adapter")
    adapter = top.value("adapter")
    dead = dead_keys(top, [*KEYMAP, "peft"], doc)
    if adapter is None or adapter == "":
        return [_adapter_off(doc, top, adapter_entry, dead)] if dead else []
    if isinstance(adapter, str) and adapter not in BUILT_IN:
        return [_unknown_adapter(doc, top, adapter_entry)] if dead and "plugins" not in top else []
    if adapter == "llama-adapter":
        return []
    b = SiteBuilder(doc, DIALECT, span(adapter_entry.key_node))
    apply_keymap(b, top, KEYMAP, skip=("lora_target_modules", "lora_target_linear"))
    coerce_numbers(b, ints=("r", "lora_alpha"), floats=("lora_dropout",))
    _targets(b, top)
    _peft_block(b, top)
    _required(b, top)
    b.defaults()
    _target_parameters(b)
    b.model_class = _model_class(top)
    task = "CAUSAL_LM"
    if b.model_class and "SequenceClassification" in b.model_class:
        task = "SEQ_CLS"
    elif b.model_class and "TokenClassification" in b.model_class:
        task = "TOKEN_CLS"
    b.default("task_type", "task_type", task)
    model = top.get("base_model")
    if model is not None and isinstance(top.value("base_model"), str):
        b.base_model = param(doc, model)
    for name, key in (("adapter", "adapter"), ("gptq", "gptq"), ("merge", "merge_lora"),
                      ("resume_adapter", "lora_model_dir"), ("learning_rate", "learning_rate")):
        e = top.get(key)
        if e is not None:
            b.ctx(name, param(doc, e))
    b.training(train.axolotl(lookup(doc, top), b.span))
    template = top.get("chat_template_jinja") or top.get("chat_template")
    if template is not None:  # axolotl's named template or its own Jinja text (for LL309)
        b.ctx("chat_template", param(doc, template))
    tokens = top.value("tokens")
    if truthy(tokens):
        b.resizes_vocab = True
    _checks(b, top, adapter)
    check_unknown(b, top, KEYMAP, KNOWN | {k for k in top.keys() if k.startswith("relora")})
    check_duplicates(b, top, KEYMAP)
    return [b.build()]


def _targets(b: SiteBuilder, top: Map) -> None:
    """``_build_peft_lora_config`` (loaders/adapter.py:167-202): ``lora_target_modules or []``,
    united with axolotl's own linear-layer finder when ``lora_target_linear`` is true."""
    linear = top.get("lora_target_linear")
    listed = top.get("lora_target_modules")
    linear_on = linear is not None and top.value("lora_target_linear")
    p = param(b.doc, listed) if listed is not None else None
    if linear is not None and linear_on is UNKNOWN:
        b.set("target_modules", param(b.doc, linear, UNKNOWN))
        return
    if truthy(linear_on):
        given = p.value if p is not None and p.value else []
        given = given if isinstance(given, list) else [given]  # a str becomes a one-item list (:177-181)
        at = value_span(linear.key_node, linear.node)
        if not all(isinstance(v, str) for v in given):
            b.set("target_modules", Param("lora_target_linear", UNKNOWN, at))
            return
        value = ModelDependent("lora_target_linear: true", linear_targets, "axolotl's linear-layer finder",
                               listed=tuple(given), options=(("all_linear", True),))
        items = p.items if p is not None and isinstance(p.value, list) else ()
        b.set("target_modules", Param("lora_target_linear", value, at, items))
        if p is not None and isinstance(p.value, str) and META.search(p.value):
            b.note("LL010", p, (
                f"with `lora_target_linear: true` axolotl passes `lora_target_modules` as a list, so the "
                f"regex {p.value!r} is matched as a module name and adds nothing: drop it, or set "
                "lora_target_linear: false to target only what the regex matches"))
        return
    if p is not None and p.value:
        b.set("target_modules", p)
        return
    # neither: axolotl passes target_modules=[] (and target_parameters=[] unless listed)
    b.set("target_modules", Param(p.key if p is not None else "lora_target_modules", [],
                                  p.span if p is not None else b.span, implicit=p is None))
    tparams = top.value("lora_target_parameters")
    if not tparams and tparams is not UNKNOWN:
        at = p if p is not None else (param(b.doc, linear) if linear is not None else Param("adapter", UNKNOWN, b.span))
        b.note("LL009", at, (
            "neither `lora_target_modules` nor `lora_target_linear: true` is set: axolotl passes "
            "target_modules=[] and no target_parameters to peft, and get_peft_model raises "
            "NoMatchingPeftModuleError (\"No `target_modules` passed but also no `target_parameters` found\"); "
            "set lora_target_linear: true or list the modules in lora_target_modules"))


def _required(b: SiteBuilder, top: Map) -> None:
    """``lora_r`` and ``lora_alpha`` have no default (schemas/peft.py:53-54): axolotl passes None
    to ``LoraConfig`` and peft fails creating the first layer (unless an adapter is loaded)."""
    model_dir = top.value("lora_model_dir")
    for fieldname, key, error in (("r", "lora_r", "'<=' not supported between instances of 'NoneType' and 'int'"),
                                  ("lora_alpha", "lora_alpha", "unsupported operand type(s) for /: 'NoneType' and 'int'")):
        if fieldname in b.params:
            continue
        b.default(fieldname, key, None)
        if model_dir is None or model_dir == "":
            b.note("LL009", Param("adapter", UNKNOWN, b.span), (
                f"`{key}` is not set: axolotl has no default for it and passes None to peft, so get_peft_model "
                f"raises TypeError (\"{error}\"); set {key}"))


def _target_parameters(b: SiteBuilder) -> None:
    """``cfg.lora_target_parameters or []`` (adapter.py:172). Without it, peft may still convert a
    fused-MoE model's expert targets into target_parameters; axolotl then gives peft's
    ParamWrapper a copy of the config with ``lora_dropout=0`` (adapter.py:205-297, 343-355),
    so a non-zero dropout does not make get_peft_model raise."""
    if b.params.get("target_parameters") is not None and b.params["target_parameters"].value:
        return
    b.params.pop("target_parameters", None)
    dropout = b.params.get("lora_dropout")
    if dropout is not None and dropout.value:
        b.default("target_parameters", "lora_target_parameters", ModelDependent(
            "lora_target_parameters unset", no_target_parameters, overrides=(("lora_dropout", 0.0),)))
    else:
        b.default("target_parameters", "lora_target_parameters", [])


def no_target_parameters(inv, t: ModelDependent) -> list[str]:
    return []


#: ``get_linear_embedding_layers`` (loaders/utils.py:231-239): the output layer by model type.
OUTPUT_LAYER = {"gpt_neox": "embed_out", "falcon": "lm_head", "nemotron_h": "lm_head"}


def linear_targets(inv, t: ModelDependent) -> list[str]:
    """``find_all_linear_names`` (loaders/adapter.py:54-71) united with the listed names
    (:174-182): the last name part of every module that is a ``torch.nn.Linear`` (or a bnb
    Linear) or whose class name contains "Linear", minus the model type's output layer."""
    found = set()
    for m in inv.modules:
        if m.kind == "linear" or ("Linear" in m.cls and m.cls != "LlamaLinearScalingRotaryEmbedding"):
            found.add(m.name.split(".")[-1])
    found.discard(OUTPUT_LAYER.get(inv.model_type, "lm_head"))
    return sorted(set(t.listed) | found)


def _peft_block(b: SiteBuilder, top: Map) -> None:
    peft = top.sub("peft")
    if peft is None:
        return
    loftq = peft.sub("loftq_config")
    if loftq is not None:
        bits = loftq.value("loftq_bits")
        entry = peft.get("loftq_config")
        if bits is UNKNOWN or bits:
            b.set("loftq_config", param(b.doc, entry, key="loftq_config"))
            if "init_lora_weights" not in b.params or not truthy(b.params["init_lora_weights"].value):
                init = "loftq" if bits is not UNKNOWN else UNKNOWN
                b.set("init_lora_weights", Param("loftq_config", init, span(entry.key_node)))
    for name in ("backend", "weight_dtype"):
        e = peft.get(name)
        if e is not None:
            b.ctx(f"peft_{name}", param(b.doc, e))


def _peft_backend(b: SiteBuilder, top: Map, backend, dtype) -> None:
    """axolotl's ``peft.backend``/``peft.weight_dtype`` validators (``schemas/peft.py``)."""
    doc, peft = b.doc, top.sub("peft")
    if backend == "torchao":
        for key in ("load_in_4bit", "load_in_8bit"):
            if truthy(top.value(key)):
                b.note("LL009", param(doc, top.get(key)), (
                    f"`{key}: true` with `peft.backend: torchao`: axolotl refuses to start (load_in_* are "
                    "bitsandbytes flags; torchao quantizes by peft.weight_dtype); remove it"))
        if dtype is None:
            b.note("LL009", param(doc, peft.get("backend")), (
                "`peft.backend: torchao` without `peft.weight_dtype`: axolotl refuses to start; set weight_dtype "
                "(int4, nf4 or int8)"))
    if truthy(dtype) and backend is None:
        b.note("LL009", param(doc, peft.get("weight_dtype")), (
            "`peft.weight_dtype` without `peft.backend`: axolotl refuses to start; add backend: bnb or torchao"))


def _model_class(top: Map) -> str | None:
    if truthy(top.value("reward_model")):
        return "AutoModelForSequenceClassification"
    if truthy(top.value("process_reward_model")):
        return "AutoModelForTokenClassification"
    for key in ("type_of_model", "model_type"):
        v = top.text(key)
        if v and ("For" in v or v.startswith("Auto")):
            return v
    return None


def _checks(b: SiteBuilder, top: Map, adapter) -> None:
    doc = b.doc
    val = top.value
    peft = top.sub("peft")
    backend = peft.value("backend") if peft else None
    dtype = peft.value("weight_dtype") if peft else None
    four_bit = val("load_in_4bit")
    if backend == "bnb" and dtype == "nf4" and four_bit is None:
        four_bit = True
    _peft_backend(b, top, backend, dtype)
    if adapter == "qlora" and truthy(val("merge_lora")):
        for key, what in (("load_in_8bit", "loaded in 8bit"), ("gptq", "gptq"), ("load_in_4bit", "loaded in 4bit")):
            if truthy(val(key)):
                b.note("LL009", param(doc, top.get(key)), (
                    f"`merge_lora: true` with `adapter: qlora` and `{key}: true`: axolotl refuses to start "
                    f"(\"Can't merge qlora if {what}\"); merge from a config that loads the base model unquantized"))
    elif adapter == "qlora" and backend != "torchao":
        if truthy(val("load_in_8bit")):
            b.note("LL009", param(doc, top.get("load_in_8bit")), (
                "`adapter: qlora` with `load_in_8bit: true`: axolotl refuses to start (\"Can't load qlora in "
                "8bit\"); QLoRA is 4-bit: set load_in_4bit: true and load_in_8bit: false, or use adapter: lora"))
        if truthy(val("gptq")):
            b.note("LL009", param(doc, top.get("gptq")), (
                "`adapter: qlora` with `gptq: true`: axolotl refuses to start (\"Can't load qlora if gptq\"); "
                "use adapter: lora to train LoRA on a GPTQ checkpoint"))
        if four_bit is not UNKNOWN and not four_bit and not truthy(val("load_in_8bit")) and not truthy(val("gptq")):
            where = top.get("load_in_4bit")
            at = param(doc, where) if where is not None else param(doc, top.get("adapter"))
            b.note("LL009", at, (
                "`adapter: qlora` without `load_in_4bit: true`: axolotl refuses to start (\"Require "
                "cfg.load_in_4bit to be True for qlora\"); set load_in_4bit: true, or use adapter: lora"))
    dropout, tparams = val("lora_dropout"), val("lora_target_parameters")
    if truthy(tparams) and isinstance(dropout, (int, float)) and dropout != 0:
        b.note("LL009", param(doc, top.get("lora_dropout")), (
            f"`lora_dropout: {dropout}` with `lora_target_parameters`: axolotl refuses to start (peft's "
            "ParamWrapper has no dropout); set lora_dropout: 0"))
    if truthy(val("peft_layers_to_transform")) and truthy(val("unfrozen_parameters")):
        b.note("LL009", param(doc, top.get("unfrozen_parameters")), (
            "`unfrozen_parameters` with `peft_layers_to_transform`: axolotl refuses to start; use one of them"))
    if truthy(val("lr_groups")) and truthy(val("loraplus_lr_ratio")):
        b.note("LL009", param(doc, top.get("loraplus_lr_ratio")), (
            "`loraplus_lr_ratio` with `lr_groups`: axolotl refuses to start; use one of them"))
    if truthy(val("flash_attn_fuse_mlp")):
        b.note("LL009", param(doc, top.get("flash_attn_fuse_mlp")), (
            "`flash_attn_fuse_mlp: true` with a LoRA adapter: axolotl refuses to start (\"Fused modules are "
            "not supported with LoRA/QLoRA\"); set flash_attn_fuse_mlp: false"))
    kernels = [k for k in KERNELS if truthy(val(k))]
    if kernels:
        first = param(doc, top.get(kernels[0]))
        if adapter == "lora" and truthy(val("load_in_8bit")):
            b.note("LL009", first, f"{names(kernels)} with 8-bit LoRA (`load_in_8bit: true`): axolotl refuses to start; turn the kernels off or load in 4-bit")
        if truthy(val("peft_use_dora")):
            b.note("LL009", first, f"{names(kernels)} with `peft_use_dora: true`: axolotl refuses to start (the LoRA kernels do not support DoRA); turn the kernels off")
        if truthy(val("rl")):
            b.note("LL009", first, f"{names(kernels)} with `rl`: axolotl refuses to start (the LoRA kernels do not support RL yet); turn the kernels off")
    if truthy(val("model_quantization_config")) and (truthy(val("load_in_4bit")) or truthy(val("load_in_8bit"))):
        b.note("LL009", param(doc, top.get("model_quantization_config")), (
            "`model_quantization_config` with `load_in_4bit`/`load_in_8bit`: axolotl refuses to start; use one way of quantizing"))
    if truthy(val("quantize_moe_experts")):
        if not (truthy(val("load_in_4bit")) or truthy(val("load_in_8bit"))):
            b.note("LL009", param(doc, top.get("quantize_moe_experts")), (
                "`quantize_moe_experts: true` needs `load_in_4bit` or `load_in_8bit`: axolotl refuses to start"))
        if truthy(val("lora_target_linear")):
            b.note("LL009", param(doc, top.get("lora_target_linear")), (
                "`lora_target_linear: true` with `quantize_moe_experts`: axolotl refuses to start; list the "
                "modules in lora_target_modules (and expert weights in lora_target_parameters)"))
    model_dir = val("lora_model_dir")
    if isinstance(model_dir, str) and model_dir:
        ignored = [k for k in ("lora_r", "lora_alpha", "lora_target_modules", "lora_target_linear", "peft_use_rslora",
                               "peft_use_dora", "lora_rank_pattern", "lora_alpha_pattern") if truthy(val(k))]
        if ignored:
            b.note("LL010", param(doc, top.get("lora_model_dir")), (
                f"axolotl loads the adapter saved in `lora_model_dir` ({model_dir}) and keeps its "
                f"adapter_config.json: {names(ignored)} {agree(ignored, 'is', 'are')} ignored; remove "
                f"{agree(ignored, 'it', 'them')}, or remove lora_model_dir "
                "to train a new adapter"))


def _adapter_off(doc: Doc, top: Map, adapter_entry, dead) -> LoraSite:
    where = adapter_entry.key_node if adapter_entry is not None else dead[0].key_node
    b = SiteBuilder(doc, DIALECT, span(where))
    b.deactivate()
    keys = [e.key for e in dead]
    at = param(doc, adapter_entry) if adapter_entry is not None else param(doc, dead[0])
    # quantized without an adapter: axolotl's config validation (validate_adapter) raises before
    # any training, so it does not fine-tune the whole model either: that is the only finding
    quantized = next((k for k in ("load_in_8bit", "load_in_4bit") if truthy(top.value(k))), None)
    if quantized is not None and not truthy(top.value("inference")):
        b.note("LL009", param(doc, top.get(quantized)), (
            f"`{quantized}: true` without an adapter: axolotl refuses to start (it cannot train a quantized "
            "model in full); set `adapter: lora`/`qlora`, or turn quantization off"))
    else:
        b.note("LL010", at, (
            f"`adapter` is {'empty' if adapter_entry is not None else 'not set'}, so axolotl fine-tunes the "
            f"whole model and ignores {names(keys)}: set `adapter: lora` (or qlora), or remove "
            f"{agree(keys, 'it', 'them')}"))
    check_unknown(b, top, KEYMAP, KNOWN | {k for k in top.keys() if k.startswith("relora")})
    return b.build()


def _unknown_adapter(doc: Doc, top: Map, entry) -> LoraSite:
    b = SiteBuilder(doc, DIALECT, span(entry.key_node))
    b.deactivate()
    value = top.value("adapter")
    b.note("LL009", param(doc, entry), (
        f"axolotl has no adapter `{value}` (built in: lora, qlora, llama-adapter) and no plugin is listed "
        "to provide one: axolotl refuses to start; write `adapter: lora` or `adapter: qlora`"))
    return b.build()
