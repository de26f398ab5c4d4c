"""A meta-device build never touches the network and is bounded (issue 12, items 5, 8 and 14).

Offline means no socket: the builds below run in a fresh interpreter with no offline variable
set and an audit hook, installed before anything is imported, that records (and refuses) every
socket operation, and every file the kernels package would load from the Hugging Face cache.
The configs carry each key that made transformers 5 reach out (a Hub kernel as the attention or
experts implementation, flash attention without flash-attn, ``auto_map`` on a native type, a
backbone), plus the catalog's configs and the test fixtures.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading

import pytest
from conftest import ROOT

from lora_lint.models import build, catalog
from lora_lint.models.build import (
    MAX_MODULES,
    ModelTooLarge,
    NeedsNetwork,
    build_inventory,
    build_model,
    buildable,
)
from lora_lint.pipeline import lint_text
from lora_lint.settings import Settings

FIXTURES = ROOT / "tests" / "fixtures" / "models"
TINY_LLAMA = json.loads((FIXTURES / "tiny-llama" / "config.json").read_text())
TINY_LLAVA = json.loads((FIXTURES / "tiny-llava" / "config.json").read_text())
TINY_MIXTRAL = json.loads((FIXTURES / "tiny-mixtral" / "config.json").read_text())


def shallow(config):
    """``config`` with every layer count at most 2 (the keys that reach out do not depend on it)."""
    if isinstance(config, dict):
        out = {k: (min(v, 2) if k in build.LAYER_KEYS and isinstance(v, int) else shallow(v))
               for k, v in config.items()}
        layers = out.get("num_hidden_layers")
        if isinstance(out.get("layer_types"), list) and isinstance(layers, int):
            out["layer_types"] = out["layer_types"][:layers]  # one type per layer, as the config validates
        return out
    if isinstance(config, list):
        return [shallow(v) for v in config]
    return config


def key_shape(config):
    """The keys of ``config`` at every level, and its model types."""
    if isinstance(config, dict):
        return {k: (v if k == "model_type" else key_shape(v)) for k, v in config.items()}
    if isinstance(config, list):
        return [key_shape(v) for v in config[:1]]
    return None


KERNEL = "kernels-community/flash-attn3"
#: (name, config, model class, what the build gives: "ok" or the error class)
HOSTILE = [
    ("hub-kernel-attention", dict(TINY_LLAMA, attn_implementation=KERNEL), None, "ok"),
    ("hub-kernel-at-a-revision", dict(TINY_LLAMA, attn_implementation=KERNEL + "@main"), None, "ok"),
    ("flash-attention-2-without-flash-attn", dict(TINY_LLAMA, attn_implementation="flash_attention_2"), None, "ok"),
    ("flash-attention-3", dict(TINY_LLAMA, attn_implementation="flash_attention_3"), None, "ok"),
    ("paged-flash", dict(TINY_LLAMA, attn_implementation="paged|flash_attention_2"), None, "ok"),
    ("per-sub-config-kernels", dict(TINY_LLAVA, attn_implementation={"": KERNEL, "text_config": KERNEL,
                                                                     "vision_config": KERNEL}), None, "ok"),
    ("kernel-inside-a-sub-config", dict(TINY_LLAVA, text_config=dict(TINY_LLAVA["text_config"],
                                                                      attn_implementation=KERNEL)), None, "ok"),
    ("hub-kernel-experts", dict(TINY_MIXTRAL, experts_implementation="kernels-community/sonic-moe"), None, "ok"),
    ("sonicmoe-experts", dict(TINY_MIXTRAL, experts_implementation="sonicmoe"), None, "ok"),
    ("private-keys", dict(TINY_LLAMA, _attn_implementation=KERNEL, _attn_implementation_internal=KERNEL),
     None, "ok"),
    # a native model type with auto_map, asked for an Auto class it has no native mapping for:
    # transformers asked on stdin whether to download and run the repository's code
    ("auto-map-on-a-native-type", dict(TINY_LLAMA, auto_map={
        "AutoModelForImageTextToText": "evil/repo--modeling_x.X", "AutoConfig": "evil/repo--configuration_x.C"}),
     "AutoModelForImageTextToText", "ModelBuildError"),
    # backbone and use_pretrained_backbone beside the backbone's own config: both unused
    ("backbone-with-its-config", {"model_type": "upernet", "backbone": "org/other", "use_pretrained_backbone": True,
                                  "backbone_config": {"model_type": "convnext", "depths": [1, 1, 1, 1],
                                                      "hidden_sizes": [8, 16, 32, 64], "out_features":
                                                      ["stage1", "stage2", "stage3", "stage4"]},
                                  "hidden_size": 16, "auxiliary_in_channels": 32},
     "UperNetForSemanticSegmentation", "ok"),
    # a backbone named only by its Hub id: transformers asks the Hub for it while building
    ("backbone-by-hub-id", {"model_type": "dpt", "backbone": "org/x"}, None, "NeedsNetwork"),
    ("backbone-by-hub-id-nested", {"model_type": "depth_anything", "backbone": "org/y"}, None, "NeedsNetwork"),
    # importing these models' code asks the kernels package for a flash-attention kernel
    ("gpt-neo", {"model_type": "gpt_neo", "num_layers": 2, "attention_types": [[["global", "local"], 1]],
                 "hidden_size": 32, "num_heads": 2, "vocab_size": 100, "max_position_embeddings": 64}, None, "ok"),
    ("bark", {"model_type": "bark"}, None, "ok"),
]

GUARD = textwrap.dedent("""
    import json, os, sys
    events = []
    recording = [False]

    def hook(event, args):
        if event.startswith("socket.") and event != "socket.gethostname":
            events.append([event, repr(args)[:200]])
            raise OSError("test guard: no network")
        if recording[0] and event in ("open", "os.listdir", "os.scandir") and args and args[0] is not None:
            path = os.fsdecode(args[0]) if isinstance(args[0], (str, bytes, os.PathLike)) else ""
            if "kernels--" in path:
                events.append([event, path])

    sys.addaudithook(hook)
    if sys.argv[1] == "transformers-first":
        import huggingface_hub, transformers, transformers.modeling_utils  # the switches read at import
    from lora_lint.models.build import ModelBuildError, build_inventory
    recording[0] = True
    results = {}
    for name, config, model_class in json.load(open(sys.argv[2])):
        try:
            inv = build_inventory(config, model_class)
            results[name] = ["ok", len(inv.modules)]
        except ModelBuildError as e:
            results[name] = [type(e).__name__, str(e)]
    print("RESULT " + json.dumps({"results": results, "events": events}))
