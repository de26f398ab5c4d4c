"""Which catalog checkpoints are base (pretrained only) and which instruction-tuned.

A publisher releases most sizes twice, and says which is which in the name: the rules below
quote how each publisher documents its naming. ``python -m lora_lint.models.catalog_build --stages``
writes ``stage`` (``"base"`` or ``"instruct"``) and ``stage_how`` (the rule's provenance) into
``catalog.json`` for every catalog model and alias a rule covers; a name no rule covers gets no
stage, and nothing that needs one is claimed for it. ``tests/test_catalog.py`` fails when the
stored stages and these rules disagree.
"""

from __future__ import annotations

import re

_LLAMA3 = ("Meta releases every Llama 3 size as a pretrained checkpoint (meta-llama/<size>) and an instruction-tuned"
           " one (<size>-Instruct): 'a collection of pretrained and instruction tuned generative models' (Llama 3.1,"
           " 3.2 and 3.3 model cards)")
_QWEN25 = ("Qwen names its base models without a suffix and the instruction-tuned ones -Instruct: 'Base models"
           " (without -Instruct suffix)' (QwenLM/Qwen2.5 README, model variants)")
_GEMMA = ("Google names pretrained Gemma checkpoints <size> (or <size>-pt) and instruction-tuned ones <size>-it"
          " (Gemma model cards: 'pre-trained variants and instruction-tuned variants')")
_MISTRAL = ("Mistral AI names its pretrained checkpoints Mistral-7B-v0.x, Mixtral-8x7B-v0.1, Mistral-Nemo-Base-2407"
            " and their instruction-tuned releases -Instruct (Mistral model cards)")

#: (name pattern, stage, how the publisher documents it). First match wins.
RULES: tuple[tuple[re.Pattern, str, str], ...] = (
    (re.compile(r"^(meta-llama|NousResearch)/(Meta-)?Llama-3(\.\d)?-\d+B(-Vision)?-Instruct$"), "instruct", _LLAMA3),
    (re.compile(r"^(meta-llama|NousResearch)/(Meta-)?Llama-3(\.\d)?-\d+B(-Vision)?$"), "base", _LLAMA3),
    (re.compile(r"^Qwen/Qwen2\.5-(Coder-)?[\d.]+B-Instruct$"), "instruct", _QWEN25),
    (re.compile(r"^Qwen/Qwen2\.5-[\d.]+B$"), "base", _QWEN25),
    (re.compile(r"^google/gemma-(2-|3-)?\d+[bm](-jpn)?-it$"), "instruct", _GEMMA),
    (re.compile(r"^google/gemma-(2-)?\d+b$|^google/gemma-3-\d+[bm]-pt$"), "base", _GEMMA),
    (re.compile(r"^mistralai/(Mistral-7B|Mixtral-8x(7|22)B)-Instruct-v0\.\d$"), "instruct", _MISTRAL),
    (re.compile(r"^mistralai/(Mistral-7B-v0\.[13]|Mixtral-8x(7|22)B-v0\.1|Mistral-Nemo-Base-2407)$"), "base", _MISTRAL),
)


def stage_of(name: str) -> tuple[str, str] | None:
    """``(stage, how)`` for a model id the rules cover, else None."""
    for pattern, stage, how in RULES:
        if pattern.match(name):
            return stage, how
    return None
