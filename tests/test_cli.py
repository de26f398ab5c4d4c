"""The check command end to end: formats, exit codes, stdin, output file, statistics, colour."""

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from lora_lint.cli import COMMANDS, OUTPUT_FORMATS, build_parser, main
from lora_lint.reporters import FORMATS

ROOT = Path(__file__).resolve().parent.parent
HEAD = "from peft import LoraConfig\n"
WARN = HEAD + "cfg = LoraConfig(r=64, lora_alpha=16)\n"  # LL101 warning at 2:18
ERROR = HEAD + "cfg = LoraConfig(r=8, lora_aplha=16)\n"  # LL001 error at 2:23
CLEAN = HEAD + "cfg = LoraConfig(r=16, lora_alpha=32)\n"


#: The CLI is the subject: two rules are enough, and other rules (LL102/LL104 on these ranks,
#: LL902 without a base model) stay out of the way.
NO_MODEL = 'select = ["LL001", "LL101"]\n'


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lora-lint.toml").write_text(NO_MODEL)
    (tmp_path / "warn.py").write_text(WARN)
    (tmp_path / "error.py").write_text(ERROR)
    (tmp_path / "clean.py").write_text(CLEAN)
    return tmp_path


def env(**extra):
    e = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    e["PYTHONPATH"] = str(ROOT)
    e.update(extra)
    return e


def run(args, cwd, stdin=None, **extra):
    return subprocess.run([sys.executable, "-m", "lora_lint", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, env=env(**extra))


def test_output_format_list_matches_the_reporters():
    assert tuple(FORMATS) == OUTPUT_FORMATS


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_every_format_from_the_command_line(tree, capsys, fmt):
    assert main(["--output-format", fmt, "."]) == 1
    out = capsys.readouterr().out
    assert "warn.py" in out and "error.py" in out and "clean.py" not in out
    assert main(["--output-format", fmt, "clean.py"]) == 0


@pytest.mark.parametrize("args,code", [
    (["clean.py"], 0),
    (["warn.py"], 1),
    (["error.py"], 1),
    (["--exit-zero", "error.py", "warn.py"], 0),
    (["--ignore", "LL101", "warn.py"], 0),
    (["--select", "LL999", "clean.py"], 2),
    (["--output-format", "xml", "clean.py"], 2),
    (["--config", "no-such-key = 1", "clean.py"], 2),
    (["--per-file-ignores", "missing-colon", "clean.py"], 2),
    (["-"], 2),  # stdin needs --stdin-filename
    (["-", "clean.py", "--stdin-filename", "x.py"], 2),
    (["--isolated", "missing.py"], 1),  # an unreadable file is an LL901 finding, as ruff's E902
])
def test_exit_codes(tree, capsys, args, code):
    assert main(args) == code


def test_bad_config_file_is_exit_2_even_with_exit_zero(tree, capsys):
    (tree / "lora-lint.toml").write_text('select = ["nope"]\n')
    assert main(["--exit-zero", "."]) == 2
    assert "lora-lint.toml" in capsys.readouterr().err


def test_stdin_with_stdin_filename(tree, capsys, monkeypatch):
    (tree / "sub").mkdir()
    (tree / "sub" / "lora-lint.toml").write_text(
        NO_MODEL + 'per-file-ignores = { "legacy_*.py" = ["LL101"] }\nextend-exclude = ["gen/"]\n')
    monkeypatch.setattr(sys, "stdin", io.StringIO(WARN))
    assert main(["-", "--stdin-filename", "sub/train.py"]) == 1
    assert capsys.readouterr().out.startswith("sub/train.py:2:18: LL101 [warning]")
    monkeypatch.setattr(sys, "stdin", io.StringIO(WARN))
    assert main(["-", "--stdin-filename", "sub/legacy_train.py"]) == 0  # that name's config applies
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(WARN))
    assert main(["check", "--force-exclude", "--stdin-filename", "sub/gen/x.py", "-"]) == 0
    assert capsys.readouterr().out == "All checks passed!\n"


def test_stdin_in_a_subprocess_with_full_format(tree):
    p = run(["check", "--output-format", "full", "--stdin-filename", "notes/train.py", "-"], tree, stdin=WARN)
    assert p.returncode == 1, p.stderr
    assert " --> notes/train.py:2:18" in p.stdout and "2 | cfg = LoraConfig(r=64, lora_alpha=16)" in p.stdout


