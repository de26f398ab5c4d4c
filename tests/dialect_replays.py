"""Each training framework's own path from its YAML config to ``get_peft_model``, replayed on a real
model (torch meta device) and real peft, written from the framework's source.

One function per framework: ``replay(cfg, config) -> Outcome``, where ``cfg`` is the YAML as the
framework loads it (``yaml.safe_load``) and ``config`` the base model's ``config.json``. It builds
the model with the class the framework loads, computes the ``LoraConfig`` keyword arguments the
way the framework does (file:line of the replayed release in each docstring), runs peft and
returns ``(targeted module names, trainable, total)`` or ``("error", message)``. This module
deliberately shares no code with ``lora_lint``: it is the other side of the differential test
(tests/test_dialect_differential.py). torchtune does not use peft: its replay counts its own
LoRA modules.
"""

from __future__ import annotations

import copy
import re
import warnings
from contextlib import contextmanager


def build(config: dict, auto_class: str):
    """The model on the meta device, as ``<auto_class>.from_config`` builds it."""
    import torch
    import transformers

    cfg = transformers.AutoConfig.for_model(**copy.deepcopy(config))
    cls = getattr(transformers, auto_class)
    with torch.device("meta"):
        if auto_class.startswith("AutoModel"):
            return cls.from_config(cfg)
        return cls._from_config(cfg)


def run_peft(model, kwargs: dict, patch=None):
    """peft's ``get_peft_model`` on ``model``: (targeted names, trainable, total) or ("error", message)."""
    from peft import LoraConfig, get_peft_model

    try:
        with warnings.catch_warnings(), (patch() if patch else _nothing()):
            warnings.simplefilter("ignore")
            pm = get_peft_model(model, LoraConfig(**kwargs), low_cpu_mem_usage=True)
    except Exception as e:  # the framework's run stops here: the error is the outcome
        return ("error", f"{type(e).__name__}: {e}")
    trainable, total = pm.get_nb_trainable_parameters()
    return (sorted(pm.base_model.targeted_module_names), trainable, total)


@contextmanager
def _nothing():
    yield


