"""How much work libcst's parser would do on a text, measured before it runs, and a parse that
cannot take the process down.

Size. libcst's time and memory grow with the number of tokens (comments and line breaks
included: each becomes nodes of the tree), and the rest of the analysis (the tree walks, the
positions) multiplies them: a 400 KB literal list took 17 s and 1 GB, a 2 MB one-line file 99 s
and 5 GB, and 9.4 MB aborted the process. A file of more than ``MAX_TOKENS`` tokens is refused
as LL901 "too large to analyse" without parsing; counting stops there, so the screen itself
costs at most ``MAX_TOKENS`` tokens of Python's tokenizer (about 0.4 s). Where the cost is: the
tree libcst builds takes ~2-3 KB a token (three quarters of the peak memory), while its native
parse is only ~15-30% of the time; the Python side (the visit that rebuilds every node, the
visitor replays, the code generation that computes positions) is the rest. The largest real
training scripts measured (a few thousand lines) are about 30,000 tokens; at ``MAX_TOKENS`` a
whole lint takes 2 to 8 s of CPU and at most 310 MB, depending on the shape (a literal list,
statements, one long line, comments, thousands of ``LoraConfig`` calls).

Depth. libcst's native parser (Rust) recurses once per nesting level and has no limit of its own: a few
thousand levels overflow the C stack and the process dies with SIGSEGV -- no exception, no
finding, a dead commit hook. On an 8 MB stack (libcst 1.8) it dies at 682 nested ``(y := ...)``,
1,265 nested parentheses, 1,926 chained subscripts ``a[0][0]...``, 3,792 chained ``+`` or
attribute accesses and 8,261 ``elif`` branches.

``depth`` estimates that recursion from Python's own tokenizer, conservatively: every bracket
opens a level, and within a level every operator, keyword, trailer or ``elif`` since the last
comma deepens it (a flat list of a million items is shallow; ``1+1+...`` is not). A file deeper
than ``MAX_DEPTH`` is refused as LL901 without parsing (real code stays below 100, and the
Python-side tree walks give up with RecursionError long before); a file deeper than
``INLINE_DEPTH`` is parsed on a thread with a ``BIG_STACK`` stack, so the caller's stack size
(a thread pool's, an editor's) does not matter. The worst construct measured costs ~4.4 KB of
stack per unit: ``MAX_DEPTH`` needs ~4.4 MB, ``INLINE_DEPTH`` ~180 KB. Real code measures 10 to
30 (transformers' modeling files, peft, lora-lint: median 17, max 29), so it parses inline; the
estimate costs about a fifth of the parse.
"""

from __future__ import annotations

import io
import keyword
import threading
import tokenize
from typing import Any

from ..model import Span
from ..source_file import lines_with_breaks
from ._base import SourceError

MAX_DEPTH = 1000
INLINE_DEPTH = 40
BIG_STACK = 64 * 1024 * 1024
MAX_TOKENS = 100_000

_OPEN = frozenset("([{")
_CLOSE = frozenset(")]}")
_SEPARATORS = frozenset({",", ";"})
_OPERANDS = frozenset({"True", "False", "None"})
_CHAIN_STATEMENTS = frozenset({"elif", "else", "except", "finally", "case"})
_OPERATOR_CHARS = frozenset("([{.+-*/%@&|^~<>=:!")
_stack_lock = threading.Lock()


class TooLarge(SourceError):
    """More than ``MAX_TOKENS`` tokens: not parsed (LL901)."""

    def __init__(self) -> None:
        super().__init__(f"file is too large to analyse: more than {MAX_TOKENS:,} Python tokens"
                         " (lora-lint's bound for one file); its LoRA configs are not checked",
                         Span.point(1, 1))


def depth(text: str) -> int:
    """An upper estimate of the parser's recursion depth on ``text``, in units of one level.
    Stops counting once above ``MAX_DEPTH``."""
    return measure(text, None)[0]


