"""The results cache (issue 19): a cached run prints exactly what an uncached run prints.

A repository is edited step by step (the linted file, its configuration file, its local model's
config.json, the peft pin, the Hugging Face cache, the model lock); after each step a fresh process
runs every output format uncached, cached (the first cached run after the edit) and warm, and
all three must print the same bytes and exit the same. The edit must change the output (else the
step proves nothing), exactly the files whose findings depend on what was edited are linted again,
and the warm run lints nothing. The models are copies of catalog configs, so nothing is built.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT

from lora_lint import depends, result_cache
from lora_lint.depends import Record
from lora_lint.model import Edit, Finding, Fix, Severity, Span
from lora_lint.result_cache import ResultCache
from lora_lint.settings import Settings
from lora_lint.source_file import Stamp

CATALOG = ROOT / "lora_lint" / "data" / "catalog"
COMMIT = "0123456789abcdef0123456789abcdef01234567"

#: One step, in a fresh process (the in-process memos of pins, locks and models assume that files do
#: not change while a process runs): every format uncached, cached and warm.
STEP = textwrap.dedent("""
    import contextlib, io, json, os, sys
    from lora_lint import cli
    from lora_lint.result_cache import ResultCache
    made, put = [], []
    real_open, real_put = cli.results_cache, ResultCache.put
    def spy_open():
        made.append(real_open())
        return made[-1]
    def spy_put(self, path, *args):
        put.append(path)
        return real_put(self, path, *args)
    cli.results_cache, ResultCache.put = spy_open, spy_put
    out = {}
    for fmt in cli.OUTPUT_FORMATS:
        runs = {}
        for mode in ("uncached", "cached", "warm"):
            if mode == "uncached":
                os.environ["LORA_LINT_NO_RESULT_CACHE"] = "1"
            else:
                os.environ.pop("LORA_LINT_NO_RESULT_CACHE", None)
            del put[:]
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                code = cli.main(["--output-format", fmt, "."])
            cache = made[-1]
            runs[mode] = {"code": code, "out": buf.getvalue(), "relinted": sorted(put),
                          "hits": None if cache is None else cache.hits,
                          "entries": None if cache is None else len(cache.entries)}
        out[fmt] = runs
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)
""")

TRAIN_PY = """\
from transformers import AutoModelForCausalLM
from peft import LoraConfig, get_peft_model
model = AutoModelForCausalLM.from_pretrained("models/local")
cfg = LoraConfig(r=R, lora_alpha=16, target_modules=["q_proj", "v_proj", "qkv_proj"], lora_bias=False)
model = get_peft_model(model, cfg)
"""
HUB_YAML = """\
base_model: acme/tiny-gpt2
adapter: lora
lora_r: 16
lora_alpha: 32
lora_target_modules: [c_attn, q_proj]
"""
CATALOG_YAML = """\
base_model: Qwen/Qwen2.5-0.5B
adapter: lora
lora_r: 8
lora_alpha: 16
lora_target_modules: [q_proj, k_proj]
use_dora: true
"""
LF_YAML = """\
model_name_or_path: Qwen/Qwen2.5-0.5B
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: q_proj,v_proj
"""
LAUNCH_SH = "#!/bin/bash\nllamafactory-cli train configs/lf.yaml lora_rank=1024\n"
UNRELATED = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n"
FILES = ("bad.yaml", "configs/catalog.yaml", "configs/hub.yaml", "configs/lf.yaml", "launch.sh",
         "models/local/config.json", "src/util.py", "train.py")


def hf_cache_model(hf: Path, repo_id: str, config: Path) -> None:
    folder = hf / ("models--" + repo_id.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(COMMIT)
    (folder / "snapshots" / COMMIT).mkdir(parents=True)
    shutil.copy(config, folder / "snapshots" / COMMIT / "config.json")


def write(path: Path, text: str | bytes) -> None:
    """Write a file so that its mtime differs from what any earlier run saw."""
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.stat().st_mtime_ns if path.exists() else 0
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    write(root / "requirements.txt", "torch\npeft==0.13.0\n")
    write(root / "lora-lint.toml", "rslora-min-rank = 32\n")
    (root / "models" / "local").mkdir(parents=True)
    shutil.copy(CATALOG / "Qwen--Qwen2.5-0.5B.json", root / "models" / "local" / "config.json")
    write(root / "train.py", TRAIN_PY.replace("R", "1024"))
    write(root / "configs" / "hub.yaml", HUB_YAML)
    write(root / "configs" / "catalog.yaml", CATALOG_YAML)
    write(root / "src" / "util.py", UNRELATED)
    write(root / "configs" / "lf.yaml", LF_YAML)
    write(root / "launch.sh", LAUNCH_SH)
    write(root / "bad.yaml", b"lora_r: 8\nadapter: lora\nnote: \xff\n")  # not UTF-8: LL901
    hf_cache_model(tmp_path / "hf", "acme/tiny-gpt2", CATALOG / "openai-community--gpt2.json")
    return root


def environment(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "LORA_LINT_NO_RESULT_CACHE")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", NO_COLOR="1", HF_HUB_CACHE=str(root.parent / "hf"),
               LORA_LINT_CACHE_DIR=str(root.parent / "cache"))
    return env


def step(root: Path) -> dict:
    result = root.parent / "step.json"
    proc = subprocess.run([sys.executable, "-c", STEP, str(result)], cwd=root, env=environment(root),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(result.read_text())


def lock(root: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "lock"], cwd=root, env=environment(root),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cached_runs_print_what_uncached_runs_print_across_edits(repo):
    hf_model = repo.parent / "hf" / "models--acme--tiny-gpt2"
    steps = [
        ("nothing cached yet", lambda: None, set(FILES)),
        ("the linted file", lambda: write(repo / "train.py", TRAIN_PY.replace("R", "2048")), {"train.py"}),
        ("its configuration file", lambda: write(repo / "lora-lint.toml", 'ignore = ["LL101"]\n'), set(FILES)),
        ("its model's config.json",
         lambda: write(repo / "models" / "local" / "config.json", (CATALOG / "Qwen--Qwen2.5-1.5B.json").read_text()),
         {"train.py", "models/local/config.json"}),
        ("the peft pin", lambda: write(repo / "requirements.txt", "torch\npeft>=0.14\n"),
         {"train.py", "configs/hub.yaml", "configs/catalog.yaml", "configs/lf.yaml", "launch.sh"}),
        ("a model leaving the Hugging Face cache", lambda: shutil.move(hf_model, repo.parent / "hf-away"),
         {"configs/hub.yaml"}),
        ("the model lock (written where the model resolves), then the model gone again",
         lambda: (shutil.move(repo.parent / "hf-away", hf_model), lock(repo),
                  shutil.move(hf_model, repo.parent / "hf-away")),
         {"train.py", "configs/hub.yaml", "configs/catalog.yaml", "configs/lf.yaml", "launch.sh"}),
        ("a locked local model's config.json", lambda: write(
            repo / "models" / "local" / "config.json", (CATALOG / "Qwen--Qwen2.5-3B.json").read_text()),
         {"train.py", "models/local/config.json"}),
        ("a YAML file a script reads", lambda: write(
            repo / "configs" / "lf.yaml", LF_YAML.replace("q_proj,v_proj", "q_proj,v_proj,qkv_proj")),
         {"configs/lf.yaml", "launch.sh"}),
    ]
    previous = None
    for what, edit, relinted in steps:
        edit()
        got = step(repo)
        for fmt, runs in got.items():
            uncached, cached, warm = runs["uncached"], runs["cached"], runs["warm"]
            assert cached["out"] == uncached["out"], (what, fmt)
            assert warm["out"] == uncached["out"], (what, fmt)
            assert uncached["code"] == cached["code"] == warm["code"], (what, fmt)
            assert warm["relinted"] == [] and warm["hits"] == warm["entries"] == len(FILES), (what, fmt)
        first = next(iter(got.values()))
        assert set(first["cached"]["relinted"]) == relinted, (what, sorted(first["cached"]["relinted"]))
        concise = got["concise"]["uncached"]["out"]
        assert concise != previous, f"{what}: the edit does not change the findings, so this step proves nothing"
        previous = concise


# -- the warm path -----------------------------------------------------------------------------------

PROBE = textwrap.dedent("""
    import json, sys
    from lora_lint.cli import main
    code = main(sys.argv[2:])
    with open(sys.argv[1], "w") as f:
        json.dump({"code": code, "modules": sorted(sys.modules)}, f)