def _split(value):
    """LLaMA-Factory's ``split_arg``: a str becomes its comma-separated, stripped items."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",")]
    return value


# --- axolotl v0.18.0 (2f5cb9da6; main 067b021c8 is identical in these files) -------------------

def image_text_to_text(model_type: str) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def axolotl(cfg: dict, config: dict):
    """loaders/model.py:559-573, 922-940 (the class: ``type_of_model``/``model_type``, reward
    models from schemas/validation.py:256-270, multimodal models from MULTIMODAL_AUTO_MODEL_MAPPING,
    else AutoModelForCausalLM); loaders/adapter.py:54-71 (find_all_linear_names),
    131-137 (task type), 140-202 (the LoraConfig), 205-297 and 343-355 (ParamWrapper dropout);
    schemas/peft.py:233-238 (lora_dropout 0.0 when unset)."""
    import torch

    auto = cfg.get("type_of_model") or cfg.get("model_type")
    if not auto and cfg.get("reward_model"):
        auto = "AutoModelForSequenceClassification"
    if not auto and cfg.get("process_reward_model"):
        auto = "AutoModelForTokenClassification"
    labels = cfg.get("num_labels") or (1 if cfg.get("reward_model") else 2 if cfg.get("process_reward_model") else None)
    if labels:  # loaders/utils.py:178-180, schemas/validation.py:256-270
        config = dict(config, num_labels=labels)
    if not auto:
        # loaders/constants.py:8 (MULTIMODAL_AUTO_MODEL_MAPPING), utils/config/__init__.py:275-285
        auto = "AutoModelForImageTextToText" if image_text_to_text(config["model_type"]) else "AutoModelForCausalLM"
    model = build(config, auto)
    targets = cfg.get("lora_target_modules") or []
    if cfg.get("lora_target_linear"):
        names = set()
        for name, module in model.named_modules():
            cls = module.__class__.__name__
            if isinstance(module, torch.nn.Linear) or "Linear" in cls and cls not in ("LlamaLinearScalingRotaryEmbedding",):
                parts = name.split(".")
                names.add(parts[0] if len(parts) == 1 else parts[-1])
        output = {"gpt_neox": "embed_out", "falcon": "lm_head", "nemotron_h": "lm_head"}.get(
            model.config.model_type, "lm_head")
        names.discard(output)
        as_list = targets if isinstance(targets, list) else [targets]
        targets = list(set(as_list + list(names)))
    cls = type(model).__name__
    task = "SEQ_CLS" if "SequenceClassification" in cls else "TOKEN_CLS" if "TokenClassification" in cls else "CAUSAL_LM"
    kwargs = dict(
        r=cfg.get("lora_r"), lora_alpha=cfg.get("lora_alpha"), target_modules=targets,
        target_parameters=cfg.get("lora_target_parameters") or [],
        layers_to_transform=cfg.get("peft_layers_to_transform"), layers_pattern=cfg.get("peft_layers_pattern"),
        lora_dropout=cfg["lora_dropout"] if cfg.get("lora_dropout") is not None else 0.0,
        fan_in_fan_out=cfg.get("lora_fan_in_fan_out"),
        modules_to_save=cfg.get("lora_modules_to_save") or None, exclude_modules=None, bias="none", task_type=task,
    )
    for key, field in (("peft_use_dora", "use_dora"), ("peft_use_rslora", "use_rslora"),
                       ("lora_rank_pattern", "rank_pattern"), ("lora_alpha_pattern", "alpha_pattern"),
                       ("peft_trainable_token_indices", "trainable_token_indices")):
        if cfg.get(key):
            kwargs[field] = cfg[key]
    patch = _axolotl_dropout_patch if kwargs["lora_dropout"] and not kwargs["target_parameters"] else None
    return run_peft(model, kwargs, patch)


@contextmanager
def _axolotl_dropout_patch():
    """adapter.py:243-297: ParamWrapper gets a copy of the config with lora_dropout=0."""
    from peft.tuners.lora.layer import ParamWrapper

    original = ParamWrapper.__init__

    def init(self, base_layer, adapter_name, parameter_name, config, *args, **kwargs):
        if getattr(config, "lora_dropout", 0):
            config = copy.copy(config)
            config.lora_dropout = 0.0
        return original(self, base_layer, adapter_name, parameter_name, config, *args, **kwargs)

    ParamWrapper.__init__ = init
    try:
        yield
    finally:
        ParamWrapper.__init__ = original


# --- LLaMA-Factory v0.9.5 (7af909522) -------------------------------------------------------

LF_COMPOSITE = {  # src/llamafactory/model/model_utils/visual.py:216-444 (the types tested here)
    "llava": (["multi_modal_projector"], ["vision_tower"], ["language_model", "lm_head"], []),
    "qwen2_5_vl": (["visual.merger"], ["visual.patch_embed", "visual.blocks"], ["language_model", "lm_head"],
                   ["patch_embed"]),
    "gemma3": (["multi_modal_projector"], ["vision_tower"], ["language_model", "lm_head"], []),
}


def llama_factory(cfg: dict, config: dict):
    """hparams/finetuning_args.py:56-124 (LoraArguments), 527-538 (freeze_*), 560-571
    (__post_init__: split_arg, lora_alpha or 2 x rank); model/loader.py:160-167 (the class);
    model/adapter.py:204-284 (_setup_lora_tuning); model/model_utils/misc.py:28-77
    (find_all_linear_modules, find_expanded_modules); model/model_utils/visual.py:173-213
    (get_forbidden_modules, patch_target_modules)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    mt = config["model_type"]
    auto = ("AutoModelForImageTextToText" if image_text_to_text(mt) else
            "AutoModelForSeq2SeqLM" if mt in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES else "AutoModelForCausalLM")
    model = build(config, auto)
    rank = cfg.get("lora_rank", 8)
    alpha = cfg.get("lora_alpha") or rank * 2
    target = _split(cfg.get("lora_target", "all"))
    freeze_vision = cfg.get("freeze_vision_tower", True)
    composite = LF_COMPOSITE.get(model.config.model_type)
    if len(target) == 1 and target[0] == "all":
        forbidden = {"lm_head"}
        if composite:
            forbidden.update(composite[0])
            if freeze_vision:
                forbidden.update(composite[1])
        names = set()
        for name, module in model.named_modules():
            if any(f in name for f in forbidden):
                continue
            if "Linear" in module.__class__.__name__ and "Embedding" not in module.__class__.__name__:
                names.add(name.split(".")[-1])
        target = list(names)
    if composite:
        forbidden = set(composite[3])
        if freeze_vision:
            forbidden.update(composite[1])
        if cfg.get("freeze_multi_modal_projector", True):
            forbidden.update(composite[0])
        if cfg.get("freeze_language_model", False):
            forbidden.update(composite[2])
        target = [name for name, _ in model.named_modules()
                  if any(t in name for t in target) and not any(f in name for f in forbidden)]
    kwargs = dict(task_type="CAUSAL_LM", inference_mode=False, r=rank, target_modules=target, lora_alpha=alpha,
                  lora_dropout=cfg.get("lora_dropout", 0.0), use_rslora=cfg.get("use_rslora", False),
                  use_dora=cfg.get("use_dora", False), modules_to_save=_split(cfg.get("additional_target")))
    return run_peft(model, kwargs)


