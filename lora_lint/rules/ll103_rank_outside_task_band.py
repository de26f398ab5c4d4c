from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._util import rank

#: The rank-selection guide's bands per peft task type.
BANDS = {
    "SEQ_CLS": (4, 8, "classification"),
    "TOKEN_CLS": (4, 8, "token classification/NER"),
    "QUESTION_ANS": (8, 16, "question answering"),
    "SEQ_2_SEQ_LM": (8, 16, "summarization/sequence-to-sequence"),
    "CAUSAL_LM": (16, 64, "instruction following/reasoning"),
}


EVIDENCE = Evidence(
    claim=(
        "peft's default rank is 8 whatever the `task_type`; the rest of the finding is guidance, not a "
        "claim about peft."
    ),
    code=(
        "peft 0.21.2 tuners/lora/config.py:632 LoraConfig.r (`r: int = field(default=8, ...)`)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll103_the_default_rank_is_8_whatever_the_task",
    ),
    guidance=(
        "The project brief's rank guide: 4–8 for classification and NER, 8–16 for QA and summarization, "
        "16–64 for instruction following and reasoning."
    ),
)


@rule(
    "LL103", "rank-outside-task-band", Severity.INFO, advice=True,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=32, task_type='CAUSAL_LM')\n",
        "from peft import LoraConfig, TaskType\nLoraConfig(r=8, task_type=TaskType.SEQ_CLS)\n",
        "from peft import LoraConfig\nLoraConfig(r=256)\n",
        "from peft import LoraConfig\nLoraConfig(task_type='CAUSAL_LM', **kwargs)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, task_type='FEATURE_EXTRACTION')\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=128, task_type='SEQ_CLS')  # error: LL103\n",
        "from peft import LoraConfig\nLoraConfig(task_type='CAUSAL_LM')  # error: LL103\n",
    ],
    evidence=EVIDENCE,
)
def rank_outside_task_band(site, ctx):
    """## What it does
    Compares the rank with the band the rank-selection guide gives for the config's
    `task_type`. The bands are 4–8 for classification and NER (`SEQ_CLS`, `TOKEN_CLS`), 8–16 for question
    answering and summarization (`QUESTION_ANS`, `SEQ_2_SEQ_LM`), 16–64 for instruction
    following and reasoning (`CAUSAL_LM`). Without a task type nothing is reported.

    ## Why is this bad?
    It is not an error, only a hint. A rank far above the band spends memory on capacity a
    narrow task does not use and makes over-fitting a small dataset easier; a rank below it
    can cap what a generative model learns (peft's default r=8 is at the low end for
    instruction tuning). Tune from the band's edge rather than from an arbitrary number.

    ## Example
    ```python
    LoraConfig(r=128, task_type="SEQ_CLS")
    ```

    Use instead:
    ```python
    LoraConfig(r=8, task_type="SEQ_CLS")
    ```
    """
    task = site.get("task_type")
    if task is None or not isinstance(task.value, str) or task.value not in BANDS:
        return
    lo, hi, what = BANDS[task.value]
    rv = rank(site, site.effective("r"))
    if rv is None or rv <= 0 or lo <= rv <= hi:
        return
    r = site.params.get("r")
    if r is not None and not r.implicit:
        where, said = r, f"r={rv}"
    else:
        where, said = task, f"r={rv} (the default)"
    nearest = lo if rv < lo else hi
    side = "below" if rv < lo else "above"
    yield Problem(where, (
        f"{said} is {side} the {lo}–{hi} band the rank-selection guide gives for {task.value} "
        f"({what}); consider r={nearest}"
    ))
