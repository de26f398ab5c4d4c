"""The programs of a shell script that start LoRA fine-tunes, each read as its program reads
its command line, and the site each command is in its program's dialect.

* ``swift sft|pt|rlhf`` (ms-swift; ``swift/cli/main.py``): a leading ``x.yaml``/``x.json`` becomes
  flags in front of the others (``parse_yaml_args``), then ``HfArgumentParser`` reads them
  (``swift/utils/utils.py:177-186``): the last of a flag wins, list fields take every word up to
  the next option, a boolean flag alone is true, an unknown flag stops it (``remaining_argv``).
  ``tuner_type`` (v4; ``train_type`` in v3) defaults to lora.
* ``llamafactory-cli train`` / ``lmf train`` (LLaMA-Factory ``hparams/parser.py:read_args``): with
  a first argument ending in ``.yaml``/``.yml``/``.json``, the rest are OmegaConf ``key=value``
  overrides (a value read as YAML; an argument without ``=`` is a key of its own, which the
  parser refuses); otherwise ``HfArgumentParser`` flags. The old ``python src/train_bash.py`` /
  ``train_sft.py`` (LLaMA-Factory before 0.6, ChatGLM-Efficient-Tuning) take the same flags but
  had other defaults, which lora-lint does not replay: their sites leave unset fields unknown.
* ``trl sft|dpo|...`` (``trl/scripts/utils.py:TrlParser``): ``--config x.yaml`` gives defaults,
  flags override them; LoRA needs ``--use_peft``.
* axolotl: ``axolotl train x.yml [--lora-r 32]`` (click options named with dashes) and
  ``[accelerate launch|python|torchrun|deepspeed] -m axolotl.cli.train x.yml [--lora_r=32]``
  (``fire``, ``cli/config.py:load_cfg``: a flag overrides the YAML's key).
* ``tune run <recipe> --config <file> key=value ...`` (torchtune ``config/_parse.py``): OmegaConf
  dotted overrides, ``~key`` removes one. A built-in config name is not a file lora-lint has.
* A Python training script of the repository (``python train.py --lora_r 64``, through
  ``torchrun``, ``deepspeed``, ``accelerate launch``) that defines its flags where lora-lint
  reads them (argparse, ``HfArgumentParser``, ``fire``) and builds a LoRA config it can see: read
  by the Python reader with the command's flags in place of their defaults (``shell_python``).
* Any other program given well-known LoRA flags (``python train.py --lora_r 64``, through
  ``torchrun``, ``deepspeed``, ``accelerate launch``, ``python -m``, ``sh x.sh``): the ``script``
  dialect, which reads only ``--lora_r``/``--lora_rank``, ``--lora_alpha``, ``--lora_dropout``
  and ``--lora_target_modules``/``--target_modules``/``--lora_target``, takes nothing else about
  the script for granted (its other fields and defaults are unknown: the site is open) and
  never calls a flag unknown.

A configuration file named on the command line is read when it is in the repository (beside
the script, or from the repository's root), safely (PyYAML composition); its values join the
site as they are written there, located at the word naming the file (the file's own notes and
unknown keys are reported in the file itself). Base models come from the program's model flag
(``--model``, ``--model_name_or_path``, ``--base_model``, ``--model_id``...), else from a
``tune download``, ``huggingface-cli download`` or ``hf download`` line in the same script: the
one whose ``--local-dir``/``--output-dir`` is the path the command names, or the only one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, NamedTuple

from ..depends import is_file
from ..dialect import Dialect
from ..model import UNKNOWN, LoraSite, Note, Param, Span
from ..source_file import Kind, SourceFile, repository_root
from .shell_commands import Call, Download, Option, parse_flags, python_file, recognise, unwrap
from .shell_lex import Command, Field
from .shell_python import sites as script_sites

# -- the dialect of a script lora-lint cannot read ------------------------------------------------

#: Flag names so common in training scripts that they mean the LoraConfig field they name.
SCRIPT_KEYMAP = {
    "lora_r": "r",
    "lora_rank": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_target_modules": "target_modules",
    "target_modules": "target_modules",
    "lora_target": "target_modules",
}
#: Flags that switch a script's LoRA on (or off, given a false value).
SCRIPT_SWITCHES = ("use_peft", "use_lora", "lora_enable", "train_lora", "peft", "lora", "enable_lora", "q_lora",
                   "qlora")
#: Flags naming the base model, the preferred first.
MODEL_FLAGS = ("model", "model_name_or_path", "base_model", "model_id", "model_id_or_path",
               "pretrained_model_name_or_path", "model_path", "model_name", "model_key")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]*[\w]")


@lru_cache(maxsize=1)
def script_dialect() -> Dialect:
    """The record of the ``script`` dialect (made on first use: the dialects package imports
    PyYAML). It can set only what its flags name, and decides nothing else: its sites are open."""
    from ..dialects._base import framework

    return framework(
        "script", SCRIPT_KEYMAP, settable=set(SCRIPT_KEYMAP.values()), known=set(SCRIPT_SWITCHES),
        what="a well-known LoRA flag", passer="the training script",
        decided=frozenset(SCRIPT_KEYMAP.values()) | frozenset({"init_lora_weights"}),
    )


# -- the sites -----------------------------------------------------------------------------------

def sites(source: SourceFile, commands: list[Command]) -> list[LoraSite]:
    downloads = _downloads(commands)
    out: list[LoraSite] = []
    for command in commands:
        call = recognise(command)
        if call is None:
            continue
        call.downloads = downloads
        for site in BUILDERS[call.program](source, call):
            out.append(_by_path(source, _orphans(source, call, site), downloads))
    return _only_download(source, out, downloads)


def _span(source: SourceFile, at: tuple[int, int]) -> Span:
    return source.span(*at)


# -- nodes for the YAML dialects ------------------------------------------------------------------

def _mark(source: SourceFile, offset: int):
    from yaml.error import Mark

    line, col = source.position(offset)
    return Mark(source.path, offset, line - 1, col - 1, None, None)


def _resolve(text: str) -> str:
    """The YAML 1.1 tag of a plain scalar ``text`` (what OmegaConf and the dialects read)."""
    from yaml.resolver import Resolver

    from .yaml_nodes import EXP_NUMBER, STD

    if text == "":
        return STD + "str"
    if EXP_NUMBER.fullmatch(text):
        return STD + "float"
    from yaml.nodes import ScalarNode

    return Resolver().resolve(ScalarNode, text, (True, False))


#: Values transformers' ``string_to_bool`` reads (HfArgumentParser's type for a bool field).
TRUE_WORDS = ("yes", "true", "t", "y", "1")
FALSE_WORDS = ("no", "false", "f", "n", "0")


def _scalar(source: SourceFile, f: Field, bools: frozenset[str], key: str):
    from yaml.nodes import ScalarNode

    from .yaml_nodes import STD

    at = f.written
    start, end = _mark(source, at[0]), _mark(source, at[1])
    if not f.known:
        return ScalarNode("!unknown", "", start, end)
    text = f.text
    if key in bools and text.lower() in TRUE_WORDS + FALSE_WORDS:
        return ScalarNode(STD + "bool", "true" if text.lower() in TRUE_WORDS else "false", start, end)
    return ScalarNode(_resolve(text), text, start, end)


def _fire_value(text: str) -> Any:
    """A value as ``fire`` reads a command-line word: a Python literal in which bare names are
    strings (``[q_proj,v_proj]`` is a list, ``16`` an int), else the word itself."""
    import ast

    def convert(n: ast.AST) -> Any:
        if isinstance(n, ast.Constant):
            return n.value
        if isinstance(n, ast.Name):
            return {"True": True, "False": False, "None": None}.get(n.id, n.id)
        if isinstance(n, (ast.List, ast.Tuple)):
            return [convert(e) for e in n.elts]
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub) and isinstance(n.operand, ast.Constant) \
                and isinstance(n.operand.value, (int, float)):
            return -n.operand.value
        raise ValueError(n)

    try:
        return convert(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return text


def _yaml_value(text: str, start, end):
    """A ``key=[a, b]`` override's value as OmegaConf reads it (YAML), marked at the word."""
    import yaml

    from .yaml_nodes import Loader

    if len(text) > 10_000:
        return None
    try:
        node = yaml.compose(text, Loader=Loader)
    except (yaml.YAMLError, RecursionError):
        return None
    return None if node is None else _remarked(node, start, end, [2_000])