def llama_factory_v1(cfg: dict, config: dict):
    """v1/core/model_engine.py:136-157 (the class); v1/config/arg_utils.py:61-81 (string values);
    v1/plugins/model_plugins/peft.py:80-91 (_find_all_linear_modules), 151-187 (get_lora_model)."""
    kind = cfg.get("model_class", "llm")
    if kind == "llm":
        auto = "AutoModelForImageTextToText" if image_text_to_text(config["model_type"]) else "AutoModelForCausalLM"
    else:
        auto = "AutoModelForTokenClassification" if kind == "cls" else "AutoModel"
        if kind == "cls":
            config = dict(config, num_labels=1, classifier_dropout=0.0)
    model = build(config, auto)
    block = cfg["peft_config"]
    target = block.get("target_modules", "all")
    if target == "all":
        names = set()
        for name, module in model.named_modules():
            if any(f in name for f in ("lm_head", "output_layer", "output")):
                continue
            if "Linear" in module.__class__.__name__ and "Embedding" not in module.__class__.__name__:
                names.add(name.split(".")[-1])
        target = list(names)
    elif isinstance(target, str):
        target = [target]
    kwargs = dict(task_type="CAUSAL_LM", inference_mode=False, r=block.get("r", 8),
                  lora_alpha=block.get("lora_alpha", 16), lora_dropout=block.get("lora_dropout", 0.05),
                  use_rslora=block.get("use_rslora", False), use_dora=block.get("use_dora", False),
                  target_modules=target, modules_to_save=block.get("modules_to_save"))
    return run_peft(model, kwargs)


# --- TRL v1.9.0 (a785283c0) ---------------------------------------------------------------------

