"""What every reader shares: ``SourceError``, the LL901 a file that cannot be parsed gets, and the
cheap text tests (markers) that decide whether a file is parsed at all. The tests import nothing
heavy: the parent process runs them on every file, and a file that fails them never imports its
reader (the shell lexer, PyYAML, libcst)."""

from __future__ import annotations

import re
from functools import cache

from ..model import Span
from ..source_file import Kind, SourceFile, yaml_lines


class SourceError(Exception):
    """The file cannot be read or parsed: reported as LL901 at ``span``."""

    def __init__(self, message: str, span: Span):
        super().__init__(message)
        self.message = message
        self.span = span


#: A Python file containing none of these cannot hold a site: libcst is not even imported.
PYTHON_MARKERS = ("LoraConfig", "get_peft_model", "get_peft_config")


def python_may_hold(source: SourceFile) -> bool:
    return any(marker in source.text for marker in PYTHON_MARKERS)


@cache
def _yaml_markers() -> re.Pattern:
    """Without one of these, a YAML file cannot hold a LoRA config (LLaMA-Factory's default
    ``finetuning_type`` is lora, so a bare ``stage:`` counts; AutoTrain's ``merge_adapter`` too)."""
    return re.compile(r"lora|peft|adapter|finetuning_type|stage", re.I)


@cache
def _json_markers() -> re.Pattern:
    """JSON needs a key that a LoRA config has (a tokenizer's vocabulary may contain "lora")."""
    return re.compile(
        r'"(?:peft_type|lora_alpha|lora_r|lora_rank|use_peft)"\s*:|"(?:lora|peft|peft_config|lora_config)"\s*:\s*\{',
        re.I)


def yaml_may_hold(source: SourceFile) -> bool:
    """The marker test passes, for a YAML or JSON file (a data file has no kind: never)."""
    if source.kind is Kind.JSON:
        return _json_markers().search(source.text) is not None
    return source.kind is Kind.YAML and _yaml_markers().search(source.text) is not None


@cache
def _looks_lora() -> re.Pattern:
    return re.compile(
        r"""(?imx)
        ^[ \t-]*["']?(?:lora_r|lora_rank|lora_alpha|lora_dropout|lora_target(?:_modules|_linear)?|use_peft
           |peft_config|lora_config|finetuning_type|peft_type|peft_use_rslora|lora|peft)["']?[ \t]*:
        | _component_ \s*:\s* torchtune\.models\.\S*lora_
        | _target_ \s*:\s* peft\.
        | ^[ \t]*adapter[ \t]*:[ \t]*q?lora\b
        | training_type[ \t]*:[ \t]*lora
        | "(?:lora_\w+|peft_\w+|use_peft|target_modules|lora|peft)"\s*:
        """)


def yaml_looks_lora(text: str) -> bool:
    """Does the YAML or JSON text read like a LoRA training config? (Its lines as YAML counts
    them: a file saved with CR line endings is one '^' line to ``re``.) A broken file is reported
    when it does; a file too big to read is read only when it does."""
    return _looks_lora().search(yaml_lines(text)) is not None


@cache
def _shell_markers() -> re.Pattern:
    """Without one of these a script cannot start a LoRA fine-tune (ms-swift and LLaMA-Factory
    train LoRA by default, axolotl's YAML decides, torchtune's LoRA recipes are named so)."""
    return re.compile(r"lora|peft|swift|llamafactory|lmf|axolotl|finetuning_type", re.I)


def shell_may_hold(source: SourceFile) -> bool:
    return _shell_markers().search(source.text) is not None
