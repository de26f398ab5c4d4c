from ..model import Severity
from ..models.replicate import layer_list
from ..registry import Evidence, Problem, rule
from ._model import blame, example, failure_for, names, raises

#: What to do, per failure kind (peft's message says what went wrong).
HINTS = {
    "fused": "target all of the fused projections or none of them",
    "mamba": "leave it out of target_modules",
    "param-on-target": "leave that module out of target_modules (target_modules=[] if peft adds it itself)",
    "wrapper": "keep each module in one place: exclude it from target_modules (exclude_modules) or from the"
               " trained copies",
    "tokens-not-found": "name an embedding layer that exists",
    "tokens-conflict": "the embedding is already trained fully; drop one of the two",
    "tied-tokens": "give the tied layers the same indices",
    "replication": "peft finds the layers at model(.model)*.layers, .encoder.layer or .h only",
}


EVIDENCE = Evidence(
    claim="`get_peft_model` raises the exception the finding quotes (class and message) on the real model.",
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:799-1154 BaseTuner.inject_adapter",
        "peft 0.21.2 tuners/lora/layer.py:1207-1273 Embedding.update_layer (`lora_bias` on an embedding)",
        "peft 0.21.2 utils/other.py:1535-1682 set_additional_trainable_modules",
        "peft 0.21.2 utils/transformers_weight_conversion.py:402-484 _convert_peft_config_moe",
        "peft 0.21.2 tuners/tuners_utils.py:2540-2591 replicate_layers",
    ),
    tests=(
        "tests/test_rule_claims.py::test_a_finding_says_peft_raises_exactly_when_it_does",
        "tests/test_differential.py::test_matches_peft",
        "tests/test_rejections.py::test_rejected_config_is_an_error_and_not_counted",
    ),
)


@rule(
    "LL211", "peft-raises", Severity.ERROR, needs_model=True, reports_failure=True,
    valid=[
        example("tiny-mixtral", 'LoraConfig(target_modules=["q_proj", "w1", "w2", "w3"], lora_dropout=0.0)\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "embed_tokens"], lora_bias=False)\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], trainable_token_indices=[1, 2])\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], layer_replication=[[0, 2], [1, 2]])\n'),
    ],
    invalid=[
        example("tiny-mixtral", 'LoraConfig(target_modules=[\n    "q_proj",\n    "w1",  # error: LL211\n'
                '    "w2",\n])\n'),
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj", "embed_tokens"],\n'
                '    lora_bias=True,  # error: LL211\n)\n'),
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj", "embed_tokens"],\n'
                '    trainable_token_indices=[1, 2],  # error: LL211\n)\n'),
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj"],\n'
                '    trainable_token_indices={"tok_embeddings": [1, 2]},  # error: LL211\n)\n'),
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj"],\n'
                '    target_parameters=["q_proj.weight"],  # error: LL211\n)\n'),
        example("tiny-gpt2", 'LoraConfig(\n    target_modules=["c_attn"],\n'
                '    layer_replication=[[0, 2]],  # error: LL211\n)\n'),
        "from transformers import AutoModelForTokenClassification\nfrom peft import LoraConfig\n"
        'model = AutoModelForTokenClassification.from_pretrained("tests/fixtures/models/tiny-llama")\n'
        'LoraConfig(target_modules="all-linear", task_type="TOKEN_CLS")  # error: LL211\n',
    ],
    evidence=EVIDENCE,
)
def peft_raises(site, ctx):
    """## What it does
    Replays `get_peft_model` on the base model and reports, with peft's own exception and message,
    every error it raises that no more specific rule explains: on Mixtral and Qwen3-MoE, converting
    only some of the expert projections that transformers 5 fuses (`w1` without `w3`);
    `lora_bias=True` on an `nn.Embedding`; `trainable_token_indices` on a layer that also gets LoRA
    or that does not exist; a `target_parameters` entry on a module `target_modules` also adapts;
    `layer_replication` on an architecture peft cannot replicate; a `TOKEN_CLS`/`QUESTION_ANS` head
    that `all-linear` gave LoRA before peft wraps it for training; a Mamba `out_proj`/`conv1d`; a
    `rank_pattern` rank that is not positive; DoRA on `nn.MultiheadAttention`.

    ## Why is this bad?
    The config cannot train: `get_peft_model` stops with the exception, after the base model has
    been downloaded and loaded. Which modules exist, which layers peft creates and in which order it
    checks them (peft 0.21.2: `inject_adapter` in tuners/tuners_utils.py:799-1153, the layers'
    `update_layer` in tuners/lora/layer.py, `set_additional_trainable_modules` in
    utils/other.py:1535-1680, the MoE conversion in utils/transformers_weight_conversion.py:402-487,
    `replicate_layers` in tuners/tuners_utils.py:2540-2589) is replayed exactly; the differential
    test compares each of these cases with the real `get_peft_model`.

    ## Example
    ```python
    # base model: mistralai/Mixtral-8x7B-v0.1 (transformers 5 fuses w1 and w3 into gate_up_proj)
    LoraConfig(target_modules=["q_proj", "w1", "w2"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "w1", "w2", "w3"], lora_dropout=0.0)
    ```
    """
    found = failure_for(site, ctx, "LL211")
    if found is None:
        return
    inv, a, f = found
    hint = HINTS.get(f.kind, "")
    if f.kind == "wrapper" and f.field == "target_modules":  # a head task_type adds after injection
        hint = (f"task_type={a.spec.task_type!r} adds {f.item!r} to modules_to_save after LoRA was injected, and"
                f" target_modules also adapts it; exclude it: exclude_modules=[{f.item!r}]")
    elif f.kind == "layer" and f.field == "lora_bias":
        emb = [n for n in a.targeted if inv.by_name[n].kind == "embedding"]
        hint = f"drop lora_bias or leave {names(emb, 2) or 'the embedding'} out of target_modules"
    elif f.kind == "layer" and f.field == "use_dora":
        hint = "drop use_dora or leave the MultiheadAttention layers out of target_modules"
    elif f.kind == "replication" and f.exception == "IndexError":
        lst = layer_list(inv)
        n = sum(1 for m in inv.modules if m.name.rpartition(".")[0] == lst)
        hint = f"the [start, end) ranges index the {n} layers of {lst}: keep them within 0–{n}"
    elif f.kind in ("not-found", "no-targets", "all-excluded", "none-targeted"):
        hint = "name the layers to adapt explicitly"
    yield Problem(blame(site, f), raises(f) + (f"; {hint}" if hint else ""))
