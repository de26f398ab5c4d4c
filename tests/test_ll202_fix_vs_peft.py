"""LL202's unsafe fix against real peft: for each mapping of a name that matches nothing to the
layers of the model that do its job, the fixed file's ``target_modules`` is handed to the real
``get_peft_model`` on the meta model, which must adapt exactly the layers the config already
reached plus those the fix message names, as many of each as the message says."""

import ast
import re
from collections import Counter

import pytest

pytest.importorskip("peft")

from differential import run_peft  # noqa: E402
from test_fixes import model_py  # noqa: E402

from lora_lint.cli import main  # noqa: E402
from lora_lint.pipeline import lint_text  # noqa: E402
from lora_lint.settings import Settings  # noqa: E402

CASES = [
    # fused or other families' names on a Llama-style model
    ("tiny-llama", ["query_key_value", "o_proj"]),
    ("tiny-llama", ["c_attn", "o_proj"]),
    ("tiny-llama", ["Wqkv", "W_pack", "o_proj"]),
    ("tiny-llama", ["qkv_proj", "gate_up_proj", "down_proj"]),
    ("tiny-llama", ["q_proj", "dense", "fc_in", "fc_out"]),
    ("tiny-llama", ["q_proj", "v_proj", "dense_h_to_4h", "dense_4h_to_h"]),
    ("tiny-llama", ["q_proj", "query", "key", "value"]),
    # Llama names on fused models
    ("tiny-phi3", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    ("tiny-gpt-neox", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                       "dense_4h_to_h"]),
    ("tiny-gpt2", ["q_proj", "v_proj", "c_fc"]),
    # and on encoder and encoder-decoder names
    ("tiny-bert", ["q_proj", "v_proj", "key"]),
    ("tiny-t5", ["q_proj", "v_proj", "o_proj", "k"]),
]


def leaf_counts(names) -> Counter:
    return Counter(n.rsplit(".", 1)[-1] for n in names)


@pytest.mark.parametrize("model,targets", CASES, ids=[f"{m}-{'-'.join(t)}" for m, t in CASES])
def test_the_fixed_config_adapts_what_the_message_names(tmp_path, capsys, model, targets):
    extra = ", fan_in_fan_out=True" if model == "tiny-gpt2" else ""
    path = tmp_path / "train.py"
    path.write_text(model_py(model, f"cfg = LoraConfig(r=8, target_modules={targets!r}{extra})\n"))
    found = [f for f in lint_text(str(path), path.read_text(), Settings(select=["LL202"])) if f.code == "LL202"]
    assert found and all(f.fix is not None for f in found)
    before, _, _ = run_peft(model, None, {"r": 8, "target_modules": targets})
    named: Counter = Counter()
    for message in {f.fix.message for f in found}:
        m = re.search(r": adapts (.*)$", message)
        if m:
            named.update({leaf: int(n) for leaf, n in re.findall(r"(\w+) ×(\d+)", m[1])})
        else:
            assert re.match(r"Remove .*: the layers of \w+ that do its job \(.*\) are already listed$", message)
    assert named, "no fix names the layers it adds"
    assert main(["check", "--isolated", "--select", "LL202", "--fix", "--unsafe-fixes", str(path)]) == 0
    capsys.readouterr()
    call = ast.parse(path.read_text()).body[-1].value
    fixed = ast.literal_eval(next(k.value for k in call.keywords if k.arg == "target_modules"))
    after, _, _ = run_peft(model, None, {"r": 8, "target_modules": fixed})
    assert leaf_counts(after) == leaf_counts(before) + named
    assert not set(named) & set(leaf_counts(before))
