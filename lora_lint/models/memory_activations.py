"""Activation memory per GPU: an estimate of what autograd keeps between forward and backward
(``activations``), with its error band against measured peaks (``ACTIVATION_BAND``).

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
from dataclasses import dataclass

from .analysis import Analysis
from .inventory import Inventory, ModuleInfo
from .memory_setup import (
    DTYPE_BYTES,
    TrainingSetup,
    adapter_bytes,
    base_dtype_bytes,
    deepspeed_16bit,
    quantized_modules,
    saved_roots,
    under,
)

#: The activation estimate's error against the measured peaks, (estimate - measured) / measured:
#: the band the tests hold it to (the docstring gives the observed range). The measured peak lies
#: between ``estimate / (1 + ACTIVATION_BAND[1])`` and ``estimate / (1 + ACTIVATION_BAND[0])``.
ACTIVATION_BAND = (-0.20, 0.25)


# --- activations -----------------------------------------------------------------------------

ATTENTION = re.compile(r"attn|attention", re.I)

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
    ac = bool(setup.mixed_precision) and not deepspeed_16bit(setup)
    e_h = base_dtype_bytes(setup)  # the residual stream's dtype: the embedding's
    lora_b = adapter_bytes(setup)
    qset = quantized_modules(inv, setup.quantization) if setup.quantization else set()
    e_plain = 2 if ac else e_h

    def e_out(m: ModuleInfo) -> int:
        return e_h if m.name in qset else e_plain

    dropout = spec.lora_dropout if isinstance(spec.lora_dropout, (int, float)) else 0
    c = analysis.counts
    roots = saved_roots(inv, analysis)
    adapted = {k for k in c.lora_params if inv.by_name.get(k) is not None and not any(under(k, s) for s in roots)}
    saved_linears = {m.name for root in roots for m in inv.modules
                     if under(m.name, root) and m.kind in ("linear", "conv1d")}
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
            attention = ATTENTION.search(parent.rpartition(".")[2] or parent) is not None
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
        experts = [n for n in inv.fused_experts() if under(n, lname)]
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
            if not under(key, lname):
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
            if under(key, lname):
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
        if not any(under(key, ln) for ln in names) and inv.tower_of(key) is None:
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
