"""LoRA settings that reach LoraConfig indirectly: splatted dicts, command-line defaults (argparse,
HfArgumentParser dataclasses, fire), the file's own functions and classes, TRL's and peft's
get_peft_config, saved adapters, and YAML/JSON files the script reads. A value that may be set
elsewhere is marked as a default; a value that depends on run-time data is UNKNOWN."""

import textwrap
from pathlib import Path

import pytest
from conftest import source

from lora_lint import depends
from lora_lint.model import UNKNOWN
from lora_lint.pipeline import lint_file, lint_paths, lint_text
from lora_lint.settings import Settings
from lora_lint.sources import python
from lora_lint.sources.python_flags import CommandLine, Given


def all_sites(src, path="train.py", command_line=None):
    return python.sites(source(path, textwrap.dedent(src)), command_line)


def one(src, path="train.py", command_line=None):
    found = all_sites(src, path, command_line)
    assert len(found) == 1, found
    return found[0]


def value(site, key):
    p = site.params.get(key)
    return UNKNOWN if p is None else p.value


# -- dicts splatted into LoraConfig ------------------------------------------------------------

def test_kwargs_from_a_literal_dict_are_the_sites_keywords():
    site = one("""
        from peft import LoraConfig
        cfg = {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "v_proj"]}
        LoraConfig(**cfg)
    """)
    assert not site.open
    assert value(site, "r") == 16 and value(site, "target_modules") == ["q_proj", "v_proj"]
    assert [p.value for p in site.params["target_modules"].items] == ["q_proj", "v_proj"]
    assert site.params["r"].span.line == 3  # where the entry is written


def test_kwargs_from_dict_calls_and_merges():
    site = one("""
        from peft import LoraConfig
        base = dict(r=8, lora_dropout=0.1)
        LoraConfig(**{**base, "r": 4}, lora_alpha=16)
    """)
    assert value(site, "r") == 4 and value(site, "lora_dropout") == 0.1 and value(site, "lora_alpha") == 16


def test_a_misspelt_key_in_a_splatted_dict_is_ll001():
    found = lint_text("t.py", "from peft import LoraConfig\ncfg = {'r': 8, 'lora_dropuot': 0.1}\nLoraConfig(**cfg)\n")
    assert [(f.code, f.span.line, f.fix) for f in found if f.code == "LL001"] == [("LL001", 2, None)]


def test_straight_line_updates_are_replayed():
    site = one("""
        from peft import LoraConfig
        cfg = {"r": 8}
        cfg["lora_alpha"] = 16
        cfg.update(r=32, lora_dropout=0.05)
        cfg.update({"bias": "none"})
        del cfg["lora_dropout"]
        LoraConfig(**cfg)
        cfg["r"] = 4  # after the call: it does not change what the call got
    """)
    assert value(site, "r") == 32 and value(site, "lora_alpha") == 16 and value(site, "bias") == "none"
    assert "lora_dropout" not in site.params and not site.open


@pytest.mark.parametrize("change", [
    "if flag:\n    cfg['r'] = 4",  # maybe
    "for _ in range(2):\n    cfg['r'] = 4",
    "tweak(cfg)",  # handed to a function that may change it
    "other = cfg\nother['r'] = 4",  # through an alias
    "cfg['lora'] = {}\ncfg['lora']['r'] = 4",  # deeper than one level
])
def test_changes_that_cannot_be_followed_make_the_dict_unknown(change):
    body = textwrap.indent(change, "    ")
    site = one(f"from peft import LoraConfig\ndef f(flag, tweak):\n    cfg = {{'r': 8}}\n{body}\n"
               "    return LoraConfig(**cfg)\n")
    assert site.open or value(site, "r") is UNKNOWN


def test_a_target_list_changed_after_it_is_written_is_followed_or_unknown():
    # Before: the list was read as written, and LL201 said 'query_key_value' matches nothing.
    src = ("from peft import LoraConfig\nfrom transformers import AutoModelForCausalLM\n"
           "m = AutoModelForCausalLM.from_pretrained('Qwen/Qwen2.5-0.5B')\n"
           "targets = ['query_key_value']\ntargets[0] = 'q_proj'\ntargets.append('v_proj')\n"
           "LoraConfig(target_modules=targets)\n")
    assert value(one(src), "target_modules") == ["q_proj", "v_proj"]
    assert [f.code for f in lint_text("t.py", src)] == []
    src = src.replace("targets[0] = 'q_proj'\n", "if m:\n    targets[0] = 'q_proj'\n")
    assert value(one(src), "target_modules") is UNKNOWN


def test_reads_and_later_uses_do_not_make_it_unknown():
    site = one("""
        import json
        from peft import LoraConfig
        def build(log):
            cfg = {"r": 8, "target_modules": ["q_proj"]}
            print(cfg, len(cfg), json.dumps(cfg))
            show(cfg)
            config = LoraConfig(**cfg, lora_alpha=cfg["r"] * 2)
            save(cfg)
            return config
        def show(c):
            print(c["r"])
    """)
    assert value(site, "r") == 8 and value(site, "lora_alpha") == 16


