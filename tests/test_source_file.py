"""The file representation: kinds, the line table, decoding, and the one reading loop."""

import hashlib
import os
import pickle

import pytest
from conftest import sites_for_text, source

from lora_lint.cli import main
from lora_lint.directives import model_directives, suppressions
from lora_lint.files import each_file, read_file, read_stream
from lora_lint.model import Finding, Severity, Span
from lora_lint.pipeline import lint_file, lint_text
from lora_lint.reporters import FORMATS, RunInfo
from lora_lint.settings import Settings
from lora_lint.source_file import Kind, SourceFile, Unreadable, decode, kind_of

AXOLOTL = "base_model: Qwen/Qwen2.5-0.5B\nadapter: lora\nlora_r: 64\nlora_alpha: 16\nsequence_len: 1\n"


# -- kinds ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kind"), [
    ("train.py", Kind.PYTHON), ("stubs.PYI", Kind.PYTHON), ("a/b.yaml", Kind.YAML), ("c.YML", Kind.YAML),
    ("adapter_config.json", Kind.JSON), ("nb.ipynb", Kind.NOTEBOOK), ("run.sh", Kind.SHELL),
    ("README.md", None), ("yaml", None), ("x.py.txt", None),
])
def test_the_kind_comes_from_the_name(name, kind):
    assert kind_of(name) is kind
    assert SourceFile.of_text(name, "").kind is kind


def test_kinds_are_walked_once_they_have_a_reader(tmp_path):
    for name in ("a.py", "b.yaml", "c.json", "d.ipynb", "e.sh", "f.txt"):
        (tmp_path / name).write_text("lora\n")
    found = sorted(os.path.basename(r.path) for r in each_file([str(tmp_path)], lambda _p: Settings()))
    assert found == ["a.py", "b.yaml", "c.json", "d.ipynb", "e.sh"]  # (a kind is walked once its reader is registered)


# -- lines ---------------------------------------------------------------------------------------

def test_lines_end_at_newline_crlf_and_cr_only():
    s = SourceFile("x.yaml", "a\r\nb\rc\nd\x0ce\x0bf\x85g\u2028h\u2029i\n", Kind.YAML)
    assert s.lines == ["a", "b", "c", "d\x0ce\x0bf\x85g\u2028h\u2029i"]
    assert s.starts == [0, 3, 5, 7, len(s.text)]
    assert s.line(2) == "b" and s.line(4) == s.lines[3] and s.line(5) == "" and s.line(9) == ""
    assert s.newline == "\r\n" and SourceFile("x", "one").newline == "\n"


@pytest.mark.parametrize("text", ["", "x", "x\n", "a\r\nb\r\n", "a\rb", "\n\n", "a\u2028b\nc"])
def test_offsets_and_positions_round_trip(text):
    s = SourceFile("x.py", text, Kind.PYTHON)
    for offset in range(len(text) + 1):
        line, col = s.position(offset)
        if offset == len(text) or text[offset] not in "\r\n" or (text[offset] == "\n" and text[offset - 1:offset] != "\r"):
            assert s.offset(line, col) == offset
    with pytest.raises(ValueError):
        s.offset(len(s.starts) + 1, 1)
    with pytest.raises(ValueError):
        s.offset(1, len(s.line(1)) + 2)


def test_a_bom_in_handed_over_text_is_not_text():
    s = SourceFile.of_text("x.yaml", "\ufeffa: 1\n")
    assert s.text == "a: 1\n" and s.bom and s.line(1) == "a: 1"
    assert s.with_text("b: 2\n").bom


def test_derived_structures_are_dropped_and_never_pickled():
    s = SourceFile.of_text("x.py", "x = 1\n")
    s.keep("tree", object())
    assert s.derived("tree", lambda: 1) is s.kept("tree")
    copy = pickle.loads(pickle.dumps(s))
    assert copy.kept("tree") is None and copy.text == s.text and copy.kind is Kind.PYTHON
    s.forget()
    assert s.kept("tree") is None