def _python_node(value: Any, start, end):
    """The YAML node of a Python value (what ``yaml.safe_load`` would have given)."""
    from yaml.nodes import ScalarNode, SequenceNode

    from .yaml_nodes import STD

    if isinstance(value, bool):
        return ScalarNode(STD + "bool", "true" if value else "false", start, end)
    if value is None:
        return ScalarNode(STD + "null", "null", start, end)
    if isinstance(value, int):
        return ScalarNode(STD + "int", str(value), start, end)
    if isinstance(value, float):
        return ScalarNode(STD + "float", repr(value), start, end)
    if isinstance(value, str):
        return ScalarNode(STD + "str", value, start, end)
    if isinstance(value, list):
        return SequenceNode(STD + "seq", [_python_node(v, start, end) for v in value], start, end, flow_style=True)
    return ScalarNode("!unknown", "", start, end)


def _value_node(source: SourceFile, o: Option, lists: frozenset[str], bools: frozenset[str], fire: bool = False):
    from yaml.nodes import ScalarNode, SequenceNode

    from .yaml_nodes import STD

    if fire and len(o.values) == 1 and o.values[0].known:
        at = o.values[0].written
        return _python_node(_fire_value(o.values[0].text), _mark(source, at[0]), _mark(source, at[1]))
    if o.kv and o.values[0].known and o.values[0].text.lstrip()[:1] in ("[", "{"):
        at = o.values[0].written
        node = _yaml_value(o.values[0].text, _mark(source, at[0]), _mark(source, at[1]))
        if node is not None:
            return node
    if not o.values:
        at = o.key_at
        return ScalarNode(STD + "bool", "true", _mark(source, at[1]), _mark(source, at[1]))
    if o.key in lists:
        items = [_scalar(source, v, bools, o.key) for v in o.values]
        first, last = o.values[0].written, o.values[-1].written
        return SequenceNode(STD + "seq", items, _mark(source, first[0]), _mark(source, last[1]), flow_style=True)
    return _scalar(source, o.values[0], bools, o.key)


