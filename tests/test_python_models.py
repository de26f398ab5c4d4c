"""Which base model a Python LoRA site adapts (lora_lint.sources.python_models)."""

import textwrap

import pytest
from conftest import sites_for_text, source

from lora_lint.model import UNKNOWN


def models(src):
    return [
        (s.base_model.value if s.base_model else None, s.model_class)
        for s in sites_for_text("train.py", textwrap.dedent(src))
    ]


def test_get_peft_model_ties_the_config_to_the_model():
    got = models("""
        from transformers import AutoModelForSequenceClassification
        from peft import LoraConfig, get_peft_model
        MODEL = "Qwen/Qwen2.5-0.5B"
        model = AutoModelForSequenceClassification.from_pretrained(MODEL, num_labels=2)
        config = LoraConfig(r=8, target_modules=["q_proj"])
        model = get_peft_model(model, config)
    """)
    assert got == [("Qwen/Qwen2.5-0.5B", "AutoModelForSequenceClassification")]


def test_base_model_span_points_at_the_id_argument():
    src = textwrap.dedent("""
        import transformers, peft
        m = transformers.AutoModelForCausalLM.from_pretrained(pretrained_model_name_or_path="gpt2")
        peft.get_peft_model(m, peft.LoraConfig(r=8))
    """)
    (site,) = sites_for_text("t.py", src)
    assert site.base_model.key == "pretrained_model_name_or_path"
    assert (site.base_model.span.line, site.base_model.span.col) == (3, 85)
    assert site.model_class == "AutoModelForCausalLM"


def test_inline_config_and_wrappers_are_followed():
    got = models("""
        from transformers import LlamaForCausalLM, AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        base = LlamaForCausalLM.from_pretrained("meta-llama/Llama-3.2-1B").to("cuda")
        other = AutoModelForCausalLM.from_pretrained("gpt2")
        model = prepare_model_for_kbit_training(base)
        model = get_peft_model(model, LoraConfig(r=8))
    """)
    assert got == [("meta-llama/Llama-3.2-1B", "LlamaForCausalLM")]


def test_two_models_two_configs():
    got = models("""
        from transformers import AutoModelForCausalLM as M
        from peft import LoraConfig, get_peft_model
        a = M.from_pretrained("gpt2")
        b = M.from_pretrained("Qwen/Qwen2.5-0.5B")
        ca = LoraConfig(r=4)
        cb = LoraConfig(r=8)
        pa = get_peft_model(a, ca)
        pb = get_peft_model(model=b, peft_config=cb)
    """)
    assert got == [("gpt2", "AutoModelForCausalLM"), ("Qwen/Qwen2.5-0.5B", "AutoModelForCausalLM")]


def test_untied_config_takes_the_files_single_model():
    got = models("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig
        model = AutoModelForCausalLM.from_pretrained("gpt2")
        tok_model = AutoModelForCausalLM.from_pretrained("gpt2")
        config = LoraConfig(r=8)
    """)
    assert got == [("gpt2", "AutoModelForCausalLM")]


def test_several_models_and_no_tie_means_no_model():
    got = models("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig
        a = AutoModelForCausalLM.from_pretrained("gpt2")
        b = AutoModelForCausalLM.from_pretrained("Qwen/Qwen2.5-0.5B")
        config = LoraConfig(r=8)
    """)
    assert got == [(None, None)]


def test_unknown_id_is_recorded_as_unknown():
    got = models("""
        import os
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        def main(name):
            model = AutoModelForCausalLM.from_pretrained(name)
            return get_peft_model(model, LoraConfig(r=8))
    """)
    assert got == [(UNKNOWN, "AutoModelForCausalLM")]


def test_unsloth_tuple_unpacking_and_get_peft_model():
    got = models("""
        from unsloth import FastLanguageModel
        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name="unsloth/Llama-3.2-1B-Instruct", max_seq_length=2048, load_in_4bit=True)
        model = FastLanguageModel.get_peft_model(model, r=16, lora_alpha=16)
    """)
    assert got == [("unsloth/Llama-3.2-1B-Instruct", "AutoModelForCausalLM")]


def test_trl_trainer_with_a_model_id():
    got = models("""
        from trl import SFTTrainer, RewardTrainer
        from peft import LoraConfig
        cfg = LoraConfig(r=16)
        trainer = SFTTrainer(model="Qwen/Qwen2.5-0.5B", peft_config=cfg, train_dataset=ds)
    """)
    assert got == [("Qwen/Qwen2.5-0.5B", "AutoModelForCausalLM")]


