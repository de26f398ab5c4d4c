from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import example, failure_for, item, raises, where


def ranges(values) -> str:
    values = sorted(values)
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(f"{start}–{v}" if v != start else f"{v}")
            start = None
    return ", ".join(out)


EVIDENCE = Evidence(
    claim=(
        "With `layers_to_transform`, peft keeps a suffix match only when the first `.<number>.` of its "
        "name is a listed index: out-of-range indices adapt nothing, an unindexed module (`embed_tokens`)"
        " is dropped, a `layers_pattern` naming no layer list drops everything and `get_peft_model` "
        "raises; an entry equal to the full module name skips the filter."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:2337-2412 check_target_module_exists (2372-2374 the exact-name branch, 2377-2410 the layer index)",
        "peft 0.21.2 tuners/tuners_utils.py:1051-1086 BaseTuner.inject_adapter (the error)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll205_out_of_range_indices_and_unindexed_entries_adapt_nothing",
        "tests/test_rule_claims.py::test_a_finding_says_peft_raises_exactly_when_it_does",
    ),
)


@rule(
    "LL205", "layers-out-of-range", Severity.ERROR, needs_model=True, reports_failure=True,
    valid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "v_proj"], layers_to_transform=[0, 1, 2, 3])\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], layers_to_transform=[1], layers_pattern="layers")\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "lm_head"], layers_to_transform=[0, 1])\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "model.embed_tokens"], layers_to_transform=[0])\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj", "v_proj"],\n'
                '    layers_to_transform=[2, 3, 4, 5],  # error: LL205\n)\n'),
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj"],\n    layers_to_transform=[1],\n'
                '    layers_pattern="h",  # error: LL205\n)\n'),
        example("tiny-llama", 'LoraConfig(\n    target_modules=[\n        "q_proj",\n'
                '        "embed_tokens",  # error: LL205\n    ],\n    layers_to_transform=[0, 1],\n)\n'),
    ],
    evidence=EVIDENCE,
)
def layers_out_of_range(site, ctx):
    """## What it does
    Checks `layers_to_transform` and `layers_pattern` against the base model: every index must be
    a layer that holds a targeted module, `layers_pattern` must name one of the model's layer lists,
    and a `target_modules` item that matches only modules outside the numbered layers (such as
    `embed_tokens`) must name them by their full name, or the layer filter drops them.

    ## Why is this bad?
    peft reads the layer index from the first `.<number>.` in each module name
    (`check_target_module_exists`, peft 0.21.2 tuners/tuners_utils.py:2377-2410). Indices beyond the
    model's depth match nothing; when no targeted module is left, `get_peft_model` raises "Target
    modules ... not found ... Note: You specified 'layers_to_transform'" (tuners_utils.py:1060-1070).
    Some out-of-range indices fail silently: the adapter simply covers fewer layers. A
    `layers_pattern` such as `"h"` on a Llama (whose list is `layers`) gives no module an index. A
    suffix entry like `embed_tokens` (the module is `model.embed_tokens`) has no index and is
    dropped (peft issue #1024). An entry equal to the full module name (`lm_head` on a Llama,
    `model.embed_tokens`) takes peft's exact-name branch (tuners_utils.py:2372-2374), which skips
    the layer filter: it is adapted, and this rule does not report it.

    ## Example
    ```python
    # a 32-layer model
    LoraConfig(target_modules=["q_proj", "v_proj"], layers_to_transform=list(range(24, 40)))
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], layers_to_transform=list(range(24, 32)))
    ```
    """
    inv, a = ctx.model, ctx.analysis
    failure = a.failure
    if failure is not None and failure_for(site, ctx, "LL205") is None:
        return  # peft raises, and another rule reports it
    layers = a.spec.layers_to_transform
    targets = a.spec.target_modules
    if layers is None or isinstance(targets, str) or not a.entries:
        return
    out = list(_findings(site, inv, a, failure, [layers] if isinstance(layers, int) else list(layers)))
    if failure is not None and not out:
        out.append(Problem(where(site, "layers_to_transform"),
                           f"no targeted module is in the layers {layers!r}: {raises(failure)}"))
    yield from out


def _findings(site, inv, a, failure, requested):
    indexed = dict(a.match.layer_index)
    available = {i for i in indexed.values() if i is not None}
    targeted = set(a.targeted)
    pattern = a.spec.layers_pattern
    if pattern and not available and indexed:
        lists = sorted({p.rpartition(".")[2] for p in inv.layer_lists})
        then = raises(failure) if failure else "the entries that need a layer index adapt nothing"
        yield Problem(where(site, "layers_pattern"), (
            f"layers_pattern={pattern!r} names no layer list of {inv.architecture} (its layer lists are"
            f" {', '.join(repr(x) for x in lists)}), so no module gets a layer index: {then}"
        ))
        return
    if available and requested:
        stacks = sorted({p for p in inv.layer_lists for k in indexed if k.startswith(p + ".")})
        held = f"{ranges(available)} in {', '.join(stacks)}" if stacks else ranges(available)
        bad = list(dict.fromkeys(i for i in requested if i not in available))
        if bad:
            consequence = (f"nothing is adapted: {raises(failure)}" if failure
                           else "they adapt nothing, so the adapter covers fewer layers than written")
            p = site.params.get("layers_to_transform")
            at = next((it for it in (p.items if p else ()) if it.value == bad[0]), None)
            word = "index" if len(bad) == 1 else "indices"
            yield Problem(at or where(site, "layers_to_transform"), (
                f"layers_to_transform {word} {', '.join(map(str, bad))} {'is' if len(bad) == 1 else 'are'} not"
                f" layers that hold the targeted modules ({held}): {consequence}"))
    for entry in a.entries:
        keys = a.entries[entry]
        if keys and all(indexed.get(k) is None and k not in targeted for k in keys):
            yield Problem(item(site, "target_modules", entry), (
                f"{entry!r}{'' if keys == [entry] else f' ({keys[0]})'} has no layer index, so with layers_to_transform"
                " set peft never adapts it (only an entry equal to the full module name skips the layer filter);"
                f" write the full name {keys[0]!r}, or drop layers_to_transform"
            ))
