"""`idse mcp` round trips on a warm server, against the same question asked of a fresh `idse` process.

    python benchmarks/bench_mcp.py [--sessions 200] [--calls 200] [--writes 40] [--workdir DIR]

Starts `idse mcp` with the SDK's own stdio client on a generated workspace, warms it with one call
of each kind, then times (client side, request to reply):
- `route` (stage -> agent): the question an editor asks most;
- `write_document` of one spec.md (a new line each time) until its findings come back.
Prints p50/p95/max in ms for each, and the ratio of a cold `idse route spec --json` process to the
warm `route` round trip, all measured in this one run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CODE = "import sys; from idse_orchestrator.cli import run; sys.exit(run(sys.argv[1:]))"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(ordered):7.2f} ms  p95 {p95:7.2f} ms  max {ordered[-1]:7.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    import anyio
    from make_workspace import generate
    from mcp import Client, StdioServerParameters, stdio_client

    root = (args.workdir or Path(tempfile.mkdtemp(prefix="idse-mcp-"))) / f"ws{args.sessions}"
    if not (root / ".idse").is_dir():
        generate(root, args.sessions)
    subprocess.run([sys.executable, "-c", CODE, "build"], cwd=root, check=False, capture_output=True)
    spec = root / ".idse/projects/bench/sessions/feature-00003/specs/spec.md"
    original = spec.read_text("utf-8")

    cold: list[float] = []
    for _ in range(10):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "idse_orchestrator", "route", "spec", "--json"],
            cwd=root,
            capture_output=True,
        )
        cold.append((time.perf_counter() - started) * 1000)

    routes: list[float] = []
    writes: list[float] = []
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "idse_orchestrator", "mcp"], cwd=str(root)
    )

    async def run() -> None:
        async with Client(stdio_client(params), cache=None) as client:
            await client.call_tool("route", {"stage": "spec"})
            await client.call_tool(
                "write_document", {"stage": "spec", "session": "feature-00003", "text": original}
            )
            for _ in range(args.calls):
                started = time.perf_counter()
                result = await client.call_tool("route", {"stage": "spec"})
                routes.append((time.perf_counter() - started) * 1000)
                assert not result.is_error
            for i in range(args.writes):
                text = original + f"\nBenchmark edit {i}.\n"
                started = time.perf_counter()
                result = await client.call_tool(
                    "write_document", {"stage": "spec", "session": "feature-00003", "text": text}
                )
                writes.append((time.perf_counter() - started) * 1000)
                assert not result.is_error and result.structured_content["written"]
            await client.call_tool(
                "write_document", {"stage": "spec", "session": "feature-00003", "text": original}
            )

    anyio.run(run)
    print(f"workspace: {args.sessions} sessions ({root})")
    print(f"route, warm server ({len(routes)} calls):            {percentiles(routes)}")
    print(f"write_document + findings ({len(writes)} writes):     {percentiles(writes)}")
    print(f"idse route spec --json, fresh process ({len(cold)}):  {percentiles(cold)}")
    ratio = statistics.median(cold) / statistics.median(routes)
    print(f"ratio: a fresh process / a warm route round trip = {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
