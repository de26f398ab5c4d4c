"""``--fix``, ``--unsafe-fixes`` and ``--diff`` for real, through the command line.

Each case is a file before and after its fix (exact text): the fix is applied with ``--fix``
(and ``--unsafe-fixes`` for the unsafe ones), the fixed file re-lints clean of that rule, a second
``--fix`` changes nothing, an unsafe fix is not applied without ``--unsafe-fixes``, and ``--diff``
shows the same change without writing it. Model-aware cases name the tiny fixture models.
How fixes are applied to files (atomic writes, a kill mid-write...) is in test_fix_apply.py.
"""

import json
from pathlib import Path

import pytest

from lora_lint.cli import main
from lora_lint.pipeline import lint_file, lint_text
from lora_lint.rules import all_rules
from lora_lint.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "tests" / "fixtures" / "models"
PY = "from peft import LoraConfig\n"


def model_py(model: str, body: str) -> str:
    return f"# lora-lint: base-model={MODELS / model}\n{PY}{body}"


# (id, filename, code, unsafe, before, after)
CASES = [
    # LL001: certain renames
    ("LL001-typo", "train.py", "LL001", False,
     PY + "cfg = LoraConfig(r=8, lora_aplha=16)\n",
     PY + "cfg = LoraConfig(r=8, lora_alpha=16)\n"),
    ("LL001-alias-keeps-comment", "train.py", "LL001", False,
     PY + "cfg = LoraConfig(\n    rank=8,  # the rank\n    lora_alpha=16,\n)\n",
     PY + "cfg = LoraConfig(\n    r=8,  # the rank\n    lora_alpha=16,\n)\n"),
    ("LL001-axolotl-other-framework-spelling", "sft.yaml", "LL001", False,
     "base_model: ./m\nadapter: lora\nlora_rank: 16  # rank\nlora_alpha: 32\nsequence_len: 2048\n",
     "base_model: ./m\nadapter: lora\nlora_r: 16  # rank\nlora_alpha: 32\nsequence_len: 2048\n"),
    ("LL001-yaml-block-typo", "train.yaml", "LL001", False,
     "peft:\n  _target_: peft.LoraConfig\n  r: 8\n  lora_aplha: 16\n  target_modules: [q_proj]\n",
     "peft:\n  _target_: peft.LoraConfig\n  r: 8\n  lora_alpha: 16\n  target_modules: [q_proj]\n"),
    ("LL001-json-key-in-quotes", "lora_config.json", "LL001", False,
     '{\n  "peft_type": "LORA", "r": 8, "lora_dropuot": 0.1, "target_modules": ["q_proj"]\n}\n',
     '{\n  "peft_type": "LORA", "r": 8, "lora_dropout": 0.1, "target_modules": ["q_proj"]\n}\n'),
    # LL011: what the config evidently means
    ("LL011-all-linear-list", "train.py", "LL011", False,
     PY + "cfg = LoraConfig(r=8, target_modules=['all-linear'])\n",
     PY + "cfg = LoraConfig(r=8, target_modules='all-linear')\n"),
    ("LL011-comma-joined-string", "train.py", "LL011", False,
     PY + 'cfg = LoraConfig(r=8, target_modules="q_proj, v_proj,o_proj")\n',
     PY + 'cfg = LoraConfig(r=8, target_modules=["q_proj", "v_proj", "o_proj"])\n'),
    ("LL011-axolotl-flow-list", "sft.yaml", "LL011", False,
     "base_model: ./m\nadapter: lora\nlora_r: 8\nlora_target_modules: [all-linear]  # every linear\nsequence_len: 1\n",
     "base_model: ./m\nadapter: lora\nlora_r: 8\nlora_target_modules: all-linear  # every linear\nsequence_len: 1\n"),
    ("LL011-yaml-block-list", "train.yaml", "LL011", False,
     "lora:\n  _target_: peft.LoraConfig\n  r: 8\n  target_modules:\n    - \"all-linear\"\n  lora_dropout: 0.1\n",
     "lora:\n  _target_: peft.LoraConfig\n  r: 8\n  target_modules: \"all-linear\"\n  lora_dropout: 0.1\n"),
    # LL209: the value peft uses anyway
    ("LL209-linear", "train.py", "LL209", False,
     model_py("tiny-llama", 'cfg = LoraConfig(target_modules=["q_proj"], fan_in_fan_out=True)\n'),
     model_py("tiny-llama", 'cfg = LoraConfig(target_modules=["q_proj"], fan_in_fan_out=False)\n')),
    ("LL209-conv1d", "train.py", "LL209", False,
     model_py("tiny-gpt2", 'cfg = LoraConfig(target_modules=["c_attn"], fan_in_fan_out=False)\n'),
     model_py("tiny-gpt2", 'cfg = LoraConfig(target_modules=["c_attn"], fan_in_fan_out=True)\n')),
    ("LL209-axolotl", "sft.yaml", "LL209", False,
     f"base_model: {MODELS / 'tiny-llama'}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_fan_in_fan_out: True\n"
     "lora_target_modules: [q_proj]\nsequence_len: 1\n",
     f"base_model: {MODELS / 'tiny-llama'}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_fan_in_fan_out: False\n"
     "lora_target_modules: [q_proj]\nsequence_len: 1\n"),
    # LL101 (unsafe): rsLoRA on
    ("LL101-inline", "train.py", "LL101", True,
     PY + "cfg = LoraConfig(r=64, lora_alpha=128)\n",
     PY + "cfg = LoraConfig(r=64, use_rslora=True, lora_alpha=128)\n"),
    ("LL101-own-line-last-argument-in-a-function", "train.py", "LL101", True,
     PY + "def make():\n    return LoraConfig(\n        lora_alpha=16,\n        r=64  # rank\n    )\n",
     PY + "def make():\n    return LoraConfig(\n        lora_alpha=16,\n        r=64,  # rank\n"
          "        use_rslora=True\n    )\n"),
    ("LL101-written-false", "train.py", "LL101", True,
     PY + "cfg = LoraConfig(r=64, use_rslora=False)\n",
     PY + "cfg = LoraConfig(r=64, use_rslora=True)\n"),
    ("LL101-axolotl", "sft.yaml", "LL101", True,
     "base_model: ./m\nadapter: lora\nlora_r: 64  # rank\nlora_alpha: 16\nsequence_len: 1\n",
     "base_model: ./m\nadapter: lora\nlora_r: 64  # rank\npeft_use_rslora: true\nlora_alpha: 16\nsequence_len: 1\n"),
    ("LL101-llama-factory-last-line", "sft.yaml", "LL101", True,
     "model_name_or_path: ./m\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 128",
     "model_name_or_path: ./m\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 128\nuse_rslora: true"),
    ("LL101-json", "lora_config.json", "LL101", True,
     '{\n  "peft_type": "LORA",\n  "r": 32,\n  "lora_alpha": 64,\n  "target_modules": ["q_proj"]\n}\n',
     '{\n  "peft_type": "LORA",\n  "r": 32,\n  "use_rslora": true,\n  "lora_alpha": 64,\n  "target_modules": ["q_proj"]\n}\n'),
    # LL202 (unsafe): the architecture's real names, or drop what matches nothing
    ("LL202-phi3-fused", "train.py", "LL202", True,
     model_py("tiny-phi3", 'cfg = LoraConfig(target_modules=[\n    "q_proj",\n    "k_proj",  # keys\n    "v_proj",\n'
              '    "o_proj",\n    "gate_proj",\n    "up_proj",\n    "down_proj",\n])\n'),
     model_py("tiny-phi3", 'cfg = LoraConfig(target_modules=[\n    "qkv_proj",\n'
              '    "o_proj",\n    "gate_up_proj",\n    "down_proj",\n])\n')),
    ("LL202-gpt2-merge-and-drop", "train.py", "LL202", True,
     model_py("tiny-gpt2", 'cfg = LoraConfig(target_modules=["c_attn", "q_proj", "o_proj"], fan_in_fan_out=True)\n'),
     model_py("tiny-gpt2", 'cfg = LoraConfig(target_modules=["c_attn"], fan_in_fan_out=True)\n')),
    ("LL202-axolotl-block-drop", "sft.yaml", "LL202", True,
     f"base_model: {MODELS / 'tiny-llama'}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_modules:\n  - q_proj\n"
     "  - query  # BERT's name\n  - v_proj\nsequence_len: 1\n",
     f"base_model: {MODELS / 'tiny-llama'}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_modules:\n  - q_proj\n  - v_proj\nsequence_len: 1\n"),
    ("LL202-llama-factory-comma-list", "sft.yaml", "LL202", True,
     f"model_name_or_path: {MODELS / 'tiny-llama'}\nstage: sft\ndo_train: true\nlora_target: q_proj,query,v_proj\n",
     f"model_name_or_path: {MODELS / 'tiny-llama'}\nstage: sft\ndo_train: true\nlora_target: q_proj,v_proj\n"),
]