def measure(text: str, max_tokens: int | None = MAX_TOKENS) -> tuple[int, int]:
    """``(depth, tokens)``: ``depth`` as above, and the number of tokens; both stop counting once
    above their bound (``MAX_DEPTH``, ``max_tokens``)."""
    levels: list[int] = [0]  # chain weight of each open bracket level (index 0: the statement)
    blocks: list[int] = [0]  # elif count of each open indented block
    total = 2  # len(levels) + sum(levels) + len(blocks) + sum(blocks), kept up to date
    best = 0
    line_start = True
    row = 1
    tokens = 0
    limit = max_tokens if max_tokens is not None else -1
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            tokens += 1
            if tokens == limit + 1:
                return best, tokens
            kind, string = tok.type, tok.string
            row = tok.start[0]
            if kind == tokenize.INDENT:
                blocks.append(0)
                total += 1
                continue
            if kind == tokenize.DEDENT:
                if len(blocks) > 1:
                    total -= 1 + blocks.pop()
                continue
            if kind in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
                if kind == tokenize.NEWLINE or len(levels) == 1:
                    total -= len(levels) - 1 + sum(levels)
                    levels = [0]
                    line_start = True
                continue
            if line_start:
                line_start = False
                total -= blocks[-1]
                blocks[-1] = blocks[-1] + 1 if string in _CHAIN_STATEMENTS else 0
                total += blocks[-1]
            if kind == tokenize.OP and string in _OPEN:
                levels[-1] += 1
                levels.append(0)
                total += 2
            elif kind == tokenize.OP and string in _CLOSE:
                if len(levels) > 1:
                    total -= 1 + levels.pop()
            elif kind == tokenize.OP and string in _SEPARATORS:
                total -= levels[-1]
                levels[-1] = 0
            elif (kind == tokenize.OP or kind == tokenize.ERRORTOKEN and string.strip()
                  or kind == tokenize.NAME and keyword.iskeyword(string) and string not in _OPERANDS):
                levels[-1] += 1
                total += 1
            here = total
            if kind == tokenize.STRING and "f" in string[: string.find(string[-1])].lower():
                here += _fstring_depth(string)
            if here > best:
                best = here
                if best > MAX_DEPTH:
                    return best, tokens
    except tokenize.TokenError as e:
        if "string" in str(e):  # an unterminated string: libcst's tokenizer refuses it too
            return best, tokens
        # EOF inside brackets: every token was counted above.
    except SyntaxError:
        # The tokenizer stopped mid-file (a bad dedent): count the rest crudely, never less.
        rest = "".join(lines_with_breaks(text)[row - 1:])
        best = max(best, total + sum(c in _OPERATOR_CHARS for c in rest))
        tokens += len(rest.split())
    return best, tokens


def _fstring_depth(token: str) -> int:
    """Depth inside the replacement fields of an f-string token (Python < 3.12 keeps them in
    one STRING token): brackets and operators inside ``{...}``, literal text not counted."""
    best = cur = braces = 0
    i = 0
    while i < len(token):
        c = token[i]
        if braces == 0:
            if c == "{" and token[i + 1 : i + 2] == "{":
                i += 2
                continue
            if c == "{":
                braces = 1
                cur = 1
        else:
            if c in "{([":
                braces += c == "{"
                cur += 2
            elif c in "})]":
                braces -= c == "}"
            elif c in _OPERATOR_CHARS:
                cur += 1
            best = max(best, cur)
        i += 1
    return best


def parse_guarded(parse, text: str) -> Any:
    """``parse(text)``, on a thread with a big stack when the text is deep. Raises ``TooLarge``
    (without parsing) when it has more than ``MAX_TOKENS`` tokens, ``RecursionError`` when it is
    deeper than ``MAX_DEPTH``."""
    d, tokens = measure(text)
    if tokens > MAX_TOKENS:
        raise TooLarge()
    if d > MAX_DEPTH:
        raise RecursionError(f"nesting depth {d} is above {MAX_DEPTH}")
    if d <= INLINE_DEPTH:
        return parse(text)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = parse(text)
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    with _stack_lock:
        old = threading.stack_size(BIG_STACK)
        try:
            t = threading.Thread(target=work, name="lora-lint-parse", daemon=True)
            t.start()
        finally:
            threading.stack_size(old)
    t.join()
    if "error" in box:
        raise box["error"]
    return box["result"]
