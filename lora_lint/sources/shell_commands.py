"""The commands of a shell script that may start a LoRA fine-tune, recognised as the programs
that run them read their command lines: which program (swift, llamafactory-cli, trl, axolotl,
tune, a Python training script through its launchers), its arguments as options
(``parse_flags``), and the configuration file it names. ``shell_programs`` turns a recognised
``Call`` into its sites.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from ..model import UNKNOWN
from ..source_file import Kind, kind_of, module_file
from .shell_lex import Command, Field
from .shell_python import is_option


class Download(NamedTuple):
    repo: str
    at: tuple[int, int]
    directory: str | None



# -- arguments ---------------------------------------------------------------------------------

class Option(NamedTuple):
    """One setting given on a command line: ``key`` as the program names it, where the key is
    written, and its values (none for a flag alone)."""

    key: str
    key_at: tuple[int, int]
    values: list[Field]
    kv: bool = False  # ``key=value`` (a YAML value), not a flag


@dataclass
class Call:
    """A command recognised as a program: what it is and what it was given."""

    program: str
    command: Command
    #: The words naming the program (``swift sft``): the site's span when nothing else is.
    head: tuple[int, int]
    args: list[Field]
    config: Field | None = None
    #: The training script's path as written (``train.py``), for a program lora-lint has no
    #: dialect for.
    script: str | None = None
    #: The models the script downloads (``tune download``, ``hf download``...).
    downloads: list[Download] = field(default_factory=list)


def _word(f: Field) -> tuple[int, int]:
    return (f.start, f.end)


def parse_flags(args: list[Field], lists: frozenset[str] = frozenset(), dash: bool = False) -> tuple[
        list[Option], list[Field]]:
    """argparse's reading of ``--key value``, ``--key=value``, ``--key`` and list flags: a flag
    takes the words up to the next option (a list flag all of them, another the first; one alone
    is a boolean). Returns the options and the words that are no flag's (positionals)."""
    options: list[Option] = []
    rest: list[Field] = []
    i = 0
    while i < len(args):
        f = args[i]
        if not f.known and f.prefix.startswith("--") and "=" in f.prefix:  # ``--key=$UNKNOWN``
            name = f.prefix[2:].split("=", 1)[0]
            name = name.replace("-", "_") if dash else name
            options.append(Option(name, (f.start, f.start + 2 + len(name)), [Field(UNKNOWN, f.start, f.end)]))
            i += 1
            continue
        if not f.known or not f.text.startswith("--") or f.text == "--":
            rest.append(f)
            i += 1
            continue
        name, eq, value = f.text[2:].partition("=")
        plain = f.at is not None and f.at[1] - f.at[0] == len(f.text)  # written as it is
        key_at = (f.at[0], f.at[0] + 2 + len(name)) if plain and eq else (f.start, f.end)
        if dash:
            name = name.replace("-", "_")
            if name.startswith("no_") and not eq:  # click's ``--no-flag``
                options.append(Option(name[3:], key_at, [Field("false", f.start, f.end)]))
                i += 1
                continue
        if eq:
            v_at = (key_at[1] + 1, f.at[1]) if plain else None
            options.append(Option(name, key_at, [Field(value, f.start, f.end, v_at)]))
            i += 1
            continue
        values = []
        j = i + 1
        while j < len(args) and not is_option(args[j]):
            values.append(args[j])
            j += 1
        if name not in lists and len(values) > 1:
            rest.extend(values[1:])
            values = values[:1]
        options.append(Option(name, _word(f), values))
        i = j
    return options, rest


# -- recognising programs ------------------------------------------------------------------------

#: Commands that run the rest of their arguments as a command.
WRAPPERS = {"nohup": 0, "time": 0, "exec": 0, "command": 0, "builtin": 0, "stdbuf": 0, "setsid": 0,
            "caffeinate": 0, "srun": 0, "nice": 0, "sudo": 0, "env": 0, "taskset": 1, "timeout": 1, "numactl": 0,
            "xvfb-run": 0}
