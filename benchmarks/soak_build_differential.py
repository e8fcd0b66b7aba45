"""Run the build's differential state machine (tests/test_build_differential.py) for many steps.

    python benchmarks/soak_build_differential.py --examples 300 --steps 20 [--seed N]

Every step compares `idse build` with a from-scratch build of a copy (exit code, findings, derived
files), checks that `--dry-run` named what ran and that a second build runs nothing. Prints the
number of steps run and the first divergence found, if any (exit 1).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    import build_oracle
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test
    from test_build_differential import BuildMachine

    counted = {"steps": 0}
    real = build_oracle.check_step

    def counting(root: Path, scratch: Path, step: str, jobs: int = 1) -> dict[str, object]:
        counted["steps"] += 1
        return real(root, scratch, step, jobs)

    build_oracle.check_step = counting
    import test_build_differential

    test_build_differential.check_step = counting  # type: ignore[attr-defined]
    started = time.monotonic()
    config = settings(
        max_examples=args.examples,
        stateful_step_count=args.steps,
        deadline=None,
        derandomize=args.seed is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    failure = None
    try:
        if args.seed is not None:
            from hypothesis import seed

            seed(args.seed)(BuildMachine.TestCase)
        run_state_machine_as_test(BuildMachine, settings=config)
    except Exception as exc:  # noqa: BLE001 - the divergence is the report
        failure = exc
    elapsed = time.monotonic() - started
    print(f"differential soak: {counted['steps']} build steps compared with a clean build in {elapsed:.0f} s")
    if failure is not None:
        print(f"DIVERGENCE: {failure}")
        return 1
    print("divergences: 0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
