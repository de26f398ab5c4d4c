"""Reading the training settings that decide memory, for every reader (``lora_lint.training``).

A reader hands these functions a ``Lookup``: the framework's own key (a dotted path for nested
keys: ``tokenizer.max_seq_len``) -> the ``Param`` written for it, or None when the file does not
write it. A YAML dialect makes one from its mapping (``dialects._base.lookup``), the Python reader
from a call's keyword arguments; a shell command's flags reach the same functions through the
framework's dialect. Each function returns ``{name: Param}`` entries for ``LoraSite.context``:
written values normalised, the framework's defaults for what the file leaves out as implicit
Params at the site's span (``closed=False``, when a ``**kwargs`` may set anything, gives no
defaults: what is not seen is not known), and a value that cannot be read as UNKNOWN.

Each framework's defaults are read from its source (the versions are named at each function);
``models.training`` turns the entries into a ``TrainingSetup`` and the memory estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..model import UNKNOWN, Param, Span
from ..training import bool_value, dtype_name, int_value, optimizer_name

Lookup = Callable[[str], "Param | None"]
Entries = dict[str, Param]


class Reading:
    """The entries one function collects: what is written, else the framework's default."""

    def __init__(self, get: Lookup, span: Span, closed: bool = True) -> None:
        self.get = get
        self.span = span
        self.closed = closed
        self.out: Entries = {}

    def first(self, *keys: str) -> Param | None:
        """The Param of the first of ``keys`` the file writes (null counts as not written)."""
        for k in keys:
            p = self.get(k)
            if p is not None and p.value is not None:
                return p
        return None

    def put(self, name: str, where: Param, value: Any) -> None:
        self.out[name] = Param(where.key, value, where.span, implicit=where.implicit)

    def default(self, name: str, key: str, value: Any) -> None:
        """The framework's value for ``name`` when the file does not set it (nothing when a
        ``**kwargs`` may set it)."""
        if name not in self.out and self.closed:
            self.out[name] = Param(key, value, self.span, implicit=True)

    def read(self, name: str, keys: Iterable[str] | str, convert: Callable[[Any], Any],
             default: Any = UNKNOWN) -> Any:
        """``name`` from the first of ``keys`` written (converted), else ``default`` (when not
        UNKNOWN); the value it got (UNKNOWN when neither)."""
        keys = (keys,) if isinstance(keys, str) else tuple(keys)
        p = self.first(*keys)
        if p is not None:
            self.put(name, p, convert(p.value) if p.known else UNKNOWN)
        elif default is not UNKNOWN:
            self.default(name, keys[0], default)
        got = self.out.get(name)
        return got.value if got is not None else UNKNOWN

    def value(self, *keys: str, default: Any = None) -> Any:
        """The raw value of the first key written (UNKNOWN when not static), else ``default``."""
        p = self.first(*keys)
        if p is None:
            return default if self.closed else UNKNOWN
        return p.value if p.known else UNKNOWN


def _mixed(bf16: Any, fp16: Any) -> Any:
    if bf16 is UNKNOWN or fp16 is UNKNOWN:
        return UNKNOWN
    return "bf16" if bf16 else "fp16" if fp16 else "no"


# --- transformers and peft ------------------------------------------------------------------------

#: ``TrainingArguments.fsdp`` words -> the ZeRO stage they shard like (transformers' FSDPOption).
FSDP_STAGES = {"full_shard": 3, "hybrid_shard": 3, "hybrid_shard_zero2": 2, "shard_grad_op": 2, "no_shard": 0}


def deepspeed_sharding(value: Any) -> Any:
    """A DeepSpeed config given as a dict: ``zero_optimization.stage`` and its offloads. A path
    (the JSON file is another file, read at launch from the launch directory) is UNKNOWN."""
    if value is None or value is False:
        return "none"
    if not isinstance(value, dict):
        return UNKNOWN
    zero = value.get("zero_optimization", {})
    if not isinstance(zero, dict):
        return UNKNOWN
    stage = zero.get("stage", 0)
    if stage == "auto" or not isinstance(stage, int) or isinstance(stage, bool) or not 0 <= stage <= 3:
        return UNKNOWN

    def offloaded(key: str) -> Any:
        sub = zero.get(key)
        if sub is None:
            return False
        device = sub.get("device") if isinstance(sub, dict) else UNKNOWN
        return UNKNOWN if device is UNKNOWN or device == "auto" else device in ("cpu", "nvme")

    opt, par = offloaded("offload_optimizer"), offloaded("offload_param")
    if opt is UNKNOWN or par is UNKNOWN:
        return UNKNOWN
    return {"engine": "deepspeed", "stage": stage, "offload_optimizer": opt, "offload_params": par}


