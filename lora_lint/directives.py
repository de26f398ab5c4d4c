"""Comment directives: one scanner for every kind of file with comments, the same ``#`` syntax.

* ``# lora-lint: ignore[LL101, rank-diminishing-returns]`` on a finding's line, or alone on the
  line above it (``ignore`` without a list: every rule); ``# lora-lint: ignore-file[LL101]``
  anywhere, for the whole file; ``# noqa: LL101`` on the line (codes only), and a bare ``# noqa``
  (every finding on its line, as ruff and flake8 read it). ``suppressions`` applies them.
* ``# lora-lint: base-model=ID [model-class=CLASS]`` anywhere: the base model (and the class it
  is loaded with) of every site in the file (``apply_model_directives``); ``gpu-memory=24GiB``:
  the memory of each GPU the file's configs train on (LL107), in the sites' context.

Comments are found on the text without running anything: Python with ``tokenize`` (a ``#``
inside a string never counts), YAML with a small scanner that knows quoted and block scalars,
shell scripts by bash's rule (a ``#`` that starts a word, outside quotes). JSON has no comments.
A kind with comments of its own adds its scanner to ``SCANNERS``. In a shell script a directive
alone on the line above a command covers every line the command continues onto.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from typing import NamedTuple

from .model import LoraSite, Param, Span
from .source_file import Kind, SourceFile
from .training import GPU_MEMORY


class Comment(NamedTuple):
    line: int  # 1-based
    col0: int  # 0-based column of the '#'
    text: str  # from the '#' to the end of the line


# -- finding comments ----------------------------------------------------------------------------

def python_comments(source: SourceFile) -> Iterator[Comment]:
    """Each comment token; stops quietly where the file breaks. IPython's own lines (a notebook,
    an export with ``!pip install``) are masked first, as the reader masks them."""
    import tokenize

    from .ipython import masked, may_have_magics

    text = masked(source.text) if may_have_magics(source.text) else source.text
    try:
        # newline=None: a lone \r ends a line, as it does for libcst
        for tok in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if tok.type == tokenize.COMMENT:
                yield Comment(tok.start[0], tok.start[1], tok.string)
    except (tokenize.TokenError, SyntaxError):
        return


@cache
def _block_start() -> re.Pattern:
    """A line whose value is a block scalar (``key: |``, ``- >-``): its content lines follow."""
    return re.compile(r"(?:^\s*|[:-]\s+)[|>][0-9]?[+-]?[0-9]?$")


def _block_parent(line: str) -> int:
    """The column a block scalar's content lines must exceed: its key's, or its dash's."""
    i = len(line) - len(line.lstrip(" "))
    last_dash = None
    while line.startswith("-", i) and line[i + 1 : i + 2] in ("", " ", "\t"):
        last_dash = i
        i += 1
        while line[i : i + 1] in (" ", "\t"):
            i += 1
    if last_dash is not None and line[i : i + 1] in ("|", ">"):
        return last_dash
    return i


def yaml_comments(source: SourceFile) -> Iterator[Comment]:
    """Each YAML comment: a ``#`` at the start of a line or after whitespace, outside quoted and
    block scalars."""
    quote: str | None = None
    block_parent: int | None = None  # the column a block scalar's content lines exceed
    for n, line in enumerate(source.lines, 1):
        if block_parent is not None:
            if not line.strip() or len(line) - len(line.lstrip(" ")) > block_parent:
                continue
            block_parent = None
        prev = ""  # the last non-blank character outside quotes, "" at the start of the line
        content_end = len(line)
        i = 0
        while i < len(line):
            c = line[i]
            if quote == '"':
                if c == "\\":
                    i += 1
                elif c == '"':
                    quote, prev = None, c
            elif quote == "'":
                if c == "'" and line[i + 1 : i + 2] == "'":
                    i += 1
                elif c == "'":
                    quote, prev = None, c
            elif c == "#" and (i == 0 or line[i - 1] in " \t"):
                content_end = i
                yield Comment(n, i, line[i:])
                break
            elif c in "\"'" and prev in ("", ":", "-", "[", "{", ",", "?") and (
                i == 0 or line[i - 1] in " \t[{,"
            ):
                quote = c
            elif not c.isspace():
                prev = c
            i += 1
        if quote is None and _block_start().search(line[:content_end].rstrip()):
            block_parent = _block_parent(line)


def shell_comments(source: SourceFile) -> Iterator[Comment]:
    """Each shell comment: a ``#`` that starts a word (at the start of a line, after a blank or an
    operator), outside quotes, as bash reads it. Here-document bodies are text to bash but are
    scanned like lines of the script."""
    quote: str | None = None
    for n, line in enumerate(source.lines, 1):
        i = 0
        while i < len(line):
            c = line[i]
            if quote == "'":
                if c == "'":
                    quote = None
            elif quote is not None:  # ``"`` or ``$'``
                if c == "\\":
                    i += 1
                elif c == quote[-1]:
                    quote = None
            elif c == "\\":
                i += 1
            elif c == "'":
                quote = "$'" if line[i - 1 : i] == "$" else "'"
            elif c == '"':
                quote = '"'
            elif c == "#" and (i == 0 or line[i - 1] in " \t;&|()<>"):
                yield Comment(n, i, line[i:])
                break
            i += 1


#: Kind -> its comment scanner. A kind that is not here has no comments.
SCANNERS: dict[Kind, Callable[[SourceFile], Iterator[Comment]]] = {
    Kind.PYTHON: python_comments,
    Kind.YAML: yaml_comments,
    Kind.SHELL: shell_comments,
}