# -- argparse -----------------------------------------------------------------------------------

ARGPARSE = """
import argparse
from peft import LoraConfig
from transformers import AutoModelForCausalLM

def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name_or_path", default="Qwen/Qwen2.5-0.5B")
    group = parser.add_argument_group("lora")
    group.add_argument("--lora-r", "-r", type=int, default="64")
    group.add_argument("--lora_alpha", type=float, default=16)
    parser.add_argument("--targets", nargs="+", default=["q_proj", "v_proj"])
    parser.add_argument("--rslora", action="store_true")
    parser.add_argument("--dropout", type=float, required=True)
    parser.add_argument("--bias")
    return parser.parse_args()

def main():
    args = parse_args()
    model = AutoModelForCausalLM.from_pretrained(args.model_name_or_path)
    config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, target_modules=args.targets,
                        use_rslora=args.rslora, lora_dropout=args.dropout, bias=args.bias)

if __name__ == "__main__":
    main()
"""


def test_argparse_defaults_are_the_values_and_say_so():
    site = one(ARGPARSE)
    r = site.params["r"]
    assert r.value == 64 and r.via == "the default of --lora-r"  # type=int applied to the string default
    assert r.span.line == 10  # where the default is written
    assert value(site, "lora_alpha") == 16 and value(site, "target_modules") == ["q_proj", "v_proj"]
    assert value(site, "use_rslora") is False
    assert value(site, "lora_dropout") is UNKNOWN  # required: always given on the command line
    assert value(site, "bias") is UNKNOWN  # no default: meant to be given
    assert site.base_model.value == "Qwen/Qwen2.5-0.5B"
    assert site.base_model.via == "the default of --model_name_or_path"


def test_messages_mark_defaults_and_such_findings_have_no_fix():
    found = lint_text("t.py", ARGPARSE, Settings(select=["LL101"]))
    assert [(f.code, f.span.line) for f in found] == [("LL101", 10)]
    assert found[0].message.startswith("r=64 (the default of --lora-r) without use_rslora")
    assert found[0].fix is None


def test_a_command_line_gives_flags_their_values():
    line = CommandLine({"-r": Given(("8",), python.Span(3, 20, 3, 21), "run.sh"),
                        "--rslora": Given((), python.Span(3, 22, 3, 30), "run.sh")})
    site = one(ARGPARSE, command_line=line)
    assert site.params["r"].value == 8 and site.params["r"].path == "run.sh" and site.params["r"].via is None
    assert value(site, "use_rslora") is True
    flags = python.script_flags(source("train.py", ARGPARSE))
    assert flags.by_option("-r").dest == "lora_r" and flags.by_option("--lora-r").takes_value
    assert not flags.by_option("--rslora").takes_value and flags.by_dest("targets").nargs == "+"


@pytest.mark.parametrize("extra", [
    "args.lora_r = 8",  # changed after parsing
    "setattr(args, name, 8)",  # an attribute we cannot name
    "vars(args).update(overrides)",
    "parser.set_defaults(lora_r=8)",
])
def test_namespaces_changed_by_the_file_are_not_believed(extra):
    src = f"""
import argparse
from peft import LoraConfig
parser = argparse.ArgumentParser()
parser.add_argument("--lora_r", type=int, default=64)
args = parser.parse_args()
{extra}
LoraConfig(r=args.lora_r)
"""
    assert value(one(src), "r") is UNKNOWN


def test_parse_args_of_a_list_and_custom_types_are_unknown():
    src = """
import argparse
from peft import LoraConfig
p = argparse.ArgumentParser()
p.add_argument("--r", type=lambda s: int(s) * 2, default="4")
p.add_argument("--alpha", type=int, default=8)
a = p.parse_args(["--alpha", "16"])
LoraConfig(r=p.parse_args().r, lora_alpha=a.alpha)
"""
    site = one(src)
    assert value(site, "r") is UNKNOWN and value(site, "lora_alpha") is UNKNOWN


def test_helper_functions_that_add_arguments_are_followed():
    site = one("""
        import argparse
        from peft import LoraConfig
        def add_lora_args(parser):
            parser.add_argument("--lora_r", type=int, default=32)
        parser = argparse.ArgumentParser()
        add_lora_args(parser)
        args, _ = parser.parse_known_args()
        LoraConfig(r=args.lora_r)
    """)
    assert value(site, "r") == 32


# -- HfArgumentParser and dataclasses ------------------------------------------------------------

HF = """
import os, sys
from dataclasses import dataclass, field
from typing import List, Optional
import transformers
from transformers import HfArgumentParser, TrainingArguments
from peft import LoraConfig

@dataclass
class ModelArguments:
    model_name_or_path: Optional[str] = field(default="Qwen/Qwen2.5-0.5B")

@dataclass
class LoraArguments:
    lora_r: int = 64
    lora_alpha: int = field(default=16, metadata={"help": "alpha"})
    lora_target_modules: List[str] = field(default_factory=lambda: ["q_proj", "v_proj"])

@dataclass
class MyTrainingArguments(TrainingArguments):
    lora_dropout: float = field(default=0.05)

def main():
    parser = HfArgumentParser((ModelArguments, LoraArguments, MyTrainingArguments))
    if len(sys.argv) == 2 and sys.argv[1].endswith(".json"):
        model_args, lora_args, training_args = parser.parse_json_file(json_file=os.path.abspath(sys.argv[1]))
    else:
        model_args, lora_args, training_args = parser.parse_args_into_dataclasses()
    model = transformers.AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path)
    config = LoraConfig(r=lora_args.lora_r, lora_alpha=lora_args.lora_alpha,
                        target_modules=lora_args.lora_target_modules, lora_dropout=training_args.lora_dropout,
                        bias=training_args.lora_bias)
"""


