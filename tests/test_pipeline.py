"""Many files: worker processes, models deferred to the parent, identical output however it runs."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, source

from lora_lint import pipeline
from lora_lint.engine import Reach
from lora_lint.models import context
from lora_lint.pipeline import lint_partial, lint_text
from lora_lint.settings import Settings

TINY = ROOT / "tests" / "fixtures" / "models"


def py_config(model: str, targets: list[str], r: int = 8) -> str:
    return textwrap.dedent(f"""\
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained("{model}")
        config = LoraConfig(r={r}, lora_alpha=16, target_modules={targets!r}, task_type="CAUSAL_LM")
        model = get_peft_model(model, config)
    """)


def yaml_config(model: str, targets: list[str], r: int = 8) -> str:
    items = "".join(f"  - {t}\n" for t in targets)
    return f"base_model: {model}\nadapter: lora\nlora_r: {r}\nlora_alpha: 16\nlora_target_modules:\n{items}"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Configs over two catalog models (prebuilt inventories) and two local directories (built),
    with model-rule findings, a config-rule finding, a suppression and a file with no config."""
    root = tmp_path / "repo"
    for name in ("tiny-llama", "tiny-gpt2"):
        shutil.copytree(TINY / name, root / "models" / name)
    files = {
        "train/a.py": py_config("../models/tiny-llama", ["q_proj", "v_prj"], r=64),
        "train/b.py": py_config("openai-community/gpt2", ["c_attn"]),
        "train/c.py": py_config("../models/tiny-gpt2", ["q_proj"]),
        "train/d.py": py_config("Qwen/Qwen2.5-0.5B", ["q_proj", "k_proj"], r=128)
        + "# lora-lint: ignore-file[LL101]\n",
        "train/helpers.py": "def f(x):\n    return x + 1\n",
        "configs/a.yaml": yaml_config("../models/tiny-llama", ["q_proj", "o_proj"]),
        "configs/b.yaml": yaml_config("Qwen/Qwen2.5-0.5B", ["qproj"], r=48),
        "configs/c.yml": yaml_config("../models/tiny-gpt2", ["c_attn"], r=32)
        + "# lora-lint: ignore-file[LL003]\n",
        "configs/d.yaml": yaml_config("openai-community/gpt2", ["c_fc"]),
        "configs/data.yaml": "items:\n  - 1\n  - 2\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def run(root: Path, cache: Path, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), LORA_LINT_CACHE_DIR=str(cache), NO_COLOR="1")
    env.pop("LORA_LINT_WORKERS", None)
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "check", "--exit-zero", *args, "."],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_two_workers_print_what_one_prints_cold_and_warm(tree, tmp_path):
    one_cold = run(tree, tmp_path / "cache-1", "--workers", "1")
    two_cold = run(tree, tmp_path / "cache-2", "--workers", "2")
    two_warm = run(tree, tmp_path / "cache-2", "--workers", "2")
    one_warm = run(tree, tmp_path / "cache-2", "--workers", "1")
    auto = run(tree, tmp_path / "cache-2")
    assert one_cold == two_cold == two_warm == one_warm == auto
    unused = [run(tree, tmp_path / "cache-3", "--workers", n, "--report-unused-suppressions") for n in "12"]
    assert unused[0] == unused[1] != one_cold  # LL904 runs after the deferred model rules
    assert [line.split()[1] for line in unused[0].splitlines()
            if line.startswith("configs/c.yml:") and "LL904" in line] == ["LL904"]
    codes = {line.split()[1] for line in one_cold.splitlines() if ": LL" in line}
    # config rules, model rules on built and on prebuilt models; every model resolved
    assert {"LL101", "LL201", "LL202"} <= codes and "LL902" not in codes, one_cold
    assert "train/a.py" in one_cold and "train/c.py" in one_cold and "configs/c.yml" in one_cold
    assert "train/d.py" in one_cold and "LL101" not in [
        line.split()[1] for line in one_cold.splitlines() if line.startswith("train/d.py")]


