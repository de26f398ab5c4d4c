"""``--fix`` never loses a byte (issue 12, items 1-4): the file's own encoding, an edit saved while
the fix runs, read-only files, other users' files, hard links."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_fixes import ROOT

from lora_lint.cli import main
from lora_lint.source_file import SourceFile, decode

PY = "from peft import LoraConfig\n"
TYPO = "cfg = LoraConfig(r=8, lora_aplha=16)\n"


def fix(*paths, extra=()) -> int:
    return main(["check", "--isolated", "--select", "LL001,LL901", "--fix", *extra, *map(str, paths)])


# -- the file's encoding -------------------------------------------------------------------------

@pytest.mark.parametrize("codec", ["latin-1", "cp1252"])
def test_a_declared_encoding_round_trips_every_byte_but_the_fix(tmp_path, capsys, codec):
    text = (f"# -*- coding: {codec} -*-\r\n# café naïve © “quoted” ½\n" + PY
            + "cfg = LoraConfig(r=8, lora_aplha=16)  # été\r\n# fin ÿ\n")
    if codec == "latin-1":
        text = text.replace("“quoted”", "quoted")
    path = tmp_path / "train.py"
    path.write_bytes(text.encode(codec))
    assert fix(path) == 0
    assert path.read_bytes() == text.replace("lora_aplha", "lora_alpha").encode(codec)
    assert "1 fixed" in capsys.readouterr().out


def test_a_declaration_on_a_file_with_old_mac_line_endings(tmp_path, capsys):
    """Python reads the declaration on CR-only lines too (found by the fuzz campaign: the file was
    read as UTF-8, and its latin-1 bytes were LL901)."""
    text = "# -*- coding: latin-1 -*-\r" + PY.replace("\n", "\r") + TYPO.replace("\n", "\r") + "NOTE = '¡'\r"
    path = tmp_path / "train.py"
    path.write_bytes(text.encode("latin-1"))
    assert fix(path) == 0
    assert path.read_bytes() == text.replace("aplha", "alpha").encode("latin-1")


def test_a_declared_encoding_is_read_as_python_reads_it():
    """Bytes that are valid UTF-8 too are read in the declared encoding (as Python reads them)."""
    data = "# coding: latin-1\nx = 'Ã©'\n".encode("latin-1")
    assert data.decode("utf-8")  # also valid UTF-8 ("é"), which Python does not read it as
    source = decode(data, "train.py")
    assert (source.encoding, source.bom) == ("iso-8859-1", False) and "Ã©" in source.text
    assert source.encoded() == data
    assert decode(data, "train.yaml").encoding == "utf-8"  # YAML and JSON are UTF-8
    assert decode(b"# coding: utf-16\n", "train.py").encoding == "utf-8"  # Python refuses it
    assert decode(b"# coding: nonsense\n", "train.py").encoding == "utf-8"
    bom = decode(b"\xef\xbb\xbf# coding: latin-1\n", "train.py")
    assert (bom.encoding, bom.bom) == ("utf-8", True) and bom.encoded().startswith(b"\xef\xbb\xbf")


def test_the_bom_and_line_endings_of_a_utf8_file_are_kept(tmp_path, capsys):
    path = tmp_path / "train.py"
    text = PY + "# ünïcode\r\ncfg = LoraConfig(r=8,\r\n    lora_aplha=16)\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert fix(path) == 0
    assert path.read_bytes() == b"\xef\xbb\xbf" + text.replace("aplha", "alpha").encode()


def test_stdin_is_fixed_in_its_own_encoding(tmp_path):
    text = "# -*- coding: latin-1 -*-\n# café\n" + PY + TYPO
    done = subprocess.run(
        [sys.executable, "-m", "lora_lint", "check", "--isolated", "--select", "LL001", "--fix",
         "--stdin-filename", "train.py", "-"],
        input=text.encode("latin-1"), capture_output=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.stdout == text.replace("aplha", "alpha").encode("latin-1"), done.stderr


def test_a_fix_the_encoding_cannot_write_is_not_applied():
    from lora_lint.fixes.apply import fix_source
    from lora_lint.model import Edit, Fix, Span
    from lora_lint.rules import finding

    text = PY + "cfg = LoraConfig(r=8, lora_aplha=16, x=1)\n"
    greek = Fix("alpha", (Edit(Span(2, 23, 2, 33), "lora_α"),))
    good = Fix("x", (Edit(Span(2, 38, 2, 39), "y"),))

    def lint(source):
        out = []
        if "lora_aplha" in source.text:
            out.append(_with_fix(finding("LL001", "m", source.path, Span(2, 23, 2, 33)), greek))
        if "x=1" in source.text:
            out.append(_with_fix(finding("LL001", "m", source.path, Span(2, 38, 2, 39)), good))
        return out

    latin = SourceFile("x.py", text, SourceFile.of_text("x.py", "").kind, encoding="iso8859-1")
    result = fix_source(latin, lint=lint)
    assert result.text == PY + "cfg = LoraConfig(r=8, lora_aplha=16, y=1)\n"
    assert [(f.fix.message, ch) for f, ch in result.unencodable] == [("alpha", "α")]
    utf8 = SourceFile.of_text("x.py", text)
    assert fix_source(utf8, lint=lint).text == PY + "cfg = LoraConfig(r=8, lora_α=16, y=1)\n"  # UTF-8 can


def _with_fix(f, fix):
    from dataclasses import replace

    return replace(f, fix=fix)


# -- a change while the fix runs -----------------------------------------------------------------

def _run(path: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **kw.pop("env", {})}
    return subprocess.Popen(
        [sys.executable, "-m", "lora_lint", "check", "--isolated", "--select", "LL001,LL901", "--fix", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=path.parent,
        text=True, **kw)


def _append(path: Path, line: str) -> None:
    """Another process saves an edit to the file (in place, as an editor writing through its fd)."""
    subprocess.run([sys.executable, "-c", f"open({str(path)!r}, 'a').write({line!r})"], check=True, timeout=30)


def test_an_edit_saved_while_the_fix_runs_is_kept(tmp_path):
    path = tmp_path / "train.py"
    original = PY + TYPO + "# padding\n" * 2000
    path.write_text(original)
    proc = _run(path, env={"LORA_LINT_TEST_PAUSE_IN_WRITE": "1"})
    try:
        for line in proc.stderr:  # paused halfway through the temporary file: the fix is computed
            if line.startswith("lora-lint: paused writing "):
                break
        else:
            pytest.fail("the writer never paused: " + proc.stdout.read())
        _append(path, "# saved by the user\n")
        out, _ = proc.communicate("\n", timeout=60)
    finally:
        proc.kill()
    assert path.read_text() == original + "# saved by the user\n"  # the edit is kept, nothing fixed
    assert "LL901" in out and "changed on disk while it was being fixed" in out
    assert "lora_aplha" in out  # the finding stays reported, unfixed
    assert proc.returncode == 1
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]


def test_a_concurrent_writer_never_loses_an_edit(tmp_path):
    """A second process appends to the file while a large ``--fix`` runs (at once, and at random
    moments): whatever the timing, its line is in the file at the end, the fixes applied or,
    when the change came while they were computed, not applied and LL901 saying so."""
    rng = random.Random(12)
    body = PY + "".join(f"cfg{i} = LoraConfig(r=8, lora_aplha=16)\n" for i in range(200))
    for attempt, delay in enumerate((0.0, rng.uniform(0.3, 1.5), rng.uniform(0.3, 1.5))):
        path = tmp_path / f"train{attempt}.py"
        path.write_text(body)
        proc = _run(path)
        time.sleep(delay)
        _append(path, f"# edit {attempt}\n")
        out, err = proc.communicate(timeout=120)
        text = path.read_text()
        assert text.endswith(f"# edit {attempt}\n"), (out, err)
        assert text.count("= LoraConfig(") == 200
        assert "lora_aplha" not in text or "changed on disk" in out, out


# -- files that must not be replaced -------------------------------------------------------------

def test_a_read_only_file_is_not_fixed(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(PY + TYPO)
    os.chmod(path, 0o444)
    assert fix(path) == 1  # as root too: the mode bits decide, not os.access
    out = capsys.readouterr().out
    assert "read-only (mode 0444): not fixed" in out and "LL001" in out
    assert path.read_text() == PY + TYPO and os.stat(path).st_mode & 0o777 == 0o444


def test_a_hard_linked_file_is_not_split(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(PY + TYPO)
    other = tmp_path / "copy.py"
    os.link(path, other)
    assert fix(path) == 1
    out = capsys.readouterr().out
    assert "2 hard links" in out and "not fixed" in out
    assert os.path.samefile(path, other) and path.read_text() == PY + TYPO


def test_a_file_a_fix_leaves_alone_is_never_refused(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(PY + "cfg = LoraConfig(r=8)\n")
    os.chmod(path, 0o444)
    assert fix(path) == 0 and "LL901" not in capsys.readouterr().out


def test_a_directory_that_cannot_take_the_temporary_file(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes in any directory")
    path = tmp_path / "train.py"
    path.write_text(PY + TYPO)
    os.chmod(tmp_path, 0o555)
    try:
        assert fix(path) == 1
    finally:
        os.chmod(tmp_path, 0o755)
    assert "cannot write the fixed file" in capsys.readouterr().out and path.read_text() == PY + TYPO


root_only = pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root (chown, setuid)")


@root_only
def test_root_keeps_the_owner_and_group_of_another_users_file(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(PY + TYPO)
    os.chown(path, 12345, 23456)
    os.chmod(path, 0o640)
    assert fix(path) == 0
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (12345, 23456, 0o640)
    assert path.read_text() == PY + TYPO.replace("aplha", "alpha")


@root_only
def test_another_users_file_in_a_shared_directory_is_not_taken_over():
    """A user runs ``--fix`` on a file of root's they could write (mode 0666) in a directory open
    to all: the fixed copy would be theirs, so it is not written."""
    shared = Path(tempfile.mkdtemp())
    try:
        os.chmod(shared, 0o777)
        path = shared / "train.py"
        path.write_text(PY + TYPO)
        os.chmod(path, 0o666)
        args = [sys.executable, "-m", "lora_lint", "check", "--isolated", "--select", "LL001,LL901", "--fix", str(path)]
        drop: dict = dict(user=65534, group=65534, extra_groups=[])
        if shutil.which("setpriv"):  # (some sandboxes refuse Python's own switch at exec)
            args, drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args], {}
        done = subprocess.run(args, capture_output=True, text=True, cwd=shared,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, **drop)
        assert done.returncode == 1, done.stderr
        assert "belongs to another user (uid 0; this is uid 65534)" in done.stdout
        st = os.stat(path)
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o666) and path.read_text() == PY + TYPO
        assert [p.name for p in shared.iterdir()] == ["train.py"]
    finally:
        shutil.rmtree(shared)


# -- notebooks: their cells are written back through the same path ------------------------------

def _notebook(code: str, newline: str = "\n", bom: bool = False) -> bytes:
    """A notebook as Jupyter writes it (non-ASCII text kept as it is), with ``newline`` line
    endings in its JSON."""
    import json

    def lines(text):
        return [line + "\n" for line in text.split("\n")[:-1]]

    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Réglages « LoRA » ½\n"]},
                    {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": lines(code),
                     "outputs": [{"name": "stdout", "output_type": "stream", "text": ["été ✓ 😀\n"]}]}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.replace("\n", newline).encode("utf-8")


@pytest.mark.parametrize("newline, bom", [("\n", False), ("\r\n", True)])
def test_a_notebook_round_trips_every_byte_but_the_fix(tmp_path, capsys, newline, bom):
    path = tmp_path / "train.ipynb"
    data = _notebook(PY + "# café\n" + TYPO, newline, bom)
    path.write_bytes(data)
    assert fix(path) == 0
    assert path.read_bytes() == data.replace(b"lora_aplha", b"lora_alpha")
    assert "1 fixed" in capsys.readouterr().out


def test_a_read_only_or_hard_linked_notebook_is_not_fixed(tmp_path, capsys):
    data = _notebook(PY + TYPO)
    ro, linked = tmp_path / "ro.ipynb", tmp_path / "linked.ipynb"
    ro.write_bytes(data)
    os.chmod(ro, 0o444)
    linked.write_bytes(data)
    os.link(linked, tmp_path / "other.ipynb")
    assert fix(ro, linked) == 1
    out = capsys.readouterr().out
    assert "read-only (mode 0444): not fixed" in out and "2 hard links" in out
    assert out.count("LL001") == 2  # the findings stay reported, at their cells
    assert ro.read_bytes() == data and linked.read_bytes() == data
    assert os.stat(ro).st_mode & 0o777 == 0o444 and os.stat(linked).st_nlink == 2


def test_an_edit_saved_to_a_notebook_while_the_fix_runs_is_kept(tmp_path):
    path = tmp_path / "train.ipynb"
    data = _notebook(PY + TYPO + "# padding\n" * 2000)
    path.write_bytes(data)
    proc = _run(path, env={"LORA_LINT_TEST_PAUSE_IN_WRITE": "1"})
    try:
        for line in proc.stderr:
            if line.startswith("lora-lint: paused writing "):
                break
        else:
            pytest.fail("the writer never paused: " + proc.stdout.read())
        saved = data.replace(b'"execution_count": 1', b'"execution_count": 2')  # Jupyter saves the notebook
        subprocess.run([sys.executable, "-c", f"open({str(path)!r}, 'r+b').write({saved!r})"], check=True, timeout=30)
        out, _ = proc.communicate("\n", timeout=60)
    finally:
        proc.kill()
    assert path.read_bytes() == saved
    assert "changed on disk while it was being fixed" in out and "lora_aplha" in out
    assert proc.returncode == 1
    assert [p.name for p in tmp_path.iterdir()] == ["train.ipynb"]


def test_a_notebook_that_is_not_utf8_is_never_written(tmp_path, capsys):
    path = tmp_path / "train.ipynb"
    data = _notebook(PY + "# caf\xe9\n" + TYPO).replace("é".encode(), b"\xe9")
    path.write_bytes(data)
    assert fix(path) == 1
    assert "LL901" in capsys.readouterr().out and path.read_bytes() == data
