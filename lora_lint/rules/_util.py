"""Small helpers shared by rules."""

from __future__ import annotations

import math
from typing import Any


def as_number(value: Any) -> float | int | None:
    """A finite real number, or None (bools, strings, UNKNOWN, NaN and inf are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
