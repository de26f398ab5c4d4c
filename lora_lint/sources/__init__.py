"""Sources turn one file's text into ``LoraSite`` records; one module per source kind."""

from __future__ import annotations

from ..model import LoraSite, Span

PYTHON_SUFFIXES = (".py", ".pyi")
YAML_SUFFIXES = (".yaml", ".yml", ".json")
SUFFIXES = PYTHON_SUFFIXES + YAML_SUFFIXES
#: A Python file containing none of these cannot hold a site: libcst is not even imported.
PYTHON_MARKERS = ("LoraConfig", "get_peft_model")


class SourceError(Exception):
    """The file cannot be read or parsed: reported as LL901 at ``span``."""

    def __init__(self, message: str, span: Span):
        super().__init__(message)
        self.message = message
        self.span = span


def is_source(path: str) -> bool:
    return path.lower().endswith(SUFFIXES)


def may_hold_sites(path: str, text: str) -> bool:
    """False when ``sites_for`` certainly finds nothing without parsing (the marker tests it
    starts with); True means the file is worth parsing."""
    lower = path.lower()
    if lower.endswith(PYTHON_SUFFIXES):
        return any(marker in text for marker in PYTHON_MARKERS)
    if lower.endswith(YAML_SUFFIXES):
        from .yaml_source import markers

        return markers(path).search(text) is not None
    return False


def sites_for(path: str, text: str) -> list[LoraSite]:
    """The LoRA sites of one file. Raises ``SourceError`` when the file cannot be parsed."""
    lower = path.lower()
    if lower.endswith(PYTHON_SUFFIXES):
        if not any(marker in text for marker in PYTHON_MARKERS):
            return []
        from . import python

        found = python.sites(path, text)
    elif lower.endswith(YAML_SUFFIXES):
        from . import yaml_source

        found = yaml_source.sites(path, text)
    else:
        return []
    if not found:
        return found
    from .overrides import apply_comment

    return apply_comment(path, text, found)
