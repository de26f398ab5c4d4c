"""YAML and JSON training configs: documents -> framework dialect -> ``LoraSite`` records.

A cheap text test skips files that cannot hold a LoRA config before anything is parsed (and big
files that do not read like one). A file
that does not parse is an error (LL901) only when it looks like a LoRA training config; any
other broken YAML is none of lora-lint's business.
"""

from __future__ import annotations

import re

from ..model import LoraSite, Span
from ..source_file import Kind, SourceFile, yaml_lines
from ._base import SourceError
from .yaml_nodes import Budget, Doc, ParseError

#: Without one of these, a YAML file cannot hold a LoRA config (LLaMA-Factory's default
#: ``finetuning_type`` is lora, so a bare ``stage:`` counts; AutoTrain's ``merge_adapter`` too).
YAML_MARKERS = re.compile(r"lora|peft|adapter|finetuning_type|stage", re.I)
#: JSON needs a key that a LoRA config has (a tokenizer's vocabulary may contain "lora").
JSON_MARKERS = re.compile(
    r'"(?:peft_type|lora_alpha|lora_r|lora_rank|use_peft)"\s*:|"(?:lora|peft|peft_config|lora_config)"\s*:\s*\{',
    re.I)
#: Training configs are a few kilobytes; a file above this many characters is only parsed when it
#: reads like a LoRA config (composing 10 MB of YAML takes PyYAML seconds).
LARGE = 1_000_000
#: A broken file is reported when it reads like a LoRA training config.
LOOKS_LORA = re.compile(
    r"""(?imx)
    ^[ \t-]*["']?(?:lora_r|lora_rank|lora_alpha|lora_dropout|lora_target(?:_modules|_linear)?|use_peft
       |peft_config|lora_config|finetuning_type|peft_type|peft_use_rslora|lora|peft)["']?[ \t]*:
    | _component_ \s*:\s* torchtune\.models\.\S*lora_
    | _target_ \s*:\s* peft\.
    | ^[ \t]*adapter[ \t]*:[ \t]*q?lora\b
    | training_type[ \t]*:[ \t]*lora
    | "(?:lora_\w+|peft_\w+|use_peft|target_modules|lora|peft)"\s*:
    """)


def markers(source: SourceFile) -> re.Pattern:
    """The marker test a file of this kind must pass to be parsed at all."""
    return JSON_MARKERS if source.kind is Kind.JSON else YAML_MARKERS


def may_hold(source: SourceFile) -> bool:
    """The marker test passes, for a YAML or JSON file (a data file has no kind: never)."""
    return source.kind in (Kind.YAML, Kind.JSON) and markers(source).search(source.text) is not None


def looks_lora(text: str) -> bool:
    """Does the text read like a LoRA training config? (Its lines as YAML counts them: a file
    saved with CR line endings is one '^' line to ``re``.)"""
    return LOOKS_LORA.search(yaml_lines(text)) is not None


def sites(source: SourceFile) -> list[LoraSite]:
    """The LoRA sites of a YAML or JSON file. Raises ``SourceError`` (LL901) when the file does
    not parse and looks like a LoRA config, and when reading it ran out of the node budget
    (then no site is returned: a walk cut short may have missed any key, the base model's too)."""
    found, budget = analyze(source)
    if budget.exhausted and (found or looks_lora(source.text)):
        raise SourceError(f"file is too large to analyse: reading it took more than {budget.limit:,}"
                          " node visits (lora-lint's bound for one file, each alias expansion"
                          " counted); its LoRA settings are not checked", Span.point(1, 1))
    return found


def analyze(source: SourceFile, budget: Budget | None = None) -> tuple[list[LoraSite], Budget]:
    """The sites of one file and the node budget reading it cost."""
    from .. import dialects

    budget = budget or Budget()
    text = source.text
    is_json = source.kind is Kind.JSON
    if not may_hold(source):
        return [], budget
    if len(text) > LARGE and not looks_lora(text):
        return [], budget  # a big data file that merely mentions LoRA: not worth composing
    try:
        if is_json:
            from .json_nodes import compose
        else:
            from .yaml_nodes import compose
        roots = compose(source)
    except ParseError as e:
        if looks_lora(text):
            raise SourceError(e.message, e.span) from None
        return [], budget
    out: list[LoraSite] = []
    for root in roots:
        out.extend(dialects.sites(Doc(source, root, budget)))
        if budget.exhausted:
            break
    return out, budget
