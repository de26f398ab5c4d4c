from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import example, item, names, plural, saved_entries

EVIDENCE = Evidence(
    claim=(
        "peft wraps every module whose full name ends with the entry, with no dot boundary: `head` also "
        "selects `lm_head`, `norm` every layernorm; each wrapped module is a fully trained copy (the "
        "counts the finding prints)."
    ),
    code=(
        "peft 0.21.2 utils/other.py:1047-1131 _set_trainable (`key.endswith(target_key)`)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll303_an_entry_wraps_every_module_whose_name_ends_with_it",
    ),
)


@rule(
    "LL303", "modules-to-save-overbroad", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["lm_head"])\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["model.norm"])\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["head"])  # error: LL303\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["norm"])  # error: LL303\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["o_proj"])  # error: LL303\n'),
    ],
    evidence=EVIDENCE,
)
def modules_to_save_overbroad(site, ctx):
    """## What it does
    Checks that each `modules_to_save` entry selects exactly the module it names: not a module
    whose name merely ends with the same letters, and not many modules at once.

    ## Why is this bad?
    peft wraps every module whose full name ends with the entry, with no dot boundary
    (`key.endswith(entry)`): `"head"` also selects `lm_head`, `"norm"` selects `model.norm` and
    every `input_layernorm`/`post_attention_layernorm`, and `"o_proj"` a full copy of every layer's
    projection. Each wrapped module is copied and fully trained, which can multiply the trainable
    parameters and the adapter's size without anyone noticing.

    ## Example
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["head"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"])
    ```
    """
    found = saved_entries(ctx)
    if found is None:
        return
    inv, a, entries = found
    for entry in entries:
        hits = a.saved.get(entry) or []
        canon = list(dict.fromkeys(inv.aliases.get(n, n) for n in hits))
        loose = [n for n in canon if n != entry and not n.endswith("." + entry)]
        params = sum(inv.subtree_params(n) for n in canon)
        if loose:
            yield Problem(item(site, "modules_to_save", entry), (
                f"modules_to_save entry {entry!r} also selects {names(loose)} (peft matches with endswith and"
                f" no dot boundary): {plural(len(canon), 'module')} fully trained, +{params:,} parameters;"
                f" write the full name{'s' if len(canon) > 1 else ''} you mean"
            ))
        elif len(canon) > 1:
            yield Problem(item(site, "modules_to_save", entry), (
                f"modules_to_save entry {entry!r} selects {plural(len(canon), 'module')} ({names(canon, 3)}):"
                f" each gets a full trainable copy, +{params:,} parameters; name the one you mean"
            ))
