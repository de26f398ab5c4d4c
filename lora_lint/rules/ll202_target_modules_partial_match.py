from ..fixes import build
from ..model import UNSAFE, Severity
from ..registry import Evidence, Problem, rule
from ._fixes import fix
from ._model import adaptable_leaves, by_leaf, closest, example, item

QKV = frozenset({"q_proj", "k_proj", "v_proj", "query", "key", "value"})
#: Fused layers and the separate Llama/BERT-style names whose work they do.
FUSED = {
    "qkv_proj": QKV, "c_attn": QKV, "query_key_value": QKV, "Wqkv": QKV, "W_pack": QKV,
    "gate_up_proj": frozenset({"gate_proj", "up_proj"}),
}


EVIDENCE = Evidence(
    claim=(
        "peft raises only when no item matches: an item that matches nothing while others match is "
        "dropped without a word, and the adapter covers only the modules the other items match."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:2337-2412 check_target_module_exists",
        "peft 0.21.2 tuners/tuners_utils.py:1051-1108 BaseTuner.inject_adapter (no warning while something matched)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll202_an_item_that_matches_nothing_is_dropped_silently",
    ),
)


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
    evidence=EVIDENCE,
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

    ## Fix safety
    Unsafe (`--unsafe-fixes`), because it changes what is trained, or removes a name that
    records what was meant. Where the model fuses the layers the names stand for, and exactly
    one fused layer does (Phi-3: `q_proj`/`k_proj`/`v_proj` → `qkv_proj`, `gate_proj`/`up_proj` →
    `gate_up_proj`; GPT-2: `c_attn`), the names are replaced by it and more layers are adapted.
    Otherwise the entry that matches nothing is removed, which leaves the training as it is. A
    saved `adapter_config.json` is never rewritten.
    """
    inv, a = ctx.model, ctx.analysis
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
        yield Problem(item(site, "target_modules", entry), (
            f"{entry!r} matches no module of {inv.architecture}, so peft skips it silently and adapts only"
            f" {adapted}{hint}"
        ), lambda e=entry: repair(site, ctx, inv, a, e))


def fused_into(inv, entry: str) -> str | None:
    """The one fused layer of the model that does ``entry``'s work, if exactly one does."""
    leaves = set(adaptable_leaves(inv))
    found = [name for name, parts in FUSED.items() if entry in parts and name in leaves]
    return found[0] if len(found) == 1 else None


def repair(site, ctx, inv, a, entry):
    """Replace ``entry`` (and its siblings) with the fused layer, or drop it."""
    p = site.params.get("target_modules")
    targets = a.spec.target_modules
    if p is None or p.implicit or not p.items or len(p.items) != len(targets) or site.dialect.saved:
        return None
    unmatched = {e for e in targets if not (e in a.match.converted or a.entries.get(e))}
    into = fused_into(inv, entry)
    if into is None:
        drop = {i for i, it in enumerate(p.items) if it.value == entry}
        message = f"Remove {entry!r}: it matches no module of {inv.architecture}, so what is trained does not change"
        return fix(message, build.edit_items(ctx.document, p, {}, drop), UNSAFE)
    group = [e for e in dict.fromkeys(targets) if e in unmatched and fused_into(inv, e) == into]
    indices = [i for i, it in enumerate(p.items) if it.value in group]
    replace = {} if into in targets else {indices[0]: into}
    drop = set(indices) - set(replace)
    count = sum(1 for m in inv.modules if m.leaf == into and m.adaptable)
    names = ", ".join(repr(e) for e in group)
    message = (f"Replace {names} with {into!r}, the fused layer {inv.architecture} has instead:"
               f" adapts {into} ×{count} as well" if replace else
               f"Remove {names}: {inv.architecture} fuses them into {into!r}, which is already listed")
    return fix(message, build.edit_items(ctx.document, p, replace, drop), UNSAFE)