#: Programs that are never a training run themselves.
UTILITIES = frozenset({
    "echo", "printf", "cat", "grep", "egrep", "sed", "awk", "test", "[", "[[", "export", "declare", "local",
    "typeset", "readonly", "unset", "read", "set", "shift", "cd", "pushd", "popd", "mkdir", "rm", "cp", "mv", "ln",
    "ls", "touch", "chmod", "chown", "tee", "head", "tail", "wc", "sort", "uniq", "cut", "tr", "xargs", "find",
    "wget", "curl", "git", "pip", "pip3", "conda", "source", ".", "eval", "exit", "return", "true", "false",
    "sleep", "wait", "kill", "trap", "date", "basename", "dirname", "realpath", "readlink", "seq", "jq", "yq",
    "nvidia-smi", "ps", "tar", "unzip", "zip", "rsync", "scp", "ssh", "hf", "huggingface-cli", "modelscope",
    "let", "alias", "shopt", "getopts", "mapfile", "readarray", "logger", "du", "df", "free", "which", "type",
})
PYTHON = re.compile(r"(?:.*/)?(?:python|pypy)[0-9.]*(?:w)?$")
#: Launcher options that take no value.
NO_VALUE = {
    "python": {"-u", "-B", "-O", "-OO", "-s", "-S", "-E", "-I", "-b", "-bb", "-d", "-q", "-v", "-x", "-P", "-i"},
    "torchrun": {"--standalone", "--no_python", "--no-python", "--run_path", "--run-path", "-m", "--module"},
    "deepspeed": {"--no_python", "--no_local_rank", "--force_multi", "--elastic_training", "--bind_cores_to_rank",
                  "--save_pid", "--enable_each_rank_log", "--module", "--no_ssh_check", "--no_ssh"},
    "accelerate": {"--cpu", "--multi_gpu", "--tpu", "--use_deepspeed", "--use_fsdp", "--use_megatron_lm",
                   "--use_xpu", "-m", "--module", "--no_python", "--debug", "-q", "--quiet", "--same_network",
                   "--tpu_use_cluster", "--tpu_use_sudo", "--downcast_bf16", "--dynamo_use_fullgraph",
                   "--dynamo_use_dynamic", "--enable_cpu_affinity", "--monitor_interval"},
}
AXOLOTL_MODULES = ("axolotl.cli.train", "axolotl.cli.train.py")
TRL_COMMANDS = frozenset({"sft", "dpo", "grpo", "kto", "reward", "rloo", "orpo", "ppo", "gkd", "xpo", "nash_md",
                          "online_dpo", "bco", "cpo", "prm"})
SWIFT_COMMANDS = frozenset({"sft", "pt", "rlhf"})
CONFIG_KINDS = (Kind.YAML, Kind.JSON)


def _config_file(f: Field, kinds=CONFIG_KINDS) -> bool:
    """A word naming a configuration file (by its kind: YAML or JSON)."""
    return f.known and kind_of(f.text) in kinds


def python_file(f: Field) -> bool:
    return f.known and kind_of(f.text) is Kind.PYTHON


def recognise(command: Command) -> Call | None:
    argv = list(command.argv)
    argv = unwrap(argv)
    if not argv or not argv[0].known:
        return None
    name = os.path.basename(argv[0].text)
    head = (argv[0].start, argv[0].end)
    if name == "swift" and len(argv) > 1 and argv[1].known and argv[1].text.replace("_", "-") in SWIFT_COMMANDS:
        return _with_config(Call("ms-swift", command, (head[0], argv[1].end), argv[2:]), first=True)
    if name in ("llamafactory-cli", "lmf") and len(argv) > 1 and argv[1].text == "train":
        return _with_config(Call("llama-factory", command, (head[0], argv[1].end), argv[2:]), first=True)
    if name == "trl" and len(argv) > 1 and argv[1].text in TRL_COMMANDS:
        return _with_config(Call("trl", command, (head[0], argv[1].end), argv[2:]), flag="config")
    if name == "axolotl" and len(argv) > 1 and argv[1].text in ("train", "fine-tune", "finetune"):
        return _with_config(Call("axolotl-click", command, (head[0], argv[1].end), argv[2:]), first=True)
    if name == "tune" and len(argv) > 1 and argv[1].text == "run":
        return _tune(command, argv, head)
    if name in UTILITIES or name in WRAPPERS:
        return None
    launched = _launched(argv)
    if launched is None:
        return None
    kind, target, args = launched
    if kind == "module":
        if target.text in AXOLOTL_MODULES:
            return _with_config(Call("axolotl", command, (head[0], target.end), args), first=True)
        if target.text == "llamafactory.cli" and args and args[0].text == "train":
            return _with_config(Call("llama-factory", command, (head[0], args[0].end), args[1:]), first=True)
        module = target.text if target.known and re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", target.text) else None
        # ``python -m training.sft`` runs training/sft.py (a package's __main__ is left to the flag names)
        return Call("script", command, (head[0], target.end), args,
                    script=module_file(module) if module is not None else None)
    if kind == "script" and target.known:
        path = target.text
        base = os.path.basename(path)
        if path.endswith("scripts/finetune.py") and args and _config_file(args[0], (Kind.YAML,)):
            return _with_config(Call("axolotl", command, (head[0], target.end), args), first=True)
        if base in ("train_bash.py", "train_sft.py", "train_pt.py", "train_rm.py", "train_ppo.py", "train_dpo.py",
                    "train_web.py") and any(f.known and f.text.startswith("--finetuning_type") for f in args):
            return Call("llama-factory-old", command, (head[0], target.end), args)
        return Call("script", command, (head[0], target.end), args, script=path)
    return Call("script", command, (head[0], target.end), args)


