"""Build a model ``Inventory`` from a ``config.json`` dict on the meta device.

The only lora-lint module that imports torch and transformers (lazily, inside the functions).
The model is built with ``with torch.device("meta"): AutoModelFor*.from_config(config)``, which is
what transformers 5 itself uses (``init_empty_weights`` breaks weight tying there, see
research/models.md §2.4), never with ``trust_remote_code``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from .inventory import SCHEMA_VERSION, Inventory, ModuleInfo


class ModelBuildError(Exception):
    """The config cannot be turned into a model here: the caller reports it as LL902."""


class RemoteCodeRequired(ModelBuildError):
    """The config names a model type only its repository's own code (``auto_map``) defines."""


#: model_class spellings -> transformers Auto class name.
AUTO_CLASSES = {
    "causallm": "AutoModelForCausalLM",
    "sequenceclassification": "AutoModelForSequenceClassification",
    "tokenclassification": "AutoModelForTokenClassification",
    "questionanswering": "AutoModelForQuestionAnswering",
    "seq2seqlm": "AutoModelForSeq2SeqLM",
    "conditionalgeneration": "AutoModelForSeq2SeqLM",
    "imagetexttotext": "AutoModelForImageTextToText",
    "vision2seq": "AutoModelForImageTextToText",
    "maskedlm": "AutoModelForMaskedLM",
    "model": "AutoModel",
    "": "AutoModel",
}

#: Architecture class-name suffix -> model_class kind recorded in the inventory.
_KIND_BY_SUFFIX = (
    ("ForCausalLM", "CausalLM"),
    ("LMHeadModel", "CausalLM"),
    ("ForSequenceClassification", "SequenceClassification"),
    ("ForTokenClassification", "TokenClassification"),
    ("ForQuestionAnswering", "QuestionAnswering"),
    ("ForMaskedLM", "MaskedLM"),
    ("ForImageTextToText", "ImageTextToText"),
)

_HEAD_NAMES = ("lm_head", "score", "classifier", "qa_outputs", "cls")
_TOWER = re.compile(r"vision|visual|image|audio|speech|video|projector|connector|resampler|mm_proj")
_TEXT = re.compile(r"language_model|text_model|text_config|lm_head|decoder|encoder$")


def warm_up() -> None:
    """Import what every build needs (torch, transformers, the Auto classes, the modules the
    inventory reads), so a background thread can pay for it while the files are parsed."""
    try:
        import torch  # noqa: F401
        import transformers
        import transformers.conversion_mapping  # noqa: F401
        import transformers.pytorch_utils  # noqa: F401

        transformers.AutoModelForCausalLM  # noqa: B018  (the lazy module loads the Auto classes)
        transformers.CONFIG_MAPPING  # noqa: B018
    except Exception:  # the build reports it (LL902)
        pass