""")


def online_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    cache = tmp_path / "hf-hub"
    for repo in ("flash-attn2", "vllm-flash-attn3", "flash-attn4", "flash-attn3", "sonic-moe"):
        refs = cache / f"kernels--kernels-community--{repo}" / "refs"  # cached kernels, as if downloaded
        refs.mkdir(parents=True)
        for v in range(1, 5):
            (refs / f"v{v}").write_text("a" * 40)
    env.update({"PYTHONPATH": str(ROOT), "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "hf-home"),
                "LORA_LINT_CACHE_DIR": str(tmp_path / "ll-cache"), "HF_HUB_DISABLE_TELEMETRY": "1"})
    return env


def run_guarded(tmp_path, order, cases):
    path = tmp_path / f"cases-{order}.json"
    path.write_text(json.dumps(cases))
    proc = subprocess.run([sys.executable, "-c", GUARD, order, str(path)], cwd=ROOT, env=online_env(tmp_path),
                          stdin=subprocess.PIPE, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Do you wish to run the custom code" not in proc.stdout + proc.stderr
    return json.loads(proc.stdout.rpartition("RESULT ")[2])


@pytest.mark.slow
@pytest.mark.parametrize("order", ["lora-lint-first", "transformers-first"])
def test_builds_never_open_a_socket_nor_load_a_kernel(tmp_path, order):
    cases = [[name, cfg, cls] for name, cfg, cls, _ in HOSTILE]
    if order == "lora-lint-first":  # the catalog and the fixtures once (their keys do not depend on the order)
        real = [(f"catalog:{m}", json.loads(catalog.lookup(m).path.read_text())) for m in sorted(catalog.model_ids())]
        real += [(f"fixture:{d.name}", json.loads((d / "config.json").read_text()))
                 for d in sorted(FIXTURES.iterdir()) if (d / "config.json").is_file()]
        seen = set()
        for name, cfg in real:  # one of each shape: the same keys build the same way
            shape = json.dumps(key_shape(cfg), sort_keys=True)
            if shape not in seen:
                seen.add(shape)
                cases.append([name, shallow(cfg), None])
        assert len(seen) > 20
    got = run_guarded(tmp_path, order, cases)
    assert got["events"] == []
    want = {name: expected for name, _, _, expected in HOSTILE}
    for name, (outcome, detail) in got["results"].items():
        assert outcome == want.get(name, "ok"), (name, detail)
    assert "for its `backbone` 'org/x'" in got["results"]["backbone-by-hub-id"][1]
    assert "lora-lint builds models without the network" in got["results"]["backbone-by-hub-id"][1]


def test_buildable_takes_out_what_reaches_out():
    cfg = {"model_type": "llava", "attn_implementation": KERNEL, "auto_map": {"AutoModel": "x--y.Z"},
           "text_config": {"model_type": "llama", "experts_implementation": "sonicmoe",
                           "nested": [{"_attn_implementation_internal": KERNEL, "keep": 1}]},
           "vision_config": {"backbone": "org/b", "backbone_config": {"model_type": "resnet"},
                             "use_pretrained_backbone": True},
           "other": {"backbone": "org/kept"}}
    assert buildable(cfg) == {
        "model_type": "llava",
        "text_config": {"model_type": "llama", "nested": [{"keep": 1}]},
        "vision_config": {"backbone_config": {"model_type": "resnet"}, "use_pretrained_backbone": False},
        "other": {"backbone": "org/kept"},  # no config beside it: the build decides (and is refused)
    }
    assert cfg["attn_implementation"] == KERNEL  # the caller's dict is left alone
    with pytest.raises(build.ModelBuildError, match="nested deeper than"):
        buildable({"model_type": "llama", "x": json.loads("[" * 40 + "]" * 40)})


def test_the_seal_refuses_sockets_in_the_building_thread_only():
    """The last line of defence, for whatever bypasses huggingface_hub's offline switch."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(5)
    port = server.getsockname()[1]
    other = {}
    try:
        with pytest.raises(NeedsNetwork, match="127.0.0.1"), build._sealed():
            t = threading.Thread(target=lambda: other.setdefault(
                "sock", socket.create_connection(("127.0.0.1", port), timeout=5)))
            t.start()
            t.join()
            socket.create_connection(("127.0.0.1", port), timeout=5)
        accepted, _ = server.accept()  # the other thread's connection, and only that one
        accepted.close()
        server.settimeout(0.2)
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        other.get("sock") and other["sock"].close()
        server.close()
    socket.socket().close()  # and nothing is refused after the build


