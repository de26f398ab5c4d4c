"""torchtune recipes (``tune run <recipe> --config x.yaml``): LoRA is the model builder.

``model._component_`` names a ``lora_*``/``qlora_*`` builder whose keyword arguments are the
LoRA settings: ``lora_rank`` and ``lora_alpha`` (builder defaults 8 and 16), ``lora_dropout``
(0.0), ``use_dora``, ``quantize_base`` (the ``qlora_`` builders set it), and the targets
``lora_attn_modules`` (q_proj, k_proj, v_proj, output_proj), ``apply_lora_to_mlp`` (w1/w2/w3)
and ``apply_lora_to_output``. Targets are given their Hugging Face names (torchtune's
``convert_weights``: output_proj -> o_proj, w1/w3/w2 -> gate/up/down_proj, output -> lm_head).
There is no rsLoRA, bias, modules_to_save, task type or pattern setting. A builder rejects an
argument it does not take (TypeError); an unknown attention module name is silently skipped.
The Hugging Face model id is read from the ``tune download <id> --output-dir <dir>`` comment
matching ``checkpointer.checkpoint_dir``, for architectures whose module names match HF's.
"""

from __future__ import annotations

import re

from ..model import UNKNOWN, LoraSite, Param, Span
from ..peft_facts import suggest
from ..sources.yaml_nodes import Doc, Map, span, value_span
from ._base import (
    SiteBuilder,
    apply_keymap,
    check_duplicates,
    check_unknown,
    framework,
    param,
    truthy,
)