def fsdp_sharding(value: Any, config: Any = None) -> Any:
    """``TrainingArguments.fsdp`` (``"full_shard auto_wrap"``, a list, True) -> the sharding."""
    if value is None or value is False or value == "" or value == []:
        return "none"
    words = value.split() if isinstance(value, str) else value if isinstance(value, list) else None
    if value is True:
        words = ["full_shard"]
    if words is None or not all(isinstance(w, str) for w in words):
        return UNKNOWN
    words = [w.lower() for w in words]
    stages = [FSDP_STAGES[w] for w in words if w in FSDP_STAGES]
    stage = stages[0] if stages else 3  # transformers: fsdp=True / only "offload" means full_shard
    offload = "offload" in words
    if isinstance(config, dict) and isinstance(config.get("offload_params"), bool):
        offload = offload or config["offload_params"]
    return {"engine": "fsdp", "stage": stage, "offload_optimizer": offload, "offload_params": offload}


def bits_and_bytes(get: Lookup, span: Span, closed: bool = True) -> Entries:
    """``BitsAndBytesConfig(...)`` (transformers 5.25 defaults: fp4, no double quantization,
    compute dtype float32, transformers' own skip list)."""
    r = Reading(get, span, closed)
    four, eight = r.value("load_in_4bit", default=False), r.value("load_in_8bit", default=False)
    where = r.first("load_in_4bit", "load_in_8bit")
    if four is UNKNOWN or eight is UNKNOWN:
        r.put("quantization", where or Param("BitsAndBytesConfig", UNKNOWN, span), UNKNOWN)
    elif where is not None:
        on = r.first(*(k for k, v in (("load_in_4bit", four), ("load_in_8bit", eight)) if v)) or where
        r.put("quantization", on, 4 if four else 8 if eight else 0)
    else:
        r.default("quantization", "BitsAndBytesConfig", 0)
    r.read("quant_type", "bnb_4bit_quant_type", lambda v: v.lower() if isinstance(v, str) else UNKNOWN, "fp4")
    r.read("double_quant", "bnb_4bit_use_double_quant", bool_value, False)
    r.read("compute_dtype", "bnb_4bit_compute_dtype", dtype_name, "fp32")
    r.read("skip_modules", "llm_int8_skip_modules",
           lambda v: list(v) if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v) else UNKNOWN)
    return r.out


#: TRL's trainer configs: what they change from TrainingArguments' defaults (trl 0.2x:
#: ``gradient_checkpointing`` True, ``bf16`` True unless ``fp16``; SFTConfig's ``max_length``
#: 1024 and its chunked loss).
TRL_CONFIGS = {"SFTConfig": "sft", "DPOConfig": "dpo", "ORPOConfig": "orpo", "KTOConfig": "kto",
               "CPOConfig": "cpo", "GRPOConfig": "grpo", "RLOOConfig": "rloo", "RewardConfig": "reward",
               "BCOConfig": "bco", "OnlineDPOConfig": "online-dpo", "GKDConfig": "gkd", "PRMConfig": "prm",
               "PPOConfig": "ppo", "XPOConfig": "xpo", "NashMDConfig": "nash-md"}


def trainer_arguments(get: Lookup, span: Span, *, trl: str | None = None, closed: bool = True) -> Entries:
    """``TrainingArguments(...)`` (transformers 5.25: optim ``adamw_torch_fused`` with torch >=
    2.8, bf16/fp16 off, checkpointing off, ``per_device_train_batch_size`` 8, accumulation 1,
    ``use_liger_kernel`` off), or a TRL config when ``trl`` names its trainer (``"sft"``...)."""
    r = Reading(get, span, closed)
    r.read("optimizer", "optim", optimizer_name, "adamw_torch_fused")
    bf16 = r.first("bf16")
    fp16 = r.first("fp16")
    b = bool_value(bf16.value) if bf16 is not None else (UNKNOWN if not closed else None)
    f = bool_value(fp16.value) if fp16 is not None else (UNKNOWN if not closed else False)
    if b is None:  # not written: TRL's configs default to bf16 unless fp16
        b = (not f if f is not UNKNOWN else UNKNOWN) if trl else False
    mixed = _mixed(b, f)
    if bf16 is not None or fp16 is not None:
        r.put("mixed_precision", bf16 if bf16 is not None and b else fp16 if fp16 is not None and f else
              (bf16 or fp16), mixed)
    else:
        r.default("mixed_precision", "bf16", mixed)
    r.read("gradient_checkpointing", ("activation_checkpointing", "gradient_checkpointing"), bool_value, bool(trl))
    r.read("micro_batch", "per_device_train_batch_size", int_value, 8)
    r.read("grad_accum", "gradient_accumulation_steps", int_value, 1)
    liger = r.value("use_liger_kernel", default=False)
    ds = r.first("deepspeed")
    fsdp = r.first("fsdp")
    if ds is not None:
        r.put("sharding", ds, deepspeed_sharding(ds.value) if ds.known else UNKNOWN)
    elif fsdp is not None:
        config = r.value("fsdp_config", default=None)
        r.put("sharding", fsdp, fsdp_sharding(fsdp.value, config) if fsdp.known else UNKNOWN)
    else:
        r.default("sharding", "deepspeed", "none")
    if trl:
        r.out["objective"] = Param("objective", trl, span, implicit=True)
        if trl == "sft":
            r.read("seq_len", ("max_length", "max_seq_length"), int_value, 1024)
            loss = r.value("loss_type", default=None)
            chunked = UNKNOWN if liger is UNKNOWN or loss is UNKNOWN else (
                bool(liger) or loss in (None, "chunked_nll"))
            where = r.first("loss_type", "use_liger_kernel")
            if where is not None:
                r.put("chunked_loss", where, chunked)
            else:
                r.default("chunked_loss", "loss_type", chunked)
            return r.out
    where = r.first("use_liger_kernel")
    if where is not None:
        r.put("chunked_loss", where, bool_value(liger))
    else:
        r.default("chunked_loss", "use_liger_kernel", False)
    return r.out


