"""One JSON object a line (the ``json`` format's objects, without the array)."""

from __future__ import annotations

import json

from ..model import Finding
from .json_format import as_dict


def render(findings: list[Finding], info) -> str:
    return "".join(json.dumps(as_dict(f, info), ensure_ascii=False) + "\n" for f in findings)
