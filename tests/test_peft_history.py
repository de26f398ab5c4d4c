"""The version history table used by LL002 covers every field of the installed peft."""

import dataclasses
import re

from lora_lint import peft_history
from lora_lint.peft_facts import facts, lora_fields


def test_every_snapshot_field_has_a_history_entry():
    missing = sorted(set(lora_fields()) - set(peft_history.FIELD_SINCE))
    assert missing == [], f"add these fields to peft_history.FIELD_SINCE: {missing}"


def test_no_history_entry_for_a_field_peft_does_not_have():
    extra = sorted(set(peft_history.FIELD_SINCE) - set(lora_fields()))
    assert extra == []


def test_installed_peft_fields_are_in_the_table():
    from peft import LoraConfig

    names = {f.name for f in dataclasses.fields(LoraConfig)}
    assert names <= set(peft_history.FIELD_SINCE)


def test_no_field_is_newer_than_the_snapshot_peft():
    snap = peft_history.parse(facts()["peft_version"])
    for name, since in {**peft_history.FIELD_SINCE, **peft_history.INIT_SINCE}.items():
        assert peft_history.parse(since) <= snap, name


def test_every_documented_init_value_has_a_history_entry():
    from peft import LoraConfig

    field = next(f for f in dataclasses.fields(LoraConfig) if f.name == "init_lora_weights")
    literal = re.findall(r"'([^']+)'", str(field.type))
    assert "gaussian" in literal
    for value in literal:
        family = "pissa" if value.startswith("pissa") else value
        assert family in peft_history.INIT_SINCE, value
    assert peft_history.init_value_since("pissa_niter_4") == ("pissa", "0.11.0")
    assert peft_history.init_value_since("Gaussian") == ("gaussian", "0.7.0")
    assert peft_history.init_value_since("kaiming") is None
    assert peft_history.init_value_since(True) is None


def test_parse():
    assert peft_history.parse("0.13.2") == (0, 13, 2)
    assert peft_history.parse("v0.14") == (0, 14)
    assert peft_history.parse("0.18.0.dev0+abc") == (0, 18, 0)
    assert peft_history.parse("abc") is None
