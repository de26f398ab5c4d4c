"""Differential test: lora-lint's replay of peft against the real ``get_peft_model``.

Each case builds a model on the meta device (tiny configs derived from the real families in
tests/fixtures/models, plus three real-size shapes), runs peft 0.21.2 on it and compares the
targeted module names, the targeted parameter names and ``get_nb_trainable_parameters()``
(trainable and total) with ``lora_lint.models.analyze_spec``; when peft raises (at ``LoraConfig`` or
in ``get_peft_model``), lora-lint must predict the same exception class with the same message.
"""

import re

import pytest
from differential import run_ours, run_peft

CASES = [
 ("llama-3.1-8b", None, dict(target_modules="all-linear", r=16)),
 ("llama-3.1-8b", None, dict(target_modules=["q_proj", "v_proj"], r=16)),
 ("mixtral-8x7b-v0.1", None, dict(target_modules="all-linear", r=16)),
 ("qwen2.5-vl-7b-instruct", None, dict(target_modules="all-linear", r=16)),
 ("tiny-llama", None, dict(target_modules=["q_proj","v_proj"])),
 ("tiny-llama", None, dict()),
 ("tiny-llama", None, dict(target_modules="all-linear")),
 ("tiny-llama", None, dict(target_modules=["q_proj","query"])),
 ("tiny-llama", None, dict(target_modules=["q_prj"])),
 ("tiny-llama", None, dict(target_modules=r".*\.(q_proj|v_proj)", use_dora=True)),
 ("tiny-llama", None, dict(target_modules=["q_proj","v_proj","o_proj"], layers_to_transform=[0,2])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], layers_to_transform=[7])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], layers_to_transform=[1], layers_pattern="layers")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], layers_to_transform=[1], layers_pattern="h")),
 ("tiny-llama", None, dict(target_modules="all-linear", exclude_modules=["down_proj"])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], exclude_modules=["q_proj"])),
 ("tiny-llama", None, dict(target_modules=["q_proj","k_proj"], rank_pattern={"q_proj":16, r"layers\.1\.self_attn\.k_proj":4}, alpha_pattern={"k_proj":3})),
 ("tiny-llama", None, dict(target_modules=["q_proj"], modules_to_save=["lm_head"])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], modules_to_save=["head"])),
 ("tiny-llama", None, dict(target_modules=["q_proj", "lm_head"], modules_to_save=["lm_head"])),
 ("tiny-llama", None, dict(target_modules=["q_proj", "embed_tokens", "lm_head"])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_bias=True)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], trainable_token_indices=[1,2,3])),
 ("tiny-llama", None, dict(target_modules=["input_layernorm"])),
 ("tiny-llama", None, dict(target_modules=["self_attn"])),
 ("tiny-llama-tied", None, dict(target_modules=["q_proj"], trainable_token_indices=[1,2,3])),
 ("tiny-llama-tied", None, dict(target_modules=["q_proj"], modules_to_save=["lm_head"])),
 ("tiny-llama", "SequenceClassification", dict(target_modules="all-linear", task_type="SEQ_CLS")),
 ("tiny-llama", "SequenceClassification", dict(target_modules="all-linear")),
 ("tiny-llama", "TokenClassification", dict(target_modules="all-linear", task_type="TOKEN_CLS")),
 ("tiny-llama", "SequenceClassification", dict(target_modules=["q_proj"], task_type="CAUSAL_LM")),
 ("tiny-llama", "TokenClassification", dict(target_modules="all-linear", task_type="SEQ_2_SEQ_LM")),
 ("tiny-llama", "AutoModel", dict(target_modules=["q_proj"], task_type="CAUSAL_LM")),
 ("tiny-llama", "AutoModel", dict(target_modules=["q_proj"], task_type="FEATURE_EXTRACTION")),
 ("tiny-bert", "MaskedLM", dict(target_modules=["query"], task_type="CAUSAL_LM")),
 ("tiny-llama", "TokenClassification", dict(target_modules="all-linear", task_type="TOKEN_CLS", exclude_modules=["score"])),
 ("tiny-llama", "QuestionAnswering", dict(target_modules=["q_proj"], task_type="QUESTION_ANS")),
 ("tiny-llama", "QuestionAnswering", dict(target_modules="all-linear", task_type="QUESTION_ANS")),
 ("tiny-mistral", None, dict(target_modules=["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"], use_rslora=True, r=16)),
 ("tiny-mixtral", None, dict()),
 ("tiny-mixtral", None, dict(target_modules=["q_proj","w1","w2","w3"])),
 ("tiny-mixtral", None, dict(target_modules=["q_proj","w1","w2"])),
 ("tiny-mixtral", None, dict(target_modules="all-linear")),
 ("tiny-mixtral", None, dict(target_modules=r".*\.(q_proj|w1|w3)")),
 ("tiny-mixtral", None, dict(target_modules=["q_proj"], target_parameters=["mlp.experts.gate_up_proj"])),
 ("tiny-qwen2", None, dict(target_modules="all-linear", bias="lora_only")),
 ("tiny-qwen2", None, dict(target_modules=["q_proj","k_proj","v_proj"], bias="all")),
 ("tiny-qwen2", None, dict(target_modules=["lm_head"])),
 ("tiny-qwen3-moe", None, dict(target_modules=["q_proj","gate_proj","up_proj","down_proj"])),
 ("tiny-qwen3-moe", None, dict(target_modules="all-linear")),
 ("tiny-qwen3-moe", None, dict()),
 ("tiny-qwen3-moe", None, dict(target_modules=["q_proj","v_proj"], target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"])),
 ("tiny-phi3", None, dict(target_modules=["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"])),
 ("tiny-phi3", None, dict()),
 ("tiny-phi3", None, dict(target_modules=["qkv_proj","gate_up_proj"], use_dora=True)),
 ("tiny-gemma2", None, dict(target_modules="all-linear")),
 ("tiny-gemma2", None, dict()),
 ("tiny-gpt2", None, dict(target_modules=["c_attn","c_proj"], use_dora=True)),
 ("tiny-gpt2", None, dict()),
 ("tiny-gpt2", None, dict(target_modules="all-linear", fan_in_fan_out=True, bias="all")),
 ("tiny-gpt-neox", None, dict()),
 ("tiny-gpt-neox", None, dict(target_modules="all-linear", lora_bias=True)),
 ("tiny-bert", "SequenceClassification", dict(task_type="SEQ_CLS")),
 ("tiny-bert", "SequenceClassification", dict()),
 ("tiny-bert", "SequenceClassification", dict(target_modules=["query","value"], bias="lora_only")),
 ("tiny-bert", "SequenceClassification", dict(target_modules=["query","value"], bias="all", modules_to_save=["classifier"])),
 ("tiny-bert", "SequenceClassification", dict(target_modules="all-linear", task_type="SEQ_CLS", modules_to_save=["pooler"])),
 ("tiny-bert", "SequenceClassification", dict(target_modules=["dense"], modules_to_save=["dense"])),
 ("tiny-t5", None, dict()),
 ("tiny-t5", None, dict(target_modules="all-linear", task_type="SEQ_2_SEQ_LM")),
 ("tiny-t5", None, dict(target_modules=["q","v"], trainable_token_indices=[5,6])),
 ("tiny-t5", None, dict(target_modules=["q","v","shared"])),
 ("tiny-t5", None, dict(target_modules=["q"], modules_to_save=["embed_tokens"])),
 ("tiny-llava", None, dict(target_modules="all-linear")),
 ("tiny-llava", None, dict(target_modules=["q_proj","v_proj"])),
 ("tiny-llava", None, dict()),
 ("tiny-llava", None, dict(target_modules=r".*language_model.*\.(q_proj|v_proj)")),
 ("tiny-llava", None, dict(target_modules=["q_proj","v_proj"], layers_to_transform=[1])),
 ("tiny-qwen2.5-vl", None, dict(target_modules="all-linear")),
 ("tiny-qwen2.5-vl", None, dict(target_modules=["q_proj","v_proj", "qkv"])),
 ("tiny-qwen2.5-vl", None, dict(target_modules=["patch_embed.proj"], use_dora=True)),
 ("tiny-qwen2-moe", None, dict(target_modules=["q_proj", "gate_proj", "up_proj", "down_proj"])),
 ("tiny-qwen2-moe", None, dict(target_modules="all-linear")),
 ("tiny-qwen2-moe", None, dict(target_modules=["q_proj"], target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"], rank_pattern={"gate_up_proj": 4})),
 ("tiny-jamba", None, dict(target_modules=["q_proj", "v_proj", "in_proj", "out_proj"])),
 ("tiny-jamba", None, dict(target_modules="all-linear", use_dora=True)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], trainable_token_indices={"embed_tokens": [1, 2]})),
 ("tiny-llama", None, dict(target_modules=["q_proj"], trainable_token_indices={"embed_tokens": [1, 2]}, modules_to_save=["embed_tokens"])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], trainable_token_indices=[1, 2], modules_to_save=["embed_tokens"])),
 ("tiny-llama-tied", None, dict(target_modules=["q_proj"], trainable_token_indices={"embed_tokens": [1, 2], "lm_head": [1, 2]})),
 ("tiny-llama-tied", None, dict(target_modules=["q_proj"], trainable_token_indices={"embed_tokens": [1, 2], "lm_head": [3]})),
 ("tiny-llama", None, dict(target_modules=["q_proj"], inference_mode=True)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], modules_to_save=["layers"])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], modules_to_save=["mlp"])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], modules_to_save=["attn"])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], exclude_modules="nothing")),
 ("tiny-llama", None, dict(target_modules=["q_proj", "v_proj"], layers_to_transform=2)),
 ("tiny-llama", None, dict(target_modules=[], target_parameters=["self_attn.q_proj.weight"])),
 ("tiny-llama", None, dict(target_modules=[])),
 ("tiny-llava", None, dict(target_modules=["q_proj","v_proj"], layers_to_transform=[1], layers_pattern="language_model.layers")),
 ("tiny-llava", None, dict(target_modules=["patch_embedding"], r=4)),
 ("tiny-llava", None, dict(target_modules=["patch_embedding"], r=4, use_dora=True, lora_bias=False)),
 # ensure_weight_tying: the tied partner shares the embedding's adapter or copy
 ("tiny-llama-tied", None, dict(target_modules=["q_proj", "embed_tokens"], ensure_weight_tying=True)),
 ("tiny-llama-tied", None, dict(target_modules=["q_proj", "lm_head"], ensure_weight_tying=True)),
 ("tiny-llama-tied", None, dict(target_modules=["q_proj"], modules_to_save=["lm_head"], ensure_weight_tying=True)),
 ("tiny-llama-tied", None, dict(target_modules=["q_proj"], modules_to_save=["embed_tokens"], ensure_weight_tying=True)),
 ("tiny-llama-tied", None, dict(target_modules=r".*\.(q_proj|embed_tokens)", ensure_weight_tying=True)),
 ("tiny-llama-tied", None, dict(target_modules="all-linear", ensure_weight_tying=True)),
 ("tiny-llama-tied", None, dict(target_modules=["q_proj"], ensure_weight_tying=True,
                                trainable_token_indices={"embed_tokens": [1, 2], "lm_head": [3]})),
 ("tiny-llama", None, dict(target_modules=["q_proj", "embed_tokens"], ensure_weight_tying=True)),
 # layer_replication
 ("tiny-llama", None, dict(target_modules=["q_proj"], layer_replication=[[0, 2], [1, 2]])),
 ("tiny-llama", None, dict(target_modules="all-linear", layer_replication=[[0, 4], [2, 4]])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], layer_replication=[[0, 6]])),
 ("tiny-bert", "SequenceClassification", dict(target_modules=["query", "value"], task_type="SEQ_CLS",
                                              layer_replication=[[0, 2], [0, 2]])),
 ("tiny-gpt2", None, dict(target_modules=["c_attn"], layer_replication=[[0, 2]])),
 # layers_to_transform as a tuple or a range
 ("tiny-llama", None, dict(target_modules=["q_proj"], layers_to_transform=(0, 3))),
 ("tiny-llama", None, dict(target_modules=["q_proj"], layers_to_transform=())),
 ("tiny-llama", None, dict(target_modules=["q_proj"], layers_to_transform=range(1, 3))),
 ("tiny-llama", None, dict(target_modules=["q_proj", "lm_head"], layers_to_transform=[0])),
 ("tiny-llama", None, dict(target_modules=["q_proj", "embed_tokens"], layers_to_transform=[0])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], layers_to_transform=[0], layers_pattern="")),
 # exceptions the analysis predicts
 ("tiny-llama", None, dict(target_modules=["q_proj", "embed_tokens"], lora_bias=True)),
 ("tiny-llama", None, dict(target_modules=["q_proj", "embed_tokens"], trainable_token_indices=[1, 2])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], trainable_token_indices={"tok_embeddings": [1]})),
 ("tiny-llama", None, dict(target_modules=["q_proj"], target_parameters=["q_proj.weight"])),
 ("tiny-llama", "TokenClassification", dict(target_modules="all-linear", task_type="TOKEN_CLS")),
 ("tiny-qwen3-moe", None, dict(target_modules=["q_proj", "gate_proj", "down_proj"])),
 ("tiny-mixtral", None, dict(target_modules=["q_proj", "w3"])),
 ("tiny-llama", None, dict(target_modules=["q_proj", "v_proj"], rank_pattern={"v_proj": 0})),
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_dropout=1.5)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_dropout=1.0)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], init_lora_weights="kaiming")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], init_lora_weights="pissa_niter_x")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], init_lora_weights="orthogonal", r=7)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_bias=True, init_lora_weights="gaussian")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_bias=True, use_dora=True)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], bias="foo")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], bias="x_only")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], r=8.0)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], task_type="causal_lm")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], use_dora=True, alora_invocation_tokens=[5])),
 ("tiny-qwen2.5-vl", None, dict(target_modules=["patch_embed.proj"], velora_config={"num_groups": 4})),
 ("tiny-qwen2.5-vl", None, dict(target_modules=["patch_embed.proj"], alora_invocation_tokens=[3])),
 ("tiny-llama", None, dict(target_modules=["embed_tokens"], arrow_config={"top_k": 1})),
 ("tiny-llama", None, dict(target_modules=["embed_tokens"], use_dora=True)),
 ("tiny-llama", None, dict(target_modules=[], target_parameters=["self_attn.q_proj.weight"], arrow_config={"top_k": 1})),
 ("tiny-llama", None, dict(target_modules=[], target_parameters=["self_attn.q_proj.weight"], kasa_config={})),
 ("tiny-llama", None, dict(target_modules=[], target_parameters=["self_attn.q_proj.weight"], rank_pattern={"q_proj": 0})),
]

