"""The bundled catalog: provenance, aliases, and prebuilt inventories that equal fresh builds.

The prebuilt inventories are used on every transformers release of the major version they were
built with. This file is what makes that true: each (catalog model, class) is built fresh on the
installed transformers and compared with the shipped inventory; a difference fails, naming the
model and what changed, so the catalog is regenerated (``python -m lora_lint.models.catalog_build``).
"""

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
from conftest import ROOT

from lora_lint.models import cache, catalog, catalog_build, context
from lora_lint.models.inventory import Inventory, ModuleInfo, differences
from lora_lint.models.resolve import config_hash, resolve_offline

TARGETS = catalog_build.targets()


def _id(target):
    model_id, cls = target
    return model_id + (f"|{cls.removeprefix('AutoModelFor')}" if cls else "")


# -- the catalog itself -----------------------------------------------------------------------------

def test_every_model_has_a_config_and_provenance():
    records = catalog.manifest()["models"]
    assert set(records) == set(catalog.model_ids())
    for model_id, record in records.items():
        config = json.loads((catalog.CATALOG / catalog.model_ids()[model_id]).read_text())
        assert isinstance(config.get("model_type"), str), model_id  # a config.json, not something else
        for cls in record.get("classes", []):  # a head besides the config's own, by the name lookups use
            assert context.class_key(cls, config) == cls, (model_id, cls)
        assert len(record.get("source", "")) > 20, f"{model_id}: no provenance"
        assert set(record) <= {"source", "classes", "aliases", "notes", "stage", "stage_how"}, model_id


def test_aliases_point_at_catalog_models_and_say_how_they_were_verified():
    ids = catalog.model_ids()
    for model_id, record in catalog.manifest()["models"].items():
        for alias, info in record.get("aliases", {}).items():
            assert alias not in ids, alias
            assert info["kind"] in catalog.ALIAS_KINDS, alias
            assert len(info.get("how", "")) > 20, f"{alias}: no verification"
            entry = catalog.lookup(alias)
            assert entry is not None and entry.model_id == model_id and entry.via == (info["kind"],)
    folded = [n.lower() for n in catalog.all_names()]
    assert len(folded) == len(set(folded)), "two names differ only in case"


def test_lookup_exact_alias_and_case():
    assert catalog.lookup("Qwen/Qwen2.5-0.5B").via == ()
    got = catalog.lookup("gpt2")
    assert got.model_id == "openai-community/gpt2" and got.how == "alias: renamed repo"
    got = catalog.lookup("qwen/QWEN2.5-0.5b")
    assert got.model_id == "Qwen/Qwen2.5-0.5B" and got.how == "matched ignoring case"
    assert catalog.lookup("nobody/nothing") is None and catalog.lookup("") is None


# -- prebuilt inventories -----------------------------------------------------------------------------

def test_the_index_covers_every_model_and_class_and_nothing_else():
    index = cache.prebuilt_index()
    assert index["schema_version"] == cache.schema_version()
    used = set()
    for model_id, cls in TARGETS:
        sha = config_hash(catalog_build.config_of(model_id))
        name = cache.prebuilt_file(sha, cls)
        assert name is not None and (cache.PREBUILT / name).is_file(), _id((model_id, cls))
        assert index["entries"][sha]["model"] in catalog.model_ids()
        used.add(name)
    on_disk = {p.name for p in cache.PREBUILT.glob("*.json")} - {cache.PREBUILT_INDEX.name}
    assert on_disk == used == set(index["files"])


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS, ids=_id)
def test_prebuilt_inventory_equals_a_fresh_build(target):
    """Fails (never skips) when the installed transformers builds this model differently."""
    changes = catalog_build.compare(*target)
    assert not changes, (f"{catalog_build.label(*target)} differs from a fresh build on transformers"
                         f" {cache.dist_version('transformers')}: {'; '.join(changes)}."
                         " Regenerate with `python -m lora_lint.models.catalog_build`.")


def test_differences_name_what_changed():
    inv = catalog_build.shipped("Qwen/Qwen2.5-0.5B")
    assert differences(inv, inv) == []
    assert differences(inv, replace(inv, versions={"transformers": "9.9.9"})) == []  # provenance only
    layer = "model.layers.3.mlp.gate_proj"
    mods = [m for m in inv.modules if not m.name.startswith("model.layers.3.mlp.up_proj")]
    mods = [replace(m, out_features=m.out_features + 1) if m.name == layer else m for m in mods]
    params = dict(inv.parameters, **{"model.extra.weight": (3,)})
    got = differences(inv, replace(inv, modules=mods, parameters=params, total_params=inv.total_params + 3))
    assert "parameter count 494,032,768 -> 494,032,771 (+3)" in got
    assert "modules removed: model.layers.*.mlp.up_proj" in got
    assert "model.layers.*.mlp.gate_proj: out_features 4864 -> 4865" in got
    assert "parameters added: model.extra.weight" in got


