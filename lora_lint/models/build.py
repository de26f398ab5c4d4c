"""Build a model ``Inventory`` from a ``config.json`` dict on the meta device.

The only lora-lint module that imports torch and transformers (lazily, inside the functions).
The model is built with ``with torch.device("meta"): AutoModelFor*.from_config(config)``, which is
what transformers 5 itself uses (``init_empty_weights`` breaks weight tying there, see
research/models.md §2.4), never with ``trust_remote_code``.

A build never touches the network, online or not (the config is already here): the keys that make
transformers fetch code or weights are taken out first (``buildable``), huggingface_hub's offline
switch is on while it runs, and an audit hook refuses any socket the building thread opens. A
build is bounded by the number of modules it registers (``MAX_MODULES``): a 230-byte config
declaring 20,000 layers is refused at once, not built for a minute.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import threading
from typing import Any

from .config_lookup import one_line
from .inventory import SCHEMA_VERSION, Inventory, ModuleInfo


class ModelBuildError(Exception):
    """The config cannot be turned into a model here: the caller reports it as LL902."""


class RemoteCodeRequired(ModelBuildError):
    """The config names a model type only its repository's own code (``auto_map``) defines."""


class NeedsNetwork(ModelBuildError):
    """Building the model would fetch something (a backbone named by Hub id, a kernel): refused."""


class ModelTooLarge(ModelBuildError):
    """The config declares, or the build registers, more modules than ``MAX_MODULES``."""


#: Modules one build may register. Measured on the meta device with transformers 5.25: decoder
#: LLMs stay under 2,000 (Llama-3.1-405B 1,645, Qwen3-235B-A22B 1,323, DeepSeek-V3 1,215, Llama 4
#: Maverick 1,188, Mixtral-8x22B 679: their experts are one fused module per layer); the largest
#: are the encoder-decoder MoEs that keep one module per expert (NLLB-MoE-54B 8,581, Switch-Base-256
#: 15,890, Switch-Large-128 16,406). Three times the largest; only Switch-C-2048 (about 300,000,
#: 1.6 T parameters) is refused. Building 50,000 modules costs about 15 s and 200 MB here, the
#: most a hostile config can cost.
MAX_MODULES = 50_000
BOUND = (f"lora-lint builds models of at most {MAX_MODULES:,} modules (real models have up to about"
         " 16,000)")
#: Every layer of a real model holds several modules (attention, its projections, the MLP, norms):
#: a config declaring more than MAX_MODULES / 4 layers is refused before anything is built.
MIN_MODULES_PER_LAYER = 4
#: The keys transformers' configs count layers with (any sub-config).
LAYER_KEYS = frozenset({"num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers",
                        "decoder_layers", "num_encoder_layers", "num_decoder_layers"})
#: A real config.json nests a handful of levels (text_config -> rope_parameters); deeper is refused.
MAX_CONFIG_DEPTH = 32

#: Keys that choose an implementation at run time, not the module tree. transformers 5 fetches
#: a kernel from the Hub for some values ("kernels-community/...", "flash_attention_2" without
#: flash-attn installed) while it builds the model, so the build goes on without them.
RUNTIME_KEYS = frozenset({"attn_implementation", "experts_implementation", "_attn_implementation",
                          "_attn_implementation_internal", "_experts_implementation",
                          "_experts_implementation_internal"})


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


