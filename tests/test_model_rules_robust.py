"""Odd values never crash the model analysis or a model-aware rule, and the analysis stays
consistent with itself (hypothesis over peft's LoraConfig fields, real tiny models)."""

from differential import inventory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_lint.dialects import named
from lora_lint.engine import Resolution, model_rule_runs
from lora_lint.model import UNKNOWN, LoraSite, Param, Span
from lora_lint.models import analyze
from lora_lint.registry import Context
from lora_lint.rules import all_rules

MODELS = [("tiny-llama", None), ("tiny-llama-tied", None), ("tiny-mixtral", None), ("tiny-llava", None),
          ("tiny-gpt2", None), ("tiny-bert", "SequenceClassification"), ("tiny-qwen2-moe", None),
          ("tiny-jamba", None), ("tiny-t5", None)]
NAMES = ["q_proj", "v_proj", "k_proj", "lm_head", "embed_tokens", "c_attn", "query", "w1", "w2", "w3",
         "gate", "self_attn", "norm", "head", "score", "classifier", "layers", "", ".", "*", "q_proj|v_proj"]
weird = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=True), st.text(max_size=6),
                  st.just(UNKNOWN), st.lists(st.integers(-2, 9), max_size=3), st.just({}))
names = st.sampled_from(NAMES)
FIELDS = {
    "target_modules": st.one_of(st.lists(names, max_size=4), names, st.just("all-linear"), st.just(r".*\.q_proj"),
                                st.just("(unclosed"), weird),
    "exclude_modules": st.one_of(st.none(), st.lists(names, max_size=2), names, weird),
    "modules_to_save": st.one_of(st.none(), st.lists(names, max_size=3), weird),
    "layers_to_transform": st.one_of(st.none(), st.lists(st.integers(-1, 9), max_size=3), st.integers(-1, 9),
                                     st.tuples(st.integers(-1, 9)), st.builds(range, st.integers(-1, 3), st.integers(0, 9)),
                                     weird),
    "layer_replication": st.one_of(st.none(), st.lists(st.tuples(st.integers(-2, 6), st.integers(-2, 8)), max_size=2),
                                   weird),
    "init_lora_weights": st.one_of(st.sampled_from([True, False, "gaussian", "pissa", "kaiming", "orthogonal"]), weird),
    "layers_pattern": st.one_of(st.none(), st.sampled_from(["layers", "h", "block", "("]), weird),
    "rank_pattern": st.one_of(st.dictionaries(names, st.integers(-1, 128), max_size=2), weird),
    "alpha_pattern": st.one_of(st.dictionaries(names, st.integers(0, 64), max_size=2), weird),
    "task_type": st.one_of(st.sampled_from([None, "SEQ_CLS", "TOKEN_CLS", "QUESTION_ANS", "CAUSAL_LM", "causal"]),
                           weird),
    "r": st.one_of(st.integers(-2, 512), weird),
    "lora_alpha": weird,
    "use_dora": weird,
    "lora_bias": weird,
    "bias": st.one_of(st.sampled_from(["none", "all", "lora_only", "lora"]), weird),
    "target_parameters": st.one_of(st.none(), st.lists(st.sampled_from(["mlp.experts.gate_up_proj", "weight",
                                                                        "gate.weight"]), max_size=2), weird),
    "trainable_token_indices": st.one_of(st.none(), st.lists(st.integers(0, 5), max_size=3),
                                         st.dictionaries(names, st.lists(st.integers(0, 5), max_size=2), max_size=2),
                                         weird),
    "fan_in_fan_out": weird,
    "ensure_weight_tying": weird,
    "lora_dropout": weird,
}
SPAN = Span(1, 1, 1, 2)
RULES = [r for r in all_rules().values() if r.needs_model]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MODELS), st.fixed_dictionaries({}, optional=FIELDS), st.booleans(), st.booleans())
def test_no_crash(model, values, is_open, resizes):
    inv = inventory(*model)
    params = {k: Param(k, v, SPAN) for k, v in values.items()}
    site = LoraSite("x.py", named("peft"), SPAN, params, open=is_open, resizes_vocab=resizes)
    a = analyze(site, inv)
    if a.known and a.error is None and a.trainable is not None:
        assert 0 <= a.trainable <= a.total
        assert a.total >= inv.total_params
        assert set(a.targeted) <= set(a.match.inventory.by_name)
    found = Resolution(inv, a)
    for r in RULES:
        if not model_rule_runs(r, found):
            continue  # the engine does not run it on this site
        ctx = Context(options=dict(r.options), model=inv, analysis=a)
        for f in r.run(site, ctx):
            assert f.message and f.code == r.code
