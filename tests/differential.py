"""Run real peft ``get_peft_model`` on meta models and lora-lint's analysis side by side."""

from __future__ import annotations

import copy
import json
import warnings
from functools import cache
from pathlib import Path

MODELS = Path(__file__).parent / "fixtures" / "models"


@cache
def config(name: str) -> dict:
    return json.loads((MODELS / name / "config.json").read_text())


@cache
def inventory(name: str, model_class: str | None):
    from lora_lint.models.build import build_inventory

    return build_inventory(config(name), model_class)


def run_peft(name: str, model_class: str | None, kwargs: dict):
    """(targeted modules, targeted parameters, (trainable, total)) or ("error", message)."""
    from peft import LoraConfig, get_peft_model

    from lora_lint.models.build import build_model

    model = build_model(config(name), model_class)
    try:  # LoraConfig(...) raising is part of the behaviour compared too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # low_cpu_mem_usage=False, as users call it: True creates the adapter weights under
            # init_empty_weights, which unties ensure_weight_tying's copies and layer_replication's
            # shared layers, so its counts differ from a real run
            pm = get_peft_model(model, LoraConfig(**copy.deepcopy(kwargs)))
    except Exception as e:  # peft's own errors are part of the behaviour compared
        return ("error", f"{type(e).__name__}: {e}")
    tuner = pm.base_model
    return (list(tuner.targeted_module_names), list(tuner.targeted_parameter_names),
            tuple(pm.get_nb_trainable_parameters()))


def run_ours(name: str, model_class: str | None, kwargs: dict):
    from lora_lint.models import LoraSpec, analyze_spec

    a = analyze_spec(inventory(name, model_class), LoraSpec.from_kwargs(**copy.deepcopy(kwargs)))
    if a.failure is not None:
        return ("error", str(a.failure))
    return (list(a.targeted), list(a.targeted_parameters), (a.trainable, a.total))
