from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import example, where


def size(n_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return f"{n_bytes:.1f} TB"


EVIDENCE = Evidence(
    claim=(
        "The trainable and total counts in the finding are `get_nb_trainable_parameters()` of the real "
        "`get_peft_model` on the same model."
    ),
    code=(
        "peft 0.21.2 peft_model.py:932-961 PeftModel.get_nb_trainable_parameters",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll106_the_count_is_peft_s",
        "tests/test_differential.py::test_matches_peft",
    ),
    guidance=(
        "The project brief's rank guide: LoRA trains a few percent of the weights at most; the 5% budget "
        "is an option."
    ),
)


@rule(
    "LL106", "adapter-budget", Severity.INFO, advice=True, needs_model=True,
    options={"max-trainable-percent": 5},
    valid=[
        example("tiny-llama", 'LoraConfig(r=8, target_modules=["q_proj", "v_proj"])\n'),
        example("tiny-llama", 'LoraConfig(r=8, target_modules=TARGETS)\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(r=64, target_modules="all-linear")  # error: LL106\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["lm_head"])  # error: LL106\n'),
    ],
    evidence=EVIDENCE,
)
def adapter_budget(site, ctx):
    """## What it does
    Counts the parameters the adapter trains, exactly as peft's `get_nb_trainable_parameters()`
    does (LoRA matrices, DoRA magnitudes, biases, `modules_to_save` copies, trainable tokens), and
    reports when they exceed `max-trainable-percent` (default 5%) of the base model. The message
    gives the count, the percentage and the adapter's size on disk in fp32 and bf16.

    ## Why is this bad?
    LoRA's point is to train a small fraction of the weights. Past a few percent the memory,
    optimizer state and checkpoint size approach those of full fine-tuning, usually by accident:
    a high rank on `all-linear`, or a `modules_to_save` entry that copies the embedding matrix or
    LM head (hundreds of millions of parameters on a large vocabulary).

    ## Example
    ```python
    LoraConfig(r=256, target_modules="all-linear", modules_to_save=["embed_tokens", "lm_head"])
    ```

    Use instead:
    ```python
    LoraConfig(r=16, target_modules="all-linear")
    ```
    """
    inv, a = ctx.model, ctx.analysis
    trainable = a.trainable
    if trainable is None or not inv.total_params:
        return
    limit = ctx.opt("max-trainable-percent")
    if not isinstance(limit, (int, float)) or isinstance(limit, bool):
        return
    try:
        pct = 100 * trainable / inv.total_params
    except OverflowError:  # r with thousands of digits: LL105 reports the rank itself
        return
    if pct <= limit:
        return
    parts = a.counts.breakdown
    big = max(parts, key=lambda k: parts[k]) if parts else "lora"
    why = {"lora": "the LoRA matrices", "modules_to_save": "the full copies of modules_to_save",
           "bias": "the trained biases", "trainable_tokens": "the trainable tokens"}[big]
    at = where(site, "modules_to_save") if big == "modules_to_save" else where(site, "r", "target_modules")
    yield Problem(at, (
        f"the adapter trains {trainable:,} parameters, {pct:.1f}% of {inv.architecture}'s"
        f" {inv.total_params:,} (budget {limit:g}%), most of it in {why} ({parts.get(big, 0):,});"
        f" adapter file ≈ {size(4 * trainable)} in fp32, {size(2 * trainable)} in bf16. Lower r, target"
        " fewer modules or drop full module copies, or raise `max-trainable-percent`"
    ))
