from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import example, item, where

EVIDENCE = Evidence(
    claim=(
        "On tied embeddings, LoRA on `lm_head` merges into the shared weight (the embedding changes too),"
        " and a tied layer in `modules_to_save` is trained as an untied copy (peft warns); with both tied"
        " layers in `modules_to_save` each gets its own trainable copy, so they learn apart; "
        "`ensure_weight_tying=True` on an untied model is ignored with a warning. LLaMA-Factory's "
        "`additional_target` and TRL's `lora_modules_to_save` are handed to peft as `modules_to_save`, "
        "with no `ensure_weight_tying` (read from their source)."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:1417-1473 BaseTuner._check_tied_modules",
        "peft 0.21.2 utils/other.py:1047-1131 _set_trainable",
        "LLaMA-Factory v0.9.5 src/llamafactory/model/adapter.py:233-242 _setup_lora_tuning (`additional_target` is peft's `modules_to_save`)",
        "TRL v1.9.0 trl/trainer/utils.py:254-276 get_peft_config (`lora_modules_to_save` is peft's `modules_to_save`)",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_lora_on_a_tied_head_merges_into_the_embedding",
        "tests/test_rules_vs_peft.py::test_a_tied_layer_in_modules_to_save_is_trained_as_an_untied_copy",
        "tests/test_rules_vs_peft.py::test_both_tied_layers_in_modules_to_save_are_two_untied_copies",
        "tests/test_rule_claims.py::test_ll305_ensure_weight_tying_on_an_untied_model_is_ignored_with_a_warning",
    ),
)