NAME = "torchtune"
KEYMAP = {
    "lora_rank": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_attn_modules": "target_modules",
    "apply_lora_to_mlp": "target_modules",
    "apply_lora_to_output": "target_modules",
    "use_dora": "use_dora",
}
KNOWN = {"quantize_base", "decoder_trainable", "encoder_trainable", "fusion_trainable", "image_size"}
DIALECT = framework(
    NAME, KEYMAP, known=KNOWN, settable={"r", "lora_alpha", "lora_dropout", "target_modules", "use_dora"},
    defaults={"r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
)
ATTN = {"q_proj": "q_proj", "k_proj": "k_proj", "v_proj": "v_proj", "output_proj": "o_proj"}
MLP = ("gate_proj", "up_proj", "down_proj")
BUILDER = re.compile(r"torchtune\.models\.(?:(\w+)\.)?(q?lora)_(\w+)$")
#: Builders whose model ties the output head to the embeddings: apply_lora_to_output raises.
TIED = re.compile(r"^(llama3_2_(1b|3b)|qwen2_(0_5b|1_5b)|qwen2_5_(0_5b|1_5b|3b)|qwen3_(0_6b|1_7b|4b))")
#: checkpointer.model_type values whose torchtune module names map one-to-one onto HF's.
HF_LIKE = {"LLAMA2", "LLAMA3", "LLAMA3_2", "MISTRAL", "QWEN2", "QWEN3", "GEMMA", "GEMMA2"}
DOWNLOAD = re.compile(r"tune\s+download\s+([\w.-]+/[\w.-]+)(.*)")


def detect(doc: Doc) -> bool:
    model = doc.top.sub("model") if doc.top is not None else None
    component = model.value("_component_") if model is not None else None
    return isinstance(component, str) and component.startswith("torchtune.")


def sites(doc: Doc) -> list[LoraSite]:
    model = doc.top.sub("model")
    component = model.value("_component_")
    m = BUILDER.match(component)
    if m is None:
        return []  # a full fine-tuning builder
    kind, builder = m.group(2), m.group(3)
    comp = model.get("_component_")
    b = SiteBuilder(doc, DIALECT, span(comp.node))
    apply_keymap(b, model, KEYMAP, skip=("lora_attn_modules", "apply_lora_to_mlp", "apply_lora_to_output"))
    b.defaults()
    _targets(b, model, builder)
    quant = model.get("quantize_base")
    if quant is not None:
        b.ctx("quantization", param(doc, quant))
    elif kind == "qlora":
        b.ctx("quantization", Param("_component_", "nf4", span(comp.node)))
    b.base_model = _base_model(doc)
    check_unknown(b, model, KEYMAP, KNOWN)
    check_duplicates(b, model, KEYMAP)
    return [b.build()]


def _targets(b: SiteBuilder, model: Map, builder: str) -> None:
    doc = b.doc
    attn = model.get("lora_attn_modules")
    if attn is None:
        b.set("target_modules", Param("lora_attn_modules", UNKNOWN, b.span, implicit=True))
        b.note("LL009", Param("_component_", builder, b.span), (
            f"`{builder}` needs `lora_attn_modules`: the torchtune builder raises TypeError without it; add "
            "e.g. lora_attn_modules: ['q_proj', 'v_proj', 'output_proj']"))
        return
    p = param(doc, attn)
    if not isinstance(p.value, list):
        b.set("target_modules", p)
        return
    items = []
    for item in p.items:
        if isinstance(item.value, str) and item.value in ATTN:
            items.append(Param(item.key, ATTN[item.value], item.span))
        elif isinstance(item.value, str):
            b.note("LL010", item, (
                f"`{item.value}` is not a torchtune attention module (q_proj, k_proj, v_proj, output_proj): "
                f"the builder skips it silently{_hint(item.value)}"))
    if not p.value:
        b.note("LL009", p, (
            "`lora_attn_modules` is empty: the torchtune builder raises ValueError (\"Must pass one or more "
            "of ['q_proj', 'k_proj', 'v_proj', 'output_proj']\"); list at least one"))
    complete = all(isinstance(v, str) for v in p.value)
    for key, hf in (("apply_lora_to_mlp", MLP), ("apply_lora_to_output", ("lm_head",))):
        e = model.get(key)
        on = model.value(key, False)
        if on is UNKNOWN:
            complete = False
        elif truthy(on):
            items.extend(Param(key, name, value_span(e.key_node, e.node)) for name in hf)
    value = [i.value for i in items] if complete else UNKNOWN
    b.set("target_modules", Param(p.key, value, p.span, tuple(items)))
    out = model.get("apply_lora_to_output")
    if out is not None and builder.startswith(("gemma_", "gemma2_")):
        b.note("LL001", Param(out.key, UNKNOWN, span(out.key_node)), (
            "gemma builders take no `apply_lora_to_output` (the output head is tied to the embeddings): "
            "torchtune raises TypeError; remove it"))
    elif out is not None and truthy(model.value("apply_lora_to_output")) and TIED.match(builder):
        b.note("LL009", param(doc, out), (
            f"`apply_lora_to_output: True` on {builder}, whose output head is tied to the embeddings: the "
            "torchtune builder raises ValueError; set apply_lora_to_output: False"))


def _base_model(doc: Doc) -> Param | None:
    """The HF id from the ``tune download`` comment that filled ``checkpointer.checkpoint_dir``."""
    ckpt = doc.top.sub("checkpointer")
    if ckpt is None:
        return None
    directory, model_type = ckpt.value("checkpoint_dir"), ckpt.value("model_type")
    component = ckpt.value("_component_")
    if not isinstance(directory, str) or not isinstance(model_type, str) or model_type not in HF_LIKE:
        return None
    if not (isinstance(component, str) and component.endswith("HFCheckpointer")):
        return None
    want = directory.strip().rstrip("/")
    for row, line in enumerate(doc.lines):
        if not line.lstrip().startswith("#"):
            continue
        m = DOWNLOAD.search(line)
        if m is None:
            continue
        repo, rest = m.group(1), m.group(2)
        out = re.search(r"--output-dir\s+(\S+)", rest)
        if (out and out.group(1).rstrip("/") == want) or (not out and want.endswith("/" + repo.split("/")[1])):
            col = m.start(1) + 1
            return Param("checkpointer.checkpoint_dir", repo, _span(row, col, len(repo)))
    return None


def _span(row: int, col: int, length: int) -> Span:
    return Span(row + 1, col, row + 1, col + length)


def _hint(name: str) -> str:
    if name in ("o_proj", "out_proj", "dense"):
        return "; torchtune calls it `output_proj`"
    if name in MLP or name in ("w1", "w2", "w3", "mlp"):
        return "; the MLP is adapted with `apply_lora_to_mlp: True`"
    if name in ("lm_head", "output"):
        return "; the output head is adapted with `apply_lora_to_output: True`"
    hint = suggest(name, list(ATTN))
    return f"; did you mean `{hint}`?" if hint else ""