def _key_node(source: SourceFile, key: str, at: tuple[int, int]):
    from yaml.nodes import ScalarNode

    from .yaml_nodes import STD

    return ScalarNode(STD + "str", key, _mark(source, at[0]), _mark(source, at[1]))


class Tree:
    """A configuration being put together: the framework's YAML (its nodes marked at the word
    naming it) with the command line's settings on top, as nested key -> (key node, value node)."""

    def __init__(self):
        self.entries: dict[str, tuple[Any, Any]] = {}

    def set(self, path: list[str], key_node, value_node) -> None:
        from yaml.nodes import MappingNode

        if len(path) == 1:
            self.entries.pop(path[0], None)
            self.entries[path[0]] = (key_node, value_node)
            return
        head = path[0]
        sub = self.entries.get(head)
        child = Tree()
        if sub is not None and isinstance(sub[1], MappingNode):
            for k, v in sub[1].value:
                child.entries[getattr(k, "value", "")] = (k, v)
        elif isinstance(sub, tuple) and isinstance(sub[1], Tree):
            child = sub[1]
        child.set(path[1:], key_node, value_node)
        self.entries[head] = (sub[0] if sub is not None else key_node, child)

    def remove(self, path: list[str]) -> None:
        if len(path) == 1:
            self.entries.pop(path[0], None)
            return
        sub = self.entries.get(path[0])
        if sub is not None and isinstance(sub[1], Tree):
            sub[1].remove(path[1:])

    def node(self, start, end):
        from yaml.nodes import MappingNode

        from .yaml_nodes import STD

        pairs = []
        for k, v in self.entries.values():
            pairs.append((k, v.node(k.start_mark, k.end_mark) if isinstance(v, Tree) else v))
        return MappingNode(STD + "map", pairs, start, end, flow_style=True)


def _remarked(node, start, end, budget: list[int]):
    """A copy of a YAML node tree with every mark at ``start``/``end`` (the word naming its file)."""
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    budget[0] -= 1
    if budget[0] < 0:
        return ScalarNode("!unknown", "", start, end)
    if isinstance(node, ScalarNode):
        return ScalarNode(node.tag, node.value, start, end, node.style)
    if isinstance(node, SequenceNode):
        return SequenceNode(node.tag, [_remarked(n, start, end, budget) for n in node.value], start, end, True)
    if isinstance(node, MappingNode):
        return MappingNode(node.tag, [(_remarked(k, start, end, budget), _remarked(v, start, end, budget))
                                      for k, v in node.value], start, end, True)
    return ScalarNode("!unknown", "", start, end)


