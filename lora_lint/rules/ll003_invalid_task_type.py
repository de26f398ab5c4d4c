from ..model import Severity
from ..peft_facts import facts, suggest
from ..registry import Evidence, Problem, rule
from ._util import unset

ALIASES = {
    "CLM": "CAUSAL_LM", "CAUSAL": "CAUSAL_LM", "LM": "CAUSAL_LM", "GENERATION": "CAUSAL_LM",
    "SEQ2SEQ": "SEQ_2_SEQ_LM", "SEQ2SEQ_LM": "SEQ_2_SEQ_LM", "SEQ_2_SEQ": "SEQ_2_SEQ_LM",
    "SEQUENCE_CLASSIFICATION": "SEQ_CLS", "CLASSIFICATION": "SEQ_CLS", "SEQ_CLASSIFICATION": "SEQ_CLS",
    "TOKEN_CLASSIFICATION": "TOKEN_CLS", "NER": "TOKEN_CLS",
    "QA": "QUESTION_ANS", "QUESTION_ANSWERING": "QUESTION_ANS",
    "EMBEDDING": "FEATURE_EXTRACTION", "FEATURES": "FEATURE_EXTRACTION",
}


EVIDENCE = Evidence(
    claim=(
        "`LoraConfig(task_type=...)` raises `ValueError: Invalid task type` for any value that is not a "
        "`TaskType` member."
    ),
    code=(
        "peft 0.21.2 config.py:95-104 PeftConfigMixin.__post_init__",
        "peft 0.21.2 utils/peft_types.py:106-127 TaskType",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll003_fires_exactly_when_peft_rejects_the_task_type",
    ),
)


@rule(
    "LL003", "invalid-task-type", Severity.ERROR,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=8, task_type='CAUSAL_LM')\n",
        "from peft import LoraConfig, TaskType\nLoraConfig(r=8, task_type=TaskType.SEQ_CLS)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, task_type=None)\n",
        "from peft import LoraConfig\nimport os\nLoraConfig(r=8, task_type=os.environ['TASK'])\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=8, task_type='causal_lm')  # error: LL003\n",
        "from peft import LoraConfig\nLoraConfig(\n    r=8,\n    task_type='SEQ2SEQ',  # error: LL003\n)\n",
        "from peft import LoraConfig, TaskType\nLoraConfig(task_type=TaskType.CAUSAL)  # error: LL003\n",
    ],
    evidence=EVIDENCE,
)
def invalid_task_type(site, ctx):
    """## What it does
    Checks that `task_type` is exactly one of peft's task types: `SEQ_CLS`, `SEQ_2_SEQ_LM`,
    `CAUSAL_LM`, `TOKEN_CLS`, `QUESTION_ANS` or `FEATURE_EXTRACTION`. The names are
    case-sensitive and come from the installed peft's `TaskType` enum.

    ## Why is this bad?
    peft rejects any other value when the config is built:
    `ValueError: Invalid task type: 'causal_lm'. Must be one of the following task types:
    SEQ_CLS, SEQ_2_SEQ_LM, CAUSAL_LM, TOKEN_CLS, QUESTION_ANS, FEATURE_EXTRACTION.`
    The task type also selects the `PeftModel` class and, for classification and QA, adds the
    task head to `modules_to_save`, so a guessed spelling is never harmless.

    ## Example
    ```python
    LoraConfig(r=16, task_type="causal_lm")
    ```

    Use instead:
    ```python
    LoraConfig(r=16, task_type="CAUSAL_LM")  # or TaskType.CAUSAL_LM
    ```
    """
    p = site.get("task_type")
    if p is None or p.value is None or unset(site, p.value):
        return
    members = facts()["task_types"]
    value = p.value
    if isinstance(value, str) and value in members:
        return
    hint = ""
    if isinstance(value, str):
        key = value.strip().upper().replace("-", "_").replace(" ", "_")
        best = key if key in members else ALIASES.get(key) or suggest(key, members)
        if best:
            hint = f"; did you mean {best!r}?"
    yield Problem(p, (
        f"task_type={value!r} is not a peft task type: peft rejects it (\"Invalid task type\"); "
        f"use one of {', '.join(members)} (case-sensitive){hint}"
    ))
