"""The value checks peft 0.21.2 makes outside matching, replayed: what ``LoraConfig(...)`` raises
(``config_failure``), what creating one LoRA layer raises (``layer_failure``) and what
``_mark_only_adapters_as_trainable`` raises for ``bias`` (``bias_failure``).

Each returns a ``Failure`` with peft's exception and words, or None. A value that is not
statically known (UNKNOWN) is never a failure. The config rules (LL003-LL009) report these
mistakes without a model, with their fixes; this replay is what the analysis and ``report`` use to
know that peft stops, and where (file:line in the installed peft 0.21.2).
"""

from __future__ import annotations

import math

from ..model import UNKNOWN
from ..peft_facts import facts
from .failure import Failure
from .spec import LoraSpec


def _known(*values) -> bool:
    return all(v is not UNKNOWN for v in values)


def _fail(exception: str, message: str, field: str, stage: str = "get_peft_model", kind: str = "config") -> Failure:
    return Failure(exception, message, kind, field, None, stage)


def config_failure(spec: LoraSpec) -> Failure | None:
    """``LoraConfig(**fields)``: config.py:95-100 (task type), tuners/lora/config.py:1036-1088."""
    def at_init(exception, message, field):
        return _fail(exception, message, field, "LoraConfig")

    task = spec.task_type
    if _known(task) and task is not None and task not in facts()["task_types"]:
        return at_init("ValueError", f"Invalid task type: '{task}'. Must be one of the following task types: "
                       f"{', '.join(facts()['task_types'])}.", "task_type")
    tp, tm, layers, pattern = spec.target_parameters, spec.target_modules, spec.layers_to_transform, spec.layers_pattern
    if isinstance(tp, str):
        return at_init("TypeError", "`target_parameters` must be a list of strings or None.", "target_parameters")
    if isinstance(tm, str) and _known(layers) and layers is not None:
        return at_init("ValueError", "`layers_to_transform` cannot be used when `target_modules` is a str.",
                       "layers_to_transform")
    if isinstance(tm, str) and _known(pattern) and pattern is not None:
        return at_init("ValueError", "`layers_pattern` cannot be used when `target_modules` is a str.", "layers_pattern")
    if _known(pattern, layers) and _truthy(pattern) and layers is None:
        return at_init("ValueError", "When `layers_pattern` is specified, `layers_to_transform` must also be "
                       "specified. ", "layers_pattern")
    dora, megatron, init = spec.use_dora, spec.megatron_config, spec.init_lora_weights
    if _known(dora, megatron) and _truthy(dora) and _truthy(megatron):
        return at_init("ValueError", "DoRA does not support megatron_core, please set `use_dora=False`.", "use_dora")
    if _known(init, spec.loftq_config) and init == "loftq" and not _truthy(spec.loftq_config):
        return at_init("ValueError", "`loftq_config` must be specified when `init_lora_weights` is 'loftq'.",
                       "init_lora_weights")
    bias = spec.lora_bias
    if _known(bias) and _truthy(bias):
        if _known(init) and init not in (True, False):
            return at_init("ValueError", "The argument lora_bias=True is only supported with init_lora_weights=True "
                           f"or False, got init_lora_weights={init} instead.", "lora_bias")
        if _known(dora) and _truthy(dora):
            return at_init("ValueError", "The argument lora_bias=True is not supported for DoRA, please pass "
                           "use_dora=False", "lora_bias")
    return None


def layer_failure(spec: LoraSpec, kind: str, r, alpha, cls: str = "Linear",
                  groups: int | None = None) -> Failure | None:
    """Creating one LoRA layer of ``kind`` (inventory kind) at rank ``r`` and ``lora_alpha``
    ``alpha`` (each after rank_pattern/alpha_pattern) (tuners/lora/layer.py):
    ``update_layer`` of Linear/Conv1D (:219-330), Embedding (:1207-1270), conv (:1547-1650);
    MultiheadAttention's own checks (:1926-1937); ``reset_lora_parameters`` (:332-342).
    A training framework may pass None for ``r`` or ``lora_alpha`` (axolotl, when lora_r or
    lora_alpha is unset): peft raises TypeError at the comparison or the division."""
    name = {"linear": "Linear", "conv1d": "Linear", "embedding": "Embedding", "mha": "MultiheadAttention"}.get(
        kind, cls)
    if kind == "mha":  # MultiheadAttention.__init__ (:1930-1937)
        for field, value, text in (("use_dora", spec.use_dora, "DoRA (yet), please set use_dora to False"),
                                   ("velora_config", spec.velora_config, "VeLoRA, please set `velora_config=None`."),
                                   ("kasa_config", spec.kasa_config, "KaSA, please set `kasa_config=None`.")):
            if _known(value) and (value is not None if field != "use_dora" else _truthy(value)):
                return _fail("ValueError", f"{name} does not support {text}", field, kind="layer")
    if kind == "conv":  # _ConvNd.__init__ (:1558-1568; its aLoRA check reads a kwarg peft does not pass)
        if _known(spec.velora_config) and spec.velora_config is not None:
            return _fail("ValueError", "VeLoRA does not support adapting conv layers.", "velora_config", kind="layer")
        if _known(r) and isinstance(r, int) and groups and r % groups:
            return _fail("ValueError", f"Targeting a {cls} with groups={groups} and rank {r}. Currently, support is "
                         "limited to conv layers where the rank is divisible by groups. Either choose a different "
                         "rank or do not target this specific layer.", "r", kind="layer")
    if kind == "embedding" and _known(spec.lora_bias) and _truthy(spec.lora_bias):
        return _fail("ValueError", f"lora_bias={spec.lora_bias} is not supported for Embedding.", "lora_bias",
                     kind="layer")
    if not _known(r):
        return None
    failure = rank_failure(r)
    if failure is not None:
        return failure
    variants = variant_failure(spec, kind)
    if variants is not None:
        return variants
    d = spec.lora_dropout
    if _known(d):
        if not isinstance(d, (int, float)):
            return _fail("TypeError", f"'>' not supported between instances of '{type(d).__name__}' and 'float'",
                         "lora_dropout")
        if d > 1 and not (isinstance(d, float) and math.isnan(d)):
            return _fail("ValueError", f"dropout probability has to be between 0 and 1, but got {d}", "lora_dropout")
    if isinstance(r, (bool, float)):  # nn.Linear(in, r) (layer.py:262), torch.randn((r, in)) for Embedding (:1241)
        fn = "randn" if kind == "embedding" else "empty"
        return _fail("TypeError", f"{fn}(): argument 'size' (position 1) must be tuple of ints, but found element "
                     f"of type {type(r).__name__} at pos 0", "r")
    if _known(alpha, spec.use_rslora) and not isinstance(alpha, (int, float)):  # lora_alpha / r, / √r with rsLoRA
        right = "float" if _truthy(spec.use_rslora) else "int"
        return _fail("TypeError", f"unsupported operand type(s) for /: '{type(alpha).__name__}' and '{right}'",
                     "lora_alpha")
    return _init_failure(spec, kind, r)


