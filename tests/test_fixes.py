"""``--fix``, ``--unsafe-fixes`` and ``--diff`` for real, through the command line.

Each case is a file before and after its fix (exact text): the fix is applied with ``--fix``
(and ``--unsafe-fixes`` for the unsafe ones), the fixed file re-lints clean of that rule, a second
``--fix`` changes nothing, an unsafe fix is not applied without ``--unsafe-fixes``, and ``--diff``
shows the same change without writing it. Model-aware cases name the tiny fixture models.
"""

import json
import os
from pathlib import Path

import pytest

from lora_lint.cli import main
from lora_lint.engine import lint_text
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
     "lora:\n  r: 8\n  lora_aplha: 16\n  target_modules: [q_proj]\n",
     "lora:\n  r: 8\n  lora_alpha: 16\n  target_modules: [q_proj]\n"),
    ("LL001-json-key-in-quotes", "train.json", "LL001", False,
     '{\n  "lora": {"r": 8, "lora_dropuot": 0.1, "target_modules": ["q_proj"]}\n}\n',
     '{\n  "lora": {"r": 8, "lora_dropout": 0.1, "target_modules": ["q_proj"]}\n}\n'),
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
     "lora:\n  r: 8\n  lora_alpha: 16\n  target_modules:\n    - \"all-linear\"\n  lora_dropout: 0.1\n",
     "lora:\n  r: 8\n  lora_alpha: 16\n  target_modules: \"all-linear\"\n  lora_dropout: 0.1\n"),
    # LL209: the value peft uses anyway
    ("LL209-linear", "train.py", "LL209", False,
     model_py("tiny-llama", 'cfg = LoraConfig(target_modules=["q_proj"], fan_in_fan_out=True)\n'),
     model_py("tiny-llama", 'cfg = LoraConfig(target_modules=["q_proj"], fan_in_fan_out=False)\n')),
    ("LL209-conv1d", "train.py", "LL209", False,
     model_py("tiny-gpt2", 'cfg = LoraConfig(target_modules=["c_attn"], fan_in_fan_out=False)\n'),
     model_py("tiny-gpt2", 'cfg = LoraConfig(target_modules=["c_attn"], fan_in_fan_out=True)\n')),
    ("LL209-axolotl", "sft.yaml", "LL209", False,
     f"base_model: {MODELS / 'tiny-llama'}\nadapter: lora\nlora_fan_in_fan_out: True\n"
     "lora_target_modules: [q_proj]\nsequence_len: 1\n",
     f"base_model: {MODELS / 'tiny-llama'}\nadapter: lora\nlora_fan_in_fan_out: False\n"
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
    ("LL101-json", "train.json", "LL101", True,
     '{\n  "lora": {\n    "r": 32,\n    "lora_alpha": 64,\n    "target_modules": ["q_proj"]\n  }\n}\n',
     '{\n  "lora": {\n    "r": 32,\n    "use_rslora": true,\n    "lora_alpha": 64,\n    "target_modules": ["q_proj"]\n  }\n}\n'),
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
     f"base_model: {MODELS / 'tiny-llama'}\nadapter: lora\nlora_target_modules:\n  - q_proj\n"
     "  - query  # BERT's name\n  - v_proj\nsequence_len: 1\n",
     f"base_model: {MODELS / 'tiny-llama'}\nadapter: lora\nlora_target_modules:\n  - q_proj\n  - v_proj\nsequence_len: 1\n"),
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
    ("saved adapter", "LL001", '{"peft_type": "LORA", "r": 8, "lora_aplha": 16}\n'),
    ("saved adapter keeps its scaling", "LL101", '{"peft_type": "LORA", "r": 64, "use_rslora": false}\n'),
    ("a regex is not rewritten", "LL011", PY + "cfg = LoraConfig(r=8, target_modules='q_proj|v_proj')\n"),
    ("all-linear beside other names", "LL011", PY + "cfg = LoraConfig(r=8, target_modules=['all-linear', 'lm_head'])\n"),
    ("a comment in the list", "LL011", PY + "cfg = LoraConfig(r=8, target_modules=[\n    'all-linear',  # all\n])\n"),
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


# -- files: line endings, BOM, permissions, links -----------------------------------------------

