from ..model import Severity
from ..registry import Evidence, rule

_SRC = "from unsloth import FastLanguageModel\n"


EVIDENCE = Evidence(
    claim=(
        "Unsloth's `get_peft_model` moves `embed_tokens`/`lm_head` from `target_modules` to "
        "`modules_to_save` (fully trained) and raises when nothing else is left; peft then trains what "
        "Unsloth hands it (Unsloth is not run here: its path is replayed from its source, and real peft "
        "runs on the result)."
    ),
    code=(
        "unsloth 2026.10.9 unsloth/models/_utils.py _redirect_embedding_targets",
        "peft 0.21.2 utils/other.py:1047-1131 _set_trainable",
    ),
    tests=(
        "tests/test_unsloth.py::test_reader_hands_peft_what_unsloth_does",
    ),
)


@rule(
    "LL308", "unsloth-embedding-target", Severity.WARNING, dialects=["unsloth", "unsloth-vision"],
    valid=[
        _SRC + 'FastLanguageModel.get_peft_model(model, target_modules=["q_proj", "v_proj"],'
               ' modules_to_save=["lm_head", "embed_tokens"])\n',
        _SRC + 'FastLanguageModel.get_peft_model(model, r=16)\n',
    ],
    invalid=[
        _SRC + 'FastLanguageModel.get_peft_model(\n    model,\n    target_modules=[\n        "q_proj",\n'
               '        "lm_head",  # error: LL308\n        "embed_tokens",  # error: LL308\n    ],\n)\n',
        "from unsloth import FastModel\n"
        'FastModel.get_peft_model(model, target_modules=["q_proj", "model.embed_tokens"])  # error: LL308\n',
    ],
    evidence=EVIDENCE,
)
def unsloth_embedding_target(site, ctx):
    """## What it does
    Checks Unsloth's `get_peft_model` for `lm_head` or `embed_tokens` in `target_modules`, and
    says what Unsloth does with them instead of LoRA.

    ## Why is this bad?
    Unsloth (2026.10.9, the current release; `_redirect_embedding_targets` in
    unsloth/models/_utils.py, called by `FastLanguageModel.get_peft_model` and by
    `FastModel.get_peft_model` unless `finetune_language_layers=False`) takes every entry whose
    last name part is `embed_tokens` or `lm_head` out of `target_modules` and appends it to
    `modules_to_save`: the layer is trained as a full matrix (tens or hundreds of millions of
    parameters and their optimizer state), not as LoRA, and Unsloth warns "Moved ... from
    `target_modules` to `modules_to_save`". With nothing else left in `target_modules` it raises
    RuntimeError. On a model with tied embeddings and both layers saved, it turns
    `ensure_weight_tying` on and trains the embedding only (peft rebuilds the head). With
    `fast_inference=True` (vLLM), `lm_head` stays a LoRA target that Unsloth says never trains
    and a moved `embed_tokens` raises NotImplementedError. Releases differ: up to 2026.2.x
    `FastLanguageModel` moved both as well; 2026.3.1–2026.8.19 moved only `embed_tokens` and kept
    LoRA on `lm_head`, and `FastModel` passed both to peft. lora-lint analyses what the current
    release hands to peft.

    ## Example
    ```python
    FastLanguageModel.get_peft_model(model, target_modules=["q_proj", "v_proj", "lm_head", "embed_tokens"])
    ```

    Use instead: name them in `modules_to_save` (and, for continued pretraining, train with
    `UnslothTrainer` and its `embedding_learning_rate`).
    ```python
    FastLanguageModel.get_peft_model(model, target_modules=["q_proj", "v_proj"],
                                     modules_to_save=["lm_head", "embed_tokens"])
    ```
    """
    return ()  # the Unsloth reader (sources/unsloth.py) notes each moved entry
