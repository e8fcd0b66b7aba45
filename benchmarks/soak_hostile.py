"""Soak the build under hostile conditions and count what goes wrong.

    python benchmarks/soak_hostile.py --rounds 200

Each round does one of: `kill -9` of `idse build` at a random moment after an edit; `kill -9` of
`idse build -j 2`; two builds started at once; a writer editing a spec while a build runs. After
every round the workspace is built again and compared with a from-scratch build of a copy
(tests/build_oracle.py). Prints rounds per kind, divergences, leftover temporary files in the
workspace, surviving worker processes and lock waits over 5 s.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

CODE = "import sys; from idse_orchestrator.cli import run; sys.exit(run(sys.argv[1:]))"


def start(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CODE, *args],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import build_oracle as oracle

    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="idse-soak-"))
    root, scratch = base / "repo", base / "clean"
    oracle.init_workspace(root)
    for i in range(4):
        assert oracle.run_cli(root, "session", "create", f"extra-{i}") == 0
    counts: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    first_failure = ""
    started = time.monotonic()
    for n in range(args.rounds):
        kind = rng.choice(["kill", "kill-jobs", "concurrent", "writer"])
        counts[kind] += 1
        spec = oracle.doc_path(root, rng.choice(oracle.sessions(root)), 2)
        if spec.is_file():
            spec.write_text(spec.read_text() + f"\nRound {n}.\n")
        if kind == "kill":
            oracle.killed_build(root, rng.uniform(0.0, 1.0))
        elif kind == "kill-jobs":
            proc = start(root, "build", "-j", "2", "--force")
            time.sleep(rng.uniform(0.2, 1.5))
            workers = oracle.children_of(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            time.sleep(0.5)
            problems["surviving workers"] += sum(oracle.alive(w) for w in workers)
        elif kind == "concurrent":
            procs = [start(root, "build") for _ in range(2)]
            for p in procs:
                p.wait(timeout=120)
                if p.returncode not in (0, 1):
                    problems["concurrent build exit not 0/1"] += 1
        else:
            proc = start(root, "build")
            stop = threading.Event()

            def writer(path: Path = spec, stop: threading.Event = stop) -> None:
                while not stop.is_set() and path.is_file():
                    text = path.read_text()
                    path.write_text(text.replace("## Acceptance Criteria", "## Criteria", 1) + "x")
                    time.sleep(0.01)

            thread = threading.Thread(target=writer)
            thread.start()
            proc.wait(timeout=120)
            stop.set()
            thread.join()
        waited = time.monotonic()
        try:
            oracle.check_step(root, scratch, f"round {n} ({kind})")
        except AssertionError as exc:
            problems["divergences"] += 1
            first_failure = first_failure or str(exc)
        if time.monotonic() - waited > 5 + 5:
            problems["slow rounds (>10 s)"] += 1
        leftovers = [p for p in root.rglob("*.tmp") if ".cache" not in p.parts]
        problems["leftover temporary files"] += len(leftovers)
        for p in leftovers:
            p.unlink()
    elapsed = time.monotonic() - started
    shutil.rmtree(base, ignore_errors=True)
    print(
        f"hostile soak: {args.rounds} rounds in {elapsed:.0f} s: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
    for key in (
        "divergences",
        "surviving workers",
        "leftover temporary files",
        "concurrent build exit not 0/1",
        "slow rounds (>10 s)",
    ):
        print(f"{key}: {problems[key]}")
    if first_failure:
        print(f"first divergence: {first_failure}")
    return 1 if problems["divergences"] or problems["surviving workers"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
