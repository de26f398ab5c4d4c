"""Shell scripts (``.sh``, ``.bash``): every command that starts a LoRA fine-tune is a site.

The script is read with ``shell_lex`` (bash's own word rules: quoting, continuations, comments,
here-documents) and its commands are followed in order with the script's variables:

* ``NAME=value`` (also ``export``/``declare``/``local``/``readonly NAME=value``) assigns a value
  that later ``$NAME``/``${NAME}`` give, pointing at where the value is written. A value built
  from something unknown is unknown.
* A variable the script never assigns comes from whoever runs it: ``$NAME`` is UNKNOWN, while
  ``${NAME:-default}`` (``-``, ``:=``, ``=`` alike) gives its default, as an argparse default is
  the value of a flag nobody passes: it is what runs when the caller overrides nothing.
  ``${NAME:-default}`` after an assignment gives what the script assigned.
* What the script cannot decide statically is UNKNOWN: ``$1``, ``$@``, ``$(...)``, backquotes,
  ``$((...))``, arrays (``lora_r=(2 4 8 16)`` is a sweep, so ``${lora_r[$i]}`` and ``$lora_r`` are
  UNKNOWN), the variable of a ``for`` loop, a variable assigned inside ``if``/``case``/a loop (after
  it), ``read``/``getopts``/``mapfile``/``printf -v``, and every variable after ``source``/``.``/
  ``eval`` (the file sourced may set any of them). Inside a function, only what the function
  itself assigned is known (it may be called from anywhere).
* Words are split and globbed as bash does: an unquoted variable holding ``q_proj v_proj`` gives
  two words; an unquoted ``*``, ``?``, ``{a,b}`` or leading ``~`` depends on the files and home
  of whoever runs the script, so the word is UNKNOWN, and so is an unquoted ``[...]`` (it matches
  one-character file names) unless an ``=`` comes before it (``model.lora_attn_modules=[q_proj]``,
  ``--targets=[q,v]``: only a file named like that would match, and bash leaves the word as it
  is). An unquoted unknown expansion is taken as one unknown word.

Which programs start a LoRA fine-tune, and how their arguments become settings, is
``shell_programs``; each site is written in its program's dialect (ms-swift, LLaMA-Factory, TRL,
axolotl, torchtune: the same records and readers as their YAML files), or, for a training script
lora-lint cannot read, the ``script`` dialect of well-known flag names.

Bounded work: a script of more than ``MAX_WORDS`` words is not lexed (LL901 names the bound); a
variable's value longer than ``MAX_VALUE`` characters is UNKNOWN (``a="$a$a"`` forty times would
be a terabyte), and so is every expansion once the script's expansions have produced
``MAX_EXPANDED`` characters.
"""

from __future__ import annotations

import itertools
import re
from typing import NamedTuple

from ..model import UNKNOWN, LoraSite, Span
from ..source_file import SourceFile
from ._base import SourceError
from .shell_lex import Command, Field

#: Words (runs of non-blanks, counted before lexing) a script may have: the wild corpus's largest
#: launch script has 845; a script of 50,000 is linted in about 1 s of CPU and 55 MB.
MAX_WORDS = 50_000
#: Characters one variable's value may hold (beyond: UNKNOWN), and all the expansions of one
#: script together (beyond: every later expansion is UNKNOWN).
MAX_VALUE = 100_000
MAX_EXPANDED = 10_000_000
_WORD = re.compile(r"\S+")


def too_many_words(text: str) -> bool:
    """More than ``MAX_WORDS`` words (the count stops there)."""
    return next(itertools.islice(_WORD.finditer(text), MAX_WORDS, None), None) is not None


def sites(source: SourceFile) -> list[LoraSite]:
    """The LoRA training commands of a script. Raises ``SourceError`` (LL901) for a script of
    more than ``MAX_WORDS`` words."""
    from . import shell_lex, shell_programs

    if too_many_words(source.text):
        raise SourceError(f"file is too large to analyse: more than {MAX_WORDS:,} shell words (lora-lint's"
                          " bound for one file); its LoRA commands are not checked", Span.point(1, 1))
    script = shell_lex.parse(source.text)
    run = Run(source)
    run.nodes(script.nodes)
    return shell_programs.sites(source, run.commands)


