"""Per-dialect fixtures read into LoraSite records: values, spans, framework defaults, notes."""

from pathlib import Path

from conftest import yaml_sites

from lora_lint.dialects import names
from lora_lint.model import UNKNOWN, Span

FIXTURES = Path(__file__).parent / "fixtures" / "yaml"


def read(rel):
    path = FIXTURES / rel
    return yaml_sites(str(path), path.read_text(encoding="utf-8"))


def site(rel):
    (s,) = read(rel)
    return s


def values(s):
    return {name: p.value for name, p in s.params.items()}


def implicit(s):
    return {name for name, p in s.params.items() if p.implicit}


def at(p):
    return (p.span.line, p.span.col)


def test_dialect_names_are_the_agreed_ones():
    assert set(names()) == {
        "adapter_config", "axolotl", "llama-factory", "llama-factory-v1", "trl", "alignment-handbook",
        "torchtune", "autotrain", "unsloth-studio", "ms-swift", "hydra", "home-grown", "saved-adapter",
        "mistral-finetune", "mindformers", "deep-training",
    }


# --- axolotl --------------------------------------------------------------------------------

def test_axolotl_values_defaults_and_context():
    s = site("axolotl/defaults.yml")
    assert s.dialect.name == "axolotl" and not s.open
    assert values(s) == {
        "r": 16,  # "16" read as pydantic reads it
        "lora_alpha": 32,
        "target_modules": ["q_proj", "v_proj"],
        "target_parameters": [],  # cfg.lora_target_parameters or []
        "lora_dropout": 0.0,
        "bias": "none",
        "task_type": "SEQ_CLS",  # from type_of_model
    }
    assert implicit(s) == {"target_parameters", "lora_dropout", "bias", "task_type"}
    assert s.params["r"].key == "lora_r" and at(s.params["r"]) == (4, 9)
    assert [at(i) for i in s.params["target_modules"].items] == [(7, 5), (8, 5)]
    assert s.span == Span(3, 1, 3, 8)  # `adapter`, the key that makes it a LoRA config
    assert s.params["lora_dropout"].span == s.span
    assert s.model_class == "AutoModelForSequenceClassification"
    assert s.base_model.value == "meta-llama/Llama-3.2-1B" and at(s.base_model) == (1, 13)
    assert s.context["learning_rate"].value == 0.0002  # plain 2e-4, a str to PyYAML
    assert s.resizes_vocab
    assert not s.dialect.can_set("bias") and s.dialect.can_set("use_rslora")


def test_axolotl_placeholders_are_unknown():
    s = site("axolotl/placeholders.yaml")
    assert s.params["r"].value is UNKNOWN and s.get("r") is None
    assert s.params["target_modules"].value is UNKNOWN
    assert s.base_model is None and s.notes == ()


def test_axolotl_off_and_full_finetune():
    s = site("axolotl/adapter_off.yml")
    assert not s.active and s.open and s.params == {}
    assert read("axolotl/full_finetune.yml") == []


def test_axolotl_target_linear_is_axolotls_finder_united_with_the_list(tmp_path):
    from lora_lint.model_dependent import ModelDependent
    from lora_lint.models.inventory import Inventory, ModuleInfo

    path = tmp_path / "a.yml"
    path.write_text("base_model: x/y\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
                    "lora_target_modules: [lm_head]\nsequence_len: 512\n")
    (s,) = yaml_sites(str(path), path.read_text())
    p = s.params["target_modules"]
    assert isinstance(p.value, ModelDependent) and p.value.listed == ("lm_head",) and at(p) == (5, 21)
    assert [i.value for i in p.items] == ["lm_head"]
    mods = [ModuleInfo("", "M", "container"), ModuleInfo("h.0.attn.c_attn", "Conv1D", "conv1d", 4, 12),
            ModuleInfo("h.0.mlp.fc", "MyLinearish", "other"), ModuleInfo("h.0.q", "Linear", "linear", 4, 4),
            ModuleInfo("lm_head", "Linear", "linear", 4, 9)]
    inv = Inventory("gpt2", "X", "CausalLM", mods, {}, 0)
    # Conv1D is no "Linear"; the output layer is dropped by name, then the listed lm_head is added back
    assert p.value.resolve(inv) == ["fc", "lm_head", "q"]