def model_load(get: Lookup, span: Span, closed: bool = True, *, default_dtype: str = "auto") -> Entries:
    """``from_pretrained(..., dtype=/torch_dtype=, load_in_4bit=, load_in_8bit=, device_map=)``
    (transformers 5: the dtype defaults to config.json's; 4.x took ``load_in_4bit`` itself and
    built an fp4 BitsAndBytesConfig). ``quantization_config=`` is read by the caller."""
    r = Reading(get, span, closed)
    r.read("dtype", ("dtype", "torch_dtype"), lambda v: dtype_name(v) or "auto", default_dtype)
    p = r.first("load_in_4bit", "load_in_8bit")
    if p is not None:
        r.out.update(bits_and_bytes(get, span, closed))
    r.read("device_map", "device_map", device_map_kind, "cpu")
    r.default("launch_sharding", "device_map", True)  # accelerate launch --config_file ... may shard
    return r.out


def device_map_kind(value: Any) -> Any:
    """Where ``from_pretrained(device_map=value)`` puts the model: ``"gpu"`` (one device: ``0``,
    ``"cuda:0"``, ``{"": n}``), ``"cpu"`` (None: loaded on the CPU, the trainer moves it), or
    ``"split"`` (``auto``, ``balanced``, ``sequential``, ``"cpu"``, a map naming several devices:
    accelerate may spread it over several GPUs or keep part of it in CPU memory)."""
    if value is None:
        return "cpu"
    if isinstance(value, int) and not isinstance(value, bool):
        return "gpu"
    if isinstance(value, str):
        v = value.strip().lower()
        return "gpu" if v.startswith(("cuda", "npu", "xpu", "mps")) or v.isdigit() else "split"
    if isinstance(value, dict):
        devices = {str(d).lower() for d in value.values()}
        return "gpu" if len(devices) == 1 and not devices & {"cpu", "disk", "meta"} else "split"
    return UNKNOWN


# --- the frameworks' YAML -------------------------------------------------------------------------