def trl(cfg: dict, config: dict):
    """trl/scripts/utils.py:303-386 (YAML values as argparse defaults: a str is converted by the
    field's type), trl/trainer/model_config.py:103-178 (defaults; a one-item
    lora_target_modules unwrapped), trl/trainer/utils.py:254-277 (get_peft_config),
    1123-1170 (create_model_from_path: the config's architecture)."""
    if not cfg.get("use_peft"):
        return ("error", "use_peft is off")
    model = build(config, (config.get("architectures") or ["AutoModelForCausalLM"])[0])

    def typed(key, kind, default):
        value = cfg.get(key, default)
        return kind(value) if isinstance(value, str) else value

    targets = cfg.get("lora_target_modules")
    if hasattr(targets, "__len__") and len(targets) == 1:
        targets = targets[0]
    kwargs = dict(task_type=cfg.get("lora_task_type", "CAUSAL_LM"), r=typed("lora_r", int, 16), target_modules=targets,
                  target_parameters=cfg.get("lora_target_parameters"), lora_alpha=typed("lora_alpha", int, 32),
                  lora_dropout=typed("lora_dropout", float, 0.05), bias="none",
                  use_rslora=cfg.get("use_rslora", False), use_dora=cfg.get("use_dora", False),
                  modules_to_save=cfg.get("lora_modules_to_save"))
    return run_peft(model, kwargs)


def alignment_handbook(cfg: dict, config: dict):
    """alignment-handbook 925acdfe4 (recipes of v0.3.0 and later): scripts/sft.py:96-111 loads the
    model with AutoModelForCausalLM (src/alignment/model_utils.py:37-60) and passes TRL's
    get_peft_config(model_args): TRL's semantics, on the causal-LM class."""
    if not config.get("architectures", [""])[0].endswith("ForCausalLM"):
        config = dict(config, architectures=["AutoModelForCausalLM"])
    return trl(cfg, config)


# --- torchtune main bd2a0fc7c (LoRA modules as in v0.6.1) -------------------------------------

TT_TIED = re.compile(r"^(llama3_2_(1b|3b)|qwen2_5_(0_5b|1_5b|3b)|qwen3_(0_6b|1_7b|4b))")
TT_NO_OUTPUT_ARG = re.compile(r"^(gemma_|gemma2_|qwen2_(0_5b|1_5b)$)")


def torchtune(cfg: dict, config: dict):
    """torchtune builds its own model and LoRA layers, no peft. The lora_* builders
    (torchtune/models/*/_model_builders.py: defaults rank 8, alpha 16, MLP/output off;
    gemma/gemma2/qwen2 0.5B-1.5B take no apply_lora_to_output, tied llama3.2/qwen2.5/qwen3 small
    ones raise for it) pass the settings to the component builders, which make q/k/v/output_proj
    a LoRALinear when named in lora_attn_modules (unknown names skipped, an empty list a
    ValueError), w1/w2/w3 with apply_lora_to_mlp and the output projection with
    apply_lora_to_output. LoRALinear (torchtune/modules/peft/lora.py:27-115) adds lora_a (in->r)
    and lora_b (r->out) without bias, DoRALinear (dora.py:94) a magnitude (out); only those are
    trained. Counted here from the model's shapes, named as convert_weights.py:225-234 names
    them on the Hugging Face model; the frozen base is the Hugging Face model's own count."""
    model_cfg = cfg["model"]
    builder = model_cfg["_component_"].rsplit(".", 1)[1].split("_", 1)[1]
    attn = model_cfg.get("lora_attn_modules")
    if attn is None:
        return ("error", "TypeError: missing lora_attn_modules")
    if not attn:
        return ("error", "ValueError: Must pass one or more of ['q_proj', 'k_proj', 'v_proj', 'output_proj']")
    if "apply_lora_to_output" in model_cfg and TT_NO_OUTPUT_ARG.match(builder):
        return ("error", "TypeError: unexpected keyword argument 'apply_lora_to_output'")
    if model_cfg.get("apply_lora_to_output") and TT_TIED.match(builder):
        return ("error", "ValueError: apply_lora_to_output with tied embeddings")
    rank, dora = model_cfg.get("lora_rank", 8), model_cfg.get("use_dora", False)
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    kv = config.get("num_key_value_heads", heads)
    head_dim = config.get("head_dim") or hidden // heads
    shapes = {"q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv * head_dim),
              "v_proj": (hidden, kv * head_dim), "output_proj": (heads * head_dim, hidden)}
    hf = {"q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj",
          "output_proj": "self_attn.o_proj", "w1": "mlp.gate_proj", "w3": "mlp.up_proj", "w2": "mlp.down_proj"}
    per_layer = {n: shapes[n] for n in ("q_proj", "k_proj", "v_proj", "output_proj") if n in attn}
    if model_cfg.get("apply_lora_to_mlp"):
        inter = config["intermediate_size"]
        per_layer.update(w1=(hidden, inter), w3=(hidden, inter), w2=(inter, hidden))
    if not per_layer and not model_cfg.get("apply_lora_to_output"):
        return ("error", "nothing is adapted")
    names, trainable = [], 0
    for i in range(config["num_hidden_layers"]):
        for name, (fan_in, fan_out) in per_layer.items():
            names.append(f"model.layers.{i}.{hf[name]}")
            trainable += rank * (fan_in + fan_out) + (fan_out if dora else 0)
    if model_cfg.get("apply_lora_to_output"):
        names.append("lm_head")
        trainable += rank * (hidden + config["vocab_size"]) + (config["vocab_size"] if dora else 0)
    base = build(config, "AutoModelForCausalLM")
    frozen = sum(p.numel() for p in base.parameters())
    return (sorted(names), trainable, frozen + trainable)


