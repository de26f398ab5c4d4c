"""The release, as a user gets it: the sdist and the wheel that ``python -m build`` makes from the
repository's tracked files, their metadata (``twine check``), the data files in the wheel, and an
install in a clean virtual environment, from the wheel and from a git URL naming the ``v<version>``
tag (the README's ``pip install "lora-lint @ git+https://...@vX.Y.Z"``, with the host replaced by
a local repository). The pre-commit snippet's ``rev:`` resolves against such a tag in
tests/test_hook.py's style, with the real pre-commit.

A clean environment installs the core dependencies from the package index (or pip's cache), as
the pre-commit hook test does. No torch in it: a catalog model's rules must then come from the
inventories inside the wheel.
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from lora_lint import __version__

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
#: An axolotl config on a catalog model with a Llama name and a fused name that matches nothing.
CONFIG = ("base_model: TinyLlama/TinyLlama-1.1B-Chat-v1.0\nadapter: lora\nlora_r: 16\nlora_alpha: 32\n"
          "lora_target_modules:\n  - q_proj\n  - query_key_value\n")


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def isolated_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "PRE_COMMIT", "PYTHON", "VIRTUAL_ENV", "LORA_LINT"))}
    env.update(HOME=str(tmp), LORA_LINT_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1",
               HF_HOME=str(tmp / "hf"), NO_COLOR="1", PRE_COMMIT_COLOR="never",
               PRE_COMMIT_HOME=str(tmp / "pre-commit"))
    return env


def git(repo: Path, *args: str, env: dict) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A git repository holding exactly the tracked files as they are now, its release commit
    tagged ``v<version>``, and the sdist and wheel ``python -m build`` makes from it (the wheel
    is built from the sdist, so both must hold everything)."""
    tmp = tmp_path_factory.mktemp("release")
    env = isolated_env(tmp)
    repo = tmp / "lora-lint"
    for rel in tracked():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, repo / rel)
    for args in (("init", "-q"), ("config", "user.name", "Release"), ("config", "user.email", "r@example.com"),
                 ("config", "commit.gpgsign", "false"), ("add", "-A"), ("commit", "-q", "-m", "release"),
                 ("tag", f"v{__version__}")):
        git(repo, *args, env=env)
    dist = tmp / "dist"
    # without build isolation: the test environment already has setuptools (CI's .ci/run builds
    # with isolation, as a user's `python -m build` does)
    p = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(repo)],
                       env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return tmp, repo, dist, env


def test_version_is_written_once():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M)
    assert not re.search(r"^version\s*=", pyproject.split("[project]", 1)[1].split("\n[", 1)[0], re.M)
    assert 'version = { attr = "lora_lint.__version__" }' in pyproject
    first = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M)[1]
    assert first == __version__, "CHANGELOG.md's newest entry is not the package's version"
    assert f"@v{__version__}" in README and f"rev: v{__version__}" in README


def test_sdist_and_wheel_hold_the_data_files_and_pass_twine(release):
    _, repo, dist, env = release
    wheel = dist / f"lora_lint-{__version__}-py3-none-any.whl"
    sdist = dist / f"lora_lint-{__version__}.tar.gz"
    assert sorted(p.name for p in dist.iterdir()) == sorted([wheel.name, sdist.name])
    data = {rel: (ROOT / rel).read_bytes() for rel in tracked() if rel.startswith("lora_lint/data/")}
    assert any("/catalog/" in rel for rel in data) and any("/inventories/" in rel for rel in data)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for rel, content in data.items():
            assert rel in names, f"{rel} is not in the wheel"
            assert z.read(rel) == content
        code = {rel for rel in tracked() if rel.startswith("lora_lint/") and rel.endswith(".py")}
        assert code <= names, f"modules missing from the wheel: {sorted(code - names)}"
        meta = email.parser.Parser().parsestr(z.read(f"lora_lint-{__version__}.dist-info/METADATA").decode())
        entry = z.read(f"lora_lint-{__version__}.dist-info/entry_points.txt").decode()
    assert meta["Version"] == __version__ and meta["Name"] == "lora-lint"
    assert meta["License-Expression"] == "Apache-2.0" and "LICENSE" in meta.get_all("License-File")
    assert "lora-lint = lora_lint.cli:entry" in entry
    with tarfile.open(sdist) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name}
    assert set(data) <= members and {"LICENSE", "README.md", "pyproject.toml"} <= members
    p = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
                       env=env, capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.count("PASSED") == 2, p.stdout + p.stderr


