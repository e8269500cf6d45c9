"""Fail when the packages' versions drift apart or a sibling pin does not match (lockstep)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    projects = {}
    for path in sorted(ROOT.glob("packages/*/pyproject.toml")):
        projects[path] = tomllib.loads(path.read_text())["project"]
    versions = {p["name"]: p["version"] for p in projects.values()}
    problems = []
    if len(set(versions.values())) != 1:
        problems.append(f"versions differ: {versions}")
    for path, project in projects.items():
        for req in project.get("dependencies", []):
            m = re.fullmatch(r"(rsync-[a-z]+)\s*==\s*(\S+)", req)
            if m and versions.get(m.group(1)) != m.group(2):
                problems.append(
                    f"{path}: pins {req}, but {m.group(1)} is {versions.get(m.group(1))}"
                )
            elif req.startswith("rsync-") and not m:
                problems.append(f"{path}: sibling {req!r} must be an exact pin")
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
