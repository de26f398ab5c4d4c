"""``lora-lint lock``: pin the base model of every LoRA config in the repository.

Walks the repository as ``check`` does, resolves the base model each config names (a local
directory, the Hugging Face cache, the bundled catalog, the Hub when online use is allowed; a
reference already in the lock keeps its locked config unless ``--upgrade``), builds each needed
(config, class) inventory on the meta device once, and writes ``.lora-lint/models/``
(``models.lockfile`` describes the files and how every run uses them).

The lock is reproducible: what is written depends only on the configs and the models they name,
never on the time or the machine (no absolute paths but those the configs write), and an
inventory whose structure a new build does not change keeps its bytes (and the release it was
built with). ``--check`` writes nothing: it exits 1, with an LL905 finding at each config whose
entry is missing or stale, when ``lora-lint lock`` would change the lock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import Finding, Span
from .models import lockfile
from .models.config_lookup import Unresolved
from .models.resolve import is_repo_id, read_config
from .settings import Settings


@dataclass
class Use:
    """One site's use of a reference: where it is, and the class key it builds."""

    path: str
    span: Span
    model_class: str


@dataclass
class Config:
    """A config the lock holds: its refs, whether its config.json is stored, what was built."""

    config: dict
    store: bool = False
    keys: set[str] = field(default_factory=set)
    inventories: dict[str, Any] = field(default_factory=dict)  # class key -> Inventory
    failures: dict[str, Unresolved] = field(default_factory=dict)
    kept: set[str] = field(default_factory=set)  # class keys whose inventory could not be rebuilt here


@dataclass
class Plan:
    """What ``lora-lint lock`` would write, and what it could not lock."""

    root: str
    models: dict[str, dict] = field(default_factory=dict)
    configs: dict[str, Config] = field(default_factory=dict)
    uses: dict[str, list[Use]] = field(default_factory=dict)  # key -> sites
    errors: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_root(start: str | None = None) -> str:
    """The directory the lock belongs to: the nearest one holding a lock, else the repository
    root (``.git``), else ``start`` (the working directory)."""
    start = os.path.abspath(start or os.getcwd())
    d = start
    while True:
        if lockfile.index_path(d).is_file():
            return d
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return start
        d = parent


def _key(name: str, base_dir: str | None, revision: str | None, root: str) -> str:
    """The one key ``name`` is locked under: its local path when it exists here, else its Hub id,
    else the path it names (relative to the file)."""
    keys = lockfile.reference_keys(name, base_dir, revision, root)
    here = lockfile.local_exists(name, base_dir)
    if here is not None:
        expanded = os.path.expanduser(name.strip())
        if os.path.isabs(expanded):
            return keys[0]
        return lockfile._posix(os.path.relpath(os.path.normpath(here), root))
    if is_repo_id(name.strip()):
        return keys[-1]
    return keys[0]


def _inside(path: str, root: str) -> bool:
    rel = os.path.relpath(os.path.abspath(path), root)
    return not (rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel))


def _adapter_base(name: str, base_dir: str | None) -> str | None:
    """The base model an adapter directory names (``adapter_config.json`` without ``config.json``)."""
    here = lockfile.local_exists(name, base_dir)
    if here is None or not os.path.isdir(here) or os.path.exists(os.path.join(here, "config.json")):
        return None
    data = read_config(Path(here) / "adapter_config.json")
    base = data.get("base_model_name_or_path") if isinstance(data, dict) else None
    return base if isinstance(base, str) and base.strip() else None


def plan(paths: Iterable[str], settings_for: Callable[[str], Settings], root: str,
         old: lockfile.Lock | None, upgrade: bool = False) -> Plan:
    """Resolve and build what every config under ``paths`` names (see the module)."""
    from .models.context import choose
    from .models.spec import model_class
    from .report import each_site

    result = Plan(root)
    index = lockfile.index_path(root)
    pinned = None if upgrade else old
    for item in each_site(paths, settings_for):
        if isinstance(item, str):
            result.notes.append(item)
            continue
        site, settings = item
        if not site.active:
            continue
        other = lockfile._find_index(os.path.dirname(os.path.abspath(site.path)))
        if other is not None and other != index:
            continue  # another lock, nearer to the file, covers it
        name, origin, _ = choose(site, settings)
        if origin is None or not isinstance(name, str) or not name.strip():
            continue  # nothing named statically: LL902 everywhere, nothing to lock
        base_dir = os.path.dirname(os.path.abspath(site.path)) if origin in ("comment", "config") else None
        rev = site.ctx("base_model_revision") if origin == "config" else None
        revision = rev.value if rev is not None and isinstance(rev.value, str) else None
        refs = [name]
        base = _adapter_base(name, base_dir)
        if base is not None:  # the adapter's base model is looked up by its own name
            refs.append(base)
        for ref in refs:
            _lock_one(result, site, settings, ref, base_dir, revision if ref == name else None,
                      model_class(site) if ref == name else None, pinned)
    return result


