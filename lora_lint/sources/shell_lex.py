"""A bash script as its commands: the words of each simple command, with where every piece is.

Replays the part of bash's parser that decides which words a command gets (the shell's token
recognition, POSIX.1-2017 XCU 2.3, with bash's extensions): quoting (``'...'``, ``"..."``,
``$'...'``, backslashes), line continuations (a backslash at the end of a line is removed with
its line break, with or without a blank before it, also inside double quotes), comments (a ``#``
that starts a word runs to the end of the line, and a backslash at the end of a comment continues
nothing: a commented-out line inside a continued command ends that command, as in bash), control
operators, redirections and here-documents (their bodies are skipped), compound commands (``if``,
``for``, ``while``, ``until``, ``case``, ``{ }``, ``( )``, functions, ``(( ))``, ``[[ ]]``),
assignments (``NAME=value``, ``NAME+=value``, arrays ``NAME=(...)``) and expansions (``$NAME``,
``${NAME...}``, ``$(...)``, backquotes, ``$((...))``), which are kept as expansions: what they
give is decided by the reader (``shell``), which knows the script's variables.

Nothing here runs: command substitutions are parsed only to find where they end. ``shlex`` is
not enough for this: it gives no columns, keeps ``\\<newline>`` as a newline in POSIX mode,
starts a comment at a ``#`` inside a word, and knows no operators, here-documents or compound
commands. bashlex is GPL-3.0+ and stops on arithmetic expansion, arrays, ``[[`` with backquotes
and a continuation at the end of a file, all found in real training scripts.

A script that bash itself would stop on (an unterminated quote) ends where the damage starts:
the commands before it are kept, since bash runs them.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..unknown import UNKNOWN

#: Characters that end an unquoted word (``metacharacters``).
META = frozenset(" \t\n;&|()<>")
#: Nesting of compound commands and expansions beyond which a script is not read further.
MAX_DEPTH = 64
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?(\+?=)")
RESERVED_END = frozenset({"then", "elif", "else", "fi", "do", "done", "esac", "}", "in"})
_ANSI = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
         "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


class LexError(Exception):
    """Where bash would stop reading (an unterminated quote or substitution)."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


# -- words ------------------------------------------------------------------------------------

class Lit(NamedTuple):
    """Characters of a word after quote removal; ``start``/``end`` are where they are written
    (quotes included). ``quoted``: no field splitting or pathname expansion applies."""

    text: str
    start: int
    end: int
    quoted: bool


class Expansion(NamedTuple):
    """``$NAME``, ``${NAME<op><arg>}``, ``$(...)``, backquotes, ``$((...))``.

    ``kind`` is ``param``, ``command`` or ``arith``; for ``param``, ``name`` is the parameter
    (``HOME``, ``1``, ``@``), ``op`` what follows it (``:-``, ``-``, ``:=``, ``=``, ``:+``, ``+``,
    ``#``...; None for a plain reference), ``arg`` the word after the operator, ``indexed`` an
    array subscript, ``prefix`` ``!`` (indirection) or ``#`` (length).
    """

    kind: str
    start: int
    end: int
    quoted: bool
    name: str | None = None
    op: str | None = None
    arg: Word | None = None
    indexed: bool = False
    prefix: str = ""


class Word(NamedTuple):
    parts: tuple[Lit | Expansion, ...]
    start: int
    end: int

    @property
    def literal(self) -> str | None:
        """The word's text when it has no expansion, else None."""
        if all(isinstance(p, Lit) for p in self.parts):
            return "".join(p.text for p in self.parts)  # type: ignore[union-attr]
        return None

    @property
    def quoted(self) -> bool:
        return any(p.quoted for p in self.parts)


# -- commands ---------------------------------------------------------------------------------

class Assign(NamedTuple):
    """``NAME=value`` (``append``: ``+=``); an array assignment has ``items`` instead of ``value``;
    ``NAME[i]=value`` sets one element (``element``)."""

    name: str
    value: Word | None
    start: int
    end: int
    append: bool = False
    items: tuple[Word, ...] | None = None
    element: bool = False


