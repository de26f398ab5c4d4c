"""Rules on sites: the selected rules on one file's ``LoraSite``s, the model rules with the model.

For each site the engine resolves the base model as far as ``Reach`` allows (``models.context``),
runs every rule that applies to the site's dialect (no advisory rule where its ``Dialect`` is
not ``advisable``, no rule at all on a site that does not reach peft), and turns a bug in a rule
or in the model analysis into an LL903 finding for that file. A site whose model only the Hub or a meta build can
give is handed back ``Waiting`` (its other rules have run); ``pipeline`` decides when and where it
is finished. Reading files, suppression comments and scheduling are not the engine's business.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import Finding, LoraSite
from .registry import Context, Rule
from .settings import Settings
from .source_file import SourceFile

if TYPE_CHECKING:
    from .models.analysis import Analysis
    from .models.context import Need
    from .models.inventory import Inventory


class Reach(enum.Enum):
    """How far the model rules may go to resolve a site's model in one step."""

    NONE = "none"  # not at all: every site with model rules waits
    CACHED = "cached"  # what is at hand: a cached or prebuilt inventory, no Hub, no build
    ALL = "all"  # resolve, fetch and build what it takes


@dataclass(frozen=True)
class Waiting:
    """A site whose model rules wait for what only the parent process does (``need``)."""

    site: LoraSite
    need: Need


@dataclass(frozen=True)
class Resolution:
    """A site's model: the inventory and the analysis, or the finding saying why there is none
    (LL902; LL903 for a bug), or what it waits for."""

    model: Inventory | None = None
    analysis: Analysis | None = None
    problem: Finding | None = None
    need: Need | None = None
    #: LL905 beside a resolved model (or beside LL902): the model lock lacks this site's model
    notice: Finding | None = None


#: The findings model resolution itself reports: LL902 (no model), LL905 (the model lock lacks it).
RESOLUTION_CODES = frozenset({"LL902", "LL905"})


def resolve_model(site: LoraSite, settings: Settings, reach: Reach = Reach.ALL,
                  lock_rule: bool = True, source: SourceFile | None = None) -> Resolution:
    """The model of ``site`` (of ``source``, which names its lines) as far as ``reach`` goes.
    With ``lock_rule`` (LL905 selected), a model missing for a reason the model lock avoids is
    reported by LL905 instead of LL902."""
    from .models.context import Need, context_for, lock_message, unresolved_message
    from .rules import finding, internal_error

    if reach is Reach.NONE:
        return Resolution(need=Need.HUB)  # not even looked at: the parent process will
    try:
        ctx = context_for(site, settings, defer=reach is Reach.CACHED,
                          where=source.where if source is not None else None)
    except Exception as exc:  # resolution must never take the run down
        return Resolution(problem=internal_error("model resolution", site.path, site.span, exc))
    if ctx.deferred is not None:
        return Resolution(need=ctx.deferred)
    locked = lock_message(ctx) if lock_rule else None
    notice = finding("LL905", locked, site.path, site.span) if locked else None
    if ctx.problem is not None:
        if notice is not None and ctx.lockable:
            return Resolution(problem=notice)
        return Resolution(problem=finding("LL902", unresolved_message(ctx), site.path, site.span),
                          notice=notice)
    return Resolution(ctx.inventory, ctx.analysis, notice=notice)


def check(source: SourceFile | None, sites: list[LoraSite], settings: Settings, rules: Mapping[str, Rule],
          reach: Reach = Reach.ALL, model_only: bool = False) -> tuple[list[Finding], list[Waiting]]:
    """Findings of ``rules`` on ``sites`` (of ``source``), and the sites whose model rules (the
    rules that need or use the model) wait because ``reach`` did not allow what their model
    takes. ``model_only``: run the model rules only (the second half of a waiting site)."""
    from .rules import internal_error

    out: list[Finding] = []
    waiting: list[Waiting] = []
    model_rules = [r for r in rules.values() if r.needs_model or r.uses_model or r.code in RESOLUTION_CODES]
    for site in sites:
        if not site.dialect.reaches_peft:
            continue  # a project's own LoRA implementation: nothing peft does is true of it
        found = Resolution()
        # An inactive site's LoRA settings do not take effect (adapter switched off, adapter
        # resumed): only its dialect notes are reported, so there is no model to resolve.
        if model_rules and site.active:
            try:
                found = resolve_model(site, settings, reach, "LL905" in rules, source)
            except Exception as exc:  # a resolver or analysis bug must not take the run down
                found = Resolution(problem=internal_error("the model analysis", site.path, site.span, exc))
            if found.need is not None:
                waiting.append(Waiting(site, found.need))
            else:
                out.extend(f for f in (found.problem, found.notice) if f is not None)
        model = found.model
        for r in rules.values():
            if not r.applies_to(site):
                continue
            if r.needs_model and not model_rule_runs(r, found):
                continue
            about_model = r.needs_model or r.uses_model
            if (found.need is not None and about_model) or (model_only and not about_model):
                continue
            ctx = Context(options=settings.options_for(r), model=model, analysis=found.analysis,
                          document=source)
            try:
                got = r.run(site, ctx)
                if about_model and model is not None and got:
                    facts = model_facts(model)
                    got = [dataclasses.replace(f, facts=facts) for f in got]
                out.extend(got)
            except Exception as exc:  # a rule bug must not take the run down
                out.append(internal_error(f"rule {r.code} ({r.name})", site.path, site.span, exc))
    return out, waiting


def analysis_known(found: Resolution) -> bool:
    """The site's model is resolved and its analysis known: what a model rule (``needs_model``)
    runs on, and only then (a value that decides peft's matching is not statically known, or
    peft rejects it before matching: no model rule can say anything true)."""
    return found.model is not None and found.analysis is not None and found.analysis.known


def model_rule_runs(r: Rule, found: Resolution) -> bool:
    """Whether the model rule ``r`` runs on a site whose model is ``found``: only where the analysis
    is known, and where the analysis predicts that peft raises, only if ``r`` reports such
    failures (``reports_failure``; ``rules._model.failure_for`` hands each to one rule). Every
    other model rule describes what peft does, and must not speak when peft raises."""
    return analysis_known(found) and (r.reports_failure or found.analysis.failure is None)


def model_facts(model) -> tuple[tuple[str, str], ...]:
    """The transformers and peft versions an inventory's facts (and our replay of peft) came from."""
    versions = getattr(model, "versions", None) or {}
    return tuple((k, str(versions[k])) for k in ("transformers", "peft") if versions.get(k))