@dataclass
class Loaded:
    """A configuration file named on a command line, read: its top-level pairs (remarked)."""

    pairs: list[tuple[Any, Any]] = field(default_factory=list)
    at: tuple[int, int] = (0, 0)
    read: bool = False


def _load_config(source: SourceFile, f: Field | None) -> Loaded | None:
    """The YAML/JSON file ``f`` names, when it is in the repository; None when none is named."""
    if f is None:
        return None
    loaded = Loaded(at=(f.start, f.end))
    path = _find(source.path, f.text) if f.known else None
    if path is None:
        return loaded
    from ..bounded_read import read_regular_file
    from ..source_file import decode
    from .yaml_nodes import Budget, ParseError, compose, flatten

    try:
        data, _ = read_regular_file(path, 1_000_000)
    except OSError:
        return loaded
    other = decode(data, path)
    if not isinstance(other, SourceFile):
        return loaded
    try:
        if other.kind is Kind.JSON:
            from .json_nodes import compose as compose_json

            roots = compose_json(other)
        else:
            roots = compose(other)
    except ParseError:
        return loaded
    from yaml.nodes import MappingNode

    if not roots or not isinstance(roots[0], MappingNode):
        return loaded
    start, end = _mark(source, f.start), _mark(source, f.end)
    budget = [50_000]
    loaded.pairs = [(_remarked(k, start, end, budget), _remarked(v, start, end, budget))
                    for k, v in flatten(roots[0], Budget())]
    loaded.read = True
    return loaded


def _find(script: str, name: str) -> str | None:
    """The file a command names, relative to the script's directory or the repository's root;
    only inside the repository (or the script's directory when there is none), and only when
    the places it could be agree."""
    if not name or script in ("", "-") or not is_file(script):
        return None
    here = os.path.dirname(os.path.abspath(script))
    root = repository_root(here) or here
    if os.path.isabs(name):
        candidates = [name]
    else:
        candidates = [os.path.join(here, name), os.path.join(root, name)]
    found = {os.path.realpath(c) for c in candidates if is_file(c)}
    if len(found) != 1:
        return None
    path = found.pop()
    inside = os.path.realpath(root)
    return path if os.path.commonpath([path, inside]) == inside else None


# -- building a site through a YAML dialect -------------------------------------------------------

class Program(NamedTuple):
    """How a framework reads its command line: its dialect module, the flags that take lists,
    the boolean fields (``string_to_bool``), and flag spellings (``dash``: ``--lora-r``)."""

    dialect: Callable[[], Any]
    lists: frozenset[str] = frozenset()
    bools: frozenset[str] = frozenset()
    dash: bool = False
    #: ``key=value`` arguments (OmegaConf dotlist) instead of flags, when a config file is named.
    dotlist_with_config: bool = False
    dotlist: bool = False
    #: Values read by ``fire`` (Python literals, bare names as strings).
    fire: bool = False
    #: argparse options of the program that a LoRA-looking flag may abbreviate (argparse takes a
    #: unique prefix of an option for the option: ``--lora_r`` is ``--lora_rank``).
    abbreviates: frozenset[str] = frozenset()


def _dialect(name: str):
    def load():
        import importlib

        return importlib.import_module(f"..dialects.{name}", __package__)
    return load


HF_BOOLS = frozenset({"use_rslora", "use_dora", "do_train", "use_peft", "load_in_4bit", "load_in_8bit",
                      "freeze_vision_tower", "freeze_multi_modal_projector", "freeze_language_model", "pissa_init",
                      "create_new_adapter", "resize_vocab", "use_llama_pro", "freeze_llm", "freeze_vit",
                      "freeze_aligner", "lora_target_linear", "use_galore", "use_apollo", "use_badam"})
#: The options whose names hold lora, target, adapter, rslora, dora... (ms-swift v4.5.2
#: ``swift/arguments/``, LLaMA-Factory v0.9.5 ``src/llamafactory/hparams/``, TRL v1.9.0
#: ``trl/trainer/model_config.py``): every option a LoRA-looking flag can abbreviate.
SWIFT_OPTIONS = frozenset(
    "adalora_init_r adalora_orth_reg_weight adalora_target_r adalora_tfinal adalora_tinit adapter_act "
    "adapter_length adapters init_weights lora_alpha lora_bias lora_dropout lora_dtype lora_ga_batch_size "
    "lora_ga_direction lora_ga_iters lora_ga_max_length lora_ga_scale lora_ga_stable_gamma lora_rank "
    "lorap_lr_ratio mcore_adapter merge_lora modules_to_save ref_adapters reward_adapters target_modules "
    "target_parameters target_regex teacher_adapters tuner_backend tuner_type use_dora use_rslora "
    "use_swift_lora vllm_enable_lora vllm_max_lora_rank".split())
