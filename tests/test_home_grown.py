"""Home-grown configs: found by evidence at any nesting, read in peft's vocabulary, in the shapes
projects write them (W&B dumps and sweeps, LightningCLI, extends/defaults), and LoRA
implementations of their own that never reach peft."""

import textwrap

import pytest
from conftest import source, yaml_sites

from lora_lint.dialects import home_grown, named
from lora_lint.model import UNKNOWN
from lora_lint.pipeline import lint_file
from lora_lint.settings import Settings
from lora_lint.sources.yaml_nodes import Budget, Doc, compose


def sites(tmp_path, text, name="train.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return yaml_sites(str(path), path.read_text(encoding="utf-8"))


def one(tmp_path, text, name="train.yaml"):
    (s,) = sites(tmp_path, text, name)
    return s


def values(s):
    return {k: p.value for k, p in s.params.items() if not p.implicit}


def codes(tmp_path, text, name="train.yaml", **settings):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return sorted(f.code for f in lint_file(str(path), Settings(select=["ALL"], **settings)))


# --- where a block is, and what proves it -----------------------------------------------------

def test_a_block_nested_anywhere_with_the_model_from_its_parents(tmp_path):
    s = one(tmp_path, """\
        experiment:
          model_name_or_path: Qwen/Qwen2.5-0.5B
          stages:
            sft:
              peft:
                r: 16
                alpha: 32
                dropout: 0.05
                target_modules: [q_proj, v_proj]
        """)
    assert s.dialect.name == "home-grown" and (s.span.line, s.span.col) == (5, 7)
    assert values(s) == {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"]}
    assert s.params["lora_alpha"].key == "alpha" and s.base_model.value == "Qwen/Qwen2.5-0.5B"


@pytest.mark.parametrize("text", [
    "lora_r: 8\n",  # the name proves it
    "lora_rank: 8\nmodel_name: org/model\n",
    "r: 8\nlora_alpha: 16\n",  # a flat LoraConfig dump
    "adapter:\n  rank: 4\n  dropout: 0.1\n",  # a block named for adapters
    "use_lora: true\nrank: 8\nalpha: 16\n",  # a switch
    "model:\n  lora_r: 8\n  lora_alpha: 16\n",
])
def test_evidence_of_a_lora_block(tmp_path, text):
    assert [s.dialect.name for s in sites(tmp_path, text)] == ["home-grown"]


@pytest.mark.parametrize("text", [
    "strategy:\n  matrix:\n    r: [1, 2]\n    alpha: 3\n",  # a CI matrix with r
    "rank: 0\nworld_size: 8\nalpha: 0.5\n",  # distributed training
    "peft:\n  type: ia3\n  r: 8\n  alpha: 16\n",  # another method
    "lora:\n  lora_type: adalora\n  r: 8\n  lora_alpha: 16\n",
    "optimizer:\n  alpha: 0.9\n  dropout: 0.1\n",
])
def test_not_lora_blocks(tmp_path, text):
    assert sites(tmp_path, text) == []


def test_a_switch_set_to_false_leaves_the_settings_inactive(tmp_path):
    s = one(tmp_path, "policy:\n  use_lora: false\n  lora_config:\n    r: 8\n    lora_alpha: 16\n")
    assert not s.active and s.params == {} and s.context["adapter"].value is False
    assert one(tmp_path, "use_lora: true\nlora:\n  r: 8\n  lora_alpha: 16\n").active


def test_peft_vocabulary_and_no_framework_claims(tmp_path):
    text = """\
        lora:
          lora_r: 64
          lora_alpha: 16
          lora_target_modules: [q_proj]
          my_own_flag: true
          lora_dropuot: 0.1
          bits: 4
        """
    s = one(tmp_path, text)
    assert values(s) == {"r": 64, "lora_alpha": 16, "target_modules": ["q_proj"]}
    assert s.unknown_keys == () and s.notes == ()  # the project's own keys: its code reads them
    # no framework default, and the fields a project's code commonly passes itself are unknown
    assert s.effective("lora_dropout") is UNKNOWN and s.effective("task_type") is UNKNOWN
    assert s.effective("use_rslora") is UNKNOWN and s.effective("layers_to_transform") is None
    # no advice (r=64 without rsLoRA, α/r = 0.25), no unknown key, no rename
    assert codes(tmp_path, text) == ["LL902"]


def test_errors_as_written_are_still_reported(tmp_path):
    """Values that peft rejects are mistakes whoever passes them."""
    assert "LL006" in codes(tmp_path, "lora:\n  r: 8\n  lora_alpha: 16\n  dropout: 1.5\n")
    assert "LL010" in codes(tmp_path, "lora:\n  r: 8\n  r: 16\n  lora_alpha: 16\n")  # YAML keeps the last


def test_a_comma_joined_target_string_is_unknown(tmp_path):
    s = one(tmp_path, "lora:\n  r: 8\n  lora_alpha: 16\n  target_modules: q_proj,v_proj\n")
    assert s.params["target_modules"].value is UNKNOWN  # the reading code may split it, or not
    s = one(tmp_path, "lora:\n  r: 8\n  lora_alpha: 16\n  target_modules: all-linear\n")
    assert s.params["target_modules"].value == "all-linear"


def test_a_block_in_peft_layout_is_handed_to_peft_whole(tmp_path):
    s = one(tmp_path, """\
        peft_config:
          peft_type: LORA
          task_type: CAUSAL_LM
          r: 8
          lora_alpha: 32
          modules_to_save: null
        """)
    assert s.params["modules_to_save"].value is None and not s.params["modules_to_save"].implicit
    assert s.params["target_modules"].implicit and s.effective("target_modules") is None  # peft's default
    assert s.effective("bias") == "none" and s.effective("use_dora") is False


# --- the base model -------------------------------------------------------------------------

@pytest.mark.parametrize("text,model", [
    ("base_model: org/m\nmodel_name: run-name\nlora:\n  r: 8\n  alpha: 16\n", "org/m"),
    ("model_name: my_run\nlora:\n  r: 8\n  alpha: 16\n", None),  # a run's name, not a model
    ("model_name: org/model\nlora_r: 8\n", "org/model"),
    ("model:\n  hf_model_ckpt: facebook/opt-125m\nlora:\n  r: 8\n  alpha: 16\n", "facebook/opt-125m"),
    ("model:\n  ckpt: /path/to/checkpoint\n  lora_r: 8\n", None),  # a placeholder
    ("model:\n  name: unsloth/Phi-4\n  lora:\n    r: 16\n    alpha: 16\n", "unsloth/Phi-4"),
    ("model: defog/sqlcoder-7b-2\nr: 96\nlora_alpha: 96\n", "defog/sqlcoder-7b-2"),
    ("config:\n  base_model: google/gemma-2b-it\n  lora:\n    r: 16\n    alpha: 32\n", "google/gemma-2b-it"),
    ("models:\n  a: org/a\n  b: org/b\nlora:\n  r: 8\n  alpha: 32\n", None),  # which one is not said
    ("model_id: org/top\nlora_config:\n  base_model_name_or_path: org/own\n  peft_type: LORA\n  r: 8\n"
     "  lora_alpha: 8\n", "org/own"),
])
def test_the_base_model_from_the_usual_keys(tmp_path, text, model):
    s = one(tmp_path, text)
    assert (s.base_model.value if s.base_model else None) == model


# --- shapes ---------------------------------------------------------------------------------

def test_a_wandb_config_dump(tmp_path):
    s = one(tmp_path, """\
        wandb_version: 1
        _wandb:
          desc: null
          value:
            cli_version: 0.17.0
        model_name_or_path:
          desc: null
          value: meta-llama/Llama-3.2-1B
        lora_r:
          desc: null
          value: 16
        lora_alpha:
          desc: null
          value: 32
        lora_target_modules:
          desc: null
          value: [q_proj, v_proj]
        """, "config.yaml")
    assert values(s) == {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "v_proj"]}
    assert (s.params["r"].span.line, s.params["r"].span.col) == (11, 10)  # the value under value:
    assert s.base_model.value == "meta-llama/Llama-3.2-1B"


def test_a_wandb_sweep_grid_is_unknown(tmp_path):
    s = one(tmp_path, """\
        program: train.py
        method: grid
        metric: {goal: minimize, name: eval_loss}
        parameters:
          lora_r:
            values: [8, 16, 32]
          lora_alpha:
            value: 16
          lora_dropout:
            distribution: uniform
            min: 0.0
            max: 0.1
        """)
    assert s.params["r"].value is UNKNOWN and s.params["lora_dropout"].value is UNKNOWN
    assert s.params["lora_alpha"].value == 16
    assert codes(tmp_path, "method: grid\nparameters:\n  lora_r:\n    values: [0, 8]\n  lora_alpha:\n    value: 1\n"
                 ) == ["LL902"]  # no rank is invalid: none of them is known


def test_a_nested_sweep_group(tmp_path):
    s = one(tmp_path, """\
        method: random
        parameters:
          lora:
            parameters:
              r: {values: [8, 16]}
              alpha: {value: 32}
        """)
    assert s.params["r"].value is UNKNOWN and s.params["lora_alpha"].value == 32


def test_lightning_cli_init_args(tmp_path):
    s = one(tmp_path, """\
        trainer:
          logger:
            class_path: lightning.pytorch.loggers.WandbLogger
            init_args: {project: x}
        model:
          class_path: my_project.LitLora
          init_args:
            model_name_or_path: org/base
            lora_r: 8
            lora_alpha: 16
        """)
    assert values(s) == {"r": 8, "lora_alpha": 16} and s.base_model.value == "org/base"
    assert s.span.line == 5  # the `model:` key


def test_a_json_hyper_parameter_file(tmp_path):
    s = one(tmp_path, '{"lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05,\n "lora_target_modules": ["q_proj"]}\n',
            "lora_config.json")
    assert values(s) == {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": ["q_proj"]}


# --- extends / defaults ---------------------------------------------------------------------

def test_extends_a_parent_in_the_repository(tmp_path):
    (tmp_path / ".git").mkdir()
    cfg = tmp_path / "configs"
    cfg.mkdir()
    (cfg / "base.yaml").write_text("model:\n  name: Qwen/Qwen2.5-0.5B\nlora:\n  dropout: 0.1\n  bias: none\n")
    (cfg / "lora.yaml").write_text("extends: base.yaml\nlora:\n  r: 8\n  alpha: 16\n  task_type: CAUSAL_LM\n")
    child = cfg / "lora_r16.yaml"
    child.write_text("extends: lora.yaml\nlora:\n  r: 16\n  alpha: 32\n")
    (s,) = yaml_sites(str(child), child.read_text())
    assert values(s) == {"r": 16, "lora_alpha": 32}
    inherited = {k: p.value for k, p in s.params.items() if p.implicit}
    assert inherited == {"lora_dropout": 0.1, "bias": "none", "task_type": "CAUSAL_LM"}  # deep-merged
    assert all(p.span == s.span for p in s.params.values() if p.implicit)
    assert s.base_model.value == "Qwen/Qwen2.5-0.5B" and s.context["extends"].value == "lora.yaml"
    assert not s.open


@pytest.mark.parametrize("parent", ["missing.yaml", "../outside.yaml", "self.yaml"])
def test_extends_a_parent_that_cannot_be_read_leaves_the_rest_unknown(tmp_path, parent):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".git").mkdir()
    (tmp_path / "outside.yaml").write_text("lora:\n  dropout: 0.1\n")
    child = repo / "self.yaml"
    child.write_text(f"extends: {parent}\nlora:\n  r: 16\n  alpha: 32\n")
    (s,) = yaml_sites(str(child), child.read_text())
    assert s.open and s.effective("lora_dropout") is UNKNOWN and s.effective("layers_to_transform") is UNKNOWN


def test_hydra_defaults_leave_the_rest_unknown(tmp_path):
    s = one(tmp_path, "defaults:\n  - base\n  - _self_\nlora:\n  r: 16\n  alpha: 32\n")
    assert s.open and s.context["defaults"].value is UNKNOWN


# --- LoRA implementations of their own ----------------------------------------------------------

OWN = {
    "mistral-finetune": """\
        model_id_or_path: mistral-7b
        run_dir: runs/x
        lora:
          rank: 0
          scaling: 2.0
        """,
    "mindformers": """\
        model:
          model_config:
            pet_config:
              pet_type: lora
              lora_rank: 1
              lora_alpha: 32
              lora_dropout: 1.5
              target_modules: '.*wq|.*wk'
        """,
    "deep-training": """\
        lora:
          with_lora: true
          lora_type: lora
          r: 8
          lora_alpha: 32
          layers_pattern: "q_proj|v_proj"
        """,
}


@pytest.mark.parametrize("name", sorted(OWN))
def test_own_lora_is_found_but_no_peft_claim_is_made(tmp_path, name):
    s = one(tmp_path, OWN[name])
    assert s.dialect.name == name and not s.dialect.reaches_peft
    # values peft would reject (rank 0, dropout 1.5, layers_pattern alone) are not peft's business
    assert codes(tmp_path, OWN[name], base_model="Qwen/Qwen2.5-0.5B") == []


def test_mistral_finetune_needs_its_own_keys(tmp_path):
    assert [s.dialect.name for s in sites(tmp_path, "lora:\n  rank: 64\n  alpha: 16\nrun_dir: x\n")] == ["home-grown"]


def test_own_lora_in_report(tmp_path):
    from lora_lint.report import as_dict, collect

    path = tmp_path / "7B.yaml"
    path.write_text(textwrap.dedent(OWN["mistral-finetune"]))
    (row,), errors = collect([str(path)], Settings(offline=True))
    d = as_dict(row)
    assert errors == [] and d["dialect"] == "mistral-finetune" and d["scaling"] is None
    assert d["not_counted"] == "its LoRA is mistral-finetune's own implementation, not peft's"
    assert d["unresolved"] is None


# --- what the Python that reads the file needs ------------------------------------------------

def test_blocks_give_the_key_path_of_every_setting():
    text = "model:\n  name: org/m\ntraining:\n  lora:\n    rank: 8\n    alpha: 16\n    target_modules: [q_proj]\n"
    src = source("cfg.yaml", text)
    (block,) = home_grown.blocks(Doc(src, compose(src)[0], Budget()))
    assert block.path == ("training", "lora")
    assert block.keys == {"r": ("training", "lora", "rank"), "lora_alpha": ("training", "lora", "alpha"),
                          "target_modules": ("training", "lora", "target_modules")}
    assert {f: (p.value, p.span.line) for f, p in block.params.items()} == {
        "r": (8, 5), "lora_alpha": (16, 6), "target_modules": (["q_proj"], 7)}
    assert block.site.base_model.value == "org/m"


def test_the_record():
    d = named("home-grown")
    assert d.own_code and not d.advisable and d.reaches_peft and not d.saved
    assert d.keymap["alpha"] == "lora_alpha" and d.keymap["lora_rank"] == "r" and d.spelling("r") == "r"


def test_a_hydra_block_composed_from_defaults_is_open(tmp_path):
    s = one(tmp_path, "defaults:\n  - base\n_target_: peft.LoraConfig\nr: 8\nlora_alpha: 16\n")
    assert s.dialect.name == "hydra" and s.open and s.effective("target_modules") is UNKNOWN
    s = one(tmp_path, "_target_: peft.LoraConfig\nr: 8\nlora_alpha: 16\n")
    assert not s.open and s.effective("target_modules") is None


@pytest.mark.parametrize("framework,text", [
    ("axolotl", "base_model: org/m\nlora_r: 8\nlora_alpha: 16\nmicro_batch_size: 2\nnum_epochs: 3\n"
                "val_set_size: 0.1\nwandb_project: p\n"),  # alpaca-lora's argument names
    ("trl", "model_name_or_path: org/m\nlora_r: 8\nlora_target_modules: [q_proj]\n"),
    ("llama-factory-v1", "model: org/m\npeft_config:\n  name: lora\n  r: 8\n  lora_alpha: 16\n"),
    ("unsloth-studio", "model: org/m\nlora:\n  lora_r: 8\n  lora_alpha: 16\ntraining:\n  lr: 0.1\n"),
])
def test_a_framework_look_alike_without_its_proof_is_home_grown(tmp_path, framework, text):
    """Keys several projects share prove no framework: no framework default, note or rename."""
    s = one(tmp_path, text)
    assert s.dialect.name == "home-grown" and s.notes == () and s.unknown_keys == (), framework
    assert s.base_model.value == "org/m"


def test_several_values_for_one_setting_are_unknown(tmp_path):
    """A CI matrix or a grid of the project's own: one of them runs, which is not known."""
    text = "jobs:\n  sweep:\n    strategy:\n      matrix:\n        lora_r: [8, 16]\n        lora_alpha: [16, 32]\n"
    s = one(tmp_path, text)
    assert s.params["r"].value is UNKNOWN and s.params["lora_alpha"].value is UNKNOWN
    assert codes(tmp_path, text) == ["LL902"]
