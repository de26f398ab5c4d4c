"""Helpers shared by the model-aware rules (LL105, LL106, LL2xx, LL3xx).

Model rules get ``ctx.model`` (a ``models.Inventory``) and ``ctx.analysis`` (a ``models.Analysis``
whose matching is known); the engine runs them on no other site. A model rule that describes what
peft does runs only where peft accepts the config (it must not speak when peft raises); a rule
declared ``reports_failure`` runs also where the analysis predicts an exception.

Every exception the analysis predicts becomes exactly one error finding, here: ``owner`` names the
rule that reports it (the config rules for values ``LoraConfig`` or layer creation reject, LL201,
LL203, LL204, LL205, LL307, LL009 for the failures they explain with more context, LL211 for every
other), ``failure_for`` hands it to that rule, ``blame`` points at the responsible parameter and
``raises`` words it with peft's exception and message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..model import LoraSite, Param

#: Tiny models for the rule examples (tests/fixtures/models, resolved from the repo root).
TINY = "# lora-lint: base-model=tests/fixtures/models/{}\nfrom peft import LoraConfig\n"


def example(model: str, body: str) -> str:
    return TINY.format(model) + body


#: Config-stage failures (``LoraConfig`` and the value checks of layer creation), by field: the
#: config rule that reports them without the model.
CONFIG_OWNERS = {"task_type": "LL003", "bias": "LL004", "r": "LL005", "lora_dropout": "LL006",
                 "lora_alpha": "LL007", "init_lora_weights": "LL008"}


def owner(site: LoraSite, a) -> str | None:
    """The rule that reports ``a.failure`` (None when there is none)."""
    f = getattr(a, "failure", None)
    if f is None:
        return None
    if f.kind == "config":
        return CONFIG_OWNERS.get(f.field or "", "LL009")
    if f.kind == "layer" and f.field in ("rank_pattern", "alpha_pattern"):
        return "LL005" if f.field == "rank_pattern" else "LL007"  # they check every pattern value without the model
    written = site.params.get("target_modules")
    explicit = written is not None and not written.implicit and a.spec.target_modules is not None
    if f.kind == "not-found" and a.spec.layers_to_transform is not None and any(a.entries.values()):
        return "LL205"  # the names exist; the layer filter drops them all
    if f.kind in ("not-found", "no-targets", "all-excluded", "none-targeted") and explicit:
        return "LL201"
    if f.kind in ("no-default", "no-targets") and a.spec.target_modules is None:
        return "LL203"
    if f.kind == "unsupported":
        return "LL204"
    if f.kind == "no-generation":
        return "LL307"
    if f.kind == "param-wrapper":  # written target_parameters: LL009's config check; converted experts: its model check
        return "LL009"
    if f.kind == "tokens-conflict" and isinstance(a.spec.modules_to_save, (list, tuple)) and \
            f.item in a.spec.modules_to_save:
        return "LL009"
    return "LL211"


def failure_for(site: LoraSite, ctx, code: str):
    """``(inventory, analysis, failure)`` when the analysis predicts an exception that rule ``code``
    reports, else None."""
    a = ctx.analysis
    if ctx.model is None or a is None or getattr(a, "failure", None) is None or owner(site, a) != code:
        return None
    return ctx.model, a, a.failure


def blame(site: LoraSite, failure) -> Param | LoraSite:
    """Where a finding about ``failure`` points: the element of the responsible field (a list item
    by value, a dict entry by key), else the field, else the site."""
    field = failure.field
    if field is None:
        return site
    p = site.params.get(field)
    if p is None or p.implicit:
        if failure.item is not None and field != "target_modules":
            return where(site, field, "target_modules")
        return where(site, field)
    if failure.item is not None:
        by_key = isinstance(p.value, dict)
        for it in p.items:
            if (it.key if by_key else it.value) == failure.item:
                return it
    return p


def raises(failure) -> str:
    """``get_peft_model raises ValueError: <peft's message>`` (without its final period, so that
    the finding can go on)."""
    who = "LoraConfig(...)" if failure.stage == "LoraConfig" else "get_peft_model"
    return f"{who} raises {failure.exception}: {failure.message.strip().removesuffix('.')}"


#: The heads each task type trains (peft_model.py: ``classifier_module_names``, ``qa_outputs``).
TASK_HEADS = {"SEQ_CLS": ("classifier", "score"), "TOKEN_CLS": ("classifier", "score"), "QUESTION_ANS": ("qa_outputs",)}


def head_advice(inv, a, task: str) -> str | None:
    """``set task_type='TOKEN_CLS' with exclude_modules=['score']``: the first way to train and
    save the model's ``task`` head that the replayed ``get_peft_model`` accepts (``TOKEN_CLS`` and
    ``QUESTION_ANS`` with ``all-linear`` raise without the exclusion); None when none does."""
    from dataclasses import replace

    from ..models import analyze_spec

    head = next((h for h in inv.heads if h.rpartition(".")[2] in TASK_HEADS[task]), None)
    tries = [({"task_type": task}, f"task_type={task!r}")]
    if head is not None:
        leaf = head.rpartition(".")[2]
        tries += [({"task_type": task, "exclude_modules": [leaf]}, f"task_type={task!r} with exclude_modules=[{leaf!r}]"),
                  ({"task_type": None, "modules_to_save": [*(a.spec.modules_to_save or []), leaf]},
                   f"modules_to_save=[{leaf!r}]")]
    for change, words in tries:
        b = analyze_spec(inv, replace(a.spec, **change))
        if b.failure is None and b.known and (head is None or any(head in n for n in b.saved.values())):
            return f"set {words}"
    return None


def saved_entries(ctx):
    """``(inventory, analysis, entries)``: the ``modules_to_save`` strings the user wrote, when
    they are a list; else None."""
    inv, a = ctx.model, ctx.analysis
    user = a.spec.modules_to_save
    if not isinstance(user, (list, tuple)):
        return None
    return inv, a, [e for e in user if isinstance(e, str)]


def where(site: LoraSite, *names: str) -> Param | LoraSite:
    """The first of ``names`` the site writes (known or not), else the site itself."""
    for n in names:
        p = site.params.get(n)
        if p is not None and not p.implicit:
            return p
    return site


def item(site: LoraSite, name: str, value) -> Param | LoraSite:
    """The list element of ``name`` equal to ``value`` (its own span), else the whole parameter."""
    p = site.params.get(name)
    if p is None or p.implicit:
        return site
    for it in p.items:
        if it.value == value:
            return it
    return p


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def names(items: Iterable[str], limit: int = 4) -> str:
    """``a, b, c and 5 more``."""
    items = list(items)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def label(name: str) -> str:
    """The short name people use: the leaf (``q_proj``), or for a parameter with a generic leaf the
    owner too (``model.layers.0.mlp.gate.weight`` -> ``gate.weight``)."""
    parts = name.split(".")
    if parts[-1] in ("weight", "bias") and len(parts) > 1:
        return ".".join(parts[-2:])
    return parts[-1]


def by_leaf(module_names: Iterable[str]) -> str:
    """``q_proj ×32, v_proj ×32`` (short names with counts, in first-seen order)."""
    counts = Counter(label(n) for n in module_names)
    return ", ".join(f"{leaf} ×{c}" if c > 1 else leaf for leaf, c in counts.items())


def adaptable_leaves(inv, exclude_heads: bool = True) -> list[str]:
    """Distinct leaf names of the layers LoRA can adapt (Linear/Conv1D first), in model order.
    Computed once per inventory (several rules ask for every site)."""
    return list(inv.derived(_text_leaves if exclude_heads else _all_leaves))


def _text_leaves(inv) -> list[str]:
    return _adaptable_leaves(inv, True)


def _all_leaves(inv) -> list[str]:
    return _adaptable_leaves(inv, False)


def _adaptable_leaves(inv, exclude_heads: bool) -> list[str]:
    heads = set(inv.heads) if exclude_heads else set()
    out: dict[str, None] = {}
    for kinds in (("linear", "conv1d"), ("embedding", "conv", "mha")):
        for m in inv.modules:
            if m.kind in kinds and m.name not in heads and inv.tower_of(m.name) is None:
                out.setdefault(m.leaf, None)
    return list(out)


def closest(inv, word: str, n: int = 3) -> list[str]:
    import difflib  # (here: only a name that matches nothing is compared)

    leaves = adaptable_leaves(inv)
    tail = word.rpartition(".")[2]
    return difflib.get_close_matches(tail, leaves, n=n, cutoff=0.5)


def py_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(repr(v) for v in values) + "]"


def arch(inv) -> str:
    return inv.architecture
