"""Applying fixes to files and texts: line endings, BOM, permissions, links, a kill mid-write,
overlapping and broken fixes, convergence on the real corpus and on generated layouts, and the
node rendering that keeps Python formatting."""

import json
import os
from pathlib import Path

import pytest
from conftest import sites_for_text, source
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fixes import MIXED, PY, ROOT, codes

from lora_lint.cli import main
from lora_lint.pipeline import lint_text
from lora_lint.settings import Settings

# -- files: line endings, BOM, permissions, links -----------------------------------------------

def test_crlf_bom_and_mode_are_kept(tmp_path, capsys):
    py = tmp_path / "train.py"
    py.write_bytes((PY + "cfg = LoraConfig(\n    r=64,\n    lora_aplha=16,\n)\n").replace("\n", "\r\n").encode())
    os.chmod(py, 0o640)
    yml = tmp_path / "sft.yaml"
    yml.write_bytes(b"\xef\xbb\xbfbase_model: ./m\nadapter: lora\nlora_rank: 64\nsequence_len: 1\n")
    crlf = tmp_path / "crlf.yaml"
    crlf.write_bytes(b"base_model: ./m\r\nadapter: lora\r\nlora_r: 64\r\nsequence_len: 1\r\n")
    main(["check", "--isolated", "--select", "LL001,LL101", "--fix", "--unsafe-fixes", str(tmp_path)])
    assert crlf.read_bytes() == b"base_model: ./m\r\nadapter: lora\r\nlora_r: 64\r\npeft_use_rslora: true\r\nsequence_len: 1\r\n"
    assert py.read_bytes() == (PY + "cfg = LoraConfig(\n    r=64,\n    use_rslora=True,\n    lora_alpha=16,\n)\n"
                               ).replace("\n", "\r\n").encode()
    assert os.stat(py).st_mode & 0o777 == 0o640
    assert yml.read_bytes() == b"\xef\xbb\xbfbase_model: ./m\nadapter: lora\nlora_r: 64\npeft_use_rslora: true\nsequence_len: 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crlf.yaml", "sft.yaml", "train.py"]  # no temporary files


def test_a_symlink_stays_a_link_to_the_fixed_file(tmp_path, capsys):
    real = tmp_path / "real.py"
    real.write_text(MIXED)
    link = tmp_path / "link.py"
    link.symlink_to(real)
    main(["check", "--isolated", "--select", "LL001", "--fix", str(link)])
    assert link.is_symlink() and real.read_text() == PY + "cfg = LoraConfig(r=64, lora_alpha=16)\n"


# -- a kill mid-write leaves the original -------------------------------------------------------

def test_kill_during_write_leaves_the_original_intact(tmp_path):
    import signal
    import subprocess
    import sys

    path = tmp_path / "train.py"
    original = (PY + "cfg = LoraConfig(r=8, lora_aplha=16)\n" + "# padding\n" * 2000).encode()
    path.write_bytes(original)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LORA_LINT_TEST_PAUSE_IN_WRITE": "1"}
    args = [sys.executable, "-m", "lora_lint", "check", "--isolated", "--select", "LL001", "--fix", str(path)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=tmp_path, text=True)
    try:
        for line in proc.stderr:  # the writer says where it paused, halfway through the new file
            if line.startswith("lora-lint: paused writing "):
                temp = Path(line.removeprefix("lora-lint: paused writing ").strip())
                break
        else:
            pytest.fail("the writer never paused: " + proc.stdout.read())
        assert temp.parent == tmp_path and 0 < temp.stat().st_size < len(original)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == original  # untouched
    assert temp.exists()  # the killed writer's partial file is left behind...
    env.pop("LORA_LINT_TEST_PAUSE_IN_WRITE")
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert path.read_bytes() == original.replace(b"lora_aplha", b"lora_alpha")
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]  # ...and removed by the next run


# -- applying: overlaps, broken results, convergence --------------------------------------------

