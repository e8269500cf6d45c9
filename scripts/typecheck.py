"""Run mypy once per package over src/ and tests/ (one run for all trips duplicate conftests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    wanted = set(sys.argv[1:])
    status = 0
    for pkg in sorted(ROOT.glob("packages/*")):
        if wanted and pkg.name not in wanted:
            continue
        targets = [str(p) for p in (pkg / "src", pkg / "tests") if p.exists()]
        print(f"== mypy {pkg.name}", flush=True)
        status |= subprocess.call([sys.executable, "-m", "mypy", *targets], cwd=ROOT)
    return status


if __name__ == "__main__":
    sys.exit(main())