def codes(path: Path, code: str) -> list:
    return [f for f in lint_text(str(path), path.read_text(), Settings(select=[code])) if f.code == code]


def check(path: Path, code: str, *flags: str) -> int:
    return main(["check", "--isolated", "--offline", "--select", code, *flags, str(path)])


@pytest.mark.parametrize("name,filename,code,unsafe,before,after", CASES, ids=[c[0] for c in CASES])
def test_fix(tmp_path, capsys, name, filename, code, unsafe, before, after):
    path = tmp_path / filename
    path.write_bytes(before.encode())
    found = codes(path, code)
    assert found and all(f.fix is not None for f in found)
    assert {f.fix.applicability for f in found} == {"unsafe" if unsafe else "safe"}
    flags = ["--fix", "--unsafe-fixes"] if unsafe else ["--fix"]
    if unsafe:  # not applied without --unsafe-fixes
        check(path, code, "--fix")
        assert path.read_bytes() == before.encode()
    capsys.readouterr()
    check(path, code, "--diff", *flags[1:])
    diff = capsys.readouterr().out
    assert path.read_bytes() == before.encode()  # --diff writes nothing
    assert diff.startswith(f"--- {path}\n+++ {path}\n")
    check(path, code, *flags)
    assert path.read_bytes().decode() == after
    assert codes(path, code) == []  # the fixed file is clean of that finding
    capsys.readouterr()
    check(path, code, *flags)  # a second --fix changes nothing
    assert path.read_bytes().decode() == after
    assert capsys.readouterr().out == "All checks passed!\n"


