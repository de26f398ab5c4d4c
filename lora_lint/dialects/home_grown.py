"""Home-grown configs: LoRA settings in a project's own YAML/JSON, read by the project's own code.

A document no framework's evidence claims (``dialects.ORDER``) is searched for LoRA blocks at any
nesting. A mapping is a LoRA block when its keys prove it:

* ``lora_r`` or ``lora_rank`` (the name says LoRA), or
* ``lora_alpha`` with ``r`` or ``target_modules`` (a ``LoraConfig`` dump, flat or nested), or
* ``r``/``rank`` with an alpha, a dropout or the target modules, in a mapping whose own key names
  LoRA or peft (``lora:``, ``peft_config:``, ``lora_params:``, ``adapter:``...) or that holds a
  LoRA switch (``use_lora``, ``do_lora``...): a CI matrix with an ``r:`` is not one;

and no kind key (``type``, ``method``, ``peft_type``, ``lora_type``...) names another method
(AdaLoRA, IA3). A switch set to false makes the site inactive (its settings do not take effect).

It is read in peft's own vocabulary (``KEYMAP``): every ``LoraConfig`` field under its own name,
and the other spellings the real home-grown configs use (``rank``, ``lora_r``, ``lora_rank`` ->
``r``; ``alpha`` -> ``lora_alpha``; ``dropout`` -> ``lora_dropout``; ``lora_target_modules`` ->
``target_modules``). The project's code, which lora-lint does not read, stands between the file
and peft (``Dialect.own_code``): no framework defaults, no "unknown key" findings, no renames, no
claim about what a framework would ignore, and no advice; a field left out that such code
commonly sets itself (``DECIDED``: the targets, the task type...) is unknown, any other gets
peft's default. A comma-joined target string may be split by that code, so it is unknown too. A
block in peft's own layout (``peft_type: LORA``, as ``LoraConfig.to_dict()`` writes it) is handed
to peft whole (``get_peft_config(block)``, ``LoraConfig(**block)``): there a null is None and a
field left out is peft's default.

Shapes unwrapped on the way (``_children``):

* W&B config dumps (``wandb_version``/``_wandb``, every value under ``value:``): the values.
* W&B sweep configs (``parameters:`` beside ``method``/``program``/``metric``): a
  ``value:`` is that value, a grid (``values: [8, 16]``) or a distribution is unknown.
* LightningCLI ``class_path`` + ``init_args``: the ``init_args``.
* ``extends: parent.yaml`` (forgeML and other loaders): the parent, when it is in the repository,
  is deep-merged under the file (the child's keys win, nested mappings merge: forgeML's
  ``_deep_merge``, OmegaConf's merge); what the parent gives is implicit (it points at the site).
  When the parent cannot be read, every field the file leaves out is unknown. Hydra's
  ``defaults:`` list composes files by rules of its own: fields left out are unknown.

The base model comes from the usual keys (``MODEL_KEYS``, or ``model:`` as a string or a mapping
with ``MODEL_SUBKEYS``), looked for in the block, then in each mapping that holds it, nearest
first; a key that may name something else (``model_name``, ``ckpt``) counts only when its value is
written like a Hub id (``org/name``) or a path.

``blocks(doc)`` gives each block with the key path of every setting (``lora.r``): what the Python
reader of the file needs to connect ``cfg["lora"]["r"]`` to the YAML line.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from yaml.nodes import Node, ScalarNode

from ..model import UNKNOWN, LoraSite, Param, Span
from ..peft_facts import lora_fields
from ..source_file import SourceFile, repository_root
from ..sources.yaml_nodes import Doc, Entry, Map, span, to_value
from ._base import (
    LORA_FIELDS,
    SiteBuilder,
    check_duplicates,
    coerce_numbers,
    framework,
    implicit,
    param,
)

NAME = "home-grown"
#: Spellings of LoraConfig fields met in real home-grown configs (besides the fields' own names).
SPELLINGS = {
    "rank": "r", "lora_r": "r", "lora_rank": "r",
    "alpha": "lora_alpha",
    "dropout": "lora_dropout",
    "lora_target_modules": "target_modules",
}
#: Describe the file, not the adapter: never a setting (``base_model_name_or_path`` names the model).
NOT_SETTINGS = frozenset({"peft_type", "peft_version", "revision", "auto_mapping", "base_model_name_or_path"})
KEYMAP = {**{f: f for f in sorted(LORA_FIELDS - NOT_SETTINGS)}, **SPELLINGS}
#: Fields a project's own code commonly passes itself (``LoraConfig(r=..., target_modules=[...],
#: task_type="CAUSAL_LM")``): left out of the block, their value is unknown. Any other field left
#: out gets peft's default.
DECIDED = frozenset({"r", "lora_alpha", "lora_dropout", "target_modules", "task_type", "bias", "modules_to_save",
                     "init_lora_weights", "use_rslora", "use_dora"})
DIALECT = framework(NAME, KEYMAP, what="a setting of this home-grown LoRA block", decided=DECIDED,
                    own_code=True, passer="the project's own code")

RANKS = ("r", "rank", "lora_r", "lora_rank")
NAMED_RANKS = ("lora_r", "lora_rank")
COMPANIONS = ("lora_alpha", "alpha", "lora_dropout", "dropout", "target_modules", "lora_target_modules")
#: Keys that switch a project's LoRA on or off.
SWITCHES = ("use_lora", "do_lora", "enable_lora", "lora_enabled", "apply_lora", "train_with_lora", "with_lora")
#: Keys that say which method a block configures; a block whose kind is not LoRA is not one.
KINDS = ("peft_type", "type", "method", "adapter_type", "tuner", "tuner_type", "lora_type", "peft_method")
LORA_KINDS = frozenset({"lora", "qlora"})
#: Names of the mapping itself that say it configures LoRA/peft.
BLOCK_NAMES = re.compile(r"lora|peft|^adapters?(_config|_args|_kwargs|_params)?$", re.I)
#: Field values that are mappings in LoraConfig (any other field given a mapping reads as unknown).
MAPPING_FIELDS = frozenset({"rank_pattern", "alpha_pattern", "loftq_config", "eva_config", "corda_config",
                            "megatron_config", "layer_replication", "trainable_token_indices", "arrow_config",
                            "velora_config", "monteclora_config", "kasa_config", "lora_ga_config", "runtime_config"})

#: Keys that name the base model, most specific first; ``model_name`` may name the run's output
#: model instead, so its value must look like a Hub id or a path (``_looks_like_model``).
MODEL_KEYS = ("base_model_name_or_path", "base_model", "model_name_or_path", "pretrained_model_name_or_path",
              "model_id", "model_name")
#: Keys of a ``model:`` mapping that name the model.
MODEL_SUBKEYS = ("name_or_path", "model_name_or_path", "pretrained_model_name_or_path", "name", "model_id",
                 "id", "path", "base", "base_model", "model_name", "hf_model_ckpt", "checkpoint", "ckpt")
LOOSE_MODEL_KEYS = frozenset({"model_name", "hf_model_ckpt", "checkpoint", "ckpt", "path", "id", "base"})
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
#: A W&B sweep's ``method``; a sweep's parameter spec keys.
SWEEP_METHODS = frozenset({"grid", "random", "bayes"})
SWEEP_SPEC = frozenset({"value", "values", "distribution", "min", "max", "mu", "sigma", "q", "probabilities",
                        "parameters"})
#: How far ``extends:`` is followed, and the largest parent file read.
MAX_EXTENDS = 5
MAX_PARENT_BYTES = 1 << 20


@dataclass
class Node_:
    """A mapping as the project's code sees it: ``map`` after unwrapping (W&B ``value:``,
    LightningCLI ``init_args``, a sweep's parameter specs), its key path in the file, the keys
    whose values are unknown (a sweep's grid), and the mappings that hold it."""

    map: Map
    path: tuple[str, ...]
    key_node: Node | None = None
    unknown: frozenset[str] = frozenset()
    parents: tuple[Node_, ...] = ()
    #: A sweep's parameters, and its nested groups (``parameters: {lora: {parameters: {...}}}``).
    sweep: bool = False
    groups: tuple[Node_, ...] = ()

    @property
    def name(self) -> str | None:
        return self.path[-1] if self.path else None


class Block(NamedTuple):
    """One home-grown LoRA block: its site, and for each LoraConfig field it sets, the key path
    of the setting in the file (``("lora", "r")``; what the Python that reads the file indexes)."""

    site: LoraSite
    path: tuple[str, ...]
    keys: dict[str, tuple[str, ...]]

    @property
    def params(self) -> dict[str, Param]:
        """LoraConfig field -> the Param as written (its value, its span, the key as spelled)."""
        return {f: p for f, p in self.site.params.items() if not p.implicit}


# --- finding the blocks ------------------------------------------------------------------------

def detect(doc: Doc) -> bool:
    return bool(_blocks(doc))


def sites(doc: Doc) -> list[LoraSite]:
    return [b.site for b in blocks(doc)]


def blocks(doc: Doc) -> list[Block]:
    """The home-grown LoRA blocks of one document, in file order."""
    found = _blocks(doc)
    if not found:
        return []
    inherited = _inherited(doc)
    return [_block(doc, n, inherited) for n in found]


def _blocks(doc: Doc) -> list[Node_]:
    if "home-grown" not in doc.memo:
        doc.memo["home-grown"] = _find(doc)
    return doc.memo["home-grown"]


def _find(doc: Doc) -> list[Node_]:
    if doc.top is None:
        return []
    out: list[Node_] = []
    stack = [_root(doc)]
    while stack:
        n = stack.pop()
        if is_lora_block(n):
            out.append(n)
        if len(n.path) < 8 and not doc.budget.exhausted:
            stack.extend(reversed(_children(doc, n)))
    return sorted(out, key=lambda n: n.map.node.start_mark.index)


def is_lora_block(n: Node_) -> bool:
    """The rules of the module's docstring."""
    m = n.map
    if any(k in m for k in NAMED_RANKS):
        proven = True
    elif "lora_alpha" in m and ("r" in m or "target_modules" in m):
        proven = True
    else:
        named = n.name is not None and BLOCK_NAMES.search(n.name) is not None
        proven = (any(k in m for k in ("r", "rank")) and any(k in m for k in COMPANIONS)
                  and (named or any(k in m for k in SWITCHES)))
    if not proven:
        return False
    for key in KINDS:
        kind = m.value(key)
        if isinstance(kind, str) and kind.strip().lower() not in LORA_KINDS:
            return False
    return True


def _root(doc: Doc) -> Node_:
    top = doc.top
    assert top is not None
    if "wandb_version" in top or "_wandb" in top or _all_wrapped(top):
        entries = {}
        for e in top:
            inner = Map.of(e.node, doc.budget)
            if inner is not None and "value" in inner:
                entries[e.key] = Entry(e.key, e.key_node, inner.get("value").node)
        return Node_(_view(top, entries), ())
    return Node_(top, ())


def _all_wrapped(m: Map) -> bool:
    """Every entry is ``{desc: ..., value: ...}``: a W&B config dump without its header."""
    entries = list(m)
    if len(entries) < 2:
        return False
    for e in entries:
        inner = Map.of(e.node, m.budget)
        if inner is None or "value" not in inner or not set(inner.keys()) <= {"value", "desc"}:
            return False
    return True


def _view(m: Map, entries: dict[str, Entry]) -> Map:
    out = Map(m.node, m.budget)
    out.entries = entries
    return out


def _children(doc: Doc, n: Node_) -> list[Node_]:
    """The mappings inside ``n``, unwrapped as the project's code sees them."""
    if n.sweep:
        return list(n.groups)  # a sweep's parameters: its specs are values, not mappings
    out = []
    sweep = _sweep_root(n.map)
    for e in n.map:
        sub = Map.of(e.node, doc.budget)
        if sub is None:
            continue
        path, parents = (*n.path, e.key), (*n.parents, n)
        if sweep and e.key == "parameters":
            out.append(_sweep(doc, sub, path, e.key_node, parents))
            continue
        init = sub.sub("init_args") if "class_path" in sub else None
        out.append(Node_(init if init is not None else sub, path, e.key_node, parents=parents))
    return out


def _sweep_root(m: Map) -> bool:
    """``m`` is a W&B sweep config: ``parameters:`` beside its method, or its program and metric."""
    if "parameters" not in m:
        return False
    method = m.value("method")
    return (isinstance(method, str) and method in SWEEP_METHODS) or ("program" in m and "metric" in m)


def _sweep(doc: Doc, params: Map, path: tuple[str, ...], key_node: Node, parents: tuple[Node_, ...]) -> Node_:
    """A sweep's ``parameters``: each one's ``value``, or unknown (a grid, a distribution); a
    nested group (``lora: {parameters: {...}}``) is a sweep of its own."""
    entries: dict[str, Entry] = {}
    unknown: set[str] = set()
    groups: list[tuple[str, Entry, Map]] = []
    for e in params:
        spec = Map.of(e.node, doc.budget)
        if spec is None or not set(spec.keys()) <= SWEEP_SPEC:
            entries[e.key] = e  # not a parameter spec: kept as written
        elif "parameters" in spec:
            inner = spec.sub("parameters")
            if inner is not None:
                groups.append((e.key, e, inner))
        elif set(spec.keys()) == {"value"}:
            entries[e.key] = Entry(e.key, e.key_node, spec.get("value").node)
        else:
            entries[e.key] = e
            unknown.add(e.key)
    node = Node_(_view(params, entries), path, key_node, frozenset(unknown), parents, sweep=True)
    node.groups = tuple(_sweep(doc, inner, (*path, key), e.key_node, (*parents, node)) for key, e, inner in groups)
    return node


# --- reading a block ---------------------------------------------------------------------------

class _Inherited(NamedTuple):
    """What ``extends:``/``defaults:`` add to the file: the parent's merged document (None when
    there is none or it cannot be read), where the file says so, and whether fields left out are
    unknown."""

    parent: Any = None
    where: Param | None = None
    unread: bool = False


def _block(doc: Doc, n: Node_, inherited: _Inherited) -> Block:
    m = n.map
    where = span(n.key_node) if n.key_node is not None else _first_key(m)
    b = SiteBuilder(doc, DIALECT, where)
    keys: dict[str, tuple[str, ...]] = {}
    layout = isinstance(m.value("peft_type"), str)  # peft's own dump: handed to peft as a whole
    for key, fieldname in KEYMAP.items():
        e = m.get(key)
        if e is None or fieldname in b.params:
            continue
        p = _param(doc, e, fieldname, key in n.unknown, layout)
        if p is None:
            continue
        b.set(fieldname, p)
        keys[fieldname] = (*n.path, key)
    coerce_numbers(b, ints=("r", "lora_alpha"), floats=("lora_dropout",))
    if layout:  # get_peft_config / LoraConfig(**block): what the dump leaves out is peft's default
        defaults = lora_fields()
        for fieldname in sorted(DECIDED):
            b.default(fieldname, fieldname, copy.deepcopy(defaults[fieldname]))
    if inherited.where is not None:
        b.ctx(inherited.where.key, inherited.where)  # extends / defaults
        if inherited.unread:
            b.open = True
        elif inherited.parent is not None:
            _from_parent(b, inherited.parent, n.path, where)
    b.base_model = _base_model(doc, n) or _parent_model(inherited)
    switch = _switch(n)
    if switch is not None:
        b.ctx("adapter", switch)
        if switch.value is False:
            b.deactivate()
    check_duplicates(b, m, KEYMAP)
    return Block(b.build(), n.path, keys)


def _param(doc: Doc, e: Entry, fieldname: str, unknown: bool, layout: bool) -> Param | None:
    if unknown:
        return Param(e.key, UNKNOWN, span(e.node))
    p = param(doc, e)
    if p.value is None and not layout:
        return None  # null: the reading code's default (or peft's) applies
    if isinstance(p.value, dict) and fieldname not in MAPPING_FIELDS:
        return Param(p.key, UNKNOWN, p.span)  # a shape of the project's own (a sweep spec...)
    if isinstance(p.value, list) and isinstance(lora_fields().get(fieldname), (bool, int, float, str)):
        return Param(p.key, UNKNOWN, p.span)  # several values for one (a grid, a CI matrix)
    if fieldname == "target_modules" and isinstance(p.value, str) and "," in p.value:
        return Param(p.key, UNKNOWN, p.span, p.items)  # the reading code may split it, or pass a regex
    return p


def _first_key(m: Map) -> Span:
    for e in m:
        if e.key in KEYMAP:
            return span(e.key_node)
    return m.span


def _switch(n: Node_) -> Param | None:
    """The LoRA switch of the block, or of the mapping that holds it (``use_lora: true``)."""
    for holder in (n, *reversed(n.parents[-1:])):
        for key in SWITCHES:
            e = holder.map.get(key)
            if e is not None and isinstance(to_value(e.node, holder.map.budget), bool):
                return param_of(holder.map, e)
    return None


def param_of(m: Map, e: Entry) -> Param:
    return Param(e.key, to_value(e.node, m.budget), span(e.node))


# --- the base model ----------------------------------------------------------------------------

def _base_model(doc: Doc, n: Node_) -> Param | None:
    """The model the block's own keys, or the mappings holding it (nearest first), name."""
    for holder in (n, *reversed(n.parents)):
        p = _model_in(doc, holder)
        if p is not None:
            return p
    return None


def _model_in(doc: Doc, n: Node_) -> Param | None:
    m = n.map
    in_model = n.name is not None and n.name.lower() in ("model", "model_args", "model_config", "base_model")
    for key in (MODEL_SUBKEYS if in_model else MODEL_KEYS):
        p = _model_param(doc, m.get(key), loose=key in LOOSE_MODEL_KEYS or key == "model_name")
        if p is not None:
            return p
    model = m.get("model")
    if model is not None:
        p = _model_param(doc, model, loose=True)
        if p is not None:
            return p
        sub = Map.of(model.node, doc.budget)
        if sub is not None:
            for key in MODEL_SUBKEYS:
                p = _model_param(doc, sub.get(key), loose=key in LOOSE_MODEL_KEYS)
                if p is not None:
                    return p
    return None


def _model_param(doc: Doc, e: Entry | None, loose: bool) -> Param | None:
    if e is None or not isinstance(e.node, ScalarNode):
        return None
    v = to_value(e.node, doc.budget)
    if not isinstance(v, str) or not v.strip() or (loose and not _looks_like_model(v)):
        return None
    return param(doc, e)


def _looks_like_model(v: str) -> bool:
    """Written like a Hub id (``org/name``) or a path to a real directory (``./models/x``), not a
    placeholder (``/path/to/...``)."""
    v = v.strip()
    if "path/to" in v or "<" in v:
        return False
    return HUB_ID.fullmatch(v) is not None or v.startswith(("./", "../", "~/"))


# --- extends / defaults ------------------------------------------------------------------------

def _inherited(doc: Doc) -> _Inherited:
    top = doc.top
    assert top is not None
    e = top.get("extends")
    if e is not None:
        where = Param("extends", to_value(e.node, doc.budget), span(e.key_node))
        parent = _read_parent(doc.path, where.value, MAX_EXTENDS)
        return _Inherited(parent, where, parent is None)
    e = top.get("defaults")
    if e is not None and not isinstance(e.node, ScalarNode):
        return _Inherited(None, Param("defaults", UNKNOWN, span(e.key_node)), True)
    return _Inherited()


def _read_parent(path: str, ref: Any, depth: int, seen: frozenset[str] = frozenset()) -> dict | None:
    """The parent document ``ref`` (relative to ``path``), its own ``extends`` merged in, as plain
    values; None when it is not a readable YAML mapping inside the repository."""
    if not isinstance(ref, str) or not ref or depth <= 0:
        return None
    here = os.path.dirname(os.path.abspath(path))
    target = os.path.normpath(os.path.join(here, ref))
    if target in seen or not _inside(target, repository_root(here) or here):
        return None
    from ..bounded_read import read_regular_file
    from ..sources.yaml_nodes import Budget, ParseError, compose

    try:
        data, _ = read_regular_file(target, MAX_PARENT_BYTES)
        source = SourceFile.of_text(target, data.decode("utf-8-sig"))
        roots = compose(source)
    except (OSError, UnicodeDecodeError, ParseError):
        return None
    if len(roots) != 1:
        return None
    value = to_value(roots[0], Budget(), limit=20_000)
    if not isinstance(value, dict):
        return None
    grand = value.pop("extends", None)
    if grand is not None:
        base = _read_parent(target, grand, depth - 1, seen | {target})
        if base is None:
            return None
        value = deep_merge(base, value)
    return value


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``: its keys win, nested mappings are merged."""
    out = dict(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _from_parent(b: SiteBuilder, parent: dict, path: tuple[str, ...], where: Span) -> None:
    """The settings the parent gives the block at ``path`` and the file leaves out."""
    node: Any = parent
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return
    for key, fieldname in KEYMAP.items():
        if fieldname in b.params or key not in node or node[key] is None:
            continue
        b.set(fieldname, implicit(key, node[key], where))


def _parent_model(inherited: _Inherited) -> Param | None:
    parent, where = inherited.parent, inherited.where
    if not isinstance(parent, dict) or where is None:
        return None
    model = parent.get("model")
    candidates = [parent.get(k) for k in MODEL_KEYS]
    if isinstance(model, str):
        candidates.append(model)
    elif isinstance(model, dict):
        candidates += [model.get(k) for k in MODEL_SUBKEYS if k not in LOOSE_MODEL_KEYS]
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return Param(f"model (from {where.value})", value, where.span)
    return None
