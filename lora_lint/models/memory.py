"""Training memory per GPU: will this LoRA run fit? (pure Python, no torch).

``estimate(inventory, analysis, setup)`` splits the memory one GPU holds while training into

* **frozen weights** (exact): every base parameter that is not trained, in the dtype it is loaded
  in, or as bitsandbytes stores it when quantized;
* **trainable weights** (exact): the LoRA matrices (DoRA magnitudes, LoRA biases), the
  ``modules_to_save`` copies, trainable tokens and the base biases ``bias="all"/"lora_only"``
  trains;
* **gradients** (exact): one per trainable parameter, in its dtype;
* **optimizer states** (exact): the states the optimizer allocates for each trainable tensor;
* **activations** (an *estimate*): what autograd keeps between forward and backward, plus the
  loss buffers and the backward's working memory, at the peak of one step.

Sharding (DeepSpeed ZeRO 1-3, FSDP) divides the terms it partitions by the number of GPUs.
``levers(...)`` gives what would bring a total under a budget, each change with the total it would
give. Everything here is arithmetic on the inventory's shapes; the tests check every exact term
against real objects (bitsandbytes' quantized storage, ``torch.optim`` / bitsandbytes optimizer
states after a step, peft on meta models) and the activation estimate against measurements.

Exact terms (bytes)
-------------------
Dtypes: fp32 4, bf16/fp16 2. A base parameter's dtype is the load dtype (``torch_dtype``/``dtype``);
peft's ``prepare_model_for_kbit_training`` casts every bf16/fp16 parameter that is not quantized to
fp32 (``upcast_frozen``). LoRA matrices are fp32: peft casts the adapter to the base layer's dtype
and then back to fp32 (``autocast_adapter_dtype=True``, tuners_utils.py ``cast_adapter_dtype``);
``modules_to_save`` copies keep the module's dtype (they are not tuner layers); trainable-token
deltas are fp32 like the adapters. ``trainable_dtype`` overrides all of it (LLaMA-Factory casts
every trainable parameter to fp32; DeepSpeed's bf16/fp16 engine casts the model to 16 bits).

bitsandbytes (measured in the tests on ``from_pretrained(..., quantization_config=...)``, bnb
0.50): transformers replaces every module whose type *is* ``nn.Linear`` or ``Conv1D`` except
``llm_int8_skip_modules`` (default: the tied weights, the module of the last parameter and the
output embeddings, ``quantizers/base.py get_keys_to_not_convert``); biases stay unquantized.
4-bit (nf4/fp4, blocksize 64), n elements: ``ceil(n/2)`` packed bytes, an absmax per block of 64
(fp32, or with double quantization uint8 plus an fp32 absmax per 256 blocks and an fp32 offset),
the 16-entry fp32 code (64 B) and, with double quantization, the 256-entry fp32 nested code
(1 KiB) per weight. 8-bit (LLM.int8): n bytes plus an fp32 scale per output row (``SCB``).
Fused MoE experts (3-D parameters, transformers 5) are not ``nn.Linear``: they stay unquantized.

Optimizer states per trainable tensor of n elements (``torch.optim`` / ``bitsandbytes.optim`` as
``Trainer.get_optimizer_cls_and_kwargs`` builds them): AdamW (``adamw_torch``, ``_fused``) two
states in the parameter's dtype, plus a 4-byte step tensor on the GPU when fused; bitsandbytes
8-bit Adam/Lion/RMSprop: uint8 states (n B each) plus an fp32 absmax per 256 elements each, and
fp32 states for a tensor smaller than 4096 elements (``min_8bit_size``); bitsandbytes 32-bit
variants fp32 states whatever the parameter's dtype (``paged_*`` the same bytes, pageable);
Adafactor (transformers', ``beta1=None``): fp32 row and column factors for 2-D+ tensors, a full
fp32 second moment for 1-D ones, and a 0-dim fp32 RMS; SGD without momentum (the default) none; Adagrad and RMSprop one
state in the parameter's dtype.

Sharding: ZeRO-1 partitions the optimizer states, ZeRO-2 also the gradients, ZeRO-3 also the
weights (frozen ones included); FSDP ``FULL_SHARD`` is stage 3, ``SHARD_GRAD_OP`` stage 2. With
DeepSpeed's bf16/fp16 engine the model is cast to 16 bits and the optimizer keeps an fp32 master
copy of every trainable parameter (4 B, partitioned with the states). Plain DDP on more than one
GPU keeps a second copy of the gradients in its all-reduce buckets (``gradient_as_bucket_view``
is off by default). The transient all-gather of ZeRO-3/FSDP units is not counted.

Activation estimate (bytes per token; formula, sources, error band)
-------------------------------------------------------------------
The structure follows Korthikanti et al., *Reducing Activation Recomputation in Large
Transformer Models* (arXiv:2205.05198, §4.1: ``sbh(34 + 5as/h)`` bytes per layer for full
training), re-derived for LoRA: a frozen ``nn.Linear`` saves only its weight for the backward
(autograd saves an input of ``mm`` only when the other input needs a gradient), so what a layer
keeps is, per token (e: 2 bytes under autocast, else the dtype of the layer's output):

* each RMSNorm an fp32 copy of its input (4 B per element; transformers' RMSNorm upcasts), a
  LayerNorm its input; a per-head norm (``q_norm``, ``k_norm``) counts the whole projection;
* in every group of linears under one parent (``self_attn``: q, k, v, o; ``mlp``: gate, up, down)
  the outputs of all but the projection back to the residual (the last one of width h) and that
  projection's input: SDPA/flash attention saves q, k, v and its output (no ``s²`` scores), a
  gated MLP the gate output for the activation and both factors of the product; a fused q/k/v
  projection with rotary embeddings also the rotated q and k (v stays a view of the whole
  output); fused MoE experts, per routed token (``top_k``), the gathered input and the weighted
  output (h each), the gate/up output, the activation and the down projection's input;
* each LoRA layer a copy of its input (peft casts ``x`` to the adapter's fp32, autocast casts it
  back: one bf16 copy per adapted layer; without autocast an fp32 copy, or the shared input when
  it already is fp32), the ``r``-wide intermediate, and with ``lora_dropout > 0`` the dropout
  mask (1 B per element on CUDA);
* the loss: the logits upcast to fp32 and ``log_softmax``; backward holds three fp32 ``T×V``
  buffers at once: 12 B per token per vocabulary entry at the peak, 4 held during the
  forward-backward gap (0 with a chunked loss: TRL's ``chunked_nll``, Liger, Unsloth).

Peak: without checkpointing ``Σ layers + final norm + 4V + max(8V, B)``; with checkpointing
every layer keeps only its input (``e_h·h``) and the peak is ``L·e_h·h + final norm +
max(12V, one layer + B)``, where ``B`` is the backward's working memory in a layer, calibrated on
the measurements below: 6 B per element of ``h + i`` (8 B when a 16-bit model runs fp32 adapters
without autocast), plus 4 B per element of the widest adapted input with dropout under autocast. Constant terms: autocast's bf16 copies of the fp32 LoRA
weights, the bf16 copies of fp32 frozen weights autocast makes (all layers' without checkpointing,
one layer's with), the dequantized weight of the largest quantized layer.

Validation (tests/test_memory.py, tests/memory_measure.py): the peak of live CPU allocations
(``torch.profiler`` memory events) over a real forward and backward, and the bytes autograd saves
(``saved_tensors_hooks``), on small Llama, Qwen3, Phi-3, Gemma, Mistral, Mixtral/Qwen3-MoE and
bitsandbytes-4-bit (QLoRA) models with real peft, across fp32/bf16, autocast, checkpointing,
dropout, targets, ranks, batch and sequence lengths, and h/i ratios up to 8. Over the 90-odd
configurations measured while calibrating (16 kept as tests) the estimate lies between 18% below and 22% above the measured peak (``BAND`` in
the tests: -20%..+25%); with bf16 autocast, the Trainer's usual setting, -2%..+16%; the held bytes
within 5%. The worst cases are fp32 or bf16 models without autocast that adapt only attention
projections under checkpointing. CPU kernels differ from CUDA ones in the dropout mask (fp32 on
the CPU, bool on CUDA: the tests set ``DROPOUT_MASK_BYTES``) and in MoE's ``grouped_mm``, which
keeps a copy of the expert weights on the CPU (the MoE test compares the growth per token).
Published: QwenLM/Qwen's README ("Profiling of Memory and Speed") gives Qwen-7B LoRA (bf16, r=64
on c_attn/c_proj/w1/w2, dropout 0.05, checkpointing, batch 1, A100, flash attention 2) at
20.1/20.4/21.5/23.8/29.7/36.6 GB for 256-8192 tokens: the estimate grows by 2.10 MB per token
(the logits dominate) against the published 2.11 MB per token between 1024 and 8192 tokens; the
published totals lie 1.3-1.6 GB above the estimate (3.1 GB at 4096 tokens), the CUDA context and
the caching allocator's reserve, which this module does not count.

Not modelled: eager attention's ``s²`` scores (the estimate assumes SDPA/flash attention,
transformers' default; Gemma 2 has only eager attention), dropout inside the base model (GPT-2,
BERT and T5 configs default to 0.1: masks everywhere and the attention probabilities; GPT-2 is
measured at twice the estimate, and 14% above it without its dropouts), vision and audio towers
(their activations depend on the images), torch.compile, activation offloading other than
Unsloth's checkpoint offload, ZeRO-3/FSDP's transient all-gather, allocator fragmentation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from ..training import GiB, KiB, MiB, parse_size  # noqa: F401  (sizes live with the settings)
from .analysis import Analysis, analyze_spec
from .inventory import Inventory, ModuleInfo
from .spec import LoraSpec

Dtype = Literal["fp32", "bf16", "fp16"]
DTYPE_BYTES: dict[str, int] = {"fp32": 4, "bf16": 2, "fp16": 2}

#: The activation estimate's error against the measured peaks, (estimate - measured) / measured:
#: the band the tests hold it to (the docstring gives the observed range). The measured peak lies
#: between ``estimate / (1 + ACTIVATION_BAND[1])`` and ``estimate / (1 + ACTIVATION_BAND[0])``.
ACTIVATION_BAND = (-0.20, 0.25)


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
        return _numel(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


# --- sizes -----------------------------------------------------------------------------------

def _numel(shape: Iterable[int]) -> int:
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
        k = _numel(mod.kernel or ())
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
    return shapes if sum(_numel(s) for s in shapes) == n else [(n,)]


def _param_shapes(shape: tuple[int, ...], r: int, n: int) -> list[tuple[int, ...]]:
    """lora.ParamWrapper's A and B for a targeted 2-D or 3-D parameter."""
    e, a, b = shape if len(shape) == 3 else (1, shape[1], shape[0])
    shapes = [(r * e, a), (b, r * e)]
    return shapes if sum(_numel(s) for s in shapes) == n else [(n,)]