def test_the_hub_switch_is_on_only_during_a_build():
    import huggingface_hub.constants as c

    before = c.HF_HUB_OFFLINE
    with build._sealed():
        assert c.HF_HUB_OFFLINE is True and os.environ["USE_HUB_KERNELS"] == "NO"
        assert os.listdir(os.environ["KERNELS_CACHE"]) == []
    assert c.HF_HUB_OFFLINE == before and "KERNELS_CACHE" not in os.environ


# -- bounded builds (item 8) ---------------------------------------------------------------------

class Registrations:
    """Counts the modules registered while it is active (torch's global registration hook)."""

    def __enter__(self):
        from torch.nn.modules.module import register_module_module_registration_hook

        self.n = 0
        self.handle = register_module_module_registration_hook(self.count)
        return self

    def count(self, module, name, submodule):
        self.n += 1

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.mark.parametrize("layers", [20_000, 200_000, 10**30])
def test_a_layer_bomb_is_refused_before_anything_is_built(layers):
    """Before: a 230-byte config.json declaring 20,000 layers built for a minute and 1.3 GB, and
    200,000 never finished."""
    bomb = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
            "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
            "vocab_size": 1000, "num_hidden_layers": layers}
    assert len(json.dumps(bomb)) <= 230 + len(str(layers)) - 5
    with Registrations() as r, pytest.raises(ModelTooLarge, match=f"declares {layers:,} layers") as e:
        build_inventory(bomb)
    assert r.n == 0
    assert f"at most {MAX_MODULES:,} modules" in str(e.value)
    nested = dict(TINY_LLAVA, text_config=dict(TINY_LLAVA["text_config"], num_hidden_layers=layers))
    with Registrations() as r, pytest.raises(ModelTooLarge, match="num_hidden_layers"):
        build_inventory(nested)
    assert r.n == 0


