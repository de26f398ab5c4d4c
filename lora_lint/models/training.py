"""Will it fit? A site's training memory per GPU, from the settings its reader recorded.

``memory_for(site, inventory, analysis, config)`` turns the training settings in
``site.context`` (``lora_lint.training``: what the file writes, and the framework's defaults) into
a ``memory.TrainingSetup`` and estimates the memory one GPU holds (``memory.estimate``). What is
not statically known is never guessed: every setting that is not known is tried at each value it
can take, and a term that changes with it is unknown, with the reason. ``report``, the language
server's hover and the budget rule (LL107) all ask this one function.

What is certain (``Memory.certain``, what LL107 compares with a budget): at the optimizer step
the weights, the gradients and the optimizer states are all alive (exact terms); after a forward
pass of a later step the weights, the states and the activations are. The activations count only
when the sequence length is certain (every batch padded or packed to it: otherwise it is only the
longest a batch may be), the framework runs transformers' modelling code (the estimate's
calibration) and the objective is supervised (sft, pt), and then only at the lower edge of the
estimate's measured error band. A setting that is not known takes its most favourable value; a
model that ``device_map`` may spread over several GPUs, sharding that is not known, or a run whose
launcher may shard it (``launch_sharding``: ``accelerate launch --config_file`` with ZeRO-3 or
FSDP, when the file names no sharding and its framework takes one from the launcher) has no
certain figure.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..model import UNKNOWN, LoraSite, Param
from .memory import ACTIVATION_BAND, Quantization, Sharding, TrainingSetup, estimate, levers

#: The settings whose value, when not statically known, is tried at each of these.
CANDIDATES: dict[str, tuple[Any, ...]] = {
    "dtype": ("bf16", "fp32"),  # fp16 takes the bytes of bf16
    "upcast_frozen": (False, True),
    "trainable_dtype": ("fp32", "bf16"),
    "mixed_precision": ("no", "bf16"),
    "gradient_checkpointing": (False, True),
    "checkpoint_offload": (False, True),
    "chunked_loss": (False, True),
    "double_quant": (False, True),
    "compute_dtype": ("bf16", "fp32"),
    "quantization": (0, 4, 8),
}
#: The most combinations of unknown settings tried for the certain figure.
MAX_COMBINATIONS = 64
#: Objectives the activation estimate models.
SUPERVISED = frozenset({"sft", "pt"})

TERMS = ("frozen_weights", "trainable_weights", "gradients", "optimizer_states", "activations", "total")


@dataclass(frozen=True)
class Memory:
    """Memory per GPU of one site's training run (bytes; None: not known, ``unknown`` says why)."""

    terms: Mapping[str, int | None]  # TERMS -> bytes
    unknown: Mapping[str, str]  # term -> why it is not known
    #: The activations' range from the estimate's measured error band (None when not known).
    band: tuple[int, int] | None
    #: The least this run can take per GPU (see the module docstring); None: nothing certain.
    certain: int | None
    setup: TrainingSetup  # the settings (where not known: the first value tried)
    settings: str  # the settings in words, for the report
    notes: tuple[str, ...] = ()
    #: The setup that gives ``certain`` (the most favourable values of what is not known).
    favourable: TrainingSetup | None = None
    activations_certain: bool = False
    detail: Mapping[str, int] = field(default_factory=dict)
    frozen_known: bool = True  # False: a checkpoint stored quantized by a method not sized here

    def as_dict(self) -> dict:
        return {**{k: self.terms.get(k) for k in TERMS},
                "activations_range": list(self.band) if self.band else None,
                "certain_minimum": self.certain, "settings": self.settings,
                "unknown": dict(self.unknown), "notes": list(self.notes)}


def _value(p: Param | None) -> Any:
    if p is None:
        return UNKNOWN
    return p.value if p.known else UNKNOWN