def axolotl(get: Lookup, span: Span) -> Entries:
    """axolotl (main at 067b021c8, ``utils/schemas``, ``utils/config/__init__.py``
    ``resolve_dtype``/``choose_device``, ``loaders/model.py``): ``sequence_len`` 512,
    ``micro_batch_size`` 1, ``gradient_accumulation_steps`` 1, ``optimizer`` adamw_torch_fused,
    ``gradient_checkpointing`` false (``offload``: CPU-offloaded checkpoints), ``bf16: auto``:
    bf16 where the GPU has it, else fp16 (both 16 bits: the load dtype and autocast), fp32 only
    with ``bf16: false`` and no fp16; QLoRA (``adapter: qlora`` + ``load_in_4bit``) is nf4 with
    double quantization computed in the load dtype, ``bnb_config_kwargs`` on top; LoRA +
    ``load_in_8bit`` is LLM.int8; norms and embeddings go back to the load dtype after
    ``prepare_model_for_kbit_training``; one GPU gets ``device_map: auto`` and each process of
    a multi-GPU run the whole model; ``sample_packing`` with ``pad_to_sequence_len`` (or the
    latter alone) makes every batch ``sequence_len`` long; ``cut_cross_entropy`` or Liger's
    fused cross-entropy never hold the logits; ``rl:`` names a preference objective."""
    r = Reading(get, span)
    r.read("seq_len", "sequence_len", int_value, 512)
    r.read("micro_batch", "micro_batch_size", int_value, 1)
    r.read("grad_accum", "gradient_accumulation_steps", int_value, 1)
    r.read("optimizer", "optimizer", optimizer_name, "adamw_torch_fused")
    gc = r.first("gradient_checkpointing")
    if gc is None:
        r.default("gradient_checkpointing", "gradient_checkpointing", False)
    elif not gc.known:
        r.put("gradient_checkpointing", gc, UNKNOWN)
    else:
        offload = isinstance(gc.value, str) and gc.value.lower().startswith("offload")
        r.put("gradient_checkpointing", gc, True if offload else bool_value(gc.value))
        r.put("checkpoint_offload", gc, offload)
    bf16, fp16 = r.value("bf16", default="auto"), r.value("fp16", default=None)
    b16, f16 = r.value("bfloat16", default=None), r.value("float16", default=None)
    eight = r.value("load_in_8bit", default=False)
    where = r.first("bf16", "fp16", "bfloat16", "float16")
    if UNKNOWN in (bf16, fp16, b16, f16, eight):
        dtype = mixed = UNKNOWN
    else:
        if bf16 == "auto":
            bf16 = not fp16  # bf16 or, without it, fp16: 16 bits either way
            fp16 = fp16 if fp16 is not None else not bf16
        amp16 = bool(bf16) or bool(fp16)
        dtype = "bf16" if (bf16 or b16) else "fp16" if (eight or fp16 or f16) else "fp32"
        mixed = ("bf16" if bf16 else "fp16") if amp16 else "no"
    for name, value in (("dtype", dtype), ("mixed_precision", mixed)):
        if where is not None:
            r.put(name, where, value)
        else:
            r.default(name, "bf16", value)
    adapter = r.value("adapter", default=None)
    four = r.value("load_in_4bit", default=False)
    qwhere = r.first("load_in_4bit", "load_in_8bit", "adapter")
    if UNKNOWN in (adapter, four, eight):
        r.put("quantization", qwhere, UNKNOWN)
    elif adapter == "qlora" and four:
        r.put("quantization", r.first("load_in_4bit"), 4)
        kwargs = r.value("bnb_config_kwargs", default=None)
        kwargs = kwargs if isinstance(kwargs, dict) else {}
        r.out.update({"quant_type": Param("bnb_4bit_quant_type", kwargs.get("bnb_4bit_quant_type", "nf4"), span, implicit=True),
                      "double_quant": Param("bnb_4bit_use_double_quant",
                                            bool_value(kwargs.get("bnb_4bit_use_double_quant", True)), span, implicit=True),
                      "compute_dtype": Param("bnb_4bit_compute_dtype", dtype, span, implicit=True)})
    elif adapter == "lora" and eight:
        r.put("quantization", r.first("load_in_8bit"), 8)
    else:
        r.default("quantization", "load_in_4bit", 0)
    r.default("upcast_frozen", "adapter", False)
    packing, pad = r.value("sample_packing", default=False), r.value("pad_to_sequence_len", default=None)
    if packing is UNKNOWN or pad is UNKNOWN:
        full = UNKNOWN
    else:
        full = bool(pad) if pad is not None else False
    p = r.first("pad_to_sequence_len", "sample_packing")
    if p is not None:
        r.put("seq_full", p, full)
    else:
        r.default("seq_full", "pad_to_sequence_len", full)
    cce = r.value("cut_cross_entropy", default=False)
    liger = r.value("liger_fused_linear_cross_entropy", default=False)
    p = r.first("cut_cross_entropy", "liger_fused_linear_cross_entropy")
    chunked = UNKNOWN if UNKNOWN in (cce, liger) else bool(cce) or bool(liger)
    if p is not None:
        r.put("chunked_loss", p, chunked)
    else:
        r.default("chunked_loss", "cut_cross_entropy", chunked)
    _sharding(r, "deepspeed", ("fsdp_config", "fsdp"))
    rl = r.value("rl", default=None)
    p = r.first("rl")
    if p is not None:
        r.put("objective", p, rl.lower() if isinstance(rl, str) else UNKNOWN)
    else:
        r.default("objective", "rl", "sft")
    # one process: device_map "auto" (accelerate may spread the model over the visible GPUs, or
    # keep part of it on the CPU); each process of a multi-GPU run: the whole model on its GPU
    r.read("device_map", "device_map", device_map_kind, "split")
    r.default("launch_sharding", "deepspeed", False)  # axolotl's own deepspeed/fsdp_config keys
    r.read("experts_quantized", "quantize_moe_experts", bool_value, False)
    r.default("calibrated", "base_model", True)
    return r.out


def _sharding(r: Reading, deepspeed: str, fsdp: Iterable[str]) -> None:
    """DeepSpeed (a dict, or a path: UNKNOWN) or an FSDP block, else none."""
    ds = r.first(deepspeed)
    fs = r.first(*fsdp)
    if ds is not None:
        r.put("sharding", ds, deepspeed_sharding(ds.value) if ds.known else UNKNOWN)
    elif fs is not None:
        value = fs.value if fs.known else UNKNOWN
        if isinstance(value, dict):  # axolotl's fsdp_config: reshard_after_forward / sharding_strategy
            strategy = value.get("sharding_strategy") or value.get("fsdp_sharding_strategy")
            reshard = value.get("reshard_after_forward")
            if isinstance(strategy, str):
                sharding = fsdp_sharding(strategy.lower(), value)
            elif reshard is False:
                sharding = fsdp_sharding("shard_grad_op", value)
            elif reshard in (True, None):
                sharding = fsdp_sharding("full_shard", value)
            else:
                sharding = UNKNOWN
            offload = value.get("offload_params", value.get("fsdp_offload_params"))
            if isinstance(sharding, dict) and isinstance(offload, bool):
                sharding = {**sharding, "offload_optimizer": offload, "offload_params": offload}
        else:
            sharding = fsdp_sharding(value) if value is not UNKNOWN else UNKNOWN
        r.put("sharding", fs, sharding)
    else:
        r.default("sharding", deepspeed, "none")


