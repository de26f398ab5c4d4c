"""The Hub, last on the ladder and only when online use is allowed.

One HEAD request for ``config.json`` without retries (huggingface_hub's own download retries a
failed HEAD with backoff: ~23 s when the network is down), then the download itself, which lands
in the Hugging Face cache like any other, so the next run resolves offline. The whole exchange
runs under a deadline in a daemon thread: a server that accepts the connection and never answers
costs ``timeout`` seconds once; after a network failure the Hub is not tried again for a while
(no retry storm over a directory of configs). ``HF_TOKEN`` and ``HF_ENDPOINT`` are honoured by
huggingface_hub itself, which is imported here only.
"""

from __future__ import annotations

import threading
import time

from .resolve import Unresolved

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
        from huggingface_hub import hf_hub_download
        from huggingface_hub.file_download import get_hf_file_metadata, hf_hub_url
    except ImportError as e:
        return None, Unresolved(repo_id, "hub-error", f"{repo_id!r} is not cached and huggingface_hub"
                                f" is not installed to fetch it ({e})",
                                "install it (`pip install 'lora-lint[model]'`) or make the model available offline")

    def work() -> None:
        try:
            url = hf_hub_url(repo_id, "config.json", revision=revision or "main")
            meta = get_hf_file_metadata(url, timeout=timeout)  # one HEAD, no retry
            commit = meta.commit_hash or revision or "main"
            box["path"] = hf_hub_download(repo_id, "config.json", revision=commit, etag_timeout=timeout)
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
    problem = classify(repo_id, box.get("error"))
    with _lock:
        if problem.reason == "hub-error" and _is_network(box.get("error")):
            _down_until = time.monotonic() + BACKOFF_SECONDS
        _failed[(repo_id, revision)] = (time.monotonic() + BACKOFF_SECONDS, problem)
    return None, problem


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
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return Unresolved(repo_id, "hub-error", f"fetching {repo_id!r} from the Hub failed:"
                      f" {type(exc).__name__}{': ' + text if text else ''}",
                      UNREACHABLE if _is_network(exc) else "")