def test_same_as_builds_both_and_names_what_differs(tmp_path):
    """The check an alias passes before it is listed: the other config builds the very modules and
    parameters of the catalog model's (here the model's own config, re-saved with other
    non-shaping keys), and a config of another shape is told apart, naming what changed."""
    config = catalog_build.config_of("HuggingFaceTB/SmolLM2-135M")
    same = dict(config, _name_or_path="someone/SmolLM2-135M-finetune", torch_dtype="float16")
    assert catalog_build.same_as("HuggingFaceTB/SmolLM2-135M", same) == []
    deeper = dict(config, num_hidden_layers=config["num_hidden_layers"] + 1)
    got = catalog_build.same_as("HuggingFaceTB/SmolLM2-135M", deeper)
    assert any("num_layers: 30 -> 31" in line for line in got), got
    (tmp_path / "same.json").write_text(json.dumps(same))
    (tmp_path / "deeper.json").write_text(json.dumps(deeper))
    assert catalog_build.main(["--same-as", "HuggingFaceTB/SmolLM2-135M", str(tmp_path / "same.json")]) == 0
    assert catalog_build.main(["--same-as", "HuggingFaceTB/SmolLM2-135M", str(tmp_path / "same.json"),
                               str(tmp_path / "deeper.json")]) == 1


def test_json_round_trip_folds_layers():
    inv = catalog_build.shipped("meta-llama/Llama-3.1-70B")
    text = inv.to_json()
    assert len(text) < 4000 and len(inv.modules) > 1000  # 80 layers written once
    back = Inventory.from_json(text)
    assert back.modules == inv.modules and list(back.parameters.items()) == list(inv.parameters.items())
    assert back.to_json() == text


def test_json_round_trip_of_layers_that_differ():
    """Numbered siblings fold only while they are equal: a different layer breaks the run."""
    inv = catalog_build.shipped("Qwen/Qwen2.5-0.5B")
    name = "model.layers.5.self_attn.q_proj"
    mods = [replace(m, params=m.params + 1) if m.name == name else m for m in inv.modules]
    odd = replace(inv, modules=mods)
    back = Inventory.from_json(odd.to_json())
    assert back.modules == mods and back.by_name[name].params == inv.by_name[name].params + 1
    orphan = replace(inv, modules=inv.modules + [ModuleInfo("nowhere.x", "Linear", "linear", 2, 2)])
    assert Inventory.from_json(orphan.to_json()).modules == orphan.modules  # not a tree: rows as they are


# -- the first run imports no torch ---------------------------------------------------------------

PROBE = textwrap.dedent("""
    import json, sys
    from lora_lint.models import cache
    installed = sys.argv[2]
    if installed != "as-is":  # what another transformers release looks like to lora-lint
        real = cache.dist_version
        cache.dist_version = lambda name: installed if name == "transformers" else real(name)
    from lora_lint.cli import main
    rc = main(sys.argv[3:])
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers", "peft"})
    with open(sys.argv[1], "w") as f:
        json.dump({"rc": rc, "heavy": heavy}, f)
""")


@pytest.mark.slow
@pytest.mark.parametrize("installed", ["as-is", "5.999.0"])
def test_first_run_on_a_catalog_model_imports_no_torch(tmp_path, installed):
    """On the installed transformers, and on a release other than the one the inventories were
    built with: the prebuilt inventory is used, and the facts name the release it came from."""
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent("""
        from transformers import AutoModelForSequenceClassification
        from peft import LoraConfig, get_peft_model
        m = AutoModelForSequenceClassification.from_pretrained("meta-llama/Llama-3.2-1B")
        get_peft_model(m, LoraConfig(r=16, target_modules="all-linear", task_type="SEQ_CLS"))
    """))
    out = tmp_path / "probe.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LORA_LINT_CACHE_DIR": str(tmp_path / "cache"),
           "HF_HUB_CACHE": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(out), installed, "report", "--output-format",
                           "json", str(path)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["heavy"] == []
    (row,) = json.loads(proc.stdout)
    assert row["resolved_from"] == "catalog" and row["architecture"] == "LlamaForSequenceClassification"
    found = resolve_offline("meta-llama/Llama-3.2-1B")
    name = cache.prebuilt_file(found.config_hash, "AutoModelForSequenceClassification")
    assert row["facts"]["transformers"] == cache.prebuilt_index()["files"][name]["transformers"]
    assert row["trainable_params"] > 0 and not list((tmp_path / "cache").rglob("*.json"))  # nothing built


def test_catalog_stages_are_the_conventions():
    """catalog.json's stage fields are what models/stages.py derives (regenerate with
    `python -m lora_lint.models.catalog_build --stages`), and the Llama 3 ones are right."""
    from lora_lint.models import catalog, catalog_build

    current = json.loads(catalog.MANIFEST.read_text(encoding="utf-8"))
    assert catalog_build.with_stages(current) == current
    assert catalog_build.main(["--stages", "--check"]) == 0
    assert catalog.stage("meta-llama/Llama-3.1-8B")[0] == "base"
    assert catalog.stage("meta-llama/Llama-3.1-8B-Instruct")[0] == "instruct"
    assert catalog.stage("google/gemma-2-9b-it")[0] == "instruct"
    assert catalog.stage("Qwen/Qwen3-8B") is None  # post-trained under the plain name: no rule covers it
