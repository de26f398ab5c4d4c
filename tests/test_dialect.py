"""The Dialect records: one per dialect, consistent with peft's fields, and the one place rules,
the model analysis and ``report`` learn what a site's framework does with a value."""

import ast
import json
import pickle
import textwrap
from pathlib import Path

import pytest
from conftest import sites_for_text

from lora_lint.cli import main
from lora_lint.dialect import Dialect
from lora_lint.dialects import ORDER, named, names
from lora_lint.model import UNKNOWN, LoraSite, Param, Span
from lora_lint.models import context
from lora_lint.models.spec import LoraSpec
from lora_lint.peft_facts import lora_fields

PYTHON = ("peft", "unsloth", "unsloth-vision")
ALL = (*names(), *PYTHON)
HERE = Span(1, 1, 1, 2)
RULES = Path(__file__).parent.parent / "lora_lint" / "rules"


def test_every_dialect_module_is_in_the_detection_order():
    """``dialects.ORDER`` is the one list of the dialects (a module is imported when a document
    gets to its signature): a module left out of it would never read a document."""
    package = RULES.parent / "dialects"
    modules = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    assert sorted(ORDER) == sorted(modules) and len(set(ORDER)) == len(ORDER)


@pytest.mark.parametrize("name", ALL)
def test_every_record_speaks_of_real_fields(name):
    d = named(name)
    fields = set(lora_fields())
    assert d.name == name and d.what
    assert set(d.keymap.values()) <= fields, "a spelling maps to a field peft does not have"
    assert set(d.defaults) <= fields and set(d.decided) <= fields
    if d.settable is not None:
        assert d.settable <= fields
        assert set(d.defaults) <= d.settable | {"bias", "task_type"}  # fixed by the framework, not settable
    for field, value in d.defaults.items():
        assert d.fallback(field) == value


def test_python_and_saved_traits():
    peft, unsloth, vision, saved = (named(n) for n in ("peft", "unsloth", "unsloth-vision", "saved-adapter"))
    assert all(d.python and d.as_written and d.peft_keys for d in (peft, unsloth, vision))
    assert saved.saved and saved.as_written and saved.peft_loads and not saved.python and not saved.advisable
    config = named("adapter_config")  # peft's JSON written for training: advice applies
    assert config.peft_loads and config.as_written and not config.saved and config.advisable
    assert peft.passer is None and unsloth.passer == "Unsloth"
    assert peft.string_targets and vision.string_targets and not unsloth.string_targets
    assert "random_state" in unsloth.names() and "random_state" not in peft.names()
    for name in names():
        d = named(name)
        assert not d.python and (d.as_written == d.peft_loads)


def test_records_compare_and_pickle_by_name():
    d = named("axolotl")
    copy = pickle.loads(pickle.dumps(d))
    assert copy == d and hash(copy) == hash(d) and copy is not d
    assert copy.keymap == d.keymap and copy.means("lora_rank") == {"r"}
    assert d != named("trl") and d != "axolotl"
    site = LoraSite("x.yaml", d, HERE, {"r": Param("r", 8, HERE)})
    assert pickle.loads(pickle.dumps(site)).dialect == d


def site(name, open_=False, **values):
    return LoraSite("x.yaml", named(name), HERE, {k: Param(k, v, HERE) for k, v in values.items()}, open=open_)


def test_effective_value_of_a_left_out_field():
    # written values win; an open site leaves every other field unknown
    assert site("axolotl", r=32).effective("r") == 32
    assert site("peft", open_=True).effective("r") is UNKNOWN
    # values that reach peft as written: peft's default (from the snapshot)
    assert site("peft").effective("r") == lora_fields()["r"] == 8
    assert site("adapter_config").effective("lora_alpha") == 8
    # the framework's own default (Unsloth's r=16), even where the reader did not supply it
    assert site("unsloth").effective("r") == 16
    assert site("trl").effective("lora_alpha") == 32
    # a YAML framework passes its own r and alpha: without a default of its own, unknown
    assert site("axolotl").effective("r") is UNKNOWN
    assert site("home-grown").effective("lora_alpha") is UNKNOWN
    # fields it never passes get peft's default
    assert site("axolotl").effective("use_rslora") is False
    assert site("torchtune").effective("layers_to_transform") is None


def test_the_model_analysis_asks_the_same_function():
    spec = LoraSpec.from_site(site("axolotl", target_modules=["q_proj"]))
    assert spec.r is UNKNOWN and spec.lora_alpha is UNKNOWN and spec.use_rslora is False
    assert LoraSpec.from_site(site("peft")).r == 8
    spec = LoraSpec.from_site(site("peft"))
    spec.rank_pattern["x"] = 1  # the snapshot's own default is not shared
    assert LoraSpec.from_site(site("peft")).rank_pattern == {} == LoraSpec().rank_pattern


AXOLOTL = """\
    base_model: meta-llama/Llama-3.2-1B
    adapter: lora
    {rank}lora_alpha: 16
    lora_target_modules: [q_proj, v_proj]
    datasets:
      - path: x
        type: alpaca
    """


@pytest.mark.parametrize("rank", ["", "lora_r: 8\n    "])
def test_report_does_not_invent_a_rank(rank, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "ll-cache"))
    context._memo.clear()
    path = tmp_path / "axolotl.yaml"
    path.write_text(textwrap.dedent(AXOLOTL.format(rank=rank)))
    assert main(["report", "--output-format", "json", "--offline", str(path)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["dialect"] == "axolotl" and row["lora_alpha"] == 16
    if rank:  # r=8: 16 layers x 2 modules x 8 x (2048 + out)
        assert row["r"] == 8 and row["scaling"] == 2 and row["trainable_params"] > 0
        assert row["targeted_modules"] == 32
    else:  # axolotl passes lora_r: None to peft, which fails on it; r=8 (peft's default) would be a guess
        assert row["r"] is None and row["scaling"] is None and row["trainable_params"] is None
        assert row["peft_error"] == "TypeError: '<=' not supported between instances of 'NoneType' and 'int'"


def test_readers_hand_out_their_records():
    (s,) = sites_for_text("t.py", "from unsloth import FastLanguageModel\nFastLanguageModel.get_peft_model(m, r=8)\n")
    assert s.dialect is named("unsloth") and isinstance(s.dialect, Dialect)
    (s,) = sites_for_text("c.yaml", "base_model: x\nadapter: lora\nlora_r: 8\nsequence_len: 2\n")
    assert s.dialect is named("axolotl")


@pytest.mark.parametrize("module", sorted(p.name for p in RULES.glob("*.py")))
def test_rules_import_no_reader(module):
    """Rules learn about dialects from the record the site carries, never from a reader."""
    tree = ast.parse((RULES / module).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = "." * node.level + (node.module or "")
            names = {a.name for a in node.names}
            assert not target.startswith(("..dialects", "..sources", "lora_lint.dialects", "lora_lint.sources")), target
            assert not (target == ".." and names & {"dialects", "sources"}), target
