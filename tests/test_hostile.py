"""Hostile and broken input on disk (issue 6, item 2): whatever the file, the run ends with
findings or LL901, never a crash, a hang or a lost report.

Proven elsewhere, not repeated here:
* billion laughs: test_yaml_robustness.py::test_billion_laughs_costs_a_bounded_number_of_node_visits,
  ::test_merge_key_bomb_is_merged_once_per_mapping, ::test_recursive_alias_is_unknown_not_a_hang
* 10,000 levels of YAML/JSON nesting: test_yaml_robustness.py::test_deep_nesting_is_ll901_or_nothing,
  ::test_deep_json_is_ll901_or_nothing (Python: test_deep_python_* below)
* YAML with CRLF and BOM: test_yaml_robustness.py::test_crlf_and_bom_keep_positions, ::test_bom_file_on_disk
* a missing file named explicitly: test_cli.py::test_exit_codes (``missing.py`` -> LL901)
"""

import io
import json
import os
import random
import subprocess
import sys
import textwrap
import threading
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT

from lora_lint.cli import main
from lora_lint.pipeline import lint_each, lint_file, lint_text
from lora_lint.settings import Settings
from lora_lint.source_file import kind_of
from lora_lint.sources import is_source, python_depth

PY = textwrap.dedent("""\
    from peft import LoraConfig
    note = "café"; cfg = LoraConfig(r=64, lora_alpha=16)
    other = LoraConfig(r=8, lora_dropout=2)
""")
PY_WANT = [("LL101", 2, 33), ("LL006", 3, 25)]  # columns count characters
YAML = "base_model: m\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_dropout: 3\n"
YAML_WANT = [("LL006", 5, 15)]
SELECT = Settings(select=["LL006", "LL101", "LL901", "LL903"])


def where(found):
    return [(f.code, f.span.line, f.span.col) for f in found]


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(p)


def check(tmp_path, *args):
    """The CLI in-process on paths under tmp_path: (exit code, findings as JSON)."""
    out = tmp_path / "report.json"
    rc = main(["check", "--isolated", "--output-format", "json", "-o", str(out), *args])
    return rc, json.loads(out.read_text(encoding="utf-8"))


def test_the_reference_files_have_the_findings_these_tests_expect(tmp_path):
    assert where(lint_file(write(tmp_path, "a.py", PY), SELECT)) == PY_WANT
    assert where(lint_file(write(tmp_path, "a.yaml", YAML), SELECT)) == YAML_WANT


# -- size -------------------------------------------------------------------------------------

