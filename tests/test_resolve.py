"""Resolving a base model offline: local paths, the HF cache, the catalog, overrides, LL902."""

import json
import os
import textwrap
from pathlib import Path

import pytest
from conftest import sites_for_text

from lora_lint.engine import resolve_model
from lora_lint.models import catalog
from lora_lint.models.config_lookup import Resolved, Unresolved
from lora_lint.models.context import choose, context_for, unresolved_message
from lora_lint.models.resolve import (
    config_hash,
    from_hf_cache,
    is_repo_id,
    resolve,
    resolve_offline,
)
from lora_lint.settings import Settings

QWEN = json.loads((catalog.CATALOG / "Qwen--Qwen2.5-0.5B.json").read_text())
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """An empty HF cache and lora-lint cache, whatever the machine has."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "ll-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def hf_cache_entry(root: Path, repo_id: str, config: dict, ref: str = "main", sha: str = SHA) -> Path:
    folder = root / ("models--" + repo_id.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / ref).write_text(sha)
    snap = folder / "snapshots" / sha
    snap.mkdir(parents=True)
    blob = folder / "blobs" / "e1"
    blob.parent.mkdir()
    blob.write_text(json.dumps(config))
    (snap / "config.json").symlink_to(blob)
    return snap / "config.json"


def site_of(src: str, path: str):
    (site,) = sites_for_text(path, textwrap.dedent(src))
    return site


# -- the ladder --------------------------------------------------------------------------------

def test_local_directory_relative_to_the_linted_file_first(tmp_path, monkeypatch):
    (tmp_path / "proj" / "models" / "tiny").mkdir(parents=True)
    (tmp_path / "proj" / "models" / "tiny" / "config.json").write_text(json.dumps(QWEN))
    other = dict(QWEN, num_hidden_layers=2)
    (tmp_path / "cwd" / "models" / "tiny").mkdir(parents=True)
    (tmp_path / "cwd" / "models" / "tiny" / "config.json").write_text(json.dumps(other))
    monkeypatch.chdir(tmp_path / "cwd")
    got = resolve_offline("models/tiny", str(tmp_path / "proj"))
    assert isinstance(got, Resolved) and got.source == "local"
    assert got.config == QWEN and got.detail.startswith(str(tmp_path / "proj"))
    got = resolve_offline("./models/tiny", str(tmp_path / "elsewhere"))  # then the cwd
    assert got.config == other


def test_config_json_file_path(tmp_path):
    path = tmp_path / "my-config.json"
    path.write_text(json.dumps(QWEN))
    got = resolve_offline(str(path))
    assert isinstance(got, Resolved) and got.source == "local"
    assert got.config_hash == config_hash(QWEN)


def test_local_paths_that_are_not_configs_are_not_read(tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00" * 10)
    got = resolve_offline(str(weights))
    assert isinstance(got, Unresolved) and "not a config.json" in got.why
    (tmp_path / "empty").mkdir()
    got = resolve_offline(str(tmp_path / "empty"))
    assert isinstance(got, Unresolved) and "has no config.json" in got.why
    bad = tmp_path / "bad" / "config.json"
    bad.parent.mkdir()
    bad.write_text("[1, 2")
    got = resolve_offline(str(bad.parent))
    assert isinstance(got, Unresolved) and got.reason == "bad-config"


def test_adapter_directory_leads_to_its_base_model(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "Qwen/Qwen2.5-0.5B", "r": 8}))
    got = resolve_offline("out", str(tmp_path))
    assert isinstance(got, Resolved) and got.source == "catalog" and got.config == QWEN
    assert "base model of the adapter" in got.detail


@pytest.mark.parametrize("name", ["../../etc", "../../etc/passwd", "a/../../b", "x--y/z", "org/na me"])
def test_dot_dot_and_invalid_ids_are_not_followed(tmp_path, monkeypatch, name):
    (tmp_path / "a" / "b" / "c" / "d").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b" / "c" / "d")
    assert not is_repo_id(name)
    assert from_hf_cache(name) is None
    got = resolve(name, str(tmp_path / "a" / "b"), online=True, timeout=0.1)
    assert isinstance(got, Unresolved) and got.reason in ("missing-path", "bad-id")


def test_revision_cannot_escape_the_cache(tmp_path):
    hf_cache_entry(tmp_path / "hf-hub", "org/model", QWEN)
    assert from_hf_cache("org/model") is not None
    assert from_hf_cache("org/model", "../../../etc") is None


def test_hf_cache_layout_is_read_without_huggingface_hub(tmp_path):
    path = hf_cache_entry(tmp_path / "hf-hub", "someone/private-model", dict(QWEN, num_hidden_layers=3))
    got = resolve_offline("someone/private-model")
    assert isinstance(got, Resolved) and got.source == "hf-cache" and got.detail == str(path)
    assert got.config["num_hidden_layers"] == 3
    # the same file huggingface_hub itself finds
    from huggingface_hub import try_to_load_from_cache

    cache_dir = os.environ["HF_HUB_CACHE"]  # its constants were read at import time
    assert try_to_load_from_cache("someone/private-model", "config.json", cache_dir=cache_dir) == str(path)


def test_hf_cache_wins_over_the_catalog_and_other_case_is_found(tmp_path):
    hf_cache_entry(tmp_path / "hf-hub", "Qwen/Qwen2.5-0.5B", dict(QWEN, num_hidden_layers=5))
    got = resolve_offline("Qwen/Qwen2.5-0.5B")
    assert got.source == "hf-cache" and got.config["num_hidden_layers"] == 5
    got = resolve_offline("qwen/qwen2.5-0.5b")
    assert got.source == "hf-cache"


def test_hf_cache_other_revision(tmp_path):
    hf_cache_entry(tmp_path / "hf-hub", "org/m", QWEN, ref="v2", sha="f" * 40)
    assert from_hf_cache("org/m", "v2") is not None
    assert from_hf_cache("org/m", "f" * 40) is not None
    assert from_hf_cache("org/m", "v3") is None
    assert from_hf_cache("org/m") is not None  # the only snapshot there is


def test_catalog_exact_alias_and_case():
    got = resolve_offline("Qwen/Qwen2.5-0.5B")
    assert got.source == "catalog" and got.config == QWEN and got.model_id == "Qwen/Qwen2.5-0.5B"
    got = resolve_offline("Qwen/Qwen2.5-0.5B-Instruct")
    assert got.source == "catalog" and got.model_id == "Qwen/Qwen2.5-0.5B"
    assert "same-shape sibling" in got.detail
    got = resolve_offline("unsloth/Qwen2.5-Coder-7B-Instruct-bnb-4bit")
    assert got.model_id == "Qwen/Qwen2.5-7B" and "same-shape mirror" in got.detail
    got = resolve_offline("gpt2")
    assert got.model_id == "openai-community/gpt2" and "renamed repo" in got.detail
    got = resolve_offline("META-LLAMA/llama-3.2-1b-instruct")
    assert got.model_id == "meta-llama/Llama-3.2-1B" and "ignoring case" in got.detail


def test_unknown_id_offline():
    got = resolve("nobody/nothing-7b", online=False)
    assert isinstance(got, Unresolved) and got.reason == "not-found"
    assert "online lookups are off" in got.why


# -- which model: overrides ----------------------------------------------------------------------

SRC = """
    from transformers import AutoModelForSequenceClassification
    from peft import LoraConfig, get_peft_model
    m = AutoModelForSequenceClassification.from_pretrained("gpt2")
    get_peft_model(m, LoraConfig(r=8))