def test_overlapping_fixes_wait_for_the_next_pass():
    from lora_lint.fixes.apply import apply_fixes
    from lora_lint.model import Edit, Fix, Span

    text = "abcdef\n"
    first = Fix("first", (Edit(Span(1, 2, 1, 4), "X"),))
    second = Fix("second", (Edit(Span(1, 3, 1, 5), "Y"),))
    inside = Fix("insert", (Edit(Span(1, 3, 1, 3), "Z"),))
    twin = Fix("twin", (Edit(Span(1, 2, 1, 4), "X"),))
    out, applied = apply_fixes(source("x.py", text), [second, inside, first, twin])
    assert out == "aXdef\n" and [f.message for f in applied] == ["first", "twin"]


def test_a_fix_that_breaks_the_file_is_not_applied(tmp_path):
    from lora_lint.fixes.apply import fix_text
    from lora_lint.model import Edit, Fix, Span
    from lora_lint.rules import finding

    text = PY + "cfg = LoraConfig(r=8, lora_aplha=16)\n"
    good = Fix("rename", (Edit(Span(2, 23, 2, 33), "lora_alpha"),))
    broken = Fix("break it", (Edit(Span(2, 17, 2, 18), "(("),))

    def lint(current):
        path = current.path
        if current.text != text:
            return []
        return [replace_fix(finding("LL001", "m", path, Span(2, 23, 2, 33)), broken),
                replace_fix(finding("LL001", "m", path, Span(2, 23, 2, 33)), good)]

    result = fix_text("x.py", text, lint=lint)
    assert result.text == PY + "cfg = LoraConfig(r=8, lora_alpha=16)\n"
    assert [f.fix.message for f in result.fixed] == ["rename"]
    assert [f.fix.message for f in result.skipped] == ["break it"]


def replace_fix(f, fix):
    from dataclasses import replace

    return replace(f, fix=fix)


def test_an_inserted_keyword_that_would_repeat_is_refused():
    from lora_lint.fixes.apply import readable

    before = PY + "LoraConfig(r=64)\n"
    assert not readable("x.py", before, PY + "LoraConfig(r=64, r=64)\n")  # ast: keyword argument repeated
    assert readable("x.py", before, PY + "LoraConfig(r=64, use_rslora=True)\n")
    assert not readable("x.yaml", "a: 1\n", "a: [1\n")


CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not next to the repository")
def test_every_fix_on_the_real_corpus_keeps_it_readable_and_converges():
    """All fixes, safe and unsafe, on every real config: the result parses, its sites are still
    found, no applicable fix is left, and fixing again changes nothing."""
    from lora_lint.fixes.apply import fix_text, readable

    fixed_files = 0
    for path in sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml", ".json", ".py")):
        text = path.read_text(encoding="utf-8")
        result = fix_text(str(path), text, Settings(offline=True), unsafe=True)
        if not result.changed:
            continue
        fixed_files += 1
        assert readable(str(path), text, result.text), path
        assert len(sites_for_text(str(path), result.text)) == len(sites_for_text(str(path), text)), path
        assert not [f for f in result.remaining if f.fix is not None], path
        again = fix_text(str(path), result.text, Settings(offline=True), unsafe=True)
        assert not again.changed and not again.fixed, path
    assert fixed_files > 0


def test_sarif_carries_the_fixes_and_stays_valid(tmp_path, capsys, monkeypatch):
    import jsonschema
    from test_formats import sarif_schema

    monkeypatch.chdir(tmp_path)
    Path("train.py").write_text(MIXED)
    main(["check", "--isolated", "--select", "LL001,LL101", "--output-format", "sarif", "train.py"])
    log = json.loads(capsys.readouterr().out)
    jsonschema.Draft7Validator(sarif_schema()).validate(log)
    fixes = {r["ruleId"]: r["fixes"][0] for r in log["runs"][0]["results"]}
    assert fixes["LL001"] == {
        "description": {"text": "Rename `lora_aplha` to `lora_alpha`"},
        "artifactChanges": [{"artifactLocation": {"uri": "train.py", "uriBaseId": "%SRCROOT%"},
                             "replacements": [{"deletedRegion": {"startLine": 2, "startColumn": 24,
                                                                 "endLine": 2, "endColumn": 34},
                                               "insertedContent": {"text": "lora_alpha"}}]}]}
    assert fixes["LL101"]["description"]["text"].endswith("(unsafe: changes training)")


