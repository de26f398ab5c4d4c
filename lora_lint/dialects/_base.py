"""What every dialect uses: its record, Params from nodes, a builder for ``LoraSite``, unknown-key hints.

A dialect module is small: ``DIALECT`` (its record, made by ``framework``: name, ``KEYMAP`` of
its LoRA keys -> peft ``LoraConfig`` field names with the preferred spelling of each field
first, defaults, settable fields, other known keys), ``detect(doc)`` and ``sites(doc)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .. import spellings
from ..dialect import Dialect
from ..model import UNKNOWN, LoraSite, Note, Param, Span
from ..peft_facts import lora_fields, suggest

if TYPE_CHECKING:
    from ..sources.yaml_nodes import Doc, Entry, Map

# PyYAML and the YAML reader are imported by the helpers that read a document: a dialect's
# record (``framework``) is made without them, and the Python reader uses TRL's record.

LORA_FIELDS = frozenset(lora_fields())
#: LoraConfig fields that describe the file rather than the adapter: never "missing" advice.
METADATA = frozenset({
    "peft_type", "peft_version", "revision", "auto_mapping", "base_model_name_or_path", "inference_mode",
})
#: Fields a YAML framework passes with a value of its own: left out, unknown unless its record
#: has a default (every other field left out is not passed, so peft's default applies).
DECIDED = frozenset({"r", "lora_alpha", "init_lora_weights"})
_UNSET: Any = object()


# --- the record --------------------------------------------------------------------------------

def framework(name: str, keymap: Mapping[str, str], *, defaults: Mapping[str, Any] | None = None,
              settable: Iterable[str] | None = None, known: Iterable[str] = (),
              string_targets: bool = False, **traits: Any) -> Dialect:
    """The record of a YAML/JSON training framework: values coerced the way pydantic reads them,
    null meaning "the framework's default", LoRA settings named "a(n) <name> LoRA setting"."""
    article = "an" if name[:1] in "aeiou" else "a"
    record: dict[str, Any] = {"what": f"{article} {name} LoRA setting", "decided": DECIDED, "means": meaning}
    record.update(traits)
    return Dialect(
        name=name, keymap=dict(keymap), defaults=dict(defaults or {}),
        settable=None if settable is None else frozenset(settable), known=frozenset(known),
        string_targets=string_targets, **record,
    )


# --- Params ------------------------------------------------------------------------------------

def param(doc: Doc, entry: Entry, value: Any = _UNSET, *, key: str | None = None) -> Param:
    """The Param of ``entry`` (pointing at its value), with an item per element of a list."""
    from yaml.nodes import SequenceNode

    from ..sources.yaml_nodes import span, to_value, value_span

    node = entry.node
    v = to_value(node, doc.budget) if value is _UNSET else value
    items: tuple[Param, ...] = ()
    if isinstance(node, SequenceNode) and isinstance(v, list) and len(v) == len(node.value):
        items = tuple(Param(key or entry.key, item, span(n)) for item, n in zip(v, node.value, strict=True))
    return Param(key or entry.key, v, value_span(entry.key_node, node), items)


def key_param(doc: Doc, entry: Entry) -> Param:
    """A Param pointing at the key itself (for a key that is wrong, not its value)."""
    from ..sources.yaml_nodes import span, to_value

    return Param(entry.key, to_value(entry.node, doc.budget), span(entry.key_node))


def split_param(doc: Doc, entry: Entry, *, key: str | None = None, strip: bool = True) -> Param:
    """A comma-joined string (``q_proj, v_proj``) as a list Param with an item span per name.

    Lists and other values are returned as they are.
    """
    p = param(doc, entry, key=key)
    if not isinstance(p.value, str):
        return p
    pieces = p.value.split(",")
    names = [s.strip() if strip else s for s in pieces]
    spans = _piece_spans(doc, entry.node, pieces)
    items = tuple(
        Param(p.key, name, spans[i] if spans else p.span)
        for i, name in enumerate(names)
        if name or not strip
    )
    return Param(p.key, [i.value for i in items], p.span, items)


def _piece_spans(doc: Doc, node: Any, pieces: list[str]) -> list[Span] | None:
    from yaml.nodes import ScalarNode

    if not isinstance(node, ScalarNode) or node.start_mark.line != node.end_mark.line:
        return None
    line = doc.line(node.start_mark.line)
    start, end = node.start_mark.column, node.end_mark.column
    raw = line[start:end]
    if raw == node.value and not node.style:
        offset = start
    elif node.style in ("'", '"') and raw[1:-1] == node.value:
        offset = start + 1
    else:
        return None  # escapes or folding: the whole value's span is used instead
    out, pos, row = [], offset, node.start_mark.line + 1
    for piece in pieces:
        lead = len(piece) - len(piece.lstrip())
        body = piece.strip()
        col = pos + lead + 1
        out.append(Span(row, col, row, col + max(len(body), 1)))
        pos += len(piece) + 1
    return out


def implicit(key: str, value: Any, site_span: Span) -> Param:
    return Param(key, value, site_span, implicit=True)


def truthy(v: Any) -> bool:
    """A known value that switches something on (UNKNOWN is not known to)."""
    return v is not UNKNOWN and bool(v)


def names(entries: Iterable[str]) -> str:
    return ", ".join(f"`{e}`" for e in entries)


def agree(items, one: str, many: str) -> str:
    """``one`` or ``many`` by the number of ``items`` ("is"/"are", "it"/"them")."""
    return one if len(list(items)) == 1 else many


def coerce_numbers(b: SiteBuilder, ints: Iterable[str] = (), floats: Iterable[str] = ()) -> None:
    """Numbers written as strings, read as a pydantic model (lax mode) reads them: ``"16"`` -> 16."""
    for fieldname, kind in [*((f, int) for f in ints), *((f, float) for f in floats)]:
        p = b.params.get(fieldname)
        if p is None or p.implicit or isinstance(p.value, bool):
            continue
        v = p.value
        try:
            if isinstance(v, str):
                v = kind(v.strip()) if kind is float or v.strip().lstrip("+-").isdigit() else v
            elif kind is int and isinstance(v, float) and v.is_integer():
                v = int(v)
        except ValueError:
            continue
        if v is not p.value:
            b.params[fieldname] = Param(p.key, v, p.span, p.items, p.implicit)


# --- the builder -------------------------------------------------------------------------------

class SiteBuilder:
    """Collects one site's params, context and notes, then makes the ``LoraSite``."""

    def __init__(self, doc: Doc, dialect: Dialect, site_span: Span):
        self.doc = doc
        self.dialect = dialect
        self.span = site_span
        self.params: dict[str, Param] = {}
        self.context: dict[str, Param] = {}
        self.unknown_keys: list[tuple[Param, str | None]] = []
        self.notes: list[Note] = []
        self.base_model: Param | None = None
        self.model_class: str | None = None
        self.open = False
        self.active = True
        self.resizes_vocab = False

    def set(self, field: str, p: Param) -> None:
        self.params[field] = p

    def default(self, field: str, key: str, value: Any) -> None:
        """A default of the framework's that depends on the file (LLaMA-Factory's α = 2r), for
        ``field`` when the file does not set it; fixed defaults are the record's (``defaults``)."""
        if field not in self.params:
            self.params[field] = implicit(key, value, self.span)

    def defaults(self, *fields: str) -> None:
        """The record's defaults (of ``fields``, else all) for the fields the file does not set."""
        for field, value in self.dialect.defaults.items():
            if not fields or field in fields:
                self.default(field, self.dialect.spelling(field) or field, value)

    def ctx(self, name: str, p: Param | None) -> None:
        if p is not None:
            self.context[name] = p

    def training(self, entries: Mapping[str, Param]) -> None:
        """The training settings that decide memory (``sources.training``), into the context."""
        self.context.update(entries)

    def note(self, code: str, where: Param | Span, message: str) -> None:
        if isinstance(where, Span):
            where = Param("", UNKNOWN, where)
        self.notes.append(Note(code, where, message))

    def unknown(self, p: Param, suggestion: str | None) -> None:
        self.unknown_keys.append((p, suggestion))

    def deactivate(self) -> None:
        """The LoRA settings do not take effect (adapter off, adapter resumed): keep only notes."""
        self.active = False

    def build(self) -> LoraSite:
        params: Mapping[str, Param] = self.params if self.active else {}
        return LoraSite(
            path=self.doc.path,
            dialect=self.dialect,
            span=self.span,
            params=dict(params),
            # a walk cut short by the node budget may have missed settings: nothing is "missing"
            open=self.open or not self.active or self.doc.budget.exhausted,
            unknown_keys=tuple(self.unknown_keys),
            context=dict(self.context),
            base_model=self.base_model,
            model_class=self.model_class,
            notes=tuple(self.notes),
            active=self.active,
            resizes_vocab=self.resizes_vocab,
        )


