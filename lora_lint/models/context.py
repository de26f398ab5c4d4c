"""The model behind a LoRA site: which model, its config, its inventory, or why not (LL902).

Which model, strongest first: ``--base-model`` (``Settings.base_model_override``), a
``# lora-lint: base-model=ID`` comment in the file, the ``base-model`` setting for the file's path
(``Settings.base_model_for``), then what the config itself names. The id is resolved offline first
(``resolve``; a model lock above the file is asked right after a local path), the inventory comes
from the model lock, this run's memo, the disk cache, the prebuilt catalog inventories, and only
then from a meta-device build (``build``: the one place torch and transformers are imported).
Each distinct (config, model class) is built at most once per process. What the lock lacks for a
site (``lockfile.issue``) is LL905's message (``lock_message``).

``context_for(..., defer=True)`` is the cheap half that worker processes run: offline resolution
and cached inventories only. A site that needs the Hub or a build comes back ``deferred``, and the
parent process resolves it with ``defer=False`` (so each model is fetched and built once per run).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..directives import COMMENT_KEY
from ..model import LoraSite, Param
from . import cache, lockfile
from .config_lookup import Resolved, Unresolved, one_line
from .resolve import env_offline, resolve
from .spec import model_class

DEFAULT_HUB_TIMEOUT = 5.0

#: Where the model id came from -> how messages name it.
ORIGINS = {
    "cli": "--base-model",
    "comment": "the `# lora-lint: base-model` comment",
    "setting": "the `base-model` setting",
    "config": "the config",
}
SOURCES = {
    "local": "local config.json",
    "hf-cache": "Hugging Face cache",
    "catalog": "bundled catalog",
    "hub": "downloaded from the Hub",
    "lock": "model lock",
}

_memo: dict[tuple, Any] = {}  # (config hash, class key, transformers version) -> Inventory | Unresolved
#: (id of the Inventory, the LoraSpec's repr) -> (the Inventory, the LoraSpec, its Analysis): sites
#: that differ only in values the analysis does not read (line numbers, comments) share one. A hit
#: is the same inventory (not another one given the same id: a model lock read again) and an equal
#: spec; the rest of what an analysis depends on (peft's facts, the replay) is fixed in a process.
#: Bounded for long-lived processes.
_analyses: dict[tuple[int, str], tuple[Any, Any, Any]] = {}
MAX_ANALYSES = 4096


class Need(enum.Enum):
    """What a deferred site's model still needs: only the parent process does these, once each."""

    HUB = "hub"  # a lookup on the Hugging Face Hub
    BUILD = "build"  # a meta-device build (torch and transformers)


@dataclass
class ModelContext:
    """Everything known about the model of one site (the report shows most of it)."""

    name: str | None = None
    origin: str | None = None  # cli / comment / setting / config
    param: Param | None = None
    resolved: Resolved | None = None
    problem: Unresolved | None = None
    inventory: Any = None
    analysis: Any = None
    #: What ``context_for(..., defer=True)`` stopped short of (the Hub or a build).
    deferred: Need | None = None
    #: The model lock covering the site's file (``lockfile.Lock``), and what it lacks for this site
    #: (``lockfile.Issue``: LL905).
    lock: Any = None
    lock_issue: Any = None

    @property
    def lockable(self) -> bool:
        """No model here, for a reason a lock made where the model resolves would avoid."""
        from .lockfile import lockable

        return lockable(self.problem)

    @property
    def resolved_from(self) -> str | None:
        if self.resolved is None:
            return None
        return self.resolved.source

    def describe(self) -> str:
        """``Qwen/Qwen2.5-0.5B (bundled catalog; named by the config)``."""
        if self.resolved is None:
            return self.name or "-"
        return f"{self.name} ({SOURCES[self.resolved.source]}; from {ORIGINS[self.origin]})"


def choose(site: LoraSite, settings) -> tuple[str | None, str | None, Param | None]:
    """(model id or path, origin, the Param it was written in) for ``site``."""
    override = getattr(settings, "base_model_override", None)
    if override:
        return override, "cli", None
    bm = site.base_model
    if bm is not None and bm.key == COMMENT_KEY:
        return bm.value, "comment", bm
    for_path = getattr(settings, "base_model_for", None)
    setting = for_path(site.path) if callable(for_path) else getattr(settings, "base_model", None)
    if setting:
        return setting, "setting", None
    if bm is not None:
        return bm.value, "config", bm
    return None, None, None


def is_online(settings) -> bool:
    return not (getattr(settings, "offline", False) or env_offline())