def _under(name: str, prefix: str) -> bool:
    return not prefix or name == prefix or name.startswith(prefix + ".")


def _subtree(inv: Inventory, root: str) -> list[tuple[str, tuple[int, ...]]]:
    """The parameters a deepcopy of module ``root`` holds (tied storage once)."""
    canon = inv.aliases.get(root, root)
    alias = {a: g[0] for g in inv.tied for a in g[1:]}
    out, seen = [], set()
    for name in [*inv.parameters, *alias]:
        if not _under(name, canon):
            continue
        key = alias.get(name, name)
        if key in seen:
            continue
        seen.add(key)
        out.append((name, inv.parameters[key]))
    return out


def _saved_roots(inv: Inventory, analysis: Analysis) -> list[str]:
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
        return not any(_under(module, s) for s in roots)

    if spec.bias == "all":
        return [n for n in inv.parameters if (n == "bias" or n.endswith(".bias")) and free(n.rpartition(".")[0])]
    if spec.bias == "lora_only":
        return [f"{k}.bias" for k in analysis.targeted
                if inv.by_name[k].has_bias and free(k) and f"{k}.bias" in inv.parameters]
    return []


def _deepspeed_16bit(setup: TrainingSetup) -> bool:
    """DeepSpeed's bf16/fp16 engine: the module is cast to 16 bits (no autocast), the optimizer
    steps an fp32 master copy."""
    return setup.sharding is not None and setup.sharding.engine == "deepspeed" and bool(setup.mixed_precision)


