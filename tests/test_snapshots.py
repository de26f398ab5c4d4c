"""The snapshot of peft facts matches the installed peft."""

import json

from lora_lint import peft_facts


def test_peft_snapshot_matches_installed_peft():
    want = json.loads(json.dumps(peft_facts.generate(), sort_keys=True))
    have = json.loads(peft_facts.DATA.read_text(encoding="utf-8"))
    assert have == want, "run 'python -m lora_lint.peft_facts' and commit lora_lint/data/peft.json"


def test_snapshot_file_is_what_the_script_writes():
    assert peft_facts.main(["--check"]) == 0


def test_aliases_only_suggest_candidates():
    fields = peft_facts.lora_fields()
    assert peft_facts.suggest("lora_rank", fields) == "r"
    assert peft_facts.suggest("alpha", fields) == "lora_alpha"
    assert peft_facts.suggest("lora_aplha", fields) == "lora_alpha"
    # an axolotl-style candidate set: the alias target "r" is not offered, difflib finds lora_r
    assert peft_facts.suggest("lora_rank", ["lora_r", "lora_alpha"]) == "lora_r"
    assert all(v in fields for v in peft_facts.ALIASES.values())
