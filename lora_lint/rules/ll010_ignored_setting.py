from ..model import Severity, is_known
from ..registry import rule


@rule(
    "LL010", "ignored-setting", Severity.WARNING,
    valid=["from peft import LoraConfig\nLoraConfig(r=8, init_lora_weights='loftq', loftq_config={'loftq_bits': 4})\n"],
    invalid=["from peft import LoraConfig\nLoraConfig(r=8, loftq_config={'loftq_bits': 4})  # error: LL010\n"],
)
def ignored_setting(site, ctx):
    """## What it does
    Checks for settings that silently do nothing: a `loftq_config`, `eva_config` or
    `corda_config` without the matching `init_lora_weights`, or LoRA settings in a training
    config whose adapter is switched off.

    ## Why is this bad?
    The run starts and finishes without complaint, but not with the configuration you wrote:
    peft drops a `loftq_config` with a warning when `init_lora_weights` is not `"loftq"`, and a
    framework with its adapter off trains the full model and ignores every LoRA key.

    ## Example
    ```python
    LoraConfig(r=8, loftq_config={"loftq_bits": 4})
    ```

    Use instead:
    ```python
    LoraConfig(r=8, init_lora_weights="loftq", loftq_config={"loftq_bits": 4})
    ```
    """
    init = site.value("init_lora_weights", True)
    if is_known(init):
        for name, wanted in (("loftq_config", "loftq"), ("eva_config", "eva"), ("corda_config", "corda")):
            p = site.get(name)
            if p is not None and p.value and init != wanted:
                yield p, (
                    f"`{name}` is ignored unless init_lora_weights={wanted!r} (it is {init!r}): "
                    f"set init_lora_weights={wanted!r} or remove `{name}`"
                )
    yield from site.notes_for("LL010")