def test_hf_argument_parser_fields_are_flags_with_defaults():
    site = one(HF)
    assert value(site, "r") == 64 and site.params["r"].via == "the default of --lora_r"
    assert value(site, "lora_alpha") == 16 and value(site, "target_modules") == ["q_proj", "v_proj"]
    assert value(site, "lora_dropout") == 0.05  # a field of a TrainingArguments subclass
    assert value(site, "bias") is UNKNOWN  # not a field the file shows: TrainingArguments' own?
    assert site.base_model.value == "Qwen/Qwen2.5-0.5B"
    flags = python.script_flags(source("train.py", HF))
    assert flags.by_option("--lora-r").dest == "lora_r" and flags.by_option("--lora_target_modules").nargs == "+"
    line = CommandLine({"--lora-r": Given(("8",), python.Span(1, 1, 1, 2), "run.sh")})
    assert one(HF, command_line=line).params["r"].value == 8


def test_a_field_set_by_post_init_is_unknown():
    src = HF.replace('    lora_r: int = 64\n', '    lora_r: int = 64\n    def __post_init__(self):\n'
                     '        self.lora_r = self.lora_r * 2\n')
    assert value(one(src), "r") is UNKNOWN


def test_dataclass_pydantic_and_attrs_instances():
    site = one("""
        from dataclasses import dataclass
        import attr
        from pydantic import BaseModel, Field
        from peft import LoraConfig
        @dataclass
        class A:
            r: int = 8
            alpha: int = 16
        class B(BaseModel):
            dropout: float = Field(0.1)
        @attr.s
        class C:
            targets = attr.ib(factory=list)
        a = A(alpha=32)
        LoraConfig(r=a.r, lora_alpha=a.alpha, lora_dropout=B().dropout, target_modules=C().targets)
    """)
    assert value(site, "r") == 8 and site.params["r"].via is None  # a default that nothing overrides
    assert value(site, "lora_alpha") == 32 and value(site, "lora_dropout") == 0.1
    assert value(site, "target_modules") == []


# -- functions ------------------------------------------------------------------------------------

def test_a_function_that_returns_a_config_binds_its_parameters_from_the_call():
    site = one("""
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM
        def make(r, alpha=32, targets=("q_proj",)):
            return LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets))
        model = AutoModelForCausalLM.from_pretrained("Qwen/Qwen2.5-0.5B")
        other = AutoModelForCausalLM.from_pretrained("Qwen/Qwen3-0.6B")
        model = get_peft_model(model, make(16))
    """)
    assert value(site, "r") == 16 and value(site, "lora_alpha") == 32 and value(site, "target_modules") == ["q_proj"]
    assert site.params["r"].via is None and site.base_model.value == "Qwen/Qwen2.5-0.5B"


def test_calls_that_disagree_make_a_parameter_unknown():
    site = one("""
        from peft import LoraConfig
        def make(r):
            return LoraConfig(r=r)
        a, b = make(8), make(16)
    """)
    assert value(site, "r") is UNKNOWN


def test_a_function_the_file_never_calls_has_unknown_parameters():
    """Another module calls it, with arguments we do not see: its defaults are not the values (a
    real-users' module defines apply_lora(model, r=32) and a script elsewhere calls it)."""
    site = one("""
        from peft import LoraConfig
        def apply_lora(model, r=32, lora_alpha=64):
            return LoraConfig(r=r, lora_alpha=lora_alpha)
    """)
    assert value(site, "r") is UNKNOWN and value(site, "lora_alpha") is UNKNOWN
    called = one("""
        from peft import LoraConfig
        def apply_lora(model, r=32, lora_alpha=64):
            return LoraConfig(r=r, lora_alpha=lora_alpha)
        apply_lora(None)
    """)
    assert value(called, "r") == 32


def test_fire_runs_a_function_with_its_defaults_as_flags():
    src = """
        import fire
        from peft import LoraConfig
        def train(lora_r: int = 8, lora_alpha: int = 16):
            LoraConfig(r=lora_r, lora_alpha=lora_alpha)
        if __name__ == "__main__":
            fire.Fire(train)
    """
    site = one(src)
    assert value(site, "r") == 8 and site.params["r"].via == "the default of --lora_r"
    line = CommandLine({"--lora-r": Given(("64",), python.Span(1, 1, 1, 2), "run.sh")})
    assert one(src, command_line=line).params["r"].value == 64