def test_add_adapter_on_a_loaded_model():
    got = models("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig
        model = AutoModelForCausalLM.from_pretrained("gpt2")
        other = AutoModelForCausalLM.from_pretrained("Qwen/Qwen2.5-0.5B")
        model.add_adapter(LoraConfig(r=8))
    """)
    assert got == [("gpt2", "AutoModelForCausalLM")]


@pytest.mark.parametrize("src", [
    # a tokenizer or a config is not a model
    """
    from transformers import AutoTokenizer, AutoConfig
    from peft import LoraConfig
    tok = AutoTokenizer.from_pretrained("gpt2")
    cfg = AutoConfig.from_pretrained("gpt2")
    LoraConfig(r=8)
    """,
    # a user class called from_pretrained is not transformers'
    """
    from peft import LoraConfig
    class Mine:
        pass
    m = Mine.from_pretrained("gpt2")
    LoraConfig(r=8)
    """,
    # an id that is not a string
    """
    from transformers import AutoModel
    from peft import LoraConfig
    m = AutoModel.from_pretrained(42)
    LoraConfig(r=8)
    """,
])
def test_no_model(src):
    got = models(src)
    assert got in ([(None, None)], [(UNKNOWN, "AutoModel")])


def test_self_referential_bindings_terminate():
    got = models("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=8))
        model = get_peft_model(model, model)
    """)
    assert got == [(None, None)]


def test_comment_overrides_the_model_for_every_site():
    src = textwrap.dedent("""
        from transformers import AutoModelForSequenceClassification
        from peft import LoraConfig, get_peft_model
        s = "# lora-lint: base-model=not/this-one"
        m = AutoModelForSequenceClassification.from_pretrained("gpt2")
        get_peft_model(m, LoraConfig(r=8))
        LoraConfig(r=4)
          # lora-lint: base-model=Qwen/Qwen2.5-0.5B
    """)
    sites = sites_for_text("t.py", src)
    assert [(s.base_model.value, s.model_class) for s in sites] == [
        ("Qwen/Qwen2.5-0.5B", "AutoModelForSequenceClassification"),
        ("Qwen/Qwen2.5-0.5B", "AutoModelForSequenceClassification"),  # the file's single model
    ]
    assert sites[0].base_model.key == "lora-lint: base-model"
    assert (sites[0].base_model.span.line, sites[0].base_model.span.col) == (8, 27)


def test_yaml_comment_is_found_but_not_inside_a_value():
    from lora_lint.directives import model_directives

    def base_model_comment(path, text):
        return model_directives(source(path, text)).get("base-model")

    text = 'url: "http://x#lora-lint: base-model=no"\n# lora-lint: base-model="meta-llama/Llama-3.2-1B"\n'
    p = base_model_comment("c.yaml", text)
    assert p.value == "meta-llama/Llama-3.2-1B" and p.span.line == 2
    assert base_model_comment("c.yaml", "a: 1 # lora-lint: base-model=gpt2\n").value == "gpt2"
    assert base_model_comment("c.yaml", "a: b#lora-lint: base-model=gpt2\n") is None


def test_comment_model_class():
    src = "from peft import LoraConfig\nLoraConfig(r=8)\n# lora-lint: base-model=gpt2 model-class=SequenceClassification\n"
    (site,) = sites_for_text("t.py", src)
    assert (site.base_model.value, site.model_class) == ("gpt2", "SequenceClassification")
    (site,) = sites_for_text("t.py", "from peft import LoraConfig\nLoraConfig(r=8)  # lora-lint: model-class=X\n")
    assert (site.base_model, site.model_class) == (None, "X")


def test_revision_is_recorded():
    (site,) = sites_for_text("t.py", textwrap.dedent("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        REV = "v2.0"
        m = AutoModelForCausalLM.from_pretrained("org/m", revision=REV)
        get_peft_model(m, LoraConfig(r=8))
    """))
    assert site.ctx("base_model_revision").value == "v2.0"


def test_json_has_no_comments():
    from lora_lint.directives import model_directives

    assert model_directives(source("adapter_config.json", '{"note": "x # lora-lint: base-model=y"}')) == {}