def lint(venv: Path, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "lora-lint"), "--output-format", "concise", "sft.yaml"],
                          cwd=cwd, env=env, capture_output=True, text=True)


def test_wheel_and_git_url_install_and_run_in_a_clean_venv(release):
    tmp, repo, dist, env = release
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    wheel = dist / f"lora_lint-{__version__}-py3-none-any.whl"
    p = subprocess.run([*pip, str(wheel)], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    project = tmp / "project"  # outside the repository: nothing can come from the source tree
    project.mkdir()
    (project / "sft.yaml").write_text(CONFIG)
    version = subprocess.run([str(venv / "bin" / "lora-lint"), "--version"], env=env, capture_output=True, text=True)
    assert version.stdout.strip() == f"lora-lint {__version__}"
    out = lint(venv, project, env)
    assert out.returncode == 1, out.stdout + out.stderr
    # a model rule on a catalog model: the prebuilt inventory came from the wheel, with no torch
    assert "sft.yaml:7:5: LL202" in out.stdout and "LlamaForCausalLM" in out.stdout, out.stdout
    assert "LL902" not in out.stdout
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib.util as u; print(u.find_spec('torch'))"],
                           env=env, capture_output=True, text=True)
    assert probe.stdout.strip() == "None"

    # the README's git URL, with the host replaced by the tagged local repository
    (line,) = {m for m in re.findall(r'pip install "lora-lint @ git\+[^"]+"', README)}
    url = re.search(r'"lora-lint @ (git\+\S+)"', line)[1]
    assert url == f"git+https://github.com/lora-lint/lora-lint@v{__version__}"
    local = url.replace("https://github.com/lora-lint/lora-lint", f"file://localhost{repo}")  # old pips want a host
    p = subprocess.run([*pip, "--force-reinstall", "--no-deps", f"lora-lint @ {local}"],
                       env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    shutil.rmtree(tmp / "cache", ignore_errors=True)
    again = lint(venv, project, env)
    assert again.stdout == out.stdout and again.returncode == 1


def test_pre_commit_rev_resolves_to_the_release_tag(release):
    """The README's pre-commit snippet, verbatim but for the repository's address: ``rev: v<version>``
    names the tag, and the hook blocks a file with a finding."""
    tmp, repo, _, env = release
    text = re.search(r"<!-- tested: pre-commit -->\n```yaml\n(.*?)\n```", README, re.S)[1]
    assert yaml.safe_load(text)["repos"][0]["rev"] == f"v{__version__}"
    user = tmp / "user"
    user.mkdir()
    git(user, "init", "-q", env=env)
    (user / ".pre-commit-config.yaml").write_text(text.replace("https://github.com/lora-lint/lora-lint", str(repo)))
    (user / "sft.yaml").write_text(CONFIG.replace("lora_r: 16", "lora_r: 16\nlora_aplha: 32"))
    git(user, "add", ".", env=env)
    p = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=user, env=env,
                       capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "sft.yaml:4:1: LL001" in out, out
    # the fallback the README gives: pinning the release commit's hash
    sha = git(repo, "rev-parse", f"v{__version__}^{{commit}}", env=env).strip()
    assert re.search(r"rev: <[^>]*commit[^>]*>|commit hash", README)
    pinned = text.replace("https://github.com/lora-lint/lora-lint", str(repo)).replace(f"v{__version__}", sha)
    (user / ".pre-commit-config.yaml").write_text(pinned)
    p = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=user, env=env,
                       capture_output=True, text=True)
    assert p.returncode == 1 and "sft.yaml:4:1: LL001" in p.stdout + p.stderr
