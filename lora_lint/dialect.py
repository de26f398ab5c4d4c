"""The ``Dialect`` record: what rules may know about the framework a LoRA site was written in.

Every dialect is one record, defined beside its reader (``dialects/<framework>.py`` for the
YAML/JSON frameworks, ``sources/python.py`` for peft and Unsloth calls), and every ``LoraSite``
carries its record as ``site.dialect``. Rules ask the record (``site.dialect.as_written``,
``site.dialect.can_set("use_rslora")``, ``site.effective("r")``); they never test a dialect's
name nor import a reader. The name is for output and ``@rule(dialects=...)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .unknown import UNKNOWN


def peft_aliases(key: str) -> frozenset[str]:
    """The LoraConfig field ``key`` is another library's spelling of (``rank`` -> ``r``), if any."""
    from .peft_facts import ALIASES

    meant = ALIASES.get(key.lower())
    return frozenset({meant}) if meant else frozenset()


@dataclass(frozen=True, eq=False)
class Dialect:
    """One way of writing a LoRA config: a Python call or a training framework's file.

    Records are equal when their names are: a site sent to another process keeps its dialect.
    """

    #: The name in output (``"axolotl"``, ``"peft"``) and in ``@rule(dialects=...)``.
    name: str
    #: Its spellings of LoRA settings -> the LoraConfig fields they set, the preferred spelling
    #: of each field first (``lora_r`` -> ``r`` in axolotl; Python: the fields themselves).
    keymap: Mapping[str, str]
    #: How its settings are named in messages, article included ("a field of peft's LoraConfig",
    #: "an axolotl LoRA setting").
    what: str
    #: The framework's own value of a field the file leaves out (Unsloth's r=16, TRL's α=32).
    #: The reader materialises them as implicit params; a conditional default (LLaMA-Factory's
    #: α = 2r) is the reader's, not listed here.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: The LoraConfig fields the framework can set at all (None: every field). No rule advises
    #: setting a field the framework offers no way to set (torchtune has no rsLoRA switch).
    settable: frozenset[str] | None = None
    #: Its other known keys at a site, which are not LoraConfig fields (Unsloth's
    #: ``random_state``, axolotl's ``adapter``): names a typo may be meant as.
    known: frozenset[str] = frozenset()
    #: Values reach LoraConfig exactly as written (Python calls, peft's own JSON); YAML
    #: frameworks read ``"16"`` or ``16.0`` as 16 (pydantic, argparse).
    as_written: bool = False
    #: Python source: a keyword set to None passes None to peft (in a YAML file null means "the
    #: framework's default"), and fixes are written as Python (``use_rslora=True``).
    python: bool = False
    #: A bare string ``target_modules`` reaches peft as it is (a regex, or ``"all-linear"``).
    string_targets: bool = False
    #: A saved artifact (an adapter_config.json that ``save_pretrained`` wrote at the end of a
    #: run), not a training config: its weights were trained with the settings it records, so
    #: nothing in it is renamed or switched by a fix, and no advice is given (``advisable``).
    saved: bool = False
    #: peft itself reads the file (``PeftConfig.from_pretrained``): a key it does not know is
    #: dropped with a warning (peft ≥ 0.14; older versions raise), never passed on.
    peft_loads: bool = False
    #: The settings reach peft through the project's own code, which lora-lint does not read (a
    #: home-grown block): it may pass fields the block leaves out (``decided``) and transform any
    #: value, so no advice is given (``advisable``) and no key is called unknown or renamed.
    own_code: bool = False
    #: The settings reach peft at all. False for a project's own LoRA implementation
    #: (mistral-finetune's ``lora: {rank: 64}``, MindFormers' ``pet_config``): its sites are
    #: found and reported, but no rule makes a claim about them and no model is resolved.
    reaches_peft: bool = True
    #: Its keys are LoraConfig's own keywords, so a field peft removed is named as removed.
    peft_keys: bool = False
    #: Who hands the settings to LoraConfig, for messages ("Unsloth", "the framework"); None when
    #: the file calls LoraConfig itself.
    passer: str | None = "the framework"
    #: Fields the framework always passes with a value of its own (axolotl passes ``lora_r`` as
    #: None when the file has none): left out and not in ``defaults``, their value is unknown.
    #: Every other field left out gets peft's default: nothing passes it.
    decided: frozenset[str] = frozenset()
    #: The LoraConfig fields ``key`` is a known spelling of, in any framework (``lora_rank`` ->
    #: ``{"r"}``): a key that surely means one field can be renamed to this dialect's spelling.
    means: Callable[[str], frozenset[str]] = peft_aliases

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dialect) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Dialect({self.name!r})"

    @property
    def advisable(self) -> bool:
        """Whether advisory rules (``Rule.advice``: a finding that is advice, not a mistake) apply
        to its sites: not to a saved artifact (its run is over) nor to a home-grown block (the
        project's code between the file and peft may transform any value)."""
        return not self.saved and not self.own_code

    def can_set(self, field_name: str) -> bool:
        """Whether the framework has a way to set LoraConfig field ``field_name``."""
        return self.settable is None or field_name in self.settable

    def spelling(self, field_name: str) -> str | None:
        """How the dialect writes LoraConfig field ``field_name`` (its preferred spelling), if it can."""
        return next((key for key, f in self.keymap.items() if f == field_name), None)

    def names(self) -> tuple[str, ...]:
        """Every name the dialect knows at a site (its settings and its other keys), sorted."""
        return tuple(sorted({*self.keymap, *self.known}))

    def fallback(self, field_name: str) -> Any:
        """The value of ``field_name`` at a closed site that leaves it out: the framework's own
        default; else, unless the framework decides it, peft's default; else UNKNOWN."""
        if field_name in self.defaults:
            return self.defaults[field_name]
        if field_name in self.decided:
            return UNKNOWN
        from .peft_facts import lora_fields

        value = lora_fields().get(field_name, UNKNOWN)
        return copy.deepcopy(value) if isinstance(value, (dict, list)) else value  # the snapshot's own stays intact
