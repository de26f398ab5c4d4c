"""Facts about peft, snapshotted from the installed peft so a run never imports it.

``python -m lora_lint.peft_facts`` regenerates ``data/peft.json`` from the installed peft;
``tests/test_snapshots.py`` fails when the snapshot and the installed peft disagree.
"""

from __future__ import annotations

import json
import math
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "peft.json"


def generate() -> dict:
    """Read the facts from the installed peft (imports peft: only for the snapshot script)."""
    import dataclasses

    import peft
    from peft import LoraConfig, TaskType
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping
    from peft.utils.constants import (
        EMBEDDING_LAYER_NAMES,
        INCLUDE_LINEAR_LAYERS_SHORTHAND,
        SEQ_CLS_HEAD_NAMES,
    )
    from peft.utils.transformers_weight_conversion import (
        _MODEL_TO_CONVERSION_PATTERN as peft_patterns,
    )
    from peft.utils.transformers_weight_conversion import (
        _MOE_FUSED_TARGETS,
        _MOE_TARGET_MODULE_MAPPING,
    )
    from transformers.conversion_mapping import _MODEL_TO_CONVERSION_PATTERN as tf_patterns

    fields = {}
    for f in dataclasses.fields(LoraConfig):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        try:
            json.dumps(default)
        except TypeError:
            default = repr(default)
        fields[f.name] = default
    return {
        "peft_version": peft.__version__,
        "lora_variants": _lora_variants(LoraConfig),
        "lora_config_fields": fields,
        "task_types": list(TaskType.__members__),
        "default_target_modules": {
            k: (sorted(v) if not isinstance(v, str) else v) for k, v in sorted(mapping.items())
        },
        "all_linear_shorthand": INCLUDE_LINEAR_LAYERS_SHORTHAND,
        "seq_cls_head_names": list(SEQ_CLS_HEAD_NAMES),
        "embedding_layer_names": list(EMBEDDING_LAYER_NAMES),
        # transformers-5 MoE conversion peft applies before matching (utils/transformers_weight_conversion.py)
        "moe_conversion_overrides": {k: v for k, v in peft_patterns.items() if tf_patterns.get(k) != v},
        "moe_target_module_mapping": _MOE_TARGET_MODULE_MAPPING,
        "moe_fused_targets": {k: {n: list(v) for n, v in d.items()} for k, d in _MOE_FUSED_TARGETS.items()},
    }


def _lora_variants(config_cls) -> dict:
    """The LoRA variants (DoRA, aLoRA, ...) and the combinations a Linear layer supports.

    peft resolves the active variants per layer (tuners/lora/layer.py ``resolve_lora_variant``):
    a field tagged ``is_lora_variant`` is active when truthy, an ``init_lora_weights`` value listed
    in that field's ``lora_variants`` metadata when equal; an active set that is not a key of the
    layer's ``lora_variants`` raises "Invalid or unsupported variant combination".
    """
    import dataclasses

    from peft.tuners.lora import layer

    fields, init_values = [], []
    for f in dataclasses.fields(config_cls):
        if f.name == "init_lora_weights":
            init_values = list(f.metadata.get("lora_variants", []))
        elif f.metadata.get("is_lora_variant"):
            fields.append(f.name)

    def combinations(cls) -> list:
        return sorted(list(k) for k in cls.lora_variants.fget(None))

    return {"fields": fields, "init_values": init_values, "linear_combinations": combinations(layer.Linear),
            # the other layer classes, by inventory kind (conv: Conv1d/2d/3d agree)
            "layer_combinations": {"embedding": combinations(layer.Embedding), "conv": combinations(layer.Conv2d),
                                   "mha": combinations(layer.MultiheadAttention)}}


@lru_cache(maxsize=1)
def facts() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def lora_fields() -> dict:
    """LoraConfig field name -> default, from the snapshot."""
    return facts()["lora_config_fields"]


def scaling(alpha: Any, r: Any, rslora: Any) -> float | None:
    """peft's scaling of the adapter's output, α/r (α/√r with rsLoRA: ``LoraLayer.update_layer``).

    None when it cannot be computed: α not a finite number, r not a positive one, ``rslora``
    not a bool, or the quotient overflowing or underflowing.
    """
    if not (_finite(alpha) and _finite(r)) or r <= 0 or not isinstance(rslora, bool):
        return None
    try:
        out = alpha / math.sqrt(r) if rslora else alpha / r
    except (OverflowError, ZeroDivisionError, ValueError):
        return None
    if not math.isfinite(out) or (out == 0 and alpha != 0):  # overflow or underflow
        return None
    return out


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and (isinstance(x, int) or math.isfinite(x))


#: Names people write for LoraConfig fields (other libraries' spellings), tried before difflib.
ALIASES = {
    "rank": "r", "lora_r": "r", "lora_rank": "r",
    "alpha": "lora_alpha",
    "dropout": "lora_dropout", "lora_drop": "lora_dropout",
    "target": "target_modules", "targets": "target_modules", "lora_target": "target_modules",
    "lora_target_modules": "target_modules", "target_module": "target_modules",
    "use_rs_lora": "use_rslora", "rslora": "use_rslora", "rs_lora": "use_rslora",
    "dora": "use_dora", "lora_modules_to_save": "modules_to_save",
    "exclude_module": "exclude_modules", "init_weights": "init_lora_weights",
}


def suggest(name: str, candidates) -> str | None:
    """The nearest valid spelling of ``name`` among ``candidates``, if one is close enough."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return lowered[name.lower()]
    alias = ALIASES.get(name.lower())
    if alias in candidates:
        return alias
    import difflib  # (here: most runs meet no misspelt key)

    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return match[0] if match else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = json.dumps(generate(), indent=1, sort_keys=True) + "\n"
    if "--check" in argv:
        if DATA.read_text(encoding="utf-8") != text:
            print(f"{DATA} is stale: run 'python -m lora_lint.peft_facts'", file=sys.stderr)
            return 1
        return 0
    DATA.write_text(text, encoding="utf-8")
    print(f"wrote {DATA}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
