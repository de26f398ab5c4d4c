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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

SCHEMA_VERSION = 1

#: Module kinds. ``linear`` = torch.nn.Linear (and subclasses), ``conv1d`` = transformers' Conv1D
#: (GPT-2 style, weight stored (in, out)), ``conv`` = torch.nn.Conv1d/2d/3d, ``mha`` =
#: torch.nn.MultiheadAttention. The first five are the layer types peft's LoRA can adapt.
KINDS = ("linear", "conv1d", "embedding", "conv", "mha", "norm", "dropout", "container", "other")
LORA_KINDS = frozenset(("linear", "conv1d", "embedding", "conv", "mha"))


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
        return [n for n, s in self.parameters.items() if len(s) == 3 and ".experts." in f".{n}"]

    def iter_layers(self) -> Iterator[tuple[str, int]]:
        yield from self.layer_lists.items()

    def tower_of(self, name: str) -> str | None:
        """The tower prefix ``name`` lies in, if any."""
        for prefix in self.towers:
            if name == prefix or name.startswith(prefix + "."):
                return prefix
        return None

    # -- serialisation -------------------------------------------------------------------------

    def to_json(self) -> str:
        """Compact JSON: modules as rows ``[parent_index, leaf, class_index, kind, params, in,
        out, has_bias, kernel, groups]`` (trailing empties dropped), names rebuilt from parents."""
        classes: dict[str, int] = {}
        index: dict[str, int] = {}
        rows = []
        for i, m in enumerate(self.modules):
            parent, _, leaf = m.name.rpartition(".")
            p = index.get(parent, -1) if m.name else -2
            index[m.name] = i
            if p == -1 and parent:  # parent not listed (should not happen): keep the full name
                leaf = m.name
            row = [p, leaf, classes.setdefault(m.cls, len(classes)), KINDS.index(m.kind), m.params,
                   m.in_features, m.out_features, int(m.has_bias), list(m.kernel) if m.kernel else None,
                   m.groups]
            while row and row[-1] is None:
                row.pop()
            rows.append(row)
        params = []
        for name, shape in self.parameters.items():
            owner, _, leaf = name.rpartition(".")
            params.append([index.get(owner, -1) if owner else -2, leaf if owner in index or not owner else name,
                           list(shape)])
        doc = {
            "schema_version": self.schema_version,
            "model_type": self.model_type,
            "architecture": self.architecture,
            "model_class": self.model_class,
            "total_params": self.total_params,
            "classes": list(classes),
            "modules": rows,
            "parameters": params,
            "tied": self.tied,
            "aliases": self.aliases,
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
            "versions": self.versions,
            "config_sha256": self.config_sha256,
        }
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Inventory:
        doc = json.loads(text)
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"inventory schema {doc.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        classes = doc["classes"]
        names: list[str] = []
        modules = []
        for row in doc["modules"]:
            row = row + [None] * (10 - len(row))
            p, leaf, c, k, params, i, o, b, kernel, groups = row
            name = "" if p == -2 else leaf if p == -1 else (f"{names[p]}.{leaf}" if names[p] else leaf)
            names.append(name)
            modules.append(ModuleInfo(name, classes[c], KINDS[k], i, o, params or 0, bool(b),
                                      tuple(kernel) if kernel else None, groups))
        parameters = {}
        for owner, leaf, shape in doc["parameters"]:
            if owner == -2 or owner == -1:
                name = leaf
            else:
                name = f"{names[owner]}.{leaf}" if names[owner] else leaf
            parameters[name] = tuple(shape)
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


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
