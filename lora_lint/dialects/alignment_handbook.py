"""alignment-handbook recipes (``recipes/<model>/<sft|dpo|orpo>/config_*.yaml``).

The same ``ModelConfig`` keys and defaults as TRL (the handbook's own ``ModelArguments`` had
identical LoRA fields), told apart by the recipe layout or the handbook's data keys.
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
_RECIPE = re.compile(r"(^|[/\\])(recipes[/\\].*config_[^/\\]*|config_(full|lora|qlora))\.ya?ml$")


def detect(doc: Doc) -> bool:
    if not trl.detect(doc):
        return False
    top = doc.top
    return bool(_RECIPE.search(doc.path)) or any(k in top for k in ("dataset_mixer", "dataset_mixture", "dataset_splits"))


def sites(doc: Doc) -> list[LoraSite]:
    return trl.sites(doc, DIALECT)
