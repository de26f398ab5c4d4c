"""``analyze(site, inventory) -> Analysis``: one LoRA site replayed against one base model.

This is what model-aware rules receive as ``ctx.analysis`` (``ctx.model`` is the Inventory).
Every field is exact peft 0.21.2 behaviour or None/empty when a value it depends on is not
statically known; rules must not guess past that.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from ..model import LoraSite
from ..model_dependent import ModelDependent
from ..regex_risk import risky_fields
from .count import Counts, count
from .inventory import Inventory
from .match import Match, match
from .spec import LoraSpec


@dataclass
class Analysis:
    spec: LoraSpec
    #: False when a value that decides matching is not statically known, or is a value peft
    #: rejects before matching (``error_kind == "invalid"``); then nothing below is set.
    known: bool
    #: Unknown fields that made ``known`` False.
    unknown: list[str] = field(default_factory=list)
    #: The exception ``get_peft_model`` would raise, as peft words it (None: it succeeds).
    error: str | None = None
    #: not-found | no-targets | all-excluded | none-targeted | no-default | unsupported | fused |
    #: mamba | param-on-target | layer | wrapper | tokens-not-found | invalid | unsupported-option
    error_kind: str | None = None
    match: Match = field(default_factory=Match)
    counts: Counts = field(default_factory=Counts)
    #: Fields whose value the training framework computes from the model (axolotl's
    #: ``lora_target_linear``...): field -> what the file asked for. ``spec`` holds the values
    #: the framework passes to peft.
    framework: dict[str, ModelDependent] = field(default_factory=dict)

    # -- convenient views ------------------------------------------------------------------------

    @property
    def targeted(self) -> list[str]:
        """Module names LoRA is applied to (peft's ``targeted_module_names``)."""
        return self.match.targeted

    @property
    def targeted_parameters(self) -> list[str]:
        return self.match.targeted_parameters

    @property
    def trainable(self) -> int | None:
        return self.counts.trainable

    @property
    def total(self) -> int | None:
        return self.counts.total

    @property
    def entries(self) -> dict[str, list[str]]:
        """List ``target_modules`` entry -> module names it matches by name (before exclusions and
        the layer filter). Empty for a regex, ``all-linear`` or default targets."""
        return self.match.name_matches

    @property
    def saved(self) -> dict[str, list[str]]:
        """``modules_to_save`` entry (task heads included) -> module names peft wraps."""
        return self.counts.saved

    @property
    def warnings(self) -> list[str]:
        return self.match.warnings


def resolve_framework(inv: Inventory, spec: LoraSpec) -> tuple[LoraSpec, dict[str, ModelDependent]]:
    """``spec`` with every ``ModelDependent`` value replaced by what the framework passes to peft
    for this model (lora_lint/model_dependent.py), and the originals by field."""
    framework = {f.name: v for f in fields(spec) if isinstance(v := getattr(spec, f.name), ModelDependent)}
    if not framework:
        return spec, framework
    values = {name: v.resolve(inv) for name, v in framework.items()}
    for v in framework.values():
        values.update(v.overrides)
    return replace(spec, **values), framework


def analyze_spec(inv: Inventory, spec: LoraSpec) -> Analysis:
    spec, framework = resolve_framework(inv, spec)
    unknown = spec.unknown_match_fields() or risky_fields(spec)
    if unknown:
        return Analysis(spec, known=False, unknown=unknown, framework=framework)
    m = match(inv, spec)
    if m.error_kind == "invalid":  # peft rejects the values themselves: the config rules say so
        return Analysis(spec, known=False, error=m.error, error_kind=m.error_kind, match=m, framework=framework)
    counts = count(inv, spec, m)
    error, kind = m.error, m.error_kind
    if error is None and counts.error is not None:
        error, kind = counts.error, counts.error_kind
    return Analysis(spec, known=True, error=error, error_kind=kind, match=m, counts=counts, framework=framework)


def analyze(site: LoraSite, inventory: Inventory) -> Analysis:
    """The analysis of ``site`` against ``inventory`` (pure Python, a few ms on an 80-layer model)."""
    return analyze_spec(inventory, LoraSpec.from_site(site))
