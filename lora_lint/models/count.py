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
from .inventory import Inventory, ModuleInfo
from .match import Match
from .spec import LoraSpec


class CountError(Exception):
    """peft would raise while creating a layer or a wrapper (the message says why)."""

    def __init__(self, message: str, kind: str = "layer"):
        super().__init__(message)
        self.kind = kind


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
    error: str | None = None
    error_kind: str | None = None
    approximate: bool = False


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
    """LoRA parameters peft creates for ``mod`` at rank ``r``."""
    i, o = mod.in_features or 0, mod.out_features or 0
    dora, lbias = spec.use_dora is True, spec.lora_bias is True
    if mod.kind in ("linear", "conv1d"):
        return r * (i + o) + (o if dora else 0) + (o if lbias else 0)
    if mod.kind == "embedding":
        if lbias:
            raise CountError("lora_bias=True is not supported for nn.Embedding")
        return r * (i + o) + (o if dora else 0)
    if mod.kind == "conv":
        g = mod.groups or 1
        if r % g:
            raise CountError(f"Targeting a {mod.cls} with groups={g} and rank {r}: the rank must be divisible by groups")
        k = 1
        for d in mod.kernel or ():
            k *= d
        return r * i * k + o * (r // g) + (o if dora else 0) + (o if lbias else 0)
    if mod.kind == "mha":
        if dora:
            raise CountError("MultiheadAttention does not support DoRA (yet), please set use_dora to False")
        e = i
        return r * (e + 3 * e) + r * (e + e) + (3 * e + e if lbias else 0)
    raise CountError(f"Target module {mod.cls} is not supported")


def param_params(shape: tuple[int, ...], r: int) -> int:
    if len(shape) == 3:
        e, a, b = shape
    elif len(shape) == 2:
        e, a, b = 1, shape[1], shape[0]
    else:
        raise CountError(f"only 2-d and 3-d parameters can be targeted, got {len(shape)}-d")
    return r * e * (a + b)


def count(inv: Inventory, spec: LoraSpec, m: Match) -> Counts:
    c = Counts()
    try:
        _count(inv, spec, m, c)
    except CountError as e:
        c.error, c.error_kind = str(e), e.kind
        c.trainable = c.total = None
    return c


def _count(inv: Inventory, spec: LoraSpec, m: Match, c: Counts) -> None:
    numbers_known = all(v is not UNKNOWN for v in (spec.r, spec.lora_alpha, spec.use_dora, spec.lora_bias,
                                                   spec.bias, spec.trainable_token_indices, spec.inference_mode,
                                                   spec.lora_dropout, spec.fan_in_fan_out))
    patterns_known = all(v is not UNKNOWN for v in m.rank_pattern.values())
    rk, ak = compile_patterns(m.rank_pattern), compile_patterns(m.alpha_pattern)
    for key in [*m.targeted, *m.targeted_parameters]:
        r, _ = pattern_value(m.rank_pattern, rk, key, spec.r)
        a, _ = pattern_value(m.alpha_pattern, ak, key, spec.lora_alpha)
        if _is_int(r):
            c.rank[key] = r
        if _is_num(a):
            c.alpha[key] = a
    c.saved = _saved(inv, m)
    if not (numbers_known and patterns_known) or m.error:
        return
    if spec.ensure_weight_tying is True and inv.tied_to_embedding:
        c.approximate = True  # tied adapters share weights in ways not replayed here
        return
    lora = 0
    for key in m.targeted:
        r = c.rank.get(key)
        if r is None or r <= 0:
            raise CountError(_rank_error(pattern_value(m.rank_pattern, rk, key, spec.r)[0]))
        _check_alpha(m, ak, key, spec)
        c.lora_params[key] = n = layer_params(inv.by_name[key], r, spec)
        lora += n
    if m.targeted_parameters:
        _check_param_wrapper(inv, spec, m)
    for key in m.targeted_parameters:
        r = c.rank.get(key)
        if r is None or r <= 0:
            raise CountError(f"`r` should be a positive integer value but the value passed is {r}")
        c.lora_params[key] = n = param_params(inv.param_shape(key), r)
        lora += n
    saved_roots = sorted({n for names in c.saved.values() for n in names})
    _check_wrappable(inv, m, saved_roots, "modules_to_save")
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
    bias = _bias(inv, spec, m, saved_roots)
    tokens = _tokens(inv, spec, m, c)
    c.breakdown = {"lora": lora - frozen_lora, "bias": bias, "modules_to_save": copies, "trainable_tokens": tokens}
    c.total = inv.total_params + lora + copies + tokens
    c.trainable = 0 if spec.inference_mode is True else lora - frozen_lora + bias + copies + tokens


def _rank_error(r) -> str:
    """What ``update_layer`` raises for rank ``r`` (tuners/lora/layer.py:239-240, then torch)."""
    if isinstance(r, (bool, float)):
        return (f"empty(): argument 'size' (position 1) must be tuple of ints, but found element of type"
                f" {type(r).__name__} at pos 0")
    if not isinstance(r, int):
        return f"'<=' not supported between instances of '{type(r).__name__}' and 'int'"
    return f"`r` should be a positive integer value but the value passed is {r}"


def _check_alpha(m: Match, ak, key: str, spec: LoraSpec) -> None:
    """``update_layer`` divides lora_alpha by r (√r with rsLoRA) after checking r
    (tuners/lora/layer.py:239-281): an alpha that is not a number raises TypeError there."""
    a, _ = pattern_value(m.alpha_pattern, ak, key, spec.lora_alpha)
    if not isinstance(a, (int, float)):
        right = "float" if spec.use_rslora else "int"
        raise CountError(f"unsupported operand type(s) for /: '{type(a).__name__}' and '{right}'")


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
    if spec.lora_dropout:
        raise CountError("lora.ParamWrapper does not work with lora_dropout != 0.")
    if fan:
        raise CountError("lora.ParamWrapper does not work with fan_in_fan_out.")
    if spec.lora_bias:
        raise CountError("lora.ParamWrapper does not work with lora_bias=True.")
    if spec.use_dora:
        raise CountError("lora.ParamWrapper does not work with use_dora=True.")


_FORBIDDEN = ("ModuleDict", "ModuleList", "ParameterDict", "ParameterList")


def _check_wrappable(inv: Inventory, m: Match, names, what: str) -> None:
    """``AuxiliaryTrainingWrapper.check_module`` (utils/other.py:344-360): no containers of
    modules, no LoRA layer."""
    targeted = set(m.targeted)
    for name in names:
        mod = inv.module(name)
        if mod is not None and mod.cls in _FORBIDDEN:
            raise CountError(f"{what} cannot be applied to modules of type {mod.cls}", "wrapper")
        if inv.aliases.get(name, name) in targeted:
            raise CountError(f"{what} cannot be applied to modules of type lora.{mod.cls if mod else '?'}"
                             f" ({name} is also adapted with LoRA)", "wrapper")


def _saved(inv: Inventory, m: Match) -> dict[str, list[str]]:
    """``_set_trainable``: ``key.endswith(entry)`` over named_modules(remove_duplicate=False),
    no dot boundary (utils/other.py:1085-1088)."""
    entries = list(dict.fromkeys([*(m.modules_to_save or []), *m.late_modules_to_save]))
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
    if spec.bias not in ("all", "lora_only"):
        raise CountError(f"Requested bias: {spec.bias}, is not implemented.")

    def free(name: str) -> bool:
        return not any(_under(name, s) for s in saved_roots)

    if spec.bias == "all":
        return sum(_numel(s) for n, s in inv.parameters.items()
                   if (n == "bias" or n.endswith(".bias")) and free(n.rpartition(".")[0]))
    total = 0
    for key in m.targeted:
        mod = inv.by_name[key]
        if mod.has_bias and free(key):
            total += _numel(inv.param_shape(f"{key}.bias") or ())
    return total


def _tokens(inv: Inventory, spec: LoraSpec, m: Match, c: Counts) -> int:
    """``set_additional_trainable_modules`` for trainable_token_indices (utils/other.py:1577-1680)."""
    tti = spec.trainable_token_indices
    if tti is None:
        return 0
    if isinstance(tti, dict):
        layers = tti
    elif isinstance(tti, list):
        layers = {inv.input_embeddings or "embed_tokens": tti}
    else:
        raise CountError("trainable_token_indices is not a list or a dict")
    early = m.modules_to_save or []
    total = 0
    names = [n for n in inv.all_names() if n]
    skip = _tied_token_layers(inv, spec, layers)
    for layer, indices in layers.items():
        if layer in skip:
            continue
        if not isinstance(indices, list) or not all(_is_int(i) for i in indices):
            raise CountError(f"trainable_token_indices[{layer!r}] is not a list of int")
        if layer in early:
            raise CountError("The embedding layer is already marked to be trained fully, either specify "
                             f'`modules_to_save=[..., "{layer}", ...]` or `trainable_tokens='
                             f"{{'{layer}': x}}` but not both.")
        hits = [n for n in names if n.endswith(layer)]
        if not hits:
            raise CountError(f"Target modules {{{layer!r}}} not found in the base model.", "tokens-not-found")
        _check_wrappable(inv, m, hits, "trainable tokens")
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
        raise CountError("Cannot ensure weight tying when different token indices are specified for tied layers.")
    return set() if mismatch else set(keys) & tied


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
