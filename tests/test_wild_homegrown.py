"""Real home-grown configs and saved adapters (the wild corpus' ``homegrown`` YAML/JSON files and
``adapters``): every LoRA configuration is found and read as what it is, its base model named
where the file names it (their warnings and errors are judged with the whole corpus' in
test_corpus_verdicts.py).

How the expected sites were made: each file was read with the code that reads it (its
``paired_with`` reader in SOURCES.tsv) and counted as one site per LoRA configuration:

* saved adapters (``inference_mode: true``): one ``saved-adapter`` each, the model from
  ``base_model_name_or_path``;
* a peft-layout JSON read with ``LoraConfig.from_json_file`` (MolTC): ``adapter_config``;
* the ms-swift run record and the Hydra ``_target_: peft.LoraConfig`` group: their frameworks;
* mistral-finetune's ``lora: {rank}``, MindFormers' ``pet_config`` and deep_training's ``lora:``
  (with ``with_lora``): LoRA implementations of their own, which never reach peft;
* every other file: one home-grown block (flat, nested under ``lora``/``peft_config``/
  ``lora_config``/``model``/``config.lora``/``policy.lora_config``, a W&B sweep's parameters,
  LightningCLI's ``model:``). The zenith and LeRobot blocks also feed LoRA code of their own, but
  nothing in the YAML proves it: read as home-grown, they give no finding.

Base models: ``mnoumanhanif`` lists three (``llm_models``), MiniGPT-4's is a ``/path/to``
placeholder, forgeML's is in a parent file that is not here, and the others name none.
"""

from pathlib import Path

import pytest

from lora_lint.report import as_dict, collect
from lora_lint.settings import Settings

WILD = (Path(__file__).resolve().parents[2] / "shared" / "corpus-wild").resolve()
SAVED = "saved-adapter"
EXPECTED = {
    "adapters/AidenGatani__Emotion-Classifier__emotion-distilbert/adapter_config.json": [(SAVED, "distilbert-base-uncased")],
    "adapters/AshChadha-iitg__OpenMath__qwen25-math-1.5b/adapter_config.json": [(SAVED, "Qwen/Qwen2.5-Math-1.5B")],
    "adapters/CogniX-LTD__Cogni-OpenModel__llama31-unsloth-dup-targets/adapter_config.json": [(SAVED, "unsloth/meta-llama-3.1-8b-bnb-4bit")],
    "adapters/DiMarcoSK__aya__tinyllama-aya/adapter_config.json": [(SAVED, "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T")],
    "adapters/Facico__Chinese-Vicuna__instruct/adapter_config.json": [(SAVED, "decapoda-research/llama-7b-hf")],
    "adapters/GAuRaV27k__llama-3.2-qlora-safety-finetuning__llama32-3b-rank4/adapter_config.json": [(SAVED, "meta-llama/Llama-3.2-3B-Instruct")],
    "adapters/HRF001__gemma-text-to-sql__gemma3-1b-sql/adapter_config.json": [(SAVED, "google/gemma-3-1b-it")],
    "adapters/HeavyMetalAlchemist__phi3-lora-structured-output__phi3-structured/adapter_config.json": [(SAVED, "microsoft/Phi-3-mini-4k-instruct")],
    "adapters/Kartik87580__Text_Classification__roberta-seqcls/adapter_config.json": [(SAVED, "FacebookAI/roberta-base")],
    "adapters/Kimiko-AI__LoRa-traingcode__lora-alpaca/adapter_config.json": [(SAVED, "EleutherAI/pythia-70m-deduped")],
    "adapters/WashU-IT-RIS__alpaca-lora__weights/adapter_config.json": [(SAVED, "yahma/llama-7b-hf")],
    "adapters/bobotsalos__FinGPT__fingpt-nasdaq-ckpt1000/adapter_config.json": [(SAVED, "meta-llama/Meta-Llama-3-8B")],
    "adapters/darwinj07__KoAlpaca-lora__koalpaca-llama1/adapter_config.json": [(SAVED, "beomi/KoAlpaca-llama-1-7b")],
    "adapters/juyongjiang__CodeUp__codeup-sft-code/adapter_config.json": [(SAVED, "models/codeup_llama3_lora_sft_math")],
    "adapters/marioyyds__ChatGLM-Tuning__chatglm-6b/adapter_config.json": [(SAVED, "models/chatglm-6b")],
    "adapters/pmcavallo__CreditNLP__mistral-creditnlp/adapter_config.json": [(SAVED, "mistralai/Mistral-7B-Instruct-v0.3")],
    "adapters/shettysaish20__era-phi-2-oasst-instruct__phi2-oasst/adapter_config.json": [(SAVED, "microsoft/phi-2")],
    "adapters/takaaki-inada__rinna-3.6b-hello-zundamon-ai__rinna-neox/adapter_config.json": [(SAVED, "rinna/japanese-gpt-neox-3.6b-instruction-ppo")],
    "homegrown/Cirrhosis233__11667-NLP2SQL__sqlcoder-v1-json.json": [("home-grown", "defog/sqlcoder-7b-2")],
    "homegrown/DiMarcoSK__aya__lora-default-yaml.yaml": [("home-grown", "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T")],
    "homegrown/GAuRaV27k__llama-3.2-qlora-safety-finetuning__rank16-experiment-summary.json": [("home-grown", "meta-llama/Llama-3.2-3B-Instruct")],
    "homegrown/Inishpy__lerobot-libero__smolvla-lora-test.yaml": [("home-grown", None)],
    "homegrown/KU-AGI__FiMR__peft-lora-yaml.yaml": [("home-grown", None)],
    "homegrown/LianjiaTech__BELLE__lora-config-bloom.json": [("home-grown", None)],
    "homegrown/LianjiaTech__BELLE__lora-config-llama.json": [("home-grown", None)],
    "homegrown/MangoKiller__MolTC__lora-config-json.json": [("adapter_config", None)],
    "homegrown/ScientiaCapital__unsloth-mcp-server__grpo-config.yaml": [("home-grown", "unsloth/Qwen2.5-3B-Instruct")],
    "homegrown/THUDM__ChatGLM3__finetune-demo-lora-yaml.yaml": [("home-grown", None)],
    "homegrown/THUDM__GLM-4__finetune-lora-yaml.yaml": [("home-grown", None)],
    "homegrown/Vision-CAIR__MiniGPT-4__minigptv2-finetune.yaml": [("home-grown", None)],
    "homegrown/anyscale__templates__llmforge-mixtral-lora.yaml": [("home-grown", "mistralai/Mixtral-8x7B-Instruct-v0.1")],
    "homegrown/avnlp__llm-finetuning__medqa-train-config.yaml": [("home-grown", "unsloth/Qwen3-4B-unsloth-bnb-4bit")],
    "homegrown/avnlp__llm-finetuning__phi4-grpo-yaml.yaml": [("home-grown", "unsloth/Phi-4")],
    "homegrown/cattolatte__zenith-nlp-framework__zenith-peft-lora.yaml": [("home-grown", None)],
    "homegrown/chenghaoYang__Finetuning_LLM__petl-yaml.yaml": [("deep-training", None)],
    "homegrown/georgesung__llm_qlora__llama3-8b-chat-uncensored.yaml": [("home-grown", "meta-llama/Meta-Llama-3-8B")],
    "homegrown/georgian-io__LLM-Finetuning-Toolkit__llmtune-config.yml": [("home-grown", "facebook/opt-125m")],
    "homegrown/jasonm4130__formrecap-lora-classifier__gemma-2b-nodora-manifest.json": [("home-grown", "google/gemma-2b-it")],
    "homegrown/jimzhou03__GLM-4-9B-LoRA-HateSpeech__glm4-9b-lora-final.json": [("ms-swift", "GLM-4-9B-0414")],
    "homegrown/kkrishna-labs__forgeML__lora-r16-yaml.yaml": [("home-grown", None)],
    "homegrown/liguodongiot__llm-action__mindformers-baichuan2-7b-lora.yaml": [("mindformers", None)],
    "homegrown/mariovas3__bert-lora__lightningcli-fit-config.yaml": [("home-grown", None)],
    "homegrown/martin-wey__peft-llm-code__lora-sweep.yaml": [("home-grown", None)],
    "homegrown/martin503__ll3m__hydra-peft-lora.yaml": [("hydra", None)],
    "homegrown/mistralai__mistral-finetune__example-7b-yaml.yaml": [("mistral-finetune", None)],
    "homegrown/mnoumanhanif__multimodal-story-generation-T5-LoRA__t5-story-default-yaml.yaml": [("home-grown", None)],
    "homegrown/shreyashreddyk__json-extraction-qlora-dpo__sft-yaml.yaml": [("home-grown", "Qwen/Qwen2.5-1.5B-Instruct")],
    "homegrown/techwithsergiu__qwen-qlora-train__qwen35-0.8b-yaml.yaml": [("home-grown", "techwithsergiu/Qwen3.5-text-0.8B-bnb-4bit")],
}

