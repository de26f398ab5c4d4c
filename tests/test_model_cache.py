"""Inventory caching: disk cache, prebuilt catalog inventories, no heavy imports on a warm run."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, sites_for_text

from lora_lint.models import cache, context
from lora_lint.models.inventory import Inventory
from lora_lint.models.resolve import resolve_offline
from lora_lint.settings import Settings

HEAVY = ("torch", "transformers", "peft", "accelerate", "huggingface_hub")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "ll-cache"))
    context._memo.clear()
    yield
    context._memo.clear()


FIXTURES = ROOT / "tests" / "fixtures" / "models"
TINY_GPT2 = FIXTURES / "tiny-gpt2"


def gpt2_site(model_class="AutoModelForSequenceClassification"):
    """A site on a local model (not in the catalog, so never prebuilt: built here)."""
    src = textwrap.dedent(f"""
        from transformers import {model_class}
        from peft import LoraConfig, get_peft_model
        m = {model_class}.from_pretrained("{TINY_GPT2}")
        get_peft_model(m, LoraConfig(r=8, target_modules=["c_attn"]))
    """)
    (site,) = sites_for_text("t.py", src)
    return site


def entries(root: Path) -> list[Path]:
    return sorted((root / "inventories").rglob("*")) if (root / "inventories").exists() else []


# -- the disk cache ------------------------------------------------------------------------------

def test_built_inventory_is_cached_and_reused(tmp_path):
    site = gpt2_site()
    ctx = context.context_for(site, Settings(offline=True))
    assert ctx.inventory is not None and ctx.inventory.architecture == "GPT2ForSequenceClassification"
    files = [p for p in entries(tmp_path / "ll-cache") if p.is_file()]
    assert len(files) == 1 and not any(p.name.endswith(".tmp") for p in files)
    doc = json.loads(files[0].read_text())
    assert doc["model_class"] == "AutoModelForSequenceClassification"
    assert doc["transformers"] == cache.dist_version("transformers")
    context._memo.clear()
    again = context.context_for(site, Settings(offline=True)).inventory
    assert again.to_json() == ctx.inventory.to_json()


def test_memo_builds_each_model_once_per_run(tmp_path):
    site = gpt2_site()
    first = context.context_for(site, Settings(offline=True)).inventory
    second = context.context_for(site, Settings(offline=True)).inventory
    assert first is second


def _fifo(p: Path) -> None:
    p.unlink()
    os.mkfifo(p)


def _dev_zero(p: Path) -> None:
    p.unlink()
    p.symlink_to("/dev/zero")


def _too_large(p: Path) -> None:
    with open(p, "r+b") as f:  # sparse: no disk used
        f.truncate(cache.MAX_ENTRY_BYTES + 1)


NO_FIFOS = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),  # truncated
    lambda p: p.write_bytes(b"\x00\xff garbage"),
    lambda p: p.write_text(json.dumps({"key": "another", "inventory": "{}"})),
    lambda p: p.write_text(json.dumps({"key": p.stem, "inventory": "{\"schema_version\": 999}"})),
    # before: a FIFO entry hung the run forever; a symlink to /dev/zero read 2.7 GB, then LL903
    pytest.param(_fifo, marks=NO_FIFOS, id="fifo"),
    pytest.param(_dev_zero, id="dev-zero"),
    pytest.param(_too_large, id="too-large"),
])
def test_corrupt_entry_is_rebuilt(tmp_path, damage):
    import threading

    site = gpt2_site()
    good = context.context_for(site, Settings(offline=True)).inventory.to_json()
    (path,) = [p for p in entries(tmp_path / "ll-cache") if p.is_file()]
    damage(path)
    context._memo.clear()
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("ctx", context.context_for(site, Settings(offline=True))),
                         daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "reading the cache entry blocked"
    assert box["ctx"].inventory.to_json() == good
    assert path.is_file() and not path.is_symlink() and path.stat().st_size < cache.MAX_ENTRY_BYTES
    assert Inventory.from_json(json.loads(path.read_text())["inventory"]).to_json() == good


def test_unwritable_cache_dir_still_works(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(blocker / "cache"))
    assert cache.store("k" * 64, "{}") is False
    ctx = context.context_for(gpt2_site(), Settings(offline=True))
    assert ctx.inventory is not None and ctx.problem is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_read_only_cache_dir_still_works(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(ro))
    try:
        ctx = context.context_for(gpt2_site(), Settings(offline=True))
        assert ctx.inventory is not None
    finally:
        ro.chmod(0o700)


def test_cache_key_separates_versions_classes_and_configs():
    a = cache.cache_key("h", None, "5.24.0")
    assert a != cache.cache_key("h", None, "5.25.0")
    assert a != cache.cache_key("h", "AutoModelForSequenceClassification", "5.24.0")
    assert a != cache.cache_key("g", None, "5.24.0")


def test_class_key_folds_the_default_head():
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    assert context.class_key(None, cfg) is None
    assert context.class_key("AutoModelForCausalLM", cfg) is None
    assert context.class_key("LlamaForCausalLM", cfg) is None
    assert context.class_key("AutoModelForSequenceClassification", cfg) == "AutoModelForSequenceClassification"
    assert context.class_key("AutoModelForCausalLM", {"architectures": ["GPT2LMHeadModel"]}) is None


def test_dist_version_matches_importlib_metadata():
    from importlib import metadata

    for name in ("transformers", "peft", "libcst"):
        assert cache.dist_version(name) == metadata.version(name)
    assert cache.dist_version("surely-not-installed-dist") is None


# -- prebuilt catalog inventories ----------------------------------------------------------------
# (that they equal fresh builds is tested in test_catalog.py)

def test_prebuilt_applies_on_every_release_of_its_major_version():
    found = resolve_offline("Qwen/Qwen2.5-0.5B")
    name = cache.prebuilt_file(found.config_hash, None)
    built = cache.prebuilt_index()["files"][name]["transformers"]
    text = cache.prebuilt(found.config_hash, None, built)
    assert text is not None and Inventory.from_json(text).versions["transformers"] == built
    assert cache.prebuilt(found.config_hash, None, None) == text  # transformers not installed
    major = built.split(".")[0]
    assert cache.prebuilt(found.config_hash, None, f"{major}.999.0") == text  # another release
    assert cache.prebuilt(found.config_hash, None, f"{int(major) - 1}.57.0") is None  # another major
    assert cache.prebuilt("0" * 64, None, built) is None  # a config the catalog does not have


def test_prebuilt_heads_are_found_by_auto_class_or_concrete_class():
    found = resolve_offline("Qwen/Qwen2.5-0.5B")
    tf = cache.dist_version("transformers")
    seq = cache.prebuilt(found.config_hash, "AutoModelForSequenceClassification", tf)
    assert Inventory.from_json(seq).architecture == "Qwen2ForSequenceClassification"
    assert cache.prebuilt(found.config_hash, "Qwen2ForSequenceClassification", tf) == seq
    assert cache.prebuilt(found.config_hash, "AutoModelForTokenClassification", tf) is None
    assert cache.prebuilt(found.config_hash, "LlamaForSequenceClassification", tf) is None


# -- warm runs import nothing heavy ----------------------------------------------------------------

PROBE = textwrap.dedent("""
    import json, sys
    from lora_lint.cli import main
    rc = main(sys.argv[2:])
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
    with open(sys.argv[1], "w") as f:
        json.dump({"rc": rc, "heavy": heavy}, f)
