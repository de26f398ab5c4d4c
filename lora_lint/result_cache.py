"""The results cache: each file's findings, replayed while nothing they depend on has changed.

As ruff's cache: a file whose entry still holds costs a ``stat`` (size and mtime; a hash of its
bytes only when those changed), and its findings, fixes included, come back as they were. An
entry holds while all of these are what they were when the file was linted:

* the file's bytes (its size and mtime, else its sha256);
* its settings (``Settings``, whole: rules, options, severities, per-file ignores, base-model
  settings and ``--base-model``; the path decides the per-file parts);
* every other file, probe and directory listing the linting recorded (``depends``): the peft pin,
  a local model's ``config.json``, the model lock's index and inventories, the Hugging Face cache,
  a YAML file a script reads. A finding that asked the Hub is never cached (``depends.volatile``);
* the run's key (``run_key``): lora-lint's version and (for a source checkout) the stamp of its
  code and data, Python, the installed packages (the stamp of each ``site-packages``: peft's and
  transformers' versions, torch present or not), the working directory (findings name paths
  relative to it) and the environment variables findings depend on (``RUN_ENV``). The
  inventories a finding used are keyed by the model config's content hash, which comes from a
  recorded file, and by versions the run key covers.

Where: ``<cache dir>/results/`` (``cache_root``: ``--cache-dir``, ``LORA_LINT_CACHE_DIR``, else the
user cache directory), one JSON document per working directory and run key, naming the project root
(the git top level) it belongs to; ``lora-lint clean`` removes those of a project. Written to a
temporary file and moved into place (``os.replace``); a run that finds the file changed since it
read it keeps the other run's entries too. An entry or a file that cannot be read is a miss.
Entries not used for ``MAX_AGE_DAYS`` are dropped, and the oldest files go when all of them
together exceed ``MAX_TOTAL_BYTES``.

``--no-cache`` (``LORA_LINT_NO_CACHE``) turns every cache off; ``LORA_LINT_NO_RESULT_CACHE`` this
one only (the test suite sets it: a test's monkeypatched code is not part of the run's key, so its
in-process and subprocess runs lint every file; the tests of this cache turn it back on).
"""

from __future__ import annotations

import json
import os
import stat as _stat
import sys
import time
import zlib
from collections.abc import Iterable
from pathlib import Path

from . import __version__
from .bounded_read import read_regular_file
from .cache_root import cache_root, disabled, write_atomically
from .depends import Record, matching, sha256, shape, stat_or_none, trusted_mtime
from .model import Edit, Finding, Fix, Severity, Span
from .source_file import Stamp

TYPE_CHECKING = False  # typing is not imported at run time (a warm run needs none of it)
if TYPE_CHECKING:
    from typing import Any

SCHEMA = 1
DIR = "results"
#: Environment variables that findings depend on: the Hugging Face cache's place and whether the
#: Hub may be asked (model resolution), the home directory (``~`` in paths), strict fix building.
RUN_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME",
           "XDG_CACHE_HOME", "HOME", "LORA_LINT_STRICT_FIXES")
#: An entry not used for this many days is dropped; so is a results file not written for as long.
MAX_AGE_DAYS = 30
#: All results files together are kept below this size (the least recently written go first).
MAX_TOTAL_BYTES = 256 * 1024 * 1024
#: A results file larger than this is not read (10,000 files with findings take about 5 MB).
MAX_FILE_BYTES = 128 * 1024 * 1024
#: Findings of these codes say lora-lint itself failed (LL903): such a file is linted again.
NOT_CACHED = frozenset({"LL903"})

_DAY_NS = 86_400 * 1_000_000_000
NO_RESULT_CACHE_ENV = "LORA_LINT_NO_RESULT_CACHE"


def enabled() -> bool:
    """Neither ``--no-cache`` (``LORA_LINT_NO_CACHE``) nor ``LORA_LINT_NO_RESULT_CACHE`` is set."""
    return not disabled() and not os.environ.get(NO_RESULT_CACHE_ENV)


# -- the run's key ---------------------------------------------------------------------------------

