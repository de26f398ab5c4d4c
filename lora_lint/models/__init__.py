"""Model-aware analysis: a base model's inventory (built once on the meta device, then plain data)
and peft's matching and counting replayed on it.

``inventory``, ``spec``, ``match``, ``count`` and ``analysis`` never import torch; ``build`` is the
only module that does (import it explicitly: ``from lora_lint.models.build import build_inventory``).
"""

from __future__ import annotations

from .analysis import Analysis, analyze, analyze_spec
from .inventory import Inventory, ModuleInfo
from .spec import LoraSpec

__all__ = ["Analysis", "Inventory", "LoraSpec", "ModuleInfo", "analyze", "analyze_spec"]
