"""`idse validate --all` throughput on a generated workspace, measured in one run.

    python benchmarks/bench_validate.py [--sessions 1000]

Prints artifacts/second for a cold run (empty cache) and for a warm re-run (results reused).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_workspace import generate  # noqa: E402


def timed(root: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "idse_orchestrator", *args], cwd=root, check=False, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="idse-validate-"))
    try:
        root = work / "ws"
        generate(root, args.sessions)
        artifacts = args.sessions * 7
        cold = timed(root, "validate", "--all")
        warm = timed(root, "validate", "--all")
        print(
            json.dumps(
                {
                    "sessions": args.sessions,
                    "artifacts": artifacts,
                    "cold_s": round(cold, 3),
                    "cold_artifacts_per_s": round(artifacts / cold, 1),
                    "warm_s": round(warm, 3),
                    "warm_artifacts_per_s": round(artifacts / warm, 1),
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
