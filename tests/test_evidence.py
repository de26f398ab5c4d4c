"""Every rule says what its finding claims, which library code does it, and which tests show it.

The "Evidence" of a rule (``registry.Evidence``, rendered on its page and linked from the rule table)
is checked here against what it names: each test exists (found by name in its file, so a renamed
test fails here), and each peft code path is in the installed peft, the cited lines hold the symbol
(or lie inside it), and the version is the installed one.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from importlib.metadata import version
from pathlib import Path

import pytest

from lora_lint import docs
from lora_lint.registry import CODE_PATH, Evidence
from lora_lint.rules import all_rules

ROOT = Path(__file__).resolve().parent.parent
RULES = all_rules()
DEF = re.compile(r"^(\s*)(?:async\s+)?(?:def|class)\s+(\w+)")


@cache
def defined(test_file: str) -> set[str]:
    """``name`` and ``Class::method`` of every test function and method in ``test_file``."""
    tree = ast.parse((ROOT / test_file).read_text(encoding="utf-8"))
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.add(node.name)
        elif isinstance(node, ast.ClassDef):
            out |= {f"{node.name}::{m.name}" for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return out


def evidence(code: str) -> Evidence:
    e = RULES[code].evidence
    assert e is not None, f"{code} does not say what it claims and what proves it (Evidence)"
    return e


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_says_what_it_claims_and_what_proves_it(code):
    e = evidence(code)
    assert e.claim.strip() and e.code and e.tests
    if code.startswith("LL1"):  # advisory: a scaling or count peft computes, and where the advice comes from
        assert e.guidance.strip(), f"{code} gives advice: say where it comes from (guidance)"
    if code.startswith("LL9"):  # about lora-lint itself
        assert e.claim.startswith("About lora-lint itself")
        assert all(c.startswith("lora-lint ") for c in e.code)
    else:
        assert any(not c.startswith("lora-lint ") for c in e.code), f"{code} names no library code path"


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_named_test_exists(code):
    for name in evidence(code).tests:
        test_file, _, test = name.partition("::")
        assert (ROOT / test_file).is_file(), f"{code}: no test file {test_file}"
        assert test in defined(test_file), f"{code}: {test_file} has no test {test!r}"


def _peft_lines(path: str) -> list[str]:
    import peft

    file = Path(peft.__file__).parent / path
    assert file.is_file(), f"peft has no {path}"
    return file.read_text(encoding="utf-8").splitlines()


def _encloses(lines: list[str], first: int, name: str) -> bool:
    """Whether line ``first`` (1-based) is inside the def/class ``name`` (or is its first line)."""
    indent = len(lines[first - 1]) - len(lines[first - 1].lstrip())
    for i in range(first - 1, -1, -1):
        m = DEF.match(lines[i])
        if m and (i == first - 1 or len(m[1]) < indent):
            if m[2] == name:
                return True
            indent = len(m[1])
            if indent == 0:
                return False
    return False


def _symbol(text: str) -> str:
    return re.split(r"[\s(]", text, maxsplit=1)[0].strip("`").rsplit(".", 1)[-1]


PATHS = sorted({(code, c) for code in RULES if RULES[code].evidence for c in RULES[code].evidence.code})


@pytest.mark.parametrize("code,path", PATHS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(PATHS)])
def test_code_paths_are_where_they_say(code, path):
    m = CODE_PATH.match(path)
    assert m is not None
    name = _symbol(m["symbol"])
    if m["library"] == "peft":
        assert m["version"] == version("peft"), f"{code} cites peft {m['version']}; installed is {version('peft')}"
        lines = _peft_lines(m["file"])
        if m["first"]:
            first, last = int(m["first"]), int(m["last"] or m["first"])
            assert 1 <= first <= last <= len(lines), f"{code}: {path} is outside the file"
            cited = "\n".join(lines[first - 1:last])
            assert re.search(rf"\b{re.escape(name)}\b", cited) or _encloses(lines, first, name), \
                f"{code}: {m['file']}:{first}-{last} neither holds nor lies inside {name!r}"
        else:
            assert re.search(rf"\b{re.escape(name)}\b", "\n".join(lines))
    elif m["library"] == "lora-lint":
        file = ROOT / m["file"]
        assert file.is_file(), f"{code}: no {m['file']}"
        assert re.search(rf"^\s*(def|class) {re.escape(name)}\b", file.read_text(encoding="utf-8"), re.M), \
            f"{code}: {m['file']} defines no {name!r}"
    else:  # a framework: its version is the one its dialect replays
        assert m["version"], f"{code}: {path} names no version of {m['library']}"


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_page_shows_its_evidence(code):
    page = (docs.ROOT / f"{code}.md").read_text(encoding="utf-8")
    assert "\n## Evidence\n" in page
    for name in evidence(code).tests:
        assert name in page
    row = next(line for line in (docs.ROOT / "README.md").read_text(encoding="utf-8").splitlines()
               if line.startswith(f"| [{code}]"))
    assert f"({code}.md#evidence)" in row


def test_a_wrong_code_path_or_test_name_is_refused():
    with pytest.raises(ValueError, match="code path"):
        Evidence("claim", ("peft tuners/x.py",), ("tests/test_x.py::test_y",))
    with pytest.raises(ValueError, match="test"):
        Evidence("claim", ("peft 0.21.2 tuners/x.py:1-2 f",), ("test_x.py:test_y",))
