"""Trainable and total parameter counts, as ``PeftModel.get_nb_trainable_parameters()`` reports
them (peft_model.py:932-958), from a ``Match`` (pure Python, no torch).

Per adapted layer (peft 0.21.2 tuners/lora/layer.py): Linear/Conv1D ``r·(in+out)`` (:263-264),
Embedding ``r·(V+d)`` (:1241-1244), ConvNd ``r·Cin·∏k + Cout·r/groups`` (:1625-1628),
MultiheadAttention ``r·4E + r·2E`` (:1941-1955), ParamWrapper ``r·E·(a+b)`` (:2397-2456); DoRA adds
the magnitude vector (out), ``lora_bias`` the B bias (out). ``modules_to_save`` adds a full trainable
copy (utils/other.py:632-668), trainable tokens ``len(indices)·dim`` (trainable_tokens/layer.py:157).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..model import UNKNOWN
from .failure import Failure, Raises, Withheld
from .inventory import Inventory, ModuleInfo
from .match import Match, mamba_failure
from .spec import LoraSpec
from .validate import bias_failure, layer_failure, rank_failure, variant_failure


@dataclass
class Counts:
    trainable: int | None = None
    total: int | None = None
    breakdown: dict[str, int] = field(default_factory=dict)
    rank: dict[str, int] = field(default_factory=dict)  # adapted module / parameter -> r
    alpha: dict[str, float] = field(default_factory=dict)
    lora_params: dict[str, int] = field(default_factory=dict)  # adapted module / parameter -> LoRA params
    saved: dict[str, list[str]] = field(default_factory=dict)  # modules_to_save entry -> wrapped names
    tokens: dict[str, int] = field(default_factory=dict)  # embedding -> trainable-token params
    failure: Failure | None = None
    withheld: str | None = None  # why there is no count (completes "not counted, because ...")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def pattern_value(patterns: dict, compiled: list, key: str, default):
    """``get_pattern_key`` (utils/other.py:1524-1532): the first key, in dict order, for which
    ``re.match(rf"(.*\\.)?({key})$", key)`` matches."""
    for k, rx in compiled:
        if rx is not None and rx.match(key):
            return patterns[k], k
    return default, None


def compile_patterns(patterns: dict) -> list:
    out = []
    for k in patterns:
        try:
            out.append((k, re.compile(rf"(.*\.)?({k})$")))
        except (re.error, RecursionError, OverflowError):
            out.append((k, None))
    return out


def layer_params(mod: ModuleInfo, r: int, spec: LoraSpec) -> int:
    """LoRA parameters peft creates for ``mod`` at rank ``r`` (the value checks are ``layer_failure``'s)."""
    i, o = mod.in_features or 0, mod.out_features or 0
    dora, lbias = spec.use_dora is True, spec.lora_bias is True
    if mod.kind in ("linear", "conv1d", "embedding"):
        return r * (i + o) + (o if dora else 0) + (o if lbias and mod.kind != "embedding" else 0)
    if mod.kind == "conv":
        g = mod.groups or 1
        k = 1
        for d in mod.kernel or ():
            k *= d
        return r * i * k + o * (r // g) + (o if dora else 0) + (o if lbias else 0)
    if mod.kind == "mha":
        e = i
        return r * (e + 3 * e) + r * (e + e) + (3 * e + e if lbias else 0)
    raise Withheld(f"peft's LoRA layer for {mod.cls} is not replayed")


def param_params(shape: tuple[int, ...], r: int) -> int:
    if len(shape) == 3:
        e, a, b = shape
    elif len(shape) == 2:
        e, a, b = 1, shape[1], shape[0]
    else:
        raise Withheld(f"a {len(shape)}-d parameter in target_parameters is not replayed")
    return r * e * (a + b)


def count(inv: Inventory, spec: LoraSpec, m: Match) -> Counts:
    c = Counts()
    try:
        _count(inv, spec, m, c)
    except Raises as e:
        c.failure = e.failure
        c.trainable = c.total = None
    except Withheld as e:
        c.withheld = e.reason
        c.trainable = c.total = None
    return c


#: Values the counts depend on, by the field name "not counted, because <field> is not known" uses.
NUMBERS = ("r", "lora_alpha", "use_dora", "lora_bias", "bias", "trainable_token_indices", "inference_mode",
           "lora_dropout", "fan_in_fan_out")


def _count(inv: Inventory, spec: LoraSpec, m: Match, c: Counts) -> None:
    unknown = [n for n in NUMBERS if getattr(spec, n) is UNKNOWN]
    unknown += [f"rank_pattern[{k!r}]" for k, v in m.rank_pattern.items() if v is UNKNOWN]
    rk, ak = compile_patterns(m.rank_pattern), compile_patterns(m.alpha_pattern)
    values: dict[str, tuple] = {}  # key -> (r, its rank_pattern key, alpha, its alpha_pattern key)
    for key in [*m.targeted, *m.targeted_parameters]:
        r, rkey = pattern_value(m.rank_pattern, rk, key, spec.r)
        a, akey = pattern_value(m.alpha_pattern, ak, key, spec.lora_alpha)
        values[key] = (r, rkey, a, akey)
        if _is_int(r):
            c.rank[key] = r
        if _is_num(a):
            c.alpha[key] = a
    c.saved = _saved(inv, m)
    # layer creation, in peft's order: the module loop, the parameters, the tied layers
    tied = set(m.tied)
    lora = 0
    layers = Layers(inv, spec)
    for key in [k for k in m.targeted if k not in tied]:
        lora += layers.create(c, key, values[key])
    for n, key in enumerate(m.targeted_parameters):
        if key == m.param_conflict:
            owner = key.rpartition(".")[0]
            raise Raises("ValueError", f"Trying to wrap an `nn.Parameter` of layer '{owner}' of type "
                         f"{_type_name(inv, owner)}, which is not a valid target. Make sure that this layer is not "
                         "also targeted with `target_modules`. For some models, PEFT will do this automatically, try "
                         "setting `target_modules=[]` to prevent it.", "param-on-target", "target_parameters",
                         _entry(spec.target_parameters, key))
        if n == 0:
            _check_param_wrapper(inv, spec, m)
        r, rkey = values[key][:2]
        failure = rank_failure(r)
        if failure is not None:
            raise Raises(failure.exception, failure.message, "layer", "rank_pattern" if rkey else "r", rkey)
        failure = variant_failure(spec, "param")  # ParamWrapper.update_layer (tuners/lora/layer.py:2428-2433)
        if failure is not None:
            raise Raises(failure.exception, failure.message, "layer", failure.field)
        if _is_int(r):
            c.lora_params[key] = n_params = param_params(inv.param_shape(key), r)
            lora += n_params
    for key in m.targeted:
        if key in tied:
            lora += layers.create(c, key, values[key])
    failure = bias_failure(spec)
    if failure is not None:
        raise Raises(failure.exception, failure.message, failure.kind, failure.field)
    # set_additional_trainable_modules (utils/other.py:1535-1680), then the task heads added after
    wrapped = _wrapped(c, m.modules_to_save or [])
    _check_wrappable(inv, m, wrapped, "modules_to_save", "modules_to_save")
    tie_roots = _wrapped(c, m.modules_to_tie)
    _check_wrappable(inv, m, tie_roots, "modules_to_save", "ensure_weight_tying")
    tokens = _tokens(inv, spec, m, c)
    late = {n: e for n, e in _wrapped(c, m.late_modules_to_save).items() if n not in wrapped}
    _check_wrappable(inv, m, late, "modules_to_save", "target_modules")
    wrapped, tie_roots, late = sorted(wrapped), sorted(tie_roots), sorted(late)
    if unknown:
        raise Withheld(f"{unknown[0]} is not statically known")
    saved_roots = sorted(set(wrapped) | set(late))
    copies, frozen_lora = 0, 0
    done: set[str] = set()
    for name in saved_roots:
        canon = inv.aliases.get(name, name)
        if canon in done:
            continue
        done.add(canon)
        inside = [k for k in c.lora_params if _under(k, canon)]
        copies += inv.subtree_params(canon) + sum(c.lora_params[k] for k in inside)
        frozen_lora += sum(c.lora_params[k] for k in inside)
    bias = _bias(inv, spec, m, saved_roots + tie_roots)
    c.breakdown = {"lora": lora - frozen_lora, "bias": bias, "modules_to_save": copies, "trainable_tokens": tokens}
    c.total = inv.total_params + lora + copies + tokens
    c.trainable = 0 if spec.inference_mode is True else lora - frozen_lora + bias + copies + tokens


class Layers:
    """Creating the LoRA layers of one config: the Mamba check, the dispatcher, the layer's own
    checks (tuners_utils.py:968-975, tuners/lora/model.py:556-562, validate.layer_failure).
    ``layer_failure`` is a function of the module's kind, class and groups and of its rank and
    alpha (with their types: ``1``, ``1.0`` and ``True`` are equal keys but not equal values), so
    it runs once per distinct combination, not once per layer (an 80-layer model has 7 kinds)."""

    def __init__(self, inv: Inventory, spec: LoraSpec) -> None:
        self.inv, self.spec = inv, spec
        self.failures: dict[tuple, Failure | None] = {}

    def failure(self, mod: ModuleInfo, r, alpha) -> Failure | None:
        key = (mod.kind, mod.cls, mod.groups, type(r), r, type(alpha), alpha)
        try:
            return self.failures[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value (a list where a number goes): no memo
            return layer_failure(self.spec, mod.kind, r, alpha, mod.cls, mod.groups)
        found = self.failures[key] = layer_failure(self.spec, mod.kind, r, alpha, mod.cls, mod.groups)
        return found

    def create(self, c: Counts, key: str, values: tuple) -> int:
        """One module's LoRA layer; ``values``: (r, its rank_pattern key, alpha, its alpha_pattern key)."""
        inv, spec = self.inv, self.spec
        mod = inv.by_name[key]
        failure = mamba_failure(inv, key)
        if failure is not None:
            raise Raises(failure.exception, failure.message, failure.kind, failure.field,
                         _entry(spec.target_modules, key))
        if not mod.adaptable:
            raise Raises("ValueError", f"Target module {mod.cls}(...) is not supported. Currently, only the following "
                         "modules are supported: `torch.nn.Linear`, `torch.nn.Embedding`, `torch.nn.Conv1d`, "
                         "`torch.nn.Conv2d`, `torch.nn.Conv3d`, `transformers.pytorch_utils.Conv1D`, "
                         "`torch.nn.MultiheadAttention.`.", "unsupported", "target_modules",
                         _entry(spec.target_modules, key))
        r, rkey, alpha, akey = values
        failure = self.failure(mod, r, alpha)
        if failure is not None:
            if rkey is not None and failure.field == "r":  # the rank came from rank_pattern
                raise Raises(failure.exception, failure.message, "layer", "rank_pattern", rkey)
            if akey is not None and failure.field == "lora_alpha":  # the alpha came from alpha_pattern
                raise Raises(failure.exception, failure.message, "layer", "alpha_pattern", akey)
            raise Raises(failure.exception, failure.message, failure.kind, failure.field, failure.item)
        if not _is_int(r):
            return 0
        c.lora_params[key] = n = layer_params(mod, r, spec)
        return n


def _entry(entries, key: str):
    """The ``target_modules`` / ``target_parameters`` list element that matches ``key``, if any."""
    if not isinstance(entries, (list, tuple, set)):
        return None
    return next((e for e in entries if isinstance(e, str) and (key == e or key.endswith("." + e))), None)


def _type_name(inv: Inventory, name: str) -> str:
    mod = inv.module(name)
    return "Linear" if mod is None or mod.kind == "conv1d" else mod.cls


def _under(key: str, prefix: str) -> bool:
    return not prefix or key == prefix or key.startswith(prefix + ".")


def _check_param_wrapper(inv: Inventory, spec: LoraSpec, m: Match) -> None:
    """lora.ParamWrapper's constraints (tuners/lora/layer.py:2362-2377); fan_in_fan_out is the value
    the Linear/Conv1D dispatch left it at (layer.py:2751-2763)."""
    fan = spec.fan_in_fan_out
    for key in m.targeted:
        kind = inv.by_name[key].kind
        if kind == "linear":
            fan = False
        elif kind == "conv1d":
            fan = True
    checks = (("lora_dropout", spec.lora_dropout, "with lora_dropout != 0"), ("fan_in_fan_out", fan, "with fan_in_fan_out"),
              ("lora_bias", spec.lora_bias, "with lora_bias=True"), ("use_dora", spec.use_dora, "with use_dora=True"),
              ("velora_config", spec.velora_config is not None, "when `velora_config` is set"),
              ("kasa_config", spec.kasa_config is not None, "when `kasa_config` is set"))
    for name, value, text in checks:
        if value is not UNKNOWN and getattr(spec, name) is not UNKNOWN and value:
            raise Raises("ValueError", f"lora.ParamWrapper does not work {text}.", "param-wrapper", name)


_FORBIDDEN = ("ModuleDict", "ModuleList", "ParameterDict", "ParameterList")
_CONTAINERS = "torch.nn.modules.container"
#: inventory kind -> the lora layer class peft puts there (tuners/lora/layer.py:2724-2766)
_LORA_CLASSES = {"linear": "Linear", "conv1d": "Linear", "embedding": "Embedding", "mha": "MultiheadAttention"}


def _wrapped(c: Counts, entries) -> dict[str, str]:
    """Module name -> the entry that wraps it, in module order."""
    out: dict[str, str] = {}
    for e in entries:
        for n in c.saved.get(e, ()):
            out.setdefault(n, e)
    return out


def _check_wrappable(inv: Inventory, m: Match, wrapped: dict[str, str], what: str, field: str) -> None:
    """``AuxiliaryTrainingWrapper.check_module`` (utils/other.py:344-360): no containers of
    modules, no LoRA layer. ``wrapped``: module name -> the entry (of ``field``) that wraps it."""
    targeted = set(m.targeted)
    for name, entry in wrapped.items():
        mod = inv.module(name)
        if mod is not None and mod.cls in _FORBIDDEN:
            raise Raises("TypeError", f"{what} cannot be applied to modules of type <class '{_CONTAINERS}.{mod.cls}'>",
                         "wrapper", field, entry)
        if inv.aliases.get(name, name) in targeted:
            cls = _LORA_CLASSES.get(mod.kind, mod.cls) if mod is not None else "Linear"
            raise Raises("TypeError", f"{what} cannot be applied to modules of type <class "
                         f"'peft.tuners.lora.layer.{cls}'>", "wrapper", field, entry)


def _saved(inv: Inventory, m: Match) -> dict[str, list[str]]:
    """``_set_trainable``: ``key.endswith(entry)`` over named_modules(remove_duplicate=False),
    no dot boundary (utils/other.py:1085-1088)."""
    entries = list(dict.fromkeys([*(m.modules_to_save or []), *m.modules_to_tie, *m.late_modules_to_save]))
    out: dict[str, list[str]] = {e: [] for e in entries}
    if not entries:
        return out
    names = [n for n in inv.all_names() if n]
    for e in entries:
        out[e] = [n for n in names if n.endswith(e)]
    return out


def _bias(inv: Inventory, spec: LoraSpec, m: Match, saved_roots: list[str]) -> int:
    """``_mark_only_adapters_as_trainable`` (tuners_utils.py:506-537); a wrapped module's original
    is frozen again by ModulesToSaveWrapper.update (utils/other.py:662)."""
    if spec.bias == "none":
        return 0

    def free(name: str) -> bool:
        return not any(_under(name, s) for s in saved_roots)

    if spec.bias == "all":
        return sum(_numel(s) for n, s in inv.parameters.items()
                   if (n == "bias" or n.endswith(".bias")) and free(n.rpartition(".")[0]))
    total = 0  # "lora_only" and any other "*_only" (tuners_utils.py:534)
    for key in m.targeted:
        mod = inv.by_name[key]
        if mod.has_bias and free(key):
            total += _numel(inv.param_shape(f"{key}.bias") or ())
    return total


def _tokens(inv: Inventory, spec: LoraSpec, m: Match, c: Counts) -> int:
    """``set_additional_trainable_modules`` for trainable_token_indices (utils/other.py:1567-1680)."""
    tti = spec.trainable_token_indices
    if tti is None or tti is UNKNOWN:
        return 0
    if isinstance(tti, dict):
        if not all(isinstance(k, str) for k in tti):  # peft matches module names against each key
            raise Withheld("trainable_token_indices has a key that is not a module name")
        layers = tti
    elif isinstance(tti, list):
        layers = {inv.input_embeddings or "embed_tokens": tti}
    else:
        raise Withheld("trainable_token_indices is not a list or a dict")
    early = m.modules_to_save
    if early is not None:
        for layer in layers:
            if layer in early:
                raise Raises("ValueError", "The embedding layer is already marked to be trained fully, either "
                             f'specify `modules_to_save=[..., "{layer}", ...]` or `trainable_tokens='
                             f"{{'{layer}': x}}` but not both.", "tokens-conflict", "trainable_token_indices", layer)
    total = 0
    names = [n for n in inv.all_names() if n]
    skip = _tied_token_layers(inv, spec, layers)
    for layer, indices in layers.items():
        if layer in skip:
            continue
        hits = [n for n in names if n.endswith(layer)]
        if not hits:
            raise Raises("ValueError", f"Target modules {{{layer!r}}} not found in the base model. Please check the "
                         "target modules and try again.", "tokens-not-found", "trainable_token_indices", layer)
        _check_wrappable(inv, m, dict.fromkeys(hits, layer), "trainable_token_indices", "trainable_token_indices")
        if not isinstance(indices, list) or not all(_is_int(i) for i in indices):
            raise Withheld(f"trainable_token_indices[{layer!r}] is not a list of ints")
        for n in hits:
            mod = inv.module(n)
            dim = (mod.out_features if mod.kind == "embedding" else mod.in_features) or 0
            c.tokens[n] = len(indices) * dim
            total += len(indices) * dim
    return total


def _tied_token_layers(inv: Inventory, spec: LoraSpec, layers: dict) -> set[str]:
    """Tied layers given the same indices share the embedding's delta (utils/other.py:1596-1636)."""
    if len(layers) < 2 or not inv.tie_word_embeddings:
        return set()
    tied = set(inv.tied_to_embedding)
    emb = inv.input_embeddings or ""
    keys = [t for t in layers
            if emb.endswith(t) or any(n.endswith(t) or t in n.split(".") for n in tied)]
    if len(keys) < 2:
        return set()
    mismatch = not all(layers[k] == layers[keys[0]] for k in keys[1:])
    if mismatch and spec.ensure_weight_tying is True:
        info = ", ".join(f"{k}: {layers[k]}" for k in keys)
        raise Raises("ValueError", "Cannot ensure weight tying when different token indices are specified for tied "
                     f"layers. Conflicting layers: {info}. Please use the same indices for all tied layers or set "
                     "ensure_weight_tying=False.", "tied-tokens", "trainable_token_indices", keys[1])
    return set() if mismatch else set(keys) & tied


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
