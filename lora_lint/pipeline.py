"""Linting many files: worker processes when they pay; each model fetched and built once, here.

1. This process walks the tree and reads every file (``files.each_file``). A file that cannot
   hold a LoRA config (no marker; most files of a repository) is finished on the spot.
2. The others are linted (``lint_partial``): sources, every rule that needs no model (the
   ``engine``), and the model rules of each site whose model is at hand (a local, cached or
   catalog config with a cached or prebuilt inventory). With N workers, N - 1 forked processes take chunks of
   the Python files (libcst: long to import, slow to parse) while this process lints the YAML
   and JSON files, so on two cores it never imports libcst at all; whoever is idle takes what
   is left. With one worker all of it runs here, file after file.
3. A site whose model needs the Hub or a meta build stays ``Waiting``. At the first one that needs
   a build, torch and transformers start importing in a background thread, so the import
   overlaps with the parsing. Then ``finish`` runs the remaining model rules in file
   order: the Hub is asked once per model, each distinct model is built once (the memo in
   ``models.context``) and only its inventory is kept.

Findings are sorted per file and files come out in discovery order, so the output does not depend
on the number of workers, on scheduling, or on what was cached. With a results cache
(``result_cache``), a file whose entry holds is not even read (a ``stat``); every other file is
linted while ``depends`` records what its findings depend on (``Partial.record``, sent back from
the workers with the findings), and its entry is written when it is final. One file's way: ``Partial``
(findings so far, sites still ``Waiting`` and what they need), advanced by ``Reach`` (how far
model resolution may go in a step) until nothing waits; then its suppression comments apply.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

from .depends import Record, recording
from .model import Finding, Span
from .settings import Settings
from .source_file import Kind, SourceFile, Stamp

TYPE_CHECKING = False  # typing is not imported at run time (a warm run needs none of it)
if TYPE_CHECKING:
    import threading

    from .engine import Reach, Waiting
    from .registry import Rule
    from .result_cache import ResultCache

#: Below this many files that may hold a LoRA config, one process is fastest (forking and
#: shipping results cost more than the parsing they save).
MIN_PARALLEL = 16
#: Each worker should get at least this many such files; more workers than that is overhead.
FILES_PER_WORKER = 8
MAX_AUTO_WORKERS = 8


# -- one file ------------------------------------------------------------------------------------

@dataclass
class Partial:
    """One file on its way: the sites in ``waiting`` still need their model rules; until they
    have run, ``findings`` are not final (the suppression comments are applied last). ``record``:
    what its findings so far depend on (``depends``), when that is being recorded."""

    source: SourceFile
    findings: list[Finding]
    waiting: list[Waiting] = field(default_factory=list)
    record: Record | None = None

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def builds(self) -> bool:
        """Some waiting site needs a meta build (torch and transformers)."""
        from .models.context import Need

        return any(w.need is Need.BUILD for w in self.waiting)


def _directives_possible(source: SourceFile) -> bool:
    if source.kind is Kind.NOTEBOOK:  # a notebook's JSON that was not presented (no LoRA marker):
        return False                  # its comments are in cells, read only when it is presented
    text = source.text
    return "lora-lint" in text or "noqa" in text.lower()


def _recorded(record: Record | None):
    return nullcontext() if record is None else recording(record)


def lint_partial(source: SourceFile, settings: Settings, rules: Mapping[str, Rule] | None = None,
                 reach: Reach | None = None, record: Record | None = None) -> Partial:
    """One file: its sites, the rules that need no model, and the model rules of every site
    whose model ``reach`` allows (default ``Reach.ALL``); the others are left waiting. ``record``:
    where to record what the findings depend on."""
    with _recorded(record):
        partial = _lint_partial(source, settings, rules, reach)
    partial.record = record
    return partial


def _lint_partial(source: SourceFile, settings: Settings, rules: Mapping[str, Rule] | None,
                  reach: Reach | None) -> Partial:
    from .sources import SourceError, presented, sites_for

    path = source.path
    try:
        source = presented(source)
        sites = sites_for(source)
    except SourceError as e:
        found = [_finding("LL901", e.message, path, e.span)]
    except RecursionError as exc:
        found = [_finding("LL901", "file is nested too deeply to parse", path, Span.point(1, 1))]
        del exc
    except Exception as exc:
        from .rules import internal_error  # (the rules are loaded only for a file that needs them)

        found = [internal_error("the source reader", path, Span.point(1, 1), exc)]
    else:
        unreadable = [_finding("LL901", message, path, span) for message, span in source.problems]
        if not sites and not unreadable and not _directives_possible(source):
            source.forget()
            return Partial(source, [])  # the common case: no rule, not even the registry, is loaded
        from .engine import Reach, check  # (the engine is loaded only for a file that needs it)

        rules = settings.rules_for(path) if rules is None else rules
        found, waiting = check(source if sites else None, sites, settings, rules, Reach.ALL if reach is None else reach)
        found = unreadable + found
        if waiting:
            source.forget()
            return Partial(source, found, waiting)
    rules = settings.rules_for(path) if rules is None else rules
    return Partial(source, _final(source, found, rules))


def _finding(code: str, message: str, path: str, span: Span) -> Finding:
    from .rules import finding

    return finding(code, message, path, span)


def advance(partial: Partial, settings: Settings, rules: Mapping[str, Rule] | None = None,
            reach: Reach | None = None) -> Partial:
    """The model rules of the waiting sites whose model ``reach`` allows (default
    ``Reach.CACHED``); the partial is final (suppressions applied) when none is left."""
    if not partial.waiting:
        return partial
    from .engine import Reach, check

    reach = Reach.CACHED if reach is None else reach
    source = partial.source
    rules = settings.rules_for(source.path) if rules is None else rules
    with _recorded(partial.record):
        more, still = check(source, [w.site for w in partial.waiting], settings, rules, reach, model_only=True)
        found = partial.findings + more
        if still:
            source.forget()
            return Partial(source, found, still, partial.record)
        return Partial(source, _final(source, found, rules), record=partial.record)


def finish(partial: Partial, settings: Settings, rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    """The last step: the remaining model rules (models resolved, fetched and built here, each
    once per process), then the suppressions."""
    from .engine import Reach

    return advance(partial, settings, rules, Reach.ALL).findings


def _final(source: SourceFile, found: list[Finding], rules: Mapping[str, Rule]) -> list[Finding]:
    from .rules import internal_error
    from .suppressions import apply as apply_suppressions

    # two sites, one default: one finding; at the severity the settings give each rule
    found = at_severity(list(dict.fromkeys(f for f in found if f.code in rules)), rules)
    own = [f for f in found if f.path == source.path]
    elsewhere = [f for f in found if f.path != source.path]
    try:
        found = apply_suppressions(source, own, rules) + _suppressed_elsewhere(elsewhere, rules)
    except Exception as exc:  # a bug there must not lose the findings
        if "LL903" in rules:
            found.append(internal_error("the suppression comments", source.path, Span.point(1, 1), exc))
    source.forget()
    return sorted(found, key=lambda f: f.sort_key)


def at_severity(findings: list[Finding], rules: Mapping[str, Rule]) -> list[Finding]:
    """``findings`` at the severity their rule has in ``rules`` (``[tool.lora-lint.severity]``)."""
    return [f if (r := rules.get(f.code)) is None or r.severity is f.severity else replace(f, severity=r.severity)
            for f in findings]


def _suppressed_elsewhere(found: list[Finding], rules: Mapping[str, Rule]) -> list[Finding]:
    """Findings in another file (a YAML file the script reads) after that file's suppression
    comments; an unused one there is that file's own check's to report."""
    if not found:
        return found
    from .bounded_read import read_regular_file
    from .source_file import decode
    from .suppressions import apply as apply_suppressions

    quiet = {code: r for code, r in rules.items() if code != "LL904"}
    out: list[Finding] = []
    for path in dict.fromkeys(f.path for f in found):
        mine = [f for f in found if f.path == path]
        try:
            data, _ = read_regular_file(path, 4 << 20)
        except OSError:
            out.extend(mine)
            continue
        other = decode(data, path)
        out.extend(apply_suppressions(other, mine, quiet) if isinstance(other, SourceFile) else mine)
    return out


def lint_source(source: SourceFile, settings: Settings | None = None,
                rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    """Findings for one file, after ``per-file-ignores`` and suppression comments."""
    return lint_partial(source, settings or Settings(), rules).findings  # Reach.ALL: nothing waits


def lint_text(path: str, text: str, settings: Settings | None = None,
              rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    """``lint_source`` for a text handed over as text (an editor, a test)."""
    return lint_source(SourceFile.of_text(path, text), settings, rules)


def lint_file(path: str, settings: Settings | None = None,
              rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    """``lint_source`` for a file on disk (with the findings about reading it)."""
    from .files import read_file

    settings = settings or Settings()
    read = read_file(path, settings)
    return _lint_read(read, rules)


def _lint_read(read, rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    if read.problem is not None:
        rules = read.settings.rules_for(read.path) if rules is None else rules
        return at_severity([read.problem], rules) if read.problem.code in rules else []
    if read.source is None:
        return []
    return lint_source(read.source, read.settings, rules)


# -- many files ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Linted:
    """One file's final findings, and what a report may quote from it (kept only for a file
    with findings: a run does not hold every file's text)."""

    path: str
    findings: list[Finding]
    shown: SourceFile | None = None
    #: What the findings depend on (``depends``), when they were linted in this run.
    record: Record | None = None