def llama_factory(get: Lookup, span: Span) -> Entries:
    """LLaMA-Factory v0 (main at ff6d4d12e, ``hparams/parser.py``, ``model/patcher.py``,
    ``model/adapter.py``, ``model_utils/quantization.py``): the model is loaded with
    ``torch_dtype="auto"`` (config.json's); ``cutoff_len`` 2048; TrainingArguments' batch (8),
    accumulation, optimizer and bf16/fp16 (autocast); ``disable_gradient_checkpointing`` false
    (checkpointing is on; ``use_unsloth_gc`` offloads); ``quantization_bit`` 4 (nf4, double
    quantization, ``quantization_type``/``double_quantization``) or 8 computed in bf16/fp16
    (else bf16, or fp16 without it on the GPU); every trainable parameter cast to fp32 unless
    ``pure_bf16``; ``enable_liger_kernel`` fuses the loss of sft and pt; ``stage`` is the objective."""
    r = Reading(get, span)
    out = trainer_arguments(get, span)
    r.out.update({k: v for k, v in out.items() if k != "gradient_checkpointing" and k != "chunked_loss"})
    r.default("dtype", "model_name_or_path", "auto")
    r.read("seq_len", "cutoff_len", int_value, 2048)
    off = r.value("disable_gradient_checkpointing", default=False)
    p = r.first("disable_gradient_checkpointing")
    if p is not None:
        r.put("gradient_checkpointing", p, UNKNOWN if off is UNKNOWN else not bool_value(off))
    else:
        r.default("gradient_checkpointing", "disable_gradient_checkpointing", True)
    r.read("checkpoint_offload", "use_unsloth_gc", bool_value, False)
    bits = r.value("quantization_bit", default=None)
    method = r.value("quantization_method", default="bnb")
    p = r.first("quantization_bit")
    if p is None:
        r.default("quantization", "quantization_bit", 0)
    elif bits is UNKNOWN or method is UNKNOWN:
        r.put("quantization", p, UNKNOWN)
    elif method != "bnb" or int_value(bits) not in (4, 8):
        r.put("quantization", p, UNKNOWN)  # HQQ, EETQ...: not sized here
    else:
        r.put("quantization", p, int_value(bits))
        r.read("quant_type", "quantization_type", lambda v: v.lower() if isinstance(v, str) else UNKNOWN, "nf4")
        r.read("double_quant", "double_quantization", bool_value, True)
        mixed = r.out.get("mixed_precision")
        compute = mixed.value if mixed is not None and mixed.value in ("bf16", "fp16") else (
            UNKNOWN if mixed is None or mixed.value is UNKNOWN else "bf16")
        r.default("compute_dtype", "bf16", compute)
    pure = r.value("pure_bf16", default=False)
    p = r.first("pure_bf16")
    if p is not None:
        r.put("trainable_dtype", p, UNKNOWN if pure is UNKNOWN else "bf16" if bool_value(pure) else "fp32")
    else:
        r.default("trainable_dtype", "pure_bf16", "fp32")
    stage = r.value("stage", default="sft")
    p = r.first("stage")
    if p is not None:
        r.put("objective", p, stage.lower() if isinstance(stage, str) else UNKNOWN)
    else:
        r.default("objective", "stage", "sft")
    liger = r.value("enable_liger_kernel", default=False)
    p = r.first("enable_liger_kernel")
    fused = UNKNOWN if liger is UNKNOWN or stage is UNKNOWN else bool_value(liger) and stage in ("sft", "pt")
    if p is not None:
        r.put("chunked_loss", p, fused)
    else:
        r.default("chunked_loss", "enable_liger_kernel", False)
    r.default("seq_full", "packing", False)
    # the model goes to this process's GPU, unless ZeRO-3/FSDP, which LLaMA-Factory also takes
    # from an accelerate config (examples/accelerate/fsdp_config.yaml)
    r.default("device_map", "device_map", "gpu")
    r.default("launch_sharding", "deepspeed", True)
    r.default("calibrated", "model_name_or_path", not truthy(r.value("use_unsloth", default=False)))
    return r.out


def truthy(v: Any) -> bool:
    return v is not UNKNOWN and bool(bool_value(v))


