"""Every config peft rejects: real peft raises, ``check`` gives an error finding, ``report`` shows
peft's exception and no count.

Each case is written as a Python script naming a tiny model; the real ``LoraConfig`` and
``get_peft_model`` run on the same model (meta device) and must raise, and lora-lint must predict
the same exception class and message.
"""

import json

import pytest
from differential import MODELS, run_peft
from test_differential import normalized

from lora_lint.cli import main
from lora_lint.models import context
from lora_lint.pipeline import lint_text
from lora_lint.settings import Settings

LOADERS = {"SequenceClassification": "AutoModelForSequenceClassification",
           "TokenClassification": "AutoModelForTokenClassification",
           "QuestionAnswering": "AutoModelForQuestionAnswering"}

REJECTED = [
 # LoraConfig(...) raises (config.py:95-100, tuners/lora/config.py:1036-1088)
 ("tiny-llama", None, dict(target_modules=["q_proj"], task_type="CAUSAL")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], target_parameters="mlp.experts.down_proj")),
 ("tiny-llama", None, dict(target_modules=".*q_proj", layers_to_transform=[0])),
 ("tiny-llama", None, dict(target_modules=".*q_proj", layers_pattern="layers")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], layers_pattern="layers")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], use_dora=True, megatron_config={"tensor_model_parallel_size": 1})),
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_bias=True, init_lora_weights="gaussian")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_bias=True, use_dora=True)),
 # creating a LoRA layer raises (tuners/lora/layer.py)
 ("tiny-llama", None, dict(target_modules=["q_proj"], r=0)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], r=-4)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], r=8.0)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], r="8")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], r=True)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], r=None)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_alpha=None)),  # axolotl without lora_alpha
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_alpha=None, use_rslora=True)),
 ("tiny-llama", None, dict(target_modules=["q_proj", "v_proj"], alpha_pattern={"v_proj": "16"})),
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_dropout=1.5)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], lora_dropout="0.1")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], init_lora_weights="kaiming")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], init_lora_weights="PiSSA")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], init_lora_weights="pissa_niter_x")),
 ("tiny-llama", None, dict(target_modules=["q_proj"], init_lora_weights=1)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], init_lora_weights="orthogonal", r=7)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], use_dora=True, alora_invocation_tokens=[5])),
 ("tiny-llama", None, dict(target_modules=["q_proj", "v_proj"], rank_pattern={"v_proj": 0})),
 ("tiny-llama", None, dict(target_modules=["q_proj", "embed_tokens"], lora_bias=True)),
 ("tiny-llama", None, dict(target_modules=["input_layernorm"])),
 # get_peft_model raises while matching or wrapping (tuners/tuners_utils.py, utils/other.py)
 ("tiny-llama", None, dict(target_modules=["q_prj"])),
 ("tiny-llama", None, dict(target_modules=[])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], exclude_modules=["q_proj"])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], layers_to_transform=[7])),
 ("tiny-phi3", None, dict()),
 ("tiny-mixtral", None, dict(target_modules=["q_proj", "w1", "w2"])),
 ("tiny-mixtral", None, dict(target_modules="all-linear", lora_dropout=0.05)),
 ("tiny-llama", None, dict(target_modules=[], target_parameters=["self_attn.q_proj.weight"], lora_dropout=0.1)),
 ("tiny-llama", None, dict(target_modules=["q_proj"], target_parameters=["q_proj.weight"])),
 ("tiny-llama", None, dict(target_modules=["q_proj", "embed_tokens"], trainable_token_indices=[1, 2])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], trainable_token_indices={"tok_embeddings": [1]})),
 ("tiny-llama", None, dict(target_modules=["q_proj"], trainable_token_indices={"embed_tokens": [1]},
                           modules_to_save=["embed_tokens"])),
 ("tiny-llama-tied", None, dict(target_modules=["q_proj"], ensure_weight_tying=True,
                                trainable_token_indices={"embed_tokens": [1, 2], "lm_head": [3]})),
 ("tiny-llama", None, dict(target_modules=["q_proj", "lm_head"], modules_to_save=["head"])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], modules_to_save=["layers"])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], bias="lora")),
 ("tiny-llama", "TokenClassification", dict(target_modules="all-linear", task_type="TOKEN_CLS")),
 ("tiny-llama", "QuestionAnswering", dict(target_modules="all-linear", task_type="QUESTION_ANS")),
 ("tiny-gpt2", None, dict(target_modules=["c_attn"], layer_replication=[[0, 2]])),
 ("tiny-llama", None, dict(target_modules=["q_proj"], layer_replication=[[0, 6]])),
]


