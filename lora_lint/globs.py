"""Path globs from config files (``exclude``, ``extend-exclude``, ``per-file-ignores``, the
per-path ``base-model`` table), matched in bounded time.

A glob is read like a ``.gitignore`` line: ``*`` and ``?`` stay inside one path component, a
``**`` component crosses any number of them (a run of them, ``**/**/``, is one), ``[...]`` is a
character class (``[!...]`` negated), ``\\`` escapes. Translated to one regular expression, a
pattern with a dozen ``**/`` took 45 s to fail on one path, and four ``*`` in one component a
second per file name (Python's ``re`` backtracks). Here no regular expression backtracks more
than once: the path is split into components, the pattern's components are matched against them
as a set of states (like a regex engine without backtracking: at most pattern length x path
length steps), and within a component every ``*`` but the last commits to the leftmost place its
text fits (``fnmatch``'s technique; exact, since a component holds no ``/``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_GLOBSTAR = None  # a ``**`` component


@dataclass(frozen=True)
class Glob:
    """A '/'-separated glob, matched against '/'-separated relative paths."""

    pattern: str
    parts: tuple[re.Pattern | None, ...]  # one regex a component; None for ``**``

    @classmethod
    def compile(cls, pattern: str) -> Glob:
        """Raises ``re.error`` for an invalid character class (``[z-a]``, ``a[]b``)."""
        parts: list[re.Pattern | None] = []
        for component in pattern.split("/"):
            if component == "**":
                if not parts or parts[-1] is not _GLOBSTAR:
                    parts.append(_GLOBSTAR)
            else:
                parts.append(re.compile(component_regex(component), re.S))
        return cls(pattern, tuple(parts))

    def match(self, path: str, prefix: bool = False) -> bool:
        """``path`` (its components), or with ``prefix`` some leading components of it, match."""
        parts, n = self.parts, len(self.parts)
        states = self._closure({0})
        for j, name in enumerate(path.split("/")):
            if prefix and j and n in states:
                return True
            after: set[int] = set()
            for i in states:
                if i == n:
                    continue
                part = parts[i]
                if part is _GLOBSTAR:
                    after.add(i)
                elif part.match(name):
                    after.add(i + 1)
            if not after:
                return False
            states = self._closure(after)
        return n in states

    def _closure(self, states: set[int]) -> set[int]:
        """``states`` and those a ``**`` matching no component reaches from them."""
        out = set(states)
        for i in sorted(states):
            while i < len(self.parts) and self.parts[i] is _GLOBSTAR:
                i += 1
                out.add(i)
        return out


def component_regex(component: str) -> str:
    """A regex matching one path component against ``component`` (``*``, ``?``, ``[...]``, ``\\``).
    Each ``*`` but the last matches lazily inside an emulated atomic group, so the regex never
    backtracks into it."""
    chunks: list[list[str]] = [[]]  # the atoms between stars
    i = 0
    while i < len(component):
        c = component[i]
        if c == "*":
            while i + 1 < len(component) and component[i + 1] == "*":
                i += 1
            chunks.append([])
        elif c == "?":
            chunks[-1].append(".")
        elif c == "[":
            j = component.find("]", i + 1)
            if j == -1:
                chunks[-1].append(re.escape(c))
            else:
                body = component[i + 1:j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                chunks[-1].append(f"[{body}]")
                i = j
        elif c == "\\" and i + 1 < len(component):
            i += 1
            chunks[-1].append(re.escape(component[i]))
        else:
            chunks[-1].append(re.escape(c))
        i += 1
    out = ["".join(chunks[0])]
    for k, chunk in enumerate(chunks[1:-1], 1):
        out.append(f"(?=(?P<g{k}>.*?{''.join(chunk)}))(?P=g{k})")
    if len(chunks) > 1:
        out.append(".*" + "".join(chunks[-1]))
    return "".join(out) + r"\Z"
