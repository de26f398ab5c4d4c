"""What every way of finding a base model's ``config.json`` shares: the answer (``Resolved`` or
``Unresolved``), the size limit of a config, where the Hugging Face cache lives and how a commit
is named in it, and a message made one line.

``resolve`` (the offline ladder) and ``hub`` (its last rung, online) both use these; ``resolve``
calls ``hub``, never the other way round.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

#: A config.json larger than this is not read (the largest real ones are a few KB).
MAX_CONFIG_BYTES = 4 * 1024 * 1024
COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Resolved:
    """A config found for ``name``: ``source`` is local / hf-cache / catalog / hub."""

    name: str
    config: dict = field(repr=False, compare=False)
    config_hash: str
    source: str
    detail: str  # the file read, or the catalog id and alias path
    model_id: str | None = None  # the canonical id when known (catalog id, Hub id)


@dataclass(frozen=True)
class Unresolved:
    """Why ``name`` gave no config, and how to fix it (both end up in LL902)."""

    name: str | None
    #: not-named / not-static / bad-id / missing-path / bad-config / not-found / gated / hub-error /
    #: hub-timeout / hub-too-large; from the build (``context._build``): remote-code / needs-network /
    #: too-large / build-failed / no-transformers
    reason: str
    why: str
    fix: str = ""
    #: not-found only because online lookups are off (the Hub was not asked)
    offline: bool = False


Result = Resolved | Unresolved


_BREAKS = re.compile(r"\s+")  # \s covers \r, \n, \x0b, \x0c, \x1c-\x1f, \x85, \u2028, \u2029


def one_line(text: str, limit: int = 1000) -> str:
    """``text`` on one line (every run of white space, line breaks included, one space), cut to
    ``limit`` characters with an ellipsis: a finding's message is one line in every format."""
    text = _BREAKS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def hf_cache_dir() -> Path:
    """Where huggingface_hub keeps models (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)."""
    def expand(p: str) -> str:
        return os.path.expandvars(os.path.expanduser(p))

    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(expand(explicit))
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface")
    return Path(expand(home)) / "hub"
