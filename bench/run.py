"""Benchmark lora-lint on a synthetic repository and print each figure beside its floors.

    python bench/run.py                # the full bench (a few minutes on 2 cores)
    python bench/run.py --quick        # fewer repetitions, no 10,000-file scaling point
    python bench/run.py --results-cache [--quick]   # the floors without torch, the results cache only

Figures are wall time (best of N; cold runs start from an empty inventory cache each time) and
peak RSS of the lora-lint process (os.wait4). Floors are measured in the same run:
`python -c pass`, `python -c "import yaml"`, `python -c "import yaml, libcst"`,
`python -c "import torch, transformers, peft"`, and "10 meta builds": a process that imports
torch and transformers (not timed) and then builds the bench's ten local configs on the meta
device with lora_lint.models.build (timed). Each target says `met` or `NOT met`.
Not a test: it prints, it does not assert. Other load on the machine shows in the floors too; the
load average is printed at the start and at the end.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repo import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
FINDING = re.compile(r"^\S+:\d+:\d+: (LL\d{3}) ")

BUILDS = """
import json, resource, sys, time
import torch, transformers  # not timed: that is the import floor
from lora_lint.models.build import build_inventory
configs = [json.load(open(p)) for p in sys.argv[1:]]
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
start, before = time.perf_counter(), rss()
after_first = None
for cfg in configs:
    build_inventory(cfg)  # the model is dropped inside; refcounting frees it
    after_first = after_first or rss()
print(time.perf_counter() - start, before, after_first, rss())
"""


def measure(cmd: list[str], env: dict, cwd: Path | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MB, and stdout of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss // 1024, out.decode()


def best(cmd, n, env, cwd=None, before=None) -> tuple[float, int, str]:
    runs = []
    for _ in range(n):
        if before:
            before()
        runs.append(measure(cmd, env, cwd))
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def lint(*args: str) -> list[str]:
    return [PY, "-m", "lora_lint", *args]


def by_code(output: str) -> Counter:
    return Counter(m.group(1) for line in output.splitlines() if (m := FINDING.match(line)))


def torch_imported(cmd: list[str], env: dict, cwd: Path) -> bool:
    err = subprocess.run([PY, "-X", "importtime", *cmd[1:]], capture_output=True, text=True,
                         env=env, cwd=cwd).stderr
    return any(line.rstrip().endswith((" torch", " transformers")) for line in err.splitlines())


READ = """
import sys, time
from lora_lint.files import read_file
from lora_lint.settings import Settings
from lora_lint.sources import may_hold_sites
settings = Settings()
best = 1e9
for _ in range(20):
    t = time.perf_counter()
    read = read_file(sys.argv[1], settings)
    may_hold_sites(read.source)
    best = min(best, time.perf_counter() - t)