"""


def test_what_the_config_names():
    site = site_of(SRC, "t.py")
    assert choose(site, Settings())[:2] == ("gpt2", "config")


def test_setting_overrides_the_config():
    site = site_of(SRC, "t.py")
    assert choose(site, Settings(base_model="Qwen/Qwen2.5-0.5B"))[:2] == ("Qwen/Qwen2.5-0.5B", "setting")


def test_comment_overrides_the_setting_and_cli_overrides_all():
    site = site_of(SRC + "    # lora-lint: base-model=meta-llama/Llama-3.2-1B\n", "t.py")
    s = Settings(base_model="Qwen/Qwen2.5-0.5B")
    assert choose(site, s)[:2] == ("meta-llama/Llama-3.2-1B", "comment")
    s.base_model_override = "google/gemma-2b"
    assert choose(site, s)[:2] == ("google/gemma-2b", "cli")


def test_per_path_setting_hook():
    class PerPath(Settings):
        def base_model_for(self, path):
            return "Qwen/Qwen2.5-0.5B" if path.startswith("cls/") else None

    assert choose(site_of(SRC, "cls/t.py"), PerPath())[:2] == ("Qwen/Qwen2.5-0.5B", "setting")
    assert choose(site_of(SRC, "lm/t.py"), PerPath())[:2] == ("gpt2", "config")


def test_model_class_is_kept_under_an_override():
    site = site_of(SRC, "t.py")
    ctx = context_for(site, Settings(base_model_override="openai-community/gpt2", offline=True))
    assert ctx.resolved.source == "catalog" and site.model_class == "AutoModelForSequenceClassification"


# -- LL902 ---------------------------------------------------------------------------------------

def ll902(src, settings=None, path="t.py"):
    """LL902's message where LL905 is not selected (a model the lock would give is LL905's)."""
    site = site_of(src, path)
    got = resolve_model(site, settings or Settings(offline=True), lock_rule=False)
    inv, finding = got.model, got.problem
    assert inv is None and finding is not None and finding.code == "LL902"
    assert finding.span == site.span
    return finding.message


def test_ll902_no_model_named():
    msg = ll902("from peft import LoraConfig\nLoraConfig(r=8)\n")
    assert "no base model is named" in msg and "# lora-lint: base-model=ID" in msg
    assert "--base-model" in msg


def test_ll902_model_computed_at_run_time():
    msg = ll902("""
        import sys
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        m = AutoModelForCausalLM.from_pretrained(sys.argv[1])
        get_peft_model(m, LoraConfig(r=8))
    """)
    assert "(line 5) is computed at run time" in msg and "base-model" in msg


def test_ll902_unknown_id_offline_says_how_to_fix():
    msg = ll902("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        m = AutoModelForCausalLM.from_pretrained("acme/secret-13b")
        get_peft_model(m, LoraConfig(r=8))
    """)
    assert "'acme/secret-13b' (from the config) not found offline" in msg
    assert "Hugging Face cache" in msg and "bundled catalog" in msg
    assert "hf download" in msg and "`base-model` setting" in msg and "--offline" in msg