# --- unsloth v0.1.801-beta (f3a66cd18): the `unsloth train` CLI --------------------------------

def unsloth_cli(cfg: dict, config: dict):
    """unsloth_cli/config.py:36-48 (lora defaults), 80-105 (model_kwargs: the comma string split
    and stripped); studio/backend/core/training/trainer.py:1296-1310 and 1461-1474
    (prepare_model_for_training, text path); unsloth/models/llama.py:3061-3470
    (FastLlamaModel.get_peft_model: embed_tokens to modules_to_save, CAUSAL_LM), for the model
    types loader.py:826-890 sends there."""
    lora = cfg.get("lora", {})
    model = build(config, "AutoModelForCausalLM")
    parsed = [m.strip() for m in str(lora.get("target_modules", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"))
              .split(",") if m and m.strip()]
    targets = parsed or None
    if isinstance(targets, list) and "all-linear" in targets:
        targets = "all-linear" if len(targets) == 1 else [m for m in targets if m != "all-linear"]
    elif targets is None:
        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    modules_to_save, final = None, []
    for module in targets:
        if module == "embed_tokens":
            modules_to_save = ["embed_tokens"] if modules_to_save is None else modules_to_save + ["embed_tokens"]
        else:
            final.append(module)
    kwargs = dict(r=lora.get("lora_r", 64), lora_alpha=lora.get("lora_alpha", 16), target_modules=final,
                  lora_dropout=lora.get("lora_dropout", 0.0), bias="none", task_type="CAUSAL_LM",
                  layers_to_transform=None, init_lora_weights=True,
                  loftq_config={"loftq_bits": 4, "loftq_iter": 1} if lora.get("use_loftq") else {},
                  use_rslora=lora.get("use_rslora", False), modules_to_save=modules_to_save,
                  use_dora=lora.get("use_dora", False))
    return run_peft(model, kwargs)


# --- ms-swift v4.5.2 (1613a0d41) -----------------------------------------------------------------

def ms_swift(cfg: dict, config: dict):
    """swift/cli/main.py:38-67 (YAML to argv: a list field given one value gets one item);
    swift/arguments/tuner_args.py:115-205 (defaults, target_regex); swift/pipelines/train/tuner.py:
    92-151 (get_target_modules, get_modules_to_save), 174-231 (prepare_adapter);
    swift/utils/transformers_utils.py:133-205 (find_layers, find_all_linears, find_embedding).
    Text models only (a multimodal model's all-linear uses swift's model registry)."""
    import torch

    def as_list(value, default):
        if value is None:
            return list(default)
        return value if isinstance(value, list) else [str(value)]

    model = build(config, "AutoModelForCausalLM")
    targets = cfg.get("target_regex") or as_list(cfg.get("target_modules"), ["all-linear"])

    def find_layers(cond):
        inner = set()
        for name, module in model.named_modules():
            name = re.sub(r"\d+\.", "{}.", name)
            if not cond(name, module):
                inner.add(name)
        found = set()
        for name, module in model.named_modules():
            if cond(name, module):
                parts = name.split(".")
                leaf = parts.pop()
                for node in inner:
                    while parts and node.endswith(re.sub(r"\d+\.", "{}.", leaf)):
                        leaf = f"{parts.pop()}.{leaf}"
                found.add(leaf)
        return list(found)

    def linear(name, module):
        cls = module.__class__.__name__.lower()
        return ("linear" in cls and all(x not in cls for x in ("glulinear", "gemma4clippablelinear"))
                and all(x not in name for x in ["lm_head", "score", "v_head", "classifier", "lora_A", "lora_B", "base_layer"]))

    def embedding(name, module):
        return isinstance(module, torch.nn.Embedding)

    if not isinstance(targets, str):
        targets = list(targets)
        if "all-linear" in targets:
            targets.remove("all-linear")
            targets += find_layers(linear)
        if "all-embedding" in targets:
            targets.remove("all-embedding")
            targets += find_layers(embedding)
    saved = as_list(cfg.get("modules_to_save"), [])
    if "all-embedding" in saved:
        saved.remove("all-embedding")
        saved += find_layers(embedding)
    init = cfg.get("init_weights", "true")
    if isinstance(init, str) and init.lower() in ("true", "false"):
        init = init.lower() == "true"
    kwargs = dict(task_type="CAUSAL_LM", r=int(cfg.get("lora_rank", 8)), target_modules=targets,
                  lora_alpha=int(cfg.get("lora_alpha", 32)), lora_dropout=float(cfg.get("lora_dropout", 0.05)),
                  bias=cfg.get("lora_bias", "none"), modules_to_save=saved, use_rslora=bool(cfg.get("use_rslora", False)),
                  use_dora=bool(cfg.get("use_dora", False)), init_lora_weights=init)
    return run_peft(model, kwargs)


# --- AutoTrain Advanced 0.8.37.dev0 (b5c98fbe3) ----------------------------------------------------

def autotrain(cfg: dict, config: dict):
    """src/autotrain/parser.py:170-190 (the trainer from the task); trainers/clm/params.py (defaults);
    trainers/clm/utils.py:150-171 (get_target_modules), 925-990 (get_model, the default trainer's
    LoraConfig); train_clm_sft.py:29-37, train_clm_reward.py:37-83 (SEQ_CLS on a sequence
    classifier); trainers/seq2seq/__main__.py:205-220. The embeddings' resize to the tokenizer's
    length (clm/utils.py:961) is left out: it is 0 for a tokenizer as long as the vocabulary."""
    params = cfg.get("params", {})
    task = cfg["task"]
    family = task.split(":")[0].split("-")[0]
    trainer = task.split("-", 1)[1] if "-" in task else params.get("trainer", "default")
    if family == "seq2seq":
        model = build(config, "AutoModelForSeq2SeqLM")
        raw = params.get("target_modules", "all-linear")
        targets = [m.strip() for m in raw.split(",")] if raw is not None else None
        if len(targets) == 1 and targets[0] == "all-linear":
            targets = "all-linear"
        task_type = "SEQ_2_SEQ_LM"
    else:
        reward = trainer == "reward"
        if reward:
            config = dict(config, num_labels=1)
        model = build(config, "AutoModelForSequenceClassification" if reward else "AutoModelForCausalLM")
        raw = params.get("target_modules", "all-linear")
        if raw is None or raw.strip() == "":
            targets = None  # TARGET_MODULES.get(model): only Salesforce/codegen25-7b-multi is listed
        elif raw.strip().lower() == "all-linear":
            targets = "all-linear"
        else:
            targets = raw.split(",")
        task_type = "SEQ_CLS" if reward else "CAUSAL_LM"
    kwargs = dict(r=params.get("lora_r", 16), lora_alpha=params.get("lora_alpha", 32),
                  lora_dropout=params.get("lora_dropout", 0.05), bias="none", task_type=task_type,
                  target_modules=targets)
    return run_peft(model, kwargs)


# --- Hydra: `_target_: peft.LoraConfig` ----------------------------------------------------------

def hydra(cfg: dict, config: dict):
    """``hydra.utils.instantiate`` calls ``peft.LoraConfig`` with the block's keys (minus the
    ``_target_``-style keys); the model is the one the config's architecture names."""
    block = cfg["peft"]
    kwargs = {k: v for k, v in block.items() if not (k.startswith("_") and k.endswith("_"))}
    model = build(config, (config.get("architectures") or ["AutoModelForCausalLM"])[0])
    return run_peft(model, kwargs)


REPLAYS = {"hydra": hydra, "autotrain": autotrain, "ms-swift": ms_swift, "unsloth-studio": unsloth_cli, "torchtune": torchtune, "axolotl": axolotl, "llama-factory": llama_factory, "llama-factory-v1": llama_factory_v1,
           "trl": trl, "alignment-handbook": alignment_handbook}
_ = re  # used by later replays


# --- unsloth 2026.10.9: FastLanguageModel / FastModel .get_peft_model in Python -------------------

def unsloth_redirect(target_modules, modules_to_save, ensure_weight_tying, ties: bool, module_names=()):
    """unsloth/models/_utils.py:11507-11650 (_embedding_leaf, _redirect_embedding_targets,
    _raise_if_no_lora_targets_left, _resolve_ensure_weight_tying, _effective_weight_tying,
    _drop_tied_output_module), in the order llama.py:4883-4900 calls them, for a model without
    fast inference: the (target_modules, modules_to_save, ensure_weight_tying) Unsloth hands to
    LoraConfig, or ("error", message)."""
    def leaf(name):
        if type(name) is not str:
            return None
        last = name.rsplit(".", 1)[-1]
        return last if last in ("embed_tokens", "lm_head") else None

    def leaves(names):
        return {x for x in map(leaf, names or ()) if x is not None}

    moved = ()
    if type(target_modules) in (list, tuple):
        target_modules = list(dict.fromkeys(target_modules))
        moved = [x for x in target_modules if leaf(x)]
        if moved:
            remaining = [x for x in target_modules if not leaf(x)]
            saved = [] if modules_to_save is None else [modules_to_save] if isinstance(modules_to_save, str) \
                else list(modules_to_save)
            saved.extend(x for x in moved if x not in saved)
            target_modules, modules_to_save = remaining, saved
    if moved and not target_modules:
        return ("error", "RuntimeError: Unsloth: ... are trained as full modules via `modules_to_save`")
    if ensure_weight_tying is not None:
        requested = bool(ensure_weight_tying)
    else:
        requested = {"embed_tokens", "lm_head"} <= leaves(modules_to_save) and ties
    ewt = requested and ties and "embed_tokens" in leaves(modules_to_save)
    if ewt and {"embed_tokens", "lm_head"} <= leaves(modules_to_save):
        kept, normalized = [x for x in modules_to_save if leaf(x) != "lm_head"], []
        for entry in kept:
            last = leaf(entry)
            if last is None or entry == last:
                normalized.append(entry)
            elif sum(1 for n in module_names if n == last or n.endswith("." + last)) == 1:
                normalized.append(last)
            else:
                normalized = modules_to_save
                break
        modules_to_save = normalized
    return target_modules, modules_to_save, ewt
