from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import head_advice, where

TASKS = {"SequenceClassification": ("SEQ_CLS", ("score", "classifier")),
         "TokenClassification": ("TOKEN_CLS", ("score", "classifier")),
         "QuestionAnswering": ("QUESTION_ANS", ("qa_outputs",))}


def _src(cls: str, body: str) -> str:
    return (f"from transformers import {cls}\nfrom peft import LoraConfig\n"
            f'model = {cls}.from_pretrained("tests/fixtures/models/tiny-llama")\n' + body)


EVIDENCE = Evidence(
    claim=(
        "Without a classification/QA `task_type` (or a `modules_to_save` entry for it), peft leaves the "
        "model's head frozen and out of the adapter; with `all-linear` it wraps LoRA around the head "
        "instead. The advice, applied, is accepted by peft and trains the head."
    ),
    code=(
        "peft 0.21.2 peft_model.py:1826-1850 PeftModelForSequenceClassification.__init__ (adds `classifier`, `score` to modules_to_save)",
        "peft 0.21.2 tuners/tuners_utils.py:506-544 BaseTuner._mark_only_adapters_as_trainable",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_task_type_against_the_loading_class",
    ),
)


@rule(
    "LL301", "classification-head-not-trainable", Severity.ERROR, needs_model=True,
    valid=[
        _src("AutoModelForSequenceClassification", 'LoraConfig(target_modules=["q_proj", "v_proj"], task_type="SEQ_CLS")\n'),
        _src("AutoModelForSequenceClassification", 'LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["score"])\n'),
        _src("AutoModelForCausalLM", 'LoraConfig(target_modules=["q_proj", "v_proj"])\n'),
    ],
    invalid=[
        _src("AutoModelForSequenceClassification", 'LoraConfig(target_modules=["q_proj", "v_proj"])  # error: LL301\n'),
        _src("AutoModelForSequenceClassification",
             'LoraConfig(target_modules="all-linear", task_type="FEATURE_EXTRACTION")  # error: LL301\n'),
        _src("AutoModelForTokenClassification", 'LoraConfig(target_modules="all-linear")  # error: LL301\n'),
    ],
    evidence=EVIDENCE,
)
def classification_head_not_trainable(site, ctx):
    """## What it does
    Checks, when the base model is loaded with a classification or QA head
    (`*ForSequenceClassification`, `*ForTokenClassification`, `*ForQuestionAnswering`), that the
    head is trained and saved: `task_type` is `SEQ_CLS`/`TOKEN_CLS`/`QUESTION_ANS` (peft then adds
    the head to `modules_to_save`) or `modules_to_save` names it.

    ## Why is this bad?
    The head (`score`, `classifier`, `qa_outputs`) is newly initialised when a causal LM is loaded
    for classification. Without the task type peft freezes it with the rest of the model and does
    not save it, so training optimises the LoRA layers against a random head and the saved adapter
    cannot reproduce the results (peft issues #310, #1070). With `all-linear` and no task type,
    peft even wraps LoRA around the random head instead of training it (#2027). The advice is
    replayed before it is given: with `all-linear`, `TOKEN_CLS` and `QUESTION_ANS` make
    `get_peft_model` raise (it wraps the LoRA-adapted head for training), so the advice adds
    `exclude_modules` for the head. A generative task type on such a model is LL307's.

    ## Example
    ```python
    model = AutoModelForSequenceClassification.from_pretrained("meta-llama/Llama-3.1-8B", num_labels=2)
    LoraConfig(target_modules=["q_proj", "v_proj"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], task_type="SEQ_CLS")
    ```
    """
    inv, a = ctx.model, ctx.analysis
    task = TASKS.get(inv.model_class)
    if task is None:
        return
    want, candidates = task
    heads = [h for h in inv.heads if h in candidates] or [h for h in candidates if h in inv.by_name]
    if not heads:
        return
    saved = {n for names in a.saved.values() for n in names}
    head = heads[0]
    if head in saved:
        return
    lora = "; all-linear even wraps LoRA around the random head instead of training it" if head in a.targeted else ""
    task_type = a.spec.task_type
    now = f"task_type={task_type!r}" if task_type else "no task_type"
    fix = head_advice(inv, a, want) or f"set modules_to_save=[{head!r}]"
    yield Problem(where(site, "task_type"), (
        f"{inv.architecture}'s head {head!r} (newly initialised unless the checkpoint already has one)"
        f" stays frozen and is not saved with the adapter: {now} and no modules_to_save entry for it{lora}; {fix}"
    ))