def config_sha256(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def normalize_model_class(model_class: str | None) -> str | None:
    """``AutoModelForSequenceClassification`` / ``SequenceClassification`` / ``SEQ_CLS``... -> the
    Auto class name, or a concrete class name (``LlamaForSequenceClassification``) as given."""
    if model_class is None:
        return None
    s = model_class.strip()
    key = s.removeprefix("AutoModelFor").removeprefix("AutoModel").removeprefix("For").lower()
    key = {"seq_cls": "sequenceclassification", "token_cls": "tokenclassification",
           "question_ans": "questionanswering", "seq_2_seq_lm": "seq2seqlm",
           "causal_lm": "causallm"}.get(key, key)
    if s.startswith("AutoModel") or key in AUTO_CLASSES and not re.match(r"^[A-Z]\w*For", s):
        if key not in AUTO_CLASSES:
            raise ModelBuildError(f"unknown model class {model_class!r}")
        return AUTO_CLASSES[key]
    return s  # a concrete transformers class name


def make_config(config: dict):
    """A transformers config object from a ``config.json`` dict (native classes only)."""
    from transformers import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not model_type:
        raise ModelBuildError("config.json has no model_type")
    if model_type not in CONFIG_MAPPING:
        if config.get("auto_map"):
            raise RemoteCodeRequired(
                f"model_type {model_type!r} is defined by the repository's own code (auto_map);"
                " lora-lint never runs remote code"
            )
        raise ModelBuildError(f"model_type {model_type!r} is not known to this transformers version")
    try:
        return CONFIG_MAPPING[model_type].from_dict(dict(config))
    except Exception as e:  # invalid shapes raise StrictDataclassClassValidationError etc.
        raise ModelBuildError(f"invalid {model_type} config: {type(e).__name__}: {e}") from e


def _candidates(model_class: str | None, architectures) -> list[str]:
    name = normalize_model_class(model_class)
    if name is not None:
        return [name]
    out = [a for a in architectures or () if isinstance(a, str)]
    return out + ["AutoModelForCausalLM", "AutoModelForImageTextToText", "AutoModelForSeq2SeqLM", "AutoModel"]


def build_model(config: dict, model_class: str | None = None):
    """The model for ``config`` on the meta device (used by ``build_inventory`` and the tests).

    ``model_class`` picks the head (``SequenceClassification``, ``AutoModelForCausalLM``, a
    concrete class name...); without it the config's ``architectures`` are tried, then the
    causal-LM, image-text-to-text, seq2seq and base Auto classes.
    """
    import torch
    import transformers

    cfg = make_config(config)
    errors = []
    for cand in _candidates(model_class, config.get("architectures")):
        cls = getattr(transformers, cand, None)
        if cls is None:
            errors.append(f"{cand}: not in transformers {transformers.__version__}")
            continue
        try:
            with torch.device("meta"):
                if cand.startswith("AutoModel"):
                    return cls.from_config(cfg)
                if not isinstance(cfg, cls.config_class):
                    errors.append(f"{cand}: expects {cls.config_class.__name__}")
                    continue
                return cls._from_config(cfg)
        except Exception as e:
            errors.append(f"{cand}: {type(e).__name__}: {str(e)[:200]}")
    raise ModelBuildError(f"cannot build a {config.get('model_type')} model: " + "; ".join(errors))


def build_inventory(config: dict, model_class: str | None = None) -> Inventory:
    """Build the model on the meta device, read its inventory, and let the model go."""
    model = build_model(config, model_class)
    try:
        return inventory_of(model, config_sha256(config))
    finally:
        del model


def inventory_of(model: Any, sha: str | None = None) -> Inventory:
    """The inventory of a built (meta) transformers model."""
    import torch
    import transformers
    from torch import nn
    from transformers.pytorch_utils import Conv1D

    named = list(model.named_modules())
    ident = {id(m): n for n, m in named}
    modules = [_module_info(n, m, nn, Conv1D) for n, m in named]
    aliases = {n: ident[id(m)] for n, m in model.named_modules(remove_duplicate=False)
               if ident.get(id(m)) not in (None, n)}

    parameters: dict[str, tuple[int, ...]] = {}
    groups: dict[int, list[str]] = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(n)
        if len(groups[id(p)]) == 1:
            parameters[n] = tuple(p.shape)
    tied = [g for g in groups.values() if len(g) > 1]
    total = sum(p.numel() for p in model.parameters())

    def name_of(mod) -> str | None:
        return ident.get(id(mod)) if mod is not None else None

    try:
        inp = name_of(model.get_input_embeddings())
    except Exception:
        inp = None
    try:
        out = name_of(model.get_output_embeddings())
    except Exception:
        out = None
    seq_cls_head = None
    if out is None:  # tuners_utils.py:2470-2478: only when there are no output embeddings
        for attr in ("score", "classifier"):
            head = getattr(model, attr, None)
            if head is not None and id(head) in ident:
                seq_cls_head = ident[id(head)]
                break
    heads = [n for n, _ in model.named_children() if n in _HEAD_NAMES]
    if out and out not in heads:
        heads.insert(0, out)

    layer_lists = _layer_lists(model, nn)
    towers = _towers(named, transformers)
    text_lists = [p for p in layer_lists if not any(p == t or p.startswith(t + ".") for t in towers)]
    num_layers = layer_lists[text_lists[0]] if text_lists else None

    from transformers.conversion_mapping import (
        _MODEL_TO_CONVERSION_PATTERN,
        get_checkpoint_conversion_mapping,
    )

    cfg = model.config
    model_type = getattr(cfg, "model_type", "") or ""
    try:
        has_conversion = get_checkpoint_conversion_mapping(model_type) is not None
    except Exception:
        has_conversion = False
    arch = type(model).__name__
    return Inventory(
        model_type=model_type,
        architecture=arch,
        model_class=model_kind(arch),
        modules=modules,
        parameters=parameters,
        total_params=int(total),
        tied=tied,
        aliases=aliases,
        tie_word_embeddings=getattr(cfg, "tie_word_embeddings", None),
        input_embeddings=inp,
        output_embeddings=out,
        seq_cls_head=seq_cls_head,
        heads=heads,
        tied_to_embedding=_tied_to_embedding(model, ident),
        num_layers=num_layers,
        layer_lists=layer_lists,
        towers=towers,
        conversion_pattern=_MODEL_TO_CONVERSION_PATTERN.get(model_type),
        checkpoint_conversion=has_conversion,
        versions={"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
                  "peft": _peft_semantics()},
        config_sha256=sha,
        schema_version=SCHEMA_VERSION,
    )


def _peft_semantics() -> str:
    """The peft version whose matching rules the analysis replays (the snapshot, not an import)."""
    from ..peft_facts import facts

    return facts()["peft_version"]


def model_kind(arch: str) -> str:
    for suffix, kind in _KIND_BY_SUFFIX:
        if arch.endswith(suffix):
            return kind
    if arch.endswith("ForConditionalGeneration"):
        return "Seq2SeqLM" if re.match(r"^(T5|MT5|UMT5|Bart|MBart|Pegasus|Marian|LongT5|Switch)", arch) else (
            "ImageTextToText")
    return "Model"


def _module_info(name: str, m, nn, Conv1D) -> ModuleInfo:
    cls = type(m).__name__
    own = [p for _, p in m.named_parameters(recurse=False)]
    params = int(sum(p.numel() for p in own))
    bias = getattr(m, "bias", None)
    has_bias = isinstance(bias, nn.Parameter)
    if isinstance(m, nn.Embedding):  # checked first, like lora's dispatch_default
        return ModuleInfo(name, cls, "embedding", m.num_embeddings, m.embedding_dim, params, False)
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return ModuleInfo(name, cls, "conv", m.in_channels, m.out_channels, params, has_bias,
                          tuple(int(k) for k in m.kernel_size), int(m.groups))
    if isinstance(m, nn.MultiheadAttention):
        return ModuleInfo(name, cls, "mha", m.embed_dim, 3 * m.embed_dim, params, has_bias)
    if isinstance(m, nn.Linear):
        return ModuleInfo(name, cls, "linear", m.in_features, m.out_features, params, has_bias)
    if isinstance(m, Conv1D):
        i, o = m.weight.shape
        return ModuleInfo(name, cls, "conv1d", int(i), int(o), params, has_bias)
    if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)):
        kind = "dropout"
    elif "Norm" in cls or isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase)):
        kind = "norm"
    elif not own and any(True for _ in m.children()):
        kind = "container"
    else:
        kind = "other"
    return ModuleInfo(name, cls, kind, None, None, params, has_bias)


