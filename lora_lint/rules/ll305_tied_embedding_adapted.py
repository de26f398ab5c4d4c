from ..model import Severity
from ..registry import Problem, rule
from ._model import example, item, where


@rule(
    "LL305", "tied-embedding-adapted", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-llama-tied", 'LoraConfig(target_modules=["q_proj", "v_proj"])\n'),
        example("tiny-llama-tied", 'LoraConfig(target_modules=["q_proj", "lm_head"], ensure_weight_tying=True)\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "lm_head"])\n'),
    ],
    invalid=[
        example("tiny-llama-tied", 'LoraConfig(target_modules=[\n    "q_proj",\n    "lm_head",  # error: LL305\n])\n'),
        example("tiny-llama-tied", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["embed_tokens"])  # error: LL305\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], ensure_weight_tying=True)  # error: LL305\n'),
    ],
)
def tied_embedding_adapted(site, ctx):
    """## What it does
    Checks, on a model whose LM head shares its weight with the input embedding
    (`tie_word_embeddings=True`), that an adapter which adapts or fully trains either of them sets
    `ensure_weight_tying=True`; and that `ensure_weight_tying=True` is not set on a model without
    tied weights.

    ## Why is this bad?
    Training one side of a tied pair unties it in the adapter: merging can overwrite the trained
    head with the embedding (or the reverse) and exporting to other formats drops one of them
    (peft issues #2018, #2777; transformers #45127). peft warns "Model has `tie_word_embeddings=True`
    and a tied layer is part of the adapter, but `ensure_weight_tying` is not set". peft ≥ 0.18 can
    keep them tied. On an untied model the flag does nothing.

    ## Example
    ```python
    # base model: Qwen/Qwen2.5-0.5B (tied)
    LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"], ensure_weight_tying=True)
    ```
    """
    inv, a = ctx.model, ctx.analysis
    ewt = a.spec.ensure_weight_tying
    tied = set(inv.tied_to_embedding) | ({inv.input_embeddings} if inv.tied_to_embedding else set())
    if not tied:
        if ewt is True and not site.params["ensure_weight_tying"].implicit:
            yield Problem(where(site, "ensure_weight_tying"), (
                f"ensure_weight_tying=True but {inv.architecture} has no tied embeddings"
                " (tie_word_embeddings=False): peft warns and ignores it; remove it"
            ))
        return
    if ewt is not False or not site.dialect.can_set("ensure_weight_tying"):
        return

    def partner(name):
        return ", ".join(sorted(t for t in tied if t != name))

    targets = a.spec.target_modules
    if isinstance(targets, (list, tuple, set)) and a.entries:
        for entry in targets:
            hits = [n for n in a.entries.get(entry, ()) if n in tied and n in a.targeted]
            if hits:
                yield Problem(item(site, "target_modules", entry), _message(hits[0], partner(hits[0]), "adapted"))
    elif any(n in tied for n in a.targeted):
        hit = next(n for n in a.targeted if n in tied)
        yield Problem(where(site, "target_modules"), _message(hit, partner(hit), "adapted"))
    for entry, hits in a.saved.items():
        hit = next((inv.aliases.get(n, n) for n in hits if inv.aliases.get(n, n) in tied), None)
        if hit and entry in (a.spec.modules_to_save or ()):
            yield Problem(item(site, "modules_to_save", entry), _message(hit, partner(hit), "fully trained"))


def _message(name, partner, how):
    return (f"{name} is {how}, but it shares its weight with {partner} (tie_word_embeddings=True) and"
            " ensure_weight_tying is not set: merging or exporting can drop or corrupt the trained copy;"
            " set ensure_weight_tying=True (peft ≥ 0.18) or leave the embeddings alone")