print(best * 1000)
"""


def read_ms(path: Path, env: dict) -> float:
    """Reading one file in the reading loop, and the marker test that decides it is parsed."""
    run = subprocess.run([PY, "-c", READ, str(path)], capture_output=True, text=True, env=env)
    return float(run.stdout.split()[-1]) if run.returncode == 0 else float("nan")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def edit_tenth(repo: Path, round_: int) -> int:
    """Append a comment to every tenth file (Python, YAML and shell all take ``#``): a tenth of the
    tree changed, its findings the same."""
    files = sorted(p for p in repo.rglob("*") if p.suffix in (".py", ".yaml", ".sh") and p.is_file())
    for p in files[::10]:
        with open(p, "a", encoding="utf-8") as f:
            f.write(f"# edited {round_}\n")
    return len(files[::10])


def results_cache(work: Path, env: dict, floors: dict, reps: int, warm_reps: int, largest: int) -> None:
    """The results cache: a file whose findings cannot have changed costs a stat."""
    print("\nresults cache (each file's findings kept; catalog models, the inventory cache warm)")
    yaml_floor, libcst_floor, bare = (floors["import yaml"][0], floors["import yaml, libcst"][0],
                                      floors["python -c pass"][0])
    for n in sorted({1000, largest}):
        repo = work / ("repo-catalog" if n == 1000 else f"scale-{n}-1")
        cache = work / f"results-{n}"
        on = {k: v for k, v in env.items() if k != "LORA_LINT_NO_RESULT_CACHE"}
        on["LORA_LINT_CACHE_DIR"] = str(cache)
        off = dict(env, LORA_LINT_CACHE_DIR=str(cache))
        cmd = lint("--exit-zero", ".")
        uncached = best(cmd, reps, off, repo)
        # the first run with the results cache: everything linted, recorded and written
        first = best(cmd, 1, on, repo, lambda c=cache: shutil.rmtree(c / "results", ignore_errors=True))
        time.sleep(2.1)  # (a file changed within the last 2 s is compared by its hash: as in real use)
        measure(cmd, on, repo)  # the entries learn the files' mtimes
        warm = best(cmd, warm_reps, on, repo)
        heavy = torch_imported(cmd, on, repo)
        print(f"  {n:,} files: no results cache {uncached[0]:6.3f} s | first run, writing it {first[0]:6.3f} s"
              f" ({first[0] / uncached[0]:4.2f} x) | unchanged {warm[0]:6.3f} s {warm[1]:3d} MB"
              f" = {warm[0] / yaml_floor:4.2f} x `import yaml`, {warm[0] / bare:4.2f} x `python -c pass`,"
              f" {uncached[0] / warm[0]:4.1f} x faster | imports torch: {'yes' if heavy else 'no'}"
              f" | output identical: {'yes' if uncached[2] == first[2] == warm[2] else 'NO'}")
        if n == 1000:
            print(f"    unchanged: target <= 2 x `import yaml`: {verdict(warm[0] <= 2 * yaml_floor)}")
            rounds = iter(range(1, 1000))
            changed = [0]

            def edit(r=repo, rounds=rounds, changed=changed):
                changed[0] = edit_tenth(r, next(rounds))

            tenth = best(cmd, reps, on, repo, edit)
            print(f"    {changed[0]} files (a tenth) changed: {tenth[0]:6.3f} s = {tenth[0] / libcst_floor:4.2f} x"
                  f" `import yaml, libcst`; target <= 0.25 s: {verdict(tenth[0] <= 0.25)}")
        else:
            print(f"    unchanged: target <= 0.3 s: {verdict(warm[0] <= 0.3)}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="2 repetitions, no 10,000-file point")
    ap.add_argument("--keep", type=Path, help="generate the repositories here and keep them")
    ap.add_argument("--results-cache", action="store_true",
                    help="only the floors without torch and the results cache section")
    opts = ap.parse_args()
    reps = 2 if opts.quick else 3
    warm_reps = reps + 2  # short runs: more tries against the noise of a shared machine
    work = opts.keep or Path(tempfile.mkdtemp(prefix="lora-lint-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    # Every section but the results cache's lints every file (the inventory cache warm or cold):
    # LORA_LINT_NO_RESULT_CACHE; the results cache section turns it back on.
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", NO_COLOR="1",
               LORA_LINT_CACHE_DIR=str(work / "cache-unused"), LORA_LINT_NO_RESULT_CACHE="1")
    env.pop("LORA_LINT_WORKERS", None)
    print(f"lora-lint bench: {os.cpu_count()} cores, Python {sys.version.split()[0]},"
          f" load average {load()}; best of {reps} (short runs: of {warm_reps})")
    # An install compiles the package's bytecode; a checkout may hold stale .pyc files (or none,
    # under PYTHONDONTWRITEBYTECODE), and compiling a module on every run is not lora-lint's cost.
    compileall.compile_dir(str(ROOT / "lora_lint"), quiet=1)
    print("  (the package's bytecode compiled first, as an install does)")

    print("\nfloors")
    floors = {
        "python -c pass": best([PY, "-c", "pass"], warm_reps, env),
        "import yaml": best([PY, "-c", "import yaml"], warm_reps, env),
        "import yaml, libcst": best([PY, "-c", "import yaml, libcst"], warm_reps, env),
    }
    if not opts.results_cache:
        floors["import torch, transformers, peft"] = best([PY, "-c", "import torch, transformers, peft"], reps, env)
    for name, (wall, rss, _) in floors.items():
        print(f"  {name:<40} {wall:7.3f} s {rss:6d} MB")
    yaml_floor = floors["import yaml"][0]
    if opts.results_cache:
        generate(work / "repo-catalog", 1000)
        largest = 1000 if opts.quick else 10000
        if largest != 1000:
            generate(work / f"scale-{largest}-1", largest)
        results_cache(work, env, floors, reps, warm_reps, largest)
        return finish(work, opts)
    heavy, heavy_rss = floors["import torch, transformers, peft"][:2]
    local_repo = generate(work / "repo-local", 1000, local=True)
    configs = sorted(str(p) for p in (local_repo / "models").glob("*/config.json"))
    build_runs = [subprocess.run([PY, "-c", BUILDS, *configs], capture_output=True, text=True, env=env)
                  for _ in range(reps)]
    parsed = [tuple(float(x) for x in r.stdout.split()) for r in build_runs if r.returncode == 0]
    if not parsed:
        print(build_runs[-1].stderr[-2000:])
        return 1
    builds, rss_before, rss_first, rss_last = min(parsed)
    print(f"  {'10 meta builds (after the imports)':<40} {builds:7.3f} s {int(rss_last):6d} MB"
          f"  (RSS {int(rss_before)} MB after the imports, {int(rss_first)} MB after 1 build,"
          f" {int(rss_last)} MB after 10)")
    cold_floor = heavy + builds

    print("\nstart-up (target: at most 3 x `import yaml`)")
    clean = work / "clean" / "clean.py"
    clean.parent.mkdir(parents=True, exist_ok=True)
    clean.write_text("x = 1\n")
    for label, cmd in (("lora-lint --version", lint("--version")),
                       ("lora-lint clean.py (one clean file)", lint(str(clean)))):
        wall, rss, _ = best(cmd, warm_reps, env)
        ratio = wall / yaml_floor
        print(f"  {label:<40} {wall:7.3f} s {rss:6d} MB  = {ratio:4.2f} x import yaml  {verdict(ratio <= 3)}")

    outputs: dict[str, str] = {}
    for variant, local in (("10 catalog models", False), ("10 local non-catalog models", True)):
        repo = local_repo if local else generate(work / "repo-catalog", 1000)
        print(f"\n1,000 files (800 unrelated Python, 90 unrelated shell scripts, 50 Python + 50 YAML + 10 shell"
              f" LoRA configs), {variant}")
        for workers in (1, 2):
            cache = work / f"cache-{int(local)}-{workers}"
            renv = dict(env, LORA_LINT_CACHE_DIR=str(cache))
            cmd = lint("--exit-zero", "--workers", str(workers), ".")
            cold = best(cmd, reps if local else 1, renv, repo, lambda c=cache: shutil.rmtree(c, ignore_errors=True))
            warm = best(cmd, warm_reps, renv, repo)
            heavy_warm = torch_imported(cmd, renv, repo)
            outputs[f"{variant}, workers={workers}, cold"] = cold[2]
            outputs[f"{variant}, workers={workers}, warm"] = warm[2]
            print(f"  workers={workers}: cold {cold[0]:7.3f} s {cold[1]:6d} MB | warm {warm[0]:7.3f} s"
                  f" {warm[1]:6d} MB | warm run imports torch: {'yes' if heavy_warm else 'no'}"
                  f" | warm output == cold output: {'yes' if cold[2] == warm[2] else 'NO'}")
            if local:
                ratio = cold[0] / cold_floor
                print(f"    cold = {ratio:4.2f} x (torch+transformers+peft import {heavy:.3f} s + 10 meta builds"
                      f" {builds:.3f} s = {cold_floor:.3f} s); target <= 1.2: {verdict(ratio <= 1.2)}")
                print(f"    cold peak RSS {cold[1]} MB = import floor {heavy_rss} MB + {cold[1] - heavy_rss} MB"
                      f" (floor process after 10 builds: {int(rss_last)} MB)")
            print(f"    warm = {warm[0] / floors['import yaml, libcst'][0]:4.2f} x `import yaml, libcst`;"
                  f" target <= 0.5 s without torch: {verdict(warm[0] <= 0.5 and not heavy_warm)}")
        counts = by_code(outputs[f"{variant}, workers=1, cold"])
        print("  findings by code: " + ", ".join(f"{c} {n}" for c, n in sorted(counts.items()))
              + f" (total {sum(counts.values())}; LL902 {'ABSENT' if not counts['LL902'] else 'PRESENT'})")
        same = len({v for k, v in outputs.items() if k.startswith(variant)}) == 1
        print(f"  output identical for workers 1 and 2, cold and warm: {'yes' if same else 'NO'}")

    print("\n1,000 files with 100 Jupyter notebooks among them (10 fine-tune, 9 of the others carry a 1 MB"
          " output), catalog models; the same tree without notebooks above")
    nb_repo = generate(work / "repo-notebooks", 1000, notebooks=100)
    renv = dict(env, LORA_LINT_CACHE_DIR=str(work / "cache-notebooks"))
    measure(lint("--exit-zero", "."), renv, nb_repo)  # fills the cache
    for workers in (1, 2):
        cmd = lint("--exit-zero", "--workers", str(workers), ".")
        wall, rss, out = best(cmd, warm_reps, renv, nb_repo)
        plain = best(cmd, warm_reps, dict(env, LORA_LINT_CACHE_DIR=str(work / "cache-0-1")), work / "repo-catalog")[0]
        print(f"  workers={workers}: warm {wall:7.3f} s {rss:6d} MB = {wall / plain:4.2f} x the tree without"
              f" notebooks ({plain:.3f} s); target <= 0.5 s without torch:"
              f" {verdict(wall <= 0.5 and not torch_imported(cmd, renv, nb_repo))}")
    cells = Counter(m[1] for m in re.finditer(r"\.ipynb:cell \d+:\d+:\d+: (LL\d{3}) ", out))
    print("  notebook findings by code: " + ", ".join(f"{c} {n}" for c, n in sorted(cells.items())))
    big = next(p for p in sorted((nb_repo / "notebooks").glob("*.ipynb")) if p.stat().st_size > 900_000)
    with_marker = work / "big-lora.ipynb"
    with_marker.write_text(big.read_text().replace('"# Notebook"', '"# LoraConfig"', 1))
    print(f"  reading a {big.stat().st_size / 1e6:.1f} MB notebook (in process, best of 20):"
          f" without a LoRA marker {read_ms(big, renv):.2f} ms (a marker test, no JSON parse);"
          f" with one {read_ms(with_marker, renv):.2f} ms (its JSON read, its cells joined)")

    print("\nwarm-run scaling (catalog models, a tenth of the files LoRA configs; `marginal`: the"
          " time each added file costs, from the row above)")
    sizes = (100, 1000) if opts.quick else (100, 1000, 10000)
    renv = dict(env, LORA_LINT_CACHE_DIR=str(work / "cache-scale"))
    rows = [(n, True) for n in sizes] + [(sizes[-1], False)]
    previous: dict[int, tuple[int, float]] = {}
    largest: dict[tuple[bool, int], float] = {}
    for n, with_lora in rows:
        repo = generate(work / f"scale-{n}-{int(with_lora)}", n, lora=with_lora)
        n_lora = (max(2, n // 10) + n // 100) if with_lora else 0  # + one shell script in ten
        measure(lint("--exit-zero", "."), renv, repo)  # fills the cache
        cells = []
        for workers in (1, 2):
            wall, rss, _ = best(lint("--exit-zero", "--workers", str(workers), "."), warm_reps, renv, repo)
            cell = f"workers={workers} {wall:6.3f} s {rss:3d} MB"
            if with_lora and workers in previous:
                m, t = previous[workers]
                cell += f", marginal {(wall - t) / (n - m) * 1000:5.3f} ms/file"
            elif not with_lora:
                cell += f", {(wall - floors['python -c pass'][0]) / n * 1000:5.3f} ms/file above `python -c pass`"
            if with_lora:
                previous[workers] = (n, wall)
            if n == sizes[-1]:
                largest[(with_lora, workers)] = wall
            cells.append(cell)
        print(f"  {n:6d} files, {n_lora:4d} LoRA configs: " + " | ".join(cells))
    n, n_lora = sizes[-1], sizes[-1] // 10 + sizes[-1] // 100
    for workers in (1, 2):
        per_lora = (largest[(True, workers)] - largest[(False, workers)]) / n_lora * 1000
        per_other = (largest[(False, workers)] - floors["python -c pass"][0]) / n * 1000
        print(f"  workers={workers}: a LoRA config costs {per_lora:.2f} ms, an unrelated file {per_other:.3f} ms"
              f" ({n_lora} LoRA configs take {per_lora * n_lora / (per_lora * n_lora + per_other * (n - n_lora)):.0%}"
              f" of the {n:,}-file run's time above `python -c pass`)")
    results_cache(work, env, floors, reps, warm_reps, sizes[-1])
    return finish(work, opts)


def finish(work: Path, opts: argparse.Namespace) -> int:
    print(f"\nload average at the end: {load()}")
    if not opts.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
