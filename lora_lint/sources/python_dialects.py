"""The Python dialects' records: peft's ``LoraConfig(...)`` and Unsloth's ``get_peft_model(...)``
(``sources/python.py`` reads them; ``dialects.named`` finds them here without the reader)."""

from __future__ import annotations

from typing import Any

from ..dialect import Dialect
from ..peft_facts import lora_fields

#: Keyword arguments of Unsloth's get_peft_model that are not LoraConfig fields.
UNSLOTH_KWARGS = frozenset({
    "model", "use_gradient_checkpointing", "random_state", "max_seq_length", "temporary_location",
    "finetune_last_n_layers", "qat_scheme", "finetune_vision_layers", "finetune_language_layers",
    "finetune_attention_modules", "finetune_mlp_modules", "finetune_audio_layers",
})
#: Unsloth's own defaults (unsloth/models/llama.py get_peft_model).
UNSLOTH_DEFAULTS: dict[str, Any] = {
    "r": 16,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "bias": "none",
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}
UNSLOTH_VISION_DEFAULTS: dict[str, Any] = {"r": 16, "lora_alpha": 16, "lora_dropout": 0.0, "bias": "none"}
_FIELDS = {f: f for f in lora_fields()}
_UNSLOTH_WHAT = "a field of peft's LoraConfig or an argument of Unsloth's get_peft_model"

#: ``LoraConfig(...)``: values reach peft exactly as written, a string target_modules included.
PEFT = Dialect(
    name="peft", keymap=_FIELDS, what="a field of peft's LoraConfig", as_written=True, python=True,
    string_targets=True, peft_keys=True, passer=None,
)
#: ``FastLanguageModel.get_peft_model(...)``: Unsloth's defaults; it walks target names itself.
UNSLOTH = Dialect(
    name="unsloth", keymap=_FIELDS, what=_UNSLOTH_WHAT, defaults=UNSLOTH_DEFAULTS, known=UNSLOTH_KWARGS,
    as_written=True, python=True, peft_keys=True, passer="Unsloth",
)
#: ``FastModel``/``FastVisionModel.get_peft_model(...)``: a string target_modules reaches peft.
UNSLOTH_VISION = Dialect(
    name="unsloth-vision", keymap=_FIELDS, what=_UNSLOTH_WHAT, defaults=UNSLOTH_VISION_DEFAULTS,
    known=UNSLOTH_KWARGS, as_written=True, python=True, string_targets=True, peft_keys=True, passer="Unsloth",
)
DIALECTS = {d.name: d for d in (PEFT, UNSLOTH, UNSLOTH_VISION)}
