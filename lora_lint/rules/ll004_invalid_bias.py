from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._util import unset

VALUES = ("none", "all", "lora_only")


EVIDENCE = Evidence(
    claim=(
        "`get_peft_model` raises `NotImplementedError: Requested bias: ..., is not implemented.` for a "
        "`bias` other than none/all/lora_only (`AttributeError` for a non-string), after the model is "
        "loaded."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:506-544 BaseTuner._mark_only_adapters_as_trainable",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll004_fires_exactly_when_peft_rejects_the_bias",
    ),
)


@rule(
    "LL004", "invalid-bias", Severity.ERROR,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=8, bias='none')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, bias='lora_only')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, bias=BIAS)\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=8, bias='lora')  # error: LL004\n",
        "from peft import LoraConfig\nLoraConfig(r=8, bias=True)  # error: LL004\n",
        "from unsloth import FastLanguageModel\nFastLanguageModel.get_peft_model(model, bias='None')  # error: LL004\n",
    ],
    evidence=EVIDENCE,
)
def invalid_bias(site, ctx):
    """## What it does
    Checks that `bias` is one of `"none"`, `"all"` or `"lora_only"`.

    ## Why is this bad?
    peft does not check the value when the config is built; `get_peft_model` then fails with
    `NotImplementedError: Requested bias: lora, is not implemented.` (a bool or `None` fails
    with an `AttributeError` instead), after the base model has been loaded.

    ## Example
    ```python
    LoraConfig(r=16, bias="lora")
    ```

    Use instead:
    ```python
    LoraConfig(r=16, bias="lora_only")  # or "none" (the default) / "all"
    ```
    """
    p = site.get("bias")
    if p is None or unset(site, p.value) or (isinstance(p.value, str) and p.value in VALUES):
        return
    hint = ""
    if isinstance(p.value, str):
        key = p.value.strip().lower().replace("-", "_")
        best = key if key in VALUES else "lora_only" if "lora" in key else None
        if best:
            hint = f"; did you mean {best!r}?"
    elif p.value is True:
        hint = "; did you mean 'all'?"
    elif p.value is False or p.value is None:
        hint = "; did you mean 'none'?"
    yield Problem(p, (
        f"bias={p.value!r} is not one of 'none', 'all', 'lora_only': get_peft_model raises "
        f"(\"Requested bias: {p.value}, is not implemented\"){hint}"
    ))
