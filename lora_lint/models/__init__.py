"""Model-aware analysis: a base model's inventory (built once on the meta device, then plain data)
and peft's matching and counting replayed on it.

``inventory`` and ``match`` never import torch; ``build`` is the only module that does.
"""

from __future__ import annotations

from .inventory import Inventory, ModuleInfo

__all__ = ["Inventory", "ModuleInfo"]