def test_axolotl_without_targets_or_rank_fails_in_peft(tmp_path):
    path = tmp_path / "a.yml"
    path.write_text("base_model: x/y\nadapter: lora\nlora_alpha: 16\nsequence_len: 512\n")
    (s,) = yaml_sites(str(path), path.read_text())
    assert s.params["target_modules"].value == [] and s.params["target_modules"].implicit
    assert s.params["r"].value is None
    notes = sorted(n.message for n in s.notes if n.code == "LL009")
    assert len(notes) == 2 and "NoMatchingPeftModuleError" in notes[1] and "TypeError" in notes[0]
    path.write_text("base_model: x/y\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nsequence_len: 512\n"
                    "lora_target_parameters: [mlp.experts.down_proj]\n")
    (s,) = yaml_sites(str(path), path.read_text())
    assert s.notes == () and s.params["target_modules"].value == []


def test_axolotl_merge_keys_and_aliases():
    s = site("robustness/anchors.yaml")
    assert values(s)["lora_alpha"] == 32 and values(s)["lora_dropout"] == 0.05
    assert values(s)["target_modules"] == ["q_proj", "v_proj"]


# --- LLaMA-Factory --------------------------------------------------------------------------

def test_llama_factory_defaults():
    s = site("llama-factory/defaults.yaml")
    v = values(s)
    assert v.pop("target_modules").listed == ("all",)  # LLaMA-Factory's own finder, resolved on the model
    assert v == {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "bias": "none", "task_type": "CAUSAL_LM"}
    assert implicit(s) == set(values(s))
    assert s.span == Span(7, 1, 7, 16)  # finetuning_type
    assert s.base_model.value == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert s.dialect.can_set("use_rslora") and not s.dialect.can_set("rank_pattern")


def test_llama_factory_comma_targets_alpha_and_pissa():
    s = site("llama-factory/targets.yaml")
    v = values(s)
    assert v["target_modules"].listed == ("query_key_value", "dense")
    assert [at(i) for i in s.params["target_modules"].items] == [(7, 15), (7, 32)]
    assert v["modules_to_save"] == ["embed_tokens", "lm_head"]
    assert [at(i) for i in s.params["modules_to_save"].items] == [(8, 20), (8, 33)]
    assert v["lora_alpha"] == 32 and s.params["lora_alpha"].implicit  # 0 means 2 x lora_rank
    assert v["init_lora_weights"] == "pissa"  # pissa_iter: -1
    assert s.resizes_vocab


def test_llama_factory_not_training_is_not_a_site():
    assert read("llama-factory/predict.yaml") == []


def test_llama_factory_resumed_adapter_is_inactive():
    s = site("llama-factory/resumed_adapter.yaml")
    assert not s.active and s.params == {}
    assert [n.code for n in s.notes] == ["LL010"]


def test_llama_factory_v1():
    s = site("llama-factory-v1/defaults.yaml")
    assert s.dialect.name == "llama-factory-v1"
    v = values(s)
    assert v.pop("target_modules").setting == "target_modules: all"  # v1's own finder
    assert v == {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "task_type": "CAUSAL_LM"}
    assert [(p.key, hint) for p, hint in s.unknown_keys] == [("lora_rank", "r")]
    assert read("llama-factory-v1/freeze.yaml") == []
    assert not site("llama-factory-v1/resumed.yaml").active


# --- TRL and alignment-handbook -------------------------------------------------------------

def test_trl_defaults_and_one_element_list():
    s = site("trl/defaults.yaml")
    assert s.dialect.name == "trl"
    v = values(s)
    assert (v["r"], v["lora_alpha"], v["lora_dropout"], v["task_type"]) == (16, 32, 0.05, "CAUSAL_LM")
    assert {"r", "lora_alpha", "lora_dropout", "task_type"} <= implicit(s)
    assert v["target_modules"] == "q_proj"  # TRL passes a one-element list as a (regex) string
    assert at(s.params["target_modules"]) == (5, 5)