def context_for(site: LoraSite, settings, defer: bool = False,
                where: Callable[[int], str] | None = None) -> ModelContext:
    """The model context of ``site``. With ``defer``, nothing slow is done: a model that only the
    Hub or a meta build can give leaves ``deferred`` set (and no problem, no inventory).
    ``where(line)`` names a line of the site's file in a message (``SourceFile.where``: a
    notebook's lines are in cells)."""
    name, origin, param = choose(site, settings)
    ctx = ModelContext(name if isinstance(name, str) else None, origin, param)
    if origin is None:
        ctx.problem = Unresolved(None, "not-named", "no base model is named for this LoRA config")
        return ctx
    if not isinstance(name, str):
        line = param.span.line if param is not None else None
        at = "" if line is None else f" ({where(line) if where is not None else f'line {line}'})"
        ctx.problem = Unresolved(None, "not-static", f"the base model{at} is computed at run time or its name"
                                 " is bound to different values, so lora-lint cannot read it")
        return ctx
    base_dir = os.path.dirname(os.path.abspath(site.path)) if origin in ("comment", "config") else None
    timeout = float(getattr(settings, "hub_timeout", DEFAULT_HUB_TIMEOUT) or DEFAULT_HUB_TIMEOUT)
    rev = site.ctx("base_model_revision") if origin == "config" else None
    revision = rev.value if rev is not None and isinstance(rev.value, str) else None
    online = is_online(settings)
    ctx.lock = lock = lockfile.find(site.path)
    found = resolve(name, base_dir, online=online and not defer, timeout=timeout, revision=revision,
                    lock=lock)
    if isinstance(found, Unresolved):
        if defer and online and found.reason == "not-found":
            ctx.deferred = Need.HUB  # the Hub is the only place left: the parent asks it, once
        else:
            ctx.problem = found
            ctx.lock_issue = lockfile.issue(lock, name, base_dir, revision, found, None)
        return ctx
    ctx.resolved = found
    cls = model_class(site)
    inv = inventory_for(found, cls, build=not defer, lock=lock)
    if inv is None:
        ctx.deferred = Need.BUILD  # not cached: the parent builds it, once
        return ctx
    ctx.lock_issue = lockfile.issue(lock, name, base_dir, revision, found, class_key(cls, found.config))
    if isinstance(inv, Unresolved):
        ctx.problem = inv
        if lock is not None and ctx.lock_issue is None and ctx.lockable:
            ctx.lock_issue = lockfile.Issue("stale", lock)  # locked, but its files cannot be read
        return ctx
    ctx.inventory = inv
    ctx.analysis = _analyze(site, inv)
    return ctx


def class_key(model_class: str | None, config: dict) -> str | None:
    """The model class to build, or None when the config's own architecture is what it builds."""
    from .build import ModelBuildError, model_kind, normalize_model_class

    try:
        norm = normalize_model_class(model_class)
    except ModelBuildError:
        return model_class
    if norm is None:
        return None
    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    if arch is None:
        return norm
    if norm == arch:
        return None
    if norm.startswith("AutoModelFor") and model_kind(arch) == norm.removeprefix("AutoModelFor"):
        return None
    return norm


def inventory_for(found: Resolved, model_class: str | None, build: bool = True, lock=None):
    """The Inventory of the resolved config, or an Unresolved saying why there is none; None when
    ``build`` is False and only a meta build could give it. A model lock (``lockfile.Lock``), when
    given, is asked first: what it holds is used as it is, in every environment."""
    key_class = class_key(model_class, found.config)
    if lock is not None:
        locked = lock.inventory(found.name, found.config_hash, key_class)
        if locked is not None:
            return locked
    tf = cache.versions()["transformers"]
    memo_key = (found.config_hash, key_class, tf)
    if memo_key in _memo:
        return _memo[memo_key]
    key = cache.cache_key(found.config_hash, key_class, tf)
    result = _load(found, key, key_class, tf)
    if result is None:
        if not build:
            return None
        result = _build(found, key, key_class, tf)
    _memo[memo_key] = result
    return result


def _load(found: Resolved, key: str, key_class: str | None, tf: str | None):
    """The inventory from the user cache or the prebuilt catalog inventories, else None."""
    from .inventory import Inventory

    for text in (cache.load(key), cache.prebuilt(found.config_hash, key_class, tf)):
        if text is None:
            continue
        try:
            return Inventory.from_json(text)
        except Exception:  # corrupt or from another schema: rebuild
            continue
    return None


def _build(found: Resolved, key: str, key_class: str | None, tf: str | None):
    if tf is None:
        return Unresolved(found.name, "no-transformers", "building its module inventory needs"
                          " transformers and torch, which are not installed",
                          "install them (`pip install 'lora-lint[model]'`)")
    try:
        from .build import (
            ModelBuildError,
            ModelTooLarge,
            NeedsNetwork,
            RemoteCodeRequired,
            build_inventory,
            describe,
        )
    except ImportError as e:  # pragma: no cover - our own module
        return Unresolved(found.name, "build-failed", f"cannot load the model builder: {e}")
    try:
        inv = build_inventory(found.config, key_class)
    except RemoteCodeRequired as e:
        return Unresolved(found.name, "remote-code", str(e),
                          "name a model of the same architecture that transformers supports natively")
    except NeedsNetwork as e:
        return Unresolved(found.name, "needs-network", str(e),
                          "name a model of the same architecture whose config.json is complete"
                          " (a backbone given by its backbone_config, not by a Hub id)")
    except ModelTooLarge as e:
        return Unresolved(found.name, "too-large", str(e),
                          "check the config's layer counts, or name the real model it stands for")
    except ModelBuildError as e:
        return Unresolved(found.name, "build-failed", f"cannot build it on the meta device: {e}")
    except ImportError as e:
        return Unresolved(found.name, "no-transformers", f"building its module inventory needs"
                          f" transformers and torch ({describe(e)})", "install them (`pip install 'lora-lint[model]'`)")
    except Exception as e:  # a transformers bug on an odd config must not take the run down
        return Unresolved(found.name, "build-failed", f"cannot build it on the meta device: {describe(e)}")
    cache.store(key, inv.to_json(), {"model": found.model_id or found.name, "model_class": key_class,
                                     "transformers": tf})
    return inv