def lookup(doc: Doc, m: Map | None):
    """``m``'s keys as a ``sources.training.Lookup``: ``key`` or a dotted path through nested
    mappings (``tokenizer.max_seq_len``) -> its Param, None when not written."""
    def get(key: str) -> Param | None:
        where = m
        *path, last = key.split(".")
        for k in path:
            where = where.sub(k) if where is not None else None
        e = where.get(last) if where is not None else None
        return param(doc, e) if e is not None else None

    return get


# --- keys -------------------------------------------------------------------------------------

def apply_keymap(b: SiteBuilder, m: Map, keymap: Mapping[str, str], *, skip: Iterable[str] = ()) -> None:
    """Each key of ``keymap`` present in ``m`` (and not null) becomes the param of its field."""
    skipped = set(skip)
    for key, fieldname in keymap.items():
        e = m.get(key)
        if e is None or key in skipped or fieldname in b.params:
            continue
        p = param(b.doc, e)
        if p.value is None:
            continue  # null: the framework's default applies
        b.set(fieldname, p)


def aliases(with_home_grown: bool = False) -> dict[str, frozenset[str]]:
    """Every framework's spelling of a LoRA setting -> the LoraConfig fields it means (the
    snapshot of the dialects' key maps, ``lora_lint.spellings``)."""
    return spellings.aliases(with_home_grown)