def test_a_reader_text_can_map_back_to_cells():
    class Cells:
        def locate(self, line):
            return (line + 1) // 2, 2 - line % 2

    s = SourceFile("nb.ipynb", "a\nb\nc\n", Kind.NOTEBOOK, rows=Cells())
    assert [s.locate(n) for n in (1, 2, 3)] == [(1, 1), (1, 2), (2, 1)]
    assert SourceFile("x.py", "a\n").locate(1) == (None, 1)
    # the human formats say where the user finds it (ruff's "cell 2:1:3")
    f = Finding("LL101", "rslora-recommended", Severity.WARNING, "m", "nb.ipynb", Span(3, 3, 3, 4))
    info = RunInfo(sources={"nb.ipynb": s})
    assert FORMATS["concise"]([f], info).startswith("nb.ipynb:cell 2:1:3: LL101")
    assert " --> nb.ipynb:cell 2:1:3\n" in FORMATS["full"]([f], info)
    assert "  cell 2:1:3 LL101" in FORMATS["grouped"]([f], info)
    assert FORMATS["concise"]([f], RunInfo()).startswith("nb.ipynb:3:3: LL101")


# -- decoding ------------------------------------------------------------------------------------

def test_decoding_remembers_the_bom_the_encoding_and_the_bytes():
    data = b"\xef\xbb\xbfadapter: lora\n"
    s = decode(data, "a.yaml")
    assert isinstance(s, SourceFile) and s.text == "adapter: lora\n" and s.bom and s.encoding == "utf-8"
    latin = "# -*- coding: latin-1 -*-\nfrom peft import LoraConfig\nLoraConfig(r=8)  # é\n".encode("latin-1")
    s = decode(latin, "t.py")
    assert s.encoding == "iso-8859-1" and s.text.endswith("# é\n") and not s.bom
    assert decode(latin, "t.yaml").message.startswith("file is not valid UTF-8")  # only Python declares


def test_undecodable_bytes():
    assert decode("lora: 1\n".encode("utf-16"), "a.yaml").message.startswith("file is UTF-16")
    assert decode(b"\xff\xfex\x00", "a.yaml") is None  # UTF-16 without a LoRA marker: not ours
    bad = decode(b"adapter: lora\nname: \xff\n", "a.yaml")
    assert isinstance(bad, Unreadable) and (bad.span.line, bad.span.col) == (2, 7)
    assert decode(b"name: \xff\n", "a.yaml") is None


