from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import blame, failure_for, head_advice, raises, where

#: task_type -> (peft's wrapper, the heads it trains, the class to load for it).
WRAPPERS = {
    "CAUSAL_LM": ("PeftModelForCausalLM", (), "AutoModelForCausalLM"),
    "SEQ_2_SEQ_LM": ("PeftModelForSeq2SeqLM", (), "AutoModelForSeq2SeqLM"),
    "SEQ_CLS": ("PeftModelForSequenceClassification", ("classifier", "score"), "AutoModelForSequenceClassification"),
    "TOKEN_CLS": ("PeftModelForTokenClassification", ("classifier", "score"), "AutoModelForTokenClassification"),
    "QUESTION_ANS": ("PeftModelForQuestionAnswering", ("qa_outputs",), "AutoModelForQuestionAnswering"),
}
#: The loading class's kind (``Inventory.model_class``) -> the task type that fits it.
FITS = {"SequenceClassification": "SEQ_CLS", "TokenClassification": "TOKEN_CLS",
        "QuestionAnswering": "QUESTION_ANS", "CausalLM": "CAUSAL_LM", "ImageTextToText": "CAUSAL_LM",
        "Seq2SeqLM": "SEQ_2_SEQ_LM"}
#: Kinds that generate text: a classification task type on them finds no head.
LANGUAGE_MODELS = ("CausalLM", "ImageTextToText", "Seq2SeqLM")

_CLS = ("from transformers import {cls}\nfrom peft import LoraConfig\n"
        'model = {cls}.from_pretrained("tests/fixtures/models/tiny-llama")\n')


def _src(cls: str, body: str) -> str:
    return _CLS.format(cls=cls) + body


EVIDENCE = Evidence(
    claim=(
        "`CAUSAL_LM` on a model that does not generate makes `get_peft_model` raise `AttributeError: ... "
        "no attribute 'prepare_inputs_for_generation'`; a classification `task_type` on a causal LM "
        "builds a wrapper with no head, the labels reach the LM's own loss, and "
        "`AutoPeftModelForCausalLM` refuses the saved adapter."
    ),
    code=(
        "peft 0.21.2 peft_model.py:2079-2084 PeftModelForCausalLM.__init__",
        "peft 0.21.2 peft_model.py:1826-1850 PeftModelForSequenceClassification.__init__",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_task_type_against_the_loading_class",
        "tests/test_rules_vs_peft.py::test_seq_cls_on_a_causal_lm_trains_the_language_model_loss",
    ),
)


@rule(
    "LL307", "task-type-mismatch", Severity.ERROR, needs_model=True, reports_failure=True,
    valid=[
        _src("AutoModelForSequenceClassification", 'LoraConfig(target_modules=["q_proj", "v_proj"], task_type="SEQ_CLS")\n'),
        _src("AutoModelForCausalLM", 'LoraConfig(target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")\n'),
        _src("AutoModel", 'LoraConfig(target_modules=["q_proj", "v_proj"], task_type="FEATURE_EXTRACTION")\n'),
    ],
    invalid=[
        _src("AutoModelForSequenceClassification",
             'LoraConfig(target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")  # error: LL307\n'),
        _src("AutoModel", 'LoraConfig(target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")  # error: LL307\n'),
        _src("AutoModelForCausalLM", 'LoraConfig(target_modules=["q_proj", "v_proj"], task_type="SEQ_CLS")  # error: LL307\n'),
    ],
    evidence=EVIDENCE,
)
def task_type_mismatch(site, ctx):
    """## What it does
    Checks that `task_type` fits the class the base model is loaded with: a generative task
    (`CAUSAL_LM`, `SEQ_2_SEQ_LM`) needs a model that generates, and a classification or QA task
    (`SEQ_CLS`, `TOKEN_CLS`, `QUESTION_ANS`) needs a model with that head.

    ## Why is this bad?
    `task_type` picks peft's wrapper. `CAUSAL_LM` on a `*ForSequenceClassification`,
    `*ForTokenClassification`, `*ForQuestionAnswering`, `*ForMaskedLM` or bare `AutoModel` model:
    `PeftModelForCausalLM` reads the model's `prepare_inputs_for_generation` after injecting
    the adapter, and `get_peft_model` raises `AttributeError: 'LlamaForSequenceClassification'
    object has no attribute 'prepare_inputs_for_generation'` (transformers ≥ 4.52, where only
    generative classes inherit `GenerationMixin`; with older transformers the wrapper is built
    and the classification head stays frozen and unsaved). `SEQ_CLS` (or `TOKEN_CLS`,
    `QUESTION_ANS`) on a causal LM: `PeftModelForSequenceClassification` adds `classifier` and
    `score` to `modules_to_save`, the model has neither, and the labels go to the language
    model's own loss; the saved adapter records `SEQ_CLS`, so `AutoPeftModelForCausalLM` refuses
    to load it ("Expected target PEFT class: PeftModelForSequenceClassification"). The advice is
    replayed first: it never suggests a combination `get_peft_model` rejects (`TOKEN_CLS` with
    `all-linear` gets `exclude_modules` for the head).

    ## Example
    ```python
    model = AutoModelForSequenceClassification.from_pretrained("meta-llama/Llama-3.1-8B", num_labels=2)
    LoraConfig(target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], task_type="SEQ_CLS")
    ```
    """
    if any(n.where.key == "model_class" for n in site.notes):  # the framework's own wording (LL009)
        return
    found = failure_for(site, ctx, "LL307")
    if found is not None:
        inv, a, f = found
        wrapper = WRAPPERS[a.spec.task_type][0]
        yield Problem(blame(site, f), (
            f"{raises(f)}; task_type={a.spec.task_type!r} makes peft wrap {inv.architecture} in {wrapper}, which"
            f" needs a model that generates (since transformers 4.52 only generative classes have that method);"
            f" {advice(inv, a)}"
        ))
        return
    inv, a = ctx.model, ctx.analysis
    if a.failure is not None:
        return
    task = a.spec.task_type
    if task not in ("SEQ_CLS", "TOKEN_CLS", "QUESTION_ANS") or inv.model_class not in LANGUAGE_MODELS:
        return
    wrapper, heads, cls = WRAPPERS[task]
    if any(a.saved.get(h) for h in heads):
        return
    fit = FITS[inv.model_class]
    yield Problem(where(site, "task_type"), (
        f"task_type={task!r} on {inv.architecture}, which has no {' or '.join(map(repr, heads))} head: peft wraps"
        f" it in {wrapper}, trains no head and passes the labels to the language model's own loss; the saved"
        f" adapter records {task}, so AutoPeftModelFor{WRAPPERS[fit][0].removeprefix('PeftModelFor')} refuses to"
        f" load it; load the model with {cls} to classify, or set task_type={fit!r}"
    ))


def advice(inv, a) -> str:
    """What to write instead, replayed so that it is never a combination peft rejects."""
    want = FITS.get(inv.model_class)
    if want is None or want in ("CAUSAL_LM", "SEQ_2_SEQ_LM"):
        if inv.model_class == "MaskedLM":
            return "leave task_type unset (peft then wraps it in PeftModel)"
        return "set task_type='FEATURE_EXTRACTION' to train the bare model, or load it with AutoModelForCausalLM"
    return head_advice(inv, a, want) or f"load the model with {WRAPPERS[a.spec.task_type][2]}"
