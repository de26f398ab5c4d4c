"""No execution (issue 6, item 3): nothing lora-lint reads is ever run. Every payload here is live
(it creates a marker file when executed) and the marker must stay absent.

Proven elsewhere, not repeated here:
* YAML python tags through the YAML source: test_yaml_robustness.py::test_python_tags_are_never_constructed
  (and ::test_placeholders_and_tags_are_unknown)
* auto_map with an unknown model_type is refused by the builder: test_inventory.py::test_remote_code_is_refused,
  and reported as LL902: test_resolve.py::test_ll902_remote_code
* '../../etc'-style ids and revisions are not followed: test_resolve.py::test_dot_dot_and_invalid_ids_are_not_followed,
  ::test_revision_cannot_escape_the_cache
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from lora_lint.cli import main
from lora_lint.models import context

LIVE = "open({marker!r}, 'w').close()\n"


def marker_payload(tmp_path: Path, name: str) -> tuple[Path, str]:
    marker = tmp_path / f"PWNED-{name}"
    return marker, LIVE.format(marker=str(marker))


def run_json(tmp_path, *args):
    out = tmp_path / "report.json"
    rc = main(["check", "--isolated", "--offline", "--output-format", "json", "-o", str(out), *args])
    return rc, json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("LORA_LINT_CACHE_DIR", str(tmp_path / "ll-cache"))
    context._memo.clear()
    yield tmp_path
    context._memo.clear()


# -- YAML ---------------------------------------------------------------------------------------

def test_python_tags_anywhere_are_never_constructed_by_check_or_report(tmp_path, caches):
    marker = tmp_path / "PWNED-yaml"
    apply = f'!!python/object/apply:os.system ["touch {marker}"]'
    text = textwrap.dedent(f"""\
        base_model: {apply}
        adapter: lora
        lora_r: !!python/object/apply:builtins.exec ["open('{marker}', 'w').close()"]
        lora_alpha: !!python/object/new:builtins.int [16]
        lora_dropout: 3
        lora_target_modules: [{apply}, !!python/name:os.system , !!python/module:os ]
        datasets:
          - path: {apply}
        peft:
          lora_config: !!python/object/apply:subprocess.check_call [[touch, {marker}]]
        """)
    yaml.unsafe_load(text)  # the payload is live
    assert marker.exists()
    marker.unlink()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    rc, found = run_json(tmp_path, "--select", "ALL", str(cfg))
    assert rc == 1 and "LL006" in {f["code"] for f in found}  # lora_dropout: 3 is still reported
    assert main(["report", "--isolated", "--offline", "--output-format", "json", str(cfg)]) == 0
    assert not marker.exists()


# -- Python ---------------------------------------------------------------------------------------

def project_with_live_python(tmp_path: Path) -> tuple[Path, list[Path]]:
    proj = tmp_path / "proj"
    (proj / "pkg").mkdir(parents=True)
    markers = []

    def live(rel: str, extra: str = "") -> None:
        m, payload = marker_payload(tmp_path, rel.replace("/", "_"))
        markers.append(m)
        (proj / rel).write_text(payload + extra)

    live("train.py", textwrap.dedent("""
        import os
        from peft import LoraConfig, get_peft_model
        cfg = LoraConfig(r=64, lora_alpha=16, lora_dropout=3)
        if __name__ == "__main__":
            os.system("rm -rf /")
    """))
    live("pkg/__init__.py")
    live("conftest.py")
    live("setup.py")
    live("sitecustomize.py")
    # Names lora-lint itself imports: run from this directory with `python -m`, Python would
    # find these first.
    for shadow in ("yaml", "libcst", "peft", "transformers", "torch", "huggingface_hub", "platformdirs",
                   "re", "json", "argparse", "tokenize", "gettext", "tomllib", "tomli", "hashlib"):
        live(f"{shadow}.py")
    # Values the static evaluator sees: never evaluated.
    m, _ = marker_payload(tmp_path, "eval")
    markers.append(m)
    (proj / "evil.py").write_text(textwrap.dedent(f"""
        from peft import LoraConfig
        LoraConfig(
            r=__import__("os").system("touch {m}"),
            lora_alpha=eval("open({str(m)!r}, 'w').close() or 16"),
            target_modules=[exec("open({str(m)!r}, 'w').close()"), (lambda: open({str(m)!r}, 'w'))()],
            lora_dropout=compile("1", "x", "eval"),
            **{{k: __import__("subprocess").call(["touch", {str(m)!r}]) for k in "r"}},
        )
        LoraConfig(r=64, lora_alpha=f"{{open({str(m)!r}, 'w')}}")
    """))
    return proj, markers


def test_user_python_is_never_imported_or_evaluated(tmp_path, caches):
    proj, markers = project_with_live_python(tmp_path)
    rc, found = run_json(tmp_path, "--select", "ALL", str(proj))
    assert rc == 1
    assert {(os.path.basename(f["filename"]), f["code"]) for f in found} >= {("train.py", "LL006"), ("train.py", "LL101")}
    assert main(["report", "--isolated", "--offline", str(proj)]) == 0
    assert [m.name for m in markers if m.exists()] == []


def test_python_m_lora_lint_inside_the_linted_repository(tmp_path, caches):
    """`python -m` puts the working directory first on sys.path: before, lora-lint imported the
    repository's own re.py, json.py, argparse.py, tokenize.py (and would have yaml.py, peft.py...)."""
    proj, markers = project_with_live_python(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "check", "--isolated", "--offline", "--select", "ALL",
                           "--output-format", "json", "."], cwd=proj, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert {(f["filename"], f["code"]) for f in json.loads(proc.stdout)} >= {("train.py", "LL006")}
    assert [m.name for m in markers if m.exists()] == []