def test_yaml_line_breaks_are_counted_as_the_yaml_reader_counts_them():
    """The reader's positions and the fixes' offsets come from one line table: past a U+2028
    inside a string (a line break to PyYAML, not to editors), a finding and its fix still point
    at the same text."""
    from lora_lint.fixes.apply import fix_text

    text = 'base_model: ./m\nadapter: lora\nnote: "a\u2028b"\nlora_rank: 64\nsequence_len: 1\n'
    (f,) = lint_text("x.yaml", text, Settings(select=["LL001"]))
    assert (f.code, f.span.line, f.span.col) == ("LL001", 4, 1)
    assert fix_text("x.yaml", text, Settings(select=["LL001"])).text == text.replace("lora_rank", "lora_r")


NESTED = PY + '''class A:
    def make(self):
        if True:
            return LoraConfig(
                lora_alpha=16,
                r=64,  # c
                target_modules=[
                    'all-linear',
                ],
            )
    x = [LoraConfig(r=64,
                    lora_aplha=16, target_modules=[  # the list
        "q_proj,v_proj"][0])]
'''


def test_a_node_rendered_alone_gives_the_same_text_as_the_whole_module(monkeypatch):
    """Fixes render only the node they change (with its block's indentation); the slow way, the
    whole module re-rendered, must give the same file."""
    from lora_lint.fixes import python_edits
    from lora_lint.fixes.apply import apply_fixes

    def fixed():
        found = lint_text("x.py", NESTED, Settings(select=["LL001", "LL011", "LL101"]))
        assert sum(f.fix is not None for f in found) == 4
        return [apply_fixes(source("x.py", NESTED), [f.fix])[0] for f in found if f.fix is not None]

    fast = fixed()
    monkeypatch.setattr(python_edits, "_indents", lambda doc, line: [])
    assert fixed() == fast
    assert len(set(fast)) == 4


