"""Shell scripts: bash's words (checked against bash itself), the script's variables, each
program's command line as a site in its dialect, and the real launch scripts of the wild corpus."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lora_lint.model import UNKNOWN
from lora_lint.source_file import SourceFile
from lora_lint.sources import shell_lex, sites_for
from lora_lint.sources.shell import Run

WILD = Path(__file__).resolve().parents[2] / "shared" / "corpus-wild" / "shell"
if not WILD.is_dir():  # the worktree layout; the CI checkout has shared/ beside the repository
    WILD = Path(__file__).resolve().parents[1].parent / "shared" / "corpus-wild" / "shell"
BASH = shutil.which("bash")


def commands(text: str, path: str = "t.sh", program: str = "python"):
    """The commands of ``text`` that run ``program`` (every command for None)."""
    source = SourceFile.of_text(path, text)
    run = Run(source)
    run.nodes(shell_lex.parse(text).nodes)
    return [c for c in run.commands if program is None or c.argv[0].text == program]


def argv(text: str) -> list[list]:
    return [[f.text for f in c.argv] for c in commands(text, program=None)]


def sites(text: str, path: str = "t.sh"):
    return sites_for(SourceFile.of_text(path, text))


# -- bash's words ---------------------------------------------------------------------------------------

def _raw(text: str, node: shell_lex.Simple) -> str:
    pieces = [text[a.start:a.end] for a in node.assigns] + [text[w.start:w.end] for w in node.words]
    return re.sub(r"\\\r?\n", "", " ".join(pieces))


def _bash_reprint(text: str) -> str:
    """The script as bash's own parser reads it: the body of a function that is only defined
    (nothing runs), printed back by ``declare -f``: one simple command per line or list."""
    program = "__lora_lint_f() {\n" + text + "\n\n}\ndeclare -f __lora_lint_f\n"  # (a last backslash)
    out = subprocess.run([BASH, "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                         env={"PATH": os.environ.get("PATH", "")}, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _agrees_with_bash(text: str) -> list[str]:
    printed = _bash_reprint(text)
    missing = []
    for node in shell_lex.walk(shell_lex.parse(text).nodes):
        raw = _raw(text, node)
        whole = text[node.start:node.end]
        if "$(" in whole or "`" in whole or "<" in whole or ">" in whole or "$'" in whole or "\n" in raw:
            continue  # bash reprints these in its own layout
        if not re.search(r"(^|[;&|(]\s*|\s)" + re.escape(raw) + r"(\s*$|\s*[;&|)])", printed, re.M):
            missing.append(raw)
    return missing


CASES = {
    "continuation without a blank": "python train.py --a 1\\\n  --lora_r 8\\\n  --b 2\n",
    "comment inside a continuation": "llamafactory-cli train \\\n  --stage sft \\\n  #--x 1 \\\n  --lora_rank 8 \\\n  --y 2\n",
    "a missing backslash": "deepspeed t.py \\\n  --a 1\n  --lora_rank 8 \\\n  --b 2\n",
    "quotes": "swift sft --model 'Qwen/Qwen2.5-0.5B' --system \"a b\" --x $'c\\td' --y a\"b\"'c'\n",
    "operators": "cd x && python t.py --lora_r 8 || echo no; python t2.py --lora_alpha 16 & wait\n",
    "here-document": "cat <<EOF > cfg.yaml\nlora_r: 8\n--not a command\nEOF\npython t.py --lora_r 8\n",
    "compound": "for r in 8 16; do\n  python t.py --lora_r $r\ndone\nif true; then\n  swift sft --lora_rank 8\nfi\n",
    "case": "case $1 in\n  a) python t.py --lora_r 8 ;;\n  *) echo x ;;\nesac\n",
    "arrays and arithmetic": "rs=(2 4 8)\nfor (( i=0; i<3; i++ )) do\n  python t.py --lora_r ${rs[$i]}\ndone\n",
    "function": "train() {\n  python t.py --lora_r 8 \"$@\"\n}\ntrain --x 1\n",
}


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@pytest.mark.parametrize("name", sorted(CASES))
def test_commands_are_what_bash_reads(name):
    assert _agrees_with_bash(CASES[name]) == []


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@pytest.mark.parametrize("path", sorted(WILD.glob("*")), ids=lambda p: p.name[:40])
def test_wild_scripts_split_into_the_commands_bash_reads(path):
    text = path.read_text(encoding="utf-8")
    assert shell_lex.parse(text).stopped is None
    # a backslash at the very end is a word of its own there, but would continue into the wrapper
    assert _agrees_with_bash(text.removesuffix("\\")) == []


def _bash_words(words: list[str]) -> list[str]:
    """What bash makes of literal words (no expansion in them): quote removal, continuations."""
    out = subprocess.run([BASH, "--norc", "--noprofile", "-f", "+B", "-c", "printf '%s\\0' " + " ".join(words)],
                         capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")}, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("\0")[:-1]


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
def test_literal_words_are_what_bash_passes():
    texts = [*CASES.values(), *(p.read_text(encoding="utf-8") for p in sorted(WILD.glob("*")))]
    checked = 0
    for text in texts:
        for node in shell_lex.walk(shell_lex.parse(text).nodes):
            words = [w for w in node.words if w.literal is not None and not w.literal.startswith("~")]
            if not words:
                continue
            raw = [text[w.start:w.end] for w in words]
            assert _bash_words(raw) == [w.literal for w in words], raw
            checked += len(words)
    assert checked > 1500


def test_a_comment_ends_a_continued_command_and_the_rest_is_another_command():
    text = CASES["comment inside a continuation"]
    cmds = commands(text, program=None)
    assert [[f.text for f in c.argv] for c in cmds] == [["llamafactory-cli", "train", "--stage", "sft"]]
    assert cmds[0].cut == text.index("#--x")
    assert [[f.text for f in o] for o in cmds[0].orphans] == [["--lora_rank", "8", "--y", "2"]]


def test_a_backslash_at_the_very_end_is_a_backslash():
    assert argv("swift sft --lora_rank 8 \\\n  --optim adamw \\") == [
        ["swift", "sft", "--lora_rank", "8", "--optim", "adamw", "\\"]]


def test_never_fails_on_broken_or_hostile_text():
    for text in ("echo 'unterminated\npython t.py --lora_r 8", "$(" * 500, "((" * 300, "{" * 200 + "\n",
                 "a=(" + "x " * 1000, "case x in\n", "if true; then\n", "\\", "${", "`", "<<EOF\n", "f() (",
                 "\x00\x01", "for", "$((1+", "cat <<'E'\n$(\nE\npython t.py --lora_r 8\n"):
        script = shell_lex.parse(text)
        assert isinstance(script.nodes, list)
    stopped = shell_lex.parse("python t.py --lora_r 8\necho 'unterminated\n")
    assert stopped.stopped is not None and len(shell_lex.walk(stopped.nodes)) == 1  # what ran before stays


# -- the script's variables -----------------------------------------------------------------------------

def test_variables_assigned_literals_are_known_and_point_at_their_value():
    text = 'R=64\nexport A="128"\nT=q_proj,v_proj\npython t.py --lora_r $R --lora_alpha "${A}" --t ${T}\n'
    (cmd,) = commands(text)
    by = {f.text: f for f in cmd.argv}
    assert [f.text for f in cmd.argv] == ["python", "t.py", "--lora_r", "64", "--lora_alpha", "128", "--t",
                                          "q_proj,v_proj"]
    assert text[slice(*by["64"].at)] == "64" and by["64"].at[0] == 2  # where the value is written
    assert text[slice(*by["128"].at)] == "128"


def test_what_cannot_be_known_is_unknown():
    text = ("rs=(2 4 8 16)\nfor r in 8 16; do L=$r; done\nif x; then B=1; fi\nread C\n"
            "python t.py --a ${rs[0]} --b $rs --c $r --d $L --e $B --f $C --g $1 --h $(cat x) --i $((1+1))"
            " --j $RANDOM --k $NEVER_SET --l ~/m --m q* --n {a,b}\n")
    (cmd,) = commands(text)
    values = [f.text for f in cmd.argv[2:]]
    assert values[1::2] == [UNKNOWN] * 14


def test_defaults_of_variables_the_script_never_sets_are_the_value():
    text = ('M="${MODEL:-Qwen/Qwen3-0.6B}"\nX=1\nY=""\n'
            'swift sft --model "$M" --a ${X:-2} --b ${Y:-3} --c ${Y-4} --d ${Z-5} --e ${X:+6} --f ${M%%/*}\n')
    (cmd,) = commands(text, program="swift")
    assert [f.text for f in cmd.argv[2:]] == ["--model", "Qwen/Qwen3-0.6B", "--a", "1", "--b", "3", "--c",  # "" vanishes
                                              "--d", "5", "--e", "6", "--f", UNKNOWN]


def test_source_eval_and_functions_forget_what_was_known():
    text = "R=8\nsource env.sh\npython t.py --lora_r $R --lora_alpha ${A:-16}\n"
    (cmd,) = commands(text)
    assert [f.text for f in cmd.argv[3::2]] == [UNKNOWN, UNKNOWN]
    text = "R=8\nf() { python t.py --lora_r $R; L=4; python t.py --lora_r $L; }\nR=16\nf\n"
    assert [c.argv[3].text for c in commands(text)[:2]] == [UNKNOWN, "4"]


def test_unquoted_expansions_split_into_words_and_empty_ones_vanish():
    text = 'M="q_proj v_proj"\nE=""\npython t.py --lora_target_modules $M $E --x "$M" "$E"\n'
    assert argv(text)[-1:] == [["python", "t.py", "--lora_target_modules", "q_proj", "v_proj", "--x", "q_proj v_proj", ""]]


def test_assignments_inside_branches_and_loops_are_unknown_afterwards_but_known_within():
    text = "if a; then R=8; python t.py --lora_r $R; else R=16; fi\npython t.py --lora_r $R\n"
    assert [c.argv[3].text for c in commands(text)] == ["8", UNKNOWN]
    text = "R=8\n( R=16 )\npython t.py --lora_r $R\n"
    assert [c.argv[3].text for c in commands(text)] == ["8"]
