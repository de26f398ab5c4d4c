"""Every rule's own examples, run as tests: ``# error: LL101`` marks the line that must fire."""

import pkgutil
import re
from pathlib import Path

import pytest

import lora_lint.rules
from lora_lint.pipeline import lint_text
from lora_lint.registry import SECTIONS
from lora_lint.rules import all_rules
from lora_lint.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MARK = re.compile(r"#\s*error:\s*(LL\d{3})")
RULES = all_rules()


def example(src):
    return src if isinstance(src, tuple) else ("example.py", src)


CASES = [
    (code, kind, i, *example(src))
    for code, r in RULES.items()
    for kind, srcs in (("valid", r.valid), ("invalid", r.invalid))
    for i, src in enumerate(srcs)
]


@pytest.mark.parametrize(
    "code,kind,i,filename,src", CASES, ids=[f"{c}-{k}-{i}" for c, k, i, *_ in CASES]
)
def test_example(code, kind, i, filename, src, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples name tiny models as tests/fixtures/models/<name>
    settings = Settings(select=[code])
    got = sorted((f.span.line, f.code) for f in lint_text(filename, src, settings))
    want = sorted(
        (n, m[1]) for n, line in enumerate(src.splitlines(), 1) for m in MARK.finditer(line)
    )
    assert got == want
    assert (kind == "valid") == (want == []), "valid examples carry no marker, invalid ones do"


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_is_documented_with_examples(code):
    r = RULES[code]
    for section in SECTIONS:
        assert section in r.doc, f"{code} lacks {section!r}"
    if code not in ("LL902", "LL903"):  # reported by the engine, not from a config example
        assert r.invalid, f"{code} has no invalid example"
        assert r.valid, f"{code} has no valid example"


def test_every_rule_module_is_registered():
    modules = {m.name for m in pkgutil.iter_modules(lora_lint.rules.__path__) if not m.name.startswith("_")}
    registered = {r.check.__module__.rsplit(".", 1)[-1] for r in RULES.values()}
    assert modules == registered


def test_module_names_match_codes_and_names():
    for code, r in RULES.items():
        module = r.check.__module__.rsplit(".", 1)[-1]
        assert module == f"{code.lower()}_{r.name.replace('-', '_')}"
