from ..model import Severity
from ..peft_facts import facts
from ..registry import Evidence, Problem, rule
from ._model import example, failure_for, label, raises
from ._util import entries, explicit_first, real, strict, truthy, unset

SRC = "from peft import LoraConfig\n"


EVIDENCE = Evidence(
    claim=(
        "peft raises on these combinations when the config is built or the adapter injected; "
        "LLaMA-Factory raises at start-up on its own (quoted) combinations (the framework is not run "
        "here: its checks are read from its source and replayed)."
    ),
    code=(
        "peft 0.21.2 tuners/lora/config.py:1009-1116 LoraConfig.__post_init__",
        "peft 0.21.2 tuners/lora/layer.py:178-218 LoraLayer.resolve_lora_variant",
        "peft 0.21.2 tuners/lora/layer.py:2348-2389 ParamWrapper.__init__ (`does not work with lora_dropout != 0`)",
        "peft 0.21.2 utils/transformers_weight_conversion.py:402-484 _convert_peft_config_moe",
        "peft 0.21.2 utils/other.py:1535-1682 set_additional_trainable_modules (tokens and modules_to_save on one layer)",
        "LLaMA-Factory v0.9.5 src/llamafactory/hparams/finetuning_args.py:595-602 FinetuningArguments.__post_init__",
        "LLaMA-Factory v0.9.5 src/llamafactory/hparams/parser.py:180-203 _verify_model_args",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll009_fires_exactly_when_peft_rejects_the_combination",
        "tests/test_rule_claims.py::test_a_finding_says_peft_raises_exactly_when_it_does",
        "tests/test_dialect_differential.py::test_dialect_equals_the_framework",
    ),
)


