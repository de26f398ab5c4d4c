from ..model import Severity
from ..registry import Problem, rule
from ._model import example, item, names, where


@rule(
    "LL304", "target-and-save-overlap", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"])\n'),
        example("tiny-llama", 'LoraConfig(target_modules="all-linear", modules_to_save=["lm_head"])\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(\n    target_modules=[\n        "q_proj",\n'
                '        "lm_head",  # error: LL304\n    ],\n    modules_to_save=["lm_head"],\n)\n'),
        "from transformers import AutoModelForTokenClassification\nfrom peft import LoraConfig\n"
        'model = AutoModelForTokenClassification.from_pretrained("tests/fixtures/models/tiny-llama")\n'
        'LoraConfig(target_modules="all-linear", task_type="TOKEN_CLS")  # error: LL304\n',
    ],
)
def target_and_save_overlap(site, ctx):
    """## What it does
    Checks that no module is both adapted by `target_modules` and listed in `modules_to_save`
    (including the head that `task_type` adds there).

    ## Why is this bad?
    The two are exclusive in peft. A module named in both is silently left out of LoRA and fully
    trained instead, losing the parameter efficiency the config asks for. When the head is only
    added to `modules_to_save` after LoRA was injected (`TOKEN_CLS`, `QUESTION_ANS` with
    `all-linear`), `get_peft_model` raises `TypeError: modules_to_save cannot be applied to modules
    of type lora.Linear`. Keep each module in one list.

    ## Example
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj", "lm_head"], modules_to_save=["lm_head"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"])
    ```
    """
    inv, a = ctx.model, ctx.analysis
    targets = a.spec.target_modules
    if a.error_kind == "wrapper":
        saved = {n for ns in a.saved.values() for n in ns}
        both = [n for n in a.targeted if n in saved]
        if both:
            head = [e for e in a.match.late_modules_to_save if any(n.endswith(e) for n in both)]
            why = (f" (task_type={a.spec.task_type!r} adds {head[0]!r} to modules_to_save after LoRA is injected)"
                   if head else "")
            yield Problem(where(site, "target_modules"), (
                f"{names(both)} is adapted by target_modules and also in modules_to_save{why}: get_peft_model"
                f" raises TypeError ('modules_to_save cannot be applied to modules of type lora.Linear');"
                f" exclude it: exclude_modules={[n.rpartition('.')[2] for n in both]!r}"
            ))
        return
    if a.match.all_linear or a.match.default_targets or not a.match.excluded_by_save:
        return
    overlap = a.match.excluded_by_save
    if isinstance(targets, (list, tuple, set)) and a.entries:
        for entry in targets:
            hits = [n for n in a.entries.get(entry, ()) if n in overlap]
            if hits:
                params = sum(inv.subtree_params(n) for n in hits)
                shown = f"{entry!r}" if hits == [entry] else f"{entry!r} ({names(hits, 2)})"
                yield Problem(item(site, "target_modules", entry), (
                    f"{shown} is in both target_modules and modules_to_save: peft skips"
                    f" LoRA on it and trains it fully (+{params:,} parameters); keep it in one of the two"
                ))
        return
    params = sum(inv.subtree_params(n) for n in overlap)
    yield Problem(where(site, "target_modules"), (
        f"target_modules also matches {names(overlap, 3)}, which modules_to_save names: peft skips LoRA on"
        f" it and trains it fully (+{params:,} parameters); keep each module in one of the two"
    ))