def test_crlf_bom_and_mode_are_kept(tmp_path, capsys):
    py = tmp_path / "train.py"
    py.write_bytes((PY + "cfg = LoraConfig(\n    r=64,\n    lora_aplha=16,\n)\n").replace("\n", "\r\n").encode())
    os.chmod(py, 0o640)
    yml = tmp_path / "sft.yaml"
    yml.write_bytes(b"\xef\xbb\xbfbase_model: ./m\nadapter: lora\nlora_rank: 64\nsequence_len: 1\n")
    crlf = tmp_path / "crlf.yaml"
    crlf.write_bytes(b"base_model: ./m\r\nadapter: lora\r\nlora_r: 64\r\nsequence_len: 1\r\n")
    main(["check", "--isolated", "--select", "LL001,LL101", "--fix", "--unsafe-fixes", str(tmp_path)])
    assert crlf.read_bytes() == b"base_model: ./m\r\nadapter: lora\r\nlora_r: 64\r\npeft_use_rslora: true\r\nsequence_len: 1\r\n"
    assert py.read_bytes() == (PY + "cfg = LoraConfig(\n    r=64,\n    use_rslora=True,\n    lora_alpha=16,\n)\n"
                               ).replace("\n", "\r\n").encode()
    assert os.stat(py).st_mode & 0o777 == 0o640
    assert yml.read_bytes() == b"\xef\xbb\xbfbase_model: ./m\nadapter: lora\nlora_r: 64\npeft_use_rslora: true\nsequence_len: 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crlf.yaml", "sft.yaml", "train.py"]  # no temporary files


def test_a_symlink_stays_a_link_to_the_fixed_file(tmp_path, capsys):
    real = tmp_path / "real.py"
    real.write_text(MIXED)
    link = tmp_path / "link.py"
    link.symlink_to(real)
    main(["check", "--isolated", "--select", "LL001", "--fix", str(link)])
    assert link.is_symlink() and real.read_text() == PY + "cfg = LoraConfig(r=64, lora_alpha=16)\n"


# -- a kill mid-write leaves the original -------------------------------------------------------

def test_kill_during_write_leaves_the_original_intact(tmp_path):
    import signal
    import subprocess
    import sys

    path = tmp_path / "train.py"
    original = (PY + "cfg = LoraConfig(r=8, lora_aplha=16)\n" + "# padding\n" * 2000).encode()
    path.write_bytes(original)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LORA_LINT_TEST_PAUSE_IN_WRITE": "1"}
    args = [sys.executable, "-m", "lora_lint", "check", "--isolated", "--select", "LL001", "--fix", str(path)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=tmp_path, text=True)
    try:
        for line in proc.stderr:  # the writer says where it paused, halfway through the new file
            if line.startswith("lora-lint: paused writing "):
                temp = Path(line.removeprefix("lora-lint: paused writing ").strip())
                break
        else:
            pytest.fail("the writer never paused: " + proc.stdout.read())
        assert temp.parent == tmp_path and 0 < temp.stat().st_size < len(original)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == original  # untouched
    assert temp.exists()  # the killed writer's partial file is left behind...
    env.pop("LORA_LINT_TEST_PAUSE_IN_WRITE")
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert path.read_bytes() == original.replace(b"lora_aplha", b"lora_alpha")
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]  # ...and removed by the next run


# -- applying: overlaps, broken results, convergence --------------------------------------------

def test_overlapping_fixes_wait_for_the_next_pass():
    from lora_lint.fixes.apply import apply_fixes
    from lora_lint.model import Edit, Fix, Span

    text = "abcdef\n"
    first = Fix("first", (Edit(Span(1, 2, 1, 4), "X"),))
    second = Fix("second", (Edit(Span(1, 3, 1, 5), "Y"),))
    inside = Fix("insert", (Edit(Span(1, 3, 1, 3), "Z"),))
    twin = Fix("twin", (Edit(Span(1, 2, 1, 4), "X"),))
    out, applied = apply_fixes("x.py", text, [second, inside, first, twin])
    assert out == "aXdef\n" and [f.message for f in applied] == ["first", "twin"]


def test_a_fix_that_breaks_the_file_is_not_applied(tmp_path):
    from lora_lint.engine import finding
    from lora_lint.fixes.apply import fix_text
    from lora_lint.model import Edit, Fix, Span

    text = PY + "cfg = LoraConfig(r=8, lora_aplha=16)\n"
    good = Fix("rename", (Edit(Span(2, 23, 2, 33), "lora_alpha"),))
    broken = Fix("break it", (Edit(Span(2, 17, 2, 18), "(("),))

    def lint(path, current):
        if current != text:
            return []
        return [replace_fix(finding("LL001", "m", path, Span(2, 23, 2, 33)), broken),
                replace_fix(finding("LL001", "m", path, Span(2, 23, 2, 33)), good)]

    result = fix_text("x.py", text, lint=lint)
    assert result.text == PY + "cfg = LoraConfig(r=8, lora_alpha=16)\n"
    assert [f.fix.message for f in result.fixed] == ["rename"]
    assert [f.fix.message for f in result.skipped] == ["break it"]


def replace_fix(f, fix):
    from dataclasses import replace

    return replace(f, fix=fix)


