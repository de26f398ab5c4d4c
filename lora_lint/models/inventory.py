"""A base model's structure as data: what peft's matching and counting need, nothing else.

Pure Python (no torch): an ``Inventory`` is built once on the meta device by ``models.build``,
serialised with ``to_json()`` and cached; every later run loads it with ``from_json()`` in a few
milliseconds and never imports torch.

``modules`` lists every module in ``model.named_modules()`` order (containers included: peft
matches every key), ``parameters`` every parameter of ``model.named_parameters()`` (tied weights
once, under their first name), ``aliases`` the extra names ``named_modules(remove_duplicate=False)``
yields for a module reachable twice (T5's ``encoder.embed_tokens`` is ``shared``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from ..peft_history import parse

SCHEMA_VERSION = 2

T = TypeVar("T")

#: Module kinds. ``linear`` = torch.nn.Linear (and subclasses), ``conv1d`` = transformers' Conv1D
#: (GPT-2 style, weight stored (in, out)), ``conv`` = torch.nn.Conv1d/2d/3d, ``mha`` =
#: torch.nn.MultiheadAttention. The first five are the layer types peft's LoRA can adapt.
KINDS = ("linear", "conv1d", "embedding", "conv", "mha", "norm", "dropout", "container", "other")
LORA_KINDS = frozenset(("linear", "conv1d", "embedding", "conv", "mha"))


#: Head kinds whose classes never generate (transformers >= 4.52; checked by tests/test_inventory.py).
NON_GENERATIVE_KINDS = frozenset({"SequenceClassification", "TokenClassification", "QuestionAnswering",
                                  "MaskedLM"})
#: Bare models (``AutoModel``'s classes named ``*Model``) that do generate.
GENERATIVE_BARE = frozenset({"BarkModel", "SeamlessM4TModel", "SeamlessM4Tv2Model"})


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """One entry of ``named_modules()``.

    ``in_features``/``out_features``: Linear/Conv1D in and out, Embedding (num_embeddings,
    embedding_dim), conv (in_channels, out_channels), MHA (embed_dim, 3·embed_dim) — the values
    peft's ``_get_in_out_features`` reads. ``params`` counts the module's own direct parameters
    (``recurse=False``; a tied weight counts here too). ``kernel``/``groups`` for conv layers.
    """

    name: str
    cls: str
    kind: str
    in_features: int | None = None
    out_features: int | None = None
    params: int = 0
    has_bias: bool = False
    kernel: tuple[int, ...] | None = None
    groups: int | None = None

    @property
    def leaf(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def adaptable(self) -> bool:
        """A layer type peft's default LoRA dispatcher accepts (lora/layer.py:2724-2766)."""
        return self.kind in LORA_KINDS