def _config_dtype(config: Mapping | None) -> str | None:
    """The dtype ``from_pretrained(dtype="auto")`` loads: config.json's; None without one (then
    transformers takes the checkpoint's own, which only its weight files tell)."""
    from ..training import dtype_name

    for c in (config or {}, (config or {}).get("text_config") or {}):
        if isinstance(c, Mapping):
            for key in ("dtype", "torch_dtype"):
                d = dtype_name(c.get(key)) if isinstance(c.get(key), str) else None
                if d in ("fp32", "bf16", "fp16"):
                    return d
    return None


def prequantized(config: Mapping | None) -> tuple[str, dict] | None:
    """``(quant_method, its settings)`` of a checkpoint stored quantized (config.json's
    ``quantization_config``): transformers loads it so, whatever the load call asks."""
    for c in (config or {}, (config or {}).get("text_config") or {}):
        q = c.get("quantization_config") if isinstance(c, Mapping) else None
        if isinstance(q, Mapping):
            return str(q.get("quant_method", "unknown")), dict(q)
    return None


def _stored_bnb(q: dict) -> dict[str, Any]:
    """A bitsandbytes checkpoint's own quantization, as settings."""
    from ..training import dtype_name

    bits = 4 if q.get("load_in_4bit") or q.get("_load_in_4bit") else 8 if q.get("load_in_8bit") or q.get(
        "_load_in_8bit") else 0
    out: dict[str, Any] = {"quantization": bits}
    if bits == 4:
        out["quant_type"] = q.get("bnb_4bit_quant_type", "fp4")
        out["double_quant"] = bool(q.get("bnb_4bit_use_double_quant", False))
        out["compute_dtype"] = dtype_name(q.get("bnb_4bit_compute_dtype")) or "fp32"
    skip = q.get("llm_int8_skip_modules")
    if isinstance(skip, list):
        out["skip_modules"] = skip
    return out


def experts_per_token(config: Mapping | None) -> int | None:
    """MoE top-k from config.json (``num_experts_per_tok``, ``moe_topk``...)."""
    for c in (config or {}, (config or {}).get("text_config") or {}):
        if isinstance(c, Mapping):
            for key in ("num_experts_per_tok", "moe_topk", "num_selected_experts", "top_k", "moe_top_k"):
                v = c.get(key)
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    return v
    return None


@dataclass
class _Read:
    """The site's settings: known values, and the unknown ones with their candidates."""

    values: dict[str, Any]
    unknown: dict[str, str]  # setting -> why


#: Why a setting written under these keys is not known, beyond "not statically known".
WHY = {"deepspeed": "a DeepSpeed config file is not read",
       "recipe": "the recipe, one GPU or FSDP over several, is chosen on the command line",
       "transformers": "loaded without a dtype: float32 under transformers 4, config.json's under transformers 5"}


def _read(site: LoraSite) -> _Read:
    from ..training import SETTINGS

    values, unknown = {}, {}
    for name in SETTINGS:
        p = site.context.get(name)
        v = _value(p)
        if v is UNKNOWN:
            unknown[name] = ("not read from the file" if p is None else
                             f"not statically known ({WHY[p.key]})" if p.key in WHY else "not statically known")
        else:
            values[name] = v
    return _Read(values, unknown)


def has_training(site: LoraSite) -> bool:
    """The reader recorded training settings for ``site`` (a saved adapter has none)."""
    from ..training import SETTINGS

    return not site.dialect.saved and any(name in site.context for name in SETTINGS)