def test_a_function_handed_around_is_not_bound_from_its_calls():
    site = one("""
        from peft import LoraConfig
        def make(r=8):
            return LoraConfig(r=r)
        make(16)
        register(make)
    """)
    assert value(site, "r") is UNKNOWN


# -- get_peft_config, saved adapters --------------------------------------------------------------

def test_peft_get_peft_config_of_a_lora_dict():
    site = one("""
        from peft import get_peft_config
        get_peft_config({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 8, "target_modules": ["q_proj"]})
    """)
    assert site.dialect.name == "peft" and value(site, "r") == 8 and not site.open
    assert all_sites("from peft import get_peft_config\nget_peft_config({'peft_type': 'PREFIX_TUNING'})\n") == []
    assert all_sites("from peft import get_peft_config\nget_peft_config(cfg)\n") == []


def test_trl_get_peft_config_needs_use_peft():
    src = """
        from transformers import HfArgumentParser
        from trl import ModelConfig, SFTConfig, get_peft_config
        parser = HfArgumentParser((SFTConfig, ModelConfig))
        training_args, model_args = parser.parse_args_into_dataclasses()
        peft_config = get_peft_config(model_args)
    """
    site = one(src)
    assert site.dialect.name == "trl" and not site.active  # use_peft is False unless given
    line = CommandLine({"--use_peft": Given((), python.Span(1, 1, 1, 2), "run.sh"),
                        "--lora_r": Given(("64",), python.Span(1, 3, 1, 5), "run.sh")})
    site = one(src, command_line=line)
    assert site.active and value(site, "r") == 64 and value(site, "lora_alpha") == 32
    assert site.params["lora_alpha"].via == "TRL's default of --lora_alpha"


# -- files of the repository ------------------------------------------------------------------------

def repo(tmp_path, files):
    (tmp_path / ".git").mkdir()
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


CFG = """
lora:
  r: 2048
  lora_alpha: 16
  target_modules: [q_proj, v_proj]
  lora_dropuot: 0.1  # a typo
model: Qwen/Qwen2.5-0.5B
"""


def test_a_yaml_file_the_script_reads_flows_into_the_site(tmp_path):
    root = repo(tmp_path, {"configs/lora.yaml": CFG, "scripts/train.py": """
        import yaml
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM
        with open("configs/lora.yaml") as f:
            cfg = yaml.safe_load(f)
        model = AutoModelForCausalLM.from_pretrained(cfg["model"])
        config = LoraConfig(**cfg["lora"])
    """})
    script = str(root / "scripts" / "train.py")
    site = python.sites(source(script, (root / "scripts" / "train.py").read_text()))[0]
    yaml_path = str(root / "configs" / "lora.yaml")
    assert site.params["r"].value == 2048 and site.params["r"].path == yaml_path
    assert site.params["r"].span.line == 3 and site.base_model.value == "Qwen/Qwen2.5-0.5B"
    assert [p.key for p, _ in site.unknown_keys] == ["lora_dropuot"]
    with depends.recording() as record:  # the script's findings depend on the YAML's bytes
        python.sites(source(script, (root / "scripts" / "train.py").read_text()))
    assert any(key[0] == "file" and key[1].endswith("configs/lora.yaml") for key in record.deps)
    found = lint_file(script, Settings(select=["LL001", "LL102", "LL105"]))
    assert sorted((f.code, f.path, f.span.line) for f in found) == [
        ("LL001", yaml_path, 6), ("LL102", yaml_path, 3), ("LL105", yaml_path, 3)]
    assert all(f.fix is None for f in found)


def test_a_suppression_comment_in_the_yaml_file_applies(tmp_path):
    root = repo(tmp_path, {"lora.yaml": CFG.replace("r: 2048", "r: 2048  # lora-lint: ignore[LL102]"),
                           "train.py": "import yaml\nfrom peft import LoraConfig\n"
                                       "LoraConfig(**yaml.safe_load(open('lora.yaml'))['lora'])\n"})
    found = lint_file(str(root / "train.py"), Settings(select=["LL001", "LL102"]))
    assert [f.code for f in found] == ["LL001"]


def test_a_finding_in_a_file_also_linted_is_given_once(tmp_path):
    root = repo(tmp_path, {"lora.yaml": "peft_config:\n  peft_type: LORA\n  r: 2048\n",
                           "train.py": "import yaml\nfrom peft import get_peft_config\n"
                                       "get_peft_config(yaml.safe_load(open('lora.yaml'))['peft_config'])\n"})
    alone = lint_paths([str(root / "train.py")], Settings(select=["LL102"]))
    both = lint_paths([str(root)], Settings(select=["LL102"]))
    assert [(f.code, f.span.line) for f in alone] == [("LL102", 3)]
    assert len([f for f in both if f.code == "LL102"]) == len({(f.path, f.span) for f in both if f.code == "LL102"})