def trl_cli(get: Lookup, span: Span, trainer: str | None = None) -> Entries:
    """The ``trl`` CLI's YAML (trl main at f2cd57710): ModelConfig's ``dtype`` (float32 by
    default), its ``load_in_4bit``/``load_in_8bit`` made into a BitsAndBytesConfig with
    ``bnb_4bit_quant_type`` (nf4) and ``use_bnb_nested_quant`` (false) computed in ``dtype``, and
    the trainer config's keys (``trainer``: the command, when known; which one the file is for is
    not in the file)."""
    r = Reading(get, span)
    r.out.update(trainer_arguments(get, span, trl=trainer or "sft"))
    if trainer is None:  # the objective is the command line's
        r.out["objective"] = Param("objective", UNKNOWN, span, implicit=True)
    dtype = r.read("dtype", ("dtype", "torch_dtype"), lambda v: dtype_name(v) or "fp32", "fp32")
    four, eight = r.value("load_in_4bit", default=False), r.value("load_in_8bit", default=False)
    p = r.first("load_in_4bit", "load_in_8bit")
    if p is None:
        r.default("quantization", "load_in_4bit", 0)
    elif four is UNKNOWN or eight is UNKNOWN:
        r.put("quantization", p, UNKNOWN)
    else:
        r.put("quantization", p, 4 if bool_value(four) else 8 if bool_value(eight) else 0)
        r.read("quant_type", "bnb_4bit_quant_type", lambda v: v.lower() if isinstance(v, str) else UNKNOWN, "nf4")
        r.read("double_quant", "use_bnb_nested_quant", bool_value, False)
        r.default("compute_dtype", "dtype", dtype)
    q = r.out.get("quantization")
    r.default("device_map", "load_in_4bit", UNKNOWN if q is None or q.value is UNKNOWN else "gpu" if q.value else "cpu")
    r.default("launch_sharding", "deepspeed", True)  # accelerate configs (trl's --accelerate_config)
    r.default("seq_full", "packing", False)
    r.default("calibrated", "model_name_or_path", True)
    return r.out


#: torchtune's loss components that never hold the whole logits.
TORCHTUNE_CHUNKED = ("CEWithChunkedOutputLoss", "LinearCrossEntropyLoss")


def torchtune(get: Lookup, span: Span, qlora: bool) -> Entries:
    """torchtune (main at bd2a0fc7c, ``recipes/lora_finetune_*.py``): ``dtype`` (bf16; fp32
    also), adapters in that dtype too; a ``qlora_*`` builder (or ``quantize_base``) stores the
    adapted linears in NF4; ``batch_size``, ``tokenizer.max_seq_len`` (null: no limit),
    ``dataset.packed`` (every pack padded to ``max_seq_len``), ``gradient_accumulation_steps``,
    ``enable_activation_checkpointing`` and ``enable_activation_offloading`` (false),
    ``optimizer._component_`` and its ``fused``, ``loss._component_`` (DPO losses: a preference
    objective). torchtune's own modules are not transformers': the activation estimate is not
    calibrated on them."""
    r = Reading(get, span)
    dtype = r.read("dtype", "dtype", dtype_name, "bf16")
    r.default("trainable_dtype", "dtype", dtype)
    r.default("mixed_precision", "dtype", "no")
    r.read("micro_batch", "batch_size", int_value)
    r.read("grad_accum", "gradient_accumulation_steps", int_value, 1)
    r.read("seq_len", "tokenizer.max_seq_len", int_value)
    r.read("seq_full", "dataset.packed", bool_value, False)
    r.read("gradient_checkpointing", "enable_activation_checkpointing", bool_value, False)
    r.read("checkpoint_offload", "enable_activation_offloading", bool_value, False)
    comp = r.first("optimizer._component_")
    if comp is not None:
        name = optimizer_name(comp.value) if comp.known else UNKNOWN
        fused = r.value("optimizer.fused", default=False)
        if name == "adamw_torch" and fused is not UNKNOWN and bool_value(fused):
            name = "adamw_torch_fused"
        r.put("optimizer", comp, name)
    loss = r.first("loss._component_")
    # (a component that is not a dotted name, ``_component_: 0``, is no loss we can name)
    name = (loss.value if loss.known and isinstance(loss.value, str) else UNKNOWN) if loss is not None else ""
    chunked = UNKNOWN if name is UNKNOWN else any(c in name for c in TORCHTUNE_CHUNKED)
    if loss is not None:
        r.put("chunked_loss", loss, chunked)
        r.put("objective", loss, UNKNOWN if name is UNKNOWN else "dpo" if "rlhf" in name or "DPO" in name else "sft")
    else:
        r.default("chunked_loss", "loss", False)
        r.default("objective", "loss", "sft")
    quant = r.value("model.quantize_base", default=None)
    p = r.first("model.quantize_base")
    if p is not None:
        r.put("quantization", p, UNKNOWN if quant is UNKNOWN else 4 if bool_value(quant) else 0)
    else:
        r.default("quantization", "model._component_", 4 if qlora else 0)
    r.out.update({"quant_type": Param("quantize_base", "nf4", span, implicit=True),
                  "double_quant": Param("quantize_base", True, span, implicit=True),
                  "compute_dtype": Param("dtype", dtype, span, implicit=True),
                  "quantize_targets_only": Param("quantize_base", True, span, implicit=True)})
    # the recipe (single device, or FSDP over several GPUs) is chosen on the command line
    r.out["sharding"] = Param("recipe", UNKNOWN, span, implicit=True)
    r.default("device_map", "device", "gpu")
    r.default("launch_sharding", "recipe", False)
    r.default("calibrated", "model", False)
    return r.out


