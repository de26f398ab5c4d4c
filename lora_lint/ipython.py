"""IPython syntax in Python text: the lines that are IPython's own, and the text with them masked.

Notebooks and their exports (Colab's "Download .py") hold lines Python cannot parse: shell
escapes (``!pip install peft``), line and cell magics (``%pip install``, ``%time x = f()``,
``%%capture``), help (``model?``, ``??model``), their assignments (``files = !ls``,
``t = %timeit -o f()``) and, with automagic on, magics without their ``%`` (``pip install peft``,
``cd /content``). IPython recognises them only where a statement starts: not inside brackets,
not after a line ending with a backslash, not inside a triple-quoted string; so ``!= 0`` on a
continuation line is Python, and so is a ``%`` in a docstring.

``masked(text)`` gives the text with each such line replaced by a Python statement of exactly
the same length (``000…``, a number: an expression statement) and the lines it continues onto
with a trailing backslash by spaces. Every other character stays where it was, so a parse tree
of the masked text has the positions of the original, and edits made against it apply to the
original. A cell magic whose body is not Python (``%%bash``, ``%%writefile``) is not masked
here: the notebook reader leaves such cells out (``python_cell``).
"""

from __future__ import annotations

import re

from .source_file import LINE_BREAK as _BREAK

#: Cell magics whose body is Python run in the notebook's namespace (the rest of the cell is read).
PYTHON_CELL_MAGICS = frozenset({"capture", "time", "timeit", "prun", "debug"})

#: IPython's line magics that automagic lets users type without ``%`` (ruff's list). Such a line
#: is masked only when it is not Python by itself (``cd /content`` is a division, and parses).
AUTOMAGICS = frozenset({
    "alias", "alias_magic", "autoawait", "autocall", "automagic", "bookmark", "cd", "code_wrap",
    "colors", "conda", "config", "debug", "dhist", "dirs", "doctest_mode", "edit", "env", "gui",
    "history", "killbgscripts", "load", "load_ext", "loadpy", "logoff", "logon", "logstart",
    "logstate", "logstop", "lsmagic", "macro", "magic", "mamba", "matplotlib", "micromamba",
    "notebook", "page", "pastebin", "pdb", "pdef", "pdoc", "pfile", "pinfo", "pinfo2", "pip", "popd",
    "pprint", "precision", "prun", "psearch", "psource", "pushd", "pwd", "pycat", "pylab", "quickref",
    "recall", "rehashx", "reload_ext", "rerun", "reset", "reset_selective", "run", "save", "sc",
    "set_env", "sx", "system", "tb", "time", "timeit", "unalias", "unload_ext", "who", "who_ls",
    "whos", "xdel", "xmode",
})

#: A statement that is IPython's: an escape (``!``, ``%``, ``?``), help after a name (``x?``,
#: ``np.*load*??``, ``%time?``), or an assignment of a shell command's or magic's output.
_ESCAPED = re.compile(
    r"[!%?]"
    r"|%{0,2}[A-Za-z_*][\w.*]*\?{1,2}\s*$"
    r"|[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[!%]"
)
#: A name, a space, and more that does not continue a Python statement (``config = ...``,
#: ``time.sleep``, ``run(...)``: Python, not a magic).
_AUTOMAGIC = re.compile(r"([A-Za-z_]\w*)[ \t]+[^\s=,;:.(\[]")
#: Cheap test: nothing in a text that has none of these can be IPython's.
_MAY_HAVE = re.compile(r"^[ \t]*(?:[!%?]|[\w.,* \t]+(?:\?|=[ \t]*[!%]))", re.MULTILINE)


def may_have_magics(text: str) -> bool:
    """False when ``text`` certainly has no escaped IPython line (``!``, ``%``, ``?``, ``x = !cmd``);
    automagic lines are made of names and tokenize as Python."""
    return _MAY_HAVE.search(text) is not None


