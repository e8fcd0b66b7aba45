"""Build-engine benchmark: ratios measured in one run, on generated workspaces.

    python benchmarks/bench_build.py [--sizes 300 1000] [--big 10000] [--workdir DIR]

Prints, per size N (sessions):
- cold build (--jobs 1) and cold build (--jobs 2) wall time (medians of five rounds, taking turns),
  artifacts/second (also per CPU second) and the --jobs 2 speed-up (median of the rounds' ratios);
- no-op `idse build` vs a plain Python stat-walk of the same workspace files (both in-process after
  a warm-up, and end to end as processes), with the ratio;
- one edited spec.md vs the no-op build (in-process, medians of nine each), with the ratio;
- with --big: no-op cost per session at the big size vs the first size (linearity) and the peak
  memory (max RSS) of a no-op `idse build` process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_workspace import generate  # noqa: E402

STAT_WALK = """
import os, sys
count = 0
for dirpath, dirnames, filenames in os.walk(sys.argv[1]):
    if ".cache" in dirnames:
        dirnames.remove(".cache")
    for name in filenames:
        os.stat(os.path.join(dirpath, name))
        count += 1
"""


def stat_walk(root: Path) -> int:
    count = 0
    for dirpath, dirnames, filenames in os.walk(root / ".idse"):
        if ".cache" in dirnames:
            dirnames.remove(".cache")
        for name in filenames:
            os.stat(os.path.join(dirpath, name))
            count += 1
    return count


def best(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_cli(root: Path, *args: str) -> float:
    return run_cli_cpu(root, *args)[0]


def run_cli_cpu(root: Path, *args: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one idse process (CPU: user and system, its workers included)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "idse_orchestrator", *args],
        cwd=root,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def in_process_build(root: Path):  # type: ignore[no-untyped-def]
    from idse_orchestrator.engine.build import build
    from idse_orchestrator.workspace import Workspace

    ws = Workspace(root)
    project = ws.project()

    def go() -> None:
        build(ws, project, want_reasons=False)

    return go


COLD_ROUNDS = 5


def measure(root: Path, sessions: int) -> dict[str, float]:
    out: dict[str, float] = {"sessions": sessions, "artifacts": sessions * 7}
    source = root.with_name(root.name + "-source")
    generate(source, sessions)
    # Cold builds, --jobs 1 and --jobs 2 taking turns, each on a fresh copy whose writing has
    # reached the disk (otherwise the build pays for flushing the copy); medians of the rounds.
    colds: dict[str, list[float]] = {"1": [], "2": []}
    cpus: dict[str, list[float]] = {"1": [], "2": []}
    for _ in range(COLD_ROUNDS):
        for jobs in colds:
            shutil.rmtree(root, ignore_errors=True)
            shutil.copytree(source, root)
            os.sync()
            wall, cpu = run_cli_cpu(root, "build", "--jobs", jobs)
            colds[jobs].append(wall)
            cpus[jobs].append(cpu)
    shutil.rmtree(source)
    out["cold_jobs1_s"] = statistics.median(colds["1"])
    out["cold_jobs2_s"] = statistics.median(colds["2"])
    out["artifacts_per_s_jobs1"] = out["artifacts"] / out["cold_jobs1_s"]
    out["artifacts_per_s_jobs2"] = out["artifacts"] / out["cold_jobs2_s"]
    # Each round's --jobs 1 and --jobs 2 builds run back to back: the median of the rounds' ratios is
    # what a machine whose speed drifts between rounds distorts least.
    out["jobs2_speedup"] = statistics.median(a / b for a, b in zip(colds["1"], colds["2"], strict=True))
    # CPU time is what a busy, shared machine distorts least.
    out["artifacts_per_cpu_s_jobs1"] = out["artifacts"] / statistics.median(cpus["1"])
    out["cold_jobs1_all_s"] = colds["1"]  # type: ignore[assignment]
    out["cold_jobs2_all_s"] = colds["2"]  # type: ignore[assignment]

    go = in_process_build(root)
    go()  # warm-up: imports and first index write
    out["noop_build_s"] = best(go)
    out["stat_walk_s"] = best(lambda: stat_walk(root))
    out["noop_vs_statwalk"] = out["noop_build_s"] / out["stat_walk_s"]

    out["noop_build_process_s"] = min(run_cli(root, "build") for _ in range(3))
    walk = [sys.executable, "-c", STAT_WALK, str(root / ".idse")]
    walks = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(walk, check=True)
        walks.append(time.perf_counter() - start)
    out["stat_walk_process_s"] = min(walks)
    out["noop_vs_statwalk_process"] = out["noop_build_process_s"] / out["stat_walk_process_s"]

    # One edited spec.md vs a no-op build: nine no-op builds, nine edit-then-build rounds, and nine
    # no-op builds again once the last edit is older than the racy window (a file changed within two
    # seconds is checked by content, so a build right after an edit is not a no-op); medians compared.
    spec = root / ".idse/projects/bench/sessions/feature-00002/specs/spec.md"

    def timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        """(wall, CPU) seconds: CPU time is what a busy machine distorts least."""
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - start, time.process_time() - cpu

    noops = [timed(go) for _ in range(9)]
    edits = []
    for i in range(9):
        spec.write_text(spec.read_text() + f"\nEdit {i}.\n")
        edits.append(timed(go))
    time.sleep(2.1)
    go()  # the last edit, now settled, is checked once more
    noops += [timed(go) for _ in range(9)]
    out["one_edit_s"] = statistics.median(w for w, _ in edits)
    out["noop_median_s"] = statistics.median(w for w, _ in noops)
    out["one_edit_vs_noop"] = out["one_edit_s"] / out["noop_median_s"]
    cpu_edit, cpu_noop = statistics.median(c for _, c in edits), statistics.median(c for _, c in noops)
    out["one_edit_vs_noop_cpu"] = cpu_edit / cpu_noop
    return out


def peak_memory_noop(root: Path) -> float:
    code = (
        "import resource, sys\n"
        "from idse_orchestrator.cli import run\n"
        "code = run(['build'])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, check=True, capture_output=True, text=True)
    return float(proc.stdout.strip().splitlines()[-1])


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--big", type=int, default=0, help="also measure this size (e.g. 10000)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="idse-bench-"))
    results = []
    try:
        for n in [*args.sizes, *([args.big] if args.big else [])]:
            root = work / f"ws{n}"
            row = measure(root, n)
            if n == args.big:
                row["peak_rss_mb_noop"] = peak_memory_noop(root)
            results.append(row)
            print(
                json.dumps({k: _rounded(v) for k, v in row.items()}),
                flush=True,
            )
            shutil.rmtree(root, ignore_errors=True)
        if args.big and len(results) > 1:
            small, big = results[0], results[-1]
            per_small = small["noop_build_s"] / small["sessions"]
            per_big = big["noop_build_s"] / big["sessions"]
            print(json.dumps({"noop_cost_per_session_big_vs_small": round(per_big / per_small, 3)}))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