@rule(
    "LL305", "tied-embedding-adapted", Severity.WARNING, advice=True, needs_model=True,
    valid=[
        example("tiny-llama-tied", 'LoraConfig(target_modules=["q_proj", "v_proj"])\n'),
        example("tiny-llama-tied", 'LoraConfig(target_modules=["q_proj", "lm_head"], ensure_weight_tying=True)\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "lm_head"])\n'),
    ],
    invalid=[
        example("tiny-llama-tied", 'LoraConfig(target_modules=[\n    "q_proj",\n    "lm_head",  # error: LL305\n])\n'),
        ("train.yaml", "model_name_or_path: tests/fixtures/models/tiny-llama-tied\nstage: sft\nfinetuning_type: lora\n"
         "lora_target: q_proj,v_proj\nadditional_target: lm_head  # error: LL305\n"),
        ("sft.yaml", "model_name_or_path: tests/fixtures/models/tiny-llama-tied\nuse_peft: true\n"
         "lora_target_modules: [q_proj, v_proj]\nlora_modules_to_save: [embed_tokens]  # error: LL305\n"),
        example("tiny-llama-tied", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["embed_tokens"])  # error: LL305\n'),
        example("tiny-llama-tied", 'LoraConfig(target_modules=["q_proj"], modules_to_save=[\n'
                '    "lm_head",  # error: LL305\n    "embed_tokens",\n])\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], ensure_weight_tying=True)  # error: LL305\n'),
    ],
    evidence=EVIDENCE,
)
def tied_embedding_adapted(site, ctx):
    """## What it does
    Checks, on a model whose LM head shares its weight with the input embedding
    (`tie_word_embeddings=True`), that an adapter which adapts or fully trains either of them sets
    `ensure_weight_tying=True`; and that `ensure_weight_tying=True` is not set on a model without
    tied weights.

    In a framework that cannot set `ensure_weight_tying` (LLaMA-Factory's `additional_target`,
    TRL's `lora_modules_to_save`, ms-swift, AutoTrain), the same entries the file writes are
    reported, with what to write there instead.

    ## Why is this bad?
    Training one side of a tied pair unties it in the adapter. LoRA on a tied `lm_head` (or
    `embed_tokens`) is merged into the one weight both share, so merging changes the other side
    too; a tied layer in `modules_to_save` is trained as a separate copy, so only that side learns
    (peft issues #2018, #2777; transformers #45127); with both sides in `modules_to_save` each gets
    its own copy, trained apart (one finding, at the first). The test suite shows all three with
    the real peft.
    With peft < 0.19 the merged model also kept `tie_word_embeddings=True` over two different
    matrices. peft warns "Model has `tie_word_embeddings=True`
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
    if ewt is not False:
        return
    switch = site.dialect.can_set("ensure_weight_tying")
    if not switch and not site.dialect.can_set("modules_to_save"):  # not peft's wrappers (torchtune's own LoRA)
        return

    def partner(name):
        return ", ".join(sorted(t for t in tied if t != name))

    def message(name, how, field):
        return _message(site, name, partner(name), how, field, switch)

    written = {f: p for f in ("target_modules", "modules_to_save")
               if (p := site.params.get(f)) is not None and not p.implicit}
    targets = a.spec.target_modules
    if not switch and "target_modules" not in written:
        pass  # the framework chose the targets: nothing the file can leave out
    elif isinstance(targets, (list, tuple, set)) and a.entries:
        for entry in targets:
            hits = [n for n in a.entries.get(entry, ()) if n in tied and n in a.targeted]
            if hits:
                yield Problem(item(site, "target_modules", entry), message(hits[0], "adapted", "target_modules"))
    elif any(n in tied for n in a.targeted):
        hit = next(n for n in a.targeted if n in tied)
        yield Problem(where(site, "target_modules"), message(hit, "adapted", "target_modules"))
    if not switch and "modules_to_save" not in written:
        return
    saved = []  # (entry, the tied layer it saves)
    for entry, hits in a.saved.items():
        hit = next((inv.aliases.get(n, n) for n in hits if inv.aliases.get(n, n) in tied), None)
        if hit and entry in (a.spec.modules_to_save or ()):
            saved.append((entry, hit))
    if len({hit for _, hit in saved}) > 1:  # both sides of the tie: two copies, each trained on its own
        yield Problem(item(site, "modules_to_save", saved[0][0]), _both_message(site, [h for _, h in saved], switch))
        return
    for entry, hit in saved:
        yield Problem(item(site, "modules_to_save", entry), message(hit, "fully trained", "modules_to_save"))


def _both_message(site, names, switch):
    """Every layer of the tied pair in modules_to_save: peft makes a separate copy of each."""
    key = site.dialect.spelling("modules_to_save") or "modules_to_save"
    names = list(dict.fromkeys(names))
    what = (f"{' and '.join(names)} are {'both' if len(names) == 2 else 'all'} in {key}, but they share one weight"
            " (tie_word_embeddings=True): peft trains a separate copy of each, so they learn apart,"
            " are no longer tied, and the adapter stores the shared matrix once per copy")
    if switch:
        return f"{what}; set ensure_weight_tying=True (peft ≥ 0.18) to train one copy that stays tied"
    return (f"{what}; {site.dialect.name} has no ensure_weight_tying setting: train with peft's"
            " LoraConfig(ensure_weight_tying=True) (peft ≥ 0.18) to keep one tied copy")


def _message(site, name, partner, how, field, switch):
    """What peft does with the tied layer, and what the file can say instead."""
    key = site.dialect.spelling(field) or field
    leaf = name.rpartition(".")[2]
    if how == "adapted":
        what = (f"LoRA on {leaf} of a model whose {name} and {partner} share one weight (tie_word_embeddings=True):"
                f" merging the adapter adds {leaf}'s update to that shared weight, so {partner} changes too")
    else:
        what = (f"{leaf} in {key} of a model whose {name} and {partner} share one weight (tie_word_embeddings=True):"
                f" peft trains a separate copy of {leaf}, so only that side learns: {partner} stays as it was and"
                f" the two are no longer tied")
    if switch:
        return f"{what}; set ensure_weight_tying=True (peft ≥ 0.18) or leave {leaf} out of {key}"
    return (f"{what}; {site.dialect.name} has no ensure_weight_tying setting: leave {leaf} out of {key}, or train"
            f" with peft's LoraConfig(ensure_weight_tying=True) (peft ≥ 0.18)")
