"""Console entry point.

Kept free of heavy imports: ``idse --version`` answers before click, pydantic, jinja2 or doit load,
and the everyday commands (``quick.py``) without click.
"""

from __future__ import annotations

import sys


def _ruleset_version() -> str:
    # A regex on the first lines of the shipped rule set keeps `--version` from importing yaml.
    import re
    from pathlib import Path

    path = Path(__file__).with_name("data") / "ruleset.yaml"
    try:
        with path.open(encoding="utf-8") as fh:
            for _ in range(20):
                match = re.match(r"""^version:\s*["']?([^"'\s#]+)""", fh.readline())
                if match:
                    return match.group(1)
    except OSError:
        pass
    return "unknown"


def version_line() -> str:
    from idse_orchestrator import __version__

    return f"idse {__version__} (rule set {_ruleset_version()})"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        print(version_line())
        return 0
    # The everyday commands in their plain forms answer without loading click (see quick.py).
    from idse_orchestrator.quick import main as quick_main

    code = quick_main(args)
    if code is not None:
        return code
    from idse_orchestrator.cli import run

    return run(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
