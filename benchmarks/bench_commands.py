"""Everyday one-shot commands vs `python -c pass`, as processes, measured in one run.

    python benchmarks/bench_commands.py [--runs 20] [--sessions 1]

On a workspace of one session (after a build, so validation results are cached), times
`idse status`, `idse sessions`, `idse route spec`, `idse validate` and a no-op `idse build`, each the
median of ``--runs`` runs interleaved with `python -c pass`, as wall time and as CPU time of the
process (steadier on a busy machine). Target: each ratio <= 5.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS: dict[str, list[str]] = {
    "status": ["status"],
    "sessions": ["sessions"],
    "route": ["route", "spec"],
    "validate": ["validate"],
    "build_noop": ["build"],
}


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): CPU time is what a busy machine distorts least."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=1)
    args = parser.parse_args()
    idse = shutil.which("idse")
    prefix = [idse] if idse else [sys.executable, "-m", "idse_orchestrator"]
    root = Path(tempfile.mkdtemp(prefix="idse-bench-cmds-"))
    try:
        subprocess.run([*prefix, "init", "demo"], cwd=root, check=True, stdout=subprocess.DEVNULL)
        for i in range(1, args.sessions):
            subprocess.run(
                [*prefix, "session", "create", f"s{i}"], cwd=root, check=True, stdout=subprocess.DEVNULL
            )
        subprocess.run([*prefix, "build"], cwd=root, check=False, stdout=subprocess.DEVNULL)
        baseline: list[tuple[float, float]] = []
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
        for _ in range(args.runs):  # interleaved, so a noisy neighbour hits every series alike
            baseline.append(timed([sys.executable, "-c", "pass"], root))
            for name, cmd in COMMANDS.items():
                times[name].append(timed([*prefix, *cmd], root))
        base = statistics.median(w for w, _ in baseline)
        base_cpu = statistics.median(c for _, c in baseline)
        out: dict[str, object] = {
            "python_c_pass_s": round(base, 4),
            "python_c_pass_cpu_s": round(base_cpu, 4),
            "runs": args.runs,
            "via": prefix[0],
        }
        for name, series in times.items():
            med = statistics.median(w for w, _ in series)
            med_cpu = statistics.median(c for _, c in series)
            out[f"{name}_s"] = round(med, 4)
            out[f"{name}_ratio"] = round(med / base, 2)
            out[f"{name}_cpu_ratio"] = round(med_cpu / base_cpu, 2)
        out["target_ratio"] = 5
        print(json.dumps(out, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