def _setup(v: Mapping[str, Any], config: Mapping | None, inv, analysis) -> TrainingSetup:
    """A TrainingSetup from settings ``v`` (every memory-relevant one present)."""
    dtype = v["dtype"]
    if dtype == "auto":
        dtype = _config_dtype(config) or "fp32"
    mixed = v["mixed_precision"]
    if mixed == "auto":
        mixed = "bf16" if dtype == "bf16" else "fp16"
    mixed = None if mixed in ("no", None) else mixed
    bits = v["quantization"]
    quant = None
    if bits:
        compute = v.get("compute_dtype", "fp32")
        if compute == "auto" or compute is None or bits == 8:  # LLM.int8 computes in the load dtype
            compute = dtype
        skip = v.get("skip_modules")
        if v.get("quantize_targets_only") and analysis is not None and analysis.known:
            targeted = set(analysis.targeted)
            skip = [m.name for m in inv.modules if m.kind in ("linear", "conv1d") and m.name not in targeted]
        quant = Quantization(bits, v.get("quant_type", "fp4") if v.get("quant_type") in ("nf4", "fp4") else "nf4",
                             bool(v.get("double_quant", False)), compute,
                             skip_modules=tuple(skip) if skip is not None else None)
    sh = v["sharding"]
    sharding = None
    if isinstance(sh, Mapping) and sh.get("stage", 0) > 0:
        sharding = Sharding(sh.get("engine", "deepspeed"), sh["stage"], bool(sh.get("offload_optimizer")),
                            bool(sh.get("offload_params")))
    return TrainingSetup(
        dtype=dtype, quantization=quant, upcast_frozen=bool(v["upcast_frozen"]) and bool(quant),
        trainable_dtype=v.get("trainable_dtype"), optimizer=v.get("optimizer"), mixed_precision=mixed,
        gradient_checkpointing=bool(v["gradient_checkpointing"]), checkpoint_offload=bool(v["checkpoint_offload"]),
        seq_len=v.get("seq_len"), micro_batch=v.get("micro_batch"), grad_accum=v.get("grad_accum") or 1,
        chunked_loss=bool(v["chunked_loss"]), sharding=sharding, num_gpus=v.get("num_gpus"),
        experts_per_token=experts_per_token(config),
    )


#: Values of settings nobody recorded, when the site has training settings at all: what holds
#: when nothing asks for more (no quantization, no sharding, no upcast...).
ABSENT = {"quantization": 0, "upcast_frozen": False, "checkpoint_offload": False, "chunked_loss": False,
          "sharding": "none", "double_quant": False, "quantize_targets_only": False,
          "trainable_dtype": None, "skip_modules": None, "experts_quantized": False}


