"""The training settings that decide memory, as every reader records them on a site.

A reader (a Python call, a framework's YAML, a shell command...) records what it reads about the
training run in ``LoraSite.context``, under the names below, each a ``Param`` whose value is
already normalised (``"bf16"``, not ``torch.bfloat16`` nor ``"bfloat16"``) and whose key and span
are where the file writes it. A framework's default for a setting the file leaves out is an
``implicit`` Param (its span is the site's). A value that is not statically known is a Param
whose value is ``UNKNOWN``; a setting nobody recorded is absent, and means "not known" too: the
memory terms that depend on it are left out, never guessed (``models.training``).

``sources.training`` has the readers' shared functions (TrainingArguments' keys,
``BitsAndBytesConfig``, each framework's keys and defaults); this module is only the vocabulary
and the value normalisers, so that the models side can read what the readers wrote.
"""

from __future__ import annotations

import re
from typing import Any

from .unknown import UNKNOWN

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
#: The ``LoraSite.context`` entry of a ``# lora-lint: gpu-memory=24GiB`` comment (LL107's budget).
GPU_MEMORY = "gpu_memory"

#: name -> (the values it takes, what it means). Every reader writes these names only.
SETTINGS: dict[str, tuple[str, str]] = {
    "dtype": ('"fp32" | "bf16" | "fp16" | "auto"', "the dtype the base model is loaded in "
              '("auto": config.json\'s)'),
    "quantization": ("0 | 4 | 8", "bitsandbytes quantization of the base model's linear layers (0: none)"),
    "quant_type": ('"nf4" | "fp4"', "bnb_4bit_quant_type"),
    "double_quant": ("bool", "bnb_4bit_use_double_quant"),
    "compute_dtype": ('"fp32" | "bf16" | "fp16" | "auto"', "bnb_4bit_compute_dtype (auto: the load dtype)"),
    "skip_modules": ("list[str]", "llm_int8_skip_modules"),
    "quantize_targets_only": ("bool", "only the adapted linears are quantized (torchtune's QLoRA)"),
    "upcast_frozen": ("bool", "prepare_model_for_kbit_training: unquantized frozen weights in fp32"),
    "trainable_dtype": ('"fp32" | "bf16" | "fp16"', "every trainable parameter cast to this dtype"),
    "optimizer": ("str", "a TrainingArguments.optim name (adamw_torch, paged_adamw_8bit...)"),
    "mixed_precision": ('"bf16" | "fp16" | "no" | "auto"', "autocast (Trainer bf16=True / fp16=True); auto: "
                        "bf16 for a bf16 model, else fp16 (ms-swift)"),
    "gradient_checkpointing": ("bool", "activation (gradient) checkpointing"),
    "checkpoint_offload": ("bool", "checkpoints kept in CPU memory (Unsloth's, axolotl's offload)"),
    "seq_len": ("int", "the longest sequence in tokens (max_length, cutoff_len, sequence_len)"),
    "seq_full": ("bool", "every batch is padded or packed to seq_len (else seq_len is an upper bound)"),
    "micro_batch": ("int", "sequences per GPU per forward (per_device_train_batch_size)"),
    "grad_accum": ("int", "gradient accumulation steps"),
    "chunked_loss": ("bool", "the loss never holds the whole logits (Liger, chunked cross-entropy)"),
    "sharding": ('{"engine", "stage", "offload_optimizer", "offload_params"} | "none"',
                 "DeepSpeed ZeRO / FSDP"),
    "num_gpus": ("int", "GPUs the run uses"),
    "device_map": ('"gpu" | "cpu" | "split"', "where from_pretrained puts the model: all on one GPU, on the CPU "
                   "(the trainer moves it), or split: accelerate may spread it over several GPUs or the CPU"),
    "launch_sharding": ("bool", "the launcher (an accelerate or DeepSpeed config) may shard the model with ZeRO-3 "
                        "or FSDP when the file does not say"),
    "experts_quantized": ("bool", "the framework quantizes the MoE experts itself (not sized)"),
    "objective": ('"sft" | "pt" | "dpo" | ...', "what is trained: the activation estimate models sft and pt"),
    "calibrated": ("bool", "the framework runs transformers' modelling code (the estimate's calibration)"),
}

