"""Bounded work on every input (issue 12, items 6, 7, 9, 12, 13): the static evaluator and the
model tracing have a memo and a budget, Python parsing is screened before libcst, config globs are
screened like .gitignore lines, an exhausted YAML budget is a finding.

Work is measured in steps (deterministic), not seconds; what must not hang runs in a subprocess
with a time and memory limit (``bounded``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import libcst as cst
import pytest
from conftest import ROOT

from lora_lint.model import UNKNOWN
from lora_lint.sources import python as py
from lora_lint.sources import python_eval


def extract(src: str):
    """The sites of ``src`` and the extractor that read them."""
    found = py.sites("train.py", textwrap.dedent(src))
    return found, py._LAST[2]


def bounded(args: list[str], cwd, seconds: float = 120, memory_mb: int = 1500, stdin: bytes | None = None):
    """``lora-lint ARGS`` in a process that may take ``seconds`` and ``memory_mb`` of address
    space at most (a hang or a blow-up fails the test instead of the machine)."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    return subprocess.run([sys.executable, "-m", "lora_lint", *args], cwd=cwd, capture_output=True,
                          input=stdin, timeout=seconds, preexec_fn=limit,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})


# -- the static evaluator (item 6) ---------------------------------------------------------------

def doubling(n: int, start: str) -> str:
    lines = ["from peft import LoraConfig", f"a0 = {start}"]
    lines += [f"a{i} = a{i - 1} + a{i - 1}" for i in range(1, n + 1)]
    return "\n".join(lines) + f"\ncfg = LoraConfig(r=8, target_modules=a{n}, modules_to_save=a10)\n"


@pytest.mark.parametrize("start, size", [('"x"', len), ('["q_proj"]', len)])
def test_names_doubling_each_other_are_evaluated_once_and_stop_at_the_size_bound(start, size):
    """A 400-byte file whose names double a string (or a list) took a minute: each name is now
    evaluated once, and a value past the size bound is UNKNOWN."""
    (site,), ex = extract(doubling(30, start))
    assert site.params["target_modules"].value is UNKNOWN  # 2**30 items: past the bound
    assert size(site.get("modules_to_save").value) == 1024  # 2**10: known
    used = python_eval.MAX_STEPS - ex.evaluator.steps
    assert used < 200, used  # without the memo: 2**30 evaluations


def test_the_step_budget_makes_every_later_value_unknown():
    (site,), ex = extract("from peft import LoraConfig\nR = 8\ncfg = LoraConfig(r=R)\n")
    assert site.get("r").value == 8
    ev = ex.evaluator
    node = cst.parse_expression("R + 1")
    assert ev.eval(node, ex.scopes.module_scope) == 9
    ev.steps = 1  # one node left: the sum's operands are past the budget
    assert ev.eval(node, ex.scopes.module_scope) is UNKNOWN and ev.exhausted


def test_a_long_chain_of_names_is_cut_at_the_depth_bound_without_poisoning_the_memo():
    chain = "\n".join(f"c{i} = c{i - 1} + 1" for i in range(1, 100))
    (site,), ex = extract(f"from peft import LoraConfig\nc0 = 1\n{chain}\ncfg = LoraConfig(r=c99, lora_alpha=c20)\n")
    assert site.params["r"].value is UNKNOWN  # 99 names deep: past MAX_DEPTH
    assert site.get("lora_alpha").value == 21  # asked afresh, not the cut value of the deep walk


def test_literals_past_the_size_bound_are_unknown():
    items = ", ".join(f"'m{i}'" for i in range(python_eval.MAX_ITEMS + 1))
    (site,), _ = extract(f"from peft import LoraConfig\nT = [{items}]\ncfg = LoraConfig(target_modules=T, r=8)\n")
    assert site.params["target_modules"].value is UNKNOWN and site.get("r").value == 8


# -- tracing the model a site adapts (the same class) ------------------------------------------

def finder_for(src: str):
    """A ``ModelFinder`` over ``src`` and its first LoraConfig call."""
    from lora_lint.sources.python_models import ModelFinder

    _, ex = extract(src)
    calls = py.Calls(ex.scopes)
    ex.walk.replay(calls)
    config = next(c for c, _ in calls.calls if ex.kind(c) == "peft")
    return ModelFinder(ex, calls.calls), config


def test_names_rebound_to_each_other_are_traced_once():
    """Five bindings a name over 20 names: 5**20 paths (over 24 names a minute, then cut by the
    depth bound); now each name is traced once."""
    from lora_lint.sources.python_models import MAX_TRACE_STEPS

    lines = ["from peft import LoraConfig, get_peft_model", "from transformers import AutoModelForCausalLM",
             "a21 = AutoModelForCausalLM.from_pretrained('gpt2')"]
    lines += [f"a{i} = a{i + 1}" for i in range(20, 0, -1) for _ in range(5)]
    lines += ["cfg = LoraConfig(r=8)", "m = get_peft_model(a1, cfg)"]
    src = "\n".join(lines) + "\n"
    (site,), _ = extract(src)
    assert site.base_model.value == "gpt2"
    finder, config = finder_for(src)
    assert [load.model_id for load in finder.tied_loads(config)] == ["gpt2"]
    used = MAX_TRACE_STEPS - finder.steps
    assert used < 1000, used


def test_a_trace_past_its_budget_names_no_model_rather_than_a_wrong_one():
    src = ("from peft import LoraConfig, get_peft_model\nfrom transformers import AutoModelForCausalLM\n"
           "m = AutoModelForCausalLM.from_pretrained('gpt2')\nm = AutoModelForCausalLM.from_pretrained('facebook/opt-350m')\n"
           "cfg = LoraConfig(r=8)\nget_peft_model(m, cfg)\n")
    finder, config = finder_for(src)
    assert {load.model_id for load in finder.tied_loads(config)} == {"gpt2", "facebook/opt-350m"}
    finder, config = finder_for(src)
    finder.steps = 2  # enough for one of the two loads at most
    assert len(finder.tied_loads(config)) <= 1 and finder.exhausted
    (site,), _ = extract(src)
    assert site.base_model is None  # two candidates: none is claimed


def test_each_of_many_sites_finds_its_own_tie():
    """Ties are indexed by the config they are given (each site scanned every call: 300 sites
    and 300 ties were 90,000 checks)."""
    lines = ["from peft import LoraConfig, get_peft_model", "from transformers import AutoModelForCausalLM",
             "m0 = AutoModelForCausalLM.from_pretrained('gpt2')",
             "m1 = AutoModelForCausalLM.from_pretrained('facebook/opt-350m')"]
    lines += [f"c{i} = LoraConfig(r=8)\np{i} = get_peft_model(m{i % 2}, c{i})" for i in range(300)]
    lines += ["get_peft_model(m0, LoraConfig(r=4))"]
    found, _ = extract("\n".join(lines) + "\n")
    assert [s.base_model.value for s in found] == ["gpt2", "facebook/opt-350m"] * 150 + ["gpt2"]
