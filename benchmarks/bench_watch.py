"""`idse watch` latency: from a saved spec.md to its printed result, on a generated workspace.

    python benchmarks/bench_watch.py [--sessions 1000] [--edits 50] [--workdir DIR]

Starts `idse watch --json`, saves one spec.md per round (a new line appended), and times until the
JSON line naming that file arrives. Prints p50/p95/max in ms and the build's own share (elapsed_ms).
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CODE = "import sys; from idse_orchestrator.cli import run; sys.exit(run(sys.argv[1:]))"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    from make_workspace import generate

    root = (args.workdir or Path(tempfile.mkdtemp(prefix="idse-watch-"))) / f"ws{args.sessions}"
    if not (root / ".idse").is_dir():
        generate(root, args.sessions)
        subprocess.run([sys.executable, "-c", CODE, "build"], cwd=root, check=False, capture_output=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", CODE, "watch", "--json"], cwd=root, stdout=subprocess.PIPE, text=True
    )
    lines: queue.Queue[tuple[float, dict]] = queue.Queue()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put((time.perf_counter(), json.loads(line)))

    threading.Thread(target=reader, daemon=True).start()
    lines.get(timeout=600)  # the first (full) build
    time.sleep(1.0)
    spec = root / ".idse/projects/bench/sessions/feature-00003/specs/spec.md"
    rel = spec.relative_to(root).as_posix()
    latencies, builds = [], []
    for i in range(args.edits):
        time.sleep(0.3)
        saved = time.perf_counter()
        spec.write_text(spec.read_text() + f"\nWatch edit {i}.\n")
        while True:
            at, event = lines.get(timeout=60)
            if rel in event.get("changed", []):
                latencies.append((at - saved) * 1000)
                builds.append(event.get("elapsed_ms", 0.0))
                break
    proc.terminate()
    proc.wait(timeout=30)
    latencies.sort()
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        json.dumps(
            {
                "sessions": args.sessions,
                "edits": len(latencies),
                "save_to_result_ms_p50": round(statistics.median(latencies), 1),
                "save_to_result_ms_p95": round(p95, 1),
                "save_to_result_ms_max": round(latencies[-1], 1),
                "build_share_ms_p50": round(statistics.median(builds), 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