def rank_failure(r) -> Failure | None:
    """``if r <= 0: raise`` at the start of every ``update_layer`` (tuners/lora/layer.py:239-240,
    ParamWrapper :2427-2428)."""
    if r is UNKNOWN:
        return None
    if not isinstance(r, (int, float)):
        return _fail("TypeError", f"'<=' not supported between instances of '{type(r).__name__}' and 'int'", "r")
    if r <= 0:
        return _fail("ValueError", f"`r` should be a positive integer value but the value passed is {r}", "r")
    return None


def _init_failure(spec: LoraSpec, kind: str, r) -> Failure | None:
    init = spec.init_lora_weights
    if not _known(init):
        return None
    if kind in ("linear", "conv1d"):
        if isinstance(init, str) and init.startswith("pissa"):  # pissa_init (:429-454)
            parts = init.split("_niter_")
            if init == "pissa":
                return None
            if len(parts) == 2:
                try:
                    int(parts[1])
                except ValueError:
                    return _fail("ValueError", f"invalid literal for int() with base 10: {parts[1]!r}",
                                 "init_lora_weights")
                return None
            return _fail("ValueError", "init_lora_weights should be 'pissa' or 'pissa_niter_[number of iters]', got "
                         f"{init} instead.", "init_lora_weights")
        if isinstance(init, str) and (init.startswith("corda") or init.lower() in ("olora", "mica")):
            return None
        if init in ("loftq", "eva", "lora_ga"):
            return None
        if init == "orthogonal":
            if isinstance(r, int) and r % 2:
                return _fail("ValueError", f"Orthogonal initialization requires the LoRA rank to be even, got {r} "
                             "instead.", "init_lora_weights")
            return None
    elif kind == "embedding":
        if (isinstance(init, str) and init.lower() == "mica") or init in ("loftq", "lora_ga"):
            return None
    elif init in ("loftq", "lora_ga"):
        return None
    if not _truthy(init) or init is True:
        return None
    if not isinstance(init, str):  # reset_lora_parameters calls init.lower() (:340)
        return _fail("AttributeError", f"'{type(init).__name__}' object has no attribute 'lower'", "init_lora_weights")
    if init.lower() == "gaussian":
        return None
    return _fail("ValueError", f"Unknown initialization init_lora_weights={init!r}", "init_lora_weights")


def variant_failure(spec: LoraSpec, kind: str = "linear") -> Failure | None:
    """``resolve_lora_variant`` (layer.py:178-213): the active variants must be a combination the
    layer class supports (Linear: each variant alone; Embedding: DoRA or MiCA; conv: DoRA;
    ``kind="param"``, a target_parameters wrapper: none)."""
    info = facts().get("lora_variants")
    if not info:
        return None
    active = []
    for name in info["fields"]:
        v = getattr(spec, name, None)
        if v is UNKNOWN:
            return None
        if _truthy(v):
            active.append(name)
    init = spec.init_lora_weights
    if init is UNKNOWN:
        return None
    active += [v for v in info["init_values"] if init == v]
    combo = sorted(active)
    if kind == "param":  # lora.ParamWrapper keeps LoraLayer's default: no variant (layer.py:166-177)
        allowed = [[]]
    elif kind in ("linear", "conv1d"):
        allowed = info["linear_combinations"]
    else:
        allowed = info.get("layer_combinations", {}).get(kind, info["linear_combinations"])
    if combo in allowed:
        return None
    field = combo[0] if combo[0] in info["fields"] else "init_lora_weights"
    return _fail("ValueError", f"Invalid or unsupported variant combination: {tuple(combo)}", field,
                 kind="config" if len(combo) > 1 else "layer")


def bias_failure(spec: LoraSpec) -> Failure | None:
    """``_mark_only_adapters_as_trainable`` (tuners_utils.py:526-539)."""
    b = spec.bias
    if not _known(b) or b in ("none", "all"):
        return None
    if not isinstance(b, str):
        return _fail("AttributeError", f"'{type(b).__name__}' object has no attribute 'endswith'", "bias")
    if b.endswith("_only"):
        return None
    return _fail("NotImplementedError", f"Requested bias: {b}, is not implemented.", "bias")


def _truthy(value) -> bool:
    try:
        return bool(value)
    except Exception:
        return True
