"""Linting many files: worker processes when they pay; each model fetched and built once, here.

1. This process walks the tree and reads every file. A file that cannot hold a LoRA config (no
   marker; most files of a repository) is finished on the spot.
2. The others are linted (``engine.lint_partial``): sources, every rule that needs no model,
   and the model rules of each site whose model is at hand (a local, cached or catalog config
   with a cached or prebuilt inventory). With N workers, N - 1 forked processes take chunks of
   the Python files (libcst: long to import, slow to parse) while this process lints the YAML
   and JSON files, so on two cores it never imports libcst at all; whoever is idle takes what
   is left. With one worker all of it runs here, file after file.
3. A site whose model needs the Hub or a meta build stays deferred. At the first one that needs
   a build, torch and transformers start importing in a background thread, so the import
   overlaps with the parsing. Then ``engine.finish`` runs the remaining model rules in file
   order: the Hub is asked once per model, each distinct model is built once (the memo in
   ``models.context``) and only its inventory is kept.

Findings are sorted per file and files come out in discovery order, so the output does not depend
on the number of workers, on scheduling, or on what was cached.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator

from .engine import Partial, advance, finish, lint_partial, read_safely
from .model import Finding
from .settings import Settings
from .sources import PYTHON_SUFFIXES, may_hold_sites

#: Below this many files that may hold a LoRA config, one process is fastest (forking and
#: shipping results cost more than the parsing they save).
MIN_PARALLEL = 16
#: Each worker should get at least this many such files; more workers than that is overhead.
FILES_PER_WORKER = 8
MAX_AUTO_WORKERS = 8

_settings_for: Callable[[str], Settings] | None = None  # the workers' copy, inherited by fork


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Fork is what makes workers cheap (no re-import, settings inherited); without it (Windows)
    or with other threads running (an editor's server), one process does everything."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def idle_cores() -> int:
    """Cores not already busy (the 1-minute load average): workers beyond them only queue."""
    cores = cpu_count()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores
    return max(1, min(cores, round(cores - load)))


def auto_workers(candidates: int, cores: int | None = None) -> int:
    """The default: one process for a handful of LoRA files (pre-commit), else one worker per
    idle core, at most one per ``FILES_PER_WORKER`` such files and at most ``MAX_AUTO_WORKERS``."""
    if candidates < MIN_PARALLEL:
        return 1
    cores = idle_cores() if cores is None else cores
    return max(1, min(cores, candidates // FILES_PER_WORKER, MAX_AUTO_WORKERS))


def lint_each(paths: Iterable[str], settings_for: Callable[[str], Settings],
              force_exclude: bool = False, workers: int = 1) -> Iterator[tuple[str, list[Finding]]]:
    """``(path, findings)`` per file to lint, in discovery order. ``workers``: processes that
    lint, this one included (0: ``auto_workers``)."""
    from .discovery import iter_files

    paths = list(paths)
    explicit = set(paths)
    results: list[list[Finding] | Partial | None] = []
    names: list[str] = []
    jobs: list[tuple[int, str, str]] = []
    for path in iter_files(paths):
        s = settings_for(path)
        if s.exclude and (force_exclude or path not in explicit) and s.is_excluded(path):
            continue
        index = len(names)
        names.append(path)
        text = read_safely(path, s)
        if text is None:
            results.append([])
        elif isinstance(text, Finding):
            results.append([text] if text.code in s.rules_for(path) else [])
        elif may_hold_sites(path, text):
            results.append(None)
            jobs.append((index, path, text))
        else:
            results.append(lint_partial(path, text, s).findings)
    n = auto_workers(len(jobs)) if workers <= 0 else workers
    n = min(n, len(jobs))
    warm = Warmup()
    parallel = n if n > 1 and can_fork() else 1
    for index, partial in _phase_one(jobs, settings_for, parallel, warm.started):
        partial = advance(partial, settings_for(partial.path))
        results[index] = partial
        if partial.builds:
            warm.start()
    warm.join()
    for path, result in zip(names, results, strict=True):
        if isinstance(result, Partial):
            result = finish(result, settings_for(path))
        yield path, result


def _phase_one(jobs: list[tuple[int, str, str]], settings_for: Callable[[str], Settings],
               workers: int, importing: Callable[[], bool] = lambda: False) -> Iterator[tuple[int, Partial]]:
    def here(index: int, path: str, text: str) -> tuple[int, Partial]:
        return index, lint_partial(path, text, settings_for(path), models="cached")

    if workers <= 1:  # ``workers`` counts this process, which takes its share of the files
        for job in jobs:
            yield here(*job)
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # Python files (libcst: long to import, slow to parse) go to the workers first, YAML and
    # JSON (quick) stay here first, next to the model rules: on two cores this process then
    # never imports libcst at all. It takes Python files too when the workers are busy and
    # enough are left to be worth the import.
    def chunked(part: list) -> list[list]:
        return [part[i:i + size] for i in range(0, len(part), size)]

    python = [job for job in jobs if job[1].lower().endswith(PYTHON_SUFFIXES)]
    other = [job for job in jobs if not job[1].lower().endswith(PYTHON_SUFFIXES)]
    size = max(1, min(16, len(jobs) // (workers * 8)))
    queue = deque([*((True, c) for c in chunked(python)), *((False, c) for c in chunked(other))])
    _preload()
    global _settings_for
    _settings_for = settings_for
    pending: dict = {}
    try:
        with ProcessPoolExecutor(workers - 1, multiprocessing.get_context("fork"), initializer=_quiet) as pool:
            while queue or pending:
                # a few chunks ahead per worker; all the Python ones while this process leaves
                # them to the workers (so they never wait for it)
                while queue and (len(pending) < 2 * (workers - 1) or (
                        queue[0][0] and not _parsing_python_pays(sum(len(c) for p, c in queue if p)))):
                    chunk = queue.popleft()[1]
                    pending[pool.submit(_run_batch, chunk)] = chunk
                done, _ = wait(pending, timeout=0 if queue else None, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
                    del pending[future]
                if done or not queue or importing():
                    continue  # (parsing here would only slow the torch import in the background)
                is_python, chunk = queue[-1]
                if is_python and not _parsing_python_pays(sum(len(c) for p, c in queue if p)):
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)  # leave it to the workers
                    for future in done:
                        yield from future.result()
                        del pending[future]
                    continue
                queue.pop()
                for job in chunk:
                    yield here(*job)
    except BrokenProcessPool:  # a worker died (a crash in a parser): the rest is linted here
        for chunk in [*pending.values(), *(c for _, c in queue)]:
            for job in chunk:
                yield here(*job)
    finally:
        _settings_for = None


#: Python files left for this process to start parsing them itself (it pays for libcst's import).
PYTHON_HERE = 64


def _parsing_python_pays(left: int) -> bool:
    import sys

    return "libcst" in sys.modules or left >= PYTHON_HERE


def _preload() -> None:
    """Import before forking what every process needs (the rules, the model analysis), so that
    no worker imports it again; the readers (libcst, PyYAML) are imported where they are used."""
    from . import project, registry, suppressions  # noqa: F401
    from .models import build, context  # noqa: F401  (build: model classes; torch stays lazy)

    registry.all_rules()


def _quiet() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the pool


def _run_batch(batch: list[tuple[int, str, str]]) -> list[tuple[int, Partial]]:
    assert _settings_for is not None
    return [(index, lint_partial(path, text, _settings_for(path), models="cached"))
            for index, path, text in batch]


class Warmup:
    """Imports torch and transformers in a background thread, once a model must be built."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is None:
            from .models.build import warm_up

            self.thread = threading.Thread(target=warm_up, name="lora-lint-import", daemon=True)
            self.thread.start()

    def started(self) -> bool:
        return self.thread is not None

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
