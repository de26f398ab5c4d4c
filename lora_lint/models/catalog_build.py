"""Regenerate the prebuilt inventories of the catalog models (``data/inventories``).

    python -m lora_lint.models.catalog            # rebuild every catalog model
    python -m lora_lint.models.catalog --check    # exit 1 when the shipped files are stale

Each catalog config is built on the meta device with the installed transformers (the same
``build_inventory`` a lint run uses) for its own architecture, and saved gzip-compressed; the
index records the config hashes and the versions the facts come from. A lint run uses a prebuilt
inventory when the installed transformers is that version, or when transformers is not installed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys

from . import catalog
from .cache import PREBUILT, PREBUILT_INDEX, dist_version
from .resolve import config_hash


def build_one(model_id: str) -> tuple[str, str]:
    """(config hash, inventory JSON) for a catalog model."""
    from .build import build_inventory

    path = catalog.CATALOG / catalog.model_ids()[model_id]
    config = json.loads(path.read_text(encoding="utf-8"))
    return config_hash(config), build_inventory(config, None).to_json()


def compress(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def generate(ids: list[str] | None = None, check: bool = False, out=sys.stdout) -> int:
    from .inventory import SCHEMA_VERSION

    everything = not ids
    ids = ids or sorted(catalog.model_ids())
    previous = _read_index()
    files = {catalog.model_ids()[i] + ".gz" for i in ids}
    kept = {} if everything else {
        sha: name for sha, name in previous.get("entries", {}).items() if name not in files}
    index = {
        "about": "Inventories of the bundled catalog models, built on the meta device by"
                 " `python -m lora_lint.models.catalog`.",
        "schema_version": SCHEMA_VERSION,
        "transformers": dist_version("transformers"),
        "torch": dist_version("torch"),
        "entries": kept,
    }
    stale = []
    PREBUILT.mkdir(parents=True, exist_ok=True)
    for model_id in ids:
        sha, text = build_one(model_id)
        name = catalog.model_ids()[model_id] + ".gz"
        index["entries"][sha] = name
        data = compress(text)
        target = PREBUILT / name
        old = target.read_bytes() if target.exists() else None
        if old != data:
            stale.append(model_id)
            if not check:
                target.write_bytes(data)
        print(f"{model_id}: {len(text):,} bytes JSON, {len(data):,} gzip", file=out)
    index["entries"] = dict(sorted(index["entries"].items()))
    index_text = json.dumps(index, indent=1) + "\n"
    if check:
        if stale or previous != json.loads(index_text):
            print(f"stale: {', '.join(stale) or 'index.json'}", file=out)
            return 1
        return 0
    PREBUILT_INDEX.write_text(index_text, encoding="utf-8")
    return 0


def _read_index() -> dict:
    try:
        return json.loads(PREBUILT_INDEX.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lora_lint.models.catalog", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ids", nargs="*", help="catalog model ids (default: all)")
    p.add_argument("--check", action="store_true", help="compare, do not write")
    args = p.parse_args(argv)
    return generate(args.ids or None, args.check)
