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
