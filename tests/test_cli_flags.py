"""ruff's command-line conventions beyond the basics: where CI formats' paths start, the fix
flags, file listing and settings, per-rule severity, noqa, and the other flags of issue 17."""

import json
import re
from pathlib import Path

import pytest

from lora_lint.cli import main

ROOT = Path(__file__).resolve().parent.parent
HEAD = "from peft import LoraConfig\n"
WARN = HEAD + "cfg = LoraConfig(r=64, lora_alpha=16)\n"  # LL101 warning at 2:18 (unsafe fix)
ERROR = HEAD + "cfg = LoraConfig(r=8, lora_aplha=16)\n"  # LL001 error at 2:23 (safe fix)
CLEAN = HEAD + "cfg = LoraConfig(r=16, lora_alpha=32)\n"
NO_MODEL = 'select = ["LL001", "LL101"]\n'


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lora-lint.toml").write_text(NO_MODEL)
    (tmp_path / "warn.py").write_text(WARN)
    (tmp_path / "error.py").write_text(ERROR)
    (tmp_path / "clean.py").write_text(CLEAN)
    return tmp_path


def sarif_locations(text):
    run = json.loads(text)["runs"][0]
    return run["originalUriBaseIds"]["%SRCROOT%"]["uri"], {
        json.dumps(r["locations"][0]["physicalLocation"]["artifactLocation"], sort_keys=True)
        for r in run["results"]}


@pytest.mark.parametrize("marker", [".git", "lora-lint.toml"])
def test_ci_paths_are_relative_to_the_repository_root(tmp_path, monkeypatch, capsys, marker):
    """From a subdirectory (a workflow's ``working-directory:``), SARIF and github name files from
    the git top level, else from the config's directory; a file outside it keeps an absolute URI."""
    repo = tmp_path / "repo"
    sub = repo / "sub"
    sub.mkdir(parents=True)
    (repo / marker).mkdir() if marker == ".git" else None
    (repo / "lora-lint.toml").write_text(NO_MODEL)
    (sub / "warn.py").write_text(WARN)
    outside = tmp_path / "elsewhere" / "x y.py"
    outside.parent.mkdir()
    outside.write_text(WARN)
    monkeypatch.chdir(sub)
    assert main(["--output-format", "sarif", ".", str(outside)]) == 1
    base, locations = sarif_locations(capsys.readouterr().out)
    assert base == repo.as_uri() + "/"
    assert locations == {json.dumps({"uri": "sub/warn.py", "uriBaseId": "%SRCROOT%"}, sort_keys=True),
                         json.dumps({"uri": outside.as_uri()}, sort_keys=True)}
    assert main(["--output-format", "github", ".", str(outside)]) == 1
    files = set(re.findall(r",file=([^,]+),", capsys.readouterr().out))
    assert files == {"sub/warn.py", str(outside)}
    for fmt in ("rdjson", "azure", "gitlab"):
        assert main(["--output-format", fmt, "."]) == 1
        assert "sub/warn.py" in capsys.readouterr().out
