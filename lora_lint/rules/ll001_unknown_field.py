from functools import partial

from ..fixes import build
from ..model import Severity
from ..peft_history import REMOVED, load_story
from ..registry import Evidence, Problem, rule
from ._fixes import certain_rename, fix

EVIDENCE = Evidence(
    claim=(
        "In Python, `LoraConfig` is a dataclass: a keyword that is not one of its fields raises "
        "`TypeError: ... got an unexpected keyword argument` when the config is built. In a framework's "
        "YAML, a key the framework does not know never reaches peft: axolotl validates the file into its "
        "pydantic schema and keeps only the schema's fields (the framework is not run here; its code path"
        " is read from its source)."
    ),
    code=(
        "peft 0.21.2 tuners/lora/config.py:453-1116 LoraConfig (its dataclass fields and __post_init__)",
        "axolotl v0.18.0 src/axolotl/utils/config/__init__.py:439-500 validate_config (model_dump keeps the schema's fields only)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll001_an_unknown_keyword_is_a_type_error",
        "tests/test_python_source.py::test_unknown_keyword_suggests_nearest_field",
    ),
)


@rule(
    "LL001", "unknown-field", Severity.ERROR,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=8, lora_alpha=16, target_modules=['q_proj'])\n",
        "from unsloth import FastLanguageModel\nFastLanguageModel.get_peft_model(model, r=16, random_state=3407)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, **{'lora_alpha': 16})\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=8, lora_aplha=16)  # error: LL001\n",
        "from peft import LoraConfig as LC\nLC(\n    rank=8,  # error: LL001\n)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, enable_lora=[True, False, True])  # error: LL001\n",
    ],
    evidence=EVIDENCE,
)
def unknown_field(site, ctx):
    """## What it does
    Checks for a keyword or key that is not a field of peft's `LoraConfig` (in Python), or a
    LoRA setting the detected training framework does not know, and suggests the nearest valid
    name (`lora_aplha` → `lora_alpha`, `rank` → `r`). The field names come from the installed
    peft's `LoraConfig` dataclass. Fields peft removed (`enable_lora`, `merge_weights`) are
    named as such.

    ## Why is this bad?
    `LoraConfig(lora_aplha=16)` raises `TypeError: __init__() got an unexpected keyword
    argument` only when the script runs, after the model is downloaded. Training frameworks
    are worse: axolotl silently ignores an unknown key such as `lora_rank`, so the run trains
    with the default you meant to change.

    ## Example
    ```python
    LoraConfig(r=16, lora_aplha=32)
    ```

    Use instead:
    ```python
    LoraConfig(r=16, lora_alpha=32)
    ```

    ## Fix safety
    The rename is a safe fix when it is certain: the suggestion differs only in case, is the
    framework's own spelling of exactly the setting written in another framework's spelling
    (`lora_rank` → `lora_r` in axolotl, `rank` → `r` in Python), or is a typo at most two edits
    away that no other known name is as close to; and the suggested name is not already written
    in the same call or mapping (nor could be, through `**kwargs`). The run then gets the value
    the file already states. No fix is offered for a saved `adapter_config.json`, for a removed
    field, or for a setting the framework has no way to express.
    """
    dialect = site.dialect
    for param, suggestion in site.unknown_keys:
        hint = f"; did you mean `{suggestion}`?" if suggestion else ""
        if param.key in REMOVED and dialect.peft_keys:
            since = REMOVED[param.key]
            effect = f"loading it, {load_story(since)}" if dialect.peft_loads else "LoraConfig raises TypeError"
            hint = f": it was removed in peft {since} ({effect}); remove it"
            suggestion = None
        renamed = None
        if suggestion and not dialect.saved:
            renamed = partial(rename, site, ctx, param, suggestion)
        yield Problem(param, f"`{param.key}` is not {dialect.what}{hint}", renamed)


def rename(site, ctx, p, new):
    if not certain_rename(p.key, new, site.dialect):
        return None
    return fix(f"Rename `{p.key}` to `{new}`", build.rename_key(ctx.document, site, p, new))
