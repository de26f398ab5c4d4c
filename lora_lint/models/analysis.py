"""``analyze(site, inventory) -> Analysis``: one LoRA site replayed against one base model.

This is what model-aware rules receive as ``ctx.analysis`` (``ctx.model`` is the Inventory).
Every field is exact peft 0.21.2 behaviour or None/empty when a value it depends on is not
statically known; rules must not guess past that.

The replay runs in peft's order: ``LoraConfig(...)`` (``validate.config_failure``), then
``get_peft_model``'s matching (``match``), layer creation and wrappers (``count``). The first
exception peft would raise is the ``failure``; a count that cannot be given for another reason
says why in ``withheld``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import LoraSite
from ..regex_risk import risky_fields
from .count import Counts, count
from .failure import Failure
from .inventory import Inventory
from .match import Match, match
from .spec import LoraSpec
from .validate import config_failure


@dataclass
class Analysis:
    spec: LoraSpec
    #: False when a value that decides matching is not statically known or not replayed
    #: (``withheld`` says which), or when ``LoraConfig`` or a layer rejects a value before
    #: matching means anything (``failure.kind == "config"``: the config rules report it);
    #: then ``match`` and ``counts`` are empty.
    known: bool
    #: Unknown fields that made ``known`` False.
    unknown: list[str] = field(default_factory=list)
    #: The exception ``LoraConfig`` / ``get_peft_model`` would raise (None: it succeeds).
    failure: Failure | None = None
    #: Why the counts are not given although peft does not raise: completes "not counted, because ...".
    withheld: str | None = None
    match: Match = field(default_factory=Match)
    counts: Counts = field(default_factory=Counts)

    # -- convenient views ------------------------------------------------------------------------

    @property
    def error(self) -> str | None:
        """peft's message for the exception it raises."""
        return self.failure.message if self.failure else None

    @property
    def error_kind(self) -> str | None:
        """``failure.kind``: see ``models.failure.KINDS``."""
        return self.failure.kind if self.failure else None

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


def analyze_spec(inv: Inventory, spec: LoraSpec) -> Analysis:
    unknown = spec.unknown_match_fields()
    if unknown:
        return Analysis(spec, known=False, unknown=unknown, withheld=f"{unknown[0]} is not statically known")
    risky = risky_fields(spec)
    if risky:
        return Analysis(spec, known=False, unknown=risky,
                        withheld=f"matching the regular expression in {risky[0]} could take minutes")
    failure = config_failure(spec)
    if failure is not None:
        return Analysis(spec, known=False, failure=failure)
    m = match(inv, spec)
    if m.withheld is not None:
        return Analysis(spec, known=False, withheld=m.withheld, match=m)
    if m.failure is not None:
        return Analysis(spec, known=True, failure=m.failure, match=m)
    counts = count(m.inventory or inv, spec, m)
    return Analysis(spec, known=True, failure=counts.failure, withheld=counts.withheld, match=m, counts=counts)


def analyze(site: LoraSite, inventory: Inventory) -> Analysis:
    """The analysis of ``site`` against ``inventory`` (pure Python, a few ms on an 80-layer model)."""
    return analyze_spec(inventory, LoraSpec.from_site(site))