def test_yaml_only_runs_never_import_libcst(tmp_path):
    import subprocess
    import sys

    (tmp_path / "sft.yaml").write_text("base_model: ./m\nadapter: lora\nlora_rank: 64\nlora_target_modules: [all-linear]\n"
                                       "sequence_len: 1\n")
    code = ("import sys; from lora_lint.cli import main; main(['check', '--isolated', '--offline', 'sft.yaml']);"
            "print('LIBCST', 'libcst' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "LL001 [*] [error]" in p.stdout and "LL011 [*] [error]" in p.stdout
    assert p.stdout.rstrip().endswith("LIBCST False")


def test_a_typo_of_a_framework_key_that_is_not_a_lora_field_is_renamed_too(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("from unsloth import FastLanguageModel\n"
                    "model = FastLanguageModel.get_peft_model(model, r=16, random_sate=3407)\n")
    (f,) = codes(path, "LL001")
    assert f.fix.message == "Rename `random_sate` to `random_state`"


def test_a_dialect_note_may_carry_a_fix():
    from lora_lint.dialects import named
    from lora_lint.model import Edit, Fix, LoraSite, Note, Param, Span
    from lora_lint.registry import Context
    from lora_lint.rules import all_rules

    p = Param("lora_rnak", 8, Span(3, 1, 3, 10))
    fix = Fix("Rename", (Edit(p.span, "lora_r"),))
    site = LoraSite("x.yaml", named("axolotl"), Span(1, 1, 1, 8), notes=(
        Note("LL001", p, "with a fix", fix), Note("LL001", Param("x", 1, Span(4, 1, 4, 2)), "without one")))
    found = all_rules()["LL001"].run(site, Context(options={}))
    assert [(f.message, f.fix) for f in found] == [("with a fix", fix), ("without one", None)]


# -- generated layouts ---------------------------------------------------------------------------


ARGS = [("r", "64"), ("lora_aplha", "16"), ("target_modules", "['all-linear']"),
        ("target_modules", '"q_proj,v_proj"'), ("rank", "8"), ("use_rslora", "False"),
        ("lora_dropout", "0.1"), ("bias", '"none"')]


@st.composite
def calls(draw):
    chosen = draw(st.lists(st.sampled_from(ARGS), min_size=1, max_size=5, unique_by=lambda a: a[0]))
    per_line = draw(st.booleans())
    trailing = draw(st.booleans())
    comments = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
    depth = draw(st.integers(0, 2))
    spaces = draw(st.sampled_from(["=", " = "]))
    pad = "    " * depth
    args = [f"{k}{spaces}{v}" for k, v in chosen]
    if per_line:
        lines = [f"{pad}    {a}{',' if i < len(args) - 1 or trailing else ''}{'  # note' if c else ''}"
                 for i, (a, c) in enumerate(zip(args, comments, strict=True))]
        call = f"{pad}cfg = LoraConfig(\n" + "\n".join(lines) + f"\n{pad})\n"
    else:
        call = f"{pad}cfg = LoraConfig({', '.join(args)}{',' if trailing else ''})\n"
    head = "".join(f"{'    ' * i}{'def f():' if i % 2 == 0 else 'if True:'}\n" for i in range(depth))
    return PY + head + call


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_fixes_on_generated_calls_keep_the_file_valid_and_converge(text):
    from lora_lint.fixes.apply import fix_text, readable

    rules = Settings(select=["LL001", "LL011", "LL101"])
    result = fix_text("x.py", text, rules, unsafe=True)
    assert readable("x.py", text, result.text)
    compile(result.text, "x.py", "exec", dont_inherit=True)  # compiled, never run
    assert not [f for f in result.remaining if f.fix is not None]
    assert not fix_text("x.py", result.text, rules, unsafe=True).changed
    if result.fixed:
        assert "# note" not in text or result.text.count("# note") == text.count("# note")


YAML_KEYS = [("r", "64"), ("lora_aplha", "16"), ("lora_alpha", "32"), ("use_rslora", "false"),
             ("target_modules", "FLOW"), ("target_modules", "BLOCK"), ("lora_dropuot", "0.1")]


@st.composite
def yaml_blocks(draw):
    chosen = draw(st.lists(st.sampled_from(YAML_KEYS), min_size=2, max_size=5, unique_by=lambda a: a[0]))
    if not any(k == "r" for k, _ in chosen):
        chosen.insert(0, ("r", "64"))
    if not any(k.startswith("target") or k == "lora_alpha" for k, _ in chosen):
        chosen.append(("lora_alpha", "32"))
    indent = draw(st.sampled_from(["  ", "    "]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = ["model: x", "lora:", f"{indent}_target_: peft.LoraConfig"]  # Hydra: straight to LoraConfig
    for key, value in chosen:
        note = "  # note" if draw(st.booleans()) else ""
        if value == "FLOW":
            lines.append(f"{indent}{key}: [all-linear]{note}")
        elif value == "BLOCK":
            lines += [f"{indent}{key}:", f"{indent}  - all-linear{note}"]
        else:
            lines.append(f"{indent}{key}: {value}{note}")
    end = newline if draw(st.booleans()) else ""
    return newline.join(lines) + end


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_blocks())
def test_fixes_on_generated_yaml_keep_the_file_valid_and_converge(text):
    import yaml

    from lora_lint.fixes.apply import fix_text

    rules = Settings(select=["LL001", "LL011", "LL101"], offline=True)
    result = fix_text("x.yaml", text, rules, unsafe=True)
    before, after = yaml.safe_load(text), yaml.safe_load(result.text)
    assert not [f for f in result.remaining if f.fix is not None]
    assert not fix_text("x.yaml", result.text, rules, unsafe=True).changed
    assert result.text.count("# note") == text.count("# note")
    assert ("\r\n" in result.text) == ("\r\n" in text)
    lora = after["lora"]
    assert "lora_aplha" not in lora or "lora_alpha" in before["lora"]  # renamed unless already set
    assert lora.get("target_modules", "all-linear") == "all-linear"
    assert lora["use_rslora"] is True and lora["r"] == 64
