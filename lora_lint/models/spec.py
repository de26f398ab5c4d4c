"""The LoraConfig values the matcher needs, taken from a ``LoraSite`` or from keyword arguments.

Values keep peft's own types; a value that is not statically known stays ``UNKNOWN`` and the
analysis leaves out whatever depends on it (never a guess).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..model import UNKNOWN, LoraSite, is_known

#: peft 0.21.2 LoraConfig defaults for the fields used here (tuners/lora/config.py:452-999).
DEFAULTS: dict[str, Any] = {
    "target_modules": None,
    "exclude_modules": None,
    "target_parameters": None,
    "layers_to_transform": None,
    "layers_pattern": None,
    "rank_pattern": {},
    "alpha_pattern": {},
    "modules_to_save": None,
    "task_type": None,
    "r": 8,
    "lora_alpha": 8,
    "lora_dropout": 0.0,
    "use_rslora": False,
    "use_dora": False,
    "lora_bias": False,
    "bias": "none",
    "fan_in_fan_out": False,
    "trainable_token_indices": None,
    "ensure_weight_tying": False,
    "inference_mode": False,
    "layer_replication": None,
    "init_lora_weights": True,
    "megatron_config": None,
    "loftq_config": {},
    # the LoRA variants (resolve_lora_variant, tuners/lora/layer.py:178-213); use_dora is above
    "alora_invocation_tokens": None,
    "velora_config": None,
    "arrow_config": None,
    "use_bdlora": None,
    "monteclora_config": None,
    "kasa_config": None,
}

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
    task = site.value("task_type", None)
    return TASK_CLASSES.get(task) if isinstance(task, str) else None


#: Fields that decide which modules are matched; when one is unknown nothing is matched.
MATCH_FIELDS = ("target_modules", "exclude_modules", "target_parameters", "layers_to_transform",
                "layers_pattern", "modules_to_save", "task_type", "layer_replication")


@dataclass
class LoraSpec:
    target_modules: Any = None
    exclude_modules: Any = None
    target_parameters: Any = None
    layers_to_transform: Any = None
    layers_pattern: Any = None
    rank_pattern: Any = field(default_factory=dict)
    alpha_pattern: Any = field(default_factory=dict)
    modules_to_save: Any = None
    task_type: Any = None
    r: Any = 8
    lora_alpha: Any = 8
    lora_dropout: Any = 0.0
    use_rslora: Any = False
    use_dora: Any = False
    lora_bias: Any = False
    bias: Any = "none"
    fan_in_fan_out: Any = False
    trainable_token_indices: Any = None
    ensure_weight_tying: Any = False
    inference_mode: Any = False
    layer_replication: Any = None
    init_lora_weights: Any = True
    megatron_config: Any = None
    loftq_config: Any = field(default_factory=dict)
    alora_invocation_tokens: Any = None
    velora_config: Any = None
    arrow_config: Any = None
    use_bdlora: Any = None
    monteclora_config: Any = None
    kasa_config: Any = None

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> LoraSpec:
        """The fields of ``LoraConfig(**kwargs)`` this module uses (other keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in kwargs.items() if k in names})

    @classmethod
    def from_site(cls, site: LoraSite) -> LoraSpec:
        values = {}
        for name, default in DEFAULTS.items():
            v = site.value(name, default)
            values[name] = v if is_known(v) else UNKNOWN
        return cls(**values)

    def known(self, name: str) -> bool:
        return getattr(self, name) is not UNKNOWN

    def unknown_match_fields(self) -> list[str]:
        return [n for n in MATCH_FIELDS if not self.known(n)]
