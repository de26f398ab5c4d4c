"""Finding the peft version a project pins (lora_lint.project, lora_lint.pins), on projects in tmp_path."""

from importlib import metadata

import pytest

from lora_lint import pins, project
from lora_lint.source_file import SourceFile


@pytest.fixture(autouse=True)
def fresh_cache():
    project.clear_cache()
    yield
    project.clear_cache()


def make(tmp_path, files: dict[str, str]):
    (tmp_path / ".git").mkdir(exist_ok=True)
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def pin_of(tmp_path, files, script="train.py"):
    root = make(tmp_path, files)
    return project.peft_version(str(root / script))


@pytest.mark.parametrize("line,newest", [
    ("peft==0.13.2", "0.13.2"),
    ("peft == 0.13.2", "0.13.2"),
    ("peft<0.14", "<0.14"),
    ("peft<=0.14.0", "0.14.0"),
    ("peft>=0.10,<0.14", "<0.14"),
    ("peft~=0.13.1", "<0.14"),
    ("peft~=0.13", "<1"),
    ("peft==0.13.*", "<0.14"),
    ("peft[torch]==0.9.0", "0.9.0"),
    ("PEFT==0.9.0", "0.9.0"),
    ("peft (==0.9.0)", "0.9.0"),
    ("peft==0.9.0 --hash=sha256:abc", "0.9.0"),
    ("peft==0.9.0  # pinned for the cluster", "0.9.0"),
    ("peft===0.9.0", "0.9.0"),
])
def test_requirements_upper_bounds(tmp_path, line, newest):
    pin = pin_of(tmp_path, {"requirements.txt": f"torch\n{line}\n"})
    assert str(pin.bound) == newest
    assert pin.source.endswith("requirements.txt")


@pytest.mark.parametrize("line", [
    "peft", "peft>=0.10", "peft!=0.12.0", "peft>0.9",
    "peft @ git+https://github.com/huggingface/peft",
    "peft==0.9.0; python_version < '3.8'",
])
def test_requirements_without_upper_bound_allow_everything(tmp_path, line):
    pin = pin_of(tmp_path, {"requirements.txt": line + "\n"})
    assert pin is not None and pin.bound is None
    assert pin.allows("0.21.0")


def test_allows_compares_releases(tmp_path):
    pin = pin_of(tmp_path, {"requirements.txt": "peft<0.14\n"})
    assert pin.allows("0.13.0") and not pin.allows("0.14.0")
    project.clear_cache()
    pin = pin_of(tmp_path, {"requirements.txt": "peft==0.14\n"})
    assert pin.allows("0.14.0") and not pin.allows("0.15.0")
    assert "peft==0.14" in pin.describe() and "requirements.txt" in pin.describe()


def test_included_and_constraint_files_are_followed(tmp_path):
    pin = pin_of(tmp_path, {
        "requirements.txt": "-r requirements/base.txt\n-c constraints.txt\n",
        "requirements/base.txt": "peft>=0.10\n",
        "constraints.txt": "peft==0.12.0\n",
    })
    assert str(pin.bound) == "0.12.0"


def test_include_cycles_terminate(tmp_path):
    pin = pin_of(tmp_path, {"requirements.txt": "-r requirements.txt\npeft==0.8.0\n"})
    assert str(pin.bound) == "0.8.0"


def test_the_loosest_file_wins(tmp_path):
    pin = pin_of(tmp_path, {"requirements.txt": "peft==0.10.0\n", "requirements-dev.txt": "peft==0.12.0\n"})
    assert str(pin.bound) == "0.12.0"
    project.clear_cache()
    pin = pin_of(tmp_path, {"requirements-dev.txt": "peft\n"})
    assert pin.bound is None


def test_pyproject_pep621_and_optional(tmp_path):
    pin = pin_of(tmp_path, {"pyproject.toml": '[project]\nname="x"\ndependencies=["peft==0.11.1", "torch"]\n'})
    assert str(pin.bound) == "0.11.1"
    project.clear_cache()
    pin = pin_of(tmp_path, {"pyproject.toml": '[project]\nname="x"\n[project.optional-dependencies]\ntrain=["peft<0.15"]\n'})
    assert str(pin.bound) == "<0.15"


def test_pyproject_dependency_groups(tmp_path):
    pin = pin_of(tmp_path, {"pyproject.toml": '[dependency-groups]\ntrain=["peft~=0.16.0", {include-group="x"}]\n'})
    assert str(pin.bound) == "<0.17"


