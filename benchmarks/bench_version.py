"""`idse --version` start-up cost vs `python -c pass`, as processes, measured in one run.

    python benchmarks/bench_version.py [--runs 30]

Target: ratio <= 3. `idse --version` must not import click, pydantic, jinja2, yaml or doit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time


def best(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    idse = shutil.which("idse") or ""
    baseline = best([sys.executable, "-c", "pass"], args.runs)
    module = best([sys.executable, "-m", "idse_orchestrator", "--version"], args.runs)
    out = {
        "python_c_pass_s": round(baseline, 4),
        "python_m_idse_version_s": round(module, 4),
        "ratio_module": round(module / baseline, 2),
    }
    if idse:
        script = best([idse, "--version"], args.runs)
        out.update({"idse_version_s": round(script, 4), "ratio_script": round(script / baseline, 2)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
