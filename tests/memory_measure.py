"""Measure the memory of real training steps on small CPU models (for test_memory.py).

A model is built from a config with random weights in the requested dtype, adapted by real peft,
and one optimizer step is taken so the states and gradients exist. The second step runs under
``torch.profiler`` with memory events: every CPU allocation and free in order, so the live bytes
over the step are known exactly. Gradients are kept between steps (``zero_grad(set_to_none=False)``)
so that what the step allocates is activations and working memory only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

DTYPES = ("fp32", "bf16", "fp16")


@dataclass
class Measured:
    held: int  # bytes allocated by the forward and still alive when backward starts
    peak: int  # the highest live bytes above the step's start, forward and backward
    trainable: int  # bytes of the trainable parameters
    frozen: int  # bytes of the frozen parameters (and quantization state)


def _dtype(name):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def train_model(config: dict, *, dtype: str, lora: dict, gc: bool = False, seed: int = 0):
    """A CPU model with random weights and peft's LoRA applied (not quantized)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    cfg = AutoConfig.for_model(**config)
    cfg._attn_implementation = "sdpa"
    cfg.use_cache = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_config(cfg, dtype=_dtype(dtype))
        model.train()
        if gc:
            model.gradient_checkpointing_enable()
        model = get_peft_model(model, LoraConfig(**lora))
    return model


def measure_step(model, *, vocab: int, seq: int, batch: int, autocast: str | None) -> Measured:
    """Run two training steps and measure the second (see the module docstring)."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    torch.set_num_threads(1)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, foreach=False)
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (batch, seq), generator=gen)

    def step():
        with record_function("phase:forward"):
            with torch.autocast("cpu", dtype=_dtype(autocast) if autocast else torch.bfloat16, enabled=bool(autocast)):
                out = model(input_ids=ids, labels=ids)
            loss = out.loss
            del out
        with record_function("phase:backward"):
            loss.backward()
        del loss
        opt.step()
        opt.zero_grad(set_to_none=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step()
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            step()
    events = list(prof.profiler.kineto_results.events())
    marks = {e.name(): (e.start_ns(), e.end_ns()) for e in events if e.name().startswith("phase:")}
    mem = sorted((e for e in events if e.name() == "[memory]" and e.device_type().name == "CPU"),
                 key=lambda e: e.start_ns())
    fwd_end, bwd_end = marks["phase:forward"][1], marks["phase:backward"][1]
    cur = peak = 0
    held = None
    for e in mem:
        if held is None and e.start_ns() > fwd_end:
            held = cur
        if e.start_ns() > bwd_end:
            break
        cur += e.nbytes()
        peak = max(peak, cur)
    trainable = sum(p.numel() * p.element_size() for p in params)
    frozen = sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad)
    return Measured(held or 0, peak, trainable, frozen)


def quantized_model(config: dict, directory, *, lora: dict, bnb: dict, dtype: str = "bf16", prepare: bool = True,
                    gc: bool = False, seed: int = 0):
    """A CPU model saved with random weights, loaded back quantized by bitsandbytes through
    ``from_pretrained`` (the real loading path), then ``prepare_model_for_kbit_training`` (when
    ``prepare``) and peft's LoRA."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoConfig, AutoModelForCausalLM, BitsAndBytesConfig

    torch.manual_seed(seed)
    cfg = AutoConfig.for_model(**config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        AutoModelForCausalLM.from_config(cfg, dtype=_dtype(dtype)).save_pretrained(directory)
        kw = dict(bnb)
        if "bnb_4bit_compute_dtype" in kw:
            kw["bnb_4bit_compute_dtype"] = _dtype(kw["bnb_4bit_compute_dtype"])
        model = AutoModelForCausalLM.from_pretrained(
            directory, quantization_config=BitsAndBytesConfig(**kw), dtype=_dtype(dtype), device_map="cpu",
            attn_implementation="sdpa")
        model.config.use_cache = False
        model.train()  # from_pretrained returns eval mode; checkpointing and dropout act in training
        if prepare:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gc)
        elif gc:
            model.gradient_checkpointing_enable()
        if lora is not None:
            model = get_peft_model(model, LoraConfig(**lora))
    return model


def storage_bytes(model) -> tuple[int, int]:
    """(frozen, trainable) bytes held by the model: parameters, bitsandbytes quantization state
    (absmax, codes, offsets, nested state, int8 row scales), each storage once."""
    seen: dict[int, int] = {}
    trainable = 0

    def add(t):
        if t is None:
            return
        s = t.untyped_storage()
        seen.setdefault(s.data_ptr(), s.nbytes())

    for p in model.parameters():
        if p.requires_grad:
            trainable += p.untyped_storage().nbytes()
            continue
        add(p)
        qs = getattr(p, "quant_state", None)
        if qs is not None:
            for t in (qs.absmax, qs.code, qs.offset):
                add(t)
            if qs.state2 is not None:
                add(qs.state2.absmax)
                add(qs.state2.code)
        add(getattr(p, "SCB", None))
    return sum(seen.values()), trainable
