"""The model lock: `lora-lint lock` writes .lora-lint/models/, every run uses it first.

A repository whose configs name models outside the catalog (local config.json directories, a model
in the Hugging Face cache, a head class the catalog does not ship) is locked with the full install;
then a run in which torch, transformers, peft and huggingface_hub cannot be imported (and the
Hugging Face cache and lora-lint's own cache are empty) gives exactly the findings of the full
install. The pre-commit hook's own torch-free environment is tested in test_hook.py.
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

from lora_lint.cli import main
from lora_lint.models import context, lockfile
from lora_lint.models.inventory import Inventory

FIXTURES = ROOT / "tests" / "fixtures" / "models"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HEAVY = ("torch", "transformers", "peft", "huggingface_hub")

#: A run of the command line in which the heavy packages are not installed, as in the pre-commit
#: hook's environment: importing them fails and their distributions are not found.
NO_TORCH = textwrap.dedent("""
    import json, sys
    HEAVY = HEAVY_NAMES
    class NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HEAVY:
                raise ModuleNotFoundError(f"No module named {name!r}")
    sys.meta_path.insert(0, NotInstalled())
    from lora_lint.models import cache
    real = cache.dist_version
    cache.dist_version = lambda name: None if name in HEAVY else real(name)
    from lora_lint.cli import main
    rc = main(sys.argv[2:])
    with open(sys.argv[1], "w") as f:
        json.dump({"rc": rc, "heavy": sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))}, f)