LF_OPTIONS = frozenset(
    "adapter_folder adapter_name_or_path additional_target apollo_target create_new_adapter finetuning_type "
    "galore_target kt_lora_expert_intermediate_size kt_lora_expert_num kt_use_lora_experts lora_alpha "
    "lora_dropout lora_rank lora_target loraplus_lr_embedding loraplus_lr_ratio oft_target pissa_convert "
    "pissa_init pissa_iter ppo_target ref_model_adapters reward_model_adapters sglang_lora_backend use_dora "
    "use_rslora vllm_max_lora_rank".split())
TRL_OPTIONS = frozenset(
    "lora_alpha lora_dropout lora_modules_to_save lora_r lora_target_modules lora_target_parameters "
    "lora_task_type use_dora use_peft use_rslora".split())
PROGRAMS = {
    "ms-swift": Program(_dialect("ms_swift"), lists=frozenset({"target_modules", "modules_to_save",
                                                               "target_parameters"}), bools=HF_BOOLS,
                        abbreviates=SWIFT_OPTIONS),
    "llama-factory": Program(_dialect("llama_factory"), bools=HF_BOOLS, dotlist_with_config=True,
                             abbreviates=LF_OPTIONS),
    "llama-factory-old": Program(_dialect("llama_factory"), bools=HF_BOOLS, abbreviates=LF_OPTIONS),
    "trl": Program(_dialect("trl"), lists=frozenset({"lora_target_modules", "lora_modules_to_save",
                                                     "lora_target_parameters"}), bools=HF_BOOLS,
                   abbreviates=TRL_OPTIONS),
    "axolotl": Program(_dialect("axolotl"), fire=True),
    "axolotl-click": Program(_dialect("axolotl"), dash=True),
    "torchtune": Program(_dialect("torchtune"), dotlist=True),
}


def _options(source: SourceFile, call: Call, prog: Program, module) -> tuple[list[Option], list[Field]]:
    if prog.dotlist or (prog.dotlist_with_config and call.config is not None):
        return _dotlist(call.args)
    options, rest = parse_flags(call.args, prog.lists, prog.dash)
    if prog.abbreviates:
        options = _abbreviations(options, prog.abbreviates, set(module.KEYMAP) | set(module.KNOWN))
    return options, rest


def _abbreviations(options: list[Option], names: frozenset[str], older: set[str]) -> list[Option]:
    """argparse's ``allow_abbrev``: a flag that is a unique prefix of an option of the version
    replayed (``names``) is that option; a prefix of several stops the program ("ambiguous
    option"), and is left out (nothing is said). ``older``: names the dialect also knows."""
    out = []
    for o in options:
        if o.key in names or o.key in older:
            out.append(o)
            continue
        matches = [n for n in names if n.startswith(o.key)]
        if len(matches) == 1:
            out.append(o._replace(key=matches[0]))
        elif not matches:
            out.append(o)
    return out


def _dotlist(args: list[Field]) -> tuple[list[Option], list[Field]]:
    """OmegaConf's ``from_dotlist``: ``key=value`` (the value read as YAML), and a word without
    ``=`` as a key of its own with no value."""
    options = []
    for f in args:
        if not f.known:
            continue
        key, eq, value = f.text.partition("=")
        if not eq:
            options.append(Option(key, (f.start, f.end), [Field("null", f.start, f.end)], kv=True))
            continue
        key_end = f.start + len(key) if f.at == (f.start, f.end) else f.end
        v_at = (f.at[0] + len(key) + 1, f.at[1]) if f.at is not None and f.at[1] - f.at[0] == len(f.text) else None
        options.append(Option(key, (f.start, key_end), [Field(value, f.start, f.end, v_at)], kv=True))
    return options, []


