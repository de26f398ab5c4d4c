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


The activation estimate (its formula, sources, error band and what it leaves out) is in
``models.memory_activations``; the setup, the result's record and the sizes of what is stored in
``models.memory_setup``.

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

"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..training import GiB, KiB, MiB, parse_size  # noqa: F401  (sizes live with the settings)
from .analysis import Analysis, analyze_spec
from .inventory import Inventory
from .memory_activations import ACTIVATION_BAND, ATTENTION, activations
from .memory_setup import (
    MemoryEstimate,
    Quantization,
    Sharding,
    Tensor,
    TrainingSetup,
    base_dtype_bytes,
    deepspeed_16bit,
    numel_of,
    quantized_bytes,
    quantized_modules,
    trainable_tensors,
)
from .spec import LoraSpec

__all__ = ["ACTIVATION_BAND", "MemoryEstimate", "Quantization", "Sharding", "Tensor", "TrainingSetup",
           "estimate", "format_size", "levers", "parse_size"]


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
            rows = numel_of(t.shape[:-1])
            cols = numel_of(t.shape[:-2]) * t.shape[-1]
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
    base_bytes = base_dtype_bytes(setup)
    for name, shape in inv.parameters.items():
        if name in trained_base:
            continue
        owner, _, leaf = name.rpartition(".")
        if owner in qset and leaf == "weight":
            quant += quantized_bytes(numel_of(shape), mods[owner].out_features or shape[0], setup.quantization)
        else:
            plain += numel_of(shape) * base_bytes
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
        ds16 = deepspeed_16bit(setup)
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
    if setup.dtype == "fp32" and not deepspeed_16bit(setup):
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
                         if ATTENTION.search(t.rpartition(".")[0].rpartition(".")[2])})
        every = sorted({t.rpartition(".")[2] for t in a.targeted})
        if leaves and leaves != every:
            add("targets", f"target only the attention projections ({', '.join(leaves)})",
                sp=replace(spec, target_modules=leaves))
    family, bits = OPTIMIZERS.get(setup.optimizer or "", (None, None))
    if family in ("adam", "adam-fused") and bits != 8:
        name = "paged_adamw_8bit" if (setup.optimizer or "").startswith("paged") else "adamw_8bit"
        add("8-bit-optimizer", f"optimizer {name}", replace(setup, optimizer=name))
    return sorted(out, key=lambda lv: lv.total)
