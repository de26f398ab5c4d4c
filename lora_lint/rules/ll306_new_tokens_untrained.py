from ..model import Severity
from ..registry import Problem, rule
from ._model import py_list

_SRC = ("# lora-lint: base-model=tests/fixtures/models/tiny-llama\nfrom peft import LoraConfig\n"
        "model.resize_token_embeddings(len(tokenizer))\n")


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
)
def new_tokens_untrained(site, ctx):
    """## What it does
    Checks, when the training setup adds tokens or resizes the vocabulary (a
    `resize_token_embeddings` call, axolotl `tokens:`/`special_tokens`, a new pad token), that the
    new embedding rows are trained: the input embedding or the LM head is in `modules_to_save` or
    adapted, or `trainable_token_indices` is set.

    ## Why is this bad?
    Resizing appends randomly initialised rows. With everything but the LoRA layers frozen, those
    rows never learn, the model cannot read or produce the new tokens properly, and the adapter
    does not save them. axolotl refuses such configs ("Please set lora_modules_to_save to
    [`embed_tokens`, `lm_head`] when using an adapter and changing the special tokens").

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
        f" tokens' rows stay random and are not saved; add modules_to_save={py_list(leaves)}"
        " (or trainable_token_indices=[<new token ids>])"
    ))
