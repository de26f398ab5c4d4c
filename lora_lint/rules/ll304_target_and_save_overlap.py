from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import example, item, names, where

EVIDENCE = Evidence(
    claim=(
        "A module named in `modules_to_save` (including the head `task_type` adds) is excluded from LoRA "
        "matching and trained as a full copy instead."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:2337-2412 check_target_module_exists (2359-2364 modules_to_save excluded)",
        "peft 0.21.2 utils/other.py:1047-1131 _set_trainable",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll304_a_module_in_both_lists_is_trained_fully_not_adapted",
    ),
)


@rule(
    "LL304", "target-and-save-overlap", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"])\n'),
        example("tiny-llama", 'LoraConfig(target_modules="all-linear", modules_to_save=["lm_head"])\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(\n    target_modules=[\n        "q_proj",\n'
                '        "lm_head",  # error: LL304\n    ],\n    modules_to_save=["lm_head"],\n)\n'),
        "from transformers import AutoModelForSequenceClassification\nfrom peft import LoraConfig\n"
        'model = AutoModelForSequenceClassification.from_pretrained("tests/fixtures/models/tiny-llama")\n'
        'LoraConfig(target_modules=["q_proj", "score"], task_type="SEQ_CLS")  # error: LL304\n',
    ],
    evidence=EVIDENCE,
)
def target_and_save_overlap(site, ctx):
    """## What it does
    Checks that no module is both adapted by `target_modules` and listed in `modules_to_save`
    (including the head that `task_type` adds there).

    ## Why is this bad?
    The two are exclusive in peft: `check_target_module_exists` excludes every module a
    `modules_to_save` entry names before it looks at `target_modules` (peft 0.21.2
    tuners/tuners_utils.py:2361-2364), and `set_additional_trainable_modules` then trains a full
    copy of it (utils/other.py:1544-1551, 604-668). A module named in both is silently left out of
    LoRA and fully trained instead, losing the parameter efficiency the config asks for. Keep each
    module in one list. (When the head is only added to `modules_to_save` after LoRA was injected,
    `TOKEN_CLS` or `QUESTION_ANS` with `all-linear`, peft raises instead: LL211 reports that.)

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
    if a.match.all_linear or a.match.default_targets or not a.match.excluded_by_save:
        return
    overlap = a.match.excluded_by_save
    user = a.spec.modules_to_save if isinstance(a.spec.modules_to_save, (list, tuple)) else []
    if isinstance(targets, (list, tuple, set)) and a.entries:
        for entry in targets:
            hits = [n for n in a.entries.get(entry, ()) if n in overlap]
            if hits:
                shown = f"{entry!r}" if hits == [entry] else f"{entry!r} ({names(hits, 2)})"
                yield Problem(item(site, "target_modules", entry), _message(inv, a, user, shown, hits, "it"))
        return
    shown = f"target_modules also matches {names(overlap, 3)}, which"
    yield Problem(where(site, "target_modules"), _message(inv, a, user, shown, overlap, "them"))


def _message(inv, a, user, shown, hits, pronoun):
    by_user = any(n.endswith(e) or n == e for n in hits for e in user)
    if not by_user:  # the head task_type adds (peft_model.py:1830-1836)
        return (f"{shown} is trained fully anyway: task_type={a.spec.task_type!r} adds it to modules_to_save, so"
                f" peft skips LoRA on {pronoun} and this target_modules entry changes nothing; drop it")
    params = sum(inv.subtree_params(n) for n in hits)
    if shown.startswith("target_modules also"):
        return (f"{shown} modules_to_save names: peft skips LoRA on {pronoun} and trains {pronoun} fully"
                f" (+{params:,} parameters); keep each module in one of the two")
    return (f"{shown} is in both target_modules and modules_to_save: peft skips LoRA on {pronoun} and trains"
            f" {pronoun} fully (+{params:,} parameters); keep it in one of the two")
