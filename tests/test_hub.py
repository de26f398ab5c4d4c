"""The Hub step, against local servers on 127.0.0.1 (never the network): a server that never
answers, a gated repository (401), and a working download that lands in the HF cache."""

import http.server
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading

import pytest
from conftest import ROOT

from lora_lint.models import catalog

QWEN_BYTES = (catalog.CATALOG / "Qwen--Qwen2.5-0.5B.json").read_bytes()
SHA = "a" * 40

RUN = textwrap.dedent("""
    import json, sys
    from lora_lint.report import collect, as_dict
    from lora_lint.settings import Settings
    rows, errors = collect([sys.argv[1]], Settings(hub_timeout=float(sys.argv[2])))
    print(json.dumps([as_dict(r) for r in rows]))
""")


@pytest.fixture
def online_env(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY",
                        "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")}
    env.update({
        "PYTHONPATH": str(ROOT),
        "HF_HUB_CACHE": str(tmp_path / "hf-hub"),
        "LORA_LINT_CACHE_DIR": str(tmp_path / "ll-cache"),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_TOKEN": "hf_lora_lint_test_token",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    return env


def lint(tmp_path, env, endpoint, model_id, timeout=2.0):
    f = tmp_path / "train.py"
    f.write_text(textwrap.dedent(f"""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        m = AutoModelForCausalLM.from_pretrained("{model_id}")
        get_peft_model(m, LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
    """))
    proc = subprocess.run([sys.executable, "-c", RUN, str(f), str(timeout)], cwd=ROOT,
                          env={**env, "HF_ENDPOINT": endpoint}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    return row


class Silent:
    """Accepts TCP connections and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.conns = []
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class Hub(http.server.ThreadingHTTPServer):
    """A tiny Hub: ``routes[path] = (status, headers, body)``; records what it was asked."""

    def __init__(self, routes, handler=None):
        self.routes = routes
        self.seen = []
        super().__init__(("127.0.0.1", 0), handler or Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, body: bool):
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        status, headers, data = self.server.routes.get(self.path, (404, {"X-Error-Code": "EntryNotFound"}, b""))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self):
        self.answer(False)

    def do_GET(self):
        self.answer(True)


def test_a_hub_that_never_answers_ends_within_the_timeout(tmp_path, online_env):
    server = Silent()
    try:
        row = lint(tmp_path, online_env, server.url, "acme/never-7b", timeout=1.0)
    finally:
        server.close()
    assert row["trainable_params"] is None and row["resolved_from"] is None
    assert "could not be fetched" in row["unresolved"]
    assert "did not answer within 1 s" in row["unresolved"] and "--offline" in row["unresolved"]
    assert server.conns, "the Hub was asked"


def test_gated_repository(tmp_path, online_env):
    gated = (401, {"X-Error-Code": "GatedRepo", "X-Error-Message": "Access to model acme/gated-8b is restricted."},
             b"")
    hub = Hub({"/acme/gated-8b/resolve/main/config.json": gated})
    try:
        row = lint(tmp_path, online_env, hub.url, "acme/gated-8b")
    finally:
        hub.shutdown()
    msg = row["unresolved"]
    assert "'acme/gated-8b' is a gated repository" in msg
    assert "hf auth login" in msg and "HF_TOKEN" in msg
    assert hub.seen == [("HEAD", "/acme/gated-8b/resolve/main/config.json", "Bearer hf_lora_lint_test_token")]


def test_private_or_missing_repository_401_without_gated_code(tmp_path, online_env):
    hub = Hub({"/acme/private/resolve/main/config.json": (401, {}, b"")})
    try:
        row = lint(tmp_path, online_env, hub.url, "acme/private")
    finally:
        hub.shutdown()
    assert "HTTP 401" in row["unresolved"] and "gated or private" in row["unresolved"]


def test_download_lands_in_the_hf_cache_and_the_next_run_is_offline(tmp_path, online_env):
    meta = {"X-Repo-Commit": SHA, "ETag": '"cfg-etag-1"'}
    hub = Hub({
        "/acme/qwen-copy/resolve/main/config.json": (200, meta, QWEN_BYTES),
        f"/acme/qwen-copy/resolve/{SHA}/config.json": (200, meta, QWEN_BYTES),
    })
    try:
        row = lint(tmp_path, online_env, hub.url, "acme/qwen-copy")
    finally:
        hub.shutdown()
    assert row["resolved_from"] == "hub" and row["unresolved"] is None
    assert row["total_params"] == 494_032_768  # same config as the catalog's: prebuilt inventory
    cached = tmp_path / "hf-hub" / "models--acme--qwen-copy" / "snapshots" / SHA / "config.json"
    assert cached.read_bytes() == QWEN_BYTES
    assert all(auth == "Bearer hf_lora_lint_test_token" for _, _, auth in hub.seen)
    offline = {**online_env, "HF_HUB_OFFLINE": "1"}
    row = lint(tmp_path, offline, "http://127.0.0.1:9", "acme/qwen-copy")
    assert row["resolved_from"] == "hf-cache"


def test_missing_repository_is_not_asked_twice(tmp_path, online_env):
    hub = Hub({"/acme/nope/resolve/main/config.json": (404, {"X-Error-Code": "RepoNotFound"}, b"")})
    f = tmp_path / "two.py"
    f.write_text(textwrap.dedent("""
        from transformers import AutoModelForCausalLM
        from peft import LoraConfig, get_peft_model
        m = AutoModelForCausalLM.from_pretrained("acme/nope")
        get_peft_model(m, LoraConfig(r=8))
        get_peft_model(m, LoraConfig(r=16))
    """))
    try:
        proc = subprocess.run([sys.executable, "-c", RUN, str(f), "2"], cwd=ROOT,
                              env={**online_env, "HF_ENDPOINT": hub.url}, capture_output=True,
                              text=True, timeout=120)
    finally:
        hub.shutdown()
    rows = json.loads(proc.stdout)
    assert len(rows) == 2 and all("does not exist on the Hub" in r["unresolved"] for r in rows)
    assert len(hub.seen) == 1


def test_offline_never_touches_the_network(tmp_path, online_env):
    server = Silent()
    try:
        row = lint(tmp_path, {**online_env, "HF_HUB_OFFLINE": "1"}, server.url, "acme/never-7b")
    finally:
        server.close()
    assert "not found offline" in row["unresolved"] and not server.conns


# -- a config.json is read at most MAX_CONFIG_BYTES from the Hub (issue 12, item 11) -----------------

class Streaming(Hub):
    """A Hub whose HEAD announces ``head_length`` (None: no length) and whose GET announces
    ``get_length`` (None: none) then sends bytes until the client goes away; counts what it sent."""

    def __init__(self, head_length, get_length):
        self.head_length, self.get_length = head_length, get_length
        self.sent, self.finished = 0, threading.Event()
        super().__init__({}, StreamingHandler)


class StreamingHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def start(self, length):
        self.server.seen.append(self.command)
        self.send_response(200)
        self.send_header("X-Repo-Commit", SHA)
        self.send_header("ETag", '"huge"')
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_HEAD(self):
        self.start(self.server.head_length)

    def do_GET(self):
        self.start(self.server.get_length)
        chunk = b'{"model_type": "llama", "x": "' + b"a" * 65536
        try:
            while self.server.sent < 64 * 1024 * 1024:  # the test's own bound: 16 times the limit
                self.wfile.write(chunk)
                self.server.sent += len(chunk)
        except OSError:  # the client stopped reading: what the test wants
            pass
        finally:
            self.server.finished.set()


@pytest.mark.parametrize("head, get, asks", [
    (10**9, 10**9, ["HEAD"]),  # announced by the HEAD: the body is never asked for
    (300, 10**9, ["HEAD", "GET"]),  # announced by the GET: the body is not read
    (None, None, ["HEAD", "GET"]),  # no length, streams forever: cut off at the limit
])
def test_a_huge_config_json_on_the_hub_is_not_downloaded(tmp_path, online_env, head, get, asks):
    """Before: a 1 GB config.json was downloaded whole, then rejected."""
    from lora_lint.models.config_lookup import MAX_CONFIG_BYTES

    hub = Streaming(head, get)
    try:
        row = lint(tmp_path, online_env, hub.url, "acme/huge-config", timeout=20.0)
    finally:
        hub.shutdown()
    msg = row["unresolved"]
    assert "could not be fetched" in msg and f"over the {MAX_CONFIG_BYTES:,}-byte limit; not downloaded" in msg
    assert (f"{head:,} bytes" if head == 10**9 else "is larger than that" if get is None else f"{get:,} bytes") in msg
    assert hub.seen == asks
    if "GET" in asks:
        assert hub.finished.wait(20)
        assert hub.sent < 16 * MAX_CONFIG_BYTES  # the connection was dropped, not read to the end
    assert not (tmp_path / "hf-hub" / "models--acme--huge-config" / "snapshots").exists()


def test_a_layer_bomb_from_the_hub_is_refused_before_building(tmp_path, online_env):
    """A 230-byte config.json declaring 20,000 layers, served by the Hub: LL902, not a minute's build."""
    bomb = json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
                       "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
                       "vocab_size": 1000, "num_hidden_layers": 20000}).encode()
    meta = {"X-Repo-Commit": SHA, "ETag": '"bomb"'}
    hub = Hub({"/acme/bomb/resolve/main/config.json": (200, meta, bomb),
               f"/acme/bomb/resolve/{SHA}/config.json": (200, meta, bomb)})
    try:
        row = lint(tmp_path, online_env, hub.url, "acme/bomb", timeout=20.0)
    finally:
        hub.shutdown()
    assert row["resolved_from"] == "hub"
    assert "is too large to build: it declares 20,000 layers (num_hidden_layers)" in row["unresolved"]


def test_an_answer_without_a_commit_is_not_cached(tmp_path, online_env):
    """The snapshot directory is named by the commit the Hub announces: a server that names none
    (or a path) is not a Hub, and nothing is written."""
    for commit in (None, "../../../../etc"):
        meta = {"ETag": '"x"'} | ({"X-Repo-Commit": commit} if commit else {})
        hub = Hub({"/acme/nocommit/resolve/main/config.json": (200, meta, QWEN_BYTES)})
        try:
            row = lint(tmp_path, online_env, hub.url, "acme/nocommit")
        finally:
            hub.shutdown()
        assert "names no commit" in row["unresolved"], row["unresolved"]
        assert [c for c, _, _ in hub.seen] == ["HEAD"]
        assert not (tmp_path / "hf-hub" / "models--acme--nocommit" / "snapshots").exists()
