"""A training script of the repository run by a shell command: read by the Python reader with the
command's flags in place of their defaults (the wild corpus's MedicalGPT launch script and its
training script, and small scripts for each of argparse's rules)."""

from __future__ import annotations

import shutil
from pathlib import Path

from lora_lint import depends
from lora_lint.model import UNKNOWN
from lora_lint.source_file import SourceFile
from lora_lint.sources import sites_for

WILD = Path(__file__).resolve().parents[2] / "shared" / "corpus-wild"
if not WILD.is_dir():  # the worktree layout; the CI checkout has shared/ beside the repository
    WILD = Path(__file__).resolve().parents[1].parent / "shared" / "corpus-wild"


def repo(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / ".git").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def shell_sites(path: Path):
    return sites_for(SourceFile.of_text(str(path), path.read_text()))


def findings(path: Path):
    from lora_lint.pipeline import lint_file

    return lint_file(str(path))


ARGPARSE = '''\
import argparse
from peft import LoraConfig

parser = argparse.ArgumentParser()
parser.add_argument("--lora_r", type=int, default=8)
parser.add_argument("--lora_alpha", type=int, default=16)
parser.add_argument("--lora_dropout", type=float, default=0.05)
parser.add_argument("--targets", nargs="+", default=["q_proj", "v_proj"])
parser.add_argument("--rslora", action=argparse.BooleanOptionalAction, default=True)
parser.add_argument("--model", default="Qwen/Qwen2.5-0.5B")
args = parser.parse_args()
config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                    target_modules=args.targets, use_rslora=args.rslora)
'''


def test_the_medicalgpt_launch_script_runs_its_training_script_with_its_flags(tmp_path):
    # MedicalGPT's scripts/run_sft.sh runs training/supervised_finetuning.py (both in the wild corpus):
    # its ScriptArguments dataclass says lora_alpha=32.0 and no model; the command gives 16 and Qwen.
    r = tmp_path
    repo(r, {})
    (r / "scripts").mkdir()
    (r / "training").mkdir()
    shutil.copy(WILD / "shell" / "shibing624__MedicalGPT__run-sft.sh", r / "scripts" / "run_sft.sh")
    shutil.copy(WILD / "indirect" / "shibing624__MedicalGPT__supervised-finetuning.py",
                r / "training" / "supervised_finetuning.py")
    script = "training/supervised_finetuning.py"
    shell = r / "scripts" / "run_sft.sh"
    (site,) = shell_sites(shell)
    assert site.dialect.name == "peft" and site.path == str(shell)
    assert (site.span.line, site.span.col) == (1, 26)  # `torchrun`, where the run starts
    lines = shell.read_text().splitlines()
    for key, value, flag in (("r", 8, "--lora_rank 8"), ("lora_alpha", 16.0, "--lora_alpha 16"),
                             ("lora_dropout", 0.05, "--lora_dropout 0.05")):
        p = site.params[key]
        assert p.value == value and p.path == str(shell) and p.via is None
        assert lines[p.span.line - 1].strip().startswith(flag)
    assert site.base_model.value == "Qwen/Qwen3.5-0.8B" and site.base_model.path == str(shell)
    # `--target_modules all` makes the script call find_all_linear_names(model): unknown
    assert site.params["target_modules"].value is UNKNOWN
    # written in the training script: that file is its place
    task = site.params["task_type"]
    assert task.value == "CAUSAL_LM" and task.path.endswith(script)
    assert (r / script).read_text().splitlines()[task.span.line - 1].strip().startswith("task_type=")
    # the shell script's findings depend on the training script's bytes (the results cache)
    with depends.recording() as record:
        shell_sites(shell)
    assert any(key[0] == "file" and key[1].endswith(script) for key in record.deps)


def test_flags_not_given_keep_the_scripts_default_and_findings_on_them_are_in_the_script(tmp_path):
    r = repo(tmp_path, {"train.py": ARGPARSE, "run.sh": "python train.py --lora_r 64 --no-rslora\n"})
    (site,) = shell_sites(r / "run.sh")
    assert (site.value("r"), site.params["r"].path) == (64, str(r / "run.sh"))
    alpha = site.params["lora_alpha"]
    assert (alpha.value, alpha.via, Path(alpha.path).name, alpha.span.line) == (16, "the default of --lora_alpha",
                                                                                 "train.py", 6)
    assert site.value("use_rslora") is False  # --no-rslora of a BooleanOptionalAction
    assert site.value("target_modules") == ["q_proj", "v_proj"]
    assert site.base_model is None or site.base_model.value == "Qwen/Qwen2.5-0.5B"
    # r=64 with the default alpha=16 and no rsLoRA: LL101, at the command's --lora_r
    (ll101,) = [f for f in findings(r / "run.sh") if f.code == "LL101"]
    assert ll101.path == str(r / "run.sh") and ll101.span.line == 1 and "16/64" in ll101.message
    assert ll101.fix is None


