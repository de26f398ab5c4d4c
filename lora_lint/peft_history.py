"""When each ``LoraConfig`` field and ``init_lora_weights`` value first appeared in peft (for LL002).

Source: /work/shared/research/peft.md §1 (the ``LoraConfig`` field list extracted from every
release tag of huggingface/peft, v0.0.1 ... v0.20.0, plus the installed 0.21.2). The base
``PeftConfig`` fields and ``revision``/``auto_mapping`` were checked in the 0.1.0 ... 0.5.0 wheels.
``tests/test_peft_history.py`` fails when the installed peft has a field this table lacks, so a
new field cannot be forgotten: add it with the first release that ships it.
"""

from __future__ import annotations

import re

Version = tuple[int, ...]

#: LoraConfig field -> first peft release that has it.
FIELD_SINCE: dict[str, str] = {
    # PeftConfig (present in the first releases; checked in the 0.1.0 wheel)
    "base_model_name_or_path": "0.0.1",
    "peft_type": "0.0.1",
    "task_type": "0.0.1",
    "inference_mode": "0.0.1",
    "revision": "0.4.0",
    "auto_mapping": "0.4.0",
    "peft_version": "0.18.0",
    # LoraConfig
    "r": "0.0.1",
    "target_modules": "0.0.1",
    "lora_alpha": "0.0.1",
    "lora_dropout": "0.0.1",
    "fan_in_fan_out": "0.0.1",
    "bias": "0.0.1",
    "modules_to_save": "0.1.0",
    "init_lora_weights": "0.3.0",
    "layers_to_transform": "0.4.0",
    "layers_pattern": "0.4.0",
    "rank_pattern": "0.6.0",
    "alpha_pattern": "0.6.0",
    "megatron_config": "0.7.0",
    "megatron_core": "0.7.0",
    "loftq_config": "0.7.0",
    "use_rslora": "0.8.0",
    "use_dora": "0.9.0",
    "layer_replication": "0.10.0",
    "runtime_config": "0.12.0",
    "exclude_modules": "0.14.0",
    "lora_bias": "0.14.0",
    "eva_config": "0.14.0",
    "trainable_token_indices": "0.15.0",
    "corda_config": "0.15.0",
    "use_qalora": "0.16.0",
    "qalora_group_size": "0.16.0",
    "target_parameters": "0.17.0",
    "ensure_weight_tying": "0.18.0",
    "alora_invocation_tokens": "0.18.0",
    "arrow_config": "0.18.0",
    "lora_ga_config": "0.19.0",
    "use_bdlora": "0.19.0",
    "velora_config": "0.20.0",
    "monteclora_config": "0.20.0",
    "kasa_config": "0.21.0",
}

#: ``init_lora_weights`` string value -> first release that accepts it (True/False: 0.3.0).
INIT_SINCE: dict[str, str] = {
    "gaussian": "0.7.0",
    "loftq": "0.7.0",
    "pissa": "0.11.0",
    "olora": "0.12.0",
    "eva": "0.14.0",
    "corda": "0.15.0",
    "orthogonal": "0.16.0",
    "lora_ga": "0.19.0",
    "mica": "0.20.0",
}

#: Fields that existed once and were removed (old adapter_config.json files still carry them).
REMOVED: dict[str, str] = {"enable_lora": "0.3.0", "merge_weights": "0.3.0"}

#: From this release on, loading a saved config drops unknown keys with a warning instead of
#: raising (PeftConfig.from_peft_type, config.py:213-227).
DROPS_UNKNOWN_KEYS_SINCE = "0.14.0"


def parse(text: str) -> Version | None:
    """The release segment of a version (``0.13.2`` -> (0, 13, 2)); None if it has none."""
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split("."))


def init_value_since(value: object) -> tuple[str, str] | None:
    """``(family, since)`` for an ``init_lora_weights`` string (``pissa_niter_4`` -> pissa)."""
    if not isinstance(value, str):
        return None
    low = value.lower()
    for family in ("pissa", "corda"):
        if value.startswith(family):
            return family, INIT_SINCE[family]
    if low in ("gaussian", "olora", "mica"):
        return low, INIT_SINCE[low]
    if value in INIT_SINCE:
        return value, INIT_SINCE[value]
    return None