def unsloth_cli(get: Lookup, span: Span) -> Entries:
    """The ``unsloth`` CLI's YAML (``training:``; unsloth_cli/config.py and Studio's trainer,
    main at 015bdef0d): ``load_in_4bit`` true (nf4 with double quantization, Unsloth's loader in
    bf16, or fp16 without it), ``max_seq_length`` 2048, ``batch_size`` 2,
    ``gradient_accumulation_steps`` 4, ``gradient_checkpointing`` "unsloth" (checkpoints
    offloaded; "true", "none"), optimizer adamw_8bit, bf16 (else fp16) autocast. Unsloth's own
    kernels are not transformers' modelling code: the activation estimate is not calibrated on them."""
    r = Reading(get, span)
    four = r.read("quantization", "training.load_in_4bit",
                  lambda v: UNKNOWN if bool_value(v) is UNKNOWN else 4 if bool_value(v) else 0, 4)
    if four == 4:
        r.out.update({"quant_type": Param("load_in_4bit", "nf4", span, implicit=True),
                      "double_quant": Param("load_in_4bit", True, span, implicit=True),
                      "compute_dtype": Param("load_in_4bit", "bf16", span, implicit=True)})
    r.read("seq_len", "training.max_seq_length", int_value, 2048)
    r.read("micro_batch", "training.batch_size", int_value, 2)
    r.read("grad_accum", "training.gradient_accumulation_steps", int_value, 4)
    gc = r.first("training.gradient_checkpointing")
    v = (gc.value if gc.known else UNKNOWN) if gc is not None else "unsloth"
    mode = v.lower() if isinstance(v, str) else UNKNOWN
    on = UNKNOWN if mode not in ("unsloth", "true", "none") else mode != "none"
    offload = UNKNOWN if on is UNKNOWN else mode == "unsloth"
    if gc is not None:
        r.put("gradient_checkpointing", gc, on)
        r.put("checkpoint_offload", gc, offload)
    else:
        r.default("gradient_checkpointing", "gradient_checkpointing", on)
        r.default("checkpoint_offload", "gradient_checkpointing", offload)
    r.default("optimizer", "optim", "adamw_8bit")
    r.default("dtype", "training", "bf16")
    r.default("mixed_precision", "training", "bf16")
    r.default("chunked_loss", "training", True)
    r.default("sharding", "training", "none")
    r.default("objective", "training", "sft")
    r.default("device_map", "training", "split")  # Unsloth's loader: device_map="sequential"
    r.default("launch_sharding", "training", False)
    r.default("calibrated", "training", False)
    return r.out


def ms_swift(get: Lookup, span: Span) -> Entries:
    """ms-swift (main at 3602360a5, ``swift/arguments``, ``swift/trainers/arguments.py``):
    ``torch_dtype`` (config.json's), bf16/fp16 from it; ``per_device_train_batch_size`` 1,
    ``gradient_checkpointing`` true, ``max_length`` (the model's maximum: not read here),
    ``quant_method: bnb`` with ``quant_bits`` 4 (nf4, double quantization, computed in the load
    dtype) or 8; TrainingArguments' optimizer; ``rlhf_type`` names a preference objective."""
    r = Reading(get, span)
    out = trainer_arguments(get, span)
    keep = ("optimizer", "sharding", "chunked_loss")
    r.out.update({k: v for k, v in out.items() if k in keep})
    dtype = r.read("dtype", "torch_dtype", lambda v: dtype_name(v) or "auto", "auto")
    bf16, fp16 = r.value("bf16", default=None), r.value("fp16", default=None)
    p = r.first("bf16", "fp16")
    if p is None:  # from the load dtype: bf16 autocast for a bf16 model, else fp16 (``auto``)
        r.default("mixed_precision", "torch_dtype", "auto" if dtype == "auto" else
                  "bf16" if dtype == "bf16" else "fp16" if dtype in ("fp16", "fp32") else UNKNOWN)
    elif UNKNOWN in (bf16, fp16):
        r.put("mixed_precision", p, UNKNOWN)
    else:
        r.put("mixed_precision", p, "bf16" if bool_value(bf16) else "fp16" if bool_value(fp16) else
              "no" if bf16 is not None and fp16 is not None else "auto")
    r.read("micro_batch", "per_device_train_batch_size", int_value, 1)
    r.read("grad_accum", "gradient_accumulation_steps", int_value)
    r.read("gradient_checkpointing", "gradient_checkpointing", bool_value, True)
    r.read("seq_len", "max_length", int_value)
    method, bits = r.value("quant_method", default=None), r.value("quant_bits", default=None)
    p = r.first("quant_bits", "quant_method")
    if p is None:
        r.default("quantization", "quant_bits", 0)
    elif method != "bnb" or int_value(bits) not in (4, 8):
        r.put("quantization", p, UNKNOWN)
    else:
        r.put("quantization", p, int_value(bits))
        r.read("quant_type", "bnb_4bit_quant_type", lambda v: v.lower() if isinstance(v, str) else UNKNOWN, "nf4")
        r.read("double_quant", "bnb_4bit_use_double_quant", bool_value, True)
        r.read("compute_dtype", "bnb_4bit_compute_dtype", lambda v: dtype_name(v) or "auto", "auto")
    rl = r.value("rlhf_type", default=None)
    p = r.first("rlhf_type")
    if p is not None:
        r.put("objective", p, rl.lower() if isinstance(rl, str) else UNKNOWN)
    else:
        r.default("objective", "rlhf_type", "sft")
    r.default("seq_full", "packing", False)
    # without device_map, one process on several visible GPUs spreads the model over them
    r.read("device_map", "device_map", device_map_kind, "split")
    r.default("launch_sharding", "deepspeed", False)  # swift's own --deepspeed / --fsdp
    r.default("calibrated", "model", True)
    return r.out


