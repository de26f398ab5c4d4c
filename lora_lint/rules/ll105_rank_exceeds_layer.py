from ..model import Severity
from ..models.count import compile_patterns, pattern_value
from ..registry import Evidence, Problem, rule
from ._model import by_leaf, example, label, where
from ._util import count, fmt


def _dims(inv, name):
    """(in, out) of an adapted module or parameter, as LoRA sees them (conv: Cin·∏k)."""
    mod = inv.by_name.get(name)
    if mod is not None:
        i, o = mod.in_features or 0, mod.out_features or 0
        if mod.kind == "conv":
            for k in mod.kernel or ():
                i *= k
        if mod.kind == "mha":
            o = i
        return i, o, mod.leaf
    shape = inv.param_shape(name) or ()
    if len(shape) == 3:
        return shape[1], shape[2], label(name)
    if len(shape) == 2:
        return shape[1], shape[0], label(name)
    return 0, 0, name


EVIDENCE = Evidence(
    claim=(
        "peft builds `lora_A` (r×in) and `lora_B` (out×r) for any r, even r ≥ min(in, out): the update "
        "cannot have a rank above min(in, out), and the adapter then holds r·(in+out) parameters, as many"
        " as or more than the layer itself."
    ),
    code=(
        "peft 0.21.2 tuners/lora/layer.py:219-331 LoraLayer.update_layer",
        "peft 0.21.2 tuners/lora/model.py:294-469 LoraModel._create_and_replace (the rank_pattern rank)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll105_a_rank_not_below_the_layer_s_builds_an_adapter_as_large_as_the_layer",
    ),
    guidance="The project brief's rank guide: a rank is useful only below the layer's own rank.",
)


@rule(
    "LL105", "rank-exceeds-layer", Severity.WARNING, advice=True, needs_model=True,
    valid=[
        example("tiny-llama", 'LoraConfig(r=16, target_modules=["q_proj", "k_proj", "v_proj"])\n'),
        example("tiny-llama", 'LoraConfig(r=R, target_modules=["k_proj"])\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(\n    r=32,  # error: LL105\n    target_modules=["q_proj", "k_proj"],\n)\n'),
        example("tiny-llama", 'LoraConfig(\n    r=8,\n    target_modules=["q_proj", "v_proj"],\n'
                '    rank_pattern={"v_proj": 64},  # error: LL105\n)\n'),
    ],
    evidence=EVIDENCE,
)
def rank_exceeds_layer(site, ctx):
    """## What it does
    Checks that the LoRA rank of every adapted layer (after `rank_pattern`) stays below
    `min(in_features, out_features)` of that layer in the base model.

    ## Why is this bad?
    LoRA learns a rank-`r` update `B·A` of a layer with `in` inputs and `out` outputs. An update of
    that layer can never have a rank above `min(in, out)`, so a larger `r` adds parameters and
    memory without adding capacity, and once `r·(in+out) ≥ in·out` the adapter is bigger than the
    layer it adapts: training the layer itself would be cheaper. Narrow layers are the usual
    victims: the key/value projections of grouped-query attention models (`k_proj`, `v_proj` of
    Llama-3-8B are 4096→1024) or small models fine-tuned with a rank copied from a large one.

    ## Example
    ```python
    # tiny Llama: k_proj is 64→32
    LoraConfig(r=32, target_modules=["q_proj", "k_proj"])
    ```

    Use instead:
    ```python
    LoraConfig(r=16, target_modules=["q_proj", "k_proj"])
    ```
    """
    inv, a = ctx.model, ctx.analysis
    rank_items = {p.key: p for p in getattr(site.params.get("rank_pattern"), "items", ())}
    user = {k: v for k, v in a.match.rank_pattern.items() if k not in a.match.added_pattern_keys}
    compiled = compile_patterns(user)
    groups: dict[tuple, dict[tuple, list[str]]] = {}  # (r, pattern key) -> (leaf, in, out) -> names
    for name, r in a.counts.rank.items():
        i, o, leaf = _dims(inv, name)
        if not i or not o or r < min(i, o):
            continue
        _, key = pattern_value(user, compiled, name, None)
        groups.setdefault((r, key), {}).setdefault((leaf, i, o), []).append(name)
    for (r, key), layers in groups.items():
        if key is not None:
            at = rank_items.get(key) or where(site, "rank_pattern")
            source = f"rank_pattern[{key!r}]={fmt(r)}"
        else:
            at = where(site, "r")
            source = f"r={fmt(r)}"
        parts = ", ".join(f"{by_leaf(ns)} ({i}→{o})" for (_, i, o), ns in layers.items())
        low = min(min(i, o) for _, i, o in layers)
        tail = ""
        for (leaf, i, o) in layers:
            if r * (i + o) >= i * o:
                tail = (f"; LoRA on {leaf} has {count(r * (i + o))} parameters per layer against {i * o:,} in"
                        " the layer itself")
                break
        it = "it" if len(layers) == 1 else "them"
        # rank_pattern advice only by the name the file's framework reads, and never a rank below 1
        spelled = site.dialect.spelling("rank_pattern") if site.dialect.can_set("rank_pattern") else None
        if low <= 1:
            advice = f"no rank is below 1, so leave {it} out of the targets"
        elif spelled is not None:
            pattern = ", ".join(f"{leaf!r}: {max(1, min(i, o) // 4)}" for leaf, i, o in dict.fromkeys(layers))
            advice = f"use a rank below {low} for {it} (e.g. {spelled}={{{pattern}}}) or leave {it} out"
        else:
            advice = f"use a rank below {low} for {it}, or leave {it} out"
        yield Problem(at, (
            f"{source} is not below min(in, out) of {parts}: the update cannot be low-rank there{tail}; {advice}"
        ))