def _framework_sites(source: SourceFile, call: Call) -> list[LoraSite]:
    from .yaml_nodes import Budget, Doc

    prog = PROGRAMS[call.program]
    module = prog.dialect()
    loaded = _load_config(source, call.config)
    options, _ = _options(source, call, prog, module)
    tree = Tree()
    if loaded is not None:
        for k, v in loaded.pairs:
            tree.entries[getattr(k, "value", "")] = (k, v)
    for o in options:
        key = o.key
        if o.kv and key.startswith("~"):
            tree.remove(key[1:].split("."))
            continue
        path = key.split(".") if o.kv else (key.split("__") if call.program == "axolotl" else [key])
        tree.set(path, _key_node(source, path[-1], o.key_at), _value_node(source, o, prog.lists, prog.bools, prog.fire))
    if call.program == "ms-swift" and not any(k in tree.entries for k in ("tuner_type", "train_type", "sft_type")):
        # LoRA is ms-swift's default (``tuner_type``, v3 ``train_type``): the site is the command
        tree.set(["tuner_type"], _key_node(source, "tuner_type", call.head),
                 _scalar(source, Field("lora", *call.head, call.head), frozenset(), "tuner_type"))
    unread = loaded is not None and not loaded.read
    if unread:
        # what the file sets is unknown: LoRA is as the command line says, the switch unknown
        if not any(_lora_flag("--" + o.key) for o in options):
            return []
        switch = SWITCH_KEYS.get(call.program)
        if switch is not None and switch not in tree.entries:
            tree.set([switch], _key_node(source, switch, loaded.at),
                     _scalar(source, Field(UNKNOWN, *loaded.at), frozenset(), switch))
    head = call.head
    root = tree.node(_mark(source, head[0]), _mark(source, head[1]))
    doc = Doc(source, root, Budget())
    if doc.top is None:
        return []
    if call.program == "torchtune" and not module.detect(doc):
        return []  # a built-in config (not a file here) or a full fine-tune
    found = module.sites(doc)
    if call.program == "torchtune":  # its model is the one downloaded into its checkpoint_dir
        checkpointer = doc.top.sub("checkpointer")
        directory = checkpointer.value("checkpoint_dir") if checkpointer is not None else None
        found = [_downloaded(source, s, call.downloads, directory) for s in found]
    filed = _span(source, loaded.at) if loaded is not None else None
    no_defaults = unread or call.program == "llama-factory-old"
    found = [_settle(s, _span(source, head), filed, no_defaults) for s in found]
    if prog.abbreviates:  # options the program has, which its dialect's record does not list
        found = [replace(s, unknown_keys=tuple((p, h) for p, h in s.unknown_keys if p.key not in prog.abbreviates))
                 for s in found]
    return found


#: The key that switches LoRA on, per program, when a configuration file may set it.
SWITCH_KEYS = {"ms-swift": "tuner_type", "llama-factory": "finetuning_type", "trl": "use_peft",
               "axolotl": "adapter", "axolotl-click": "adapter"}


def _settle(site: LoraSite, head: Span, filed: Span | None, no_defaults: bool) -> LoraSite:
    """A site built from a command line. What the program supplies itself (ms-swift's LoRA
    switch) is implicit, at the words naming the program; what the named file sets is as
    written there, located at the word naming the file, and the file's own problems (its notes,
    its unknown keys) are reported in the file itself. With ``no_defaults`` (a version whose
    defaults are not replayed, or a file that could not be read) the framework's defaults are
    dropped and the site is open."""
    def own(p: Param) -> Param:
        if p.span == head and not p.implicit:
            return replace(p, implicit=True, items=tuple(replace(i, implicit=True) for i in p.items))
        return p

    params = {k: own(p) for k, p in site.params.items()}
    if no_defaults:
        params = {k: p for k, p in params.items() if not p.implicit or k == "task_type"}
    notes = tuple(n for n in site.notes if n.where.span != filed)
    unknown = tuple((p, s) for p, s in site.unknown_keys if p.span != filed)
    dialect = site.dialect
    if no_defaults:
        dialect = replace(dialect, defaults={}, decided=frozenset(site.dialect.keymap.values()) | dialect.decided)
    return replace(site, params=params, notes=notes, unknown_keys=unknown, dialect=dialect,
                   open=site.open or no_defaults)


# -- a training script: read (``shell_python``), else by well-known flag names -----------------