@rule(
    "LL009", "conflicting-options", Severity.ERROR, uses_model=True,
    valid=[
        SRC + "LoraConfig(r=8, layers_to_transform=[0, 1], layers_pattern='layers', target_modules=['q_proj'])\n",
        SRC + "LoraConfig(r=8, lora_bias=True, init_lora_weights=False)\n",
        SRC + "LoraConfig(r=8, init_lora_weights='loftq', loftq_config={'loftq_bits': 4})\n",
        SRC + "LoraConfig(r=8, init_lora_weights='loftq', **kwargs)\n",
        SRC + "LoraConfig(target_modules=[], target_parameters=['mlp.experts.gate_up_proj'], lora_dropout=0.0)\n",
        SRC + "LoraConfig(r=8, use_dora=True, alora_invocation_tokens=None, velora_config=None)\n",
        SRC + "LoraConfig(r=8, use_dora=flag, alora_invocation_tokens=[42])\n",
        SRC + "LoraConfig(trainable_token_indices={'embed_tokens': [1, 2]}, modules_to_save=['lm_head'])\n",
        example("tiny-mixtral", "LoraConfig(target_modules='all-linear', lora_dropout=0.0)\n"),
        example("tiny-llama", "LoraConfig(target_modules='all-linear', lora_dropout=0.05)\n"),
    ],
    invalid=[
        SRC + "LoraConfig(r=8, layers_pattern='layers')  # error: LL009\n",
        example("tiny-mixtral", "LoraConfig(\n    target_modules='all-linear',\n    lora_dropout=0.05,  # error: LL009\n)\n"),
        SRC + "LoraConfig(target_modules='.*q_proj', layers_to_transform=[0])  # error: LL009\n",
        SRC + "LoraConfig(r=8, use_dora=True, lora_bias=True)  # error: LL009\n",
        SRC + "LoraConfig(r=8, init_lora_weights='pissa', lora_bias=True)  # error: LL009\n",
        SRC + "LoraConfig(r=8, init_lora_weights='loftq')  # error: LL009\n",
        SRC + "LoraConfig(r=8, megatron_config={'tensor_model_parallel_size': 2}, use_dora=True)  # error: LL009\n",
        SRC + "LoraConfig(target_parameters='mlp.experts.down_proj')  # error: LL009\n",
        SRC + "LoraConfig(\n    target_parameters=['mlp.experts.down_proj'],\n    lora_dropout=0.05,  # error: LL009\n)\n",
        SRC + "LoraConfig(\n    use_dora=True,\n    alora_invocation_tokens=[128009],  # error: LL009\n)\n",
        SRC + "LoraConfig(\n    trainable_token_indices={\n        'embed_tokens': [1, 2],  # error: LL009\n    },\n    modules_to_save=['embed_tokens'],\n)\n",
    ],
    evidence=EVIDENCE,
)
def conflicting_options(site, ctx):
    """## What it does
    Checks for combinations of settings that peft or the training framework rejects. In peft:
    `layers_pattern` without `layers_to_transform`; `layers_to_transform`/`layers_pattern`
    with a string (regex) `target_modules`; `lora_bias` with DoRA or with an
    `init_lora_weights` other than True/False; `init_lora_weights="loftq"` without
    `loftq_config`; DoRA with `megatron_config`; `target_parameters` given as a string, or
    together with `lora_dropout`, DoRA, `lora_bias`, `velora_config`, `kasa_config` or
    `fan_in_fan_out` (without `target_modules`); two LoRA variants at once (DoRA, aLoRA,
    VeLoRA, Arrow, BD-LoRA, MonteCLoRA, KaSA, MiCA; the list comes from the installed peft);
    the same embedding in
    `trainable_token_indices` (dict form) and `modules_to_save`; and framework-level
    contradictions such as axolotl's `adapter: qlora` without 4-bit loading. With the base model
    known, it also reports the `lora_dropout` (or DoRA, `lora_bias`, ...) that peft rejects when
    it turns the expert targets of a fused-MoE model into `target_parameters` itself.

    ## Why is this bad?
    peft raises when the config is built (`When layers_pattern is specified,
    layers_to_transform must also be specified`, `The argument lora_bias=True is not supported
    for DoRA`, `loftq_config must be specified when init_lora_weights is 'loftq'`), when the
    adapter is injected (`Invalid or unsupported variant combination: ('alora_invocation_tokens',
    'use_dora')`, `lora.ParamWrapper does not work with lora_dropout != 0.`), and the framework
    raises at start-up: after the environment is set up and, often, the model downloaded.
    Code paths (peft 0.21.2): `LoraConfig.__post_init__` (tuners/lora/config.py:1036-1088),
    `resolve_lora_variant` (tuners/lora/layer.py:178-213), `ParamWrapper.__init__`
    (tuners/lora/layer.py:2362-2378), the MoE conversion (utils/transformers_weight_conversion.py:402-487),
    `set_additional_trainable_modules` (utils/other.py:1567-1583).

    LLaMA-Factory (v0.9.5, `src/llamafactory/`; each message quotes the framework's words):
    LoRA with GaLore, APOLLO or BAdam (hparams/finetuning_args.py:595-596); `pissa_init` in
    PPO, KTO or DPO with a reference model (:601-602) or with ZeRO-3 (hparams/parser.py:377-378);
    `use_dora` on a GPTQ/AWQ/AQLM/EETQ/EXL2 checkpoint (model/adapter.py:219-220); `pissa_init`, `resize_vocab`,
    `create_new_adapter` or several adapters with `quantization_bit` (parser.py:188-202);
    `train_mm_proj_only` in a LoRA run (no such setting since v0.9.2, parser.py:102-107; up to
    v0.9.1 "only valid for full training", finetuning_args.py:394-395); `use_unsloth` with ZeRO-3
    (parser.py:409-410) or in PPO with a LoRA reward model (parser.py:342-343). LL010 reports the
    freeze-tuning options a LoRA run ignores (`freeze_trainable_modules`,
    `freeze_extra_modules`, `freeze_trainable_layers` without `use_llama_pro`: model/adapter.py:57-139).

    ## Example
    ```python
    LoraConfig(r=8, layers_pattern="layers")
    LoraConfig(target_parameters=["mlp.experts.down_proj"], lora_dropout=0.05)
    ```

    Use instead:
    ```python
    LoraConfig(r=8, layers_pattern="layers", layers_to_transform=[0, 1, 2])
    LoraConfig(target_parameters=["mlp.experts.down_proj"], lora_dropout=0.0)
    ```
    """
    yield from _layers(site)
    yield from _lora_bias(site)
    yield from _loftq(site)
    dora = truthy(site, "use_dora")
    megatron = truthy(site, "megatron_config")
    if dora is not None and megatron is not None:
        yield Problem(explicit_first(dora, megatron), (
            "use_dora=True with megatron_config: peft raises \"DoRA does not support megatron_core, "
            "please set `use_dora=False`\"; drop one of them"
        ))
    yield from _target_parameters(site)
    yield from _converted_experts(site, ctx)
    yield from _variants(site)
    yield from _trainable_tokens(site)