# -- models with remote code ------------------------------------------------------------------------

REMOTE_FILES = ("configuration_acme.py", "modeling_acme.py", "tokenization_acme.py", "__init__.py")
AUTO_MAP = {"AutoConfig": "configuration_acme.AcmeConfig", "AutoModel": "modeling_acme.AcmeModel",
            "AutoModelForCausalLM": "modeling_acme.AcmeForCausalLM",
            "AutoTokenizer": ["tokenization_acme.AcmeTokenizer", None]}
TINY_LLAMA = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 128,
              "max_position_embeddings": 64}


def remote_model_dir(path: Path, tmp_path: Path, model_type: str) -> list[Path]:
    """A model directory whose config.json asks for its own code (auto_map), with that code live."""
    path.mkdir(parents=True)
    cfg = {**TINY_LLAMA, "model_type": model_type, "auto_map": AUTO_MAP}
    if model_type != "llama":
        cfg["architectures"] = ["AcmeForCausalLM"]
    (path / "config.json").write_text(json.dumps(cfg))
    markers = []
    for name in REMOTE_FILES:
        m, payload = marker_payload(tmp_path, f"{path.name}-{name}")
        markers.append(m)
        (path / name).write_text(payload)
    return markers


def test_remote_code_never_runs_even_with_trust_remote_code(tmp_path, caches):
    proj = tmp_path / "proj"
    markers = remote_model_dir(proj / "custom", tmp_path, "acme_magic")  # only its own code defines it
    markers += remote_model_dir(proj / "native", tmp_path, "llama")  # transformers knows it natively
    # the same remote-code model in the Hugging Face cache, as a Hub id
    snap = caches / "hf-hub" / "models--acme--remote-7b" / "snapshots" / ("a" * 40)
    markers += remote_model_dir(snap, tmp_path, "acme_magic")
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("a" * 40)
    (proj / "train.py").write_text(textwrap.dedent("""
        from transformers import AutoConfig, AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        config = AutoConfig.from_pretrained("./custom", trust_remote_code=True)
        model = AutoModelForCausalLM.from_pretrained("./custom", trust_remote_code=True)
        get_peft_model(model, LoraConfig(r=8, lora_dropout=3, target_modules=["q_proj"]))
    """))
    (proj / "native.py").write_text(textwrap.dedent("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        model = AutoModelForCausalLM.from_pretrained("./native", trust_remote_code=True)
        get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "no_such_module"]))
    """))
    (proj / "hub.py").write_text(textwrap.dedent("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        model = AutoModelForCausalLM.from_pretrained("acme/remote-7b", trust_remote_code=True)
        get_peft_model(model, LoraConfig(r=8))
    """))
    (proj / "axolotl.yaml").write_text("base_model: ./custom\ntrust_remote_code: true\nadapter: lora\n"
                                       "lora_r: 8\nlora_alpha: 16\nlora_dropout: 3\n")
    rc, found = run_json(tmp_path, "--select", "ALL", str(proj))
    by_file = {}
    for f in found:
        by_file.setdefault(os.path.basename(f["filename"]), []).append((f["code"], f["message"]))
    assert rc == 1
    for name in ("train.py", "hub.py", "axolotl.yaml"):
        (msg,) = [m for c, m in by_file[name] if c == "LL902"]
        assert "needs remote code" in msg and "never runs remote code" in msg, (name, msg)
    assert ("LL006" in {c for c, _ in by_file["train.py"]}) and ("LL006" in {c for c, _ in by_file["axolotl.yaml"]})
    # a native model_type is built by transformers' own classes, its auto_map ignored
    assert [c for c, _ in by_file["native.py"] if c in ("LL201", "LL202", "LL902")] == ["LL202"]
    # --base-model and the report take the same path
    rc, found = run_json(tmp_path, "--select", "LL201,LL902", "--base-model", str(proj / "custom"),
                         str(proj / "native.py"))
    assert [f["code"] for f in found] == ["LL902"] and "needs remote code" in found[0]["message"]
    assert main(["report", "--isolated", "--offline", str(proj)]) == 0
    assert [m.name for m in markers if m.exists()] == []
    assert not [m for m in sys.modules if m.startswith("transformers_modules")]