""").replace("HEAVY", repr(HEAVY))


def run_lint(tmp_path, *args, env=None):
    out = tmp_path / f"probe-{len(list(tmp_path.glob('probe-*')))}.json"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(out), *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stdout


def write(tmp_path, name, src):
    """``src`` with ``FIXTURES`` standing for the tiny local models (never prebuilt: built)."""
    p = tmp_path / name
    p.write_text(textwrap.dedent(src).replace("FIXTURES", str(FIXTURES)))
    return str(p)


def test_second_run_imports_neither_torch_nor_transformers(tmp_path):
    path = write(tmp_path, "train.py", """
        from transformers import AutoModelForSequenceClassification
        from peft import LoraConfig, get_peft_model
        m = AutoModelForSequenceClassification.from_pretrained("FIXTURES/tiny-qwen2")
        get_peft_model(m, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], task_type="SEQ_CLS"))
    """)
    first, out1 = run_lint(tmp_path, "report", "--output-format", "json", path)
    assert "torch" in first["heavy"] and "transformers" in first["heavy"]  # built: not prebuilt
    second, out2 = run_lint(tmp_path, "report", "--output-format", "json", path)
    assert second["heavy"] == []
    assert json.loads(out1) == json.loads(out2)
    assert json.loads(out2)[0]["architecture"] == "Qwen2ForSequenceClassification"


def test_processes_sharing_a_cache_dir(tmp_path):
    path = write(tmp_path, "train.py", """
        from transformers import AutoModelForTokenClassification
        from peft import LoraConfig, get_peft_model
        m = AutoModelForTokenClassification.from_pretrained("FIXTURES/tiny-bert")
        get_peft_model(m, LoraConfig(r=8, target_modules=["query", "value"]))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "lora_lint", "report", "--output-format", "json", path]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    rows = [json.loads(o) for o, _ in outs]
    assert rows[0] == rows[1] and rows[0][0]["architecture"] == "BertForTokenClassification"
    files = [p for p in (tmp_path / "ll-cache").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].suffix == ".json"
    json.loads(files[0].read_text())


CHECK_PROBE = textwrap.dedent("""
    import json, sys
    from lora_lint.model import Severity
    from lora_lint.registry import Problem, rule
    from lora_lint.rules import all_rules

    all_rules()

    @rule("LL999", "probe-model-facts", Severity.INFO, needs_model=True)
    def probe(site, ctx):
        '''A test-only model rule: says what the engine handed it.'''
        yield Problem(site, f"{ctx.model.architecture} trainable={ctx.analysis.trainable}")

    from lora_lint.cli import main
    rc = main(sys.argv[2:])
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
    with open(sys.argv[1], "w") as f:
        json.dump({"rc": rc, "heavy": heavy}, f)
""").replace("HEAVY", repr(HEAVY))


def test_check_twice_second_run_imports_nothing_heavy(tmp_path):
    path = write(tmp_path, "train.py", """
        from transformers import AutoModelForTokenClassification
        from peft import LoraConfig, get_peft_model
        m = AutoModelForTokenClassification.from_pretrained("FIXTURES/tiny-qwen2")
        get_peft_model(m, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], task_type="TOKEN_CLS"))
        LoraConfig(r=8)  # a second site on the same model: built once
    """)
    outs = []
    for _ in range(2):
        out = tmp_path / f"check-{len(outs)}.json"
        proc = subprocess.run(
            [sys.executable, "-c", CHECK_PROBE, str(out), "check", "--select", "LL999,LL902", path],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
            timeout=300)
        outs.append((json.loads(out.read_text()), proc.stdout))
    (first, text1), (second, text2) = outs
    assert "torch" in first["heavy"] and second["heavy"] == []
    assert text1 == text2
    assert text1.count("LL999") == 2 and "Qwen2ForTokenClassification trainable=" in text1
    assert len([p for p in (tmp_path / "ll-cache").rglob("*.json")]) == 1

