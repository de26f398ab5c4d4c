"""The version history table used by LL002 covers every field of the installed peft."""

import dataclasses
import json
import re

import pytest

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


def test_the_installed_peft_reads_as_its_row_in_the_table():
    """The table is read from each release's source; the installed peft, read the same way, must
    have its row there (a new peft fails here until the table is rebuilt)."""
    from lora_lint import peft_history_build

    version, read = peft_history_build.installed()
    rows = json.loads(peft_history.DATA.read_text(encoding="utf-8"))["releases"]
    assert version in rows, f"rebuild the table: python -m lora_lint.peft_history_build PEFT_CLONE ({version})"
    assert rows[version] == peft_history_build.row(read)
    assert peft_history_build.main(["--check"]) == 0


def test_the_installed_rows_fields_are_the_dataclass_fields():
    import peft

    fields = {f.name for f in dataclasses.fields(peft.LoraConfig) if f.init}
    assert set(peft_history.release_at(None).fields) == fields


def test_the_installed_rows_behaviour_is_the_real_peft(tmp_path):
    """What the row says the installed peft does with an unknown key, an unknown init method and
    'all-linear', the real peft does."""
    import warnings

    import torch
    from peft import LoraConfig, PeftConfig, get_peft_model

    row = peft_history.release_at(None)
    assert row.load == "drop"
    (tmp_path / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 4, "target_modules": ["q"], "from_the_future": None}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = LoraConfig.from_pretrained(str(tmp_path))
    assert cfg.r == 4 and not hasattr(cfg, "from_the_future")
    assert any("from_the_future" in str(w.message) for w in caught)
    assert PeftConfig.from_pretrained(str(tmp_path)).peft_type == "LORA"

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.q = torch.nn.Linear(4, 4)

    assert row.unknown_init == "raise"
    with pytest.raises(ValueError, match="Unknown initialization"):
        get_peft_model(Tiny(), LoraConfig(target_modules=["q"], init_lora_weights="kaiming"))
    for value in sorted(row.init_exact | row.init_lower):
        assert row.accepts_init(value)
    assert row.all_linear
    assert get_peft_model(Tiny(), LoraConfig(target_modules="all-linear")).base_model.targeted_module_names == ["q"]


def test_history_of_loading_and_values():
    """Facts read from the release tags, spot-checked against the sources cited on LL002's page."""
    assert peft_history.load_story() == (
        "peft 0.1.0–0.5.0 ignore it, 0.6.0–0.13.2 raise TypeError, 0.14.0 and later drop it with a warning")
    assert peft_history.REMOVED == {"enable_lora": "0.3.0", "merge_weights": "0.3.0"}
    assert peft_history.ALL_LINEAR_SINCE == "0.8.0"
    assert peft_history.task_since("QUESTION_ANS") == "0.4.0"
    assert peft_history.FIELD_SINCE["use_dora"] == "0.9.0"
    assert peft_history.FIELD_SINCE["exclude_modules"] == "0.14.0"
    rows = {r.version: r for r in peft_history.releases()}
    assert rows["0.6.2"].unknown_init == "default" and rows["0.7.0"].unknown_init == "raise"
    assert rows["0.10.0"].accepts_init("pissa_niter_4") is None
    assert rows["0.11.0"].accepts_init("pissa_niter_4") == "pissa"
