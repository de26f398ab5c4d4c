"""alignment-handbook recipes (``recipes/<model>/<sft|dpo|orpo>/config_*.yaml``).

Replays alignment-handbook at 925acdfe4 (main; the last tag v0.3.0 has the same LoRA fields):
``scripts/sft.py:96-111`` loads the model with AutoModelForCausalLM
(``src/alignment/model_utils.py:37-60``) and passes TRL's ``get_peft_config(model_args)``, so the
keys, defaults and target semantics are TRL's (``dialects/trl.py``, TRL v1.9.0). Told apart from
a TRL config by the recipe layout or the handbook's data keys. Without a ``chat_template`` the
scripts add ChatML tokens (``setup_chat_format``), which changes the embedding size: not counted.
"""

from __future__ import annotations

import re

from ..model import LoraSite
from ..sources.yaml_nodes import Doc
from . import trl
from ._base import framework

NAME = "alignment-handbook"
KEYMAP = trl.KEYMAP
#: TRL's ModelConfig under another name.
DIALECT = framework(NAME, KEYMAP, defaults=trl.DIALECT.defaults, settable=trl.DIALECT.settable, known=trl.KNOWN)
_RECIPE = r"(^|[/\\])(recipes[/\\].*config_[^/\\]*|config_(full|lora|qlora))\.ya?ml$"


def detect(doc: Doc) -> bool:
    if not trl.detect(doc):
        return False
    top = doc.top
    return bool(re.search(_RECIPE, doc.path)) or any(k in top for k in ("dataset_mixer", "dataset_mixture", "dataset_splits"))


def sites(doc: Doc) -> list[LoraSite]:
    return trl.sites(doc, DIALECT)
