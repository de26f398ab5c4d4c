"""Small helpers shared by rules: reading values the way peft (or the framework) would.

What a dialect does with a value is its record's (``site.dialect``); the value a field has
when the file leaves it out is ``site.effective(name)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ..model import UNKNOWN, LoraSite, Param, is_known
from ..peft_facts import scaling as scaling  # peft's formula, for the rules


def as_number(value: Any) -> float | int | None:
    """A finite real number, or None (bools, strings, UNKNOWN, NaN and inf are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def strict(site: LoraSite) -> bool:
    """True when values reach peft as written; YAML frameworks may coerce ``"16"`` or ``16.0``."""
    return site.dialect.as_written


def real(site: LoraSite, value: Any) -> float | int | None:
    """``value`` as a finite number the way the site's framework reads it, else None.

    In Python and adapter_config.json only real numbers count; YAML frameworks (pydantic,
    argparse) also accept numeric strings, which PyYAML produces for ``5e-2``.
    """
    n = as_number(value)
    if n is not None or strict(site) or not isinstance(value, str):
        return n
    try:
        f = float(value.strip().replace("_", ""))
    except ValueError:
        return None
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


def rank(site: LoraSite, value: Any) -> int | None:
    """A rank as the framework reads it: an int (in YAML also ``16.0`` or ``"16"``), else None."""
    i = as_int(value)
    if i is not None or strict(site):
        return i
    n = real(site, value)
    if isinstance(n, float) and n.is_integer():
        return int(n)
    return n if isinstance(n, int) else None


def unset(site: LoraSite, value: Any) -> bool:
    """None in a YAML/JSON file usually means "use the default"; in Python it is passed to peft."""
    return value is None and not site.dialect.python


def fmt(x: Any) -> str:
    """A number for a message: 0.0625, 32, 1.41; huge ints shortened."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return repr(x)
    if isinstance(x, int):
        return str(x) if x.bit_length() < 64 else f"{x:.3e}" if x.bit_length() < 1000 else "a huge number"
    if x.is_integer() and abs(x) < 1e15:
        return f"{x:.1f}"
    return f"{x:.3g}"


def count(n: int) -> str:
    """A count for a message, with thousands separators (131,328), a huge one shortened (a count
    of more than 4,300 digits cannot even be printed): ``1.000e+25``, ``more than 10^300``."""
    if n.bit_length() < 64:
        return f"{n:,}"
    return f"{n:.3e}" if n.bit_length() < 1000 else "more than 10^300"


def num(x: float | int) -> str:
    """A suggested value or a ratio: 32 rather than 32.0, else three significant digits."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return fmt(x)


def a_type(value: Any) -> str:
    """``an int``, ``a list``: the type of ``value`` with its article, for messages."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def explicit_first(*params: Param | None) -> Param | None:
    """The first explicit (written) param among ``params``, else the first present one."""
    present = [p for p in params if p is not None]
    for p in present:
        if not p.implicit:
            return p
    return present[0] if present else None


def entries(site: LoraSite, name: str) -> Iterator[tuple[Any, Any, Param]]:
    """``(key, value, where)`` for each statically known entry of a dict field (rank_pattern).

    An entry whose value is unknown is skipped; the others are still checked.
    """
    p = site.params.get(name)
    if p is None or not isinstance(p.value, dict):
        return
    spans = {item.key: item for item in p.items}
    for key, value in p.value.items():
        if key is UNKNOWN or not is_known(value):
            continue
        yield key, value, spans.get(str(key), p)


def list_items(site: LoraSite, name: str) -> Iterator[tuple[Any, Param]]:
    """``(value, where)`` for each statically known element of a list/tuple/set field."""
    p = site.params.get(name)
    if p is None or not isinstance(p.value, (list, tuple, set, frozenset)):
        return
    if p.items and len(p.items) == len(p.value):
        for item in p.items:
            if is_known(item.value):
                yield item.value, item
        return
    for value in p.value:
        if is_known(value):
            yield value, p


def truthy(site: LoraSite, name: str) -> Param | None:
    """The param when it is statically known to be set to a truthy value."""
    p = site.get(name)
    if p is None:
        return None
    try:
        return p if p.value else None
    except Exception:  # an odd value whose truth cannot be taken
        return None


def rslora(site: LoraSite) -> bool | None:
    """Whether rsLoRA is on (None when unknown)."""
    v = site.effective("use_rslora")
    if v is UNKNOWN:
        return None
    return bool(v)


def rank_and_alpha(site: LoraSite) -> tuple[int | None, float | int | None]:
    """The site-wide rank and alpha as usable numbers (positive), else None."""
    r = rank(site, site.effective("r"))
    a = real(site, site.effective("lora_alpha"))
    return (r if r is not None and r > 0 else None), (a if a is not None and a > 0 else None)