def lint_paths(paths: Iterable[str], settings: Settings | None = None,
               settings_for: Callable[[str], Settings] | None = None,
               force_exclude: bool = False, workers: int = 1) -> list[Finding]:
    if settings_for is None:
        settings = settings or Settings()
        settings_for = lambda _path: settings  # noqa: E731
    out = [f for one in lint_each(paths, settings_for, force_exclude, workers) for f in one.findings]
    return sorted(out, key=lambda f: f.sort_key)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Fork is what makes workers cheap (no re-import, settings inherited); without it (Windows)
    or with other threads running (an editor's server), one process does everything."""
    import multiprocessing
    import threading

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


Job = tuple[int, SourceFile]  # (the file's place in discovery order, the file)


def lint_each(paths: Iterable[str], settings_for: Callable[[str], Settings],
              force_exclude: bool = False, workers: int = 1,
              cache: ResultCache | None = None) -> Iterator[Linted]:
    """Every file to lint, in discovery order, with its final findings. ``settings_for(path)``
    gives each file its settings (its nearest config file); a file its ``exclude`` matches is
    skipped when found by walking a directory, and also when named explicitly if
    ``force_exclude``. ``workers``: processes that lint, this one included (0: ``auto_workers``).
    ``cache``: the results cache, asked before a file is read and saved when all are done."""
    from .files import file_paths, read_file, shown_of

    results: list[Linted | Partial | None] = []  # (a file's text is kept only while needed)
    jobs: list[Job] = []
    #: the files to cache once linted: their place -> (path, settings, what their bytes were)
    stamps: dict[int, tuple[str, Settings, Stamp]] = {}
    for path, settings in file_paths(paths, settings_for, force_exclude):
        if cache is not None:
            found = cache.get(path, settings)
            if found is not None:
                results.append(Linted(path, found, shown_of(path, settings) if found else None))
                continue
        read = read_file(path, settings, stamp=cache is not None)
        index = len(results)
        if read.stamp is not None:
            stamps[index] = (read.path, settings, read.stamp)
        if read.source is not None and _may_hold_sites(read.source):
            results.append(None)
            jobs.append((index, read.source))
        else:
            record = Record()
            with recording(record):
                found = _lint_read(read)
            results.append(Linted(read.path, found, read.shown if found else None, record))
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
    done: list[Linted] = []
    for index, result in enumerate(results):
        if isinstance(result, Partial):
            findings = finish(result, settings_for(result.path))
            result = Linted(result.path, findings, result.source if findings else None, result.record)
        assert result is not None
        stamped = stamps.get(index)
        if cache is not None and stamped is not None:
            cache.put(*stamped, result.findings, result.record)
        done.append(result)
    if cache is not None:
        cache.save()
    yield from _once(done)


def _once(done: list[Linted]) -> Iterator[Linted]:
    """The files' findings with each finding in another file (a YAML file a script reads) given
    once: not again when that file's own check, or another script reading it, reports it."""
    key = lambda f: (f.code, f.path, f.span, f.message)  # noqa: E731
    if all(f.path == one.path for one in done for f in one.findings):
        yield from done
        return
    seen = {key(f) for one in done for f in one.findings if f.path == one.path}
    for one in done:
        kept = []
        for f in one.findings:
            if f.path != one.path:
                if key(f) in seen:
                    continue
                seen.add(key(f))
            kept.append(f)
        yield one if len(kept) == len(one.findings) else Linted(one.path, kept, one.shown if kept else None, one.record)


def _may_hold_sites(source: SourceFile) -> bool:
    from .sources import may_hold_sites

    return may_hold_sites(source)


def _phase_one(jobs: list[Job], settings_for: Callable[[str], Settings], workers: int,
               importing: Callable[[], bool] = lambda: False) -> Iterator[tuple[int, Partial]]:
    def here(index: int, source: SourceFile) -> tuple[int, Partial]:
        from .engine import Reach

        return index, lint_partial(source, settings_for(source.path), reach=Reach.CACHED, record=Record())

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

    sources = dict(jobs)

    def received(future) -> Iterator[tuple[int, Partial]]:
        for index, findings, waiting, record in future.result():
            yield index, Partial(sources[index], findings, waiting, record)

    python = [job for job in jobs if job[1].kind is Kind.PYTHON]
    other = [job for job in jobs if job[1].kind is not Kind.PYTHON]
    size = max(1, min(16, len(jobs) // (workers * 8)))
    queue = deque([*((True, c) for c in chunked(python)), *((False, c) for c in chunked(other))])
    _preload()
    pending: dict = {}
    try:
        with ProcessPoolExecutor(workers - 1, multiprocessing.get_context("fork"), initializer=_start_worker,
                                 initargs=(settings_for,)) as pool:
            while queue or pending:
                # a few chunks ahead per worker; all the Python ones while this process leaves
                # them to the workers (so they never wait for it)
                while queue and (len(pending) < 2 * (workers - 1) or (
                        queue[0][0] and not _parsing_python_pays(sum(len(c) for p, c in queue if p)))):
                    chunk = queue.popleft()[1]
                    pending[pool.submit(_run_batch, chunk)] = chunk
                done, _ = wait(pending, timeout=0 if queue else None, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from received(future)
                    del pending[future]
                if done or not queue or importing():
                    continue  # (parsing here would only slow the torch import in the background)
                is_python, chunk = queue[-1]
                if is_python and not _parsing_python_pays(sum(len(c) for p, c in queue if p)):
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)  # leave it to the workers
                    for future in done:
                        yield from received(future)
                        del pending[future]
                    continue
                queue.pop()
                for job in chunk:
                    yield here(*job)
    except BrokenProcessPool:  # a worker died (a crash in a parser): the rest is linted here
        for chunk in [*pending.values(), *(c for _, c in queue)]:
            for job in chunk:
                yield here(*job)


#: Python files left for this process to start parsing them itself (it pays for libcst's import).
PYTHON_HERE = 64


def _parsing_python_pays(left: int) -> bool:
    import sys

    return "libcst" in sys.modules or left >= PYTHON_HERE


def _preload() -> None:
    """Import before forking what every process needs (the rules, the model analysis), so that
    no worker imports it again; the readers (libcst, PyYAML) are imported where they are used."""
    from . import project, rules, suppressions  # noqa: F401
    from .models import build, context  # noqa: F401  (build: model classes; torch stays lazy)


#: In a worker process only: how it finds each file's settings, handed over by its initializer
#: (a forked worker inherits the parent's function as it is, nothing is pickled). None here.
_worker_settings: Callable[[str], Settings] | None = None


def _start_worker(settings_for: Callable[[str], Settings]) -> None:
    import signal

    global _worker_settings
    _worker_settings = settings_for
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the pool


def _run_batch(batch: list[Job]) -> list[tuple[int, list[Finding], list[Waiting], Record | None]]:
    """Phase one of some files in a worker: what comes back is findings, waiting sites and what
    they depend on (the parent has the texts)."""
    from .engine import Reach

    settings_for = _worker_settings
    assert settings_for is not None
    out = []
    for index, source in batch:
        partial = lint_partial(source, settings_for(source.path), reach=Reach.CACHED, record=Record())
        out.append((index, partial.findings, partial.waiting, partial.record))
    return out


class Warmup:
    """Imports torch and transformers in a background thread, once a model must be built."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is None:
            import threading

            from .models.build import warm_up

            self.thread = threading.Thread(target=warm_up, name="lora-lint-import", daemon=True)
            self.thread.start()

    def started(self) -> bool:
        return self.thread is not None

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