def test_trl_without_use_peft_is_inactive():
    s = site("trl/no_peft.yaml")
    assert not s.active and s.params == {}


def test_trl_keys_without_trl_evidence_are_home_grown():
    """`model_name_or_path` + `lora_r` is any HfArgumentParser script's: no claim about TRL."""
    s = site("home-grown/trl_lookalike.yaml")
    assert s.dialect.name == "home-grown" and s.active and s.notes == ()
    assert values(s)["r"] == 1 and values(s)["target_modules"] == "all-linear"
    assert s.base_model.value == "Qwen/Qwen3-0.6B"


def test_alignment_handbook_recipe():
    s = site("alignment-handbook/recipes/zephyr/sft/config_qlora.yaml")
    assert s.dialect.name == "alignment-handbook"
    assert values(s)["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert s.context["quantization"].value == 4 and s.context["quantization"].key == "load_in_4bit"


# --- torchtune ------------------------------------------------------------------------------

def test_torchtune_targets_in_hf_names_and_base_model_from_download_comment():
    s = site("torchtune/lora.yaml")
    tm = s.params["target_modules"]
    assert tm.value == ["q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]
    assert [at(i) for i in tm.items] == [(10, 23), (10, 33), (10, 43), (11, 22), (11, 22), (11, 22), (12, 25)]
    assert values(s)["r"] == 64 and values(s)["lora_dropout"] == 0.0
    assert s.base_model.value == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert at(s.base_model) == (4, 19)  # in the `tune download` comment
    assert not any(s.dialect.can_set(f) for f in ("use_rslora", "modules_to_save", "task_type", "bias"))


def test_torchtune_qlora_builder_and_mistakes():
    s = site("torchtune/qlora_mistakes.yaml")
    assert s.context["quantization"].value == 4 and s.context["quant_type"].value == "nf4"
    p = s.params["target_modules"]
    assert [i.value for i in p.items] == ["q_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]
    assert p.value is UNKNOWN  # apply_lora_to_output on the tied 1B model: the builder raises, nothing trains
    # no download comment names the checkpoint: the model the builder builds
    assert s.base_model.value == "meta-llama/Llama-3.2-1B-Instruct" and "qlora_llama3_2_1b" in s.base_model.via
    assert {p.key: hint for p, hint in s.unknown_keys} == {"lora_r": "lora_rank"}
    (rslora,) = [(n.where.key, n.message) for n in s.notes if n.code == "LL001"]
    assert rslora == ("use_rslora", "`use_rslora` is not a torchtune setting: torchtune has no way to set "
                                    "peft's `use_rslora`; remove it")


def test_torchtune_full_finetune_is_not_a_site():
    assert read("torchtune/full_finetune.yaml") == []


# --- AutoTrain, Unsloth Studio, ms-swift ------------------------------------------------------

def test_autotrain_defaults():
    s = site("autotrain/defaults.yml")
    assert values(s) == {"r": 64, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear",
                         "bias": "none", "task_type": "CAUSAL_LM"}
    assert s.context["quantization"].value == 4 and s.context["quantization"].implicit
    assert s.model_class == "AutoModelForCausalLM"
    assert not s.dialect.can_set("use_rslora")


def test_autotrain_split_without_strip():
    s = site("autotrain/mistakes.yml")
    assert values(s)["target_modules"] == ["q_proj", " v_proj"]  # what peft gets
    assert [n.code for n in s.notes] == ["LL010", "LL001"]  # the spaced name; use_rslora
    assert read("autotrain/seq2seq_no_peft.yml") == []


def test_unsloth_studio():
    s = site("unsloth-studio/defaults.yaml")
    v = values(s)
    assert (v["r"], v["lora_alpha"], v["lora_dropout"]) == (64, 32, 0.0)
    assert v["target_modules"].listed == ("q_proj", "k_proj", "v_proj") and v["use_rslora"] is True
    assert [at(i) for i in s.params["target_modules"].items] == [(7, 20), (7, 28), (7, 36)]
    assert s.base_model.value == "unsloth/Qwen2.5-0.5B"
    m = site("unsloth-studio/mistakes.yaml")
    assert "init_lora_weights" not in values(m)  # use_loftq leaves init_lora_weights at True
    assert values(m)["target_modules"] is UNKNOWN  # a list: the CLI refuses the config


def test_unsloth_needs_evidence(tmp_path):
    """A project's own `lora:` block next to a `training:` section is not Unsloth's config."""
    path = tmp_path / "train.yaml"
    path.write_text("lora:\n  r: 8\n  lora_alpha: 32\n  target_modules: [q_proj, v_proj]\ntraining:\n  lr: 0.1\n")
    (s,) = yaml_sites(str(path), path.read_text())
    assert s.dialect.name == "home-grown" and values(s)["r"] == 8 and s.unknown_keys == ()
    path.write_text("lora:\n  lora_alpha: 32\n  target_modules: q_proj\ntraining:\n  lr: 0.1\n")
    assert [s.dialect.name for s in yaml_sites(str(path), path.read_text())] != ["unsloth-studio"]
    path.write_text("lora:\n  lora_r: 8\ntraining:\n  lr: 0.1\n")  # lora_r is not Unsloth's alone
    assert [s.dialect.name for s in yaml_sites(str(path), path.read_text())] == ["home-grown"]
    path.write_text("lora:\n  lora_r: 8\ntraining:\n  training_type: lora\n")
    assert [s.dialect.name for s in yaml_sites(str(path), path.read_text())] == ["unsloth-studio"]


def test_ms_swift():
    s = site("ms-swift/sft.yaml")
    v = values(s)
    assert (v["r"], v["lora_alpha"], v["lora_dropout"]) == (128, 32, 0.05)
    assert v["target_modules"].listed == ("all-linear",)  # swift's own finder, resolved on the model
    assert s.base_model.value == "Qwen/Qwen2.5-7B-Instruct"
    assert not site("ms-swift/full.yaml").active


# --- adapter_config.json, Hydra, home-grown ------------------------------------------------------

def test_adapter_config_is_a_saved_adapter():
    s = site("adapter_config/adapter_config.json")
    assert s.dialect.name == "saved-adapter"  # inference_mode: true, as save_pretrained writes it
    assert "inference_mode" not in s.params and s.context["inference_mode"].value is True
    assert "target_modules" not in s.params and s.missing("target_modules")  # null = peft's default
    assert values(s)["r"] == 8 and at(s.params["r"]) == (13, 8)
    assert s.base_model.value == "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
    assert s.dialect.saved


def test_adapter_config_other_methods_and_lookalikes():
    assert read("adapter_config/ia3.json") == []
    assert read("adapter_config/not_peft.json") == []
    s = site("adapter_config/typo.json")
    assert [(p.key, hint) for p, hint in s.unknown_keys] == [("lora_aplha", "lora_alpha")]
    assert s.base_model.value == "/home/me/models/llama"


def test_hydra_block():
    s = site("hydra/config.yaml")
    assert s.dialect.name == "hydra"
    assert s.params["r"].value is UNKNOWN  # ${oc.env:LORA_R,16}
    assert values(s)["lora_alpha"] == 32 and values(s)["task_type"] == "CAUSAL_LM"
    assert s.base_model.value == "Qwen/Qwen2.5-0.5B"


def test_home_grown_blocks():
    s = site("home-grown/nested.yaml")
    assert s.dialect.name == "home-grown" and s.span == Span(6, 3, 6, 7)
    assert values(s) == {"r": 64, "lora_alpha": 16, "lora_dropout": 0.05,
                         "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
    assert s.params["r"].key == "rank"
    assert s.base_model.value == "meta-llama/Llama-3.1-8B"
    flat = site("home-grown/flat.yaml")
    assert values(flat)["task_type"] == "SEQ_2_SEQ_LM" and flat.params["r"].value == 8


def test_not_lora_yaml_gives_nothing():
    assert read("home-grown/not_lora.yml") == []


def test_multi_document():
    sites = read("robustness/multi_document.yaml")
    assert [s.span.line for s in sites] == [3, 10]
    assert [s.context["adapter"].value for s in sites] == ["lora", "qlora"]