def test_an_inserted_keyword_that_would_repeat_is_refused():
    from lora_lint.fixes.apply import readable

    before = PY + "LoraConfig(r=64)\n"
    assert not readable("x.py", before, PY + "LoraConfig(r=64, r=64)\n")  # ast: keyword argument repeated
    assert readable("x.py", before, PY + "LoraConfig(r=64, use_rslora=True)\n")
    assert not readable("x.yaml", "a: 1\n", "a: [1\n")


CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not next to the repository")
def test_every_fix_on_the_real_corpus_keeps_it_readable_and_converges():
    """All fixes, safe and unsafe, on every real config: the result parses, its sites are still
    found, no applicable fix is left, and fixing again changes nothing."""
    from lora_lint.fixes.apply import fix_text, readable
    from lora_lint.sources import sites_for

    fixed_files = 0
    for path in sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml", ".json", ".py")):
        text = path.read_text(encoding="utf-8")
        result = fix_text(str(path), text, Settings(offline=True), unsafe=True)
        if not result.changed:
            continue
        fixed_files += 1
        assert readable(str(path), text, result.text), path
        assert len(sites_for(str(path), result.text)) == len(sites_for(str(path), text)), path
        assert not [f for f in result.remaining if f.fix is not None], path
        again = fix_text(str(path), result.text, Settings(offline=True), unsafe=True)
        assert not again.changed and not again.fixed, path
    assert fixed_files > 0


def test_sarif_carries_the_fixes_and_stays_valid(tmp_path, capsys, monkeypatch):
    import jsonschema
    from test_formats import sarif_schema

    monkeypatch.chdir(tmp_path)
    Path("train.py").write_text(MIXED)
    main(["check", "--isolated", "--select", "LL001,LL101", "--output-format", "sarif", "train.py"])
    log = json.loads(capsys.readouterr().out)
    jsonschema.Draft7Validator(sarif_schema()).validate(log)
    fixes = {r["ruleId"]: r["fixes"][0] for r in log["runs"][0]["results"]}
    assert fixes["LL001"] == {
        "description": {"text": "Rename `lora_aplha` to `lora_alpha`"},
        "artifactChanges": [{"artifactLocation": {"uri": "train.py", "uriBaseId": "%SRCROOT%"},
                             "replacements": [{"deletedRegion": {"startLine": 2, "startColumn": 24,
                                                                 "endLine": 2, "endColumn": 34},
                                               "insertedContent": {"text": "lora_alpha"}}]}]}
    assert fixes["LL101"]["description"]["text"].endswith("(unsafe: changes training)")


def test_yaml_line_breaks_are_counted_as_the_yaml_reader_counts_them():
    from lora_lint.fixes.document import YAML_BREAK
    from lora_lint.sources.yaml_nodes import LINE_BREAK

    assert YAML_BREAK.pattern == LINE_BREAK.pattern


NESTED = PY + '''class A:
    def make(self):
        if True:
            return LoraConfig(
                lora_alpha=16,
                r=64,  # c
                target_modules=[
                    'all-linear',
                ],
            )
    x = [LoraConfig(r=64,
                    lora_aplha=16, target_modules=[  # the list
        "q_proj,v_proj"][0])]
'''


def test_a_node_rendered_alone_gives_the_same_text_as_the_whole_module(monkeypatch):
    """Fixes render only the node they change (with its block's indentation); the slow way, the
    whole module re-rendered, must give the same file."""
    from lora_lint.fixes import python_edits
    from lora_lint.fixes.apply import apply_fixes

    def fixed():
        found = lint_text("x.py", NESTED, Settings(select=["LL001", "LL011", "LL101"]))
        assert sum(f.fix is not None for f in found) == 4
        return [apply_fixes("x.py", NESTED, [f.fix])[0] for f in found if f.fix is not None]

    fast = fixed()
    monkeypatch.setattr(python_edits, "_indents", lambda doc, line: [])
    assert fixed() == fast
    assert len(set(fast)) == 4