@pytest.mark.parametrize("spec,newest", [
    ('"^0.10.0"', "<0.11"),
    ('"^1.2"', "<2"),
    ('"~0.10.2"', "<0.11"),
    ('"0.10.0"', "0.10.0"),
    ('">= 0.9, < 0.12"', "<0.12"),
    ('{version = "^0.13.0", extras = ["x"]}', "<0.14"),
    ('[{version = "0.9.0", python = "<3.9"}, {version = "0.12.0", python = ">=3.9"}]', "0.12.0"),
    ('"0.9.0 || 0.11.0"', "0.11.0"),
])
def test_poetry(tmp_path, spec, newest):
    pin = pin_of(tmp_path, {"pyproject.toml": f"[tool.poetry.dependencies]\npython = '^3.10'\npeft = {spec}\n"})
    assert str(pin.bound) == newest


@pytest.mark.parametrize("spec", ['"*"', '">=0.10"', '{git = "https://github.com/huggingface/peft"}'])
def test_poetry_unbounded(tmp_path, spec):
    pin = pin_of(tmp_path, {"pyproject.toml": f"[tool.poetry.group.dev.dependencies]\npeft = {spec}\n"})
    assert pin.bound is None


def test_setup_cfg(tmp_path):
    pin = pin_of(tmp_path, {"setup.cfg": "[options]\ninstall_requires =\n    torch>=2\n    peft==0.7.1\n"})
    assert str(pin.bound) == "0.7.1"
    project.clear_cache()
    pin = pin_of(tmp_path, {"setup.cfg": "[options.extras_require]\nlora =\n    peft<0.9\n"})
    assert str(pin.bound) == "<0.9"


@pytest.mark.parametrize("dep,newest", [
    ("peft=0.10", "<0.11"),
    ("peft=0.10.0", "<0.10.1"),
    ("peft==0.10.0", "0.10.0"),
    ("peft 0.10.0", "<0.10.1"),
    ("conda-forge::peft=0.10.0=pyhd8ed1ab_0", "<0.10.1"),
    ("peft>=0.9,<0.12", "<0.12"),
])
def test_environment_yml_conda(tmp_path, dep, newest):
    pin = pin_of(tmp_path, {"environment.yml": f"name: x\ndependencies:\n  - python=3.11\n  - {dep}\n"})
    assert str(pin.bound) == newest


def test_environment_yml_pip_section(tmp_path):
    pin = pin_of(tmp_path, {"environment.yml": "dependencies:\n  - pip\n  - pip:\n    - peft==0.15.2\n"})
    assert str(pin.bound) == "0.15.2"


def test_search_goes_up_to_the_repository_root(tmp_path):
    make(tmp_path, {"requirements.txt": "peft==0.9.0\n", "src/pkg/train.py": ""})
    assert str(project.peft_version(str(tmp_path / "src/pkg/train.py")).bound) == "0.9.0"


def test_nearest_directory_wins(tmp_path):
    make(tmp_path, {"requirements.txt": "peft==0.9.0\n", "exp/requirements.txt": "peft==0.12.0\n"})
    assert str(project.peft_version(str(tmp_path / "exp/train.py")).bound) == "0.12.0"


def test_search_stops_at_the_repository_root(tmp_path):
    (tmp_path / "requirements.txt").write_text("peft==0.9.0\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    found = project.peft_version(str(repo / "train.py"))
    assert found == project.installed()


def test_no_pin_falls_back_to_the_installed_peft(tmp_path):
    make(tmp_path, {"requirements.txt": "torch\ntransformers\n", "pyproject.toml": "[project]\nname='x'\n"})
    found = project.peft_version(str(tmp_path / "train.py"))
    assert found.source is None
    assert found.spec == metadata.version("peft")
    assert "installed peft" in found.describe()


def test_broken_files_do_not_raise(tmp_path):
    pin = pin_of(tmp_path, {
        "pyproject.toml": "[project\n", "setup.cfg": "no section\n", "environment.yml": "{a: [",
        "requirements.txt": "peft==\n-r\n",
    })
    assert pin is not None and pin.bound is None


def test_result_is_cached_per_directory(tmp_path):
    make(tmp_path, {"requirements.txt": "peft==0.9.0\n"})
    first = project.peft_version(str(tmp_path / "a.py"))
    (tmp_path / "requirements.txt").write_text("peft==0.12.0\n")
    assert project.peft_version(str(tmp_path / "b.py")) is first
    project.clear_cache()
    assert str(project.peft_version(str(tmp_path / "b.py")).bound) == "0.12.0"


def test_pep723_script_block():
    text = '# /// script\n# requires-python = ">=3.10"\n# dependencies = [\n#   "peft==0.8.2",\n# ]\n# ///\nimport peft\n'
    deps, first, last = pins.script_metadata(SourceFile.of_text("x.py", text).lines)
    assert deps == ["peft==0.8.2"] and (first, last) == (1, 6)
    pin = project.peft_version("/nonexistent/x.py", deps)
    assert str(pin.bound) == "0.8.2" and "# /// script" in pin.describe()
    assert pins.script_metadata(["# /// script", "# dependencies = 3", "# ///"]) is None
    assert project.script_bound(["torch"]) is None
