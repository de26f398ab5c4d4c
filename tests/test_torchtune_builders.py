"""torchtune builder names -> the Hugging Face models they build (``data/torchtune_builders.json``,
made by ``python -m lora_lint.models.torchtune_build`` from torchtune's builders and recipes)."""

import json
from pathlib import Path

import pytest
import yaml
from conftest import yaml_sites

from lora_lint.dialects.torchtune import builder_model, builders
from lora_lint.model import Span
from lora_lint.models.torchtune_build import agrees, catalog_config

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "torchtune"


def test_every_mapping_the_catalog_can_check_builds_that_model():
    """Each builder's vocabulary, layers, heads and widths, as torchtune writes them, are those of
    the model's config.json; every entry the bundled catalog knows is checked."""
    checked, wrong = [], []
    for name, row in builders().items():
        config = catalog_config(row["model"])
        if config is None:
            continue
        checked.append(name)
        if not agrees(row["dims"], config):
            wrong.append((name, row["model"]))
    assert wrong == []
    assert len(checked) >= 30, checked


def test_builders_for_every_family_lora_lint_reads():
    families = {row["family"] for row in builders().values()}
    assert {"llama2", "llama3", "llama3_1", "llama3_2", "mistral", "gemma", "gemma2", "qwen2", "qwen2_5",
            "qwen3", "phi3", "phi4"} <= families


@pytest.mark.parametrize("builder,model", [
    ("lora_llama3_2_1b", "meta-llama/Llama-3.2-1B-Instruct"),
    ("qlora_llama3_1_8b", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
    ("lora_qwen2_5_0_5b", "Qwen/Qwen2.5-0.5B-Instruct"),
    ("lora_qwen3_8b_base", "Qwen/Qwen3-8B-Base"),  # not the 14B teacher of torchtune's distillation recipe
    ("lora_mistral_7b", "mistralai/Mistral-7B-v0.1"),
])
def test_builder_names_map_to_their_models(builder, model):
    p = builder_model(builder, Span(1, 1, 1, 2))
    assert p.value == model and "torchtune's" in p.via


@pytest.mark.parametrize("builder", ["lora_llama9_1t", "lora_phi3_mini", "qlora_phi4_14b"])
def test_unknown_builders_and_fused_families_name_no_model(builder):
    # Hugging Face's Phi-3/Phi-4 fuse q/k/v (qkv_proj) and gate/up (gate_up_proj); torchtune's do not
    assert builder_model(builder, Span(1, 1, 1, 2)) is None


def test_a_recipe_without_a_download_comment_gets_the_builders_model():
    text = ("model:\n  _component_: torchtune.models.qwen2_5.lora_qwen2_5_0_5b\n"
            "  lora_attn_modules: [q_proj, v_proj]\n")
    (site,) = yaml_sites("recipe.yaml", text)
    assert site.base_model.value == "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not next to the repository")
def test_the_corpus_recipes_download_models_of_their_builders_architecture():
    """Where a recipe's ``tune download`` comment names the model, the builder's table entry is
    a model of the same dimensions (the comment can name another size of checkpoint only if
    the recipe is wrong)."""
    seen = 0
    for path in sorted(CORPUS.rglob("*.yaml")):
        for site in yaml_sites(str(path), path.read_text(encoding="utf-8")):
            if site.base_model is None or site.base_model.via is not None:
                continue
            component = yaml.safe_load(path.read_text(encoding="utf-8"))["model"]["_component_"]
            row = builders().get(component.rsplit(".", 1)[-1].removeprefix("q"))
            downloaded = catalog_config(site.base_model.value)
            if row is None or downloaded is None:
                continue
            seen += 1
            assert agrees(row["dims"], downloaded), (path.name, site.base_model.value, row["model"])
    assert seen >= 10


def test_the_table_is_what_the_script_writes():
    data = json.loads((Path(__file__).resolve().parents[1] / "lora_lint" / "data" / "torchtune_builders.json")
                      .read_text(encoding="utf-8"))
    assert data["about"]["script"] == "python -m lora_lint.models.torchtune_build"
    for name, row in data["builders"].items():
        assert name.startswith("lora_") and row["from"] in ("recipes", "docstring")