# -- what a model id can make lora-lint read ---------------------------------------------------------

AUDIT = textwrap.dedent("""
    import json, os, sys
    opened = []
    recording = [True]

    def hook(event, args):
        if recording[0] and event == "open" and args and isinstance(args[0], (str, bytes)):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)
    from lora_lint.cli import main
    rc = main(sys.argv[2:])
    recording[0] = False
    with open(sys.argv[1], "w") as f:
        json.dump({"rc": rc, "opened": opened}, f)
""")
HOSTILE_IDS = [
    "/etc/passwd", "../../../../../../../../etc/passwd", "/etc/shadow", "/etc", "/etc/", "/proc/self/environ",
    "/proc/self/", "/dev/zero", "/root", "~/.ssh/id_rsa", "~/.ssh", "~", "~/", "org/../../../../etc/passwd",
    "file:///etc/passwd", "hf://etc/passwd", "\\\\server\\share\\config.json", "C:\\Windows\\win.ini",
    "%2e%2e/%2e%2e/etc/passwd", "..", "../" * 30 + "etc/hostname", "a" * 5000, "a/" * 3000 + "b",
    "models--etc--passwd", "etc--passwd", "/etc/passwd\x00.json", "org/name\n../../etc",
]


def test_a_model_id_reads_nothing_outside_the_project_and_caches(tmp_path):
    """Every file opened while linting configs that name hostile model ids, recorded with an audit
    hook: Python's own files, lora-lint's package, the project's files and the caches -- never
    /etc, /proc, /dev or the home directory's secrets."""
    proj = tmp_path / "proj"
    proj.mkdir()
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    for i, model_id in enumerate(HOSTILE_IDS):
        (proj / f"t{i}.py").write_text(
            "from transformers import AutoModelForCausalLM\nfrom peft import LoraConfig, get_peft_model\n"
            f"m = AutoModelForCausalLM.from_pretrained({model_id!r}, revision='../../../../etc')\n"
            "get_peft_model(m, LoraConfig(r=8, target_modules=['q_proj']))\n")
        (proj / f"c{i}.yaml").write_text(f"base_model: {json.dumps(model_id)}\nadapter: lora\nlora_r: 8\n")
        (proj / f"m{i}.py").write_text(f"# lora-lint: base-model={model_id}\nfrom peft import LoraConfig\nLoraConfig(r=8)\n")
    out = tmp_path / "opened.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(home), "HF_HUB_CACHE": str(tmp_path / "hf-hub"),
           "LORA_LINT_CACHE_DIR": str(tmp_path / "ll-cache"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", AUDIT, str(out), "check", "--isolated", "--select", "ALL",
                           "--output-format", "json", str(proj)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    result = json.loads(out.read_text())
    assert result["rc"] == 1, proc.stderr[-2000:]
    found = json.loads(proc.stdout)
    assert {f["code"] for f in found} >= {"LL902"} and "LL903" not in {f["code"] for f in found}
    allowed = [str(p) for p in {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), ROOT,
                                proj, tmp_path / "hf-hub", tmp_path / "ll-cache"}]
    allowed += [os.path.realpath(p) for p in allowed]
    outside = sorted({p for p in result["opened"]
                      if not any(os.path.abspath(p).startswith(a.rstrip("/") + "/") for a in allowed)})
    assert outside == [], outside
    linted = {str(p) for p in proj.iterdir()}
    in_project = {os.path.abspath(p) for p in result["opened"] if os.path.abspath(p).startswith(str(proj) + "/")}
    assert linted <= in_project  # the hook sees every read
    assert in_project - linted <= {str(proj / ".gitignore")}, in_project - linted