def _script_sites(source: SourceFile, call: Call) -> list[LoraSite]:
    options, _ = parse_flags(call.args, frozenset(SCRIPT_KEYMAP) | frozenset({"lora_modules"}))
    by_key: dict[str, Option] = {}
    for o in options:
        by_key[o.key] = o  # argparse: the last one wins
    if call.script is not None and python_file(Field(call.script, 0, 0)):
        real = _find(source.path, call.script)
        read = script_sites(source, call.head, real, call.args) if real is not None else None
        if read is not None:  # the script of the repository, read with this command line
            # the script's model, else the command's model flag (the script loads it from a class
            # of another module: ``model_args.model_name_or_path``)
            model = _model(source, by_key)
            return [s if model is None or (s.base_model is not None and s.base_model.known) else
                    replace(s, base_model=model) for s in read]
    switch = next((by_key[k] for k in SCRIPT_SWITCHES if k in by_key), None)
    settings = [by_key[k] for k in SCRIPT_KEYMAP if k in by_key]
    if not settings and (switch is None or switch.key in ("q_lora", "qlora")):
        return []
    if switch is not None and switch.values and switch.values[0].known and \
            switch.values[0].text.lower() in FALSE_WORDS:
        return []  # LoRA switched off: the script trains without it
    dialect = script_dialect()
    params: dict[str, Param] = {}
    for key, fieldname in SCRIPT_KEYMAP.items():
        o = by_key.get(key)
        if o is None or fieldname in params:
            continue
        p = _script_param(source, o, fieldname)
        if p is not None:
            params[fieldname] = p
    context = {}
    if switch is not None:
        context["adapter"] = _script_param(source, switch, "") or Param(switch.key, True, _span(source, switch.key_at))
    return [LoraSite(path=source.path, dialect=dialect, span=_span(source, call.head), params=params, open=True,
                     context=context, base_model=_model(source, by_key))]


def _script_param(source: SourceFile, o: Option, fieldname: str) -> Param | None:
    key_span = _span(source, o.key_at)
    if not o.values:
        return Param(o.key, True, key_span)
    if fieldname == "target_modules":
        return _script_targets(source, o)
    f = o.values[0]
    value: Any = UNKNOWN
    if f.known:
        value = _typed(f.text)
    return Param(o.key, value, _span(source, f.written))


def _typed(text: str) -> Any:
    """A flag's text as the number or boolean it spells (argparse's ``type=int``/``float``)."""
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


#: Target values a training script decides itself (``all`` is a script's own keyword).
SCRIPT_KEYWORDS = re.compile(r"^(all|all[-_]linear|linear|none|auto|default|attn|attention|mlp|qkv|full)$", re.I)
PLAIN_NAME = re.compile(r"[A-Za-z_][\w.]*")


def _script_targets(source: SourceFile, o: Option) -> Param:
    """Module names as a script takes them: several words, a comma-joined word, or fire's
    ``[q_proj,v_proj]``; a keyword such as ``all``, a pattern or anything unknown is UNKNOWN
    (what the script makes of it is its own code)."""
    items: list[Param] = []
    whole = _span(source, (o.values[0].written[0], o.values[-1].written[1]))
    for f in o.values:
        if not f.known:
            return Param(o.key, UNKNOWN, whole)
        text = f.text.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        at = f.written
        raw = source.text[at[0]:at[1]]
        offset = raw.find(text) if f.at is not None and text else -1
        pos = 0
        for piece in text.split(","):
            name = piece.strip().strip("'\"")
            if not name:
                pos += len(piece) + 1
                continue
            if not PLAIN_NAME.fullmatch(name) or SCRIPT_KEYWORDS.match(name):
                return Param(o.key, UNKNOWN, whole)
            if offset >= 0:
                s = at[0] + offset + pos + piece.find(name)
                sp = _span(source, (s, s + len(name)))
            else:
                sp = _span(source, at)
            items.append(Param(o.key, name, sp))
            pos += len(piece) + 1
    if not items:
        return Param(o.key, UNKNOWN, whole)
    return Param(o.key, [i.value for i in items], whole, tuple(items))


def _model(source: SourceFile, by_key: dict[str, Option]) -> Param | None:
    for key in MODEL_FLAGS:
        o = by_key.get(key)
        if o is None or not o.values or not o.values[0].known:
            continue
        text = o.values[0].text
        if not text or (key in ("model_name", "model_key", "model") and not HUB_ID.fullmatch(text)):
            continue
        return Param(o.key, text, _span(source, o.values[0].written))
    return None


BUILDERS: dict[str, Callable[[SourceFile, Call], list[LoraSite]]] = {
    **{name: _framework_sites for name in PROGRAMS},
    "script": _script_sites,
}


# -- lines cut off by a comment or a missing backslash ----------------------------------------------