def comments(source: SourceFile) -> Iterator[Comment]:
    scan = SCANNERS.get(source.kind) if source.kind is not None else None
    return scan(source) if scan is not None else iter(())


# -- suppressions --------------------------------------------------------------------------------

@cache
def _suppression() -> re.Pattern:
    """An ``ignore``/``ignore-file``/``noqa`` directive in a comment."""
    return re.compile(
        r"#\s*(?:lora-lint:\s*(?P<kind>ignore-file|ignore)(?![\w-])(?:\[(?P<list>[^\]]*)\])?"
        r"|noqa(?![\w-])(?:(?P<colon>:)\s*(?P<noqa>[A-Za-z]+[0-9]+(?:\s*,?\s*[A-Za-z]+[0-9]+)*)?)?)",
        re.IGNORECASE,
    )


@dataclass
class Suppression:
    line: int
    col: int
    end_col: int
    file_level: bool
    entries: tuple[str, ...] | None  # None: every rule
    lines: frozenset[int] = frozenset()  # the lines a line-level directive covers
    used: set[str] = field(default_factory=set)  # entries (or "*") that suppressed something
    #: A bare noqa comment: it silences every finding on its line, as in ruff and flake8, but it is
    #: there for every linter, so it is never reported as unused (LL904).
    shared: bool = False

    @property
    def span(self) -> Span:
        return Span(self.line, self.col, self.line, self.end_col)


def suppressions(source: SourceFile) -> list[Suppression]:
    """The file's ``ignore``, ``ignore-file`` and ``noqa`` comments."""
    lines = source.lines
    out: list[Suppression] = []
    for c in comments(source):
        lowered = c.text.lower()
        if "lora-l" not in lowered and "noqa" not in lowered:  # (IGNORECASE reads "ı" as "i")
            continue
        own_line = not lines[c.line - 1][:c.col0].strip()
        for m in _suppression().finditer(c.text):
            start, end = c.col0 + m.start() + 1, c.col0 + m.end() + 1
            if m["noqa"]:
                entries = tuple(x.upper() for x in re.findall(r"[A-Za-z]+[0-9]+", m["noqa"]) if x.upper().startswith("LL"))
                if not entries:
                    continue
                out.append(Suppression(c.line, start, end, False, entries, frozenset({c.line})))
                continue
            if m["kind"] is None:  # a bare noqa (a colon with no codes is not one): every rule, its line
                if not m["colon"] and not own_line:
                    out.append(Suppression(c.line, start, end, False, None, frozenset({c.line}), shared=True))
                continue
            raw = m["list"]
            entries = None if raw is None else tuple(e.strip() for e in raw.split(",") if e.strip())
            file_level = m["kind"].lower() == "ignore-file"
            covered = {c.line}
            if own_line and not file_level:
                nxt = _next_code_line(lines, c.line)
                if nxt:
                    covered.add(nxt)
                    if source.kind is Kind.SHELL:  # the whole command, through its continuations
                        covered.update(_continued(lines, nxt))
            out.append(Suppression(c.line, start, end, file_level, entries, frozenset(covered)))
    return out


def _continued(lines: list[str], line: int) -> range:
    """The lines a shell command starting on ``line`` continues onto (each ending in a backslash)."""
    end = line
    while end <= len(lines) and lines[end - 1].endswith("\\") and not lines[end - 1].lstrip().startswith("#"):
        end += 1
    return range(line, min(end, len(lines)) + 1)


def _next_code_line(lines: list[str], line: int) -> int | None:
    for n in range(line + 1, len(lines) + 1):
        s = lines[n - 1].strip()
        if s and not s.startswith("#"):
            return n
    return None


# -- the model of the file -------------------------------------------------------------------------

#: The key a comment-given base model carries: ``LoraSite.base_model.key`` says where it came from.
COMMENT_KEY = "lora-lint: base-model"
CLASS_KEY = "lora-lint: model-class"
GPU_MEMORY_KEY = "lora-lint: gpu-memory"
_KEYS = {"base-model": COMMENT_KEY, "model-class": CLASS_KEY, "gpu-memory": GPU_MEMORY_KEY}
_MODEL = r"#\s*lora-lint:\s*(?P<body>.*)"
_PAIR = r"\b(?P<key>base-model|model-class|gpu-memory)\s*=\s*(?P<q>['\"]?)(?P<value>[^\s'\"#]+)(?P=q)"


def model_directives(source: SourceFile) -> dict[str, Param]:
    """``base-model`` / ``model-class`` / ``gpu-memory`` from ``# lora-lint:`` comments (the last
    of each wins)."""
    if not any(k in source.text for k in _KEYS):
        return {}
    found: dict[str, Param] = {}
    for c in comments(source):
        m = re.search(_MODEL, c.text)
        if m is None:
            continue
        for pair in re.finditer(_PAIR, m.group("body")):
            start = c.col0 + m.start("body") + pair.start("value") + 1
            value = pair.group("value")
            key = _KEYS[pair.group("key")]
            found[pair.group("key")] = Param(key, value, Span(c.line, start, c.line, start + len(value)))
    return found


def apply_model_directives(source: SourceFile, sites: list[LoraSite]) -> list[LoraSite]:
    """``sites`` with the file's ``base-model`` / ``model-class`` / ``gpu-memory`` comment applied."""
    if not sites:
        return sites
    found = model_directives(source)
    changes = {}
    if "base-model" in found:
        changes["base_model"] = found["base-model"]
    if "model-class" in found:
        changes["model_class"] = found["model-class"].value
    if "gpu-memory" in found:
        return [replace(s, **changes, context={**s.context, GPU_MEMORY: found["gpu-memory"]}) for s in sites]
    return [replace(s, **changes) for s in sites] if changes else sites