@pytest.mark.parametrize("how", [
    "from omegaconf import OmegaConf\ncfg = OmegaConf.load('configs/lora.yaml')\nr = cfg.lora.r\n",
    "import json, yaml\ncfg = yaml.safe_load(open('configs/lora.yaml').read())\nr = cfg.get('lora', {}).get('r', 8)\n",
    "import os, yaml\nHERE = os.path.dirname(__file__)\n"
    "cfg = yaml.safe_load(open(os.path.join(HERE, '..', 'configs', 'lora.yaml')))\nr = cfg['lora']['r']\n",
    "from pathlib import Path\nimport yaml\ncfg = yaml.safe_load((Path(__file__).parent.parent / 'configs/lora.yaml').read_text())\n"
    "r = cfg['lora']['r']\n",
    "import argparse, yaml\np = argparse.ArgumentParser()\np.add_argument('--config', default='configs/lora.yaml')\n"
    "cfg = yaml.safe_load(open(p.parse_args().config))\nr = cfg['lora']['r']\n",
])
def test_the_ways_scripts_name_and_read_a_config_file(tmp_path, how):
    root = repo(tmp_path, {"configs/lora.yaml": CFG, "scripts/train.py": how + "from peft import LoraConfig\n"
                           "LoraConfig(r=r)\n"})
    site = python.sites(source(str(root / "scripts/train.py"), (root / "scripts/train.py").read_text()))[0]
    assert site.params["r"].value == 2048 and site.params["r"].path.endswith("lora.yaml")


@pytest.mark.parametrize("files,script", [
    ({}, "cfg = yaml.safe_load(open('configs/lora.yaml'))"),  # not in the repository
    ({"configs/lora.yaml": CFG}, "cfg = yaml.safe_load(open('/etc/lora.yaml'))"),  # absolute
    ({"configs/lora.yaml": CFG, "scripts/configs/lora.yaml": CFG}, "cfg = yaml.safe_load(open('configs/lora.yaml'))"),
    ({"configs/lora.yaml": CFG}, "cfg = yaml.safe_load(open(path))"),  # run-time data
    ({"configs/lora.yaml": CFG}, "cfg = yaml.safe_load(open('configs/lora.yaml'))\nif flag:\n    cfg['lora']['r'] = 8"),
    ({"configs/lora.yaml": CFG}, "cfg = yaml.load(open('configs/lora.yaml'), Loader=MyLoader)"),
    ({"configs/lora.yaml": CFG}, "import json\ncfg = json.load(open('configs/lora.yaml'))"),  # not JSON: it raises
    ({"configs/lora.yaml": CFG + "---\nother: 1\n"}, "cfg = yaml.safe_load(open('configs/lora.yaml'))"),  # 2 documents
])
def test_files_that_cannot_be_told_are_unknown(tmp_path, files, script):
    root = repo(tmp_path, {**files, "scripts/train.py": f"import yaml\nfrom peft import LoraConfig\n{script}\n"
                           "LoraConfig(r=cfg['lora']['r'])\n"})
    site = python.sites(source(str(root / "scripts/train.py"), (root / "scripts/train.py").read_text()))[0]
    assert site.params["r"].value is UNKNOWN


def test_hf_parser_reads_a_json_file_of_the_repository(tmp_path):
    root = repo(tmp_path, {"cfg.json": '{"lora_r": 96, "model_name_or_path": "Qwen/Qwen2.5-0.5B"}', "train.py": """
        from dataclasses import dataclass
        from transformers import HfArgumentParser, AutoModelForCausalLM
        from peft import LoraConfig
        @dataclass
        class Args:
            lora_r: int = 8
            lora_alpha: int = 16
            model_name_or_path: str = "gpt2"
        (args,) = HfArgumentParser(Args).parse_json_file("cfg.json")
        AutoModelForCausalLM.from_pretrained(args.model_name_or_path)
        LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha)
    """})
    site = python.sites(source(str(root / "train.py"), (root / "train.py").read_text()))[0]
    assert value(site, "r") == 96 and site.params["r"].path.endswith("cfg.json")
    assert value(site, "lora_alpha") == 16 and site.params["lora_alpha"].via is None  # the file decides
    assert site.base_model.value == "Qwen/Qwen2.5-0.5B"


def test_from_pretrained_and_from_json_file_on_a_saved_adapter(tmp_path):
    adapter = '{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"], "future_key": 1}'
    root = repo(tmp_path, {"out/adapter/adapter_config.json": adapter, "train.py": """
        from peft import LoraConfig
        a = LoraConfig.from_pretrained("out/adapter")
        b = LoraConfig(**LoraConfig.from_json_file("out/adapter/adapter_config.json"))
        c = LoraConfig.from_pretrained("someone/adapter-on-the-hub")
    """})
    a, b = python.sites(source(str(root / "train.py"), (root / "train.py").read_text()))
    assert value(a, "r") == 8 and a.params["r"].path.endswith("adapter_config.json") and a.unknown_keys == ()
    assert value(b, "r") == 8 and [p.key for p, _ in b.unknown_keys] == ["future_key"]  # LoraConfig(**d) raises


# -- the wild corpus --------------------------------------------------------------------------------