#: peft-verified figures for real shapes (research/models.md §2.5, research/peft.md §5c).
PUBLISHED = {0: 41_943_040, 1: 6_815_744, 2: 359_665_664, 3: 51_824_640}


def _id(case):
    name, model_class, kwargs = case
    return f"{name}{'-' + model_class if model_class else ''}-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


def normalized(error: str) -> str:
    """peft's message with the parts that vary between runs put in a canonical form: the order of a
    printed set, and the repr of an unsupported module (lora-lint writes ``Class(...)``)."""
    error = re.sub(r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", error)
    return re.sub(r"Target module (\w+)\(.*\) is not supported", r"Target module \1(...) is not supported", error,
                  flags=re.S)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[_id(c) for c in CASES])
def test_matches_peft(i):
    name, model_class, kwargs = CASES[i]
    peft = run_peft(name, model_class, kwargs)
    ours = run_ours(name, model_class, kwargs)
    if peft[0] == "error" or ours[0] == "error":
        assert ours[0] == peft[0] == "error", f"peft: {peft}\nours: {ours}"
        assert normalized(ours[1]) == normalized(peft[1])  # same exception, same words
        return
    assert ours[0] == peft[0]  # targeted modules, in peft's order
    assert sorted(ours[1]) == sorted(peft[1])  # targeted parameters
    assert ours[2] == peft[2]  # (trainable, total)
    if i in PUBLISHED:
        assert ours[2][0] == PUBLISHED[i]


