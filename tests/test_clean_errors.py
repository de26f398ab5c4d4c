"""Clean errors (issue 12, item 14): huge numbers, non-finite settings, integers Python will not
read, and output that cannot be written end in a finding or a one-line message with exit 2, never
a traceback or LL903."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from lora_lint.cli import main
from lora_lint.pipeline import lint_text
from lora_lint.settings import Settings

HUGE = "9" * 4001  # under Python's 4,300-digit int-str limit: a real int
PY = ("from peft import LoraConfig\nfrom transformers import AutoModelForCausalLM\n"
      "m = AutoModelForCausalLM.from_pretrained('meta-llama/Llama-3.2-1B')\n"
      f"cfg = LoraConfig(r={HUGE}, target_modules=['q_proj'])\n")
YAML = (f"base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: {HUGE}\nlora_alpha: 16\n"
        "lora_target_modules: [q_proj]\n")


@pytest.mark.parametrize("name, text", [("train.py", PY), ("train.yaml", YAML)])
def test_a_4001_digit_rank_is_its_own_finding_never_ll903(name, text):
    found = lint_text(name, text, Settings(offline=True))
    codes = {f.code for f in found}
    assert "LL903" not in codes, [f.message[:200] for f in found if f.code == "LL903"]
    assert "LL105" in codes  # the rank exceeds every layer's dimensions


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "-1", "0", "1" + "0" * 400, '"5"'])
def test_hub_timeout_must_be_a_positive_finite_number(tmp_path, capsys, value):
    (tmp_path / "lora-lint.toml").write_text(f"hub-timeout = {value}\n")
    (tmp_path / "train.py").write_text("x = 1\n")
    assert main(["check", str(tmp_path / "train.py")]) == 2
    err = capsys.readouterr().err
    assert "'hub-timeout' must be a positive number of seconds, got " in err and len(err.splitlines()) == 1
    assert main(["check", "--isolated", "--config", f"hub-timeout = {value}", str(tmp_path / "train.py")]) == 2
    assert "'hub-timeout'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_a_numeric_rule_option_must_be_finite(tmp_path, capsys, value):
    assert main(["check", "--isolated", "--config", f"max-rank = {value}", str(tmp_path)]) == 2
    assert f"'max-rank' must be a number (default 128), got {value} (not a finite number)" in capsys.readouterr().err


def test_a_toml_integer_over_python_s_digit_limit_is_a_config_error(tmp_path, capsys):
    digits = "9" * 5000
    (tmp_path / "lora-lint.toml").write_text(f"max-rank = {digits}\n")
    (tmp_path / "train.py").write_text("x = 1\n")
    assert main(["check", str(tmp_path / "train.py")]) == 2
    err = capsys.readouterr().err
    assert err == f"lora-lint: error: {tmp_path / 'lora-lint.toml'}: invalid TOML: an integer of more than 4,300 digits\n"
    assert main(["check", "--isolated", "--config", f"max-rank = {digits}", str(tmp_path)]) == 2
    assert "an integer of more than 4,300 digits" in capsys.readouterr().err
    (tmp_path / "pyproject.toml").write_text(f"[tool.other]\nx = {digits}\n")  # read while looking for the table
    (tmp_path / "lora-lint.toml").unlink()
    assert main(["check", str(tmp_path / "train.py")]) == 2
    assert "invalid TOML: an integer of more than 4,300 digits" in capsys.readouterr().err


# -- output that cannot be written ---------------------------------------------------------------

def _run(args: list[str], cwd, stdout, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lora_lint", *args], cwd=cwd, stdout=stdout, stdin=stdin,
                          stderr=subprocess.PIPE, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})


COMMANDS = [
    ["check", "--isolated", "train.py"],
    ["check", "--isolated", "--output-format", "json", "train.py"],
    ["check", "--isolated", "--diff", "train.py"],
    ["check", "--isolated", "--statistics", "train.py"],
    ["report", "--isolated", "--offline", "train.py"],
    ["rule", "LL001"],
    ["--version"],
]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_full_disk_on_stdout_is_exit_2_and_one_line(tmp_path, args):
    (tmp_path / "train.py").write_text("from peft import LoraConfig\ncfg = LoraConfig(r=8, lora_aplha=16)\n")
    with open("/dev/full", "w") as full:
        done = _run(args, tmp_path, full)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "lora-lint: error: cannot write to standard output: No space left on device\n"


def test_fixed_stdin_to_a_full_disk(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    with open("/dev/full", "w") as full, open(tmp_path / "in.py", "w+") as src:
        src.write("from peft import LoraConfig\ncfg = LoraConfig(r=8, lora_aplha=16)\n")
        src.seek(0)
        done = _run(["check", "--isolated", "--fix", "--stdin-filename", "train.py", "-"], tmp_path, full, src)
    assert done.returncode == 2 and done.stderr.startswith("lora-lint: error: cannot write to standard output")


def test_a_closed_pipe_is_exit_2_and_one_line(tmp_path):
    """The reader went away before the report was out (``| head -0``): exit 2, one line."""
    for i in range(400):
        (tmp_path / f"train{i}.py").write_text("from peft import LoraConfig\ncfg = LoraConfig(r=8, lora_aplha=16)\n")
    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write fails with EPIPE
    try:
        done = _run(["check", "--isolated", "--select", "LL001", "."], tmp_path, write)
    finally:
        os.close(write)
    assert done.returncode == 2
    assert done.stderr == "lora-lint: error: cannot write to standard output: Broken pipe\n"


def test_a_closed_stdout_is_exit_2(tmp_path):
    (tmp_path / "train.py").write_text("from peft import LoraConfig\ncfg = LoraConfig(r=8, lora_aplha=16)\n")
    done = subprocess.run([sys.executable, "-c", "import os, sys, runpy; os.close(1); sys.stdout = None; "
                           "sys.argv = ['lora-lint', 'check', '--isolated', 'train.py']; "
                           "runpy.run_module('lora_lint', run_name='__main__')"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and done.stderr.startswith("lora-lint: error: cannot write to the output"), done.stderr
