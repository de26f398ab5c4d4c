"""A Python training script of the repository that a shell command runs (``python train.py
--lora_r 32``, through ``torchrun``, ``deepspeed``, ``accelerate launch``): read by the Python
reader as that command line runs it.

The script's flags and their defaults come from the one reader of flag definitions
(``python.script_flags``: argparse, ``HfArgumentParser`` dataclasses, ``fire``). The command's
words are matched to them as argparse matches them: ``--flag value`` and ``--flag=value``, a
unique prefix of an option (``allow_abbrev``), a switch that takes no word, ``nargs``,
``--no-flag`` of a ``BooleanOptionalAction``, the last of a repeated flag. The result is a
``CommandLine`` that ``python.sites`` reads the script with: a flag the command gives replaces the
default, at the word where it is written; a flag it does not give keeps its default, marked
"the default of --lora_r" and pointing into the script. A word whose text is unknown where an
option may stand (``$EXTRA_ARGS``) may give any flag: every flag not given after it is unknown.

The sites belong to the shell script (the command is where the run starts, and the site's span is
the command's program words); the values written in the training script keep their place there
(a finding on one is in that file); the script is read through ``bounded_read``, so the shell
script's dependency record (``depends``) holds its bytes.
When the script is not a Python file of the repository, does not parse, defines no flags or has no
LoRA site lora-lint can see, the caller falls back to the well-known flag names.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..model import UNKNOWN, LoraSite, Param, Span
from ..source_file import Kind, SourceFile
from ._base import SourceError
from .shell_lex import Field

if TYPE_CHECKING:  # the Python reader's modules are loaded only for a script read
    from .python_flags import CommandLine, Flag, Given, ScriptFlags

#: The largest training script read (bytes).
MAX_SCRIPT = 2_000_000
#: Scripts read lately, by name and bytes: their parsed file and flags (a sweep runs one script
#: many times).
_read: dict[tuple[str, str], tuple[SourceFile, ScriptFlags]] = {}


def sites(source: SourceFile, head: tuple[int, int], real: str, args: list[Field]) -> list[LoraSite] | None:
    """The LoRA sites of the training script at ``real`` (a file of the repository) run with
    ``args``; None when it cannot be read that way (the caller reads the flags by their names)."""
    from ..bounded_read import read_regular_file
    from ..source_file import decode

    try:
        data, _ = read_regular_file(real, MAX_SCRIPT)
    except OSError:
        return None
    name = _named_like(source.path, real)
    digest = hashlib.sha256(data).hexdigest()
    from . import python

    try:
        known = _read.get((name, digest))
        if known is None:
            python_file = decode(data, name)
            if not isinstance(python_file, SourceFile) or python_file.kind is not Kind.PYTHON:
                return None
            if len(_read) >= 8:
                _read.clear()
            known = _read[(name, digest)] = (python_file, python.script_flags(python_file))
        python_file, flags = known
        if not flags.flags:
            return None  # it reads its command line in a way we do not see
        found = python.sites(python_file, command_line(source, args, flags))
    except (SourceError, RecursionError):
        return None
    if not found:
        return None
    at = source.span(*head)
    return [_rehomed(site, source.path, at, name) for site in found]


def _named_like(path: str, real: str) -> str:
    """``real`` named the way the shell script is (relative to the working directory when its
    path is relative), as the Python reader names the files it reads."""
    if os.path.isabs(path):
        return real
    try:
        return os.path.relpath(real)
    except ValueError:  # another drive
        return real


def _rehomed(site: LoraSite, shell: str, at: Span, script: str) -> LoraSite:
    """``site`` (read in ``script``) as a site of the shell script: at the command, each value
    written in the training script keeping that file as its place."""

    def moved(p: Any) -> Any:
        if not isinstance(p, Param):
            return p
        return replace(p, path=script if p.path is None else p.path, items=tuple(moved(i) for i in p.items))

    return replace(
        site, path=shell, span=at,
        params={k: moved(v) for k, v in site.params.items()},
        context={k: moved(v) for k, v in site.context.items()},
        base_model=moved(site.base_model),
        unknown_keys=tuple((moved(p), hint) for p, hint in site.unknown_keys),
        notes=tuple(replace(n, where=moved(n.where)) for n in site.notes),
    )


# -- the command's words, as argparse reads them ----------------------------------------------

def command_line(source: SourceFile, args: list[Field], flags: ScriptFlags) -> CommandLine:
    """The flags ``args`` give, matched to the script's ``flags``."""
    from .python_flags import CommandLine, Given

    options = [o for f in flags.flags for o in f.options]
    given: dict[str, Given] = {}
    unknown: Given | None = None
    positional: Given | None = None
    i = 0
    while i < len(args):
        f = args[i]
        i += 1
        if not f.known:
            name = f.prefix.split("=", 1)[0] if f.prefix.startswith("-") and "=" in f.prefix else None
            if name is not None:  # ``--lora_r=$R``: that flag, its value unknown
                option, flag = _matched(name, flags, options)
                given[option] = Given((UNKNOWN,), source.span(f.start, f.end), source.path)
            else:  # any words at all: every flag given before is given again, or not
                given.clear()
                unknown = Given((UNKNOWN,), source.span(f.start, f.end), source.path)
            continue
        if f.text == "--":
            if i < len(args):
                positional = Given((UNKNOWN,), source.span(args[i].start, args[i].end), source.path)
            break
        if not is_option(f):
            positional = positional or Given((UNKNOWN,), source.span(f.start, f.end), source.path)
            continue
        name, eq, value = f.text.partition("=")
        negated = False
        option, flag = _matched(name, flags, options)
        if flag is None and name[:5] in ("--no-", "--no_") and not eq:
            # ``--no-flag`` of a BooleanOptionalAction; ``--no_flag`` of a bool field whose
            # default is True (HfArgumentParser's complement, store_false on the same dest)
            yes, flag = _matched("--" + name[5:], flags, options)
            if flag is not None and flag.action == "boolean_optional":
                option, negated = yes, True
            elif flag is not None and flag.type == "bool" and flag.nargs == "?":
                given[yes] = Given(("false",), source.span(f.start, f.end), source.path)
                continue
            else:
                flag = None
        if eq:
            plain = f.at is not None and f.at[1] - f.at[0] == len(f.text)
            at = (f.at[0] + len(name) + 1, f.at[1]) if plain else (f.start, f.end)
            given[option] = Given((value,), source.span(*at), source.path)
            continue
        n = _arity(flag, args, i)
        words = args[i:i + n]
        i += n
        at = (words[0].written[0], words[-1].written[1]) if words else (f.start, f.end)
        texts = tuple(w.text if w.known else UNKNOWN for w in words)
        given[option] = Given(texts, source.span(*at), source.path, negated)
    return CommandLine(given, flags, unknown, positional)


