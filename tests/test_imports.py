"""A changed file imports what reading it needs, and nothing else: a YAML config never imports
libcst, a Python config neither PyYAML nor the YAML dialects (a TRL script only TRL's record),
a shell script only the dialect of the program it runs, and a file without a LoRA marker not even
its reader. Each run is a fresh process (``sys.modules`` of a real ``lora-lint check``), and each
also names a module its path must import, so that the probe is seen to see what it claims."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

PROBE = textwrap.dedent("""
    import json, sys
    from lora_lint.cli import main
    code = main(sys.argv[2:])
    with open(sys.argv[1], "w") as f:
        json.dump({"code": code, "modules": sorted(sys.modules)}, f)
""")

AXOLOTL = """\
base_model: meta-llama/Llama-3.1-8B
adapter: lora
lora_r: 16
lora_alpha: 16
lora_target_modules: [q_proj, v_proj]
datasets:
  - path: tatsu-lab/alpaca
    type: alpaca
"""
PYTHON = """\
from peft import LoraConfig
config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
"""
#: TRL's ``get_peft_config(model_args)``: read with the TRL dialect's record, not its YAML reader.
TRL = """\
from trl import ModelConfig, TrlParser, get_peft_config

parser = TrlParser((ModelConfig,))
(model_args,) = parser.parse_args_and_config()
peft_config = get_peft_config(model_args)
"""
SWIFT = """\
#!/bin/bash
swift sft --model meta-llama/Llama-3.2-1B --train_type lora --lora_rank 8 --lora_alpha 16 \\
  --dataset data/train.jsonl
"""
#: Modules no run below needs: they are imported where they are used (an internal error, a
#: pyproject.toml or setup.cfg, a model build, a misspelt name to suggest for).
NEVER = ("traceback", "tomllib", "configparser", "tempfile", "difflib", "torch")
#: Dialects an axolotl document never reaches: they come after axolotl in ``dialects.ORDER``.
AFTER_AXOLOTL = ("unsloth_studio", "alignment_handbook", "trl", "own_lora", "home_grown")

CASES = {
    "axolotl.yaml": (AXOLOTL, ["yaml", "lora_lint.dialects.axolotl"],
                     ["libcst", "lora_lint.sources.shell_lex", "lora_lint.sources.python",
                      *(f"lora_lint.dialects.{d}" for d in AFTER_AXOLOTL)]),
    "train.py": (PYTHON, ["libcst", "lora_lint.sources.python"],
                 ["yaml", "lora_lint.dialects", "lora_lint.sources.yaml_nodes", "lora_lint.sources.shell",
                  "lora_lint.sources.shell_lex"]),
    "trl_train.py": (TRL, ["libcst", "lora_lint.dialects.trl"],
                     ["yaml", "lora_lint.sources.yaml_nodes", "lora_lint.sources.shell_lex"]),
    # a shell script reads its flags' values as YAML does (PyYAML), in its program's dialect only
    "train.sh": (SWIFT, ["lora_lint.sources.shell_programs", "lora_lint.dialects.ms_swift"],
                 ["libcst", "lora_lint.sources.python", "lora_lint.dialects.axolotl",
                  "lora_lint.dialects.llama_factory", "lora_lint.dialects.home_grown", "lora_lint.dialects.trl"]),
    # no LoRA marker: the marker test decides without importing the reader
    "ci.yaml": ("name: ci\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n", ["lora_lint.sources._base"],
                ["yaml", "lora_lint.sources.yaml_source", "lora_lint.dialects", "lora_lint.rules"]),
    "prepare.sh": ("#!/bin/bash\npython tools/prepare.py --input data.jsonl\n", ["lora_lint.sources._base"],
                   ["yaml", "lora_lint.sources.shell", "lora_lint.sources.shell_lex", "lora_lint.rules"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_changed_file_imports_only_what_reading_it_needs(tmp_path: Path, name: str):
    text, needed, unneeded = CASES[name]
    (tmp_path / name).write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "LORA_LINT_NO_RESULT_CACHE"}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", NO_COLOR="1", HF_HUB_CACHE=str(tmp_path / "hf"),
               LORA_LINT_CACHE_DIR=str(tmp_path / "cache"))
    out = tmp_path / "probe.json"
    run = subprocess.run([sys.executable, "-c", PROBE, str(out), "check", "--no-cache", "--exit-zero", name],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(out.read_text())
    modules = set(got["modules"])
    assert got["code"] == 0
    for module in needed:
        assert module in modules, f"{name}: {module} is how it is read (the probe sees nothing?)"
    for module in (*unneeded, *NEVER):
        assert module not in modules, f"{name}: {module} imported"
