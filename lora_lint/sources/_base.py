"""What every reader shares: ``SourceError``, the LL901 a file that cannot be parsed gets."""

from __future__ import annotations

from ..model import Span


class SourceError(Exception):
    """The file cannot be read or parsed: reported as LL901 at ``span``."""

    def __init__(self, message: str, span: Span):
        super().__init__(message)
        self.message = message
        self.span = span


#: A Python file containing none of these cannot hold a site: libcst is not even imported.
PYTHON_MARKERS = ("LoraConfig", "get_peft_model", "get_peft_config")