class Simple(NamedTuple):
    """A simple command: its assignments, its words (command name first), and where it is."""

    assigns: tuple[Assign, ...]
    words: tuple[Word, ...]
    start: int
    end: int
    #: Where the command was cut off by a comment inside a continuation: the offset of the
    #: comment (the next lines are another command in bash), else None.
    cut: int | None = None


class Compound(NamedTuple):
    """A compound command: ``kind`` is ``if``, ``for``, ``while``, ``until``, ``case``, ``group``,
    ``subshell``, ``function`` or ``select``; ``bodies`` its lists in order (conditions and
    branches); ``names`` the loop variable or the function's name; ``words`` what a ``for``
    iterates over."""

    kind: str
    bodies: tuple[tuple[Node, ...], ...]
    start: int
    end: int
    names: tuple[str, ...] = ()
    words: tuple[Word, ...] = ()


Node = Simple | Compound


class Field(NamedTuple):
    """One argument of a command after expansion: its text (or UNKNOWN), the word it came from
    (``start``/``end`` offsets in the script) and ``at``, where its text is written verbatim."""

    text: str
    start: int
    end: int
    at: tuple[int, int] | None = None
    #: For an unknown word, its literal beginning (``--lora_rank=`` of ``--lora_rank=$R``).
    prefix: str = ""

    @property
    def known(self) -> bool:
        return self.text is not UNKNOWN

    @property
    def written(self) -> tuple[int, int]:
        """Where its text is written verbatim, else the word it came from."""
        return self.at if self.at is not None else (self.start, self.end)


class Command(NamedTuple):
    """A simple command as it runs: its arguments (``argv[0]`` the program) and where it is.

    ``cut``: the offset of a comment that ended it inside a continuation, when the lines after
    it are a command of their own (``orphans`` holds those commands' arguments)."""

    argv: tuple[Field, ...]
    start: int
    end: int
    cut: int | None = None
    orphans: tuple[tuple[Field, ...], ...] = ()


class Script(NamedTuple):
    nodes: list[Node]
    #: Where reading stopped early (bash would stop there too), with why; None when it did not.
    stopped: LexError | None = None


def parse(text: str) -> Script:
    """The commands of a bash script, in order. Never raises on bad input."""
    p = _Parser(text)
    nodes: list[Node] = []  # (the commands read before bash would stop are kept)
    try:
        return Script(p.parse_list(frozenset(), top=True, sink=nodes))
    except LexError as e:
        return Script(nodes, e)
    except RecursionError:
        return Script(nodes, LexError("nested too deeply", p.pos))