def _base_dtype_bytes(setup: TrainingSetup) -> int:
    """Bytes of an unquantized base parameter as training holds it."""
    if _deepspeed_16bit(setup):
        return 2
    if setup.upcast_frozen:
        return 4
    return DTYPE_BYTES[setup.dtype]


def _adapter_bytes(setup: TrainingSetup) -> int:
    if setup.trainable_dtype:
        return DTYPE_BYTES[setup.trainable_dtype]
    return 2 if _deepspeed_16bit(setup) else 4


def trainable_tensors(inv: Inventory, analysis: Analysis, setup: TrainingSetup) -> list[Tensor] | None:
    """Every tensor the optimizer trains, or None when the adapter's counts are not known."""
    c = analysis.counts
    if not analysis.known or analysis.error is not None or c.trainable is None:
        return None
    if analysis.spec.inference_mode is True:
        return []
    spec = analysis.spec
    adapter = _adapter_bytes(setup)
    base = DTYPE_BYTES[setup.trainable_dtype] if setup.trainable_dtype else _base_dtype_bytes(setup)
    roots = _saved_roots(inv, analysis)
    out: list[Tensor] = []
    for key, n in c.lora_params.items():
        if any(_under(key, s) for s in roots):
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
            if _under(key, root):
                mod = inv.by_name.get(key)
                out.extend(Tensor(key, s, adapter, "modules_to_save")
                           for s in _lora_shapes(mod, c.rank.get(key, 0), spec, n))
    for name, n in c.tokens.items():
        out.append(Tensor(name, (n,), adapter, "tokens"))
    for name in _trained_biases(inv, spec, analysis, roots):
        out.append(Tensor(name, inv.parameters[name], base, "bias"))
    return out


