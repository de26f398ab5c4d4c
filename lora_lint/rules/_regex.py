"""Can a string matched by a regular expression contain a ``.``? (Used by LL011.)

Walks the parsed pattern (``re._parser``, ``sre_parse`` before Python 3.11). Anything it does not
understand counts as "can match", so a rule built on it errs on the side of silence.
"""

from __future__ import annotations

import warnings

try:
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as P  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover  (Python 3.10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import sre_constants as C  # type: ignore[no-redef]
        import sre_parse as P  # type: ignore[no-redef]

_CATEGORY_MATCHES_DOT = {
    C.CATEGORY_DIGIT: False, C.CATEGORY_NOT_DIGIT: True,
    C.CATEGORY_SPACE: False, C.CATEGORY_NOT_SPACE: True,
    C.CATEGORY_WORD: False, C.CATEGORY_NOT_WORD: True,
    C.CATEGORY_LINEBREAK: False, C.CATEGORY_NOT_LINEBREAK: True,
}


def can_match_dot(pattern: str) -> bool:
    """False only when no string matched by ``pattern`` can contain a ``.``."""
    try:
        parsed = P.parse(pattern)
        return _seq(parsed, ord("."), 0)
    except Exception:
        return True


def _seq(items, c: int, depth: int) -> bool:
    if depth > 100:
        return True
    return any(_op(op, av, c, depth) for op, av in items)


def _op(op, av, c: int, depth: int) -> bool:
    if op is C.LITERAL:
        return av == c
    if op is C.NOT_LITERAL:
        return av != c
    if op is C.ANY:
        return c != ord("\n")
    if op is C.IN:
        return _in(av, c)
    if op in (C.AT, C.GROUPREF, C.ASSERT, C.ASSERT_NOT):
        return False  # anchors, lookarounds and backreferences add no new characters
    if op is C.SUBPATTERN:
        return _seq(av[-1], c, depth + 1)
    if op is C.BRANCH:
        return any(_seq(alt, c, depth + 1) for alt in av[1])
    if op in (C.MAX_REPEAT, C.MIN_REPEAT) or getattr(C, "POSSESSIVE_REPEAT", None) is op:
        lo, hi, body = av
        return hi != 0 and _seq(body, c, depth + 1)
    if getattr(C, "ATOMIC_GROUP", None) is op:
        return _seq(av, c, depth + 1)
    if op is C.GROUPREF_EXISTS:
        _, yes, no = av
        return _seq(yes, c, depth + 1) or (no is not None and _seq(no, c, depth + 1))
    return True  # unknown: assume it can


def _in(items, c: int) -> bool:
    negate = False
    hit = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            hit = hit or av == c
        elif op is C.RANGE:
            hit = hit or av[0] <= c <= av[1]
        elif op is C.CATEGORY:
            hit = hit or _CATEGORY_MATCHES_DOT.get(av, True)
        else:
            return True
    return hit != negate