def memory_for(site: LoraSite, inv, analysis, config: Mapping | None = None, *,
               certain: bool = False) -> Memory | None:
    """The memory of ``site``'s training per GPU; None when its reader recorded no training
    settings (a saved adapter, a file kind whose settings are not read). ``certain``: also the
    least it can take (``Memory.certain``; what LL107 needs, the report does not)."""
    if not has_training(site) or inv is None:
        return None
    read = _read(site)
    values = {**ABSENT, **read.values}
    unknown = {k: why for k, why in read.unknown.items() if k not in ABSENT or k in site.context}
    stored = prequantized(config)
    frozen_why = None
    if stored is not None and stored[0] == "bitsandbytes":
        for k, v in _stored_bnb(stored[1]).items():  # the checkpoint's quantization wins
            values[k] = v
            unknown.pop(k, None)
    elif stored is not None:
        frozen_why = f"the checkpoint is stored quantized ({stored[0]}), whose size is not computed"
    if (values.get("experts_quantized") is True or "experts_quantized" in unknown) and inv.fused_experts():
        frozen_why = "the framework may quantize the MoE experts itself, whose size is not computed"
    if values.get("dtype") == "auto" and _config_dtype(config) is None:
        del values["dtype"]
        unknown["dtype"] = "auto, and config.json names none (the checkpoint's own dtype is used)"
    varying = {k: CANDIDATES[k] for k in unknown if k in CANDIDATES}
    quant_unknown = "quantization" in unknown
    if not quant_unknown and not values.get("quantization"):
        for k in ("double_quant", "compute_dtype"):
            varying.pop(k, None)
    if values.get("quantization") == 8:
        varying.pop("double_quant", None)
        varying.pop("compute_dtype", None)
    sharding_unknown = "sharding" in unknown
    if sharding_unknown:
        values["sharding"] = "none"
    for k, c in varying.items():
        values.setdefault(k, c[0])
    for k in ("optimizer", "seq_len", "micro_batch", "num_gpus", "trainable_dtype", "grad_accum"):
        values.setdefault(k, None)
    base_setup = _setup(values, config, inv, analysis)
    base = estimate(inv, analysis, base_setup)
    terms: dict[str, int | None] = dict(base.terms())
    why: dict[str, str] = {}
    notes = [n for n in base.notes if not n.startswith("sequence length or micro-batch")]

    # terms that change with a setting that is not known
    for name, cands in varying.items():
        for c in cands[1:]:
            other = estimate(inv, analysis, _setup({**values, name: c}, config, inv, analysis))
            for term, size in other.terms().items():
                if size != terms.get(term) and term not in why:
                    why[term] = f"depends on {_label(name)}, {unknown[name]}"
    if sharding_unknown:
        for term in TERMS:
            why.setdefault(term, f"depends on the DeepSpeed/FSDP sharding, {unknown['sharding']}")
    if frozen_why:
        why.setdefault("frozen_weights", frozen_why)
    objective = values.get("objective")
    if "objective" in unknown:
        why.setdefault("activations", f"depends on the training objective, {unknown['objective']}")
    elif objective is not None and objective not in SUPERVISED:
        why.setdefault("activations", f"the estimate models supervised fine-tuning, not {objective}")
    for k, label in (("seq_len", "the sequence length"), ("micro_batch", "the micro-batch size")):
        if values.get(k) is None:
            why.setdefault("activations", f"{label} is {unknown.get(k, 'not statically known')}")
    if values.get("optimizer") is None:
        why.setdefault("optimizer_states", f"the optimizer is {unknown.get('optimizer', 'not statically known')}")
    elif base.optimizer_states is None and base.trainable_weights is not None:
        why.setdefault("optimizer_states", f"optimizer {values['optimizer']!r} is not modelled")
    if analysis is None or not analysis.known or analysis.error is not None:
        for term in ("trainable_weights", "gradients", "optimizer_states", "activations"):
            why.setdefault(term, "the adapter is not counted")
    if values.get("num_gpus") is None and base_setup.sharding is not None:
        for term in ("frozen_weights", "trainable_weights", "gradients", "optimizer_states"):
            if terms.get(term) is None:
                why.setdefault(term, "it is divided among the GPUs, whose number is not known")
    for term in TERMS[:-1]:
        if term in why:
            terms[term] = None
        elif terms.get(term) is None:
            why[term] = "not known"
    if any(terms[t] is None for t in TERMS[:-1]):
        terms["total"] = None
        missing = [t for t in TERMS[:-1] if terms[t] is None]
        why["total"] = "without " + ", ".join(_TERM_WORDS[t] for t in missing)
    act = terms.get("activations")
    band = None
    if act is not None:
        band = (int(act / (1 + ACTIVATION_BAND[1])), int(act / (1 + ACTIVATION_BAND[0])))
    calibrated = values.get("calibrated") is True
    if values.get("calibrated") is False and act is not None:
        notes.append("the activation estimate is calibrated on transformers' modelling code, which this framework"
                     " replaces with its own kernels")
    full = values.get("seq_full") is True
    split = values.get("device_map") == "split" or "device_map" in unknown
    if split:
        notes.append("device_map may spread the model over several GPUs: per GPU it can be less")
    # the file names no sharding, and its launcher (an accelerate or DeepSpeed config) may add one
    launched = base_setup.sharding is None and values.get("launch_sharding") is not False
    if launched and not sharding_unknown:
        notes.append("an accelerate or DeepSpeed config given at launch may shard it over several GPUs"
                     " (ZeRO-3, FSDP): per GPU it can be less")
    act_certain = (full and calibrated and objective in SUPERVISED and values.get("seq_len") is not None
                   and values.get("micro_batch") is not None)
    least, favourable = (None, None) if split or launched or sharding_unknown or not certain else _certain(
        inv, analysis, values, varying, config, act_certain, frozen=frozen_why is None)
    return Memory(terms, {t: why[t] for t in TERMS if t in why}, band, least, base_setup,
                  describe(base_setup, values, unknown), tuple(dict.fromkeys(notes)), favourable,
                  act_certain, dict(base.detail), frozen_why is None)