WILD = Path(__file__).resolve().parents[2] / "shared" / "corpus-wild"
#: Every Python file of ``indirect/`` and every reader of ``homegrown/``, read by hand: its LoRA
#: configurations (one site each: a ``LoraConfig(...)``, Unsloth's ``get_peft_model(...)``, TRL's
#: ``get_peft_config(model_args)``), each as (dialect, active, base model as the file or its
#: flags' defaults name it (None: none named; UNKNOWN: named by run-time data or another
#: module), r as it reaches peft (UNKNOWN when set at run time or in another module)).
#: Not sites: a home-grown class called LoraConfig (formrecap, zenith), a custom LoRA (LeRobot,
#: bert-lora, mistral-finetune), ``LoraConfig.from_pretrained`` of a path given at run time (the
#: merge script), a hydra-instantiated or run-time dict handed to ``get_peft_model`` /
#: ``get_peft_config`` (ll3m, ChatGLM3, GLM-4), deep_training's own PETL arguments.
WILD_SITES = {
    "indirect/2U1__Qwen2-VL-Finetune__train-cls.py": [("peft", True, None, UNKNOWN)],  # fields in src/params.py
    "indirect/DeepkamalGill__safety-conditioned-finetuning__train-lora-py.py": [
        ("peft", True, "Qwen/Qwen2.5-1.5B", 8)],
    "indirect/DiaaEssam__Fine-tuned-arabert-v2-ner-lora__arabert-ner-model.py": [
        ("peft", True, "aubmindlab/bert-base-arabertv2", UNKNOWN)],  # apply_lora is called elsewhere
    "indirect/HyeongminMoon__ChatLLM__train-lora-t5.py": [("peft", True, "facebook/opt-125m", 8)],
    "indirect/Kimiko-AI__LoRa-traingcode__finetune-llama-v2.py": [("peft", True, "EleutherAI/pythia-70m-deduped", 4)],
    "indirect/OpenBMB__MiniCPM-V__finetune-py.py": [("peft", True, "openbmb/MiniCPM-V-2", 64)],
    "indirect/X-PLUG__mPLUG-Owl__owl-pipeline-train.py": [("peft", True, None, 8)],  # mplug_owl's own class
    "indirect/artidoro__qlora__qlora-py.py": [("peft", True, "EleutherAI/pythia-12b", 64)],
    "indirect/avnlp__llm-finetuning__dora-py.py": [("peft", True, UNKNOWN, 8)],  # --model_id is required
    "indirect/bala1802__Phi2__adapter-utils.py": [("peft", True, None, UNKNOWN)],  # values in config.py
    "indirect/bigcode-project__starcoder__starcoder-finetune.py": [("peft", True, "bigcode/large-model", 16)],
    "indirect/chengzl18__Vicuna-LoRA__train-lora-py.py": [("peft", True, UNKNOWN, 8)],  # FastChat's ModelArguments
    "indirect/dataesr__llm-finetuning__causallm-env.py": [("peft", True, UNKNOWN, UNKNOWN)],  # environment
    "indirect/fengredrum__finetune-whisper-lora__finetune-whisper-lora.py": [
        ("peft", True, "openai/whisper-large-v2", 32)],
    "indirect/georgian-io__LLM-Finetuning-Toolkit__mistral-classification.py": [
        ("peft", True, "mistralai/Mistral-7B-v0.1", 8)],
    "indirect/houx15__alpaca-lora__model-py.py": [("peft", True, None, UNKNOWN)],  # self.config
    "indirect/jasonm4130__formrecap-lora-classifier__config-dataclass.py": [],
    "indirect/lxe__simple-llm-finetuner__simple-finetuner-trainer.py": [("peft", True, UNKNOWN, UNKNOWN)],
    "indirect/m4rpg__ruvlm-llava-lora__llava-saiga-train.py": [("peft", True, UNKNOWN, UNKNOWN)],  # YAML not committed
    "indirect/pypi-ahmad__lora-qlora-fine-tuning-app__training-py.py": [
        ("peft", True, None, 16), ("unsloth", True, None, 16)],  # Unsloth through import_module
    "indirect/shibing624__MedicalGPT__ppo-training.py": [("trl", False, None, None)],  # needs --use_peft
    "indirect/shibing624__MedicalGPT__supervised-finetuning.py": [("peft", True, UNKNOWN, 8)],
    "indirect/shibing624__textgen__textgen-gpt-model.py": [("peft", True, None, UNKNOWN), ("peft", True, None, UNKNOWN)],
    "indirect/ymcui__Chinese-LLaMA-Alpaca-2__merge-lora-low-mem.py": [],
    "indirect/ymcui__Chinese-LLaMA-Alpaca-2__run-clm-sft-with-peft.py": [("peft", True, UNKNOWN, 8)],
    "homegrown/Cirrhosis233__11667-NLP2SQL__nl2sql-finetune-reader.py": [
        ("peft", True, "codellama/CodeLlama-7b-Instruct-hf", 16)],  # the dataclasses' defaults
    "homegrown/DiMarcoSK__aya__aya-training-reader.py": [("peft", True, UNKNOWN, UNKNOWN)],
    "homegrown/Inishpy__lerobot-libero__lerobot-train-reader.py": [],
    "homegrown/KU-AGI__FiMR__model-utils-reader.py": [("peft", True, None, UNKNOWN), ("peft", True, None, UNKNOWN)],
    "homegrown/LianjiaTech__BELLE__sft-train-reader.py": [("peft", True, None, UNKNOWN)],
    "homegrown/MangoKiller__MolTC__blip2-opt-reader.py": [("peft", True, None, None), ("peft", True, None, UNKNOWN)],
    "homegrown/ScientiaCapital__unsloth-mcp-server__train-grpo-reader.py": [("unsloth", True, UNKNOWN, UNKNOWN)],
    "homegrown/THUDM__ChatGLM3__finetune-demo-reader.py": [],
    "homegrown/THUDM__GLM-4__finetune-reader.py": [],
    "homegrown/Vision-CAIR__MiniGPT-4__base-model-reader.py": [("peft", True, None, UNKNOWN)],
    "homegrown/avnlp__llm-finetuning__medqa-train-reader.py": [("unsloth", True, UNKNOWN, UNKNOWN)],
    "homegrown/avnlp__llm-finetuning__phi4-grpo-reader.py": [("unsloth", True, "unsloth/Phi-4", 16)],
    "homegrown/cattolatte__zenith-nlp-framework__zenith-train-reader.py": [],
    "homegrown/chenghaoYang__Finetuning_LLM__data-utils-reader.py": [],
    "homegrown/georgesung__llm_qlora__qlora-trainer-reader.py": [("peft", True, None, UNKNOWN)],
    "homegrown/georgian-io__LLM-Finetuning-Toolkit__llmtune-lora-reader.py": [("peft", True, UNKNOWN, None)],
    "homegrown/jasonm4130__formrecap-lora-classifier__modal-app-reader.py": [("peft", True, UNKNOWN, UNKNOWN)],
    "homegrown/kkrishna-labs__forgeML__model-factory-reader.py": [("peft", True, UNKNOWN, UNKNOWN)],
    "homegrown/mariovas3__bert-lora__lit-model-reader.py": [],
    "homegrown/martin-wey__peft-llm-code__utils-reader.py": [("peft", True, None, UNKNOWN)],
    "homegrown/martin503__ll3m__llm-module-reader.py": [],
    "homegrown/mistralai__mistral-finetune__lora-args-reader.py": [],
    "homegrown/mnoumanhanif__multimodal-story-generation-T5-LoRA__t5-story-training-reader.py": [
        ("peft", True, UNKNOWN, UNKNOWN)],  # fine_tune_llm(lora_r=8) is called elsewhere
    "homegrown/shreyashreddyk__json-extraction-qlora-dpo__sft-reader.py": [("peft", True, UNKNOWN, UNKNOWN)],
    "homegrown/techwithsergiu__qwen-qlora-train__model-utils-reader.py": [("unsloth", True, UNKNOWN, UNKNOWN)],
}

