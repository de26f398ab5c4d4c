"""What lora-lint cannot know statically: the ``UNKNOWN`` value, and ``is_known``.

Every layer uses it (readers, dialect records, rules, the model analysis); it imports nothing,
so the core types (``model``, ``dialect``) can share it without importing each other.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (a warm run needs none of it)
if TYPE_CHECKING:
    from typing import Any


class _Unknown:
    """A value that is not statically known (a call, ``${VAR}``, a ``**kwargs`` splat...)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self):
        return (_Unknown, ())


UNKNOWN: Any = _Unknown()


def is_known(value: Any) -> bool:
    """True when ``value`` and everything inside it is statically known."""
    if value is UNKNOWN:
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(is_known(v) for v in value)
    if isinstance(value, dict):
        return all(is_known(k) and is_known(v) for k, v in value.items())
    return True
