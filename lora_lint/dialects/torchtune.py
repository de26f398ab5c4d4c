"""torchtune recipes (``tune run <recipe> --config x.yaml``): LoRA is the model builder.

Replays torchtune main at bd2a0fc7c (the project's last commit; the last release v0.6.1 has the
same LoRA modules and builder defaults and lacks the qwen3 builders). torchtune does not use peft:

* ``model._component_`` names a ``lora_*``/``qlora_*`` builder (``torchtune/models/*/
  _model_builders.py``; ``qlora_*`` is the same builder with ``quantize_base=True``) whose keyword
  arguments are the LoRA settings, all with the same defaults: ``lora_rank`` 8, ``lora_alpha``
  16, ``lora_dropout`` 0.0, ``use_dora``/``quantize_base`` False, ``apply_lora_to_mlp`` and
  ``apply_lora_to_output`` False; ``lora_attn_modules`` has no default (TypeError without it,
  ValueError when empty). An unknown attention module name is skipped silently (the component
  builders test ``"q_proj" in lora_modules``...). gemma, gemma2 and qwen2 0.5B/1.5B builders take
  no ``apply_lora_to_output``; the tied-embedding llama3.2 1B/3B, qwen2.5 0.5B-3B and qwen3
  0.6B-4B builders raise ValueError for it.
* Each adapted linear becomes ``LoRALinear`` (``torchtune/modules/peft/lora.py:27-115``): a
  ``lora_a`` (in→r) and ``lora_b`` (r→out) without bias, plus a magnitude vector (out) with DoRA
  (``dora.py``); the LoRA recipes train only these (``get_adapter_params``/
  ``set_trainable_params``). That is r·(in+out) per adapted layer, which is also what peft counts
  for the same layers, so the site is analysed on the Hugging Face model under the names
  torchtune's ``convert_weights`` gives them (``torchtune/models/convert_weights.py:225-234``:
  output_proj -> o_proj, w1/w3/w2 -> gate/up/down_proj, output -> lm_head).
* There is no rsLoRA, bias, modules_to_save, task type or pattern setting; a builder rejects an
  argument it does not take (TypeError). The Hugging Face model id is read from the ``tune
  download <id> --output-dir <dir>`` comment matching ``checkpointer.checkpoint_dir``, for the
  ``checkpointer.model_type`` values whose module names map one-to-one onto the Hugging Face ones;
  without one, it is the model the builder builds (``data/torchtune_builders.json``, made by
  ``python -m lora_lint.models.torchtune_build`` from torchtune's builders and recipes).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from ..model import UNKNOWN, LoraSite, Param, Span
from ..peft_facts import suggest
from ..sources import training as train
from ..sources.yaml_nodes import Doc, Map, span, value_span
from ._base import (
    SiteBuilder,
    apply_keymap,
    check_duplicates,
    check_unknown,
    framework,
    lookup,
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
BUILDER = r"torchtune\.models\.(?:(\w+)\.)?(q?lora)_(\w+)$"
#: Builders whose model ties the output head to the embeddings: ``apply_lora_to_output: True``
#: raises ValueError (llama3_2/_component_builders.py:261-265, qwen2/_component_builders.py,
#: qwen3/_component_builders.py:281-286).
TIED = r"^(llama3_2_(1b|3b)|qwen2_5_(0_5b|1_5b|3b)|qwen3_(0_6b|1_7b|4b))"
#: Builders without an ``apply_lora_to_output`` argument (gemma/_model_builders.py:66-75,
#: gemma2/_model_builders.py, qwen2/_model_builders.py:199-256): passing it is a TypeError.
NO_OUTPUT_ARG = r"^(gemma_|gemma2_|qwen2_(0_5b|1_5b)$)"
#: checkpointer.model_type values whose torchtune module names map one-to-one onto HF's.
HF_LIKE = {"LLAMA2", "LLAMA3", "LLAMA3_2", "MISTRAL", "QWEN2", "QWEN3", "GEMMA", "GEMMA2"}
DOWNLOAD = r"tune\s+download\s+([\w.-]+/[\w.-]+)(.*)"


def detect(doc: Doc) -> bool:
    model = doc.top.sub("model") if doc.top is not None else None
    component = model.value("_component_") if model is not None else None
    return isinstance(component, str) and component.startswith("torchtune.")


def sites(doc: Doc) -> list[LoraSite]:
    model = doc.top.sub("model")
    component = model.value("_component_")
    m = re.match(BUILDER, component)
    if m is None:
        return []  # a full fine-tuning builder
    kind, builder = m.group(2), m.group(3)
    comp = model.get("_component_")
    b = SiteBuilder(doc, DIALECT, span(comp.node))
    apply_keymap(b, model, KEYMAP, skip=("lora_attn_modules", "apply_lora_to_mlp", "apply_lora_to_output"))
    b.defaults()
    _targets(b, model, builder)
    b.training(train.torchtune(lookup(doc, doc.top), b.span, qlora=kind == "qlora"))
    b.base_model = _base_model(doc) or builder_model(f"{kind}_{builder}", span(comp.node))
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
    complete = bool(p.value) and all(isinstance(v, str) for v in p.value)
    for key, hf in (("apply_lora_to_mlp", MLP), ("apply_lora_to_output", ("lm_head",))):
        e = model.get(key)
        on = model.value(key, False)
        if on is UNKNOWN:
            complete = False
        elif truthy(on):
            items.extend(Param(key, name, value_span(e.key_node, e.node)) for name in hf)
    out = model.get("apply_lora_to_output")
    if out is not None and re.match(NO_OUTPUT_ARG, builder):
        complete = False  # the builder raises: nothing is trained
        b.note("LL001", Param(out.key, UNKNOWN, span(out.key_node)), (
            f"{builder} takes no `apply_lora_to_output` (its output head is tied to the embeddings): "
            "torchtune raises TypeError; remove it"))
    elif out is not None and truthy(model.value("apply_lora_to_output")) and re.match(TIED, builder):
        complete = False
        b.note("LL009", param(doc, out), (
            f"`apply_lora_to_output: True` on {builder}, whose output head is tied to the embeddings: the "
            "torchtune builder raises ValueError; set apply_lora_to_output: False"))
    # nothing adapted: torchtune's own failure (an empty optimizer), not one of peft's
    value = [i.value for i in items] if complete and items else UNKNOWN
    b.set("target_modules", Param(p.key, value, p.span, tuple(items)))


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
        m = re.search(DOWNLOAD, line)
        if m is None:
            continue
        repo, rest = m.group(1), m.group(2)
        out = re.search(r"--output-dir\s+(\S+)", rest)
        if (out and out.group(1).rstrip("/") == want) or (not out and want.endswith("/" + repo.split("/")[1])):
            col = m.start(1) + 1
            return Param("checkpointer.checkpoint_dir", repo, _span(row, col, len(repo)))
    return None


#: The builders' table (``python -m lora_lint.models.torchtune_build``).
BUILDERS = Path(__file__).resolve().parents[1] / "data" / "torchtune_builders.json"


@lru_cache(maxsize=1)
def builders() -> dict[str, dict]:
    """``lora_*`` builder name -> ``{"model": HF id, "dims": {...}, ...}``."""
    return json.loads(BUILDERS.read_text(encoding="utf-8"))["builders"]


#: Builder families whose modules map one-to-one onto the Hugging Face model's (the families of
#: ``HF_LIKE``); phi3/phi4 fuse q/k/v and gate/up in Hugging Face but not in torchtune.
HF_LIKE_FAMILIES = frozenset({"llama2", "llama3", "llama3_1", "llama3_2", "llama3_3", "mistral", "qwen2", "qwen2_5",
                              "qwen3", "gemma", "gemma2"})


def builder_model(builder: str, where: Span) -> Param | None:
    """The Hugging Face model torchtune's ``builder`` (``lora_llama3_2_1b``, ``qlora_qwen2_5_7b_instruct``)
    builds, for the families whose modules are the Hugging Face model's under the names
    ``convert_weights`` maps to."""
    row = builders().get(builder.removeprefix("q"))
    if row is None or row["family"] not in HF_LIKE_FAMILIES:
        return None
    return Param("_component_", row["model"], where, via=f"the model torchtune's {builder} builds")


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
