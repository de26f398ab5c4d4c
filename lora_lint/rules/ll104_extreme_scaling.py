import math

from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._util import entries, explicit_first, fmt, num, rank, rank_and_alpha, real, rslora, scaling

EVIDENCE = Evidence(
    claim=(
        "The scaling the finding reports (α/r, α/√r with rsLoRA, per `rank_pattern`/`alpha_pattern` "
        "entry) is the one peft sets on each layer."
    ),
    code=(
        "peft 0.21.2 tuners/lora/layer.py:219-331 LoraLayer.update_layer (the scaling)",
        "peft 0.21.2 tuners/lora/model.py:294-469 LoraModel._create_and_replace (rank and alpha from the patterns)",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll104_uses_the_scaling_peft_computes",
    ),
    guidance=(
        "The project brief's rank guide: an effective scaling far outside 0.1–8 acts like a learning-rate"
        " error."
    ),
)


@rule(
    "LL104", "extreme-scaling", Severity.WARNING, advice=True,
    options={"min-scaling": 0.1, "max-scaling": 8},
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=16, lora_alpha=32)\n",
        "from peft import LoraConfig\nLoraConfig(r=256, lora_alpha=32, use_rslora=True)\n",
        "from peft import LoraConfig\nLoraConfig(r=256, lora_alpha=16, use_rslora=flag)\n",
        "from peft import LoraConfig\nLoraConfig(r=256, lora_alpha=16, **kwargs)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, lora_alpha=16, rank_pattern={'q_proj': 16}, alpha_pattern={'q_proj': 32})\n",
        "from peft import LoraConfig\nLoraConfig(r=0, lora_alpha=16)\n",
        "from peft import LoraConfig\nLoraConfig(r=10**400, lora_alpha=10**300)\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=256, lora_alpha=16)  # error: LL104\n",
        "from peft import LoraConfig\nLoraConfig(r=256, lora_alpha=512, use_rslora=True)  # error: LL104\n",
        "from peft import LoraConfig\nLoraConfig(r=4, lora_alpha=64)  # error: LL104\n",
        "from peft import LoraConfig\nLoraConfig(\n    r=16,\n    lora_alpha=32,\n    rank_pattern={'down_proj': 512},  # error: LL104\n)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, alpha_pattern={'v_proj': 128})  # error: LL104\n",
    ],
    evidence=EVIDENCE,
)
def extreme_scaling(site, ctx):
    """## What it does
    Checks the effective scaling peft applies to the adapter's output: α/r, or α/√r with
    `use_rslora=True`, for the config as a whole and for each `rank_pattern`/`alpha_pattern`
    entry. It reports a scaling below 0.1 (option `min-scaling`) or above 8 (option
    `max-scaling`), including rsLoRA switched on with an α still sized for α/r
    (r=256, α=512: α/√r = 32).

    ## Why is this bad?
    The scaling multiplies every update the adapter makes, so it acts like a per-adapter
    learning-rate factor. Far below 1 the adapter barely moves at a normal learning rate
    (r=256 with α=16 scales by 0.0625); far above it, updates are amplified and training
    diverges or needs a much lower learning rate. A `rank_pattern` that raises r for some
    modules without a matching `alpha_pattern` silently lowers their scaling too.

    ## Example
    ```python
    LoraConfig(r=256, lora_alpha=512, use_rslora=True)  # α/√r = 32
    ```

    Use instead:
    ```python
    LoraConfig(r=256, lora_alpha=32, use_rslora=True)  # α/√r = 2
    ```
    """
    lo, hi = ctx.opt("min-scaling"), ctx.opt("max-scaling")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (lo, hi)):
        return
    rs = rslora(site)
    if rs is None:
        return
    r, alpha = rank_and_alpha(site)
    overall = scaling(alpha, r, rs)
    if overall is not None and not lo <= overall <= hi:
        where = explicit_first(site.params.get("lora_alpha"), site.params.get("r")) or site
        yield Problem(where, message(site, "", "lora_alpha", r, alpha, rs, overall, lo, hi))
    else:
        overall = None
    patterns_r = {k: v for k, v, _ in entries(site, "rank_pattern")}
    patterns_a = {k: v for k, v, _ in entries(site, "alpha_pattern")}
    for key, value, where in entries(site, "rank_pattern"):
        rk = rank(site, value)
        ak = real(site, patterns_a[key]) if key in patterns_a else alpha
        s = scaling(ak, rk, rs) if rk and rk > 0 and ak and ak > 0 else None
        if s is not None and not lo <= s <= hi and s != overall:
            label = f"modules matching rank_pattern key {key!r}" + ("" if key in patterns_a else " (no alpha_pattern key for them)")
            yield Problem(where, message(site, label, f"alpha_pattern[{key!r}]", rk, ak, rs, s, lo, hi))
    for key, value, where in entries(site, "alpha_pattern"):
        if key in patterns_r:
            continue
        ak = real(site, value)
        s = scaling(ak, r, rs) if r and ak and ak > 0 else None
        if s is not None and not lo <= s <= hi and s != overall:
            label = f"modules matching alpha_pattern key {key!r}"
            yield Problem(where, message(site, label, f"alpha_pattern[{key!r}]", r, ak, rs, s, lo, hi))


def _times(x: float, y: float | int) -> str:
    """``x * y`` as a suggested value; a rank past a float's range gives a product past it too."""
    try:
        return num(round(x * y, 2))
    except OverflowError:
        return "more than 10^308"


def message(site, label: str, knob: str, r: int, alpha, rs: bool, s: float, lo, hi) -> str:
    formula = f"α/√r = {fmt(alpha)}/√{r}" if rs else f"α/r = {fmt(alpha)}/{r}"
    who = f"{label}: " if label else ""
    head = f"{who}scaling {formula} = {fmt(s)}"
    denom = math.sqrt(r) if rs else r
    if s > hi:
        classic = scaling(alpha, r, False)
        if rs and classic is not None and lo <= classic <= hi:
            return (
                f"{head}, above {fmt(hi)}: with use_rslora=True the scaling is α/√r, but lora_alpha looks "
                f"sized for α/r (= {fmt(classic)}); use {knob}={num(round(classic * math.sqrt(r), 2))} "
                f"for scaling {fmt(classic)}"
            )
        return (
            f"{head}, above {fmt(hi)}: every update is amplified {num(round(s, 1))}×, which destabilizes "
            f"training at usual learning rates; use {knob} ≤ {_times(hi, denom)} "
            f"(scaling {fmt(hi)}) for r={fmt(r)}"
        )
    fix = f"{knob} ≥ {_times(lo, denom)} (scaling {fmt(lo)})"
    with_rs = scaling(alpha, r, True)
    if not rs and with_rs is not None and lo <= with_rs <= hi and site.dialect.can_set("use_rslora"):
        fix = f"set use_rslora=True (α/√r = {fmt(with_rs)}) or {fix}"
    return (
        f"{head}, below {fmt(lo)}: updates are scaled down {num(round(1 / s, 1))}×, so the adapter "
        f"barely learns at usual learning rates; {fix if fix.startswith('set') else 'use ' + fix}"
    )