def run_key(cwd: str | None = None) -> str:
    """What every finding of this run depends on, whatever the file (see the module's docstring)."""
    parts: list[Any] = [SCHEMA, __version__, sys.version, sys.prefix, os.path.abspath(cwd or os.getcwd()),
                        [os.environ.get(v) for v in RUN_ENV], _site_stamp(), _package_stamp()]
    return json.dumps(parts, separators=(",", ":"))


def _site_stamp() -> list:
    """The mtime of each ``site-packages`` directory: installing, upgrading or removing a package
    (peft, transformers, torch, lora-lint itself) adds or removes entries there."""
    out = []
    for entry in sys.path:
        if os.path.basename(entry.rstrip("/\\")) in ("site-packages", "dist-packages"):
            st = stat_or_none(entry)
            out.append([entry, st.st_mtime_ns if st is not None else None])
    return out


PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _package_stamp() -> int | None:
    """For lora-lint run from a source checkout (an editable install): every file of the package
    by name, size and mtime, so an edit of a rule, a reader or the data is a new run key. An
    installed package changes only with its ``site-packages`` (``_site_stamp``): None."""
    if any(part in ("site-packages", "dist-packages") for part in Path(PACKAGE).parts):
        return None
    rows = []
    stack = [PACKAGE]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as entries:
                for e in entries:
                    if e.is_dir(follow_symlinks=False):
                        if e.name != "__pycache__":
                            stack.append(e.path)
                    elif not e.name.endswith((".pyc", ".pyo")):
                        st = e.stat()
                        rows.append(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}")
        except OSError:
            continue
    rows.sort()
    data = "\n".join(rows).encode("utf-8", "surrogateescape")
    return zlib.crc32(data) << 32 | zlib.adler32(data)


def _digest(text: str) -> str:
    data = text.encode("utf-8", "surrogateescape")
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def _today() -> int:
    return time.time_ns() // _DAY_NS


# -- findings as JSON ------------------------------------------------------------------------------

def _span(s: Span) -> list[int]:
    return [s.line, s.col, s.end_line, s.end_col]


def encode(findings: Iterable[Finding], path: str) -> list:
    out = []
    for f in findings:
        fix = None if f.fix is None else [f.fix.message, f.fix.applicability,
                                          [[*_span(e.span), e.text] for e in f.fix.edits]]
        out.append([f.code, f.name, f.severity.value, f.message, _span(f.span), fix,
                    [list(kv) for kv in f.facts], None if f.path == path else f.path])
    return out


def decode(rows: list, path: str) -> list[Finding]:
    out = []
    for code, name, severity, message, span, fix, facts, where in rows:
        made = None if fix is None else Fix(fix[0], tuple(Edit(Span(*e[:4]), e[4]) for e in fix[2]), fix[1])
        out.append(Finding(code, name, Severity(severity), message, path if where is None else where,
                           Span(*span), made, tuple((k, v) for k, v in facts)))
    return out


