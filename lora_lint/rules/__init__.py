"""Built-in rules, one module each. Registration is this import list (a test checks it is complete)."""

from . import (  # noqa: F401
    ll001_unknown_field,
    ll009_conflicting_options,
    ll010_ignored_setting,
    ll101_rslora_recommended,
    ll901_unreadable_file,
    ll902_model_unresolved,
    ll903_internal_error,
    ll904_unused_suppression,
)
