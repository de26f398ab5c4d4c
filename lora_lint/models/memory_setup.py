"""What one GPU holds while training a LoRA adapter, apart from activations: the training
setup, the result's record, and the exact terms' sizes (quantized storage, the trainable tensors).
The formulas and their sources are in ``models.memory``'s docstring.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .analysis import Analysis
from .inventory import Inventory, ModuleInfo
from .spec import LoraSpec

Dtype = Literal["fp32", "bf16", "fp16"]
DTYPE_BYTES: dict[str, int] = {"fp32": 4, "bf16": 2, "fp16": 2}


# --- the setup -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Quantization:
    """bitsandbytes quantization as ``BitsAndBytesConfig`` gives it to transformers.

    ``bits``: 4 (``load_in_4bit``) or 8 (``load_in_8bit``). ``quant_type``:
    ``bnb_4bit_quant_type`` (transformers' default ``fp4``; nf4 and fp4 take the same bytes).
    ``double_quant``: ``bnb_4bit_use_double_quant``. ``compute_dtype``: the dtype a 4-bit weight is
    dequantized to for each matmul. ``skip_modules``: ``llm_int8_skip_modules``
    (None: transformers' defaults, see ``quantized_modules``).
    """

    bits: Literal[4, 8] = 4
    quant_type: Literal["nf4", "fp4"] = "fp4"
    double_quant: bool = False
    compute_dtype: Dtype = "fp32"  # bnb_4bit_compute_dtype (BitsAndBytesConfig's default: float32)
    blocksize: int = 64
    skip_modules: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Sharding:
    """DeepSpeed ZeRO or FSDP. ``stage``: ZeRO 0-3; FSDP ``FULL_SHARD``/``HYBRID_SHARD`` 3,
    ``SHARD_GRAD_OP`` 2, ``NO_SHARD`` 0. Offloaded terms leave the GPU."""

    engine: Literal["deepspeed", "fsdp"] = "deepspeed"
    stage: int = 0
    offload_optimizer: bool = False
    offload_params: bool = False


@dataclass(frozen=True)
class TrainingSetup:
    """The training settings that decide memory, as the framework resolves them.

    ``None`` for ``optimizer``, ``seq_len``, ``micro_batch`` or ``num_gpus`` means "not statically
    known": the terms that depend on it are left out (never guessed). The defaults are plain
    transformers + peft; each framework's reader supplies its own (below).

    Where each field comes from (the wiring; defaults read from each framework's source):

    * Python (transformers 5.25, peft 0.21): ``dtype`` <- ``from_pretrained(dtype=/torch_dtype=)``,
      default ``"auto"`` = config.json's ``dtype`` (modeling_utils.py ``from_pretrained``; 4.x
      defaulted to fp32). ``quantization`` <- ``quantization_config=BitsAndBytesConfig(
      load_in_4bit/load_in_8bit, bnb_4bit_quant_type="fp4", bnb_4bit_use_double_quant=False,
      llm_int8_skip_modules=None)`` (transformers 4.x also took ``load_in_4bit=`` directly).
      ``upcast_frozen`` <- a ``prepare_model_for_kbit_training(model)`` call. ``optimizer`` <-
      ``TrainingArguments(optim=)``, default ``adamw_torch_fused`` with torch >= 2.8 else
      ``adamw_torch`` (training_args.py); ``optim_args`` (SGD/RMSprop momentum) -> None.
      ``mixed_precision`` <- ``bf16=True``/``fp16=True`` (default off). ``gradient_checkpointing``
      <- ``activation_checkpointing`` / its alias ``gradient_checkpointing`` (default off) or a
      ``model.gradient_checkpointing_enable()`` call. ``micro_batch`` <-
      ``per_device_train_batch_size`` (default 8). ``seq_len``: not a TrainingArguments field
      (the tokenizer's ``max_length``/``model_max_length`` when written, else None).
      ``sharding`` <- ``deepspeed=`` (a JSON path or dict: ``zero_optimization.stage``,
      ``offload_optimizer.device``/``offload_param.device`` == "cpu") or ``fsdp=`` (``full_shard``
      3, ``shard_grad_op`` 2). ``num_gpus``: the launcher's (None unless written).
    * TRL (SFTConfig, TrainingArguments' fields): ``max_length`` 1024 -> ``seq_len``;
      ``gradient_checkpointing`` defaults to True, ``bf16`` to True unless ``fp16``;
      ``loss_type`` defaults to ``chunked_nll`` (``chunked_loss=True``; ``nll`` and Liger
      otherwise); the ``trl`` CLI's ModelConfig loads ``dtype="float32"`` by default and builds
      ``BitsAndBytesConfig`` from ``load_in_4bit``/``load_in_8bit``, ``bnb_4bit_quant_type``
      (nf4), ``use_bnb_nested_quant`` (False), compute dtype = ``dtype`` (trl/trainer/utils.py
      ``get_quantization_config``); no ``prepare_model_for_kbit_training`` in SFTTrainer; with
      ZeRO-3 and an unquantized model the adapters stay in the model dtype
      (``autocast_adapter_dtype=False``: ``trainable_dtype``).
    * axolotl: ``sequence_len`` (512), ``micro_batch_size`` (1), ``gradient_accumulation_steps``
      (1), ``optimizer`` (``adamw_torch_fused``), ``gradient_checkpointing`` (False; ``offload``
      -> ``checkpoint_offload``), ``bf16`` ("auto": bf16 on Ampere+) / ``fp16`` -> both
      ``dtype`` and ``mixed_precision``; ``load_in_4bit`` with ``adapter: qlora`` -> nf4 with
      double quantization, compute dtype = torch dtype, overridable by ``bnb_config_kwargs``;
      ``load_in_8bit`` with ``adapter: lora`` -> 8-bit; ``prepare_model_for_kbit_training`` runs
      for quantized LoRA unless FSDP/ZeRO-3, then norms and embeddings are cast back to the
      torch dtype (``upcast_frozen`` False); ``deepspeed`` (JSON path or dict), ``fsdp`` /
      ``fsdp_config``; ``cut_cross_entropy`` or the Liger plugin -> ``chunked_loss``
      (src/axolotl/utils/schemas/config.py, training.py, peft.py; loaders/model.py).
    * LLaMA-Factory (v0): ``cutoff_len`` (2048) -> ``seq_len``;
      ``per_device_train_batch_size`` (8); ``quantization_bit`` 4/8 (None) with
      ``quantization_type`` (nf4) and ``double_quantization`` (True), compute dtype from
      ``bf16``/``fp16``; ``disable_gradient_checkpointing`` (False: checkpointing is *on*);
      ``use_unsloth_gc`` -> ``checkpoint_offload``; every trainable parameter is cast to fp32
      unless ``pure_bf16`` (``trainable_dtype="fp32"``, model/adapter.py); ``deepspeed``;
      ``enable_liger_kernel`` -> ``chunked_loss`` (hparams/data_args.py, model_args.py).
    * Unsloth: ``FastLanguageModel.from_pretrained(max_seq_length=2048, dtype=None (bf16 where
      supported), load_in_4bit=True)`` with nf4 and double quantization (models/llama.py);
      ``get_peft_model(use_gradient_checkpointing="unsloth")``: offloaded checkpoints; its fused
      cross-entropy -> ``chunked_loss``; the trainer's fields as TRL's.
    * torchtune: ``dtype`` (bf16, adapters included), a ``qlora_*`` model component -> NF4
      (torchao's layout, about the bytes of bnb nf4 with double quantization), ``batch_size``,
      ``tokenizer.max_seq_len`` (null -> None), ``enable_activation_checkpointing``,
      ``optimizer._component_`` (``torch.optim.AdamW`` -> adamw_torch,
      ``bitsandbytes.optim.PagedAdamW8bit`` -> paged_adamw_8bit),
      ``loss._component_`` (``LinearCrossEntropyLoss``/``CEWithChunkedOutputLoss`` ->
      ``chunked_loss``); its own modules, not transformers': the activation estimate is
      calibrated on transformers' code.
    * ``experts_per_token`` <- config.json ``num_experts_per_tok`` (or ``moe_topk``...).
    """

    dtype: Dtype = "fp32"  # the load dtype; transformers 5's from_pretrained default is config.json's
    quantization: Quantization | None = None
    upcast_frozen: bool = False  # prepare_model_for_kbit_training: unquantized frozen weights in fp32
    trainable_dtype: Dtype | None = None  # None: peft's (adapters fp32, modules_to_save as loaded)
    optimizer: str | None = "adamw_torch"  # a TrainingArguments.optim name
    mixed_precision: Literal["bf16", "fp16"] | None = None  # Trainer bf16=True / fp16=True: autocast
    gradient_checkpointing: bool = False
    checkpoint_offload: bool = False  # checkpoints held in CPU memory (Unsloth's "unsloth" mode)
    seq_len: int | None = 512
    micro_batch: int | None = 1
    grad_accum: int = 1  # does not change memory per GPU; kept for the levers' effective batch
    chunked_loss: bool = False  # the loss never materialises the full logits
    sharding: Sharding | None = None
    num_gpus: int | None = 1  # None: not known (then the sharded terms are left out)
    experts_per_token: int | None = None  # MoE top-k (config.json num_experts_per_tok)


# --- the result ------------------------------------------------------------------------------

@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per GPU. ``None``: depends on a value that is not statically known."""

    frozen_weights: int | None
    trainable_weights: int | None
    gradients: int | None
    optimizer_states: int | None
    activations: int | None  # an estimate, not exact
    step_transient: int = 0  # the optimizer step's temporary buffers (foreach AdamW)
    detail: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def exact(self) -> int | None:
        """The exact terms (weights, gradients, optimizer states)."""
        terms = (self.frozen_weights, self.trainable_weights, self.gradients, self.optimizer_states)
        return None if any(t is None for t in terms) else sum(terms)  # type: ignore[arg-type]

    @property
    def total(self) -> int | None:
        """Exact terms plus the larger of the activations and the optimizer step's buffers."""
        if self.exact is None or self.activations is None:
            return None
        return self.exact + max(self.activations, self.step_transient)

    def terms(self) -> dict[str, int | None]:
        return {"frozen_weights": self.frozen_weights, "trainable_weights": self.trainable_weights,
                "gradients": self.gradients, "optimizer_states": self.optimizer_states,
                "activations": self.activations, "total": self.total}


@dataclass(frozen=True)
class Tensor:
    """One trainable tensor: what it belongs to, its shape and its element size in bytes."""

    name: str
    shape: tuple[int, ...]
    itemsize: int
    kind: str  # lora | modules_to_save | tokens | bias

    @property
    def numel(self) -> int:
        return numel_of(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


# --- sizes -----------------------------------------------------------------------------------

def numel_of(shape: Iterable[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def quantized_bytes(numel: int, out_features: int, q: Quantization) -> int:
    """Bytes bitsandbytes stores for one quantized weight of ``numel`` elements."""
    if q.bits == 8:
        return numel + 4 * out_features  # int8 weight + fp32 SCB per row
    blocks = -(-numel // q.blocksize)
    size = -(-numel // 2) + 16 * 4  # packed nibbles + the 16-entry fp32 code
    if q.double_quant:
        size += blocks + 4 * -(-blocks // 256) + 4 + 256 * 4  # uint8 absmax, nested absmax, offset, nested code
    else:
        size += 4 * blocks
    return size


def _should_convert(name: str, patterns: Iterable[str]) -> bool:
    """transformers ``should_convert_module`` (quantizers/quantizers_utils.py)."""
    boundary = r"(?:(?<=\.)|(?=\.|$))"
    for key in patterns:
        try:
            if re.match(rf"(?:{key}){boundary}", name):
                return False
        except re.error:
            pass
        if name.endswith(key):
            return False
    return True


def quantized_modules(inv: Inventory, q: Quantization) -> set[str]:
    """The modules ``replace_with_bnb_linear`` quantizes: type ``nn.Linear`` or ``Conv1D``, not
    skipped. Default skips (``get_keys_to_not_convert``): tied weights, the module of the last
    parameter, the output embeddings."""
    if q.skip_modules is None:
        skip = {n for group in inv.tied for n in group}
        if inv.parameters:
            skip.add(next(reversed(inv.parameters)))
        if inv.output_embeddings:
            skip.add(inv.output_embeddings)
        patterns = [s.removesuffix(".weight") for s in skip]
    else:
        patterns = list(q.skip_modules)
    return {m.name for m in inv.modules if m.cls in ("Linear", "Conv1D") and m.name and _should_convert(m.name, patterns)}


# --- trainable tensors -----------------------------------------------------------------------

def _lora_shapes(mod: ModuleInfo | None, r: int, spec: LoraSpec, n: int) -> list[tuple[int, ...]]:
    """The tensors peft creates for one adapted module (their numels sum to ``n``)."""
    if mod is None:
        return [(n,)]
    i, o = mod.in_features or 0, mod.out_features or 0
    dora, lbias = spec.use_dora is True, spec.lora_bias is True
    if mod.kind in ("linear", "conv1d", "embedding"):
        shapes = [(r, i), (o, r)]
    elif mod.kind == "conv":
        k = numel_of(mod.kernel or ())
        shapes = [(r, i * k), (o, r // (mod.groups or 1))]
    elif mod.kind == "mha":
        shapes = [(r, i), (3 * i, r), (r, i), (i, r)]
    else:
        return [(n,)]
    if dora:
        shapes.append((o,))
    if lbias:
        shapes.append((o,) if mod.kind != "mha" else (3 * i,))
        if mod.kind == "mha":
            shapes.append((i,))
    return shapes if sum(numel_of(s) for s in shapes) == n else [(n,)]


def _param_shapes(shape: tuple[int, ...], r: int, n: int) -> list[tuple[int, ...]]:
    """lora.ParamWrapper's A and B for a targeted 2-D or 3-D parameter."""
    e, a, b = shape if len(shape) == 3 else (1, shape[1], shape[0])
    shapes = [(r * e, a), (b, r * e)]
    return shapes if sum(numel_of(s) for s in shapes) == n else [(n,)]


def under(name: str, prefix: str) -> bool:
    return not prefix or name == prefix or name.startswith(prefix + ".")


def _subtree(inv: Inventory, root: str) -> list[tuple[str, tuple[int, ...]]]:
    """The parameters a deepcopy of module ``root`` holds (tied storage once)."""
    canon = inv.aliases.get(root, root)
    alias = {a: g[0] for g in inv.tied for a in g[1:]}
    out, seen = [], set()
    for name in [*inv.parameters, *alias]:
        if not under(name, canon):
            continue
        key = alias.get(name, name)
        if key in seen:
            continue
        seen.add(key)
        out.append((name, inv.parameters[key]))
    return out


def saved_roots(inv: Inventory, analysis: Analysis) -> list[str]:
    out, done = [], set()
    for names in analysis.saved.values():
        for n in sorted(names):
            canon = inv.aliases.get(n, n)
            if canon not in done:
                done.add(canon)
                out.append(canon)
    return sorted(out)


def _trained_biases(inv: Inventory, spec: LoraSpec, analysis: Analysis, roots: list[str]) -> list[str]:
    """Base biases ``bias="all"``/``"lora_only"`` leave trainable (tuners_utils.py
    ``_mark_only_adapters_as_trainable``)."""
    def free(module: str) -> bool:
        return not any(under(module, s) for s in roots)

    if spec.bias == "all":
        return [n for n in inv.parameters if (n == "bias" or n.endswith(".bias")) and free(n.rpartition(".")[0])]
    if spec.bias == "lora_only":
        return [f"{k}.bias" for k in analysis.targeted
                if inv.by_name[k].has_bias and free(k) and f"{k}.bias" in inv.parameters]
    return []


def deepspeed_16bit(setup: TrainingSetup) -> bool:
    """DeepSpeed's bf16/fp16 engine: the module is cast to 16 bits (no autocast), the optimizer
    steps an fp32 master copy."""
    return setup.sharding is not None and setup.sharding.engine == "deepspeed" and bool(setup.mixed_precision)


def base_dtype_bytes(setup: TrainingSetup) -> int:
    """Bytes of an unquantized base parameter as training holds it."""
    if deepspeed_16bit(setup):
        return 2
    if setup.upcast_frozen:
        return 4
    return DTYPE_BYTES[setup.dtype]


def adapter_bytes(setup: TrainingSetup) -> int:
    if setup.trainable_dtype:
        return DTYPE_BYTES[setup.trainable_dtype]
    return 2 if deepspeed_16bit(setup) else 4


def trainable_tensors(inv: Inventory, analysis: Analysis, setup: TrainingSetup) -> list[Tensor] | None:
    """Every tensor the optimizer trains, or None when the adapter's counts are not known."""
    c = analysis.counts
    if not analysis.known or analysis.error is not None or c.trainable is None:
        return None
    if analysis.spec.inference_mode is True:
        return []
    spec = analysis.spec
    adapter = adapter_bytes(setup)
    base = DTYPE_BYTES[setup.trainable_dtype] if setup.trainable_dtype else base_dtype_bytes(setup)
    roots = saved_roots(inv, analysis)
    out: list[Tensor] = []
    for key, n in c.lora_params.items():
        if any(under(key, s) for s in roots):
            continue  # the original inside a modules_to_save copy is frozen again
        r = c.rank.get(key, 0)
        mod = inv.by_name.get(key)
        shapes = (_lora_shapes(mod, r, spec, n) if mod is not None
                  else _param_shapes(inv.param_shape(key) or (n,), r, n))
        out.extend(Tensor(key, s, adapter, "lora") for s in shapes)
    for root in roots:
        for name, shape in _subtree(inv, root):
            out.append(Tensor(name, shape, base, "modules_to_save"))
        for key, n in c.lora_params.items():  # the copy of an adapted module's LoRA layers
            if under(key, root):
                mod = inv.by_name.get(key)
                out.extend(Tensor(key, s, adapter, "modules_to_save")
                           for s in _lora_shapes(mod, c.rank.get(key, 0), spec, n))
    for name, n in c.tokens.items():
        out.append(Tensor(name, (n,), adapter, "tokens"))
    for name in _trained_biases(inv, spec, analysis, roots):
        out.append(Tensor(name, inv.parameters[name], base, "bias"))
    return out