def _matched(name: str, flags: ScriptFlags, options: list[str]) -> tuple[str, Flag | None]:
    """The option ``name`` is (its flag's first spelling, so that the last of several spellings
    given wins), by its full spelling or as a unique prefix of one (argparse's ``allow_abbrev``)."""
    flag = flags.by_option(name)
    if flag is None and name.startswith("--"):
        prefixed = [o for o in options if o.startswith(name)]
        if len(prefixed) == 1:
            flag = flags.by_option(prefixed[0])
    if flag is None:
        return name, None
    return flag.options[0], flag


def _arity(flag: Flag | None, args: list[Field], i: int) -> int:
    """How many of the words from ``args[i]`` on the flag takes."""
    free = 0
    while i + free < len(args) and not is_option(args[i + free]) and (args[i + free].known or free == 0):
        free += 1
    if flag is None:  # a flag of a class we do not see: the word after it, if any
        return min(free, 1)
    if not flag.takes_value:
        return 0
    nargs = flag.nargs
    if isinstance(nargs, int):
        return min(nargs, free)
    if nargs in ("*", "+"):
        return free
    return min(free, 1)


def is_option(f: Field) -> bool:
    """A word argparse takes for an option: ``-x``/``--x`` and not a negative number."""
    if not f.known:
        return False
    t = f.text
    return t.startswith("-") and len(t) > 1 and not re.fullmatch(r"-\d+(\.\d*)?([eE][-+]?\d+)?|-\.\d+", t)
