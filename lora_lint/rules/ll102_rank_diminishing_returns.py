from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._util import entries, fmt, num, rank

EVIDENCE = Evidence(
    claim=(
        "peft's LoRA matrices are r×in and out×r, so the adapter's parameters (and their optimizer state)"
        " grow linearly with r: r=256 is 2× r=128."
    ),
    code=(
        "peft 0.21.2 tuners/lora/layer.py:219-331 LoraLayer.update_layer (`nn.Linear(self.in_features, r)`, `nn.Linear(r, self.out_features)`)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll102_the_adapter_grows_linearly_with_the_rank",
    ),
    guidance=(
        "The project brief's rank guide: 64–128 is the band of maximum expressiveness; more rank costs "
        "memory for gains within noise."
    ),
)


@rule(
    "LL102", "rank-diminishing-returns", Severity.WARNING, advice=True,
    options={"max-rank": 128},
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=128, lora_alpha=256, use_rslora=True)\n",
        "from peft import LoraConfig\nLoraConfig(r=RANK)\n",
        "from peft import LoraConfig\nLoraConfig(r=0)\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=256, lora_alpha=32, use_rslora=True)  # error: LL102\n",
        "from peft import LoraConfig\nLoraConfig(r=16, rank_pattern={'down_proj': 512})  # error: LL102\n",
    ],
    evidence=EVIDENCE,
)
def rank_diminishing_returns(site, ctx):
    """## What it does
    Checks for a rank above 128 (option `max-rank`) in `r` or a `rank_pattern` value.

    ## Why is this bad?
    The adapter's parameters, gradients and optimizer state grow linearly with r, but quality
    does not: ranks of 64–128 already give LoRA its maximum expressiveness, and beyond that the
    gains are within noise while memory and step time keep growing. If the task really needs
    more capacity than r=128, full fine-tuning of the layers that matter is usually cheaper.

    ## Example
    ```python
    LoraConfig(r=512, lora_alpha=32, use_rslora=True)
    ```

    Use instead:
    ```python
    LoraConfig(r=128, lora_alpha=32, use_rslora=True)
    ```
    """
    max_rank = ctx.opt("max-rank")
    if not isinstance(max_rank, int) or isinstance(max_rank, bool):
        return
    r = site.get("r")
    if r is not None:
        rv = rank(site, r.value)
        if rv is not None and rv > max_rank:
            yield Problem(r, f"r={fmt(rv)} is above {max_rank}: {why(rv, max_rank)}; use r={max_rank} or lower")
    for key, value, where in entries(site, "rank_pattern"):
        rv = rank(site, value)
        if rv is not None and rv > max_rank:
            yield Problem(where, f"rank_pattern[{key!r}]={fmt(rv)} is above {max_rank}: {why(rv, max_rank)}; use {max_rank} or lower")


def why(r: int, max_rank: int) -> str:
    grow = f"are {num(round(r / max_rank, 1))}× those" if r < 2**60 else "dwarf those"
    return (
        f"past the maximum-expressiveness band (64–128) more rank adds little, while the adapter's "
        f"parameters and optimizer state {grow} of r={max_rank}"
    )
