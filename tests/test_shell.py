"""Shell scripts: bash's words (checked against bash itself), the script's variables, each
program's command line as a site in its dialect, and the real launch scripts of the wild corpus."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lora_lint.model import UNKNOWN, Span
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


# -- programs -------------------------------------------------------------------------------------------

def repo(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / ".git").mkdir(parents=True)
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def check(path: Path) -> list[str]:
    from lora_lint.pipeline import lint_file

    return [f"{f.span.line}:{f.span.col} {f.code} {f.message}" for f in lint_file(str(path))]


def only(path: Path, program: str | None = None):
    found = sites_for(SourceFile.of_text(str(path), path.read_text()))
    return found


LF = "model_name_or_path: Qwen/Qwen2.5-0.5B\nstage: sft\ndo_train: true\nfinetuning_type: lora\nlora_rank: 8\n"
AXOLOTL = "base_model: Qwen/Qwen2.5-0.5B\nadapter: lora\nlora_r: 16\nlora_alpha: 32\nlora_target_modules: [q_proj]\n"
TORCHTUNE = ("model:\n  _component_: torchtune.models.qwen2_5.lora_qwen2_5_0_5b\n  lora_attn_modules: ['q_proj']\n"
             "checkpointer:\n  _component_: torchtune.training.FullModelHFCheckpointer\n"
             "  checkpoint_dir: /tmp/q\n  model_type: QWEN2\n")


def test_swift_flags_are_an_ms_swift_site_lora_by_default():
    (site,) = sites("swift sft --model Qwen/Qwen2.5-0.5B \\\n  --lora_rank 16 --target_modules q_proj v_proj\n")
    assert site.dialect.name == "ms-swift"
    assert site.value("r") == 16 and site.value("lora_alpha") == 32  # ms-swift's default α
    assert site.value("target_modules") == ["q_proj", "v_proj"]  # a list flag takes every word
    assert site.base_model.value == "Qwen/Qwen2.5-0.5B"
    assert site.params["r"].span.line == 2
    (full,) = sites("swift sft --model Qwen/Qwen2.5-0.5B --tuner_type full --lora_rank 16\n")
    assert not full.active and "trains without LoRA" in full.notes[0].message


def test_llamafactory_flags_and_yaml_with_overrides(tmp_path):
    r = repo(tmp_path, {"cfg/sft.yaml": LF, "run.sh": (
        "llamafactory-cli train --model_name_or_path Qwen/Qwen2.5-0.5B --do_train --lora_rank 4\n"
        "llamafactory-cli train cfg/sft.yaml lora_rank=64 lora_alpha=16\n"
        "llamafactory-cli train cfg/sft.yaml --lora_rank 64\n")})
    flags, overrides, wrong = only(r / "run.sh")
    assert flags.value("r") == 4 and flags.value("lora_alpha") == 8  # LLaMA-Factory's α = 2r
    assert overrides.value("r") == 64 and overrides.value("lora_alpha") == 16
    assert overrides.base_model.value == "Qwen/Qwen2.5-0.5B"  # from the YAML
    assert overrides.base_model.span == Span(2, 24, 2, 36)  # the word naming the YAML
    assert overrides.params["r"].span.line == 2
    assert [k.key for k, _ in wrong.unknown_keys] == ["--lora_rank"]  # key=value only after a YAML
    out = check(r / "run.sh")
    assert any(x.startswith("3:37 LL001 `--lora_rank` is not a llama-factory") for x in out), out


def test_a_config_file_outside_the_repository_or_missing_leaves_the_site_open(tmp_path):
    r = repo(tmp_path, {"run.sh": "llamafactory-cli train nowhere.yaml lora_rank=64\n"
                                  "axolotl train nowhere.yml\n"})
    (site,) = only(r / "run.sh")
    assert site.open and site.value("r") == 64 and site.value("lora_alpha") is UNKNOWN


def test_axolotl_both_command_lines_override_the_yaml(tmp_path):
    r = repo(tmp_path, {"ax.yml": AXOLOTL, "run.sh": (
        "accelerate launch -m axolotl.cli.train ax.yml --lora_r=64 --lora_target_modules='[q_proj,vproj]'\n"
        "axolotl train ax.yml --lora-r 4 --no-lora-target-linear\n")})
    fire, click = only(r / "run.sh")
    assert fire.dialect.name == click.dialect.name == "axolotl"
    assert fire.value("r") == 64 and fire.value("target_modules") == ["q_proj", "vproj"]  # fire's list
    assert click.value("r") == 4 and click.value("lora_alpha") == 32
    out = check(r / "run.sh")
    assert any(" LL202 'vproj' matches no module of Qwen2ForCausalLM" in x for x in out), out


def test_trl_config_and_flags(tmp_path):
    r = repo(tmp_path, {"trl.yaml": "model_name_or_path: Qwen/Qwen2.5-0.5B\nuse_peft: true\n",
                        "run.sh": "trl sft --config trl.yaml --lora_r 32 --lora_target_modules q_proj v_proj\n"
                                  "trl sft --model_name_or_path Qwen/Qwen2.5-0.5B --lora_r 8\n"})
    on, off = only(r / "run.sh")
    assert on.value("r") == 32 and on.value("target_modules") == ["q_proj", "v_proj"] and on.value("lora_alpha") == 32
    assert not off.active and "use_peft" in off.notes[0].message


def test_torchtune_config_overrides_and_download(tmp_path):
    r = repo(tmp_path, {"tt.yaml": TORCHTUNE, "run.sh": (
        "tune download Qwen/Qwen2.5-0.5B-Instruct --output-dir /tmp/q\n"
        "tune run lora_finetune_single_device --config tt.yaml model.lora_rank=32 "
        "model.lora_attn_modules=[q_proj,o_proj]\n"
        "tune run lora_finetune_single_device --config qwen2_5/0.5B_lora_single_device model.lora_rank=32\n")})
    (site,) = only(r / "run.sh")  # a built-in config is no file here: not read
    assert site.dialect.name == "torchtune" and site.value("r") == 32
    assert site.base_model.value == "Qwen/Qwen2.5-0.5B-Instruct" and site.base_model.span.line == 1
    assert any("`o_proj` is not a torchtune attention module" in n.message for n in site.notes)


def test_training_scripts_read_only_well_known_flags():
    text = ("MODEL=meta-llama/Llama-3.2-1B\n"
            "torchrun --nproc_per_node 2 train.py --model_name_or_path $MODEL --lora_r 16 --lora_alpha 32 "
            "--lora_dropout 0.05 --lora_target_modules q_proj,v_proj --lora_droppout 0.1\n"
            "python -u finetune.py --base_model x/y --lora_target_modules='[q_proj,k_proj]' --lora_r=8\n"
            "deepspeed --include localhost:0 t.py --use_peft True --target_modules all --lora_rank 8\n"
            "python t.py --use_lora False --lora_r 8\n"
            "python generate.py --lora_weights tloen/alpaca-lora-7b\n")
    a, b, c = sites(text)
    assert {a.dialect.name, b.dialect.name, c.dialect.name} == {"script"} and a.open
    assert (a.value("r"), a.value("lora_alpha"), a.value("target_modules")) == (16, 32, ["q_proj", "v_proj"])
    assert a.base_model.value == "meta-llama/Llama-3.2-1B" and not a.unknown_keys  # no claim about the script
    assert a.value("bias") is UNKNOWN and a.effective("bias") is UNKNOWN  # its defaults are its own
    assert (b.value("r"), b.value("target_modules")) == (8, ["q_proj", "k_proj"])
    assert c.value("target_modules") is UNKNOWN  # `all` is the script's own keyword


def test_a_comment_inside_the_continuation_is_reported_where_the_settings_are_lost():
    text = CASES["comment inside a continuation"].replace("--stage sft", "--stage sft --do_train")
    (site,) = sites(text)
    (note,) = site.notes
    assert note.code == "LL010" and note.where.span.line == 4
    assert note.message.startswith("`--lora_rank` is never passed to `llamafactory-cli train`: the command ends on"
                                   " line 2, since the comment on line 3 ends it")


def test_suppression_above_a_command_covers_its_continued_lines():
    from lora_lint.pipeline import lint_text

    text = "swift sft --model Qwen/Qwen2.5-0.5B \\\n  --lora_droput 0.1\n"
    assert [f.code for f in lint_text("t.sh", text)] == ["LL103", "LL001"]
    quiet = "# lora-lint: ignore[LL001]\n" + text
    assert [f.code for f in lint_text("t.sh", quiet)] == ["LL103"]
    assert [f.code for f in lint_text("t.sh", "# lora-lint: ignore-file\n" + text)] == []


def test_findings_in_shell_scripts_carry_no_fix():
    from lora_lint.pipeline import lint_text

    found = lint_text("t.sh", "trl sft --model_name_or_path Qwen/Qwen2.5-0.5B --use_peft --lora_r 64 "
                              "--lora_target_modules q_proj vproj\n")
    assert found and all(f.fix is None for f in found)


def test_a_script_without_a_lora_marker_costs_a_marker_test():
    from lora_lint.sources import may_hold_sites

    assert not may_hold_sites(SourceFile.of_text("a.sh", "python train.py --lr 1e-4\nmake all\n"))
    assert may_hold_sites(SourceFile.of_text("a.sh", "swift sft --model x\n"))


# -- the wild corpus: every launch script's LoRA configuration, counted by reading each file ---------------

#: file -> the dialect of each site (one command each) and the base model the file names (None: it
#: names none, or a path on its author's machine that bash expands, ``~/checkpoints/baichuan7b``).
WILD_SITES = {
    "2U1__Molmo-Finetune__finetune-lora-vision.sh": [("script", "allenai/Molmo-7B-D-0924")],  # $MODEL_NAME
    "2U1__Qwen2-VL-Finetune__finetune-lora.sh": [("script", "Qwen/Qwen2.5-VL-3B-Instruct")],
    "A-baoYang__LLM-Finetune-Guide__run-sft-dcard.sh": [("script", "hfl/chinese-llama-2-7b")],
    "HyeongminMoon__ChatLLM__train-qlora.sh": [
        ("script", "/workspaces/data/llm_weights/custom_trained/DIE-70B_sftv5_task-96000")],
    # the commented-out lines end the command after --model_name_or_path (LL010 for the rest)
    "JJH12234__ScaleBench__internvl3-lf.sh": [("llama-factory", "OpenGVLab/InternVL3-8B-hf")],
    "JJH12234__ScaleBench__janus-pro-swift.sh": [("ms-swift", "deepseek-ai/Janus-Pro-7B")],
    "LianjiaTech__BELLE__dschat-run-lora.sh": [("script", "/workspace/model_name_or_path/bloomz-7b1-mt")],
    "OpenBMB__MiniCPM-V__finetune-lora.sh": [("script", "openbmb/MiniCPM-o-2_6")],
    "Say1kU__im-reply-qwen__train-lora.sh": [("ms-swift", "Qwen/Qwen3-0.6B")],  # ${MODEL_ID:-...}
    "VerdureChen__alpaca-lora__alpaca-bash.sh": [("script", "./llama-7b-hf")],
    "VirtuosoResearch__Scalable-finetuning__meta-training-instruction.sh": [
        ("script", "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T")],  # --model_key
    "X-PLUG__mPLUG-Owl__owl2-finetune-lora.sh": [("script", "MAGAer13/mplug-owl2-llama2-7b")],
    "YerongLi__ChatGLM-Efficient-Tuning__train-sft.sh": [("llama-factory", None)],  # the tool's own default
    "artidoro__qlora__finetune-guanaco-7b.sh": [("script", "huggyllama/llama-7b")],
    "bupticybee__FastLoRAChat__finetune-lora-unquoted.sh": [("script", "../llama-13b/")],
    "chengzl18__Vicuna-LoRA__train-lora.sh": [("script", "lmsys/vicuna-7b-v1.3")],
    "georgian-io__LLM-Finetuning-Toolkit__llama2-run-lora.sh": [("script", None)],  # a rank sweep
    "jianzhnie__LLamaTuner__baichuan-7b-qlora.sh": [("script", None)],
    "jimzhou03__GLM-4-9B-LoRA-HateSpeech__train-lora.sh": [("ms-swift", "ZhipuAI/GLM-4-9B-0414")],
    "liguodongiot__llm-action__bootstrap-llm.sh": [("script", None)],  # sh bootstrap-llm-lora.sh --lora_rank=$..
    "lynxx244__Qwen-LoRA-Identity-Alignment__train-lora.sh": [("llama-factory", "qwen/Qwen2.5-7B-Instruct")],
    "shibing624__MedicalGPT__run-sft.sh": [("script", "Qwen/Qwen3.5-0.8B")],
    "ymcui__Chinese-LLaMA-Alpaca-2__run-sft.sh": [("script", "path/to/hf/llama-2/or/chinese-llama-2/dir/or/model_id")],
    "yuanzhoulvpi2017__zero_nlp__chatglm2-lora-train.sh": [("script", "chatglm2-6b_model")],
    "zjunlp__DeepKE__fine-moss.bash": [("script", "models/moss-moon-003-sft")],
}

#: Every finding lora-lint gives on the wild scripts besides LL902/LL905 (the model is not
#: resolvable offline or not locked, or none is named), each judged true: ms-swift and LLaMA-Factory take --use_rslora,
#: their defaults are rank 8 (LLaMA-Factory's α 2r), and bash ends the InternVL3 command at its
#: first commented-out line (its own parser says so: test_wild_scripts_split_into_the_commands...).
WILD_FINDINGS = {
    ("JJH12234__ScaleBench__internvl3-lf.sh", 5, "LL103"),
    ("JJH12234__ScaleBench__internvl3-lf.sh", 12, "LL010"),
    ("JJH12234__ScaleBench__internvl3-lf.sh", 35, "LL010"),
    ("JJH12234__ScaleBench__janus-pro-swift.sh", 15, "LL101"),
    ("Say1kU__im-reply-qwen__train-lora.sh", 22, "LL103"),
    ("jimzhou03__GLM-4-9B-LoRA-HateSpeech__train-lora.sh", 27, "LL101"),
    ("lynxx244__Qwen-LoRA-Identity-Alignment__train-lora.sh", 18, "LL103"),
}

wild = pytest.mark.skipif(not WILD.is_dir(), reason="the shared wild corpus is not next to the repository")


@wild
def test_every_wild_script_is_listed():
    assert sorted(p.name for p in WILD.glob("*")) == sorted(WILD_SITES)


@wild
@pytest.mark.parametrize("name", sorted(WILD_SITES))
def test_every_lora_configuration_of_the_wild_scripts_is_found_with_its_model(name):
    path = WILD / name
    found = sites_for(SourceFile.of_text(str(path), path.read_text(encoding="utf-8")))
    assert [(s.dialect.name, s.base_model.value if s.base_model else None) for s in found] == WILD_SITES[name]


@wild
def test_the_findings_on_the_wild_scripts_are_the_judged_ones(monkeypatch):
    from lora_lint.pipeline import lint_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    got = set()
    for name in WILD_SITES:
        for f in lint_file(str(WILD / name)):
            if f.code not in ("LL902", "LL905"):
                got.add((name, f.span.line, f.code))
    assert got == WILD_FINDINGS


def test_argparse_abbreviations_are_the_options_they_abbreviate():
    """HfArgumentParser keeps argparse's ``allow_abbrev``: ms-swift takes ``--lora_r`` for
    ``--lora_rank``; an ambiguous prefix stops it (nothing said); only a flag no option starts
    with is unknown."""
    (site,) = sites("swift sft --model Qwen/Qwen2.5-0.5B --lora_r 64 --lora_drop 0.1 --lora_ga_iter 2 "
                    "--lora_g 3 --lora_x 1\n")
    assert site.value("r") == 64 and site.value("lora_dropout") == 0.1
    assert [p.key for p, _ in site.unknown_keys] == ["lora_x"]
    (lf,) = sites("llamafactory-cli train --do_train --model_name_or_path Qwen/Qwen2.5-0.5B --lora_r 16\n")
    assert lf.value("r") == 16 and lf.value("lora_alpha") == 32


def test_a_script_without_a_suffix_is_read_by_its_shebang():
    from lora_lint.source_file import Kind, decode

    for line, kind in (("#!/bin/bash", Kind.SHELL), ("#!/usr/bin/env bash", Kind.SHELL), ("#!/bin/sh -e", Kind.SHELL),
                       ("#! /bin/dash", Kind.SHELL), ("#!/bin/zsh", None), ("#!/usr/bin/env python3", None),
                       ("#!/bin/bashful", None)):
        assert decode(f"{line}\nswift sft --lora_rank 8\n".encode(), "scripts/run").kind is kind, line
    assert decode(b"#!/bin/bash\n", "run.py").kind is Kind.PYTHON  # a suffix decides first


def test_a_config_file_outside_the_repository_is_not_read(tmp_path):
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(LF)
    r = repo(tmp_path / "repo", {"run.sh": f"llamafactory-cli train {outside} lora_rank=64\n"
                                           "llamafactory-cli train ../elsewhere.yaml lora_rank=64\n"})
    for site in only(r / "run.sh"):
        assert site.open and site.base_model is None


def test_the_named_files_own_problems_stay_in_that_file(tmp_path):
    r = repo(tmp_path, {"ax.yml": AXOLOTL + "lora_dropuot: 0.1\n", "run.sh": "axolotl train ax.yml --lora-r 8\n"})
    (site,) = only(r / "run.sh")
    assert site.unknown_keys == () and site.value("r") == 8
    from lora_lint.pipeline import lint_file

    assert any(f.code == "LL001" for f in lint_file(str(r / "ax.yml")))


def test_ms_swift_options_found_in_its_examples():
    """Read from ms-swift's own example scripts: ``tuner_type lora_llm`` is LoRA (its tuner plugin
    passes only r and α, on a target regex of its own), ``task_type`` and the LoRA-GA/AdaLoRA
    options are options, and ``init_weights lora-ga`` is swift's own LoRA-GA, not peft's."""
    from lora_lint.pipeline import lint_text

    (llm,) = sites("swift sft --model Qwen/Qwen2.5-VL-7B-Instruct --tuner_type lora_llm --lora_rank 16 "
                   "--lora_alpha 32 --lora_dropout 0.1\n")
    assert llm.active and llm.open and llm.value("r") == 16 and llm.value("target_modules") is UNKNOWN
    assert "lora_dropout" not in llm.params  # not passed by the lora_llm tuner
    cli = ("swift sft --model Qwen/Qwen2.5-0.5B --task_type seq_cls --num_labels 2 --init_weights lora-ga "
           "--lora_ga_iters 2 --adalora_beta1 0.8\n")
    yaml_text = ("model: Qwen/Qwen2.5-0.5B\ntuner_type: lora\ntask_type: seq_cls\ninit_weights: lora-ga\n"
                 "lora_ga_iters: 2\nadalora_beta1: 0.8\n")
    for path, text in (("t.sh", cli), ("t.yaml", yaml_text)):
        assert not [f for f in lint_text(path, text) if f.code in ("LL001", "LL008", "LL010")], path
