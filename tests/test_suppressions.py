"""Suppression comments in Python and YAML, and LL904 (unused suppressions)."""

import bisect
from pathlib import Path

import pytest
import yaml
from conftest import source

from lora_lint.cli import main
from lora_lint.directives import python_comments, suppressions, yaml_comments
from lora_lint.model import Finding, Severity, Span
from lora_lint.pipeline import lint_text
from lora_lint.rules import all_rules
from lora_lint.settings import Settings
from lora_lint.suppressions import apply

SHARED = Path(__file__).resolve().parents[2] / "shared"
HEAD = "from peft import LoraConfig\n"


def lint(src):
    # the subject is the suppression mechanism: two rules are enough, and other rules (LL104 on
    # these scalings, LL902 without a base model) stay out of the way
    return [(f.span.line, f.code) for f in lint_text("train.py", HEAD + src, Settings(select=["LL001", "LL101"]))]


def test_line_suppression_by_code_and_by_name():
    assert lint("LoraConfig(r=64)\n") == [(2, "LL101")]
    assert lint("LoraConfig(r=64)  # lora-lint: ignore[LL101]\n") == []
    assert lint("LoraConfig(r=64)  # lora-lint: ignore[rslora-recommended]\n") == []
    assert lint("LoraConfig(r=64)  # lora-lint:ignore[ll101, LL001]\n") == []
    assert lint("LoraConfig(r=64)  # lora-lint: ignore\n") == []  # no list: every rule
    assert lint("LoraConfig(r=64)  # lora-lint: ignore[LL001]\n") == [(2, "LL101")]


def test_noqa_with_codes_and_bare_noqa():
    assert lint("LoraConfig(r=64)  # noqa: LL101\n") == []
    assert lint("LoraConfig(r=64)  # noqa: E501, LL101\n") == []
    assert lint("LoraConfig(r=64)  # type: ignore  # noqa:LL101\n") == []
    assert lint("LoraConfig(r=64)  # noqa: E501\n") == [(2, "LL101")]  # another tool's codes only
    # a bare noqa silences every finding on its line, as ruff and flake8 read it
    assert lint("LoraConfig(r=64)  # noqa\n") == []
    assert lint("LoraConfig(r=64)  #NOQA\n") == []
    assert lint("LoraConfig(r=64)  # noqa  # the rank is intended\n") == []
    assert lint("LoraConfig(r=64)  # noqa:\n") == [(2, "LL101")]  # a colon without codes is not bare
    assert lint("LoraConfig(r=64)  # noqa-ish\n") == [(2, "LL101")]
    assert lint("# noqa\nLoraConfig(r=64)\n") == [(3, "LL101")]  # on its own line: its line only


def test_bare_noqa_is_never_reported_unused():
    """It is there for every linter that reads it: LL904 leaves it alone."""
    from lora_lint.pipeline import lint_text
    from lora_lint.settings import Settings

    src = "x = 1  # noqa\nfrom peft import LoraConfig\nLoraConfig(r=64)  # noqa: LL101, LL102\n"
    found = lint_text("t.py", src, Settings(select=["LL101", "LL904"]))
    assert [(f.span.line, f.code) for f in found] == [(3, "LL904")]  # LL102: not enabled


def test_comment_alone_covers_the_next_line_only():
    src = "# lora-lint: ignore[LL101]\n\nLoraConfig(r=64)\nLoraConfig(r=128)\n"
    assert lint(src) == [(5, "LL101")]
    assert lint("LoraConfig(\n    r=64,  # lora-lint: ignore[LL101]\n    lora_aplha=1,\n)\n") == [(4, "LL001")]


def test_file_level_suppression():
    src = "LoraConfig(r=64)\nLoraConfig(r=8, lora_aplha=1)\n# lora-lint: ignore-file[LL101]\n"
    assert lint(src) == [(3, "LL001")]
    assert lint(src.replace("[LL101]", "")) == []


