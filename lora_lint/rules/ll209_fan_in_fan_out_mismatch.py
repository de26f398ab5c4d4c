from ..fixes import build
from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._fixes import fix
from ._model import by_leaf, example

EVIDENCE = Evidence(
    claim=(
        "peft overrides `fan_in_fan_out` per layer and warns: True on an `nn.Linear` becomes False, False"
        " on a transformers `Conv1D` becomes True. On a model loaded in 4/8 bit every adapted layer is a"
        " bitsandbytes layer, whose peft wrapper sets False without a warning."
    ),
    code=(
        "peft 0.21.2 tuners/lora/layer.py:2724-2766 dispatch_default",
        "peft 0.21.2 tuners/lora/bnb.py:35-48 Linear8bitLt.__init__",
        "peft 0.21.2 tuners/lora/bnb.py:313-326 Linear4bit.__init__",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll209_peft_overrides_fan_in_fan_out_and_warns",
        "tests/test_rules_vs_peft.py::test_bitsandbytes_layers_use_fan_in_fan_out_false_silently",
    ),
)


@rule(
    "LL209", "fan-in-fan-out-mismatch", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-gpt2", 'LoraConfig(target_modules=["c_attn"], fan_in_fan_out=True)\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], fan_in_fan_out=False)\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"])\n'),
        ("gpt2-8bit.yml", "base_model: tests/fixtures/models/tiny-gpt2\nload_in_8bit: true\nadapter: lora\n"
         "lora_r: 8\nlora_alpha: 16\nlora_target_modules: [c_attn]\nlora_fan_in_fan_out: false\n"),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], fan_in_fan_out=True)  # error: LL209\n'),
        example("tiny-gpt2", 'LoraConfig(target_modules=["c_attn"], fan_in_fan_out=False)  # error: LL209\n'),
        ("llama-8bit.yml", "base_model: tests/fixtures/models/tiny-llama\nload_in_8bit: true\nadapter: lora\n"
         "lora_r: 8\nlora_alpha: 16\nlora_target_modules: [q_proj]\nlora_fan_in_fan_out: true  # error: LL209\n"),
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
    and misleads readers; with `target_parameters` a `True` is even an error. A model loaded in 4 or
    8 bit (`load_in_4bit`/`load_in_8bit` in the config) has bitsandbytes layers, which peft always
    runs with `False`, silently: there `True` is reported, and `False` is right for every model.

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
    # loaded in 4/8 bit, every adapted layer is a bitsandbytes layer: peft's Linear8bitLt/Linear4bit
    # use False whatever is written, without a warning (so a Conv1D model needs nothing written)
    # (the training setting `quantization`: 0, 4 or 8 bits, read by every reader; unknown: maybe)
    q = site.context.get("quantization")
    quantized = q is not None and q.known and q.value in (4, 8)
    maybe = q is not None and not q.known
    if p.value and linear and not conv1d:
        how = ("are loaded as bitsandbytes layers, which peft runs with False without a word" if quantized
               else "run with False: peft resets it (with a warning on nn.Linear)" if maybe
               else "are nn.Linear: peft warns and resets it to False")
        yield Problem(p, f"fan_in_fan_out=True but the adapted layers ({by_leaf(linear)}) {how}; write fan_in_fan_out=False",
                      lambda: _flip(p, ctx))
    elif not p.value and conv1d and not linear and not quantized and not maybe:
        yield Problem(p, (f"fan_in_fan_out=False but {inv.architecture}'s adapted layers are transformers Conv1D"
                  f" ({by_leaf(conv1d)}), whose weight is stored (in, out): peft warns and sets it to True;"
                  " write fan_in_fan_out=True"), lambda: _flip(p, ctx))


def _flip(p, ctx):
    value = not p.value
    edits = build.set_bool(ctx.document, p, value)
    return fix(f"Set `{p.key}` to {value}, the value peft uses", edits)
