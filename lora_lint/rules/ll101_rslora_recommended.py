import math

from ..model import Severity
from ..registry import rule
from ._util import as_number


@rule(
    "LL101", "rslora-recommended", Severity.WARNING,
    options={"rslora-min-rank": 32},
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=16, lora_alpha=32)\n",
        "from peft import LoraConfig\nLoraConfig(r=64, lora_alpha=16, use_rslora=True)\n",
        "from peft import LoraConfig\nLoraConfig(r=64, lora_alpha=16, **extra)\n",
        "from peft import LoraConfig\nimport os\nLoraConfig(r=int(os.environ['R']))\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=64, lora_alpha=128)  # error: LL101\n",
        "import peft\nRANK = 48\npeft.LoraConfig(\n    r=RANK,  # error: LL101\n    lora_alpha=2 * RANK,\n)\n",
        "from peft import LoraConfig\nLoraConfig(r=32, use_rslora=False)  # error: LL101\n",
    ],
)
def rslora_recommended(site, ctx):
    """## What it does
    Checks for a rank of 32 or more (option `rslora-min-rank`) without `use_rslora=True`.

    ## Why is this bad?
    Plain LoRA scales the adapter's output by α/r, so at high rank the update shrinks as r
    grows and training at r=64 or r=256 learns little more than at r=16. Rank-stabilized LoRA
    (rsLoRA) scales by α/√r instead, which keeps the update's magnitude stable as the rank
    grows; the rsLoRA paper and peft's documentation recommend it for r ≥ 32.

    ## Example
    ```python
    LoraConfig(r=64, lora_alpha=16)  # scaling α/r = 0.25
    ```

    Use instead:
    ```python
    LoraConfig(r=64, lora_alpha=16, use_rslora=True)  # scaling α/√r = 2.0
    ```
    """
    r = site.get("r")
    if r is None or not isinstance(r.value, int) or isinstance(r.value, bool):
        return
    if r.value < ctx.opt("rslora-min-rank") or "no:use_rslora" in site.features:
        return
    rs = site.params.get("use_rslora")
    if rs is None:
        if site.open:
            return
    elif not rs.known or rs.value:
        return
    alpha = as_number(site.value("lora_alpha", 8))
    if alpha is None:
        yield r, f"r={r.value} without use_rslora: α/r shrinks the update as the rank grows; set use_rslora=True (recommended for r ≥ {ctx.opt('rslora-min-rank')})"
        return
    now, rs_scale = alpha / r.value, alpha / math.sqrt(r.value)
    yield r, (
        f"r={r.value} without use_rslora: scaling α/r = {alpha:g}/{r.value} = {now:.3g}; "
        f"with use_rslora=True it would be α/√r = {rs_scale:.3g} (recommended for r ≥ {ctx.opt('rslora-min-rank')})"
    )
