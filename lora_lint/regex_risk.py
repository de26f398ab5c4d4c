"""Regular expressions from a config that would take minutes to match (and hang the commit hook).

Python's ``re`` backtracks. A quantifier inside a quantifier (``([\\w.]*)*z``), an alternation
under a quantifier (``(\\w|\\d)*z``) or many adjacent ``.*`` cost exponential or n**k steps per
module name when the match fails: ``([\\w.]*)*z`` did not finish on one 47-character name in
minutes, seven ``.*`` take 0.3 s a name and a model has hundreds. peft would hang the same way at
``get_peft_model``; lora-lint must not hang at commit time. A field whose pattern is at risk is
analysed as not statically known: the model-aware rules stay silent about it.

The test is structural and errs towards "at risk" (``(\\w+\\.)*q_proj`` is safe in practice and
still counts), which only costs an analysis, never a false finding.
"""

from __future__ import annotations

import warnings
from typing import Any

try:
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as P  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover  (Python 3.10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import sre_constants as C  # type: ignore[no-redef]
        import sre_parse as P  # type: ignore[no-redef]

#: Unbounded repeats a pattern may hold (five adjacent ``.*`` cost ~3 ms on a 47-character name).
MAX_UNBOUNDED = 4
#: A repeat whose upper bound is above this counts as unbounded.
WIDE = 10
_REPEATS = tuple(op for op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)) if op)


def catastrophic(pattern: str, allowance: int = 0) -> bool:
    """True when matching ``pattern`` may backtrack catastrophically. ``allowance``: unbounded
    repeats a wrapper around the user's pattern adds. An invalid pattern is not "at risk": it
    fails to compile, and that is reported as such."""
    if not isinstance(pattern, str):
        return False
    try:
        parsed = P.parse(pattern)
    except Exception:
        return False
    count = [0]
    return _walk(parsed, False, count, 0) or count[0] > MAX_UNBOUNDED + allowance


def _walk(items, in_repeat: bool, count: list[int], depth: int) -> bool:
    if depth > 50:
        return True
    for op, av in items:
        if op in _REPEATS:
            lo, hi, body = av
            wide = hi > WIDE
            if wide:
                count[0] += 1
                if in_repeat:
                    return True  # a quantifier inside a quantifier
            if _walk(body, in_repeat or wide, count, depth + 1):
                return True
        elif op is C.BRANCH:
            if in_repeat and len(av[1]) > 1:
                return True  # alternatives under a quantifier
            if any(_walk(alt, in_repeat, count, depth + 1) for alt in av[1]):
                return True
        elif op is C.SUBPATTERN:
            if _walk(av[-1], in_repeat, count, depth + 1):
                return True
        elif op in (C.ASSERT, C.ASSERT_NOT):
            if _walk(av[1], in_repeat, count, depth + 1):
                return True
        elif op is C.GROUPREF_EXISTS:
            _, yes, no = av
            if _walk(yes, in_repeat, count, depth + 1) or (no is not None and _walk(no, in_repeat, count, depth + 1)):
                return True
        elif getattr(C, "ATOMIC_GROUP", None) is op:
            if _walk(av, in_repeat, count, depth + 1):
                return True
    return False


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, dict):
        return [k for k in value if isinstance(k, str)]
    return []


def risky_fields(spec) -> list[str]:
    """The fields of a ``LoraSpec`` whose regexes are at risk (peft's own wrappers included)."""
    out = []
    if isinstance(spec.target_modules, str) and catastrophic(spec.target_modules):
        out.append("target_modules")
    if isinstance(spec.exclude_modules, str) and catastrophic(spec.exclude_modules):
        out.append("exclude_modules")
    checks = (  # field, peft's wrapper (tuners_utils.py, utils/other.py), repeats it adds
        ("modules_to_save", r"(^|.*\.){}($|\..*)", 2),
        ("layers_pattern", r"(?:^|.*?\.){}\.(?P<idx>\d+)\.", 2),
        ("rank_pattern", r"(.*\.)?({})$", 1),
        ("alpha_pattern", r"(.*\.)?({})$", 1),
    )
    for name, wrapper, extra in checks:
        if any(catastrophic(s) or catastrophic(wrapper.format(s), extra) for s in _strings(getattr(spec, name))):
            out.append(name)
    return out
