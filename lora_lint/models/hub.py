"""The Hub, last on the ladder and only when online use is allowed.

One HEAD request for ``config.json`` without retries (huggingface_hub's own download retries a
failed HEAD with backoff: ~23 s when the network is down), then one GET, read at most
``MAX_CONFIG_BYTES``: a size the HEAD or the GET announces above it is refused before the body is
read, and a body that goes on past it (no length announced, or a wrong one) is cut off there.
huggingface_hub's ``hf_hub_download`` reads any size to the end, so the file is written into the
Hugging Face cache here, in its layout (``blobs/<etag>``, ``snapshots/<commit>/config.json``,
``refs/<revision>``), and the next run resolves offline. The whole exchange runs under a deadline
in a daemon thread: a server that accepts the connection and never answers costs ``timeout``
seconds once, one that trickles bytes is dropped at the deadline; after a network failure the Hub
is not tried again for a while (no retry storm over a directory of configs). ``HF_TOKEN``,
``HF_ENDPOINT`` and proxies are honoured by huggingface_hub's session, which is imported here only.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from pathlib import Path

from ..cache_root import write_atomically
from .config_lookup import COMMIT_HASH, MAX_CONFIG_BYTES, Unresolved, hf_cache_dir, one_line

#: After a connection failure or timeout, skip the Hub for this many seconds.
BACKOFF_SECONDS = 300.0
_down_until = 0.0
_failed: dict[tuple[str, str | None], tuple[float, Unresolved]] = {}  # answers not worth repeating
_lock = threading.Lock()

LOGIN = "run `hf auth login` or set HF_TOKEN"
UNREACHABLE = ("make the model available offline (a local directory with its config.json, or the"
               " Hugging Face cache), or pass `--offline` / set HF_HUB_OFFLINE=1 to skip the Hub")


def reset() -> None:
    """Forget an earlier network failure (tests, and the language server on configuration change)."""
    global _down_until
    _down_until = 0.0
    _failed.clear()


def fetch_config(repo_id: str, revision: str | None, timeout: float) -> tuple[str | None, Unresolved | None]:
    """Download ``config.json`` of ``repo_id``: (path, None) or (None, why not)."""
    global _down_until
    earlier = _failed.get((repo_id, revision))
    if earlier is not None and time.monotonic() < earlier[0]:
        return None, earlier[1]
    if time.monotonic() < _down_until:
        return None, Unresolved(repo_id, "hub-error", f"{repo_id!r} is not cached and the Hub was"
                                " unreachable earlier in this run", UNREACHABLE)
    box: dict = {}
    try:  # imported before the clock starts: the deadline is for the Hub, not for imports
        from huggingface_hub import get_session, hf_raise_for_status
        from huggingface_hub.file_download import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.utils import build_hf_headers
    except ImportError as e:
        return None, Unresolved(repo_id, "hub-error", f"{repo_id!r} is not cached and huggingface_hub"
                                f" is not installed to fetch it ({e})",
                                "install it (`pip install 'lora-lint[model]'`) or make the model available offline")
    deadline = time.monotonic() + timeout

    def work() -> None:
        try:
            url = hf_hub_url(repo_id, "config.json", revision=revision or "main")
            meta = get_hf_file_metadata(url, timeout=timeout)  # one HEAD, no retry
            if meta.size is not None and meta.size > MAX_CONFIG_BYTES:
                raise ConfigTooLarge(meta.size)
            commit = meta.commit_hash
            if not isinstance(commit, str) or not COMMIT_HASH.match(commit):
                box["error"] = ValueError("the answer names no commit (X-Repo-Commit): not a Hugging Face Hub?")
                return
            headers = build_hf_headers()
            headers["Accept-Encoding"] = "identity"
            data = _bounded_get(get_session(), hf_hub_url(repo_id, "config.json", revision=commit),
                                headers, timeout, deadline, hf_raise_for_status)
            box["path"] = _into_cache(repo_id, revision or "main", commit, meta.etag, data)
        except ConfigTooLarge as e:
            box["too-large"] = e.size
        except BaseException as e:  # reported by the caller
            box["error"] = e

    t = threading.Thread(target=work, name="lora-lint-hub", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        with _lock:
            _down_until = time.monotonic() + BACKOFF_SECONDS
        return None, Unresolved(repo_id, "hub-timeout", f"the Hub did not answer within {timeout:g} s"
                                f" while fetching {repo_id!r}", UNREACHABLE)
    if "path" in box:
        return box["path"], None
    if "too-large" in box:
        size = box["too-large"]
        problem = Unresolved(repo_id, "hub-too-large", f"the Hub's config.json of {repo_id!r} is"
                             f" {f'{size:,} bytes' if size is not None else 'larger than that'},"
                             f" over the {MAX_CONFIG_BYTES:,}-byte limit; not downloaded",
                             "check the id; a real config.json is a few kilobytes")
        with _lock:
            _failed[(repo_id, revision)] = (time.monotonic() + BACKOFF_SECONDS, problem)
        return None, problem
    problem = classify(repo_id, box.get("error"))
    with _lock:
        if problem.reason == "hub-error" and _is_network(box.get("error")):
            _down_until = time.monotonic() + BACKOFF_SECONDS
        _failed[(repo_id, revision)] = (time.monotonic() + BACKOFF_SECONDS, problem)
    return None, problem


class ConfigTooLarge(Exception):
    """The Hub's config.json is over ``MAX_CONFIG_BYTES``: the size announced, or None when the
    body just went on past it."""

    def __init__(self, size: int | None):
        super().__init__(size)
        self.size = size


def _bounded_get(session, url: str, headers: dict, timeout: float, deadline: float,
                 raise_for_status) -> bytes:
    """The body at ``url``, at most ``MAX_CONFIG_BYTES`` of it. Raises ``ConfigTooLarge`` (before
    reading the body when its length is announced) and ``TimeoutError`` past the deadline."""
    with session.stream("GET", url, headers=headers, timeout=timeout) as response:
        raise_for_status(response)
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        announced = response.headers.get("Content-Length", "")
        if encoding == "identity" and announced.isdigit() and int(announced) > MAX_CONFIG_BYTES:
            raise ConfigTooLarge(int(announced))
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > MAX_CONFIG_BYTES:
                raise ConfigTooLarge(None)
            if time.monotonic() > deadline:
                raise TimeoutError("the download did not end within the deadline")
        return bytes(data)


_ETAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _into_cache(repo_id: str, revision: str, commit: str, etag: str | None, data: bytes) -> str:
    """Write ``data`` where huggingface_hub would have put it; the path of the snapshot file.
    ``commit`` is a checked 40-hex hash and ``etag`` is used only when it is a plain file name."""
    folder = hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    blob_name = etag if isinstance(etag, str) and _ETAG.match(etag) else hashlib.sha256(data).hexdigest()
    blob = folder / "blobs" / blob_name
    snapshot = folder / "snapshots" / commit / "config.json"
    _write_atomically(blob, data)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    tmp = snapshot.with_name(f".config.json.{os.getpid()}.tmp")
    try:
        os.symlink(os.path.relpath(blob, snapshot.parent), tmp)
    except OSError:  # no symlinks here (Windows without the privilege): a copy, as huggingface_hub does
        _write_atomically(tmp, data)
    os.replace(tmp, snapshot)
    if revision != commit:
        _write_atomically(folder / "refs" / revision, commit.encode())
    return str(snapshot)


def _write_atomically(path: Path, data: bytes) -> None:
    write_atomically(path, data, prefix=f".{path.name[:16]}-")


def _is_network(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    name = type(exc).__name__
    return isinstance(exc, (ConnectionError, TimeoutError)) or any(
        word in name for word in ("Timeout", "Connect", "Network", "Protocol", "Offline"))


def classify(repo_id: str, exc: BaseException | None) -> Unresolved:
    """An Unresolved saying what the Hub answered."""
    if exc is None:
        return Unresolved(repo_id, "hub-error", f"fetching {repo_id!r} from the Hub failed")
    try:
        from huggingface_hub import errors
    except Exception:  # pragma: no cover - huggingface_hub without its errors module
        errors = None
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if errors is not None and isinstance(exc, errors.GatedRepoError):
        return Unresolved(repo_id, "gated", f"{repo_id!r} is a gated repository and this machine has no"
                          " access to it", f"request access on its Hub page, then {LOGIN}")
    if status in (401, 403):
        return Unresolved(repo_id, "gated", f"the Hub refused {repo_id!r} (HTTP {status}): it is gated"
                          " or private, or the id is wrong", f"check the id; for a gated model, {LOGIN}")
    if errors is not None and isinstance(exc, errors.RevisionNotFoundError):
        return Unresolved(repo_id, "not-found", f"the requested revision of {repo_id!r} does not exist")
    if errors is not None and isinstance(exc, errors.EntryNotFoundError):
        return Unresolved(repo_id, "not-found", f"{repo_id!r} has no config.json (not a transformers model?)")
    if errors is not None and isinstance(exc, errors.RepositoryNotFoundError) or status == 404:
        return Unresolved(repo_id, "not-found", f"{repo_id!r} does not exist on the Hub")
    if errors is not None and isinstance(exc, errors.OfflineModeIsEnabled):
        return Unresolved(repo_id, "not-found", f"{repo_id!r} is not cached and huggingface_hub is offline")
    text = next((line for line in str(exc).splitlines() if line.strip()), "")
    return Unresolved(repo_id, "hub-error", one_line(f"fetching {repo_id!r} from the Hub failed:"
                      f" {type(exc).__name__}{': ' + text if text else ''}", 300),
                      UNREACHABLE if _is_network(exc) else "")
