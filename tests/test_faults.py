"""Faults (issue 6, items 4-6): a damaged cache, a bad network, a bug in lora-lint itself. The run
ends, every other finding is intact, and the problem is a finding (LL902, LL903), not a traceback.

Proven elsewhere, not repeated here:
* two processes sharing one cache directory: test_model_cache.py::test_processes_sharing_a_cache_dir
* truncated, garbage, foreign-key and old-schema entries: test_model_cache.py::test_corrupt_entry_is_rebuilt
* a cache path that cannot be created: test_model_cache.py::test_unwritable_cache_dir_still_works
  (read-only as a non-root user: ::test_read_only_cache_dir_still_works; as root: below)
* the Hub step alone (report rows): test_hub.py::test_a_hub_that_never_answers_ends_within_the_timeout,
  ::test_gated_repository, ::test_private_or_missing_repository_401_without_gated_code,
  ::test_offline_never_touches_the_network
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT
from test_hub import Hub, Silent

from lora_lint import files, suppressions
from lora_lint.cli import main
from lora_lint.model import Severity
from lora_lint.models import context
from lora_lint.pipeline import lint_paths, lint_text
from lora_lint.registry import RULES, Problem, Rule
from lora_lint.rules import all_rules
from lora_lint.settings import Settings
from lora_lint.sources import python as python_source
from lora_lint.sources import yaml_source

TINY = ROOT / "tests" / "fixtures" / "models"


def codes(found):
    return sorted((os.path.basename(f.path), f.code) for f in found)


# -- item 4: the inventory cache ------------------------------------------------------------------

@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "ll-cache"))
    context._memo.clear()
    yield tmp_path / "ll-cache"
    context._memo.clear()


def model_project(tmp_path: Path) -> Path:
    """Three files on three tiny local models (built, never prebuilt), each with a model finding."""
    proj = tmp_path / "proj"
    proj.mkdir()
    for name, model, cls, targets in (("llama.py", "tiny-llama", "AutoModelForCausalLM", '["q_proj", "nope"]'),
                                      ("gpt2.py", "tiny-gpt2", "AutoModelForSequenceClassification", '["c_attn", "nope"]'),
                                      ("mistral.py", "tiny-mistral", "AutoModelForCausalLM", '["nope"]')):
        (proj / name).write_text(textwrap.dedent(f"""
            from transformers import {cls}
            from peft import LoraConfig, get_peft_model
            m = {cls}.from_pretrained({str(TINY / model)!r})
            get_peft_model(m, LoraConfig(r=8, lora_dropout=-3, target_modules={targets}))
        """))
    return proj


def entries(cache: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes() for p in cache.rglob("*") if p.is_file()}


def lint_project(proj):
    context._memo.clear()
    return [(os.path.basename(f.path), f.code, f.span, f.message)
            for f in lint_paths([str(proj)], Settings(select=["ALL"], offline=True))]


def _read_only(path: Path):
    """Make ``path`` read-only for this process, or return None. Root writes through permissions,
    so as root the tree is made immutable (chattr +i), which binds root too."""
    if os.geteuid() != 0:
        for p in [path, *path.rglob("*")]:
            p.chmod(0o500 if p.is_dir() else 0o400)
        return lambda: [p.chmod(0o700) for p in [path, *path.rglob("*")]]
    chattr = shutil.which("chattr")
    if chattr is None:
        return None
    proc = subprocess.run([chattr, "-R", "+i", str(path)], capture_output=True)

    def undo():
        subprocess.run([chattr, "-R", "-i", str(path)], capture_output=True)

    try:
        (path / "probe").write_text("x")
    except OSError:
        return undo if proc.returncode == 0 else None
    (path / "probe").unlink()
    undo()
    return None


def test_read_only_cache_dir_keeps_results_correct_and_complete(tmp_path, cache_dir):
    proj = model_project(tmp_path)
    want = lint_project(proj)
    assert {(n, c) for n, c, _, _ in want} >= {("llama.py", "LL202"), ("gpt2.py", "LL202"), ("mistral.py", "LL201"),
                                                 ("llama.py", "LL006")}
    before = entries(cache_dir)
    assert len(before) == 3
    victim = cache_dir / next(iter(before))
    victim.unlink()  # one model must be built again, and cannot be saved
    before = entries(cache_dir)
    undo = _read_only(cache_dir)
    if undo is None:
        pytest.skip("cannot make a directory read-only here (root without chattr)")
    try:
        assert lint_project(proj) == want
        assert entries(cache_dir) == before  # nothing written, nothing removed
    finally:
        undo()


CORRUPTIONS = {
    "empty": lambda p: p.write_bytes(b""),
    "directory": lambda p: (p.unlink(), p.mkdir(), (p / "x").write_text("{}")),
    "dangling symlink": lambda p: (p.unlink(), p.symlink_to(p.parent / "nowhere.json")),
    "symlink loop": lambda p: (p.unlink(), p.symlink_to(p)),
    "wrong types": lambda p: p.write_text(json.dumps({"key": p.stem, "inventory": json.dumps(
        {**json.loads(json.loads(p.read_text())["inventory"]), "modules": 5})})),
    "inventory not JSON": lambda p: p.write_text(json.dumps({"key": p.stem, "inventory": "{not json"})),
    "a JSON list": lambda p: p.write_text("[1, 2]"),
    "NUL bytes": lambda p: p.write_bytes(b"\x00" * 64),
}


@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_damaged_cache_entries_never_change_the_findings(tmp_path, cache_dir, damage):
    proj = model_project(tmp_path)
    want = lint_project(proj)
    for p in [p for p in (cache_dir / "inventories").rglob("*.json") if p.is_file()]:
        CORRUPTIONS[damage](p)
    assert lint_project(proj) == want
    assert "LL903" not in {c for _, c, _, _ in want}


# -- item 5: the network ----------------------------------------------------------------------------

@pytest.fixture
def online(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                        "https_proxy", "ALL_PROXY", "all_proxy")}
    env.update({"PYTHONPATH": str(ROOT), "HF_HUB_CACHE": str(tmp_path / "hf-hub"), "HF_HOME": str(tmp_path / "hf-home"),
                "LORA_LINT_CACHE_DIR": str(tmp_path / "ll-cache"), "HF_TOKEN": "hf_lora_lint_test_token",
                "HF_HUB_DISABLE_TELEMETRY": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    return env


def hub_project(tmp_path: Path, *model_ids: str) -> Path:
    """One file per model id, each with an LL006 that must survive; and a catalog model whose
    model-aware finding must survive too."""
    proj = tmp_path / "proj"
    proj.mkdir()
    for i, model_id in enumerate(model_ids):
        (proj / f"f{i}.py").write_text(textwrap.dedent(f"""
            from transformers import AutoModelForCausalLM
            from peft import LoraConfig, get_peft_model
            m = AutoModelForCausalLM.from_pretrained({model_id!r})
            get_peft_model(m, LoraConfig(r=8, lora_dropout=3, target_modules=["q_proj"]))
        """))
    (proj / "known.yaml").write_text("base_model: Qwen/Qwen2.5-0.5B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
                                     "lora_target_modules: [q_proj, no_such_proj]\n")
    return proj


def check_online(env, endpoint, proj, *args):
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "check", "--isolated", "--select", "LL006,LL202,LL902",
                           "--output-format", "json", *args, str(proj)], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "HF_ENDPOINT": endpoint}, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    found = {}
    for f in json.loads(proc.stdout):
        found.setdefault(os.path.basename(f["filename"]), {})[f["code"]] = f["message"]
    return found


def assert_other_findings_intact(found, n):
    for i in range(n):
        assert "LL006" in found[f"f{i}.py"], found
    assert "'no_such_proj' matches no module" in found["known.yaml"]["LL202"]


def test_a_hub_that_never_answers_costs_one_configured_timeout(tmp_path, online):
    server = Silent()
    proj = hub_project(tmp_path, "acme/never-7b", "acme/never-13b", "acme/never-70b")
    try:
        found = check_online(online, server.url, proj, "--config", "hub-timeout = 1")
    finally:
        server.close()
    assert_other_findings_intact(found, 3)
    assert "did not answer within 1 s while fetching 'acme/never-7b'" in found["f0.py"]["LL902"]
    for later in ("f1.py", "f2.py"):  # not asked again: the run waits once, not once per file
        assert "the Hub was unreachable earlier in this run" in found[later]["LL902"]
    assert len(server.conns) == 1


def test_gated_and_broken_hub_answers(tmp_path, online):
    sha = "b" * 40
    meta = {"X-Repo-Commit": sha, "ETag": '"e1"'}
    hub = Hub({
        "/acme/gated-8b/resolve/main/config.json": (401, {"X-Error-Code": "GatedRepo",
                                                          "X-Error-Message": "Access is restricted."}, b""),
        "/acme/private/resolve/main/config.json": (401, {}, b""),
        "/acme/down/resolve/main/config.json": (503, {}, b"upstream down"),
        "/acme/garbage/resolve/main/config.json": (200, meta, b"\x00not json{"),
        f"/acme/garbage/resolve/{sha}/config.json": (200, meta, b"\x00not json{"),
    })
    proj = hub_project(tmp_path, "acme/gated-8b", "acme/private", "acme/down", "acme/garbage")
    try:
        found = check_online(online, hub.url, proj, "--config", "hub-timeout = 5")
    finally:
        hub.shutdown()
    assert_other_findings_intact(found, 4)
    assert "'acme/gated-8b' is a gated repository" in found["f0.py"]["LL902"]
    assert "HTTP 401" in found["f1.py"]["LL902"] and "gated or private" in found["f1.py"]["LL902"]
    assert "could not be fetched" in found["f2.py"]["LL902"]
    assert "is not valid JSON" in found["f3.py"]["LL902"]


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "--offline"])
def test_offline(tmp_path, online, how):
    server = Silent()
    proj = hub_project(tmp_path, "acme/unknown-7b")
    env = {**online, "HF_HUB_OFFLINE": "1"} if how == "HF_HUB_OFFLINE" else online
    try:
        found = check_online(env, server.url, proj, *([how] if how.startswith("--") else []))
    finally:
        server.close()
    assert_other_findings_intact(found, 1)
    assert "not found offline" in found["f0.py"]["LL902"]
    assert server.conns == []


# -- item 6: a bug in lora-lint ---------------------------------------------------------------------

def broken(site, ctx):
    """## What it does
    Nothing: a deliberately broken rule for the tests."""
    yield Problem(site, "reported before the bug")
    raise ZeroDivisionError("deliberate")


BROKEN = Rule("LL998", "deliberately-broken", Severity.WARNING, broken, (), (), {}, False, None)
PY_BAD = "from peft import LoraConfig\nLoraConfig(r=64, lora_alpha=16, lora_dropout=3)\n"
YAML_BAD = "base_model: m\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_dropout: 3\n"
REPORT = "Please report it at https://github.com/lora-lint/lora-lint/issues"


def test_a_broken_rule_is_ll903_and_the_other_rules_run():
    rules = {**all_rules(), "LL998": BROKEN}
    found = lint_text("train.py", PY_BAD, Settings(), rules)
    assert {f.code for f in found} >= {"LL006", "LL101", "LL903"}
    (f,) = [f for f in found if f.code == "LL903"]
    assert f.path == "train.py" and f.span.line == 2
    assert f.message.startswith("internal error in rule LL998 (deliberately-broken) on this file:"
                                " ZeroDivisionError: deliberate at test_faults.py:")
    assert f.message.endswith(REPORT + ".") or REPORT in f.message


def test_a_broken_rule_through_the_cli_exits_1_not_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(RULES, "LL998", BROKEN)
    (tmp_path / "a.py").write_text(PY_BAD)
    (tmp_path / "b.yaml").write_text(YAML_BAD)
    assert main(["check", "--isolated", "--output-format", "json", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    found = {(os.path.basename(f["filename"]), f["code"]) for f in json.loads(out)}
    assert {("a.py", "LL903"), ("b.yaml", "LL903"), ("a.py", "LL006"), ("a.py", "LL101"), ("b.yaml", "LL006")} <= found
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["yaml source", "python source", "suppressions", "decoding", "model resolution"])
def test_a_broken_source_or_step_is_ll903_for_that_file_only(tmp_path, monkeypatch, where):
    (tmp_path / "a.py").write_text(PY_BAD + "# lora-lint: ignore[LL101]\n")
    (tmp_path / "b.yaml").write_text(YAML_BAD)

    def boom(*args, **kwargs):
        raise KeyError("deliberate")

    target, victim, step = {
        "yaml source": ((yaml_source, "sites"), "b.yaml", "the source reader"),
        "python source": ((python_source, "sites"), "a.py", "the source reader"),
        "suppressions": ((suppressions, "apply"), None, "the suppression comments"),
        "decoding": ((files, "decode"), None, "reading the file"),
        "model resolution": ((context, "context_for"), None, "model resolution"),
    }[where]
    monkeypatch.setattr(*target, boom)
    found = lint_paths([str(tmp_path)], Settings(select=["ALL"], offline=True))
    internal = [f for f in found if f.code == "LL903"]
    assert internal and all(f"internal error in {step} on this file: KeyError: 'deliberate'" in f.message
                            for f in internal), [f.message for f in internal]
    assert all(REPORT in f.message for f in internal)
    hit = {os.path.basename(f.path) for f in internal}
    assert hit == ({victim} if victim else {"a.py", "b.yaml"})
    others = {(os.path.basename(f.path), f.code) for f in found}
    if victim != "b.yaml" and where != "decoding":
        assert ("b.yaml", "LL006") in others
    if victim != "a.py" and where != "decoding":
        assert ("a.py", "LL006") in others
    if where == "suppressions":  # the findings survive, unsuppressed
        assert {("a.py", "LL006"), ("a.py", "LL101")} <= others