#: AutoTrain's trainers (``params.trainer``) and the objective each trains.
AUTOTRAIN_TRAINERS = {"sft": "sft", "default": "sft", "generic": "sft", "dpo": "dpo", "orpo": "orpo",
                      "reward": "reward", "distillation": "distillation"}


def autotrain(get: Lookup, span: Span, quantization: Param | None, trainer: Any = "default") -> Entries:
    """AutoTrain Advanced's LLM trainer (main at b5c98fb, ``trainers/clm/params.py``,
    ``utils.py``): ``batch_size`` 2, ``gradient_accumulation`` 4, ``optimizer`` adamw_torch,
    ``mixed_precision`` none, ``disable_gradient_checkpointing`` false; ``quantization`` int4
    (nf4 without double quantization, computed in fp16) or int8, the model loaded without a
    dtype (float32 under the transformers 4.48 AutoTrain pins, config.json's under transformers
    5: not known) and ``prepare_model_for_kbit_training`` (frozen weights that are not quantized
    in fp32), by the default trainer or by TRL's (0.13: sft, dpo, orpo, reward) given a k-bit model;
    ``distributed_backend`` ddp (each GPU holds the model) or deepspeed (ZeRO-3 on several GPUs),
    in the accelerate command AutoTrain writes (commands.py). The sequence length (``block_size``,
    the tokenizer's maximum) is not read here."""
    r = Reading(get, span)
    r.read("micro_batch", "batch_size", int_value, 2)
    r.read("grad_accum", "gradient_accumulation", int_value, 4)
    r.read("optimizer", "optimizer", optimizer_name, "adamw_torch")
    r.read("mixed_precision", "mixed_precision",
           lambda v: "no" if v in (None, "none", "no") else v if v in ("bf16", "fp16") else UNKNOWN, "no")
    off = r.value("disable_gradient_checkpointing", default=False)
    p = r.first("disable_gradient_checkpointing")
    if p is not None:
        r.put("gradient_checkpointing", p, UNKNOWN if bool_value(off) is UNKNOWN else not bool_value(off))
    else:
        r.default("gradient_checkpointing", "disable_gradient_checkpointing", True)
    # loaded without a dtype: float32 under the transformers AutoTrain pins (4.48), config.json's
    # under transformers 5; which one is installed is not in the file
    r.default("dtype", "transformers", UNKNOWN)
    bits: Any = 0
    if quantization is not None:
        q = quantization.value if quantization.known else UNKNOWN
        bits = UNKNOWN if q is UNKNOWN else 4 if q == "int4" else 8 if q == "int8" else 0 if q in (None, "none") else UNKNOWN
        r.put("quantization", quantization, bits)
        if bits == 4:
            r.out.update({"quant_type": Param("quantization", "nf4", span, implicit=True),
                          "double_quant": Param("quantization", False, span, implicit=True),
                          "compute_dtype": Param("quantization", "fp16", span, implicit=True)})
    # the default trainer calls prepare_model_for_kbit_training itself; TRL's trainers (sft, dpo,
    # orpo, reward) call it on a k-bit model they are given with a peft_config
    upcast = UNKNOWN if bits is UNKNOWN else bool(bits)
    r.default("upcast_frozen", "quantization", upcast)
    p = r.first("trainer")
    obj = AUTOTRAIN_TRAINERS.get(trainer, UNKNOWN) if isinstance(trainer, str) else UNKNOWN
    if p is not None:
        r.put("objective", p, obj)
    else:
        r.default("objective", "trainer", obj)
    r.read("sharding", "distributed_backend",
           lambda v: "none" if v in (None, "ddp") else _AUTOTRAIN_ZERO3 if v == "deepspeed" else UNKNOWN, "none")
    r.default("calibrated", "base_model", True)
    # loaded without a device_map (the Trainer moves it); with `unsloth: true` (and Unsloth
    # installed, for llama/mistral/gemma/qwen2) by FastLanguageModel, whose device_map is "sequential"
    r.read("device_map", "unsloth", lambda v: "cpu" if bool_value(v) in (False, None) else "split", "cpu")
    r.default("launch_sharding", "distributed_backend", False)  # AutoTrain writes the accelerate command
    return r.out


#: AutoTrain's ``distributed_backend: deepspeed`` on several GPUs (commands.py): ZeRO-3, no offload.
_AUTOTRAIN_ZERO3 = {"engine": "deepspeed", "stage": 3, "offload_optimizer": False, "offload_params": False}


def merged(*parts: Mapping[str, Param]) -> Entries:
    """Entries of several readings; a later one wins."""
    out: Entries = {}
    for p in parts:
        out.update(p)
    return out