def _id(case):
    name, model_class, kwargs = case
    return f"{name}{'-' + model_class if model_class else ''}-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


def script(name: str, model_class: str | None, kwargs: dict) -> str:
    base = (MODELS / name).resolve()
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    if model_class is None:
        return f"# lora-lint: base-model={base}\nfrom peft import LoraConfig\nconfig = LoraConfig({args})\n"
    loader = LOADERS[model_class]
    return (f"from transformers import {loader}\nfrom peft import LoraConfig\n"
            f'model = {loader}.from_pretrained("{base}")\nconfig = LoraConfig({args})\n')


@pytest.mark.parametrize("case", REJECTED, ids=[_id(c) for c in REJECTED])
def test_rejected_config_is_an_error_and_not_counted(case, tmp_path, capsys, monkeypatch):
    name, model_class, kwargs = case
    peft = run_peft(name, model_class, kwargs)
    assert peft[0] == "error", f"peft accepts {kwargs}: {peft}"
    src = script(name, model_class, kwargs)
    errors = [f for f in lint_text("train.py", src, Settings()) if str(f.severity) == "error"]
    assert errors, f"no error finding; peft raises {peft[1]}"
    ll211 = {f.span for f in errors if f.code == "LL211"}
    assert not any(f.span in ll211 for f in errors if f.code != "LL211"), "one exception, two findings"
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "cache"))
    context._memo.clear()
    (tmp_path / "train.py").write_text(src)
    assert main(["report", "--output-format", "json", "--offline", str(tmp_path / "train.py")]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["trainable_params"] is None and row["adapter_bytes"] is None and row["trainable_percent"] is None
    assert row["peft_error"] is not None and normalized(row["peft_error"]) == normalized(peft[1])
    assert row["not_counted"] is None


def test_report_text_says_why_there_is_no_count(tmp_path, capsys):
    base = (MODELS / "tiny-llama").resolve()
    (tmp_path / "train.py").write_text(
        f"# lora-lint: base-model={base}\nfrom peft import LoraConfig\n"
        "LoraConfig(target_modules=['q_proj', 'w1'], lora_dropout=1.5)\n"
        "LoraConfig(target_modules=['q_proj'], r=R)\n"
        "LoraConfig(target_modules=['q_proj'], use_dora=True, lora_bias=True)\n")
    assert main(["report", "--offline", str(tmp_path / "train.py")]) == 0
    out = capsys.readouterr().out
    assert "train.py:3:1: get_peft_model would fail with ValueError: dropout probability has to be between 0 and 1" in out
    assert "train.py:4:1: not counted, because r is not statically known" in out
    assert "train.py:5:1: LoraConfig(...) would fail with ValueError: The argument lora_bias=True" in out


def test_report_without_a_model_still_shows_what_loraconfig_rejects(tmp_path, capsys):
    (tmp_path / "train.py").write_text("from peft import LoraConfig\nLoraConfig(r=8, layers_pattern='layers')\n")
    assert main(["report", "--output-format", "json", "--offline", str(tmp_path / "train.py")]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["peft_error"].startswith("ValueError: When `layers_pattern` is specified")
    assert row["peft_error_at"] == "LoraConfig" and row["trainable_params"] is None
