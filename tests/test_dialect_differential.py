"""Differential test of the YAML dialects: what lora-lint's ``report`` says a framework config trains
equals what the framework's own loading code hands to real peft.

Each case is a framework YAML config and a base model (tiny test models from tests/fixtures/models,
catalog models at their real sizes). lora-lint reads the file with its dialect, resolves the model
and reports the targeted modules and the trainable and total parameters. The other side,
tests/dialect_replays.py, replays the framework's path from the same YAML to ``get_peft_model``
(written from the framework's source, file:line in each function) on a model built on the meta
device with the class the framework loads, and runs real peft 0.21.2. Targeted module names,
trainable and total parameters must be equal; when the framework's run fails in peft, lora-lint's
report must carry an error and no count.
"""

from __future__ import annotations

import json
import zlib
from functools import cache
from pathlib import Path

import pytest
import yaml
from dialect_replays import REPLAYS

from lora_lint.models import catalog, context
from lora_lint.report import as_dict, collect
from lora_lint.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "models"


@cache
def model_config(model: str) -> dict:
    if "/" in model:
        return json.loads((catalog.CATALOG / catalog.model_ids()[model]).read_text())
    return json.loads((FIXTURES / model / "config.json").read_text())


def model_ref(model: str) -> str:
    return model if "/" in model else str(FIXTURES / model)


