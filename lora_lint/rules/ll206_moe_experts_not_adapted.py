from collections import Counter

from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import example, plural, py_list, where

EXPERT_LEAVES = frozenset({"gate_proj", "up_proj", "down_proj", "w1", "w2", "w3", "gate_up_proj",
                           "fc1", "fc2", "experts", "mlp", "feed_forward", "block_sparse_moe"})


def by_leaf(names):
    counts = Counter(names)
    return ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in counts.items())


def _short(name):
    """``shared_expert.gate_proj`` for ``model.layers.0.mlp.shared_expert.gate_proj``."""
    parts = name.split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 and not parts[-2].isdigit() and parts[-2] != "mlp" else parts[-1]


EVIDENCE = Evidence(
    claim=(
        "On a model with fused 3-D experts (Qwen2-MoE), expert projection names and `all-linear` adapt "
        "only the shared expert and dense layers; the routed experts get no adapter (no "
        "`target_parameters`) and nothing warns."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:2430-2492 _maybe_include_all_linear_layers",
        "peft 0.21.2 utils/transformers_weight_conversion.py:402-484 _convert_peft_config_moe",
        "peft 0.21.2 tuners/tuners_utils.py:1155-1257 BaseTuner._inject_parameters",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll206_fused_experts_get_no_adapter",
    ),
)


@rule(
    "LL206", "moe-experts-not-adapted", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-qwen2-moe", 'LoraConfig(target_modules=["q_proj", "v_proj"])\n'),
        example("tiny-qwen2-moe", 'LoraConfig(\n    target_modules=["q_proj", "v_proj"],\n'
                '    target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"],\n)\n'),
        example("tiny-mixtral", 'LoraConfig(target_modules=["q_proj", "w1", "w2", "w3"])\n'),
        # peft raises (it cannot convert gate_proj without up_proj): LL211 says so, no adapter to describe
        example("tiny-qwen3-moe", 'LoraConfig(target_modules=["q_proj", "gate_proj", "down_proj"])\n'),
    ],
    invalid=[
        example("tiny-qwen2-moe", 'LoraConfig(target_modules=["q_proj", "gate_proj", "up_proj", "down_proj"])'
                '  # error: LL206\n'),
        example("tiny-qwen2-moe", 'LoraConfig(target_modules="all-linear")  # error: LL206\n'),
    ],
    evidence=EVIDENCE,
)
def moe_experts_not_adapted(site, ctx):
    """## What it does
    Checks, on a mixture-of-experts model whose experts are stored as fused 3-D parameters
    (transformers 5: `mlp.experts.gate_up_proj`, `mlp.experts.down_proj`), that a config aiming at
    the MLP (expert projection names or `all-linear`) really adapts the routed experts, i.e. that
    they end up in peft's `target_parameters`.

    ## Why is this bad?
    Fused experts are not `nn.Linear` modules, so `target_modules` cannot reach them: names like
    `gate_proj`/`up_proj`/`down_proj` then adapt only the shared expert or the dense layers, and
    `all-linear` adapts attention and the shared expert but none of the routed experts, which hold
    most of the model's weights. Nothing warns. (For Mixtral and Qwen3-MoE, peft 0.21 converts the
    old expert names into `target_parameters` itself, so they are fine.) The rule reports only
    configs peft accepts (where it raises, LL201/LL211 say so); the adapted modules are peft's
    own matching (tuners/tuners_utils.py:2337-2412, 2430-2490) after its MoE conversion
    (utils/transformers_weight_conversion.py:402-487), and fused experts are reached only through
    `target_parameters` (`_inject_parameters`, tuners_utils.py:1155-1260), all peft 0.21.2.

    ## Example
    ```python
    # base model: Qwen/Qwen1.5-MoE-A2.7B (qwen2_moe)
    LoraConfig(target_modules=["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"])
    ```

    Use instead:
    ```python
    LoraConfig(
        target_modules=["q_proj", "v_proj"],
        target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"],
        lora_dropout=0.0,  # target_parameters needs it
    )
    ```
    """
    inv, a = ctx.model, ctx.analysis
    fused = inv.fused_experts()
    if not fused or any(p in fused for p in a.targeted_parameters):
        return
    targets = a.spec.target_modules
    framework = a.framework.get("target_modules")
    aimed = a.match.all_linear or (framework is not None and framework.option("all_linear")) or (
        isinstance(targets, (list, tuple, set)) and any(t.rpartition(".")[2] in EXPERT_LEAVES for t in targets)
    ) or (isinstance(targets, str) and any(n.rpartition(".")[2] in EXPERT_LEAVES for n in a.targeted))
    if not aimed:
        return
    suffixes = list(dict.fromkeys(".".join(n.split(".")[-3:]) for n in fused))
    experts = inv.param_shape(fused[0])[0]
    mlp = [n for n in a.targeted if n.rpartition(".")[2] in EXPERT_LEAVES or "expert" in n]
    got = f"adapts only {by_leaf(_short(n) for n in mlp)}" if mlp else "adapts no MLP weights"
    what = ("all-linear" if a.match.all_linear else f"`{framework.setting}`" if framework is not None
            else f"target_modules={targets!r}")
    # the advice names the setting as the file writes it; a framework without one is not told to add it
    key = site.dialect.spelling("target_parameters") if site.dialect.can_set("target_parameters") else None
    advice = (f"add {key}={py_list(suffixes)} (with lora_dropout=0)" if key is not None else
              f"only peft's target_parameters={py_list(suffixes)} (with lora_dropout=0) reaches them")
    yield Problem(where(site, "target_modules"), (
        f"{inv.architecture} stores its {plural(experts, 'routed expert')} per layer as fused parameters"
        f" ({', '.join(suffixes)}), which target_modules cannot reach: {what} {got}, not the routed experts;"
        f" {advice}"
    ))
