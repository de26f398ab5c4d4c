"""Config files: discovery (nearest wins), every key, validation errors (exit 2), CLI precedence."""

import textwrap

import pytest

from lora_lint.cli import main
from lora_lint.config import ConfigError, Overrides, Resolver, find_config, load_config

R64 = "from peft import LoraConfig\ncfg = LoraConfig(r=64, lora_alpha=16)\n"  # LL101 at 2:18
R40 = "from peft import LoraConfig\ncfg = LoraConfig(r=40, lora_alpha=16)\n"  # LL101 at default 32
TYPO = "from peft import LoraConfig\ncfg = LoraConfig(r=8, lora_aplha=16)\n"  # LL001
NO_MODEL = ["--ignore", "LL902"]  # no base model is named here: model resolution is not the subject


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def codes(capsys):
    out = capsys.readouterr().out
    return sorted(line.split(": ")[1].split()[0] for line in out.splitlines() if ": LL" in line)


def test_nearest_config_wins_per_file(tmp_path, capsys):
    write(tmp_path / "pyproject.toml", '[tool.lora-lint]\nignore = ["LL101"]\n')
    write(tmp_path / "a.py", R64)
    write(tmp_path / "sub" / "lora-lint.toml", 'select = ["LL1"]\n')  # no implicit merge: LL101 back on
    write(tmp_path / "sub" / "b.py", R64)
    write(tmp_path / "sub" / "deeper" / "c.py", R64)
    assert main([*NO_MODEL, str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "a.py" not in out
    assert "sub/b.py:2:18: LL101" in out and "sub/deeper/c.py:2:18: LL101" in out


def test_file_priority_in_one_directory(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.lora-lint]\n")
    assert find_config(str(tmp_path)) == str(tmp_path / "pyproject.toml")
    write(tmp_path / "lora-lint.toml", "")
    assert find_config(str(tmp_path)) == str(tmp_path / "lora-lint.toml")
    write(tmp_path / ".lora-lint.toml", "")
    assert find_config(str(tmp_path)) == str(tmp_path / ".lora-lint.toml")


def test_pyproject_without_the_table_is_skipped(tmp_path, capsys):
    write(tmp_path / "lora-lint.toml", 'ignore = ["LL101"]\n')
    write(tmp_path / "pkg" / "pyproject.toml", "[tool.ruff]\nline-length = 100\n")
    write(tmp_path / "pkg" / "x.py", R64)
    assert find_config(str(tmp_path / "pkg")) == str(tmp_path / "lora-lint.toml")
    assert main([str(tmp_path)]) == 0


def test_rule_option_from_file_and_cli_override(tmp_path, capsys):
    write(tmp_path / "lora-lint.toml", "rslora-min-rank = 48\n")
    write(tmp_path / "x.py", R40)
    assert main([str(tmp_path)]) == 0  # 40 < 48
    assert main(["--config", "rslora-min-rank = 32", str(tmp_path)]) == 1
    assert "r=40 without use_rslora" in capsys.readouterr().out
    write(tmp_path / "lora-lint.toml", "rslora-min-rank = 32\n")
    assert main([str(tmp_path)]) == 1


def test_per_file_ignores_python(tmp_path, capsys):
    write(tmp_path / "pyproject.toml", """\
        [tool.lora-lint]
        per-file-ignores = { "experiments/**" = ["rslora-recommended"], "test_*.py" = ["ALL"] }
        """)
    write(tmp_path / "experiments" / "sweep" / "x.py", R64)
    write(tmp_path / "test_thing.py", TYPO)
    write(tmp_path / "train.py", R64)
    assert main([*NO_MODEL, str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "train.py:2:18: LL101" in out
    assert "experiments" not in out and "test_thing" not in out
    # --per-file-ignores replaces the table; --extend-per-file-ignores adds to it
    assert main([*NO_MODEL, "--per-file-ignores", "train.py:LL101", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "experiments/sweep/x.py" in out and "test_thing.py" in out and "train.py" not in out
    assert main(["--extend-per-file-ignores", "train.py:LL1", str(tmp_path)]) == 0


def test_per_file_ignores_and_exclude_match_yaml_paths(tmp_path):
    write(tmp_path / "lora-lint.toml", """\
        per-file-ignores = { "configs/*.yaml" = ["LL101"] }
        exclude = ["generated/"]
        """)
    s = Resolver().settings_for(str(tmp_path / "configs" / "sft.yaml"))
    assert "LL101" not in s.rules_for(str(tmp_path / "configs" / "sft.yaml"))
    assert "LL101" in s.rules_for(str(tmp_path / "configs" / "deep" / "sft.yaml"))
    assert "LL101" in s.rules_for(str(tmp_path / "other.yaml"))
    assert s.is_excluded(str(tmp_path / "generated" / "a.yaml"))
    assert s.is_excluded(str(tmp_path / "x" / "generated" / "b.yaml"))  # no '/': any depth
    assert not s.is_excluded(str(tmp_path / "configs" / "sft.yaml"))


def test_exclude_walk_vs_explicit_and_force_exclude(tmp_path, capsys):
    write(tmp_path / ".lora-lint.toml", 'extend-exclude = ["vendor/", "*.gen.py"]\n')
    write(tmp_path / "vendor" / "x.py", R64)
    write(tmp_path / "a.gen.py", R64)
    assert main([str(tmp_path)]) == 0
    assert main([str(tmp_path / "a.gen.py")]) == 1  # named explicitly: linted
    assert main(["--force-exclude", str(tmp_path / "a.gen.py")]) == 0
    assert main(["--extend-exclude", "other", str(tmp_path / "vendor" / "x.py")]) == 1
    capsys.readouterr()


def test_extend_inherits_and_child_wins(tmp_path, capsys):
    write(tmp_path / "pyproject.toml", """\
        [tool.lora-lint]
        ignore = ["LL001"]
        rslora-min-rank = 100
        per-file-ignores = { "legacy.py" = ["ALL"] }
        """)
    write(tmp_path / "proj" / ".lora-lint.toml", 'extend = "../pyproject.toml"\nrslora-min-rank = 48\n')
    write(tmp_path / "proj" / "a.py", TYPO + "LoraConfig(r=64)\n")
    write(tmp_path / "proj" / "legacy.py", R64)
    s = load_config(str(tmp_path / "proj" / ".lora-lint.toml"))
    assert s.rule_options == {"rslora-min-rank": 48}
    assert main([str(tmp_path / "proj")]) == 1
    out = capsys.readouterr().out
    assert "LL001" not in out and "a.py:3:12: LL101" in out and "legacy" not in out


def test_extend_loop_and_missing_target(tmp_path, capsys):
    write(tmp_path / "a.toml", 'extend = "b.toml"\n')
    write(tmp_path / "b.toml", 'extend = "a.toml"\n')
    with pytest.raises(ConfigError, match="'extend' loops"):
        load_config(str(tmp_path / "a.toml"))
    write(tmp_path / "c" / "lora-lint.toml", 'extend = "../nope.toml"\n')
    write(tmp_path / "c" / "x.py", R64)
    assert main([str(tmp_path / "c")]) == 2
    assert "lora-lint.toml: 'extend': no such file" in capsys.readouterr().err


@pytest.mark.parametrize("body,message", [
    ('selekt = ["LL1"]', "unknown key 'selekt'; did you mean 'select'?"),
    ('rslora-min-rnak = 4', "unknown key 'rslora-min-rnak'; did you mean 'rslora-min-rank'?"),
    ('select = ["LL999"]', "Unknown rule selector 'LL999' in 'select' in"),
    ('ignore = ["rslora-recomended"]', "Unknown rule selector 'rslora-recomended' in 'ignore' in"),
    ('select = "LL1"', "'select' must be a list of rule codes or names"),
    ('per-file-ignores = { "x.py" = ["nope"] }', "Unknown rule selector 'nope' in 'per-file-ignores.x.py'"),
    ('rslora-min-rank = "32"', "'rslora-min-rank' must be a number (default 32)"),
    ('rslora-min-rank = true', "'rslora-min-rank' must be a number"),
    ('offline = "yes"', "'offline' must be true or false"),
    ('max-file-size = 0', "'max-file-size' must be a positive number of bytes"),
    ('hub-timeout = -1', "'hub-timeout' must be a positive number of seconds"),
    ('base-model = 3', "'base-model' must be a model id or path"),
    ('gpu-memory = "24 gigs"', "'gpu-memory': not a memory size: '24 gigs'"),
    ('gpu-memory = true', "'gpu-memory' must be a memory size such as"),
    ('gpu-memory = { "**" = -1 }', "'gpu-memory.**': a memory size must be positive"),
    ('select = [', "invalid TOML"),
])
def test_bad_config_is_exit_2_naming_file_and_key(tmp_path, capsys, body, message):
    cfg = write(tmp_path / "pyproject.toml", f"[tool.lora-lint]\n{body}\n")
    write(tmp_path / "x.py", R64)
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert str(cfg) in err


def test_bad_inline_config_is_exit_2(tmp_path, capsys):
    write(tmp_path / "x.py", R64)
    assert main(["--config", "max-rnk = 3", str(tmp_path)]) == 2
    assert "--config: unknown key 'max-rnk'" in capsys.readouterr().err
    assert main(["--config", "not toml at all", str(tmp_path)]) == 2
    assert "neither a file nor a TOML" in capsys.readouterr().err


def test_cli_selection_overrides_the_file(tmp_path, capsys):
    write(tmp_path / "lora-lint.toml", 'ignore = ["LL101"]\n')
    write(tmp_path / "x.py", R64)
    assert main([str(tmp_path)]) == 0
    assert main(["--select", "LL101", str(tmp_path)]) == 1  # a later layer's select re-enables
    assert main(["--extend-select", "rslora-recommended", str(tmp_path)]) == 1
    assert main(["--isolated", str(tmp_path)]) == 1
    write(tmp_path / "other.toml", "")
    assert main(["--config", str(tmp_path / "other.toml"), str(tmp_path)]) == 1
    capsys.readouterr()


def test_base_model_global_per_path_and_cli(tmp_path):
    write(tmp_path / "lora-lint.toml", """\
        offline = true
        hub-timeout = 2
        [base-model]
        "configs/qwen/**" = "Qwen/Qwen2.5-7B"
        "**" = "meta-llama/Llama-3.1-8B"
        """)
    r = Resolver()
    qwen = str(tmp_path / "configs" / "qwen" / "sft.yaml")
    other = str(tmp_path / "train.py")
    assert r.settings_for(qwen).base_model_for(qwen) == "Qwen/Qwen2.5-7B"
    assert r.settings_for(other).base_model_for(other) == "meta-llama/Llama-3.1-8B"
    assert r.settings_for(other).offline is True and r.settings_for(other).hub_timeout == 2.0
    cli = Resolver(Overrides(base_model="./local-model")).settings_for(qwen)
    assert cli.base_model_override == "./local-model"  # beats the settings and what configs name
    assert cli.base_model_for(qwen) == "Qwen/Qwen2.5-7B"
    write(tmp_path / "lora-lint.toml", 'base-model = "google/gemma-2-2b"\n')
    assert Resolver().settings_for(other).base_model_for(other) == "google/gemma-2-2b"


def test_gpu_memory_global_and_per_path(tmp_path):
    write(tmp_path / "lora-lint.toml", """\
        [gpu-memory]
        "big/**" = "80GB"
        "small/*.yaml" = "24GiB"
        """)
    big, small, other = (str(tmp_path / p) for p in ("big/a/sft.yaml", "small/sft.yaml", "train.py"))
    s = Resolver().settings_for(other)
    assert s.gpu_memory_for(big) == 80 * 10**9
    assert s.gpu_memory_for(small) == 24 * 2**30
    assert s.gpu_memory_for(other) is None  # no budget: LL107 says nothing
    write(tmp_path / "lora-lint.toml", 'gpu-memory = "16G"\n')
    assert Resolver().settings_for(other).gpu_memory_for(other) == 16 * 2**30  # G is GiB, as nvidia-smi


def test_options_validated_against_declared_rule_options():
    from lora_lint.config import rule_option_defaults
    from lora_lint.rules import all_rules

    declared = rule_option_defaults()
    assert declared["rslora-min-rank"] == 32
    assert set(declared) == {o for r in all_rules().values() for o in r.options}


@pytest.mark.parametrize("pattern,path,hit", [
    ("*.yaml", "a.yaml", True),
    ("*.yaml", "deep/er/a.yaml", True),          # no '/': any depth
    ("configs/*.yaml", "configs/a.yaml", True),
    ("configs/*.yaml", "configs/x/a.yaml", False),  # '*' stays in one component
    ("configs/**/*.yaml", "configs/x/y/a.yaml", True),
    ("configs/*.yaml", "other/configs/a.yaml", False),  # anchored to the config's directory
    ("data", "data/x/y.py", True),               # a directory covers what is under it
    ("data/", "x/data/y.py", True),
    ("data", "database.py", False),
    ("test_*.py", "../elsewhere/test_a.py", True),  # unanchored: also outside the base
    ("sub/*.py", "../elsewhere/sub/a.py", False),
])
def test_path_patterns(tmp_path, pattern, path, hit):
    from lora_lint.settings import PathPattern

    base = tmp_path / "proj"
    assert PathPattern.make(pattern, str(base)).matches(str(base / path)) is hit


def test_bad_config_file_given_on_the_command_line(tmp_path, capsys):
    write(tmp_path / "x.py", R64)
    bad = write(tmp_path / "ci.toml", 'ignore = ["LL0O1"]\n')
    assert main(["--config", str(bad), str(tmp_path / "x.py")]) == 2
    assert f"Unknown rule selector 'LL0O1' in 'ignore' in {bad}" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["report"]])
def test_check_and_report_read_config_the_same_way(tmp_path, capsys, command):
    """One --config parser: a second config file is refused, a bad one fails before any work."""
    write(tmp_path / "x.py", R64)
    a, b = write(tmp_path / "a.toml", ""), write(tmp_path / "b.toml", "")
    assert main([*command, "--config", str(a), "--config", str(b), str(tmp_path / "x.py")]) == 2
    assert "--config FILE given twice" in capsys.readouterr().err
    bad = write(tmp_path / "ci.toml", "max-rnk = 3\n")
    assert main([*command, "--config", str(bad), str(tmp_path / "nothing-here")]) == 2
    assert "unknown key 'max-rnk'" in capsys.readouterr().err


def test_discovery_memoises_every_directory_it_walks(tmp_path):
    write(tmp_path / "lora-lint.toml", "")
    (tmp_path / "a" / "b").mkdir(parents=True)
    seen = {}
    assert find_config(str(tmp_path / "a" / "b"), seen) == str(tmp_path / "lora-lint.toml")
    assert seen[str(tmp_path / "a")] == seen[str(tmp_path)] == str(tmp_path / "lora-lint.toml")
    assert Resolver().config_for(str(tmp_path / "a" / "b" / "x.yaml")) == str(tmp_path / "lora-lint.toml")
