"""Regenerate and check the prebuilt inventories of the catalog models (``data/inventories``).

    python -m lora_lint.models.catalog_build              # build every (model, class); write what changed
    python -m lora_lint.models.catalog_build --check      # compare with fresh builds; exit 1 saying what differs
    python -m lora_lint.models.catalog_build ID [ID ...]  # only these catalog models
    python -m lora_lint.models.catalog_build --same-as ID config.json ...  # is each config an alias of ID?

Each catalog config is built on the meta device with the installed transformers (the same
``build_inventory`` a lint run uses): for the config's own architecture, and for each head class
``catalog.json`` lists. An inventory is stored without its config hash, so configs with the same
structure (a base model and its same-size code or math continuation) share one file; the index
maps each config hash and class to its file. A file is rewritten only when the structure changed
(or with ``--force``): a transformers release that changes nothing for a model changes nothing
here, and the inventory keeps saying which release it was built with.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from . import catalog
from .cache import PREBUILT, PREBUILT_INDEX
from .inventory import SCHEMA_VERSION, Inventory, differences
from .resolve import config_hash

ABOUT = ("Inventories of the bundled catalog models, built on the meta device by"
         " `python -m lora_lint.models.catalog_build`. entries: config sha256 -> the model and its"
         " inventory file per class ('' = the config's own architecture).")


def targets(ids: list[str] | None = None) -> list[tuple[str, str | None]]:
    """(catalog model id, head class or None for the config's own) for ``ids`` (default: all)."""
    ids = sorted(ids or catalog.model_ids())
    return [(model_id, cls) for model_id in ids for cls in [None, *catalog.head_classes(model_id)]]


def config_of(model_id: str) -> dict:
    return json.loads((catalog.CATALOG / catalog.model_ids()[model_id]).read_text(encoding="utf-8"))


def build(model_id: str, model_class: str | None = None) -> Inventory:
    """A fresh meta-device build, stored form (no config hash)."""
    from .build import build_inventory

    return replace(build_inventory(config_of(model_id), model_class), config_sha256=None)


def shipped(model_id: str, model_class: str | None = None) -> Inventory | None:
    """The prebuilt inventory for ``model_id`` and class, as a lint run finds it, or None."""
    from .cache import prebuilt_file

    name = prebuilt_file(config_hash(config_of(model_id)), model_class)
    if name is None:
        return None
    return Inventory.from_json((PREBUILT / name).read_text(encoding="utf-8"))


def compare(model_id: str, model_class: str | None = None) -> list[str]:
    """What a fresh build on the installed transformers changes in the shipped inventory
    (empty: the same structure). Used by ``--check`` and by the test suite."""
    old = shipped(model_id, model_class)
    if old is None:
        return ["no prebuilt inventory (run `python -m lora_lint.models.catalog_build`)"]
    return differences(old, build(model_id, model_class))


def same_as(model_id: str, config: dict) -> list[str]:
    """What differs between catalog model ``model_id`` and ``config`` (another model's config.json)
    when both are built on the meta device, for the config's own architecture and each head class
    the catalog lists: empty when ``config`` builds exactly the same modules and parameters, the
    condition for listing its model as an alias of ``model_id``."""
    from .build import build_inventory

    out = []
    for cls in [None, *catalog.head_classes(model_id)]:
        other = replace(build_inventory(config, cls), config_sha256=None)
        out += [f"{label(model_id, cls)}: {d}" for d in differences(build(model_id, cls), other)]
    return out


def check_aliases(model_id: str, paths: list[str], out=sys.stdout) -> int:
    if model_id not in catalog.model_ids():
        print(f"not in the catalog: {model_id}", file=out)
        return 2
    failed = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            changes = same_as(model_id, json.load(f))
        if changes:
            failed = 1
            print(f"{path}: differs from {model_id}:", file=out)
            for line in changes:
                print(f"  {line}", file=out)
        else:
            print(f"{path}: the same modules and parameters as {model_id}", file=out)
    return failed


def label(model_id: str, model_class: str | None) -> str:
    return model_id + (f" ({model_class})" if model_class else "")


def _file_name(model_id: str, model_class: str | None, inv: Inventory) -> str:
    stem = catalog.file_name(model_id)[:-5]
    return f"{stem}.{inv.model_class}.json" if model_class else f"{stem}.json"


def index_json(index: dict) -> str:
    """The index as text: one line per file and per config, so a diff shows what changed."""
    def one(v) -> str:
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    lines = ["{"]
    for key, value in index.items():
        if isinstance(value, dict) and value:
            lines.append(f"{one(key)}: {{")
            items = list(value.items())
            lines += [f"{one(k)}: {one(v)}" + ("," if i < len(items) - 1 else "")
                      for i, (k, v) in enumerate(items)]
            lines.append("},")
        else:
            lines.append(f"{one(key)}: {one(value)},")
    lines[-1] = lines[-1].rstrip(",")
    return "\n".join(lines) + "\n}\n"


def _read_index() -> dict:
    try:
        return json.loads(PREBUILT_INDEX.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def generate(ids: list[str] | None = None, check: bool = False, force: bool = False,
             out=sys.stdout) -> int:
    previous = _read_index()
    chosen = set(ids or catalog.model_ids())
    unknown = chosen - set(catalog.model_ids())
    if unknown:
        print(f"not in the catalog: {', '.join(sorted(unknown))}", file=out)
        return 2
    entries: dict[str, dict] = {}
    files: dict[str, dict] = {}
    if ids:  # keep the other models' entries as they are
        keep = {config_hash(config_of(m)) for m in catalog.model_ids() if m not in chosen}
        entries = {sha: e for sha, e in previous.get("entries", {}).items() if sha in keep}
        used = {f for e in entries.values() for f in e["classes"].values()}
        files = {f: meta for f, meta in previous.get("files", {}).items() if f in used}
    by_text: dict[str, str] = {}  # stored text -> file (configs with one structure share a file)
    stale: list[str] = []
    written: dict[str, str] = {}
    for model_id, model_class in targets(sorted(chosen)):
        sha = config_hash(config_of(model_id))
        fresh = build(model_id, model_class)
        old = shipped(model_id, model_class) if previous else None
        changes = ["not prebuilt"] if old is None else differences(old, fresh)
        if changes:
            stale.append(f"{label(model_id, model_class)}: " + "; ".join(changes))
        keep_old = old is not None and not changes and not force
        inv = old if keep_old else fresh
        text = inv.to_json()
        name = by_text.get(text)
        if name is None:
            name = _file_name(model_id, model_class, inv)
            by_text[text] = name
            written[name] = text
            files[name] = {"architecture": inv.architecture,
                           "transformers": inv.versions.get("transformers")}
        entry = entries.setdefault(sha, {"model": model_id, "classes": {}})
        entry["classes"][model_class or ""] = name
        print(f"{label(model_id, model_class)}: {name} ({len(text):,} bytes)"
              + (f" CHANGED: {'; '.join(changes)}" if changes and old is not None else ""), file=out)
    index = {
        "about": ABOUT,
        "schema_version": SCHEMA_VERSION,
        "files": dict(sorted(files.items())),
        "entries": dict(sorted(entries.items(), key=lambda kv: (kv[1]["model"], kv[0]))),
    }
    index_text = index_json(index)
    if check:
        if stale:
            print("stale prebuilt inventories (regenerate with `python -m lora_lint.models.catalog_build`):",
                  file=out)
            for line in stale:
                print(f"  {line}", file=out)
            return 1
        if previous != json.loads(index_text):
            print("stale: index.json", file=out)
            return 1
        return 0
    PREBUILT.mkdir(parents=True, exist_ok=True)
    for name, text in written.items():
        target = PREBUILT / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    if not ids:  # files no entry uses any more
        for path in PREBUILT.glob("*.json"):
            if path.name != PREBUILT_INDEX.name and path.name not in files:
                path.unlink()
    PREBUILT_INDEX.write_text(index_text, encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lora_lint.models.catalog_build", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ids", nargs="*", help="catalog model ids (default: all)")
    p.add_argument("--check", action="store_true", help="compare with fresh builds, write nothing")
    p.add_argument("--force", action="store_true", help="rewrite inventories whose structure is unchanged")
    p.add_argument("--stages", action="store_true",
                   help="write each model's and alias's stage (base/instruct) into catalog.json (models/stages.py)")
    p.add_argument("--same-as", metavar="ID",
                   help="build each config.json given (as the positional arguments) and compare it with"
                        " catalog model ID: an alias is listed only where nothing differs")
    args = p.parse_args(argv)
    if args.same_as:
        return check_aliases(args.same_as, args.ids)
    if args.stages:
        return write_stages(check=args.check)
    return generate(args.ids or None, args.check, args.force)


def with_stages(manifest: dict) -> dict:
    """``catalog.json`` with ``stage``/``stage_how`` set from ``models.stages`` on every model and
    alias a rule covers (and removed where none does)."""
    from .stages import stage_of

    out = json.loads(json.dumps(manifest))

    def put(record: dict, name: str) -> None:
        found = stage_of(name)
        record.pop("stage", None)
        record.pop("stage_how", None)
        if found is not None:
            record["stage"], record["stage_how"] = found

    for model_id, record in out["models"].items():
        put(record, model_id)
        for alias, info in record.get("aliases", {}).items():
            put(info, alias)
    return out


def write_stages(check: bool = False) -> int:
    current = json.loads(catalog.MANIFEST.read_text(encoding="utf-8"))
    wanted = with_stages(current)
    if wanted == current:
        return 0
    if check:
        print("catalog.json stages are stale: run python -m lora_lint.models.catalog_build --stages")
        return 1
    catalog.MANIFEST.write_text(json.dumps(wanted, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
