"""axolotl (``axolotl train config.yml``): flat keys, LoRA switched on by ``adapter: lora|qlora``.

Key map and checks from ``axolotl/utils/schemas/peft.py`` (``LoraConfig`` model, the qlora and
adapter validators), ``schemas/validation.py`` (``LoRAValidationMixin``) and
``loaders/adapter.py`` (``_build_peft_lora_config``): ``lora_target_linear`` adds every linear
layer but the output head; bias is hard-coded "none"; the task type follows the model class.
axolotl silently ignores keys it does not know, so a misspelt LoRA key changes nothing.
"""

from __future__ import annotations

import re

from ..model import UNKNOWN, LoraSite, Param
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
    "lora_exclude_modules": "exclude_modules",
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
    "qlora_sharded_model_loading", "peft", "peft_autocast_adapter_dtype", "unsloth_lora_mlp",
    "unsloth_lora_qkv", "unsloth_lora_o", "load_in_4bit", "load_in_8bit", "gptq",
}
#: A bare string lora_target_modules reaches peft as it is (a regex, or "all-linear").
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable=set(KEYMAP.values()) | {"loftq_config", "init_lora_weights"},
    defaults={"lora_dropout": 0.0, "bias": "none"}, string_targets=True,
)
BUILT_IN = ("lora", "qlora", "llama-adapter")
MARKERS = {
    "sequence_len", "micro_batch_size", "datasets", "sample_packing", "num_epochs", "lora_target_linear",
    "dataset_prepared_path", "val_set_size", "wandb_project", "special_tokens", "adapter", "lora_model_dir",
}
KERNELS = ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel")
#: Module names that ``lora_target_linear`` does not already cover (heads and embeddings).
NOT_LINEAR_TARGETS = {"lm_head", "embed_tokens", "embed_in", "embed_out", "wte", "word_embeddings", "output"}
_PLAIN_NAME = re.compile(r"[A-Za-z_][\w.]*")


def detect(doc: Doc) -> bool:
    top = doc.top
    if top is None or "base_model" not in top:
        return False
    if "task" in top and top.sub("params") is not None:
        return False  # AutoTrain
    lora = "adapter" in top or any(k.startswith(("lora_", "peft_")) for k in top.keys())
    return lora and any(k in top for k in MARKERS)


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
    b.defaults()
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
    for name, key in (("adapter", "adapter"), ("load_in_4bit", "load_in_4bit"), ("load_in_8bit", "load_in_8bit"),
                      ("gptq", "gptq"), ("merge", "merge_lora"), ("resume_adapter", "lora_model_dir"),
                      ("learning_rate", "learning_rate")):
        e = top.get(key)
        if e is not None:
            b.ctx(name, param(doc, e))
    tokens = top.value("tokens")
    if truthy(tokens):
        b.resizes_vocab = True
    _checks(b, top, adapter)
    check_unknown(b, top, KEYMAP, KNOWN | {k for k in top.keys() if k.startswith("relora")})
    check_duplicates(b, top, KEYMAP)
    return [b.build()]


def _targets(b: SiteBuilder, top: Map) -> None:
    linear = top.get("lora_target_linear")
    listed = top.get("lora_target_modules")
    linear_on = linear is not None and top.value("lora_target_linear")
    if linear is not None and linear_on is UNKNOWN:
        b.set("target_modules", param(b.doc, linear, UNKNOWN))
        return
    if truthy(linear_on):
        b.set("target_modules", Param("lora_target_linear", "all-linear", value_span(linear.key_node, linear.node)))
        if listed is None:
            return
        p = param(b.doc, listed)
        if isinstance(p.value, str):
            b.note("LL010", p, (
                f"with `lora_target_linear: true` axolotl passes `lora_target_modules` as a list, so the "
                f"regex {p.value!r} is matched as a module name and adds nothing: drop it, or set "
                "lora_target_linear: false to target only what the regex matches"))
        elif isinstance(p.value, list) and p.value and all(
            isinstance(v, str) and _PLAIN_NAME.fullmatch(v) and v.split(".")[-1] not in NOT_LINEAR_TARGETS
            for v in p.value
        ):
            b.note("LL010", p, (
                "`lora_target_modules` adds nothing: `lora_target_linear: true` already adapts every linear "
                "layer except the output head; to adapt only these modules set lora_target_linear: false"))
        return
    if listed is not None:
        p = param(b.doc, listed)
        if p.value is not None:
            b.set("target_modules", p)


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
    b.note("LL010", at, (
        f"`adapter` is {'empty' if adapter_entry is not None else 'not set'}, so axolotl fine-tunes the "
        f"whole model and ignores {names(keys)}: set `adapter: lora` (or qlora), or remove "
        f"{agree(keys, 'it', 'them')}"))
    for key in ("load_in_8bit", "load_in_4bit"):
        if truthy(top.value(key)) and not truthy(top.value("inference")):
            b.note("LL009", param(doc, top.get(key)), (
                f"`{key}: true` without an adapter: axolotl refuses to start (it cannot train a quantized "
                "model in full); set `adapter: lora`/`qlora`, or turn quantization off"))
            break
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