def _lock_one(result: Plan, site, settings: Settings, name: str, base_dir: str | None,
              revision: str | None, cls: str | None, pinned: lockfile.Lock | None) -> None:
    """Resolve, build and record one reference ``name`` a site makes (``cls``: its loading class)."""
    from .models.cache import prebuilt_file
    from .models.context import DEFAULT_HUB_TIMEOUT, class_key, inventory_for, is_online
    from .models.resolve import resolve
    from .rules import finding

    key = _key(name, base_dir, revision, result.root)
    timeout = float(getattr(settings, "hub_timeout", DEFAULT_HUB_TIMEOUT) or DEFAULT_HUB_TIMEOUT)
    found = resolve(name, base_dir, online=is_online(settings), timeout=timeout, revision=revision,
                    lock=pinned)
    if isinstance(found, Unresolved):
        if lockfile.lockable(found):
            result.errors.append(finding("LL905", f"cannot lock {name!r}: {found.why}"
                                         + (f". Fix: {found.fix}" if found.fix else ""), site.path, site.span))
            return
        record = {"unresolved": found.reason}
        if found.reason not in lockfile.LOCAL:
            record.update(why=found.why, fix=found.fix)
        result.models[key] = record
        result.uses.setdefault(key, []).append(Use(site.path, site.span, ""))
        return
    source = found.source
    if source == "lock":  # pinned: the record it came from says where it came from first
        hit = pinned.entry(name, base_dir, revision) if pinned is not None else None
        source = hit[1].get("source", "hub") if hit is not None else "hub"
    record: dict = {"source": source, "config": found.config_hash}
    if source == "catalog" and found.model_id:
        record["catalog"] = found.model_id
    result.models[key] = record
    entry = result.configs.setdefault(found.config_hash, Config(found.config))
    entry.keys.add(key)
    local_inside = source == "local" and _inside(found.detail, result.root)
    if source not in ("catalog",) and not local_inside:
        entry.store = True
    key_class = class_key(cls, found.config) or ""
    result.uses.setdefault(key, []).append(Use(site.path, site.span, key_class))
    if key_class in entry.inventories or key_class in entry.failures or key_class in entry.kept:
        return
    if prebuilt_file(found.config_hash, key_class or None) is not None:
        return  # the bundled catalog ships it: nothing to lock
    inv = inventory_for(found, cls, build=True)
    if isinstance(inv, Unresolved):
        if lockfile.lockable(inv):
            kept = pinned.inventory(name, found.config_hash, key_class or None) if pinned is not None else None
            if kept is not None and not isinstance(kept, Unresolved):
                entry.inventories[key_class] = kept
                entry.kept.add(key_class)
                note = (f"{name}: kept the locked inventory"
                        f"{' of ' + key_class if key_class else ''}, not rebuilt: {inv.why}")
                if note not in result.notes:
                    result.notes.append(note)
                return
            result.errors.append(finding("LL905", f"cannot lock {name!r}: {inv.why}"
                                         + (f". Fix: {inv.fix}" if inv.fix else ""), site.path, site.span))
            return
        entry.failures[key_class] = inv
        return
    entry.inventories[key_class] = inv


# -- the files ---------------------------------------------------------------------------------------