def _orphans(source: SourceFile, call: Call, site: LoraSite) -> LoraSite:
    """LL010 for LoRA flags on lines that never reach the program: a commented-out line inside the
    continuation (or a line without its backslash) ended the command, and bash runs the next
    lines as a command of their own."""
    if not call.command.orphans:
        return site
    notes = list(site.notes)
    program = source.text[call.head[0]:call.head[1]]
    end_line = source.position(call.command.end)[0]
    why = (f"the comment on line {source.position(call.command.cut)[0]} ends it (bash continues no line "
           "through a comment)") if call.command.cut is not None else (
        f"line {end_line} does not end with a backslash")
    for orphan in call.command.orphans:
        flags = [f for f in orphan if f.known and f.text.startswith("--") and _lora_flag(f.text)]
        if not flags:
            continue
        named = ", ".join(f"`{f.text.split('=')[0]}`" for f in flags)
        first = flags[0]
        where = Param(first.text.lstrip("-").split("=")[0], UNKNOWN, _span(source, (first.start, first.end)))
        notes.append(Note("LL010", where, (
            f"{named} {'is' if len(flags) == 1 else 'are'} never passed to `{program}`: the command ends on line "
            f"{end_line}, since {why}, and bash runs these lines as a command of their own; move the "
            "commented-out lines out of the command (or add the backslash)")))
    return replace(site, notes=tuple(notes))


def _lora_flag(text: str) -> bool:
    name = text.lstrip("-").split("=")[0].replace("-", "_").lower()
    return "lora" in name or name in ("target_modules", "finetuning_type", "use_peft", "train_type", "tuner_type",
                                      "modules_to_save", "use_rslora", "use_dora")


# -- models downloaded by the script --------------------------------------------------------------------


def _downloads(commands: list[Command]) -> list[Download]:
    """``tune download ID``, ``huggingface-cli download ID``, ``hf download ID`` (and where to)."""
    out = []
    for c in commands:
        argv = [f for f in unwrap(list(c.argv))]
        if len(argv) < 3 or not all(f.known for f in argv[:3]):
            continue
        prog = os.path.basename(argv[0].text)
        if (prog, argv[1].text) not in (("tune", "download"), ("huggingface-cli", "download"), ("hf", "download")):
            continue
        repo = argv[2]
        if not HUB_ID.fullmatch(repo.text):
            continue
        directory = None
        for i, f in enumerate(argv[3:], 3):
            if f.known and f.text in ("--local-dir", "--output-dir", "--local_dir", "--output_dir") and \
                    i + 1 < len(argv) and argv[i + 1].known:
                directory = argv[i + 1].text
            elif f.known and f.text.startswith(("--local-dir=", "--output-dir=")):
                directory = f.text.split("=", 1)[1]
        out.append(Download(repo.text, repo.written, directory))
    return out


def _by_path(source: SourceFile, site: LoraSite, downloads: list[Download], path: Any = None) -> LoraSite:
    """The model downloaded into the directory a site loads its model from (its model flag, or
    torchtune's ``checkpointer.checkpoint_dir``)."""
    written = site.base_model.value if site.base_model is not None and site.base_model.known else path
    if not downloads or not isinstance(written, str) or (site.base_model is not None and HUB_ID.fullmatch(
            written) and not written.startswith((".", "/", "~"))):
        return site
    want = os.path.normpath(written)
    chosen = next((d for d in downloads if d.directory and os.path.normpath(d.directory) == want), None)
    if chosen is None:
        return site
    return replace(site, base_model=Param("download", chosen.repo, _span(source, chosen.at)))


def _downloaded(source: SourceFile, site: LoraSite, downloads: list[Download], directory: Any) -> LoraSite:
    """A torchtune site's model: the one downloaded into its checkpoint directory, else the one
    its builder names (the builder gives the architecture; the checkpoint is what is loaded)."""
    if site.base_model is not None and site.base_model.key != "_component_":
        return site
    chosen = _by_path(source, replace(site, base_model=None), downloads, directory)
    return chosen if chosen.base_model is not None else site


def _only_download(source: SourceFile, sites: list[LoraSite], downloads: list[Download]) -> list[LoraSite]:
    """A script that downloads one model and trains one adapter without naming its model trains
    that model."""
    repos = {d.repo for d in downloads}
    if len(repos) != 1 or len(sites) != 1 or sites[0].base_model is not None:
        return sites
    return [replace(sites[0], base_model=Param("download", downloads[0].repo, _span(source, downloads[0].at)))]