def test_enough_pairs():
    models = {c[0] for c in CASES}
    for family in ("llama", "mistral", "mixtral", "qwen2", "qwen3-moe", "phi3", "gemma2", "gpt2", "gpt-neox",
                   "bert", "t5", "llava", "qwen2.5-vl"):
        assert f"tiny-{family}" in models
    assert len(CASES) >= 40


# Python sources whose values the static evaluator must follow (builtin calls, tuples), replayed
# from the source and compared with real peft given the same values.
SOURCE_CASES = [
 ("tiny-llama", "LoraConfig(target_modules=['q_proj', 'v_proj'], rank_pattern=dict(q_proj=4))",
  dict(target_modules=["q_proj", "v_proj"], rank_pattern={"q_proj": 4})),
 ("tiny-llama", "LoraConfig(target_modules=['q_proj'], r=4, alpha_pattern=dict(q_proj=32, v_proj=2))",
  dict(target_modules=["q_proj"], r=4, alpha_pattern={"q_proj": 32, "v_proj": 2})),
 ("tiny-llama", "LoraConfig(target_modules=['q_proj'], layers_to_transform=list(range(1, 3)))",
  dict(target_modules=["q_proj"], layers_to_transform=[1, 2])),
 ("tiny-llama", "LAYERS = tuple(range(2, 8))\nLoraConfig(target_modules=['q_proj', 'v_proj'], layers_to_transform=LAYERS)",
  dict(target_modules=["q_proj", "v_proj"], layers_to_transform=(2, 3, 4, 5, 6, 7))),
 ("tiny-llama", "LoraConfig(target_modules=('q_proj', 'o_proj'), layers_to_transform=(0, 3))",
  dict(target_modules=("q_proj", "o_proj"), layers_to_transform=(0, 3))),
 ("tiny-llama", "LoraConfig(target_modules=['q_proj'], layers_to_transform=list(range(4, 8)))",
  dict(target_modules=["q_proj"], layers_to_transform=[4, 5, 6, 7])),
 ("tiny-llama-tied", "LoraConfig(target_modules=['q_proj', 'embed_tokens'], ensure_weight_tying=True)",
  dict(target_modules=["q_proj", "embed_tokens"], ensure_weight_tying=True)),
 ("tiny-llama", "LoraConfig(target_modules=['q_proj'], layer_replication=[(0, 2), (1, 3)])",
  dict(target_modules=["q_proj"], layer_replication=[(0, 2), (1, 3)])),
]