#: (dialect, base model, YAML body without the base model line, the framework's key for it)
CASES = [
    # axolotl: lora_target_linear is axolotl's own finder (class name contains "Linear"), united
    # with lora_target_modules; neither gives peft an empty list
    ("axolotl", "tiny-llama", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"),
    ("axolotl", "tiny-llama", "lora_r: 8\nlora_alpha: 16\nlora_target_modules: [q_proj, v_proj]\n"),
    ("axolotl", "tiny-llama", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\nlora_target_modules: [lm_head, embed_tokens]\n"),
    ("axolotl", "tiny-llama", "lora_r: 8\nlora_alpha: 16\n"),
    ("axolotl", "tiny-llama", "lora_r: 8\nlora_alpha: 16\nlora_target_modules: 'model.layers.[01].self_attn.(q|v)_proj'\n"),
    ("axolotl", "tiny-llama", "lora_r: 8\nlora_target_linear: true\n"),
    ("axolotl", "tiny-llama", "lora_alpha: 16\nlora_target_linear: true\n"),
    ("axolotl", "tiny-gpt2", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"),
    ("axolotl", "tiny-gpt2", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\nlora_target_modules: [c_attn]\n"),
    ("axolotl", "tiny-gpt-neox", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"),
    ("axolotl", "tiny-mixtral", "lora_r: 8\nlora_alpha: 16\nlora_dropout: 0.05\nlora_target_linear: true\n"),
    ("axolotl", "tiny-qwen2-moe", "lora_r: 8\nlora_alpha: 16\nlora_dropout: 0.05\nlora_target_linear: true\n"),
    ("axolotl", "tiny-qwen3-moe", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"),
    ("axolotl", "tiny-qwen2.5-vl", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"),
    ("axolotl", "tiny-llava", "lora_r: 8\nlora_alpha: 16\nlora_target_modules: [q_proj, v_proj]\n"),
    ("axolotl", "tiny-qwen2", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\nlora_modules_to_save: [embed_tokens, lm_head]\n"),
    ("axolotl", "tiny-llama", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\nreward_model: true\n"),
    ("axolotl", "meta-llama/Llama-3.2-1B", "lora_r: 32\nlora_alpha: 16\nlora_target_linear: true\n"),
    ("axolotl", "Qwen/Qwen3-30B-A3B", "lora_r: 16\nlora_alpha: 32\nlora_target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]\n"),
]

LF = [
    # LLaMA-Factory v0: `all` is its own finder; a vision-language model's targets become full
    # names outside the frozen vision tower and projector (freeze_vision_tower: true by default)
    ("llama-factory", "tiny-llama", "lora_rank: 8\n"),
    ("llama-factory", "tiny-llama", "lora_target: q_proj, v_proj\nlora_alpha: 0\n"),
    ("llama-factory", "tiny-llama", "lora_target: all\nadditional_target: embed_tokens,lm_head\nlora_rank: 4\n"),
    ("llama-factory", "tiny-gpt2", "lora_target: all\n"),
    ("llama-factory", "tiny-gpt-neox", "lora_target: all\n"),
    ("llama-factory", "tiny-mixtral", "lora_target: all\n"),
    ("llama-factory", "tiny-qwen3-moe", "lora_target: q_proj,gate_proj,up_proj,down_proj\n"),
    ("llama-factory", "tiny-qwen2.5-vl", "lora_target: all\n"),
    ("llama-factory", "tiny-qwen2.5-vl", "lora_target: all\nfreeze_vision_tower: false\n"),
    ("llama-factory", "tiny-qwen2.5-vl", "lora_target: all\nfreeze_vision_tower: false\nfreeze_multi_modal_projector: false\n"),
    ("llama-factory", "tiny-qwen2.5-vl", "lora_target: q_proj,v_proj,qkv\n"),
    ("llama-factory", "tiny-llava", "lora_target: all\n"),
    ("llama-factory", "tiny-llava", "lora_target: q_proj,v_proj\n"),
    ("llama-factory", "tiny-llava", "lora_target: q_proj,v_proj\nfreeze_vision_tower: false\n"),
    ("llama-factory", "tiny-llava", "lora_target: mlp\n"),
    ("llama-factory", "Qwen/Qwen2.5-VL-7B-Instruct", "lora_rank: 16\nlora_target: all\n"),
    ("llama-factory", "google/gemma-3-4b-it", "lora_rank: 16\nlora_target: all\n"),
    ("llama-factory", "meta-llama/Meta-Llama-3-8B", "lora_rank: 8\nlora_target: all\n"),
]
CASES += LF

LF_V1 = [
    # LLaMA-Factory v1: `all` is v1's finder (skips any name containing "output", spares no tower)
    ("llama-factory-v1", "tiny-llama", "peft_config:\n  name: lora\n  r: 16\n  lora_alpha: 32\n  target_modules: all\n"),
    ("llama-factory-v1", "tiny-llama", "peft_config:\n  name: lora\n  target_modules: q_proj\n"),
    ("llama-factory-v1", "tiny-llama", "peft_config:\n  name: lora\n  target_modules: [q_proj, v_proj]\n  modules_to_save: [lm_head]\n"),
    ("llama-factory-v1", "tiny-bert", "peft_config:\n  name: lora\n  target_modules: all\n"),
    ("llama-factory-v1", "tiny-qwen2.5-vl", "peft_config:\n  name: lora\n  target_modules: all\n"),
    ("llama-factory-v1", "tiny-gpt2", "peft_config:\n  name: lora\n  r: '4'\n"),
    ("llama-factory-v1", "Qwen/Qwen3-4B", "model_class: llm\npeft_config:\n  name: lora\n  r: 16\n  lora_alpha: 32\n  target_modules: all\n"),
]
CASES += LF_V1

TRL = [
    # TRL ModelConfig: defaults r=16/α=32; a one-item lora_target_modules list becomes a regex
    ("trl", "tiny-llama", "use_peft: true\n"),
    ("trl", "tiny-llama", "use_peft: true\nlora_target_modules: [q_proj]\n"),
    ("trl", "tiny-llama", "use_peft: true\nlora_target_modules: [q_proj, v_proj]\nlora_r: '8'\n"),
    ("trl", "tiny-llama", "use_peft: true\nlora_target_modules: all-linear\nlora_modules_to_save: [lm_head]\n"),
    ("trl", "tiny-llama", "use_peft: true\nlora_target_modules: [all-linear]\nuse_dora: true\n"),
    ("trl", "tiny-mixtral", "use_peft: true\nlora_target_modules: [q_proj, w1, w2, w3]\nlora_dropout: 0.0\n"),
    ("trl", "tiny-qwen2.5-vl", "use_peft: true\nlora_target_modules: all-linear\n"),
    ("trl", "tiny-gpt2", "use_peft: true\nlora_target_modules: [c_attn, c_proj]\n"),
    ("trl", "Qwen/Qwen2.5-7B", "use_peft: true\nlora_r: 64\nlora_alpha: 16\nlora_target_modules: all-linear\n"),
    ("alignment-handbook", "tiny-mistral", "use_peft: true\nlora_r: 16\nlora_alpha: 16\n"
     "lora_target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]\n"),
    ("alignment-handbook", "tiny-gemma2", "use_peft: true\nlora_r: 16\nlora_target_modules: all-linear\n"),
    ("alignment-handbook", "mistralai/Mistral-7B-v0.1", "use_peft: true\nlora_r: 128\nlora_alpha: 128\n"
     "lora_target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]\n"),
]
CASES += TRL


def _tt(builder, body, model_type="LLAMA3_2", download=None):
    """A torchtune recipe: the HF id from the `tune download` comment of checkpoint_dir."""
    head = f"# tune download {download} --output-dir /tmp/m\n" if download else ""
    return (f"{head}model:\n  _component_: torchtune.models.{builder}\n{body}"
            f"checkpointer:\n  _component_: torchtune.training.FullModelHFCheckpointer\n"
            f"  checkpoint_dir: /tmp/m\n  model_type: {model_type}\n")


TORCHTUNE = [
    # torchtune's own LoRALinear: r*(in+out) per adapted q/k/v/output_proj, w1/w2/w3, output
    ("torchtune", "tiny-llama", _tt("llama3_2.lora_llama3_2_1b", "  lora_attn_modules: [q_proj, v_proj]\n")),
    ("torchtune", "tiny-llama", _tt("llama3_2.lora_llama3_2_1b", "  lora_attn_modules: [q_proj, k_proj, v_proj, output_proj]\n"
                                    "  apply_lora_to_mlp: True\n  lora_rank: 4\n  lora_alpha: 8\n")),
    ("torchtune", "tiny-llama", _tt("llama3_1.lora_llama3_1_8b", "  lora_attn_modules: [q_proj, v_proj, o_proj]\n"
                                    "  apply_lora_to_output: True\n  use_dora: True\n", "LLAMA3")),
    ("torchtune", "tiny-llama", _tt("llama3_2.lora_llama3_2_1b", "  lora_attn_modules: [q_proj]\n  apply_lora_to_output: True\n")),
    ("torchtune", "tiny-qwen2", _tt("qwen2_5.qlora_qwen2_5_7b_instruct", "  lora_attn_modules: [q_proj, k_proj, v_proj]\n"
                                    "  apply_lora_to_mlp: True\n", "QWEN2")),
    ("torchtune", "tiny-mistral", _tt("mistral.lora_mistral_7b", "  lora_attn_modules: [q_proj, k_proj, v_proj]\n"
                                      "  lora_rank: 64\n  lora_alpha: 16\n", "MISTRAL")),
    ("torchtune", "tiny-gemma2", _tt("gemma2.lora_gemma2_2b", "  lora_attn_modules: [q_proj, v_proj, output_proj]\n"
                                     "  apply_lora_to_mlp: True\n", "GEMMA2")),
    ("torchtune", "meta-llama/Llama-3.2-1B", _tt("llama3_2.lora_llama3_2_1b", "  lora_attn_modules: [q_proj, v_proj, output_proj]\n"
                                                 "  apply_lora_to_mlp: True\n  lora_rank: 64\n  lora_alpha: 128\n",
                                                 download="meta-llama/Llama-3.2-1B")),
    ("torchtune", "meta-llama/Llama-3.1-8B", _tt("llama3_1.lora_llama3_1_8b", "  lora_attn_modules: [q_proj, v_proj, output_proj]\n"
                                                 "  apply_lora_to_mlp: True\n  apply_lora_to_output: True\n",
                                                 "LLAMA3", download="meta-llama/Llama-3.1-8B")),
    ("torchtune", "Qwen/Qwen3-8B", _tt("qwen3.lora_qwen3_8b_base", "  lora_attn_modules: [q_proj, k_proj, v_proj, output_proj]\n"
                                       "  apply_lora_to_mlp: True\n  lora_rank: 32\n  use_dora: True\n",
                                       "QWEN3", download="Qwen/Qwen3-8B")),
]
CASES += TORCHTUNE

UNSLOTH = [
    # the unsloth CLI: a comma string (stripped), the seven projections by default, embed_tokens
    # saved in full instead of adapted, use_loftq without effect
    ("unsloth-studio", "tiny-llama", "lora:\n  lora_r: 16\n"),
    ("unsloth-studio", "tiny-llama", "lora:\n  lora_r: 8\n  target_modules: 'q_proj, v_proj, embed_tokens'\n"),
    ("unsloth-studio", "tiny-qwen2", "lora:\n  lora_r: 8\n  target_modules: 'q_proj,o_proj,lm_head'\n  use_loftq: true\n"),
    ("unsloth-studio", "tiny-mistral", "lora:\n  lora_r: 32\n  use_dora: true\n  use_rslora: true\n  target_modules: ''\n"),
    ("unsloth-studio", "tiny-gemma2", "lora:\n  target_modules: 'all-linear,q_proj'\n"),
    ("unsloth-studio", "Qwen/Qwen3-8B", "lora:\n  lora_r: 16\n  lora_alpha: 16\n"),
]
CASES += UNSLOTH

SWIFT = [
    # ms-swift: all-linear is swift's own finder; YAML values become argv (one string, one name)
    ("ms-swift", "tiny-llama", "lora_rank: 8\n"),
    ("ms-swift", "tiny-llama", "target_modules: all-linear\nlora_rank: 16\nlora_alpha: 32\n"),
    ("ms-swift", "tiny-llama", "target_modules: [q_proj, v_proj]\nmodules_to_save: [lm_head]\n"),
    ("ms-swift", "tiny-llama", "target_modules: [all-linear, all-embedding]\nlora_bias: all\n"),
    ("ms-swift", "tiny-llama", "target_regex: '.*\\.(q|v)_proj'\n"),
    ("ms-swift", "tiny-llama", "target_modules: 'q_proj,v_proj'\nmodules_to_save: [q_proj]\n"),
    ("ms-swift", "tiny-gpt2", "target_modules: all-linear\n"),
    ("ms-swift", "tiny-mixtral", "target_modules: all-linear\nlora_dropout: 0.0\n"),
    ("ms-swift", "tiny-qwen2-moe", "target_modules: all-linear\nlora_dropout: 0.0\n"),
    ("ms-swift", "Qwen/Qwen2.5-7B", "lora_rank: 8\nlora_alpha: 32\ntarget_modules: all-linear\n"),
]
CASES += SWIFT


def _at(task, params):
    return f"task: {task}\nparams:\n  peft: true\n{params}"


AUTOTRAIN = [
    # AutoTrain: all-linear as peft's shorthand, other strings split on "," without stripping,
    # SEQ_CLS on a sequence classifier for llm-reward, stripped names for seq2seq
    ("autotrain", "tiny-llama", _at("llm-sft", "")),
    ("autotrain", "tiny-llama", _at("llm-orpo", "  target_modules: q_proj,v_proj\n  lora_r: 8\n")),
    ("autotrain", "tiny-llama", _at("llm-dpo", "  target_modules: q_proj, v_proj\n")),
    ("autotrain", "tiny-llama", _at("llm-reward", "  target_modules: all-linear\n")),
    ("autotrain", "tiny-llama", _at("llm", "  target_modules: ''\n")),
    ("autotrain", "tiny-qwen2", _at("llm-sft", "  target_modules: ALL-LINEAR\n  lora_alpha: 64\n")),
    ("autotrain", "tiny-t5", _at("seq2seq", "  target_modules: q, v\n  quantization: int8\n")),
    ("autotrain", "tiny-t5", _at("seq2seq", "  target_modules: all-linear\n")),
    ("autotrain", "meta-llama/Meta-Llama-3-8B", _at("llm-sft", "  target_modules: all-linear\n  lora_r: 16\n")),
]
CASES += AUTOTRAIN

HYDRA = [
    # Hydra instantiates peft's LoraConfig with the block's keys: peft's own semantics
    ("hydra", "tiny-llama", "  r: 8\n  target_modules: [q_proj, v_proj]\n"),
    ("hydra", "tiny-llama", "  r: 16\n  lora_alpha: 32\n  target_modules: all-linear\n  use_rslora: true\n"),
    ("hydra", "tiny-mixtral", "  r: 8\n"),
    ("hydra", "tiny-qwen2", "  target_modules: ['q_proj', 'lm_head']\n  modules_to_save: [embed_tokens]\n"),
    ("hydra", "tiny-gpt2", "  target_modules: [c_attn]\n  fan_in_fan_out: true\n"),
]
CASES += HYDRA

HEADERS = {
    "hydra": "model:\n  pretrained_model_name_or_path: {model}\npeft:\n  _target_: peft.LoraConfig\n",
    "autotrain": "base_model: {model}\nproject_name: p\nbackend: local\ndata:\n  path: d\n",
    "ms-swift": "model: {model}\ntrain_type: lora\ndataset: AI-ModelScope/alpaca-gpt4-data-en\n",
    "unsloth-studio": "model: {model}\ntraining:\n  training_type: lora\n  load_in_4bit: true\n",
    "torchtune": "# lora-lint: base-model={model}\n",
    "axolotl": "base_model: {model}\nadapter: lora\nsequence_len: 512\nmicro_batch_size: 1\n",
    "llama-factory": "model_name_or_path: {model}\nstage: sft\ndo_train: true\nfinetuning_type: lora\ntemplate: default\n",
    "llama-factory-v1": "model: {model}\ntrain_dataset: data.yaml\n",
    "trl": "model_name_or_path: {model}\ndataset_name: trl-lib/Capybara\n",
    "alignment-handbook": "model_name_or_path: {model}\ndataset_mixer:\n  HuggingFaceH4/ultrachat_200k: 1.0\n",
}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "ll-cache"))
    context._memo.clear()


def lora_lint_side(path: Path):
    rows, errors = collect([str(path)], Settings())
    assert errors == []
    (row,) = rows
    d = as_dict(row)
    assert d["unresolved"] is None, d["unresolved"]
    if d["peft_error"] is not None:
        assert d["trainable_params"] is None
        return ("error", d["peft_error"])
    if d["trainable_params"] is None:  # the framework refuses before peft: a note says why
        return ("uncounted", sorted(n.code for n in row.site.notes))
    return (sorted(row.ctx.analysis.targeted), d["trainable_params"], d["peft_all_params"])


def config_text(dialect: str, model: str, body: str) -> str:
    if dialect == "torchtune" and "/" in model:
        return body  # the `tune download` comment names the model
    return HEADERS[dialect].format(model=model_ref(model)) + body


def case_id(case):
    dialect, model, body = case
    return f"{dialect}-{model.rsplit('/', 1)[-1]}-{zlib.crc32(body.encode()) % 10**6}"


#: What lora-lint cannot express yet, each a failing case kept visible (strict xfail).
NUM_LABELS = ("a reward model's head has num_labels=1 here, but lora-lint builds the model with the "
              "config's default of 2 labels: the saved score head's size differs")
KNOWN_GAPS = {
    ("axolotl", "tiny-llama", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\nreward_model: true\n"): NUM_LABELS,
    ("autotrain", "tiny-llama", _at("llm-reward", "  target_modules: all-linear\n")): NUM_LABELS,
}


def marked(case):
    reason = KNOWN_GAPS.get(case)
    return pytest.param(case, marks=pytest.mark.xfail(reason=reason, strict=True)) if reason else case


@pytest.mark.parametrize("case", [marked(c) for c in CASES], ids=[case_id(c) for c in CASES])
def test_dialect_equals_the_framework(case, tmp_path):
    dialect, model, body = case
    text = config_text(dialect, model, body)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    theirs = REPLAYS[dialect](yaml.safe_load(text), model_config(model))
    ours = lora_lint_side(path)
    assert ours[0] != "uncounted" or theirs[0] == "error", f"lora-lint counts nothing; the framework trains {theirs}"
    if ours[0] == "uncounted":  # the framework fails before peft runs (a builder's TypeError...)
        assert {"LL001", "LL009"} & set(ours[1]), "a framework that refuses the config is reported"
        return
    if theirs[0] == "error":
        assert ours[0] == "error", f"the framework's run fails ({theirs[1]}); lora-lint counts {ours[1:]}"
        # peft's exception class and wording (a module's repr is shortened to "Name(...)")
        (ours_class, ours_text), (their_class, their_text) = ours[1].split(": ", 1), theirs[1].split(": ", 1)
        assert ours_class == their_class
        assert ours_text.split("(")[0][:40] == their_text.split("(")[0][:40]
        return
    assert ours[0] != "error", f"lora-lint reports {ours[1]!r}; the framework trains {theirs[1:]}"
    assert ours[0] == theirs[0]
    assert ours[1:] == theirs[1:]


#: LL207 claims a tower is adapted only where the framework adapts it (LLaVA: CLIP tower + projector).
TOWERS = [
    ("axolotl", "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n", 1),  # one finding for the finder
    ("axolotl", "lora_r: 8\nlora_alpha: 16\nlora_target_modules: 'model.language_model.layers.[0-9]+.self_attn.(q|v)_proj'\n", 0),
    ("llama-factory", "lora_target: all\n", 0),  # freeze_vision_tower and the projector default to true
    ("llama-factory", "lora_target: q_proj,v_proj\n", 0),
    ("llama-factory", "lora_target: all\nfreeze_vision_tower: false\nfreeze_multi_modal_projector: false\n", 0),
    ("llama-factory-v1", "peft_config:\n  name: lora\n  target_modules: all\n", 1),
    ("trl", "use_peft: true\nlora_target_modules: all-linear\n", 1),
    ("trl", "use_peft: true\nlora_target_modules: [q_proj, v_proj]\n", 2),  # one per item
    ("ms-swift", "target_modules: all-linear\n", 0),  # swift's registry scopes it: not replayed
]


@pytest.mark.parametrize("dialect,body,claims", TOWERS)
def test_tower_claims_follow_the_framework(dialect, body, claims, tmp_path):
    from lora_lint.pipeline import lint_file

    path = tmp_path / "config.yaml"
    path.write_text(config_text(dialect, "tiny-llava", body))
    found = [f for f in lint_file(str(path), Settings(select=["LL207"]))]
    assert len(found) == claims, found