def test_output_file(tree, capsys):
    assert main(["--output-format", "sarif", "-o", "reports/lora.sarif", "."]) == 1
    assert capsys.readouterr().out == ""
    results = json.loads((tree / "reports" / "lora.sarif").read_text())["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"LL001", "LL101"}
    assert main(["--output-file", "report.txt", "warn.py"]) == 1
    assert (tree / "report.txt").read_text().startswith("warn.py:2:18: LL101")
    (tree / "dir").mkdir()
    assert main(["--output-file", "dir", "warn.py"]) == 2
    assert "cannot write dir" in capsys.readouterr().err


def test_statistics(tree, capsys):
    (tree / "warn2.py").write_text(WARN + "LoraConfig(r=256)\n")
    assert main(["--statistics", "."]) == 1
    assert capsys.readouterr().out == ("3\tLL101\t[ ] rslora-recommended\n1\tLL001\t[*] unknown-field\n"
                                       "[*] 1 fixable with `--fix`.\n")
    assert main(["--statistics", "--output-format", "json", "."]) == 1
    assert json.loads(capsys.readouterr().out) == [
        {"code": "LL101", "name": "rslora-recommended", "count": 3, "fixable": False, "fixable_count": 0},
        {"code": "LL001", "name": "unknown-field", "count": 1, "fixable": True, "fixable_count": 1},
    ]
    assert main(["--statistics", "--unsafe-fixes", "-q", "."]) == 1  # unsafe fixes count; -q: no total
    assert capsys.readouterr().out == "3\tLL101\t[*] rslora-recommended\n1\tLL001\t[*] unknown-field\n"
    assert main(["--statistics", "warn.py"]) == 1  # nothing fixable: no column
    assert capsys.readouterr().out == "1\tLL101\trslora-recommended\n"
    assert main(["--statistics", "clean.py"]) == 0
    assert capsys.readouterr().out == ""


def test_quiet(tree, capsys):
    assert main(["-q", "warn.py"]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("warn.py:2:18: LL101 [warning] r=64 without use_rslora")
    assert main(["-q", "clean.py"]) == 0
    assert capsys.readouterr().out == ""


def run_in_tty(args, cwd, **extra):
    """Run the CLI with stdout on a real pseudo-terminal; return what the terminal received."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "lora_lint", *args], cwd=cwd, stdout=slave,
                         stderr=subprocess.PIPE, env=env(**extra))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert p.wait() == 1, p.stderr.read()
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_only_and_no_color_respected(tree):
    assert "\x1b[" in run_in_tty(["warn.py"], tree)
    assert "\x1b[" not in run_in_tty(["warn.py"], tree, NO_COLOR="1")
    assert "\x1b[" not in run_in_tty(["--output-format", "json", "warn.py"], tree)
    assert "\x1b[" not in run_in_tty(["-o", "r.txt", "warn.py"], tree)
    assert "\x1b[" not in (tree / "r.txt").read_text()
    piped = run(["warn.py"], tree)
    assert piped.returncode == 1 and "\x1b[" not in piped.stdout
    assert "\x1b[" in run(["warn.py"], tree, FORCE_COLOR="1").stdout


def test_output_format_from_the_environment(tree):
    p = run(["warn.py"], tree, LORA_LINT_OUTPUT_FORMAT="json-lines")
    assert json.loads(p.stdout)["code"] == "LL101"


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("args", [["--help"], ["--no-such-flag"], ["--output-format"]])
def test_a_run_parses_as_the_whole_parser_does(command, args, capsys, monkeypatch):
    """A run builds only its command's part of the parser: its help and its usage errors (which
    name every command) are what the whole parser prints, at any terminal width."""
    for columns in ("40", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        printed = []
        for parser in (build_parser(), build_parser(command)):
            with pytest.raises(SystemExit) as e:
                parser.parse_args([command, *args])
            printed.append((e.value.code, *capsys.readouterr()))
        assert printed[0] == printed[1]
        code, out, err = printed[0]
        assert (out if args == ["--help"] else err).startswith("usage: lora-lint "), (code, out, err)


def test_help_lists_every_format(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    for fmt in OUTPUT_FORMATS:
        assert fmt in out
