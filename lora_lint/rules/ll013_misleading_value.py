from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._util import list_items

_SRC = "from peft import LoraConfig\n"

#: torch (and transformers) layer classes people write where a module name belongs.
CLASSES = frozenset({"Linear", "Conv1d", "Conv2d", "Conv3d", "Conv1D", "Embedding", "LayerNorm", "RMSNorm",
                     "MultiheadAttention", "Dropout", "Linear4bit", "Linear8bitLt"})
#: Names of the blocks that hold the layers people mean to adapt (``mlp`` holds gate/up/down_proj).
BLOCKS = frozenset({"mlp", "self_attn", "self_attention", "attention", "attn", "feed_forward", "ffn",
                    "cross_attn", "block", "layers", "experts"})


EVIDENCE = Evidence(
    claim=(
        "`target_modules=None` (what `list.append` returns) gives peft's default targets; `LoraConfig` "
        "copies a `target_modules` list into a set, so a later `append` never reaches peft; a class name "
        "matches no module name, and a block name (`mlp`) makes `get_peft_model` raise \"Target module ..."
        " is not supported\"."
    ),
    code=(
        "peft 0.21.2 tuners/lora/config.py:1009-1116 LoraConfig.__post_init__ (the set copy)",
        "peft 0.21.2 tuners/lora/model.py:695-706 LoraModel._prepare_adapter_config (the defaults)",
        "peft 0.21.2 tuners/lora/model.py:499-566 LoraModel._create_new_module (`is not supported`)",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll013_claims",
    ),
)


@rule(
    "LL013", "misleading-value", Severity.ERROR, uses_model=True,
    valid=[
        _SRC + 'targets = ["q_proj"]\ntargets.append("v_proj")\nLoraConfig(target_modules=targets)\n',
        _SRC + 'LoraConfig(target_modules=["q_proj", "v_proj"])\n',
        _SRC + 'saved = ["lm_head"]\ncfg = LoraConfig(target_modules=["q_proj"], modules_to_save=saved)\n'
               'saved.append("embed_tokens")\n',
    ],
    invalid=[
        _SRC + 'targets = ["q_proj"]\nLoraConfig(target_modules=targets.append("v_proj"))  # error: LL013\n',
        _SRC + 'targets = ["q_proj"]\ncfg = LoraConfig(target_modules=targets)  # error: LL013\n'
               'targets.append("v_proj")\n',
        _SRC + 'LoraConfig(target_modules=["Linear"])  # error: LL013\n',
        _SRC + 'LoraConfig(target_modules=[\n    "mlp",  # error: LL013\n    "q_proj",\n])\n',
    ],
    evidence=EVIDENCE,
)
def misleading_value(site, ctx):
    """## What it does
    Checks for `LoraConfig` values that are not what they look like: a keyword given the result
    of `list.append`/`list.extend`/`dict.update`/`set.add` (None); a `target_modules` or
    `exclude_modules` list changed after `LoraConfig(...)` took it; a torch class name
    (`Linear`, `Conv2d`) or a block name (`mlp`, `self_attn`) in `target_modules`.

    ## Why is this bad?
    `target_modules=targets.append("v_proj")` passes None (the method changes the list in place
    and returns None): peft then adapts its default targets for the model type, and
    `modules_to_save=saved.append("lm_head")` saves nothing. `LoraConfig` copies a list
    `target_modules` or `exclude_modules` into a set when it is built (its `__post_init__`), so
    a `targets.append(...)` after it never reaches peft (a `modules_to_save` list is kept as it
    is: a change before `get_peft_model` does count, so nothing is reported for it). peft matches
    `target_modules` against module names (`model.layers.0.mlp.down_proj`), never against class
    names: `"Linear"` does not mean "every linear layer" (`"all-linear"` does). And peft adapts
    the module whose own name matches, never the layers inside it: `"mlp"` selects the MLP block
    itself, which LoRA cannot adapt where it is a block (peft raises `ValueError: Target module
    ... is not supported`), not its `gate_proj`/`up_proj`/`down_proj`. These two are certain
    without the model because they are about how peft matches; they are reported only when the
    base model is not resolved (with the model, LL201, LL202 and LL204 say exactly what matches).

    ## Example
    ```python
    targets = ["q_proj", "k_proj"]
    LoraConfig(target_modules=targets.append("v_proj"), modules_to_save=None)
    ```

    Use instead:
    ```python
    targets = ["q_proj", "k_proj"]
    targets.append("v_proj")
    LoraConfig(target_modules=targets)
    ```
    """
    if ctx.model is not None or not site.dialect.python:
        return
    for value, where in list_items(site, "target_modules"):
        if not isinstance(value, str):
            continue
        if value in CLASSES:
            yield Problem(where, (
                f"{value!r} is a torch class name, but peft matches target_modules against module names (the"
                f" attribute path, e.g. model.layers.0.self_attn.q_proj), never against classes: write 'all-linear'"
                f" for every linear layer, or name the layers"))
        elif value in BLOCKS:
            yield Problem(where, (
                f"{value!r} names a block, and peft adapts the module whose own name matches, never the layers"
                f" inside it: where {value!r} is a block of layers (as in Llama, Mistral, Qwen, Gemma) peft raises"
                f" ValueError (Target module ... is not supported); name the layers inside it, or use 'all-linear'"))
