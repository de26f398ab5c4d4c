import math

from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._util import entries, fmt, rank, real, rslora, strict, unset


def problem(site, value) -> str | None:
    """Why ``value`` is not a usable lora_alpha, or None."""
    if unset(site, value) or isinstance(value, bool):
        return None
    a = real(site, value)
    if a is None:
        if value is None or (isinstance(value, str) and strict(site)):
            return "not a number: peft fails computing the scaling α/r (TypeError)"
        return None  # NaN, inf, odd types: not this rule's business
    if a == 0:
        return "the scaling α/r is 0, so the adapter's output is always zero and it learns nothing (peft accepts it silently)"
    if a < 0:
        return "a negative α flips the sign of every update (scaling α/r < 0); it is almost certainly a typo"
    return None


def suggestion(site) -> str:
    """α = 2r (scaling 2), the common choice; with rsLoRA α = 2√r."""
    r = rank(site, site.effective("r"))
    if r is None or r <= 0 or r > 2**20:
        return "a positive value such as lora_alpha=16"
    if rslora(site):
        a = max(1, round(2 * math.sqrt(r)))
        return f"lora_alpha={a} (scaling α/√r ≈ 2 with use_rslora)"
    return f"lora_alpha={2 * r} (α = 2r, scaling 2)"


EVIDENCE = Evidence(
    claim=(
        "peft accepts any `lora_alpha` silently and scales the adapter by α/r (α/√r with rsLoRA): α ≤ 0 "
        "gives a scaling ≤ 0."
    ),
    code=(
        "peft 0.21.2 tuners/lora/layer.py:219-331 LoraLayer.update_layer (`self.scaling[adapter_name] = lora_alpha / r`)",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll007_fires_exactly_when_the_scaling_is_not_positive",
    ),
)


@rule(
    "LL007", "non-positive-alpha", Severity.ERROR,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=8, lora_alpha=16, alpha_pattern={'q_proj': 32})\n",
        "from peft import LoraConfig\nLoraConfig(r=8, lora_alpha=0.5)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, lora_alpha=ALPHA)\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=8, lora_alpha=0)  # error: LL007\n",
        "from peft import LoraConfig\nLoraConfig(r=8, lora_alpha=-16)  # error: LL007\n",
        "from peft import LoraConfig\nLoraConfig(r=8, alpha_pattern={'v_proj': 0})  # error: LL007\n",
    ],
    evidence=EVIDENCE,
)
def non_positive_alpha(site, ctx):
    """## What it does
    Checks that `lora_alpha` and every `alpha_pattern` value is a positive number.

    ## Why is this bad?
    peft multiplies the adapter's output by the scaling α/r (α/√r with rsLoRA). With α = 0 the
    scaling is 0: the adapter adds nothing to the model's output, its weights get no gradient,
    and the run trains for hours without changing anything. peft accepts it without a warning.
    A negative α flips the sign of the update, which is never what a config means.

    ## Example
    ```python
    LoraConfig(r=16, lora_alpha=0)
    ```

    Use instead:
    ```python
    LoraConfig(r=16, lora_alpha=32)  # scaling α/r = 2
    ```
    """
    p = site.get("lora_alpha")
    if p is not None:
        why = problem(site, p.value)
        if why:
            yield Problem(p, f"lora_alpha={fmt(p.value)}: {why}; use {suggestion(site)}")
    for key, value, where in entries(site, "alpha_pattern"):
        why = problem(site, value)
        if why:
            yield Problem(where, f"alpha_pattern[{key!r}]={fmt(value)}: {why}; use a positive value")
