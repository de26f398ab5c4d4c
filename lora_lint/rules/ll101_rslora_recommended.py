import math

from ..fixes import build
from ..model import UNSAFE, Severity
from ..registry import Evidence, Problem, rule
from ._fixes import fix
from ._util import entries, fmt, num, rank, rank_and_alpha, real, rslora, scaling

EVIDENCE = Evidence(
    claim=(
        "peft scales the adapter's output by α/r, or by α/√r with `use_rslora=True`; the two scalings the"
        " finding prints are the ones peft computes."
    ),
    code=(
        "peft 0.21.2 tuners/lora/layer.py:219-331 LoraLayer.update_layer (`lora_alpha / math.sqrt(r)` with rsLoRA, else `lora_alpha / r`)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll101_the_scalings_it_prints_are_peft_s",
    ),
    guidance=(
        "The project brief's rank guide: rsLoRA for r ≥ 32, after the rsLoRA paper (Kalajdzievski, 2023) "
        "and peft's LoRA documentation."
    ),
)


@rule(
    "LL101", "rslora-recommended", Severity.WARNING, advice=True,
    options={"rslora-min-rank": 32, "max-scaling": 8},
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=16, lora_alpha=32)\n",
        "from peft import LoraConfig\nLoraConfig(r=64, lora_alpha=16, use_rslora=True)\n",
        "from peft import LoraConfig\nLoraConfig(r=64, lora_alpha=16, **extra)\n",
        "from peft import LoraConfig\nimport os\nLoraConfig(r=int(os.environ['R']))\n",
        "from peft import LoraConfig\nLoraConfig(r=64, lora_alpha=16, use_rslora=flag)\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=64, lora_alpha=128)  # error: LL101\n",
        "import peft\nRANK = 48\npeft.LoraConfig(\n    r=RANK,  # error: LL101\n    lora_alpha=2 * RANK,\n)\n",
        "from peft import LoraConfig\nLoraConfig(r=32, use_rslora=False)  # error: LL101\n",
        "from peft import LoraConfig\nLoraConfig(r=8, rank_pattern={'q_proj': 64})  # error: LL101\n",
    ],
    evidence=EVIDENCE,
)
def rslora_recommended(site, ctx):
    """## What it does
    Checks for a rank of 32 or more (option `rslora-min-rank`), in `r` or in a `rank_pattern`
    value, without `use_rslora=True`. The message gives the scaling now (α/r) and with rsLoRA
    (α/√r), and a matching α when α/√r would exceed `max-scaling` (shared with LL104).

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

    ## Fix safety
    Unsafe (`--unsafe-fixes`): switching rsLoRA on changes the scaling, and so what the run
    learns; the fix message states the scaling before and after. It writes `use_rslora=True`
    after `r` (a line of its own in a one-argument-per-line call), turns a written
    `use_rslora=False` into `True`, or adds the framework's key (`peft_use_rslora: true` in axolotl)
    after the rank's line with its indentation, only in frameworks that have the switch. It
    does not lower `lora_alpha`, and never touches a saved `adapter_config.json` (its weights
    were trained with the scaling it records).
    """
    if not site.dialect.can_set("use_rslora") or rslora(site) is not False:
        return  # on, unknown, set by **kwargs, or not settable in this framework
    min_rank, max_scaling = ctx.opt("rslora-min-rank"), ctx.opt("max-scaling")
    _, alpha = rank_and_alpha(site)
    r = site.get("r")
    rv = rank(site, r.value) if r is not None else None
    if r is not None and rv is not None and rv >= min_rank:
        yield Problem(r, f"r={rv} without use_rslora: " + advice(rv, alpha, min_rank, max_scaling), \
            lambda: switch_on(site, ctx, rv, alpha))
    alphas = {k: real(site, v) for k, v, _ in entries(site, "alpha_pattern")}
    for key, value, where in entries(site, "rank_pattern"):
        rk = rank(site, value)
        if rk is not None and rk >= min_rank:
            ak = alphas.get(key, alpha)
            yield Problem(where, f"rank_pattern[{key!r}]={rk} without use_rslora: " + advice(rk, ak, min_rank, max_scaling), \
                lambda rk=rk, ak=ak: switch_on(site, ctx, rk, ak))


def switch_on(site, ctx, r: int, alpha):
    """The unsafe fix: ``use_rslora`` on, written after ``r`` (the same edit for every finding)."""
    python = site.dialect.python
    key = site.dialect.spelling("use_rslora")
    if key is None or site.dialect.saved:
        return None  # a saved adapter's weights were trained with its scaling: never rewritten
    written = site.params.get("use_rslora")
    if written is not None and not written.implicit:
        edits = build.set_bool(ctx.document, written, True)
        key = written.key
    elif site.missing("use_rslora"):
        anchor = site.params.get("r")
        anchor = anchor if anchor is not None and not anchor.implicit else None
        edits = build.add_setting(ctx.document, site, key, True, anchor)
    else:
        return None
    now, rs = scaling(alpha, r, False), scaling(alpha, r, True)
    setting = f"{key}=True" if python else f"{key}: true"
    effect = (f": scaling α/r = {fmt(alpha)}/{r} = {fmt(now)} becomes α/√r = {fmt(alpha)}/√{r} = {fmt(rs)}"
              if now is not None and rs is not None else ": scaling becomes α/√r instead of α/r")
    return fix(f"Set `{setting}`{effect}", edits, UNSAFE)


def advice(r: int, alpha, min_rank, max_scaling) -> str:
    now, rs = scaling(alpha, r, False), scaling(alpha, r, True)
    tail = f"(recommended for r ≥ {min_rank})"
    if now is None or rs is None:
        return f"α/r shrinks the update as the rank grows; set use_rslora=True {tail}"
    text = (
        f"scaling α/r = {fmt(alpha)}/{r} = {fmt(now)}; with use_rslora=True it would be "
        f"α/√r = {fmt(alpha)}/√{r} = {fmt(rs)} {tail}"
    )
    if isinstance(max_scaling, (int, float)) and rs > max_scaling:
        keep = now * math.sqrt(r)  # the α that keeps today's scaling under rsLoRA
        text += f"; with rsLoRA also lower lora_alpha to about {num(round(keep, 2))} to keep scaling {fmt(now)}"
    return text