def _frozen(value: Any) -> Any:
    """JSON's lists as tuples (dependency keys and values are compared and hashed)."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


# -- checking a dependency -------------------------------------------------------------------------

def check(key: tuple, value: tuple) -> tuple | None:
    """Whether the recorded dependency ``key`` still has ``value`` (``depends``): None when it
    changed, else its value, perhaps with a mtime that can now be trusted."""
    kind = key[0]
    if kind == "stat":
        return value if shape(stat_or_none(key[1])) == value else None
    if kind == "file":
        st = stat_or_none(key[1])
        if len(value) == 1:
            return value if shape(st) == value else None
        if st is None or not _stat.S_ISREG(st.st_mode) or st.st_size != value[1]:
            return None
        if value[2] is not None and st.st_mtime_ns == value[2]:
            return value
        if not value[3]:  # a file too large to read: its stat is all there is
            return None
        try:
            data, st = read_regular_file(key[1], value[1])
        except OSError:
            return None
        return ("file", st.st_size, trusted_mtime(st.st_mtime_ns), value[3]) if sha256(data) == value[3] else None
    if kind == "list":
        st = stat_or_none(key[1])
        if value == ("missing",):
            return value if st is None or not _stat.S_ISDIR(st.st_mode) else None
        if st is None or not _stat.S_ISDIR(st.st_mode):
            return None
        if value[0] is not None and st.st_mtime_ns == value[0]:
            return value
        try:
            names = tuple(matching(key[1], key[2]))
        except (OSError, ValueError):
            return None
        return (trusted_mtime(st.st_mtime_ns), names) if names == tuple(value[1]) else None
    return None


# -- the cache -------------------------------------------------------------------------------------

class ResultCache:
    """The entries of one working directory and run key; ``get`` before reading a file, ``put``
    once it is linted, ``save`` at the end of the run."""

    def __init__(self, file: Path, key: str, root: str, cwd: str):
        self.file, self.key, self.root, self.cwd = file, key, root, cwd
        self.settings_table: list[str] = []
        self.deps_table: list[list] = []  # [key, value], as tuples
        self.entries: dict[str, list] = {}
        self.loaded_stat: tuple | None = None
        self.dirty = False
        self.touched: set[str] = set()  # paths this run put, refreshed or dropped
        self._settings_ids: dict[int, tuple[Any, int]] = {}  # id(Settings) -> (it, its row)
        self._settings_rows: dict[str, int] = {}
        self._dep_rows: dict[tuple, int] = {}
        self._dep_ok: dict[int, bool] = {}
        self._deps_ok: dict[tuple, bool] = {}
        self.hits = 0
        self.today = _today()

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | None = None, directory: str | os.PathLike | None = None,
             cwd: str | None = None) -> ResultCache:
        """The cache of this working directory and run key (empty when there is none yet, or it
        cannot be read). ``root``: the project it belongs to (default: the working directory)."""
        cwd = os.path.abspath(cwd or os.getcwd())
        key = run_key(cwd)
        base = Path(directory) if directory is not None else cache_root()
        cache = cls(base / DIR / f"{_digest(cwd)}-{_digest(key)}", key, os.path.abspath(root or cwd), cwd)
        cache._load()
        return cache

    def _read(self) -> tuple[dict | None, tuple | None]:
        try:
            data, st = read_regular_file(self.file, MAX_FILE_BYTES)
            doc = json.loads(data)
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            return None, None
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        if (not isinstance(doc, dict) or doc.get("schema") != SCHEMA or doc.get("key") != self.key
                or not isinstance(doc.get("entries"), dict) or not isinstance(doc.get("settings"), list)
                or not isinstance(doc.get("deps"), list)):
            return None, stamp
        return doc, stamp

    def _load(self) -> None:
        doc, self.loaded_stat = self._read()
        if doc is None:
            return
        self.settings_table = [s for s in doc["settings"] if isinstance(s, str)]
        if len(self.settings_table) != len(doc["settings"]):
            return
        self.deps_table = doc["deps"]
        self.entries = doc["entries"]
        self._settings_rows = {s: i for i, s in enumerate(self.settings_table)}

    # -- looking up ------------------------------------------------------------------------------

    def settings_row(self, settings: Any) -> int:
        """The row of ``settings`` in the table (added when new): its ``repr``, computed once."""
        known = self._settings_ids.get(id(settings))
        if known is not None and known[0] is settings:
            return known[1]
        text = repr(settings)
        row = self._settings_rows.get(text)
        if row is None:
            row = self._settings_rows[text] = len(self.settings_table)
            self.settings_table.append(text)
        self._settings_ids[id(settings)] = (settings, row)
        return row

    def get(self, path: str, settings: Any) -> list[Finding] | None:
        """The findings of ``path`` when its entry still holds, else None (a damaged entry is a
        miss too)."""
        entry = self.entries.get(path)
        if entry is None:
            return None
        try:
            size, mtime, digest, row, deps, rows, day = entry
            st = os.stat(path)
            if st.st_size != size or not _stat.S_ISREG(st.st_mode) or row != self.settings_row(settings):
                return None
            if (mtime is None or st.st_mtime_ns != mtime) and not self._same_bytes(path, entry):
                return None
            if deps and not self._all_hold(deps):
                return None
            if day != self.today:
                entry[6] = self.today
                self._touch(path)
            self.hits += 1
            return decode(rows, path) if rows else []
        except Exception:
            return None

    def _same_bytes(self, path: str, entry: list) -> bool:
        """The file's bytes hash as they did (its mtime changed or could not be trusted); the
        mtime it has now is kept when it can be trusted."""
        size, digest = entry[0], entry[2]
        try:
            data, st = read_regular_file(path, size)
        except OSError:
            return False
        if sha256(data) != digest:
            return False
        entry[1] = trusted_mtime(st.st_mtime_ns)
        self._touch(path)
        return True

    def _all_hold(self, deps: list) -> bool:
        """Every dependency in ``deps`` (rows of the table) still holds; many entries share one
        list (the files of one model), so each distinct list is asked once."""
        key = tuple(deps)
        ok = self._deps_ok.get(key)
        if ok is None:
            ok = self._deps_ok[key] = all(self._holds(i) for i in deps)
        return ok

    def _holds(self, i: int) -> bool:
        ok = self._dep_ok.get(i)
        if ok is None:
            key, value = self.deps_table[i]
            key, value = _frozen(key), _frozen(value)
            now = check(key, value)
            ok = self._dep_ok[i] = now is not None
            if now is not None and now != value:
                self.deps_table[i] = [key, now]  # a mtime that can be trusted now
                self.dirty = True
        return ok

    def _touch(self, path: str) -> None:
        self.touched.add(path)
        self.dirty = True

    # -- storing ---------------------------------------------------------------------------------

    def put(self, path: str, settings: Any, stamp: Stamp | None, findings: list[Finding],
            record: Record | None) -> None:
        """The findings of ``path``, linted from the bytes ``stamp`` describes, depending on
        ``record``; nothing is kept for a file that asked the Hub or hit a bug of lora-lint."""
        if (stamp is None or (record is not None and record.volatile)
                or any(f.code in NOT_CACHED for f in findings)):
            if self.entries.pop(path, None) is not None:
                self._touch(path)
            return
        deps = [self._dep_row(k, v) for k, v in (record.deps.items() if record is not None else ())]
        self.entries[path] = [stamp.size, trusted_mtime(stamp.mtime_ns), stamp.sha256,
                              self.settings_row(settings), sorted(set(deps)), encode(findings, path), _today()]
        self._touch(path)

    def _dep_row(self, key: tuple, value: tuple) -> int:
        if not self._dep_rows and self.deps_table:
            self._dep_rows = {(_frozen(k), _frozen(v)): i for i, (k, v) in enumerate(self.deps_table)}
        row = self._dep_rows.get((key, value))
        if row is None:
            row = self._dep_rows[(key, value)] = len(self.deps_table)
            self.deps_table.append([key, value])
            self._dep_ok[row] = True
        return row

    # -- saving ----------------------------------------------------------------------------------

    def save(self) -> bool:
        """Write the entries back (when something changed), atomically; False when the cache
        cannot be written (a read-only directory: nothing is lost but time)."""
        if not self.dirty:
            return True
        today = _today()
        entries = {p: e for p, e in self.entries.items() if isinstance(e, list) and len(e) == 7
                   and isinstance(e[6], int) and today - e[6] <= MAX_AGE_DAYS}
        tables = (self.settings_table, self.deps_table)
        merged = self._merged(entries, tables)
        doc = _compacted(merged, tables)
        doc.update(schema=SCHEMA, key=self.key, root=self.root, cwd=self.cwd, version=__version__)
        ok = _write(self.file, json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
        if ok:
            self.dirty = False
            _prune(self.file.parent, keep=self.file)
        return ok

    def _merged(self, entries: dict[str, list], tables: tuple[list, list]) -> dict[str, list]:
        """``entries``, and those another run wrote since this one read the file (for the paths
        this run did not touch)."""
        st = stat_or_none(self.file)
        now = None if st is None else (st.st_size, st.st_mtime_ns, st.st_ino)
        if now is None or now == self.loaded_stat:
            return entries
        doc, _ = self._read()
        if doc is None:
            return entries
        settings, deps = tables
        settings_rows = {s: i for i, s in enumerate(settings)}
        dep_rows = {(json.dumps(k), json.dumps(v)): i for i, (k, v) in enumerate(deps)}

        def settings_row(text: str) -> int:
            if text not in settings_rows:
                settings_rows[text] = len(settings)
                settings.append(text)
            return settings_rows[text]

        def dep_row(pair: list) -> int:
            k = (json.dumps(pair[0]), json.dumps(pair[1]))
            if k not in dep_rows:
                dep_rows[k] = len(deps)
                deps.append(pair)
            return dep_rows[k]

        theirs_settings, theirs_deps = doc["settings"], doc["deps"]
        out = dict(entries)
        for path, e in doc["entries"].items():
            if path in self.touched or path in out:
                continue
            try:
                e = list(e)
                e[3] = settings_row(theirs_settings[e[3]])
                e[4] = [dep_row(theirs_deps[i]) for i in e[4]]
            except (IndexError, TypeError, KeyError):
                continue
            out[path] = e
        return out


def _compacted(entries: dict[str, list], tables: tuple[list, list]) -> dict:
    """The document to write: only the settings and dependencies some entry refers to."""
    settings, deps = tables
    new_settings: dict[int, int] = {}
    new_deps: dict[int, int] = {}
    out_entries = {}
    for path, e in entries.items():
        try:
            s = new_settings.setdefault(e[3], len(new_settings))
            d = [new_deps.setdefault(i, len(new_deps)) for i in e[4]]
        except TypeError:
            continue
        out_entries[path] = [*e[:3], s, d, *e[5:]]
    settings_out = [None] * len(new_settings)
    for old, new in new_settings.items():
        settings_out[new] = settings[old]
    deps_out = [None] * len(new_deps)
    for old, new in new_deps.items():
        deps_out[new] = list(deps[old])
    return {"settings": settings_out, "deps": deps_out, "entries": out_entries}


def _write(path: Path, text: str) -> bool:
    try:
        write_atomically(path, text.encode("utf-8"), prefix=".results-", mode=None)
        return True
    except OSError:
        return False


def _prune(directory: Path, keep: Path) -> None:
    """Results files not written for ``MAX_AGE_DAYS``, then the least recently written ones while
    all of them exceed ``MAX_TOTAL_BYTES``; temporary files a killed run left behind."""
    try:
        entries = [(e.path, e.stat()) for e in os.scandir(directory) if e.is_file(follow_symlinks=False)]
    except OSError:
        return
    now = time.time_ns()
    live = []
    for path, st in entries:
        stale = now - st.st_mtime_ns > MAX_AGE_DAYS * _DAY_NS
        leftover = os.path.basename(path).startswith(".results-") and now - st.st_mtime_ns > 3600 * 10**9
        if (stale or leftover) and path != str(keep):
            _remove(path)
        elif not os.path.basename(path).startswith("."):
            live.append((st.st_mtime_ns, st.st_size, path))
    total = sum(size for _, size, _ in live)
    for _, size, path in sorted(live):
        if total <= MAX_TOTAL_BYTES:
            break
        if path != str(keep):
            _remove(path)
            total -= size


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- lora-lint clean --------------------------------------------------------------------------------

def clean(root: str, directory: str | os.PathLike | None = None) -> list[str]:
    """Remove the cached results of the project at ``root`` and of every project below it; the
    files removed."""
    base = (Path(directory) if directory is not None else cache_root()) / DIR
    root = os.path.abspath(root)
    removed = []
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return removed
    for name in names:
        path = base / name
        if name.startswith("."):  # (another run's temporary file)
            continue
        try:
            doc = json.loads(read_regular_file(path, MAX_FILE_BYTES)[0])
            owner = doc.get("root") if isinstance(doc, dict) else None
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            owner = None  # unreadable: nobody's, and of no use
        if owner is None or not isinstance(owner, str) or _within(owner, root):
            try:
                os.unlink(path)
                removed.append(str(path))
            except OSError:
                pass
    return removed


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
