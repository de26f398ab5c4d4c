"""``lora-lint report``: JSON shape, text table, and counts equal to real peft on meta models."""

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

from lora_lint.cli import main
from lora_lint.models import catalog, context
from lora_lint.peft_facts import scaling
from lora_lint.report import human_bytes, human_count

REQUIRED = {"filename", "location", "base_model", "resolved_from", "total_params", "trainable_params",
            "targeted_modules"}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "ll-cache"))
    context._memo.clear()


def report_json(tmp_path, capsys, src, *extra):
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(src))
    assert main(["report", "--output-format", "json", "--offline", *extra, str(path)]) == 0
    return json.loads(capsys.readouterr().out)


# (model id, model class, LoraConfig kwargs as source, the same as Python values)
CASES = [
    ("openai-community/gpt2", "AutoModelForCausalLM", "r=8, target_modules=['c_attn']",
     dict(r=8, target_modules=["c_attn"])),
    ("Qwen/Qwen2.5-0.5B", "AutoModelForCausalLM",
     "r=64, lora_alpha=16, target_modules=['q_proj', 'v_proj']",
     dict(r=64, lora_alpha=16, target_modules=["q_proj", "v_proj"])),
    ("meta-llama/Llama-3.2-1B", "AutoModelForCausalLM", "r=16, lora_alpha=32, target_modules='all-linear'",
     dict(r=16, lora_alpha=32, target_modules="all-linear")),
    ("Qwen/Qwen2.5-0.5B", "AutoModelForSequenceClassification",
     "r=8, target_modules=['q_proj', 'k_proj', 'v_proj', 'o_proj'], task_type='SEQ_CLS'",
     dict(r=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="SEQ_CLS")),
]


def peft_counts(model_id, model_class, kwargs):
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    config = json.loads((catalog.CATALOG / catalog.model_ids()[model_id]).read_text())
    cfg = transformers.AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = getattr(transformers, model_class).from_config(cfg)
    total = sum(p.numel() for p in model.parameters())
    peft_model = get_peft_model(model, LoraConfig(**kwargs), low_cpu_mem_usage=True)
    trainable, all_params = peft_model.get_nb_trainable_parameters()
    return total, trainable, all_params, len(peft_model.targeted_module_names)