def render(result: Plan, old: lockfile.Lock | None) -> dict[str, str]:
    """The lock's files (path relative to ``.lora-lint/models/`` -> text): the index last.
    An inventory the old lock holds with the same structure keeps its old text."""
    from .models.catalog_build import index_json
    from .models.inventory import SCHEMA_VERSION, differences

    files: dict[str, str] = {}
    dirs: dict[str, str] = {}
    used: set[str] = set()
    for sha in sorted(result.configs, key=lambda s: (sorted(result.configs[s].keys)[0], s)):
        name = lockfile.slug(sorted(result.configs[sha].keys)[0])
        if name in used or name == lockfile.INDEX:
            name = f"{name}-{sha[:8]}"
        used.add(name)
        dirs[sha] = name
    configs: dict[str, dict] = {}
    for sha in sorted(result.configs):
        entry = result.configs[sha]
        if not entry.inventories and not entry.failures and not entry.store:
            continue  # a catalog config whose classes the catalog ships
        d = dirs[sha]
        record: dict[str, Any] = {"dir": d, "config": entry.store}
        archs = entry.config.get("architectures")
        if isinstance(archs, list) and archs and isinstance(archs[0], str):
            record["architecture"] = archs[0]
        if entry.store:
            files[f"{d}/config.json"] = json.dumps(entry.config, indent=2, ensure_ascii=False) + "\n"
        inventories = {}
        for cls in sorted(entry.inventories):
            fresh = entry.inventories[cls]
            previous = old.inventory("", sha, cls or None) if old is not None else None
            inv = fresh
            if (previous is not None and not isinstance(previous, Unresolved)
                    and previous is not fresh and not differences(previous, fresh)):
                inv = previous  # the same structure: its bytes and the release it names stay
            file = lockfile.class_file(cls)
            files[f"{d}/{file}"] = inv.to_json()
            inventories[cls] = {"file": file, "architecture": inv.architecture, **{
                k: inv.versions[k] for k in ("transformers", "peft") if inv.versions.get(k)}}
        if inventories:
            record["inventories"] = inventories
        if entry.failures:
            record["failures"] = {cls: {"reason": f.reason, "why": f.why, "fix": f.fix}
                                  for cls, f in sorted(entry.failures.items())}
        configs[sha] = record
    index = {
        "about": lockfile.ABOUT,
        "version": lockfile.VERSION,
        "schema_version": SCHEMA_VERSION,
        "models": dict(sorted(result.models.items())),
        "configs": configs,
    }
    files[lockfile.INDEX] = index_json(index)
    return files


def on_disk(directory: Path) -> dict[str, str]:
    """The lock's files as they are (what ``render`` would write, under those names)."""
    out: dict[str, str] = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.rglob("*.json")):
        rel = path.relative_to(directory).as_posix()
        if rel == lockfile.INDEX or (rel.count("/") == 1 and (
                path.name == "config.json" or path.name.startswith("inventory"))):
            try:
                out[rel] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                out[rel] = ""
    return out


def write(directory: Path, files: dict[str, str]) -> list[str]:
    """Write the lock's files (each atomically, the index last) and remove the files of entries
    it no longer has; the names of the files changed."""
    from .fixes.write import write_atomic

    current = on_disk(directory)
    changed = []
    for rel in sorted(files, key=lambda r: (r == lockfile.INDEX, r)):
        if current.get(rel) == files[rel]:
            continue
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(str(path), files[rel].encode("utf-8"))
        changed.append(rel)
    for rel in sorted(set(current) - set(files)):
        try:
            (directory / rel).unlink()
            changed.append(rel)
        except OSError:
            pass
        try:
            (directory / rel).parent.rmdir()  # only when empty
        except OSError:
            pass
    lockfile.forget()  # this process reads the lock as now written
    return changed


# -- --check -------------------------------------------------------------------------------------------

