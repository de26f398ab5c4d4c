from ..model import Severity
from ..registry import Evidence, Problem, rule

EVIDENCE = Evidence(
    claim=(
        "With `inference_mode=True`, `get_peft_model` creates the adapter frozen: the model has 0 "
        "trainable parameters."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:2045-2069 BaseTunerLayer.set_adapter (`requires_grad` off in inference mode)",
        "peft 0.21.2 tuners/tuners_utils.py:799-1154 BaseTuner.inject_adapter (calls it with the config's inference_mode)",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll012_inference_mode_leaves_nothing_to_train",
    ),
)


@rule(
    "LL012", "inference-mode-in-training", Severity.ERROR,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=8, inference_mode=False)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, inference_mode=args.eval_only)\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=8, inference_mode=True)  # error: LL012\n",
    ],
    evidence=EVIDENCE,
)
def inference_mode_in_training(site, ctx):
    """## What it does
    Checks for `inference_mode=True` in a LoRA config written for training. Saved
    `adapter_config.json` files are not checked: peft writes `inference_mode: true` there itself.

    ## Why is this bad?
    With `inference_mode=True`, `get_peft_model` creates the adapter frozen: the model has
    0 trainable parameters. Depending on the trainer the run either stops with "no parameters
    require grad" or, worse, trains for its full length without changing the adapter, which is
    saved as initialized (B = 0, a no-op). To run an adapter for inference, load it with
    `PeftModel.from_pretrained(model, path)` instead of building a new config.

    ## Example
    ```python
    LoraConfig(r=16, lora_alpha=32, inference_mode=True)
    ```

    Use instead:
    ```python
    LoraConfig(r=16, lora_alpha=32)  # inference_mode defaults to False
    ```
    """
    if site.dialect.saved:
        return
    p = site.get("inference_mode")
    if p is None or p.value is not True:
        return
    yield Problem(p, (
        "inference_mode=True creates the adapter frozen: 0 trainable parameters, so training changes "
        "nothing; remove it (default False), or load a trained adapter with PeftModel.from_pretrained"
    ))
