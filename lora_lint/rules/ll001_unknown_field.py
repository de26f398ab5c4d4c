from ..model import Severity
from ..registry import rule


@rule(
    "LL001", "unknown-field", Severity.ERROR,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=8, lora_alpha=16, target_modules=['q_proj'])\n",
        "from unsloth import FastLanguageModel\nFastLanguageModel.get_peft_model(model, r=16, random_state=3407)\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=8, lora_aplha=16)  # error: LL001\n",
        "from peft import LoraConfig as LC\nLC(\n    rank=8,  # error: LL001\n)\n",
    ],
)
def unknown_field(site, ctx):
    """## What it does
    Checks for a keyword or key that is not a field of peft's `LoraConfig` (in Python), or a
    LoRA setting the detected training framework does not know, and suggests the nearest valid
    name. The field names come from the installed peft's `LoraConfig` dataclass.

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
    """
    for param, suggestion in site.unknown_keys:
        hint = f"; did you mean `{suggestion}`?" if suggestion else ""
        what = "a field of peft's LoraConfig" if site.dialect == "peft" else f"a {site.dialect} LoRA setting"
        yield param, f"`{param.key}` is not {what}{hint}"
    yield from site.notes_for("LL001")