def test_hash_inside_a_python_string_is_not_a_comment():
    src = 'LoraConfig(r=64, target_modules=["# lora-lint: ignore[LL101]"])\n'
    assert lint(src) == [(2, "LL101")]
    src = 'x = """\n# lora-lint: ignore-file[LL101]\n"""\nLoraConfig(r=64)\n'
    assert lint(src) == [(5, "LL101")]


def test_python_comment_scan_survives_a_broken_file():
    text = "x = 1  # lora-lint: ignore[LL901]\ny = (\n"
    assert [c.line for c in python_comments(source("x.py", text))] == [1]


# -- YAML ------------------------------------------------------------------------------------

def finding(code, line, path="configs/sft.yaml"):
    r = all_rules()[code]
    return Finding(code, r.name, r.severity, "msg", path, Span.point(line, 1))


YAML = """\
# lora-lint: ignore-file[LL010]
adapter: lora
lora_r: 64  # lora-lint: ignore[LL101]
lora_alpha: 16 # noqa: LL902
note: "quoted # lora-lint: ignore[LL001]"
script: |
  echo  # lora-lint: ignore[LL009]
# lora-lint: ignore[unknown-field]
lora_aplha: 16
lora_dropout: 1.5
"""


def test_yaml_suppressions():
    found = [finding("LL010", 2), finding("LL101", 3), finding("LL902", 4), finding("LL001", 5),
             finding("LL009", 7), finding("LL001", 9), finding("LL009", 10)]
    rules = Settings().selected()
    kept = apply(source("configs/sft.yaml", YAML), found, rules)
    assert [(f.span.line, f.code) for f in kept] == [(5, "LL001"), (7, "LL009"), (10, "LL009")]


def test_yaml_unused_suppressions_are_reported_at_the_comment():
    rules = Settings(extend_select=["LL904"]).selected()
    kept = apply(source("configs/sft.yaml", YAML), [finding("LL101", 3)], rules)
    got = sorted((f.span.line, f.span.col, f.code, f.message.split(":")[0]) for f in kept)
    assert got == [
        (1, 1, "LL904", "unused suppression"),   # ignore-file[LL010]
        (4, 16, "LL904", "unused suppression"),  # noqa: LL902
        (8, 1, "LL904", "unused suppression"),   # ignore[unknown-field] before line 9
    ]


