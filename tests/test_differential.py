"""Differential test: lora-lint's replay of peft against the real ``get_peft_model``.

Each case builds a model on the meta device (tiny configs derived from the real families in
tests/fixtures/models, plus three real-size shapes), runs peft 0.21.2 on it and compares the
targeted module names, the targeted parameter names and ``get_nb_trainable_parameters()``
(trainable and total) with ``lora_lint.models.analyze_spec``; when peft raises, lora-lint must
report an error with the same wording.
"""

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
]

#: peft-verified figures for real shapes (research/models.md §2.5, research/peft.md §5c).
PUBLISHED = {0: 41_943_040, 1: 6_815_744, 2: 359_665_664, 3: 51_824_640}


def _id(case):
    name, model_class, kwargs = case
    return f"{name}{'-' + model_class if model_class else ''}-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("i", range(len(CASES)), ids=[_id(c) for c in CASES])
def test_matches_peft(i):
    name, model_class, kwargs = CASES[i]
    peft = run_peft(name, model_class, kwargs)
    ours = run_ours(name, model_class, kwargs)
    if peft[0] == "error" or ours[0] == "error":
        assert ours[0] == peft[0] == "error", f"peft: {peft}\nours: {ours}"
        # same wording up to the (unordered) set peft prints
        words = []
        for w in ours[1].split()[:6]:
            if "{" in w or "(" in w:
                break
            words.append(w)
        assert len(words) >= 2 and " ".join(words) in peft[1], f"peft: {peft[1]}\nours: {ours[1]}"
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
