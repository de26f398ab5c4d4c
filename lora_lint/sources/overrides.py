"""File-level overrides written as comments: ``# lora-lint: base-model=ID [model-class=CLASS]``.

The comment may appear anywhere in a Python or YAML file and applies to every site in the file
(``model-class`` picks the head: ``SequenceClassification``, ``AutoModelForCausalLM``...).
In Python only a real comment counts (not text inside a string); in YAML a ``#`` starts a comment
at the start of a line or after whitespace.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import replace

from ..model import LoraSite, Param, Span

#: The key a comment-given base model carries: ``LoraSite.base_model.key`` says where it came from.
COMMENT_KEY = "lora-lint: base-model"
_COMMENT = re.compile(r"#\s*lora-lint:\s*(?P<body>.*)")
_PAIR = re.compile(r"\b(?P<key>base-model|model-class)\s*=\s*(?P<q>['\"]?)(?P<value>[^\s'\"#]+)(?P=q)")
_YAML_COMMENT = re.compile(r"(?:^|(?<=\s))#")


def directives(path: str, text: str) -> dict[str, Param]:
    """``base-model`` / ``model-class`` from ``# lora-lint:`` comments (the last of each wins)."""
    if "base-model" not in text and "model-class" not in text:
        return {}
    text = text.removeprefix("\ufeff")  # columns on line 1 do not count a BOM (as the readers)
    found: dict[str, Param] = {}
    if path.lower().endswith(".json"):  # JSON has no comments: a '#' is inside a string
        return {}
    if path.lower().endswith((".py", ".pyi")):
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text, newline=None).readline))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            return {}
        for tok in tokens:
            if tok.type == tokenize.COMMENT:
                found.update(_match(tok.string, tok.start[0], tok.start[1]))
        return found
    from ..lines import split_lines

    for n, line in enumerate(split_lines(path, text), 1):
        if "lora-lint" not in line:
            continue
        for hash_at in _YAML_COMMENT.finditer(line):
            got = _match(line[hash_at.start():], n, hash_at.start())
            if got:
                found.update(got)
                break
    return found


def base_model_comment(path: str, text: str) -> Param | None:
    """The ``# lora-lint: base-model=ID`` comment of the file, as a Param, or None."""
    return directives(path, text).get("base-model")


def _match(comment: str, line: int, col0: int) -> dict[str, Param]:
    m = _COMMENT.match(comment)
    if m is None:
        return {}
    out = {}
    for pair in _PAIR.finditer(m.group("body")):
        start = col0 + m.start("body") + pair.start("value") + 1
        key = COMMENT_KEY if pair.group("key") == "base-model" else "lora-lint: model-class"
        out[pair.group("key")] = Param(key, pair.group("value"),
                                       Span(line, start, line, start + len(pair.group("value"))))
    return out


def apply_comment(path: str, text: str, sites: list[LoraSite]) -> list[LoraSite]:
    if not sites:
        return sites
    found = directives(path, text)
    changes = {}
    if "base-model" in found:
        changes["base_model"] = found["base-model"]
    if "model-class" in found:
        changes["model_class"] = found["model-class"].value
    return [replace(s, **changes) for s in sites] if changes else sites