def _certain(inv, analysis, values, varying, config, with_activations: bool, frozen: bool = True):
    """The least memory per GPU over every value the unknown settings can take, and its setup."""
    names = list(varying)
    combos = list(itertools.islice(itertools.product(*(varying[n] for n in names)), MAX_COMBINATIONS + 1))
    if len(combos) > MAX_COMBINATIONS:
        return None, None
    best = None
    for combo in combos:
        v = {**values, **dict(zip(names, combo, strict=True))}
        s = _setup(v, config, inv, analysis)
        if not with_activations:
            s = replace(s, seq_len=None)
        low = least(estimate(inv, analysis, s), with_activations, frozen)
        if best is None or low < best[0]:
            best = (low, s)
    return best if best is not None else (None, None)


def least(e, with_activations: bool, with_frozen: bool = True) -> int:
    """The memory a GPU certainly holds in a run whose terms are ``e``: the weights and optimizer
    states, with the gradients (at the optimizer step) or the activations at the lower edge of
    their band (after a forward pass), whichever is more. A term that is not known counts 0
    (``with_frozen=False``: the frozen weights are not known)."""
    frozen, trainable, grads, states = (x or 0 for x in (e.frozen_weights if with_frozen else 0, e.trainable_weights,
                                                           e.gradients, e.optimizer_states))
    act = int(e.activations / (1 + ACTIVATION_BAND[1])) if with_activations and e.activations else 0
    return frozen + trainable + states + max(grads, act)


_TERM_WORDS = {"frozen_weights": "the frozen weights", "trainable_weights": "the trainable weights",
               "gradients": "the gradients", "optimizer_states": "the optimizer states",
               "activations": "the activations"}
_SETTING_WORDS = {
    "dtype": "the load dtype", "quantization": "the quantization", "upcast_frozen": "prepare_model_for_kbit_training",
    "trainable_dtype": "the dtype of the trainable parameters", "mixed_precision": "mixed precision",
    "gradient_checkpointing": "gradient checkpointing", "checkpoint_offload": "checkpoint offloading",
    "chunked_loss": "the loss", "double_quant": "double quantization", "compute_dtype": "the 4-bit compute dtype",
}


def _label(name: str) -> str:
    return _SETTING_WORDS.get(name, name.replace("_", " "))


def describe(s: TrainingSetup, values: Mapping[str, Any], unknown: Mapping[str, str]) -> str:
    """The settings in a few words: ``bf16, 4-bit nf4, adamw_8bit, checkpointing, 2048 × 2``."""
    def known(name: str) -> bool:
        return name not in unknown

    parts = [s.dtype if known("dtype") else "dtype ?"]
    if not known("quantization"):
        parts.append("quantization ?")
    elif s.quantization is not None:
        q = s.quantization
        parts.append("8-bit" if q.bits == 8 else f"4-bit {q.quant_type}" + (" dq" if q.double_quant else ""))
    if s.upcast_frozen:
        parts.append("kbit-prepared")
    if known("mixed_precision"):
        parts.append(f"autocast {s.mixed_precision}" if s.mixed_precision else "no autocast")
    parts.append(s.optimizer or "optimizer ?")
    if not known("gradient_checkpointing"):
        parts.append("checkpointing ?")
    elif s.gradient_checkpointing:
        parts.append("checkpointing" + (" offloaded" if s.checkpoint_offload else ""))
    seq = str(s.seq_len) if s.seq_len else "?"
    mb = str(s.micro_batch) if s.micro_batch else "?"
    parts.append(f"{seq} tokens × {mb}" + (" (packed)" if values.get("seq_full") is True else ""))
    if s.sharding is not None:
        parts.append(f"{s.sharding.engine} stage {s.sharding.stage}")
    elif not known("sharding"):
        parts.append("sharding ?")
    return ", ".join(parts)


def budget_levers(inv, analysis, mem: Memory, budget: int):
    """What would bring ``mem.certain`` under ``budget``: ``memory.levers`` from the most
    favourable setup, each change measured the way ``certain`` is."""
    return levers(inv, analysis.spec, mem.favourable or mem.setup, budget,
                  measure=lambda e: least(e, mem.activations_certain, mem.frozen_known))
