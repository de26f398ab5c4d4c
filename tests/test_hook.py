"""The pre-commit hook for real: `pre-commit try-repo` against this checkout blocks a bad commit.

pre-commit builds the hook's virtualenv from this checkout (``pip install .`` with the core
dependencies, from PyPI or pip's cache) into a temporary PRE_COMMIT_HOME, as a user's machine
would; try-repo builds it in a temporary store each time (about 10 s a run here, with pip's cache
warm). try-repo includes uncommitted changes to tracked files (it commits them to a shadow repo).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BAD = "from peft import LoraConfig\ncfg = LoraConfig(r=8, lora_aplha=16)\n"
GOOD = "from peft import LoraConfig\ncfg = LoraConfig(r=8, lora_alpha=16)\n"


def clean_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never", NO_COLOR="1")
    return env


def git(repo: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("pre-commit-home")


def test_manifest_is_valid_and_light():
    manifest = ROOT / ".pre-commit-hooks.yaml"
    p = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", str(manifest)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    hooks = {h["id"]: h for h in yaml.safe_load(manifest.read_text())}
    assert set(hooks) == {"lora-lint", "lora-lint-fix"}
    assert hooks["lora-lint"]["entry"] == "lora-lint check --force-exclude"
    assert hooks["lora-lint-fix"]["entry"] == "lora-lint check --force-exclude --fix"
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert set(hook["types_or"]) == {"python", "pyi", "yaml", "json", "jupyter", "shell"}
        assert hook["require_serial"] is True
        assert "additional_dependencies" not in hook  # core dependencies only


def test_commit_is_blocked_with_the_finding_then_passes(tmp_path, home):
    env = clean_env(home)
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (("init", "-q"), ("config", "user.name", "Test"), ("config", "user.email", "t@example.com"),
                 ("config", "commit.gpgsign", "false"), ("config", "core.hooksPath", ".git/hooks")):
        assert git(repo, *args, env=env).returncode == 0
    # the git hook runs the real pre-commit against this checkout, as `pre-commit install` would
    # run the configured repo
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pre_commit try-repo "{ROOT}" lora-lint\n')
    hook.chmod(0o755)
    (repo / "train.py").write_text(BAD)
    (repo / "notes.txt").write_text("lora_aplha: not a config\n")
    (repo / "configs").mkdir()
    (repo / "configs" / "sft.yaml").write_text("adapter: lora\nlora_r: 8\n")
    assert git(repo, "add", ".", env=env).returncode == 0

    blocked = git(repo, "commit", "-m", "bad config", env=env)
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, out
    assert "lora-lint" in out and "Failed" in out
    assert "train.py:2:23: LL001 [*] [error] `lora_aplha` is not a field of peft's LoraConfig" in out
    assert "notes.txt" not in out  # not a python/yaml/json file: never passed to the hook
    assert git(repo, "rev-list", "--all", env=env).stdout == ""  # nothing was committed

    (repo / "train.py").write_text(GOOD)
    assert git(repo, "add", "train.py", env=env).returncode == 0
    passed = git(repo, "commit", "-m", "good config", env=env)
    out = passed.stdout + passed.stderr
    assert passed.returncode == 0, out
    assert "lora-lint" in out and "Passed" in out
    assert git(repo, "log", "--format=%s", env=env).stdout.split("\n")[0] == "good config"


def test_fix_hook_fixes_the_file_and_stops_the_commit(tmp_path, home):
    env = clean_env(home)
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (("init", "-q"), ("config", "user.name", "Test"), ("config", "user.email", "t@example.com")):
        assert git(repo, *args, env=env).returncode == 0
    (repo / "train.py").write_text(BAD)
    assert git(repo, "add", ".", env=env).returncode == 0
    run = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "lora-lint-fix", "--all-files"],
                         cwd=repo, env=env, capture_output=True, text=True)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "files were modified by this hook" in out and "Found 2 findings (1 fixed, 1 remaining: 1 info)." in out  # LL902: no model named
    assert (repo / "train.py").read_text() == GOOD


def _notebook(code: str) -> str:
    import json

    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# Fine-tune"]},
             {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
              "source": [line + "\n" for line in code.rstrip("\n").split("\n")]}]
    cells[1]["source"][-1] = cells[1]["source"][-1].rstrip("\n")
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


def test_a_notebook_is_refused_with_its_cell_then_fixed(tmp_path, home):
    env = clean_env(home)
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (("init", "-q"), ("config", "user.name", "Test"), ("config", "user.email", "t@example.com")):
        assert git(repo, *args, env=env).returncode == 0
    (repo / "train.ipynb").write_text(_notebook("!pip install peft\n" + BAD))
    assert git(repo, "add", ".", env=env).returncode == 0
    run = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "lora-lint", "--all-files"],
                         cwd=repo, env=env, capture_output=True, text=True)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "train.ipynb:cell 2:3:23: LL001 [*] [error] `lora_aplha` is not a field of peft's LoraConfig" in out
    run = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "lora-lint-fix", "--all-files"],
                         cwd=repo, env=env, capture_output=True, text=True)
    out = run.stdout + run.stderr
    assert run.returncode == 1 and "files were modified by this hook" in out, out
    assert (repo / "train.ipynb").read_text() == _notebook("!pip install peft\n" + GOOD)
