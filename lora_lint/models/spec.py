"""The LoraConfig values the matcher needs, taken from a ``LoraSite`` or from keyword arguments.

Values keep peft's own types; a value that is not statically known stays ``UNKNOWN`` and the
analysis leaves out whatever depends on it (never a guess).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from ..model import UNKNOWN, LoraSite, is_known
from ..peft_facts import lora_fields


def _peft(name: str) -> Any:
    """A LoraSpec field whose default is peft's, from the snapshot (``data/peft.json``)."""
    return field(default_factory=lambda: copy.deepcopy(lora_fields()[name]))


#: The head class a task type implies, where the config does not write the loading class: peft's
#: PeftModelForSequenceClassification / ForTokenClassification / ForQuestionAnswering wrap a model
#: loaded with these (peft_model.py:1803-1853, 2659-2697, 2893-2930).
TASK_CLASSES = {
    "SEQ_CLS": "AutoModelForSequenceClassification",
    "TOKEN_CLS": "AutoModelForTokenClassification",
    "QUESTION_ANS": "AutoModelForQuestionAnswering",
}


def model_class(site: LoraSite) -> str | None:
    """The class the base model is loaded with: the one the config names (``site.model_class``),
    else the one its ``task_type`` implies (an ``adapter_config.json``, a YAML, a script without a
    ``*For*`` loading call), else None (the architecture's own class)."""
    if site.model_class is not None:
        return site.model_class
    task = site.effective("task_type")
    return TASK_CLASSES.get(task) if isinstance(task, str) else None


#: Fields that decide which modules are matched; when one is unknown nothing is matched.
MATCH_FIELDS = ("target_modules", "exclude_modules", "target_parameters", "layers_to_transform",
                "layers_pattern", "modules_to_save", "task_type", "layer_replication")


@dataclass
class LoraSpec:
    """LoraConfig's fields the matcher and the counts use, peft's defaults unless given."""

    target_modules: Any = _peft("target_modules")
    exclude_modules: Any = _peft("exclude_modules")
    target_parameters: Any = _peft("target_parameters")
    layers_to_transform: Any = _peft("layers_to_transform")
    layers_pattern: Any = _peft("layers_pattern")
    rank_pattern: Any = _peft("rank_pattern")
    alpha_pattern: Any = _peft("alpha_pattern")
    modules_to_save: Any = _peft("modules_to_save")
    task_type: Any = _peft("task_type")
    r: Any = _peft("r")
    lora_alpha: Any = _peft("lora_alpha")
    lora_dropout: Any = _peft("lora_dropout")
    use_rslora: Any = _peft("use_rslora")
    use_dora: Any = _peft("use_dora")
    lora_bias: Any = _peft("lora_bias")
    bias: Any = _peft("bias")
    fan_in_fan_out: Any = _peft("fan_in_fan_out")
    trainable_token_indices: Any = _peft("trainable_token_indices")
    ensure_weight_tying: Any = _peft("ensure_weight_tying")
    inference_mode: Any = _peft("inference_mode")
    layer_replication: Any = _peft("layer_replication")
    init_lora_weights: Any = _peft("init_lora_weights")
    megatron_config: Any = _peft("megatron_config")
    loftq_config: Any = _peft("loftq_config")
    # the LoRA variants (resolve_lora_variant, tuners/lora/layer.py:178-213); use_dora is above
    alora_invocation_tokens: Any = _peft("alora_invocation_tokens")
    velora_config: Any = _peft("velora_config")
    arrow_config: Any = _peft("arrow_config")
    use_bdlora: Any = _peft("use_bdlora")
    monteclora_config: Any = _peft("monteclora_config")
    kasa_config: Any = _peft("kasa_config")
    #: Not a LoraConfig field: whether the inventory's class is the one the file loads the model
    #: with (a site that names no loading class is counted on the architecture's own class, but
    #: nothing that depends on the class, such as ``prepare_inputs_for_generation``, is claimed).
    class_named: bool = True

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> LoraSpec:
        """The fields of ``LoraConfig(**kwargs)`` this module uses (other keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in kwargs.items() if k in names})

    @classmethod
    def from_site(cls, site: LoraSite) -> LoraSpec:
        """The values that reach peft from ``site`` (``LoraSite.effective``), UNKNOWN where unknown."""
        values: dict[str, Any] = {"class_named": model_class(site) is not None}
        for f in fields(cls):
            if f.name != "class_named":
                v = site.effective(f.name)
                values[f.name] = v if is_known(v) else UNKNOWN
        return cls(**values)

    def known(self, name: str) -> bool:
        return getattr(self, name) is not UNKNOWN

    def unknown_match_fields(self) -> list[str]:
        return [n for n in MATCH_FIELDS if not self.known(n)]