@pytest.mark.parametrize("model_id,model_class,src_kwargs,kwargs", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_counts_equal_real_peft(tmp_path, capsys, model_id, model_class, src_kwargs, kwargs):
    (row,) = report_json(tmp_path, capsys, f"""
        from transformers import {model_class}
        from peft import LoraConfig, get_peft_model
        model = {model_class}.from_pretrained("{model_id}")
        model = get_peft_model(model, LoraConfig({src_kwargs}))
    """)
    assert REQUIRED <= set(row)
    total, trainable, all_params, targeted = peft_counts(model_id, model_class, kwargs)
    assert row["base_model"] == model_id and row["resolved_from"] == "catalog"
    assert row["total_params"] == total
    assert row["trainable_params"] == trainable
    assert row["peft_all_params"] == all_params
    assert row["targeted_modules"] == targeted
    assert row["trainable_percent"] == pytest.approx(100 * trainable / total)
    assert row["adapter_bytes"] == {"fp32": 4 * trainable, "bf16": 2 * trainable}
    assert row["facts"]["peft"] == "0.21.2" and row["facts"]["transformers"]


def test_saved_seq_cls_adapter_is_counted_on_the_classification_model(tmp_path, capsys):
    """A RoBERTa adapter_config.json (as peft saves it: task_type SEQ_CLS, its heads written into
    modules_to_save twice) is counted on RobertaForSequenceClassification, as peft loads it."""
    kwargs = dict(r=16, lora_alpha=32, lora_dropout=0.1, target_modules=["value", "query"], task_type="SEQ_CLS",
                  modules_to_save=["classifier", "score", "classifier", "score"])
    path = tmp_path / "adapter_config.json"
    path.write_text(json.dumps(dict(kwargs, peft_type="LORA", base_model_name_or_path="FacebookAI/roberta-base")))
    assert main(["report", "--output-format", "json", "--offline", str(path)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    total, trainable, all_params, targeted = peft_counts("FacebookAI/roberta-base", "AutoModelForSequenceClassification",
                                                         kwargs)
    assert row["architecture"] == "RobertaForSequenceClassification" and row["total_params"] == total
    assert (row["trainable_params"], row["peft_all_params"], row["targeted_modules"]) == (trainable, all_params, targeted)
    assert trainable == 1_181_954  # LoRA on 24 modules and the classifier's full copy


def test_json_shape_for_every_kind_of_site(tmp_path, capsys):
    rows = report_json(tmp_path, capsys, """
        import os
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        a = AutoModelForCausalLM.from_pretrained("Qwen/Qwen2.5-0.5B-Instruct")
        get_peft_model(a, LoraConfig(r=32, lora_alpha=64, use_rslora=True, target_modules=["q_proj"]))
        b = AutoModelForCausalLM.from_pretrained(os.environ["MODEL"])
        get_peft_model(b, LoraConfig(r=8))
        c = AutoModelForCausalLM.from_pretrained("acme/unknown-3b")
        get_peft_model(c, LoraConfig(r=8))
        get_peft_model(a, LoraConfig(r=8, target_modules=["nope"]))
    """)
    assert [r["location"] for r in rows] == [
        {"row": 6, "column": 19}, {"row": 8, "column": 19}, {"row": 10, "column": 19},
        {"row": 11, "column": 19}]
    ok, dynamic, unknown, broken = rows
    assert all(REQUIRED <= set(r) for r in rows)
    assert ok["model_id"] == "Qwen/Qwen2.5-0.5B" and ok["base_model_from"] == "config"
    assert ok["scaling"] == pytest.approx(64 / 32 ** 0.5) and ok["targeted_modules"] == 24
    assert ok["trainable_params"] == 24 * 32 * (896 + 896)
    assert dynamic["base_model"] is None and "computed at run time" in dynamic["unresolved"]
    assert unknown["base_model"] == "acme/unknown-3b" and unknown["resolved_from"] is None
    assert unknown["total_params"] is None and "not found offline" in unknown["unresolved"]
    assert broken["trainable_params"] is None and broken["peft_error"]
    assert broken["total_params"] == 494_032_768


def test_base_model_flag_applies_to_every_site(tmp_path, capsys):
    rows = report_json(tmp_path, capsys, """
        from peft import LoraConfig
        LoraConfig(r=8, target_modules=["q_proj", "v_proj"])
    """, "--base-model", "meta-llama/Llama-3.2-1B-Instruct")
    (row,) = rows
    assert row["base_model_from"] == "cli" and row["model_id"] == "meta-llama/Llama-3.2-1B"
    assert row["trainable_params"] == 16 * 8 * ((2048 + 2048) + (2048 + 512))


def test_text_table(tmp_path, capsys):
    path = tmp_path / "t.py"
    path.write_text(textwrap.dedent("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        m = AutoModelForCausalLM.from_pretrained("Qwen/Qwen2.5-0.5B")
        get_peft_model(m, LoraConfig(r=64, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
        LoraConfig(r=8)  # lora-lint: base-model=acme/nothing
    """))
    assert main(["report", "--offline", str(path)]) == 0
    out = capsys.readouterr().out
    header, rule, row, row2, *rest = out.splitlines()
    assert header.split()[:4] == ["location", "base", "model", "resolved"]
    assert "acme/nothing" in row and "catalog" not in row  # the comment overrides every site
    assert "model-aware rules skipped" in out


def test_no_sites(tmp_path, capsys):
    (tmp_path / "x.py").write_text("print('hi')\n")
    assert main(["report", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "No LoRA configurations found.\n"


def test_unreadable_file_goes_to_stderr(tmp_path, capsys):
    (tmp_path / "bad.py").write_text("from peft import LoraConfig\nLoraConfig(r=8\n")
    assert main(["report", "--output-format", "json", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "syntax error" in captured.err


def test_helpers():
    # scaling(alpha, r, rslora): the formula's one home, shared with the rules
    assert scaling(32, 16, False) == 2 and scaling(32, 16, True) == 8
    assert scaling(8, 0, False) is None and scaling(8, "16", False) is None and scaling(8, 8, None) is None
    assert human_count(4_325_376) == "4.33M" and human_count(None) == "-"
    assert human_bytes(2 * 4_325_376) == "8.25 MiB" and human_bytes(512) == "512 B"


def test_report_subcommand_in_a_fresh_process(tmp_path):
    path = tmp_path / "t.py"
    path.write_text("from peft import LoraConfig\nLoraConfig(r=8)  # lora-lint: base-model=gpt2\n")
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "report", "--output-format", "json", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["model_id"] == "openai-community/gpt2" and row["resolved_from"] == "catalog"
