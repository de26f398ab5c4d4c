from ..model import Severity
from ..peft_facts import facts
from ..registry import Evidence, Problem, rule
from ._model import adaptable_leaves, blame, example, failure_for, py_list, raises

EVIDENCE = Evidence(
    claim=(
        "Without `target_modules`, peft takes its default targets for the `model_type`; where it has "
        "none, `get_peft_model` raises `ValueError: Please specify target_modules or target_parameters`, "
        "and on Mixtral/Qwen3-MoE the MoE conversion drops the defaults and it raises \"No "
        "`target_modules` passed but also no `target_parameters` found\"."
    ),
    code=(
        "peft 0.21.2 tuners/lora/model.py:695-706 LoraModel._prepare_adapter_config",
        "peft 0.21.2 utils/constants.py:67 TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING",
        "peft 0.21.2 utils/transformers_weight_conversion.py:402-484 _convert_peft_config_moe",
        "peft 0.21.2 tuners/tuners_utils.py:1051-1086 BaseTuner.inject_adapter",
    ),
    tests=(
        "tests/test_rule_claims.py::test_a_finding_says_peft_raises_exactly_when_it_does",
        "tests/test_differential.py::test_matches_peft",
    ),
)


@rule(
    "LL203", "default-targets-unavailable", Severity.ERROR, needs_model=True, reports_failure=True,
    valid=[
        example("tiny-llama", "LoraConfig(r=16)\n"),
        example("tiny-phi3", 'LoraConfig(r=16, target_modules=["qkv_proj", "o_proj"])\n'),
        example("tiny-phi3", 'LoraConfig(r=16, target_modules=[], target_parameters=["self_attn.qkv_proj.weight"])\n'),
    ],
    invalid=[
        example("tiny-phi3", "LoraConfig(r=16)  # error: LL203\n"),
        example("tiny-mixtral", "LoraConfig(r=16, target_modules=None)  # error: LL203\n"),
    ],
    evidence=EVIDENCE,
)
def default_targets_unavailable(site, ctx):
    """## What it does
    Checks, when `target_modules` is omitted, that peft has default target modules for the base
    model's `model_type` (its `TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING`, snapshotted from
    the installed peft) and that they survive peft's transformers-5 MoE conversion.

    ## Why is this bad?
    Without defaults `get_peft_model` raises `ValueError: Please specify target_modules or
    target_parameters in peft_config`. Many popular families have no entry: Phi-3, Qwen2-MoE,
    Qwen3-MoE, Gemma-3 (multimodal), Llava, Qwen2-VL, Mamba. With peft 0.21 and transformers 5,
    Mixtral's default (`q_proj`, `v_proj`) is even dropped by the MoE conversion peft applies
    first, so it raises "No `target_modules` passed but also no `target_parameters` found".
    Code paths (peft 0.21.2): the defaults in `_prepare_adapter_config` (tuners/lora/model.py:695-705),
    the conversion in utils/transformers_weight_conversion.py:402-487, the error in
    tuners/tuners_utils.py:1056-1060.

    ## Example
    ```python
    # base model: microsoft/Phi-3-mini-4k-instruct
    LoraConfig(r=16)
    ```

    Use instead:
    ```python
    LoraConfig(r=16, target_modules=["qkv_proj", "o_proj"])
    ```
    """
    found = failure_for(site, ctx, "LL203")
    if found is None:
        return
    inv, a, failure = found
    at = blame(site, failure)
    suggestion = py_list(adaptable_leaves(inv)[:4])
    if failure.kind == "no-default":
        yield Problem(at, (
            f"target_modules is omitted and peft {facts()['peft_version']} has no default targets for"
            f" model_type {inv.model_type!r}: {raises(failure)}; name them, e.g. target_modules={suggestion}"
            " or 'all-linear'"
        ))
    else:  # no-targets: the default is dropped by the MoE conversion
        default = facts()["default_target_modules"].get(inv.model_type)
        yield Problem(at, (
            f"target_modules is omitted; peft's default for {inv.model_type!r} ({default!r}) is dropped by"
            f" its transformers-5 MoE conversion, so {raises(failure)}; write"
            f" target_modules={py_list(default or []) if default else suggestion}"
        ))
