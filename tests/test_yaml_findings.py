"""End to end: every YAML fixture gives exactly the findings its ``# error: LLnnn`` markers say.

Only the codes the dialects produce are compared (LL001, LL009, LL010 notes and LL901), so
rules added later that also read these sites do not change what is tested here. JSON cannot
carry comments: its expectations are listed below.
"""

import re
from pathlib import Path

import pytest

from lora_lint.pipeline import lint_file, lint_text
from lora_lint.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "yaml"
CODES = ["LL001", "LL009", "LL010", "LL307", "LL901"]
MARK = re.compile(r"#\s*error:\s*(LL\d{3})")
YAML = sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".yaml", ".yml"))
JSON_EXPECTED = {
    "adapter_config/adapter_config.json": [],
    "adapter_config/typo.json": [(1, 32, "LL001")],
    "adapter_config/ia3.json": [],
    "adapter_config/not_peft.json": [],
}


def findings(path: Path):
    return sorted((f.span.line, f.span.col, f.code) for f in lint_file(str(path), Settings(select=CODES)))


@pytest.mark.parametrize("path", YAML, ids=[str(p.relative_to(FIXTURES)) for p in YAML])
def test_yaml_fixture(path):
    text = path.read_text(encoding="utf-8")
    want = sorted((n, m[1]) for n, line in enumerate(text.splitlines(), 1) for m in MARK.finditer(line))
    got = sorted((line, code) for line, _col, code in findings(path))
    assert got == want


@pytest.mark.parametrize("name", sorted(JSON_EXPECTED))
def test_json_fixture(name):
    assert findings(FIXTURES / name) == JSON_EXPECTED[name]


def test_every_json_fixture_has_expectations():
    assert {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.json")} == set(JSON_EXPECTED)


def test_messages_name_the_framework_fix():
    text = (FIXTURES / "axolotl" / "wrong_keys.yml").read_text()
    messages = {f.span.line: f.message for f in lint_text("wrong_keys.yml", text, Settings(select=["LL001"]))}
    assert "did you mean `lora_r`" in messages[3]
    assert "did you mean `peft_use_rslora`" in messages[5]
    assert "did you mean `lora_target_modules`" in messages[6]


def test_finding_points_at_the_value():
    text = (FIXTURES / "axolotl" / "qlora_8bit.yml").read_text()
    (f,) = lint_text("qlora_8bit.yml", text, Settings(select=["LL009"]))
    assert (f.span.line, f.span.col, f.span.end_col) == (2, 15, 19)  # the `true` of load_in_8bit
    assert "Can't load qlora in 8bit" in f.message


def test_missing_key_points_at_the_key_that_makes_it_fire():
    text = (FIXTURES / "axolotl" / "qlora_without_4bit.yml").read_text()
    (f,) = lint_text("q.yml", text, Settings(select=["LL009"]))
    assert (f.span.line, f.span.col, f.span.end_col) == (2, 10, 15)  # `qlora`
    assert "load_in_4bit" in f.message


def test_no_rslora_advice_where_the_framework_has_no_switch():
    for name in ("torchtune/lora.yaml", "autotrain/defaults.yml"):
        assert [f for f in lint_file(str(FIXTURES / name), Settings(select=["LL101"]))] == []
    # the same rank in a framework that has the switch is advised
    (f,) = lint_file(str(FIXTURES / "ms-swift" / "sft.yaml"), Settings(select=["LL101"]))
    assert f.span.line == 4


def test_inactive_site_reports_only_its_notes():
    got = lint_file(str(FIXTURES / "axolotl" / "adapter_off.yml"))
    assert {f.code for f in got} == {"LL009"}  # no LL101 or other rule on dead values
    # quantized without an adapter, axolotl refuses to start: it does not fine-tune the whole model
    # (axolotl's validate_adapter raises); without quantization it does, and the LoRA keys are dead
    (f,) = lint_file(str(FIXTURES / "axolotl" / "adapter_empty.yml"))
    assert f.code == "LL010" and "fine-tunes the whole model" in f.message


@pytest.mark.parametrize("value", ["0", "true", "[llama3]", "{a: 1}", "null"])
def test_a_chat_template_that_is_not_text_is_no_internal_error(value):
    """``chat_template: 0`` (found by the fuzz test on a real axolotl config): LL309 reads no
    template from it and nothing crashes (before: TypeError in chat_templates.tokens, LL903)."""
    text = ("base_model: meta-llama/Meta-Llama-3-8B\nadapter: lora\nlora_r: 16\nlora_alpha: 32\n"
            f"lora_target_linear: true\nchat_template: {value}\ndatasets:\n  - path: x\n    type: chat_template\n")
    found = lint_text("lora.yml", text, Settings(select=["LL309", "LL903"]))
    assert [f.code for f in found] == []