# -- values -----------------------------------------------------------------------------------

class Value(NamedTuple):
    """A variable's value: ``text`` (or UNKNOWN), and ``at``: the offsets where exactly that text
    is written in the script (None when it is put together)."""

    text: str
    at: tuple[int, int] | None = None


#: A variable that ``unset`` removed: known to be unset.
UNSET = Value("")
#: Parameters no script decides: positional and special ones, and bash's dynamic variables.
DYNAMIC = frozenset({"RANDOM", "SRANDOM", "PWD", "OLDPWD", "HOME", "USER", "SECONDS", "LINENO", "BASHPID",
                     "BASH_SOURCE", "EPOCHSECONDS", "EPOCHREALTIME", "HOSTNAME", "UID", "EUID", "PPID",
                     "SHLVL", "OPTARG", "OPTIND", "REPLY", "PIPESTATUS", "FUNCNAME", "IFS"})
GLOB = re.compile(r"[*?]")
BRACKET = re.compile(r"\[[^\]]*\]")
BRACE = re.compile(r"\{[^{}]*(?:,|\.\.)[^{}]*\}")


class Run:
    """Follows a script's commands in order, with what is known of its variables."""

    def __init__(self, source: SourceFile):
        self.source = source
        self.text = source.text
        self.env: dict[str, Value] = {}
        self.tainted = False  # after ``source``/``eval``: any variable may be set
        self.in_function = False
        self.commands: list[Command] = []
        self.expanded = 0  # characters the expansions have produced (``MAX_EXPANDED``)

    # -- commands -------------------------------------------------------------------------

    def nodes(self, nodes) -> None:
        from .shell_lex import Compound

        previous: Command | None = None
        for node in nodes:
            if isinstance(node, Compound):
                self.compound(node)
                previous = None
                continue
            command = self.simple(node)
            if command is None:
                continue
            # a command that starts with an option continues none: a comment or a missing
            # backslash ended the one before it (its lines are never passed to that program)
            if previous is not None and command.argv and command.argv[0].known and \
                    command.argv[0].text.startswith("-") and previous.end <= command.start:
                merged = Command(previous.argv, previous.start, previous.end, previous.cut,
                                 previous.orphans + (command.argv,))
                self.commands[self.commands.index(previous)] = merged
                previous = merged
                continue
            self.commands.append(command)
            previous = command

    def compound(self, node) -> None:
        kind = node.kind
        if kind == "group":
            self.nodes(node.bodies[0])
            return
        saved = (dict(self.env), self.tainted, self.in_function)
        assigned = _assigned(node)
        if kind == "subshell":
            self.nodes(node.bodies[0])
            self.env, self.tainted, self.in_function = saved
            return
        if kind == "function":
            self.env = {}
            self.tainted = True
            self.in_function = True
            for body in node.bodies:
                self.nodes(body)
            self.env, self.tainted, self.in_function = saved
            return
        loop = kind in ("for", "select", "while", "until")
        for body in node.bodies:
            self.env = dict(saved[0])
            if loop:  # a later pass sees what an earlier one assigned
                for name in assigned | set(node.names):
                    self.env[name] = Value(UNKNOWN)
            self.nodes(body)
        self.env = saved[0]
        self.tainted = self.tainted or saved[1]
        for name in assigned | set(node.names):
            self.env[name] = Value(UNKNOWN)

    def simple(self, node) -> Command | None:
        if not node.words:
            for a in node.assigns:
                self.assign(a)
            return None
        argv: list[Field] = []
        for w in node.words:
            argv.extend(self.fields(w))
        if not argv:
            return None
        self.builtin(argv, node)
        return Command(tuple(argv), node.start, node.end, node.cut)

    def assign(self, a) -> None:
        if a.items is not None or a.element:
            self.env[a.name] = Value(UNKNOWN)  # an array: a sweep, never one value
            return
        v = self.value(a.value)
        if a.append:
            old = self.lookup(a.name)
            v = Value(UNKNOWN) if old is None or UNKNOWN in (old.text, v.text) else _joined([old.text, v.text])
        self.env[a.name] = v

    def builtin(self, argv: list[Field], node) -> None:
        """What a builtin does to the variables."""
        name = argv[0].text
        if name in ("export", "declare", "typeset", "local", "readonly"):
            options = [f.text for f in argv[1:] if f.known and f.text.startswith("-")]
            odd = any(set(o) & set("aAnir") for o in options)
            for w in node.words[1:]:
                m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(\+?=)", self.text[w.start:w.end])
                if m is None:
                    continue
                if odd:
                    self.env[m.group(1)] = Value(UNKNOWN)
                    continue
                value = self.value(w, skip=m.end())
                self.env[m.group(1)] = value if m.group(2) == "=" else Value(UNKNOWN)
        elif name == "unset":
            for f in argv[1:]:
                if f.known and not f.text.startswith("-"):
                    self.env[f.text] = UNSET
        elif name in ("read", "getopts", "mapfile", "readarray", "let", "printf", "wait"):
            for f in argv[1:]:
                if f.known and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", f.text):
                    self.env[f.text] = Value(UNKNOWN)
        elif name in ("source", ".", "eval"):
            self.taint()

    def taint(self) -> None:
        self.tainted = True
        self.env = {k: Value(UNKNOWN) for k in self.env}

    # -- expansion ------------------------------------------------------------------------

    def lookup(self, name: str) -> Value | None:
        """The variable's value; None when the script has not set it (the environment's)."""
        if name in DYNAMIC or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            return Value(UNKNOWN)
        v = self.env.get(name)
        if v is None and (self.tainted or self.in_function):
            return Value(UNKNOWN)
        return v

    def param(self, e) -> Value:
        """One ``$NAME``/``${...}`` expansion (quoted or not: splitting is the caller's)."""
        if e.kind != "param" or e.indexed or e.prefix or e.name is None:
            return Value(UNKNOWN)
        v = self.lookup(e.name)
        op = e.op
        if op is None:
            if v is None:
                return Value(UNKNOWN)
            return Value("") if v is UNSET else v
        if op in (":-", "-", ":=", "="):
            colon = op.startswith(":")
            if v is not None and v.text is UNKNOWN:
                return Value(UNKNOWN)
            use_default = v is None or v is UNSET or (colon and v.text == "")
            if not use_default:
                return v
            default = self.value(e.arg) if e.arg is not None else Value("")
            if op in (":=", "="):
                self.env[e.name] = default
            return default
        if op in (":+", "+") and v is not None:
            if v.text is UNKNOWN:
                return Value(UNKNOWN)
            set_ = v is not UNSET and (v.text != "" or op == "+")
            return (self.value(e.arg) if e.arg is not None else Value("")) if set_ else Value("")
        return Value(UNKNOWN)

    def chunks(self, word) -> list[tuple[Value, bool, bool]] | None:
        """The pieces of a word: (value, quoted, expanded); None when one is unknown."""
        from .shell_lex import Lit

        out = []
        for part in word.parts:
            if isinstance(part, Lit):
                out.append((Value(part.text, _verbatim(self.text, part)), part.quoted, False))
                continue
            v = self.param(part)
            if v.text is UNKNOWN:
                return None
            self.expanded += len(v.text)
            if self.expanded > MAX_EXPANDED:
                return None
            out.append((v, part.quoted, True))
        return out

    def value(self, word, skip: int = 0) -> Value:
        """A word where bash neither splits nor globs it (an assignment's value): its text, and
        where that text is written when it is one piece (``skip``: characters of the word's text
        before the value, ``NAME=`` of an ``export`` argument)."""
        if word is None:
            return Value("")
        if skip:
            word = _after(word, word.start + skip)
        pieces = self.chunks(word)
        if pieces is None:
            return Value(UNKNOWN)
        if pieces and not pieces[0][1] and not pieces[0][2] and pieces[0][0].text.startswith("~"):
            return Value(UNKNOWN)  # the home directory of whoever runs it
        if len(pieces) == 1:
            return pieces[0][0]
        return _joined([v.text for v, _, _ in pieces])

    def fields(self, word) -> list[Field]:
        """A command's word as bash expands it: split, globbed, maybe removed."""
        pieces = self.chunks(word)
        if pieces is None:
            return [Field(UNKNOWN, word.start, word.end, prefix=_prefix(word))]
        first = pieces[0] if pieces else None
        if first is not None and not first[1] and not first[2] and first[0].text.startswith("~"):
            return [Field(UNKNOWN, word.start, word.end)]
        before = ""  # the word's text before each piece
        for v, quoted, expanded in pieces:
            if not quoted and (GLOB.search(v.text) or (not expanded and BRACE.search(v.text)) or (
                    BRACKET.search(v.text) and "=" not in before + v.text[:BRACKET.search(v.text).start()])):
                return [Field(UNKNOWN, word.start, word.end)]
            before += v.text
        # field splitting of unquoted expansions (IFS is space, tab, newline)
        words: list[list[tuple[Value, bool]]] = [[]]
        touched = False  # a word made only of unquoted expansions that give nothing is removed
        for v, quoted, expanded in pieces:
            if quoted or not expanded:
                words[-1].append((v, True))
                touched = True
                continue
            parts = re.split(r"[ \t\n]+", v.text)
            for i, p in enumerate(parts):
                if i:
                    words.append([])
                if p:
                    words[-1].append((Value(p, v.at if p == v.text else None), True))
        out = []
        for w in words:
            if not w:
                continue
            if len(w) == 1:
                out.append(Field(w[0][0].text, word.start, word.end, w[0][0].at))
            else:
                out.append(Field("".join(v.text for v, _ in w), word.start, word.end))
        if not out and touched:
            out.append(Field("", word.start, word.end))
        return out