def unwrap(argv: list[Field]) -> list[Field]:
    """The command that wrappers (``nohup``, ``env VAR=x``, ``time``...) run."""
    for _ in range(8):
        if not argv or not argv[0].known:
            return argv
        name = os.path.basename(argv[0].text)
        if name not in WRAPPERS:
            return argv
        i = 1
        while i < len(argv) and argv[i].known and (
                argv[i].text.startswith("-") or (name == "env" and re.match(r"[A-Za-z_]\w*=", argv[i].text))):
            i += 1
        i += WRAPPERS[name]
        argv = argv[i:]
    return argv


def _launched(argv: list[Field]) -> tuple[str, Field, list[Field]] | None:
    """What a launcher runs: ``("script", path, args)``, ``("module", name, args)``, or
    ``("program", name, args)`` for an executable given flags directly."""
    name = os.path.basename(argv[0].text)
    if PYTHON.match(argv[0].text):
        if len(argv) > 2 and argv[1].text == "-m" and argv[2].text in ("torch.distributed.run",
                                                                       "torch.distributed.launch"):
            return _launcher_target(argv[3:], "torchrun")
        return _launcher_target(argv[1:], "python")
    if name == "torchrun":
        return _launcher_target(argv[1:], "torchrun")
    if name == "deepspeed":
        return _launcher_target(argv[1:], "deepspeed")
    if name == "accelerate" and len(argv) > 1 and argv[1].text == "launch":
        return _launcher_target(argv[2:], "accelerate")
    if name in ("sh", "bash", "zsh", "dash") and len(argv) > 1 and not (argv[1].known and argv[1].text.startswith("-")):
        return ("script", argv[1], argv[2:])
    if not name.startswith("-"):
        return ("program", argv[0], argv[1:])
    return None


def _launcher_target(args: list[Field], launcher: str) -> tuple[str, Field, list[Field]] | None:
    flags = NO_VALUE[launcher]
    i = 0
    while i < len(args):
        f = args[i]
        if not f.known:
            i += 1  # an unknown word among the launcher's options: taken as one of them
            continue
        t = f.text
        if t in ("-m", "--module") and launcher in ("python", "accelerate") and i + 1 < len(args):
            return ("module", args[i + 1], args[i + 2:])
        if launcher == "python" and t == "-c":
            return None
        if t.startswith("-") and t != "-":
            if t in ("-m", "--module") and launcher in ("torchrun", "deepspeed") and i + 1 < len(args):
                return ("module", args[i + 1], args[i + 2:])
            if "=" in t or t in flags or (launcher == "python" and re.fullmatch(r"-[uBOsSEIbdqvxPi]+", t)):
                i += 1
            elif i + 1 < len(args) and python_file(args[i + 1]):
                i += 1  # a flag alone: the next word is the script
            else:
                i += 2
            continue
        return ("script", f, args[i + 1:])
    return None


def _with_config(call: Call, first: bool = False, flag: str | None = None) -> Call:
    args = call.args
    if first and args and _config_file(args[0]):
        call.config = args[0]
        call.args = args[1:]
    elif flag is not None:
        for i, f in enumerate(args):
            if f.known and f.text == f"--{flag}" and i + 1 < len(args):
                call.config = args[i + 1]
                call.args = args[:i] + args[i + 2:]
                break
            if f.known and f.text.startswith(f"--{flag}="):
                v = f.text.split("=", 1)[1]
                call.config = Field(v, f.start, f.end)
                call.args = args[:i] + args[i + 1:]
                break
    return call


def _tune(command: Command, argv: list[Field], head) -> Call | None:
    rest = argv[2:]
    i = 0
    while i < len(rest) and rest[i].known and rest[i].text.startswith("-"):  # torchrun options
        t = rest[i].text
        i += 1 if ("=" in t or t in NO_VALUE["torchrun"]) else 2
    if i >= len(rest) or not rest[i].known:
        return None
    recipe = rest[i]
    if "lora" not in recipe.text.lower():
        return None
    call = Call("torchtune", command, (head[0], recipe.end), rest[i + 1:])
    return _with_config(call, flag="config")


