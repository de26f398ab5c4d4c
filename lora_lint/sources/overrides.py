"""File-level overrides written as comments: ``# lora-lint: base-model=ID``.

The comment may appear anywhere in a Python or YAML file and applies to every site in the file.
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
_COMMENT = re.compile(r"#\s*lora-lint:\s*base-model\s*=\s*(?P<q>['\"]?)(?P<id>[^\s'\"#]+)(?P=q)")
_YAML_COMMENT = re.compile(r"(?:^|(?<=\s))#")


def base_model_comment(path: str, text: str) -> Param | None:
    """The last ``# lora-lint: base-model=ID`` comment of the file, as a Param, or None."""
    if "base-model" not in text:
        return None
    found: Param | None = None
    if path.lower().endswith((".py", ".pyi")):
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            return None
        for tok in tokens:
            if tok.type == tokenize.COMMENT:
                found = _match(tok.string, tok.start[0], tok.start[1]) or found
        return found
    for n, line in enumerate(text.splitlines(), 1):
        if "base-model" not in line:
            continue
        for hash_at in _YAML_COMMENT.finditer(line):
            p = _match(line[hash_at.start():], n, hash_at.start())
            if p is not None:
                found = p
                break
    return found


def _match(comment: str, line: int, col0: int) -> Param | None:
    m = _COMMENT.match(comment)
    if m is None:
        return None
    start = col0 + m.start("id") + 1
    return Param(COMMENT_KEY, m.group("id"), Span(line, start, line, start + len(m.group("id"))))


def apply_comment(path: str, text: str, sites: list[LoraSite]) -> list[LoraSite]:
    if not sites:
        return sites
    param = base_model_comment(path, text)
    if param is None:
        return sites
    return [replace(s, base_model=param) for s in sites]