def cell_magic(text: str) -> str | None:
    """The name of the cell magic a cell starts with (``%%capture`` -> ``capture``), None if none."""
    for line in _BREAK.split(text):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("%%"):
            m = re.match(r"%%([\w.-]*)", stripped)
            return m.group(1) if m else ""
        return None
    return None


def python_cell(text: str) -> bool:
    """A code cell whose text is Python (with IPython's line syntax): not one that a cell magic
    hands to another program or language (``%%bash``, ``%%writefile f.py``, ``%%html``)."""
    magic = cell_magic(text)
    return magic is None or magic in PYTHON_CELL_MAGICS


def magic_lines(text: str, automagic: bool = True) -> list[tuple[int, int]]:
    """``(first, last)`` 1-based line ranges of the IPython statements in ``text`` (``last`` >
    ``first`` when a backslash continues the statement)."""
    out: list[tuple[int, int]] = []
    lines = _BREAK.split(text)
    depth = 0  # open brackets
    quote: str | None = None  # the delimiter of a string still open at the end of a line
    joined = False  # the previous line ended with a backslash
    magic_from: int | None = None
    for n, line in enumerate(lines, 1):
        starts = depth == 0 and quote is None and not joined
        if magic_from is not None:  # a continuation line of a magic
            joined = line.endswith("\\")
            if not joined:
                out.append((magic_from, n))
                magic_from = None
            continue
        if starts and _is_magic(line, False):
            if line.endswith("\\"):
                magic_from, joined = n, True
            else:
                out.append((n, n))
            continue
        depth, quote, joined = _scan(line, depth, quote)
        if starts and automagic and not depth and quote is None and not joined and _is_magic(line, True):
            out.append((n, n))  # (a whole statement on its own line: ``pip install -q peft``)
    if magic_from is not None:
        out.append((magic_from, len(lines)))
    return out


def masked(text: str, automagic: bool = True) -> str:
    """``text`` with its IPython statements replaced by Python of the same length (see the module)."""
    found = magic_lines(text, automagic)
    if not found:
        return text
    pieces = _BREAK.split(text)
    breaks = _BREAK.findall(text)
    for first, last in found:
        line = pieces[first - 1]
        body = line.lstrip(" \t")
        pieces[first - 1] = line[: len(line) - len(body)] + "0" * len(body)
        for n in range(first + 1, last + 1):
            pieces[n - 1] = " " * len(pieces[n - 1])
    return "".join(p + (breaks[i] if i < len(breaks) else "") for i, p in enumerate(pieces))


def _is_magic(line: str, automagic: bool) -> bool:
    body = line.strip()
    if not body or body.startswith("#"):
        return False
    if _ESCAPED.match(body):
        return True
    if automagic:
        m = _AUTOMAGIC.match(body)
        if m and m.group(1) in AUTOMAGICS and not _compiles(body):
            return True
    return False


def _compiles(line: str) -> bool:
    import ast

    try:
        ast.parse(line)
    except (SyntaxError, ValueError):
        return False
    except RecursionError:
        return True  # (deep, but Python: not a command line)
    return True


def _scan(line: str, depth: int, quote: str | None) -> tuple[int, str | None, bool]:
    """The state after ``line``: open brackets, an open string's delimiter, a trailing backslash."""
    i, n = 0, len(line)
    while i < n:
        if quote is not None:
            c = line[i]
            if c == "\\":
                i += 2
                continue
            if line.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
            i += 1
            continue
        c = line[i]
        if c == "#":
            return depth, None, False
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif c in "\"'":
            quote = line[i:i + 3] if line.startswith(c * 3, i) else c
            i += len(quote)
            continue
        i += 1
    if quote is not None and len(quote) == 1:
        # a one-quote string goes on only after a backslash; otherwise the line is broken, and
        # the parser says so
        if line.endswith("\\"):
            return depth, quote, True
        return depth, None, False
    return depth, quote, quote is None and line.endswith("\\")