def test_a_100_mb_file_is_ll901_and_never_read(tmp_path):
    big = tmp_path / "huge.yaml"
    with open(big, "wb") as f:  # a LoRA config's head, then sparse: 100 MB on paper, nothing on disk
        f.write(YAML.encode())
        f.truncate(100 * 1024 * 1024)
    for name in ("data.yaml", "tokenizer.json"):  # no config's head / a data file: not reported
        with open(tmp_path / name, "wb") as f:
            f.truncate(100 * 1024 * 1024)
    write(tmp_path, "ok.yaml", YAML)
    # Peak memory of this process image: VmHWM (reset at exec, unlike ru_maxrss, which keeps
    # the forking parent's pages: a pytest worker with torch loaded).
    probe = textwrap.dedent("""
        import json, resource, sys
        from lora_lint.cli import main
        rc = main(sys.argv[1:])
        try:
            with open("/proc/self/status") as f:
                peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        except OSError:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"rc": rc, "maxrss_kb": peak}), file=sys.stderr)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", probe, "check", "--isolated", "--select", "LL006,LL901",
         "--output-format", "json", str(tmp_path)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    status = json.loads(proc.stderr.strip().splitlines()[-1])
    found = {(os.path.basename(f["filename"]), f["code"]): f["message"] for f in json.loads(proc.stdout)}
    assert status["rc"] == 1
    assert found[("huge.yaml", "LL901")] == (
        "file is 104,857,600 bytes, above the 10,485,760-byte limit: not read (raise `max-file-size` to lint it)")
    assert ("ok.yaml", "LL006") in found  # the other file is linted
    assert {name for name, _code in found} == {"huge.yaml", "ok.yaml"}
    assert status["maxrss_kb"] < 60 * 1024, status  # a read would cost 100 MB at least


@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_config.json", "vocab.json", "special_tokens_map.json",
                                  "generation_config.json", "model.safetensors.index.json", "dataset_info.json",
                                  "pytorch_model.bin.index.json", "trainer_state.json"])
def test_data_files_are_never_linted(tmp_path, name):
    """Known data files hold no LoRA config: not read (no LL901 at any size), not parsed, even
    when named on the command line or when their text has LoRA keys."""
    small = write(tmp_path, name, '{"lora_r": 0, "lora_alpha": -1, "peft_type": "LORA", "r": 0}\n')
    assert lint_file(small, Settings(select=["ALL"])) == []
    with open(small, "ab") as f:
        f.truncate(14 * 1024 * 1024)  # a 14 MB tokenizer.json never blocks a commit
    rc, found = check(tmp_path, str(tmp_path), small)
    assert (rc, found) == (0, [])
    assert not is_source(name) and kind_of(name) is None


def test_ll901_page_lists_the_data_files():
    from lora_lint.rules import all_rules
    from lora_lint.source_file import DATA_NAMES, DATA_SUFFIXES

    doc = all_rules()["LL901"].doc
    assert all(f"`{name}`" in doc for name in DATA_NAMES) and all(f"`*{s}`" in doc for s in DATA_SUFFIXES)


def test_a_big_file_is_reported_only_when_its_head_reads_like_a_config(tmp_path):
    limit = Settings(max_file_size=1000)
    data = write(tmp_path, "data.json", '{"text": "LoRA and peft are great", "rows": [' + "1," * 2000 + "1]}")
    assert lint_file(data, limit) == []
    config = write(tmp_path, "big.json", '{"lora_r": 8, "rows": [' + "1," * 2000 + "1]}")
    assert [f.code for f in lint_file(config, limit)] == ["LL901"]
    script = write(tmp_path, "big.py", "from peft import LoraConfig\n" + "# padding\n" * 200)
    assert [f.code for f in lint_file(script, limit)] == ["LL901"]
    assert lint_file(write(tmp_path, "other.py", "x = 1\n" + "# padding\n" * 200), limit) == []


def test_max_file_size_is_configurable(tmp_path):
    path = write(tmp_path, "a.yaml", YAML + "#" * 2000 + "\n")
    rc, found = check(tmp_path, "--config", "max-file-size = 1000", "--select", "LL006,LL901", path)
    assert rc == 1 and [(f["code"], f["message"]) for f in found] == [
        ("LL901", f"file is {len(YAML) + 2001:,} bytes, above the 1,000-byte limit: not read"
                  " (raise `max-file-size` to lint it)")]
    rc, found = check(tmp_path, "--config", "max-file-size = 100000", "--select", "LL006,LL901", path)
    assert [f["code"] for f in found] == ["LL006"]


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux /proc")
def test_a_file_larger_than_its_stat_size_is_cut_off_at_the_limit(tmp_path):
    # /proc files report size 0 and have more: the read itself stops at max-file-size, and a
    # head that is no LoRA config is not reported
    link = tmp_path / "maps.yaml"
    link.symlink_to("/proc/self/maps")
    assert lint_file(str(link), Settings(max_file_size=1000)) == []
    # the same cut-off on a head that reads like a LoRA config (the process's own environment,
    # which the lint process reads through /proc/self/environ) is reported, without a size
    env_link = tmp_path / "environ.yaml"
    env_link.symlink_to("/proc/self/environ")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "A_LORA_CONFIG": "\nlora_r: 8\n" + "x" * 2000}
    proc = subprocess.run(
        [sys.executable, "-m", "lora_lint", "check", "--isolated", "--config", "max-file-size = 1000",
         "--output-format", "json", str(env_link)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    (f,) = json.loads(proc.stdout)
    assert (f["code"], f["message"]) == ("LL901", "file is above the 1,000-byte limit: not read"
                                                  " (raise `max-file-size` to lint it)")


# -- content ----------------------------------------------------------------------------------

BINARIES = {
    "elf": b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 8,
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
    "gzip": b"\x1f\x8b\x08\x00" + bytes(range(255, 0, -1)) * 4,
    "zeros": bytes(4096),
    "random": random.Random(6).randbytes(8192),
    "random-with-markers": random.Random(7).randbytes(3000) + b"LoraConfig lora_r: peft\x00" + random.Random(8).randbytes(3000),
    "utf8-with-nul": b"from peft import LoraConfig\x00\nLoraConfig(r=8)\x00\nlora_r: 8\x00\n",
    "markers-then-invalid-utf8": b"lora_r: 8\nlora_alpha: \xff\xfe\n",
}


@pytest.mark.parametrize("suffix", [".py", ".yaml", ".yml", ".json"])
@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_binary_content_under_a_config_name(tmp_path, kind, suffix):
    name = "adapter_config.json" if suffix == ".json" else "x" + suffix
    found = lint_file(write(tmp_path, name, BINARIES[kind]), Settings(select=["ALL"]))
    assert {f.code for f in found} <= {"LL901"}, [(f.code, f.message) for f in found]
    if kind in ("elf", "png", "gzip", "zeros", "random"):
        assert found == []  # not a config and no LoRA marker: skipped silently


def test_invalid_utf8_that_looks_like_lora_is_ll901_where_it_breaks(tmp_path):
    data = YAML.encode() + b"note: caf\xe9\n"
    (f,) = lint_file(write(tmp_path, "a.yaml", data), SELECT)
    assert (f.code, f.span.line, f.span.col) == ("LL901", 6, 10)
    assert f.message == "file is not valid UTF-8 (invalid continuation byte at byte 78)"


def test_python_in_the_encoding_it_declares(tmp_path):
    latin = ("# -*- coding: latin-1 -*-\n" + PY).encode("latin-1")
    found = lint_file(write(tmp_path, "a.py", latin), SELECT)
    assert where(found) == [(c, line + 1, col) for c, line, col in PY_WANT]  # columns in characters
    cp = ("# vim: set fileencoding=cp1252 :\n" + PY.replace("café", "€uro")).encode("cp1252")
    assert where(lint_file(write(tmp_path, "b.py", cp), SELECT)) == [(c, line + 1, col) for c, line, col in PY_WANT]
    bogus = b"# coding: no-such-codec\nfrom peft import LoraConfig\nLoraConfig(r=8) # \xe9\n"
    assert [f.code for f in lint_file(write(tmp_path, "c.py", bogus), SELECT)] == ["LL901"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_configs_are_ll901_not_silently_skipped(tmp_path, encoding):
    # PowerShell 5's `>` writes UTF-16 with a BOM; no training framework reads that.
    data = ("\ufeff" if encoding == "utf-16-be" else "").encode(encoding) + YAML.encode(encoding)
    (f,) = lint_file(write(tmp_path, "a.yaml", data), SELECT)
    assert f.code == "LL901" and "save it as UTF-8" in f.message and encoding[:6].upper() in f.message
    assert lint_file(write(tmp_path, "b.yaml", "stage: 1\n".encode("utf-16")), SELECT) == []


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b""])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_python_line_endings_and_bom_keep_positions(tmp_path, bom, newline):
    data = bom + PY.replace("\n", newline).encode()
    assert where(lint_file(write(tmp_path, "a.py", data), SELECT)) == PY_WANT


def test_yaml_old_mac_line_endings_keep_positions(tmp_path):
    assert where(lint_file(write(tmp_path, "a.yaml", YAML.replace("\n", "\r")), SELECT)) == YAML_WANT


@pytest.mark.parametrize("name", ["a.py", "a.pyi", "a.yaml", "a.yml", "a.json", "adapter_config.json"])
@pytest.mark.parametrize("content", [b"", b"\n", b"\xef\xbb\xbf", b"   \n\n\t\n", b"\r\n"])
def test_empty_files(tmp_path, name, content):
    assert lint_file(write(tmp_path, name, content), Settings(select=["ALL"])) == []


# -- Python nested deeper than libcst's parser survives ---------------------------------------

DEEP = {
    "parens": "x = " + "(" * 10_000 + "8" + ")" * 10_000,
    "lists": "x = " + "[" * 10_000 + "]" * 10_000,
    "walrus": "x = " + "(y := " * 10_000 + "1" + ")" * 10_000,
    "subscripts": "x = a" + "[0]" * 10_000,
    "calls": "x = f" + "()" * 10_000,
    "attributes": "x = a" + ".b" * 10_000,
    "plus": "x = 1" + " + 1" * 10_000,
    "unary": "x = " + "-" * 10_000 + "1",
    "lambdas": "x = " + "lambda: " * 10_000 + "1",
    "ternaries": "x = " + "1 if c else " * 10_000 + "1",
    "elifs": "if a:\n    pass\n" + "elif a:\n    pass\n" * 10_000,
    "dicts": "x = " + "{1: " * 10_000 + "1" + "}" * 10_000,
    "unclosed": "x = " + "(" * 10_000,
    "fstring": "x = f'{" + "(" * 10_000 + "1" + ")" * 10_000 + "}'",
}


def test_deep_python_is_ll901_not_a_segfault(tmp_path):
    """libcst's native parser overflows the C stack (SIGSEGV) at ~1,000-8,000 levels: each of these
    killed the process before the depth guard (sources/python_depth.py)."""
    for name, body in DEEP.items():
        write(tmp_path, f"{name}.py", "from peft import LoraConfig\n" + body + "\nLoraConfig(r=8)\n")
    write(tmp_path, "ok.yaml", YAML)
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "check", "--isolated", "--select", "LL006,LL901",
                           "--output-format", "json", str(tmp_path)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    found = {(os.path.basename(f["filename"]), f["code"], f["message"]) for f in json.loads(proc.stdout)}
    want = {(f"{name}.py", "LL901", "file is nested too deeply to parse") for name in DEEP if name != "unclosed"}
    assert want <= found
    assert ("ok.yaml", "LL006") in {(n, c) for n, c, _ in found}
    assert {c for n, c, _ in found if n == "unclosed.py"} == {"LL901"}


def test_deep_python_on_a_small_thread_stack():
    """A deep file parsed from a thread with a small stack (a worker pool, an editor) is parsed on
    a thread of its own: before, 300 parentheses on a 512 KB stack were a SIGSEGV."""
    code = textwrap.dedent("""
        import sys, threading
        threading.stack_size(int(sys.argv[2]) * 1024)
        from lora_lint.pipeline import lint_text
        n = int(sys.argv[1])
        src = "from peft import LoraConfig\\nx = " + "(" * n + "8" + ")" * n + "\\nLoraConfig(r=x, lora_dropout=2)\\n"
        out = []
        t = threading.Thread(target=lambda: out.append([f.code for f in lint_text("t.py", src)]))
        t.start()
        t.join()
        print(out[0])
    """)
    for n, kb in ((300, 512), (70, 256), (450, 256)):
        proc = subprocess.run([sys.executable, "-c", code, str(n), str(kb)], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, (n, kb, proc.returncode, proc.stderr[-1000:])
        assert "LL006" in proc.stdout, proc.stdout


def test_depth_estimate():
    depth = python_depth.depth
    assert depth("x = [" + ", ".join(["1"] * 100_000) + "]\n") < 10  # flat is shallow, however long
    assert depth("x = 1; " * 10_000) < 10
    assert depth("@d\n" * 10_000 + "def f(): pass\n") < 10
    assert depth("x = " + "(" * 50 + "1" + ")" * 50) == 103
    assert depth("x = a" + ".b" * 50) >= 50
    assert depth("if a:\n    pass\n" + "elif a:\n    pass\n" * 50) >= 50
    assert depth("if a:\n    pass\n" + "else:\n    pass\n" + "if a:\n    pass\n" * 50) < 10
    assert depth("x = f'{" + "(" * 60 + "1" + ")" * 60 + "}'\n") > 60
    assert depth("x = f'" + "-" * 5000 + "{{literal}}'\n") < 10  # literal text is not nesting
    assert depth("s = '''" + "(" * 5000 + "\n") < 10  # unterminated: libcst refuses it before parsing
    assert depth("if a:\n        x = 1\n    y = (((\n" + "(" * 2000) > python_depth.MAX_DEPTH  # bad dedent
    real = (ROOT / "lora_lint" / "sources" / "python_eval.py").read_text(encoding="utf-8")
    assert depth(real) < python_depth.INLINE_DEPTH


# -- the file system --------------------------------------------------------------------------

def test_directory_loop_is_walked_once(tmp_path):
    write(tmp_path, "a.yaml", YAML)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "b.py", PY)
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "sub" / "self").symlink_to(tmp_path / "sub", target_is_directory=True)
    rc, found = check(tmp_path, "--select", "LL006,LL101", str(tmp_path))
    assert rc == 1
    assert sorted((os.path.basename(f["filename"]), f["code"]) for f in found) == [
        ("a.yaml", "LL006"), ("b.py", "LL006"), ("b.py", "LL101")]


def test_file_symlink_loop_is_ll901_and_the_rest_goes_on(tmp_path):
    (tmp_path / "loop1.yaml").symlink_to(tmp_path / "loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to(tmp_path / "loop1.yaml")
    (tmp_path / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    write(tmp_path, "ok.yaml", YAML)
    loop = "cannot read file: Too many levels of symbolic links"
    # walked: the loop cannot even be stat'ed and is passed over; named: LL901
    rc, found = check(tmp_path, "--select", "LL006,LL901", str(tmp_path))
    assert rc == 1 and sorted((os.path.basename(f["filename"]), f["code"], f["message"][:27]) for f in found) == [
        ("dangling.py", "LL901", "cannot read file: No such f"), ("ok.yaml", "LL006", "lora_dropout=3 is outside [")]
    rc, found = check(tmp_path, "--select", "LL006,LL901", str(tmp_path / "loop1.yaml"), str(tmp_path / "ok.yaml"))
    assert rc == 1 and [(os.path.basename(f["filename"]), f["code"]) for f in found] == [
        ("loop1.yaml", "LL901"), ("ok.yaml", "LL006")]
    assert found[0]["message"] == loop


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_a_file_whose_read_fails_is_ll901(tmp_path):
    """Unreadable, in a way that holds for root too (chmod does not stop root): /proc/self/mem
    opens, and reading it at offset 0 fails with EIO in the kernel. A real failing read()."""
    (tmp_path / "mem.yaml").symlink_to("/proc/self/mem")
    write(tmp_path, "ok.yaml", YAML)
    rc, found = check(tmp_path, "--select", "LL006,LL901", str(tmp_path))
    assert rc == 1
    assert sorted((os.path.basename(f["filename"]), f["code"], f["message"][:30]) for f in found) == [
        ("mem.yaml", "LL901", "cannot read file: Input/output"), ("ok.yaml", "LL006", "lora_dropout=3 is outside [0, ")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads through permissions (see the /proc/self/mem test)")
def test_a_file_without_read_permission_is_ll901(tmp_path):
    path = write(tmp_path, "secret.yaml", YAML)
    os.chmod(path, 0)
    try:
        assert [(f.code, f.message) for f in lint_file(path, SELECT)] == [("LL901", "cannot read file: Permission denied")]
    finally:
        os.chmod(path, 0o600)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_and_a_device_under_config_names_do_not_hang(tmp_path):
    """Before: open() of a FIFO blocked the run forever, and /dev/zero was read until memory ran out."""
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    write(tmp_path, "ok.yaml", YAML)
    rc, found = check(tmp_path, "--select", "LL006,LL901", str(tmp_path))
    assert sorted((os.path.basename(f["filename"]), f["code"], f["message"][:24]) for f in found) == [
        ("ok.yaml", "LL006", "lora_dropout=3 is outsid"), ("pipe.yaml", "LL901", "not a regular file (a pi"),
        ("zero.yaml", "LL901", "not a regular file (a pi")]


def test_a_file_deleted_during_the_run(tmp_path):
    first, gone, last = write(tmp_path, "a.yaml", YAML), write(tmp_path, "b.yaml", YAML), write(tmp_path, "c.py", PY)

    def settings_for(path):  # called after discovery listed the file, before it is read
        if path.endswith("b.yaml"):
            os.unlink(path)
        return SELECT

    results = {one.path: one.findings for one in lint_each([str(tmp_path)], settings_for)}
    assert sorted(results) == sorted([first, gone, last])
    assert where(results[first]) == YAML_WANT and where(results[last]) == PY_WANT
    assert [(f.code, f.message) for f in results[gone]] == [("LL901", "cannot read file: No such file or directory")]


def test_a_directory_named_like_a_config(tmp_path):
    d = tmp_path / "x.yaml"
    d.mkdir()
    write(d, "inner.yaml", YAML)
    (tmp_path / "y.py").mkdir()
    for args in ([str(d)], [str(tmp_path)], [str(d), str(tmp_path / "y.py")]):
        rc, found = check(tmp_path, "--select", "LL006,LL901", *args)
        assert rc == 1 and [(os.path.basename(f["filename"]), f["code"]) for f in found] == [("inner.yaml", "LL006")]
    assert lint_file(str(d), SELECT) == []  # asked directly: nothing to read, nothing to report


# -- names and consoles -----------------------------------------------------------------------

FORMATS = ("concise", "full", "grouped", "json", "json-lines", "sarif", "github", "gitlab", "junit")


def console(encoding):
    """A console stdout as Python makes it: a TextIOWrapper over bytes, strict errors."""
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict", newline="\n", write_through=True)


@pytest.mark.parametrize("encoding", ["utf-8", "ascii", "latin-1"])
def test_undecodable_file_names_and_narrow_consoles(tmp_path, monkeypatch, encoding):
    """A file name with bytes that are not UTF-8, non-ASCII names and messages ('×', 'é') on an
    ASCII or Latin-1 console: before, printing the report raised UnicodeEncodeError (exit 2, no
    report at all); the SARIF and GitLab reporters did too. Each format stays itself: JSON
    escapes as JSON, XML as XML."""
    raw = os.fsencode(str(tmp_path)) + b"/tr\xffin.py"
    with open(raw, "wb") as f:
        f.write(PY.encode())
    write(tmp_path, "café.yaml", YAML)
    monkeypatch.chdir(tmp_path)
    for fmt in FORMATS:
        out = console(encoding)
        monkeypatch.setattr(sys, "stdout", out)
        rc = main(["check", "--isolated", "--select", "LL006,LL101", "--output-format", fmt, "."])
        text = out.buffer.getvalue().decode(encoding)
        assert rc == 1, fmt
        assert "tr\\udcffin.py" in text or "tr%FFin.py" in text, (fmt, text[:500])
        if fmt in ("json", "sarif", "gitlab"):
            data = json.loads(text)
            if fmt == "json":
                assert sorted(f["filename"] for f in data) == ["caf\u00e9.yaml", "tr\udcffin.py", "tr\udcffin.py"]
        elif fmt == "junit":
            ET.fromstring(text)
        elif fmt == "json-lines":
            assert len([json.loads(line) for line in text.splitlines()]) == 3


def test_narrow_console_in_a_real_process(tmp_path):
    write(tmp_path, "café.yaml", YAML)
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "check", "--isolated", "--select", "LL006",
                           str(tmp_path / "café.yaml")], cwd=ROOT, capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 1 and b"caf\\xe9.yaml:5:15: LL006" in proc.stdout, proc.stderr


def test_output_file_with_an_undecodable_name_in_it(tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/tr\xffin.py"
    with open(raw, "wb") as f:
        f.write(PY.encode())
    for fmt in ("json", "sarif", "junit", "concise"):
        out = tmp_path / f"report.{fmt}"
        assert main(["check", "--isolated", "--select", "LL101", "--output-format", fmt, "-o", str(out),
                     str(tmp_path)]) == 1
        text = out.read_text(encoding="utf-8")  # valid UTF-8
        if fmt != "concise":
            (json.loads if fmt != "junit" else ET.fromstring)(text)


def test_lint_text_from_another_thread_and_process_state_is_untouched():
    before = threading.stack_size()
    deep = "from peft import LoraConfig\nx = " + "(" * 200 + "1" + ")" * 200 + "\nLoraConfig(r=x)\n"
    lint_text("t.py", deep)
    assert threading.stack_size() == before


# -- line breaks that are not newlines to every reader ----------------------------------------

def test_form_feed_does_not_shift_suppressions_or_snippets(tmp_path):
    """str.splitlines breaks at a form feed; Python does not. Before, the comment above the
    finding covered the wrong line and the report showed the wrong source line."""
    from lora_lint.files import read_file
    from lora_lint.reporters import RunInfo

    def snippet(f):
        return RunInfo(sources={f.path: read_file(f.path, Settings()).source}).snippet(f)

    src = "from peft import LoraConfig\n# \x0c\n# lora-lint: ignore[LL101]\ncfg = LoraConfig(r=64, lora_alpha=16)\nLoraConfig(r=64)\n"
    found = lint_file(write(tmp_path, "a.py", src), Settings(select=["LL101"]))
    assert where(found) == [("LL101", 5, 12)]
    assert snippet(found[0]) == "r=64"
    js = '{"peft_type": "LORA", "note": "a\u2028b", "r": 64, "lora_alpha": 16}\n'
    (f,) = lint_file(write(tmp_path, "adapter_config.json", js), Settings(select=["LL101"]))
    assert snippet(f) == "64"


def test_old_mac_line_endings_keep_suppressions(tmp_path):
    src = "from peft import LoraConfig\r# lora-lint: ignore[LL101]\rcfg = LoraConfig(r=64, lora_alpha=16)\rLoraConfig(r=64)\r"
    assert where(lint_file(write(tmp_path, "a.py", src), Settings(select=["LL101"]))) == [("LL101", 4, 12)]
    src = "# lora-lint: base-model=Qwen/Qwen2.5-0.5B\rfrom peft import LoraConfig\rLoraConfig(r=8, target_modules=['nope'])\r"
    found = lint_file(write(tmp_path, "b.py", src), Settings(select=["LL201", "LL902"]))
    assert [f.code for f in found] == ["LL201"]  # the comment names the model


# -- regular expressions that backtrack for minutes ---------------------------------------------

REDOS = [r"(.*.*)*z", r"([\w.]*)*z", r"(\w+\.?)+$z", r".*.*.*.*.*.*.*.*z", r"(a|ab|abc)*z"]
SAFE = [r".*\.(q_proj|v_proj)", r".*(q|k|v)_proj", r"model\.layers\.(\d+)\.self_attn\.(q|v)_proj",
        r".*\.(\d+)\..*", r"(?:.*\.)?(q|k|v)_proj", r"(\d{1,3}\.)+x", "q_proj", "all-linear", "(unclosed"]


def test_catastrophic_regex_screen():
    from lora_lint.models.spec import LoraSpec
    from lora_lint.regex_risk import catastrophic, risky_fields

    assert [p for p in REDOS if not catastrophic(p)] == []
    assert [p for p in SAFE if catastrophic(p)] == []
    spec = LoraSpec(target_modules=REDOS[0], modules_to_save=["score", REDOS[1]], rank_pattern={REDOS[2]: 4},
                    layers_pattern="layers")
    assert risky_fields(spec) == ["target_modules", "modules_to_save", "rank_pattern"]
    assert risky_fields(LoraSpec(target_modules=SAFE[0], modules_to_save=["a|b"], layers_pattern=["h", "layers"])) == []


def test_catastrophic_regexes_in_a_config_do_not_hang_the_run(tmp_path):
    """Before: target_modules=r"(.*.*)*z" on a catalog model did not finish in minutes (peft's own
    get_peft_model would hang the same way); each field that takes a regex, on a 24-layer model."""
    fields = {"target_modules": "{p!r}", "exclude_modules": "{p!r}", "modules_to_save": "['score', {p!r}]",
              "layers_pattern": "{p!r}, layers_to_transform=[0]", "rank_pattern": "{{{p!r}: 4}}",
              "alpha_pattern": "{{{p!r}: 4}}"}
    for i, p in enumerate(REDOS):
        for name, value in fields.items():
            targets = "" if name == "target_modules" else "target_modules=['q_proj'], "
            (tmp_path / f"{name}_{i}.py").write_text(
                "from transformers import AutoModelForCausalLM\nfrom peft import LoraConfig, get_peft_model\n"
                "m = AutoModelForCausalLM.from_pretrained('Qwen/Qwen2.5-0.5B')\n"
                f"get_peft_model(m, LoraConfig(r=8, lora_dropout=3, {targets}{name}={value.format(p=p)}))\n")
    proc = subprocess.run([sys.executable, "-m", "lora_lint", "check", "--isolated", "--offline", "--select", "ALL",
                           "--output-format", "json", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    found = json.loads(proc.stdout)
    assert len({f["filename"] for f in found if f["code"] == "LL006"}) == len(REDOS) * len(fields)
    assert "LL903" not in {f["code"] for f in found}


# -- stdin ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,data,want", [
    ("x.yaml", YAML.encode() + b"note: caf\xe9\n", [("LL901", 6, 10)]),  # before: UnicodeDecodeError, exit 2
    ("x.yaml", YAML.encode("utf-16"), [("LL901", 1, 1)]),  # before: nothing, exit 0
    ("x.py", ("# -*- coding: latin-1 -*-\n" + PY).encode("latin-1"), [(c, line + 1, col) for c, line, col in PY_WANT]),
    ("x.yaml", b"\xef\xbb\xbf" + YAML.encode(), YAML_WANT),
    ("x.yaml", YAML.encode() + b"#" * 2000, [("LL901", 1, 1)]),  # above max-file-size = 1000
])
def test_stdin_is_read_as_bytes_like_a_file(tmp_path, monkeypatch, name, data, want):
    # stdin as Python makes it: a TextIOWrapper over the bytes, strict UTF-8 (PYTHONIOENCODING=utf-8)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="strict"))
    rc, found = check(tmp_path, "--select", "LL006,LL101,LL901", "--config", "max-file-size = 1000",
                      "-", "--stdin-filename", name)
    assert rc == 1
    assert [(f["code"], f["location"]["row"], f["location"]["column"]) for f in found] == want


# -- configuration files ---------------------------------------------------------------------------

@pytest.mark.parametrize("content,why", [
    (b'[tool.lora-lint]\nselect = ["LL006"]\n# caf\xe9\n', "not UTF-8 (invalid continuation byte at byte 41)"),
    (b"[tool.lora-lint]\nx = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply"),
])
def test_a_broken_config_file_is_a_clean_usage_error(tmp_path, capsys, content, why):
    """Exit 2 as for any bad config, with the file and the reason; before, a traceback
    (UnicodeDecodeError, RecursionError) and 'internal error'."""
    (tmp_path / "pyproject.toml").write_bytes(content)
    path = write(tmp_path, "a.yaml", YAML)
    assert main(["check", path]) == 2
    err = capsys.readouterr().err
    assert f"pyproject.toml: invalid TOML: {why}" in err and "Traceback" not in err and "internal error" not in err
    assert main(["check", "--config", "x = " + "[" * 100_000, path]) == 2
    assert "is neither a file nor a TOML" in capsys.readouterr().err


# -- .gitignore files --------------------------------------------------------------------------------

def test_hostile_gitignore_lines(tmp_path):
    """Before: '[z-a]' or 'a[]b' made re.compile raise (exit 2, nothing linted); a FIFO named
    .gitignore blocked the walk; '*a*a*a*a*a*a*a*a*b' took 90 s per file name of 60 a's and
    '**/' twelve times minutes per path."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep").mkdir()
    write(tmp_path / "sub" / "deep", "a" * 60 + ".yaml", YAML)
    write(tmp_path / "sub", "ignored.yaml", YAML)
    (tmp_path / ".gitignore").write_text("[z-a]\na[]b\n[!]\n" + "*a" * 8 + "*b\n" + "**/" * 12 + "x\n"
                                         "**/**/ignored.yaml\n")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "sub" / ".gitignore")
    rc, found = check(tmp_path, "--select", "LL006", str(tmp_path))
    assert rc == 1 and [os.path.basename(f["filename"]) for f in found] == ["a" * 60 + ".yaml"]


def test_an_invalid_glob_in_the_configuration_is_a_clean_usage_error(tmp_path, capsys):
    """Before: re.error from the glob's translation, a traceback and 'internal error'."""
    path = write(tmp_path, "a.yaml", YAML)
    (tmp_path / "pyproject.toml").write_text('[tool.lora-lint]\nexclude = ["[z-a]"]\n')
    assert main(["check", path]) == 2
    assert main(["check", "--isolated", "--extend-exclude", "a[]b", path]) == 2
    err = capsys.readouterr().err
    assert "invalid path pattern '[z-a]'" in err and "invalid path pattern 'a[]b'" in err
    assert "Traceback" not in err and "internal error" not in err
