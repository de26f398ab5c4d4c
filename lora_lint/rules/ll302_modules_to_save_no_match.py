from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import example, item, saved_entries

TASK_HEADS = {"SEQ_CLS": ("classifier", "score"), "TOKEN_CLS": ("classifier", "score"), "QUESTION_ANS": ("qa_outputs",)}


EVIDENCE = Evidence(
    claim=(
        "peft wraps the modules whose names end with a `modules_to_save` entry and ignores an entry that "
        "matches nothing, without a warning: nothing is trained or saved for it."
    ),
    code=(
        "peft 0.21.2 utils/other.py:1047-1131 _set_trainable (`strict_module_check=False`)",
        "peft 0.21.2 utils/other.py:1535-1682 set_additional_trainable_modules",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll302_an_entry_that_matches_nothing_is_ignored_silently",
    ),
)


@rule(
    "LL302", "modules-to-save-no-match", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["lm_head"])\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], modules_to_save=SAVE)\n'),
        ("adapter_config.json", '{"peft_type": "LORA", "base_model_name_or_path": "tests/fixtures/models/tiny-bert",'
         ' "task_type": "SEQ_CLS", "target_modules": ["query", "value"], "modules_to_save": ["classifier", "score"]}\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj"],\n'
                '    modules_to_save=["lm_head", "classifier"],  # error: LL302\n)\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["embed_token"])  # error: LL302\n'),
    ],
    evidence=EVIDENCE,
)
def modules_to_save_no_match(site, ctx):
    """## What it does
    Checks every `modules_to_save` entry against the base model's module names (peft's rule: a
    module whose full name ends with the entry).

    ## Why is this bad?
    peft wraps the modules it finds and silently ignores entries that match nothing
    (`_set_trainable(..., strict_module_check=False)`, peft 0.21.2 utils/other.py:1084-1131): the
    module you meant to train fully is frozen and missing from the saved adapter. Typical causes
    are a head name from another family (`classifier` on a Llama, whose head is `score`/`lm_head`)
    and typos. The heads `task_type` adds itself (`classifier` and `score` for `SEQ_CLS`,
    peft_model.py:1830-1836), which peft also writes into every saved adapter, are not reported
    while one of them matches: the other one changes nothing.

    ## Example
    ```python
    # base model: a Llama loaded with AutoModelForSequenceClassification
    LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["classifier"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["score"])
    ```
    """
    found = saved_entries(ctx)
    if found is None:
        return
    inv, a, entries = found
    leaves = list(dict.fromkeys(m.leaf for m in inv.modules if m.name))
    # task_type adds its heads itself (peft_model.py:1830-1836, 2680-2685): written again (peft
    # writes them into every saved SEQ_CLS adapter), the one of "classifier"/"score" the model
    # lacks changes nothing while the other one is trained
    task_heads = TASK_HEADS.get(a.spec.task_type, ())
    head_trained = any(a.saved.get(h) for h in task_heads)
    for entry in dict.fromkeys(entries):
        if a.saved.get(entry) or (entry in task_heads and head_trained):
            continue
        import difflib

        near = difflib.get_close_matches(entry.rpartition(".")[2], leaves, n=2, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
        heads = f" ({inv.architecture}'s heads: {', '.join(inv.heads)})" if inv.heads else ""
        yield Problem(item(site, "modules_to_save", entry), (
            f"modules_to_save entry {entry!r} matches no module of {inv.architecture}: peft ignores it"
            f" silently, nothing is trained or saved for it{hint}{heads}"
        ))
