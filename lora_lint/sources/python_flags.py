"""A script's command-line flags and their defaults: one representation, for every reader.

``python.script_flags(source)`` lists the flags a Python script defines, however it defines them
(``python_cli`` reads the definitions):
``argparse`` (``parser.add_argument("--lora_r", type=int, default=8)``, groups, helper functions
that add arguments to a parser they are given), ``HfArgumentParser`` over dataclasses (each field
``lora_r: int = field(default=8)`` is ``--lora_r`` and ``--lora-r``), and the parameters of a
function run by ``fire.Fire``. Each ``Flag`` has its options, its default (a ``Traced`` value:
where it is written, marked "the default of --lora_r") and how a value given on a command line
converts (``Flag.convert``, argparse's and transformers' rules).

A command line that runs the script (a shell script's ``python train.py --lora_r 64``) is a
``CommandLine``; ``python.sites(source, command_line)`` reads the script's LoRA sites as that
command line runs them: a flag it gives replaces the default, with the place it is written.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..model import UNKNOWN, Span
from .python_values import NOTHING, Traced

#: How a value given on the command line is converted (``type=``): argparse applies the type
#: to the words given (and to a string default); "bool" is transformers' ``string_to_bool``;
#: "literal" is fire's (a Python literal, else the text); None leaves the text as it is.
CONVERTERS = ("int", "float", "str", "bool", "literal")
TRUE_WORDS = ("yes", "true", "t", "y", "1")
FALSE_WORDS = ("no", "false", "f", "n", "0")


@dataclass(frozen=True)
class Flag:
    """One command-line flag of a script.

    * ``dest``: the attribute (or dataclass field, or function parameter) it sets.
    * ``options``: how a command line writes it (``--lora_r``, ``-r``); empty for a positional.
    * ``value``: its default, traced (``span`` where the default is written, ``via`` "the default
      of --lora_r"); NOTHING when it has none that is known (``required=True``).
    * ``action``: argparse's ("store", "store_true", "store_false", "store_const", "append",
      "count", "boolean_optional"; "unknown" for another).
    * ``type``: how given words convert (``CONVERTERS``); "custom" for a function we do not run.
    * ``nargs``: argparse's (None: one word; "?", "*", "+", or a number).
    """

    dest: str
    options: tuple[str, ...]
    value: Traced
    action: str = "store"
    type: str | None = None
    nargs: str | int | None = None
    const: Any = None

    @property
    def option(self) -> str:
        """The option messages name: the first long one."""
        longs = [o for o in self.options if o.startswith("--")]
        return (longs or list(self.options) or [self.dest])[0]

    @property
    def takes_value(self) -> bool:
        """A word follows the flag on a command line (``--lora_r 64``); a switch takes none."""
        return self.action in ("store", "append") and self.nargs != 0

    def convert(self, words: tuple[str, ...]) -> Any:
        """The value the script gets when a command line gives the flag with ``words`` after it
        (none for a switch); UNKNOWN when it cannot be told."""
        if self.action == "store_true":
            return True
        if self.action == "store_false":
            return False
        if self.action == "store_const":
            return self.const
        if self.action == "boolean_optional":
            return UNKNOWN  # --x and --no-x share a dest: ``CommandLine`` knows which was written
        if self.action != "store":
            return UNKNOWN
        if self.nargs == "?" and not words:
            return self.const
        if any(not isinstance(w, str) for w in words):
            return UNKNOWN
        values = [_convert_word(self.type, w) for w in words]
        if any(v is UNKNOWN for v in values):
            return UNKNOWN
        if self.nargs in (None, "?"):
            return values[0] if len(values) == 1 else UNKNOWN
        return values


def _convert_word(kind: str | None, word: str) -> Any:
    try:
        if kind is None or kind == "str":
            return word
        if kind == "int":
            return int(word)
        if kind == "float":
            return float(word)
        if kind == "bool":
            low = word.lower()
            return True if low in TRUE_WORDS else False if low in FALSE_WORDS else UNKNOWN
        if kind == "literal":
            try:
                return ast.literal_eval(word)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return word
    except ValueError:
        return UNKNOWN
    return UNKNOWN


def default_value(kind: str | None, value: Any) -> Any:
    """argparse converts a string default with the flag's type (a non-string one is used as it is)."""
    if not isinstance(value, str) or kind in (None, "str", "literal"):
        return value
    if kind == "bool":
        return _convert_word("bool", value)
    if kind == "custom":
        return UNKNOWN
    return _convert_word(kind, value)


@dataclass(frozen=True)
class ScriptFlags:
    """The flags a script defines (``script_flags``)."""

    path: str
    flags: tuple[Flag, ...]

    def by_option(self, option: str) -> Flag | None:
        return next((f for f in self.flags if option in f.options), None)

    def by_dest(self, dest: str) -> Flag | None:
        found = [f for f in self.flags if f.dest == dest]
        if len(found) == 1:
            return found[0]
        if found and all(f.value == found[0].value for f in found):
            return found[0]
        return Flag(dest, (), NOTHING) if found else None


@dataclass(frozen=True)
class Given:
    """A flag on a command line: the words after it (none for a switch; UNKNOWN for a word whose
    text is unknown) and where they are; ``negated``: written ``--no-flag`` (a
    ``BooleanOptionalAction``)."""

    words: tuple[str, ...]
    span: Span
    path: str
    negated: bool = False


class CommandLine:
    """The flags a command line gives a script, by option (``--lora_r``) as written.

    ``flags``: the script's flags, when known (a field asked for by name converts as its flag
    does); ``unknown``: a word of unknown text where an option may stand (``$EXTRA_ARGS``), after
    which any flag not given again is unknown; ``positional``: a word that is no option's, which
    a positional argument takes."""

    def __init__(self, given: Mapping[str, Given], flags: ScriptFlags | None = None, unknown: Given | None = None,
                 positional: Given | None = None) -> None:
        self.given = dict(given)
        self.flags = flags
        self.unknown = unknown
        self.positional = positional

    def value_of(self, flag: Flag | str) -> Traced | None:
        """The value ``flag`` (a ``Flag``, or a dataclass field's or fire parameter's name, written
        ``--name`` or ``--name-with-dashes``) gets from this command line; None when not given."""
        if isinstance(flag, str):
            known = self.flags.by_dest(flag) if self.flags is not None else None
            if known is not None and known.options:
                flag = known
            else:
                options = (f"--{flag}", f"--{flag.replace('_', '-')}")
                flag = Flag(flag, options, NOTHING, type="literal", nargs="?", const=True)
        for option in flag.options:
            g = self.given.get(option)
            if g is not None:
                if flag.action == "boolean_optional" and not g.words:
                    return Traced(not g.negated, g.span, g.path)
                return Traced(flag.convert(g.words), g.span, g.path)
        late = self.unknown if flag.options else self.positional or self.unknown
        return Traced(UNKNOWN, late.span, late.path) if late is not None else None
