"""A LoraConfig value that a training framework computes from the loaded model.

Some frameworks do not hand a setting to peft as it is written. axolotl's
``lora_target_linear: true`` and LLaMA-Factory's ``lora_target: all`` run the framework's own
search over the loaded model's modules; LLaMA-Factory rewrites every target of a
vision-language model into full module names outside the frozen towers; ms-swift expands
``all-linear`` with its own finder. A dialect then stores a ``ModelDependent`` as the field's
value: what the file says, and the framework's function that turns it, given the base model's
``Inventory``, into exactly the value the framework passes to ``LoraConfig``. The analysis
resolves it before replaying peft (``models.analysis``), so what is matched and counted is what
the framework trains. The resolver returns ``UNKNOWN`` when the framework's choice cannot be
replayed for that model; the analysis then reports nothing that depends on it.

Pure data and plain functions: no torch, no model building.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelDependent:
    """``resolve_with(inventory, self)`` gives the value the framework passes to peft.

    ``setting`` is how the file asks for it (``lora_target_linear: true``), for messages;
    ``listed`` the names written with it (axolotl adds them to what its finder returns);
    ``options`` the other settings the framework's function reads, as ``(name, value)`` pairs
    (and what rules may ask: ``all_linear`` when the setting means "every linear layer",
    ``towers_chosen`` the tower kinds the config unfroze on purpose);
    ``finder`` names the framework's function in messages (``axolotl's linear-layer finder``);
    ``overrides`` other LoraConfig fields the framework changes on their way into peft, as
    ``(field, value)`` pairs (axolotl hands peft's ParamWrapper a copy of the config with
    ``lora_dropout=0``).
    """

    setting: str
    resolve_with: Callable[[Any, ModelDependent], Any]
    finder: str = ""
    listed: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()

    def option(self, name: str, default: Any = None) -> Any:
        for key, value in self.options:
            if key == name:
                return value
        return default

    def resolve(self, inventory: Any) -> Any:
        return self.resolve_with(inventory, self)

    def __repr__(self) -> str:
        return f"<{self.setting}>"
