"""Built-in rules, one module each. Registration is this import list (a test checks it is complete).

``all_rules()`` is the registry once every rule has registered; ``finding`` and ``internal_error``
make the findings the machinery itself reports (LL901 unreadable files, LL903 internal errors).
"""

from __future__ import annotations

import os

from ..model import Finding, Span
from ..registry import REPOSITORY, RULES, Rule
from . import (  # noqa: F401
    ll001_unknown_field,
    ll002_field_needs_newer_peft,
    ll003_invalid_task_type,
    ll004_invalid_bias,
    ll005_invalid_rank,
    ll006_invalid_dropout,
    ll007_non_positive_alpha,
    ll008_invalid_init_lora_weights,
    ll009_conflicting_options,
    ll010_ignored_setting,
    ll011_target_pattern_misuse,
    ll012_inference_mode_in_training,
    ll013_misleading_value,
    ll101_rslora_recommended,
    ll102_rank_diminishing_returns,
    ll103_rank_outside_task_band,
    ll104_extreme_scaling,
    ll105_rank_exceeds_layer,
    ll106_adapter_budget,
    ll107_gpu_memory_budget,
    ll201_target_modules_not_found,
    ll202_target_modules_partial_match,
    ll203_default_targets_unavailable,
    ll204_unsupported_target_type,
    ll205_layers_out_of_range,
    ll206_moe_experts_not_adapted,
    ll207_multimodal_tower_targeted,
    ll208_pattern_key_unmatched,
    ll209_fan_in_fan_out_mismatch,
    ll210_uneven_layer_coverage,
    ll211_peft_raises,
    ll301_classification_head_not_trainable,
    ll302_modules_to_save_no_match,
    ll303_modules_to_save_overbroad,
    ll304_target_and_save_overlap,
    ll305_tied_embedding_adapted,
    ll306_new_tokens_untrained,
    ll307_task_type_mismatch,
    ll308_unsloth_embedding_target,
    ll309_chat_tokens_untrained,
    ll901_unreadable_file,
    ll902_model_unresolved,
    ll903_internal_error,
    ll904_unused_suppression,
    ll905_model_not_locked,
)


def all_rules() -> dict[str, Rule]:
    """Every built-in rule by code, in code order."""
    return dict(sorted(RULES.items()))


def finding(code: str, message: str, path: str, span: Span) -> Finding:
    """A finding of rule ``code`` that no rule function yields (LL901, LL902, LL903)."""
    r = RULES[code]
    return Finding(r.code, r.name, r.severity, message, path, span)


def internal_error(where: str, path: str, span: Span, exc: BaseException) -> Finding:
    """LL903: a bug in lora-lint met on this file, said with where it was raised."""
    import traceback  # (here: a run meets no internal error)

    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {os.path.basename(last[0].filename)}:{last[0].lineno}" if last else ""
    return finding(
        "LL903",
        f"internal error in {where} on this file: {type(exc).__name__}: {exc}{at}."
        f" Please report it at {REPOSITORY}/issues",
        path, span,
    )
