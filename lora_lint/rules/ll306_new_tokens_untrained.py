from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import py_list

_SRC = ("# lora-lint: base-model=tests/fixtures/models/tiny-llama\nfrom peft import LoraConfig\n"
        "model.resize_token_embeddings(len(tokenizer))\n")


EVIDENCE = Evidence(
    claim=(
        "With LoRA on other layers only, peft leaves the resized embedding and head frozen: the rows the "
        "resize appended are never trained (peft saves the resized matrices, untrained, when it sees the "
        "vocabulary changed). axolotl refuses a changed special token other than the pad token without "
        "`lora_modules_to_save` (read from its source)."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:506-544 BaseTuner._mark_only_adapters_as_trainable",
        "peft 0.21.2 utils/save_and_load.py:148-356 get_peft_model_state_dict (`save_embedding_layers=\"auto\"`)",
        "axolotl v0.18.0 src/axolotl/loaders/tokenizer.py:229-257 load_tokenizer (the special-token check)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_new_embedding_rows_stay_frozen_and_untrained",
    ),
)


@rule(
    "LL306", "new-tokens-untrained", Severity.WARNING, needs_model=True,
    valid=[
        _SRC + 'LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["embed_tokens", "lm_head"])\n',
        _SRC + 'LoraConfig(target_modules=["q_proj", "v_proj"], trainable_token_indices=[1000, 1001])\n',
        "# lora-lint: base-model=tests/fixtures/models/tiny-llama\nfrom peft import LoraConfig\n"
        'LoraConfig(target_modules=["q_proj", "v_proj"])\n',
    ],
    invalid=[
        _SRC + 'LoraConfig(target_modules=["q_proj", "v_proj"])  # error: LL306\n',
    ],
    evidence=EVIDENCE,
)
def new_tokens_untrained(site, ctx):
    """## What it does
    Checks, when the training setup adds tokens or resizes the vocabulary (a
    `resize_token_embeddings` call, axolotl `tokens:`/`special_tokens`, a new pad token), that the
    new embedding rows are trained: the input embedding or the LM head is in `modules_to_save` or
    adapted, or `trainable_token_indices` is set.

    ## Why is this bad?
    Resizing appends rows the checkpoint never trained (transformers initialises them around the
    mean of the old rows). With everything but the LoRA layers frozen, those rows never learn and
    the model cannot read or produce the new tokens properly. peft saves the resized matrices with
    the adapter when it can see the vocabulary changed (`save_embedding_layers="auto"`), but as the
    resize left them: untrained. axolotl itself refuses a changed special token other than the pad
    token ("Please set lora_modules_to_save to [`embed_tokens`, `lm_head`] when using an adapter
    and changing the special tokens").

    ## Example
    ```python
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    model.resize_token_embeddings(len(tokenizer))
    LoraConfig(target_modules=["q_proj", "v_proj"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["embed_tokens", "lm_head"])
    ```
    """
    if not site.resizes_vocab:
        return
    inv, a = ctx.model, ctx.analysis
    if a.spec.trainable_token_indices is not None:
        return
    emb = [n for n in (inv.input_embeddings, inv.output_embeddings, *inv.tied_to_embedding) if n]
    if not emb:
        return
    trained = set(a.targeted) | {inv.aliases.get(n, n) for ns in a.saved.values() for n in ns}
    if trained & set(emb):
        return
    leaves = list(dict.fromkeys(n.rpartition(".")[2] for n in emb))
    emb = list(dict.fromkeys(emb))
    which = f"neither {', '.join(emb[:-1])} nor {emb[-1]} is" if len(emb) > 1 else f"{emb[0]} is not"
    yield Problem(site, (
        f"the vocabulary is resized but {which} trained: the new"
        f" tokens' rows keep the values the resize gave them and never learn; add modules_to_save={py_list(leaves)}"
        " (or trainable_token_indices=[<new token ids>])"
    ))