def _joined(texts: list[str]) -> Value:
    """The texts put together, UNKNOWN beyond ``MAX_VALUE`` characters."""
    if sum(map(len, texts)) > MAX_VALUE:
        return Value(UNKNOWN)
    return Value("".join(texts))


def _prefix(word) -> str:
    """The literal text a word starts with, up to its first expansion."""
    from .shell_lex import Lit

    out = []
    for p in word.parts:
        if not isinstance(p, Lit):
            break
        out.append(p.text)
    return "".join(out)


def _verbatim(text: str, lit) -> tuple[int, int] | None:
    """Where a literal's text is written as it is (inside its quotes), if it is."""
    raw = text[lit.start:lit.end]
    if raw == lit.text:
        return (lit.start, lit.end)
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" and raw[1:-1] == lit.text:
        return (lit.start + 1, lit.end - 1)
    return None


def _after(word, offset: int):
    """The part of ``word`` from ``offset`` on (the value of ``export NAME=value``)."""
    from .shell_lex import Lit, Word

    parts = []
    for p in word.parts:
        if p.end <= offset:
            continue
        if p.start < offset and isinstance(p, Lit) and not p.quoted:
            cut = offset - p.start
            parts.append(Lit(p.text[cut:], offset, p.end, False))
        elif p.start >= offset:
            parts.append(p)
        else:
            break  # the name is not plain text: nothing after it is taken
    return Word(tuple(parts), offset, word.end)


def _assigned(node) -> set[str]:
    """Every variable a compound command may set (assignments, declarations, ``read``...)."""
    from .shell_lex import Compound, Simple

    names: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Compound):
            names.update(x for x in n.names if x and x != "((")
            for body in n.bodies:
                stack.extend(body)
        elif isinstance(n, Simple):
            if not n.words:
                names.update(a.name for a in n.assigns)
                continue
            if n.words[0].literal not in SETTERS:
                continue
            for w in n.words[1:]:
                m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", w.literal or "")
                if m:
                    names.add(m.group())
    return names


#: Builtins that set the variables they name.
SETTERS = frozenset({"export", "declare", "typeset", "local", "readonly", "unset", "read", "getopts",
                     "mapfile", "readarray", "let", "printf", "wait"})
