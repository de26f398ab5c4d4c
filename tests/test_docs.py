from lora_lint import docs
from lora_lint.rules import all_rules


def test_rule_pages_are_in_sync():
    assert docs.stale() == [], "run 'python -m lora_lint.docs' and commit rules/"


def test_finding_url_points_at_the_page():
    for code, r in all_rules().items():
        assert r.url.endswith(f"/rules/{code}.md")
        assert (docs.ROOT / f"{code}.md").is_file()


def test_stale_page_is_detected(tmp_path):
    docs.write(tmp_path)
    assert docs.stale(tmp_path) == []
    (tmp_path / "LL101.md").write_text("edited by hand\n")
    (tmp_path / "LL999.md").write_text("orphan\n")
    assert docs.stale(tmp_path) == ["LL101.md", "LL999.md"]


def test_the_rule_index_matches_the_registry(tmp_path):
    """What configuration is checked against without loading a rule (``rule_index``)."""
    from lora_lint import rule_index

    assert {c: (e.name, e.options) for c, e in rule_index.rules().items()} == {
        c: (r.name, dict(r.options)) for c, r in sorted(all_rules().items())}
    docs.write(tmp_path, tmp_path / "rules.json", tmp_path / "spellings.json")
    assert docs.stale(tmp_path, tmp_path / "rules.json", tmp_path / "spellings.json") == []
    (tmp_path / "rules.json").write_text("{}\n")
    assert docs.stale(tmp_path, tmp_path / "rules.json", tmp_path / "spellings.json") == ["rules.json"]


def test_the_spellings_snapshot_matches_the_dialects_key_maps(tmp_path):
    """``data/spellings.json`` is what the dialects' key maps make; a dialect reads it instead of
    importing the others, and it fails here when a key map changed without it."""
    from lora_lint import spellings
    from lora_lint.dialects import FRAMEWORKS, home_grown, module, spellings_text

    assert spellings.DATA.read_text(encoding="utf-8") == spellings_text(), "run: python -m lora_lint.docs"
    table = spellings.aliases(with_home_grown=True)
    assert all(fieldname in table[key] for d in (*map(module, FRAMEWORKS), home_grown) for key, fieldname in d.DIALECT.keymap.items())
    assert "lora_r" in spellings.aliases() and "rank" not in spellings.aliases()
    docs.write(tmp_path, tmp_path / "rules.json", tmp_path / "spellings.json")
    (tmp_path / "spellings.json").write_text("{}\n")
    assert docs.stale(tmp_path, tmp_path / "rules.json", tmp_path / "spellings.json") == ["spellings.json"]