@dataclass
class Inventory:
    """Everything the matcher and the model-aware rules know about a base model."""

    model_type: str
    architecture: str  # the class built, e.g. "LlamaForCausalLM"
    model_class: str  # the task head kind: CausalLM, SequenceClassification, Seq2SeqLM, ...
    modules: list[ModuleInfo]
    parameters: dict[str, tuple[int, ...]]  # named_parameters(), tied weights once
    total_params: int
    tied: list[list[str]] = field(default_factory=list)  # groups of parameter names sharing storage
    aliases: dict[str, str] = field(default_factory=dict)  # duplicate module name -> first name
    tie_word_embeddings: bool | None = None  # model.config.tie_word_embeddings as peft reads it
    input_embeddings: str | None = None  # get_input_embeddings()
    output_embeddings: str | None = None  # get_output_embeddings(): all-linear skips it
    seq_cls_head: str | None = None  # the head all-linear skips for SEQ_CLS (tuners_utils.py:2470)
    heads: list[str] = field(default_factory=list)  # lm_head / score / classifier / qa_outputs...
    tied_to_embedding: list[str] = field(default_factory=list)  # peft _get_module_names_tied_with_embedding
    num_layers: int | None = None  # the text stack's layer count
    layer_lists: dict[str, int] = field(default_factory=dict)  # ModuleList prefix -> len
    towers: dict[str, str] = field(default_factory=dict)  # prefix -> vision | audio | projector
    conversion_pattern: str | None = None  # transformers _MODEL_TO_CONVERSION_PATTERN[model_type]
    checkpoint_conversion: bool = False  # transformers has a checkpoint conversion for model_type
    versions: dict[str, str] = field(default_factory=dict)  # transformers, torch, peft (replayed)
    config_sha256: str | None = None
    schema_version: int = SCHEMA_VERSION

    # -- lookups -------------------------------------------------------------------------------

    def derived(self, compute: Callable[[Inventory], T]) -> T:
        """``compute(self)``, computed once per inventory: a table every site of the model reads
        (an inventory is not changed once built; ``replicate`` makes a new one)."""
        tables = self.__dict__.setdefault("_derived", {})
        try:
            return tables[compute]
        except KeyError:
            value = tables[compute] = compute(self)
            return value

    @cached_property
    def by_name(self) -> dict[str, ModuleInfo]:
        return {m.name: m for m in self.modules}

    def module(self, name: str) -> ModuleInfo | None:
        m = self.by_name.get(name)
        if m is None and name in self.aliases:
            m = self.by_name.get(self.aliases[name])
        return m

    def all_names(self) -> list[str]:
        """``named_modules(remove_duplicate=False)`` names: modules plus aliases (what peft's
        ``_set_trainable`` iterates for ``modules_to_save``)."""
        if not self.aliases:
            return [m.name for m in self.modules]
        out: list[str] = []
        by_canon: dict[str, list[str]] = {}
        for alias, canon in self.aliases.items():
            by_canon.setdefault(canon, []).append(alias)
        for m in self.modules:
            out.append(m.name)
        out.extend(a for canon in by_canon for a in by_canon[canon])
        return out

    @cached_property
    def _param_owner_sizes(self) -> dict[str, int]:
        return {name: _numel(shape) for name, shape in self.parameters.items()}

    @cached_property
    def _alias_params(self) -> dict[str, str]:
        """Parameter alias name -> canonical name (from ``tied``)."""
        out = {}
        for group in self.tied:
            for alias in group[1:]:
                out[alias] = group[0]
        return out

    def param_shape(self, name: str) -> tuple[int, ...] | None:
        shape = self.parameters.get(name)
        if shape is None and name in self._alias_params:
            shape = self.parameters.get(self._alias_params[name])
        return shape

    def subtree_params(self, prefix: str) -> int:
        """Parameters under module ``prefix`` (a deepcopy of it: shared storage inside counted once,
        weights tied to something outside counted, as ``copy.deepcopy`` does)."""
        canon = self.aliases.get(prefix, prefix)
        seen: set[str] = set()
        total = 0
        start = canon + "."
        names = list(self.parameters) + list(self._alias_params)
        for pname in names:
            if canon and not pname.startswith(start):
                continue
            key = self._alias_params.get(pname, pname)
            if key in seen:
                continue
            seen.add(key)
            total += _numel(self.parameters[key])
        return total

    def fused_experts(self) -> list[str]:
        """3-D parameters under an ``experts`` module: MoE experts stored fused (transformers 5)."""
        return list(self.derived(_fused_experts))

    def iter_layers(self) -> Iterator[tuple[str, int]]:
        yield from self.layer_lists.items()

    def tower_of(self, name: str) -> str | None:
        """The tower prefix ``name`` lies in, if any."""
        for prefix in self.towers:
            if name == prefix or name.startswith(prefix + "."):
                return prefix
        return None

    def generates(self) -> bool | None:
        """Whether the class built has ``prepare_inputs_for_generation`` (what peft's
        ``PeftModelForCausalLM``/``PeftModelForSeq2SeqLM`` read when they wrap it): False for the
        classification, QA and masked-LM heads and for the bare models (``AutoModel``), whose
        classes do not inherit ``GenerationMixin`` since transformers 4.52, except the few bare
        models that generate (``GENERATIVE_BARE``); None when not certain. ``tests/test_inventory.py``
        checks every class of transformers' Auto mappings."""
        tf = self.versions.get("transformers")
        if not tf or (parse(tf) or ()) < (4, 52):
            return None
        if self.model_class in NON_GENERATIVE_KINDS:
            return False
        if self.model_class == "Model" and self.architecture.endswith("Model") and \
                not self.architecture.endswith("LMHeadModel") and self.architecture not in GENERATIVE_BARE:
            return False
        return None

    # -- serialisation -------------------------------------------------------------------------

    def to_json(self) -> str:
        """The inventory as stable, diff-friendly JSON (the user cache, the bundled catalog and
        model locks all store this text).

        Modules are rows ``[parent_row, leaf, class_index, kind, params, in, out, has_bias,
        kernel, groups]`` (trailing empties dropped) in ``named_modules()`` order, a name being
        rebuilt from its parent row. Consecutive numbered siblings with identical subtrees
        (the decoder layers of a stack) are written once, as one row whose leaf is the range
        ``[first, last]``: a 70B model takes as many rows as one of its layers. Parameters are rows
        ``[module_row, leaf, shape]``. One row per line, so a changed module is a changed line.
        """
        classes: dict[str, int] = {}
        rows, params = _encode(self, classes)
        head = {
            "schema_version": self.schema_version,
            "model_type": self.model_type,
            "architecture": self.architecture,
            "model_class": self.model_class,
            "total_params": self.total_params,
            "versions": self.versions,
            "config_sha256": self.config_sha256,
            "tie_word_embeddings": self.tie_word_embeddings,
            "input_embeddings": self.input_embeddings,
            "output_embeddings": self.output_embeddings,
            "seq_cls_head": self.seq_cls_head,
            "heads": self.heads,
            "tied_to_embedding": self.tied_to_embedding,
            "num_layers": self.num_layers,
            "layer_lists": self.layer_lists,
            "towers": self.towers,
            "conversion_pattern": self.conversion_pattern,
            "checkpoint_conversion": self.checkpoint_conversion,
            "tied": self.tied,
            "aliases": self.aliases,
            "classes": list(classes),
        }
        dump = json.dumps
        lines = ["{"]
        lines += [f"{dump(k)}: {dump(v, separators=(',', ':'))}," for k, v in head.items()]
        for key, table, last in (("modules", rows, False), ("parameters", params, True)):
            lines.append(f"{dump(key)}: [")
            lines += [dump(r, separators=(",", ":")) + ("," if i < len(table) - 1 else "")
                      for i, r in enumerate(table)]
            lines.append("]" + ("" if last else ","))
        lines.append("}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Inventory:
        doc = json.loads(text)
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"inventory schema {doc.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        modules, parameters = _decode(doc["classes"], doc["modules"], doc["parameters"])
        return cls(
            model_type=doc["model_type"],
            architecture=doc["architecture"],
            model_class=doc["model_class"],
            modules=modules,
            parameters=parameters,
            total_params=doc["total_params"],
            tied=doc.get("tied") or [],
            aliases=doc.get("aliases") or {},
            tie_word_embeddings=doc.get("tie_word_embeddings"),
            input_embeddings=doc.get("input_embeddings"),
            output_embeddings=doc.get("output_embeddings"),
            seq_cls_head=doc.get("seq_cls_head"),
            heads=doc.get("heads") or [],
            tied_to_embedding=doc.get("tied_to_embedding") or [],
            num_layers=doc.get("num_layers"),
            layer_lists=doc.get("layer_lists") or {},
            towers=doc.get("towers") or {},
            conversion_pattern=doc.get("conversion_pattern"),
            checkpoint_conversion=bool(doc.get("checkpoint_conversion")),
            versions=doc.get("versions") or {},
            config_sha256=doc.get("config_sha256"),
        )

    def summary(self) -> Mapping[str, object]:
        return {
            "model_type": self.model_type,
            "architecture": self.architecture,
            "total_params": self.total_params,
            "modules": len(self.modules),
            "num_layers": self.num_layers,
        }


def _fused_experts(inv: Inventory) -> list[str]:
    return [n for n, s in inv.parameters.items() if len(s) == 3 and ".experts." in f".{n}"]


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# -- the row encoding ------------------------------------------------------------------------------

def _row(m: ModuleInfo, parent: int, leaf: str, classes: dict[str, int]) -> list:
    row = [parent, leaf, classes.setdefault(m.cls, len(classes)), KINDS.index(m.kind), m.params,
           m.in_features, m.out_features, int(m.has_bias), list(m.kernel) if m.kernel else None,
           m.groups]
    while row and row[-1] is None:
        row.pop()
    return row


def _encode(inv: Inventory, classes: dict[str, int]) -> tuple[list, list]:
    """(module rows, parameter rows), with equal numbered siblings folded into ranges when the
    inventory is a plain tree; otherwise (a name whose parent is not a module) every row as is."""
    mods = inv.modules
    index = {m.name: i for i, m in enumerate(mods)}
    parent = [-2 if not m.name else index.get(m.name.rpartition(".")[0], -1) for m in mods]
    own: list[list] = [[] for _ in mods]
    tree = bool(mods) and not mods[0].name and -1 not in parent and parent.count(-2) == 1
    for name, shape in inv.parameters.items():
        owner = index.get(name.rpartition(".")[0]) if "." in name else 0
        if owner is None:
            tree = False
            break
        own[owner].append([name.rpartition(".")[2], list(shape)])
    if tree:
        rows, params = _encode_tree(mods, parent, own, classes)
        back_modules, back_params = _decode(list(classes), rows, params)
        if back_modules == mods and list(back_params.items()) == list(inv.parameters.items()):
            return rows, params
        classes.clear()
    rows = []
    for i, m in enumerate(mods):
        p = parent[i]
        rows.append(_row(m, p, m.name if p == -1 else m.leaf, classes))
    params = []
    for name, shape in inv.parameters.items():
        owner, _, leaf = name.rpartition(".")
        o = index.get(owner, -1) if owner else -2
        params.append([o, leaf if o != -1 else name, list(shape)])
    return rows, params


def _encode_tree(mods, parent, own, classes) -> tuple[list, list]:
    children: list[list[int]] = [[] for _ in mods]
    for i, p in enumerate(parent):
        if p >= 0:
            children[p].append(i)
    intern: dict[tuple, int] = {}
    sig = [0] * len(mods)
    for i in reversed(range(len(mods))):  # children come after their parent
        m = mods[i]
        key = (m.cls, m.kind, m.in_features, m.out_features, m.params, m.has_bias, m.kernel,
               m.groups, tuple((leaf, tuple(s)) for leaf, s in own[i]),
               tuple((mods[c].leaf, sig[c]) for c in children[i]))
        sig[i] = intern.setdefault(key, len(intern))
    rows: list = []
    params: list = []

    def visit(i: int, parent_row: int, leaf: str | list[int]) -> None:
        here = len(rows)
        rows.append(_row(mods[i], parent_row, leaf, classes))
        params.extend([here, leaf_, shape] for leaf_, shape in own[i])
        kids = children[i]
        j = 0
        while j < len(kids):
            first = kids[j]
            name = mods[first].leaf
            k = j
            if name.isdigit() and str(int(name)) == name:
                while (k + 1 < len(kids) and sig[kids[k + 1]] == sig[first]
                       and mods[kids[k + 1]].leaf == str(int(name) + k + 1 - j)):
                    k += 1
            visit(first, here, name if k == j else [int(name), int(name) + k - j])
            j = k + 1

    visit(0, -2, "")
    return rows, params


def _decode(classes: list, rows: list, params: list) -> tuple[list[ModuleInfo], dict[str, tuple[int, ...]]]:
    def info(name: str, row: list) -> ModuleInfo:
        row = row + [None] * (10 - len(row))
        _, _, c, k, count, i, o, b, kernel, groups = row
        return ModuleInfo(name, classes[c], KINDS[k], i, o, count or 0, bool(b),
                          tuple(kernel) if kernel else None, groups)

    if not any(isinstance(r[1], list) for r in rows):
        names: list[str] = []
        modules = []
        for row in rows:
            p, leaf = row[0], row[1]
            name = "" if p == -2 else leaf if p == -1 else (f"{names[p]}.{leaf}" if names[p] else leaf)
            names.append(name)
            modules.append(info(name, row))
        parameters = {}
        for owner, leaf, shape in params:
            name = leaf if owner in (-2, -1) else (f"{names[owner]}.{leaf}" if names[owner] else leaf)
            parameters[name] = tuple(shape)
        return modules, parameters
    children: list[list[int]] = [[] for _ in rows]
    for r, row in enumerate(rows):
        if row[0] >= 0:
            children[row[0]].append(r)
    own: list[list] = [[] for _ in rows]
    for owner, leaf, shape in params:
        own[owner].append((leaf, tuple(shape)))
    modules = []
    parameters = {}

    def emit(r: int, name: str) -> None:
        modules.append(info(name, rows[r]))
        for leaf, shape in own[r]:
            parameters[f"{name}.{leaf}" if name else leaf] = shape
        for c in children[r]:
            leaf = rows[c][1]
            leaves = [str(n) for n in range(leaf[0], leaf[1] + 1)] if isinstance(leaf, list) else [leaf]
            for one in leaves:
                emit(c, f"{name}.{one}" if name else one)

    emit(0, "")
    return modules, parameters


# -- comparison ------------------------------------------------------------------------------------

_LAYER = __import__("re").compile(r"(?<=\.)\d+(?=\.|$)")


def differences(old: Inventory, new: Inventory, limit: int = 12) -> list[str]:
    """What changed from ``old`` to ``new`` in what lora-lint reads (the transformers, torch and
    peft versions and the config hash are provenance, not structure): one line per kind of
    change, layer indices folded (``model.layers.*.mlp.gate_proj``), at most ``limit`` names each.
    An empty list means the two are the same model structure."""
    out: list[str] = []

    def names(items) -> str:
        folded = sorted({_LAYER.sub("*", n) for n in items})
        more = f" and {len(folded) - limit} more" if len(folded) > limit else ""
        return ", ".join(folded[:limit]) + more

    for field_ in ("model_type", "architecture", "model_class", "total_params", "tie_word_embeddings",
                   "input_embeddings", "output_embeddings", "seq_cls_head", "heads", "tied_to_embedding",
                   "num_layers", "layer_lists", "towers", "conversion_pattern", "checkpoint_conversion",
                   "tied", "aliases"):
        a, b = getattr(old, field_), getattr(new, field_)
        if a != b:
            if field_ == "total_params":
                out.append(f"parameter count {a:,} -> {b:,} ({b - a:+,})")
            elif field_ in ("tied", "aliases") and a and b:
                out.append(f"{field_} changed ({len(a)} -> {len(b)} entries)")
            else:
                out.append(f"{field_}: {a!r} -> {b!r}")
    before, after = old.by_name, new.by_name
    if removed := [n for n in before if n not in after]:
        out.append(f"modules removed: {names(removed)}")
    if added := [n for n in after if n not in before]:
        out.append(f"modules added: {names(added)}")
    changed: dict[str, list[str]] = {}
    for name, a in before.items():
        b = after.get(name)
        if b is None or a == b:
            continue
        what = [f"{f} {getattr(a, f)!r} -> {getattr(b, f)!r}" for f in ModuleInfo.__slots__
                if f != "name" and getattr(a, f) != getattr(b, f)]
        changed.setdefault("; ".join(what), []).append(name)
    for what, group in changed.items():
        out.append(f"{names(group)}: {what}")
    p_old, p_new = old.parameters, new.parameters
    if gone := [n for n in p_old if n not in p_new]:
        out.append(f"parameters removed: {names(gone)}")
    if new_ := [n for n in p_new if n not in p_old]:
        out.append(f"parameters added: {names(new_)}")
    shapes: dict[str, list[str]] = {}
    for name, shape in p_old.items():
        if name in p_new and p_new[name] != shape:
            shapes.setdefault(f"{list(shape)} -> {list(p_new[name])}", []).append(name)
    for what, group in shapes.items():
        out.append(f"parameter shapes {what}: {names(group)}")
    if not out and [m.name for m in old.modules] != [m.name for m in new.modules]:
        out.append("module order changed")
    if not out and list(p_old) != list(p_new):
        out.append("parameter order changed")
    return out