def explain(result: Plan, old: lockfile.Lock | None, files: dict[str, str]) -> tuple[list[Finding], list[str]]:
    """LL905 findings at the configs whose entry is missing or stale, and lines about the rest
    of what ``lora-lint lock`` would change."""
    from .models.inventory import differences
    from .rules import finding

    found: list[Finding] = []
    lines: list[str] = []
    where = old.shown() if old is not None else f"{lockfile.DIR}/{lockfile.INDEX}"

    def at(key: str, message: str, model_class: str | None = None) -> None:
        for use in result.uses.get(key, []):
            if model_class is None or use.model_class == model_class:
                found.append(finding("LL905", message, use.path, use.span))

    old_models = old.models if old is not None else {}
    for key, record in sorted(result.models.items()):
        before = old_models.get(key)
        if before is None:
            at(key, f"base model {key!r} is not in the model lock ({where}). Fix: run `lora-lint lock`"
               " and commit .lora-lint/models/")
            continue
        if before != record:
            what = ("its config.json changed since it was locked" if before.get("config") and record.get("config")
                    else "it resolves differently than when it was locked")
            at(key, f"the model lock's entry for {key!r} ({where}) is stale: {what}. Fix: run"
               " `lora-lint lock` and commit .lora-lint/models/")
            continue
        sha = record.get("config")
        entry = result.configs.get(sha) if isinstance(sha, str) else None
        if entry is None:
            continue
        for cls, inv in sorted(entry.inventories.items()):
            locked = old.inventory(key, sha, cls or None) if old is not None else None
            label = f" ({cls})" if cls else ""
            if locked is None or isinstance(locked, Unresolved):
                at(key, f"the model lock ({where}) has no inventory of {key!r}{label}. Fix: run"
                   " `lora-lint lock` and commit .lora-lint/models/", cls)
            elif cls not in entry.kept and (changes := differences(locked, inv)):
                tf = inv.versions.get("transformers", "?")
                at(key, f"the model lock's inventory of {key!r}{label} is stale: transformers {tf}"
                   f" builds it differently ({'; '.join(changes)}). Fix: run `lora-lint lock` and"
                   " commit .lora-lint/models/", cls)
        for cls, failure in sorted(entry.failures.items()):
            locked = old.inventory(key, sha, cls or None) if old is not None else None
            if not isinstance(locked, Unresolved) or locked.reason != failure.reason:
                at(key, f"the model lock's entry for {key!r} ({where}) is stale: building it now"
                   f" fails ({failure.why}). Fix: run `lora-lint lock` and commit .lora-lint/models/", cls)
    for key in sorted(set(old_models) - set(result.models)):
        lines.append(f"{where}: {key!r} is locked but no config names it any more")
    if not found and not lines and old is not None:
        current = on_disk(old.directory)
        for rel in sorted(set(current) | set(files)):
            if current.get(rel) != files.get(rel):
                lines.append(f"{lockfile.DIR}/{rel}: differs from what `lora-lint lock` writes")
    return found, lines


EXIT_OK, EXIT_FINDINGS = 0, 1


def run(args, resolver, write_report: Callable) -> int:
    """``lora-lint lock [--check] [--upgrade] [PATH...]``: the exit code. ``write_report`` is the
    command line's (``cli.write_report``): ``--check``'s findings are printed as ``check`` prints."""
    import sys

    from .reporters import RunInfo

    root = find_root()
    index = lockfile.index_path(root)
    old = lockfile.load(index) if index.is_file() else None
    paths = args.paths or [os.path.relpath(root)]
    result = plan(paths, resolver.settings_for, root, old, upgrade=args.upgrade)
    files = render(result, old)
    shown = lockfile._posix(os.path.relpath(index)) if _inside(str(index), os.getcwd()) else str(index)
    locked = sum(1 for r in result.models.values() if "config" in r)
    for note in result.notes:
        print(f"lora-lint: {note}", file=sys.stderr)
    if args.check:
        if on_disk(index.parent) == files and not result.errors:
            if not args.quiet:
                print(f"The model lock is up to date: {_count(locked, 'model')} in {shown}")
            return EXIT_OK
        findings, lines = explain(result, old, files)
        findings = sorted(findings + result.errors, key=lambda f: f.sort_key)
        info = RunInfo(summary=not args.quiet)
        code = write_report(args, findings, info, sys.stdout)
        for line in lines:
            print(line)
        if not args.quiet and (findings or lines):
            print(f"The model lock is out of date: run `lora-lint lock` ({shown}).")
        return max(code, EXIT_FINDINGS if (lines or findings) else EXIT_OK)
    changed = write(index.parent, files)
    for f in result.errors:
        print(f"{f.path}:{f.span.line}:{f.span.col}: {f.message}", file=sys.stderr)
    if not args.quiet:
        written = sum(1 for rel in changed if rel.rpartition("/")[2].startswith("inventory")
                      and rel in files)
        what = f" ({_count(written, 'inventory', 'inventories')} written)" if written else ""
        failed = f"; {len(result.errors)} could not be locked" if result.errors else ""
        if changed:
            print(f"Locked {_count(locked, 'model')} in {shown}{what}{failed}")
        else:
            print(f"The model lock is up to date: {_count(locked, 'model')} in {shown}{failed}")
    return EXIT_FINDINGS if result.errors else EXIT_OK


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"