def test_ll902_remote_code(tmp_path):
    d = tmp_path / "custom"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({
        "model_type": "acme_magic", "architectures": ["AcmeForCausalLM"], "hidden_size": 64,
        "auto_map": {"AutoConfig": "configuration_acme.AcmeConfig",
                     "AutoModelForCausalLM": "modeling_acme.AcmeForCausalLM"},
    }))
    (d / "modeling_acme.py").write_text("raise SystemExit('remote code ran')\n")
    msg = ll902(f"""
        # lora-lint: base-model={d}
        from peft import LoraConfig
        LoraConfig(r=8)
    """)
    assert "needs remote code" in msg and "never runs remote code" in msg and "acme_magic" in msg


def test_ll902_missing_local_path(tmp_path):
    msg = ll902("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        m = AutoModelForCausalLM.from_pretrained("/data/models/llama-7b")
        get_peft_model(m, LoraConfig(r=8))
    """)
    assert "'/data/models/llama-7b'" in msg and "does not exist" in msg


def test_unresolved_message_for_every_reason():
    from lora_lint.models.context import ModelContext

    for reason in ("not-named", "not-static", "bad-id", "missing-path", "bad-config", "not-found",
                   "gated", "hub-error", "hub-timeout", "remote-code", "build-failed", "no-transformers"):
        ctx = ModelContext("org/m", "config", None, problem=Unresolved("org/m", reason, "because", "do this"))
        msg = unresolved_message(ctx)
        assert msg.startswith("model-aware rules skipped:") and "because" in msg, reason


def test_offline_env_var_disables_the_hub(monkeypatch):
    from lora_lint.models.context import is_online

    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not is_online(Settings())
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert is_online(Settings()) and not is_online(Settings(offline=True))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "yes")
    assert not is_online(Settings())


def test_no_network_in_this_file():
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_pinned_revision_is_looked_up_in_the_hf_cache(tmp_path):
    hf_cache_entry(tmp_path / "hf-hub", "org/pinned", dict(QWEN, num_hidden_layers=7), ref="v2", sha="b" * 40)
    src = """
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        m = AutoModelForCausalLM.from_pretrained("org/pinned", revision="v2")
        get_peft_model(m, LoraConfig(r=8))
    """
    ctx = context_for(site_of(src, "t.py"), Settings(offline=True))
    assert ctx.resolved.source == "hf-cache" and ctx.resolved.config["num_hidden_layers"] == 7
    ctx = context_for(site_of(src.replace('"v2"', '"v3"'), "t.py"), Settings(offline=True))
    assert ctx.problem is not None and ctx.problem.reason == "not-found"


# -- reading only regular files, never blocking, never more than the limit (issue 12, item 10) ------

def finishes(fn, seconds: float = 30.0):
    """``fn()``'s result; fails (instead of hanging the suite) when it does not return in time."""
    import threading

    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised in the test's thread
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn} blocked for {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_local_config_that_is_not_a_regular_file_is_not_read(tmp_path):
    """Before: a FIFO under a model directory's config.json blocked the run forever, /dev/zero was
    read until memory ran out."""
    for name, make in [("fifo", os.mkfifo), ("zero", lambda p: p.symlink_to("/dev/zero")),
                       ("dir", lambda p: p.mkdir())]:
        model = tmp_path / name
        model.mkdir()
        make(model / "config.json")
        got = finishes(lambda m=model: resolve_offline(str(m)))
        assert isinstance(got, Unresolved) and got.reason == "bad-config", (name, got)
        assert "not a regular file" in got.why, (name, got.why)
        adapter = tmp_path / f"adapter-{name}"
        adapter.mkdir()
        make(adapter / "adapter_config.json")
        got = finishes(lambda a=adapter: resolve_offline(str(a)))
        assert isinstance(got, Unresolved) and "not a regular file" in got.why, (name, got)
    os.mkfifo(tmp_path / "named.json")
    got = finishes(lambda: resolve_offline(str(tmp_path / "named.json")))
    assert isinstance(got, Unresolved) and "not a regular file" in got.why


def test_a_local_config_is_read_up_to_the_limit(tmp_path):
    from lora_lint.models.config_lookup import MAX_CONFIG_BYTES

    big = tmp_path / "big"
    big.mkdir()
    with open(big / "config.json", "wb") as f:  # sparse: no disk used
        f.truncate(MAX_CONFIG_BYTES + 1)
    got = resolve_offline(str(big))
    assert isinstance(got, Unresolved) and "too large for a config.json" in got.why
    assert f"{MAX_CONFIG_BYTES + 1:,} bytes" in got.why
    # a procfs file says size 0 and holds more: read (a bounded amount), then refused as not JSON
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "config.json").symlink_to("/proc/self/environ")
    if os.path.exists("/proc/self/environ"):
        got = finishes(lambda: resolve_offline(str(proc)))
        assert isinstance(got, Unresolved) and "not valid JSON" in got.why


def test_read_regular_file_never_reads_past_the_limit(tmp_path):
    from lora_lint.bounded_read import FileTooLarge, NotRegularFile, read_regular_file

    (tmp_path / "ok").write_bytes(b"x" * 100)
    data, st = read_regular_file(tmp_path / "ok", 100)
    assert data == b"x" * 100 and st.st_size == 100
    with pytest.raises(FileTooLarge):
        read_regular_file(tmp_path / "ok", 99)
    with pytest.raises(NotRegularFile):
        read_regular_file("/dev/zero", 10)
    with pytest.raises(NotRegularFile) as e:
        read_regular_file(tmp_path, 10)
    assert e.value.is_dir
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        with pytest.raises(NotRegularFile):
            finishes(lambda: read_regular_file(tmp_path / "fifo", 10))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_ref_in_the_hf_cache_does_not_hang(tmp_path):
    path = hf_cache_entry(tmp_path / "hf-hub", "org/piped", QWEN)
    ref = path.parent.parent.parent / "refs" / "main"
    ref.unlink()
    os.mkfifo(ref)
    assert finishes(lambda: from_hf_cache("org/piped")) == path  # the only snapshot there is
    assert finishes(lambda: from_hf_cache("org/piped", "v1")) is None
