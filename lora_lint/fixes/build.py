"""What rules call to build a fix: one function per kind of change, for Python, YAML and JSON.

Each takes the rule's ``ctx.document`` (the ``SourceFile``) and returns the edits, or None when the change cannot be
made with certainty (no document, the value is computed, the text is written in a way not
recognised). Python changes go through libcst (``python_edits``); YAML and JSON changes are span
and line edits (``yaml_edits``). Applying them checks that the file still parses (``apply``).
"""

from __future__ import annotations

from ..model import Edit, LoraSite, Param, Span
from ..source_file import Kind, SourceFile
from .text_edits import structure

# ``python_edits`` (libcst) and ``yaml_edits`` (PyYAML) are imported where a fix is built, so a
# run that builds none loads neither.

Edits = tuple[Edit, ...]

#: YAML spellings of a boolean -> the same spelling of its opposite (``yes``/``on`` are left alone).
BOOL_WORDS = {"true": "false", "false": "true", "True": "False", "False": "True", "TRUE": "FALSE", "FALSE": "TRUE"}
JSON_BOOLS = {"true": "false", "false": "true"}


def _editable(doc: SourceFile | None) -> bool:
    """A document fixes can be built for: a shell script has no fix builder (a command line's
    settings are words, not YAML), so its findings carry no fix."""
    return doc is not None and doc.kind is not Kind.SHELL


def keys_beside(doc: SourceFile | None, site: LoraSite, p: Param) -> set[str] | None:
    """The other keys written where ``p``'s key is (the call's keywords, the YAML mapping's keys);
    None when unknown (``**kwargs``, not found)."""
    if not _editable(doc):
        return None
    if doc.kind is Kind.PYTHON:
        t = _tree(doc)
        return None if t is None else t.keywords(site)
    index = _index(doc)
    entry = index.by_key.get((p.span.line, p.span.col)) if index is not None else None
    return None if entry is None else index.keys_of(entry[0])


def rename_key(doc: SourceFile | None, site: LoraSite, p: Param, new: str) -> Edits | None:
    """Key (or keyword) ``p.key`` renamed ``new``, when ``new`` is not already written beside it."""
    taken = keys_beside(doc, site, p)
    if taken is None or new in taken or p.implicit:
        return None
    if doc.kind is Kind.PYTHON:
        s = p.span
        key = Span(s.line, s.col, s.line, s.col + len(p.key))
        if doc.slice(key) != p.key or _tree(doc).arg(p) is None:
            return None
        return (Edit(key, new),)
    from . import yaml_edits as ym

    return ym.rename_key(doc, p, p.key, new)


def set_bool(doc: SourceFile | None, p: Param, value: bool) -> Edits | None:
    """A boolean written as a literal (``True``, ``false``, ``FALSE``) set to ``value`` in the same
    spelling; a computed value is left alone."""
    if not _editable(doc) or p.implicit or not isinstance(p.value, bool) or p.value == value:
        return None
    if doc.kind is Kind.PYTHON:
        from . import python_edits as py

        t = structure(doc, py.PyTree)
        return None if t is None else py.replace_value(t, doc, p, repr(value), ("True", "False"))
    from . import yaml_edits as ym

    return ym.replace_scalar(doc, p, BOOL_WORDS if doc.kind is Kind.YAML else JSON_BOOLS)


def add_setting(doc: SourceFile | None, site: LoraSite, key: str, value: bool, after: Param | None) -> Edits | None:
    """``key`` set to ``value`` (a boolean) where the site's other settings are written, right after
    ``after`` (Python: or the last keyword argument)."""
    if not _editable(doc):
        return None
    if doc.kind is Kind.PYTHON:
        from . import python_edits as py

        t = structure(doc, py.PyTree)
        return None if t is None else py.insert_keyword(t, doc, site, key, repr(value), after)
    if after is None or after.implicit:
        return None
    from . import yaml_edits as ym

    return ym.insert_entry(doc, after, key, "true" if value else "false")


def list_to_string(doc: SourceFile | None, p: Param) -> Edits | None:
    """A one-item list written as that item: ``["all-linear"]`` -> ``"all-linear"``."""
    if not _editable(doc) or p.implicit:
        return None
    if doc.kind is Kind.PYTHON:
        from . import python_edits as py

        t = structure(doc, py.PyTree)
        return None if t is None else py.list_to_string(t, doc, p)
    from . import yaml_edits as ym

    return ym.list_to_scalar(doc, p)


def string_to_list(doc: SourceFile | None, p: Param, names: list[str]) -> Edits | None:
    """A Python string literal ``"q_proj,v_proj"`` written as the list ``["q_proj", "v_proj"]``."""
    if doc is None or doc.kind is not Kind.PYTHON or p.implicit:
        return None
    from . import python_edits as py

    t = structure(doc, py.PyTree)
    return None if t is None else py.string_to_list(t, doc, p, names)


def edit_items(doc: SourceFile | None, p: Param, replace: dict[int, str], drop: set[int]) -> Edits | None:
    """List ``p``'s items replaced (index -> name) and dropped, the list's layout kept."""
    if not _editable(doc) or p.implicit or not p.items:
        return None
    if doc.kind is Kind.PYTHON:
        from . import python_edits as py

        t = structure(doc, py.PyTree)
        return None if t is None else py.edit_elements(t, doc, p, replace, drop)
    from . import yaml_edits as ym

    return ym.edit_items(doc, p, replace, drop)


def _tree(doc: SourceFile):
    from . import python_edits as py

    return structure(doc, py.PyTree)


def _index(doc: SourceFile):
    from . import yaml_edits as ym

    return structure(doc, ym.NodeIndex)
