from ..model import Severity
from ..registry import rule


@rule(
    "LL009", "conflicting-options", Severity.ERROR,
    valid=["from peft import LoraConfig\nLoraConfig(r=8, layers_to_transform=[0, 1], layers_pattern='layers', target_modules=['q_proj'])\n"],
    invalid=["from peft import LoraConfig\nLoraConfig(r=8, layers_pattern='layers')  # error: LL009\n"],
)
def conflicting_options(site, ctx):
    """## What it does
    Checks for combinations of settings that peft or the training framework rejects, such as
    `layers_pattern` without `layers_to_transform`, or axolotl's `adapter: qlora` without
    4-bit loading.

    ## Why is this bad?
    peft raises when the config is built or the adapter injected, and the framework raises
    at start-up: after the environment is set up and, often, the model downloaded.

    ## Example
    ```python
    LoraConfig(r=8, layers_pattern="layers")
    ```

    Use instead:
    ```python
    LoraConfig(r=8, layers_pattern="layers", layers_to_transform=[0, 1, 2])
    ```
    """
    pattern = site.get("layers_pattern")
    if pattern is not None and pattern.value and site.missing("layers_to_transform"):
        yield pattern, "`layers_pattern` is set without `layers_to_transform`: peft raises ValueError; give the layer indices in `layers_to_transform`"
    yield from site.notes_for("LL009")
