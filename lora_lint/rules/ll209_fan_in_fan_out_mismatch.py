from ..fixes import build
from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._fixes import fix
from ._model import by_leaf, example

EVIDENCE = Evidence(
    claim=(
        "peft overrides `fan_in_fan_out` per layer and warns: True on an `nn.Linear` becomes False, False"
        " on a transformers `Conv1D` becomes True."
    ),
    code=(
        "peft 0.21.2 tuners/lora/layer.py:2724-2766 dispatch_default",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll209_peft_overrides_fan_in_fan_out_and_warns",
    ),
)


@rule(
    "LL209", "fan-in-fan-out-mismatch", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-gpt2", 'LoraConfig(target_modules=["c_attn"], fan_in_fan_out=True)\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], fan_in_fan_out=False)\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"])\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], fan_in_fan_out=True)  # error: LL209\n'),
        example("tiny-gpt2", 'LoraConfig(target_modules=["c_attn"], fan_in_fan_out=False)  # error: LL209\n'),
    ],
    evidence=EVIDENCE,
)
def fan_in_fan_out_mismatch(site, ctx):
    """## What it does
    Checks an explicit `fan_in_fan_out` against the layers the adapter targets: it must be `True`
    for transformers' `Conv1D` layers (GPT-2, GPT-BigCode, whose weights are stored `(in, out)`) and
    `False` for `nn.Linear`.

    ## Why is this bad?
    peft overrides the value per layer and warns ("fan_in_fan_out is set to True but the target
    module is `torch.nn.Linear`. Setting fan_in_fan_out to False."), so the written value is wrong
    and misleads readers; with `target_parameters` a `True` is even an error.

    ## Example
    ```python
    # base model: meta-llama/Llama-3.1-8B
    LoraConfig(target_modules=["q_proj", "v_proj"], fan_in_fan_out=True)
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"])
    ```

    ## Fix safety
    Safe: the fix writes the value peft uses anyway (`fan_in_fan_out=False` for `nn.Linear`,
    `True` for `Conv1D`), so training does not change and the config says what runs. Only a
    value written as a literal is rewritten, not a computed one.
    """
    inv, a = ctx.model, ctx.analysis
    p = site.get("fan_in_fan_out")
    if p is None or p.implicit or not isinstance(p.value, bool):
        return
    linear = [n for n in a.targeted if inv.by_name[n].kind == "linear"]
    conv1d = [n for n in a.targeted if inv.by_name[n].kind == "conv1d"]
    if p.value and linear and not conv1d:
        yield Problem(p, (f"fan_in_fan_out=True but the adapted layers are nn.Linear ({by_leaf(linear)}): peft warns"
                  " and resets it to False; remove it"), lambda: _flip(p, ctx))
    elif not p.value and conv1d and not linear:
        yield Problem(p, (f"fan_in_fan_out=False but {inv.architecture}'s adapted layers are transformers Conv1D"
                  f" ({by_leaf(conv1d)}), whose weight is stored (in, out): peft warns and sets it to True;"
                  " write fan_in_fan_out=True"), lambda: _flip(p, ctx))


def _flip(p, ctx):
    value = not p.value
    edits = build.set_bool(ctx.document, p, value)
    return fix(f"Set `{p.key}` to {value}, the value peft uses", edits)
