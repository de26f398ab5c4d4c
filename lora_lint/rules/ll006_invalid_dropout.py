import math

from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._util import fmt, real, strict, unset

EVIDENCE = Evidence(
    claim=(
        "peft builds `nn.Dropout(p=lora_dropout)` for any value above 0: above 1 torch raises; exactly 1 "
        "zeroes every LoRA input; below 0 peft uses no dropout at all."
    ),
    code=(
        "peft 0.21.2 tuners/lora/layer.py:219-331 LoraLayer.update_layer (`nn.Dropout` when lora_dropout > 0, else `nn.Identity`)",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll006_fires_exactly_when_peft_rejects_the_dropout",
        "tests/test_rules_vs_peft.py::test_ll006_dropout_one_is_accepted_but_zeroes_the_lora_input",
        "tests/test_rules_vs_peft.py::test_ll006_negative_dropout_is_silently_no_dropout",
    ),
)


@rule(
    "LL006", "invalid-dropout", Severity.ERROR,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=8, lora_dropout=0.05)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, lora_dropout=0)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, lora_dropout=cfg.dropout)\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=8, lora_dropout=1.5)  # error: LL006\n",
        "from peft import LoraConfig\nLoraConfig(r=8, lora_dropout=1)  # error: LL006\n",
        "from peft import LoraConfig\nLoraConfig(r=8, lora_dropout=-0.1)  # error: LL006\n",
        "from peft import LoraConfig\nLoraConfig(r=8, lora_dropout='0.1')  # error: LL006\n",
    ],
    evidence=EVIDENCE,
)
def invalid_dropout(site, ctx):
    """## What it does
    Checks that `lora_dropout` is a number in [0, 1).

    ## Why is this bad?
    peft does not check the value. Above 1, `get_peft_model` fails inside torch
    (`ValueError: dropout probability has to be between 0 and 1, but got 1.5`) after the model
    is loaded; below 0 it silently applies no dropout at all. At exactly 1 torch accepts it and zeroes every input of the LoRA path: the
    adapter's output is always zero, so it gets no gradient and learns nothing. Dropout is a
    probability, so `10` meant as a percentage is 0.1. A string fails with a `TypeError`.

    ## Example
    ```python
    LoraConfig(r=16, lora_dropout=1)
    ```

    Use instead:
    ```python
    LoraConfig(r=16, lora_dropout=0.1)  # or 0.0
    ```
    """
    p = site.get("lora_dropout")
    if p is None or unset(site, p.value):
        return
    value = p.value
    d = real(site, value)
    if d is None:
        if isinstance(value, float) and math.isnan(value):
            why = "NaN is not a probability"
        elif isinstance(value, float):
            why = "an infinite dropout is not a probability"
        elif isinstance(value, bool):
            why = "a bool is not a probability (True is read as 1: every LoRA input is dropped)"
        elif isinstance(value, str) and strict(site):
            why = "a string fails in peft (TypeError comparing it with 0.0)"
        elif value is None:
            why = "None fails in peft (TypeError comparing it with 0.0)"
        else:
            why = "not a number"
        yield Problem(p, f"lora_dropout={fmt(value)}: {why}; use a number in [0, 1) such as 0.05")
        return
    if 0 <= d < 1:
        return
    if d == 1:
        why = "dropout 1 zeroes every input of the LoRA path, so the adapter never learns"
        fix = "0.1"
    elif d > 1:
        why = "torch raises \"dropout probability has to be between 0 and 1\" when the adapter is created"
        # A whole number up to 99 reads as a percentage (5 -> 0.05); anything else gets the usual 0.05.
        fix = f"{fmt(d / 100)} (if {fmt(d)} was meant as a percentage)" if d < 100 and d == int(d) else "0.05"
    else:
        why = "peft only creates a dropout layer for values above 0, so this is silently no dropout"
        fix = "0.0, or a probability such as 0.05"
    yield Problem(p, f"lora_dropout={fmt(d)} is outside [0, 1): {why}; use lora_dropout={fix}")
