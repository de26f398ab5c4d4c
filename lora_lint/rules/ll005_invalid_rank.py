import math

from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._util import a_type, entries, fmt, rank, strict, unset


def problem(site, value) -> str | None:
    """Why ``value`` is not a usable rank, or None when it is one."""
    if unset(site, value):
        return None
    r = rank(site, value)
    if r is not None:
        return None if r > 0 else "peft raises \"`r` should be a positive integer value\""
    if isinstance(value, bool):
        return "a bool is not a rank (torch raises TypeError)"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and strict(site):
            return "torch raises TypeError for a float rank (empty(): ... found element of type float)"
        return "a rank must be a whole number"
    if isinstance(value, str) and not strict(site):
        return "not a number"
    if value is None:
        return "None is not a rank (peft compares it with 0 and raises TypeError)"
    return f"{a_type(value)} is not a rank (peft compares it with 0 and raises TypeError)"


def suggestion(value, prefix: str = "r=") -> str:
    n = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(n, float) and math.isfinite(n) and n > 0:
        return f"{prefix}{max(1, round(n))}"
    if isinstance(value, str):
        try:
            i = int(value.strip())
        except ValueError:
            i = None
        if i is not None and i > 0:
            return f"{prefix}{i} (a number, not a string)"
    return f"a positive integer such as {prefix}16"


EVIDENCE = Evidence(
    claim=(
        "`get_peft_model` raises when it creates the first layer with a rank that is not a positive "
        "integer (`r` should be a positive integer; a float or string fails in torch or in the "
        "comparison)."
    ),
    code=(
        "peft 0.21.2 tuners/lora/layer.py:219-331 LoraLayer.update_layer (the `r <= 0` check and `nn.Linear(in_features, r)`)",
        "peft 0.21.2 tuners/lora/model.py:294-469 LoraModel._create_and_replace (the rank_pattern rank)",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll005_fires_exactly_when_peft_rejects_the_rank",
    ),
)


@rule(
    "LL005", "invalid-rank", Severity.ERROR,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=16, rank_pattern={'q_proj': 32})\n",
        "from peft import LoraConfig\nLoraConfig(r=R, rank_pattern={'q_proj': get_rank()})\n",
        "from peft import LoraConfig\nLoraConfig(r=10**100)\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=0)  # error: LL005\n",
        "from peft import LoraConfig\nLoraConfig(r=8.0)  # error: LL005\n",
        "from peft import LoraConfig\nLoraConfig(r='16')  # error: LL005\n",
        "from peft import LoraConfig\nLoraConfig(\n    r=8,\n    rank_pattern={\n        'q_proj': -4,  # error: LL005\n        'v_proj': x,\n    },\n)\n",
    ],
    evidence=EVIDENCE,
)
def invalid_rank(site, ctx):
    """## What it does
    Checks that `r` and every `rank_pattern` value is a positive integer.

    ## Why is this bad?
    peft does not check the rank when the config is built. `get_peft_model` then fails when it
    creates the first layer: `ValueError: `r` should be a positive integer value but the value
    passed is 0`. A float such as `8.0` passes that check and fails inside torch
    (`TypeError: empty(): argument 'size' ... must be tuple of ints, but found element of type
    float`); a string fails comparing with 0. The model has been downloaded and loaded by then.

    ## Example
    ```python
    LoraConfig(r=8.0, rank_pattern={"q_proj": 0})
    ```

    Use instead:
    ```python
    LoraConfig(r=8, rank_pattern={"q_proj": 16})
    ```
    """
    p = site.get("r")
    if p is not None:
        why = problem(site, p.value)
        if why:
            yield Problem(p, f"r={fmt(p.value)} is not a positive integer: {why}; use {suggestion(p.value)}")
    for key, value, where in entries(site, "rank_pattern"):
        if value is None and not strict(site):
            continue
        why = problem(site, value) if value is not None else "None is not a rank"
        if why:
            yield Problem(where, (
                f"rank_pattern[{key!r}]={fmt(value)} is not a positive integer: {why}; "
                f"use {suggestion(value, '')}"
            ))