def _analyze(site: LoraSite, inv):
    try:
        from .analysis import analyze_spec
        from .spec import LoraSpec
    except ImportError:
        return None
    spec = LoraSpec.from_site(site)
    key = (id(inv), repr(spec))
    hit = _analyses.get(key)
    if hit is not None and hit[0] is inv and hit[1] == spec:
        return hit[2]
    if len(_analyses) >= MAX_ANALYSES:
        _analyses.clear()
    result = analyze_spec(inv, spec)
    _analyses[key] = (inv, spec, result)
    return result


# -- LL905 -------------------------------------------------------------------------------------

LOCK_FIX = ("Fix: run `lora-lint lock` where the model resolves (with the `[model]` extra) and commit"
            " .lora-lint/models/")


def lock_message(ctx: ModelContext) -> str | None:
    """The LL905 message for ``ctx``, or None when the lock has nothing to say: a model that
    could not be had here for a reason a lock avoids, or a lock that lacks the site's model."""
    issue = ctx.lock_issue
    who = f"base model {ctx.name!r}" + (f" (from {ORIGINS[ctx.origin]})" if ctx.origin else "")
    if ctx.problem is not None and ctx.lockable:
        if issue is None:
            issue = lockfile.Issue("missing", ctx.lock) if ctx.lock is not None else lockfile.Issue("none", None)
        return one_line(f"model-aware rules skipped: {who}: {ctx.problem.why.rstrip('.')}; and"
                        f" {issue.describe(ctx.name or '?')}. {LOCK_FIX}", MAX_MESSAGE)
    if issue is None:
        return None
    return one_line(f"{issue.describe(ctx.name or '?')[:1].upper()}{issue.describe(ctx.name or '?')[1:]}:"
                    " where the lock is all there is (a pre-commit hook without torch, an offline run),"
                    f" this config's model-aware rules are skipped. {LOCK_FIX}", MAX_MESSAGE)


# -- LL902 -------------------------------------------------------------------------------------

NAME_IT = "name it with `# lora-lint: base-model=ID`, the `base-model` setting or `--base-model`"


def unresolved_message(ctx: ModelContext) -> str:
    """The LL902 message: one line (a path or an exception text with line breaks in it would break
    every one-line format and editor matcher), bounded."""
    return one_line(_unresolved_message(ctx), MAX_MESSAGE)


#: LL902 messages are cut to this many characters (the longest real ones are about 450).
MAX_MESSAGE = 1200


def _unresolved_message(ctx: ModelContext) -> str:
    p = ctx.problem
    assert p is not None
    if p.reason in ("not-named", "not-static"):
        return f"model-aware rules skipped: {p.why}; {NAME_IT}"
    who = f"base model {ctx.name!r}" + (f" (from {ORIGINS[ctx.origin]})" if ctx.origin else "")
    if p.reason == "not-found":
        fix = (p.fix or "download its config once (`hf download ID config.json`), point the"
               " `base-model` setting at a local directory with its config.json")
        fix += ", or use `--base-model` with a catalog model of the same architecture"
        if "online lookups are off" in p.why:
            fix += "; or allow online lookups (drop `--offline` / `HF_HUB_OFFLINE=1`)"
        return f"model-aware rules skipped: {who} not found offline: {p.why}. Fix: {fix}"
    if p.reason in ("gated", "hub-timeout", "hub-error", "hub-too-large"):
        fix = p.fix or "retry online, or make it available offline (a local directory, the Hugging Face cache)"
        return f"model-aware rules skipped: {who} could not be fetched: {p.why}. Fix: {fix}"
    if p.reason == "remote-code":
        return (f"model-aware rules skipped: {who} needs remote code: {p.why}. Fix: {p.fix}"
                " (`base-model` setting or `--base-model`)")
    if p.reason == "needs-network":
        return (f"model-aware rules skipped: {who} cannot be built without the network: {p.why}."
                f" Fix: {p.fix} (`base-model` setting or `--base-model`)")
    if p.reason == "too-large":
        return (f"model-aware rules skipped: {who} is too large to build: {p.why}. Fix: {p.fix}"
                " (`base-model` setting or `--base-model`)")
    fix = p.fix or f"point it at a model transformers can build, or {NAME_IT}"
    return f"model-aware rules skipped: {who}: {p.why}. Fix: {fix}"