pytestmark = pytest.mark.skipif(not WILD.is_dir(), reason="the wild corpus is not next to the repository")


def configs() -> list[Path]:
    """The YAML/JSON files of the two folders (the homegrown folder's .py readers are not configs)."""
    return sorted(p for folder in ("homegrown", "adapters") for p in (WILD / folder).rglob("*")
                  if p.suffix in (".yaml", ".yml", ".json"))


def rel(p) -> str:
    return str(Path(p).resolve().relative_to(WILD))


def test_every_config_is_counted():
    assert {rel(p) for p in configs()} == set(EXPECTED)


def test_every_lora_config_is_found_with_its_base_model_in_report():
    rows, errors = collect([str(p) for p in configs()], Settings(offline=True))
    assert errors == []
    got: dict[str, list] = {}
    for row in rows:
        d = as_dict(row)
        got.setdefault(rel(d["filename"]), []).append((d["dialect"], d["base_model"]))
    assert got == EXPECTED


#: Files whose base model is in the bundled catalog: what lora-lint says is what real peft does.
REAL_PEFT = {
    "adapters/Kimiko-AI__LoRa-traingcode__lora-alpaca/adapter_config.json": "EleutherAI--pythia-70m",
    "adapters/shettysaish20__era-phi-2-oasst-instruct__phi2-oasst/adapter_config.json": "microsoft--phi-2",
    "homegrown/GAuRaV27k__llama-3.2-qlora-safety-finetuning__rank16-experiment-summary.json": "meta-llama--Llama-3.2-3B",
}


@pytest.mark.parametrize("name", sorted(REAL_PEFT))
def test_targets_and_counts_equal_real_peft(name):
    import json
    import warnings

    from peft import LoraConfig, get_peft_model

    from lora_lint.models.build import build_model

    (row,), _ = collect([str(WILD / name)], Settings(offline=True))
    d, an = as_dict(row), row.ctx.analysis
    kwargs = {k: p.value for k, p in row.site.params.items()}
    catalog = Path(__file__).resolve().parents[1] / "lora_lint" / "data" / "catalog" / f"{REAL_PEFT[name]}.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = get_peft_model(build_model(json.loads(catalog.read_text())), LoraConfig(**kwargs))
    assert sorted(an.targeted) == sorted(pm.base_model.targeted_module_names)
    trainable, _total = pm.get_nb_trainable_parameters()
    assert d["trainable_params"] == trainable