def _layers(site):
    pattern = site.get("layers_pattern")
    layers = site.params.get("layers_to_transform")
    if pattern is not None and _nonempty(pattern.value):
        if (layers is None and site.missing("layers_to_transform")) or (
            layers is not None and layers.known and layers.value is None and not unset(site, None)
        ):
            yield Problem(pattern, (
                "`layers_pattern` is set without `layers_to_transform`: peft raises ValueError "
                "(\"When `layers_pattern` is specified, `layers_to_transform` must also be specified\"); "
                "give the layer indices in `layers_to_transform`"
            ))
    target = site.get("target_modules")
    if target is None or not isinstance(target.value, str):
        return
    for name in ("layers_to_transform", "layers_pattern"):
        p = site.get(name)
        if p is not None and p.value is not None:
            yield Problem(p, (
                f"`{name}` cannot be used when `target_modules` is a string (a regex): peft raises "
                f"ValueError; list the module names in target_modules, or put the layer indices in the regex"
            ))


def _nonempty(value) -> bool:
    try:
        return bool(value)
    except Exception:
        return False


def _lora_bias(site):
    bias = truthy(site, "lora_bias")
    if bias is None:
        return
    init = site.get("init_lora_weights")
    if init is not None and not unset(site, init.value):
        try:
            bad = init.value not in (True, False)
        except Exception:
            bad = False
        if bad:
            yield Problem(bias, (
                f"lora_bias=True with init_lora_weights={init.value!r}: peft raises \"The argument "
                f"lora_bias=True is only supported with init_lora_weights=True or False\"; drop lora_bias "
                f"or use the default init"
            ))
    dora = truthy(site, "use_dora")
    if dora is not None:
        yield Problem(bias, (
            "lora_bias=True with use_dora=True: peft raises \"The argument lora_bias=True is not "
            "supported for DoRA, please pass use_dora=False\"; drop one of them"
        ))


def _loftq(site):
    init = site.get("init_lora_weights")
    if init is None or init.value != "loftq":
        return
    cfg = site.params.get("loftq_config")
    if cfg is None:
        missing = site.missing("loftq_config") and strict(site)
    else:
        missing = cfg.known and not unset(site, cfg.value) and not _nonempty(cfg.value)
    if missing:
        yield Problem(init, (
            "init_lora_weights='loftq' without loftq_config: peft raises ValueError (\"`loftq_config` "
            "must be specified when `init_lora_weights` is 'loftq'\"); pass "
            "loftq_config=LoftQConfig(loftq_bits=4)"
        ))


#: What a ParamWrapper (target_parameters) rejects: field -> peft's message fragment.
PARAM_WRAPPER = {
    "lora_dropout": "lora_dropout != 0",
    "fan_in_fan_out": "fan_in_fan_out",
    "lora_bias": "lora_bias=True",
    "use_dora": "use_dora=True",
    "velora_config": "when `velora_config` is set",
    "kasa_config": "when `kasa_config` is set",
}


