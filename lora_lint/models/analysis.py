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

from dataclasses import dataclass, field, fields, replace

from ..model import LoraSite
from ..model_dependent import ModelDependent
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
    #: Fields whose value the training framework computes from the model (axolotl's
    #: ``lora_target_linear``...): field -> what the file asked for. ``spec`` holds the values
    #: the framework passes to peft.
    framework: dict[str, ModelDependent] = field(default_factory=dict)

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
    unknown = spec.unknown_match_fields()
    if unknown:
        return Analysis(spec, known=False, unknown=unknown, withheld=f"{unknown[0]} is not statically known",
                        framework=framework)
    risky = risky_fields(spec)
    if risky:
        return Analysis(spec, known=False, unknown=risky, framework=framework,
                        withheld=f"matching the regular expression in {risky[0]} could take minutes")
    failure = config_failure(spec)
    if failure is not None:
        return Analysis(spec, known=False, failure=failure, framework=framework)
    m = match(inv, spec)
    if m.withheld is not None:
        return Analysis(spec, known=False, withheld=m.withheld, match=m, framework=framework)
    if m.failure is not None:
        return Analysis(spec, known=True, failure=m.failure, match=m, framework=framework)
    counts = count(m.inventory or inv, spec, m)
    failure = counts.failure or generation_failure(inv, spec)
    return Analysis(spec, known=True, failure=failure, withheld=counts.withheld, match=m, counts=counts,
                    framework=framework)


#: Task types whose peft wrapper reads the model's ``prepare_inputs_for_generation`` once the
#: adapter is injected (peft_model.py: ``PeftModelForCausalLM.__init__``, ``PeftModelForSeq2SeqLM.__init__``).
GENERATIVE_TASKS = ("CAUSAL_LM", "SEQ_2_SEQ_LM")


def generation_failure(inv: Inventory, spec: LoraSpec) -> Failure | None:
    """``get_peft_model`` with a generative task type on a class that cannot generate raises
    AttributeError after injecting the adapter (``self.base_model.prepare_inputs_for_generation``)."""
    if spec.task_type in GENERATIVE_TASKS and spec.class_named and inv.generates() is False:
        return Failure("AttributeError", f"'{inv.architecture}' object has no attribute 'prepare_inputs_for_generation'",
                       "no-generation", "task_type")
    return None


def analyze(site: LoraSite, inventory: Inventory) -> Analysis:
    """The analysis of ``site`` against ``inventory`` (pure Python, a few ms on an 80-layer model)."""
    return analyze_spec(inventory, LoraSpec.from_site(site))