needs_wild = pytest.mark.skipif(not WILD.is_dir(), reason="the wild corpus is not next to the repository")


def _summary(site):
    model = None if site.base_model is None else site.base_model.value
    r = site.params.get("r")
    return (site.dialect.name, site.active, model, None if r is None else r.value)


@needs_wild
def test_the_wild_corpus_files_are_all_counted():
    files = {f"{d}/{p.name}" for d in ("indirect", "homegrown") for p in (WILD / d).glob("*.py")}
    assert files == set(WILD_SITES)


@needs_wild
@pytest.mark.parametrize("name", sorted(WILD_SITES))
def test_every_indirect_lora_config_of_the_wild_corpus_is_found(name):
    path = WILD / name
    found = python.sites(source(str(path), path.read_text(encoding="utf-8")))
    assert [_summary(s) for s in found] == WILD_SITES[name]


#: Every finding lora-lint gives on those files, each judged true (LL902 "model-aware rules skipped"
#: and LL905 "model not locked" aside: they say what this machine can resolve, not what the config
#: does):
#: * LL103 (info): r is outside the band the rank-selection guide gives for the task; the rank is
#:   the flag's default, and the message says so.
#: * LL101 (warning): r ≥ 32 without rsLoRA; true of the default (qlora.py: --lora_r 64, α 16; MiniCPM-V: 64/64; whisper: 32/64).
WILD_FINDINGS = [
    ("indirect/DeepkamalGill__safety-conditioned-finetuning__train-lora-py.py", 29, "LL103"),
    ("indirect/Kimiko-AI__LoRa-traingcode__finetune-llama-v2.py", 63, "LL103"),
    ("indirect/OpenBMB__MiniCPM-V__finetune-py.py", 60, "LL101"),
    ("indirect/artidoro__qlora__qlora-py.py", 178, "LL101"),
    ("indirect/avnlp__llm-finetuning__dora-py.py", 254, "LL103"),
    ("indirect/chengzl18__Vicuna-LoRA__train-lora-py.py", 42, "LL103"),
    ("indirect/fengredrum__finetune-whisper-lora__finetune-whisper-lora.py", 68, "LL101"),
    ("indirect/georgian-io__LLM-Finetuning-Toolkit__mistral-classification.py", 122, "LL103"),
    ("indirect/shibing624__MedicalGPT__supervised-finetuning.py", 199, "LL103"),
    ("indirect/ymcui__Chinese-LLaMA-Alpaca-2__run-clm-sft-with-peft.py", 238, "LL103"),
]