# --- optimizers ------------------------------------------------------------------------------

#: TrainingArguments.optim -> (family, bits). Families: adam (2 states), lion (1), rmsprop (1),
#: adagrad (1), adafactor, sgd (0 without momentum).
OPTIMIZERS: dict[str, tuple[str, int | None]] = {
    "adamw_torch": ("adam", None),
    "adamw_torch_fused": ("adam-fused", None),
    "adamw_8bit": ("adam", 8),
    "adamw_bnb_8bit": ("adam", 8),
    "paged_adamw_8bit": ("adam", 8),
    "paged_adamw_32bit": ("adam", 32),
    "lion_8bit": ("lion", 8),
    "paged_lion_8bit": ("lion", 8),
    "lion_32bit": ("lion", 32),
    "paged_lion_32bit": ("lion", 32),
    "rmsprop": ("rmsprop", None),
    "rmsprop_bnb": ("rmsprop", 32),
    "rmsprop_bnb_32bit": ("rmsprop", 32),
    "rmsprop_bnb_8bit": ("rmsprop", 8),
    "adagrad": ("adagrad", None),
    "sgd": ("sgd", None),
    "adafactor": ("adafactor", None),
}

_BNB_MIN_8BIT_SIZE = 4096  # bitsandbytes Optimizer8bit min_8bit_size
_BNB_BLOCK = 256  # blockwise 8-bit optimizer states


