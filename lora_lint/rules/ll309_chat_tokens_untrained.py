from ..chat_templates import family, tokens
from ..model import Severity
from ..models import catalog
from ..registry import Evidence, Problem, rule
from ._model import py_list

_SRC = ('from unsloth import FastLanguageModel\nfrom unsloth.chat_templates import get_chat_template\n'
        'model, tokenizer = FastLanguageModel.from_pretrained("{model}")\n'
        'tokenizer = get_chat_template(tokenizer, chat_template="llama-3")\n')


EVIDENCE = Evidence(
    claim=(
        "With LoRA on attention/MLP layers only, peft leaves the embedding and head frozen, so token rows"
        " the base checkpoint never trained stay untrained; that the base Llama 3 rows for the chat "
        "tokens are untrained is Unsloth's measurement (`fix_untrained_tokens`), not run here."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:506-544 BaseTuner._mark_only_adapters_as_trainable",
        "unsloth_zoo 2026.8.13 unsloth_zoo/tokenizer_utils.py:239-243 fix_untrained_tokens (its docstring: the base Llama 3 rows are untrained)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_new_embedding_rows_stay_frozen_and_untrained",
    ),
)


@rule(
    "LL309", "chat-tokens-untrained", Severity.WARNING, needs_model=True,
    valid=[
        _SRC.format(model="meta-llama/Llama-3.1-8B-Instruct")
        + 'FastLanguageModel.get_peft_model(model, target_modules=["q_proj", "v_proj"])\n',
        _SRC.format(model="meta-llama/Llama-3.1-8B")
        + 'FastLanguageModel.get_peft_model(model, target_modules=["q_proj", "v_proj"],'
          ' modules_to_save=["embed_tokens", "lm_head"])\n',
        ("axolotl.yaml", "base_model: meta-llama/Llama-3.1-8B\nadapter: lora\nlora_r: 16\nlora_alpha: 32\n"
                         "lora_target_linear: true\nchat_template: chatml\n"),
    ],
    invalid=[
        _SRC.format(model="meta-llama/Llama-3.1-8B").replace('"llama-3")', '"llama-3")  # error: LL309')
        + 'FastLanguageModel.get_peft_model(model, target_modules=["q_proj", "v_proj"])\n',
        'from peft import LoraConfig\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n'
        'model = AutoModelForCausalLM.from_pretrained("meta-llama/Llama-3.2-1B")\n'
        'tokenizer = AutoTokenizer.from_pretrained("meta-llama/Llama-3.2-1B")\n'
        'tokenizer.chat_template = "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>'
        '{{ m.content }}<|eot_id|>{% endfor %}"  # error: LL309\n'
        'LoraConfig(target_modules=["q_proj", "v_proj"])\n',
        ("axolotl.yaml", "base_model: meta-llama/Meta-Llama-3-8B\nadapter: lora\nlora_r: 16\nlora_alpha: 32\n"
                         "lora_target_linear: true\nchat_template: llama3  # error: LL309\n"),
    ],
    evidence=EVIDENCE,
)
def chat_tokens_untrained(site, ctx):
    """## What it does
    Checks, when a base (pretrained, not instruction-tuned) checkpoint is trained with a chat
    template whose special tokens that checkpoint never trained, that the embedding or the LM
    head is trained too.

    ## Why is this bad?
    A base Llama 3 checkpoint has untrained rows for `<|start_header_id|>`, `<|end_header_id|>`
    and `<|eot_id|>` (and Llama 3.1's `<|eom_id|>`, `<|python_tag|>`): only the Instruct
    checkpoints learned them. With the Llama 3 chat template and LoRA on the attention and MLP
    layers only, those rows stay as they are, so the adapter must learn the chat format around
    tokens the model cannot read or produce properly: it may never end its turns with
    `<|eot_id|>` and keep generating. The template's tokens come from its text (a Jinja string,
    or the text a name stands for in Unsloth's `get_chat_template` or axolotl's `chat_template`);
    which checkpoints are base models is recorded in the catalog with where the publisher says
    so (`stage`, `stage_how` in `lora_lint/data/catalog/catalog.json`); the family is recognised
    from the model (model type and vocabulary size). That the base Llama 3 rows are untrained is
    Unsloth's measurement: their embedding rows are zero ("Llama-3 etc have untrained vectors
    (<|eot_id|>, <|start_header_id|>, ...)", unsloth_zoo/tokenizer_utils.py, `fix_untrained_tokens`). A finding
    needs all three to be certain: another model, an unknown template or a checkpoint the
    catalog does not classify gives none.

    ## Example
    ```python
    model, tokenizer = FastLanguageModel.from_pretrained("meta-llama/Llama-3.1-8B")
    tokenizer = get_chat_template(tokenizer, chat_template="llama-3")
    model = FastLanguageModel.get_peft_model(model, target_modules=["q_proj", "v_proj"])
    ```

    Use instead: train the embeddings too (with Unsloth, `UnslothTrainer`'s
    `embedding_learning_rate` for them), or start from the Instruct checkpoint.
    ```python
    model = FastLanguageModel.get_peft_model(model, target_modules=["q_proj", "v_proj"],
                                             modules_to_save=["embed_tokens", "lm_head"])
    ```
    """
    template = site.ctx("chat_template")
    if template is None or site.base_model is None or not site.base_model.known:
        return
    used = tokens(template.value)
    stage = catalog.stage(site.base_model.value)
    inv, a = ctx.model, ctx.analysis
    emb = inv.module(inv.input_embeddings) if inv.input_embeddings else None
    fam = family(inv.model_type, emb.in_features if emb is not None else None)
    if not used or stage is None or stage[0] != "base" or fam is None:
        return
    untrained = [t for t in used if t in fam.untrained]
    if not untrained:
        return
    heads = {n for n in (inv.input_embeddings, inv.output_embeddings, *inv.tied_to_embedding) if n}
    trained = set(a.targeted) | {inv.aliases.get(n, n) for names in a.saved.values() for n in names}
    if heads & trained or a.spec.trainable_token_indices is not None:
        return
    leaves = [n.rpartition(".")[2] for n in (inv.input_embeddings, inv.output_embeddings) if n]
    name = template.value if len(template.value) < 40 else "chat"
    yield Problem(template, (
        f"{site.base_model.value} is a base checkpoint, and the {name!r} template uses {', '.join(untrained)},"
        f" whose rows a base {fam.name} checkpoint never trained; neither {' nor '.join(leaves)} is trained here,"
        f" so those rows stay untrained and the model may never learn to end its turns; add"
        f" modules_to_save={py_list(leaves)}, or start from the instruction-tuned checkpoint"
    ))
