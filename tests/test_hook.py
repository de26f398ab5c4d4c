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
        assert hook["exclude"] == r"(^|/)\.lora-lint/"  # the model lock's files
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


# -- the model lock in the hook's torch-free environment -------------------------------------------

FIXTURES = ROOT / "tests" / "fixtures" / "models"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
LOCKED = {
    "configs/llama.yaml": "base_model: ../models/tiny-llama\nadapter: lora\nlora_r: 16\nlora_alpha: 32\n"
                          "lora_target_modules: [q_proj, v_proj, qkv_proj]\n",
    "configs/qwen.yaml": "base_model: acme/tiny-qwen\nadapter: lora\nlora_r: 16\nlora_alpha: 32\n"
                         "lora_target_modules: [q_proj, c_attn]\n",
    "train.py": "from transformers import AutoModelForSequenceClassification\n"
                "from peft import LoraConfig, get_peft_model\n"
                "model = AutoModelForSequenceClassification.from_pretrained('models/tiny-bert')\n"
                "get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=['query', 'value']))\n",
}
FINDING = __import__("re").compile(r"^\S+:\d+:\d+: LL\d{3} .*$", __import__("re").M)


def test_hook_without_torch_uses_the_lock_and_warns_for_an_unlocked_model(tmp_path, home):
    """Configs naming models outside the catalog (two local config.json directories, one model in
    the Hugging Face cache): locked with the full install, the hook (its own environment, core
    dependencies only) reports exactly what the full install reports. A model added without
    locking it gets LL905, a warning naming `lora-lint lock`, and the commit is blocked."""
    import shutil

    env = clean_env(home)
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    for name in ("tiny-llama", "tiny-bert", "tiny-mistral"):
        shutil.copytree(FIXTURES / name, repo / "models" / name)
    (repo / "configs").mkdir()
    for rel, text in LOCKED.items():
        (repo / rel).write_text(text)
    snapshot = tmp_path / "hf" / "models--acme--tiny-qwen" / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    shutil.copy(FIXTURES / "tiny-qwen2" / "config.json", snapshot / "config.json")
    (tmp_path / "hf" / "models--acme--tiny-qwen" / "refs").mkdir()
    (tmp_path / "hf" / "models--acme--tiny-qwen" / "refs" / "main").write_text(COMMIT)
    for args in (("init", "-q"), ("config", "user.name", "Test"), ("config", "user.email", "t@example.com")):
        assert git(repo, *args, env=env).returncode == 0
    full = {**env, "HF_HUB_CACHE": str(tmp_path / "hf"), "LORA_LINT_CACHE_DIR": str(tmp_path / "cache"),
            "PYTHONPATH": str(ROOT)}
    lock = subprocess.run([sys.executable, "-m", "lora_lint", "lock"], cwd=repo, env=full,
                          capture_output=True, text=True)
    assert lock.returncode == 0 and "Locked 3 models" in lock.stdout, lock.stdout + lock.stderr
    assert git(repo, "add", ".", env=env).returncode == 0
    files = [f for f in git(repo, "ls-files", env=env).stdout.split() if f.endswith((".py", ".yaml"))]
    expected = subprocess.run([sys.executable, "-m", "lora_lint", "check", "--force-exclude", *files],
                              cwd=repo, env=full, capture_output=True, text=True)
    want = FINDING.findall(expected.stdout)
    assert expected.returncode == 1 and len(want) >= 3, expected.stdout + expected.stderr
    assert any(" LL202 " in line for line in want) and any(" LL301 " in line for line in want)
    assert not any(" LL902 " in line or " LL905 " in line for line in want)

    hook_env = {**env, "HF_HUB_CACHE": str(tmp_path / "empty-hf"),
                "LORA_LINT_CACHE_DIR": str(tmp_path / "empty-cache")}
    run = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "lora-lint", "--all-files"],
                         cwd=repo, env=hook_env, capture_output=True, text=True)
    out = run.stdout + run.stderr
    assert run.returncode == 1 and "Failed" in out, out
    assert FINDING.findall(out) == want, out
    assert ".lora-lint" not in out  # the lock's own files are not linted
    assert not (tmp_path / "empty-cache").exists()  # nothing was built: the hook has no torch

    (repo / "configs" / "mistral.yaml").write_text(LOCKED["configs/llama.yaml"].replace("tiny-llama", "tiny-mistral"))
    assert git(repo, "add", ".", env=env).returncode == 0
    run = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "lora-lint", "--files",
                          "configs/mistral.yaml"], cwd=repo, env=hook_env, capture_output=True, text=True)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    (line,) = FINDING.findall(out)
    assert line.startswith("configs/mistral.yaml:2:1: LL905 [warning] model-aware rules skipped: base model"
                           " '../models/tiny-mistral' (from the config): building its module inventory needs"
                           " transformers and torch, which are not installed; and base model"
                           " '../models/tiny-mistral' is not in the model lock (.lora-lint/models/lock.json)."), out
    assert "Fix: run `lora-lint lock`" in line


def test_shell_scripts_reach_the_hook(tmp_path, home):
    """pre-commit's ``shell`` type sends ``.sh`` files and executable scripts with a sh/bash ``#!``
    line; lora-lint reads both (the second by its ``#!`` line) and leaves a zsh script alone."""
    env = clean_env(home)
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (("init", "-q"), ("config", "user.name", "Test"), ("config", "user.email", "t@example.com")):
        assert git(repo, *args, env=env).returncode == 0
    (repo / "train.sh").write_text("#!/bin/bash\nswift sft --model Qwen/Qwen2.5-0.5B --lora_droput 0.1\n")
    run_script = repo / "run"
    run_script.write_text("#!/usr/bin/env bash\nswift sft --model Qwen/Qwen2.5-0.5B \\\n  --lora_alpah 16\n")
    run_script.chmod(0o755)
    other = repo / "other.zsh"
    other.write_text("swift sft --model Qwen/Qwen2.5-0.5B --lora_alpah 16\n")
    assert git(repo, "add", ".", env=env).returncode == 0
    run = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "lora-lint", "--all-files"],
                         cwd=repo, env=env, capture_output=True, text=True)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "train.sh:2:37: LL001 [error] `lora_droput` is not a ms-swift LoRA setting; did you mean `lora_dropout`?" in out
    assert "run:3:3: LL001 [error] `lora_alpah` is not a ms-swift LoRA setting; did you mean `lora_alpha`?" in out
    assert "other.zsh" not in out  # zsh splits words otherwise: not read
