from ..model import Severity
from ..registry import rule
from ._model import by_leaf, closest, example, item, known


@rule(
    "LL202", "target-modules-partial-match", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "v_proj"])\n'),
        example("tiny-mixtral", 'LoraConfig(target_modules=["q_proj", "w1", "w2", "w3"])\n'),
        example("tiny-phi3", 'LoraConfig(target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(target_modules=[\n    "q_proj",\n    "query",  # error: LL202\n'
                '    "v_proj",\n])\n'),
        example("tiny-phi3", 'LoraConfig(target_modules=[\n    "q_proj",  # error: LL202\n'
                '    "k_proj",  # error: LL202\n    "v_proj",  # error: LL202\n    "o_proj",\n'
                '    "gate_proj",  # error: LL202\n    "up_proj",  # error: LL202\n    "down_proj",\n])\n'),
    ],
)
def target_modules_partial_match(site, ctx):
    """## What it does
    Checks every item of a `target_modules` list against the base model's module names and reports
    the items that match nothing while other items do match.

    ## Why is this bad?
    peft only raises when *no* item matches. An item that matches nothing is dropped silently, so
    the adapter covers fewer layers than the config says. The classic case is copying the Llama
    list to Phi-3, whose attention and MLP projections are fused (`qkv_proj`, `gate_up_proj`): only
    `o_proj` and `down_proj` get adapted, and nothing warns.

    ## Example
    ```python
    # base model: microsoft/Phi-3-mini-4k-instruct
    LoraConfig(target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
    ```
    """
    found = known(ctx)
    if found is None:
        return
    inv, a = found
    targets = a.spec.target_modules
    if isinstance(targets, str) or not targets or a.match.default_targets:
        return
    hits = {e: v for e, v in a.entries.items() if v}
    if not hits and not a.match.converted:
        return  # nothing matches at all: LL201
    adapted = by_leaf(a.targeted) or "only target_parameters"
    for entry in targets:
        if entry in a.match.converted or a.entries.get(entry):
            continue
        near = [c for c in closest(inv, entry) if c not in targets]
        hint = f"; did you mean {' or '.join(repr(c) for c in near)}?" if near else ""
        yield item(site, "target_modules", entry), (
            f"{entry!r} matches no module of {inv.architecture}, so peft skips it silently and adapts only"
            f" {adapted}{hint}"
        )
