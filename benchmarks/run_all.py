"""Run every benchmarks/bench_*.py script in turn; exit 1 if any of them failed or missed a target.

    python benchmarks/run_all.py [--only NAME ...]

Each script starts its own private Redis and prints its own table of ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", default=[], metavar="NAME", help="run bench_NAME.py only")
    args = parser.parse_args(argv)
    # bench_*.py files that are scripts (job or settings modules named bench_* are skipped).
    scripts = [path for path in sorted(HERE.glob("bench_*.py")) if "__main__" in path.read_text()]
    if args.only:
        wanted = {f"bench_{name.removeprefix('bench_').removesuffix('.py')}.py" for name in args.only}
        unknown = wanted - {script.name for script in scripts}
        if unknown:
            parser.error(f"no such benchmark: {', '.join(sorted(unknown))}")
        scripts = [script for script in scripts if script.name in wanted]
    results: list[tuple[str, int, float]] = []
    for script in scripts:
        print(f"===== {script.name}", flush=True)
        start = time.monotonic()
        returncode = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False).returncode
        results.append((script.name, returncode, time.monotonic() - start))
        print(flush=True)
    print("===== summary")
    for name, returncode, seconds in results:
        status = "ok" if returncode == 0 else f"FAILED or target missed (exit {returncode})"
        print(f"{name:<28} {seconds:7.1f}s  {status}")
    return 0 if all(returncode == 0 for _name, returncode, _seconds in results) else 1


if __name__ == "__main__":
    sys.exit(main())