def test_a_build_stops_at_max_modules(monkeypatch):
    """Fewer layers than the estimate refuses, more modules than the bound: stopped there. (With
    a bound of 3,000, so that it takes a second: building 50,000 modules takes about 15.)"""
    monkeypatch.setattr(build, "MAX_MODULES", 3000)
    layers = 3000 // build.MIN_MODULES_PER_LAYER  # 12 modules a layer: about 9,000
    with Registrations() as r, pytest.raises(ModelTooLarge, match="passed 3,000 modules"):
        build_inventory(dict(TINY_LLAMA, num_hidden_layers=layers))
    assert 3000 <= r.n <= 3001  # the 3,001st is refused (before or after this hook sees it)
    assert len(build_inventory(dict(TINY_LLAMA, num_hidden_layers=200)).modules) > 2000  # under it: built


#: The largest real models, their config.json as published (the keys that shape the module tree).
LARGEST = {
    "meta-llama/Llama-3.1-405B": {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 16384,
        "intermediate_size": 53248, "num_hidden_layers": 126, "num_attention_heads": 128, "num_key_value_heads": 8,
        "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": False},
    "deepseek-ai/DeepSeek-V3": {
        "model_type": "deepseek_v3", "architectures": ["DeepseekV3ForCausalLM"], "hidden_size": 7168,
        "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
        "num_attention_heads": 128, "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
        "num_experts_per_tok": 8, "first_k_dense_replace": 3, "kv_lora_rank": 512, "q_lora_rank": 1536,
        "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 129280, "n_group": 8,
        "topk_group": 4, "max_position_embeddings": 163840, "tie_word_embeddings": False},
    "mistralai/Mixtral-8x22B-v0.1": {
        "model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "hidden_size": 6144,
        "intermediate_size": 16384, "num_hidden_layers": 56, "num_attention_heads": 48, "num_key_value_heads": 8,
        "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32768, "max_position_embeddings": 65536},
    "Qwen/Qwen3-235B-A22B": {
        "model_type": "qwen3_moe", "architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 4096,
        "intermediate_size": 12288, "moe_intermediate_size": 1536, "num_hidden_layers": 94,
        "num_attention_heads": 64, "num_key_value_heads": 4, "head_dim": 128, "num_experts": 128,
        "num_experts_per_tok": 8, "vocab_size": 151936, "max_position_embeddings": 40960, "decoder_sparse_step": 1,
        "mlp_only_layers": []},
    "meta-llama/Llama-4-Maverick-17B-128E": {
        "model_type": "llama4", "architectures": ["Llama4ForConditionalGeneration"],
        "text_config": {"model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
                        "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
                        "num_key_value_heads": 8, "head_dim": 128, "num_local_experts": 128,
                        "num_experts_per_tok": 1, "interleave_moe_layer_step": 2, "vocab_size": 202048,
                        "max_position_embeddings": 1048576, "no_rope_layers": []},
        "vision_config": {"model_type": "llama4_vision_model", "hidden_size": 1408, "intermediate_size": 5632,
                          "num_hidden_layers": 34, "num_attention_heads": 16, "image_size": 336, "patch_size": 14,
                          "projector_input_dim": 4096, "projector_output_dim": 4096, "vision_output_dim": 4096,
                          "pixel_shuffle_ratio": 0.5}},
    # one module per expert: the largest module counts there are
    "google/switch-large-128": {
        "model_type": "switch_transformers", "architectures": ["SwitchTransformersForConditionalGeneration"],
        "d_model": 1024, "d_ff": 4096, "d_kv": 64, "num_heads": 16, "num_layers": 24, "num_decoder_layers": 24,
        "num_experts": 128, "encoder_sparse_step": 2, "decoder_sparse_step": 2, "vocab_size": 32128},
    "facebook/nllb-moe-54b": {
        "model_type": "nllb-moe", "architectures": ["NllbMoeForConditionalGeneration"], "d_model": 2048,
        "encoder_ffn_dim": 8192, "decoder_ffn_dim": 8192, "encoder_layers": 24, "decoder_layers": 24,
        "encoder_attention_heads": 16, "decoder_attention_heads": 16, "num_experts": 128,
        "encoder_sparse_step": 4, "decoder_sparse_step": 4, "vocab_size": 256206},
}


@pytest.mark.slow
def test_the_largest_real_models_fit_the_bound_three_times():
    counts = {}
    for name, cfg in LARGEST.items():
        with Registrations() as r:
            model = build_model(cfg)
        counts[name] = sum(1 for _ in model.named_modules())
        assert r.n == counts[name] - 1, name  # every module but the root is registered once
        del model
    assert counts["meta-llama/Llama-3.1-405B"] == 1645
    assert max(counts.values()) == counts["google/switch-large-128"] == 16407
    assert 3 * max(counts.values()) < MAX_MODULES


# -- LL902: one line, the reason kept (items 5, 8, 14) ------------------------------------------------

def ll902(tmp_path, config: dict, model_class: str = "AutoModelForCausalLM") -> str:
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text(json.dumps(config))
    src = textwrap.dedent(f"""
        from transformers import {model_class}
        from peft import LoraConfig, get_peft_model
        m = {model_class}.from_pretrained("{model}")
        get_peft_model(m, LoraConfig(r=8, target_modules=["q_proj"]))
    """)
    (f,) = [f for f in lint_text(str(tmp_path / "train.py"), src, Settings(select=["ALL"], offline=True))
            if f.code == "LL902"]
    return f.message


def test_ll902_for_a_layer_bomb(tmp_path):
    msg = ll902(tmp_path, dict(TINY_LLAMA, num_hidden_layers=20_000))
    assert "is too large to build: it declares 20,000 layers (num_hidden_layers)" in msg
    assert f"at most {MAX_MODULES:,} modules" in msg


def test_ll902_for_a_backbone_from_the_hub(tmp_path):
    msg = ll902(tmp_path, {"model_type": "dpt", "backbone": "org/x"}, "AutoModel")
    assert "cannot be built without the network" in msg and "`backbone` 'org/x'" in msg


def test_ll902_keeps_the_first_line_of_transformers_exception(tmp_path):
    """Before: the message embedded transformers' multi-line exception (its second line lists
    every model type there is) and broke every one-line format and editor matcher."""
    msg = ll902(tmp_path, TINY_LLAMA, "AutoModelForImageTextToText")
    assert "\n" not in msg and "\r" not in msg and len(msg) < 600
    assert ("AutoModelForImageTextToText: ValueError: Unrecognized configuration class"
            " <class 'transformers.models.llama.configuration_llama.LlamaConfig'>") in msg
    assert "Model type should be one of" not in msg


def test_ll902_message_is_one_line_whatever_it_quotes():
    from lora_lint.models.config_lookup import Unresolved
    from lora_lint.models.context import ModelContext, unresolved_message

    for why in ("line one\nline two", "a\r\nb\rc", "x\u2028y\u2029z\x85w\x0bv\x0cu", "long " * 2000):
        ctx = ModelContext("org/m\nx", "config", None, problem=Unresolved("org/m", "build-failed", why))
        msg = unresolved_message(ctx)
        assert msg.splitlines() == [msg] and len(msg) <= 1200, repr(msg[:200])


def test_the_rule_page_states_the_bounds():
    from lora_lint.models.config_lookup import MAX_CONFIG_BYTES

    page = (ROOT / "rules" / "LL902.md").read_text()
    assert f"at most {MAX_MODULES:,} modules" in page
    assert f"more than {MAX_CONFIG_BYTES // 2**20} MiB is not read" in page