def test_the_pipeline_finds_what_lint_text_finds(tree, tmp_path, monkeypatch):
    """The two-phase path (deferred models, finished in the parent) and the one-file path the
    editor server uses give the same findings, file by file."""
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tree)
    context._memo.clear()
    settings = Settings(offline=True)
    deferred = [lint_partial(source(p, Path(p).read_text()), settings, reach=Reach.CACHED)
                for p in ("train/a.py", "configs/a.yaml")]
    assert all(d.waiting and d.builds and d.source.text for d in deferred)  # local configs: built later
    got = {one.path: one.findings for one in pipeline.lint_each(["."], lambda _p: settings, workers=1)}
    assert set(got) == {str(p.relative_to(tree)) for p in tree.rglob("*")
                        if p.suffix in (".py", ".yaml", ".yml", ".json")}
    context._memo.clear()
    for path, findings in got.items():
        assert findings == lint_text(path, Path(path).read_text(), settings), path
    assert got["train/helpers.py"] == [] and got["configs/data.yaml"] == []


@pytest.mark.skipif(not pipeline.can_fork(), reason="needs fork and no other threads")
def test_phase_one_runs_in_other_processes(tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tree)
    seen = tmp_path / "pids"
    seen.mkdir()

    def settings_for(path: str) -> Settings:
        (seen / str(os.getpid())).touch()
        return Settings(offline=True)

    jobs = [(i, source(p, Path(p).read_text())) for i, p in enumerate(sorted(
        str(p.relative_to(tree)) for p in tree.rglob("*.py")))]
    out = dict(pipeline._phase_one(jobs, settings_for, 2))
    assert sorted(out) == list(range(len(jobs)))
    pids = {int(p.name) for p in seen.iterdir()}
    assert pids - {os.getpid()}  # the first file is linted here, the others in workers


def test_auto_workers():
    assert pipeline.auto_workers(3, cores=8) == 1  # pre-commit: a few files, one process
    assert pipeline.auto_workers(100, cores=1) == 1
    assert pipeline.auto_workers(100, cores=2) == 2
    assert pipeline.auto_workers(20, cores=8) == 2  # at least FILES_PER_WORKER files each
    assert pipeline.auto_workers(10_000, cores=64) == pipeline.MAX_AUTO_WORKERS


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_bad_workers_value_is_a_usage_error(value, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "check", "--workers", value, str(tmp_path)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "--workers" in proc.stderr


def test_workers_from_the_environment(tmp_path):
    (tmp_path / "x.yaml").write_text(yaml_config("openai-community/gpt2", ["c_attn"], r=64))
    env = dict(os.environ, PYTHONPATH=str(ROOT), LORA_LINT_WORKERS="nope")
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "check", str(tmp_path)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "--workers" in proc.stderr
    env["LORA_LINT_WORKERS"] = "2"
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "check", "--output-format", "json",
                           str(tmp_path)], env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and [f["code"] for f in json.loads(proc.stdout)] == ["LL101"]


def _die(batch):
    Path(os.environ["DIED"]).touch()
    os._exit(3)  # a worker that crashes (a segfault in a parser would look the same)


@pytest.mark.skipif(not pipeline.can_fork(), reason="needs fork and no other threads")
def test_a_dead_worker_leaves_its_files_to_this_process(tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tree)
    monkeypatch.setenv("DIED", str(tmp_path / "died"))
    settings = Settings(offline=True)
    jobs = [(i, source(p, Path(p).read_text())) for i, p in enumerate(sorted(
        str(p.relative_to(tree)) for p in tree.rglob("*.py")))]
    expected = dict(pipeline._phase_one(jobs, lambda _p: settings, 1))
    monkeypatch.setattr(pipeline, "_run_batch", _die)
    got = dict(pipeline._phase_one(jobs, lambda _p: settings, 2))
    assert (tmp_path / "died").exists() and sorted(got) == sorted(expected)
    assert {i: got[i].findings for i in got} == {i: expected[i].findings for i in expected}