""").replace("HEAVY_NAMES", repr(HEAVY))

TRAIN_PY = """\
from transformers import AutoModelForSequenceClassification
from peft import LoraConfig, get_peft_model
model = AutoModelForSequenceClassification.from_pretrained("models/tiny-bert")
get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"]))
"""
LLAMA_YAML = """\
base_model: ../models/tiny-llama
adapter: lora
lora_r: 16
lora_alpha: 32
lora_target_modules: [q_proj, v_proj, qkv_proj]
"""
QWEN_YAML = """\
base_model: acme/tiny-qwen
adapter: lora
lora_r: 16
lora_alpha: 32
lora_target_linear: true
"""
CATALOG_YAML = """\
base_model: Qwen/Qwen2.5-0.5B
adapter: lora
lora_r: 16
lora_alpha: 32
lora_target_modules: [q_proj, k_proj]
"""


def hf_cache_model(hf: Path, repo_id: str, config: Path) -> None:
    folder = hf / ("models--" + repo_id.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(COMMIT)
    (folder / "snapshots" / COMMIT).mkdir(parents=True)
    shutil.copy(config, folder / "snapshots" / COMMIT / "config.json")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository: two local model directories, one model in the Hugging Face cache, one catalog
    model; the working directory is its root."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)  # a repository root, for the lock's place
    (root / "models").mkdir()
    for name in ("tiny-llama", "tiny-bert"):
        shutil.copytree(FIXTURES / name, root / "models" / name)
    (root / "configs").mkdir()
    (root / "configs" / "llama.yaml").write_text(LLAMA_YAML)
    (root / "configs" / "qwen.yaml").write_text(QWEN_YAML)
    (root / "configs" / "catalog.yaml").write_text(CATALOG_YAML)
    (root / "train.py").write_text(TRAIN_PY)
    hf = tmp_path / "hf"
    hf_cache_model(hf, "acme/tiny-qwen", FIXTURES / "tiny-qwen2" / "config.json")
    monkeypatch.chdir(root)
    monkeypatch.setenv("HF_HUB_CACHE", str(hf))
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    reset()
    yield root
    reset()


def reset():
    context._memo.clear()
    context._analyses.clear()
    lockfile.forget()


def lint(*args) -> tuple[int, list[dict]]:
    """``lora-lint check --output-format json`` here, in this process (the full install)."""
    reset()
    out = Path(os.environ["LORA_LINT_CACHE_DIR"]).parent / "out.json"
    rc = main(["check", "--output-format", "json", "--output-file", str(out), *args])
    return rc, json.loads(out.read_text())


def lint_without_torch(root: Path, *args, tmp: Path) -> tuple[int, list[dict], list[str]]:
    """The same check in a fresh process where the heavy packages are not installed, with an empty
    Hugging Face cache and an empty lora-lint cache: (exit code, findings, heavy modules loaded)."""
    probe = tmp / "probe.json"
    out = tmp / "out-no-torch.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_CACHE": str(tmp / "empty-hf"),
           "LORA_LINT_CACHE_DIR": str(tmp / "empty-cache")}
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, str(probe), "check", "--output-format", "json",
                           "--output-file", str(out), *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(probe.read_text())
    assert not list((tmp / "empty-cache").rglob("*.json"))  # nothing was built
    return got["rc"], json.loads(out.read_text()), got["heavy"]


def lock(*args) -> int:
    reset()
    return main(["lock", *args])


def files_of(root: Path) -> dict[str, bytes]:
    d = root / ".lora-lint" / "models"
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def codes(findings) -> list[tuple[str, int, str]]:
    return sorted((f["filename"].rsplit("/", 1)[-1], f["location"]["row"], f["code"]) for f in findings)


# -- writing the lock ------------------------------------------------------------------------------

def test_lock_pins_every_model_and_builds_only_what_the_catalog_lacks(repo, capsys):
    assert lock() == 0
    assert "Locked 4 models in .lora-lint/models/lock.json (3 inventories written)" in capsys.readouterr().out
    index = json.loads((repo / ".lora-lint" / "models" / "lock.json").read_text())
    models = index["models"]
    assert set(models) == {"models/tiny-llama", "models/tiny-bert", "acme/tiny-qwen", "Qwen/Qwen2.5-0.5B"}
    assert models["models/tiny-llama"]["source"] == "local" and models["acme/tiny-qwen"]["source"] == "hf-cache"
    assert models["Qwen/Qwen2.5-0.5B"] == {"source": "catalog", "config": models["Qwen/Qwen2.5-0.5B"]["config"],
                                          "catalog": "Qwen/Qwen2.5-0.5B"}
    configs = index["configs"]
    assert models["Qwen/Qwen2.5-0.5B"]["config"] not in configs  # prebuilt in the catalog: no files
    qwen = configs[models["acme/tiny-qwen"]["config"]]
    assert qwen["config"] is True and qwen["dir"] == "acme--tiny-qwen"  # not in the repository: stored
    bert = configs[models["models/tiny-bert"]["config"]]
    assert bert["config"] is False  # in the repository: not copied
    seq = bert["inventories"]["AutoModelForSequenceClassification"]
    assert seq["architecture"] == "BertForSequenceClassification"
    assert seq["transformers"] == context.cache.dist_version("transformers") and seq["peft"]
    files = files_of(repo)
    assert set(files) == {"lock.json", "acme--tiny-qwen/config.json", "acme--tiny-qwen/inventory.json",
                          "models--tiny-bert/inventory.AutoModelForSequenceClassification.json",
                          "models--tiny-llama/inventory.json"}
    inv = Inventory.from_json(files["models--tiny-llama/inventory.json"])
    assert inv.config_sha256 == models["models/tiny-llama"]["config"] and inv.versions["transformers"]
    # diff-friendly: one model, one config per line of the index
    lines = (repo / ".lora-lint" / "models" / "lock.json").read_text().splitlines()
    assert sum(line.startswith('"models/tiny-bert": ') for line in lines) == 1


def test_two_lock_runs_give_identical_bytes(repo, tmp_path, monkeypatch):
    assert lock() == 0
    first = files_of(repo)
    assert lock() == 0
    assert files_of(repo) == first
    # from scratch, with nothing cached: the same bytes again
    shutil.rmtree(repo / ".lora-lint")
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "another-cache"))
    assert lock() == 0
    assert files_of(repo) == first
    assert lock("--check") == 0


def test_lock_files_are_not_linted(repo, capsys):
    assert lock() == 0
    rc, found = lint(".lora-lint/models/acme--tiny-qwen/config.json", ".lora-lint/models/lock.json")
    assert found == []
    rc, found = lint(".")
    assert not any(".lora-lint" in f["filename"] for f in found)


# -- every run uses it -----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_run_without_torch_gives_the_full_installs_findings(repo, tmp_path):
    assert lock() == 0
    rc, full = lint(".")
    assert rc == 1
    got = codes(full)
    assert ("llama.yaml", 5, "LL202") in got  # qkv_proj: not a module of Llama
    assert ("train.py", 4, "LL301") in got  # the classification head stays frozen
    assert not any(c in ("LL902", "LL905") for *_, c in got)
    rc2, bare, heavy = lint_without_torch(repo, ".", tmp=tmp_path)
    assert heavy == []
    assert (rc2, bare) == (rc, full)
    assert {f["facts"]["transformers"] for f in bare if f.get("facts")} == {
        context.cache.dist_version("transformers")}


@pytest.mark.slow
def test_without_a_lock_a_run_without_torch_warns_with_the_command_that_fixes_it(repo, tmp_path):
    rc, bare, _ = lint_without_torch(repo, ".", tmp=tmp_path)
    assert rc == 1
    ll905 = {f["filename"].rsplit("/", 1)[-1]: f for f in bare if f["code"] == "LL905"}
    assert set(ll905) == {"llama.yaml", "qwen.yaml", "train.py"}  # the catalog model needs no lock
    msg = ll905["llama.yaml"]["message"]
    assert msg.startswith("model-aware rules skipped: base model '../models/tiny-llama' (from the config):"
                          " building its module inventory needs transformers and torch")
    assert "there is no model lock (.lora-lint/models/lock.json)" in msg
    assert "Fix: run `lora-lint lock` where the model resolves" in msg
    assert ll905["llama.yaml"]["severity"] == "warning"
    assert not any(f["code"] == "LL902" for f in bare)
    # the warning can be turned off: the skipped model rules are then LL902's information
    rc, bare, _ = lint_without_torch(repo, "--ignore", "model-not-locked", ".", tmp=tmp_path)
    assert rc == 0
    assert {f["code"] for f in bare if f["code"] in ("LL902", "LL905")} == {"LL902"}


def test_offline_unknown_hub_model_is_ll905_and_a_lock_cannot_give_it(repo, capsys):
    (repo / "configs" / "ghost.yaml").write_text(QWEN_YAML.replace("acme/tiny-qwen", "acme/ghost-7b"))
    rc, found = lint("--offline", "configs/ghost.yaml")
    (f,) = [f for f in found if f["code"] in ("LL902", "LL905")]
    assert f["code"] == "LL905" and "online lookups are off" in f["message"]
    capsys.readouterr()
    assert lock("--offline") == 1  # cannot be locked offline: said, the rest is locked
    err = capsys.readouterr().err
    assert "configs/ghost.yaml:2:1: cannot lock 'acme/ghost-7b':" in err
    assert "acme/ghost-7b" not in json.loads((repo / ".lora-lint/models/lock.json").read_text())["models"]


def test_report_names_the_lock(repo, capsys):
    assert lock() == 0
    reset()
    capsys.readouterr()
    assert main(["report", "--output-format", "json", "configs/qwen.yaml"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["resolved_from"] == "lock" and row["architecture"] == "Qwen2ForCausalLM"
    assert "model lock .lora-lint/models/lock.json: acme/tiny-qwen" in row["resolved_detail"]


def test_the_lock_pins_a_hub_model_until_upgraded(repo, tmp_path, capsys):
    assert lock() == 0
    before = files_of(repo)
    hf = Path(os.environ["HF_HUB_CACHE"])
    snapshot = hf / "models--acme--tiny-qwen" / "snapshots" / COMMIT / "config.json"
    config = json.loads(snapshot.read_text())
    config["num_hidden_layers"] += 1
    snapshot.write_text(json.dumps(config))
    assert lock() == 0 and files_of(repo) == before  # pinned: the cache's newer config is not taken
    rc, found = lint("configs/qwen.yaml")
    assert not any(f["code"] == "LL905" for f in found)
    assert lock("--upgrade") == 0
    after = files_of(repo)
    assert after["acme--tiny-qwen/config.json"] != before["acme--tiny-qwen/config.json"]
    assert json.loads(after["acme--tiny-qwen/config.json"])["num_hidden_layers"] == config["num_hidden_layers"]


# -- --check and LL905 -----------------------------------------------------------------------------

def test_check_reports_a_new_model_and_lock_adds_it(repo, capsys):
    assert lock() == 0
    shutil.copytree(FIXTURES / "tiny-mistral", repo / "models" / "tiny-mistral")
    (repo / "configs" / "mistral.yaml").write_text(LLAMA_YAML.replace("tiny-llama", "tiny-mistral"))
    capsys.readouterr()
    assert lock("--check") == 1
    out = capsys.readouterr().out
    assert ("configs/mistral.yaml:2:1: LL905 [warning] base model 'models/tiny-mistral' is not in the model"
            " lock (.lora-lint/models/lock.json). Fix: run `lora-lint lock`") in out
    assert "The model lock is out of date" in out
    # a full install still checks the config, and says the lock lacks it
    rc, found = lint("configs/mistral.yaml")
    got = {f["code"]: f["message"] for f in found}
    assert "LL202" in got  # analysed here (built)
    assert got["LL905"].startswith("Base model '../models/tiny-mistral' is not in the model lock")
    assert lock() == 0 and lock("--check") == 0
    rc, found = lint("configs/mistral.yaml")
    assert "LL905" not in {f["code"] for f in found}


def test_check_reports_a_changed_local_config(repo, capsys):
    assert lock() == 0
    path = repo / "models" / "tiny-llama" / "config.json"
    config = json.loads(path.read_text())
    config["intermediate_size"] *= 2
    path.write_text(json.dumps(config, indent=1))
    capsys.readouterr()
    assert lock("--check") == 1
    assert ("configs/llama.yaml:2:1: LL905 [warning] the model lock's entry for 'models/tiny-llama'"
            " (.lora-lint/models/lock.json) is stale: its config.json changed since it was locked") in capsys.readouterr().out
    rc, found = lint("configs/llama.yaml")
    (f,) = [f for f in found if f["code"] == "LL905"]
    assert "is stale: the model it names changed since it was locked" in f["message"]
    assert lock() == 0 and lock("--check") == 0


def test_check_reports_an_inventory_a_new_transformers_builds_differently(repo, capsys):
    """What a transformers release that changes a locked architecture's modeling looks like: the
    locked inventory differs from a fresh build. (The lock is edited to stand for the old release.)"""
    assert lock() == 0
    path = repo / ".lora-lint" / "models" / "models--tiny-llama" / "inventory.json"
    inv = Inventory.from_json(path.read_text())
    from dataclasses import replace

    gone = {m.name for m in inv.modules if m.name.endswith(".mlp.up_proj")}
    old = replace(inv, modules=[m for m in inv.modules if m.name not in gone],
                  parameters={k: v for k, v in inv.parameters.items() if k.rsplit(".", 1)[0] not in gone},
                  versions={**inv.versions, "transformers": "5.0.0"})
    path.write_text(old.to_json())
    capsys.readouterr()
    assert lock("--check") == 1
    out = capsys.readouterr().out
    tf = context.cache.dist_version("transformers")
    assert (f"configs/llama.yaml:2:1: LL905 [warning] the model lock's inventory of 'models/tiny-llama' is"
            f" stale: transformers {tf} builds it differently (modules added: model.layers.*.mlp.up_proj;"
            " parameters added: model.layers.*.mlp.up_proj.weight)") in out
    assert lock() == 0 and lock("--check") == 0
    assert Inventory.from_json(path.read_text()).versions["transformers"] == tf


def test_same_structure_keeps_the_locked_bytes(repo, capsys):
    """A transformers release that changes nothing for a model changes nothing in the lock."""
    assert lock() == 0
    path = repo / ".lora-lint" / "models" / "models--tiny-llama" / "inventory.json"
    text = path.read_text().replace('"transformers":"', '"transformers":"5.0.0-was-', 1)
    path.write_text(text)
    assert lock() == 0
    assert path.read_text() == text  # kept: the same structure
    assert lock("--check") == 0


def test_a_class_the_lock_lacks(repo, capsys):
    assert lock() == 0
    (repo / "tok.py").write_text(TRAIN_PY.replace("SequenceClassification", "TokenClassification"))
    rc, found = lint("tok.py")
    (f,) = [f for f in found if f["code"] == "LL905"]
    assert f["message"].startswith("The model lock (.lora-lint/models/lock.json) has no"
                                   " AutoModelForTokenClassification inventory of 'models/tiny-bert'")
    assert lock() == 0
    rc, found = lint("tok.py")
    assert "LL905" not in {f["code"] for f in found}


def test_a_model_that_cannot_be_built_is_locked_as_such(repo, tmp_path):
    d = repo / "models" / "custom"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({
        "model_type": "acme_magic", "architectures": ["AcmeForCausalLM"], "hidden_size": 64,
        "auto_map": {"AutoConfig": "configuration_acme.AcmeConfig",
                     "AutoModelForCausalLM": "modeling_acme.AcmeForCausalLM"}}))
    (repo / "configs" / "custom.yaml").write_text(LLAMA_YAML.replace("tiny-llama", "custom"))
    assert lock() == 0
    index = json.loads((repo / ".lora-lint/models/lock.json").read_text())
    sha = index["models"]["models/custom"]["config"]
    assert index["configs"][sha]["failures"][""]["reason"] == "remote-code"
    rc, full = lint("configs/custom.yaml")
    (f,) = [f for f in full if f["code"] in ("LL902", "LL905")]
    assert f["code"] == "LL902" and "needs remote code" in f["message"]
    _, bare, _ = lint_without_torch(repo, "configs/custom.yaml", tmp=tmp_path)
    assert bare == full  # the torch-free run says the same


def test_a_missing_path_is_locked_as_such(repo):
    (repo / "configs" / "cluster.yaml").write_text(LLAMA_YAML.replace("../models/tiny-llama",
                                                                      "/cluster/models/llama-70b"))
    rc, found = lint("configs/cluster.yaml")
    assert {f["code"] for f in found} >= {"LL902"} and "LL905" not in {f["code"] for f in found}
    assert lock() == 0
    index = json.loads((repo / ".lora-lint/models/lock.json").read_text())
    assert index["models"]["/cluster/models/llama-70b"] == {"unresolved": "missing-path"}
    rc, found = lint("configs/cluster.yaml")
    assert "LL905" not in {f["code"] for f in found}  # in the lock: nothing the lock lacks


def test_an_adapter_directory_locks_its_base_model(repo, tmp_path):
    d = repo / "adapters" / "sft"
    d.mkdir(parents=True)
    (d / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "base_model_name_or_path": "acme/tiny-qwen", "r": 8, "lora_alpha": 16,
        "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}))
    (repo / "resume.py").write_text(textwrap.dedent("""
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained("adapters/sft")
        get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "o_proj"]))
    """))
    assert lock("resume.py") == 0
    models = json.loads((repo / ".lora-lint/models/lock.json").read_text())["models"]
    assert set(models) == {"adapters/sft", "acme/tiny-qwen"}
    rc, full = lint("resume.py")
    _, bare, _ = lint_without_torch(repo, "resume.py", tmp=tmp_path)
    assert bare == full and not any(f["code"] in ("LL902", "LL905") for f in full)


def test_the_nearest_lock_covers_a_file(repo, tmp_path):
    assert lock() == 0
    found = lockfile.find(str(repo / "configs" / "qwen.yaml"))
    assert found is not None and found.root == str(repo)
    assert lockfile.find(str(tmp_path / "elsewhere" / "x.yaml")) is None


def test_a_broken_lock_is_no_lock(repo):
    assert lock() == 0
    (repo / ".lora-lint/models/acme--tiny-qwen/config.json").write_text('{"hand": "edited"}\n')
    reset()
    rc, found = lint("--offline", "--isolated", "configs/qwen.yaml")
    # the edited config is not what was locked: not used; the HF cache still has the model
    assert not any(f["code"] == "LL903" for f in found)
    (repo / ".lora-lint/models/lock.json").write_text("{not json")
    rc, found = lint("configs/qwen.yaml")
    assert not any(f["code"] in ("LL903", "LL905") for f in found)  # no lock: the cache serves it
