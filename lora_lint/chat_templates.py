"""Chat templates and the special tokens they use, and checkpoints whose rows for them are untrained.

``tokens(template)``: the special tokens a chat template uses, from its text (``<|...|>`` tokens,
for a template given as Jinja text) or, for a template given by name, from the text that name
stands for in the framework that reads it:

* Unsloth 2026.10.9 ``get_chat_template`` (unsloth/chat_templates.py:380-406 ``llama-3``/``llama3``;
  :571-578 ``llama-3.1`` and its aliases: Llama 3.1's template also uses ``<|eom_id|>`` and
  ``<|python_tag|>``);
* axolotl ``chat_template: llama3`` (src/axolotl/utils/chat_templates/templates/llama3.jinja).

``UNTRAINED_IN_BASE``: per tokenizer family, the special tokens a base (pretrained only)
checkpoint of the family never trained, with where that is documented, and how the family is
recognised from the model itself (model type and the embedding's row count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LLAMA3 = ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
_LLAMA31 = (*_LLAMA3, "<|eom_id|>", "<|python_tag|>")

#: Template name -> the special tokens its text uses.
NAMED: dict[str, tuple[str, ...]] = {
    "llama-3": _LLAMA3, "llama3": _LLAMA3,
    **{name: _LLAMA31 for name in ("llama-3.1", "llama-31", "llama-3.2", "llama-3.3", "llama-32", "llama-33")},
}

_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>")


def tokens(template: object) -> tuple[str, ...] | None:
    """The special tokens ``template`` (a name or Jinja text) uses; None for a name not known, or a
    value that is not a string (``chat_template: 0`` in a YAML file)."""
    if not isinstance(template, str):
        return None
    if template in NAMED:
        return NAMED[template]
    if "{%" in template or "{{" in template:
        return tuple(dict.fromkeys(_TOKEN.findall(template)))
    return None


@dataclass(frozen=True)
class Family:
    name: str
    model_type: str
    rows: int  # the input embedding's row count (vocab_size)
    ids: dict[str, int]  # token -> id
    untrained: frozenset[str]  # tokens a base checkpoint never trained
    how: str  # where that is documented


#: The Llama 3 tokenizer's special tokens sit at 128000 + their place in meta-llama/llama3
#: llama/tokenizer.py ``special_tokens`` (llama-models adds <|eom_id|> 128008, <|python_tag|> 128010).
LLAMA3 = Family(
    "Llama 3", "llama", 128256,
    {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|start_header_id|>": 128006,
     "<|end_header_id|>": 128007, "<|eom_id|>": 128008, "<|eot_id|>": 128009, "<|python_tag|>": 128010},
    frozenset(_LLAMA31),
    "the base checkpoints' embedding rows for them are zero: 'Llama-3 etc have untrained vectors (<|eot_id|>,"
    " <|start_header_id|>, ...)' (unslothai/unsloth-zoo unsloth_zoo/tokenizer_utils.py, fix_untrained_tokens)",
)
UNTRAINED_IN_BASE = (LLAMA3,)


def family(model_type: str, rows: int | None) -> Family | None:
    return next((f for f in UNTRAINED_IN_BASE if f.model_type == model_type and f.rows == rows), None)
