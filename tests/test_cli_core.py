"""The CLI contract of the core: short form, exit codes 0/1/2, JSON shape, `rule`, `--version`."""

import json
import subprocess
import sys

import pytest

from lora_lint import __version__
from lora_lint.cli import main

BAD = "from peft import LoraConfig\ncfg = LoraConfig(r=64, lora_alpha=16)\n"
GOOD = "from peft import LoraConfig\ncfg = LoraConfig(r=16, lora_alpha=32)\n"


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "good.py").write_text(GOOD)
    return tmp_path


def test_short_form_equals_check(tree, capsys):
    assert main([str(tree)]) == 1
    short = capsys.readouterr().out
    assert main(["check", str(tree)]) == 1
    assert capsys.readouterr().out == short
    assert f"{tree / 'bad.py'}:2:18: LL101 [warning] r=64 without use_rslora" in short


def test_exit_codes(tree, capsys):
    assert main([str(tree / "good.py")]) == 0
    assert main([str(tree / "bad.py")]) == 1
    assert main(["--exit-zero", str(tree / "bad.py")]) == 0
    assert main(["--select", "NOPE", str(tree)]) == 2
    assert "Unknown rule selector 'NOPE'" in capsys.readouterr().err
    assert main(["--output-format", "xml", str(tree)]) == 2
    with pytest.raises(SystemExit) as e:
        main(["check", "--no-such-flag"])
    assert e.value.code == 2


def test_info_findings_do_not_fail(tmp_path, capsys):
    (tmp_path / "x.py").write_text("from peft import LoraConfig\nLoraConfig(r=8,,)\n")
    # LL901 is an error; selecting nothing but an info rule keeps exit 0
    assert main(["--select", "LL902", str(tmp_path)]) == 0


def test_select_ignore_by_code_prefix_and_name(tree, capsys):
    assert main(["--ignore", "rslora-recommended", str(tree)]) == 0
    assert main(["--select", "LL0", str(tree)]) == 0
    assert main(["--select", "LL0", "--extend-select", "LL101", str(tree)]) == 1
    assert main(["--select", "LL1", "--ignore", "LL101", str(tree)]) == 0


def test_json_shape(tree, capsys):
    main(["--output-format", "json", "--ignore", "LL902", str(tree)])  # LL902: no model named
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and len(data) == 1
    f = data[0]
    assert {"code", "name", "severity", "message", "filename", "location", "end_location", "url"} <= set(f)
    assert f["code"] == "LL101" and f["name"] == "rslora-recommended" and f["severity"] == "warning"
    assert f["location"] == {"row": 2, "column": 18}
    assert f["end_location"] == {"row": 2, "column": 22}
    assert f["url"].endswith("/rules/LL101.md")


def test_rule_command(capsys):
    assert main(["rule", "LL101"]) == 0
    by_code = capsys.readouterr().out
    assert main(["rule", "rslora-recommended"]) == 0
    assert capsys.readouterr().out == by_code
    assert by_code.startswith("# rslora-recommended (LL101)")
    assert "## Why is this bad?" in by_code
    assert main(["rule", "LL999"]) == 2


def test_gitignore_is_honoured(tree, capsys):
    (tree / ".gitignore").write_text("ignored/\n*.gen.py\n")
    (tree / "ignored").mkdir()
    (tree / "ignored" / "bad.py").write_text(BAD)
    (tree / "x.gen.py").write_text(BAD)
    (tree / "bad.py").unlink()
    assert main([str(tree)]) == 0
    assert main([str(tree / "x.gen.py")]) == 1  # a file named explicitly is always linted


def test_syntax_error_does_not_stop_other_files(tree, capsys):
    (tree / "broken.py").write_text("from peft import LoraConfig\nLoraConfig(r=8,,)\n")
    assert main([str(tree)]) == 1
    out = capsys.readouterr().out
    assert "broken.py:2:" in out and "LL901" in out and "bad.py:2:18: LL101" in out


def test_version_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "lora_lint", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"lora-lint {__version__}"


def test_json_says_which_library_versions_model_facts_came_from(tmp_path, capsys):
    from importlib.metadata import version

    (tmp_path / "gpt2.py").write_text(
        "# lora-lint: base-model=openai-community/gpt2\n"
        "from peft import LoraConfig\n"
        "cfg = LoraConfig(r=8, target_modules=['q_proj', 'v_proj'])\n"
    )
    main(["--output-format", "json", "--select", "LL201,LL011", str(tmp_path)])
    data = json.loads(capsys.readouterr().out)
    [found] = [f for f in data if f["code"] == "LL201"]
    assert found["facts"] == {"transformers": version("transformers"), "peft": version("peft")}
    assert all("facts" not in f for f in data if f["code"] == "LL011")