@needs_wild
def test_the_findings_on_the_wild_indirect_files_are_the_judged_ones():
    found = lint_paths([str(WILD / name) for name in WILD_SITES], Settings(select=["ALL"]))
    found = [f for f in found if f.code not in ("LL902", "LL905")]
    got = sorted((str(Path(f.path).relative_to(WILD)), f.span.line, f.code) for f in found)
    assert got == WILD_FINDINGS
    assert all("(the default of " in f.message for f in found)


@needs_wild
@pytest.mark.parametrize("name", [
    "indirect/DeepkamalGill__safety-conditioned-finetuning__train-lora-py.py",
    "indirect/Kimiko-AI__LoRa-traingcode__finetune-llama-v2.py",
    "indirect/georgian-io__LLM-Finetuning-Toolkit__mistral-classification.py",
])
def test_the_counts_of_the_resolved_wild_sites_are_peft_s(name):
    """Where the file names a model the catalog has, lora-lint's count of the site is what real
    peft gives for the same settings on that model built on the meta device."""
    import json
    import warnings

    from peft import LoraConfig, get_peft_model

    from lora_lint.models.build import build_model
    from lora_lint.models.catalog import lookup
    from lora_lint.report import as_dict, collect

    path = WILD / name
    (site,) = python.sites(source(str(path), path.read_text(encoding="utf-8")))
    kwargs = {k: p.value for k, p in site.params.items()}
    config = json.loads(lookup(site.base_model.value).path.read_text(encoding="utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(build_model(config, site.model_class), LoraConfig(**kwargs))
    trainable, _ = peft_model.get_nb_trainable_parameters()
    (row,), errors = collect([str(path)], Settings())
    assert errors == [] and as_dict(row)["trainable_params"] == trainable > 0


@needs_wild
def test_a_reader_and_its_yaml_laid_out_as_in_their_repository(tmp_path):
    """ScientiaCapital/unsloth-mcp-server: ``training-data/train_grpo.py`` loads
    ``Path(__file__).parent / "grpo_config.yaml"`` and passes ``config['lora']`` on."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "training-data").mkdir()
    reader = tmp_path / "training-data" / "train_grpo.py"
    config = tmp_path / "training-data" / "grpo_config.yaml"
    reader.write_bytes((WILD / "homegrown/ScientiaCapital__unsloth-mcp-server__train-grpo-reader.py").read_bytes())
    config.write_bytes((WILD / "homegrown/ScientiaCapital__unsloth-mcp-server__grpo-config.yaml").read_bytes())
    with depends.recording() as record:
        (site,) = python.sites(source(str(reader), reader.read_text(encoding="utf-8")))
    assert site.base_model.value == "unsloth/Qwen2.5-3B-Instruct" and site.base_model.path == str(config)
    assert {k: (p.value, p.span.line) for k, p in site.params.items() if p.path == str(config)} == {
        "r": (16, 24), "lora_alpha": (16, 25), "lora_dropout": (0, 26),
        "target_modules": (["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], 28)}
    assert [key[1] for key in record.deps if key[0] == "file"] == [str(config)]


def test_the_editor_shows_a_document_its_own_findings(tmp_path):
    """The language server publishes a script's findings on the script; one in the YAML file it
    reads belongs to that document."""
    pytest.importorskip("pygls")
    from lora_lint.server import LoraLintServer

    root = repo(tmp_path, {"lora.yaml": CFG, "train.py": "import yaml\nfrom peft import LoraConfig\n"
                           "LoraConfig(**yaml.safe_load(open('lora.yaml'))['lora'], use_rslora=1)\n"})
    script = root / "train.py"
    assert {f.path for f in lint_file(str(script))} == {str(script), str(root / "lora.yaml")}
    shown = LoraLintServer(offline=True).lint(source(str(script), script.read_text()))
    assert shown and {f.path for f in shown} == {str(script)}


def test_a_flag_whose_default_is_none_is_not_given():
    """``default=None`` means "not given": the script checks it (``if args.lora_r is not None``) or
    needs it on the command line; a None rank there is no finding (peft's CorDA example)."""
    src = """
        import argparse
        from dataclasses import dataclass, field
        from transformers import HfArgumentParser
        from peft import LoraConfig
        @dataclass
        class Args:
            lora_r: int = field(default=None)
        p = argparse.ArgumentParser()
        p.add_argument("--r", type=int, default=None)
        (args,) = HfArgumentParser(Args).parse_args_into_dataclasses()
        if args.lora_r is not None:
            LoraConfig(r=args.lora_r, lora_alpha=args.lora_r)
        LoraConfig(r=p.parse_args().r)
    """
    a, b = all_sites(src)
    assert value(a, "r") is UNKNOWN and value(b, "r") is UNKNOWN
    assert [f.code for f in lint_text("t.py", textwrap.dedent(src)) if f.code != "LL902"] == []
