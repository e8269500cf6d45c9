"""Set every package's version and every sibling pin: ``bump_version.py X.Y.Z``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    if len(sys.argv) != 2 or not re.fullmatch(r"\d+\.\d+\.\d+", sys.argv[1]):
        print("usage: bump_version.py X.Y.Z", file=sys.stderr)
        return 2
    new = sys.argv[1]
    for path in ROOT.glob("packages/*/pyproject.toml"):
        text = path.read_text()
        text = re.sub(r'^version = "[^"]+"', f'version = "{new}"', text, flags=re.M)
        text = re.sub(r'"(rsync-[a-z]+)==[^"]+"', rf'"\1=={new}"', text)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
