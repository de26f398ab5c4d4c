"""YAML and JSON training configs: documents -> framework dialect -> ``LoraSite`` records.

A cheap text test (``_base.yaml_may_hold``) skips files that cannot hold a LoRA config before
anything is parsed (and big files that do not read like one). A file that does not parse is an
error (LL901) only when it looks like a LoRA training config; any other broken YAML is none of
lora-lint's business.
"""

from __future__ import annotations

from ..model import LoraSite, Span
from ..source_file import Kind, SourceFile
from ._base import SourceError, yaml_looks_lora, yaml_may_hold
from .yaml_nodes import Budget, Doc, ParseError

#: Training configs are a few kilobytes; a file above this many characters is only parsed when it
#: reads like a LoRA config (composing 10 MB of YAML takes PyYAML seconds).
LARGE = 1_000_000


def sites(source: SourceFile) -> list[LoraSite]:
    """The LoRA sites of a YAML or JSON file. Raises ``SourceError`` (LL901) when the file does
    not parse and looks like a LoRA config, and when reading it ran out of the node budget
    (then no site is returned: a walk cut short may have missed any key, the base model's too)."""
    found, budget = analyze(source)
    if budget.exhausted and (found or yaml_looks_lora(source.text)):
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
    if not yaml_may_hold(source):
        return [], budget
    if len(text) > LARGE and not yaml_looks_lora(text):
        return [], budget  # a big data file that merely mentions LoRA: not worth composing
    try:
        if is_json:
            from .json_nodes import compose
        else:
            from .yaml_nodes import compose
        roots = compose(source)
    except ParseError as e:
        if yaml_looks_lora(text):
            raise SourceError(e.message, e.span) from None
        return [], budget
    out: list[LoraSite] = []
    for root in roots:
        out.extend(dialects.sites(Doc(source, root, budget)))
        if budget.exhausted:
            break
    return out, budget
