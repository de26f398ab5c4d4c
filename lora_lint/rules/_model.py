"""Helpers shared by the model-aware rules (LL105, LL106, LL2xx, LL3xx).

Model rules get ``ctx.model`` (a ``models.Inventory``) and ``ctx.analysis`` (a ``models.Analysis``
whose matching is known): the engine runs them on no other site.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable

from ..model import LoraSite, Param

#: Tiny models for the rule examples (tests/fixtures/models, resolved from the repo root).
TINY = "# lora-lint: base-model=tests/fixtures/models/{}\nfrom peft import LoraConfig\n"


def example(model: str, body: str) -> str:
    return TINY.format(model) + body


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
    memo = getattr(inv, "__dict__", {}).setdefault("_adaptable_leaves", {})
    if exclude_heads not in memo:
        memo[exclude_heads] = _adaptable_leaves(inv, exclude_heads)
    return list(memo[exclude_heads])


def _adaptable_leaves(inv, exclude_heads: bool) -> list[str]:
    heads = set(inv.heads) if exclude_heads else set()
    out: dict[str, None] = {}
    for kinds in (("linear", "conv1d"), ("embedding", "conv", "mha")):
        for m in inv.modules:
            if m.kind in kinds and m.name not in heads and inv.tower_of(m.name) is None:
                out.setdefault(m.leaf, None)
    return list(out)


def closest(inv, word: str, n: int = 3) -> list[str]:
    leaves = adaptable_leaves(inv)
    tail = word.rpartition(".")[2]
    return difflib.get_close_matches(tail, leaves, n=n, cutoff=0.5)


def py_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(repr(v) for v in values) + "]"


def arch(inv) -> str:
    return inv.architecture
