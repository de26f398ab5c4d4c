"""Built-in rules, one module each. Registration is this import list (a test checks it is complete)."""

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
    ll101_rslora_recommended,
    ll102_rank_diminishing_returns,
    ll103_rank_outside_task_band,
    ll104_extreme_scaling,
    ll901_unreadable_file,
    ll902_model_unresolved,
    ll903_internal_error,
)
