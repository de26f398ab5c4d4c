from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import example, item


def coverage(inv, names):
    """layer-list prefix -> set of layer indices holding one of ``names``."""
    out: dict[str, set[int]] = {}
    for n in names:
        for prefix in inv.layer_lists:
            if n.startswith(prefix + "."):
                idx = n[len(prefix) + 1:].split(".", 1)[0]
                if idx.isdigit():
                    out.setdefault(prefix, set()).add(int(idx))
                break
    return out


EVIDENCE = Evidence(
    claim=(
        "peft adapts every module whose name equals an item or ends with `.item` and says nothing about "
        "layers without one: on a hybrid stack (Jamba) `q_proj`/`v_proj` adapt only the attention layers."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:2337-2412 check_target_module_exists",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll210_a_suffix_adapts_only_the_layers_that_have_it",
    ),
)


@rule(
    "LL210", "uneven-layer-coverage", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "v_proj"])\n'),
        example("tiny-jamba", 'LoraConfig(target_modules="all-linear")\n'),
        example("tiny-jamba", 'LoraConfig(target_modules=["q_proj", "v_proj"], layers_to_transform=[1, 3])\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["model.layers.3.self_attn.q_proj", "v_proj"])\n'),
    ],
    invalid=[
        example("tiny-jamba", 'LoraConfig(target_modules=[\n    "q_proj",  # error: LL210\n'
                '    "v_proj",  # error: LL210\n])\n'),
    ],
    evidence=EVIDENCE,
)
def uneven_layer_coverage(site, ctx):
    """## What it does
    Checks, for each item of a `target_modules` list, in how many layers of the model's layer stack
    it matches, and reports items that exist in only some layers: hybrid stacks where attention
    sits in every k-th layer (Jamba, Zamba, Nemotron-H, Falcon-H1, Qwen3-Next), or models whose
    layers differ (Gemma-4 global layers without `v_proj`). An item that names a layer by its path
    (`model.layers.31.self_attn.q_proj`, `layers.0.mlp.up_proj`) chose that layer and is not
    reported.

    ## Why is this bad?
    peft adapts every module whose name equals an item or ends with `.item`
    (`check_target_module_exists`, peft 0.21.2 tuners/tuners_utils.py:2372-2376) and says nothing
    about layers where no module matches. The adapter then leaves whole layers untouched: on Jamba,
    `["q_proj", "v_proj"]` adapts one layer in eight, so most of the network cannot learn. Add the
    projections of the other layer type (the Mamba layers' `in_proj`/`out_proj`...), use
    `all-linear`, or, if the partial coverage is intended, say so with `layers_to_transform`.

    ## Example
    ```python
    # base model: ai21labs/Jamba-v0.1 (attention in every 8th layer)
    LoraConfig(target_modules=["q_proj", "v_proj"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj", "in_proj", "out_proj"])
    ```
    """
    inv, a = ctx.model, ctx.analysis
    targets = a.spec.target_modules
    if a.spec.layers_to_transform is not None or not isinstance(targets, (list, tuple, set)) or not a.entries:
        return
    if "target_modules" in a.framework:
        return  # the training framework chose the names from the model, together (not item by item)
    targeted = set(a.targeted)
    for entry in targets:
        if any(part.isdigit() for part in entry.split(".")):
            continue  # an explicit path (model.layers.31.self_attn.q_proj): the user chose the layer
        hits = [n for n in a.entries.get(entry, ()) if n in targeted]
        for prefix, layers in coverage(inv, hits).items():
            total = inv.layer_lists[prefix]
            if len(layers) >= total:
                continue
            missing = sorted(set(range(total)) - layers)
            kinds = sorted({inv.by_name[f"{prefix}.{i}"].cls for i in missing if f"{prefix}.{i}" in inv.by_name})
            yield Problem(item(site, "target_modules", entry), (
                f"{entry!r} exists in only {len(layers)} of the {total} layers of {prefix}: layers"
                f" {', '.join(map(str, missing[:8]))}{'…' if len(missing) > 8 else ''}"
                f" ({', '.join(kinds)}) get no adapter from it; also target their layers, use 'all-linear',"
                " or make the choice explicit with layers_to_transform"
            ))
