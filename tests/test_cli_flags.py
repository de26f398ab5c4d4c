"""ruff's command-line conventions beyond the basics: where CI formats' paths start, the fix
flags, file listing and settings, per-rule severity, noqa, and the other flags of issue 17."""

import json
import os
import re
import subprocess
import sys
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


# -- exit codes and colour ---------------------------------------------------------------------

def test_e_is_exit_zero(tree, capsys):
    assert main(["-e", "."]) == 0
    assert "LL001" in capsys.readouterr().out


def test_color_flag_beats_the_terminal_test(tree, capsys, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    main(["--color", "always", "error.py"])
    assert "\x1b[" in capsys.readouterr().out
    monkeypatch.setenv("FORCE_COLOR", "1")
    main(["--color", "never", "error.py"])
    assert "\x1b[" not in capsys.readouterr().out
    main(["--color", "always", "--output-format", "json", "error.py"])
    assert "\x1b[" not in capsys.readouterr().out  # machine formats never


def test_column_unit_byte_counts_utf8_bytes(tree, capsys):
    (tree / "wide.py").write_text(HEAD + "cfg = ('é𐐀', LoraConfig(r=8, lora_aplha=16))\n")
    main(["wide.py"])
    assert "wide.py:2:30: LL001" in capsys.readouterr().out  # characters, as ruff
    main(["--column-unit", "byte", "wide.py"])
    out = capsys.readouterr().out
    assert "wide.py:2:34: LL001" in out  # 'é' 2 bytes, '𐐀' 4
    assert (tree / "wide.py").read_bytes().splitlines()[1][33:43] == b"lora_aplha"
    main(["--column-unit", "byte", "--output-format", "full", "wide.py"])
    assert " --> wide.py:2:34" in capsys.readouterr().out


# -- files --------------------------------------------------------------------------------------

def test_exclude_replaces_and_gitignore_can_be_ignored(tree, capsys):
    (tree / ".git").mkdir()
    (tree / ".gitignore").write_text("ignored/\n")
    (tree / "ignored").mkdir()
    (tree / "ignored" / "x.py").write_text(ERROR)
    (tree / "lora-lint.toml").write_text(NO_MODEL + 'exclude = ["warn.py"]\n')
    main(["--show-files", "."])
    assert capsys.readouterr().out == "clean.py\nerror.py\n"
    main(["--show-files", "--exclude", "error.py", "."])  # replaces the configured exclude
    assert capsys.readouterr().out == "clean.py\nwarn.py\n"
    main(["--show-files", "--no-respect-gitignore", "."])
    assert capsys.readouterr().out == "clean.py\nerror.py\nignored/x.py\n"
    (tree / "lora-lint.toml").write_text(NO_MODEL + "respect-gitignore = false\n")
    main(["--show-files", "."])
    assert "ignored/x.py" in capsys.readouterr().out
    main(["--show-files", "--respect-gitignore", "."])
    assert "ignored/x.py" not in capsys.readouterr().out
    assert main(["--show-files", "error.py", "--extend-exclude", "error.py"]) == 0  # named: listed
    assert capsys.readouterr().out == "error.py\n"
    main(["--show-files", "error.py", "--extend-exclude", "error.py", "--force-exclude"])
    assert capsys.readouterr().out == ""


def test_show_settings_for_one_file(tree, capsys):
    sub = tree / "sub"
    sub.mkdir()
    (sub / "pyproject.toml").write_text(
        '[tool.lora-lint]\nselect = ["LL1"]\nrslora-min-rank = 48\nper-file-ignores = { "exp_*.py" = ["LL103"] }\n'
        '[tool.lora-lint.severity]\nLL1 = "info"\nLL104 = "error"\n')
    assert main(["--show-settings", "sub/exp_1.py"]) == 0
    out = capsys.readouterr().out
    assert f"Config file: {sub / 'pyproject.toml'}" in out
    assert "  LL101 rslora-recommended" in out and "info (configured; the rule's own: warning)" in out
    assert re.search(r"  LL104 extreme-scaling +error \(configured", out)
    assert "Turned off here by per-file-ignores: LL103" in out and "  LL001" not in out
    assert "  rslora-min-rank = 48" in out and "Severity: LL1 = info, LL104 = error" in out
    main(["--show-settings", "warn.py"])  # another file, another config
    out = capsys.readouterr().out
    assert f"Config file: {tree / 'lora-lint.toml'}" in out and "Rules (2):" in out


# -- per-rule severity ----------------------------------------------------------------------------

def test_severity_in_every_format_and_the_exit_code(tree, capsys):
    from lora_lint.cli import OUTPUT_FORMATS

    (tree / "lora-lint.toml").write_text(NO_MODEL + '[severity]\nLL101 = "info"\n')
    assert main(["warn.py"]) == 0  # an info finding does not fail the run
    assert "warn.py:2:18: LL101 [info]" in capsys.readouterr().out
    shown = {"concise": "LL101 [info]", "full": "LL101 [info]", "grouped": "LL101 [info]",
             "json": '"severity": "info"', "json-lines": '"severity": "info"', "sarif": '"level": "note"',
             "github": "::notice ", "gitlab": '"severity": "info"', "junit": '"severity" value="info"',
             "pylint": "[LL101] [info]", "rdjson": '"severity": "INFO"', "azure": "LL101 [info]"}
    assert set(shown) == set(OUTPUT_FORMATS)
    for fmt in OUTPUT_FORMATS:
        assert main(["--output-format", fmt, "warn.py"]) == 0
        out = capsys.readouterr().out
        assert shown[fmt] in out, (fmt, out)
    main(["--output-format", "junit", "warn.py"])
    assert "<failure" not in capsys.readouterr().out
    (tree / "lora-lint.toml").write_text(NO_MODEL + '[severity]\nALL = "info"\nunknown-field = "error"\n')
    assert main(["error.py"]) == 1
    assert "LL001 [*] [error]" in capsys.readouterr().out
    (tree / "lora-lint.toml").write_text(NO_MODEL + '[severity]\nLL101 = "fatal"\n')
    assert main(["warn.py"]) == 2
    assert "'fatal' is not one of 'error', 'warning', 'info'" in capsys.readouterr().err
    (tree / "lora-lint.toml").write_text(NO_MODEL + '[severity]\nLL999 = "info"\n')
    assert main(["warn.py"]) == 2


# -- fixes ----------------------------------------------------------------------------------------

def test_fix_only_show_fixes_and_exit_non_zero_on_fix(tree, capsys):
    assert main(["--fix-only", "."]) == 0  # the remaining LL101 is not reported
    assert capsys.readouterr().out == "Fixed 1 finding.\n"
    assert (tree / "error.py").read_text() == HEAD + "cfg = LoraConfig(r=8, lora_alpha=16)\n"
    (tree / "error.py").write_text(ERROR)
    assert main(["--fix-only", "--exit-non-zero-on-fix", "--show-fixes", "."]) == 1
    assert capsys.readouterr().out == "Fixed 1 finding:\n- error.py:\n    1 × LL001 (unknown-field)\n"
    assert main(["--fix-only", "--exit-non-zero-on-fix", "."]) == 0  # nothing left to fix
    assert capsys.readouterr().out == "No findings fixed.\n"
    (tree / "error.py").write_text(ERROR)
    assert main(["--fix", "--show-fixes", "error.py"]) == 0
    assert capsys.readouterr().out.endswith("Fixed 1 finding:\n- error.py:\n    1 × LL001 (unknown-field)\n")
    (tree / "error.py").write_text(ERROR)
    assert main(["--fix", "--exit-non-zero-on-fix", "error.py"]) == 1  # fixed, nothing remains
    assert main(["--fix", "--exit-non-zero-on-fix", "clean.py"]) == 0


def test_add_noqa_python_and_yaml(tree, capsys):
    (tree / "lora-lint.toml").write_text('select = ["LL001", "LL101", "LL904"]\n')
    (tree / "multi.py").write_text(HEAD + "cfg = LoraConfig(\n    r=128,  # lora-lint: ignore[LL103]\n"
                                   "    lora_aplha=16,\n)\ndoc = '''\nLoraConfig(r=64)\n'''\n")
    (tree / "sft.yaml").write_text("adapter: lora\nlora_r: 64\nlora_alpha: 16\nbase_model: ./m\n"
                                   "lora_target_modules: [q_proj]\n")
    (tree / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8, "lora_aplha": 16}\n')
    assert main(["--add-noqa", "."]) == 0
    assert capsys.readouterr().out == "Added 5 noqa directives in 4 files.\n"
    assert (tree / "multi.py").read_text() == (
        HEAD + "cfg = LoraConfig(\n    r=128,  # lora-lint: ignore[LL103, LL101]\n"
        "    lora_aplha=16,  # lora-lint: ignore[LL001]\n)\ndoc = '''\nLoraConfig(r=64)\n'''\n")
    assert (tree / "sft.yaml").read_text().splitlines()[1] == "lora_r: 64  # lora-lint: ignore[LL101]"
    assert (tree / "warn.py").read_text() == HEAD + "cfg = LoraConfig(r=64, lora_alpha=16)  # lora-lint: ignore[LL101]\n"
    assert (tree / "error.py").read_text() == HEAD + "cfg = LoraConfig(r=8, lora_aplha=16)  # lora-lint: ignore[LL001]\n"
    assert "lora-lint" not in (tree / "adapter_config.json").read_text()  # JSON has no comments
    assert main(["."]) == 1  # what remains: the JSON file's finding, LL904 on the stale LL103
    out = capsys.readouterr().out
    assert re.findall(r"^(\S+):\d+:\d+: (LL\d+)", out, re.M) == [("adapter_config.json", "LL001"),
                                                               ("multi.py", "LL904")]
    assert main(["--add-noqa", "."]) == 0
    assert capsys.readouterr().out == "No noqa directives added.\n"


def test_add_noqa_shell_scripts_and_notebook_cells(tree, capsys):
    """A shell command continued over lines takes its directive on a line of its own above it (a
    comment after a backslash would end the command), or in the directive already there; a
    command on one line takes it at its end; a notebook's cell takes it in its ``source``."""
    (tree / "lora-lint.toml").write_text('select = ["LL001", "LL101"]\n')
    (tree / "run.sh").write_text(
        "#!/bin/bash\n"
        "swift sft --model ./m --lora_rank 64 --lora_alpha 16 \\\n  --lora_dropuot 0.1\n"
        "if true; then\n  # lora-lint: ignore[LL101]\n  swift sft --model ./m --lora_rank 64 \\\n"
        "    --lora_alpha 16 --lora_dropuot 0.1\nfi\n"
        "llamafactory-cli train --lora_rank 8 --lora_aplha 4\n")
    cell = ["from peft import LoraConfig\n", "cfg = LoraConfig(\n", "    r=64,\n", "    lora_aplha=16)"]
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# é\n"]},
                    {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": cell}],
          "metadata": {"kernelspec": {"language": "python", "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    raw = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    (tree / "nb.ipynb").write_text(raw, encoding="utf-8")
    assert main(["--add-noqa", "run.sh", "nb.ipynb"]) == 0
    assert capsys.readouterr().out == "Added 5 noqa directives in 2 files.\n"
    assert (tree / "run.sh").read_text() == (
        "#!/bin/bash\n# lora-lint: ignore[LL101, LL001]\n"
        "swift sft --model ./m --lora_rank 64 --lora_alpha 16 \\\n  --lora_dropuot 0.1\n"
        "if true; then\n  # lora-lint: ignore[LL101, LL001]\n  swift sft --model ./m --lora_rank 64 \\\n"
        "    --lora_alpha 16 --lora_dropuot 0.1\nfi\n"
        "llamafactory-cli train --lora_rank 8 --lora_aplha 4  # lora-lint: ignore[LL001]\n")
    cell[2:4] = ["    r=64,  # lora-lint: ignore[LL101]\n", "    lora_aplha=16)  # lora-lint: ignore[LL001]"]
    assert (tree / "nb.ipynb").read_text(encoding="utf-8") == json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    assert main(["run.sh", "nb.ipynb"]) == 0
    assert main(["--add-noqa", "run.sh", "nb.ipynb"]) == 0
    assert capsys.readouterr().out.endswith("No noqa directives added.\n")


def test_add_noqa_never_writes_into_a_string(tree, capsys):
    """A finding whose line ends inside a string literal: the comment would be text, not a
    comment, so the file is left as it is."""
    text = HEAD + 'cfg = LoraConfig(r=8, lora_aplha=16, target_modules=["q_proj", """v_proj\n"""])\n'
    (tree / "odd.py").write_text(text)
    assert main(["--add-noqa", "odd.py"]) == 0
    assert capsys.readouterr().out == "No noqa directives added.\n"
    assert (tree / "odd.py").read_text() == text


def test_watch_lints_again_on_a_change_and_a_config_change(tree):
    import queue
    import signal
    import threading
    import time

    env = {**os.environ, "PYTHONPATH": str(ROOT), "LORA_LINT_WATCH_INTERVAL": "0.1", "NO_COLOR": "1"}
    p = subprocess.Popen([sys.executable, "-m", "lora_lint", "check", "--watch", "error.py"], cwd=tree,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in p.stdout], daemon=True).start()
    seen: list[str] = []

    def until(text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in seen):
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in {seen}"
            try:
                seen.append(lines.get(timeout=left))
            except queue.Empty:
                pass

    try:
        until("Found 1 finding (1 error).")
        (tree / "error.py").write_text(CLEAN)
        until("All checks passed!")
        (tree / "error.py").write_text(WARN + "# rank 64\n")
        until("LL101 [warning]")
        (tree / "lora-lint.toml").write_text(NO_MODEL + '[severity]\nLL101 = "info"\n')  # a config change
        until("LL101 [info]")
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=30)
        finally:
            p.kill()
    assert "Watching for file changes" in p.stderr.read()


@pytest.mark.slow
def test_cache_dir_and_no_cache(tree, tmp_path_factory, capsys):
    """The model inventories' cache: --cache-dir puts it where asked, --no-cache neither reads nor
    writes it (a model outside the catalog, built on the meta device)."""
    pytest.importorskip("transformers")
    model = ROOT / "tests" / "fixtures" / "models" / "tiny-llama"
    (tree / "m.py").write_text(f"# lora-lint: base-model={model}\n" + HEAD +
                               'cfg = LoraConfig(target_modules=["q_proj", "query"])\n')
    cache = tmp_path_factory.mktemp("cache")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("LORA_LINT_CACHE_DIR", None)

    def run(*flags):  # a process each: the in-process model memo would hide the cache
        return subprocess.run([sys.executable, "-m", "lora_lint", *flags, "--isolated", "--select", "LL202",
                               "m.py"], cwd=tree, env=env, capture_output=True, text=True)

    p = run("--no-cache", "--cache-dir", str(cache))
    assert p.returncode == 1 and "LL202" in p.stdout, p.stderr
    assert not any(cache.rglob("*.json"))
    p = run("--cache-dir", str(cache))
    assert p.returncode == 1 and "LL202" in p.stdout
    (entry,) = cache.rglob("*.json")
    entry.write_text("{}")  # a corrupt entry is ignored and rebuilt
    assert run("--cache-dir", str(cache)).stdout == p.stdout
