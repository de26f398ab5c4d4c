"""What each peft release accepts: fields, ``init_lora_weights`` values, task types, ``all-linear``,
and what loading a saved config with a key it does not know does (for LL001 and LL002).

The table is ``data/peft_history.json``, one row per release from v0.0.1 to the installed peft,
read from each release's own source by ``python -m lora_lint.peft_history_build`` (its docstring
says what each row holds and how it is read). ``tests/test_peft_history.py`` reads the installed
peft the same way and fails when its row is missing or differs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "peft_history.json"

Version = tuple[int, ...]


def parse(text: str) -> Version | None:
    """The release segment of a version (``0.13.2`` -> (0, 13, 2)); None if it has none."""
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split("."))


def _key(version: str) -> Version:
    return parse(version) or ()


@dataclass(frozen=True)
class Release:
    """One row of the table (see ``peft_history_build``)."""

    version: str
    fields: frozenset[str]
    init_exact: frozenset[str]
    init_lower: frozenset[str]
    init_prefix: tuple[str, ...]
    unknown_init: str  # "raise" or "default"
    task_types: frozenset[str]
    all_linear: bool
    load: str | None  # "ignore", "raise", "drop" or None

    def accepts_init(self, value: str) -> str | None:
        """The family this release knows ``value`` as (``pissa_niter_4`` -> pissa), or None."""
        if value in self.init_exact:
            return value
        if value.lower() in self.init_lower:
            return value.lower()
        return next((p for p in self.init_prefix if value.startswith(p)), None)


@lru_cache(maxsize=1)
def releases() -> tuple[Release, ...]:
    rows: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))["releases"]
    out = [Release(v, frozenset(r["fields"]), frozenset(r["init"]["exact"]), frozenset(r["init"]["lower"]),
                   tuple(r["init"]["prefix"]), r["unknown_init"], frozenset(r["task_types"]), r["all_linear"],
                   r["load"]) for v, r in rows.items()]
    return tuple(sorted(out, key=lambda r: _key(r.version)))


@lru_cache(maxsize=256)
def release_at(bound) -> Release | None:
    """The newest release a version bound allows (``pins.Bound``; None: the newest known), or
    None when it allows none. Once per bound (LL001 and LL002 ask it for every site)."""
    allowed = [r for r in releases() if bound is None or bound.allows(_key(r.version))]
    return allowed[-1] if allowed else None


def _first(pred) -> str | None:
    return next((r.version for r in releases() if pred(r)), None)


def _since_table() -> dict[str, str]:
    latest = releases()[-1].fields
    out: dict[str, str] = {}
    for r in releases():
        for f in sorted(r.fields):
            if f in latest:
                out.setdefault(f, r.version)
    return out


def _removed_table() -> dict[str, str]:
    """Fields an earlier release had and the latest has not -> the first release without them."""
    out: dict[str, str] = {}
    rs = releases()
    for prev, cur in zip(rs, rs[1:], strict=False):
        for f in sorted(prev.fields - cur.fields):
            if f not in rs[-1].fields:
                out.setdefault(f, cur.version)
    return out


#: LoraConfig field (of the newest release) -> the first release that has it.
FIELD_SINCE: dict[str, str] = _since_table()

#: Fields that existed once and were removed (old adapter_config.json files still carry them)
#: -> the first release without them.
REMOVED: dict[str, str] = _removed_table()

#: ``target_modules="all-linear"`` means every linear layer from this release on.
ALL_LINEAR_SINCE: str = _first(lambda r: r.all_linear) or ""


def task_since(task: str) -> str | None:
    """The first release whose ``TaskType`` has ``task``."""
    return _first(lambda r: task in r.task_types)


def init_value_since(value: object) -> tuple[str, str] | None:
    """``(family, first release)`` for an ``init_lora_weights`` string a release knows
    (``pissa_niter_4`` -> ("pissa", "0.11.0")); None for a non-string or a value none knows."""
    if not isinstance(value, str):
        return None
    for r in releases():
        family = r.accepts_init(value)
        if family is not None:
            return family, r.version
    return None


def _init_table() -> dict[str, str]:
    out: dict[str, str] = {}
    for r in releases():
        for v in sorted(r.init_exact | r.init_lower | set(r.init_prefix)):
            out.setdefault(v, r.version)
    return out


#: ``init_lora_weights`` family -> the first release that knows it.
INIT_SINCE: dict[str, str] = _init_table()

#: What loading a saved config does with a key the release does not know, in words.
LOAD_EFFECT = {"ignore": "ignore it", "raise": "raise TypeError", "drop": "drop it with a warning"}


def load_story(since: str | None = None) -> str:
    """``peft 0.1.0–0.5.0 ignore it, 0.6.0–0.13.2 raise TypeError, 0.14.0 and later drop it with a
    warning``: what each range of releases (from ``since`` on) does when loading a saved config
    with a key it does not know."""
    spans: list[list] = []
    start = _key(since) if since else ()
    for r in releases():
        if r.load is None or _key(r.version) < start:
            continue
        if spans and spans[-1][2] == r.load:
            spans[-1][1] = r.version
        else:
            spans.append([r.version, r.version, r.load])
    parts = [f"{a}–{b} {LOAD_EFFECT[how]}" for a, b, how in spans[:-1]]
    parts.append(f"{spans[-1][0]} and later {LOAD_EFFECT[spans[-1][2]]}")
    return "peft " + ", ".join(parts)