def _target_parameters(site):
    tp = site.get("target_parameters")
    if tp is None:
        return
    if isinstance(tp.value, str):
        yield Problem(tp, (
            f"target_parameters={tp.value!r} is a string: peft raises TypeError (\"`target_parameters` "
            f"must be a list of strings or None\"); write [{tp.value!r}]"
        ))
        return
    if not isinstance(tp.value, (list, tuple)) or not tp.value:
        return
    for name, text in PARAM_WRAPPER.items():
        p = site.get(name)
        if p is None or unset(site, p.value):
            continue
        if name == "lora_dropout":
            d = real(site, p.value)
            on = d is not None and d != 0
        elif name in ("velora_config", "kasa_config"):
            on = p.value is not None
        else:
            on = _nonempty(p.value)
        if on and name == "fan_in_fan_out" and not _no_target_modules(site):
            # peft resets fan_in_fan_out to False on the first nn.Linear target it meets
            # (layer.py:2756), so it only reaches the ParamWrapper without target_modules.
            continue
        if on:
            where = p if not p.implicit else tp
            fix = "lora_dropout=0.0" if name == "lora_dropout" else f"remove `{name}`"
            yield Problem(where, (
                f"target_parameters cannot be combined with {name}={p.value!r}: peft raises "
                f"\"lora.ParamWrapper does not work with {text}\"; use {fix}"
            ))


def _converted_experts(site, ctx):
    """With transformers 5, peft turns a fused-MoE model's expert targets into target_parameters
    itself; the ParamWrapper constraints then apply to a config that never wrote them. Needs the
    model: only when the analysis predicts that failure (a written target_parameters is
    ``_target_parameters``' business)."""
    found = failure_for(site, ctx, "LL009")
    if found is None or found[2].kind != "param-wrapper" or site.get("target_parameters") is not None:
        return
    _, a, failure = found
    converted = list(dict.fromkeys(label(n) for n in a.targeted_parameters))
    name = failure.field
    p = site.params.get(name)
    where = p if p is not None and not p.implicit else site.params.get("target_modules") or site
    fix = "lora_dropout=0.0" if name == "lora_dropout" else f"remove `{name}`"
    shown = ", ".join(converted[:4]) + (" ..." if len(converted) > 4 else "")
    yield Problem(where, (
        f"on this fused-MoE model peft converts the expert targets into target_parameters"
        f"{f' ({shown})' if shown else ''}, and {raises(failure)}; use {fix}"
    ))


def _no_target_modules(site) -> bool:
    p = site.params.get("target_modules")
    if p is None:
        return site.missing("target_modules")
    return p.known and (p.value is None or (isinstance(p.value, (list, tuple, set)) and not p.value))


def _variants(site):
    info = facts().get("lora_variants")
    if not info:
        return
    active = []
    for name in info["fields"]:
        p = site.get(name)
        if p is None or unset(site, p.value):
            continue
        on = p.value is not None if isinstance(p.value, dict) else _nonempty(p.value)
        if on:
            active.append((name, p))
    init = site.get("init_lora_weights")
    if init is not None and init.value in info["init_values"]:
        active.append((init.value, init))
    if len(active) < 2:
        return
    combo = sorted(name for name, _ in active)
    if combo in info["linear_combinations"]:
        return
    where = explicit_first(*(p for _, p in sorted(active, key=lambda a: a[1].span, reverse=True)))
    names = tuple(combo)
    yield Problem(where, (
        f"{' and '.join(combo)} are LoRA variants that peft cannot combine: it raises \"Invalid or "
        f"unsupported variant combination: {names}\" when the adapter is created; keep one of them"
    ))


def _trainable_tokens(site):
    mts = site.get("modules_to_save")
    if mts is None or not isinstance(mts.value, (list, tuple)):
        return
    saved = {m for m in mts.value if isinstance(m, str)}
    for key, _, where in entries(site, "trainable_token_indices"):
        if key in saved:
            yield Problem(where, (
                f"trainable_token_indices trains tokens of {key!r}, which modules_to_save also trains fully: "
                f"peft raises \"The embedding layer is already marked to be trained fully\"; keep one of them"
            ))
