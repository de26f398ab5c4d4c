from ..fixes import build
from ..model import UNSAFE, Severity
from ..models.roles import counterparts, describe, leaf_jobs, written_jobs
from ..registry import Evidence, Problem, rule
from ._fixes import fix
from ._model import by_leaf, closest, example, item

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
    Unsafe (`--unsafe-fixes`), because it changes what is trained. A name that matches nothing is
    replaced by the layers of this model that do the same job, in either direction: Llama names
    on a fused model (Phi-3: `q_proj`/`k_proj`/`v_proj` → `qkv_proj`, `gate_proj`/`up_proj` →
    `gate_up_proj`), fused or other families' names on a Llama-style model (`query_key_value`,
    `c_attn`, `Wqkv`, `W_pack`, `qkv_proj` → `q_proj`, `k_proj`, `v_proj`; GPT-NeoX's `dense` →
    `o_proj`; `fc_in`/`dense_h_to_4h` → `gate_proj`, `up_proj`; `fc_out`/`dense_4h_to_h` →
    `down_proj`). The message names the layers and how many of each get adapted. Where the
    model has no layer that does exactly that job under a name of its own (GPT-2's `c_proj` is
    both the attention and the MLP output; BERT's `dense` is three layers), no fix is offered:
    removing the name would hide the mistake. A saved `adapter_config.json` is never rewritten.
    """
    inv, a = ctx.model, ctx.analysis
    targets = a.spec.target_modules
    if isinstance(targets, str) or not targets or a.match.default_targets:
        return
    hits = {e: v for e, v in a.entries.items() if v}
    if not hits and not a.match.converted:
        return  # nothing matches at all: LL201
    adapted = by_leaf(a.targeted) or "only target_parameters"
    jobs = leaf_jobs(inv)
    for entry in targets:
        if entry in a.match.converted or a.entries.get(entry):
            continue
        same = [c for c in counterparts(inv, entry, jobs) if c not in targets] if isinstance(entry, str) else []
        near = [c for c in closest(inv, entry) if c not in targets]
        if same:
            hint = (f"; the {describe(written_jobs(entry))} layer{'s' if len(same) > 1 else ''} of"
                    f" {inv.architecture} {'are' if len(same) > 1 else 'is'} {', '.join(repr(c) for c in same)}")
        else:
            hint = f"; did you mean {' or '.join(repr(c) for c in near)}?" if near else ""
        yield Problem(item(site, "target_modules", entry), (
            f"{entry!r} matches no module of {inv.architecture}, so peft skips it silently and adapts only"
            f" {adapted}{hint}"
        ), lambda e=entry: repair(site, ctx, inv, a, e, jobs))


def repair(site, ctx, inv, a, entry, jobs):
    """Replace ``entry``, and the other unmatched names that map to the same layers, with the
    layers of this model that do their job; None (no fix) when the model has none."""
    p = site.params.get("target_modules")
    targets = a.spec.target_modules
    if p is None or p.implicit or not p.items or len(p.items) != len(targets) or site.dialect.saved:
        return None
    into = counterparts(inv, entry, jobs)
    if not into:
        return None
    unmatched = [e for e in dict.fromkeys(targets) if not (e in a.match.converted or a.entries.get(e))]
    group = [e for e in unmatched if counterparts(inv, e, jobs) == into]
    indices = [i for i, it in enumerate(p.items) if it.value in group]
    new = [c for c in into if c not in targets]
    replace = {indices[0]: tuple(new)} if new else {}
    drop = set(indices) - set(replace)
    names = ", ".join(repr(e) for e in group)
    if new:
        counts = ", ".join(f"{c} ×{sum(1 for m in inv.modules if m.leaf == c and m.adaptable)}" for c in new)
        what = describe(set().union(*(jobs[c] for c in new)))
        what = (f"the fused {what} layer of" if len(new) == 1 and len(jobs[new[0]]) > 1
                else f"the {what} layer{'s' if len(new) > 1 else ''} of")
        message = f"Replace {names} with {', '.join(repr(c) for c in new)}, {what} {inv.architecture}: adapts {counts}"
    else:
        message = (f"Remove {names}: the layers of {inv.architecture} that do its job"
                   f" ({', '.join(repr(c) for c in into)}) are already listed")
    return fix(message, build.edit_items(ctx.document, p, replace, drop), UNSAFE)