def test_unsafe_fix_messages_state_the_effect(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(PY + "cfg = LoraConfig(r=64, lora_alpha=128)\n")
    (f,) = codes(path, "LL101")
    assert f.fix.message == "Set `use_rslora=True`: scaling α/r = 128/64 = 2.0 becomes α/√r = 128/√64 = 16.0"
    path.write_text(model_py("tiny-phi3", 'cfg = LoraConfig(target_modules=["q_proj", "v_proj", "o_proj", "query"])\n'))
    fixes = {f.fix.message for f in codes(path, "LL202")}
    assert fixes == {"Replace 'q_proj', 'v_proj', 'query' with 'qkv_proj', the fused layer Phi3ForCausalLM has"
                     " instead: adapts qkv_proj ×4 as well"}


# -- what is not fixed --------------------------------------------------------------------------

NOT_FIXED = [
    ("target already written", "LL001", PY + "cfg = LoraConfig(r=8, rank=16)\n"),
    ("**kwargs may set it", "LL001", PY + "cfg = LoraConfig(lora_aplha=16, **extra)\n"),
    ("two names as close", "LL001", PY + "cfg = LoraConfig(r=8, use_qslora=True)\n"),
    ("removed field", "LL001", PY + "cfg = LoraConfig(r=8, enable_lora=[True])\n"),
    ("yaml target already written", "LL001",
     "base_model: ./m\nadapter: lora\nlora_r: 8\nlora_rank: 16\nsequence_len: 1\n"),
    ("saved adapter", "LL001", '{"peft_type": "LORA", "r": 8, "lora_aplha": 16, "inference_mode": true}\n'),
    ("a regex is not rewritten", "LL011", PY + "cfg = LoraConfig(r=8, target_modules='q_proj|v_proj')\n"),
    ("all-linear beside other names", "LL011", PY + "cfg = LoraConfig(r=8, target_modules=['all-linear', 'lm_head'])\n"),
    ("a comment in the list", "LL011", PY + "cfg = LoraConfig(r=8, target_modules=[\n    'all-linear',  # all\n])\n"),
    ("a home-grown block's reader is unknown", "LL011",
     "lora:\n  r: 8\n  lora_alpha: 16\n  target_modules: [all-linear]\n"),
    ("Unsloth reads the names itself", "LL011", "from unsloth import FastLanguageModel\n"
     "m = FastLanguageModel.get_peft_model(model, r=8, target_modules=['all-linear'])\n"),
    ("a computed value", "LL209",
     model_py("tiny-llama", 'FLAG = True\ncfg = LoraConfig(target_modules=["q_proj"], fan_in_fan_out=FLAG)\n')),
]


@pytest.mark.parametrize("why,code,text", NOT_FIXED, ids=[n[0] for n in NOT_FIXED])
def test_no_fix_when_not_certain(tmp_path, why, code, text):
    path = tmp_path / ("x.json" if text.startswith("{") else "x.py" if "import" in text else "x.yaml")
    path.write_text(text)
    found = codes(path, code)
    assert found and all(f.fix is None for f in found)


def test_no_advice_on_a_saved_adapter_nor_a_home_grown_block(tmp_path):
    """A saved adapter's run is over, and a home-grown block's values pass through code lora-lint
    does not read: advice (LL101 and the other advisory rules) is given on neither."""
    saved = tmp_path / "adapter_config.json"
    saved.write_text('{"peft_type": "LORA", "r": 64, "lora_alpha": 4, "inference_mode": true}\n')
    home = tmp_path / "train.yaml"
    home.write_text("lora:\n  r: 64\n  lora_alpha: 4\n  use_rslora: false\n  target_modules: [q_proj]\n")
    advice = [c for c, r in all_rules().items() if r.advice]
    assert sorted(advice) == ["LL101", "LL102", "LL103", "LL104", "LL105", "LL106", "LL207", "LL305"]
    for path in (saved, home):
        assert [f.code for f in lint_file(str(path), Settings(select=["ALL"])) if f.code in advice] == []
    training = tmp_path / "lora_config.json"  # the same settings, written for training
    training.write_text('{"peft_type": "LORA", "r": 64, "lora_alpha": 4}\n')
    assert {"LL101", "LL104"} <= {f.code for f in lint_file(str(training), Settings(select=["ALL"]))}


def test_unsafe_fix_without_use_rslora_switch_is_not_offered(tmp_path):
    """torchtune has no rsLoRA switch: LL101 does not fire, so nothing can be added."""
    path = tmp_path / "x.yaml"
    path.write_text("model:\n  _component_: torchtune.models.llama3_2.lora_llama3_2_1b\n"
                    "  lora_attn_modules: [q_proj, v_proj]\n  lora_rank: 64\n  lora_alpha: 16\n")
    assert codes(path, "LL101") == []


# -- output -------------------------------------------------------------------------------------

MIXED = PY + "cfg = LoraConfig(r=64, lora_aplha=16)\n"


def test_concise_marks_fixable_findings_and_counts_them(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(MIXED)
    assert main(["check", "--isolated", "--select", "LL001,LL101", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{path}:2:18: LL101 [warning] r=64 without use_rslora: scaling α/r = 8/64 = 0.125; with use_rslora=True"
        " it would be α/√r = 8/√64 = 1.0 (recommended for r ≥ 32)",
        f"{path}:2:24: LL001 [*] [error] `lora_aplha` is not a field of peft's LoraConfig; did you mean `lora_alpha`?",
        "Found 2 findings (1 error, 1 warning).",
        "[*] 1 fixable with `--fix` (1 unsafe fix available with `--fix --unsafe-fixes`).",
    ]
    main(["check", "--isolated", "--select", "LL001,LL101", "--unsafe-fixes", str(path)])
    out = capsys.readouterr().out
    assert "LL101 [*] [warning]" in out and out.endswith("[*] 2 fixable with `--fix`.\n")
    assert main(["check", "--isolated", "--select", "LL001,LL101", "--fix", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.endswith("Found 2 findings (1 fixed, 1 remaining: 1 warning).\n"
                        "1 unsafe fix available with `--fix --unsafe-fixes`.\n")
    assert main(["check", "--isolated", "--select", "LL001,LL101", "--fix", "--unsafe-fixes", str(path)]) == 0
    assert capsys.readouterr().out == "Found 1 finding (1 fixed, 0 remaining).\n"


def test_json_fix_has_ruffs_shape_and_its_edits_give_the_fixed_text(tmp_path, capsys):
    path = tmp_path / "train.py"
    before = PY + "cfg = LoraConfig(\n    r=64,\n    lora_aplha=16,\n)\n"
    path.write_text(before)
    main(["check", "--isolated", "--select", "LL001,LL101", "--output-format", "json", str(path)])
    data = json.loads(capsys.readouterr().out)
    fixes = {d["code"]: d["fix"] for d in data}
    assert fixes["LL001"] == {
        "applicability": "safe", "message": "Rename `lora_aplha` to `lora_alpha`",
        "edits": [{"content": "lora_alpha", "location": {"row": 4, "column": 5},
                   "end_location": {"row": 4, "column": 15}}]}
    assert fixes["LL101"]["applicability"] == "unsafe"
    text = before
    lines = text.splitlines(keepends=True)

    def offset(loc):
        return sum(len(x) for x in lines[:loc["row"] - 1]) + loc["column"] - 1

    edits = fixes["LL101"]["edits"] + fixes["LL001"]["edits"]  # positions in the original text
    for e in sorted(edits, key=lambda e: offset(e["location"]), reverse=True):
        text = text[:offset(e["location"])] + e["content"] + text[offset(e["end_location"]):]
    assert text == PY + "cfg = LoraConfig(\n    r=64,\n    use_rslora=True,\n    lora_alpha=16,\n)\n"


def test_full_format_names_the_fix(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(MIXED)
    main(["check", "--isolated", "--select", "LL001,LL101", "--output-format", "full", str(path)])
    out = capsys.readouterr().out
    assert "LL001 [*] [error] `lora_aplha` is not a field of peft's LoraConfig" in out
    assert "fix: Rename `lora_aplha` to `lora_alpha`" in out
    assert "fix (unsafe): Set `use_rslora=True`: scaling α/r = 8/64 = 0.125 becomes α/√r = 8/√64 = 1.0" in out


def test_diff_exit_codes_and_nothing_written(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(MIXED)
    assert main(["check", "--isolated", "--select", "LL001", "--diff", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == (f"--- {path}\n+++ {path}\n@@ -1,2 +1,2 @@\n from peft import LoraConfig\n"
                            "-cfg = LoraConfig(r=64, lora_aplha=16)\n+cfg = LoraConfig(r=64, lora_alpha=16)\n")
    assert captured.err == "Would fix 1 finding.\n"
    assert path.read_text() == MIXED
    assert main(["check", "--isolated", "--select", "LL101", "--diff", str(path)]) == 0  # only an unsafe fix
    assert capsys.readouterr().out == ""


def test_stdin_fix_prints_the_fixed_text(tmp_path, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(MIXED))
    code = main(["check", "--isolated", "--select", "LL001,LL101", "--fix", "-", "--stdin-filename", "train.py"])
    captured = capsys.readouterr()
    assert captured.out == PY + "cfg = LoraConfig(r=64, lora_alpha=16)\n"
    assert "train.py:2:18: LL101 [warning]" in captured.err and "(1 fixed, 1 remaining" in captured.err
    assert code == 1