def test_a_read_file_carries_the_stamp_of_its_bytes(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_bytes(b"adapter: lora\n")
    assert read_file(str(path), Settings()).source.stamp is None  # only a run that writes back asks
    read = read_file(str(path), Settings(), stamp=True)
    st = os.stat(path)
    assert read.source.stamp.size == 14 and read.source.stamp.mtime_ns == st.st_mtime_ns
    assert read.source.stamp.sha256 == hashlib.sha256(b"adapter: lora\n").hexdigest()
    assert read.shown is read.source and read.problem is None


def test_stdin_is_read_like_a_file():
    import io

    class Stdin(io.TextIOWrapper):
        pass

    stdin = Stdin(io.BytesIO(b"\xef\xbb\xbf" + AXOLOTL.encode()), encoding="ascii")
    read = read_stream(stdin, "x.yaml", Settings())
    assert read.source.text == AXOLOTL and read.source.bom and read.source.stamp is None
    read = read_stream(io.StringIO("\ufeff" + AXOLOTL), "x.yaml", Settings())
    assert read.source.text == AXOLOTL and read.source.bom
    assert read_stream(io.StringIO(AXOLOTL), "x.yaml", Settings(max_file_size=10)).problem.code == "LL901"


# -- the reading loop ----------------------------------------------------------------------------

def test_check_fix_and_report_share_the_loop_and_its_guard(tmp_path, monkeypatch, capsys):
    """A bug while reading one file is LL903 for that file in check and --fix, and a message in
    report (which used to stop with a traceback); the other files go on."""
    from lora_lint import files

    (tmp_path / "a.yaml").write_text(AXOLOTL)
    (tmp_path / "b.yaml").write_text(AXOLOTL)
    real = files.decode

    def flaky(data, path, stamp=None):
        if path.endswith("a.yaml"):
            raise KeyError("deliberate")
        return real(data, path, stamp)

    monkeypatch.setattr(files, "decode", flaky)
    for args in (["check"], ["check", "--fix"]):
        main([*args, "--isolated", "--offline", "--select", "LL101,LL903", str(tmp_path)])
        out = capsys.readouterr().out
        assert "a.yaml:1:1: LL903" in out and "internal error in reading the file" in out, args
        if args == ["check"]:
            assert "b.yaml:3:9: LL101" in out
    assert main(["report", "--isolated", "--offline", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "b.yaml:2:1" in out and "a.yaml" not in out and "a.yaml: internal error in reading the file" in err


def test_report_skips_excluded_files_as_check_does(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[tool.lora-lint]\nextend-exclude = ["skip.yaml"]\n')
    (tmp_path / "skip.yaml").write_text(AXOLOTL)
    (tmp_path / "keep.yaml").write_text(AXOLOTL)
    main(["report", "--offline", str(tmp_path)])
    out = capsys.readouterr().out
    assert "keep.yaml" in out and "skip.yaml" not in out


# -- YAML positions (issue 12 #14: NEL and U+2028 inside a string) --------------------------------

@pytest.mark.parametrize("char", ["\u2028", "\x85", "\u2029"])
def test_a_yaml_line_separator_inside_a_string_does_not_move_later_findings(tmp_path, char):
    """PyYAML counts NEL and U+2028/U+2029 as line breaks; editors and LSP count only \\n, \\r\\n
    and \\r. Every finding after such a character was reported one line too far down."""
    plain = "base_model: Qwen/Qwen2.5-0.5B\nadapter: lora\nnote: \"a b\"\nlora_r: 64\nlora_alpha: 16\nsequence_len: 1\n"
    odd = plain.replace("a b", f"a{char}b")
    settings = Settings(select=["LL101"], offline=True)
    want = [(f.code, f.span) for f in lint_text("x.yaml", plain, settings)]
    assert want and want[0][1].line == 4
    assert [(f.code, f.span) for f in lint_text("x.yaml", odd, settings)] == want
    path = tmp_path / "x.yaml"
    path.write_bytes(odd.encode())
    assert [(f.code, f.span) for f in lint_file(str(path), settings)] == want


def test_a_yaml_line_separator_between_keys_is_a_break_to_yaml_only():
    text = "base_model: m\nadapter: lora\u2028lora_r: 64\nlora_alpha: 16\nsequence_len: 1\n"
    (site,) = sites_for_text("x.yaml", text)  # YAML reads five lines, editors four
    assert (site.params["r"].span.line, site.params["r"].span.col) == (2, 23)
    assert site.params["lora_alpha"].span.line == 3


# -- comment directives: one scanner ---------------------------------------------------------------

def test_a_base_model_comment_inside_a_yaml_block_scalar_is_text_not_a_directive():
    """The suppression scanner knew block scalars; the base-model scanner did not, and took a
    line of a shell script in `script: |` for a directive."""
    text = AXOLOTL + "script: |\n  # lora-lint: base-model=openai-community/gpt2\n  # lora-lint: ignore-file\n  echo hi\n"
    s = source("x.yaml", text)
    assert model_directives(s) == {} and suppressions(s) == []
    (site,) = sites_for_text("x.yaml", text)
    assert site.base_model.value == "Qwen/Qwen2.5-0.5B" and site.base_model.key == "base_model"
    real = text + "# lora-lint: base-model=openai-community/gpt2\n"
    (site,) = sites_for_text("x.yaml", real)
    assert site.base_model.value == "openai-community/gpt2" and site.base_model.span.line == 10


def test_directives_come_from_comments_of_the_file_kind():
    py = "from peft import LoraConfig\nx = '# lora-lint: base-model=a'\nLoraConfig(r=8)  # note # lora-lint: base-model=b\n"
    assert model_directives(source("t.py", py))["base-model"].value == "b"
    assert model_directives(source("t.json", '{"a": "# lora-lint: base-model=c"}')) == {}
    assert model_directives(source("t.txt", "# lora-lint: base-model=d\n")) == {}