def test_unused_suppressions_end_to_end_in_yaml(tmp_path, capsys):
    cfg = tmp_path / "sft.yaml"
    cfg.write_text("adapter: lora\nlora_r: 8  # lora-lint: ignore[LL101, LL999]\n")
    assert main([str(cfg)]) == 0
    assert main(["--report-unused-suppressions", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert f"{cfg}:2:12: LL904 [warning] unused suppression: LL101 (rslora-recommended)" in out
    assert f"{cfg}:2:12: LL904 [warning] unknown rule `LL999`" in out
    assert main(["--report-unused-suppressions", "--ignore", "LL101", str(cfg)]) == 1
    assert "LL101 (rslora-recommended) has no effect: the rule is not enabled" in capsys.readouterr().out
    cfg.write_text("adapter: lora\nlora_r: 8  # lora-lint: ignore[LL999, unused-suppression]\n")
    assert main(["--report-unused-suppressions", str(cfg)]) == 0


def test_used_suppression_is_not_reported(tmp_path, capsys):
    f = tmp_path / "t.py"
    f.write_text(HEAD + "LoraConfig(r=64)  # lora-lint: ignore[LL101]\n")
    assert main(["--report-unused-suppressions", str(f)]) == 0
    assert main(["--extend-select", "LL904", str(f)]) == 0
    f.write_text(HEAD + "LoraConfig(r=16)  # lora-lint: ignore[LL101]\n")
    assert main(["--extend-select", "unused-suppression", str(f)]) == 1
    assert main([str(f)]) == 0  # LL904 is off by default


def test_yaml_directive_parsing():
    ds = suppressions(source("x.yaml", YAML))
    assert [(d.line, d.file_level, d.entries) for d in ds] == [
        (1, True, ("LL010",)), (3, False, ("LL101",)), (4, False, ("LL902",)),
        (8, False, ("unknown-field",)),
    ]
    assert ds[3].lines == {8, 9}


def pyyaml_comments(text):
    """Reference: a '#' that PyYAML's scanner leaves outside every scalar token, at line start
    or after whitespace, is a comment."""
    spans = [(t.start_mark.index, t.end_mark.index)
             for t in yaml.scan(text, Loader=yaml.SafeLoader) if isinstance(t, yaml.ScalarToken)]
    starts = [s for s, _ in spans]
    out, offset = [], 0
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        for i, c in enumerate(line):
            if c == "#" and (i == 0 or line[i - 1] in " \t"):
                k = bisect.bisect_right(starts, offset + i) - 1
                if not (k >= 0 and spans[k][0] <= offset + i < spans[k][1]):
                    out.append((n, i))
                    break
        offset += len(line)
    return out


TRICKY = [
    'a: "x # y"  # c\n', "a: 'it''s # x'  # c\n", "a: it's # c\n",
    "a: |\n  echo # no\n  x\nb: 1  # c\n", "- script: |\n    echo # no\n  other: 1  # c\n",
    "- |\n  text # no\n- x # c\n", "a: >-\n  folded # no\n\n  more # no\n# top\nb: 2\n",
    'a: "multi\n  line # no\n  end"  # c\n', 'a: [x, "y # no", z]  # c\n',
    '{"a": "b # no", "c": 1}\n', "a: x#notcomment\n", "k:\n  - - |\n      deep # no\n    - y # c\n",
    'a: "esc \\" # no"  # c\n', "url: http://x#frag # c\n", "a: |2\n   indented # no\nb: 1 # c\n",
    "# only\n  # indented\nx: 1\n", "a: {b: \"c # no\"} # c\n", "? 'complex # no'\n: v # c\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_yaml_comment_scanner_agrees_with_pyyaml(text):
    assert [(c.line, c.col0) for c in yaml_comments(source("x.yaml", text))] == pyyaml_comments(text)


def test_yaml_comment_scanner_agrees_with_pyyaml_on_the_corpus():
    corpus = SHARED / "corpus"
    if not corpus.is_dir():
        pytest.skip("shared corpus not present")
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    assert len(files) > 50
    for p in files:
        text = p.read_text(encoding="utf-8")
        try:
            want = pyyaml_comments(text)
        except yaml.YAMLError:
            continue
        assert [(c.line, c.col0) for c in yaml_comments(source(str(p), text))] == want, p


def test_real_yaml_findings_are_suppressed_when_a_dialect_reports_them(tmp_path, capsys):
    """End to end on whatever the YAML dialects report for an axolotl config with a high rank and
    no rsLoRA: every finding goes away with a comment on its line, with ignore-file, and with
    per-file-ignores."""
    text = "base_model: NousResearch/Llama-2-7b-hf\nadapter: lora\nlora_r: 64\nlora_alpha: 16\n"
    found = lint_text("axolotl.yaml", text)
    if not found:
        pytest.skip("no YAML dialect reports on this config yet")
    lines = text.splitlines()
    for f in found:
        lines[f.span.line - 1] += f"  # lora-lint: ignore[{f.code}]"
    assert lint_text("axolotl.yaml", "\n".join(lines) + "\n") == []
    codes = ", ".join(sorted({f.code for f in found}))
    assert lint_text("axolotl.yaml", f"# lora-lint: ignore-file[{codes}]\n" + text) == []
    (tmp_path / "lora-lint.toml").write_text(f'per-file-ignores = {{ "*.yaml" = [{", ".join(repr(c) for c in codes.split(", "))}] }}\n')
    (tmp_path / "axolotl.yaml").write_text(text)
    assert main([str(tmp_path)]) == 0


def test_severity_of_ll904_is_warning():
    assert all_rules()["LL904"].severity is Severity.WARNING
