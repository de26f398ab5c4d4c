"""The only types rules see: spans, parameters, LoRA sites and findings.

Data path: files -> sources (python, yaml dialects) -> ``LoraSite`` -> rules -> ``Finding`` -> reporters.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from .unknown import UNKNOWN, is_known

TYPE_CHECKING = False  # typing is not imported at run time (a warm run needs none of it)
if TYPE_CHECKING:
    from typing import Any

    from .dialect import Dialect

__all__ = ["UNKNOWN", "Edit", "Finding", "Fix", "LoraSite", "Note", "Param", "Severity", "Span", "is_known"]


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=True)
class Span:
    """1-based line and column; the end is exclusive (what SARIF, GitHub and editors expect)."""

    line: int
    col: int
    end_line: int
    end_col: int

    @classmethod
    def point(cls, line: int, col: int) -> Span:
        return cls(line, col, line, col + 1)


@dataclass(frozen=True)
class Param:
    """One setting as written: ``key`` is the spelling in the file, ``value`` a literal or UNKNOWN.

    ``items`` holds the elements of a list value, each with its own span, when the source knows
    them. ``implicit`` marks a value the framework supplies when the key is absent (TRL's r=16):
    its span is the site's.

    A value that reaches the setting from elsewhere keeps where it is written: ``path`` is the
    file ``span`` is in when it is not the site's (a YAML file the script reads), and ``via``
    says how it gets there when something else may change it ("the default of --lora_r": a
    command line may give another); findings say so, and build no fix.
    """

    key: str
    value: Any
    span: Span
    items: tuple[Param, ...] = ()
    implicit: bool = False
    path: str | None = None
    via: str | None = None

    @property
    def known(self) -> bool:
        return is_known(self.value)


@dataclass(frozen=True)
class LoraSite:
    """One LoRA configuration found in a file, keyed by peft ``LoraConfig`` field names.

    * ``params``: LoraConfig field name -> Param (explicit values, then framework defaults
      marked ``implicit``).
    * ``open``: True when fields may be set in a way we cannot see (``**kwargs``, positional
      arguments): then a rule about a *missing* field must not fire.
    * ``unknown_keys``: keys written in the site that the dialect does not know, each with the
      suggestion of the nearest valid spelling (for LL001).
    * ``context``: framework-level settings that are not LoraConfig fields but matter to rules
      (``adapter``, ``load_in_4bit``, ``use_peft``...), keyed by a dialect-neutral name.
    * ``base_model``: the model id or path the config names, when one is named.
    * ``model_class``: the class the model is loaded with (``AutoModelForSequenceClassification``).
    * ``notes``: framework-specific problems a dialect knows about (``Note``); the rule with
      that code (LL001, LL009, LL010) reports them, so adding a framework never changes a rule.
    * ``dialect``: the record of the dialect the site is written in (``lora_lint.dialect``):
      its name, spellings, defaults and traits. Rules ask it, never the name.
    * ``active``: False when the file's LoRA settings do not take effect (the adapter is
      switched off, or a saved adapter is resumed with its own settings); such a site has no
      params, is ``open``, and only its ``notes``/``unknown_keys`` are reported.
    * ``resizes_vocab``: the file grows the vocabulary (``resize_token_embeddings``, axolotl
      ``tokens``): new embedding rows that must be trained.
    """

    path: str
    dialect: Dialect
    span: Span
    params: Mapping[str, Param] = field(default_factory=dict)
    open: bool = False
    unknown_keys: tuple[tuple[Param, str | None], ...] = ()
    context: Mapping[str, Param] = field(default_factory=dict)
    base_model: Param | None = None
    model_class: str | None = None
    notes: tuple[Note, ...] = ()
    active: bool = True
    resizes_vocab: bool = False

    def get(self, name: str) -> Param | None:
        """The parameter when present and statically known, else None."""
        p = self.params.get(name)
        return p if p is not None and p.known else None

    def value(self, name: str, default: Any = UNKNOWN) -> Any:
        """The known value of ``name``; ``default`` when absent and the site is closed; else UNKNOWN."""
        p = self.params.get(name)
        if p is not None:
            return p.value if p.known else UNKNOWN
        return UNKNOWN if self.open else default

    def effective(self, name: str) -> Any:
        """The value of LoraConfig field ``name`` that reaches peft: the value written (or the
        framework's default the reader supplied); when left out, the dialect's fallback
        (``Dialect.fallback``: the framework's default, else peft's unless the framework decides
        it); UNKNOWN when it cannot be known. Rules, the model analysis and ``report`` all ask this."""
        if self.missing(name):
            return self.dialect.fallback(name)
        return self.value(name)

    def missing(self, name: str) -> bool:
        """True only when ``name`` is certainly not set (absent, and no ``**kwargs`` could set it)."""
        return name not in self.params and not self.open

    def ctx(self, name: str) -> Param | None:
        p = self.context.get(name)
        return p if p is not None and p.known else None


@dataclass(frozen=True)
class Edit:
    """Replace the text in ``span`` (1-based, end exclusive) with ``text``; an empty span inserts."""

    span: Span
    text: str


SAFE, UNSAFE = "safe", "unsafe"


@dataclass(frozen=True)
class Fix:
    """A change that resolves a finding, applied by ``--fix`` (safe) or ``--unsafe-fixes`` too.

    ``safe``: the training run does what the user evidently meant and nothing else changes (a typo
    renamed, a value peft overrides anyway written as what runs). ``unsafe``: the training changes
    (rsLoRA switched on, other layers adapted); ``message`` says how.
    """

    message: str
    edits: tuple[Edit, ...]
    applicability: str = SAFE

    @property
    def safe(self) -> bool:
        return self.applicability == SAFE


@dataclass(frozen=True)
class Note:
    """A problem a dialect knows about its framework, reported by rule ``code`` at ``where``
    (the framework's own wording, and a fix when the dialect can make one). ``code`` is a rule
    that runs on every site (LL001, LL009, LL010), not a model rule."""

    code: str
    where: Param
    message: str
    fix: Fix | None = None


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: Severity
    message: str
    path: str
    span: Span
    fix: Fix | None = None
    #: For findings about the base model: the library versions the model facts came from.
    facts: tuple[tuple[str, str], ...] = ()

    @property
    def sort_key(self) -> tuple:
        return (self.path, self.span.line, self.span.col, self.code, self.message)
