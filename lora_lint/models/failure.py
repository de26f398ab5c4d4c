"""What peft raises for a config, predicted statically, and why a count is withheld.

A ``Failure`` is made where the replay meets the condition peft raises on (``validate`` for
``LoraConfig`` and layer creation, ``match`` for ``inject_adapter``, ``count`` for the wrappers)
and carries peft's exception class, peft's own message and the ``LoraConfig`` field responsible
(with the list element or dict key, when one is). ``rules/_model.py`` turns it into exactly one
error finding (``failure_for``); ``report`` prints it instead of a count.

A ``Withheld`` is not a peft exception: a value the replay does not follow (a wrong type peft
handles in its own way, a regex too costly to run); the count is left out and the report says
"not counted, because ...".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Failure kinds. ``config``: rejected by ``LoraConfig(...)`` or by the value checks of layer
#: creation (the config rules LL003-LL009 report these without the model).
KINDS = ("config", "not-found", "no-targets", "all-excluded", "none-targeted", "no-default",
         "unsupported", "fused", "mamba", "param-on-target", "layer", "param-wrapper", "wrapper",
         "tokens-not-found", "tokens-conflict", "tied-tokens", "replication", "no-generation")


@dataclass(frozen=True)
class Failure:
    """``get_peft_model`` (or ``LoraConfig``) raises ``exception(message)``."""

    exception: str  # ValueError, TypeError, NoMatchingPeftModuleError, NotImplementedError
    message: str  # peft's words
    kind: str
    field: str | None = None  # the LoraConfig field responsible
    item: Any = None  # its list element or dict key, when one is responsible
    stage: str = "get_peft_model"  # or "LoraConfig" (raised when the config is built)

    def __str__(self) -> str:
        return f"{self.exception}: {self.message}"


class Raises(Exception):
    """Raised inside the replay where peft would raise; carries the ``Failure``."""

    def __init__(self, exception: str, message: str, kind: str, field: str | None = None,
                 item: Any = None, stage: str = "get_peft_model"):
        super().__init__(message)
        self.failure = Failure(exception, message, kind, field, item, stage)


class Withheld(Exception):
    """A value the replay does not follow; ``reason`` completes "not counted, because ..."."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