def meaning(key: str) -> frozenset[str]:
    """The LoraConfig fields ``key`` means: a field's own name, or some framework's spelling."""
    return aliases(with_home_grown=True).get(key, frozenset()) | ({key} & LORA_FIELDS)


def lora_looking(key: str) -> bool:
    """A key that reads as a LoRA setting in some framework (so a typo of one is worth a hint)."""
    low = key.lower()
    return (
        "lora" in low
        or low.startswith("peft_")
        or key in aliases()
        or key in (LORA_FIELDS - METADATA)
    )


def suggestion(key: str, keymap: Mapping[str, str], known: Iterable[str] = ()) -> str | None:
    """The dialect's own spelling of what ``key`` means elsewhere, else the nearest known key."""
    fields = meaning(key)
    for own, fieldname in keymap.items():
        if fieldname in fields and own != key:
            return own
    if fields:
        return None  # a setting this framework does not have: no near-miss guess
    return suggest(key, [*keymap, *known])


def check_unknown(b: SiteBuilder, m: Map, keymap: Mapping[str, str], known: Iterable[str] = (),
                  *, every_key: bool = False) -> None:
    """LL001 for keys of ``m`` the framework does not know (LoRA-looking ones, or ``every_key``)."""
    known = set(known)
    for e in m:
        if e.key in keymap or e.key in known or e.key.startswith("_"):
            continue
        if every_key or lora_looking(e.key):
            hint = suggestion(e.key, keymap, known)
            fields = sorted(meaning(e.key))
            if hint is None and fields:
                name = b.dialect.name
                b.note("LL001", key_param(b.doc, e), (
                    f"`{e.key}` is not a {name} setting: {name} has no way to set peft's "
                    f"`{fields[0]}`; remove it"))
            else:
                b.unknown(key_param(b.doc, e), hint)


def check_duplicates(b: SiteBuilder, m: Map, keys: Iterable[str]) -> None:
    """LL010 for a LoRA key written twice in one mapping: the earlier value is silently dropped."""
    wanted = set(keys)
    for e in m.duplicates:
        if e.key in wanted:
            later = m.get(e.key)
            line = later.key_node.start_mark.line + 1 if later else "?"
            b.note("LL010", key_param(b.doc, e),
                   f"`{e.key}` is set again on line {line}, which wins: this value is ignored; remove one of them")


def dead_keys(m: Map, keys: Iterable[str], doc: Doc) -> list[Entry]:
    """The entries among ``keys`` set to something (not null, false or empty), in file order."""
    from ..sources.yaml_nodes import to_value

    out = []
    for k in keys:
        e = m.get(k)
        if e is None:
            continue
        v = to_value(e.node, doc.budget)
        if v is None or v is False or v == [] or v == {} or v == "":
            continue
        out.append(e)
    return sorted(out, key=lambda e: e.key_node.start_mark.index)