@pytest.mark.parametrize("name,src,kwargs", SOURCE_CASES, ids=[c[1][-60:] for c in SOURCE_CASES])
def test_python_source_matches_peft(name, src, kwargs):
    from conftest import sites_for_text
    from differential import inventory

    from lora_lint.models import analyze

    (site,) = sites_for_text("case.py", f"from peft import LoraConfig\n{src}\n")
    a = analyze(site, inventory(name, None))
    peft = run_peft(name, None, kwargs)
    if peft[0] == "error":
        assert a.failure is not None and normalized(str(a.failure)) == normalized(peft[1])
        return
    assert a.failure is None and a.withheld is None
    assert (list(a.targeted), (a.trainable, a.total)) == (peft[0], peft[2])


# Configs that do not write the loading class: the task type decides the head (and the count).
HEAD_CASES = [
 ("tiny-bert", "SequenceClassification", dict(task_type="SEQ_CLS", target_modules=["query", "value"], r=16)),
 ("tiny-llama", "SequenceClassification", dict(task_type="SEQ_CLS", target_modules=["q_proj", "v_proj"])),
 ("tiny-llama", "TokenClassification", dict(task_type="TOKEN_CLS", target_modules=["q_proj", "v_proj"])),
 ("tiny-llama", "QuestionAnswering", dict(task_type="QUESTION_ANS", target_modules=["q_proj", "v_proj"])),
]


@pytest.mark.parametrize("name,model_class,kwargs", HEAD_CASES, ids=[f"{c[0]}-{c[1]}" for c in HEAD_CASES])
@pytest.mark.parametrize("form", ["adapter_config.json", "train.py"])
def test_task_type_decides_the_head_class(tmp_path, capsys, monkeypatch, name, model_class, kwargs, form):
    import json

    from differential import MODELS

    from lora_lint.cli import main
    from lora_lint.models import context

    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "cache"))
    context._memo.clear()
    base = str((MODELS / name).resolve())
    if form == "adapter_config.json":
        text = json.dumps(dict(kwargs, peft_type="LORA", base_model_name_or_path=base))
    else:  # a script that builds the model some other way
        text = (f"# lora-lint: base-model={base}\nfrom peft import LoraConfig\n"
                f"LoraConfig({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})\n")
    (tmp_path / form).write_text(text)
    assert main(["report", "--output-format", "json", "--offline", str(tmp_path / form)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    targeted, _, (trainable, total) = run_peft(name, model_class, kwargs)
    assert row["architecture"].endswith("For" + model_class)
    assert (row["trainable_params"], row["peft_all_params"], row["targeted_modules"]) == (
        trainable, total, len(targeted))