def buildable(config: dict) -> dict:
    """``config`` without what would make a build reach out, at every level (sub-configs too).

    Dropped: the run-time implementation keys (``RUNTIME_KEYS``); ``auto_map`` (the model type is
    native, so transformers' own classes build it; with ``auto_map`` an Auto class that has no
    native mapping for it asks on stdin whether to download and run the repository's code);
    ``backbone`` when the same config holds its ``backbone_config`` (transformers then ignores
    it). ``use_pretrained_backbone`` is set to false: weights are never loaded. A ``backbone``
    named alone is kept: the build then needs the Hub, and is refused (``NeedsNetwork``).
    Raises ``ModelTooLarge`` for a config declaring more layers than ``MAX_MODULES`` allows,
    ``ModelBuildError`` for one nested deeper than ``MAX_CONFIG_DEPTH``."""
    layers: list[tuple[int, str]] = []

    def clean(value, depth: int):
        if depth > MAX_CONFIG_DEPTH:
            raise ModelBuildError(f"config.json is nested deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(value, list):
            return [clean(v, depth + 1) for v in value]
        if not isinstance(value, dict):
            return value
        out = {}
        for key, v in value.items():
            if key in RUNTIME_KEYS or key == "auto_map":
                continue
            if key == "backbone" and value.get("backbone_config") is not None:
                continue
            if key == "use_pretrained_backbone":
                v = False
            elif key in LAYER_KEYS and isinstance(v, int) and not isinstance(v, bool):
                layers.append((v, key))
            out[key] = clean(v, depth + 1)
        return out

    cleaned = clean(config, 0)
    if layers:
        n, key = max(layers)
        if n * MIN_MODULES_PER_LAYER > MAX_MODULES:
            raise ModelTooLarge(f"it declares {n:,} layers ({key}); {BOUND}")
    return cleaned


def make_config(config: dict):
    """A transformers config object from a ``config.json`` dict (native classes only)."""
    from transformers import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not model_type:
        raise ModelBuildError("config.json has no model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        if config.get("auto_map"):
            raise RemoteCodeRequired(
                f"model_type {model_type!r} is defined by the repository's own code (auto_map);"
                " lora-lint never runs remote code"
            )
        raise ModelBuildError(f"model_type {model_type!r} is not known to this transformers version")
    clean = buildable(config)
    try:
        return CONFIG_MAPPING[model_type].from_dict(clean)
    except Exception as e:  # invalid shapes raise StrictDataclassClassValidationError etc.
        _reraise_bound(e)
        raise ModelBuildError(f"invalid {model_type} config: {describe(e)}") from e


def describe(exc: BaseException) -> str:
    """``ValueError: the first line of its text``, on one line and bounded: transformers' messages
    run over many lines (the second often lists every model type there is)."""
    text = next((line for line in str(exc).splitlines() if line.strip()), "")
    return one_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, 300)


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
    try:
        with _sealed():
            return _build_model(config, model_class)
    except NeedsNetwork as e:
        named = _backbones_by_name(config)
        why = f" for its `backbone` {named[0]!r} (named by id, without its backbone_config)" if named else ""
        raise NeedsNetwork(f"building it would reach {e}{why}; lora-lint builds models without"
                           " the network") from e


def _backbones_by_name(config, depth: int = 0) -> list:
    """The ``backbone`` values transformers would look up (no ``backbone_config`` beside them)."""
    if depth > MAX_CONFIG_DEPTH or not isinstance(config, dict):
        return []
    found = [config["backbone"]] if config.get("backbone") is not None and config.get("backbone_config") is None else []
    for v in config.values():
        for item in v if isinstance(v, list) else [v]:
            found += _backbones_by_name(item, depth + 1)
    return found


def _build_model(config: dict, model_class: str | None):
    import torch
    import transformers

    cfg = make_config(config)
    misses, errors = [], []  # a class that does not apply; one that applies and failed
    for cand in _candidates(model_class, config.get("architectures")):
        cls = getattr(transformers, cand, None)
        if cls is None or not isinstance(cls, type):
            misses.append(f"{cand}: not in transformers {transformers.__version__}")
            continue
        try:
            with torch.device("meta"):
                if cand.startswith("AutoModel"):
                    return cls.from_config(cfg)
                if not isinstance(cfg, getattr(cls, "config_class", ()) or ()):
                    misses.append(f"{cand}: expects {getattr(cls.config_class, '__name__', '?')}")
                    continue
                return cls._from_config(cfg)
        except Exception as e:
            _reraise_bound(e)
            entry = f"{cand}: {describe(e)}"
            (misses if "Unrecognized configuration class" in str(e) else errors).append(entry)
    shown = (errors or misses)[:1]
    more = len(errors) + len(misses) - len(shown)
    raise ModelBuildError(f"cannot build a {config.get('model_type')} model: " + "; ".join(shown)
                          + (f" (and {more} other class{'es' if more > 1 else ''} failed)" if more else ""))


# -- the seal around a build: no network, bounded module count ---------------------------------

_state = threading.local()  # .active, .modules, .refused (the first refusal of this build)
_seal_lock = threading.RLock()
_hooks_installed = False
#: True while some thread builds: the audit hook sees every event of the process (``id()`` is
#: one), so it returns on this flag before anything else.
_sealing = False


def _reraise_bound(exc: BaseException) -> None:
    """Raise the refusal the seal recorded, whatever transformers made of it (it wraps some
    exceptions in its own, and catches others); a failure because the Hub is offline is one too."""
    refused = getattr(_state, "refused", None)
    if refused is not None:
        raise refused from exc
    offline = _offline_error(exc)
    if offline is not None:
        url = re.search(r"https?://[^\s'\"]+", str(offline))
        raise NeedsNetwork(f"the Hub ({url.group(0).rstrip(':.,')})" if url else "the Hub") from exc


def _offline_error(exc: BaseException) -> BaseException | None:
    """The exception in ``exc``'s chain that says the Hub was needed while offline, or None."""
    try:
        from huggingface_hub import errors
    except ImportError:  # pragma: no cover - transformers requires it
        return None
    kinds = tuple(k for k in (getattr(errors, "OfflineModeIsEnabled", None),
                              getattr(errors, "LocalEntryNotFoundError", None)) if k is not None)
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen and len(seen) < 50:
        seen.add(id(e))
        if isinstance(e, kinds) or "offline mode" in str(e)[:2000].lower():
            return e
        e = e.__cause__ or e.__context__
    return None


def _audit(event: str, args: tuple) -> None:
    if not _sealing:
        return
    if event.startswith("socket.") and event != "socket.gethostname" and getattr(_state, "active", False):
        where = ""
        if event in ("socket.connect", "socket.sendto") and len(args) > 1:
            where = f" ({args[1]!r})"
        elif event in ("socket.getaddrinfo", "socket.gethostbyname") and args:
            where = f" ({args[0]!r})"
        if getattr(_state, "refused", None) is None:
            _state.refused = NeedsNetwork(f"the network{one_line(where, 120)}")
        raise _state.refused


def _on_module(module, name, submodule) -> None:
    if not getattr(_state, "active", False):
        return None
    _state.modules += 1
    if _state.modules > MAX_MODULES:
        if getattr(_state, "refused", None) is None:
            _state.refused = ModelTooLarge(f"building it passed {MAX_MODULES:,} modules; {BOUND}")
        raise _state.refused
    return None


def _install_hooks() -> None:
    global _hooks_installed
    if not _hooks_installed:
        from torch.nn.modules.module import register_module_module_registration_hook

        sys.addaudithook(_audit)  # cannot be removed: it acts only while a build is sealed
        register_module_module_registration_hook(_on_module)
        _hooks_installed = True


#: While a build runs: transformers' own switch for Hub kernels off, and the kernels package
#: looking in an empty cache. Importing some model modules (GPT-Neo, Bark) asks the kernels
#: package for a flash-attention kernel, which it loads from the Hugging Face cache when it is
#: there: a build loads no code from the Hub, cached or not.
_KERNEL_ENV = {"USE_HUB_KERNELS": "NO", "KERNELS_CACHE": None}


@contextlib.contextmanager
def _sealed():
    """While the current thread builds: huggingface_hub (and transformers 4, which copies the
    switch at import) offline, no Hub kernels, sockets refused, module registrations counted."""
    global _sealing
    if getattr(_state, "active", False):  # already sealed by an outer build in this thread
        yield
        return
    import tempfile  # (here: a warm run imports this module for its names, builds nothing)

    with _seal_lock, tempfile.TemporaryDirectory(prefix="lora-lint-no-kernels-") as empty:
        _install_hooks()
        import huggingface_hub.constants as hub_constants

        tf_hub = sys.modules.get("transformers.utils.hub")
        saved = hub_constants.HF_HUB_OFFLINE, getattr(tf_hub, "_is_offline_mode", None)
        saved_env = {k: os.environ.get(k) for k in _KERNEL_ENV}
        hub_constants.HF_HUB_OFFLINE = True
        if saved[1] is not None:
            tf_hub._is_offline_mode = True
        os.environ.update({k: v or empty for k, v in _KERNEL_ENV.items()})
        _state.active, _state.modules, _state.refused = True, 0, None
        _sealing = True
        try:
            yield
            if _state.refused is not None:  # caught and swallowed inside transformers
                raise _state.refused
        except (NeedsNetwork, ModelTooLarge):
            raise
        except Exception as e:
            _reraise_bound(e)
            raise
        finally:
            _state.active = _sealing = False
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            hub_constants.HF_HUB_OFFLINE = saved[0]
            if saved[1] is not None:
                tf_hub._is_offline_mode = saved[1]


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
