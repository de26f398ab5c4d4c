"""The shared corpus of real configs: every file is read, none is unreadable, every LoRA config is found.

How the expected counts were made: each file was read by hand (the corpus README and each
folder's SOURCE.txt say what it is) and counted as one site when it trains a LoRA adapter or
is a saved adapter, and as one *inactive* site when it writes LoRA settings that its framework
ignores. Per folder:

* alignment-handbook: 13 recipes; 12 set ``use_peft: true`` (config_lora/config_qlora), and
  ``sft/config_full.yaml`` has no LoRA at all -> 12.
* autotrain: 16 configs; the 11 ``llm_finetuning`` files with ``peft: true`` and the PaliGemma
  VLM -> 12; ``gpt2_sft.yml`` sets ``merge_adapter`` without ``peft`` -> 1 inactive; the two
  seq2seq configs and text classification have no LoRA -> 0.
* axolotl: 38 configs, all with an ``adapter`` (including the ``.runpod`` template, whose
  values are ``${VAR}`` placeholders) -> 37, and ``_history/daa4faca/.../gptq-lora-7b`` with an
  empty ``adapter:`` and LoRA keys -> 1 inactive.
* llama-factory: 32 configs; 26 v0 LoRA training configs and 2 v1 ``peft_config`` ones -> 28; the
  BAdam one is ``finetuning_type: full`` without LoRA keys, and the predict, inference and
  merge configs train nothing -> 0.
* peft: 15 ``adapter_config.json`` -> 15; the 3 ``default_*_params.json`` are not adapters.
* torchtune: 37 recipes, every one with a ``lora_``/``qlora_`` model builder -> 37.
* trl: ``example_config.yaml`` has no PEFT; the gpt-oss recipe has ``use_peft: true`` -> 1.
"""

from collections import Counter
from pathlib import Path

import pytest
from conftest import yaml_sites

from lora_lint.pipeline import lint_file

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
EXPECTED = {
    "alignment-handbook": {("alignment-handbook", "active"): 12},
    "autotrain": {("autotrain", "active"): 12, ("autotrain", "inactive"): 1},
    "axolotl": {("axolotl", "active"): 37, ("axolotl", "inactive"): 1},
    "llama-factory": {("llama-factory", "active"): 26, ("llama-factory-v1", "active"): 2},
    "peft": {("adapter_config", "active"): 15},
    "torchtune": {("torchtune", "active"): 37},
    "trl": {("trl", "active"): 1},
}

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not next to the repository")


def config_files(folder: Path):
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_every_lora_config_is_found(folder):
    counts = Counter()
    for path in config_files(CORPUS / folder):
        for site in yaml_sites(str(path), path.read_text(encoding="utf-8")):
            counts[(site.dialect.name, "active" if site.active else "inactive")] += 1
    assert dict(counts) == EXPECTED[folder]


def test_the_corpus_folders_are_all_counted():
    assert {p.name for p in CORPUS.iterdir() if p.is_dir()} == set(EXPECTED)


def test_every_file_lints_without_crash_or_unreadable():
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    assert len(files) > 150
    bad = [(str(p), f.code, f.message) for p in files for f in lint_file(str(p)) if f.code in ("LL901", "LL903")]
    assert bad == []


def test_corpus_framework_findings_are_the_expected_ones():
    """The dialects' own findings on the corpus (notes and unknown keys), each checked by hand
    against the framework's code; rules' peft-level findings are not counted here."""
    got = []
    for folder in EXPECTED:
        for path in config_files(CORPUS / folder):
            for site in yaml_sites(str(path), path.read_text(encoding="utf-8")):
                rel = str(path.relative_to(CORPUS))
                got += [(rel, n.where.span.line, n.code) for n in site.notes]
                got += [(rel, p.span.line, "LL001") for p, _ in site.unknown_keys]
    got.sort()
    assert got == [
        ("autotrain/configs/llm_finetuning/gpt2_sft.yml", 27, "LL010"),  # merge_adapter without peft
        # 8-bit without an adapter: axolotl refuses to start, so it fine-tunes nothing (no LL010)
        ("axolotl/_history/daa4faca/examples/gptq-lora-7b/config.yml", 6, "LL009"),
    ]