""")


def age(root: Path, seconds: int = 60) -> None:
    """Every file and directory under ``root`` last changed ``seconds`` ago: mtimes the cache can
    trust (a file changed within the last two seconds is compared by its hash)."""
    then = time.time_ns() - seconds * 10**9
    for p in [root, *root.rglob("*")]:
        os.utime(p, ns=(then, then))


#: What a run whose files are all in the results cache never imports.
NOT_WARM = ("libcst", "yaml", "torch", "transformers", "peft", "lora_lint.rules", "lora_lint.sources.python",
            "lora_lint.sources.yaml_source", "lora_lint.dialects", "lora_lint.models.context", "lora_lint.project",
            "lora_lint.suppressions", "lora_lint.registry", "lora_lint.engine", "_hashlib", "platformdirs",
            "tempfile", "shutil")


def warm_modules(root: Path) -> set[str]:
    """The modules of a warm run in ``root`` (after a first run), which must print what it printed."""
    env = environment(root)
    age(root.parent)
    first = subprocess.run([sys.executable, "-m", "lora_lint", "."], cwd=root, env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 1, first.stderr
    probe = root.parent / "probe.json"
    again = subprocess.run([sys.executable, "-c", PROBE, str(probe), "."], cwd=root, env=env, capture_output=True,
                           text=True, timeout=600)
    got = json.loads(probe.read_text())
    assert again.stdout == first.stdout and got["code"] == 1
    modules = set(got["modules"])
    assert "lora_lint.result_cache" in modules  # (the probe sees what it claims to)
    return modules


def test_a_warm_run_imports_nothing_it_does_not_need(repo):
    modules = warm_modules(repo)
    for heavy in NOT_WARM:
        assert heavy not in modules, heavy


def test_a_warm_run_without_a_config_file_imports_no_typing(tmp_path):
    """(A config file is read with tomllib, which imports typing.)"""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    write(root / "configs" / "catalog.yaml", CATALOG_YAML)
    write(root / "src" / "util.py", UNRELATED)
    modules = warm_modules(root)
    for heavy in (*NOT_WARM, "typing", "tomllib"):
        assert heavy not in modules, heavy


# -- the dependency record ----------------------------------------------------------------------------

def test_reads_probes_and_listings_are_recorded_and_checked(tmp_path):
    from lora_lint.bounded_read import read_regular_file

    (tmp_path / "pin.txt").write_text("peft==0.13\n")
    (tmp_path / "requirements-dev.txt").write_text("x\n")
    with depends.recording() as record:
        read_regular_file(tmp_path / "pin.txt", 1000)
        with pytest.raises(OSError):
            read_regular_file(tmp_path / "absent.txt", 1000)
        assert not depends.is_dir(tmp_path / "model")
        assert depends.listing(tmp_path, r"requirements.*\.txt") == ["requirements-dev.txt"]
    assert read_regular_file(tmp_path / "pin.txt", 1000)  # outside a recording: nothing recorded
    deps = dict(record.deps)
    assert len(deps) == 4 and not record.volatile
    assert all(result_cache.check(k, v) == v for k, v in deps.items())

    def changed():
        return {k[1].rsplit("/", 1)[-1] for k, v in deps.items() if result_cache.check(k, v) is None}

    time.sleep(0.01)
    (tmp_path / "absent.txt").write_text("now here\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "README.md").write_text("a name the listing does not match\n")
    assert changed() == {"absent.txt", "model"}
    (tmp_path / "requirements.txt").write_text("peft\n")
    assert changed() == {"absent.txt", "model", tmp_path.name}
    st = (tmp_path / "pin.txt").stat()
    (tmp_path / "pin.txt").write_text("peft==0.14\n")  # same size, same mtime: the hash tells
    os.utime(tmp_path / "pin.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "pin.txt" in changed()


def test_a_memoised_answer_records_what_computing_it_read(tmp_path):
    from lora_lint import project

    (tmp_path / ".git").mkdir()
    (tmp_path / "requirements.txt").write_text("peft==0.12.0\n")
    (tmp_path / "sub").mkdir()
    project.clear_cache()
    with depends.recording() as first:
        assert str(project.peft_version(str(tmp_path / "sub" / "a.py")).bound) == "0.12.0"
    with depends.recording() as second:  # answered from the memo
        assert str(project.peft_version(str(tmp_path / "sub" / "b.py")).bound) == "0.12.0"
    assert second.deps == first.deps
    assert ("file", str(tmp_path / "requirements.txt")) in second.deps
    assert ("stat", str(tmp_path / "sub" / ".git")) in second.deps  # (where the search did not stop)
    project.clear_cache()


def test_an_answer_from_the_hub_is_never_cached(tmp_path, monkeypatch):
    from lora_lint.models import config_lookup, hub, resolve

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with depends.recording() as record:
        resolve.resolve("acme/not-in-any-cache", online=False)
    assert not record.volatile and record.deps  # (the caches it looked in)
    asked = []  # (no network in the tests: the Hub answers "not there")
    monkeypatch.setattr(hub, "fetch_config", lambda repo, revision, timeout: asked.append(repo) or (
        None, config_lookup.Unresolved(repo, "not-found", "no such model on the Hub")))
    with depends.recording() as record:
        resolve.resolve("acme/not-in-any-cache", online=True)
    assert asked == ["acme/not-in-any-cache"] and record.volatile


# -- the store -------------------------------------------------------------------------------------

FINDING = Finding("LL001", "unknown-field", Severity.ERROR, "`lora_aplha` is not a field", "a.py",
                  Span(2, 5, 2, 15), Fix("rename it", (Edit(Span(2, 5, 2, 15), "lora_alpha"),)),
                  (("transformers", "5.25.0"), ("peft", "0.21.2")))


def stamp_of(path: Path) -> Stamp:
    from lora_lint.source_file import stamp_of as make

    return make(path.read_bytes(), path.stat().st_mtime_ns)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text("x = 1\n")
    old = time.time_ns() - 10**10
    os.utime(tmp_path / "a.py", ns=(old, old))  # (not racy: compared by its stat)
    return tmp_path


def test_findings_come_back_as_they_were(store):
    cache = ResultCache.open(directory=store / "cache")
    settings = Settings()
    cache.put("a.py", settings, stamp_of(store / "a.py"), [FINDING], Record())
    assert cache.save()
    again = ResultCache.open(directory=store / "cache")
    assert again.get("a.py", Settings()) == [FINDING]
    assert again.get("a.py", Settings(ignore=["LL001"])) is None  # other settings: a miss
    assert again.get("b.py", settings) is None


def test_a_touched_file_is_hashed_not_linted_and_an_edit_is_a_miss(store):
    cache = ResultCache.open(directory=store / "cache")
    cache.put("a.py", Settings(), stamp_of(store / "a.py"), [FINDING], Record())
    cache.save()
    os.utime(store / "a.py")  # touched: same bytes
    again = ResultCache.open(directory=store / "cache")
    assert again.get("a.py", Settings()) == [FINDING] and again.dirty  # (its new mtime is kept)
    (store / "a.py").write_text("x = 2\n")  # same size, other bytes
    assert ResultCache.open(directory=store / "cache").get("a.py", Settings()) is None


def test_nothing_is_kept_for_a_volatile_record_or_a_bug_of_lora_lint(store):
    cache = ResultCache.open(directory=store / "cache")
    volatile = Record()
    volatile.volatile = True
    cache.put("a.py", Settings(), stamp_of(store / "a.py"), [FINDING], volatile)
    assert "a.py" not in cache.entries
    bug = Finding("LL903", "internal-error", Severity.ERROR, "bug", "a.py", Span(1, 1, 1, 2))
    cache.put("a.py", Settings(), stamp_of(store / "a.py"), [bug], Record())
    assert "a.py" not in cache.entries


@pytest.mark.parametrize("damage", [b"", b"{", b"[]", b'{"schema": 1}', b"\xff\xfe",
                                    b'{"schema": 1, "key": "K", "settings": [], "deps": [], "entries": {"a.py": 7}}',
                                    b'{"schema": 1, "key": "K", "settings": ["x"], "deps": [[1]], '
                                    b'"entries": {"a.py": [6, 0, "h", 0, [0], [[1]], 0]}}'])
def test_a_damaged_cache_is_a_miss(store, damage):
    cache = ResultCache.open(directory=store / "cache")
    cache.file.parent.mkdir(parents=True)
    cache.file.write_bytes(damage.replace(b'"K"', json.dumps(cache.key).encode()))
    again = ResultCache.open(directory=store / "cache")
    assert again.get("a.py", Settings()) is None
    again.put("a.py", Settings(), stamp_of(store / "a.py"), [FINDING], Record())
    assert again.save()
    assert ResultCache.open(directory=store / "cache").get("a.py", Settings()) == [FINDING]


def test_two_runs_saving_at_once_keep_each_others_entries(store):
    (store / "b.py").write_text("y = 1\n")
    one = ResultCache.open(directory=store / "cache")
    two = ResultCache.open(directory=store / "cache")
    one.put("a.py", Settings(), stamp_of(store / "a.py"), [FINDING], Record())
    two.put("b.py", Settings(ignore=["LL101"]), stamp_of(store / "b.py"), [], Record())
    assert one.save() and two.save()
    both = ResultCache.open(directory=store / "cache")
    assert both.get("a.py", Settings()) == [FINDING]
    assert both.get("b.py", Settings(ignore=["LL101"])) == []
    assert not list(both.file.parent.glob(".results-*"))  # no temporary file left behind


def test_an_unwritable_cache_directory_only_costs_time(store):
    (store / "cache").write_text("a file where the directory should be\n")
    cache = ResultCache.open(directory=store / "cache")
    cache.put("a.py", Settings(), stamp_of(store / "a.py"), [FINDING], Record())
    assert not cache.save()


def test_the_cache_is_bounded(store, monkeypatch):
    results = store / "cache" / result_cache.DIR
    results.mkdir(parents=True)
    old = time.time_ns() - (result_cache.MAX_AGE_DAYS + 1) * 86_400 * 10**9
    for name, size, mtime in (("stale", 10, old), ("older", 3000, time.time_ns() - 10**10),
                              ("newer", 3000, time.time_ns() - 10**9)):
        (results / name).write_bytes(b"x" * size)
        os.utime(results / name, ns=(mtime, mtime))
    monkeypatch.setattr(result_cache, "MAX_TOTAL_BYTES", 5000)
    cache = ResultCache.open(directory=store / "cache")
    cache.put("a.py", Settings(), stamp_of(store / "a.py"), [], Record())
    assert cache.save()
    assert cache.file.stat().st_size < 2000
    assert sorted(p.name for p in results.iterdir()) == sorted(["newer", cache.file.name])


def test_clean_removes_this_projects_results_only(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    for project in ("here", "here/sub", "elsewhere"):
        (tmp_path / project).mkdir(parents=True, exist_ok=True)
        (tmp_path / project / "a.py").write_text("x = 1\n")
        monkeypatch.chdir(tmp_path / project)
        cache = ResultCache.open(root=str(tmp_path / project), directory=cache_dir)
        cache.put("a.py", Settings(), stamp_of(tmp_path / project / "a.py"), [], Record())
        assert cache.save()
    monkeypatch.chdir(tmp_path / "here")
    removed = result_cache.clean(str(tmp_path / "here"), cache_dir)
    assert len(removed) == 2
    (left,) = (cache_dir / result_cache.DIR).iterdir()
    assert json.loads(left.read_text())["root"] == str(tmp_path / "elsewhere")


def test_lora_lint_clean_and_the_cache_flags(repo):
    env = environment(repo)
    cache_dir = repo.parent / "elsewhere"

    def run(*args):
        return subprocess.run([sys.executable, "-m", "lora_lint", *args], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=600)

    assert run("--no-cache", "--cache-dir", str(cache_dir), ".").returncode == 1
    assert not cache_dir.exists()
    first = run("--cache-dir", str(cache_dir), ".")
    assert len(list((cache_dir / result_cache.DIR).iterdir())) == 1
    assert run("--cache-dir", str(cache_dir), ".").stdout == first.stdout
    done = run("clean", "--cache-dir", str(cache_dir))
    assert done.returncode == 0 and "Removed 1 cached result file." in done.stderr
    assert not list((cache_dir / result_cache.DIR).iterdir())