def _layer_lists(model, nn) -> dict[str, int]:
    """Outermost ModuleLists of blocks (decoder layers, vision blocks): prefix -> length."""
    out: dict[str, int] = {}
    for name, m in model.named_modules():
        if any(name.startswith(p + ".") for p in out):
            continue
        if isinstance(m, nn.ModuleList) and len(m) and all(any(True for _ in c.children()) for c in m):
            out[name] = len(m)
    return out


def _towers(named, transformers) -> dict[str, str]:
    """Vision/audio towers and multimodal projectors: prefix -> kind (shortest prefixes only)."""
    out: dict[str, str] = {}
    for name, m in named:
        if not name or name.count(".") > 2 or any(name.startswith(t + ".") for t in out):
            continue
        leaf = name.rpartition(".")[2].lower()
        if _TEXT.search(leaf) or not _TOWER.search(leaf):
            continue
        if not any(True for _ in m.children()) and not isinstance(m, transformers.PreTrainedModel):
            if "projector" not in leaf:
                continue
        if re.search(r"audio|speech", leaf):
            out[name] = "audio"
        elif re.search(r"projector|connector|resampler|mm_proj", leaf):
            out[name] = "projector"
        else:
            out[name] = "vision"
    return out


def _tied_to_embedding(model, ident) -> list[str]:
    """Module names tied to the input embeddings, as peft computes them (utils/other.py:1752-1838)."""
    cfg = getattr(model, "config", None)
    if cfg is not None and getattr(cfg, "tie_word_embeddings", None) is False:
        return []
    keys = getattr(model, "_tied_weights_keys", None)
    if not keys:
        return []
    tied: list[str] = []
    if isinstance(keys, dict):
        try:
            emb_params = set(model.get_input_embeddings().parameters())
        except Exception:
            return []
        all_keys: dict[str, str] = {}
        for module_name, module in model.named_modules():
            mk = getattr(module, "_tied_weights_keys", None)
            if mk and not module_name:
                all_keys.update(mk)
            elif mk and isinstance(mk, dict):
                all_keys.update({f"{module_name}.{k}": f"{module_name}.{v}" for k, v in mk.items()})
        candidates = [n for n, p in model.named_parameters(remove_duplicate=False) if p in emb_params]
        tied = [k for k, v in all_keys.items() if v in candidates]
    else:
        tied = list(keys)
    return sorted({n.rpartition(".")[0] for n in tied})