def test_a_default_the_command_keeps_is_reported_in_the_script(tmp_path):
    script = ARGPARSE.replace('default=["q_proj", "v_proj"]', 'default=["q_proj", "v_proj", "q_proj"]')
    r = repo(tmp_path, {"train.py": script, "run.sh": "python train.py --lora_r 16\n"})
    (site,) = shell_sites(r / "run.sh")
    targets = site.params["target_modules"]
    assert Path(targets.path).name == "train.py" and targets.span.line == 8
    assert all(Path(i.path).name == "train.py" for i in targets.items)


def test_argparse_rules_for_the_words_of_a_command(tmp_path):
    r = repo(tmp_path, {"train.py": ARGPARSE, "run.sh": (
        "python train.py --lora_al 32 --targets q_proj k_proj v_proj --lora_r=4 --lora_r 12 --rslora\n"
        "python train.py --lora_r 4 $EXTRA --lora_alpha 8\n"
        "python train.py --lora_r=$R --bogus 3\n")})
    a, b, c = shell_sites(r / "run.sh")
    # a unique prefix is the option (allow_abbrev), nargs="+" takes every word, the last one wins
    assert (a.value("lora_alpha"), a.value("target_modules"), a.value("r"), a.value("use_rslora")) == (
        32, ["q_proj", "k_proj", "v_proj"], 12, True)
    # an unknown word may give any flag: those not given after it are unknown
    assert (b.value("r"), b.value("lora_dropout"), b.value("lora_alpha")) == (UNKNOWN, UNKNOWN, 8)
    # --flag=$UNKNOWN: that flag only; an option the script does not define changes nothing
    assert (c.value("r"), c.value("lora_alpha")) == (UNKNOWN, 16)


HF = '''\
from dataclasses import dataclass, field
from transformers import HfArgumentParser, TrainingArguments
from peft import LoraConfig

@dataclass
class Args:
    use_peft: bool = field(default=False)
    lora_r: int = field(default=8)
    keep_bias: bool = field(default=True)

args, training_args = HfArgumentParser((Args, TrainingArguments)).parse_args_into_dataclasses()
if args.use_peft:
    config = LoraConfig(r=args.lora_r, bias="all" if args.keep_bias else "none")
'''


def test_hfargumentparser_switches(tmp_path):
    r = repo(tmp_path, {"train.py": HF, "run.sh": (
        "python train.py --use_peft --lora-r 32 --no_keep_bias --bf16\n"
        "python train.py --use_peft false --lora_r=$R --keep-bias no\n")})
    a, b = shell_sites(r / "run.sh")  # (a LoraConfig under an `if` is a site, as in the script alone)
    # --lora-r is the field's dashed spelling; --no_keep_bias is transformers' complement of a True bool
    assert (a.value("r"), a.value("bias")) == (32, "none")
    assert (b.value("r"), b.value("bias")) == (UNKNOWN, "none")  # string_to_bool("no") is False


def test_a_script_elsewhere_or_without_flags_is_read_by_its_flag_names(tmp_path):
    r = repo(tmp_path, {"plain.py": "import sys\nfrom peft import LoraConfig\nLoraConfig(r=int(sys.argv[1]))\n",
                        "run.sh": "python plain.py --lora_r 8\npython missing.py --lora_r 8\n"})
    a, b = shell_sites(r / "run.sh")
    assert a.dialect.name == b.dialect.name == "script"


def test_a_model_flag_for_a_class_of_another_module_names_the_model(tmp_path):
    # Vicuna-LoRA's train_lora.py (wild corpus) reads model_args from FastChat's ModelArguments:
    # the script alone cannot say which model it loads; its launch script's flag does.
    r = repo(tmp_path, {})
    shutil.copy(WILD / "shell" / "chengzl18__Vicuna-LoRA__train-lora.sh", r / "train_lora.sh")
    shutil.copy(WILD / "indirect" / "chengzl18__Vicuna-LoRA__train-lora-py.py", r / "train_lora.py")
    (site,) = shell_sites(r / "train_lora.sh")
    assert site.dialect.name == "peft" and site.base_model.value == "lmsys/vicuna-7b-v1.3"
    assert (site.value("r"), site.value("lora_alpha"), site.value("lora_dropout")) == (8, 16, 0.05)
    targets = site.params["target_modules"]  # not on the command line: LoraArguments' default
    assert targets.value == ["q_proj", "v_proj"] and targets.via == "the default of --lora_target_modules"


def test_a_module_run_with_python_m_is_its_file(tmp_path):
    r = repo(tmp_path, {"training/sft.py": ARGPARSE, "run.sh": "accelerate launch -m training.sft --lora_r 32\n"
                                                              "python -m training --lora_r 32\n"})
    a, b = shell_sites(r / "run.sh")
    assert (a.dialect.name, a.value("r"), a.value("lora_alpha")) == ("peft", 32, 16)
    assert b.dialect.name == "script"  # a package's __main__.py: read by the flag names