def state_bytes(optimizer: str, t: Tensor) -> int | None:
    """Optimizer state bytes for one trainable tensor (None: an optimizer not modelled here)."""
    family, bits = OPTIMIZERS.get(optimizer, (None, None))
    n = t.numel
    if family is None:
        return None
    slots = {"adam": 2, "adam-fused": 2, "lion": 1, "rmsprop": 1, "adagrad": 1}.get(family, 0)
    if family == "sgd":
        return 0
    if family == "adafactor":  # + the 0-dim fp32 RMS tensor
        if len(t.shape) >= 2:
            rows = _numel(t.shape[:-1])
            cols = _numel(t.shape[:-2]) * t.shape[-1]
            return 4 * (rows + cols) + 4
        return 4 * n + 4
    if bits == 8:
        if n < _BNB_MIN_8BIT_SIZE:
            return slots * 4 * n
        return slots * (n + 4 * -(-n // _BNB_BLOCK))
    if bits == 32:
        return slots * 4 * n
    size = slots * n * t.itemsize
    if family == "adam-fused":
        size += 4  # the step counter lives on the device
    return size


def qmap_bytes(optimizer: str, tensors: list[Tensor]) -> int:
    """bitsandbytes' 8-bit quantization maps (256 fp32 each), one set per device."""
    family, bits = OPTIMIZERS.get(optimizer, (None, None))
    if bits != 8 or not any(t.numel >= _BNB_MIN_8BIT_SIZE for t in tensors):
        return 0
    return (2 if family == "adam" else 1) * 256 * 4


def step_transient(optimizer: str, tensors: list[Tensor]) -> int:
    """Temporary buffers of one optimizer step: foreach AdamW allocates ``sqrt(v)`` for every
    tensor of a dtype group at once; the fused and bitsandbytes kernels update in place."""
    family, bits = OPTIMIZERS.get(optimizer, (None, None))
    if family != "adam" or bits is not None:
        return 0
    by_size: dict[int, int] = {}
    for t in tensors:
        by_size[t.itemsize] = by_size.get(t.itemsize, 0) + t.nbytes
    return max(by_size.values(), default=0)


# --- the estimate ----------------------------------------------------------------------------

def estimate(inv: Inventory, analysis: Analysis | None, setup: TrainingSetup) -> MemoryEstimate:
    """Memory per GPU for training ``analysis``'s adapter on ``inv`` with ``setup``."""
    notes: list[str] = []
    detail: dict[str, int] = {}
    sh = setup.sharding
    n = setup.num_gpus
    stage = sh.stage if sh is not None else 0

    def part(size: int | None, offloaded: bool) -> int | None:
        """This GPU's partition (None: the number of GPUs is not known)."""
        if size is None or offloaded:
            return None if size is None else 0
        return -(-size // n) if n else None

    tensors = trainable_tensors(inv, analysis, setup) if analysis is not None else None
    trained_base = {t.name for t in tensors or () if t.kind == "bias"}

    # frozen weights
    qset = quantized_modules(inv, setup.quantization) if setup.quantization else set()
    mods = inv.by_name
    quant, plain = 0, 0
    base_bytes = _base_dtype_bytes(setup)
    for name, shape in inv.parameters.items():
        if name in trained_base:
            continue
        owner, _, leaf = name.rpartition(".")
        if owner in qset and leaf == "weight":
            quant += quantized_bytes(_numel(shape), mods[owner].out_features or shape[0], setup.quantization)
        else:
            plain += _numel(shape) * base_bytes
    detail["quantized"] = quant
    detail["unquantized"] = plain
    frozen: int | None = quant + plain
    if stage >= 3:
        frozen = part(frozen, sh.offload_params)

    trainable = grads = states = None
    transient = 0
    if tensors is not None:
        trainable = sum(t.nbytes for t in tensors)
        grads = trainable
        for kind in ("lora", "modules_to_save", "tokens", "bias"):
            detail[f"trainable_{kind}"] = sum(t.nbytes for t in tensors if t.kind == kind)
        opt = setup.optimizer
        ds16 = _deepspeed_16bit(setup)
        stepped = [replace(t, itemsize=4) for t in tensors] if ds16 else tensors  # the fp32 master copy is stepped
        per = [state_bytes(opt, t) for t in stepped] if opt is not None else [None]
        if opt is not None and tensors and any(p is None for p in per):
            notes.append(f"optimizer {opt!r}: its states are not modelled")
        if opt is None or any(p is None for p in per):
            states = None
        else:
            states = sum(per) + qmap_bytes(opt, stepped)  # type: ignore[arg-type]
            transient = step_transient(opt, stepped)
        if ds16 and states is not None:
            states += 4 * sum(t.numel for t in tensors)  # fp32 master weights
        if sh is None and n is not None and n > 1:
            grads *= 2  # DDP's all-reduce buckets
        if stage >= 1:
            states = part(states, sh.offload_optimizer)
            transient = part(transient, sh.offload_optimizer) or 0
        if stage >= 2:
            grads = part(grads, False)
        if stage >= 3:
            trainable = part(trainable, sh.offload_params)

    act = None
    if analysis is not None and analysis.known and analysis.error is None and setup.seq_len and setup.micro_batch:
        act, act_detail, act_notes = activations(inv, analysis, setup)
        detail.update(act_detail)
        notes.extend(act_notes)
    elif setup.seq_len is None or setup.micro_batch is None:
        notes.append("sequence length or micro-batch not statically known: no activation estimate")
    return MemoryEstimate(frozen, trainable, grads, states, act, transient, detail, tuple(notes))


# --- activations -----------------------------------------------------------------------------

_ATTENTION = re.compile(r"attn|attention", re.I)

#: Bytes per element of the mask dropout saves: CUDA's ``native_dropout`` keeps a bool mask. (On
#: the CPU dropout multiplies by a mask of the input's dtype: fp32 after peft's cast; the CPU
#: measurements in the tests set 4.)
DROPOUT_MASK_BYTES = 1


@dataclass
class _Layer:
    prefix: str
    saved: float = 0.0  # bytes per token kept for the backward
    width: int = 0  # the widest linear input/output (i)
    frozen_linear: int = 0  # elements of unquantized frozen linear weights (autocast copies)
    dequant: int = 0  # elements of the largest quantized weight
    dropout_width: int = 0  # the widest input of an adapted layer with dropout (its fp32 copy)


def _text_layers(inv: Inventory) -> list[str]:
    out = []
    for prefix, count in inv.layer_lists.items():
        if inv.tower_of(prefix) is not None:
            continue
        out.extend(f"{prefix}.{i}" for i in range(count))
    return out


def _hidden(inv: Inventory) -> int:
    emb = inv.module(inv.input_embeddings) if inv.input_embeddings else None
    if emb is not None and emb.out_features:
        return emb.out_features
    widths = [m.in_features for m in inv.modules if m.kind in ("linear", "conv1d") and m.in_features]
    return max(set(widths), key=widths.count) if widths else 0


def _norm_width(inv: Inventory, m: ModuleInfo) -> tuple[int, bool]:
    w = inv.parameters.get(f"{m.name}.weight")
    has_bias = f"{m.name}.bias" in inv.parameters
    if w is not None:
        return w[-1], has_bias
    return (m.params // 2 if has_bias else m.params), has_bias


def activations(inv: Inventory, analysis: Analysis, setup: TrainingSetup) -> tuple[int, dict[str, int], list[str]]:
    """The activation estimate (bytes per GPU) with its parts and notes; see the module docstring."""
    notes: list[str] = []
    tokens = setup.seq_len * setup.micro_batch
    spec = analysis.spec
    ac = bool(setup.mixed_precision) and not _deepspeed_16bit(setup)
    e_h = _base_dtype_bytes(setup)  # the residual stream's dtype: the embedding's
    lora_b = _adapter_bytes(setup)
    qset = quantized_modules(inv, setup.quantization) if setup.quantization else set()
    e_plain = 2 if ac else e_h

    def e_out(m: ModuleInfo) -> int:
        return e_h if m.name in qset else e_plain

    dropout = spec.lora_dropout if isinstance(spec.lora_dropout, (int, float)) else 0
    c = analysis.counts
    roots = _saved_roots(inv, analysis)
    adapted = {k for k in c.lora_params if inv.by_name.get(k) is not None and not any(_under(k, s) for s in roots)}
    saved_linears = {m.name for root in roots for m in inv.modules
                     if _under(m.name, root) and m.kind in ("linear", "conv1d")}
    h = _hidden(inv)
    top_k = setup.experts_per_token
    rope = any("Rotary" in m.cls for m in inv.modules)
    layers: list[_Layer] = []
    names = _text_layers(inv)
    if not names:
        notes.append("no decoder layer list found: activations of the layers not estimated")
    by_layer: dict[str, list[ModuleInfo]] = {n: [] for n in names}
    for m in inv.modules:  # each module under the innermost layer that contains it
        parts = m.name.split(".")
        owner = next((p for p in (".".join(parts[:k]) for k in range(len(parts) - 1, 0, -1)) if p in by_layer), None)
        if owner is not None:
            by_layer[owner].append(m)
    moe_lower = False
    for lname in names:
        layer = _Layer(lname)
        groups: dict[str, list[ModuleInfo]] = {}
        for m in by_layer[lname]:
            if m.kind in ("linear", "conv1d"):
                groups.setdefault(m.name.rpartition(".")[0], []).append(m)
                layer.width = max(layer.width, m.in_features or 0)
                if m.name in qset:
                    layer.dequant = max(layer.dequant, (m.in_features or 0) * (m.out_features or 0))
                else:
                    layer.frozen_linear += (m.in_features or 0) * (m.out_features or 0)
        for m in by_layer[lname]:
            if m.kind != "norm":
                continue
            width, has_bias = _norm_width(inv, m)
            parent = m.name.rpartition(".")[0]
            if parent != lname:  # a per-head norm: it normalises a whole projection
                stem = m.leaf.split("_")[0]
                sib = [x for x in groups.get(parent, []) if x.leaf.startswith(stem)]
                if sib:
                    width = sib[0].out_features or width
            layer.saved += (e_h if has_bias and not ac else 4) * width
        for parent, mods in groups.items():
            attention = _ATTENTION.search(parent.rpartition(".")[2] or parent) is not None
            if len(mods) == 1:
                m = mods[0]
                layer.saved += e_out(m) * (m.out_features or 0)
                continue
            e = 2 if (ac and attention) else e_out(mods[0])
            # the projection back to the residual: the last one of width h (registration order
            # is not call order: Phi-3 registers o_proj before qkv_proj)
            last = [m for m in mods if m.out_features == h][-1:] or mods[-1:]
            outs = sum(m.out_features or 0 for m in mods if m is not last[0])
            q = last[0].in_features or 0
            layer.saved += e * (outs + q)
            if attention and rope and len(mods) == 2 and outs > q:
                # fused q/k/v: v stays a view of the whole projection, q and k are rotated copies
                layer.saved += e * (outs + q) // 2
        experts = [n for n in inv.fused_experts() if _under(n, lname)]
        if experts:
            k = top_k or 1
            moe_lower = moe_lower or top_k is None
            # per routed token: the gathered input and the weighted output (h each), the gate/up
            # output, the activation and the down projection's input (grouped_mm saves its input)
            widths = [next((d for d in s[1:] if d != h), s[1]) for s in (inv.parameters[x] for x in experts)]
            layer.saved += k * e_plain * (sum(widths) + min(widths) + 2 * h)
            layer.width = max(layer.width, min(widths))
        # LoRA layers
        shared: set[tuple[str, int]] = set()
        for key in sorted(adapted):
            if not _under(key, lname):
                continue
            m = inv.by_name[key]
            i = m.in_features or 0
            if m.kind == "embedding":
                i = 0
            r = c.rank.get(key, 0)
            if ac:
                layer.saved += 2 * i + 2 * r
            elif dropout or lora_b != e_h:
                layer.saved += lora_b * i + lora_b * r
            else:
                group = (m.name.rpartition(".")[0], i)
                if group not in shared:
                    shared.add(group)
                    layer.saved += lora_b * i
                layer.saved += lora_b * r
            if dropout:
                layer.saved += DROPOUT_MASK_BYTES * i
                layer.dropout_width = max(layer.dropout_width, i)
        for key in saved_linears:
            if _under(key, lname):
                m = inv.by_name[key]
                layer.saved += e_plain * (m.in_features or 0)
        layers.append(layer)
    if moe_lower:
        notes.append("MoE experts per token unknown: counted as 1 (a lower bound)")
    # outside the layers: final norm(s), the head
    in_layer = set()
    for lname in names:
        in_layer.update(m.name for m in by_layer[lname])
    final = 0.0
    for m in inv.modules:
        if m.kind == "norm" and m.name not in in_layer and inv.tower_of(m.name) is None and m.name not in names:
            width, has_bias = _norm_width(inv, m)
            final += (e_h if has_bias and not ac else 4) * width
    head = inv.module(inv.output_embeddings) if inv.output_embeddings else None
    if head is None:
        heads = [inv.module(x) for x in inv.heads]
        head = next((x for x in heads if x is not None and x.kind in ("linear", "conv1d")), None)
    vocab = (head.out_features or 0) if head is not None else 0
    for key in adapted | saved_linears:
        if not any(_under(key, ln) for ln in names) and inv.tower_of(key) is None:
            m = inv.by_name[key]
            final += (2 if ac else lora_b) * (m.in_features or 0) + 2 * c.rank.get(key, 0)
    loss_held, loss_peak = (0, 0) if setup.chunked_loss else (4 * vocab, 12 * vocab)
    # the backward's working memory in one layer, calibrated on the measurements (tests): about
    # 6 B per element of h + i, 8 B when a 16-bit model runs fp32 adapters without autocast
    coef = 6 if (ac or lora_b == e_h) else 8
    work = max((coef * (h + ly.width) + (4 * ly.dropout_width if ac else 0) for ly in layers), default=0)
    lora_copies = 2 * sum(c.lora_params.values()) if ac and lora_b == 4 else 0
    const = lora_copies
    q = setup.quantization  # the largest quantized weight, dequantized to the compute dtype
    dequant = max((ly.dequant for ly in layers), default=0) * DTYPE_BYTES[q.compute_dtype] if q else 0
    # autocast's bf16 copies of fp32 frozen weights are saved for the backward
    weight_copies = 2 * sum(ly.frozen_linear for ly in layers) if ac and e_h == 4 else 0
    held = int((sum(ly.saved for ly in layers) + final + loss_held) * tokens) + lora_copies + weight_copies
    if setup.gradient_checkpointing:
        ckpt = 0 if setup.checkpoint_offload else e_h * h * len(layers)
        one = max((ly.saved for ly in layers), default=0)
        per_token = ckpt + final + max(loss_peak, one + work)
        if weight_copies:
            const += 2 * max(ly.frozen_linear for ly in layers)
    else:
        per_token = sum(ly.saved for ly in layers) + final + loss_held + max(loss_peak - loss_held, work)
        const += weight_copies
    const += dequant
    total = int(math.ceil(per_token * tokens)) + const
    detail = {
        "activation_layers": int(sum(ly.saved for ly in layers) * tokens),
        "activation_loss": int(loss_peak * tokens),
        "activation_per_token": int(math.ceil(per_token)),
        "activation_work": int(work * tokens),
        "activation_held": held,
    }
    if inv.towers:
        notes.append("vision/audio tower activations not counted")
    return total, detail, notes


# --- budgets ---------------------------------------------------------------------------------

def format_size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class Lever:
    """One change that lowers the total, with the total it gives."""

    name: str  # 4-bit | bf16 | checkpointing | micro-batch | rank | targets | 8-bit-optimizer
    change: str  # in words, e.g. "micro-batch 2 (gradient accumulation 8 keeps the batch)"
    total: int
    fits: bool


def levers(inv: Inventory, spec: LoraSpec, setup: TrainingSetup, budget: int,
           measure: Callable[[MemoryEstimate], int | None] = lambda e: e.total) -> list[Lever]:
    """Each single change that lowers the estimate, with its total, the lowest first.
    ``measure`` is the figure compared (the total by default; LL107 gives its certain minimum)."""
    base = measure(estimate(inv, analyze_spec(inv, spec), setup))
    if base is None:
        return []
    out: list[Lever] = []

    def add(name: str, change: str, s: TrainingSetup = setup, sp: LoraSpec = spec) -> None:
        total = measure(estimate(inv, analyze_spec(inv, sp), s))
        if total is not None and total < base:
            out.append(Lever(name, change, total, total <= budget))

    q = setup.quantization
    if setup.dtype == "fp32" and not _deepspeed_16bit(setup):
        add("bf16", "load the base model in bf16", replace(setup, dtype="bf16"))
    if q is None or q.bits == 8:
        add("4-bit", "load the base model in 4-bit (nf4, double quantization)",
            replace(setup, quantization=Quantization(4, "nf4", True, setup.mixed_precision or setup.dtype)))
    if not setup.gradient_checkpointing:
        add("checkpointing", "enable gradient checkpointing", replace(setup, gradient_checkpointing=True))
    mb = setup.micro_batch or 1
    tried = None
    while mb > 1:
        mb //= 2
        tried = mb
        s = replace(setup, micro_batch=mb, grad_accum=setup.grad_accum * (setup.micro_batch // mb))
        total = measure(estimate(inv, analyze_spec(inv, spec), s))
        if total is not None and total <= budget:
            break
    if tried is not None:
        accum = setup.grad_accum * (setup.micro_batch // tried)
        add("micro-batch", f"micro-batch {tried} (gradient accumulation {accum} keeps the batch)",
            replace(setup, micro_batch=tried, grad_accum=accum))
    r = spec.r
    if isinstance(r, int) and not isinstance(r, bool) and r > 1 and not spec.rank_pattern:
        new = max(r // 2, 1)
        while new > 4:
            total = measure(estimate(inv, analyze_spec(inv, replace(spec, r=new)), setup))
            if total is not None and total <= budget:
                break
            new //= 2
        add("rank", f"rank {new} instead of {r}", sp=replace(spec, r=new))
    a = analyze_spec(inv, spec)
    if a.known and a.targeted:
        leaves = sorted({t.rpartition(".")[2] for t in a.targeted
                         if _ATTENTION.search(t.rpartition(".")[0].rpartition(".")[2])})
        every = sorted({t.rpartition(".")[2] for t in a.targeted})
        if leaves and leaves != every:
            add("targets", f"target only the attention projections ({', '.join(leaves)})",
                sp=replace(spec, target_modules=leaves))
    family, bits = OPTIMIZERS.get(setup.optimizer or "", (None, None))
    if family in ("adam", "adam-fused") and bits != 8:
        name = "paged_adamw_8bit" if (setup.optimizer or "").startswith("paged") else "adamw_8bit"
        add("8-bit-optimizer", f"optimizer {name}", replace(setup, optimizer=name))
    return sorted(out, key=lambda lv: lv.total)
