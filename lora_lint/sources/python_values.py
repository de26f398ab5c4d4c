"""What the Python evaluator computes: a value with where it was written (``Traced``), and the
abstract objects a script builds its settings from (``Obj``: a parsed command line, a dataclass
instance, a loaded YAML file...).

A ``Traced`` value keeps its origin when it is not written where it is used: the default of a
command-line flag (``span`` at ``default=8``, ``via`` "the default of --lora_r"), an entry of a
YAML file the script reads (``span`` and ``path`` in that file). A dict or list keeps each entry's
origin in ``parts``, so ``LoraConfig(**cfg["lora"])`` knows where each key is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import libcst as cst

from ..model import UNKNOWN, Span, is_known
from .python_scope import Frame, Scope

#: The longest string and the largest container a value may be (past them it is not computed).
MAX_STRING = 100_000
MAX_ITEMS = 10_000


def fits(size: int, like: Any) -> bool:
    """A string (``like`` a str) of ``size`` characters, or a container of ``size`` items, is
    within the size bound."""
    return size <= (MAX_STRING if isinstance(like, str) else MAX_ITEMS)


@dataclass(frozen=True)
class Part:
    """One entry of a dict (``key``) or item of a list (its index), with its own origin.
    ``key_span`` is where a dict key is written, in the file of the container."""

    key: Any
    key_span: Span | None
    value: Traced


@dataclass(frozen=True)
class Traced:
    """A value and where it comes from.

    * ``span``: where the value is written, when not at the expression that uses it (None: there).
    * ``path``: the file ``span`` is in, when not the file being read (a YAML file the script loads).
    * ``via``: how the value reaches its use when it may be set elsewhere, for messages
      ("the default of --lora_r"): the value is the default, a command line may change it.
    * ``parts``: the entries of a dict or items of a list, each traced; None when not known.
    """

    value: Any
    span: Span | None = None
    path: str | None = None
    via: str | None = None
    parts: tuple[Part, ...] | None = None

    @property
    def known(self) -> bool:
        return is_known(plain(self.value))

    def with_origin(self, span: Span | None, path: str | None = None, via: str | None = None) -> Traced:
        """The same value, written at ``span`` (a value read from a default or another file)."""
        return Traced(self.value, span, path, via if via is not None else self.via, self.parts)

    def marked(self, via: str | None) -> Traced:
        return self if via is None else Traced(self.value, self.span, self.path, via, self.parts)


NOTHING = Traced(UNKNOWN)


def plain(value: Any) -> Any:
    """``value`` as rules see it: an abstract object, inside a container too, is UNKNOWN."""
    if isinstance(value, Obj):
        return UNKNOWN
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def combine_via(*traced: Traced) -> str | None:
    """The ``via`` of a value computed from ``traced``: it follows the defaults it is computed from."""
    vias = [t.via for t in traced if t.via]
    if not vias:
        return None
    names = list(dict.fromkeys(v.removeprefix("computed from ") for v in vias))
    return "computed from " + " and ".join(names)


class Evaluating(Protocol):
    """What the objects ask of the evaluator (``python_eval.Evaluator``)."""

    m: Any  # the file being read (``python.Extractor``)
    scopes: Any  # its ``python_scope.ScopeBuilder``
    flow: Any  # its uses of names (``python_flow.Flow``)

    def trace(self, node: cst.BaseExpression, scope: Scope | None, frame: Frame | None = None,
              depth: int = 0) -> Traced: ...

    def span(self, node: cst.CSTNode) -> Span: ...

    def builtin(self, func: cst.BaseExpression, scope: Scope | None) -> str | None: ...

    def bind_call(self, fn: cst.FunctionDef, fscope: Scope, call: cst.Call, scope: Scope | None,
                  frame: Frame | None, depth: int, only: str | None = None) -> Frame: ...

    def returns(self, fn: cst.FunctionDef, frame: Frame, depth: int) -> Traced: ...


class Obj:
    """An abstract value: something the script builds that is not a literal, of which the
    evaluator knows some attributes, items or methods. Everything not known is ``NOTHING``."""

    #: A container the script may change (items set, ``update``): its uses are checked
    #: (``python_flow``) before a value read from it is believed.
    mutable = False

    def attr(self, name: str, ev: Evaluating) -> Traced:
        return NOTHING

    def item(self, key: Any, ev: Evaluating) -> Traced:
        return NOTHING

    def method(self, name: str, call: cst.Call, scope: Scope, frame: Frame | None, ev: Evaluating,
               depth: int) -> Traced:
        return NOTHING

    def enter(self) -> Traced:
        """``with <self> as x``: what ``x`` is."""
        return NOTHING

    def call(self, call: cst.Call, scope: Scope, frame: Frame | None, ev: Evaluating, depth: int) -> Traced:
        """``<self>(...)``."""
        return NOTHING

    def elements(self) -> tuple[Traced, ...] | None:
        """The items of a tuple-like value (``a, b = <self>``), when known."""
        return None

    def divide(self, other: Traced) -> Traced:
        """``<self> / other`` (a path joined)."""
        return NOTHING

    def fields_of(self) -> dict[str, Traced] | None:
        """Its entries by name, when it stands for a mapping (``Config(**<self>)``)."""
        return None

    def lacks(self, name: str) -> bool:
        """True when the object certainly has no attribute ``name`` (``getattr``'s default applies)."""
        return False


def same_key(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (isinstance(a, str) is isinstance(b, str) and a == b)


def mapping(parts: tuple[Part, ...]) -> Traced:
    """A dict value from its traced entries."""
    try:
        return Traced({p.key: p.value.value for p in parts}, parts=parts)
    except TypeError:
        return NOTHING


def elements(t: Traced) -> tuple[Traced, ...] | None:
    """The items of a list or tuple value (or of an object that is a tuple), each traced."""
    if isinstance(t.value, Obj):
        return t.value.elements()
    if isinstance(t.value, range):
        return tuple(Traced(i, via=t.via) for i in t.value)
    if not isinstance(t.value, (list, tuple)):
        return None
    if t.parts is not None and len(t.parts) == len(t.value):
        return tuple(p.value for p in t.parts)
    return tuple(Traced(v, via=t.via) for v in t.value)


def item(owner: Traced, key: Any, ev: Evaluating) -> Traced:
    """``owner[key]``."""
    if isinstance(owner.value, Obj):
        return owner.value.item(key, ev)
    if key is UNKNOWN or isinstance(key, Obj):
        return NOTHING
    if isinstance(owner.value, dict):
        if owner.parts is None:
            return NOTHING
        found = next((p.value for p in owner.parts if same_key(p.key, key)), None)
        return found if found is not None else NOTHING
    if isinstance(owner.value, (list, tuple)) and isinstance(key, int) and not isinstance(key, bool):
        items = elements(owner)
        if items is None or not -len(items) <= key < len(items):
            return NOTHING
        return items[key]
    return NOTHING