def walk(nodes) -> list[Simple]:
    """Every simple command in ``nodes``, compound bodies included, in order."""
    out: list[Simple] = []
    stack = [iter(nodes)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif isinstance(node, Simple):
            out.append(node)
        else:
            stack.extend(iter(b) for b in reversed(node.bodies))
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.depth = 0
        self.heredocs: list[tuple[str, bool]] = []  # pending (delimiter, strip tabs)

    # -- characters ------------------------------------------------------------------------

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.text[i] if i < self.n else ""

    def _newline_at(self, i: int) -> int:
        """The length of the line break at ``i`` (``\\n`` or ``\\r\\n``), else 0."""
        if self.text.startswith("\n", i):
            return 1
        if self.text.startswith("\r\n", i):
            return 2
        return 0

    def _continuation(self, i: int) -> int:
        """The length of a ``\\<newline>`` at ``i``, else 0."""
        if i < self.n and self.text[i] == "\\":
            k = self._newline_at(i + 1)
            return k + 1 if k else 0
        return 0

    def skip_blanks(self) -> None:
        """Blanks and line continuations."""
        while self.pos < self.n:
            c = self.text[self.pos]
            if c in " \t":
                self.pos += 1
            elif k := self._continuation(self.pos):
                self.pos += k
            else:
                return

    def skip_comment(self) -> int | None:
        """A comment at the position (a ``#`` starting a word): skipped to the end of the line;
        its offset, else None."""
        if self.peek() != "#":
            return None
        at = self.pos
        while self.pos < self.n and self.text[self.pos] != "\n":
            self.pos += 1
        return at

    def at_newline(self) -> bool:
        return self._newline_at(self.pos) > 0

    def take_newline(self) -> None:
        self.pos += self._newline_at(self.pos)
        if self.heredocs:
            self._heredoc_bodies()

    def _heredoc_bodies(self) -> None:
        pending, self.heredocs = self.heredocs, []
        for delimiter, strip in pending:
            while self.pos < self.n:
                end = self.text.find("\n", self.pos)
                end = self.n if end < 0 else end
                line = self.text[self.pos:end].rstrip("\r")
                self.pos = min(end + 1, self.n)
                if (line.lstrip("\t") if strip else line) == delimiter:
                    break

    # -- lists of commands ----------------------------------------------------------------

    def parse_list(self, stops: frozenset[str], top: bool = False, sink: list | None = None,
                   closer: str | None = None) -> list[Node]:
        """Commands up to a reserved word in ``stops`` at a command's start (not consumed), or
        the ``closer`` character (``)``, ``}`` of an expansion), or the end of the text."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LexError("nested too deeply", self.pos)
        out: list[Node] = [] if sink is None else sink
        try:
            while True:
                self._separators()
                if self.pos >= self.n:
                    if not top:
                        raise LexError("unexpected end of file", self.pos)
                    return out
                c = self.peek()
                if closer is not None and c == closer:
                    return out
                if c == ")" or (c == ";" and self.peek(1) == ";"):
                    if top:
                        self.pos += 1  # a stray operator: bash reports it; skip it
                        continue
                    return out
                word = self._peek_reserved()
                if word in stops:
                    return out
                if top and word in RESERVED_END:
                    self.pos += len(word)  # a stray reserved word: skip it
                    continue
                before = self.pos
                node = self.command()
                if node is not None:
                    out.append(node)
                if self.pos == before:
                    self.pos += 1  # nothing bash would read here either: never loop
        finally:
            self.depth -= 1

    def _separators(self) -> None:
        while self.pos < self.n:
            self.skip_blanks()
            if self.skip_comment() is not None:
                continue
            if self.at_newline():
                self.take_newline()
                continue
            c, d = self.peek(), self.peek(1)
            if c == ";" and d != ";":
                self.pos += 1
            elif c == "&" and d != ">":
                self.pos += 2 if d == "&" else 1
            elif c == "|":
                self.pos += 2 if d in "|&" and d else 1
            elif c == "!" and self.peek(1) in " \t\n":
                self.pos += 1
            else:
                return

    def _peek_reserved(self) -> str | None:
        """The reserved word (or ``{``, ``}``, ``((``, ``[[``) starting at the position, if any."""
        m = re.compile(r"[A-Za-z]+|\{|\}|\(\(|\[\[").match(self.text, self.pos)
        if m is None:
            return None
        w = m.group()
        end = m.end()
        if w in ("((", "[["):
            return w
        if end < self.n and self.text[end] not in META and not self._continuation(end):
            return None
        return w

    # -- one command ----------------------------------------------------------------------

    def command(self) -> Node | None:
        start = self.pos
        word = self._peek_reserved()
        if word == "if":
            return self._if(start)
        if word in ("for", "select"):
            return self._for(start, word)
        if word in ("while", "until"):
            self.pos += len(word)
            cond = self.parse_list(frozenset({"do"}))
            body = self._do_done()
            return self._after(Compound(word, (tuple(cond), tuple(body)), start, self.pos))
        if word == "case":
            return self._case(start)
        if word == "{":
            self.pos += 1
            body = self.parse_list(frozenset({"}"}))
            self._expect("}")
            return self._after(Compound("group", (tuple(body),), start, self.pos))
        if word == "((":
            self._skip_arith(self.pos + 2)
            return self._after(None)
        if word == "[[":
            self._skip_until_word("]]")
            return self._after(None)
        if word == "function":
            self.pos += len(word)
            self.skip_blanks()
            name = self._raw_word()
            self.skip_blanks()
            if self.peek() == "(" and self.peek(1) == ")":
                self.pos += 2
            return self._function(start, name)
        if self.peek() == "(":
            self.pos += 1
            body = self.parse_list(frozenset(), closer=")")
            self._expect(")")
            return self._after(Compound("subshell", (tuple(body),), start, self.pos))
        return self.simple(start)

    def _after(self, node: Compound | None) -> Compound | None:
        """Redirections after a compound command."""
        while True:
            self.skip_blanks()
            if not self._redirection():
                return node

    def _expect(self, token: str) -> None:
        self._separators()
        if not self.text.startswith(token, self.pos):
            raise LexError(f"expected `{token}`", self.pos)
        self.pos += len(token)

    def _if(self, start: int) -> Compound:
        self.pos += 2
        bodies = []
        while True:
            bodies.append(tuple(self.parse_list(frozenset({"then"}))))
            self._expect("then")
            bodies.append(tuple(self.parse_list(frozenset({"elif", "else", "fi"}))))
            word = self._peek_reserved()
            self.pos += len(word or "")
            if word == "elif":
                continue
            if word == "else":
                bodies.append(tuple(self.parse_list(frozenset({"fi"}))))
                self._expect("fi")
            elif word != "fi":
                raise LexError("expected `fi`", self.pos)
            return self._after(Compound("if", tuple(bodies), start, self.pos))

    def _do_done(self) -> list[Node]:
        self._expect("do")
        body = self.parse_list(frozenset({"done"}))
        self._expect("done")
        return body

    def _for(self, start: int, kind: str) -> Compound:
        self.pos += len(kind)
        self.skip_blanks()
        if self.text.startswith("((", self.pos):
            self._skip_arith(self.pos + 2)
            self._separators_once()
            body = self._do_done() if self._peek_reserved() == "do" else self._brace_body()
            return self._after(Compound(kind, (tuple(body),), start, self.pos, names=("((",)))
        name = self._raw_word() or ""
        words: list[Word] = []
        self.skip_blanks()
        # ``in WORDS`` up to ``;`` or a newline; without it, the positional parameters
        if self._peek_reserved() == "in" or self._on_new_line_in():
            self._separators_newlines()
            self.pos += 2
            while True:
                self.skip_blanks()
                if self.pos >= self.n or self.peek() in ";" or self.at_newline() or self.peek() == "#":
                    break
                w = self.word()
                if w is None:
                    break
                words.append(w)
        else:
            words = []
        self._separators_once()
        body = self._do_done() if self._peek_reserved() == "do" else self._brace_body()
        return self._after(Compound(kind, (tuple(body),), start, self.pos, names=(name,), words=tuple(words)))

    def _on_new_line_in(self) -> bool:
        save = self.pos
        self._separators_newlines()
        found = self._peek_reserved() == "in"
        self.pos = save
        return found

    def _separators_newlines(self) -> None:
        while True:
            self.skip_blanks()
            if self.skip_comment() is not None:
                continue
            if self.at_newline():
                self.take_newline()
                continue
            return

    def _separators_once(self) -> None:
        self.skip_blanks()
        if self.peek() == ";":
            self.pos += 1
        self._separators_newlines()

    def _brace_body(self) -> list[Node]:
        self._expect("{")
        body = self.parse_list(frozenset({"}"}))
        self._expect("}")
        return body

    def _case(self, start: int) -> Compound:
        self.pos += 4
        self.skip_blanks()
        self.word()
        self._separators_newlines()
        if self._peek_reserved() != "in":
            raise LexError("expected `in`", self.pos)
        self.pos += 2
        bodies = []
        while True:
            self._separators_newlines()
            if self._peek_reserved() == "esac":
                self.pos += 4
                return self._after(Compound("case", tuple(bodies), start, self.pos))
            if self.pos >= self.n:
                raise LexError("expected `esac`", self.pos)
            if self.peek() == "(":
                self.pos += 1
            while True:  # patterns up to ``)``
                self.skip_blanks()
                if self.peek() == ")":
                    self.pos += 1
                    break
                if self.peek() == "|":
                    self.pos += 1
                    continue
                if self.pos >= self.n or self.word() is None:
                    raise LexError("bad case pattern", self.pos)
            bodies.append(tuple(self.parse_list(frozenset({"esac"}))))
            self.skip_blanks()
            for op in (";;&", ";;", ";&"):
                if self.text.startswith(op, self.pos):
                    self.pos += len(op)
                    break

    def _function(self, start: int, name: str | None) -> Compound:
        self._separators_newlines()
        node = self.command()
        bodies = (tuple([node]) if node is not None else (),)
        return Compound("function", bodies, start, self.pos, names=(name or "",))

    def _raw_word(self) -> str | None:
        w = self.word()
        return None if w is None else (w.literal or None)

    def _skip_until_word(self, token: str) -> None:
        """``[[ ... ]]``: skipped word by word up to ``token``."""
        self.pos += 2
        while True:
            self.skip_blanks()
            if self.pos >= self.n:
                raise LexError(f"expected `{token}`", self.pos)
            if self.text.startswith(token, self.pos):
                self.pos += len(token)
                return
            if self.at_newline():
                self.take_newline()
                continue
            if self.peek() in META:
                self.pos += 1
                continue
            self.word()

    def _skip_arith(self, i: int) -> None:
        """``(( ... ))`` or ``$(( ... ))`` from the inside at ``i``: to the matching ``))``."""
        depth = 0
        self.pos = i
        while self.pos < self.n:
            c = self.text[self.pos]
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0 and self.peek(1) == ")":
                    self.pos += 2
                    return
                depth -= 1
            elif c in "'\"`$\\":
                self._quoted_or_expansion(in_dq=False)
                continue
            self.pos += 1
        raise LexError("unterminated arithmetic", i)

    # -- simple commands ----------------------------------------------------------------------

    def simple(self, start: int) -> Simple | None:
        assigns: list[Assign] = []
        words: list[Word] = []
        cut: int | None = None
        end = start
        while True:
            self.skip_blanks()
            if self.pos >= self.n:
                break
            c = self.peek()
            if c == "#":
                at = self.skip_comment()
                if words and self._continued_before(at):
                    cut = at
                break
            if self.at_newline() or c in ";&|)":
                if c == "&" and self.peek(1) == ">":
                    self._redirection()
                    continue
                break
            if c == "(":
                if not words and assigns:
                    break
                # ``name()`` defines a function
                if len(words) == 1 and not assigns and self.peek(1) == ")":
                    self.pos += 2
                    return self._function(start, words[0].literal)
                raise LexError("unexpected `(`", self.pos)
            if self._redirection():
                end = self.pos
                continue
            if not words:
                a = self._assignment()
                if a is not None:
                    assigns.append(a)
                    end = self.pos
                    continue
            w = self.word()
            if w is None:
                break
            words.append(w)
            end = self.pos
        if not words and not assigns:
            return None
        return Simple(tuple(assigns), tuple(words), start, end, cut)

    def _continued_before(self, at: int) -> bool:
        """The comment at ``at`` starts a line that a continuation joined to the command."""
        i = at - 1
        while i >= 0 and self.text[i] in " \t":
            i -= 1
        if i >= 0 and self.text[i] == "\n":
            j = i - 1
            if j >= 0 and self.text[j] == "\r":
                j -= 1
            return j >= 0 and self.text[j] == "\\"
        return False

    def _assignment(self) -> Assign | None:
        m = ASSIGN.match(self.text, self.pos)
        if m is None:
            return None
        start = self.pos
        name, element, append = m.group(1), m.group(2) is not None, m.group(3) == "+="
        self.pos = m.end()
        if self.peek() == "(" and not element:
            self.pos += 1
            items: list[Word] = []
            while True:
                self._separators_newlines()
                if self.pos >= self.n:
                    raise LexError("unterminated array", start)
                if self.peek() == ")":
                    self.pos += 1
                    break
                w = self.word()
                if w is None:
                    raise LexError("bad array", self.pos)
                items.append(w)
            return Assign(name, None, start, self.pos, append, tuple(items))
        if self.pos >= self.n or self.peek() in META:
            value = Word((), self.pos, self.pos)
        else:
            value = self.word() or Word((), self.pos, self.pos)
        return Assign(name, value, start, self.pos, append, None, element)

    def _redirection(self) -> bool:
        m = re.compile(r"(?:[0-9]+|\{[A-Za-z_][A-Za-z0-9_]*\})?(<<<|<<-|<<|<&|>&|<>|>>|>\||&>>|&>|<|>)").match(
            self.text, self.pos)
        if m is None:
            return False
        if m.group(1) in ("<", ">") and self.text.startswith("(", m.end()):
            return False  # process substitution: a word
        self.pos = m.end()
        op = m.group(1)
        self.skip_blanks()
        target = self.word()
        if op in ("<<", "<<-") and target is not None:
            raw = self.text[target.start:target.end]
            delimiter = "".join(p.text for p in target.parts if isinstance(p, Lit)) if target.parts else raw
            self.heredocs.append((delimiter, op == "<<-"))
        return True

    # -- words ----------------------------------------------------------------------------

    def word(self, stop: str = "") -> Word | None:
        """The word at the position (None at a metacharacter). ``stop``: more characters that
        end it (``}`` inside ``${...}``); inside ``${...}`` blanks do not end a word."""
        start = self.pos
        parts: list[Lit | Expansion] = []
        buf: list[str] = []
        buf_start = self.pos
        brace = bool(stop)

        def flush(end: int) -> None:
            nonlocal buf, buf_start
            if buf:
                parts.append(Lit("".join(buf), buf_start, end, False))
            buf = []

        while self.pos < self.n:
            c = self.text[self.pos]
            if stop and c in stop:
                break
            if not brace and (c in META or self.at_newline()):
                if c in "<>" and self.peek(1) == "(":  # process substitution
                    flush(self.pos)
                    s = self.pos
                    self.pos += 2
                    self.parse_list(frozenset(), closer=")")
                    self.pos += 1
                    parts.append(Expansion("command", s, self.pos, False))
                    buf_start = self.pos
                    continue
                break
            if brace and self.at_newline():
                buf.append("\n")
                self.pos += self._newline_at(self.pos)
                continue
            if c == "\\":
                k = self._continuation(self.pos)
                if k:
                    self.pos += k
                    continue
                if self.pos + 1 >= self.n:
                    buf.append("\\")
                    self.pos += 1
                    continue
                flush(self.pos)
                parts.append(Lit(self.text[self.pos + 1], self.pos, self.pos + 2, True))
                self.pos += 2
                buf_start = self.pos
                continue
            if c in "'\"`$":
                s = self.pos
                piece = self._quoted_or_expansion(in_dq=False)
                if piece is None:  # a lone ``$``
                    buf.append(c)
                    continue
                flush(s)
                parts.extend(piece)
                buf_start = self.pos
                continue
            buf.append(c)
            self.pos += 1
        flush(self.pos)
        if self.pos == start:
            return None
        return Word(tuple(parts), start, self.pos)

    def _quoted_or_expansion(self, in_dq: bool) -> list[Lit | Expansion] | None:
        """A quoted string or an expansion at the position (``'``, ``"``, ``$'``, ``$"``, ``$...``,
        a backquote), consumed; None for a ``$`` that starts nothing (a literal ``$``)."""
        c = self.text[self.pos]
        start = self.pos
        if c == "'" and not in_dq:
            end = self.text.find("'", self.pos + 1)
            if end < 0:
                raise LexError("unterminated single quote", start)
            self.pos = end + 1
            return [Lit(self.text[start + 1:end], start, self.pos, True)]
        if c == '"' and not in_dq:
            self.pos += 1
            return self._double_quoted(start)
        if c == "`":
            return [self._backquote(in_dq)]
        if c == "\\":  # inside arithmetic
            self.pos += 2
            return []
        # ``$``
        d = self.peek(1)
        if d == "'" and not in_dq:
            return [self._ansi_c(start)]
        if d == '"' and not in_dq:
            self.pos += 2
            return self._double_quoted(start)
        if d == "(":
            if self.peek(2) == "(":
                self._skip_arith(self.pos + 3)
                return [Expansion("arith", start, self.pos, in_dq)]
            self.pos += 2
            self.parse_list(frozenset(), closer=")")
            if self.peek() != ")":
                raise LexError("unterminated command substitution", start)
            self.pos += 1
            return [Expansion("command", start, self.pos, in_dq)]
        if d == "[":  # ``$[...]``: old arithmetic
            end = self.text.find("]", self.pos)
            if end < 0:
                raise LexError("unterminated arithmetic", start)
            self.pos = end + 1
            return [Expansion("arith", start, self.pos, in_dq)]
        if d == "{":
            return [self._braced(start, in_dq)]
        m = NAME.match(self.text, self.pos + 1)
        if m is not None:
            self.pos = m.end()
            return [Expansion("param", start, self.pos, in_dq, name=m.group())]
        if d and (d.isdigit() or d in "@*#?$!-"):
            self.pos += 2
            return [Expansion("param", start, self.pos, in_dq, name=d)]
        self.pos += 1
        return None

    def _double_quoted(self, start: int) -> list[Lit | Expansion]:
        parts: list[Lit | Expansion] = []
        buf: list[str] = []
        buf_start = start
        while True:
            if self.pos >= self.n:
                raise LexError("unterminated double quote", start)
            c = self.text[self.pos]
            if c == '"':
                self.pos += 1
                break
            if c == "\\":
                k = self._continuation(self.pos)
                if k:
                    self.pos += k
                    continue
                d = self.peek(1)
                if d in ("$", "`", '"', "\\"):
                    buf.append(d)
                    self.pos += 2
                else:
                    buf.append("\\")
                    self.pos += 1
                continue
            if c in "`$":
                s = self.pos
                piece = self._quoted_or_expansion(in_dq=True)
                if piece is None:
                    buf.append(c)
                    continue
                if buf:
                    parts.append(Lit("".join(buf), buf_start, s, True))
                    buf = []
                parts.extend(piece)
                buf_start = self.pos
                continue
            buf.append(c)
            self.pos += 1
        if buf or not parts:
            parts.append(Lit("".join(buf), buf_start, self.pos, True))
        return parts

    def _ansi_c(self, start: int) -> Lit:
        self.pos += 2
        out: list[str] = []
        while True:
            if self.pos >= self.n:
                raise LexError("unterminated $'...'", start)
            c = self.text[self.pos]
            if c == "'":
                self.pos += 1
                return Lit("".join(out), start, self.pos, True)
            if c == "\\" and self.pos + 1 < self.n:
                d = self.text[self.pos + 1]
                m = re.compile(r"x[0-9A-Fa-f]{1,2}|[0-7]{1,3}").match(self.text, self.pos + 1)
                if d in _ANSI:
                    out.append(_ANSI[d])
                    self.pos += 2
                elif m is not None:
                    t = m.group()
                    out.append(chr(int(t[1:], 16) if t[0] == "x" else int(t, 8)))
                    self.pos = m.end()
                else:
                    out.append("\\" + d)
                    self.pos += 2
                continue
            out.append(c)
            self.pos += 1

    def _backquote(self, in_dq: bool) -> Expansion:
        start = self.pos
        self.pos += 1
        while True:
            if self.pos >= self.n:
                raise LexError("unterminated backquote", start)
            c = self.text[self.pos]
            if c == "\\":
                self.pos += 2
                continue
            self.pos += 1
            if c == "`":
                return Expansion("command", start, self.pos, in_dq)

    def _braced(self, start: int, in_dq: bool) -> Expansion:
        """``${...}``."""
        self.pos += 2
        prefix = ""
        if self.peek() in ("!", "#") and self.peek(1) not in ("}", ""):
            prefix = self.peek()  # ``${!name}`` indirection, ``${#name}`` length
            self.pos += 1
        m = NAME.match(self.text, self.pos)
        if m is not None:
            name = m.group()
            self.pos = m.end()
        elif self.peek().isdigit():
            d = re.compile(r"[0-9]+").match(self.text, self.pos)
            name = d.group()
            self.pos = d.end()
        elif self.peek() and self.peek() in "@*#?$!-":
            name = self.peek()
            self.pos += 1
        else:
            raise LexError("bad substitution", start)
        indexed = False
        if self.peek() == "[":
            depth = 0
            while self.pos < self.n:
                ch = self.text[self.pos]
                self.pos += 1
                if ch == "[":
                    depth += 1
                elif ch == "]":
                    depth -= 1
                    if depth == 0:
                        break
            indexed = True
        op = None
        m = re.compile(r":[-=?+]|[-=?+]|##|#|%%|%|//|/#|/%|/|\^\^|\^|,,|,|:|@").match(self.text, self.pos)
        if m is not None:
            op = m.group()
            self.pos = m.end()
        arg = None
        if op is not None:
            arg = self.word(stop="}")
            if arg is None:
                arg = Word((), self.pos, self.pos)
        if self.peek() != "}":
            raise LexError("unterminated ${", start)
        self.pos += 1
        return Expansion("param", start, self.pos, in_dq, name=name, op=op, arg=arg, indexed=indexed,
                         prefix=prefix)