def test_yaml_only_runs_never_import_libcst(tmp_path):
    import subprocess
    import sys

    (tmp_path / "sft.yaml").write_text("base_model: ./m\nadapter: lora\nlora_rank: 64\nlora_target_modules: [all-linear]\n"
                                       "sequence_len: 1\n")
    code = ("import sys; from lora_lint.cli import main; main(['check', '--isolated', '--offline', 'sft.yaml']);"
            "print('LIBCST', 'libcst' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "LL001 [*] [error]" in p.stdout and "LL011 [*] [error]" in p.stdout
    assert p.stdout.rstrip().endswith("LIBCST False")


def test_a_typo_of_a_framework_key_that_is_not_a_lora_field_is_renamed_too(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("from unsloth import FastLanguageModel\n"
                    "model = FastLanguageModel.get_peft_model(model, r=16, random_sate=3407)\n")
    (f,) = codes(path, "LL001")
    assert f.fix.message == "Rename `random_sate` to `random_state`"


def test_a_dialect_note_may_carry_a_fix():
    from lora_lint.model import Edit, Fix, LoraSite, Param, Span
    from lora_lint.registry import Context, all_rules

    p = Param("lora_rnak", 8, Span(3, 1, 3, 10))
    fix = Fix("Rename", (Edit(p.span, "lora_r"),))
    site = LoraSite("x.yaml", "axolotl", Span(1, 1, 1, 8), notes=(
        ("LL001", p, "with a fix", fix), ("LL001", Param("x", 1, Span(4, 1, 4, 2)), "without one")))
    found = all_rules()["LL001"].run(site, Context(options={}))
    assert [(f.message, f.fix) for f in found] == [("with a fix", fix), ("without one", None)]


# -- generated layouts ---------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ARGS = [("r", "64"), ("lora_aplha", "16"), ("target_modules", "['all-linear']"),
        ("target_modules", '"q_proj,v_proj"'), ("rank", "8"), ("use_rslora", "False"),
        ("lora_dropout", "0.1"), ("bias", '"none"')]


@st.composite
def calls(draw):
    chosen = draw(st.lists(st.sampled_from(ARGS), min_size=1, max_size=5, unique_by=lambda a: a[0]))
    per_line = draw(st.booleans())
    trailing = draw(st.booleans())
    comments = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
    depth = draw(st.integers(0, 2))
    spaces = draw(st.sampled_from(["=", " = "]))
    pad = "    " * depth
    args = [f"{k}{spaces}{v}" for k, v in chosen]
    if per_line:
        lines = [f"{pad}    {a}{',' if i < len(args) - 1 or trailing else ''}{'  # note' if c else ''}"
                 for i, (a, c) in enumerate(zip(args, comments, strict=True))]
        call = f"{pad}cfg = LoraConfig(\n" + "\n".join(lines) + f"\n{pad})\n"
    else:
        call = f"{pad}cfg = LoraConfig({', '.join(args)}{',' if trailing else ''})\n"
    head = "".join(f"{'    ' * i}{'def f():' if i % 2 == 0 else 'if True:'}\n" for i in range(depth))
    return PY + head + call


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_fixes_on_generated_calls_keep_the_file_valid_and_converge(text):
    from lora_lint.fixes.apply import fix_text, readable

    rules = Settings(select=["LL001", "LL011", "LL101"])
    result = fix_text("x.py", text, rules, unsafe=True)
    assert readable("x.py", text, result.text)
    compile(result.text, "x.py", "exec", dont_inherit=True)  # compiled, never run
    assert not [f for f in result.remaining if f.fix is not None]
    assert not fix_text("x.py", result.text, rules, unsafe=True).changed
    if result.fixed:
        assert "# note" not in text or result.text.count("# note") == text.count("# note")


YAML_KEYS = [("r", "64"), ("lora_aplha", "16"), ("lora_alpha", "32"), ("use_rslora", "false"),
             ("target_modules", "FLOW"), ("target_modules", "BLOCK"), ("lora_dropuot", "0.1")]


@st.composite
def yaml_blocks(draw):
    chosen = draw(st.lists(st.sampled_from(YAML_KEYS), min_size=2, max_size=5, unique_by=lambda a: a[0]))
    if not any(k == "r" for k, _ in chosen):
        chosen.insert(0, ("r", "64"))
    if not any(k.startswith("target") or k == "lora_alpha" for k, _ in chosen):
        chosen.append(("lora_alpha", "32"))
    indent = draw(st.sampled_from(["  ", "    "]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = ["model: x", "lora:"]
    for key, value in chosen:
        note = "  # note" if draw(st.booleans()) else ""
        if value == "FLOW":
            lines.append(f"{indent}{key}: [all-linear]{note}")
        elif value == "BLOCK":
            lines += [f"{indent}{key}:", f"{indent}  - all-linear{note}"]
        else:
            lines.append(f"{indent}{key}: {value}{note}")
    end = newline if draw(st.booleans()) else ""
    return newline.join(lines) + end


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_blocks())
def test_fixes_on_generated_yaml_keep_the_file_valid_and_converge(text):
    import yaml

    from lora_lint.fixes.apply import fix_text

    rules = Settings(select=["LL001", "LL011", "LL101"], offline=True)
    result = fix_text("x.yaml", text, rules, unsafe=True)
    before, after = yaml.safe_load(text), yaml.safe_load(result.text)
    assert not [f for f in result.remaining if f.fix is not None]
    assert not fix_text("x.yaml", result.text, rules, unsafe=True).changed
    assert result.text.count("# note") == text.count("# note")
    assert ("\r\n" in result.text) == ("\r\n" in text)
    lora = after["lora"]
    assert "lora_aplha" not in lora or "lora_alpha" in before["lora"]  # renamed unless already set
    assert lora.get("target_modules", "all-linear") == "all-linear"
    assert lora["use_rslora"] is True and lora["r"] == 64
