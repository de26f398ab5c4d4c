"""Unsloth's get_peft_model with embed_tokens/lm_head in target_modules (LL308): lora-lint's
reader hands the analysis what Unsloth 2026.10.9 hands peft (replayed from its source in
dialect_replays.unsloth_redirect), and the analysis counts what the real peft trains with it."""

import pytest
from dialect_replays import unsloth_redirect
from differential import inventory, run_peft

from lora_lint.models import analyze
from lora_lint.pipeline import lint_text
from lora_lint.settings import Settings

CASES = [
    (["q_proj", "v_proj", "lm_head"], None, None),
    (["q_proj", "embed_tokens"], None, None),
    (["q_proj", "embed_tokens", "lm_head"], None, None),
    (["q_proj", "model.embed_tokens", "lm_head"], ["lm_head"], None),
    (["q_proj", "embed_tokens", "lm_head"], None, False),
    (["q_proj", "lm_head"], ["embed_tokens"], None),
    (["lm_head"], None, None),
]


def _source(targets, saved, ewt):
    args = [f"target_modules={targets!r}"]
    if saved is not None:
        args.append(f"modules_to_save={saved!r}")
    if ewt is not None:
        args.append(f"ensure_weight_tying={ewt!r}")
    return (f"# lora-lint: base-model=tests/fixtures/models/{{model}}\nfrom unsloth import FastLanguageModel\n"
            f"FastLanguageModel.get_peft_model(model, r=8, {', '.join(args)})\n")


@pytest.mark.parametrize("model", ["tiny-llama", "tiny-llama-tied"])
@pytest.mark.parametrize("targets,saved,ewt", CASES)
def test_reader_hands_peft_what_unsloth_does(model, targets, saved, ewt, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    src = _source(targets, saved, ewt).format(model=model)
    findings = lint_text("train.py", src, Settings(select=["LL308"]))
    assert len(findings) == sum(1 for t in targets if t.rsplit(".", 1)[-1] in ("lm_head", "embed_tokens"))
    names = [m.name for m in inventory(model, None).modules]
    replay = unsloth_redirect(targets, saved, ewt, ties=model.endswith("tied"), module_names=names)
    if replay[0] == "error":
        assert any("RuntimeError" in f.message for f in findings)
        return
    t, s, e = replay
    site, inv = _site(src, model)
    a = analyze(site, inv)
    assert a.spec.target_modules == t and a.spec.modules_to_save == s and bool(a.spec.ensure_weight_tying) == e
    kwargs = dict(r=8, lora_alpha=16, lora_dropout=0.0, bias="none", target_modules=t, modules_to_save=s,
                  ensure_weight_tying=e)
    theirs = run_peft(model, None, kwargs)
    assert (sorted(a.targeted), a.trainable, a.total) == (sorted(theirs[0]), *theirs[2])


def _site(src, model):
    from lora_lint.source_file import SourceFile
    from lora_lint.sources import sites_for

    (site,) = sites_for(SourceFile.of_text("train.py", src))
    return site, inventory(model, None)