DTYPES = {
    "float32": "fp32", "fp32": "fp32", "float": "fp32", "torch.float32": "fp32", "torch.float": "fp32",
    "bfloat16": "bf16", "bf16": "bf16", "torch.bfloat16": "bf16",
    "float16": "fp16", "fp16": "fp16", "half": "fp16", "torch.float16": "fp16", "torch.half": "fp16",
    "auto": "auto",
}

#: An optimizer's class, as torchtune's ``_component_`` or a Python import names it -> the
#: TrainingArguments.optim name with the same states.
OPTIMIZER_CLASSES = {
    "torch.optim.AdamW": "adamw_torch", "torch.optim.Adam": "adamw_torch",
    "torch.optim.SGD": "sgd", "torch.optim.Adagrad": "adagrad", "torch.optim.RMSprop": "rmsprop",
    "bitsandbytes.optim.AdamW8bit": "adamw_8bit", "bitsandbytes.optim.Adam8bit": "adamw_8bit",
    "bitsandbytes.optim.PagedAdamW8bit": "paged_adamw_8bit", "bitsandbytes.optim.PagedAdam8bit": "paged_adamw_8bit",
    "bitsandbytes.optim.PagedAdamW": "paged_adamw_32bit", "bitsandbytes.optim.PagedAdamW32bit": "paged_adamw_32bit",
    "bitsandbytes.optim.AdamW32bit": "paged_adamw_32bit", "bitsandbytes.optim.Lion8bit": "lion_8bit",
    "bitsandbytes.optim.PagedLion8bit": "paged_lion_8bit", "bitsandbytes.optim.Lion32bit": "lion_32bit",
}


def dtype_name(value: Any) -> Any:
    """``"bfloat16"``, ``torch.bfloat16``, ``"bf16"``... -> ``"bf16"``; None stays None;
    anything else is UNKNOWN (a dtype lora-lint does not size)."""
    if value is None or value is UNKNOWN:
        return value
    if isinstance(value, str):
        return DTYPES.get(value.strip().lower().removeprefix("torch."), DTYPES.get(value.strip().lower(), UNKNOWN))
    return UNKNOWN


def optimizer_name(value: Any) -> Any:
    """A TrainingArguments.optim value (``OptimizerNames.ADAMW_8BIT`` or ``"adamw_8bit"``) as its
    lower-case name; UNKNOWN when not a string."""
    if value is None or value is UNKNOWN:
        return value
    if isinstance(value, str):
        name = value.strip()
        if name in OPTIMIZER_CLASSES:
            return OPTIMIZER_CLASSES[name]
        return name.rpartition(".")[2].lower() if name.startswith("OptimizerNames.") else name.lower()
    return UNKNOWN


def bool_value(value: Any) -> Any:
    """A flag as a framework's argument parser reads it: ``"true"``/``"false"`` strings too."""
    if isinstance(value, bool) or value is UNKNOWN or value is None:
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int):
        return bool(value)
    return UNKNOWN


def int_value(value: Any) -> Any:
    """A positive count (``"4"`` too); None stays None; anything else UNKNOWN."""
    if value is None or value is UNKNOWN:
        return value
    if isinstance(value, bool):
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value > 0 else UNKNOWN


# --- memory sizes (the ``gpu-memory`` budget) ----------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": KiB, "kb": 1000, "kib": KiB, "m": MiB, "mb": 1000**2, "mib": MiB,
          "g": GiB, "gb": 1000**3, "gib": GiB, "t": 1 << 40, "tb": 1000**4, "tib": 1 << 40}


def parse_size(text: str | int | float) -> int:
    """``"24GiB"``, ``"24 GB"`` (10^9), ``"24G"`` (GiB, as nvidia-smi means it), ``80e9``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text <= 0:
            raise ValueError(f"a memory size must be positive, got {text!r}")
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a memory size: {text!r} (write e.g. \"24GiB\" or \"80GB\")")
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if value <= 0:
        raise ValueError(f"a memory size must be positive, got {text!r}")
    return int(value)
